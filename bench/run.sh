#!/bin/bash
# Bulk upload benchmark: BENCH_SIZE bytes from a file on stdin into a TLS 1.3
# AES-256-GCM sink on loopback, for tlspipe and its peers, in one run, as
# medians of BENCH_RUNS interleaved runs. Prints throughput, ratios, our
# share of plain TCP, and max RSS. Ratios, not absolute numbers, are the
# result: the machine is shared and noisy.
set -u
cd "$(dirname "$0")/.." || exit 1
size=${BENCH_SIZE:-1073741824}
runs=${BENCH_RUNS:-5}
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT INT TERM
tests/mkcerts.sh "$work/certs"
c=$work/certs
head -c "$size" /dev/urandom >"$work/in"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# the one TLS sink for every client: tlspipe -l, its output discarded
tls_sink() {
	rm -f "$work/sink.err"
	timeout 300 ./tlspipe -l --cert "$c/server.pem" --key "$c/server.key" \
		--ciphersuites TLS_AES_256_GCM_SHA384 0 </dev/null >/dev/null 2>"$work/sink.err" &
	sink=$!
	for _ in $(seq 100); do grep -q listening "$work/sink.err" 2>/dev/null && break; sleep 0.02; done
	port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/sink.err")
}

# run NAME CMD...: time one upload; appends "seconds maxrss_kb" to $work/NAME
run() {
	local name=$1; shift
	/usr/bin/time -f '%e %M' -o "$work/t" timeout 300 "$@" <"$work/in" >/dev/null 2>"$work/client.err"
	local rc=$?
	wait "$sink" 2>/dev/null
	if [ $rc -ne 0 ]; then echo "$name failed ($rc):"; cat "$work/client.err"; return; fi
	tail -n 1 "$work/t" >>"$work/$name"
}

for i in $(seq "$runs"); do
	# close_notify at once, as socat -u and s_client do: the default
	# --on-eof=auto would add its quiet second to every run
	tls_sink; run tlspipe ./tlspipe --on-eof=notify --cafile "$c/ca.pem" localhost "$port"
	tls_sink; run socat socat -b65536 -u - "OPENSSL:localhost:$port,cafile=$c/ca.pem"
	tls_sink; run s_client openssl s_client -connect "localhost:$port" -CAfile "$c/ca.pem" \
		-nocommands -quiet -no_ign_eof
	p=$(free_port)
	timeout 300 socat -u -b65536 "TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr" - >/dev/null & sink=$!
	sleep 0.2
	run tcp socat -u -b65536 - "TCP:127.0.0.1:$p"
	echo "run $i of $runs done" >&2
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mbps() { awk -v s="$size" -v t="$1" 'BEGIN {printf "%.0f", s / t / 1e6}'; }
for n in tlspipe socat s_client tcp; do
	[ -s "$work/$n" ] || { echo "no result for $n"; exit 1; }
	eval "t_$n=$(cut -d' ' -f1 "$work/$n" | median)"
	eval "m_$n=$(cut -d' ' -f2 "$work/$n" | sort -n | tail -n 1)"
done
printf '\nupload of %d MiB, median of %d runs, TLS 1.3 AES-256-GCM sink on loopback\n' $((size >> 20)) "$runs"
printf '%-10s %8s %10s\n' tool MB/s max_RSS_KiB
for n in tlspipe socat s_client tcp; do
	eval "printf '%-10s %8s %10s\n' $n \$(mbps \$t_$n) \$m_$n"
done
awk -v a="$t_tlspipe" -v s="$t_socat" -v o="$t_s_client" -v p="$t_tcp" 'BEGIN {
	printf "\ntlspipe vs socat:    %.2fx (target >= 1.5x)\n", s / a
	printf "tlspipe vs s_client: %.2fx (target >= 2x)\n", o / a
	printf "share of plain TCP:  tlspipe %.0f%%, socat %.0f%% (mark 65%%)\n", 100 * p / a, 100 * p / s }'
