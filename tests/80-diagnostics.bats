#!/usr/bin/env bats
# Diagnostics: every run explains itself on stderr (or a file of its own),
# never in the payload on stdout. --stats JSON with exact counts on every exit
# path, --trace (WANT_WRITE and its identical retry, handshake, close_notify,
# key updates), -v, --progress under a pseudo-terminal, --keylog.
load helpers
bats_require_minimum_version 1.5.0

# slow_server SECS|want_write [tlspipe options]: a tlspipe -l server whose
# stdout is a pipe nobody reads for SECS seconds, or until the client's
# trace ($T/err) shows a write that met WANT_WRITE (at most 10 s); then read
# to the end and hashed into $T/srv.sha. While its stdout is full it stops
# reading the socket: the client meets WANT_WRITE, and the retry completes
# once the reader starts.
slow_server() {
	start_server slow_pipe "$@"
}
slow_pipe() {
	local secs=$1
	shift
	timeout 30 "$TP" -l --cert "$CERTS/server.pem" --key "$CERTS/server.key" "$@" 127.0.0.1 0 |
		{ stall "$secs"; sha256sum | cut -d' ' -f1 >"$T/srv.sha"; }
}

stall() {
	if [ "$1" = want_write ]; then
		follow "$T/err" 10000 '/= -1 WANT_WRITE$/' || true
	else
		nap "$1"
	fi
}

wait_slow() {
	wait_server
}

# the keys the man page promises in every --stats object
KEYS='["bytes_in","bytes_out","ssl_write_calls","partial_writes","want_read","want_write",
	"handshake_ms","protocol","cipher","peer_close_notify","exit_code","exit_reason"]'

# stats_ok FILE: FILE is one line holding one JSON object with every key, typed
stats_ok() {
	if [ "$(wc -l <"$1")" -ne 1 ]; then
		echo "--stats output is not exactly one line:"
		cat "$1"
		return 1
	fi
	local missing
	missing=$(jq -r --argjson k "$KEYS" '$k - keys | .[]' "$1") || { cat "$1"; return 1; }
	if [ -n "$missing" ]; then
		echo "--stats lacks: $missing"
		cat "$1"
		return 1
	fi
	jq -e '(.bytes_in, .bytes_out, .ssl_write_calls, .partial_writes, .want_read, .want_write,
		.handshake_ms, .exit_code | type == "number") and
		(.protocol, .cipher, .exit_reason | type == "string") and
		(.peer_close_notify | type == "boolean")' "$1" >/dev/null || { echo "wrong types:"; cat "$1"; return 1; }
}

# js FILE FILTER: one value from the JSON in FILE
js() {
	jq -r "$2" "$1"
}

# failed_stats FILE CODE: every key, exit_code CODE and a reason in words
failed_stats() {
	stats_ok "$1"
	assert_equal "$(js "$1" .exit_code)" "$2"
	local reason
	reason=$(js "$1" .exit_reason)
	assert [ -n "$reason" ]
	assert [ "$reason" != "ok" ]
}

# ---- --stats ----

@test "--stats on success: every key, exit 0 \"ok\", TLSv1.3, the cipher, exact byte counts" {
	random_file "$T/in" 300000
	peer --mode echo
	run to_file "$T/out" tpq --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	cmp "$T/in" "$T/out"
	stats_ok "$T/s.json"
	assert_equal "$(js "$T/s.json" .exit_code)" 0
	assert_equal "$(js "$T/s.json" .exit_reason)" ok
	assert_equal "$(js "$T/s.json" .protocol)" TLSv1.3
	assert_equal "$(js "$T/s.json" .cipher)" TLS_AES_256_GCM_SHA384
	assert_equal "$(js "$T/s.json" .bytes_out)" 300000
	assert_equal "$(js "$T/s.json" .bytes_in)" 300000
	assert_equal "$(js "$T/s.json" .peer_close_notify)" true
	assert_equal "$(js "$T/s.json" .partial_writes)" 0
	assert [ "$(js "$T/s.json" .ssl_write_calls)" -ge 1 ]
	jq -e '.handshake_ms >= 0' "$T/s.json"
}

@test "--stats bytes_in is exactly what the peer sent" {
	peer --mode send --bytes 1234567
	run to_file "$T/out" tpq --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_success
	stats_ok "$T/s.json"
	assert_equal "$(js "$T/s.json" .bytes_in)" 1234567
	assert_equal "$(js "$T/s.json" .bytes_out)" 0
	assert_equal "$(js "$T/s.json" .ssl_write_calls)" 0
	assert_equal "$(stat -c %s "$T/out")" 1234567
	wait_server
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
}

@test "--stats with -P -s 65536: partial_writes > 0, bytes_out exact, and --trace marks each partial write" {
	random_file "$T/in" 1048576
	sink
	run --separate-stderr tpq -P -s 65536 --trace --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	stats_ok "$T/s.json"
	assert_equal "$(js "$T/s.json" .bytes_out)" 1048576
	local partial
	partial=$(js "$T/s.json" .partial_writes)
	assert [ "$partial" -gt 0 ]
	# a partial SSL_write returns less than asked, and the trace says so
	assert_equal "$(grep -cE 'SSL_write\(0x[0-9a-f]+, [0-9]+\) = [0-9]+ partial' <<<"$stderr")" "$partial"
	# one trace line per SSL_write call
	assert_equal "$(grep -cE '^tlspipe: +[0-9]+\.[0-9]{3} SSL_write\(' <<<"$stderr")" "$(js "$T/s.json" .ssl_write_calls)"
}

@test "--stats without -P: partial_writes is 0 and bytes_out is exact" {
	random_file "$T/in" 1048576
	sink
	run tpq -s 65536 --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	stats_ok "$T/s.json"
	assert_equal "$(js "$T/s.json" .bytes_out)" 1048576
	assert_equal "$(js "$T/s.json" .partial_writes)" 0
	assert [ "$(js "$T/s.json" .ssl_write_calls)" -ge 16 ]
}

@test "--stats against a peer that stops reading: written at the timeout, want_write > 0, exit 6" {
	peer --mode stall --hold-ms 3000
	head -c 32M /dev/zero >"$T/in"
	run tpq --idle-timeout 1 --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_equal "$status" 6
	failed_stats "$T/s.json" 6
	assert [ "$(js "$T/s.json" .want_write)" -gt 0 ]
	assert [ "$(js "$T/s.json" .bytes_out)" -gt 0 ]
	assert [ "$(js "$T/s.json" .bytes_out)" -lt 33554432 ]
	assert_equal "$(js "$T/s.json" .protocol)" TLSv1.3
}

@test "--stats on connection refused: every key, exit_code 3" {
	closed_port
	run tpq --stats="$T/s.json" localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	failed_stats "$T/s.json" 3
}

@test "--stats on an untrusted certificate: every key, exit_code 4" {
	peer_as selfsigned --mode sink
	run tpq --stats="$T/s.json" localhost "$PORT" <<<"secret"
	assert_equal "$status" 4
	failed_stats "$T/s.json" 4
	assert_equal "$(js "$T/s.json" .bytes_out)" 0
}

@test "--stats on truncation: every key, exit_code 5, exact bytes_in, no peer close_notify" {
	peer --mode send --bytes 100000 --truncate
	run to_file "$T/out" tpq --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_equal "$status" 5
	failed_stats "$T/s.json" 5
	assert_equal "$(js "$T/s.json" .bytes_in)" 100000
	assert_equal "$(js "$T/s.json" .peer_close_notify)" false
	pattern 100000 | cmp - "$T/out"
}

@test "--stats on a handshake timeout: every key, exit_code 6" {
	start_server timeout 30 "$PEER" --mode silent --hold-ms 5000
	run tpq -w 1 --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_equal "$status" 6
	failed_stats "$T/s.json" 6
}

@test "--stats=FILE given before a usage error is still written, with exit_code 2" {
	run tpq --stats="$T/s.json" -s 0 localhost 1 </dev/null
	assert_equal "$status" 2
	assert [ -s "$T/s.json" ]
	failed_stats "$T/s.json" 2
}

@test "--stats=- given before a usage error writes the JSON on stderr, exit_code 2" {
	run --separate-stderr tpq --stats=- -s 0 localhost 1 </dev/null
	assert_equal "$status" 2
	assert_output ""
	grep '^{' <<<"$stderr" >"$T/s.json"
	failed_stats "$T/s.json" 2
}

@test "--stats=- writes one JSON line on stderr without the prefix, and nothing extra on stdout" {
	random_file "$T/in" 100000
	peer --mode echo
	run --separate-stderr tpq --stats=- localhost "$PORT" <"$T/in"
	assert_success
	grep '^{' <<<"$stderr" >"$T/s.json"
	stats_ok "$T/s.json"
	assert_equal "$(js "$T/s.json" .bytes_out)" 100000
	assert_equal "$(js "$T/s.json" .exit_reason)" ok
	# every other stderr line keeps the prefix
	assert_equal "$(grep -v '^{' <<<"$stderr" | grep -cv '^tlspipe: ' || true)" 0
	# stdout is exactly the payload (run captures stdout as text: compare by hash)
	wait_server
	peer --mode echo
	tpq --stats=- localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err"
	cmp "$T/in" "$T/out"
	assert_equal "$(grep -c '^{' "$T/err")" 1
}

@test "--stats=- on a failure: the JSON line is on stderr with the exit code" {
	closed_port
	run --separate-stderr tpq --stats=- localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	assert_output ""
	grep '^{' <<<"$stderr" >"$T/s.json"
	failed_stats "$T/s.json" 3
}

@test "--stats in a missing directory is a usage error (exit 2) before connecting" {
	peer --mode sink
	run --separate-stderr tpq --stats="$T/nodir/s.json" localhost "$PORT" <<<"payload"
	assert_equal "$status" 2
	stderr_has "$T/nodir/s.json"
	assert [ ! -e "$T/nodir" ]
	kill "$SRV_PID"
	wait_server || true
	# nothing was sent: the run stopped before connecting
	refute grep -q 'bytes=[1-9]' "$T/srv.out"
}

@test "--stats needs an argument: a bare --stats is a usage error" {
	cd "$T"
	run --separate-stderr tpq localhost 1 --stats </dev/null
	assert_equal "$status" 2
	assert_output ""
	[[ "$stderr" == *"--stats needs a value"* ]]
}

# ---- --trace ----

@test "--trace shows a write stopping with WANT_WRITE and its identical retry completing" {
	random_file "$T/in" 16777216
	slow_server want_write --trace -v
	run err_to "$T/err" tpq --trace --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	wait_slow
	assert_equal "$(cat "$T/srv.sha")" "$(sha "$T/in")"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} SSL_write\(0x[0-9a-f]+, [0-9]+\) = -1 WANT_WRITE$' "$T/err"
	# each WANT_WRITE is followed by the same call: same pointer, same length,
	# marked as the identical retry; at least one retry completes
	awk '
		/ SSL_write\(/ {
			call = $0; sub(/.* SSL_write\(/, "", call); sub(/\).*/, "", call)
			if (pending != "") {
				if (call != pending || $0 !~ /\(identical retry/) { print "not an identical retry of (" pending "): " $0; bad = 1 }
				if ($0 ~ /\) = [1-9][0-9]* /) done++
			}
			pending = ($0 ~ /= -1 WANT_WRITE/) ? call : ""
			next
		}
		END { if (bad || done < 1) { print "completed identical retries: " done + 0; exit 1 } }
	' "$T/err"
	assert [ "$(js "$T/s.json" .want_write)" -gt 0 ]
	assert_equal "$(js "$T/s.json" .bytes_out)" 16777216
	# the server's stdout, with -v and --trace on, held the payload only
	grep -q 'SSL_read(' "$T/srv.err"
}

@test "--trace shows the handshake, select() wake-ups, close_notify sent and received, with timestamps" {
	peer --mode echo
	run --separate-stderr tpq --trace localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	echo "$stderr" >"$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} handshake done: TLSv1\.3 TLS_AES_256_GCM_SHA384' "$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} sent ClientHello' "$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} received ServerHello' "$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} select: ' "$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} SSL_read\([0-9]+\) = -1 WANT_READ' "$T/err"
	grep -qE '^tlspipe: +[0-9]+\.[0-9]{3} SSL_write\(0x[0-9a-f]+, 6\) = 6$' "$T/err"
	grep -qE 'close_notify sent' "$T/err"
	grep -qiE 'alert sent: .*close notify' "$T/err"
	grep -qiE 'alert received: .*close notify' "$T/err"
	grep -qE 'SSL_read\([0-9]+\) = 0 ZERO_RETURN \(close_notify\)' "$T/err"
	# every stderr line carries the prefix
	assert_equal "$(grep -cv '^tlspipe: ' "$T/err" || true)" 0
}

@test "--trace shows the server's key updates as received KeyUpdate lines" {
	random_file "$T/in" 1048576
	sink --key-update-every 100000
	run --separate-stderr tpq --trace --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	local n
	n=$(sed -n 's/.* rekeys=\([0-9]*\).*/\1/p' "$T/srv.out")
	assert [ "$n" -ge 1 ]
	assert_equal "$(grep -cE '^tlspipe: +[0-9]+\.[0-9]{3} received KeyUpdate' <<<"$stderr")" "$n"
}

@test "stdout holds only the payload with -v and --trace on" {
	peer --mode send --bytes 1000000
	run --separate-stderr to_file "$T/out" tpq -v --trace localhost "$PORT" </dev/null
	assert_success
	wait_server
	assert_equal "$(sha "$T/out")" "$(sink_sha)"
	pattern 1000000 | cmp - "$T/out"
	stderr_has "handshake done"
	stderr_has "protocol TLSv1.3"
}

# ---- -v ----

@test "-v summarises the connection on stderr: peer, protocol, cipher, certificate, validity, verification, pin, session" {
	peer --mode echo
	run --separate-stderr tpq -v localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	echo "$stderr" >"$T/err"
	grep -qE "^tlspipe: .*127\.0\.0\.1:$PORT" "$T/err"
	grep -qE '^tlspipe: .*TLSv1\.3' "$T/err"
	grep -qE '^tlspipe: .*TLS_AES_256_GCM_SHA384' "$T/err"
	grep -qiE '^tlspipe: .*subject.*CN ?= ?localhost' "$T/err"
	grep -qiE '^tlspipe: .*issuer.*tlspipe test CA' "$T/err"
	# mkcerts makes the leaf valid for 10 days
	grep -qiE '^tlspipe: .*(9|10) days left' "$T/err"
	grep -qiE '^tlspipe: .*verif[a-z]*:? ok' "$T/err"
	grep -qiE '^tlspipe: .*session.*(new|not resumed)' "$T/err"
	# the pin is the server key's: sha256 of its SubjectPublicKeyInfo
	local pin
	pin=$(openssl x509 -in "$CERTS/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
		openssl dgst -sha256 -binary | base64)
	grep -qF "sha256//$pin" "$T/err"
	assert_equal "$(grep -cv '^tlspipe: ' "$T/err" || true)" 0
}

@test "-v: the pin it prints is accepted by --pin, and -v then says the key was pinned" {
	peer --mode echo
	run --separate-stderr tpq -v localhost "$PORT" <<<"one"
	assert_success
	wait_server
	local pin
	pin=$(grep -oE 'sha256//[A-Za-z0-9+/]{43}=' <<<"$stderr" | head -n 1)
	assert [ -n "$pin" ]
	peer --mode echo
	run --separate-stderr timeout 20 "$TP" --pin="$pin" -v localhost "$PORT" <<<"two"
	assert_success
	assert_output "two"
	stderr_has "pin"
	grep -qiE 'verif[a-z]*:? ok' <<<"$stderr"
}

@test "-v prints the pin and subject of every certificate the server sent, each accepted by --pin" {
	cat "$CERTS/inter-server.pem" "$CERTS/intermediate.pem" "$CA" >"$T/sent.pem"
	start_server timeout 30 "$PEER" --cert "$T/sent.pem" --key "$CERTS/inter-server.key" --mode echo
	run --separate-stderr tpq -v localhost "$PORT" <<<"hello"
	assert_success
	echo "$stderr" >"$T/err"
	grep -qxF "tlspipe: pin $(pin_of "$CERTS/inter-server.pem")" "$T/err"
	grep -qxF "tlspipe: chain certificate 1: pin $(pin_of "$CERTS/intermediate.pem"), subject /CN=tlspipe test intermediate CA" "$T/err"
	grep -qxF "tlspipe: chain certificate 2: pin $(pin_of "$CA"), subject /CN=tlspipe test CA" "$T/err"
	assert_equal "$(grep -c 'chain certificate' "$T/err")" 2
	wait_server
	# a pin -v printed for a certificate above the leaf is one --pin takes
	start_server timeout 30 "$PEER" --cert "$T/sent.pem" --key "$CERTS/inter-server.key" --mode echo
	run --separate-stderr timeout 20 "$TP" -v --pin "$(sed -n 's/^tlspipe: chain certificate 1: pin \([^,]*\),.*/\1/p' "$T/err")" \
		localhost "$PORT" <<<"again"
	assert_success
	assert_output "again"
	stderr_has "verification: ok (pinned public key of chain certificate 1, /CN=tlspipe test intermediate CA; the chain to it and the name verified)"
}

@test "-v on a server lists the chain the client sent, without repeating the client's leaf" {
	cat "$CERTS/inter-client.pem" "$CERTS/intermediate.pem" >"$T/client.pem"
	start_server timeout 30 "$TP" -l -v --cert "$CERTS/server.pem" --key "$CERTS/server.key" \
		--verify-client --cafile "$CA" 127.0.0.1 0
	run tpq --cert "$T/client.pem" --key "$CERTS/inter-client.key" localhost "$PORT" <<<"hello"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	grep -qxF "tlspipe: client certificate: subject /CN=tlspipe-test-inter-client" "$T/srv.err"
	grep -qxF "tlspipe: pin $(pin_of "$CERTS/inter-client.pem")" "$T/srv.err"
	grep -qxF "tlspipe: chain certificate 1: pin $(pin_of "$CERTS/intermediate.pem"), subject /CN=tlspipe test intermediate CA" "$T/srv.err"
	assert_equal "$(grep -c 'chain certificate' "$T/srv.err")" 1
	grep -qxF "tlspipe: verification: ok" "$T/srv.err"
}

# ---- -v with -k: what verification would have found ----

@test "-k -v on an expired certificate: expired N days ago, never negative days left, and exit 0" {
	# mkcerts' expired.pem ended on 2020-02-01
	local days
	days=$((($(date +%s) - $(date -d '2020-02-01 00:00:00Z' +%s)) / 86400))
	peer_as expired --mode echo
	run --separate-stderr tpq -k -v localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	echo "$stderr" >"$T/err"
	grep -qE "^tlspipe: valid from 2020-01-01 00:00:00 UTC until 2020-02-01 00:00:00 UTC \(expired ($days|$((days + 1))) days ago\)$" "$T/err"
	refute grep -q 'days left' "$T/err"
	grep -qE "^tlspipe: verification: skipped \(--insecure\); it would have failed: certificate has expired \(depth 0\): expired ($days|$((days + 1))) days ago$" "$T/err"
}

@test "-k -v says what a verifying run would have failed on, in the words of its exit-4 message" {
	local name words
	for name in expired wrongname selfsigned; do
		peer_as "$name" --mode echo
		run --separate-stderr tpq localhost "$PORT" <<<"hello"
		assert_equal "$status" 4
		wait_server
		words=$(sed -n 's/.*failed: certificate verify failed: //p' <<<"$stderr")
		assert [ -n "$words" ]
		peer_as "$name" --mode echo
		run --separate-stderr tpq -k -v localhost "$PORT" <<<"hello"
		assert_success
		assert_output "hello"
		wait_server
		grep -qxF "tlspipe: verification: skipped (--insecure); it would have failed: $words" <<<"$stderr" ||
			{ echo "$name: -k -v lacks \"$words\":"; echo "$stderr"; return 1; }
	done
}

@test "-k -v on a server that would pass verification says so" {
	peer_as server --mode echo
	run --separate-stderr tpq -k -v 127.0.0.1 "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	stderr_has "verification: skipped (--insecure); it would have passed"
}

@test "-k -v names the expected and the presented names of a certificate for another host" {
	peer_as wrongname --mode echo
	run --separate-stderr tpq -k -v localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	stderr_has "verification: skipped (--insecure); it would have failed: hostname mismatch: expected localhost, the certificate is for wrong.example"
}

# ---- --progress ----

# under_pty CMD: run the shell command CMD with a pseudo-terminal as its
# stdin, stdout and stderr (util-linux script); what the terminal showed
# lands in $T/pty
under_pty() {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	timeout 30 script -qec "$1" /dev/null </dev/null >"$T/pty"
}

@test "--progress draws a redrawn line with bytes and rate each way, percent and ETA when stderr is a terminal" {
	random_file "$T/in" 8388608
	slow_server 1.5
	run under_pty "$(printf '%q ' "$TP" --cafile "$CA" --progress localhost "$PORT") <$(printf %q "$T/in") >$(printf %q "$T/out")"
	assert_success
	wait_slow
	assert_equal "$(cat "$T/srv.sha")" "$(sha "$T/in")"
	# stdout got nothing (the peer sent nothing): no progress text there
	assert_equal "$(stat -c %s "$T/out")" 0
	# redrawn in place: several \r-started draws, the last at 100%
	local draws
	draws=$(grep -o $'\rtlspipe: ' "$T/pty" | wc -l)
	assert [ "$draws" -ge 3 ]
	tr '\r' '\n' <"$T/pty" >"$T/lines"
	local rate='\([0-9.]+ (Ki|Mi|Gi)?B/s\)'
	grep -qE "^tlspipe: sent [0-9.]+ (Ki|Mi|Gi)?B $rate, received 0 B $rate +[0-9]+% +ETA [0-9]+:[0-9]{2}" "$T/lines"
	grep -qE "^tlspipe: sent 8\.0 MiB $rate, received 0 B $rate +100% +ETA" "$T/lines"
	# at least one draw before the end
	grep -qE '^tlspipe: .* ([0-9]|[1-9][0-9])% +ETA' "$T/lines"
}

@test "--progress with stdin a pipe shows bytes and rate, no percent or ETA" {
	random_file "$T/in" 1048576
	sink
	run under_pty "cat $(printf %q "$T/in") | $(printf '%q ' "$TP" --cafile "$CA" --progress localhost "$PORT") >/dev/null"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	tr '\r' '\n' <"$T/pty" >"$T/lines"
	grep -qE '^tlspipe: sent 1\.0 MiB \([0-9.]+ (Ki|Mi|Gi)?B/s\), received 0 B' "$T/lines"
	refute grep -q 'ETA' "$T/lines"
	refute grep -q '%' "$T/lines"
}

@test "--progress through an echo shows what was sent and received apart, and 100% of stdin, not twice it" {
	random_file "$T/in" 2097152
	peer --mode echo
	run under_pty "$(printf '%q ' "$TP" --cafile "$CA" --progress localhost "$PORT") <$(printf %q "$T/in") >$(printf %q "$T/out")"
	assert_success
	wait_server
	assert_equal "$(sha "$T/out")" "$(sha "$T/in")"
	tr '\r' '\n' <"$T/pty" >"$T/lines"
	grep -qE '^tlspipe: sent 2\.0 MiB \([^)]*\), received 2\.0 MiB \([^)]*\) +100% +ETA' "$T/lines"
	refute grep -qE '4\.0 MiB|[2-9][0-9][0-9]%' "$T/lines"
}

@test "--progress is silent when stderr is a pipe or a file" {
	random_file "$T/in" 1048576
	sink
	tpq --progress localhost "$PORT" <"$T/in" 2>&1 >"$T/out" | cat >"$T/err"
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	assert_equal "$(stat -c %s "$T/out")" 0
	refute grep -q $'\r' "$T/err"
	refute grep -q 'B/s' "$T/err"
	sink
	tpq --progress localhost "$PORT" <"$T/in" >"$T/out" 2>"$T/err2"
	wait_server
	refute grep -q $'\r' "$T/err2"
	refute grep -q 'B/s' "$T/err2"
}

# ---- --keylog ----

@test "--keylog: created 0600, announced on stderr, TLS 1.3 secrets that match the server's own log" {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key" --keylog="$T/srv.keys"
	run --separate-stderr tpq --keylog="$T/keys" localhost "$PORT" <<<"hello"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" "hello"
	assert_equal "$(stat -c %a "$T/keys")" 600
	stderr_has "$T/keys"
	grep -qE '^tlspipe: ' <<<"$stderr"
	grep -qE '^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{96}$' "$T/keys"
	grep -qE '^SERVER_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{96}$' "$T/keys"
	grep -qE '^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]{64} [0-9a-f]{96}$' "$T/keys"
	# every line is NSS key log format, all of one session (one client random)
	assert_equal "$(grep -cvE '^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$' "$T/keys" || true)" 0
	assert_equal "$(cut -d' ' -f2 "$T/keys" | sort -u | wc -l)" 1
	# the same session's secrets, as the other end saw them
	assert_equal "$(sort "$T/keys")" "$(sort "$T/srv.keys")"
	refute grep -q CLIENT_RANDOM "$T/keys"
}

@test "--keylog with --max-tls 1.2 writes a CLIENT_RANDOM line" {
	peer --mode echo
	run --separate-stderr tpq --max-tls 1.2 --keylog="$T/keys" --stats="$T/s.json" localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	assert_equal "$(js "$T/s.json" .protocol)" TLSv1.2
	assert_equal "$(stat -c %a "$T/keys")" 600
	grep -qE '^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$' "$T/keys"
	refute grep -q TRAFFIC_SECRET "$T/keys"
}

@test "SSLKEYLOGFILE works as --keylog does" {
	peer --mode echo
	run --separate-stderr env SSLKEYLOGFILE="$T/env.keys" timeout 20 "$TP" --cafile "$CA" localhost "$PORT" <<<"hello"
	assert_success
	assert_output "hello"
	assert_equal "$(stat -c %a "$T/env.keys")" 600
	stderr_has "$T/env.keys"
	grep -qE '^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]{96}$' "$T/env.keys"
}

@test "an unwritable --keylog path is a usage error (exit 2)" {
	closed_port
	# a directory cannot be opened for writing, by root either
	run --separate-stderr tpq --keylog="$T" localhost "$CLOSED" </dev/null
	assert_equal "$status" 2
	stderr_has "$T"
	run --separate-stderr tpq --keylog="$T/nodir/keys" localhost "$CLOSED" </dev/null
	assert_equal "$status" 2
	stderr_has "$T/nodir/keys"
	assert [ ! -e "$T/nodir" ]
}
