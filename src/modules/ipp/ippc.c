/* ippc: one IPP request over scout_http_client (see ippc.h). */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ippc.h"
#include "loop/http.h"

struct ippc {
	struct scout_http_client *http;
	const struct ippc_cbs *cbs;
	void *arg;
	uint8_t *req;
	size_t req_len;
	uint64_t doc_len, doc_sent;
	bool tls, has_pin, connected, have_peer, finished, freed, ended, writable_wanted;
	bool in_done; /* on_done runs: the response it borrows stays until it returns */
	uint8_t pin[32], peer_pin[32];
	int http_status;
	unsigned writes; /* write callbacks still to come */
	/* the response body: the IPP header, bounded */
	uint8_t *resp;
	size_t resp_len;
	bool resp_over;
	char host[256], path[256];
	int port;
};

static void maybe_free(struct ippc *c)
{
	if (!c->freed || c->writes || c->in_done)
		return;
	free(c->req);
	free(c->resp);
	free(c);
}

static void finish(struct ippc *c, int status, const struct ipp_msg *m, const char *why)
{
	if (c->finished)
		return;
	c->finished = true;
	c->in_done = true;
	c->cbs->on_done(c, status, m, why ? why : "", c->arg);
	c->in_done = false;
	maybe_free(c);
}

__attribute__((format(printf, 3, 4))) static void fail(struct ippc *c, int status, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	finish(c, status, NULL, why);
}

static int send_part(struct ippc *c, const void *data, size_t len);

static void on_connect(struct scout_http_client *h, const struct scout_tls_peer *peer, void *arg)
{
	struct ippc *c = arg;
	struct scout_http_header hdr[] = {{"Content-Type", "application/ipp"}};
	int r;

	(void)h;
	c->connected = true;
	if (c->tls && peer) {
		memcpy(c->peer_pin, peer->pin, sizeof(c->peer_pin));
		c->have_peer = true;
		/* checked here rather than by the handshake so that the new key is
		 * known for the alert; nothing has been sent yet */
		if (c->has_pin && memcmp(peer->pin, c->pin, sizeof(c->pin)) != 0) {
			fail(c, -EKEYREJECTED, "%s:%d shows the key %s, not the pinned one", c->host, c->port,
			     peer->pin_hex);
			return;
		}
	}
	r = scout_http_client_request(c->http, "POST", c->path, hdr, 1, (int64_t)(c->req_len + c->doc_len));
	if (r == 0)
		r = send_part(c, c->req, c->req_len);
	if (r == 0 && c->doc_len == 0) {
		c->ended = true;
		r = scout_http_client_end(c->http);
	}
	if (r < 0) {
		fail(c, r, "%s:%d: cannot send the request: %s", c->host, c->port, strerror(-r));
		return;
	}
	if (c->doc_len > 0)
		c->cbs->on_writable(c, c->arg);
}

static void write_done(void *arg, int status)
{
	struct ippc *c = arg;

	(void)status; /* a failed write ends in on_error */
	c->writes--;
	if (c->freed) {
		maybe_free(c);
		return;
	}
	if (!c->finished && c->writable_wanted && c->doc_sent < c->doc_len &&
	    scout_http_client_queued(c->http) < IPPC_LOW_WATER) {
		c->writable_wanted = false;
		c->cbs->on_writable(c, c->arg);
	}
}

static void on_response(struct scout_http_client *h, int status, void *arg)
{
	struct ippc *c = arg;

	(void)h;
	c->http_status = status;
}

static void on_body(struct scout_http_client *h, const char *data, size_t len, void *arg)
{
	struct ippc *c = arg;

	(void)h;
	if (c->resp_over || len == 0)
		return;
	if (c->resp_len + len > IPP_MAX_HEADER) {
		/* attributes past the limit (or document data, which a printer
		 * never sends back here): what fits is decoded, the rest ignored */
		len = IPP_MAX_HEADER - c->resp_len;
		c->resp_over = true;
	}
	uint8_t *p = realloc(c->resp, c->resp_len + len);
	if (!p) {
		c->resp_over = true;
		return;
	}
	c->resp = p;
	memcpy(c->resp + c->resp_len, data, len);
	c->resp_len += len;
}

static void on_complete(struct scout_http_client *h, void *arg)
{
	struct ippc *c = arg;
	struct ipp_msg m;
	char err[IPP_ERR_LEN];
	size_t resume = 0;
	int r;

	(void)h;
	if (c->http_status != 200) {
		fail(c, -EPROTO, "%s:%d answered HTTP %d %s", c->host, c->port, c->http_status,
		     scout_http_reason(c->http_status));
		return;
	}
	ssize_t n = c->resp ? ipp_header_length(c->resp, c->resp_len, &resume) : 0;
	if (n <= 0) {
		fail(c, -EBADMSG, "%s:%d: the response is not IPP (%zu bytes)", c->host, c->port, c->resp_len);
		return;
	}
	if ((r = ipp_decode(c->resp, (size_t)n, &m, err, sizeof(err))) < 0) {
		fail(c, r, "%s:%d: bad IPP response: %s", c->host, c->port, err);
		return;
	}
	finish(c, 0, &m, NULL);
	ipp_msg_free(&m);
}

static void on_error(struct scout_http_client *h, int err, const char *reason, void *arg)
{
	struct ippc *c = arg;

	(void)h;
	if (err == -ECONNRESET || err == -EPIPE) {
		finish(c, -ECONNRESET, NULL, reason);
		return;
	}
	finish(c, err < 0 ? err : -EIO, NULL, reason);
}

static const struct scout_http_client_callbacks http_cbs = {
	.on_connect = on_connect,
	.on_response = on_response,
	.on_body = on_body,
	.on_complete = on_complete,
	.on_error = on_error,
};

static int send_part(struct ippc *c, const void *data, size_t len)
{
	int r = scout_http_client_write(c->http, data, len, write_done, c);

	if (r == 0)
		c->writes++;
	return r;
}

int ippc_write(struct ippc *c, const void *data, size_t len)
{
	int r;

	if (c->finished || c->ended)
		return -EPIPE;
	if (len > c->doc_len - c->doc_sent)
		return -EINVAL;
	if (scout_http_client_queued(c->http) >= IPPC_HIGH_WATER)
		return -ENOBUFS;
	if ((r = send_part(c, data, len)) < 0)
		return r;
	c->doc_sent += len;
	if (c->doc_sent == c->doc_len) {
		c->ended = true;
		return scout_http_client_end(c->http);
	}
	if (scout_http_client_queued(c->http) >= IPPC_LOW_WATER)
		c->writable_wanted = true;
	return 0;
}

int ippc_start(uv_loop_t *loop, const struct ippc_opts *o, const uint8_t *req, size_t req_len, uint64_t doc_len,
	       const struct ippc_cbs *cbs, void *arg, struct ippc **ret, char *err, size_t errlen)
{
	struct ippc *c = calloc(1, sizeof(*c));
	int r;

	if (!c || !(c->req = malloc(req_len ? req_len : 1))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(c->req, req, req_len);
	c->req_len = req_len;
	c->doc_len = doc_len;
	c->cbs = cbs;
	c->arg = arg;
	c->tls = o->tls_ctx != NULL;
	if (o->pin) {
		c->has_pin = true;
		memcpy(c->pin, o->pin, sizeof(c->pin));
	}
	c->port = o->port;
	snprintf(c->host, sizeof(c->host), "%s", o->host);
	snprintf(c->path, sizeof(c->path), "%s", o->path && o->path[0] ? o->path : "/");
	struct scout_http_client_opts ho = {
		.host = o->host,
		.port = o->port,
		.tls = o->tls_ctx,
		.tls_opts = {.server_name = o->host, .verify = SCOUT_TLS_PIN_FIRST_USE},
		.connect_timeout_ms = o->timeout_ms,
		.timeout_ms = o->timeout_ms,
	};
	if ((r = scout_http_client_connect(loop, &ho, &http_cbs, c, &c->http, err, errlen)) < 0) {
		free(c->req);
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

size_t ippc_queued(const struct ippc *c)
{
	return c->http ? scout_http_client_queued(c->http) : 0;
}

uint64_t ippc_sent(const struct ippc *c)
{
	return c->doc_sent;
}

bool ippc_connected(const struct ippc *c)
{
	return c->connected;
}

bool ippc_peer_pin(const struct ippc *c, uint8_t pin[32])
{
	if (!c->have_peer)
		return false;
	memcpy(pin, c->peer_pin, 32);
	return true;
}

int ippc_http_status(const struct ippc *c)
{
	return c->http_status;
}

void ippc_free(struct ippc *c)
{
	if (!c || c->freed)
		return;
	c->freed = true;
	c->finished = true;
	scout_http_client_close(c->http);
	c->http = NULL;
	maybe_free(c);
}

/* ---- what printers send back ---- */

void ippc_status_message(const struct ipp_msg *m, char *buf, size_t size)
{
	const struct ipp_attr *a = ipp_find(m->attrs, IPP_TAG_OPERATION, "status-message");

	if (size)
		buf[0] = 0;
	if (a && a->values && !ipp_value_str(a->values, buf, size) && size)
		buf[0] = 0;
	/* for people and logs: no control characters */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

static int32_t first_int(const struct ipp_msg *m, const char *name)
{
	const struct ipp_attr *a = ipp_find(m->attrs, IPP_TAG_JOB, name);
	int32_t v;

	if (!a || !a->values || !ipp_value_int(a->values, &v))
		return -1;
	return v;
}

int32_t ippc_job_id(const struct ipp_msg *m)
{
	int32_t v = first_int(m, "job-id");

	return v > 0 ? v : -1;
}

int32_t ippc_job_state(const struct ipp_msg *m)
{
	int32_t v = first_int(m, "job-state");

	return v >= IPPC_JOB_PENDING && v <= IPPC_JOB_COMPLETED ? v : -1;
}
