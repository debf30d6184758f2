/* The pump's state and the conditions on it, shared by pump.c (the loop),
 * io.c (the TLS calls) and ending.c (how a run ends). Each "may we do X
 * now" condition is written once, here. */
#ifndef TP_PUMP_H
#define TP_PUMP_H

#include <limits.h>

#include "tlspipe.h"
#include "wire.h"

#define CHUNK (128 * 1024)	/* stdin read and SSL_read size */
#define LINGER_MS 1000
#define SIGNAL_LINGER_MS 2000	/* a signal's goodbye: the record in flight and close_notify */
#define OUTQ_POLL_MS 20		/* auto: how often to look whether the kernel sent our last bytes */
#define RENEG_WAIT_MS 2000	/* how long close_notify waits for a HelloRequest's answer */
#define STASH_READ_LIMIT (4 * 1024 * 1024)	/* reads pause while the peer will not take more */

enum out_state { OUT_OPEN, OUT_EOF, OUT_DONE };

struct pump {
	SSL *ssl;
	struct tp_run *run;
	const struct tp_config *cfg;
	struct tp_stats *st;
	struct tp_wire w;	/* the ciphertext's way to the socket */
	int fd;

	struct tp_out o;	/* stdin not yet written, and its retry state */
	enum out_state out;
	bool stdin_eof, last_cr;

	unsigned char *buf;	/* SSL_read lands here, then goes to stdout */
	size_t held;		/* bytes of buf not yet written to stdout */
	enum tp_outcome rd_want;
	bool in_done;		/* nothing more comes in */
	bool peer_notified;	/* the peer's close_notify came */

	enum tp_outcome sd_want;	/* a close_notify that did not fit yet */
	bool notified;		/* our close_notify is out */
	uint64_t in_at_notify;	/* bytes_in when it went */
	long quiet_from;	/* --on-eof=auto: our last byte left the host (0: not yet) */
	long last_rx;		/* the peer's last payload */

	bool handshaken, tls12;
	uint64_t rekey_mark;	/* bytes moved at the last rekey */
	long rekey_ms;		/* when it started */
	bool usr1;		/* SIGUSR1 asked for a rekey not yet started */
	long deadline, last_io;

	struct { bool rd, wr, in; } ev;	/* what the last select() reported */
	int signalled;		/* the signal that stops the loop; on_signal runs after it */
};

#define fail(p, code, ...) tp_fail((p)->run, (code), __VA_ARGS__)

/* io.c */
int tp_io_read(struct pump *);
int tp_io_absorb(struct pump *);
int tp_io_fill(struct pump *);
int tp_io_write(struct pump *);
int tp_io_notify(struct pump *);
int tp_io_rekey(struct pump *);
int tp_io_wire_failed(struct pump *);
const char *tp_io_outcome_name(enum tp_outcome);

/* ending.c */
int tp_settle(struct pump *);
long tp_grace_left(struct pump *, long now);
void tp_linger(struct pump *, long end);
void tp_on_signal(struct pump *, int sig);

/* ---- the conditions ---- */

/* reads pause while the peer takes none of what the stash holds */
static inline bool
stash_has_room(const struct pump *p)
{
	return tp_wire_stashed(&p->w) < STASH_READ_LIMIT;
}

/* Input SSL_read can make progress on without the socket. SSL_has_pending()
 * alone would also count a partial record, which needs the socket: after
 * SSL_read said WANT_READ, what it holds is incomplete. A write resets
 * rd_want, since a renegotiating SSL_write may read records. */
static inline bool
more_held(const struct pump *p)
{
	if (SSL_pending(p->ssl) > 0)
		return true;
	if (tp_wire_unread(&p->w))
		return true;	/* without AUTO_RETRY a ticket ends the call early */
	return p->rd_want != TP_WANT_READ && SSL_has_pending(p->ssl);
}

/* SSL_read has something to do: the socket spoke, a read waits on the
 * writable socket, or OpenSSL holds a complete record */
static inline bool
read_due(const struct pump *p)
{
	return !p->in_done && stash_has_room(p) &&
	    (p->ev.rd || (p->rd_want == TP_WANT_WRITE && p->ev.wr) || more_held(p));
}

/* the next stdin chunk is wanted once the last one is gone */
static inline bool
stdin_wanted(const struct pump *p)
{
	return p->handshaken && p->out == OUT_OPEN && !p->stdin_eof && p->o.len == 0;
}

/* --key-update-every or --renegotiate-every, whichever the version allows (0: off) */
static inline uint64_t
rekey_every(const struct pump *p)
{
	return p->tls12 ? p->cfg->renegotiate_every : p->cfg->key_update_every;
}

/* Bytes moved (both ways) since the last rekey's mark. The mark advances
 * by BYTES per rekey, so a rekey that starts late does not push the next
 * ones back: the count stays floor(moved / BYTES). */
static inline uint64_t
rekey_moved(const struct pump *p)
{
	return p->st->bytes_in + p->st->bytes_out - p->rekey_mark;
}

static inline bool
rekey_due(const struct pump *p)
{
	return p->usr1 || (rekey_every(p) && rekey_moved(p) >= rekey_every(p));
}

/* What a new SSL_write may take before the next rekey is due, so one large
 * write does not carry the count past several marks (0: no limit). */
static inline size_t
rekey_budget(const struct pump *p)
{
	uint64_t every = rekey_every(p), moved = rekey_moved(p);

	return every && moved < every ? (size_t)(every - moved) : 0;
}

/* A due rekey can start now: not during another handshake, nor while a
 * write is pending (SSL_key_update refuses then), nor after goodbyes. */
static inline bool
rekey_ready(const struct pump *p)
{
	return p->handshaken && !p->in_done && !p->notified && rekey_due(p) &&
	    p->o.want == TP_DONE && !SSL_in_init(p->ssl) && !SSL_renegotiate_pending(p->ssl);
}

/* ms we still wait for the answer to our HelloRequest (0: none pending,
 * or waited long enough): close_notify waits, or the answer would meet a
 * closed connection, and so do new writes once the next rekey is due */
static inline long
reneg_hold_left(const struct pump *p, long now)
{
	long left = p->rekey_ms + RENEG_WAIT_MS - now;

	return SSL_renegotiate_pending(p->ssl) && left > 0 ? left : 0;
}

/* A rekey is due while the last renegotiation still waits for its answer:
 * writes pause (at most RENEG_WAIT_MS), or the count of renegotiations
 * would fall behind the bytes moved. */
static inline long
rekey_hold_left(const struct pump *p, long now)
{
	return rekey_due(p) ? reneg_hold_left(p, now) : 0;
}

/* New writes wait while a handshake runs (the read side drives it), while
 * the stash holds absorbed ciphertext (tp_wire_settled), or while a rekey can start or is held up; a
 * pending one goes on. */
static inline bool
write_allowed(const struct pump *p)
{
	if (p->o.want != TP_DONE)
		return true;
	/* the clock is read only when a rekey is due: this runs before every write */
	return !SSL_in_init(p->ssl) && tp_wire_settled(&p->w) && !rekey_ready(p) &&
	    (!rekey_due(p) || rekey_hold_left(p, tp_now_ms()) == 0);
}

/* The pending write may be retried: what it asked for holds. */
static inline bool
write_ready(const struct pump *p)
{
	if (p->o.want == TP_DONE)
		return true;
	if (tp_wire_pair(&p->w))
		return p->o.want == TP_WANT_WRITE ? tp_wire_ssl_room(&p->w) : p->ev.rd;
	return p->o.want == TP_WANT_WRITE ? p->ev.wr : p->ev.rd;
}

/* a write may go now that no select() event would announce: a fresh one
 * (a handshake ended late in this turn, say), or a pending one whose pair
 * has room again */
static inline bool
write_due_unannounced(const struct pump *p)
{
	if (!p->handshaken || p->o.len == 0 || !write_allowed(p))
		return false;
	return p->o.want == TP_DONE || (tp_wire_pair(&p->w) && p->o.want == TP_WANT_WRITE && write_ready(p));
}

/* a close_notify that did not fit may be retried */
static inline bool
notify_retry_due(const struct pump *p)
{
	if (p->sd_want == TP_DONE)
		return false;
	return tp_wire_pair(&p->w) || (p->sd_want == TP_WANT_WRITE ? p->ev.wr : p->ev.rd);
}

/* the socket's input is wanted: while there is room for it, or a call waits on it */
static inline bool
socket_input_wanted(const struct pump *p)
{
	if (!p->in_done && !p->w.sock_eof && stash_has_room(p) && tp_wire_feed_room(&p->w))
		return true;
	return p->o.want == TP_WANT_READ || p->sd_want == TP_WANT_READ;
}

/* the socket's writability is wanted: ciphertext waits, or a call does */
static inline bool
socket_output_wanted(const struct pump *p)
{
	if (tp_wire_stashed(&p->w) > 0)
		return true;
	if (tp_wire_pair(&p->w))
		return tp_wire_unflushed(&p->w);
	return p->o.want == TP_WANT_WRITE || p->rd_want == TP_WANT_WRITE || p->sd_want == TP_WANT_WRITE;
}

/* ms to go before the handshake deadline; LONG_MAX when none applies */
static inline long
handshake_left(const struct pump *p, long now)
{
	return !p->handshaken && p->deadline > 0 ? p->deadline - now : LONG_MAX;
}

/* ms to go before --idle-timeout; LONG_MAX when off */
static inline long
idle_left(const struct pump *p, long now)
{
	return p->cfg->idle_timeout_ms > 0 ? p->last_io + p->cfg->idle_timeout_ms - now : LONG_MAX;
}

/* close_notify may go: not inside a handshake (SSL_shutdown there sends
 * nothing), nor while our HelloRequest waits for its answer */
static inline bool
notify_may_go(const struct pump *p)
{
	return p->sd_want == TP_DONE && !SSL_in_init(p->ssl) && reneg_hold_left(p, tp_now_ms()) == 0;
}

/* a broken connection before the handshake is a failed handshake */
static inline int
conn_code(const struct pump *p)
{
	return p->handshaken ? TP_EXIT_IO : TP_EXIT_HANDSHAKE;
}

#endif
