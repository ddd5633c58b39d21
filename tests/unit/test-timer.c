/* Unit tests for src/loop/timer.c: the deadline heap's order, removal from
 * the middle, re-arming, equal deadlines in arming order, 10k random
 * operations against a plain array, the uv timer firing on a real loop and
 * closing cleanly, and the back-off's bounds and spread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop/closer.h"
#include "loop/list.h"
#include "loop/timer.h"

struct item {
	int id;
	struct scout_deadline dl;
};

static int fired[20000];
static size_t nfired;

static void on_fire(struct scout_deadline *d)
{
	fired[nfired++] = scout_container_of(d, struct item, dl)->id;
}

static uv_loop_t loop;
static struct scout_timers T;

static int setup(void **state)
{
	(void)state;
	nfired = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	scout_timers_init(&loop, &T);
	return 0;
}

static void closed(void *arg)
{
	*(bool *)arg = true;
}

static int teardown(void **state)
{
	struct scout_closer c;
	bool done = false;
	(void)state;

	scout_closer_init(&c);
	scout_timers_close(&T, &c);
	scout_closer_wait(&c, closed, &done);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&loop), 0);
	return 0;
}

static void test_order_and_middle_removal(void **state)
{
	struct item it[8];
	uint64_t at[8] = {50, 10, 40, 30, 70, 20, 60, 80};
	(void)state;

	for (int i = 0; i < 8; i++) {
		it[i].id = i;
		scout_deadline_init(&it[i].dl, on_fire);
		assert_int_equal(scout_timers_arm(&T, &it[i].dl, at[i]), 0);
	}
	assert_ptr_equal(scout_timers_first(&T), &it[1].dl);
	scout_timers_disarm(&T, &it[3].dl); /* 30, from the middle */
	scout_timers_disarm(&T, &it[3].dl); /* twice: nothing */
	assert_false(scout_deadline_armed(&it[3].dl));
	assert_int_equal(scout_timers_count(&T), 7);
	assert_int_equal(scout_timers_run(&T, 45), 3); /* 10 20 40 */
	assert_int_equal(scout_timers_run(&T, 1000), 4);
	int want[] = {1, 5, 2, 0, 6, 4, 7};
	assert_int_equal(nfired, 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(fired[i], want[i]);
	assert_null(scout_timers_first(&T));
}

static void test_equal_deadlines_and_rearm(void **state)
{
	struct item it[5];
	(void)state;

	for (int i = 0; i < 5; i++) {
		it[i].id = i;
		scout_deadline_init(&it[i].dl, on_fire);
		scout_timers_arm(&T, &it[i].dl, 100);
	}
	/* re-arming at the same time counts as arming now: it goes last */
	scout_timers_arm(&T, &it[1].dl, 100);
	/* moved earlier, then later */
	scout_timers_arm(&T, &it[4].dl, 5);
	scout_timers_arm(&T, &it[3].dl, 200);
	scout_timers_run(&T, 1000);
	int want[] = {4, 0, 2, 1, 3};
	assert_int_equal(nfired, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fired[i], want[i]);
}

static struct item self_item;

static void rearm_past(struct scout_deadline *d)
{
	on_fire(d);
	scout_timers_arm(&T, d, 0); /* already due: the next run, not this one */
}

static void test_arm_from_callback_waits_next_run(void **state)
{
	(void)state;
	self_item.id = 7;
	scout_deadline_init(&self_item.dl, rearm_past);
	scout_timers_arm(&T, &self_item.dl, 10);
	assert_int_equal(scout_timers_run(&T, 10), 1);
	assert_true(scout_deadline_armed(&self_item.dl));
	assert_int_equal(scout_timers_run(&T, 10), 1);
	scout_timers_disarm(&T, &self_item.dl);
}

/* 10k random operations; every run compared with sorting the array. */
struct ref {
	uint64_t at, seq;
	bool armed;
};

static struct ref refs[300];

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = &refs[*(const int *)a], *y = &refs[*(const int *)b];
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void test_random_against_reference(void **state)
{
	enum { N = 300 };
	static struct item it[N];
	int order[N];
	uint64_t now = 0, seq = 0;
	(void)state;

	srand(42);
	memset(refs, 0, sizeof(refs));
	for (int i = 0; i < N; i++) {
		it[i].id = i;
		scout_deadline_init(&it[i].dl, on_fire);
	}
	for (int step = 0; step < 10000; step++) {
		int i = rand() % N, op = rand() % 10;
		if (op < 6) { /* arm or move, often to a time already taken */
			uint64_t at = now + (uint64_t)(rand() % 64);
			assert_int_equal(scout_timers_arm(&T, &it[i].dl, at), 0);
			refs[i] = (struct ref){at, seq++, true};
		} else if (op < 9) {
			scout_timers_disarm(&T, &it[i].dl);
			refs[i].armed = false;
		} else {
			now += (uint64_t)(rand() % 32);
			size_t n = 0;
			for (int k = 0; k < N; k++)
				if (refs[k].armed && refs[k].at <= now)
					order[n++] = k;
			qsort(order, n, sizeof(order[0]), cmp_ref);
			nfired = 0;
			assert_int_equal(scout_timers_run(&T, now), n);
			for (size_t k = 0; k < n; k++) {
				assert_int_equal(fired[k], order[k]);
				refs[order[k]].armed = false;
			}
		}
		size_t armed = 0;
		for (int k = 0; k < N; k++) {
			armed += refs[k].armed;
			assert_int_equal(scout_deadline_armed(&it[k].dl), refs[k].armed);
		}
		assert_int_equal(scout_timers_count(&T), armed);
	}
	for (int i = 0; i < N; i++)
		scout_timers_disarm(&T, &it[i].dl);
}

/* On a real loop: the one uv timer follows the earliest deadline. */
static int batches;

static void on_batch(void *arg)
{
	(void)arg;
	batches++;
}

static void test_fires_on_loop(void **state)
{
	struct item it[3] = {{0}, {1}, {2}};
	uint64_t in[3] = {30, 5, 15};
	(void)state;

	batches = 0;
	scout_timers_on_batch(&T, on_batch, NULL);
	for (int i = 0; i < 3; i++) {
		scout_deadline_init(&it[i].dl, on_fire);
		scout_timers_arm_in(&T, &it[i].dl, in[i]);
	}
	uv_run(&loop, UV_RUN_DEFAULT); /* returns once nothing is armed */
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 2);
	assert_int_equal(fired[2], 0);
	assert_true(batches >= 1 && batches <= 3);
	assert_false(uv_is_active((uv_handle_t *)&T.timer));
}

/* ---- back-off ------------------------------------------------------------ */

static uint64_t xorshift(void *arg)
{
	uint64_t *s = arg;
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t fixed(void *arg)
{
	return *(uint64_t *)arg;
}

static void test_backoff(void **state)
{
	uint64_t seed = 88172645463325252ull;
	(void)state;

	assert_int_equal(scout_backoff_ceiling(100, 10000, 0), 100);
	assert_int_equal(scout_backoff_ceiling(100, 10000, 3), 800);
	assert_int_equal(scout_backoff_ceiling(100, 10000, 7), 10000);
	assert_int_equal(scout_backoff_ceiling(100, 10000, 1000), 10000);
	assert_int_equal(scout_backoff_ceiling(1ull << 62, UINT64_MAX, 5), UINT64_MAX);
	assert_int_equal(scout_backoff_ceiling(100, 50, 0), 50);

	/* bounds and spread: the mean near half the ceiling, both ends hit */
	for (unsigned a = 0; a < 10; a++) {
		uint64_t ceil = scout_backoff_ceiling(100, 30000, a), min = UINT64_MAX, max = 0;
		double sum = 0;
		unsigned low = 0;
		for (int i = 0; i < 20000; i++) {
			uint64_t d = scout_backoff(100, 30000, a, xorshift, &seed);
			assert_true(d <= ceil);
			min = d < min ? d : min;
			max = d > max ? d : max;
			sum += (double)d;
			low += d < ceil / 2;
		}
		double mean = sum / 20000;
		assert_true(mean > 0.45 * (double)ceil && mean < 0.55 * (double)ceil);
		assert_true(low > 9000 && low < 11000);
		assert_true(min <= ceil / 50 && max >= ceil - ceil / 50);
	}
	/* the drawn value maps straight in */
	uint64_t v = 250;
	assert_int_equal(scout_backoff(100, 1000, 2, fixed, &v), 250 % 401);
	/* the system's generator stays in bounds too */
	for (int i = 0; i < 1000; i++)
		assert_true(scout_backoff(10, 1000, 4, NULL, NULL) <= 160);
	assert_int_equal(scout_backoff(0, 1000, 4, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_middle_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_equal_deadlines_and_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arm_from_callback_waits_next_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_against_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fires_on_loop, setup, teardown),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
