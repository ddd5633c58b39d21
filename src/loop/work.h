/* Jobs on uv's thread pool, owned by a group: a module (or the core) makes
 * one group, submits jobs to it, and closes it when it stops. Use it for
 * anything that would block the loop for more than a moment: fsync (the
 * store's commits go through it, see scout_store_write_async), key
 * derivation, bulk crypto, compressing a file. work(arg) runs on a pool
 * thread and must touch nothing the loop thread touches without a lock;
 * done(arg, status) runs on the loop thread afterwards, with 0, or
 * -ECANCELED when the job was cancelled before it started.
 *
 * Closing a group cancels what has not started (their done runs with
 * -ECANCELED), waits for what is running (their done runs normally), then
 * calls one idle callback and frees the group: a module's stop waits for
 * its jobs there, and uv_loop_close() then returns 0. Loop thread only,
 * except work itself. uv's pool has 4 threads unless UV_THREADPOOL_SIZE
 * says otherwise, shared with uv's file system and DNS requests: keep jobs
 * short and bounded in number. */
#pragma once

#include <stddef.h>
#include <uv.h>

struct scout_work_group;

typedef void (*scout_work_fn)(void *arg);
typedef void (*scout_work_done_fn)(void *arg, int status);

/* name (copied) names the owner in messages. */
int scout_work_group_new(uv_loop_t *loop, const char *name, struct scout_work_group **ret_group);
/* Queues work(arg) on the pool; done(arg, status) follows on the loop.
 * 0, -ENOMEM, or -ESHUTDOWN once the group is closing (neither runs). */
int scout_work_submit(struct scout_work_group *g, scout_work_fn work, scout_work_done_fn done, void *arg);
/* Jobs submitted whose done has not run yet. */
size_t scout_work_pending(const struct scout_work_group *g);
/* Cancels what has not started, waits for the rest, then calls idle(arg)
 * (from a later loop turn, or right here when nothing is pending) and
 * frees g. With cancel false, queued jobs run too. */
void scout_work_group_close(struct scout_work_group *g, int cancel, void (*idle)(void *arg), void *arg);
