/* What a device read collected: a set of (OID, value) copied out of the
 * responses, sorted by OID, for the normaliser to look things up in. Also
 * loads snmprec text (OID|TAG|VALUE lines), the recording format of the
 * shared test data, so a recording can be normalised without a network. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ber.h"

struct snmp_val {
	const uint32_t *oid;
	uint32_t oid_len;
	uint32_t seq; /* order added: of two equal OIDs the first wins */
	uint8_t type;
	int64_t i;
	uint64_t u;
	const uint8_t *data; /* octets, IpAddress */
	uint32_t len;
	const uint32_t *val_oid; /* OBJECT IDENTIFIER values */
	uint32_t val_oid_len;
};

struct snmp_walk {
	struct snmp_val *v;
	size_t n, cap;
	struct chunk *chunks; /* storage for OIDs and bytes */
	bool sorted;
	size_t bytes; /* stored, for limits */
};

void snmp_walk_init(struct snmp_walk *w);
void snmp_walk_free(struct snmp_walk *w);
/* Copies vb in. End-of-view and no-such values are not stored. */
int snmp_walk_add(struct snmp_walk *w, const struct snmp_vb *vb);
/* Sorts and drops duplicate OIDs (the first one added wins). */
void snmp_walk_finish(struct snmp_walk *w);

const struct snmp_val *snmp_walk_get(const struct snmp_walk *w, const uint32_t *oid, uint32_t len);
const struct snmp_val *snmp_walk_get_oid(const struct snmp_walk *w, const struct snmp_oid *oid);
/* Parses a dotted OID and looks it up; NULL when absent or malformed. */
const struct snmp_val *snmp_walk_get_str(const struct snmp_walk *w, const char *oid);
/* The index range [*first, *end) of entries under prefix. */
void snmp_walk_range(const struct snmp_walk *w, const struct snmp_oid *prefix, size_t *first, size_t *end);

/* Loads snmprec text. Lines that do not parse are counted in *bad. */
int snmp_walk_load_snmprec(struct snmp_walk *w, const char *text, size_t len, size_t *bad);
