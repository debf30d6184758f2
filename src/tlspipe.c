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

/* fds 0-2 must be open before any socket exists, or a socket could become
 * "stdout". A closed stdin reads as empty. */
static int
standard_fds(struct tp_run *run, bool need_stdout)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (fd == STDOUT_FILENO && need_stdout)
			return tp_usage(run, "stdout is closed (use --send-only to discard what the peer sends)");
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return tp_fail(run, TP_EXIT_IO, "cannot open /dev/null: %s", strerror(errno));
	}
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

	if (path == NULL)
		return 0;
	run->keylog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (run->keylog_fd < 0 && run->cfg->keylog)
		return tp_usage(run, "--keylog %s: %s", path, strerror(errno));
	if (run->keylog_fd < 0) {
		tp_warn("warning: SSLKEYLOGFILE %s: %s (the session's secrets are not logged)", path, strerror(errno));
		return 0;
	}
	/* secrets: an older, wider file is narrowed too (if it is ours) */
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
		if (fcntl(f, F_GETFD) < 0 && errno == EBADF && open("/dev/null", f ? O_WRONLY : O_RDONLY) != f)
			return TP_EXIT_IO;
	parsed = tp_options_parse(argc, argv, &cfg, &run);
	if (parsed > 0)
		return TP_EXIT_OK;	/* --help or --version: no --stats, no key log */
	if (parsed != 0 || standard_fds(&run, !cfg.send_only) != 0)
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
