/* Failure rate limits (src/modules/ldap/limit.c): a key is throttled at
 * max_failures within the window, until the oldest of them leaves it;
 * clearing; the bound on keys; a limit of 0 is off. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ldap/limit.h"

static void test_window(void **state)
{
	struct ratelimit *rl;
	uint64_t retry = 0;

	assert_int_equal(ratelimit_new(3, 1000, 100, &rl), 0);
	assert_false(ratelimit_blocked(rl, "alice", 0, &retry));
	ratelimit_fail(rl, "alice", 100);
	ratelimit_fail(rl, "alice", 200);
	assert_false(ratelimit_blocked(rl, "alice", 250, &retry));
	ratelimit_fail(rl, "alice", 300);
	assert_true(ratelimit_blocked(rl, "alice", 300, &retry));
	assert_int_equal(retry, 800); /* the failure at 100 leaves at 1100 */
	assert_true(ratelimit_blocked(rl, "alice", 1099, &retry));
	assert_int_equal(retry, 1);
	assert_true(ratelimit_blocked(rl, "alice", 1099, NULL));
	/* others are not affected; keys are compared as given */
	assert_false(ratelimit_blocked(rl, "bob", 300, &retry));
	assert_false(ratelimit_blocked(rl, "Alice", 300, &retry));

	/* sliding: at 1100 only two failures are left in the window */
	assert_false(ratelimit_blocked(rl, "alice", 1100, &retry));
	ratelimit_fail(rl, "alice", 1150);
	assert_true(ratelimit_blocked(rl, "alice", 1150, &retry));
	assert_int_equal(retry, 50); /* now the one at 200 is the oldest */
	assert_false(ratelimit_blocked(rl, "alice", 1200, &retry));

	/* once every failure has left the window, the key goes */
	assert_int_equal(ratelimit_count(rl), 1);
	assert_false(ratelimit_blocked(rl, "alice", 2150, &retry));
	assert_int_equal(ratelimit_count(rl), 0);
	ratelimit_free(rl);
}

static void test_clear(void **state)
{
	struct ratelimit *rl;

	assert_int_equal(ratelimit_new(2, 60000, 100, &rl), 0);
	ratelimit_fail(rl, "alice", 0);
	ratelimit_fail(rl, "alice", 1);
	ratelimit_fail(rl, "10.0.0.1", 1);
	assert_true(ratelimit_blocked(rl, "alice", 2, NULL));
	ratelimit_clear(rl, "alice");
	assert_false(ratelimit_blocked(rl, "alice", 2, NULL));
	assert_int_equal(ratelimit_count(rl), 1);
	ratelimit_clear(rl, "nobody");
	ratelimit_fail(rl, "alice", 3);
	assert_false(ratelimit_blocked(rl, "alice", 3, NULL));
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void test_bound(void **state)
{
	struct ratelimit *rl;
	char key[32];

	assert_int_equal(ratelimit_new(2, 60000, 10, &rl), 0);
	/* alice throttled, then 20 other keys fail once each */
	ratelimit_fail(rl, "alice", 0);
	ratelimit_fail(rl, "alice", 0);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "10.0.0.%d", i);
		ratelimit_fail(rl, key, 10 + (uint64_t)i);
		assert_true(ratelimit_count(rl) <= 10);
	}
	assert_int_equal(ratelimit_count(rl), 10);
	/* the stalest went first: alice, then the oldest sources */
	assert_false(ratelimit_blocked(rl, "alice", 100, NULL));
	ratelimit_fail(rl, "10.0.0.19", 100);
	assert_true(ratelimit_blocked(rl, "10.0.0.19", 100, NULL));

	/* a key failing now is the freshest: a flood does not evict it */
	ratelimit_fail(rl, "bob", 200);
	ratelimit_fail(rl, "bob", 200);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "flood-%d", i);
		ratelimit_fail(rl, key, 300);
	}
	assert_true(ratelimit_blocked(rl, "bob", 300, NULL));
	ratelimit_free(rl);

	/* keys whose failures have all left the window go before any other */
	assert_int_equal(ratelimit_new(2, 100, 3, &rl), 0);
	ratelimit_fail(rl, "a", 0);
	ratelimit_fail(rl, "b", 0);
	ratelimit_fail(rl, "c", 50);
	ratelimit_fail(rl, "d", 120);
	assert_int_equal(ratelimit_count(rl), 2);
	ratelimit_free(rl);
}

static void test_off(void **state)
{
	struct ratelimit *rl;

	assert_int_equal(ratelimit_new(0, 1000, 10, &rl), 0);
	for (int i = 0; i < 10; i++)
		ratelimit_fail(rl, "alice", 0);
	assert_false(ratelimit_blocked(rl, "alice", 0, NULL));
	assert_int_equal(ratelimit_count(rl), 0);
	ratelimit_free(rl);
	assert_int_equal(ratelimit_new(5, 1000, 0, &rl), -EINVAL);

	/* a window up to the end of time does not overflow */
	assert_int_equal(ratelimit_new(1, UINT64_MAX, 10, &rl), 0);
	uint64_t retry;
	ratelimit_fail(rl, "alice", 5);
	assert_true(ratelimit_blocked(rl, "alice", 10, &retry));
	assert_int_equal(retry, UINT64_MAX - 10);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
