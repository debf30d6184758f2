/* Ciphertext between OpenSSL and the socket: the stash (bytes we own and
 * send before anything else), the socket write BIO that feeds it, and the
 * BIO pair's network half, moved without copies. */
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

#define PAIR_SIZE (128 * 1024)	/* each half of the BIO pair */

/* The first failure is the one to tell: after a reset, the next send says
 * EPIPE, and the ECONNRESET before it would be lost. */
static int
failed(struct tp_wire *w, int err)
{
	if (w->err == 0)
		w->err = err;
	return -1;
}

/* ---- the stash ---- */

static int
stash_put(struct tp_stash *st, const void *b, size_t n)
{
	if (st->off > 0 && st->off == st->len)
		st->off = st->len = 0;
	if (st->len + n > st->cap) {
		size_t cap = st->cap ? st->cap : 64 * 1024;
		unsigned char *nb;

		if (st->off > 0) {
			memmove(st->buf, st->buf + st->off, st->len - st->off);
			st->len -= st->off;
			st->off = 0;
		}
		while (cap < st->len + n)
			cap *= 2;
		if (cap != st->cap) {
			if ((nb = realloc(st->buf, cap)) == NULL)
				return -1;
			st->buf = nb;
			st->cap = cap;
		}
	}
	memcpy(st->buf + st->len, b, n);
	st->len += n;
	return 0;
}

/* Send the stash until the socket is full, or with `wait` (-b's blocking
 * socket) until the socket has taken it all or its send timeout ran out. */
static int
stash_send(struct tp_wire *w, bool wait)
{
	struct tp_stash *st = &w->stash;

	while (st->off < st->len) {
		ssize_t n = send(w->fd, st->buf + st->off, st->len - st->off,
		    wait ? MSG_NOSIGNAL : MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return failed(w, errno);
		}
		st->off += (size_t)n;
	}
	st->off = st->len = 0;
	return 0;
}

/* the stash's way out between calls: never blocks, even with -b */
static int
stash_flush(struct tp_wire *w)
{
	return stash_send(w, false);
}

/* ---- the socket path: OpenSSL writes through this BIO ---- */

/* What SSL_write encrypts gathers in the stash and leaves in one send of up
 * to TP_WIRE_GATHER bytes (the pump flushes it when its writes stop, so it
 * is never held over a wait): a
 * send per 16 KiB record costs the kernel a loopback packet and a wakeup
 * each. The socket BIO's contract holds: when the stash is full and the
 * socket takes nothing, the write is a retry (WANT_WRITE shows), and with -b
 * the send blocks. While absorbing (OpenSSL's writes inside SSL_read, or a
 * pending write finished at a signal), a record goes out at once if it can
 * and otherwise joins the stash, whatever its size: an answer to the peer
 * never waits on the socket. */
static int
sock_write(BIO *b, const char *in, int inl)
{
	struct tp_wire *w = BIO_get_data(b);
	size_t len = (size_t)inl;
	ssize_t n = 0;

	BIO_clear_retry_flags(b);
	if (w->absorb && tp_wire_stashed(w) == 0) {
		n = send(w->fd, in, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;	/* errno tells SSL_ERROR_SYSCALL's story */
		if (n == inl)
			return inl;
		if (n < 0)
			n = 0;
	} else if (!w->absorb && tp_wire_stashed(w) + len > TP_WIRE_GATHER) {
		if (stash_send(w, true) < 0)
			return -1;
		if (tp_wire_stashed(w) + len > TP_WIRE_GATHER) {
			BIO_set_retry_write(b);
			return -1;
		}
	}
	if (stash_put(&w->stash, in + n, len - (size_t)n) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return inl;
}

/* OpenSSL flushes after a handshake message (a flight, a KeyUpdate): what
 * gathered goes out now, as far as the socket takes it (all of it with -b).
 * The rest the pump sends before it waits. Never a retry: during a handshake
 * OpenSSL's buffering BIO sits on top of ours and drops the retry flag of a
 * flush, so SSL_write would fail with EAGAIN (measured: a KeyUpdate answer
 * sent from SSL_write while the socket was full). */
static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tp_wire *w = BIO_get_data(b);

	(void)num; (void)ptr;
	if (cmd != BIO_CTRL_FLUSH)
		return 0;
	return stash_send(w, !w->absorb) < 0 ? 0 : 1;	/* errno tells a failure's story */
}

static BIO *
sock_wbio(struct tp_wire *w)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlspipe socket");
	BIO *b;

	if (m == NULL || !BIO_meth_set_write(m, sock_write) || !BIO_meth_set_ctrl(m, sock_ctrl) ||
	    (b = BIO_new(m)) == NULL) {
		BIO_meth_free(m);
		return NULL;
	}
	BIO_set_data(b, w);
	BIO_set_init(b, 1);
	w->wmeth = m;
	return b;
}

/* OpenSSL's I/O: a BIO pair we move by hand, or the socket (read by a
 * plain socket BIO, written through ours). */
int
tp_wire_attach(struct tp_wire *w, SSL *ssl, int fd, bool pair)
{
	BIO *rb, *wb;

	w->fd = fd;
	if (pair) {
		if (BIO_new_bio_pair(&w->inner, PAIR_SIZE, &w->net, PAIR_SIZE) != 1)
			return failed(w, ENOMEM);
		SSL_set_bio(ssl, w->inner, w->inner);
		return 0;
	}
	rb = BIO_new_socket(fd, BIO_NOCLOSE);
	wb = rb ? sock_wbio(w) : NULL;
	if (wb == NULL) {
		BIO_free(rb);
		return failed(w, ENOMEM);
	}
	SSL_set_bio(ssl, rb, wb);
	return 0;
}

void
tp_wire_detach(struct tp_wire *w, SSL *ssl)
{
	SSL_set_bio(ssl, NULL, NULL);	/* our BIO method must outlive its BIOs */
	BIO_meth_free(w->wmeth);
	BIO_free(w->net);
	free(w->stash.buf);
	*w = (struct tp_wire){ .fd = -1 };
}

/* ---- the BIO pair's network half <-> the socket, without copies ---- */

/* The stash, then what SSL wrote into the pair, out to the socket until
 * EAGAIN; when absorbing, what the socket refuses joins the stash so that
 * the pair is empty. */
int
tp_wire_flush(struct tp_wire *w)
{
	char *ptr;
	int n;

	if (stash_flush(w) < 0)
		return -1;
	if (w->net == NULL)
		return 0;
	while ((n = BIO_nread0(w->net, &ptr)) > 0) {
		ssize_t sent = 0;

		if (tp_wire_stashed(w) == 0) {
			sent = write(w->fd, ptr, (size_t)n);
			if (sent < 0 && errno != EAGAIN && errno != EINTR)
				return failed(w, errno);
			if (sent < 0)
				sent = 0;
		}
		if (sent < n && w->absorb) {
			if (stash_put(&w->stash, ptr + sent, (size_t)(n - sent)) < 0)
				return failed(w, ENOMEM);
			sent = n;
		}
		if (sent == 0)
			return 0;
		BIO_nread(w->net, &ptr, (int)sent);
	}
	return 0;
}

/* Fill the pair from the socket while it has room. Returns bytes fed. */
ssize_t
tp_wire_feed(struct tp_wire *w)
{
	ssize_t total = 0;
	char *ptr;
	int room;

	if (w->sock_err)
		return failed(w, w->sock_err);
	while (!w->sock_eof && (room = BIO_nwrite0(w->net, &ptr)) > 0) {
		ssize_t r = read(w->fd, ptr, (size_t)room);

		if (r > 0) {
			BIO_nwrite(w->net, &ptr, (int)r);
			total += r;
			continue;
		}
		if (r == 0) {
			w->sock_eof = true;
			BIO_shutdown_wr(w->net);	/* or SSL never sees the EOF */
			break;
		}
		if (errno == EAGAIN || errno == EINTR)
			break;
		if (total > 0) {
			/* a reset right behind data: SSL_read gets the data first */
			w->sock_err = errno;
			break;
		}
		return failed(w, errno);
	}
	return total;
}
