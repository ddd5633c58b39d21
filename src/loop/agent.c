/* The agent's lifecycle. Start-up: load and validate the config, take the
 * state directory (a lock so two agents never share it), open the store,
 * listen on the status socket, start the modules, tell systemd READY=1.
 * SIGHUP (or the "reload" command) parses and validates the new file off the
 * loop and applies it only when all of it is good. SIGTERM/SIGINT stop the
 * modules, then close every handle, so uv_loop_close() returns 0. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bus.h"
#include "config.h"
#include "log.h"
#include "module.h"
#include "pack.h"
#include "status.h"
#include "store.h"
#include "modules/health/health.h"

#define STOP_TIMEOUT_MS 4500
/* Unclean starts in a row from which the agent calls it a crash loop. */
#define CRASH_LOOP_STARTS 3

const char scout_default_config[] = "; scoutd's built-in configuration: state under ./var, no cloud.\n"
				    "[agent]\n"
				    "state_dir = ./var\n"
				    "status_socket = ./var/scoutd.sock\n"
				    "log_level = info\n"
				    "\n"
				    "[health]\n"
				    "enabled = yes\n";

/* ---- the [agent] section ---------------------------------------------- */

struct agent_conf {
	char *state_dir;
	char *status_socket;
	char *status_group;
	int log_level; /* index into log_levels */
	uint64_t store_max_size;
	uint64_t status_idle_timeout; /* ms */
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

static const struct scout_option agent_options[] = {
	{.key = "state_dir",
	 .type = SCOUT_OPT_PATH,
	 .offset = offsetof(struct agent_conf, state_dir),
	 .def = "./var",
	 .help = "directory for the store and the lock file; created (mode 0750) if missing; must belong to "
		 "scoutd's user (or root) and not be writable by group or others"},
	{.key = "status_socket",
	 .type = SCOUT_OPT_STRING,
	 .offset = offsetof(struct agent_conf, status_socket),
	 .def = "",
	 .help = "path of the status socket; empty means STATE_DIR/scoutd.sock"},
	{.key = "status_group",
	 .type = SCOUT_OPT_STRING,
	 .offset = offsetof(struct agent_conf, status_group),
	 .def = "",
	 .help = "group whose members may use the status socket; empty means the agent's group"},
	{.key = "log_level",
	 .type = SCOUT_OPT_ENUM,
	 .offset = offsetof(struct agent_conf, log_level),
	 .def = "info",
	 .choices = log_levels,
	 .help = "error, warn, info or debug"},
	{.key = "store_max_size",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct agent_conf, store_max_size),
	 .def = "4G",
	 .min = 1 << 20,
	 .max = INT64_C(1) << 40,
	 .help = "largest size the store may grow to"},
	{.key = "status_idle_timeout",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct agent_conf, status_idle_timeout),
	 .def = "60s",
	 .min = 1000,
	 .max = 86400000,
	 .help = "a status connection with no request in flight that reads and writes nothing this long is "
		 "closed"},
	{0},
};

static void agent_check(void *conf, struct scout_check *c)
{
	struct agent_conf *a = conf;

	if (!*a->status_socket) {
		free(a->status_socket);
		if (asprintf(&a->status_socket, "%s/scoutd.sock", a->state_dir) < 0) {
			a->status_socket = NULL;
			scout_check_error(c, "status_socket", "out of memory");
			return;
		}
	}
	if (strlen(a->status_socket) >= 108)
		scout_check_error(c, a->status_socket[0] ? "status_socket" : "state_dir",
				  "socket path '%s' is longer than 107 bytes", a->status_socket);
}

static const struct scout_section agent_section = {
	.name = "agent",
	.options = agent_options,
	.conf_size = sizeof(struct agent_conf),
	.check = agent_check,
};

/* ---- state ------------------------------------------------------------ */

struct run_record {
	uint64_t starts;
	bool running; /* true while a run is in progress: still set after a crash */
	uint64_t started, stopped;
	uint64_t unclean; /* starts in a row, up to this one, after a run that did not stop */
};

struct reload_job {
	uv_work_t work;
	struct agent *agent;
	char *path;
	struct scout_diag diag;
	struct scout_config *config;
	int r;
};

struct waiter {
	struct scout_status_req *req;
	struct waiter *next;
};

struct agent {
	uv_loop_t loop;
	const struct scout_schema *schema;
	char *config_path; /* NULL: embedded */
	struct agent_conf *conf;
	struct scout_host *host;
	struct scout_bus *bus;
	struct scout_store *store;
	struct scout_db *db;
	struct scout_status_server *status;
	struct scout_sub *health_sub;
	uv_signal_t sig[3];
	uv_timer_t watchdog, stop_timer;
	int lock_fd;
	uint64_t start_hr;
	time_t started;
	struct run_record prev;
	bool have_prev;
	uint64_t unclean_starts;
	bool stopping, forced;
	bool stopped_rest; /* finish_stop ran: only a reload job may be left */
	int exit_code;
	/* reload */
	bool reloading, reload_again;
	struct waiter *waiters;
	unsigned reloads_ok, reloads_failed;
	time_t reload_time;
	json_t *reload_errors, *reload_notes;
	/* last health report */
	bool health_known, health_ok;
	char health_problem[256];
};

static uint64_t uptime_s(const struct agent *a)
{
	return (uv_hrtime() - a->start_hr) / 1000000000u;
}

static void notify_status(struct agent *a)
{
	size_t running = scout_host_count(a->host, SCOUT_MOD_RUNNING);
	size_t failed = scout_host_count(a->host, SCOUT_MOD_FAILED);
	char health[300] = "";

	if (a->health_known)
		snprintf(health, sizeof(health), "; health %s%s%s", a->health_ok ? "ok" : "degraded",
			 a->health_ok ? "" : ": ", a->health_ok ? "" : a->health_problem);
	sd_notifyf(0, "STATUS=%zu module%s running, %zu failed%s", running, running == 1 ? "" : "s", failed,
		   health);
}

/* ---- run record -------------------------------------------------------- */

static void pack_run(msgpack_sbuffer *sb, const struct run_record *r)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	scout_pack_str(&pk, "starts");
	msgpack_pack_uint64(&pk, r->starts);
	scout_pack_str(&pk, "running");
	r->running ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	scout_pack_str(&pk, "started");
	msgpack_pack_uint64(&pk, r->started);
	scout_pack_str(&pk, "stopped");
	msgpack_pack_uint64(&pk, r->stopped);
	scout_pack_str(&pk, "unclean");
	msgpack_pack_uint64(&pk, r->unclean);
}

static int save_run(struct agent *a, const struct run_record *r)
{
	msgpack_sbuffer sb;
	int ret;

	msgpack_sbuffer_init(&sb);
	pack_run(&sb, r);
	ret = scout_store_put(a->db, "run", 3, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

static void load_run(struct agent *a)
{
	msgpack_unpacked u;
	void *data;
	size_t len;

	if (scout_store_get(a->db, "run", 3, &data, &len) < 0)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_uint(&u.data, "starts", &a->prev.starts) == 0 &&
	    scout_pack_get_bool(&u.data, "running", &a->prev.running) == 0) {
		scout_pack_get_uint(&u.data, "started", &a->prev.started);
		scout_pack_get_uint(&u.data, "stopped", &a->prev.stopped);
		scout_pack_get_uint(&u.data, "unclean", &a->prev.unclean); /* absent from older records: 0 */
		a->have_prev = true;
	} else {
		log_warn("agent: run record in the store is unreadable; starting a new one");
	}
	msgpack_unpacked_destroy(&u);
	free(data);
}

/* ---- status ------------------------------------------------------------ */

static json_t *store_json(struct agent *a)
{
	struct scout_store_info info;

	if (scout_store_info(a->store, &info) < 0)
		return json_null();
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:i}", "path", scout_store_path(a->store), "used_bytes",
			 (json_int_t)info.used, "map_bytes", (json_int_t)info.map_size, "max_bytes",
			 (json_int_t)info.max_size, "file_bytes", (json_int_t)info.file_size, "readers",
			 (int)info.readers);
}

static json_t *bus_json(struct agent *a)
{
	json_t *o = json_object();

	for (size_t t = 0; t < scout_bus_topics(a->bus); t++) {
		const struct scout_topic *topic = scout_bus_topic_at(a->bus, t);
		const struct scout_topic_stats *st = scout_topic_stats(topic);
		json_object_set_new(o, scout_topic_name(topic),
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "published", (json_int_t)st->published,
					      "delivered", (json_int_t)st->delivered, "dropped",
					      (json_int_t)st->dropped, "requests", (json_int_t)st->requests, "replies",
					      (json_int_t)st->replies, "timed_out", (json_int_t)st->timed_out));
	}
	return o;
}

static void iso_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *time_json(time_t t)
{
	char buf[32];

	if (!t)
		return json_null();
	iso_time(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *status_json(struct agent *a)
{
	const struct scout_status_stats *ss = scout_status_stats(a->status);
	size_t rss = 0;
	json_t *mods = json_array(), *o;

	uv_resident_set_memory(&rss);
	scout_host_status(a->host, mods);
	o = json_pack("{s:s, s:i, s:I, s:o, s:o, s:s, s:s, s:s, s:I}", "version", SCOUT_VERSION, "pid", (int)getpid(),
		      "uptime_s", (json_int_t)uptime_s(a), "started", time_json(a->started), "config",
		      a->config_path ? json_string(a->config_path) : json_string(SCOUT_EMBEDDED_NAME), "state_dir",
		      a->conf->state_dir, "status_socket", a->conf->status_socket, "log_level",
		      log_levels[a->conf->log_level], "rss_bytes", (json_int_t)rss);
	json_object_set_new(o, "previous_run",
			    !a->have_prev ? json_string("none")
					  : json_string(a->prev.running ? "unclean" : "clean"));
	json_object_set_new(o, "starts", json_integer((json_int_t)(a->prev.starts + 1)));
	json_object_set_new(o, "unclean_starts", json_integer((json_int_t)a->unclean_starts));
	json_object_set_new(o, "crash_loop", json_boolean(a->unclean_starts >= CRASH_LOOP_STARTS));
	json_object_set_new(o, "modules", mods);
	json_object_set_new(o, "bus", bus_json(a));
	json_object_set_new(o, "store", store_json(a));
	json_object_set_new(o, "socket",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "open", (json_int_t)ss->open,
				      "connections", (json_int_t)ss->connections, "requests", (json_int_t)ss->requests,
				      "errors", (json_int_t)ss->errors, "denied", (json_int_t)ss->denied, "busy",
				      (json_int_t)ss->busy, "idle_closed", (json_int_t)ss->idle_closed,
				      "overflow_closed", (json_int_t)ss->overflow_closed, "queued_bytes",
				      (json_int_t)ss->queued_bytes));
	json_t *last = json_null();
	if (a->reload_time)
		last = json_pack("{s:o, s:b, s:O, s:O}", "time", time_json(a->reload_time), "ok",
				 json_array_size(a->reload_errors) == 0, "errors", a->reload_errors, "notes",
				 a->reload_notes);
	json_object_set_new(o, "reload",
			    json_pack("{s:i, s:i, s:o}", "ok", a->reloads_ok, "failed", a->reloads_failed, "last", last));
	return o;
}

static void metric_name(char *out, size_t size, const char *a, const char *b)
{
	size_t k = (size_t)snprintf(out, size, "scout_%s_%s", a, b);
	for (size_t i = 6; i < k && i < size; i++)
		if (!((out[i] >= 'a' && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9') || out[i] == '_'))
			out[i] = '_';
}

/* Prometheus text exposition of the counters in the status object. */
static char *metrics_text(struct agent *a)
{
	json_t *st = status_json(a);
	char *buf = NULL, name[128];
	size_t len = 0, i;
	json_t *m, *v;
	const char *k;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		json_decref(st);
		return NULL;
	}
	fprintf(f, "# HELP scout_info Agent version.\n# TYPE scout_info gauge\nscout_info{version=\"%s\"} 1\n",
	       SCOUT_VERSION);
	fprintf(f, "# TYPE scout_uptime_seconds gauge\nscout_uptime_seconds %" PRIu64 "\n", uptime_s(a));
	fprintf(f, "# TYPE scout_rss_bytes gauge\nscout_rss_bytes %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(st, "rss_bytes")));
	json_t *store = json_object_get(st, "store");
	fprintf(f, "# TYPE scout_store_used_bytes gauge\nscout_store_used_bytes %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(store, "used_bytes")));
	fprintf(f, "# TYPE scout_store_map_bytes gauge\nscout_store_map_bytes %" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(store, "map_bytes")));
	fprintf(f, "# TYPE scout_reloads_total counter\nscout_reloads_total{result=\"ok\"} %u\n"
			      "scout_reloads_total{result=\"failed\"} %u\n",
	       a->reloads_ok, a->reloads_failed);
	json_t *sock = json_object_get(st, "socket");
	json_object_foreach(sock, k, v)
	{
		metric_name(name, sizeof(name), "status_socket", k);
		fprintf(f, "# TYPE %s %s\n%s %" JSON_INTEGER_FORMAT "\n", name,
		       strcmp(k, "open") && strcmp(k, "queued_bytes") ? "counter" : "gauge", name,
		       json_integer_value(v));
	}
	fprintf(f, "# HELP scout_module_up 1 when the module is running.\n# TYPE scout_module_up gauge\n");
	json_array_foreach(json_object_get(st, "modules"), i, m)
	{
		fprintf(f, "scout_module_up{module=\"%s\",state=\"%s\"} %d\n",
		       json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(m, "state")),
		       strcmp(json_string_value(json_object_get(m, "state")), "running") == 0);
	}
	json_array_foreach(json_object_get(st, "modules"), i, m)
	{
		const char *mod = json_string_value(json_object_get(m, "name"));
		json_object_foreach(json_object_get(m, "counters"), k, v)
		{
			if (!json_is_number(v))
				continue;
			metric_name(name, sizeof(name), mod, k);
			fprintf(f, "%s %.17g\n", name, json_number_value(v));
		}
	}
	static const char *const bus_fields[] = {"published", "delivered", "dropped", "requests", "replies",
						 "timed_out"};
	for (size_t b = 0; b < 6; b++) {
		fprintf(f, "# TYPE scout_bus_%s_total counter\n", bus_fields[b]);
		json_object_foreach(json_object_get(st, "bus"), k, v)
		{
			fprintf(f, "scout_bus_%s_total{topic=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			       bus_fields[b], k, json_integer_value(json_object_get(v, bus_fields[b])));
		}
	}
	fclose(f);
	json_decref(st);
	return buf;
}

/* ---- reload ------------------------------------------------------------ */

static void start_reload(struct agent *a);
static void close_handle(uv_handle_t *h);

static void reload_work(uv_work_t *w)
{
	struct reload_job *j = w->data;

	if (j->path)
		j->r = scout_config_load(j->agent->schema, j->path, &j->diag, &j->config);
	else
		j->r = scout_config_parse(j->agent->schema, SCOUT_EMBEDDED_NAME, scout_default_config,
					  strlen(scout_default_config), &j->diag, &j->config);
}

static void note(json_t *notes, const char *key, const char *old, const char *new)
{
	char msg[600];

	if (strcmp(old, new) == 0)
		return;
	snprintf(msg, sizeof(msg), "[agent] %s: change from '%s' to '%s' takes effect at the next start", key, old,
		 new);
	log_warn("reload: %s", msg);
	json_array_append_new(notes, json_string(msg));
}

static void apply(struct agent *a, struct scout_config *cfg, json_t *refused)
{
	struct agent_conf *n = scout_config_take(cfg, 0);
	char oldsz[32], newsz[32];

	note(a->reload_notes, "state_dir", a->conf->state_dir, n->state_dir);
	note(a->reload_notes, "status_socket", a->conf->status_socket, n->status_socket);
	note(a->reload_notes, "status_group", a->conf->status_group, n->status_group);
	snprintf(oldsz, sizeof(oldsz), "%" PRIu64, a->conf->store_max_size);
	snprintf(newsz, sizeof(newsz), "%" PRIu64, n->store_max_size);
	note(a->reload_notes, "store_max_size", oldsz, newsz);
	enum scout_log_level lvl;
	a->conf->log_level = n->log_level;
	a->conf->status_idle_timeout = n->status_idle_timeout;
	scout_status_set_idle_timeout(a->status, n->status_idle_timeout);
	if (scout_log_level_parse(log_levels[n->log_level], &lvl) == 0)
		scout_log_set_level(lvl);
	scout_section_conf_free(&agent_section, n);
	scout_host_reload(a->host, cfg, refused);
}

static void reload_done(uv_work_t *w, int status)
{
	struct reload_job *j = w->data;
	struct agent *a = j->agent;
	json_t *refused = json_array();

	a->reloading = false;
	a->reload_time = time(NULL);
	json_decref(a->reload_errors);
	json_decref(a->reload_notes);
	a->reload_errors = json_array();
	a->reload_notes = json_array();
	if (status < 0 || a->stopping) {
		json_array_append_new(a->reload_errors, json_string(status < 0 ? "reload cancelled" : "agent stopping"));
	} else if (j->r < 0) {
		for (size_t i = 0; i < j->diag.n; i++) {
			log_error("reload: %s", j->diag.msgs[i]);
			json_array_append_new(a->reload_errors, json_string(j->diag.msgs[i]));
		}
		if (!j->diag.n)
			json_array_append_new(a->reload_errors, json_string(strerror(-j->r)));
		log_error("reload: rejected; still running on the previous configuration");
	} else {
		for (size_t i = 0; i < j->diag.n; i++) {
			log_warn("reload: %s", j->diag.msgs[i]);
			json_array_append_new(a->reload_notes, json_string(j->diag.msgs[i]));
		}
		json_t *m;
		size_t i;
		apply(a, j->config, refused);
		/* the others run on the new file; a module that refused keeps
		 * its previous settings, and the reload is not "applied" */
		json_array_foreach(refused, i, m)
			json_array_append_new(a->reload_errors,
					      json_sprintf("%s: reload refused: %s; it keeps its previous settings",
							   json_string_value(json_object_get(m, "module")),
							   json_string_value(json_object_get(m, "reason"))));
		if (json_array_size(refused))
			log_error("reload: applied %s except for %zu module%s that refused it",
				  j->path ? j->path : SCOUT_EMBEDDED_NAME, json_array_size(refused),
				  json_array_size(refused) == 1 ? "" : "s");
		else
			log_info("reload: applied %s", j->path ? j->path : SCOUT_EMBEDDED_NAME);
	}
	if (json_array_size(a->reload_errors))
		a->reloads_failed++;
	else
		a->reloads_ok++;
	scout_config_free(j->config);
	scout_diag_free(&j->diag);
	free(j->path);
	free(j);
	if (a->stopping && a->stopped_rest) {
		uv_timer_stop(&a->stop_timer);
		close_handle((uv_handle_t *)&a->stop_timer);
	}

	while (a->waiters) {
		struct waiter *wt = a->waiters;
		a->waiters = wt->next;
		json_t *res = json_pack("{s:b, s:O, s:O, s:O}", "applied", json_array_size(a->reload_errors) == 0,
					"errors", a->reload_errors, "notes", a->reload_notes, "refused", refused);
		if (json_array_size(a->reload_errors))
			scout_status_reply(wt->req, json_pack("{s:b, s:o}", "ok", 0, "reload", res));
		else
			scout_status_reply(wt->req, json_pack("{s:o}", "reload", res));
		free(wt);
	}
	json_decref(refused);
	if (a->stopping)
		return;
	sd_notify(0, "READY=1");
	notify_status(a);
	if (a->reload_again) {
		a->reload_again = false;
		start_reload(a);
	}
}

static void start_reload(struct agent *a)
{
	struct reload_job *j;
	struct timespec ts;

	if (a->stopping)
		return;
	if (a->reloading) {
		a->reload_again = true;
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j || (a->config_path && !(j->path = strdup(a->config_path)))) {
		free(j);
		log_error("reload: out of memory");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		   (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	log_info("reload: reading %s", a->config_path ? a->config_path : SCOUT_EMBEDDED_NAME);
	j->agent = a;
	j->work.data = j;
	a->reloading = true;
	if (uv_queue_work(&a->loop, &j->work, reload_work, reload_done) < 0) {
		a->reloading = false;
		free(j->path);
		free(j);
	}
}

/* ---- stop -------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_bus_closed(void *arg)
{
	(void)arg;
}

static void on_status_closed(void *arg)
{
	struct agent *a = arg;
	a->status = NULL;
}

static void finish_stop(struct agent *a)
{
	a->stopped_rest = true;
	/* A reload job still reading the file keeps the loop alive until it
	 * returns; the stop timer stays armed so that a read that never
	 * returns cannot hold the stop for ever. */
	if (!a->reloading) {
		uv_timer_stop(&a->stop_timer);
		close_handle((uv_handle_t *)&a->stop_timer);
	}
	if (a->status)
		scout_status_close(a->status, on_status_closed, a);
	if (a->bus)
		scout_bus_close(a->bus, on_bus_closed, a);
	a->bus = NULL;
	for (int i = 0; i < 3; i++)
		close_handle((uv_handle_t *)&a->sig[i]);
	close_handle((uv_handle_t *)&a->watchdog);
}

static void on_modules_stopped(void *arg)
{
	struct agent *a = arg;

	if (a->forced)
		return;
	log_debug("agent: modules stopped");
	finish_stop(a);
}

static void on_stop_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	char stuck[256];

	if (a->stopped_rest) {
		log_error("agent: the reload still reading %s did not finish within %d ms; exiting anyway",
			  a->config_path ? a->config_path : SCOUT_EMBEDDED_NAME, STOP_TIMEOUT_MS);
	} else {
		scout_host_stuck(a->host, stuck, sizeof(stuck));
		log_error("agent: modules did not stop within %d ms: %s; exiting anyway", STOP_TIMEOUT_MS, stuck);
	}
	a->forced = true;
	a->exit_code = 1;
	uv_stop(&a->loop);
}

static void begin_stop(struct agent *a, const char *why)
{
	if (a->stopping)
		return;
	a->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("agent: stopping (%s)", why);
	uv_timer_start(&a->stop_timer, on_stop_timeout, STOP_TIMEOUT_MS, 0);
	scout_bus_unsubscribe(a->health_sub);
	a->health_sub = NULL;
	scout_host_stop(a->host, on_modules_stopped, a);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP)
		start_reload(a);
	else
		begin_stop(a, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	/* a stalled loop stops this timer, so systemd restarts the service */
	sd_notify(0, "WATCHDOG=1");
}

/* ---- status requests --------------------------------------------------- */

/* The core's commands, answered below; listed in help with the modules'. */
static const char *const version_text[] = {"scoutd {version}", NULL};
static const struct scout_command core_commands[] = {
	{.name = "status", .help = "agent, modules, bus, store and last reload"},
	{.name = "metrics", .help = "the same counters as Prometheus text"},
	{.name = "reload", .help = "re-read the configuration (like SIGHUP) and show the result"},
	{.name = "version", .help = "the agent's version", .text = version_text},
	{.name = "help", .help = "the commands scoutd serves, with their arguments"},
	{0},
};

static json_t *help_json(struct agent *a)
{
	json_t *arr = json_array();

	for (const struct scout_command *c = core_commands; c->name; c++)
		json_array_append_new(arr, scout_command_json(c, NULL));
	scout_host_help(a->host, arr);
	return arr;
}

static void on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct agent *a = arg;

	if (strcmp(cmd, "status") == 0) {
		scout_status_reply(req, json_pack("{s:o}", "status", status_json(a)));
	} else if (strcmp(cmd, "metrics") == 0) {
		char *text = metrics_text(a);
		if (!text) {
			scout_status_error(req, "internal", "out of memory");
			return;
		}
		scout_status_reply(req, json_pack("{s:s}", "metrics", text));
		free(text);
	} else if (strcmp(cmd, "version") == 0) {
		scout_status_reply(req, json_pack("{s:s}", "version", SCOUT_VERSION));
	} else if (strcmp(cmd, "help") == 0) {
		scout_status_reply(req, json_pack("{s:o}", "help", help_json(a)));
	} else if (strcmp(cmd, "reload") == 0) {
		struct waiter *w = calloc(1, sizeof(*w));
		if (!w || a->stopping) {
			free(w);
			scout_status_error(req, "unavailable", "agent is stopping");
			return;
		}
		w->req = req;
		w->next = a->waiters;
		a->waiters = w;
		start_reload(a);
	} else if (!scout_host_command(a->host, cmd, req, request)) {
		scout_status_error(req, "unknown_command", "unknown command '%s'", cmd);
	}
}

/* ---- health summary ---------------------------------------------------- */

/* The agent is one more subscriber of health.report: it decodes it with
 * health's own decoder and keeps systemd's STATUS= line current. */
static void on_health(const struct scout_msg *msg, void *arg)
{
	struct agent *a = arg;
	struct health_report rep;

	if (health_report_decode(msg->data, msg->len, &rep) < 0) {
		log_warn("agent: ignoring a malformed %s message", scout_topic_name(msg->topic));
		return;
	}
	snprintf(a->health_problem, sizeof(a->health_problem), "%s", rep.problem);
	bool changed = !a->health_known || rep.ok != a->health_ok;
	a->health_known = true;
	a->health_ok = rep.ok;
	if (changed || !rep.ok)
		notify_status(a);
}

/* ---- start-up ---------------------------------------------------------- */

static int mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The store, the lock file and (by default) the socket live in state_dir,
 * opened by name: whoever else may write there could put a symlink or a
 * file of their own in their place. So the directory must belong to
 * scoutd's user (or root) and be writable by no one else. */
static int check_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("agent: state_dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("agent: state_dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		log_error("agent: state_dir %s is owned by uid %u, not by scoutd's user (uid %u) or root; "
			  "chown %u %s, or choose another state_dir",
			  dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("agent: state_dir %s is writable by its group or others (mode %04o), who could replace "
			  "the files scoutd keeps there; chmod go-w %s",
			  dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

/* One agent per state directory: an flock held for the process's life. */
static int lock_state_dir(struct agent *a)
{
	char path[PATH_MAX], pid[32];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/scoutd.pid", a->conf->state_dir);
	/* never through a symlink (as root, that truncated any file it named);
	 * O_NONBLOCK and O_NOCTTY so that a FIFO or a device cannot hang or
	 * capture us before the type check */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0640);
	if (fd < 0 && errno == ELOOP) {
		log_error("agent: %s is a symbolic link; scoutd does not follow it: remove it (scoutd creates the "
			  "file itself)", path);
		return -ELOOP;
	}
	if (fd < 0) {
		log_error("agent: %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("agent: %s is not a regular file: remove it (scoutd creates the file itself)", path);
		close(fd);
		return -EINVAL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		log_error("agent: state_dir %s is in use by another scoutd (pid %s)", a->conf->state_dir,
			  *pid ? pid : "?");
		close(fd);
		return -EBUSY;
	}
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("agent: cannot write %s: %s", path, strerror(errno));
	a->lock_fd = fd;
	return 0;
}

/* The soft limit on open files is 1024 by default, for the sake of
 * select(); scoutd uses none (epoll through libuv, and net-snmp's large fd
 * sets), so it takes the hard limit: 1024 status connections alone would
 * use up the soft one. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("agent: cannot raise the open files limit from %llu to %llu: %s", (unsigned long long)was,
			 (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_debug("agent: open files limit raised from %llu to %llu", (unsigned long long)was,
			  (unsigned long long)rl.rlim_max);
}

static int load_config(struct agent *a, const char *path, struct scout_config **ret)
{
	struct scout_diag diag = {0};
	int r;

	if (path)
		r = scout_config_load(a->schema, path, &diag, ret);
	else
		r = scout_config_parse(a->schema, SCOUT_EMBEDDED_NAME, scout_default_config,
				       strlen(scout_default_config), &diag, ret);
	for (size_t i = 0; i < diag.n; i++) {
		if (diag.warning[i])
			log_warn("%s", diag.msgs[i]);
		else
			log_error("%s", diag.msgs[i]);
	}
	scout_diag_free(&diag);
	return r;
}

int scout_agent_schema(const struct scout_schema **ret_schema)
{
	return scout_host_schema(&agent_section, ret_schema);
}

static const char *type_name(const struct scout_option *o)
{
	switch (o->type) {
	case SCOUT_OPT_BOOL:
		return "yes/no";
	case SCOUT_OPT_INT:
		return "integer";
	case SCOUT_OPT_DURATION:
		return "duration";
	case SCOUT_OPT_SIZE:
		return "size";
	case SCOUT_OPT_STRING:
		return "string";
	case SCOUT_OPT_PATH:
		return "path";
	case SCOUT_OPT_ENUM:
		return "choice";
	case SCOUT_OPT_CUSTOM:
		return "list";
	}
	return "?";
}

void scout_agent_config_reference(FILE *out)
{
	const struct scout_schema *schema;

	if (scout_agent_schema(&schema) < 0)
		return;
	for (size_t i = 0; i < schema->n; i++) {
		const struct scout_section *sec = schema->sections[i];
		fprintf(out, "## [%s]\n\n| key | type | default | meaning |\n|---|---|---|---|\n", sec->name);
		if (sec->has_enabled)
			fprintf(out, "| `enabled` | yes/no | `%s` | run this module |\n", sec->default_enabled ? "yes" : "no");
		for (const struct scout_option *o = sec->options; o && o->key; o++) {
			char range[96] = "";
			if ((o->min || o->max) && o->type == SCOUT_OPT_INT)
				snprintf(range, sizeof(range), " (%lld to %lld)", (long long)o->min, (long long)o->max);
			const char *def = !o->def ? "required" : *o->def ? o->def : "(empty)";
			fprintf(out, "| `%s` | %s | %s%s%s | %s%s |\n", o->key, type_name(o), o->def && *o->def ? "`" : "",
				def, o->def && *o->def ? "`" : "", o->help ? o->help : "", range);
		}
		fprintf(out, "\n");
	}
}

int scout_agent_check(const char *path, FILE *out)
{
	const struct scout_schema *schema;
	struct scout_diag diag = {0};
	struct scout_config *cfg = NULL;
	int r;

	if (scout_host_schema(&agent_section, &schema) < 0)
		return 1;
	if (path)
		r = scout_config_load(schema, path, &diag, &cfg);
	else
		r = scout_config_parse(schema, SCOUT_EMBEDDED_NAME, scout_default_config, strlen(scout_default_config),
				       &diag, &cfg);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(out, "%s\n", diag.msgs[i]);
	scout_diag_free(&diag);
	scout_config_free(cfg);
	return r < 0 ? 1 : 0;
}

static void log_leftover(uv_handle_t *h, void *arg)
{
	(void)arg;
	log_error("agent: handle left open at exit: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
		  uv_is_closing(h) ? " (closing)" : "");
}

/* path made absolute without resolving links: a reload reads whatever the
 * path names then, as an administrator who repoints a symlink expects */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

int scout_agent_run(const char *path)
{
	struct agent agent = {.lock_fd = -1, .exit_code = 0}, *a = &agent;
	struct scout_config *cfg = NULL;
	struct run_record now = {0};
	enum scout_log_level lvl;
	char err[512];
	int r;

	/* Documents, keys and credentials pass through this process: keep them
	 * out of core files. */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	scout_log_set_journal(scout_log_stderr_is_journal());
	a->start_hr = uv_hrtime();
	a->started = time(NULL);
	a->reload_errors = json_array();
	a->reload_notes = json_array();

	if (scout_host_schema(&agent_section, &a->schema) < 0 || scout_host_new(a->schema, &a->host) < 0)
		return 1;
	if (path)
		a->config_path = absolute(path);
	if (load_config(a, a->config_path, &cfg) < 0) {
		log_error("agent: not started: the configuration has errors");
		r = 1;
		goto out;
	}
	a->conf = scout_config_take(cfg, 0);
	scout_log_level_parse(log_levels[a->conf->log_level], &lvl);
	scout_log_set_level(lvl);
	raise_nofile_limit();

	r = mkdirs(a->conf->state_dir, 0750);
	if (r < 0) {
		log_error("agent: cannot create state_dir %s: %s", a->conf->state_dir, strerror(-r));
		r = 1;
		goto out;
	}
	if (check_state_dir(a->conf->state_dir) < 0 || lock_state_dir(a) < 0) {
		r = 1;
		goto out;
	}
	if (scout_store_open(a->conf->state_dir, a->conf->store_max_size, &a->store, err, sizeof(err)) < 0) {
		log_error("agent: %s", err);
		r = 1;
		goto out;
	}
	if ((r = scout_store_db(a->store, "agent", &a->db)) < 0) {
		log_error("agent: store: cannot open database 'agent': %s", strerror(-r));
		r = 1;
		goto out;
	}
	load_run(a);
	if (a->have_prev && a->prev.running)
		log_warn("agent: the previous run (started %" PRIu64 ") did not stop cleanly", a->prev.started);
	a->unclean_starts = a->have_prev && a->prev.running ? a->prev.unclean + 1 : 0;
	if (a->unclean_starts >= CRASH_LOOP_STARTS)
		log_warn("agent: %" PRIu64 " unclean starts in a row: a crash loop; the end of each earlier run's log "
			 "says why (journalctl -u scoutd), and `scoutctl status` shows the count",
			 a->unclean_starts);
	now = (struct run_record){.starts = a->prev.starts + 1,
				  .running = true,
				  .started = (uint64_t)a->started,
				  .unclean = a->unclean_starts};
	if ((r = save_run(a, &now)) < 0) {
		log_error("agent: store: cannot write: %s", strerror(-r));
		r = 1;
		goto out;
	}

	uv_loop_init(&a->loop);
	if (scout_bus_new(&a->loop, &a->bus) < 0) {
		r = 1;
		goto close_loop;
	}
	if (scout_status_listen(&a->loop, a->conf->status_socket, a->conf->status_group, on_request, a, &a->status, err,
				sizeof(err)) < 0) {
		log_error("agent: status socket: %s", err);
		a->status = NULL;
		r = 1;
		a->exit_code = 1;
		scout_bus_close(a->bus, on_bus_closed, a);
		a->bus = NULL;
		goto close_loop;
	}
	scout_status_set_idle_timeout(a->status, a->conf->status_idle_timeout);
	static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&a->loop, &a->sig[i]);
		a->sig[i].data = a;
		uv_signal_start(&a->sig[i], on_signal, signums[i]);
	}
	uv_timer_init(&a->loop, &a->watchdog);
	uv_timer_init(&a->loop, &a->stop_timer);
	a->watchdog.data = a->stop_timer.data = a;

	struct scout_host_env env = {
		.loop = &a->loop,
		.bus = a->bus,
		.store = a->store,
		.state_dir = a->conf->state_dir,
		.core_commands = core_commands,
	};
	scout_host_start(a->host, &env, cfg);
	scout_config_free(cfg);
	cfg = NULL;
	/* health publishes from a timer, so nothing is missed by subscribing
	 * once the host has declared the topics */
	struct scout_topic *health = scout_bus_find(a->bus, HEALTH_TOPIC_REPORT);
	if (health)
		scout_bus_subscribe(a->bus, health, on_health, a, 16, &a->health_sub);
	else
		log_debug("agent: no %s topic: STATUS= shows no health", HEALTH_TOPIC_REPORT);

	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
		uv_timer_start(&a->watchdog, on_watchdog, 0, wd_usec / 2000);
	log_info("agent: scoutd %s running (config %s, state %s, socket %s)", SCOUT_VERSION,
		 a->config_path ? a->config_path : SCOUT_EMBEDDED_NAME, a->conf->state_dir, a->conf->status_socket);
	sd_notify(0, "READY=1");
	notify_status(a);

	uv_run(&a->loop, UV_RUN_DEFAULT);
	r = a->exit_code;
	if (a->forced && a->reloading) {
		/* The reload's thread is stuck in the file system, and libuv
		 * joins its pool's threads at exit: a plain return would wait
		 * for it for ever. */
		log_error("agent: exiting with a reload still running");
		_exit(r);
	}

close_loop:
	if (!a->forced) {
		/* close anything still closing, then the loop must be empty */
		uv_run(&a->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&a->loop) != 0) {
			uv_walk(&a->loop, log_leftover, NULL);
			log_error("agent: event loop not empty at exit");
			r = 70;
		}
	}
	if (now.running && !a->forced) {
		/* a clean stop, or a start that failed after the record was
		 * written: neither is a crash the next start should report */
		now.running = false;
		now.stopped = (uint64_t)time(NULL);
		if (save_run(a, &now) < 0)
			log_warn("agent: cannot record the stop");
		if (r == 0)
			log_info("agent: stopped");
	}
out:
	scout_config_free(cfg);
	if (!a->forced) {
		scout_host_free(a->host);
		scout_store_close(a->store);
	}
	if (a->conf)
		scout_section_conf_free(&agent_section, a->conf);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	json_decref(a->reload_errors);
	json_decref(a->reload_notes);
	free(a->config_path);
	return r;
}
