#!/usr/bin/env bats
# tlspipe with its default flags (only --cafile, and --crlf for the line
# protocols) against real servers, each run from a config of its own on a
# free loopback port (helpers.bash: nginx, dovecot, aiosmtpd, Python ssl),
# and against openssl s_server, gnutls-serv, socat and tlspipe -l: the whole
# reply on stdout and exit 0; an upload arrives whole. A server that is not
# installed is skipped (sudo make deps-servers), or fails under CI=true.
# `make check-real` runs these cases in every write mode, many times.
load helpers
bats_require_minimum_version 1.5.0

# client ARGS...: tlspipe (default flags, --cafile) to localhost ARGS, stdin
# from $T/in, stdout into $T/out; its status and stderr in $status, $stderr
client() {
	run --separate-stderr to_file "$T/out" tp "$@" <"$T/in"
}

# exit_0: the client exited 0; else its status, stderr and stdout
exit_0() {
	if [ "$status" -ne 0 ]; then
		echo "tlspipe exited $status; stderr:"
		echo "$stderr"
		echo "stdout ($(stat -c %s "$T/out") bytes), its start:"
		head -c 2048 "$T/out" | cat -A | head -n 40
		return 1
	fi
}

# replies: the HTTP responses in $T/out, one "STATUS BYTES SHA256" line each
replies() {
	"$REAL_PY" "$REAL/http-replies.py" "$T/out"
}

# has_line REGEX: stdout ($T/out, CRs removed) has a line that matches
has_line() {
	if ! tr -d '\r' <"$T/out" | grep -qE -- "$1"; then
		echo "no line matches /$1/ in the reply:"
		head -c 2048 "$T/out" | cat -A | head -n 40
		return 1
	fi
}

get() {	# get PATH [Connection]: one HTTP/1.1 GET
	printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: %s\r\n\r\n' "$1" "${2:-close}"
}

# ---- nginx ----

@test "nginx: a Connection: close GET prints the whole body and exits 0" {
	nginx_start
	get /small.txt >"$T/in"
	client localhost "$PORT"
	exit_0
	run replies
	assert_success
	assert_output "200 $(stat -c %s "$RS/nginx/www/small.txt") $(sha "$RS/nginx/www/small.txt")"
}

@test "nginx: two pipelined keep-alive GETs both come back whole" {
	nginx_start
	{ get /small.txt keep-alive; get /small.txt keep-alive; } >"$T/in"
	client localhost "$PORT"
	exit_0
	local want
	want="200 $(stat -c %s "$RS/nginx/www/small.txt") $(sha "$RS/nginx/www/small.txt")"
	run replies
	assert_success
	assert_output "$want"$'\n'"$want"
}

@test "nginx reads a 4 MiB POST whole, and its short reply is printed" {
	nginx_start
	random_file "$T/body" 4194304
	{
		printf 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n'
		printf 'Content-Length: 4194304\r\nConnection: close\r\n\r\n'
		cat "$T/body"
	} >"$T/in"
	client localhost "$PORT"
	exit_0
	run replies
	assert_success
	assert_output "200 3 $(printf 'ok\n' | sha256sum | cut -d' ' -f1)"
	# nginx logs the request's length as it read it: the body and more
	run grep '^POST /upload ' "$RS/nginx/access.log"
	assert_success
	assert [ "${output##* }" -gt 4194304 ]
}

# ---- dovecot ----

@test "dovecot IMAP: LOGIN, LIST and LOGOUT all get their tagged replies" {
	dovecot_start
	printf 'a1 LOGIN bob secret\na2 LIST "" "*"\na3 LOGOUT\n' >"$T/in"
	client --crlf localhost "$IMAPS_PORT"
	exit_0
	has_line '^\* OK .*ready'
	has_line '^a1 OK '
	has_line '^a2 OK '
	has_line '^\* BYE '
	has_line '^a3 OK '
}

@test "dovecot IMAP: LOGIN and LIST without LOGOUT still get both tagged replies" {
	dovecot_start
	printf 'a1 LOGIN bob secret\na2 LIST "" "*"\n' >"$T/in"
	client --crlf localhost "$IMAPS_PORT"
	exit_0
	has_line '^a1 OK '
	has_line '^a2 OK '
}

@test "dovecot POP3: USER, PASS, LIST and QUIT all get their replies" {
	dovecot_start
	printf 'USER bob\nPASS secret\nLIST\nQUIT\n' >"$T/in"
	client --crlf localhost "$POP3S_PORT"
	exit_0
	# the greeting, USER, PASS, LIST (then its "."), QUIT
	assert_equal "$(tr -d '\r' <"$T/out" | grep -c '^+OK')" 5
	has_line '^\.$'
	has_line '^\+OK Logging out'
}

@test "dovecot IMAP: a failed LOGIN keeps its NO, which dovecot sends 2 s late (--eof-grace=3)" {
	dovecot_start
	printf 'a1 LOGIN bob wrong\n' >"$T/in"
	client --crlf --eof-grace=3 localhost "$IMAPS_PORT"
	exit_0
	has_line '^a1 NO '
}

# ---- aiosmtpd ----

@test "aiosmtpd over implicit TLS: every reply of a whole SMTP dialogue is kept" {
	aiosmtpd_start
	printf '%s\n' 'EHLO localhost' 'MAIL FROM:<alice@example.org>' 'RCPT TO:<bob@example.org>' DATA \
		'Subject: tlspipe' '' 'hello from tlspipe' . QUIT >"$T/in"
	client --crlf localhost "$PORT"
	exit_0
	# the last line of each reply: greeting, EHLO, MAIL, RCPT, DATA, end of data, QUIT
	assert_equal "$(tr -d '\r' <"$T/out" | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | paste -sd' ')" \
		"220 250 250 250 354 250 221"
	grep -q '^hello from tlspipe' "$RS/smtp.out"
}

# ---- openssl s_server, gnutls-serv, a Python ssl echo ----

@test "openssl s_server -www: its HTTP reply is printed whole" {
	start_server timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 -www \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key"
	printf 'GET / HTTP/1.0\r\n\r\n' >"$T/in"
	client localhost "$PORT"
	exit_0
	assert_equal "$(head -n 1 "$T/out")" $'HTTP/1.0 200 ok\r'
	has_line '^</pre></BODY></HTML>$'
}

@test "openssl s_server -rev: every line comes back reversed" {
	start_server timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 -rev \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key"
	printf 'hello\ntlspipe\n' >"$T/in"
	client localhost "$PORT"
	exit_0
	assert_equal "$(cat "$T/out")" $'olleh\nepipslt'
}

@test "gnutls-serv --echo sends back every line" {
	gnutls_echo
	seq 1000 >"$T/in"
	client localhost "$PORT"
	exit_0
	cmp "$T/in" "$T/out"
}

@test "a Python ssl echo server sends back every byte" {
	py_server echo
	random_file "$T/in" 262144
	client localhost "$PORT"
	exit_0
	cmp "$T/in" "$T/out"
	real_logged echo.out
	run cat "$RS/echo.out"
	assert_output "bytes=262144 close_notify=1"
}

# ---- uploads into sinks that answer (if at all) only after our close_notify ----

@test "tlspipe -l receives an upload whole" {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	random_file "$T/in" 1048576
	client localhost "$PORT"
	exit_0
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/in" "$T/srv.out"
}

# ss_payload: what s_server (without -quiet, which would also hide the
# "ACCEPT" line that says its port) received: on its stdout after its
# connection summary, before its "DONE" at the peer's close_notify, without
# the "Read BLOCK" it says when its SSL_read wants more
ss_payload() {
	"$REAL_PY" - "$T/srv.out" <<-'EOF'
		import sys
		d = open(sys.argv[1], "rb").read()
		head = b"Secure Renegotiation IS supported\n"
		d = d[d.index(head) + len(head):]
		d = d[:d.rindex(b"DONE\nshutting down SSL\n")]
		sys.stdout.buffer.write(d.replace(b"Read BLOCK\n", b""))
	EOF
}

@test "openssl s_server -naccept 1 receives an upload whole" {
	hold ss.in SS_HOLD
	SRV_STDIN="$T/ss.in" start_server timeout 30 openssl s_server -accept 127.0.0.1:0 -naccept 1 \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key"
	random_file "$T/in" 1048576
	client localhost "$PORT"
	exit_0
	end_server 5
	assert_equal "$SRV_RC" 0
	ss_payload >"$T/got"
	cmp "$T/in" "$T/got"
}

@test "socat OPENSSL-LISTEN receives an upload whole onto its stdout" {
	socat_sink
	random_file "$T/in" 1048576
	client localhost "$PORT"
	exit_0
	end_server 5
	assert_equal "$SRV_RC" 0
	cmp "$T/in" "$RS/socat.out"
}

@test "a Python sink that answers only after our close_notify: its reply is printed, it got every byte" {
	py_server sink
	random_file "$T/in" 1048576
	client localhost "$PORT"
	exit_0
	assert_equal "$(cat "$T/out")" "got 1048576 bytes"
	real_logged sink.out
	run cat "$RS/sink.out"
	assert_output "sha256=$(sha "$T/in") bytes=1048576 close_notify=1"
}
