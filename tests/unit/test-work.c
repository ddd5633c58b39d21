/* Unit tests for src/loop/work.c and the store's asynchronous writes built
 * on it: jobs run off the loop thread and finish on it, a close cancels
 * what has not started and waits for what runs (and uv_loop_close() then
 * returns 0), and group commit: many writers share few transactions, each
 * done runs once with its own status, a failing writer costs the others
 * nothing, the map grows under async writes, and a flush or stop waits. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop/store.h"
#include "loop/work.h"

#define POOL 2 /* UV_THREADPOOL_SIZE for this test */

static uv_loop_t loop;
static pthread_t loop_thread;

static int setup(void **state)
{
	(void)state;
	loop_thread = pthread_self();
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	return 0;
}

/* ---- groups ------------------------------------------------------------ */

struct job {
	bool ran_off_loop, done_on_loop;
	int status, dones;
};

static void work_fn(void *arg)
{
	struct job *j = arg;
	j->ran_off_loop = !pthread_equal(pthread_self(), loop_thread);
}

static void done_fn(void *arg, int status)
{
	struct job *j = arg;
	j->done_on_loop = pthread_equal(pthread_self(), loop_thread);
	j->status = status;
	j->dones++;
}

static int idles;

static void on_idle(void *arg)
{
	(void)arg;
	idles++;
}

static void test_jobs_run_off_loop(void **state)
{
	struct scout_work_group *g;
	struct job j[8] = {0};
	(void)state;

	idles = 0;
	assert_int_equal(scout_work_group_new(&loop, "test", &g), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(scout_work_submit(g, work_fn, done_fn, &j[i]), 0);
	assert_int_equal(scout_work_pending(g), 8);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 8; i++) {
		assert_true(j[i].ran_off_loop);
		assert_true(j[i].done_on_loop);
		assert_int_equal(j[i].status, 0);
		assert_int_equal(j[i].dones, 1);
	}
	assert_int_equal(scout_work_pending(g), 0);
	scout_work_group_close(g, 1, on_idle, NULL); /* nothing pending: at once */
	assert_int_equal(idles, 1);
}

/* Jobs that hold every pool thread until the test opens the gate. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int blocked;

static void blocker(void *arg)
{
	struct job *j = arg;
	j->ran_off_loop = true;
	pthread_mutex_lock(&gate_lock);
	blocked++;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void wait_blocked(int n)
{
	pthread_mutex_lock(&gate_lock);
	while (blocked < n)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void test_close_cancels_queued_and_awaits_running(void **state)
{
	struct scout_work_group *g;
	struct job b[POOL] = {0}, q[5] = {0};
	(void)state;

	idles = 0;
	gate_open = false;
	blocked = 0;
	assert_int_equal(scout_work_group_new(&loop, "test", &g), 0);
	for (int i = 0; i < POOL; i++)
		assert_int_equal(scout_work_submit(g, blocker, done_fn, &b[i]), 0);
	wait_blocked(POOL); /* every pool thread is busy: the rest must wait */
	for (int i = 0; i < 5; i++)
		assert_int_equal(scout_work_submit(g, work_fn, done_fn, &q[i]), 0);
	scout_work_group_close(g, 1, on_idle, NULL);
	assert_int_equal(scout_work_submit(g, work_fn, done_fn, &q[0]), -ESHUTDOWN);
	/* the cancelled ones end on the loop while the running ones still run */
	while (q[4].dones == 0)
		uv_run(&loop, UV_RUN_ONCE);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(q[i].dones, 1);
		assert_int_equal(q[i].status, -ECANCELED);
		assert_false(q[i].ran_off_loop);
	}
	assert_int_equal(idles, 0); /* the blockers still run */
	open_gate();
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < POOL; i++) {
		assert_int_equal(b[i].dones, 1);
		assert_int_equal(b[i].status, 0);
	}
	assert_int_equal(idles, 1);
}

static void test_close_without_cancel_runs_all(void **state)
{
	struct scout_work_group *g;
	struct job j[6] = {0};
	(void)state;

	idles = 0;
	assert_int_equal(scout_work_group_new(&loop, "test", &g), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(scout_work_submit(g, work_fn, done_fn, &j[i]), 0);
	scout_work_group_close(g, 0, on_idle, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 6; i++) {
		assert_true(j[i].ran_off_loop);
		assert_int_equal(j[i].status, 0);
	}
	assert_int_equal(idles, 1);
}

/* ---- the store's group commit ------------------------------------------ */

struct st {
	char dir[64];
	struct scout_store *s;
	struct scout_db *db;
};

static void store_open(struct st *t)
{
	char err[512];

	strcpy(t->dir, "/tmp/scout-test-work-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	assert_int_equal(scout_store_open(t->dir, 64ull << 20, &t->s, err, sizeof(err)), 0);
	assert_int_equal(scout_store_db(t->s, "t", &t->db), 0);
	assert_int_equal(scout_store_async_start(t->s, &loop), 0);
	assert_int_equal(scout_store_async_start(t->s, &loop), 0); /* idempotent */
}

static void stopped(void *arg)
{
	(*(int *)arg)++;
}

static void store_close(struct st *t)
{
	int n = 0;
	char cmd[128];

	scout_store_async_stop(t->s, stopped, &n);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(n, 1);
	scout_store_close(t->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
}

struct wr {
	struct scout_db *db;
	char key[32];
	size_t vlen;
	int fail;  /* returned by fn when < 0 */
	int calls; /* atomic: fn may run more than once */
	int status, dones;
};

static int write_fn(struct scout_txn *txn, void *arg)
{
	struct wr *w = arg;
	static char big[70000];

	__atomic_add_fetch(&w->calls, 1, __ATOMIC_RELAXED);
	int r = scout_txn_put(txn, w->db, w->key, strlen(w->key), w->vlen ? big : w->key,
			      w->vlen ? w->vlen : strlen(w->key));
	if (r < 0)
		return r;
	return w->fail;
}

static void write_done(void *arg, int status)
{
	struct wr *w = arg;
	assert_true(pthread_equal(pthread_self(), loop_thread));
	w->status = status;
	w->dones++;
}

static void test_group_commit(void **state)
{
	enum { N = 40 };
	struct st t;
	struct wr w[N];
	struct scout_store_info before, after;
	(void)state;

	store_open(&t);
	assert_int_equal(scout_store_info(t.s, &before), 0);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N; i++) {
		w[i].db = t.db;
		snprintf(w[i].key, sizeof(w[i].key), "k%02d", i);
		assert_int_equal(scout_store_write_async(t.s, write_fn, &w[i], write_done), 0);
	}
	assert_int_equal(scout_store_async_pending(t.s), N);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(scout_store_async_pending(t.s), 0);
	assert_int_equal(scout_store_info(t.s, &after), 0);
	for (int i = 0; i < N; i++) {
		void *v;
		size_t vl;
		assert_int_equal(w[i].dones, 1);
		assert_int_equal(w[i].status, 0);
		assert_int_equal(scout_store_get(t.db, w[i].key, strlen(w[i].key), &v, &vl), 0);
		free(v);
	}
	/* the first writer started a commit alone; the others queued behind it
	 * and went together */
	uint64_t txns = after.commits - before.commits;
	print_message("%d writers, %llu transactions\n", N, (unsigned long long)txns);
	assert_true(txns >= 1 && txns <= 3);
	assert_int_equal(after.async_writes - before.async_writes, N);
	store_close(&t);
}

static void test_failing_writer_spares_the_others(void **state)
{
	enum { N = 12 };
	struct st t;
	struct wr w[N];
	(void)state;

	store_open(&t);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N; i++) {
		w[i].db = t.db;
		snprintf(w[i].key, sizeof(w[i].key), "f%02d", i);
		if (i == 5 || i == 9)
			w[i].fail = i == 5 ? -EINVAL : -EPERM;
		assert_int_equal(scout_store_write_async(t.s, write_fn, &w[i], write_done), 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < N; i++) {
		void *v;
		size_t vl;
		assert_int_equal(w[i].dones, 1);
		int want = i == 5 ? -EINVAL : i == 9 ? -EPERM : 0;
		assert_int_equal(w[i].status, want);
		int r = scout_store_get(t.db, w[i].key, strlen(w[i].key), &v, &vl);
		assert_int_equal(r, want ? -ENOENT : 0);
		if (!r)
			free(v);
	}
	store_close(&t);
}

/* Writes that outgrow the 1 MiB first map while the loop reads. */
static int count_fn(struct scout_txn *txn, void *arg)
{
	return scout_txn_count(txn, *(struct scout_db **)arg, &(uint64_t){0});
}

static void test_async_growth(void **state)
{
	enum { N = 60 };
	struct st t;
	static struct wr w[N];
	(void)state;

	store_open(&t);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < N; i++) {
		w[i].db = t.db;
		w[i].vlen = 60000;
		snprintf(w[i].key, sizeof(w[i].key), "g%02d", i);
		assert_int_equal(scout_store_write_async(t.s, write_fn, &w[i], write_done), 0);
	}
	while (scout_store_async_pending(t.s)) {
		assert_int_equal(scout_store_read(t.s, count_fn, &t.db), 0);
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	struct scout_store_info info;
	assert_int_equal(scout_store_info(t.s, &info), 0);
	assert_true(info.map_size > (1u << 20));
	for (int i = 0; i < N; i++) {
		assert_int_equal(w[i].dones, 1);
		assert_int_equal(w[i].status, 0);
	}
	store_close(&t);
}

static int flushed;

static void on_flushed(void *arg)
{
	struct wr *w = arg;
	/* every write queued before the flush is done by now */
	assert_int_equal(w->dones, 1);
	flushed++;
}

static void test_flush_and_stop(void **state)
{
	struct st t;
	struct wr w[3];
	int n = 0;
	(void)state;

	store_open(&t);
	memset(w, 0, sizeof(w));
	flushed = 0;
	scout_store_async_flush(t.s, stopped, &n); /* nothing pending: at once */
	assert_int_equal(n, 1);
	for (int i = 0; i < 3; i++) {
		w[i].db = t.db;
		snprintf(w[i].key, sizeof(w[i].key), "s%d", i);
		assert_int_equal(scout_store_write_async(t.s, write_fn, &w[i], write_done), 0);
	}
	scout_store_async_flush(t.s, on_flushed, &w[2]);
	scout_store_async_stop(t.s, stopped, &n);
	assert_int_equal(scout_store_write_async(t.s, write_fn, &w[0], write_done), -ESHUTDOWN);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(flushed, 1);
	assert_int_equal(n, 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w[i].status, 0);
	assert_int_equal(scout_store_write_async(t.s, write_fn, &w[0], write_done), -ENOTCONN);
	scout_store_close(t.s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
	assert_int_equal(system(cmd), 0);
}

/* Closed with writes queued and one running (a misuse the store survives):
 * the running one completes, the queued ones fail, nothing is freed twice. */
static void test_close_with_pending(void **state)
{
	struct st t;
	struct wr w[4];
	(void)state;

	store_open(&t);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 4; i++) {
		w[i].db = t.db;
		snprintf(w[i].key, sizeof(w[i].key), "c%d", i);
		assert_int_equal(scout_store_write_async(t.s, write_fn, &w[i], write_done), 0);
	}
	scout_store_close(t.s); /* waits for w[0]'s commit */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(w[0].dones, 1);
	assert_int_equal(w[0].status, 0);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(w[i].dones, 1);
		assert_int_equal(w[i].status, -ESHUTDOWN);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t.dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	char n[8];

	snprintf(n, sizeof(n), "%d", POOL);
	setenv("UV_THREADPOOL_SIZE", n, 1); /* before the pool starts */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jobs_run_off_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_cancels_queued_and_awaits_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_without_cancel_runs_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_writer_spares_the_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_pending, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
