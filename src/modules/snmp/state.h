/* What the snmp module's files share: its configuration (config.c), its
 * state (owned by the lifecycle in snmp.c) and the calls between the sweep
 * scheduler (sweep.c), the device reads (reads.c) and the answers to
 * commands, lookups and status (commands.c). No other module sees it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "inventory.h"
#include "loop/closer.h"
#include "loop/config.h"
#include "loop/list.h"
#include "loop/module.h"
#include "ranges.h"
#include "reader.h"
#include "windows.h"

/* ---- configuration (config.c) ------------------------------------------------ */

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

enum { VERSION_2C, VERSION_1, VERSION_3 }; /* snmp_conf.version */

extern const struct scout_option snmp_options[];
void snmp_configure(void *conf, struct scout_check *c);
/* ranges minus exclude: what a sweep walks */
int snmp_targets_of(const struct snmp_conf *conf, struct snmp_ranges *ret);
enum snmp_version snmp_version_of(const struct snmp_conf *conf);
/* Gives the io the SNMPv3 user (keys derived here, once). */
int snmp_apply_v3(struct snmp_io *io, const struct snmp_conf *conf);
bool snmp_same_v3(const struct snmp_conf *a, const struct snmp_conf *b);

/* ---- state -------------------------------------------------------------------- */

/* A "scan --wait" request, answered when the sweep ends. */
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

static inline const struct snmp_conf *conf_of(struct snmp_mod_state *s)
{
	return scout_mod_conf(s->m);
}

static inline uint64_t now_ms(struct snmp_mod_state *s)
{
	return uv_now(scout_mod_loop(s->m));
}

/* snmp.c: frees the state and reports stopped once all is closed. */
void snmp_maybe_stopped(struct snmp_mod_state *s);

/* sweep.c */
json_t *snmp_sweep_summary(struct snmp_mod_state *s);
void snmp_free_sweep_auth(struct sweep *w);
/* Ends the sweep when every address was probed and every printer read. */
void snmp_finish_sweep(struct snmp_mod_state *s);
/* 0, -EALREADY (one is running), -EAGAIN (outside the windows: it will
 * start when one opens). */
int snmp_start_sweep(struct snmp_mod_state *s, bool force);
/* (Re-)arms the discovery and status timers from the configuration. */
void snmp_arm_intervals(struct snmp_mod_state *s);
void snmp_start_timers(struct snmp_mod_state *s);
/* The windows may have changed: pause, resume or start a waiting sweep as
 * they say, from the loop. */
void snmp_windows_changed(struct snmp_mod_state *s);

/* reads.c: reads one device (one read per address at a time: -EALREADY). */
int snmp_read_device(struct snmp_mod_state *s, snmp_addr128 addr, enum snmp_version version, unsigned community,
		     const struct snmp_vendor *vendor, bool full, bool from_sweep);

/* commands.c */
extern const struct scout_command snmp_commands[];
void snmp_on_lookup(const struct scout_msg *msg, void *arg);
void snmp_status(struct scout_mod *m, json_t *obj);
