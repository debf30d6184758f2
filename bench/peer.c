/*
 * peer.c - the neutral TLS server of tlspipe's benchmark (bench/run.sh).
 *
 *   bench/peer MODE [--size BYTES] [--log FILE] --cert FILE --key FILE
 *
 * It is never tlspipe itself, so the other end of every measured transfer
 * stays the same when tlspipe changes, and every client (tlspipe, socat,
 * s_client, stunnel, ncat) talks to the very same code. Plain OpenSSL,
 * blocking sockets, SSL_read/SSL_write with 256 KiB buffers, TLS 1.3 only
 * with TLS_AES_256_GCM_SHA384 and no session tickets (each connection is a
 * full handshake, and no ticket bytes follow it).
 *
 * It listens on 127.0.0.1 on a free port, prints "listening on PORT" on
 * stdout, and serves connections one after another until killed:
 *   sink    read until close_notify or EOF, discard, answer close_notify
 *   source  write --size bytes, then close_notify
 *   echo    write back what it reads, until close_notify or EOF; with
 *           --size, also stop (close_notify) once --size bytes went back,
 *           so a client that cannot half-close TLS (s_client) can take part
 *   hello   the handshake, then as sink: for connections per second
 * With --log, each connection appends one line: the bytes received, or
 * "failed: REASON", so the bench can check that every transfer was exact.
 *
 * ISC licence, as the rest of tlspipe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUF_LEN   (256u << 10) /* bytes per SSL_read / SSL_write call */
#define IO_SECS   30           /* a stuck client must not wedge the peer for good */
#define CLOSE_SECS 3           /* how long to wait for the client's close_notify */

enum mode { SINK, SOURCE, ECHO, HELLO };

static unsigned char buf[BUF_LEN];

static void usage(void)
{
	fputs("usage: peer sink|source|echo|hello [--size BYTES] [--log FILE]"
	      " --cert FILE --key FILE\n", stderr);
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "peer: %s: ", what);
	ERR_print_errors_fp(stderr);
	fputc('\n', stderr);
	exit(1);
}

static void set_timeout(int fd, int secs)
{
	struct timeval tv = { .tv_sec = secs };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/*
 * Read what is there, up to BUF_LEN: one blocking SSL_read, then more while
 * OpenSSL already holds bytes (read-ahead), so that echo writes back large
 * buffers instead of one 16 KiB record at a time. Returns the bytes read;
 * 0 at the end: *closed is 1 after close_notify, 0 after EOF or an error.
 */
static size_t read_some(SSL *ssl, int *closed)
{
	size_t have = 0, n;

	*closed = 0;
	do {
		if (!SSL_read_ex(ssl, buf + have, BUF_LEN - have, &n)) {
			*closed = SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
			break;
		}
		have += n;
	} while (have < BUF_LEN && SSL_has_pending(ssl));
	return have;
}

static int write_all(SSL *ssl, const unsigned char *p, size_t len)
{
	size_t n;

	while (len > 0) {
		if (!SSL_write_ex(ssl, p, len, &n))
			return 0;
		p += n;
		len -= n;
	}
	return 1;
}

/* We close first: send close_notify, then a bounded wait for the client's. */
static void close_first(SSL *ssl, int fd)
{
	if (SSL_shutdown(ssl) == 0) {
		set_timeout(fd, CLOSE_SECS);
		(void)SSL_shutdown(ssl);
	}
}

/* One connection; returns the bytes received, or -1 with *why set. */
static long long serve(SSL *ssl, int fd, enum mode mode, unsigned long long size,
		       const char **why)
{
	unsigned long long rx = 0, tx = 0;
	size_t n;
	int closed = 0;

	if (SSL_accept(ssl) != 1) {
		*why = "handshake";
		return -1;
	}
	switch (mode) {
	case SOURCE:
		/* any content will do: the bench counts bytes, AES does not care */
		memset(buf, 'x', BUF_LEN);
		while (tx < size) {
			n = size - tx < BUF_LEN ? (size_t)(size - tx) : BUF_LEN;
			if (!write_all(ssl, buf, n)) {
				*why = "write";
				return -1;
			}
			tx += n;
		}
		close_first(ssl, fd);
		return 0;
	case ECHO:
		while ((n = read_some(ssl, &closed)) > 0) {
			rx += n;
			if (!write_all(ssl, buf, n)) {
				*why = "write";
				return -1;
			}
			if (size > 0 && rx >= size) {
				close_first(ssl, fd);
				return (long long)rx;
			}
		}
		break;
	case SINK:
	case HELLO:
		while ((n = read_some(ssl, &closed)) > 0)
			rx += n;
		break;
	}
	/* answer the client's close_notify; after a bare EOF there is no one to answer */
	if (closed)
		(void)SSL_shutdown(ssl);
	return (long long)rx;
}

int main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *log = NULL;
	unsigned long long size = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof sa;
	enum mode mode;
	SSL_CTX *ctx;
	int lfd, one = 1;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "sink"))
		mode = SINK;
	else if (!strcmp(argv[1], "source"))
		mode = SOURCE;
	else if (!strcmp(argv[1], "echo"))
		mode = ECHO;
	else if (!strcmp(argv[1], "hello"))
		mode = HELLO;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--size"))
			size = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--cert"))
			cert = argv[++i];
		else if (!strcmp(argv[i], "--key"))
			key = argv[++i];
		else if (!strcmp(argv[i], "--log"))
			log = argv[++i];
		else
			usage();
	}
	if (!cert || !key || (mode == SOURCE && size == 0))
		usage();
	/* a client that leaves mid-write must cost one connection, not the peer */
	signal(SIGPIPE, SIG_IGN);

	if (!(ctx = SSL_CTX_new(TLS_server_method())) ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384") ||
	    !SSL_CTX_set_num_tickets(ctx, 0) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		die("TLS setup");
	/* read-ahead: fewer, larger socket reads, and read_some() sees more */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, BUF_LEN);
	/* SSL_write returns only when all is written: write_all() stays simple */
	SSL_CTX_clear_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("peer: listen");
		return 1;
	}
	printf("listening on %u\n", ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		const char *why = NULL;
		long long rx;
		SSL *ssl;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("peer: accept");
			return 1;
		}
		set_timeout(fd, IO_SECS);
		if (!(ssl = SSL_new(ctx)) || !SSL_set_fd(ssl, fd))
			die("SSL_new");
		rx = serve(ssl, fd, mode, size, &why);
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
		if (log) {
			FILE *f = fopen(log, "a");

			if (!f) {
				perror(log);
				return 1;
			}
			if (rx < 0)
				fprintf(f, "failed: %s\n", why);
			else
				fprintf(f, "%lld\n", rx);
			fclose(f);
		}
	}
}
