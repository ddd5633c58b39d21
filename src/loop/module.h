/* Modules and the host that runs them. A module is one descriptor in the
 * static registry (src/modules/registry.c). Its name is also its config
 * section and its store database. Lifecycle:
 *
 *   configure  validate a parsed section and derive fields; no I/O. Runs on
 *              every load: start-up, reload, --check-config.
 *   start      open sockets, timers, subscriptions. A negative return (or
 *              scout_mod_fail) marks the module failed with its reason; the
 *              others keep running.
 *   reload     apply a new, already validated section: scout_mod_conf()
 *              returns the new one inside the hook (old_conf is the one it
 *              replaces, to compare). A negative return, with the reason
 *              given to scout_mod_refuse(), puts the old one back: the
 *              module must leave its state as it was, and the reload's
 *              reply names it.
 *   status     add the module's fields to its status object; numbers under
 *              "counters" are also exported as metrics.
 *   stop       begin closing: hand every handle to scout_mod_closer() and
 *              call scout_mod_stopped_when_closed() (or count them yourself
 *              and call scout_mod_stopped() once all are closed; either may
 *              happen before stop returns). The host calls stop once per
 *              start, also when the module failed.
 *
 * A module never includes another module's header: it talks over the bus. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "bus.h"
#include "config.h"

struct scout_mod;
struct scout_closer;
struct scout_db;
struct scout_store;
struct scout_status_req;

/* A status-socket command, e.g. {"cmd":"devices","all":true}, with what
 * scoutctl needs to offer it without knowing it: the daemon lists every
 * command's metadata in its reply to {"cmd":"help"}.
 *
 * Arguments become request keys. In scoutctl, a flag is --NAME (true when
 * given); a required string or int is positional, in declaration order; an
 * optional one is --NAME VALUE. */
enum scout_arg_type {
	SCOUT_ARG_FLAG,
	SCOUT_ARG_STRING,
	SCOUT_ARG_INT,
	/* A password, never a word on the command line (ps would show it):
	 * scoutctl reads it from the terminal without echo, or one line of
	 * stdin when stdin is not a terminal. The host wipes the request's copy
	 * once run returns; a command that keeps it (for a pool job) copies it
	 * and wipes its copy too. */
	SCOUT_ARG_SECRET,
	/* A file scoutctl writes: --NAME FILE sends "NAME": true, and the
	 * reply's NAME member (base64) is decoded into FILE instead of being
	 * shown (printer qr --png label.png). The daemon never sees the path:
	 * it writes nothing on an operator's behalf. */
	SCOUT_ARG_OUTPUT,
};

struct scout_arg {
	const char *name;
	enum scout_arg_type type;
	bool required;
	const char *help;
	bool no_timeout; /* a flag that makes the reply take as long as it takes (scan --wait) */
	bool confirm;    /* a secret asked twice when typed at a terminal (a new password) */
	bool multiple;   /* a string or int given more than once (--job 3 --job 4): the request
			  * holds an array of them, even for one */
};

/* How people see a reply. Paths name a member of the reply (or of a row):
 * "a.b" goes into objects, "a.0" into arrays, "x|y" takes the first that
 * is present. A table shows an array of objects, one row each; text lines
 * are templates whose {path}s are filled in, the first that can be filled
 * in full is printed. What no table or text covers is shown as key: value
 * lines. */
struct scout_column {
	const char *path;
	const char *heading;
	unsigned max_width; /* cells cut to this many columns on screen; 0: no limit */
};

struct scout_table {
	const char *path;                   /* the array, in the reply */
	const struct scout_column *columns; /* ends with a zeroed entry */
};

struct scout_command {
	const char *name; /* one word, or two for a group: "vault init" */
	void (*run)(struct scout_mod *m, struct scout_status_req *req, json_t *request);
	const char *help;                 /* one line */
	const struct scout_arg *args;     /* ends with a zeroed entry; NULL: none */
	const struct scout_table *tables; /* ends with a zeroed entry; NULL: none */
	const char *const *text;          /* ends with NULL; NULL: none */
	bool no_timeout;                  /* the reply takes as long as the work (release waits for
					   * the printer): scoutctl does not give up after 60 s */
};

/* The command's metadata as the help reply lists it; module is NULL for
 * the core's commands. Caller owns the result. */
json_t *scout_command_json(const struct scout_command *c, const char *module);

struct scout_module {
	const char *name;
	const char *summary; /* one line, for docs and status */
	bool default_enabled;
	const struct scout_option *options; /* ends with a zeroed entry */
	size_t conf_size;
	void (*configure)(void *conf, struct scout_check *c);
	int (*start)(struct scout_mod *m);
	int (*reload)(struct scout_mod *m, const void *old_conf);
	void (*status)(struct scout_mod *m, json_t *obj);
	void (*stop)(struct scout_mod *m);
	const struct scout_command *commands; /* ends with a zeroed entry */
	/* The topics it publishes or serves (ends with a zeroed entry). The
	 * host declares them on the bus when it starts, for every module in
	 * the registry, enabled or not, so a subscriber's lookup does not
	 * depend on the publisher's state. A name declared twice marks the
	 * later module failed. */
	const struct scout_topic_decl *topics;
};

enum scout_mod_state {
	SCOUT_MOD_DISABLED,
	SCOUT_MOD_STARTING,
	SCOUT_MOD_RUNNING,
	SCOUT_MOD_FAILED,
	SCOUT_MOD_STOPPING,
	SCOUT_MOD_STOPPED,
};

const char *scout_mod_state_name(enum scout_mod_state state);

/* What a module may use; borrowed for its lifetime. */
const char *scout_mod_name(const struct scout_mod *m);
const void *scout_mod_conf(const struct scout_mod *m);
void *scout_mod_priv(const struct scout_mod *m);
void scout_mod_set_priv(struct scout_mod *m, void *priv);
uv_loop_t *scout_mod_loop(const struct scout_mod *m);
struct scout_bus *scout_mod_bus(const struct scout_mod *m);
struct scout_store *scout_mod_store(const struct scout_mod *m);
const char *scout_mod_state_dir(const struct scout_mod *m);
/* The declared topic name, for publish, subscribe or request. When no
 * module declares it (a typo, or its module was removed), the module is
 * marked failed with that reason and -ENOENT returned: call it from start. */
int scout_mod_topic(struct scout_mod *m, const char *name, struct scout_topic **ret_topic);
/* The module's own database (named after it), opened on first use. */
int scout_mod_db(struct scout_mod *m, struct scout_db **ret_db);
/* Inside reload: why the module refuses the new configuration (returned
 * in the reload's reply and logged); call it before returning < 0. */
__attribute__((format(printf, 2, 3))) void scout_mod_refuse(struct scout_mod *m, const char *fmt, ...);
/* Marks a running module failed with a reason and stops it. */
__attribute__((format(printf, 2, 3))) void scout_mod_fail(struct scout_mod *m, const char *fmt, ...);
void scout_mod_stopped(struct scout_mod *m);
/* The module's handle closer (closer.h), fresh at each start. In stop,
 * give it every uv handle (scout_closer_close) and hold it for anything
 * else that ends later (scout_closer_hold/release), then call
 * scout_mod_stopped_when_closed(). */
struct scout_closer *scout_mod_closer(struct scout_mod *m);
/* The module is stopped once everything handed to its closer has ended:
 * cleanup(arg) runs then (free the module's state there; NULL: nothing to
 * free), and scout_mod_stopped() after it. Right here when nothing is
 * pending. */
void scout_mod_stopped_when_closed(struct scout_mod *m, void (*cleanup)(void *arg), void *arg);

/* ---- the host (used by the agent) ------------------------------------- */

struct scout_host;

struct scout_host_env {
	uv_loop_t *loop;
	struct scout_bus *bus;
	struct scout_store *store;
	const char *state_dir;
	/* the core's own commands (ends with a zeroed entry): a module command
	 * of the same name is a collision */
	const struct scout_command *core_commands;
};

/* The schema of every section: first_section (the agent's) then one per
 * registered module. */
int scout_host_schema(const struct scout_section *first_section, const struct scout_schema **ret_schema);

int scout_host_new(const struct scout_schema *schema, struct scout_host **ret_host);
/* The same over another list of modules (tests: fake modules). The schema
 * must come from scout_host_schema_of() over the same list. */
int scout_host_schema_of(const struct scout_section *first_section, const struct scout_module *const *mods, size_t n,
			 const struct scout_schema **ret_schema);
int scout_host_new_of(const struct scout_schema *schema, const struct scout_module *const *mods, size_t n,
		      struct scout_host **ret_host);
void scout_host_free(struct scout_host *host);
/* Declares every module's topics on env->bus, then starts every enabled
 * module with its section from config (taken). */
void scout_host_start(struct scout_host *host, const struct scout_host_env *env, struct scout_config *config);
/* Applies a validated config: starts, stops or reloads each module. A
 * module whose reload hook refuses keeps its previous configuration and
 * is added to refused (if not NULL) as {"module": name, "reason": why}. */
void scout_host_reload(struct scout_host *host, struct scout_config *config, json_t *refused);
/* Stops every module; done runs when all have reported stopped. */
void scout_host_stop(struct scout_host *host, void (*done)(void *arg), void *arg);
/* Names of modules that have not finished stopping, for a log line. */
void scout_host_stuck(const struct scout_host *host, char *buf, size_t size);

size_t scout_host_count(const struct scout_host *host, enum scout_mod_state state);
/* Fills arr with one status object per module. */
void scout_host_status(struct scout_host *host, json_t *arr);
/* Appends every module's commands (scout_command_json) to arr. */
void scout_host_help(const struct scout_host *host, json_t *arr);
/* Runs the module command name (or answers that its module is not
 * running); false when no module has that command. */
bool scout_host_command(struct scout_host *host, const char *name, struct scout_status_req *req, json_t *request);

/* The registry: src/modules/registry.c. */
extern const struct scout_module *const scout_modules[];
extern const size_t scout_modules_count;
