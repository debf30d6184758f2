/* How a run ends: when our close_notify may go (--on-eof, the grace, a
 * pending renegotiation), when the run is finished, the linger that never
 * close()s with data the peer has not had, and a signal's clean goodbye. */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pump.h"

/* Send what is queued, then half-close and read until the peer closes or
 * `end` passes: a close() with unread input would reset the connection and
 * could take our last bytes with it. */
void
tp_linger(struct pump *p, long end)
{
	while ((tp_wire_unflushed(&p->w) || tp_wire_stashed(&p->w) > 0) && tp_now_ms() < end) {
		fd_set w;
		struct timeval tv = { 0, 50000 };

		if (tp_wire_flush(&p->w) < 0) {
			tp_io_wire_failed(p);
			break;
		}
		if (!tp_wire_unflushed(&p->w) && tp_wire_stashed(&p->w) == 0)
			break;
		FD_ZERO(&w);
		FD_SET(p->fd, &w);
		select(p->fd + 1, NULL, &w, NULL, &tv);
	}
	tp_net_set_blocking(p->fd, false);
	shutdown(p->fd, SHUT_WR);
	for (;;) {
		long left = end - tp_now_ms();
		fd_set r;
		struct timeval tv;

		if (left <= 0)
			break;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		FD_ZERO(&r);
		FD_SET(p->fd, &r);
		if (select(p->fd + 1, &r, NULL, NULL, &tv) <= 0)
			break;
		if (read(p->fd, p->buf, CHUNK) <= 0)
			break;
	}
}

/* A signal ends the run at once, but cleanly: the record in flight is
 * completed (its identical retry, absorbed into the stash), close_notify is
 * queued behind it, and both go out for at most SIGNAL_LINGER_MS, so a peer
 * that reads gets the data and the goodbye, and one that does not cannot
 * hold us. The signal's status is recorded first: it is the one reported,
 * and failures after it are not told. */
void
tp_on_signal(struct pump *p, int sig)
{
	p->signalled = sig;
	fail(p, 128 + sig, "interrupted by signal %d (%s)", sig, strsignal(sig));
	if (!p->handshaken)
		return;
	tp_net_set_blocking(p->fd, false);
	if (!p->notified && !SSL_in_init(p->ssl) && tp_io_absorb(p) == 0 && p->o.want == TP_DONE) {
		p->w.absorb = true;
		tp_io_notify(p);
		p->w.absorb = false;
	}
	tp_linger(p, tp_now_ms() + SIGNAL_LINGER_MS);
}

/* --on-eof=auto: how long close_notify must still wait (0: not at all).
 * The peer must have been quiet for the grace. The quiet time starts once
 * our last byte has left the host (a server cannot answer what it has not
 * received) and starts again with every byte the peer sends. */
long
tp_grace_left(struct pump *p, long now)
{
	long since;

	if (p->cfg->on_eof != TP_EOF_AUTO || p->in_done)
		return 0;	/* the peer's goodbye ends the wait */
	if (tp_wire_stashed(&p->w) > 0 || tp_wire_unflushed(&p->w) || tp_net_unsent(p->fd) > 0) {
		p->quiet_from = 0;
		return OUTQ_POLL_MS;	/* no event says when the kernel has sent it */
	}
	if (p->quiet_from == 0) {
		p->quiet_from = now;
		tp_trace(p->run, "close_notify waits until %s is quiet for %ld ms (--on-eof=auto)",
		    p->run->peer, p->cfg->eof_grace_ms);
	}
	since = p->last_rx > p->quiet_from ? p->last_rx : p->quiet_from;
	return since + p->cfg->eof_grace_ms > now ? since + p->cfg->eof_grace_ms - now : 0;
}

/* Our close_notify, after what the peer sent is read: a peer that closes
 * on it may reset the connection, and a reset can take unread data along. */
static int
say_goodbye(struct pump *p)
{
	if (!p->in_done && tp_io_read(p) < 0)
		return -1;
	return tp_io_notify(p);
}

/* The peer left in the middle of a handshake (a renegotiation it began,
 * then its close_notify): nothing can go out any more, not even our
 * close_notify, so waiting for stdin would wait for ever. Input that can no
 * longer be sent fails the run; a person at a terminal is not waited for. */
static int
left_in_handshake(struct pump *p)
{
	if (p->o.len != 0 || (p->out == OUT_OPEN && !p->stdin_eof && isatty(STDIN_FILENO) != 1))
		return fail(p, TP_EXIT_IO, "%s closed the connection during a handshake; the rest of stdin "
		    "cannot be sent", p->run->peer);
	tp_warn("%s closed the connection during a handshake; no close_notify could be sent", p->run->peer);
	return 1;
}

/* What the directions' states mean now. Returns 1 when finished. */
int
tp_settle(struct pump *p)
{
	if (p->out == OUT_OPEN && p->stdin_eof && p->o.len == 0 && p->handshaken) {
		p->out = OUT_EOF;
		if (p->cfg->on_eof == TP_EOF_WAIT)
			p->out = OUT_DONE;
	}
	if (p->out == OUT_EOF && !p->notified && notify_may_go(p) && tp_grace_left(p, tp_now_ms()) == 0 &&
	    say_goodbye(p) < 0)
		return -1;
	/* sent now, or by the retry of one that met a full socket (pump.c):
	 * either way the outbound direction is over */
	if (p->out == OUT_EOF && p->notified)
		p->out = OUT_DONE;
	if (p->out == OUT_DONE && p->notified && p->cfg->on_eof == TP_EOF_EXIT)
		return 1;
	if (!p->in_done)
		return 0;
	if (!p->notified && SSL_in_init(p->ssl))
		return left_in_handshake(p);
	/* the peer half-closed: it still gets the rest of stdin, unless a
	 * person at a terminal is typing to a server that hung up */
	if (p->out != OUT_DONE && isatty(STDIN_FILENO) != 1)
		return 0;
	if (p->notified || p->o.len != 0)
		return p->notified;
	if (notify_may_go(p) && tp_io_notify(p) < 0)
		return -1;
	return p->notified;
}
