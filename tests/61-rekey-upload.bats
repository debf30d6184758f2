#!/usr/bin/env bats
# Rekeying (rekey.bash): tlspipe uploads in every client write mode into
# tlspipe -l while either side updates keys or renegotiates; and into a peer
# that reads slowly and requests key updates.
# shellcheck disable=SC2154 # stderr comes from run --separate-stderr
load helpers
load rekey
bats_require_minimum_version 1.5.0

@test "upload every byte in every client write mode while the tlspipe server updates keys (TLS 1.3)" {
	matrix upload 1.3 server
}

@test "upload every byte in every client write mode while the tlspipe server renegotiates (TLS 1.2)" {
	matrix upload 1.2 server
}

@test "upload every byte in every client write mode while the client updates keys (TLS 1.3)" {
	matrix upload 1.3 client
}

@test "upload every byte in every client write mode while the client renegotiates (TLS 1.2, --allow-client-renegotiation)" {
	matrix upload 1.2 client
}

# The answer to a KeyUpdate that requests one goes out from the next
# SSL_write, through OpenSSL's buffering BIO, which flushes it. With the
# socket full (the peer reads through a 2 KiB receive buffer, and 6 MiB is
# more than the client's send buffer holds) that flush cannot empty the
# stash; answered with a retry, the buffering BIO dropped the flag and
# SSL_write failed with EAGAIN: exit 1, "writing to the connection failed:
# Resource temporarily unavailable", in every run. Three of the socket
# path's non-blocking modes, once each.
@test "a slow reader's KeyUpdates (update requested) are answered while the socket is full: every byte, exit 0" {
	local m
	random_file "$T/in" 6291456
	for m in "" "-R" "-P"; do
		sink --tls 1.3 --rcvbuf 2048 --key-update-every 65536
		# shellcheck disable=SC2086
		run --separate-stderr tpq $m --eof-grace=0.1 --stats="$T/s.json" localhost "$PORT" <"$T/in"
		[ "$status" -eq 0 ] || fail "mode '$m': exit $status: $stderr"
		wait_server
		assert_equal "$SRV_RC" 0
		assert_equal "$(sink_sha)" "$(sha "$T/in")"
		# the premise: the socket was full (WANT_WRITE), and the peer's
		# key updates came meanwhile
		[ "$(jstat "$T/s.json" want_write)" -gt 0 ] && [ "$(jstat "$T/s.json" peer_rekeys)" -ge 90 ] ||
			fail "mode '$m': the socket never filled, or few key updates: $(<"$T/s.json")"
	done
}

# The same peer, and the close_notify of --on-eof=notify meets the full
# socket: its alert waits in OpenSSL's buffer while the peer's KeyUpdate
# asks for an answer. Before the alert was absorbed into the stash ahead of
# each read, SSL_read failed: exit 1, "reading from the connection failed:
# bad write retry", in 4 runs of 6 (default) and 2 of 6 (-R): make check
# tries each mode once, check-full three times.
@test "a close_notify that met a full socket is absorbed before a KeyUpdate is answered: every byte, exit 0" {
	# (not i: bats's own functions, which run calls, set a global i)
	local m round runs=1
	! full || runs=3
	random_file "$T/in" 4194304
	for ((round = 1; round <= runs; round++)); do
		for m in "" "-R"; do
			sink --tls 1.3 --rcvbuf 1024 --key-update-every 65536
			# shellcheck disable=SC2086
			run --separate-stderr tpq $m --on-eof=notify localhost "$PORT" <"$T/in"
			[ "$status" -eq 0 ] || fail "run $round, mode '$m': exit $status: $stderr"
			wait_server
			assert_equal "$SRV_RC" 0
			assert_equal "$(sink_sha)" "$(sha "$T/in")"
		done
	done
}
