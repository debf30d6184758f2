#!/usr/bin/env bats
# Server mode (tlspipe -l), pins, client certificates; SIGUSR1 makes exactly
# one rekey; a rekey flag the version cannot honour is refused. The
# rekeying matrix of every write mode is 61-rekey.bats.
load helpers
bats_require_minimum_version 1.5.0

# ---- helpers ----

# tpp: tlspipe for a pinned server; no --cafile (a pin replaces the chain check)
tpp() {
	timeout 20 "$TP" "$@"
}

# err_has FILE TEXT: like stderr_has, for a file
err_has() {
	if ! grep -qiF -- "$2" "$1"; then
		echo "${1##*/} lacks \"$2\":"
		cat "$1"
		return 1
	fi
}

# ---- SIGUSR1: one rekey now ----

# the source: 1 MiB, a pause, another 1 MiB; the pause lasts until the
# trace ($1) shows the rekey that SIGUSR1 asked for ($2), at most 10 s
two_halves() {
	random_file "$T/a" 1048576
	random_file "$T/b" 1048576
	cat "$T/a" "$T/b" >"$T/in"
}
halves() {
	export SENT=$2
	cat "$T/a"
	follow "$1" 10000 'index($0, ENVIRON["SENT"])' || true
	cat "$T/b"
}

# usr1_client TLS SENT: SIGUSR1 to the uploading client in the pause; exactly
# one rekey, and its one trace line SENT
usr1_client() {
	two_halves
	if [ "$1" = 1.3 ]; then
		tp_server --max-tls="$1" --stats="$T/srv.json"
	else
		tp_server --max-tls="$1" --allow-client-renegotiation --stats="$T/srv.json"
	fi
	halves "$T/cli.err" "$2" 3>&- |
		"$TP" --pin "$PIN" --trace --stats="$T/cli.json" localhost "$PORT" \
			>/dev/null 2>"$T/cli.err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	wait_size "$T/srv.out" 1048576
	kill -USR1 "$TP_PID"
	reap "$TP_PID" 10
	assert_equal "$RC" 0
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/srv.out" "$T/in"
	assert_equal "$(jstat "$T/cli.json" rekeys)" 1
	assert_equal "$(jstat "$T/srv.json" peer_rekeys)" 1
	assert_equal "$(grep -c "$2" "$T/cli.err")" 1
}

# usr1_server TLS SENT: SIGUSR1 to the receiving tlspipe -l in the pause
usr1_server() {
	two_halves
	# no timeout(1) in between: SRV_PID is tlspipe itself (end_server bounds it)
	start_server "$TP" -l --max-tls="$1" --trace --stats="$T/srv.json" 0
	halves "$T/srv.err" "$2" 3>&- |
		"$TP" --pin "$PIN" --stats="$T/cli.json" localhost "$PORT" \
			>/dev/null 2>"$T/cli.err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	wait_size "$T/srv.out" 1048576
	kill -USR1 "$SRV_PID"
	reap "$TP_PID" 10
	assert_equal "$RC" 0
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/srv.out" "$T/in"
	assert_equal "$(jstat "$T/srv.json" rekeys)" 1
	assert_equal "$(jstat "$T/cli.json" peer_rekeys)" 1
	assert_equal "$(grep -c "$2" "$T/srv.err")" 1
}

@test "SIGUSR1 to a client mid-upload makes exactly one key update and changes no byte (TLS 1.3)" {
	usr1_client 1.3 'sent KeyUpdate (update requested)'
}

@test "SIGUSR1 to a client mid-upload makes exactly one renegotiation and changes no byte (TLS 1.2)" {
	usr1_client 1.2 'sent ClientHello (renegotiation)'
}

@test "SIGUSR1 to a server mid-upload makes exactly one key update and changes no byte (TLS 1.3)" {
	usr1_server 1.3 'sent KeyUpdate (update requested)'
}

@test "SIGUSR1 to a server mid-upload makes exactly one renegotiation and changes no byte (TLS 1.2)" {
	usr1_server 1.2 'sent HelloRequest (renegotiation)'
}

# ---- rekey flags the version cannot honour ----

@test "--key-update-every with --max-tls 1.2 is exit 2 before connecting" {
	closed_port
	refused --cafile "$CA" --key-update-every=65536 --max-tls 1.2 localhost "$CLOSED"
	stderr_has "--key-update-every"
}

@test "--renegotiate-every with --min-tls 1.3 is exit 2 before connecting" {
	closed_port
	refused --cafile "$CA" --renegotiate-every=65536 --min-tls 1.3 localhost "$CLOSED"
	stderr_has "--renegotiate-every"
}

@test "a server with --key-update-every and --max-tls 1.2 is exit 2 before listening" {
	refused -l --key-update-every=65536 --max-tls 1.2 0
	refute grep -q 'listening' <<<"$stderr"
}

@test "--renegotiate-every with --no-renegotiation is exit 2" {
	closed_port
	refused --cafile "$CA" --renegotiate-every=65536 --no-renegotiation localhost "$CLOSED"
}

@test "--renegotiate-every against a TLS 1.3 server is exit 2 after the handshake, before any payload" {
	random_file "$T/in" 100000
	peer --mode sink
	run --separate-stderr tp --renegotiate-every=1000 localhost "$PORT" <"$T/in"
	assert_equal "$status" 2
	stderr_has "--renegotiate-every"
	stderr_has "TLSv1.3"
	end_server 5
	grep -q 'bytes=0 ' "$T/srv.out"
}

@test "--key-update-every against a TLS 1.2 server is exit 2 after the handshake, before any payload" {
	random_file "$T/in" 100000
	peer --mode sink --tls 1.2
	run --separate-stderr tp --key-update-every=1000 localhost "$PORT" <"$T/in"
	assert_equal "$status" 2
	stderr_has "--key-update-every"
	stderr_has "TLSv1.2"
	end_server 5
	grep -q 'bytes=0 ' "$T/srv.out"
}

@test "a server with --renegotiate-every and a TLS 1.3 client is exit 2 and sends no payload" {
	random_file "$T/in" 100000
	SRV_STDIN="$T/in" tp_server --renegotiate-every=1000
	run --separate-stderr tpp --pin "$PIN" --on-eof=wait localhost "$PORT" </dev/null
	assert_equal "$output" ""
	end_server 5
	assert_equal "$SRV_RC" 2
	err_has "$T/srv.err" "--renegotiate-every"
}

# renegotiation_refused: both sides failed loudly, and the side that tried to
# renegotiate ($1: cli|srv) says renegotiation was the problem
renegotiation_refused() {
	if [ "$RC" -eq 0 ] || [ "$RC" -ge 124 ]; then
		echo "client exit $RC, expected a failure"
		return 1
	fi
	if [ "$SRV_RC" -eq 0 ] || [ "$SRV_RC" -ge 124 ]; then
		echo "server exit $SRV_RC, expected a failure"
		return 1
	fi
	grep -q '^tlspipe: ' "$T/cli.err"
	grep -v 'listening on' "$T/srv.err" | grep -q '^tlspipe: '
	err_has "$T/$1.err" "renegotiat"
}

# reneg_run [client options]: 1 MiB up from a TLS 1.2 client, a pause, 1 MiB
# more: the client is still sending (no close_notify yet) when a rekey every
# 64 KiB comes due. The pause lasts until the client says something on
# stderr (its failure), at most 10 s. Statuses in RC, SRV_RC.
reneg_run() {
	random_file "$T/a" 1048576
	RC=0
	{ cat "$T/a"; follow "$T/cli.err" 10000 1 || true; cat "$T/a"; } 3>&- |
		tpp --pin "$PIN" "$@" localhost "$PORT" >/dev/null 2>"$T/cli.err" || RC=$?
	end_server 5
}

@test "a client's renegotiation is refused by a server without --allow-client-renegotiation, loudly" {
	tp_server --max-tls 1.2
	reneg_run --renegotiate-every=65536
	renegotiation_refused cli
}

@test "a client's renegotiation is refused by a server with --no-renegotiation, loudly" {
	tp_server --max-tls 1.2 --no-renegotiation
	reneg_run --renegotiate-every=65536
	renegotiation_refused cli
}

@test "--no-renegotiation on the client makes the server's renegotiation fail loudly" {
	tp_server --max-tls 1.2 --renegotiate-every=65536
	reneg_run --no-renegotiation
	renegotiation_refused srv
}

@test "--allow-client-renegotiation with --no-renegotiation is exit 2" {
	refused -l --allow-client-renegotiation --no-renegotiation 0
}

# ---- the server itself ----

@test "-l 0 listens on 127.0.0.1 and prints the port and the ephemeral key's pin" {
	tp_server
	assert_regex "$(head -n 1 "$T/srv.err")" \
		'^tlspipe: listening on 127\.0\.0\.1:[0-9]+ pin sha256//[A-Za-z0-9+/]{43}=$'
	assert [ "$PORT" -gt 0 ]
	printf 'hello server\n' >"$T/in"
	run tpp --pin "$PIN" 127.0.0.1 "$PORT" <"$T/in"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/in" "$T/srv.out"
}

@test "-6 -l 0 listens on [::1]" {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
		skip "no IPv6 loopback"
	start_server timeout 30 "$TP" -6 -l 0
	assert_regex "$(head -n 1 "$T/srv.err")" '^tlspipe: listening on \[::1\]:[0-9]+ pin sha256//'
	printf 'over IPv6\n' >"$T/in"
	run tpp --pin "$PIN" ::1 "$PORT" <"$T/in"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/in" "$T/srv.out"
}

@test "a server with --cert prints no pin and is verified by a client with --cafile" {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	assert_regex "$(head -n 1 "$T/srv.err")" '^tlspipe: listening on 127\.0\.0\.1:[0-9]+$'
	random_file "$T/in" 1048576
	run tp localhost "$PORT" <"$T/in"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

@test "the server serves one connection and exits: the next client finds the port closed (exit 3)" {
	tp_server
	local port=$PORT
	run tpp --pin "$PIN" localhost "$port" <<<"first"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" "first"
	run --separate-stderr tpp --pin "$PIN" localhost "$port" <<<"second"
	assert_equal "$status" 3
}

@test "a failed handshake on the server (a plain-TCP client sending text) is exit 4" {
	tp_server
	run bash -c "printf 'hello\n' | timeout 5 socat - TCP:127.0.0.1:$PORT"
	end_server 5
	assert_equal "$SRV_RC" 4
	assert_equal "$(stat -c %s "$T/srv.out")" 0
	grep -q '^tlspipe: .*handshake' "$T/srv.err"
}

# ---- pins ----

@test "an ephemeral server and --pin alone (no CA at all) move 1 MiB exactly" {
	tp_server
	random_file "$T/in" 1048576
	run --separate-stderr tpp --pin "$PIN" localhost "$PORT" <"$T/in"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

@test "--pin is repeatable: one matching pin among others is enough" {
	tp_server
	run --separate-stderr tpp --pin "$(pin_of "$CERTS/server.pem")" \
		--pin "$PIN" --pin "$(pin_of "$CERTS/client.pem")" localhost "$PORT" <<<"pinned"
	assert_success
	end_server 5
	assert_equal "$(cat "$T/srv.out")" "pinned"
}

@test "a matching pin replaces the chain check: a self-signed server is accepted" {
	tp_server --cert "$CERTS/selfsigned.pem" --key "$CERTS/selfsigned.key"
	run --separate-stderr tpp --pin "$(pin_of "$CERTS/selfsigned.pem")" \
		localhost "$PORT" <<<"untrusted but pinned"
	assert_success
	end_server 5
	assert_equal "$(cat "$T/srv.out")" "untrusted but pinned"
}

@test "a matching pin replaces the name check: a certificate for another name is accepted" {
	tp_server --cert "$CERTS/wrongname.pem" --key "$CERTS/wrongname.key"
	run --separate-stderr tpp --pin "$(pin_of "$CERTS/wrongname.pem")" localhost "$PORT" <<<"wrong name but pinned"
	assert_success
	end_server 5
	assert_equal "$(cat "$T/srv.out")" "wrong name but pinned"
}

@test "a wrong pin is exit 4, names the expected and the presented pin, and sends nothing" {
	tp_server
	local wrong
	wrong=$(pin_of "$CERTS/server.pem")
	run --separate-stderr tpp --pin "$wrong" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "$wrong"
	stderr_has "$PIN"
	end_server 5
	assert_equal "$SRV_RC" 4
	assert_equal "$(stat -c %s "$T/srv.out")" 0
}

@test "a wrong pin is exit 4 even when the chain and the name verify" {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	run --separate-stderr tpp --pin "$(pin_of "$CERTS/client.pem")" localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	stderr_has "$(pin_of "$CERTS/client.pem")"
	stderr_has "$(pin_of "$CERTS/server.pem")"
	end_server 5
	assert_equal "$(stat -c %s "$T/srv.out")" 0
}

@test "--pin in a wrong format is exit 2 before connecting" {
	closed_port
	local p
	for p in 'sha256//abc' \
		'md5//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' \
		'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' \
		'sha256//!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=' \
		'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' \
		'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==' \
		'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=' \
		'sha256//AAAAAAAAAAAAAAAAAAAA=AAAAAAAAAAAAAAAAAAAAAA=' \
		''; do
		echo "--pin '$p'"
		refused --pin "$p" localhost "$CLOSED"
	done
}

# ---- client certificates ----

@test "--verify-client refuses a client without a certificate: exit 4 on both sides (TLS 1.3 and 1.2)" {
	local v
	for v in 1.3 1.2; do
		echo "TLS $v"
		tp_server --verify-client --cafile "$CA" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --max-tls "$v"
		run --separate-stderr tp localhost "$PORT" <<<"secret payload"
		assert_equal "$status" 4
		end_server 5
		assert_equal "$SRV_RC" 4
		assert_equal "$(stat -c %s "$T/srv.out")" 0
	done
}

@test "--verify-client accepts a client certificate signed by --cafile, and the bytes arrive" {
	tp_server --verify-client --cafile "$CA"
	random_file "$T/in" 1048576
	run --separate-stderr tpp --pin "$PIN" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
		localhost "$PORT" <"$T/in"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

@test "--verify-client refuses a client certificate from another CA: exit 4 on both sides" {
	tp_server --verify-client --cafile "$CA" --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	run --separate-stderr tp --cert "$CERTS/client-other.pem" --key "$CERTS/client-other.key" \
		localhost "$PORT" <<<"secret payload"
	assert_equal "$status" 4
	end_server 5
	assert_equal "$SRV_RC" 4
	assert_equal "$(stat -c %s "$T/srv.out")" 0
}

@test "--verify-client without --cafile is exit 2" {
	refused -l --verify-client 0
}
