/* Deadlines and back-off. A scout_timers is one binary min-heap of
 * deadlines under one uv_timer_t, armed at the earliest: use it when an
 * owner has many things that each time out (requests in flight, bus
 * requests, sessions), instead of a uv_timer_t per thing or a list kept
 * sorted by hand. Each deadline is embedded in its object and knows its
 * place in the heap, so arming, moving and removing one cost O(log n) and
 * allocate nothing once the heap has room (scout_timers_reserve). Expired
 * deadlines fire in deadline order, equal deadlines in the order they were
 * (last) armed; a deadline armed from a callback for a time already past
 * fires in the next loop turn, never in the same run. Times are uv_now()
 * milliseconds. For one periodic job a plain uv_timer_t is simpler.
 *
 * scout_backoff() is the delay before a retry: full jitter (AWS's
 * "exponential back-off and jitter"), uniform in [0, min(cap, base*2^n)],
 * so that many clients failing together do not retry together. Loop thread
 * only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct scout_closer;
struct scout_deadline;

/* d is unarmed when the callback runs; it may be re-armed or freed there. */
typedef void (*scout_deadline_cb)(struct scout_deadline *d);

struct scout_deadline {
	uint64_t at; /* when it fires (read-only) */
	scout_deadline_cb cb;
	/* private */
	uint64_t seq;
	size_t index; /* position in the heap + 1; 0: not armed */
};

struct scout_timers {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct scout_deadline **heap;
	size_t n, cap;
	uint64_t seq;
	uint64_t armed_at; /* UINT64_MAX: the uv timer is stopped */
	bool running;
	void (*batch_cb)(void *arg);
	void *batch_arg;
};

void scout_timers_init(uv_loop_t *loop, struct scout_timers *t);
/* Called once after the callbacks of each run, e.g. to pump a queue once
 * instead of once per expired deadline. */
void scout_timers_on_batch(struct scout_timers *t, void (*cb)(void *arg), void *arg);
/* Room for n armed deadlines without allocating. 0 or -ENOMEM. */
int scout_timers_reserve(struct scout_timers *t, size_t n);
/* Disarms every deadline without calling it, frees the heap, and hands the
 * uv timer to c. */
void scout_timers_close(struct scout_timers *t, struct scout_closer *c);

static inline void scout_deadline_init(struct scout_deadline *d, scout_deadline_cb cb)
{
	d->cb = cb;
	d->index = 0;
}

static inline bool scout_deadline_armed(const struct scout_deadline *d)
{
	return d->index != 0;
}

/* Arms d to fire at `at`, or moves it there if armed. 0 or -ENOMEM (only
 * when the heap must grow past what was reserved). */
int scout_timers_arm(struct scout_timers *t, struct scout_deadline *d, uint64_t at);
/* Arms d to fire ms from now. */
int scout_timers_arm_in(struct scout_timers *t, struct scout_deadline *d, uint64_t ms);
/* Disarms d; nothing happens if it is not armed. */
void scout_timers_disarm(struct scout_timers *t, struct scout_deadline *d);
/* The earliest armed deadline, or NULL. */
struct scout_deadline *scout_timers_first(const struct scout_timers *t);
static inline size_t scout_timers_count(const struct scout_timers *t)
{
	return t->n;
}
/* Fires what is due at now, in order (what the uv timer does; tests call it
 * with a clock of their own). Returns how many fired. */
size_t scout_timers_run(struct scout_timers *t, uint64_t now);

/* A source of 64 random bits; NULL means the system's CSPRNG. */
typedef uint64_t (*scout_rand64_fn)(void *arg);

/* min(cap, base * 2^attempt), without overflow. */
uint64_t scout_backoff_ceiling(uint64_t base, uint64_t cap, unsigned attempt);
/* A delay uniform in [0, scout_backoff_ceiling(base, cap, attempt)]. With
 * no randomness at hand (rng NULL and the CSPRNG failing) it is the
 * ceiling: later rather than all at once. */
uint64_t scout_backoff(uint64_t base, uint64_t cap, unsigned attempt, scout_rand64_fn rng, void *rng_arg);
