/* Unit tests for src/modules/snmp/io.c and reader.c against fake agents on
 * 127.0.0.1, on the same loop: matching of answers (request-id and source
 * address), stray and malformed datagrams, retries and timeouts, the v1
 * fall-back halfway through the last attempt, max_inflight, the rate limit,
 * closing; then probes and multi-phase reads of a small MIB, an agent that
 * goes round in circles, one that answers tooBig, and SNMPv1.
 *
 * The rate test needs the time of every datagram the io sends, in the io's
 * own clock: this file defines uv_udp_try_send, which the io (linked from
 * the static library) calls instead of libuv's, records uv_now and passes
 * the call on. No test asserts wall-clock durations. */
#include <dirent.h>
#include <dlfcn.h>
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
#include <jansson.h>
#include <uv.h>

#include "loop/log.h"
#include "modules/snmp/io.h"
#include "modules/snmp/normalise.h"
#include "modules/snmp/reader.h"
#include "snmp-testlib.h"

/* ---- the send hook ---------------------------------------------------------- */

static struct {
	bool on;
	const uv_udp_t *ignore; /* the agent's own sends */
	uint64_t *at;
	size_t n, cap;
} sends;

int uv_udp_try_send(uv_udp_t *handle, const uv_buf_t bufs[], unsigned int nbufs, const struct sockaddr *addr)
{
	static int (*real)(uv_udp_t *, const uv_buf_t[], unsigned int, const struct sockaddr *);
	int r;

	if (!real) {
		*(void **)&real = dlsym(RTLD_NEXT, "uv_udp_try_send");
		if (!real)
			abort();
	}
	r = real(handle, bufs, nbufs, addr);
	if (sends.on && handle != sends.ignore && r >= 0) {
		if (sends.n == sends.cap) {
			sends.cap = sends.cap ? sends.cap * 2 : 256;
			sends.at = realloc(sends.at, sends.cap * sizeof(*sends.at));
			if (!sends.at)
				abort();
		}
		sends.at[sends.n++] = uv_now(handle->loop);
	}
	return r;
}

/* ---- environment ---------------------------------------------------------- */

/* A small printer: system group, interfaces, addresses, the printer's
 * device row, Printer-MIB supplies, colorants, console and alerts, plus
 * objects no read asks for. */
static const char small_mib[] =
	"1.3.6.1.2.1.1.1.0|4|HP ETHERNET MULTI-ENVIRONMENT,SN:CNB1234567,FN:xx,PID:HP Color LaserJet Pro M252dw\n"
	"1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1\n"
	"1.3.6.1.2.1.1.3.0|67|123456\n"
	"1.3.6.1.2.1.1.5.0|4|NPI12345\n"
	"1.3.6.1.2.1.1.6.0|4|Floor 2\n"
	"1.3.6.1.2.1.2.1.0|2|2\n"
	"1.3.6.1.2.1.2.2.1.1.1|2|1\n"
	"1.3.6.1.2.1.2.2.1.1.2|2|2\n"
	"1.3.6.1.2.1.2.2.1.3.1|2|24\n"
	"1.3.6.1.2.1.2.2.1.3.2|2|6\n"
	"1.3.6.1.2.1.2.2.1.6.1|4|\n"
	"1.3.6.1.2.1.2.2.1.6.2|4x|a0b3cc112233\n"
	"1.3.6.1.2.1.2.2.1.8.1|2|1\n"
	"1.3.6.1.2.1.2.2.1.8.2|2|1\n"
	"1.3.6.1.2.1.2.2.1.10.2|65|99999\n"
	"1.3.6.1.2.1.4.20.1.1.10.0.0.5|64|10.0.0.5\n"
	"1.3.6.1.2.1.4.20.1.2.10.0.0.5|2|2\n"
	"1.3.6.1.2.1.4.20.1.2.127.0.0.1|2|1\n"
	"1.3.6.1.2.1.25.3.2.1.1.1|2|1\n"
	"1.3.6.1.2.1.25.3.2.1.2.1|6|1.3.6.1.2.1.25.3.1.5\n"
	"1.3.6.1.2.1.25.3.2.1.3.1|4|HP Color LaserJet Pro M252dw\n"
	"1.3.6.1.2.1.25.3.2.1.5.1|2|2\n"
	"1.3.6.1.2.1.25.3.5.1.1.1|2|3\n"
	"1.3.6.1.2.1.25.3.5.1.2.1|4x|0100\n"
	"1.3.6.1.2.1.43.5.1.1.17.1|4|CNB1234567\n"
	"1.3.6.1.2.1.43.8.2.1.13.1.1|4|Tray 1\n"
	"1.3.6.1.2.1.43.10.2.1.3.1.1|2|7\n"
	"1.3.6.1.2.1.43.10.2.1.4.1.1|65|12345\n"
	"1.3.6.1.2.1.43.10.2.1.6.1.1|2|4\n"
	"1.3.6.1.2.1.43.11.1.1.3.1.1|2|1\n"
	"1.3.6.1.2.1.43.11.1.1.3.1.2|2|2\n"
	"1.3.6.1.2.1.43.11.1.1.3.1.3|2|3\n"
	"1.3.6.1.2.1.43.11.1.1.3.1.4|2|4\n"
	"1.3.6.1.2.1.43.11.1.1.5.1.1|2|21\n"
	"1.3.6.1.2.1.43.11.1.1.5.1.2|2|21\n"
	"1.3.6.1.2.1.43.11.1.1.5.1.3|2|21\n"
	"1.3.6.1.2.1.43.11.1.1.5.1.4|2|21\n"
	"1.3.6.1.2.1.43.11.1.1.6.1.1|4|Black Cartridge HP 201X\n"
	"1.3.6.1.2.1.43.11.1.1.6.1.2|4|Cyan Cartridge HP 201X\n"
	"1.3.6.1.2.1.43.11.1.1.6.1.3|4|Magenta Cartridge HP 201X\n"
	"1.3.6.1.2.1.43.11.1.1.6.1.4|4|Yellow Cartridge HP 201X\n"
	"1.3.6.1.2.1.43.11.1.1.7.1.1|2|19\n"
	"1.3.6.1.2.1.43.11.1.1.7.1.2|2|19\n"
	"1.3.6.1.2.1.43.11.1.1.7.1.3|2|19\n"
	"1.3.6.1.2.1.43.11.1.1.7.1.4|2|19\n"
	"1.3.6.1.2.1.43.11.1.1.8.1.1|2|100\n"
	"1.3.6.1.2.1.43.11.1.1.8.1.2|2|100\n"
	"1.3.6.1.2.1.43.11.1.1.8.1.3|2|100\n"
	"1.3.6.1.2.1.43.11.1.1.8.1.4|2|-2\n"
	"1.3.6.1.2.1.43.11.1.1.9.1.1|2|80\n"
	"1.3.6.1.2.1.43.11.1.1.9.1.2|2|-3\n"
	"1.3.6.1.2.1.43.11.1.1.9.1.3|2|5\n"
	"1.3.6.1.2.1.43.11.1.1.9.1.4|2|0\n"
	"1.3.6.1.2.1.43.12.1.1.4.1.1|4|black\n"
	"1.3.6.1.2.1.43.12.1.1.4.1.2|4|cyan\n"
	"1.3.6.1.2.1.43.12.1.1.4.1.3|4|magenta\n"
	"1.3.6.1.2.1.43.12.1.1.4.1.4|4|yellow\n"
	"1.3.6.1.2.1.43.16.5.1.2.1.1|4|Ready\n"
	"1.3.6.1.2.1.43.16.5.1.2.1.2|4|Cyan low\n"
	"1.3.6.1.2.1.43.18.1.1.2.1.1|2|4\n"
	"1.3.6.1.2.1.43.18.1.1.2.1.7|2|3\n"
	"1.3.6.1.2.1.43.18.1.1.4.1.1|2|11\n"
	"1.3.6.1.2.1.43.18.1.1.4.1.7|2|13\n"
	"1.3.6.1.2.1.43.18.1.1.7.1.1|2|1104\n"
	"1.3.6.1.2.1.43.18.1.1.7.1.7|2|8\n"
	"1.3.6.1.2.1.43.18.1.1.8.1.1|4|Cyan cartridge low\n"
	"1.3.6.1.2.1.43.18.1.1.8.1.7|4|Paper jam\n"
	"1.3.6.1.2.1.47.1.1.1.1.15.1|4|ASSET-7\n"
	"1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0|4|CNB1234567\n"
	"1.3.6.1.6.3.1.1.6.1.0|2|1\n";

struct env {
	uv_loop_t loop;
	struct snmp_walk mib;
	struct agent ag;
	struct snmp_io *io;
	bool io_closed, close_done;
	uv_timer_t guard;
	bool expired;
	size_t done; /* requests and reads finished */
};

static snmp_addr128 localhost(void)
{
	snmp_addr128 a;
	assert_int_equal(snmp_addr_parse("127.0.0.1", &a), 0);
	return a;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct snmp_io_limits lim = {0, 64};

	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	walk_from_snmprec(&e->mib, small_mib);
	agent_start(&e->ag, &e->loop, &e->mib);
	e->ag.data = e;
	assert_int_equal(snmp_io_new(&e->loop, &lim, &e->io), 0);
	uv_timer_init(&e->loop, &e->guard);
	e->guard.data = e;
	sends.on = false;
	sends.n = 0;
	sends.ignore = &e->ag.udp;
	*state = e;
	return 0;
}

static void on_io_closed(void *arg)
{
	struct env *e = arg;
	e->close_done = true;
}

static void close_io(struct env *e)
{
	if (!e->io_closed) {
		e->io_closed = true;
		snmp_io_close(e->io, on_io_closed, e);
	}
}

static int teardown(void **state)
{
	struct env *e = *state;

	close_io(e);
	agent_stop(&e->ag);
	uv_close((uv_handle_t *)&e->guard, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->close_done);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	snmp_walk_free(&e->mib);
	free(sends.at);
	sends.at = NULL;
	sends.n = sends.cap = 0;
	sends.on = false;
	free(e);
	return 0;
}

static void on_guard(uv_timer_t *t)
{
	struct env *e = t->data;
	e->expired = true;
}

/* Runs the loop until cond holds; fails after limit_ms. */
#define RUN_UNTIL(e, cond, limit_ms)                                                            \
	do {                                                                                    \
		(e)->expired = false;                                                           \
		uv_timer_start(&(e)->guard, on_guard, (limit_ms), 0);                           \
		while (!(cond) && !(e)->expired)                                                \
			uv_run(&(e)->loop, UV_RUN_ONCE);                                        \
		uv_timer_stop(&(e)->guard);                                                     \
		if (!(cond))                                                                    \
			fail_msg("gave up waiting for %s after %d ms", #cond, (int)(limit_ms)); \
	} while (0)

/* Runs the loop for ms. */
static void run_for(struct env *e, uint64_t ms)
{
	e->expired = false;
	uv_timer_start(&e->guard, on_guard, ms, 0);
	while (!e->expired)
		uv_run(&e->loop, UV_RUN_ONCE);
}

/* ---- requests ------------------------------------------------------------- */

struct treq {
	struct snmp_req req;
	struct snmp_oid oid;
	struct env *e;
	int status, calls;
	int32_t version, error_status;
	uint32_t nvbs;
	uint8_t type0;
	int64_t i0;
	char text0[128];
	uint64_t at;
};

static void treq_done(struct snmp_req *r, int status, const struct snmp_msg *m)
{
	struct treq *t = r->data;

	t->calls++;
	t->status = status;
	t->at = uv_now(&t->e->loop);
	t->e->done++;
	if (status == 0) {
		t->version = m->version;
		t->error_status = m->error_status;
		t->nvbs = m->nvbs;
		if (m->nvbs) {
			t->type0 = m->vbs[0].type;
			t->i0 = m->vbs[0].i;
			if (m->vbs[0].type == SNMP_OCTETS)
				snprintf(t->text0, sizeof(t->text0), "%.*s", (int)m->vbs[0].len,
					 (const char *)m->vbs[0].data);
		}
	}
}

static void treq_init(struct treq *t, struct env *e, enum snmp_pdu_type type, const char *oid, unsigned retries,
		      uint32_t timeout_ms)
{
	memset(t, 0, sizeof(*t));
	t->e = e;
	t->status = 1;
	assert_int_equal(snmp_oid_parse(oid, &t->oid), 0);
	t->req.addr = localhost();
	t->req.port = e->ag.port;
	t->req.version = SNMP_V2C;
	t->req.community = (const uint8_t *)"public";
	t->req.community_len = 6;
	t->req.type = type;
	t->req.oids[0] = &t->oid;
	t->req.n = 1;
	t->req.retries = retries;
	t->req.timeout_ms = timeout_ms;
	t->req.done = treq_done;
	t->req.data = t;
}

static void test_response_matched(void **state)
{
	struct env *e = *state;
	struct treq a, b;

	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 2000);
	treq_init(&b, e, SNMP_PDU_GETNEXT, "1.3.6.1.2.1.1.5", 0, 2000);
	b.req.version = SNMP_V1;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	assert_int_equal(snmp_io_submit(e->io, &b.req), 0);
	RUN_UNTIL(e, e->done >= 2, 5000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.version, SNMP_V2C);
	assert_int_equal(a.type0, SNMP_OCTETS);
	assert_string_equal(a.text0, "NPI12345");
	assert_int_equal(b.status, 0);
	assert_int_equal(b.version, SNMP_V1);
	assert_string_equal(b.text0, "NPI12345");
	assert_true(a.req.bytes_out > 0 && a.req.bytes_in > 0);
	const struct snmp_io_stats *st = snmp_io_stats(e->io);
	assert_int_equal(st->sent, 2);
	assert_int_equal(st->received, 2);
	assert_int_equal(st->stray, 0);
	assert_int_equal(st->malformed, 0);
	assert_int_equal(st->retries, 0);
	/* the agent saw two distinct request-ids */
	assert_int_equal(e->ag.nlog, 2);
	assert_true(e->ag.log[0].id != e->ag.log[1].id);

	/* a request can be reused from its callback's caller */
	a.calls = 0;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 3, 5000);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);

	/* what cannot be sent is refused at once */
	a.req.n = 0;
	assert_int_equal(snmp_io_submit(e->io, &a.req), -EINVAL);
	a.req.n = SNMP_REQ_MAX_OIDS + 1;
	assert_int_equal(snmp_io_submit(e->io, &a.req), -EINVAL);
	a.req.n = 1;
	a.req.done = NULL;
	assert_int_equal(snmp_io_submit(e->io, &a.req), -EINVAL);
}

/* Answers wrongly first (another port, another id), rightly 30 ms later,
 * and once more after that (a duplicate). */
static uv_udp_t other_sock;

static void stray_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;

	agent_answer(ag, req, &b);
	agent_send_later(ag, &b, from, 30);
	agent_send_later(ag, &b, from, 60);
	agent_echo(req, req->version, req->request_id + 1, 0, 0, &b);
	agent_send(ag, &b, from);
	agent_answer(ag, req, &b);
	uv_buf_t buf = uv_buf_init((char *)b.d, (unsigned)b.n);
	assert_true(uv_udp_try_send(&other_sock, &buf, 1, from) >= 0);
}

static void test_stray(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sin;
	struct treq a;

	assert_int_equal(uv_udp_init(&e->loop, &other_sock), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(uv_udp_bind(&other_sock, (const struct sockaddr *)&sin, 0), 0);
	e->ag.policy = stray_policy;

	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 3000);
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	const struct snmp_io_stats *st = snmp_io_stats(e->io);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(a.status, 0);
	assert_string_equal(a.text0, "NPI12345");
	/* the wrong id and the wrong port came first and were ignored */
	assert_int_equal(st->stray, 2);
	/* the duplicate answer, after the request ended, is stray too */
	RUN_UNTIL(e, st->received >= 4, 3000);
	assert_int_equal(st->received, 4);
	assert_int_equal(st->stray, 3);
	assert_int_equal(a.calls, 1);
	uv_close((uv_handle_t *)&other_sock, NULL);
}

/* An attacker at 127.0.0.1 that sees a request to itself forges answers,
 * from 127.0.0.2 (where nothing runs), for the ids around the one it saw:
 * with sequential ids the request to its neighbour would take one. */
static uv_udp_t neighbour_sock;

static void spoof_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;

	for (int32_t d = -256; d <= 256; d++) {
		if (!d)
			continue;
		agent_echo(req, req->version, req->request_id + d, 0, 0, &b);
		uv_buf_t buf = uv_buf_init((char *)b.d, (unsigned)b.n);
		assert_true(uv_udp_try_send(&neighbour_sock, &buf, 1, from) >= 0);
	}
	agent_serve(ag, req, from);
}

static void test_spoofed_neighbour(void **state)
{
	struct env *e = *state;
	struct sockaddr_in sin;
	enum { N = 8 };
	struct treq seen, next[N];

	assert_int_equal(uv_udp_init(&e->loop, &neighbour_sock), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.2", e->ag.port, &sin), 0);
	assert_int_equal(uv_udp_bind(&neighbour_sock, (const struct sockaddr *)&sin, 0), 0);
	e->ag.policy = spoof_policy;

	/* one request the attacker sees, then its neighbour's, as a sweep
	 * sends them: one after the other */
	treq_init(&seen, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 3000);
	assert_int_equal(snmp_io_submit(e->io, &seen.req), 0);
	for (int i = 0; i < N; i++) {
		treq_init(&next[i], e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 500);
		assert_int_equal(snmp_addr_parse("127.0.0.2", &next[i].req.addr), 0);
		assert_int_equal(snmp_io_submit(e->io, &next[i].req), 0);
	}
	RUN_UNTIL(e, e->done >= 1 + N, 5000);
	assert_int_equal(seen.status, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(next[i].status, -ETIMEDOUT);
	assert_true(snmp_io_stats(e->io)->stray >= 500);
	uv_close((uv_handle_t *)&neighbour_sock, NULL);
}

/* Ids are spread over the whole 31-bit space, not a run. */
static void test_ids_unpredictable(void **state)
{
	struct env *e = *state;
	enum { N = 200 };
	struct treq *reqs = calloc(N, sizeof(*reqs));
	size_t close = 0;

	assert_non_null(reqs);
	for (int i = 0; i < N; i++) {
		treq_init(&reqs[i], e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 3000);
		assert_int_equal(snmp_io_submit(e->io, &reqs[i].req), 0);
	}
	RUN_UNTIL(e, e->done >= N, 10000);
	assert_int_equal(e->ag.nlog, N);
	for (size_t i = 0; i < e->ag.nlog; i++) {
		assert_true(e->ag.log[i].id > 0);
		for (size_t j = 0; j < i; j++) {
			int64_t d = (int64_t)e->ag.log[i].id - e->ag.log[j].id;
			assert_true(d != 0);
			if (d > -65536 && d < 65536)
				close++; /* by chance: about 1 in 16,000 pairs */
		}
	}
	assert_true(close < 20);
	free(reqs);
}

/* An answer with the right id from the right address but another
 * community is not the answer to the request. */
static void community_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;
	struct snmp_msg forged = *req;

	forged.community = (const uint8_t *)"publiC";
	agent_echo(&forged, req->version, req->request_id, 0, 0, &b);
	agent_send(ag, &b, from);
	agent_answer(ag, req, &b);
	agent_send_later(ag, &b, from, 30);
}

static void test_community_bound(void **state)
{
	struct env *e = *state;
	struct treq a;

	e->ag.policy = community_policy;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 3000);
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(a.status, 0);
	assert_string_equal(a.text0, "NPI12345"); /* the real answer, not the echo */
	assert_int_equal(snmp_io_stats(e->io)->stray, 1);
}

static void malformed_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;

	b.n = 0;
	ber_raw(&b, "\x30\x03\x02\x01", 4); /* truncated */
	agent_send(ag, &b, from);
	b.n = 0;
	ber_raw(&b, "garbage", 7);
	agent_send(ag, &b, from);
	/* a well-formed request is not an answer */
	ber_message(&b, req->version, "public", 6, SNMP_PDU_GET, req->request_id, 0, 0, NULL, NULL);
	agent_send(ag, &b, from);
	/* nor is an SNMPv3 message */
	ber_message(&b, 3, "public", 6, SNMP_PDU_RESPONSE, req->request_id, 0, 0, NULL, NULL);
	agent_send(ag, &b, from);
	agent_answer(ag, req, &b);
	agent_send_later(ag, &b, from, 20);
}

static void test_malformed(void **state)
{
	struct env *e = *state;
	struct treq a;

	e->ag.policy = malformed_policy;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 3000);
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(a.status, 0);
	const struct snmp_io_stats *st = snmp_io_stats(e->io);
	assert_int_equal(st->malformed, 4);
	assert_int_equal(st->stray, 0);
	assert_int_equal(st->received, 5);
}

static void silent_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	(void)ag;
	(void)req;
	(void)from;
}

static void test_timeout_retries(void **state)
{
	struct env *e = *state;
	struct treq a;

	e->ag.policy = silent_policy;
	sends.on = true;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 2, 40);
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(e->ag.nlog, 3);
	assert_int_equal(sends.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(e->ag.log[i].version, SNMP_V2C);
		assert_int_equal(e->ag.log[i].id, e->ag.log[0].id); /* a retry is the same request */
		if (i)                                              /* in the io's clock: a whole timeout apart */
			assert_true(sends.at[i] - sends.at[i - 1] >= 40);
	}
	assert_true(a.at - sends.at[2] >= 40);
	const struct snmp_io_stats *st = snmp_io_stats(e->io);
	assert_int_equal(st->sent, 3);
	assert_int_equal(st->retries, 2);
	assert_int_equal(st->timeouts, 1);

	/* no retries: one send */
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 20);
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 2, 5000);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_int_equal(e->ag.nlog, 4);
}

/* v2c requests go unanswered; v1 is answered. */
static void v1_only_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	if (req->version == SNMP_V1)
		agent_serve(ag, req, from);
}

static void test_v1_fallback(void **state)
{
	struct env *e = *state;
	struct treq a;

	/* an agent that only speaks v1: two v2c attempts, the v1 copy halfway
	 * through the last, and its answer completes the request */
	e->ag.policy = v1_only_policy;
	sends.on = true;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 1, 100);
	a.req.v1_on_last = true;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.version, SNMP_V1);
	assert_string_equal(a.text0, "NPI12345");
	assert_int_equal(e->ag.nlog, 3);
	assert_int_equal(e->ag.log[0].version, SNMP_V2C);
	assert_int_equal(e->ag.log[1].version, SNMP_V2C);
	assert_int_equal(e->ag.log[2].version, SNMP_V1);
	assert_int_equal(sends.n, 3);
	assert_true(sends.at[1] - sends.at[0] >= 100);
	assert_true(sends.at[2] - sends.at[1] >= 50); /* timeout / 2 */

	/* an agent that answers v2c never sees v1 */
	e->ag.policy = agent_serve;
	e->ag.nlog = 0;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 60);
	a.req.v1_on_last = true;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 2, 5000);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.version, SNMP_V2C);
	run_for(e, 100);
	assert_int_equal(e->ag.nlog, 1);

	/* a silent host: v2c, v1 halfway, then the timeout */
	e->ag.policy = silent_policy;
	e->ag.nlog = 0;
	sends.n = 0;
	treq_init(&a, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 60);
	a.req.v1_on_last = true;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 3, 5000);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_int_equal(e->ag.nlog, 2);
	assert_int_equal(e->ag.log[0].version, SNMP_V2C);
	assert_int_equal(e->ag.log[1].version, SNMP_V1);
	assert_true(sends.at[1] - sends.at[0] >= 30);
	assert_true(a.at - sends.at[0] >= 60); /* the whole timeout */

	/* GETBULK has no v1 form: no copy */
	e->ag.nlog = 0;
	treq_init(&a, e, SNMP_PDU_GETBULK, "1.3.6.1.2.1.1", 0, 40);
	a.req.v1_on_last = true;
	a.req.max_repetitions = 5;
	assert_int_equal(snmp_io_submit(e->io, &a.req), 0);
	RUN_UNTIL(e, e->done >= 4, 5000);
	assert_int_equal(a.status, -ETIMEDOUT);
	assert_int_equal(e->ag.nlog, 1);
	assert_int_equal(e->ag.log[0].pdu, SNMP_PDU_GETBULK);
	assert_int_equal(e->ag.log[0].b, 5);
}

/* Answers everything 15 ms later. */
static void slow_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;

	agent_answer(ag, req, &b);
	agent_send_later(ag, &b, from, 15);
}

static void test_max_inflight(void **state)
{
	struct env *e = *state;
	struct snmp_io_limits lim = {0, 4};
	struct treq *reqs = calloc(40, sizeof(*reqs));

	assert_non_null(reqs);
	snmp_io_set_limits(e->io, &lim);
	e->ag.policy = slow_policy;
	assert_int_equal(snmp_io_room(e->io), 4);
	for (int i = 0; i < 40; i++) {
		treq_init(&reqs[i], e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 5000);
		assert_int_equal(snmp_io_submit(e->io, &reqs[i].req), 0);
	}
	assert_int_equal(snmp_io_room(e->io), 0);
	RUN_UNTIL(e, e->done >= 40, 10000);
	for (int i = 0; i < 40; i++)
		assert_int_equal(reqs[i].status, 0);
	/* never more than 4 at the agent at once, and 4 at times */
	assert_true(e->ag.max_outstanding <= 4);
	assert_int_equal(e->ag.max_outstanding, 4);
	assert_int_equal(snmp_io_stats(e->io)->sent, 40);
	/* in the order they were submitted */
	for (int i = 1; i < 40; i++)
		assert_true(reqs[i].at >= reqs[i - 1].at);
	assert_int_equal(snmp_io_room(e->io), 4);
	free(reqs);
}

static void test_rate(void **state)
{
	struct env *e = *state;
	struct snmp_io_limits lim = {100, 1000};
	enum { N = 200, RATE = 100, BURST = 32 };
	struct treq *reqs = calloc(N, sizeof(*reqs));

	assert_non_null(reqs);
	snmp_io_set_limits(e->io, &lim);
	sends.on = true;
	/* a first batch, a pause in which the bucket fills up, and the rest:
	 * the burst goes at once, then the rate holds */
	for (int i = 0; i < N; i++) {
		if (i == N / 4) {
			RUN_UNTIL(e, e->done >= N / 4, 12000);
			run_for(e, 500);
		}
		treq_init(&reqs[i], e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 10000);
		assert_int_equal(snmp_io_submit(e->io, &reqs[i].req), 0);
	}
	RUN_UNTIL(e, e->done >= N, 12000);
	sends.on = false;
	for (int i = 0; i < N; i++)
		assert_int_equal(reqs[i].status, 0);
	assert_int_equal(sends.n, N);
	/* in any window of one second, at most rate + burst went out */
	size_t worst = 0;
	for (size_t i = 0, j = 0; i < sends.n; i++) {
		while (sends.at[i] - sends.at[j] >= 1000)
			j++;
		if (i - j + 1 > worst)
			worst = i - j + 1;
	}
	size_t same = 0;
	for (size_t i = 0, j = 0; i < sends.n; i++) {
		while (sends.at[i] != sends.at[j])
			j++;
		if (i - j + 1 > same)
			same = i - j + 1;
	}
	print_message("rate %d/s: at most %zu datagrams in one second (limit %d), a burst of %zu\n", RATE, worst,
		      RATE + BURST, same);
	assert_true(worst <= RATE + BURST);
	assert_true(same >= BURST / 2 && same <= BURST + 1);
	free(reqs);
}

/* ---- closing -------------------------------------------------------------- */

struct resubmit {
	struct treq t;
	int submit_rc;
};

static void resubmit_done(struct snmp_req *r, int status, const struct snmp_msg *m)
{
	struct resubmit *x = r->data; /* its treq is its first member */

	treq_done(r, status, m);
	x->submit_rc = snmp_io_submit(x->t.e->io, r); /* closing: refused */
}

static void test_close_cancels(void **state)
{
	struct env *e = *state;
	struct snmp_io_limits lim = {0, 3};
	struct resubmit reqs[10];
	struct treq gone;

	snmp_io_set_limits(e->io, &lim);
	e->ag.policy = silent_policy;
	for (int i = 0; i < 10; i++) {
		treq_init(&reqs[i].t, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 3, 10000);
		reqs[i].t.req.done = resubmit_done;
		reqs[i].submit_rc = 1;
		assert_int_equal(snmp_io_submit(e->io, &reqs[i].t.req), 0);
	}
	/* one withdrawn in flight, one in the queue: no callbacks for them */
	treq_init(&gone, e, SNMP_PDU_GET, "1.3.6.1.2.1.1.5.0", 0, 10000);
	assert_int_equal(snmp_io_submit(e->io, &gone.req), 0);
	snmp_io_cancel(e->io, &reqs[0].t.req);
	snmp_io_cancel(e->io, &gone.req);
	RUN_UNTIL(e, e->ag.nlog >= 3, 5000);

	close_io(e);
	for (int i = 1; i < 10; i++) {
		assert_int_equal(reqs[i].t.calls, 1);
		assert_int_equal(reqs[i].t.status, -ECANCELED);
		assert_int_equal(reqs[i].submit_rc, -ECANCELED);
	}
	assert_int_equal(reqs[0].t.calls, 0);
	assert_int_equal(gone.calls, 0);
	assert_false(e->close_done); /* that comes once the handles are closed */
				     /* teardown runs the loop and checks uv_loop_close() == 0 */
}

/* ---- probe and reads ------------------------------------------------------- */

/* Answers only the community "public", like an agent with one community. */
static void public_policy(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	if (req->community_len == 6 && memcmp(req->community, "public", 6) == 0)
		agent_serve(ag, req, from);
}

struct probed {
	struct env *e;
	int calls;
	struct snmp_probe_result res;
};

static void probe_done(struct snmp_probe *p, const struct snmp_probe_result *r, void *arg)
{
	struct probed *x = arg;
	(void)p;

	x->calls++;
	x->res = *r;
	x->e->done++;
}

static void test_probe(void **state)
{
	struct env *e = *state;
	static const char *const communities[] = {"private", "public", NULL};
	struct snmp_auth auth = {SNMP_V2C, false, communities, 2, 0, 300, 0};
	struct probed x = {e, 0, {0}};

	auth.port = e->ag.port;
	e->ag.policy = public_policy;
	assert_int_equal(snmp_probe_start(e->io, &auth, localhost(), probe_done, &x, NULL), 0);
	RUN_UNTIL(e, e->done >= 1, 5000);
	assert_int_equal(x.calls, 1);
	assert_true(x.res.answered);
	assert_int_equal(x.res.community, 1);
	assert_int_equal(x.res.version, SNMP_V2C);
	assert_true(x.res.printer);
	assert_int_equal(strncmp(x.res.descr, "HP ETHERNET MULTI-ENVIRONMENT", 29), 0);
	char buf[64];
	snmp_oid_format(x.res.sysobjectid.arc, x.res.sysobjectid.n, buf, sizeof(buf));
	assert_string_equal(buf, "1.3.6.1.4.1.11.2.3.9.1");
	assert_true(x.res.bytes > 0);
	/* the wrong community's request is cancelled, never called back */
	run_for(e, 350);
	assert_int_equal(x.calls, 1);

	/* nobody there */
	e->ag.policy = silent_policy;
	auth.timeout_ms = 30;
	assert_int_equal(snmp_probe_start(e->io, &auth, localhost(), probe_done, &x, NULL), 0);
	RUN_UNTIL(e, e->done >= 2, 5000);
	assert_int_equal(x.calls, 2);
	assert_false(x.res.answered);
	assert_false(x.res.printer);
}

/* A sweep's producer: starts probes of ncommunities requests each while
 * the io has room for a whole probe, as snmp.c's sweep does. */
struct producer {
	struct env *e;
	const struct snmp_auth *auth;
	unsigned want, started, finished, answered;
};

static void producer_probe_done(struct snmp_probe *p, const struct snmp_probe_result *r, void *arg)
{
	struct producer *x = arg;
	(void)p;

	x->finished++;
	x->answered += r->answered;
}

static void producer_fill(void *arg)
{
	struct producer *x = arg;
	uint32_t need = x->auth->ncommunities;

	while (x->started < x->want && snmp_io_room_for(x->e->io, need)) {
		x->started++;
		assert_int_equal(snmp_probe_start(x->e->io, x->auth, localhost(), producer_probe_done, x, NULL), 0);
	}
}

/* Any rate >= 1 makes progress with any number of communities and any
 * max_inflight (a sweep with two communities at rate < 32 once never sent
 * a packet: it waited for two tokens of a bucket that held one). */
static void test_room_any_rate(void **state)
{
	struct env *e = *state;
	static const char *const communities[] = {"site-ro", "other", "public", NULL};
	static const struct {
		uint32_t rate, max_inflight;
		unsigned ncommunities, probes;
	} cases[] = {
		{1, 256, 2, 2},   {5, 256, 2, 6},     {5, 1, 3, 3},   {31, 2, 2, 10}, {31, 256, 3, 10},
		{32, 256, 2, 40}, {500, 256, 2, 200}, {500, 1, 2, 5}, {0, 3, 3, 40},
	};

	e->ag.policy = public_policy;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snmp_io_limits lim = {cases[i].rate, cases[i].max_inflight};
		/* the agent answers the last community: every probe sends them all */
		struct snmp_auth auth =
			{SNMP_V2C, false, communities + 3 - cases[i].ncommunities, cases[i].ncommunities, e->ag.port,
			 300,      0};
		struct producer x = {e, &auth, cases[i].probes, 0, 0, 0};

		snmp_io_set_limits(e->io, &lim);
		snmp_io_on_room(e->io, producer_fill, &x);
		producer_fill(&x);
		/* datagrams / rate, with room for a loaded machine */
		uint64_t limit =
			4000 + (cases[i].rate ? 3000ull * cases[i].probes * cases[i].ncommunities / cases[i].rate : 0);
		RUN_UNTIL(e, x.finished >= x.want, limit);
		snmp_io_on_room(e->io, NULL, NULL);
		print_message("rate %u, max_inflight %u, %u communities: %u probes, %u answered\n", cases[i].rate,
			      cases[i].max_inflight, cases[i].ncommunities, x.finished, x.answered);
		assert_int_equal(x.answered, x.want);
	}
}

struct readres {
	struct env *e;
	int calls, status;
	json_t *dev;
	struct snmp_walk w;
	struct snmp_read_stats stats;
};

static void copy_walk(struct snmp_walk *dst, const struct snmp_walk *src)
{
	snmp_walk_init(dst);
	for (size_t i = 0; i < src->n; i++) {
		const struct snmp_val *v = &src->v[i];
		struct snmp_vb vb = {v->oid,  v->oid_len, v->type,    v->i,          v->u,
				     v->data, v->len,     v->val_oid, v->val_oid_len};
		assert_int_equal(snmp_walk_add(dst, &vb), 0);
	}
	snmp_walk_finish(dst);
}

static void read_done(struct snmp_read *r, int status, const struct snmp_walk *w, void *arg)
{
	struct readres *x = arg;

	x->calls++;
	x->status = status;
	x->stats = *snmp_read_stats(r);
	x->e->done++;
	if (status == 0) {
		x->dev = snmp_normalise(w, "10.0.0.5", NULL);
		copy_walk(&x->w, w);
	}
}

/* Reads the agent's MIB; the record must be the one of the whole MIB. */
static void read_ok(struct env *e, enum snmp_version version, struct readres *x)
{
	size_t before = e->done;

	memset(x, 0, sizeof(*x));
	x->e = e;
	snmp_walk_init(&x->w);
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, version, "public", 300, 1, NULL,
					 SNMP_READ_FULL, read_done, x, NULL),
			 0);
	RUN_UNTIL(e, e->done > before, 10000);
	assert_int_equal(x->calls, 1);
	assert_int_equal(x->status, 0);

	json_t *want = snmp_normalise(e->ag.mib, "10.0.0.5", NULL);
	if (!json_equal(x->dev, want)) {
		char *a = json_dumps(x->dev, JSON_INDENT(1) | JSON_SORT_KEYS);
		char *b = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
		fail_msg("the read's record:\n%s\nthe MIB's:\n%s", a, b);
	}
	json_decref(want);
}

static void read_free(struct readres *x)
{
	json_decref(x->dev);
	snmp_walk_free(&x->w);
}

static bool in_walk(const struct snmp_walk *w, const char *oid)
{
	return snmp_walk_get_str(w, oid) != NULL;
}

static size_t count_pdu(const struct agent *ag, uint8_t pdu)
{
	size_t n = 0;

	for (size_t i = 0; i < ag->nlog; i++)
		n += ag->log[i].pdu == pdu;
	return n;
}

static void test_read_full(void **state)
{
	struct env *e = *state;
	struct readres x;

	read_ok(e, SNMP_V2C, &x);
	/* the scalars, the columns and the cells of the rows found */
	static const char *const want[] = {
		"1.3.6.1.2.1.1.1.0",
		"1.3.6.1.2.1.1.2.0",
		"1.3.6.1.2.1.1.5.0",
		"1.3.6.1.2.1.1.6.0",
		"1.3.6.1.2.1.43.5.1.1.17.1",
		"1.3.6.1.2.1.47.1.1.1.1.15.1",
		"1.3.6.1.2.1.25.3.5.1.1.1",
		"1.3.6.1.2.1.25.3.5.1.2.1",
		"1.3.6.1.2.1.43.10.2.1.4.1.1",
		"1.3.6.1.2.1.43.10.2.1.3.1.1",
		"1.3.6.1.2.1.43.10.2.1.6.1.1",
		"1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0", /* HP's serial, once identified */
		"1.3.6.1.2.1.2.2.1.6.1",
		"1.3.6.1.2.1.2.2.1.6.2",
		"1.3.6.1.2.1.2.2.1.3.2",
		"1.3.6.1.2.1.2.2.1.8.2",
		"1.3.6.1.2.1.4.20.1.2.10.0.0.5",
		"1.3.6.1.2.1.4.20.1.2.127.0.0.1",
		"1.3.6.1.2.1.25.3.2.1.2.1",
		"1.3.6.1.2.1.25.3.2.1.3.1",
		"1.3.6.1.2.1.25.3.2.1.5.1",
		"1.3.6.1.2.1.43.12.1.1.4.1.4",
		"1.3.6.1.2.1.43.16.5.1.2.1.1",
		"1.3.6.1.2.1.43.16.5.1.2.1.2",
		"1.3.6.1.2.1.43.18.1.1.2.1.7",
		"1.3.6.1.2.1.43.18.1.1.4.1.7",
		"1.3.6.1.2.1.43.18.1.1.7.1.7",
		"1.3.6.1.2.1.43.18.1.1.8.1.7",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!in_walk(&x.w, want[i]))
			fail_msg("%s was not read", want[i]);
	for (unsigned row = 1; row <= 4; row++)
		for (unsigned col = 3; col <= 9; col++) {
			char oid[64];
			if (col == 4)
				continue;
			snprintf(oid, sizeof(oid), "1.3.6.1.2.1.43.11.1.1.%u.1.%u", col, row);
			if (!in_walk(&x.w, oid))
				fail_msg("%s was not read", oid);
		}
	/* and not what no read needs */
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.43.8.2.1.13.1.1"));
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.2.2.1.10.2"));
	assert_false(in_walk(&x.w, "1.3.6.1.6.3.1.1.6.1.0"));
	assert_true(count_pdu(&e->ag, SNMP_PDU_GETBULK) > 0);
	assert_int_equal(count_pdu(&e->ag, SNMP_PDU_GETNEXT), 0);
	assert_int_equal(x.stats.requests, e->ag.nlog);
	assert_true(x.stats.bytes > 0);
	print_message("full read: %zu requests, %zu values\n", x.stats.requests, x.w.n);
	read_free(&x);

	/* a status read: what changes, and the identity check */
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 300, 1, NULL,
					 SNMP_READ_STATUS, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 10000);
	assert_int_equal(x.status, 0);
	assert_true(in_walk(&x.w, "1.3.6.1.2.1.43.5.1.1.17.1"));
	assert_true(in_walk(&x.w, "1.3.6.1.2.1.43.11.1.1.9.1.3"));
	assert_true(in_walk(&x.w, "1.3.6.1.2.1.25.3.2.1.5.1"));
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.1.6.0"));        /* no identity */
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.2.2.1.6.2"));    /* no interfaces */
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.25.3.2.1.3.1")); /* no model */
	read_free(&x);
}

static void test_read_loop(void **state)
{
	struct env *e = *state;
	struct readres x;

	/* an agent whose GETNEXT and GETBULK never move on: each column ends
	 * at its first answer, and the read finishes */
	e->ag.loop_next = true;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 300, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 10000);
	assert_int_equal(x.status, 0);
	assert_true(e->ag.nlog < 20);
	assert_true(in_walk(&x.w, "1.3.6.1.2.1.1.5.0")); /* the GETs still work */
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.43.11.1.1.9.1.1"));
	read_free(&x);

	/* the same on SNMPv1 (GETNEXT) */
	e->ag.nlog = 0;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V1, "public", 300, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 10000);
	assert_int_equal(x.status, 0);
	assert_true(e->ag.nlog < 40);
	assert_int_equal(count_pdu(&e->ag, SNMP_PDU_GETBULK), 0);
	read_free(&x);
}

static void test_read_toobig(void **state)
{
	struct env *e = *state;
	struct readres x;

	/* GETBULK above 2 repetitions is tooBig: the read halves max-repetitions
	 * and still reads everything */
	e->ag.toobig_over = 2;
	read_ok(e, SNMP_V2C, &x);
	bool big = false, small = false;
	for (size_t i = 0; i < e->ag.nlog; i++)
		if (e->ag.log[i].pdu == SNMP_PDU_GETBULK) {
			big |= e->ag.log[i].b > 2;
			small |= e->ag.log[i].b <= 2;
		}
	assert_true(big && small);
	read_free(&x);

	/* even 1 is too big: the columns are given up, the read still ends */
	e->ag.toobig_over = -1;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 300, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 10000);
	assert_int_equal(x.status, 0);
	assert_true(in_walk(&x.w, "1.3.6.1.2.1.1.5.0"));
	assert_false(in_walk(&x.w, "1.3.6.1.2.1.43.11.1.1.9.1.1"));
	read_free(&x);

	/* an agent that cuts GETBULK answers short, as RFC 3416 allows when
	 * they would not fit: the columns it did not reach go on */
	e->ag.toobig_over = 0;
	e->ag.max_vbs = 3;
	read_ok(e, SNMP_V2C, &x);
	read_free(&x);
}

static void test_read_v1(void **state)
{
	struct env *e = *state;
	struct readres x;

	/* SNMPv1: an absent object fails the whole GET with noSuchName and
	 * its index; the end of the MIB ends a GETNEXT walk the same way */
	read_ok(e, SNMP_V1, &x);
	assert_int_equal(count_pdu(&e->ag, SNMP_PDU_GETBULK), 0);
	assert_true(count_pdu(&e->ag, SNMP_PDU_GETNEXT) > 0);
	for (size_t i = 0; i < e->ag.nlog; i++)
		assert_int_equal(e->ag.log[i].version, SNMP_V1);
	read_free(&x);
}

static void test_read_timeout_and_cancel(void **state)
{
	struct env *e = *state;
	struct readres x;

	e->ag.policy = silent_policy;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 20, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 5000);
	assert_int_equal(x.status, -ETIMEDOUT);
	assert_null(x.dev);

	/* cancelled: no callback, nothing left behind (ASan checks) */
	struct snmp_read *r = NULL;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 1000, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, &r),
			 0);
	assert_non_null(r);
	run_for(e, 20);
	snmp_read_cancel(r);
	run_for(e, 20);
	assert_int_equal(x.calls, 0);

	/* closing the io ends a read with -ECANCELED */
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, SNMP_V2C, "public", 1000, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	close_io(e);
	assert_int_equal(x.calls, 1);
	assert_int_equal(x.status, -ECANCELED);
}

static int snmprec_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 8 && strcmp(d->d_name + n - 8, ".snmprec") == 0;
}

/* Every recording of the shared set read through the reader gives the
 * record of the whole recording: the read collects all the normaliser
 * uses. Through a plain agent, a constrained one (short GETBULK answers,
 * tooBig above 4 repetitions) and SNMPv1. */
static unsigned read_recording(struct env *e, const char *name, struct snmp_walk *w, enum snmp_version version)
{
	struct readres x;
	unsigned diffs = 0;
	const char *k;
	json_t *v;

	e->ag.mib = w;
	memset(&x, 0, sizeof(x));
	x.e = e;
	assert_int_equal(snmp_read_start(e->io, localhost(), e->ag.port, version, "public", 300, 1, NULL,
					 SNMP_READ_FULL, read_done, &x, NULL),
			 0);
	RUN_UNTIL(e, x.calls == 1, 10000);
	assert_int_equal(x.status, 0);
	json_t *want = snmp_normalise(w, "10.0.0.5", NULL);
	json_object_foreach (want, k, v) {
		if (json_equal(v, json_object_get(x.dev, k)))
			continue;
		char *a = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		char *b = json_dumps(json_object_get(x.dev, k), JSON_ENCODE_ANY | JSON_COMPACT);
		print_message("  %s (v%s%s): %s: whole recording %.200s, read %.200s\n", name,
			      version == SNMP_V1 ? "1" : "2c", e->ag.max_vbs ? ", constrained" : "", k, a,
			      b ? b : "(absent)");
		free(a);
		free(b);
		diffs++;
	}
	json_object_foreach (x.dev, k, v)
		if (!json_object_get(want, k)) {
			print_message("  %s: %s only in the read\n", name, k);
			diffs++;
		}
	json_decref(want);
	read_free(&x);
	e->ag.mib = &e->mib;
	return diffs;
}

static void test_read_recordings(void **state)
{
	struct env *e = *state;
	const char *dir = testdata_dir();
	struct dirent **names;
	char path[4096];
	unsigned diffs = 0;

	if (!dir) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "%s/snmprec", dir);
	int n = scandir(path, &names, snmprec_file, alphasort);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		struct snmp_walk w;
		size_t len = 0, bad = 0;
		snprintf(path, sizeof(path), "%s/snmprec/%s", dir, names[i]->d_name);
		char *text = slurp(path, &len);
		assert_non_null(text);
		snmp_walk_init(&w);
		assert_int_equal(snmp_walk_load_snmprec(&w, text, len, &bad), 0);
		diffs += read_recording(e, names[i]->d_name, &w, SNMP_V2C);
		e->ag.max_vbs = 5;
		e->ag.toobig_over = 4;
		diffs += read_recording(e, names[i]->d_name, &w, SNMP_V2C);
		e->ag.max_vbs = 0;
		e->ag.toobig_over = 0;
		diffs += read_recording(e, names[i]->d_name, &w, SNMP_V1);
		snmp_walk_free(&w);
		free(text);
		free(names[i]);
	}
	free(names);
	print_message("%d recordings read three ways: %u fields differ from the whole recordings\n", n, diffs);
	assert_int_equal(diffs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_response_matched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_neighbour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_unpredictable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_community_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_any_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_toobig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_timeout_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_recordings, setup, teardown),
	};

	scout_log_set_level(SCOUT_LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
