#!/usr/bin/env bats
# The sandbox (src/sandbox.c): after the handshake tlspipe runs under a
# seccomp filter and Landlock. The kernel says whether a process is
# filtered (/proc/PID/status: Seccomp 2, NoNewPrivs 1). What an attacker
# would do next is done for real by tests/sandbox-probe.so, preloaded into
# tlspipe: before its first SSL_write it opens a file, runs a program or
# opens a connection, and says whether that worked. The features that need
# more after the handshake (a renegotiation's new chain with anchors read
# on demand, the key log, --stats) are run with the sandbox on.
load helpers

PROBE="$TOP/tests/sandbox-probe.so"

setup() {
	T=$BATS_TEST_TMPDIR
	SRV_PID= HOLD= PIN= RS=
	BG=() HOLDS=()
	SANDBOX=$("$TP" -V)
	if [[ $SANDBOX != *"sandbox: seccomp, landlock)" ]]; then
		skip "this build has no sandbox ($SANDBOX): sanitizer builds leave it out"
	fi
}

# status_of PID FIELD: a field of /proc/PID/status, into VALUE
status_of() {
	local line
	VALUE=
	while IFS= read -r line; do
		if [[ $line == "$2:"* ]]; then
			VALUE=${line#*:}
			VALUE=${VALUE//[[:space:]]/}
			return 0
		fi
	done <"/proc/$1/status"
	return 1
}

# connected [tlspipe options]: tlspipe -v against a sink, stdin held open,
# its stderr in $T/cli.err; CLI_PID once the handshake is done (the line the
# sandbox step writes, on or off, comes after it)
connected() {
	sink
	hold_stdin
	"$TP" --cafile "$CA" -v "$@" 127.0.0.1 "$PORT" <"$T/stdin" >/dev/null 2>"$T/cli.err" {HOLD}>&- &
	CLI_PID=$!
	BG+=("$CLI_PID")
	wait_for "$T/cli.err" "sandbox: " 10000
}

@test "sandbox: after the handshake the client is confined (seccomp filter, no new privileges); -v says so" {
	connected
	has "$T/cli.err" "sandbox: on (seccomp, landlock)" || fail "-v: $(cat "$T/cli.err")"
	status_of "$CLI_PID" Seccomp
	[ "$VALUE" = 2 ] || fail "Seccomp: $VALUE (2 is a filter)"
	status_of "$CLI_PID" NoNewPrivs
	[ "$VALUE" = 1 ] || fail "NoNewPrivs: $VALUE"
	end_stdin
	reap "$CLI_PID" 10
	[ "$RC" -eq 0 ] || { cat "$T/cli.err"; fail "exit $RC"; }
}

@test "sandbox: not before the handshake (a server that never answers the ClientHello)" {
	start_server timeout 30 "$PEER" --mode silent --hold-ms 20000
	"$TP" --cafile "$CA" --trace 127.0.0.1 "$PORT" </dev/null >/dev/null 2>"$T/cli.err" &
	CLI_PID=$!
	BG+=("$CLI_PID")
	wait_for "$T/cli.err" "sent ClientHello" 10000
	status_of "$CLI_PID" Seccomp
	[ "$VALUE" = 0 ] || fail "Seccomp: $VALUE during the handshake"
}

@test "sandbox: --no-sandbox leaves the process unconfined" {
	connected --no-sandbox
	status_of "$CLI_PID" Seccomp
	[ "$VALUE" = 0 ] || fail "Seccomp: $VALUE with --no-sandbox"
	has "$T/cli.err" "sandbox: off (--no-sandbox)" || fail "-v: $(cat "$T/cli.err")"
}

@test "sandbox: the server is confined after its handshake too" {
	random_file "$T/in" 100000
	SRV_STDIN=$T/in tp_server -v --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	run tpq --recv-only 127.0.0.1 "$PORT"
	[ "$status" -eq 0 ]
	end_server 10
	[ "$SRV_RC" -eq 0 ] || { cat "$T/srv.err"; fail "server exit $SRV_RC"; }
	has "$T/srv.err" "sandbox: on (seccomp, landlock)" || { cat "$T/srv.err"; fail "the server was not confined"; }
}

# probe WHAT [tlspipe options]: an upload of 100000 bytes to a sink with
# the probe making the call WHAT; its stderr in $T/cli.err, status in RC
probe() {
	local what=$1
	shift
	random_file "$T/in" 100000
	sink
	RC=0
	TP_PROBE=$what LD_PRELOAD=$PROBE timeout 20 "$TP" --cafile "$CA" "$@" 127.0.0.1 "$PORT" \
		<"$T/in" >/dev/null 2>"$T/cli.err" || RC=$?
	end_server 10
}

@test "sandbox: a file opened after the handshake is refused and reported; the transfer still ends exact" {
	probe "open:$CA"
	has "$T/cli.err" "probe: open $CA: Operation not permitted" || { cat "$T/cli.err"; fail "the open was not refused"; }
	has "$T/cli.err" "tlspipe: sandbox: refused system call openat after the handshake" ||
		{ cat "$T/cli.err"; fail "the refusal was not reported"; }
	[ "$RC" -eq 0 ] || { cat "$T/cli.err"; fail "exit $RC"; }
	[ "$(sink_sha)" = "$(sha "$T/in")" ] || fail "the upload did not arrive exact"
}

@test "sandbox: with --no-sandbox the same open works (the probe is real)" {
	probe "open:$CA" --no-sandbox
	has "$T/cli.err" "probe: open $CA: ok" || { cat "$T/cli.err"; fail "the open failed without the sandbox"; }
	! has "$T/cli.err" "refused" || { cat "$T/cli.err"; fail "a refusal without the sandbox"; }
	[ "$RC" -eq 0 ]
}

@test "sandbox: execve after the handshake is refused and reported" {
	probe "exec:/bin/true"
	has "$T/cli.err" "probe: exec /bin/true: Operation not permitted" || { cat "$T/cli.err"; fail "execve was not refused"; }
	has "$T/cli.err" "refused system call execve after the handshake" || { cat "$T/cli.err"; fail "not reported"; }
	[ "$RC" -eq 0 ]
	[ "$(sink_sha)" = "$(sha "$T/in")" ]
}

@test "sandbox: a new connection after the handshake is refused and reported" {
	probe "connect:9"
	has "$T/cli.err" "probe: connect 9: Operation not permitted" || { cat "$T/cli.err"; fail "socket was not refused"; }
	has "$T/cli.err" "refused system call socket after the handshake" || { cat "$T/cli.err"; fail "not reported"; }
	[ "$RC" -eq 0 ]
}

# other_ca_server: a server certificate for 127.0.0.1 from other-ca, with
# its key, in $T/other-chain.pem; $T/cadir trusts both CAs through hash
# links only (OpenSSL reads each anchor when a chain needs it)
other_ca_server() {
	cat >"$T/leaf.cnf" <<-EOF
		[req]
		distinguished_name = dn
		prompt = no
		[dn]
		CN = localhost
		[ext]
		subjectAltName = DNS:localhost, IP:127.0.0.1
		basicConstraints = CA:FALSE
	EOF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leaf.key" \
		-out "$T/leaf.csr" -config "$T/leaf.cnf" 2>/dev/null
	openssl x509 -req -in "$T/leaf.csr" -CA "$CERTS/other-ca.pem" -CAkey "$CERTS/other-ca.key" \
		-set_serial 7 -days 5 -extfile "$T/leaf.cnf" -extensions ext -out "$T/leaf.pem" 2>/dev/null
	cat "$T/leaf.pem" "$T/leaf.key" >"$T/other-chain.pem"
	mkdir "$T/cadir"
	cp "$CERTS/ca.pem" "$CERTS/other-ca.pem" "$T/cadir/"
	openssl rehash "$T/cadir"
}

@test "sandbox: a TLS 1.2 renegotiation presenting another CA's chain verifies (anchors from --capath loaded first); key log and --stats still written" {
	other_ca_server
	random_file "$T/in" 600000
	sink --tls 1.2 --renegotiate-every 200000 --rekey-cert "$T/other-chain.pem"
	run timeout 20 "$TP" --capath "$T/cadir" --trace --keylog "$T/keys" --stats "$T/stats.json" \
		127.0.0.1 "$PORT" <"$T/in"
	[ "$status" -eq 0 ] || fail "exit $status: $output"
	end_server 10
	[ "$(sink_sha)" = "$(sha "$T/in")" ] || fail "the upload did not arrive exact"
	[[ $output == *"sandbox: 2 anchors from $T/cadir loaded for a renegotiation"* ]] || fail "no preload: $output"
	# the renegotiation really sent the other chain, after the sandbox went on
	[[ $output =~ sandbox:\ 2\ anchors.*received\ Certificate\ \(renegotiation\) ]] ||
		fail "no renegotiation with a certificate after the sandbox: $output"
	[[ $output != *refused* ]] || fail "a call was refused: $output"
	# one CLIENT_RANDOM per handshake: the renegotiations' lines came after the sandbox
	[ "$(grep -c '^CLIENT_RANDOM ' "$T/keys")" -ge 2 ] || fail "key log: $(cat "$T/keys")"
	jq -e '.rekeys == 0 and .peer_rekeys >= 1 and .bytes_out == 600000' "$T/stats.json" >/dev/null ||
		fail "stats: $(cat "$T/stats.json")"
}
