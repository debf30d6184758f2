#!/usr/bin/env bats
# Close semantics: the two directions end independently (close_notify is a
# half-close), --on-eof, truncation, --send-only/--recv-only, verbatim payload,
# and closed standard fds.
load helpers
bats_require_minimum_version 1.5.0

# tlspipe under a short limit: a hang fails the test instead of stalling it
tpq() {
	timeout 10 "$TP" --cafile "$CA" "$@"
}

closed_stdout() {
	"$@" >&-
}

# (not `run CMD <&-`: run's own pipe would take the free fd 0)
closed_stdin() {
	"$@" <&-
}

@test "a reply sent 1 s after stdin's EOF is printed and the exit is 0" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode reply --delay-ms 1000 --text 'late reply'
	run tpq localhost "$PORT" <<<"question"
	assert_success
	assert_output "late reply"
	wait_server
	assert_equal "$SRV_RC" 0
}

@test "a reply sent 1 s after stdin's EOF over TLS 1.2 is printed too" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode reply --tls 1.2 --delay-ms 1000 --text 'late reply'
	run tpq localhost "$PORT" <<<"question"
	assert_success
	assert_output "late reply"
}

@test "a server that closes TCP without close_notify is exit 5, after all its bytes reach stdout" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --bytes 100000 --truncate
	run --separate-stderr to_file "$T/out" tpq localhost "$PORT" </dev/null
	assert_equal "$status" 5
	stderr_has "truncated"
	wait_server
	grep -q 'bytes=100000' "$T/srv.out"
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
	pattern 100000 | cmp - "$T/out"
}

@test "truncation ends the run at once even while stdin is still open" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --bytes 100000 --truncate
	hold_stdin
	local t0
	t0=$(now_ms)
	run --separate-stderr to_file "$T/out" tpq localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_equal "$status" 5
	stderr_has "truncated"
	assert [ $(($(now_ms) - t0)) -lt 3000 ]
	pattern 100000 | cmp - "$T/out"
}

@test "--on-eof=exit exits 0 at once without waiting for the reply" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode reply --delay-ms 25000 --text 'late reply'
	# tpq gives up after 10 s: waiting for the reply (25 s) would fail this
	run tpq --on-eof=exit localhost "$PORT" <<<"question"
	assert_success
	refute_output --partial "late reply"
}

@test "--on-eof=wait sends no close_notify at stdin's EOF" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode sink
	printf 'hello' >"$T/in"
	"$TP" --cafile "$CA" --on-eof=wait localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	sleep 1
	# stdin ended long ago, yet the sink has not seen close_notify and tlspipe still waits
	kill -0 "$TP_PID"
	assert_equal "$(cat "$T/srv.out")" ""
	kill -TERM "$TP_PID"
	reap "$TP_PID" 5
	TP_PID=
	assert_equal "$RC" 143
	wait_server
	grep -q 'bytes=5 close_notify=1' "$T/srv.out"
}

@test "--on-eof=wait still receives everything the server sends before its close_notify" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --bytes 100000
	run to_file "$T/out" tpq --on-eof=wait localhost "$PORT" </dev/null
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
	pattern 100000 | cmp - "$T/out"
}

@test "--on-eof=wait works against a TLS 1.2 server that sends and closes" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --tls 1.2 --bytes 100000
	run to_file "$T/out" tpq --on-eof=wait localhost "$PORT" </dev/null
	assert_success
	wait_server
	pattern 100000 | cmp - "$T/out"
}

@test "--recv-only receives the server's data and exits 0 while stdin never ends" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --bytes 100000
	hold_stdin
	run to_file "$T/out" tpq --recv-only localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	pattern 100000 | cmp - "$T/out"
}

@test "--recv-only prints a speak-first banner and exits 0 while stdin never ends" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode speak-first --text 'banner'
	hold_stdin
	run tpq --recv-only localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_success
	assert_output "banner"
}

@test "--recv-only does not read stdin at all" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode speak-first --text 'banner'
	printf 'must stay unread\n' >"$T/in"
	local fd
	exec {fd}<"$T/in"
	run tpq --recv-only localhost "$PORT" <&$fd
	local pos
	pos=$(sed -n 's/^pos:[[:space:]]*//p' "/proc/$BASHPID/fdinfo/$fd")
	exec {fd}<&-
	assert_success
	assert_output "banner"
	assert_equal "$pos" 0
	wait_server
	grep -q 'bytes=0 close_notify=1' "$T/srv.out"
}

@test "--send-only discards what the server sends and uploads exactly" {
	random_file "$T/in" 1048576
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode echo
	run to_file "$T/out" tpq --send-only localhost "$PORT" <"$T/in"
	assert_success
	assert_equal "$(stat -c %s "$T/out")" 0
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "a server that sends close_notify first still gets the rest of stdin, and both exit 0" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode send --text 'early goodbye'
	random_file "$T/in" 1048576
	mkfifo "$T/slow"
	(sleep 0.5; cat "$T/in") >"$T/slow" 3>&- &
	BG_PID=$!
	run tpq localhost "$PORT" <"$T/slow"
	assert_success
	assert_output "early goodbye"
	wait_server
	assert_equal "$SRV_RC" 0
	# the peer says nothing but its listening line (no error)
	assert_equal "$(grep -vc 'listening on' "$T/srv.err")" 0
}

@test "a tlspipe server that half-closes first receives the rest of the client's stdin exactly" {
	printf 'server says bye\n' >"$T/srv.in"
	SRV_STDIN="$T/srv.in" start_server timeout 30 "$TP" -l --cert "$CERTS/server.pem" \
		--key "$CERTS/server.key" --on-eof=notify 127.0.0.1 0
	random_file "$T/in" 1048576
	mkfifo "$T/slow"
	(sleep 0.5; cat "$T/in") >"$T/slow" 3>&- &
	BG_PID=$!
	run tpq localhost "$PORT" <"$T/slow"
	assert_success
	assert_output "server says bye"
	wait_server
	assert_equal "$SRV_RC" 0
	# the server's stdout is the payload only, exactly the client's stdin
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

@test "lines Q, R, K and k pass through verbatim: no in-band commands" {
	printf 'Q\nR\nK\nk\n' >"$T/in"
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode echo
	run to_file "$T/out" tpq localhost "$PORT" <"$T/in"
	assert_success
	cmp "$T/in" "$T/out"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "all 256 byte values pass through verbatim in both directions" {
	local i
	for i in $(seq 0 255); do
		printf "\\$(printf %03o "$i")"
	done >"$T/one"
	cat "$T/one" "$T/one" "$T/one" "$T/one" >"$T/in"
	assert_equal "$(stat -c %s "$T/in")" 1024
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode echo
	run to_file "$T/out" tpq localhost "$PORT" <"$T/in"
	assert_success
	cmp "$T/in" "$T/out"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "--crlf turns a lone LF into CRLF and keeps an existing CRLF" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode sink --out "$T/got"
	run tpq --crlf localhost "$PORT" < <(printf 'a\nb\r\n')
	assert_success
	wait_server
	printf 'a\r\nb\r\n' | cmp - "$T/got"
}

@test "--crlf keeps a CRLF split across two reads of stdin" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode sink --out "$T/got"
	run tpq --crlf localhost "$PORT" < <(printf 'a\r'; sleep 0.3; printf '\nb\n')
	assert_success
	wait_server
	printf 'a\r\nb\r\n' | cmp - "$T/got"
}

@test "without --crlf a lone LF is sent as it is" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--mode sink --out "$T/got"
	run tpq localhost "$PORT" < <(printf 'a\nb\r\n')
	assert_success
	wait_server
	printf 'a\nb\r\n' | cmp - "$T/got"
}

@test "a closed stdin counts as empty: exit 0, nothing sent, close_notify sent" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode sink
	run closed_stdin tpq localhost "$PORT"
	assert_success
	wait_server
	grep -q 'bytes=0 close_notify=1' "$T/srv.out"
}

@test "a closed stdout is a usage error (exit 2) before connecting" {
	closed_port
	run closed_stdout tpq localhost "$CLOSED" </dev/null
	assert_equal "$status" 2
	assert_line --index 0 --regexp '^tlspipe: '
}

@test "a closed stdout is fine with --send-only" {
	random_file "$T/in" 100000
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode echo
	run closed_stdout tpq --send-only localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}
