/* The printer inventory: device records keyed by serial, then MAC, then IP
 * (a printer that changes address is updated, never duplicated), a history
 * of meter readings per device, and the hosts that answered but are not
 * printers. Kept in memory, indexed by id, address, serial and MAC, and in
 * the module's store database, each change in one transaction.
 *
 * It is bounded: at most max_devices printer records (a new device past it
 * is refused, never one already known evicted), at most max_per_address
 * records naming one address (the device there and the ones before it; the
 * one seen longest ago is forgotten first), and records not seen for
 * forget_after are forgotten by snmp_inventory_expire(). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

struct scout_store;
struct scout_db;
struct snmp_inventory;

enum {
	SNMP_INV_FOUND = 1,    /* a device not known before */
	SNMP_INV_METERS = 2,   /* a meter changed (history written) */
	SNMP_INV_RESET = 4,    /* a meter went down */
	SNMP_INV_ALERTS = 8,   /* errors or alerts changed */
	SNMP_INV_REKEYED = 16, /* its key changed (e.g. the serial became known) */
};

int snmp_inventory_open(struct scout_store *store, struct scout_db *db, struct snmp_inventory **ret_inv);
/* Safe with writes pending: the memory goes when the last is done (but a
 * module's stop waits with snmp_inventory_flush first). */
void snmp_inventory_free(struct snmp_inventory *inv);
/* From now on changes are stored off the loop thread, through
 * scout_store_write_async: the functions below change memory at once and
 * return 0 when the write is queued; a write that fails later is logged
 * (memory keeps the change). Without it, each change is written before the
 * function returns, and its error returned. 0 or -errno. */
int snmp_inventory_write_async(struct snmp_inventory *inv, uv_loop_t *loop);
/* Writes queued and not yet done. */
size_t snmp_inventory_pending(const struct snmp_inventory *inv);
/* Calls done(arg) once every write queued so far is done (right here when
 * none is pending). One waiter at a time: a module's stop. */
void snmp_inventory_flush(struct snmp_inventory *inv, void (*done)(void *arg), void *arg);
void snmp_inventory_set_history(struct snmp_inventory *inv, int64_t max_readings);
/* max_devices 0: no limit. Takes effect at the next change: what is kept
 * already is never dropped for a lower limit alone. */
void snmp_inventory_set_limits(struct snmp_inventory *inv, size_t max_devices, unsigned max_per_address);

struct snmp_inventory_stats {
	uint64_t refused;   /* new devices not recorded: max_devices reached */
	uint64_t forgotten; /* records dropped: max_per_address or forget_after */
};
const struct snmp_inventory_stats *snmp_inventory_stats(const struct snmp_inventory *inv);

/* Merges a normalised record (stolen). full: from a full read (identity
 * fields replaced); otherwise a status read (only status fields replaced).
 * *ret_record is the stored record (borrowed); *ret_meters, when asked for,
 * the reading written to the history (new reference, NULL if none).
 * -ENOSPC: a new device, and max_devices are kept (logged once). */
int snmp_inventory_update(struct snmp_inventory *inv, json_t *fresh, bool full, time_t now, json_t **ret_record,
			  unsigned *ret_flags, json_t **ret_meters);
int snmp_inventory_nonprinter(struct snmp_inventory *inv, const char *ip, const char *descr, const char *sysobjectid,
			      time_t now);

/* Forgets the printers and other hosts last seen before now -
 * forget_after_s, with their history, and logs each; *ret_n (optional)
 * says how many. At most SNMP_INV_EXPIRE_MAX a call: the rest go at the
 * next one. */
#define SNMP_INV_EXPIRE_MAX 1024
int snmp_inventory_expire(struct snmp_inventory *inv, time_t now, uint64_t forget_after_s, size_t *ret_n);

/* By id, address, serial or MAC; borrowed. */
json_t *snmp_inventory_find(struct snmp_inventory *inv, const char *key);
/* A new array of records (printers; with all, the other hosts too). */
json_t *snmp_inventory_list(struct snmp_inventory *inv, bool all);
/* A new array of the meter readings of a device, oldest first. */
json_t *snmp_inventory_history(struct snmp_inventory *inv, const char *id);
size_t snmp_inventory_count(const struct snmp_inventory *inv, bool printers);

/* Remembered sweep summary. */
int snmp_inventory_save_meta(struct snmp_inventory *inv, const char *key, json_t *value);
json_t *snmp_inventory_load_meta(struct snmp_inventory *inv, const char *key);
