/* libFuzzer target: ALPN lists (src/alpn.c). The input is two --alpn
 * values, ours and the client's, split at the first NUL; each that parses
 * must give a wire list that reads back as the same names, and a pick must
 * point at a name of the client's list that is also ours. The rest of the
 * input after a second NUL goes in as a raw wire list, which the pick and
 * the words must survive. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/tlspipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "a,b" as tp_alpn_text writes it: "a, b" */
static void
spaced(const char *list, char *out, size_t len)
{
	size_t n = 0;

	for (; *list && n + 3 < len; list++) {
		out[n++] = *list;
		if (*list == ',')
			out[n++] = ' ';
	}
	out[n] = '\0';
}

/* parse `list`; when it parses, its words must read back as written */
static int
parse_checked(const char *list, unsigned char *wire, size_t cap, size_t *len)
{
	char words[2048], want[2048];

	if (tp_alpn_parse(list, wire, cap, len) != 0)
		return -1;
	if (*len == 0 || *len > cap)
		abort();
	tp_alpn_text(wire, *len, words, sizeof(words));
	spaced(list, want, sizeof(want));
	/* a name holding a comma cannot come from parse; one holding ", " in
	 * the text is fine: both sides write it the same way */
	if (strlen(list) * 2 < sizeof(want) && strcmp(words, want) != 0)
		abort();
	return 0;
}

static void
pick_checked(const unsigned char *ours, size_t ourlen, const unsigned char *in, size_t inlen)
{
	const unsigned char *out = NULL;
	unsigned char outlen = 0;
	char words[256];

	if (tp_alpn_pick(ours, ourlen, in, inlen, &out, &outlen) &&
	    (out == NULL || out < in || outlen == 0 || out + outlen > in + inlen))
		abort();
	tp_alpn_text(in, inlen, words, sizeof(words));	/* the refusal's words: cut, never overrun */
	tp_alpn_text(in, inlen, words, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2), *theirs, *raw;
	unsigned char a[512], b[512];
	size_t alen, blen, rawlen;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	theirs = buf + strlen(buf) + 1;	/* "" when the input has no NUL */
	if (theirs > buf + size)
		theirs = buf + size + 1;
	raw = theirs + strlen(theirs) + 1;
	rawlen = raw <= buf + size ? (size_t)(buf + size - raw) : 0;
	if (parse_checked(buf, a, sizeof(a), &alen) == 0) {
		if (parse_checked(theirs, b, sizeof(b), &blen) == 0)
			pick_checked(a, alen, b, blen);
		if (rawlen)
			pick_checked(a, alen, (const unsigned char *)raw, rawlen);
	}
	free(buf);
	return 0;
}
