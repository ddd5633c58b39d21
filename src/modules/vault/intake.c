/* Intake: job.create, job.write, job.commit and job.abort. A job arrives
 * into a 64 KiB plaintext buffer in memory; a full buffer is sealed as a
 * chunk and written to state_dir/vault/<id> on the pool only when more
 * bytes follow, so a job of one chunk never touches a file: its commit
 * seals it into the job's record (inline), and concurrent small jobs share
 * the store's group commits. A bigger job's commit seals the last chunk,
 * writes it, fdatasyncs the file and the directory, then writes the record;
 * job.commit is answered only when the record is on disk. A file without a
 * record is deleted at the next start: a job is whole or absent. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop/log.h"
#include "loop/pack.h"
#include "loop/utf8.h"
#include "state.h"

#define MAX_WRITE (256 * 1024)

/* An optional str field copied (NULL when absent); -EINVAL when of another
 * type, too long or not UTF-8. */
static int opt_str(const msgpack_object *map, const char *key, size_t max, char **ret)
{
	int r;

	*ret = NULL;
	r = scout_pack_get_strdup(map, key, max, ret);
	if (r == -ENOENT)
		return 0;
	if (r == 0 && !scout_utf8_valid(*ret, strlen(*ret), false)) {
		free(*ret);
		*ret = NULL;
		r = -EINVAL;
	}
	return r;
}

static int opt_uint(const msgpack_object *map, const char *key, uint64_t *ret)
{
	*ret = 0;
	if (!scout_pack_get(map, key))
		return 0;
	return scout_pack_get_uint(map, key, ret);
}

static void reply_id(struct vault *v, uint64_t corr, struct job *j)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, j->id);
	scout_pack_str(&pk, "expires");
	msgpack_pack_uint64(&pk, j->expires);
	scout_bus_reply(v->bus, corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static int refuse(struct vault *v, uint64_t corr, enum refusal why, int status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int refuse(struct vault *v, uint64_t corr, enum refusal why, int status, const char *fmt, ...)
{
	char reason[300];
	va_list ap;

	v->refused[why]++;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	vault_reply_error(v, corr, status, "%s", reason);
	return status;
}

/* job.create */
void vault_on_create(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	const struct vault_conf *conf = scout_mod_conf(v->m);
	struct job_meta m = {0};
	msgpack_unpacked u;
	uint64_t copies, hint;
	const char *why;
	struct job *j;
	uint32_t id;
	char buf[200];

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP || opt_str(&u.data, "owner", 255, &m.owner) < 0 || !m.owner ||
	    !m.owner[0] || opt_str(&u.data, "name", 1023, &m.name) < 0 ||
	    opt_str(&u.data, "format", 255, &m.format) < 0 || opt_str(&u.data, "origin", 255, &m.origin) < 0 ||
	    opt_str(&u.data, "sides", 63, &m.sides) < 0 || opt_str(&u.data, "color", 63, &m.color) < 0 ||
	    opt_str(&u.data, "media", 255, &m.media) < 0 || opt_uint(&u.data, "copies", &copies) < 0 ||
	    opt_uint(&u.data, "size_hint", &hint) < 0 || copies > 9999) {
		refuse(v, msg->corr, REF_BAD, -EINVAL, "%s",
		       "bad job.create: owner (a non-empty UTF-8 str) is required; name, format, origin, sides, color, "
		       "media str; copies, size_hint uint");
		goto out;
	}
	if (!vault_accepting(v, &why)) {
		if (!v->unlocked)
			refuse(v, msg->corr, REF_LOCKED, -EACCES, "%s", why);
		else if (v->rotating)
			refuse(v, msg->corr, REF_BUSY, -EBUSY, "%s", why);
		else
			refuse(v, msg->corr, REF_SPACE, -ENOSPC, "%s", why);
		goto out;
	}
	if (v->receiving >= (uint64_t)conf->max_receiving) {
		refuse(v, msg->corr, REF_BUSY, -EBUSY, "%s", "too many jobs arriving at once; try again");
		goto out;
	}
	if (hint > conf->max_job_size) {
		snprintf(buf, sizeof(buf), "the document (%" PRIu64 " bytes) is larger than max_job_size (%" PRIu64 ")",
			 hint, conf->max_job_size);
		refuse(v, msg->corr, REF_TOO_BIG, -EFBIG, "%s", buf);
		goto out;
	}
	struct user *usr = vault_user(v, m.owner, false);
	if (conf->max_jobs_per_user && usr && usr->jobs >= (uint64_t)conf->max_jobs_per_user) {
		snprintf(buf, sizeof(buf), "%s has %" PRIu64 " jobs held (max_jobs_per_user)", m.owner, usr->jobs);
		refuse(v, msg->corr, REF_QUOTA, -EDQUOT, "%s", buf);
		goto out;
	}
	if (conf->max_bytes_per_user && (usr ? usr->bytes : 0) + hint > conf->max_bytes_per_user) {
		snprintf(buf, sizeof(buf), "%s would hold more than max_bytes_per_user (%" PRIu64 " MiB)", m.owner,
			 conf->max_bytes_per_user >> 20);
		refuse(v, msg->corr, REF_QUOTA, -EDQUOT, "%s", buf);
		goto out;
	}
	if (v->disk_free && v->disk_free < conf->min_free_disk + hint + hint / 64) {
		snprintf(buf, sizeof(buf), "disk full: %" PRIu64 " MiB free, the job needs %" PRIu64 " MiB",
			 v->disk_free >> 20, (hint >> 20) + 1);
		refuse(v, msg->corr, REF_SPACE, -ENOSPC, "%s", buf);
		goto out;
	}
	if (vault_new_id(v, &id) < 0 || vault_job_new(v, id, &j) < 0) {
		vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	if (vault_key_generate(&j->dk) < 0 || vault_key_generate(&j->mk) < 0) {
		vault_job_free(v, j);
		vault_reply_error(v, msg->corr, -EIO, "no randomness for the job's keys");
		goto out;
	}
	m.copies = (unsigned)copies;
	m.submitted = vault_now();
	m.state = JOB_RECEIVING;
	if (!m.name && !(m.name = strdup("")))
		goto nomem;
	const char **s[] = {(const char **)&m.format, (const char **)&m.origin, (const char **)&m.sides,
			    (const char **)&m.color, (const char **)&m.media};
	for (size_t i = 0; i < 5; i++)
		if (!*s[i] && !(*(char **)s[i] = strdup("")))
			goto nomem;
	m.an.pages = -1;
	m.an.copies = m.copies ? m.copies : 1;
	/* the client's attributes until the analysis says better */
	snprintf(m.an.format, sizeof(m.an.format), "%s", m.format);
	snprintf(m.an.sides, sizeof(m.an.sides), "%s", m.sides[0] ? m.sides : "one-sided");
	snprintf(m.an.color, sizeof(m.an.color), "%s",
		 strcmp(m.color, "color") == 0 || strcmp(m.color, "monochrome") == 0 ? m.color : "unknown");
	snprintf(m.an.pages_source, sizeof(m.an.pages_source), "default");
	snprintf(m.an.copies_source, sizeof(m.an.copies_source), "%s", m.copies ? "ipp" : "default");
	snprintf(m.an.sides_source, sizeof(m.an.sides_source), "%s", m.sides[0] ? "ipp" : "default");
	snprintf(m.an.color_source, sizeof(m.an.color_source), "%s", m.color[0] ? "ipp" : "default");
	j->meta = m;
	memset(&m, 0, sizeof(m));
	j->meta_known = true;
	j->expires = vault_now() + conf->hold_for / 1000;
	vault_account(v, j, 1);
	v->receiving++;
	v->created++;
	scout_timers_arm_in(&v->timers, &j->dl, conf->receive_timeout);
	reply_id(v, msg->corr, j);
	goto out;
nomem:
	vault_job_free(v, j);
	vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
out:
	vault_meta_clear(&m);
	msgpack_unpacked_destroy(&u);
}

static struct job *receiving_job(struct vault *v, const msgpack_object *o, uint64_t corr)
{
	uint64_t id;
	struct job *j;

	if (scout_pack_get_uint(o, "id", &id) < 0 || id > UINT32_MAX) {
		refuse(v, corr, REF_BAD, -EINVAL, "%s", "bad payload: id (uint) is required");
		return NULL;
	}
	j = vault_job_find(v, (uint32_t)id);
	if (!j || j->meta.state != JOB_RECEIVING || j->abort_wanted || j->commit_wanted) {
		vault_reply_error(v, corr, -ENOENT, "no job %" PRIu64 " is arriving", id);
		return NULL;
	}
	return j;
}

/* ---- the pool steps ---- */

static int ensure_file(struct vault *v, struct job *j)
{
	char path[4096];
	int r;

	if (j->fd >= 0)
		return 0;
	if ((r = vault_file_path(v, j->id, path, sizeof(path))) < 0)
		return r;
	j->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return j->fd < 0 ? -errno : 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/* Every WRITEBACK_CHUNKS chunks written, the kernel is asked to start
 * writing them out (without waiting): the commit's fdatasync then waits
 * for the tail of a big job, not for all of it, and dirty pages do not pile
 * up while a 50 MB job arrives. */
#define WRITEBACK_CHUNKS 16

static void start_writeback(struct job *j)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (j->next_chunk % WRITEBACK_CHUNKS == 0)
		(void)sync_file_range(j->fd, (off_t)(j->next_chunk - WRITEBACK_CHUNKS) * VAULT_SEALED_CHUNK,
				      (off_t)WRITEBACK_CHUNKS * VAULT_SEALED_CHUNK, SYNC_FILE_RANGE_WRITE);
#else
	(void)j;
#endif
}

/* Seals len bytes at p as chunk next_chunk and writes it. */
static int seal_chunk(struct vault *v, struct job *j, bool last, const uint8_t *p, size_t len, uint8_t *sealed)
{
	int r;

	if ((r = ensure_file(v, j)) < 0)
		return r;
	if ((r = vault_chunk_seal(j->dk, j->id, j->next_chunk, last, p, len, sealed, NULL)) < 0)
		return r;
	r = pwrite_all(j->fd, sealed, len + VAULT_TAG, (off_t)j->next_chunk * VAULT_SEALED_CHUNK);
	if (r < 0)
		return r;
	j->flen = (uint64_t)j->next_chunk * VAULT_SEALED_CHUNK + len + VAULT_TAG;
	j->next_chunk++;
	start_writeback(j);
	return 0;
}

/* Seals the buffer as chunk next_chunk and writes it. */
static int flush_chunk(struct vault *v, struct job *j, bool last, uint8_t *sealed)
{
	int r = seal_chunk(v, j, last, j->buf, j->buf_len, sealed);

	if (r == 0)
		j->buf_len = 0;
	return r;
}

/* Takes bytes: a full buffer is sealed only once more bytes follow, so
 * the last chunk is known to be last when it is sealed. */
static int take(struct vault *v, struct job *j, const uint8_t *p, size_t n, uint8_t *sealed)
{
	int r;

	while (n) {
		if (j->buf_len == VAULT_CHUNK && (r = flush_chunk(v, j, false, sealed)) < 0)
			return r;
		if (j->buf_len == 0 && n > VAULT_CHUNK) {
			/* a whole chunk with more after it: sealed from where it is */
			if ((r = seal_chunk(v, j, false, p, VAULT_CHUNK, sealed)) < 0)
				return r;
			p += VAULT_CHUNK;
			n -= VAULT_CHUNK;
			continue;
		}
		size_t k = VAULT_CHUNK - j->buf_len < n ? VAULT_CHUNK - j->buf_len : n;
		memcpy(j->buf + j->buf_len, p, k);
		j->buf_len += k;
		p += k;
		n -= k;
	}
	return 0;
}

static void write_work(void *arg)
{
	struct job *j = arg;
	uint8_t *sealed = malloc(VAULT_SEALED_CHUNK);
	struct wreq *w;

	scout_list_foreach (w, &j->batch, link) {
		if (!j->pool_err && !sealed)
			j->pool_err = -ENOMEM;
		if (!j->pool_err)
			j->pool_err = take(j->v, j, w->data, w->len, sealed);
		w->status = j->pool_err;
	}
	free(sealed);
}

static void step(struct vault *v, struct job *j);
static void drop_receiving(struct vault *v, struct job *j);

static void write_done(void *arg, int status)
{
	struct job *j = arg;
	struct vault *v = j->v;
	struct wreq *w, *tmp;

	j->busy = false;
	vault_op_end(v);
	scout_list_foreach_safe (w, tmp, &j->batch, link) {
		scout_list_remove(&w->link);
		int st = status < 0 ? status : w->status;
		if (st == 0)
			vault_reply_empty(v, w->corr);
		else
			vault_reply_error(v, w->corr, st, "cannot store the job's data: %s", strerror(-st));
		free(w);
	}
	if (j->pool_err && !v->stopping) {
		log_error("vault: job %u: cannot write its data: %s", j->id, strerror(-j->pool_err));
		vault_space_error(v, j->pool_err, false);
	}
	step(v, j);
}

/* ---- commit ---- */

struct newrec {
	struct vault *v;
	struct job *j;
};

/* Pool thread, in the store's transaction: the job's record. Everything it
 * reads is the job's and stays put while the job is busy. */
static int put_new_fn(struct scout_txn *txn, void *arg)
{
	struct job *j = arg;
	struct vault *v = j->v;
	uint8_t wdk[VAULT_WRAP_LEN], wmk[VAULT_WRAP_LEN], key[5];
	size_t meta_size = j->metabuf.size + VAULT_META_OVERHEAD;
	uint8_t *meta = malloc(meta_size), *doc = NULL;
	struct record rec = {.expires = j->expires, .has_doc = true, .chunks = j->chunks, .in_file = j->in_file};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r = -ENOMEM;

	msgpack_sbuffer_init(&sb);
	if (!meta)
		goto out;
	if ((r = vault_key_wrap(v->site, j->id, VAULT_KEY_DOCUMENT, j->dk, wdk, NULL)) < 0 ||
	    (r = vault_key_wrap(v->site, j->id, VAULT_KEY_METADATA, j->mk, wmk, NULL)) < 0 ||
	    (r = vault_meta_seal(j->mk, j->id, j->metabuf.data, j->metabuf.size, meta, meta_size, &rec.meta_len,
				 NULL)) < 0)
		goto out;
	rec.wdk = wdk;
	rec.wmk = wmk;
	rec.meta = meta;
	if (j->in_file) {
		rec.flen = j->flen;
	} else {
		if (!(doc = malloc(j->buf_len + VAULT_TAG))) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = vault_chunk_seal(j->dk, j->id, 0, true, j->buf, j->buf_len, doc, NULL)) < 0)
			goto out;
		rec.doc = doc;
		rec.doc_len = j->buf_len + VAULT_TAG;
	}
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_record_pack(&pk, &rec);
	vault_key(j->id, key);
	r = scout_txn_put(txn, v->db, key, sizeof(key), sb.data, sb.size);
out:
	msgpack_sbuffer_destroy(&sb);
	free(meta);
	free(doc);
	return r;
}

static void commit_failed(struct vault *v, struct job *j, int err, bool store)
{
	v->commit_errors++;
	log_error("vault: job %u: not stored: %s", j->id, strerror(-err));
	vault_space_error(v, err, store);
	vault_reply_error(v, j->commit_corr, err == -ENOSPC ? -ENOSPC : err,
			  err == -ENOSPC ? "disk or store full: the job was not stored" : "the job was not stored: %s",
			  strerror(-err));
	j->commit_corr = 0;
	j->commit_wanted = false;
	j->abort_wanted = true;
	drop_receiving(v, j);
}

static void record_done(void *arg, int status)
{
	struct job *j = arg;
	struct vault *v = j->v;

	j->busy = false;
	vault_op_end(v);
	if (v->stopping) {
		vault_reply_error(v, j->commit_corr, -ESHUTDOWN, "the vault is stopping");
		return; /* freed with the table */
	}
	if (status < 0) {
		commit_failed(v, j, status, true);
		return;
	}
	/* the record's metadata is sealed: its packing buffer goes (8 KiB a job) */
	msgpack_sbuffer_destroy(&j->metabuf);
	msgpack_sbuffer_init(&j->metabuf);
	j->committed = true;
	j->has_doc = true;
	j->stored = j->in_file ? j->flen : j->buf_len + VAULT_TAG;
	j->meta.state = JOB_HELD;
	v->receiving--;
	v->held_jobs++;
	v->held_bytes += j->stored;
	v->committed++;
	v->bytes_in += j->meta.size;
	vault_note_intake(v, j->meta.size);
	if (j->fd >= 0) {
		close(j->fd);
		j->fd = -1;
	}
	reply_id(v, j->commit_corr, j);
	j->commit_corr = 0;
	j->commit_wanted = false;
	vault_arm(v, j);
	vault_analyse(v, j);
}

static void write_record(struct vault *v, struct job *j)
{
	j->busy = true;
	vault_op_begin(v);
	if (scout_store_write_async(v->store, put_new_fn, j, record_done) < 0)
		record_done(j, -EIO);
}

static void commit_work(void *arg)
{
	struct job *j = arg;
	uint8_t *sealed = malloc(VAULT_SEALED_CHUNK);
	int r = -ENOMEM;

	if (sealed && (r = flush_chunk(j->v, j, true, sealed)) == 0 && fdatasync(j->fd) < 0)
		r = -errno;
	if (r == 0)
		r = vault_fsync_dir(j->v->dir);
	j->pool_err = r;
	free(sealed);
}

static void commit_file_done(void *arg, int status)
{
	struct job *j = arg;
	struct vault *v = j->v;

	j->busy = false;
	vault_op_end(v);
	if (status < 0 || v->stopping) {
		vault_reply_error(v, j->commit_corr, -ESHUTDOWN, "the vault is stopping");
		j->commit_corr = 0;
		return;
	}
	if (j->pool_err) {
		commit_failed(v, j, j->pool_err, false);
		return;
	}
	write_record(v, j);
}

static void start_commit(struct vault *v, struct job *j)
{
	/* the record says held: it is only read back once committed */
	j->meta.state = JOB_HELD;
	j->in_file = j->fd >= 0;
	j->chunks = j->in_file ? j->next_chunk + 1 : 1;
	vault_meta_buf(j);
	j->meta.state = JOB_RECEIVING;
	if (!j->in_file) {
		write_record(v, j);
		return;
	}
	j->busy = true;
	vault_op_begin(v);
	if (scout_work_submit(v->work, commit_work, commit_file_done, j) < 0)
		commit_file_done(j, -ESHUTDOWN);
}

/* What comes next for a receiving job whose pool step ended (or that has
 * none): more writes, the commit, or the abort. */
static void step(struct vault *v, struct job *j)
{
	if (j->busy || v->stopping)
		return;
	if (j->abort_wanted) {
		drop_receiving(v, j);
		return;
	}
	if (!scout_list_empty(&j->writes)) {
		/* all waiting writes in one step */
		j->batch = j->writes;
		j->batch.next->prev = j->batch.prev->next = &j->batch;
		scout_list_init(&j->writes);
		j->busy = true;
		vault_op_begin(v);
		if (scout_work_submit(v->work, write_work, write_done, j) < 0)
			write_done(j, -ESHUTDOWN);
		return;
	}
	if (j->commit_wanted)
		start_commit(v, j);
}

/* job.write */
void vault_on_write(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	const struct vault_conf *conf = scout_mod_conf(v->m);
	msgpack_unpacked u;
	struct job *j;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS) {
		refuse(v, msg->corr, REF_BAD, -EINVAL, "%s", "bad job.write payload");
		goto out;
	}
	if (!(j = receiving_job(v, &u.data, msg->corr)))
		goto out;
	const msgpack_object *d = scout_pack_get(&u.data, "data");
	if (!d || d->type != MSGPACK_OBJECT_BIN || d->via.bin.size == 0 || d->via.bin.size > MAX_WRITE) {
		refuse(v, msg->corr, REF_BAD, -EINVAL, "%s",
		       "bad job.write: data (bin of 1..262144 bytes) is required");
		goto out;
	}
	size_t n = d->via.bin.size;
	struct user *usr = vault_user(v, j->meta.owner, false);
	if (j->meta.size + n > conf->max_job_size) {
		refuse(v, msg->corr, REF_TOO_BIG, -EFBIG, "the document is larger than max_job_size (%s)",
		       "see config");
		goto out;
	}
	if (conf->max_bytes_per_user && usr && usr->bytes + n > conf->max_bytes_per_user) {
		refuse(v, msg->corr, REF_QUOTA, -EFBIG, "%s would hold more than max_bytes_per_user", j->meta.owner);
		goto out;
	}
	if (v->disk_full || j->pool_err) {
		refuse(v, msg->corr, REF_SPACE, j->pool_err ? j->pool_err : -ENOSPC, "cannot store the job: %s",
		       j->pool_err ? strerror(-j->pool_err) : v->space_reason);
		goto out;
	}
	if (!j->buf && !(j->buf = malloc(VAULT_CHUNK))) {
		vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	j->meta.size += n;
	if (usr)
		usr->bytes += n;
	scout_timers_arm_in(&v->timers, &j->dl, conf->receive_timeout);
	if (!j->busy && scout_list_empty(&j->writes) && j->buf_len + n <= VAULT_CHUNK) {
		/* fits the buffer: nothing to seal or write yet */
		memcpy(j->buf + j->buf_len, d->via.bin.ptr, n);
		j->buf_len += n;
		vault_reply_empty(v, msg->corr);
		goto out;
	}
	struct wreq *w = malloc(sizeof(*w) + n);
	if (!w) {
		vault_reply_error(v, msg->corr, -ENOMEM, "out of memory");
		goto out;
	}
	w->corr = msg->corr;
	w->len = n;
	w->status = 0;
	memcpy(w->data, d->via.bin.ptr, n);
	scout_list_insert_tail(&j->writes, &w->link);
	step(v, j);
out:
	msgpack_unpacked_destroy(&u);
}

/* job.commit */
void vault_on_commit(const struct scout_msg *msg, void *arg)
{
	struct vault *v = arg;
	msgpack_unpacked u;
	struct job *j;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, msg->data, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS) {
		refuse(v, msg->corr, REF_BAD, -EINVAL, "%s", "bad job.commit payload");
		goto out;
	}
	if (!(j = receiving_job(v, &u.data, msg->corr)))
		goto out;
	if (j->meta.size == 0) {
		vault_reply_error(v, msg->corr, -ENODATA, "job %u has no document bytes", j->id);
		goto out;
	}
	j->commit_wanted = true;
	j->commit_corr = msg->corr;
	step(v, j);
out:
	msgpack_unpacked_destroy(&u);
}

struct unlink_req {
	int fd;
	char path[4096];
};

static void unlink_work(void *arg)
{
	struct unlink_req *ur = arg;

	if (ur->fd >= 0)
		close(ur->fd);
	unlink(ur->path);
}

static void unlink_done(void *arg, int status)
{
	free(arg);
}

/* A receiving job is gone: its writes answered, its file removed. */
static void drop_receiving(struct vault *v, struct job *j)
{
	struct wreq *w, *tmp;

	scout_list_foreach_safe (w, tmp, &j->writes, link) {
		scout_list_remove(&w->link);
		vault_reply_error(v, w->corr, -ENOENT, "job %u was aborted", j->id);
		free(w);
	}
	if (j->fd >= 0) {
		struct unlink_req *ur = calloc(1, sizeof(*ur));
		if (ur) {
			ur->fd = j->fd;
			vault_file_path(v, j->id, ur->path, sizeof(ur->path));
			if (scout_work_submit(v->work, unlink_work, unlink_done, ur) < 0) {
				free(ur);
				close(j->fd); /* the next start removes the file */
			}
		} else {
			close(j->fd);
		}
		j->fd = -1;
	}
	vault_account(v, j, -1);
	v->receiving--;
	v->aborted++;
	vault_job_free(v, j);
}

/* The job's deadline while it arrives: no write for VAULT_RECEIVE_IDLE_MS. */
void vault_receive_idle(struct vault *v, struct job *j)
{
	if (j->busy || j->commit_wanted) {
		scout_timers_arm_in(&v->timers, &j->dl, 1000);
		return;
	}
	log_warn("vault: job %u: no data for %" PRIu64 " s: aborted", j->id,
		 ((const struct vault_conf *)scout_mod_conf(v->m))->receive_timeout / 1000);
	j->abort_wanted = true;
	drop_receiving(v, j);
}

/* job.abort */
void vault_on_abort(const struct scout_msg *msg, void *arg)
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
		refuse(v, msg->corr, REF_BAD, -EINVAL, "%s", "bad job.abort: id (uint) is required");
		goto out;
	}
	j = vault_job_find(v, (uint32_t)id);
	if (!j || j->meta.state != JOB_RECEIVING || j->abort_wanted) {
		vault_reply_error(v, msg->corr, -ENOENT, "no job %" PRIu64 " is arriving", id);
		goto out;
	}
	if (j->commit_wanted && j->busy) {
		/* too late: the commit decides */
		vault_reply_error(v, msg->corr, -EBUSY, "job %u is being committed", j->id);
		goto out;
	}
	j->abort_wanted = true;
	vault_reply_empty(v, msg->corr);
	step(v, j);
out:
	msgpack_unpacked_destroy(&u);
}

/* At stop: jobs not committed are dropped (their files go at the next
 * start); those on the pool are freed with the table once it returns. */
void vault_abort_all(struct vault *v)
{
	struct job *j, *tmp;

	scout_list_foreach_safe (j, tmp, &v->jobs, link) {
		if (j->meta.state != JOB_RECEIVING)
			continue;
		if (j->commit_wanted && !j->busy)
			vault_reply_error(v, j->commit_corr, -ESHUTDOWN, "the vault is stopping");
		if (j->busy)
			continue;
		if (j->fd >= 0) {
			close(j->fd);
			j->fd = -1;
		}
		vault_job_free(v, j);
	}
}
