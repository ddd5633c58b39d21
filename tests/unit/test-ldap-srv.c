/* ldir_srv_parse() and the RFC 2782 ordering, on DNS answers built by
 * hand: compression, records of other types, truncated data, the "."
 * target, and the weighted shuffle's choices with a fixed random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ldap/srv.h"

struct msg {
	uint8_t b[4096];
	size_t n;
};

static void put8(struct msg *m, uint8_t v)
{
	m->b[m->n++] = v;
}

static void put16(struct msg *m, uint16_t v)
{
	put8(m, (uint8_t)(v >> 8));
	put8(m, (uint8_t)v);
}

static void put32(struct msg *m, uint32_t v)
{
	put16(m, (uint16_t)(v >> 16));
	put16(m, (uint16_t)v);
}

static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		put8(m, (uint8_t)l);
		memcpy(m->b + m->n, name, l);
		m->n += l;
		name += l + (dot ? 1 : 0);
	}
	put8(m, 0);
}

#define QNAME "_ldap._tcp.dc._msdcs.scout.test"

/* Header + question; answers follow. The question's name is at offset 12
 * (for compression pointers). */
static void header(struct msg *m, uint16_t ancount)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8180); /* response, RD, RA, NOERROR */
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, QNAME);
	put16(m, 33);
	put16(m, 1);
}

/* An answer record's fixed part: the question's name, type, class IN, ttl
 * and rdlength (which may lie). */
static void rr_head(struct msg *m, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	put16(m, 0xc00c); /* the question's name */
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, rdlen);
}

static void srv_rr(struct msg *m, uint16_t prio, uint16_t weight, uint16_t port, uint32_t ttl, const char *target)
{
	size_t rdlen_at = m->n + 10;

	rr_head(m, 33, ttl, 0);
	put16(m, prio);
	put16(m, weight);
	put16(m, port);
	put_name(m, target);
	m->b[rdlen_at] = (uint8_t)((m->n - rdlen_at - 2) >> 8);
	m->b[rdlen_at + 1] = (uint8_t)(m->n - rdlen_at - 2);
}

static void test_order(void **state)
{
	struct msg m;
	struct ldir_srv *v = NULL;
	size_t n = 0;
	(void)state;

	header(&m, 4);
	srv_rr(&m, 10, 0, 389, 600, "dc3.scout.test");
	srv_rr(&m, 0, 50, 389, 300, "dc2.scout.test.");
	srv_rr(&m, 0, 100, 389, 900, "dc1.scout.test");
	srv_rr(&m, 5, 0, 3268, 600, "gc.scout.test");
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].target, "dc1.scout.test");
	assert_string_equal(v[1].target, "dc2.scout.test");
	assert_string_equal(v[2].target, "gc.scout.test");
	assert_int_equal(v[2].port, 3268);
	assert_string_equal(v[3].target, "dc3.scout.test");
	assert_int_equal(v[0].priority, 0);
	assert_int_equal(v[0].weight, 100);
	assert_int_equal(ldir_srv_min_ttl(v, n), 300);
	free(v);
}

/* Other record types (a CNAME on the way), the "." target and port 0 are
 * left out; an answer without records is no error. */
static void test_skips(void **state)
{
	struct msg m;
	struct ldir_srv *v = NULL;
	size_t n = 9;
	(void)state;

	header(&m, 3);
	rr_head(&m, 5, 60, 8); /* CNAME */
	put_name(&m, "a.test");
	srv_rr(&m, 0, 0, 389, 60, "");
	srv_rr(&m, 0, 0, 0, 60, "dc.scout.test");
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	header(&m, 0);
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), 0);
	assert_int_equal(n, 0);
}

/* Truncations at every length never read past the end and fail cleanly;
 * an rdata shorter than 7 bytes, or a target running past its record. */
static void test_malformed(void **state)
{
	struct msg m;
	struct ldir_srv *v = NULL;
	size_t n;
	(void)state;

	header(&m, 2);
	srv_rr(&m, 0, 10, 389, 60, "dc1.scout.test");
	srv_rr(&m, 0, 10, 389, 60, "dc2.scout.test");
	for (size_t len = 0; len < m.n; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, m.b, len);
		int r = ldir_srv_parse(copy, len, &v, &n);
		assert_true(r == -EBADMSG || (r == 0 && n <= 2));
		if (r == 0)
			free(v);
		free(copy);
	}

	header(&m, 1);
	rr_head(&m, 33, 60, 4);
	put32(&m, 0);
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), -EBADMSG);

	/* rdlength says 8: the target's labels run past the record. */
	header(&m, 1);
	rr_head(&m, 33, 60, 8);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 389);
	put_name(&m, "dc1.scout.test");
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), -EBADMSG);
}

/* A pointer loop in the target's name. */
static void test_pointer_loop(void **state)
{
	struct msg m;
	struct ldir_srv *v = NULL;
	size_t n;
	(void)state;

	header(&m, 1);
	rr_head(&m, 33, 60, 8);
	put16(&m, 0);
	put16(&m, 0);
	put16(&m, 389);
	size_t at = m.n;
	put16(&m, (uint16_t)(0xc000 | at));
	assert_int_equal(ldir_srv_parse(m.b, m.n, &v, &n), -EBADMSG);
}

static uint64_t fixed_rng(void *arg)
{
	return *(uint64_t *)arg;
}

/* Weighted selection: with sum 150 (weights 100, 50), a draw of 0..100
 * picks the heavy one first, 101..150 the light one; priorities stay in
 * order; zero weights come first in a run and are picked on a draw of 0. */
static void test_shuffle(void **state)
{
	struct ldir_srv v[4];
	uint64_t r;
	(void)state;

	memset(v, 0, sizeof(v));
	strcpy(v[0].target, "heavy");
	v[0].weight = 100;
	strcpy(v[1].target, "light");
	v[1].weight = 50;
	strcpy(v[2].target, "zero");
	v[2].weight = 0;
	strcpy(v[3].target, "later");
	v[3].priority = 1;
	v[3].weight = 5;

	r = 151 + 120; /* % 151 = 120 */
	ldir_srv_shuffle(v, 4, fixed_rng, &r);
	assert_string_equal(v[0].target, "light");
	assert_string_equal(v[3].target, "later");

	memset(v, 0, sizeof(v));
	strcpy(v[0].target, "heavy");
	v[0].weight = 100;
	strcpy(v[1].target, "zero");
	strcpy(v[2].target, "light");
	v[2].weight = 50;
	r = 0;
	ldir_srv_shuffle(v, 3, fixed_rng, &r);
	assert_string_equal(v[0].target, "zero");

	r = 99;
	ldir_srv_shuffle(v, 3, fixed_rng, &r);
	assert_int_equal(v[0].weight, 100);
	assert_string_equal(v[0].target, "heavy");

	/* Over many draws from the CSPRNG, each of two equal weights comes
	 * first sometimes (not a timing or ratio assertion: 200 draws). */
	int first_a = 0;
	for (int i = 0; i < 200; i++) {
		struct ldir_srv w[2] = {0};
		strcpy(w[0].target, "a");
		w[0].weight = 10;
		strcpy(w[1].target, "b");
		w[1].weight = 10;
		ldir_srv_shuffle(w, 2, NULL, NULL);
		first_a += strcmp(w[0].target, "a") == 0;
	}
	assert_true(first_a > 0 && first_a < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),        cmocka_unit_test(test_skips),   cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_pointer_loop), cmocka_unit_test(test_shuffle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
