/* The select() loop: stdin -> SSL_write and SSL_read -> stdout at once.
 * A turn runs every step whose condition holds (pump.h names each one),
 * then select() waits for what the next turn needs. The steps are in io.c,
 * the endings in ending.c; doc/DESIGN.md gives the rules they keep. */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pump.h"

/* Every step whose condition holds, in order. 0: wait for events; 1: the
 * run is finished; -1: it failed (or a signal stopped it). */
static int
turn(struct pump *p)
{
	int s;

	if ((p->signalled = tp_signal_pending()) != 0)
		return -1;
	if (tp_usr1_pending())
		p->usr1 = true;
	if (read_due(p) && (tp_io_absorb(p) < 0 || tp_io_read(p) < 0))
		return -1;
	if (p->ev.in && stdin_wanted(p) && tp_io_fill(p) < 0)
		return -1;
	if (p->handshaken && tp_io_write(p) < 0)
		return -1;
	if (notify_retry_due(p) && tp_io_notify(p) < 0)
		return -1;
	if (tp_io_rekey(p) < 0)
		return -1;
	if ((s = tp_settle(p)) != 0)
		return s;
	tp_progress(p->run, false);
	return 0;
}

static long
earliest(long wait, long left)
{
	return left < wait ? left : wait;
}

/* How long select() may sleep, in ms (-1: until an event). */
static long
next_wait(struct pump *p, long now)
{
	long wait = earliest(handshake_left(p, now), idle_left(p, now)), left;

	if (p->cfg->progress && p->run->progress_tty)
		wait = earliest(wait, 500);
	/* a close_notify held for a HelloRequest's answer goes when the wait ends */
	if ((p->out == OUT_EOF || p->in_done) && !p->notified && (left = reneg_hold_left(p, now)) > 0)
		wait = earliest(wait, left);
	/* writes held for a renegotiation's answer go on when the wait ends */
	if ((left = rekey_hold_left(p, now)) > 0)
		wait = earliest(wait, left);
	if (p->out == OUT_EOF && !p->notified && (left = tp_grace_left(p, now)) > 0)
		wait = earliest(wait, left);
	/* something complete held inside OpenSSL must not wait on select(),
	 * nor a write or a rekey that may go now: no event would announce them */
	if ((!p->in_done && more_held(p)) || write_due_unannounced(p) || rekey_ready(p))
		wait = 0;
	return wait == LONG_MAX ? -1 : wait;
}

/* The fds the next turn needs, into rs and ws; and the signals' self-pipe,
 * for one that comes after the turn looked at the flags. */
static void
wait_set(const struct pump *p, fd_set *rs, fd_set *ws)
{
	FD_ZERO(rs);
	FD_ZERO(ws);
	if (tp_signal_fd() >= 0)
		FD_SET(tp_signal_fd(), rs);
	if (socket_input_wanted(p))
		FD_SET(p->fd, rs);
	if (socket_output_wanted(p))
		FD_SET(p->fd, ws);
	if (stdin_wanted(p))
		FD_SET(STDIN_FILENO, rs);
}

/* The deadlines, then select(); what it reported goes into p->ev. */
static int
wait_events(struct pump *p)
{
	long now = tp_now_ms(), wait;
	struct timeval tv;
	fd_set rs, ws;
	int n, sfd = tp_signal_fd();
	bool sig;

	if (handshake_left(p, now) <= 0)
		return fail(p, TP_EXIT_TIMEOUT, "timed out: no TLS handshake with %s within %ld s", p->run->peer,
		    p->cfg->timeout_ms / 1000);
	if (idle_left(p, now) <= 0)
		return fail(p, TP_EXIT_TIMEOUT, "timed out: no data for %ld s (--idle-timeout)",
		    p->cfg->idle_timeout_ms / 1000);
	wait_set(p, &rs, &ws);
	wait = next_wait(p, now);
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	n = select((p->fd > sfd ? p->fd : sfd) + 1, &rs, &ws, NULL, wait >= 0 ? &tv : NULL);
	if (n < 0) {
		p->ev.rd = p->ev.wr = p->ev.in = false;
		return errno == EINTR ? 0 : fail(p, TP_EXIT_IO, "select: %s", strerror(errno));
	}
	p->ev.rd = FD_ISSET(p->fd, &rs);
	p->ev.wr = FD_ISSET(p->fd, &ws);
	p->ev.in = FD_ISSET(STDIN_FILENO, &rs);
	sig = sfd >= 0 && FD_ISSET(sfd, &rs);
	if (sig)
		tp_signal_drain();	/* before the next turn reads the flags */
	if (n > 0)
		tp_trace(p->run, "select:%s%s%s%s", p->ev.rd ? " socket readable" : "",
		    p->ev.wr ? " socket writable" : "", p->ev.in ? " stdin readable" : "", sig ? " signal" : "");
	if (p->ev.wr && tp_wire_flush(&p->w) < 0)
		return tp_io_wire_failed(p);
	return 0;
}

/* Buffers, OpenSSL's I/O and -b's socket mode. */
static int
start(struct pump *p)
{
	p->o.in = malloc(CHUNK);
	p->buf = malloc(CHUNK);
	if (p->o.in == NULL || p->buf == NULL)
		return fail(p, TP_EXIT_IO, "out of memory");
	if (tp_wire_attach(&p->w, p->ssl, p->fd, p->cfg->io == TP_IO_PAIR) < 0)
		return fail(p, TP_EXIT_IO, "cannot set up OpenSSL's I/O: %s", strerror(p->w.err));
	if (p->cfg->blocking) {
		struct timeval tv = { 1, 0 };

		/* a blocking SSL_write returns within a second, as WANT_WRITE,
		 * so a full-duplex peer, a signal or a timeout is never starved */
		setsockopt(p->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		tp_net_set_blocking(p->fd, true);
	}
	p->last_io = tp_now_ms();
	return 0;
}

int
tp_pump(SSL *ssl, int fd, struct tp_run *run, long deadline)
{
	struct pump p = { .ssl = ssl, .fd = fd, .run = run, .cfg = run->cfg, .st = &run->st,
	    .w.fd = fd, .o.want = TP_DONE, .rd_want = TP_DONE, .sd_want = TP_DONE, .deadline = deadline,
	    .ev.rd = true };	/* the handshake starts in the first SSL_read */
	int s = start(&p);

	while (s == 0 && (s = turn(&p)) == 0)
		s = wait_events(&p);
	if (s > 0)
		tp_linger(&p, tp_now_ms() + LINGER_MS);
	else if (p.signalled)
		tp_on_signal(&p, p.signalled);
	tp_progress(run, true);
	run->st.close_notify_sent = p.notified;
	run->st.peer_close_notify = p.peer_notified;
	tp_wire_detach(&p.w, ssl);
	free(p.o.in);
	free(p.buf);
	return run->exit_code;
}
