#!/usr/bin/env bats
# Errors: every bad option, file or combination is exit 2 with one
# "tlspipe: " line before any connection is tried; connection failures,
# timeouts and signals have their own exit codes.
load helpers
bats_require_minimum_version 1.5.0

# ---- options ----

@test "an unknown option is a usage error that names it" {
	closed_port
	refused --no-such-option localhost "$CLOSED"
	stderr_has "--no-such-option"
}

@test "an unknown short option is a usage error" {
	closed_port
	refused -Z localhost "$CLOSED"
}

@test "a missing option argument is a usage error" {
	closed_port
	refused localhost "$CLOSED" --cafile
}

@test "-s 0 is a usage error" {
	closed_port
	refused -s 0 localhost "$CLOSED"
}

@test "-s 1048577 is a usage error" {
	closed_port
	refused -s 1048577 localhost "$CLOSED"
}

@test "-s abc is a usage error" {
	closed_port
	refused -s abc localhost "$CLOSED"
}

@test "--io=foo is a usage error" {
	closed_port
	refused --io=foo localhost "$CLOSED"
}

@test "--on-eof=foo is a usage error" {
	closed_port
	refused --on-eof=foo localhost "$CLOSED"
}

@test "--min-tls 1.4 is a usage error" {
	closed_port
	refused --min-tls 1.4 localhost "$CLOSED"
}

@test "--max-tls abc is a usage error" {
	closed_port
	refused --max-tls abc localhost "$CLOSED"
}

@test "--min-tls 1.3 with --max-tls 1.2 is a usage error" {
	closed_port
	refused --min-tls 1.3 --max-tls 1.2 localhost "$CLOSED"
}

@test "port 70000 is a usage error" {
	refused localhost 70000
}

@test "port 0 for a client is a usage error" {
	refused localhost 0
}

@test "an unknown service name as port is a usage error" {
	refused localhost nosuchservice
}

@test "no arguments at all is a usage error" {
	refused
}

@test "a host without a port is a usage error" {
	refused localhost
}

@test "too many arguments is a usage error" {
	closed_port
	refused localhost "$CLOSED" extra
}

@test "-b with --io=bio-pair is refused, saying why" {
	closed_port
	refused -b --io=bio-pair localhost "$CLOSED"
}

@test "--auto-retry with -R is a usage error" {
	closed_port
	refused --auto-retry -R localhost "$CLOSED"
}

@test "--send-only with --recv-only is a usage error" {
	closed_port
	refused --send-only --recv-only localhost "$CLOSED"
}

@test "-k with -l is a usage error" {
	refused -k -l --cert "$CERTS/server.pem" --key "$CERTS/server.key" 127.0.0.1 0
}

@test "--key without --cert is a usage error" {
	closed_port
	refused --key "$CERTS/client.key" localhost "$CLOSED"
}

@test "-w abc is a usage error" {
	closed_port
	refused -w abc localhost "$CLOSED"
}

@test "-w -1 is a usage error" {
	closed_port
	refused -w -1 localhost "$CLOSED"
}

@test "--idle-timeout -1 is a usage error" {
	closed_port
	refused --idle-timeout -1 localhost "$CLOSED"
}

@test "--key-pass in no known form is a usage error" {
	closed_port
	refused --cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass foo localhost "$CLOSED"
}

# ---- local files ----

@test "a nonexistent --cafile is exit 2 naming the file" {
	closed_port
	refused --cafile "$T/nonexistent.pem" localhost "$CLOSED"
	stderr_has "$T/nonexistent.pem"
}

@test "an unreadable --cafile is exit 2 naming the file" {
	[ "$(id -u)" -ne 0 ] || skip "root reads a chmod 000 file"
	cp "$CA" "$T/ca.pem"
	chmod 000 "$T/ca.pem"
	closed_port
	refused --cafile "$T/ca.pem" localhost "$CLOSED"
	stderr_has "$T/ca.pem"
}

@test "a directory as --cafile is exit 2 naming it" {
	mkdir "$T/cadir"
	closed_port
	refused --cafile "$T/cadir" localhost "$CLOSED"
	stderr_has "$T/cadir"
}

@test "a --cafile that is not PEM is exit 2 naming the file" {
	echo "this is no certificate" >"$T/garbage.pem"
	closed_port
	refused --cafile "$T/garbage.pem" localhost "$CLOSED"
	stderr_has "$T/garbage.pem"
}

@test "an empty --cafile is exit 2 naming the file" {
	: >"$T/empty.pem"
	closed_port
	refused --cafile "$T/empty.pem" localhost "$CLOSED"
	stderr_has "$T/empty.pem"
}

@test "a --cert that is not PEM is exit 2 naming the file" {
	echo "this is no certificate" >"$T/garbage.pem"
	closed_port
	refused --cafile "$CA" --cert "$T/garbage.pem" --key "$CERTS/client.key" localhost "$CLOSED"
	stderr_has "$T/garbage.pem"
}

@test "an empty --cert is exit 2 naming the file" {
	: >"$T/empty.pem"
	closed_port
	refused --cafile "$CA" --cert "$T/empty.pem" --key "$CERTS/client.key" localhost "$CLOSED"
	stderr_has "$T/empty.pem"
}

@test "a --key that is not a key is exit 2 naming the file" {
	echo "this is no key" >"$T/garbage.key"
	closed_port
	refused --cafile "$CA" --cert "$CERTS/client.pem" --key "$T/garbage.key" localhost "$CLOSED"
	stderr_has "$T/garbage.key"
}

@test "a --key that does not match --cert is exit 2 naming the file" {
	closed_port
	refused --cafile "$CA" --cert "$CERTS/server.pem" --key "$CERTS/wrongname.key" localhost "$CLOSED"
	stderr_has "wrongname.key"
}

@test "an expired --cert is exit 2 and says expired" {
	closed_port
	refused --cafile "$CA" --cert "$CERTS/expired.pem" --key "$CERTS/expired.key" localhost "$CLOSED"
	stderr_has "expired"
}

@test "an expired --cert with --allow-expired gets as far as connecting" {
	closed_port
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" --cert "$CERTS/expired.pem" \
		--key "$CERTS/expired.key" --allow-expired localhost "$CLOSED"
	assert_equal "$status" 3
}

@test "an encrypted key without --key-pass is exit 2, without prompting on stdin" {
	closed_port
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" --cert "$CERTS/server.pem" \
		--key "$CERTS/enc.key" localhost "$CLOSED" <<<"sekrit"
	assert_equal "$status" 2
	stderr_has "enc.key"
}

@test "an encrypted key with --key-pass env:VAR gets as far as connecting" {
	closed_port
	TP_TEST_PASS=sekrit run --separate-stderr timeout 10 "$TP" --cafile "$CA" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass env:TP_TEST_PASS localhost "$CLOSED"
	assert_equal "$status" 3
}

@test "an encrypted key with --key-pass file:PATH gets as far as connecting" {
	printf 'sekrit\n' >"$T/pass"
	closed_port
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass "file:$T/pass" localhost "$CLOSED"
	assert_equal "$status" 3
}

@test "an encrypted key with the wrong passphrase is exit 2" {
	closed_port
	TP_TEST_PASS=wrong refused --cafile "$CA" --cert "$CERTS/server.pem" --key "$CERTS/enc.key" \
		--key-pass env:TP_TEST_PASS localhost "$CLOSED"
}

@test "--key-pass env: naming an unset variable is exit 2" {
	closed_port
	unset TP_TEST_UNSET
	refused --cafile "$CA" --cert "$CERTS/server.pem" --key "$CERTS/enc.key" \
		--key-pass env:TP_TEST_UNSET localhost "$CLOSED"
}

@test "a server with an encrypted key and --key-pass serves a verified connection" {
	export TP_TEST_PASS=sekrit
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass env:TP_TEST_PASS
	run timeout 10 "$TP" --cafile "$CA" localhost "$PORT" <<<"through an encrypted key"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" "through an encrypted key"
}

# ---- connecting ----

@test "a closed port is exit 3 and says it cannot connect" {
	closed_port
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	stderr_has "cannot connect"
}

@test "an unresolvable host is exit 3 and says it cannot resolve" {
	run --separate-stderr timeout 20 "$TP" --cafile "$CA" no.such.host.invalid 443 </dev/null
	assert_equal "$status" 3
	stderr_has "cannot resolve"
}

@test "a server that does not speak TLS is exit 4 and says so" {
	start_server timeout 20 "$PEER" --mode plain
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	stderr_has "does not speak TLS"
}

@test "a server that never answers the handshake is exit 6 after -w 1" {
	start_server timeout 20 "$PEER" --mode silent --hold-ms 9000
	now_us
	local t0=$NOW_US
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" -w 1 localhost "$PORT" <<<"payload"
	assert_equal "$status" 6
	ms_since "$t0"
	# not before its time; the upper limit is loose (a loaded machine), and
	# well below the peer's 9 s hold, whose end would be another exit
	assert [ "$MS" -ge 950 ]
	assert [ "$MS" -lt 6000 ]
}

@test "--idle-timeout 1 ends an idle connection with exit 6" {
	peer --mode stall --hold-ms 9000
	hold_stdin
	now_us
	local t0=$NOW_US
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" --idle-timeout 1 localhost "$PORT" \
		<"$T/stdin" {HOLD}>&-
	assert_equal "$status" 6
	ms_since "$t0"
	assert [ "$MS" -ge 950 ]	# the handshake came first: the idle second is after t0
	assert [ "$MS" -lt 6000 ]
}

# ---- signals ----

# signalled SIG CODE: tlspipe connected to an echo peer with stdin still open
# gets SIG, exits CODE, and the peer has received close_notify
signalled() {
	peer --mode echo
	hold_stdin
	# a background job would start with SIGINT ignored: give it the default
	env --default-signal="$1" "$TP" --cafile "$CA" localhost "$PORT" \
		<"$T/stdin" >"$T/out" 2>"$T/err" 3>&- {HOLD}>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	printf 'hello\n' >&"$HOLD"
	wait_for "$T/out" hello 2000
	kill -s "$1" "$TP_PID"
	reap "$TP_PID" 3
	assert_equal "$RC" "$2"
	wait_server
	grep -q 'bytes=6 close_notify=1' "$T/srv.out"
}

@test "SIGTERM exits 143 after sending close_notify" {
	signalled TERM 143
}

@test "SIGINT exits 130 after sending close_notify" {
	signalled INT 130
}

@test "SIGHUP exits 129 after sending close_notify" {
	signalled HUP 129
}

@test "SIGTERM during a handshake that never comes exits 143 at once" {
	start_server timeout 20 "$PEER" --mode silent --hold-ms 5000
	"$TP" --cafile "$CA" --trace localhost "$PORT" </dev/null >"$T/out" 2>"$T/err" 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	# the signal comes once tlspipe waits for the server's answer
	wait_for "$T/err" "sent ClientHello" 5000
	kill -TERM "$TP_PID"
	reap "$TP_PID" 5
	assert_equal "$RC" 143
}

# ---- building ----

# build_copy: the sources and the Makefile in $T/tree, nothing built, so that
# a make there compiles (the real tree stays as the other tests use it)
build_copy() {
	mkdir "$T/tree"
	cp -r "$TOP/Makefile" "$TOP/src" "$T/tree/"
	rm -f "$T/tree"/src/*.o "$T/tree"/src/.build-*
}

# tree_make ARGS...: make in the copy, as a user types it (not as a sub-make of `make check`)
tree_make() {
	run env -u MAKEFLAGS -u MAKELEVEL timeout 120 make -C "$T/tree" --no-print-directory "$@"
}

@test "a build before make deps stops with one line that says to run sudo make deps" {
	build_copy
	printf '#!/bin/sh\nexit 1\n' >"$T/no-pkg-config"
	chmod +x "$T/no-pkg-config"
	tree_make PKG_CONFIG="$T/no-pkg-config"
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --regexp 'cannot build: .* finds no libssl libcrypto libbsd-overlay: run `sudo make deps` first'
	assert [ ! -e "$T/tree/tlspipe" ]
	# pkg-config itself missing, and one library missing: the same line, naming what is missing
	tree_make PKG_CONFIG="$T/nonexistent" tlspipe
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --partial 'run `sudo make deps` first'
	printf '#!/bin/sh\n[ "$2" = libbsd-overlay ] && exit 1\nexec pkg-config "$@"\n' >"$T/no-bsd"
	chmod +x "$T/no-bsd"
	tree_make PKG_CONFIG="$T/no-bsd" tlspipe
	assert_failure
	assert_equal "${#lines[@]}" 1
	assert_output --regexp 'finds no libbsd-overlay: run'
}

@test "the libraries are checked as a build runs, not as make reads the Makefile (sudo make deps demo)" {
	build_copy
	printf '#!/bin/sh\nexit 1\n' >"$T/no-pkg-config"
	chmod +x "$T/no-pkg-config"
	# deps (here with nothing to install) and clean run without them
	tree_make PKG_CONFIG="$T/no-pkg-config" DEB_PKGS= deps clean
	assert_success
	refute_output --partial 'make deps'
	# with them, the same Makefile compiles
	tree_make src/clock.o
	assert_success
	assert [ -e "$T/tree/src/clock.o" ]
}
