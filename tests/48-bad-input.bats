#!/usr/bin/env bats
# Bad input: every value tlspipe is given that it cannot use is exit 2
# before connecting, in one line that names the option and what is wrong
# with the value; never a crash, never a value silently wrapped or cut.
# Option values (empty, huge, negative, not a number), --pin and --alpn at
# and past their limits, files of the wrong kind, keys TLS cannot use. The
# checks every option shares (an empty value, a number's form) run on every
# option in make check-full, on a few in make check.
# each @test is a function to shellcheck, which takes it for a subshell
# shellcheck disable=SC2030,SC2031
load helpers
bats_require_minimum_version 1.5.0

# Keys and certificates of other types than the test PKI's P-256, made once
# for the file (DSA parameters take a moment) and signed by the test CA.
setup_file() {
	local d=$BATS_FILE_TMPDIR k
	(
		cd "$d" || exit 1
		openssl genpkey -algorithm ED448 -out ed448.key
		openssl genpkey -algorithm ED25519 -out ed25519.key
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out rsa512.key
		openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out dsa.param
		openssl genpkey -paramfile dsa.param -out dsa.key
		for k in x25519 x448; do
			openssl genpkey -algorithm "$k" -out "$k.key"
			openssl pkey -in "$k.key" -pubout -out "$k.pub"
		done
		for k in ed448 ed25519 rsa512 dsa; do
			openssl req -new -key "$k.key" -subj /CN=localhost -out "$k.csr"
			openssl x509 -req -in "$k.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -days 2 \
				-extfile <(printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n') -out "$k.pem"
		done
		# X25519 and X448 can only agree on keys, not sign: their certificates
		# carry the key of another's request (-force_pubkey)
		for k in x25519 x448; do
			openssl x509 -req -in ed448.csr -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -days 2 \
				-force_pubkey "$k.pub" -out "$k.pem"
		done
	) >"$d/make.log" 2>&1 || { cat "$d/make.log"; return 1; }
}

# shellcheck disable=SC2154 # stderr and stderr_lines come from run --separate-stderr
# why ARGS...: refused (exit 2, one line, no output), and the line is
# "tlspipe: $WANT" with the usage hint after it or not
why() {
	refused "$@"
	if [[ ${stderr_lines[0]} != "tlspipe: $WANT"* ]]; then
		echo "tlspipe $*"
		echo "expected: tlspipe: $WANT"
		echo "got:      ${stderr_lines[0]}"
		return 1
	fi
}

# ---- option values ----

@test "every option that takes a value refuses an empty one, naming the option" {
	local -a names
	local o
	closed_port
	# the option table itself: an option added later is checked too
	mapfile -t names < <(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", required_argument,.*/\1/p' "$TOP/src/options.c")
	[ "${#names[@]}" -ge 20 ]
	# one check serves them all: make check tries every fifth
	if ! full; then
		for o in "${!names[@]}"; do
			[ $((o % 5)) -eq 0 ] || unset "names[$o]"
		done
	fi
	for o in "${names[@]}"; do
		WANT="--$o: empty value" why "--$o=" localhost "$CLOSED"
	done
	WANT="--cafile: empty value" why --cafile "" localhost "$CLOSED"
	WANT="--stats: empty value (use - for stderr)" why --stats "" localhost "$CLOSED"
	WANT="--write-size: empty value" why -s "" localhost "$CLOSED"
	WANT="--timeout: empty value" why -w "" localhost "$CLOSED"
}

# limits NAME MIN MAX: --NAME refuses MAX + 1 and MIN - 1, naming its range
limits() {
	WANT="--$1 $(($3 + 1)): too large (expected $2..$3)" why "--$1=$(($3 + 1))" localhost "$CLOSED"
	WANT="--$1 $(($2 - 1)): too small (expected $2..$3)" why "--$1=$(($2 - 1))" localhost "$CLOSED"
}

# shellcheck disable=SC2154 # stderr comes from run --separate-stderr
# numbers NAME MIN MAX: --NAME at MIN and MAX gets as far as connecting;
# below, above, huge, 2^64 + 1 (1 if it wrapped), fractional, hex, a
# trailing blank and a word are each refused, naming the option and the
# problem
numbers() {
	local name=$1 min=$2 max=$3 v
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" "--$name=$min" localhost "$CLOSED" </dev/null
	[ "$status" -eq 3 ] || { echo "--$name=$min: exit $status: $stderr"; return 1; }
	run --separate-stderr timeout 10 "$TP" --cafile "$CA" "--$name=$max" localhost "$CLOSED" </dev/null
	[ "$status" -eq 3 ] || { echo "--$name=$max: exit $status: $stderr"; return 1; }
	for v in $((max + 1)) 99999999999999999999 18446744073709551617; do
		WANT="--$name $v: too large (expected $min..$max)" why "--$name=$v" localhost "$CLOSED"
	done
	v=$((min - 1))
	WANT="--$name $v: too small (expected $min..$max)" why "--$name=$v" localhost "$CLOSED"
	for v in abc 1.5 0x10 '5 '; do
		WANT="--$name $v: invalid (expected $min..$max)" why "--$name=$v" localhost "$CLOSED"
	done
}

@test "numeric options refuse what is too large, too small or not a number, and never wrap" {
	closed_port
	numbers write-size 1 1048576
	# one parser serves them all: make check tries only the others' limits
	if full; then
		numbers timeout 0 86400
		numbers idle-timeout 0 86400
		numbers key-update-every 1 1125899906842624
		numbers renegotiate-every 1 1125899906842624
	else
		limits timeout 0 86400
		limits idle-timeout 0 86400
		limits key-update-every 1 1125899906842624
		limits renegotiate-every 1 1125899906842624
	fi
	# the short forms say the long name; 2^32 + 1 and 2^63 do not wrap either
	WANT="--write-size 4294967297: too large (expected 1..1048576)" why -s 4294967297 localhost "$CLOSED"
	WANT="--timeout 9223372036854775808: too large (expected 0..86400)" why -w 9223372036854775808 localhost "$CLOSED"
	WANT="--idle-timeout -99999999999999999999: too small (expected 0..86400)" \
		why --idle-timeout -99999999999999999999 localhost "$CLOSED"
	WANT="--timeout -5: too small (expected 0..86400)" why -w -5 localhost "$CLOSED"
	# the port, too
	WANT="port 99999999999999999999: too large (expected 1..65535)" why localhost 99999999999999999999
}

@test "--eof-grace refuses what is not seconds with up to three decimals, or over 3600" {
	local v
	local -a big=(3601) bad=(-1 1.2345 1e3)
	if full; then
		big+=(4294967296)
		bad+=(99999999999999999999 18446744073709551617 abc .5 1. 0x10)
	fi
	closed_port
	run --separate-stderr tpq --eof-grace=3600 localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	run --separate-stderr tpq --eof-grace=0.001 localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	for v in "${big[@]}"; do
		WANT="--eof-grace $v: too large (expected 0..3600)" why --eof-grace="$v" localhost "$CLOSED"
	done
	WANT="--eof-grace 3600.001: more than 3600 seconds" why --eof-grace=3600.001 localhost "$CLOSED"
	for v in "${bad[@]}"; do
		WANT="--eof-grace $v: expected seconds (0..3600, up to 3 decimals)" why --eof-grace="$v" localhost "$CLOSED"
	done
}

@test "string values past their limits: a long --servername, passphrase or path, a huge fd:, a directory as file:" {
	local n255 long
	n255=$(printf 'a%.0s' {1..255})
	closed_port
	# 255 bytes of name get as far as connecting; 256 are refused before it
	run --separate-stderr tpq --servername "$n255" localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	WANT="--servername: 256 bytes long (a host name is at most 255)" why --servername "${n255}a" localhost "$CLOSED"
	local -a key=(--cert "$CERTS/server.pem" --key "$CERTS/enc.key")
	long=$(printf 'p%.0s' {1..1024})
	WANT="--key-pass pass:...: the passphrase is longer than 1023 bytes" why "${key[@]}" --key-pass "pass:$long" \
		localhost "$CLOSED"
	refute grep -q ppppp <<<"$stderr"
	WANT="--key-pass fd: needs a descriptor number, 3 or above (fd:N)" why "${key[@]}" --key-pass fd:99999999999999999999 \
		localhost "$CLOSED"
	WANT="--key-pass fd:999999999: cannot read it: Bad file descriptor" why "${key[@]}" --key-pass fd:999999999 \
		localhost "$CLOSED"
	WANT="--key-pass file:$T: cannot read it: Is a directory" why "${key[@]}" --key-pass "file:$T" localhost "$CLOSED"
	WANT="--key-pass file:/dev/null: the first line is empty" why "${key[@]}" --key-pass file:/dev/null localhost "$CLOSED"
	# a file name longer than the system takes
	long=$T/$(printf 'x%.0s' {1..300})
	WANT="--cafile $long: cannot read it: File name too long" why --cafile "$long" localhost "$CLOSED"
}

# ---- --pin ----

@test "a malformed --pin says what is wrong with it: the prefix, a character, the length, the padding" {
	local good
	good=$(pin_of "$CERTS/server.pem")
	closed_port
	WANT="--pin ${good#sha256//}: it must start with sha256//" why --pin "${good#sha256//}" localhost "$CLOSED"
	WANT="--pin md5//${good#sha256//}: it must start with sha256//" why --pin "md5//${good#sha256//}" localhost "$CLOSED"
	WANT="--pin sha256/${good#sha256//}: it must start with sha256//" why --pin "sha256/${good#sha256//}" localhost "$CLOSED"
	WANT="--pin sha256//${good:8:20}!${good:29}: '!' is not a base64 character" \
		why --pin "sha256//${good:8:20}!${good:29}" localhost "$CLOSED"
	WANT="--pin sha256//${good:8:20}-${good:29}: '-' is not a base64 character (base64url? a pin uses + and /)" \
		why --pin "sha256//${good:8:20}-${good:29}" localhost "$CLOSED"
	# a message stays one line, whatever the value holds
	WANT="--pin $good?: byte 0x0a is not a base64 character" why --pin "$good"$'\n' localhost "$CLOSED"
	WANT="--pin ${good%=}: 43 base64 characters after sha256//, expected 44 (a SHA-256 is 32 bytes)" \
		why --pin "${good%=}" localhost "$CLOSED"
	WANT="--pin ${good}AAAA: 48 base64 characters after sha256//, expected 44 (a SHA-256 is 32 bytes)" \
		why --pin "${good}AAAA" localhost "$CLOSED"
	WANT="--pin sha256//: 0 base64 characters after sha256//, expected 44 (a SHA-256 is 32 bytes)" \
		why --pin "sha256//" localhost "$CLOSED"
	WANT="--pin ${good:0:50}==: not the base64 of 32 bytes (44 characters, only the last one '=')" \
		why --pin "${good:0:50}==" localhost "$CLOSED"
	WANT="--pin ${good:0:20}=${good:21}: not the base64 of 32 bytes (44 characters, only the last one '=')" \
		why --pin "${good:0:20}=${good:21}" localhost "$CLOSED"
	# the well-formed pin gets as far as connecting; a ninth is one too many
	run --separate-stderr timeout 10 "$TP" --pin "$good" localhost "$CLOSED" </dev/null
	assert_equal "$status" 3
	local -a many=()
	for _ in 1 2 3 4 5 6 7 8 9; do
		many+=(--pin "$good")
	done
	WANT="--pin: at most 8 pins" why "${many[@]}" localhost "$CLOSED"
}

# ---- --alpn ----

@test "--alpn: a 255-byte name is offered and agreed, 256 bytes, an empty name and a list over the wire limit are refused" {
	local n255 n256 big
	n255=$(printf 'a%.0s' {1..255})
	n256=${n255}b
	tp_server --alpn "x,$n255"
	run --separate-stderr timeout 20 "$TP" -v --pin "$PIN" --alpn "$n255" localhost "$PORT" </dev/null
	assert_success
	stderr_has "ALPN $n255"
	wait_server
	assert_equal "$SRV_RC" 0

	closed_port
	WANT="--alpn (a list of 256 bytes): protocol name 1 is 256 bytes long (at most 255)" \
		why --alpn "$n256" localhost "$CLOSED"
	WANT="--alpn (a list of 259 bytes): protocol name 2 is 256 bytes long (at most 255)" \
		why --alpn "h2,$n256" localhost "$CLOSED"
	WANT="--alpn ,h2: protocol name 1 is empty" why --alpn ",h2" localhost "$CLOSED"
	WANT="--alpn h2,: protocol name 2 is empty" why --alpn "h2," localhost "$CLOSED"
	WANT="--alpn h2,,http/1.1: protocol name 2 is empty" why --alpn "h2,,http/1.1" localhost "$CLOSED"
	WANT="--alpn ,: protocol name 1 is empty" why --alpn "," localhost "$CLOSED"
	# names of 255 bytes take 256 on the wire: 253 of them and one of 231
	# bytes are 65000, the limit; one byte more is refused
	big=$(printf "$n255,%.0s" {1..253})
	WANT="--alpn (a list of 65000 bytes): the list is 65001 bytes on the wire (each name and its length byte), at most 65000" \
		why --alpn "$big$(printf 'b%.0s' {1..232})" localhost "$CLOSED"
	# the limit itself is offered in a real handshake
	big=$big$(printf 'b%.0s' {1..231})
	tp_server
	run --separate-stderr timeout 20 "$TP" --pin "$PIN" --alpn "$big" localhost "$PORT" </dev/null
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
}

# ---- files of the wrong kind ----

@test "--cert and --key given files of the wrong kind say what the file holds" {
	local csr=$BATS_FILE_TMPDIR/ed448.csr
	closed_port
	WANT="--cert $CERTS/server.key: no certificate in the file (it holds a PRIVATE KEY)" \
		why --cert "$CERTS/server.key" localhost "$CLOSED"
	WANT="--cert $csr: no certificate in the file (it holds a CERTIFICATE REQUEST)" \
		why --cert "$csr" --key "$CERTS/server.key" localhost "$CLOSED"
	WANT="--key $csr: no private key in the file" why --cert "$CERTS/server.pem" --key "$csr" localhost "$CLOSED"
	: >"$T/empty.pem"
	WANT="--cert $T/empty.pem: not PEM (no -----BEGIN line)" why --cert "$T/empty.pem" localhost "$CLOSED"
	mkdir "$T/certdir"
	WANT="--cert $T/certdir: a directory, not a file" why --cert "$T/certdir" localhost "$CLOSED"
	# a damaged body inside a CERTIFICATE block
	sed '3s/^..../!!!!/' "$CERTS/server.pem" >"$T/damaged.pem"
	WANT="--cert $T/damaged.pem: a damaged PEM block: " why --cert "$T/damaged.pem" --key "$CERTS/server.key" \
		localhost "$CLOSED"
	# trust anchors of the wrong kind
	WANT="--cafile $CERTS/server.key: no certificate could be loaded" why --cafile "$CERTS/server.key" localhost "$CLOSED"
	WANT="--capath $CA: not a directory" why --capath "$CA" localhost "$CLOSED"
}

@test "keys TLS cannot use are refused at start; Ed448 and Ed25519 work, DSA only as a TLS 1.2 client's" {
	local d=$BATS_FILE_TMPDIR k
	closed_port
	WANT="--cert $d/x25519.pem: its key is X25519, which TLS cannot sign with" \
		why --cert "$d/x25519.pem" --key "$d/x25519.key" localhost "$CLOSED"
	WANT="--cert $d/x448.pem: its key is X448, which TLS cannot sign with" \
		why -l --cert "$d/x448.pem" --key "$d/x448.key" 0
	WANT="--cert $d/rsa512.pem: its RSA key of 512 bits is too weak for OpenSSL's security level" \
		why --cert "$d/rsa512.pem" --key "$d/rsa512.key" localhost "$CLOSED"
	# Ed448 and Ed25519 sign TLS 1.3 handshakes
	for k in ed448 ed25519; do
		tp_server --cert "$d/$k.pem" --key "$d/$k.key"
		run --separate-stderr tpq --on-eof=notify --stats=- localhost "$PORT" <<<"hello"
		assert_success
		stderr_has '"protocol":"TLSv1.3"'
		wait_server
		assert_equal "$SRV_RC" 0
		assert_equal "$(cat "$T/srv.out")" hello
	done
	# DSA: OpenSSL 3.0 signs no TLS 1.3 handshake with it, and offers a
	# server no DSA cipher suite for TLS 1.2; only a TLS 1.2 client can use it
	WANT="--cert $d/dsa.pem: its key is DSA, which a server cannot use (TLS 1.3 has no DSA, and OpenSSL offers no DSA cipher suite for TLS 1.2)" \
		why -l --cert "$d/dsa.pem" --key "$d/dsa.key" 0
	WANT="--cert $d/dsa.pem: its key is DSA, which TLS 1.3 cannot sign with: add --max-tls 1.2" \
		why --cert "$d/dsa.pem" --key "$d/dsa.key" localhost "$CLOSED"
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key" --verify-client --cafile "$CA"
	run --separate-stderr tpq --on-eof=notify --max-tls 1.2 --cert "$d/dsa.pem" --key "$d/dsa.key" \
		localhost "$PORT" <<<"hello"
	assert_success
	wait_server
	assert_equal "$SRV_RC" 0
	assert_equal "$(cat "$T/srv.out")" hello
}
