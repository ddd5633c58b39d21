/* The printer inventory: device records keyed by serial, then MAC, then IP
 * (a printer that changes address is updated, never duplicated), a history
 * of meter readings per device, and the hosts that answered but are not
 * printers. Kept in memory and in the module's store database, each change
 * in one transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

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
void snmp_inventory_free(struct snmp_inventory *inv);
void snmp_inventory_set_history(struct snmp_inventory *inv, int64_t max_readings);

/* Merges a normalised record (stolen). full: from a full read (identity
 * fields replaced); otherwise a status read (only status fields replaced).
 * *ret_record is the stored record (borrowed); *ret_meters, when asked for,
 * the reading written to the history (new reference, NULL if none). */
int snmp_inventory_update(struct snmp_inventory *inv, json_t *fresh, bool full, time_t now, json_t **ret_record,
			  unsigned *ret_flags, json_t **ret_meters);
int snmp_inventory_nonprinter(struct snmp_inventory *inv, const char *ip, const char *descr,
			      const char *sysobjectid, time_t now);

/* By IP, serial or id; borrowed. */
json_t *snmp_inventory_find(struct snmp_inventory *inv, const char *key);
/* A new array of records (printers; with all, the other hosts too). */
json_t *snmp_inventory_list(struct snmp_inventory *inv, bool all);
/* A new array of the meter readings of a device, oldest first. */
json_t *snmp_inventory_history(struct snmp_inventory *inv, const char *id);
size_t snmp_inventory_count(const struct snmp_inventory *inv, bool printers);

/* t as "2026-11-25T12:00:00Z" (UTC), the form records use. */
void snmp_iso_time(time_t t, char *buf, size_t size);

/* Remembered sweep summary. */
int snmp_inventory_save_meta(struct snmp_inventory *inv, const char *key, json_t *value);
json_t *snmp_inventory_load_meta(struct snmp_inventory *inv, const char *key);
