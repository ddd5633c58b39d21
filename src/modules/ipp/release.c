/* job.release: a user's held jobs to the printer they stand at. Resolves
 * the printer (printers.h), names the jobs (given, or every held job of
 * the user through job.list), hands each to the deliverer and answers
 * when every job has its outcome. The `release` command asks the same
 * topic and waits. Only the owner's jobs are ever released: the vault's
 * job.claim checks the owner and answers another user's id as if it did
 * not exist. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "ipp.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/status.h"

#define MAX_RELEASE_JOBS 256
#define LIST_TIMEOUT_MS 30000
#define COMMAND_TIMEOUT_MS (7ULL * 24 * 3600 * 1000) /* the deliverer's own timeouts end it */

struct ipp_release {
	struct scout_list link;
	struct ipp *s;
	uint64_t corr; /* of the job.release request */
	uint64_t list_corr;
	char user[256];
	char spec[512];
	struct ipp_printer *p;
	uint32_t ids[MAX_RELEASE_JOBS];
	size_t nids;
	bool all;
	struct ipp_outcome *out; /* [nids] */
	size_t pending;
};

/* A `release` command waiting for its job.release answer. */
struct release_cmd {
	struct scout_list link; /* dv->commands */
	struct scout_status_req *req;
	uint64_t corr;
};

static void reply_error(struct ipp *s, uint64_t corr, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply_error(struct ipp *s, uint64_t corr, int err, const char *fmt, ...)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, why);
	(void)scout_bus_reply(scout_mod_bus(s->m), corr, err, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void release_free(struct ipp_release *rl)
{
	scout_list_remove(&rl->link);
	if (rl->list_corr)
		scout_bus_cancel(scout_mod_bus(rl->s->m), rl->list_corr);
	free(rl->out);
	free(rl);
}

static void release_answer(struct ipp_release *rl)
{
	struct ipp *s = rl->s;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t delivered = 0;
	int proto = ipp_deliver_proto(s, rl->p);

	for (size_t i = 0; i < rl->nids; i++)
		if (rl->out[i].proto >= 0) {
			proto = rl->out[i].proto;
			break;
		}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "printer");
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "guid");
	scout_pack_str(&pk, rl->p->guid);
	scout_pack_str(&pk, "address");
	scout_pack_str(&pk, rl->p->address);
	scout_pack_str(&pk, "protocol");
	scout_pack_str(&pk, ipp_proto_name(proto));
	scout_pack_str(&pk, "jobs");
	msgpack_pack_array(&pk, (uint32_t)rl->nids);
	for (size_t i = 0; i < rl->nids; i++) {
		const struct ipp_outcome *o = &rl->out[i];
		bool pj = o->printer_job_id > 0;
		delivered += o->delivered;
		msgpack_pack_map(&pk, 5 + pj);
		scout_pack_str(&pk, "id");
		msgpack_pack_uint32(&pk, o->id);
		scout_pack_str(&pk, "outcome");
		scout_pack_str(&pk, o->delivered ? "delivered" : "failed");
		scout_pack_str(&pk, "reason");
		scout_pack_str(&pk, o->reason);
		scout_pack_str(&pk, "text");
		scout_pack_str(&pk, o->text);
		scout_pack_str(&pk, "protocol");
		scout_pack_str(&pk, ipp_proto_name(o->proto));
		if (pj) {
			scout_pack_str(&pk, "printer_job_id");
			msgpack_pack_int32(&pk, o->printer_job_id);
		}
	}
	log_info("ipp: release for %s at %s (%s): %zu delivered, %zu failed", rl->user, rl->p->address, rl->p->guid,
		 delivered, rl->nids - delivered);
	(void)scout_bus_reply(scout_mod_bus(s->m), rl->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	release_free(rl);
}

static void on_outcome(void *arg, const struct ipp_outcome *o)
{
	struct ipp_release *rl = arg;

	for (size_t i = 0; i < rl->nids; i++)
		if (rl->out[i].id == o->id && rl->out[i].proto == -2) {
			rl->out[i] = *o;
			break;
		}
	if (--rl->pending == 0)
		release_answer(rl);
}

static void deliver_all(struct ipp_release *rl)
{
	if (!(rl->out = calloc(rl->nids ? rl->nids : 1, sizeof(*rl->out)))) {
		reply_error(rl->s, rl->corr, -ENOMEM, "out of memory");
		release_free(rl);
		return;
	}
	for (size_t i = 0; i < rl->nids; i++) {
		rl->out[i].id = rl->ids[i];
		rl->out[i].proto = -2; /* not yet */
		rl->out[i].printer_job_id = -1;
	}
	if (rl->nids == 0) {
		release_answer(rl);
		return;
	}
	rl->pending = rl->nids + 1; /* one for the loop: no answer before every job is queued */
	for (size_t i = 0; i < rl->nids; i++) {
		int r = ipp_deliver_job(rl->s, rl->p, rl->ids[i], rl->user, on_outcome, rl);
		if (r < 0) {
			struct ipp_outcome o = {.id = rl->ids[i], .proto = PROTO_NONE, .printer_job_id = -1};
			snprintf(o.reason, sizeof(o.reason), "%s", R_SYSTEM);
			if (r == -EBUSY)
				snprintf(o.text, sizeof(o.text), "job %u is being released already", rl->ids[i]);
			else
				snprintf(o.text, sizeof(o.text), "the deliverer cannot take job %u", rl->ids[i]);
			on_outcome(rl, &o);
		}
	}
	if (--rl->pending == 0)
		release_answer(rl);
}

static void on_list_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_release *rl = arg;
	msgpack_unpacked u;
	const msgpack_object *jobs;

	rl->list_corr = 0;
	if (status < 0 || !reply) {
		reply_error(rl->s, rl->corr,
			    status == -EACCES ? -EACCES
			    : status < 0      ? status
					      : -EIO,
			    "cannot list the held jobs of %s: %s", rl->user,
			    status == -EACCES ? "the vault is locked" : strerror(status < 0 ? -status : EIO));
		release_free(rl);
		return;
	}
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, reply->data, reply->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    (jobs = scout_pack_get(&u.data, "jobs")) && jobs->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t i = 0; i < jobs->via.array.size && rl->nids < MAX_RELEASE_JOBS; i++) {
			const msgpack_object *j = &jobs->via.array.ptr[i];
			const char *state, *owner;
			size_t sn, on;
			uint64_t id;
			if (scout_pack_get_uint(j, "id", &id) < 0 || id == 0 || id > UINT32_MAX ||
			    scout_pack_get_str(j, "state", &state, &sn) < 0 || sn != 4 ||
			    memcmp(state, "held", 4) != 0 || scout_pack_get_str(j, "owner", &owner, &on) < 0 ||
			    on != strlen(rl->user) || memcmp(owner, rl->user, on) != 0)
				continue;
			rl->ids[rl->nids++] = (uint32_t)id;
		}
	}
	msgpack_unpacked_destroy(&u);
	deliver_all(rl);
}

static void list_jobs(struct ipp_release *rl)
{
	struct ipp_deliver *dv = rl->s->deliver;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, rl->user);
	scout_pack_str(&pk, "which");
	scout_pack_str(&pk, "not-completed");
	scout_pack_str(&pk, "limit");
	msgpack_pack_uint32(&pk, MAX_RELEASE_JOBS);
	int r = scout_bus_request(scout_mod_bus(rl->s->m), dv->t_list, sb.data, sb.size, LIST_TIMEOUT_MS, on_list_reply,
				  rl, &rl->list_corr);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0) {
		reply_error(rl->s, rl->corr, r, "cannot ask the vault for the jobs of %s: %s", rl->user, strerror(-r));
		release_free(rl);
	}
}

static void on_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct ipp_release *rl = arg;

	if (status < 0 || !p) {
		reply_error(rl->s, rl->corr, -ENOENT, "printer '%s' unknown: %s", rl->spec,
			    why && *why ? why : strerror(status < 0 ? -status : ENOENT));
		release_free(rl);
		return;
	}
	rl->p = p;
	if (rl->all)
		list_jobs(rl);
	else
		deliver_all(rl);
}

static void on_release(const struct scout_msg *msg, void *arg)
{
	struct ipp *s = arg;
	msgpack_unpacked u;
	const msgpack_object *jobs;
	const char *user, *printer;
	size_t ulen, plen;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_str(&u.data, "user", &user, &ulen) < 0 ||
	    scout_pack_get_str(&u.data, "printer", &printer, &plen) < 0 || ulen == 0 || ulen >= 256 || plen == 0 ||
	    plen >= 512 || memchr(user, 0, ulen) || memchr(printer, 0, plen)) {
		reply_error(s, msg->corr, -EINVAL, "job.release: user str, printer str, jobs? [uint]");
		goto out;
	}
	jobs = scout_pack_get(&u.data, "jobs");
	if (jobs && jobs->type != MSGPACK_OBJECT_ARRAY && jobs->type != MSGPACK_OBJECT_NIL) {
		reply_error(s, msg->corr, -EINVAL, "job.release: jobs must be an array of job ids");
		goto out;
	}
	struct ipp_release *rl = calloc(1, sizeof(*rl));
	if (!rl) {
		reply_error(s, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	rl->s = s;
	rl->corr = msg->corr;
	memcpy(rl->user, user, ulen);
	memcpy(rl->spec, printer, plen);
	rl->all = !jobs || jobs->type == MSGPACK_OBJECT_NIL;
	if (!rl->all) {
		if (jobs->via.array.size > MAX_RELEASE_JOBS) {
			reply_error(s, msg->corr, -EINVAL, "at most %d jobs in one release", MAX_RELEASE_JOBS);
			free(rl);
			goto out;
		}
		for (uint32_t i = 0; i < jobs->via.array.size; i++) {
			const msgpack_object *j = &jobs->via.array.ptr[i];
			if (j->type != MSGPACK_OBJECT_POSITIVE_INTEGER || j->via.u64 == 0 || j->via.u64 > UINT32_MAX) {
				reply_error(s, msg->corr, -EINVAL, "job ids are positive integers");
				free(rl);
				goto out;
			}
			bool dup = false;
			for (size_t k = 0; k < rl->nids; k++)
				dup |= rl->ids[k] == (uint32_t)j->via.u64;
			if (!dup)
				rl->ids[rl->nids++] = (uint32_t)j->via.u64;
		}
		rl->all = rl->nids == 0;
	}
	scout_list_insert_tail(&s->deliver->releases, &rl->link);
	ipp_printer_resolve(s, rl->spec, on_resolved, rl);
out:
	msgpack_unpacked_destroy(&u);
}

int ipp_release_start(struct ipp *s)
{
	struct ipp_deliver *dv = s->deliver;

	return scout_bus_subscribe(scout_mod_bus(s->m), dv->t_release, on_release, s, 0, &dv->release_sub);
}

void ipp_release_stop(struct ipp *s)
{
	struct ipp_deliver *dv = s->deliver;
	struct ipp_release *rl, *tmp;

	if (dv->release_sub)
		scout_bus_unsubscribe(dv->release_sub);
	dv->release_sub = NULL;
	/* the commands waiting: their answer would not cross a closing bus */
	struct release_cmd *rc, *rtmp;
	scout_list_foreach_safe (rc, rtmp, &dv->commands, link) {
		scout_bus_cancel(scout_mod_bus(s->m), rc->corr);
		scout_status_error(rc->req, "unavailable", "scout stopped delivering before the outcome was known");
		scout_list_remove(&rc->link);
		free(rc);
	}
	scout_list_foreach_safe (rl, tmp, &dv->releases, link) {
		/* its deliveries are dropped without calling back, and a resolution
		 * still waiting is dropped by ipp_printers_stop, which runs next */
		reply_error(s, rl->corr, -ESHUTDOWN, "scout is stopping");
		release_free(rl);
	}
}

/* ---- the `release` command ---- */

const struct scout_arg ipp_release_args[] = {
	{.name = "user", .type = SCOUT_ARG_STRING, .required = true, .help = "whose held jobs"},
	{.name = "printer",
	 .type = SCOUT_ARG_STRING,
	 .required = true,
	 .help = "IP, HOST:PORT, ipp(s):// URI or the GUID on its label"},
	{.name = "job",
	 .type = SCOUT_ARG_INT,
	 .multiple = true,
	 .help = "a job id (repeat for several); none: every held job of user"},
	{0},
};

static const struct scout_column release_columns[] = {
	{"id", "ID", 0}, {"outcome", "OUTCOME", 0}, {"reason", "REASON", 0}, {"text", "TEXT", 60}, {0},
};

const struct scout_table ipp_release_tables[] = {
	{"jobs", release_columns},
	{0},
};

const char *const ipp_release_text[] = {"{summary}", NULL};

static void on_command_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct release_cmd *rc = arg;
	msgpack_unpacked u;
	json_t *j = NULL;

	msgpack_unpacked_init(&u);
	if (reply && msgpack_unpack_next(&u, reply->data, reply->len, NULL) == MSGPACK_UNPACK_SUCCESS)
		j = scout_unpack_json(&u.data);
	msgpack_unpacked_destroy(&u);
	if (status < 0) {
		const char *why = j ? json_string_value(json_object_get(j, "reason")) : NULL;
		scout_status_error(rc->req,
				   status == -ENOENT   ? "not-found"
				   : status == -EACCES ? "locked"
						       : "failed",
				   "%s", why ? why : strerror(-status));
	} else if (!j) {
		scout_status_error(rc->req, "failed", "a malformed job.release answer");
	} else {
		size_t i, ok = 0, n = 0;
		json_t *job;
		json_array_foreach (json_object_get(j, "jobs"), i, job) {
			n++;
			ok += strcmp(json_string_value(json_object_get(job, "outcome")) ?: "", "delivered") == 0;
		}
		char summary[128];
		if (n == 0)
			snprintf(summary, sizeof(summary), "no held jobs to release");
		else
			snprintf(summary, sizeof(summary), "%zu delivered, %zu failed", ok, n - ok);
		json_object_set_new(j, "summary", json_string(summary));
		scout_status_reply(rc->req, j);
		j = NULL;
	}
	json_decref(j);
	scout_list_remove(&rc->link);
	free(rc);
}

void ipp_release_command(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct ipp *s = scout_mod_priv(m);
	const char *user = json_string_value(json_object_get(request, "user"));
	const char *printer = json_string_value(json_object_get(request, "printer"));
	json_t *job = json_object_get(request, "job");
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct release_cmd *rc;

	if (!s || !s->deliver) {
		scout_status_error(req, "unavailable", "the deliverer is not running");
		return;
	}
	if (!user || !printer) {
		scout_status_error(req, "bad-request", "release needs user and printer");
		return;
	}
	size_t n = json_is_array(job) ? json_array_size(job) : json_is_integer(job) ? 1 : 0;
	if (job && !json_is_null(job) && n == 0 && !json_is_array(job)) {
		scout_status_error(req, "bad-request", "job must be a job id or a list of them");
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n ? 3 : 2);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, user);
	scout_pack_str(&pk, "printer");
	scout_pack_str(&pk, printer);
	if (n) {
		scout_pack_str(&pk, "jobs");
		msgpack_pack_array(&pk, (uint32_t)n);
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_is_array(job) ? json_array_get(job, i) : job;
			json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
			if (id <= 0 || id > UINT32_MAX) {
				msgpack_sbuffer_destroy(&sb);
				scout_status_error(req, "bad-request", "job ids are positive integers");
				return;
			}
			msgpack_pack_uint64(&pk, (uint64_t)id);
		}
	}
	if (!(rc = calloc(1, sizeof(*rc)))) {
		msgpack_sbuffer_destroy(&sb);
		scout_status_error(req, "failed", "out of memory");
		return;
	}
	rc->req = req;
	int r = scout_bus_request(scout_mod_bus(m), s->deliver->t_release, sb.data, sb.size, COMMAND_TIMEOUT_MS,
				  on_command_reply, rc, &rc->corr);
	msgpack_sbuffer_destroy(&sb);
	if (r == 0)
		scout_list_insert_tail(&s->deliver->commands, &rc->link);
	if (r < 0) {
		free(rc);
		scout_status_error(req, "failed", "cannot ask the deliverer: %s", strerror(-r));
	}
}
