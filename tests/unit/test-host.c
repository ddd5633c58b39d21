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

#include "loop/agent.h"
#include "loop/bus.h"
#include "loop/config.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
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

static void on_timer(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(struct env *e, uint64_t ms)
{
	uv_timer_start(&e->timer, on_timer, ms, 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&e->timer);
}

/* Runs the loop until cond holds; fails after 5 s (a slow machine gets
 * time, a broken module does not hang the suite). */
#define WAIT_FOR(e, cond)                                                                  \
	do {                                                                               \
		uint64_t t0_ = uv_hrtime();                                                \
		while (!(cond)) {                                                          \
			if (uv_hrtime() - t0_ > 5000000000ull)                             \
				fail_msg("timed out waiting for %s", #cond);               \
			run_for(e, 5);                                                     \
		}                                                                          \
	} while (0)

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
	free(e);
	return 0;
}

static json_t *module_status(struct env *e, const char *name)
{
	json_t *arr = json_array(), *found = NULL, *m;
	size_t i;

	scout_host_status(e->host, arr);
	json_array_foreach(arr, i, m)
	{
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
	assert_int_equal(scout_bus_request(e->bus, scout_bus_find(e->bus, "health.query"), NULL, 0, 1000, on_query_answer, e, NULL),
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
	assert_int_equal(scout_bus_request(e->bus, scout_bus_find(e->bus, "health.query"), NULL, 0, 1000, on_query_answer, e, NULL),
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

#define FAKE(mod_name, tops)                                                                                  \
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
	struct scout_host_env henv = {
		.loop = &e->loop, .bus = e->bus, .store = e->store, .state_dir = e->dir, .core_commands = core_cmds};

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

static const struct scout_module fr = {.name = "fa", .default_enabled = true, .options = fake_options,
				       .conf_size = sizeof(struct fake_conf), .start = fake_start, .stop = fake_stop,
				       .reload = refusing_reload, .topics = fa_topics};
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
static const struct scout_command fa_cmds[] = {
	{"frob", fake_cmd, "frobs", frob_args, frob_tables, NULL}, {"fa-only", fake_cmd}, {0}};
static const struct scout_command fb_cmds[] = {{"frob", fake_cmd}, {0}};   /* fa's */
static const struct scout_command fc_cmds[] = {{"status", fake_cmd}, {0}}; /* the core's */
static const struct scout_module cmd_fa = {.name = "fa", .default_enabled = true, .options = fake_options,
					   .conf_size = sizeof(struct fake_conf), .start = fake_start, .stop = fake_stop,
					   .topics = fa_topics, .commands = fa_cmds};
static const struct scout_module cmd_fb = {.name = "fb", .default_enabled = true, .options = fake_options,
					   .conf_size = sizeof(struct fake_conf), .start = fake_start, .stop = fake_stop,
					   .commands = fb_cmds};
static const struct scout_module cmd_fc = {.name = "fc", .default_enabled = true, .options = fake_options,
					   .conf_size = sizeof(struct fake_conf), .start = fake_start, .stop = fake_stop,
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
	assert_int_equal(json_array_size(arr), 2);
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
		cmocka_unit_test_setup_teardown(test_command_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topics_declared_by_modules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topics_of_disabled_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_sees_new_conf_and_refusal_keeps_old, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
