/* Parsing and querying sweep time windows. */
#include "windows.h"

#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK_MIN (7 * 24 * 60)

static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int day_index(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && strncasecmp(s, days[i], 3) == 0)
			return i;
	return -1;
}

static void set(struct snmp_windows *w, int m)
{
	m %= WEEK_MIN;
	w->minute[m / 8] |= (uint8_t)(1u << (m % 8));
}

static bool get(const struct snmp_windows *w, int m)
{
	m %= WEEK_MIN;
	return w->minute[m / 8] & (1u << (m % 8));
}

static int parse_hhmm(const char *s, int *ret)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -EINVAL;
	int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
	if (h > 24 || m > 59 || (h == 24 && m))
		return -EINVAL;
	*ret = h * 60 + m;
	return 0;
}

static int parse_item(char *item, struct snmp_windows *w, char *err, size_t errlen)
{
	int d0 = 0, d1 = 6, t0 = 0, t1 = 24 * 60;
	char *sp = item + strcspn(item, " \t"), *times = NULL, cut = *sp;

	if (*sp) {
		*sp = 0;
		times = sp + 1;
		while (isspace((unsigned char)*times))
			times++;
	}
	if (isdigit((unsigned char)item[0])) {
		if (times && *times)
			goto bad;
		times = item;
	} else if (strcasecmp(item, "daily") != 0) {
		char *dash = strchr(item, '-');
		size_t n0 = dash ? (size_t)(dash - item) : strlen(item);
		d0 = day_index(item, n0);
		d1 = dash ? day_index(dash + 1, strlen(dash + 1)) : d0;
		if (d0 < 0 || d1 < 0)
			goto bad;
	}
	if (times && *times) {
		if (strlen(times) != 11 || times[5] != '-' || parse_hhmm(times, &t0) < 0 ||
		    parse_hhmm(times + 6, &t1) < 0)
			goto bad;
		if (t0 == t1)
			goto bad;
	}
	/* days wrap: fri-mon is fri, sat, sun, mon */
	for (int d = d0;; d = (d + 1) % 7) {
		int start = d * 1440 + t0, end = d * 1440 + t1;
		if (t1 < t0)
			end += 1440; /* past midnight */
		for (int m = start; m < end; m++)
			set(w, m);
		if (d == d1)
			break;
	}
	return 0;
bad:
	*sp = cut; /* name the whole item, times included */
	snprintf(err, errlen,
		 "'%s' is not a window (expected e.g. mon-fri 07:00-19:00, sat 08:00-12:00, daily 22:00-06:00)", item);
	return -EINVAL;
}

struct parse_ctx {
	struct snmp_windows *w;
	bool any;
	char *err;
	size_t errlen;
};

static int parse_one(char *item, void *arg)
{
	struct parse_ctx *p = arg;

	p->any = true;
	if (strcasecmp(item, "always") == 0) {
		p->w->always = true;
		return 0;
	}
	return parse_item(item, p->w, p->err, p->errlen);
}

int snmp_windows_parse(const char *text, struct snmp_windows *ret, char *err, size_t errlen)
{
	struct snmp_windows w = {0};
	struct parse_ctx p = {&w, false, err, errlen};
	int rc = snmp_split_list(text, parse_one, &p);

	if (rc < 0)
		return rc;
	if (!p.any)
		w.always = true;
	*ret = w;
	return 0;
}

static int week_minute(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return ((tm.tm_wday + 6) % 7) * 1440 + tm.tm_hour * 60 + tm.tm_min;
}

bool snmp_windows_open(const struct snmp_windows *w, time_t t)
{
	return w->always || get(w, week_minute(t));
}

int64_t snmp_windows_next_change(const struct snmp_windows *w, time_t t)
{
	if (w->always)
		return 7 * 86400;
	int m = week_minute(t);
	bool now = get(w, m);
	int64_t secs = 60 - (t % 60);
	for (int k = 1; k <= WEEK_MIN; k++, secs += 60)
		if (get(w, m + k) != now)
			return secs;
	return 7 * 86400;
}
