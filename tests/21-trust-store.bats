#!/usr/bin/env bats
# Without --cafile or --capath a client trusts the system store: its hashed
# directory, each anchor read as a chain needs it, never the whole bundle at
# start; a $SSL_CERT_FILE naming another bundle is trusted as well.
load helpers

# store DIR NAME...: DIR holds the certificates NAME.pem, hashed when
# HASH=1 (the default) as update-ca-certificates leaves /etc/ssl/certs
store() {
	local d=$1
	shift
	mkdir -p "$d"
	for n in "$@"; do cp "$CERTS/$n.pem" "$d/"; done
	[ "${HASH:-1}" = 0 ] || openssl rehash "$d" >/dev/null 2>&1
}

# traced ENV...: tlspipe sends "hello" to the sink at $PORT with the
# environment ENV (SSL_CERT_FILE unset unless given), its file opens in
# $T/opens; status in RC
traced() {
	RC=0
	# LeakSanitizer cannot run under ptrace (make check SANITIZE=1)
	env -u SSL_CERT_FILE ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@" timeout 20 strace -f -qq -e trace=open,openat -o "$T/opens" \
		"$TP" localhost "$PORT" <<<"hello" >/dev/null 2>"$T/err" || RC=$?
}

# the system bundle, as OpenSSL names it and as the file it links to
bundle_pattern() {
	local f
	f="$(openssl version -d | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/')/cert.pem"
	printf '%s|%s' "$f" "$(realpath "$f")"
}

@test "the system store's hashed directory is read on demand: the anchor is found, the bundle never opened" {
	command -v strace >/dev/null || skip "strace is not installed (make deps installs it)"
	store "$T/store" ca other-ca
	local file
	# unset, and set to the system's own bundle (as many images do): the same store
	for file in "" "$(realpath "$(openssl version -d | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/')/cert.pem")"; do
		sink
		traced SSL_CERT_DIR="$T/store" ${file:+SSL_CERT_FILE="$file"}
		[ "$RC" -eq 0 ] || { echo "SSL_CERT_FILE='$file': exit $RC"; cat "$T/err"; return 1; }
		wait_server
		grep -q 'bytes=6 close_notify=1' "$T/srv.out"
		grep -Eq "\"$T/store/[0-9a-f]{8}\\.0\"" "$T/opens" ||
			{ echo "no anchor read from the directory:"; grep -F "$T" "$T/opens"; return 1; }
		if grep -Eq "\"($(bundle_pattern))\"" "$T/opens"; then
			echo "SSL_CERT_FILE='$file': the bundle was parsed:"
			grep -E "$(bundle_pattern)" "$T/opens"
			return 1
		fi
	done
}

@test "SSL_CERT_FILE naming another bundle is trusted besides the hashed directory" {
	command -v strace >/dev/null || skip "strace is not installed (make deps installs it)"
	store "$T/store" other-ca
	sink
	traced SSL_CERT_DIR="$T/store" SSL_CERT_FILE="$CA"
	[ "$RC" -eq 0 ] || { cat "$T/err"; return 1; }
	wait_server
	grep -q 'bytes=6 close_notify=1' "$T/srv.out"
	# the directory alone does not trust the server
	sink
	traced SSL_CERT_DIR="$T/store"
	[ "$RC" -eq 4 ] || { echo "exit $RC"; cat "$T/err"; return 1; }
	grep -q 'certificate verify failed' "$T/err"
	wait_server
}

@test "a directory without hash links: the system bundle is read, as OpenSSL would" {
	command -v strace >/dev/null || skip "strace is not installed (make deps installs it)"
	HASH=0 store "$T/plain" ca
	sink
	traced SSL_CERT_DIR="$T/plain"
	# the bundle does not trust the test CA, and OpenSSL finds nothing in an unhashed folder
	[ "$RC" -eq 4 ] || { echo "exit $RC"; cat "$T/err"; return 1; }
	wait_server
	grep -Eq "\"($(bundle_pattern))\"" "$T/opens" || { echo "the bundle was not read:"; cat "$T/opens"; return 1; }
}
