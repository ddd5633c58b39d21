/* The IPP operations: the checks every request gets (RFC 8011 section
 * 4.1: version, request-id, attributes-charset and -natural-language
 * first, a target URI), then one function per operation. Print-Job and
 * Send-Document start the document stream (server.c); the others answer
 * once the request's body has ended, so the connection stays open, after
 * asking the vault over the bus where they must.
 *
 * Vault errors become IPP status codes in ipp_status_of_errno(): a locked
 * vault server-error-not-accepting-jobs, a user over quota
 * client-error-not-possible (RFC 8011: "cannot be carried out because of
 * the state of the system", here the user's own quota), a job over a size
 * limit client-error-request-entity-too-large, a full disk
 * server-error-busy before a job exists (try later) and
 * server-error-job-canceled once its bytes were being taken. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ipp.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/utf8.h"

#define LIST_TIMEOUT_MS 10000
#define DRAIN_MAX (1024 * 1024) /* a refused job's body up to this is read, to keep the connection */

uint16_t ipp_status_of_errno(int err, bool mid_job)
{
	switch (err) {
	case -EACCES:
		return IPP_NOT_ACCEPTING;
	case -EDQUOT:
		return IPP_NOT_POSSIBLE;
	case -EFBIG:
		return IPP_TOO_LARGE;
	case -ENOSPC:
		return mid_job ? IPP_JOB_CANCELED : IPP_BUSY;
	case -EBUSY:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -ENOBUFS:
		return mid_job ? IPP_JOB_CANCELED : IPP_BUSY;
	case -ENODATA:
	case -EINVAL:
		return IPP_BAD_REQUEST;
	case -ENOENT:
		return mid_job ? IPP_JOB_CANCELED : IPP_NOT_ACCEPTING;
	default:
		return mid_job ? IPP_JOB_CANCELED : IPP_INTERNAL_ERROR;
	}
}

void ipp_ops_begin_response(struct ipp_req *r, struct ipp_writer *w, uint16_t status, const char *message)
{
	uint8_t major = 2, minor = 0;
	uint32_t id = 0;

	if (r->have_msg) {
		id = r->msg.request_id;
		if (r->msg.major == 1 && r->msg.minor <= 1)
			major = 1, minor = r->msg.minor;
		else if (r->msg.major == 2 && r->msg.minor <= 2)
			minor = r->msg.minor;
		else
			major = 1, minor = 1;
	}
	ipp_w_init(w, major, minor, status, id);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	if (message && *message)
		ipp_w_str(w, IPP_TAG_TEXT, "status-message", message);
}

static void send_pending(struct ipp_req *r);

/* Whether the rest of the body is worth reading to keep the connection:
 * a small one, in a phase where nothing streams. */
static bool can_drain(const struct ipp_req *r)
{
	int64_t cl = r->http ? scout_http_content_length(r->http) : -1;

	return r->phase == PH_DRAIN && !r->ended && !r->streaming && cl >= 0 && cl <= DRAIN_MAX;
}

static void respond_or_defer(struct ipp_req *r, struct ipp_writer *w)
{
	if (can_drain(r)) {
		ipp_w_free(&r->pending);
		r->pending = *w;
		r->has_pending = true;
		r->on_end = send_pending;
		return;
	}
	ipp_req_respond(r, w);
}

static void send_pending(struct ipp_req *r)
{
	r->has_pending = false;
	ipp_req_respond(r, &r->pending);
}

void ipp_ops_fail(struct ipp_req *r, uint16_t status, const char *fmt, ...)
{
	struct ipp_writer w;
	char msg[256];
	va_list ap;

	if (!r->http)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 0x0400)
		r->ipp->n.errors++;
	ipp_ops_begin_response(r, &w, status, msg);
	respond_or_defer(r, &w);
}

/* ---- requested-attributes ------------------------------------------------ */

struct filter {
	const struct ipp_attr *req; /* requested-attributes, NULL: the default */
	bool all;
	const char *const *dflt; /* without requested-attributes: these only (NULL: all) */
};

static bool want(void *arg, const char *name)
{
	const struct filter *f = arg;

	if (f->all)
		return true;
	if (!f->req) {
		for (size_t i = 0; f->dflt[i]; i++)
			if (strcmp(f->dflt[i], name) == 0)
				return true;
		return false;
	}
	for (const struct ipp_value *v = f->req->values; v; v = v->next)
		if (ipp_value_is(v, name))
			return true;
	return false;
}

static void filter_init(struct filter *f, const struct ipp_req *r, const char *const *dflt)
{
	f->req = ipp_find(r->msg.attrs, IPP_TAG_OPERATION, "requested-attributes");
	f->dflt = dflt;
	f->all = !f->req && !dflt;
	for (const struct ipp_value *v = f->req ? f->req->values : NULL; v; v = v->next)
		if (ipp_value_is(v, "all") || ipp_value_is(v, "printer-description") ||
		    ipp_value_is(v, "job-template") || ipp_value_is(v, "job-description"))
			f->all = true;
}

/* ---- small readers -------------------------------------------------------- */

static const struct ipp_value *op_value(const struct ipp_req *r, const char *name)
{
	const struct ipp_attr *a = ipp_find(r->msg.attrs, IPP_TAG_OPERATION, name);

	return a ? a->values : NULL;
}

/* job-id, or the number at the end of job-uri. 0 when neither is there. */
static uint32_t target_job(const struct ipp_req *r)
{
	const struct ipp_value *v = op_value(r, "job-id");
	char uri[512];
	int32_t id;

	if (ipp_value_int(v, &id))
		return id > 0 ? (uint32_t)id : 0;
	if (!ipp_value_str(op_value(r, "job-uri"), uri, sizeof(uri)))
		return 0;
	const char *slash = strrchr(uri, '/');
	char *end;
	long n = slash ? strtol(slash + 1, &end, 10) : 0;
	return slash && *end == 0 && n > 0 && n <= INT32_MAX ? (uint32_t)n : 0;
}

/* A copy of a name or text value that is valid UTF-8 without controls. */
static bool text_value(const struct ipp_value *v, char *buf, size_t size)
{
	if (!ipp_value_str(v, buf, size))
		return false;
	if (!scout_utf8_valid(buf, strlen(buf), true)) {
		buf[0] = 0;
		return false;
	}
	return true;
}

static struct ipp_open_job *open_job(struct ipp *s, uint32_t id)
{
	struct ipp_open_job *j;

	scout_list_foreach (j, &s->open_jobs, link)
		if (j->id == id)
			return j;
	return NULL;
}

static bool is_owner(const struct ipp_req *r, const char *owner)
{
	return strcmp(r->user, owner) == 0;
}

/* ---- job template checks -------------------------------------------------- */

struct jcheck {
	uint16_t status;
	char msg[200];
	const char *unsupported[16];
	size_t nun;
};

static void unsupported(struct jcheck *jc, const char *name)
{
	if (jc->nun < 16)
		jc->unsupported[jc->nun++] = name;
}

static bool keyword_in(const struct ipp_value *v, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (ipp_value_is(v, list[i]))
			return true;
	return false;
}

static void check_template(struct ipp_req *r, struct jcheck *jc)
{
	static const char *const sides[] = {"one-sided", "two-sided-long-edge", "two-sided-short-edge", NULL};
	static const char *const colors[] = {"auto", "color", "monochrome", NULL};
	const struct ipp_attr *a;
	int32_t n;

	if ((a = ipp_find(r->msg.attrs, IPP_TAG_JOB, "copies"))) {
		if (ipp_value_int(a->values, &n) && n >= 1 && n <= 999)
			r->copies = (uint32_t)n;
		else
			unsupported(jc, "copies");
	}
	if ((a = ipp_find(r->msg.attrs, IPP_TAG_JOB, "sides"))) {
		if (keyword_in(a->values, sides))
			ipp_value_str(a->values, r->sides, sizeof(r->sides));
		else
			unsupported(jc, "sides");
	}
	if ((a = ipp_find(r->msg.attrs, IPP_TAG_JOB, "print-color-mode"))) {
		if (keyword_in(a->values, colors))
			ipp_value_str(a->values, r->color, sizeof(r->color));
		else
			unsupported(jc, "print-color-mode");
	}
	if ((a = ipp_find(r->msg.attrs, IPP_TAG_JOB, "media"))) {
		char media[64];
		if (ipp_value_str(a->values, media, sizeof(media)) && ipp_media_supported(media))
			snprintf(r->media, sizeof(r->media), "%s", media);
		else
			unsupported(jc, "media");
	}
	/* held for release whatever the client asks */
	if ((a = ipp_find(r->msg.attrs, IPP_TAG_JOB, "job-hold-until")) && !ipp_value_is(a->values, "indefinite"))
		unsupported(jc, "job-hold-until");
}

/* The checks of Print-Job, Validate-Job and Create-Job; fills r's job
 * fields. Returns the status to answer with on failure, 0 to go on. */
static uint16_t check_job(struct ipp_req *r, struct jcheck *jc)
{
	const struct ipp_value *v;
	bool fidelity = false;

	memset(jc, 0, sizeof(*jc));
	if ((v = op_value(r, "compression")) && !ipp_value_is(v, "none")) {
		snprintf(jc->msg, sizeof(jc->msg), "compression is not supported: send documents uncompressed");
		unsupported(jc, "compression");
		return jc->status = IPP_COMPRESSION_NOT_SUPPORTED;
	}
	if ((v = op_value(r, "document-format"))) {
		if (!ipp_value_str(v, r->format, sizeof(r->format)) || !ipp_format_supported(r->format)) {
			snprintf(jc->msg, sizeof(jc->msg), "document-format '%.100s' is not supported", r->format);
			unsupported(jc, "document-format");
			return jc->status = IPP_FORMAT_NOT_SUPPORTED;
		}
	}
	if (!text_value(op_value(r, "job-name"), r->job_name, sizeof(r->job_name)) &&
	    !text_value(op_value(r, "document-name"), r->job_name, sizeof(r->job_name)))
		snprintf(r->job_name, sizeof(r->job_name), "untitled");
	check_template(r, jc);
	ipp_value_bool(op_value(r, "ipp-attribute-fidelity"), &fidelity);
	if (jc->nun && fidelity) {
		snprintf(jc->msg, sizeof(jc->msg), "'%s' is not supported and ipp-attribute-fidelity is true",
			 jc->unsupported[0]);
		return jc->status = IPP_ATTRIBUTES_NOT_SUPPORTED;
	}
	if (jc->nun)
		jc->status = IPP_OK_IGNORED;
	return 0;
}

static void write_unsupported(struct ipp_writer *w, const struct jcheck *jc)
{
	if (!jc->nun)
		return;
	ipp_w_group(w, IPP_TAG_UNSUPPORTED_GROUP);
	for (size_t i = 0; i < jc->nun; i++)
		ipp_w_oob(w, IPP_TAG_UNSUPPORTED_VALUE, jc->unsupported[i]);
}

static void fail_check(struct ipp_req *r, const struct jcheck *jc)
{
	struct ipp_writer w;

	r->ipp->n.errors++;
	ipp_ops_begin_response(r, &w, jc->status, jc->msg);
	write_unsupported(&w, jc);
	respond_or_defer(r, &w);
}

static bool check_accepting(struct ipp_req *r)
{
	if (ipp_accepting(r->ipp))
		return true;
	r->ipp->n.refused_not_accepting++;
	ipp_ops_fail(r, IPP_NOT_ACCEPTING, "not accepting jobs: %s", ipp_state_message(r->ipp));
	return false;
}

/* ---- operations ----------------------------------------------------------- */

static void op_get_printer_attributes(struct ipp_req *r)
{
	struct ipp_writer w;
	struct filter f;

	filter_init(&f, r, NULL);
	ipp_ops_begin_response(r, &w, IPP_OK, NULL);
	ipp_w_group(&w, IPP_TAG_PRINTER);
	w.want = want;
	w.want_arg = &f;
	ipp_attrs_printer(r, &w);
	w.want = NULL;
	ipp_req_respond(r, &w);
}

static void op_validate_job(struct ipp_req *r)
{
	struct jcheck jc;
	struct ipp_writer w;

	if (check_job(r, &jc)) {
		fail_check(r, &jc);
		return;
	}
	if (!check_accepting(r))
		return;
	ipp_ops_begin_response(r, &w, jc.status, NULL);
	write_unsupported(&w, &jc);
	ipp_req_respond(r, &w);
}

static void op_identify_printer(struct ipp_req *r)
{
	struct ipp_writer w;

	log_info("ipp: Identify-Printer from %s (%s)", r->remote, r->user);
	ipp_ops_begin_response(r, &w, IPP_OK, NULL);
	ipp_req_respond(r, &w);
}

static void op_not_supported(struct ipp_req *r)
{
	r->ipp->n.unsupported_ops++;
	ipp_ops_fail(r, IPP_OPERATION_NOT_SUPPORTED, "operation 0x%04x is not supported", r->msg.code);
}

/* Print-Job: checked now, then the document streams (server.c). */
static void op_print_job(struct ipp_req *r, const uint8_t *rest, size_t len)
{
	struct jcheck jc;

	if (check_job(r, &jc)) {
		fail_check(r, &jc);
		return;
	}
	if (!check_accepting(r) || !ipp_auth_require(r))
		return;
	r->ok_status = jc.status;
	ipp_doc_begin(r, rest, len);
}

void ipp_ops_job_done(struct ipp_req *r)
{
	struct ipp_writer w;

	ipp_ops_begin_response(r, &w, r->ok_status, NULL);
	ipp_w_group(&w, IPP_TAG_JOB);
	ipp_attrs_job_basic(r, &w, r->job_id, 4, "job-held-for-release");
	ipp_req_respond(r, &w);
}

static void on_open_created(struct ipp_req *r, int status, const msgpack_object *reply)
{
	struct ipp_open_job *j;
	struct ipp_writer w;
	uint64_t id = 0;
	char reason[200] = "";

	if (status == 0 && (scout_pack_get_uint(reply, "id", &id) < 0 || id == 0 || id > INT32_MAX))
		status = -EBADMSG;
	if (status < 0) {
		const char *s;
		size_t n;
		if (reply && scout_pack_get_str(reply, "reason", &s, &n) == 0)
			snprintf(reason, sizeof(reason), "%.*s", (int)n, s);
		ipp_ops_fail(r, ipp_status_of_errno(status, false), "%s",
			     *reason             ? reason
			     : status == -ENOENT ? "the vault is not running"
						 : strerror(-status));
		return;
	}
	if (!r->http || !(j = calloc(1, sizeof(*j)))) {
		ipp_job_abort(r->ipp, (uint32_t)id, r->http ? "out of memory" : "the client went away");
		ipp_ops_fail(r, IPP_INTERNAL_ERROR, "out of memory");
		return;
	}
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	j->id = (uint32_t)id;
	j->created = time(NULL);
	j->expires_ms = uv_now(scout_mod_loop(r->ipp->m)) + conf->multiple_operation_timeout;
	snprintf(j->owner, sizeof(j->owner), "%s", r->user);
	snprintf(j->name, sizeof(j->name), "%s", r->job_name);
	scout_list_insert_tail(&r->ipp->open_jobs, &j->link);
	ipp_ops_begin_response(r, &w, r->ok_status, NULL);
	ipp_w_group(&w, IPP_TAG_JOB);
	ipp_attrs_job_basic(r, &w, j->id, 3, "job-incoming");
	ipp_req_respond(r, &w);
}

static void create_job_at_end(struct ipp_req *r)
{
	int ret = ipp_send_create(r, on_open_created);

	if (ret < 0)
		ipp_ops_fail(r, ipp_status_of_errno(ret, false), "cannot ask the vault for a job: %s", strerror(-ret));
}

static void op_create_job(struct ipp_req *r)
{
	struct jcheck jc;

	if (check_job(r, &jc)) {
		fail_check(r, &jc);
		return;
	}
	if (!check_accepting(r) || !ipp_auth_require(r))
		return;
	r->ok_status = jc.status;
	r->on_end = create_job_at_end;
}

static void op_send_document(struct ipp_req *r, const uint8_t *rest, size_t len)
{
	uint32_t id = target_job(r);
	struct ipp_open_job *j;
	bool last;

	if (!ipp_auth_require(r))
		return;
	if (!id) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no job-id or job-uri");
		return;
	}
	if (!ipp_value_bool(op_value(r, "last-document"), &last)) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no last-document (boolean)");
		return;
	}
	if (!(j = open_job(r->ipp, id))) {
		ipp_ops_fail(r, IPP_NOT_POSSIBLE, "job %u is not waiting for a document", id);
		return;
	}
	if (!is_owner(r, j->owner)) {
		ipp_ops_fail(r, IPP_NOT_AUTHORIZED, "job %u is not yours", id);
		return;
	}
	if (j->receiving) {
		ipp_ops_fail(r, IPP_NOT_POSSIBLE, "job %u is receiving its document already", id);
		return;
	}
	const struct ipp_value *f = op_value(r, "document-format");
	if (f && (!ipp_value_str(f, r->format, sizeof(r->format)) || !ipp_format_supported(r->format))) {
		ipp_ops_fail(r, IPP_FORMAT_NOT_SUPPORTED, "document-format '%.100s' is not supported", r->format);
		return;
	}
	j->receiving = true;
	r->open = j;
	r->job_id = j->id;
	snprintf(r->job_name, sizeof(r->job_name), "%s", j->name);
	r->ok_status = IPP_OK;
	ipp_doc_begin(r, rest, len);
}

static void op_close_job(struct ipp_req *r)
{
	uint32_t id = target_job(r);
	struct ipp_open_job *j = id ? open_job(r->ipp, id) : NULL;
	struct ipp_writer w;

	if (!ipp_auth_require(r))
		return;
	if (!id) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no job-id or job-uri");
		return;
	}
	if (j && !is_owner(r, j->owner)) {
		ipp_ops_fail(r, IPP_NOT_AUTHORIZED, "job %u is not yours", id);
		return;
	}
	if (j && j->receiving) {
		ipp_ops_fail(r, IPP_NOT_POSSIBLE, "job %u is receiving its document", id);
		return;
	}
	if (j) { /* closed without a document: nothing to hold */
		ipp_job_abort(r->ipp, id, "closed without a document");
		scout_list_remove(&j->link);
		free(j);
	}
	ipp_ops_begin_response(r, &w, IPP_OK, NULL);
	ipp_req_respond(r, &w);
}

/* ---- jobs from the vault ---------------------------------------------------- */

static const char *const get_jobs_default[] = {"job-id", "job-uri", NULL};

static void write_job_list(struct ipp_req *r, struct ipp_writer *w, const msgpack_object *reply)
{
	const msgpack_object *jobs = reply ? scout_pack_get(reply, "jobs") : NULL;

	if (!jobs || jobs->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < jobs->via.array.size; i++) {
		const msgpack_object *j = &jobs->via.array.ptr[i];
		const char *owner;
		size_t n;
		bool mine = scout_pack_get_str(j, "owner", &owner, &n) == 0 && n == strlen(r->user) &&
			    memcmp(owner, r->user, n) == 0;
		ipp_w_group(w, IPP_TAG_JOB);
		ipp_attrs_job(r, w, j, mine);
	}
}

static void on_jobs_listed(struct ipp_req *r, int status, const msgpack_object *reply)
{
	const char *dflt_msg = NULL;
	struct ipp_writer w;
	struct filter f;

	if (status == -EACCES || status == -ENOENT)
		dflt_msg = status == -EACCES ? "the vault is locked: its jobs cannot be listed"
					     : "the vault is not running";
	else if (status < 0) {
		ipp_ops_fail(r, IPP_SERVICE_UNAVAILABLE, "cannot list jobs: %s", strerror(-status));
		return;
	}
	filter_init(&f, r, r->msg.code == IPP_OP_GET_JOBS ? get_jobs_default : NULL);
	ipp_ops_begin_response(r, &w, IPP_OK, dflt_msg);
	w.want = want;
	w.want_arg = &f;
	if (status == 0 && r->msg.code == IPP_OP_GET_JOBS)
		write_job_list(r, &w, reply);
	w.want = NULL;
	ipp_req_respond(r, &w);
}

static int ask_list(struct ipp_req *r, const char *user, const char *which, int64_t limit, ipp_call_done done)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1 + (user != NULL) + (limit > 0));
	scout_pack_str(&pk, "which");
	scout_pack_str(&pk, which);
	if (user) {
		scout_pack_str(&pk, "user");
		scout_pack_str(&pk, user);
	}
	if (limit > 0) {
		scout_pack_str(&pk, "limit");
		msgpack_pack_uint64(&pk, (uint64_t)limit);
	}
	ret = ipp_req_call(r, r->ipp->t_list, &sb, LIST_TIMEOUT_MS, done);
	msgpack_sbuffer_destroy(&sb);
	if (ret < 0)
		ipp_ops_fail(r, IPP_BUSY, "cannot ask the vault: %s", strerror(-ret));
	else
		r->phase = PH_WAIT;
	return ret;
}

static void op_get_jobs(struct ipp_req *r)
{
	static const char *const which[] = {"completed", "not-completed", "all", NULL};
	const struct ipp_value *v = op_value(r, "which-jobs");
	char wj[32] = "not-completed";
	bool my = false;
	int32_t limit = 0;

	if (v && (!keyword_in(v, which) || !ipp_value_str(v, wj, sizeof(wj)))) {
		struct jcheck jc = {.status = IPP_ATTRIBUTES_NOT_SUPPORTED};
		snprintf(jc.msg, sizeof(jc.msg), "which-jobs: only completed, not-completed and all are supported");
		unsupported(&jc, "which-jobs");
		fail_check(r, &jc);
		return;
	}
	ipp_value_bool(op_value(r, "my-jobs"), &my);
	if ((v = op_value(r, "limit")) && (!ipp_value_int(v, &limit) || limit < 1)) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "limit must be a positive integer");
		return;
	}
	if (my && !ipp_auth_require(r))
		return;
	ask_list(r, my ? r->user : NULL, wj, limit, on_jobs_listed);
}

static void on_job_listed(struct ipp_req *r, int status, const msgpack_object *reply)
{
	const msgpack_object *jobs = reply ? scout_pack_get(reply, "jobs") : NULL;
	struct ipp_writer w;
	struct filter f;

	if (status == -EACCES) {
		ipp_ops_fail(r, IPP_SERVICE_UNAVAILABLE, "the vault is locked: its jobs cannot be read");
		return;
	}
	if (status < 0 || !jobs || jobs->type != MSGPACK_OBJECT_ARRAY || jobs->via.array.size == 0) {
		ipp_ops_fail(r, IPP_NOT_FOUND, "job %u not found", target_job(r));
		return;
	}
	const char *owner;
	size_t n;
	const msgpack_object *j = &jobs->via.array.ptr[0];
	bool mine = scout_pack_get_str(j, "owner", &owner, &n) == 0 && n == strlen(r->user) &&
		    memcmp(owner, r->user, n) == 0;
	filter_init(&f, r, NULL);
	ipp_ops_begin_response(r, &w, IPP_OK, NULL);
	ipp_w_group(&w, IPP_TAG_JOB);
	w.want = want;
	w.want_arg = &f;
	ipp_attrs_job(r, &w, j, mine);
	w.want = NULL;
	ipp_req_respond(r, &w);
}

static void op_get_job_attributes(struct ipp_req *r)
{
	uint32_t id = target_job(r);
	struct ipp_open_job *j;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!id) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no job-id or job-uri");
		return;
	}
	if ((j = open_job(r->ipp, id))) {
		struct ipp_writer w;
		ipp_ops_begin_response(r, &w, IPP_OK, NULL);
		ipp_w_group(&w, IPP_TAG_JOB);
		ipp_attrs_job_basic(r, &w, id, 3, "job-incoming");
		ipp_req_respond(r, &w);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "which");
	scout_pack_str(&pk, "all");
	int ret = ipp_req_call(r, r->ipp->t_list, &sb, LIST_TIMEOUT_MS, on_job_listed);
	msgpack_sbuffer_destroy(&sb);
	if (ret < 0)
		ipp_ops_fail(r, IPP_BUSY, "cannot ask the vault: %s", strerror(-ret));
	else
		r->phase = PH_WAIT;
}

/* ---- cancelling --------------------------------------------------------------- */

static int ask_cancel(struct ipp_req *r, uint32_t id, ipp_call_done done)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, r->user);
	ret = ipp_req_call(r, r->ipp->t_cancel, &sb, LIST_TIMEOUT_MS, done);
	msgpack_sbuffer_destroy(&sb);
	if (ret == 0)
		r->phase = PH_WAIT;
	return ret;
}

static void on_canceled(struct ipp_req *r, int status, const msgpack_object *reply)
{
	struct ipp_writer w;
	uint32_t id = target_job(r);

	(void)reply;
	switch (status) {
	case 0:
		log_info("ipp: job %u canceled by %s", id, r->user);
		ipp_ops_begin_response(r, &w, IPP_OK, NULL);
		ipp_req_respond(r, &w);
		return;
	case -EPERM:
		ipp_ops_fail(r, IPP_NOT_AUTHORIZED, "job %u is not yours", id);
		return;
	case -ENOENT:
		ipp_ops_fail(r, IPP_NOT_FOUND, "job %u not found", id);
		return;
	case -EACCES:
		ipp_ops_fail(r, IPP_SERVICE_UNAVAILABLE, "the vault is locked");
		return;
	default:
		ipp_ops_fail(r, IPP_NOT_POSSIBLE, "job %u cannot be canceled: %s", id, strerror(-status));
	}
}

static void op_cancel_job(struct ipp_req *r)
{
	uint32_t id = target_job(r);
	struct ipp_open_job *j;
	struct ipp_writer w;

	if (!ipp_auth_require(r))
		return;
	if (!id) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no job-id or job-uri");
		return;
	}
	if ((j = open_job(r->ipp, id))) {
		if (!is_owner(r, j->owner)) {
			ipp_ops_fail(r, IPP_NOT_AUTHORIZED, "job %u is not yours", id);
			return;
		}
		if (j->receiving) {
			ipp_ops_fail(r, IPP_NOT_POSSIBLE, "job %u is receiving its document", id);
			return;
		}
		ipp_job_abort(r->ipp, id, "canceled by its owner");
		scout_list_remove(&j->link);
		free(j);
		ipp_ops_begin_response(r, &w, IPP_OK, NULL);
		ipp_req_respond(r, &w);
		return;
	}
	if (ask_cancel(r, id, on_canceled) < 0)
		ipp_ops_fail(r, IPP_BUSY, "cannot ask the vault");
}

/* Cancel-My-Jobs: the user's jobs, one job.cancel after the other. */
static void cancel_next(struct ipp_req *r, int status, const msgpack_object *reply);

static void cancel_mine_step(struct ipp_req *r)
{
	struct ipp_writer w;

	while (r->cancel_next < r->ncancel) {
		uint32_t id = r->cancel_ids[r->cancel_next++];
		if (ask_cancel(r, id, cancel_next) == 0)
			return;
	}
	log_info("ipp: %s canceled %zu of their jobs", r->user, r->ncancel);
	ipp_ops_begin_response(r, &w, IPP_OK, NULL);
	ipp_req_respond(r, &w);
}

static void cancel_next(struct ipp_req *r, int status, const msgpack_object *reply)
{
	(void)status;
	(void)reply;
	if (r->http)
		cancel_mine_step(r);
}

static void on_mine_listed(struct ipp_req *r, int status, const msgpack_object *reply)
{
	const msgpack_object *jobs = reply ? scout_pack_get(reply, "jobs") : NULL;

	if (status < 0) {
		ipp_ops_fail(r, status == -EACCES ? IPP_SERVICE_UNAVAILABLE : IPP_BUSY, "cannot list your jobs: %s",
			     status == -EACCES ? "the vault is locked" : strerror(-status));
		return;
	}
	for (uint32_t i = 0; jobs && jobs->type == MSGPACK_OBJECT_ARRAY && i < jobs->via.array.size; i++) {
		uint64_t id;
		if (r->ncancel < sizeof(r->cancel_ids) / sizeof(r->cancel_ids[0]) &&
		    scout_pack_get_uint(&jobs->via.array.ptr[i], "id", &id) == 0 && id <= INT32_MAX)
			r->cancel_ids[r->ncancel++] = (uint32_t)id;
	}
	cancel_mine_step(r);
}

static void op_cancel_my_jobs(struct ipp_req *r)
{
	struct ipp_open_job *j, *tmp;

	if (!ipp_auth_require(r))
		return;
	scout_list_foreach_safe (j, tmp, &r->ipp->open_jobs, link)
		if (is_owner(r, j->owner) && !j->receiving) {
			ipp_job_abort(r->ipp, j->id, "canceled by its owner");
			scout_list_remove(&j->link);
			free(j);
		}
	ask_list(r, r->user, "not-completed", 0, on_mine_listed);
}

/* ---- dispatch ----------------------------------------------------------------- */

static bool check_request(struct ipp_req *r)
{
	const struct ipp_msg *m = &r->msg;
	const struct ipp_attr *a = m->attrs;
	char cs[32];

	if (m->major < 1 || m->major > 2) {
		ipp_ops_fail(r, IPP_VERSION_NOT_SUPPORTED, "IPP version %u.%u is not supported (1.1 to 2.2 are)",
			     m->major, m->minor);
		return false;
	}
	if (m->request_id == 0) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "request-id 0 (it must be 1 or more)");
		return false;
	}
	if (!a || a->group != IPP_TAG_OPERATION || strcmp(a->name, "attributes-charset") != 0 || !a->next ||
	    a->next->group != IPP_TAG_OPERATION || strcmp(a->next->name, "attributes-natural-language") != 0) {
		ipp_ops_fail(r, IPP_BAD_REQUEST,
			     "the first operation attributes must be attributes-charset, then "
			     "attributes-natural-language");
		return false;
	}
	if (a->values->tag != IPP_TAG_CHARSET || !ipp_value_str(a->values, cs, sizeof(cs)) ||
	    (strcasecmp(cs, "utf-8") != 0 && strcasecmp(cs, "us-ascii") != 0)) {
		ipp_ops_fail(r, IPP_CHARSET_NOT_SUPPORTED, "attributes-charset must be utf-8");
		return false;
	}
	if (!ipp_find(m->attrs, IPP_TAG_OPERATION, "printer-uri") &&
	    !ipp_find(m->attrs, IPP_TAG_OPERATION, "job-uri")) {
		ipp_ops_fail(r, IPP_BAD_REQUEST, "no printer-uri (or job-uri) operation attribute");
		return false;
	}
	return true;
}

void ipp_ops_dispatch(struct ipp_req *r, const uint8_t *rest, size_t rest_len)
{
	if (!check_request(r))
		return;
	if (!r->authenticated)
		ipp_auth_requesting_user(r);
	switch (r->msg.code) {
	case IPP_OP_PRINT_JOB:
		op_print_job(r, rest, rest_len);
		return;
	case IPP_OP_SEND_DOCUMENT:
		op_send_document(r, rest, rest_len);
		return;
	case IPP_OP_CREATE_JOB:
		op_create_job(r);
		return;
	case IPP_OP_VALIDATE_JOB:
		r->on_end = op_validate_job;
		return;
	case IPP_OP_GET_PRINTER_ATTRIBUTES:
		r->on_end = op_get_printer_attributes;
		return;
	case IPP_OP_GET_JOBS:
		r->on_end = op_get_jobs;
		return;
	case IPP_OP_GET_JOB_ATTRIBUTES:
		r->on_end = op_get_job_attributes;
		return;
	case IPP_OP_CANCEL_JOB:
		r->on_end = op_cancel_job;
		return;
	case IPP_OP_CANCEL_MY_JOBS:
		r->on_end = op_cancel_my_jobs;
		return;
	case IPP_OP_CLOSE_JOB:
		r->on_end = op_close_job;
		return;
	case IPP_OP_IDENTIFY_PRINTER:
		r->on_end = op_identify_printer;
		return;
	default:
		r->on_end = op_not_supported;
	}
}

/* Create-Job jobs whose document never came are dropped after
 * multiple-operation-time-out. */
void ipp_open_jobs_sweep(struct ipp *s)
{
	uint64_t now = uv_now(scout_mod_loop(s->m));
	struct ipp_open_job *j, *tmp;

	scout_list_foreach_safe (j, tmp, &s->open_jobs, link)
		if (!j->receiving && now >= j->expires_ms) {
			log_info("ipp: job %u: no document within multiple-operation-time-out, dropped", j->id);
			ipp_job_abort(s, j->id, "no document within multiple-operation-time-out");
			scout_list_remove(&j->link);
			free(j);
		}
}
