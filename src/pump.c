/* The select() loop: stdin -> SSL_write and SSL_read -> stdout at once.
 *
 * Each direction keeps what it waits for as data (`want`): a write that
 * stopped with WANT_READ/WANT_WRITE keeps its pointer and length and is
 * repeated, identical, once the condition it asked for holds. Reads always
 * run until OpenSSL says WANT_READ and holds nothing complete, so no record
 * sits inside OpenSSL (or the BIO pair) while select() sleeps.
 *
 * Handshakes after the first one (TLS 1.2 renegotiation, TLS 1.3 key
 * updates) are driven from the read side only, with new writes held: an
 * SSL_write that drives a renegotiation fails when the peer's data arrives
 * meanwhile.
 *
 * OpenSSL 3.0 must never read while one of its writes is pending: a
 * KeyUpdate or HelloRequest read then has to be answered behind the pending
 * record, and the connection fails ("bad length"). Yet a full-duplex pipe
 * must keep reading, or both sides wait on each other. So before SSL_read
 * runs, a pending write is completed by its identical retry into the stash,
 * ciphertext the pump owns and sends before anything else; no new write
 * starts until the stash is empty. The stash holds one write at most. */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "pump.h"

static const char *
outcome_name(enum tp_outcome o)
{
	static const char *names[] = { "", " WANT_READ", " WANT_WRITE", " ZERO_RETURN (close_notify)",
	    " SSL (EOF without close_notify)", " failed" };

	return names[o];
}

static int send_notify(struct pump *);

/* ---- outcomes shared by every call ---- */

static int
tls_failed(struct pump *p, enum tp_outcome o, const char *what, char *why, size_t whylen)
{
	if (o == TP_TRUNCATED) {
		if (!p->handshaken)
			return fail(p, TP_EXIT_HANDSHAKE, "handshake with %s failed: the connection was closed",
			    p->run->peer);
		if (p->st->close_notify_sent)
			return fail(p, TP_EXIT_TRUNC, "connection truncated: %s sent %llu bytes after our "
			    "close_notify, then closed without its own; more may be missing (%llu bytes in all)",
			    p->run->peer, (unsigned long long)(p->st->bytes_in - p->in_at_notify),
			    (unsigned long long)p->st->bytes_in);
		return fail(p, TP_EXIT_TRUNC, "connection truncated: %s closed it without close_notify "
		    "after %llu bytes", p->run->peer, (unsigned long long)p->st->bytes_in);
	}
	if (!p->handshaken) {
		tp_tls_failure(p->ssl, p->cfg, why, whylen);
		return fail(p, TP_EXIT_HANDSHAKE, "handshake with %s failed: %s", p->run->peer, why);
	}
	if (tp_tls_cert_alert(p->ssl)) {
		tp_tls_failure(p->ssl, p->cfg, why, whylen);
		return fail(p, TP_EXIT_HANDSHAKE, "%s rejected the certificate: %s", p->run->peer, why);
	}
	return fail(p, TP_EXIT_IO, "%s failed: %s", what, why);
}

static int do_read(struct pump *p);

/* A write failed: what the peer sent before it went away still reaches
 * stdout before the failure is told (a read error then tells it). */
static int
write_failed(struct pump *p, enum tp_outcome o, const char *what, char *why, size_t whylen)
{
	if (p->handshaken && !p->in_done && o != TP_TRUNCATED && do_read(p) < 0)
		return -1;
	return tls_failed(p, o, what, why, whylen);
}

static int
handshake_done(struct pump *p)
{
	struct tp_run *run = p->run;
	int v = SSL_version(p->ssl);

	p->handshaken = true;
	p->st->handshake_us = tp_now_us() - p->st->start_us;
	p->tls12 = v < TLS1_3_VERSION;
	snprintf(run->protocol, sizeof(run->protocol), "%s", SSL_get_version(p->ssl));
	snprintf(run->cipher, sizeof(run->cipher), "%s", SSL_get_cipher_name(p->ssl));
	tp_trace(run, "handshake done: %s %s in %.1f ms", run->protocol, run->cipher,
	    (double)p->st->handshake_us / 1000.0);
	if (p->cfg->verbose)
		tp_tls_summary(p->ssl, run);
	/* the version decides what a rekey flag can mean: say so before any payload */
	if ((p->cfg->key_update_every && p->tls12) || (p->cfg->renegotiate_every && !p->tls12)) {
		send_notify(p);	/* a clean goodbye: the peer did nothing wrong */
		return fail(p, TP_EXIT_USAGE, p->tls12 ? "--key-update-every needs TLS 1.3, and %s agreed on %s" :
		    "--renegotiate-every needs TLS 1.2 (TLS 1.3 has no renegotiation), and %s agreed on %s",
		    run->peer, run->protocol);
	}
	if (p->cfg->recv_only)
		p->stdin_eof = true;	/* outbound ends right after the handshake */
	return 0;
}

static void on_signal(struct pump *, int);

static int
write_out(struct pump *p, const unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0) {
			if (errno == EINTR && !tp_signal_pending())
				continue;
			if (errno == EINTR) {
				on_signal(p, tp_signal_pending());
				return -1;
			}
			return fail(p, TP_EXIT_IO, "cannot write to stdout: %s", strerror(errno));
		}
		b += w;
		n -= (size_t)w;
		if (n > 0 && tp_signal_pending()) {
			/* a blocked reader (a pager, say) must not hold a signal off */
			on_signal(p, tp_signal_pending());
			return -1;
		}
	}
	return 0;
}

/* ---- inbound: SSL_read until nothing complete is held anywhere ---- */

/* Input SSL_read can make progress on without the socket. SSL_has_pending()
 * alone would also count a partial record, which needs the socket: after
 * SSL_read said WANT_READ, what it holds is incomplete. A write resets
 * rd_want, since a renegotiating SSL_write may read records. */
static bool
more_held(const struct pump *p)
{
	if (SSL_pending(p->ssl) > 0)
		return true;
	if (p->net && BIO_ctrl_pending(p->inner) > 0)
		return true;	/* without AUTO_RETRY a ticket ends the call early */
	return p->rd_want != TP_WANT_READ && SSL_has_pending(p->ssl);
}

static bool
rekey_due(const struct pump *p)
{
	uint64_t every = p->tls12 ? p->cfg->renegotiate_every : p->cfg->key_update_every;

	return p->usr1 || (every && p->st->bytes_in + p->st->bytes_out - p->rekey_mark >= every);
}

/* A due rekey can start now: not during another handshake, nor while a
 * write is pending (SSL_key_update refuses then), nor after goodbyes. */
static bool
rekey_ready(const struct pump *p)
{
	return p->handshaken && !p->in_done && !p->st->close_notify_sent && rekey_due(p) &&
	    p->o.want == TP_DONE && !SSL_in_init(p->ssl) && !SSL_renegotiate_pending(p->ssl);
}

static int read_loop(struct pump *p);

/* Reads never block the loop: with -b the socket is blocking for SSL_write
 * only, since a blocking SSL_read stalls on a TLS 1.3 session ticket. */
static int
do_read(struct pump *p)
{
	int r;

	if (p->cfg->blocking)
		tp_net_set_blocking(p->fd, false);
	r = read_loop(p);
	if (p->cfg->blocking)
		tp_net_set_blocking(p->fd, true);
	return r;
}

static int
read_loop(struct pump *p)
{
	char why[256];

	for (;;) {
		ssize_t fed = 0;

		if (p->net && (fed = tp_pair_feed(p)) < 0)
			return -1;
		for (;;) {
			int n, f;
			enum tp_outcome o;

			/* answers to what SSL_read reads (KeyUpdate, alerts, a
			 * renegotiation's messages) never wait on a full socket */
			p->absorb = true;
			if (p->net && tp_pair_flush(p) < 0)
				return -1;
			ERR_clear_error();
			n = SSL_read(p->ssl, p->buf, CHUNK);
			p->st->ssl_read_calls++;
			f = tp_pair_flush(p);
			p->absorb = false;
			if (f < 0)
				return -1;
			if (!p->handshaken && SSL_is_init_finished(p->ssl) && handshake_done(p) < 0)
				return -1;
			if (n > 0) {
				tp_trace(p->run, "SSL_read(%d) = %d", CHUNK, n);
				p->st->bytes_in += (uint64_t)n;
				p->last_io = p->last_rx = tp_now_ms();
				if (!p->cfg->send_only && write_out(p, p->buf, (size_t)n) < 0)
					return -1;
				if (rekey_ready(p)) {
					p->rd_want = TP_DONE;	/* more may be held: come back */
					return 0;
				}
				continue;
			}
			o = tp_tls_outcome(p->ssl, n, why, sizeof(why));
			tp_trace(p->run, "SSL_read(%d) = %d%s", CHUNK, n, outcome_name(o));
			p->rd_want = o;
			if (o == TP_WANT_READ) {
				p->st->want_read++;
				if (more_held(p))
					continue;
				break;
			}
			if (o == TP_WANT_WRITE) {
				p->st->want_write++;
				return 0;
			}
			if (o == TP_CLOSED) {
				p->in_done = true;
				p->st->peer_close_notify = true;
				return 0;
			}
			if (o == TP_TRUNCATED && p->st->close_notify_sent && p->st->bytes_in == p->in_at_notify) {
				/* nginx's way: our close_notify answered by a TCP close.
				 * Nothing came after ours, so nothing can be missing. */
				tp_trace(p->run, "%s closed TCP after our close_notify, nothing sent since",
				    p->run->peer);
				p->in_done = true;
				return 0;
			}
			return tls_failed(p, o, "reading from the connection", why, sizeof(why));
		}
		if (fed == 0)
			return 0;
	}
}

/* ---- outbound ---- */

/* With --crlf a lone LF becomes CRLF; read into the upper half, expand down. */
static ssize_t
read_stdin(struct pump *p)
{
	size_t cap = p->cfg->crlf ? CHUNK / 2 : CHUNK;
	unsigned char *dst = p->o.in, *src = p->cfg->crlf ? p->o.in + CHUNK / 2 : p->o.in;
	ssize_t r;
	size_t n = 0;

	do
		r = read(STDIN_FILENO, src, cap);
	while (r < 0 && errno == EINTR && !tp_signal_pending());
	if (r <= 0 || !p->cfg->crlf)
		return r;
	for (ssize_t i = 0; i < r; i++) {
		if (src[i] == '\n' && !p->last_cr)
			dst[n++] = '\r';
		dst[n++] = src[i];
		p->last_cr = src[i] == '\r';
	}
	return (ssize_t)n;
}

static int
fill_from_stdin(struct pump *p)
{
	ssize_t r = read_stdin(p);

	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return fail(p, TP_EXIT_IO, "cannot read stdin: %s", strerror(errno));
	}
	if (r == 0) {
		p->stdin_eof = true;
		tp_trace(p->run, "stdin: EOF");
		return 0;
	}
	p->o.off = 0;
	p->o.len = (size_t)r;
	p->last_io = tp_now_ms();
	return 0;
}

enum tp_outcome
tp_write_once(SSL *ssl, struct tp_out *o, size_t write_size, struct tp_stats *st, char *why,
    size_t whylen)
{
	size_t len = o->call;
	enum tp_outcome r;
	int n;

	if (len == 0) {
		len = o->len - o->off;	/* never 0: the caller has bytes */
		if (write_size && len > write_size)
			len = write_size;
	}
	o->last = len;
	ERR_clear_error();
	n = SSL_write(ssl, o->in + o->off, (int)len);
	st->ssl_write_calls++;
	if (n > 0) {
		if ((size_t)n < len)
			st->partial_writes++;
		o->off += (size_t)n;
		st->bytes_out += (uint64_t)n;
		o->call = 0;
		o->want = TP_DONE;
		o->done = (size_t)n;
		if (o->off == o->len)
			o->off = o->len = 0;
		return TP_DONE;
	}
	r = tp_tls_outcome(ssl, n, why, whylen);
	if (r == TP_WANT_READ || r == TP_WANT_WRITE) {
		if (r == TP_WANT_READ)
			st->want_read++;
		else
			st->want_write++;
		o->call = len;	/* the retry repeats this pointer and length */
	}
	o->want = r;
	return r;
}

/* Can the pending write be retried now? Only when what it asked for holds. */
static bool
write_ready(const struct pump *p, bool rd, bool wr)
{
	if (p->o.want == TP_DONE)
		return true;
	if (p->net)
		return p->o.want == TP_WANT_WRITE ? BIO_ctrl_get_write_guarantee(p->inner) > 0 : rd;
	return p->o.want == TP_WANT_WRITE ? wr : rd;
}

/* New writes wait while a handshake runs (the read side drives it), while
 * the stash holds ciphertext, or while a rekey can start; a pending one goes on. */
static bool
write_allowed(const struct pump *p)
{
	if (p->o.want != TP_DONE)
		return true;
	return !SSL_in_init(p->ssl) && tp_stash_empty(p) && !rekey_ready(p);
}

static int
do_write(struct pump *p, bool rd, bool wr)
{
	char why[256];

	while (p->o.off < p->o.len && write_allowed(p) && write_ready(p, rd, wr)) {
		bool retry = p->o.call != 0;
		const void *ptr = p->o.in + p->o.off;
		enum tp_outcome r = tp_write_once(p->ssl, &p->o, p->cfg->write_size, p->st, why, sizeof(why));

		p->rd_want = TP_DONE;	/* a renegotiating write may have read records */
		if (p->cfg->trace) {
			if (r == TP_DONE)
				tp_trace(p->run, "SSL_write(%p, %zu) = %zu%s%s", ptr, p->o.last, p->o.done,
				    p->o.done < p->o.last ? " partial" : "", retry ? " (identical retry)" : "");
			else
				tp_trace(p->run, "SSL_write(%p, %zu) = -1%s%s", ptr, p->o.last, outcome_name(r),
				    retry ? " (identical retry)" : "");
		}
		if (tp_pair_flush(p) < 0)
			return -1;
		if (r == TP_DONE) {
			p->last_io = tp_now_ms();
			continue;
		}
		if (r != TP_WANT_READ && r != TP_WANT_WRITE)
			return write_failed(p, r, "writing to the connection", why, sizeof(why));
		/* the flush above may have emptied the pair: then the retry is
		 * due now, and no socket event would announce it */
		rd = wr = false;
	}
	return 0;
}

/* SSL_read is about to run while a write is pending: complete the write by
 * its identical retry, its ciphertext absorbed into the stash. */
static int
absorb_pending(struct pump *p)
{
	char why[256];

	while (p->o.want == TP_WANT_WRITE) {
		const void *ptr = p->o.in + p->o.off;
		enum tp_outcome r;
		int f;

		p->absorb = true;
		if (p->net && tp_pair_flush(p) < 0)
			return -1;
		r = tp_write_once(p->ssl, &p->o, p->cfg->write_size, p->st, why, sizeof(why));
		f = tp_pair_flush(p);
		p->absorb = false;
		if (f < 0)
			return -1;
		if (p->cfg->trace)
			tp_trace(p->run, "SSL_write(%p, %zu) = %ld%s (identical retry, absorbed: the peer's data is waiting)",
			    ptr, p->o.last, r == TP_DONE ? (long)p->o.done : -1L, outcome_name(r));
		if (r == TP_DONE) {
			p->last_io = tp_now_ms();
			return 0;
		}
		if (r != TP_WANT_WRITE)
			return r == TP_WANT_READ ? 0 : write_failed(p, r, "writing to the connection", why, sizeof(why));
		if (p->net == NULL)
			return 0;	/* cannot happen: the socket BIO absorbs everything */
	}
	return 0;
}

/* close_notify, once. A retry is only to flush an alert that did not fit:
 * a second SSL_shutdown after success would start reading and can destroy
 * the peer's data still in flight. */
static int
send_notify(struct pump *p)
{
	char why[256];
	int r;
	enum tp_outcome o;

	ERR_clear_error();
	r = SSL_shutdown(p->ssl);
	if (tp_pair_flush(p) < 0)
		return -1;
	if (r >= 0) {
		tp_trace(p->run, "SSL_shutdown() = %d: close_notify sent", r);
		p->st->close_notify_sent = true;
		p->in_at_notify = p->st->bytes_in;
		p->sd_want = TP_DONE;
		return 0;
	}
	o = tp_tls_outcome(p->ssl, r, why, sizeof(why));
	tp_trace(p->run, "SSL_shutdown() = %d%s", r, outcome_name(o));
	if (o == TP_WANT_WRITE || o == TP_WANT_READ) {
		p->sd_want = o;
		return 0;
	}
	return write_failed(p, o, "sending close_notify", why, sizeof(why));
}

/* ---- rekeying: TLS 1.3 key update, TLS 1.2 renegotiation ---- */

static int
rekey(struct pump *p, const char *why)
{
	int ok;

	if (p->tls12) {
		if (p->cfg->no_reneg) {
			tp_warn("%s: no renegotiation (--no-renegotiation)", why);
			return 0;
		}
		ok = SSL_renegotiate(p->ssl);
	} else {
		ok = SSL_key_update(p->ssl, SSL_KEY_UPDATE_REQUESTED);
	}
	ERR_clear_error();
	if (ok != 1) {
		tp_warn("%s: OpenSSL refused to start a %s now", why, p->tls12 ? "renegotiation" : "key update");
		return 0;
	}
	p->st->rekeys++;
	p->rekey_mark = p->st->bytes_in + p->st->bytes_out;
	p->rekey_ms = tp_now_ms();
	tp_trace(p->run, "%s: %s started", why, p->tls12 ? "renegotiation" : "key update");
	/* pushed out by the read side, even when this side only receives */
	return do_read(p);
}

static int
maybe_rekey(struct pump *p)
{
	if (!rekey_ready(p))
		return 0;
	if (p->usr1) {
		p->usr1 = false;
		return rekey(p, "SIGUSR1");
	}
	return rekey(p, p->tls12 ? "--renegotiate-every" : "--key-update-every");
}

/* ---- the end: never close() with data the peer has not had ---- */

static void
linger(struct pump *p, long end)
{
	while ((tp_pair_unflushed(p) || !tp_stash_empty(p)) && tp_now_ms() < end) {
		fd_set w;
		struct timeval tv = { 0, 50000 };

		if (tp_pair_flush(p) < 0 || (!tp_pair_unflushed(p) && tp_stash_empty(p)))
			break;
		FD_ZERO(&w);
		FD_SET(p->fd, &w);
		select(p->fd + 1, NULL, &w, NULL, &tv);
	}
	tp_net_set_blocking(p->fd, false);
	shutdown(p->fd, SHUT_WR);
	for (;;) {
		long left = end - tp_now_ms();
		fd_set r;
		struct timeval tv;

		if (left <= 0)
			break;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		FD_ZERO(&r);
		FD_SET(p->fd, &r);
		if (select(p->fd + 1, &r, NULL, NULL, &tv) <= 0)
			break;
		if (read(p->fd, p->buf, CHUNK) <= 0)
			break;
	}
}

/* A signal ends the run at once, but cleanly: the record in flight is
 * completed (its identical retry, absorbed into the stash), close_notify is
 * queued behind it, and both go out for at most SIGNAL_LINGER_MS, so a peer
 * that reads gets the data and the goodbye, and one that does not cannot
 * hold us. The signal's status is recorded first: it is the one reported. */
static void
on_signal(struct pump *p, int sig)
{
	char why[256];

	fail(p, 128 + sig, "interrupted by signal %d (%s)", sig, strsignal(sig));
	if (!p->handshaken)
		return;
	tp_net_set_blocking(p->fd, false);
	if (!p->st->close_notify_sent && !SSL_in_init(p->ssl)) {
		p->absorb = true;
		while (p->o.want == TP_WANT_WRITE) {
			if (tp_pair_flush(p) < 0)
				break;
			tp_write_once(p->ssl, &p->o, p->cfg->write_size, p->st, why, sizeof(why));
			tp_trace(p->run, "SSL_write(%zu) = %s (identical retry, absorbed: the record in flight)",
			    p->o.last, p->o.want == TP_DONE ? "done" : outcome_name(p->o.want));
		}
		if (p->o.want == TP_DONE) {
			ERR_clear_error();
			if (SSL_shutdown(p->ssl) >= 0) {
				tp_trace(p->run, "close_notify queued behind the data in flight");
				p->st->close_notify_sent = true;
				p->in_at_notify = p->st->bytes_in;
			}
		}
		tp_pair_flush(p);
		p->absorb = false;
	}
	linger(p, tp_now_ms() + SIGNAL_LINGER_MS);
}

/* close_notify waits while a handshake runs (SSL_shutdown inside one sends
 * nothing), and for a while after our HelloRequest: the client's answer
 * would meet a closed connection. */
static bool
notify_may_go(const struct pump *p)
{
	if (SSL_in_init(p->ssl))
		return false;
	return !SSL_renegotiate_pending(p->ssl) || tp_now_ms() - p->rekey_ms >= RENEG_WAIT_MS;
}

/* --on-eof=auto: how long close_notify must still wait (0: not at all).
 * The peer must have been quiet for the grace. The quiet time starts once
 * our last byte has left the host (a server cannot answer what it has not
 * received) and starts again with every byte the peer sends. */
static long
grace_left(struct pump *p, long now)
{
	long since;

	if (p->cfg->on_eof != TP_EOF_AUTO || p->in_done)
		return 0;	/* the peer's goodbye ends the wait */
	if (!tp_stash_empty(p) || tp_pair_unflushed(p) || tp_net_unsent(p->fd) > 0) {
		p->quiet_from = 0;
		return OUTQ_POLL_MS;	/* no event says when the kernel has sent it */
	}
	if (p->quiet_from == 0) {
		p->quiet_from = now;
		tp_trace(p->run, "close_notify waits until %s is quiet for %ld ms (--on-eof=auto)",
		    p->run->peer, p->cfg->eof_grace_ms);
	}
	since = p->last_rx > p->quiet_from ? p->last_rx : p->quiet_from;
	return since + p->cfg->eof_grace_ms > now ? since + p->cfg->eof_grace_ms - now : 0;
}

/* Our close_notify, after what the peer sent is read: a peer that closes
 * on it may reset the connection, and a reset can take unread data along. */
static int
say_goodbye(struct pump *p)
{
	if (!p->in_done && do_read(p) < 0)
		return -1;
	return send_notify(p);
}

/* What the directions' states mean now. Returns 1 when finished. */
static int
settle(struct pump *p)
{
	if (p->out == OUT_OPEN && p->stdin_eof && p->o.len == 0 && p->handshaken) {
		p->out = OUT_EOF;
		if (p->cfg->on_eof == TP_EOF_WAIT)
			p->out = OUT_DONE;
	}
	if (p->out == OUT_EOF && !p->st->close_notify_sent) {
		if (p->sd_want == TP_DONE && notify_may_go(p) && grace_left(p, tp_now_ms()) == 0 &&
		    say_goodbye(p) < 0)
			return -1;
		if (p->st->close_notify_sent)
			p->out = OUT_DONE;
	}
	if (p->out == OUT_DONE && p->st->close_notify_sent && p->cfg->on_eof == TP_EOF_EXIT)
		return 1;
	if (!p->in_done)
		return 0;
	/* the peer half-closed: it still gets the rest of stdin, unless a
	 * person at a terminal is typing to a server that hung up */
	if (p->out != OUT_DONE && isatty(STDIN_FILENO) != 1)
		return 0;
	if (p->st->close_notify_sent || p->o.len != 0)
		return p->st->close_notify_sent;
	if (SSL_in_init(p->ssl)) {
		/* the peer left in the middle of a handshake: no goodbye is possible */
		tp_warn("%s closed the connection during a handshake; no close_notify could be sent",
		    p->run->peer);
		return 1;
	}
	if (p->sd_want == TP_DONE && notify_may_go(p) && send_notify(p) < 0)
		return -1;
	return p->st->close_notify_sent;
}

static long
next_wait(struct pump *p, long now)
{
	long wait = -1;

	if (!p->handshaken && p->deadline > 0)
		wait = p->deadline - now;
	if (p->cfg->idle_timeout_ms > 0) {
		long left = p->last_io + p->cfg->idle_timeout_ms - now;

		if (wait < 0 || left < wait)
			wait = left;
	}
	if (p->cfg->progress && p->run->progress_tty && (wait < 0 || wait > 500))
		wait = 500;
	/* a close_notify held for a HelloRequest's answer goes when the wait ends */
	if ((p->out == OUT_EOF || p->in_done) && !p->st->close_notify_sent && SSL_renegotiate_pending(p->ssl)) {
		long left = p->rekey_ms + RENEG_WAIT_MS - now;

		if (left > 0 && (wait < 0 || left < wait))
			wait = left;
	}
	if (p->out == OUT_EOF && !p->st->close_notify_sent) {
		long left = grace_left(p, now);

		if (left > 0 && (wait < 0 || left < wait))
			wait = left;
	}
	/* something complete held inside OpenSSL must not wait on select() */
	if (!p->in_done && more_held(p))
		wait = 0;
	/* a fresh write that may start now (a handshake ended late in this
	 * turn, say) is not an event select() would report */
	if (p->handshaken && p->o.len > 0 && p->o.want == TP_DONE && write_allowed(p))
		wait = 0;
	/* a pair with room again is a pending write's signal: no fd reports it */
	if (p->net && p->o.want == TP_WANT_WRITE && write_allowed(p) &&
	    BIO_ctrl_get_write_guarantee(p->inner) > 0)
		wait = 0;
	return wait < 0 ? -1 : wait;
}

int
tp_pump(SSL *ssl, int fd, struct tp_run *run, long deadline)
{
	const struct tp_config *cfg = run->cfg;
	struct pump p = { .ssl = ssl, .fd = fd, .run = run, .cfg = cfg, .st = &run->st,
	    .o.want = TP_DONE, .rd_want = TP_DONE, .sd_want = TP_DONE, .deadline = deadline };
	bool rd = true, wr = false, in_ready = false;	/* the handshake starts in the first SSL_read */

	p.o.in = malloc(CHUNK);
	p.buf = malloc(CHUNK);
	if (p.o.in == NULL || p.buf == NULL) {
		fail(&p, TP_EXIT_IO, "out of memory");
		goto out;
	}
	if (cfg->io == TP_IO_PAIR) {
		if (BIO_new_bio_pair(&p.inner, PAIR_SIZE, &p.net, PAIR_SIZE) != 1) {
			fail(&p, TP_EXIT_IO, "cannot create a BIO pair");
			goto out;
		}
		SSL_set_bio(ssl, p.inner, p.inner);
	} else {
		BIO *rb = BIO_new_socket(fd, BIO_NOCLOSE), *wb = rb ? tp_sock_wbio(&p) : NULL;

		if (wb == NULL) {
			BIO_free(rb);
			fail(&p, TP_EXIT_IO, "cannot set up the socket BIOs");
			goto out;
		}
		SSL_set_bio(ssl, rb, wb);
	}
	if (cfg->blocking) {
		struct timeval tv = { 1, 0 };

		/* a blocking SSL_write returns within a second, as WANT_WRITE,
		 * so a full-duplex peer, a signal or a timeout is never starved */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		tp_net_set_blocking(fd, true);
	}
	p.last_io = tp_now_ms();

	for (;;) {
		int sig = tp_signal_pending();

		if (sig) {
			on_signal(&p, sig);
			break;
		}
		if (tp_usr1_pending())
			p.usr1 = true;
		if (!p.in_done && (rd || (p.rd_want == TP_WANT_WRITE && wr) || more_held(&p)) &&
		    p.stash.len - p.stash.off < STASH_READ_LIMIT) {
			if (absorb_pending(&p) < 0 || do_read(&p) < 0)
				break;
		}
		/* stdin only when the last chunk is gone */
		if (in_ready && p.o.len == 0 && p.out == OUT_OPEN && !p.stdin_eof && p.handshaken &&
		    fill_from_stdin(&p) < 0)
			break;
		if (p.handshaken && do_write(&p, rd, wr) < 0)
			break;
		if (p.sd_want != TP_DONE && (p.net || (p.sd_want == TP_WANT_WRITE ? wr : rd))) {
			p.sd_want = TP_DONE;
			if (send_notify(&p) < 0)
				break;
		}
		if (maybe_rekey(&p) < 0)
			break;

		int s = settle(&p);

		if (s < 0)
			break;
		if (s > 0) {
			linger(&p, tp_now_ms() + LINGER_MS);
			break;
		}
		tp_progress(run, false);

		/* what to wait for */
		fd_set rs, ws;
		long now = tp_now_ms(), wait;
		struct timeval tv;

		if (!p.handshaken && p.deadline > 0 && now >= p.deadline) {
			fail(&p, TP_EXIT_TIMEOUT, "timed out: no TLS handshake with %s within %ld s", run->peer,
			    cfg->timeout_ms / 1000);
			break;
		}
		if (cfg->idle_timeout_ms > 0 && now - p.last_io >= cfg->idle_timeout_ms) {
			fail(&p, TP_EXIT_TIMEOUT, "timed out: no data for %ld s (--idle-timeout)",
			    cfg->idle_timeout_ms / 1000);
			break;
		}
		FD_ZERO(&rs);
		FD_ZERO(&ws);
		/* the socket's input, while there is room for it */
		if ((!p.in_done && !p.sock_eof && p.stash.len - p.stash.off < STASH_READ_LIMIT &&
		    (!p.net || BIO_ctrl_get_write_guarantee(p.net) > 0)) ||
		    p.o.want == TP_WANT_READ || p.sd_want == TP_WANT_READ)
			FD_SET(fd, &rs);
		if (!tp_stash_empty(&p) || (p.net ? tp_pair_unflushed(&p) :
		    (p.o.want == TP_WANT_WRITE || p.rd_want == TP_WANT_WRITE || p.sd_want == TP_WANT_WRITE)))
			FD_SET(fd, &ws);
		if (p.o.len == 0 && p.out == OUT_OPEN && !p.stdin_eof && p.handshaken)
			FD_SET(STDIN_FILENO, &rs);
		wait = next_wait(&p, now);
		if (wait >= 0) {
			tv.tv_sec = wait / 1000;
			tv.tv_usec = (wait % 1000) * 1000;
		}
		int n = select(fd + 1, &rs, &ws, NULL, wait >= 0 ? &tv : NULL);

		if (n < 0) {
			rd = wr = in_ready = false;
			if (errno == EINTR)
				continue;
			fail(&p, TP_EXIT_IO, "select: %s", strerror(errno));
			break;
		}
		rd = FD_ISSET(fd, &rs);
		wr = FD_ISSET(fd, &ws);
		in_ready = FD_ISSET(STDIN_FILENO, &rs);
		if (cfg->trace && n > 0)
			tp_trace(run, "select:%s%s%s", rd ? " socket readable" : "", wr ? " socket writable" : "",
			    in_ready ? " stdin readable" : "");
		if (wr && tp_pair_flush(&p) < 0)
			break;
	}
out:
	tp_progress(run, true);
	SSL_set_bio(ssl, NULL, NULL);	/* our BIO method must outlive its BIOs */
	BIO_meth_free(p.wmeth);
	BIO_free(p.net);
	free(p.o.in);
	free(p.buf);
	free(p.stash.buf);
	return run->exit_code;
}
