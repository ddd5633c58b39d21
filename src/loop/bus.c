/* Bus implementation: a table of declared topics (each holds its
 * subscriber list and counters, so publish goes from handle to subscribers
 * with no lookup), one refcounted copy per published message, a ring of
 * message pointers per subscriber, a list of subscribers with work, and one
 * uv_idle handle that drains them on the loop. Pending requests sit in a list
 * in request order (a reply finds its request from the nearer end) and each
 * holds a deadline in the deadline heap (timer.h); completions (replies,
 * timeouts, "no responder") go through the same dispatch pass as messages,
 * so nothing ever runs inside the call that caused it. Every list is a
 * list.h list. */
#include "bus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "closer.h"
#include "list.h"
#include "log.h"
#include "timer.h"

struct scout_topic {
	struct scout_topic_decl decl;
	const char *owner;
	struct scout_list subs; /* scout_sub.link, in subscription order */
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
	/* first: publish walks the topic's list, and at offset 0 the walk
	 * needs no arithmetic */
	struct scout_list link; /* the topic's list; the graveyard once dead */
	struct scout_bus *bus;
	struct scout_topic *topic;
	scout_bus_handler handler;
	void *arg;
	struct scout_list ready_link; /* the ready list, or the batch a dispatch pass walks */
	bool dead;
	size_t limit, mask, head, count;
	struct bmsg **ring;
};

struct pending {
	uint64_t corr;
	struct scout_deadline deadline; /* armed while pending, in bus->timers */
	struct scout_bus *bus;
	struct scout_topic *topic;
	scout_bus_reply_cb cb;
	void *arg;
	struct scout_list link; /* pending list (oldest first), or done list */
	int status;
	struct bmsg *reply;
};

struct scout_bus {
	uv_loop_t *loop;
	uv_idle_t idle;
	struct scout_timers timers;
	struct scout_closer closer;
	struct scout_topic **topics;
	size_t ntopics, topics_cap;
	struct scout_list ready;     /* subscribers with messages */
	struct scout_list graveyard; /* unsubscribed, freed after the pass */
	struct scout_list pending;   /* in corr order, so newest last */
	struct scout_list done;      /* completions to deliver, in order */
	size_t npending, ndone;
	uint64_t next_corr;
	bool dispatching, idle_on, closing;
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
	scout_list_init(&t->subs);
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
	/* scout_list_linked() without its NULL test: ready_link is always
	 * initialised, and this runs once per message and subscriber */
	if (s->ready_link.next != &s->ready_link)
		return;
	scout_list_insert_tail(&s->bus->ready, &s->ready_link);
	kick(s->bus);
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

static void bury_all(struct scout_bus *bus)
{
	struct scout_sub *s;

	while ((s = scout_list_first_entry(&bus->graveyard, struct scout_sub, link))) {
		scout_list_remove(&s->link);
		sub_free(s);
	}
}

/* Inline: a dispatch pass calls it every time, and the graveyard is
 * nearly always empty. */
static inline void bury(struct scout_bus *bus)
{
	if (!scout_list_empty(&bus->graveyard))
		bury_all(bus);
}

/* ---- pending requests ------------------------------------------------- */

/* Moves p from pending to the done list, to be delivered by dispatch. */
static void complete(struct scout_bus *bus, struct pending *p, int status, struct bmsg *reply)
{
	scout_timers_disarm(&bus->timers, &p->deadline);
	scout_list_remove(&p->link);
	bus->npending--;
	p->status = status;
	p->reply = reply;
	scout_list_insert_tail(&bus->done, &p->link);
	bus->ndone++;
	kick(bus);
}

/* A request's deadline passed before its reply: the heap fires them in
 * deadline order, each exactly once, and disarms it before the call. */
static void on_deadline(struct scout_deadline *d)
{
	struct pending *p = scout_container_of(d, struct pending, deadline);

	p->topic->stats.timed_out++;
	complete(p->bus, p, -ETIMEDOUT, NULL);
}

/* The pending list is in corr order (corr grows, requests join at the tail
 * and leave from anywhere), so the search starts from the nearer end and
 * stops where corr would be: answers usually come in the order asked (the
 * oldest, at the head) or quickly (the newest, at the tail). */
static struct pending *pend_find(struct scout_bus *bus, uint64_t corr)
{
	struct pending *first = scout_list_first_entry(&bus->pending, struct pending, link), *p;
	struct scout_list *l;

	if (!first)
		return NULL;
	struct pending *last = scout_list_entry(bus->pending.prev, struct pending, link);
	if (corr < first->corr || corr > last->corr)
		return NULL;
	if (corr - first->corr <= last->corr - corr) {
		for (l = &first->link; l != &bus->pending; l = l->next) {
			p = scout_list_entry(l, struct pending, link);
			if (p->corr >= corr)
				return p->corr == corr ? p : NULL;
		}
	} else {
		for (l = &last->link; l != &bus->pending; l = l->prev) {
			p = scout_list_entry(l, struct pending, link);
			if (p->corr <= corr)
				return p->corr == corr ? p : NULL;
		}
	}
	return NULL;
}

static void pend_free(struct pending *p)
{
	bmsg_unref(p->reply);
	free(p);
}

/* ---- dispatch --------------------------------------------------------- */

static void deliver_done(struct scout_bus *bus)
{
	/* Completions present now, popped one by one so that a callback may
	 * still cancel any other request. */
	size_t n = bus->ndone;
	struct pending *p;

	while (n-- && (p = scout_list_first_entry(&bus->done, struct pending, link))) {
		scout_list_remove(&p->link);
		bus->ndone--;
		if (p->reply) {
			struct scout_msg msg = {p->topic, p->corr, p->status, p->reply->data, p->reply->len};
			p->cb(p->status, &msg, p->arg);
		} else {
			p->cb(p->status, NULL, p->arg);
		}
		pend_free(p);
	}
}

static void on_idle(uv_idle_t *h)
{
	struct scout_bus *bus = h->data;
	struct scout_list batch;
	struct scout_sub *s;

	bus->dispatching = true;
	deliver_done(bus);

	/* Serve each subscriber what it had when the pass began; messages
	 * published by handlers wait for the next pass, so I/O is not starved.
	 * The ready list moves to a local batch: a subscriber that becomes
	 * ready again goes back on bus->ready, and one that unsubscribes
	 * unlinks itself from whichever of the two holds it. */
	scout_list_init(&batch);
	if (!scout_list_empty(&bus->ready)) {
		batch.next = bus->ready.next;
		batch.prev = bus->ready.prev;
		batch.next->prev = batch.prev->next = &batch;
		scout_list_init(&bus->ready);
	}
	while ((s = scout_list_first_entry(&batch, struct scout_sub, ready_link))) {
		size_t n = s->count;

		scout_list_remove(&s->ready_link);
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
	}

	bus->dispatching = false;
	bury(bus);
	if (scout_list_empty(&bus->ready) && scout_list_empty(&bus->done) && bus->idle_on) {
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
	scout_list_init(&bus->ready);
	scout_list_init(&bus->graveyard);
	scout_list_init(&bus->pending);
	scout_list_init(&bus->done);
	uv_idle_init(loop, &bus->idle);
	bus->idle.data = bus;
	scout_timers_init(loop, &bus->timers);
	scout_closer_init(&bus->closer);
	*ret_bus = bus;
	return 0;
}

static void on_closed(void *arg)
{
	struct scout_bus *bus = arg;
	void (*done)(void *) = bus->close_done;
	void *done_arg = bus->close_arg;

	for (size_t i = 0; i < bus->ntopics; i++)
		free(bus->topics[i]);
	free(bus->topics);
	free(bus);
	if (done)
		done(done_arg);
}

void scout_bus_close(struct scout_bus *bus, void (*done)(void *arg), void *arg)
{
	struct pending *p;

	/* first: the heap forgets the pending requests unfired before they
	 * are freed */
	scout_timers_close(&bus->timers, &bus->closer);
	while ((p = scout_list_first_entry(&bus->pending, struct pending, link))) {
		scout_list_remove(&p->link);
		pend_free(p);
	}
	while ((p = scout_list_first_entry(&bus->done, struct pending, link))) {
		scout_list_remove(&p->link);
		pend_free(p);
	}
	bus->npending = bus->ndone = 0;
	for (size_t t = 0; t < bus->ntopics; t++) {
		struct scout_sub *s;
		while ((s = scout_list_first_entry(&bus->topics[t]->subs, struct scout_sub, link))) {
			log_warn("bus: %s: subscriber still present at close", scout_topic_name(bus->topics[t]));
			scout_bus_unsubscribe(s);
		}
	}
	bus->dispatching = false;
	bury(bus);
	bus->closing = true;
	bus->close_done = done;
	bus->close_arg = arg;
	scout_closer_close(&bus->closer, (uv_handle_t *)&bus->idle);
	scout_closer_wait(&bus->closer, on_closed, bus);
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
	/* two servers of one request would answer by start order, silently */
	if (topic->decl.kind == SCOUT_TOPIC_REQUEST && !scout_list_empty(&topic->subs))
		return -EBUSY;
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
	scout_list_init(&s->ready_link);
	scout_list_insert_tail(&topic->subs, &s->link);
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
	scout_list_remove(&s->link);
	/* off the ready list or the batch being walked; freed after the
	 * dispatch pass, since the dispatcher may be in its handler now */
	scout_list_remove(&s->ready_link);
	scout_list_insert_tail(&bus->graveyard, &s->link);
	if (!bus->dispatching)
		bury(bus);
}

int scout_bus_publish(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len)
{
	uint32_t accepted = 0;
	bool full = false;
	struct scout_sub *s;
	struct bmsg *m;

	(void)bus;
	if (!topic || topic->decl.kind != SCOUT_TOPIC_EVENT)
		return -EINVAL;
	topic->stats.published++;
	scout_list_foreach (s, &topic->subs, link) {
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
	scout_list_foreach (s, &topic->subs, link)
		if (s->count < s->limit)
			push(s, m);
	return full ? -ENOBUFS : 0;
}

int scout_bus_request(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len,
		      uint64_t timeout_ms, scout_bus_reply_cb cb, void *arg, uint64_t *ret_corr)
{
	struct scout_sub *s;
	struct pending *p;
	struct bmsg *m = NULL;

	if (!topic || topic->decl.kind != SCOUT_TOPIC_REQUEST || !cb)
		return -EINVAL;
	if (bus->npending >= SCOUT_BUS_MAX_PENDING)
		return -EAGAIN;
	s = scout_list_first_entry(&topic->subs, struct scout_sub, link);
	if (s && s->count >= s->limit) {
		topic->stats.dropped++;
		return -ENOBUFS;
	}
	/* not calloc: every field is set here, and the request path is hot */
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->corr = bus->next_corr;
	p->bus = bus;
	p->topic = topic;
	p->cb = cb;
	p->arg = arg;
	p->status = 0;
	p->reply = NULL;
	scout_deadline_init(&p->deadline, on_deadline);
	if (s) {
		/* armed before anything is queued: the only step that can fail */
		m = bmsg_new(topic, p->corr, 0, data, len, 1);
		if (!m || scout_timers_arm(&bus->timers, &p->deadline, uv_now(bus->loop) + timeout_ms) < 0) {
			free(m);
			free(p);
			return -ENOMEM;
		}
		push(s, m);
	}
	bus->next_corr++;
	scout_list_insert_tail(&bus->pending, &p->link);
	bus->npending++;
	topic->stats.requests++;
	if (!s)
		complete(bus, p, -ENOENT, NULL);
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
	return 0;
}

void scout_bus_cancel(struct scout_bus *bus, uint64_t corr)
{
	struct pending *p = pend_find(bus, corr);

	if (p) {
		scout_timers_disarm(&bus->timers, &p->deadline);
		scout_list_remove(&p->link);
		bus->npending--;
		pend_free(p);
		return;
	}
	scout_list_foreach (p, &bus->done, link) {
		if (p->corr != corr)
			continue;
		scout_list_remove(&p->link);
		bus->ndone--;
		pend_free(p);
		return;
	}
}
