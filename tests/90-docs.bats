#!/usr/bin/env bats
# The man page, the completions, --help, -V and make install never drift apart.
load helpers

MAN="$TOP/man/tlspipe.1"
BASHC="$TOP/completions/tlspipe.bash"
ZSHC="$TOP/completions/_tlspipe"
FISHC="$TOP/completions/tlspipe.fish"

# The checks below read each file once into a variable and match it with
# [[ =~ ]]: a grep per option would be a fork per option. On a whole text,
# $ is the end of the text only, so the patterns say "( |\n|$)" where grep,
# line by line, would say "( |$)", and "\n" for ^; [^a-z] matches a newline
# as well, and [[:blank:]] stands for grep's [[:space:]] within a line.

# the long options --help lists, one per line, without the dashes
help_long_options() {
	"$TP" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sed 's/^--//' | sort -u
}

# the short options --help lists (-b, -4, ...), without the dash
help_short_options() {
	"$TP" --help | grep -oE -- '(^|[ ,])-[A-Za-z0-9]([ ,]|$)' | tr -d ' ,-' | sort -u
}

# slurp VAR FILE: FILE's text into VAR (no fork)
slurp() {
	IFS= read -r -d '' "$1" <"$2" || true
}

# man_text: the man page as text, in $T/man.txt and MANTXT
man_text() {
	mandoc -Tascii "$MAN" | col -b >"$T/man.txt"
	slurp MANTXT "$T/man.txt"
}

# missing_in FILE FORMAT: print each long option whose pattern (FORMAT with
# %s for the name, an extended regexp) does not match FILE
missing_in() {
	local format=$2 o re text
	slurp text "$1"
	for o in $(help_long_options); do
		# shellcheck disable=SC2059
		printf -v re -- "$format" "$o"
		[[ $text =~ $re ]] || echo "--$o"
	done
}

@test "--help lists long options (the drift tests below are not vacuous)" {
	run help_long_options
	assert_success
	assert_line blocking
	assert_line io
	# the options that came with pins, rekeying and diagnostics
	local o
	for o in pin verify-client key-update-every renegotiate-every allow-client-renegotiation \
		no-renegotiation trace stats progress keylog idle-timeout on-eof eof-grace; do
		assert_line "$o"
	done
	assert [ "${#lines[@]}" -ge 35 ]
}

@test "every long option of --help is in the man page" {
	man_text
	run missing_in "$T/man.txt" '--%s([^a-z0-9-]|$)'
	assert_success
	assert_output ''
}

@test "every long option of --help is in the bash completion" {
	run missing_in "$BASHC" '--%s([^a-z0-9-]|$)'
	assert_success
	assert_output ''
}

@test "every long option of --help is in the zsh completion" {
	run missing_in "$ZSHC" '--%s([^a-z0-9-]|$)'
	assert_success
	assert_output ''
}

@test "every long option of --help is in the fish completion" {
	run missing_in "$FISHC" '(-l|--long-option) %s( |\n|$)'
	assert_success
	assert_output ''
}

@test "every short option of --help is in the man page and the three completions" {
	local o re missing= bash zsh fish
	man_text
	slurp bash "$BASHC"
	slurp zsh "$ZSHC"
	slurp fish "$FISHC"
	for o in $(help_short_options); do
		re="(^|[^a-z0-9-])-$o([^a-zA-Z0-9-]|\$)"
		[[ $MANTXT =~ $re ]] || missing+=" man:-$o"
		[[ $bash =~ $re ]] || missing+=" bash:-$o"
		[[ $zsh =~ $re ]] || missing+=" zsh:-$o"
		re="-s $o( |"$'\n'"|\$)"
		[[ $fish =~ $re ]] || missing+=" fish:-$o"
	done
	assert_equal "$missing" ''
}

@test "every --stats key, signal and environment variable is in the man page (and the keys in the README)" {
	man_text
	# a usage error still writes the JSON line (to stderr with -): its keys are the real ones
	run bash -c "'$TP' --stats=- --write-size=0 localhost 1 2>&1 >/dev/null | grep '^{'"
	assert_success
	local -a keys
	local k re readme missing=
	mapfile -t keys < <(jq -r 'keys_unsorted[]' <<<"$output")
	assert [ "${#keys[@]}" -ge 19 ]
	slurp readme "$TOP/README.md"
	for k in "${keys[@]}"; do
		re="(^|[^a-z_])${k}([^a-z_]|\$)"
		[[ $MANTXT =~ $re ]] || missing+=" $k"
		[[ $readme == *"\`${k}\`"* ]] || missing+=" README:$k"
	done
	for k in SIGUSR1 SIGINT SIGTERM SIGHUP SSLKEYLOGFILE; do
		[[ $MANTXT == *"$k"* ]] || missing+=" $k"
	done
	assert_equal "$missing" ''
}

@test "the man page has the sections and examples the issues ask for" {
	man_text
	local s re exit missing= nl=$'\n'
	# whole lines: between two newlines
	local lines="$nl$MANTXT$nl"
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT 'EXIT STATUS' EXAMPLES \
		DIAGNOSTICS 'SEE ALSO' STANDARDS CAVEATS; do
		[[ $lines == *"$nl$s$nl"* ]] || missing+=" section:$s"
	done
	# every exit status of --help has an entry
	sed -n '/^EXIT STATUS$/,/^EXAMPLES$/p' "$T/man.txt" >"$T/exit.txt"
	slurp exit "$T/exit.txt"
	exit=$nl$exit
	for s in 0 1 2 3 4 5 6 "128[+]n"; do
		re="$nl +$s([[:space:]]|\$)"
		[[ $exit =~ $re ]] || missing+=" exit:$s"
	done
	for s in 'Connection: close' '--pin sha256//' '--keylog=' '--stats=- ' 'jq ' 'stash' \
		'WANT_READ' 'WANT_WRITE' 'SSL_MODE_AUTO_RETRY' 'BIO pair' 'bad length' \
		'listening on 127.0.0.1:40123 pin sha256//' '--eof-grace=3' '--on-eof=notify' \
		'nginx' 'Dovecot' 'OPENSSL-LISTEN' 'gnutls-serv --echo'; do
		[[ $MANTXT == *"$s"* ]] || missing+=" text:'$s'"
	done
	# --on-eof: every value --help names is described, and "Endings" says who needs which
	for s in auto notify wait exit; do
		re="$nl[[:blank:]]+$s[[:blank:]]+[A-Z]"
		[[ $lines =~ $re ]] || missing+=" on-eof:$s"
	done
	[[ $lines == *"$nl   Endings$nl"* ]] || missing+=" subsection:Endings"
	# the one table of endings: what each exit 0 proves, and 5 and 1
	re="$nl[[:blank:]]+Exit[[:blank:]]+How it ended[[:blank:]]+What that proves"
	[[ $exit =~ $re ]] || missing+=" exit-table"
	assert_equal "$missing" ''
}

@test "--help, the man page and the completions agree on the values of --on-eof" {
	local vals
	vals=$("$TP" --help | sed -n 's/.*--on-eof=\([a-z|]*\).*/\1/p' | tr '|' ' ')
	assert_equal "$vals" 'auto notify wait exit'
	mandoc -Tascii "$MAN" | col -b >"$T/man.txt"
	grep -qF -e '--on-eof=auto | notify | wait | exit' "$T/man.txt"
	grep -qF -e "compgen -W '$vals'" "$BASHC"
	local v
	for v in $vals; do
		grep -qE -e "\(\(.*$v\\\\:" "$ZSHC" || { echo "zsh lacks $v"; return 1; }
		grep -qE -e "-l on-eof .*'.*$v\\\\t" "$FISHC" || { echo "fish lacks $v"; return 1; }
	done
}

@test "the man page is clean under mandoc -Tlint -Wwarning" {
	run mandoc -Tlint -Wwarning "$MAN"
	assert_success
	assert_output ''
}

@test "bash -n parses the bash completion" {
	run bash -n "$BASHC"
	assert_success
	assert_output ''
}

@test "zsh -n parses the zsh completion" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run zsh -n "$ZSHC"
	assert_success
	assert_output ''
}

@test "fish -n parses the fish completion" {
	command -v fish >/dev/null || skip "fish is not installed"
	run fish -n "$FISHC"
	assert_success
	assert_output ''
}

# complete WORD...: run the bash completion on a command line whose last word
# is the one being completed; prints the candidates, one per line
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_tlspipe || true
	printf '%s\n' "${COMPREPLY[@]}"
}

@test "the bash completion offers bio-pair after --io= and --io" {
	# shellcheck source=../completions/tlspipe.bash
	source "$BASHC"
	# "--io=" as bash splits it by COMP_WORDBREAKS: --io, =, ""
	run complete_words tlspipe --io = ''
	assert_success
	assert_line bio-pair
	assert_line socket
	assert_equal "${#lines[@]}" 2
	# "--io=b", split
	run complete_words tlspipe --io = b
	assert_output bio-pair
	# "--io " then a separate word
	run complete_words tlspipe -v --io ''
	assert_line bio-pair
	# "--io=" unsplit (COMP_WORDBREAKS without "="): the whole word comes back
	run complete_words tlspipe --io=
	assert_line --io=bio-pair
}

@test "the bash completion offers the fixed values of --min-tls, --max-tls and --on-eof" {
	source "$BASHC"
	run complete_words tlspipe --min-tls ''
	assert_output "$(printf '1.0\n1.1\n1.2\n1.3')"
	run complete_words tlspipe --max-tls = 1.
	assert_output "$(printf '1.0\n1.1\n1.2\n1.3')"
	run complete_words tlspipe --on-eof = ''
	assert_output "$(printf 'auto\nnotify\nwait\nexit')"
	run complete_words tlspipe --on-eof a
	assert_output auto
}

@test "the bash completion takes the word after --eof-grace as its value, not the host" {
	source "$BASHC"
	run complete_words tlspipe --eof-
	assert_output --eof-grace=
	run complete_words tlspipe --eof-grace ''
	assert_success
	assert_output ''
	# the host completion starts after the value: "2" is not the host
	run complete_words tlspipe --eof-grace 2 localh
	assert_output localhost
	run complete_words tlspipe --eof-grace = 2 localh
	assert_output localhost
}

@test "the bash completion completes files after --cafile and long options after --" {
	source "$BASHC"
	: >"$T/some-ca.pem"
	run complete_words tlspipe --cafile "$T/some-"
	assert_output "$T/some-ca.pem"
	run complete_words tlspipe --no-auto
	assert_output --no-auto-retry
}

@test "the bash completion completes files after --cert, --key, --keylog and --stats, directories after --capath" {
	source "$BASHC"
	mkdir "$T/some-dir"
	: >"$T/some-file"
	local o
	for o in --cert --key --keylog --stats; do
		run complete_words tlspipe "$o" "$T/some-f"
		assert_output "$T/some-file"
		run complete_words tlspipe "$o" = "$T/some-f"
		assert_output "$T/some-file"
	done
	run complete_words tlspipe --capath "$T/some-"
	assert_output "$T/some-dir"
	# the value of an option is not taken for the host operand
	run complete_words tlspipe --stats "$T/some-file" --keylog=k.log --pin sha256//x loc
	assert_success
	refute_output --partial "$T"
}

@test "the fish completion offers values and files where the options take them" {
	command -v fish >/dev/null || skip "fish is not installed"
	mkdir "$T/fish" && cd "$T/fish"
	: >keys.log
	mkdir cadir
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --on-eof '"
	assert_line --regexp '^auto'
	assert_line --regexp '^notify'
	assert_line --regexp '^wait'
	assert_line --regexp '^exit'
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --min-tls '"
	assert_line --regexp '^1\.3'
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --io='"
	assert_line --regexp '^--io=bio-pair'
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --keylog k'"
	assert_line --regexp '^keys\.log'
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --stats k'"
	assert_line --regexp '^keys\.log'
	run fish -N -c "source '$FISHC'; complete -C 'tlspipe --capath '"
	assert_line --regexp '^cadir/'
	refute_line --regexp '^keys\.log'
}

# readme_script NAME: the ```sh block that follows "Save this as `NAME`" in README.md
readme_script() {
	awk -v name="$1" '
		index($0, "Save this as `" name "`") { found = 1 }
		found && /^```sh$/ { on = 1; next }
		on && /^```$/ { exit }
		on { print }
	' "$TOP/README.md"
}

# tp_listen [options]: a tlspipe server with the test certificate (SRV_STDIN as its stdin)
tp_listen() {
	tp_server --cert "$CERTS/server.pem" --key "$CERTS/server.key" "$@"
}

# readme_run SCRIPT ARGS...: run a README script as the README does, tlspipe on PATH
readme_run() {
	run env PATH="$TOP:$PATH" timeout 60 sh "$@"
}

@test "the README's smoke.sh passes on 200 and a clean close, and fails when tlspipe or the reply does" {
	readme_script smoke.sh >"$T/smoke.sh"
	grep -q '^#!/bin/sh' "$T/smoke.sh"
	grep -q 'tlspipe ' "$T/smoke.sh"
	cd "$T"
	printf 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n' >"$T/reply.http"

	# the README's local run: a server that answers and sends close_notify at once
	SRV_STDIN="$T/reply.http" tp_listen --on-eof=notify
	local port=$PORT
	readme_run smoke.sh localhost "$PORT" --cafile "$CA"
	assert_success
	assert_output 'smoke test passed'
	end_server 5
	assert_equal "$SRV_RC" 0
	grep -q '^GET /healthz HTTP/1.1' "$T/srv.out"

	# that server has gone: nothing listens on its port, tlspipe exits 3
	readme_run smoke.sh localhost "$port" --cafile "$CA"
	assert_failure 1
	assert_line --partial 'cannot connect'
	assert_line 'smoke test failed: tlspipe exit 3'

	# 200, then a TCP FIN without close_notify: the reply looks right, but
	# the run is truncated (exit 5), and the script must not pass
	peer --mode send --truncate --text "$(cat "$T/reply.http")"
	readme_run smoke.sh localhost "$PORT" --cafile "$CA"
	assert_failure 1
	assert_line 'smoke test failed: tlspipe exit 5'
	refute_line 'smoke test passed'
	head -n 1 reply | grep -q '^HTTP/1\.1 200 '	# grep alone would have passed
	end_server 5

	# a clean close, but not 200
	printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' \
		>"$T/reply.http"
	SRV_STDIN="$T/reply.http" tp_listen --on-eof=notify
	readme_run smoke.sh localhost "$PORT" --cafile "$CA"
	assert_failure 1
	assert_output 'smoke test failed: HTTP/1.1 503 Service Unavailable'
	end_server 5
	assert_equal "$SRV_RC" 0

	# an untrusted certificate: nothing is sent
	SRV_STDIN="$T/reply.http" tp_listen --on-eof=notify
	readme_run smoke.sh localhost "$PORT"
	assert_failure 1
	assert_line 'smoke test failed: tlspipe exit 4'
	end_server 5
	assert_equal "$SRV_RC" 4
	assert [ ! -s "$T/srv.out" ]
}

@test "the README's upload.sh delivers a file exactly, and says so when the certificate check fails" {
	readme_script upload.sh >"$T/upload.sh"
	grep -q 'tlspipe ' "$T/upload.sh"
	cd "$T"
	random_file "$T/in" 300000

	# the README's local run: a tlspipe -l sink, the server's exit status checked
	tp_listen
	readme_run upload.sh in localhost "$PORT" --cafile "$CA"
	assert_success
	assert_output 'sent 300000 bytes, reply in reply.txt'
	end_server 10
	assert_equal "$SRV_RC" 0
	cmp "$T/in" "$T/srv.out"

	# without --cafile the local CA is not trusted: nothing arrives
	tp_listen
	readme_run upload.sh in localhost "$PORT"
	assert_failure 1
	assert_line 'TLS handshake or certificate check failed, nothing sent'
	end_server 5
	assert_equal "$SRV_RC" 4
	assert [ ! -s "$T/srv.out" ]
}

@test "make install DESTDIR=... PREFIX=/usr puts the binary, the page and the completions in place" {
	local san=
	[ -e "$TOP/src/.build-san" ] && san=SANITIZE=1
	# what is installed is what was tested: nothing may be rebuilt here
	run make -s -C "$TOP" -q tlspipe $san
	assert_success
	run make -s -C "$TOP" install DESTDIR="$T/root" PREFIX=/usr $san
	assert_success
	local r=$T/root/usr
	assert [ -x "$r/bin/tlspipe" ]
	cmp "$TOP/tlspipe" "$r/bin/tlspipe"
	cmp "$MAN" "$r/share/man/man1/tlspipe.1"
	cmp "$BASHC" "$r/share/bash-completion/completions/tlspipe"
	cmp "$ZSHC" "$r/share/zsh/site-functions/_tlspipe"
	cmp "$FISHC" "$r/share/fish/vendor_completions.d/tlspipe.fish"
	run "$r/bin/tlspipe" -V
	assert_success
}

@test "tlspipe -V prints the tlspipe version and the OpenSSL 3 it runs on" {
	local v
	v=$(sed -n 's/^#define TP_VERSION "\(.*\)"$/\1/p' "$TOP/src/tlspipe.h")
	[ -n "$v" ]
	run "$TP" -V
	assert_success
	assert_output --regexp "^tlspipe $v \\(OpenSSL 3\\.[0-9]+\\.[0-9]+.*; sandbox: (seccomp, landlock|none in this build)\\)$"
	assert_equal "${#lines[@]}" 1
	run "$TP" --version
	assert_output --regexp "^tlspipe $v \\(OpenSSL 3\\."
}

@test "--help fits one screen: at most 60 lines, none wider than 80 columns" {
	run "$TP" --help
	assert_success
	assert [ "${#lines[@]}" -le 60 ]
	run bash -c "'$TP' --help | awk 'length(\$0) > 80 { print length(\$0) \" columns: \" \$0 }'"
	assert_output ''
}

@test "--help, the man page and the completions agree on the forms of --key-pass" {
	local forms f missing=
	forms=$("$TP" --help | sed -n 's/.*--key-pass=SRC *key passphrase: //p' | grep -oE '[a-z]+:')
	assert_equal "$(echo $forms)" 'pass: env: file: fd:'
	mandoc -Tascii "$MAN" | col -b >"$T/man.txt"
	sed -n '/^ *--key-pass=source/,/^ *--allow-expired/p' "$T/man.txt" >"$T/keypass.txt"
	for f in $forms; do
		grep -Eq -e "^[[:space:]]+$f" "$T/keypass.txt" || missing+=" man:$f"
		grep -Eq -e "--key-pass=.*\(.*$f" "$ZSHC" || missing+=" zsh:$f"
		grep -Eq -e "-l key-pass .*-a '[^']*$f" "$FISHC" || missing+=" fish:$f"
	done
	source "$BASHC"
	run complete_words tlspipe --key-pass ''
	assert_equal "$(echo $output)" "$(echo $forms)"
	# the man page says that pass: is visible to other users
	grep -q 'process list' "$T/keypass.txt" || missing+=" man:process-list"
	assert_equal "$missing" ''
}
