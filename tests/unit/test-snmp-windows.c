/* Unit tests for src/modules/snmp/windows.c: the window syntax (day spans,
 * "daily", over midnight, wrapping day spans, "always", empty), the errors,
 * and the open/next-change queries at chosen local times. TZ is UTC
 * (set here), and one test moves it to check local time is what counts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modules/snmp/windows.h"

enum { MON, TUE, WED, THU, FRI, SAT, SUN };

/* 2024-01-01 00:00:00 UTC was a Monday. */
static time_t at(int day, int h, int m)
{
	return (time_t)1704067200 + day * 86400 + h * 3600 + m * 60;
}

static struct snmp_windows parse_ok(const char *text)
{
	struct snmp_windows w;
	char err[256] = "";

	if (snmp_windows_parse(text, &w, err, sizeof(err)) < 0)
		fail_msg("'%s': %s", text, err);
	return w;
}

static void parse_bad(const char *text, const char *want)
{
	struct snmp_windows w = {.always = true};
	char err[256] = "";

	assert_int_equal(snmp_windows_parse(text, &w, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want) || !strstr(err, "is not a window"))
		fail_msg("'%s': message '%s' does not say '%s'", text, err, want);
}

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int open_minutes(const struct snmp_windows *w)
{
	int n = 0;

	for (int m = 0; m < 7 * 1440; m++)
		n += snmp_windows_open(w, at(MON, 0, 0) + m * 60);
	return n;
}

static void test_weekdays_and_saturday(void **state)
{
	struct snmp_windows w = parse_ok("mon-fri 07:00-19:00, sat 08:00-12:00");
	(void)state;

	assert_false(w.always);
	assert_false(snmp_windows_open(&w, at(MON, 6, 59)));
	assert_true(snmp_windows_open(&w, at(MON, 7, 0)));
	assert_true(snmp_windows_open(&w, at(MON, 18, 59) + 59));
	assert_false(snmp_windows_open(&w, at(MON, 19, 0)));
	assert_true(snmp_windows_open(&w, at(WED, 12, 0)));
	assert_true(snmp_windows_open(&w, at(FRI, 18, 30)));
	assert_false(snmp_windows_open(&w, at(FRI, 19, 30)));
	assert_false(snmp_windows_open(&w, at(SAT, 7, 59)));
	assert_true(snmp_windows_open(&w, at(SAT, 8, 0)));
	assert_true(snmp_windows_open(&w, at(SAT, 11, 59)));
	assert_false(snmp_windows_open(&w, at(SAT, 12, 0)));
	assert_false(snmp_windows_open(&w, at(SUN, 10, 0)));
	/* a week later, the same */
	assert_true(snmp_windows_open(&w, at(MON + 7, 7, 0)));
	assert_false(snmp_windows_open(&w, at(SUN + 7, 7, 0)));
	assert_int_equal(open_minutes(&w), 5 * 12 * 60 + 4 * 60);

	/* case and blanks do not matter */
	struct snmp_windows u = parse_ok("  Mon-FRI   07:00-19:00 ,SAT 08:00-12:00\n");
	assert_memory_equal(&u, &w, sizeof(w));
}

static void test_over_midnight(void **state)
{
	struct snmp_windows w = parse_ok("daily 22:00-06:00");
	(void)state;

	assert_false(snmp_windows_open(&w, at(MON, 21, 59)));
	assert_true(snmp_windows_open(&w, at(MON, 22, 0)));
	assert_true(snmp_windows_open(&w, at(MON, 23, 59)));
	assert_true(snmp_windows_open(&w, at(TUE, 0, 0)));
	assert_true(snmp_windows_open(&w, at(TUE, 5, 59)));
	assert_false(snmp_windows_open(&w, at(TUE, 6, 0)));
	assert_false(snmp_windows_open(&w, at(TUE, 12, 0)));
	/* Sunday night runs into Monday morning */
	assert_true(snmp_windows_open(&w, at(SUN, 23, 30)));
	assert_true(snmp_windows_open(&w, at(MON, 1, 0)));
	assert_int_equal(open_minutes(&w), 7 * 8 * 60);

	/* one day over midnight: only into the next morning */
	w = parse_ok("fri 22:00-02:00");
	assert_true(snmp_windows_open(&w, at(FRI, 23, 0)));
	assert_true(snmp_windows_open(&w, at(SAT, 1, 59)));
	assert_false(snmp_windows_open(&w, at(SAT, 2, 0)));
	assert_false(snmp_windows_open(&w, at(FRI, 1, 0)));
	assert_int_equal(open_minutes(&w), 4 * 60);

	/* 24:00 as an end */
	w = parse_ok("mon 22:00-24:00");
	assert_true(snmp_windows_open(&w, at(MON, 23, 59)));
	assert_false(snmp_windows_open(&w, at(TUE, 0, 0)));
}

static void test_always(void **state)
{
	static const char *const texts[] = {"always", "ALWAYS", "", "   ", ",", " , \n , ", "always, mon 07:00-08:00"};
	(void)state;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct snmp_windows w = parse_ok(texts[i]);
		assert_true(w.always);
		for (int d = MON; d <= SUN; d++)
			assert_true(snmp_windows_open(&w, at(d, 3, 17)));
		assert_int_equal(snmp_windows_next_change(&w, at(TUE, 3, 17)), 7 * 86400);
	}
}

static void test_bare_times_and_days(void **state)
{
	struct snmp_windows w = parse_ok("09:00-17:00");
	(void)state;

	for (int d = MON; d <= SUN; d++) {
		assert_false(snmp_windows_open(&w, at(d, 8, 59)));
		assert_true(snmp_windows_open(&w, at(d, 9, 0)));
		assert_false(snmp_windows_open(&w, at(d, 17, 0)));
	}
	assert_int_equal(open_minutes(&w), 7 * 8 * 60);

	/* a day without times is the whole day */
	w = parse_ok("wed");
	assert_false(snmp_windows_open(&w, at(TUE, 23, 59)));
	assert_true(snmp_windows_open(&w, at(WED, 0, 0)));
	assert_true(snmp_windows_open(&w, at(WED, 23, 59)));
	assert_false(snmp_windows_open(&w, at(THU, 0, 0)));
	assert_int_equal(open_minutes(&w), 1440);

	/* a day span that wraps past Sunday */
	w = parse_ok("fri-mon");
	assert_false(snmp_windows_open(&w, at(THU, 23, 59)));
	assert_true(snmp_windows_open(&w, at(FRI, 0, 0)));
	assert_true(snmp_windows_open(&w, at(SAT, 12, 0)));
	assert_true(snmp_windows_open(&w, at(SUN, 12, 0)));
	assert_true(snmp_windows_open(&w, at(MON, 23, 59)));
	assert_false(snmp_windows_open(&w, at(TUE, 0, 0)));
	assert_int_equal(open_minutes(&w), 4 * 1440);

	w = parse_ok("sat-sun 10:00-11:00");
	assert_int_equal(open_minutes(&w), 2 * 60);
	assert_true(snmp_windows_open(&w, at(SUN, 10, 30)));

	w = parse_ok("daily");
	assert_false(w.always);
	assert_int_equal(open_minutes(&w), 7 * 1440);
}

static void test_errors(void **state)
{
	(void)state;

	parse_bad("25:00", "'25:00'");
	parse_bad("25:00-26:00", "'25:00-26:00'");
	parse_bad("mon 25:00-26:00", "25:00-26:00");
	parse_bad("mon 07:60-08:00", "07:60-08:00");
	parse_bad("mon 24:01-08:00", "24:01-08:00");
	parse_bad("mon-xyz 07:00-08:00", "mon-xyz");
	parse_bad("07:00-07:00", "'07:00-07:00'");
	parse_bad("mon 07:00-07:00", "mon 07:00-07:00");
	parse_bad("mon-fri 07:00-19:00, sun 7:00-8:00", "7:00-8:00");
	parse_bad("mon 07:00", "07:00");
	parse_bad("monday 07:00-08:00", "monday");
	parse_bad("mon-fri 07:00-19:00 and more", "mon-fri");
	parse_bad("09:00-17:00 mon", "09:00-17:00");
	parse_bad("weekdays", "weekdays");
	parse_bad("mon-", "mon-");
	parse_bad("-fri", "-fri");
	parse_bad("mon 07:00_08:00", "07:00_08:00");
}

static void test_next_change(void **state)
{
	struct snmp_windows w = parse_ok("mon-fri 07:00-19:00, sat 08:00-12:00");
	(void)state;

	/* closed, opening in 30 s */
	assert_int_equal(snmp_windows_next_change(&w, at(MON, 6, 59) + 30), 30);
	/* opening right now: it closes at 19:00 */
	assert_int_equal(snmp_windows_next_change(&w, at(MON, 7, 0)), 12 * 3600);
	assert_int_equal(snmp_windows_next_change(&w, at(MON, 18, 59) + 1), 59);
	/* Friday evening: closed until Saturday 08:00 */
	assert_int_equal(snmp_windows_next_change(&w, at(FRI, 19, 0)), 13 * 3600);
	/* Saturday noon: closed until Monday 07:00 */
	assert_int_equal(snmp_windows_next_change(&w, at(SAT, 12, 0)), (12 + 24 + 7) * 3600);

	/* the answer is where the state really flips */
	for (time_t t = at(MON, 0, 0); t < at(MON + 7, 0, 0); t += 3 * 3600 + 17 * 60 + 13) {
		int64_t d = snmp_windows_next_change(&w, t);
		assert_true(d > 0 && d <= 7 * 86400);
		bool now = snmp_windows_open(&w, t);
		assert_true(snmp_windows_open(&w, t + d - 1) == now);
		assert_true(snmp_windows_open(&w, t + d) != now);
	}

	/* open all week: no change within a week */
	w = parse_ok("daily 00:00-24:00");
	assert_int_equal(snmp_windows_next_change(&w, at(WED, 5, 5)), 7 * 86400);
	w = parse_ok("daily 22:00-06:00");
	assert_int_equal(snmp_windows_next_change(&w, at(SUN, 23, 0)), 7 * 3600);
}

static void test_local_time(void **state)
{
	struct snmp_windows w = parse_ok("mon 07:00-08:00");
	(void)state;

	/* 12:30 UTC is 07:30 in a zone five hours behind */
	assert_false(snmp_windows_open(&w, at(MON, 12, 30)));
	set_tz("EST5");
	assert_true(snmp_windows_open(&w, at(MON, 12, 30)));
	assert_int_equal(snmp_windows_next_change(&w, at(MON, 12, 30)), 30 * 60);
	set_tz("UTC");
	assert_false(snmp_windows_open(&w, at(MON, 12, 30)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weekdays_and_saturday),
		cmocka_unit_test(test_over_midnight),
		cmocka_unit_test(test_always),
		cmocka_unit_test(test_bare_times_and_days),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_next_change),
		cmocka_unit_test(test_local_time),
	};

	set_tz("UTC");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
