/* The sandbox: once the handshake is done, the process gives up what it no
 * longer needs, as OpenBSD's nc pledges. From then on the pump moves bytes
 * between fds it already has, so a bug that an attacker's record reaches
 * cannot open a file, start a program, or reach another host.
 *
 * Two layers. Landlock takes away the file system (no path may be opened,
 * made or removed) and TCP bind/connect where the kernel knows them. A
 * seccomp filter allows exactly the system calls the pump makes after the
 * handshake (strace over the test suite) and refuses the rest: the call
 * fails with EPERM and a line on stderr names it. It does not kill: a
 * refusal in some rare path of a library is then an error message, not a
 * core dump, and the run still ends with its own exit status.
 *
 * What needs more after the handshake opens it before: the key log and
 * --stats are open fds already; a TLS 1.2 renegotiation may verify a new
 * chain, and OpenSSL reads anchors from a hashed directory on demand, so
 * for such a session every anchor of the directory is loaded here first.
 *
 * Off with --no-sandbox, and in builds where it cannot work: sanitizers
 * (ASan's runtime makes calls of its own) and other architectures. The
 * SIGSYS handler is async-signal-safe: a write and a register. */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "tlspipe.h"

#if !defined(TP_NO_SANDBOX) && defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define TP_SANDBOX 1
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <ucontext.h>
#endif

/* What the sandbox step did: with -v a line of the summary, else a trace. */
static void
say(const struct tp_run *run, const char *what)
{
	if (run->cfg->verbose)
		tp_warn("%s", what);
	else
		tp_trace(run, "%s", what);
}

/* ---- trust anchors a renegotiation may need ---- */

/* A subject hash link, as OpenSSL's directory lookup names them: 8 hex
 * digits, a dot, a number. */
bool
tp_sandbox_hash_name(const char *name)
{
	size_t n = strlen(name);

	return n > 9 && name[8] == '.' && strspn(name, "0123456789abcdef") == 8 &&
	    strspn(name + 9, "0123456789") == n - 9;
}

#ifdef TP_SANDBOX

/* Every anchor in DIRS (colon-separated) into the store, where the
 * directory lookup would have found it later: it looks in the store first,
 * so a renegotiation's chain is verified without opening a file. */
static int
load_anchor_dirs(SSL *ssl, const char *dirs)
{
	X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
	X509_LOOKUP *file = X509_STORE_add_lookup(store, X509_LOOKUP_file());
	char path[4096];
	int loaded = 0;

	if (file == NULL)
		return -1;
	while (*dirs != '\0') {
		size_t len = strcspn(dirs, ":");
		DIR *d;
		struct dirent *e;

		if (len > 0 && len < sizeof(path) - 300) {
			memcpy(path, dirs, len);
			path[len] = '\0';
			if ((d = opendir(path)) != NULL) {
				while ((e = readdir(d)) != NULL) {
					if (!tp_sandbox_hash_name(e->d_name))
						continue;
					snprintf(path + len, sizeof(path) - len, "/%s", e->d_name);
					if (X509_LOOKUP_load_file(file, path, X509_FILETYPE_PEM) == 1)
						loaded++;
					path[len] = '\0';
				}
				closedir(d);
			}
		}
		dirs += len + (dirs[len] == ':');
	}
	ERR_clear_error();	/* an unreadable link is one anchor less, as it would be later */
	return loaded;
}

#if defined(__x86_64__)
#define TP_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define TP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* What the pump calls after the handshake. Each one is here because a run
 * under strace made it; the comment says which part of the program. */
static const int allowed[] = {
	SYS_read, SYS_write, SYS_writev,		/* stdin, stdout, stderr, the key log (writev) */
	SYS_sendto, SYS_recvfrom,			/* the socket: send, recv */
	SYS_shutdown, SYS_close, SYS_dup,		/* ending; --stats at exit dups its fd */
	SYS_fcntl, SYS_setsockopt,			/* -b: O_NONBLOCK and SO_SNDTIMEO */
	SYS_pselect6,					/* select(), as glibc makes it */
#ifdef SYS_select
	SYS_select,
#endif
	SYS_lseek, SYS_fstat, SYS_newfstatat,		/* stdio on --stats */
	SYS_brk, SYS_munmap, SYS_mremap, SYS_madvise,	/* malloc; mmap and mprotect below */
	SYS_getrandom,					/* OpenSSL's DRBG reseeding */
	SYS_futex,					/* OpenSSL's locks (pthread rwlocks) */
	SYS_clock_gettime, SYS_gettimeofday,		/* where the vDSO cannot answer */
	SYS_rt_sigreturn, SYS_restart_syscall,		/* signal handlers; SIGSTOP/SIGCONT */
	SYS_getpid,					/* OpenSSL's fork check */
	SYS_gettid, SYS_tgkill, SYS_rt_sigprocmask, SYS_rt_sigaction,	/* abort() */
	SYS_exit, SYS_exit_group,
};

/* Names for the report: the calls an attacker would want, then the rest by
 * number. Read from the SIGSYS handler, so plain constant data. */
static const struct {
	int nr;
	const char *name;
} named[] = {
	{ SYS_openat, "openat" },
#ifdef SYS_open
	{ SYS_open, "open" },
#endif
	{ SYS_execve, "execve" }, { SYS_execveat, "execveat" }, { SYS_socket, "socket" },
	{ SYS_connect, "connect" }, { SYS_bind, "bind" }, { SYS_listen, "listen" },
	{ SYS_accept4, "accept4" }, { SYS_clone, "clone" }, { SYS_ptrace, "ptrace" },
	{ SYS_unlinkat, "unlinkat" }, { SYS_mmap, "mmap" }, { SYS_mprotect, "mprotect" },
	{ SYS_kill, "kill" }, { SYS_prctl, "prctl" }, { SYS_ioctl, "ioctl" },
};

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	char msg[160] = "tlspipe: sandbox: refused system call ";
	char num[24], *q = num + sizeof(num);
	const char *name = NULL;
	size_t len = strlen(msg);
	unsigned v;

	(void)sig;
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (named[i].nr == si->si_syscall)
			name = named[i].name;
	if (name == NULL) {
		v = (unsigned)si->si_syscall;
		*--q = '\0';
		do
			*--q = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		name = q;
	}
	strncat(msg, name, sizeof(msg) - len - 1);
	strncat(msg, " after the handshake (--no-sandbox allows it)\n", sizeof(msg) - strlen(msg) - 1);
	(void)!write(STDERR_FILENO, msg, strlen(msg));
	/* the call did not happen: it returns EPERM to its caller */
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#else
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#endif
}

#define LD_ABS(off) (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (v))
#define JUMP(op, k, yes, no) (struct sock_filter)BPF_JUMP(BPF_JMP | (op) | BPF_K, (k), (yes), (no))
/* the low word of argument i (both architectures are little-endian) */
#define ARG(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(__u64))

static int
seccomp_on(void)
{
	enum { N = sizeof(allowed) / sizeof(allowed[0]) };
	struct sock_filter f[2 * N + 32];
	struct sock_fprog prog;
	size_t k = 0;

	f[k++] = LD_ABS(offsetof(struct seccomp_data, arch));
	f[k++] = JUMP(BPF_JEQ, TP_AUDIT_ARCH, 1, 0);
	f[k++] = RET(SECCOMP_RET_KILL_PROCESS);	/* another ABI: nothing to report it with */
	f[k++] = LD_ABS(offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
	/* the x32 ABI shares the arch value: its calls carry this bit */
	f[k++] = JUMP(BPF_JGE, 0x40000000, 0, 1);
	f[k++] = RET(SECCOMP_RET_KILL_PROCESS);
#endif
	for (size_t i = 0; i < N; i++) {
		f[k++] = JUMP(BPF_JEQ, (__u32)allowed[i], 0, 1);
		f[k++] = RET(SECCOMP_RET_ALLOW);
	}
	/* ioctl: isatty's TCGETS, and SIOCOUTQ (what the socket still has to
	 * send, net.c); not TIOCSTI, which would type into a terminal */
	f[k++] = JUMP(BPF_JEQ, SYS_ioctl, 0, 5);
	f[k++] = LD_ABS(ARG(1));
	f[k++] = JUMP(BPF_JEQ, TCGETS, 2, 0);
	f[k++] = JUMP(BPF_JEQ, SIOCOUTQ, 1, 0);
	f[k++] = RET(SECCOMP_RET_TRAP);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	f[k++] = LD_ABS(offsetof(struct seccomp_data, nr));
	/* malloc maps and protects memory; never as code */
	f[k++] = JUMP(BPF_JEQ, SYS_mmap, 1, 0);
	f[k++] = JUMP(BPF_JEQ, SYS_mprotect, 0, 4);
	f[k++] = LD_ABS(ARG(2));
	f[k++] = JUMP(BPF_JSET, PROT_EXEC, 1, 0);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	f[k++] = RET(SECCOMP_RET_TRAP);
	f[k++] = RET(SECCOMP_RET_TRAP);
	prog.len = (unsigned short)k;
	prog.filter = f;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* The rights each Landlock ABI version knows, as bits (newer headers name
 * more than this machine's may). */
static __u64
landlock_fs_rights(int abi)
{
	__u64 r = (1ULL << 13) - 1;	/* v1: execute .. make_sym */

	if (abi >= 2)
		r |= 1ULL << 13;	/* refer */
	if (abi >= 3)
		r |= 1ULL << 14;	/* truncate */
	if (abi >= 5)
		r |= 1ULL << 15;	/* ioctl on devices opened later */
	return r;
}

/* All rights handled, none granted: no path can be used. Returns the ABI
 * version, or 0 where the kernel has no Landlock. */
static int
landlock_on(void)
{
	/* landlock_ruleset_attr as the newest kernels know it; an older
	 * kernel is given the part its ABI version has */
	struct ruleset {
		__u64 fs, net, scoped;
	} attr = { 0, 0, 0 };
	size_t size = sizeof(attr.fs);
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	int fd, rc;

	if (abi < 1)
		return 0;
	attr.fs = landlock_fs_rights(abi);
	if (abi >= 4) {
		attr.net = 3;	/* v4: bind_tcp, connect_tcp */
		size = offsetof(struct ruleset, scoped);
	}
	if (abi >= 6) {
		/* v6: no signal to a process outside the sandbox (tgkill stays
		 * allowed for abort()), no abstract Unix socket */
		attr.scoped = 3;
		size = sizeof(attr);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0)
		return 0;
	rc = (int)syscall(SYS_landlock_restrict_self, fd, 0);
	close(fd);
	return rc == 0 ? abi : 0;
}

void
tp_sandbox_enter(struct tp_run *run, SSL *ssl, bool renegotiable)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	int abi, n = -1;

	if (run->cfg->no_sandbox) {
		say(run, "sandbox: off (--no-sandbox)");
		return;
	}
	if (renegotiable && run->anchor_dirs[0] != '\0')
		n = load_anchor_dirs(ssl, run->anchor_dirs);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		tp_warn("sandbox: cannot be set up: %s", strerror(errno));
		return;
	}
	abi = landlock_on();
	if (seccomp_on() != 0) {
		tp_warn("sandbox: the kernel refused the seccomp filter: %s", strerror(errno));
		return;
	}
	run->sandboxed = true;
	if (n >= 0)
		tp_trace(run, "sandbox: %d anchors from %s loaded for a renegotiation", n, run->anchor_dirs);
	say(run, abi ? "sandbox: on (seccomp, landlock)" : "sandbox: on (seccomp; no landlock in this kernel)");
}

const char *
tp_sandbox_kind(void)
{
	return "seccomp, landlock";
}

#else	/* no sandbox in this build */

void
tp_sandbox_enter(struct tp_run *run, SSL *ssl, bool renegotiable)
{
	(void)ssl;
	(void)renegotiable;
	say(run, "sandbox: none in this build");
}

const char *
tp_sandbox_kind(void)
{
	return "none in this build";
}

#endif
