/* tlspipe: options into one config, then connect (or accept), pump, and
 * say how it ended. Every exit after parsing goes through finish(). */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlspipe.h"

/* /dev/null on the closed standard fd `fd`. open() takes the lowest free
 * fd, which is a lower closed one (stdout, when stderr is filled first with
 * both closed): it is moved into place, and the lower one stays closed. */
static int
null_fd(int fd)
{
	int got = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY), rc;

	if (got < 0 || got == fd)
		return got < 0 ? -1 : 0;
	rc = dup2(got, fd) == fd ? 0 : -1;
	close(got);
	return rc;
}

static bool
fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* fds 0-2 must be open before any socket exists, or a socket could become
 * "stdout". A closed stdin reads as empty. A stdin that no read can use
 * (a directory, or open for writing only) and a stdout that no write can
 * use are said before connecting, not after the peer has been kept waiting. */
static int
standard_fds(struct tp_run *run, const struct tp_config *cfg)
{
	struct stat sb;
	int fl;

	for (int fd = 0; fd <= 2; fd++) {
		if (!fd_closed(fd))
			continue;
		if (fd == STDOUT_FILENO && !cfg->send_only)
			return tp_usage(run, "stdout is closed (use --send-only to discard what the peer sends)");
		if (null_fd(fd) != 0)
			return tp_fail(run, TP_EXIT_IO, "cannot open /dev/null: %s", strerror(errno));
	}
	if (!cfg->recv_only && (fl = fcntl(STDIN_FILENO, F_GETFL)) >= 0 && (fl & O_ACCMODE) == O_WRONLY)
		return tp_usage(run, "stdin is open for writing only");
	if (!cfg->recv_only && fstat(STDIN_FILENO, &sb) == 0 && S_ISDIR(sb.st_mode))
		return tp_usage(run, "stdin is a directory (use --recv-only to send nothing)");
	if (!cfg->send_only && (fl = fcntl(STDOUT_FILENO, F_GETFL)) >= 0 && (fl & O_ACCMODE) == O_RDONLY)
		return tp_usage(run, "stdout is open for reading only");
	return 0;
}

/* The key log: --keylog, or SSLKEYLOGFILE when it is not given. A --keylog
 * that cannot be opened is a usage error; the variable may be set for other
 * programs (a browser, curl), so for it a warning that names it is enough. */
static int
open_keylog(struct tp_run *run)
{
	const char *env = getenv("SSLKEYLOGFILE");
	const char *path = run->cfg->keylog ? run->cfg->keylog : env && *env ? env : NULL;
	struct stat sb;

	if (path == NULL)
		return 0;
	run->keylog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (run->keylog_fd < 0 && run->cfg->keylog)
		return tp_usage(run, "--keylog %s: %s", path, strerror(errno));
	if (run->keylog_fd < 0) {
		tp_warn("warning: SSLKEYLOGFILE %s: %s (the session's secrets are not logged)", path, strerror(errno));
		return 0;
	}
	/* secrets: an older, wider file is narrowed too (if it is ours); never
	 * a device: as root that would be /dev/null's mode for everyone */
	if (fstat(run->keylog_fd, &sb) == 0 && S_ISREG(sb.st_mode))
		(void)fchmod(run->keylog_fd, 0600);
	tp_warn("writing TLS secrets to %s (anyone who reads it can decrypt this session)", path);
	return 0;
}

/* Files the run writes, opened before connecting so a bad path is a usage error. */
static int
open_outputs(struct tp_run *run)
{
	const struct tp_config *cfg = run->cfg;

	if (cfg->stats && strcmp(cfg->stats, "-") != 0) {
		run->stats_fd = open(cfg->stats, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (run->stats_fd < 0) {
			run->stats_unwritable = true;
			return tp_usage(run, "--stats %s: %s", cfg->stats, strerror(errno));
		}
	}
	return open_keylog(run);
}

/* Every exit after parsing comes through here: --stats is written on each path. */
static int
finish(struct tp_run *run)
{
	if (run->exit_code && run->reason[0] && !run->told)
		tp_warn("%s", run->reason);
	tp_stats_write(run);
	if (run->stats_fd >= 0)
		close(run->stats_fd);
	if (run->keylog_fd >= 0)
		close(run->keylog_fd);
	return run->exit_code;
}

int
main(int argc, char **argv)
{
	struct tp_config cfg = { .auto_retry = true, .io = TP_IO_SOCKET, .family = AF_UNSPEC,
	    .timeout_ms = 30000, .on_eof = TP_EOF_AUTO, .eof_grace_ms = 1000 };
	struct tp_run run = { .cfg = &cfg, .stats_fd = -1, .keylog_fd = -1, .input_size = -1,
	    .st.handshake_us = -1 };
	struct stat sb;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char where[128];
	int fd = -1, lfd, sig, parsed;
	long deadline;

	run.st.start_us = tp_now_us();
	/* stdin and stderr first, so that messages have a place to go */
	for (int f = 0; f <= 2; f += 2)
		if (fd_closed(f) && null_fd(f) != 0)
			return TP_EXIT_IO;
	parsed = tp_options_parse(argc, argv, &cfg, &run);
	if (parsed > 0)
		return TP_EXIT_OK;	/* --help or --version: no --stats, no key log */
	if (parsed != 0 || standard_fds(&run, &cfg) != 0)
		return finish(&run);
	if (open_outputs(&run) != 0)
		return finish(&run);
	if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode))
		run.input_size = sb.st_size;
	run.progress_tty = cfg.progress && isatty(STDERR_FILENO) == 1;

	tp_signals_install();

	ctx = tp_tls_context(&run);
	if (ctx == NULL)
		return finish(&run);
	if (cfg.insecure)
		tp_warn("warning: --insecure: the server's certificate and name are not verified");

	deadline = cfg.timeout_ms ? tp_now_ms() + cfg.timeout_ms : 0;
	if (cfg.listen) {
		lfd = tp_net_listen(&run, where, sizeof(where));
		if (lfd >= 0) {
			/* scripts and tests wait for this line */
			tp_warn("listening on %s%s%s", where, run.pin[0] ? " pin " : "", run.pin);
			fd = tp_net_accept(&run, lfd);
			close(lfd);
			run.st.start_us = tp_now_us();	/* the run starts with the client */
			deadline = cfg.timeout_ms ? tp_now_ms() + cfg.timeout_ms : 0;
		}
	} else {
		fd = tp_net_connect(&run, deadline);
	}
	if (fd < 0 && (sig = tp_signal_pending()) != 0)
		tp_fail(&run, 128 + sig, "interrupted by signal %d (%s)", sig, strsignal(sig));
	if (fd >= 0 && (ssl = tp_tls_session(ctx, &run)) != NULL)
		tp_pump(ssl, fd, &run, deadline);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return finish(&run);
}
