/* The vendor list, matching a device to its vendor, and resolving value
 * sources (OID, sysDescr, regex, PJL key) against a walk. */
#include "../vendors.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "../text.h"

extern const struct snmp_vendor snmp_vendor_brother, snmp_vendor_canon, snmp_vendor_dell, snmp_vendor_epson,
	snmp_vendor_fujifilm, snmp_vendor_hp, snmp_vendor_konica, snmp_vendor_kyocera, snmp_vendor_lexmark,
	snmp_vendor_oki, snmp_vendor_ricoh, snmp_vendor_samsung, snmp_vendor_sharp, snmp_vendor_toshiba,
	snmp_vendor_xerox, snmp_vendor_zebra;

const struct snmp_vendor *const snmp_vendors[] = {
	&snmp_vendor_brother,  &snmp_vendor_canon,   &snmp_vendor_dell,   &snmp_vendor_epson,
	&snmp_vendor_fujifilm, &snmp_vendor_hp,      &snmp_vendor_konica, &snmp_vendor_kyocera,
	&snmp_vendor_lexmark,  &snmp_vendor_oki,     &snmp_vendor_ricoh,  &snmp_vendor_samsung,
	&snmp_vendor_sharp,    &snmp_vendor_toshiba, &snmp_vendor_xerox,  &snmp_vendor_zebra,
};
const unsigned snmp_vendors_count = sizeof(snmp_vendors) / sizeof(snmp_vendors[0]);

/* Compiled regexes, keyed by the pattern's address (all are literals). */
static struct {
	const char *re;
	regex_t rx;
	bool ok;
} cache[256];
static unsigned ncache;

static const regex_t *rx(const char *re)
{
	for (unsigned i = 0; i < ncache; i++)
		if (cache[i].re == re)
			return cache[i].ok ? &cache[i].rx : NULL;
	if (ncache == sizeof(cache) / sizeof(cache[0]))
		return NULL;
	cache[ncache].re = re;
	cache[ncache].ok = regcomp(&cache[ncache].rx, re, REG_EXTENDED | REG_ICASE) == 0;
	return cache[ncache].ok ? &cache[ncache++].rx : (ncache++, NULL);
}

static bool prefix_match(const uint32_t *oid, uint32_t len, const char *prefix)
{
	struct snmp_oid p;
	return snmp_oid_parse(prefix, &p) == 0 && snmp_oid_has_prefix(oid, len, &p);
}

static bool any_prefix(const char *const *list, const uint32_t *oid, uint32_t len)
{
	for (; oid && list && *list; list++)
		if (prefix_match(oid, len, *list))
			return true;
	return false;
}

const struct snmp_vendor *snmp_vendor_match(const uint32_t *oid, uint32_t len, const char *descr)
{
	for (unsigned i = 0; i < snmp_vendors_count; i++)
		if (any_prefix(snmp_vendors[i]->enterprise, oid, len))
			return snmp_vendors[i];
	for (unsigned i = 0; descr && i < snmp_vendors_count; i++) {
		const regex_t *r = snmp_vendors[i]->descr_re ? rx(snmp_vendors[i]->descr_re) : NULL;
		if (r && regexec(r, descr, 0, NULL, 0) == 0)
			return snmp_vendors[i];
	}
	return NULL;
}

const struct snmp_vendor *snmp_vendor_identify(const struct snmp_walk *w)
{
	const struct snmp_val *oid = snmp_walk_get_str(w, "1.3.6.1.2.1.1.2.0");
	const struct snmp_val *d = snmp_walk_get_str(w, "1.3.6.1.2.1.1.1.0");
	char *descr = d && d->type == SNMP_OCTETS ? snmp_text(d->data, d->len, SNMP_CHARSET_UNKNOWN) : NULL;
	const struct snmp_vendor *v =
		snmp_vendor_match(oid && oid->type == SNMP_OBJECT_ID ? oid->val_oid : NULL,
				  oid && oid->type == SNMP_OBJECT_ID ? oid->val_oid_len : 0, descr);

	free(descr);
	for (unsigned i = 0; !v && i < snmp_vendors_count; i++)
		for (const char *const *o = snmp_vendors[i]->identity_oids; o && *o && !v; o++)
			if (snmp_walk_get_str(w, *o))
				v = snmp_vendors[i];
	return v;
}

void snmp_vendor_identity_oids(void (*fn)(const char *oid, void *arg), void *arg)
{
	for (unsigned i = 0; i < snmp_vendors_count; i++)
		for (const char *const *o = snmp_vendors[i]->identity_oids; o && *o; o++)
			fn(*o, arg);
}

bool snmp_re_match(const char *re, const char *text)
{
	const regex_t *r = rx(re);
	return r && text && regexec(r, text, 0, NULL, 0) == 0;
}

bool snmp_vendor_printer_oid(const struct snmp_vendor *v, const uint32_t *oid, uint32_t len)
{
	return v && any_prefix(v->printer_oids, oid, len);
}

static void each_source(const struct snmp_source *list, void (*fn)(const char *, void *), void *arg)
{
	for (int i = 0; i < SNMP_SOURCES; i++)
		if (list[i].oid)
			fn(list[i].oid, arg);
}

void snmp_vendor_oids(const struct snmp_vendor *v, void (*fn)(const char *oid, void *arg), void *arg)
{
	if (!v)
		return;
	each_source(v->model, fn, arg);
	each_source(v->serial, fn, arg);
	each_source(v->firmware, fn, arg);
	each_source(v->mac, fn, arg);
	each_source(v->meter_total, fn, arg);
	each_source(v->meter_mono, fn, arg);
	each_source(v->meter_color, fn, arg);
	for (const char *const *o = v->extra_oids; o && *o; o++)
		fn(*o, arg);
}

/* The value of "KEY:value;" in an IEEE 1284 device id. */
static char *pjl_field(const char *id, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = id; p && *p; p = strchr(p, ';'), p = p ? p + 1 : NULL) {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1, *e = strchr(v, ';');
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	}
	return NULL;
}

char *snmp_source_text(const struct snmp_source *s, const struct snmp_walk *w, const char *descr)
{
	char *text = NULL, *out = NULL;

	if (s->oid) {
		const struct snmp_val *v = snmp_walk_get_str(w, s->oid);
		if (!v || v->type != SNMP_OCTETS)
			return NULL;
		text = snmp_text(v->data, v->len, SNMP_CHARSET_UNKNOWN);
	} else if (descr) {
		text = strdup(descr);
	}
	if (!text)
		return NULL;
	if (s->pjl_key) {
		out = pjl_field(text, s->pjl_key);
		free(text);
		text = out;
		out = NULL;
		if (!text)
			return NULL;
	}
	if (s->re) {
		const regex_t *r = rx(s->re);
		regmatch_t m[2];
		if (r && regexec(r, text, 2, m, 0) == 0 && m[1].rm_so >= 0)
			out = strndup(text + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
		free(text);
		text = out;
	}
	if (text && !*snmp_trim(text)) {
		free(text);
		return NULL;
	}
	return text;
}

char *snmp_sources_text(const struct snmp_source *list, const struct snmp_walk *w, const char *descr)
{
	for (int i = 0; i < SNMP_SOURCES && (list[i].oid || list[i].re || list[i].pjl_key); i++) {
		char *t = snmp_source_text(&list[i], w, descr);
		if (t)
			return t;
	}
	return NULL;
}

bool snmp_sources_uint(const struct snmp_source *list, const struct snmp_walk *w, uint64_t *ret)
{
	for (int i = 0; i < SNMP_SOURCES && list[i].oid; i++) {
		const struct snmp_val *v = snmp_walk_get_str(w, list[i].oid);
		if (!v)
			continue;
		if (v->type == SNMP_COUNTER32 || v->type == SNMP_GAUGE32 || v->type == SNMP_COUNTER64) {
			*ret = v->u;
			return true;
		}
		if (v->type == SNMP_INTEGER && v->i >= 0) {
			*ret = (uint64_t)v->i;
			return true;
		}
	}
	return false;
}
