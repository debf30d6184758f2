/* libFuzzer target: --pin's check (tp_cert_pin_check in src/cert.c). What
 * it accepts must be sha256// and 44 base64 characters that decode to the
 * 32 bytes of a SHA-256; anything else is refused, never read past. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../src/tlspipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pin = malloc(size + 1), why[256];
	unsigned char md[64];

	if (pin == NULL)
		return 0;
	memcpy(pin, data, size);
	pin[size] = '\0';
	why[0] = '\0';
	if (tp_cert_pin_check(pin, why, sizeof(why)) == 0) {
		/* an independent look at what was accepted */
		if (strlen(pin) != 52 || strncmp(pin, "sha256//", 8) != 0 ||
		    EVP_DecodeBlock(md, (const unsigned char *)pin + 8, 44) != 33 || pin[51] != '=' || pin[50] == '=')
			abort();
	} else if (why[0] == '\0' || strlen(why) >= sizeof(why) - 1) {
		abort();	/* a refusal always says why, in one bounded line */
	}
	free(pin);
	return 0;
}
