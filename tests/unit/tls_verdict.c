/* Unit test of the error model (src/tlserr.c): real OpenSSL endpoints, made
 * by tlspipe's own tp_tls_context and tp_tls_session and joined by a BIO
 * pair, fail in known ways; the record tp_tls_outcome keeps on the note
 * must lead tp_tls_verdict to the documented exit status and words, by
 * reason code. Then the verdicts that need no handshake (truncation, a
 * reset, a certificate alert after the handshake). Needs $TP_CERTS. */
#include <errno.h>
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

struct side {
	struct tp_config cfg;
	struct tp_run run;
	SSL_CTX *ctx;
	SSL *ssl;
	enum tp_outcome o;
	int code;
	char msg[1024];
};

static char certs[4][1024];

static void
side_init(struct side *s, bool listen)
{
	memset(s, 0, sizeof(*s));
	s->cfg.listen = listen;
	s->cfg.host = "localhost";
	s->cfg.port = "443";
	s->cfg.cafile = listen ? NULL : certs[0];
	s->cfg.cert = listen ? certs[1] : NULL;
	s->cfg.key = listen ? certs[2] : NULL;
	s->cfg.auto_retry = true;
	s->run.cfg = &s->cfg;
	s->run.stats_fd = s->run.keylog_fd = -1;
	s->run.st.handshake_us = -1;
	snprintf(s->run.peer, sizeof(s->run.peer), "%s", listen ? "client" : "server");
}

static void
side_open(struct side *s)
{
	s->ctx = tp_tls_context(&s->run);
	s->ssl = s->ctx ? tp_tls_session(s->ctx, &s->run) : NULL;
	if (s->ssl == NULL) {
		fprintf(stderr, "tls_verdict: cannot set up: %s\n", s->run.reason);
		exit(1);
	}
}

static void
side_close(struct side *s)
{
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
}

/* the verdict on a failed handshake step, as the pump would ask for it */
static void
judge(struct side *s, int ret)
{
	struct tp_phase ph = { .what = "reading from the connection" };

	s->o = tp_tls_outcome(s->ssl, ret);
	s->code = tp_tls_verdict(&s->run, s->o, &ph, s->msg, sizeof(s->msg));
}

/* client and server over a BIO pair until both are done or both failed */
static void
handshake(struct side *c, struct side *s)
{
	BIO *cb, *sb;
	int a = 0, b = 0;

	BIO_new_bio_pair(&cb, 16384, &sb, 16384);
	SSL_set_bio(c->ssl, cb, cb);
	SSL_set_bio(s->ssl, sb, sb);
	for (int i = 0; i < 50 && (a != 1 || b != 1); i++) {
		if (a != 1 && c->o != TP_FAILED && (a = SSL_do_handshake(c->ssl)) != 1)
			c->o = tp_tls_outcome(c->ssl, a);
		if (b != 1 && s->o != TP_FAILED && (b = SSL_do_handshake(s->ssl)) != 1)
			s->o = tp_tls_outcome(s->ssl, b);
		if (c->o == TP_FAILED && s->o == TP_FAILED)
			break;
	}
	if (c->o == TP_FAILED || s->o == TP_FAILED) {
		struct tp_phase ph = { .what = "reading from the connection" };

		c->code = tp_tls_verdict(&c->run, c->o, &ph, c->msg, sizeof(c->msg));
		s->code = tp_tls_verdict(&s->run, s->o, &ph, s->msg, sizeof(s->msg));
	}
}

static void
test_not_tls(void)
{
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	struct side c;
	BIO *cb, *net;
	int r;

	side_init(&c, false);
	side_open(&c);
	BIO_new_bio_pair(&cb, 16384, &net, 16384);
	SSL_set_bio(c.ssl, cb, cb);
	r = SSL_do_handshake(c.ssl);	/* the ClientHello goes out */
	BIO_write(net, http, (int)strlen(http));
	if (r != 1)
		r = SSL_do_handshake(c.ssl);
	judge(&c, r);
	CHECK(c.o == TP_FAILED && c.code == TP_EXIT_HANDSHAKE, "an HTTP reply to our ClientHello is exit 4 (got %d)",
	    c.code);
	CHECK(ERR_GET_REASON(c.run.note.code) == SSL_R_WRONG_VERSION_NUMBER,
	    "the note keeps the reason code (wrong version number), not a string");
	CHECK(strstr(c.msg, "handshake with server failed: the peer does not speak TLS (wrong version number)") != NULL,
	    "and the words say the peer does not speak TLS: %s", c.msg);
	BIO_free(net);
	side_close(&c);
}

static void
test_no_common_version(void)
{
	struct side c, s;

	side_init(&c, false);
	side_init(&s, true);
	c.cfg.max_tls = TLS1_2_VERSION;
	s.cfg.min_tls = TLS1_3_VERSION;
	side_open(&c);
	side_open(&s);
	handshake(&c, &s);
	CHECK(s.code == TP_EXIT_HANDSHAKE && strstr(s.msg, "no TLS version in common (unsupported protocol)"),
	    "a server that only speaks 1.3, met by a 1.2 client: exit 4, no version in common: %s", s.msg);
	CHECK(c.code == TP_EXIT_HANDSHAKE && strstr(c.msg, "the peer sent alert protocol version"),
	    "and the client names the server's alert: %s", c.msg);
	side_close(&c);
	side_close(&s);
}

static void
test_name_mismatch(void)
{
	struct side c, s;

	side_init(&c, false);
	side_init(&s, true);
	c.cfg.host = "wrong.example";
	side_open(&c);
	side_open(&s);
	handshake(&c, &s);
	CHECK(c.code == TP_EXIT_HANDSHAKE && strstr(c.msg, "certificate verify failed: hostname mismatch: expected "
	    "wrong.example, the certificate is for localhost, 127.0.0.1, ::1"),
	    "a name the certificate lacks: exit 4, with both names: %s", c.msg);
	CHECK(s.code == TP_EXIT_HANDSHAKE && strstr(s.msg, "the peer sent alert"),
	    "and the server names the client's alert: %s", s.msg);
	side_close(&c);
	side_close(&s);
}

static void
test_pure_verdicts(void)
{
	struct side c;
	struct tp_phase ph = { .what = "reading from the connection", .handshaken = true, .bytes_in = 300 };
	char msg[1024];
	int code;

	side_init(&c, false);
	c.run.note.alert_recv = -1;
	code = tp_tls_verdict(&c.run, TP_TRUNCATED, &ph, msg, sizeof(msg));
	CHECK(code == TP_EXIT_TRUNC && strstr(msg, "closed it without close_notify after 300 bytes"),
	    "a TCP close without close_notify is exit 5 with the count: %s", msg);
	ph.notify_sent = true;
	ph.in_at_notify = 100;
	code = tp_tls_verdict(&c.run, TP_TRUNCATED, &ph, msg, sizeof(msg));
	CHECK(code == TP_EXIT_TRUNC && strstr(msg, "sent 200 bytes after our close_notify"),
	    "payload after our close_notify, then a TCP close: exit 5, both counts: %s", msg);
	ph.handshaken = false;
	code = tp_tls_verdict(&c.run, TP_TRUNCATED, &ph, msg, sizeof(msg));
	CHECK(code == TP_EXIT_HANDSHAKE, "a close during the handshake is exit 4: %s", msg);

	ph.handshaken = true;
	c.run.note.ssl_error = SSL_ERROR_SYSCALL;
	c.run.note.code = 0;
	c.run.note.sys_errno = ECONNRESET;
	code = tp_tls_verdict(&c.run, TP_FAILED, &ph, msg, sizeof(msg));
	CHECK(code == TP_EXIT_IO && strcmp(msg, "reading from the connection failed: Connection reset by peer") == 0,
	    "a reset after the handshake is exit 1, in the system's words: %s", msg);
	c.run.note.alert_recv = SSL_AD_CERTIFICATE_REQUIRED;
	code = tp_tls_verdict(&c.run, TP_FAILED, &ph, msg, sizeof(msg));
	CHECK(code == TP_EXIT_HANDSHAKE && strstr(msg, "server rejected the certificate: the peer sent alert "
	    "certificate required"), "a certificate alert after the handshake is exit 4: %s", msg);
}

int
main(void)
{
	const char *dir = getenv("TP_CERTS");

	if (dir == NULL) {
		fprintf(stderr, "tls_verdict: TP_CERTS is not set (run through make check)\n");
		return 1;
	}
	snprintf(certs[0], sizeof(certs[0]), "%s/ca.pem", dir);
	snprintf(certs[1], sizeof(certs[1]), "%s/server.pem", dir);
	snprintf(certs[2], sizeof(certs[2]), "%s/server.key", dir);
	test_not_tls();
	test_no_common_version();
	test_name_mismatch();
	test_pure_verdicts();
	printf("%s\n", failures ? "FAILED" : "all passed");
	return failures != 0;
}
