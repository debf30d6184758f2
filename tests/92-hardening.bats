#!/usr/bin/env bats
# The binary carries Debian's hardening (the Makefile's HARDEN_CFLAGS and
# HARDEN_LDFLAGS, and _FORTIFY_SOURCE outside a sanitizer build): each test
# reads one property of the ELF file with readelf. A binary linked without
# the flags fails at least the canary, BIND_NOW and fortify tests.
load helpers

# elf OPTION: readelf -W OPTION of the binary, in ELF (one fork per test)
elf() {
	ELF=$(readelf -W "$1" "$TP") || fail "readelf $1 $TP failed"
}

# sanitized: the binary is an ASan build (make SANITIZE=1)
sanitized() {
	elf --dyn-syms
	[[ $ELF == *__asan_init* ]]
}

@test "hardening: tlspipe is a position-independent executable (type DYN, DT_FLAGS_1 has PIE)" {
	elf --file-header
	[[ $ELF =~ Type:\ +DYN ]] || fail "ELF type is not DYN: $ELF"
	elf --dynamic
	[[ $ELF =~ \(FLAGS_1\)\ +Flags:[A-Z\ ]*\ PIE ]] || fail "DT_FLAGS_1 lacks PIE: $ELF"
}

@test "hardening: full RELRO: a GNU_RELRO segment, and every symbol bound at start (BIND_NOW)" {
	elf --segments
	[[ $ELF =~ (^|$'\n')\ *GNU_RELRO\  ]] || fail "no GNU_RELRO segment: $ELF"
	elf --dynamic
	# -z now sets DT_FLAGS BIND_NOW and DT_FLAGS_1 NOW; either one binds at start
	[[ $ELF =~ \(FLAGS\)\ +[A-Z_\ ]*BIND_NOW || $ELF =~ \(FLAGS_1\)\ +Flags:[A-Z\ ]*\ NOW($|[ $'\n']) ]] ||
		fail "neither DT_FLAGS BIND_NOW nor DT_FLAGS_1 NOW: $ELF"
}

@test "hardening: stack canaries (the binary calls __stack_chk_fail)" {
	elf --dyn-syms
	[[ $ELF =~ [[:space:]]__stack_chk_fail(@|$'\n'|$) ]] || fail "no reference to __stack_chk_fail"
}

@test "hardening: fortified calls (at least one __*_chk function of _FORTIFY_SOURCE)" {
	if sanitized; then
		skip "a sanitizer build: ASan checks those calls itself and the Makefile leaves _FORTIFY_SOURCE out"
	fi
	elf --dyn-syms
	local re='[[:space:]](__[a-z_]+_chk)(@|$)' line found=
	while IFS= read -r line; do
		if [[ $line =~ $re ]] && [ "${BASH_REMATCH[1]}" != __stack_chk_fail ]; then
			found=${BASH_REMATCH[1]}
			break
		fi
	done <<<"$ELF"
	[ -n "$found" ] || fail "no fortified __*_chk function is referenced"
}

@test "hardening: the stack is not executable (GNU_STACK without E)" {
	elf --segments
	local re='^ *GNU_STACK( +0x[0-9a-f]+){5} +([RWE ]+)' line flags=
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			flags=${BASH_REMATCH[2]}
			break
		fi
	done <<<"$ELF"
	# without a GNU_STACK header the kernel may map the stack executable
	[ -n "$flags" ] || fail "no GNU_STACK segment: $ELF"
	[[ $flags != *E* ]] || fail "GNU_STACK is executable: flags '$flags'"
}

@test "hardening: every object of src/ is marked for CET (IBT and SHSTK, x86-64)" {
	[ "$(uname -m)" = x86_64 ] || skip "CET is an x86 feature; this is $(uname -m)"
	# The binary itself loses the mark at the link: Debian 12's crt files
	# lack it, and the linker keeps only what every input has. So the
	# objects, which -fcf-protection marks, are checked.
	local objs=("$TOP"/src/*.o) line marked=0
	[ -e "${objs[0]}" ] || fail "no objects in src/: build with make first"
	ELF=$(readelf -W --notes "${objs[@]}") || fail "readelf --notes failed"
	while IFS= read -r line; do
		[[ $line != *"x86 feature: IBT, SHSTK"* ]] || marked=$((marked + 1))
	done <<<"$ELF"
	[ "$marked" -eq "${#objs[@]}" ] ||
		fail "$marked of ${#objs[@]} objects have the CET mark (-fcf-protection)"
}
