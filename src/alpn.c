/* ALPN lists: --alpn's comma-separated text into the wire format (a length
 * byte before each name), a server's pick from a client's list, and a wire
 * list back into words for a refusal. Calls nothing of ours, so the fuzzer
 * (fuzz/alpn.c) can drive it alone. */
#include <stdio.h>
#include <string.h>

#include "tlspipe.h"

int
tp_alpn_parse(const char *list, unsigned char *out, size_t outlen, size_t *len)
{
	size_t n = 0;
	const char *p = list;

	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 0 || l > 255 || n + 1 + l > outlen)
			return -1;
		out[n++] = (unsigned char)l;
		memcpy(out + n, p, l);
		n += l;
		p += l + (e != NULL);
		if (e && *p == '\0')
			return -1;
	}
	*len = n;
	return n ? 0 : -1;
}

/* The wire list's names one by one: *name and *namelen for the one at *at,
 * false at the end. A name that runs past the list ends it: OpenSSL checks
 * a client's list before our callback sees it, but these functions are not
 * to trust that. */
static bool
next_name(const unsigned char *wire, size_t wirelen, size_t *at, const unsigned char **name, size_t *namelen)
{
	if (*at >= wirelen || wire[*at] > wirelen - *at - 1)
		return false;
	*namelen = wire[*at];
	*name = wire + *at + 1;
	*at += 1 + *namelen;
	return true;
}

/* Our order wins: the first of `ours` that the client offers, pointing
 * into `in` (OpenSSL's select callback must return a pointer into it). */
bool
tp_alpn_pick(const unsigned char *ours, size_t ourlen, const unsigned char *in, size_t inlen,
    const unsigned char **out, unsigned char *outlen)
{
	const unsigned char *a, *b;
	size_t i = 0, j, al, bl;

	while (next_name(ours, ourlen, &i, &a, &al))
		for (j = 0; next_name(in, inlen, &j, &b, &bl);)
			if (al == bl && memcmp(a, b, al) == 0) {
				*out = b;
				*outlen = (unsigned char)bl;
				return true;
			}
	return false;
}

/* A wire list as "a, b", cut to fit buf (a refusal's words). */
void
tp_alpn_text(const unsigned char *in, size_t inlen, char *buf, size_t len)
{
	const unsigned char *name;
	size_t at = 0, n = 0, l;

	if (len == 0)
		return;
	buf[0] = '\0';
	while (n < len && next_name(in, inlen, &at, &name, &l))
		n += (size_t)snprintf(buf + n, len - n, "%s%.*s", n ? ", " : "", (int)l, (const char *)name);
}
