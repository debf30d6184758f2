/* The monotonic clock every deadline and --trace timestamp reads. It calls
 * nothing of ours, so any file may use it. */
#include <time.h>

#include "tlspipe.h"

long
tp_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long
tp_now_ms(void)
{
	return tp_now_us() / 1000;
}
