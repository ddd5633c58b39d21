/* Reading printers: a full read of each printer a sweep finds, a status
 * read of each known one every status_interval (a read whose device was
 * replaced turns into a full one), the result merged into the inventory
 * and what changed published on snmp.device, snmp.meters and snmp.alert.
 * reader.c speaks SNMP to the device; this file decides what a read is for
 * and owns the reads in flight. */
#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/bus.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "normalise.h"
#include "state.h"

struct active_read {
	struct snmp_read *read;
	struct snmp_mod_state *s;
	bool full, sweep;
	enum snmp_version version;
	unsigned community; /* index in the configured list */
	char ip[64];
	struct scout_list link;
};

static void publish_json(struct snmp_mod_state *s, struct scout_topic *topic, json_t *obj)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	scout_pack_json(&pk, obj);
	scout_bus_publish(scout_mod_bus(s->m), topic, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void publish_changes(struct snmp_mod_state *s, json_t *rec, unsigned flags, json_t *reading)
{
	json_t *ev = json_pack("{s:s, s:O}", "event", (flags & SNMP_INV_FOUND) ? "found" : "updated", "device", rec);
	publish_json(s, s->t_device, ev);
	json_decref(ev);

	if (reading) {
		json_t *m = json_deep_copy(reading);
		json_object_set(m, "id", json_object_get(rec, "id"));
		json_object_set(m, "ip", json_object_get(rec, "ip"));
		if (json_object_get(rec, "serial"))
			json_object_set(m, "serial", json_object_get(rec, "serial"));
		json_object_set_new(m, "time", json_integer(json_integer_value(json_object_get(m, "time_ms")) / 1000));
		json_object_del(m, "time_ms");
		publish_json(s, s->t_meters, m);
		json_decref(m);
		if (flags & SNMP_INV_RESET)
			log_info("snmp: %s: a meter went down (reset recorded)",
				 json_string_value(json_object_get(rec, "id")));
	}
	if (flags & SNMP_INV_ALERTS) {
		json_t *a = json_pack("{s:O, s:O, s:I}", "id", json_object_get(rec, "id"), "ip",
				      json_object_get(rec, "ip") ? json_object_get(rec, "ip") : json_null(), "time",
				      (json_int_t)time(NULL));
		if (json_object_get(rec, "serial"))
			json_object_set(a, "serial", json_object_get(rec, "serial"));
		json_object_set_new(a, "errors",
				    json_object_get(rec, "errors") ? json_incref(json_object_get(rec, "errors"))
								   : json_array());
		json_object_set_new(a, "alerts",
				    json_object_get(rec, "alerts") ? json_incref(json_object_get(rec, "alerts"))
								   : json_array());
		publish_json(s, s->t_alert, a);
		json_decref(a);
	}
}

/* A status read checks sysObjectID and the serial: when either differs from
 * the record, the device at that address was replaced. Not the serial of a
 * device known to change it between reads (its MAC, which a status read
 * does not ask, is its identity). */
static bool same_device(json_t *known, json_t *fresh)
{
	static const char *const keys[] = {"sysobjectid", "serial"};
	int n = json_is_true(json_object_get(known, "serial_unstable")) ? 1 : 2;

	for (int i = 0; i < n; i++) {
		const char *a = json_string_value(json_object_get(known, keys[i]));
		const char *b = json_string_value(json_object_get(fresh, keys[i]));
		if (a && b && strcmp(a, b) != 0)
			return false;
	}
	return true;
}

static void read_done(struct snmp_read *r, int status, const struct snmp_walk *w, void *arg)
{
	struct active_read *a = arg;
	struct snmp_mod_state *s = a->s;
	const struct snmp_read_stats *st = snmp_read_stats(r);

	scout_list_remove(&a->link);
	s->nreads--;
	s->read_bytes += st->bytes;
	if (a->full)
		s->full_reads++;

	if (status < 0) {
		s->reads_failed++;
		log_debug("snmp: %s: read failed: %s", a->ip, strerror(-status));
	} else if (!s->stopping) {
		const struct snmp_vendor *vendor;
		json_t *fresh = snmp_normalise(w, a->ip, &vendor), *rec, *reading = NULL;
		unsigned flags;
		int rc;
		s->reads_ok++;
		/* how it answered, so the next read asks the same way (the index,
		 * never the community itself: records leave the process) */
		json_object_set_new(fresh, "snmp",
				    a->version == SNMP_V3
					    ? json_pack("{s:s}", "version", "3")
					    : json_pack("{s:s, s:i}", "version", a->version == SNMP_V1 ? "1" : "2c",
							"community", (int)a->community + 1));
		json_t *known = a->full ? NULL : snmp_inventory_find(s->inv, a->ip);
		if (known && !same_device(known, fresh)) {
			/* another device answers at this address now: read it whole */
			log_info("snmp: %s: a different device answers now; reading it in full", a->ip);
			json_decref(fresh);
			snmp_addr128 addr;
			if (snmp_addr_parse(a->ip, &addr) == 0)
				snmp_read_device(s, addr, a->version, a->community, vendor, true, false);
		} else if ((rc = snmp_inventory_update(s->inv, fresh, a->full, time(NULL), &rec, &flags, &reading)) ==
			   0) {
			publish_changes(s, rec, flags, reading);
		} else if (rc != -ENOSPC) { /* max_devices: the inventory logged it */
			log_error("snmp: %s: cannot store the device record: %s", a->ip, strerror(-rc));
		}
		json_decref(reading);
	}
	bool from_sweep = a->sweep;
	free(a);
	if (from_sweep && s->sweep.running) {
		s->sweep.inflight--;
		snmp_finish_sweep(s);
	}
	snmp_maybe_stopped(s);
}

int snmp_read_device(struct snmp_mod_state *s, snmp_addr128 addr, enum snmp_version version, unsigned community,
		     const struct snmp_vendor *vendor, bool full, bool from_sweep)
{
	const struct snmp_conf *conf = conf_of(s);
	struct active_read *a;
	int r;

	if (community >= conf->communities.n)
		community = 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->s = s;
	a->version = version;
	a->community = community;
	a->full = full;
	a->sweep = from_sweep;
	snmp_addr_format(addr, a->ip, sizeof(a->ip));
	struct active_read *o;
	scout_list_foreach (o, &s->reads, link)
		if (strcmp(o->ip, a->ip) == 0) {
			free(a);
			return -EALREADY; /* one read per device at a time */
		}
	r = snmp_read_start(s->io, addr, (uint16_t)conf->port, version, conf->communities.v[community],
			    (uint32_t)conf->timeout_ms, (unsigned)conf->retries, vendor,
			    full ? SNMP_READ_FULL : SNMP_READ_STATUS, read_done, a, &a->read);
	if (r < 0) {
		free(a);
		return r;
	}
	scout_list_insert_head(&s->reads, &a->link);
	s->nreads++;
	if (!full)
		s->status_reads++;
	return 0;
}
