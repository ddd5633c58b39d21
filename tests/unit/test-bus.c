/* Unit tests for src/loop/bus.c on a real uv loop: asynchronous FIFO
 * delivery, copied payloads, bounded queues, unsubscribing from handlers,
 * request/reply with deadlines, cancel, the counters, and a clean close
 * (uv_loop_close() returns 0 afterwards). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop/bus.h"
#include "loop/pack.h"

/* Declared by setup on each new bus, as a module's table would. */
static struct scout_topic *REPORT, *QUERY;

static const struct scout_topic_decl test_topics[] = {
	{"test.report", SCOUT_TOPIC_EVENT, "anything"},
	{"test.query", SCOUT_TOPIC_REQUEST, "anything; reply: anything"},
};

struct env {
	uv_loop_t loop;
	struct scout_bus *bus;
	bool closed;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(scout_bus_new(&e->loop, &e->bus), 0);
	assert_int_equal(scout_bus_declare(e->bus, &test_topics[0], "test", &REPORT), 0);
	assert_int_equal(scout_bus_declare(e->bus, &test_topics[1], "test", &QUERY), 0);
	*state = e;
	return 0;
}

static void on_closed(void *arg)
{
	struct env *e = arg;
	e->closed = true;
}

/* Every test ends here: the bus closes and the loop is left empty. */
static int teardown(void **state)
{
	struct env *e = *state;

	scout_bus_close(e->bus, on_closed, e);
	assert_false(e->closed); /* done runs on the loop, after the handles closed */
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_true(e->closed);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	free(e);
	return 0;
}

/* A subscriber that records what it gets. */
struct rec {
	struct scout_bus *bus;
	struct scout_sub *sub;
	unsigned calls;
	uint32_t seq[20000];
	unsigned nseq;
	char last[64];
	size_t last_len;
	uint64_t last_corr;
	/* behaviours */
	struct scout_sub **unsub_self;
	struct scout_sub **unsub_other;
	unsigned unsub_after; /* calls before unsubscribing */
	bool reply;
	int reply_status;
	int reply_rc; /* what scout_bus_reply returned */
	bool publish_more;
};

static void on_msg(const struct scout_msg *msg, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->last_corr = msg->corr;
	r->last_len = msg->len;
	if (msg->len <= sizeof(r->last))
		memcpy(r->last, msg->data, msg->len);
	if (msg->len == sizeof(uint32_t) && r->nseq < sizeof(r->seq) / sizeof(r->seq[0]))
		memcpy(&r->seq[r->nseq++], msg->data, sizeof(uint32_t));
	if (r->reply)
		r->reply_rc = scout_bus_reply(r->bus, msg->corr, r->reply_status, "pong", 4);
	if (r->calls == r->unsub_after) {
		if (r->unsub_other) {
			scout_bus_unsubscribe(*r->unsub_other);
			*r->unsub_other = NULL;
		}
		if (r->unsub_self) {
			scout_bus_unsubscribe(*r->unsub_self);
			*r->unsub_self = NULL;
		}
	}
	if (r->publish_more && r->calls == 1)
		assert_int_equal(scout_bus_publish(r->bus, msg->topic, "again", 5), 0);
}

/* A reply callback that records its calls. */
struct answer {
	unsigned calls;
	int status;
	bool had_msg;
	char data[16];
	size_t len;
	uint64_t corr;
};

static void on_answer(int status, const struct scout_msg *reply, void *arg)
{
	struct answer *a = arg;

	a->calls++;
	a->status = status;
	a->had_msg = reply != NULL;
	if (reply) {
		assert_int_equal(reply->status, status);
		a->corr = reply->corr;
		a->len = reply->len;
		if (reply->len <= sizeof(a->data))
			memcpy(a->data, reply->data, reply->len);
	}
}

/* ---- publish/subscribe ------------------------------------------------ */

static void test_topic_names(void **state)
{
	struct env *e = *state;

	assert_string_equal(scout_topic_name(REPORT), "test.report");
	assert_string_equal(scout_topic_name(QUERY), "test.query");
	assert_string_equal(scout_topic_name(NULL), "?");
	assert_string_equal(scout_topic_owner(REPORT), "test");
	assert_int_equal(scout_topic_decl(QUERY)->kind, SCOUT_TOPIC_REQUEST);
	assert_non_null(scout_topic_stats(REPORT));
	assert_ptr_equal(scout_bus_find(e->bus, "test.query"), QUERY);
	assert_null(scout_bus_find(e->bus, "test.nothing"));
	assert_int_equal(scout_bus_topics(e->bus), 2);
	assert_ptr_equal(scout_bus_topic_at(e->bus, 0), REPORT);
	assert_ptr_equal(scout_bus_topic_at(e->bus, 1), QUERY);
	assert_null(scout_bus_topic_at(e->bus, 2));
}

/* A name is declared once: the second declaration is refused and names
 * the first; an empty name is refused. */
static void test_declare_twice(void **state)
{
	struct env *e = *state;
	struct scout_topic_decl again = {"test.report", SCOUT_TOPIC_EVENT, "other"}, empty = {"", 0, NULL};
	struct scout_topic *t = NULL;

	assert_int_equal(scout_bus_declare(e->bus, &again, "other", &t), -EEXIST);
	assert_ptr_equal(t, REPORT);
	assert_string_equal(scout_topic_owner(t), "test");
	assert_int_equal(scout_bus_declare(e->bus, &empty, "other", NULL), -EINVAL);
	assert_int_equal(scout_bus_declare(e->bus, NULL, "other", NULL), -EINVAL);
	assert_int_equal(scout_bus_topics(e->bus), 2);
	/* many topics: the table grows and handles stay valid */
	static char names[40][16];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "test.t%d", i);
		struct scout_topic_decl d = {names[i], SCOUT_TOPIC_EVENT, ""};
		assert_int_equal(scout_bus_declare(e->bus, &d, "test", NULL), 0);
	}
	assert_ptr_equal(scout_bus_find(e->bus, "test.report"), REPORT);
	assert_string_equal(scout_topic_name(scout_bus_find(e->bus, "test.t39")), "test.t39");
}

static void test_bad_arguments(void **state)
{
	struct env *e = *state;
	struct scout_sub *sub = NULL;
	struct answer a = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, NULL, on_msg, NULL, 0, &sub), -EINVAL);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, NULL, NULL, 0, &sub), -EINVAL);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, NULL, (1u << 24) + 1, &sub), -EINVAL);
	assert_null(sub);
	assert_int_equal(scout_bus_publish(e->bus, NULL, "x", 1), -EINVAL);
	assert_int_equal(scout_bus_request(e->bus, NULL, NULL, 0, 10, on_answer, &a, NULL), -EINVAL);
	/* an event is not asked, a request is not published */
	assert_int_equal(scout_bus_publish(e->bus, QUERY, "x", 1), -EINVAL);
	assert_int_equal(scout_bus_request(e->bus, REPORT, NULL, 0, 10, on_answer, &a, NULL), -EINVAL);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 10, NULL, &a, NULL), -EINVAL);
	scout_bus_unsubscribe(NULL); /* harmless */
	/* publishing with nobody subscribed is fine */
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "x", 1), 0);
	assert_int_equal(scout_topic_stats(REPORT)->published, 1);
	assert_int_equal(scout_topic_stats(REPORT)->delivered, 0);
}

static void test_async_delivery(void **state)
{
	struct env *e = *state;
	struct rec r = {.bus = e->bus};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 0, &r.sub), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "hello", 5), 0);
	assert_int_equal(r.calls, 0); /* never inside publish */
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_len, 5);
	assert_memory_equal(r.last, "hello", 5);
	assert_int_equal(r.last_corr, 0);

	/* empty payload */
	assert_int_equal(scout_bus_publish(e->bus, REPORT, NULL, 0), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.last_len, 0);
	scout_bus_unsubscribe(r.sub);
}

static void test_publish_from_handler_waits(void **state)
{
	struct env *e = *state;
	struct rec r = {.bus = e->bus, .publish_more = true};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 0, &r.sub), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "first", 5), 0);
	/* one pass delivers what was queued when it began */
	uv_run(&e->loop, UV_RUN_NOWAIT);
	assert_int_equal(r.calls, 1);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 2);
	assert_memory_equal(r.last, "again", 5);
	scout_bus_unsubscribe(r.sub);
}

static void test_fifo_many(void **state)
{
	struct env *e = *state;
	struct rec *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	const uint32_t n = 20000;

	a->bus = b->bus = e->bus;
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, a, n, &a->sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, b, 3000, &b->sub), 0);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(scout_bus_publish(e->bus, REPORT, &i, sizeof(i)), 0);
		if (i % 1000 == 999)
			uv_run(&e->loop, UV_RUN_NOWAIT); /* interleave publishing and delivery */
	}
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a->nseq, n);
	assert_int_equal(b->nseq, n);
	for (uint32_t i = 0; i < n; i++) {
		if (a->seq[i] != i || b->seq[i] != i)
			fail_msg("message %u delivered as %u / %u", i, a->seq[i], b->seq[i]);
	}
	const struct scout_topic_stats *st = scout_topic_stats(REPORT);
	assert_int_equal(st->published, n);
	assert_int_equal(st->delivered, 2 * n);
	assert_int_equal(st->dropped, 0);
	scout_bus_unsubscribe(a->sub);
	scout_bus_unsubscribe(b->sub);
	free(a);
	free(b);
}

static void test_payload_copied(void **state)
{
	struct env *e = *state;
	struct rec r = {.bus = e->bus};
	char buf[16];

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 0, &r.sub), 0);
	strcpy(buf, "original");
	assert_int_equal(scout_bus_publish(e->bus, REPORT, buf, 8), 0);
	memset(buf, 'X', sizeof(buf));
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.last_len, 8);
	assert_memory_equal(r.last, "original", 8);

	/* a heap payload freed right after publish */
	char *heap = strdup("on the heap");
	assert_int_equal(scout_bus_publish(e->bus, REPORT, heap, strlen(heap)), 0);
	free(heap);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.last_len, 11);
	assert_memory_equal(r.last, "on the heap", 11);
	scout_bus_unsubscribe(r.sub);
}

static void test_bounded_queue(void **state)
{
	struct env *e = *state;
	struct rec small = {.bus = e->bus}, big = {.bus = e->bus};
	const uint32_t limit = 5, extra = 3;

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &small, limit, &small.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &big, 100, &big.sub), 0);
	for (uint32_t i = 0; i < limit + extra; i++) {
		int r = scout_bus_publish(e->bus, REPORT, &i, sizeof(i));
		assert_int_equal(r, i < limit ? 0 : -ENOBUFS);
	}
	const struct scout_topic_stats *st = scout_topic_stats(REPORT);
	assert_int_equal(st->dropped, extra);
	assert_int_equal(st->published, limit + extra);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	/* the full subscriber got the first five, the other got everything */
	assert_int_equal(small.nseq, limit);
	for (uint32_t i = 0; i < limit; i++)
		assert_int_equal(small.seq[i], i);
	assert_int_equal(big.nseq, limit + extra);
	for (uint32_t i = 0; i < limit + extra; i++)
		assert_int_equal(big.seq[i], i);
	assert_int_equal(st->delivered, 2 * limit + extra);

	/* drained: room again */
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "z", 1), 0);
	assert_int_equal(st->dropped, extra);

	/* a limit that is not a power of two is exact */
	struct rec three = {.bus = e->bus};
	scout_bus_unsubscribe(small.sub);
	scout_bus_unsubscribe(big.sub);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &three, 3, &three.sub), 0);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(scout_bus_publish(e->bus, REPORT, &i, sizeof(i)), i < 3 ? 0 : -ENOBUFS);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(three.nseq, 3);
	scout_bus_unsubscribe(three.sub);
}

static void test_only_full_subscriber_drops(void **state)
{
	/* everyone full: -ENOBUFS and nothing queued */
	struct env *e = *state;
	struct rec r = {.bus = e->bus};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 1, &r.sub), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "a", 1), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "b", 1), -ENOBUFS);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "c", 1), -ENOBUFS);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_memory_equal(r.last, "a", 1);
	assert_int_equal(scout_topic_stats(REPORT)->dropped, 2);
	scout_bus_unsubscribe(r.sub);
}

static void test_unsubscribe_self_in_handler(void **state)
{
	struct env *e = *state;
	struct rec a = {.bus = e->bus, .unsub_after = 2}, b = {.bus = e->bus};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &a, 0, &a.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &b, 0, &b.sub), 0);
	a.unsub_self = &a.sub;
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(scout_bus_publish(e->bus, REPORT, &i, sizeof(i)), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_null(a.sub);
	assert_int_equal(a.calls, 2); /* nothing after unsubscribing, though three were queued */
	assert_int_equal(b.calls, 5);

	/* later messages go to b only */
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "x", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 6);
	scout_bus_unsubscribe(b.sub);
}

static void test_unsubscribe_other_in_handler(void **state)
{
	/* a's handler unsubscribes b, which is queued behind it in the same
	 * dispatch pass; c, behind b, must still be served */
	struct env *e = *state;
	struct rec a = {.bus = e->bus, .unsub_after = 1}, b = {.bus = e->bus}, c = {.bus = e->bus};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &a, 0, &a.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &b, 0, &b.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &c, 0, &c.sub), 0);
	a.unsub_other = &b.sub;
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(scout_bus_publish(e->bus, REPORT, &i, sizeof(i)), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_null(b.sub);
	assert_int_equal(a.calls, 3);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 3);

	/* and c keeps getting messages afterwards */
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "x", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 4);
	assert_int_equal(b.calls, 0);
	assert_int_equal(c.calls, 4);
	scout_bus_unsubscribe(a.sub);
	scout_bus_unsubscribe(c.sub);
}

static void test_unsubscribe_earlier_in_handler(void **state)
{
	/* c's handler unsubscribes a, already served in this pass, and then
	 * itself; b is unaffected */
	struct env *e = *state;
	struct rec a = {.bus = e->bus}, b = {.bus = e->bus}, c = {.bus = e->bus, .unsub_after = 1};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &a, 0, &a.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &b, 0, &b.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &c, 0, &c.sub), 0);
	c.unsub_other = &a.sub;
	c.unsub_self = &c.sub;
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "1", 1), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "2", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_null(a.sub);
	assert_null(c.sub);
	assert_int_equal(a.calls, 2); /* served both before c ran */
	assert_int_equal(b.calls, 2);
	assert_int_equal(c.calls, 1);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "3", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 2);
	assert_int_equal(b.calls, 3);
	assert_int_equal(c.calls, 1);
	scout_bus_unsubscribe(b.sub);
}

static void test_unsubscribe_with_queued_messages(void **state)
{
	struct env *e = *state;
	struct rec r = {.bus = e->bus};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 0, &r.sub), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "a", 1), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "b", 1), 0);
	scout_bus_unsubscribe(r.sub); /* the queued copies are freed (ASan checks) */
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 0);
}

static void test_close_with_subscribers_and_queue(void **state)
{
	/* close drops queued messages and leftover subscribers (with a
	 * warning); teardown checks the loop ends empty */
	struct env *e = *state;
	struct rec r = {.bus = e->bus};
	struct scout_sub *sub;

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r, 0, &sub), 0);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "a", 1), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &r, 0, &sub), 0);
	struct answer an = {0};
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &an, NULL), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &an, NULL), 0);
	assert_int_equal(r.calls, 0);
	/* teardown closes with all of it pending: no callback runs */
}

/* ---- request/reply ---------------------------------------------------- */

static void test_request_reply(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus, .reply = true};
	struct answer a = {0};
	uint64_t corr = 0;

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, "ping", 4, 1000, on_answer, &a, &corr), 0);
	assert_int_not_equal(corr, 0);
	assert_int_equal(server.calls, 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(server.calls, 1);
	assert_int_equal(server.last_corr, corr);
	assert_int_equal(server.reply_rc, 0);
	assert_memory_equal(server.last, "ping", 4);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_true(a.had_msg);
	assert_int_equal(a.corr, corr);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.data, "pong", 4);

	/* a second answer to the same request is refused */
	assert_int_equal(scout_bus_reply(e->bus, corr, 0, "again", 5), -ENOENT);

	/* an error status reaches the asker with the reply; positive errno
	 * values are made negative */
	struct answer b = {0};
	server.reply_status = EAGAIN;
	uint64_t corr2 = 0;
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &b, &corr2), 0);
	assert_true(corr2 > corr);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, -EAGAIN);
	assert_true(b.had_msg);

	const struct scout_topic_stats *st = scout_topic_stats(QUERY);
	assert_int_equal(st->requests, 2);
	assert_int_equal(st->replies, 2);
	assert_int_equal(st->timed_out, 0);
	assert_int_equal(st->delivered, 2);
	scout_bus_unsubscribe(server.sub);
}

/* A request topic has one server: a second one is refused, and once the
 * first leaves another may take its place. */
static void test_request_has_one_server(void **state)
{
	struct env *e = *state;
	struct rec first = {.bus = e->bus, .reply = true}, second = {.bus = e->bus, .reply = true};
	struct answer a = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &first, 0, &first.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &second, 0, &second.sub), -EBUSY);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &a, NULL), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(first.calls, 1);
	assert_int_equal(a.calls, 1);
	scout_bus_unsubscribe(first.sub);
	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &second, 0, &second.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &a, NULL), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(second.calls, 1);
	assert_int_equal(a.calls, 2);
	scout_bus_unsubscribe(second.sub);
	/* events keep any number of subscribers */
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &first, 0, &first.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &second, 0, &second.sub), 0);
	scout_bus_unsubscribe(first.sub);
	scout_bus_unsubscribe(second.sub);
}

static void test_reply_later_from_outside_handler(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct answer a = {0};
	uint64_t corr;

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 5000, on_answer, &a, &corr), 0);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	assert_int_equal(server.calls, 1);
	assert_int_equal(a.calls, 0);
	assert_int_equal(scout_bus_reply(e->bus, server.last_corr, 0, "ok", 2), 0);
	assert_int_equal(a.calls, 0);     /* never inside reply either */
	uv_run(&e->loop, UV_RUN_DEFAULT); /* ends at once: the deadline timer was stopped */
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	scout_bus_unsubscribe(server.sub);
}

static void test_request_timeout(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus}; /* never answers */
	struct answer a = {0}, b = {0};
	uint64_t corr, corr_b;

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	uv_update_time(&e->loop);
	uint64_t t0 = uv_now(&e->loop);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 60, on_answer, &a, &corr), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 30, on_answer, &b, &corr_b), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(uv_now(&e->loop) - t0 >= 60);
	assert_int_equal(server.calls, 2);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_false(a.had_msg);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, -ETIMEDOUT);

	/* the late reply is refused and the callback does not run again */
	assert_int_equal(scout_bus_reply(e->bus, corr, 0, "late", 4), -ENOENT);
	assert_int_equal(scout_bus_reply(e->bus, corr_b, 0, "late", 4), -ENOENT);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);

	const struct scout_topic_stats *st = scout_topic_stats(QUERY);
	assert_int_equal(st->requests, 2);
	assert_int_equal(st->timed_out, 2);
	assert_int_equal(st->replies, 0);
	scout_bus_unsubscribe(server.sub);
}

static void test_reply_before_deadline_delivered_after(void **state)
{
	/* the reply is given in time; the deadline passes before the loop
	 * delivers it: the callback runs once, with the reply */
	struct env *e = *state;
	struct rec server = {.bus = e->bus, .reply = true};
	struct answer a = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 20, on_answer, &a, NULL), 0);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	assert_int_equal(server.calls, 1);
	assert_int_equal(server.reply_rc, 0);
	assert_int_equal(a.calls, 0);
	uv_sleep(40);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_true(a.had_msg);
	assert_int_equal(scout_topic_stats(QUERY)->replies, 1);
	assert_int_equal(scout_topic_stats(QUERY)->timed_out, 0);
	scout_bus_unsubscribe(server.sub);
}

static void test_deadline_before_responder_runs(void **state)
{
	/* the deadline passes before the responder even sees the request: the
	 * asker gets -ETIMEDOUT once, the responder's reply gets -ENOENT */
	struct env *e = *state;
	struct rec server = {.bus = e->bus, .reply = true};
	struct answer a = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1, on_answer, &a, NULL), 0);
	uv_sleep(5);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(server.calls, 1);
	assert_int_equal(server.reply_rc, -ENOENT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_false(a.had_msg);
	assert_int_equal(scout_topic_stats(QUERY)->replies, 0);
	assert_int_equal(scout_topic_stats(QUERY)->timed_out, 1);
	scout_bus_unsubscribe(server.sub);
}

static void test_request_no_subscriber(void **state)
{
	struct env *e = *state;
	struct answer a = {0};
	uint64_t corr;

	assert_int_equal(scout_bus_request(e->bus, QUERY, "x", 1, 1000, on_answer, &a, &corr), 0);
	assert_int_equal(a.calls, 0); /* not inside request */
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, -ENOENT);
	assert_false(a.had_msg);
	assert_int_equal(scout_bus_reply(e->bus, corr, 0, NULL, 0), -ENOENT);
	assert_int_equal(scout_topic_stats(QUERY)->requests, 1);
	assert_int_equal(scout_topic_stats(QUERY)->timed_out, 0);
}

static void test_request_responder_full(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus, .reply = true};
	struct answer a = {0}, b = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 1, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &a, NULL), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &b, NULL), -ENOBUFS);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0); /* refused requests never call back */
	assert_int_equal(scout_topic_stats(QUERY)->dropped, 1);
	assert_int_equal(scout_topic_stats(QUERY)->requests, 1);
	scout_bus_unsubscribe(server.sub);
}

static void test_cancel(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct answer a = {0}, b = {0}, c = {0}, d = {0};
	uint64_t ca, cb, cc, cd;

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);

	/* cancelled while pending: no callback, a reply is refused */
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 30, on_answer, &a, &ca), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 30, on_answer, &b, &cb), 0);
	scout_bus_cancel(e->bus, ca);
	uv_run(&e->loop, UV_RUN_DEFAULT); /* b times out */
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, -ETIMEDOUT);
	assert_int_equal(scout_bus_reply(e->bus, ca, 0, NULL, 0), -ENOENT);

	/* cancelled after the reply was given but before it was delivered */
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &c, &cc), 0);
	uv_run(&e->loop, UV_RUN_NOWAIT);
	assert_int_equal(server.last_corr, cc);
	assert_int_equal(scout_bus_reply(e->bus, cc, 0, "r", 1), 0);
	scout_bus_cancel(e->bus, cc);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(c.calls, 0);

	/* cancelled with no responder (already completed with -ENOENT) */
	scout_bus_unsubscribe(server.sub);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &d, &cd), 0);
	scout_bus_cancel(e->bus, cd);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(d.calls, 0);

	/* unknown ids are ignored */
	scout_bus_cancel(e->bus, 999999);
	scout_bus_cancel(e->bus, ca);
}

/* A reply callback that cancels another request completing in the same pass. */
struct canceller {
	struct scout_bus *bus;
	uint64_t other;
	unsigned calls;
};

static void on_answer_cancel(int status, const struct scout_msg *reply, void *arg)
{
	struct canceller *c = arg;

	c->calls++;
	scout_bus_cancel(c->bus, c->other);
}

static void test_cancel_from_callback(void **state)
{
	struct env *e = *state;
	struct canceller first = {.bus = e->bus};
	struct answer second = {0};

	/* both complete (no responder) in the same pass; the first cancels the second */
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer_cancel, &first, NULL), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &second, &first.other), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(first.calls, 1);
	assert_int_equal(second.calls, 0);
}

static void test_max_pending(void **state)
{
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct answer *a = calloc(1, sizeof(*a));
	uint64_t *corrs = calloc(SCOUT_BUS_MAX_PENDING, sizeof(*corrs));

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, SCOUT_BUS_MAX_PENDING + 8, &server.sub),
			 0);
	for (size_t i = 0; i < SCOUT_BUS_MAX_PENDING; i++)
		assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 10000, on_answer, a, &corrs[i]), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 10000, on_answer, a, NULL), -EAGAIN);
	for (size_t i = 0; i < SCOUT_BUS_MAX_PENDING; i++)
		scout_bus_cancel(e->bus, corrs[i]);
	/* room again */
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 10000, on_answer, a, &corrs[0]), 0);
	scout_bus_cancel(e->bus, corrs[0]);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(a->calls, 0);
	assert_int_equal(server.calls, SCOUT_BUS_MAX_PENDING + 1);
	scout_bus_unsubscribe(server.sub);
	free(a);
	free(corrs);
}

static void test_stats(void **state)
{
	struct env *e = *state;
	struct rec r1 = {.bus = e->bus}, r2 = {.bus = e->bus}, server = {.bus = e->bus, .reply = true};
	struct answer a = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r1, 2, &r1.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &r2, 0, &r2.sub), 0);
	for (int i = 0; i < 4; i++)
		scout_bus_publish(e->bus, REPORT, "m", 1);
	uv_run(&e->loop, UV_RUN_DEFAULT);

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 1000, on_answer, &a, NULL), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	server.reply = false;
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 10, on_answer, &a, NULL), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);

	const struct scout_topic_stats *rep = scout_topic_stats(REPORT);
	assert_int_equal(rep->published, 4);
	assert_int_equal(rep->delivered, 6);
	assert_int_equal(rep->dropped, 2);
	assert_int_equal(rep->requests, 0);
	assert_int_equal(rep->replies, 0);
	assert_int_equal(rep->timed_out, 0);
	const struct scout_topic_stats *q = scout_topic_stats(QUERY);
	assert_int_equal(q->published, 0);
	assert_int_equal(q->delivered, 2);
	assert_int_equal(q->dropped, 0);
	assert_int_equal(q->requests, 2);
	assert_int_equal(q->replies, 1);
	assert_int_equal(q->timed_out, 1);
	assert_int_equal(a.calls, 2);
	scout_bus_unsubscribe(r1.sub);
	scout_bus_unsubscribe(r2.sub);
	scout_bus_unsubscribe(server.sub);
}

/* ---- deadlines (the heap) and cancel from the middle ------------------ */

/* A small fixed-seed generator: the same "random" deadlines on every run. */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

#define NREQ 300

struct many {
	uv_loop_t *loop;
	uint64_t t0;
	uint64_t timeout[NREQ];
	unsigned calls[NREQ];
	int status[NREQ];
	bool early[NREQ]; /* called back before its deadline */
	unsigned order[NREQ], norder;
};

struct many_arg {
	struct many *m;
	unsigned i;
};

static void on_many(int status, const struct scout_msg *reply, void *arg)
{
	struct many_arg *a = arg;
	struct many *m = a->m;

	m->calls[a->i]++;
	m->status[a->i] = status;
	if (status == -ETIMEDOUT && uv_now(m->loop) < m->t0 + m->timeout[a->i])
		m->early[a->i] = true;
	if (status == 0)
		assert_memory_equal(reply->data, "pong", 4);
	if (m->norder < NREQ)
		m->order[m->norder++] = a->i;
}

/* Timed-out requests were called back in deadline order (equal deadlines
 * in request order), each once, with -ETIMEDOUT, never early. */
static void check_timeouts_in_order(const struct many *m, const bool *skip)
{
	unsigned prev = NREQ;

	for (unsigned k = 0; k < m->norder; k++) {
		unsigned i = m->order[k];
		if (skip[i])
			continue;
		assert_int_equal(m->status[i], -ETIMEDOUT);
		assert_false(m->early[i]);
		if (prev != NREQ) {
			assert_true(m->timeout[prev] <= m->timeout[i]);
			if (m->timeout[prev] == m->timeout[i])
				assert_true(prev < i);
		}
		prev = i;
	}
}

static void test_many_deadlines_in_order(void **state)
{
	/* requests with random deadlines, nobody answers: all fire, in
	 * deadline order, exactly once */
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct many *m = calloc(1, sizeof(*m));
	struct many_arg *args = calloc(NREQ, sizeof(*args));
	bool skip[NREQ] = {false};
	uint64_t seed = 0x9e3779b97f4a7c15u;

	assert_non_null(m);
	assert_non_null(args);
	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, NREQ, &server.sub), 0);
	m->loop = &e->loop;
	uv_update_time(&e->loop);
	m->t0 = uv_now(&e->loop);
	for (unsigned i = 0; i < NREQ; i++) {
		m->timeout[i] = 1 + xorshift(&seed) % 40; /* many equal deadlines too */
		args[i] = (struct many_arg){m, i};
		assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, m->timeout[i], on_many, &args[i], NULL), 0);
	}
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(m->norder, NREQ);
	for (unsigned i = 0; i < NREQ; i++)
		assert_int_equal(m->calls[i], 1);
	check_timeouts_in_order(m, skip);
	assert_int_equal(scout_topic_stats(QUERY)->timed_out, NREQ);
	assert_int_equal(server.calls, NREQ);
	scout_bus_unsubscribe(server.sub);
	free(args);
	free(m);
}

static void test_cancel_and_reply_from_the_middle(void **state)
{
	/* of requests with random deadlines, every third is cancelled while
	 * pending and every third answered: the cancelled never call back,
	 * the answered once with the reply, the rest time out in order */
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct many *m = calloc(1, sizeof(*m));
	struct many_arg *args = calloc(NREQ, sizeof(*args));
	uint64_t corr[NREQ];
	bool skip[NREQ] = {false};
	uint64_t seed = 12345;

	assert_non_null(m);
	assert_non_null(args);
	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, NREQ, &server.sub), 0);
	m->loop = &e->loop;
	uv_update_time(&e->loop);
	m->t0 = uv_now(&e->loop);
	for (unsigned i = 0; i < NREQ; i++) {
		/* the answered ones wait long, so a loaded machine cannot time
		 * them out before the test answers */
		m->timeout[i] = i % 3 == 2 ? 100000 : 1 + xorshift(&seed) % 40;
		args[i] = (struct many_arg){m, i};
		assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, m->timeout[i], on_many, &args[i], &corr[i]),
				 0);
	}
	for (unsigned i = 1; i < NREQ; i += 3) {
		scout_bus_cancel(e->bus, corr[i]);
		skip[i] = true;
	}
	uv_run(&e->loop, UV_RUN_NOWAIT); /* the server sees every request */
	assert_int_equal(server.calls, NREQ);
	for (unsigned i = 2; i < NREQ; i += 3) {
		assert_int_equal(scout_bus_reply(e->bus, corr[i], 0, "pong", 4), 0);
		skip[i] = true;
	}
	uv_run(&e->loop, UV_RUN_DEFAULT); /* returns: no deadline left armed */
	for (unsigned i = 0; i < NREQ; i++) {
		assert_int_equal(m->calls[i], i % 3 == 1 ? 0 : 1);
		if (i % 3 == 2)
			assert_int_equal(m->status[i], 0);
		if (i % 3 == 1)
			assert_int_equal(scout_bus_reply(e->bus, corr[i], 0, NULL, 0), -ENOENT);
	}
	check_timeouts_in_order(m, skip);
	assert_int_equal(scout_topic_stats(QUERY)->timed_out, NREQ / 3);
	assert_int_equal(scout_topic_stats(QUERY)->replies, NREQ / 3);
	scout_bus_unsubscribe(server.sub);
	free(args);
	free(m);
}

/* A timeout callback that cancels two other requests. */
struct double_canceller {
	struct scout_bus *bus;
	uint64_t due_too, far;
	unsigned calls;
	int status;
};

static void on_timeout_cancel(int status, const struct scout_msg *reply, void *arg)
{
	struct double_canceller *c = arg;

	(void)reply;
	c->calls++;
	c->status = status;
	scout_bus_cancel(c->bus, c->due_too);
	scout_bus_cancel(c->bus, c->far);
}

static void test_cancel_from_timeout_callback(void **state)
{
	/* a timed-out request's callback cancels one whose deadline fired in
	 * the same run (its completion is queued) and one far from due (still
	 * in the heap): neither calls back, and the loop ends at once, since
	 * nothing is left armed (an armed far deadline would call back after
	 * 100 s) */
	struct env *e = *state;
	struct rec server = {.bus = e->bus};
	struct double_canceller c = {.bus = e->bus};
	struct answer due_too = {0}, far = {0};

	assert_int_equal(scout_bus_subscribe(e->bus, QUERY, on_msg, &server, 0, &server.sub), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 5, on_timeout_cancel, &c, NULL), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 5, on_answer, &due_too, &c.due_too), 0);
	assert_int_equal(scout_bus_request(e->bus, QUERY, NULL, 0, 100000, on_answer, &far, &c.far), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, -ETIMEDOUT);
	assert_int_equal(due_too.calls, 0);
	assert_int_equal(far.calls, 0);
	assert_int_equal(scout_bus_reply(e->bus, c.far, 0, NULL, 0), -ENOENT);
	scout_bus_unsubscribe(server.sub);
}

/* A subscriber that, on its first message, publishes again (so the other
 * subscriber, already served in this pass, is ready again) and then
 * unsubscribes that other one. */
struct reready {
	struct scout_bus *bus;
	struct scout_sub *other;
	unsigned calls;
};

static void on_reready(const struct scout_msg *msg, void *arg)
{
	struct reready *r = arg;

	r->calls++;
	if (r->calls == 1) {
		assert_int_equal(scout_bus_publish(r->bus, msg->topic, "again", 5), 0);
		scout_bus_unsubscribe(r->other);
		r->other = NULL;
	}
}

static void test_unsubscribe_ready_again(void **state)
{
	/* the unsubscribed subscriber sits on the ready list for the next pass
	 * (not in the batch being walked): it leaves it and never runs again */
	struct env *e = *state;
	struct rec first = {.bus = e->bus};
	struct reready second = {.bus = e->bus};
	struct scout_sub *second_sub;

	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_msg, &first, 0, &first.sub), 0);
	assert_int_equal(scout_bus_subscribe(e->bus, REPORT, on_reready, &second, 0, &second_sub), 0);
	second.other = first.sub;
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "m", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(first.calls, 1);
	assert_int_equal(second.calls, 2);
	assert_int_equal(scout_bus_publish(e->bus, REPORT, "m", 1), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(first.calls, 1);
	assert_int_equal(second.calls, 3);
	scout_bus_unsubscribe(second_sub);
}

static void test_close_without_running(void **state)
{
	/* a bus created and closed at once: teardown runs the loop to close */
	(void)state;
}

/* scout_pack_get_strdup: a str value copied with its NUL, or why not. */
static void test_pack_strdup(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	char *out = NULL;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	scout_pack_str(&pk, "name");
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "alice", 5); /* not NUL-terminated in the buffer */
	scout_pack_str(&pk, "nul");
	msgpack_pack_str(&pk, 3);
	msgpack_pack_str_body(&pk, "a\0b", 3);
	scout_pack_str(&pk, "num");
	msgpack_pack_uint8(&pk, 7);
	scout_pack_str(&pk, "empty");
	msgpack_pack_str(&pk, 0);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);

	assert_int_equal(scout_pack_get_strdup(&u.data, "name", 5, &out), 0);
	assert_string_equal(out, "alice");
	free(out);
	assert_int_equal(scout_pack_get_strdup(&u.data, "name", 4, &out), -EINVAL); /* longer than max */
	assert_int_equal(scout_pack_get_strdup(&u.data, "nul", 10, &out), -EINVAL);
	assert_int_equal(scout_pack_get_strdup(&u.data, "num", 10, &out), -EINVAL);
	assert_int_equal(scout_pack_get_strdup(&u.data, "absent", 10, &out), -ENOENT);
	assert_int_equal(scout_pack_get_strdup(&u.data, "empty", 10, &out), 0);
	assert_string_equal(out, "");
	free(out);

	/* scout_pack_get_strbuf: the same into a buffer, "" when not whole */
	char buf[6] = "x";
	assert_int_equal(scout_pack_get_strbuf(&u.data, "name", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "alice");
	assert_int_equal(scout_pack_get_strbuf(&u.data, "name", buf, 5), -EINVAL); /* no room for the NUL */
	assert_string_equal(buf, "");
	assert_int_equal(scout_pack_get_strbuf(&u.data, "nul", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(scout_pack_get_strbuf(&u.data, "num", buf, sizeof(buf)), -EINVAL);
	strcpy(buf, "x");
	assert_int_equal(scout_pack_get_strbuf(&u.data, "absent", buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pack_strdup),
		cmocka_unit_test_setup_teardown(test_topic_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declare_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_from_handler_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_copied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_full_subscriber_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_self_in_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_other_in_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_earlier_in_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_with_queued_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_subscribers_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_has_one_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_later_from_outside_handler, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_before_deadline_delivered_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_before_responder_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_no_subscriber, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_responder_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_deadlines_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_reply_from_the_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_timeout_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsubscribe_ready_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_without_running, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
