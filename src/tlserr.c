/* OpenSSL's error model, in one place. Each failed SSL_* call leaves its
 * record on the run's note (SSL_get_error, the first queued error code,
 * errno); the callbacks in tls.c add what the handshake saw (the chain
 * error, the pin, alerts). tp_tls_verdict reads that record, and only it,
 * to choose the exit status and the words. Classification is by reason
 * code, never by the text of a message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tlspipe.h"

enum tp_outcome
tp_tls_outcome(SSL *ssl, int ret)
{
	int e = SSL_get_error(ssl, ret);
	int saved = errno;
	unsigned long code = ERR_peek_error();
	struct tp_run *run = SSL_get_app_data(ssl);
	enum tp_outcome o;

	switch (e) {
	case SSL_ERROR_NONE:
		return TP_DONE;
	case SSL_ERROR_WANT_READ:
		return TP_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TP_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		o = TP_CLOSED;
		break;
	case SSL_ERROR_SYSCALL:
		/* no queued error: the system's word, or a plain TCP EOF */
		o = code == 0 && saved == 0 ? TP_TRUNCATED : TP_FAILED;
		break;
	default:
		/* OpenSSL 3.0 reports TCP EOF without close_notify as an SSL error */
		o = ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING ?
		    TP_TRUNCATED : TP_FAILED;
		break;
	}
	if (run) {
		run->note.ssl_error = e;
		run->note.code = code;
		run->note.sys_errno = e == SSL_ERROR_SYSCALL ? saved : 0;
	}
	ERR_clear_error();
	return o;
}

/* The peer speaks something else: an HTTP request, SSH, a plaintext banner. */
static bool
not_tls(unsigned long code)
{
	if (ERR_GET_LIB(code) != ERR_LIB_SSL)
		return false;
	switch (ERR_GET_REASON(code)) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
#ifdef SSL_R_RECORD_LAYER_FAILURE	/* OpenSSL 3.2 and later */
	case SSL_R_RECORD_LAYER_FAILURE:
#endif
		return true;
	default:
		return false;
	}
}

/* The failed call in OpenSSL's or the system's own words. */
static void
call_words(const struct tp_tls_note *n, char *buf, size_t len)
{
	const char *r = n->code ? ERR_reason_error_string(n->code) : NULL;

	if (n->ssl_error == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, len, "the peer closed the connection (close_notify)");
	else if (n->ssl_error == SSL_ERROR_SYSCALL && n->code == 0)
		snprintf(buf, len, "%s", n->sys_errno ? strerror(n->sys_errno) : "connection closed");
	else if (ERR_GET_LIB(n->code) == ERR_LIB_SSL && ERR_GET_REASON(n->code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		snprintf(buf, len, "peer closed the connection without close_notify");
	else if (n->code)
		snprintf(buf, len, "%s", r ? r : "TLS error");
	else
		snprintf(buf, len, "TLS error %d", n->ssl_error);
}

/* OpenSSL 3.0 has no words for the TLS 1.3 alerts */
const char *
tp_tls_alert_name(int desc)
{
	switch (desc) {
	case 109: return "missing extension";
	case 115: return "unknown PSK identity";
	case 116: return "certificate required";
	case 120: return "no application protocol";
	default: return SSL_alert_desc_string_long(desc);
	}
}

/* The chain or name error on the note, in words: the exit-4 message says
 * them after "certificate verify failed: ", and -k -v after "it would have
 * failed: ". */
void
tp_tls_verify_words(const struct tp_run *run, char *buf, size_t len)
{
	const struct tp_config *cfg = run->cfg;
	const struct tp_tls_note *n = &run->note;
	const char *what = X509_verify_cert_error_string(n->verify_err);

	if (n->verify_err == X509_V_ERR_HOSTNAME_MISMATCH || n->verify_err == X509_V_ERR_IP_ADDRESS_MISMATCH)
		snprintf(buf, len, "%s: expected %s, the certificate is for %s", what,
		    cfg->servername ? cfg->servername : cfg->host, n->presented);
	else if (n->verify_err == X509_V_ERR_CERT_HAS_EXPIRED && n->expired_days > 0)
		snprintf(buf, len, "%s (depth %d): expired %d days ago", what, n->verify_depth, n->expired_days);
	else if (n->verify_err == X509_V_ERR_CERT_HAS_EXPIRED)
		snprintf(buf, len, "%s (depth %d): expired less than a day ago", what, n->verify_depth);
	else
		snprintf(buf, len, "%s (depth %d)", what, n->verify_depth);
}

/* Why the handshake failed, in words a person can act on: the most
 * specific fact wins (the pin, the chain, the peer's alert, the code). With
 * -k a chain error was only noted (for -v), and did not fail anything. */
static void
handshake_words(const struct tp_run *run, char *buf, size_t len)
{
	const struct tp_config *cfg = run->cfg;
	const struct tp_tls_note *n = &run->note;
	char base[256], chain[384];

	call_words(n, base, sizeof(base));
	if (n->pin_seen[0]) {
		snprintf(buf, len, "pin mismatch: expected %s%s, the server presented %s", cfg->pins[0],
		    cfg->npins > 1 ? " (or another --pin)" : "", n->pin_seen);
	} else if (n->verify_err != X509_V_OK && !cfg->insecure) {
		tp_tls_verify_words(run, chain, sizeof(chain));
		if (n->pin_anchor[0])
			snprintf(buf, len, "certificate verify failed in the chain to the pinned %s: %s",
			    n->pin_anchor, chain);
		else
			snprintf(buf, len, "certificate verify failed: %s", chain);
	} else if (n->alpn_refused[0]) {
		snprintf(buf, len, "no ALPN protocol in common: the client offered %s; --alpn accepts %s",
		    n->alpn_refused, cfg->alpn);
	} else if (n->alert_recv == SSL_AD_NO_APPLICATION_PROTOCOL && cfg->alpn) {
		snprintf(buf, len, "the server accepts none of the ALPN protocols offered (%s): it sent alert %s",
		    cfg->alpn, tp_tls_alert_name(n->alert_recv));
	} else if (n->alert_recv == SSL_AD_NO_APPLICATION_PROTOCOL) {
		snprintf(buf, len, "the server requires ALPN and none was offered (see --alpn): it sent alert %s",
		    tp_tls_alert_name(n->alert_recv));
	} else if (n->alert_recv >= 0) {
		snprintf(buf, len, "the peer sent alert %s", tp_tls_alert_name(n->alert_recv));
	} else if (not_tls(n->code)) {
		snprintf(buf, len, "the peer does not speak TLS (%s)", base);
	} else if (ERR_GET_LIB(n->code) == ERR_LIB_SSL && ERR_GET_REASON(n->code) == SSL_R_UNSUPPORTED_PROTOCOL) {
		snprintf(buf, len, "no TLS version in common (%s)", base);
	} else {
		snprintf(buf, len, "%s", base);
	}
}

/* An alert that says the peer refused our certificate: a TLS 1.3 server
 * may send it after the client's handshake is done. */
static bool
cert_alert(int desc)
{
	switch (desc) {
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

int
tp_tls_verdict(const struct tp_run *run, enum tp_outcome o, const struct tp_phase *ph, char *msg, size_t len)
{
	char words[768];

	if (o == TP_TRUNCATED) {
		if (!ph->handshaken) {
			snprintf(msg, len, "handshake with %s failed: the connection was closed", run->peer);
			return TP_EXIT_HANDSHAKE;
		}
		if (ph->notify_sent)
			snprintf(msg, len, "connection truncated: %s sent %llu bytes after our close_notify, then "
			    "closed without its own; more may be missing (%llu bytes in all)", run->peer,
			    (unsigned long long)(ph->bytes_in - ph->in_at_notify), (unsigned long long)ph->bytes_in);
		else
			snprintf(msg, len, "connection truncated: %s closed it without close_notify after %llu bytes",
			    run->peer, (unsigned long long)ph->bytes_in);
		return TP_EXIT_TRUNC;
	}
	if (!ph->handshaken) {
		handshake_words(run, words, sizeof(words));
		snprintf(msg, len, "handshake with %s failed: %s", run->peer, words);
		return TP_EXIT_HANDSHAKE;
	}
	if (cert_alert(run->note.alert_recv)) {
		handshake_words(run, words, sizeof(words));
		snprintf(msg, len, "%s rejected the certificate: %s", run->peer, words);
		return TP_EXIT_HANDSHAKE;
	}
	call_words(&run->note, words, sizeof(words));
	snprintf(msg, len, "%s failed: %s", ph->what, words);
	return TP_EXIT_IO;
}

/* A setup call failed (a file, a list, a key): `what`, then OpenSSL's reason. */
void
tp_tls_setup_error(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}
