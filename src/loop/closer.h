/* A handle closer: an owner (a module, a server, an engine) hands it every
 * uv handle it closes, and anything else that ends asynchronously, and gets
 * one callback when all of them have ended, instead of counting close
 * callbacks itself. Use it in every stop path that closes more than one
 * handle; the done callback is where the owner may free itself.
 *
 *	scout_closer_init(&s->closer);
 *	scout_closer_close(&s->closer, (uv_handle_t *)&s->timer);
 *	scout_closer_hold(&s->closer);      // e.g. an engine closing on its own
 *	...                                 // later: scout_closer_release()
 *	scout_closer_wait(&s->closer, stopped, s);
 *
 * The closer takes over h->data of the handles it closes: callbacks that
 * libuv still runs before the close callback (writes cancelled with
 * UV_ECANCELED) must not read it. Loop thread only. */
#pragma once

#include <stdbool.h>
#include <uv.h>

struct scout_closer {
	unsigned pending; /* handles and holds not yet ended */
	bool waiting;
	void (*done)(void *arg);
	void *arg;
};

void scout_closer_init(struct scout_closer *c);
/* Closes h (if it is not closing already) and counts it until its close
 * callback. */
void scout_closer_close(struct scout_closer *c, uv_handle_t *h);
/* Something else the owner waits for; each hold takes one release. */
void scout_closer_hold(struct scout_closer *c);
void scout_closer_release(struct scout_closer *c);
/* done(arg) runs once, when everything handed over has ended: from a later
 * close callback, or right here when nothing is pending. The closer may be
 * freed inside done. */
void scout_closer_wait(struct scout_closer *c, void (*done)(void *arg), void *arg);
/* Whether scout_closer_wait was called and done has not run yet. */
bool scout_closer_busy(const struct scout_closer *c);
