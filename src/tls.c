/* The SSL_CTX and SSL objects, certificate checks, and the one place that
 * knows OpenSSL's error model (tp_tls_outcome). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "tlspipe.h"

/* What the callbacks learn during a connection, kept for the messages. */
struct tp_tls_note {
	int verify_err;		/* first chain error, X509_V_OK if none */
	int verify_depth;
	char presented[256];	/* names in the leaf, for a name mismatch */
	int alert_recv;		/* last alert received (description), -1 none */
	int alert_sent;
	bool pinned;		/* the leaf matched a --pin */
	char pin_seen[96];	/* the leaf's pin when none matched */
	struct tp_run *run;
};

static int note_index = -1;

static struct tp_tls_note *
note_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, note_index);
}

static void
note_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

static void
errfmt(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}

static int
parse_alpn(const char *list, unsigned char *out, size_t outlen, size_t *len)
{
	size_t n = 0;
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 0 || l > 255 || n + 1 + l > outlen)
			return -1;
		out[n++] = (unsigned char)l;
		memcpy(out + n, p, l);
		n += l;
		p += l + (e != NULL);
		if (e && *p == '\0')
			return -1;
	}
	*len = n;
	return n ? 0 : -1;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	const struct tp_config *cfg = arg;
	unsigned char ours[512];
	size_t ourlen;

	(void)ssl;
	if (parse_alpn(cfg->alpn, ours, sizeof(ours), &ourlen) != 0)
		return SSL_TLSEXT_ERR_NOACK;
	/* our order wins: the first of our list the client offers */
	for (size_t i = 0; i < ourlen; i += 1 + ours[i])
		for (unsigned int j = 0; j < inlen; j += 1u + in[j])
			if (ours[i] == in[j] && memcmp(ours + i + 1, in + j + 1, ours[i]) == 0) {
				*out = in + j + 1;
				*outlen = in[j];
				return SSL_TLSEXT_ERR_OK;
			}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* OpenSSL 3.0 has no words for the TLS 1.3 alerts */
static const char *
alert_name(int desc)
{
	switch (desc) {
	case 109: return "missing extension";
	case 115: return "unknown PSK identity";
	case 116: return "certificate required";
	case 120: return "no application protocol";
	default: return SSL_alert_desc_string_long(desc);
	}
}

static void
leaf_names(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && n < len; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN] = "";

		if (g->type == GEN_DNS) {
			n += snprintf(buf + n, len - n, "%s%.*s", n ? ", " : "",
			    ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);

			inet_ntop(l == 16 ? AF_INET6 : AF_INET, d, ip, sizeof(ip));
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(gens);
	if (n == 0) {
		X509_NAME *s = X509_get_subject_name(x);
		int cn = X509_NAME_get_text_by_NID(s, NID_commonName, buf, (int)len);

		if (cn < 0)
			snprintf(buf, len, "(no names)");
	}
}

static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tp_tls_note *n = ssl ? note_of(ssl) : NULL;

	if (!ok && n && n->verify_err == X509_V_OK) {
		X509 *cur = X509_STORE_CTX_get_current_cert(xs);

		n->verify_err = X509_STORE_CTX_get_error(xs);
		n->verify_depth = X509_STORE_CTX_get_error_depth(xs);
		if (cur)
			leaf_names(cur, n->presented, sizeof(n->presented));
	}
	return ok;
}

static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct tp_tls_note *n = note_of((SSL *)ssl);

	if (n == NULL || !(where & SSL_CB_ALERT))
		return;
	if (where & SSL_CB_READ)
		n->alert_recv = ret & 0xff;
	else
		n->alert_sent = ret & 0xff;
}

static int
key_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *spec = u, *pw = NULL;
	char line[1024];

	(void)rwflag;
	if (spec == NULL)
		return -1;	/* never prompt: stdin is payload */
	if (strncmp(spec, "env:", 4) == 0) {
		pw = getenv(spec + 4);
	} else if (strncmp(spec, "file:", 5) == 0) {
		FILE *f = fopen(spec + 5, "r");

		if (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = '\0';
			pw = line;
		}
		if (f)
			fclose(f);
	}
	if (pw == NULL || (int)strlen(pw) >= size)
		return -1;
	memcpy(buf, pw, strlen(pw));
	return (int)strlen(pw);
}

/* A local file we were given must exist and be readable: say which one. */
static int
check_file(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
load_identity(SSL_CTX *ctx, const struct tp_config *cfg, char *err, size_t errlen)
{
	const char *key = cfg->key ? cfg->key : cfg->cert;
	X509 *x;

	if (check_file("--cert", cfg->cert, err, errlen) || check_file("--key", key, err, errlen))
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
		char what[512];

		snprintf(what, sizeof(what), "--cert %s: not a PEM certificate", cfg->cert);
		errfmt(err, errlen, what);
		return -1;
	}
	SSL_CTX_set_default_passwd_cb(ctx, key_pass_cb);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)cfg->key_pass);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		char what[512];

		snprintf(what, sizeof(what), "--key %s: cannot load the private key%s", key,
		    cfg->key_pass ? "" : " (encrypted? use --key-pass)");
		errfmt(err, errlen, what);
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "--key %s: does not match the certificate in %s", key, cfg->cert);
		ERR_clear_error();
		return -1;
	}
	x = SSL_CTX_get0_certificate(ctx);
	if (x && !cfg->allow_expired && X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		snprintf(err, errlen, "--cert %s: the certificate has expired (--allow-expired to use it anyway)",
		    cfg->cert);
		return -1;
	}
	return 0;
}

/* curl's pin format: sha256// + base64 of the SHA-256 of the DER public key */
static int
pin_of(EVP_PKEY *key, char *out, size_t outlen)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH], b64[64];
	int len = i2d_PUBKEY(key, &der);

	if (len <= 0)
		return -1;
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	EVP_EncodeBlock(b64, md, sizeof(md));
	snprintf(out, outlen, "sha256//%s", (const char *)b64);
	return 0;
}

int
tp_tls_pin_check(const char *pin)
{
	unsigned char md[64];
	const char *b = pin + 8;

	/* 32 bytes of SHA-256 are 44 base64 characters ending in '=' */
	if (strncmp(pin, "sha256//", 8) != 0 || strlen(b) != 44 || b[43] != '=' ||
	    strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != 44)
		return -1;
	return EVP_DecodeBlock(md, (const unsigned char *)b, 44) == 33 ? 0 : -1;
}

static int
pin_verify(X509_STORE_CTX *xs, void *arg)
{
	struct tp_run *run = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tp_tls_note *n = ssl ? note_of(ssl) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	char seen[96] = "";

	if (leaf && pin_of(X509_get0_pubkey(leaf), seen, sizeof(seen)) == 0)
		for (int i = 0; i < run->cfg->npins; i++)
			if (strcmp(seen, run->cfg->pins[i]) == 0) {
				if (n)
					n->pinned = true;
				tp_trace(run, "pin matched: %s", seen);
				return 1;
			}
	if (n)
		snprintf(n->pin_seen, sizeof(n->pin_seen), "%s", seen[0] ? seen : "(no key)");
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* -l without --cert: a fresh P-256 key and a self-signed certificate, made in
 * memory; clients check it by the pin printed in the listening line. */
static int
ephemeral_identity(SSL_CTX *ctx, struct tp_run *run, char *err, size_t errlen)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (key == NULL || x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_get_subject_name(x);
	if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 7L * 24 * 3600) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tlspipe ephemeral",
	    -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
	    !X509_sign(x, key, EVP_sha256()) ||
	    SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    pin_of(key, run->pin, sizeof(run->pin)) != 0)
		goto out;
	ok = 1;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	if (!ok)
		errfmt(err, errlen, "cannot make an ephemeral certificate");
	return ok ? 0 : -1;
}

static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct tp_tls_note *n = note_of((SSL *)ssl);
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };

	if (n && n->run->keylog_fd >= 0 && writev(n->run->keylog_fd, iov, 2) < 0)
		tp_warn("--keylog: %s", strerror(errno));
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
	struct tp_tls_note *n = note_of(ssl);
	const unsigned char *b = buf;

	(void)version; (void)arg;
	if (n == NULL || len < 1)
		return;
	if (type == SSL3_RT_HANDSHAKE) {
		bool after = n->run->st.handshake_us >= 0;

		if (!write_p && after && (b[0] == 24 || b[0] == 0 || (b[0] == 1 && SSL_is_server(ssl))))
			n->run->st.peer_rekeys++;
		tp_trace(n->run, "%s %s%s%s", write_p ? "sent" : "received", hs_name(b[0]),
		    b[0] == 24 && len >= 5 ? (b[4] ? " (update requested)" : " (update not requested)") : "",
		    after && b[0] != 4 && b[0] != 24 ? " (renegotiation)" : "");
	} else if (type == SSL3_RT_ALERT && len >= 2) {
		tp_trace(n->run, "alert %s: %s %s", write_p ? "sent" : "received",
		    b[0] == 1 ? "warning" : "fatal", alert_name(b[1]));
	}
}

static SSL_CTX *context(struct tp_run *run, char *err, size_t errlen);

SSL_CTX *
tp_tls_context(struct tp_run *run)
{
	char err[1024];
	SSL_CTX *ctx = context(run, err, sizeof(err));

	if (ctx == NULL)
		tp_fail(run, TP_EXIT_USAGE, "%s", err);
	return ctx;
}

static SSL_CTX *
context(struct tp_run *run, char *err, size_t errlen)
{
	const struct tp_config *cfg = run->cfg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	long mode;

	if (ctx == NULL) {
		errfmt(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (note_index < 0)
		note_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, note_free);

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
		goto fail;
	}
	if (cfg->ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->ciphersuites) != 1) {
		snprintf(err, errlen, "--ciphersuites %s: not a valid TLS 1.3 suite list", cfg->ciphersuites);
		goto fail;
	}

	mode = 0;
	if (cfg->partial)
		mode |= SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
	SSL_CTX_set_mode(ctx, mode);
	if (cfg->auto_retry)
		SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	else
		SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	/* one read() per record instead of two (header, body) */
	SSL_CTX_set_read_ahead(ctx, 1);

	if (cfg->alpn) {
		unsigned char wire[512];
		size_t len;

		if (parse_alpn(cfg->alpn, wire, sizeof(wire), &len) != 0) {
			snprintf(err, errlen, "--alpn %s: expected a comma-separated list of protocol names",
			    cfg->alpn);
			goto fail;
		}
		if (cfg->listen)
			SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)cfg);
		else
			SSL_CTX_set_alpn_protos(ctx, wire, (unsigned int)len);
	}

	if (cfg->cert && load_identity(ctx, cfg, err, errlen) != 0)
		goto fail;
	if (cfg->listen && !cfg->cert && ephemeral_identity(ctx, run, err, errlen) != 0)
		goto fail;
	if (cfg->no_reneg)
		SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (cfg->allow_client_reneg)
		SSL_CTX_set_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	if (run->keylog_fd >= 0)
		SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	SSL_CTX_set_msg_callback(ctx, msg_cb);

	if (cfg->listen && cfg->verify_client) {
		STACK_OF(X509_NAME) *names;

		if (check_file("--cafile", cfg->cafile, err, errlen))
			goto fail;
		names = SSL_load_client_CA_file(cfg->cafile);
		if (names == NULL || SSL_CTX_load_verify_locations(ctx, cfg->cafile, NULL) != 1) {
			char what[512];

			sk_X509_NAME_pop_free(names, X509_NAME_free);
			snprintf(what, sizeof(what), "--cafile %s: no certificate could be loaded", cfg->cafile);
			errfmt(err, errlen, what);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	}
	if (!cfg->listen) {
		if (cfg->cafile && check_file("--cafile", cfg->cafile, err, errlen))
			goto fail;
		if (cfg->capath && check_file("--capath", cfg->capath, err, errlen))
			goto fail;
		if (cfg->cafile || cfg->capath) {
			if (SSL_CTX_load_verify_locations(ctx, cfg->cafile, cfg->capath) != 1) {
				char what[512];

				snprintf(what, sizeof(what), "--cafile %s: no certificate could be loaded",
				    cfg->cafile ? cfg->cafile : cfg->capath);
				errfmt(err, errlen, what);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			errfmt(err, errlen, "cannot load the system trust store");
			goto fail;
		}
		SSL_CTX_set_verify(ctx, cfg->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, verify_cb);
		/* a pin replaces the chain and name checks, inside the handshake */
		if (cfg->npins > 0)
			SSL_CTX_set_cert_verify_callback(ctx, pin_verify, run);
	}
	SSL_CTX_set_info_callback(ctx, info_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static bool
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

SSL *
tp_tls_session(SSL_CTX *ctx, struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	SSL *ssl = SSL_new(ctx);
	struct tp_tls_note *n = calloc(1, sizeof(*n));

	if (ssl == NULL || n == NULL) {
		free(n);
		SSL_free(ssl);
		tp_fail(run, TP_EXIT_IO, "cannot create a TLS session");
		return NULL;
	}
	n->alert_recv = n->alert_sent = -1;
	n->run = run;
	SSL_set_ex_data(ssl, note_index, n);

	if (cfg->listen) {
		SSL_set_accept_state(ssl);
		return ssl;
	}
	const char *name = cfg->servername ? cfg->servername : cfg->host;

	if (!is_ip(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
		goto bad;
	if (!cfg->insecure) {
		if (is_ip(name)) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
				goto bad;
		} else if (SSL_set1_host(ssl, name) != 1) {
			goto bad;
		}
	}
	SSL_set_connect_state(ssl);
	return ssl;
bad:
	tp_fail(run, TP_EXIT_USAGE, "--servername %s: not usable as a host name", name);
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

enum tp_outcome
tp_tls_outcome(SSL *ssl, int ret, char *why, size_t whylen)
{
	int e = SSL_get_error(ssl, ret);
	int saved = errno;
	unsigned long q = ERR_peek_error();

	switch (e) {
	case SSL_ERROR_NONE:
		return TP_DONE;
	case SSL_ERROR_WANT_READ:
		return TP_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TP_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(why, whylen, "the peer closed the connection (close_notify)");
		return TP_CLOSED;
	case SSL_ERROR_SYSCALL:
		if (q == 0) {
			snprintf(why, whylen, "%s", saved ? strerror(saved) : "connection closed");
			return saved ? TP_FAILED : TP_TRUNCATED;
		}
		break;
	case SSL_ERROR_SSL:
		/* 3.0 reports TCP EOF without close_notify as an SSL error */
		if (ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			snprintf(why, whylen, "peer closed the connection without close_notify");
			ERR_clear_error();
			return TP_TRUNCATED;
		}
		break;
	default:
		break;
	}
	if (q) {
		const char *r = ERR_reason_error_string(q);

		snprintf(why, whylen, "%s", r ? r : "TLS error");
	} else {
		snprintf(why, whylen, "TLS error %d", e);
	}
	ERR_clear_error();
	return TP_FAILED;
}

bool
tp_tls_cert_alert(SSL *ssl)
{
	struct tp_tls_note *n = note_of(ssl);

	if (n == NULL)
		return false;
	switch (n->alert_recv) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_CERTIFICATE_REQUIRED:
	case SSL_AD_ACCESS_DENIED:
		return true;
	default:
		return false;
	}
}

/* Why the handshake failed, in words a person can act on. `why` holds the
 * outcome's reason on entry and the full message on return. */
void
tp_tls_failure(SSL *ssl, const struct tp_config *cfg, char *why, size_t whylen)
{
	struct tp_tls_note *n = note_of(ssl);
	char base[256];

	snprintf(base, sizeof(base), "%s", why);
	if (n && n->pin_seen[0]) {
		snprintf(why, whylen, "pin mismatch: expected %s%s, the server presented %s", cfg->pins[0],
		    cfg->npins > 1 ? " (or another --pin)" : "", n->pin_seen);
	} else if (n && n->verify_err != X509_V_OK) {
		const char *name = cfg->servername ? cfg->servername : cfg->host;

		if (n->verify_err == X509_V_ERR_HOSTNAME_MISMATCH || n->verify_err == X509_V_ERR_IP_ADDRESS_MISMATCH)
			snprintf(why, whylen, "certificate verify failed: %s: expected %s, the certificate is for %s",
			    X509_verify_cert_error_string(n->verify_err), name, n->presented);
		else
			snprintf(why, whylen, "certificate verify failed: %s (depth %d)",
			    X509_verify_cert_error_string(n->verify_err), n->verify_depth);
	} else if (n && n->alert_recv >= 0) {
		snprintf(why, whylen, "the peer sent alert %s", alert_name(n->alert_recv));
	} else if (strstr(base, "wrong version number") || strstr(base, "packet length too long") ||
	    strstr(base, "record layer failure") || strstr(base, "http request")) {
		snprintf(why, whylen, "the peer does not speak TLS (%s)", base);
	} else if (strstr(base, "unsupported protocol")) {
		snprintf(why, whylen, "no TLS version in common (%s)", base);
	}
}

static void
asn1_date(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
}

/* -v: what a person checks first when a TLS server misbehaves */
void
tp_tls_summary(SSL *ssl, const struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	struct tp_tls_note *n = note_of(ssl);
	X509 *x = SSL_get1_peer_certificate(ssl);
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	long vr = SSL_get_verify_result(ssl);
	const char *who = cfg->listen ? "client" : "server";

	SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
	tp_warn("connected %s %s", cfg->listen ? "from" : "to", run->peer);
	tp_warn("protocol %s, cipher %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	if (alpnlen)
		tp_warn("ALPN %.*s", (int)alpnlen, (const char *)alpn);
	else if (cfg->alpn)
		tp_warn("ALPN: none agreed");
	if (x) {
		char subj[256], iss[256], nb[40], na[40], pin[96] = "";
		int days = 0, secs = 0;

		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof(iss));
		asn1_date(X509_get0_notBefore(x), nb, sizeof(nb));
		asn1_date(X509_get0_notAfter(x), na, sizeof(na));
		ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
		pin_of(X509_get0_pubkey(x), pin, sizeof(pin));
		tp_warn("%s certificate: subject %s", who, subj);
		tp_warn("issuer %s", iss);
		tp_warn("valid from %s until %s (%d days left)", nb, na, days);
		tp_warn("pin %s", pin);
		X509_free(x);
	} else {
		tp_warn("no %s certificate", who);
	}
	if (cfg->insecure)
		tp_warn("verification: skipped (--insecure)");
	else if (n && n->pinned)
		tp_warn("verification: ok (pinned public key)");
	else if (!cfg->listen || cfg->verify_client)
		tp_warn("verification: %s", X509_verify_cert_error_string(vr));
	tp_warn("session %s", SSL_session_reused(ssl) ? "resumed" : "new (not resumed)");
}
