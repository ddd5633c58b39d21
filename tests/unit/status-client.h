/* For unit tests that talk to a status socket as scoutctl does (test-host,
 * test-vault, test-ipp-printers): one request line on a new connection,
 * the reply line back as JSON, the loop run meanwhile (loop-wait.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "loop-wait.h"

struct status_client {
	size_t cap; /* reply bytes kept, set before the first ask */
	char *buf;  /* the request, then the reply (NUL-terminated) */
	size_t len;
	bool replied, closed;
	uv_pipe_t pipe;
};

static void status_client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct status_client *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - 1 - c->len));
}

static void status_client_closed(uv_handle_t *h)
{
	((struct status_client *)h->data)->closed = true;
}

static void status_client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct status_client *c = st->data;
	(void)buf;
	if (n > 0)
		c->len += (size_t)n;
	if (n < 0 || memchr(c->buf, '\n', c->len) || c->len == c->cap - 1) {
		c->buf[c->len] = 0;
		c->replied = true;
		uv_close((uv_handle_t *)st, status_client_closed);
	}
}

static void status_client_written(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void status_client_connected(uv_connect_t *req, int status)
{
	struct status_client *c = req->handle->data;
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t b = uv_buf_init(c->buf, (unsigned)strlen(c->buf));

	assert_int_equal(status, 0);
	assert_non_null(w);
	assert_int_equal(uv_write(w, req->handle, &b, 1, status_client_written), 0);
	assert_int_equal(uv_read_start(req->handle, status_client_alloc, status_client_read), 0);
	free(req);
}

/* Sends line (a newline is added) to the socket at path and returns the
 * reply (caller decrefs); fails the test after seconds, or when the reply
 * is not JSON. */
static json_t *status_client_ask(struct status_client *c, uv_loop_t *loop, uv_timer_t *timer, const char *path,
				 const char *line, unsigned seconds)
{
	uv_connect_t *req = malloc(sizeof(*req));
	json_error_t jerr;

	assert_non_null(req);
	if (!c->buf)
		assert_non_null(c->buf = malloc(c->cap));
	assert_true(strlen(line) + 2 <= c->cap);
	snprintf(c->buf, c->cap, "%s\n", line); /* written from here, then overwritten */
	c->len = 0;
	c->replied = c->closed = false;
	assert_int_equal(uv_pipe_init(loop, &c->pipe, 0), 0);
	c->pipe.data = c;
	uv_pipe_connect(req, &c->pipe, path, status_client_connected);
	LOOP_WAIT_FOR(loop, timer, c->replied && c->closed, seconds);
	json_t *r = json_loads(c->buf, 0, &jerr);
	if (!r)
		fail_msg("reply to %s is not JSON: %s", line, c->buf);
	return r;
}

static void status_client_free(struct status_client *c)
{
	free(c->buf);
	c->buf = NULL;
}
