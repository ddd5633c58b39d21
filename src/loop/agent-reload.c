/* The reload job: SIGHUP or the "reload" command reads and validates the
 * configuration on uv's thread pool (the file system may be slow), then on
 * the loop applies it only when all of it is good: the [agent] keys that
 * can change at once, then each module's reload. It owns the reload
 * counters, the last reload's errors and notes, and the "reload" requests
 * waiting for the result, each answered exactly once. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "agent-internal.h"
#include "config.h"
#include "log.h"
#include "module.h"
#include "status.h"

struct reload_job {
	uv_work_t work;
	struct agent *agent;
	char *path;
	struct scout_diag diag;
	struct scout_config *config;
	int r;
};

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
	if (scout_log_level_parse(agent_log_levels[n->log_level], &lvl) == 0)
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
		json_array_append_new(a->reload_errors,
				      json_string(status < 0 ? "reload cancelled" : "agent stopping"));
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
		json_array_foreach (refused, i, m)
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
	if (a->stopping && a->stopped_rest)
		agent_reload_settled(a);

	struct reload_waiter *wt;
	while ((wt = scout_list_first_entry(&a->waiters, struct reload_waiter, node))) {
		scout_list_remove(&wt->node);
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
	agent_notify_status(a);
	if (a->reload_again) {
		a->reload_again = false;
		agent_start_reload(a);
	}
}

void agent_start_reload(struct agent *a)
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

void agent_reload_request(struct agent *a, struct scout_status_req *req)
{
	struct reload_waiter *w = calloc(1, sizeof(*w));

	if (!w || a->stopping) {
		free(w);
		scout_status_error(req, "unavailable", "agent is stopping");
		return;
	}
	w->req = req;
	scout_list_insert_tail(&a->waiters, &w->node);
	agent_start_reload(a);
}

/* The agent stops: the reload job may still be reading the file (and may
 * never return), and the status socket closes once the modules stop. Each
 * waiting request gets its one answer now, while it can still be sent. */
void agent_reload_abandon(struct agent *a)
{
	struct reload_waiter *wt;

	while ((wt = scout_list_first_entry(&a->waiters, struct reload_waiter, node))) {
		scout_list_remove(&wt->node);
		scout_status_reply(wt->req, json_pack("{s:b, s:{s:b, s:[s], s:[], s:[]}}", "ok", 0, "reload", "applied",
						      0, "errors", "agent stopping", "notes", "refused"));
		free(wt);
	}
}
