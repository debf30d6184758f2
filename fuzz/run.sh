#!/bin/sh
# fuzz/run.sh SECONDS TARGET...: each libFuzzer target fuzz/build/TARGET in
# turn for SECONDS, from its seed corpus fuzz/corpus/TARGET (only read: what
# the run adds goes to a temp dir, removed after). One line per target with
# its executions and corpus; a crash, leak, timeout or out-of-memory fails
# the target, keeps its input as fuzz/build/TARGET-crash-* (or -leak-,
# -timeout-, -oom-) and shows the end of its log. Exits non-zero on a failure.
set -u
cd "$(dirname "$0")/.." || exit 1
secs=$1
shift
work=$(mktemp -d "${TMPDIR:-/tmp}/tlspipe-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
failed=0
for t in "$@"; do
	mkdir "$work/$t" || exit 1
	# -close_fd_mask=3: --help's text and tlspipe's messages would flood
	# the log (libFuzzer keeps its own output and the sanitizers' reports;
	# replay an input to see the rest). timeout: a hung target, not a slow
	# input (libFuzzer's own -timeout reports those), gets stopped.
	timeout -k 10 $((secs + 120)) "fuzz/build/$t" -max_total_time="$secs" -timeout=20 \
		-print_final_stats=1 -close_fd_mask=3 -artifact_prefix="fuzz/build/$t-" \
		"$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$t.log" | tail -n 1)
	corp=$(echo "$done_line" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
	cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $t: ok, ${runs:-?} executions in $secs s, corpus ${corp:-?} (inputs/size), coverage ${cov:-?} edges"
	else
		failed=$((failed + 1))
		echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} executions; the end of its log:"
		tail -n 40 "$work/$t.log" | sed 's/^/  /'
		for a in "fuzz/build/$t-"*; do
			[ -e "$a" ] && echo "  input kept: $a (replay: fuzz/build/$t $a)"
		done
	fi
done
[ "$failed" -eq 0 ]
