/* The ldap module's user cache (src/modules/ldap/cache.c): deep copies,
 * lookups by name (case-insensitive) and by card, expiry after the TTL,
 * the LRU bound, replacing an entry and a card that moves. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ldap/cache.h"

static char *groups_ab[] = {"Print Users", "Staff"};

static struct ldap_user user(char *name, char *card)
{
	return (struct ldap_user){
		.name = name,
		.dn = "CN=x,DC=scout,DC=test",
		.display = "X Y",
		.mail = NULL,
		.card = card,
		.groups = groups_ab,
		.ngroups = 2,
		.uac = 0x200,
	};
}

static void test_dup_free(void **state)
{
	struct ldap_user u = user("alice", "0042");
	struct ldap_user *c = ldap_user_dup(&u);

	assert_non_null(c);
	assert_ptr_not_equal(c->name, u.name);
	assert_string_equal(c->name, "alice");
	assert_string_equal(c->dn, u.dn);
	assert_string_equal(c->display, "X Y");
	assert_null(c->mail);
	assert_string_equal(c->card, "0042");
	assert_int_equal(c->ngroups, 2);
	assert_ptr_not_equal(c->groups, u.groups);
	assert_string_equal(c->groups[1], "Staff");
	assert_int_equal(c->uac, 0x200);
	ldap_user_free(c);
	ldap_user_free(NULL);
	assert_null(ldap_user_dup(NULL));

	struct ldap_user bare = {.name = "bob"};
	c = ldap_user_dup(&bare);
	assert_non_null(c);
	assert_null(c->groups);
	assert_int_equal(c->ngroups, 0);
	ldap_user_free(c);
}

static void test_get_put(void **state)
{
	struct ucache *c;
	struct ldap_user u = user("Alice", "0042");

	assert_int_equal(ucache_new(0, &c), -EINVAL);
	assert_int_equal(ucache_new(10, &c), 0);
	assert_null(ucache_get(c, "alice", 0));
	assert_int_equal(ucache_put(c, &u, 1000, 5000), 0);
	assert_int_equal(ucache_count(c), 1);

	/* a copy, found whatever the case of the name */
	const struct ldap_user *g = ucache_get(c, "alice", 1000);
	assert_non_null(g);
	assert_ptr_not_equal(g, &u);
	assert_string_equal(g->name, "Alice");
	assert_ptr_equal(ucache_get(c, "ALICE", 2000), g);
	assert_ptr_equal(ucache_get_card(c, "0042", 2000), g);
	assert_null(ucache_get_card(c, "0043", 2000));
	assert_null(ucache_get_card(c, "", 2000));
	assert_null(ucache_get(c, "alic", 2000));

	/* no name, no entry */
	struct ldap_user nameless = {.dn = "x"};
	assert_int_equal(ucache_put(c, &nameless, 0, 1), -EINVAL);
	ucache_free(c);
	ucache_free(NULL);
}

static void test_ttl(void **state)
{
	struct ucache *c;
	struct ldap_user u = user("alice", "0042");

	assert_int_equal(ucache_new(10, &c), 0);
	assert_int_equal(ucache_put(c, &u, 1000, 5000), 0);
	assert_non_null(ucache_get(c, "alice", 5999));
	assert_non_null(ucache_get_card(c, "0042", 5999));
	assert_null(ucache_get(c, "alice", 6000));
	assert_null(ucache_get_card(c, "0042", 6000));
	assert_null(ucache_get(c, "alice", 100000));

	/* a new put brings it back */
	assert_int_equal(ucache_put(c, &u, 100000, 5000), 0);
	assert_non_null(ucache_get(c, "alice", 100000));
	assert_int_equal(ucache_count(c), 1);

	/* a TTL of 0 keeps nothing, and drops what was there */
	assert_int_equal(ucache_put(c, &u, 100000, 0), 0);
	assert_null(ucache_get(c, "alice", 100000));
	assert_int_equal(ucache_count(c), 0);

	/* no overflow for a huge TTL */
	assert_int_equal(ucache_put(c, &u, 1000, UINT64_MAX), 0);
	assert_non_null(ucache_get(c, "alice", UINT64_MAX - 1));
	ucache_free(c);
}

static void test_lru(void **state)
{
	struct ucache *c;
	char name[16], card[16];

	assert_int_equal(ucache_new(3, &c), 0);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		snprintf(card, sizeof(card), "c%d", i);
		struct ldap_user u = user(name, card);
		assert_int_equal(ucache_put(c, &u, 0, 1000), 0);
	}
	assert_int_equal(ucache_count(c), 3);
	/* u0 used: u1 is now the least recently used, and goes */
	assert_non_null(ucache_get(c, "u0", 1));
	struct ldap_user u3 = user("u3", "c3");
	assert_int_equal(ucache_put(c, &u3, 1, 1000), 0);
	assert_int_equal(ucache_count(c), 3);
	assert_null(ucache_get(c, "u1", 2));
	assert_null(ucache_get_card(c, "c1", 2));
	assert_non_null(ucache_get(c, "u0", 2));
	assert_non_null(ucache_get(c, "u2", 2));
	assert_non_null(ucache_get_card(c, "c3", 2));

	/* many more than the bound: the count stays at it */
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		struct ldap_user u = user(name, NULL);
		assert_int_equal(ucache_put(c, &u, 10, 1000), 0);
	}
	assert_int_equal(ucache_count(c), 3);
	assert_non_null(ucache_get(c, "n999", 10));
	assert_null(ucache_get(c, "n996", 10));
	ucache_free(c);
}

static void test_replace_forget(void **state)
{
	struct ucache *c;
	struct ldap_user u = user("alice", "0042");

	assert_int_equal(ucache_new(10, &c), 0);
	assert_int_equal(ucache_put(c, &u, 0, 1000), 0);

	/* the same name again replaces it, its card included */
	u.display = "Alice New";
	u.card = "0099";
	assert_int_equal(ucache_put(c, &u, 0, 1000), 0);
	assert_int_equal(ucache_count(c), 1);
	assert_string_equal(ucache_get(c, "alice", 1)->display, "Alice New");
	assert_null(ucache_get_card(c, "0042", 1));
	assert_string_equal(ucache_get_card(c, "0099", 1)->name, "alice");

	/* a card given to someone else leaves the old holder's entry */
	struct ldap_user b = user("bob", "0099");
	assert_int_equal(ucache_put(c, &b, 0, 1000), 0);
	assert_string_equal(ucache_get_card(c, "0099", 1)->name, "bob");
	assert_null(ucache_get(c, "alice", 1));
	assert_int_equal(ucache_count(c), 1);

	/* putting back what a get gave (a refresh) copies it before the
	 * entry it came from is replaced */
	const struct ldap_user *g = ucache_get(c, "bob", 1);
	assert_int_equal(ucache_put(c, g, 1, 5000), 0);
	assert_string_equal(ucache_get(c, "bob", 4000)->dn, "CN=x,DC=scout,DC=test");
	assert_string_equal(ucache_get_card(c, "0099", 4000)->name, "bob");
	assert_int_equal(ucache_count(c), 1);

	ucache_forget(c, "BOB");
	assert_null(ucache_get(c, "bob", 1));
	assert_null(ucache_get_card(c, "0099", 1));
	assert_int_equal(ucache_count(c), 0);
	ucache_forget(c, "nobody");
	ucache_free(c);
}

static void test_many(void **state)
{
	/* the hash grows: every entry stays reachable by name and card */
	struct ucache *c;
	char name[16], card[16];

	assert_int_equal(ucache_new(5000, &c), 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "User%d", i);
		snprintf(card, sizeof(card), "%08d", i);
		struct ldap_user u = user(name, card);
		assert_int_equal(ucache_put(c, &u, 0, 1000), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		snprintf(card, sizeof(card), "%08d", i);
		const struct ldap_user *g = ucache_get(c, name, 1);
		assert_non_null(g);
		assert_ptr_equal(ucache_get_card(c, card, 1), g);
	}
	ucache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dup_free), cmocka_unit_test(test_get_put),        cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_lru),      cmocka_unit_test(test_replace_forget), cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
