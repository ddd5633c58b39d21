/* Unit tests for src/modules/snmp/normalise.c and the vendor tables: every
 * recording of the shared printer set normalised and compared field by
 * field with its expected record (the rules of tests/snmp/expected.py),
 * then synthetic walks for what the recordings do not cover: RFC 3805's
 * special supply values, hrPrinterDetectedErrorState bits, the MAC rules,
 * text that is not UTF-8, absurd values, and a device that shows nothing
 * but a sysDescr of each vendor's pattern. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "modules/snmp/normalise.h"
#include "modules/snmp/text.h"
#include "modules/snmp/walk.h"
#include "snmp-testlib.h"

/* ---- the comparison rules of tests/snmp/expected.py ---------------------- */

static const char *const parents[][2] = {
	{"Gestetner", "Ricoh"},
	{"Savin", "Ricoh"},
	{"Lanier", "Ricoh"},
	{"NRG", "Ricoh"},
	{"Develop", "Konica Minolta"},
	{"UTAX", "Kyocera"},
	{"TA Triumph-Adler", "Kyocera"},
	{"Fuji Xerox", "Fujifilm"},
};

static const char *parent_of(const char *brand)
{
	for (size_t i = 0; brand && i < sizeof(parents) / sizeof(parents[0]); i++)
		if (strcmp(parents[i][0], brand) == 0)
			return parents[i][1];
	return NULL;
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Lower case, a leading manufacturer (then "hp", then "brother") and its
 * blank removed, then every blank removed. */
static void norm_model(const char *s, const char *manufacturer, char *out, size_t size)
{
	char low[1024];
	size_t n = 0;

	for (; s[n] && n < sizeof(low) - 1; n++)
		low[n] = (char)tolower((unsigned char)s[n]);
	low[n] = 0;
	const char *p = low;
	const char *const prefixes[] = {manufacturer, "hp", "brother"};
	for (size_t i = 0; i < 3; i++) {
		if (!prefixes[i] || !*prefixes[i])
			continue;
		size_t l = strlen(prefixes[i]);
		if (strncasecmp(p, prefixes[i], l) == 0 && p[l] == ' ')
			p += l + 1;
	}
	size_t k = 0;
	for (; *p && k < size - 1; p++)
		if (!isspace((unsigned char)*p))
			out[k++] = *p;
	out[k] = 0;
}

static char *trimmed(const char *s)
{
	return snmp_trim(strdup(s));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorted(a) == sorted(b) for arrays of strings */
static bool same_set(json_t *a, json_t *b)
{
	size_t n = json_array_size(a);
	const char *x[64], *y[64];

	if (!json_is_array(a) || !json_is_array(b) || n != json_array_size(b) || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		x[i] = json_string_value(json_array_get(a, i));
		y[i] = json_string_value(json_array_get(b, i));
		if (!x[i] || !y[i])
			return false;
	}
	qsort(x, n, sizeof(x[0]), cmp_str);
	qsort(y, n, sizeof(y[0]), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (strcmp(x[i], y[i]))
			return false;
	return true;
}

struct score {
	unsigned right, total;
};

static void judge(struct score *s, const char *name, const char *field, bool ok, json_t *want, json_t *got)
{
	s->total++;
	s->right += ok;
	if (!ok) {
		char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);
		char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		print_message("  MISS %s: %s: expected %s, got %s\n", name, field, w, g ? g : "(absent)");
		free(w);
		free(g);
	}
}

/* Supplies in index order; level_percent within 1, descriptions trimmed. */
static void compare_supplies(struct score *s, const char *name, json_t *want, json_t *got)
{
	size_t i;
	json_t *ws;

	json_array_foreach (want, i, ws) {
		json_t *gs = json_array_get(got, i), *wv;
		const char *k;
		json_object_foreach (ws, k, wv) {
			json_t *gv = json_object_get(gs, k);
			const char *gt = json_string_value(gv), *wt = json_string_value(wv);
			char label[64];
			bool ok;
			if (strcmp(k, "level_percent") == 0) {
				json_int_t d = json_integer_value(gv) - json_integer_value(wv);
				ok = json_is_integer(gv) && d >= -1 && d <= 1;
			} else if (strcmp(k, "description") == 0 && gt && wt) {
				char *a = trimmed(gt), *b = trimmed(wt);
				ok = strcmp(a, b) == 0;
				free(a);
				free(b);
			} else {
				ok = json_equal(gv, wv);
			}
			snprintf(label, sizeof(label), "supplies[%zu].%s", i, k);
			judge(s, name, label, ok, wv, gv);
		}
	}
}

static void compare(struct score *s, const char *name, json_t *expect, json_t *dev)
{
	const char *field;
	json_t *want;
	const char *manufacturer = json_string_value(json_object_get(expect, "manufacturer"));

	json_object_foreach (expect, field, want) {
		json_t *got = json_object_get(dev, field);
		char label[128];

		if (strcmp(field, "supplies") == 0) {
			compare_supplies(s, name, want, got);
			continue;
		}
		if (strcmp(field, "meters") == 0 || strcmp(field, "status") == 0) {
			const char *k;
			json_t *wv;
			json_object_foreach (want, k, wv) {
				json_t *gv = json_object_get(got, k);
				snprintf(label, sizeof(label), "%s.%s", field, k);
				judge(s, name, label, json_equal(gv, wv), wv, gv);
			}
			continue;
		}
		bool ok;
		if (strcmp(field, "model") == 0) {
			ok = false;
			if (json_is_string(got)) {
				char a[1024], b[1024];
				norm_model(json_string_value(got), manufacturer, a, sizeof(a));
				norm_model(json_string_value(want), manufacturer, b, sizeof(b));
				ok = strcmp(a, b) == 0;
			}
		} else if (strcmp(field, "manufacturer") == 0) {
			const char *g = json_string_value(got), *w = json_string_value(want);
			ok = same_str(g, w) || (g && same_str(parent_of(w), g)) || same_str(parent_of(g), w);
		} else if (strcmp(field, "errors") == 0) {
			ok = got && same_set(got, want);
		} else {
			ok = json_equal(got, want);
		}
		judge(s, name, field, ok, want, got);
	}
}

/* ---- the recordings -------------------------------------------------------- */

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int snmprec_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 8 && strcmp(d->d_name + n - 8, ".snmprec") == 0;
}

static void test_recordings(void **state)
{
	const char *dir = testdata_dir();
	struct dirent **names;
	struct score s = {0, 0};
	char path[4096];
	int n;
	(void)state;

	if (!dir) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "%s/snmprec", dir);
	n = scandir(path, &names, snmprec_file, by_name);
	assert_true(n > 0);
	unsigned files = 0;
	for (int i = 0; i < n; i++) {
		char name[256];
		size_t len = 0, bad = 0;
		struct snmp_walk w;
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(names[i]->d_name) - 8), names[i]->d_name);
		snprintf(path, sizeof(path), "%s/snmprec/%s", dir, names[i]->d_name);
		char *text = slurp(path, &len);
		assert_non_null(text);
		snmp_walk_init(&w);
		assert_int_equal(snmp_walk_load_snmprec(&w, text, len, &bad), 0);
		if (bad)
			fail_msg("%s: %zu lines did not load", name, bad);
		json_t *dev = snmp_normalise(&w, "127.0.0.1", NULL);
		assert_non_null(dev);
		assert_string_equal(json_string_value(json_object_get(dev, "ip")), "127.0.0.1");
		char *dump = json_dumps(dev, JSON_COMPACT);
		assert_non_null(dump);
		free(dump);

		snprintf(path, sizeof(path), "%s/expected/%s.json", dir, name);
		json_error_t err;
		json_t *expected = json_load_file(path, 0, &err);
		if (!expected)
			fail_msg("%s: %s", path, err.text);
		compare(&s, name, json_object_get(expected, "expect"), dev);
		json_decref(expected);
		json_decref(dev);
		snmp_walk_free(&w);
		free(text);
		free(names[i]);
		files++;
	}
	free(names);
	print_message("recordings: %u files, %u/%u fields right\n", files, s.right, s.total);
	assert_true(s.total > 0);
	assert_int_equal(s.right, s.total);
}

/* ---- synthetic walks ------------------------------------------------------- */

static json_t *norm(const char *snmprec, const char *ip)
{
	struct snmp_walk w;

	walk_from_snmprec(&w, snmprec);
	json_t *dev = snmp_normalise(&w, ip, NULL);
	snmp_walk_free(&w);
	assert_non_null(dev);
	/* whatever came in, the record serialises */
	char *dump = json_dumps(dev, JSON_COMPACT);
	assert_non_null(dump);
	free(dump);
	return dev;
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

#define SUP "1.3.6.1.2.1.43.11.1.1."

static void test_supply_special_values(void **state)
{
	(void)state;
	json_t *dev = norm(
		/* 1: level -1 */
		SUP "5.1.1|2|3\n" SUP "6.1.1|4|Black Toner\n" SUP "8.1.1|2|100\n" SUP "9.1.1|2|-1\n"
		/* 2: level -2 */
		SUP "8.1.2|2|100\n" SUP "9.1.2|2|-2\n"
		/* 3: level -3 */
		SUP "8.1.3|2|100\n" SUP "9.1.3|2|-3\n"
		/* 4: max -2, level 0 */
		SUP "8.1.4|2|-2\n" SUP "9.1.4|2|0\n"
		/* 5: level above max */
		SUP "8.1.5|2|100\n" SUP "9.1.5|2|150\n"
		/* 6..8: rounding half up */
		SUP "8.1.6|2|200\n" SUP "9.1.6|2|1\n" SUP "8.1.7|2|3\n" SUP "9.1.7|2|2\n" SUP "8.1.8|2|3\n" SUP
		    "9.1.8|2|1\n"
		/* 9: max -1 and a level */
		SUP "8.1.9|2|-1\n" SUP "9.1.9|2|5\n"
		/* 10: max 0 */
		SUP "8.1.10|2|0\n" SUP "9.1.10|2|0\n"
		/* 11: level -3 with max -2 (staples) */
		SUP "8.1.11|2|-2\n" SUP "9.1.11|2|-3\n"
		/* 12: a level below -3 */
		SUP "8.1.12|2|100\n" SUP "9.1.12|2|-4\n"
		/* 13: only a description */
		SUP "6.1.13|4|Fuser\n",
		NULL);
	json_t *list = json_object_get(dev, "supplies");
	assert_int_equal(json_array_size(list), 13);

	struct {
		const char *state;
		int pct; /* -1: none */
	} want[] = {
		{"other", -1},
		{"unknown", -1},
		{"some_remaining", -1},
		{NULL, -1},
		{NULL, 100},
		{NULL, 1},
		{NULL, 67},
		{NULL, 33},
		{NULL, -1},
		{NULL, -1},
		{"some_remaining", -1},
		{NULL, -1},
		{NULL, -1},
	};
	for (size_t i = 0; i < 13; i++) {
		json_t *s = json_array_get(list, i);
		const char *st = sget(s, "level_state");
		json_t *pct = json_object_get(s, "level_percent");
		if (!same_str(st, want[i].state) && (st || want[i].state))
			fail_msg("supply %zu: level_state %s, expected %s", i + 1, st ? st : "(none)",
				 want[i].state ? want[i].state : "(none)");
		if (want[i].pct < 0)
			assert_null(pct);
		else
			assert_int_equal(json_integer_value(pct), want[i].pct);
		assert_false(st && pct);
	}
	json_t *first = json_array_get(list, 0);
	assert_string_equal(sget(first, "kind"), "toner");
	assert_string_equal(sget(first, "description"), "Black Toner");
	assert_int_equal(json_integer_value(json_object_get(first, "level")), -1);
	assert_int_equal(json_integer_value(json_object_get(first, "max")), 100);
	json_t *fourth = json_array_get(list, 3);
	assert_int_equal(json_integer_value(json_object_get(fourth, "level")), 0);
	assert_int_equal(json_integer_value(json_object_get(fourth, "max")), -2);
	assert_string_equal(sget(json_array_get(list, 12), "description"), "Fuser");
	assert_null(json_object_get(json_array_get(list, 12), "level"));
	json_decref(dev);
}

static void test_supply_columns(void **state)
{
	(void)state;
	json_t *dev = norm(
		/* rows out of order, two marker devices, a sparse index */
		SUP "6.2.1|4|Other device\n" SUP "6.1.30|4|Waste\n" SUP "6.1.2|4|Cyan Toner\n" SUP "3.1.2|2|3\n" SUP
		    "5.1.2|2|21\n" SUP "7.1.2|2|19\n" SUP "8.1.2|2|100\n" SUP "9.1.2|2|45\n"
		    "1.3.6.1.2.1.43.12.1.1.4.1.3|4|cyan\n"
		/* a colorant index with no colorant row, and a type nobody named */
		SUP "3.1.30|2|9\n" SUP "5.1.30|2|99\n" SUP "7.1.30|2|99\n"
		/* a cell of a shape that is not a row */
		SUP "6.1|4|not a row\n",
		NULL);
	json_t *list = json_object_get(dev, "supplies");
	assert_int_equal(json_array_size(list), 3);
	json_t *cyan = json_array_get(list, 0), *waste = json_array_get(list, 1), *other = json_array_get(list, 2);
	assert_string_equal(sget(cyan, "description"), "Cyan Toner");
	assert_string_equal(sget(cyan, "kind"), "tonerCartridge");
	assert_string_equal(sget(cyan, "colorant"), "cyan");
	assert_string_equal(sget(cyan, "unit"), "percent");
	assert_int_equal(json_integer_value(json_object_get(cyan, "level_percent")), 45);
	assert_string_equal(sget(waste, "description"), "Waste");
	assert_null(json_object_get(waste, "kind"));
	assert_null(json_object_get(waste, "colorant"));
	assert_null(json_object_get(waste, "unit"));
	assert_string_equal(sget(other, "description"), "Other device");
	/* a cyan toner makes the device a colour one */
	assert_true(json_is_true(json_object_get(dev, "color")));
	json_decref(dev);
}

#define ERRSTATE "1.3.6.1.2.1.25.3.5.1.2.1"

static void assert_errors(const char *value, const char *const *want, size_t n)
{
	char rec[256];

	snprintf(rec, sizeof(rec), ERRSTATE "|%s\n", value);
	json_t *dev = norm(rec, NULL);
	json_t *errs = json_object_get(dev, "errors");
	if (!json_is_array(errs))
		fail_msg("%s: no errors array", value);
	if (json_array_size(errs) != n)
		fail_msg("%s: %zu errors, expected %zu", value, json_array_size(errs), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(errs, i)), want[i]);
	json_decref(dev);
}

static void test_error_bits(void **state)
{
	(void)state;

	assert_errors("4x|8000", (const char *const[]){"lowPaper"}, 1);
	assert_errors("4x|0100", (const char *const[]){"serviceRequested"}, 1);
	assert_errors("4x|2000", (const char *const[]){"lowToner"}, 1);
	assert_errors("4x|20", (const char *const[]){"lowToner"}, 1); /* one octet is enough */
	assert_errors("4x|0080", (const char *const[]){"inputTrayMissing"}, 1);
	assert_errors("4x|0002", (const char *const[]){"overduePreventMaint"}, 1);
	assert_errors("4x|c001", (const char *const[]){"lowPaper", "noPaper"}, 2); /* bit 15: none named */
	assert_errors("4x|0000", NULL, 0);
	assert_errors("4x|", NULL, 0); /* zero length: present, nothing set */
	assert_errors("4|", NULL, 0);
	assert_errors("4x|00000080", NULL, 0); /* bits past the table */
	assert_errors("4x|ffff",
		      (const char *const[]){"lowPaper", "noPaper", "lowToner", "noToner", "doorOpen", "jammed",
					    "offline", "serviceRequested", "inputTrayMissing", "outputTrayMissing",
					    "markerSupplyMissing", "outputNearFull", "outputFull", "inputTrayEmpty",
					    "overduePreventMaint"},
		      15);

	/* absent, or not an OCTET STRING: no errors field at all */
	json_t *dev = norm("1.3.6.1.2.1.1.5.0|4|x\n", NULL);
	assert_null(json_object_get(dev, "errors"));
	json_decref(dev);
	dev = norm(ERRSTATE "|2|128\n", NULL);
	assert_null(json_object_get(dev, "errors"));
	json_decref(dev);
}

static void test_status(void **state)
{
	(void)state;
	json_t *dev = norm("1.3.6.1.2.1.25.3.2.1.2.1|6|1.3.6.1.2.1.25.3.1.3\n"
			   "1.3.6.1.2.1.25.3.2.1.2.2|6|1.3.6.1.2.1.25.3.1.5\n"
			   "1.3.6.1.2.1.25.3.2.1.3.2|4|Brother HL-5370DW series\n"
			   "1.3.6.1.2.1.25.3.2.1.5.1|2|5\n"
			   "1.3.6.1.2.1.25.3.2.1.5.2|2|3\n"
			   "1.3.6.1.2.1.25.3.5.1.1.1|2|4\n",
			   NULL);
	json_t *st = json_object_get(dev, "status");
	/* the printer's row (2), not the first row */
	assert_string_equal(sget(st, "device"), "warning");
	assert_string_equal(sget(st, "printer"), "printing");
	/* the model comes from the printer row's description */
	assert_string_equal(sget(dev, "manufacturer"), "Brother");
	assert_string_equal(sget(dev, "model"), "HL-5370DW");
	json_decref(dev);

	/* values outside the enumerations are left out */
	dev = norm("1.3.6.1.2.1.25.3.2.1.2.1|6|1.3.6.1.2.1.25.3.1.5\n"
		   "1.3.6.1.2.1.25.3.2.1.5.1|2|9\n"
		   "1.3.6.1.2.1.25.3.5.1.1.1|2|0\n",
		   NULL);
	assert_null(json_object_get(dev, "status"));
	json_decref(dev);
}

/* ---- MAC --------------------------------------------------------------- */

#define IPAD "1.3.6.1.2.1.4.20.1.2."
#define IFTYPE "1.3.6.1.2.1.2.2.1.3."
#define IFPHYS "1.3.6.1.2.1.2.2.1.6."
#define IFOPER "1.3.6.1.2.1.2.2.1.8."

static void assert_mac(const char *rec, const char *ip, const char *want)
{
	json_t *dev = norm(rec, ip);
	const char *got = sget(dev, "mac");

	if (!same_str(got, want) && (got || want))
		fail_msg("mac %s, expected %s, for:\n%s", got ? got : "(absent)", want ? want : "(absent)", rec);
	json_decref(dev);
}

static void test_mac(void **state)
{
	(void)state;

	/* the interface with the device's address; the loopback is skipped */
	static const char two[] =
		IPAD "10.0.0.5|2|2\n" IPAD "127.0.0.1|2|1\n" IFTYPE "1|2|24\n" IFTYPE "2|2|6\n" IFPHYS
		     "1|4x|000000000000\n" IFPHYS "2|4x|0011223344AA\n" IFOPER "1|2|1\n" IFOPER "2|2|1\n";
	assert_mac(two, "10.0.0.5", "00:11:22:33:44:aa");
	assert_mac(two, NULL, "00:11:22:33:44:aa");
	assert_mac(two, "10.0.0.9", "00:11:22:33:44:aa");

	/* a loopback interface that carries a normal address is still skipped */
	assert_mac(IPAD "10.0.0.5|2|1\n" IFTYPE "1|2|24\n" IFPHYS "1|4x|0011223344aa\n", "10.0.0.5", NULL);

	/* the device's own address decides between two interfaces */
	static const char dual[] = IPAD "10.0.0.5|2|2\n" IPAD "10.1.0.5|2|3\n" IFPHYS "2|4x|001122334402\n" IFPHYS
					"3|4x|001122334403\n" IFOPER "2|2|1\n" IFOPER "3|2|1\n";
	assert_mac(dual, "10.1.0.5", "00:11:22:33:44:03");
	assert_mac(dual, "10.0.0.5", "00:11:22:33:44:02");
	assert_mac(dual, "192.0.2.1", NULL); /* ambiguous */
	assert_mac(dual, NULL, NULL);

	/* the interface with the address is down: no MAC */
	assert_mac(IPAD "10.0.0.5|2|2\n" IFPHYS "1|4x|001122334401\n" IFPHYS "2|4x|001122334402\n" IFOPER
			"1|2|1\n" IFOPER "2|2|2\n",
		   "10.0.0.5", NULL);
	/* ... and of two addressed interfaces the one that is up */
	assert_mac(IPAD "10.0.0.5|2|2\n" IPAD "10.0.0.6|2|3\n" IFPHYS "2|4x|001122334402\n" IFPHYS
			"3|4x|001122334403\n" IFOPER "2|2|2\n" IFOPER "3|2|1\n",
		   NULL, "00:11:22:33:44:03");

	/* without ipAddrTable: the only up interface with a non-zero MAC */
	assert_mac(IFPHYS "1|4x|001122334401\n" IFPHYS "2|4x|001122334402\n" IFOPER "1|2|1\n" IFOPER "2|2|2\n",
		   "10.0.0.5", "00:11:22:33:44:01");
	assert_mac(IFPHYS "1|4x|001122334401\n" IFPHYS "2|4x|001122334402\n" IFOPER "1|2|1\n" IFOPER "2|2|1\n",
		   "10.0.0.5", NULL); /* ambiguous */
	assert_mac(IFPHYS "1|4x|001122334401\n" IFPHYS "2|4x|001122334401\n" IFOPER "1|2|1\n" IFOPER "2|2|1\n",
		   "10.0.0.5", "00:11:22:33:44:01"); /* the same MAC twice is one */
	assert_mac(IFPHYS "1|4x|000000000000\n" IFPHYS "2|4x|001122334402\n" IFOPER "1|2|1\n" IFOPER "2|2|1\n", NULL,
		   "00:11:22:33:44:02");
	assert_mac(IFPHYS "1|4x|001122334401\n" IFOPER "1|2|7\n", NULL, NULL); /* lowerLayerDown */
	assert_mac(IFPHYS "1|4x|001122334401\n", NULL, "00:11:22:33:44:01");   /* state unknown */
	assert_mac(IFPHYS "1|4x|001122334401\n" IFTYPE "1|2|24\n", NULL, NULL);

	/* all-zero, or not six bytes: never */
	assert_mac(IPAD "10.0.0.5|2|1\n" IFPHYS "1|4x|000000000000\n" IFOPER "1|2|1\n", "10.0.0.5", NULL);
	assert_mac(IFPHYS "1|4x|000000000000\n", NULL, NULL);
	assert_mac(IFPHYS "1|4x|0011223344\n", NULL, NULL);
	assert_mac(IFPHYS "1|4x|00112233445566\n", NULL, NULL);
	assert_mac(IFPHYS "1|4|\n", NULL, NULL);
	assert_mac(IFPHYS "1|2|5\n", NULL, NULL);
	/* an address row of another shape, or an ifIndex of 0 */
	assert_mac(IPAD "10.0.0|2|1\n" IPAD "10.0.0.5|2|0\n" IFPHYS "1|4x|001122334401\n", "10.0.0.5", NULL);
}

/* ---- text and absurd values ------------------------------------------------ */

static bool valid_utf8(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = *p < 0x80             ? 0
			: (*p & 0xE0) == 0xC0 ? 1
			: (*p & 0xF0) == 0xE0 ? 2
			: (*p & 0xF8) == 0xF0 ? 3
					      : -1;
		if (n < 0)
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xC0) != 0x80)
				return false;
	}
	return true;
}

static void test_not_utf8(void **state)
{
	(void)state;
	json_t *dev = norm("1.3.6.1.2.1.1.1.0|4x|4361666520e920ff00\n" /* "Cafe \xe9 \xff" + NUL */
			   "1.3.6.1.2.1.1.5.0|4x|7072696e746572c3\n"   /* a cut UTF-8 sequence */
			   "1.3.6.1.2.1.1.6.0|4x|4bf8626e6861766e\n"   /* Latin-1 */
			   "1.3.6.1.2.1.43.7.1.1.4.1.1|2|106\n"        /* says UTF-8, is not */
			   SUP "6.1.1|4x|546f6e6572ff09fe\n"
			   "1.3.6.1.2.1.43.16.5.1.2.1.1|4x|52656164791b5b306d\n"
			   "1.3.6.1.2.1.43.18.1.1.7.1.1|2|1101\n"
			   "1.3.6.1.2.1.43.18.1.1.8.1.1|4x|546f6e657220656d707479c0\n",
			   "10.0.0.1");
	assert_string_equal(sget(dev, "description"), "Cafe \xc3\xa9 \xc3\xbf");
	assert_string_equal(sget(dev, "name"), "printer\xc3\x83");
	assert_string_equal(sget(dev, "location"), "K\xc3\xb8"
						   "bnhavn");
	const char *d = sget(json_array_get(json_object_get(dev, "supplies"), 0), "description");
	assert_non_null(d);
	assert_true(valid_utf8(d));
	assert_int_equal(strncmp(d, "Toner", 5), 0);
	assert_null(strchr(d, '\t'));
	const char *disp = sget(dev, "display");
	assert_non_null(disp);
	assert_true(valid_utf8(disp));
	assert_null(strchr(disp, 0x1b));
	json_t *alert = json_array_get(json_object_get(dev, "alerts"), 0);
	assert_string_equal(sget(alert, "code"), "markerTonerEmpty");
	assert_non_null(sget(alert, "text"));
	assert_true(valid_utf8(sget(alert, "text")));
	json_decref(dev);
}

static void test_long_display(void **state)
{
	/* console lines longer than the display buffer, in two-byte characters
	 * placed so that the cut falls inside one */
	size_t cap = 8192;
	char *rec = malloc(cap);
	size_t k = (size_t)snprintf(rec, cap, "1.3.6.1.2.1.43.16.5.1.2.1.1|4|x\n1.3.6.1.2.1.43.16.5.1.2.1.2|4x|");
	for (int i = 0; i < 1100; i++)
		k += (size_t)snprintf(rec + k, cap - k, "c3a9");
	snprintf(rec + k, cap - k, "\n");
	(void)state;

	json_t *dev = norm(rec, NULL);
	const char *disp = sget(dev, "display");
	if (!disp)
		fail_msg("display dropped");
	assert_true(valid_utf8(disp));
	assert_string_equal(disp, "x"); /* the line that does not fit is left out whole */
	json_decref(dev);
	free(rec);
}

static void test_absurd_values(void **state)
{
	(void)state;
	char oid128[128 * 11 + 64];
	size_t k = (size_t)snprintf(oid128, sizeof(oid128), "1.3.6.1.2.1.1.2.0|6|1.3");
	for (int i = 2; i < 128; i++)
		k += (size_t)snprintf(oid128 + k, sizeof(oid128) - k, ".4294967295");
	snprintf(oid128 + k, sizeof(oid128) - k, "\n");

	json_t *dev = norm(oid128, NULL);
	const char *so = sget(dev, "sysobjectid");
	assert_non_null(so);
	assert_int_equal(strlen(so), 3 + 126 * 11);
	json_decref(dev);

	/* counters at their limits */
	dev = norm("1.3.6.1.2.1.43.10.2.1.4.1.1|70|18446744073709551615\n", NULL);
	assert_true(json_integer_value(json_object_get(json_object_get(dev, "meters"), "total")) == INT64_MAX);
	json_decref(dev);
	dev = norm("1.3.6.1.2.1.43.10.2.1.4.1.1|65|4294967295\n1.3.6.1.2.1.43.10.2.1.3.1.1|2|8\n", NULL);
	json_t *m = json_object_get(dev, "meters");
	assert_int_equal(json_integer_value(json_object_get(m, "total")), 4294967295LL);
	assert_string_equal(sget(m, "unit"), "sheets");
	json_decref(dev);
	dev = norm("1.3.6.1.2.1.43.10.2.1.4.1.1|2|-5\n", NULL); /* a negative count is no count */
	assert_null(json_object_get(dev, "meters"));
	json_decref(dev);

	/* supplies with absurd numbers */
	dev = norm(SUP "8.1.1|2|-5\n" SUP "9.1.1|2|10\n" SUP "8.1.2|2|100\n" SUP "9.1.2|2|9223372036854775807\n" SUP
		       "8.1.3|2|9223372036854775807\n" SUP "9.1.3|2|4611686018427387904\n" SUP "8.1.4|2|1\n" SUP
		       "9.1.4|2|-9223372036854775808\n" SUP "8.1.5|2|2147483647\n" SUP "9.1.5|2|2147483647\n" SUP
		       "3.1.6|2|-7\n" SUP "5.1.6|2|-1\n" SUP "7.1.6|2|2147483647\n" SUP "8.1.6|65|100\n" SUP
		       "9.1.6|4|50\n" SUP "3.4294967295.4294967295|2|4294967295\n",
		   NULL);
	json_t *list = json_object_get(dev, "supplies");
	assert_int_equal(json_array_size(list), 7);
	json_t *s1 = json_array_get(list, 0);
	assert_null(json_object_get(s1, "level_percent"));
	assert_null(json_object_get(s1, "level_state"));
	assert_int_equal(json_integer_value(json_object_get(s1, "max")), -5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "level_percent")), 100);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 2), "level_percent")), 50);
	assert_null(json_object_get(json_array_get(list, 3), "level_percent"));
	assert_null(json_object_get(json_array_get(list, 3), "level_state"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 4), "level_percent")), 100);
	/* values of the wrong type are not read as numbers */
	json_t *s6 = json_array_get(list, 5);
	assert_null(json_object_get(s6, "level"));
	assert_null(json_object_get(s6, "max"));
	assert_null(json_object_get(s6, "kind"));
	assert_null(json_object_get(s6, "unit"));
	json_decref(dev);

	/* a huge number of alerts is capped */
	char *rec = malloc(200 * 64);
	k = 0;
	for (int i = 1; i <= 200; i++)
		k += (size_t)sprintf(rec + k, "1.3.6.1.2.1.43.18.1.1.7.1.%d|2|%d\n", i, i % 3 ? 8 : 77777);
	dev = norm(rec, NULL);
	json_t *alerts = json_object_get(dev, "alerts");
	assert_int_equal(json_array_size(alerts), 64);
	assert_string_equal(sget(json_array_get(alerts, 0), "code"), "jam");
	assert_string_equal(sget(json_array_get(alerts, 2), "code"), "77777");
	json_decref(dev);
	free(rec);

	/* an empty walk is an empty record (with the address) */
	dev = norm("", "192.0.2.7");
	assert_int_equal(json_object_size(dev), 1);
	assert_string_equal(sget(dev, "ip"), "192.0.2.7");
	json_decref(dev);
}

/* ---- vendors from sysDescr alone ---------------------------------------- */

static void test_sysdescr_only(void **state)
{
	static const struct {
		const char *descr, *manufacturer;
	} cases[] = {
		{"Brother NC-8300h, Firmware Ver.1.01  (10.07.14),MID 84UB06,FID 2", "Brother"},
		{"Canon iR-ADV C5235 /P", "Canon"},
		{"Dell Color Laser 1320c", "Dell"},
		{"EPSON Built-in", "Epson"},
		{"FUJIFILM Apeos C7580", "Fujifilm"},
		{"FUJI XEROX DocuPrint CM305 df", "Fuji Xerox"},
		{"HP ETHERNET MULTI-ENVIRONMENT,SN:CNB1234567,FN:xx,PID:HP Color LaserJet Pro M252dw", "HP"},
		{"Hewlett-Packard LaserJet 4250", "HP"},
		{"KONICA MINOLTA bizhub C3110", "Konica Minolta"},
		{"Develop ineo+ 280", "Develop"},
		{"KYOCERA Document Solutions Printing System", "Kyocera"},
		{"Lexmark MS810 version LW41.PR2.P117 kernel 2.6.28.10.1", "Lexmark"},
		{"OKI OkiLAN 8450e", "OKI"},
		{"RICOH Aficio MP C2500 1.01 / RICOH Network Printer C model", "Ricoh"},
		{"Gestetner MP C2500 1.01", "Gestetner"},
		{"SAVIN C9025", "Savin"},
		{"Samsung M408x Series; V4.00.01.31 OCT-20-2016;Engine V1.00.06;NIC V6.01.00;S/N ", "Samsung"},
		{"SHARP MX-3570N", "Sharp"},
		{"TOSHIBA e-STUDIO2505AC", "Toshiba"},
		{"Xerox AltaLink C8045; SS 100.002.008.05702", "Xerox"},
		{"ZebraNet PrintServer", "Zebra"},
	};
	static const char *const others[] = {"Linux router 5.10.0",
					     "HP J9019B Switch 2510B-24",
					     "Cisco IOS Software",
					     "Dell PowerEdge R640",
					     "Hardware: x86 Family 6 - Software: Windows",
					     ""};
	(void)state;

	bool covered[64] = {false};
	assert_true(snmp_vendors_count <= 64);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rec[512];
		const struct snmp_vendor *v = NULL;
		struct snmp_walk w;
		snprintf(rec, sizeof(rec), "1.3.6.1.2.1.1.1.0|4|%s\n", cases[i].descr);
		walk_from_snmprec(&w, rec);
		json_t *dev = snmp_normalise(&w, "10.0.0.1", &v);
		const char *got = sget(dev, "manufacturer");
		if (!same_str(got, cases[i].manufacturer))
			fail_msg("'%s': manufacturer %s, expected %s", cases[i].descr, got ? got : "(absent)",
				 cases[i].manufacturer);
		assert_non_null(v);
		for (unsigned k = 0; k < snmp_vendors_count; k++)
			covered[k] |= snmp_vendors[k] == v;
		char *want = trimmed(cases[i].descr);
		assert_string_equal(sget(dev, "description"), want);
		free(want);
		assert_true(snmp_is_printer(NULL, 0, cases[i].descr, false, false));
		json_decref(dev);
		snmp_walk_free(&w);
	}
	/* every vendor with a sysDescr pattern has a case above */
	for (unsigned k = 0; k < snmp_vendors_count; k++)
		if (snmp_vendors[k]->descr_re && !covered[k])
			fail_msg("no sysDescr case for %s", snmp_vendors[k]->name);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char rec[512];
		const struct snmp_vendor *v = (const struct snmp_vendor *)1;
		struct snmp_walk w;
		snprintf(rec, sizeof(rec), "1.3.6.1.2.1.1.1.0|4|%s\n", others[i]);
		walk_from_snmprec(&w, rec);
		json_t *dev = snmp_normalise(&w, NULL, &v);
		assert_null(v);
		assert_null(json_object_get(dev, "manufacturer"));
		assert_false(snmp_is_printer(NULL, 0, others[i], false, false));
		json_decref(dev);
		snmp_walk_free(&w);
	}

	/* what the HP print server's sysDescr carries */
	json_t *dev = norm("1.3.6.1.2.1.1.1.0|4|HP ETHERNET MULTI-ENVIRONMENT,SN:CNB1234567,FN:xx,"
			   "PID:HP Color LaserJet Pro M252dw\n",
			   NULL);
	assert_string_equal(sget(dev, "serial"), "CNB1234567");
	assert_string_equal(sget(dev, "model"), "Color LaserJet Pro M252dw");
	json_decref(dev);

	/* the Printer-MIB or a printer row says printer whatever the text */
	assert_true(snmp_is_printer(NULL, 0, "Linux", true, false));
	assert_true(snmp_is_printer(NULL, 0, NULL, false, true));
	assert_false(snmp_is_printer(NULL, 0, NULL, false, false));
	/* an HP sysObjectID of a JetDirect, and one of a switch */
	struct snmp_oid jd, sw;
	assert_int_equal(snmp_oid_parse("1.3.6.1.4.1.11.2.3.9.1", &jd), 0);
	assert_int_equal(snmp_oid_parse("1.3.6.1.4.1.11.2.3.7.11.33", &sw), 0);
	assert_true(snmp_is_printer(jd.arc, jd.n, "anything", false, false));
	assert_false(snmp_is_printer(sw.arc, sw.n, "HP J9019B Switch 2510B-24", false, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recordings),     cmocka_unit_test(test_supply_special_values),
		cmocka_unit_test(test_supply_columns), cmocka_unit_test(test_error_bits),
		cmocka_unit_test(test_status),         cmocka_unit_test(test_mac),
		cmocka_unit_test(test_not_utf8),       cmocka_unit_test(test_long_display),
		cmocka_unit_test(test_absurd_values),  cmocka_unit_test(test_sysdescr_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
