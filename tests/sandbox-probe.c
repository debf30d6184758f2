/* sandbox-probe.so: LD_PRELOADed into tlspipe by tests/93-sandbox.bats.
 * Before the first SSL_write (the handshake is done by then) it makes the
 * call $TP_PROBE names, as an attacker who took over the process would:
 *   open:PATH   open PATH for reading
 *   exec:PATH   execve PATH
 *   connect:PORT  a new TCP connection to 127.0.0.1:PORT
 * and says on stderr whether the call worked ("probe: open PATH: ok" or
 * its error), then lets SSL_write go on. Nothing else changes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct ssl_st SSL;

static void
report(const char *what, const char *arg, int rc)
{
	fprintf(stderr, "probe: %s %s: %s\n", what, arg, rc == 0 ? "ok" : strerror(errno));
}

static void
probe(void)
{
	const char *spec = getenv("TP_PROBE");
	const char *arg;
	int fd, rc;

	if (spec == NULL || (arg = strchr(spec, ':')) == NULL)
		return;
	arg++;
	if (strncmp(spec, "open:", 5) == 0) {
		fd = open(arg, O_RDONLY);
		report("open", arg, fd < 0 ? -1 : 0);
		if (fd >= 0)
			close(fd);
	} else if (strncmp(spec, "exec:", 5) == 0) {
		char *argv[] = { (char *)arg, NULL };

		/* on success the program is gone: the probe's program says so */
		rc = execve(arg, argv, environ);
		report("exec", arg, rc);
	} else if (strncmp(spec, "connect:", 8) == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(arg)) };

		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		report("connect", arg, rc);
		if (fd >= 0)
			close(fd);
	}
}

int
SSL_write(SSL *ssl, const void *buf, int num)
{
	static int (*real)(SSL *, const void *, int);
	static int done;

	if (!done) {
		done = 1;
		probe();
	}
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "SSL_write");
	return real(ssl, buf, num);
}
