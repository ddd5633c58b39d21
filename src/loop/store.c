/* LMDB behind a small API: open with checks that refuse a damaged file
 * without writing to it (store-check.c), named databases per module, write
 * transactions that grow the map and retry, cursors and read transactions. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store-check.h"

#define MAX_DBS 32
#define INITIAL_MAP (1u << 20)

struct scout_db {
	struct scout_store *store;
	MDB_dbi dbi;
	char name[32];
};

struct scout_store {
	MDB_env *env;
	char *path;
	uint64_t map_size, max_size;
	size_t ndbs;
	struct scout_db dbs[MAX_DBS];
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
	free(s->path);
	free(s);
	return r;
}

void scout_store_close(struct scout_store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	free(s->path);
	free(s);
}

static int grow(struct scout_store *s)
{
	uint64_t next = s->map_size * 2;
	int rc;

	if (s->map_size >= s->max_size) {
		log_error("store: %s is full at its maximum size of %llu bytes (raise [agent] store_max_size)",
			  s->path, (unsigned long long)s->max_size);
		return -ENOSPC;
	}
	if (next > s->max_size)
		next = s->max_size;
	rc = mdb_env_set_mapsize(s->env, next);
	if (rc)
		return map_err(rc);
	log_info("store: %s map grown to %llu bytes", s->path, (unsigned long long)next);
	s->map_size = next;
	return 0;
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
		int rc = mdb_txn_begin(s->env, NULL, 0, &t.txn), r;

		if (rc == MDB_MAP_RESIZED) {
			rc = mdb_env_set_mapsize(s->env, 0);
			if (!rc)
				continue;
		}
		if (rc)
			return map_err(rc);
		r = fn(&t, arg);
		if (r < 0 || t.map_full) {
			mdb_txn_abort(t.txn);
			if (!t.map_full)
				return r;
		} else {
			rc = mdb_txn_commit(t.txn);
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
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t.txn), r;

	if (rc)
		return map_err(rc);
	r = fn(&t, arg);
	mdb_txn_abort(t.txn);
	return r;
}

int scout_txn_put(struct scout_txn *t, struct scout_db *db, const void *key, size_t klen, const void *val,
		  size_t vlen)
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

int scout_cursor_seek(struct scout_cursor *c, const void *key, size_t klen, const void **k, size_t *kl,
		      const void **v, size_t *vl)
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
	return 0;
}
