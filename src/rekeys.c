/* The peer's rekeys (TLS 1.3 key updates, TLS 1.2 renegotiations): counted
 * for --stats, and judged, since a peer that only rekeys would keep us busy
 * for ever (the man page's Rekeying). tls.c's message callback reports each
 * one; the read loop in io.c ends the run once the note says rekey_storm.
 * Calls nothing of ours. */
#include "tlspipe.h"

/* One rekey of the peer's: counted, and paid for from its credit
 * (tlspipe.h). While ours outnumber the answers so far, it is taken as an
 * answer to one of ours (a KeyUpdate, the ClientHello after our
 * HelloRequest), which is not the peer's doing. With no credit left AUTO_RETRY
 * goes, so that the SSL_read running now returns once it has used what it
 * read: with it, OpenSSL would go on to the next rekey for as long as the
 * peer sends them, and the pump could never end the run. */
void
tp_rekeys_peer(struct tp_run *run, SSL *ssl)
{
	struct tp_tls_note *n = &run->note;
	uint64_t moved = run->st.bytes_in + run->st.bytes_out, earned;

	run->st.peer_rekeys++;
	if (n->answers < run->st.rekeys) {
		n->answers++;
		return;
	}
	earned = (moved - n->credit_moved) / TP_PEER_REKEY_PRICE;
	n->credit_moved += earned * TP_PEER_REKEY_PRICE;
	n->rekey_credit += earned;
	if (n->rekey_credit > TP_PEER_REKEY_SAVINGS)
		n->rekey_credit = TP_PEER_REKEY_SAVINGS;
	if (n->rekey_credit > 0) {
		n->rekey_credit--;
	} else if (!n->rekey_storm) {
		n->rekey_storm = true;
		SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
	}
}
