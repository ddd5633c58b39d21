/* The registry of printers scout may deliver to (printers.c): each has a
 * random GUID (what its QR label holds), the addresses operators name it
 * by, its serial, its pinned TLS key and what it said it can do. Kept in
 * the ipp module's store db; resolved from what a user or operator typed.
 * Nothing here is seen outside the ipp module. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/list.h"

struct ipp;

/* What Get-Printer-Attributes said (deliver fills it). */
struct ipp_caps {
	bool ipps, ipp; /* endpoints that answered */
	char uri[512];  /* the printer-uri to put in requests */
	char path[256]; /* HTTP path ("/ipp/print") */
	char formats[32][80];
	unsigned nformats;  /* document-format-supported */
	bool sides_duplex;  /* sides-supported has two-sided-* */
	bool color;         /* print-color-mode-supported has color, or color-supported */
	int32_t copies_max; /* copies-supported upper bound, 0 unknown/unsupported */
	char make_model[128], uuid[64], serial[64];
};

struct ipp_printer {
	struct scout_list link;
	char guid[37];     /* 8-4-4-4-12 lower-case hex, random (uv_random) */
	char address[300]; /* as operators name it: "127.0.0.1:8632", a host, or a URI */
	char host[256];
	int port;        /* endpoint (port 631 when not given) */
	char path[256];  /* from a URI, else "" (probe tries /ipp/print, then /) */
	char serial[64]; /* from snmp.lookup or the printer's attributes */
	bool pinned;
	uint8_t pin[32];
	bool pin_changed;
	uint8_t new_pin[32]; /* the alert, until trusted */
	bool caps_known;
	uint64_t caps_ms;
	struct ipp_caps caps;
	bool raw_ok;             /* port 9100 accepted a connection */
	unsigned busy;           /* deliveries in flight to it (deliver) */
	struct scout_list queue; /* deliver's per-printer queue */
};

/* status 0 with p, or -errno with p NULL and why for people. */
typedef void (*ipp_printer_cb)(void *arg, int status, struct ipp_printer *p, const char *why);

/* Resolves what a user or operator named (GUID, IP, HOST:PORT, ipp(s):// URI) to a
 * registry entry, creating it (new GUID, stored) for an address not seen before; a
 * serial known through snmp.lookup ties it to an existing GUID. Callback may run
 * synchronously. -ENOENT unknown GUID / unresolvable. */
void ipp_printer_resolve(struct ipp *s, const char *spec, ipp_printer_cb cb, void *arg);

/* Deliver reports what it saw; each persists through scout_store_write_async. */
/* First use: p had no pin; pin (SHA-256 of the key) is trusted from now on. */
void ipp_printer_pin_seen(struct ipp *s, struct ipp_printer *p, const uint8_t pin[32]);
/* The printer shows another key than the pinned one: records it as pending,
 * publishes printer.alert {alert: certificate-changed} and shows the alert in
 * status until an operator runs `printer trust`. */
void ipp_printer_pin_changed(struct ipp *s, struct ipp_printer *p, const uint8_t new_pin[32]);
/* What Get-Printer-Attributes said; the serial in it ties p to its GUID. */
void ipp_printer_caps_set(struct ipp *s, struct ipp_printer *p, const struct ipp_caps *caps);

/* Loads the registry from the store and the configured printers list. */
int ipp_printers_start(struct ipp *s, char *err, size_t errlen);
void ipp_printers_stop(struct ipp *s);
/* The "printers" member of the module's status: known, pinned, alerts; and
 * "ok": false with one "problems" line per alert. */
void ipp_printers_status(struct ipp *s, json_t *obj);

/* ---- beyond the contract: the module's own use and tests ---------------- */

/* Notes on the calls above, as printers.c implements them:
 * - ipp_printer_resolve answers synchronously unless it asks snmp.lookup
 *   (an IP address not in the registry while a module declares that topic):
 *   then within 2 s. Resolutions still waiting at ipp_printers_stop are
 *   dropped without their callback: stop deliver first.
 * - ipp_printer_caps_set: when the serial matches another entry that is not
 *   busy and has an empty queue, that entry is removed and p takes its GUID
 *   and pin (the same printer at a new address).
 * - pin_seen, pin_changed and caps_set ignore a struct that is not one of
 *   the registry's entries. */

struct scout_command;

/* What a printer spec says, parsed (ipp_printer_spec_parse). */
struct ipp_spec {
	bool is_guid;
	char guid[37];  /* lower case */
	bool uri, tls;  /* an ipp:// (ipps://) URI */
	bool ip;        /* host is an IP address (canonical form, IPv6 without brackets) */
	char host[256]; /* else a host name, lower case: resolved when connecting */
	int port;       /* 631 when not given */
	char path[256]; /* a URI's path, else "" */
};

/* GUID, IP, IP:PORT, [IPv6]:PORT, IPv6, HOST, HOST:PORT, ipp(s)://HOST[:PORT][/PATH].
 * -EINVAL with why for people. No I/O: host names stay names. */
int ipp_printer_spec_parse(const char *spec, struct ipp_spec *ret, char *why, size_t whylen);
/* 8-4-4-4-12 hex digits (any case). */
bool ipp_guid_valid(const char *s);
/* A random (version 4) GUID, lower case. */
int ipp_guid_new(char guid[37]);

/* The [ipp] printers option (SCOUT_OPT_CUSTOM into struct ipp_printers_conf). */
int ipp_printers_conf_parse(const char *value, void *field, char *err, size_t errlen);
void ipp_printers_conf_free(void *field);
/* Adds the configured printers not known yet, and their names (start, reload). */
int ipp_printers_sync_conf(struct ipp *s);

/* printers, printer trust, printer qr: their parts, for ipp.c's command
 * table. Pending resolutions of these are answered at stop; deliver's are
 * dropped without their callback (stop deliver first, or it must not wait
 * for them). */
void ipp_cmd_printers(struct scout_mod *m, struct scout_status_req *req, json_t *request);
void ipp_cmd_trust(struct scout_mod *m, struct scout_status_req *req, json_t *request);
void ipp_cmd_qr(struct scout_mod *m, struct scout_status_req *req, json_t *request);
extern const struct scout_table ipp_cmd_printers_tables[], ipp_cmd_qr_tables[];
extern const struct scout_arg ipp_cmd_trust_args[], ipp_cmd_qr_args[];
extern const char *const ipp_cmd_printers_text[];
extern const char *const ipp_cmd_trust_text[];
extern const char *const ipp_cmd_qr_text[];
