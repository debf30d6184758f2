/* tlspipe: stdin into TLS, TLS into stdout, with OpenSSL's write modes exposed. */
#ifndef TLSPIPE_H
#define TLSPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define TP_VERSION "0.1.0"
#define TP_READ_AHEAD (64 * 1024)	/* what one read() of the socket may bring into OpenSSL */
#define TP_ALPN_MAX 65000	/* --alpn in wire form: what a ClientHello has room for beside its other extensions */
/* The peer's rekeys are paid for by payload: TP_PEER_REKEYS are free, each
 * TP_PEER_REKEY_PRICE bytes moved (both ways) pays for one more, and at most
 * TP_PEER_REKEY_SAVINGS can be saved up. A peer that rekeys with nothing left
 * to pay is refused: each of its rekeys costs us a key derivation, or a whole
 * handshake, and moves nothing. A credit, not a window: our own server
 * catches up on rekeys it owes in a burst, with our writes held meanwhile.
 * Its answers to our own rekeys do not count (tls.c). */
#define TP_PEER_REKEYS 100
#define TP_PEER_REKEY_PRICE 1024
#define TP_PEER_REKEY_SAVINGS 10000

/* Exit status: the EXIT STATUS table of the man page (man/tlspipe.1).
 * tp_fail records the first one; tlserr.c chooses it for TLS failures. */
enum tp_exit {
	TP_EXIT_OK = 0,
	TP_EXIT_IO = 1,		/* I/O or TLS failure after the handshake */
	TP_EXIT_USAGE = 2,	/* bad option, file or combination */
	TP_EXIT_CONNECT = 3,	/* resolve, connect or listen */
	TP_EXIT_HANDSHAKE = 4,	/* handshake, verification, pin, certificate alert */
	TP_EXIT_TRUNC = 5,	/* peer closed TCP without close_notify */
	TP_EXIT_TIMEOUT = 6,
};

enum tp_io { TP_IO_SOCKET, TP_IO_PAIR };
enum tp_on_eof { TP_EOF_AUTO, TP_EOF_NOTIFY, TP_EOF_WAIT, TP_EOF_EXIT };

struct tp_config {
	bool listen;		/* -l: server role */
	const char *host;	/* client: peer; server: bind address */
	const char *port;
	int family;		/* AF_UNSPEC, AF_INET, AF_INET6 */

	/* write modes */
	bool blocking;
	bool partial;
	bool auto_retry;
	enum tp_io io;
	size_t write_size;	/* 0: a whole input chunk per SSL_write */

	/* security */
	const char *cafile, *capath, *servername;
	bool insecure;
	const char *cert, *key, *key_pass;
	bool allow_expired;
	int min_tls, max_tls;	/* TLS1_2_VERSION etc.; 0 = library default */
	const char *ciphers, *ciphersuites, *alpn;

	/* identity and pins */
	const char *pins[8];	/* sha256//BASE64, as curl writes them */
	int npins;
	bool verify_client;

	/* rekeying */
	uint64_t key_update_every, renegotiate_every;	/* bytes; 0 = never */
	bool allow_client_reneg, no_reneg;

	/* data path */
	enum tp_on_eof on_eof;
	long eof_grace_ms;	/* auto: the peer's quiet time before our close_notify */
	bool send_only, recv_only, crlf;
	long timeout_ms;	/* name lookup + connect + handshake; 0 = none */
	long idle_timeout_ms;	/* 0 = none */

	/* what the run says about itself */
	bool verbose, trace, progress;
	const char *stats;	/* --stats FILE, "-" = stderr */
	const char *keylog;	/* --keylog FILE ($SSLKEYLOGFILE is read where it is opened) */
	bool no_sandbox;	/* --no-sandbox: stay unconfined after the handshake */
};

/* Counters for --stats and the closing messages: what happened, never what
 * the loop decides by (that state is the pump's own). */
struct tp_stats {
	uint64_t bytes_in, bytes_out;
	uint64_t ssl_write_calls, ssl_read_calls, partial_writes, want_read, want_write;
	uint64_t rekeys, peer_rekeys;
	long start_us, handshake_us;	/* handshake_us < 0: not done */
	bool peer_close_notify, close_notify_sent;	/* set by the pump as it ends */
};

/* What the TLS layer learned about the connection, for its messages and
 * its exit status: the last failed call as OpenSSL and the system gave it
 * (kept by tp_tls_outcome), and what the handshake's callbacks saw. */
struct tp_tls_note {
	int ssl_error;		/* SSL_get_error of the last failed call */
	unsigned long code;	/* its first queued error: ERR_GET_LIB, ERR_GET_REASON */
	int sys_errno;		/* errno, for SSL_ERROR_SYSCALL */
	int verify_err, verify_depth;	/* the first chain error, X509_V_OK if none; with -k
					 * the one a verifying run would have failed on */
	int expired_days;	/* for an expired certificate: the days since its end */
	char presented[256];	/* the names in that certificate, for a name mismatch */
	int alert_recv, alert_sent;	/* the last alert each way (description), -1 none */
	char alpn_refused[256];	/* server: what the client offered when --alpn had none of it */
	bool pinned;		/* a --pin matched, and what it stands for verified */
	int pin_depth;		/* the pinned certificate's place in the chain sent (0: the leaf) */
	char pin_anchor[256];	/* the subject of a pinned certificate above the leaf:
				 * the chain up to it was checked, and the name */
	char pin_seen[96];	/* the leaf's pin when no sent certificate matched */
	uint64_t answers;	/* the peer's rekeys that answered ours */
	uint64_t rekey_credit;	/* rekeys of the peer's own it may still make */
	uint64_t credit_moved;	/* payload already turned into credit */
	bool rekey_storm;	/* the peer rekeyed with no credit left */
};

/* One run: the config, what it counted, and how it ended. */
struct tp_run {
	const struct tp_config *cfg;
	struct tp_stats st;
	struct tp_tls_note note;
	char peer[128];
	char protocol[32], cipher[64];
	char pin[96];		/* the ephemeral server's pin, for the listening line */
	char reason[1024];	/* why it ended, in words */
	bool told;		/* reason is already on stderr */
	char anchor_dirs[1024];	/* hashed directories OpenSSL reads anchors from on demand */
	bool sandboxed;		/* the sandbox is on (sandbox.c) */
	int exit_code;
	int stats_fd, keylog_fd;	/* -1 when unused */
	bool stats_unwritable;
	bool keylog_failed;	/* a write to the key log failed, and was told */
	off_t input_size;	/* stdin's size when a regular file, else -1 */
	bool progress_tty, progress_drawn;
	long progress_us;
};

/* What one SSL_* I/O call came to: the only vocabulary the pump speaks. */
enum tp_outcome {
	TP_DONE,		/* progress was made (ret > 0, or shutdown sent) */
	TP_WANT_READ,
	TP_WANT_WRITE,
	TP_CLOSED,		/* the peer's close_notify */
	TP_TRUNCATED,		/* TCP EOF without close_notify */
	TP_FAILED,		/* anything else; the record is on the run's note */
};

/* Where the connection stood when a call failed: what the verdict needs
 * besides the note. */
struct tp_phase {
	const char *what;	/* "reading from the connection", ... */
	bool handshaken;
	bool notify_sent;	/* our close_notify is out */
	uint64_t bytes_in, in_at_notify;
};

/* Outbound retry state: in[off, len) is input not yet taken by SSL_write.
 * A write that stopped keeps its length in `call` and what it waits for in
 * `want`, so its retry repeats the identical pointer and length. */
struct tp_out {
	unsigned char *in;
	size_t off, len;
	size_t call;
	enum tp_outcome want;
	size_t last, done;	/* the last call's length and what it took, for --trace */
};

/* options.c: the command line into cfg; -1 with a usage error on the run,
 * 1 when --help or --version has printed its text (exit 0, nothing more) */
int tp_options_parse(int argc, char **argv, struct tp_config *, struct tp_run *);

/* alpn.c: --alpn's list into the wire format (-1 when it is not a
 * comma-separated list of 1..255-byte names that fits outlen); a server's
 * pick, ours first, pointing into `in`; a wire list as words */
int tp_alpn_parse(const char *list, unsigned char *out, size_t outlen, size_t *len);
bool tp_alpn_pick(const unsigned char *ours, size_t ourlen, const unsigned char *in, size_t inlen,
    const unsigned char **out, unsigned char *outlen);
void tp_alpn_text(const unsigned char *in, size_t inlen, char *buf, size_t len);

/* clock.c and signals.c: leaves, calling nothing of ours */
long tp_now_ms(void);
long tp_now_us(void);
void tp_signals_install(void);
int tp_signal_pending(void);	/* the first INT, TERM or HUP, else 0 */
int tp_usr1_pending(void);	/* SIGUSR1 since the last call: rekey now */
int tp_signal_fd(void);		/* readable after a signal: every wait's select() watches it (-1: none) */
void tp_signal_drain(void);	/* once seen readable, before the flags are read */

/* report.c: every word on stderr, and --stats */
void tp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tp_fail(struct tp_run *, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tp_usage(struct tp_run *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_trace(const struct tp_run *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tp_stats_write(struct tp_run *);
void tp_progress(struct tp_run *, bool final);

/* tlserr.c: OpenSSL's error model. tp_tls_outcome maps a call's return and
 * keeps its record on the note; tp_tls_verdict turns the record into the
 * exit status and its message. */
enum tp_outcome tp_tls_outcome(SSL *, int ret);
int tp_tls_verdict(const struct tp_run *, enum tp_outcome, const struct tp_phase *, char *msg, size_t len);
void tp_tls_setup_error(char *err, size_t errlen, const char *what);
void tp_tls_verify_words(const struct tp_run *, char *buf, size_t len);
const char *tp_tls_alert_name(int desc);

/* cert.c: certificates, keys and pins */
int tp_cert_readable(const char *what, const char *path, char *err, size_t errlen);
int tp_cert_load_identity(SSL_CTX *, const struct tp_config *, char *err, size_t errlen);
int tp_cert_ephemeral(SSL_CTX *, char *pin, size_t pinlen, char *err, size_t errlen);
int tp_cert_pin(EVP_PKEY *, char *out, size_t outlen);
int tp_cert_pin_check(const char *pin, char *why, size_t len);
bool tp_cert_pinned(X509 *, const struct tp_config *, char *pin, size_t pinlen);
void tp_cert_names(X509 *, char *buf, size_t len);
void tp_cert_summary(SSL *, const struct tp_run *);

/* keypass.c: --key-pass (pass:, env:VAR, file:PATH, fd:N); no message
 * ever holds the passphrase. check: the form, for options.c; read: the
 * passphrase into pw, its length or -1 with why in err; name: the source as
 * a message may say it. */
int tp_keypass_check(const char *spec, char *why, size_t len);
long tp_keypass_read(const char *spec, char *pw, size_t len, char *err, size_t errlen);
const char *tp_keypass_name(const char *spec, char *buf, size_t len);

/* rekeys.c: one rekey of the peer's, counted and judged against
 * TP_PEER_REKEYS (a leaf: it calls nothing of ours) */
void tp_rekeys_peer(struct tp_run *, SSL *);

/* sandbox.c: confinement once the handshake is done */
bool tp_sandbox_hash_name(const char *name);
void tp_sandbox_enter(struct tp_run *, SSL *, bool renegotiable);
const char *tp_sandbox_kind(void);

/* tls.c: the SSL_CTX and the SSL; failures reported through tp_fail */
SSL_CTX *tp_tls_context(struct tp_run *);
SSL *tp_tls_session(SSL_CTX *, struct tp_run *);

/* net.c: resolve, connect and listen; every socket non-blocking, never fd 0-2.
 * Failures are reported through tp_fail (exit 3, or 6 for a timeout). */
int tp_net_connect(struct tp_run *, long deadline_ms);
int tp_net_listen(struct tp_run *, char *where, size_t wherelen);
int tp_net_accept(struct tp_run *, int lfd);
int tp_net_set_blocking(int fd, bool on);
long tp_net_unsent(int fd);

/* io.c: one SSL_write for the next piece of `o`; TP_DONE when it took bytes */
enum tp_outcome tp_write_once(SSL *, struct tp_out *, size_t write_size, struct tp_stats *);

/* pump.c: the select() loop; returns the run's exit status */
int tp_pump(SSL *, int fd, struct tp_run *, long deadline_ms);

#endif
