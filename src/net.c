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
#include <stdio.h>
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
 * Returns 1 ready, 0 timed out, -1 interrupted by a signal we act on. */
static int
wait_fd(int fd, bool write, long deadline_ms)
{
	for (;;) {
		fd_set set;
		struct timeval tv, *tvp = NULL;
		int n;

		if (tp_signal_pending())
			return -1;
		FD_ZERO(&set);
		FD_SET(fd, &set);
		if (deadline_ms > 0) {
			long left = deadline_ms - tp_now_ms();

			if (left <= 0)
				return 0;
			tv.tv_sec = left / 1000;
			tv.tv_usec = (left % 1000) * 1000;
			tvp = &tv;
		}
		n = select(fd + 1, write ? NULL : &set, write ? &set : NULL, NULL, tvp);
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

static struct addrinfo *
resolve(struct tp_run *run, const char *host, int flags)
{
	struct addrinfo hints = { .ai_family = run->cfg->family, .ai_socktype = SOCK_STREAM,
	    .ai_flags = flags }, *res;
	int rc = getaddrinfo(host, run->cfg->port, &hints, &res);

	if ((rc == EAI_BADFLAGS || rc == EAI_NONAME) && (flags & AI_ADDRCONFIG)) {
		hints.ai_flags &= ~AI_ADDRCONFIG;	/* it hides loopback on a box without routes */
		rc = getaddrinfo(host, run->cfg->port, &hints, &res);
	}
	if (rc != 0) {
		tp_fail(run, TP_EXIT_CONNECT, "cannot resolve %s port %s: %s", host, run->cfg->port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return NULL;
	}
	return res;
}

int
tp_net_connect(struct tp_run *run, long deadline_ms)
{
	const struct tp_config *cfg = run->cfg;
	char *peer = run->peer;
	size_t peerlen = sizeof(run->peer);
	bool timed_out = false;
	struct addrinfo *res = resolve(run, cfg->host, AI_ADDRCONFIG), *ai;
	int fd = -1, err = 0;

	if (res == NULL)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = new_socket(ai->ai_family);
		if (fd < 0) {
			err = errno;
			continue;
		}
		addr_text(ai->ai_addr, peer, peerlen);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int w = wait_fd(fd, true, deadline_ms);
			socklen_t sl = sizeof(err);

			if (w == 0) {
				timed_out = true;
				err = ETIMEDOUT;
				close(fd);
				fd = -1;
				break;	/* the deadline covers all addresses together */
			}
			if (w < 0) {
				close(fd);
				fd = -1;
				err = EINTR;
				break;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
				break;
		} else {
			err = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		if (timed_out)
			tp_fail(run, TP_EXIT_TIMEOUT, "timed out: cannot connect to %s port %s within %ld s",
			    cfg->host, cfg->port, cfg->timeout_ms / 1000);
		else if (err != EINTR)
			tp_fail(run, TP_EXIT_CONNECT, "cannot connect to %s port %s: %s", cfg->host, cfg->port,
			    strerror(err));
		return -1;
	}
	int one = 1;

	/* interactive lines must not wait for Nagle; bulk writes are large anyway */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Bind and listen; `where` gets the address, for the listening line. */
int
tp_net_listen(struct tp_run *run, char *where, size_t wherelen)
{
	const struct tp_config *cfg = run->cfg;
	const char *host = cfg->host ? cfg->host : (cfg->family == AF_INET6 ? "::1" : "127.0.0.1");
	struct addrinfo *res = resolve(run, host, AI_PASSIVE), *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, err = 0, one = 1;

	if (res == NULL)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = new_socket(ai->ai_family);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
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
