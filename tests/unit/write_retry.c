/* Unit test of tlspipe's write path (tp_write_once) over a BIO pair between
 * two real OpenSSL endpoints: a write stopped by WANT_WRITE is retried with
 * identical arguments and then succeeds; partial mode returns one record;
 * --write-size bounds each call. Needs $TP_CERTS (tests/mkcerts.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../../src/tlspipe.h"

static int failures;

#define CHECK(cond, ...) do { \
	if (cond) { printf("ok - "); printf(__VA_ARGS__); printf("\n"); } \
	else { failures++; printf("not ok - "); printf(__VA_ARGS__); printf("  (%s:%d)\n", __FILE__, __LINE__); } \
} while (0)

struct link {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
};

static void
die(const char *what)
{
	fprintf(stderr, "write_retry: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* client and server joined by a BIO pair of `size` bytes each way */
static void
link_open(struct link *l, size_t size, long mode, int version)
{
	const char *dir = getenv("TP_CERTS");
	char cert[1024], key[1024];
	BIO *cb, *sb;

	if (dir == NULL)
		die("TP_CERTS is not set (run through make check)");
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	l->cctx = SSL_CTX_new(TLS_client_method());
	l->sctx = SSL_CTX_new(TLS_server_method());
	if (!l->cctx || !l->sctx)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(l->cctx, version);
	SSL_CTX_set_max_proto_version(l->cctx, version);
	if (SSL_CTX_use_certificate_chain_file(l->sctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(l->sctx, key, SSL_FILETYPE_PEM) != 1)
		die("cannot load the test certificate");
	SSL_CTX_set_mode(l->cctx, mode);
	l->c = SSL_new(l->cctx);
	l->s = SSL_new(l->sctx);
	if (BIO_new_bio_pair(&cb, size, &sb, size) != 1)
		die("BIO_new_bio_pair");
	SSL_set_bio(l->c, cb, cb);
	SSL_set_bio(l->s, sb, sb);
	SSL_set_connect_state(l->c);
	SSL_set_accept_state(l->s);
	for (int i = 0; i < 100; i++) {
		int a = SSL_do_handshake(l->c), b = SSL_do_handshake(l->s);

		if (a == 1 && b == 1)
			return;
	}
	die("handshake did not finish");
}

static void
link_close(struct link *l)
{
	SSL_free(l->c);
	SSL_free(l->s);
	SSL_CTX_free(l->cctx);
	SSL_CTX_free(l->sctx);
}

/* the server reads what fits; returns bytes appended to got */
static size_t
drain(struct link *l, unsigned char *got, size_t have, size_t cap)
{
	size_t n0 = have;
	int n;

	while (have < cap && (n = SSL_read(l->s, got + have, (int)(cap - have))) > 0)
		have += (size_t)n;
	return have - n0;
}

static void
test_retry_identical(int version, const char *name)
{
	enum { SIZE = 65536 };
	struct link l;
	struct tp_out o = { 0 };
	struct tp_stats st = { 0 };
	unsigned char *src = malloc(SIZE), *got = malloc(SIZE);
	size_t have = 0, call0;
	const unsigned char *ptr0;
	enum tp_outcome r;
	int rounds = 0, moved = 0;

	for (size_t i = 0; i < SIZE; i++)
		src[i] = (unsigned char)(i * 131 + 7);
	link_open(&l, 4096, 0, version);	/* no partial writes, no moving buffer */
	o.in = src;
	o.len = SIZE;

	r = tp_write_once(l.c, &o, 0, &st);
	CHECK(r == TP_WANT_WRITE, "%s: a 64 KiB write into a 4 KiB pair stops with WANT_WRITE", name);
	CHECK(o.call == SIZE && o.off == 0, "%s: the stopped write keeps its length (%zu) and offset (%zu)",
	    name, o.call, o.off);
	ptr0 = o.in + o.off;
	call0 = o.call;
	while (r == TP_WANT_WRITE && rounds++ < 1000) {
		have += drain(&l, got, have, SIZE);
		/* without SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER OpenSSL itself
		 * rejects a retry whose pointer or length moved ("bad write retry") */
		if (o.in + o.off != ptr0 || o.call != call0)
			moved++;
		r = tp_write_once(l.c, &o, 0, &st);
	}
	CHECK(moved == 0, "%s: every retry used the same pointer and length", name);
	CHECK(r == TP_DONE, "%s: the identical retry succeeds after %d rounds (%s)", name, rounds,
	    r == TP_FAILED ? "failed" : "ok");
	CHECK(st.bytes_out == SIZE && st.partial_writes == 0, "%s: the whole 64 KiB in one completed call", name);
	CHECK(st.want_write == (uint64_t)rounds, "%s: every stop was counted as want_write (%llu)", name,
	    (unsigned long long)st.want_write);
	have += drain(&l, got, have, SIZE);
	CHECK(have == SIZE && memcmp(got, src, SIZE) == 0, "%s: the peer received the exact bytes", name);
	link_close(&l);
	free(src);
	free(got);
}

/* the control: a retry with moved arguments is what OpenSSL refuses, so
 * the test above would notice if tp_write_once ever moved them */
static void
test_moved_retry_fails(void)
{
	enum { SIZE = 65536 };
	struct link l;
	unsigned char *a = calloc(1, SIZE), *b = calloc(1, SIZE);
	int n;

	link_open(&l, 4096, 0, TLS1_3_VERSION);
	n = SSL_write(l.c, a, SIZE);
	CHECK(n < 0 && SSL_get_error(l.c, n) == SSL_ERROR_WANT_WRITE, "control: the first write stops");
	drain(&l, (unsigned char[4096]){ 0 }, 0, 4096);
	ERR_clear_error();
	n = SSL_write(l.c, b, SIZE);
	CHECK(n < 0 && SSL_get_error(l.c, n) == SSL_ERROR_SSL,
	    "control: a retry from another address fails with bad write retry");
	ERR_clear_error();
	link_close(&l);
	free(a);
	free(b);
}

static void
test_partial_one_record(void)
{
	enum { SIZE = 65536 };
	struct link l;
	struct tp_out o = { 0 };
	struct tp_stats st = { 0 };
	unsigned char *src = calloc(1, SIZE);
	enum tp_outcome r;

	link_open(&l, 256 * 1024, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
	    TLS1_3_VERSION);
	o.in = src;
	o.len = SIZE;
	r = tp_write_once(l.c, &o, 0, &st);
	CHECK(r == TP_DONE && o.off == 16384, "partial mode: SSL_write(65536) returns one record (%zu)", o.off);
	CHECK(st.partial_writes == 1, "partial mode: the short return is counted as a partial write");
	while (o.len && (r = tp_write_once(l.c, &o, 0, &st)) == TP_DONE)
		;
	CHECK(o.len == 0 && st.ssl_write_calls == 4, "partial mode: 64 KiB take four calls (%llu)",
	    (unsigned long long)st.ssl_write_calls);
	link_close(&l);
	free(src);
}

static void
test_write_size(void)
{
	enum { SIZE = 10000 };
	struct link l;
	struct tp_out o = { 0 };
	struct tp_stats st = { 0 };
	unsigned char *src = calloc(1, SIZE);

	link_open(&l, 256 * 1024, 0, TLS1_2_VERSION);
	o.in = src;
	o.len = SIZE;
	while (o.len && tp_write_once(l.c, &o, 1000, &st) == TP_DONE)
		;
	CHECK(st.ssl_write_calls == 10 && st.bytes_out == SIZE,
	    "--write-size 1000: 10000 bytes in ten calls of 1000 (%llu calls)",
	    (unsigned long long)st.ssl_write_calls);
	link_close(&l);
	free(src);
}

int
main(void)
{
	test_retry_identical(TLS1_3_VERSION, "TLS 1.3");
	test_retry_identical(TLS1_2_VERSION, "TLS 1.2");
	test_moved_retry_fails();
	test_partial_one_record();
	test_write_size();
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures != 0;
}
