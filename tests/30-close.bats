#!/usr/bin/env bats
# Close semantics: the two directions end independently (close_notify is a
# half-close), --on-eof, truncation, --send-only/--recv-only, verbatim payload,
# and closed standard fds.
load helpers
bats_require_minimum_version 1.5.0

# feed_after_close_notify: the fifo $T/slow gives $T/in only once tlspipe's
# trace ($T/err) says the server's close_notify has arrived
feed_after_close_notify() {
	mkfifo "$T/slow"
	{ follow "$T/err" 10000 'tolower($0) ~ /alert received.*close notify/'; cat "$T/in"; } >"$T/slow" 3>&- &
	BG+=("$!")
}

closed_stdout() {
	"$@" >&-
}

# (not `run CMD <&-`: run's own pipe would take the free fd 0)
closed_stdin() {
	"$@" <&-
}

@test "a reply sent 1 s after stdin's EOF is printed and the exit is 0" {
	peer --mode reply --delay-ms 1000 --text 'late reply'
	run tpq localhost "$PORT" <<<"question"
	assert_success
	assert_output "late reply"
	wait_server
	assert_equal "$SRV_RC" 0
}

@test "a reply sent 1 s after stdin's EOF over TLS 1.2 is printed too" {
	peer --mode reply --tls 1.2 --delay-ms 1000 --text 'late reply'
	run tpq localhost "$PORT" <<<"question"
	assert_success
	assert_output "late reply"
}

@test "a server that closes TCP without close_notify is exit 5, after all its bytes reach stdout" {
	peer --mode send --bytes 100000 --truncate
	run --separate-stderr to_file "$T/out" tpq localhost "$PORT" </dev/null
	assert_equal "$status" 5
	stderr_has "truncated"
	wait_server
	grep -q 'bytes=100000' "$T/srv.out"
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
	pattern 100000 | cmp - "$T/out"
}

@test "truncation ends the run at once even while stdin is still open" {
	peer --mode send --bytes 100000 --truncate
	hold_stdin
	now_us
	local t0=$NOW_US
	run --separate-stderr to_file "$T/out" tpq localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_equal "$status" 5
	stderr_has "truncated"
	ms_since "$t0"
	assert [ "$MS" -lt 3000 ]
	pattern 100000 | cmp - "$T/out"
}

@test "--on-eof=exit exits 0 at once without waiting for the reply" {
	peer --mode reply --delay-ms 25000 --text 'late reply'
	# tpq gives up after 20 s: waiting for the reply (25 s) would fail this
	run tpq --on-eof=exit localhost "$PORT" <<<"question"
	assert_success
	refute_output --partial "late reply"
}

@test "--on-eof=wait sends no close_notify at stdin's EOF" {
	peer --mode sink
	printf 'hello' >"$T/in"
	"$TP" --cafile "$CA" --on-eof=wait --trace localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	wait_for "$T/err" "stdin: EOF" 5000
	# half a second after stdin's EOF the sink has not seen close_notify,
	# tlspipe has not sent it, and it still waits
	nap 0.5
	alive "$TP_PID"
	assert_equal "$(<"$T/srv.out")" ""
	refute has "$T/err" "close_notify"
	refute has "$T/err" "alert sent"
	kill -TERM "$TP_PID"
	reap "$TP_PID" 5
	assert_equal "$RC" 143
	wait_server
	grep -q 'bytes=5 close_notify=1' "$T/srv.out"
}

@test "--on-eof=wait still receives everything the server sends before its close_notify" {
	peer --mode send --bytes 100000
	run to_file "$T/out" tpq --on-eof=wait localhost "$PORT" </dev/null
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
	pattern 100000 | cmp - "$T/out"
}

@test "--on-eof=wait works against a TLS 1.2 server that sends and closes" {
	peer --mode send --tls 1.2 --bytes 100000
	run to_file "$T/out" tpq --on-eof=wait localhost "$PORT" </dev/null
	assert_success
	wait_server
	pattern 100000 | cmp - "$T/out"
}

@test "--recv-only receives the server's data and exits 0 while stdin never ends" {
	peer --mode send --bytes 100000
	hold_stdin
	run to_file "$T/out" tpq --recv-only localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	pattern 100000 | cmp - "$T/out"
}

@test "--recv-only prints a speak-first banner and exits 0 while stdin never ends" {
	peer --mode speak-first --text 'banner'
	hold_stdin
	run tpq --recv-only localhost "$PORT" <"$T/stdin" {HOLD}>&-
	assert_success
	assert_output "banner"
}

@test "--recv-only does not read stdin at all" {
	peer --mode speak-first --text 'banner'
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
	peer --mode echo
	run to_file "$T/out" tpq --send-only localhost "$PORT" <"$T/in"
	assert_success
	assert_equal "$(stat -c %s "$T/out")" 0
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "a server that sends close_notify first still gets the rest of stdin, and both exit 0" {
	peer --mode send --text 'early goodbye'
	random_file "$T/in" 1048576
	feed_after_close_notify
	run err_to "$T/err" tpq --trace localhost "$PORT" <"$T/slow"
	assert_success
	assert_output "early goodbye"
	wait_server
	assert_equal "$SRV_RC" 0
	# the peer says nothing but its listening line (no error)
	assert_equal "$(grep -vc 'listening on' "$T/srv.err")" 0
}

@test "a tlspipe server that half-closes first receives the rest of the client's stdin exactly" {
	printf 'server says bye\n' >"$T/srv.in"
	SRV_STDIN="$T/srv.in" tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key" --on-eof=notify
	random_file "$T/in" 1048576
	feed_after_close_notify
	run err_to "$T/err" tpq --trace localhost "$PORT" <"$T/slow"
	assert_success
	assert_output "server says bye"
	wait_server
	assert_equal "$SRV_RC" 0
	# the server's stdout is the payload only, exactly the client's stdin
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

# echoed_verbatim: $T/in through an echo peer: back exactly, and the peer
# got exactly it
echoed_verbatim() {
	peer --mode echo
	run to_file "$T/out" tpq localhost "$PORT" <"$T/in"
	assert_success
	cmp "$T/in" "$T/out"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "lines Q, R, K and k pass through verbatim: no in-band commands" {
	printf 'Q\nR\nK\nk\n' >"$T/in"
	echoed_verbatim
}

@test "all 256 byte values pass through verbatim in both directions" {
	local i o all=
	for ((i = 0; i < 256; i++)); do
		printf -v o '\\%03o' "$i"
		all+=$o
	done
	# shellcheck disable=SC2059
	printf "$all$all$all$all" >"$T/in"
	assert_equal "$(stat -c %s "$T/in")" 1024
	echoed_verbatim
}

@test "--crlf turns a lone LF into CRLF and keeps an existing CRLF" {
	peer --mode sink --out "$T/got"
	run tpq --crlf localhost "$PORT" < <(printf 'a\nb\r\n')
	assert_success
	wait_server
	printf 'a\r\nb\r\n' | cmp - "$T/got"
}

@test "--crlf keeps a CRLF split across two reads of stdin" {
	peer --mode sink --out "$T/got"
	# the second read only once the first one, "a\r", has been sent
	mkfifo "$T/slow"
	{ printf 'a\r'; follow "$T/err" 10000 '/ SSL_write\(.*, 2\) = 2$/'; printf '\nb\n'; } >"$T/slow" 3>&- &
	BG+=("$!")
	run err_to "$T/err" tpq --crlf --trace localhost "$PORT" <"$T/slow"
	assert_success
	wait_server
	printf 'a\r\nb\r\n' | cmp - "$T/got"
}

@test "without --crlf a lone LF is sent as it is" {
	peer --mode sink --out "$T/got"
	run tpq localhost "$PORT" < <(printf 'a\nb\r\n')
	assert_success
	wait_server
	printf 'a\nb\r\n' | cmp - "$T/got"
}

@test "a closed stdin counts as empty: exit 0, nothing sent, close_notify sent" {
	peer --mode sink
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
	peer --mode echo
	run closed_stdout tpq --send-only localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

# relay_to PORT [netrelay options]: tests/netrelay from a free port to
# 127.0.0.1:PORT; sets RPORT once it listens
relay_to() {
	local to=$1
	shift
	: >"$T/relay.err"
	timeout 60 "$TOP/tests/netrelay" "$@" 127.0.0.1 0 127.0.0.1 "$to" 2>"$T/relay.err" 3>&- &
	BG+=("$!")
	wait_until 10000 port_said "$T/relay.err" || fail "the relay did not start: $(<"$T/relay.err")"
	RPORT=$PORT
}

@test "a close_notify that met a full socket and went out on a retry still ends the run, both ends exit 0 (the network paused as stdin ended)" {
	# (not i: bats's own functions set a global i)
	local round runs=1
	! full || runs=6
	random_file "$T/up" 8388608
	random_file "$T/down" 8388608
	# before the fix one end hung in 4 runs of 6 (so make check's one run
	# misses it one time in 3, check-full's six one time in 700)
	for ((round = 1; round <= runs; round++)); do
		SRV_STDIN=$T/down tp_server --on-eof=notify --cert "$CERTS/server.pem" --key "$CERTS/server.key"
		relay_to "$PORT" --pause=1 --pause-after=6000000
		RC=0
		tpq --on-eof=notify localhost "$RPORT" <"$T/up" >"$T/got" 2>"$T/cli.err" || RC=$?
		end_server 10
		[ "$RC" -eq 0 ] && [ "$SRV_RC" -eq 0 ] || fail "run $round: client $RC, server $SRV_RC: $(<"$T/cli.err") $(<"$T/srv.err")"
		cmp -s "$T/down" "$T/got" || fail "run $round: the download is not exact"
		cmp -s "$T/up" "$T/srv.out" || fail "run $round: the upload is not exact"
	done
}
