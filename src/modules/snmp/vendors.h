/* Vendor knowledge as data: one table per vendor family in vendors/, listed
 * in vendors/vendors.c. The engine never tests a vendor by name; it asks the
 * matched table where a vendor keeps what the standard MIBs lack. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "walk.h"

/* Where one value comes from: the value of oid (NULL: sysDescr), optionally
 * narrowed by an extended regex (group 1, case-insensitive) or a key of an
 * IEEE 1284 / PJL device-id string ("MDL", "MFG"). */
struct snmp_source {
	const char *oid;
	const char *re;
	const char *pjl_key;
};

#define SNMP_SOURCES 4

/* An OEM brand the device shows instead of its maker's name. */
struct snmp_brand {
	const char *prefix; /* at the start of sysDescr or the model text */
	const char *name;
};

struct snmp_vendor {
	const char *name; /* the normalised manufacturer */
	/* sysObjectID prefixes of this vendor; those in printer_oids mark a
	 * printer by themselves */
	const char *const *enterprise;
	const char *const *printer_oids;
	/* sysDescr regex that names this vendor (when sysObjectID does not) */
	const char *descr_re;
	/* words removed from the front of a model text ("HP", "Hewlett-Packard") */
	const char *const *prefixes;
	const struct snmp_brand *brands;
	/* sources tried in order, before the standard ones for model (which are
	 * hrDeviceDescr of the printer row, then prtGeneralPrinterName), and
	 * after prtGeneralSerialNumber for serial */
	struct snmp_source model[SNMP_SOURCES];
	bool model_before_standard;
	struct snmp_source serial[SNMP_SOURCES];
	struct snmp_source firmware[SNMP_SOURCES];
	struct snmp_source mac[SNMP_SOURCES];
	struct snmp_source meter_total[SNMP_SOURCES];
	struct snmp_source meter_mono[SNMP_SOURCES];
	struct snmp_source meter_color[SNMP_SOURCES];
	/* model texts of inkjets (ERE), for vendors whose private data does not
	 * say toner or ink */
	const char *ink_model_re;
	/* private OIDs only this vendor's devices answer: asked when neither
	 * sysObjectID nor sysDescr names the vendor (e.g. a PJL device id) */
	const char *const *identity_oids;
	/* OIDs asked in the read besides the sources (e.g. data blobs) */
	const char *const *extra_oids;
	/* fills what only private encodings hold; runs after the standard
	 * fields, may add to or replace them */
	void (*decode)(const struct snmp_vendor *v, const struct snmp_walk *w, json_t *dev);
};

extern const struct snmp_vendor *const snmp_vendors[];
extern const unsigned snmp_vendors_count;

/* The vendor of a device from what the probe saw; NULL when unknown.
 * sysobjectid may be NULL, descr may be NULL. */
const struct snmp_vendor *snmp_vendor_match(const uint32_t *sysobjectid, uint32_t len, const char *descr);
/* The vendor of a device from a walk: sysObjectID and sysDescr, else the
 * first vendor whose identity OIDs answered. */
const struct snmp_vendor *snmp_vendor_identify(const struct snmp_walk *w);
/* Calls fn for the identity OIDs of every vendor. */
void snmp_vendor_identity_oids(void (*fn)(const char *oid, void *arg), void *arg);
/* True when sysObjectID alone says "printer". */
bool snmp_vendor_printer_oid(const struct snmp_vendor *v, const uint32_t *sysobjectid, uint32_t len);
/* Calls fn for every OID a read of a v device should GET. */
void snmp_vendor_oids(const struct snmp_vendor *v, void (*fn)(const char *oid, void *arg), void *arg);

/* Resolves a source against a walk; returns a malloc'd UTF-8 string or
 * NULL. descr is sysDescr (may be NULL). */
char *snmp_source_text(const struct snmp_source *s, const struct snmp_walk *w, const char *descr);
/* The first source of list that resolves. */
char *snmp_sources_text(const struct snmp_source *list, const struct snmp_walk *w, const char *descr);
bool snmp_sources_uint(const struct snmp_source *list, const struct snmp_walk *w, uint64_t *ret);
/* Case-insensitive extended regex search; false for a bad pattern. */
bool snmp_re_match(const char *re, const char *text);
