/* What the snmp module answers: the scan, devices and device commands of
 * the status socket (with their arguments and tables for scoutctl), the
 * snmp.lookup requests on the bus, and its part of the status object. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/bus.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "state.h"

/* snmp.lookup: {"ip": str} or {"serial": str} -> the record */
void snmp_on_lookup(const struct scout_msg *msg, void *arg)
{
	struct snmp_mod_state *s = arg;
	msgpack_unpacked u;
	const char *key = NULL;
	size_t klen = 0;
	char buf[256];

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    (scout_pack_get_str(&u.data, "ip", &key, &klen) == 0 ||
	     scout_pack_get_str(&u.data, "serial", &key, &klen) == 0) &&
	    klen < sizeof(buf)) {
		memcpy(buf, key, klen);
		buf[klen] = 0;
		json_t *rec = snmp_inventory_find(s->inv, buf);
		if (rec) {
			msgpack_sbuffer sb;
			msgpack_packer pk;
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			scout_pack_json(&pk, rec);
			scout_bus_reply(scout_mod_bus(s->m), msg->corr, 0, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
		} else {
			scout_bus_reply(scout_mod_bus(s->m), msg->corr, -ENOENT, NULL, 0);
		}
	} else {
		scout_bus_reply(scout_mod_bus(s->m), msg->corr, -EINVAL, NULL, 0);
	}
	msgpack_unpacked_destroy(&u);
}
static bool arg_true(json_t *request, const char *key)
{
	return json_is_true(json_object_get(request, key));
}

/* {"cmd":"scan","wait":bool,"force":bool} */
static void cmd_scan(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct snmp_mod_state *s = scout_mod_priv(m);
	int r = snmp_start_sweep(s, arg_true(request, "force"));

	if (r == -EAGAIN) {
		scout_status_error(
			req, "unavailable",
			"outside the sweep windows; the sweep starts when one opens (scan --force sweeps now)");
		return;
	}
	if (r < 0 && r != -EALREADY) {
		scout_status_error(req, "internal", "cannot start a sweep: %s", strerror(-r));
		return;
	}
	if (!arg_true(request, "wait")) {
		json_t *sum = snmp_sweep_summary(s);
		json_object_set_new(sum, "started", json_boolean(r == 0));
		scout_status_reply(req, json_pack("{s:o}", "scan", sum));
		return;
	}
	if (!s->sweep.running) {
		/* it ended while it started (nothing could be sent) */
		scout_status_reply(req, json_pack("{s:O}", "scan", s->last_sweep ? s->last_sweep : json_null()));
		return;
	}
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w) {
		scout_status_error(req, "internal", "out of memory");
		return;
	}
	w->req = req;
	scout_list_insert_tail(&s->sweep.waiters, &w->link);
}

/* The supply with the least left, as "Cyan Toner 12%", its name cut to 32
 * characters (never inside one), for the devices table (caller frees);
 * NULL when no supply has a level. */
static char *lowest_supply(json_t *dev)
{
	json_t *sup, *best = NULL;
	size_t i;
	char *out;

	json_array_foreach (json_object_get(dev, "supplies"), i, sup) {
		json_t *p = json_object_get(sup, "level_percent");
		if (json_is_integer(p) &&
		    (!best || json_integer_value(p) < json_integer_value(json_object_get(best, "level_percent"))))
			best = sup;
	}
	if (!best)
		return NULL;
	const char *name = NULL;
	static const char *const keys[] = {"description", "colorant", "kind"};
	for (size_t k = 0; k < 3 && !name; k++)
		name = json_string_value(json_object_get(best, keys[k]));
	if (!name)
		name = "supply";
	size_t n = 0, chars = 0;
	while (name[n] && chars < 32) {
		n++;
		while (((unsigned char)name[n] & 0xC0) == 0x80)
			n++;
		chars++;
	}
	if (asprintf(&out, "%.*s %" JSON_INTEGER_FORMAT "%%", (int)n, name,
		     json_integer_value(json_object_get(best, "level_percent"))) < 0)
		return NULL;
	return out;
}

/* {"cmd":"devices","all":bool} */
static void cmd_devices(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct snmp_mod_state *s = scout_mod_priv(m);

	json_t *list = snmp_inventory_list(s->inv, arg_true(request, "all")), *out = json_array(), *rec;
	size_t i;

	/* each row a shallow copy: the records are the inventory's own */
	json_array_foreach (list, i, rec) {
		json_t *row = json_copy(rec);
		char *low = lowest_supply(rec);
		if (low)
			json_object_set_new(row, "lowest_supply", json_string(low));
		free(low);
		json_array_append_new(out, row);
	}
	json_decref(list);
	scout_status_reply(req, json_pack("{s:o}", "devices", out));
}

/* {"cmd":"device","id":"IP, serial, MAC or id"} */
static void cmd_device(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct snmp_mod_state *s = scout_mod_priv(m);
	const char *key = json_string_value(json_object_get(request, "id"));
	json_t *rec;

	if (!key) {
		scout_status_error(req, "bad_request", "\"id\" (an IP address, serial number or MAC) is required");
		return;
	}
	rec = snmp_inventory_find(s->inv, key);
	if (!rec) {
		/* quote at most 100 bytes of it, cut between characters: the
		 * reply must stay valid UTF-8 */
		int n = (int)strnlen(key, 100);
		while (n > 0 && n < (int)strlen(key) && ((unsigned char)key[n] & 0xC0) == 0x80)
			n--;
		scout_status_error(req, "not_found", "no printer with address, serial or MAC '%.*s'", n, key);
		return;
	}
	json_t *hist = snmp_inventory_history(s->inv, json_string_value(json_object_get(rec, "id")));
	scout_status_reply(req, json_pack("{s:O, s:o}", "device", rec, "history", hist));
}

static const struct scout_arg scan_args[] = {
	{"wait", SCOUT_ARG_FLAG, false, "print the result when the sweep is done", .no_timeout = true},
	{"force", SCOUT_ARG_FLAG, false, "sweep even outside the configured windows"},
	{0},
};
static const char *const scan_text[] = {
	"probed {scan.probed} of {scan.total} addresses: {scan.responders} answered, {scan.printers} printers, "
	"in {scan.duration_ms} ms (finished {scan.finished})",
	"sweep started: {scan.started}; {scan.probed} of {scan.total} addresses probed so far",
	NULL,
};
static const struct scout_arg devices_args[] = {
	{"all", SCOUT_ARG_FLAG, false, "other hosts that answered too"},
	{0},
};
static const struct scout_column devices_columns[] = {
	{"ip", "IP", 0},
	{"manufacturer", "MANUFACTURER", 0},
	{"model", "MODEL", 0},
	{"serial", "SERIAL", 0},
	{"errors.0|status.printer|status.device", "STATUS", 0},
	{"meters.total", "PAGES", 0},
	{"lowest_supply", "LOWEST SUPPLY", 40},
	{0},
};
static const struct scout_table devices_tables[] = {{"devices", devices_columns}, {0}};
static const struct scout_arg device_args[] = {
	{"id", SCOUT_ARG_STRING, true, "an IP address, serial number or MAC"},
	{0},
};
static const struct scout_column alert_columns[] = {
	{"code", "ALERT", 0}, {"severity", "SEVERITY", 0}, {"group", "GROUP", 0}, {"text", "TEXT", 0}, {0},
};
static const struct scout_column supply_columns[] = {
	{"description", "SUPPLY", 0}, {"kind", "KIND", 0},
	{"colorant", "COLORANT", 0},  {"level_percent|level_state", "LEVEL", 0},
	{"level", "RAW", 0},          {"max", "MAX", 0},
	{"unit", "UNIT", 0},          {0},
};
static const struct scout_column history_columns[] = {
	{"time", "READING", 0}, {"total", "TOTAL", 0}, {"mono", "MONO", 0},
	{"color", "COLOR", 0},  {"reset", "RESET", 0}, {0},
};
static const struct scout_table device_tables[] = {
	{"device.alerts", alert_columns},
	{"device.supplies", supply_columns},
	{"history", history_columns},
	{0},
};

const struct scout_command snmp_commands[] = {
	{"scan", cmd_scan, "sweep the snmp ranges now", scan_args, NULL, scan_text},
	{"devices", cmd_devices, "the printers found", devices_args, devices_tables, NULL},
	{"device", cmd_device, "one printer with its supplies and meter history", device_args, device_tables, NULL},
	{0},
};

void snmp_status(struct scout_mod *m, json_t *obj)
{
	struct snmp_mod_state *s = scout_mod_priv(m);
	const struct snmp_io_stats *io = snmp_io_stats(s->io);
	json_t *c = json_object_get(obj, "counters");
	struct sweep *w = &s->sweep;

	json_object_set_new(obj, "printers", json_integer((json_int_t)snmp_inventory_count(s->inv, true)));
	json_object_set_new(obj, "other_hosts", json_integer((json_int_t)snmp_inventory_count(s->inv, false)));
	json_t *sw = snmp_sweep_summary(s);
	const char *state = w->running   ? (w->paused ? "paused" : "running")
			    : w->pending ? "waiting_for_window"
					 : "idle";
	json_object_set_new(sw, "state", json_string(state));
	if (w->running && w->probed) {
		uint64_t el = now_ms(s) - w->started_ms;
		json_object_set_new(sw, "eta_s",
				    json_integer((json_int_t)(el * (w->total - w->probed) / w->probed / 1000)));
	}
	json_object_set_new(obj, "sweep", w->running || w->pending ? sw : (json_decref(sw), json_null()));
	json_object_set(obj, "last_sweep", s->last_sweep ? s->last_sweep : json_null());
	json_object_set_new(obj, "reads_in_flight", json_integer(s->nreads));
	/* one line for people (scoutctl's DETAIL column) */
	char detail[160];
	if (w->running)
		snprintf(detail, sizeof(detail),
			 "%zu printers; sweep %s: %" PRIu64 " of %" PRIu64 " probed, %" PRIu64 " printers so far",
			 snmp_inventory_count(s->inv, true), w->paused ? "paused" : "running", w->probed, w->total,
			 w->printers);
	else if (w->pending)
		snprintf(detail, sizeof(detail), "%zu printers; sweep waits for its window",
			 snmp_inventory_count(s->inv, true));
	else
		snprintf(detail, sizeof(detail), "%zu printers%s%s", snmp_inventory_count(s->inv, true),
			 s->last_sweep ? "; last sweep " : "",
			 s->last_sweep ? json_string_value(json_object_get(s->last_sweep, "finished")) : "");
	json_object_set_new(obj, "detail", json_string(detail));

	json_object_set_new(c, "sweeps", json_integer((json_int_t)s->sweeps));
	json_object_set_new(c, "probes", json_integer((json_int_t)s->probes));
	json_object_set_new(c, "full_reads", json_integer((json_int_t)s->full_reads));
	json_object_set_new(c, "status_reads", json_integer((json_int_t)s->status_reads));
	json_object_set_new(c, "reads_ok", json_integer((json_int_t)s->reads_ok));
	json_object_set_new(c, "reads_failed", json_integer((json_int_t)s->reads_failed));
	json_object_set_new(c, "requests_sent", json_integer((json_int_t)io->sent));
	json_object_set_new(c, "responses", json_integer((json_int_t)io->received));
	json_object_set_new(c, "retries", json_integer((json_int_t)io->retries));
	json_object_set_new(c, "timeouts", json_integer((json_int_t)io->timeouts));
	json_object_set_new(c, "bytes_out", json_integer((json_int_t)io->bytes_out));
	json_object_set_new(c, "bytes_in", json_integer((json_int_t)io->bytes_in));
	json_object_set_new(c, "malformed", json_integer((json_int_t)io->malformed));
	json_object_set_new(c, "stray", json_integer((json_int_t)io->stray));
	json_object_set_new(c, "send_errors", json_integer((json_int_t)io->send_errors));
	const struct snmp_inventory_stats *inv = snmp_inventory_stats(s->inv);
	json_object_set_new(c, "devices_refused", json_integer((json_int_t)inv->refused));
	json_object_set_new(c, "devices_forgotten", json_integer((json_int_t)inv->forgotten));
}
