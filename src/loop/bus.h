/* The in-process message bus. Modules never call each other: they publish
 * and subscribe here, and ask with request/reply.
 *
 * - publish copies the payload once; each handler borrows it for the call.
 * - Delivery is asynchronous on the loop, never inside publish, FIFO per
 *   subscriber. Each subscriber has a bounded queue: when it is full the
 *   message is dropped for that subscriber, its topic's drop counter grows
 *   and publish returns -ENOBUFS.
 * - A request goes to the topic's first subscriber and carries a correlation
 *   id and a deadline. The asker's callback runs exactly once: with the
 *   reply, or with -ETIMEDOUT when the deadline passes first, or -ENOENT when
 *   nobody serves the topic. A reply after the deadline is refused (-ENOENT).
 * - Unsubscribing, also from inside a handler, is safe at any time.
 *
 * Payloads are msgpack; each topic's payload is documented below, and a
 * receiver checks every type and length (never trusts the sender). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum scout_topic {
	/* health.report (published by health, every interval)
	 * map {
	 *   "ok": bool,              all checks passed
	 *   "problems": [str...],    one line per failed check, empty when ok
	 *   "time": uint,            unix seconds of the sample
	 *   "loop_lag_ms": uint,     worst timer lateness in the interval
	 *   "disk_free": uint,       bytes free for the agent in state_dir
	 *   "disk_total": uint,      bytes in the state_dir file system
	 *   "rss": uint,             resident set size in bytes
	 *   "store_used": uint,      bytes used in the store's map
	 *   "store_map": uint        bytes in the store's map
	 * } */
	SCOUT_TOPIC_HEALTH_REPORT,
	/* health.query (request, payload nil; served by health)
	 * reply: the latest health.report map, or -EAGAIN before the first. */
	SCOUT_TOPIC_HEALTH_QUERY,
	/* snmp.device (published by snmp when a printer is found or re-read)
	 * map {
	 *   "event": "found" | "updated",
	 *   "device": map, the device record of docs/snmp.md
	 * } */
	SCOUT_TOPIC_SNMP_DEVICE,
	/* snmp.meters (published by snmp when a meter changed)
	 * map {
	 *   "id": str,              the device's key (s:SERIAL, m:MAC or i:IP)
	 *   "ip": str, "serial": str (when known),
	 *   "time": uint,           unix seconds of the reading
	 *   "total", "mono", "color": uint (those the device reports),
	 *   "reset": bool           a meter went down: a reset, not negative use
	 * } */
	SCOUT_TOPIC_SNMP_METERS,
	/* snmp.alert (published by snmp when a printer's errors or alerts change)
	 * map {
	 *   "id": str, "ip": str, "serial": str (when known), "time": uint,
	 *   "errors": [str...],     hrPrinterDetectedErrorState names
	 *   "alerts": [map...]      prtAlertTable rows: code, severity, group, text
	 * } */
	SCOUT_TOPIC_SNMP_ALERT,
	/* snmp.lookup (request, served by snmp)
	 * map { "ip": str } or map { "serial": str }
	 * reply: the device record map, or -ENOENT when no printer matches. */
	SCOUT_TOPIC_SNMP_LOOKUP,
	SCOUT_TOPIC_COUNT
};

const char *scout_topic_name(enum scout_topic topic);

struct scout_msg {
	enum scout_topic topic;
	uint64_t corr; /* non-zero: a request, answer with scout_bus_reply() */
	int status;    /* replies: 0 or a negative errno */
	const void *data;
	size_t len;
};

struct scout_topic_stats {
	uint64_t published;
	uint64_t delivered;
	uint64_t dropped;   /* queue full */
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

/* queue_limit 0 means SCOUT_BUS_QUEUE_DEFAULT. */
int scout_bus_subscribe(struct scout_bus *bus, enum scout_topic topic, scout_bus_handler handler, void *arg,
			size_t queue_limit, struct scout_sub **ret_sub);
void scout_bus_unsubscribe(struct scout_sub *sub);

/* 0, -ENOBUFS when a subscriber's queue was full (the others still get
 * it), -EINVAL for a bad topic, -ENOMEM. */
int scout_bus_publish(struct scout_bus *bus, enum scout_topic topic, const void *data, size_t len);

/* Asks the topic's first subscriber. On 0, cb runs exactly once later.
 * -EAGAIN when too many requests are pending, -ENOBUFS when the
 * responder's queue is full; then cb never runs. */
int scout_bus_request(struct scout_bus *bus, enum scout_topic topic, const void *data, size_t len,
		      uint64_t timeout_ms, scout_bus_reply_cb cb, void *arg, uint64_t *ret_corr);
/* Answers request corr (from scout_msg.corr), now or later. -ENOENT when
 * the request is no longer pending (deadline passed or cancelled). */
int scout_bus_reply(struct scout_bus *bus, uint64_t corr, int status, const void *data, size_t len);
/* The asker gives up (for example when stopping): cb will not run. */
void scout_bus_cancel(struct scout_bus *bus, uint64_t corr);

const struct scout_topic_stats *scout_bus_stats(const struct scout_bus *bus, enum scout_topic topic);
