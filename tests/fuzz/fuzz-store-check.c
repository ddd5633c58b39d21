/* libFuzzer target for the store check (src/loop/store-check.c): arbitrary
 * bytes as scout.mdb. Whatever the verdict, the check returns cleanly with
 * a reason for anything but SOUND; and a file it calls SOUND must be one
 * LMDB reads and writes without touching memory it should not (ASan
 * watches): every named database walked to its end, then a put into each
 * in a write transaction that is aborted. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "loop/store-check.h"

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/dev/shm/scout-fuzz-store-%d.mdb", (int)getpid());
	return 0;
}

/* Walks every entry of dbi; with txn writable, also puts one. */
static void exercise(MDB_txn *txn, MDB_dbi dbi, bool writable)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	CHECK(mdb_cursor_open(txn, dbi, &cur) == 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		;
	CHECK(rc == MDB_NOTFOUND);
	mdb_cursor_close(cur);
	if (writable) {
		char key[] = "fuzz-key", val[600];
		memset(val, 'v', sizeof(val));
		k = (MDB_val){sizeof(key), key};
		v = (MDB_val){sizeof(val), val};
		rc = mdb_put(txn, dbi, &k, &v, 0);
		CHECK(rc == 0 || rc == MDB_MAP_FULL || rc == MDB_TXN_FULL);
	}
}

static void open_with_lmdb(bool writable)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi names[64];
	size_t n = 0;

	CHECK(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 64);
	mdb_env_set_mapsize(env, 64u << 20);
	int rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK | (writable ? 0 : MDB_RDONLY), 0600);
	CHECK(rc == 0);
	CHECK(mdb_txn_begin(env, NULL, writable ? 0 : MDB_RDONLY, &txn) == 0);
	MDB_dbi main_dbi;
	CHECK(mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0);
	MDB_cursor *cur;
	MDB_val k, v;
	CHECK(mdb_cursor_open(txn, main_dbi, &cur) == 0);
	char name[512];
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < 64;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size >= sizeof(name) || memchr(k.mv_data, 0, k.mv_size))
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = 0;
		if (mdb_dbi_open(txn, name, 0, &names[n]) == 0)
			n++;
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < n; i++)
		exercise(txn, names[i], writable);
	exercise(txn, main_dbi, false);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum scout_store_state state = SCOUT_STORE_SOUND;
	char why[256];
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	memset(why, 'x', sizeof(why));
	int r = scout_store_check(fd, &state, why, sizeof(why));
	close(fd);
	CHECK(r == 0 || r == -ENOMEM);
	if (r == 0 && state != SCOUT_STORE_SOUND)
		CHECK(memchr(why, 0, sizeof(why)) && why[0]);
	if (r == 0 && state == SCOUT_STORE_SOUND) {
		open_with_lmdb(false);
		open_with_lmdb(true);
	}
	unlink(path);
	return 0;
}
