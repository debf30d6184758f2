# Loaded by 61-rekey-*.bats, 62-*, 63-*: the rekeying matrix. Every write
# mode of both roles moves its payload exactly (2 MiB in `make check`, 16 MiB
# in `make check-full`) while either side updates keys (TLS 1.3) or
# renegotiates (TLS 1.2) every 100,000 bytes, as often as that asks (within
# one of floor(bytes moved / 100,000)). check-full runs every mode in every
# case; make check two of the eight per case, another two in each of a
# file's four cases (TLS 1.3 or 1.2, one side or the other rekeys): every
# mode rekeys once per file.

# the write modes every matrix below runs, in both roles
MODES=("" "-b" "-P" "-R" "--io=bio-pair" "-b -P -R" "--io=bio-pair -P -R" "-s 1000")
SIZE=$((${TP_FULL:-0} == 1 ? 16777216 : 2097152))
# rekey every 100,000 bytes: not a divisor of the 128 KiB reads and writes,
# so a count that a large write or read carries past a mark shows
EVERY=100000
XFER=30       # seconds for one transfer: 1-2 s even at a load of 10 on 2 cores; a hang is what it catches

# rekey_opt 1.3|1.2: tlspipe's rekey flag for that version, in RK
rekey_opt() {
	if [ "$1" = 1.3 ]; then
		RK=--key-update-every=$EVERY
	else
		RK=--renegotiate-every=$EVERY
	fi
}

# ---- the rekeying matrix ----
# Each case returns non-zero and says why, naming the mode; matrix runs every
# mode, then fails listing all the modes that failed.

# why CASE: the end of both sides' stderr, after a failed case
why() {
	echo "FAILED: $1"
	echo "  client stderr:"
	tail -n 5 "$T/cli.err" 2>/dev/null | sed 's/^/    /'
	echo "  server stderr:"
	tail -n 5 "$T/srv.err" 2>/dev/null | sed 's/^/    /'
	return 1
}

# rekeys FILE: the counts of a --stats JSON line (flat, one line), in
# REKEYS and PEER_REKEYS; read by bash (a jq is a process per file)
rekeys() {
	local json= re1='"rekeys":([0-9]+)' re2='"peer_rekeys":([0-9]+)'
	local re3='"bytes_in":([0-9]+),"bytes_out":([0-9]+)'
	REKEYS= PEER_REKEYS= WANT_REKEYS=
	IFS= read -r json <"$1" || true
	[[ $json =~ $re1 ]] && REKEYS=${BASH_REMATCH[1]}
	[[ $json =~ $re2 ]] && PEER_REKEYS=${BASH_REMATCH[1]}
	[[ $json =~ $re3 ]] && WANT_REKEYS=$(((BASH_REMATCH[1] + BASH_REMATCH[2]) / EVERY))
	return 0
}

# exact_rekeys: REKEYS within 1 of WANT_REKEYS (after rekeys FILE), the
# count the man page promises. With BEHIND=1 (a TLS 1.2 side that only
# receives: it cannot hold back what arrives during a renegotiation's round
# trip) the count may fall behind, but never runs ahead.
exact_rekeys() {
	at_least "$REKEYS" 1 && at_least "$WANT_REKEYS" 0 && [ "$REKEYS" -le $((WANT_REKEYS + 1)) ] &&
		{ [ "${BEHIND:-0}" = 1 ] || [ "$REKEYS" -ge $((WANT_REKEYS - 1)) ]; }
}

# at_least VALUE MIN: VALUE is a number >= MIN
at_least() {
	[[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ]
}

# outcome CASE WHO RC SIDE RC FILE: both exited 0 and FILE holds exactly
# $T/in; else say what failed in which case
outcome() {
	local what=$1
	if [ "$3" != 0 ]; then
		echo "$2 exited $3, expected 0"
	elif [ "$5" != 0 ]; then
		echo "$4 exited $5, expected 0"
	elif ! cmp -s "$6" "$T/in"; then
		echo "${6##*/}: $(stat -c %s "$6") bytes, not the $(stat -c %s "$T/in") sent, or other bytes"
	else
		return 0
	fi
	why "$what"
}

# rekey_counts CASE TRIGGER OTHER: the side that rekeys counted one rekey per
# EVERY bytes moved (within 1) and initiated them alone; the other side
# counted peer_rekeys >= 1
rekey_counts() {
	local tr want ok=0 ot op
	rekeys "$2"
	tr=$REKEYS want=$WANT_REKEYS
	exact_rekeys || ok=1
	rekeys "$3"
	ot=$REKEYS op=$PEER_REKEYS
	[ "$ok" = 0 ] && [ "$ot" = 0 ] && at_least "$op" 1 && return 0
	echo "${2##*/}: rekeys=$tr, expected $want (within 1); ${3##*/}: rekeys=$ot, expected 0, peer_rekeys=$op, expected >= 1"
	why "$1"
}

# give_rekey TLS WHO: the rekey flag to WHO (server|client), in the caller's
# sopts or copts; a TLS 1.2 server then accepts the client's renegotiation
give_rekey() {
	rekey_opt "$1"
	if [ "$2" = server ]; then
		sopts+=("$RK")
	else
		copts+=("$RK")
		[ "$1" = 1.3 ] || sopts+=(--allow-client-renegotiation)
	fi
}

# counts_for CASE WHO: rekey_counts with WHO (server|client) as the side that rekeys
counts_for() {
	if [ "$2" = server ]; then
		rekey_counts "$1" "$T/srv.json" "$T/cli.json"
	else
		rekey_counts "$1" "$T/cli.json" "$T/srv.json"
	fi
}

# upload TLS WHO MODE: SIZE bytes from a tlspipe client in MODE into tlspipe -l
# (ephemeral identity, pinned by the client); WHO (server|client) rekeys
upload() {
	local tls=$1 who=$2 mode=$3
	local what="upload, client mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a sopts copts
	read -ra copts <<<"$mode"
	sopts=(--max-tls="$tls" --stats="$T/srv.json")
	copts+=(--stats="$T/cli.json")
	give_rekey "$tls" "$who"
	: >"$T/srv.json"
	: >"$T/cli.json"
	tp_server "${sopts[@]}" || { why "$what: server did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" --pin "$PIN" "${copts[@]}" localhost "$PORT" \
		<"$T/in" >/dev/null 2>"$T/cli.err" || rc=$?
	end_server 5
	outcome "$what" client "$rc" server "$SRV_RC" "$T/srv.out" || return 1
	counts_for "$what" "$who"
}

# download TLS WHO MODE: SIZE bytes from tlspipe -l in MODE (--cert, its stdin)
# to a tlspipe client (--cafile, its stdout); WHO (server|client) rekeys.
# The client sends nothing and waits (--on-eof=wait): a TLS 1.2 client that
# had sent close_notify could not answer a renegotiation any more.
download() {
	local tls=$1 who=$2 mode=$3
	local what="download, server mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a sopts copts
	read -ra sopts <<<"$mode"
	sopts+=(--cert "$CERTS/server.pem" --key "$CERTS/server.key" --max-tls="$tls"
		--on-eof=notify --stats="$T/srv.json")
	copts=(--cafile "$CA" --on-eof=wait --stats="$T/cli.json")
	give_rekey "$tls" "$who"
	: >"$T/srv.json"
	: >"$T/cli.json"
	rm -f "$T/slow"
	local src="$T/in" feeder=
	if [ "$who" = client ] && [ "$tls" = 1.2 ]; then
		# TLS 1.2 cannot close while a renegotiation is under way: a
		# server whose close_notify crosses the client's ClientHello can
		# never be answered (see CAVEATS in the man page). The server's
		# stdin pauses after the data, so the client's last one ends first.
		mkfifo "$T/slow"
		{ cat "$T/in"; nap 1; } >"$T/slow" 3>&- &
		feeder=$!
		BG+=("$feeder")
		src="$T/slow"
	fi
	local BEHIND=0
	[ "$who" = client ] && [ "$tls" = 1.2 ] && BEHIND=1
	SRV_STDIN="$src" tp_server "${sopts[@]}" || { why "$what: server did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" "${copts[@]}" localhost "$PORT" \
		</dev/null >"$T/cli.out" 2>"$T/cli.err" || rc=$?
	end_server 5
	[ -z "$feeder" ] || reap "$feeder" 5
	outcome "$what" client "$rc" server "$SRV_RC" "$T/cli.out" || return 1
	counts_for "$what" "$who"
}

# both_ways TLS WHO MODE: SIZE bytes up and the same back at once through
# the echo peer, tlspipe in MODE; WHO (peer|client) rekeys
both_ways() {
	local tls=$1 who=$2 mode=$3
	local what="both ways through echo, client mode [${mode:-default}], TLS $tls, the $who rekeys"
	local -a popts copts
	read -ra copts <<<"$mode"
	copts+=(--cafile "$CA" --stats="$T/cli.json")
	popts=(--mode echo --tls "$tls")
	if [ "$who" = peer ]; then
		if [ "$tls" = 1.3 ]; then
			popts+=(--key-update-every "$EVERY")
		else
			popts+=(--renegotiate-every "$EVERY")
		fi
	else
		rekey_opt "$tls"
		copts+=("$RK")
		[ "$tls" = 1.3 ] || popts+=(--allow-client-reneg)
	fi
	: >"$T/cli.json"
	peer "${popts[@]}" || { why "$what: peer did not start"; return 1; }
	local rc=0
	timeout "$XFER" "$TP" "${copts[@]}" localhost "$PORT" \
		<"$T/in" >"$T/cli.out" 2>"$T/cli.err" || rc=$?
	end_server 5
	outcome "$what" client "$rc" peer "$SRV_RC" "$T/cli.out" || return 1
	if ! has "$T/srv.out" "sha256=$IN_SHA bytes=$SIZE close_notify=1"; then
		echo "the peer's report is not sha256=$IN_SHA bytes=$SIZE close_notify=1: $(<"$T/srv.out")"
		why "$what"
		return 1
	fi
	rekeys "$T/cli.json"
	if [ "$who" = peer ]; then
		[[ $(<"$T/srv.out") =~ rekeys=[1-9] ]] && at_least "$PEER_REKEYS" 1 && return 0
		echo "the peer's report has no rekeys, or cli.json peer_rekeys=$PEER_REKEYS, expected >= 1"
	else
		exact_rekeys && return 0
		echo "cli.json: rekeys=$REKEYS, expected $WANT_REKEYS (within 1): one per $EVERY bytes moved"
	fi
	why "$what"
}

# matrix CASE TLS WHO: CASE in every mode of MODES (make check: in modes i
# and 7 - i, i from TLS and WHO: 0 to 3 over a file's four cases)
matrix() {
	local m i=0
	local -a failed=() modes=("${MODES[@]}")
	if ! full; then
		[ "$2" = 1.3 ] || i=1
		[ "$3" != client ] || i=$((i + 2))
		modes=("${MODES[i]}" "${MODES[7 - i]}")
	fi
	random_file "$T/in" "$SIZE"
	IN_SHA=$(sha "$T/in")
	for m in "${modes[@]}"; do
		"$1" "$2" "$3" "$m" || failed+=("[${m:-default}]")
	done
	if [ "${#failed[@]}" -gt 0 ]; then
		echo "$1 TLS $2, the $3 rekeys: failed in ${#failed[@]} of ${#modes[@]} modes: ${failed[*]}"
		return 1
	fi
}
