/* See closer.h. */
#include "closer.h"

#include <assert.h>

void scout_closer_init(struct scout_closer *c)
{
	*c = (struct scout_closer){0};
}

static void on_closed(uv_handle_t *h)
{
	scout_closer_release(h->data);
}

void scout_closer_close(struct scout_closer *c, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return; /* someone else closes it and gets the callback */
	c->pending++;
	h->data = c;
	uv_close(h, on_closed);
}

void scout_closer_hold(struct scout_closer *c)
{
	c->pending++;
}

void scout_closer_release(struct scout_closer *c)
{
	assert(c->pending > 0);
	if (--c->pending > 0 || !c->waiting)
		return;
	c->waiting = false;
	void (*done)(void *) = c->done;
	done(c->arg); /* last: it may free c */
}

void scout_closer_wait(struct scout_closer *c, void (*done)(void *arg), void *arg)
{
	c->done = done;
	c->arg = arg;
	c->waiting = true;
	if (c->pending == 0) {
		c->waiting = false;
		done(arg);
	}
}

bool scout_closer_busy(const struct scout_closer *c)
{
	return c->waiting;
}
