/* Raw TCP delivery (port 9100, "AppSocket"/JetDirect): the document's bytes
 * on a plain TCP connection, then a shutdown of our side. There is no job
 * to follow: the printer has the document when it closes its side after
 * ours. Bytes written are only in the kernel's buffers; a printer that
 * resets the connection instead (it took part of it) is a failure. One that
 * keeps its side open for delivery_timeout after ours is taken to have it
 * (some do). Only with allow_unencrypted_delivery (deliver.c decides). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "ippc.h"

struct ipp_raw {
	uv_loop_t *loop;
	uv_getaddrinfo_t gai;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_shutdown_t shut;
	uv_timer_t timer;
	const struct ipp_raw_cbs *cbs;
	void *arg;
	char host[256];
	int port;
	uint64_t timeout_ms, doc_len, sent;
	size_t queued;
	unsigned handles; /* open uv handles */
	bool gai_pending, tcp_open, connected, finished, freed, shutting, writable_wanted;
	bool shut_done, peer_closed; /* our FIN is out; the printer's came */
	unsigned writes;
};

struct raw_write {
	uv_write_t req;
	struct ipp_raw *r;
	size_t len;
	char data[];
};

static void maybe_free(struct ipp_raw *r)
{
	if (r->freed && r->handles == 0 && !r->gai_pending && r->writes == 0)
		free(r);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ipp_raw *r = h->data;

	r->handles--;
	maybe_free(r);
}

static void close_handles(struct ipp_raw *r)
{
	if (!uv_is_closing((uv_handle_t *)&r->timer))
		uv_close((uv_handle_t *)&r->timer, on_handle_closed);
	if (r->tcp_open && !uv_is_closing((uv_handle_t *)&r->tcp))
		uv_close((uv_handle_t *)&r->tcp, on_handle_closed);
}

static void finish(struct ipp_raw *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish(struct ipp_raw *r, int status, const char *fmt, ...)
{
	char why[300];
	va_list ap;

	if (r->finished)
		return;
	r->finished = true;
	uv_timer_stop(&r->timer);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->cbs->on_done(r->arg, status, why);
}

static void arm(struct ipp_raw *r)
{
	uv_timer_again(&r->timer);
}

static void on_timeout(uv_timer_t *t)
{
	struct ipp_raw *r = t->data;

	if (r->shut_done) /* every byte sent, our side closed; the printer keeps its own open */
		finish(r, 0, "%s", "");
	else
		finish(r, -ETIMEDOUT, "%s:%d: no progress for %llu ms", r->host, r->port,
		       (unsigned long long)r->timeout_ms);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct ipp_raw *r = req->data;

	if (r->freed)
		return;
	if (status < 0) {
		finish(r, status, "%s:%d: %s at the end of the document", r->host, r->port, uv_strerror(status));
		return;
	}
	r->shut_done = true;
	if (r->peer_closed)
		finish(r, 0, "%s", "");
	else
		arm(r); /* now the printer's FIN, or a reset */
}

static void maybe_shutdown(struct ipp_raw *r)
{
	if (r->shutting || r->finished || r->sent < r->doc_len || r->writes)
		return;
	r->shutting = true;
	r->shut.data = r;
	int e = uv_shutdown(&r->shut, (uv_stream_t *)&r->tcp, on_shutdown);
	if (e < 0)
		finish(r, e, "%s:%d: %s", r->host, r->port, uv_strerror(e));
}

static void on_written(uv_write_t *req, int status)
{
	struct raw_write *w = req->data;
	struct ipp_raw *r = w->r;

	r->writes--;
	r->queued -= w->len;
	free(w);
	if (r->freed) {
		maybe_free(r);
		return;
	}
	if (status < 0) {
		finish(r, status, "%s:%d closed the connection after %llu of %llu bytes: %s", r->host, r->port,
		       (unsigned long long)(r->sent - r->queued), (unsigned long long)r->doc_len, uv_strerror(status));
		return;
	}
	arm(r);
	maybe_shutdown(r);
	if (!r->finished && r->writable_wanted && r->queued < IPPC_LOW_WATER && r->sent < r->doc_len) {
		r->writable_wanted = false;
		r->cbs->on_writable(r->arg);
	}
}

int ipp_raw_write(struct ipp_raw *r, const void *data, size_t len)
{
	if (r->finished || !r->connected)
		return -EPIPE;
	if (len > r->doc_len - r->sent)
		return -EINVAL;
	if (r->queued >= IPPC_HIGH_WATER)
		return -ENOBUFS;
	if (len == 0)
		return 0;
	struct raw_write *w = malloc(sizeof(*w) + len);
	if (!w)
		return -ENOMEM;
	memcpy(w->data, data, len);
	w->r = r;
	w->len = len;
	w->req.data = w;
	uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
	int e = uv_write(&w->req, (uv_stream_t *)&r->tcp, &b, 1, on_written);
	if (e < 0) {
		free(w);
		return e;
	}
	r->writes++;
	r->queued += len;
	r->sent += len;
	if (r->queued >= IPPC_LOW_WATER)
		r->writable_wanted = true;
	return 0;
}

static void on_read_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char sink[4096];

	(void)h, (void)size;
	*buf = uv_buf_init(sink, sizeof(sink));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct ipp_raw *r = s->data;

	(void)buf;
	/* a printer may talk back (PJL status); it is ignored. Its EOF after
	 * ours is the end; before the document is in, or a reset, it hung up
	 * on us */
	if (n >= 0 || r->finished)
		return;
	uv_read_stop(s);
	if (n == UV_EOF && r->sent == r->doc_len && r->queued == 0) {
		r->peer_closed = true;
		if (r->shut_done)
			finish(r, 0, "%s", "");
		return;
	}
	if (n == UV_EOF)
		finish(r, -ECONNRESET, "%s:%d closed the connection after %llu of %llu bytes", r->host, r->port,
		       (unsigned long long)(r->sent - r->queued), (unsigned long long)r->doc_len);
	else
		finish(r, (int)n, "%s:%d: %s after %llu of %llu bytes were sent", r->host, r->port, uv_strerror((int)n),
		       (unsigned long long)r->sent, (unsigned long long)r->doc_len);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct ipp_raw *r = req->data;

	if (r->freed)
		return;
	if (status < 0) {
		finish(r, status, "cannot connect to %s:%d: %s", r->host, r->port, uv_strerror(status));
		return;
	}
	r->connected = true;
	arm(r);
	uv_read_start((uv_stream_t *)&r->tcp, on_read_alloc, on_read);
	if (r->doc_len == 0)
		maybe_shutdown(r);
	else
		r->cbs->on_writable(r->arg);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct ipp_raw *r = req->data;

	r->gai_pending = false;
	if (r->freed) {
		uv_freeaddrinfo(res);
		maybe_free(r);
		return;
	}
	if (status < 0 || !res) {
		finish(r, status < 0 ? status : -ENOENT, "cannot resolve %s: %s", r->host,
		       status < 0 ? uv_strerror(status) : "no address");
		uv_freeaddrinfo(res);
		return;
	}
	uv_tcp_init(r->loop, &r->tcp);
	r->tcp.data = r;
	r->tcp_open = true;
	r->handles++;
	r->conn.data = r;
	int e = uv_tcp_connect(&r->conn, &r->tcp, res->ai_addr, on_connect);
	uv_freeaddrinfo(res);
	if (e < 0)
		finish(r, e, "cannot connect to %s:%d: %s", r->host, r->port, uv_strerror(e));
}

int ipp_raw_start(uv_loop_t *loop, const char *host, int port, uint64_t timeout_ms, uint64_t doc_len,
		  const struct ipp_raw_cbs *cbs, void *arg, struct ipp_raw **ret)
{
	struct ipp_raw *r = calloc(1, sizeof(*r));
	char portstr[16];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

	if (!r)
		return -ENOMEM;
	r->loop = loop;
	r->cbs = cbs;
	r->arg = arg;
	r->port = port;
	r->timeout_ms = timeout_ms;
	r->doc_len = doc_len;
	snprintf(r->host, sizeof(r->host), "%s", host);
	snprintf(portstr, sizeof(portstr), "%d", port);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->handles++;
	uv_timer_start(&r->timer, on_timeout, timeout_ms, timeout_ms);
	r->gai.data = r;
	int e = uv_getaddrinfo(loop, &r->gai, on_resolved, r->host, portstr, &hints);
	if (e < 0) {
		r->freed = true;
		close_handles(r);
		return e;
	}
	r->gai_pending = true;
	*ret = r;
	return 0;
}

size_t ipp_raw_queued(const struct ipp_raw *r)
{
	return r->queued;
}

bool ipp_raw_connected(const struct ipp_raw *r)
{
	return r->connected;
}

void ipp_raw_free(struct ipp_raw *r)
{
	if (!r || r->freed)
		return;
	r->freed = true;
	r->finished = true;
	if (r->gai_pending)
		uv_cancel((uv_req_t *)&r->gai);
	close_handles(r);
	maybe_free(r);
}
