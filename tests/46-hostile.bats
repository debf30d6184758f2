#!/usr/bin/env bats
# Broken and hostile peers: resets, a trickle, garbage and forged records,
# alerts both ways, data after close_notify, rekey storms, handshakes that
# never finish, odd clients and odd certificates. Each ends with its
# documented exit status, and nothing is lost: what the peer sent before the
# fault is on stdout exactly, what tlspipe sent is counted in --stats.
# (Covered elsewhere: a reset right after a short banner, in every write mode,
# in 35-endings; a peer that stops reading, under --idle-timeout in 40-errors
# and 80-diagnostics and under a signal in 36-signals; a silent server under
# -w in 40-errors and 80-diagnostics.)
# stderr and stderr_lines are set by run --separate-stderr; status, BG and
# the rest live in each test's own subshell
# shellcheck disable=SC2154,SC2030,SC2031
load helpers
bats_require_minimum_version 1.5.0

# ---- resets ----

# every write mode: a write that meets the reset, then the reads after it
MODES=("" "-b" "-P" "--io=bio-pair" "-s 1000")

@test "a peer that resets mid-upload: exit 1 saying reset; it got a prefix of stdin, and --stats counts at least that (every mode)" {
	local m got sent
	local -a modes=("" "-b" "--io=bio-pair")	# make check-full: all of MODES
	if full; then modes=("${MODES[@]}"); fi
	random_file "$T/in" 8388608
	for m in "${modes[@]}"; do
		# a small receive window: tlspipe cannot have handed all 8 MiB to
		# the kernel when the reset comes
		sink --reset-after 262144 --rcvbuf 65536 --out "$T/got"
		# shellcheck disable=SC2086
		run --separate-stderr tpq $m --stats="$T/s.json" localhost "$PORT" <"$T/in"
		[ "$status" -eq 1 ] && [ "${#stderr_lines[@]}" -eq 1 ] && [[ $stderr == *"reset by peer"* ]] ||
			fail "mode '$m': exit $status: $stderr"
		wait_server
		got=$(stat -c %s "$T/got")
		sent=$(jstat "$T/s.json" bytes_out)
		[ "$got" -ge 262144 ] && cmp -n "$got" "$T/in" "$T/got" && [ "$sent" -ge "$got" ] &&
			[ "$sent" -lt 8388608 ] || fail "mode '$m': the peer got $got bytes, --stats says $sent sent"
		assert_equal "$(jstat "$T/s.json" exit_code)" 1
		assert_equal "$(jstat "$T/s.json" close_notify_sent)" false
	done
}

# reset_behind: the peer sends 160 KiB and resets once tlspipe's host has
# acknowledged them all; tlspipe's stdout is a fifo that nobody reads, so
# tlspipe stops reading the socket and the reset arrives behind bytes still
# queued there. 2 when the premise failed: what tlspipe had taken in (the
# fifo's 64 KiB, its buffer) left more than the receive window could hold,
# so the peer reset with data unacknowledged (the timing of a slow build)
reset_behind() {
	peer --mode send --bytes 160k --reset
	hold pipe PIPE
	timeout 30 "$TP" --cafile "$CA" --trace --stats="$T/s.json" localhost "$PORT" </dev/null \
		>"$T/pipe" 2>"$T/err" {PIPE}>&- 3>&- &
	TP_PID=$!
	BG+=("$TP_PID")
	end_server 10
	# (called from a ||: no errexit, so each check returns)
	[ "$SRV_RC" -eq 0 ] && grep -q 'bytes=163840' "$T/srv.out" || return 1
	if has "$T/srv.err" "not acknowledged"; then
		kill "$TP_PID" 2>/dev/null || true
		release PIPE
		reap "$TP_PID" 10
		return 2
	fi
}

@test "a peer that resets behind data tlspipe has not read yet: all of that data reaches stdout, then exit 1" {
	local attempt rc=2
	for attempt in 1 2 3; do
		rc=0
		reset_behind || rc=$?
		[ "$rc" -eq 2 ] || break
	done
	[ "$rc" -ne 1 ] || fail "the peer failed (exit $SRV_RC): $(<"$T/srv.err") $(<"$T/srv.out")"
	[ "$rc" -eq 0 ] || fail "in 3 tries the peer never saw all its data acknowledged before its reset"
	alive "$TP_PID"
	# tlspipe had read only part of it when the reset came
	local line re='SSL_read\([0-9]+\) = ([0-9]+)$' before=0
	while IFS= read -r line; do
		[[ $line =~ $re ]] && before=$((before + BASH_REMATCH[1]))
	done <"$T/err"
	assert [ "$before" -lt 163840 ]
	# now read it: our own read-write hold goes, so EOF comes when tlspipe exits
	local rd
	exec {rd}<"$T/pipe"
	release PIPE
	timeout 10 cat <&"$rd" >"$T/out"
	exec {rd}<&-
	reap "$TP_PID" 10
	assert_equal "$RC" 1
	grep -qi 'reset' "$T/err"
	pattern 163840 | cmp - "$T/out"
	assert_equal "$(jstat "$T/s.json" bytes_in)" 163840
}

# ---- a slow peer ----

@test "a peer that trickles a byte a second: every byte arrives, and --idle-timeout=3 does not fire" {
	peer --mode send --text "12345" --trickle-ms 1000
	run --separate-stderr tpq --idle-timeout=3 --on-eof=wait --trace localhost "$PORT" </dev/null
	assert_success
	assert_output "12345"
	# in the trace: five reads of one byte, over more than the idle timeout,
	# then the peer's close_notify
	local line re='^tlspipe: +([0-9]+)\.[0-9]+ SSL_read\([0-9]+\) = 1$' n=0 first='' last='' closed=''
	for line in "${stderr_lines[@]}"; do
		if [[ $line =~ $re ]]; then
			n=$((n + 1))
			first=${first:-${BASH_REMATCH[1]}}
			last=${BASH_REMATCH[1]}
		elif [[ $line == *ZERO_RETURN* ]]; then
			[ "$n" -eq 5 ] && closed=1
		fi
	done
	assert_equal "$n" 5
	assert_equal "$closed" 1
	assert [ $((last - first)) -ge 3000 ]
	refute_line --partial "timed out"
}

# ---- faults on the wire after the handshake ----

# faulty KIND TEXT: the peer sends TEXT, then the fault KIND (peer --inject);
# tlspipe (--trace, never the first to say goodbye) must exit 1 with TEXT,
# exactly, on stdout; its stderr is in $stderr, the peer's in $T/srv.err
faulty() {
	peer --mode send --text "$2" --inject "$1"
	run --separate-stderr tpq --on-eof=wait --trace --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_equal "$status" 1
	assert_output "$2"
	assert_equal "$(jstat "$T/s.json" bytes_in)" "${#2}"
	assert_equal "$(jstat "$T/s.json" exit_code)" 1
	wait_server
	assert_equal "$SRV_RC" 0
}

@test "random bytes instead of a record after the handshake: what came before is on stdout, tlspipe sends a fatal alert, exit 1" {
	faulty garbage "before the garbage"
	stderr_has "alert sent: fatal"
	grep -q 'SSL_read: .*alert' "$T/srv.err"
}

@test "a record header announcing more than 16 KiB + 256 bytes: tlspipe sends record_overflow, exit 1" {
	faulty overflow "before the big record"
	stderr_has "alert sent: fatal record overflow"
	grep -q 'record overflow' "$T/srv.err"
}

@test "a record with one byte corrupted: its decryption fails, tlspipe sends bad_record_mac, the record is not on stdout, exit 1" {
	faulty corrupt "before the corrupt record"
	stderr_has "alert sent: fatal bad record mac"
	grep -q 'bad record mac' "$T/srv.err"
}

@test "a peer whose own TLS fails mid-stream and sends a fatal alert: what came before is on stdout, exit 1 naming the alert" {
	faulty alert "before the alert"
	stderr_has "alert received: fatal bad record mac"
	stderr_has "failed: sslv3 alert bad record mac"
	# tlspipe's own part: none
	[[ $stderr != *"alert sent"* ]]
	# the peer's alert came from OpenSSL, failing on a forged record
	grep -q 'forged record: .*bad record mac' "$T/srv.err"
}

@test "data after the peer's close_notify is not payload: tlspipe stops reading and exits 0" {
	peer --mode send --text "the payload" --inject after-close
	run --separate-stderr tpq --on-eof=wait --trace --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_success
	assert_output "the payload"
	assert_equal "$(jstat "$T/s.json" bytes_in)" 11
	assert_equal "$(jstat "$T/s.json" peer_close_notify)" true
	# no SSL_read after the one that met the close_notify
	local line closed=''
	for line in "${stderr_lines[@]}"; do
		if [[ $line == *"SSL_read("*ZERO_RETURN* ]]; then
			closed=1
		elif [ -n "$closed" ] && [[ $line == *"SSL_read("* ]]; then
			fail "SSL_read after the close_notify: $line"
		fi
	done
	assert_equal "$closed" 1
	wait_server
	assert_equal "$SRV_RC" 0
	# the record after it went out, and tlspipe said goodbye in turn
	grep -q 'sent 32 payload bytes after our close_notify' "$T/srv.err"
	grep -q 'the client sent close_notify' "$T/srv.err"
}

# ---- rekey storms ----

# storm TLS N WHAT: a peer that sends a line and then starts N rekeys back
# to back, with no data between them: tlspipe gets the line, then stops the
# storm at 101 with exit 1 and one line saying WHAT the peer did, and the
# peer was stopped short of N. The run's milliseconds in MS.
storm() {
	peer --mode send --tls "$1" --text "before the storm" --rekey-storm "$2"
	now_us
	T0=$NOW_US
	run --separate-stderr tpq --on-eof=wait --stats="$T/s.json" localhost "$PORT" </dev/null
	ms_since "$T0"
	assert_output "before the storm"
	wait_server
	assert_equal "$status" 1
	assert_equal "${#stderr_lines[@]}" 1
	stderr_has "$3 more than 100 times beyond one per KiB of payload"
	# at 101, and at most the rest of what tlspipe had read by then
	assert [ "$(jstat "$T/s.json" peer_rekeys)" -ge 101 ]
	local n
	n=$(sed -n 's/^storm_rekeys=//p' "$T/srv.out")
	assert [ "$n" -lt "$2" ]
}

@test "a TLS 1.3 peer that updates its keys in a tight loop with no data: exit 1 at 101, saying why" {
	storm 1.3 2000 "updated its keys"
	assert [ "$MS" -lt 10000 ]
}

@test "a TLS 1.2 peer that renegotiates in a tight loop with no data: exit 1 at 101, saying why" {
	storm 1.2 1000 "renegotiated"
}

@test "100 rekeys in a row are still allowed: the run ends cleanly" {
	# the peer sends close_notify after its storm
	peer --mode send --text "before the storm" --rekey-storm 100
	run --separate-stderr tpq --on-eof=wait --stats="$T/s.json" localhost "$PORT" </dev/null
	assert_success
	assert_output "before the storm"
	assert_equal "$(jstat "$T/s.json" peer_rekeys)" 100
	wait_server
	grep -q '^storm_rekeys=100$' "$T/srv.out"
}

@test "the peer's answers to tlspipe's own rekeys are no storm: --key-update-every=1000 over 1 MiB ends cleanly" {
	random_file "$T/in" 1048576
	sink
	run tpq --key-update-every=1000 --stats="$T/s.json" localhost "$PORT" <"$T/in"
	assert_success
	# far more than 100 plus one per KiB, every one an answer to one of ours
	assert [ "$(jstat "$T/s.json" peer_rekeys)" -gt 500 ]
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

# ---- a renegotiation right behind the handshake, then a close ----

# reneg_then_close: a TLS 1.2 peer whose HelloRequest comes in the same
# write as its Finished (tlspipe's first handshake ends and a renegotiation
# begins inside one SSL_read), and which sends close_notify and FIN once
# tlspipe's ClientHello for it is there. -w 0: no handshake timeout would end
# a hang, timeout(1) does (124). Stdin and more options come from the caller.
reneg_then_close() {
	peer --tls 1.2 --renegotiate-at-once --hold-ms 10000
	now_us
	T0=$NOW_US
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" -w 0 --trace --stats="$T/s.json" "$@" localhost "$PORT"
	ms_since "$T0"
	[ "$status" -ne 124 ] || fail "tlspipe hung: killed by timeout(1) after $MS ms: $stderr"
	# the case at hand: the HelloRequest was read before the first
	# handshake was seen done, and tlspipe answered it
	[[ $stderr == *"received Finished"*"received HelloRequest (renegotiation)"*"handshake done"* ]] ||
		fail "not the renegotiation right behind the Finished: $stderr"
	stderr_has "sent ClientHello (renegotiation)"
	assert [ "$(jstat "$T/s.json" handshake_ms)" != -1 ]
	assert [ "$MS" -lt 5000 ]
	end_server 5
	grep -q 'the client closed TCP' "$T/srv.err"
}

@test "a TLS 1.2 peer that renegotiates right behind its Finished, then closes: no hang; exit 0, or 1 with stdin left to send" {
	# --recv-only: nothing to send, known at once (an empty stdin is only
	# known at its EOF, which may come after the close_notify)
	reneg_then_close --recv-only </dev/null
	assert_equal "$status" 0
	stderr_has "closed the connection during a handshake; no close_notify could be sent"
	reneg_then_close <<<"left to send"
	assert_equal "$status" 1
	stderr_has "closed the connection during a handshake; the rest of stdin cannot be sent"
	assert_equal "$(jstat "$T/s.json" exit_code)" 1
}

# ---- handshakes that never finish ----

@test "a server that sends half a ServerHello and stops: -w 2 is exit 6, saying the handshake timed out" {
	peer --mode half-hello --hold-ms 8000
	now_us
	local t0=$NOW_US
	run --separate-stderr tpq -w 2 localhost "$PORT" </dev/null
	ms_since "$t0"
	assert_equal "$status" 6
	stderr_has "timed out: no TLS handshake with"
	stderr_has "within 2 s"
	assert [ "$MS" -ge 1900 ]
	assert [ "$MS" -lt 6000 ]
	grep -q 'sent [0-9]* bytes of our [0-9]*-byte first flight' "$T/srv.err"
}

@test "a server that answers the ClientHello with a plaintext fatal alert: exit 4 naming the alert, nothing sent" {
	start_server timeout 20 "$PEER" --mode alert-hello
	run --separate-stderr tpq --stats="$T/s.json" localhost "$PORT" <<<"payload"
	assert_equal "$status" 4
	assert_output ""
	stderr_has "failed: the peer sent alert handshake failure"
	assert_equal "$(jstat "$T/s.json" bytes_out)" 0
}

# ---- odd clients ----

@test "a client without SNI and without ALPN (openssl s_client -noservername) is served by tlspipe -l" {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key"
	run timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -noservername -quiet -no_ign_eof \
		-nocommands -CAfile "$CA" -verify_return_error <<<"no SNI, no ALPN"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(<"$T/srv.out")" "no SNI, no ALPN"
}

# ---- odd certificates ----

# cert NAME CN EXT [ISSUER]: a P-256 key and a certificate in $T with the
# extensions EXT of the test PKI's config (tests/mkcerts.sh), or of $CNF,
# signed by ISSUER.pem and ISSUER.key (self-signed without one)
cert() {
	local -a by=(-x509)
	[ -z "${4:-}" ] || by=(-CA "$4.pem" -CAkey "$4.key")
	openssl req -config "${CNF:-$CERTS/openssl.cnf}" -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$1.key" -subj "/CN=$2" "${by[@]}" -days 2 -extensions "$3" -out "$T/$1.pem" 2>/dev/null
}

@test "a server that sends a chain of 20 certificates is verified up to the root (under OpenSSL's depth limit of 100)" {
	local i
	cert ca0 "chain root" ca_ext
	for ((i = 1; i <= 18; i++)); do
		cert "ca$i" "chain CA $i" ca_ext "$T/ca$((i - 1))"
	done
	cert leaf localhost server_ext "$T/ca18"
	cat "$T/leaf.pem" >"$T/chain.pem"
	for ((i = 18; i >= 0; i--)); do
		cat "$T/ca$i.pem" >>"$T/chain.pem"
	done
	start_server timeout 30 "$PEER" --cert "$T/chain.pem" --key "$T/leaf.key" --mode send \
		--text "through 20 certificates"
	run --separate-stderr timeout 20 "$TP" -v --cafile "$T/ca0.pem" localhost "$PORT" </dev/null
	assert_success
	assert_output "through 20 certificates"
	# the 19 after the leaf, each shown by -v
	assert_equal "$(grep -c 'chain certificate [0-9]*: pin' <<<"$stderr")" 19
	stderr_has "verification: ok"
}

@test "a 64 KiB server certificate (a leaf with 1300 names) is accepted" {
	local i names= CNF=$T/certs.cnf
	for ((i = 2; i <= 1300; i++)); do
		printf -v names '%sDNS.%d = host-%05d.a-rather-long-name.big-certificate.example\n' "$names" "$i" "$i"
	done
	# more names in the config's last section, server_ext's
	{ cat "$CERTS/openssl.cnf"; printf '%s' "$names"; } >"$CNF"
	cert big localhost server_ext "$CERTS/ca"
	openssl x509 -in "$T/big.pem" -outform der -out "$T/big.der"
	assert [ "$(stat -c %s "$T/big.der")" -ge 65536 ]
	start_server timeout 30 "$PEER" --cert "$T/big.pem" --key "$T/big.key" --mode send \
		--text "through a big certificate"
	run --separate-stderr tpq localhost "$PORT" </dev/null
	assert_success
	assert_output "through a big certificate"
}
