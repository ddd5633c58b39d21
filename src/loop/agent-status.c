/* The core's answers on the status socket: the status object (agent,
 * modules, bus, store, socket, last reload) that `scoutctl status` shows and
 * the metrics are made of, the core's commands and their help, and the
 * dispatch of every request to the core or to the module that serves it. */
#include <string.h>
#include <unistd.h>

#include "agent-internal.h"
#include "bus.h"
#include "module.h"
#include "status.h"
#include "store.h"

uint64_t agent_uptime_s(const struct agent *a)
{
	return (uv_hrtime() - a->start_hr) / 1000000000u;
}

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

json_t *agent_status_json(struct agent *a)
{
	const struct scout_status_stats *ss = scout_status_stats(a->status);
	size_t rss = 0;
	json_t *mods = json_array(), *o;

	uv_resident_set_memory(&rss);
	scout_host_status(a->host, mods);
	o = json_pack("{s:s, s:i, s:I, s:o, s:o, s:s, s:s, s:s, s:I}", "version", SCOUT_VERSION, "pid", (int)getpid(),
		      "uptime_s", (json_int_t)agent_uptime_s(a), "started", scout_time_json(a->started), "config",
		      a->config_path ? json_string(a->config_path) : json_string(SCOUT_EMBEDDED_NAME), "state_dir",
		      a->conf->state_dir, "status_socket", a->conf->status_socket, "log_level",
		      agent_log_levels[a->conf->log_level], "rss_bytes", (json_int_t)rss);
	json_object_set_new(o, "previous_run",
			    !a->have_prev ? json_string("none") : json_string(a->prev.running ? "unclean" : "clean"));
	json_object_set_new(o, "starts", json_integer((json_int_t)(a->prev.starts + 1)));
	json_object_set_new(o, "unclean_starts", json_integer((json_int_t)a->unclean_starts));
	json_object_set_new(o, "crash_loop", json_boolean(a->unclean_starts >= AGENT_CRASH_LOOP_STARTS));
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
		last = json_pack("{s:o, s:b, s:O, s:O}", "time", scout_time_json(a->reload_time), "ok",
				 json_array_size(a->reload_errors) == 0, "errors", a->reload_errors, "notes",
				 a->reload_notes);
	json_object_set_new(o, "reload",
			    json_pack("{s:i, s:i, s:o}", "ok", a->reloads_ok, "failed", a->reloads_failed, "last",
				      last));
	return o;
}

/* ---- status requests --------------------------------------------------- */

/* The core's commands, answered below; listed in help with the modules'. */
static const char *const version_text[] = {"scoutd {version}", NULL};
const struct scout_command agent_core_commands[] = {
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

	for (const struct scout_command *c = agent_core_commands; c->name; c++)
		json_array_append_new(arr, scout_command_json(c, NULL));
	scout_host_help(a->host, arr);
	return arr;
}

void agent_on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct agent *a = arg;

	if (strcmp(cmd, "status") == 0) {
		scout_status_reply(req, json_pack("{s:o}", "status", agent_status_json(a)));
	} else if (strcmp(cmd, "metrics") == 0) {
		char *text = agent_metrics_text(a);
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
		agent_reload_request(a, req);
	} else if (!scout_host_command(a->host, cmd, req, request)) {
		scout_status_error(req, "unknown_command", "unknown command '%s'", cmd);
	}
}
