/* libFuzzer target for the snmprec loader and the normaliser: arbitrary
 * bytes as snmprec text ("OID|TAG|VALUE" lines, the format of the shared
 * printer recordings), loaded into a walk and turned into a device record.
 *
 * The walk must hold only what parsed (sorted, one entry per OID, OIDs of
 * 2 to 128 arcs, a known type). The record must serialise and read back as
 * the same object (every string UTF-8, fuzz-snmp.h) and keep RFC 3805's
 * rules: a supply's level_percent is 0..100 and never comes with a
 * level_state, errors are hrPrinterDetectedErrorState names, a mac is
 * aa:bb:cc:dd:ee:ff and not all zeros. */
#include <errno.h>
#include <string.h>

#include "fuzz-snmp.h"
#include "fuzz.h"
#include "modules/snmp/mib.h"
#include "modules/snmp/normalise.h"
#include "modules/snmp/text.h"
#include "modules/snmp/walk.h"

static bool known_type(uint8_t t)
{
	switch (t) {
	case SNMP_INTEGER:
	case SNMP_OCTETS:
	case SNMP_NULL:
	case SNMP_OBJECT_ID:
	case SNMP_IPADDRESS:
	case SNMP_COUNTER32:
	case SNMP_GAUGE32:
	case SNMP_TIMETICKS:
	case SNMP_OPAQUE:
	case SNMP_COUNTER64:
		return true;
	}
	return false;
}

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n + (size && data[size - 1] != '\n');
}

static void check_walk(const struct snmp_walk *w, size_t lines, size_t bad)
{
	CHECK(w->sorted);
	CHECK(w->n + bad <= lines);
	for (size_t k = 0; k < w->n; k++) {
		const struct snmp_val *v = &w->v[k];
		CHECK(v->oid && v->oid_len >= 2 && v->oid_len <= SNMP_MAX_OID);
		CHECK(known_type(v->type));
		CHECK(k == 0 || snmp_oid_cmp(w->v[k - 1].oid, w->v[k - 1].oid_len, v->oid, v->oid_len) < 0);
		if (v->type == SNMP_IPADDRESS)
			CHECK(v->data && v->len == 4);
		if (v->type == SNMP_OCTETS)
			CHECK(v->data || !v->len);
		if (v->type == SNMP_OBJECT_ID)
			CHECK(v->val_oid && v->val_oid_len >= 2 && v->val_oid_len <= SNMP_MAX_OID);
		CHECK(snmp_walk_get(w, v->oid, v->oid_len) == v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ips[] = {NULL, "192.0.2.10", "10.0.0.1"};
	const struct snmp_vendor *vendor = NULL;
	struct snmp_walk w;
	size_t bad = 0;

	snmp_walk_init(&w);
	CHECK(snmp_walk_load_snmprec(&w, (const char *)data, size, &bad) == 0);
	check_walk(&w, count_lines(data, size), bad);

	const char *ip = ips[size % 3];
	json_t *dev = snmp_normalise(&w, ip, &vendor);
	fuzz_snmp_check_record(dev, ip);
	if (vendor)
		CHECK(json_is_string(json_object_get(dev, "manufacturer")));

	/* the probe's question, with what the walk holds */
	const struct snmp_val *oid = snmp_walk_get_str(&w, SYS_OBJECT_ID), *d = snmp_walk_get_str(&w, SYS_DESCR);
	char *descr = d && d->type == SNMP_OCTETS ? snmp_text(d->data, d->len, SNMP_CHARSET_UNKNOWN) : NULL;
	bool printer_mib = false;
	size_t first, end;
	struct snmp_oid prt;
	CHECK(snmp_oid_parse(PRT_MIB, &prt) == 0);
	snmp_walk_range(&w, &prt, &first, &end);
	printer_mib = first < end;
	if (oid && oid->type == SNMP_OBJECT_ID)
		(void)snmp_is_printer(oid->val_oid, oid->val_oid_len, descr, printer_mib, false);
	else
		(void)snmp_is_printer(NULL, 0, descr, printer_mib, false);
	free(descr);

	json_decref(dev);
	snmp_walk_free(&w);
	return 0;
}
