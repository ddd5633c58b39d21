/* Parsing, normalising (sort + merge) and subtracting address intervals. */
#include "ranges.h"

#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const snmp_addr128 V4_PREFIX = (snmp_addr128)0xFFFF << 32;

bool snmp_addr_is_v4(snmp_addr128 a)
{
	return (a >> 32) == 0xFFFF;
}

int snmp_addr_parse(const char *s, snmp_addr128 *ret)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		*ret = V4_PREFIX | ntohl(a4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		snmp_addr128 v = 0;
		for (int i = 0; i < 16; i++)
			v = (v << 8) | a6.s6_addr[i];
		*ret = v;
		return 0;
	}
	return -EINVAL;
}

const char *snmp_addr_format(snmp_addr128 a, char *buf, size_t size)
{
	if (snmp_addr_is_v4(a)) {
		struct in_addr a4 = {htonl((uint32_t)a)};
		inet_ntop(AF_INET, &a4, buf, (socklen_t)size);
	} else {
		struct in6_addr a6;
		for (int i = 15; i >= 0; i--, a >>= 8)
			a6.s6_addr[i] = (uint8_t)a;
		inet_ntop(AF_INET6, &a6, buf, (socklen_t)size);
	}
	return buf;
}

snmp_addr128 snmp_addr_from_sockaddr(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return V4_PREFIX | ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	snmp_addr128 v = 0;
	for (int i = 0; i < 16; i++)
		v = (v << 8) | a6->s6_addr[i];
	return v;
}

socklen_t snmp_addr_to_sockaddr(snmp_addr128 a, uint16_t port, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (snmp_addr_is_v4(a)) {
		struct sockaddr_in *s = (struct sockaddr_in *)ret;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		s->sin_addr.s_addr = htonl((uint32_t)a);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ret;
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	for (int i = 15; i >= 0; i--, a >>= 8)
		s->sin6_addr.s6_addr[i] = (uint8_t)a;
	return sizeof(*s);
}

static int cmp_iv(const void *a, const void *b)
{
	const struct snmp_interval *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorts, merges overlapping and adjacent intervals, recounts. */
static void normalise(struct snmp_ranges *r)
{
	size_t k = 0;

	if (r->n) /* iv is NULL for an empty list, and qsort's base must not be */
		qsort(r->iv, r->n, sizeof(*r->iv), cmp_iv);
	for (size_t i = 0; i < r->n; i++) {
		/* hi + 1 wraps at the last address, which swallows all that follows */
		if (k && (r->iv[k - 1].hi == ~(snmp_addr128)0 || r->iv[i].lo <= r->iv[k - 1].hi + 1)) {
			if (r->iv[i].hi > r->iv[k - 1].hi)
				r->iv[k - 1].hi = r->iv[i].hi;
		} else {
			r->iv[k++] = r->iv[i];
		}
	}
	r->n = k;
	r->total = 0;
	for (size_t i = 0; i < k; i++) {
		/* size - 1, which cannot wrap: ::/0 has 2^128 addresses */
		snmp_addr128 span = r->iv[i].hi - r->iv[i].lo;
		if (span >= SNMP_RANGES_MAX_TOTAL || r->total + (uint64_t)span + 1 > SNMP_RANGES_MAX_TOTAL)
			r->total = SNMP_RANGES_MAX_TOTAL + 1; /* "too many" */
		else
			r->total += (uint64_t)span + 1;
	}
}

static int add(struct snmp_ranges *r, snmp_addr128 lo, snmp_addr128 hi)
{
	struct snmp_interval *iv = realloc(r->iv, (r->n + 1) * sizeof(*iv));

	if (!iv)
		return -ENOMEM;
	r->iv = iv;
	r->iv[r->n++] = (struct snmp_interval){lo, hi};
	return 0;
}

/* One item: "a", "a/len" or "a-b". */
static int parse_item(char *item, struct snmp_ranges *r, char *err, size_t errlen)
{
	snmp_addr128 lo, hi;
	char *slash = strchr(item, '/'), *dash = strchr(item, '-');

	if (slash) {
		char *end;
		*slash = 0;
		if (snmp_addr_parse(item, &lo) < 0) {
			*slash = '/'; /* name the whole item */
			goto bad;
		}
		bool v4 = snmp_addr_is_v4(lo) && !strchr(item, ':');
		long len = strtol(slash + 1, &end, 10);
		int max = v4 ? 32 : 128;
		if (!isdigit((unsigned char)slash[1]) || *end || len < 0 || len > max) {
			*slash = '/';
			snprintf(err, errlen, "'%s': prefix length must be 0 to %d", item, max);
			return -EINVAL;
		}
		int host_bits = max - (int)len;
		snmp_addr128 mask = host_bits >= 128 ? ~(snmp_addr128)0 : (((snmp_addr128)1 << host_bits) - 1);
		lo &= ~mask; /* an IPv4 mask never reaches the ::ffff: prefix */
		hi = lo | mask;
		*slash = '/';
	} else if (dash) {
		*dash = 0;
		int a = snmp_addr_parse(item, &lo), b = snmp_addr_parse(dash + 1, &hi);
		*dash = '-';
		if (a < 0 || b < 0)
			goto bad;
		if (snmp_addr_is_v4(lo) != snmp_addr_is_v4(hi) || hi < lo) {
			snprintf(err, errlen,
				 "'%s': the end must be an address of the same family at or after the start", item);
			return -EINVAL;
		}
	} else {
		if (snmp_addr_parse(item, &lo) < 0)
			goto bad;
		hi = lo;
	}
	return add(r, lo, hi);
bad:
	snprintf(err, errlen, "'%s' is not an address, CIDR block (192.0.2.0/24) or range (192.0.2.10-192.0.2.50)",
		 item);
	return -EINVAL;
}

struct parse_ctx {
	struct snmp_ranges *r;
	char *err;
	size_t errlen;
};

static int parse_one(char *item, void *arg)
{
	struct parse_ctx *p = arg;
	return parse_item(item, p->r, p->err, p->errlen);
}

int snmp_ranges_parse(const char *text, struct snmp_ranges *ret, char *err, size_t errlen)
{
	struct snmp_ranges r = {0};
	struct parse_ctx p = {&r, err, errlen};
	int rc = snmp_split_list(text, parse_one, &p);

	if (rc < 0) {
		free(r.iv);
		return rc;
	}
	normalise(&r);
	*ret = r;
	return 0;
}

int snmp_ranges_subtract(struct snmp_ranges *r, const struct snmp_ranges *ex)
{
	struct snmp_ranges out = {0};

	for (size_t i = 0; i < r->n; i++) {
		snmp_addr128 lo = r->iv[i].lo, hi = r->iv[i].hi;
		bool gone = false;
		for (size_t j = 0; j < ex->n && !gone; j++) {
			const struct snmp_interval *x = &ex->iv[j];
			if (x->hi < lo || x->lo > hi)
				continue;
			if (x->lo > lo && add(&out, lo, x->lo - 1) < 0)
				goto oom;
			if (x->hi >= hi)
				gone = true;
			else
				lo = x->hi + 1;
		}
		if (!gone && add(&out, lo, hi) < 0)
			goto oom;
	}
	free(r->iv);
	*r = out;
	normalise(r);
	return 0;
oom:
	free(out.iv);
	return -ENOMEM;
}

void snmp_ranges_free(struct snmp_ranges *r)
{
	free(r->iv);
	*r = (struct snmp_ranges){0};
}

bool snmp_ranges_contains(const struct snmp_ranges *r, snmp_addr128 a)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a < r->iv[mid].lo)
			hi = mid;
		else if (a > r->iv[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

snmp_addr128 snmp_ranges_nth(const struct snmp_ranges *r, uint64_t i)
{
	for (size_t k = 0; k < r->n; k++) {
		snmp_addr128 size = r->iv[k].hi - r->iv[k].lo + 1;
		if ((snmp_addr128)i < size)
			return r->iv[k].lo + i;
		i -= (uint64_t)size;
	}
	return 0;
}

/* ---- scope ------------------------------------------------------------------ */

/* Space that is not globally routed: private, shared (CGNAT), loopback,
 * link-local, documentation, benchmarking and reserved blocks (RFC 6890),
 * plus multicast and broadcast, reported on their own. */
static const char NOT_PUBLIC[] = "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, "
				 "192.0.0.0/24, 192.0.2.0/24, 192.168.0.0/16, 198.18.0.0/15, 198.51.100.0/24, "
				 "203.0.113.0/24, 224.0.0.0/3, ::/128, ::1, 64:ff9b:1::/48, 100::/64, 2001:db8::/32, "
				 "fc00::/7, fe80::/10, ff00::/8";
static const char GROUP[] = "224.0.0.0/4, 255.255.255.255, ff00::/8";

/* The first address of r inside (inside = true) or outside the blocks of
 * list; false when there is none. */
static bool first_of(const struct snmp_ranges *r, const char *list, bool inside, snmp_addr128 *ret)
{
	struct snmp_ranges blocks, rest = {0};
	char err[128];
	bool found = false;

	if (!r->n || snmp_ranges_parse(list, &blocks, err, sizeof(err)) < 0)
		return false;
	rest.iv = malloc(r->n * sizeof(*rest.iv));
	if (rest.iv) {
		memcpy(rest.iv, r->iv, r->n * sizeof(*rest.iv));
		rest.n = r->n;
		rest.total = r->total;
		if (inside) {
			/* r minus everything outside the blocks */
			struct snmp_ranges outside = {0};
			snmp_addr128 lo = 0;
			bool ok = true;
			for (size_t i = 0; i < blocks.n && ok; i++) {
				if (blocks.iv[i].lo > lo)
					ok = add(&outside, lo, blocks.iv[i].lo - 1) == 0;
				lo = blocks.iv[i].hi + 1;
			}
			if (ok && lo != 0)
				ok = add(&outside, lo, ~(snmp_addr128)0) == 0;
			found = ok && snmp_ranges_subtract(&rest, &outside) == 0 && rest.n;
			free(outside.iv);
		} else {
			found = snmp_ranges_subtract(&rest, &blocks) == 0 && rest.n;
		}
		if (found)
			*ret = rest.iv[0].lo;
	}
	snmp_ranges_free(&rest);
	snmp_ranges_free(&blocks);
	return found;
}

bool snmp_ranges_first_public(const struct snmp_ranges *r, snmp_addr128 *ret_addr)
{
	return first_of(r, NOT_PUBLIC, false, ret_addr);
}

bool snmp_ranges_first_group(const struct snmp_ranges *r, snmp_addr128 *ret_addr)
{
	return first_of(r, GROUP, true, ret_addr);
}
