/* Unit tests for src/loop/http.c. The parser path through the socketless
 * test seam (pipelining, chunked bodies split byte by byte, every error
 * answer: 400, 413, 417, 431, 505; HEAD, HTTP/1.0, header lookup); then a
 * live server on 127.0.0.1 talked to by raw sockets in a thread
 * (100-continue, keep-alive, 408 for slow headers, idle close, 503 past the
 * connection cap), by our own client (chunked upload with the handler
 * pausing, a streamed response with back-pressure, TLS with a pin, a
 * timeout) and by curl when it is installed. Each live test ends with
 * uv_loop_close() == 0. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop/http.h"
#include "run-cmd.h"

static char dir[] = "/tmp/scout-test-http.XXXXXX";
static char cert[256], key[256];

/* ---- the handler under test ------------------------------------------- */

struct hs {
	uv_loop_t *loop;
	int nreq, aborts, ends;
	char targets[16][64];
	char last_ua[64];
	size_t body_len;
	uint64_t sum;
	bool pause_body, no_answer;
	struct scout_http_req *held; /* paused or unanswered */
	uv_timer_t resume;
	bool resume_init;
	/* streamed responses */
	size_t stream_left;
	char chunk[65536];
	size_t max_queued;
};

static void resume_cb(uv_timer_t *t)
{
	struct hs *h = t->data;

	if (h->held) {
		struct scout_http_req *r = h->held;

		h->held = NULL;
		scout_http_resume(r);
	}
}

static void on_request(struct scout_http_req *r, void *arg)
{
	struct hs *h = arg;
	const char *t = scout_http_target(r);
	const char *ua = scout_http_header(r, "USER-AGENT");

	if (h->nreq < 16)
		snprintf(h->targets[h->nreq], sizeof(h->targets[0]), "%s", t);
	h->nreq++;
	h->body_len = 0;
	h->sum = 0;
	snprintf(h->last_ua, sizeof(h->last_ua), "%s", ua ? ua : "");
	if (strncmp(t, "/big", 4) == 0)
		scout_http_set_max_body(r, 64 * 1024 * 1024);
	if (strcmp(t, "/reject") == 0) {
		assert_int_equal(scout_http_respond(r, 403, NULL, 0, "no\n", 3), 0);
		return;
	}
	if (strcmp(t, "/is-tls") == 0) {
		const char *a = scout_http_is_tls(r) ? "tls\n" : "plain\n";
		assert_int_equal(scout_http_respond(r, 200, NULL, 0, a, strlen(a)), 0);
		return;
	}
	if (strcmp(t, "/hold") == 0) { /* decides later: 100 only on resume */
		scout_http_pause(r);
		h->held = r;
	}
}

static void on_body(struct scout_http_req *r, const char *data, size_t len, void *arg)
{
	struct hs *h = arg;

	for (size_t i = 0; i < len; i++)
		h->sum += (unsigned char)data[i];
	h->body_len += len;
	if (h->pause_body && !h->held) {
		scout_http_pause(r);
		h->held = r;
		uv_timer_start(&h->resume, resume_cb, 1, 0);
	}
}

static void stream_more(void *arg, int status);

static void stream_more_req(struct hs *h, struct scout_http_req *r)
{
	while (h->stream_left > 0 && scout_http_queued(r) < 256 * 1024) {
		size_t n = h->stream_left < sizeof(h->chunk) ? h->stream_left : sizeof(h->chunk);

		h->stream_left -= n;
		assert_int_equal(scout_http_write(r, h->chunk, n, h->stream_left ? NULL : stream_more, r), 0);
		if (scout_http_queued(r) > h->max_queued)
			h->max_queued = scout_http_queued(r);
	}
	if (h->stream_left == 0)
		return;
	/* wait for the queue to drain: the write callback of a marker */
	assert_int_equal(scout_http_write(r, "", 0, NULL, NULL), 0);
}

static struct hs *stream_h;

static void stream_more(void *arg, int status)
{
	struct scout_http_req *r = arg;

	if (status == 0 && stream_h->stream_left == 0)
		assert_int_equal(scout_http_end(r), 0);
}

static void stream_tick(uv_timer_t *t)
{
	struct hs *h = t->data;

	if (h->held && h->stream_left)
		stream_more_req(h, h->held);
	if (h->held && !h->stream_left) {
		h->held = NULL;
		uv_timer_stop(t);
	}
}

static void on_end(struct scout_http_req *r, void *arg)
{
	struct hs *h = arg;
	char body[256];
	int n;

	h->ends++;
	if (h->no_answer) {
		h->held = r;
		return;
	}
	if (strncmp(scout_http_target(r), "/stream/", 8) == 0) {
		h->stream_left = strtoul(scout_http_target(r) + 8, NULL, 10);
		for (size_t i = 0; i < sizeof(h->chunk); i++)
			h->chunk[i] = (char)('a' + i % 26);
		assert_int_equal(scout_http_start(r, 200, NULL, 0, -1), 0);
		stream_h = h;
		stream_more_req(h, r);
		if (h->stream_left) {
			h->held = r;
			uv_timer_start(&h->resume, stream_tick, 1, 1);
			h->resume.data = h;
		}
		return;
	}
	n = snprintf(body, sizeof(body), "%s %s len=%zu sum=%llu\n", scout_http_method(r), scout_http_target(r),
		     h->body_len, (unsigned long long)h->sum);
	struct scout_http_header hdr[] = {{"Content-Type", "text/plain"}, {"X-Test", "1"}};
	assert_int_equal(scout_http_respond(r, 200, hdr, 2, body, (size_t)n), 0);
}

static void on_abort(struct scout_http_req *r, void *arg)
{
	struct hs *h = arg;

	h->aborts++;
	if (h->held == r)
		h->held = NULL;
}

static const struct scout_http_handler handler = {.on_request = on_request,
						  .on_body = on_body,
						  .on_end = on_end,
						  .on_abort = on_abort};

/* ---- the socketless seam ------------------------------------------------ */

struct fake {
	uv_loop_t loop;
	struct scout_http_server *srv;
	struct hs h;
};

static struct fake *fake_new(const struct scout_http_limits *lim)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct scout_http_server_opts o = {.port = -1, .handler = &handler, .arg = &f->h};
	char err[256];

	if (lim)
		o.limits = *lim;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->h.loop = &f->loop;
	if (scout_http_server_new(&f->loop, &o, &f->srv, err, sizeof(err)) != 0)
		fail_msg("server: %s", err);
	return f;
}

static void closed_done(void *arg)
{
	*(bool *)arg = true;
}

static void fake_free(struct fake *f)
{
	bool done = false;

	scout_http_server_close(f->srv, closed_done, &done);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
}

/* Feeds in, returns the output (static buffer), and whether it closed. */
static const char *feed(struct fake *f, const char *in, size_t chunk, bool *ret_closed)
{
	static char out[65536];
	char *o = NULL;
	size_t n = 0;
	bool closed = false;

	assert_int_equal(scout_http_server_feed_test(f->srv, in, strlen(in), chunk, &o, &n, &closed), 0);
	assert_true(n < sizeof(out));
	memcpy(out, o ? o : "", n);
	out[n] = '\0';
	free(o);
	if (ret_closed)
		*ret_closed = closed;
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void expect_in(const char *out, const char *want)
{
	if (!out || !strstr(out, want))
		fail_msg("output lacks '%s':\n%s", want, out ? out : "(none)");
}

static void test_simple_get(void **state)
{
	struct fake *f = fake_new(NULL);
	const char *out = feed(f, "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n", 0, NULL);

	expect_in(out, "HTTP/1.1 200 OK\r\n");
	expect_in(out, "Content-Length: 23\r\n");
	expect_in(out, "X-Test: 1\r\n");
	expect_in(out, "\r\n\r\nGET /a?b=1 len=0 sum=0\n");
	assert_null(strstr(out, "Connection: close"));
	assert_string_equal(f->h.last_ua, "t/1"); /* looked up as USER-AGENT */
	fake_free(f);
}

static void test_pipelining(void **state)
{
	const char *in = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
			 "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
			 "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";

	for (size_t chunk = 0; chunk <= 7; chunk += 7) {
		struct fake *f = fake_new(NULL);
		const char *out = feed(f, in, chunk ? 1 : 0, NULL);
		const char *a = strstr(out, "GET /1 len=0"), *b = strstr(out, "POST /2 len=3 sum=294"),
			   *c = strstr(out, "GET /3 len=0");

		if (!a || !b || !c || !(a < b && b < c))
			fail_msg("responses out of order or missing (chunk %zu):\n%s", chunk, out);
		assert_int_equal(count(out, "HTTP/1.1 200"), 3);
		fake_free(f);
	}
}

static void test_chunked_body(void **state)
{
	const char *in = "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "3\r\nabc\r\n"
			 "a;ext=1\r\n0123456789\r\n"
			 "0\r\nTrailer: x\r\n\r\n"
			 "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";

	for (size_t chunk = 0; chunk < 2; chunk++) {
		struct fake *f = fake_new(NULL);
		const char *out = feed(f, in, chunk, NULL);

		expect_in(out, "POST /up len=13 sum=819\n"); /* abc + 0..9: 294 + 525 */
		expect_in(out, "GET /after len=0");
		fake_free(f);
	}
}

static void test_errors(void **state)
{
	struct scout_http_limits lim = {.max_header_bytes = 1024, .max_headers = 8, .max_body = 100};
	struct {
		const char *in, *status;
	} cases[] = {
		{"garbage\r\n\r\n", "400 Bad Request"},
		{"GET / HTTP/1.1\r\nHost x\r\n\r\n", "400 Bad Request"},
		{"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request"},
		{"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request"},
		{"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", "413 Content Too Large"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n"
		 "0123456789012345678901234567890123456789012345678901234567890123\r\n"
		 "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n0\r\n\r\n",
		 "413 Content Too Large"},
		{"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\nI: 1\r\n\r\n",
		 "431 Request Header Fields Too Large"},
		{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported"},
		{"GET / HTTP/1.1\r\nExpect: something\r\n\r\n", "417 Expectation Failed"},
		/* a tunnel is not served: llhttp would end the message at the
		 * headers, whatever Content-Length says (found by fuzzing) */
		{"CONNECT p HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhe6", "501 Not Implemented"},
		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "501 Not Implemented"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake *f = fake_new(&lim);
		bool closed = false;
		const char *out = feed(f, cases[i].in, 0, &closed);

		if (strncmp(out, "HTTP/1.1 ", 9) != 0 ||
		    strncmp(out + 9, cases[i].status, strlen(cases[i].status)) != 0)
			fail_msg("case %zu: want %s, got:\n%s", i, cases[i].status, out);
		expect_in(out, "Connection: close\r\n");
		assert_true(closed);
		assert_int_equal(f->h.ends, 0); /* the handler never saw a whole request */
		fake_free(f);
	}

	/* a header section past the byte limit: 431 */
	char big[2048];
	snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX: %01500d\r\n\r\n", 0);
	struct fake *f = fake_new(&lim);
	expect_in(feed(f, big, 0, NULL), "HTTP/1.1 431 ");
	fake_free(f);
	/* ... and so is a long request line */
	snprintf(big, sizeof(big), "GET /%01500d HTTP/1.1\r\n\r\n", 0);
	f = fake_new(&lim);
	expect_in(feed(f, big, 100, NULL), "HTTP/1.1 431 ");
	fake_free(f);
	/* a route that allows more: 200 for the same body on /big */
	f = fake_new(&lim);
	snprintf(big, sizeof(big), "POST /big HTTP/1.1\r\nContent-Length: 500\r\n\r\n%0500d", 0);
	expect_in(feed(f, big, 0, NULL), "POST /big len=500 sum=24000");
	fake_free(f);
}

static void test_head_http10_reject(void **state)
{
	struct fake *f = fake_new(NULL);
	bool closed;
	const char *out = feed(f, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n", 0, NULL);

	expect_in(out, "Content-Length: 20\r\n");
	assert_non_null(strstr(out, "\r\n\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n"); /* no body after a HEAD */

	out = feed(f, "GET /old HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n", 0, &closed);
	expect_in(out, "Connection: close\r\n");
	assert_int_equal(count(out, "HTTP/1.1 200"), 1); /* 1.0 without keep-alive: one request */
	assert_true(closed);

	/* answered before the body: the body is not read, the connection ends */
	out = feed(f, "POST /reject HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\n\r\n", 0, &closed);
	expect_in(out, "HTTP/1.1 403 Forbidden\r\n");
	expect_in(out, "Connection: close\r\n");
	assert_int_equal(count(out, "HTTP/1.1 "), 1);
	assert_true(closed);
	/* answered early, no body: keep going */
	out = feed(f, "GET /reject HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n", 0, NULL);
	expect_in(out, "HTTP/1.1 403 Forbidden\r\n");
	expect_in(out, "GET /x len=0");
	fake_free(f);
}

/* ---- a live server and raw clients in a thread -------------------------- */

struct live {
	uv_loop_t loop;
	struct scout_http_server *srv;
	struct scout_tls_ctx *tls;
	struct hs h;
	int port;
	uv_timer_t tick; /* keeps UV_RUN_ONCE from blocking while a thread works */
};

static void noop_timer(uv_timer_t *t)
{
}

enum { PLAIN, TLS, TLS_OR_PLAIN };

static struct live *live_new(const struct scout_http_limits *lim, int tls)
{
	struct live *l = calloc(1, sizeof(*l));
	struct scout_http_server_opts o = {.host = "127.0.0.1", .handler = &handler, .arg = &l->h, .name = "test"};
	char err[SCOUT_TLS_ERR_LEN];

	assert_int_equal(uv_loop_init(&l->loop), 0);
	l->h.loop = &l->loop;
	uv_timer_init(&l->loop, &l->h.resume);
	l->h.resume.data = &l->h;
	uv_timer_init(&l->loop, &l->tick);
	uv_timer_start(&l->tick, noop_timer, 5, 5);
	if (lim)
		o.limits = *lim;
	if (tls) {
		struct scout_tls_server_opts so = {.cert_file = cert, .key_file = key};
		if (scout_tls_ctx_server(&so, &l->tls, err, sizeof(err)) != 0)
			fail_msg("tls: %s", err);
		o.tls = l->tls;
		o.tls_optional = tls == TLS_OR_PLAIN;
	}
	if (scout_http_server_new(&l->loop, &o, &l->srv, err, sizeof(err)) != 0)
		fail_msg("server: %s", err);
	l->port = scout_http_server_port(l->srv);
	assert_true(l->port > 0);
	return l;
}

static void live_free(struct live *l)
{
	bool done = false;

	scout_http_server_close(l->srv, closed_done, &done);
	uv_close((uv_handle_t *)&l->h.resume, NULL);
	uv_close((uv_handle_t *)&l->tick, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_true(done);
	assert_int_equal(uv_loop_close(&l->loop), 0);
	scout_tls_ctx_unref(l->tls);
	free(l);
}

/* A raw client script: send, wait for a string, read to the end. */
struct step {
	const char *send;   /* bytes to send */
	const char *expect; /* read until this appears */
	int sleep_ms;
};

struct raw {
	int port;
	const struct step *steps;
	atomic_bool done;
	char got[8192];
	size_t got_len;
	bool eof;  /* the server closed */
	bool hold; /* keep the socket open after the steps (until released) */
	atomic_bool release;
	int fd;
};

static int raw_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 30};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool raw_read(struct raw *r)
{
	ssize_t n;

	if (r->got_len + 1 >= sizeof(r->got))
		return false;
	n = recv(r->fd, r->got + r->got_len, sizeof(r->got) - 1 - r->got_len, 0);
	if (n <= 0) {
		r->eof = true;
		return false;
	}
	r->got_len += (size_t)n;
	r->got[r->got_len] = '\0';
	return true;
}

static void *raw_run(void *arg)
{
	struct raw *r = arg;

	r->fd = raw_connect(r->port);
	if (r->fd < 0)
		goto out;
	for (const struct step *s = r->steps; s && (s->send || s->expect || s->sleep_ms); s++) {
		if (s->sleep_ms)
			usleep((useconds_t)s->sleep_ms * 1000);
		if (s->send && send(r->fd, s->send, strlen(s->send), MSG_NOSIGNAL) < 0)
			break;
		while (s->expect && !strstr(r->got, s->expect) && raw_read(r))
			;
	}
	if (r->hold) {
		while (!atomic_load(&r->release))
			usleep(1000);
	} else {
		while (raw_read(r))
			;
	}
	close(r->fd);
out:
	atomic_store(&r->done, true);
	return NULL;
}

static void raw_start(struct live *l, struct raw *r, pthread_t *th)
{
	r->port = l->port;
	assert_int_equal(pthread_create(th, NULL, raw_run, r), 0);
}

static void live_wait(struct live *l, struct raw *r, pthread_t th)
{
	while (!atomic_load(&r->done))
		uv_run(&l->loop, UV_RUN_ONCE);
	pthread_join(th, NULL);
}

static void test_continue_keepalive(void **state)
{
	struct live *l = live_new(NULL, PLAIN);
	const struct step steps[] = {
		{.send = "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
		 .expect = "HTTP/1.1 100 Continue\r\n\r\n"},
		{.send = "hello", .expect = "len=5"},
		/* the same connection: keep-alive */
		{.send = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n", .expect = "GET /second len=0"},
		/* held by the handler: no 100 until it resumes (it does at once here) */
		{.send = "POST /hold HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"},
		{.sleep_ms = 1},
		{.send = "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n"},
		{0},
	};
	struct raw r = {.steps = steps};
	pthread_t th;

	raw_start(l, &r, &th);
	/* resume /hold once it is held: only then may the 100 go out */
	while (!atomic_load(&r.done)) {
		uv_run(&l->loop, UV_RUN_NOWAIT);
		if (l->h.held) {
			struct scout_http_req *req = l->h.held;

			l->h.held = NULL;
			assert_null(strstr(r.got + 0, "POST /hold")); /* not answered yet */
			scout_http_resume(req);
		}
		usleep(1000);
	}
	pthread_join(th, NULL);
	assert_int_equal(count(r.got, "100 Continue"), 2);
	expect_in(r.got, "POST /c len=5 sum=532");
	/* /hold got its 100 but not its body (the client sent the next request
	 * instead), so the bytes "GET /last..." are its body: an error, not a hang */
	assert_true(r.eof);
	assert_int_equal(scout_http_server_stats(l->srv)->connections, 1);
	live_free(l);
}

static void test_header_timeout(void **state)
{
	struct scout_http_limits lim = {.header_timeout_ms = 300, .idle_timeout_ms = 300};
	struct live *l = live_new(&lim, PLAIN);
	const struct step slow[] = {{.send = "GET / HTTP/1.1\r\nHost: x\r\n"}, {0}}; /* never ends */
	struct raw r = {.steps = slow};
	pthread_t th;

	raw_start(l, &r, &th);
	live_wait(l, &r, th);
	expect_in(r.got, "HTTP/1.1 408 Request Timeout\r\n");
	assert_true(r.eof);

	/* idle: nothing sent at all, closed without a word */
	const struct step idle[] = {{0}};
	struct raw r2 = {.steps = idle};
	raw_start(l, &r2, &th);
	live_wait(l, &r2, th);
	assert_int_equal(r2.got_len, 0);
	assert_true(r2.eof);
	assert_true(scout_http_server_stats(l->srv)->timeouts >= 2);
	live_free(l);
}

static void test_connection_cap(void **state)
{
	struct scout_http_limits lim = {.max_conns = 2};
	struct live *l = live_new(&lim, PLAIN);
	const struct step get[] = {{.send = "GET /held HTTP/1.1\r\n\r\n", .expect = "len=0"}, {0}};
	struct raw a = {.steps = get, .hold = true}, b = {.steps = get, .hold = true}, c = {.steps = get};
	pthread_t ta, tb, tc;

	raw_start(l, &a, &ta);
	raw_start(l, &b, &tb);
	while (!strstr(a.got, "len=0") || !strstr(b.got, "len=0"))
		uv_run(&l->loop, UV_RUN_NOWAIT), usleep(1000);
	raw_start(l, &c, &tc);
	while (!atomic_load(&c.done))
		uv_run(&l->loop, UV_RUN_NOWAIT), usleep(1000);
	pthread_join(tc, NULL);
	expect_in(c.got, "HTTP/1.1 503 Service Unavailable\r\n");
	assert_true(c.eof);
	assert_int_equal(scout_http_server_stats(l->srv)->refused_busy, 1);
	atomic_store(&a.release, true);
	atomic_store(&b.release, true);
	while (!atomic_load(&a.done) || !atomic_load(&b.done))
		uv_run(&l->loop, UV_RUN_NOWAIT), usleep(1000);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* below the cap again: served (poll: the two closes reach the loop) */
	for (int i = 0; i < 200; i++) {
		uv_run(&l->loop, UV_RUN_NOWAIT);
		if (scout_http_server_stats(l->srv)->open == 0)
			break;
		usleep(10000);
	}
	const struct step get_close[] = {{.send = "GET /held HTTP/1.1\r\nConnection: close\r\n\r\n"}, {0}};
	struct raw d = {.steps = get_close};
	raw_start(l, &d, &tc);
	live_wait(l, &d, tc);
	expect_in(d.got, "GET /held len=0");
	live_free(l);
}

/* ---- our client ------------------------------------------------------------ */

struct cl {
	struct live *l;
	struct scout_http_client *c;
	bool connected, complete, failed;
	int status, err;
	char reason[600];
	char peer_pin[SCOUT_TLS_PIN_HEX_LEN + 1];
	char body[4096];
	size_t body_len, total;
	uint64_t sum;
	/* upload */
	size_t up_left;
	char up[65536];
	bool pause_each;
};

static void cl_connect(struct scout_http_client *c, const struct scout_tls_peer *peer, void *arg)
{
	struct cl *x = arg;

	x->connected = true;
	if (peer)
		snprintf(x->peer_pin, sizeof(x->peer_pin), "%s", peer->pin_hex);
}

static void cl_response(struct scout_http_client *c, int status, void *arg)
{
	struct cl *x = arg;

	x->status = status;
}

static void cl_body(struct scout_http_client *c, const char *d, size_t n, void *arg)
{
	struct cl *x = arg;

	for (size_t i = 0; i < n; i++)
		if (d[i] != (char)('a' + (x->total + i) % 65536 % 26))
			x->sum++; /* mismatches */
	if (x->body_len + n < sizeof(x->body)) {
		memcpy(x->body + x->body_len, d, n);
		x->body_len += n;
		x->body[x->body_len] = '\0';
	}
	x->total += n;
}

static void cl_complete(struct scout_http_client *c, void *arg)
{
	struct cl *x = arg;

	x->complete = true;
}

static void cl_error(struct scout_http_client *c, int err, const char *reason, void *arg)
{
	struct cl *x = arg;

	x->failed = true;
	x->err = err;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
}

static const struct scout_http_client_callbacks ccbs = {.on_connect = cl_connect,
							.on_response = cl_response,
							.on_body = cl_body,
							.on_complete = cl_complete,
							.on_error = cl_error};

static void run_until(uv_loop_t *loop, bool *a, bool *b)
{
	while (!*a && !*b) /* the live fixture's tick wakes the loop */
		uv_run(loop, UV_RUN_ONCE);
}

static struct cl *cl_new(struct live *l, struct scout_tls_ctx *tls, const struct scout_tls_client_conn_opts *to,
			 uint64_t timeout_ms)
{
	struct cl *x = calloc(1, sizeof(*x));
	struct scout_http_client_opts o = {.host = "127.0.0.1", .port = l->port, .tls = tls, .timeout_ms = timeout_ms};
	char err[600];

	if (to)
		o.tls_opts = *to;
	x->l = l;
	if (scout_http_client_connect(&l->loop, &o, &ccbs, x, &x->c, err, sizeof(err)) != 0)
		fail_msg("client: %s", err);
	run_until(&l->loop, &x->connected, &x->failed);
	return x;
}

static void cl_free(struct cl *x)
{
	scout_http_client_close(x->c);
	free(x);
}

static void upload_more(void *arg, int status);

static void upload_pump(struct cl *x)
{
	while (x->up_left > 0 && scout_http_client_queued(x->c) < 256 * 1024) {
		size_t n = x->up_left < sizeof(x->up) ? x->up_left : sizeof(x->up);

		x->up_left -= n;
		assert_int_equal(scout_http_client_write(x->c, x->up, n, upload_more, x), 0);
	}
}

static void upload_more(void *arg, int status)
{
	struct cl *x = arg;

	if (status < 0 || x->up_left == 0)
		return;
	upload_pump(x);
}

static void test_client_upload_pause(void **state)
{
	struct live *l = live_new(NULL, PLAIN);
	struct cl *x = cl_new(l, NULL, NULL, 0);
	size_t total = 8 * 1024 * 1024;
	char want[128];

	assert_false(x->failed);
	l->h.pause_body = true; /* the handler pauses on every piece */
	for (size_t i = 0; i < sizeof(x->up); i++)
		x->up[i] = (char)(i % 7);
	x->up_left = total;
	assert_int_equal(scout_http_client_request(x->c, "POST", "/big/upload", NULL, 0, -1), 0);
	upload_pump(x);
	while (x->up_left > 0 && !x->failed)
		uv_run(&l->loop, UV_RUN_ONCE);
	assert_int_equal(scout_http_client_end(x->c), 0);
	run_until(&l->loop, &x->complete, &x->failed);
	if (x->failed)
		fail_msg("upload: %s", x->reason);
	assert_int_equal(x->status, 200);
	/* 8 MiB of i % 7 over 64 KiB pieces: 128 * sum(i % 7, i < 65536) */
	uint64_t s = 0;
	for (size_t i = 0; i < sizeof(x->up); i++)
		s += (unsigned)(i % 7);
	snprintf(want, sizeof(want), "POST /big/upload len=%zu sum=%llu\n", total, (unsigned long long)(s * 128));
	assert_string_equal(x->body, want);
	assert_true(scout_http_client_reusable(x->c));

	/* the same connection again: a streamed, chunked 4 MiB response with
	 * back-pressure on the server side */
	l->h.pause_body = false;
	x->complete = false;
	x->body_len = 0;
	x->total = 0;
	x->sum = 0;
	assert_int_equal(scout_http_client_request(x->c, "GET", "/stream/4194304", NULL, 0, 0), 0);
	assert_int_equal(scout_http_client_end(x->c), 0);
	run_until(&l->loop, &x->complete, &x->failed);
	assert_false(x->failed);
	assert_int_equal(x->total, 4194304);
	assert_int_equal(x->sum, 0); /* the pattern arrived intact */
	assert_string_equal(scout_http_client_header(x->c, "transfer-encoding"), "chunked");
	assert_true(l->h.max_queued < 256 * 1024 + 70000);
	assert_int_equal(scout_http_server_stats(l->srv)->connections, 1);
	cl_free(x);
	live_free(l);
}

static void test_client_errors(void **state)
{
	struct live *l = live_new(NULL, PLAIN);
	struct cl *x = cl_new(l, NULL, NULL, 300);

	/* 413 from the server for a declared length past the limit */
	assert_int_equal(scout_http_client_request(x->c, "POST", "/small", NULL, 0, 2 * 1024 * 1024), 0);
	run_until(&l->loop, &x->complete, &x->failed);
	assert_int_equal(x->status, 413);
	assert_false(scout_http_client_reusable(x->c));
	cl_free(x);

	/* no answer: the client's timeout */
	l->h.no_answer = true;
	x = cl_new(l, NULL, NULL, 300);
	assert_int_equal(scout_http_client_request(x->c, "GET", "/silent", NULL, 0, 0), 0);
	assert_int_equal(scout_http_client_end(x->c), 0);
	run_until(&l->loop, &x->complete, &x->failed);
	assert_true(x->failed);
	assert_int_equal(x->err, -ETIMEDOUT);
	assert_non_null(strstr(x->reason, "no response"));
	/* bad arguments */
	assert_int_equal(scout_http_client_request(x->c, "GET", "/x", NULL, 0, 0), -EPIPE);
	cl_free(x);
	uv_run(&l->loop, UV_RUN_NOWAIT);

	/* refused: nothing listens on this port any more */
	struct scout_http_client *c;
	struct cl y = {0};
	char err[256];
	struct scout_http_client_opts o = {.host = "127.0.0.1", .port = 1};
	assert_int_equal(scout_http_client_connect(&l->loop, &o, &ccbs, &y, &c, err, sizeof(err)), 0);
	run_until(&l->loop, &y.connected, &y.failed);
	assert_true(y.failed);
	assert_non_null(strstr(y.reason, "cannot connect"));
	scout_http_client_close(c);
	/* The 413 was aborted; the unanswered request stays with the handler
	 * (the client's half-close is not a cancel) until the server closes. */
	assert_int_equal(l->h.aborts, 1);
	live_free(l);
}

static void test_tls(void **state)
{
	struct live *l = live_new(NULL, TLS);
	struct scout_tls_client_opts co = {.ca_file = cert};
	struct scout_tls_ctx *ctx;
	uint8_t pin[SCOUT_TLS_PIN_LEN];
	char err[SCOUT_TLS_ERR_LEN];
	struct scout_tls_client_conn_opts to = {.verify = SCOUT_TLS_PIN_REQUIRE};
	struct cl *x;

	assert_int_equal(scout_tls_ctx_client(&co, &ctx, err, sizeof(err)), 0);
	assert_int_equal(scout_tls_pin_of_cert_file(cert, pin, err, sizeof(err)), 0);
	memcpy(to.pin, pin, sizeof(pin));
	x = cl_new(l, ctx, &to, 0);
	if (x->failed)
		fail_msg("tls client: %s", x->reason);
	assert_int_equal(scout_http_client_request(x->c, "PUT", "/tls", NULL, 0, 4), 0);
	assert_int_equal(scout_http_client_write(x->c, "abcd", 4, NULL, NULL), 0);
	assert_int_equal(scout_http_client_end(x->c), 0);
	run_until(&l->loop, &x->complete, &x->failed);
	assert_false(x->failed);
	assert_string_equal(x->body, "PUT /tls len=4 sum=394\n");
	cl_free(x);

	/* chain verification by name (default mode) */
	to = (struct scout_tls_client_conn_opts){.server_name = "localhost"};
	x = cl_new(l, ctx, &to, 0);
	assert_false(x->failed);
	cl_free(x);

	/* a wrong pin fails before any request */
	to = (struct scout_tls_client_conn_opts){.verify = SCOUT_TLS_PIN_REQUIRE};
	x = cl_new(l, ctx, &to, 0);
	assert_true(x->failed);
	assert_non_null(strstr(x->reason, "pin mismatch"));
	cl_free(x);
	scout_tls_ctx_unref(ctx);
	live_free(l);
}

/* ---- curl as a real client ---------------------------------------------------- */

static int run_cmd(struct live *l, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return run_cmd_on_loop(&l->loop, line);
}

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

static void test_curl(void **state)
{
	char out[4096], upload[300];
	struct live *l;

	if (system("command -v curl >/dev/null") != 0)
		skip(); /* tools/deps.sh installs it with the test dependencies */
	snprintf(upload, sizeof(upload), "%s/upload", dir);
	FILE *f = fopen(upload, "w");
	for (int i = 0; i < 300000; i++)
		fputc('a' + i % 3, f);
	fclose(f);

	l = live_new(NULL, PLAIN);
	/* a chunked upload from stdin, with Expect: 100-continue */
	assert_int_equal(
		run_cmd(l,
			"curl --http1.1 -sS --fail -m 30 -H 'Transfer-Encoding: chunked' "
			"-H 'Expect: 100-continue' -T - http://127.0.0.1:%d/big/curl <'%s' >'%s/curl.out' 2>&1",
			l->port, upload, dir),
		0);
	snprintf(upload, sizeof(upload), "%s/curl.out", dir);
	slurp(upload, out, sizeof(out));
	assert_string_equal(out, "PUT /big/curl len=300000 sum=29400000\n");
	/* keep-alive: two URLs, one connection */
	uint64_t before = scout_http_server_stats(l->srv)->connections;
	assert_int_equal(run_cmd(l,
				 "curl --http1.1 -sS --fail -m 30 http://127.0.0.1:%d/k1 http://127.0.0.1:%d/k2 "
				 ">'%s/curl.out' 2>&1",
				 l->port, l->port, dir),
			 0);
	slurp(upload, out, sizeof(out));
	assert_string_equal(out, "GET /k1 len=0 sum=0\nGET /k2 len=0 sum=0\n");
	assert_int_equal(scout_http_server_stats(l->srv)->connections, before + 1);
	/* past the body limit: 413, which curl --fail reports as 22 */
	assert_int_equal(run_cmd(l,
				 "head -c 2000000 /dev/zero | curl --http1.1 -sS --fail -m 30 -T - "
				 "http://127.0.0.1:%d/small >/dev/null 2>&1",
				 l->port),
			 22);
	live_free(l);

	/* TLS, checked against our certificate */
	l = live_new(NULL, TLS);
	assert_int_equal(run_cmd(l,
				 "curl --http1.1 -sS --fail -m 30 --cacert '%s' https://localhost:%d/tls "
				 "--resolve localhost:%d:127.0.0.1 >'%s/curl.out' 2>&1",
				 cert, l->port, l->port, dir),
			 0);
	slurp(upload, out, sizeof(out));
	assert_string_equal(out, "GET /tls len=0 sum=0\n");
	/* TLS 1.1 is refused: curl fails (35: handshake) */
	assert_int_not_equal(run_cmd(l,
				     "curl --http1.1 -sS -m 30 --cacert '%s' --tls-max 1.1 "
				     "https://127.0.0.1:%d/ >/dev/null 2>&1",
				     cert, l->port),
			     0);
	/* a TLS-only server does not answer plain HTTP */
	assert_int_not_equal(run_cmd(l, "curl --http1.1 -sS --fail -m 30 http://127.0.0.1:%d/is-tls >/dev/null 2>&1",
				     l->port),
			     0);
	live_free(l);

	/* both on one port (ipp:// and ipps://): each connection says which it is */
	l = live_new(NULL, TLS_OR_PLAIN);
	assert_int_equal(run_cmd(l,
				 "curl --http1.1 -sS --fail -m 30 --cacert '%s' https://localhost:%d/is-tls "
				 "--resolve localhost:%d:127.0.0.1 http://127.0.0.1:%d/is-tls >'%s/curl.out' 2>&1",
				 cert, l->port, l->port, l->port, dir),
			 0);
	slurp(upload, out, sizeof(out));
	assert_string_equal(out, "tls\nplain\n");
	/* TLS 1.1 is still refused, and plain keep-alive still works */
	assert_int_not_equal(run_cmd(l,
				     "curl --http1.1 -sS -m 30 --cacert '%s' --tls-max 1.1 "
				     "https://127.0.0.1:%d/ >/dev/null 2>&1",
				     cert, l->port),
			     0);
	assert_int_equal(run_cmd(l,
				 "curl --http1.1 -sS --fail -m 30 http://127.0.0.1:%d/is-tls http://127.0.0.1:%d/k2 "
				 ">'%s/curl.out' 2>&1",
				 l->port, l->port, dir),
			 0);
	slurp(upload, out, sizeof(out));
	assert_string_equal(out, "plain\nGET /k2 len=0 sum=0\n");
	live_free(l);
}

static int setup(void **state)
{
	const char *names[] = {"localhost", "127.0.0.1", NULL};
	char err[SCOUT_TLS_ERR_LEN];

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (scout_tls_selfsigned_write(cert, key, "localhost", names, 2, err, sizeof(err)) != 0)
		fail_msg("self-signed: %s", err);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_head_http10_reject),
		cmocka_unit_test(test_continue_keepalive),
		cmocka_unit_test(test_header_timeout),
		cmocka_unit_test(test_connection_cap),
		cmocka_unit_test(test_client_upload_pause),
		cmocka_unit_test(test_client_errors),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_curl),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
