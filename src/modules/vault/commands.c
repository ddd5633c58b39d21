/* The vault's status-socket commands (jobs, job, cancel, vault init,
 * vault status, vault rotate-key) with their arguments and tables for
 * scoutctl, and its part of the status object and the metrics. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/status.h"
#include "state.h"

static json_t *row(const struct job *j)
{
	json_t *o = vault_meta_json(j);
	char t[32];

	scout_iso_time((time_t)j->expires, t, sizeof(t));
	json_object_set_new(o, "expires_at", json_string(t));
	if (j->meta_known) {
		scout_iso_time((time_t)j->meta.submitted, t, sizeof(t));
		json_object_set_new(o, "submitted_at", json_string(t));
	}
	return o;
}

static bool locked(struct vault *v, struct scout_status_req *req)
{
	if (v->unlocked)
		return false;
	scout_status_error(req, "unavailable", "%s", v->lock_reason);
	return true;
}

/* {"cmd":"jobs","user":str,"all":bool} */
static void cmd_jobs(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct vault *v = scout_mod_priv(m);
	const char *user = json_string_value(json_object_get(request, "user"));
	bool all = json_is_true(json_object_get(request, "all"));
	json_t *arr = json_array();
	struct job *j;

	if (locked(v, req)) {
		json_decref(arr);
		return;
	}
	scout_list_foreach (j, &v->jobs, link) {
		if (!j->committed || !j->meta_known || (user && strcmp(j->meta.owner, user) != 0))
			continue;
		if (!all && job_is_tombstone(j->meta.state))
			continue;
		json_array_append_new(arr, row(j));
	}
	scout_status_reply(req, json_pack("{s:o}", "jobs", arr));
}

static int parse_id(struct scout_status_req *req, json_t *request, uint32_t *ret)
{
	json_t *id = json_object_get(request, "id");
	json_int_t n = -1;

	if (json_is_integer(id))
		n = json_integer_value(id);
	else if (json_is_string(id)) {
		char *end;
		errno = 0;
		long long x = strtoll(json_string_value(id), &end, 10);
		if (!errno && *end == 0 && end != json_string_value(id))
			n = x;
	}
	if (n < 1 || n > 0x7fffffff) {
		scout_status_error(req, "bad_request", "\"id\" (a job id, 1 to 2147483647) is required");
		return -EINVAL;
	}
	*ret = (uint32_t)n;
	return 0;
}

/* {"cmd":"job","id":N} */
static void cmd_job(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct vault *v = scout_mod_priv(m);
	uint32_t id;
	struct job *j;

	if (locked(v, req) || parse_id(req, request, &id) < 0)
		return;
	j = vault_job_find(v, id);
	if (!j || !j->committed || !j->meta_known) {
		scout_status_error(req, "not_found", "no job %u", id);
		return;
	}
	json_t *o = row(j);
	json_object_set_new(o, "stored_bytes", json_integer((json_int_t)j->stored));
	json_object_set_new(o, "storage", json_string(!j->has_doc ? "shredded" : j->in_file ? "file" : "inline"));
	json_object_set_new(o, "chunks", json_integer(j->chunks));
	scout_status_reply(req, json_pack("{s:o}", "job", o));
}

/* {"cmd":"cancel","id":N} */
static void cmd_cancel(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct vault *v = scout_mod_priv(m);
	char why[256];
	uint32_t id;

	if (parse_id(req, request, &id) < 0)
		return;
	int r = vault_cancel(v, id, NULL, 0, "an operator", why, sizeof(why));
	if (r == -ENOENT)
		scout_status_error(req, "not_found", "%s", why);
	else if (r < 0)
		scout_status_error(req, r == -EACCES || r == -EBUSY ? "unavailable" : "conflict", "%s", why);
	else
		scout_status_reply(req, json_pack("{s:I, s:s}", "canceled", (json_int_t)id, "state", "canceled"));
}

static void cmd_init(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	vault_cmd_init(scout_mod_priv(m), req, json_string_value(json_object_get(request, "password")));
}

static void cmd_rotate(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	vault_cmd_rotate(scout_mod_priv(m), req, json_string_value(json_object_get(request, "new_password")));
}

static json_t *state_json(struct vault *v)
{
	const char *why;
	bool acc = vault_accepting(v, &why);
	uint64_t jpm, bps;
	static const char *const names[REF_N] = {"locked", "quota", "no_space", "busy", "too_big", "bad_request"};

	vault_rate(v, &jpm, &bps);
	json_t *ref = json_object();
	for (int i = 0; i < REF_N; i++)
		json_object_set_new(ref, names[i], json_integer((json_int_t)v->refused[i]));
	return json_pack("{s:b, s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "locked", !v->unlocked, "accepting", acc,
			 "reason", why, "key_file", v->key_path ? v->key_path : "", "jobs_held",
			 (json_int_t)v->held_jobs, "bytes_held", (json_int_t)v->held_bytes, "receiving",
			 (json_int_t)v->receiving, "intake_jobs_per_min", (json_int_t)jpm, "intake_bytes_per_s",
			 (json_int_t)bps, "refused", ref);
}

static void cmd_status(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	scout_status_reply(req, json_pack("{s:o}", "vault", state_json(scout_mod_priv(m))));
}

void vault_status(struct scout_mod *m, json_t *obj)
{
	struct vault *v = scout_mod_priv(m);
	json_t *counters = json_object_get(obj, "counters");

	if (!v)
		return;
	json_t *st = state_json(v);
	/* "reason" is the host's (why the module failed): ours is "why" */
	json_object_set(st, "why", json_object_get(st, "reason"));
	json_object_del(st, "reason");
	json_object_update(obj, st);
	json_decref(st);
	const struct {
		const char *name;
		uint64_t val;
	} c[] = {
		{"jobs_created", v->created},
		{"jobs_committed", v->committed},
		{"jobs_aborted", v->aborted},
		{"jobs_expired", v->expired},
		{"jobs_canceled", v->canceled},
		{"jobs_done", v->done},
		{"jobs_claimed", v->claimed},
		{"jobs_held_again", v->held_again},
		{"jobs_kept_for_reprint", v->kept},
		{"jobs_shredded", v->shredded},
		{"jobs_analysed", v->analysed},
		{"bytes_received", v->bytes_in},
		{"commit_errors", v->commit_errors},
		{"records_dropped", v->dropped_records},
		{"orphan_files_removed", v->orphans_removed},
		{"jobs_held", v->held_jobs},
		{"bytes_held", v->held_bytes},
		{"refused_locked", v->refused[REF_LOCKED]},
		{"refused_quota", v->refused[REF_QUOTA]},
		{"refused_no_space", v->refused[REF_SPACE]},
		{"refused_busy", v->refused[REF_BUSY]},
		{"refused_too_big", v->refused[REF_TOO_BIG]},
		{"refused_bad_request", v->refused[REF_BAD]},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		json_object_set_new(counters, c[i].name, json_integer((json_int_t)c[i].val));
}

static const struct scout_arg jobs_args[] = {
	{"user", SCOUT_ARG_STRING, false, "only this user's jobs"},
	{"all", SCOUT_ARG_FLAG, false, "canceled and completed jobs too (kept for [vault] history)"},
	{0},
};
static const struct scout_column jobs_columns[] = {
	{"id", "ID", 0},
	{"owner", "OWNER", 20},
	{"name", "NAME", 30},
	{"pages", "PAGES", 0},
	{"color", "COLOUR", 0},
	{"size", "SIZE", 0},
	{"submitted_at", "SUBMITTED", 0},
	{"expires_at", "EXPIRES", 0},
	{"state", "STATE", 0},
	{"reason", "REASON", 30},
	{0},
};
static const struct scout_table jobs_tables[] = {{"jobs", jobs_columns}, {0}};
static const struct scout_arg id_args[] = {
	{"id", SCOUT_ARG_STRING, true, "the job id"},
	{0},
};
static const struct scout_arg init_args[] = {
	{"password", SCOUT_ARG_SECRET, true, "the site password (read without echo, or from stdin)"},
	{0},
};
static const struct scout_arg rotate_args[] = {
	{"new_password", SCOUT_ARG_SECRET, true, "the new site password (the vault must be unlocked)", .confirm = true},
	{0},
};
static void cmd_verify(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	vault_cmd_verify(scout_mod_priv(m), req, request);
}

static const struct scout_arg verify_args[] = {
	{"id", SCOUT_ARG_INT, false, "only this job"},
	{0},
};
static const struct scout_column verify_columns[] = {
	{"id", "ID", 0}, {"size", "SIZE", 0}, {"result", "RESULT", 0}, {"sha256|problem", "SHA-256 / PROBLEM", 0}, {0},
};
static const struct scout_table verify_tables[] = {{"jobs", verify_columns}, {0}};
static const char *const cancel_text[] = {"job {canceled} canceled: its document is shredded", NULL};
static const char *const init_text[] = {"vault unlocked, but {warning}", "vault unlocked; key written to {key_file}",
					NULL};
static const char *const rotate_text[] = {"site key rotated: {jobs} jobs re-wrapped; key written to {key_file}", NULL};
static const char *const status_text[] = {
	"vault: locked {vault.locked}, accepting {vault.accepting}; {vault.jobs_held} jobs and {vault.bytes_held} bytes "
	"held, {vault.receiving} arriving, {vault.intake_jobs_per_min} jobs/min; {vault.reason}",
	NULL};

const struct scout_command vault_commands[] = {
	{"jobs", cmd_jobs, "held print jobs (owner, name, pages, size, expiry)", jobs_args, jobs_tables, NULL},
	{"job", cmd_job, "one held job", id_args, NULL, NULL},
	{"cancel", cmd_cancel, "cancel a held job: its document is shredded at once", id_args, NULL, cancel_text},
	{"vault init", cmd_init, "unlock the vault with the site password (the first time: set it)", init_args, NULL,
	 init_text},
	{"vault status", cmd_status, "the vault: locked or not, jobs and bytes held, intake rate", NULL, NULL,
	 status_text},
	{"vault verify", cmd_verify,
	 "read every held job back through its key: whole or damaged, its size and SHA-256 (nothing else decrypted "
	 "leaves the vault)",
	 verify_args, verify_tables, NULL},
	{"vault rotate-key", cmd_rotate, "a new site password: every job's keys re-wrapped, no job re-encrypted",
	 rotate_args, NULL, rotate_text},
	{0},
};
