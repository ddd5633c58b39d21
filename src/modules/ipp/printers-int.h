/* What printers.c (the registry) and printers-cmd.c (its commands) share;
 * nothing else in the module sees it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "loop/list.h"
#include "printers.h"

struct scout_db;
struct scout_store;
struct scout_topic;

/* What printers.h's struct does not carry: the operator's name for it and
 * since when its alert stands. */
struct entry {
	struct ipp_printer p;
	char name[64];
	time_t alert_since;
};

struct ipp_registry {
	struct scout_list printers; /* struct entry */
	struct scout_list lookups;  /* struct lookup: snmp.lookup in flight */
	struct scout_list peeks;    /* struct peek: printer trust reading a key */
	struct scout_db *db;
	struct scout_store *store;
	struct scout_topic *t_alert;
	struct scout_topic *t_lookup; /* NULL when no module declares snmp.lookup */
	uint64_t writes_failed;
};

/* The entry p is, when it is one of the registry's (deliver's tests may
 * hand in their own); else NULL. */
struct entry *ipp_reg_ours(struct ipp *s, struct ipp_printer *p);
struct entry *ipp_reg_find_guid(struct ipp_registry *reg, const char *guid);
/* As ipp_printer_resolve; from_command: answered (-ESHUTDOWN) at stop
 * rather than dropped. */
void ipp_reg_resolve(struct ipp *s, const char *spec, bool from_command, ipp_printer_cb cb, void *arg);
/* Stores e's record (or deletes it, del); done(arg, status) once it is on
 * disk (NULL: nothing to tell). */
int ipp_reg_persist(struct ipp *s, struct entry *e, bool del, void (*done)(void *arg, int status), void *arg);
void ipp_reg_save(struct ipp *s, struct entry *e);
/* Publishes printer.alert {alert} for e. */
void ipp_reg_alert(struct ipp *s, struct entry *e, const char *alert);
/* n bytes as 2n lower-case hex digits and a NUL. */
void ipp_reg_hex(const uint8_t *b, size_t n, char *out);
/* printers-cmd.c: answers the commands still waiting (scout is stopping). */
void ipp_reg_cmds_stop(struct ipp_registry *reg);
