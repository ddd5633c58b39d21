/* Unit tests for src/modules/snmp/ranges.c: CIDR blocks, spans and single
 * addresses of both families, the errors a user sees, subtracting the
 * exclude list, lookups, the limit on what one sweep may cover, IPv4-mapped
 * addresses and the conversions to and from sockaddr and text. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/snmp/ranges.h"

static snmp_addr128 A(const char *s)
{
	snmp_addr128 a;

	if (snmp_addr_parse(s, &a) < 0)
		fail_msg("'%s' does not parse", s);
	return a;
}

static struct snmp_ranges parse_ok(const char *text)
{
	struct snmp_ranges r = {0};
	char err[256] = "";

	if (snmp_ranges_parse(text, &r, err, sizeof(err)) < 0)
		fail_msg("'%s': %s", text, err);
	return r;
}

/* Parses text that must fail; the message must contain want. */
static void parse_bad(const char *text, const char *want)
{
	struct snmp_ranges r = {.n = 77};
	char err[256] = "";

	assert_int_equal(snmp_ranges_parse(text, &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(r.n, 77); /* untouched */
	if (!strstr(err, want))
		fail_msg("'%s': message '%s' does not say '%s'", text, err, want);
}

static char *fmt(snmp_addr128 a)
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int k;

	k = (k + 1) % 4;
	return (char *)snmp_addr_format(a, buf[k], sizeof(buf[k]));
}

/* Checks the intervals against "lo-hi" strings. */
static void assert_intervals(const struct snmp_ranges *r, const char *const *want, size_t n)
{
	if (r->n != n) {
		for (size_t i = 0; i < r->n; i++)
			print_message("  %s-%s\n", fmt(r->iv[i].lo), fmt(r->iv[i].hi));
		fail_msg("%zu intervals, expected %zu", r->n, n);
	}
	for (size_t i = 0; i < n; i++) {
		char got[2 * INET6_ADDRSTRLEN + 2];
		snprintf(got, sizeof(got), "%s-%s", fmt(r->iv[i].lo), fmt(r->iv[i].hi));
		assert_string_equal(got, want[i]);
	}
}

#define INTERVALS(r, ...)                                            \
	do {                                                         \
		static const char *const w_[] = {__VA_ARGS__};       \
		assert_intervals(r, w_, sizeof(w_) / sizeof(w_[0])); \
	} while (0)

/* ---- parsing ------------------------------------------------------------- */

static void test_cidr_v4(void **state)
{
	struct snmp_ranges r;
	(void)state;

	r = parse_ok("192.0.2.0/24");
	INTERVALS(&r, "192.0.2.0-192.0.2.255");
	assert_int_equal(r.total, 256);
	snmp_ranges_free(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.iv);

	r = parse_ok("192.0.2.77/24"); /* host bits are ignored */
	INTERVALS(&r, "192.0.2.0-192.0.2.255");
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.77/32");
	INTERVALS(&r, "192.0.2.77-192.0.2.77");
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.77/31");
	assert_int_equal(r.total, 2);
	snmp_ranges_free(&r);

	r = parse_ok("10.0.0.0/8"); /* exactly the limit */
	assert_int_equal(r.total, SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);

	r = parse_ok("0.0.0.0/0"); /* all of IPv4, and nothing of IPv6 */
	INTERVALS(&r, "0.0.0.0-255.255.255.255");
	assert_true(r.total > SNMP_RANGES_MAX_TOTAL);
	assert_true(snmp_ranges_contains(&r, A("255.255.255.255")));
	assert_false(snmp_ranges_contains(&r, A("::1")));
	snmp_ranges_free(&r);
}

static void test_spans_and_singles(void **state)
{
	struct snmp_ranges r;
	(void)state;

	r = parse_ok("192.0.2.10-192.0.2.50");
	INTERVALS(&r, "192.0.2.10-192.0.2.50");
	assert_int_equal(r.total, 41);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.10-192.0.2.10");
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.250-192.0.3.5"); /* across an octet */
	assert_int_equal(r.total, 12);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.1");
	INTERVALS(&r, "192.0.2.1-192.0.2.1");
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);

	/* duplicates, overlaps and neighbours merge */
	r = parse_ok("192.0.2.1, 192.0.2.1, 192.0.2.2, 192.0.2.0/30, 192.0.2.3-192.0.2.9");
	INTERVALS(&r, "192.0.2.0-192.0.2.9");
	assert_int_equal(r.total, 10);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.128/25, 192.0.2.0/25");
	INTERVALS(&r, "192.0.2.0-192.0.2.255");
	assert_int_equal(r.total, 256);
	snmp_ranges_free(&r);

	/* sorted, not merged when apart */
	r = parse_ok("192.0.2.9, 192.0.2.5, 192.0.2.7");
	INTERVALS(&r, "192.0.2.5-192.0.2.5", "192.0.2.7-192.0.2.7", "192.0.2.9-192.0.2.9");
	assert_int_equal(r.total, 3);
	snmp_ranges_free(&r);

	r = parse_ok("");
	assert_int_equal(r.n, 0);
	assert_int_equal(r.total, 0);
	snmp_ranges_free(&r);
	r = parse_ok(" , ,\n ");
	assert_int_equal(r.total, 0);
	snmp_ranges_free(&r);
}

static void test_ipv6_and_mixed(void **state)
{
	struct snmp_ranges r;
	(void)state;

	r = parse_ok("2001:db8::/120");
	INTERVALS(&r, "2001:db8::-2001:db8::ff");
	assert_int_equal(r.total, 256);
	snmp_ranges_free(&r);

	r = parse_ok("2001:db8::5/128");
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);

	r = parse_ok("2001:db8::1-2001:db8::10");
	assert_int_equal(r.total, 16);
	snmp_ranges_free(&r);

	r = parse_ok("2001:db8::/64");
	assert_true(r.total > SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);

	r = parse_ok("2001:db8::1, 192.0.2.0/30, 10.0.0.1-10.0.0.3, fe80::1");
	/* IPv4 (::ffff:0:0/96) sorts before 2001:db8::/32 */
	INTERVALS(&r, "10.0.0.1-10.0.0.3", "192.0.2.0-192.0.2.3", "2001:db8::1-2001:db8::1", "fe80::1-fe80::1");
	assert_int_equal(r.total, 9);
	snmp_ranges_free(&r);
}

static void test_top_and_bottom_of_the_space(void **state)
{
	struct snmp_ranges r;
	(void)state;

	/* the last address of IPv6: intervals ending there still merge */
	r = parse_ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120, ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0");
	INTERVALS(&r, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(r.total, 256);
	snmp_ranges_free(&r);

	r = parse_ok("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff, ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_int_equal(r.n, 1);
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);

	/* all of IPv6: 2^128 addresses are far more than the limit, not 0 */
	r = parse_ok("::/0");
	INTERVALS(&r, "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	assert_true(r.total > SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);

	r = parse_ok("::/0, 2001:db8::1");
	assert_int_equal(r.n, 1);
	assert_true(r.total > SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);

	r = parse_ok("::, ::1");
	INTERVALS(&r, "::-::1");
	assert_int_equal(r.total, 2);
	snmp_ranges_free(&r);
}

static void test_whitespace(void **state)
{
	struct snmp_ranges r;
	(void)state;

	r = parse_ok("  192.0.2.1 ,\n\t192.0.2.2\n\n , ,192.0.2.3  \r\n  2001:db8::1\t");
	INTERVALS(&r, "192.0.2.1-192.0.2.3", "2001:db8::1-2001:db8::1");
	assert_int_equal(r.total, 4);
	snmp_ranges_free(&r);

	r = parse_ok("192.0.2.0/28\n192.0.2.16/28\n");
	INTERVALS(&r, "192.0.2.0-192.0.2.31");
	snmp_ranges_free(&r);
}

static void test_errors(void **state)
{
	(void)state;

	parse_bad("192.0.2.300", "'192.0.2.300' is not an address");
	parse_bad("printer", "'printer' is not an address");
	parse_bad("192.0.2.1, bogus", "'bogus' is not an address");
	parse_bad("192.0.2", "'192.0.2' is not an address");
	parse_bad("192.0.2.1-", "'192.0.2.1-' is not an address");
	parse_bad("-192.0.2.1", "is not an address");
	parse_bad("192.0.2.1 192.0.2.2", "is not an address");
	parse_bad("foo/24", "'foo/24' is not an address");
	parse_bad("192.0.2.0/33", "'192.0.2.0/33': prefix length must be 0 to 32");
	parse_bad("192.0.2.0/", "prefix length must be 0 to 32");
	parse_bad("192.0.2.0/-1", "prefix length must be 0 to 32");
	parse_bad("192.0.2.0/24x", "prefix length must be 0 to 32");
	parse_bad("2001:db8::/129", "'2001:db8::/129': prefix length must be 0 to 128");
	parse_bad("192.0.2.50-192.0.2.10", "'192.0.2.50-192.0.2.10': the end must be an address of the same family at "
					   "or after the start");
	parse_bad("192.0.2.1-2001:db8::1", "same family");
	parse_bad("2001:db8::1-192.0.2.1", "same family");
	parse_bad("2001:db8::10-2001:db8::1", "at or after the start");

	/* a short error buffer is still terminated */
	struct snmp_ranges r;
	char err[8];
	memset(err, 'x', sizeof(err));
	assert_int_equal(snmp_ranges_parse("nonsense", &r, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), 7);
}

/* ---- subtract, contains, nth --------------------------------------------- */

static void subtract(struct snmp_ranges *r, const char *ex)
{
	struct snmp_ranges x = parse_ok(ex);

	assert_int_equal(snmp_ranges_subtract(r, &x), 0);
	snmp_ranges_free(&x);
}

/* Every address nth produces is contained, unique, in order, and
 * none of the excluded ones. */
static void check_iteration(const struct snmp_ranges *r, const char *excluded)
{
	struct snmp_ranges x = parse_ok(excluded);
	snmp_addr128 prev = 0;

	assert_true(r->total <= 70000);
	for (uint64_t i = 0; i < r->total; i++) {
		snmp_addr128 a = snmp_ranges_nth(r, i);
		assert_true(snmp_ranges_contains(r, a));
		assert_false(snmp_ranges_contains(&x, a));
		if (i)
			assert_true(a > prev);
		prev = a;
	}
	snmp_ranges_free(&x);
}

static void test_subtract(void **state)
{
	struct snmp_ranges r;
	(void)state;

	/* in the middle */
	r = parse_ok("192.0.2.0/24");
	subtract(&r, "192.0.2.10-192.0.2.19");
	INTERVALS(&r, "192.0.2.0-192.0.2.9", "192.0.2.20-192.0.2.255");
	assert_int_equal(r.total, 246);
	assert_true(snmp_ranges_contains(&r, A("192.0.2.9")));
	assert_false(snmp_ranges_contains(&r, A("192.0.2.10")));
	assert_false(snmp_ranges_contains(&r, A("192.0.2.19")));
	assert_true(snmp_ranges_contains(&r, A("192.0.2.20")));
	assert_string_equal(fmt(snmp_ranges_nth(&r, 0)), "192.0.2.0");
	assert_string_equal(fmt(snmp_ranges_nth(&r, 9)), "192.0.2.9");
	assert_string_equal(fmt(snmp_ranges_nth(&r, 10)), "192.0.2.20");
	assert_string_equal(fmt(snmp_ranges_nth(&r, 245)), "192.0.2.255");
	check_iteration(&r, "192.0.2.10-192.0.2.19");
	snmp_ranges_free(&r);

	/* at both edges */
	r = parse_ok("192.0.2.0/24");
	subtract(&r, "192.0.2.0, 192.0.2.255");
	INTERVALS(&r, "192.0.2.1-192.0.2.254");
	assert_int_equal(r.total, 254);
	snmp_ranges_free(&r);

	/* larger than the range on both sides */
	r = parse_ok("192.0.2.0/24");
	subtract(&r, "192.0.0.0/16");
	assert_int_equal(r.n, 0);
	assert_int_equal(r.total, 0);
	assert_false(snmp_ranges_contains(&r, A("192.0.2.1")));
	snmp_ranges_free(&r);

	/* exactly the range */
	r = parse_ok("192.0.2.0/24");
	subtract(&r, "192.0.2.0-192.0.2.255");
	assert_int_equal(r.total, 0);
	snmp_ranges_free(&r);

	/* overlapping excludes, and one that touches nothing */
	r = parse_ok("192.0.2.0/24");
	subtract(&r, "192.0.2.10-192.0.2.30, 192.0.2.20-192.0.2.40, 192.0.2.100, 198.51.100.0/24, 2001:db8::/32");
	INTERVALS(&r, "192.0.2.0-192.0.2.9", "192.0.2.41-192.0.2.99", "192.0.2.101-192.0.2.255");
	assert_int_equal(r.total, 10 + 59 + 155);
	check_iteration(&r, "192.0.2.10-192.0.2.40, 192.0.2.100");
	snmp_ranges_free(&r);

	/* one exclude across two ranges, several excludes in one range */
	r = parse_ok("192.0.2.0/24, 192.0.3.0/24, 2001:db8::/120");
	subtract(&r, "192.0.2.200-192.0.3.50, 192.0.3.60, 192.0.3.70, 2001:db8::80/121");
	INTERVALS(&r, "192.0.2.0-192.0.2.199", "192.0.3.51-192.0.3.59", "192.0.3.61-192.0.3.69",
		  "192.0.3.71-192.0.3.255", "2001:db8::-2001:db8::7f");
	assert_int_equal(r.total, 200 + 9 + 9 + 185 + 128);
	check_iteration(&r, "192.0.2.200-192.0.3.50, 192.0.3.60, 192.0.3.70, 2001:db8::80/121");
	snmp_ranges_free(&r);

	/* nothing to take away */
	r = parse_ok("192.0.2.0/30");
	subtract(&r, "");
	assert_int_equal(r.total, 4);
	snmp_ranges_free(&r);

	/* an empty range stays empty */
	r = parse_ok("");
	subtract(&r, "192.0.2.0/24");
	assert_int_equal(r.total, 0);
	assert_false(snmp_ranges_contains(&r, A("192.0.2.1")));
	snmp_ranges_free(&r);
}

static void test_limit(void **state)
{
	struct snmp_ranges r;
	(void)state;

	r = parse_ok("10.0.0.0/8");
	assert_int_equal(r.total, SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);

	r = parse_ok("10.0.0.0/8, 192.0.2.1");
	assert_int_equal(r.total, SNMP_RANGES_MAX_TOTAL + 1);
	snmp_ranges_free(&r);

	r = parse_ok("10.0.0.0/7");
	assert_int_equal(r.total, SNMP_RANGES_MAX_TOTAL + 1);
	/* an exclude can bring it back under the limit: the total is recounted */
	subtract(&r, "11.0.0.0/8");
	assert_int_equal(r.total, SNMP_RANGES_MAX_TOTAL);
	assert_string_equal(fmt(snmp_ranges_nth(&r, SNMP_RANGES_MAX_TOTAL - 1)), "10.255.255.255");
	snmp_ranges_free(&r);

	/* many small pieces add up past it too */
	r = parse_ok("10.0.0.0/9, 11.0.0.0/9, 12.0.0.0/9");
	assert_true(r.total > SNMP_RANGES_MAX_TOTAL);
	snmp_ranges_free(&r);
}

/* ---- addresses ------------------------------------------------------------ */

static void test_ipv4_mapped(void **state)
{
	struct snmp_ranges r;
	(void)state;

	assert_true(A("::ffff:192.0.2.1") == A("192.0.2.1"));
	assert_true(snmp_addr_is_v4(A("192.0.2.1")));
	assert_true(snmp_addr_is_v4(A("0.0.0.0")));
	assert_false(snmp_addr_is_v4(A("::")));
	assert_false(snmp_addr_is_v4(A("::1")));
	assert_false(snmp_addr_is_v4(A("::192.0.2.1"))); /* IPv4-compatible is IPv6 */
	assert_false(snmp_addr_is_v4(A("64:ff9b::192.0.2.1")));
	assert_string_equal(fmt(A("::ffff:192.0.2.1")), "192.0.2.1");

	/* the mapped form is the same address as the dotted one */
	r = parse_ok("192.0.2.1, ::ffff:192.0.2.1");
	assert_int_equal(r.total, 1);
	snmp_ranges_free(&r);
	/* an IPv6-style prefix on a mapped address counts 128 bits */
	r = parse_ok("::ffff:192.0.2.0/120");
	INTERVALS(&r, "192.0.2.0-192.0.2.255");
	assert_int_equal(r.total, 256);
	snmp_ranges_free(&r);
	r = parse_ok("::ffff:192.0.2.1-192.0.2.5");
	assert_int_equal(r.total, 5);
	snmp_ranges_free(&r);
	/* excluding the mapped form excludes the address */
	r = parse_ok("192.0.2.0/30");
	subtract(&r, "::ffff:192.0.2.1");
	assert_int_equal(r.total, 3);
	assert_false(snmp_ranges_contains(&r, A("192.0.2.1")));
	snmp_ranges_free(&r);
}

static void test_sockaddr(void **state)
{
	static const char *const addrs[] = {"192.0.2.1", "0.0.0.0", "255.255.255.255", "127.0.0.1",
					    "::1",       "::",      "2001:db8::ff",    "fe80::1:2:3:4"};
	(void)state;

	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		struct sockaddr_storage ss;
		snmp_addr128 a = A(addrs[i]);
		socklen_t sl = snmp_addr_to_sockaddr(a, 161, &ss);
		if (strchr(addrs[i], ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			struct in6_addr want;
			assert_int_equal(sl, sizeof(struct sockaddr_in6));
			assert_int_equal(ss.ss_family, AF_INET6);
			assert_int_equal(ntohs(s6->sin6_port), 161);
			assert_int_equal(inet_pton(AF_INET6, addrs[i], &want), 1);
			assert_memory_equal(&s6->sin6_addr, &want, 16);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			struct in_addr want;
			assert_int_equal(sl, sizeof(struct sockaddr_in));
			assert_int_equal(ss.ss_family, AF_INET);
			assert_int_equal(ntohs(s4->sin_port), 161);
			assert_int_equal(inet_pton(AF_INET, addrs[i], &want), 1);
			assert_int_equal(s4->sin_addr.s_addr, want.s_addr);
		}
		assert_true(snmp_addr_from_sockaddr((struct sockaddr *)&ss) == a);
		assert_string_equal(fmt(a), addrs[i]);
	}

	/* a mapped address from an IPv6 socket is the IPv4 address */
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.9", &s6.sin6_addr), 1);
	assert_true(snmp_addr_from_sockaddr((struct sockaddr *)&s6) == A("192.0.2.9"));
}

static void test_format_parse(void **state)
{
	(void)state;

	assert_string_equal(fmt(A("2001:0db8:0000:0000:0000:0000:0000:0001")), "2001:db8::1");
	assert_string_equal(fmt(A("192.0.2.1")), "192.0.2.1");
	assert_string_equal(fmt(A("10.1.2.3")), "10.1.2.3");
	assert_string_equal(fmt(0), "::");
	static const char *const bad[] = {"",     "1.2.3",    "1.2.3.4.5",  "256.1.1.1", "2001:db8:::1",
					  "g::1", " 1.2.3.4", "1.2.3.4/24", "localhost"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snmp_addr128 keep = 7;
		if (snmp_addr_parse(bad[i], &keep) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
		assert_true(keep == 7);
	}
}

/* ---- scope ------------------------------------------------------------------ */

/* first: "" when find reports nothing for text, else the address it reports */
static void expect_first(bool (*find)(const struct snmp_ranges *, snmp_addr128 *), const char *text, const char *first)
{
	struct snmp_ranges r;
	char err[256], buf[64];
	snmp_addr128 a;

	assert_int_equal(snmp_ranges_parse(text, &r, err, sizeof(err)), 0);
	bool found = find(&r, &a);
	if (!*first) {
		if (found)
			fail_msg("%s: %s reported", text, snmp_addr_format(a, buf, sizeof(buf)));
	} else {
		assert_true(found);
		assert_string_equal(snmp_addr_format(a, buf, sizeof(buf)), first);
	}
	snmp_ranges_free(&r);
}

#define expect_public(text, first) expect_first(snmp_ranges_first_public, text, first)
#define expect_group(text, first) expect_first(snmp_ranges_first_group, text, first)

static void test_scope(void **state)
{
	(void)state;
	/* a site's own space */
	expect_public("10.1.0.0/22, 10.2.5.10-10.2.5.60, 172.16.0.0/12, 192.168.1.0/24", "");
	expect_public("127.0.0.1-127.0.0.80, 169.254.1.0/24, 100.64.0.0/10", "");
	expect_public("fd00::/64, fe80::1, ::1", "");
	/* the edges of private blocks */
	expect_public("172.15.255.250-172.16.0.5", "172.15.255.250");
	expect_public("172.31.255.250-172.32.0.5", "172.32.0.0");
	expect_public("192.168.255.250-192.169.0.5", "192.169.0.0");
	expect_public("10.0.0.0/8, 8.8.8.0/24", "8.8.8.0");
	expect_public("2001:db8::/120, 2a00:1450::/120", "2a00:1450::");
	/* multicast and broadcast are not "public"; they are reported apart */
	expect_public("224.0.0.0/24, 255.255.255.255, ff02::1", "");
	expect_group("239.255.255.250", "239.255.255.250");
	expect_group("192.168.0.0/16, 255.255.255.255", "255.255.255.255");
	expect_group("223.255.255.254-224.0.0.3", "224.0.0.0");
	expect_group("ff02::1-ff02::2", "ff02::1");
	expect_group("10.0.0.0/8, 192.168.1.255, 239.255.255.250-239.255.255.250", "239.255.255.250");
	expect_group("10.0.0.0/8, fe80::/64", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_v4),        cmocka_unit_test(test_spans_and_singles),
		cmocka_unit_test(test_ipv6_and_mixed), cmocka_unit_test(test_top_and_bottom_of_the_space),
		cmocka_unit_test(test_whitespace),     cmocka_unit_test(test_errors),
		cmocka_unit_test(test_subtract),       cmocka_unit_test(test_limit),
		cmocka_unit_test(test_ipv4_mapped),    cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_format_parse),   cmocka_unit_test(test_scope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
