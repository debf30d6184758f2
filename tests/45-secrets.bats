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
