#!/usr/bin/env bats
# Secrets: a key's passphrase is never printed, in any message; --key-pass
# takes OpenSSL's -passin forms and says in words which one failed; each way a
# key or certificate can be wrong has its own message, naming the option the
# user passed; an SSLKEYLOGFILE that cannot be opened is a warning, not a stop.
load helpers
bats_require_minimum_version 1.5.0

# ---- SSLKEYLOGFILE and --keylog ----

@test "an SSLKEYLOGFILE that cannot be opened is a warning naming the variable, and the run goes on" {
	start_server timeout 30 "$PEER" --cert "$CERTS/server.pem" --key "$CERTS/server.key" --mode echo
	run --separate-stderr env SSLKEYLOGFILE="$T/nodir/keys" timeout 20 "$TP" --cafile "$CA" \
		localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	stderr_has "SSLKEYLOGFILE $T/nodir/keys"
	refute grep -qF -- "--keylog" <<<"$stderr"
	refute grep -q "writing TLS secrets" <<<"$stderr"
	assert [ ! -e "$T/nodir" ]
}

@test "a --keylog that cannot be opened stays a usage error, also when SSLKEYLOGFILE would do" {
	closed_port
	SSLKEYLOGFILE="$T/env.keys" refused --cafile "$CA" --keylog="$T/nodir/keys" localhost "$CLOSED"
	stderr_has "--keylog $T/nodir/keys"
	assert [ ! -e "$T/env.keys" ]
}

# ---- --key-pass: the forms, and which one failed ----

# key_refused MESSAGE ARGS...: exit 2 before connecting, with exactly this one line
key_refused() {
	local want=$1
	shift
	closed_port
	refused --cafile "$CA" "$@" localhost "$CLOSED"
	assert_equal "$stderr" "tlspipe: $want"
}

# no_secret: nothing on stderr (or in $T/s.json) holds any part of "s3cret"
no_secret() {
	local part
	for part in s3cret s3cr 3cre cret; do
		if grep -qF -- "$part" <<<"$stderr" || grep -qsF -- "$part" "$T/s.json"; then
			echo "\"$part\" was printed:"
			echo "$stderr"
			cat "$T/s.json" 2>/dev/null
			return 1
		fi
	done
}

@test "--key-pass without a form is refused, naming the forms and without repeating the value" {
	closed_port
	refused --cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass s3cret localhost "$CLOSED"
	no_secret
	stderr_has "expected pass:PASSPHRASE, env:VAR, file:PATH or fd:N"
	# nor with --stats, whose exit_reason is the message
	run --separate-stderr timeout 10 "$TP" --stats="$T/s.json" --cert "$CERTS/server.pem" \
		--key "$CERTS/enc.key" --key-pass=s3cret localhost "$CLOSED"
	assert_equal "$status" 2
	jq -e '.exit_code == 2' "$T/s.json"
	no_secret
	# an option name mistyped before "=s3cret" is named without its value
	refused --keypass=s3cret localhost "$CLOSED"
	stderr_has "unknown option --keypass "
	no_secret
}

@test "--key-pass pass:, env:, file: and fd: each unlock an encrypted key" {
	closed_port
	printf 'sekrit\n' >"$T/pass"
	local src
	for src in pass:sekrit env:TP_TEST_PASS "file:$T/pass" fd:3; do
		TP_TEST_PASS=sekrit run --separate-stderr timeout 10 "$TP" --cafile "$CA" --cert "$CERTS/server.pem" \
			--key "$CERTS/enc.key" --key-pass "$src" localhost "$CLOSED" 3<"$T/pass"
		assert_equal "$status" 3
		stderr_has "cannot connect"
	done
	# fd: reads its first line from a pipe too, and so does the legacy PEM form
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" --cert "$CERTS/server.pem" \
		--key "$CERTS/enc-legacy.key" --key-pass fd:3 localhost "$CLOSED" 3< <(printf 'sekrit\r\nmore\n')
	assert_equal "$status" 3
}

@test "--key-pass fd:0, fd:1 and fd:2 are refused: they carry the payload and the messages" {
	local n
	for n in 0 1 2; do
		key_refused "--key-pass fd:$n: descriptors 0, 1 and 2 carry the payload and the messages; pass the passphrase on fd:3 or above (see tlspipe --help)" \
			--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass "fd:$n"
	done
	key_refused "--key-pass fd: needs a descriptor number, 3 or above (fd:N) (see tlspipe --help)" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass fd:s3cret
	no_secret
}

@test "--key-pass says in words which source failed: variable unset or empty, file unreadable, fd closed" {
	unset TP_TEST_UNSET
	key_refused "--key-pass env:TP_TEST_UNSET: the variable is not set" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass env:TP_TEST_UNSET
	TP_TEST_EMPTY= key_refused "--key-pass env:TP_TEST_EMPTY: the variable is empty" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass env:TP_TEST_EMPTY
	key_refused "--key-pass file:$T/nopass: cannot read it: No such file or directory" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass "file:$T/nopass"
	printf '\nsekrit\n' >"$T/pass"
	key_refused "--key-pass file:$T/pass: the first line is empty" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass "file:$T/pass"
	key_refused "--key-pass fd:9: cannot read it: Bad file descriptor" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key" --key-pass fd:9
}

@test "a wrong passphrase is named as such, in either key format, and never printed" {
	local key
	for key in enc.key enc-legacy.key; do
		key_refused "--key $CERTS/$key: wrong passphrase (from --key-pass pass:...)" \
			--cert "$CERTS/server.pem" --key "$CERTS/$key" --key-pass pass:s3cret
		no_secret
		TP_TEST_PASS=s3cret key_refused "--key $CERTS/$key: wrong passphrase (from --key-pass env:TP_TEST_PASS)" \
			--cert "$CERTS/server.pem" --key "$CERTS/$key" --key-pass env:TP_TEST_PASS
	done
	# --stats, --trace and -v add nothing that holds it
	closed_port
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" -v --trace --stats=- --cert "$CERTS/server.pem" \
		--key "$CERTS/enc.key" --key-pass pass:s3cret localhost "$CLOSED"
	assert_equal "$status" 2
	stderr_has '"exit_reason":"--key'
	no_secret
}

@test "a server whose key's passphrase came with pass: says no part of it in -v, --trace or --stats" {
	openssl pkey -in "$CERTS/server.key" -aes256 -passout pass:s3cret -out "$T/s3.key" 2>/dev/null
	start_server timeout 20 "$TP" -l -v --trace --stats=- --cert "$CERTS/server.pem" --key "$T/s3.key" \
		--key-pass pass:s3cret 127.0.0.1 0
	run timeout 10 "$TP" --cafile "$CA" localhost "$PORT" <<<"through a secret"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" "through a secret"
	stderr=$(cat "$T/srv.err")
	stderr_has '"exit_reason":"ok"'
	stderr_has 'SSL_read'
	no_secret
}

# ---- each way a key or certificate is wrong, in its own words ----

@test "a --cert with no key in it, and no --key, says the file holds no private key, naming --cert" {
	key_refused "--cert $CERTS/server.pem: no private key in the file" --cert "$CERTS/server.pem"
}

@test "a --key that holds no private key says so, and one that is not PEM says that" {
	key_refused "--key $CERTS/ca.pem: no private key in the file" --cert "$CERTS/server.pem" --key "$CERTS/ca.pem"
	echo "this is no key" >"$T/garbage.key"
	key_refused "--key $T/garbage.key: not PEM (no -----BEGIN line)" --cert "$CERTS/server.pem" --key "$T/garbage.key"
	: >"$T/empty.key"
	key_refused "--key $T/empty.key: not PEM (no -----BEGIN line)" --cert "$CERTS/server.pem" --key "$T/empty.key"
}

@test "a --key that does not match the certificate says so, naming both options" {
	key_refused "--key $CERTS/wrongname.key: the key does not match the certificate in --cert $CERTS/server.pem" \
		--cert "$CERTS/server.pem" --key "$CERTS/wrongname.key"
	# the key inside --cert itself
	cat "$CERTS/server.pem" "$CERTS/wrongname.key" >"$T/both.pem"
	key_refused "--cert $T/both.pem: the private key in it does not match its certificate" --cert "$T/both.pem"
}

@test "an encrypted key without --key-pass says the key is encrypted and to give --key-pass" {
	key_refused "--key $CERTS/enc.key: the key is encrypted: give its passphrase with --key-pass" \
		--cert "$CERTS/server.pem" --key "$CERTS/enc.key"
	cat "$CERTS/server.pem" "$CERTS/enc-legacy.key" >"$T/both.pem"
	key_refused "--cert $T/both.pem: the key is encrypted: give its passphrase with --key-pass" --cert "$T/both.pem"
}

@test "a --key that cannot be read, or is a directory, says so" {
	key_refused "--key $T/nokey: cannot read it: No such file or directory" --cert "$CERTS/server.pem" --key "$T/nokey"
	mkdir "$T/keydir"
	key_refused "--key $T/keydir: a directory, not a file" --cert "$CERTS/server.pem" --key "$T/keydir"
}
