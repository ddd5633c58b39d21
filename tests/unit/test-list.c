/* Unit tests for src/loop/list.h: order of head and tail inserts, removal
 * from the middle and of an unlinked node, linked(), the safe walk that
 * frees as it goes, and a random run checked against an array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "loop/list.h"

struct item {
	int v;
	struct scout_list link;
};

static void expect_order(struct scout_list *l, const int *want, size_t n)
{
	struct item *it;
	size_t i = 0;

	scout_list_foreach (it, l, link) {
		assert_true(i < n);
		assert_int_equal(it->v, want[i]);
		i++;
	}
	assert_int_equal(i, n);
	/* and backwards through prev */
	i = n;
	for (struct scout_list *p = l->prev; p != l; p = p->prev)
		assert_int_equal(scout_list_entry(p, struct item, link)->v, want[--i]);
	assert_int_equal(i, 0);
}

static void test_insert_remove(void **state)
{
	struct scout_list l = SCOUT_LIST_INIT(l);
	struct item a = {1}, b = {2}, c = {3}, d = {4};
	(void)state;

	assert_true(scout_list_empty(&l));
	assert_null(scout_list_first(&l));
	assert_null(scout_list_first_entry(&l, struct item, link));
	scout_list_init(&a.link);
	assert_false(scout_list_linked(&a.link));
	scout_list_insert_tail(&l, &b.link);
	scout_list_insert_tail(&l, &c.link);
	scout_list_insert_head(&l, &a.link);
	scout_list_insert_tail(&l, &d.link);
	expect_order(&l, (int[]){1, 2, 3, 4}, 4);
	assert_true(scout_list_linked(&a.link));
	assert_ptr_equal(scout_list_first_entry(&l, struct item, link), &a);
	assert_ptr_equal(scout_list_last(&l), &d.link);

	scout_list_remove(&b.link); /* middle */
	expect_order(&l, (int[]){1, 3, 4}, 3);
	assert_false(scout_list_linked(&b.link));
	scout_list_remove(&b.link); /* again: nothing happens */
	expect_order(&l, (int[]){1, 3, 4}, 3);
	scout_list_remove(&a.link); /* head */
	scout_list_remove(&d.link); /* tail */
	expect_order(&l, (int[]){3}, 1);
	scout_list_remove(&c.link);
	assert_true(scout_list_empty(&l));

	/* a zeroed link (calloc) counts as unlinked and removes as a no-op */
	struct item z = {0};
	assert_false(scout_list_linked(&z.link));
	scout_list_remove(&z.link);
	scout_list_insert_tail(&l, &z.link);
	assert_true(scout_list_linked(&z.link));
}

static void test_foreach_safe_frees(void **state)
{
	struct scout_list l = SCOUT_LIST_INIT(l);
	struct item *it, *tmp;
	(void)state;

	for (int i = 0; i < 10; i++) {
		it = calloc(1, sizeof(*it));
		assert_non_null(it);
		it->v = i;
		scout_list_insert_tail(&l, &it->link);
	}
	/* drop the odd ones while walking */
	scout_list_foreach_safe (it, tmp, &l, link) {
		if (it->v % 2) {
			scout_list_remove(&it->link);
			free(it);
		}
	}
	expect_order(&l, (int[]){0, 2, 4, 6, 8}, 5);
	scout_list_foreach_safe (it, tmp, &l, link) {
		scout_list_remove(&it->link);
		free(it);
	}
	assert_true(scout_list_empty(&l));
}

/* Random inserts at either end and removals anywhere, against an array. */
static void test_random_against_array(void **state)
{
	enum { N = 200 };
	struct scout_list l = SCOUT_LIST_INIT(l);
	struct item items[N];
	int ref[N];
	size_t n = 0;
	(void)state;

	srand(8);
	for (int i = 0; i < N; i++) {
		items[i].v = i;
		scout_list_init(&items[i].link);
	}
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N;
		if (scout_list_linked(&items[i].link)) {
			scout_list_remove(&items[i].link);
			size_t k = 0;
			while (ref[k] != i)
				k++;
			for (; k + 1 < n; k++)
				ref[k] = ref[k + 1];
			n--;
		} else if (rand() % 2) {
			scout_list_insert_tail(&l, &items[i].link);
			ref[n++] = i;
		} else {
			scout_list_insert_head(&l, &items[i].link);
			for (size_t k = n; k > 0; k--)
				ref[k] = ref[k - 1];
			ref[0] = i;
			n++;
		}
		if (step % 97 == 0)
			expect_order(&l, ref, n);
	}
	expect_order(&l, ref, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_remove),
		cmocka_unit_test(test_foreach_safe_frees),
		cmocka_unit_test(test_random_against_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
