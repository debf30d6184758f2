/* tlspipe: options into one config, then connect (or accept) and pump.
 * The only file that decides the process's exit status. */
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "tlspipe.h"

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	if (got_signal == 0)
		got_signal = sig;
}

int
tp_signal_pending(void)
{
	return got_signal;
}

void
tp_warn(const char *fmt, ...)
{
	va_list ap;
	char line[2048];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write: lines from two processes on one terminal do not interleave */
	dprintf(STDERR_FILENO, "tlspipe: %s\n", line);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tp_warn("%s (see tlspipe --help)", line);
	exit(TP_EXIT_USAGE);
}

static const char usage_text[] =
"usage: tlspipe [options] host port          connect; stdin -> TLS, TLS -> stdout\n"
"       tlspipe -l [options] [address] port  accept one connection, same piping\n"
"\n"
"Write modes (see tlspipe(1)):\n"
"  -b, --blocking           SSL_write on a blocking socket\n"
"  -P, --partial-write      SSL_MODE_ENABLE_PARTIAL_WRITE: one record per call\n"
"      --auto-retry         set SSL_MODE_AUTO_RETRY (the default)\n"
"  -R, --no-auto-retry      clear SSL_MODE_AUTO_RETRY\n"
"      --io=socket|bio-pair OpenSSL talks to the socket, or to a BIO pair\n"
"  -s, --write-size=N       at most N bytes per SSL_write (1..1048576)\n"
"Security:\n"
"      --cafile=FILE        trust these CAs instead of the system store\n"
"      --capath=DIR         trust a hashed CA directory\n"
"      --servername=NAME    SNI and the name to verify (default: host)\n"
"  -k, --insecure           do not verify the server (warns)\n"
"      --cert=FILE          certificate chain (PEM): client cert, or server identity\n"
"      --key=FILE           its private key (default: in --cert)\n"
"      --key-pass=SRC       passphrase from env:VAR or file:PATH\n"
"      --allow-expired      use an expired --cert anyway\n"
"      --min-tls=VER        1.0, 1.1, 1.2 (default) or 1.3\n"
"      --max-tls=VER        1.0, 1.1, 1.2 or 1.3\n"
"      --ciphers=LIST       TLS 1.2 cipher list\n"
"      --ciphersuites=LIST  TLS 1.3 cipher suites\n"
"      --alpn=LIST          comma-separated protocols to offer (or accept)\n"
"Data and connection:\n"
"  -l, --listen             server: accept one connection\n"
"  -4, -6                   IPv4 or IPv6 only\n"
"      --on-eof=notify|wait|exit  at stdin EOF: close_notify and read on (client\n"
"                           default), wait for the peer (server default), or exit\n"
"      --send-only          discard what the peer sends\n"
"      --recv-only          do not read stdin\n"
"      --crlf               send a lone LF as CRLF\n"
"  -w, --timeout=SECS       connect + handshake limit (default 30, 0 = none)\n"
"      --idle-timeout=SECS  give up after SECS without data (default off)\n"
"  -v, --verbose            connection summary on stderr\n"
"  -h, --help               this help\n"
"  -V, --version            tlspipe and OpenSSL versions\n"
"Exit: 0 ok, 1 I/O or TLS error, 2 usage, 3 connect, 4 handshake or\n"
"verification, 5 truncated, 6 timeout, 128+n signal.\n";

enum {
	OPT_AUTO_RETRY = 256, OPT_IO, OPT_CAFILE, OPT_CAPATH, OPT_SERVERNAME, OPT_CERT,
	OPT_KEY, OPT_KEY_PASS, OPT_ALLOW_EXPIRED, OPT_MIN_TLS, OPT_MAX_TLS, OPT_CIPHERS,
	OPT_CIPHERSUITES, OPT_ALPN, OPT_ON_EOF, OPT_SEND_ONLY, OPT_RECV_ONLY, OPT_CRLF,
	OPT_IDLE_TIMEOUT,
};

static const struct option longopts[] = {
	{ "blocking", no_argument, NULL, 'b' },
	{ "partial-write", no_argument, NULL, 'P' },
	{ "auto-retry", no_argument, NULL, OPT_AUTO_RETRY },
	{ "no-auto-retry", no_argument, NULL, 'R' },
	{ "io", required_argument, NULL, OPT_IO },
	{ "write-size", required_argument, NULL, 's' },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "capath", required_argument, NULL, OPT_CAPATH },
	{ "servername", required_argument, NULL, OPT_SERVERNAME },
	{ "insecure", no_argument, NULL, 'k' },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "key-pass", required_argument, NULL, OPT_KEY_PASS },
	{ "allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED },
	{ "min-tls", required_argument, NULL, OPT_MIN_TLS },
	{ "max-tls", required_argument, NULL, OPT_MAX_TLS },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "ciphersuites", required_argument, NULL, OPT_CIPHERSUITES },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "listen", no_argument, NULL, 'l' },
	{ "on-eof", required_argument, NULL, OPT_ON_EOF },
	{ "send-only", no_argument, NULL, OPT_SEND_ONLY },
	{ "recv-only", no_argument, NULL, OPT_RECV_ONLY },
	{ "crlf", no_argument, NULL, OPT_CRLF },
	{ "timeout", required_argument, NULL, 'w' },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static long long
number(const char *what, const char *s, long long lo, long long hi)
{
	const char *errstr;
	long long v = strtonum(s, lo, hi, &errstr);

	if (errstr)
		usage_error("%s %s: %s (expected %lld..%lld)", what, s, errstr, lo, hi);
	return v;
}

static int
tls_version(const char *what, const char *s)
{
	static const struct { const char *name; int v; } tab[] = {
		{ "1.0", TLS1_VERSION }, { "1.1", TLS1_1_VERSION },
		{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(s, tab[i].name) == 0)
			return tab[i].v;
	usage_error("%s %s: unknown TLS version (use 1.0, 1.1, 1.2 or 1.3)", what, s);
}

static void
check_port(const char *port, bool allow_zero)
{
	const char *errstr;

	if (*port == '\0')
		usage_error("empty port");
	if (strspn(port, "0123456789") == strlen(port)) {
		(void)strtonum(port, allow_zero ? 0 : 1, 65535, &errstr);
		if (errstr)
			usage_error("port %s: %s (expected %d..65535)", port, errstr, allow_zero ? 0 : 1);
	} else if (getservbyname(port, "tcp") == NULL) {
		usage_error("port %s: not a number or a known service name", port);
	}
}

/* fds 0-2 must be open before any socket exists, or a socket could become
 * "stdout". A closed stdin reads as empty. */
static void
standard_fds(bool need_stdout)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (fd == STDOUT_FILENO && need_stdout)
			usage_error("stdout is closed (use --send-only to discard what the peer sends)");
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			exit(TP_EXIT_IO);
	}
}

static void
parse(int argc, char **argv, struct tp_config *cfg)
{
	bool ar_set = false, nar_set = false, on_eof_set = false;
	int c;

	*cfg = (struct tp_config){ .auto_retry = true, .io = TP_IO_SOCKET, .family = AF_UNSPEC,
	    .timeout_ms = 30000 };
	while ((c = getopt_long(argc, argv, "46bPRs:kw:lvhV", longopts, NULL)) != -1) {
		switch (c) {
		case '4': cfg->family = AF_INET; break;
		case '6': cfg->family = AF_INET6; break;
		case 'b': cfg->blocking = true; break;
		case 'P': cfg->partial = true; break;
		case OPT_AUTO_RETRY: ar_set = true; cfg->auto_retry = true; break;
		case 'R': nar_set = true; cfg->auto_retry = false; break;
		case OPT_IO:
			if (strcmp(optarg, "socket") == 0)
				cfg->io = TP_IO_SOCKET;
			else if (strcmp(optarg, "bio-pair") == 0)
				cfg->io = TP_IO_PAIR;
			else
				usage_error("--io %s: expected socket or bio-pair", optarg);
			break;
		case 's':
			/* SSL_write with length 0 is undefined: 0 is refused here */
			cfg->write_size = (size_t)number("--write-size", optarg, 1, 1048576);
			break;
		case OPT_CAFILE: cfg->cafile = optarg; break;
		case OPT_CAPATH: cfg->capath = optarg; break;
		case OPT_SERVERNAME:
			if (*optarg == '\0')
				usage_error("--servername: empty name");
			cfg->servername = optarg;
			break;
		case 'k': cfg->insecure = true; break;
		case OPT_CERT: cfg->cert = optarg; break;
		case OPT_KEY: cfg->key = optarg; break;
		case OPT_KEY_PASS:
			if (strncmp(optarg, "env:", 4) != 0 && strncmp(optarg, "file:", 5) != 0)
				usage_error("--key-pass %s: expected env:VAR or file:PATH", optarg);
			cfg->key_pass = optarg;
			break;
		case OPT_ALLOW_EXPIRED: cfg->allow_expired = true; break;
		case OPT_MIN_TLS: cfg->min_tls = tls_version("--min-tls", optarg); break;
		case OPT_MAX_TLS: cfg->max_tls = tls_version("--max-tls", optarg); break;
		case OPT_CIPHERS: cfg->ciphers = optarg; break;
		case OPT_CIPHERSUITES: cfg->ciphersuites = optarg; break;
		case OPT_ALPN: cfg->alpn = optarg; break;
		case 'l': cfg->listen = true; break;
		case OPT_ON_EOF:
			on_eof_set = true;
			if (strcmp(optarg, "notify") == 0)
				cfg->on_eof = TP_EOF_NOTIFY;
			else if (strcmp(optarg, "wait") == 0)
				cfg->on_eof = TP_EOF_WAIT;
			else if (strcmp(optarg, "exit") == 0)
				cfg->on_eof = TP_EOF_EXIT;
			else
				usage_error("--on-eof %s: expected notify, wait or exit", optarg);
			break;
		case OPT_SEND_ONLY: cfg->send_only = true; break;
		case OPT_RECV_ONLY: cfg->recv_only = true; break;
		case OPT_CRLF: cfg->crlf = true; break;
		case 'w': cfg->timeout_ms = (long)number("--timeout", optarg, 0, 86400) * 1000; break;
		case OPT_IDLE_TIMEOUT:
			cfg->idle_timeout_ms = (long)number("--idle-timeout", optarg, 1, 86400) * 1000;
			break;
		case 'v': cfg->verbose = true; break;
		case 'h':
			fputs(usage_text, stdout);
			exit(TP_EXIT_OK);
		case 'V':
			printf("tlspipe %s (%s)\n", TP_VERSION, OpenSSL_version(OPENSSL_VERSION));
			exit(TP_EXIT_OK);
		default:
			/* getopt_long has named the option on stderr */
			tp_warn("bad option (see tlspipe --help)");
			exit(TP_EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (cfg->listen) {
		if (argc == 1) {
			cfg->port = argv[0];
		} else if (argc == 2) {
			cfg->host = argv[0];
			cfg->port = argv[1];
		} else {
			usage_error("-l takes [address] port");
		}
		if (!on_eof_set)
			cfg->on_eof = TP_EOF_WAIT;	/* a server's stdin running dry is no goodbye */
	} else {
		if (argc != 2)
			usage_error(argc < 2 ? "missing host and port" : "too many arguments");
		cfg->host = argv[0];
		cfg->port = argv[1];
		if (*cfg->host == '\0')
			usage_error("empty host name");
	}
	check_port(cfg->port, cfg->listen);

	if (ar_set && nar_set)
		usage_error("--auto-retry and --no-auto-retry contradict each other");
	if (cfg->blocking && cfg->io == TP_IO_PAIR)
		usage_error("--blocking with --io=bio-pair: a BIO pair never blocks, so there is no blocking write to make");
	if (cfg->send_only && cfg->recv_only)
		usage_error("--send-only and --recv-only together leave nothing to do");
	if (cfg->insecure && cfg->listen)
		usage_error("--insecure is for clients: a server does not verify by default");
	if (cfg->key && !cfg->cert)
		usage_error("--key needs --cert");
	if (cfg->listen && !cfg->cert)
		usage_error("-l needs --cert and --key (the server's identity)");
	if (cfg->min_tls && cfg->max_tls && cfg->min_tls > cfg->max_tls)
		usage_error("--min-tls is above --max-tls");
	if (cfg->max_tls && cfg->max_tls < TLS1_2_VERSION && !cfg->min_tls)
		cfg->min_tls = cfg->max_tls;	/* asking for an old maximum asks for old versions */
}

int
main(int argc, char **argv)
{
	struct tp_config cfg;
	struct tp_stats st = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: wake select */
	char err[1024], peer[128] = "?";
	SSL_CTX *ctx;
	SSL *ssl;
	int fd, rc, timed_out = 0;
	long deadline;

	/* stdin and stderr first, so usage errors have a place to go */
	for (int f = 0; f <= 2; f += 2)
		if (fcntl(f, F_GETFD) < 0 && errno == EBADF && open("/dev/null", f ? O_WRONLY : O_RDONLY) != f)
			return TP_EXIT_IO;
	parse(argc, argv, &cfg);
	standard_fds(!cfg.send_only);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	st.start_ms = tp_now_ms();
	ctx = tp_tls_context(&cfg, err, sizeof(err));
	if (ctx == NULL) {
		tp_warn("%s", err);
		return TP_EXIT_USAGE;
	}
	if (cfg.insecure)
		tp_warn("warning: --insecure: the server's certificate and name are not verified");

	deadline = cfg.timeout_ms ? st.start_ms + cfg.timeout_ms : 0;
	if (cfg.listen) {
		int lfd = tp_net_listen(&cfg);

		if (lfd < 0) {
			SSL_CTX_free(ctx);
			return TP_EXIT_CONNECT;
		}
		fd = tp_net_accept(lfd, 0, peer, sizeof(peer), &timed_out);
		close(lfd);
		st.start_ms = tp_now_ms();
		deadline = cfg.timeout_ms ? st.start_ms + cfg.timeout_ms : 0;
	} else {
		fd = tp_net_connect(&cfg, deadline, peer, sizeof(peer), &timed_out);
	}
	if (fd < 0) {
		SSL_CTX_free(ctx);
		if (got_signal) {
			tp_warn("interrupted by signal %d (%s)", got_signal, strsignal(got_signal));
			return 128 + got_signal;
		}
		return timed_out ? TP_EXIT_TIMEOUT : TP_EXIT_CONNECT;
	}

	ssl = tp_tls_session(ctx, &cfg, err, sizeof(err));
	if (ssl == NULL) {
		tp_warn("%s", err);
		close(fd);
		SSL_CTX_free(ctx);
		return TP_EXIT_USAGE;
	}
	rc = tp_pump(ssl, fd, &cfg, peer, deadline, &st);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return rc;
}
