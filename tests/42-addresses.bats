#!/usr/bin/env bats
# Addresses as people paste them: HOST PORT, HOST:PORT, [V6]:PORT, [V6] PORT,
# and for -l [ADDRESS:]PORT; what stays ambiguous is a usage error that says
# how to write it.
load helpers
bats_require_minimum_version 1.5.0

have_ipv6() {
	python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
		skip "no IPv6 loopback here"
}

# sent_via ADDRESS...: "hello" through tlspipe ADDRESS... into a sink
sent_via() {
	run tp "$@" <<<"hello"
	assert_success
	end_server 5
	assert_equal "$SRV_RC" 0
	grep -q "sha256=$(printf 'hello\n' | sha256sum | cut -d' ' -f1)" "$T/srv.out"
}

@test "HOST:PORT connects like HOST PORT" {
	sink
	sent_via "localhost:$PORT"
}

@test "IPV4:PORT connects, and the certificate is checked against the address" {
	sink
	sent_via "127.0.0.1:$PORT"
}

@test "[::1]:PORT and [::1] PORT connect over IPv6" {
	have_ipv6
	sink --addr ::1
	sent_via "[::1]:$PORT"
	sink --addr ::1
	sent_via "[::1]" "$PORT"
}

@test "a bare IPv6 address with a separate port still works" {
	have_ipv6
	sink --addr ::1
	sent_via ::1 "$PORT"
}

@test "-l ADDRESS:PORT and -l [::1]:PORT listen where they say" {
	start_server timeout 20 "$TP" -l --on-eof=notify 127.0.0.1:0
	assert_regex "$(head -n 1 "$T/srv.err")" '^tlspipe: listening on 127\.0\.0\.1:[0-9]+ pin sha256//'
	end_server 0
	have_ipv6
	start_server timeout 20 "$TP" -l --on-eof=notify '[::1]:0'
	assert_regex "$(head -n 1 "$T/srv.err")" '^tlspipe: listening on \[::1\]:[0-9]+ pin sha256//'
}

@test "an IPv6 address with a port glued on is refused with how to write it" {
	refused ::1:443
	assert_equal "$stderr" "tlspipe: ::1:443: an IPv6 address with a port glued on cannot be told apart; write [ADDRESS]:PORT or ADDRESS PORT (see tlspipe --help)"
}

@test "a host without a port, a port given twice, and broken brackets are usage errors" {
	refused localhost
	stderr_has "localhost: missing port (HOST PORT or HOST:PORT)"
	refused '[::1]'
	stderr_has "::1: missing port"
	refused localhost:443 443
	stderr_has "localhost:443: a port twice"
	refused '[::1'
	stderr_has "[::1: expected [IPv6 address] or [IPv6 address]:port"
	refused 'localhost:'
	stderr_has "localhost:: empty port"
	refused -l ':0'
	stderr_has "empty address"
}
