/* tlspipe: options into one config, then connect (or accept) and pump.
 * The only file that decides the process's exit status. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <openssl/opensslv.h>
#include <openssl/err.h>

#include "tlspipe.h"

static volatile sig_atomic_t got_signal, got_usr1;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (got_signal == 0)
		got_signal = sig;
}

int
tp_signal_pending(void)
{
	return got_signal;
}

int
tp_usr1_pending(void)
{
	if (!got_usr1)
		return 0;
	got_usr1 = 0;
	return 1;
}

/* A usage error: remembered (it goes into --stats too), printed by main. */
static int __attribute__((format(printf, 2, 3)))
bad(struct tp_run *run, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(run->reason, sizeof(run->reason), fmt, ap);
	va_end(ap);
	n = strlen(run->reason);
	snprintf(run->reason + n, sizeof(run->reason) - n, " (see tlspipe --help)");
	run->exit_code = TP_EXIT_USAGE;
	return -1;
}

static const char usage_text[] =
"usage: tlspipe [options] host port          connect; stdin -> TLS, TLS -> stdout\n"
"       tlspipe -l [options] [address] port  accept one connection, same piping\n"
"Write modes:\n"
"  -b, --blocking           SSL_write on a blocking socket\n"
"  -P, --partial-write      SSL_MODE_ENABLE_PARTIAL_WRITE: one record per call\n"
"      --auto-retry         set SSL_MODE_AUTO_RETRY (the default)\n"
"  -R, --no-auto-retry      clear SSL_MODE_AUTO_RETRY\n"
"      --io=socket|bio-pair OpenSSL talks to the socket, or to a BIO pair\n"
"  -s, --write-size=N       at most N bytes per SSL_write (1..1048576)\n"
"Security:\n"
"      --cafile=FILE        trust these CAs (server: verify clients with them)\n"
"      --capath=DIR         trust a hashed CA directory\n"
"      --servername=NAME    SNI and the name to verify (default: host)\n"
"  -k, --insecure           do not verify the server (warns)\n"
"      --pin=sha256//B64    accept the server by its public key (repeatable)\n"
"      --cert=FILE          PEM chain: client cert, or server identity\n"
"      --key=FILE           its private key (default: in --cert)\n"
"      --key-pass=SRC       key passphrase from env:VAR or file:PATH\n"
"      --allow-expired      use an expired --cert anyway\n"
"      --verify-client      server: require a client certificate (--cafile)\n"
"      --min-tls=VER        1.0, 1.1, 1.2 (default) or 1.3\n"
"      --max-tls=VER        1.0, 1.1, 1.2 or 1.3\n"
"      --ciphers=LIST       TLS 1.2 cipher list\n"
"      --ciphersuites=LIST  TLS 1.3 cipher suites\n"
"      --alpn=LIST          comma-separated protocols to offer (or accept)\n"
"Rekeying (SIGUSR1: one now):\n"
"      --key-update-every=BYTES   TLS 1.3 key update after every BYTES moved\n"
"      --renegotiate-every=BYTES  TLS 1.2 renegotiation after every BYTES\n"
"      --allow-client-renegotiation  server: accept a client's renegotiation\n"
"      --no-renegotiation   refuse renegotiation in either role\n"
"Data and connection:\n"
"  -l, --listen             server: accept one connection (default 127.0.0.1)\n"
"  -4, -6                   IPv4 or IPv6 only\n"
"      --on-eof=auto|notify|wait|exit  at stdin EOF: close_notify once the\n"
"                           peer is quiet (client default), at once, never\n"
"                           (server default), or at once and exit\n"
"      --eof-grace=SECS     auto: the peer's quiet time first (default 1)\n"
"      --send-only          discard what the peer sends\n"
"      --recv-only          do not read stdin\n"
"      --crlf               send a lone LF as CRLF\n"
"  -w, --timeout=SECS       connect + handshake limit (default 30, 0 = none)\n"
"      --idle-timeout=SECS  give up after SECS without data (0 = off, default)\n"
"Diagnostics (stderr):\n"
"  -v, --verbose            connection summary\n"
"      --trace              every TLS call, its result, and TLS events\n"
"      --stats=FILE         JSON counters at exit (- = stderr)\n"
"      --progress           a progress line when stderr is a terminal\n"
"      --keylog=FILE        NSS key log for Wireshark (or $SSLKEYLOGFILE)\n"
"  -h, --help               this help;  -V, --version  versions\n"
"Exit: 0 ok, 1 I/O or TLS error, 2 usage, 3 connect, 4 handshake or\n"
"verification, 5 truncated, 6 timeout, 128+n signal.\n";

enum {
	OPT_AUTO_RETRY = 256, OPT_IO, OPT_CAFILE, OPT_CAPATH, OPT_SERVERNAME, OPT_CERT,
	OPT_KEY, OPT_KEY_PASS, OPT_ALLOW_EXPIRED, OPT_MIN_TLS, OPT_MAX_TLS, OPT_CIPHERS,
	OPT_CIPHERSUITES, OPT_ALPN, OPT_ON_EOF, OPT_SEND_ONLY, OPT_RECV_ONLY, OPT_CRLF,
	OPT_IDLE_TIMEOUT, OPT_PIN, OPT_VERIFY_CLIENT, OPT_KEY_UPDATE_EVERY, OPT_RENEG_EVERY,
	OPT_ALLOW_CLIENT_RENEG, OPT_NO_RENEG, OPT_TRACE, OPT_STATS, OPT_PROGRESS, OPT_KEYLOG,
	OPT_EOF_GRACE,
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
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "key-pass", required_argument, NULL, OPT_KEY_PASS },
	{ "allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED },
	{ "verify-client", no_argument, NULL, OPT_VERIFY_CLIENT },
	{ "min-tls", required_argument, NULL, OPT_MIN_TLS },
	{ "max-tls", required_argument, NULL, OPT_MAX_TLS },
	{ "ciphers", required_argument, NULL, OPT_CIPHERS },
	{ "ciphersuites", required_argument, NULL, OPT_CIPHERSUITES },
	{ "alpn", required_argument, NULL, OPT_ALPN },
	{ "key-update-every", required_argument, NULL, OPT_KEY_UPDATE_EVERY },
	{ "renegotiate-every", required_argument, NULL, OPT_RENEG_EVERY },
	{ "allow-client-renegotiation", no_argument, NULL, OPT_ALLOW_CLIENT_RENEG },
	{ "no-renegotiation", no_argument, NULL, OPT_NO_RENEG },
	{ "listen", no_argument, NULL, 'l' },
	{ "on-eof", required_argument, NULL, OPT_ON_EOF },
	{ "eof-grace", required_argument, NULL, OPT_EOF_GRACE },
	{ "send-only", no_argument, NULL, OPT_SEND_ONLY },
	{ "recv-only", no_argument, NULL, OPT_RECV_ONLY },
	{ "crlf", no_argument, NULL, OPT_CRLF },
	{ "timeout", required_argument, NULL, 'w' },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "keylog", required_argument, NULL, OPT_KEYLOG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int
number(struct tp_run *run, const char *what, const char *s, long long lo, long long hi, long long *v)
{
	const char *errstr;

	*v = strtonum(s, lo, hi, &errstr);
	if (errstr)
		return bad(run, "%s %s: %s (expected %lld..%lld)", what, s, errstr, lo, hi);
	return 0;
}

static int
tls_version(struct tp_run *run, const char *what, const char *s, int *v)
{
	static const struct { const char *name; int v; } tab[] = {
		{ "1.0", TLS1_VERSION }, { "1.1", TLS1_1_VERSION },
		{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(s, tab[i].name) == 0) {
			*v = tab[i].v;
			return 0;
		}
	return bad(run, "%s %s: unknown TLS version (use 1.0, 1.1, 1.2 or 1.3)", what, s);
}

static int
check_port(struct tp_run *run, const char *port, bool allow_zero)
{
	long long v;

	if (*port == '\0')
		return bad(run, "empty port");
	if (strspn(port, "0123456789") == strlen(port))
		return number(run, "port", port, allow_zero ? 0 : 1, 65535, &v);
	if (getservbyname(port, "tcp") == NULL)
		return bad(run, "port %s: not a number or a known service name", port);
	return 0;
}

static int
choice(struct tp_run *run, const char *what, const char *arg, const char *const *names, int *out)
{
	char list[128] = "";
	int i;

	for (i = 0; names[i]; i++)
		if (strcmp(arg, names[i]) == 0) {
			*out = i;
			return 0;
		}
	for (int j = 0; j < i; j++) {
		size_t n = strlen(list);

		snprintf(list + n, sizeof(list) - n, "%s%s", j == 0 ? "" : j == i - 1 ? " or " : ", ", names[j]);
	}
	return bad(run, "%s %s: expected %s", what, arg, list);
}

/* SECONDS with up to three decimals ("1", "0.25"), into milliseconds */
static int
seconds(struct tp_run *run, const char *what, const char *s, long max_s, long *ms)
{
	const char *dot = strchr(s, '.');
	char whole[16];
	long long v;
	long frac = 0, scale = 100;
	size_t n = dot ? (size_t)(dot - s) : strlen(s);

	if (n == 0 || n >= sizeof(whole) || strspn(s, "0123456789") != n)
		return bad(run, "%s %s: expected seconds (0..%ld, up to 3 decimals)", what, s, max_s);
	memcpy(whole, s, n);
	whole[n] = '\0';
	if (number(run, what, whole, 0, max_s, &v))
		return -1;
	if (dot) {
		const char *d = dot + 1;

		if (*d == '\0' || strlen(d) > 3 || strspn(d, "0123456789") != strlen(d))
			return bad(run, "%s %s: expected seconds (0..%ld, up to 3 decimals)", what, s, max_s);
		for (; *d; d++, scale /= 10)
			frac += (*d - '0') * scale;
		if (v == max_s && frac > 0)
			return bad(run, "%s %s: more than %ld seconds", what, s, max_s);
	}
	*ms = (long)v * 1000 + frac;
	return 0;
}

static int
parse(int argc, char **argv, struct tp_config *cfg, struct tp_run *run)
{
	static const char *const io_names[] = { "socket", "bio-pair", NULL };
	static const char *const eof_names[] = { "auto", "notify", "wait", "exit", NULL };
	bool ar_set = false, nar_set = false, on_eof_set = false, grace_set = false;
	long long v;
	int c, i;

	opterr = 0;	/* our words, with our prefix */
	while ((c = getopt_long(argc, argv, ":46bPRs:kw:lvhV", longopts, NULL)) != -1) {
		switch (c) {
		case '4': cfg->family = AF_INET; break;
		case '6': cfg->family = AF_INET6; break;
		case 'b': cfg->blocking = true; break;
		case 'P': cfg->partial = true; break;
		case OPT_AUTO_RETRY: ar_set = true; cfg->auto_retry = true; break;
		case 'R': nar_set = true; cfg->auto_retry = false; break;
		case OPT_IO:
			if (choice(run, "--io", optarg, io_names, &i))
				return -1;
			cfg->io = (enum tp_io)i;
			break;
		case 's':
			/* SSL_write with length 0 is undefined: 0 is refused here */
			if (number(run, "--write-size", optarg, 1, 1048576, &v))
				return -1;
			cfg->write_size = (size_t)v;
			break;
		case OPT_CAFILE: cfg->cafile = optarg; break;
		case OPT_CAPATH: cfg->capath = optarg; break;
		case OPT_SERVERNAME:
			if (*optarg == '\0')
				return bad(run, "--servername: empty name");
			cfg->servername = optarg;
			break;
		case 'k': cfg->insecure = true; break;
		case OPT_PIN:
			if (tp_tls_pin_check(optarg) != 0)
				return bad(run, "--pin %s: expected sha256// and 44 base64 characters", optarg);
			if (cfg->npins == (int)(sizeof(cfg->pins) / sizeof(cfg->pins[0])))
				return bad(run, "--pin: at most %d pins", cfg->npins);
			cfg->pins[cfg->npins++] = optarg;
			break;
		case OPT_CERT: cfg->cert = optarg; break;
		case OPT_KEY: cfg->key = optarg; break;
		case OPT_KEY_PASS:
			if (strncmp(optarg, "env:", 4) != 0 && strncmp(optarg, "file:", 5) != 0)
				return bad(run, "--key-pass %s: expected env:VAR or file:PATH", optarg);
			cfg->key_pass = optarg;
			break;
		case OPT_ALLOW_EXPIRED: cfg->allow_expired = true; break;
		case OPT_VERIFY_CLIENT: cfg->verify_client = true; break;
		case OPT_MIN_TLS:
			if (tls_version(run, "--min-tls", optarg, &cfg->min_tls))
				return -1;
			break;
		case OPT_MAX_TLS:
			if (tls_version(run, "--max-tls", optarg, &cfg->max_tls))
				return -1;
			break;
		case OPT_CIPHERS: cfg->ciphers = optarg; break;
		case OPT_CIPHERSUITES: cfg->ciphersuites = optarg; break;
		case OPT_ALPN: cfg->alpn = optarg; break;
		case OPT_KEY_UPDATE_EVERY:
			if (number(run, "--key-update-every", optarg, 1, 1LL << 50, &v))
				return -1;
			cfg->key_update_every = (uint64_t)v;
			break;
		case OPT_RENEG_EVERY:
			if (number(run, "--renegotiate-every", optarg, 1, 1LL << 50, &v))
				return -1;
			cfg->renegotiate_every = (uint64_t)v;
			break;
		case OPT_ALLOW_CLIENT_RENEG: cfg->allow_client_reneg = true; break;
		case OPT_NO_RENEG: cfg->no_reneg = true; break;
		case 'l': cfg->listen = true; break;
		case OPT_ON_EOF:
			on_eof_set = true;
			if (choice(run, "--on-eof", optarg, eof_names, &i))
				return -1;
			cfg->on_eof = (enum tp_on_eof)i;
			break;
		case OPT_EOF_GRACE:
			if (seconds(run, "--eof-grace", optarg, 3600, &cfg->eof_grace_ms))
				return -1;
			grace_set = true;
			break;
		case OPT_SEND_ONLY: cfg->send_only = true; break;
		case OPT_RECV_ONLY: cfg->recv_only = true; break;
		case OPT_CRLF: cfg->crlf = true; break;
		case 'w':
			if (number(run, "--timeout", optarg, 0, 86400, &v))
				return -1;
			cfg->timeout_ms = (long)v * 1000;
			break;
		case OPT_IDLE_TIMEOUT:
			if (number(run, "--idle-timeout", optarg, 0, 86400, &v))
				return -1;
			cfg->idle_timeout_ms = (long)v * 1000;
			break;
		case 'v': cfg->verbose = true; break;
		case OPT_TRACE: cfg->trace = true; break;
		case OPT_STATS:
			if (*optarg == '\0')
				return bad(run, "--stats: empty file name (use - for stderr)");
			cfg->stats = optarg;
			break;
		case OPT_PROGRESS: cfg->progress = true; break;
		case OPT_KEYLOG:
			if (*optarg == '\0')
				return bad(run, "--keylog: empty file name");
			cfg->keylog = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(TP_EXIT_OK);
		case 'V':
			printf("tlspipe %s (%s; built with %s)\n", TP_VERSION, OpenSSL_version(OPENSSL_VERSION),
			    OPENSSL_VERSION_TEXT);
			exit(TP_EXIT_OK);
		case ':':
			return bad(run, "option %s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return bad(run, "unknown option -%c", optopt);
			return bad(run, "unknown option %s", argv[optind - 1]);
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
			return bad(run, argc == 0 ? "-l needs a port (0 picks a free one)" :
			    "-l takes [address] port");
		}
		if (!on_eof_set)
			cfg->on_eof = TP_EOF_WAIT;	/* a server's stdin running dry is no goodbye */
	} else {
		if (argc != 2)
			return bad(run, argc < 2 ? "missing host and port" : "too many arguments");
		cfg->host = argv[0];
		cfg->port = argv[1];
		if (*cfg->host == '\0')
			return bad(run, "empty host name");
	}
	if (check_port(run, cfg->port, cfg->listen))
		return -1;

	if (grace_set && cfg->on_eof != TP_EOF_AUTO)
		return bad(run, "--eof-grace is for --on-eof=auto%s", cfg->listen && !on_eof_set ?
		    " (a server waits by default)" : "");
	if (ar_set && nar_set)
		return bad(run, "--auto-retry and --no-auto-retry contradict each other");
	if (cfg->blocking && cfg->io == TP_IO_PAIR)
		return bad(run, "--blocking with --io=bio-pair: a BIO pair never blocks, so there is no "
		    "blocking write to make");
	if (cfg->send_only && cfg->recv_only)
		return bad(run, "--send-only and --recv-only together leave nothing to do");
	if (cfg->insecure && cfg->listen)
		return bad(run, "--insecure is for clients: a server does not verify by default");
	if (cfg->insecure && cfg->npins)
		return bad(run, "--insecure and --pin contradict each other");
	if (cfg->npins && (cfg->cafile || cfg->capath))
		return bad(run, "--pin replaces the chain check: --cafile and --capath would have no effect");
	if (cfg->npins && cfg->listen)
		return bad(run, "--pin is for clients");
	if (cfg->listen && (cfg->servername || cfg->capath))
		return bad(run, "%s is for clients", cfg->servername ? "--servername" : "--capath");
	if (cfg->listen && cfg->cafile && !cfg->verify_client)
		return bad(run, "-l uses --cafile only with --verify-client (to check client certificates)");
	if (cfg->verify_client && !cfg->listen)
		return bad(run, "--verify-client is for servers (-l)");
	if (cfg->verify_client && !cfg->cafile)
		return bad(run, "--verify-client needs --cafile (the CAs that sign client certificates)");
	if (cfg->allow_client_reneg && !cfg->listen)
		return bad(run, "--allow-client-renegotiation is for servers (-l)");
	if (cfg->allow_client_reneg && cfg->no_reneg)
		return bad(run, "--allow-client-renegotiation and --no-renegotiation contradict each other");
	if (cfg->key && !cfg->cert)
		return bad(run, "--key needs --cert");
	if (cfg->key_pass && !cfg->cert)
		return bad(run, "--key-pass needs --cert");
	if (cfg->min_tls && cfg->max_tls && cfg->min_tls > cfg->max_tls)
		return bad(run, "--min-tls is above --max-tls");
	if (cfg->max_tls && cfg->max_tls < TLS1_2_VERSION && !cfg->min_tls)
		cfg->min_tls = cfg->max_tls;	/* asking for an old maximum asks for old versions */
	if (cfg->key_update_every && cfg->max_tls && cfg->max_tls < TLS1_3_VERSION)
		return bad(run, "--key-update-every needs TLS 1.3, and --max-tls rules it out");
	if (cfg->renegotiate_every && cfg->min_tls == TLS1_3_VERSION)
		return bad(run, "--renegotiate-every needs TLS 1.2, and --min-tls 1.3 rules it out");
	if (cfg->renegotiate_every && cfg->no_reneg)
		return bad(run, "--renegotiate-every and --no-renegotiation contradict each other");
	return 0;
}

/* fds 0-2 must be open before any socket exists, or a socket could become
 * "stdout". A closed stdin reads as empty. */
static int
standard_fds(struct tp_run *run, bool need_stdout)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (fd == STDOUT_FILENO && need_stdout)
			return bad(run, "stdout is closed (use --send-only to discard what the peer sends)");
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return tp_fail(run, TP_EXIT_IO, "cannot open /dev/null: %s", strerror(errno));
	}
	return 0;
}

/* Files the run writes, opened before connecting so a bad path is a usage error. */
static int
open_outputs(struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;

	if (cfg->stats && strcmp(cfg->stats, "-") != 0) {
		run->stats_fd = open(cfg->stats, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (run->stats_fd < 0) {
			run->stats_unwritable = true;
			return bad(run, "--stats %s: %s", cfg->stats, strerror(errno));
		}
	}
	if (cfg->keylog) {
		run->keylog_fd = open(cfg->keylog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (run->keylog_fd < 0)
			return bad(run, "--keylog %s: %s", cfg->keylog, strerror(errno));
		/* secrets: an older, wider file is narrowed too (if it is ours) */
		(void)fchmod(run->keylog_fd, 0600);
		tp_warn("writing TLS secrets to %s (anyone who reads it can decrypt this session)", cfg->keylog);
	}
	return 0;
}

/* Every exit after parsing comes through here: --stats is written on each path. */
static int
finish(struct tp_run *run)
{
	if (run->exit_code && run->reason[0] && !run->told)
		tp_warn("%s", run->reason);
	tp_stats_write(run);
	if (run->stats_fd >= 0)
		close(run->stats_fd);
	if (run->keylog_fd >= 0)
		close(run->keylog_fd);
	return run->exit_code;
}

int
main(int argc, char **argv)
{
	struct tp_config cfg = { .auto_retry = true, .io = TP_IO_SOCKET, .family = AF_UNSPEC,
	    .timeout_ms = 30000, .on_eof = TP_EOF_AUTO, .eof_grace_ms = 1000 };
	struct tp_run run = { .cfg = &cfg, .stats_fd = -1, .keylog_fd = -1, .input_size = -1,
	    .st.handshake_us = -1 };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART: wake select */
	struct stat sb;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	int fd = -1, lfd;
	long deadline;

	run.st.start_us = tp_now_us();
	/* stdin and stderr first, so that messages have a place to go */
	for (int f = 0; f <= 2; f += 2)
		if (fcntl(f, F_GETFD) < 0 && errno == EBADF && open("/dev/null", f ? O_WRONLY : O_RDONLY) != f)
			return TP_EXIT_IO;
	if (parse(argc, argv, &cfg, &run) != 0 || standard_fds(&run, !cfg.send_only) != 0)
		return finish(&run);
	if (cfg.keylog == NULL && getenv("SSLKEYLOGFILE") && *getenv("SSLKEYLOGFILE"))
		cfg.keylog = getenv("SSLKEYLOGFILE");
	if (open_outputs(&run) != 0)
		return finish(&run);
	if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode))
		run.input_size = sb.st_size;
	run.progress_tty = cfg.progress && isatty(STDERR_FILENO) == 1;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	ctx = tp_tls_context(&run);
	if (ctx == NULL)
		return finish(&run);
	if (cfg.insecure)
		tp_warn("warning: --insecure: the server's certificate and name are not verified");

	deadline = cfg.timeout_ms ? tp_now_ms() + cfg.timeout_ms : 0;
	if (cfg.listen) {
		lfd = tp_net_listen(&run);
		if (lfd >= 0) {
			fd = tp_net_accept(&run, lfd);
			close(lfd);
			run.st.start_us = tp_now_us();	/* the run starts with the client */
			deadline = cfg.timeout_ms ? tp_now_ms() + cfg.timeout_ms : 0;
		}
	} else {
		fd = tp_net_connect(&run, deadline);
	}
	if (fd < 0 && got_signal)
		tp_fail(&run, 128 + got_signal, "interrupted by signal %d (%s)", got_signal, strsignal(got_signal));
	if (fd >= 0 && (ssl = tp_tls_session(ctx, &run)) != NULL)
		tp_pump(ssl, fd, &run, deadline);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return finish(&run);
}
