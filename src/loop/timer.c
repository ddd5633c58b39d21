/* The deadline heap: heap[0] is the earliest; an entry's index field is
 * its position + 1, kept in step on every move, so an owner can disarm or
 * move its deadline without a search. Ties are broken by an arming
 * sequence number, which makes the order total and stable. */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

#include "closer.h"

static bool before(const struct scout_deadline *a, const struct scout_deadline *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void place(struct scout_timers *t, size_t i, struct scout_deadline *d)
{
	t->heap[i] = d;
	d->index = i + 1;
}

static void sift_up(struct scout_timers *t, size_t i)
{
	struct scout_deadline *d = t->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(d, t->heap[p]))
			break;
		place(t, i, t->heap[p]);
		i = p;
	}
	place(t, i, d);
}

static void sift_down(struct scout_timers *t, size_t i)
{
	struct scout_deadline *d = t->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= t->n)
			break;
		if (c + 1 < t->n && before(t->heap[c + 1], t->heap[c]))
			c++;
		if (!before(t->heap[c], d))
			break;
		place(t, i, t->heap[c]);
		i = c;
	}
	place(t, i, d);
}

static void on_timer(uv_timer_t *h);

/* Keeps the uv timer at the earliest deadline; restarts it only when that
 * changed, since most arms land behind the first. */
static void rearm(struct scout_timers *t)
{
	uint64_t at = t->n ? t->heap[0]->at : UINT64_MAX;

	if (t->running || at == t->armed_at || !t->loop)
		return;
	t->armed_at = at;
	if (at == UINT64_MAX) {
		uv_timer_stop(&t->timer);
		return;
	}
	uint64_t now = uv_now(t->loop);
	uv_timer_start(&t->timer, on_timer, at > now ? at - now : 0, 0);
}

void scout_timers_init(uv_loop_t *loop, struct scout_timers *t)
{
	*t = (struct scout_timers){.loop = loop, .armed_at = UINT64_MAX};
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
}

void scout_timers_on_batch(struct scout_timers *t, void (*cb)(void *arg), void *arg)
{
	t->batch_cb = cb;
	t->batch_arg = arg;
}

int scout_timers_reserve(struct scout_timers *t, size_t n)
{
	if (n <= t->cap)
		return 0;
	struct scout_deadline **h = realloc(t->heap, n * sizeof(*h));
	if (!h)
		return -ENOMEM;
	t->heap = h;
	t->cap = n;
	return 0;
}

void scout_timers_close(struct scout_timers *t, struct scout_closer *c)
{
	for (size_t i = 0; i < t->n; i++)
		t->heap[i]->index = 0;
	free(t->heap);
	t->heap = NULL;
	t->n = t->cap = 0;
	scout_closer_close(c, (uv_handle_t *)&t->timer);
	t->loop = NULL; /* nothing arms the closed timer again */
}

int scout_timers_arm(struct scout_timers *t, struct scout_deadline *d, uint64_t at)
{
	if (d->index) {
		size_t i = d->index - 1;
		d->at = at;
		d->seq = t->seq++;
		/* a later time or a newer sequence can only move it down; an
		 * earlier time up */
		sift_up(t, i);
		if (d->index - 1 == i)
			sift_down(t, i);
	} else {
		if (t->n == t->cap && scout_timers_reserve(t, t->cap ? 2 * t->cap : 16) < 0)
			return -ENOMEM;
		d->at = at;
		d->seq = t->seq++;
		place(t, t->n++, d);
		sift_up(t, t->n - 1);
	}
	rearm(t);
	return 0;
}

int scout_timers_arm_in(struct scout_timers *t, struct scout_deadline *d, uint64_t ms)
{
	return scout_timers_arm(t, d, uv_now(t->loop) + ms);
}

void scout_timers_disarm(struct scout_timers *t, struct scout_deadline *d)
{
	if (!d->index)
		return;
	size_t i = d->index - 1;
	struct scout_deadline *last = t->heap[--t->n];

	d->index = 0;
	if (i < t->n) {
		place(t, i, last);
		sift_up(t, i);
		if (last->index - 1 == i)
			sift_down(t, i);
	}
	rearm(t);
}

struct scout_deadline *scout_timers_first(const struct scout_timers *t)
{
	return t->n ? t->heap[0] : NULL;
}

size_t scout_timers_run(struct scout_timers *t, uint64_t now)
{
	uint64_t limit = t->seq; /* what callbacks arm now waits for the next run */
	size_t fired = 0;
	bool nested = t->running;

	t->running = true;
	while (t->n && t->heap[0]->at <= now && t->heap[0]->seq < limit) {
		struct scout_deadline *d = t->heap[0];
		scout_timers_disarm(t, d);
		fired++;
		d->cb(d);
		if (!t->loop && !t->heap)
			break; /* closed from a callback */
	}
	if (nested)
		return fired;
	t->running = false;
	if (t->batch_cb && t->loop)
		t->batch_cb(t->batch_arg);
	t->armed_at = 0; /* force: the uv timer has fired or is stale */
	rearm(t);
	return fired;
}

static void on_timer(uv_timer_t *h)
{
	struct scout_timers *t = h->data;

	t->armed_at = UINT64_MAX - 1; /* fired: not armed any more */
	scout_timers_run(t, uv_now(t->loop));
}

/* ---- back-off ------------------------------------------------------------ */

uint64_t scout_backoff_ceiling(uint64_t base, uint64_t cap, unsigned attempt)
{
	uint64_t v = base;

	for (unsigned i = 0; i < attempt && v < cap; i++)
		v = v > UINT64_MAX / 2 ? UINT64_MAX : v * 2;
	return v < cap ? v : cap;
}

static uint64_t system_rand(void *arg)
{
	uint64_t x;
	(void)arg;
	if (uv_random(NULL, NULL, &x, sizeof(x), 0, NULL) < 0)
		return UINT64_MAX; /* maps to the ceiling below */
	return x;
}

uint64_t scout_backoff(uint64_t base, uint64_t cap, unsigned attempt, scout_rand64_fn rng, void *rng_arg)
{
	uint64_t ceil = scout_backoff_ceiling(base, cap, attempt);

	if (!rng)
		rng = system_rand;
	if (ceil == UINT64_MAX)
		return rng(rng_arg);
	/* uniform in [0, ceil]: reject the short last stretch of the 64-bit
	 * range that would favour small delays */
	uint64_t span = ceil + 1, lim = UINT64_MAX - UINT64_MAX % span;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t x = rng(rng_arg);
		if (x == UINT64_MAX && rng == system_rand)
			return ceil;
		if (x < lim)
			return x % span;
	}
	return ceil;
}
