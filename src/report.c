/* What a run says about itself, always on stderr or a file of its own:
 * failures (with their exit status), --trace lines, --stats JSON, --progress. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tlspipe.h"

void
tp_warn(const char *fmt, ...)
{
	va_list ap;
	char line[2048];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* a message is one line, whatever a value in it holds (a newline in
	 * an argument, escapes a terminal would obey) */
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	/* one write per line: two processes sharing a terminal do not interleave */
	dprintf(STDERR_FILENO, "tlspipe: %s\n", line);
}

int
tp_fail(struct tp_run *run, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->reason, sizeof(run->reason), fmt, ap);
	va_end(ap);
	if (run->progress_drawn) {
		dprintf(STDERR_FILENO, "\n");
		run->progress_drawn = false;
	}
	tp_warn("%s", run->reason);
	run->told = true;
	if (run->exit_code == 0)
		run->exit_code = code;	/* the first failure is the one reported */
	return -1;
}

/* A usage error: remembered (it goes into --stats too), printed by main. */
int
tp_usage(struct tp_run *run, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(run->reason, sizeof(run->reason), fmt, ap);
	va_end(ap);
	n = strlen(run->reason);
	snprintf(run->reason + n, sizeof(run->reason) - n, " (see tlspipe --help)");
	run->exit_code = TP_EXIT_USAGE;
	return -1;
}

void
tp_trace(const struct tp_run *run, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	if (!run->cfg->trace)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "tlspipe: %9.3f %s\n", (double)(tp_now_us() - run->st.start_us) / 1000.0, line);
}

/* JSON string body: quotes, backslashes and controls escaped */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void
tp_stats_write(struct tp_run *run)
{
	const struct tp_stats *st = &run->st;
	FILE *f;
	bool bad;
	int fd;

	if (run->cfg == NULL || run->cfg->stats == NULL)
		return;
	if (strcmp(run->cfg->stats, "-") == 0)
		fd = dup(STDERR_FILENO);
	else if (run->stats_fd >= 0)
		fd = dup(run->stats_fd);
	else if (run->stats_unwritable)
		return;	/* that was the usage error, already said */
	else	/* a usage error came before the file was opened */
		fd = open(run->cfg->stats, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		tp_warn("cannot write --stats: %s", strerror(errno));
		return;
	}
	fprintf(f, "{\"bytes_in\":%llu,\"bytes_out\":%llu,\"ssl_write_calls\":%llu,\"partial_writes\":%llu,"
	    "\"want_read\":%llu,\"want_write\":%llu,\"ssl_read_calls\":%llu,\"handshake_ms\":%.3f,"
	    "\"duration_ms\":%.3f,\"rekeys\":%llu,\"peer_rekeys\":%llu,",
	    (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
	    (unsigned long long)st->ssl_write_calls, (unsigned long long)st->partial_writes,
	    (unsigned long long)st->want_read, (unsigned long long)st->want_write,
	    (unsigned long long)st->ssl_read_calls,
	    st->handshake_us >= 0 ? (double)st->handshake_us / 1000.0 : -1.0,
	    (double)(tp_now_us() - st->start_us) / 1000.0,
	    (unsigned long long)st->rekeys, (unsigned long long)st->peer_rekeys);
	fputs("\"role\":", f);
	json_str(f, run->cfg->listen ? "server" : "client");
	fputs(",\"peer\":", f);
	json_str(f, run->peer);
	fputs(",\"protocol\":", f);
	json_str(f, run->protocol);
	fputs(",\"cipher\":", f);
	json_str(f, run->cipher);
	fprintf(f, ",\"peer_close_notify\":%s,\"close_notify_sent\":%s,\"exit_code\":%d,\"exit_reason\":",
	    st->peer_close_notify ? "true" : "false", st->close_notify_sent ? "true" : "false",
	    run->exit_code);
	json_str(f, run->exit_code == 0 && run->reason[0] == '\0' ? "ok" : run->reason);
	fputs("}\n", f);
	/* a full disk shows at the flush: said, but the run's status stays its own */
	bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad)
		tp_warn("warning: cannot write --stats %s: %s", run->cfg->stats, strerror(errno));
}

static void
human(char *buf, size_t len, double v, const char *unit)
{
	static const char *pre[] = { "", "Ki", "Mi", "Gi", "Ti" };
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s%s" : "%.0f %s%s", v, pre[i], unit);
}

/* A pv-like line, redrawn at most a few times a second; only on a terminal.
 * Each direction apart (an echo would otherwise show twice the input); the
 * percent and ETA are stdin's, when it is a regular file. */
void
tp_progress(struct tp_run *run, bool final)
{
	long now = tp_now_us();
	char out[32], outrate[32], in[32], inrate[32], tail[64] = "";
	double secs;

	if (!run->cfg->progress || !run->progress_tty)
		return;
	if (!final && now - run->progress_us < 250000)
		return;
	run->progress_us = now;
	secs = (double)(now - run->st.start_us) / 1e6;
	human(out, sizeof(out), (double)run->st.bytes_out, "B");
	human(outrate, sizeof(outrate), secs > 0 ? (double)run->st.bytes_out / secs : 0, "B/s");
	human(in, sizeof(in), (double)run->st.bytes_in, "B");
	human(inrate, sizeof(inrate), secs > 0 ? (double)run->st.bytes_in / secs : 0, "B/s");
	if (run->input_size > 0 && run->st.bytes_out <= (uint64_t)run->input_size) {
		double frac = (double)run->st.bytes_out / (double)run->input_size;
		double eta = frac > 0 ? secs / frac - secs : 0;

		snprintf(tail, sizeof(tail), "  %3.0f%%  ETA %d:%02d", frac * 100, (int)eta / 60, (int)eta % 60);
	}
	dprintf(STDERR_FILENO, "\rtlspipe: sent %s (%s), received %s (%s)%s\033[K%s", out, outrate, in, inrate,
	    tail, final ? "\n" : "");
	run->progress_drawn = !final;
}
