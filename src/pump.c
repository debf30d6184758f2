/* The select() loop: stdin -> SSL_write and SSL_read -> stdout at once.
 *
 * Each direction keeps what it waits for as data (`want`): a write that
 * stopped with WANT_READ/WANT_WRITE keeps its pointer and length and is
 * repeated, identical, once the condition it asked for holds. Reads always
 * run until OpenSSL says WANT_READ and holds nothing more, so no record
 * sits inside OpenSSL (or the BIO pair) while select() sleeps. */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "tlspipe.h"

#define CHUNK (256 * 1024)	/* stdin read and SSL_read size */
#define PAIR_SIZE (128 * 1024)	/* each half of the BIO pair */
#define LINGER_MS 1000

enum out_state { OUT_OPEN, OUT_EOF, OUT_DONE };

struct pump {
	SSL *ssl;
	int fd;
	const struct tp_config *cfg;
	const char *peer;
	struct tp_stats *st;

	struct tp_out o;	/* stdin not yet written, and its retry state */
	enum out_state out;
	bool stdin_eof, last_cr;

	/* inbound */
	unsigned char *buf;
	enum tp_outcome rd_want;
	bool in_done;

	/* close_notify */
	enum tp_outcome sd_want;
	bool notify_sent;

	/* --io=bio-pair: the network half, and whether the socket hit EOF */
	BIO *net;
	bool sock_eof;

	bool handshaken;
	long deadline, last_io;
	int exit;
};

static int
fail(struct pump *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct pump *p, int code, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tp_warn("%s", msg);
	p->exit = code;
	return -1;
}

static bool
stdin_is_tty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

/* ---- the BIO pair's network half <-> the socket, without copies ---- */

/* Move what SSL wrote into the pair out to the socket, until EAGAIN. */
static int
pair_flush(struct pump *p)
{
	char *ptr;
	int n;

	if (p->net == NULL)
		return 0;
	while ((n = BIO_nread0(p->net, &ptr)) > 0) {
		ssize_t w = write(p->fd, ptr, (size_t)n);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return fail(p, p->handshaken ? TP_EXIT_IO : TP_EXIT_HANDSHAKE,
			    "connection to %s failed: %s", p->peer, strerror(errno));
		}
		BIO_nread(p->net, &ptr, (int)w);
	}
	return 0;
}

static bool
pair_unflushed(const struct pump *p)
{
	return p->net && BIO_ctrl_pending(p->net) > 0;
}

/* Fill the pair from the socket while it has room. Returns bytes fed. */
static ssize_t
pair_feed(struct pump *p)
{
	ssize_t total = 0;
	char *ptr;
	int room;

	while (!p->sock_eof && (room = BIO_nwrite0(p->net, &ptr)) > 0) {
		ssize_t r = read(p->fd, ptr, (size_t)room);

		if (r > 0) {
			BIO_nwrite(p->net, &ptr, (int)r);
			total += r;
			continue;
		}
		if (r == 0) {
			p->sock_eof = true;
			BIO_shutdown_wr(p->net);	/* or SSL never sees the EOF */
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		return fail(p, p->handshaken ? TP_EXIT_IO : TP_EXIT_HANDSHAKE,
		    "connection to %s failed: %s", p->peer, strerror(errno));
	}
	return total;
}

/* ---- outcomes shared by every call ---- */

static int
tls_failed(struct pump *p, enum tp_outcome o, const char *what, char *why)
{
	if (o == TP_TRUNCATED) {
		if (!p->handshaken)
			return fail(p, TP_EXIT_HANDSHAKE, "handshake with %s failed: the connection was closed",
			    p->peer);
		if (p->notify_sent)
			return fail(p, TP_EXIT_TRUNC, "connection truncated: %s closed it without close_notify "
			    "after our close_notify was sent; %llu bytes arrived, the reply may be complete",
			    p->peer, (unsigned long long)p->st->bytes_in);
		return fail(p, TP_EXIT_TRUNC, "connection truncated: %s closed it without close_notify "
		    "after %llu bytes", p->peer, (unsigned long long)p->st->bytes_in);
	}
	if (!p->handshaken) {
		tp_tls_failure(p->ssl, p->cfg, why, 256);
		return fail(p, TP_EXIT_HANDSHAKE, "handshake with %s failed: %s", p->peer, why);
	}
	if (tp_tls_cert_alert(p->ssl)) {
		tp_tls_failure(p->ssl, p->cfg, why, 256);
		return fail(p, TP_EXIT_HANDSHAKE, "%s rejected the certificate: %s", p->peer, why);
	}
	return fail(p, TP_EXIT_IO, "%s failed: %s", what, why);
}

static void
handshake_done(struct pump *p)
{
	p->handshaken = true;
	p->st->handshake_ms = tp_now_ms() - p->st->start_ms;
	if (p->cfg->verbose)
		tp_tls_summary(p->ssl, p->peer);
	if (p->cfg->recv_only)
		p->stdin_eof = true;	/* outbound ends right after the handshake */
}

static int
write_out(struct pump *p, const unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return fail(p, TP_EXIT_IO, "cannot write to stdout: %s", strerror(errno));
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- inbound: SSL_read until nothing more is held anywhere ---- */

/* Complete input that SSL_read can make progress on without the socket.
 * SSL_has_pending() alone would also count a partial record, which needs
 * the socket: after SSL_read said WANT_READ, what it holds is incomplete.
 * Anything else (an SSL_write that read records) leaves rd_want reset. */
static bool
more_held(const struct pump *p)
{
	if (SSL_pending(p->ssl) > 0)
		return true;
	if (p->net && BIO_ctrl_pending(SSL_get_rbio(p->ssl)) > 0)
		return true;	/* without AUTO_RETRY a ticket ends the call early */
	return p->rd_want != TP_WANT_READ && SSL_has_pending(p->ssl);
}

static int
do_read(struct pump *p)
{
	char why[256];

	for (;;) {
		ssize_t fed = 0;

		if (p->net && (fed = pair_feed(p)) < 0)
			return -1;
		for (;;) {
			int n;
			enum tp_outcome o;

			ERR_clear_error();
			n = SSL_read(p->ssl, p->buf, CHUNK);
			if (pair_flush(p) < 0)
				return -1;
			if (!p->handshaken && SSL_is_init_finished(p->ssl))
				handshake_done(p);
			if (n > 0) {
				p->st->bytes_in += (uint64_t)n;
				p->last_io = tp_now_ms();
				if (!p->cfg->send_only && write_out(p, p->buf, (size_t)n) < 0)
					return -1;
				continue;
			}
			o = tp_tls_outcome(p->ssl, n, why, sizeof(why));
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
			return tls_failed(p, o, "reading from the connection", why);
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

	do
		r = read(STDIN_FILENO, src, cap);
	while (r < 0 && errno == EINTR && !tp_signal_pending());
	if (r <= 0 || !p->cfg->crlf)
		return r;
	size_t n = 0;

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
		return 0;
	}
	p->o.off = 0;
	p->o.len = (size_t)r;
	p->last_io = tp_now_ms();
	return 0;
}

/* Can the pending write be retried now? Only when what it asked for holds. */
static bool
write_ready(const struct pump *p, bool rd, bool wr)
{
	if (p->o.want == TP_DONE)
		return true;
	if (p->net)
		return p->o.want == TP_WANT_WRITE ?
		    BIO_ctrl_get_write_guarantee(SSL_get_wbio(p->ssl)) > 0 : rd;
	return p->o.want == TP_WANT_WRITE ? wr : rd;
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

static int
do_write(struct pump *p)
{
	char why[256];

	while (p->o.off < p->o.len) {
		enum tp_outcome r = tp_write_once(p->ssl, &p->o, p->cfg->write_size, p->st, why, sizeof(why));

		p->rd_want = TP_DONE;	/* a renegotiating write may have read records */
		if (pair_flush(p) < 0)
			return -1;
		if (r == TP_DONE) {
			p->last_io = tp_now_ms();
			continue;
		}
		if (r == TP_WANT_READ || r == TP_WANT_WRITE) {
			/* the flush above may have emptied the pair: the retry is
			 * due now, and no socket event would announce it */
			if (write_ready(p, false, false))
				continue;
			return 0;
		}
		return tls_failed(p, r, "writing to the connection", why);
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
	if (pair_flush(p) < 0)
		return -1;
	if (r >= 0) {
		p->notify_sent = true;
		p->sd_want = TP_DONE;
		return 0;
	}
	o = tp_tls_outcome(p->ssl, r, why, sizeof(why));
	if (o == TP_WANT_WRITE || o == TP_WANT_READ) {
		p->sd_want = o;
		return 0;
	}
	return tls_failed(p, o, "sending close_notify", why);
}

/* ---- the end: never close() with data the peer has not had ---- */

static void
linger(struct pump *p)
{
	long end = tp_now_ms() + LINGER_MS;

	while (pair_unflushed(p) && tp_now_ms() < end) {
		fd_set w;
		struct timeval tv = { 0, 50000 };

		if (pair_flush(p) < 0 || !pair_unflushed(p))
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

/* ---- the loop ---- */

static int
on_signal(struct pump *p, int sig)
{
	if (p->handshaken && !p->notify_sent) {
		tp_net_set_blocking(p->fd, false);
		ERR_clear_error();
		if (SSL_shutdown(p->ssl) >= 0)
			p->notify_sent = true;
		pair_flush(p);
	}
	tp_warn("interrupted by signal %d (%s)", sig, strsignal(sig));
	p->exit = 128 + sig;
	return -1;
}

/* Decide what the directions' states mean now. Returns 1 when finished. */
static int
settle(struct pump *p)
{
	if (p->out == OUT_OPEN && p->stdin_eof && p->o.off == p->o.len && p->handshaken) {
		p->out = OUT_EOF;
		if (p->cfg->on_eof == TP_EOF_WAIT)
			p->out = OUT_DONE;
	}
	if (p->out == OUT_EOF && !p->notify_sent) {
		if (p->sd_want == TP_DONE && send_notify(p) < 0)
			return -1;
		if (p->notify_sent)
			p->out = OUT_DONE;
	}
	if (p->out == OUT_DONE && p->notify_sent && p->cfg->on_eof == TP_EOF_EXIT)
		return 1;
	if (p->in_done) {
		if (p->out != OUT_DONE && !stdin_is_tty())
			return 0;	/* the peer half-closed: it still gets the rest of stdin */
		if (!p->notify_sent && p->o.off == p->o.len) {
			if (p->sd_want == TP_DONE && send_notify(p) < 0)
				return -1;
			if (!p->notify_sent)
				return 0;
		}
		return p->notify_sent ? 1 : 0;
	}
	return 0;
}

int
tp_pump(SSL *ssl, int fd, const struct tp_config *cfg, const char *peer, long deadline,
    struct tp_stats *st)
{
	struct pump p = { .ssl = ssl, .fd = fd, .cfg = cfg, .peer = peer, .st = st,
	    .o.want = TP_DONE, .rd_want = TP_DONE, .sd_want = TP_DONE, .deadline = deadline };
	int rc = 0;

	p.o.in = malloc(CHUNK);
	p.buf = malloc(CHUNK);
	if (p.o.in == NULL || p.buf == NULL) {
		free(p.o.in);
		free(p.buf);
		tp_warn("out of memory");
		return TP_EXIT_IO;
	}
	if (cfg->io == TP_IO_PAIR) {
		BIO *inner;

		if (BIO_new_bio_pair(&inner, PAIR_SIZE, &p.net, PAIR_SIZE) != 1) {
			tp_warn("cannot create a BIO pair");
			rc = TP_EXIT_IO;
			goto out;
		}
		SSL_set_bio(ssl, inner, inner);
	} else {
		SSL_set_fd(ssl, fd);
	}
	if (cfg->blocking) {
		struct timeval tv = { 1, 0 };

		/* a blocking SSL_write returns within a second, as WANT_WRITE,
		 * so a full-duplex peer, a signal or a timeout is never starved */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		tp_net_set_blocking(fd, true);
	}
	p.last_io = tp_now_ms();
	/* the handshake starts inside the first SSL_read: nothing waits on stdin */
	bool rd = true, wr = false, in_ready = false;

	for (;;) {
		int sig = tp_signal_pending();

		if (sig) {
			on_signal(&p, sig);
			break;
		}
		/* inbound: whenever the socket had something, or a read waits on writable */
		if (!p.in_done && (rd || (p.rd_want == TP_WANT_WRITE && wr) || more_held(&p))) {
			if (cfg->blocking && !p.net)
				tp_net_set_blocking(fd, false);	/* reads never block the loop */
			int r = do_read(&p);

			if (cfg->blocking && !p.net)
				tp_net_set_blocking(fd, true);
			if (r < 0)
				break;
		}
		/* outbound: stdin only when the last chunk is gone */
		if (in_ready && p.o.off == p.o.len && p.out == OUT_OPEN && !p.stdin_eof && p.handshaken &&
		    fill_from_stdin(&p) < 0)
			break;
		/* hold writes while a renegotiation runs: the read side drives it */
		if (p.o.off < p.o.len && p.handshaken && !(SSL_in_init(ssl) && p.o.want == TP_DONE) &&
		    write_ready(&p, rd, wr) && do_write(&p) < 0)
			break;
		if (p.sd_want != TP_DONE && (p.net ? true : (p.sd_want == TP_WANT_WRITE ? wr : rd))) {
			p.sd_want = TP_DONE;
			p.notify_sent = false;
			if (send_notify(&p) < 0)
				break;
		}
		int s = settle(&p);

		if (s < 0)
			break;
		if (s > 0) {
			linger(&p);
			break;
		}

		/* what to wait for */
		fd_set rs, ws;
		int maxfd = fd;
		long now = tp_now_ms(), wait = -1;
		struct timeval tv;

		FD_ZERO(&rs);
		FD_ZERO(&ws);
		if ((!p.in_done && !p.sock_eof && (!p.net || BIO_ctrl_get_write_guarantee(p.net) > 0)) ||
		    p.o.want == TP_WANT_READ || p.sd_want == TP_WANT_READ)
			FD_SET(fd, &rs);
		if (p.net ? pair_unflushed(&p) :
		    (p.o.want == TP_WANT_WRITE || p.rd_want == TP_WANT_WRITE || p.sd_want == TP_WANT_WRITE))
			FD_SET(fd, &ws);
		if (p.o.off == p.o.len && p.out == OUT_OPEN && !p.stdin_eof && p.handshaken) {
			FD_SET(STDIN_FILENO, &rs);
		}
		if (!p.handshaken && p.deadline > 0) {
			if (now >= p.deadline) {
				fail(&p, TP_EXIT_TIMEOUT, "timed out: no TLS handshake with %s within %ld s",
				    peer, cfg->timeout_ms / 1000);
				break;
			}
			wait = p.deadline - now;
		}
		if (cfg->idle_timeout_ms > 0) {
			long left = p.last_io + cfg->idle_timeout_ms - now;

			if (left <= 0) {
				fail(&p, TP_EXIT_TIMEOUT, "timed out: idle for %ld s", cfg->idle_timeout_ms / 1000);
				break;
			}
			if (wait < 0 || left < wait)
				wait = left;
		}
		/* something still held inside OpenSSL must not wait on select() */
		if (!p.in_done && more_held(&p))
			wait = 0;
		if (wait >= 0) {
			tv.tv_sec = wait / 1000;
			tv.tv_usec = (wait % 1000) * 1000;
		}
		int n = select(maxfd + 1, &rs, &ws, NULL, wait >= 0 ? &tv : NULL);

		if (n < 0) {
			if (errno == EINTR) {
				rd = wr = in_ready = false;
				continue;
			}
			fail(&p, TP_EXIT_IO, "select: %s", strerror(errno));
			break;
		}
		rd = FD_ISSET(fd, &rs);
		wr = FD_ISSET(fd, &ws);
		in_ready = FD_ISSET(STDIN_FILENO, &rs);
		if (p.net && wr && pair_flush(&p) < 0)
			break;
	}
	rc = p.exit;
out:
	free(p.o.in);
	free(p.buf);
	if (p.net)
		BIO_free(p.net);
	return rc;
}
