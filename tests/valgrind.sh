#!/bin/bash
# make valgrind: one small transfer per write mode, a TLS 1.3 key update, a
# TLS 1.2 renegotiation and a tlspipe server, each with tlspipe under
# valgrind (memcheck): what arrives must be exact, both ends must exit 0, and
# valgrind must report no error and no definite leak. One line per case,
# then "N passed, N failed"; non-zero on any failure. Everything runs under
# timeout, each wait is on an event (the peer's "listening on" line, a
# process's exit), and every process started is reaped.
set -u
cd "$(dirname "$0")/.." || exit 1
TP=$PWD/tlspipe
PEER=$PWD/tests/peer
SIZE=${VG_SIZE:-200000}	# bytes each way: many records, a few seconds under valgrind
LIMIT=120	# seconds for one side of one case (valgrind runs ~20-50x slower)
EVERY=$((SIZE >= 20 ? SIZE / 10 : 1))	# bytes between rekeys: about ten per run

for f in "$TP" "$PEER"; do
	[ -x "$f" ] || { echo "no $f: run make tlspipe tests/peer"; echo "0 passed, 1 failed"; exit 1; }
done
command -v valgrind >/dev/null || { echo "no valgrind: sudo apt-get install valgrind"; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-valgrind.XXXXXX") || exit 1
PIDS=()	# background processes not yet reaped
cleanup() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM -- "-$p" "$p" 2>/dev/null
	done
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tests/mkcerts.sh "$work/certs" >"$work/mkcerts.log" 2>&1 ||
	{ cat "$work/mkcerts.log"; echo "0 passed, 1 failed"; exit 1; }
CERTS=$work/certs
head -c "$SIZE" /dev/urandom >"$work/in"
head -c "$SIZE" /dev/urandom >"$work/in2"

# valgrind's verdict is its exit status 99, and its log (-q: errors only)
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --num-callers=30)
# valgrind runs its own system calls in the process: a seccomp filter would
# refuse them (valgrind dies of SIGSYS), so tlspipe runs without its sandbox
NOSB=--no-sandbox

# start NAME CMD...: CMD in the background (stdin $STDIN, else /dev/null;
# stderr $work/NAME.err, stdout $work/NAME.out), in SPID; then wait for its "listening on ADDR:PORT" line
# (tail -F wakes on each write: no polling), at most 60 s, the port in PORT
start() {
	local name=$1 fd tpid
	shift
	: >"$work/$name.err"
	"$@" <"${STDIN:-/dev/null}" >"$work/$name.out" 2>"$work/$name.err" &
	SPID=$!
	PIDS+=("$SPID")
	exec {fd}< <(exec tail -n +1 -F --pid="$SPID" "$work/$name.err" 2>/dev/null)
	tpid=$!
	PORT=$(timeout 60 sed -n -u 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p; T; q' <&"$fd")
	exec {fd}<&-
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	[ -n "$PORT" ]
}

# reap PID: its exit status in RC (it runs under timeout: it ends)
reap() {
	local keep=() p
	RC=0
	wait "$1" || RC=$?
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

passed=0 failed=0
# verdict NAME WHY: WHY empty is a pass; else the case fails, with the logs
verdict() {
	if [ -z "$2" ]; then
		echo "ok - valgrind: $1"
		passed=$((passed + 1))
		return
	fi
	echo "not ok - valgrind: $1: $2"
	for f in "$work"/*.err "$work"/vg.*; do
		[ -s "$f" ] && { echo "# $(basename "$f"):"; tail -n 30 "$f" | sed 's/^/#   /'; }
	done
	failed=$((failed + 1))
}

# vg_clean NAME: valgrind's log for NAME holds no report
vg_clean() {
	! [ -s "$work/vg.$1" ]
}

# client NAME PEER-OPTIONS -- TLSPIPE-OPTIONS: $work/in through an echo peer
# and back, with the tlspipe client under valgrind
client() {
	local name=$1 popts=() why=''
	shift
	while [ "$1" != -- ]; do popts+=("$1"); shift; done
	shift
	rm -f "$work"/*.err "$work"/*.out "$work"/vg.*
	if ! start peer timeout "$LIMIT" "$PEER" --mode echo --cert "$CERTS/server.pem" \
		--key "$CERTS/server.key" --max-secs "$LIMIT" "${popts[@]}"; then
		reap "$SPID"
		verdict "$name" "the peer did not start (exit $RC)"
		return
	fi
	timeout "$LIMIT" "${VG[@]}" --log-file="$work/vg.$name" "$TP" "$NOSB" --cafile "$CERTS/ca.pem" \
		--stats="$work/stats.json" "$@" localhost "$PORT" <"$work/in" >"$work/back" 2>"$work/client.err"
	local crc=$?
	reap "$SPID"
	if [ "$crc" -eq 99 ] || ! vg_clean "$name"; then
		why="valgrind reported errors (exit $crc)"
	elif [ "$crc" -ne 0 ]; then
		why="tlspipe exit $crc"
	elif [ "$RC" -ne 0 ]; then
		why="the peer exit $RC"
	elif ! cmp -s "$work/in" "$work/back"; then
		why="the bytes that came back differ ($(wc -c <"$work/back") of $SIZE)"
	elif [ -n "${WANT_REKEYS:-}" ] && ! grep -q '"rekeys":[1-9]' "$work/stats.json"; then
		why="no rekey in --stats: $(cat "$work/stats.json")"
	fi
	verdict "$name" "$why"
}

# server: tlspipe -l (an ephemeral identity, an ALPN pick) under valgrind
# sends $work/in to a plain tlspipe client checking its pin, which sends
# $work/in2 back
server() {
	local why='' crc name="server (ephemeral identity, --alpn)"
	rm -f "$work"/*.err "$work"/*.out "$work"/vg.*
	if ! STDIN=$work/in start tpserver timeout "$LIMIT" "${VG[@]}" --log-file="$work/vg.server" "$TP" "$NOSB" -l \
		--on-eof=notify --alpn=imap,h2 0; then
		reap "$SPID"
		verdict "$name" "tlspipe -l did not start (exit $RC)"
		return
	fi
	PIN=$(sed -n 's/.* pin \(sha256\/\/[A-Za-z0-9+\/=]*\).*/\1/p' "$work/tpserver.err")
	timeout "$LIMIT" "$TP" --pin "$PIN" --alpn=h2 127.0.0.1 "$PORT" <"$work/in2" >"$work/back" 2>"$work/client.err"
	crc=$?
	reap "$SPID"
	if [ "$RC" -eq 99 ] || ! vg_clean server; then
		why="valgrind reported errors (exit $RC)"
	elif [ "$RC" -ne 0 ] || [ "$crc" -ne 0 ]; then
		why="tlspipe -l exit $RC, the client exit $crc"
	elif ! cmp -s "$work/in" "$work/back"; then
		why="the client got other bytes than the server sent"
	elif ! cmp -s "$work/in2" "$work/tpserver.out"; then
		why="the server got other bytes than the client sent"
	fi
	verdict "$name" "$why"
}

client "default" --
client "-b" -- -b
client "-P" -- -P
client "-R" -- -R
client "--io=bio-pair" -- --io=bio-pair
client "-s 1000" -- -s 1000
WANT_REKEYS=1 client "TLS 1.3 key update every $EVERY bytes" -- --key-update-every="$EVERY"
WANT_REKEYS=1 client "TLS 1.2 renegotiation every $EVERY bytes" --tls 1.2 --allow-client-reneg -- \
	--max-tls=1.2 --renegotiate-every="$EVERY"
server

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
