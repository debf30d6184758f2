/* --key-pass: where an encrypted key's passphrase comes from, in OpenSSL's
 * -passin forms (pass:, env:VAR, file:PATH, fd:N). The passphrase itself is
 * never in a message: only the form, and the name of a variable, a file or a
 * descriptor. A value in no known form may be the passphrase, typed without
 * its form, so it is not repeated either. Calls nothing of ours. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tlspipe.h"

static const char forms[] = "expected pass:PASSPHRASE, env:VAR, file:PATH or fd:N";

/* fd:N, N a descriptor above the standard three; -1 when it is not */
static int
fd_number(const char *s)
{
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return -1;
	return (int)strtol(s, NULL, 10);
}

int
tp_keypass_check(const char *spec, char *why, size_t len)
{
	int fd;

	if (strncmp(spec, "pass:", 5) == 0)
		return 0;
	if (strncmp(spec, "env:", 4) == 0 && spec[4] == '\0')
		snprintf(why, len, "--key-pass env: needs the name of a variable (env:VAR)");
	else if (strncmp(spec, "file:", 5) == 0 && spec[5] == '\0')
		snprintf(why, len, "--key-pass file: needs a path (file:PATH)");
	else if (strncmp(spec, "env:", 4) == 0 || strncmp(spec, "file:", 5) == 0)
		return 0;
	else if (strncmp(spec, "fd:", 3) != 0)
		snprintf(why, len, "--key-pass: %s (the value is not shown: it may be the passphrase)", forms);
	else if ((fd = fd_number(spec + 3)) < 0)
		snprintf(why, len, "--key-pass fd: needs a descriptor number, 3 or above (fd:N)");
	else if (fd <= 2)
		snprintf(why, len, "--key-pass fd:%d: descriptors 0, 1 and 2 carry the payload and the messages; "
		    "pass the passphrase on fd:3 or above", fd);
	else
		return 0;
	return -1;
}

/* The source as a message may name it: never a pass: value. */
const char *
tp_keypass_name(const char *spec, char *buf, size_t len)
{
	if (strncmp(spec, "pass:", 5) == 0)
		snprintf(buf, len, "pass:...");
	else
		snprintf(buf, len, "%s", spec);
	return buf;
}

/* The first line of fd, without its line end, as OpenSSL's -passin reads a
 * file or a descriptor. One byte at a time: nothing after the line is taken
 * from a descriptor that may carry more. Its length; -1 with errno; -2 when
 * it does not fit. */
static long
first_line(int fd, char *pw, size_t len)
{
	size_t n = 0;
	ssize_t r;
	char c;

	while ((r = read(fd, &c, 1)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= len)
			return -2;
		pw[n++] = c;
	}
	if (n > 0 && pw[n - 1] == '\r')
		n--;
	pw[n] = '\0';
	return (long)n;
}

/* pass: and env: hold the passphrase in memory already */
static long
copy_in(const char *s, char *pw, size_t len)
{
	size_t n = strlen(s);

	if (n >= len)
		return -2;
	memcpy(pw, s, n + 1);
	return (long)n;
}

long
tp_keypass_read(const char *spec, char *pw, size_t len, char *err, size_t errlen)
{
	char name[512];
	const char *v;
	long n;
	int fd;

	tp_keypass_name(spec, name, sizeof(name));
	if (strncmp(spec, "pass:", 5) == 0) {
		n = copy_in(spec + 5, pw, len);
	} else if (strncmp(spec, "env:", 4) == 0) {
		if ((v = getenv(spec + 4)) == NULL) {
			snprintf(err, errlen, "--key-pass %s: the variable is not set", name);
			return -1;
		}
		n = copy_in(v, pw, len);
	} else {
		fd = strncmp(spec, "fd:", 3) == 0 ? fd_number(spec + 3) : open(spec + 5, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		n = fd < 0 ? -1 : first_line(fd, pw, len);
		if (n == -1) {
			snprintf(err, errlen, "--key-pass %s: cannot read it: %s", name, strerror(errno));
			return -1;
		}
		if (strncmp(spec, "file:", 5) == 0)
			close(fd);
	}
	if (n == -2)
		snprintf(err, errlen, "--key-pass %s: the passphrase is longer than %zu bytes", name, len - 1);
	else if (n == 0)
		snprintf(err, errlen, "--key-pass %s: %s", name, *spec == 'e' ? "the variable is empty" :
		    *spec == 'p' ? "the passphrase is empty" : "the first line is empty");
	return n > 0 ? n : -1;
}
