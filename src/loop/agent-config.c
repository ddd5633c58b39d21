/* The agent's configuration: the embedded default (--print-default), the
 * [agent] section and the schema of all sections, --check-config, and the
 * Markdown reference of every key (--config-reference, the source of
 * docs/config.md). The lifecycle and the reload load files through
 * agent_load_config(). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"
#include "config.h"
#include "log.h"
#include "module.h"

const char scout_default_config[] = "; scoutd's built-in configuration: state under ./var, no cloud.\n"
				    "[agent]\n"
				    "state_dir = ./var\n"
				    "status_socket = ./var/scoutd.sock\n"
				    "log_level = info\n"
				    "\n"
				    "[health]\n"
				    "enabled = yes\n";

/* ---- the [agent] section ---------------------------------------------- */

const char *const agent_log_levels[] = {"error", "warn", "info", "debug", NULL};

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
	 .choices = agent_log_levels,
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

const struct scout_section agent_section = {
	.name = "agent",
	.options = agent_options,
	.conf_size = sizeof(struct agent_conf),
	.check = agent_check,
};

int agent_load_config(const struct agent *a, const char *path, struct scout_config **ret_config)
{
	struct scout_diag diag = {0};
	int r;

	if (path)
		r = scout_config_load(a->schema, path, &diag, ret_config);
	else
		r = scout_config_parse(a->schema, SCOUT_EMBEDDED_NAME, scout_default_config,
				       strlen(scout_default_config), &diag, ret_config);
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
			fprintf(out, "| `enabled` | yes/no | `%s` | run this module |\n",
				sec->default_enabled ? "yes" : "no");
		for (const struct scout_option *o = sec->options; o && o->key; o++) {
			char range[96] = "";
			if ((o->min || o->max) && o->type == SCOUT_OPT_INT)
				snprintf(range, sizeof(range), " (%lld to %lld)", (long long)o->min, (long long)o->max);
			const char *def = !o->def ? "required" : *o->def ? o->def : "(empty)";
			fprintf(out, "| `%s` | %s | %s%s%s | %s%s |\n", o->key, type_name(o),
				o->def && *o->def ? "`" : "", def, o->def && *o->def ? "`" : "", o->help ? o->help : "",
				range);
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
