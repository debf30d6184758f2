#!/usr/bin/env bats
# Server mode (tlspipe -l), pins, client certificates, and rekeying: every
# write mode of both roles moves its payload exactly (2 MiB in `make check`,
# 16 MiB in `make check-full`) while either side updates keys
# (TLS 1.3) or renegotiates (TLS 1.2) every 100,000 bytes, as often as that
# asks, within one; SIGUSR1 makes exactly one
# rekey; a rekey flag the version cannot honour is refused.
load helpers
bats_require_minimum_version 1.5.0

# the write modes every matrix below runs, in both roles
MODES=("" "-b" "-P" "-R" "--io=bio-pair" "-b -P -R" "--io=bio-pair -P -R" "-s 1000")
SIZE=$((${TP_FULL:-0} == 1 ? 16777216 : 2097152))
# rekey every 100,000 bytes: not a divisor of the 256 KiB reads, so a count
# that a large write or read carries past a mark shows
EVERY=100000
XFER=15       # seconds for one transfer (it takes well under one)

# ---- helpers ----

# tp_server [options]: tlspipe -l on 127.0.0.1, a free port; sets PORT, and
# PIN when the identity is ephemeral (no --cert)
tp_server() {
	# a loop reuses $T: never read the listening line of the last server
	rm -f "$T/srv.out" "$T/srv.err"
	start_server timeout 60 "$TP" -l "$@" 0 || return 1
	PIN=$(sed -n 's/.* pin \(sha256\/\/[A-Za-z0-9+\/=]*\)$/\1/p' "$T/srv.err")
}

# tpp: tlspipe for a pinned server; no --cafile (a pin replaces the chain check)
tpp() {
	timeout 20 "$TP" "$@"
}

# peer_server [peer options]: the test peer with the CA's localhost certificate
peer_server() {
	rm -f "$T/srv.out" "$T/srv.err"
	start_server timeout 60 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" "$@"
}

# wait_size FILE BYTES: until FILE holds at least BYTES, at most 10 s
wait_size() {
	local i
	for i in $(seq 500); do
		[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "$1 never reached $2 bytes"
	return 1
}

# rekey_opt 1.3|1.2: tlspipe's rekey flag for that version
rekey_opt() {
	if [ "$1" = 1.3 ]; then
		echo "--key-update-every=$EVERY"
	else
		echo "--renegotiate-every=$EVERY"
	fi
}

# jstat FILE KEY: one value from a --stats JSON line
jstat() {
	jq -r ".$2" "$1" 2>/dev/null
}

# stat_is FILE KEY OP N: e.g. stat_is cli.json rekeys -ge 1
stat_is() {
	local v
	v=$(jstat "$1" "$2")
	if ! [ "${v:-x}" -eq "${v:-x}" ] 2>/dev/null || ! [ "$v" "$3" "$4" ]; then
		echo "$(basename "$1"): $2=$v, expected $3 $4"
		return 1
	fi
}

# err_has FILE TEXT: like stderr_has, for a file
err_has() {
	if ! grep -qiF -- "$2" "$1"; then
		echo "$(basename "$1") lacks \"$2\":"
		cat "$1"
		return 1
	fi
}

# the public-key pin of a PEM certificate, as curl and tlspipe write it
pin_of() {
	echo "sha256//$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64)"
}

# ---- the rekeying matrix ----
# Each case returns non-zero and says why, naming the mode; matrix runs every
# mode, then fails listing all the modes that failed.

# why CASE: the end of both sides' stderr, after a failed case
why() {
	echo "FAILED: $1"
	echo "  client stderr:"
	tail -n 5 "$T/cli.err" 2>/dev/null | sed 's/^/    /'
	echo "  server stderr:"
	tail -n 5 "$T/srv.err" 2>/dev/null | sed 's/^/    /'
	return 1
}

# check CASE CMD...: CMD must succeed; else say what failed in which case
check() {
	local what=$1
	shift
	local msg
	if ! msg=$("$@" 2>&1); then
		echo "$msg"
		why "$what"
		return 1
	fi
}

rc_is() { # rc_is NAME GOT WANT
	[ "$2" = "$3" ] || {
		echo "$1 exited $2, expected $3"
		return 1
	}
}

same_sha() { # same_sha FILE: FILE holds exactly $T/in
	[ "$(sha "$1")" = "$(sha "$T/in")" ] || {
		echo "$(basename "$1"): $(stat -c %s "$1") bytes, not the $(stat -c %s "$T/in") sent, or other bytes"
		return 1
	}
}

# rekeys_exact FILE: rekeys within 1 of floor((bytes_in + bytes_out) / EVERY),
# the count the man page promises
rekeys_exact() {
	local want got
	want=$(jq "(.bytes_in + .bytes_out) / $EVERY | floor" "$1")
	got=$(jstat "$1" rekeys)
	if [ $((got - want)) -gt 1 ] || [ $((want - got)) -gt 1 ]; then
		echo "$(basename "$1"): rekeys=$got, expected $want (within 1): one per $EVERY bytes moved"
		return 1
	fi
}

# rekey_counts CASE TRIGGER OTHER: the side that rekeys counted one rekey per
# EVERY bytes and initiated them alone; the other side counted peer_rekeys >= 1
rekey_counts() {
	check "$1" rekeys_exact "$2" &&
		check "$1" stat_is "$3" rekeys -eq 0 &&
		check "$1" stat_is "$3" peer_rekeys -ge 1
}

# upload TLS WHO MODE: SIZE bytes from a tlspipe client in MODE into tlspipe -l
# (ephemeral identity, pinned by the client); WHO (server|client) rekeys
upload() {
	local tls=$1 who=$2 mode=$3 rk
	local what="upload, client mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a sopts copts
	rk=$(rekey_opt "$tls")
	read -ra copts <<<"$mode"
	sopts=(--max-tls="$tls" --stats="$T/srv.json")
	copts+=(--stats="$T/cli.json")
	if [ "$who" = server ]; then
		sopts+=("$rk")
	else
		copts+=("$rk")
		[ "$tls" = 1.3 ] || sopts+=(--allow-client-renegotiation)
	fi
	rm -f "$T/srv.json" "$T/cli.json" "$T/cli.err"
	tp_server "${sopts[@]}" || { why "$what: server did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" --pin "$PIN" "${copts[@]}" localhost "$PORT" \
		<"$T/in" >/dev/null 2>"$T/cli.err" || rc=$?
	end_server 5
	check "$what" rc_is client "$rc" 0 || return 1
	check "$what" rc_is server "$SRV_RC" 0 || return 1
	check "$what" same_sha "$T/srv.out" || return 1
	if [ "$who" = server ]; then
		rekey_counts "$what" "$T/srv.json" "$T/cli.json"
	else
		rekey_counts "$what" "$T/cli.json" "$T/srv.json"
	fi
}

# download TLS WHO MODE: SIZE bytes from tlspipe -l in MODE (--cert, its stdin)
# to a tlspipe client (--cafile, its stdout); WHO (server|client) rekeys.
# The client sends nothing and waits (--on-eof=wait): a TLS 1.2 client that
# had sent close_notify could not answer a renegotiation any more.
download() {
	local tls=$1 who=$2 mode=$3 rk
	local what="download, server mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a sopts copts
	rk=$(rekey_opt "$tls")
	read -ra sopts <<<"$mode"
	sopts+=(--cert "$CERTS/server.pem" --key "$CERTS/server.key" --max-tls="$tls"
		--on-eof=notify --stats="$T/srv.json")
	copts=(--cafile "$CA" --on-eof=wait --stats="$T/cli.json")
	if [ "$who" = server ]; then
		sopts+=("$rk")
	else
		copts+=("$rk")
		[ "$tls" = 1.3 ] || sopts+=(--allow-client-renegotiation)
	fi
	rm -f "$T/srv.json" "$T/cli.json" "$T/cli.err" "$T/cli.out" "$T/slow"
	local src="$T/in" feeder=
	if [ "$who" = client ] && [ "$tls" = 1.2 ]; then
		# TLS 1.2 cannot close while a renegotiation is under way: a
		# server whose close_notify crosses the client's ClientHello can
		# never be answered (see CAVEATS in the man page). The server's
		# stdin pauses after the data, so the client's last one ends first.
		mkfifo "$T/slow"
		{ cat "$T/in"; sleep 1; } >"$T/slow" &
		feeder=$!
		src="$T/slow"
	fi
	SRV_STDIN="$src" tp_server "${sopts[@]}" || { why "$what: server did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" "${copts[@]}" localhost "$PORT" \
		</dev/null >"$T/cli.out" 2>"$T/cli.err" || rc=$?
	end_server 5
	[ -z "$feeder" ] || wait "$feeder" 2>/dev/null || true
	check "$what" rc_is client "$rc" 0 || return 1
	check "$what" rc_is server "$SRV_RC" 0 || return 1
	check "$what" same_sha "$T/cli.out" || return 1
	if [ "$who" = server ]; then
		rekey_counts "$what" "$T/srv.json" "$T/cli.json"
	else
		rekey_counts "$what" "$T/cli.json" "$T/srv.json"
	fi
}

# both_ways TLS WHO MODE: SIZE bytes up and the same back at once through
# the echo peer, tlspipe in MODE; WHO (peer|client) rekeys
both_ways() {
	local tls=$1 who=$2 mode=$3
	local what="both ways through echo, client mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a popts copts
	read -ra copts <<<"$mode"
	copts+=(--cafile "$CA" --stats="$T/cli.json")
	popts=(--mode echo --tls "$tls")
	if [ "$who" = peer ]; then
		if [ "$tls" = 1.3 ]; then
			popts+=(--key-update-every "$EVERY")
		else
			popts+=(--renegotiate-every "$EVERY")
		fi
	else
		copts+=("$(rekey_opt "$tls")")
		[ "$tls" = 1.3 ] || popts+=(--allow-client-reneg)
	fi
	rm -f "$T/cli.json" "$T/cli.err" "$T/cli.out"
	peer_server "${popts[@]}" || { why "$what: peer did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" "${copts[@]}" localhost "$PORT" \
		<"$T/in" >"$T/cli.out" 2>"$T/cli.err" || rc=$?
	end_server 5
	check "$what" rc_is client "$rc" 0 || return 1
	check "$what" rc_is peer "$SRV_RC" 0 || return 1
	check "$what" same_sha "$T/cli.out" || return 1
	check "$what" grep -q "sha256=$(sha "$T/in") bytes=$SIZE close_notify=1" "$T/srv.out" || return 1
	if [ "$who" = peer ]; then
		check "$what" grep -q 'rekeys=[1-9]' "$T/srv.out" &&
			check "$what" stat_is "$T/cli.json" peer_rekeys -ge 1
	else
		check "$what" rekeys_exact "$T/cli.json"
	fi
}

# matrix CASE TLS WHO: CASE in every mode of MODES
matrix() {
	local m
	local -a failed=()
	random_file "$T/in" "$SIZE"
	for m in "${MODES[@]}"; do
		"$1" "$2" "$3" "$m" || failed+=("[${m:-default}]")
	done
	if [ "${#failed[@]}" -gt 0 ]; then
		echo "$1 TLS $2, the $3 rekeys: failed in ${#failed[@]} of ${#MODES[@]} modes: ${failed[*]}"
		return 1
	fi
}

@test "upload every byte in every client write mode while the tlspipe server updates keys (TLS 1.3)" {
	matrix upload 1.3 server
}

@test "upload every byte in every client write mode while the tlspipe server renegotiates (TLS 1.2)" {
	matrix upload 1.2 server
}

@test "upload every byte in every client write mode while the client updates keys (TLS 1.3)" {
	matrix upload 1.3 client
}

@test "upload every byte in every client write mode while the client renegotiates (TLS 1.2, --allow-client-renegotiation)" {
	matrix upload 1.2 client
}

@test "download every byte in every server write mode while the server updates keys (TLS 1.3)" {
	matrix download 1.3 server
}

@test "download every byte in every server write mode while the server renegotiates (TLS 1.2)" {
	matrix download 1.2 server
}

@test "download every byte in every server write mode while the receiving client updates keys (TLS 1.3)" {
	matrix download 1.3 client
}

@test "download every byte in every server write mode while the receiving client renegotiates (TLS 1.2)" {
	matrix download 1.2 client
}

@test "every byte both ways at once through an echo peer that updates keys, in every mode (TLS 1.3)" {
	matrix both_ways 1.3 peer
}

@test "every byte both ways at once through an echo peer that renegotiates, in every mode (TLS 1.2)" {
	matrix both_ways 1.2 peer
}

@test "every byte both ways at once through an echo peer while tlspipe updates keys, in every mode (TLS 1.3)" {
	matrix both_ways 1.3 client
}

@test "every byte both ways at once through an echo peer while tlspipe renegotiates, in every mode (TLS 1.2)" {
	matrix both_ways 1.2 client
}

# ---- SIGUSR1: one rekey now ----

# the slow source: 1 MiB, a pause, another 1 MiB
two_halves() {
	random_file "$T/a" 1048576
	random_file "$T/b" 1048576
	cat "$T/a" "$T/b" >"$T/in"
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
	{ cat "$T/a"; sleep 1; cat "$T/b"; } 3>&- |
		"$TP" --pin "$PIN" --trace --stats="$T/cli.json" localhost "$PORT" \
			>/dev/null 2>"$T/cli.err" 3>&- &
	TP_PID=$!
	wait_size "$T/srv.out" 1048576
	kill -USR1 "$TP_PID"
	reap "$TP_PID" 10
	TP_PID=
	assert_equal "$RC" 0
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
	assert_equal "$(jstat "$T/cli.json" rekeys)" 1
	assert_equal "$(jstat "$T/srv.json" peer_rekeys)" 1
	assert_equal "$(grep -c "$2" "$T/cli.err")" 1
}

# usr1_server TLS SENT: SIGUSR1 to the receiving tlspipe -l in the pause
usr1_server() {
	two_halves
	rm -f "$T/srv.out" "$T/srv.err"
	# no timeout(1) in between: SRV_PID is tlspipe itself (end_server bounds it)
	start_server "$TP" -l --max-tls="$1" --trace --stats="$T/srv.json" 0
	PIN=$(sed -n 's/.* pin \(sha256\/\/[A-Za-z0-9+\/=]*\)$/\1/p' "$T/srv.err")
	{ cat "$T/a"; sleep 1; cat "$T/b"; } 3>&- |
		"$TP" --pin "$PIN" --stats="$T/cli.json" localhost "$PORT" \
			>/dev/null 2>"$T/cli.err" 3>&- &
	TP_PID=$!
	wait_size "$T/srv.out" 1048576
	kill -USR1 "$SRV_PID"
	reap "$TP_PID" 10
	TP_PID=
	assert_equal "$RC" 0
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
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
	peer_server --mode sink
	run --separate-stderr tp --renegotiate-every=1000 localhost "$PORT" <"$T/in"
	assert_equal "$status" 2
	stderr_has "--renegotiate-every"
	stderr_has "TLSv1.3"
	end_server 5
	grep -q 'bytes=0 ' "$T/srv.out"
}

@test "--key-update-every against a TLS 1.2 server is exit 2 after the handshake, before any payload" {
	random_file "$T/in" 100000
	peer_server --mode sink --tls 1.2
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
# 64 KiB comes due. Statuses in RC, SRV_RC.
reneg_run() {
	random_file "$T/a" 1048576
	RC=0
	{ cat "$T/a"; sleep 1; cat "$T/a"; } 3>&- |
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
	rm -f "$T/srv.out" "$T/srv.err"
	start_server timeout 30 "$TP" -6 -l 0
	PIN=$(sed -n 's/.* pin \(sha256\/\/[A-Za-z0-9+\/=]*\)$/\1/p' "$T/srv.err")
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
