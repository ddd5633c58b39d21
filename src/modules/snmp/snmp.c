/* snmp: the Device Scout. Sweeps the configured ranges for printers inside
 * the allowed time windows and under a rate limit, reads each printer in
 * full, re-reads known printers every status_interval, keeps the inventory
 * and meter history, publishes what changed on the bus and answers lookups
 * and the scan/devices/device commands. Everything runs on the loop. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inventory.h"
#include "loop/bus.h"
#include "loop/closer.h"
#include "loop/list.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"
#include "normalise.h"
#include "reader.h"
#include "text.h"
#include "v3.h"
#include "windows.h"

/* ---- configuration --------------------------------------------------------- */

struct strlist {
	char **v;
	unsigned n;
};

struct snmp_conf {
	struct snmp_ranges ranges, exclude;
	struct strlist communities;
	int version; /* index into versions */
	char *v3_user;
	int v3_auth;
	char *v3_auth_password;
	int v3_priv;
	char *v3_priv_password;
	int64_t port, timeout_ms, retries, rate, max_inflight, meter_history;
	int64_t max_devices, max_per_address;
	struct snmp_windows windows;
	uint64_t discovery_interval, status_interval, forget_after;
};

/* ranges minus exclude: what a sweep walks */
static int targets_of(const struct snmp_conf *conf, struct snmp_ranges *ret)
{
	struct snmp_ranges t = {0};

	t.iv = malloc((conf->ranges.n ? conf->ranges.n : 1) * sizeof(*t.iv));
	if (!t.iv)
		return -ENOMEM;
	if (conf->ranges.n) /* ranges.iv is NULL when empty */
		memcpy(t.iv, conf->ranges.iv, conf->ranges.n * sizeof(*t.iv));
	t.n = conf->ranges.n;
	t.total = conf->ranges.total;
	if (snmp_ranges_subtract(&t, &conf->exclude) < 0) {
		snmp_ranges_free(&t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

static const char *const versions[] = {"2c", "1", "3", NULL};
enum { VERSION_2C, VERSION_1, VERSION_3 };
static const char *const v3_auths[] = {"sha", "sha256", NULL};
static const char *const v3_privs[] = {"aes", "none", NULL};

static int parse_ranges(const char *value, void *field, char *err, size_t errlen)
{
	return snmp_ranges_parse(value, field, err, errlen);
}

static void free_ranges(void *field)
{
	snmp_ranges_free(field);
}

static int parse_windows(const char *value, void *field, char *err, size_t errlen)
{
	return snmp_windows_parse(value, field, err, errlen);
}

struct strlist_ctx {
	struct strlist *l;
	char *err;
	size_t errlen;
};

static int add_community(char *item, void *arg)
{
	struct strlist_ctx *c = arg;
	struct strlist *l = c->l;
	char **v;

	if (l->n == SNMP_MAX_COMMUNITIES || strlen(item) > 255) {
		snprintf(c->err, c->errlen, "at most %d communities of up to 255 characters", SNMP_MAX_COMMUNITIES);
		return -EINVAL;
	}
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(l->v[l->n] = strdup(item)))
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

static int parse_strlist(const char *value, void *field, char *err, size_t errlen)
{
	struct strlist_ctx c = {field, err, errlen};
	int r = snmp_split_list(value, add_community, &c);

	if (r < 0)
		return r;
	if (!c.l->n) {
		snprintf(err, errlen, "expected one or more community names separated by commas");
		return -EINVAL;
	}
	return 0;
}

static void free_strlist(void *field)
{
	struct strlist *l = field;
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct strlist){0};
}

#define OPT(k, t, f, d, ...) {.key = k, .type = t, .offset = offsetof(struct snmp_conf, f), .def = d, __VA_ARGS__}

static const struct scout_option snmp_options[] = {
	OPT("ranges", SCOUT_OPT_CUSTOM, ranges, NULL, .parse = parse_ranges, .free = free_ranges,
	    .help = "addresses to sweep: CIDR blocks, a.b.c.d-a.b.c.e spans and addresses, IPv4 and IPv6, "
		    "separated by commas"),
	OPT("exclude", SCOUT_OPT_CUSTOM, exclude, "", .parse = parse_ranges, .free = free_ranges,
	    .help = "addresses never sent a packet, same syntax as ranges"),
	OPT("communities", SCOUT_OPT_CUSTOM, communities, "public", .parse = parse_strlist, .free = free_strlist,
	    .secret = true, .help = "SNMPv1/v2c communities tried in order; the one that answers is remembered"),
	OPT("version", SCOUT_OPT_ENUM, version, "2c", .choices = versions,
	    .help = "2c (falls back to 1 for devices that answer only SNMPv1), 1, or 3"),
	OPT("v3_user", SCOUT_OPT_STRING, v3_user, "", .help = "SNMPv3 USM user name (version = 3)"),
	OPT("v3_auth", SCOUT_OPT_ENUM, v3_auth, "sha256", .choices = v3_auths,
	    .help = "SNMPv3 authentication: sha (HMAC-SHA-96) or sha256 (HMAC-SHA-256)"),
	OPT("v3_auth_password", SCOUT_OPT_STRING, v3_auth_password, "", .secret = true,
	    .help = "SNMPv3 authentication pass phrase (at least 8 characters)"),
	OPT("v3_priv", SCOUT_OPT_ENUM, v3_priv, "aes", .choices = v3_privs,
	    .help = "SNMPv3 privacy: aes (AES-128-CFB) or none"),
	OPT("v3_priv_password", SCOUT_OPT_STRING, v3_priv_password, "", .secret = true,
	    .help = "SNMPv3 privacy pass phrase (at least 8 characters)"),
	OPT("port", SCOUT_OPT_INT, port, "161", .min = 1, .max = 65535, .help = "UDP port of the agents"),
	OPT("timeout_ms", SCOUT_OPT_INT, timeout_ms, "1000", .min = 10, .max = 60000,
	    .help = "milliseconds to wait for an answer before a retry"),
	OPT("retries", SCOUT_OPT_INT, retries, "1", .min = 0, .max = 10, .help = "retries after a timeout"),
	OPT("rate", SCOUT_OPT_INT, rate, "500", .min = 0, .max = 1000000,
	    .help = "requests sent per second at most, to limit network use; 0 means no limit"),
	OPT("max_inflight", SCOUT_OPT_INT, max_inflight, "256", .min = 1, .max = 65536,
	    .help = "requests awaiting an answer at once"),
	OPT("windows", SCOUT_OPT_CUSTOM, windows, "always", .parse = parse_windows,
	    .help = "when sweeps may run, local time: e.g. mon-fri 07:00-19:00, sat 08:00-12:00; a sweep "
		    "running when a window closes pauses"),
	OPT("discovery_interval", SCOUT_OPT_DURATION, discovery_interval, "12h", .min = 0, .max = 30LL * 86400000,
	    .help = "time between sweeps of the ranges; 0 sweeps only on scoutctl scan"),
	OPT("status_interval", SCOUT_OPT_DURATION, status_interval, "15m", .min = 0, .max = 7LL * 86400000,
	    .help = "time between re-reads of known printers (meters, supplies, status); 0 turns them off"),
	OPT("meter_history", SCOUT_OPT_INT, meter_history, "5000", .min = 1, .max = 1000000,
	    .help = "meter readings kept per printer (one is kept only when a meter changed)"),
	OPT("max_devices", SCOUT_OPT_INT, max_devices, "20000", .min = 1, .max = 1000000,
	    .help = "printer records kept at most; a new printer past it is not recorded (logged once, counted as "
		    "devices_refused), none already known is dropped for it"),
	OPT("max_per_address", SCOUT_OPT_INT, max_per_address, "4", .min = 1, .max = 1000,
	    .help = "records that name one address: the printer there and the ones before it; past it the one seen "
		    "longest ago is forgotten"),
	OPT("forget_after", SCOUT_OPT_DURATION, forget_after, "90d", .min = 0, .max = 3650LL * 86400000,
	    .help = "printers and other hosts no sweep or status read has reached for this long are forgotten, "
		    "with their meter history, at the end of a sweep; 0 never forgets"),
	{0},
};

static void snmp_configure(void *p, struct scout_check *c)
{
	struct snmp_conf *conf = p;
	char err[256];

	if (conf->version == VERSION_3) {
		if (!*conf->v3_user)
			scout_check_error(c, "v3_user", "required with version = 3");
		if (strlen(conf->v3_auth_password) < 8)
			scout_check_error(c, "v3_auth_password", "required with version = 3, at least 8 characters");
		if (conf->v3_priv == 0 && strlen(conf->v3_priv_password) < 8)
			scout_check_error(c, "v3_priv_password", "required with v3_priv = aes, at least 8 characters");
	}
	if (conf->forget_after && conf->discovery_interval && conf->forget_after <= conf->discovery_interval)
		scout_check_error(c, "forget_after",
				  "must be longer than discovery_interval (or 0 for never): a printer switched off "
				  "during one sweep would be forgotten");
	struct snmp_ranges targets;
	if (targets_of(conf, &targets) < 0) {
		scout_check_error(c, "ranges", "out of memory");
		return;
	}
	if (targets.total > SNMP_RANGES_MAX_TOTAL) {
		snprintf(err, sizeof(err), "covers more than %llu addresses; sweep smaller ranges",
			 (unsigned long long)SNMP_RANGES_MAX_TOTAL);
		scout_check_error(c, "ranges", "%s", err);
	} else if (!targets.total) {
		scout_check_error(c, "ranges", "no address left to sweep after exclude");
	}
	/* allowed, but seldom meant: said at --check-config, start and reload */
	snmp_addr128 a;
	char ip[64];
	if (snmp_ranges_first_public(&targets, &a))
		scout_check_warn(c, "ranges",
				 "includes public address space (%s first): sweep only networks you run, or exclude it",
				 snmp_addr_format(a, ip, sizeof(ip)));
	if (snmp_ranges_first_group(&targets, &a))
		scout_check_warn(c, "ranges",
				 "includes a multicast or broadcast address (%s): one request there reaches many hosts; "
				 "exclude it",
				 snmp_addr_format(a, ip, sizeof(ip)));
	snmp_ranges_free(&targets);
	if (conf->discovery_interval && conf->discovery_interval < 60000)
		scout_check_warn(c, "discovery_interval",
				 "under a minute: sweeps would run almost without pause and load the network; 12h is usual");
	if (conf->rate > 10000)
		scout_check_warn(c, "rate", "over 10,000 requests a second can flood links and printers; 500 is usual");
}

static enum snmp_version version_of(const struct snmp_conf *conf)
{
	return conf->version == VERSION_1 ? SNMP_V1 : conf->version == VERSION_3 ? SNMP_V3 : SNMP_V2C;
}

/* Gives the io the SNMPv3 user (keys derived here, once). */
static int apply_v3(struct snmp_io *io, const struct snmp_conf *conf)
{
	if (conf->version != VERSION_3)
		return 0;
	struct snmp_v3_cred cred = {
		.user = conf->v3_user,
		.sha256 = conf->v3_auth == 1,
		.auth_pass = conf->v3_auth_password,
		.priv_pass = conf->v3_priv == 0 ? conf->v3_priv_password : NULL,
	};
	return snmp_io_set_v3(io, &cred);
}

static bool same_v3(const struct snmp_conf *a, const struct snmp_conf *b)
{
	return a->version == b->version && a->v3_auth == b->v3_auth && a->v3_priv == b->v3_priv &&
	       strcmp(a->v3_user, b->v3_user) == 0 && strcmp(a->v3_auth_password, b->v3_auth_password) == 0 &&
	       strcmp(a->v3_priv_password, b->v3_priv_password) == 0;
}

/* ---- state ------------------------------------------------------------------ */

struct waiter {
	struct scout_status_req *req;
	struct scout_list link;
};

struct sweep {
	bool running, paused, pending; /* pending: asked for while windows are closed */
	bool manual;
	struct snmp_ranges targets;
	struct snmp_auth auth;
	char **communities; /* owned copies */
	size_t iv;          /* cursor: interval and offset in it */
	snmp_addr128 off;
	uint64_t total, started, probed, responders, printers, inflight;
	uint64_t started_ms, finished_ms;
	uint64_t bytes_printers, bytes_others; /* probe bytes by outcome */
	struct scout_list waiters;
};

struct active_read {
	struct snmp_read *read;
	struct snmp_mod_state *s;
	bool full, sweep;
	enum snmp_version version;
	unsigned community; /* index in the configured list */
	char ip[64];
	struct scout_list link;
};

struct snmp_mod_state {
	struct scout_mod *m;
	struct snmp_io *io;
	struct snmp_inventory *inv;
	uv_timer_t discovery, status, window;
	struct scout_closer closer; /* the timers and the io */
	bool timers_ready, stopping, closed;
	struct scout_sub *lookup;
	struct scout_topic *t_device, *t_meters, *t_alert;
	struct sweep sweep;
	struct scout_list reads;
	unsigned nreads;
	json_t *last_sweep;
	/* counters */
	uint64_t sweeps, probes, reads_ok, reads_failed, status_reads;
	uint64_t read_bytes, full_reads;
};

static void sweep_fill(void *arg);
static void finish_sweep(struct snmp_mod_state *s);
static void maybe_stopped(struct snmp_mod_state *s);

static const struct snmp_conf *conf_of(struct snmp_mod_state *s)
{
	return scout_mod_conf(s->m);
}

static uint64_t now_ms(struct snmp_mod_state *s)
{
	return uv_now(scout_mod_loop(s->m));
}

/* ---- bus -------------------------------------------------------------------- */

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
			log_info("snmp: %s: a meter went down (reset recorded)", json_string_value(json_object_get(rec, "id")));
	}
	if (flags & SNMP_INV_ALERTS) {
		json_t *a = json_pack("{s:O, s:O, s:I}", "id", json_object_get(rec, "id"), "ip",
				      json_object_get(rec, "ip") ? json_object_get(rec, "ip") : json_null(), "time",
				      (json_int_t)time(NULL));
		if (json_object_get(rec, "serial"))
			json_object_set(a, "serial", json_object_get(rec, "serial"));
		json_object_set_new(a, "errors", json_object_get(rec, "errors") ? json_incref(json_object_get(rec, "errors"))
										 : json_array());
		json_object_set_new(a, "alerts", json_object_get(rec, "alerts") ? json_incref(json_object_get(rec, "alerts"))
										 : json_array());
		publish_json(s, s->t_alert, a);
		json_decref(a);
	}
}

/* snmp.lookup: {"ip": str} or {"serial": str} -> the record */
static void on_lookup(const struct scout_msg *msg, void *arg)
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
	    (scout_pack_get_str(&u.data, "ip", &key, &klen) == 0 || scout_pack_get_str(&u.data, "serial", &key, &klen) == 0) &&
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

/* ---- reads -------------------------------------------------------------------- */

static int start_read(struct snmp_mod_state *s, snmp_addr128 addr, enum snmp_version version, unsigned community,
		      const struct snmp_vendor *vendor, bool full, bool from_sweep);

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
					    : json_pack("{s:s, s:i}", "version", a->version == SNMP_V1 ? "1" : "2c", "community",
							(int)a->community + 1));
		json_t *known = a->full ? NULL : snmp_inventory_find(s->inv, a->ip);
		if (known && !same_device(known, fresh)) {
			/* another device answers at this address now: read it whole */
			log_info("snmp: %s: a different device answers now; reading it in full", a->ip);
			json_decref(fresh);
			snmp_addr128 addr;
			if (snmp_addr_parse(a->ip, &addr) == 0)
				start_read(s, addr, a->version, a->community, vendor, true, false);
		} else if ((rc = snmp_inventory_update(s->inv, fresh, a->full, time(NULL), &rec, &flags, &reading)) == 0) {
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
		finish_sweep(s);
	}
	maybe_stopped(s);
}

static int start_read(struct snmp_mod_state *s, snmp_addr128 addr, enum snmp_version version, unsigned community,
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
	scout_list_foreach(o, &s->reads, link)
		if (strcmp(o->ip, a->ip) == 0) {
			free(a);
			return -EALREADY; /* one read per device at a time */
		}
	r = snmp_read_start(s->io, addr, (uint16_t)conf->port, version, conf->communities.v[community],
			    (uint32_t)conf->timeout_ms,
			    (unsigned)conf->retries, vendor, full ? SNMP_READ_FULL : SNMP_READ_STATUS, read_done, a,
			    &a->read);
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

/* ---- sweep -------------------------------------------------------------------- */

static json_t *sweep_summary(struct snmp_mod_state *s)
{
	struct sweep *w = &s->sweep;
	uint64_t end = w->running ? now_ms(s) : w->finished_ms;
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "probed", (json_int_t)w->probed, "total", (json_int_t)w->total,
			      "responders", (json_int_t)w->responders, "printers", (json_int_t)w->printers,
			      "duration_ms", (json_int_t)(end - w->started_ms));
	if (w->printers)
		json_object_set_new(o, "probe_bytes_per_printer", json_integer((json_int_t)(w->bytes_printers / w->printers)));
	if (w->responders > w->printers)
		json_object_set_new(o, "probe_bytes_per_other",
				    json_integer((json_int_t)(w->bytes_others / (w->responders - w->printers))));
	return o;
}

static void free_sweep_auth(struct sweep *w)
{
	for (unsigned i = 0; w->communities && w->communities[i]; i++)
		free(w->communities[i]);
	free(w->communities);
	w->communities = NULL;
	snmp_ranges_free(&w->targets);
}

static void finish_sweep(struct snmp_mod_state *s)
{
	struct sweep *w = &s->sweep;
	char ts[32];

	if (!w->running || w->inflight || w->started < w->total)
		return;
	w->running = false;
	w->finished_ms = now_ms(s);
	json_t *sum = sweep_summary(s);
	snmp_iso_time(time(NULL), ts, sizeof(ts));
	json_object_set_new(sum, "finished", json_string(ts));
	log_info("snmp: sweep done: %" PRIu64 " addresses probed, %" PRIu64 " answered, %" PRIu64
		 " printers, %" PRIu64 " ms",
		 w->probed, w->responders, w->printers, w->finished_ms - w->started_ms);
	json_decref(s->last_sweep);
	s->last_sweep = json_incref(sum);
	if (!s->stopping) {
		snmp_inventory_save_meta(s->inv, "last_sweep", sum);
		/* only now: every address was just asked, so unseen means gone,
		 * not "scoutd was not running" */
		snmp_inventory_expire(s->inv, time(NULL), conf_of(s)->forget_after / 1000, NULL);
	}
	struct waiter *x, *tmp;
	scout_list_foreach_safe(x, tmp, &w->waiters, link) {
		scout_list_remove(&x->link);
		scout_status_reply(x->req, json_pack("{s:O}", "scan", sum));
		free(x);
	}
	json_decref(sum);
	free_sweep_auth(w);
	snmp_io_on_room(s->io, NULL, NULL);
}

static void on_probe(struct snmp_probe *p, const struct snmp_probe_result *res, void *arg)
{
	struct snmp_mod_state *s = arg;
	struct sweep *w = &s->sweep;
	(void)p;

	w->probed++;
	s->probes++;
	if (res->answered && !s->stopping) {
		char ip[64], oid[SNMP_MAX_OID * 11] = "";
		w->responders++;
		snmp_addr_format(res->addr, ip, sizeof(ip));
		if (res->sysobjectid.n)
			snmp_oid_format(res->sysobjectid.arc, res->sysobjectid.n, oid, sizeof(oid));
		if (res->printer) {
			w->printers++;
			w->bytes_printers += res->bytes;
			const struct snmp_vendor *v = snmp_vendor_match(res->sysobjectid.n ? res->sysobjectid.arc : NULL,
									res->sysobjectid.n, res->descr[0] ? res->descr : NULL);
			/* counted before it starts, and this probe only after: starting
			 * the read may pump the io, call sweep_fill and end the sweep
			 * before the printer it found is read */
			w->inflight++;
			if (start_read(s, res->addr, res->version, res->community, v, true, true) < 0)
				w->inflight--;
		} else {
			w->bytes_others += res->bytes;
			snmp_inventory_nonprinter(s->inv, ip, res->descr, oid, time(NULL));
		}
	}
	w->inflight--;
	finish_sweep(s);
}

/* Next address of the sweep, or false at the end. */
static bool next_addr(struct sweep *w, snmp_addr128 *ret)
{
	while (w->iv < w->targets.n) {
		const struct snmp_interval *iv = &w->targets.iv[w->iv];
		if (iv->lo + w->off <= iv->hi && !(w->off && iv->lo + w->off == 0)) {
			*ret = iv->lo + w->off++;
			return true;
		}
		w->iv++;
		w->off = 0;
	}
	return false;
}

/* Starts probes while the io has room: the sweep never queues more than
 * can go out, so reads of the printers it finds are never stuck behind it. */
static void sweep_fill(void *arg)
{
	struct snmp_mod_state *s = arg;
	struct sweep *w = &s->sweep;
	snmp_addr128 a;

	if (!w->running || w->paused || s->stopping)
		return;
	/* a probe sends one request per community (one for SNMPv3) */
	uint32_t need = w->auth.version == SNMP_V3 ? 1 : w->auth.ncommunities;
	while (snmp_io_room_for(s->io, need) && next_addr(w, &a)) {
		/* counted before it starts: starting it may call back in here */
		w->started++;
		w->inflight++;
		if (snmp_probe_start(s->io, &w->auth, a, on_probe, s, NULL) < 0) {
			w->inflight--;
			w->probed++;
		}
	}
	finish_sweep(s);
}

static void arm_window(struct snmp_mod_state *s);

/* 0, -EALREADY (one is running), -EAGAIN (outside the windows: it will
 * start when one opens). */
static int start_sweep(struct snmp_mod_state *s, bool force)
{
	const struct snmp_conf *conf = conf_of(s);
	struct sweep *w = &s->sweep;

	if (w->running)
		return -EALREADY;
	if (!force && !snmp_windows_open(&conf->windows, time(NULL))) {
		w->pending = true;
		arm_window(s);
		return -EAGAIN;
	}
	free_sweep_auth(w);
	if (targets_of(conf, &w->targets) < 0)
		return -ENOMEM;
	w->communities = calloc(conf->communities.n + 1, sizeof(char *));
	if (!w->communities) {
		snmp_ranges_free(&w->targets);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < conf->communities.n; i++)
		w->communities[i] = strdup(conf->communities.v[i]);
	w->auth = (struct snmp_auth){
		.version = version_of(conf),
		.v1_fallback = conf->version == VERSION_2C,
		.communities = (const char *const *)w->communities,
		.ncommunities = conf->communities.n,
		.port = (uint16_t)conf->port,
		.timeout_ms = (uint32_t)conf->timeout_ms,
		.retries = (unsigned)conf->retries,
	};
	w->running = true;
	w->paused = w->pending = false;
	w->manual = force;
	w->iv = 0;
	w->off = 0;
	w->total = w->targets.total;
	w->started = w->probed = w->responders = w->printers = w->inflight = 0;
	w->bytes_printers = w->bytes_others = 0;
	w->started_ms = now_ms(s);
	s->sweeps++;
	log_info("snmp: sweep of %" PRIu64 " addresses started", w->total);
	snmp_io_on_room(s->io, sweep_fill, s);
	sweep_fill(s);
	return 0;
}

/* ---- timers ------------------------------------------------------------------- */

static void on_window(uv_timer_t *t)
{
	struct snmp_mod_state *s = t->data;
	const struct snmp_conf *conf = conf_of(s);
	bool open = snmp_windows_open(&conf->windows, time(NULL));
	struct sweep *w = &s->sweep;

	if (w->running && !open && !w->manual && !w->paused) {
		w->paused = true;
		log_info("snmp: sweep paused: outside the sweep windows");
	} else if (w->running && open && w->paused) {
		w->paused = false;
		log_info("snmp: sweep resumed");
		sweep_fill(s);
	} else if (!w->running && open && w->pending) {
		start_sweep(s, false);
	}
	arm_window(s);
}

static void arm_window(struct snmp_mod_state *s)
{
	const struct snmp_conf *conf = conf_of(s);
	int64_t secs = snmp_windows_next_change(&conf->windows, time(NULL));

	if (conf->windows.always || s->stopping)
		return;
	uv_timer_start(&s->window, on_window, (uint64_t)secs * 1000 + 50, 0);
}

static void on_discovery(uv_timer_t *t)
{
	struct snmp_mod_state *s = t->data;

	start_sweep(s, false);
}

static void on_status_timer(uv_timer_t *t)
{
	struct snmp_mod_state *s = t->data;
	const struct snmp_conf *conf = conf_of(s);
	json_t *list = snmp_inventory_list(s->inv, false), *rec;
	size_t i;

	json_array_foreach(list, i, rec)
	{
		const char *ip = json_string_value(json_object_get(rec, "ip"));
		snmp_addr128 a;
		if (!ip || snmp_addr_parse(ip, &a) < 0)
			continue;
		struct snmp_oid oid = {0};
		const char *o = json_string_value(json_object_get(rec, "sysobjectid"));
		if (o)
			snmp_oid_parse(o, &oid);
		const struct snmp_vendor *v = snmp_vendor_match(oid.n ? oid.arc : NULL, oid.n,
								json_string_value(json_object_get(rec, "description")));
		json_t *how = json_object_get(rec, "snmp");
		const char *ver = json_string_value(json_object_get(how, "version"));
		json_int_t community = json_integer_value(json_object_get(how, "community"));
		enum snmp_version version = version_of(conf);
		if (version == SNMP_V2C && ver && strcmp(ver, "1") == 0)
			version = SNMP_V1; /* remembered: this one answers only v1 */
		start_read(s, a, version, community > 0 ? (unsigned)community - 1 : 0, v, false, false);
	}
	json_decref(list);
}

/* ---- commands ----------------------------------------------------------------- */

static bool arg_true(json_t *request, const char *key)
{
	return json_is_true(json_object_get(request, key));
}

/* {"cmd":"scan","wait":bool,"force":bool} */
static void cmd_scan(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct snmp_mod_state *s = scout_mod_priv(m);
	int r = start_sweep(s, arg_true(request, "force"));

	if (r == -EAGAIN) {
		scout_status_error(req, "unavailable",
				   "outside the sweep windows; the sweep starts when one opens (scan --force sweeps now)");
		return;
	}
	if (r < 0 && r != -EALREADY) {
		scout_status_error(req, "internal", "cannot start a sweep: %s", strerror(-r));
		return;
	}
	if (!arg_true(request, "wait")) {
		json_t *sum = sweep_summary(s);
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

	json_array_foreach(json_object_get(dev, "supplies"), i, sup)
	{
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
	json_array_foreach(list, i, rec)
	{
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
	{"description", "SUPPLY", 0}, {"kind", "KIND", 0},   {"colorant", "COLORANT", 0},
	{"level_percent|level_state", "LEVEL", 0}, {"level", "RAW", 0}, {"max", "MAX", 0}, {"unit", "UNIT", 0}, {0},
};
static const struct scout_column history_columns[] = {
	{"time", "READING", 0}, {"total", "TOTAL", 0}, {"mono", "MONO", 0}, {"color", "COLOR", 0}, {"reset", "RESET", 0},
	{0},
};
static const struct scout_table device_tables[] = {
	{"device.alerts", alert_columns},
	{"device.supplies", supply_columns},
	{"history", history_columns},
	{0},
};

static const struct scout_command snmp_commands[] = {
	{"scan", cmd_scan, "sweep the snmp ranges now", scan_args, NULL, scan_text},
	{"devices", cmd_devices, "the printers found", devices_args, devices_tables, NULL},
	{"device", cmd_device, "one printer with its supplies and meter history", device_args, device_tables, NULL},
	{0},
};

/* ---- lifecycle ---------------------------------------------------------------- */

static void arm_intervals(struct snmp_mod_state *s)
{
	const struct snmp_conf *conf = conf_of(s);

	if (conf->discovery_interval) {
		/* the first sweep soon after start unless one ran within the interval */
		uint64_t first = 2000;
		json_t *last = s->last_sweep;
		const char *fin = json_string_value(json_object_get(last, "finished"));
		struct tm tm = {0};
		if (fin && strptime(fin, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
			time_t at = timegm(&tm), now = time(NULL);
			uint64_t due = (uint64_t)at * 1000 + conf->discovery_interval;
			if (at <= now && due > (uint64_t)now * 1000)
				first = due - (uint64_t)now * 1000;
		}
		uv_timer_start(&s->discovery, on_discovery, first, conf->discovery_interval);
	} else {
		uv_timer_stop(&s->discovery);
	}
	if (conf->status_interval)
		uv_timer_start(&s->status, on_status_timer, conf->status_interval, conf->status_interval);
	else
		uv_timer_stop(&s->status);
}

static void start_timers(struct snmp_mod_state *s)
{
	arm_intervals(s);
	uv_timer_stop(&s->window);
	arm_window(s);
}

static int snmp_start(struct scout_mod *m)
{
	const struct snmp_conf *conf = scout_mod_conf(m);
	struct snmp_mod_state *s = calloc(1, sizeof(*s));
	struct scout_db *db;
	int r;

	if (!s)
		return -ENOMEM;
	s->m = m;
	scout_list_init(&s->reads);
	scout_list_init(&s->sweep.waiters);
	scout_closer_init(&s->closer);
	scout_mod_set_priv(m, s);
	if ((r = scout_mod_db(m, &db)) < 0) {
		scout_mod_fail(m, "cannot open its store database: %s", strerror(-r));
		return r;
	}
	if ((r = snmp_inventory_open(scout_mod_store(m), db, &s->inv)) < 0) {
		scout_mod_fail(m, "cannot load the inventory: %s", strerror(-r));
		return r;
	}
	/* records are written off the loop thread from now on */
	if ((r = snmp_inventory_write_async(s->inv, scout_mod_loop(m))) < 0) {
		scout_mod_fail(m, "cannot write the inventory in the background: %s", strerror(-r));
		return r;
	}
	snmp_inventory_set_history(s->inv, conf->meter_history);
	snmp_inventory_set_limits(s->inv, (size_t)conf->max_devices, (unsigned)conf->max_per_address);
	s->last_sweep = snmp_inventory_load_meta(s->inv, "last_sweep");
	struct snmp_io_limits lim = {(uint32_t)conf->rate, (uint32_t)conf->max_inflight};
	if ((r = snmp_io_new(scout_mod_loop(m), &lim, &s->io)) < 0) {
		scout_mod_fail(m, "cannot create its sockets: %s", strerror(-r));
		return r;
	}
	if ((r = apply_v3(s->io, conf)) < 0) {
		scout_mod_fail(m, "cannot set up the SNMPv3 user: %s", strerror(-r));
		return r;
	}
	struct scout_topic *lookup;
	if ((r = scout_mod_topic(m, "snmp.device", &s->t_device)) < 0 ||
	    (r = scout_mod_topic(m, "snmp.meters", &s->t_meters)) < 0 ||
	    (r = scout_mod_topic(m, "snmp.alert", &s->t_alert)) < 0 || (r = scout_mod_topic(m, "snmp.lookup", &lookup)) < 0)
		return r;
	if ((r = scout_bus_subscribe(scout_mod_bus(m), lookup, on_lookup, s, 256, &s->lookup)) < 0)
		return r;
	uv_timer_init(scout_mod_loop(m), &s->discovery);
	uv_timer_init(scout_mod_loop(m), &s->status);
	uv_timer_init(scout_mod_loop(m), &s->window);
	s->discovery.data = s->status.data = s->window.data = s;
	s->timers_ready = true;
	log_info("snmp: %zu printers known; sweeping %s every %s", snmp_inventory_count(s->inv, true),
		 conf->ranges.n ? "the configured ranges" : "nothing", conf->discovery_interval ? "interval" : "scan");
	start_timers(s);
	return 0;
}

/* scout_mod_conf() is the new configuration here; old is the one it
 * replaces. Nothing changes before the one step that can fail. */
static int snmp_reload(struct scout_mod *m, const void *old_conf)
{
	const struct snmp_conf *conf = scout_mod_conf(m), *old = old_conf;
	struct snmp_mod_state *s = scout_mod_priv(m);
	struct snmp_io_limits lim = {(uint32_t)conf->rate, (uint32_t)conf->max_inflight};
	int r;

	if (!same_v3(conf, old) && (r = apply_v3(s->io, conf)) < 0) {
		scout_mod_refuse(m, "cannot set up the SNMPv3 user '%s': %s", conf->v3_user, strerror(-r));
		return r;
	}
	snmp_io_set_limits(s->io, &lim);
	snmp_inventory_set_history(s->inv, conf->meter_history);
	snmp_inventory_set_limits(s->inv, (size_t)conf->max_devices, (unsigned)conf->max_per_address);
	/* a changed interval takes effect now (re-arming an unchanged one
	 * would only push its next run back) */
	if (conf->discovery_interval != old->discovery_interval || conf->status_interval != old->status_interval)
		arm_intervals(s);
	/* the windows may have changed: at once (from the loop, not inside
	 * the reload), pause, resume or start a waiting sweep as they say */
	uv_timer_start(&s->window, on_window, 0, 0);
	return 0;
}

static void maybe_stopped(struct snmp_mod_state *s)
{
	if (!s->stopping || !s->closed || !scout_list_empty(&s->reads))
		return;
	struct scout_mod *m = s->m;
	snmp_inventory_free(s->inv);
	json_decref(s->last_sweep);
	free_sweep_auth(&s->sweep);
	free(s);
	scout_mod_stopped(m);
}

static void on_closed(void *arg)
{
	struct snmp_mod_state *s = arg;

	s->closed = true;
	maybe_stopped(s);
}

static void on_io_closed(void *arg)
{
	struct snmp_mod_state *s = arg;

	scout_closer_release(&s->closer);
}

static void on_inventory_flushed(void *arg)
{
	struct snmp_mod_state *s = arg;

	scout_closer_release(&s->closer);
}

static void snmp_stop(struct scout_mod *m)
{
	struct snmp_mod_state *s = scout_mod_priv(m);

	if (!s) {
		scout_mod_stopped(m);
		return;
	}
	s->stopping = true;
	scout_bus_unsubscribe(s->lookup);
	s->lookup = NULL;
	struct waiter *w, *tmp;
	scout_list_foreach_safe(w, tmp, &s->sweep.waiters, link) {
		scout_list_remove(&w->link);
		scout_status_error(w->req, "unavailable", "the snmp module is stopping");
		free(w);
	}
	/* cancelling the io ends every probe and read with -ECANCELED */
	if (s->io) {
		scout_closer_hold(&s->closer);
		snmp_io_close(s->io, on_io_closed, s);
	}
	/* the records already written to memory reach the disk before stopped */
	if (s->inv) {
		scout_closer_hold(&s->closer);
		snmp_inventory_flush(s->inv, on_inventory_flushed, s);
	}
	if (s->timers_ready) {
		scout_closer_close(&s->closer, (uv_handle_t *)&s->discovery);
		scout_closer_close(&s->closer, (uv_handle_t *)&s->status);
		scout_closer_close(&s->closer, (uv_handle_t *)&s->window);
	}
	scout_closer_wait(&s->closer, on_closed, s); /* last: it may free s */
}

static void snmp_status(struct scout_mod *m, json_t *obj)
{
	struct snmp_mod_state *s = scout_mod_priv(m);
	const struct snmp_io_stats *io = snmp_io_stats(s->io);
	json_t *c = json_object_get(obj, "counters");
	struct sweep *w = &s->sweep;

	json_object_set_new(obj, "printers", json_integer((json_int_t)snmp_inventory_count(s->inv, true)));
	json_object_set_new(obj, "other_hosts", json_integer((json_int_t)snmp_inventory_count(s->inv, false)));
	json_t *sw = sweep_summary(s);
	const char *state = w->running ? (w->paused ? "paused" : "running") : w->pending ? "waiting_for_window" : "idle";
	json_object_set_new(sw, "state", json_string(state));
	if (w->running && w->probed) {
		uint64_t el = now_ms(s) - w->started_ms;
		json_object_set_new(sw, "eta_s", json_integer((json_int_t)(el * (w->total - w->probed) / w->probed / 1000)));
	}
	json_object_set_new(obj, "sweep", w->running || w->pending ? sw : (json_decref(sw), json_null()));
	json_object_set(obj, "last_sweep", s->last_sweep ? s->last_sweep : json_null());
	json_object_set_new(obj, "reads_in_flight", json_integer(s->nreads));
	/* one line for people (scoutctl's DETAIL column) */
	char detail[160];
	if (w->running)
		snprintf(detail, sizeof(detail), "%zu printers; sweep %s: %" PRIu64 " of %" PRIu64 " probed, %" PRIu64
			 " printers so far", snmp_inventory_count(s->inv, true), w->paused ? "paused" : "running", w->probed,
			 w->total, w->printers);
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

static const struct scout_topic_decl snmp_topics[] = {
	{"snmp.device", SCOUT_TOPIC_EVENT,
	 "when a printer is found or re-read; map: event (\"found\" or \"updated\"), device (the record of "
	 "docs/snmp.md)"},
	{"snmp.meters", SCOUT_TOPIC_EVENT,
	 "when a meter changed; map: id str (s:SERIAL, m:MAC or i:IP), ip str, serial str (when known), time uint "
	 "(unix s), total/mono/color uint (those the device reports), reset bool (a meter went down)"},
	{"snmp.alert", SCOUT_TOPIC_EVENT,
	 "when a printer's errors or alerts change; map: id, ip, serial (when known), time uint, errors [str] "
	 "(hrPrinterDetectedErrorState names), alerts [map: code, severity, group, text]"},
	{"snmp.lookup", SCOUT_TOPIC_REQUEST,
	 "map {ip: str} or {serial: str}; reply: the device record map, or -ENOENT when no printer matches"},
	{0},
};

const struct scout_module scout_snmp_module = {
	.name = "snmp",
	.summary = "discovers printers over SNMP and reads identity, supplies, meters and status",
	.default_enabled = false,
	.options = snmp_options,
	.conf_size = sizeof(struct snmp_conf),
	.configure = snmp_configure,
	.start = snmp_start,
	.reload = snmp_reload,
	.status = snmp_status,
	.stop = snmp_stop,
	.commands = snmp_commands,
	.topics = snmp_topics,
};
