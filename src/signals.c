/* Signals become flags; the pump and the waits in net.c read them between
 * system calls. No SA_RESTART: a signal must wake select(). A signal that
 * comes after a loop has looked at the flags but before it is inside
 * select() would not wake it, so the handler also writes a byte to a pipe
 * (the self-pipe) whose read end every such select() watches. The flags and
 * the pipe are the program's only mutable globals. It calls nothing of ours. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

#include "tlspipe.h"

static volatile sig_atomic_t got_signal, got_usr1;
static int wake[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (got_signal == 0)
		got_signal = sig;	/* the first one is the one reported */
	if (wake[1] >= 0) {
		ssize_t w = write(wake[1], "", 1);	/* full: it wakes select() anyway */

		(void)w;
	}
	errno = saved;
}

void
tp_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal }, hup;

	signal(SIGPIPE, SIG_IGN);	/* a closed peer is an error return, not a death */
	/* without it, a signal just before a select() waits for its next event */
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0)
		wake[0] = wake[1] = -1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a hangup ignored when we started stays ignored: nohup(1) asked for that */
	if (sigaction(SIGHUP, NULL, &hup) != 0 || hup.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

int
tp_signal_pending(void)
{
	return got_signal;
}

int
tp_usr1_pending(void)
{
	if (!got_usr1)
		return 0;
	got_usr1 = 0;
	return 1;
}

int
tp_signal_fd(void)
{
	return wake[0];
}

void
tp_signal_drain(void)
{
	char buf[64];

	while (wake[0] >= 0 && read(wake[0], buf, sizeof(buf)) > 0)
		;
}
