#!/usr/bin/env bats
# Interop, bytes checked: openssl s_client, gnutls-cli and socat as clients of
# tlspipe -l; tlspipe as the client of openssl s_server (which renegotiates or
# updates keys mid-transfer while tlspipe runs with -R) and of gnutls-serv.
load helpers
bats_require_minimum_version 1.5.0

SIZE=$((${TP_FULL:-0} == 1 ? 16777216 : 2097152))  # 16 MiB in make check-full
EVERY=262144  # rekey every 256 KiB

# ---- helpers ----

# the server with the CA's localhost certificate
tp_server_cert() {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key" "$@"
}

# ge NAME VALUE MIN
ge() {
	if ! [ "${2:-x}" -ge "$3" ] 2>/dev/null; then
		echo "$1 is \"$2\", expected >= $3"
		return 1
	fi
}

# server_got_it: tlspipe -l exited 0 and its stdout is exactly $T/in
server_got_it() {
	end_server 5
	if [ "$SRV_RC" -ne 0 ]; then
		echo "tlspipe -l exited $SRV_RC:"
		cat "$T/srv.err"
		return 1
	fi
	assert_equal "$(sha "$T/srv.out")" "$(sha "$T/in")"
}

# hold_client_stdin: a fifo $T/c.in that stays open (no EOF) until teardown
hold_client_stdin() {
	hold c.in C_HOLD
}

# s_client TLS [options]: openssl s_client against tlspipe -l. -quiet alone
# would ignore stdin's EOF; -nocommands keeps lines Q, R, K as payload.
s_client() {
	local v=$1
	shift
	timeout 30 openssl s_client -connect "127.0.0.1:$PORT" "-tls${v/./_}" -quiet -no_ign_eof \
		-nocommands "$@"
}

# ---- clients of tlspipe -l ----

@test "openssl s_client (TLS 1.3) uploads every byte exactly into tlspipe -l, which updates keys every 256 KiB" {
	random_file "$T/in" "$SIZE"
	tp_server_cert --key-update-every="$EVERY" --stats="$T/srv.json"
	run --separate-stderr s_client 1.3 -CAfile "$CA" -verify_return_error -verify_hostname localhost <"$T/in"
	assert_success
	server_got_it
	assert_equal "$(jstat "$T/srv.json" protocol)" TLSv1.3
	ge rekeys "$(jstat "$T/srv.json" rekeys)" 1
}

@test "openssl s_client (TLS 1.2) uploads every byte exactly into tlspipe -l, which renegotiates every 256 KiB" {
	random_file "$T/in" "$SIZE"
	tp_server_cert --renegotiate-every="$EVERY" --stats="$T/srv.json"
	# paced: s_client must still be sending when the HelloRequests come, or
	# it may reach its EOF and close before it answers one
	run --separate-stderr s_client 1.2 -CAfile "$CA" -verify_return_error -verify_hostname localhost \
		< <(slow_cat "$T/in")
	assert_success
	server_got_it
	assert_equal "$(jstat "$T/srv.json" protocol)" TLSv1.2
	ge rekeys "$(jstat "$T/srv.json" rekeys)" 1
	ge peer_rekeys "$(jstat "$T/srv.json" peer_rekeys)" 1
}

@test "openssl s_client (TLS 1.3) downloads every byte exactly from tlspipe -l, which updates keys every 256 KiB" {
	random_file "$T/in" "$SIZE"
	SRV_STDIN="$T/in" tp_server_cert --on-eof=notify --key-update-every="$EVERY" --stats="$T/srv.json"
	hold_client_stdin
	s_client 1.3 -CAfile "$CA" -verify_return_error <"$T/c.in" >"$T/out" 2>"$T/err" {C_HOLD}>&- ||
		{ cat "$T/err"; false; }
	end_server 5
	assert_equal "$SRV_RC" 0
	assert_equal "$(sha "$T/out")" "$(sha "$T/in")"
	ge rekeys "$(jstat "$T/srv.json" rekeys)" 1
}

@test "openssl s_client sees the certificate whose pin the ephemeral tlspipe -l prints" {
	tp_server
	run --separate-stderr timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -nocommands </dev/null
	sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' <<<"$output" >"$T/leaf.pem"
	assert [ -s "$T/leaf.pem" ]
	assert_equal "$(pin_of "$T/leaf.pem")" "$PIN"
}

@test "gnutls-cli --x509cafile uploads every byte exactly into tlspipe -l (TLS 1.3 and 1.2)" {
	command -v gnutls-cli >/dev/null || skip "gnutls-cli is not installed"
	random_file "$T/in" "$SIZE"
	local v
	for v in 1.3 1.2; do
		echo "TLS $v"
		tp_server_cert --max-tls="$v" --stats="$T/srv.json"
		run --separate-stderr timeout 30 gnutls-cli --x509cafile "$CA" --port "$PORT" localhost <"$T/in"
		assert_success
		server_got_it
		assert_equal "$(jstat "$T/srv.json" protocol)" "TLSv$v"
	done
}

@test "gnutls-cli --insecure uploads every byte exactly into an ephemeral tlspipe -l, and reports the same pin" {
	command -v gnutls-cli >/dev/null || skip "gnutls-cli is not installed"
	random_file "$T/in" "$SIZE"
	tp_server
	timeout 30 gnutls-cli --insecure --port "$PORT" localhost <"$T/in" >"$T/out" 2>"$T/err" ||
		{ cat "$T/err"; false; }
	server_got_it
	# gnutls-cli prints the key's pin as pin-sha256="BASE64"
	assert_equal "sha256//$(sed -n 's/.*pin-sha256="\([^"]*\)".*/\1/p' "$T/out" | head -n 1)" "$PIN"
}

@test "socat OPENSSL: uploads every byte exactly into tlspipe -l while it rekeys (TLS 1.3 and 1.2)" {
	command -v socat >/dev/null || skip "socat is not installed"
	random_file "$T/in" "$SIZE"
	local v rk
	for v in 1.3 1.2; do
		echo "TLS $v"
		rk=--key-update-every=$EVERY
		[ "$v" = 1.3 ] || rk=--renegotiate-every=$EVERY
		tp_server_cert --max-tls="$v" "$rk" --stats="$T/srv.json"
		timeout 30 socat - "OPENSSL:localhost:$PORT,cafile=$CA" <"$T/in" >/dev/null 2>"$T/err" ||
			{ cat "$T/err"; false; }
		server_got_it
		assert_equal "$(jstat "$T/srv.json" protocol)" "TLSv$v"
		ge rekeys "$(jstat "$T/srv.json" rekeys)" 1
	done
}

# ---- tlspipe as the client of other servers ----

# s_server [options]: openssl s_server for one connection; its stdin is a fifo
# held open ($SS_HOLD), where a line "R" (renegotiate) or "K" (key update)
# is a command. Without -quiet (which would disable the commands) it writes
# its own words to stdout around the payload.
s_server() {
	hold ss.in SS_HOLD
	SRV_STDIN="$T/ss.in" start_server timeout 60 openssl s_server -accept 127.0.0.1:0 -naccept 1 \
		-cert "$CERTS/server.pem" -key "$CERTS/server.key" "$@"
}

# ss_payload: the payload s_server received, from its stdout: after its
# connection summary, before "DONE", and without the words it wrote between
# two pieces of payload: the one "SSL_do_handshake -> 1" of its command, and
# "Read BLOCK" whenever its SSL_read wanted more (random payload never holds
# these words)
ss_payload() {
	python3 - "$T/srv.out" <<-'EOF'
		import sys
		d = open(sys.argv[1], "rb").read()
		head = b"Secure Renegotiation IS supported\n"
		d = d[d.index(head) + len(head):]
		said = b"SSL_do_handshake -> 1\n"
		if d.count(said) != 1:
		    sys.exit("s_server said %r %d times" % (said, d.count(said)))
		d = d.replace(said, b"", 1)
		d = d.replace(b"Read BLOCK\n", b"")
		sys.stdout.buffer.write(d[:d.rindex(b"DONE\n")])
	EOF
}

# slow_cat FILE: FILE in 64 KiB pieces, 10 ms apart (a transfer of a second
# or so, long enough to rekey in the middle of it)
slow_cat() {
	python3 -c '
import sys, time
src, out = open(sys.argv[1], "rb"), sys.stdout.buffer
while True:
    piece = src.read(65536)
    if not piece:
        break
    out.write(piece)
    out.flush()
    time.sleep(0.01)
' "$1"
}

# rekeyed_by_s_server TLS CMD MODE: tlspipe in MODE uploads $T/in (4 MiB in
# make check-full, 1 MiB in make check) into s_server: half of it, then
# the rest once s_server has had a quarter and been given CMD on its stdin:
# the rest is on its way while s_server rekeys
rekeyed_by_s_server() {
	local v=$1 cmd=$2 mode=$3 rc=0 half
	local -a opts
	read -ra opts <<<"$mode"
	echo "TLS $v, s_server command $cmd, tlspipe $mode"
	s_server "-tls${v/./_}"
	half=$(($(stat -c %s "$T/in") / 2))
	hold go GO	# held: the word "go" never waits for its reader
	{ head -c "$half" "$T/in"; read -r _ <"$T/go"; tail -c +$((half + 1)) "$T/in"; } 3>&- {SS_HOLD}>&- |
		timeout 30 "$TP" --cafile "$CA" "${opts[@]}" --stats="$T/cli.json" \
			localhost "$PORT" >/dev/null 2>"$T/cli.err" 3>&- {SS_HOLD}>&- {GO}>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	wait_size "$T/srv.out" $((half / 2))
	printf '%s\n' "$cmd" >&"$SS_HOLD"
	echo go >&"$GO"
	reap "$TP_PID" 30
	rc=$RC
	release SS_HOLD
	release GO
	end_server 5
	if [ "$rc" -ne 0 ]; then
		echo "tlspipe exited $rc:"
		cat "$T/cli.err"
		return 1
	fi
	assert_equal "$SRV_RC" 0
	assert_equal "$(jstat "$T/cli.json" protocol)" "TLSv$v"
	ge peer_rekeys "$(jstat "$T/cli.json" peer_rekeys)" 1
	ss_payload >"$T/got"
	assert_equal "$(sha "$T/got")" "$(sha "$T/in")"
}

# rekeyed_in_modes TLS CMD MODE...: rekeyed_by_s_server in each MODE (make
# check: two of the four -R modes per version), in all four in check-full
rekeyed_in_modes() {
	local tls=$1 cmd=$2 m
	shift 2
	if full; then set -- "-R" "-b -R" "-P -R" "--io=bio-pair -R"; fi
	random_file "$T/in" $((${TP_FULL:-0} == 1 ? 4194304 : 1048576))
	for m in "$@"; do
		rekeyed_by_s_server "$tls" "$cmd" "$m"
	done
}

@test "openssl s_server renegotiates mid-transfer (TLS 1.2) while tlspipe uploads with -R: exact bytes" {
	rekeyed_in_modes 1.2 R "-R" "-P -R"
}

@test "openssl s_server updates keys mid-transfer (TLS 1.3) while tlspipe uploads with -R: exact bytes" {
	rekeyed_in_modes 1.3 K "-b -R" "--io=bio-pair -R"
}

@test "tlspipe moves 4 MiB of text through gnutls-serv --echo and back exactly (TLS 1.3 and 1.2)" {
	command -v gnutls-serv >/dev/null || skip "gnutls-serv is not installed"
	# gnutls-serv --echo answers line by line: text, not random binary
	random_file "$T/bin" 3145728
	base64 -w 76 "$T/bin" >"$T/in"
	local v
	for v in 1.3 1.2; do
		echo "TLS $v"
		gnutls_serv --echo
		timeout 30 "$TP" --cafile "$CA" --max-tls="$v" --stats="$T/cli.json" localhost "$GPORT" \
			<"$T/in" >"$T/out" 2>"$T/err" || { cat "$T/err"; false; }
		assert_equal "$(sha "$T/out")" "$(sha "$T/in")"
		assert_equal "$(jstat "$T/cli.json" protocol)" "TLSv$v"
		stop_bg "$GNUTLS_PID"
	done
}
