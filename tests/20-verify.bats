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
