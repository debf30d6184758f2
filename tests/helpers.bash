# Loaded by every .bats file: the tools, real peers on loopback, cleanup.
# bats-support and bats-assert, sourced as their load.bash files do but
# without a dirname fork per file (a fork costs ~8 ms of CPU on the CI VM)
for f in /usr/lib/bats/bats-support/src/*.bash /usr/lib/bats/bats-assert/src/*.bash; do
	source "$f"
done
unset f

TOP=${BATS_TEST_DIRNAME%/tests}
TP="$TOP/tlspipe"
PEER="$TOP/tests/peer"
CERTS=${TP_CERTS:?run the tests with make check}
CA="$CERTS/ca.pem"

# Forks are dear here: on the CI VM a fork costs ~7 ms of CPU and a fork+exec
# ~9 ms, and the suite is CPU-bound. So the helpers wait with bash builtins
# ($EPOCHREALTIME, read -t, [[ ]]) or on the event itself (a process's exit,
# tail -F's inotify), never with a sleep, seq, date or sed per try.

# Every test starts with nothing in the background. BG lists every process
# a test starts in the background (`cmd & BG+=($!)`), HOLDS the variables
# of the fifos it holds open (hold); teardown releases the fifos and stops
# and reaps whatever is still running. SRV_PID is the server whose status a
# test reads (wait_server, end_server); it is in BG too.
setup() {
	T=$BATS_TEST_TMPDIR
	SRV_PID= HOLD= PIN= RS=
	BG=() HOLDS=()
}

teardown() {
	local v
	for v in ${HOLDS[@]+"${HOLDS[@]}"}; do
		release "$v"
	done
	stop_bg ${BG[@]+"${BG[@]}"}
	BG=()
	SRV_PID=
	if [ -n "${RS:-}" ]; then
		rm -rf "$RS"
		RS=
	fi
}

# stop_bg PID...: TERM to each (to its process group too, where it leads
# one: timeout(1) and the real servers do), at most 2 s for all to end,
# then KILL for what is left; all reaped and forgotten
stop_bg() {
	local p
	[ "$#" -gt 0 ] || return 0
	for p in "$@"; do
		kill -TERM -- "-$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	wait_until 2000 none_alive "$@" || true
	for p in "$@"; do
		kill -KILL -- "-$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		forget "$p"
	done
}

# forget PID: PID has been reaped: teardown must not signal it (its number
# may be another process's by then)
forget() {
	local -a keep=()
	local p
	for p in ${BG[@]+"${BG[@]}"}; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	BG=(${keep[@]+"${keep[@]}"})
	if [ "${SRV_PID:-}" = "$1" ]; then SRV_PID=; fi
}

# alive PID / none_alive PID...: (bash reaps an ended child at once, and
# kill -0 then fails)
alive() {
	kill -0 "$1" 2>/dev/null
}
none_alive() {
	local p
	for p in "$@"; do
		if alive "$p"; then return 1; fi
	done
}

# nap SECS: a pause without a fork: read -t on a pipe nobody writes to (the
# fifo tests/run.sh made, else a pipe of our own)
nap() {
	if [ -z "${NAP_FD:-}" ]; then
		if [ -p "${TP_NAP:-}" ]; then
			exec {NAP_FD}<>"$TP_NAP"
		else
			exec {NAP_FD}<> <(:)
		fi
	fi
	read -r -t "$1" -u "$NAP_FD" _ || true
}

# full: this is make check-full (TP_FULL=1): the whole of every matrix. make
# check runs each behaviour once: a test that loops over modes or values runs
# a few of them unless full, and a test tagged `# bats test_tags=full` runs
# only in check-full (tests/run.sh)
full() {
	[ "${TP_FULL:-0}" = 1 ]
}

# now_us: microseconds since the epoch, in NOW_US (no fork)
now_us() {
	NOW_US=${EPOCHREALTIME//[!0-9]/}
}

# ms_since T0: milliseconds since T0 (a NOW_US), in MS
ms_since() {
	now_us
	MS=$(((NOW_US - $1) / 1000))
}

# wait_until MS CMD...: until CMD (a builtin, or a function of builtins: no
# fork per try) returns 0, trying every 10 ms, at most MS milliseconds: 0
# then; 1 when the time is up; CMD's status when it is 2 or more (give up)
wait_until() {
	local end rc
	now_us
	end=$((NOW_US + $1 * 1000))
	shift
	while :; do
		rc=0
		"$@" || rc=$?
		[ "$rc" -ne 1 ] && return "$rc"
		now_us
		[ "$NOW_US" -lt "$end" ] || return 1
		nap 0.01
	done
}

# port_said FILE [ERE]: FILE has a whole line (a line still being written
# is not read) that matches ERE, by default "listening on ADDR:PORT [pin
# PIN]"; sets PORT (and PIN) from its groups 1 (and 3)
port_said() {
	local line re=${2:-'listening on .*:([0-9]+)( pin (sha256//[A-Za-z0-9+/=]+))?'}
	[ -e "$1" ] || return 1
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			PORT=${BASH_REMATCH[1]} PIN=${BASH_REMATCH[3]:-}
			return 0
		fi
	done <"$1"
	return 1
}

# listening: the server ($SRV_PID) has said where it listens: its "listening
# on" line on srv.err, or s_server's "ACCEPT ADDR:PORT" on srv.out; sets
# PORT (and PIN). 2 when the server is gone.
listening() {
	port_said "$T/srv.err" && return 0
	port_said "$T/srv.out" '^ACCEPT .*:([0-9]+)$' && return 0
	alive "$SRV_PID" || return 2
	return 1
}

# start_server CMD...: run a server in the background (stdout $T/srv.out,
# stderr $T/srv.err) and wait for its "listening on ADDR:PORT" line (at most
# 10 s). Sets SRV_PID, PORT, and PIN when the line has one (tlspipe -l with
# an ephemeral identity). Stdin is /dev/null unless SRV_STDIN names a file.
start_server() {
	: >"$T/srv.out"	# a loop must not read the last server's line
	: >"$T/srv.err"
	PORT= PIN=
	"$@" <"${SRV_STDIN:-/dev/null}" >"$T/srv.out" 2>"$T/srv.err" 3>&- &
	SRV_PID=$!
	BG+=("$SRV_PID")
	wait_until 10000 listening && return 0
	echo "server did not start: $*" >&2
	cat "$T/srv.err" >&2
	return 1
}

# wait_server: reap the background server; its status lands in SRV_RC.
wait_server() {
	local p=$SRV_PID
	SRV_RC=0
	wait "$p" || SRV_RC=$?
	forget "$p"
}

# reap PID SECS: wait at most SECS for PID (then KILL); its status in RC
reap() {
	wait_until $(($2 * 1000)) none_alive "$1" || kill -9 "$1" 2>/dev/null || true
	RC=0
	wait "$1" || RC=$?
	forget "$1"
}

# end_server SECS: the server must be done within SECS, else it gets SIGTERM
# (timeout(1) passes it on) and, 2 s later, SIGKILL; its status in SRV_RC
end_server() {
	if ! wait_until $(($1 * 1000)) none_alive "$SRV_PID"; then
		kill "$SRV_PID" 2>/dev/null || true
		wait_until 2000 none_alive "$SRV_PID" || kill -9 "$SRV_PID" 2>/dev/null || true
	fi
	wait_server
}

# peer_as NAME [peer options]: the test peer (tests/peer.c) presenting
# $CERTS/NAME.pem; peer: with the test CA's localhost certificate; sink: a
# peer that hashes what it receives
peer_as() {
	local name=$1
	shift
	start_server timeout 60 "$PEER" --cert "$CERTS/$name.pem" --key "$CERTS/$name.key" "$@"
}
peer() {
	peer_as server "$@"
}
sink() {
	peer --mode sink "$@"
}

# tp_server [options]: tlspipe -l on 127.0.0.1, a free port; sets PORT, and
# PIN when the identity is ephemeral (no --cert)
tp_server() {
	start_server timeout 60 "$TP" -l "$@" 0
}

# tlspipe client against the local CA; under timeout like everything
tp() {
	timeout 60 "$TP" --cafile "$CA" "$@"
}

# tpq: the same under a short limit: a hang fails the test instead of
# stalling it
tpq() {
	timeout 20 "$TP" --cafile "$CA" "$@"
}

# sha FILE: its SHA-256 in hex
sha() {
	local h _
	read -r h _ < <(exec sha256sum "$1")
	echo "$h"
}

# pin_of CERT.pem: its --pin, as curl computes one (sha256 of the SubjectPublicKeyInfo)
pin_of() {
	echo "sha256//$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64)"
}

random_file() {	# random_file PATH BYTES
	head -c "$2" /dev/urandom >"$1"
}

# the sink's report: sha256=... bytes=N close_notify=1 ...
sink_sha() {
	local line re='sha256=([0-9a-f]+)'
	while IFS= read -r line; do
		[[ $line =~ $re ]] && echo "${BASH_REMATCH[1]}"
	done <"$T/srv.out"
	return 0
}

# has FILE TEXT: FILE contains TEXT (read by bash: no fork)
has() {
	local data=
	[ -e "$1" ] || return 1
	IFS= read -r -d '' data <"$1" || true
	[[ $data == *"$2"* ]]
}

# wait_for FILE TEXT MS: until FILE contains TEXT, at most MS
wait_for() {
	wait_until "$3" has "$1" "$2" && return 0
	echo "$1 never got \"$2\":"
	cat "$1"
	return 1
}

# follow FILE MS COND: until a line of FILE, from its first on, as it is
# written, makes the awk condition COND true (COND may count: ++n >= 20;
# text to match can come in through the environment: ENVIRON["NAME"]); at
# most MS milliseconds. tail -F is woken by inotify: no polling.
follow() {
	local fd tpid secs rc=0
	printf -v secs '%d.%03d' $(($2 / 1000)) $(($2 % 1000))
	exec {fd}< <(exec tail -n +1 -F "$1" 2>/dev/null)
	tpid=$!
	# -W interactive: mawk reads a pipe line by line, not a buffer at a time
	timeout "$secs" awk -W interactive "($3) { found = 1; exit } END { exit !found }" \
		<&"$fd" 2>/dev/null || rc=$?
	exec {fd}<&-
	kill "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	return "$rc"
}

# wait_size FILE BYTES: until FILE holds at least BYTES, at most 10 s (tail
# -F passes on every byte as it is written, woken by inotify; head takes
# BYTES of them)
wait_size() {
	local fd tpid rc=0
	exec {fd}< <(exec tail -c +1 -F "$1" 2>/dev/null)
	tpid=$!
	timeout 10 head -c "$2" <&"$fd" >/dev/null || rc=$?
	exec {fd}<&-
	kill "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "$1 never reached $2 bytes"
		return 1
	fi
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

# err_to FILE CMD...: CMD's stderr into FILE (`run` keeps stdout)
err_to() {
	local f=$1
	shift
	"$@" 2>"$f"
}

stderr_has() {
	if ! [[ ${stderr,,} == *"${1,,}"* ]]; then
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
	wait_server
}

# hold NAME VAR: a fifo $T/NAME held open (read-write) on the fd in $VAR:
# its reader sees no EOF until release VAR, or teardown. Start servers before
# this, and give commands {VAR}>&-, or they hold it too.
hold() {
	local fd
	rm -f "$T/$1"
	mkfifo "$T/$1"
	exec {fd}<>"$T/$1"
	printf -v "$2" %s "$fd"
	HOLDS+=("$2")
}
release() {	# release VAR
	local fd=${!1:-}
	if [ -n "$fd" ]; then
		exec {fd}>&-
	fi
	printf -v "$1" %s ''
}

# hold_stdin: the fifo $T/stdin, held on $HOLD until end_stdin
hold_stdin() {
	hold stdin HOLD
}
end_stdin() {
	release HOLD
}

# gnutls_serv [options]: gnutls-serv with the test certificate on GPORT, a
# port a test peer just freed (gnutls-serv cannot say a port it picked);
# output in $T/gnutls.out, pid in GNUTLS_PID (and BG)
gnutls_serv() {
	closed_port
	GPORT=$CLOSED
	: >"$T/gnutls.out"
	timeout 60 gnutls-serv -p "$GPORT" --x509certfile "$CERTS/server.pem" \
		--x509keyfile "$CERTS/server.key" "$@" </dev/null >"$T/gnutls.out" 2>&1 3>&- &
	GNUTLS_PID=$!
	BG+=("$GNUTLS_PID")
	wait_until 5000 gnutls_listening && return 0
	cat "$T/gnutls.out"
	return 1
}
gnutls_listening() {
	has "$T/gnutls.out" 'listening on IPv4' && return 0
	alive "$GNUTLS_PID" || return 2
	return 1
}

# jstat FILE KEY: one value from a --stats JSON line
jstat() {
	jq -r ".$2" "$1" 2>/dev/null
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

# ---- real servers: nginx, dovecot, aiosmtpd, Python ssl (tests/real/) ----
# Each runs from a config of its own in $RS, a 0755 folder under /tmp (the
# Bats temp dirs are 0700: nobody could not reach them), on a free loopback
# port, unprivileged: as the current user, or as nobody when the tests run as
# root. Nothing of the system's (/etc/nginx, /etc/dovecot, its services) is
# used. They are in BG: teardown stops them (TERM, then KILL, to the whole
# process group), reaps them and removes $RS. Readiness is a real exchange (tests/real/probe.py)
# or the server's own "listening on" line, never an open port.

REAL="$TOP/tests/real"
REAL_PY=/usr/bin/python3	# Debian's: aiosmtpd is a Debian package
REAL_UP=300	# no server outlives a test by more than this

# need_real NAME FILE: the server NAME is installed (FILE exists); else the
# test is skipped with the reason, but under CI=true it fails: CI must run
# every server
need_real() {
	[ -e "$2" ] && return 0
	if [ "${CI:-}" = true ]; then
		fail "$1 is not installed (no $2): run make deps-servers"
		return 1
	fi
	skip "$1 is not installed (no $2): sudo make deps-servers"
}

# a free TCP port on 127.0.0.1 for a server that cannot listen on port 0 (it
# may be taken before the server binds it: the starters retry with another)
free_port() {
	"$REAL_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# real_dir: $RS, the 0755 folder of this test's real servers, with copies of
# the server certificate, its key and tests/real/*.py; sets SUSER, SGROUP,
# SUID, SGID: who the servers run as
real_dir() {
	[ -z "${RS:-}" ] || return 0
	RS=$(mktemp -d /tmp/tlspipe-real.XXXXXX)
	chmod 755 "$RS"
	if [ "$(id -u)" -eq 0 ]; then
		SUSER=nobody SGROUP=$(id -gn nobody)
	else
		SUSER=$(id -un) SGROUP=$(id -gn)
	fi
	SUID=$(id -u "$SUSER") SGID=$(id -g "$SUSER")
	cp "$CERTS/server.pem" "$CERTS/ca.pem" "$RS/"
	install -m 600 "$CERTS/server.key" "$RS/server.key"
	cp "$REAL"/*.py "$RS/"
}

# real_spawn NAME CMD...: CMD in the background, unprivileged (see above), in
# $RS, under timeout (a process group of its own); stdout and stderr in
# $RS/NAME.out and .err. Sets SRV_PID; teardown stops it.
real_spawn() {
	local name=$1
	shift
	real_dir
	# emptied here, before the start: a wait must not read the last run's words
	: >"$RS/$name.out"
	: >"$RS/$name.err"
	local -a as=()
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$SUID:$SGID" "$RS"
		as=(setpriv --reuid="$SUID" --regid="$SGID" --clear-groups --reset-env --)
	fi
	(cd "$RS" && exec timeout "$REAL_UP" "${as[@]}" env HOME="$RS" TMPDIR="$RS" "$@") \
		</dev/null >"$RS/$name.out" 2>"$RS/$name.err" 3>&- &
	SRV_PID=$!
	BG+=("$SRV_PID")
}

# real_ready PORT EXPECT [SEND]: until a real exchange with the server on
# PORT works (tests/real/probe.py: send SEND, EXPECT arrives), at most 10 s,
# or until the server ($SRV_PID) is gone; 1 then
real_ready() {
	wait_until 10000 real_probe "$@"
}
real_probe() {
	timeout 5 "$REAL_PY" "$REAL/probe.py" "$1" "$CA" "$2" "${3:-}" 2>/dev/null && return 0
	alive "$SRV_PID" || return 2
	nap 0.1	# a probe is a Python: not every 10 ms
	return 1
}

# in_use FILE...: a server said it could not bind its port
in_use() {
	grep -qi 'address already in use' "$@" 2>/dev/null
}

# real_failed NAME: the server did not come up: show its logs
real_failed() {
	echo "$1 did not start; its logs:" >&2
	tail -n 20 "$RS"/*.out "$RS"/*.err "$RS"/*.log "$RS"/*/*.log >&2 2>/dev/null || true
}

# real_stop: stop the last started server (before a retry on another port)
real_stop() {
	stop_bg "$SRV_PID"
}

# nginx_start [big]: nginx on $PORT (TLS, the test certificate), from
# $RS/nginx: GET /small.txt (the bytes of $RS/nginx/www/small.txt), with big
# also /big.bin (100 MiB, random); POST /upload (any size) is read whole
# before the reply "ok\n" (proxied to a second server on a unix socket, after
# proxy_request_buffering has read the body); keep-alive and pipelining as
# nginx does them. The access log ($RS/nginx/access.log) ends each line with
# the request's length in bytes as nginx read it.
nginx_start() {
	need_real nginx /usr/sbin/nginx || return 1
	real_dir
	local d=$RS/nginx try
	mkdir -p "$d/www" "$d/tmp"
	printf 'small file from nginx\n%.0s' $(seq 20) >"$d/www/small.txt"
	if [ "${1:-}" = big ]; then
		head -c 104857600 /dev/urandom >"$d/www/big.bin"
	fi
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		rm -f "$d/upstream.sock"	# a killed nginx leaves it behind
		cat >"$d/nginx.conf" <<-CONF
			daemon off;
			master_process on;
			worker_processes 1;
			pid $d/nginx.pid;
			error_log $d/error.log warn;
			events { worker_connections 64; }
			http {
			    default_type application/octet-stream;
			    log_format tp '\$request \$status \$request_length';
			    access_log $d/access.log tp;
			    client_body_temp_path $d/tmp/body;
			    proxy_temp_path $d/tmp/proxy;
			    fastcgi_temp_path $d/tmp/fastcgi;
			    uwsgi_temp_path $d/tmp/uwsgi;
			    scgi_temp_path $d/tmp/scgi;
			    server {
			        listen 127.0.0.1:$PORT ssl;
			        server_name localhost;
			        ssl_certificate $RS/server.pem;
			        ssl_certificate_key $RS/server.key;
			        ssl_protocols TLSv1.2 TLSv1.3;	# as Debian's nginx.conf (1.22 alone: no 1.3)
			        root $d/www;
			        client_max_body_size 0;
			        location = /upload {
			            proxy_pass http://unix:$d/upstream.sock:/ok;
			            proxy_pass_request_body off;
			            proxy_set_header Content-Length "";
			        }
			    }
			    server {
			        listen unix:$d/upstream.sock;
			        access_log off;
			        location / { default_type text/plain; return 200 "ok\n"; }
			    }
			}
		CONF
		real_spawn nginx /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
		if real_ready "$PORT" "HTTP/1.1 200 " \
			$'GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; then
			return 0
		fi
		in_use "$d/error.log" || break
		real_stop
	done
	real_failed nginx
	return 1
}

# dovecot_start: dovecot, IMAP on $IMAPS_PORT and POP3 on $POP3S_PORT, both
# implicit TLS (the test certificate), run as the server user (SUSER) with
# everything in $RS/dovecot; user bob, password secret; auth_failure_delay at
# its default (2 s). Ready when both greet.
dovecot_start() {
	need_real dovecot /usr/sbin/dovecot || return 1
	real_dir
	local d=$RS/dovecot try
	mkdir -p "$d/run" "$d/state" "$d/home"
	echo "bob:{PLAIN}secret" >"$d/passwd"
	for try in 1 2 3 4 5; do
		IMAPS_PORT=$(free_port) POP3S_PORT=$(free_port)
		[ "$IMAPS_PORT" != "$POP3S_PORT" ] || continue
		cat >"$d/dovecot.conf" <<-CONF
			base_dir = $d/run
			state_dir = $d/state
			log_path = $d/dovecot.log
			info_log_path = $d/dovecot.log
			protocols = imap pop3
			listen = 127.0.0.1
			ssl = required
			ssl_cert = <$RS/server.pem
			ssl_key = <$RS/server.key
			default_internal_user = $SUSER
			default_internal_group = $SGROUP
			default_login_user = $SUSER
			first_valid_uid = $SUID
			last_valid_uid = $SUID
			first_valid_gid = $SGID
			last_valid_gid = $SGID
			mail_location = maildir:~/Maildir
			passdb {
			    driver = passwd-file
			    args = scheme=PLAIN username_format=%u $d/passwd
			}
			userdb {
			    driver = static
			    args = uid=$SUID gid=$SGID home=$d/home/%u
			}
			service imap-login {
			    chroot =
			    inet_listener imap {
			        port = 0
			    }
			    inet_listener imaps {
			        port = $IMAPS_PORT
			        ssl = yes
			    }
			}
			service pop3-login {
			    chroot =
			    inet_listener pop3 {
			        port = 0
			    }
			    inet_listener pop3s {
			        port = $POP3S_PORT
			        ssl = yes
			    }
			}
			service anvil {
			    chroot =
			}
		CONF
		real_spawn dovecot /usr/sbin/dovecot -F -c "$d/dovecot.conf"
		if real_ready "$IMAPS_PORT" "* OK" && real_ready "$POP3S_PORT" "+OK"; then
			return 0
		fi
		in_use "$d/dovecot.log" "$RS/dovecot.err" || break
		real_stop
	done
	real_failed dovecot
	return 1
}

# aiosmtpd_start: aiosmtpd (python3 -m aiosmtpd, SMTPS: implicit TLS with the
# test certificate) on $PORT; its Debugging handler prints each message it
# takes on $RS/smtp.out. Ready when it greets (220).
aiosmtpd_start() {
	need_real aiosmtpd /usr/lib/python3/dist-packages/aiosmtpd/__main__.py || return 1
	real_dir
	local try
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		real_spawn smtp env PYTHONUNBUFFERED=1 "$REAL_PY" -m aiosmtpd -n -l "127.0.0.1:$PORT" \
			--smtpscert "$RS/server.pem" --smtpskey "$RS/server.key" -c aiosmtpd.handlers.Debugging
		real_ready "$PORT" "220 " && return 0
		in_use "$RS/smtp.err" || break
		real_stop
	done
	real_failed aiosmtpd
	return 1
}

# py_server echo|sink: tests/real/echo.py or sink.py on $PORT (it says the
# port it listens on); one line per connection on $RS/NAME.out
py_server() {
	need_real python3 "$REAL_PY" || return 1
	real_dir
	real_spawn "$1" "$REAL_PY" "$RS/$1.py" "$RS/server.pem" "$RS/server.key"
	wait_until 5000 said_port "$RS/$1.err" && return 0
	real_failed "$1.py"
	return 1
}

# said_port FILE: FILE has a whole line "... listening on ADDR:PORT"; sets
# PORT. 2 when the server ($SRV_PID) is gone.
said_port() {
	port_said "$1" && return 0
	alive "$SRV_PID" || return 2
	return 1
}

# said FILE TEXT: FILE has TEXT; 2 when the server ($SRV_PID) is gone
said() {
	has "$1" "$2" && return 0
	alive "$SRV_PID" || return 2
	return 1
}

# socat_sink: socat OPENSSL-LISTEN (the test certificate) on $PORT, one
# connection, what it receives into $RS/socat.out. Ready when socat says it
# listens (after its bind).
socat_sink() {
	need_real socat /usr/bin/socat || return 1
	real_dir
	local try
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		real_spawn socat socat -d -d -u \
			"OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,cert=$RS/server.pem,key=$RS/server.key,verify=0" STDOUT
		wait_until 5000 said "$RS/socat.err" 'listening on' && return 0
		in_use "$RS/socat.err" || break
		real_stop
	done
	real_failed socat
	return 1
}

# gnutls_echo: gnutls-serv --echo (the test certificate) on $PORT; ready when
# it echoes a line
gnutls_echo() {
	need_real gnutls-serv /usr/bin/gnutls-serv || return 1
	real_dir
	local try
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		real_spawn gnutls gnutls-serv --echo -p "$PORT" \
			--x509certfile "$RS/server.pem" --x509keyfile "$RS/server.key"
		# it binds 0.0.0.0 and ::, and goes on with one of them failed:
		# wait for its word on IPv4 first
		wait_until 5000 gnutls_said_ipv4 "$RS/gnutls.err" || true
		if ! grep -q 'IPv4.*\.\.\.bind() failed' "$RS/gnutls.err"; then
			real_ready "$PORT" ping $'ping\n' && return 0
		fi
		in_use "$RS/gnutls.out" "$RS/gnutls.err" || break
		real_stop
	done
	real_failed gnutls-serv
	return 1
}

# gnutls_said_ipv4 FILE: gnutls-serv has said how its IPv4 bind went
gnutls_said_ipv4() {
	local data=
	[ -e "$1" ] && IFS= read -r -d '' data <"$1"
	[[ $data =~ IPv4.*\.\.\.[a-z] ]] && return 0
	alive "$SRV_PID" || return 2
	return 1
}

# real_logged FILE: until $RS/FILE holds a whole line (a server's report of
# a connection, written once the connection has ended), at most 5 s
real_logged() {
	wait_until 5000 ends_line "$RS/$1" && return 0
	echo "$RS/$1 has no report" >&2
	return 1
}
ends_line() {
	local data=
	[ -e "$1" ] && IFS= read -r -d '' data <"$1"
	[[ $data == *$'\n' ]]
}
