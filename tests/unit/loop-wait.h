/* For tests that drive modules on a real loop (test-host, test-vault,
 * test-ipp-server): run the loop for a while, or until a condition holds
 * with a deadline, so a slow machine gets time and a broken module does
 * not hang the suite. timer is the test's own, initialised on loop. */
#pragma once

#include <stdint.h>
#include <uv.h>

static void loop_wait_stop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs loop for about ms milliseconds. */
static inline void loop_run_for(uv_loop_t *loop, uv_timer_t *timer, uint64_t ms)
{
	uv_timer_start(timer, loop_wait_stop, ms, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_timer_stop(timer);
}

/* Runs loop until cond holds; fails the test after seconds. */
#define LOOP_WAIT_FOR(loop, timer, cond, seconds)                                  \
	do {                                                                       \
		uint64_t t0_ = uv_hrtime();                                        \
		while (!(cond)) {                                                  \
			if (uv_hrtime() - t0_ > (uint64_t)(seconds)*1000000000ull) \
				fail_msg("timed out waiting for %s", #cond);       \
			loop_run_for(loop, timer, 5);                              \
		}                                                                  \
	} while (0)
