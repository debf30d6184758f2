/* Resolve, connect, listen, accept. Sockets are non-blocking from birth;
 * the pump decides when to make one blocking (-b). */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlspipe.h"

/* Bytes the kernel still holds for the peer (not yet acknowledged). */
long
tp_net_unsent(int fd)
{
	int n = 0;

	return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : 0;
}

int
tp_net_set_blocking(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static void
addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in), host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* Wait until fd is ready for `write` (or read), or the deadline passes.
 * Returns 1 ready, 0 timed out, -1 interrupted by a signal we act on. The
 * signals' self-pipe wakes it too, for one that came after the check. */
static int
wait_fd(int fd, bool write, long deadline_ms)
{
	int sfd = tp_signal_fd();

	for (;;) {
		fd_set rs, ws;
		struct timeval tv, *tvp = NULL;
		int n;

		if (tp_signal_pending())
			return -1;
		FD_ZERO(&rs);
		FD_ZERO(&ws);
		FD_SET(fd, write ? &ws : &rs);
		if (sfd >= 0)
			FD_SET(sfd, &rs);
		if (deadline_ms > 0) {
			long left = deadline_ms - tp_now_ms();

			if (left <= 0)
				return 0;
			tv.tv_sec = left / 1000;
			tv.tv_usec = (left % 1000) * 1000;
			tvp = &tv;
		}
		n = select((fd > sfd ? fd : sfd) + 1, &rs, &ws, NULL, tvp);
		if (n > 0 && sfd >= 0 && FD_ISSET(sfd, &rs)) {
			tp_signal_drain();
			continue;	/* the flags first */
		}
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return 1;	/* let the caller's next call report it */
	}
}

static int
new_socket(int family)
{
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* getaddrinfo in a thread of its own, so that a signal ends the wait:
 * glibc's resolver goes back to its poll() after one, and a DNS server that
 * never answers would hold SIGTERM for its timeout times its attempts (10 s
 * by default, per server). The lookup thread blocks every signal, so they
 * all wake the main thread's wait_fd() on the pipe the lookup writes to
 * when it is done. The wait ends at -w's deadline too. After a signal or
 * the deadline the lookup is left to itself (the process exits first);
 * else it is joined, and no thread outlives the resolve. */
struct lookup {
	const char *host, *port;
	struct addrinfo hints, *res;
	int rc, err, done[2];
};

static void *
lookup_run(void *arg)
{
	struct lookup *l = arg;

	l->rc = getaddrinfo(l->host, l->port, &l->hints, &l->res);
	l->err = errno;
	if (write(l->done[1], "", 1) < 0)
		l->err = errno;	/* cannot happen: the pipe is empty and open */
	return NULL;
}

/* getaddrinfo's result; after a signal, EAI_SYSTEM with errno EINTR, and
 * past the deadline (0: none) with ETIMEDOUT */
static int
lookup(const char *host, const char *port, const struct addrinfo *hints, struct addrinfo **res, long deadline_ms)
{
	int w;

	struct lookup *l = calloc(1, sizeof(*l));
	sigset_t all, old;
	pthread_t t;
	int rc = -1;

	if (l != NULL && pipe2(l->done, O_CLOEXEC) == 0) {
		l->host = host;
		l->port = port;
		l->hints = *hints;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		rc = pthread_create(&t, NULL, lookup_run, l);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0) {
			close(l->done[0]);
			close(l->done[1]);
		}
	}
	if (rc != 0) {	/* no thread: a lookup that a signal cannot cut short */
		free(l);
		return getaddrinfo(host, port, hints, res);
	}
	if ((w = wait_fd(l->done[0], false, deadline_ms)) <= 0) {
		pthread_detach(t);	/* l and the pipe are its own now */
		errno = w < 0 ? EINTR : ETIMEDOUT;
		return EAI_SYSTEM;
	}
	pthread_join(t, NULL);
	*res = l->res;
	rc = l->rc;
	close(l->done[0]);
	close(l->done[1]);
	errno = l->err;
	free(l);
	return rc;
}

static struct addrinfo *
resolve(struct tp_run *run, const char *host, int flags, long deadline_ms)
{
	struct addrinfo hints = { .ai_family = run->cfg->family, .ai_socktype = SOCK_STREAM,
	    .ai_flags = flags }, *res;
	int rc = lookup(host, run->cfg->port, &hints, &res, deadline_ms);

	if ((rc == EAI_BADFLAGS || rc == EAI_NONAME) && (flags & AI_ADDRCONFIG)) {
		hints.ai_flags &= ~AI_ADDRCONFIG;	/* it hides loopback on a box without routes */
		rc = lookup(host, run->cfg->port, &hints, &res, deadline_ms);
	}
	if (rc != 0 && tp_signal_pending())
		return NULL;	/* main says which signal stopped it */
	if (rc == EAI_SYSTEM && errno == ETIMEDOUT) {
		tp_fail(run, TP_EXIT_TIMEOUT, "timed out: cannot resolve %s within %ld s", host,
		    run->cfg->timeout_ms / 1000);
		return NULL;
	}
	if (rc != 0) {
		tp_fail(run, TP_EXIT_CONNECT, "cannot resolve %s port %s: %s", host, run->cfg->port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return NULL;
	}
	return res;
}

/* One address: a connected socket, or -1 with the reason in *err
 * (ETIMEDOUT when the deadline passed, EINTR for a signal). */
static int
connect_one(const struct addrinfo *ai, long deadline_ms, int *err)
{
	int fd = new_socket(ai->ai_family), w;
	socklen_t sl = sizeof(*err);

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	*err = errno;
	if (*err == EINPROGRESS) {
		w = wait_fd(fd, true, deadline_ms);
		if (w == 0)
			*err = ETIMEDOUT;
		else if (w < 0)
			*err = EINTR;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) == 0 && *err == 0)
			return fd;
	}
	close(fd);
	return -1;
}

int
tp_net_connect(struct tp_run *run, long deadline_ms)
{
	const struct tp_config *cfg = run->cfg;
	struct addrinfo *res = resolve(run, cfg->host, AI_ADDRCONFIG, deadline_ms), *ai;
	int fd = -1, err = 0, one = 1;

	if (res == NULL)
		return -1;
	/* the deadline covers all addresses together; a signal stops the tries */
	for (ai = res; ai && fd < 0 && err != ETIMEDOUT && err != EINTR; ai = ai->ai_next) {
		addr_text(ai->ai_addr, run->peer, sizeof(run->peer));
		fd = connect_one(ai, deadline_ms, &err);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			tp_fail(run, TP_EXIT_TIMEOUT, "timed out: cannot connect to %s port %s within %ld s",
			    cfg->host, cfg->port, cfg->timeout_ms / 1000);
		else if (err != EINTR)
			tp_fail(run, TP_EXIT_CONNECT, "cannot connect to %s port %s: %s", cfg->host, cfg->port,
			    strerror(err));
		return -1;
	}
	/* interactive lines must not wait for Nagle; bulk writes are large anyway */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* One address: a listening socket, or -1 with the reason in *err. */
static int
listen_one(const struct addrinfo *ai, int *err)
{
	int fd = new_socket(ai->ai_family), one = 1;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0)
		return fd;
	*err = errno;
	close(fd);
	return -1;
}

/* Bind and listen; `where` gets the address, for the listening line. */
int
tp_net_listen(struct tp_run *run, char *where, size_t wherelen)
{
	const struct tp_config *cfg = run->cfg;
	const char *host = cfg->host ? cfg->host : (cfg->family == AF_INET6 ? "::1" : "127.0.0.1");
	struct addrinfo *res = resolve(run, host, AI_PASSIVE, 0), *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, err = 0;

	if (res == NULL)
		return -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = listen_one(ai, &err);
	freeaddrinfo(res);
	if (fd < 0) {
		tp_fail(run, TP_EXIT_CONNECT, "cannot listen on %s port %s: %s", host, cfg->port, strerror(err));
		return -1;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	addr_text((struct sockaddr *)&ss, where, wherelen);
	return fd;
}

int
tp_net_accept(struct tp_run *run, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	for (;;) {
		/* no deadline: a server waits for its client; -w starts at accept */
		if (wait_fd(lfd, false, 0) < 0)
			return -1;
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			tp_fail(run, TP_EXIT_CONNECT, "cannot accept: %s", strerror(errno));
			return -1;
		}
	}
	addr_text((struct sockaddr *)&ss, run->peer, sizeof(run->peer));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
