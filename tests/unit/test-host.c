/* Unit tests for src/loop/module.c with the real registry (the health
 * module): start on the embedded default configuration, a health.report on
 * the bus and an answer to health.query, status objects, reloads that
 * disable and enable the module, and an asynchronous stop after which the
 * loop closes empty. */
#include <errno.h>
#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "status-client.h"

#include "loop/agent.h"
#include "loop/bus.h"
#include "loop/closer.h"
#include "loop/config.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"

struct env {
	char dir[64];
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_bus *bus;
	struct scout_store *store;
	const struct scout_schema *schema;
	struct scout_host *host;
	struct scout_sub *report_sub;
	unsigned reports;
	bool last_ok_known;
	uint64_t last_time, last_disk_total, last_store_map;
	bool stopped, bus_closed;
	/* health.query answer */
	unsigned answers;
	int answer_status;
	bool answer_has_ok;
	/* a status socket for module commands (the failure-path tests) */
	struct scout_status_server *srv;
	char sock[96];
	struct status_client client;
};

static void on_report(const struct scout_msg *msg, void *arg)
{
	struct env *e = arg;
	msgpack_unpacked u;
	bool ok;

	e->reports++;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_bool(&u.data, "ok", &ok) == 0 && scout_pack_get_uint(&u.data, "time", &e->last_time) == 0 &&
	    scout_pack_get_uint(&u.data, "disk_total", &e->last_disk_total) == 0 &&
	    scout_pack_get_uint(&u.data, "store_map", &e->last_store_map) == 0) {
		const msgpack_object *p = scout_pack_get(&u.data, "problems");
		e->last_ok_known = p && p->type == MSGPACK_OBJECT_ARRAY && (p->via.array.size == 0) == ok;
	}
	msgpack_unpacked_destroy(&u);
}

static void on_query_answer(int status, const struct scout_msg *reply, void *arg)
{
	struct env *e = arg;
	msgpack_unpacked u;
	bool ok;

	e->answers++;
	e->answer_status = status;
	if (!reply)
		return;
	msgpack_unpacked_init(&u);
	e->answer_has_ok = msgpack_unpack_next(&u, reply->data, reply->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
			   scout_pack_get_bool(&u.data, "ok", &ok) == 0;
	msgpack_unpacked_destroy(&u);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(struct env *e, uint64_t ms)
{
	loop_run_for(&e->loop, &e->timer, ms);
}

#define WAIT_FOR(e, cond) LOOP_WAIT_FOR(&(e)->loop, &(e)->timer, cond, 5)

static struct scout_config *parse_real(const struct scout_schema *schema, const char *text)
{
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	int r = scout_config_parse(schema, "t.ini", text, strlen(text), &d, &cfg);

	for (size_t i = 0; i < d.n; i++)
		print_error("problem: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	scout_diag_free(&d);
	return cfg;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512] = "";

	assert_non_null(e);
	strcpy(e->dir, "/tmp/scout-test-host-XXXXXX");
	e->client.cap = 4096;
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(uv_timer_init(&e->loop, &e->timer), 0);
	assert_int_equal(scout_bus_new(&e->loop, &e->bus), 0);
	if (scout_store_open(e->dir, 64 << 20, &e->store, err, sizeof(err)) < 0)
		fail_msg("store: %s", err);
	assert_int_equal(scout_agent_schema(&e->schema), 0);
	assert_int_equal(scout_host_new(e->schema, &e->host), 0);
	*state = e;
	return 0;
}

static void start_default(struct env *e)
{
	struct scout_config *cfg = parse_real(e->schema, scout_default_config);
	struct scout_host_env henv = {
		.loop = &e->loop,
		.bus = e->bus,
		.store = e->store,
		.state_dir = e->dir,
	};

	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
	/* the host declared health's topics: subscribe like any consumer */
	assert_non_null(scout_bus_find(e->bus, "health.report"));
	assert_int_equal(scout_bus_subscribe(e->bus, scout_bus_find(e->bus, "health.report"), on_report, e, 16,
					     &e->report_sub),
			 0);
}

static void on_stopped(void *arg)
{
	struct env *e = arg;
	e->stopped = true;
}

static void on_bus_closed(void *arg)
{
	struct env *e = arg;
	e->bus_closed = true;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	if (e->srv) /* first: its timers would keep the stop's loop running */
		scout_status_close(e->srv, NULL, NULL);
	if (!e->stopped) {
		scout_host_stop(e->host, on_stopped, e);
		uv_run(&e->loop, UV_RUN_DEFAULT);
		assert_true(e->stopped);
	}
	scout_bus_unsubscribe(e->report_sub);
	scout_bus_close(e->bus, on_bus_closed, e);
	uv_close((uv_handle_t *)&e->timer, NULL);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_true(e->bus_closed);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	scout_host_free(e->host);
	scout_store_close(e->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	status_client_free(&e->client);
	free(e);
	return 0;
}

static json_t *module_status(struct env *e, const char *name)
{
	json_t *arr = json_array(), *found = NULL, *m;
	size_t i;

	scout_host_status(e->host, arr);
	json_array_foreach (arr, i, m) {
		if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
			found = json_incref(m);
	}
	json_decref(arr);
	assert_non_null(found);
	return found;
}

/* The module's state name (static strings). */
static const char *state_of(struct env *e, const char *name)
{
	json_t *m = module_status(e, name);
	const char *got = json_string_value(json_object_get(m, "state"));

	for (int st = SCOUT_MOD_DISABLED; st <= SCOUT_MOD_STOPPED; st++)
		if (strcmp(got, scout_mod_state_name(st)) == 0)
			got = scout_mod_state_name(st);
	json_decref(m);
	return got;
}

static void assert_state(struct env *e, const char *name, const char *state)
{
	const char *got = state_of(e, name);

	if (strcmp(got, state) != 0)
		fail_msg("%s is %s, want %s", name, got, state);
}

static void test_registry(void **state)
{
	struct env *e = *state;

	assert_true(scout_modules_count >= 1);
	bool have_health = false;
	for (size_t i = 0; i < scout_modules_count; i++) {
		const struct scout_module *m = scout_modules[i];
		assert_non_null(m->name);
		assert_non_null(m->start);
		assert_non_null(m->stop);
		/* each has a section of its own name, after [agent] */
		assert_int_equal(scout_schema_find(e->schema, m->name), (int)i + 1);
		have_health |= strcmp(m->name, "health") == 0;
	}
	assert_true(have_health);
	assert_string_equal(e->schema->sections[0]->name, "agent");
	assert_int_equal(e->schema->n, scout_modules_count + 1);
	/* before start every module is disabled */
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_DISABLED), scout_modules_count);
	assert_string_equal(scout_mod_state_name(SCOUT_MOD_RUNNING), "running");
	assert_string_equal(scout_mod_state_name(SCOUT_MOD_FAILED), "failed");
	e->stopped = true; /* nothing started: teardown need not stop */
}

static void test_start_report_stop(void **state)
{
	struct env *e = *state;
	char stuck[128];

	start_default(e);
	assert_state(e, "health", "running");
	assert_true(scout_host_count(e->host, SCOUT_MOD_RUNNING) >= 1);
	assert_int_equal(e->reports, 0); /* nothing is delivered inside start */

	run_for(e, 300);
	WAIT_FOR(e, e->reports >= 1); /* the first sample is taken at once */
	assert_state(e, "health", "running");
	assert_true(e->last_ok_known);
	assert_true(e->last_time >= (uint64_t)time(NULL) - 60);
	assert_true(e->last_disk_total > 0);
	assert_true(e->last_store_map >= 1 << 20);
	assert_int_equal(scout_topic_stats(scout_bus_find(e->bus, "health.report"))->dropped, 0);

	/* one status object per module; health's */
	json_t *arr = json_array();
	scout_host_status(e->host, arr);
	assert_int_equal(json_array_size(arr), scout_modules_count);
	json_decref(arr);
	json_t *m = module_status(e, "health");
	assert_true(json_is_true(json_object_get(m, "enabled")));
	assert_true(json_is_null(json_object_get(m, "reason")));
	assert_int_equal(json_integer_value(json_object_get(m, "starts")), 1);
	assert_true(json_is_integer(json_object_get(m, "uptime_s")));
	json_t *counters = json_object_get(m, "counters");
	assert_true(json_integer_value(json_object_get(counters, "samples")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(counters, "store_errors")), 0);
	assert_true(json_is_boolean(json_object_get(m, "ok")));
	assert_true(json_is_array(json_object_get(m, "problems")));
	json_decref(m);

	/* health.query is answered with the last report */
	assert_int_equal(scout_bus_request(e->bus, scout_bus_find(e->bus, "health.query"), NULL, 0, 1000,
					   on_query_answer, e, NULL),
			 0);
	WAIT_FOR(e, e->answers == 1);
	assert_int_equal(e->answer_status, 0);
	assert_true(e->answer_has_ok);

	/* the sample went to the module's own database */
	struct scout_db *db;
	struct scout_store_info info;
	assert_int_equal(scout_store_db(e->store, "health", &db), 0);
	assert_int_equal(scout_store_info(e->store, &info), 0);
	assert_true(info.used > 0);

	/* stop: asynchronous, done once the module has closed its handles */
	scout_host_stop(e->host, on_stopped, e);
	assert_state(e, "health", "stopping");
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "health");
	assert_false(e->stopped);
	uv_run(&e->loop, UV_RUN_DEFAULT); /* ends: the module's handles are closed */
	assert_true(e->stopped);
	assert_state(e, "health", "stopped");
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "");
	/* nobody serves health.query any more */
	e->answers = 0;
	assert_int_equal(scout_bus_request(e->bus, scout_bus_find(e->bus, "health.query"), NULL, 0, 1000,
					   on_query_answer, e, NULL),
			 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(e->answers, 1);
	assert_int_equal(e->answer_status, -ENOENT);
	/* teardown closes the bus and asserts uv_loop_close() == 0 */
}

static void test_reload_disable_enable(void **state)
{
	struct env *e = *state;
	struct scout_config *cfg;

	start_default(e);
	WAIT_FOR(e, e->reports >= 1);
	assert_state(e, "health", "running");
	unsigned reports;

	/* disabled: stops asynchronously, then shows as disabled */
	cfg = parse_real(e->schema, "[health]\nenabled = no\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	WAIT_FOR(e, strcmp(state_of(e, "health"), "disabled") == 0);
	assert_true(scout_host_count(e->host, SCOUT_MOD_DISABLED) >= 1);
	json_t *m = module_status(e, "health");
	assert_true(json_is_false(json_object_get(m, "enabled")));
	assert_true(json_is_null(json_object_get(m, "uptime_s")));
	json_decref(m);
	reports = e->reports;
	run_for(e, 50);
	assert_int_equal(e->reports, reports); /* no more reports */

	/* enabled again: running at once, with a fresh sample */
	cfg = parse_real(e->schema, "[health]\nenabled = yes\ninterval = 1s\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	assert_state(e, "health", "running");
	WAIT_FOR(e, e->reports > reports);
	m = module_status(e, "health");
	assert_int_equal(json_integer_value(json_object_get(m, "starts")), 2);
	json_decref(m);

	/* a reload of a running module takes the new settings in place */
	cfg = parse_real(e->schema, "[health]\ninterval = 2s\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	run_for(e, 20);
	assert_state(e, "health", "running");
	m = module_status(e, "health");
	assert_int_equal(json_integer_value(json_object_get(m, "starts")), 2);
	json_decref(m);
}

static void test_reload_disable_then_enable_before_stopped(void **state)
{
	/* enabled again while still stopping: it starts once it has stopped */
	struct env *e = *state;
	struct scout_config *cfg;

	start_default(e);
	run_for(e, 50);
	cfg = parse_real(e->schema, "[health]\nenabled = no\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	assert_state(e, "health", "stopping");
	cfg = parse_real(e->schema, "[health]\nenabled = yes\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	WAIT_FOR(e, strcmp(state_of(e, "health"), "running") == 0);
	json_t *m = module_status(e, "health");
	assert_int_equal(json_integer_value(json_object_get(m, "starts")), 2);
	json_decref(m);
}

/* Stopped right after its first tick: the statfs it started may still be
 * on the thread pool, and health's closer waits for it (a hold) before it
 * frees its state; the loop then closes empty. */
static void test_stop_during_first_sample(void **state)
{
	struct env *e = *state;

	start_default(e);
	uv_run(&e->loop, UV_RUN_NOWAIT); /* the tick fires and asks for statfs */
	scout_host_stop(e->host, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->stopped);
	assert_state(e, "health", "stopped");
}

static void test_start_disabled(void **state)
{
	struct env *e = *state;
	struct scout_config *cfg = parse_real(e->schema, "[health]\nenabled = no\n");
	struct scout_host_env henv = {.loop = &e->loop, .bus = e->bus, .store = e->store, .state_dir = e->dir};

	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
	assert_state(e, "health", "disabled");
	run_for(e, 50);
	assert_int_equal(e->reports, 0);

	/* stopping with nothing running completes at once */
	scout_host_stop(e->host, on_stopped, e);
	assert_true(e->stopped);
}

static void test_command_lookup(void **state)
{
	/* health serves no status command: unknown names are not taken */
	struct env *e = *state;

	start_default(e);
	assert_false(scout_host_command(e->host, "no-such-command", NULL, NULL));
}

/* ---- fake modules ------------------------------------------------------
 * A registry of small modules, each proving one rule of the host: topics
 * are declared from the descriptors, a name declared twice fails the later
 * module, a topic nobody declares fails the module that uses it, and the
 * others run on. */

struct fake_conf {
	int64_t n;
};

static const struct scout_option fake_options[] = {
	{.key = "n", .type = SCOUT_OPT_INT, .offset = offsetof(struct fake_conf, n), .def = "0", .min = 0, .max = 100},
	{0},
};

static const struct scout_section fake_first = {
	.name = "agent",
	.options = fake_options,
	.conf_size = sizeof(struct fake_conf),
};

struct fake_state {
	struct scout_sub *sub;
	unsigned got;
};

static unsigned fake_msgs;

static void fake_on_msg(const struct scout_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	fake_msgs++;
}

/* Subscribes to the topic named by its descriptor's summary. */
static int fake_start(struct scout_mod *m)
{
	struct fake_state *f = calloc(1, sizeof(*f));
	struct scout_topic *t;
	int r;

	if (!f)
		return -ENOMEM;
	scout_mod_set_priv(m, f);
	if ((r = scout_mod_topic(m, strchr(scout_mod_name(m), 'a') ? "fa.event" : "nobody.declares", &t)) < 0)
		return r;
	return scout_bus_subscribe(scout_mod_bus(m), t, fake_on_msg, f, 0, &f->sub);
}

static void fake_stop(struct scout_mod *m)
{
	struct fake_state *f = scout_mod_priv(m);

	if (f)
		scout_bus_unsubscribe(f->sub);
	free(f);
	scout_mod_stopped(m);
}

static const struct scout_topic_decl fa_topics[] = {
	{"fa.event", SCOUT_TOPIC_EVENT, "nil"},
	{"shared.name", SCOUT_TOPIC_REQUEST, "nil; reply nil"},
	{0},
};
static const struct scout_topic_decl fb_topics[] = {
	{"fb.own", SCOUT_TOPIC_EVENT, "nil"},
	{"shared.name", SCOUT_TOPIC_EVENT, "nil"},
	{0},
};

#define FAKE(mod_name, tops)                                                                                   \
	{                                                                                                      \
		.name = mod_name, .summary = "fake", .default_enabled = true, .options = fake_options,         \
		.conf_size = sizeof(struct fake_conf), .start = fake_start, .stop = fake_stop, .topics = tops, \
	}

static const struct scout_module fake_fa = FAKE("fa", fa_topics);
static const struct scout_module fake_fb = FAKE("fb", fb_topics);
static const struct scout_module fake_fc = FAKE("fc", NULL); /* uses "nobody.declares" */
static const struct scout_module *const fake_registry[] = {&fake_fa, &fake_fb, &fake_fc};

static const struct scout_command core_cmds[] = {{.name = "status"}, {0}};

static void start_registry(struct env *e, const struct scout_module *const *reg, size_t n, const char *text)
{
	struct scout_host_env henv = {.loop = &e->loop,
				      .bus = e->bus,
				      .store = e->store,
				      .state_dir = e->dir,
				      .core_commands = core_cmds};

	scout_host_free(e->host);
	assert_int_equal(scout_host_schema_of(&fake_first, reg, n, &e->schema), 0);
	assert_int_equal(scout_host_new_of(e->schema, reg, n, &e->host), 0);
	struct scout_config *cfg = parse_real(e->schema, text);
	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
}

static void start_fakes(struct env *e, const char *text)
{
	start_registry(e, fake_registry, 3, text);
}

static const char *reason_of(struct env *e, const char *name)
{
	static char buf[300];
	json_t *m = module_status(e, name);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(m, "reason")) ?: "");
	json_decref(m);
	return buf;
}

static void test_topics_declared_by_modules(void **state)
{
	struct env *e = *state;

	start_fakes(e, "[agent]\n");
	/* fa's topics are declared, fb's not one (all or none) */
	assert_string_equal(scout_topic_owner(scout_bus_find(e->bus, "fa.event")), "fa");
	assert_string_equal(scout_topic_owner(scout_bus_find(e->bus, "shared.name")), "fa");
	assert_null(scout_bus_find(e->bus, "fb.own"));
	assert_state(e, "fa", "running");
	assert_state(e, "fb", "failed");
	assert_string_equal(reason_of(e, "fb"), "bus topic 'shared.name' is declared by module fa too");
	assert_state(e, "fc", "failed");
	assert_string_equal(reason_of(e, "fc"), "uses bus topic 'nobody.declares', which no module declares");
	/* fa runs on and gets what is published */
	assert_int_equal(scout_bus_publish(e->bus, scout_bus_find(e->bus, "fa.event"), NULL, 0), 0);
	fake_msgs = 0;
	WAIT_FOR(e, fake_msgs == 1);
	/* a reload does not start the module whose table collides */
	struct scout_config *cfg = parse_real(e->schema, "[fb]\nn = 3\n");
	scout_host_reload(e->host, cfg, NULL);
	scout_config_free(cfg);
	assert_state(e, "fb", "failed");
	assert_string_equal(reason_of(e, "fb"), "bus topic 'shared.name' is declared by module fa too");
}

/* A module disabled in the config still declares its topics: a consumer
 * of them starts whatever the publisher's state. */
static void test_topics_of_disabled_module(void **state)
{
	struct env *e = *state;

	start_fakes(e, "[fa]\nenabled = no\n[fb]\nenabled = no\n[fc]\nenabled = no\n");
	assert_non_null(scout_bus_find(e->bus, "fa.event"));
	assert_state(e, "fa", "disabled");
	assert_int_equal(scout_bus_topics(e->bus), 2);
}

/* ---- reload: the hook sees the new configuration; a refusal keeps the old */

static int64_t seen_in_reload, seen_old;

static int refusing_reload(struct scout_mod *m, const void *old_conf)
{
	const struct fake_conf *now = scout_mod_conf(m), *old = old_conf;

	seen_in_reload = now->n;
	seen_old = old->n;
	if (now->n == 13) {
		scout_mod_refuse(m, "n = %lld is unlucky", (long long)now->n);
		return -EINVAL;
	}
	return now->n == 14 ? -EIO : 0;
}

static const struct scout_module fr = {.name = "fa",
				       .default_enabled = true,
				       .options = fake_options,
				       .conf_size = sizeof(struct fake_conf),
				       .start = fake_start,
				       .stop = fake_stop,
				       .reload = refusing_reload,
				       .topics = fa_topics};
static const struct scout_module *const reload_registry[] = {&fr};

static void reload_with(struct env *e, const char *text, json_t *refused)
{
	struct scout_config *cfg = parse_real(e->schema, text);
	scout_host_reload(e->host, cfg, refused);
	scout_config_free(cfg);
}

static void test_reload_sees_new_conf_and_refusal_keeps_old(void **state)
{
	struct env *e = *state;
	json_t *refused = json_array();

	start_registry(e, reload_registry, 1, "[fa]\nn = 1\n");
	assert_state(e, "fa", "running");
	reload_with(e, "[fa]\nn = 2\n", refused);
	assert_int_equal(seen_in_reload, 2); /* scout_mod_conf() is the new one inside reload */
	assert_int_equal(seen_old, 1);
	assert_int_equal(json_array_size(refused), 0);
	reload_with(e, "[fa]\nn = 13\n", refused);
	assert_int_equal(json_array_size(refused), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(refused, 0), "module")), "fa");
	assert_string_equal(json_string_value(json_object_get(json_array_get(refused, 0), "reason")),
			    "n = 13 is unlucky");
	assert_state(e, "fa", "running");
	/* the refused settings did not stay: the next reload compares with 2 */
	reload_with(e, "[fa]\nn = 3\n", refused);
	assert_int_equal(seen_old, 2);
	assert_int_equal(json_array_size(refused), 1);
	/* a refusal without a reason is reported with its error */
	reload_with(e, "[fa]\nn = 14\n", refused);
	assert_int_equal(json_array_size(refused), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(refused, 1), "reason")),
			    "reload failed: Input/output error");
	reload_with(e, "[fa]\nn = 4\n", NULL);
	assert_int_equal(seen_old, 3);
	assert_int_equal(seen_in_reload, 4);
	json_decref(refused);
}

static void fake_cmd(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
}

static const struct scout_arg frob_args[] = {{"id", SCOUT_ARG_STRING, true, "which"}, {"all", SCOUT_ARG_FLAG}, {0}};
static const struct scout_column frob_cols[] = {{"a.b|c", "AB", 10}, {0}};
static const struct scout_table frob_tables[] = {{"rows", frob_cols}, {0}};
/* What a command saw of its secret, to check the host wiped it after. */
static char seen_secret[32];

static void secret_cmd(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	snprintf(seen_secret, sizeof(seen_secret), "%s", json_string_value(json_object_get(request, "pw")));
}

static const struct scout_arg lock_args[] = {{"pw", SCOUT_ARG_SECRET, true, "password", .confirm = true}, {0}};
static const struct scout_command fa_cmds[] = {{"frob", fake_cmd, "frobs", frob_args, frob_tables, NULL},
					       {"fa-only", fake_cmd},
					       {"fa lock", secret_cmd, "locks", lock_args},
					       {0}};
static const struct scout_command fb_cmds[] = {{"frob", fake_cmd}, {0}};   /* fa's */
static const struct scout_command fc_cmds[] = {{"status", fake_cmd}, {0}}; /* the core's */
static const struct scout_module cmd_fa = {.name = "fa",
					   .default_enabled = true,
					   .options = fake_options,
					   .conf_size = sizeof(struct fake_conf),
					   .start = fake_start,
					   .stop = fake_stop,
					   .topics = fa_topics,
					   .commands = fa_cmds};
static const struct scout_module cmd_fb = {.name = "fb",
					   .default_enabled = true,
					   .options = fake_options,
					   .conf_size = sizeof(struct fake_conf),
					   .start = fake_start,
					   .stop = fake_stop,
					   .commands = fb_cmds};
static const struct scout_module cmd_fc = {.name = "fc",
					   .default_enabled = true,
					   .options = fake_options,
					   .conf_size = sizeof(struct fake_conf),
					   .start = fake_start,
					   .stop = fake_stop,
					   .commands = fc_cmds};
static const struct scout_module *const cmd_registry[] = {&cmd_fa, &cmd_fb, &cmd_fc};

/* A command name is one module's: a second module with it, or a module
 * command named like a core one, fails that module at start, and help
 * lists only the first. */
static void test_command_collisions(void **state)
{
	struct env *e = *state;

	start_registry(e, cmd_registry, 3, "[agent]\n");
	assert_state(e, "fa", "running");
	assert_state(e, "fb", "failed");
	assert_string_equal(reason_of(e, "fb"), "command 'frob' is module fa's too");
	assert_state(e, "fc", "failed");
	assert_string_equal(reason_of(e, "fc"), "command 'status' is one of the core's");
	json_t *arr = json_array();
	scout_host_help(e->host, arr);
	assert_int_equal(json_array_size(arr), 3);
	char *lock = json_dumps(json_array_get(arr, 2), JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(lock, "\"name\":\"fa lock\""));
	assert_non_null(strstr(lock, "{\"name\":\"pw\",\"type\":\"secret\",\"required\":true,\"help\":\"password\","
				     "\"confirm\":true}"));
	free(lock);
	json_t *frob = json_array_get(arr, 0);
	char *text = json_dumps(frob, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, "{\"name\":\"frob\",\"module\":\"fa\",\"help\":\"frobs\",\"args\":["
				  "{\"name\":\"id\",\"type\":\"string\",\"required\":true,\"help\":\"which\"},"
				  "{\"name\":\"all\",\"type\":\"flag\",\"required\":false,\"help\":\"\"}],"
				  "\"tables\":[{\"path\":\"rows\",\"columns\":[{\"path\":\"a.b|c\",\"heading\":\"AB\","
				  "\"max_width\":10}]}],\"text\":[]}");
	free(text);
	json_decref(arr);
	assert_true(scout_host_command(e->host, "fa-only", NULL, NULL));

	/* the command sees its secret; the request's copy is wiped after */
	json_t *request = json_pack("{s:s, s:s}", "cmd", "fa lock", "pw", "hunter2");
	const char *pw = json_string_value(json_object_get(request, "pw"));
	assert_true(scout_host_command(e->host, "fa lock", NULL, request));
	assert_string_equal(seen_secret, "hunter2");
	assert_memory_equal(pw, "\0\0\0\0\0\0\0", 7);
	json_decref(request);
}

/* ---- failure paths -----------------------------------------------------
 * A registry of fakes, each failing in one way, next to "ok", a healthy
 * one with a timer, a topic and a command. Each test checks that ok runs
 * on (running, its command answers, its bus traffic flows) and that the
 * status objects tell the truth about the failing one. The fakes close
 * through the host's closer (scout_mod_closer). */

enum { FK_OK, FK_BOOM, FK_LATER, FK_NOREL, FK_HANG, FK_FLOOD, FK_N };
static const char *const fault_names[FK_N] = {"ok", "boom", "later", "norel", "hang", "flood"};

/* What happened to each fake, kept across its starts. */
struct tally {
	struct scout_mod *m; /* the last start's */
	unsigned starts, stops, cleanups;
	unsigned pings, got; /* commands run; messages received */
	int64_t n;           /* conf n when started */
	uint64_t published, dropped;
};
static struct tally tally[FK_N];

struct faker {
	struct scout_mod *m;
	struct tally *t;
	uv_timer_t timer; /* a handle: stop is asynchronous */
	struct scout_topic *topic;
	struct scout_sub *sub;
};

static struct tally *tally_of(struct scout_mod *m)
{
	for (int i = 0; i < FK_N; i++)
		if (strcmp(scout_mod_name(m), fault_names[i]) == 0)
			return &tally[i];
	fail_msg("no tally for %s", scout_mod_name(m));
	return NULL;
}

static void faker_on_msg(const struct scout_msg *msg, void *arg)
{
	struct faker *f = arg;
	(void)msg;
	f->t->got++;
}

static void faker_on_timer(uv_timer_t *timer)
{
	(void)timer;
}

static int faker_start(struct scout_mod *m)
{
	struct faker *f = calloc(1, sizeof(*f));
	const struct fake_conf *conf = scout_mod_conf(m);
	char topic[32];

	if (!f)
		return -ENOMEM;
	f->m = m;
	f->t = tally_of(m);
	f->t->m = m;
	f->t->starts++;
	f->t->n = conf->n;
	scout_mod_set_priv(m, f);
	uv_timer_init(scout_mod_loop(m), &f->timer);
	uv_timer_start(&f->timer, faker_on_timer, 60000, 60000);
	if (f->t == &tally[FK_BOOM])
		return -EIO; /* after opening a handle: stop must close it */
	snprintf(topic, sizeof(topic), "%s.tick", scout_mod_name(m));
	if (scout_bus_find(scout_mod_bus(m), topic)) {
		int r = scout_mod_topic(m, topic, &f->topic);
		if (r == 0)
			r = scout_bus_subscribe(scout_mod_bus(m), f->topic, faker_on_msg, f, 0, &f->sub);
		if (r < 0)
			return r;
	}
	return 0;
}

static void faker_free(void *arg)
{
	struct faker *f = arg;

	f->t->cleanups++;
	free(f);
}

static void faker_stop(struct scout_mod *m)
{
	struct faker *f = scout_mod_priv(m);

	f->t->stops++;
	scout_bus_unsubscribe(f->sub);
	f->sub = NULL;
	scout_closer_close(scout_mod_closer(m), (uv_handle_t *)&f->timer);
	if (f->t == &tally[FK_HANG]) {
		/* closes its handle but never says it has stopped */
		scout_closer_wait(scout_mod_closer(m), faker_free, f);
		return;
	}
	scout_mod_stopped_when_closed(m, faker_free, f);
}

static void faker_status(struct scout_mod *m, json_t *obj)
{
	struct faker *f = scout_mod_priv(m);
	json_t *c = json_object_get(obj, "counters");

	json_object_set_new(c, "pings", json_integer(f->t->pings));
	json_object_set_new(c, "published", json_integer((json_int_t)f->t->published));
	json_object_set_new(c, "dropped", json_integer((json_int_t)f->t->dropped));
}

/* ok-ping: publishes one tick on its own topic */
static void cmd_ping(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct faker *f = scout_mod_priv(m);
	(void)req;
	(void)request;
	f->t->pings++;
	assert_int_equal(scout_bus_publish(scout_mod_bus(m), f->topic, "p", 1), 0);
	if (req)
		scout_status_reply(req, json_pack("{s:i}", "pings", f->t->pings));
}

static void later_fail(uv_timer_t *timer)
{
	struct faker *f = timer->data;
	scout_mod_fail(f->m, "lost its device");
}

/* later-break: fails from the loop, a moment later */
static void cmd_break(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct faker *f = scout_mod_priv(m);
	(void)req;
	(void)request;
	f->timer.data = f;
	uv_timer_start(&f->timer, later_fail, 0, 0);
	if (req)
		scout_status_reply(req, NULL);
}

/* flood-burst: ten ticks in a row, counting the ones the full queue refused */
static void cmd_burst(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct faker *f = scout_mod_priv(m);
	(void)req;
	(void)request;
	for (int i = 0; i < 10; i++) {
		int r = scout_bus_publish(scout_mod_bus(m), f->topic, "f", 1);
		if (r == -ENOBUFS)
			f->t->dropped++;
		else
			assert_int_equal(r, 0);
		f->t->published++;
	}
	if (req)
		scout_status_reply(req, NULL);
}

static const struct scout_command ok_cmds[] = {{"ok-ping", cmd_ping, "publishes a tick"}, {0}};
static const struct scout_command later_cmds[] = {{"later-break", cmd_break, "fails soon"}, {0}};
static const struct scout_command flood_cmds[] = {{"flood-burst", cmd_burst, "ten ticks"}, {0}};
static const struct scout_topic_decl ok_topics[] = {{"ok.tick", SCOUT_TOPIC_EVENT, "one byte"}, {0}};
static const struct scout_topic_decl flood_topics[] = {{"flood.tick", SCOUT_TOPIC_EVENT, "one byte"}, {0}};

static int faker_reload(struct scout_mod *m, const void *old_conf)
{
	(void)old_conf;
	tally_of(m)->n = ((const struct fake_conf *)scout_mod_conf(m))->n;
	return 0;
}

#define FAKER(mod_name, cmds, tops, reload_fn)                                                         \
	{                                                                                              \
		.name = mod_name, .summary = "fake", .default_enabled = true, .options = fake_options, \
		.conf_size = sizeof(struct fake_conf), .start = faker_start, .reload = reload_fn,      \
		.status = faker_status, .stop = faker_stop, .commands = cmds, .topics = tops,          \
	}

static const struct scout_module f_ok = FAKER("ok", ok_cmds, ok_topics, faker_reload);
static const struct scout_module f_boom = FAKER("boom", NULL, NULL, faker_reload);
static const struct scout_module f_later = FAKER("later", later_cmds, NULL, faker_reload);
static const struct scout_module f_norel = FAKER("norel", NULL, NULL, NULL);
static const struct scout_module f_hang = FAKER("hang", NULL, NULL, faker_reload);
static const struct scout_module f_flood = FAKER("flood", flood_cmds, flood_topics, faker_reload);
static const struct scout_module *const fault_registry[FK_N] = {&f_ok, &f_boom, &f_later, &f_norel, &f_hang, &f_flood};

static unsigned ticks_seen;

static void on_tick_seen(const struct scout_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	ticks_seen++;
}

/* The status socket's handler, as the agent's passes module commands on. */
static void on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct env *e = arg;

	if (!scout_host_command(e->host, cmd, req, request))
		scout_status_error(req, "unknown", "no command %s", cmd);
}

static void start_faults(struct env *e, const char *text)
{
	char err[256] = "";

	memset(tally, 0, sizeof(tally));
	start_registry(e, fault_registry, FK_N, text);
	snprintf(e->sock, sizeof(e->sock), "%s/status.sock", e->dir);
	if (scout_status_listen(&e->loop, e->sock, NULL, on_request, e, &e->srv, err, sizeof(err)) < 0)
		fail_msg("status socket: %s", err);
}

/* Sends one request line over the status socket, as scoutctl does, and
 * returns the reply (caller decrefs). */
static json_t *ask(struct env *e, const char *line)
{
	return status_client_ask(&e->client, &e->loop, &e->timer, e->sock, line, 5);
}

/* The reply's error code, or "" when it is ok. */
static const char *ask_error(struct env *e, const char *line)
{
	static char code[64];
	json_t *r = ask(e, line);

	snprintf(code, sizeof(code), "%s",
		 json_is_true(json_object_get(r, "ok"))
			 ? ""
			 : json_string_value(json_object_get(json_object_get(r, "error"), "code")) ?: "?");
	json_decref(r);
	return code;
}

static json_int_t status_int(struct env *e, const char *name, const char *path)
{
	json_t *m = module_status(e, name), *v = m;
	char key[64];
	const char *p = path;

	while (v && *p) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		v = json_object_get(v, key);
		p += n + (p[n] == '.');
	}
	if (!json_is_integer(v))
		fail_msg("%s: %s is not an integer", name, path);
	json_int_t i = json_integer_value(v);
	json_decref(m);
	return i;
}

static bool status_is_null(struct env *e, const char *name, const char *key)
{
	json_t *m = module_status(e, name);
	bool null = json_is_null(json_object_get(m, key));
	json_decref(m);
	return null;
}

/* ok runs on: running, its command answers, its tick reaches it and a
 * subscriber of ours, and its status counts the ping. */
static void assert_ok_runs(struct env *e)
{
	struct scout_sub *sub;
	unsigned pings = tally[FK_OK].pings, got = tally[FK_OK].got;

	assert_state(e, "ok", "running");
	assert_true(status_is_null(e, "ok", "reason"));
	assert_int_equal(scout_bus_subscribe(e->bus, scout_bus_find(e->bus, "ok.tick"), on_tick_seen, e, 0, &sub), 0);
	ticks_seen = 0;
	json_t *r = ask(e, "{\"cmd\":\"ok-ping\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r, "pings")), pings + 1);
	json_decref(r);
	WAIT_FOR(e, ticks_seen == 1 && tally[FK_OK].got == got + 1);
	scout_bus_unsubscribe(sub);
	assert_int_equal(status_int(e, "ok", "counters.pings"), pings + 1);
	assert_int_equal(status_int(e, "ok", "starts"), 1);
}

static const char *only_ok_and(const char *name)
{
	static char text[256];
	size_t k = 0;

	for (int i = 0; i < FK_N; i++)
		if (strcmp(fault_names[i], "ok") && strcmp(fault_names[i], name))
			k += (size_t)snprintf(text + k, sizeof(text) - k, "[%s]\nenabled = no\n", fault_names[i]);
	return text;
}

/* The host's stop, run until the loop has nothing left (the status
 * socket closed first). */
static void stop_host(struct env *e)
{
	scout_status_close(e->srv, NULL, NULL);
	e->srv = NULL;
	scout_host_stop(e->host, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
}

/* A module whose start fails is closed (its handle too), marked failed
 * with the error, and started again by the next reload. */
static void test_fail_at_start(void **state)
{
	struct env *e = *state;

	start_faults(e, only_ok_and("boom"));
	assert_state(e, "boom", "failed");
	assert_string_equal(reason_of(e, "boom"), "start failed: Input/output error");
	assert_int_equal(tally[FK_BOOM].stops, 1); /* closing what it opened */
	assert_true(status_is_null(e, "boom", "uptime_s"));
	assert_int_equal(status_int(e, "boom", "starts"), 1);
	WAIT_FOR(e, tally[FK_BOOM].cleanups == 1);
	assert_state(e, "boom", "failed"); /* closed, still failed */
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_FAILED), 1);
	assert_ok_runs(e);

	/* the next reload tries again (and it fails again) */
	reload_with(e, only_ok_and("boom"), NULL);
	assert_state(e, "boom", "failed");
	assert_int_equal(status_int(e, "boom", "starts"), 2);
	WAIT_FOR(e, tally[FK_BOOM].cleanups == 2);
	assert_int_equal(tally[FK_BOOM].stops, 2);
	assert_ok_runs(e);
	/* disabled, it shows as disabled, without the old reason */
	reload_with(e, only_ok_and("none"), NULL);
	assert_state(e, "boom", "disabled");
	assert_true(status_is_null(e, "boom", "reason"));
	assert_ok_runs(e);
}

/* A module that fails while running (scout_mod_fail from the loop) is
 * closed once, shows its reason, is no longer offered its commands, and a
 * reload starts it again. */
static void test_fail_later(void **state)
{
	struct env *e = *state;
	char stuck[64];

	start_faults(e, only_ok_and("later"));
	assert_state(e, "later", "running");
	assert_string_equal(ask_error(e, "{\"cmd\":\"later-break\"}"), "");
	WAIT_FOR(e, strcmp(state_of(e, "later"), "failed") == 0);
	assert_string_equal(reason_of(e, "later"), "lost its device");
	/* its command is answered, with why it cannot run */
	json_t *r = ask(e, "{\"cmd\":\"later-break\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			    "module later is failed");
	json_decref(r);
	assert_int_equal(tally[FK_LATER].stops, 1);
	assert_true(status_is_null(e, "later", "uptime_s"));
	json_t *m = module_status(e, "later");
	assert_int_equal(json_object_size(json_object_get(m, "counters")), 0);
	json_decref(m);
	assert_int_equal(tally[FK_LATER].cleanups, 1);
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "ok");
	/* the next reload starts it again */
	reload_with(e, only_ok_and("later"), NULL);
	assert_state(e, "later", "running");
	assert_int_equal(status_int(e, "later", "starts"), 2);
	assert_true(status_is_null(e, "later", "reason"));

	/* failing again; a reload while it still closes must not stop it a
	 * second time, and it starts once closed */
	scout_mod_fail(tally[FK_LATER].m, "lost it again");
	scout_mod_fail(tally[FK_LATER].m, "and again"); /* the first reason stays */
	assert_state(e, "later", "failed");
	assert_string_equal(reason_of(e, "later"), "lost it again");
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "ok, later"); /* its handle is not closed yet */
	reload_with(e, only_ok_and("later"), NULL);
	assert_int_equal(tally[FK_LATER].stops, 2);
	WAIT_FOR(e, strcmp(state_of(e, "later"), "running") == 0);
	assert_int_equal(tally[FK_LATER].stops, 2);
	assert_int_equal(tally[FK_LATER].cleanups, 2);
	assert_int_equal(status_int(e, "later", "starts"), 3);
	assert_true(status_is_null(e, "later", "reason"));
	assert_ok_runs(e);
}

/* Failed, then disabled before its handles closed: it stops once, and
 * shows as disabled; the host's stop waits for nothing more. */
static void test_fail_later_then_disabled(void **state)
{
	struct env *e = *state;

	start_faults(e, only_ok_and("later"));
	scout_mod_fail(tally[FK_LATER].m, "lost its device");
	assert_int_equal(tally[FK_LATER].stops, 1);
	reload_with(e, only_ok_and("none"), NULL);
	assert_int_equal(tally[FK_LATER].stops, 1);
	assert_int_equal(tally[FK_LATER].cleanups, 0);
	WAIT_FOR(e, tally[FK_LATER].cleanups == 1);
	assert_state(e, "later", "disabled");
	assert_true(status_is_null(e, "later", "reason"));
	assert_int_equal(tally[FK_LATER].stops, 1);
	assert_ok_runs(e);
}

/* The host's stop while a failed module is still closing: counted once,
 * done when it has closed. */
static void test_stop_while_failed_module_closes(void **state)
{
	struct env *e = *state;

	start_faults(e, only_ok_and("later"));
	scout_mod_fail(tally[FK_LATER].m, "lost its device");
	assert_int_equal(tally[FK_LATER].cleanups, 0);
	scout_status_close(e->srv, NULL, NULL);
	e->srv = NULL;
	scout_host_stop(e->host, on_stopped, e);
	assert_false(e->stopped);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->stopped);
	assert_int_equal(tally[FK_LATER].stops, 1);
	assert_int_equal(tally[FK_LATER].cleanups, 1);
	assert_state(e, "later", "failed");
	assert_state(e, "ok", "stopped");
}

/* Without a reload hook, a reload restarts the module with the new
 * settings: it goes through stopping and is running again. */
static void test_reload_without_hook_restarts(void **state)
{
	struct env *e = *state;
	char text[300];

	start_faults(e, only_ok_and("norel"));
	assert_int_equal(tally[FK_NOREL].n, 0);
	snprintf(text, sizeof(text), "%s[ok]\nn = 5\n[norel]\nn = 7\n", only_ok_and("norel"));
	reload_with(e, text, NULL);
	assert_int_equal(tally[FK_OK].n, 5); /* reloaded in place */
	assert_state(e, "norel", "stopping");
	WAIT_FOR(e, strcmp(state_of(e, "norel"), "running") == 0);
	assert_int_equal(tally[FK_NOREL].n, 7);
	assert_int_equal(tally[FK_NOREL].stops, 1);
	assert_int_equal(tally[FK_NOREL].cleanups, 1);
	assert_int_equal(status_int(e, "norel", "starts"), 2);
	assert_true(status_is_null(e, "norel", "reason"));
	/* a second reload, before the restart finished, is the one it starts with */
	snprintf(text, sizeof(text), "%s[norel]\nn = 8\n", only_ok_and("norel"));
	reload_with(e, text, NULL);
	snprintf(text, sizeof(text), "%s[norel]\nn = 9\n", only_ok_and("norel"));
	reload_with(e, text, NULL);
	WAIT_FOR(e, tally[FK_NOREL].starts == 3 && strcmp(state_of(e, "norel"), "running") == 0);
	assert_int_equal(tally[FK_NOREL].n, 9);
	assert_int_equal(tally[FK_NOREL].stops, 2);
	assert_ok_runs(e);
}

/* A module that never reports stopped holds the host's stop (the agent's
 * stop timer ends the process then, naming it): the others stop, it shows
 * as stopping and is the one scout_host_stuck names. */
static void test_stop_never_finishes(void **state)
{
	struct env *e = *state;
	char stuck[64];

	start_faults(e, only_ok_and("hang"));
	assert_ok_runs(e);
	/* disabled by a reload, it stays "stopping" while ok runs on */
	reload_with(e, only_ok_and("none"), NULL);
	WAIT_FOR(e, tally[FK_HANG].cleanups == 1); /* its handle is closed ... */
	run_for(e, 20);
	assert_state(e, "hang", "stopping"); /* ... but it has not said so */
	assert_ok_runs(e);
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "ok, hang");

	stop_host(e); /* returns: no handle is left open */
	assert_false(e->stopped);
	assert_state(e, "ok", "stopped");
	assert_state(e, "hang", "stopping");
	scout_host_stuck(e->host, stuck, sizeof(stuck));
	assert_string_equal(stuck, "hang");
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_STOPPING), 1);
	/* when it finally reports, the stop completes */
	scout_mod_stopped(tally[FK_HANG].m);
	assert_true(e->stopped);
	assert_state(e, "hang", "disabled");
}

/* A publisher whose subscriber's queue is full gets -ENOBUFS for each
 * message past it, the topic counts the drops, the module runs on and its
 * status says how many it lost; the queue drains and takes more. */
static void test_publish_to_full_queue(void **state)
{
	struct env *e = *state;
	struct scout_topic *t;
	struct scout_sub *slow;

	start_faults(e, only_ok_and("flood"));
	t = scout_bus_find(e->bus, "flood.tick");
	assert_non_null(t);
	assert_int_equal(scout_bus_subscribe(e->bus, t, on_tick_seen, e, 4, &slow), 0);
	ticks_seen = 0;
	assert_true(scout_host_command(e->host, "flood-burst", NULL, NULL));
	/* (nothing delivered yet: delivery is on the loop, after publish) */
	assert_int_equal(tally[FK_FLOOD].dropped, 6);
	assert_int_equal(scout_topic_stats(t)->dropped, 6);
	assert_state(e, "flood", "running");
	assert_int_equal(status_int(e, "flood", "counters.published"), 10);
	assert_int_equal(status_int(e, "flood", "counters.dropped"), 6);
	/* the module's own subscription (default queue) got all ten */
	WAIT_FOR(e, ticks_seen == 4 && tally[FK_FLOOD].got == 10);
	assert_ok_runs(e);
	/* drained: the next burst loses six again, not ten */
	ticks_seen = 0;
	assert_true(scout_host_command(e->host, "flood-burst", NULL, NULL));
	assert_int_equal(status_int(e, "flood", "counters.dropped"), 12);
	WAIT_FOR(e, ticks_seen == 4);
	scout_bus_unsubscribe(slow);
	assert_state(e, "flood", "running");
}

/* All at once: each fails its own way, and ok still runs. */
static void test_all_faults_together(void **state)
{
	struct env *e = *state;
	struct scout_sub *slow;

	start_faults(e, "[agent]\n");
	assert_state(e, "boom", "failed");
	assert_true(scout_host_command(e->host, "later-break", NULL, NULL));
	assert_int_equal(scout_bus_subscribe(e->bus, scout_bus_find(e->bus, "flood.tick"), on_tick_seen, e, 1, &slow),
			 0);
	assert_true(scout_host_command(e->host, "flood-burst", NULL, NULL));
	reload_with(e, "[norel]\nn = 1\n[hang]\nenabled = no\n", NULL);
	WAIT_FOR(e, strcmp(state_of(e, "later"), "failed") == 0 && strcmp(state_of(e, "norel"), "running") == 0);
	assert_ok_runs(e);
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_RUNNING), 3);  /* ok, norel, flood */
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_FAILED), 2);   /* boom, later */
	assert_int_equal(scout_host_count(e->host, SCOUT_MOD_STOPPING), 1); /* hang */
	assert_int_equal(status_int(e, "flood", "counters.dropped"), 9);
	scout_bus_unsubscribe(slow);
	stop_host(e);
	assert_false(e->stopped);
	scout_mod_stopped(tally[FK_HANG].m);
	assert_true(e->stopped);
}

int main(void)
{
	/* the store's growth and the modules' lifecycle log at info */
	scout_log_set_level(SCOUT_LOG_WARN);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_report_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_disable_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_disable_then_enable_before_stopped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_during_first_sample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topics_declared_by_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topics_of_disabled_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_sees_new_conf_and_refusal_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_later_then_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_failed_module_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_without_hook_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_never_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_to_full_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_faults_together, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
