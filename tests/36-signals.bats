#!/usr/bin/env bats
# Signals that end an upload cleanly, in every write mode: the data in
# flight and close_notify reach the peer, and a peer that stopped reading
# cannot hold the exit for long. make check runs a few modes of each loop,
# make check-full every one.
load helpers

MODES=("" "-b" "-P" "-R" "--io=bio-pair" "-s 1000")

# ---- signals under load ----

# socket_full TRACE: until tlspipe's --trace shows a write that waits for
# the socket: WANT_WRITE, or (-b, where the write blocks inside SSL_write)
# more whole writes than the kernel's buffers hold (4 MiB + 64 KiB here);
# at most 30 s
socket_full() {
	follow "$1" 30000 '/WANT_WRITE/ || (/131072\) = 131072$/ && ++n >= 40)' && return 0
	echo "no full socket in $1:"
	tail "$1"
	return 1
}

# upload_signalled SIG CODE MODE...: SIG arrives while a write is pending
# on a full socket (the sink reads nothing until SIGUSR1 ends its pause,
# right after SIG: a slow mode on a loaded machine has all the time it
# needs to fill the socket); the record in flight and close_notify reach
# the sink, and tlspipe exits CODE
upload_signalled() {
	local sig=$1 code=$2
	shift 2
	head -c 8388608 /dev/zero >"$T/in"
	peer --mode sink --pause-ms 50000 --rcvbuf 65536
	env --default-signal="$sig" "$TP" --cafile "$CA" --trace --stats="$T/stats" "$@" \
		localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	socket_full "$T/err"
	kill -s "$sig" "$TP_PID"
	pkill -USR1 -P "$SRV_PID"	# the peer, under timeout(1)
	reap "$TP_PID" 6
	[ "$RC" -eq "$code" ] || { echo "mode '$*': exit $RC, wanted $code"; tail -5 "$T/err"; return 1; }
	wait_server
	local sent
	sent=$(jq -r .bytes_out "$T/stats")
	grep -q "bytes=$sent close_notify=1" "$T/srv.out" ||
		{ echo "mode '$*': sent $sent, the sink says: $(cat "$T/srv.out")"; return 1; }
}

@test "SIGTERM during an upload: the data in flight, then close_notify, reach the peer; exit 143 (every mode)" {
	local m
	local -a modes=("-b" "-P")	# the default and --io=bio-pair: SIGINT and SIGHUP below
	if full; then modes=("${MODES[@]}"); fi
	for m in "${modes[@]}"; do
		# shellcheck disable=SC2086
		upload_signalled TERM 143 $m
	done
}

@test "SIGINT and SIGHUP during an upload end it the same way" {
	upload_signalled INT 130
	upload_signalled HUP 129 --io=bio-pair
}

@test "a peer that stopped reading cannot hold a signalled exit for more than a few seconds" {
	local m t0
	local -a modes=("" "-b")
	if full; then modes=("${MODES[@]}"); fi
	head -c 8388608 /dev/zero >"$T/in"
	for m in "${modes[@]}"; do
		peer --mode stall --hold-ms 15000 --rcvbuf 65536
		# shellcheck disable=SC2086
		"$TP" --cafile "$CA" --trace $m localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err" 3>&- &
		TP_PID=$!
		BG+=("$TP_PID")
		socket_full "$T/err"
		now_us
		t0=$NOW_US
		kill -TERM "$TP_PID"
		reap "$TP_PID" 8
		ms_since "$t0"
		[ "$RC" -eq 143 ] || { echo "mode '$m': exit $RC after $MS ms"; return 1; }
		kill "$SRV_PID"
		wait_server
	done
}
