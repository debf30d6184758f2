#!/usr/bin/env bats
# Interactive use: stdin stays open, and each line goes out (and its echo
# comes back) at once, not when stdin ends; a server that speaks first is
# heard before any stdin is given.
load helpers

# type_line TEXT: one line on tlspipe's still-open stdin
type_line() {
	printf '%s\n' "$1" >&"$HOLD"
}

# start_tp ARGS...: tlspipe in the background, stdin the held fifo,
# stdout $T/out, stderr $T/err
start_tp() {
	: >"$T/out"
	"$TP" --cafile "$CA" "$@" <"$T/stdin" >"$T/out" 2>"$T/err" 3>&- {HOLD}>&- &
	TP_PID=$!
	BG+=("$TP_PID")
}

# out_is TEXT MS: tlspipe's stdout becomes exactly TEXT within MS
out_is() {
	wait_until "$2" out_now "$1" && return 0
	echo "after $2 ms stdout is not \"$1\" but:"
	cat "$T/out"
	echo "stderr:"
	cat "$T/err"
	return 1
}

# out_now TEXT: tlspipe's stdout is exactly TEXT (as $(cat) would give it:
# without its last newlines)
out_now() {
	local data=
	IFS= read -r -d '' data <"$T/out" || true
	while [[ $data == *$'\n' ]]; do data=${data%$'\n'}; done
	[ "$data" = "$1" ]
}

# finish: end stdin; tlspipe must then exit 0
finish() {
	end_stdin
	reap "$TP_PID" 5
	assert_equal "$RC" 0
}

@test "a line typed on an open stdin reaches an echo server and comes back at once" {
	peer --mode echo
	hold_stdin
	start_tp localhost "$PORT"
	type_line hello
	out_is hello 5000
	finish
	wait_server
	grep -q 'bytes=6 close_notify=1' "$T/srv.out"
}

@test "two lines typed 0.5 s apart each come back before the next is typed" {
	peer --mode echo
	hold_stdin
	start_tp localhost "$PORT"
	type_line one
	out_is one 5000
	nap 0.5	# "two" comes when "one" has long been back
	type_line two
	out_is "$(printf 'one\ntwo')" 5000
	finish
}

@test "a server that speaks first is printed before any stdin is given" {
	peer --mode speak-first --text $'banner\n'
	hold_stdin
	start_tp localhost "$PORT"
	out_is banner 5000
	type_line "after the banner"
	out_is "$(printf 'banner\nafter the banner')" 5000
	finish
}

@test "a server that speaks first over TLS 1.2 is printed before any stdin is given" {
	peer --mode speak-first --tls 1.2 --text $'banner\n'
	hold_stdin
	start_tp localhost "$PORT"
	out_is banner 5000
	finish
}

@test "a typed line comes back at once in every write mode" {
	local m
	# the default mode: the tests above; make check-full: every mode
	local -a modes=("-b" "--io=bio-pair -R -P" "-s 3")
	if full; then modes=("" "-b" "-P" "-R" "--io=bio-pair" "--io=bio-pair -R -P" "-b -P -R" "-s 3"); fi
	for m in "${modes[@]}"; do
		peer --mode echo
		hold_stdin
		# shellcheck disable=SC2086
		start_tp $m localhost "$PORT"
		type_line "mode [$m]"
		out_is "mode [$m]" 5000
		type_line "again"
		out_is "$(printf 'mode [%s]\nagain' "$m")" 5000
		finish
		wait_server
	done
}
