/* snmp: the Device Scout. Sweeps the configured ranges for printers inside
 * the allowed time windows and under a rate limit, reads each printer in
 * full, re-reads known printers every status_interval, keeps the inventory
 * and meter history, publishes what changed on the bus and answers lookups
 * and the scan/devices/device commands. Everything runs on the loop.
 *
 * This file holds the descriptor, the topics it declares and the
 * lifecycle (start, reload, stop) that owns struct snmp_mod_state; the
 * configuration is in config.c, the sweep scheduler in sweep.c, the reads
 * in reads.c, the commands and status in commands.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "loop/bus.h"
#include "loop/closer.h"
#include "loop/list.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/status.h"
#include "state.h"

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
	if ((r = snmp_apply_v3(s->io, conf)) < 0) {
		scout_mod_fail(m, "cannot set up the SNMPv3 user: %s", strerror(-r));
		return r;
	}
	struct scout_topic *lookup;
	if ((r = scout_mod_topic(m, "snmp.device", &s->t_device)) < 0 ||
	    (r = scout_mod_topic(m, "snmp.meters", &s->t_meters)) < 0 ||
	    (r = scout_mod_topic(m, "snmp.alert", &s->t_alert)) < 0 ||
	    (r = scout_mod_topic(m, "snmp.lookup", &lookup)) < 0)
		return r;
	if ((r = scout_bus_subscribe(scout_mod_bus(m), lookup, snmp_on_lookup, s, 256, &s->lookup)) < 0)
		return r;
	uv_timer_init(scout_mod_loop(m), &s->discovery);
	uv_timer_init(scout_mod_loop(m), &s->status);
	uv_timer_init(scout_mod_loop(m), &s->window);
	s->discovery.data = s->status.data = s->window.data = s;
	s->timers_ready = true;
	log_info("snmp: %zu printers known; sweeping %s every %s", snmp_inventory_count(s->inv, true),
		 conf->ranges.n ? "the configured ranges" : "nothing", conf->discovery_interval ? "interval" : "scan");
	snmp_start_timers(s);
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

	if (!snmp_same_v3(conf, old) && (r = snmp_apply_v3(s->io, conf)) < 0) {
		scout_mod_refuse(m, "cannot set up the SNMPv3 user '%s': %s", conf->v3_user, strerror(-r));
		return r;
	}
	snmp_io_set_limits(s->io, &lim);
	snmp_inventory_set_history(s->inv, conf->meter_history);
	snmp_inventory_set_limits(s->inv, (size_t)conf->max_devices, (unsigned)conf->max_per_address);
	/* a changed interval takes effect now (re-arming an unchanged one
	 * would only push its next run back) */
	if (conf->discovery_interval != old->discovery_interval || conf->status_interval != old->status_interval)
		snmp_arm_intervals(s);
	/* the windows may have changed: at once (from the loop, not inside
	 * the reload), pause, resume or start a waiting sweep as they say */
	snmp_windows_changed(s);
	return 0;
}

void snmp_maybe_stopped(struct snmp_mod_state *s)
{
	if (!s->stopping || !s->closed || !scout_list_empty(&s->reads))
		return;
	struct scout_mod *m = s->m;
	snmp_inventory_free(s->inv);
	json_decref(s->last_sweep);
	snmp_free_sweep_auth(&s->sweep);
	free(s);
	scout_mod_stopped(m);
}

static void on_closed(void *arg)
{
	struct snmp_mod_state *s = arg;

	s->closed = true;
	snmp_maybe_stopped(s);
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
	scout_list_foreach_safe (w, tmp, &s->sweep.waiters, link) {
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
