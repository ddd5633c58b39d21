/* The in-process message bus. Modules never call each other: they publish
 * and subscribe here, and ask with request/reply.
 *
 * - publish copies the payload once; each handler borrows it for the call.
 * - Delivery is asynchronous on the loop, never inside publish, FIFO per
 *   subscriber. Each subscriber has a bounded queue: when it is full the
 *   message is dropped for that subscriber, its topic's drop counter grows
 *   and publish returns -ENOBUFS.
 * - A request topic has one server, its only subscriber (two modules that
 *   can serve it are alternatives: the second to subscribe gets -EBUSY),
 *   and a request carries a correlation id and a deadline. The asker's
 *   callback runs exactly once: with the reply, or with -ETIMEDOUT when the deadline passes first, or -ENOENT when
 *   nobody serves the topic. A reply after the deadline is refused (-ENOENT).
 * - Unsubscribing, also from inside a handler, is safe at any time.
 *
 * Payloads are msgpack; each topic's payload is documented where it is
 * declared (and in docs/bus.md), and a receiver checks every type and
 * length (never trusts the sender). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* A topic is declared by the module that publishes or serves it, from its
 * descriptor's table (the host declares them all when it starts), and
 * looked up by name once: publish, subscribe and request take the handle,
 * so the hot path does no string work. The core declares none of a
 * module's topics. */
enum scout_topic_kind {
	SCOUT_TOPIC_EVENT,   /* published to every subscriber */
	SCOUT_TOPIC_REQUEST, /* asked with scout_bus_request, served by one subscriber */
};

struct scout_topic_decl {
	const char *name; /* "module.what" */
	enum scout_topic_kind kind;
	const char *payload; /* the msgpack payload (and a request's reply), for docs/bus.md and help */
};

struct scout_topic;

struct scout_msg {
	struct scout_topic *topic;
	uint64_t corr; /* non-zero: a request, answer with scout_bus_reply() */
	int status;    /* replies: 0 or a negative errno */
	const void *data;
	size_t len;
};

struct scout_topic_stats {
	uint64_t published;
	uint64_t delivered;
	uint64_t dropped; /* queue full */
	uint64_t requests;
	uint64_t replies;
	uint64_t timed_out; /* deadline passed before the reply */
};

struct scout_bus;
struct scout_sub;

/* msg and its data are borrowed until the handler returns. */
typedef void (*scout_bus_handler)(const struct scout_msg *msg, void *arg);
/* reply is NULL when no answer came (-ETIMEDOUT, -ENOENT); else its status
 * is the responder's. Borrowed until return. */
typedef void (*scout_bus_reply_cb)(int status, const struct scout_msg *reply, void *arg);

#define SCOUT_BUS_QUEUE_DEFAULT 1024
#define SCOUT_BUS_MAX_PENDING 4096

int scout_bus_new(uv_loop_t *loop, struct scout_bus **ret_bus);
/* Drops what is queued, closes the bus's handles and frees it; done runs
 * once the handles are closed. Every subscriber must be gone. */
void scout_bus_close(struct scout_bus *bus, void (*done)(void *arg), void *arg);

/* Declares a topic owned by owner (a module's name). The strings are
 * borrowed for the bus's life (static tables). -EEXIST when the name is
 * declared already (*ret_topic, if not NULL, is then the existing one),
 * -EINVAL for an empty name. */
int scout_bus_declare(struct scout_bus *bus, const struct scout_topic_decl *decl, const char *owner,
		      struct scout_topic **ret_topic);
/* The declared topic of that name, or NULL. */
struct scout_topic *scout_bus_find(const struct scout_bus *bus, const char *name);
/* Declared topics in declaration order: i from 0 to scout_bus_topics()-1. */
size_t scout_bus_topics(const struct scout_bus *bus);
struct scout_topic *scout_bus_topic_at(const struct scout_bus *bus, size_t i);

const char *scout_topic_name(const struct scout_topic *topic);
const char *scout_topic_owner(const struct scout_topic *topic);
const struct scout_topic_decl *scout_topic_decl(const struct scout_topic *topic);
const struct scout_topic_stats *scout_topic_stats(const struct scout_topic *topic);

/* queue_limit 0 means SCOUT_BUS_QUEUE_DEFAULT. -EBUSY for a request topic
 * that has its server already, -EINVAL for bad arguments, -ENOMEM. */
int scout_bus_subscribe(struct scout_bus *bus, struct scout_topic *topic, scout_bus_handler handler, void *arg,
			size_t queue_limit, struct scout_sub **ret_sub);
void scout_bus_unsubscribe(struct scout_sub *sub);

/* 0, -ENOBUFS when a subscriber's queue was full (the others still get
 * it), -EINVAL for a NULL topic, -ENOMEM. */
int scout_bus_publish(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len);

/* Asks the topic's server. On 0, cb runs exactly once later.
 * -EAGAIN when too many requests are pending, -ENOBUFS when the
 * responder's queue is full; then cb never runs. */
int scout_bus_request(struct scout_bus *bus, struct scout_topic *topic, const void *data, size_t len,
		      uint64_t timeout_ms, scout_bus_reply_cb cb, void *arg, uint64_t *ret_corr);
/* Answers request corr (from scout_msg.corr), now or later. -ENOENT when
 * the request is no longer pending (deadline passed or cancelled). */
int scout_bus_reply(struct scout_bus *bus, uint64_t corr, int status, const void *data, size_t len);
/* The asker gives up (for example when stopping): cb will not run. */
void scout_bus_cancel(struct scout_bus *bus, uint64_t corr);
