/* The SSL_CTX and the SSL object: protocol versions, ALPN, our identity,
 * renegotiation, verification of the peer, and the callbacks that keep the
 * run's note (tlserr.c judges by it) and --trace. Each part of the context
 * is set by a function of its own, in the order tp_tls_context lists. */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tlspipe.h"

static struct tp_run *
run_of(const SSL *ssl)
{
	return ssl ? SSL_get_app_data(ssl) : NULL;
}

static struct tp_run *
run_of_store(X509_STORE_CTX *xs)
{
	return run_of(X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx()));
}

/* ---- callbacks: what the handshake saw, for the note and --trace ---- */

/* The first chain or name error, with the names of the certificate it is
 * about. A client with -k runs the same checks (SSL_VERIFY_NONE verifies
 * and goes on regardless), so -v can say what a verifying run would have
 * failed on. */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	struct tp_run *run = run_of_store(xs);

	if (!ok && run && run->note.verify_err == X509_V_OK) {
		X509 *cur = X509_STORE_CTX_get_current_cert(xs);
		int secs = 0;

		run->note.verify_err = X509_STORE_CTX_get_error(xs);
		run->note.verify_depth = X509_STORE_CTX_get_error_depth(xs);
		if (cur)
			tp_cert_names(cur, run->note.presented, sizeof(run->note.presented));
		if (cur && run->note.verify_err == X509_V_ERR_CERT_HAS_EXPIRED)
			ASN1_TIME_diff(&run->note.expired_days, &secs, X509_get0_notAfter(cur), NULL);
	}
	return ok;
}

/* The chain from the leaf up to `anchor`, a pinned certificate the peer
 * sent, with it as the only trust anchor and the handshake's own parameters
 * (purpose, host name or address): signatures, validity and the name are
 * checked as in any verification, and errors reach the note through
 * verify_cb. On success the handshake keeps the chain. */
static int
verify_to_anchor(X509_STORE_CTX *xs, X509 *anchor)
{
	int idx = SSL_get_ex_data_X509_STORE_CTX_idx();
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vx = X509_STORE_CTX_new();
	int ok = 0;

	if (store && vx && X509_STORE_add_cert(store, anchor) == 1 &&
	    X509_STORE_CTX_init(vx, store, X509_STORE_CTX_get0_cert(xs), X509_STORE_CTX_get0_untrusted(xs)) == 1 &&
	    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(vx), X509_STORE_CTX_get0_param(xs)) == 1 &&
	    X509_STORE_CTX_set_ex_data(vx, idx, X509_STORE_CTX_get_ex_data(xs, idx)) == 1) {
		/* the anchor need not be a root: it is trusted because it is pinned */
		X509_STORE_CTX_set_flags(vx, X509_V_FLAG_PARTIAL_CHAIN);
		X509_STORE_CTX_set_verify_cb(vx, verify_cb);
		ok = X509_verify_cert(vx) == 1;
		X509_STORE_CTX_set_error(xs, X509_STORE_CTX_get_error(vx));
		if (ok)
			X509_STORE_CTX_set0_verified_chain(xs, X509_STORE_CTX_get1_chain(vx));
	} else {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_OUT_OF_MEM);
	}
	X509_STORE_CTX_free(vx);
	X509_STORE_free(store);
	return ok;
}

static void
note_pinned(struct tp_run *run, int depth, X509 *c, const char *pin)
{
	run->note.pinned = true;
	run->note.pin_depth = depth;
	run->note.verify_err = X509_V_OK;	/* a failed try at another pinned certificate */
	if (depth > 0) {
		X509_NAME_oneline(X509_get_subject_name(c), run->note.pin_anchor, sizeof(run->note.pin_anchor));
		tp_trace(run, "pin matched: %s (chain certificate %d, %s; the chain up to it verified)", pin,
		    depth, run->note.pin_anchor);
	} else {
		tp_trace(run, "pin matched: %s", pin);
	}
}

/* --pin, inside the handshake. A leaf key that matches replaces the chain
 * and name checks. A match higher up the chain the peer sent replaces only
 * the trust anchor: a certificate merely present proves nothing (anyone can
 * send a public CA's), so the leaf must chain up to it by signature and
 * validity, and the name is still checked. */
static int
pin_verify(X509_STORE_CTX *xs, void *arg)
{
	const struct tp_config *cfg = arg;
	struct tp_run *run = run_of_store(xs);
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(xs);
	char seen[96] = "", pin[96];
	bool tried = false;

	if (run == NULL)
		return 0;
	if (tp_cert_pinned(leaf, cfg, seen, sizeof(seen))) {
		note_pinned(run, 0, leaf, seen);
		return 1;
	}
	/* a client's chain starts with the leaf: the others keep their places */
	for (int i = 0; i < sk_X509_num(sent); i++) {
		X509 *c = sk_X509_value(sent, i);

		if (X509_cmp(c, leaf) == 0 || !tp_cert_pinned(c, cfg, pin, sizeof(pin)))
			continue;
		/* the message names the first pinned CA tried, as the note keeps its error */
		if (!tried)
			X509_NAME_oneline(X509_get_subject_name(c), run->note.pin_anchor,
			    sizeof(run->note.pin_anchor));
		tp_trace(run, "pin matched chain certificate %d: verifying the chain up to it", i);
		tried = true;
		if (verify_to_anchor(xs, c)) {
			note_pinned(run, i, c, pin);
			return 1;
		}
	}
	if (!tried) {
		snprintf(run->note.pin_seen, sizeof(run->note.pin_seen), "%s", seen[0] ? seen : "(no key)");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	}
	return 0;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct tp_run *run = run_of(ssl);

	if (run == NULL)
		return;
	/* The first handshake's end, seen as it happens: when the peer starts a
	 * renegotiation in the same read (its HelloRequest right behind its
	 * Finished), SSL_is_init_finished is false again by the time SSL_read
	 * returns, and the pump would wait for a handshake long done. */
	if ((where & SSL_CB_HANDSHAKE_DONE) && run->st.handshake_us < 0)
		run->st.handshake_us = tp_now_us() - run->st.start_us;
	if (!(where & SSL_CB_ALERT))
		return;
	if (where & SSL_CB_READ)
		run->note.alert_recv = ret & 0xff;
	else
		run->note.alert_sent = ret & 0xff;
}

/* A key log that cannot be written (a full disk) is told once, not once per
 * secret, and does not change the run's status: the connection is fine. */
static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct tp_run *run = run_of(ssl);
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };

	if (run && run->keylog_fd >= 0 && writev(run->keylog_fd, iov, 2) < 0 && !run->keylog_failed) {
		run->keylog_failed = true;
		tp_warn("warning: cannot write the key log: %s (this session's secrets are not all in it)",
		    strerror(errno));
	}
}

static const char *
hs_name(int type)
{
	switch (type) {
	case 0: return "HelloRequest";
	case 1: return "ClientHello";
	case 2: return "ServerHello";
	case 4: return "NewSessionTicket";
	case 8: return "EncryptedExtensions";
	case 11: return "Certificate";
	case 12: return "ServerKeyExchange";
	case 13: return "CertificateRequest";
	case 14: return "ServerHelloDone";
	case 15: return "CertificateVerify";
	case 16: return "ClientKeyExchange";
	case 20: return "Finished";
	case 24: return "KeyUpdate";
	default: return "handshake message";
	}
}

/* Every handshake message and alert, for --trace and to count the peer's rekeys. */
static void
msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl, void *arg)
{
	struct tp_run *run = run_of(ssl);
	const unsigned char *b = buf;

	(void)version; (void)arg;
	if (run == NULL || len < 1)
		return;
	if (type == SSL3_RT_HANDSHAKE) {
		bool after = run->st.handshake_us >= 0;

		if (!write_p && after && (b[0] == 24 || b[0] == 0 || (b[0] == 1 && SSL_is_server(ssl))))
			tp_rekeys_peer(run, ssl);
		tp_trace(run, "%s %s%s%s", write_p ? "sent" : "received", hs_name(b[0]),
		    b[0] == 24 && len >= 5 ? (b[4] ? " (update requested)" : " (update not requested)") : "",
		    after && b[0] != 4 && b[0] != 24 ? " (renegotiation)" : "");
	} else if (type == SSL3_RT_ALERT && len >= 2) {
		tp_trace(run, "alert %s: %s %s", write_p ? "sent" : "received",
		    b[0] == 1 ? "warning" : "fatal", tp_tls_alert_name(b[1]));
	}
}

/* ---- ALPN (the lists themselves: alpn.c) ---- */

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tp_config *cfg = arg;
	struct tp_run *run = run_of(ssl);
	unsigned char ours[TP_ALPN_MAX];
	size_t ourlen;

	if (tp_alpn_parse(cfg->alpn, ours, sizeof(ours), &ourlen) != 0)
		return SSL_TLSEXT_ERR_NOACK;
	if (tp_alpn_pick(ours, ourlen, in, inlen, out, outlen))
		return SSL_TLSEXT_ERR_OK;
	if (run)
		tp_alpn_text(in, inlen, run->note.alpn_refused, sizeof(run->note.alpn_refused));
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* -l --alpn: a client that offers no ALPN at all is refused too (the ALPN
 * callback is not called for it), with the alert a mismatch gets. */
static int
client_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tp_run *run = run_of(ssl);

	(void)arg;
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, NULL, NULL) == 1)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (run)
		snprintf(run->note.alpn_refused, sizeof(run->note.alpn_refused), "none");
	*al = SSL_AD_NO_APPLICATION_PROTOCOL;
	return SSL_CLIENT_HELLO_ERROR;
}

/* ---- the context, part by part ---- */

/* versions, ciphers and the write modes */
static int
configure_protocol(SSL_CTX *ctx, const struct tp_config *cfg, char *err, size_t errlen)
{
	if (cfg->min_tls && cfg->min_tls < TLS1_2_VERSION) {
		/* old servers need old algorithms: lower the bar for this run only */
		SSL_CTX_set_security_level(ctx, 0);
		tp_warn("warning: TLS below 1.2 allowed; the security level is lowered for this run");
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->min_tls ? cfg->min_tls : TLS1_2_VERSION);
	if (cfg->max_tls)
		SSL_CTX_set_max_proto_version(ctx, cfg->max_tls);
	if (cfg->ciphers && SSL_CTX_set_cipher_list(ctx, cfg->ciphers) != 1) {
		snprintf(err, errlen, "--ciphers %s: no cipher in the list is known", cfg->ciphers);
		return -1;
	}
	if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
		snprintf(err, errlen, "--ciphersuites %s: not a valid TLS 1.3 suite list", cfg->ciphersuites);
		return -1;
	}
	if (cfg->partial)
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->auto_retry)
		SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	else
		SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	/* one read() for many records, instead of two per record (header,
	 * body): a download's recv calls were a third of its time */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TP_READ_AHEAD);
	return 0;
}

/* a client offers the list; a server picks the first of its list offered */
static int
configure_alpn(SSL_CTX *ctx, const struct tp_config *cfg, char *err, size_t errlen)
{
	unsigned char wire[TP_ALPN_MAX];
	size_t len;

	if (cfg->alpn == NULL)
		return 0;
	if (tp_alpn_parse(cfg->alpn, wire, sizeof(wire), &len) != 0) {
		snprintf(err, errlen, "--alpn %s: expected a comma-separated list of protocol names", cfg->alpn);
		return -1;
	}
	if (cfg->listen) {
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)cfg);
		SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
	} else
		SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)len);
	return 0;
}

/* --cert/--key, or for -l without them an ephemeral identity. OpenSSL 3.0
 * signs no TLS 1.3 handshake with a DSA key, and a server offers no DSA
 * cipher suite for TLS 1.2 (DHE-DSS is not in the defaults, and needs DH
 * parameters): a DSA identity serves only a TLS 1.2 client, and anything
 * else would fail in the handshake with words about something else. */
static int
configure_identity(SSL_CTX *ctx, struct tp_run *run, char *err, size_t errlen)
{
	const struct tp_config *cfg = run->cfg;
	X509 *x;

	if (!cfg->cert)
		return cfg->listen ? tp_cert_ephemeral(ctx, run->pin, sizeof(run->pin), err, errlen) : 0;
	if (tp_cert_load_identity(ctx, cfg, err, errlen) != 0)
		return -1;
	if ((x = SSL_CTX_get0_certificate(ctx)) == NULL || !EVP_PKEY_is_a(X509_get0_pubkey(x), "DSA"))
		return 0;
	if (cfg->listen)
		snprintf(err, errlen, "--cert %s: its key is DSA, which a server cannot use (TLS 1.3 has no DSA, "
		    "and OpenSSL offers no DSA cipher suite for TLS 1.2)", cfg->cert);
	else if (cfg->max_tls == 0 || cfg->max_tls > TLS1_2_VERSION)
		snprintf(err, errlen, "--cert %s: its key is DSA, which TLS 1.3 cannot sign with: add --max-tls 1.2",
		    cfg->cert);
	else
		return 0;
	return -1;
}

/* renegotiation policy and the callbacks */
static void
configure_events(SSL_CTX *ctx, const struct tp_run *run)
{
	if (run->cfg->no_reneg)
		SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (run->cfg->allow_client_reneg)
		SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	if (run->keylog_fd >= 0)
		SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	SSL_CTX_set_info_callback(ctx, info_cb);
}

/* DIRS (colon-separated, as OpenSSL reads $SSL_CERT_DIR) holds a subject
 * hash link, 8 hex digits, a dot and a number: OpenSSL can look an anchor
 * up there by name. */
static bool
hashed_dir(const char *dirs)
{
	char path[4096];

	while (*dirs != '\0') {
		size_t len = strcspn(dirs, ":");
		DIR *d;
		struct dirent *e;
		bool found = false;

		if (len > 0 && len < sizeof(path)) {
			memcpy(path, dirs, len);
			path[len] = '\0';
			if ((d = opendir(path)) != NULL) {
				while (!found && (e = readdir(d)) != NULL)
					found = tp_sandbox_hash_name(e->d_name);
				closedir(d);
			}
		}
		if (found)
			return true;
		dirs += len + (dirs[len] == ':');
	}
	return false;
}

/* The system store. From its hashed directory OpenSSL reads each anchor as
 * a chain needs it; parsing the whole bundle (some 140 certificates) cost
 * every connection about 30 ms, more than its handshake. Debian writes the
 * directory and the bundle from one list (update-ca-certificates), so the
 * directory trusts the same CAs. A $SSL_CERT_FILE naming another file
 * than the system's bundle is read as well (many images set it to the
 * bundle itself); without hash links the bundle is all there is. */
static int
load_system_store(SSL_CTX *ctx, struct tp_run *run)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());
	char *mine = NULL, *sys = NULL;
	bool other_file = false;

	if (file != NULL && *file != '\0') {
		mine = realpath(file, NULL);
		sys = realpath(X509_get_default_cert_file(), NULL);
		other_file = mine == NULL || sys == NULL || strcmp(mine, sys) != 0;
		free(mine);
		free(sys);
	}
	if (dir == NULL)
		dir = X509_get_default_cert_dir();
	if (!hashed_dir(dir))
		return SSL_CTX_set_default_verify_paths(ctx);
	/* either way OpenSSL reads the directory on demand */
	snprintf(run->anchor_dirs, sizeof(run->anchor_dirs), "%s", dir);
	if (other_file)
		return SSL_CTX_set_default_verify_paths(ctx);
	return SSL_CTX_load_verify_dir(ctx, dir);
}

/* The trust anchors: --cafile and --capath, or the system's store. */
static int
load_cas(SSL_CTX *ctx, struct tp_run *run, char *err, size_t errlen)
{
	const struct tp_config *cfg = run->cfg;
	struct stat sb;
	char what[512];

	if (cfg->cafile && tp_cert_readable("--cafile", cfg->cafile, err, errlen))
		return -1;
	if (cfg->capath && tp_cert_readable("--capath", cfg->capath, err, errlen))
		return -1;
	/* OpenSSL takes a file as a directory and finds nothing in it: the
	 * handshake would then fail on an untrusted chain, far from the cause */
	if (cfg->capath && stat(cfg->capath, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "--capath %s: not a directory", cfg->capath);
		return -1;
	}
	if (cfg->cafile == NULL && cfg->capath == NULL) {
		if (load_system_store(ctx, run) == 1)
			return 0;
		tp_tls_setup_error(err, errlen, "cannot load the system trust store");
		return -1;
	}
	if (cfg->capath)
		snprintf(run->anchor_dirs, sizeof(run->anchor_dirs), "%s", cfg->capath);
	if (SSL_CTX_load_verify_locations(ctx, cfg->cafile, cfg->capath) == 1)
		return 0;
	snprintf(what, sizeof(what), "%s %s: no certificate could be loaded", cfg->cafile ? "--cafile" : "--capath",
	    cfg->cafile ? cfg->cafile : cfg->capath);
	tp_tls_setup_error(err, errlen, what);
	return -1;
}

/* A client verifies the server (or its pin); a server with --verify-client
 * asks for a client certificate from the CAs it names. */
static int
configure_verify(SSL_CTX *ctx, struct tp_run *run, char *err, size_t errlen)
{
	const struct tp_config *cfg = run->cfg;
	STACK_OF(X509_NAME) *names;

	if (cfg->listen && !cfg->verify_client)
		return 0;
	if (load_cas(ctx, run, err, errlen) != 0)
		return -1;
	if (!cfg->listen) {
		SSL_CTX_set_verify(ctx, cfg->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, verify_cb);
		if (cfg->npins > 0)
			SSL_CTX_set_cert_verify_callback(ctx, pin_verify, (void *)cfg);
		return 0;
	}
	names = SSL_load_client_CA_file(cfg->cafile);
	if (names == NULL) {
		char what[512];

		snprintf(what, sizeof(what), "--cafile %s: no certificate could be loaded", cfg->cafile);
		tp_tls_setup_error(err, errlen, what);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	return 0;
}

SSL_CTX *
tp_tls_context(struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	char err[1024];

	if (ctx == NULL) {
		tp_tls_setup_error(err, sizeof(err), "cannot create a TLS context");
	} else if (configure_protocol(ctx, cfg, err, sizeof(err)) == 0 &&
	    configure_alpn(ctx, cfg, err, sizeof(err)) == 0 &&
	    configure_identity(ctx, run, err, sizeof(err)) == 0 &&
	    configure_verify(ctx, run, err, sizeof(err)) == 0) {
		configure_events(ctx, run);
		return ctx;
	}
	SSL_CTX_free(ctx);
	tp_fail(run, TP_EXIT_USAGE, "%s", err);
	return NULL;
}

/* ---- the connection ---- */

static bool
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* the host name or IP address the certificate must be for */
static int
check_name(SSL *ssl, const char *name)
{
	if (is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	return SSL_set1_host(ssl, name);
}

/* The SSL object, with the run as its app data (the callbacks' way back to
 * the note); a client sends SNI for a name and checks the name or address. */
SSL *
tp_tls_session(SSL_CTX *ctx, struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	SSL *ssl = SSL_new(ctx);
	const char *name = cfg->servername ? cfg->servername : cfg->host;

	if (ssl == NULL) {
		tp_fail(run, TP_EXIT_IO, "cannot create a TLS session");
		return NULL;
	}
	SSL_set_app_data(ssl, run);
	run->note = (struct tp_tls_note){ .verify_err = X509_V_OK, .alert_recv = -1, .alert_sent = -1,
	    .rekey_credit = TP_PEER_REKEYS };
	if (cfg->listen) {
		SSL_set_accept_state(ssl);
		return ssl;
	}
	if (!is_ip(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
		goto bad;
	/* with -k the name is checked too, for -v only: a name OpenSSL cannot
	 * check is no error then, as it was never needed */
	if (check_name(ssl, name) != 1 && !cfg->insecure)
		goto bad;
	ERR_clear_error();
	SSL_set_connect_state(ssl);
	return ssl;
bad:
	tp_fail(run, TP_EXIT_USAGE, "--servername %s: not usable as a host name", name);
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}
