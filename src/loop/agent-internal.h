/* What the agent's files share: struct agent (the one object the lifecycle
 * in agent.c owns) and the few functions one file calls in another. Only
 * src/loop/agent*.c include this; everyone else sees agent.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "agent.h"
#include "config.h"
#include "list.h"
#include "module.h"

struct scout_status_req;

/* Unclean starts in a row from which the agent calls it a crash loop. */
#define AGENT_CRASH_LOOP_STARTS 3

/* The [agent] section (agent-config.c). */
struct agent_conf {
	char *state_dir;
	char *status_socket;
	char *status_group;
	int log_level; /* index into agent_log_levels */
	uint64_t store_max_size;
	uint64_t status_idle_timeout; /* ms */
};

struct run_record {
	uint64_t starts;
	bool running; /* true while a run is in progress: still set after a crash */
	uint64_t started, stopped;
	uint64_t unclean; /* starts in a row, up to this one, after a run that did not stop */
};

/* A "reload" request waiting for the reload job's result. */
struct reload_waiter {
	struct scout_list node; /* in agent.waiters */
	struct scout_status_req *req;
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
	struct scout_list waiters; /* reload requests waiting for the job */
	unsigned reloads_ok, reloads_failed;
	time_t reload_time;
	json_t *reload_errors, *reload_notes;
	/* last health report */
	bool health_known, health_ok;
	char health_problem[256];
};

/* agent-config.c */
extern const struct scout_section agent_section;
extern const char *const agent_log_levels[];
/* Loads path (NULL: the embedded configuration), logging each problem. */
int agent_load_config(const struct agent *a, const char *path, struct scout_config **ret_config);

/* agent.c */
void agent_notify_status(struct agent *a);
/* The stop waited only for the reload job: it is done, the loop may end. */
void agent_reload_settled(struct agent *a);

/* agent-status.c */
uint64_t agent_uptime_s(const struct agent *a);
json_t *agent_status_json(struct agent *a);
extern const struct scout_command agent_core_commands[];
void agent_on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg);

/* agent-metrics.c: Prometheus text; caller frees; NULL when out of memory. */
char *agent_metrics_text(struct agent *a);

/* agent-reload.c */
void agent_start_reload(struct agent *a);
/* Queues req for the result of the next reload to finish. */
void agent_reload_request(struct agent *a, struct scout_status_req *req);
/* Answers every waiting request with "agent stopping" (applied false). */
void agent_reload_abandon(struct agent *a);
