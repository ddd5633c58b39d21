/* bench-bus: throughput of the in-process bus (src/loop/bus.c) on one core.
 *
 * Measures, each for about --seconds (default 1) after a short warm-up:
 *   bus.publish_deliver.1sub   publish -> deliver, one subscriber
 *   bus.publish_deliver.4sub   publish -> deliver, four subscribers
 *   bus.request_reply.seq      request -> reply -> callback, one in flight
 *   bus.request_reply.win256   the same with 256 requests in flight
 *
 * The publisher runs from a uv_idle callback and publishes a batch (512 by
 * default) per loop iteration; the bus drains every queue in its own idle
 * pass once per iteration, so a subscriber never holds more than one batch
 * and nothing is dropped with the default queue limit (1024). (A uv_check
 * publisher would hang: once the bus has drained and stopped its idle
 * handle, the loop blocks in poll with nothing to wake it.) Drops, failed
 * publishes, timeouts and lost messages make the run fail (exit 1).
 *
 * The payload is a small msgpack map built with msgpack-c. Time is counted
 * with uv_hrtime from the first publish until uv_run returns, that is until
 * the last message was delivered. The process pins itself to one CPU.
 *
 * Output: one machine-readable line per measurement,
 *   NAME key=value key=value ...
 * where the first key is the figure of merit. tools/bench/run parses it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <uv.h>

#include "loop/bus.h"
#include "loop/pack.h"

#define NSUB_MAX 4

static unsigned batch = 512;

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-bus: %s: %s\n", what, err ? strerror(-err) : "check failed");
	exit(1);
}

/* ---- payload ------------------------------------------------------------ */

static msgpack_sbuffer payload;

static void build_payload(void)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(&payload);
	msgpack_packer_init(&pk, &payload, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	scout_pack_str(&pk, "ip");
	scout_pack_str(&pk, "10.1.2.3");
	scout_pack_str(&pk, "n");
	msgpack_pack_uint64(&pk, 123);
	scout_pack_str(&pk, "ok");
	msgpack_pack_true(&pk);
	scout_pack_str(&pk, "t");
	msgpack_pack_uint64(&pk, 1700000000);
}

/* Decodes one delivered payload the way a real receiver would. */
static bool payload_ok(const void *data, size_t len)
{
	msgpack_unpacked u;
	uint64_t n = 0;
	bool ok = false, good;
	const char *ip;
	size_t iplen;

	msgpack_unpacked_init(&u);
	good = msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	       scout_pack_get_uint(&u.data, "n", &n) == 0 && scout_pack_get_bool(&u.data, "ok", &ok) == 0 &&
	       scout_pack_get_str(&u.data, "ip", &ip, &iplen) == 0 && n == 123 && ok && iplen == 8 &&
	       memcmp(ip, "10.1.2.3", 8) == 0;
	msgpack_unpacked_destroy(&u);
	return good;
}

/* ---- loop helpers ------------------------------------------------------- */

static void on_bus_closed(void *arg)
{
	*(bool *)arg = true;
}

/* The bench's own topics, declared on each new bus as a module's table
 * would be; publish and request then go by handle, as in scoutd. */
static const struct scout_topic_decl bench_topics[] = {
	{"bench.report", SCOUT_TOPIC_EVENT, "a health.report-like map"},
	{"bench.query", SCOUT_TOPIC_REQUEST, "the same map; reply: the same map"},
};

static struct scout_topic *declare(struct scout_bus *bus, int which)
{
	struct scout_topic *t;
	int r = scout_bus_declare(bus, &bench_topics[which], "bench", &t);

	if (r < 0)
		die("scout_bus_declare", r);
	return t;
}

static void bus_done(uv_loop_t *loop, struct scout_bus *bus)
{
	bool closed = false;

	scout_bus_close(bus, on_bus_closed, &closed);
	uv_run(loop, UV_RUN_DEFAULT);
	if (!closed)
		die("bus close did not complete", 0);
	if (uv_loop_close(loop) != 0)
		die("uv_loop_close: handles left open", 0);
}

/* ---- publish -> deliver ------------------------------------------------- */

struct pubsub {
	struct scout_bus *bus;
	struct scout_topic *topic;
	uv_idle_t pub;
	uint64_t t0, ns, published, failed;
	bool checked_first;
	bool bad_payload;
	struct sink {
		struct pubsub *ps;
		uint64_t n;
		uint64_t bytes;
	} sink[NSUB_MAX];
};

static void on_msg(const struct scout_msg *msg, void *arg)
{
	struct sink *k = arg;

	/* The first delivery is decoded in full; after that the handler only
	 * touches the message, so what is measured is the bus. */
	if (!k->ps->checked_first) {
		k->ps->checked_first = true;
		if (!payload_ok(msg->data, msg->len))
			k->ps->bad_payload = true;
	}
	k->n++;
	k->bytes += msg->len + ((const unsigned char *)msg->data)[msg->len - 1];
}

static void on_publish(uv_idle_t *h)
{
	struct pubsub *ps = h->data;

	for (unsigned i = 0; i < batch; i++)
		if (scout_bus_publish(ps->bus, ps->topic, payload.data, payload.size) != 0)
			ps->failed++;
	ps->published += batch;
	if (uv_hrtime() - ps->t0 >= ps->ns)
		uv_idle_stop(h);
}

static void bench_pubsub(int nsub, uint64_t ns, bool report)
{
	uv_loop_t loop;
	struct pubsub ps = {0};
	struct scout_sub *subs[NSUB_MAX];
	uint64_t elapsed, delivered = 0;
	int r;

	ps.ns = ns;
	uv_loop_init(&loop);
	if ((r = scout_bus_new(&loop, &ps.bus)) < 0)
		die("scout_bus_new", r);
	ps.topic = declare(ps.bus, 0);
	for (int i = 0; i < nsub; i++) {
		ps.sink[i].ps = &ps;
		if ((r = scout_bus_subscribe(ps.bus, ps.topic, on_msg, &ps.sink[i], 0, &subs[i])) < 0)
			die("scout_bus_subscribe", r);
	}
	uv_idle_init(&loop, &ps.pub);
	ps.pub.data = &ps;
	uv_idle_start(&ps.pub, on_publish);
	ps.t0 = uv_hrtime();
	uv_run(&loop, UV_RUN_DEFAULT);
	elapsed = uv_hrtime() - ps.t0;

	/* a copy: the bus, and its stats, are gone after bus_done() */
	const struct scout_topic_stats stats = *scout_topic_stats(ps.topic), *st = &stats;
	for (int i = 0; i < nsub; i++) {
		uint64_t touched = payload.size + ((const unsigned char *)payload.data)[payload.size - 1];
		if (ps.sink[i].n != ps.published || ps.sink[i].bytes != ps.published * touched) {
			fprintf(stderr, "bench-bus: subscriber %d got %" PRIu64 " of %" PRIu64 "\n", i,
				ps.sink[i].n, ps.published);
			exit(1);
		}
		delivered += ps.sink[i].n;
		scout_bus_unsubscribe(subs[i]);
	}
	if (st->dropped != 0 || ps.failed != 0) {
		fprintf(stderr, "bench-bus: %" PRIu64 " dropped, %" PRIu64 " publishes failed\n", st->dropped,
			ps.failed);
		exit(1);
	}
	if (ps.bad_payload)
		die("delivered payload does not decode", 0);
	if (st->delivered != delivered)
		die("bus stats disagree with the subscribers", 0);
	uv_close((uv_handle_t *)&ps.pub, NULL);
	bus_done(&loop, ps.bus);

	if (!report)
		return;
	double secs = elapsed / 1e9;
	if (nsub == 1)
		printf("bus.publish_deliver.1sub msgs_per_s=%.0f ns_per_msg=%.1f msgs=%" PRIu64
		       " secs=%.3f dropped=%" PRIu64 " payload_bytes=%zu batch=%u\n",
		       ps.published / secs, elapsed / (double)ps.published, ps.published, secs, st->dropped,
		       payload.size, batch);
	else
		printf("bus.publish_deliver.%dsub deliveries_per_s=%.0f msgs_per_s=%.0f ns_per_delivery=%.1f"
		       " deliveries=%" PRIu64 " secs=%.3f dropped=%" PRIu64 " payload_bytes=%zu batch=%u\n",
		       nsub, delivered / secs, ps.published / secs, elapsed / (double)delivered, delivered, secs,
		       st->dropped, payload.size, batch);
	fflush(stdout);
}

/* ---- request / reply ---------------------------------------------------- */

struct reqrep {
	struct scout_bus *bus;
	struct scout_topic *topic;
	uint64_t t0, deadline_ns, sent, done, bad;
	bool stopping;
};

static void on_request(const struct scout_msg *msg, void *arg)
{
	struct reqrep *rr = arg;

	if (msg->corr == 0 || msg->len != payload.size) {
		rr->bad++;
		return;
	}
	if (scout_bus_reply(rr->bus, msg->corr, 0, payload.data, payload.size) != 0)
		rr->bad++;
}

static void send_request(struct reqrep *rr);

static void on_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct reqrep *rr = arg;

	if (status != 0 || !reply || reply->len != payload.size)
		rr->bad++;
	rr->done++;
	/* checking the clock every 64 completions keeps uv_hrtime out of the
	 * figure without overshooting the run by more than microseconds */
	if (!rr->stopping && (rr->done & 63) == 0 && uv_hrtime() - rr->t0 >= rr->deadline_ns)
		rr->stopping = true;
	if (!rr->stopping)
		send_request(rr);
}

static void send_request(struct reqrep *rr)
{
	int r = scout_bus_request(rr->bus, rr->topic, payload.data, payload.size, 60000, on_reply,
				  rr, NULL);
	if (r < 0)
		die("scout_bus_request", r);
	rr->sent++;
}

static void bench_reqrep(unsigned window, uint64_t ns, bool report)
{
	uv_loop_t loop;
	struct reqrep rr = {0};
	struct scout_sub *sub;
	uint64_t elapsed;
	int r;

	uv_loop_init(&loop);
	if ((r = scout_bus_new(&loop, &rr.bus)) < 0)
		die("scout_bus_new", r);
	rr.topic = declare(rr.bus, 1);
	if ((r = scout_bus_subscribe(rr.bus, rr.topic, on_request, &rr, 0, &sub)) < 0)
		die("scout_bus_subscribe", r);
	rr.deadline_ns = ns;
	rr.t0 = uv_hrtime();
	for (unsigned i = 0; i < window; i++)
		send_request(&rr);
	uv_run(&loop, UV_RUN_DEFAULT);
	elapsed = uv_hrtime() - rr.t0;

	const struct scout_topic_stats stats = *scout_topic_stats(rr.topic), *st = &stats;
	if (rr.bad || rr.done != rr.sent || st->timed_out || st->dropped || st->replies != rr.done) {
		fprintf(stderr,
			"bench-bus: request/reply: %" PRIu64 " sent, %" PRIu64 " done, %" PRIu64 " bad, %" PRIu64
			" timed out, %" PRIu64 " dropped\n",
			rr.sent, rr.done, rr.bad, st->timed_out, st->dropped);
		exit(1);
	}
	scout_bus_unsubscribe(sub);
	bus_done(&loop, rr.bus);

	if (!report)
		return;
	double secs = elapsed / 1e9;
	if (window == 1)
		printf("bus.request_reply.seq round_trips_per_s=%.0f ns_per_round_trip=%.1f round_trips=%" PRIu64
		       " secs=%.3f timed_out=%" PRIu64 "\n",
		       rr.done / secs, elapsed / (double)rr.done, rr.done, secs, st->timed_out);
	else
		printf("bus.request_reply.win%u round_trips_per_s=%.0f ns_per_round_trip=%.1f round_trips=%" PRIu64
		       " secs=%.3f timed_out=%" PRIu64 "\n",
		       window, rr.done / secs, elapsed / (double)rr.done, rr.done, secs, st->timed_out);
	fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		/* the highest CPU we may run on: CPU 0 usually takes more interrupts */
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return -errno;
		for (int c = CPU_SETSIZE - 1; c >= 0; c--)
			if (CPU_ISSET(c, &set)) {
				cpu = c;
				break;
			}
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return cpu;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench-bus [--seconds S] [--cpu N] [--batch N] [--only NAME]\n"
		     "\n"
		     "  --seconds S  length of each measurement (default 1)\n"
		     "  --cpu N      CPU to pin to (default: the highest one allowed)\n"
		     "  --batch N    messages published per loop iteration (default 512, at most 1024)\n"
		     "  --only NAME  run one measurement: 1sub, 4sub, seq or win256\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"seconds", required_argument, NULL, 's'}, {"cpu", required_argument, NULL, 'c'},
		{"batch", required_argument, NULL, 'b'},   {"only", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},	   {0},
	};
	const char *only = NULL;
	uint64_t run_ns = 1000000000ull;
	int cpu = -1, c;

	while ((c = getopt_long(argc, argv, "s:c:b:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			run_ns = (uint64_t)(strtod(optarg, NULL) * 1e9);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'b':
			batch = (unsigned)atoi(optarg);
			break;
		case 'o':
			only = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (run_ns == 0 || batch == 0 || batch > SCOUT_BUS_QUEUE_DEFAULT) {
		usage(stderr);
		return 2;
	}
	if ((cpu = pin(cpu)) < 0)
		die("sched_setaffinity", cpu);
	build_payload();
	printf("# bench-bus cpu=%d payload_bytes=%zu batch=%u seconds=%.3f libuv=%s\n", cpu, payload.size, batch,
	       run_ns / 1e9, uv_version_string());
	fflush(stdout);

	const uint64_t warm = 200000000ull;
	if (!only || !strcmp(only, "1sub")) {
		bench_pubsub(1, warm, false);
		bench_pubsub(1, run_ns, true);
	}
	if (!only || !strcmp(only, "4sub")) {
		bench_pubsub(4, warm, false);
		bench_pubsub(4, run_ns, true);
	}
	if (!only || !strcmp(only, "seq")) {
		bench_reqrep(1, warm, false);
		bench_reqrep(1, run_ns, true);
	}
	if (!only || !strcmp(only, "win256")) {
		bench_reqrep(256, warm, false);
		bench_reqrep(256, run_ns, true);
	}
	msgpack_sbuffer_destroy(&payload);
	return 0;
}
