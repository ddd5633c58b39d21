/* The sweep scheduler: sweeps of the configured ranges (one at a time,
 * started by the discovery timer, by scan, or when a window opens), their
 * probes fed to the io as it has room, the pauses outside the sweep
 * windows, and the timers that start sweeps and status reads. It owns
 * struct sweep and the three timers' callbacks. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/log.h"
#include "loop/status.h"
#include "state.h"
#include "text.h"

static void sweep_fill(void *arg);
static void arm_window(struct snmp_mod_state *s);

json_t *snmp_sweep_summary(struct snmp_mod_state *s)
{
	struct sweep *w = &s->sweep;
	uint64_t end = w->running ? now_ms(s) : w->finished_ms;
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "probed", (json_int_t)w->probed, "total",
			      (json_int_t)w->total, "responders", (json_int_t)w->responders, "printers",
			      (json_int_t)w->printers, "duration_ms", (json_int_t)(end - w->started_ms));
	if (w->printers)
		json_object_set_new(o, "probe_bytes_per_printer",
				    json_integer((json_int_t)(w->bytes_printers / w->printers)));
	if (w->responders > w->printers)
		json_object_set_new(o, "probe_bytes_per_other",
				    json_integer((json_int_t)(w->bytes_others / (w->responders - w->printers))));
	return o;
}

void snmp_free_sweep_auth(struct sweep *w)
{
	for (unsigned i = 0; w->communities && w->communities[i]; i++)
		free(w->communities[i]);
	free(w->communities);
	w->communities = NULL;
	snmp_ranges_free(&w->targets);
}

void snmp_finish_sweep(struct snmp_mod_state *s)
{
	struct sweep *w = &s->sweep;
	char ts[32];

	if (!w->running || w->inflight || w->started < w->total)
		return;
	w->running = false;
	w->finished_ms = now_ms(s);
	json_t *sum = snmp_sweep_summary(s);
	scout_iso_time(time(NULL), ts, sizeof(ts));
	json_object_set_new(sum, "finished", json_string(ts));
	log_info("snmp: sweep done: %" PRIu64 " addresses probed, %" PRIu64 " answered, %" PRIu64 " printers, %" PRIu64
		 " ms",
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
	scout_list_foreach_safe (x, tmp, &w->waiters, link) {
		scout_list_remove(&x->link);
		scout_status_reply(x->req, json_pack("{s:O}", "scan", sum));
		free(x);
	}
	json_decref(sum);
	snmp_free_sweep_auth(w);
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
			const struct snmp_vendor *v =
				snmp_vendor_match(res->sysobjectid.n ? res->sysobjectid.arc : NULL, res->sysobjectid.n,
						  res->descr[0] ? res->descr : NULL);
			/* counted before it starts, and this probe only after: starting
			 * the read may pump the io, call sweep_fill and end the sweep
			 * before the printer it found is read */
			w->inflight++;
			if (snmp_read_device(s, res->addr, res->version, res->community, v, true, true) < 0)
				w->inflight--;
		} else {
			w->bytes_others += res->bytes;
			snmp_inventory_nonprinter(s->inv, ip, res->descr, oid, time(NULL));
		}
	}
	w->inflight--;
	snmp_finish_sweep(s);
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
	snmp_finish_sweep(s);
}
int snmp_start_sweep(struct snmp_mod_state *s, bool force)
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
	snmp_free_sweep_auth(w);
	if (snmp_targets_of(conf, &w->targets) < 0)
		return -ENOMEM;
	w->communities = calloc(conf->communities.n + 1, sizeof(char *));
	if (!w->communities) {
		snmp_ranges_free(&w->targets);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < conf->communities.n; i++)
		w->communities[i] = strdup(conf->communities.v[i]);
	w->auth = (struct snmp_auth){
		.version = snmp_version_of(conf),
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
		snmp_start_sweep(s, false);
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

	snmp_start_sweep(s, false);
}

static void on_status_timer(uv_timer_t *t)
{
	struct snmp_mod_state *s = t->data;
	const struct snmp_conf *conf = conf_of(s);
	json_t *list = snmp_inventory_list(s->inv, false), *rec;
	size_t i;

	json_array_foreach (list, i, rec) {
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
		enum snmp_version version = snmp_version_of(conf);
		if (version == SNMP_V2C && ver && strcmp(ver, "1") == 0)
			version = SNMP_V1; /* remembered: this one answers only v1 */
		snmp_read_device(s, a, version, community > 0 ? (unsigned)community - 1 : 0, v, false, false);
	}
	json_decref(list);
}

void snmp_arm_intervals(struct snmp_mod_state *s)
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

void snmp_start_timers(struct snmp_mod_state *s)
{
	snmp_arm_intervals(s);
	uv_timer_stop(&s->window);
	arm_window(s);
}

void snmp_windows_changed(struct snmp_mod_state *s)
{
	uv_timer_start(&s->window, on_window, 0, 0);
}
