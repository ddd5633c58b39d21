/* What the vault does with jobs once they are held: the analysis after a
 * commit (job.held), job.list, job.cancel, job.done, the readers
 * (job.open/read/close), vault.status, and the end of a job: expiry
 * (record and file gone), or a tombstone (document key and bytes gone,
 * sealed metadata kept for `history`). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/log.h"
#include "loop/pack.h"
#include "analyse/analyse.h"
#include "reader.h"
#include "state.h"

/* ---- record updates (pool thread, in the store's transaction) ---- */

struct update {
	struct vault *v;
	struct job *j; /* NULL once the job is gone (the write still lands) */
	uint32_t id;
	uint64_t expires;
	bool drop_doc, delete;
	bool had_file;
	msgpack_sbuffer meta; /* packed metadata; empty: keep the sealed one */
	void (*then)(struct update *u, int status);
};

static int update_fn(struct scout_txn *txn, void *arg)
{
	struct update *up = arg;
	struct vault *v = up->v;
	struct vault_key *mk = NULL;
	uint8_t key[5];
	uint8_t *meta = NULL;
	struct record rec;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r;

	vault_key(up->id, key);
	if (up->delete) {
		r = scout_txn_del(txn, v->db, key, sizeof(key));
		return r == -ENOENT ? 0 : r;
	}
	if ((r = vault_record_get(txn, v->db, up->id, &rec)) < 0)
		return r;
	if (up->meta.size) {
		size_t size = up->meta.size + VAULT_META_OVERHEAD;
		meta = malloc(size);
		if (!meta)
			return -ENOMEM;
		if ((r = vault_key_unwrap(v->site, up->id, VAULT_KEY_METADATA, rec.wmk, VAULT_WRAP_LEN, &mk, NULL)) <
			    0 ||
		    (r = vault_meta_seal(mk, up->id, up->meta.data, up->meta.size, meta, size, &rec.meta_len, NULL)) <
			    0) {
			vault_key_free(mk);
			free(meta);
			return r;
		}
		vault_key_free(mk);
		rec.meta = meta;
	}
	rec.expires = up->expires;
	if (up->drop_doc)
		rec.has_doc = false;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_record_pack(&pk, &rec);
	r = scout_txn_put(txn, v->db, key, sizeof(key), sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	free(meta);
	return r;
}

static void unlink_work(void *arg)
{
	struct update *up = arg;
	char path[4096];

	if (vault_file_path(up->v, up->id, path, sizeof(path)) == 0)
		unlink(path);
}

static void update_free(struct update *up)
{
	msgpack_sbuffer_destroy(&up->meta);
	free(up);
}

static void unlink_done(void *arg, int status)
{
	update_free(arg);
}

static void update_done(void *arg, int status)
{
	struct update *up = arg;
	struct vault *v = up->v;

	vault_op_end(v);
	if (up->then && !v->stopping)
		up->then(up, status);
	/* the record no longer names the file: remove it (a crash before
	 * this leaves an orphan, removed at the next start) */
	if (status == 0 && up->had_file && !v->stopping &&
	    scout_work_submit(v->work, unlink_work, unlink_done, up) == 0)
		return;
	update_free(up);
}

static struct update *update_new(struct vault *v, struct job *j)
{
	struct update *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	up->v = v;
	up->j = j;
	up->id = j->id;
	up->expires = j->expires;
	msgpack_sbuffer_init(&up->meta);
	return up;
}

static int update_submit(struct vault *v, struct update *up)
{
	vault_op_begin(v);
	if (scout_store_write_async(v->store, update_fn, up, update_done) < 0) {
		vault_op_end(v);
		update_free(up);
		return -EIO;
	}
	return 0;
}

static void pack_meta_into(struct job *j, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	vault_meta_pack(j, &pk, false);
}

/* ---- ending a job ---- */

/* A tombstone: the document key and bytes are gone at once; the
 * metadata (with the outcome) stays until `history` has passed. */
int vault_finish(struct vault *v, struct job *j, enum job_state state, const char *reason)
{
	const struct vault_conf *conf = scout_mod_conf(v->m);
	struct update *up;

	if (!j->committed || job_is_tombstone(j->meta.state) || !j->meta_known)
		return -ENOENT;
	if (!v->unlocked || v->rotating)
		return -EACCES;
	if (!(up = update_new(v, j)))
		return -ENOMEM;
	vault_close_handles(v, j);
	vault_account(v, j, -1);
	up->had_file = j->in_file && j->has_doc;
	j->has_doc = false;
	j->meta.state = state;
	free(j->meta.reason);
	j->meta.reason = strdup(reason ? reason : "");
	j->expires = vault_now() + conf->history / 1000;
	up->expires = j->expires;
	if (conf->history == 0) {
		up->delete = true;
	} else {
		up->drop_doc = true;
		pack_meta_into(j, &up->meta);
	}
	v->shredded++;
	if (update_submit(v, up) < 0)
		log_error("vault: job %u: cannot write its end (%s)", j->id, vault_state_name(state));
	vault_arm(v, j);
	return 0;
}

/* The deadline: a held job expires (record and file go), a tombstone's
 * history ends. Needs no key: expiry is in the clear. */
void vault_expire(struct scout_deadline *d)
{
	struct job *j = scout_container_of(d, struct job, dl);
	struct vault *v = j->v;
	struct update *up;

	if (v->stopping)
		return;
	if (!j->committed) {
		vault_receive_idle(v, j);
		return;
	}
	if (j->busy || j->analysing || v->rotating || j->meta.state == JOB_PROCESSING || !(up = update_new(v, j))) {
		/* again when it is idle; a job being delivered ends with the delivery */
		scout_timers_arm_in(&v->timers, &j->dl, 1000);
		return;
	}
	up->delete = true;
	up->had_file = j->in_file && j->has_doc;
	if (!job_is_tombstone(j->meta.state) || !j->meta_known) {
		v->expired++;
		v->shredded += j->has_doc;
		log_info("vault: job %u expired: shredded", j->id);
	}
	vault_close_handles(v, j);
	if (!j->meta_known || !job_is_tombstone(j->meta.state))
		vault_account(v, j, -1);
	vault_job_free(v, j);
	up->j = NULL;
	update_submit(v, up);
}

/* ---- analysis ---- */

struct analysis {
	struct vault *v;
	uint32_t id;
	struct vault_key *dk;
	bool in_file;
	uint64_t size;
	struct vault_reader rd;
	char format[64], sides[32], color[16];
	unsigned copies;
	struct job_analysis out;
	char problem[160];
	int r;
};

/* The one call into the stream analysers (analyse/analyse.h), through a
 * decrypting reader over the stored job. */
static void analyse_doc(struct analysis *a)
{
	struct scout_doc_reader r = {.size = a->size, .read_at = vault_reader_read_at, .arg = &a->rd};
	struct scout_doc_hints h = {.format = a->format, .copies = a->copies, .sides = a->sides, .color = a->color};
	struct scout_doc_info info;
	struct job_analysis *out = &a->out;

	if (scout_doc_analyse(&r, &h, &info) < 0)
		return;
	snprintf(out->format, sizeof(out->format), "%s", info.format);
	out->pages = info.pages;
	out->copies = info.copies;
	snprintf(out->sides, sizeof(out->sides), "%s", info.sides);
	snprintf(out->color, sizeof(out->color), "%s", info.color);
	snprintf(out->pages_source, sizeof(out->pages_source), "%s", info.pages_source ? info.pages_source : "");
	snprintf(out->copies_source, sizeof(out->copies_source), "%s", info.copies_source ? info.copies_source : "");
	snprintf(out->sides_source, sizeof(out->sides_source), "%s", info.sides_source ? info.sides_source : "");
	snprintf(out->color_source, sizeof(out->color_source), "%s", info.color_source ? info.color_source : "");
	snprintf(a->problem, sizeof(a->problem), "%s", info.problem);
}

static int read_inline_fn(struct scout_txn *txn, void *arg)
{
	struct analysis *a = arg;
	struct record rec;
	int r;

	if ((r = vault_record_get(txn, a->v->db, a->id, &rec)) < 0)
		return r;
	if (!rec.has_doc || rec.in_file)
		return -ENOENT;
	if (!(a->rd.inline_ = malloc(rec.doc_len)))
		return -ENOMEM;
	memcpy(a->rd.inline_, rec.doc, rec.doc_len);
	a->rd.sealed_size = rec.doc_len;
	return 0;
}

/* The stored job, as a reader: its record (inline) or its file. */
int vault_open_stored(struct vault *v, uint32_t id, bool in_file, const struct vault_key *dk, struct vault_reader *rd)
{
	char path[4096];
	struct stat st;
	int r;

	rd->fd = -1;
	if (!in_file) {
		struct analysis tmp = {.v = v, .id = id, .rd = {.fd = -1}};
		r = scout_store_read(v->store, read_inline_fn, &tmp);
		rd->inline_ = tmp.rd.inline_;
		rd->sealed_size = tmp.rd.sealed_size;
		if (r < 0)
			return r;
	} else {
		if ((r = vault_file_path(v, id, path, sizeof(path))) < 0)
			return r;
		rd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (rd->fd < 0 || fstat(rd->fd, &st) < 0)
			return -errno;
		rd->sealed_size = (uint64_t)st.st_size;
	}
	return vault_reader_open(rd, dk, id);
}

static void analyse_work(void *arg)
{
	struct analysis *a = arg;

	a->r = vault_open_stored(a->v, a->id, a->in_file, a->dk, &a->rd);
	vault_key_free(a->dk);
	a->dk = NULL;
	if (a->r == 0)
		analyse_doc(a);
	vault_reader_free(&a->rd);
}

static void publish_held(struct vault *v, struct job *j)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_meta_pack(j, &pk, true);
	scout_bus_publish(v->bus, v->t_held, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void analysed_written(struct update *up, int status)
{
	struct job *j = vault_job_find(up->v, up->id);

	if (status < 0)
		log_error("vault: job %u: cannot store its analysis: %s", up->id, strerror(-status));
	if (j && (j->meta.state == JOB_HELD || j->meta.state == JOB_PROCESSING))
		publish_held(up->v, j);
}

static void claim_now(struct vault *v, struct job *j, uint64_t corr, bool reprint);

static void analyse_done(void *arg, int status)
{
	struct analysis *a = arg;
	struct vault *v = a->v;
	struct job *j = vault_job_find(v, a->id);

	vault_key_free(a->dk); /* a job cancelled before it ran still holds it */
	a->dk = NULL;
	if (j)
		j->analysing = false;
	if (status == 0 && !v->stopping && j && j->meta.state == JOB_HELD) {
		if (a->r < 0)
			log_warn("vault: job %u: cannot analyse: %s", j->id, strerror(-a->r));
		else if (a->out.format[0] || a->out.pages_source[0])
			j->meta.an = a->out;
		if (a->problem[0])
			log_info("vault: job %u: %s", j->id, a->problem);
		j->meta.analysed = true;
		v->analysed++;
		struct update *up = update_new(v, j);
		if (up) {
			pack_meta_into(j, &up->meta);
			up->then = analysed_written;
			if (update_submit(v, up) < 0)
				publish_held(v, j);
		}
	}
	if (j && j->claim_corr) {
		uint64_t corr = j->claim_corr;
		j->claim_corr = 0;
		claim_now(v, j, corr, j->claim_reprint);
	}
	free(a);
}

/* After the commit, on the pool; never delays job.commit's reply. */
void vault_analyse(struct vault *v, struct job *j)
{
	struct analysis *a = calloc(1, sizeof(*a));

	if (!a) {
		publish_held(v, j);
		return;
	}
	a->v = v;
	a->id = j->id;
	a->rd.fd = -1;
	a->in_file = j->in_file;
	a->size = j->meta.size;
	a->dk = j->dk; /* the analysis is the document key's last use */
	j->dk = NULL;
	vault_key_free(j->mk);
	j->mk = NULL;
	snprintf(a->format, sizeof(a->format), "%s", j->meta.format);
	snprintf(a->sides, sizeof(a->sides), "%s", j->meta.sides);
	snprintf(a->color, sizeof(a->color), "%s", j->meta.color);
	a->copies = j->meta.copies;
	a->out = j->meta.an;
	if (j->buf) {
		vault_wipe(j->buf, VAULT_CHUNK);
		free(j->buf);
		j->buf = NULL;
	}
	j->analysing = true;
	if (scout_work_submit(v->work, analyse_work, analyse_done, a) < 0) {
		j->analysing = false;
		vault_key_free(a->dk);
		free(a);
		publish_held(v, j);
	}
}

/* ---- job.list ---- */

static bool str_eq(const char *s, const char *p, size_t n)
{
	return s && strlen(s) == n && memcmp(s, p, n) == 0;
}

void vault_on_list(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	const char *user = NULL, *which = "not-completed";
	size_t ulen = 0, wlen = strlen(which);
	uint64_t id = 0, limit = UINT64_MAX;
	struct job *j;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP ||
	    (scout_pack_get(&u.data, "user") && scout_pack_get_str(&u.data, "user", &user, &ulen) < 0) ||
	    (scout_pack_get(&u.data, "which") && scout_pack_get_str(&u.data, "which", &which, &wlen) < 0) ||
	    (scout_pack_get(&u.data, "id") && scout_pack_get_uint(&u.data, "id", &id) < 0) ||
	    (scout_pack_get(&u.data, "limit") && scout_pack_get_uint(&u.data, "limit", &limit) < 0)) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.list: user str, id uint, which str, limit uint");
		goto out;
	}
	int mode = wlen == 13 && memcmp(which, "not-completed", 13) == 0 ? 0
		   : wlen == 9 && memcmp(which, "completed", 9) == 0     ? 1
		   : wlen == 3 && memcmp(which, "all", 3) == 0           ? 2
									 : -1;
	if (mode < 0) {
		vault_reply_error(v, msg->corr, -EINVAL, "which is not-completed, completed or all");
		goto out;
	}
	if (!v->unlocked) {
		vault_reply_error(v, msg->corr, -EACCES, "%s", v->lock_reason);
		goto out;
	}
	size_t n = 0;
	scout_list_foreach (j, &v->jobs, link) {
		if (!j->meta_known || !j->committed || (id && j->id != id) ||
		    (user && !str_eq(j->meta.owner, user, ulen)))
			continue;
		bool done = job_is_tombstone(j->meta.state);
		if ((mode == 0 && done) || (mode == 1 && !done))
			continue;
		n++;
	}
	if (n > limit)
		n = (size_t)limit;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "jobs");
	msgpack_pack_array(&pk, (uint32_t)n);
	scout_list_foreach (j, &v->jobs, link) {
		if (!n)
			break;
		if (!j->meta_known || !j->committed || (id && j->id != id) ||
		    (user && !str_eq(j->meta.owner, user, ulen)))
			continue;
		bool done = job_is_tombstone(j->meta.state);
		if ((mode == 0 && done) || (mode == 1 && !done))
			continue;
		vault_meta_pack(j, &pk, true);
		n--;
	}
	scout_bus_reply(v->bus, msg->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
out:
	msgpack_unpacked_destroy(&u);
}

/* ---- job.cancel, job.done ---- */

/* 0, or an errno with a reason for the asker. */
int vault_cancel(struct vault *v, uint32_t id, const char *user, size_t ulen, const char *by, char *why, size_t size)
{
	struct job *j = vault_job_find(v, id);
	char reason[200];

	if (!v->unlocked) {
		snprintf(why, size, "%s", v->lock_reason);
		return -EACCES;
	}
	if (v->rotating) {
		snprintf(why, size, "the site key is being rotated; try again");
		return -EBUSY;
	}
	if (!j || !j->committed || !j->meta_known) {
		snprintf(why, size, "no job %u", id);
		return -ENOENT;
	}
	if (user && !str_eq(j->meta.owner, user, ulen)) {
		snprintf(why, size, "job %u is not %.*s's", id, (int)(ulen > 64 ? 64 : ulen), user);
		return -EPERM;
	}
	if (job_is_tombstone(j->meta.state)) {
		snprintf(why, size, "job %u is %s already", id, vault_state_name(j->meta.state));
		return -EALREADY;
	}
	snprintf(reason, sizeof(reason), "canceled by %s", by);
	int r = vault_finish(v, j, JOB_CANCELED, reason);
	if (r < 0) {
		snprintf(why, size, "cannot cancel job %u: %s", id, strerror(-r));
		return r;
	}
	v->canceled++;
	log_info("vault: job %u canceled by %s: shredded", id, by);
	return 0;
}

void vault_on_cancel(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	const char *user = NULL;
	size_t ulen = 0;
	uint64_t id;
	char why[256], by[100];

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "id", &id) < 0 || id > UINT32_MAX ||
	    (scout_pack_get(&u.data, "user") && scout_pack_get_str(&u.data, "user", &user, &ulen) < 0)) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.cancel: id uint, user str");
		goto out;
	}
	snprintf(by, sizeof(by), "%.*s", user ? (int)(ulen > 64 ? 64 : ulen) : 5, user ? user : "owner");
	int r = vault_cancel(v, (uint32_t)id, user, ulen, by, why, sizeof(why));
	if (r < 0)
		vault_reply_error(v, msg->corr, r, "%s", why);
	else
		vault_reply_empty(v, msg->corr);
out:
	msgpack_unpacked_destroy(&u);
}

/* A delivered job whose document stays, encrypted, for keep_after_release:
 * state completed (not counted against its owner's quota), the same
 * record with a new expiry. -ENOENT when nothing is to be kept. */
static int keep_for_reprint(struct vault *v, struct job *j, const char *why)
{
	const struct vault_conf *conf = scout_mod_conf(v->m);
	struct update *up;

	if (!conf->keep_after_release || !j->committed || !j->has_doc || !j->meta_known ||
	    job_is_tombstone(j->meta.state) || !v->unlocked || v->rotating)
		return -ENOENT;
	if (!(up = update_new(v, j)))
		return -ENOMEM;
	vault_close_handles(v, j);
	vault_account(v, j, -1);
	j->meta.state = JOB_COMPLETED;
	free(j->meta.reason);
	j->meta.reason = strdup(why);
	free(j->meta.reason_text);
	j->meta.reason_text = NULL;
	j->expires = vault_now() + conf->keep_after_release / 1000;
	up->expires = j->expires;
	pack_meta_into(j, &up->meta);
	v->kept++;
	if (update_submit(v, up) < 0)
		log_error("vault: job %u: cannot write its completion", j->id);
	vault_arm(v, j);
	return 0;
}

void vault_on_done(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	const char *outcome, *printer = "", *reason = "";
	size_t olen, plen = 0, rlen = 0;
	uint64_t id;
	enum job_state st;
	char why[300];

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "id", &id) < 0 || id > UINT32_MAX ||
	    scout_pack_get_str(&u.data, "outcome", &outcome, &olen) < 0 ||
	    (scout_pack_get(&u.data, "printer") && scout_pack_get_str(&u.data, "printer", &printer, &plen) < 0) ||
	    (scout_pack_get(&u.data, "reason") && scout_pack_get_str(&u.data, "reason", &reason, &rlen) < 0) ||
	    vault_state_parse(outcome, olen, &st) < 0 || !job_is_tombstone(st)) {
		log_warn("vault: a malformed job.done was ignored");
		goto out;
	}
	struct job *j = vault_job_find(v, (uint32_t)id);
	if (!j || !j->committed) {
		log_warn("vault: job.done for unknown job %" PRIu64, id);
		goto out;
	}
	snprintf(why, sizeof(why), "%.*s%s%.*s", (int)(rlen > 150 ? 150 : rlen), reason, plen ? " on " : "",
		 (int)(plen > 100 ? 100 : plen), printer);
	if (j->meta.state == JOB_PROCESSING && j->claimed_from == JOB_COMPLETED)
		vault_account(v, j, +1); /* a reprint: counted again until it ends */
	if (st == JOB_COMPLETED && keep_for_reprint(v, j, why) == 0) {
		v->done++;
		log_info("vault: job %u completed: kept for reprint until %" PRIu64, j->id, j->expires);
	} else if (vault_finish(v, j, st, why) == 0) {
		v->done++;
		log_info("vault: job %u %s: shredded", j->id, vault_state_name(st));
	}
out:
	msgpack_unpacked_destroy(&u);
}

/* ---- delivery: job.claim, job.hold ---- */

static void reply_meta(struct vault *v, uint64_t corr, const struct job *j)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_meta_pack(j, &pk, true);
	scout_bus_reply(v->bus, corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* The job becomes the deliverer's: held (or completed and kept, for a
 * reprint) -> processing, in memory only. */
static void claim_now(struct vault *v, struct job *j, uint64_t corr, bool reprint)
{
	enum job_state st = j->meta.state;

	if (!v->unlocked || v->rotating) {
		vault_reply_error(v, corr, v->rotating ? -EBUSY : -EACCES, "%s",
				  v->rotating ? "the site key is being rotated; try again" : v->lock_reason);
		return;
	}
	if (st == JOB_PROCESSING) {
		vault_reply_error(v, corr, -EBUSY, "job %u is being delivered already", j->id);
		return;
	}
	if (!j->has_doc || !(st == JOB_HELD || (reprint && st == JOB_COMPLETED))) {
		vault_reply_error(v, corr, -ENOENT, "job %u is %s%s", j->id, vault_state_name(st),
				  st == JOB_COMPLETED && j->has_doc ? " (print it again with reprint)"
				  : j->has_doc                      ? ""
								    : ": its document is gone");
		return;
	}
	if (st == JOB_COMPLETED)
		vault_account(v, j, +1);
	j->claimed_from = st;
	j->meta.state = JOB_PROCESSING;
	v->claimed++;
	reply_meta(v, corr, j);
	/* On disk too, so that a start after a crash mid-delivery says so (the
	 * printer may have the job); the reply does not wait for it. A reprint
	 * stays completed on disk. */
	struct update *up;
	if (st == JOB_HELD && (up = update_new(v, j))) {
		pack_meta_into(j, &up->meta);
		update_submit(v, up);
	}
}

void vault_on_claim(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	const char *user;
	size_t ulen;
	uint64_t id;
	bool reprint = false;
	struct job *j;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "id", &id) < 0 || id > UINT32_MAX ||
	    scout_pack_get_str(&u.data, "user", &user, &ulen) < 0 ||
	    (scout_pack_get(&u.data, "reprint") && scout_pack_get_bool(&u.data, "reprint", &reprint) < 0)) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.claim: id uint, user str, reprint bool");
		goto out;
	}
	if (!v->unlocked) {
		vault_reply_error(v, msg->corr, -EACCES, "%s", v->lock_reason);
		goto out;
	}
	j = vault_job_find(v, (uint32_t)id);
	/* another user's job gets the same answer as no job: no oracle */
	if (!j || !j->committed || !j->meta_known || !str_eq(j->meta.owner, user, ulen)) {
		vault_reply_error(v, msg->corr, -ENOENT, "no job %" PRIu64 " of %.*s's", id,
				  (int)(ulen > 64 ? 64 : ulen), user);
		goto out;
	}
	if (j->analysing) { /* the deliverer needs the analysed format: wait */
		if (j->claim_corr) {
			vault_reply_error(v, msg->corr, -EBUSY, "job %u is being claimed already", j->id);
		} else {
			j->claim_corr = msg->corr;
			j->claim_reprint = reprint;
		}
		goto out;
	}
	claim_now(v, j, msg->corr, reprint);
out:
	msgpack_unpacked_destroy(&u);
}

void vault_on_hold(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	uint64_t id;
	char *reason = NULL, *text = NULL;
	struct job *j;
	struct update *up;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "id", &id) < 0 || id > UINT32_MAX ||
	    scout_pack_get_strdup(&u.data, "reason", 128, &reason) < 0 ||
	    scout_pack_get_strdup(&u.data, "text", 1024, &text) < 0) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.hold: id uint, reason str (128), text str (1024)");
		goto out;
	}
	j = vault_job_find(v, (uint32_t)id);
	if (!j || !j->committed || !j->meta_known || (j->meta.state != JOB_PROCESSING && j->meta.state != JOB_HELD)) {
		vault_reply_error(v, msg->corr, -ENOENT, "no job %" PRIu64 " being delivered", id);
		goto out;
	}
	if (!v->unlocked || v->rotating || !(up = update_new(v, j))) {
		vault_reply_error(v, msg->corr, -EBUSY, "cannot hold job %u now", j->id);
		goto out;
	}
	if (j->meta.state == JOB_PROCESSING) {
		j->meta.state = j->claimed_from;
		if (j->claimed_from == JOB_COMPLETED)
			vault_account(v, j, -1);
	}
	free(j->meta.reason);
	free(j->meta.reason_text);
	j->meta.reason = reason;
	j->meta.reason_text = text;
	reason = text = NULL;
	v->held_again++;
	pack_meta_into(j, &up->meta);
	if (update_submit(v, up) < 0)
		log_error("vault: job %u: cannot store why it is held", j->id);
	log_info("vault: job %u %s again: %s", j->id, vault_state_name(j->meta.state), j->meta.reason);
	vault_reply_empty(v, msg->corr);
out:
	free(reason);
	free(text);
	msgpack_unpacked_destroy(&u);
}

/* ---- readers ---- */

struct handle {
	struct scout_list link;
	struct vault *v;
	uint32_t handle, id;
	uint64_t size;
	uint32_t chunks;
	bool in_file;
	struct vault_reader rd;
	unsigned reads; /* in flight */
	bool ready, dead, closed;
	uint64_t open_corr;
	int r;
};

static void handle_free(struct handle *h)
{
	scout_list_remove(&h->link);
	vault_reader_free(&h->rd);
	free(h);
}

static void handle_release(struct vault *v, struct handle *h)
{
	if (h->closed && !h->reads && h->ready)
		handle_free(h);
}

static struct handle *handle_find(struct vault *v, uint64_t n)
{
	struct handle *h;

	scout_list_foreach (h, &v->handles, link)
		if (h->handle == n && !h->closed)
			return h;
	return NULL;
}

void vault_close_handles(struct vault *v, struct job *j)
{
	struct handle *h;

	scout_list_foreach (h, &v->handles, link)
		if (h->id == j->id)
			h->dead = true;
	j->readers = 0;
}

void vault_handles_free(struct vault *v)
{
	struct handle *h, *tmp;

	if (v->handles.next)
		scout_list_foreach_safe (h, tmp, &v->handles, link)
			handle_free(h);
}

struct wdk_read {
	struct vault *v;
	uint32_t id;
	uint8_t wdk[VAULT_WRAP_LEN];
};

static int read_wdk_fn(struct scout_txn *txn, void *arg)
{
	struct wdk_read *w = arg;
	struct record rec;
	int r;

	if ((r = vault_record_get(txn, w->v->db, w->id, &rec)) < 0)
		return r;
	if (!rec.has_doc)
		return -ENOENT;
	memcpy(w->wdk, rec.wdk, VAULT_WRAP_LEN);
	return 0;
}

/* A held job as a reader through its document key, unwrapped from its
 * record under the site key (pool threads; job.open and vault verify). */
int vault_open_job(struct vault *v, uint32_t id, bool in_file, struct vault_reader *rd)
{
	struct wdk_read w = {.v = v, .id = id};
	struct vault_key *dk;
	int r;

	if ((r = scout_store_read(v->store, read_wdk_fn, &w)) < 0 ||
	    (r = vault_key_unwrap(v->site, id, VAULT_KEY_DOCUMENT, w.wdk, VAULT_WRAP_LEN, &dk, NULL)) < 0)
		return r;
	r = vault_open_stored(v, id, in_file, dk, rd);
	vault_key_free(dk);
	return r;
}

static void open_work(void *arg)
{
	struct handle *h = arg;

	h->r = vault_open_job(h->v, h->id, h->in_file, &h->rd);
}

static void open_done(void *arg, int status)
{
	struct handle *h = arg;
	struct vault *v = h->v;

	h->ready = true;
	vault_op_end(v);
	if (status < 0 && !h->r)
		h->r = status;
	if (h->r < 0 || h->dead) {
		vault_reply_error(v, h->open_corr, h->r < 0 ? h->r : -ENOENT, "cannot open job %u: %s", h->id,
				  h->r < 0 ? strerror(-h->r) : "it was canceled");
		h->closed = true;
		handle_release(v, h);
		return;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "handle");
	msgpack_pack_uint32(&pk, h->handle);
	scout_pack_str(&pk, "size");
	msgpack_pack_uint64(&pk, h->size);
	scout_pack_str(&pk, "chunks");
	msgpack_pack_uint32(&pk, h->chunks);
	scout_bus_reply(v->bus, h->open_corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void vault_on_open(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	uint64_t id;
	struct job *j;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "id", &id) < 0 || id > UINT32_MAX) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.open: id uint");
		goto out;
	}
	if (!v->unlocked || v->rotating) {
		vault_reply_error(v, msg->corr, v->rotating ? -EBUSY : -EACCES, "%s",
				  v->rotating ? "the site key is being rotated" : v->lock_reason);
		goto out;
	}
	j = vault_job_find(v, (uint32_t)id);
	if (!j || !j->committed || !j->has_doc || !j->meta_known) {
		vault_reply_error(v, msg->corr, -ENOENT, "no job %" PRIu64 " with a document", id);
		goto out;
	}
	struct handle *h = calloc(1, sizeof(*h));
	if (!h) {
		vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	h->v = v;
	h->id = j->id;
	h->handle = ++v->next_handle ? v->next_handle : ++v->next_handle;
	h->size = j->meta.size;
	h->chunks = j->chunks;
	h->open_corr = msg->corr;
	h->rd.fd = -1;
	h->in_file = j->in_file;
	scout_list_insert_tail(&v->handles, &h->link);
	j->readers++;
	vault_op_begin(v);
	if (scout_work_submit(v->work, open_work, open_done, h) < 0)
		open_done(h, -ESHUTDOWN);
out:
	msgpack_unpacked_destroy(&u);
}

/* job.read's reply is built around the decrypted chunk in one buffer:
 * {"data": bin32 <chunk>, "last": bool}, so the chunk is written once by
 * the cipher, copied once by the bus, and wiped once. */
#define READ_HEAD 11 /* map of 2, fixstr "data", bin32 header */
#define READ_TAIL 6  /* fixstr "last", bool */

#define READ_MAX_CHUNKS 16 /* a job.read of up to 1 MiB: one pool job, one reply */

struct readreq {
	struct handle *h;
	uint64_t corr;
	uint32_t index, count, bad;
	uint8_t *out; /* READ_HEAD + count * VAULT_CHUNK + READ_TAIL */
	int n;        /* bytes, or -errno for chunk bad */
};

static void read_work(void *arg)
{
	struct readreq *rr = arg;
	size_t total = 0, n;
	bool last;

	for (uint32_t i = 0; i < rr->count; i++) {
		int r = vault_reader_chunk(&rr->h->rd, rr->index + i, rr->out + READ_HEAD + total, &n, &last);
		if (r < 0) {
			rr->n = r;
			rr->bad = rr->index + i;
			return;
		}
		total += n;
	}
	rr->n = (int)total;
}

static void read_done(void *arg, int status)
{
	struct readreq *rr = arg;
	struct handle *h = rr->h;
	struct vault *v = h->v;

	h->reads--;
	if (status < 0 && rr->n >= 0)
		rr->n = status;
	if (h->dead) {
		vault_reply_error(v, rr->corr, -ENOENT, "job %u was shredded", h->id);
	} else if (rr->n < 0) {
		log_error("vault: job %u: chunk %u does not decrypt: %s", h->id, rr->bad, strerror(-rr->n));
		vault_reply_error(v, rr->corr, -EIO, "job %u: chunk %u does not decrypt", h->id, rr->bad);
	} else {
		static const uint8_t head[] = {0x82, 0xa4, 'd', 'a', 't', 'a', 0xc6};
		uint32_t n = (uint32_t)rr->n;
		uint8_t *p = rr->out;
		memcpy(p, head, sizeof(head));
		p[7] = (uint8_t)(n >> 24);
		p[8] = (uint8_t)(n >> 16);
		p[9] = (uint8_t)(n >> 8);
		p[10] = (uint8_t)n;
		p += READ_HEAD + n;
		memcpy(p, "\xa4last", 5);
		p[5] = rr->index + rr->count == h->chunks ? 0xc3 : 0xc2;
		scout_bus_reply(v->bus, rr->corr, 0, rr->out, READ_HEAD + n + READ_TAIL);
	}
	vault_wipe(rr->out, READ_HEAD + (size_t)rr->count * VAULT_CHUNK + READ_TAIL);
	free(rr->out);
	free(rr);
	handle_release(v, h);
}

void vault_on_read(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	uint64_t hn, index, count = 1;
	struct handle *h;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "handle", &hn) < 0 || scout_pack_get_uint(&u.data, "index", &index) < 0 ||
	    (scout_pack_get(&u.data, "count") &&
	     (scout_pack_get_uint(&u.data, "count", &count) < 0 || count < 1 || count > READ_MAX_CHUNKS))) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.read: handle uint, index uint, count? uint (1..%d)",
				  READ_MAX_CHUNKS);
		goto out;
	}
	h = handle_find(v, hn);
	if (!h || !h->ready || h->dead || index >= h->chunks) {
		vault_reply_error(v, msg->corr, h && index >= h->chunks ? -EINVAL : -ENOENT,
				  "no handle %" PRIu64 " or no chunk %" PRIu64, hn, index);
		goto out;
	}
	if (count > h->chunks - index) /* the read ends with the job */
		count = h->chunks - index;
	struct readreq *rr = calloc(1, sizeof(*rr));
	if (!rr || !(rr->out = malloc(READ_HEAD + (size_t)count * VAULT_CHUNK + READ_TAIL))) {
		free(rr);
		vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	rr->h = h;
	rr->corr = msg->corr;
	rr->index = (uint32_t)index;
	rr->count = (uint32_t)count;
	h->reads++;
	if (scout_work_submit(v->work, read_work, read_done, rr) < 0)
		read_done(rr, -ESHUTDOWN);
out:
	msgpack_unpacked_destroy(&u);
}

void vault_on_close(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	uint64_t hn;
	struct handle *h;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "handle", &hn) < 0) {
		vault_reply_error(v, msg->corr, -EINVAL, "bad job.close: handle uint");
		goto out;
	}
	h = handle_find(v, hn);
	if (!h || !h->ready) {
		vault_reply_error(v, msg->corr, -ENOENT, "no handle %" PRIu64, hn);
		goto out;
	}
	struct job *j = vault_job_find(v, h->id);
	if (j && j->readers && !h->dead)
		j->readers--;
	h->closed = true;
	handle_release(v, h);
	vault_reply_empty(v, msg->corr);
out:
	msgpack_unpacked_destroy(&u);
}

void vault_on_status(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!msg->corr)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_pack_state(v, &pk);
	scout_bus_reply(v->bus, msg->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}
