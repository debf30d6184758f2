/* Ciphertext between OpenSSL and the socket (wire.c). It knows the socket,
 * the BIOs and the stash, and nothing of the pump: a failure is -1 with its
 * errno in `err` (ENOMEM for memory), for the pump to turn into words. */
#ifndef TP_WIRE_H
#define TP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

/* the socket path sends SSL_write's records in batches of up to this */
#define TP_WIRE_GATHER (128 * 1024)

/* Ciphertext that must reach the socket before anything else. */
struct tp_stash {
	unsigned char *buf;
	size_t off, len, cap;
};

struct tp_wire {
	int fd;
	BIO *net, *inner;	/* --io=bio-pair: our half, OpenSSL's half (NULL on the socket path) */
	BIO_METHOD *wmeth;	/* the socket path's write BIO */
	struct tp_stash stash;
	bool absorb;		/* OpenSSL's writes go to the stash, whatever the socket says */
	bool sock_eof;		/* the socket read EOF (bio-pair path) */
	int sock_err;		/* a read error held back until the data before it is read */
	int err;		/* errno of the first failure */
};

int tp_wire_attach(struct tp_wire *, SSL *, int fd, bool pair);
void tp_wire_detach(struct tp_wire *, SSL *);
int tp_wire_flush(struct tp_wire *);
ssize_t tp_wire_feed(struct tp_wire *);

static inline bool
tp_wire_pair(const struct tp_wire *w)
{
	return w->net != NULL;
}

static inline size_t
tp_wire_stashed(const struct tp_wire *w)
{
	return w->stash.len - w->stash.off;
}

/* A new write may start: on the socket path the stash holds no more than
 * one batch of gathered records (what it gathers past that would be the
 * write's WANT_WRITE); on the pair's, it is empty. Absorbed ciphertext
 * beyond that goes out first, so the stash holds one write at most. */
static inline bool
tp_wire_settled(const struct tp_wire *w)
{
	return tp_wire_stashed(w) <= (w->net ? 0 : TP_WIRE_GATHER);
}

/* the pair holds ciphertext OpenSSL wrote, not yet on the socket */
static inline bool
tp_wire_unflushed(const struct tp_wire *w)
{
	return w->net && BIO_ctrl_pending(w->net) > 0;
}

/* the pair holds socket bytes OpenSSL has not read */
static inline bool
tp_wire_unread(const struct tp_wire *w)
{
	return w->net && BIO_ctrl_pending(w->inner) > 0;
}

/* OpenSSL may write into the pair again (a pending write's signal) */
static inline bool
tp_wire_ssl_room(const struct tp_wire *w)
{
	return BIO_ctrl_get_write_guarantee(w->inner) > 0;
}

/* socket bytes have somewhere to go */
static inline bool
tp_wire_feed_room(const struct tp_wire *w)
{
	return w->net == NULL || BIO_ctrl_get_write_guarantee(w->net) > 0;
}

#endif
