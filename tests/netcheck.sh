#!/bin/bash
# tests/netcheck.sh: tlspipe across a real (virtual) network and a bad one
# (make netcheck; make netcheck-quick in CI).
#
# Two network namespaces joined by a veth pair, made for this run and removed
# on every exit:
#
#   ns A  10.200.0.1/30  tlspipe -l (the test CA's localhost certificate)
#           | veth (MTU 1500: real segmentation, real TCP windows)
#   ns B  10.200.0.2/30  tests/netrelay on 127.0.0.1, to 10.200.0.1
#                        tlspipe (client) to localhost:RELAY
#
# The kernel's netem is not available here, so the relay (tests/netrelay.c)
# is the bad network: it delays, re-cuts and coalesces segments, holds some
# and releases them late with the rest behind them (byte order kept, as TCP
# promises), throttles, pauses, stalls. Cases:
#
#   modes     in every write mode (both ends), TLS 1.3 and 1.2 alternately,
#             through delay, jitter, re-cutting and holds: NET_MIB MiB up
#             (default endings), down, and each way at once: exact
#   throttle  NET_RATE_KIB KiB each way at 1 Mbit/s: exact, and as slow as
#             1 Mbit/s makes it (loosely)
#   pause     8 MiB each way at once in every write mode, the relay dead
#             for NET_PAUSE s halfway; --idle-timeout longer than the pause
#             on both ends must not fire; exact, both ends exit 0
#   slow hs   the relay dead for NET_PAUSE s from the start; -w longer than
#             that must not fire; exact
#   idle      the relay stalls for good after a line went through: the
#             client's --idle-timeout (NET_TIMEOUT s) fires, then the
#             server's (2 s longer), each not before its time
#   hs        the relay passes nothing: the client's -w (NET_TIMEOUT s)
#             fires, then the server's (2 s longer), not before their time
#
# NET_CASES (default: all six, in this order) runs some of them.
#
# Timing asserts are loose (never early by more than 0.05 s, never late by
# more than 5 s, the order of events); the measured times are printed. Not
# root, no ip(8), or no permission for namespaces: a skip with the reason,
# "0 passed, 0 failed", exit 0; but under CI=true that is a failure.
# Prints its figures and "N passed, N failed" last.
set -u
cd "$(dirname "$0")/.." || exit 1
mib=${NET_MIB:-64}
rate_kib=${NET_RATE_KIB:-256}
pause_s=${NET_PAUSE:-5}
pause_mib=8
tmo=${NET_TIMEOUT:-5}
TOP=$PWD
TP=$TOP/tlspipe
RELAY=$TOP/tests/netrelay
LIMIT=300	# no process of a case outlives this (timeout(1))
# every transfer's ends give up after this long without data: a hang is a
# failure in half a minute, not at LIMIT (a transfer never pauses so long)
SAFETY=--idle-timeout=30
EPS=0.05	# a timer may fire this early (rounding), no more
LATE=5		# ... and this late on a loaded machine
NSA=tpnet-$$-a NSB=tpnet-$$-b
ADDR_A=10.200.0.1 ADDR_B=10.200.0.2
# the write modes of tests/rekey.bash
MODES=("" "-b" "-P" "-R" "--io=bio-pair" "-b -P -R" "--io=bio-pair -P -R" "-s 1000")
# the bad network of the mode matrix: 2 ms + 0..8 ms per piece, re-cut, and
# one piece in fifty held 40 ms more (all behind it waits)
DAMAGE=(--delay=2 --jitter=8 --split --hold=2:40)

passed=0 failed=0 bytes=0 cases=0 faults=0
work='' bg=() netns=''
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

skip() {
	echo "# netcheck: SKIPPED: $*"
	if [ "${CI:-}" = true ]; then
		echo "# CI must run it (as root, with permission for network namespaces)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "0 passed, 0 failed"
	exit 0
}

# every background process (timeout(1) leads a process group: the group
# goes), then the namespaces (the veth goes with them), then the files
cleanup() {
	local p
	for p in ${bg[@]+"${bg[@]}"}; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	done
	for p in ${bg[@]+"${bg[@]}"}; do wait "$p" 2>/dev/null; done
	if [ -n "$netns" ]; then
		# anything of ours still in them (nothing should be): a namespace
		# lives on while a process is in it
		for p in $(ip netns pids "$NSA" 2>/dev/null) $(ip netns pids "$NSB" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$NSA" 2>/dev/null
		ip netns del "$NSB" 2>/dev/null
	fi
	[ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- waiting on events, without a fork per try ----

exec {NAP}<> <(:)
nap() { read -r -t "$1" -u "$NAP" _ || true; }
alive() { kill -0 "$1" 2>/dev/null; }

# now: seconds since the epoch, microseconds, in NOW (no fork)
now() { NOW=$EPOCHREALTIME; }

# sub A B: A - B, seconds, 3 decimals (both $EPOCHREALTIME values)
sub() {
	local a=${1/[.,]/} b=${2/[.,]/} d
	d=$(((10#$a - 10#$b) / 1000))
	printf -v SUB '%d.%03d' $((d / 1000)) $((d % 1000))
	[ "$d" -ge 0 ] || printf -v SUB -- '-%d.%03d' $((-d / 1000)) $((-d % 1000))
}

# ge A B: A >= B, decimals
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

# said FILE PID: FILE has a line "... listening on ADDR:PORT"; PORT set; 2
# when PID is gone
said() {
	local line
	if [ -e "$1" ]; then
		while IFS= read -r line; do
			if [[ $line =~ listening\ on\ .*:([0-9]+)$ ]]; then
				PORT=${BASH_REMATCH[1]}
				return 0
			fi
		done <"$1"
	fi
	alive "$2" || return 2
	return 1
}

# until_ MS CMD...: CMD every 10 ms until it returns 0 (0), at most MS ms
# (1), or until it returns 2 or more (that)
until_() {
	local end rc
	now
	end=$((${NOW/[.,]/} + $1 * 1000))
	shift
	while :; do
		rc=0
		"$@" || rc=$?
		[ "$rc" -ne 1 ] && return "$rc"
		now
		[ "${NOW/[.,]/}" -lt "$end" ] || return 1
		nap 0.01
	done
}

# reap PID SECS: PID's status in RC; at most
# SECS, then TERM to its group (RC 124)
gone() { ! alive "$1"; }
reap() {
	RC=0
	if ! until_ $(($2 * 1000)) gone "$1"; then
		kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null
	fi
	now
	wait "$1" || RC=$?
	forget "$1"
}
forget() {
	local -a keep=()
	local p
	for p in ${bg[@]+"${bg[@]}"}; do [ "$p" = "$1" ] || keep+=("$p"); done
	bg=(${keep[@]+"${keep[@]}"})
}

# watch PID1 PID2 SECS: until both have ended (at most SECS, then TERM), the
# time each ended in END1, END2 (to 10 ms), their status in RC1, RC2
watch() {
	local end
	now
	end=$((${NOW/[.,]/} + $3 * 1000000))
	END1='' END2=''
	while [ -z "$END1" ] || [ -z "$END2" ]; do
		now
		[ -n "$END1" ] || alive "$1" || END1=$NOW
		[ -n "$END2" ] || alive "$2" || END2=$NOW
		if [ "${NOW/[.,]/}" -ge "$end" ]; then
			kill -TERM -- "-$1" "-$2" 2>/dev/null
			END1=${END1:-$NOW} END2=${END2:-$NOW}
		fi
		nap 0.01
	done
	RC1=0 RC2=0
	wait "$1" || RC1=$?
	wait "$2" || RC2=$?
	forget "$1"
	forget "$2"
}

# ---- the network ----

# the namespaces, the veth between them, addresses, loopbacks up
net_up() {
	local err
	if ! err=$(ip netns add "$NSA" 2>&1); then
		skip "ip netns add: ${err:-failed} (no permission for network namespaces?)"
	fi
	netns=1
	ip netns add "$NSB" &&
		ip link add "tpa$$" netns "$NSA" type veth peer name "tpb$$" netns "$NSB" &&
		ip -n "$NSA" addr add "$ADDR_A/30" dev "tpa$$" &&
		ip -n "$NSB" addr add "$ADDR_B/30" dev "tpb$$" &&
		ip -n "$NSA" link set "tpa$$" up && ip -n "$NSB" link set "tpb$$" up &&
		ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up
}

# "${IN_A[@]}" CMD...: CMD in ns A (IN_B: B), under timeout(1). Arrays, not
# a function: `function &` would fork a subshell, and $! would be that
# subshell, not timeout(1), the leader of the process group to stop.
IN_A=(timeout "$LIMIT" ip netns exec "$NSA")
IN_B=(timeout "$LIMIT" ip netns exec "$NSB")

# server DIR IN [tlspipe options]: tlspipe -l in ns A on ADDR_A, stdin IN,
# stdout DIR/s.out, stderr DIR/s.err; sets SPID and SPORT
server() {
	local d=$1 in=$2
	shift 2
	"${IN_A[@]}" "$TP" -l "$@" --cert "$work/certs/server.pem" --key "$work/certs/server.key" \
		"$ADDR_A" 0 <"$in" >"$d/s.out" 2>"$d/s.err" &
	SPID=$!
	bg+=("$SPID")
	PORT=
	until_ 10000 said "$d/s.err" "$SPID" || { echo "# server did not listen: $(tail -n 2 "$d/s.err")"; return 1; }
	SPORT=$PORT
}

# relay DIR [netrelay options]: the relay in ns B, from 127.0.0.1 to the
# server; stderr DIR/r.err; sets RPID (its timeout(1)), RELAY_PID (the relay
# itself: ip netns exec execs it) and RPORT
relay() {
	local d=$1
	shift
	"${IN_B[@]}" "$RELAY" "$@" 127.0.0.1 0 "$ADDR_A" "$SPORT" </dev/null 2>"$d/r.err" &
	RPID=$!
	bg+=("$RPID")
	PORT=
	until_ 10000 said "$d/r.err" "$RPID" || { echo "# relay did not listen: $(tail -n 2 "$d/r.err")"; return 1; }
	RPORT=$PORT
	RELAY_PID=$(pgrep -P "$RPID")
}

# client DIR IN [tlspipe options]: tlspipe in ns B to the relay, in the
# foreground; stdout DIR/c.out, stderr DIR/c.err; status in CRC, its start
# and end in T0, T1
client() {
	local d=$1 in=$2
	shift 2
	local cpid
	now
	T0=$NOW
	CRC=0
	# in the background, and waited for: a signal to this script is
	# handled at once, not after the client
	"${IN_B[@]}" "$TP" "$@" --cafile "$work/certs/ca.pem" localhost "$RPORT" \
		<"$in" >"$d/c.out" 2>"$d/c.err" &
	cpid=$!
	bg+=("$cpid")
	wait "$cpid" || CRC=$?
	now
	T1=$NOW
	forget "$cpid"
}

# why DIR: the ends of the three logs, after a failure
why() {
	local f
	for f in c s r; do
		echo "#   $f: $(tail -n 3 "$1/$f.err" 2>/dev/null | tr '\n' '|')"
	done
}

# exact DIR UP DOWN: both ends exit 0, the relay 0, both files arrived
# exact; else say what went wrong
exact() {
	local d=$1
	if [ "$CRC" -ne 0 ] || [ "$SRC" -ne 0 ]; then
		echo "# client exit $CRC, server exit $SRC"
	elif [ "$RRC" -ne 0 ]; then
		echo "# relay exit $RRC"
	elif ! cmp -s "$2" "$d/s.out"; then
		echo "# upload: $(stat -c %s "$d/s.out") bytes of $(stat -c %s "$2"), or other bytes"
	elif ! cmp -s "$3" "$d/c.out"; then
		echo "# download: $(stat -c %s "$d/c.out") bytes of $(stat -c %s "$3"), or other bytes"
	else
		return 0
	fi
	why "$d"
	return 1
}

# transfer DIR UP DOWN: the client sends UP, the server DOWN, at once; the
# server with the options in SOPTS, the relay ROPTS, the client COPTS. CRC,
# SRC, RRC: the client's, the server's and the relay's status; T0, T1: the
# client's start and end.
transfer() {
	local d=$1 up=$2 down=$3
	mkdir -p "$d"
	cases=$((cases + 1))
	if ! server "$d" "$down" ${SOPTS[@]+"${SOPTS[@]}"} ||
		! relay "$d" ${ROPTS[@]+"${ROPTS[@]}"} --seed=$((RANDOM * 32768 + RANDOM)); then
		SRC=-1 CRC=-1 RRC=-1 T0=$EPOCHREALTIME T1=$EPOCHREALTIME
		return 1
	fi
	client "$d" "$up" ${COPTS[@]+"${COPTS[@]}"}
	reap "$SPID" 30
	SRC=$RC
	reap "$RPID" 10
	RRC=$RC
}

# size FILE: its bytes, in SIZE
size() {
	SIZE=$(stat -c %s "$1")
}

# ---- the cases ----

# every write mode through the damage, MODE on both ends: NET_MIB MiB up
# (the ends' default endings: the client's close_notify a grace after the
# server went quiet), down (the client's stdin empty from the start), and
# both ways at once (close_notify at each end's EOF)
modes() {
	local i tls d el what up down
	local -a mw
	ROPTS=("${DAMAGE[@]}")
	for i in "${!MODES[@]}"; do
		read -r -a mw <<<"${MODES[$i]}"
		tls=1.3
		[ $((i % 2)) -eq 0 ] || tls=1.2
		for what in up down both; do
			d=$work/mode.$i.$what
			case $what in
			up) up=$work/up down=/dev/null
				SOPTS=(${mw[@]+"${mw[@]}"}) COPTS=(${mw[@]+"${mw[@]}"}) ;;
			down) up=/dev/null down=$work/down
				SOPTS=(--on-eof=notify ${mw[@]+"${mw[@]}"}) COPTS=(${mw[@]+"${mw[@]}"}) ;;
			both) up=$work/up down=$work/down
				SOPTS=(--on-eof=notify ${mw[@]+"${mw[@]}"}) COPTS=(--on-eof=notify ${mw[@]+"${mw[@]}"}) ;;
			esac
			SOPTS+=("$SAFETY") COPTS+=("$SAFETY" --max-tls="$tls")
			transfer "$d" "$up" "$down"
			sub "$T1" "$T0"
			el=$SUB
			if exact "$d" "$up" "$down"; then
				size "$d/s.out"
				bytes=$((bytes + SIZE))
				size "$d/c.out"
				bytes=$((bytes + SIZE))
				faults=$((faults + $(held "$d/r.err")))
				ok "mode '${MODES[$i]:-default}' (TLS $tls), $what: $mib MiB$([ $what = both ] && echo " each way") exact in $el s"
			else
				not_ok "mode '${MODES[$i]:-default}' (TLS $tls), $what: $mib MiB, $el s"
			fi
			rm -rf "$d"
		done
	done
}

# held FILE: the pieces the relay held (both ways), from its stats
held() {
	local line n=0
	while IFS= read -r line; do
		[[ $line =~ ,\ ([0-9]+)\ held, ]] && n=$((n + BASH_REMATCH[1]))
	done <"$1"
	echo "$n"
}

# 1 Mbit/s each way; the relay's bucket makes it take at least about
# bytes * 8 / 1e6 s (half that is the loose floor: the bucket starts full)
throttle() {
	local d=$work/throttle ideal el kbit
	head -c $((rate_kib * 1024)) "$work/up" >"$work/up.small"
	head -c $((rate_kib * 1024)) "$work/down" >"$work/down.small"
	SOPTS=(--on-eof=notify "$SAFETY") ROPTS=(--rate=1000000) COPTS=(--on-eof=notify "$SAFETY")
	transfer "$d" "$work/up.small" "$work/down.small"
	sub "$T1" "$T0"
	el=$SUB
	ideal=$(awk -v b=$((rate_kib * 1024)) 'BEGIN { printf "%.2f", b * 8 / 1e6 }')
	kbit=$(awk -v b=$((rate_kib * 1024)) -v t="$el" 'BEGIN { printf "%.0f", b * 8 / t / 1000 }')
	echo "# throttle: $rate_kib KiB each way at 1 Mbit/s: $el s (payload alone at 1 Mbit/s: $ideal s), $kbit kbit/s of payload each way"
	if ! exact "$d" "$work/up.small" "$work/down.small"; then
		not_ok "throttle: 1 Mbit/s, $rate_kib KiB each way"
	elif ! ge "$el" "$(awk -v i="$ideal" 'BEGIN { print i / 2 }')"; then
		not_ok "throttle: $el s, faster than 1 Mbit/s allows (the relay does not throttle)"
	else
		bytes=$((bytes + 2 * rate_kib * 1024))
		ok "throttle: $rate_kib KiB each way exact at 1 Mbit/s in $el s"
	fi
	rm -rf "$d"
}

# in every write mode, 8 MiB each way at once, the relay dead for NET_PAUSE
# s halfway through (more than the buffers along the way hold is still to
# go, so writes and close_notify meet full sockets); an --idle-timeout 3 s
# longer than the pause on both ends must not fire
pause() {
	local d el i idle=$((pause_s + 3)) half=$((pause_mib * 1048576))
	local -a mw
	head -c "$half" /dev/urandom >"$work/up.pause"
	head -c "$half" /dev/urandom >"$work/down.pause"
	ROPTS=(--delay=2 --split --pause="$pause_s" --pause-after="$half")
	for i in "${!MODES[@]}"; do
		read -r -a mw <<<"${MODES[$i]}"
		d=$work/pause.$i
		SOPTS=(--on-eof=notify --idle-timeout="$idle" ${mw[@]+"${mw[@]}"})
		COPTS=(--on-eof=notify --idle-timeout="$idle" ${mw[@]+"${mw[@]}"})
		transfer "$d" "$work/up.pause" "$work/down.pause"
		sub "$T1" "$T0"
		el=$SUB
		if ! exact "$d" "$work/up.pause" "$work/down.pause"; then
			not_ok "pause, mode '${MODES[$i]:-default}': $pause_mib MiB each way, $pause_s s dead link halfway, $el s"
		elif ! grep -q 'pause over' "$d/r.err"; then
			not_ok "pause, mode '${MODES[$i]:-default}': the relay never paused: $(tail -n 3 "$d/r.err" | tr '\n' '|')"
		elif ! ge "$el" "$pause_s"; then
			not_ok "pause, mode '${MODES[$i]:-default}': done in $el s, less than the $pause_s s pause"
		else
			bytes=$((bytes + 2 * half))
			faults=$((faults + 1))
			ok "pause, mode '${MODES[$i]:-default}': $pause_mib MiB each way exact across a $pause_s s dead link halfway, in $el s (--idle-timeout=$idle quiet)"
		fi
		rm -rf "$d"
	done
}

# the relay dead for NET_PAUSE s from the start: a -w 3 s longer must not
# fire, and the handshake then completes
slow_handshake() {
	local d=$work/slowhs el w=$((pause_s + 3))
	head -c 65536 "$work/up" >"$work/up.hs"
	head -c 65536 "$work/down" >"$work/down.hs"
	SOPTS=(--on-eof=notify -w "$w") COPTS=(--on-eof=notify -w "$w")
	ROPTS=(--delay=2 --pause="$pause_s" --pause-after=0)
	transfer "$d" "$work/up.hs" "$work/down.hs"
	sub "$T1" "$T0"
	el=$SUB
	echo "# slow handshake: the relay dead for the first $pause_s s, -w $w on both ends: done in $el s"
	if ! exact "$d" "$work/up.hs" "$work/down.hs"; then
		not_ok "slow handshake: -w $w, $pause_s s of dead link first"
	elif ! ge "$el" "$pause_s"; then
		not_ok "slow handshake: done in $el s, less than the $pause_s s pause"
	else
		bytes=$((bytes + 2 * 65536))
		faults=$((faults + 1))
		ok "slow handshake: completed after the $pause_s s dead link, -w $w did not fire ($el s)"
	fi
	rm -rf "$d"
}

# timed WHO RC ERRFILE WORDS FROM_LOW FROM_HIGH LIMIT: WHO exited 6 saying
# WORDS, at least LIMIT - EPS after FROM_LOW (nothing moved after it... )
# and at most LIMIT + LATE after FROM_HIGH; the measures in LOW, HIGH
timed() {
	local who=$1 rc=$2 err=$3 words=$4 end=$5 from_low=$6 from_high=$7 limit=$8
	sub "$end" "$from_low"
	LOW=$SUB
	sub "$end" "$from_high"
	HIGH=$SUB
	if [ "$rc" -ne 6 ]; then
		echo "# $who: exit $rc, not 6 (timed out): $(tail -n 2 "$err" | tr '\n' '|')"
		return 1
	fi
	if ! grep -q -- "$words" "$err"; then
		echo "# $who: no '$words' in: $(tail -n 2 "$err" | tr '\n' '|')"
		return 1
	fi
	if ! ge "$LOW" "$(awk -v l="$limit" -v e="$EPS" 'BEGIN { print l - e }')"; then
		echo "# $who: fired $LOW s after the last data could move, before its $limit s"
		return 1
	fi
	if ! ge "$(awk -v l="$limit" -v e="$LATE" 'BEGIN { print l + e }')" "$HIGH"; then
		echo "# $who: fired $HIGH s after the link died, more than $limit + $LATE s"
		return 1
	fi
}

# a line goes through, then the relay stalls for good: the client's
# --idle-timeout fires first, then the server's, 2 s longer
idle() {
	local d=$work/idle fed stall ok1=0 ok2=0 ci=$tmo si=$((tmo + 2)) cpid hold
	mkdir -p "$d"
	mkfifo "$d/in"
	cases=$((cases + 1))
	server "$d" /dev/null --idle-timeout=$si && relay "$d" --delay=2 --stall ||
		{ not_ok "idle: no server or relay"; return; }
	# the fifo held open here: the client's stdin never ends
	exec {hold}<>"$d/in"
	now
	T0=$NOW
	"${IN_B[@]}" "$TP" --idle-timeout="$ci" --cafile "$work/certs/ca.pem" localhost "$RPORT" \
		<"$d/in" >"$d/c.out" 2>"$d/c.err" &
	cpid=$!
	bg+=("$cpid")
	now
	fed=$NOW
	echo hello >&"$hold"
	until_ 10000 has_hello "$d/s.out" || echo "# idle: hello did not arrive"
	kill -USR1 "$RELAY_PID"
	now
	stall=$NOW
	watch "$cpid" "$SPID" $((si + 30))
	exec {hold}>&-
	kill -TERM -- "-$RPID" 2>/dev/null
	reap "$RPID" 5
	timed client "$RC1" "$d/c.err" "no data for $ci s (--idle-timeout)" "$END1" "$fed" "$stall" "$ci" && ok1=1
	local cl=$LOW ch=$HIGH
	timed server "$RC2" "$d/s.err" "no data for $si s (--idle-timeout)" "$END2" "$fed" "$stall" "$si" && ok2=1
	echo "# idle: client --idle-timeout=$ci fired $cl s after its last line was fed, $ch s after the stall"
	echo "# idle: server --idle-timeout=$si fired $LOW s after that line, $HIGH s after the stall"
	both_fired idle --idle-timeout "$ci" "$si" "$d" "$ok1" "$ok2"
	rm -rf "$d"
}
has_hello() { [ -s "$1" ]; }

# both_fired CASE OPTION CLIENT_S SERVER_S DIR OK1 OK2: the verdict of a
# timer case: each end's timer fired on time (OK1, OK2 from timed), and the
# client's, the shorter, first (END1 before END2)
both_fired() {
	local what=$1 opt=$2 c=$3 s=$4 d=$5
	if [ "$6" = 1 ] && [ "$7" = 1 ] && [[ ${END1/[.,]/} -lt ${END2/[.,]/} ]]; then
		faults=$((faults + 1))
		ok "$what: $opt fired on time at both ends, the client's ($c s) first"
	elif [ "$6" = 1 ] && [ "$7" = 1 ]; then
		not_ok "$what: the server ($s s) timed out before the client ($c s)"
	else
		not_ok "$what: $opt $c s / $s s"
		why "$d"
	fi
}

# the relay passes nothing: the client's -w fires first, then the
# server's, 2 s longer (it counts from the accept, after the client's start)
handshake() {
	local d=$work/hs ok1=0 ok2=0 cw=$tmo sw=$((tmo + 2)) cpid
	mkdir -p "$d"
	cases=$((cases + 1))
	server "$d" /dev/null -w $sw && relay "$d" --stall --pause-after=0 ||
		{ not_ok "handshake: no server or relay"; return; }
	now
	T0=$NOW
	"${IN_B[@]}" "$TP" -w "$cw" --cafile "$work/certs/ca.pem" localhost "$RPORT" \
		</dev/null >"$d/c.out" 2>"$d/c.err" &
	cpid=$!
	bg+=("$cpid")
	watch "$cpid" "$SPID" $((sw + 30))
	kill -TERM -- "-$RPID" 2>/dev/null
	reap "$RPID" 5
	timed client "$RC1" "$d/c.err" "no TLS handshake with .* within $cw s" "$END1" "$T0" "$T0" "$cw" && ok1=1
	local cl=$LOW
	timed server "$RC2" "$d/s.err" "no TLS handshake with .* within $sw s" "$END2" "$T0" "$T0" "$sw" && ok2=1
	echo "# handshake: client -w $cw fired after $cl s, server -w $sw after $LOW s (from the client's start)"
	both_fired handshake -w "$cw" "$sw" "$d" "$ok1" "$ok2"
	rm -rf "$d"
}

# ---- the run ----

[ "$(id -u)" -eq 0 ] || skip "not root: network namespaces and a veth need root (sudo make netcheck)"
command -v ip >/dev/null 2>&1 || skip "no ip(8): sudo make deps-servers installs iproute2"
[ -x "$TP" ] && [ -x "$RELAY" ] || { echo "# build first: make tlspipe tests/netrelay"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-net.XXXXXX") || exit 1
tests/mkcerts.sh "$work/certs" >/dev/null || { echo "cannot make certificates"; echo "0 passed, 1 failed"; exit 1; }
net_up || { echo "# cannot set up the namespaces and the veth"; echo "0 passed, 1 failed"; exit 1; }
head -c $((mib * 1048576)) /dev/urandom >"$work/up"
head -c $((mib * 1048576)) /dev/urandom >"$work/down"
echo "# netcheck: ns $NSA ($ADDR_A, tlspipe -l) -- veth -- ns $NSB ($ADDR_B, relay and client)"
echo "# $mib MiB each way per mode through: ${DAMAGE[*]}; throttle $rate_kib KiB at 1 Mbit/s; pause $pause_s s; timeouts $tmo s"
t_all=$EPOCHREALTIME
for c in ${NET_CASES:-modes throttle pause slow_handshake idle handshake}; do
	case $c in
	modes | throttle | pause | slow_handshake | idle | handshake) "$c" ;;
	*) not_ok "no case $c (NET_CASES: modes throttle pause slow_handshake idle handshake)" ;;
	esac
done
sub "$EPOCHREALTIME" "$t_all"
echo "# netcheck: $cases cases, $bytes bytes checked, $faults faults survived (held pieces, pauses, timeouts), $SUB s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
