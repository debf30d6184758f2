#!/bin/bash
# matrix.sh [RUNS]: `make check-real`. tlspipe with its default flags (plus
# --cafile, and --crlf where the protocol needs it) in each write mode against
# the real servers of tests/85-real-servers.bats (nginx, dovecot IMAP and POP3,
# aiosmtpd, openssl s_server, gnutls-serv, Python ssl, socat, tlspipe -l),
# big payloads included (nginx: a 100 MiB GET, a 50 MiB POST), RUNS times
# (default 20). Prints a table of outcomes per case and write mode: how often
# each exit status came, and how often the whole reply (or upload) was kept;
# then "N passed, N failed" (a run passes with exit 0 and the whole reply) and
# exits non-zero when one failed. CASES=REGEX picks cases by name, MODES="..."
# (a |-separated list) the write modes.
set -u
cd "$(dirname "$0")/../.." || exit 1
RUNS=${1:-20}
case $RUNS in '' | *[!0-9]* | 0) echo "usage: $0 [RUNS]" >&2; exit 2 ;; esac
[ -x ./tlspipe ] || { echo "no ./tlspipe: run make first" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-real.XXXXXX") || exit 1
export TP_CERTS="$work/certs"
tests/mkcerts.sh "$TP_CERTS" || { echo "cannot make test certificates"; echo "0 passed, 1 failed"; exit 1; }

# the Bats helpers, outside Bats (they read these two, and call load)
# shellcheck disable=SC2034
BATS_TEST_DIRNAME=$PWD/tests BATS_TEST_TMPDIR=$work/t
mkdir -p "$BATS_TEST_TMPDIR"
# shellcheck disable=SC1090
load() { source "$1.bash"; }
# shellcheck source=tests/helpers.bash
source tests/helpers.bash
REAL_UP=$((600 + RUNS * 600))	# the servers live through all the runs
need_real() {	# a missing server fails its cases, with the reason
	[ -e "$2" ] && return 0
	echo "$1 is not installed (no $2): sudo make deps-servers" >&2
	return 1
}
setup
trap 'teardown >/dev/null 2>&1; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

IFS='|' read -ra MODES <<<"${MODES:-default|-b|-P|-R|--io=bio-pair}"
CASE_RE=${CASES:-.}

declare -A N=() OK=() KEPT=() CODES=()
declare -a ROWS=()
passed=0 failed=0 keep=
fails=$work/failures
: >"$fails"

# record CASE MODE RC KEPT(0|1) [WHY]: one run's outcome (RC 99: no server)
record() {
	local k="$1|$2"
	[ -n "${N[$k]:-}" ] || { ROWS+=("$k"); N[$k]=0 OK[$k]=0 KEPT[$k]=0 CODES[$k]=; }
	N[$k]=$((N[$k] + 1))
	CODES[$k]+=" $3"
	[ "$4" -eq 1 ] && KEPT[$k]=$((KEPT[$k] + 1))
	if [ "$3" -eq 0 ] && [ "$4" -eq 1 ]; then
		OK[$k]=$((OK[$k] + 1)) passed=$((passed + 1))
	else
		failed=$((failed + 1))
		printf '%s [%s]: exit %s%s; %s\n' "$1" "$2" "$3" "$([ "$4" -eq 1 ] && echo ", reply whole" || echo ", reply NOT whole")" \
			"${5:-$(grep -m1 . "$T/err" 2>/dev/null)}" >>"$fails"
		[ -z "${5:-}" ] || return 0
		# what it printed, for a look afterwards (small replies only)
		[ -n "$keep" ] || keep=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-real-failed.XXXXXX")
		local f
		f="$keep/$failed-$(echo "$1-$2" | tr -c 'A-Za-z0-9.=-' _)"
		cp "$T/err" "$f.err" 2>/dev/null
		[ "$(stat -c %s "$T/out" 2>/dev/null || echo 0)" -gt 1048576 ] || cp "$T/out" "$f.out" 2>/dev/null
	fi
}

# client MODE ARGS...: tlspipe in write mode MODE, stdin $T/in, stdout $T/out; RC
client() {
	local -a m=()
	[ "$1" = default ] || m=("$1")
	shift
	RC=0
	timeout 300 "$TP" --cafile "$CA" "${m[@]}" "$@" <"$T/in" >"$T/out" 2>"$T/err" 3>&- || RC=$?
}

want() { [[ $1 =~ $CASE_RE ]]; }

# server_down CASE...: the server of these cases did not start: each fails once per mode and run
server_down() {
	local c m r
	for c in "$@"; do
		want "$c" || continue
		for ((r = 0; r < RUNS; r++)); do
			for m in "${MODES[@]}"; do record "$c" "$m" 99 0 "the server did not start"; done
		done
	done
}

replies() { "$REAL_PY" "$REAL/http-replies.py" "$T/out" 2>/dev/null; }
text_has() { tr -d '\r' <"$T/out" | grep -qE -- "$1"; }
get() { printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: %s\r\n\r\n' "$1" "${2:-close}"; }
post() {	# post BODYFILE
	printf 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n'
	printf 'Content-Length: %s\r\nConnection: close\r\n\r\n' "$(stat -c %s "$1")"
	cat "$1"
}
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
# wait_lines FILE N: until FILE has N lines, at most 5 s
wait_lines() {
	local _
	for _ in $(seq 100); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# each_run CASE FUNCTION: FUNCTION MODE once per mode, RUNS times (runs outermost)
declare -a PLAN=()
plan() { want "$1" && PLAN+=("$1|$2"); }
run_plan() {
	local r m p
	for ((r = 1; r <= RUNS; r++)); do
		for m in "${MODES[@]}"; do
			for p in "${PLAN[@]}"; do
				"${p#*|}" "$m" "${p%%|*}"
			done
		done
	done
	PLAN=()
}

echo "check-real: $RUNS run(s) x modes: ${MODES[*]}"

# ---- nginx ----
c_nginx_get() {
	get /small.txt >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(replies)" = "200 $SMALL" ] && echo 1 || echo 0)"
}
c_nginx_pipelined() {
	{ get /small.txt keep-alive; get /small.txt keep-alive; } >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(replies)" = "200 $SMALL"$'\n'"200 $SMALL" ] && echo 1 || echo 0)"
}
c_nginx_post() {	# c_nginx_post MODE CASE BODYFILE
	post "$3" >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(replies)" = "200 3 $OK_SHA" ] && echo 1 || echo 0)"
}
c_nginx_post4() { c_nginx_post "$@" "$work/4M"; }
c_nginx_post50() { c_nginx_post "$@" "$work/50M"; }
c_nginx_get100() {
	get /big.bin >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(replies)" = "200 $BIG" ] && echo 1 || echo 0)"
	rm -f "$T/out"
}
NGINX_CASES=("nginx GET close" "nginx 2 pipelined GETs" "nginx POST 4 MiB" "nginx GET 100 MiB" "nginx POST 50 MiB")
if [[ "${NGINX_CASES[*]}" =~ $CASE_RE ]]; then
	head -c 4194304 /dev/urandom >"$work/4M"
	head -c 52428800 /dev/urandom >"$work/50M"
	OK_SHA=$(printf 'ok\n' | sha256sum | cut -d' ' -f1)
	if nginx_start big 2>"$work/start.err"; then
		SMALL="$(stat -c %s "$RS/nginx/www/small.txt") $(sha "$RS/nginx/www/small.txt")"
		BIG="$(stat -c %s "$RS/nginx/www/big.bin") $(sha "$RS/nginx/www/big.bin")"
		plan "nginx GET close" c_nginx_get
		plan "nginx 2 pipelined GETs" c_nginx_pipelined
		plan "nginx POST 4 MiB" c_nginx_post4
		plan "nginx GET 100 MiB" c_nginx_get100
		plan "nginx POST 50 MiB" c_nginx_post50
		run_plan
	else
		cat "$work/start.err"
		server_down "${NGINX_CASES[@]}"
	fi
	teardown
	setup
	rm -f "$work/4M" "$work/50M"
fi

# ---- dovecot ----
c_imap_logout() {
	printf 'a1 LOGIN bob secret\na2 LIST "" "*"\na3 LOGOUT\n' >"$T/in"
	client "$1" --crlf localhost "$IMAPS_PORT"
	record "$2" "$1" "$RC" "$(text_has '^a1 OK ' && text_has '^a2 OK ' && text_has '^a3 OK ' && echo 1 || echo 0)"
}
c_imap_nologout() {
	printf 'a1 LOGIN bob secret\na2 LIST "" "*"\n' >"$T/in"
	client "$1" --crlf localhost "$IMAPS_PORT"
	record "$2" "$1" "$RC" "$(text_has '^a1 OK ' && text_has '^a2 OK ' && echo 1 || echo 0)"
}
c_imap_failed() {
	printf 'a1 LOGIN bob wrong\n' >"$T/in"
	client "$1" --crlf --eof-grace=3 localhost "$IMAPS_PORT"
	record "$2" "$1" "$RC" "$(text_has '^a1 NO ' && echo 1 || echo 0)"
}
c_pop3() {
	printf 'USER bob\nPASS secret\nLIST\nQUIT\n' >"$T/in"
	client "$1" --crlf localhost "$POP3S_PORT"
	record "$2" "$1" "$RC" "$([ "$(tr -d '\r' <"$T/out" | grep -c '^+OK')" -eq 5 ] && text_has '^\.$' && echo 1 || echo 0)"
}
# The failed LOGIN gets a dovecot of its own: after a failed login from an
# address, dovecot delays that address's next logins (its auth penalty, 2 s
# and more), longer than the default --eof-grace, and the other cases would
# measure that instead.
DOVECOT_CASES=("dovecot IMAP with LOGOUT" "dovecot IMAP without LOGOUT" "dovecot POP3")
for group in ok failed; do
	if [ $group = ok ]; then
		cases=("${DOVECOT_CASES[@]}")
	else
		cases=("dovecot IMAP failed LOGIN")
	fi
	[[ "${cases[*]}" =~ $CASE_RE ]] || continue
	if dovecot_start 2>"$work/start.err"; then
		if [ $group = ok ]; then
			plan "dovecot IMAP with LOGOUT" c_imap_logout
			plan "dovecot IMAP without LOGOUT" c_imap_nologout
			plan "dovecot POP3" c_pop3
		else
			plan "dovecot IMAP failed LOGIN" c_imap_failed
		fi
		run_plan
	else
		cat "$work/start.err"
		server_down "${cases[@]}"
	fi
	teardown
	setup
done

# ---- aiosmtpd ----
c_smtp() {
	printf '%s\n' 'EHLO localhost' 'MAIL FROM:<alice@example.org>' 'RCPT TO:<bob@example.org>' DATA \
		'Subject: tlspipe' '' 'hello from tlspipe' . QUIT >"$T/in"
	client "$1" --crlf localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(tr -d '\r' <"$T/out" | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | paste -sd' ')" = \
		"220 250 250 250 354 250 221" ] && echo 1 || echo 0)"
}
if want "aiosmtpd SMTP dialogue"; then
	if aiosmtpd_start 2>"$work/start.err"; then
		plan "aiosmtpd SMTP dialogue" c_smtp
		run_plan
	else
		cat "$work/start.err"
		server_down "aiosmtpd SMTP dialogue"
	fi
	teardown
	setup
fi

# ---- openssl s_server -www and -rev, gnutls-serv --echo, Python ssl echo ----
c_www() {
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$(head -n 1 "$T/out" | grep -q '^HTTP/1.0 200 ok' && text_has '^</pre></BODY></HTML>$' && echo 1 || echo 0)"
}
c_rev() {
	printf 'hello\ntlspipe\n' >"$T/in"
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$([ "$(cat "$T/out")" = $'olleh\nepipslt' ] && echo 1 || echo 0)"
}
c_echo() {	# the same bytes back
	client "$1" localhost "$PORT"
	record "$2" "$1" "$RC" "$(cmp -s "$T/in" "$T/out" && echo 1 || echo 0)"
}
c_gnutls() { base64 -w 76 "$work/3M" >"$T/in"; c_echo "$@"; }
c_pyecho() { cp "$work/4M" "$T/in"; c_echo "$@"; }
head -c 3145728 /dev/urandom >"$work/3M"
head -c 4194304 /dev/urandom >"$work/4M"
for opt in -www -rev; do
	name="openssl s_server $opt"
	want "$name" || continue
	if start_server timeout "$REAL_UP" openssl s_server -accept 127.0.0.1:0 "$opt" \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key" 2>"$work/start.err"; then
		plan "$name" "$([ "$opt" = -www ] && echo c_www || echo c_rev)"
		run_plan
	else
		cat "$work/start.err"
		server_down "$name"
	fi
	teardown
	setup
done
if want "gnutls-serv --echo"; then
	if gnutls_echo 2>"$work/start.err"; then
		plan "gnutls-serv --echo" c_gnutls
		run_plan
	else
		cat "$work/start.err"
		server_down "gnutls-serv --echo"
	fi
	teardown
	setup
fi
if want "Python ssl echo"; then
	if py_server echo 2>"$work/start.err"; then
		plan "Python ssl echo" c_pyecho
		run_plan
	else
		cat "$work/start.err"
		server_down "Python ssl echo"
	fi
	teardown
	setup
fi

# ---- uploads into sinks (4 MiB): the sink got every byte ----
c_sink_tp() {
	cp "$work/4M" "$T/in"
	if ! start_server timeout 300 "$TP" -l --cert "$CERTS/server.pem" --key "$CERTS/server.key" 0 2>>"$work/start.err"; then
		record "$2" "$1" 99 0 "tlspipe -l did not start"
		return
	fi
	client "$1" localhost "$PORT"
	end_server 10
	record "$2" "$1" "$RC" "$([ "$SRV_RC" -eq 0 ] && cmp -s "$T/in" "$T/srv.out" && echo 1 || echo 0)"
}
c_sink_ss() {
	cp "$work/4M" "$T/in"
	rm -f "$T/ss.in"
	mkfifo "$T/ss.in"
	local hold
	exec {hold}<>"$T/ss.in"
	if ! SRV_STDIN="$T/ss.in" start_server timeout 300 openssl s_server -accept 127.0.0.1:0 -naccept 1 \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key" 2>>"$work/start.err"; then
		exec {hold}>&-
		record "$2" "$1" 99 0 "s_server did not start"
		return
	fi
	client "$1" localhost "$PORT"
	end_server 10
	exec {hold}>&-
	"$REAL_PY" - "$T/srv.out" >"$T/got" 2>/dev/null <<-'EOF'
		import sys
		d = open(sys.argv[1], "rb").read()
		head = b"Secure Renegotiation IS supported\n"
		d = d[d.index(head) + len(head):]
		d = d[:d.rindex(b"DONE\nshutting down SSL\n")]
		sys.stdout.buffer.write(d.replace(b"Read BLOCK\n", b""))
	EOF
	record "$2" "$1" "$RC" "$(cmp -s "$T/in" "$T/got" && echo 1 || echo 0)"
}
c_sink_socat() {
	cp "$work/4M" "$T/in"
	if ! socat_sink 2>>"$work/start.err"; then
		record "$2" "$1" 99 0 "socat did not start"
		return
	fi
	client "$1" localhost "$PORT"
	end_server 10
	record "$2" "$1" "$RC" "$(cmp -s "$T/in" "$RS/socat.out" && echo 1 || echo 0)"
}
c_sink_py() {
	cp "$work/4M" "$T/in"
	local n
	n=$(lines "$RS/sink.out")
	client "$1" localhost "$PORT"
	wait_lines "$RS/sink.out" $((n + 1))
	record "$2" "$1" "$RC" "$([ "$(cat "$T/out")" = "got 4194304 bytes" ] &&
		[ "$(tail -n 1 "$RS/sink.out")" = "sha256=$(sha "$T/in") bytes=4194304 close_notify=1" ] && echo 1 || echo 0)"
}
plan "sink: tlspipe -l" c_sink_tp
plan "sink: openssl s_server" c_sink_ss
plan "sink: socat OPENSSL-LISTEN" c_sink_socat
run_plan
teardown
setup
if want "sink: Python"; then
	if py_server sink 2>"$work/start.err"; then
		plan "sink: Python" c_sink_py
		run_plan
	else
		cat "$work/start.err"
		server_down "sink: Python"
	fi
	teardown
	setup
fi

# ---- the table: per case (server) and write mode ----
declare -a CASE_ORDER=()
declare -A seen=()
for k in "${ROWS[@]}"; do
	c=${k%%|*}
	[ -n "${seen[$c]:-}" ] || { seen[$c]=1; CASE_ORDER+=("$c"); }
done
echo
printf '%-28s %-14s %5s %7s %7s  %-12s %10s\n' case mode runs "exit 0" "exit 5" "other exits" "reply kept"
for c in "${CASE_ORDER[@]}"; do
	for m in "${MODES[@]}"; do
		k="$c|$m"
		[ -n "${N[$k]:-}" ] || continue
		e0=0 e5=0 other=
		declare -A oc=()
		for x in ${CODES[$k]}; do
			case $x in
			0) e0=$((e0 + 1)) ;;
			5) e5=$((e5 + 1)) ;;
			*) oc[$x]=$((${oc[$x]:-0} + 1)) ;;
			esac
		done
		for x in $(printf '%s\n' "${!oc[@]}" | sort -n); do other+="$x:${oc[$x]} "; done
		unset oc
		printf '%-28s %-14s %5d %7d %7d  %-12s %10s\n' "$c" "$m" "${N[$k]}" "$e0" "$e5" "${other:--}" "${KEPT[$k]}/${N[$k]}"
	done
done
if [ -s "$fails" ]; then
	echo
	echo "failed runs (first 40):"
	head -n 40 "$fails"
	if [ -n "$keep" ]; then echo "their stderr and (small) stdout: $keep"; fi
	if grep -q '^[^[]*\[[^]]*\]: exit 99,' "$fails"; then echo "(exit 99: the server did not start)"; fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
