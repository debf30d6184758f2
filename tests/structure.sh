#!/bin/sh
# The shape of src/, checked from the built objects: no cycles between
# files (a file's calls into others, from nm), no source file over 600
# lines, and every extern function named with the tp_ prefix.
set -u
cd "$(dirname "$0")/.." || exit 1
bad=0
for f in src/*.c src/*.h; do
	n=$(wc -l <"$f")
	if [ "$n" -gt 600 ]; then
		echo "structure: $f has $n lines (at most 600)"
		bad=1
	fi
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for o in src/*.o; do
	b=$(basename "$o" .o)
	nm "$o" | awk -v f="$b" '$2 ~ /^[TDBR]$/ { print $3, f }' >>"$tmp/defs"
	nm "$o" | awk -v f="$b" '$1 == "U" { print f, $2 }' >>"$tmp/uses"
	nm "$o" | awk -v f="$o" '$2 == "T" && $3 !~ /^tp_/ && $3 != "main" { print "structure: " f " exports " $3 " without the tp_ prefix" }' >>"$tmp/names"
done
if [ -s "$tmp/names" ]; then
	cat "$tmp/names"
	bad=1
fi
# file -> file edges, then tsort finds any cycle
awk 'NR == FNR { owner[$1] = $2; next } ($2 in owner) && owner[$2] != $1 { print $1, owner[$2] }' \
	"$tmp/defs" "$tmp/uses" | sort -u >"$tmp/edges"
if ! tsort "$tmp/edges" >/dev/null 2>"$tmp/cycle"; then
	echo "structure: files call each other in a cycle:"
	sed 's/^/  /' "$tmp/cycle"
	bad=1
fi
[ "$bad" -eq 0 ] && echo "structure: $(ls src/*.c | wc -l) files, no cycles, none over 600 lines"
exit "$bad"
