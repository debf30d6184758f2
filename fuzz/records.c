/* libFuzzer target: the pump (tp_pump, the whole of src/ but main) against
 * a peer that the input drives. Each run: a TCP connection on loopback, a
 * real OpenSSL server (an ephemeral identity; tlspipe checks its pin) in a
 * thread, tlspipe's client in this one. The input's first byte picks the
 * version and the write mode, its second --on-eof and how much stdin holds
 * (TP_FUZZ_TRACE=1 when replaying one shows tlspipe's --trace); the rest is
 * the peer's script, two bytes (operation, length) and data per step:
 * application data, raw bytes into the stream (forged or broken records),
 * a key update, a renegotiation, a read, close_notify, a TCP half-close.
 * tlspipe must not crash, must say why whenever it fails, and must not
 * call an end clean (exit 0) without every byte the peer sent. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../src/tlspipe.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Made once, for every run: libFuzzer calls the target in one process, and
 * a new key and listening socket per run would be most of its time. */
static SSL_CTX *server_ctx;
static char server_pin[96];
static int listener = -1;
static struct sockaddr_in listen_addr;

enum { OP_DATA, OP_RAW, OP_KEY_UPDATE, OP_RENEGOTIATE, OP_READ, OP_NOTIFY, OP_HALF_CLOSE, OP_COUNT };

struct peer {
	int fd;
	bool tls12;
	const uint8_t *script;
	size_t len;
	uint64_t sent;		/* application bytes SSL_write took */
	bool broke;		/* raw bytes went in, or the stream was cut: no clean end is promised */
	bool accepted;		/* the first handshake completed on the peer's side */
	long closed_ms;		/* when the peer closed the connection */
};

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "fuzz records: %s\n", what);
	ERR_print_errors_fp(stderr);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	socklen_t alen = sizeof(listen_addr);
	int null = open("/dev/null", O_RDWR);

	(void)argc;
	(void)argv;
	/* what tlspipe receives goes to stdout: nowhere, here */
	if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
		die("cannot open /dev/null");
	close(null);
	signal(SIGPIPE, SIG_IGN);	/* as tp_signals_install does: a closed peer is an error return */
	server_ctx = SSL_CTX_new(TLS_server_method());
	if (server_ctx == NULL || tp_cert_ephemeral(server_ctx, server_pin, sizeof(server_pin), err, sizeof(err)) != 0)
		die("cannot make the server's identity");
	SSL_CTX_set_options(server_ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener < 0 || bind(listener, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) != 0 ||
	    listen(listener, 4) != 0 || getsockname(listener, (struct sockaddr *)&listen_addr, &alen) != 0)
		die("cannot listen on loopback");
	return 0;
}

/* One step of the script; false when the peer's side is done for. */
static bool
step(struct peer *pr, SSL *s, int op, const uint8_t *d, size_t n)
{
	unsigned char buf[256];
	int r;

	switch (op) {
	case OP_DATA:
		if (n == 0)
			return true;
		if ((r = SSL_write(s, d, (int)n)) <= 0)
			return false;
		pr->sent += (uint64_t)r;
		return true;
	case OP_RAW:
		pr->broke = true;
		return write(pr->fd, d, n) == (ssize_t)n;
	case OP_KEY_UPDATE:
		if (pr->tls12)
			return true;
		return SSL_key_update(s, n & 1 ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1 &&
		    SSL_do_handshake(s) == 1;
	case OP_RENEGOTIATE:
		if (!pr->tls12)
			return true;
		return SSL_renegotiate(s) == 1 && SSL_do_handshake(s) == 1;
	case OP_READ:
		/* the socket's receive timeout (20 ms) ends a read of nothing */
		SSL_read(s, buf, (int)(n ? n : 1));
		ERR_clear_error();
		return true;
	case OP_NOTIFY:
		SSL_shutdown(s);
		return false;
	default:
		pr->broke = true;
		shutdown(pr->fd, SHUT_WR);
		return false;
	}
}

static void *
serve(void *arg)
{
	struct peer *pr = arg;
	struct timeval tv = { 0, 200000 };
	SSL *s = SSL_new(server_ctx);
	char sink[4096];
	size_t i = 0;

	setsockopt(pr->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	setsockopt(pr->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (s == NULL || SSL_set_fd(s, pr->fd) != 1)
		die("SSL_new");
	if (pr->tls12)
		SSL_set_max_proto_version(s, TLS1_2_VERSION);
	if (SSL_accept(s) == 1) {
		bool going = true;

		pr->accepted = true;
		/* a read of nothing in the script should not cost much */
		tv.tv_sec = 0;
		tv.tv_usec = 20000;
		setsockopt(pr->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

		while (going && i + 2 <= pr->len) {
			int op = pr->script[i] % OP_COUNT;
			size_t n = pr->script[i + 1];

			i += 2;
			if (n > pr->len - i)
				n = pr->len - i;
			going = step(pr, s, op, pr->script + i, n);
			i += n;
		}
		if (going)
			SSL_shutdown(s);	/* the script's end: a clean goodbye */
	} else {
		pr->broke = true;
	}
	/* then the client's own goodbye, until it closes (or a timeout) */
	shutdown(pr->fd, SHUT_WR);
	for (int tries = 0; tries < 50 && read(pr->fd, sink, sizeof(sink)) > 0; tries++)
		;
	SSL_free(s);
	ERR_clear_error();
	pr->closed_ms = tp_now_ms();
	close(pr->fd);
	return NULL;
}

/* stdin: a pipe holding `n` bytes, then EOF */
static void
stdin_of(size_t n)
{
	static const char line[] = "tlspipe fuzz input line\n";
	char buf[16384];
	int p[2];

	for (size_t i = 0; i < n; i++)
		buf[i] = line[i % (sizeof(line) - 1)];
	if (pipe(p) != 0 || write(p[1], buf, n) != (ssize_t)n || dup2(p[0], STDIN_FILENO) < 0)
		die("cannot make stdin");
	close(p[0]);
	close(p[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_config cfg = { .auto_retry = true, .io = TP_IO_SOCKET, .family = AF_INET,
	    .timeout_ms = 2000, .idle_timeout_ms = 2000,
	    .host = "127.0.0.1", .port = "0", .npins = 1 };
	struct tp_run run = { .cfg = &cfg, .stats_fd = -1, .keylog_fd = -1, .input_size = -1,
	    .st.handshake_us = -1, .peer = "fuzz peer" };
	struct peer pr = { .fd = -1 };
	pthread_t th;
	SSL_CTX *ctx;
	SSL *ssl;
	int cfd;
	uint8_t mode;
	long ended;

	if (size < 2)
		return 0;
	mode = data[0];
	pr.tls12 = mode & 1;
	cfg.max_tls = pr.tls12 ? TLS1_2_VERSION : 0;
	cfg.partial = mode & 2;
	cfg.auto_retry = !(mode & 4);
	cfg.io = mode & 8 ? TP_IO_PAIR : TP_IO_SOCKET;
	cfg.write_size = mode & 16 ? 1000 : 0;
	cfg.blocking = (mode & 32) && cfg.io == TP_IO_SOCKET;
	cfg.no_reneg = mode & 64;
	cfg.crlf = mode & 128;
	cfg.on_eof = (enum tp_on_eof)(data[1] >> 6);	/* auto, notify, wait, exit */
	cfg.eof_grace_ms = 100;
	cfg.pins[0] = server_pin;
	cfg.trace = getenv("TP_FUZZ_TRACE") != NULL;	/* replaying an input: what tlspipe did */
	pr.script = data + 2;
	pr.len = size - 2;
	stdin_of((size_t)(data[1] & 0x3f) * 256);

	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) != 0 ||
	    (pr.fd = accept(listener, NULL, NULL)) < 0 || tp_net_set_blocking(cfd, false) != 0)
		die("cannot connect on loopback");
	if (pthread_create(&th, NULL, serve, &pr) != 0)
		die("pthread_create");
	run.st.start_us = tp_now_us();
	if ((ctx = tp_tls_context(&run)) == NULL || (ssl = tp_tls_session(ctx, &run)) == NULL)
		die("cannot make the client's context");
	tp_pump(ssl, cfd, &run, tp_now_ms() + cfg.timeout_ms);
	ended = tp_now_ms();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(cfd);
	pthread_join(th, NULL);

	if (run.exit_code != 0 && run.reason[0] == '\0')
		die("a failure without a reason");
	if (run.exit_code == TP_EXIT_USAGE || run.exit_code == TP_EXIT_CONNECT || run.exit_code > TP_EXIT_TIMEOUT)
		die("an exit status this run cannot have");
	/* what the peer thread wrote is read after the join */
	if (run.exit_code == TP_EXIT_TIMEOUT && pr.accepted && run.st.handshake_us < 0)
		die("no handshake seen, though it completed (a renegotiation right behind it?)");
	if (run.exit_code == TP_EXIT_TIMEOUT && ended - pr.closed_ms > 1000)
		die("timed out long after the peer had closed the connection");
	/* --on-eof=exit leaves without reading on: it promises nothing of the reply */
	if (run.exit_code == 0 && !pr.broke && cfg.on_eof != TP_EOF_EXIT && run.st.bytes_in != pr.sent) {
		fprintf(stderr, "clean end with %llu of %llu bytes\n", (unsigned long long)run.st.bytes_in,
		    (unsigned long long)pr.sent);
		abort();
	}
	return 0;
}
