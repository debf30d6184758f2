#!/bin/sh
# The loopback demo: a local TLS server (tlspipe -l) with a throwaway CA,
# 32 MiB of random bytes piped through the tlspipe client, checked on arrival.
set -eu
cd "$(dirname "$0")/.."
d=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-demo.XXXXXX")
trap '[ -z "$srv" ] || kill $srv 2>/dev/null; rm -rf "$d"' EXIT INT TERM
srv=
tests/mkcerts.sh "$d/certs"
head -c 33554432 /dev/urandom >"$d/payload"

echo "== 1. a TLS server on loopback, port 0 (the kernel picks one):"
echo "   tlspipe -l --cert server.pem --key server.key 0 > received"
./tlspipe -l --cert "$d/certs/server.pem" --key "$d/certs/server.key" 0 \
	</dev/null >"$d/received" 2>"$d/server.log" &
srv=$!
i=0
until grep -q 'listening on' "$d/server.log"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$d/server.log"; exit 1; }; sleep 0.05
done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$d/server.log")
sed 's/^/   /' "$d/server.log"

echo "== 2. 32 MiB of random bytes through the client, certificate verified:"
echo "   tlspipe -v --stats=- --on-eof=notify --cafile ca.pem localhost $port < payload"
echo "   (the server reads until our close_notify: --on-eof=notify sends it right"
echo "   after the data, instead of after the default auto's second of quiet)"
rc=0
timeout 60 ./tlspipe -v --stats=- --on-eof=notify --cafile "$d/certs/ca.pem" localhost "$port" \
	<"$d/payload" 2>"$d/client.log" >/dev/null || rc=$?
src=0
wait $srv || src=$?
srv=
[ $rc -eq 0 ] && [ $src -eq 0 ] || {
	sed 's/^/   /' "$d/client.log" "$d/server.log"
	echo "== client exit $rc, server exit $src"
	exit 1
}
grep -v '^{' "$d/client.log" | sed 's/^/   /'
echo "== its --stats, one JSON line at exit:"
grep '^{' "$d/client.log" | sed 's/,"/, "/g' | fold -s -w 76 | sed 's/^/   /'

echo "== 3. checked on arrival:"
a=$(sha256sum <"$d/payload" | cut -c1-16)
b=$(sha256sum <"$d/received" | cut -c1-16)
echo "   sent     $(wc -c <"$d/payload") bytes, sha256 $a..."
echo "   received $(wc -c <"$d/received") bytes, sha256 $b..."
[ "$a" = "$b" ] && echo "== the bytes arrived exactly." || { echo "== MISMATCH"; exit 1; }
