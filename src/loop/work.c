/* The job groups of work.h: each job is a uv_work_t on the group's list
 * until its after-work callback, so closing can cancel the ones that have
 * not started and count the ones that have. */
#include "work.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "log.h"

struct scout_work_group {
	uv_loop_t *loop;
	char *name;
	struct scout_list jobs;
	size_t pending;
	bool closing;
	bool dispatching; /* inside a done callback: freeing waits for its return */
	void (*idle)(void *);
	void *idle_arg;
};

struct job {
	uv_work_t req;
	struct scout_work_group *g;
	struct scout_list link;
	scout_work_fn work;
	scout_work_done_fn done;
	void *arg;
};

int scout_work_group_new(uv_loop_t *loop, const char *name, struct scout_work_group **ret_group)
{
	struct scout_work_group *g = calloc(1, sizeof(*g));

	if (!g || !(g->name = strdup(name ? name : "?"))) {
		free(g);
		return -ENOMEM;
	}
	g->loop = loop;
	scout_list_init(&g->jobs);
	*ret_group = g;
	return 0;
}

size_t scout_work_pending(const struct scout_work_group *g)
{
	return g->pending;
}

static void maybe_idle(struct scout_work_group *g)
{
	if (!g->closing || g->pending || g->dispatching)
		return;
	void (*idle)(void *) = g->idle;
	void *arg = g->idle_arg;
	free(g->name);
	free(g);
	if (idle)
		idle(arg);
}

static void run(uv_work_t *req)
{
	struct job *j = req->data;
	j->work(j->arg);
}

static void after(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct scout_work_group *g = j->g;

	scout_list_remove(&j->link);
	g->pending--;
	g->dispatching = true;
	if (j->done)
		j->done(j->arg, status == UV_ECANCELED ? -ECANCELED : status);
	g->dispatching = false;
	free(j);
	maybe_idle(g);
}

int scout_work_submit(struct scout_work_group *g, scout_work_fn work, scout_work_done_fn done, void *arg)
{
	struct job *j;
	int r;

	if (g->closing)
		return -ESHUTDOWN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->g = g;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->req.data = j;
	r = uv_queue_work(g->loop, &j->req, run, after);
	if (r < 0) {
		log_error("%s: cannot queue a job on the thread pool: %s", g->name, uv_strerror(r));
		free(j);
		return r;
	}
	scout_list_insert_tail(&g->jobs, &j->link);
	g->pending++;
	return 0;
}

void scout_work_group_close(struct scout_work_group *g, int cancel, void (*idle)(void *arg), void *arg)
{
	struct job *j;

	g->closing = true;
	g->idle = idle;
	g->idle_arg = arg;
	/* uv_cancel only marks a job not yet started; its after-work runs
	 * later, with UV_ECANCELED, so the list is not changed here */
	if (cancel)
		scout_list_foreach (j, &g->jobs, link)
			uv_cancel((uv_req_t *)&j->req);
	maybe_idle(g);
}
