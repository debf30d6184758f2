/* Certificates and keys: our identity (from files, or made in memory for
 * -l), public-key pins, the names a certificate holds, and the -v summary
 * of the peer's. */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12err.h>
#include <openssl/proverr.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "tlspipe.h"

/* A local file we were given must exist and be readable: say which one. */
int
tp_cert_readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s %s: cannot read it: %s", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* --cert and --key name files: a directory reads as nothing, which would
 * pass for "not PEM" */
static int
file_readable(const char *what, const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (tp_cert_readable(what, path, err, errlen) != 0)
		return -1;
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s %s: a directory, not a file", what, path);
		return -1;
	}
	return 0;
}

/* What the passphrase callback saw: the passphrase (NULL without
 * --key-pass), and whether OpenSSL asked for one: then the key is encrypted. */
struct key_pass {
	const char *pw;
	size_t len;
	bool asked;
};

/* never a prompt, since stdin is payload: without --key-pass the answer is no */
static int
key_pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct key_pass *kp = u;

	(void)rwflag;
	if (kp == NULL)
		return -1;
	kp->asked = true;
	if (kp->pw == NULL || kp->len >= (size_t)size)
		return -1;
	memcpy(buf, kp->pw, kp->len);
	return (int)kp->len;
}

/* A wrong passphrase ends in the padding check of the decryption, or, one
 * time in 256 when the padding happens to pass, in decoding what came out. */
static bool
wrong_passphrase(unsigned long e)
{
	int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);

	return (lib == ERR_LIB_EVP && r == EVP_R_BAD_DECRYPT) || (lib == ERR_LIB_PROV && r == PROV_R_BAD_DECRYPT) ||
	    (lib == ERR_LIB_PEM && r == PEM_R_BAD_DECRYPT) ||
	    (lib == ERR_LIB_PKCS12 && (r == PKCS12_R_PKCS12_CIPHERFINAL_ERROR || r == PKCS12_R_DECODE_ERROR)) ||
	    lib == ERR_LIB_ASN1;
}

/* a PEM label of a private key: PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY, ... */
static bool
key_label(const char *name)
{
	size_t n = strlen(name);

	return n >= 11 && strcmp(name + n - 11, "PRIVATE KEY") == 0;
}

/* The PEM blocks of b, from its start: how many, how many `kind` wants,
 * and the label of the first. Returns the error that ended the scan:
 * PEM_R_NO_START_LINE is the end of the file, anything else a damaged block. */
static unsigned long
scan_pem(BIO *b, bool (*kind)(const char *), int *found, char *first, size_t firstlen)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n;
	int blocks = 0;

	ERR_clear_error();
	(void)BIO_reset(b);
	*found = 0;
	while (PEM_read_bio(b, &name, &header, &data, &n) == 1) {
		if (blocks++ == 0)
			snprintf(first, firstlen, "%s", name);
		*found += kind(name);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
	}
	if (blocks == 0)
		first[0] = '\0';
	return ERR_peek_last_error();
}

static bool
pem_end(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* No key came out, and no passphrase was the cause: no PEM at all, PEM
 * without a key, or a key (or a block) that is damaged. `first` is the
 * error of the key's own read, for the last case. */
static void
no_key_words(BIO *b, unsigned long first, char *buf, size_t len)
{
	char label[64];
	int keys;
	unsigned long e = scan_pem(b, key_label, &keys, label, sizeof(label));

	if (!pem_end(e))
		snprintf(buf, len, "a damaged PEM block: %s", ERR_reason_error_string(e));
	else if (label[0] == '\0')
		snprintf(buf, len, "not PEM (no -----BEGIN line)");
	else if (keys == 0)
		snprintf(buf, len, "no private key in the file");
	else
		snprintf(buf, len, "cannot read the private key: %s", first ? ERR_reason_error_string(first) : "unknown");
}

/* Why the key could not be read, from what the callback saw and the reason codes. */
static void
key_words(BIO *b, const struct key_pass *kp, const struct tp_config *cfg, char *buf, size_t len)
{
	unsigned long e, first = ERR_peek_error(), last = ERR_peek_last_error();
	bool wrong = false;
	char src[512];

	while ((e = ERR_get_error()) != 0)
		wrong = wrong || wrong_passphrase(e);
	if (b == NULL && ERR_GET_LIB(last) == ERR_LIB_SYS)
		snprintf(buf, len, "cannot read it: %s", strerror(ERR_GET_REASON(last)));
	else if (b == NULL)
		snprintf(buf, len, "cannot read it");
	else if (kp->asked && kp->pw == NULL)
		snprintf(buf, len, "the key is encrypted: give its passphrase with --key-pass");
	else if (kp->asked && wrong)
		snprintf(buf, len, "wrong passphrase (from --key-pass %s)",
		    tp_keypass_name(cfg->key_pass, src, sizeof(src)));
	else
		no_key_words(b, first, buf, len);
}

/* The private key, read here rather than by SSL_CTX_use_PrivateKey_file so
 * that each way it fails has its own words, naming the option the user
 * passed: --key, or --cert when it holds the key too. The passphrase lives
 * on this stack only, and is wiped after the read. */
static EVP_PKEY *
read_key(const struct tp_config *cfg, char *err, size_t errlen)
{
	const char *opt = cfg->key ? "--key" : "--cert", *path = cfg->key ? cfg->key : cfg->cert;
	struct key_pass kp = { 0 };
	char pw[1024], why[512];
	EVP_PKEY *pkey = NULL;
	long n;
	BIO *b;

	if (cfg->key_pass) {
		n = tp_keypass_read(cfg->key_pass, pw, sizeof(pw), err, errlen);
		if (n < 0)
			return NULL;
		kp.pw = pw;
		kp.len = (size_t)n;
	}
	ERR_clear_error();
	b = BIO_new_file(path, "r");
	if (b != NULL)
		pkey = PEM_read_bio_PrivateKey(b, NULL, key_pass_cb, &kp);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (pkey == NULL) {
		key_words(b, &kp, cfg, why, sizeof(why));
		snprintf(err, errlen, "%s %s: %s", opt, path, why);
	}
	BIO_free(b);
	ERR_clear_error();
	return pkey;
}

/* The key must be the certificate's: by reason code, a mismatch in words. */
static int
key_matches(X509 *x, EVP_PKEY *pkey, const struct tp_config *cfg, char *err, size_t errlen)
{
	unsigned long e;
	char what[512];

	ERR_clear_error();
	if (X509_check_private_key(x, pkey) == 1)
		return 0;
	e = ERR_peek_error();
	if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
	    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
		if (cfg->key)
			snprintf(err, errlen, "--key %s: the key does not match the certificate in --cert %s",
			    cfg->key, cfg->cert);
		else
			snprintf(err, errlen, "--cert %s: the private key in it does not match its certificate", cfg->cert);
		ERR_clear_error();
		return -1;
	}
	snprintf(what, sizeof(what), "%s %s: cannot check the key against the certificate",
	    cfg->key ? "--key" : "--cert", cfg->key ? cfg->key : cfg->cert);
	tp_tls_setup_error(err, errlen, what);
	return -1;
}


/* the chain file must not prompt either, whatever it holds */
static int
no_prompt(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static bool
cert_label(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "TRUSTED CERTIFICATE") == 0 ||
	    strcmp(name, "X509 CERTIFICATE") == 0;
}

/* Why --cert could not be used, `e` the load's last error: not PEM, PEM of
 * another kind (a key, a request), a damaged block, or a certificate whose
 * key TLS cannot use (a type that cannot sign, or too weak for OpenSSL's
 * security level): "not a PEM certificate" would send the user looking in
 * the wrong place. */
static void
cert_words(const char *path, unsigned long e, char *buf, size_t len)
{
	BIO *b = BIO_new_file(path, "r");
	int r = ERR_GET_REASON(e), certs;
	EVP_PKEY *k;
	X509 *x = NULL;
	char label[64];

	if (b != NULL && ERR_GET_LIB(e) == ERR_LIB_SSL && r != ERR_R_PEM_LIB)
		x = PEM_read_bio_X509(b, NULL, no_prompt, NULL);
	k = x ? X509_get0_pubkey(x) : NULL;
	if (b == NULL) {
		snprintf(buf, len, "cannot read it");
	} else if (k && r == SSL_R_UNKNOWN_CERTIFICATE_TYPE) {
		snprintf(buf, len, "its key is %s, which TLS cannot sign with", EVP_PKEY_get0_type_name(k));
	} else if (k && r == SSL_R_EE_KEY_TOO_SMALL) {
		snprintf(buf, len, "its %s key of %d bits is too weak for OpenSSL's security level",
		    EVP_PKEY_get0_type_name(k), EVP_PKEY_get_bits(k));
	} else if (x) {
		snprintf(buf, len, "cannot use the certificate: %s", ERR_reason_error_string(e));
	} else {
		unsigned long end = scan_pem(b, cert_label, &certs, label, sizeof(label));

		if (!pem_end(end))
			snprintf(buf, len, "a damaged PEM block: %s", ERR_reason_error_string(end));
		else if (label[0] == '\0')
			snprintf(buf, len, "not PEM (no -----BEGIN line)");
		else if (certs == 0)
			snprintf(buf, len, "no certificate in the file (it holds a %s)", label);
		else
			snprintf(buf, len, "cannot read the certificate: %s", ERR_reason_error_string(e));
	}
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
}

/* --cert and --key: the chain, its key, and that they belong together */
int
tp_cert_load_identity(SSL_CTX *ctx, const struct tp_config *cfg, char *err, size_t errlen)
{
	char what[512];
	EVP_PKEY *pkey;
	X509 *x;
	int rc;

	if (file_readable("--cert", cfg->cert, err, errlen) ||
	    (cfg->key && file_readable("--key", cfg->key, err, errlen)))
		return -1;
	SSL_CTX_set_default_passwd_cb(ctx, no_prompt);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1) {
		cert_words(cfg->cert, ERR_peek_last_error(), what, sizeof(what));
		snprintf(err, errlen, "--cert %s: %s", cfg->cert, what);
		return -1;
	}
	x = SSL_CTX_get0_certificate(ctx);
	if ((pkey = read_key(cfg, err, errlen)) == NULL)
		return -1;
	rc = key_matches(x, pkey, cfg, err, errlen);
	if (rc == 0 && SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		snprintf(what, sizeof(what), "%s %s: cannot use the private key", cfg->key ? "--key" : "--cert",
		    cfg->key ? cfg->key : cfg->cert);
		tp_tls_setup_error(err, errlen, what);
		rc = -1;
	}
	EVP_PKEY_free(pkey);
	if (rc != 0)
		return -1;
	if (x && !cfg->allow_expired && X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		snprintf(err, errlen, "--cert %s: the certificate has expired (--allow-expired to use it anyway)",
		    cfg->cert);
		return -1;
	}
	return 0;
}

/* curl's pin format: sha256// + base64 of the SHA-256 of the DER public key */
int
tp_cert_pin(EVP_PKEY *key, char *out, size_t outlen)
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

/* A --pin's form; what is wrong with it in `why`. 32 bytes of SHA-256 are
 * 44 base64 characters, the last of them one '='. */
int
tp_cert_pin_check(const char *pin, char *why, size_t len)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
	unsigned char md[64], again[64];
	const char *b = pin + 8;
	size_t n, bad;

	if (strncmp(pin, "sha256//", 8) != 0) {
		snprintf(why, len, "it must start with sha256// (a SHA-256 pin, as curl writes them)");
		return -1;
	}
	n = strlen(b);
	bad = strspn(b, b64);
	if (bad < n) {
		unsigned char c = (unsigned char)b[bad];

		if (c == '-' || c == '_')
			snprintf(why, len, "'%c' is not a base64 character (base64url? a pin uses + and /)", c);
		else if (c > 0x20 && c < 0x7f)
			snprintf(why, len, "'%c' is not a base64 character", c);
		else
			snprintf(why, len, "byte 0x%02x is not a base64 character", c);
		return -1;
	}
	if (n != 44) {
		snprintf(why, len, "%zu base64 characters after sha256//, expected 44 (a SHA-256 is 32 bytes)", n);
		return -1;
	}
	if (strchr(b, '=') != b + 43 || EVP_DecodeBlock(md, (const unsigned char *)b, 44) != 33) {
		snprintf(why, len, "not the base64 of 32 bytes (44 characters, only the last one '=')");
		return -1;
	}
	/* pins are compared as text, so only the spelling tp_cert_pin writes
	 * can ever match: a last character with stray low bits decodes, yet
	 * would never match */
	EVP_EncodeBlock(again, md, SHA256_DIGEST_LENGTH);
	if (strcmp((const char *)again, b) != 0) {
		snprintf(why, len, "not the base64 a SHA-256 is written in (its last character should be '%c')", again[42]);
		return -1;
	}
	return 0;
}

/* Whether x's key is one of the --pin keys; its pin goes to `pin` either way. */
bool
tp_cert_pinned(X509 *x, const struct tp_config *cfg, char *pin, size_t pinlen)
{
	pin[0] = '\0';
	if (x == NULL || tp_cert_pin(X509_get0_pubkey(x), pin, pinlen) != 0)
		return false;
	for (int i = 0; i < cfg->npins; i++)
		if (strcmp(pin, cfg->pins[i]) == 0)
			return true;
	return false;
}

/* -l without --cert: a fresh P-256 key and a self-signed certificate, made in
 * memory; clients check it by the pin (written to `pin`) that -l prints. */
int
tp_cert_ephemeral(SSL_CTX *ctx, char *pin, size_t pinlen, char *err, size_t errlen)
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
	    tp_cert_pin(key, pin, pinlen) != 0)
		goto out;
	ok = 1;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	if (!ok)
		tp_tls_setup_error(err, errlen, "cannot make an ephemeral certificate");
	return ok ? 0 : -1;
}

/* The names a certificate is for (its DNS and IP SANs, else its CN), for a
 * name mismatch message. */
void
tp_cert_names(X509 *x, char *buf, size_t len)
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

static void
asn1_date(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "?");
}

/* "9 days left"; past its end "expired 668 days ago", never a negative count */
static void
days_left(const X509 *x, char *buf, size_t len)
{
	int days = 0, secs = 0;

	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) != 1)
		snprintf(buf, len, "days left unknown");
	else if (days > 0 || (days == 0 && secs >= 0))
		snprintf(buf, len, "%d days left", days);
	else if (days == 0)
		snprintf(buf, len, "expired less than a day ago");
	else
		snprintf(buf, len, "expired %d days ago", -days);
}

/* The peer's certificate: who it is for, who signed it, until when, its pin */
static void
leaf_lines(X509 *x, const char *who)
{
	char subj[256], iss[256], nb[40], na[40], left[48], pin[96] = "";

	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof(iss));
	asn1_date(X509_get0_notBefore(x), nb, sizeof(nb));
	asn1_date(X509_get0_notAfter(x), na, sizeof(na));
	days_left(x, left, sizeof(left));
	tp_cert_pin(X509_get0_pubkey(x), pin, sizeof(pin));
	tp_warn("%s certificate: subject %s", who, subj);
	tp_warn("issuer %s", iss);
	tp_warn("valid from %s until %s (%s)", nb, na, left);
	tp_warn("pin %s", pin);
}

/* The pin of every other certificate the peer sent, with its subject, so
 * any of them can be picked for --pin. A client's list starts with the
 * server's leaf; a server's list of the client's does not hold the leaf. */
static void
chain_lines(SSL *ssl)
{
	STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
	int first = SSL_is_server(ssl) ? 0 : 1;

	for (int i = first; i < sk_X509_num(sent); i++) {
		X509 *c = sk_X509_value(sent, i);
		char subj[256], pin[96] = "";

		X509_NAME_oneline(X509_get_subject_name(c), subj, sizeof(subj));
		tp_cert_pin(X509_get0_pubkey(c), pin, sizeof(pin));
		tp_warn("chain certificate %d: pin %s, subject %s", i + 1 - first, pin, subj);
	}
}

/* How the peer was checked; with -k, what checking it would have found
 * (the handshake ran the chain and name checks, and ignored them). */
static void
verification_line(SSL *ssl, const struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	const struct tp_tls_note *n = &run->note;
	char words[512];

	if (cfg->insecure && SSL_session_reused(ssl)) {
		tp_warn("verification: skipped (--insecure)");
	} else if (cfg->insecure && n->verify_err == X509_V_OK) {
		tp_warn("verification: skipped (--insecure); it would have passed");
	} else if (cfg->insecure) {
		tp_tls_verify_words(run, words, sizeof(words));
		tp_warn("verification: skipped (--insecure); it would have failed: %s", words);
	} else if (n->pinned && n->pin_depth == 0) {
		tp_warn("verification: ok (pinned public key)");
	} else if (n->pinned) {
		tp_warn("verification: ok (pinned public key of chain certificate %d, %s; the chain to it "
		    "and the name verified)", n->pin_depth, n->pin_anchor);
	} else if (!cfg->listen || cfg->verify_client) {
		tp_warn("verification: %s", X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
	}
}

/* -v: what a person checks first when a TLS server misbehaves */
void
tp_cert_summary(SSL *ssl, const struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;
	X509 *x = SSL_get1_peer_certificate(ssl);
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	const char *who = cfg->listen ? "client" : "server";

	SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
	tp_warn("connected %s %s", cfg->listen ? "from" : "to", run->peer);
	tp_warn("protocol %s, cipher %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	if (alpnlen)
		tp_warn("ALPN %.*s", (int)alpnlen, (const char *)alpn);
	else if (cfg->alpn)
		tp_warn("ALPN: none agreed");
	if (x) {
		leaf_lines(x, who);
		chain_lines(ssl);
		X509_free(x);
	} else {
		tp_warn("no %s certificate", who);
	}
	verification_line(ssl, run);
	tp_warn("session %s", SSL_session_reused(ssl) ? "resumed" : "new (not resumed)");
}
