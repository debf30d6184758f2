#!/usr/bin/env bats
# Local trouble: what is wrong is on this machine, not on the wire. A full
# or closed stdout, a stdin that cannot be read, closed standard fds, files
# that cannot be read, a --stats or --keylog on a full disk, a stop and a
# continue in the middle of a transfer: each ends with its documented exit
# status and one line that says what happened, never a crash, a hang, or
# bytes lost without a word.
# each @test is a function to shellcheck, which takes it for a subshell
# shellcheck disable=SC2030,SC2031
load helpers
bats_require_minimum_version 1.5.0

# one_line TEXT: stderr is exactly one "tlspipe: " line, and it holds TEXT
# shellcheck disable=SC2154 # stderr and stderr_lines come from run --separate-stderr
one_line() {
	if [ "${#stderr_lines[@]}" -ne 1 ] || [[ ${stderr_lines[0]} != "tlspipe: "*"$1"* ]]; then
		echo "expected one 'tlspipe: ' line with \"$1\"; stderr:"
		echo "$stderr"
		return 1
	fi
}

# out_to FD CMD...: CMD with stdout on FD (`run` takes stdout itself)
out_to() {
	local fd=$1
	shift
	"$@" >&"$fd"
}

# read_only_out FILE CMD...: CMD with stdout open for reading only
read_only_out() {
	local f=$1
	shift
	"$@" 1<"$f"
}

# closed FDS CMD...: CMD with the standard fds FDS (a list of 0, 1, 2) closed
# (not `run CMD <&-`: run's own pipe would take a free fd 0 or 1)
closed() {
	local fds=$1
	shift
	case $fds in
	0) "$@" <&- ;;
	1) "$@" >&- ;;
	2) "$@" 2>&- ;;
	01) "$@" <&- >&- ;;
	02) "$@" <&- 2>&- ;;
	12) "$@" >&- 2>&- ;;
	012) "$@" <&- >&- 2>&- ;;
	esac
}

# stopped PID: the process is stopped (state T in /proc/PID/stat)
stopped() {
	local state
	read -r _ _ state _ <"/proc/$1/stat" || return 2
	[ "$state" = T ]
}

# blocked PID: the process sleeps in the kernel's pipe write (pipe_write,
# anon_pipe_write): it waits for room in a full pipe or FIFO
blocked() {
	local w=
	# no newline at its end: read says EOF, and has read it
	read -r w <"/proc/$1/wchan" || [ -n "$w" ] || return 2
	[[ $w == *pipe_write ]]
}

# full_disk: FULL, a device on which every write fails with ENOSPC. As root
# a private node of /dev/full's kind in $T, so that a tlspipe that changed a
# device's mode (an older one did, to the key log's 0600) changes only ours;
# other users cannot change /dev/full's
full_disk() {
	FULL=/dev/full
	if [ "$(id -u)" -eq 0 ]; then
		FULL=$T/full
		mknod -m 666 "$FULL" c 1 7
	fi
}

# ---- stdout ----

@test "stdout on a full disk (/dev/full): exit 1, 'cannot write to stdout: No space left on device'" {
	full_disk
	peer --mode send --bytes 100k
	run --separate-stderr to_file "$FULL" tpq localhost "$PORT" </dev/null
	assert_equal "$status" 1
	one_line "cannot write to stdout: No space left on device"
}

@test "stdout a pipe whose reader has gone: exit 1 and 'Broken pipe', not a silent death by SIGPIPE" {
	peer --mode send --bytes 100k
	local out rpid
	# a pipe, and its only reader gone before tlspipe starts: no race
	exec {out}> >(exec true)
	rpid=$!
	wait_until 5000 none_alive "$rpid"
	# SIGPIPE at its default, as a shell pipeline would give it
	run --separate-stderr out_to "$out" env --default-signal=PIPE timeout 20 "$TP" --cafile "$CA" \
		localhost "$PORT" </dev/null
	exec {out}>&-
	assert_equal "$status" 1
	one_line "cannot write to stdout: Broken pipe"
}

# ---- stdin and stdout that cannot be used at all ----

@test "stdin that cannot be read, stdout that cannot be written: exit 2 before connecting, saying which" {
	closed_port
	: >"$T/file"
	run --separate-stderr tpq localhost "$CLOSED" <"$T"
	assert_equal "$status" 2
	one_line "stdin is a directory"
	run --separate-stderr tpq localhost "$CLOSED" 0>"$T/file"
	assert_equal "$status" 2
	one_line "stdin is open for writing only"
	run --separate-stderr read_only_out "$T/file" tpq localhost "$CLOSED" </dev/null
	assert_equal "$status" 2
	one_line "stdout is open for reading only"
	# what is not used is not checked: these get as far as connecting
	run --separate-stderr tpq --recv-only localhost "$CLOSED" <"$T"
	assert_equal "$status" 3
	run --separate-stderr read_only_out "$T/file" tpq --send-only localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
}

# ---- stdin ----

@test "stdin a FIFO that goes quiet: --idle-timeout ends the run (exit 6); without it, the FIFO's EOF ends it (exit 0)" {
	peer --mode echo
	hold_stdin
	"$TP" --cafile "$CA" --idle-timeout 1 localhost "$PORT" <"$T/stdin" >"$T/out" 2>"$T/err" 3>&- {HOLD}>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	echo "one line" >&"$HOLD"
	wait_for "$T/out" "one line" 5000
	reap "$TP_PID" 5
	assert_equal "$RC" 6
	grep -q 'no data for 1 s (--idle-timeout)' "$T/err"
	end_stdin
	end_server 5

	# no --idle-timeout: the quiet FIFO is waited for, and its end is the end
	peer --mode echo
	hold_stdin
	"$TP" --cafile "$CA" localhost "$PORT" <"$T/stdin" >"$T/out" 2>"$T/err" 3>&- {HOLD}>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	echo "one line" >&"$HOLD"
	wait_for "$T/out" "one line" 5000
	assert alive "$TP_PID"
	end_stdin
	reap "$TP_PID" 5
	assert_equal "$RC" 0
	assert_equal "$(cat "$T/out")" "one line"
	wait_server
	grep -q 'bytes=9 close_notify=1' "$T/srv.out"
}

# ---- closed standard fds ----

@test "stderr closed: the run works, and no message leaks into the connection" {
	random_file "$T/in" 50000
	peer --mode echo
	# -v and --trace write many lines: a socket on fd 2 would carry them
	run closed 2 to_file "$T/out" tpq --on-eof=notify -v --trace localhost "$PORT" <"$T/in"
	assert_success
	cmp "$T/in" "$T/out"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	grep -q 'bytes=50000 close_notify=1' "$T/srv.out"
}

@test "stderr closed: a usage error is still exit 2, and --stats=- still goes nowhere harmful" {
	closed_port
	run closed 2 timeout 10 "$TP" --stats=- --no-such-option localhost "$CLOSED"
	assert_equal "$status" 2
	assert_equal "$output" ""
}

@test "stdout and stderr closed: --send-only still moves every byte" {
	random_file "$T/in" 50000
	peer --mode echo
	run closed 12 tpq --on-eof=notify --send-only localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "every combination of closed standard fds ends with its documented status" {
	local c want
	local -a fds=(0 1 2 012)	# make check-full: the pairs too
	if full; then fds=(0 1 2 01 02 12 012); fi
	for c in "${fds[@]}"; do
		# with --send-only nothing needs stdout: a clean run, stdin empty
		peer --mode sink
		run closed "$c" tpq --on-eof=notify --send-only localhost "$PORT" </dev/null
		[ "$status" -eq 0 ] || { echo "fds $c closed, --send-only: exit $status: $output"; return 1; }
		wait_server
		grep -q 'bytes=0 close_notify=1' "$T/srv.out"
		# without it, a closed stdout is the usage error, before connecting
		if [[ $c == *1* ]]; then
			want=2
			closed_port
			PORT=$CLOSED
		else
			want=0
			peer --mode sink
		fi
		run closed "$c" tpq --on-eof=notify localhost "$PORT" </dev/null
		[ "$status" -eq "$want" ] || { echo "fds $c closed: exit $status, wanted $want: $output"; return 1; }
		[ "$want" -eq 2 ] || wait_server
	done
}

# ---- files that cannot be read or written ----

# as_nobody CMD...: CMD as an unprivileged user: permissions apply to root
# only through this (as tests/helpers.bash runs the real servers); its files
# live in $RS, a 0755 folder that teardown removes
as_nobody() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups -- "$@"
	else
		"$@"
	fi
}

@test "unreadable --cert, --key and --key-pass file:, an unwritable --stats: exit 2, each named with the reason" {
	RS=$(mktemp -d /tmp/tlspipe-local.XXXXXX)
	chmod 755 "$RS"
	cp "$CERTS/server.pem" "$CERTS/server.key" "$CERTS/enc.key" "$CA" "$RS/"
	echo sekrit >"$RS/pass"
	chmod 644 "$RS"/*
	chmod 000 "$RS/server.pem" "$RS/pass"
	mkdir -m 555 "$RS/ro"
	closed_port
	local -a base=(timeout 10 "$TP" --cafile "$RS/ca.pem")
	run --separate-stderr as_nobody "${base[@]}" --cert "$RS/server.pem" --key "$CERTS/server.key" localhost "$CLOSED"
	assert_equal "$status" 2
	one_line "--cert $RS/server.pem: cannot read it: Permission denied"
	chmod 644 "$RS/server.pem"
	chmod 000 "$RS/server.key"
	run --separate-stderr as_nobody "${base[@]}" --cert "$RS/server.pem" --key "$RS/server.key" localhost "$CLOSED"
	assert_equal "$status" 2
	one_line "--key $RS/server.key: cannot read it: Permission denied"
	run --separate-stderr as_nobody "${base[@]}" --cert "$RS/server.pem" --key "$RS/enc.key" \
		--key-pass "file:$RS/pass" localhost "$CLOSED"
	assert_equal "$status" 2
	one_line "--key-pass file:$RS/pass: cannot read it: Permission denied"
	run --separate-stderr as_nobody "${base[@]}" --stats="$RS/ro/stats.json" localhost "$CLOSED"
	assert_equal "$status" 2
	one_line "--stats $RS/ro/stats.json: Permission denied"
	assert [ ! -e "$RS/ro/stats.json" ]
}

# ---- --stats and --keylog on a full disk ----

@test "--stats on a full disk: the run's own status stays, with a warning that names --stats" {
	full_disk
	peer --mode echo
	run --separate-stderr tpq --on-eof=notify --stats="$FULL" localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	one_line "warning: cannot write --stats $FULL: No space left on device"
	# a failed run keeps its own status too, and says both
	closed_port
	run --separate-stderr tpq --stats="$FULL" localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	assert_equal "${#stderr_lines[@]}" 2
	stderr_has "cannot connect"
	stderr_has "warning: cannot write --stats $FULL: No space left on device"
}

@test "--keylog and SSLKEYLOGFILE on a full disk: exit 0, one warning, and a device's mode is never changed" {
	full_disk
	peer --mode echo
	run --separate-stderr tpq --on-eof=notify --keylog="$FULL" localhost "$PORT" <<<"hello"
	assert_equal "$(stat -c %a "$FULL")" 666
	assert_success
	assert_output "hello"
	# the announcement, then one warning for the five secrets of TLS 1.3
	assert_equal "${#stderr_lines[@]}" 2
	stderr_has "writing TLS secrets to $FULL"
	stderr_has "warning: cannot write the key log: No space left on device"
	peer --mode echo
	run --separate-stderr env SSLKEYLOGFILE="$FULL" timeout 20 "$TP" --cafile "$CA" --on-eof=notify \
		localhost "$PORT" <<<"hello"
	assert_equal "$(stat -c %a "$FULL")" 666
	assert_success
	assert_output "hello"
	assert_equal "${#stderr_lines[@]}" 2
	stderr_has "warning: cannot write the key log: No space left on device"
}

# ---- stopped and continued ----

@test "SIGSTOP, then SIGCONT, in the middle of a transfer both ways: every byte arrives, exit 0 (three write modes)" {
	local m wpid
	random_file "$T/a" 300000
	random_file "$T/b" 700000
	cat "$T/a" "$T/b" >"$T/in"
	for m in "" "-b" "--io=bio-pair"; do
		peer --mode echo
		hold_stdin
		# shellcheck disable=SC2086
		"$TP" --cafile "$CA" --on-eof=notify $m localhost "$PORT" <"$T/stdin" >"$T/out" 2>"$T/err" 3>&- {HOLD}>&- &
		TP_PID=$!
		BG+=("$TP_PID")
		cat "$T/a" >&"$HOLD"
		wait_size "$T/out" 100000
		kill -STOP "$TP_PID"
		wait_until 5000 stopped "$TP_PID"
		# the rest cannot all go in while it is stopped (a FIFO holds 64 KiB)
		cat "$T/b" >&"$HOLD" &
		wpid=$!
		BG+=("$wpid")
		wait_until 5000 blocked "$wpid"
		assert stopped "$TP_PID"
		kill -CONT "$TP_PID"
		reap "$wpid" 10
		assert_equal "$RC" 0
		end_stdin
		reap "$TP_PID" 10
		[ "$RC" -eq 0 ] || { echo "mode '$m': exit $RC"; cat "$T/err"; return 1; }
		cmp "$T/in" "$T/out"
		wait_server
		assert_equal "$(sink_sha)" "$(sha "$T/in")"
	done
}
