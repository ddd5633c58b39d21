/* LMDB behind a small API: open with checks that refuse a damaged file
 * without writing to it (store-check.c), named databases per module, write
 * transactions that grow the map and retry, cursors and read transactions,
 * and the committer that runs queued writes on the thread pool in batches.
 *
 * Threads: the environment is opened MDB_NOTLS, so a transaction may live
 * on a pool thread while the loop thread reads. LMDB itself allows one
 * write transaction at a time (its writer mutex); the committer keeps at
 * most one batch running. Growing the map (mdb_env_set_mapsize) needs no
 * transaction active in the process: every transaction holds `resize`
 * shared, and growing takes it exclusive. Nobody waits for `resize` while
 * holding LMDB's writer mutex (a full write is aborted first), so the two
 * cannot deadlock. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "list.h"
#include "log.h"
#include "store-check.h"
#include "work.h"

#define MAX_DBS 32
#define INITIAL_MAP (1u << 20)

struct scout_db {
	struct scout_store *store;
	MDB_dbi dbi;
	char name[32];
};

struct committer;

struct scout_store {
	MDB_env *env;
	char *path;
	uint64_t map_size, max_size; /* map_size: under resize, exclusive */
	size_t ndbs;
	struct scout_db dbs[MAX_DBS];
	pthread_rwlock_t resize;
	uint64_t commits, async_writes; /* atomic */
	struct committer *committer;    /* after scout_store_async_start */
};

struct scout_txn {
	struct scout_store *store;
	MDB_txn *txn;
	bool map_full;
};

struct scout_cursor {
	struct scout_txn *txn;
	MDB_cursor *cur;
};

static int map_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_DBS_FULL:
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
		return -ENOBUFS;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

const char *scout_store_path(const struct scout_store *store)
{
	return store->path;
}

#define ADVICE "it was left untouched; move it aside to start with an empty store, or restore a backup"

/* An existing file is checked page by page before LMDB maps it (see
 * store-check.h): LMDB trusts what it reads, so a damaged page would crash
 * scoutd on the first write, and again on every restart. A missing file is
 * left to LMDB to create; an empty one is a store that lost everything,
 * not a new one. */
static int check_file(const char *path, char *err, size_t errlen)
{
	enum scout_store_state state;
	char why[256];
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: a FIFO in its place must not block start-up */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot open store: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file; " ADVICE, path);
		return -EINVAL;
	}
	r = scout_store_check(fd, &state, why, sizeof(why));
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read store: %s", path, strerror(-r));
		return r;
	}
	switch (state) {
	case SCOUT_STORE_SOUND:
		return 0;
	case SCOUT_STORE_EMPTY:
		snprintf(err, errlen, "%s: store file is empty (%s); " ADVICE, path, why);
		break;
	case SCOUT_STORE_FOREIGN:
		snprintf(err, errlen, "%s: not a scout store or damaged (%s); " ADVICE, path, why);
		break;
	case SCOUT_STORE_TRUNCATED:
		snprintf(err, errlen, "%s: store file is truncated (%s); " ADVICE, path, why);
		break;
	case SCOUT_STORE_DAMAGED:
		snprintf(err, errlen, "%s: store is damaged (%s); " ADVICE, path, why);
		break;
	}
	return -EIO;
}

int scout_store_open(const char *dir, uint64_t max_size, struct scout_store **ret_store, char *err, size_t errlen)
{
	struct scout_store *s = calloc(1, sizeof(*s));
	MDB_envinfo info;
	char lock[4096];
	bool had_lock;
	int rc, r;

	if (!s)
		return -ENOMEM;
	if (asprintf(&s->path, "%s/scout.mdb", dir) < 0) {
		free(s);
		return -ENOMEM;
	}
	pthread_rwlock_init(&s->resize, NULL);
	snprintf(lock, sizeof(lock), "%s-lock", s->path);
	had_lock = access(lock, F_OK) == 0;
	s->max_size = max_size < INITIAL_MAP ? INITIAL_MAP : max_size;

	r = check_file(s->path, err, errlen);
	if (r < 0)
		goto fail;
	rc = mdb_env_create(&s->env);
	if (!rc)
		rc = mdb_env_set_maxdbs(s->env, MAX_DBS);
	if (!rc)
		rc = mdb_env_set_mapsize(s->env, INITIAL_MAP);
	if (!rc)
		rc = mdb_env_open(s->env, s->path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
	if (rc) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			snprintf(err, errlen, "%s: not a scout store or damaged (%s); " ADVICE, s->path,
				 mdb_strerror(rc));
		else
			snprintf(err, errlen, "%s: cannot open store: %s", s->path, mdb_strerror(rc));
		r = map_err(rc);
		goto fail;
	}
	if (mdb_env_info(s->env, &info)) {
		snprintf(err, errlen, "%s: cannot read the store's header", s->path);
		r = -EIO;
		goto fail;
	}
	s->map_size = info.me_mapsize;
	*ret_store = s;
	return 0;
fail:
	if (s->env)
		mdb_env_close(s->env);
	if (!had_lock)
		unlink(lock); /* do not leave a lock file beside a refused store */
	pthread_rwlock_destroy(&s->resize);
	free(s->path);
	free(s);
	return r;
}

static void committer_detach(struct scout_store *s);

void scout_store_close(struct scout_store *s)
{
	if (!s)
		return;
	committer_detach(s);
	mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->resize);
	free(s->path);
	free(s);
}

/* Called with no transaction of this thread open. */
static int grow(struct scout_store *s)
{
	int rc, r = 0;

	pthread_rwlock_wrlock(&s->resize);
	uint64_t next = s->map_size * 2;
	if (s->map_size >= s->max_size) {
		log_error("store: %s is full at its maximum size of %llu bytes (raise [agent] store_max_size)", s->path,
			  (unsigned long long)s->max_size);
		r = -ENOSPC;
		goto out;
	}
	if (next > s->max_size)
		next = s->max_size;
	rc = mdb_env_set_mapsize(s->env, next);
	if (rc) {
		r = map_err(rc);
		goto out;
	}
	log_info("store: %s map grown to %llu bytes", s->path, (unsigned long long)next);
	s->map_size = next;
out:
	pthread_rwlock_unlock(&s->resize);
	return r;
}

/* Begins a transaction holding resize shared; end() releases it. */
static int begin(struct scout_store *s, unsigned flags, struct scout_txn *t)
{
	for (;;) {
		pthread_rwlock_rdlock(&s->resize);
		int rc = mdb_txn_begin(s->env, NULL, flags, &t->txn);
		if (!rc)
			return 0;
		pthread_rwlock_unlock(&s->resize);
		if (rc != MDB_MAP_RESIZED)
			return map_err(rc);
		/* another process grew the map: adopt its size */
		pthread_rwlock_wrlock(&s->resize);
		rc = mdb_env_set_mapsize(s->env, 0);
		pthread_rwlock_unlock(&s->resize);
		if (rc)
			return map_err(rc);
	}
}

static void end(struct scout_store *s)
{
	pthread_rwlock_unlock(&s->resize);
}

static int open_dbi(struct scout_txn *t, void *arg)
{
	struct scout_db *db = arg;
	return map_err(mdb_dbi_open(t->txn, db->name, MDB_CREATE, &db->dbi));
}

int scout_store_db(struct scout_store *s, const char *name, struct scout_db **ret_db)
{
	struct scout_db *db;
	int r;

	for (size_t i = 0; i < s->ndbs; i++)
		if (strcmp(s->dbs[i].name, name) == 0) {
			*ret_db = &s->dbs[i];
			return 0;
		}
	if (s->ndbs == MAX_DBS || strlen(name) >= sizeof(db->name))
		return -ENOBUFS;
	db = &s->dbs[s->ndbs];
	db->store = s;
	strcpy(db->name, name);
	r = scout_store_write(s, open_dbi, db);
	if (r < 0)
		return r;
	s->ndbs++;
	*ret_db = db;
	return 0;
}

int scout_store_write(struct scout_store *s, scout_txn_fn fn, void *arg)
{
	for (;;) {
		struct scout_txn t = {.store = s};
		int rc, r = begin(s, 0, &t);

		if (r < 0)
			return r;
		r = fn(&t, arg);
		if (r < 0 || t.map_full) {
			mdb_txn_abort(t.txn);
			end(s);
			if (!t.map_full)
				return r;
		} else {
			rc = mdb_txn_commit(t.txn);
			end(s);
			if (rc == MDB_SUCCESS)
				__atomic_add_fetch(&s->commits, 1, __ATOMIC_RELAXED);
			if (rc != MDB_MAP_FULL)
				return map_err(rc);
		}
		r = grow(s);
		if (r < 0)
			return r;
	}
}

int scout_store_read(struct scout_store *s, scout_txn_fn fn, void *arg)
{
	struct scout_txn t = {.store = s};
	int r = begin(s, MDB_RDONLY, &t);

	if (r < 0)
		return r;
	r = fn(&t, arg);
	mdb_txn_abort(t.txn);
	end(s);
	return r;
}

int scout_txn_put(struct scout_txn *t, struct scout_db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
	int rc = mdb_put(t->txn, db->dbi, &k, &v, 0);

	if (rc == MDB_MAP_FULL)
		t->map_full = true;
	return map_err(rc);
}

int scout_txn_get(struct scout_txn *t, struct scout_db *db, const void *key, size_t klen, const void **ret_val,
		  size_t *ret_vlen)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(t->txn, db->dbi, &k, &v);

	if (rc)
		return map_err(rc);
	*ret_val = v.mv_data;
	*ret_vlen = v.mv_size;
	return 0;
}

int scout_txn_del(struct scout_txn *t, struct scout_db *db, const void *key, size_t klen)
{
	MDB_val k = {klen, (void *)key};
	int rc = mdb_del(t->txn, db->dbi, &k, NULL);

	if (rc == MDB_MAP_FULL) /* a delete copies pages too: grow and retry */
		t->map_full = true;
	return map_err(rc);
}

int scout_txn_count(struct scout_txn *t, struct scout_db *db, uint64_t *ret_n)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, db->dbi, &st);

	if (rc)
		return map_err(rc);
	*ret_n = st.ms_entries;
	return 0;
}

int scout_cursor_open(struct scout_txn *t, struct scout_db *db, struct scout_cursor **ret_cursor)
{
	struct scout_cursor *c = malloc(sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->txn = t;
	rc = mdb_cursor_open(t->txn, db->dbi, &c->cur);
	if (rc) {
		free(c);
		return map_err(rc);
	}
	*ret_cursor = c;
	return 0;
}

static int cursor_get(struct scout_cursor *c, MDB_cursor_op op, MDB_val *key, const void **k, size_t *kl,
		      const void **v, size_t *vl)
{
	MDB_val kk = key ? *key : (MDB_val){0}, vv;
	int rc = mdb_cursor_get(c->cur, &kk, &vv, op);

	if (rc)
		return map_err(rc);
	if (k)
		*k = kk.mv_data;
	if (kl)
		*kl = kk.mv_size;
	if (v)
		*v = vv.mv_data;
	if (vl)
		*vl = vv.mv_size;
	return 0;
}

int scout_cursor_first(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl)
{
	return cursor_get(c, MDB_FIRST, NULL, k, kl, v, vl);
}

int scout_cursor_last(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl)
{
	return cursor_get(c, MDB_LAST, NULL, k, kl, v, vl);
}

int scout_cursor_seek(struct scout_cursor *c, const void *key, size_t klen, const void **k, size_t *kl, const void **v,
		      size_t *vl)
{
	MDB_val kk = {klen, (void *)key};
	return cursor_get(c, MDB_SET_RANGE, &kk, k, kl, v, vl);
}

int scout_cursor_next(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl)
{
	return cursor_get(c, MDB_NEXT, NULL, k, kl, v, vl);
}

int scout_cursor_prev(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl)
{
	return cursor_get(c, MDB_PREV, NULL, k, kl, v, vl);
}

int scout_cursor_del(struct scout_cursor *c)
{
	int rc = mdb_cursor_del(c->cur, 0);

	if (rc == MDB_MAP_FULL)
		c->txn->map_full = true;
	return map_err(rc);
}

void scout_cursor_close(struct scout_cursor *c)
{
	if (!c)
		return;
	mdb_cursor_close(c->cur);
	free(c);
}

struct kv {
	struct scout_db *db;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
	void *copy;
};

static int put_one(struct scout_txn *t, void *arg)
{
	struct kv *kv = arg;
	return scout_txn_put(t, kv->db, kv->key, kv->klen, kv->val, kv->vlen);
}

static int get_one(struct scout_txn *t, void *arg)
{
	struct kv *kv = arg;
	int r = scout_txn_get(t, kv->db, kv->key, kv->klen, &kv->val, &kv->vlen);

	if (r < 0)
		return r;
	kv->copy = malloc(kv->vlen ? kv->vlen : 1);
	if (!kv->copy)
		return -ENOMEM;
	memcpy(kv->copy, kv->val, kv->vlen);
	return 0;
}

int scout_store_put(struct scout_db *db, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct kv kv = {db, key, klen, val, vlen, NULL};
	return scout_store_write(db->store, put_one, &kv);
}

int scout_store_get(struct scout_db *db, const void *key, size_t klen, void **ret_val, size_t *ret_vlen)
{
	struct kv kv = {db, key, klen, NULL, 0, NULL};
	int r = scout_store_read(db->store, get_one, &kv);

	if (r < 0)
		return r;
	*ret_val = kv.copy;
	*ret_vlen = kv.vlen;
	return 0;
}

int scout_store_info(struct scout_store *s, struct scout_store_info *ret)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat fst;

	if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
		return -EIO;
	ret->used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	ret->map_size = info.me_mapsize;
	ret->max_size = s->max_size;
	ret->file_size = stat(s->path, &fst) == 0 ? (uint64_t)fst.st_size : 0;
	ret->readers = info.me_numreaders;
	ret->commits = __atomic_load_n(&s->commits, __ATOMIC_RELAXED);
	ret->async_writes = __atomic_load_n(&s->async_writes, __ATOMIC_RELAXED);
	return 0;
}

/* ---- the committer ------------------------------------------------------- */

struct writer {
	scout_txn_fn fn;
	void *arg;
	scout_store_done_fn done;
	int status; /* < 0: left out of the batch, with this error */
	struct scout_list link;
};

struct flusher {
	void (*done)(void *);
	void *arg;
	struct scout_list link;
};

/* Loop-thread state, except `batch`, which belongs to the pool thread
 * while `running`, and `busy` (from submitting a batch to the end of its
 * transaction), under `lock`. */
struct committer {
	struct scout_store *s; /* NULL once the store closed under it */
	uv_loop_t *loop;
	struct scout_work_group *group;
	struct scout_list queue, batch, flushers;
	size_t pending; /* writers queued or in the batch */
	bool running, stopping;
	void (*stopped)(void *);
	void *stopped_arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy;
};

/* Pool thread: one transaction for every writer of the batch still in it. */
static void commit_batch(void *arg)
{
	struct committer *c = arg;
	struct scout_store *s = c->s;
	struct writer *w;
	int r;

	for (;;) {
		struct scout_txn t = {.store = s};
		bool any = false, retry = false;

		scout_list_foreach (w, &c->batch, link)
			any |= w->status == 0;
		if (!any)
			break;
		if ((r = begin(s, 0, &t)) < 0)
			goto fail_all;
		scout_list_foreach (w, &c->batch, link) {
			if (w->status < 0)
				continue;
			r = w->fn(&t, w->arg);
			if (t.map_full)
				break;
			if (r < 0) {
				w->status = r; /* again without it */
				retry = true;
				break;
			}
		}
		if (t.map_full || retry) {
			mdb_txn_abort(t.txn);
			end(s);
			if (t.map_full && (r = grow(s)) < 0)
				goto fail_all;
			continue;
		}
		int rc = mdb_txn_commit(t.txn);
		end(s);
		if (rc == MDB_MAP_FULL) {
			if ((r = grow(s)) < 0)
				goto fail_all;
			continue;
		}
		if (rc == MDB_SUCCESS)
			__atomic_add_fetch(&s->commits, 1, __ATOMIC_RELAXED);
		r = map_err(rc);
		goto fail_all; /* 0: nobody fails */
	}
	goto out;
fail_all:
	scout_list_foreach (w, &c->batch, link)
		if (w->status == 0)
			w->status = r;
out:
	pthread_mutex_lock(&c->lock);
	c->busy = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void kick(struct committer *c);
static void batch_done(void *arg, int status);

static void committer_free(struct committer *c)
{
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}

static void group_closed(void *arg)
{
	struct committer *c = arg;
	void (*stopped)(void *) = c->stopped;
	void *stopped_arg = c->stopped_arg;

	committer_free(c);
	if (stopped)
		stopped(stopped_arg);
}

/* After the writers' done callbacks: flushers, then a stop. */
static void settle(struct committer *c)
{
	if (c->pending)
		return;
	while (!scout_list_empty(&c->flushers)) {
		struct flusher *f = scout_list_first_entry(&c->flushers, struct flusher, link);
		scout_list_remove(&f->link);
		void (*done)(void *) = f->done;
		void *arg = f->arg;
		free(f);
		done(arg);
		if (c->pending) /* it wrote again */
			return;
	}
	if (c->stopping) {
		if (c->s)
			c->s->committer = NULL;
		scout_work_group_close(c->group, 0, group_closed, c);
	}
}

static void finish_writers(struct committer *c, struct scout_list *l, int forced)
{
	while (!scout_list_empty(l)) {
		struct writer *w = scout_list_first_entry(l, struct writer, link);
		scout_list_remove(&w->link);
		c->pending--;
		w->done(w->arg, forced ? forced : w->status);
		free(w);
	}
}

static void kick(struct committer *c)
{
	int r;

	if (c->running || scout_list_empty(&c->queue))
		return;
	if (!c->s) { /* the store is gone */
		finish_writers(c, &c->queue, -ESHUTDOWN);
		return;
	}
	/* everyone waiting goes in this one */
	c->batch = c->queue;
	c->batch.next->prev = c->batch.prev->next = &c->batch;
	scout_list_init(&c->queue);
	c->running = true;
	pthread_mutex_lock(&c->lock);
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	r = scout_work_submit(c->group, commit_batch, batch_done, c);
	if (r < 0) {
		c->running = false;
		c->busy = false;
		log_error("store: %s: cannot commit on the thread pool: %s", c->s->path, strerror(-r));
		finish_writers(c, &c->batch, r);
	}
}

static void batch_done(void *arg, int status)
{
	struct committer *c = arg;

	c->running = false;
	finish_writers(c, &c->batch, status < 0 ? status : 0);
	if (!c->s) {
		/* orphaned by scout_store_close: nothing more can run */
		finish_writers(c, &c->queue, -ESHUTDOWN);
		c->stopping = true;
	}
	kick(c);
	settle(c);
}

int scout_store_async_start(struct scout_store *s, uv_loop_t *loop)
{
	struct committer *c;
	int r;

	if (s->committer)
		return s->committer->loop == loop ? 0 : -EBUSY;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if ((r = scout_work_group_new(loop, "store", &c->group)) < 0) {
		free(c);
		return r;
	}
	c->s = s;
	c->loop = loop;
	scout_list_init(&c->queue);
	scout_list_init(&c->batch);
	scout_list_init(&c->flushers);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	s->committer = c;
	return 0;
}

int scout_store_write_async(struct scout_store *s, scout_txn_fn fn, void *arg, scout_store_done_fn done)
{
	struct committer *c = s->committer;
	struct writer *w;

	if (!c)
		return -ENOTCONN;
	if (c->stopping)
		return -ESHUTDOWN;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->arg = arg;
	w->done = done;
	scout_list_insert_tail(&c->queue, &w->link);
	c->pending++;
	__atomic_add_fetch(&s->async_writes, 1, __ATOMIC_RELAXED);
	kick(c);
	return 0;
}

size_t scout_store_async_pending(const struct scout_store *s)
{
	return s->committer ? s->committer->pending : 0;
}

void scout_store_async_flush(struct scout_store *s, void (*done)(void *arg), void *arg)
{
	struct committer *c = s->committer;
	struct flusher *f;

	if (!c || !c->pending) {
		done(arg);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		/* cannot wait: better late than a flush that never ends */
		log_error("store: %s: out of memory waiting for writes", s->path);
		done(arg);
		return;
	}
	f->done = done;
	f->arg = arg;
	scout_list_insert_tail(&c->flushers, &f->link);
}

void scout_store_async_stop(struct scout_store *s, void (*done)(void *arg), void *arg)
{
	struct committer *c = s->committer;

	if (!c || c->stopping) {
		if (done)
			done(arg);
		return;
	}
	c->stopping = true;
	c->stopped = done;
	c->stopped_arg = arg;
	settle(c);
}

/* scout_store_close with the committer still there: the writes queued
 * cannot run any more, and one running on the pool must finish before the
 * environment goes. */
static void committer_detach(struct scout_store *s)
{
	struct committer *c = s->committer;

	if (!c)
		return;
	s->committer = NULL;
	if (!c->running) {
		if (c->pending)
			log_error("store: %s: closed with %zu writes not committed", s->path, c->pending);
		finish_writers(c, &c->queue, -ESHUTDOWN);
		while (!scout_list_empty(&c->flushers)) {
			struct flusher *f = scout_list_first_entry(&c->flushers, struct flusher, link);
			scout_list_remove(&f->link);
			f->done(f->arg);
			free(f);
		}
		scout_work_group_close(c->group, 0, NULL, NULL); /* idle: freed now */
		committer_free(c);
		return;
	}
	log_error("store: %s: closed while a commit runs; waiting for it", s->path);
	pthread_mutex_lock(&c->lock);
	while (c->busy)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
	c->s = NULL; /* batch_done finishes up on the loop */
}
