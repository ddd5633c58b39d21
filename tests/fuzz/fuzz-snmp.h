/* What the snmp fuzz targets share: the checks on a device record made by
 * snmp_normalise(), whatever the walk it was made from.
 *
 * The targets link with -Wl,--wrap=json_string (tests/fuzz/meson.build), so
 * every json_string() of the normaliser and the vendor decoders comes here
 * first: jansson answers NULL for text that is not UTF-8, and
 * json_object_set_new() then drops the field without a word, so a NULL
 * here is a bug even though no crash would ever show it. */
#pragma once

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

json_t *__real_json_string(const char *value);
json_t *__wrap_json_string(const char *value);

json_t *__wrap_json_string(const char *value)
{
	json_t *s;

	CHECK(value); /* a missing text must be skipped, not passed on */
	s = __real_json_string(value);
	CHECK(s); /* NULL: value is not UTF-8 */
	return s;
}

/* hrPrinterDetectedErrorState bit names (RFC 3805 / HOST-RESOURCES-MIB) */
static const char *const fuzz_snmp_error_names[] = {
	"lowPaper",
	"noPaper",
	"lowToner",
	"noToner",
	"doorOpen",
	"jammed",
	"offline",
	"serviceRequested",
	"inputTrayMissing",
	"outputTrayMissing",
	"markerSupplyMissing",
	"outputNearFull",
	"outputFull",
	"inputTrayEmpty",
	"overduePreventMaint",
};

static bool fuzz_snmp_known_error(const char *s)
{
	for (size_t i = 0; i < sizeof(fuzz_snmp_error_names) / sizeof(fuzz_snmp_error_names[0]); i++)
		if (strcmp(s, fuzz_snmp_error_names[i]) == 0)
			return true;
	return false;
}

/* No JSON null anywhere, and no string that is not what jansson accepts. */
static void fuzz_snmp_check_values(json_t *j, int depth)
{
	const char *key;
	json_t *v;
	size_t i;

	CHECK(j && depth < 8);
	CHECK(!json_is_null(j));
	if (json_is_object(j)) {
		json_object_foreach (j, key, v)
			fuzz_snmp_check_values(v, depth + 1);
	} else if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			fuzz_snmp_check_values(v, depth + 1);
	} else if (json_is_string(j)) {
		CHECK(strlen(json_string_value(j)) == json_string_length(j));
	}
}

static bool fuzz_snmp_is_mac(const char *s)
{
	static regex_t re;
	static bool compiled;

	if (!compiled) {
		CHECK(regcomp(&re, "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", REG_EXTENDED | REG_NOSUB) == 0);
		compiled = true;
	}
	return regexec(&re, s, 0, NULL, 0) == 0 && strcmp(s, "00:00:00:00:00:00") != 0;
}

static void fuzz_snmp_check_supply(json_t *s)
{
	json_t *pct = json_object_get(s, "level_percent"), *state = json_object_get(s, "level_state");

	CHECK(json_is_object(s));
	if (pct) {
		CHECK(json_is_integer(pct));
		CHECK(json_integer_value(pct) >= 0 && json_integer_value(pct) <= 100);
		CHECK(!state); /* a percentage or a state, never both */
	}
	if (state) {
		const char *v = json_string_value(state);
		CHECK(v);
		CHECK(strcmp(v, "some_remaining") == 0 || strcmp(v, "unknown") == 0 || strcmp(v, "other") == 0);
	}
	/* RFC 3805's special levels never become a percentage */
	json_t *level = json_object_get(s, "level");
	if (level) {
		CHECK(json_is_integer(level));
		if (json_integer_value(level) < 0)
			CHECK(!pct);
	}
	static const char *const strings[] = {"description", "kind", "colorant", "unit"};
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		json_t *v = json_object_get(s, strings[i]);
		CHECK(!v || json_is_string(v));
	}
}

/* The record of snmp_normalise(w, ip, ...). */
static void fuzz_snmp_check_record(json_t *dev, const char *ip)
{
	static const char *const strings[] = {"ip",    "description", "sysobjectid", "manufacturer",
					      "model", "serial",      "firmware",    "location",
					      "name",  "asset",       "display",     "mac"};
	json_t *v, *x;
	size_t i;

	CHECK(json_is_object(dev));
	fuzz_snmp_check_values(dev, 0);
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		v = json_object_get(dev, strings[i]);
		CHECK(!v || json_is_string(v));
	}
	v = json_object_get(dev, "ip");
	CHECK(ip ? v && strcmp(json_string_value(v), ip) == 0 : !v);

	/* it must serialise, and read back as the same object */
	char *text = json_dumps(dev, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK(text);
	json_error_t err;
	json_t *back = json_loads(text, 0, &err);
	CHECK(back && json_is_object(back));
	CHECK(json_equal(back, dev));
	json_decref(back);
	free(text);

	v = json_object_get(dev, "supplies");
	if (v) {
		CHECK(json_is_array(v));
		json_array_foreach (v, i, x)
			fuzz_snmp_check_supply(x);
	}
	v = json_object_get(dev, "errors");
	if (v) {
		CHECK(json_is_array(v));
		json_array_foreach (v, i, x) {
			CHECK(json_is_string(x));
			CHECK(fuzz_snmp_known_error(json_string_value(x)));
		}
	}
	v = json_object_get(dev, "mac");
	if (v)
		CHECK(fuzz_snmp_is_mac(json_string_value(v)));
	v = json_object_get(dev, "color");
	CHECK(!v || json_is_boolean(v));
	v = json_object_get(dev, "alerts");
	if (v) {
		CHECK(json_is_array(v) && json_array_size(v) <= 64);
		json_array_foreach (v, i, x)
			CHECK(json_is_object(x) && json_is_string(json_object_get(x, "code")));
	}
	v = json_object_get(dev, "meters");
	if (v) {
		const char *key;
		CHECK(json_is_object(v) && json_object_size(v));
		json_object_foreach (v, key, x) {
			if (strcmp(key, "unit") == 0)
				CHECK(json_is_string(x));
			else /* page counts */
				CHECK(json_is_integer(x) && json_integer_value(x) >= 0);
		}
	}
	v = json_object_get(dev, "status");
	if (v)
		CHECK(json_is_object(v) && json_object_size(v));
}
