#!/bin/sh
# Runs every test: the C unit tests, then the Bats files. Prints
# "N passed, N failed" last and exits non-zero on any failure.
# Everything temporary lives under one mktemp directory, never in the tree.
# TP_FULL=1 (make check-full): large payloads. TP_JOBS: tests at once (most
# of a test's time is waiting on a peer, so more than the cores pays).
set -u
cd "$(dirname "$0")/.." || exit 1
start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
export TP_CERTS="$work/certs"
tests/mkcerts.sh "$TP_CERTS" || { echo "cannot make test certificates"; echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0
for t in tests/unit/*.c; do
	bin=${t%.c}
	if "$bin" >"$work/unit.log" 2>&1; then
		echo "ok - unit: $(basename "$bin")"; passed=$((passed + 1))
	else
		echo "not ok - unit: $(basename "$bin")"; sed 's/^/# /' "$work/unit.log"; failed=$((failed + 1))
	fi
done

files=${TP_TESTS:-tests/*.bats}
# no stdin, as in CI: a test must not depend on a terminal
jobs=${TP_JOBS:-4}
par=
if [ "$jobs" -gt 1 ] && command -v parallel >/dev/null 2>&1; then
	par="--jobs $jobs"
fi
bats --tap $par $files </dev/null >"$work/bats.tap" 2>&1 &
bpid=$!
tail -n +1 -f --pid=$bpid "$work/bats.tap" 2>/dev/null
wait $bpid
p=$(grep -c '^ok ' "$work/bats.tap")
f=$(grep -c '^not ok ' "$work/bats.tap")
passed=$((passed + p)) failed=$((failed + f))
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
	echo "bats ran no test"; failed=$((failed + 1))
fi
echo "# the suite took $(($(date +%s) - start)) s${par:+ ($par)}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
