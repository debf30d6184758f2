/* Ciphertext between OpenSSL and the socket: the stash (bytes the pump
 * owns and sends before anything else), the socket write BIO that feeds
 * it, and the BIO pair's network half, moved without copies. */
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pump.h"

/* ---- the stash ---- */

int
tp_stash_put(struct pump *p, const void *b, size_t n)
{
	struct stash *st = &p->stash;

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

bool
tp_stash_empty(const struct pump *p)
{
	return p->stash.off == p->stash.len;
}

/* Send the stash until the socket is full; never blocks, even with -b. */
int
tp_stash_flush(struct pump *p)
{
	struct stash *st = &p->stash;

	while (st->off < st->len) {
		ssize_t w = send(p->fd, st->buf + st->off, st->len - st->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return fail(p, p->handshaken ? TP_EXIT_IO : TP_EXIT_HANDSHAKE, "connection to %s failed: %s",
			    p->run->peer, strerror(errno));
		}
		st->off += (size_t)w;
	}
	st->off = st->len = 0;
	return 0;
}

/* --io=socket: OpenSSL writes to the socket through this BIO. It is the
 * socket BIO's behaviour (EAGAIN is a retry, so WANT_WRITE shows), except
 * that while the stash holds anything, or while absorbing, bytes join the
 * stash: the order on the wire is the order OpenSSL wrote. */
static int
sock_write(BIO *b, const char *in, int inl)
{
	struct pump *p = BIO_get_data(b);
	ssize_t w = 0;

	BIO_clear_retry_flags(b);
	if (tp_stash_empty(p)) {
		/* with -b the socket blocks, for SSL_write's own writes only:
		 * absorbing must never wait on the peer it is making room for */
		w = send(p->fd, in, (size_t)inl, p->absorb ? MSG_DONTWAIT | MSG_NOSIGNAL : MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;	/* errno tells SSL_ERROR_SYSCALL's story */
		if (w < 0)
			w = 0;
		if (w == inl || !p->absorb) {
			if (w > 0)
				return (int)w;
			BIO_set_retry_write(b);
			return -1;
		}
	}
	if (tp_stash_put(p, in + w, (size_t)(inl - w)) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return inl;
}

static long
sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b; (void)num; (void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;	/* the pump flushes the stash itself */
}

BIO *
tp_sock_wbio(struct pump *p)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tlspipe socket");
	BIO *b;

	if (m == NULL || !BIO_meth_set_write(m, sock_write) || !BIO_meth_set_ctrl(m, sock_ctrl) ||
	    (b = BIO_new(m)) == NULL) {
		BIO_meth_free(m);
		return NULL;
	}
	BIO_set_data(b, p);
	BIO_set_init(b, 1);
	p->wmeth = m;
	return b;
}

/* ---- the BIO pair's network half <-> the socket, without copies ---- */

/* Move what SSL wrote into the pair out to the socket (after the stash),
 * until EAGAIN; when absorbing, what the socket refuses joins the stash so
 * that the pair is empty. */
int
tp_pair_flush(struct pump *p)
{
	char *ptr;
	int n;

	if (tp_stash_flush(p) < 0)
		return -1;
	if (p->net == NULL)
		return 0;
	while ((n = BIO_nread0(p->net, &ptr)) > 0) {
		ssize_t w = 0;

		if (tp_stash_empty(p)) {
			w = write(p->fd, ptr, (size_t)n);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				return fail(p, conn_code(p), "connection to %s failed: %s", p->run->peer,
				    strerror(errno));
			if (w < 0)
				w = 0;
		}
		if (w < n && p->absorb) {
			if (tp_stash_put(p, ptr + w, (size_t)(n - w)) < 0)
				return fail(p, TP_EXIT_IO, "out of memory");
			w = n;
		}
		if (w == 0)
			return 0;
		BIO_nread(p->net, &ptr, (int)w);
	}
	return 0;
}

bool
tp_pair_unflushed(const struct pump *p)
{
	return p->net && BIO_ctrl_pending(p->net) > 0;
}

/* Fill the pair from the socket while it has room. Returns bytes fed. */
ssize_t
tp_pair_feed(struct pump *p)
{
	ssize_t total = 0;
	char *ptr;
	int room;

	if (p->sock_err) {
		errno = p->sock_err;
		return fail(p, conn_code(p), "connection to %s failed: %s", p->run->peer, strerror(errno));
	}
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
		if (total > 0) {
			/* a reset right behind data: SSL_read gets the data first */
			p->sock_err = errno;
			break;
		}
		return fail(p, conn_code(p), "connection to %s failed: %s", p->run->peer, strerror(errno));
	}
	return total;
}
