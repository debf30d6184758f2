#!/bin/bash
# run.sh: tlspipe's benchmark (`make bench`, `make bench-quick`).
#
# Every TLS client (tlspipe, socat, openssl s_client, stunnel, ncat: those
# installed) talks to the same neutral server, bench/peer (TLS 1.3,
# TLS_AES_256_GCM_SHA384, no tickets), on loopback, in one session, the runs
# alternating between tools (A1 B1 C1 A2 B2 C2 ...) so that the noise of a
# shared machine hits them all alike. Measures: upload, download, echo,
# short connections (CA file, then the system trust store), tlspipe's write
# modes, the RSS of tlspipe at two sizes, and syscalls from an strace pass.
# Plain TCP (socat to socat) is the ceiling for upload and download.
#
# Prints one table, then the ratios against the targets. Ratios, never an
# exit status, judge speed: the exit status is non-zero only when a transfer
# was wrong, a tool failed, or a tool did not really verify the server.
#
#   BENCH_SIZE   bytes per transfer, suffix K, M or G (default 512M)
#   BENCH_RUNS   runs per tool and measure; medians (default 5)
#   BENCH_CONNS  connections per short-connection run (default 100)
#   BENCH_QUICK  1: smaller strace pass and write-mode size (bench-quick)
set -u
export LC_ALL=C
cd "$(dirname "$0")/.." || exit 1

# bytes SIZE: 64M, 1G, 512K or a plain number, in bytes
bytes() {
	local n=${1%[KkMmGg]}
	case $n in '' | *[!0-9]*) echo "run.sh: bad size: $1" >&2; exit 2 ;; esac
	case $1 in
	*[Kk]) echo $((n << 10)) ;; *[Mm]) echo $((n << 20)) ;; *[Gg]) echo $((n << 30)) ;; *) echo "$n" ;;
	esac
}
size=$(bytes "${BENCH_SIZE:-512M}") || exit 2
runs=${BENCH_RUNS:-5}
conns=${BENCH_CONNS:-100}
quick=${BENCH_QUICK:-0}
MiB=1048576 GiB=1073741824
# write modes at a quarter of the size (-s 1024 is slow); strace at a small
# size (it slows the tool tenfold, and is never timed)
wsize=$((size / 4))
ssize=$((quick == 1 ? 4 * MiB : 64 * MiB))
((ssize > size)) && ssize=$size
# RSS flatness: tlspipe at a small size and at BENCH_SIZE
fsmall=$((64 * MiB))
((fsmall >= size)) && fsmall=$((size / 8))
# a transfer slower than 10 MB/s, or a connection over 10 s, is a hang
tmo=$((60 + size / 10000000))

if [ ! -x ./tlspipe ] || [ ! -x bench/peer ]; then
	echo "run.sh: run it with make bench" >&2
	exit 2
fi
for t in /usr/bin/time socat openssl; do
	command -v "$t" >/dev/null || { echo "run.sh: $t is missing: make deps deps-bench" >&2; exit 2; }
done
# the client's trust must come from the options below, not from the caller's
unset SSL_CERT_FILE SSL_CERT_DIR

shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
# on tmpfs: input and output files cost memory copies, never disk waits
work=$(mktemp -d "$shm/tlspipe-bench.XXXXXX") || exit 1
pids=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
status=0
fail() { echo "FAILED: $*" >&2; echo "$*" >>"$work/failures"; status=1; }

tests/mkcerts.sh "$work/certs" || exit 1
certs=$work/certs
head -c "$size" /dev/urandom >"$work/in.$size"

# The system store with the bench CA added, for the short connections
# "verified by the system store": a rehashed copy of /etc/ssl/certs, which
# SSL_CERT_DIR points the clients' default verify paths at. SSL_CERT_FILE
# stays unset, so each client pays what it pays for the real system bundle,
# as a user connecting to a public server does (the bench CA is found in the
# directory). stunnel, which has no default paths, gets CAfile (a copy of the
# bundle with the bench CA) and CApath.
store=$work/store
mkdir -p "$store"
cat /etc/ssl/certs/ca-certificates.crt "$certs/ca.pem" >"$store/bundle.pem"
cp -a /etc/ssl/certs "$store/dir"
cp "$certs/ca.pem" "$store/dir/tlspipe-bench-ca.pem"
openssl rehash "$store/dir" 2>/dev/null

stunnel=$(command -v stunnel4 || command -v stunnel)
# tools: the TLS clients; each only where installed
tools=(tlspipe socat s_client stunnel ncat)
have() {
	case $1 in
	stunnel) [ -n "$stunnel" ] ;;
	ncat) command -v ncat >/dev/null ;;
	*) true ;;
	esac
}

# wait_for FILE PATTERN: the event, polled: until FILE holds PATTERN (10 s at most)
wait_for() {
	local i
	for ((i = 0; i < 1000; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	return 1
}
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# wait_lines FILE N: until FILE has N lines (10 s at most): the peer logs after the close
wait_lines() {
	local i
	for ((i = 0; i < 1000; i++)); do
		(($(lines "$1") >= $2)) && return 0
		sleep 0.01
	done
	return 1
}

# peer MODE [SIZE [CERT]]: the server for MODE (a bench/peer mode, or
# tcp-sink and tcp-source: plain socat), with the certificate CERT of
# tests/mkcerts.sh (default server), started on first use; sets $port and $log
declare -A ports
peer() {
	local mode=$1 n=${2:-0} cert=${3:-server} id=$1.${2:-0}.${3:-server} out
	log=$work/log.$id
	if [ -z "${ports[$id]:-}" ]; then
		out=$work/peer.$id
		# under timeout: should the trap never run (kill -9), it still ends
		case $mode in
		tcp-sink)
			timeout 6h socat -d -d -u -b65536 TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork /dev/null \
				2>"$out" &
			;;
		tcp-source)
			# -U and the file last: each forked child opens the file itself
			timeout 6h socat -d -d -U -b65536 TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork \
				"OPEN:$(input "$n"),rdonly" 2>"$out" &
			;;
		*)
			timeout 6h bench/peer "$mode" ${2:+--size "$n"} --log "$log" \
				--cert "$certs/$cert.pem" --key "$certs/$cert.key" >"$out" 2>&1 &
			;;
		esac
		pids+=($!)
		wait_for "$out" 'listening on' || { echo "run.sh: $mode server did not start:" >&2; cat "$out" >&2; exit 1; }
		ports[$id]=$(sed -n 's/.*listening on //p' "$out" | head -n 1 | sed 's/.*://')
	fi
	port=${ports[$id]}
}

# input N: a file of N bytes (cut from the BENCH_SIZE one, once)
input() {
	[ -f "$work/in.$1" ] || head -c "$1" "$work/in.$size" >"$work/in.$1"
	echo "$work/in.$1"
}

# stunnel_conf FILE PORT TRUST: a client on stdin/stdout (inetd mode: no accept)
stunnel_conf() {
	{
		printf 'client = yes\nforeground = yes\nconnect = 127.0.0.1:%s\n' "$2"
		printf 'verifyChain = yes\ncheckHost = localhost\n'
		case $3 in
		file) echo "CAfile = $certs/ca.pem" ;;
		wrong) echo "CAfile = $certs/other-ca.pem" ;;
		# stunnel has no default verify paths: the store, named
		system) printf 'CAfile = %s\nCApath = %s\n' "$store/bundle.pem" "$store/dir" ;;
		nostore) printf 'CAfile = %s\nCApath = %s\n' /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs ;;
		esac
	} >"$1"
}

# tool_cmd TOOL MEASURE TRUST PORT: the client's command line into cmd[].
#   MEASURE: up, down, echo or conn; TRUST: file (the bench CA), system (no
#   CA option: the default paths, with the bench CA added to the store),
#   wrong (an unrelated CA) or nostore (no CA option, the real system store)
tool_cmd() {
	local tool=$1 m=$2 trust=$3 port=$4 ca='' conf
	case $trust in file) ca=$certs/ca.pem ;; wrong) ca=$certs/other-ca.pem ;; esac
	cmd=()
	[ "$trust" = system ] && cmd=(env "SSL_CERT_DIR=$store/dir")
	case $tool in
	tlspipe*)
		cmd+=(./tlspipe)
		[ -n "$ca" ] && cmd+=(--cafile "$ca")
		# uploads close at once, as socat -u and s_client -no_ign_eof do
		case $m in up | conn) cmd+=(--on-eof=notify) ;; esac
		case $tool in
		tlspipe-P) cmd+=(-P) ;; tlspipe-b) cmd+=(-b) ;; tlspipe-R) cmd+=(-R) ;;
		tlspipe-bio-pair) cmd+=(--io=bio-pair) ;;
		tlspipe-s16384) cmd+=(-s 16384) ;; tlspipe-s1024) cmd+=(-s 1024) ;;
		esac
		cmd+=(localhost "$port")
		;;
	socat)
		local a=OPENSSL:localhost:$port${ca:+,cafile=$ca}
		case $m in
		up | conn) cmd+=(socat -b65536 -u - "$a") ;;
		down) cmd+=(socat -b65536 -u "$a" -) ;;
		echo) cmd+=(socat -b65536 - "$a") ;;
		esac
		;;
	s_client)
		# -verify_return_error and -verify_hostname: else s_client goes on
		# after a failed verification and checks no name at all
		cmd+=(openssl s_client -connect "localhost:$port" -nocommands -quiet
			-verify_return_error -verify_hostname localhost)
		[ -n "$ca" ] && cmd+=(-CAfile "$ca")
		# -ign_eof: keep reading after stdin's EOF, until the server closes
		case $m in up | conn) cmd+=(-no_ign_eof) ;; *) cmd+=(-ign_eof) ;; esac
		;;
	stunnel)
		conf=$work/stunnel.$port.$trust.conf
		[ -f "$conf" ] || stunnel_conf "$conf" "$port" "$trust"
		cmd+=("$stunnel" "$conf")
		;;
	ncat)
		cmd+=(ncat --ssl --ssl-verify)
		[ -n "$ca" ] && cmd+=(--ssl-trustfile "$ca")
		case $m in up | conn) cmd+=(--send-only) ;; down) cmd+=(--recv-only) ;; esac
		cmd+=(localhost "$port")
		;;
	tcp)
		case $m in
		up) cmd+=(socat -b65536 -u - "TCP:127.0.0.1:$port") ;;
		down) cmd+=(socat -b65536 -u "TCP:127.0.0.1:$port" -) ;;
		esac
		;;
	esac
}

# run_tool KEY TOOL MEASURE TRUST N: the one place that runs a client. One
# run of MEASURE (N bytes, or N connections), checked exact; appends
# "seconds cpu_seconds maxrss_kib" to $work/res.KEY. With STRACE=1 the run
# is an untimed strace -f -c pass that writes the syscall count to sc.KEY.
run_tool() {
	local key=$1 tool=$2 m=$3 trust=$4 n=$5 in=/dev/null out=$work/out before rc t0 t1 got want
	case $m$tool in
	uptcp) peer tcp-sink ;; downtcp) peer tcp-source "$n" ;;
	up*) peer sink ;; down*) peer source "$n" ;; echo*) peer echo "$n" ;; conn*) peer hello ;;
	esac
	tool_cmd "$tool" "$m" "$trust" "$port"
	case $m in up | echo) in=$(input "$n") ;; esac
	before=$(lines "$log")
	# a connection over 10 s is a hang too; strace is slow, never timed
	local limit=$tmo
	[ "$m" = conn ] && limit=$((10 * n + 30))
	local -a wrap=(/usr/bin/time -f '%U %S %M' -o "$work/time" timeout "$limit")
	((${STRACE:-0})) && wrap=(timeout $((limit * 10)) strace -f -c -o "$work/strace")
	t0=$EPOCHREALTIME
	if [ "$m" = conn ] && ((n > 1)); then
		# shellcheck disable=SC2016 # the loop's own arguments
		"${wrap[@]}" bash -c 'for ((i = 0; i < $0; i++)); do "$@" </dev/null >/dev/null || exit; done' \
			"$n" "${cmd[@]}" 2>"$work/err"
	else
		"${wrap[@]}" "${cmd[@]}" <"$in" >"$out" 2>"$work/err"
	fi
	rc=$? t1=$EPOCHREALTIME
	# what arrived: the peer's log (it writes after its close) and our output
	want=1
	[ "$m" = conn ] && want=$n
	[ "$tool" = tcp ] || wait_lines "$log" $((before + want))
	got=
	if ((rc != 0)); then
		got="exit $rc: $(grep -v '^\[\|^Command exited' "$work/err" | tail -n 2 | tr '\n' ' ')"
	else
		case $m in
		down | echo) [ "$(stat -c %s "$out")" = "$n" ] || got="output $(stat -c %s "$out") bytes, not $n" ;;
		esac
		case $m$tool in
		*tcp | down*) ;;
		conn*) [ -n "$got" ] || [ "$(tail -n +$((before + 1)) "$log" | grep -cx 0)" = "$n" ] ||
			got="the server saw: $(tail -n +$((before + 1)) "$log" | sort | uniq -c | tr -s '\n ' '  ')" ;;
		*) [ -n "$got" ] || [ "$(tail -n +$((before + 1)) "$log" | head -n 1)" = "$n" ] ||
			got="the server got $(tail -n +$((before + 1)) "$log" | head -n 1), not $n" ;;
		esac
	fi
	: >"$out"
	if [ -n "$got" ]; then
		fail "${STRACE:+strace pass: }$key: $got"
	elif ((${STRACE:-0})); then
		awk '$NF == "total" { print $4 }' "$work/strace" >"$work/sc.$key"
	else
		awk -v t0="$t0" -v t1="$t1" '{ printf "%.4f %.2f %d\n", t1 - t0, $1 + $2, $3 }' \
			<(tail -n 1 "$work/time") >>"$work/res.$key"
	fi
}

# verify_check TOOL: a client given an unrelated CA, or the real system store
# without the bench CA, or a server certificate for another name, must not
# receive a byte (exit status aside: stunnel exits 0 when verification fails)
verify_check() {
	local how
	for how in wrong nostore wrongname; do
		if [ "$how" = wrongname ]; then
			peer source "$ssize" wrongname
			tool_cmd "$1" down file "$port"
		else
			peer source "$ssize"
			tool_cmd "$1" down "$how" "$port"
		fi
		timeout 30 "${cmd[@]}" </dev/null >"$work/out" 2>/dev/null
		if [ -s "$work/out" ]; then
			fail "$1 does not verify the server ($how): $(stat -c %s "$work/out") bytes arrived"
		fi
		: >"$work/out"
	done
}

# ---- the measures: one run each, of every installed tool -----------------
m_upload() { local t; for t in tcp "${tools[@]}"; do have "$t" && run_tool "up.$t" "$t" up file "$size"; done; }
m_download() { local t; for t in tcp "${tools[@]}"; do have "$t" && run_tool "down.$t" "$t" down file "$size"; done; }
m_echo() { local t; for t in "${tools[@]}"; do have "$t" && run_tool "echo.$t" "$t" echo file "$size"; done; }
m_conn() {
	local t
	for t in "${tools[@]}"; do have "$t" && run_tool "conn.$t" "$t" conn file "$conns"; done
	for t in "${tools[@]}"; do have "$t" && run_tool "conn-sys.$t" "$t" conn system "$conns"; done
}
wmodes=(tlspipe tlspipe-P tlspipe-b tlspipe-R tlspipe-bio-pair tlspipe-s16384 tlspipe-s1024)
m_wmodes() { local t; for t in socat "${wmodes[@]}"; do run_tool "wm.$t" "$t" up file "$wsize"; done; }
m_flat() {
	local n
	for n in "$fsmall" "$size"; do
		run_tool "flat-up-$n.tlspipe" tlspipe up file "$n"
		run_tool "flat-down-$n.tlspipe" tlspipe down file "$n"
	done
}
m_strace() {
	local t m
	command -v strace >/dev/null || return 0
	for t in tcp "${tools[@]}"; do
		have "$t" || continue
		for m in up down echo; do
			[ "$t$m" = tcpecho ] || STRACE=1 run_tool "$m.$t" "$t" "$m" file "$ssize"
		done
		[ "$t" = tcp ] && continue
		STRACE=1 run_tool "conn.$t" "$t" conn file 1
		STRACE=1 run_tool "conn-sys.$t" "$t" conn system 1
	done
}

# ---- the table ------------------------------------------------------------
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# stat_of KEY: "median_seconds median_cpu_seconds max_rss_kib" of KEY's good runs
stat_of() {
	local f=$work/res.$1
	[ -s "$f" ] || return 1
	echo "$(cut -d' ' -f1 "$f" | median) $(cut -d' ' -f2 "$f" | median) $(cut -d' ' -f3 "$f" | sort -n | tail -n 1)"
}
# rate KEY N: the median rate of KEY, N bytes (or connections) a run
rate() { stat_of "$1" | awk -v n="$2" '{ printf "%.6g", n / $1 }'; }

# row LABEL KEY TOOL N KIND: one line of the table (KIND: bytes or conns)
row() {
	local label=$1 key=$2 tool=$3 n=$4 kind=$5 s sc=- nfail
	if ! have "${tool%%-*}"; then
		printf '%-12s %-17s %s\n' "$label" "$tool" "not installed"
		return
	fi
	nfail=$(grep -c "^$key:" "$work/failures" 2>/dev/null)
	if ! s=$(stat_of "$key"); then
		printf '%-12s %-17s %s\n' "$label" "$tool" "FAILED (every run)"
		return
	fi
	if [ -s "$work/sc.$key" ]; then
		sc=$(awk -v c="$(cat "$work/sc.$key")" -v n="$ssize" -v k="$kind" -v M="$MiB" \
			'BEGIN { printf "%.0f", (k == "conns") ? c : c / (n / M) }')
	fi
	echo "$s" | awk -v l="$label" -v t="$tool" -v n="$n" -v k="$kind" -v G="$GiB" -v sc="$sc" \
		-v f="${nfail:-0}" '{
		if (k == "conns")
			printf "%-12s %-17s %9.1f %-6s %7.1f ms %8.1f %-7s", l, t, n / $1, "conn/s", 1000 * $1 / n,
				1000 * $2 / n, "ms/conn"
		else
			printf "%-12s %-17s %9.1f %-6s %10s %8.2f %-7s", l, t, n / $1 / 1e6, "MB/s", "-",
				$2 / (n / G), "s/GiB"
		printf " %9d KiB %9s %s\n", $3, sc, (f > 0) ? "(" f " runs failed)" : ""
	}'
}

# mib N [UNIT]: N bytes in MiB, for people
mib() { awk -v n="$1" -v u="${2:- MiB}" 'BEGIN { printf "%g%s", n / 1048576, u }'; }

report() {
	local t n
	printf '\n# tlspipe bench, %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf '# %s cores (nproc), %s\n' "$(nproc)" "$(openssl version)"
	printf '# size %s (write modes %s, strace pass %s), median of %d runs, %d connections per run\n' \
		"$(mib "$size")" "$(mib "$wsize")" "$(mib "$ssize")" "$runs" "$conns"
	printf '# server: bench/peer, TLS 1.3 TLS_AES_256_GCM_SHA384, no tickets, loopback\n'
	printf '# CPU: user+sys; syscalls: per MiB (per connection for conn-*), one strace -f -c run\n\n'
	printf '%-12s %-17s %14s   %10s %14s   %13s %9s\n' measure tool "median rate" "per conn" CPU "max RSS" syscalls
	for t in tcp "${tools[@]}"; do row upload "up.$t" "$t" "$size" bytes; done
	for t in tcp "${tools[@]}"; do row download "down.$t" "$t" "$size" bytes; done
	for t in "${tools[@]}"; do row echo "echo.$t" "$t" "$size" bytes; done
	echo "(short connections, each a full handshake and close; conn-system: no CA option, the default"
	echo " verify paths: the system bundle, and SSL_CERT_DIR a copy of /etc/ssl/certs with the bench CA;"
	echo " stunnel has none: CAfile + CApath of the same store)"
	for t in "${tools[@]}"; do row conn-cafile "conn.$t" "$t" "$conns" conns; done
	for t in "${tools[@]}"; do row conn-system "conn-sys.$t" "$t" "$conns" conns; done
	echo "(tlspipe write modes, upload of $(mib "$wsize"); ratio to socat in the same runs)"
	for t in socat "${wmodes[@]}"; do
		row write-mode "wm.$t" "$t" "$wsize" bytes | sed "s/\$/ $(ratio "wm.$t" wm.socat "$wsize")x socat/"
	done
	echo "(tlspipe RSS flatness: one run each)"
	for n in "$fsmall" "$size"; do
		row "up-$(mib "$n" M)" "flat-up-$n.tlspipe" tlspipe "$n" bytes
		row "down-$(mib "$n" M)" "flat-down-$n.tlspipe" tlspipe "$n" bytes
	done
}

# ratio A B N: rate of A over rate of B
ratio() {
	local a b
	a=$(rate "$1" "$3") b=$(rate "$2" "$3")
	if [ -z "$a" ] || [ -z "$b" ]; then
		echo "?"
		return
	fi
	awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}
# target TEXT A B N MIN: "met" when rate(A) / rate(B) >= MIN (> MIN when MIN is 1)
target() {
	local r
	r=$(ratio "$2" "$3" "$4")
	if [ "$r" = "?" ]; then
		printf '%-50s %7s  not measured\n' "$1" "?"
		return
	fi
	awk -v t="$1" -v r="$r" -v min="$5" 'BEGIN {
		ok = (min == 1) ? r > min : r >= min
		printf "%-50s %6.2fx  %s\n", t, r, ok ? "met" : "NOT MET" }'
}

targets() {
	local rss
	printf '\ntargets (tlspipe)\n'
	target "upload >= 70% of plain TCP" up.tlspipe up.tcp "$size" 0.70
	target "upload >= 1.3x socat" up.tlspipe up.socat "$size" 1.3
	target "download >= 70% of plain TCP" down.tlspipe down.tcp "$size" 0.70
	target "download >= 1.5x socat" down.tlspipe down.socat "$size" 1.5
	target "echo ahead of socat (> 1.0x)" echo.tlspipe echo.socat "$size" 1
	target "short connections, system store >= 2x s_client" conn-sys.tlspipe conn-sys.s_client "$conns" 2
	target "short connections, CA file >= 1.2x s_client" conn.tlspipe conn.s_client "$conns" 1.2
	rss=$(cat "$work"/res.*tlspipe* 2>/dev/null | awk '$3 > m { m = $3 } END { print m + 0 }')
	awk -v r="$rss" 'BEGIN { printf "%-50s %5d KiB  %s\n", "max RSS <= 8 MiB (every tlspipe run)", r,
		(r > 0 && r <= 8192) ? "met" : "NOT MET" }'
}

# ---- the session ------------------------------------------------------------
for t in "${tools[@]}"; do have "$t" && verify_check "$t"; done
for ((i = 1; i <= runs; i++)); do
	m_upload
	m_download
	m_echo
	m_conn
	m_wmodes
	echo "run $i of $runs done" >&2
done
m_flat
m_strace
report
targets
if [ -s "$work/failures" ]; then
	printf '\nfailures:\n'
	sed 's/^/  /' "$work/failures"
fi
exit $status
