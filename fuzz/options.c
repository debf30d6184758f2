/* libFuzzer target: the command line. The input is argv, split at NUL bytes
 * (argv[0] is "tlspipe"); tp_options_parse must accept it, refuse it with
 * exit 2 and a reason, or say it printed --help or --version; never crash,
 * never leave a half-set usage error. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../src/tlspipe.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* as main() sets them */
	struct tp_config cfg = { .auto_retry = true, .io = TP_IO_SOCKET, .family = AF_UNSPEC,
	    .timeout_ms = 30000, .on_eof = TP_EOF_AUTO, .eof_grace_ms = 1000 };
	struct tp_run run = { .cfg = &cfg, .stats_fd = -1, .keylog_fd = -1, .input_size = -1,
	    .st.handshake_us = -1 };
	char *buf = malloc(size + 1), *argv[MAX_ARGS + 2], *p;
	int argc = 0, rc;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"tlspipe";
	/* each NUL ends an argument; the parser writes into them, as into a
	 * real argv (host:port is split in place) */
	for (p = buf; p <= buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	optind = 0;	/* glibc: a full reset of getopt's state, as for a new process */
	rc = tp_options_parse(argc, argv, &cfg, &run);
	if (rc < 0 && (run.exit_code != TP_EXIT_USAGE || run.reason[0] == '\0'))
		abort();	/* a refusal always says why, with exit 2 */
	if (rc == 0 && (run.exit_code != 0 || cfg.port == NULL))
		abort();	/* an accepted command line has a port to use */
	if (rc == 0 && cfg.npins > (int)(sizeof(cfg.pins) / sizeof(cfg.pins[0])))
		abort();
	free(buf);
	return 0;
}
