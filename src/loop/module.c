/* The module host: builds the config schema from the registry, starts each
 * enabled module, applies reloads (start, stop, reload or restart), stops
 * them all asynchronously, and reports their states. A module that fails is
 * closed and marked failed with its reason; the rest run on. */
#include "module.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "closer.h"
#include "log.h"
#include "status.h"
#include "store.h"

struct scout_mod {
	const struct scout_module *desc;
	char conflict[256]; /* a topic or command another module has too: never starts */
	struct scout_host *host;
	size_t index; /* in the schema */
	enum scout_mod_state state;
	bool enabled;
	bool active;  /* started and not yet reported stopped */
	bool closing; /* its stop hook ran for this start */
	bool restart; /* start again with pending_conf once stopped */
	void *conf;   /* owned */
	void *pending_conf;
	void *priv;
	struct scout_db *db;
	char reason[256];
	char refusal[256]; /* set by scout_mod_refuse inside reload */
	bool in_reload;
	uint64_t started_at; /* uv_now() ms */
	unsigned starts;
	struct scout_closer closer;
	void (*cleanup)(void *arg);
	void *cleanup_arg;
};

struct scout_host {
	const struct scout_schema *schema;
	const struct scout_module *const *registry;
	struct scout_host_env env;
	struct scout_mod *mods;
	size_t n;
	bool stopping;
	size_t waiting; /* modules still to report stopped, plus one */
	void (*stop_done)(void *);
	void *stop_arg;
};

static const char *const state_names[] = {
	[SCOUT_MOD_DISABLED] = "disabled", [SCOUT_MOD_STARTING] = "starting", [SCOUT_MOD_RUNNING] = "running",
	[SCOUT_MOD_FAILED] = "failed",     [SCOUT_MOD_STOPPING] = "stopping", [SCOUT_MOD_STOPPED] = "stopped",
};

const char *scout_mod_state_name(enum scout_mod_state state)
{
	return state_names[state];
}

const char *scout_mod_name(const struct scout_mod *m)
{
	return m->desc->name;
}

const void *scout_mod_conf(const struct scout_mod *m)
{
	return m->conf;
}

void *scout_mod_priv(const struct scout_mod *m)
{
	return m->priv;
}

void scout_mod_set_priv(struct scout_mod *m, void *priv)
{
	m->priv = priv;
}

uv_loop_t *scout_mod_loop(const struct scout_mod *m)
{
	return m->host->env.loop;
}

struct scout_bus *scout_mod_bus(const struct scout_mod *m)
{
	return m->host->env.bus;
}

struct scout_store *scout_mod_store(const struct scout_mod *m)
{
	return m->host->env.store;
}

const char *scout_mod_state_dir(const struct scout_mod *m)
{
	return m->host->env.state_dir;
}

int scout_mod_topic(struct scout_mod *m, const char *name, struct scout_topic **ret_topic)
{
	struct scout_topic *t = scout_bus_find(m->host->env.bus, name);

	if (!t) {
		scout_mod_fail(m, "uses bus topic '%s', which no module declares", name);
		return -ENOENT;
	}
	*ret_topic = t;
	return 0;
}

int scout_mod_db(struct scout_mod *m, struct scout_db **ret_db)
{
	if (!m->db) {
		int r = scout_store_db(m->host->env.store, m->desc->name, &m->db);
		if (r < 0)
			return r;
	}
	*ret_db = m->db;
	return 0;
}

/* ---- commands --------------------------------------------------------- */

static const char *const arg_types[] = {[SCOUT_ARG_FLAG] = "flag",
					[SCOUT_ARG_STRING] = "string",
					[SCOUT_ARG_INT] = "int",
					[SCOUT_ARG_SECRET] = "secret",
					[SCOUT_ARG_OUTPUT] = "output"};

json_t *scout_command_json(const struct scout_command *c, const char *module)
{
	json_t *o = json_pack("{s:s, s:o, s:s}", "name", c->name, "module", module ? json_string(module) : json_null(),
			      "help", c->help ? c->help : "");
	json_t *args = json_array(), *tables = json_array(), *text = json_array();

	for (const struct scout_arg *a = c->args; a && a->name; a++) {
		json_t *ja = json_pack("{s:s, s:s, s:b, s:s}", "name", a->name, "type", arg_types[a->type], "required",
				       a->required, "help", a->help ? a->help : "");
		if (a->no_timeout)
			json_object_set_new(ja, "no_timeout", json_true());
		if (a->confirm)
			json_object_set_new(ja, "confirm", json_true());
		if (a->multiple)
			json_object_set_new(ja, "multiple", json_true());
		json_array_append_new(args, ja);
	}
	for (const struct scout_table *t = c->tables; t && t->path; t++) {
		json_t *cols = json_array();
		for (const struct scout_column *col = t->columns; col && col->path; col++) {
			json_t *jc = json_pack("{s:s, s:s}", "path", col->path, "heading",
					       col->heading ? col->heading : col->path);
			if (col->max_width)
				json_object_set_new(jc, "max_width", json_integer(col->max_width));
			json_array_append_new(cols, jc);
		}
		json_array_append_new(tables, json_pack("{s:s, s:o}", "path", t->path, "columns", cols));
	}
	for (const char *const *line = c->text; line && *line; line++)
		json_array_append_new(text, json_string(*line));
	json_object_set_new(o, "args", args);
	json_object_set_new(o, "tables", tables);
	json_object_set_new(o, "text", text);
	if (c->no_timeout)
		json_object_set_new(o, "no_timeout", json_true());
	return o;
}

/* ---- schema ----------------------------------------------------------- */

int scout_host_schema(const struct scout_section *first, const struct scout_schema **ret_schema)
{
	return scout_host_schema_of(first, scout_modules, scout_modules_count, ret_schema);
}

int scout_host_schema_of(const struct scout_section *first, const struct scout_module *const *mods, size_t n,
			 const struct scout_schema **ret_schema)
{
	static struct scout_section sections[64];
	static const struct scout_section *ptrs[64];
	static struct scout_schema schema;

	if (n + 1 > 64)
		return -E2BIG;
	sections[0] = *first;
	for (size_t i = 0; i < n; i++) {
		const struct scout_module *d = mods[i];
		sections[i + 1] = (struct scout_section){
			.name = d->name,
			.options = d->options,
			.conf_size = d->conf_size,
			.has_enabled = true,
			.default_enabled = d->default_enabled,
			.check = d->configure,
		};
	}
	for (size_t i = 0; i <= n; i++)
		ptrs[i] = &sections[i];
	schema.sections = ptrs;
	schema.n = n + 1;
	*ret_schema = &schema;
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

int scout_host_new(const struct scout_schema *schema, struct scout_host **ret_host)
{
	return scout_host_new_of(schema, scout_modules, scout_modules_count, ret_host);
}

int scout_host_new_of(const struct scout_schema *schema, const struct scout_module *const *mods, size_t n,
		      struct scout_host **ret_host)
{
	struct scout_host *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->schema = schema;
	h->registry = mods;
	h->n = n;
	h->mods = calloc(h->n ? h->n : 1, sizeof(*h->mods));
	if (!h->mods) {
		free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->n; i++) {
		h->mods[i].desc = mods[i];
		h->mods[i].host = h;
		h->mods[i].index = (size_t)scout_schema_find(schema, mods[i]->name);
	}
	*ret_host = h;
	return 0;
}

static const struct scout_section *section_of(const struct scout_mod *m)
{
	return m->host->schema->sections[m->index];
}

void scout_host_free(struct scout_host *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++) {
		scout_section_conf_free(section_of(&h->mods[i]), h->mods[i].conf);
		scout_section_conf_free(section_of(&h->mods[i]), h->mods[i].pending_conf);
	}
	free(h->mods);
	free(h);
}

/* The module's stop hook, once per start: a module that failed is closing
 * already, and a second stop would close its handles twice. */
static void close_module(struct scout_mod *m)
{
	if (!m->active || m->closing)
		return;
	m->closing = true;
	m->desc->stop(m);
}

static void begin_stop(struct scout_mod *m)
{
	if (!m->active || m->closing)
		return;
	if (m->state != SCOUT_MOD_FAILED)
		m->state = SCOUT_MOD_STOPPING;
	log_debug("%s: stopping", m->desc->name);
	close_module(m);
}

static void start_module(struct scout_mod *m)
{
	int r;

	if (m->conflict[0]) {
		/* said once at host start; status keeps showing it */
		snprintf(m->reason, sizeof(m->reason), "%s", m->conflict);
		m->state = SCOUT_MOD_FAILED;
		return;
	}

	m->reason[0] = 0;
	m->state = SCOUT_MOD_STARTING;
	m->active = true;
	m->closing = false;
	scout_closer_init(&m->closer);
	m->cleanup = NULL;
	m->starts++;
	m->started_at = uv_now(m->host->env.loop);
	r = m->desc->start(m);
	if (r < 0 || m->state == SCOUT_MOD_FAILED) {
		if (!m->reason[0])
			snprintf(m->reason, sizeof(m->reason), "start failed: %s", strerror(-r));
		if (m->state != SCOUT_MOD_FAILED)
			log_error("%s: %s", m->desc->name, m->reason);
		m->state = SCOUT_MOD_FAILED;
		/* let it close whatever it opened before failing */
		close_module(m);
		return;
	}
	m->state = SCOUT_MOD_RUNNING;
	log_info("%s: running", m->desc->name);
}

void scout_mod_fail(struct scout_mod *m, const char *fmt, ...)
{
	va_list ap;
	bool starting = m->state == SCOUT_MOD_STARTING;

	if (m->state == SCOUT_MOD_FAILED || m->state == SCOUT_MOD_STOPPING)
		return;
	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
	log_error("%s: failed: %s", m->desc->name, m->reason);
	m->state = SCOUT_MOD_FAILED;
	if (!starting) /* start_module closes it otherwise */
		close_module(m);
}

struct scout_closer *scout_mod_closer(struct scout_mod *m)
{
	return &m->closer;
}

static void on_mod_closed(void *arg)
{
	struct scout_mod *m = arg;

	if (m->cleanup)
		m->cleanup(m->cleanup_arg);
	scout_mod_stopped(m);
}

void scout_mod_stopped_when_closed(struct scout_mod *m, void (*cleanup)(void *arg), void *arg)
{
	m->cleanup = cleanup;
	m->cleanup_arg = arg;
	scout_closer_wait(&m->closer, on_mod_closed, m);
}

void scout_mod_refuse(struct scout_mod *m, const char *fmt, ...)
{
	va_list ap;

	if (!m->in_reload)
		return;
	va_start(ap, fmt);
	vsnprintf(m->refusal, sizeof(m->refusal), fmt, ap);
	va_end(ap);
}

/* The module's reload hook sees the new configuration through
 * scout_mod_conf(); when it refuses, the old one goes back. */
static void reload_module(struct scout_mod *m, void *conf, json_t *refused)
{
	void *old = m->conf;
	int r;

	m->conf = conf;
	m->refusal[0] = 0;
	m->in_reload = true;
	r = m->desc->reload(m, old);
	m->in_reload = false;
	if (r >= 0) {
		/* (a module that failed itself while reloading restarts on the
		 * next reload, with these settings) */
		scout_section_conf_free(section_of(m), old);
		return;
	}
	m->conf = old;
	scout_section_conf_free(section_of(m), conf);
	if (!m->refusal[0])
		snprintf(m->refusal, sizeof(m->refusal), "reload failed: %s", strerror(-r));
	log_error("%s: reload refused: %s; keeping the previous settings", m->desc->name, m->refusal);
	if (refused)
		json_array_append_new(refused, json_pack("{s:s, s:s}", "module", m->desc->name, "reason", m->refusal));
}

void scout_mod_stopped(struct scout_mod *m)
{
	struct scout_host *h = m->host;

	if (!m->active)
		return;
	m->active = false;
	m->priv = NULL;
	/* a module disabled while it closed after failing shows as disabled,
	 * as one that failed before being disabled does */
	if (!m->enabled)
		m->state = SCOUT_MOD_DISABLED;
	else if (m->state != SCOUT_MOD_FAILED)
		m->state = SCOUT_MOD_STOPPED;
	log_debug("%s: stopped", m->desc->name);
	if (h->stopping) {
		if (--h->waiting == 0 && h->stop_done)
			h->stop_done(h->stop_arg);
		return;
	}
	if (m->restart) {
		m->restart = false;
		scout_section_conf_free(section_of(m), m->conf);
		m->conf = m->pending_conf;
		m->pending_conf = NULL;
		if (m->enabled)
			start_module(m);
	}
}

/* A topic m declares that another module (or m itself) declared first;
 * NULL when none. */
static const char *topic_conflict(struct scout_host *h, const struct scout_mod *m, char *why, size_t size)
{
	for (const struct scout_topic_decl *d = m->desc->topics; d && d->name; d++) {
		struct scout_topic *t = scout_bus_find(h->env.bus, d->name);
		if (t) {
			snprintf(why, size, "bus topic '%s' is declared by module %s too", d->name,
				 scout_topic_owner(t));
			return why;
		}
		for (const struct scout_topic_decl *e = m->desc->topics; e < d; e++)
			if (strcmp(e->name, d->name) == 0) {
				snprintf(why, size, "bus topic '%s' is declared twice", d->name);
				return why;
			}
	}
	return NULL;
}

/* A command of m that the core or an earlier module has too; NULL when
 * none. */
static const char *command_conflict(struct scout_host *h, const struct scout_mod *m, char *why, size_t size)
{
	for (const struct scout_command *c = m->desc->commands; c && c->name; c++) {
		for (const struct scout_command *k = h->env.core_commands; k && k->name; k++)
			if (strcmp(k->name, c->name) == 0) {
				snprintf(why, size, "command '%s' is one of the core's", c->name);
				return why;
			}
		for (const struct scout_mod *o = h->mods; o < m; o++) {
			if (o->conflict[0])
				continue;
			for (const struct scout_command *k = o->desc->commands; k && k->name; k++)
				if (strcmp(k->name, c->name) == 0) {
					snprintf(why, size, "command '%s' is module %s's too", c->name, o->desc->name);
					return why;
				}
		}
		for (const struct scout_command *k = m->desc->commands; k < c; k++)
			if (strcmp(k->name, c->name) == 0) {
				snprintf(why, size, "command '%s' is declared twice", c->name);
				return why;
			}
	}
	return NULL;
}

/* Each module's topics, all or none of them, and its commands: a module
 * whose tables collide with another's (or the core's commands) is failed
 * for good (a build mistake, not a runtime one), and the help lists none
 * of its commands. */
static void declare_topics(struct scout_host *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		char why[sizeof(m->conflict)];
		int r = 0;

		if (topic_conflict(h, m, why, sizeof(why)) || command_conflict(h, m, why, sizeof(why))) {
			snprintf(m->conflict, sizeof(m->conflict), "%s", why);
			log_error("%s: %s; the module cannot start", m->desc->name, why);
			continue;
		}
		for (const struct scout_topic_decl *d = m->desc->topics; d && d->name && r >= 0; d++)
			r = scout_bus_declare(h->env.bus, d, m->desc->name, NULL);
		if (r < 0) {
			snprintf(m->conflict, sizeof(m->conflict), "cannot declare its bus topics: %s", strerror(-r));
			log_error("%s: %s", m->desc->name, m->conflict);
		}
	}
}

void scout_host_start(struct scout_host *h, const struct scout_host_env *env, struct scout_config *config)
{
	h->env = *env;
	declare_topics(h);
	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		m->conf = scout_config_take(config, m->index);
		m->enabled = config->enabled[m->index];
		m->state = SCOUT_MOD_DISABLED;
	}
	for (size_t i = 0; i < h->n; i++)
		if (h->mods[i].enabled)
			start_module(&h->mods[i]);
}

static void restart_later(struct scout_mod *m, void *conf)
{
	scout_section_conf_free(section_of(m), m->pending_conf);
	m->pending_conf = conf;
	m->restart = true;
	begin_stop(m);
}

void scout_host_reload(struct scout_host *h, struct scout_config *config, json_t *refused)
{
	if (h->stopping)
		return;
	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		void *conf = scout_config_take(config, m->index);
		bool was = m->enabled, now = config->enabled[m->index];

		m->enabled = now;
		if (m->active && m->restart) {
			/* still closing for an earlier restart: start on this one */
			scout_section_conf_free(section_of(m), m->pending_conf);
			m->pending_conf = conf;
			continue;
		}
		if (!now) {
			if (was)
				log_info("%s: disabled by reload", m->desc->name);
			if (m->active)
				begin_stop(m);
			else if (m->state != SCOUT_MOD_FAILED || was)
				m->state = SCOUT_MOD_DISABLED;
			scout_section_conf_free(section_of(m), m->conf);
			m->conf = conf;
			m->reason[0] = 0;
			continue;
		}
		if (m->state == SCOUT_MOD_RUNNING) {
			if (!m->desc->reload) {
				restart_later(m, conf);
				continue;
			}
			reload_module(m, conf, refused);
			continue;
		}
		if (m->active) {
			/* failed and still closing: start again once closed */
			restart_later(m, conf);
			continue;
		}
		/* newly enabled, or failed before: (re)start */
		scout_section_conf_free(section_of(m), m->conf);
		m->conf = conf;
		start_module(m);
	}
}

void scout_host_stop(struct scout_host *h, void (*done)(void *arg), void *arg)
{
	h->stopping = true;
	h->stop_done = done;
	h->stop_arg = arg;
	h->waiting = 1;
	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		m->restart = false;
		if (!m->active)
			continue;
		h->waiting++;
		if (m->closing)
			continue; /* failed, disabled or restarting: closing already */
		m->state = SCOUT_MOD_STOPPING;
		close_module(m);
	}
	if (--h->waiting == 0 && done)
		done(arg);
}

void scout_host_stuck(const struct scout_host *h, char *buf, size_t size)
{
	size_t k = 0;

	buf[0] = 0;
	for (size_t i = 0; i < h->n && k < size; i++)
		if (h->mods[i].active)
			k += (size_t)snprintf(buf + k, size - k, "%s%s", k ? ", " : "", h->mods[i].desc->name);
}

size_t scout_host_count(const struct scout_host *h, enum scout_mod_state state)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n; i++)
		n += h->mods[i].state == state;
	return n;
}

void scout_host_status(struct scout_host *h, json_t *arr)
{
	uint64_t now = uv_now(h->env.loop);

	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(m->desc->name));
		json_object_set_new(o, "summary", json_string(m->desc->summary));
		json_object_set_new(o, "enabled", json_boolean(m->enabled));
		json_object_set_new(o, "state", json_string(scout_mod_state_name(m->state)));
		json_object_set_new(o, "reason", m->reason[0] ? json_string(m->reason) : json_null());
		json_object_set_new(o, "starts", json_integer(m->starts));
		json_object_set_new(o, "uptime_s",
				    m->state == SCOUT_MOD_RUNNING
					    ? json_integer((json_int_t)((now - m->started_at) / 1000))
					    : json_null());
		json_t *counters = json_object();
		json_object_set_new(o, "counters", counters);
		if (m->state == SCOUT_MOD_RUNNING && m->desc->status)
			m->desc->status(m, o);
		json_array_append_new(arr, o);
	}
}

void scout_host_help(const struct scout_host *h, json_t *arr)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct scout_mod *m = &h->mods[i];
		if (m->conflict[0])
			continue;
		for (const struct scout_command *c = m->desc->commands; c && c->name; c++)
			json_array_append_new(arr, scout_command_json(c, m->desc->name));
	}
}

/* The request's copies of the command's secrets: gone before jansson
 * frees the strings (free does not clear). */
static void wipe_secrets(const struct scout_command *c, json_t *request)
{
	for (const struct scout_arg *a = c->args; a && a->name; a++) {
		json_t *v = json_object_get(request, a->name);
		if (a->type == SCOUT_ARG_SECRET && json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
}

bool scout_host_command(struct scout_host *h, const char *name, struct scout_status_req *req, json_t *request)
{
	for (size_t i = 0; i < h->n; i++) {
		struct scout_mod *m = &h->mods[i];
		if (m->conflict[0])
			continue;
		for (const struct scout_command *c = m->desc->commands; c && c->name; c++) {
			if (strcmp(c->name, name) != 0)
				continue;
			if (m->state != SCOUT_MOD_RUNNING)
				scout_status_error(req, "unavailable", "module %s is %s", m->desc->name,
						   scout_mod_state_name(m->state));
			else
				c->run(m, req, request);
			wipe_secrets(c, request);
			return true;
		}
	}
	return false;
}
