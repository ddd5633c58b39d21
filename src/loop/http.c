/* HTTP/1.1 server and client on libuv with llhttp (see http.h for when to
 * use them). Three layers, bottom up:
 *
 *  - link: one TCP connection, plain or through tls.c, with reading on or
 *    off, a write queue whose size is the back-pressure signal, one timer,
 *    and a graceful close (close_notify, FIN, then reading and discarding
 *    for a short linger so a final error response is not lost to a reset).
 *    A link can also be "fake" (no socket): writes go to a buffer, for the
 *    test seam and the fuzz target.
 *  - server connections: llhttp in request mode. The parser is paused at the
 *    end of every message and whenever the handler pauses, so pipelined
 *    requests wait, unparsed, in the connection's input buffer (bounded:
 *    the socket is not read meanwhile) and body bytes are never buffered.
 *  - client connections: llhttp in response mode over the same link.
 *
 * This file owns the limits and the error answers; handlers only ever see
 * well-formed requests within them. */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "list.h"
#include "log.h"

#define READ_SIZE 65536
#define LINGER_MS 2000  /* reading and discarding after a final response */
#define MAX_REFUSING 64 /* connections past the cap being told 503 at once */
#define REFUSE_LOG_MS 10000
#define DEF_HEADER_BYTES (16 * 1024)
#define DEF_HEADERS 100
#define DEF_BODY (1024 * 1024)
#define DEF_HEADER_TIMEOUT 10000
#define DEF_IDLE_TIMEOUT 60000
#define DEF_CONNS 256
#define DEF_CLIENT_CONNECT 10000
#define DEF_CLIENT_TIMEOUT 30000
#define DEF_CLIENT_HEADER_BYTES (64 * 1024)

/* ---- header store --------------------------------------------------------
 * The request line's target and the headers, as NUL-terminated strings in
 * one buffer with offsets: llhttp hands names and values over in pieces. */

struct hstore {
	char *buf;
	size_t len, cap;     /* room for max header bytes plus the NULs */
	size_t bytes, limit; /* bytes of target, names and values; the limit */
	uint32_t *off;       /* name, value, name, value... */
	unsigned n, max;     /* strings stored; max is 2 * max headers */
	uint32_t target;     /* offset of the target, if any */
	bool open;           /* a string is being appended to */
};

static int hstore_init(struct hstore *h, size_t max_bytes, unsigned max_headers)
{
	h->cap = max_bytes + 2 * (size_t)max_headers + 8;
	h->limit = max_bytes;
	h->max = 2 * max_headers;
	h->buf = malloc(h->cap);
	h->off = malloc(sizeof(*h->off) * (h->max + 2));
	if (!h->buf || !h->off)
		return -ENOMEM;
	h->len = h->n = 0;
	h->bytes = 0;
	h->open = false;
	return 0;
}

static void hstore_free(struct hstore *h)
{
	free(h->buf);
	free(h->off);
	h->buf = NULL;
	h->off = NULL;
}

static void hstore_reset(struct hstore *h)
{
	h->len = h->n = 0;
	h->bytes = 0;
	h->open = false;
}

/* -ENOSPC when the bytes or the count would pass the limit. */
static int hstore_append(struct hstore *h, const char *p, size_t n, bool is_target)
{
	if (!h->open) {
		if (!is_target && h->n >= h->max)
			return -ENOSPC;
		if (is_target)
			h->target = (uint32_t)h->len;
		else
			h->off[h->n++] = (uint32_t)h->len;
		h->open = true;
	}
	if (n > h->limit - h->bytes || n + 1 > h->cap - h->len)
		return -ENOSPC;
	memcpy(h->buf + h->len, p, n);
	h->len += n;
	h->bytes += n;
	return 0;
}

static void hstore_close(struct hstore *h, bool is_target)
{
	if (!h->open) { /* an empty value gets no span */
		if (!is_target && h->n < h->max + 2)
			h->off[h->n++] = (uint32_t)h->len;
		else if (is_target)
			h->target = (uint32_t)h->len;
	}
	h->buf[h->len++] = '\0';
	h->open = false;
}

static const char *hstore_get(const struct hstore *h, const char *name)
{
	for (unsigned i = 0; i + 1 < h->n; i += 2)
		if (strcasecmp(h->buf + h->off[i], name) == 0)
			return h->buf + h->off[i + 1];
	return NULL;
}

/* ---- link ------------------------------------------------------------- */

struct link;

struct link_ops {
	void (*ready)(struct link *l, const struct scout_tls_peer *peer);
	void (*data)(struct link *l, const char *p, size_t n);
	void (*eof)(struct link *l);
	void (*fail)(struct link *l, int err, const char *reason);
	void (*timer)(struct link *l);
	void (*closed)(struct link *l); /* every handle closed: free the container */
};

struct link {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	struct scout_tls *tls;
	struct scout_tls_ctx *sniff; /* TLS or plain: decided by the first byte read */
	uv_loop_t *loop;
	const struct link_ops *ops;
	char *rbuf;
	size_t queued; /* bytes handed to uv_write and not yet written */
	unsigned handles;
	uint64_t last_active;
	bool fake, reading, want_read, ready, closing, lingering, closed, eof;
	char *out; /* fake: what was written */
	size_t out_len, out_cap;
};

struct link_write {
	uv_write_t w;
	struct link *l;
	size_t len;
	scout_http_write_cb cb;
	void *arg;
	char data[];
};

static void link_close_now(struct link *l);
static const struct scout_tls_callbacks link_tls_cbs;

static void link_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	struct link *l = h->data;

	if (!l->rbuf)
		l->rbuf = malloc(READ_SIZE);
	buf->base = l->rbuf;
	buf->len = l->rbuf ? READ_SIZE : 0;
}

/* The first byte of a connection that may be either: a TLS record of
 * type handshake (22) starts TLS, anything else is plain HTTP (no request
 * line starts with it). */
static int link_sniffed(struct link *l, unsigned char first)
{
	struct scout_tls_ctx *ctx = l->sniff;
	int r;

	l->sniff = NULL;
	if (first != 22) {
		l->ready = true;
		l->ops->ready(l, NULL);
		return l->closing ? -ECANCELED : 0;
	}
	r = scout_tls_new_server(ctx, (uv_stream_t *)&l->tcp, &link_tls_cbs, l, &l->tls);
	if (r < 0)
		l->ops->fail(l, r, "cannot start TLS");
	return r;
}

static void link_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct link *l = s->data;

	if (n == 0)
		return;
	if (n < 0) {
		uv_read_stop(s);
		l->reading = false;
		l->eof = true;
		if (l->lingering || l->closing) {
			link_close_now(l);
		} else if (n == UV_EOF) {
			l->ops->eof(l);
		} else {
			l->ops->fail(l, (int)n, uv_strerror((int)n));
		}
		return;
	}
	l->last_active = uv_now(l->loop);
	if (l->lingering)
		return; /* discarded: the answer is out, the peer is still sending */
	if (l->sniff && link_sniffed(l, buf->base[0]) < 0)
		return;
	if (l->tls)
		(void)scout_tls_feed(l->tls, buf->base, (size_t)n); /* errors come through the callback */
	else
		l->ops->data(l, buf->base, (size_t)n);
}

static void link_update_reading(struct link *l)
{
	/* TLS reads on until the handshake is done, whatever the layer above wants. */
	bool on = !l->closed && !l->eof &&
		  (l->lingering || (!l->closing && (l->want_read || ((l->tls || l->sniff) && !l->ready))));

	if (l->fake || on == l->reading)
		return;
	if (on) {
		if (uv_read_start((uv_stream_t *)&l->tcp, link_alloc, link_read) == 0)
			l->reading = true;
	} else {
		uv_read_stop((uv_stream_t *)&l->tcp);
		l->reading = false;
	}
}

static void link_want_read(struct link *l, bool on)
{
	l->want_read = on;
	if (l->tls && l->ready) {
		if (on)
			scout_tls_resume(l->tls); /* may deliver data buffered inside TLS */
		else
			scout_tls_pause(l->tls);
	}
	link_update_reading(l);
}

static void tls_hs(struct scout_tls *t, const struct scout_tls_peer *peer)
{
	struct link *l = scout_tls_data(t);

	l->ready = true;
	if (!l->want_read)
		scout_tls_pause(t);
	l->ops->ready(l, peer);
	link_update_reading(l);
}

static void tls_read(struct scout_tls *t, const char *p, size_t n)
{
	struct link *l = scout_tls_data(t);

	if (!l->closing)
		l->ops->data(l, p, n);
}

static void tls_eof(struct scout_tls *t)
{
	struct link *l = scout_tls_data(t);

	l->eof = true; /* close_notify: nothing more will be read */
	if (!l->closing)
		l->ops->eof(l);
}

static void tls_error(struct scout_tls *t, int err, const char *reason)
{
	struct link *l = scout_tls_data(t);

	if (l->lingering)
		link_close_now(l);
	else if (!l->closing)
		l->ops->fail(l, err, reason);
}

static const struct scout_tls_callbacks link_tls_cbs = {.handshake = tls_hs,
							.read = tls_read,
							.eof = tls_eof,
							.error = tls_error};

static void link_timer_cb(uv_timer_t *t)
{
	struct link *l = t->data;

	if (l->lingering || l->closing)
		link_close_now(l);
	else
		l->ops->timer(l);
}

static void link_arm(struct link *l, uint64_t ms)
{
	if (!l->fake && !l->closed)
		uv_timer_start(&l->timer, link_timer_cb, ms ? ms : 1, 0);
}

static int link_init(struct link *l, uv_loop_t *loop, const struct link_ops *ops, bool fake)
{
	int r;

	l->loop = loop;
	l->ops = ops;
	l->fake = fake;
	l->last_active = uv_now(loop);
	if (fake)
		return 0;
	if ((r = uv_tcp_init(loop, &l->tcp)) < 0)
		return r;
	l->tcp.data = l;
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	l->handles = 2;
	return 0;
}

/* Plain: ready now. TLS: after the handshake (tls_hs). sniff (servers):
 * either, told by the first byte (link_sniffed). */
static int link_start(struct link *l, struct scout_tls_ctx *ctx, const struct scout_tls_client_conn_opts *copts,
		      bool sniff, char *err, size_t errlen)
{
	int r = 0;

	if (ctx && sniff && !l->fake) {
		l->sniff = ctx; /* the server's reference outlives its connections */
		link_update_reading(l);
		return 0;
	}
	if (ctx) {
		r = copts ? scout_tls_new_client(ctx, copts, (uv_stream_t *)&l->tcp, &link_tls_cbs, l, &l->tls, err,
						 errlen)
			  : scout_tls_new_server(ctx, (uv_stream_t *)&l->tcp, &link_tls_cbs, l, &l->tls);
		if (r < 0) {
			if (!copts)
				snprintf(err, errlen, "cannot start TLS: %s", strerror(-r));
			return r;
		}
		link_update_reading(l);
		return 0;
	}
	l->ready = true;
	l->ops->ready(l, NULL);
	link_update_reading(l);
	return 0;
}

static void link_handle_closed(uv_handle_t *h)
{
	struct link *l = h->data;

	if (--l->handles == 0) {
		scout_tls_free(l->tls);
		l->tls = NULL;
		free(l->rbuf);
		l->rbuf = NULL;
		l->ops->closed(l);
	}
}

static void link_close_now(struct link *l)
{
	if (l->closed)
		return;
	l->closed = l->closing = true;
	if (l->fake)
		return;
	uv_close((uv_handle_t *)&l->tcp, link_handle_closed);
	uv_close((uv_handle_t *)&l->timer, link_handle_closed);
}

static void link_shutdown_done(uv_shutdown_t *req, int status)
{
	struct link *l = req->data;

	if (l->closed)
		return;
	if (status < 0 || l->eof) {
		link_close_now(l);
		return;
	}
	/* Read until the peer closes too or the linger ends. */
	l->lingering = true;
	link_update_reading(l);
	link_arm(l, LINGER_MS);
}

static void link_tls_shut(void *arg, int status)
{
}

/* After the last write: close_notify, FIN once the queue is written, linger. */
static void link_close_graceful(struct link *l)
{
	if (l->closing)
		return;
	l->closing = true;
	if (l->fake) {
		l->closed = true;
		return;
	}
	if (l->tls && l->ready)
		(void)scout_tls_shutdown(l->tls, link_tls_shut, NULL);
	l->shutdown.data = l;
	if (uv_shutdown(&l->shutdown, (uv_stream_t *)&l->tcp, link_shutdown_done) < 0) {
		link_close_now(l);
		return;
	}
	link_update_reading(l);
	link_arm(l, LINGER_MS + 10000); /* a peer that never reads our answer */
}

static void link_written(uv_write_t *w, int status)
{
	struct link_write *wr = (struct link_write *)w;

	wr->l->queued -= wr->len;
	if (status == 0)
		wr->l->last_active = uv_now(wr->l->loop);
	if (wr->cb)
		wr->cb(wr->arg, status);
	free(wr);
}

struct tls_cb_ctx {
	struct link *l;
	size_t len;
	scout_http_write_cb cb;
	void *arg;
};

static void link_tls_written(void *arg, int status)
{
	struct tls_cb_ctx *x = arg;

	x->l->queued -= x->len;
	if (status == 0)
		x->l->last_active = uv_now(x->l->loop);
	if (x->cb)
		x->cb(x->arg, status);
	free(x);
}

/* Copies up to three pieces into one write. */
static int link_writev(struct link *l, const uv_buf_t *bufs, unsigned n, scout_http_write_cb cb, void *arg)
{
	size_t len = 0;
	struct link_write *wr;
	uv_buf_t one;
	int r;

	if (l->closing)
		return -EPIPE;
	for (unsigned i = 0; i < n; i++)
		len += bufs[i].len;
	if (l->fake) {
		if (l->out_len + len > l->out_cap) {
			size_t cap = (l->out_len + len) * 2 + 256;
			char *p = realloc(l->out, cap);

			if (!p)
				return -ENOMEM;
			l->out = p;
			l->out_cap = cap;
		}
		for (unsigned i = 0; i < n; i++) {
			memcpy(l->out + l->out_len, bufs[i].base, bufs[i].len);
			l->out_len += bufs[i].len;
		}
		if (cb)
			cb(arg, 0);
		return 0;
	}
	wr = malloc(sizeof(*wr) + len);
	if (!wr)
		return -ENOMEM;
	len = 0;
	for (unsigned i = 0; i < n; i++) {
		memcpy(wr->data + len, bufs[i].base, bufs[i].len);
		len += bufs[i].len;
	}
	if (l->tls) {
		struct tls_cb_ctx *x = malloc(sizeof(*x));

		if (!x) {
			free(wr);
			return -ENOMEM;
		}
		*x = (struct tls_cb_ctx){.l = l, .len = len, .cb = cb, .arg = arg};
		r = scout_tls_write(l->tls, wr->data, len, link_tls_written, x);
		free(wr);
		if (r < 0) {
			free(x);
			return r;
		}
		l->queued += len;
		return 0;
	}
	wr->l = l;
	wr->len = len;
	wr->cb = cb;
	wr->arg = arg;
	one = uv_buf_init(wr->data, (unsigned)len);
	r = uv_write(&wr->w, (uv_stream_t *)&l->tcp, &one, 1, link_written);
	if (r < 0) {
		free(wr);
		return r;
	}
	l->queued += len;
	return 0;
}

static int link_write(struct link *l, const void *p, size_t n, scout_http_write_cb cb, void *arg)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

	return link_writev(l, &b, 1, cb, arg);
}

static void addr_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char ip[64] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(out, len, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%d", ip, port);
	} else {
		snprintf(out, len, "?");
	}
}

/* ---- responses: status line and headers -------------------------------- */

const char *scout_http_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 426:
		return "Upgrade Required";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 200   ? "Informational"
		       : status < 400 ? "OK"
		       : status < 500 ? "Client Error"
				      : "Server Error";
	}
}

static bool token_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == ':' || (unsigned char)*s >= 127)
			return false;
	return true;
}

static bool value_ok(const char *s)
{
	for (; s && *s; s++)
		if (*s == '\r' || *s == '\n' || *s == '\0')
			return false;
	return s != NULL;
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	if (!b->p) {
		b->p = malloc(512);
		b->cap = b->p ? 512 : 0;
		if (!b->p) {
			b->oom = true;
			return;
		}
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *q = realloc(b->p, cap);

		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

/* Checks and appends caller headers; -EINVAL on a name or value that could
 * split the header block. Notes "Connection: close" and "Content-Length". */
static int sb_headers(struct sbuf *b, const struct scout_http_header *h, size_t n, bool *ret_close)
{
	for (size_t i = 0; i < n; i++) {
		if (!token_ok(h[i].name) || !value_ok(h[i].value))
			return -EINVAL;
		if (strcasecmp(h[i].name, "content-length") == 0 || strcasecmp(h[i].name, "transfer-encoding") == 0)
			return -EINVAL; /* ours to set */
		if (strcasecmp(h[i].name, "connection") == 0 && strcasecmp(h[i].value, "close") == 0)
			*ret_close = true;
		sb_printf(b, "%s: %s\r\n", h[i].name, h[i].value);
	}
	return 0;
}

/* ---- server ------------------------------------------------------------ */

struct conn;

struct scout_http_req {
	struct conn *conn;
	void *data;
	uint64_t max_body;
	uint64_t body_seen;
	int64_t content_length; /* -1 chunked */
	int64_t resp_left;      /* body bytes still owed (Content-Length responses) */
	bool has_body, expect_continue, head, keep_alive, http10;
	bool started, chunked, ended, bodiless;
};

struct conn {
	struct link link; /* first: link callbacks cast back */
	struct scout_http_server *srv;
	struct scout_list node; /* in the server's conns */
	llhttp_t parser;
	struct hstore h;
	struct scout_http_req req;
	char *in;
	size_t in_len, in_off, in_cap;
	char remote[64];
	struct scout_tls_peer peer;
	bool has_peer, refusing, busy, linked, peer_eof;
	bool in_message; /* between message begin and headers complete */
	bool in_request; /* handed to the handler; the response has not ended */
	bool msg_done;   /* the parser reached the message's end */
	bool end_sent;   /* on_end delivered */
	bool responded;  /* the response ended before the message did */
	bool paused, sent_continue, close_after;
	int err_status; /* set by a parser callback: answer this */
	const char *err_why;
	uint64_t req_start;
};

struct scout_http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listening;
	struct scout_tls_ctx *tls;
	bool tls_optional;
	struct scout_http_limits lim;
	const struct scout_http_handler *handler;
	void *arg;
	char name[32];
	struct scout_list conns;
	unsigned refusing;
	struct scout_http_server_stats stats;
	uint64_t refuse_logged;
	uint64_t refuse_held;
	bool closing;
	unsigned handles; /* listener + connections not yet closed */
	void (*done)(void *);
	void *done_arg;
	llhttp_settings_t settings;
};

static void conn_parse(struct conn *c);
static void conn_fail(struct conn *c, int status, const char *why);

static void srv_maybe_done(struct scout_http_server *s)
{
	if (s->closing && s->handles == 0) {
		void (*done)(void *) = s->done;
		void *arg = s->done_arg;

		scout_tls_ctx_unref(s->tls);
		free(s);
		if (done)
			done(arg);
	}
}

static void conn_abort_req(struct conn *c)
{
	if (c->in_request) {
		c->in_request = false;
		if (c->srv->handler->on_abort)
			c->srv->handler->on_abort(&c->req, c->srv->arg);
	}
}

static void conn_unlink(struct conn *c)
{
	struct scout_http_server *s = c->srv;

	if (!c->linked)
		return;
	c->linked = false;
	scout_list_remove(&c->node);
	if (c->refusing)
		s->refusing--;
	else
		s->stats.open--;
}

static void conn_free(struct conn *c)
{
	hstore_free(&c->h);
	free(c->in);
	free(c->link.out);
	free(c);
}

static void conn_closed(struct link *l)
{
	struct conn *c = (struct conn *)l;
	struct scout_http_server *s = c->srv;

	conn_unlink(c);
	conn_free(c);
	s->handles--;
	srv_maybe_done(s);
}

static void conn_close_now(struct conn *c)
{
	conn_abort_req(c);
	link_close_now(&c->link);
}

static void conn_close_graceful(struct conn *c)
{
	conn_abort_req(c);
	link_close_graceful(&c->link);
}

static bool conn_stalled(const struct conn *c)
{
	return c->paused || c->msg_done || c->link.closing || c->err_status || c->refusing;
}

static void conn_update_reading(struct conn *c)
{
	link_want_read(&c->link, !conn_stalled(c));
}

static void conn_log(struct conn *c, int status, const char *why)
{
	c->srv->stats.errors++;
	log_info("%s: %s: %d %s: %s", c->srv->name, c->remote, status, scout_http_reason(status), why);
}

/* An error answer of our own, then close. */
static void conn_fail(struct conn *c, int status, const char *why)
{
	char head[256], body[128];
	int bn;

	if (c->link.closing)
		return;
	conn_log(c, status, why);
	if (status == 408)
		c->srv->stats.timeouts++;
	if (c->req.started && c->in_request) {
		conn_close_now(c); /* a response is half out: nothing else can be said */
		return;
	}
	bn = snprintf(body, sizeof(body), "%d %s\n", status, scout_http_reason(status));
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		 status, scout_http_reason(status), bn);
	uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)strlen(head)), uv_buf_init(body, (unsigned)bn)};
	(void)link_writev(&c->link, bufs, 2, NULL, NULL);
	conn_close_graceful(c);
}

static uint64_t conn_idle_ms(const struct conn *c)
{
	return c->srv->lim.idle_timeout_ms;
}

static void conn_timer(struct link *l)
{
	struct conn *c = (struct conn *)l;
	uint64_t now = uv_now(l->loop);
	uint64_t hdl = c->srv->lim.header_timeout_ms, idle = conn_idle_ms(c);

	if (!l->ready || c->in_message) {
		/* the TLS handshake or a request's header section */
		uint64_t start = c->req_start; /* the accept, or the request's first byte */

		if (now - start >= hdl) {
			if (l->ready)
				conn_fail(c, 408, "headers not complete in time");
			else {
				c->srv->stats.timeouts++;
				log_info("%s: %s: TLS handshake not complete in time", c->srv->name, c->remote);
				conn_close_now(c);
			}
			return;
		}
		link_arm(l, hdl - (now - start));
		return;
	}
	/* A paused body, or a handler working on a complete request with
	 * nothing queued, is the handler's time, not the client's. */
	if (c->paused || (c->in_request && c->msg_done && l->queued == 0)) {
		link_arm(l, idle);
		return;
	}
	if (now - l->last_active < idle) {
		link_arm(l, idle - (now - l->last_active));
		return;
	}
	if (c->in_request && !c->msg_done && !c->req.started) {
		conn_fail(c, 408, "request body stalled");
		return;
	}
	c->srv->stats.timeouts++;
	if (c->in_request)
		log_info("%s: %s: closed: idle for %" PRIu64 " ms in a request", c->srv->name, c->remote, idle);
	conn_close_now(c);
}

static void conn_ready(struct link *l, const struct scout_tls_peer *peer)
{
	struct conn *c = (struct conn *)l;

	if (peer) {
		c->peer = *peer;
		c->peer.version = NULL; /* static strings, but not promised to outlive SSL */
		c->peer.cipher = NULL;
		c->has_peer = true;
	}
	if (c->refusing) {
		static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
					   "Content-Length: 20\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
					   "503 too many clients";
		(void)link_write(l, busy, sizeof(busy) - 1, NULL, NULL);
		link_close_graceful(l);
		return;
	}
	l->last_active = uv_now(l->loop);
	link_arm(l, conn_idle_ms(c));
	conn_update_reading(c);
}

static void conn_data(struct link *l, const char *p, size_t n)
{
	struct conn *c = (struct conn *)l;

	if (l->closing || c->refusing)
		return;
	if (c->in_len + n > c->in_cap) {
		/* compact first: what was parsed is no longer needed */
		if (c->in_off > 0) {
			memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
			c->in_len -= c->in_off;
			c->in_off = 0;
		}
		if (c->in_len + n > c->in_cap) {
			size_t cap = c->in_len + n;
			char *q = realloc(c->in, cap);

			if (!q) {
				conn_close_now(c);
				return;
			}
			c->in = q;
			c->in_cap = cap;
		}
	}
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	conn_parse(c);
}

static void conn_eof(struct link *l)
{
	struct conn *c = (struct conn *)l;

	/* Requests already read (pipelined) are still answered; only a request
	 * cut in half is dropped. */
	c->peer_eof = true;
	if (c->in_message || (c->in_request && !c->msg_done)) {
		log_debug("%s: %s: closed in the middle of a request", c->srv->name, c->remote);
		conn_close_now(c);
	} else if (!c->in_request) {
		conn_close_now(c);
	}
}

static void conn_link_fail(struct link *l, int err, const char *reason)
{
	struct conn *c = (struct conn *)l;

	if (!l->ready)
		log_info("%s: %s: %s", c->srv->name, c->remote, reason);
	else
		log_debug("%s: %s: %s", c->srv->name, c->remote, reason);
	conn_close_now(c);
}

static const struct link_ops conn_ops = {.ready = conn_ready,
					 .data = conn_data,
					 .eof = conn_eof,
					 .fail = conn_link_fail,
					 .timer = conn_timer,
					 .closed = conn_closed};

/* ---- parser callbacks --------------------------------------------------- */

static int p_message_begin(llhttp_t *p)
{
	struct conn *c = p->data;

	hstore_reset(&c->h);
	c->in_message = true;
	c->msg_done = c->end_sent = c->responded = c->sent_continue = false;
	c->req_start = uv_now(c->link.loop);
	link_arm(&c->link, c->srv->lim.header_timeout_ms);
	return 0;
}

static int p_too_big(struct conn *c, const char *why)
{
	c->err_status = 431;
	c->err_why = why;
	return -1;
}

static int p_url(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	return hstore_append(&c->h, at, n, true) < 0 ? p_too_big(c, "request line too long") : 0;
}

static int p_url_done(llhttp_t *p)
{
	struct conn *c = p->data;

	hstore_close(&c->h, true);
	return 0;
}

static int p_field(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (!c->h.open && c->h.n >= c->h.max)
		return p_too_big(c, "too many header fields");
	return hstore_append(&c->h, at, n, false) < 0 ? p_too_big(c, "header section too large") : 0;
}

static int p_value(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	return hstore_append(&c->h, at, n, false) < 0 ? p_too_big(c, "header section too large") : 0;
}

static int p_field_done(llhttp_t *p)
{
	struct conn *c = p->data;

	if (!c->h.open && c->h.n >= c->h.max)
		return p_too_big(c, "too many header fields");
	if (c->h.len + 1 > c->h.cap)
		return p_too_big(c, "header section too large");
	hstore_close(&c->h, false);
	return 0;
}

static int p_value_done(llhttp_t *p)
{
	struct conn *c = p->data;

	if (c->h.len + 1 > c->h.cap)
		return p_too_big(c, "header section too large");
	hstore_close(&c->h, false);
	return 0;
}

static void send_continue(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->req.expect_continue && !c->sent_continue && !c->req.started && !c->msg_done) {
		c->sent_continue = true;
		(void)link_write(&c->link, cont, sizeof(cont) - 1, NULL, NULL);
	}
}

static int p_headers_done(llhttp_t *p)
{
	struct conn *c = p->data;
	struct scout_http_req *r = &c->req;
	const char *expect;

	c->in_message = false;
	if (p->http_major != 1) {
		c->err_status = 505;
		c->err_why = "only HTTP/1.x is served";
		return -1;
	}
	if (c->h.n % 2) /* a name without a value: llhttp would not pass it, but be sure */
		c->h.n--;
	memset(r, 0, sizeof(*r));
	r->conn = c;
	r->max_body = c->srv->lim.max_body;
	r->http10 = p->http_minor == 0;
	r->keep_alive = llhttp_should_keep_alive(p);
	r->head = p->method == HTTP_HEAD;
	if (p->flags & F_CHUNKED) {
		r->content_length = -1;
		r->has_body = true;
	} else if (p->flags & F_CONTENT_LENGTH) {
		r->content_length = (int64_t)p->content_length;
		r->has_body = p->content_length > 0;
	}
	expect = hstore_get(&c->h, "expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0) {
			c->err_status = 417;
			c->err_why = "unknown expectation";
			return -1;
		}
		r->expect_continue = !r->http10;
	}
	if (p->method == HTTP_CONNECT) {
		/* a tunnel: llhttp ends the message at the headers whatever
		 * Content-Length says, and nothing here serves one */
		c->err_status = 501;
		c->err_why = "CONNECT is not served";
		return -1;
	}
	c->srv->stats.requests++;
	c->in_request = true;
	link_arm(&c->link, conn_idle_ms(c));
	c->srv->handler->on_request(r, c->srv->arg);
	if (!c->in_request || c->link.closing) /* answered (or gone) already */
		return c->link.closing ? HPE_PAUSED : 0;
	if (r->content_length > 0 && (uint64_t)r->content_length > r->max_body) {
		c->err_status = 413;
		c->err_why = "declared body over the limit";
		return -1;
	}
	if (c->paused)
		return HPE_PAUSED;
	send_continue(c);
	return 0;
}

static int p_body(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct scout_http_req *r = &c->req;

	r->body_seen += n;
	if (r->body_seen > r->max_body) {
		c->err_status = 413;
		c->err_why = "body over the limit";
		return -1;
	}
	if (c->in_request && c->srv->handler->on_body)
		c->srv->handler->on_body(r, at, n, c->srv->arg);
	return 0;
}

static int p_chunk_done(llhttp_t *p)
{
	struct conn *c = p->data;

	return conn_stalled(c) ? HPE_PAUSED : 0;
}

static int p_message_done(llhttp_t *p)
{
	struct conn *c = p->data;

	if (c->responded) {
		/* answered before its (empty) body ended: on to the next request */
		c->responded = false;
		return c->close_after ? HPE_PAUSED : 0;
	}
	c->msg_done = true;
	return HPE_PAUSED;
}

/* Finishes the exchange: the next pipelined request, or the close. */
static void conn_response_done(struct conn *c)
{
	struct scout_http_req *r = &c->req;

	c->in_request = false;
	if (!r->keep_alive || c->close_after || (!c->msg_done && r->has_body)) {
		link_close_graceful(&c->link);
		return;
	}
	if (!c->msg_done) {
		c->responded = true; /* the parser will finish the bodiless message */
	} else {
		c->msg_done = false;
		c->end_sent = false;
	}
	c->link.last_active = uv_now(c->link.loop);
	link_arm(&c->link, conn_idle_ms(c));
	conn_parse(c);
}

static void conn_parse_error(struct conn *c, enum llhttp_errno e)
{
	int status = c->err_status ? c->err_status : 400;
	const char *why = c->err_status ? c->err_why : llhttp_get_error_reason(&c->parser);

	if (e == HPE_INVALID_VERSION) {
		status = 505;
		why = "unsupported HTTP version";
	}
	if (!why || !*why)
		why = llhttp_errno_name(e);
	if (c->req.started && c->in_request) {
		conn_log(c, status, why);
		conn_close_now(c);
		return;
	}
	conn_fail(c, status, why);
}

static void conn_parse(struct conn *c)
{
	if (c->busy)
		return; /* the loop below is running further up the stack */
	c->busy = true;
	for (;;) {
		if (c->link.closing)
			break;
		if (c->msg_done && c->in_request && !c->end_sent && !c->paused) {
			c->end_sent = true;
			if (c->srv->handler->on_end)
				c->srv->handler->on_end(&c->req, c->srv->arg);
			continue;
		}
		if (c->err_status || conn_stalled(c) || c->in_off == c->in_len)
			break;
		const char *p = c->in + c->in_off;
		enum llhttp_errno e = llhttp_execute(&c->parser, p, c->in_len - c->in_off);

		if (e == HPE_OK) {
			c->in_off = c->in_len;
		} else if (e == HPE_PAUSED) {
			c->in_off += (size_t)(llhttp_get_error_pos(&c->parser) - p);
			llhttp_resume(&c->parser);
		} else if (e == HPE_PAUSED_UPGRADE) {
			/* CONNECT or Upgrade: what follows is not HTTP, and we speak
			 * nothing else. The request was answered; end here. */
			c->in_off = c->in_len;
			c->close_after = true;
			if (!c->in_request)
				link_close_graceful(&c->link);
			break;
		} else {
			c->busy = false;
			conn_parse_error(c, e);
			return;
		}
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	c->busy = false;
	/* After the peer's FIN nothing more comes: once what was read is answered, close. */
	if (!c->link.closing && c->peer_eof && !c->in_request) {
		link_close_graceful(&c->link);
		return;
	}
	conn_update_reading(c);
}

/* ---- accepting ---------------------------------------------------------- */

static int conn_new(struct scout_http_server *s, bool fake, bool refusing, struct conn **ret)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->srv = s;
	c->refusing = refusing;
	if ((r = link_init(&c->link, s->loop, &conn_ops, fake)) < 0 ||
	    (!refusing && (r = hstore_init(&c->h, s->lim.max_header_bytes, s->lim.max_headers)) < 0)) {
		hstore_free(&c->h);
		free(c);
		return r;
	}
	llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
	c->parser.data = c;
	c->req_start = uv_now(s->loop);
	scout_list_insert_head(&s->conns, &c->node);
	c->linked = true;
	if (refusing)
		s->refusing++;
	else
		s->stats.open++;
	s->stats.connections++;
	*ret = c;
	return 0;
}

static void refuse_log(struct scout_http_server *s)
{
	uint64_t now = uv_now(s->loop);

	s->stats.refused_busy++;
	if (s->refuse_logged && now - s->refuse_logged < REFUSE_LOG_MS) {
		s->refuse_held++;
		return;
	}
	log_warn("%s: %u connections open, the limit: refusing new ones with 503 (%" PRIu64 " more since the last "
		 "message)",
		 s->name, s->lim.max_conns, s->refuse_held);
	s->refuse_logged = now;
	s->refuse_held = 0;
}

static void closed_free(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct scout_http_server *s = l->data;
	bool over = s->stats.open >= s->lim.max_conns;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct conn *c;
	char err[SCOUT_TLS_ERR_LEN];

	if (status < 0 || s->closing)
		return;
	if (over && s->refusing >= MAX_REFUSING) {
		/* Not even a 503 for this one: accept and drop. */
		uv_tcp_t *t = malloc(sizeof(*t));

		refuse_log(s);
		if (t && uv_tcp_init(s->loop, t) == 0) {
			if (uv_accept(l, (uv_stream_t *)t) == 0)
				uv_tcp_close_reset(t, closed_free);
			else
				uv_close((uv_handle_t *)t, closed_free);
		} else {
			free(t);
		}
		return;
	}
	if (conn_new(s, false, over, &c) < 0)
		return;
	s->handles++;
	if (over)
		refuse_log(s);
	if (uv_accept(l, (uv_stream_t *)&c->link.tcp) < 0) {
		conn_unlink(c);
		link_close_now(&c->link);
		return;
	}
	uv_tcp_nodelay(&c->link.tcp, 1);
	if (uv_tcp_getpeername(&c->link.tcp, (struct sockaddr *)&ss, &len) == 0)
		addr_name(&ss, c->remote, sizeof(c->remote));
	link_arm(&c->link, s->lim.header_timeout_ms); /* the handshake, or the first request */
	if (link_start(&c->link, s->tls, NULL, s->tls_optional, err, sizeof(err)) < 0) {
		log_warn("%s: %s: %s", s->name, c->remote, err);
		conn_unlink(c);
		link_close_now(&c->link);
	}
}

static void listener_failed(uv_handle_t *h)
{
	free(h->data);
}

int scout_http_server_new(uv_loop_t *loop, const struct scout_http_server_opts *o,
			  struct scout_http_server **ret_server, char *err, size_t errlen)
{
	struct scout_http_server *s;
	struct sockaddr_storage ss;
	int r;

	if (!o || !o->handler || !o->handler->on_request) {
		snprintf(err, errlen, "an HTTP server needs a request handler");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	scout_list_init(&s->conns);
	s->loop = loop;
	s->handler = o->handler;
	s->arg = o->arg;
	snprintf(s->name, sizeof(s->name), "%s", o->name ? o->name : "http");
	s->lim = o->limits;
	if (!s->lim.max_header_bytes)
		s->lim.max_header_bytes = DEF_HEADER_BYTES;
	if (!s->lim.max_headers)
		s->lim.max_headers = DEF_HEADERS;
	if (!s->lim.max_body)
		s->lim.max_body = DEF_BODY;
	if (!s->lim.header_timeout_ms)
		s->lim.header_timeout_ms = DEF_HEADER_TIMEOUT;
	if (!s->lim.idle_timeout_ms)
		s->lim.idle_timeout_ms = DEF_IDLE_TIMEOUT;
	if (!s->lim.max_conns)
		s->lim.max_conns = DEF_CONNS;
	llhttp_settings_init(&s->settings);
	s->settings.on_message_begin = p_message_begin;
	s->settings.on_url = p_url;
	s->settings.on_url_complete = p_url_done;
	s->settings.on_header_field = p_field;
	s->settings.on_header_field_complete = p_field_done;
	s->settings.on_header_value = p_value;
	s->settings.on_header_value_complete = p_value_done;
	s->settings.on_headers_complete = p_headers_done;
	s->settings.on_body = p_body;
	s->settings.on_chunk_complete = p_chunk_done;
	s->settings.on_message_complete = p_message_done;
	if (o->tls) {
		s->tls = o->tls;
		s->tls_optional = o->tls_optional;
		scout_tls_ctx_ref(o->tls);
	}
	if (o->port < 0) {
		*ret_server = s;
		return 0;
	}
	if ((r = uv_ip4_addr(o->host ? o->host : "127.0.0.1", o->port, (struct sockaddr_in *)&ss)) < 0 &&
	    (r = uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&ss)) < 0) {
		snprintf(err, errlen, "%s: not an IP address", o->host);
		goto fail;
	}
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->listening = true;
	s->handles = 1;
	if ((r = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0)) < 0 ||
	    (r = uv_listen((uv_stream_t *)&s->listener, 511, on_connection)) < 0) {
		snprintf(err, errlen, "%s port %d: cannot listen: %s", o->host ? o->host : "127.0.0.1", o->port,
			 uv_strerror(r));
		scout_tls_ctx_unref(s->tls);
		uv_close((uv_handle_t *)&s->listener, listener_failed); /* frees s */
		return r;
	}
	*ret_server = s;
	return 0;
fail:
	scout_tls_ctx_unref(s->tls);
	free(s);
	return r;
}

int scout_http_server_port(const struct scout_http_server *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (!s->listening || uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
}

const struct scout_http_server_stats *scout_http_server_stats(const struct scout_http_server *s)
{
	return &s->stats;
}

static void listener_closed(uv_handle_t *h)
{
	struct scout_http_server *s = h->data;

	s->handles--;
	srv_maybe_done(s);
}

void scout_http_server_close(struct scout_http_server *s, void (*done)(void *arg), void *arg)
{
	struct conn *c, *tmp;

	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	/* closing a connection unlinks it */
	scout_list_foreach_safe (c, tmp, &s->conns, node)
		conn_close_now(c);
	if (s->listening)
		uv_close((uv_handle_t *)&s->listener, listener_closed);
	srv_maybe_done(s);
}

/* ---- requests ----------------------------------------------------------- */

const char *scout_http_method(const struct scout_http_req *r)
{
	return llhttp_method_name((llhttp_method_t)r->conn->parser.method);
}

const char *scout_http_target(const struct scout_http_req *r)
{
	return r->conn->h.buf + r->conn->h.target;
}

const char *scout_http_header(const struct scout_http_req *r, const char *name)
{
	return hstore_get(&r->conn->h, name);
}

size_t scout_http_header_count(const struct scout_http_req *r)
{
	return r->conn->h.n / 2;
}

struct scout_http_header scout_http_header_at(const struct scout_http_req *r, size_t i)
{
	const struct hstore *h = &r->conn->h;

	if (i >= h->n / 2)
		return (struct scout_http_header){NULL, NULL};
	return (struct scout_http_header){h->buf + h->off[2 * i], h->buf + h->off[2 * i + 1]};
}

int64_t scout_http_content_length(const struct scout_http_req *r)
{
	return r->content_length;
}

bool scout_http_expects_continue(const struct scout_http_req *r)
{
	return r->expect_continue;
}

bool scout_http_is_tls(const struct scout_http_req *r)
{
	return r->conn->link.tls != NULL;
}

const struct scout_tls_peer *scout_http_tls_peer(const struct scout_http_req *r)
{
	return r->conn->has_peer ? &r->conn->peer : NULL;
}

const char *scout_http_remote(const struct scout_http_req *r)
{
	return r->conn->remote;
}

void scout_http_set_data(struct scout_http_req *r, void *data)
{
	r->data = data;
}

void *scout_http_data(const struct scout_http_req *r)
{
	return r->data;
}

void scout_http_set_max_body(struct scout_http_req *r, uint64_t max)
{
	r->max_body = max;
}

void scout_http_pause(struct scout_http_req *r)
{
	r->conn->paused = true;
	conn_update_reading(r->conn);
}

void scout_http_resume(struct scout_http_req *r)
{
	struct conn *c = r->conn;

	if (!c->paused)
		return;
	c->paused = false;
	if (c->in_request)
		send_continue(c);
	conn_parse(c);
}

/* ---- responses ---------------------------------------------------------- */

/* Writes the status line and headers; with body (a whole response), the
 * body goes in the same write: one syscall per small response. */
static int resp_start(struct scout_http_req *r, int status, const struct scout_http_header *h, size_t n, int64_t length,
		      const void *body, size_t blen)
{
	struct conn *c = r->conn;
	struct sbuf b = {0};
	bool close = false, bodiless = status == 204 || status == 304 || status < 200;
	int ret;

	if (!c->in_request || r->started || status < 200 || status > 999)
		return -EINVAL;
	sb_printf(&b, "HTTP/1.1 %d %s\r\n", status, scout_http_reason(status));
	if ((ret = sb_headers(&b, h, n, &close)) < 0) {
		free(b.p);
		return ret;
	}
	/* A body we will not read: tell the client the connection ends. */
	if (!c->msg_done && r->has_body)
		close = true;
	if (!bodiless && length >= 0) {
		sb_printf(&b, "Content-Length: %" PRId64 "\r\n", length);
	} else if (!bodiless && !r->http10) {
		sb_printf(&b, "Transfer-Encoding: chunked\r\n");
		r->chunked = true;
	} else if (!bodiless) {
		close = true; /* HTTP/1.0 without a length: the close ends the body */
	}
	if (close || !r->keep_alive) {
		c->close_after = true;
		sb_printf(&b, "Connection: close\r\n");
	}
	sb_printf(&b, "\r\n");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	r->started = true;
	r->bodiless = bodiless || r->head;
	r->resp_left = r->bodiless ? 0 : length;
	if (r->bodiless)
		r->chunked = false;
	uv_buf_t bufs[2] = {uv_buf_init(b.p, (unsigned)b.len), uv_buf_init((char *)body, (unsigned)blen)};
	bool with_body = body && blen && !r->bodiless;
	ret = link_writev(&c->link, bufs, with_body ? 2 : 1, NULL, NULL);
	free(b.p);
	if (ret == 0 && with_body)
		r->resp_left = 0;
	return ret;
}

int scout_http_start(struct scout_http_req *r, int status, const struct scout_http_header *h, size_t n, int64_t length)
{
	return resp_start(r, status, h, n, length, NULL, 0);
}

int scout_http_write(struct scout_http_req *r, const void *data, size_t len, scout_http_write_cb cb, void *arg)
{
	struct conn *c = r->conn;
	char head[24];

	if (!r->started || r->ended || !c->in_request)
		return -EINVAL;
	if (r->bodiless || len == 0) {
		if (cb)
			cb(arg, 0); /* nothing goes out: a HEAD, 204 or 304 */
		return 0;
	}
	if (r->chunked) {
		uv_buf_t b[3] = {uv_buf_init(head, (unsigned)snprintf(head, sizeof(head), "%zx\r\n", len)),
				 uv_buf_init((char *)data, (unsigned)len), uv_buf_init("\r\n", 2)};
		return link_writev(&c->link, b, 3, cb, arg);
	}
	if (r->resp_left >= 0) { /* -1: HTTP/1.0, delimited by the close */
		if ((int64_t)len > r->resp_left)
			return -EINVAL;
		r->resp_left -= (int64_t)len;
	}
	return link_write(&c->link, data, len, cb, arg);
}

size_t scout_http_queued(const struct scout_http_req *r)
{
	return r->conn->link.queued;
}

int scout_http_end(struct scout_http_req *r)
{
	struct conn *c = r->conn;
	int ret = 0;

	if (!r->started || r->ended || !c->in_request)
		return -EINVAL;
	if (r->chunked)
		ret = link_write(&c->link, "0\r\n\r\n", 5, NULL, NULL);
	else if (r->resp_left > 0)
		c->close_after = true; /* short: the client can only tell from the close */
	r->ended = true;
	conn_response_done(c);
	return ret;
}

int scout_http_respond(struct scout_http_req *r, int status, const struct scout_http_header *h, size_t n,
		       const void *body, size_t len)
{
	int ret = resp_start(r, status, h, n, (int64_t)len, body, len);

	if (ret < 0)
		return ret;
	r->ended = true;
	conn_response_done(r->conn);
	return ret;
}

/* ---- test seam ---------------------------------------------------------- */

int scout_http_server_feed_test(struct scout_http_server *s, const char *data, size_t len, size_t chunk, char **ret_out,
				size_t *ret_outlen, bool *ret_closed)
{
	struct conn *c;
	int r;

	if ((r = conn_new(s, true, false, &c)) < 0)
		return r;
	snprintf(c->remote, sizeof(c->remote), "test");
	link_start(&c->link, NULL, NULL, false, NULL, 0);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len && !c->link.closing && c->link.want_read;) {
		size_t n = len - off < chunk ? len - off : chunk;

		conn_data(&c->link, data + off, n);
		off += n;
	}
	if (!c->link.closing && c->link.want_read)
		conn_eof(&c->link);
	*ret_closed = c->link.closing;
	conn_abort_req(c);
	conn_unlink(c);
	*ret_out = c->link.out;
	*ret_outlen = c->link.out_len;
	c->link.out = NULL;
	conn_free(c);
	return 0;
}

/* ---- client ------------------------------------------------------------- */

struct scout_http_client {
	struct link link; /* first */
	llhttp_t parser;
	llhttp_settings_t settings;
	struct hstore h;
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	char *host, *server_name;
	int port;
	struct scout_tls_ctx *tls;
	struct scout_tls_client_conn_opts topts;
	const struct scout_http_client_callbacks *cbs;
	void *arg;
	uint64_t connect_timeout, timeout, started;
	int64_t send_left; /* body bytes still to send; -1 chunked */
	bool gai_pending, connected, failed, user_closed;
	bool sending, awaiting, head, skip, reusable;
};

static void client_maybe_free(struct scout_http_client *c)
{
	if (!c->user_closed || c->gai_pending || (!c->link.closed || c->link.handles > 0))
		return;
	hstore_free(&c->h);
	scout_tls_ctx_unref(c->tls);
	free(c->host);
	free(c->server_name);
	free(c);
}

__attribute__((format(printf, 3, 4))) static void client_fail(struct scout_http_client *c, int err, const char *fmt,
							      ...)
{
	char reason[SCOUT_TLS_ERR_LEN + 128];
	va_list ap;

	if (c->failed || c->user_closed)
		return;
	c->failed = true;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	link_close_now(&c->link);
	if (c->cbs->on_error)
		c->cbs->on_error(c, err, reason, c->arg);
}

static void cl_ready(struct link *l, const struct scout_tls_peer *peer)
{
	struct scout_http_client *c = (struct scout_http_client *)l;

	c->connected = true;
	l->last_active = uv_now(l->loop);
	link_arm(l, c->timeout);
	link_want_read(l, true);
	if (c->cbs->on_connect)
		c->cbs->on_connect(c, peer, c->arg);
}

static void cl_data(struct link *l, const char *p, size_t n)
{
	struct scout_http_client *c = (struct scout_http_client *)l;
	enum llhttp_errno e;

	if (c->failed || c->user_closed)
		return;
	if (!c->awaiting) {
		client_fail(c, -EPROTO, "%s:%d: %zu bytes from the server with no request open", c->host, c->port, n);
		return;
	}
	e = llhttp_execute(&c->parser, p, n);
	if (e != HPE_OK && !c->failed && !c->user_closed)
		client_fail(c, -EPROTO, "%s:%d: bad response: %s", c->host, c->port,
			    llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser)
								: llhttp_errno_name(e));
}

static void cl_eof(struct link *l)
{
	struct scout_http_client *c = (struct scout_http_client *)l;

	c->reusable = false;
	if (c->awaiting && llhttp_finish(&c->parser) == HPE_OK && !c->awaiting)
		return; /* a body delimited by the close, now complete */
	if (c->awaiting)
		client_fail(c, -ECONNRESET, "%s:%d: connection closed before the response ended", c->host, c->port);
	else
		link_close_now(l);
}

static void cl_link_fail(struct link *l, int err, const char *reason)
{
	struct scout_http_client *c = (struct scout_http_client *)l;

	client_fail(c, err, "%s:%d: %s", c->host, c->port, reason);
}

static void cl_timer(struct link *l)
{
	struct scout_http_client *c = (struct scout_http_client *)l;
	uint64_t now = uv_now(l->loop);

	if (!c->connected) {
		if (now - c->started >= c->connect_timeout)
			client_fail(c, -ETIMEDOUT, "%s:%d: not connected within %" PRIu64 " ms", c->host, c->port,
				    c->connect_timeout);
		else
			link_arm(l, c->connect_timeout - (now - c->started));
		return;
	}
	if (!c->awaiting || now - l->last_active < c->timeout) {
		link_arm(l, c->awaiting ? c->timeout - (now - l->last_active) : c->timeout);
		return;
	}
	client_fail(c, -ETIMEDOUT, "%s:%d: no response for %" PRIu64 " ms", c->host, c->port, c->timeout);
}

static void cl_closed(struct link *l)
{
	client_maybe_free((struct scout_http_client *)l);
}

static const struct link_ops client_ops = {.ready = cl_ready,
					   .data = cl_data,
					   .eof = cl_eof,
					   .fail = cl_link_fail,
					   .timer = cl_timer,
					   .closed = cl_closed};

static int cl_begin(llhttp_t *p)
{
	struct scout_http_client *c = p->data;

	hstore_reset(&c->h);
	return 0;
}

static int cl_field(llhttp_t *p, const char *at, size_t n)
{
	struct scout_http_client *c = p->data;

	return hstore_append(&c->h, at, n, false) < 0 ? -1 : 0;
}

static int cl_string_done(llhttp_t *p)
{
	struct scout_http_client *c = p->data;

	if (c->h.len + 1 > c->h.cap || (!c->h.open && c->h.n >= c->h.max))
		return -1;
	hstore_close(&c->h, false);
	return 0;
}

static int cl_headers_done(llhttp_t *p)
{
	struct scout_http_client *c = p->data;

	if (c->h.n % 2)
		c->h.n--;
	if (p->status_code >= 100 && p->status_code < 200) {
		c->skip = true; /* 100 Continue and friends: the real answer follows */
		return 0;
	}
	c->skip = false;
	if (c->cbs->on_response)
		c->cbs->on_response(c, p->status_code, c->arg);
	if (c->failed || c->user_closed)
		return -1;
	return c->head ? 1 : 0;
}

static int cl_body(llhttp_t *p, const char *at, size_t n)
{
	struct scout_http_client *c = p->data;

	if (!c->skip && c->cbs->on_body)
		c->cbs->on_body(c, at, n, c->arg);
	return c->failed || c->user_closed ? -1 : 0;
}

static int cl_message_done(llhttp_t *p)
{
	struct scout_http_client *c = p->data;

	if (c->skip) {
		c->skip = false;
		return 0;
	}
	c->awaiting = false;
	c->reusable = llhttp_should_keep_alive(p) && !c->sending && !c->link.eof;
	link_arm(&c->link, c->timeout);
	if (c->cbs->on_complete)
		c->cbs->on_complete(c, c->arg);
	return c->failed || c->user_closed ? -1 : 0;
}

static void cl_connected(uv_connect_t *req, int status)
{
	struct scout_http_client *c = req->data;
	char err[SCOUT_TLS_ERR_LEN];

	if (c->user_closed || c->failed)
		return;
	if (status < 0) {
		client_fail(c, status, "%s:%d: cannot connect: %s", c->host, c->port, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->link.tcp, 1);
	c->topts.server_name = c->server_name;
	if (link_start(&c->link, c->tls, c->tls ? &c->topts : NULL, false, err, sizeof(err)) < 0)
		client_fail(c, -EPROTO, "%s:%d: %s", c->host, c->port, err);
}

static void cl_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct scout_http_client *c = req->data;
	int r;

	c->gai_pending = false;
	if (c->user_closed) {
		uv_freeaddrinfo(res);
		client_maybe_free(c);
		return;
	}
	if (status < 0) {
		client_fail(c, status, "%s: cannot resolve: %s", c->host, uv_strerror(status));
		return;
	}
	c->connect.data = c;
	r = uv_tcp_connect(&c->connect, &c->link.tcp, res->ai_addr, cl_connected);
	uv_freeaddrinfo(res);
	if (r < 0)
		client_fail(c, r, "%s:%d: cannot connect: %s", c->host, c->port, uv_strerror(r));
}

int scout_http_client_connect(uv_loop_t *loop, const struct scout_http_client_opts *o,
			      const struct scout_http_client_callbacks *cbs, void *arg,
			      struct scout_http_client **ret_client, char *err, size_t errlen)
{
	struct scout_http_client *c;
	struct sockaddr_storage ss;
	char portstr[16];
	int r;

	if (!o || !o->host || !*o->host || o->port <= 0 || o->port > 65535 || !cbs) {
		snprintf(err, errlen, "an HTTP client needs a host and a port");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->host = strdup(o->host);
	c->server_name = strdup(o->tls_opts.server_name ? o->tls_opts.server_name : o->host);
	c->port = o->port;
	c->cbs = cbs;
	c->arg = arg;
	c->topts = o->tls_opts;
	c->connect_timeout = o->connect_timeout_ms ? o->connect_timeout_ms : DEF_CLIENT_CONNECT;
	c->timeout = o->timeout_ms ? o->timeout_ms : DEF_CLIENT_TIMEOUT;
	c->started = uv_now(loop);
	if (!c->host || !c->server_name ||
	    hstore_init(&c->h, o->max_header_bytes ? o->max_header_bytes : DEF_CLIENT_HEADER_BYTES, 256) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = link_init(&c->link, loop, &client_ops, false)) < 0) {
		snprintf(err, errlen, "%s: %s", o->host, uv_strerror(r));
		goto fail;
	}
	if (o->tls) {
		c->tls = o->tls;
		scout_tls_ctx_ref(o->tls);
	}
	llhttp_settings_init(&c->settings);
	c->settings.on_message_begin = cl_begin;
	c->settings.on_header_field = cl_field;
	c->settings.on_header_field_complete = cl_string_done;
	c->settings.on_header_value = cl_field;
	c->settings.on_header_value_complete = cl_string_done;
	c->settings.on_headers_complete = cl_headers_done;
	c->settings.on_body = cl_body;
	c->settings.on_message_complete = cl_message_done;
	llhttp_init(&c->parser, HTTP_RESPONSE, &c->settings);
	c->parser.data = c;
	link_arm(&c->link, c->connect_timeout);
	if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&ss) == 0) {
		c->connect.data = c;
		r = uv_tcp_connect(&c->connect, &c->link.tcp, (struct sockaddr *)&ss, cl_connected);
	} else {
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};

		snprintf(portstr, sizeof(portstr), "%d", o->port);
		c->gai.data = c;
		r = uv_getaddrinfo(loop, &c->gai, cl_resolved, o->host, portstr, &hints);
		c->gai_pending = r == 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s:%d: cannot connect: %s", o->host, o->port, uv_strerror(r));
		c->user_closed = true;
		link_close_now(&c->link); /* frees c once closed */
		return r;
	}
	*ret_client = c;
	return 0;
fail:
	hstore_free(&c->h);
	free(c->host);
	free(c->server_name);
	free(c);
	return r;
}

int scout_http_client_request(struct scout_http_client *c, const char *method, const char *target,
			      const struct scout_http_header *h, size_t n, int64_t length)
{
	struct sbuf b = {0};
	bool close = false;
	int r;

	if (c->failed || c->link.closing)
		return -EPIPE;
	if (!c->connected)
		return -ENOTCONN;
	if (c->awaiting || c->sending)
		return -EBUSY;
	if (!token_ok(method) || !target || !*target || strpbrk(target, " \r\n\t"))
		return -EINVAL;
	sb_printf(&b, "%s %s HTTP/1.1\r\n", method, target);
	if (strchr(c->host, ':'))
		sb_printf(&b, "Host: [%s]:%d\r\n", c->host, c->port);
	else
		sb_printf(&b, "Host: %s:%d\r\n", c->host, c->port);
	if ((r = sb_headers(&b, h, n, &close)) < 0) {
		free(b.p);
		return r;
	}
	if (length >= 0) {
		if (length > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
			sb_printf(&b, "Content-Length: %" PRId64 "\r\n", length);
	} else {
		sb_printf(&b, "Transfer-Encoding: chunked\r\n");
	}
	sb_printf(&b, "\r\n");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	r = link_write(&c->link, b.p, b.len, NULL, NULL);
	free(b.p);
	if (r < 0)
		return r;
	c->send_left = length;
	c->sending = true;
	c->awaiting = true;
	c->reusable = false;
	c->head = strcmp(method, "HEAD") == 0;
	c->link.last_active = uv_now(c->link.loop);
	link_arm(&c->link, c->timeout);
	return 0;
}

int scout_http_client_write(struct scout_http_client *c, const void *data, size_t len, scout_http_write_cb cb,
			    void *arg)
{
	char head[24];

	if (c->failed || c->link.closing)
		return -EPIPE;
	if (!c->sending)
		return -EINVAL;
	if (len == 0) {
		if (cb)
			cb(arg, 0);
		return 0;
	}
	if (c->send_left < 0) {
		uv_buf_t b[3] = {uv_buf_init(head, (unsigned)snprintf(head, sizeof(head), "%zx\r\n", len)),
				 uv_buf_init((char *)data, (unsigned)len), uv_buf_init("\r\n", 2)};
		return link_writev(&c->link, b, 3, cb, arg);
	}
	if ((int64_t)len > c->send_left)
		return -EINVAL;
	c->send_left -= (int64_t)len;
	return link_write(&c->link, data, len, cb, arg);
}

int scout_http_client_end(struct scout_http_client *c)
{
	int r = 0;

	if (c->failed || c->link.closing)
		return -EPIPE;
	if (!c->sending)
		return -EINVAL;
	if (c->send_left > 0)
		return -EINVAL; /* fewer bytes than declared */
	if (c->send_left < 0)
		r = link_write(&c->link, "0\r\n\r\n", 5, NULL, NULL);
	c->sending = false;
	return r;
}

size_t scout_http_client_queued(const struct scout_http_client *c)
{
	return c->link.queued;
}

const char *scout_http_client_header(const struct scout_http_client *c, const char *name)
{
	return hstore_get(&c->h, name);
}

bool scout_http_client_reusable(const struct scout_http_client *c)
{
	return c->reusable && !c->failed && !c->link.closing;
}

void scout_http_client_pause(struct scout_http_client *c)
{
	link_want_read(&c->link, false);
}

void scout_http_client_resume(struct scout_http_client *c)
{
	if (!c->failed && !c->link.closing)
		link_want_read(&c->link, true);
}

void scout_http_client_close(struct scout_http_client *c)
{
	if (!c || c->user_closed)
		return;
	c->user_closed = true;
	if (c->gai_pending)
		uv_cancel((uv_req_t *)&c->gai);
	if (c->link.closed && c->link.handles == 0)
		client_maybe_free(c);
	else
		link_close_now(&c->link);
}
