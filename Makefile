# tlspipe: plain make, flags from pkg-config. `make check` builds and tests.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
DESTDIR ?=

PKG_CONFIG ?= pkg-config
PKGS = libssl libcrypto libbsd-overlay

CC ?= cc
CFLAGS ?= -O2 -g
ifeq ($(SANITIZE),1)
override CFLAGS += -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# ASan's runtime makes system calls of its own (and reads /proc at exit):
# no seccomp filter in its build (src/sandbox.c)
override CPPFLAGS += -DTP_NO_SANDBOX
override LDFLAGS += -fsanitize=address,undefined
else
# ASan replaces the string and memory functions that fortify would check
override CPPFLAGS += -D_FORTIFY_SOURCE=2
endif
# Debian's hardening flags (dpkg-buildflags, hardening=+all), in every build:
# stack canaries, stack clash probes, CET where the target has it (x86; the
# compiler refuses the flag elsewhere, so it is asked first), PIE, full RELRO
# and immediate binding. tests/92-hardening.bats checks the binary for them.
# The compiler is asked once, at the first compile, not as make reads this
# file: `sudo make deps demo` installs it in between.
cc_option = $(shell $(CC) $(1) -Werror -c -x c -o /dev/null /dev/null >/dev/null 2>&1 && echo $(1))
HARDEN_CFLAGS = $(eval HARDEN_CFLAGS := -fstack-protector-strong $(call cc_option,-fstack-clash-protection) \
	$(call cc_option,-fcf-protection) -fPIE)$(HARDEN_CFLAGS)
HARDEN_LDFLAGS = -pie -Wl,-z,relro,-z,now
override CFLAGS += $(HARDEN_CFLAGS)
override LDFLAGS += $(HARDEN_LDFLAGS)
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ifeq ($(CI),true)
override CFLAGS += -Werror
endif

# Without the libraries pkg-config knows nothing, the flags above are empty and
# the link ends in a page of undefined references: each recipe that compiles or
# links starts with $(need_pkgs), which stops make with one line instead. It is
# expanded as the recipe runs, not as make reads this file, so that
# `sudo make deps demo` installs them first on a fresh machine.
missing_pkgs = $(strip $(foreach p,$(PKGS),$(if $(shell $(PKG_CONFIG) --exists $p 2>/dev/null && echo y),,$p)))
need_pkgs = $(if $(missing_pkgs),$(error cannot build: $(PKG_CONFIG) finds no $(missing_pkgs): run `sudo make deps` first))

SRCS = $(wildcard src/*.c)
OBJS = $(SRCS:.c=.o)
# everything but main: what the unit tests link
LIB_OBJS = $(filter-out src/tlspipe.o,$(OBJS))
# a sanitizer build must not reuse objects of a plain one, nor a build
# with the hardening flags the objects of one without (hence "-hardened")
BUILDID = $(if $(filter 1,$(SANITIZE)),san,std)-hardened
STAMP = src/.build-$(BUILDID)

TEST_BINS = tests/peer tests/netrelay tests/sandbox-probe.so $(patsubst %.c,%,$(wildcard tests/unit/*.c))

.PHONY: all deps deps-servers deps-bench deps-fuzz demo check check-full check-real valgrind fuzz fuzz-quick lint \
	bench bench-quick soak soak-quick netcheck netcheck-quick install uninstall clean
all: tlspipe

$(STAMP):
	@rm -f src/.build-* $(OBJS) tlspipe $(TEST_BINS)
	@touch $@

$(OBJS): $(wildcard src/*.h) $(STAMP)

src/%.o: src/%.c
	$(need_pkgs)$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

tlspipe: $(OBJS)
	$(need_pkgs)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

tests/peer: tests/peer.c $(STAMP)
	$(need_pkgs)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ tests/peer.c $(LDLIBS)

# preloaded into tlspipe by tests/93-sandbox.bats: a library, so none of
# the executable's PIE or sanitizer flags
tests/sandbox-probe.so: tests/sandbox-probe.c
	$(CC) -std=c11 -O2 -Wall -Wextra -Wpedantic $(if $(filter true,$(CI)),-Werror) -fPIC -shared -o $@ $< -ldl

# the bad network of make netcheck: plain sockets, no library
tests/netrelay: tests/netrelay.c $(STAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ tests/netrelay.c

# a unit test is tests/unit/NAME.c, linked with everything but main
tests/unit/%: tests/unit/%.c $(LIB_OBJS) $(STAMP)
	$(need_pkgs)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

# Debian packages the build, the tests and the demo need. Quiet and quick
# when all are there; apt-get update only when something is missing.
DEB_PKGS = build-essential pkg-config libssl-dev libbsd-dev openssl ca-certificates \
	bats bats-assert bats-support mandoc socat gnutls-bin jq python3 bsdextrautils time zsh fish \
	parallel strace
# make valgrind and make fuzz: valgrind, clang and its libFuzzer runtime
# (large: kept out of the quick start)
FUZZ_PKGS = valgrind clang libclang-rt-14-dev
deps: PKGS_WANTED = $(DEB_PKGS)
deps-fuzz: PKGS_WANTED = $(FUZZ_PKGS)
deps deps-fuzz:
	@missing=$$(for p in $(PKGS_WANTED); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The real servers of tests/85-real-servers.bats and check-real (nginx,
# dovecot imapd + pop3d, aiosmtpd), installed without starting or enabling
# their system services: the tests run each from a config in a temp folder.
# Also iproute2: make netcheck's ip netns and veth.
deps-servers:
	@tests/real/deps-servers.sh

# What `make bench` needs beyond `make deps`: the other TLS pipes it measures
# and the tools it measures them with. Same rules as deps; stunnel4 brings an
# init script, so a policy-rc.d that says no (101) keeps any service from
# starting during the install (only when the machine has no policy of its own).
BENCH_PKGS = stunnel4 ncat strace time socat openssl
deps-bench:
	@missing=$$(for p in $(BENCH_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		policy=/usr/sbin/policy-rc.d; \
		if [ ! -e $$policy ]; then \
			trap 'rm -f $$policy' EXIT; \
			printf '#!/bin/sh\nexit 101\n' >$$policy && chmod 755 $$policy; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# under sudo, hand the build back to the user: a later plain `make check` must work
demo: tlspipe
	@if [ -n "$${SUDO_UID:-}" ]; then chown $$SUDO_UID:$$SUDO_GID tlspipe $(OBJS) $(STAMP); fi
	@sh tests/demo.sh

check: tlspipe $(TEST_BINS)
	@tests/run.sh

# check with every case of every matrix and the large payloads (16 MiB); what CI runs
check-full: tlspipe $(TEST_BINS)
	@TP_FULL=1 tests/run.sh

# tlspipe in each write mode against the real servers, RUNS times (default
# 20), big payloads too: a table of outcomes, then "N passed, N failed"
check-real: tlspipe
	@tests/real/matrix.sh $(or $(RUNS),20)

# one small transfer per write mode (and a key update, a renegotiation, a
# server) with tlspipe under valgrind: exact bytes, no error, no definite
# leak; "N passed, N failed" last
valgrind: tlspipe tests/peer
	@tests/valgrind.sh

# libFuzzer targets (fuzz/*.c: the option parser, the ALPN lists, the pin
# check, the pump against a scripted peer), linked with the project's
# objects built again by clang in fuzz/build/ (the gcc build is not
# touched), each run FUZZ_SECONDS from its seed corpus fuzz/corpus/TARGET; a
# crash, a leak or a hang fails, and its input is kept as
# fuzz/build/TARGET-crash-* (or -leak-, -timeout-)
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -DTP_NO_SANDBOX -Wall -Wextra -Wpedantic \
	$(if $(filter true,$(CI)),-Werror) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
FUZZ_TARGETS = $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
FUZZ_BINS = $(addprefix fuzz/build/,$(FUZZ_TARGETS))
FUZZ_OBJS = $(patsubst src/%,fuzz/build/src/%,$(LIB_OBJS))

# kept between runs (make would delete them as intermediate files)
.SECONDARY: $(FUZZ_OBJS)
fuzz/build/src/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(need_pkgs)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

fuzz/build/%: fuzz/%.c $(FUZZ_OBJS)
	$(need_pkgs)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# the same, 10 s each: proves the targets build and run (CI)
fuzz-quick: $(FUZZ_BINS)
	@fuzz/run.sh 10 $(FUZZ_TARGETS)

# the neutral TLS server the bench measures every client against
bench/peer: bench/peer.c
	$(need_pkgs)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ bench/peer.c -lssl -lcrypto

# throughput, CPU, memory and syscalls against socat, s_client, stunnel and
# ncat (BENCH_SIZE, default 512M; BENCH_RUNS, default 5; BENCH_CONNS, 100)
bench: tlspipe bench/peer
	@bench/run.sh

# the same, small and once: proves the bench works (CI), in well under 2 min
bench-quick: tlspipe bench/peer
	@BENCH_SIZE=32M BENCH_RUNS=1 BENCH_CONNS=20 BENCH_QUICK=1 bench/run.sh

# tlspipe under long use: 2,000 connections in a row, 200 at once, and one
# connection moving 1 GiB each way then idling in bursts for 10 minutes,
# its RSS and fds sampled (SOAK_SEQ, SOAK_PAR, SOAK_MIB, SOAK_IDLE)
soak: tlspipe
	@tests/soak.sh

# the same, short (CI): a few minutes
soak-quick: tlspipe
	@SOAK_SEQ=200 SOAK_PAR=50 SOAK_MIB=256 SOAK_IDLE=20 tests/soak.sh

# tlspipe across two network namespaces joined by a veth pair, through a
# relay that delays, re-cuts, holds, throttles (1 Mbit/s) and pauses: 64 MiB
# up, down and both ways in every write mode, a pause mid-transfer (every
# mode) and in the handshake, --idle-timeout and -w firing on time (root;
# skipped otherwise). NET_MIB, NET_RATE_KIB, NET_PAUSE, NET_TIMEOUT (seconds)
# set its size, NET_CASES picks cases.
netcheck: tlspipe tests/netrelay
	@tests/netcheck.sh

# the same, short (CI, about a minute): 4 MiB, 64 KiB throttled, 2 s pauses
# and timeouts
netcheck-quick: tlspipe tests/netrelay
	@NET_MIB=4 NET_RATE_KIB=64 NET_PAUSE=2 NET_TIMEOUT=2 tests/netcheck.sh

# the man page, the completion's syntax, and the shape of src/ (no cycles
# between files, none over 600 lines)
lint: tlspipe
	mandoc -Tlint -Wwarning man/tlspipe.1
	bash -n completions/tlspipe.bash
	@tests/structure.sh

install: tlspipe
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 755 tlspipe $(DESTDIR)$(BINDIR)/tlspipe
	install -m 644 man/tlspipe.1 $(DESTDIR)$(MANDIR)/man1/tlspipe.1
	install -m 644 completions/tlspipe.bash $(DESTDIR)$(BASHCOMPDIR)/tlspipe
	install -m 644 completions/_tlspipe $(DESTDIR)$(ZSHCOMPDIR)/_tlspipe
	install -m 644 completions/tlspipe.fish $(DESTDIR)$(FISHCOMPDIR)/tlspipe.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tlspipe $(DESTDIR)$(MANDIR)/man1/tlspipe.1 \
		$(DESTDIR)$(BASHCOMPDIR)/tlspipe $(DESTDIR)$(ZSHCOMPDIR)/_tlspipe \
		$(DESTDIR)$(FISHCOMPDIR)/tlspipe.fish

clean:
	rm -f tlspipe $(OBJS) $(TEST_BINS) bench/peer src/.build-*
	rm -rf tests/.tmp fuzz/build
