/* Bus implementation: a table of declared topics (each holds its
 * subscriber list and counters, so publish goes from handle to subscribers
 * with no lookup), one refcounted copy per published message, a ring of
 * message pointers per subscriber, a list of subscribers with work, and one
 * uv_idle handle that drains them on the loop. Pending requests sit in a list
 * sorted by deadline under one uv_timer; completions (replies, timeouts,
 * "no responder") go through the same dispatch pass as messages, so nothing
 * ever runs inside the call that caused it. */
#include "bus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct scout_topic {
	struct scout_topic_decl decl;
	const char *owner;
	struct scout_sub *head, *tail; /* subscribers, in subscription order */
	struct scout_topic_stats stats;
};

struct bmsg {
	uint32_t refs;
	struct scout_topic *topic;
	uint64_t corr;
	int status;
	size_t len;
	unsigned char data[];
};

struct scout_sub {
	struct scout_bus *bus;
	struct scout_topic *topic;
	scout_bus_handler handler;
	void *arg;
	struct scout_sub *prev, *next; /* topic list, in subscription order */
	struct scout_sub *ready_next;  /* ready list, or the chain a dispatch pass walks */
	struct scout_sub *grave_next;  /* graveyard; not ready_next, which a pass may be walking */
	bool ready, dead;
	size_t limit, mask, head, count;
	struct bmsg **ring;
};

struct pending {
	uint64_t corr;
	uint64_t deadline; /* uv_now() milliseconds */
	struct scout_topic *topic;
	scout_bus_reply_cb cb;
	void *arg;
	struct pending *prev, *next; /* pending list by deadline, or done list */
	int status;
	struct bmsg *reply;
};

struct scout_bus {
	uv_loop_t *loop;
	uv_idle_t idle;
	uv_timer_t timer;
	struct scout_topic **topics;
	size_t ntopics, topics_cap;
	struct scout_sub *ready_head, *ready_tail;
	struct scout_sub *graveyard;
	struct pending *pend_head, *pend_tail;
	struct pending *done_head, *done_tail;
	size_t npending;
	uint64_t next_corr;
	bool dispatching, idle_on;
	int closing; /* handles still to close */
	void (*close_done)(void *);
	void *close_arg;
};

const char *scout_topic_name(const struct scout_topic *topic)
{
	return topic ? topic->decl.name : "?";
}

const char *scout_topic_owner(const struct scout_topic *topic)
{
	return topic->owner;
}

const struct scout_topic_decl *scout_topic_decl(const struct scout_topic *topic)
{
	return &topic->decl;
}

const struct scout_topic_stats *scout_topic_stats(const struct scout_topic *topic)
{
	return &topic->stats;
}

size_t scout_bus_topics(const struct scout_bus *bus)
{
	return bus->ntopics;
}

struct scout_topic *scout_bus_topic_at(const struct scout_bus *bus, size_t i)
{
	return i < bus->ntopics ? bus->topics[i] : NULL;
}

/* A linear search: it runs once per name at start, never per message. */
struct scout_topic *scout_bus_find(const struct scout_bus *bus, const char *name)
{
	for (size_t i = 0; i < bus->ntopics; i++)
		if (strcmp(bus->topics[i]->decl.name, name) == 0)
			return bus->topics[i];
	return NULL;
}

int scout_bus_declare(struct scout_bus *bus, const struct scout_topic_decl *decl, const char *owner,
		      struct scout_topic **ret_topic)
{
	struct scout_topic *t;

	if (!decl || !decl->name || !*decl->name)
		return -EINVAL;
	t = scout_bus_find(bus, decl->name);
	if (t) {
		if (ret_topic)
			*ret_topic = t;
		return -EEXIST;
	}
	if (bus->ntopics == bus->topics_cap) {
		size_t cap = bus->topics_cap ? bus->topics_cap * 2 : 16;
		struct scout_topic **nt = reallocarray(bus->topics, cap, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		bus->topics = nt;
		bus->topics_cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->decl = *decl;
	t->owner = owner ? owner : "";
	bus->topics[bus->ntopics++] = t;
	if (ret_topic)
		*ret_topic = t;
	return 0;
}

static struct bmsg *bmsg_new(struct scout_topic *topic, uint64_t corr, int status, const void *data, size_t len,
			     uint32_t refs)
{
	struct bmsg *m = malloc(sizeof(*m) + len);

	if (!m)
		return NULL;
	m->refs = refs;
	m->topic = topic;
	m->corr = corr;
	m->status = status;
	m->len = len;
	if (len)
		memcpy(m->data, data, len);
	return m;
}

static void bmsg_unref(struct bmsg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

static void kick(struct scout_bus *bus);

static void mark_ready(struct scout_sub *s)
{
	struct scout_bus *bus = s->bus;

	if (s->ready)
		return;
	s->ready = true;
	s->ready_next = NULL;
	if (bus->ready_tail)
		bus->ready_tail->ready_next = s;
	else
		bus->ready_head = s;
	bus->ready_tail = s;
	kick(bus);
}

static void push(struct scout_sub *s, struct bmsg *m)
{
	s->ring[(s->head + s->count) & s->mask] = m;
	s->count++;
	mark_ready(s);
}

static void drain_ring(struct scout_sub *s)
{
	while (s->count) {
		bmsg_unref(s->ring[s->head]);
		s->head = (s->head + 1) & s->mask;
		s->count--;
	}
}

static void sub_free(struct scout_sub *s)
{
	drain_ring(s);
	free(s->ring);
	free(s);
}

/* Drops dead subscribers from the ready list (they may have been queued
 * before they died). */
static void prune_ready(struct scout_bus *bus)
{
	struct scout_sub **pp = &bus->ready_head, *last = NULL;

	while (*pp) {
		struct scout_sub *s = *pp;
		if (s->dead) {
			*pp = s->ready_next;
			s->ready = false;
		} else {
			last = s;
			pp = &s->ready_next;
		}
	}
	bus->ready_tail = last;
}

static void bury(struct scout_bus *bus)
{
	if (!bus->graveyard)
		return;
	prune_ready(bus);
	while (bus->graveyard) {
		struct scout_sub *s = bus->graveyard;
		bus->graveyard = s->grave_next;
		sub_free(s);
	}
}

/* ---- pending requests ------------------------------------------------- */

static void pend_unlink(struct scout_bus *bus, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		bus->pend_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		bus->pend_tail = p->prev;
	p->prev = p->next = NULL;
	bus->npending--;
}

static void on_timer(uv_timer_t *t);

static void arm_timer(struct scout_bus *bus)
{
	if (bus->closing)
		return;
	if (!bus->pend_head) {
		uv_timer_stop(&bus->timer);
		return;
	}
	uint64_t now = uv_now(bus->loop), at = bus->pend_head->deadline;
	uv_timer_start(&bus->timer, on_timer, at > now ? at - now : 0, 0);
}

/* Moves p from pending to the done list, to be delivered by dispatch. */
static void complete(struct scout_bus *bus, struct pending *p, int status, struct bmsg *reply)
{
	pend_unlink(bus, p);
	p->status = status;
	p->reply = reply;
	p->next = NULL;
	if (bus->done_tail)
		bus->done_tail->next = p;
	else
		bus->done_head = p;
	bus->done_tail = p;
	kick(bus);
}

static void on_timer(uv_timer_t *t)
{
	struct scout_bus *bus = t->data;
	uint64_t now = uv_now(bus->loop);

	while (bus->pend_head && bus->pend_head->deadline <= now) {
		struct pending *p = bus->pend_head;
		p->topic->stats.timed_out++;
		complete(bus, p, -ETIMEDOUT, NULL);
	}
	arm_timer(bus);
}

static struct pending *pend_find(struct scout_bus *bus, uint64_t corr)
{
	/* newest first: answers usually come quickly */
	for (struct pending *p = bus->pend_tail; p; p = p->prev)
		if (p->corr == corr)
			return p;
	return NULL;
}

/* ---- dispatch --------------------------------------------------------- */

static void on_idle(uv_idle_t *h)
{
	struct scout_bus *bus = h->data;
	struct scout_sub *s;

	bus->dispatching = true;

	/* Completions present now, popped one by one so that a callback may
	 * still cancel any other request. */
	size_t ndone = 0;
	for (struct pending *p = bus->done_head; p; p = p->next)
		ndone++;
	while (ndone-- && bus->done_head) {
		struct pending *p = bus->done_head;
		bus->done_head = p->next;
		if (!bus->done_head)
			bus->done_tail = NULL;
		if (p->reply) {
			struct scout_msg msg = {p->topic, p->corr, p->status, p->reply->data, p->reply->len};
			p->cb(p->status, &msg, p->arg);
		} else {
			p->cb(p->status, NULL, p->arg);
		}
		bmsg_unref(p->reply);
		free(p);
	}

	/* Serve each subscriber what it had when the pass began; messages
	 * published by handlers wait for the next pass, so I/O is not starved. */
	s = bus->ready_head;
	bus->ready_head = bus->ready_tail = NULL;
	while (s) {
		struct scout_sub *next = s->ready_next;
		size_t n = s->count;

		s->ready = false;
		while (n-- && !s->dead && s->count) {
			struct bmsg *m = s->ring[s->head];
			s->head = (s->head + 1) & s->mask;
			s->count--;
			struct scout_msg msg = {m->topic, m->corr, 0, m->data, m->len};
			m->topic->stats.delivered++;
			s->handler(&msg, s->arg);
			bmsg_unref(m);
		}
		if (!s->dead && s->count)
			mark_ready(s);
		s = next;
	}

	bus->dispatching = false;
	bury(bus);
	if (!bus->ready_head && !bus->done_head && bus->idle_on) {
		uv_idle_stop(&bus->idle);
		bus->idle_on = false;
	}
}

static void kick(struct scout_bus *bus)
{
	if (!bus->idle_on && !bus->closing) {
		uv_idle_start(&bus->idle, on_idle);
		bus->idle_on = true;
	}
}

/* ---- public API ------------------------------------------------------- */

int scout_bus_new(uv_loop_t *loop, struct scout_bus **ret_bus)
{
	struct scout_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return -ENOMEM;
	bus->loop = loop;
	bus->next_corr = 1;
	uv_idle_init(loop, &bus->idle);
	uv_timer_init(loop, &bus->timer);
	bus->idle.data = bus->timer.data = bus;
	*ret_bus = bus;
	return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct scout_bus *bus = h->data;

	if (--bus->closing == 0) {
		void (*done)(void *) = bus->close_done;
		void *arg = bus->close_arg;
		for (size_t i = 0; i < bus->ntopics; i++)
			free(bus->topics[i]);
		free(bus->topics);
		free(bus);
		if (done)
			done(arg);
	}
}

void scout_bus_close(struct scout_bus *bus, void (*done)(void *arg), void *arg)
{
	while (bus->pend_head) {
		struct pending *p = bus->pend_head;
		pend_unlink(bus, p);
		free(p);
	}
	while (bus->done_head) {
		struct pending *p = bus->done_head;
		bus->done_head = p->next;
		bmsg_unref(p->reply);
		free(p);
	}
	for (size_t t = 0; t < bus->ntopics; t++)
		while (bus->topics[t]->head) {
			struct scout_sub *s = bus->topics[t]->head;
			log_warn("bus: %s: subscriber still present at close", scout_topic_name(bus->topics[t]));
			scout_bus_unsubscribe(s);
		}
	bus->dispatching = false;
	bury(bus);
	bus->closing = 2;
	bus->close_done = done;
	bus->close_arg = arg;
	uv_close((uv_handle_t *)&bus->idle, on_handle_closed);
	uv_close((uv_handle_t *)&bus->timer, on_handle_closed);
}

int scout_bus_subscribe(struct scout_bus *bus, struct scout_topic *topic, scout_bus_handler handler, void *arg,
			size_t queue_limit, struct scout_sub **ret_sub)
{
	struct scout_sub *s;
	size_t cap = 1;

	if (!topic || !handler)
		return -EINVAL;
	if (!queue_limit)
		queue_limit = SCOUT_BUS_QUEUE_DEFAULT;
	if (queue_limit > (1u << 24))
		return -EINVAL;
	while (cap < queue_limit)
		cap <<= 1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ring = malloc(cap * sizeof(*s->ring));
	if (!s->ring) {
		free(s);
		return -ENOMEM;
	}
	s->bus = bus;
	s->topic = topic;
	s->handler = handler;
	s->arg = arg;
	s->limit = queue_limit;
	s->mask = cap - 1;
	s->prev = topic->tail;
	if (s->prev)
		s->prev->next = s;
	else
		topic->head = s;
	topic->tail = s;
	*ret_sub = s;
	return 0;
}

void scout_bus_unsubscribe(struct scout_sub *s)
{
	struct scout_bus *bus;

	if (!s || s->dead)
		return;
	bus = s->bus;
	s->dead = true;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->topic->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		s->topic->tail = s->prev;
	/* Freed after the dispatch pass: the dispatcher may hold it now. */
	if (s->ready)
		prune_ready(bus);
	s->grave_next = bus->graveyard;
	bus->graveyard = s;
	if (!bus->dispatching)
		bury(bus);
}

int scout_bus_publish(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len)
{
	uint32_t accepted = 0;
	bool full = false;
	struct bmsg *m;

	if (!topic || topic->decl.kind != SCOUT_TOPIC_EVENT)
		return -EINVAL;
	topic->stats.published++;
	for (struct scout_sub *s = topic->head; s; s = s->next) {
		if (s->count < s->limit)
			accepted++;
		else {
			topic->stats.dropped++;
			full = true;
		}
	}
	if (!accepted)
		return full ? -ENOBUFS : 0;
	m = bmsg_new(topic, 0, 0, data, len, accepted);
	if (!m)
		return -ENOMEM;
	for (struct scout_sub *s = topic->head; s; s = s->next)
		if (s->count < s->limit)
			push(s, m);
	return full ? -ENOBUFS : 0;
}

int scout_bus_request(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len,
		      uint64_t timeout_ms, scout_bus_reply_cb cb, void *arg, uint64_t *ret_corr)
{
	struct scout_sub *s;
	struct pending *p;

	if (!topic || topic->decl.kind != SCOUT_TOPIC_REQUEST || !cb)
		return -EINVAL;
	if (bus->npending >= SCOUT_BUS_MAX_PENDING)
		return -EAGAIN;
	s = topic->head;
	if (s && s->count >= s->limit) {
		topic->stats.dropped++;
		return -ENOBUFS;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->corr = bus->next_corr++;
	p->deadline = uv_now(bus->loop) + timeout_ms;
	p->topic = topic;
	p->cb = cb;
	p->arg = arg;
	if (s) {
		struct bmsg *m = bmsg_new(topic, p->corr, 0, data, len, 1);
		if (!m) {
			free(p);
			return -ENOMEM;
		}
		push(s, m);
	}

	/* insert by deadline, from the tail: most requests share a timeout */
	struct pending *after = bus->pend_tail;
	while (after && after->deadline > p->deadline)
		after = after->prev;
	p->prev = after;
	p->next = after ? after->next : bus->pend_head;
	if (p->next)
		p->next->prev = p;
	else
		bus->pend_tail = p;
	if (after)
		after->next = p;
	else
		bus->pend_head = p;
	bus->npending++;
	topic->stats.requests++;

	if (!s)
		complete(bus, p, -ENOENT, NULL);
	arm_timer(bus);
	if (ret_corr)
		*ret_corr = p->corr;
	return 0;
}

int scout_bus_reply(struct scout_bus *bus, uint64_t corr, int status, const void *data, size_t len)
{
	struct pending *p = pend_find(bus, corr);
	struct bmsg *m;

	if (!p)
		return -ENOENT;
	if (status > 0)
		status = -status;
	m = bmsg_new(p->topic, corr, status, data, len, 1);
	if (!m)
		return -ENOMEM;
	p->topic->stats.replies++;
	complete(bus, p, status, m);
	arm_timer(bus);
	return 0;
}

void scout_bus_cancel(struct scout_bus *bus, uint64_t corr)
{
	struct pending *p = pend_find(bus, corr);

	if (p) {
		pend_unlink(bus, p);
		free(p);
		arm_timer(bus);
		return;
	}
	for (struct pending **pp = &bus->done_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if ((*pp)->corr != corr)
			continue;
		p = *pp;
		*pp = p->next;
		if (bus->done_tail == p)
			bus->done_tail = prev;
		bmsg_unref(p->reply);
		free(p);
		return;
	}
}
