/* Every SSL_read, SSL_write and SSL_shutdown the pump makes, and what
 * their outcomes mean. Each direction keeps what it waits for as data
 * (`want`): a write that stopped with WANT_READ/WANT_WRITE keeps its
 * pointer and length and is repeated, identical, once the condition it
 * asked for holds. Reads run until OpenSSL says WANT_READ and holds nothing
 * complete, so no record sits inside OpenSSL (or the BIO pair) while
 * select() sleeps. doc/DESIGN.md tells why the stash exists and who drives
 * a renegotiation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "pump.h"

const char *
tp_io_outcome_name(enum tp_outcome o)
{
	static const char *names[] = { "", " WANT_READ", " WANT_WRITE", " ZERO_RETURN (close_notify)",
	    " SSL (EOF without close_notify)", " failed" };

	return names[o];
}

/* ---- failures: in tlserr.c's words, or the wire's; silent once a signal
 * has stopped the run (its status is the one reported) ---- */

int
tp_io_wire_failed(struct pump *p)
{
	if (p->signalled)
		return -1;
	if (p->w.err == ENOMEM)
		return fail(p, TP_EXIT_IO, "out of memory");
	return fail(p, conn_code(p), "connection to %s failed: %s", p->run->peer, strerror(p->w.err));
}

static int
tls_failed(struct pump *p, enum tp_outcome o, const char *what)
{
	struct tp_phase ph = { .what = what, .handshaken = p->handshaken, .notify_sent = p->notified,
	    .bytes_in = p->st->bytes_in, .in_at_notify = p->in_at_notify };
	char msg[1024];
	int code;

	if (p->signalled)
		return -1;
	code = tp_tls_verdict(p->run, o, &ph, msg, sizeof(msg));
	return fail(p, code, "%s", msg);
}


/* A write failed: what the peer sent before it went away still reaches
 * stdout before the failure is told (a read error then tells it). */
static int
write_failed(struct pump *p, enum tp_outcome o, const char *what)
{
	struct tp_tls_note *n = &p->run->note;
	struct tp_tls_note call = *n;

	if (p->handshaken && !p->in_done && o != TP_TRUNCATED && !p->signalled) {
		if (tp_io_read(p) < 0)
			return -1;
		/* the write's own record is the one to judge, with what the read saw of alerts */
		n->ssl_error = call.ssl_error;
		n->code = call.code;
		n->sys_errno = call.sys_errno;
	}
	return tls_failed(p, o, what);
}

/* ---- inbound: SSL_read until nothing complete is held anywhere ---- */

static int
handshake_done(struct pump *p)
{
	struct tp_run *run = p->run;

	p->handshaken = true;
	if (p->st->handshake_us < 0)	/* else the info callback saw the end first (tls.c) */
		p->st->handshake_us = tp_now_us() - p->st->start_us;
	p->tls12 = SSL_version(p->ssl) < TLS1_3_VERSION;
	snprintf(run->protocol, sizeof(run->protocol), "%s", SSL_get_version(p->ssl));
	snprintf(run->cipher, sizeof(run->cipher), "%s", SSL_get_cipher_name(p->ssl));
	tp_trace(run, "handshake done: %s %s in %.1f ms", run->protocol, run->cipher,
	    (double)p->st->handshake_us / 1000.0);
	if (p->cfg->verbose)
		tp_cert_summary(p->ssl, run);
	/* the version decides what a rekey flag can mean: say so before any payload */
	if ((p->cfg->key_update_every && p->tls12) || (p->cfg->renegotiate_every && !p->tls12)) {
		tp_io_notify(p);	/* a clean goodbye: the peer did nothing wrong */
		return fail(p, TP_EXIT_USAGE, p->tls12 ? "--key-update-every needs TLS 1.3, and %s agreed on %s" :
		    "--renegotiate-every needs TLS 1.2 (TLS 1.3 has no renegotiation), and %s agreed on %s",
		    run->peer, run->protocol);
	}
	if (p->cfg->recv_only)
		p->stdin_eof = true;	/* outbound ends right after the handshake */
	tp_sandbox_enter(run, p->ssl, p->tls12 && !p->cfg->no_reneg);
	return 0;
}

/* A signal while stdout blocks ends the run: a blocked reader (a pager,
 * say) must not hold it off. */
static int
write_out(struct pump *p, const unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0 && errno == EINTR && !tp_signal_pending())
			continue;
		if (w < 0 && errno != EINTR)
			return fail(p, TP_EXIT_IO, "cannot write to stdout: %s", strerror(errno));
		if (w > 0) {
			b += w;
			n -= (size_t)w;
		}
		if (n > 0 && tp_signal_pending()) {
			p->signalled = tp_signal_pending();
			return -1;
		}
	}
	return 0;
}

/* Plaintext gathers in buf and goes to stdout in one write per CHUNK, or
 * sooner, whenever the read loop stops: before any wait, and before a
 * failure is told, so stdout has everything the peer sent by then. */
static int
deliver(struct pump *p)
{
	size_t n = p->held;

	p->held = 0;
	return n > 0 && !p->cfg->send_only ? write_out(p, p->buf, n) : 0;
}

enum { READ_FAILED_TLS = 1, READ_FAILED_WIRE, READ_FAILED_REKEYS };

/* SSL_read until WANT_READ with nothing complete held. 0: done for now;
 * -1: failed and told; READ_FAILED_*: failed, to be told after deliver(). */
static int
read_loop(struct pump *p)
{
	for (;;) {
		ssize_t fed = 0;

		if (tp_wire_pair(&p->w) && (fed = tp_wire_feed(&p->w)) < 0)
			return READ_FAILED_WIRE;
		for (;;) {
			int n = 0, f = 0, room = (int)(CHUNK - p->held);
			enum tp_outcome o;

			if (p->run->note.rekey_storm)
				return READ_FAILED_REKEYS;	/* tls.c counted them */
			/* answers to what SSL_read reads (KeyUpdate, alerts, a
			 * renegotiation's messages) never wait on a full socket */
			p->w.absorb = true;
			if (tp_wire_pair(&p->w))
				f = tp_wire_flush(&p->w);
			if (f == 0) {
				ERR_clear_error();
				n = SSL_read(p->ssl, p->buf + p->held, room);
				p->st->ssl_read_calls++;
				f = tp_wire_flush(&p->w);
			}
			p->w.absorb = false;
			if (f < 0)
				return READ_FAILED_WIRE;
			/* handshake_us: the first handshake ended inside this
			 * SSL_read, even if a renegotiation began behind it */
			if (!p->handshaken && (SSL_is_init_finished(p->ssl) || p->st->handshake_us >= 0) &&
			    handshake_done(p) < 0)
				return -1;
			if (n > 0) {
				tp_trace(p->run, "SSL_read(%d) = %d", room, n);
				p->st->bytes_in += (uint64_t)n;
				p->last_io = p->last_rx = tp_now_ms();
				p->held += (size_t)n;
				/* the next SSL_read must have room for a whole record */
				if (CHUNK - p->held < SSL3_RT_MAX_PLAIN_LENGTH && deliver(p) < 0)
					return -1;
				if (rekey_ready(p)) {
					p->rd_want = TP_DONE;	/* more may be held: come back */
					return 0;
				}
				continue;
			}
			o = tp_tls_outcome(p->ssl, n);
			tp_trace(p->run, "SSL_read(%d) = %d%s", room, n, tp_io_outcome_name(o));
			p->rd_want = o;
			if (p->run->note.rekey_storm)
				return READ_FAILED_REKEYS;
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
				p->in_done = p->peer_notified = true;
				return 0;
			}
			if (o == TP_TRUNCATED && p->notified && p->st->bytes_in == p->in_at_notify) {
				/* nginx's way: our close_notify answered by a TCP close.
				 * Nothing came after ours, so nothing can be missing. */
				tp_trace(p->run, "%s closed TCP after our close_notify, nothing sent since",
				    p->run->peer);
				p->in_done = true;
				return 0;
			}
			return READ_FAILED_TLS;
		}
		if (fed == 0)
			return 0;
	}
}

/* Reads never block the loop: with -b the socket is blocking for SSL_write
 * only, since a blocking SSL_read stalls on a TLS 1.3 session ticket. */
int
tp_io_read(struct pump *p)
{
	int r;

	if (p->cfg->blocking)
		tp_net_set_blocking(p->fd, false);
	r = read_loop(p);
	if (p->cfg->blocking)
		tp_net_set_blocking(p->fd, true);
	if (r < 0) {
		p->held = 0;	/* told already (a signal, stdout, a refused version) */
		return -1;
	}
	if (deliver(p) < 0)
		return -1;
	if (r == READ_FAILED_WIRE)
		return tp_io_wire_failed(p);
	if (r == READ_FAILED_TLS)
		return tls_failed(p, p->rd_want, "reading from the connection");
	if (r == READ_FAILED_REKEYS && !p->signalled)
		return fail(p, TP_EXIT_IO, "%s %s more than %d times beyond one per KiB of payload: giving up",
		    p->run->peer, p->tls12 ? "renegotiated" : "updated its keys", TP_PEER_REKEYS);
	return r == 0 ? 0 : -1;
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

/* the next chunk of stdin, or its EOF */
int
tp_io_fill(struct pump *p)
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
tp_write_once(SSL *ssl, struct tp_out *o, size_t write_size, struct tp_stats *st)
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
	r = tp_tls_outcome(ssl, n);
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

static void
trace_write(struct pump *p, const void *ptr, bool retry, enum tp_outcome r, const char *note)
{
	if (!p->cfg->trace)
		return;
	if (r == TP_DONE)
		tp_trace(p->run, "SSL_write(%p, %zu) = %zu%s%s%s", ptr, p->o.last, p->o.done,
		    p->o.done < p->o.last ? " partial" : "", retry ? " (identical retry" : "", retry ? note : "");
	else
		tp_trace(p->run, "SSL_write(%p, %zu) = -1%s%s%s", ptr, p->o.last, tp_io_outcome_name(r),
		    retry ? " (identical retry" : "", retry ? note : "");
}

/* SSL_write while writes are allowed and the pending one's condition holds */
int
tp_io_write(struct pump *p)
{
	while (p->o.off < p->o.len && write_allowed(p) && write_ready(p)) {
		bool retry = p->o.call != 0;
		const void *ptr = p->o.in + p->o.off;
		size_t size = p->cfg->write_size, budget = rekey_budget(p);
		enum tp_outcome r;

		if (budget && (size == 0 || budget < size))
			size = budget;	/* the rekey goes between this write and the next */
		r = tp_write_once(p->ssl, &p->o, size, p->st);

		p->rd_want = TP_DONE;	/* a renegotiating write may have read records */
		trace_write(p, ptr, retry, r, ")");
		/* the pair empties after every call, or the next has no room; on
		 * the socket path records gather across calls (-P, -s) until the
		 * batch is full or the loop ends */
		if (tp_wire_pair(&p->w) && tp_wire_flush(&p->w) < 0)
			return tp_io_wire_failed(p);
		if (r == TP_DONE) {
			p->last_io = tp_now_ms();
			continue;
		}
		if (r != TP_WANT_READ && r != TP_WANT_WRITE)
			return write_failed(p, r, "writing to the connection");
		/* the flush above may have emptied the pair: then the retry is
		 * due now, and no socket event would announce it */
		p->ev.rd = p->ev.wr = false;
	}
	return tp_wire_flush(&p->w) < 0 ? tp_io_wire_failed(p) : 0;
}

/* OpenSSL 3.0 must never read while one of its writes is pending (see
 * doc/DESIGN.md): complete the pending write by its identical retry, its
 * ciphertext absorbed into the stash. */
int
tp_io_absorb(struct pump *p)
{
	while (p->o.want == TP_WANT_WRITE) {
		const void *ptr = p->o.in + p->o.off;
		enum tp_outcome r = TP_FAILED;
		int f = 0;

		p->w.absorb = true;
		if (tp_wire_pair(&p->w))
			f = tp_wire_flush(&p->w);
		if (f == 0) {
			r = tp_write_once(p->ssl, &p->o, p->cfg->write_size, p->st);
			f = tp_wire_flush(&p->w);
		}
		p->w.absorb = false;
		if (f < 0)
			return tp_io_wire_failed(p);
		trace_write(p, ptr, true, r, ", absorbed into the stash)");
		if (r == TP_DONE) {
			p->last_io = tp_now_ms();
			return 0;
		}
		if (r != TP_WANT_WRITE)
			return r == TP_WANT_READ ? 0 : write_failed(p, r, "writing to the connection");
		if (!tp_wire_pair(&p->w))
			return 0;	/* cannot happen: the socket BIO absorbs everything */
	}
	/* a close_notify that met a full socket, likewise: its alert waits in
	 * OpenSSL's buffer, and an SSL_read that must answer a KeyUpdate would
	 * fail with "bad write retry" behind it */
	while (p->sd_want == TP_WANT_WRITE) {
		int f = 0, r = 0;

		p->w.absorb = true;
		if (tp_wire_pair(&p->w))
			f = tp_wire_flush(&p->w);
		if (f == 0)
			r = tp_io_notify(p);
		p->w.absorb = false;
		if (f < 0)
			return tp_io_wire_failed(p);
		if (r < 0 || !tp_wire_pair(&p->w))
			return r;
	}
	return 0;
}

/* close_notify, once. A retry is only to flush an alert that did not fit:
 * a second SSL_shutdown after success would start reading and can destroy
 * the peer's data still in flight. While absorbing (a signal's goodbye) it
 * joins the stash behind the record in flight. */
int
tp_io_notify(struct pump *p)
{
	enum tp_outcome o;
	int r;

	p->sd_want = TP_DONE;
	ERR_clear_error();
	r = SSL_shutdown(p->ssl);
	if (tp_wire_flush(&p->w) < 0)
		return tp_io_wire_failed(p);
	if (r >= 0) {
		tp_trace(p->run, "SSL_shutdown() = %d: close_notify %s", r,
		    p->w.absorb ? "queued behind the data in flight" : "sent");
		p->notified = true;
		p->in_at_notify = p->st->bytes_in;
		return 0;
	}
	o = tp_tls_outcome(p->ssl, r);
	tp_trace(p->run, "SSL_shutdown() = %d%s", r, tp_io_outcome_name(o));
	if (o == TP_WANT_WRITE || o == TP_WANT_READ) {
		p->sd_want = o;
		return 0;
	}
	return write_failed(p, o, "sending close_notify");
}

/* ---- rekeying: TLS 1.3 key update, TLS 1.2 renegotiation ---- */

/* One rekey; `counted` when BYTES asked for it (a signal's is extra). */
static int
rekey(struct pump *p, const char *why, bool counted)
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
	if (counted)
		p->rekey_mark += rekey_every(p);	/* a refusal is not retried at once */
	if (ok != 1) {
		tp_warn("%s: OpenSSL refused to start a %s now", why, p->tls12 ? "renegotiation" : "key update");
		return 0;
	}
	p->st->rekeys++;
	p->rekey_ms = tp_now_ms();
	tp_trace(p->run, "%s: %s started", why, p->tls12 ? "renegotiation" : "key update");
	/* pushed out by the read side, even when this side only receives */
	return tp_io_read(p);
}

int
tp_io_rekey(struct pump *p)
{
	if (!rekey_ready(p))
		return 0;
	if (p->usr1) {
		p->usr1 = false;
		return rekey(p, "SIGUSR1", false);
	}
	return rekey(p, p->tls12 ? "--renegotiate-every" : "--key-update-every", true);
}
