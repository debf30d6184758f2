/* Signals become flags; the pump and the waits in net.c read them between
 * system calls. No SA_RESTART: a signal must wake select(). These two flags
 * are the program's only mutable globals. It calls nothing of ours. */
#include <signal.h>
#include <stddef.h>

#include "tlspipe.h"

static volatile sig_atomic_t got_signal, got_usr1;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (got_signal == 0)
		got_signal = sig;	/* the first one is the one reported */
}

void
tp_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	signal(SIGPIPE, SIG_IGN);	/* a closed peer is an error return, not a death */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
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
