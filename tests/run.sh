#!/bin/sh
# Runs every test: the C unit tests, then the Bats files. Prints
# "N passed, N failed" last and exits non-zero on any failure.
# Everything temporary lives under one mktemp directory, never in the tree.
# TP_FULL=1 (make check-full): large payloads, every mode of the matrices,
# and the tests tagged `# bats test_tags=full`: make check leaves those out
# (each behaviour they check, make check checks once). TP_JOBS: test files at once
# (most of a test's time is waiting on a peer, so more than the cores pays).
# Each file runs its tests one at a time: Bats's own scheduling within a
# file costs ~0.4 s of CPU per test here. Keep a file under a minute or so.
set -u
cd "$(dirname "$0")/.." || exit 1
start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
export TP_CERTS="$work/certs"
# helpers.bash pauses with read -t on this fifo (nobody writes to it): a
# pause without a fork
export TP_NAP="$work/nap"
mkfifo "$TP_NAP" || exit 1
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

# the longest files first (GNU parallel starts them in this order, and the
# suite lasts at least as long as its longest file), then the others
long="80 85 46 48 20 60 10 70"
if [ -n "${TP_TESTS:-}" ]; then
	files=$TP_TESTS
else
	files=
	for n in $long; do
		files="$files $(ls tests/"$n"-*.bats 2>/dev/null)"
	done
	for f in tests/*.bats; do
		case " $(echo $files) " in *" $f "*) ;; *) files="$files $f" ;; esac
	done
fi
# no stdin, as in CI: a test must not depend on a terminal
jobs=${TP_JOBS:-8}
par=
if [ "$jobs" -gt 1 ] && command -v parallel >/dev/null 2>&1; then
	par="--jobs $jobs --no-parallelize-within-files"
fi
filter=
if [ "${TP_FULL:-0}" != 1 ]; then
	filter="--filter-tags !full"
	# shellcheck disable=SC2086 # $files may hold bats options too
	echo "# $(cat $files 2>/dev/null | grep -c '^# bats test_tags=full') tests left to make check-full"
fi
# shellcheck disable=SC2086
bats --tap $par $filter $files </dev/null >"$work/bats.tap" 2>&1 &
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
