/* See run-cmd.h. The loop is polled, not blocked in: the command's last
 * event may come before it exits, and nothing would wake the loop after. */
#include "run-cmd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

struct cmd {
	const char *line;
	atomic_bool done;
	int status;
};

static void *cmd_run(void *arg)
{
	struct cmd *c = arg;

	c->status = system(c->line);
	atomic_store(&c->done, true);
	return NULL;
}

int run_cmd_on_loop(uv_loop_t *loop, const char *line)
{
	struct cmd c = {.line = line, .done = false};
	pthread_t th;

	if (pthread_create(&th, NULL, cmd_run, &c) != 0)
		abort();
	while (!atomic_load(&c.done))
		uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
	pthread_join(th, NULL);
	return WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1;
}
