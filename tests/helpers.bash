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
	RS= REAL_PIDS=()	# real servers (below)
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
	real_teardown
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
	sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' "$T/srv.out"
}

now_ms() {
	date +%s%3N
}

# wait_for FILE TEXT MS: until FILE contains TEXT, at most MS
wait_for() {
	local end=$(($(now_ms) + $3))
	while [ "$(now_ms)" -lt "$end" ]; do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "$1 never got \"$2\":"
	cat "$1"
	return 1
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

# ---- real servers: nginx, dovecot, aiosmtpd, Python ssl (tests/real/) ----
# Each runs from a config of its own in $RS, a 0755 folder under /tmp (the
# Bats temp dirs are 0700: nobody could not reach them), on a free loopback
# port, unprivileged: as the current user, or as nobody when the tests run as
# root. Nothing of the system's (/etc/nginx, /etc/dovecot, its services) is
# used. teardown stops them (TERM, then KILL, to the whole process group),
# reaps them and removes $RS. Readiness is a real exchange (tests/real/probe.py)
# or the server's own "listening on" line, never an open port.

REAL="$TOP/tests/real"
REAL_PY=/usr/bin/python3	# Debian's: aiosmtpd is a Debian package
REAL_UP=300	# no server outlives a test by more than this

# real_kill PID...: each real server's process group (its timeout's) gets
# TERM, then after at most 2 s KILL for whatever is left of it; reaped
real_kill() {
	local p i
	for p in "$@"; do
		kill -TERM -- "-$p" 2>/dev/null || true
	done
	for p in "$@"; do
		for i in $(seq 40); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL -- "-$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
		if [ "${SRV_PID:-}" = "$p" ]; then SRV_PID=; fi
	done
}

# real_teardown: every real server stopped and reaped, $RS removed
real_teardown() {
	real_kill ${REAL_PIDS[@]+"${REAL_PIDS[@]}"}
	REAL_PIDS=()
	if [ -n "${RS:-}" ]; then
		rm -rf "$RS"
		RS=
	fi
}

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
	local -a as=()
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$SUID:$SGID" "$RS"
		as=(setpriv --reuid="$SUID" --regid="$SGID" --clear-groups --reset-env --)
	fi
	(cd "$RS" && exec timeout "$REAL_UP" "${as[@]}" env HOME="$RS" TMPDIR="$RS" "$@") \
		</dev/null >"$RS/$name.out" 2>"$RS/$name.err" 3>&- &
	SRV_PID=$!
	REAL_PIDS+=("$SRV_PID")
}

# real_ready PORT EXPECT [SEND]: until a real exchange with the server on
# PORT works (tests/real/probe.py: send SEND, EXPECT arrives), at most 10 s,
# or until the server ($SRV_PID) is gone; 1 then
real_ready() {
	local end=$((SECONDS + 10))
	while [ "$SECONDS" -le "$end" ]; do
		timeout 5 "$REAL_PY" "$REAL/probe.py" "$1" "$CA" "$2" "${3:-}" 2>/dev/null && return 0
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		sleep 0.1
	done
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
	real_kill "$SRV_PID"
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
	local i
	for i in $(seq 100); do
		PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$RS/$1.err" 2>/dev/null)
		[ -n "$PORT" ] && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	real_failed "$1.py"
	return 1
}

# socat_sink: socat OPENSSL-LISTEN (the test certificate) on $PORT, one
# connection, what it receives into $RS/socat.out. Ready when socat says it
# listens (after its bind).
socat_sink() {
	need_real socat /usr/bin/socat || return 1
	real_dir
	local try i
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		real_spawn socat socat -d -d -u \
			"OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,cert=$RS/server.pem,key=$RS/server.key,verify=0" STDOUT
		for i in $(seq 100); do
			grep -q 'listening on' "$RS/socat.err" 2>/dev/null && return 0
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
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
	local try i
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		real_spawn gnutls gnutls-serv --echo -p "$PORT" \
			--x509certfile "$RS/server.pem" --x509keyfile "$RS/server.key"
		# it binds 0.0.0.0 and ::, and goes on with one of them failed:
		# wait for its word on IPv4 first
		for i in $(seq 100); do
			grep -q 'IPv4.*\.\.\.[a-z]' "$RS/gnutls.err" 2>/dev/null && break
			kill -0 "$SRV_PID" 2>/dev/null || break
			sleep 0.05
		done
		if ! grep -q 'IPv4.*\.\.\.bind() failed' "$RS/gnutls.err"; then
			real_ready "$PORT" ping $'ping\n' && return 0
		fi
		in_use "$RS/gnutls.out" "$RS/gnutls.err" || break
		real_stop
	done
	real_failed gnutls-serv
	return 1
}

# real_logged FILE: until $RS/FILE holds a whole line (a server's report of
# a connection, written once the connection has ended), at most 5 s
real_logged() {
	local i
	for i in $(seq 100); do
		[ "$(tail -c 1 "$RS/$1" 2>/dev/null | od -An -c | tr -d ' ')" = '\n' ] && return 0
		sleep 0.05
	done
	echo "$RS/$1 has no report" >&2
	return 1
}
