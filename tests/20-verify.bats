#!/usr/bin/env bats
# Security defaults: the client verifies the chain and the name, and refuses
# (exit 4, no payload) when they fail; -k, client certificates, TLS versions,
# ALPN and cipher choices; openssl s_server and gnutls-serv as other peers.
load helpers
bats_require_minimum_version 1.5.0

# tlspipe with only the options given: no --cafile unless the test says so
tp_bare() {
	timeout 20 "$TP" "$@"
}

# the sink saw no payload: it reports bytes=0, or (handshake failed) no stats at all
sink_got_nothing() {
	if grep -q 'bytes=[1-9]' "$T/srv.out"; then
		echo "the peer received payload:"
		cat "$T/srv.out"
		return 1
	fi
}

# s_server [options]: openssl s_server for one connection; its stdin is a fifo
# held open, so it only ends when the client closes. Payload lands in srv.out.
s_server() {
	hold ss.in SS_HOLD
	SRV_STDIN="$T/ss.in" start_server timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 "$@"
}

@test "a self-signed server is refused with exit 4 and gets no payload" {
	peer_as selfsigned --mode sink
	run --separate-stderr tp localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	assert_equal "$output" ""
	stderr_has "certificate verify failed"
	assert [ "$(grep -ciE 'issuer|self.signed|untrusted' <<<"$stderr")" -ge 1 ]
	wait_server
	sink_got_nothing
}

@test "a server the system store does not trust is refused with exit 4 when no --cafile is given" {
	peer_as server --mode sink
	run --separate-stderr tp_bare localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "certificate verify failed"
	wait_server
	sink_got_nothing
}

@test "a server signed by another CA than --cafile is refused with exit 4" {
	peer_as server --mode sink
	run --separate-stderr tp_bare --cafile "$CERTS/other-ca.pem" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "certificate verify failed"
	wait_server
	sink_got_nothing
}

@test "a certificate for another name is refused, naming the expected and the presented name" {
	peer_as wrongname --mode sink
	run --separate-stderr tp localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	assert_equal "$output" ""
	stderr_has "localhost"
	stderr_has "wrong.example"
	wait_server
	sink_got_nothing
}

@test "connecting by IP address verifies the certificate's IP SAN and works" {
	random_file "$T/in" 100000
	peer_as server --mode sink
	run tp 127.0.0.1 "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "connecting by IP address to a certificate without that IP is refused, naming both" {
	peer_as wrongname --mode sink
	run --separate-stderr tp 127.0.0.1 "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "127.0.0.1"
	stderr_has "wrong.example"
	wait_server
	sink_got_nothing
}

@test "--servername=wrong.example accepts the wrong.example certificate on localhost" {
	random_file "$T/in" 100000
	peer_as wrongname --mode sink
	run tp --servername=wrong.example localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--servername is sent as SNI: a server that picks its certificate by SNI presents the right one" {
	# s_server answers SNI wrong.example with the second certificate
	s_server -cert "$CERTS/server.pem" -key "$CERTS/server.key" \
		-servername wrong.example -cert2 "$CERTS/wrongname.pem" -key2 "$CERTS/wrongname.key"
	run tp --servername wrong.example localhost "$PORT" <<<"sni payload"
	assert_success
	wait_server
	grep -q 'sni payload' "$T/srv.out"
}

@test "an expired server certificate is refused with exit 4 and says expired" {
	peer_as expired --mode sink
	run --separate-stderr tp localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "expired"
	# mkcerts' expired.pem ended on 2020-02-01
	grep -qE 'certificate has expired \(depth 0\): expired [0-9]{4,} days ago' <<<"$stderr"
	wait_server
	sink_got_nothing
}

@test "-k connects to a self-signed server, exits 0 and warns on stderr that it is insecure" {
	printf 'hello insecure world\n' >"$T/in"
	peer_as selfsigned --mode echo
	run --separate-stderr tp_bare -k localhost "$PORT" <"$T/in"
	assert_equal "$status" 0
	assert_output "hello insecure world"
	stderr_has "insecure"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "-k also skips the name check" {
	peer_as wrongname --mode sink
	run --separate-stderr tp_bare --insecure localhost "$PORT" <<<"payload"
	assert_equal "$status" 0
	stderr_has "insecure"
	wait_server
	grep -q 'bytes=8 close_notify=1' "$T/srv.out"
}

@test "-k names no certificate failure when the handshake fails for another reason" {
	# TLS 1.2: the server's refusal of a missing client certificate comes
	# inside the handshake, after -k has seen (and ignored) the untrusted chain
	peer_as selfsigned --mode sink --tls 1.2 --verify-client --ca "$CA"
	run --separate-stderr tp_bare -k localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	stderr_has "alert"
	refute grep -qi "certificate verify failed" <<<"$stderr"
	wait_server
	sink_got_nothing
}

# ---- --pin above the leaf ----

# peer_chain LEAF CERT...: a sink sending $CERTS/LEAF.pem, then the named certificates
peer_chain() {
	local c
	: >"$T/sent.pem"
	for c in "$@"; do
		cat "$CERTS/$c.pem" >>"$T/sent.pem"
	done
	start_server timeout 30 "$PEER" --cert "$T/sent.pem" --key "$CERTS/$1.key" --mode sink
}

@test "--pin on the intermediate accepts a server that sends its leaf and that intermediate" {
	random_file "$T/in" 100000
	peer_chain inter-server intermediate
	run --separate-stderr tp_bare --pin "$(pin_of "$CERTS/intermediate.pem")" -v localhost "$PORT" <"$T/in"
	assert_equal "$status" 0
	stderr_has "verification: ok (pinned public key of chain certificate 1"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--pin on the root accepts a server that sends leaf, intermediate and root" {
	random_file "$T/in" 100000
	peer_chain inter-server intermediate ca
	run tp_bare --pin "$(pin_of "$CA")" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--pin on the intermediate refuses a forged leaf sent with the real intermediate (exit 4, the signature)" {
	# forged.pem names the intermediate as issuer, by name and key id; another key signed it
	peer_chain forged intermediate
	run --separate-stderr tp_bare --pin "$(pin_of "$CERTS/intermediate.pem")" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	assert_equal "$output" ""
	stderr_has "certificate verify failed in the chain to the pinned /CN=tlspipe test intermediate CA"
	stderr_has "certificate signature failure (depth 0)"
	wait_server
	sink_got_nothing
}

@test "--pin on the intermediate still checks the name: another name is exit 4, naming both" {
	peer_chain inter-server intermediate
	run --separate-stderr tp_bare --pin "$(pin_of "$CERTS/intermediate.pem")" --servername wrong.example \
		localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "hostname mismatch: expected wrong.example, the certificate is for localhost"
	wait_server
	sink_got_nothing
}

@test "--pin on a CA certificate the server merely includes proves nothing: exit 4" {
	# anyone can send a public CA's certificate; the leaf must chain up to it
	peer_chain selfsigned ca
	run --separate-stderr tp_bare --pin "$(pin_of "$CA")" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "certificate verify failed in the chain to the pinned /CN=tlspipe test CA"
	wait_server
	sink_got_nothing
}

@test "--pin on the intermediate, when the server sends only its leaf, is a pin mismatch naming the leaf's pin" {
	peer_chain inter-server
	run --separate-stderr tp_bare --pin "$(pin_of "$CERTS/intermediate.pem")" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "pin mismatch"
	stderr_has "$(pin_of "$CERTS/inter-server.pem")"
	wait_server
	sink_got_nothing
}

@test "a client certificate from the trusted CA is accepted by a server that requires one" {
	random_file "$T/in" 100000
	peer_as server --mode sink --verify-client --ca "$CA"
	run tp --cert "$CERTS/client.pem" --key "$CERTS/client.key" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "a client certificate works over TLS 1.2 too" {
	random_file "$T/in" 100000
	peer_as server --mode sink --tls 1.2 --verify-client --ca "$CA"
	run tp --cert "$CERTS/client.pem" --key "$CERTS/client.key" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "without a client certificate a server that requires one is exit 4 (TLS 1.3: the alert comes after the handshake)" {
	peer_as server --mode sink --verify-client --ca "$CA"
	run --separate-stderr tp localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	wait_server
	sink_got_nothing
}

@test "without a client certificate a TLS 1.2 server that requires one is exit 4" {
	peer_as server --mode sink --tls 1.2 --verify-client --ca "$CA"
	run --separate-stderr tp localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	wait_server
	sink_got_nothing
}

@test "a client certificate from an untrusted CA is exit 4" {
	peer_as server --mode sink --verify-client --ca "$CA"
	run --separate-stderr tp --cert "$CERTS/client-other.pem" --key "$CERTS/client-other.key" \
		localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	wait_server
	sink_got_nothing
}

@test "--min-tls 1.3 against a TLS 1.2-only server is exit 4" {
	peer_as server --mode sink --tls 1.2
	run --separate-stderr tp --min-tls 1.3 localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	wait_server
	sink_got_nothing
}

@test "--max-tls 1.2 against a TLS 1.3-only server is exit 4" {
	peer_as server --mode sink --tls 1.3
	run --separate-stderr tp --max-tls=1.2 localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	wait_server
	sink_got_nothing
}

@test "--max-tls 1.2 against a TLS 1.2 server works and -v says TLSv1.2" {
	random_file "$T/in" 100000
	peer_as server --mode sink --tls 1.2
	run --separate-stderr tp -v --max-tls 1.2 localhost "$PORT" <"$T/in"
	assert_equal "$status" 0
	stderr_has "TLSv1.2"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--alpn is accepted by a server that does not speak ALPN" {
	peer_as server --mode sink
	run tp --alpn h2,http/1.1 localhost "$PORT" <<<"payload"
	assert_success
	wait_server
	grep -q 'bytes=8 close_notify=1' "$T/srv.out"
}

@test "--alpn offers the list and -v shows the protocol the server picked" {
	s_server -cert "$CERTS/server.pem" -key "$CERTS/server.key" -alpn foo
	run --separate-stderr tp -v --alpn=bar,foo localhost "$PORT" <<<"alpn payload"
	assert_equal "$status" 0
	stderr_has "foo"
	wait_server
	grep -q 'alpn payload' "$T/srv.out"
}

# alpn_server: tlspipe -l --alpn h2 (ephemeral identity); sets PORT and APIN
alpn_server() {
	start_server timeout 20 "$TP" -l --alpn h2 0
	APIN=$(sed -n 's/.* pin //p' "$T/srv.err")
}

@test "-l --alpn h2 refuses openssl s_client offering no ALPN: exit 4, naming what each side had" {
	alpn_server
	run timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -brief </dev/null
	assert_failure
	assert_output --partial 'no application protocol'
	end_server 5
	assert_equal "$SRV_RC" 4
	grep -qF "no ALPN protocol in common: the client offered none; --alpn accepts h2" "$T/srv.err"
	[ ! -s "$T/srv.out" ]
}

@test "-l --alpn h2 and a tlspipe client without --alpn: exit 4 on both sides, the client told why" {
	alpn_server
	run --separate-stderr timeout 20 "$TP" --pin "$APIN" localhost "$PORT" <<<"never sent"
	assert_equal "$status" 4
	stderr_has "the server requires ALPN and none was offered (see --alpn)"
	end_server 5
	assert_equal "$SRV_RC" 4
	grep -qF "the client offered none; --alpn accepts h2" "$T/srv.err"
	[ ! -s "$T/srv.out" ]
}

@test "-l --alpn h2 and a client offering http/1.1,foo: exit 4 on both sides, both lists named" {
	alpn_server
	run --separate-stderr timeout 20 "$TP" --alpn http/1.1,foo --pin "$APIN" localhost "$PORT" <<<"never sent"
	assert_equal "$status" 4
	stderr_has "the server accepts none of the ALPN protocols offered (http/1.1,foo)"
	end_server 5
	assert_equal "$SRV_RC" 4
	grep -qF "the client offered http/1.1, foo; --alpn accepts h2" "$T/srv.err"
	[ ! -s "$T/srv.out" ]
}

@test "-l --alpn h2,http/1.1 agrees on the first of its list that the client offers" {
	start_server timeout 20 "$TP" -l -v --alpn h2,http/1.1 0
	APIN=$(sed -n 's/.* pin //p' "$T/srv.err")
	run --separate-stderr timeout 20 "$TP" -v --alpn http/1.1,h2 --pin "$APIN" localhost "$PORT" <<<"alpn ok"
	assert_success
	stderr_has "ALPN h2"
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" "alpn ok"
}

@test "--ciphersuites TLS_AES_128_GCM_SHA256 is the suite used" {
	random_file "$T/in" 100000
	peer_as server --mode sink --tls 1.3
	run --separate-stderr tp -v --ciphersuites TLS_AES_128_GCM_SHA256 localhost "$PORT" <"$T/in"
	assert_equal "$status" 0
	stderr_has "TLS_AES_128_GCM_SHA256"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--ciphers picks the TLS 1.2 cipher" {
	peer_as server --mode sink --tls 1.2
	run --separate-stderr tp -v --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 localhost "$PORT" <<<"payload"
	assert_equal "$status" 0
	stderr_has "ECDHE-ECDSA-AES128-GCM-SHA256"
	wait_server
	grep -q 'bytes=8 close_notify=1' "$T/srv.out"
}

@test "a verified transfer into openssl s_server arrives and exits 0" {
	s_server -cert "$CERTS/server.pem" -key "$CERTS/server.key"
	printf 'line one to s_server\nline two to s_server\n' >"$T/in"
	run tp localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	grep -q '^line one to s_server$' "$T/srv.out"
	grep -q '^line two to s_server$' "$T/srv.out"
}

@test "openssl s_server with an untrusted certificate is refused with exit 4" {
	s_server -cert "$CERTS/selfsigned.pem" -key "$CERTS/selfsigned.key"
	run --separate-stderr tp localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "certificate verify failed"
	wait_server
	refute grep -q 'secret payload' "$T/srv.out"
}

@test "a verified echo through gnutls-serv comes back exactly" {
	command -v gnutls-serv >/dev/null || skip "gnutls-serv is not installed"
	gnutls_serv --echo
	printf 'hello gnutls\nsecond line\n' >"$T/in"
	run --separate-stderr tp 127.0.0.1 "$GPORT" <"$T/in"
	assert_equal "$status" 0
	assert_equal "$output" "$(cat "$T/in")"
}
