/* Talking to one device: the discovery probe (one exchange says whether an
 * address answers and whether it is a printer) and the reads that collect
 * a printer's values (GET of scalars, then GETBULK walks of table columns,
 * GETNEXT on SNMPv1). Walks stop at the end of their column, at an error,
 * at a non-increasing OID and at size limits, so no agent can keep a read
 * going for ever. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "vendors.h"
#include "walk.h"

#define SNMP_MAX_COMMUNITIES 8
#define SNMP_MAX_COLUMNS 32
#define SNMP_MAX_SCALARS 96

struct snmp_auth {
	enum snmp_version version;
	bool v1_fallback;               /* 2c: try v1 too on the last attempt */
	const char *const *communities; /* NULL-terminated, borrowed */
	unsigned ncommunities;
	uint16_t port;
	uint32_t timeout_ms;
	unsigned retries;
};

struct snmp_probe_result {
	snmp_addr128 addr;
	bool answered;
	unsigned community; /* index of the one that answered */
	enum snmp_version version;
	bool printer;
	char descr[256];
	struct snmp_oid sysobjectid;
	size_t bytes; /* both directions */
};

struct snmp_probe;
typedef void (*snmp_probe_cb)(struct snmp_probe *p, const struct snmp_probe_result *r, void *arg);

/* Sends the probe to addr with every community at once; cb runs once. */
int snmp_probe_start(struct snmp_io *io, const struct snmp_auth *auth, snmp_addr128 addr, snmp_probe_cb cb, void *arg,
		     struct snmp_probe **ret_probe);
/* Cancels without calling cb. */
void snmp_probe_cancel(struct snmp_probe *p);

enum snmp_read_kind {
	SNMP_READ_FULL,   /* identity, interfaces, status, supplies, alerts */
	SNMP_READ_STATUS, /* what changes: status, errors, meters, supplies, display, alerts */
};

struct snmp_read;
/* status 0: w holds what was read (borrowed until return). */
typedef void (*snmp_read_cb)(struct snmp_read *r, int status, const struct snmp_walk *w, void *arg);

struct snmp_read_stats {
	size_t requests, bytes, varbinds;
};

int snmp_read_start(struct snmp_io *io, snmp_addr128 addr, uint16_t port, enum snmp_version version,
		    const char *community, uint32_t timeout_ms, unsigned retries, const struct snmp_vendor *vendor,
		    enum snmp_read_kind kind, snmp_read_cb cb, void *arg, struct snmp_read **ret_read);
void snmp_read_cancel(struct snmp_read *r);
const struct snmp_read_stats *snmp_read_stats(const struct snmp_read *r);
snmp_addr128 snmp_read_addr(const struct snmp_read *r);
