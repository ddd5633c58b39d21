/* The store: one LMDB environment (state_dir/scout.mdb) with one named
 * database per module. A write is one transaction, so a crash (kill -9,
 * power loss) leaves either all of it or none. A full map grows (doubling,
 * up to max_size) and the write is retried, so write functions must be
 * repeatable: read only their argument and write only through the txn.
 *
 * scout_store_write commits with LMDB's fsync on the calling thread: it is
 * for start-up, tools and tests. Once the loop runs, modules write with
 * scout_store_write_async: the transaction and its fsync run on uv's thread
 * pool (work.h), and writers that queue while a commit runs go together in
 * the next transaction (group commit), so a burst of N writes costs a
 * couple of fsyncs, not N. Reads stay synchronous: they take no lock LMDB
 * writers hold, and see what was committed before they began. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scout_store;
struct scout_db;
struct scout_txn;
struct uv_loop_s;

struct scout_store_info {
	uint64_t used;      /* bytes in pages in use */
	uint64_t map_size;  /* bytes the map may hold now */
	uint64_t max_size;  /* bytes it may grow to */
	uint64_t file_size; /* bytes of the data file */
	unsigned readers;
	uint64_t commits;      /* write transactions committed */
	uint64_t async_writes; /* writers that went through scout_store_write_async */
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

/* ---- asynchronous writes ---------------------------------------------------
 *
 * Group commit: a writer queued while no commit runs starts one at once;
 * writers queued while one runs wait and then share one transaction, their
 * fns called in the order they were queued. When a fn fails (returns < 0),
 * the transaction is aborted and the batch is run again without it, so one
 * writer's failure costs the others nothing but a retry: fns must be
 * repeatable (as for map growth). A commit that fails fails every writer
 * still in the batch. Each writer's done(arg, status) runs once, on the
 * loop thread, after its data is on disk (status 0) or not (-errno).
 *
 * fn runs on a pool thread: it may read only its arg (the caller's until
 * done runs) and write only through the txn. A kill -9 loses at most the
 * writes whose done has not run; LMDB never leaves a half transaction. */
typedef void (*scout_store_done_fn)(void *arg, int status);
/* Binds the store to the loop whose pool commits for it. Idempotent for the
 * same loop; -EBUSY for another. */
int scout_store_async_start(struct scout_store *store, struct uv_loop_s *loop);
/* 0 (done will run), -ENOTCONN before scout_store_async_start, -ESHUTDOWN
 * once scout_store_async_stop was called, -ENOMEM. */
int scout_store_write_async(struct scout_store *store, scout_txn_fn fn, void *arg, scout_store_done_fn done);
/* Writers queued or committing. */
size_t scout_store_async_pending(const struct scout_store *store);
/* Calls done(arg) once every queued writer is committed and done (from a
 * later loop turn, or right here when nothing is pending), without
 * stopping anything: a module's stop waits for its writes here. */
void scout_store_async_flush(struct scout_store *store, void (*done)(void *arg), void *arg);
/* Refuses new writers, waits for the queued ones as flush does, then
 * releases the pool binding and calls done(arg). Call it before
 * scout_store_close once the loop runs (close waits for a commit in
 * progress but cannot run what is queued: those get -ESHUTDOWN). */
void scout_store_async_stop(struct scout_store *store, void (*done)(void *arg), void *arg);

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
int scout_cursor_seek(struct scout_cursor *c, const void *key, size_t klen, const void **k, size_t *kl, const void **v,
		      size_t *vl);
int scout_cursor_next(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
int scout_cursor_prev(struct scout_cursor *c, const void **k, size_t *kl, const void **v, size_t *vl);
/* Deletes the entry under the cursor (write transactions only). */
int scout_cursor_del(struct scout_cursor *c);
void scout_cursor_close(struct scout_cursor *c);

/* One-transaction conveniences. get returns a malloc'd copy (caller frees). */
int scout_store_put(struct scout_db *db, const void *key, size_t klen, const void *val, size_t vlen);
int scout_store_get(struct scout_db *db, const void *key, size_t klen, void **ret_val, size_t *ret_vlen);

int scout_store_info(struct scout_store *store, struct scout_store_info *ret_info);
