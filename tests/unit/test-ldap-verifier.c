/* Offline verifiers (src/modules/ldap/verifier.c): scrypt with a random
 * salt matches the password and nothing else, the parameters are the
 * documented ones (checked against an independent scrypt), and the table
 * finds a verifier by name within the grace period only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "modules/ldap/verifier.h"

static void test_make_check(void **state)
{
	struct ldap_verifier a, b;

	assert_int_equal(ldap_verifier_make("Alice-Pass1!", 12, 1234, &a), 0);
	assert_int_equal(a.made_ms, 1234);
	assert_true(ldap_verifier_check(&a, "Alice-Pass1!", 12));
	assert_false(ldap_verifier_check(&a, "Alice-Pass1?", 12));
	assert_false(ldap_verifier_check(&a, "Alice-Pass1", 11));
	assert_false(ldap_verifier_check(&a, "Alice-Pass1!x", 13));
	assert_false(ldap_verifier_check(&a, "", 0));
	assert_false(ldap_verifier_check(NULL, "Alice-Pass1!", 12));

	/* a fresh salt each time: the same password, another hash */
	assert_int_equal(ldap_verifier_make("Alice-Pass1!", 12, 1234, &b), 0);
	assert_memory_not_equal(a.salt, b.salt, sizeof(a.salt));
	assert_memory_not_equal(a.hash, b.hash, sizeof(a.hash));
	assert_true(ldap_verifier_check(&b, "Alice-Pass1!", 12));

	/* bytes, not a C string */
	assert_int_equal(ldap_verifier_make("a\0b", 3, 0, &a), 0);
	assert_true(ldap_verifier_check(&a, "a\0b", 3));
	assert_false(ldap_verifier_check(&a, "a\0c", 3));
	assert_false(ldap_verifier_check(&a, "a", 1));

	/* an empty password is never kept */
	assert_int_equal(ldap_verifier_make("", 0, 0, &a), -EINVAL);
}

static void test_parameters(void **state)
{
	/* N=2^14, r=8, p=1, 32 bytes, as EVP_PBE_scrypt computes them */
	struct ldap_verifier v;
	uint8_t want[32];

	assert_int_equal(ldap_verifier_make("pw", 2, 0, &v), 0);
	assert_int_equal(EVP_PBE_scrypt("pw", 2, v.salt, sizeof(v.salt), 1 << 14, 8, 1, 64 << 20, want, sizeof(want)),
			 1);
	assert_memory_equal(v.hash, want, sizeof(want));
}

static struct ldap_verifier fake(uint8_t fill, uint64_t made)
{
	struct ldap_verifier v;
	memset(&v, fill, sizeof(v));
	v.made_ms = made;
	return v;
}

static void test_table(void **state)
{
	struct vtable *t;

	assert_int_equal(vtable_new(0, &t), -EINVAL);
	assert_int_equal(vtable_new(2, &t), 0);
	struct ldap_verifier a = fake(0xaa, 1000);
	assert_int_equal(vtable_put(t, "Alice", &a), 0);
	const struct ldap_verifier *g = vtable_get(t, "alice", 1000, 500);
	assert_non_null(g);
	assert_memory_equal(g->hash, a.hash, sizeof(a.hash));
	assert_non_null(vtable_get(t, "ALICE", 1499, 500));
	assert_null(vtable_get(t, "alice", 1500, 500)); /* past the grace */
	assert_null(vtable_get(t, "alice", 1000, 0));   /* grace 0: off */
	assert_null(vtable_get(t, "bob", 1000, 500));

	/* replacing */
	struct ldap_verifier a2 = fake(0xbb, 5000);
	assert_int_equal(vtable_put(t, "alice", &a2), 0);
	g = vtable_get(t, "alice", 5000, 500);
	assert_non_null(g);
	assert_int_equal(g->hash[0], 0xbb);

	/* putting back what a get gave keeps it whole */
	assert_int_equal(vtable_put(t, "alice", g), 0);
	g = vtable_get(t, "alice", 5000, 500);
	assert_non_null(g);
	assert_int_equal(g->hash[0], 0xbb);
	assert_int_equal(g->made_ms, 5000);

	/* the bound: the oldest put goes */
	struct ldap_verifier b = fake(0xcc, 5000), c = fake(0xdd, 5000);
	assert_int_equal(vtable_put(t, "bob", &b), 0);
	assert_int_equal(vtable_put(t, "carol", &c), 0);
	assert_null(vtable_get(t, "alice", 5000, 500));
	assert_non_null(vtable_get(t, "bob", 5000, 500));
	assert_non_null(vtable_get(t, "carol", 5000, 500));

	vtable_forget(t, "Bob");
	assert_null(vtable_get(t, "bob", 5000, 500));
	vtable_forget(t, "nobody");
	assert_int_equal(vtable_put(t, "", &b), -EINVAL);
	vtable_free(t);
	vtable_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make_check),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
