#!/usr/bin/env bats
# Every write mode moves random bytes exactly, over TLS 1.3 and 1.2: 1 MiB
# in `make check`, 8 MiB (16 MiB both ways) in `make check-full`. make check
# runs each mode over one version, 1.3 or 1.2 in turn, and four modes both
# ways; check-full (the tests tagged full) every mode over both, and all
# eight both ways.
load helpers

UP=$((${TP_FULL:-0} == 1 ? 8388608 : 1048576))
BOTH=$((${TP_FULL:-0} == 1 ? 16777216 : 2097152))

# upload MODE... : $UP bytes through tlspipe into the hashing sink, both TLS versions
upload_exact() {
	local tls=$1; shift
	random_file "$T/in" "$UP"
	sink --tls "$tls"
	run tp "$@" localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
	grep -q "bytes=$UP close_notify=1" "$T/srv.out"
}

@test "default mode moves every byte exactly over TLS 1.3" { upload_exact 1.3; }
# bats test_tags=full
@test "default mode moves every byte exactly over TLS 1.2" { upload_exact 1.2; }
# bats test_tags=full
@test "-b (blocking) moves every byte exactly over TLS 1.3" { upload_exact 1.3 -b; }
@test "-b (blocking) moves every byte exactly over TLS 1.2" { upload_exact 1.2 -b; }
@test "-P (partial write) moves every byte exactly over TLS 1.3" { upload_exact 1.3 -P; }
# bats test_tags=full
@test "-P (partial write) moves every byte exactly over TLS 1.2" { upload_exact 1.2 -P; }
# bats test_tags=full
@test "-R (no auto-retry) moves every byte exactly over TLS 1.3" { upload_exact 1.3 -R; }
@test "-R (no auto-retry) moves every byte exactly over TLS 1.2" { upload_exact 1.2 -R; }
@test "--auto-retry moves every byte exactly over TLS 1.3" { upload_exact 1.3 --auto-retry; }
@test "-b -P moves every byte exactly over TLS 1.3" { upload_exact 1.3 -b -P; }
# bats test_tags=full
@test "-b -P moves every byte exactly over TLS 1.2" { upload_exact 1.2 -b -P; }
# bats test_tags=full
@test "-b -R moves every byte exactly over TLS 1.3" { upload_exact 1.3 -b -R; }
@test "-b -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 -b -R; }
@test "-P -R moves every byte exactly over TLS 1.3" { upload_exact 1.3 -P -R; }
# bats test_tags=full
@test "-P -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 -P -R; }
# bats test_tags=full
@test "-b -P -R moves every byte exactly over TLS 1.3" { upload_exact 1.3 -b -P -R; }
@test "-b -P -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 -b -P -R; }
@test "--io=bio-pair moves every byte exactly over TLS 1.3" { upload_exact 1.3 --io=bio-pair; }
# bats test_tags=full
@test "--io=bio-pair moves every byte exactly over TLS 1.2" { upload_exact 1.2 --io=bio-pair; }
# bats test_tags=full
@test "--io=bio-pair -P moves every byte exactly over TLS 1.3" { upload_exact 1.3 --io=bio-pair -P; }
@test "--io=bio-pair -P moves every byte exactly over TLS 1.2" { upload_exact 1.2 --io=bio-pair -P; }
@test "--io=bio-pair -R moves every byte exactly over TLS 1.3" { upload_exact 1.3 --io=bio-pair -R; }
# bats test_tags=full
@test "--io=bio-pair -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 --io=bio-pair -R; }
# bats test_tags=full
@test "--io=bio-pair -P -R moves every byte exactly over TLS 1.3" { upload_exact 1.3 --io=bio-pair -P -R; }
@test "--io=bio-pair -P -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 --io=bio-pair -P -R; }
@test "-s 1000 moves every byte exactly over TLS 1.3" { upload_exact 1.3 -s 1000; }
@test "-s 1000 -b moves every byte exactly over TLS 1.2" { upload_exact 1.2 -s 1000 -b; }
@test "-s 65536 -P moves every byte exactly over TLS 1.3" { upload_exact 1.3 -s 65536 -P; }
@test "-s 100000 --io=bio-pair -R moves every byte exactly over TLS 1.2" { upload_exact 1.2 -s 100000 --io=bio-pair -R; }
@test "-s 1048576 moves every byte exactly over TLS 1.3" { upload_exact 1.3 --write-size=1048576; }

@test "a peer that keeps talking (tickets, chatter) does not stall -b with auto-retry on" {
	random_file "$T/in" 8388608
	sink --tls 1.3 --chatty 262144 --tickets 4
	run tp -b --send-only localhost "$PORT" <"$T/in"
	assert_success
	wait_server
	assert_equal "$(sink_sha)" "$(sha "$T/in")"
}

@test "both ways at once through an echo peer, in every mode, every byte comes back" {
	local -a modes=("" "-b -P -R" "--io=bio-pair -R -P" "-s 5000")
	if full; then modes+=("-b" "-P" "-R" "--io=bio-pair"); fi
	random_file "$T/in" "$BOTH"
	for m in "${modes[@]}"; do
		peer --mode echo
		# shellcheck disable=SC2086
		run to_file "$T/back" tp $m localhost "$PORT" <"$T/in"
		assert_success
		wait_server
		assert_equal "$(sha "$T/back")" "$(sha "$T/in")"
	done
}
