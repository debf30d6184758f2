# Loaded by every .bats file: the tools, real peers on loopback, cleanup.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
TP="$TOP/tlspipe"
PEER="$TOP/tests/peer"
CERTS=${TP_CERTS:?run the tests with make check}
CA="$CERTS/ca.pem"

setup() {
	T=$BATS_TEST_TMPDIR
	SRV_PID= TP_PID= BG_PID= HOLD= PIN=
}

# kill_reap PID...: stop and reap what a test left running
kill_reap() {
	local p
	for p in "$@"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# a tlspipe (TP_PID) or helper (BG_PID) in the background, a held stdin
# (HOLD) and the server (SRV_PID, which gets a TERM to say its goodbyes)
teardown() {
	kill_reap ${TP_PID:-} ${BG_PID:-}
	end_stdin
	if [ -n "${SRV_PID:-}" ]; then
		kill "$SRV_PID" 2>/dev/null || true
		wait "$SRV_PID" 2>/dev/null || true
	fi
}

# start_server CMD...: run a peer in the background (stdout $T/srv.out,
# stderr $T/srv.err) and wait for its "listening on ADDR:PORT" line.
# Sets SRV_PID and PORT. Stdin is /dev/null unless SRV_STDIN names a file.
start_server() {
	rm -f "$T/srv.out" "$T/srv.err"	# a loop must not read the last server's line
	"$@" <"${SRV_STDIN:-/dev/null}" >"$T/srv.out" 2>"$T/srv.err" 3>&- &
	SRV_PID=$!
	local i
	for i in $(seq 100); do
		PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\).*/\1/p; s/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' \
			"$T/srv.err" "$T/srv.out" 2>/dev/null | head -n 1)
		[ -n "$PORT" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "server did not start: $*" >&2
	cat "$T/srv.err" >&2
	return 1
}

# wait_server: reap the background server; its status lands in SRV_RC.
wait_server() {
	SRV_RC=0
	wait "$SRV_PID" || SRV_RC=$?
	SRV_PID=
}

# sink [peer options]: a test peer that hashes what it receives.
sink() {
	start_server timeout 60 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode sink "$@"
}

# tlspipe client against the local CA; under timeout like everything
tp() {
	timeout 60 "$TP" --cafile "$CA" "$@"
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}

random_file() {	# random_file PATH BYTES
	head -c "$2" /dev/urandom >"$1"
}

# the sink's report: sha256=... bytes=N close_notify=1 ...
sink_sha() {
	sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' "$T/srv.out"
}

now_ms() {
	date +%s%3N
}

# pattern N: what peer --mode send --bytes N sends
pattern() {
	seq -f '%015.0f' 0 $(($1 / 16)) | head -c "$1"
}

# to_file FILE CMD...: CMD's stdout into FILE (for `run`, which keeps stderr)
to_file() {
	local f=$1
	shift
	"$@" >"$f"
}

stderr_has() {
	if ! grep -qiF -- "$1" <<<"$stderr"; then
		echo "stderr lacks \"$1\":"
		echo "$stderr"
		return 1
	fi
}

# a port nothing listens on (sets CLOSED)
closed_port() {
	start_server timeout 30 "$PEER" --mode silent
	CLOSED=$PORT
	kill "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=
}

# hold_stdin: a fifo $T/stdin that stays open (no EOF) until end_stdin.
# Start servers before this, and give commands {HOLD}>&-, or they hold it too.
hold_stdin() {
	rm -f "$T/stdin"
	mkfifo "$T/stdin"
	exec {HOLD}<>"$T/stdin"
}
end_stdin() {
	if [ -n "${HOLD:-}" ]; then
		exec {HOLD}>&-
		HOLD=
	fi
}

# reap PID SECS: wait at most SECS for PID (then kill -9); its status in RC
reap() {
	local i
	for i in $(seq $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null || true
	RC=0
	wait "$1" || RC=$?
}

# end_server SECS: the server must be done within SECS, else it gets SIGTERM
# (timeout(1) passes it on) and, 2 s later, SIGKILL; its status in SRV_RC
end_server() {
	local i
	for i in $(seq $(($1 * 20))); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill "$SRV_PID" 2>/dev/null; then
		for i in $(seq 40); do
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$SRV_PID" 2>/dev/null || true
	fi
	wait_server
}

# refused ARGS...: tlspipe ARGS is exit 2, stdout empty, and stderr is one
# line that starts with "tlspipe: "
refused() {
	run --separate-stderr timeout 10 "$TP" "$@"
	if [ "$status" -ne 2 ] || [ -n "$output" ] || [ "${#stderr_lines[@]}" -ne 1 ] ||
		[[ ${stderr_lines[0]} != "tlspipe: "* ]]; then
		echo "tlspipe $*"
		echo "expected: exit 2, one 'tlspipe: ' line on stderr, nothing on stdout"
		echo "got: exit $status"
		echo "stdout: $output"
		echo "stderr:"
		echo "$stderr"
		return 1
	fi
}
