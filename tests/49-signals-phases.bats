#!/usr/bin/env bats
# Every signal in every phase of a run: resolving the name, connecting, the
# handshake, the transfer, the grace before our close_notify, the wait for
# the peer's after it, and a server's wait for its client. Each phase is
# held by its peer and reached on an event (the DNS query, the SYN, the
# ClientHello, the bytes, a --trace line), never after a sleep.
#   SIGINT, SIGTERM, SIGHUP end the run in any phase: exit 128+n, soon, with
#     one message, --stats says so, and after the handshake the peer gets
#     close_notify; what arrived before is on stdout.
#   SIGQUIT, SIGALRM, SIGUSR2 keep their default action: killed at once
#     (128+n to the shell), no message, no --stats line, no close_notify;
#     what was written to stdout stays.
#   SIGPIPE (ignored), SIGUSR1 (one rekey, once the handshake is done and
#     only before our close_notify), SIGSTOP then SIGCONT: the run goes on,
#     and ends as it would have, nothing lost.
# And: a SIGHUP ignored at start (nohup) stays ignored; a signal that lands
# between the loop's look at its flags and its select() still wakes it.
# (36-signals ends uploads with a full socket in every write mode.)
# The quick run ends each phase with one handled and one default signal, a
# different pair per phase; TP_FULL=1 with all six in every phase.
# stderr is set by run --separate-stderr; BG, TP_PID and the rest live in
# each test's own subshell; HOLDS is helpers.bash's
# shellcheck disable=SC2154,SC2030,SC2031,SC2153
load helpers
bats_require_minimum_version 1.5.0

ALL_ENDING=(INT TERM HUP QUIT ALRM USR2)

# ending QUICK...: the signals that end a phase: QUICK, or all six (TP_FULL)
ending() {
	if [ "${TP_FULL:-0}" = 1 ]; then
		ENDING=("${ALL_ENDING[@]}")
	else
		ENDING=("$@")
	fi
}

# handled SIG: tlspipe catches SIG (a clean end), else its default action kills it
handled() {
	case $1 in INT | TERM | HUP) return 0 ;; esac
	return 1
}

# signum SIG: its number, in N
signum() {
	case $1 in
	HUP) N=1 ;; INT) N=2 ;; QUIT) N=3 ;; USR2) N=12 ;; ALRM) N=14 ;; TERM) N=15 ;;
	*) return 1 ;;
	esac
}

# told SIG: what tlspipe says when SIG ends it (strsignal's words)
told() {
	local -A desc=([INT]=Interrupt [TERM]=Terminated [HUP]=Hangup)
	signum "$1"
	echo "tlspipe: interrupted by signal $N (${desc[$1]})"
}

# ---- tlspipe in the background ----

# tp_bg ARGS...: tlspipe ARGS in the background, --stats in $T/stats,
# stdout $T/out, stderr $T/err, stdin $T/stdin when held (hold_stdin), else
# /dev/null; no core file (SIGQUIT's would land in the test's folder).
# Every signal starts at its default action: an ignored one stays ignored
# across exec, and a test harness may ignore some (GNU parallel: SIGQUIT
# and SIGALRM; sh, for a background job: SIGINT and SIGQUIT).
# Sets TP_PID (in BG).
tp_bg() {
	local in=/dev/null v fd
	[ -z "${HOLD:-}" ] || in=$T/stdin
	: >"$T/err"
	(
		for v in ${HOLDS[@]+"${HOLDS[@]}"}; do
			fd=${!v}
			[ -z "$fd" ] || exec {fd}>&-
		done
		ulimit -c 0
		exec env --default-signal "$TP" --stats="$T/stats" "$@"
	) <"$in" >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
}

# state PID: the letter of its state in /proc (R, S, T...), in ST; 2 when it is gone
state() {
	local s
	read -r s 2>/dev/null <"/proc/$1/stat" || return 2
	s=${s##*) }
	ST=${s:0:1}
}
stopped() {
	state "$1" || return 2
	[ "$ST" = T ]
}
not_stopped() {
	state "$1" || return 2
	[ "$ST" != T ]
}

# tp_gone SECS: tlspipe (or the namespace script that runs it) ends within
# SECS, else it is killed (the script with all it started: timeout(1) leads
# a process group); its status in RC, the milliseconds since T0 (the
# signal) in MS
tp_gone() {
	local p=${NS_PID:-$TP_PID}
	if ! wait_until $(($1 * 1000)) none_alive "$p"; then
		[ -z "${NS_PID:-}" ] || kill -KILL -- "-$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
	fi
	RC=0
	wait "$p" || RC=$?
	forget "$p"
	ms_since "$T0"
	NS_PID=
}

# messages: stderr without the --trace lines and -l's listening line, in MSGS
messages() {
	local line re='^tlspipe: +[0-9]+\.[0-9]{3} |^tlspipe: listening on '
	MSGS=
	while IFS= read -r line; do
		[[ $line =~ $re ]] || MSGS+=$line$'\n'
	done <"$T/err"
}

# ends PHASE SIG: SIG ends tlspipe (TP_PID, held in PHASE) as documented:
# handled, exit 128+n within 4 s (2 s of goodbye at most), one message
# that names it, and --stats with its code; default, killed at once (128+n
# to the shell, within 2 s), no message, no --stats. The phase's own checks
# follow, in the test.
ends() {
	local phase=$1 sig=$2
	signum "$sig"
	now_us
	T0=$NOW_US
	kill -s "$sig" "$TP_PID"
	[ -z "${POKE:-}" ] || pkill -USR1 -P "$SRV_PID"	# the peer's pause ends: it closes
	tp_gone 10
	[ "$RC" -eq $((128 + N)) ] || fail "$phase, SIG$sig: exit $RC after $MS ms, wanted $((128 + N)): $(<"$T/err")"
	messages
	if handled "$sig"; then
		[ "$MS" -lt 4000 ] || fail "$phase, SIG$sig: $MS ms to exit"
		[ "$MSGS" = "$(told "$sig")"$'\n' ] || fail "$phase, SIG$sig: stderr says: $MSGS"
		[ "$(jstat "$T/stats" exit_code)" = $((128 + N)) ] || fail "$phase, SIG$sig: --stats: $(<"$T/stats")"
	else
		[ "$MS" -lt 2000 ] || fail "$phase, SIG$sig: $MS ms to die"
		[ -z "$MSGS" ] || fail "$phase, SIG$sig: a message from a killed tlspipe: $MSGS"
		[ ! -s "$T/stats" ] || fail "$phase, SIG$sig: --stats from a killed tlspipe: $(<"$T/stats")"
	fi
}

# lives_through PHASE: SIGPIPE, SIGUSR1, SIGSTOP and SIGCONT; tlspipe
# stops at SIGSTOP (so the two before it did not kill it) and goes on at
# SIGCONT. What happens next is the test's to check.
lives_through() {
	kill -PIPE "$TP_PID"
	kill -USR1 "$TP_PID"
	kill -STOP "$TP_PID"
	wait_until 5000 stopped "$TP_PID" || fail "$1: tlspipe did not stop at SIGSTOP: $(<"$T/err")"
	kill -CONT "$TP_PID"
	wait_until 5000 not_stopped "$TP_PID" || fail "$1: tlspipe did not go on at SIGCONT"
}

# tp_ok: tlspipe ends on its own, exit 0, within 10 s
tp_ok() {
	tp_gone 10
	[ "$RC" -eq 0 ] || fail "exit $RC: $(<"$T/err")"
}

# term_ends PHASE: after lives_through, still held there: SIGTERM ends it as ever
term_ends() {
	ends "$1" TERM
}

# ---- resolve: a DNS server that never answers ----

# A user, network and mount namespace of our own (as root and as anyone
# else alike): loopback up, /etc/resolv.conf bind-mounted to ask 127.0.0.1
# with a 30 s timeout and one attempt, where a UDP socket (hole.py) logs
# each query to $T/dns.log and answers none. ns.sh runs in there: the hole,
# then tlspipe (its PID into $T/tp.pid); it exits with tlspipe's status.
ns_files() {
	printf 'nameserver 127.0.0.1\noptions timeout:30 attempts:1\n' >"$T/resolv.conf"
	cat >"$T/hole.py" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		s.bind(("127.0.0.1", 53))
		s.settimeout(60)  # gone by itself a minute after the last query, whatever happens
		print("ready", flush=True)
		with open(sys.argv[1], "a") as log:
		    try:
		        while True:
		            log.write("query of %d bytes, not answered\n" % len(s.recv(4096)))
		            log.flush()
		    except OSError:
		        pass
	EOF
	cat >"$T/ns.sh" <<-'EOF'
		T=$1 IP=$2 PY=$3
		shift 3
		"$IP" link set lo up || exit 90
		mount --bind "$T/resolv.conf" /etc/resolv.conf || exit 91
		exec {hole}< <(exec "$PY" "$T/hole.py" "$T/dns.log")
		hole_pid=$!
		read -r -t 10 _ <&"$hole" || exit 92
		(ulimit -c 0; exec "$@") </dev/null >"$T/out" 2>"$T/err" &
		tp=$!
		echo "$tp" >"$T/tp.pid.new"
		mv "$T/tp.pid.new" "$T/tp.pid"
		wait "$tp"
		rc=$?
		kill "$hole_pid"
		wait "$hole_pid"
		exit "$rc"
	EOF
}

# need_netns: skip (with the reason) where namespaces cannot be made
need_netns() {
	local err
	IP=$(command -v ip || echo /usr/sbin/ip)
	[ -x "$IP" ] || skip "no ip(8) (iproute2) to bring up loopback in a network namespace"
	[ -x "$REAL_PY" ] || skip "no $REAL_PY for the DNS server that never answers"
	err=$(timeout 10 unshare --user --map-root-user --net --mount true 2>&1) ||
		skip "cannot make user, network and mount namespaces here: $err"
}

# no_hole: the DNS server of the namespace is gone with it
no_hole() {
	! pgrep -f "$T/hole.py" >/dev/null || fail "the DNS server outlived its namespace"
}

# dns_asked: the query has come (tlspipe waits in getaddrinfo), and
# tlspipe's PID is known (TP_PID); 2 when the namespace is gone
dns_asked() {
	has "$T/dns.log" "query" && [ -e "$T/tp.pid" ] && read -r TP_PID <"$T/tp.pid" && return 0
	alive "$NS_PID" || return 2
	return 1
}

# hold_resolve [OPTION...]: tlspipe [OPTION...] resolve.tlspipe.example 443,
# in getaddrinfo
hold_resolve() {
	local why
	need_netns
	ns_files
	rm -f "$T/dns.log" "$T/tp.pid"
	: >"$T/err"
	timeout 20 unshare --user --map-root-user --net --mount bash "$T/ns.sh" "$T" "$IP" "$REAL_PY" \
		env --default-signal "$TP" --stats="$T/stats" "$@" resolve.tlspipe.example 443 </dev/null 2>"$T/ns.err" 3>&- &
	NS_PID=$!
	BG+=("$NS_PID")
	wait_until 10000 dns_asked && return 0
	T0=$NOW_US
	tp_gone 1
	case $RC in
	90) why="cannot bring up loopback" ;; 91) why="cannot bind-mount /etc/resolv.conf" ;;
	92) why="the DNS server that never answers did not start" ;;
	*) fail "no DNS query from tlspipe (exit $RC): $(<"$T/err")" ;;
	esac
	skip "resolve cannot be held here: in the namespaces, $why: $(<"$T/ns.err")"
}

@test "resolving the name: a signal ends the wait for a DNS server that never answers; SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not" {
	local sig
	ending INT QUIT
	for sig in "${ENDING[@]}"; do
		hold_resolve
		ends resolve "$sig"
		assert_equal "$(<"$T/out")" ""
		no_hole
	done
	hold_resolve
	lives_through resolve
	term_ends resolve
	no_hole
}

@test "resolving the name: -w bounds the lookup too: a DNS server that never answers is exit 6 after -w 1, saying so" {
	hold_resolve -w 1
	now_us
	T0=$NOW_US
	tp_gone 10
	[ "$RC" -eq 6 ] || fail "exit $RC after $MS ms: $(<"$T/err")"
	# the lookup began before T0: at most 1 s after it, with room for a loaded machine
	[ "$MS" -lt 3000 ] || fail "$MS ms after the query to give up"
	messages
	[ "$MSGS" = $'tlspipe: timed out: cannot resolve resolve.tlspipe.example within 1 s\n' ] ||
		fail "stderr says: $MSGS"
	[ "$(jstat "$T/stats" exit_code)" = 6 ] || fail "--stats: $(<"$T/stats")"
	no_hole
}

# ---- connect: a listener whose backlog is full ----

# backlog_full: a listener (listen(0), one connection queued, never
# accepted): a SYN to it is dropped, so connect() waits
backlog_full() {
	start_server timeout 60 "$REAL_PY" -c '
import socket, sys, time
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(0)
queued = socket.create_connection(l.getsockname())
print("listening on 127.0.0.1:%d" % l.getsockname()[1], file=sys.stderr, flush=True)
time.sleep(60)'
}

# syn_sent: a socket in SYN_SENT towards 127.0.0.1:PORT (read by bash from
# /proc/net/tcp); 2 when tlspipe is gone
syn_sent() {
	local line hex re
	printf -v hex '%04X' "$PORT"
	re="^ *[0-9]+: [0-9A-F]{8}:[0-9A-F]{4} 0100007F:$hex 02 "
	while IFS= read -r line; do
		[[ $line =~ $re ]] && return 0
	done </proc/net/tcp
	alive "$TP_PID" || return 2
	return 1
}

# hold_connect: tlspipe 127.0.0.1 PORT, its SYN dropped by the full backlog
hold_connect() {
	tp_bg 127.0.0.1 "$PORT"
	wait_until 10000 syn_sent || fail "tlspipe sent no SYN: $(<"$T/err")"
}

@test "connecting: a signal ends a connect() that waits for a full backlog; SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not" {
	local sig
	ending HUP ALRM
	backlog_full
	for sig in "${ENDING[@]}"; do
		hold_connect
		ends connect "$sig"
		assert_equal "$(<"$T/out")" ""
	done
	hold_connect
	lives_through connect
	term_ends connect
}

# ---- the handshake: a peer stopped before it could answer ----

# peer_pid: the test peer's own PID (SRV_PID is its timeout(1)), in PEER_PID
peer_pid() {
	PEER_PID=$(pgrep -P "$SRV_PID")
	[ -n "$PEER_PID" ]
}

# stopped_peer: an echo peer, stopped (SIGSTOP) before it could accept:
# the kernel accepts for it, and nobody answers the ClientHello
stopped_peer() {
	peer --mode echo
	peer_pid
	kill -STOP "$PEER_PID"
	wait_until 5000 stopped "$PEER_PID"
}

# hold_handshake ARGS...: tlspipe ARGS, after its ClientHello to the stopped peer
hold_handshake() {
	tp_bg --cafile "$CA" --trace "$@" localhost "$PORT"
	wait_for "$T/err" "sent ClientHello" 10000
}

@test "the handshake: a signal ends it (no close_notify: no keys yet); SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not, and the rekey asked for comes after it" {
	local sig
	ending TERM USR2
	for sig in "${ENDING[@]}"; do
		stopped_peer
		hold_handshake
		ends handshake "$sig"
		assert_equal "$(<"$T/out")" ""
		assert_equal "$(jstat "$T/stats" close_notify_sent)" "$(handled "$sig" && echo false)"
		kill -CONT "$PEER_PID"
		end_server 5
		grep -q 'close_notify=0' "$T/srv.out" || grep -q 'handshake failed' "$T/srv.err"
	done
	stopped_peer
	hold_stdin	# after the peer: it must not hold the fifo open too
	hold_handshake --on-eof=notify
	lives_through handshake
	kill -CONT "$PEER_PID"
	echo "after the signals" >&"$HOLD"
	wait_for "$T/out" "after the signals" 10000
	end_stdin
	tp_ok
	assert_equal "$(<"$T/out")" "after the signals"
	assert_equal "$(jstat "$T/stats" rekeys)" 1
	end_server 5
	assert_equal "$SRV_RC" 0
	grep -q 'close_notify=1' "$T/srv.out"
}

# ---- the transfer: an echo peer, stdin still open ----

# hold_transfer ARGS...: tlspipe ARGS with an echo peer; 64 KiB went
# through and came back; stdin stays open
hold_transfer() {
	peer --mode echo
	hold_stdin
	tp_bg --cafile "$CA" "$@" localhost "$PORT"
	timeout 10 cat "$T/data" >&"$HOLD"
	wait_size "$T/out" 65536
}

@test "the transfer: a signal ends it, with close_notify when handled; what came back is all on stdout; SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not" {
	local sig
	random_file "$T/data" 65536
	ending INT ALRM
	for sig in "${ENDING[@]}"; do
		hold_transfer
		ends transfer "$sig"
		cmp "$T/data" "$T/out"
		end_stdin
		end_server 5
		if handled "$sig"; then
			assert_equal "$(jstat "$T/stats" bytes_in)" 65536
			assert_equal "$(jstat "$T/stats" close_notify_sent)" true
			grep -q 'bytes=65536 close_notify=1' "$T/srv.out" || fail "SIG$sig: the peer says $(<"$T/srv.out")"
		else
			grep -q 'bytes=65536 close_notify=0' "$T/srv.out" || fail "SIG$sig: the peer says $(<"$T/srv.out")"
		fi
	done
	hold_transfer --on-eof=notify
	lives_through transfer
	timeout 10 cat "$T/data" >&"$HOLD"
	wait_size "$T/out" 131072
	end_stdin
	tp_ok
	cat "$T/data" "$T/data" | cmp - "$T/out"
	assert_equal "$(jstat "$T/stats" rekeys)" 1
	end_server 5
	grep -q 'bytes=131072 close_notify=1' "$T/srv.out"
}

@test "under nohup (SIGHUP ignored when tlspipe starts) a hangup does not end the transfer; SIGTERM still does" {
	random_file "$T/data" 65536
	peer --mode echo
	hold_stdin
	(
		exec {HOLD}>&-
		exec env --default-signal --ignore-signal=HUP "$TP" --cafile "$CA" --stats="$T/stats" localhost "$PORT"
	) <"$T/stdin" >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	timeout 10 cat "$T/data" >&"$HOLD"
	wait_size "$T/out" 65536
	kill -HUP "$TP_PID"
	# a round trip after it: a caught SIGHUP would have ended the run first
	timeout 10 cat "$T/data" >&"$HOLD"
	wait_size "$T/out" 131072
	ends transfer TERM
	cat "$T/data" "$T/data" | cmp - "$T/out"
	end_stdin
	end_server 5
	grep -q 'bytes=131072 close_notify=1' "$T/srv.out"
}

# A signal can land after the loop has looked at the flags and before it is
# inside select(): the handler ran already, so select() is not interrupted,
# and only the self-pipe the handler writes to wakes it. strace holds the
# return of each write(2) for half a second: the first is tlspipe's write of
# the peer's line to stdout, and SIGTERM lands while it is held; then the
# loop goes on to a select() with nothing else to wake it (the peer has said
# its line, stdin stays open).
# traced: tlspipe runs under strace (under timeout, NS_PID); its PID in TP_PID
traced() {
	local st
	st=$(pgrep -x strace -P "$NS_PID") && TP_PID=$(pgrep -x tlspipe -P "$st") && return 0
	alive "$NS_PID" || return 2
	return 1
}

@test "a signal that lands after the loop looked for one, before it sleeps in select(), still ends the run at once" {
	local out
	out=$(timeout 10 strace -qq -o /dev/null true 2>&1) || skip "strace cannot trace here: $out"
	peer --mode speak-first
	hold_stdin
	# (LeakSanitizer cannot work under ptrace: off, in a SANITIZE=1 build)
	timeout 30 strace -qq -o /dev/null -e trace=write -e inject=write:delay_exit=500000 \
		env --default-signal ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$TP" --cafile "$CA" localhost "$PORT" <"$T/stdin" >"$T/out" 2>"$T/err" {HOLD}>&- 3>&- &
	NS_PID=$!	# tp_gone waits for strace (timeout's group): it exits as tlspipe does
	BG+=("$NS_PID")
	wait_until 5000 traced || fail "no tlspipe under strace: $(<"$T/err")"
	BG+=("$TP_PID")
	wait_for "$T/out" "hello from peer" 10000
	now_us
	T0=$NOW_US
	kill -TERM "$TP_PID"
	tp_gone 10
	[ "$RC" -eq 143 ] || fail "exit $RC after $MS ms: $(<"$T/err")"
	# half a second for the held write, half for the message's
	assert [ "$MS" -lt 3000 ]
	assert_equal "$(<"$T/err")" "$(told TERM)"
	assert_equal "$(<"$T/out")" "hello from peer"
	end_server 5
	grep -q 'close_notify=1' "$T/srv.out"
}

# ---- the end: the grace before our close_notify ----

# hold_grace: stdin is empty; tlspipe waits for a sink to be quiet for 30 s
# (--on-eof=auto) before its close_notify
hold_grace() {
	sink
	tp_bg --cafile "$CA" --trace --eof-grace=30 localhost "$PORT"
	wait_for "$T/err" "close_notify waits until" 10000
}

@test "the grace before close_notify: a handled signal sends it at once, a default one none; SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not end the wait" {
	local sig
	ending HUP QUIT
	for sig in "${ENDING[@]}"; do
		hold_grace
		ends grace "$sig"
		end_server 5
		if handled "$sig"; then
			grep -q 'bytes=0 close_notify=1' "$T/srv.out" || fail "SIG$sig: the sink says $(<"$T/srv.out")"
		else
			grep -q 'bytes=0 close_notify=0' "$T/srv.out" || fail "SIG$sig: the sink says $(<"$T/srv.out")"
		fi
	done
	hold_grace
	lives_through grace
	term_ends grace
	# SIGUSR1 came before our close_notify: one key update
	assert_equal "$(jstat "$T/stats" rekeys)" 1
	end_server 5
	grep -q 'bytes=0 close_notify=1' "$T/srv.out"
}

# ---- the end: our close_notify is out, the peer's reply is not ----

# hold_closing: a peer that replies a minute after our close_notify (or
# when SIGUSR1 ends its pause); --on-eof=notify sends ours at once
hold_closing() {
	peer --mode reply --delay-ms 60000 --text "late reply"
	tp_bg --cafile "$CA" --trace --on-eof=notify localhost "$PORT"
	wait_for "$T/err" "close_notify sent" 10000
}

@test "waiting for the peer's close_notify after ours: a signal ends the wait; SIGPIPE, SIGUSR1 (no rekey after close_notify), SIGSTOP+SIGCONT do not" {
	local sig
	ending TERM ALRM
	for sig in "${ENDING[@]}"; do
		hold_closing
		# the peer replies and closes once tlspipe has the signal: the
		# goodbye of a handled one does not wait for its 2 s
		POKE=1 ends closing "$sig"
		assert_equal "$(<"$T/out")" ""
		end_server 5
	done
	hold_closing
	lives_through closing
	pkill -USR1 -P "$SRV_PID"
	tp_ok
	assert_equal "$(<"$T/out")" "late reply"
	assert_equal "$(jstat "$T/stats" rekeys)" 0
	end_server 5
	assert_equal "$SRV_RC" 0
}

# ---- a server's wait for its client ----

hold_accept() {
	tp_bg -l 0
	wait_until 10000 port_said "$T/err" || fail "tlspipe -l did not listen: $(<"$T/err")"
}

@test "tlspipe -l waiting for a client: a signal ends the wait; SIGPIPE, SIGUSR1, SIGSTOP+SIGCONT do not, and the client is served" {
	local sig
	ending INT USR2
	for sig in "${ENDING[@]}"; do
		hold_accept
		ends accept "$sig"
		assert_equal "$(<"$T/out")" ""
	done
	hold_accept
	lives_through accept
	run --separate-stderr timeout 20 "$TP" --pin "$PIN" --on-eof=notify 127.0.0.1 "$PORT" <<<"after the signals"
	assert_success
	tp_ok
	assert_equal "$(<"$T/out")" "after the signals"
	# the SIGUSR1 of the wait: one key update, once the handshake was done
	assert_equal "$(jstat "$T/stats" rekeys)" 1
}
