/* health: the agent's self-check. Every interval it measures how late the
 * loop runs timers, the free space where state_dir lives, the store's fill
 * and the process's RSS; it keeps a history of samples in its database,
 * publishes each as health.report and answers health.query with the last. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/bus.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/store.h"
#include "health.h"

#define PROBE_MS 200
#define MAX_PROBLEMS 8

struct health_conf {
	uint64_t interval;      /* ms */
	uint64_t min_free_disk; /* bytes */
	uint64_t max_loop_lag;  /* ms */
	uint64_t max_rss;       /* bytes; 0: not checked */
	int64_t history;        /* samples kept */
};

static const struct scout_option health_options[] = {
	{.key = "interval",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct health_conf, interval),
	 .def = "30s",
	 .min = 1000,
	 .max = 3600000,
	 .help = "time between self-checks"},
	{.key = "min_free_disk",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct health_conf, min_free_disk),
	 .def = "256M",
	 .help = "below this much free space in state_dir's file system, health is degraded"},
	{.key = "max_loop_lag",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct health_conf, max_loop_lag),
	 .def = "500ms",
	 .min = 10,
	 .max = 60000,
	 .help = "a timer running later than this means the event loop is stalling"},
	{.key = "max_rss",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct health_conf, max_rss),
	 .def = "0",
	 .help = "above this resident memory, health is degraded; 0 turns the check off"},
	{.key = "history",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct health_conf, history),
	 .def = "2880",
	 .min = 1,
	 .max = 1000000,
	 .help = "samples kept in the store (2880 at 30s is one day)"},
	{0},
};

struct sample {
	uint64_t time_ms;
	uint64_t lag_ms;
	uint64_t disk_free, disk_total;
	uint64_t rss;
	uint64_t store_used, store_map, store_max;
	unsigned nproblems;
	char problems[MAX_PROBLEMS][160];
};

struct health {
	struct scout_mod *m;
	uv_timer_t tick, probe;
	uv_fs_t fs;
	bool fs_busy, stopping;
	bool timers_ready;
	uint64_t probe_due;  /* uv_hrtime() ns the probe should fire */
	uint64_t window_lag; /* worst lag since the last sample, ms */
	struct scout_sub *query;
	struct scout_topic *report_topic;
	struct scout_db *db;
	struct sample last;
	bool have_last;
	msgpack_sbuffer report; /* the last report, packed */
	uint64_t samples, store_errors, dropped;
};

static void add_problem(struct sample *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_problem(struct sample *s, const char *fmt, ...)
{
	va_list ap;

	if (s->nproblems == MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(s->problems[s->nproblems++], sizeof(s->problems[0]), fmt, ap);
	va_end(ap);
}

static void pack_sample(msgpack_sbuffer *sb, const struct sample *s)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 9);
	scout_pack_str(&pk, "ok");
	s->nproblems ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk);
	scout_pack_str(&pk, "problems");
	msgpack_pack_array(&pk, s->nproblems);
	for (unsigned i = 0; i < s->nproblems; i++)
		scout_pack_str(&pk, s->problems[i]);
	scout_pack_str(&pk, "time");
	msgpack_pack_uint64(&pk, s->time_ms / 1000);
	scout_pack_str(&pk, "loop_lag_ms");
	msgpack_pack_uint64(&pk, s->lag_ms);
	scout_pack_str(&pk, "disk_free");
	msgpack_pack_uint64(&pk, s->disk_free);
	scout_pack_str(&pk, "disk_total");
	msgpack_pack_uint64(&pk, s->disk_total);
	scout_pack_str(&pk, "rss");
	msgpack_pack_uint64(&pk, s->rss);
	scout_pack_str(&pk, "store_used");
	msgpack_pack_uint64(&pk, s->store_used);
	scout_pack_str(&pk, "store_map");
	msgpack_pack_uint64(&pk, s->store_map);
}

struct save {
	struct health *h;
	const struct sample *s;
	const msgpack_sbuffer *packed;
};

/* One transaction: the new sample in, the oldest beyond history out. */
static int save_sample(struct scout_txn *txn, void *arg)
{
	struct save *sv = arg;
	const struct health_conf *conf = scout_mod_conf(sv->h->m);
	unsigned char key[8];
	struct scout_cursor *c;
	uint64_t n;
	int r;

	for (int i = 0; i < 8; i++)
		key[i] = (unsigned char)(sv->s->time_ms >> (56 - 8 * i));
	r = scout_txn_put(txn, sv->h->db, key, sizeof(key), sv->packed->data, sv->packed->size);
	if (r < 0)
		return r;
	r = scout_txn_count(txn, sv->h->db, &n);
	if (r < 0 || n <= (uint64_t)conf->history)
		return r;
	r = scout_cursor_open(txn, sv->h->db, &c);
	if (r < 0)
		return r;
	for (r = scout_cursor_first(c, NULL, NULL, NULL, NULL); r == 0 && n > (uint64_t)conf->history; n--) {
		r = scout_cursor_del(c);
		if (r == 0)
			r = scout_cursor_first(c, NULL, NULL, NULL, NULL);
	}
	scout_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

static void take_sample(struct health *h, const uv_statfs_t *fs, int fs_err)
{
	const struct health_conf *conf = scout_mod_conf(h->m);
	struct scout_store_info info;
	struct sample s = {0};
	struct timespec ts;
	size_t rss = 0;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	s.time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	s.lag_ms = h->window_lag;
	h->window_lag = 0;
	if (s.lag_ms > conf->max_loop_lag)
		add_problem(&s, "loop: timers ran %" PRIu64 " ms late (limit %" PRIu64 " ms)", s.lag_ms,
			    conf->max_loop_lag);

	if (fs) {
		s.disk_free = fs->f_bavail * fs->f_bsize;
		s.disk_total = fs->f_blocks * fs->f_bsize;
		if (s.disk_free < conf->min_free_disk)
			add_problem(&s, "disk: %" PRIu64 " MiB free for %s (minimum %" PRIu64 " MiB)",
				    s.disk_free >> 20, scout_mod_state_dir(h->m), conf->min_free_disk >> 20);
	} else {
		add_problem(&s, "disk: cannot read free space of %s: %s", scout_mod_state_dir(h->m),
			    uv_strerror(fs_err));
	}

	if (uv_resident_set_memory(&rss) == 0)
		s.rss = rss;
	if (conf->max_rss && s.rss > conf->max_rss)
		add_problem(&s, "memory: RSS %" PRIu64 " MiB above %" PRIu64 " MiB", s.rss >> 20, conf->max_rss >> 20);

	if (scout_store_info(scout_mod_store(h->m), &info) == 0) {
		s.store_used = info.used;
		s.store_map = info.map_size;
		s.store_max = info.max_size;
		if (info.used > info.max_size / 10 * 9)
			add_problem(&s, "store: %" PRIu64 "%% of store_max_size used", info.used * 100 / info.max_size);
	}

	pack_sample(&h->report, &s);
	struct save sv = {h, &s, &h->report};
	r = scout_store_write(scout_mod_store(h->m), save_sample, &sv);
	if (r < 0) {
		h->store_errors++;
		add_problem(&s, "store: cannot write: %s", strerror(-r));
		pack_sample(&h->report, &s);
	}
	if (s.nproblems && (!h->have_last || !h->last.nproblems || strcmp(s.problems[0], h->last.problems[0])))
		log_warn("health: degraded: %s", s.problems[0]);
	else if (!s.nproblems && h->have_last && h->last.nproblems)
		log_info("health: ok again");
	h->last = s;
	h->have_last = true;
	h->samples++;
	if (scout_bus_publish(scout_mod_bus(h->m), h->report_topic, h->report.data, h->report.size) == -ENOBUFS)
		h->dropped++;
}

static void health_free(void *arg)
{
	struct health *h = arg;

	msgpack_sbuffer_destroy(&h->report);
	free(h);
}

static void on_statfs(uv_fs_t *req)
{
	struct health *h = req->data;

	h->fs_busy = false;
	if (!h->stopping)
		take_sample(h, req->result < 0 ? NULL : req->ptr, (int)req->result);
	uv_fs_req_cleanup(req);
	if (h->stopping)
		scout_closer_release(scout_mod_closer(h->m)); /* last: it may free h */
}

static void on_tick(uv_timer_t *t)
{
	struct health *h = t->data;

	if (h->fs_busy)
		return; /* the file system is slower than the interval */
	h->fs.data = h;
	if (uv_fs_statfs(scout_mod_loop(h->m), &h->fs, scout_mod_state_dir(h->m), on_statfs) == 0)
		h->fs_busy = true;
	else
		take_sample(h, NULL, UV_EIO);
}

static void on_probe(uv_timer_t *t)
{
	struct health *h = t->data;
	uint64_t now = uv_hrtime();

	if (now > h->probe_due) {
		uint64_t lag = (now - h->probe_due) / 1000000;
		if (lag > h->window_lag)
			h->window_lag = lag;
	}
	h->probe_due = now + (uint64_t)PROBE_MS * 1000000;
}

static void on_query(const struct scout_msg *msg, void *arg)
{
	struct health *h = arg;

	if (!msg->corr)
		return;
	if (!h->have_last)
		scout_bus_reply(scout_mod_bus(h->m), msg->corr, -EAGAIN, NULL, 0);
	else
		scout_bus_reply(scout_mod_bus(h->m), msg->corr, 0, h->report.data, h->report.size);
}

static int health_start(struct scout_mod *m)
{
	const struct health_conf *conf = scout_mod_conf(m);
	struct health *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->m = m;
	msgpack_sbuffer_init(&h->report);
	scout_mod_set_priv(m, h);
	r = scout_mod_db(m, &h->db);
	if (r < 0) {
		scout_mod_fail(m, "cannot open its store database: %s", strerror(-r));
		return r;
	}
	struct scout_topic *query;
	if ((r = scout_mod_topic(m, HEALTH_TOPIC_QUERY, &query)) < 0 ||
	    (r = scout_mod_topic(m, HEALTH_TOPIC_REPORT, &h->report_topic)) < 0)
		return r;
	r = scout_bus_subscribe(scout_mod_bus(m), query, on_query, h, 64, &h->query);
	if (r < 0)
		return r;
	uv_timer_init(scout_mod_loop(m), &h->tick);
	uv_timer_init(scout_mod_loop(m), &h->probe);
	h->tick.data = h->probe.data = h;
	h->timers_ready = true;
	h->probe_due = uv_hrtime() + (uint64_t)PROBE_MS * 1000000;
	uv_timer_start(&h->probe, on_probe, PROBE_MS, PROBE_MS);
	uv_timer_start(&h->tick, on_tick, 0, conf->interval);
	return 0;
}

static int health_reload(struct scout_mod *m, const void *old_conf)
{
	const struct health_conf *conf = scout_mod_conf(m);
	struct health *h = scout_mod_priv(m);

	uv_timer_start(&h->tick, on_tick, conf->interval, conf->interval);
	return 0;
}

static void health_stop(struct scout_mod *m)
{
	struct health *h = scout_mod_priv(m);

	if (!h) {
		scout_mod_stopped(m);
		return;
	}
	struct scout_closer *c = scout_mod_closer(m);

	h->stopping = true;
	scout_bus_unsubscribe(h->query);
	h->query = NULL;
	if (h->timers_ready) {
		scout_closer_close(c, (uv_handle_t *)&h->tick);
		scout_closer_close(c, (uv_handle_t *)&h->probe);
	}
	if (h->fs_busy)
		scout_closer_hold(c); /* released by on_statfs */
	scout_mod_stopped_when_closed(m, health_free, h);
}

static void health_status(struct scout_mod *m, json_t *obj)
{
	struct health *h = scout_mod_priv(m);
	json_t *counters = json_object_get(obj, "counters");

	json_object_set_new(counters, "samples", json_integer((json_int_t)h->samples));
	json_object_set_new(counters, "store_errors", json_integer((json_int_t)h->store_errors));
	json_object_set_new(counters, "reports_dropped", json_integer((json_int_t)h->dropped));
	if (!h->have_last) {
		json_object_set_new(obj, "ok", json_null());
		return;
	}
	json_t *problems = json_array();
	for (unsigned i = 0; i < h->last.nproblems; i++)
		json_array_append_new(problems, json_string(h->last.problems[i]));
	json_object_set_new(obj, "ok", json_boolean(!h->last.nproblems));
	json_object_set_new(obj, "problems", problems);
	json_object_set_new(obj, "last_sample_unix", json_integer((json_int_t)(h->last.time_ms / 1000)));
	json_object_set_new(obj, "loop_lag_ms", json_integer((json_int_t)h->last.lag_ms));
	json_object_set_new(obj, "disk_free_bytes", json_integer((json_int_t)h->last.disk_free));
	json_object_set_new(obj, "disk_total_bytes", json_integer((json_int_t)h->last.disk_total));
	json_object_set_new(obj, "rss_bytes", json_integer((json_int_t)h->last.rss));
}

int health_report_decode(const void *data, size_t len, struct health_report *ret_report)
{
	struct health_report rep = {0};
	msgpack_unpacked u;
	int r = -EBADMSG;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_bool(&u.data, "ok", &rep.ok) < 0)
		goto out;
	const msgpack_object *p = scout_pack_get(&u.data, "problems");
	if (!p || p->type != MSGPACK_OBJECT_ARRAY)
		goto out;
	rep.nproblems = p->via.array.size;
	if (rep.nproblems && p->via.array.ptr[0].type == MSGPACK_OBJECT_STR) {
		uint32_t n = p->via.array.ptr[0].via.str.size;
		if (n >= sizeof(rep.problem))
			n = sizeof(rep.problem) - 1;
		memcpy(rep.problem, p->via.array.ptr[0].via.str.ptr, n);
		rep.problem[n] = 0;
	}
	scout_pack_get_uint(&u.data, "time", &rep.time);
	scout_pack_get_uint(&u.data, "loop_lag_ms", &rep.loop_lag_ms);
	scout_pack_get_uint(&u.data, "disk_free", &rep.disk_free);
	scout_pack_get_uint(&u.data, "disk_total", &rep.disk_total);
	scout_pack_get_uint(&u.data, "rss", &rep.rss);
	scout_pack_get_uint(&u.data, "store_used", &rep.store_used);
	scout_pack_get_uint(&u.data, "store_map", &rep.store_map);
	*ret_report = rep;
	r = 0;
out:
	msgpack_unpacked_destroy(&u);
	return r;
}

static const struct scout_topic_decl health_topics[] = {
	{HEALTH_TOPIC_REPORT, SCOUT_TOPIC_EVENT,
	 "map: ok bool, problems [str] (one line per failed check, empty when ok), time uint (unix s), loop_lag_ms "
	 "uint, disk_free uint (bytes), disk_total uint, rss uint, store_used uint, store_map uint"},
	{HEALTH_TOPIC_QUERY, SCOUT_TOPIC_REQUEST,
	 "payload nil; reply: the latest health.report map, or status -EAGAIN before the first sample"},
	{0},
};

const struct scout_module scout_health_module = {
	.name = "health",
	.summary = "self-check of loop lag, disk space, store and memory",
	.default_enabled = true,
	.options = health_options,
	.conf_size = sizeof(struct health_conf),
	.start = health_start,
	.reload = health_reload,
	.status = health_status,
	.stop = health_stop,
	.topics = health_topics,
};
