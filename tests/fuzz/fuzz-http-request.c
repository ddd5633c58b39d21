/* libFuzzer target for the HTTP server's request path: arbitrary bytes
 * through one socketless server connection (scout_http_server_feed_test),
 * in one piece and again split at a byte the input chooses, with small
 * limits so every limit is reachable. Invariants: the output is a sequence
 * of HTTP/1.1 responses with a known status; error statuses come only from
 * the set the server answers itself and close the connection; the handler
 * never sees more headers, header bytes or body than the limits allow, and
 * gets each of its requests' body bytes exactly once and in full. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "loop/http.h"
#include "loop/log.h"

#define MAX_HEADERS 8
#define MAX_HEADER_BYTES 512
#define MAX_BODY 1024

static uv_loop_t loop;
static struct scout_http_server *srv;

static struct {
	unsigned requests, ends, oks;
	uint64_t body;
} st;

/* A HEAD gets no body: a header tells the checker. */
static void answer(struct scout_http_req *r, int status)
{
	struct scout_http_header h = {"X-Head", "1"};
	bool head = strcmp(scout_http_method(r), "HEAD") == 0;

	CHECK(scout_http_respond(r, status, &h, head, "ok", 2) == 0);
}

static void on_request(struct scout_http_req *r, void *arg)
{
	const char *t = scout_http_target(r);
	size_t bytes = strlen(t);

	st.requests++;
	st.body = 0;
	CHECK(scout_http_header_count(r) <= MAX_HEADERS);
	for (size_t i = 0; i < scout_http_header_count(r); i++) {
		struct scout_http_header h = scout_http_header_at(r, i);

		CHECK(h.name && h.value);
		CHECK(scout_http_header(r, h.name) != NULL); /* case-insensitive lookup finds it */
		bytes += strlen(h.name) + strlen(h.value);
	}
	CHECK(bytes <= MAX_HEADER_BYTES);
	CHECK(scout_http_method(r) != NULL);
	if (t[0] == '/' && t[1] == 'r') /* some requests are answered before the body */
		answer(r, 404);
}

static void on_body(struct scout_http_req *r, const char *data, size_t len, void *arg)
{
	CHECK(len > 0);
	st.body += len;
	CHECK(st.body <= MAX_BODY);
}

static void on_end(struct scout_http_req *r, void *arg)
{
	int64_t cl = scout_http_content_length(r);

	st.ends++;
	if (cl >= 0)
		CHECK(st.body == (uint64_t)cl);
	answer(r, 200);
	st.oks++;
}

static const struct scout_http_handler handler = {.on_request = on_request, .on_body = on_body, .on_end = on_end};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct scout_http_server_opts o = {
		.port = -1,
		.handler = &handler,
		.limits = {.max_headers = MAX_HEADERS, .max_header_bytes = MAX_HEADER_BYTES, .max_body = MAX_BODY},
	};
	char err[256];

	scout_log_set_level(SCOUT_LOG_ERROR); /* every error answer logs at info */
	CHECK(uv_loop_init(&loop) == 0);
	CHECK(scout_http_server_new(&loop, &o, &srv, err, sizeof(err)) == 0);
	return 0;
}

static bool known_error(int status)
{
	return status == 400 || status == 408 || status == 413 || status == 417 || status == 431 || status == 501 ||
	       status == 505;
}

/* Walks the responses in out; returns how many 200s it saw. */
static unsigned check_output(const char *out, size_t n, bool closed)
{
	unsigned oks = 0;
	size_t off = 0;

	while (off < n) {
		const char *p = out + off;
		const char *end;
		int status;

		CHECK(n - off >= 12 && memcmp(p, "HTTP/1.1 ", 9) == 0);
		status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
		end = memmem(p, n - off, "\r\n\r\n", 4);
		CHECK(end);
		off = (size_t)(end - out) + 4;
		if (status == 100)
			continue;
		const char *cl = memmem(p, (size_t)(end - p), "Content-Length: ", 16);
		CHECK(cl);
		size_t len = strtoul(cl + 16, NULL, 10);
		if (memmem(p, (size_t)(end - p) + 2, "X-Head: 1\r\n", 11))
			len = 0;
		CHECK(len <= n - off);
		off += len;
		if (status == 200)
			oks++;
		else if (status != 404) {
			CHECK(known_error(status));
			CHECK(closed);
			CHECK(off == n); /* nothing after an error answer */
			CHECK(memmem(p, (size_t)(end - p) + 2, "Connection: close\r\n", 19));
		}
	}
	return oks;
}

static void run(const uint8_t *data, size_t size, size_t chunk)
{
	char *out = NULL;
	size_t n = 0;
	bool closed = false;

	memset(&st, 0, sizeof(st));
	CHECK(scout_http_server_feed_test(srv, (const char *)data, size, chunk, &out, &n, &closed) == 0);
	CHECK(check_output(out, n, closed) == st.oks);
	CHECK(st.ends <= st.requests);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, 0);
	if (size > 1)
		run(data + 1, size - 1, (size_t)data[0] % 16 + 1);
	uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
