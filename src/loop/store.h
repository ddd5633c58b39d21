/* The store: one LMDB environment (state_dir/scout.mdb) with one named
 * database per module. A write is one transaction, so a crash (kill -9,
 * power loss) leaves either all of it or none. A full map grows (doubling,
 * up to max_size) and the write is retried, so write functions must be
 * repeatable: read only their argument and write only through the txn.
 *
 * Writes commit with LMDB's normal fsync on the calling (loop) thread;
 * modules batch what they write rather than committing per item. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scout_store;
struct scout_db;
struct scout_txn;

struct scout_store_info {
	uint64_t used;      /* bytes in pages in use */
	uint64_t map_size;  /* bytes the map may hold now */
	uint64_t max_size;  /* bytes it may grow to */
	uint64_t file_size; /* bytes of the data file */
	unsigned readers;
};

/* Opens dir/scout.mdb, creating it only when absent: an existing file is
 * first checked page by page (store-check.h), and an empty one is refused,
 * not re-initialised. On failure writes a message naming the file, what is
 * wrong and what to do into err, and leaves any existing file exactly as it
 * was. */
int scout_store_open(const char *dir, uint64_t max_size, struct scout_store **ret_store, char *err, size_t errlen);
void scout_store_close(struct scout_store *store);
const char *scout_store_path(const struct scout_store *store);

/* The named database, created on first use. Handles live as long as the
 * store. */
int scout_store_db(struct scout_store *store, const char *name, struct scout_db **ret_db);

typedef int (*scout_txn_fn)(struct scout_txn *txn, void *arg);
/* Runs fn in one write transaction and commits when it returns 0; a
 * negative return aborts and is passed back. */
int scout_store_write(struct scout_store *store, scout_txn_fn fn, void *arg);
/* Runs fn in a read-only transaction. */
int scout_store_read(struct scout_store *store, scout_txn_fn fn, void *arg);

int scout_txn_put(struct scout_txn *txn, struct scout_db *db, const void *key, size_t klen, const void *val,
		  size_t vlen);
/* *ret_val points into the map, valid until the transaction ends. -ENOENT. */
int scout_txn_get(struct scout_txn *txn, struct scout_db *db, const void *key, size_t klen, const void **ret_val,
		  size_t *ret_vlen);
int scout_txn_del(struct scout_txn *txn, struct scout_db *db, const void *key, size_t klen);
int scout_txn_count(struct scout_txn *txn, struct scout_db *db, uint64_t *ret_n);

/* Cursor over a database in key order; borrowed data valid until the
 * transaction ends. first/seek/next return 0, or -ENOENT at the end. */
struct scout_cursor;
int scout_cursor_open(struct scout_txn *txn, struct scout_db *db, struct scout_cursor **ret_cursor);
int scout_cursor_first(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
int scout_cursor_last(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
/* The first key >= key. */
int scout_cursor_seek(struct scout_cursor *c, const void *key, size_t klen, const void **k, size_t *kl,
		      const void **v, size_t *vl);
int scout_cursor_next(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
int scout_cursor_prev(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
/* Deletes the entry under the cursor (write transactions only). */
int scout_cursor_del(struct scout_cursor *c);
void scout_cursor_close(struct scout_cursor *c);

/* One-transaction conveniences. get returns a malloc'd copy (caller frees). */
int scout_store_put(struct scout_db *db, const void *key, size_t klen, const void *val, size_t vlen);
int scout_store_get(struct scout_db *db, const void *key, size_t klen, void **ret_val, size_t *ret_vlen);

int scout_store_info(struct scout_store *store, struct scout_store_info *ret_info);
