/* The pump's private parts, shared by pump.c (the loop and the two
 * directions) and wire.c (ciphertext between OpenSSL and the socket). */
#ifndef TP_PUMP_H
#define TP_PUMP_H

#include "tlspipe.h"

#define CHUNK (256 * 1024)	/* stdin read and SSL_read size */
#define PAIR_SIZE (128 * 1024)	/* each half of the BIO pair */
#define LINGER_MS 1000
#define SIGNAL_LINGER_MS 2000	/* a signal's goodbye: the record in flight and close_notify */
#define OUTQ_POLL_MS 20		/* auto: how often to look whether the kernel sent our last bytes */
#define RENEG_WAIT_MS 2000	/* how long close_notify waits for a HelloRequest's answer */
#define STASH_READ_LIMIT (4 * 1024 * 1024)	/* reads pause while the peer will not take more */

enum out_state { OUT_OPEN, OUT_EOF, OUT_DONE };

/* Ciphertext that must reach the socket before anything else. */
struct stash {
	unsigned char *buf;
	size_t off, len, cap;
};

struct pump {
	SSL *ssl;
	int fd;
	struct tp_run *run;
	const struct tp_config *cfg;
	struct tp_stats *st;

	struct tp_out o;	/* stdin not yet written, and its retry state */
	enum out_state out;
	bool stdin_eof, last_cr;

	unsigned char *buf;	/* SSL_read lands here, then goes to stdout */
	enum tp_outcome rd_want;
	bool in_done;

	enum tp_outcome sd_want;	/* a close_notify that did not fit yet */
	uint64_t in_at_notify;	/* bytes_in when our close_notify went out */
	long quiet_from;	/* --on-eof=auto: our last byte left the host (0: not yet) */
	long last_rx;		/* the peer's last payload */

	BIO *net, *inner;	/* --io=bio-pair: our half, OpenSSL's half */
	bool sock_eof;
	int sock_err;		/* a read error held back until the data before it is read */
	struct stash stash;
	BIO_METHOD *wmeth;
	bool absorb;		/* OpenSSL's writes go to the stash, whatever the socket says */

	bool handshaken, tls12;
	uint64_t rekey_mark;	/* bytes moved at the last rekey */
	long rekey_ms;		/* when it started */
	bool usr1;		/* SIGUSR1 asked for a rekey not yet started */
	long deadline, last_io;
};

#define fail(p, code, ...) tp_fail((p)->run, (code), __VA_ARGS__)

/* a broken connection before the handshake is a failed handshake */
static inline int
conn_code(const struct pump *p)
{
	return p->handshaken ? TP_EXIT_IO : TP_EXIT_HANDSHAKE;
}

/* wire.c */
int tp_stash_put(struct pump *, const void *, size_t);
bool tp_stash_empty(const struct pump *);
int tp_stash_flush(struct pump *);
BIO *tp_sock_wbio(struct pump *);
int tp_pair_flush(struct pump *);
bool tp_pair_unflushed(const struct pump *);
ssize_t tp_pair_feed(struct pump *);

#endif
