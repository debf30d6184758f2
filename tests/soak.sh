#!/bin/bash
# tests/soak.sh: tlspipe under long use (make soak; make soak-quick in CI).
#
#   sequential  SOAK_SEQ connections one after another, each against a
#               tlspipe -l started for it; every payload compared byte for byte
#   concurrent  SOAK_PAR clients against SOAK_PAR servers at once, likewise
#   long-lived  one connection moving SOAK_MIB MiB each way at once (an echo
#               would halve it: both sides send and receive their own
#               stream), then SOAK_IDLE seconds of idle-then-burst traffic;
#               RSS and open fds of both processes sampled every 2 s
#               (/proc/PID/status, /proc/PID/fd) must stay flat
#
# Prints its figures (cases, bytes checked, RSS and fds at start, end and
# peak) and "N passed, N failed" last; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.." || exit 1
seq_n=${SOAK_SEQ:-2000}
par_n=${SOAK_PAR:-200}
mib=${SOAK_MIB:-1024}
idle=${SOAK_IDLE:-7200}	# hours of idle-then-burst: growth shows over time, not volume
TP=$PWD/tlspipe
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-soak.XXXXXX") || exit 1
chmod 755 "$work"
pids=()
cleanup() {
	local p
	for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
tests/mkcerts.sh "$work/certs" >/dev/null || { echo "cannot make certificates"; echo "0 passed, 1 failed"; exit 1; }
c=$work/certs
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }

# a few payloads of different sizes, reused
for s in 1 4096 65537 300000; do head -c "$s" /dev/urandom >"$work/in.$s"; done
sizes=(1 4096 65537 300000)

# server DIR: tlspipe -l in DIR (stdin empty, stdout DIR/out, stderr DIR/err)
# under timeout; waits for its listening line (the event, polled with a
# bounded loop of builtins); sets PORT and SPID
server() {
	local d=$1 line=
	mkdir -p "$d"
	timeout 120 "$TP" -l --cert "$c/server.pem" --key "$c/server.key" 0 </dev/null >"$d/out" 2>"$d/err" &
	SPID=$!
	for _ in {1..2000}; do
		IFS= read -r line 2>/dev/null <"$d/err"
		[[ $line == *"listening on"* ]] && break
		kill -0 "$SPID" 2>/dev/null || break
		read -rt 0.005 <> <(:) 2>/dev/null || true
	done
	PORT=${line##*:}
	[[ $PORT =~ ^[0-9]+$ ]]
}

# one DIR SIZE: a client sends in.SIZE to a fresh server; both exit 0 and
# the server wrote exactly what was sent
one() {
	local d=$1 s=$2 crc=0 src=0
	server "$d" || { echo "# $d: no listening line: $(head -c 300 "$d/err")"; return 1; }
	timeout 60 "$TP" --on-eof=notify --cafile "$c/ca.pem" localhost "$PORT" <"$work/in.$s" >/dev/null 2>"$d/cerr" || crc=$?
	wait "$SPID" || src=$?
	if [ "$crc" -ne 0 ] || [ "$src" -ne 0 ] || ! cmp -s "$work/in.$s" "$d/out"; then
		echo "# $d: client $crc, server $src, $(stat -c %s "$d/out") of $s bytes: $(tail -n 1 "$d/cerr") $(tail -n 1 "$d/err")"
		return 1
	fi
	rm -rf "$d"
}

sequential() {
	local i bad=0 bytes=0 t0=$EPOCHREALTIME
	for ((i = 0; i < seq_n; i++)); do
		s=${sizes[i % ${#sizes[@]}]}
		if one "$work/seq" "$s"; then bytes=$((bytes + s)); else bad=$((bad + 1)); fi
	done
	printf '# sequential: %d connections, %d failed, %d bytes checked, %.1f s\n' \
		"$seq_n" "$bad" "$bytes" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
	if [ "$bad" -eq 0 ]; then ok "sequential: $seq_n connections, every byte exact"; else not_ok "sequential: $bad of $seq_n failed"; fi
}

concurrent() {
	local i bad=0 bytes=0 t0=$EPOCHREALTIME
	local -a jobs=()
	for ((i = 0; i < par_n; i++)); do
		s=${sizes[i % ${#sizes[@]}]}
		one "$work/par.$i" "$s" &
		jobs+=($!)
		bytes=$((bytes + s))
	done
	for p in "${jobs[@]}"; do wait "$p" || bad=$((bad + 1)); done
	printf '# concurrent: %d pairs at once, %d failed, %d bytes checked, %.1f s\n' \
		"$par_n" "$bad" "$bytes" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"
	if [ "$bad" -eq 0 ]; then ok "concurrent: $par_n pairs, every byte exact"; else not_ok "concurrent: $bad of $par_n failed"; fi
}

# sample PID: "rss_kib fds" of a live process
sample() {
	local rss
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$rss" ] || return 1
	echo "$rss $(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
}

# child PID: the process timeout(1) started (the tlspipe under it)
child() {
	local k
	for k in {1..500}; do
		pgrep -P "$1" && return 0
		read -rt 0.01 <> <(:) 2>/dev/null || true
	done
	return 1
}

# feed SUM FIFO: what one side sends into FIFO: MIB MiB of random data, then
# a MiB every 10 s for IDLE s (idle-then-burst); its sha256 goes to SUM
feed() {
	{
		for ((k = 0; k < mib; k += 16)); do cat "$work/block"; done
		local t_end=$((SECONDS + idle))
		while [ "$SECONDS" -lt "$t_end" ]; do
			head -c $((1 << 20)) "$work/block"
			read -rt 10 <> <(:) 2>/dev/null || true
		done
	} | tee "$2" | sha256sum >"$1"
}

# side NAME IN OUT ERR ARGS...: one end of the long-lived connection:
# tlspipe ARGS under timeout, its stdin the fifo IN that feed fills (the
# sha256 of what it sent in NAME.sent), its stdout the fifo OUT (the sha256
# of what arrived in NAME.got), its stderr ERR; the tlspipe's pid in SIDE
side() {
	local name=$1 in=$2 out=$3 err=$4 tmo
	shift 4
	sha256sum <"$out" >"$name.got" &
	pids+=($!)
	timeout $((idle + 900)) "$TP" "$@" <"$in" >"$out" 2>"$err" &
	tmo=$!
	pids+=("$tmo")
	feed "$name.sent" "$in" &
	pids+=($!)
	SIDE=$(child "$tmo")
}

long_lived() {
	local d=$work/long line='' port spid cpid
	local first_s='' first_c='' last_s='' last_c='' prev_s='' prev_c='' peak_s=0 peak_c=0 s_now c_now
	mkdir -p "$d"
	head -c $((16 << 20)) /dev/urandom >"$work/block"
	mkfifo "$d/sin" "$d/cin" "$d/sout" "$d/cout"
	side "$d/server" "$d/sin" "$d/sout" "$d/err" -l --on-eof=notify --cert "$c/server.pem" --key "$c/server.key" 0
	spid=$SIDE
	for _ in {1..2000}; do
		IFS= read -r line 2>/dev/null <"$d/err"
		[[ $line == *"listening on"* ]] && break
		read -rt 0.005 <> <(:) 2>/dev/null || true
	done
	port=${line##*:}
	side "$d/client" "$d/cin" "$d/cout" "$d/cerr" --on-eof=notify --cafile "$c/ca.pem" localhost "$port"
	cpid=$SIDE
	# the baseline is the third sample, 4 s in: the transfer is under way
	# and its buffers are in use; growth after it would be a leak
	local n=0
	while s_now=$(sample "$spid") && c_now=$(sample "$cpid"); do
		n=$((n + 1))
		[ "$n" -ne 3 ] || { first_s=$s_now; first_c=$c_now; }
		# the last sample can catch a side closing its socket on the way
		# out: the one before it is the last of the steady state
		[ "$n" -le 3 ] || { last_s=$prev_s last_c=$prev_c; }
		prev_s=$s_now prev_c=$c_now
		[ "${s_now% *}" -gt "$peak_s" ] && peak_s=${s_now% *}
		[ "${c_now% *}" -gt "$peak_c" ] && peak_c=${c_now% *}
		read -rt 2 <> <(:) 2>/dev/null || true
	done
	wait
	pids=()
	echo "# long-lived: $mib MiB each way at once, then ${idle} s of a MiB each way every 10 s"
	echo "# $n samples; server RSS KiB and fds: at 4 s ${first_s:-?}, last before the end ${last_s:-?}, peak RSS $peak_s KiB"
	echo "# client RSS KiB and fds: at 4 s ${first_c:-?}, last before the end ${last_c:-?}, peak RSS $peak_c KiB"
	if [ -z "$first_s" ] || [ -z "$first_c" ] || [ -z "$last_s" ]; then
		not_ok "long-lived: no samples taken"
	elif ! cmp -s "$d/server.sent" "$d/client.got" || ! cmp -s "$d/client.sent" "$d/server.got"; then
		not_ok "long-lived: a stream arrived changed or cut: $(tail -n 1 "$d/err") $(tail -n 1 "$d/cerr")"
	elif [ "${last_s#* }" != "${first_s#* }" ] || [ "${last_c#* }" != "${first_c#* }" ]; then
		not_ok "long-lived: open fds changed (server ${first_s#* } -> ${last_s#* }, client ${first_c#* } -> ${last_c#* })"
	elif [ "${last_s% *}" -gt $((${first_s% *} + 1024)) ] || [ "${last_c% *}" -gt $((${first_c% *} + 1024)) ]; then
		not_ok "long-lived: RSS grew by more than 1 MiB after the first 4 s"
	else
		ok "long-lived: RSS and fds flat, both streams arrived whole"
	fi
}

echo "# soak: $seq_n sequential, $par_n concurrent, $mib MiB each way, ${idle} s idle-then-burst"
sequential
concurrent
long_lived
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
