/* libFuzzer target for the sweep's address ranges and time windows, as the
 * [snmp] ranges, exclude and windows options hold them. The input is split
 * at its first NUL (or, without one, in two halves): the first part is the
 * ranges, the second the exclude list, and each part is also a windows
 * text.
 *
 * Parsed ranges are sorted, disjoint, non-adjacent (merged) intervals with
 * lo <= hi, and total counts their addresses unless it says "too many"
 * (SNMP_RANGES_MAX_TOTAL + 1). After the exclude list is subtracted, no
 * excluded address is left and every other one is: checked at the ends
 * and middle of every interval and just outside them. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "modules/snmp/ranges.h"
#include "modules/snmp/windows.h"

#define MAX_TOTAL SNMP_RANGES_MAX_TOTAL

static void check_err(int r, const char *err, size_t errlen)
{
	CHECK(r == -EINVAL);
	CHECK(memchr(err, 0, errlen) && err[0]);
}

static void check_ranges(const struct snmp_ranges *r)
{
	snmp_addr128 sum = 0;
	bool over = false;

	CHECK(r->n == 0 || r->iv);
	for (size_t i = 0; i < r->n; i++) {
		const struct snmp_interval *iv = &r->iv[i];
		CHECK(iv->lo <= iv->hi);
		if (i) /* sorted, disjoint, and adjacent ones merged */
			CHECK(r->iv[i - 1].hi < iv->lo && r->iv[i - 1].hi + 1 < iv->lo);
		snmp_addr128 span = iv->hi - iv->lo; /* size - 1: cannot wrap */
		if (over || span >= MAX_TOTAL || sum + span + 1 > MAX_TOTAL)
			over = true;
		else
			sum += span + 1;
	}
	if (over)
		CHECK(r->total == MAX_TOTAL + 1);
	else
		CHECK(r->total == (uint64_t)sum);

	/* the endpoints print and parse back to themselves */
	for (size_t i = 0; i < r->n && i < 4; i++) {
		char buf[64];
		snmp_addr128 a;
		CHECK(snmp_addr_parse(snmp_addr_format(r->iv[i].lo, buf, sizeof(buf)), &a) == 0 && a == r->iv[i].lo);
		CHECK(snmp_addr_parse(snmp_addr_format(r->iv[i].hi, buf, sizeof(buf)), &a) == 0 && a == r->iv[i].hi);
	}
	/* iteration order: the first and the last address, and one between */
	if (r->n && r->total <= MAX_TOTAL) {
		CHECK(snmp_ranges_nth(r, 0) == r->iv[0].lo);
		CHECK(snmp_ranges_nth(r, r->total - 1) == r->iv[r->n - 1].hi);
		CHECK(snmp_ranges_contains(r, snmp_ranges_nth(r, r->total / 2)));
	}
}

/* Addresses worth asking about: each interval's ends, middle, and the
 * addresses just outside it. */
static size_t samples(const struct snmp_ranges *r, snmp_addr128 *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n && n + 5 <= cap; i++) {
		const struct snmp_interval *iv = &r->iv[i];
		out[n++] = iv->lo;
		out[n++] = iv->hi;
		out[n++] = iv->lo + (iv->hi - iv->lo) / 2;
		out[n++] = iv->lo - 1; /* wraps at ::, which is fine: just another address */
		out[n++] = iv->hi + 1;
	}
	return n;
}

static void check_subtract(struct snmp_ranges *r, const struct snmp_ranges *ex)
{
	struct snmp_ranges old = {0};
	static snmp_addr128 s[2048];
	size_t n = 0;

	if (r->n) {
		old.iv = malloc(r->n * sizeof(*r->iv));
		CHECK(old.iv);
		memcpy(old.iv, r->iv, r->n * sizeof(*r->iv));
	}
	old.n = r->n;
	old.total = r->total;

	CHECK(snmp_ranges_subtract(r, ex) == 0);
	check_ranges(r);
	CHECK(r->total <= old.total || old.total == MAX_TOTAL + 1);

	n += samples(&old, s + n, 1024);
	n += samples(ex, s + n, 512);
	n += samples(r, s + n, 512);
	for (size_t i = 0; i < n; i++) {
		bool want = snmp_ranges_contains(&old, s[i]) && !snmp_ranges_contains(ex, s[i]);
		CHECK(snmp_ranges_contains(r, s[i]) == want);
	}
	free(old.iv);
}

static void check_windows(const char *text)
{
	struct snmp_windows w;
	char err[256];

	memset(err, 0, sizeof(err));
	int r = snmp_windows_parse(text, &w, err, sizeof(err));
	if (r < 0) {
		check_err(r, err, sizeof(err));
		return;
	}
	CHECK(r == 0);
	/* a few instants of a week (TZ is UTC): the state holds until the
	 * change next_change announces, and then it changes */
	static const time_t at[] = {1700000000, 1700000000 + 86400 * 3 + 3600 * 7 + 59, 1700500000};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		bool open = snmp_windows_open(&w, at[i]);
		int64_t dt = snmp_windows_next_change(&w, at[i]);
		CHECK(dt >= 1 && dt <= 7 * 86400);
		if (w.always) {
			CHECK(open);
			continue;
		}
		CHECK(snmp_windows_open(&w, at[i] + dt - 1) == open);
		if (dt < 7 * 86400)
			CHECK(snmp_windows_open(&w, at[i] + dt) != open);
	}
}

static void parse(const char *text, struct snmp_ranges *r, bool *ok)
{
	char err[256];

	memset(err, 0, sizeof(err));
	int rc = snmp_ranges_parse(text, r, err, sizeof(err));
	*ok = rc == 0;
	if (rc < 0) {
		check_err(rc, err, sizeof(err));
		*r = (struct snmp_ranges){0};
		return;
	}
	check_ranges(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t na = nul ? (size_t)(nul - data) : size / 2;
	size_t nb = nul ? size - na - 1 : size - na;
	char *a = malloc(na + 1), *b = malloc(nb + 1); /* the input has no NUL to stop a strndup */
	struct snmp_ranges r, ex;
	bool ok_r, ok_ex;

	CHECK(a && b);
	memcpy(a, data, na);
	a[na] = 0;
	memcpy(b, data + size - nb, nb);
	b[nb] = 0;

	parse(a, &r, &ok_r);
	parse(b, &ex, &ok_ex);
	if (ok_r && ok_ex)
		check_subtract(&r, &ex);
	snmp_ranges_free(&r);
	snmp_ranges_free(&ex);
	CHECK(!r.iv && !r.n);

	check_windows(a);
	check_windows(b);
	free(a);
	free(b);
	return 0;
}
