#!/usr/bin/env bats
# Endings with default flags: --on-eof=auto holds close_notify until the peer
# is quiet, exit 5 only where bytes may be missing, nothing lost to a reset.
# Signals that end an upload cleanly: 36-signals.bats.
load helpers
bats_require_minimum_version 1.5.0

MODES=("" "-b" "-P" "-R" "--io=bio-pair" "-s 1000")
# the reset races run this often in each mode (make check-full: 50, or
# TP_RACE_RUNS)
RUNS=$((${TP_FULL:-0} == 1 ? ${TP_RACE_RUNS:-50} : 1))
# make check runs each banner case in half the modes: EVEN (the first
# case) or ODD (the other two); check-full in all of them
EVEN=("" "-P" "--io=bio-pair") ODD=("-b" "-R" "-s 1000")
if full; then EVEN=("${MODES[@]}") ODD=("${MODES[@]}"); fi

# ---- --on-eof=auto, the client's default ----

# answered DELAY_MS WANT TLSPIPE-OPTION...: a peer that answers a line
# DELAY_MS later but hangs up on close_notify (as dovecot does between
# commands); WANT is 1 when the answer must reach stdout, 0 when it must not
answered() {
	local delay=$1 want=$2
	shift 2
	peer --mode answer --delay-ms "$delay" --text "a1 OK done"
	run --separate-stderr tpq "$@" localhost "$PORT" <<<"a1 NOOP"
	assert_success
	if [ "$want" -eq 1 ]; then assert_output "a1 OK done"; else assert_output ""; fi
	wait_server
	grep -q "^answered=$want\$" "$T/srv.out"
}

@test "by default an answer 0.3 s after the question is kept: close_notify waits for it" {
	answered 300 1
}

@test "--on-eof=notify sends close_notify at once, and a server that hangs up on it never answers" {
	answered 300 0 --on-eof=notify
}

@test "an answer slower than --eof-grace is not waited for" {
	answered 1500 0 --eof-grace=0.2
}

@test "--eof-grace=3 keeps an answer that takes 1.5 s" {
	answered 1500 1 --eof-grace=3
}

@test "the quiet time starts again with every byte the peer sends" {
	# a server whose lines come 0.4 s apart for 2 s: a fixed 1 s after
	# stdin's EOF would cut them; a quiet time of 1 s never does
	rm -f "$T/fifo" && mkfifo "$T/fifo"
	(for i in 1 2 3 4 5; do echo "line $i"; nap 0.4; done) >"$T/fifo" 3>&- &
	BG+=("$!")
	SRV_STDIN="$T/fifo" tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	run --separate-stderr tpq localhost "$PORT" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 5
	assert_line --index 4 "line 5"
	wait_server
	assert_equal "$SRV_RC" 0
}

@test "an upload into a sink that answers only after close_notify ends with exit 0 and every byte" {
	random_file "$T/in" 300000
	peer --mode sink
	run --separate-stderr tpq localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	grep -q 'close_notify=1' "$T/srv.out"
}

@test "the peer's close_notify ends the grace at once" {
	# the grace is 30 s, tpq gives up after 20: only the peer's goodbye ends it
	peer --mode banner --text "hello"
	run --separate-stderr tpq --eof-grace=30 localhost "$PORT" <<<"x"
	assert_success
	assert_output "hello"
}

@test "the peer's TCP close ends the grace at once" {
	peer --mode banner --truncate --text "hello"
	run --separate-stderr tpq --eof-grace=30 localhost "$PORT" <<<"x"
	assert_equal "$status" 5
	assert_output "hello"
}

@test "--eof-grace needs --on-eof=auto" {
	closed_port
	refused --on-eof=notify --eof-grace=2 localhost "$CLOSED"
	refused -l --eof-grace=2 0
}

@test "--eof-grace takes seconds with up to three decimals, and nothing else" {
	closed_port
	refused --eof-grace=1.2345 localhost "$CLOSED"
	refused --eof-grace=-1 localhost "$CLOSED"
	refused --eof-grace=1s localhost "$CLOSED"
	refused --eof-grace=. localhost "$CLOSED"
	refused --eof-grace=3601 localhost "$CLOSED"
	stderr_has "3600"
}

@test "--on-eof=auto can be asked of a server too" {
	SRV_STDIN=/dev/null tp_server --on-eof=auto --eof-grace=0.2 \
		--cert "$CERTS/server.pem" --key "$CERTS/server.key"
	# the client waits for the server, which says goodbye after its grace
	run --separate-stderr tpq --on-eof=wait localhost "$PORT" </dev/null
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
}

# ---- exit 5 only where bytes may be missing ----

@test "a TCP close that answers our close_notify, with nothing sent after it, is exit 0" {
	# nginx's way: it never answers a client's close_notify with its own
	peer --mode echo --truncate
	run --separate-stderr tpq --stats=- localhost "$PORT" <<<"GET / HTTP/1.1"
	assert_success
	assert_output "GET / HTTP/1.1"
	grep -q '"peer_close_notify":false' <<<"$stderr"
}

@test "payload after our close_notify, then a TCP close without close_notify, is exit 5 with the count" {
	peer --mode send --bytes 8M --truncate
	run --separate-stderr to_file "$T/out" tpq --on-eof=notify localhost "$PORT" </dev/null
	assert_equal "$status" 5
	stderr_has "without"
	stderr_has "close_notify"
	stderr_has "bytes"
	pattern 8388608 | cmp - "$T/out"
}

@test "a TCP close without close_notify before ours was sent is exit 5" {
	peer --mode banner --truncate --text "banner"
	run --separate-stderr tpq localhost "$PORT" <<<"x"
	assert_equal "$status" 5
	assert_output "banner"
	stderr_has "truncated"
}

# ---- nothing lost to a reset ----

# banner_kept MODE...: a server that sends a banner after a pause, reads one
# line and hangs up (a close_notify of ours arriving later meets a closed
# socket, and the kernel answers with a reset): the banner reaches stdout,
# RUNS times in each mode
banner_kept() {
	local m i
	for i in $(seq "$RUNS"); do for m in "${EVEN[@]}"; do
		peer --mode banner --pause-ms 50 --text "* OK ready"
		# shellcheck disable=SC2086
		run --separate-stderr tpq $m "$@" localhost "$PORT" <<<"a1 LOGOUT"
		if [ "$output" != "* OK ready" ] || [ "$status" -ne 0 ]; then
			echo "run $i, mode '$m': exit $status, stdout '$output'"
			echo "$stderr"
			return 1
		fi
		wait_server
	done; done
}

@test "a banner from a server that hangs up after one line reaches stdout in every write mode" {
	banner_kept
}

@test "without close_notify from that server, the banner still reaches stdout, exit 5, in every write mode" {
	local m
	for m in "${ODD[@]}"; do
		peer --mode banner --truncate --pause-ms 50 --text "* OK ready"
		# shellcheck disable=SC2086
		run --separate-stderr tpq $m localhost "$PORT" <<<"a1 LOGOUT"
		assert_equal "$status" 5
		assert_output "* OK ready"
		wait_server
	done
}

@test "a server that resets the connection after its banner: the banner reaches stdout, exit 1, in every write mode" {
	local m i
	for i in $(seq "$RUNS"); do for m in "${ODD[@]}"; do
		peer --mode banner --reset --text "* BYE going away"
		# shellcheck disable=SC2086
		run --separate-stderr tpq $m localhost "$PORT" <<<"a1 LOGOUT"
		assert_equal "$status" 1
		assert_output "* BYE going away"
		stderr_has "reset"
		wait_server
	done; done
}
