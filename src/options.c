/* The command line: the option table, --help's text, each option's value,
 * the operands, the defaults that depend on other options, and one list of
 * the combinations that are refused. A new option lives here (and in the
 * man page, --help and the three completions, which a test keeps in step). */
#include <sys/socket.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "tlspipe.h"

static const char usage_text[] =
"usage: tlspipe [options] host port          connect; stdin -> TLS, TLS -> stdout\n"
"       tlspipe -l [options] [address] port  accept one connection, same piping\n"
"       (also host:port, [v6]:port or [v6] port; -l [address:]port)\n"
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
"  -k, --insecure           do not verify the server (warns; -v says what fails)\n"
"      --pin=sha256//B64    accept the server's key, or a sent CA's (repeatable)\n"
"      --cert=FILE          PEM chain: client cert, or server identity\n"
"      --key=FILE           its private key (default: in --cert)\n"
"      --key-pass=SRC       key passphrase: pass:, env:VAR, file:PATH or fd:N\n"
"      --allow-expired      use an expired --cert anyway\n"
"      --verify-client      server: require a client certificate (--cafile)\n"
"      --min-tls=VER        1.0, 1.1, 1.2 (default) or 1.3\n"
"      --max-tls=VER        1.0, 1.1, 1.2 or 1.3\n"
"      --ciphers=LIST       TLS 1.2 cipher list\n"
"      --ciphersuites=LIST  TLS 1.3 cipher suites\n"
"      --alpn=LIST          comma-separated protocols to offer (or accept)\n"
"      --no-sandbox         no seccomp/Landlock confinement after the handshake\n"
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
"  -w, --timeout=SECS       lookup+connect+handshake limit (default 30, 0 = none)\n"
"      --idle-timeout=SECS  give up after SECS without data (0 = off, default)\n"
"Diagnostics (stderr):\n"
"  -v, --verbose            connection summary, with each sent certificate's pin\n"
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
	OPT_EOF_GRACE, OPT_NO_SANDBOX,
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
	{ "no-sandbox", no_argument, NULL, OPT_NO_SANDBOX },
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
		return tp_usage(run, "%s %s: %s (expected %lld..%lld)", what, s, errstr, lo, hi);
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
	return tp_usage(run, "%s %s: unknown TLS version (use 1.0, 1.1, 1.2 or 1.3)", what, s);
}

static int
check_port(struct tp_run *run, const char *port, bool allow_zero)
{
	long long v;

	if (*port == '\0')
		return tp_usage(run, "empty port");
	if (strspn(port, "0123456789") == strlen(port))
		return number(run, "port", port, allow_zero ? 0 : 1, 65535, &v);
	if (getservbyname(port, "tcp") == NULL)
		return tp_usage(run, "port %s: not a number or a known service name", port);
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
	return tp_usage(run, "%s %s: expected %s", what, arg, list);
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
		return tp_usage(run, "%s %s: expected seconds (0..%ld, up to 3 decimals)", what, s, max_s);
	memcpy(whole, s, n);
	whole[n] = '\0';
	if (number(run, what, whole, 0, max_s, &v))
		return -1;
	if (dot) {
		const char *d = dot + 1;

		if (*d == '\0' || strlen(d) > 3 || strspn(d, "0123456789") != strlen(d))
			return tp_usage(run, "%s %s: expected seconds (0..%ld, up to 3 decimals)", what, s, max_s);
		for (; *d; d++, scale /= 10)
			frac += (*d - '0') * scale;
		if (v == max_s && frac > 0)
			return tp_usage(run, "%s %s: more than %ld seconds", what, s, max_s);
	}
	*ms = (long)v * 1000 + frac;
	return 0;
}

/* --alpn: comma-separated names of 1 to 255 bytes, as the wire has one
 * length byte for each; the list in wire form (each name after its length
 * byte) at most TP_ALPN_MAX bytes. A long list is not repeated in the words. */
static int
alpn_list(struct tp_run *run, const char *list)
{
	size_t total = 0, n = strlen(list);
	const char *p = list;
	char shown[80];

	if (n <= 64)
		snprintf(shown, sizeof(shown), "--alpn %s", list);
	else
		snprintf(shown, sizeof(shown), "--alpn (a list of %zu bytes)", n);
	for (int i = 1;; i++) {
		size_t l = strcspn(p, ",");

		if (l == 0)
			return tp_usage(run, "%s: protocol name %d is empty", shown, i);
		if (l > 255)
			return tp_usage(run, "%s: protocol name %d is %zu bytes long (at most 255)", shown, i, l);
		total += 1 + l;
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	if (total > TP_ALPN_MAX)
		return tp_usage(run, "%s: the list is %zu bytes on the wire (each name and its length byte), "
		    "at most %d", shown, total, TP_ALPN_MAX);
	return 0;
}

/* Which options were given, where a default depends on it. */
struct given {
	bool auto_retry, no_auto_retry, on_eof, grace;
};

/* the table's entry for the option getopt_long returned as c */
static const struct option *
entry(int c)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c)
			return o;
	return NULL;
}

/* One option and its value, into cfg: 0, -1 for a usage error, 1 when it
 * was --help or --version and the run is over. */
static int
option(int c, char *arg, char **argv, struct tp_config *cfg, struct tp_run *run, struct given *g)
{
	static const char *const io_names[] = { "socket", "bio-pair", NULL };
	static const char *const eof_names[] = { "auto", "notify", "wait", "exit", NULL };
	const struct option *o = entry(c);
	char why[256];
	long long v;
	int i;

	/* "" is never a value anyone means (an unset variable, say): named as
	 * such, not as whatever each parser would make of it; an empty
	 * --ciphersuites would even switch TLS 1.3 off without a word */
	if (o && o->has_arg == required_argument && arg && *arg == '\0')
		return tp_usage(run, "--%s: empty value%s", o->name, c == OPT_STATS ? " (use - for stderr)" : "");
	switch (c) {
	case '4': cfg->family = AF_INET; break;
	case '6': cfg->family = AF_INET6; break;
	case 'b': cfg->blocking = true; break;
	case 'P': cfg->partial = true; break;
	case OPT_AUTO_RETRY: g->auto_retry = true; cfg->auto_retry = true; break;
	case 'R': g->no_auto_retry = true; cfg->auto_retry = false; break;
	case OPT_IO:
		if (choice(run, "--io", arg, io_names, &i))
			return -1;
		cfg->io = (enum tp_io)i;
		break;
	case 's':
		/* SSL_write with length 0 is undefined: 0 is refused here */
		if (number(run, "--write-size", arg, 1, 1048576, &v))
			return -1;
		cfg->write_size = (size_t)v;
		break;
	case OPT_CAFILE: cfg->cafile = arg; break;
	case OPT_CAPATH: cfg->capath = arg; break;
	case OPT_SERVERNAME:
		/* SNI's limit; found here, not after connecting */
		if (strlen(arg) > 255)
			return tp_usage(run, "--servername: %zu bytes long (a host name is at most 255)", strlen(arg));
		cfg->servername = arg;
		break;
	case 'k': cfg->insecure = true; break;
	case OPT_PIN:
		if (tp_cert_pin_check(arg, why, sizeof(why)) != 0)
			return tp_usage(run, "--pin %s: %s", arg, why);
		if (cfg->npins == (int)(sizeof(cfg->pins) / sizeof(cfg->pins[0])))
			return tp_usage(run, "--pin: at most %d pins", cfg->npins);
		cfg->pins[cfg->npins++] = arg;
		break;
	case OPT_CERT: cfg->cert = arg; break;
	case OPT_KEY: cfg->key = arg; break;
	case OPT_KEY_PASS:
		if (tp_keypass_check(arg, why, sizeof(why)) != 0)
			return tp_usage(run, "%s", why);
		cfg->key_pass = arg;
		break;
	case OPT_ALLOW_EXPIRED: cfg->allow_expired = true; break;
	case OPT_VERIFY_CLIENT: cfg->verify_client = true; break;
	case OPT_MIN_TLS:
		if (tls_version(run, "--min-tls", arg, &cfg->min_tls))
			return -1;
		break;
	case OPT_MAX_TLS:
		if (tls_version(run, "--max-tls", arg, &cfg->max_tls))
			return -1;
		break;
	case OPT_CIPHERS: cfg->ciphers = arg; break;
	case OPT_CIPHERSUITES: cfg->ciphersuites = arg; break;
	case OPT_ALPN:
		if (alpn_list(run, arg))
			return -1;
		cfg->alpn = arg;
		break;
	case OPT_KEY_UPDATE_EVERY:
		if (number(run, "--key-update-every", arg, 1, 1LL << 50, &v))
			return -1;
		cfg->key_update_every = (uint64_t)v;
		break;
	case OPT_RENEG_EVERY:
		if (number(run, "--renegotiate-every", arg, 1, 1LL << 50, &v))
			return -1;
		cfg->renegotiate_every = (uint64_t)v;
		break;
	case OPT_ALLOW_CLIENT_RENEG: cfg->allow_client_reneg = true; break;
	case OPT_NO_RENEG: cfg->no_reneg = true; break;
	case 'l': cfg->listen = true; break;
	case OPT_ON_EOF:
		g->on_eof = true;
		if (choice(run, "--on-eof", arg, eof_names, &i))
			return -1;
		cfg->on_eof = (enum tp_on_eof)i;
		break;
	case OPT_EOF_GRACE:
		if (seconds(run, "--eof-grace", arg, 3600, &cfg->eof_grace_ms))
			return -1;
		g->grace = true;
		break;
	case OPT_SEND_ONLY: cfg->send_only = true; break;
	case OPT_RECV_ONLY: cfg->recv_only = true; break;
	case OPT_CRLF: cfg->crlf = true; break;
	case 'w':
		if (number(run, "--timeout", arg, 0, 86400, &v))
			return -1;
		cfg->timeout_ms = (long)v * 1000;
		break;
	case OPT_IDLE_TIMEOUT:
		if (number(run, "--idle-timeout", arg, 0, 86400, &v))
			return -1;
		cfg->idle_timeout_ms = (long)v * 1000;
		break;
	case 'v': cfg->verbose = true; break;
	case OPT_TRACE: cfg->trace = true; break;
	case OPT_STATS: cfg->stats = arg; break;
	case OPT_PROGRESS: cfg->progress = true; break;
	case OPT_NO_SANDBOX: cfg->no_sandbox = true; break;
	case OPT_KEYLOG: cfg->keylog = arg; break;
	/* printed, not exited: the caller ends the run, and a fuzzer or a test
	 * can call the parser again */
	case 'h':
		fputs(usage_text, stdout);
		return 1;
	case 'V':
		printf("tlspipe %s (%s; built with %s; sandbox: %s)\n", TP_VERSION, OpenSSL_version(OPENSSL_VERSION),
		    OPENSSL_VERSION_TEXT, tp_sandbox_kind());
		return 1;
	case ':':
		return tp_usage(run, "option %s needs a value", argv[optind - 1]);
	default:
		if (optopt && optopt < 256)
			return tp_usage(run, "unknown option -%c", optopt);
		/* not the value after "=": --keypass=SECRET must not print SECRET */
		return tp_usage(run, "unknown option %.*s", (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
	}
	return 0;
}

/* An address as people paste it: "[v6]" loses its brackets, "host:port" and
 * "[v6]:port" split in place; a bare IPv6 address is a host only when the
 * port comes on its own (`port_given`). Sets *host, and *port (NULL when
 * the address holds none). */
static int
address(struct tp_run *run, char *arg, bool port_given, const char **host, const char **port)
{
	char *colon = strrchr(arg, ':'), *close, shown[300];

	snprintf(shown, sizeof(shown), "%s", arg);	/* the split below cuts arg up */
	*host = arg;
	*port = NULL;
	if (*arg == '[') {
		if ((close = strchr(arg, ']')) == NULL || (close[1] != '\0' && close[1] != ':') || close == arg + 1)
			return tp_usage(run, "%s: expected [IPv6 address] or [IPv6 address]:port", arg);
		*close = '\0';
		*host = arg + 1;
		if (close[1] == ':')
			*port = close + 2;
	} else if (colon && strchr(arg, ':') == colon) {
		*colon = '\0';	/* host:port, one colon */
		*port = colon + 1;
	} else if (colon && !port_given) {
		return tp_usage(run, "%s: an IPv6 address with a port glued on cannot be told apart; "
		    "write [ADDRESS]:PORT or ADDRESS PORT", arg);
	}
	if (*port && port_given)
		return tp_usage(run, "%s: a port twice (in the address and on its own)", shown);
	if (*port && **port == '\0')
		return tp_usage(run, "%s: empty port", shown);
	return 0;
}

/* HOST PORT, HOST:PORT, [V6]:PORT or [V6] PORT; for -l [ADDRESS] PORT or
 * [ADDRESS:]PORT */
static int
operands(int argc, char **argv, struct tp_config *cfg, struct tp_run *run)
{
	const char *host = NULL, *port = NULL;

	if (argc > 2)
		return tp_usage(run, cfg->listen ? "-l takes [address] port" : "too many arguments");
	if (argc == 0)
		return tp_usage(run, cfg->listen ? "-l needs a port (0 picks a free one)" : "missing host and port");
	if (cfg->listen && argc == 1 && strchr(argv[0], ':') == NULL && argv[0][0] != '[') {
		port = argv[0];	/* -l PORT */
	} else if (address(run, argv[0], argc == 2, &host, &port) != 0) {
		return -1;
	}
	if (argc == 2)
		port = argv[1];
	if (port == NULL)
		return tp_usage(run, "%s: missing port (HOST PORT or HOST:PORT)", host);
	if (host && *host == '\0')
		return tp_usage(run, cfg->listen ? "empty address" : "empty host name");
	cfg->host = host;
	cfg->port = port;
	return check_port(run, cfg->port, cfg->listen);
}

/* Defaults that depend on other options. */
static void
defaults(struct tp_config *cfg, const struct given *g)
{
	if (cfg->listen && !g->on_eof)
		cfg->on_eof = TP_EOF_WAIT;	/* a server's stdin running dry is no goodbye */
	if (cfg->max_tls && cfg->max_tls < TLS1_2_VERSION && !cfg->min_tls)
		cfg->min_tls = cfg->max_tls;	/* asking for an old maximum asks for old versions */
}

/* The combinations refused, in one list: the first that holds is the error. */
static int
combinations(const struct tp_config *cfg, const struct given *g, struct tp_run *run)
{
	const struct {
		bool refused;
		const char *why;
	} rules[] = {
		{ g->grace && cfg->on_eof != TP_EOF_AUTO, cfg->listen && !g->on_eof ?
		    "--eof-grace is for --on-eof=auto (a server waits by default)" : "--eof-grace is for --on-eof=auto" },
		{ g->auto_retry && g->no_auto_retry, "--auto-retry and --no-auto-retry contradict each other" },
		{ cfg->blocking && cfg->io == TP_IO_PAIR, "--blocking with --io=bio-pair: a BIO pair never blocks, "
		    "so there is no blocking write to make" },
		{ cfg->send_only && cfg->recv_only, "--send-only and --recv-only together leave nothing to do" },
		{ cfg->insecure && cfg->listen, "--insecure is for clients: a server does not verify by default" },
		{ cfg->insecure && cfg->npins, "--insecure and --pin contradict each other" },
		{ cfg->npins && (cfg->cafile || cfg->capath),
		    "--pin replaces the chain check: --cafile and --capath would have no effect" },
		{ cfg->npins && cfg->listen, "--pin is for clients" },
		{ cfg->listen && cfg->servername, "--servername is for clients" },
		{ cfg->listen && cfg->capath, "--capath is for clients" },
		{ cfg->listen && cfg->cafile && !cfg->verify_client,
		    "-l uses --cafile only with --verify-client (to check client certificates)" },
		{ cfg->verify_client && !cfg->listen, "--verify-client is for servers (-l)" },
		{ cfg->verify_client && !cfg->cafile,
		    "--verify-client needs --cafile (the CAs that sign client certificates)" },
		{ cfg->allow_client_reneg && !cfg->listen, "--allow-client-renegotiation is for servers (-l)" },
		{ cfg->allow_client_reneg && cfg->no_reneg,
		    "--allow-client-renegotiation and --no-renegotiation contradict each other" },
		{ cfg->key && !cfg->cert, "--key needs --cert" },
		{ cfg->key_pass && !cfg->cert, "--key-pass needs --cert" },
		{ cfg->min_tls && cfg->max_tls && cfg->min_tls > cfg->max_tls, "--min-tls is above --max-tls" },
		{ cfg->key_update_every && cfg->max_tls && cfg->max_tls < TLS1_3_VERSION,
		    "--key-update-every needs TLS 1.3, and --max-tls rules it out" },
		{ cfg->renegotiate_every && cfg->min_tls == TLS1_3_VERSION,
		    "--renegotiate-every needs TLS 1.2, and --min-tls 1.3 rules it out" },
		{ cfg->renegotiate_every && cfg->no_reneg,
		    "--renegotiate-every and --no-renegotiation contradict each other" },
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].refused)
			return tp_usage(run, "%s", rules[i].why);
	return 0;
}

int
tp_options_parse(int argc, char **argv, struct tp_config *cfg, struct tp_run *run)
{
	struct given g = { 0 };
	int c, rc;

	opterr = 0;	/* our words, with our prefix */
	while ((c = getopt_long(argc, argv, ":46bPRs:kw:lvhV", longopts, NULL)) != -1)
		if ((rc = option(c, optarg, argv, cfg, run, &g)) != 0)
			return rc;
	if (operands(argc - optind, argv + optind, cfg, run) != 0)
		return -1;
	defaults(cfg, &g);
	return combinations(cfg, &g, run);
}
