/* Unit tests for src/loop/store.c in a fresh temp dir each: put/get/del,
 * cursors, aborted writes, map growth and its limit, reopening, and the
 * refusals that must leave a damaged or foreign file exactly as it was. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "loop/log.h"
#include "loop/store-check.h"
#include "loop/store.h"

struct env {
	char dir[64];
	char path[128];
	char lock[160];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	strcpy(e->dir, "/tmp/scout-test-store-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/scout.mdb", e->dir);
	snprintf(e->lock, sizeof(e->lock), "%s/scout.mdb-lock", e->dir);
	*state = e;
	return 0;
}

static void rm_rf(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int teardown(void **state)
{
	struct env *e = *state;

	chmod(e->dir, 0700);
	rm_rf(e->dir);
	free(e);
	return 0;
}

static struct scout_store *open_ok(const char *dir, uint64_t max)
{
	struct scout_store *s = NULL;
	char err[512] = "";
	int r = scout_store_open(dir, max, &s, err, sizeof(err));

	if (r < 0)
		fail_msg("open %s: %d %s", dir, r, err);
	assert_non_null(s);
	return s;
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void assert_get(struct scout_db *db, const char *key, const char *want)
{
	void *v = NULL;
	size_t vl = 0;

	assert_int_equal(scout_store_get(db, key, strlen(key), &v, &vl), 0);
	assert_int_equal(vl, strlen(want));
	assert_memory_equal(v, want, vl);
	free(v);
}

static void assert_absent(struct scout_db *db, const char *key)
{
	void *v = (void *)1;
	size_t vl = 7;

	assert_int_equal(scout_store_get(db, key, strlen(key), &v, &vl), -ENOENT);
	assert_ptr_equal(v, (void *)1); /* out-parameters untouched */
	assert_int_equal(vl, 7);
}

/* ---- basics ----------------------------------------------------------- */

static int del_k(struct scout_txn *t, void *arg)
{
	struct scout_db **db = arg;
	return scout_txn_del(t, *db, "k", 1);
}

static void test_put_get_del(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db, *db2, *other;

	assert_string_equal(scout_store_path(s), e->path);
	assert_true(exists(e->path));
	assert_int_equal(scout_store_db(s, "mod", &db), 0);
	assert_int_equal(scout_store_db(s, "mod", &db2), 0);
	assert_ptr_equal(db, db2); /* one handle per name */
	assert_int_equal(scout_store_db(s, "other", &other), 0);
	assert_ptr_not_equal(db, other);

	assert_absent(db, "k");
	assert_int_equal(scout_store_put(db, "k", 1, "v1", 2), 0);
	assert_get(db, "k", "v1");
	assert_int_equal(scout_store_put(db, "k", 1, "value-two", 9), 0); /* overwrite */
	assert_get(db, "k", "value-two");
	assert_absent(other, "k"); /* databases are separate */

	/* empty value, binary key */
	assert_int_equal(scout_store_put(db, "\0\1\2", 3, "", 0), 0);
	void *v;
	size_t vl = 99;
	assert_int_equal(scout_store_get(db, "\0\1\2", 3, &v, &vl), 0);
	assert_int_equal(vl, 0);
	free(v);

	/* del in a write transaction */
	assert_int_equal(scout_store_write(s, del_k, &db), 0);
	assert_absent(db, "k");
	assert_int_equal(scout_store_write(s, del_k, &db), -ENOENT);

	/* an empty key is refused by LMDB */
	assert_int_equal(scout_store_put(db, "", 0, "x", 1), -EINVAL);
	/* too long a database name */
	assert_int_equal(scout_store_db(s, "a-database-name-of-more-than-31-chars", &db2), -ENOBUFS);

	struct scout_store_info info;
	assert_int_equal(scout_store_info(s, &info), 0);
	assert_true(info.used > 0);
	assert_true(info.used <= info.file_size);
	assert_int_equal(info.map_size, 1 << 20);
	assert_int_equal(info.max_size, 64 << 20);
	scout_store_close(s);
	scout_store_close(NULL);
}

static void test_max_size_floor(void **state)
{
	/* a maximum below the initial map is raised to it */
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 4096);
	struct scout_store_info info;

	assert_int_equal(scout_store_info(s, &info), 0);
	assert_int_equal(info.max_size, 1 << 20);
	scout_store_close(s);
}

/* ---- transactions ----------------------------------------------------- */

struct batch {
	struct scout_db *db;
	int n;
	int fail_with;
	size_t vlen;
	unsigned runs;
	char *buf;
};

static int put_batch(struct scout_txn *t, void *arg)
{
	struct batch *b = arg;
	char key[32];

	b->runs++;
	for (int i = 0; i < b->n; i++) {
		int kl = snprintf(key, sizeof(key), "key-%06d", i);
		int r = scout_txn_put(t, b->db, key, (size_t)kl, b->buf, b->vlen);
		if (r < 0)
			return r;
	}
	return b->fail_with;
}

struct counter {
	struct scout_db *db;
	uint64_t n;
};

static int count(struct scout_txn *t, void *arg)
{
	struct counter *c = arg;
	return scout_txn_count(t, c->db, &c->n);
}

static void test_write_abort(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db;
	char val[8] = "value";
	struct batch b = {.n = 100, .fail_with = -ECANCELED, .vlen = 5, .buf = val};

	assert_int_equal(scout_store_db(s, "t", &b.db), 0);
	db = b.db;
	assert_int_equal(scout_store_put(db, "keep", 4, "kept", 4), 0);
	assert_int_equal(scout_store_write(s, put_batch, &b), -ECANCELED);
	assert_int_equal(b.runs, 1);
	assert_absent(db, "key-000000");
	assert_absent(db, "key-000099");
	assert_get(db, "keep", "kept");

	/* count sees only committed entries */
	struct counter c = {db, 0};
	assert_int_equal(scout_store_read(s, count, &c), 0);
	assert_int_equal(c.n, 1);

	/* the same batch committed */
	b.fail_with = 0;
	assert_int_equal(scout_store_write(s, put_batch, &b), 0);
	assert_int_equal(scout_store_read(s, count, &c), 0);
	assert_int_equal(c.n, 101);
	assert_get(db, "key-000042", "value");
	scout_store_close(s);
}

/* Writing inside a read transaction is refused, the read sees the data. */
struct ro {
	struct scout_db *db;
	int put_rc, get_rc;
	char got[16];
};

static int read_only(struct scout_txn *t, void *arg)
{
	struct ro *ro = arg;
	const void *v;
	size_t vl;

	ro->put_rc = scout_txn_put(t, ro->db, "x", 1, "y", 1);
	ro->get_rc = scout_txn_get(t, ro->db, "a", 1, &v, &vl);
	if (ro->get_rc == 0 && vl < sizeof(ro->got))
		memcpy(ro->got, v, vl);
	return 7; /* passed back */
}

static void test_read_txn(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct ro ro = {0};

	assert_int_equal(scout_store_db(s, "r", &ro.db), 0);
	assert_int_equal(scout_store_put(ro.db, "a", 1, "alpha", 5), 0);
	assert_int_equal(scout_store_read(s, read_only, &ro), 7);
	assert_true(ro.put_rc < 0);
	assert_int_equal(ro.get_rc, 0);
	assert_string_equal(ro.got, "alpha");
	assert_absent(ro.db, "x");
	scout_store_close(s);
}

/* ---- cursors ---------------------------------------------------------- */

struct walk {
	struct scout_db *db;
	char log[256];
	size_t n;
};

static void logkv(struct walk *w, int r, const void *k, size_t kl, const void *v, size_t vl)
{
	if (r == -ENOENT)
		w->n += (size_t)snprintf(w->log + w->n, sizeof(w->log) - w->n, "END ");
	else if (r < 0)
		w->n += (size_t)snprintf(w->log + w->n, sizeof(w->log) - w->n, "ERR%d ", r);
	else
		w->n += (size_t)snprintf(w->log + w->n, sizeof(w->log) - w->n, "%.*s=%.*s ", (int)kl, (const char *)k,
					 (int)vl, (const char *)v);
}

static int walk_all(struct scout_txn *t, void *arg)
{
	struct walk *w = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	w->n = 0;
	w->log[0] = 0;
	assert_int_equal(scout_cursor_open(t, w->db, &c), 0);
	r = scout_cursor_first(c, &k, &kl, &v, &vl);
	logkv(w, r, k, kl, v, vl);
	while (r == 0) {
		r = scout_cursor_next(c, &k, &kl, &v, &vl);
		logkv(w, r, k, kl, v, vl);
	}
	scout_cursor_close(c);
	return 0;
}

static int cursor_moves(struct scout_txn *t, void *arg)
{
	struct walk *w = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	w->n = 0;
	assert_int_equal(scout_cursor_open(t, w->db, &c), 0);
	r = scout_cursor_seek(c, "bb", 2, &k, &kl, &v, &vl); /* first key >= "bb" */
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_seek(c, "b", 1, &k, &kl, &v, &vl); /* exact */
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_prev(c, &k, &kl, &v, &vl);
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_prev(c, &k, &kl, &v, &vl);
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_last(c, &k, &kl, &v, &vl);
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_prev(c, &k, &kl, &v, &vl);
	logkv(w, r, k, kl, v, vl);
	r = scout_cursor_seek(c, "zz", 2, &k, &kl, &v, &vl); /* past the end */
	logkv(w, r, k, kl, v, vl);
	/* NULL out-pointers are allowed */
	r = scout_cursor_first(c, NULL, NULL, NULL, NULL);
	logkv(w, r, "-", 1, "-", 1);
	scout_cursor_close(c);
	scout_cursor_close(NULL);
	return 0;
}

/* Deletes every entry whose value is "del" in one walk: next after a
 * delete gives the entry that followed the deleted one. */
static int cursor_delete(struct scout_txn *t, void *arg)
{
	struct walk *w = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	assert_int_equal(scout_cursor_open(t, w->db, &c), 0);
	for (r = scout_cursor_first(c, &k, &kl, &v, &vl); r == 0; r = scout_cursor_next(c, &k, &kl, &v, &vl))
		if (vl == 3 && memcmp(v, "del", 3) == 0)
			assert_int_equal(scout_cursor_del(c), 0);
	scout_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

static int del_in_read(struct scout_txn *t, void *arg)
{
	struct walk *w = arg;
	struct scout_cursor *c;
	int r;

	assert_int_equal(scout_cursor_open(t, w->db, &c), 0);
	assert_int_equal(scout_cursor_first(c, NULL, NULL, NULL, NULL), 0);
	r = scout_cursor_del(c);
	scout_cursor_close(c);
	return r;
}

static void test_cursors(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct walk w = {0};

	assert_int_equal(scout_store_db(s, "c", &w.db), 0);
	/* empty database */
	assert_int_equal(scout_store_read(s, walk_all, &w), 0);
	assert_string_equal(w.log, "END ");

	/* inserted out of order, walked in key order */
	assert_int_equal(scout_store_put(w.db, "c", 1, "del", 3), 0);
	assert_int_equal(scout_store_put(w.db, "a", 1, "1", 1), 0);
	assert_int_equal(scout_store_put(w.db, "e", 1, "del", 3), 0);
	assert_int_equal(scout_store_put(w.db, "b", 1, "del", 3), 0);
	assert_int_equal(scout_store_put(w.db, "d", 1, "4", 1), 0);
	assert_int_equal(scout_store_read(s, walk_all, &w), 0);
	assert_string_equal(w.log, "a=1 b=del c=del d=4 e=del END ");

	assert_int_equal(scout_store_read(s, cursor_moves, &w), 0);
	assert_string_equal(w.log, "c=del b=del a=1 END e=del d=4 END -=- ");

	/* delete under the cursor in a write transaction, two in a row too */
	assert_int_equal(scout_store_write(s, cursor_delete, &w), 0);
	assert_int_equal(scout_store_read(s, walk_all, &w), 0);
	assert_string_equal(w.log, "a=1 d=4 END ");

	/* not in a read transaction */
	assert_true(scout_store_read(s, del_in_read, &w) < 0);
	assert_int_equal(scout_store_read(s, walk_all, &w), 0);
	assert_string_equal(w.log, "a=1 d=4 END ");
	scout_store_close(s);
}

/* ---- growth and limits ------------------------------------------------ */

static void test_grow(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_store_info before, after;
	size_t big = 3u << 19; /* 1.5 MiB: more than the whole initial map */
	char *val = malloc(big);
	struct batch b = {.n = 1, .vlen = big, .buf = val};

	for (size_t i = 0; i < big; i++)
		val[i] = (char)(i * 7);
	assert_int_equal(scout_store_db(s, "g", &b.db), 0);
	assert_int_equal(scout_store_put(b.db, "small", 5, "s", 1), 0);
	assert_int_equal(scout_store_info(s, &before), 0);
	assert_int_equal(before.map_size, 1 << 20);

	assert_int_equal(scout_store_write(s, put_batch, &b), 0);
	assert_true(b.runs >= 2); /* retried after growing */
	assert_int_equal(scout_store_info(s, &after), 0);
	assert_true(after.map_size > before.map_size);
	assert_true(after.map_size >= big);
	assert_true(after.used > big);

	void *got;
	size_t gl;
	assert_int_equal(scout_store_get(b.db, "key-000000", 10, &got, &gl), 0);
	assert_int_equal(gl, big);
	assert_memory_equal(got, val, big);
	free(got);
	assert_get(b.db, "small", "s");
	scout_store_close(s);

	/* reopened: the data is there and the map is large enough for it */
	s = open_ok(e->dir, 64 << 20);
	assert_int_equal(scout_store_db(s, "g", &b.db), 0);
	assert_int_equal(scout_store_get(b.db, "key-000000", 10, &got, &gl), 0);
	assert_int_equal(gl, big);
	assert_memory_equal(got, val, big);
	free(got);
	assert_int_equal(scout_store_info(s, &after), 0);
	assert_true(after.map_size >= after.used);
	scout_store_close(s);
	free(val);
}

static void test_max_size_enospc(void **state)
{
	struct env *e = *state;
	const uint64_t max = 2 << 20;
	struct scout_store *s = open_ok(e->dir, max);
	char *val = malloc(64 * 1024);
	struct batch b = {.n = 1, .vlen = 64 * 1024, .buf = val};
	int committed = 0, r;
	char key[32];

	memset(val, 'v', 64 * 1024);
	assert_int_equal(scout_store_db(s, "full", &b.db), 0);
	scout_log_set_level(SCOUT_LOG_WARN); /* quiet: the growth log lines */
	/* 64 KiB values, one per transaction, until the store is full */
	for (int i = 0; i < 100; i++) {
		int kl = snprintf(key, sizeof(key), "k%03d", i);
		r = scout_store_put(b.db, key, (size_t)kl, val, 64 * 1024);
		if (r < 0)
			break;
		committed++;
	}
	scout_log_set_level(SCOUT_LOG_INFO);
	assert_int_equal(r, -ENOSPC);
	assert_true(committed > 10); /* more than fits the first 1 MiB */
	assert_true(committed < 32); /* and it did stop at about 2 MiB */

	struct scout_store_info info;
	assert_int_equal(scout_store_info(s, &info), 0);
	assert_int_equal(info.map_size, max);
	assert_true(info.file_size <= max);

	/* the refused write left nothing; earlier ones are intact */
	snprintf(key, sizeof(key), "k%03d", committed);
	assert_absent(b.db, key);
	/* a multi-put transaction that cannot fit leaves nothing either */
	b.n = 40;
	assert_int_equal(scout_store_write(s, put_batch, &b), -ENOSPC);
	assert_absent(b.db, "key-000000");
	scout_store_close(s);

	/* reopened, every committed value is intact; with a larger maximum
	 * the store grows again */
	s = open_ok(e->dir, 8 << 20);
	assert_int_equal(scout_store_db(s, "full", &b.db), 0);
	for (int i = 0; i < committed; i++) {
		void *got;
		size_t gl;
		snprintf(key, sizeof(key), "k%03d", i);
		assert_int_equal(scout_store_get(b.db, key, strlen(key), &got, &gl), 0);
		assert_int_equal(gl, 64 * 1024);
		assert_memory_equal(got, val, gl);
		free(got);
	}
	scout_log_set_level(SCOUT_LOG_WARN);
	assert_int_equal(scout_store_write(s, put_batch, &b), 0);
	scout_log_set_level(SCOUT_LOG_INFO);
	assert_int_equal(scout_store_info(s, &info), 0);
	assert_true(info.map_size > max);
	void *got;
	size_t gl;
	assert_int_equal(scout_store_get(b.db, "key-000039", 10, &got, &gl), 0);
	assert_int_equal(gl, 64 * 1024);
	free(got);
	scout_store_close(s);
	free(val);
}

static void test_reopen(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db;

	assert_int_equal(scout_store_db(s, "a", &db), 0);
	assert_int_equal(scout_store_put(db, "k", 1, "persisted", 9), 0);
	assert_int_equal(scout_store_db(s, "b", &db), 0);
	assert_int_equal(scout_store_put(db, "k", 1, "other db", 8), 0);
	scout_store_close(s);

	s = open_ok(e->dir, 64 << 20);
	assert_int_equal(scout_store_db(s, "a", &db), 0);
	assert_get(db, "k", "persisted");
	assert_int_equal(scout_store_db(s, "b", &db), 0);
	assert_get(db, "k", "other db");
	scout_store_close(s);
}

/* ---- refusals --------------------------------------------------------- */

static void test_refuse_garbage(void **state)
{
	struct env *e = *state;
	struct scout_store *s = NULL;
	char err[512] = "", garbage[8192];
	size_t len;

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 31 + 7);
	write_file(e->path, garbage, sizeof(garbage));

	int r = scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err));
	assert_true(r < 0);
	assert_null(s);
	assert_non_null(strstr(err, e->path));
	assert_non_null(strstr(err, "not a scout store or damaged"));
	assert_non_null(strstr(err, "left untouched"));

	char *after = read_file(e->path, &len);
	assert_int_equal(len, sizeof(garbage));
	assert_memory_equal(after, garbage, sizeof(garbage));
	free(after);
	assert_false(exists(e->lock));

	/* a short file of garbage too */
	write_file(e->path, "hello, I am not LMDB\n", 21);
	r = scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err));
	assert_true(r < 0);
	assert_non_null(strstr(err, e->path));
	after = read_file(e->path, &len);
	assert_int_equal(len, 21);
	assert_memory_equal(after, "hello, I am not LMDB\n", 21);
	free(after);
	assert_false(exists(e->lock));
}

static void test_refuse_truncated(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db;
	char val[4096], err[512] = "", key[16];
	size_t len;

	memset(val, 'd', sizeof(val));
	assert_int_equal(scout_store_db(s, "t", &db), 0);
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		assert_int_equal(scout_store_put(db, key, strlen(key), val, sizeof(val)), 0);
	}
	scout_store_close(s);

	struct stat st;
	assert_int_equal(stat(e->path, &st), 0);
	assert_true(st.st_size > 64 * 4096);
	assert_int_equal(truncate(e->path, st.st_size / 2), 0);
	size_t half = (size_t)st.st_size / 2;
	char *before = read_file(e->path, &len);
	assert_int_equal(len, half);
	bool had_lock = exists(e->lock);

	s = NULL;
	int r = scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err));
	assert_true(r < 0);
	assert_null(s);
	assert_non_null(strstr(err, e->path));
	assert_non_null(strstr(err, "truncated"));
	assert_non_null(strstr(err, "left untouched"));

	char *after = read_file(e->path, &len);
	assert_int_equal(len, half);
	assert_memory_equal(after, before, half);
	assert_int_equal(exists(e->lock), had_lock); /* a lock file that was there stays */
	free(before);
	free(after);
}

static void test_refuse_truncated_without_lock(void **state)
{
	/* the same with no lock file beside it: none is left behind */
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db;
	char val[4096], err[512] = "", key[16];
	size_t len;

	memset(val, 'd', sizeof(val));
	assert_int_equal(scout_store_db(s, "t", &db), 0);
	for (int i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		assert_int_equal(scout_store_put(db, key, strlen(key), val, sizeof(val)), 0);
	}
	scout_store_close(s);
	unlink(e->lock);

	struct stat st;
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(truncate(e->path, st.st_size / 2), 0);
	char *before = read_file(e->path, &len);

	assert_true(scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "truncated"));
	size_t len2;
	char *after = read_file(e->path, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(after, before, len);
	assert_false(exists(e->lock));
	free(before);
	free(after);
}

static void test_refuse_parent_is_file(void **state)
{
	/* works as root too: a "directory" that is a regular file */
	struct env *e = *state;
	struct scout_store *s = NULL;
	char notdir[128], err[512] = "", want[256];

	snprintf(notdir, sizeof(notdir), "%s/plain-file", e->dir);
	write_file(notdir, "x", 1);
	int r = scout_store_open(notdir, 64 << 20, &s, err, sizeof(err));
	assert_int_equal(r, -ENOTDIR);
	assert_null(s);
	snprintf(want, sizeof(want), "%s/scout.mdb: cannot open store: ", notdir);
	assert_non_null(strstr(err, want));

	/* a directory that does not exist */
	snprintf(notdir, sizeof(notdir), "%s/missing/dir", e->dir);
	r = scout_store_open(notdir, 64 << 20, &s, err, sizeof(err));
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(err, notdir));
	assert_false(exists(notdir));
}

static void test_refuse_no_permission(void **state)
{
	struct env *e = *state;
	struct scout_store *s = NULL;
	char err[512] = "";

	if (geteuid() == 0) {
		/* test_refuse_parent_is_file covers a refused directory for root */
		print_message("skipped: running as root, which a mode 000 directory does not stop\n");
		skip();
	}
	assert_int_equal(chmod(e->dir, 0), 0);
	int r = scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err));
	assert_int_equal(r, -EACCES);
	assert_null(s);
	assert_non_null(strstr(err, e->path));
	assert_int_equal(chmod(e->dir, 0700), 0);
	assert_false(exists(e->path));
}

/* ---- damage inside a database ----------------------------------------- */

/* LMDB checks no page's contents: a byte flip in a data page can make
 * mdb_put write past a buffer. Every flip must either be refused at open,
 * the file left as it was, or be harmless: each database reads in full
 * and takes writes. */

#define VICTIM_KEYS 300

struct fill {
	struct scout_db *db;
	int from, to, step;
	bool del;
};

static int fill_range(struct scout_txn *t, void *arg)
{
	struct fill *f = arg;
	char key[32], val[7000];
	int r;

	for (int i = f->from; i < f->to; i += f->step) {
		int kl = snprintf(key, sizeof(key), "victim-%04d", i);
		/* mostly small values, some of a few hundred bytes, a few on
		 * overflow pages */
		size_t vl = i % 50 == 7 ? 6000 : i % 9 == 0 ? 400 : 20 + (size_t)(i * 37 % 180);

		if (f->del) {
			r = scout_txn_del(t, f->db, key, (size_t)kl);
			if (r < 0 && r != -ENOENT)
				return r;
			continue;
		}
		memcpy(val, "VICTIMVAL", 9);
		for (size_t j = 9; j < vl; j++)
			val[j] = (char)('a' + (i + j) % 26);
		r = scout_txn_put(t, f->db, key, (size_t)kl, val, vl);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A store whose named database "victim" holds a few hundred records over
 * many pages, written in several transactions with deletes in between so
 * the free-page list has records too; "other" is small. */
static void make_victim_store(const char *dir)
{
	struct scout_store *s = open_ok(dir, 64 << 20);
	struct scout_db *other;
	struct fill f = {.step = 1};
	char key[16];

	assert_int_equal(scout_store_db(s, "victim", &f.db), 0);
	for (f.from = 0; f.from < VICTIM_KEYS; f.from += 60) {
		f.to = f.from + 60;
		assert_int_equal(scout_store_write(s, fill_range, &f), 0);
	}
	f = (struct fill){.db = f.db, .from = 3, .to = VICTIM_KEYS, .step = 11, .del = true};
	assert_int_equal(scout_store_write(s, fill_range, &f), 0);
	f = (struct fill){.db = f.db, .from = 0, .to = VICTIM_KEYS, .step = 13};
	assert_int_equal(scout_store_write(s, fill_range, &f), 0);
	assert_int_equal(scout_store_db(s, "other", &other), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "o%02d", i);
		assert_int_equal(scout_store_put(other, key, strlen(key), "other value", 11), 0);
	}
	scout_store_close(s);
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The page size LMDB wrote into meta page 0 (mm_dbs[0].md_pad, after the
 * 16-byte page header, magic, version, address and map size). */
static size_t store_psize(const char *buf, size_t len)
{
	uint32_t psize;

	assert_true(len >= 44);
	memcpy(&psize, buf + 16 + 4 + 4 + sizeof(void *) + sizeof(size_t), 4);
	assert_true(psize >= 512 && len % psize == 0);
	return psize;
}

static bool victim_page(const char *page, size_t psize)
{
	return page && (memmem(page, psize, "victim-", 7) || memmem(page, psize, "VICTIMVAL", 9));
}

struct exercise {
	struct scout_db *db;
	uint64_t n, count;
	char first[64];
	size_t first_len;
	int r;
};

static int read_all(struct scout_txn *t, void *arg)
{
	struct exercise *x = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	x->n = 0;
	x->first_len = 0;
	r = scout_cursor_open(t, x->db, &c);
	if (r < 0)
		return r;
	for (r = scout_cursor_first(c, &k, &kl, &v, &vl); r == 0; r = scout_cursor_next(c, &k, &kl, &v, &vl)) {
		if (x->n++ == 0 && kl <= sizeof(x->first)) {
			memcpy(x->first, k, kl);
			x->first_len = kl;
		}
		if (vl && !v)
			r = -EFAULT;
	}
	scout_cursor_close(c);
	if (r != -ENOENT)
		return r;
	return scout_txn_count(t, x->db, &x->count);
}

static int write_some(struct scout_txn *t, void *arg)
{
	struct exercise *x = arg;
	static char big[9000];
	struct scout_cursor *c;
	int r;

	memset(big, 'B', sizeof(big));
	r = scout_txn_put(t, x->db, "zz-new", 6, "new value", 9);
	if (r == 0 && x->first_len)
		r = scout_txn_put(t, x->db, x->first, x->first_len, big, 700); /* grows a record in place */
	if (r == 0)
		r = scout_txn_put(t, x->db, "zz-big", 6, big, sizeof(big)); /* overflow pages */
	if (r == 0 && (r = scout_cursor_open(t, x->db, &c)) == 0) {
		r = scout_cursor_last(c, NULL, NULL, NULL, NULL);
		if (r == 0)
			r = scout_cursor_prev(c, NULL, NULL, NULL, NULL);
		if (r == 0)
			r = scout_cursor_del(c);
		scout_cursor_close(c);
	}
	return r;
}

/* In a child: open the damaged store; 10 when refused as it should be, 0
 * when opened and every database read and written, else 1 with why. */
static int exercise_child(const char *dir, const char *path)
{
	static const char *const names[] = {"victim", "other", "new"};
	struct scout_store *s = NULL;
	char err[512] = "";
	int r = scout_store_open(dir, 64 << 20, &s, err, sizeof(err));

	if (r < 0) {
		if (strstr(err, path) && strstr(err, "left untouched") &&
		    (strstr(err, "store is damaged") || strstr(err, "truncated"))) {
			if (getenv("SCOUT_STORE_VERBOSE"))
				fprintf(stderr, "%s\n", err);
			return 10;
		}
		fprintf(stderr, "refused with an unexpected message: %d %s\n", r, err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct exercise x = {0};

		r = scout_store_db(s, names[i], &x.db);
		if (r == 0)
			r = scout_store_read(s, read_all, &x);
		if (r == 0 && x.n != x.count) {
			fprintf(stderr, "%s: the walk saw %llu records, the count says %llu\n", names[i],
				(unsigned long long)x.n, (unsigned long long)x.count);
			return 1;
		}
		if (r == 0)
			r = scout_store_write(s, write_some, &x);
		if (r == 0)
			r = scout_store_read(s, read_all, &x);
		if (r < 0) {
			fprintf(stderr, "database %s: opened, then failed: %s\n", names[i], strerror(-r));
			return 1;
		}
	}
	scout_store_close(s);
	return 0;
}

static void test_damaged_named_db_seeds(void **state)
{
	struct env *e = *state;
	const char *env_seeds = getenv("SCOUT_STORE_SEEDS");
	unsigned seeds = env_seeds ? (unsigned)strtoul(env_seeds, NULL, 10) : 200;
	unsigned refused = 0, opened = 0, failed = 0;
	size_t len, psize, nvictims = 0;
	char *pristine, *damaged, failures[512] = "";
	size_t *victims;

	make_victim_store(e->dir);
	pristine = read_file(e->path, &len);
	psize = store_psize(pristine, len);
	victims = calloc(len / psize, sizeof(*victims));
	damaged = malloc(len);
	assert_non_null(victims);
	assert_non_null(damaged);
	for (size_t p = 2; p < len / psize; p++)
		if (victim_page(pristine + p * psize, psize))
			victims[nvictims++] = p;
	assert_true(nvictims >= 8); /* the database spans many pages */

	for (unsigned seed = 1; seed <= seeds; seed++) {
		uint64_t x = 0x9E3779B97F4A7C15ull * seed;
		unsigned flips = 1 + (unsigned)(xorshift(&x) % 4);
		char dir[128], path[160], lock[176];
		int status;
		pid_t pid;

		memcpy(damaged, pristine, len);
		for (unsigned i = 0; i < flips; i++) {
			size_t page = victims[xorshift(&x) % nvictims];
			size_t off = (size_t)(xorshift(&x) % psize);
			damaged[page * psize + off] ^= (char)(1 + xorshift(&x) % 255);
		}
		snprintf(dir, sizeof(dir), "%s/seed-%u", e->dir, seed);
		snprintf(path, sizeof(path), "%s/scout.mdb", dir);
		snprintf(lock, sizeof(lock), "%s-lock", path);
		assert_int_equal(mkdir(dir, 0700), 0);
		write_file(path, damaged, len);

		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* a crash ends the child, not in cmocka's handler */
			static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
			for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
				signal(sigs[i], SIG_DFL);
			scout_log_set_level(SCOUT_LOG_ERROR);
			_exit(exercise_child(dir, path));
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 10) {
			size_t alen;
			char *after = read_file(path, &alen);

			refused++;
			if (alen != len || memcmp(after, damaged, len) != 0 || exists(lock)) {
				failed++;
				fprintf(stderr, "seed %u: refused, but the file or its lock file was touched\n", seed);
			}
			free(after);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			opened++;
		} else {
			failed++;
			if (WIFSIGNALED(status))
				fprintf(stderr, "seed %u: killed by signal %d\n", seed, WTERMSIG(status));
			else
				fprintf(stderr, "seed %u: exit status %d\n", seed, WEXITSTATUS(status));
			size_t n = strlen(failures);
			snprintf(failures + n, sizeof(failures) - n, " %u", seed);
		}
		rm_rf(dir);
	}
	print_message("%u seeds over %zu pages of the database: %u refused, %u opened and used, %u failed\n", seeds,
		      nvictims, refused, opened, failed);
	free(victims);
	free(damaged);
	free(pristine);
	if (failed)
		fail_msg("%u of %u seeds failed:%s", failed, seeds, failures);
	assert_true(refused > 0); /* the flips did hit something that matters */
}

static void test_refuse_empty_file(void **state)
{
	/* a 0-byte file is a store that lost everything, not a new one */
	struct env *e = *state;
	struct scout_store *s = NULL;
	char err[512] = "";
	struct stat st;

	write_file(e->path, "", 0);
	int r = scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err));
	assert_true(r < 0);
	assert_null(s);
	assert_non_null(strstr(err, e->path));
	assert_non_null(strstr(err, "empty"));
	assert_non_null(strstr(err, "left untouched"));
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_false(exists(e->lock));
}

static void test_refuse_shorter_than_metas(void **state)
{
	/* the first meta page whole, the second cut off */
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct scout_db *db;
	char err[512] = "";
	size_t len, psize;

	assert_int_equal(scout_store_db(s, "t", &db), 0);
	assert_int_equal(scout_store_put(db, "k", 1, "v", 1), 0);
	scout_store_close(s);
	unlink(e->lock);
	char *full = read_file(e->path, &len);
	psize = store_psize(full, len);
	write_file(e->path, full, psize + 100);

	assert_true(scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, e->path));
	assert_non_null(strstr(err, "truncated"));
	assert_non_null(strstr(err, "left untouched"));
	size_t alen;
	char *after = read_file(e->path, &alen);
	assert_int_equal(alen, psize + 100);
	assert_memory_equal(after, full, alen);
	assert_false(exists(e->lock));
	free(after);
	free(full);
}

/* ---- one kind of damage at a time ------------------------------------- */

/* The MDB_db record of database name in LMDB's table of databases,
 * copied; its root page number follows pad, flags, depth and three page
 * counts. */
static void db_record(const char *path, const char *name, char *ret, size_t len)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_val k = {strlen(name), (void *)name}, v;
	MDB_dbi main_db;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY, 0), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main_db), 0);
	assert_int_equal(mdb_get(txn, main_db, &k, &v), 0);
	assert_int_equal(v.mv_size, len);
	memcpy(ret, v.mv_data, len);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

#define DB_RECORD_SIZE (8 + 5 * sizeof(size_t))
#define ROOT_OFFSET (8 + 4 * sizeof(size_t))

static uint16_t get16(const char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static void put16(char *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* Writes the damaged copy and expects a refusal naming the file and the
 * problem, the file left exactly as it was and no lock file beside it. */
static void assert_refused(struct env *e, const char *damaged, size_t len, const char *expect)
{
	struct scout_store *s = NULL;
	char err[512] = "";
	size_t alen;

	write_file(e->path, damaged, len);
	assert_true(scout_store_open(e->dir, 64 << 20, &s, err, sizeof(err)) < 0);
	assert_null(s);
	print_message("%s\n", err);
	assert_non_null(strstr(err, e->path));
	assert_non_null(strstr(err, "store is damaged"));
	assert_non_null(strstr(err, expect));
	assert_non_null(strstr(err, "left untouched; move it aside"));
	char *after = read_file(e->path, &alen);
	assert_int_equal(alen, len);
	assert_memory_equal(after, damaged, len);
	free(after);
	assert_false(exists(e->lock));
}

static void test_refuse_damage_kinds(void **state)
{
	struct env *e = *state;
	char rec[DB_RECORD_SIZE], needle[6 + DB_RECORD_SIZE];
	size_t len, psize, root, leaf;
	char *pristine, *d, *page, *node;

	make_victim_store(e->dir);
	db_record(e->path, "victim", rec, sizeof(rec));
	unlink(e->lock);
	memcpy(&root, rec + ROOT_OFFSET, sizeof(root));
	pristine = read_file(e->path, &len);
	psize = store_psize(pristine, len);
	d = malloc(len);
	assert_non_null(d);
	page = d + root * psize;
	assert_int_equal(get16(pristine + root * psize + sizeof(size_t) + 2), 0x01); /* a branch page */

	/* a child that is its own parent */
	memcpy(d, pristine, len);
	node = page + get16(page + 16 + 2);
	put16(node, (uint16_t)root);
	put16(node + 2, (uint16_t)(root >> 16));
	put16(node + 4, 0);
	assert_refused(e, d, len, "is reached twice");

	/* a node offset past the page, in the first leaf */
	memcpy(d, pristine, len);
	node = page + get16(page + 16);
	leaf = get16(node) | (size_t)get16(node + 2) << 16;
	put16(d + leaf * psize + 16, (uint16_t)(psize - 2));
	assert_refused(e, d, len, "outside the node area");

	/* a key longer than its page */
	memcpy(d, pristine, len);
	node = d + leaf * psize + get16(d + leaf * psize + 16);
	put16(node + 6, 5000);
	assert_refused(e, d, len, "(database 'victim': page");
	assert_refused(e, d, len, "has a key of 5000 bytes");

	/* a branch page marked as a leaf */
	memcpy(d, pristine, len);
	put16(page + sizeof(size_t) + 2, 0x02);
	assert_refused(e, d, len, "where level 1 of 2 needs a branch page");

	/* the database's record says DUPSORT (0x04), which LMDB would obey */
	memcpy(d, pristine, len);
	memcpy(needle, "victim", 6);
	memcpy(needle + 6, rec, sizeof(rec));
	char *hit = memmem(d, len, needle, sizeof(needle));
	assert_non_null(hit);
	for (; hit; hit = memmem(hit + 1, len - (size_t)(hit + 1 - d), needle, sizeof(needle)))
		put16(hit + 6 + 4, 0x04); /* in both snapshots */
	assert_refused(e, d, len, "flags 0x4, which scout never sets");

	/* meta page 0 claims a commit that never happened */
	memcpy(d, pristine, len);
	size_t txnid;
	char *meta0_txnid = d + 16 + 8 + sizeof(void *) + sizeof(size_t) + 2 * DB_RECORD_SIZE + sizeof(size_t);
	memcpy(&txnid, meta0_txnid, sizeof(txnid));
	txnid += 1000;
	memcpy(meta0_txnid, &txnid, sizeof(txnid));
	assert_refused(e, d, len, "the meta pages hold commits");

	/* and the undamaged file opens */
	write_file(e->path, pristine, len);
	scout_store_close(open_ok(e->dir, 64 << 20));
	free(d);
	free(pristine);
}

/* ---- the check never refuses a sound store ---------------------------- */

struct churn {
	struct scout_db *db[4];
	uint64_t x;
	int phase;
	char *buf;
};

static size_t churn_vlen(uint64_t *x)
{
	switch (xorshift(x) % 10) {
	case 0:
		return 0;
	case 1:
	case 2:
		return 1900 + (size_t)(xorshift(x) % 300); /* around the largest inline value */
	case 3:
		return 3000 + (size_t)(xorshift(x) % 40000); /* overflow pages */
	default:
		return 1 + (size_t)(xorshift(x) % 300);
	}
}

static int churn_txn(struct scout_txn *t, void *arg)
{
	struct churn *c = arg;
	unsigned ops = 1 + (unsigned)(xorshift(&c->x) % 60);
	char key[520];
	int r = 0;

	for (unsigned i = 0; i < ops && r >= 0; i++) {
		struct scout_db *db = c->db[xorshift(&c->x) % 4];
		unsigned k = (unsigned)(xorshift(&c->x) % 1500);
		/* keys of 1 to 511 bytes sharing prefixes */
		size_t kl = k % 97 == 0 ? 511 : 1 + k % 40;
		for (size_t j = 0; j < kl; j++)
			key[j] = (char)('a' + (k >> (j % 8)) % 26);
		switch (xorshift(&c->x) % 5) {
		case 0:
		case 1:
			r = scout_txn_del(t, db, key, kl);
			if (r == -ENOENT)
				r = 0;
			break;
		case 2: /* the same key twice in one transaction: shrinks or grows in place */
			r = scout_txn_put(t, db, key, kl, c->buf, 9000);
			if (r == 0)
				r = scout_txn_put(t, db, key, kl, c->buf, churn_vlen(&c->x));
			break;
		default:
			r = scout_txn_put(t, db, key, kl, c->buf, churn_vlen(&c->x));
		}
	}
	if (r == 0 && xorshift(&c->x) % 10 == 0)
		return -ECANCELED; /* an aborted transaction now and then */
	return r;
}

/* Many big values at once, then none: free-page list records too long
 * for a page. */
static int churn_bulk(struct scout_txn *t, void *arg)
{
	struct churn *c = arg;
	char key[16];
	int r = 0;

	for (int i = 0; i < 150 && r >= 0; i++) {
		snprintf(key, sizeof(key), "bulk-%03d", i);
		r = c->phase ? scout_txn_del(t, c->db[3], key, strlen(key))
			     : scout_txn_put(t, c->db[3], key, strlen(key), c->buf, 12000);
	}
	return r;
}

static void assert_sound(const char *path, unsigned step)
{
	enum scout_store_state state = SCOUT_STORE_DAMAGED;
	char why[256];
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(scout_store_check(fd, &state, why, sizeof(why)), 0);
	close(fd);
	if (state != SCOUT_STORE_SOUND)
		fail_msg("step %u: a store LMDB wrote was found unsound: %s", step, why);
}

static void test_check_accepts_churn(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 256 << 20);
	struct churn c = {.x = 88172645463325252ull, .buf = malloc(64 * 1024)};
	static const char *const names[] = {"a", "bb", "snmp", "health"};
	/* SCOUT_STORE_CHURN=STEPS:SEED for a longer run */
	const char *env_churn = getenv("SCOUT_STORE_CHURN");
	unsigned steps = env_churn ? (unsigned)strtoul(env_churn, NULL, 10) : 400;
	int r;

	if (env_churn && strchr(env_churn, ':'))
		c.x = strtoull(strchr(env_churn, ':') + 1, NULL, 10) | 1;

	assert_non_null(c.buf);
	for (size_t i = 0; i < 64 * 1024; i++)
		c.buf[i] = (char)(i * 131);
	assert_sound(e->path, 0); /* a new store */
	for (int i = 0; i < 4; i++)
		assert_int_equal(scout_store_db(s, names[i], &c.db[i]), 0);
	scout_log_set_level(SCOUT_LOG_WARN);
	for (unsigned step = 1; step <= steps; step++) {
		if (step % 100 == 50) {
			c.phase = 0;
			assert_int_equal(scout_store_write(s, churn_bulk, &c), 0);
			assert_sound(e->path, step);
			c.phase = 1;
			assert_int_equal(scout_store_write(s, churn_bulk, &c), 0);
		} else {
			r = scout_store_write(s, churn_txn, &c);
			if (r != -ECANCELED)
				assert_int_equal(r, 0);
		}
		assert_sound(e->path, step);
		if (step % 100 == 0) { /* and LMDB reads it back after a reopen */
			scout_store_close(s);
			s = open_ok(e->dir, 256 << 20);
			for (int i = 0; i < 4; i++)
				assert_int_equal(scout_store_db(s, names[i], &c.db[i]), 0);
		}
	}
	scout_log_set_level(SCOUT_LOG_INFO);
	scout_store_close(s);
	free(c.buf);
}

struct putdel {
	struct scout_db *db;
	size_t vlen;
	char *buf;
	int i;
};

static int put_then_del(struct scout_txn *t, void *arg)
{
	struct putdel *p = arg;
	char key[32];
	int r;

	snprintf(key, sizeof(key), "keep-%04d", p->i++);
	r = scout_txn_put(t, p->db, key, strlen(key), p->buf, 100);
	if (r == 0)
		r = scout_txn_put(t, p->db, "tmp", 3, p->buf, p->vlen);
	if (r == 0)
		r = scout_txn_del(t, p->db, "tmp", 3);
	return r;
}

/* A value put and deleted in one transaction: its overflow pages, last in
 * the file, are freed unwritten, so the file ends before the store's last
 * page. LMDB allows that when the missing pages are free; the check must
 * too (the size check before it refused such a store as truncated). */
static void test_accept_free_tail(void **state)
{
	struct env *e = *state;
	struct scout_store *s = open_ok(e->dir, 64 << 20);
	struct putdel p = {.vlen = 40000, .buf = calloc(1, 40000)};
	struct scout_store_info info;
	bool short_file = false;

	assert_non_null(p.buf);
	assert_int_equal(scout_store_db(s, "t", &p.db), 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(scout_store_write(s, put_then_del, &p), 0);
		assert_int_equal(scout_store_info(s, &info), 0);
		short_file |= info.used > info.file_size;
		assert_sound(e->path, (unsigned)i);
	}
	assert_true(short_file);
	scout_store_close(s);
	s = open_ok(e->dir, 64 << 20);
	assert_int_equal(scout_store_db(s, "t", &p.db), 0);
	void *v;
	size_t vl;
	assert_int_equal(scout_store_get(p.db, "keep-0004", 9, &v, &vl), 0);
	assert_int_equal(vl, 100);
	free(v);
	assert_absent(p.db, "tmp");
	scout_store_close(s);
	free(p.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_size_floor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_size_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_truncated_without_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_parent_is_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_no_permission, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_shorter_than_metas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_named_db_seeds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_damage_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_accepts_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_free_tail, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
