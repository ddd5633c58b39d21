/* The ipp module's HTTP side, on the core's http seam: routes requests
 * (IPP on POST /ipp/print, the page and icon on GET), reads the IPP header
 * from the start of the body (at most IPP_MAX_HEADER bytes), then streams
 * the document that follows to the vault: job.create, job.write with at
 * most IPP_MAX_WRITES in flight (the HTTP body is paused meanwhile), and
 * job.commit; only once job.commit has answered does the client get
 * successful-ok. A client that goes away mid-job gets its job aborted.
 *
 * An ipp_req lives until its HTTP request is answered or gone and none of
 * its bus requests is pending. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ipp.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/pack.h"

#define WRITE_FLUSH 65536        /* send a job.write once this much is buffered */
#define WRITE_MAX 262144         /* the contract's largest job.write */
#define CALL_TIMEOUT_MS 30000    /* create, write */
#define COMMIT_TIMEOUT_MS 120000 /* commit: an fdatasync of a large file */

static void on_call_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_call *c = arg;
	struct ipp_req *r = c->r;
	msgpack_unpacked u;
	const msgpack_object *obj = NULL;

	c->busy = false;
	msgpack_unpacked_init(&u);
	if (reply && reply->len && msgpack_unpack_next(&u, reply->data, reply->len, NULL) == MSGPACK_UNPACK_SUCCESS)
		obj = &u.data;
	c->done(r, status, obj);
	msgpack_unpacked_destroy(&u);
	ipp_req_maybe_free(r);
}

int ipp_req_call(struct ipp_req *r, struct scout_topic *t, const msgpack_sbuffer *sb, uint64_t timeout_ms,
		 ipp_call_done done)
{
	struct ipp_call *c = NULL;

	for (size_t i = 0; i < IPP_CALLS && !c; i++)
		if (!r->calls[i].busy)
			c = &r->calls[i];
	if (!c)
		return -EAGAIN;
	c->r = r;
	c->done = done;
	int ret = scout_bus_request(scout_mod_bus(r->ipp->m), t, sb->data, sb->size, timeout_ms, on_call_reply, c,
				    &c->corr);
	if (ret == 0)
		c->busy = true;
	return ret;
}

static bool req_busy(const struct ipp_req *r)
{
	for (size_t i = 0; i < IPP_CALLS; i++)
		if (r->calls[i].busy)
			return true;
	return false;
}

static void req_free(struct ipp_req *r)
{
	scout_list_remove(&r->link);
	if (r->have_msg)
		ipp_msg_free(&r->msg);
	ipp_w_free(&r->pending);
	free(r->hbuf);
	free(r->wbuf);
	free(r);
}

void ipp_req_maybe_free(struct ipp_req *r)
{
	if (!r->http && !req_busy(r))
		req_free(r);
}

static void abort_done(int status, const struct scout_msg *reply, void *arg)
{
	(void)status;
	(void)reply;
	(void)arg;
}

void ipp_job_abort(struct ipp *s, uint32_t id, const char *reason)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, reason);
	if (scout_bus_request(scout_mod_bus(s->m), s->t_abort, sb.data, sb.size, CALL_TIMEOUT_MS, abort_done, NULL,
			      NULL) < 0)
		log_warn("ipp: job %u: cannot ask the vault to drop it", id);
	msgpack_sbuffer_destroy(&sb);
}

/* The HTTP request is over for us: answered, or gone. */
static void req_detach(struct ipp_req *r)
{
	r->http = NULL;
	r->phase = PH_DONE;
}

void ipp_req_respond(struct ipp_req *r, struct ipp_writer *w)
{
	static const struct scout_http_header h[] = {{"Content-Type", "application/ipp"}};

	if (r->http && ipp_w_finish(w) == 0) {
		scout_http_respond(r->http, 200, h, 1, w->p, w->len);
		req_detach(r);
	} else if (r->http) {
		scout_http_respond(r->http, 500, NULL, 0, "out of memory\n", 14);
		req_detach(r);
	}
	ipp_w_free(w);
}

void ipp_req_http_error(struct ipp_req *r, int status, const char *why)
{
	struct scout_http_header h[3];
	size_t n = 0;
	char body[256];

	if (!r->http)
		return;
	h[n++] = (struct scout_http_header){"Content-Type", "text/plain; charset=utf-8"};
	if (status == 401)
		h[n++] = (struct scout_http_header){"WWW-Authenticate", "Basic realm=\"scout\", charset=\"UTF-8\""};
	if (status == 426) {
		h[n++] = (struct scout_http_header){"Upgrade", "TLS/1.2, HTTP/1.1"};
	}
	int len = snprintf(body, sizeof(body), "%d %s: %s\n", status, scout_http_reason(status), why);
	log_info("ipp: %s: %d %s: %s", r->remote, status, scout_http_reason(status), why);
	scout_http_respond(r->http, status, h, n, body, (size_t)len);
	req_detach(r);
}

/* ---- the document stream ----------------------------------------------- */

static void pump(struct ipp_req *r);

static void doc_fail(struct ipp_req *r, int err, const char *reason)
{
	if (r->doc_status)
		return;
	r->streaming = false;
	r->doc_status = ipp_status_of_errno(err, r->job_created);
	snprintf(r->doc_message, sizeof(r->doc_message), "%s", reason && *reason ? reason : strerror(-err));
	r->ipp->n.errors++;
	if (r->job_created && !r->committed) {
		log_info("ipp: job %u from %s: dropped: %s", r->job_id, r->remote, r->doc_message);
		ipp_job_abort(r->ipp, r->job_id, r->doc_message);
		if (r->open) {
			scout_list_remove(&r->open->link);
			free(r->open);
			r->open = NULL;
		}
		r->job_created = false;
	}
	ipp_ops_fail(r, (uint16_t)r->doc_status, "%s", r->doc_message);
}

static void reply_reason(const msgpack_object *reply, char *buf, size_t size)
{
	const char *s;
	size_t n;

	buf[0] = 0;
	if (reply && scout_pack_get_str(reply, "reason", &s, &n) == 0) {
		if (n >= size)
			n = size - 1;
		memcpy(buf, s, n);
		buf[n] = 0;
	}
}

static void on_write_done(struct ipp_req *r, int status, const msgpack_object *reply)
{
	char reason[200];

	r->inflight--;
	if (status < 0) {
		reply_reason(reply, reason, sizeof(reason));
		doc_fail(r, status, reason);
		return;
	}
	pump(r);
}

static void on_commit_done(struct ipp_req *r, int status, const msgpack_object *reply)
{
	char reason[200];

	if (status < 0) {
		reply_reason(reply, reason, sizeof(reason));
		doc_fail(r, status, reason);
		return;
	}
	r->committed = true;
	r->streaming = false;
	r->ipp->n.jobs++;
	r->ipp->rate_jobs++;
	if (r->open) {
		scout_list_remove(&r->open->link);
		free(r->open);
		r->open = NULL;
	}
	log_info("ipp: job %u from %s for %s: %" PRIu64 " bytes held", r->job_id, r->remote, r->user, r->doc_bytes);
	if (r->http)
		ipp_ops_job_done(r);
}

static int send_write(struct ipp_req *r, size_t n)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret;

	/* sized once: growing by doubling would copy the data several times */
	msgpack_sbuffer_init(&sb);
	if (!(sb.data = malloc(n + 64)))
		return -ENOMEM;
	sb.alloc = n + 64;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, r->job_id);
	scout_pack_str(&pk, "data");
	msgpack_pack_bin(&pk, n);
	msgpack_pack_bin_body(&pk, r->wbuf, n);
	ret = ipp_req_call(r, r->ipp->t_write, &sb, CALL_TIMEOUT_MS, on_write_done);
	msgpack_sbuffer_destroy(&sb);
	if (ret < 0)
		return ret;
	r->inflight++;
	memmove(r->wbuf, r->wbuf + n, r->wlen - n);
	r->wlen -= n;
	return 0;
}

static void send_commit(struct ipp_req *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, r->job_id);
	r->commit_sent = true;
	ret = ipp_req_call(r, r->ipp->t_commit, &sb, COMMIT_TIMEOUT_MS, on_commit_done);
	msgpack_sbuffer_destroy(&sb);
	if (ret < 0)
		doc_fail(r, ret, "cannot ask the vault to commit the job");
	r->phase = PH_WAIT;
}

/* Moves buffered bytes to the vault as the window allows, pauses or
 * resumes the body, and commits once the body is done and all is taken. */
static void pump(struct ipp_req *r)
{
	if (r->doc_status || !r->job_created || r->committed || r->aborted)
		return;
	while (r->inflight < IPP_MAX_WRITES && r->wlen && (r->wlen >= WRITE_FLUSH || r->body_done)) {
		int ret = send_write(r, r->wlen < WRITE_MAX ? r->wlen : WRITE_MAX);
		if (ret < 0) {
			doc_fail(r, ret, "cannot pass the document to the vault");
			return;
		}
	}
	if (r->body_done) {
		if (!r->wlen && !r->inflight && !r->commit_sent)
			send_commit(r);
		return;
	}
	if (!r->http)
		return;
	if (r->wlen >= WRITE_FLUSH)
		scout_http_pause(r->http);
	else
		scout_http_resume(r->http);
}

static int doc_append(struct ipp_req *r, const void *data, size_t n)
{
	if (!n)
		return 0;
	if (r->wcap - r->wlen < n) {
		size_t cap = r->wlen + n > WRITE_MAX ? r->wlen + n : WRITE_MAX;
		uint8_t *p = realloc(r->wbuf, cap);
		if (!p)
			return -ENOMEM;
		r->wbuf = p;
		r->wcap = cap;
	}
	memcpy(r->wbuf + r->wlen, data, n);
	r->wlen += n;
	r->doc_bytes += n;
	r->ipp->n.documents_bytes += n;
	r->ipp->rate_bytes += n;
	return 0;
}

static void on_create_done(struct ipp_req *r, int status, const msgpack_object *reply)
{
	char reason[200];
	uint64_t id = 0;

	if (status == 0 && (scout_pack_get_uint(reply, "id", &id) < 0 || id == 0 || id > INT32_MAX))
		status = -EBADMSG;
	if (status < 0) {
		reply_reason(reply, reason, sizeof(reason));
		if (!reason[0] && status == -ENOENT)
			snprintf(reason, sizeof(reason), "the vault is not running");
		doc_fail(r, status, reason);
		return;
	}
	r->job_id = (uint32_t)id;
	r->job_created = true;
	if (r->aborted) {
		ipp_job_abort(r->ipp, r->job_id, "the client went away");
		r->job_created = false;
		return;
	}
	r->phase = PH_DOC;
	pump(r);
}

int ipp_send_create(struct ipp_req *r, ipp_call_done done)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int64_t cl = r->http ? scout_http_content_length(r->http) : -1;
	char origin[96];
	int ret;

	snprintf(origin, sizeof(origin), "ipp %s", r->remote);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 9);
	scout_pack_str(&pk, "owner");
	scout_pack_str(&pk, r->user);
	scout_pack_str(&pk, "name");
	scout_pack_str(&pk, r->job_name);
	scout_pack_str(&pk, "format");
	scout_pack_str(&pk, r->format);
	scout_pack_str(&pk, "origin");
	scout_pack_str(&pk, origin);
	scout_pack_str(&pk, "copies");
	msgpack_pack_uint32(&pk, r->copies ? r->copies : 1);
	scout_pack_str(&pk, "sides");
	scout_pack_str(&pk, r->sides);
	scout_pack_str(&pk, "color");
	scout_pack_str(&pk, r->color);
	scout_pack_str(&pk, "media");
	scout_pack_str(&pk, r->media);
	scout_pack_str(&pk, "size_hint");
	msgpack_pack_uint64(&pk, cl > 0 && (uint64_t)cl > r->msg.length ? (uint64_t)cl - r->msg.length : 0);
	ret = ipp_req_call(r, r->ipp->t_create, &sb, CALL_TIMEOUT_MS, done);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

void ipp_doc_begin(struct ipp_req *r, const uint8_t *rest, size_t rest_len)
{
	r->streaming = true;
	if (doc_append(r, rest, rest_len) < 0) {
		ipp_ops_fail(r, IPP_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (r->job_id) { /* Send-Document into a Create-Job's job */
		r->job_created = true;
		r->phase = PH_DOC;
		pump(r);
		return;
	}
	r->phase = PH_WAIT;
	scout_http_pause(r->http); /* until the vault has made the job */
	int ret = ipp_send_create(r, on_create_done);
	if (ret < 0)
		doc_fail(r, ret, "cannot ask the vault for a job");
}

/* ---- HTTP handlers ------------------------------------------------------ */

/* The header cannot be read: the decoder says what and where. */
static void header_error(struct ipp_req *r)
{
	char err[IPP_ERR_LEN], msg[IPP_ERR_LEN + 48];
	struct ipp_msg m;

	r->ipp->n.bad_requests++;
	if (ipp_decode(r->hbuf, r->hlen, &m, err, sizeof(err)) == 0) {
		ipp_msg_free(&m);
		err[0] = 0;
	}
	if (r->hlen == IPP_MAX_HEADER)
		snprintf(msg, sizeof(msg), "attributes longer than %d bytes%s%s", IPP_MAX_HEADER, *err ? ": " : "",
			 err);
	else
		snprintf(msg, sizeof(msg), "%s", err);
	log_info("ipp: %s: bad request: %s", r->remote, msg);
	ipp_ops_fail(r, IPP_BAD_REQUEST, "%s", msg);
}

static void header_done(struct ipp_req *r, size_t hl, const uint8_t *more, size_t more_len)
{
	char err[IPP_ERR_LEN];
	int ret;

	ret = ipp_decode(r->hbuf, r->hlen, &r->msg, err, sizeof(err));
	if (ret < 0) {
		r->ipp->n.bad_requests++;
		log_info("ipp: %s: bad request: %s", r->remote, err);
		ipp_ops_fail(r, IPP_BAD_REQUEST, "%s", err);
		return;
	}
	r->have_msg = true;
	/* what followed the attributes in this piece is the document's start:
	 * gather it in one block for the op */
	size_t rest = r->hlen - hl;
	uint8_t *tmp = NULL;
	if (more_len) {
		tmp = malloc(rest + more_len);
		if (!tmp) {
			ipp_ops_fail(r, IPP_INTERNAL_ERROR, "out of memory");
			return;
		}
		memcpy(tmp, r->hbuf + hl, rest);
		memcpy(tmp + rest, more, more_len);
	}
	r->phase = PH_DRAIN;
	ipp_ops_dispatch(r, tmp ? tmp : r->hbuf + hl, rest + more_len);
	free(tmp);
}

static int header_grow(struct ipp_req *r)
{
	size_t cap = r->hcap * 2 < IPP_MAX_HEADER ? r->hcap * 2 : IPP_MAX_HEADER;
	uint8_t *p = realloc(r->hbuf, cap);

	if (!p) {
		ipp_ops_fail(r, IPP_INTERNAL_ERROR, "out of memory");
		return -ENOMEM;
	}
	r->hbuf = p;
	r->hcap = cap;
	return 0;
}

static void on_body(struct scout_http_req *h, const char *data, size_t len, void *arg)
{
	struct ipp_req *r = scout_http_data(h);
	(void)arg;

	if (!r)
		return;
	if (r->streaming) {
		if (doc_append(r, data, len) < 0)
			doc_fail(r, -ENOMEM, "out of memory");
		else
			pump(r);
		return;
	}
	if (r->phase != PH_HEADER)
		return;
	/* a piece at a time into a buffer that doubles as needed: the
	 * attributes of most requests fit the first 4 KiB, and what follows
	 * them is the document's, not the header buffer's */
	while (len) {
		if (r->hlen == r->hcap && header_grow(r) < 0)
			return;
		size_t take = r->hcap - r->hlen < len ? r->hcap - r->hlen : len;
		memcpy(r->hbuf + r->hlen, data, take);
		r->hlen += take;
		data += take;
		len -= take;
		ssize_t hl = ipp_header_length(r->hbuf, r->hlen, &r->hresume);
		if (hl == 0 && r->hlen == IPP_MAX_HEADER)
			hl = -EMSGSIZE;
		if (hl < 0) {
			header_error(r);
			return;
		}
		if (hl > 0) {
			header_done(r, (size_t)hl, (const uint8_t *)data, len);
			return;
		}
	}
}

static void on_end(struct scout_http_req *h, void *arg)
{
	struct ipp_req *r = scout_http_data(h);
	(void)arg;

	if (!r)
		return;
	r->ended = true;
	switch (r->phase) {
	case PH_HEADER:
		if (r->hlen == 0) {
			r->ipp->n.bad_requests++;
			ipp_ops_fail(r, IPP_BAD_REQUEST, "empty request: no IPP message in the body");
		} else {
			header_error(r);
		}
		break;
	case PH_DRAIN:
		if (r->on_end)
			r->on_end(r);
		break;
	default:
		if (r->streaming) {
			r->body_done = true;
			pump(r);
		}
		break;
		break;
	}
}

static void on_abort(struct scout_http_req *h, void *arg)
{
	struct ipp_req *r = scout_http_data(h);
	(void)arg;

	if (!r)
		return;
	req_detach(r);
	r->aborted = true;
	r->ipp->n.aborted++;
	if (r->job_created && !r->committed && !r->doc_status) {
		log_info("ipp: job %u from %s: the client went away mid-document", r->job_id, r->remote);
		for (size_t i = 0; i < IPP_CALLS; i++)
			if (r->calls[i].busy && r->calls[i].done == on_write_done) {
				scout_bus_cancel(scout_mod_bus(r->ipp->m), r->calls[i].corr);
				r->calls[i].busy = false;
			}
		ipp_job_abort(r->ipp, r->job_id, "the client went away");
		if (r->open) {
			scout_list_remove(&r->open->link);
			free(r->open);
			r->open = NULL;
		}
		r->job_created = false;
	}
	ipp_req_maybe_free(r);
}

static void host_of(struct ipp_req *r, struct scout_http_req *h)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	const char *host = scout_http_header(h, "host");
	bool ok = host && *host && strlen(host) < sizeof(r->host);

	for (const char *p = host; ok && *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == '@' || *p == '\\')
			ok = false;
	if (ok)
		snprintf(r->host, sizeof(r->host), "%s", host);
	else if (strchr(conf->listen.host, ':'))
		snprintf(r->host, sizeof(r->host), "[%s]:%d", conf->listen.host, scout_http_server_port(r->ipp->http));
	else
		snprintf(r->host, sizeof(r->host), "%s:%d", conf->listen.host, scout_http_server_port(r->ipp->http));
}

static void on_request(struct scout_http_req *h, void *arg)
{
	struct ipp *s = arg;
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	const char *method = scout_http_method(h);
	char path[256];

	s->n.http_requests++;
	snprintf(path, sizeof(path), "%s", scout_http_target(h));
	path[strcspn(path, "?")] = 0;
	if (strcmp(path, "/ipp/print") != 0 && strcmp(path, "/ipp/print/") != 0) {
		if (!ipp_web_serve(s, h, path))
			scout_http_respond(h, 404, NULL, 0, "404 not found\n", 14);
		return;
	}
	if (strcmp(method, "POST") != 0) {
		static const struct scout_http_header allow[] = {{"Allow", "POST"}};
		scout_http_respond(h, 405, allow, 1, "405 IPP is POST\n", 16);
		return;
	}
	const char *ct = scout_http_header(h, "content-type");
	if (!ct || strncasecmp(ct, "application/ipp", 15) != 0 || (ct[15] && ct[15] != ';' && ct[15] != ' ')) {
		scout_http_respond(h, 415, NULL, 0, "415 Content-Type must be application/ipp\n", 41);
		return;
	}
	struct ipp_req *r = calloc(1, sizeof(*r));
	if (r)
		r->hbuf = malloc(r->hcap = 4096); /* most requests' attributes fit */
	if (!r || !r->hbuf) {
		free(r);
		scout_http_respond(h, 503, NULL, 0, "503 out of memory\n", 18);
		return;
	}
	r->ipp = s;
	r->http = h;
	r->tls = scout_http_is_tls(h);
	snprintf(r->remote, sizeof(r->remote), "%s", scout_http_remote(h));
	host_of(r, h);
	scout_list_insert_tail(&s->reqs, &r->link);
	scout_http_set_data(h, r);
	scout_http_set_max_body(h, conf->max_job_size + IPP_MAX_HEADER);
	s->n.ipp_requests++;
	ipp_auth_begin(r);
}

static const struct scout_http_handler handler = {
	.on_request = on_request,
	.on_body = on_body,
	.on_end = on_end,
	.on_abort = on_abort,
};

/* The certificate: the configured files, or one made on first start in
 * state_dir (kept, so clients that pinned it keep trusting it). */
static int tls_setup(struct ipp *s, char *err, size_t errlen)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	char cert[512], key[512], host[256] = "localhost";
	size_t hl = sizeof(host);
	int ret;

	if (conf->tls_cert[0]) {
		snprintf(cert, sizeof(cert), "%s", conf->tls_cert);
		snprintf(key, sizeof(key), "%s", conf->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/ipp-cert.pem", scout_mod_state_dir(s->m));
		snprintf(key, sizeof(key), "%s/ipp-key.pem", scout_mod_state_dir(s->m));
		if (access(cert, F_OK) != 0 || access(key, F_OK) != 0) {
			const char *names[5] = {"localhost", "127.0.0.1", "::1", NULL, NULL};
			bool any = strcmp(conf->listen.host, "0.0.0.0") == 0 || strcmp(conf->listen.host, "::") == 0;
			uv_os_gethostname(host, &hl);
			names[3] = any ? host : conf->listen.host;
			ret = scout_tls_selfsigned_write(cert, key, host, names, 3650, err, errlen);
			if (ret < 0)
				return ret;
			log_info("ipp: made a self-signed certificate for ipps:// in %s", cert);
		}
	}
	struct scout_tls_server_opts o = {.cert_file = cert, .key_file = key};
	return scout_tls_ctx_server(&o, &s->tls, err, errlen);
}

int ipp_server_start(struct ipp *s, char *err, size_t errlen)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	int ret;

	if (conf->tls && (ret = tls_setup(s, err, errlen)) < 0)
		return ret;
	struct scout_http_server_opts o = {
		.host = conf->listen.host,
		.port = conf->listen.port,
		.tls = s->tls,
		.tls_optional = true,
		.limits =
			{
				.max_body = conf->max_job_size + IPP_MAX_HEADER,
				.header_timeout_ms = conf->header_timeout,
				.idle_timeout_ms = conf->idle_timeout,
				.max_conns = (unsigned)conf->max_connections,
			},
		.handler = &handler,
		.arg = s,
		.name = "ipp",
	};
	ret = scout_http_server_new(scout_mod_loop(s->m), &o, &s->http, err, errlen);
	if (ret < 0)
		return ret;
	int port = scout_http_server_port(s->http);
	bool v6 = strchr(conf->listen.host, ':') != NULL;
	snprintf(s->url[0], sizeof(s->url[0]), "ipp://%s%s%s:%d/ipp/print", v6 ? "[" : "", conf->listen.host,
		 v6 ? "]" : "", port);
	if (s->tls)
		snprintf(s->url[1], sizeof(s->url[1]), "ipps://%s%s%s:%d/ipp/print", v6 ? "[" : "", conf->listen.host,
			 v6 ? "]" : "", port);
	return 0;
}

static void server_closed(void *arg)
{
	struct ipp *s = arg;

	scout_closer_release(scout_mod_closer(s->m));
}

/* Every HTTP request is aborted by the server's close (on_abort); what
 * still waits for the bus is cancelled here, its receiving job dropped. */
void ipp_server_stop(struct ipp *s)
{
	if (s->http) {
		scout_closer_hold(scout_mod_closer(s->m));
		scout_http_server_close(s->http, server_closed, s);
		s->http = NULL;
	}
	if (s->tls)
		scout_tls_ctx_unref(s->tls);
	s->tls = NULL;
	while (!scout_list_empty(&s->reqs)) {
		struct ipp_req *r = scout_list_entry(s->reqs.next, struct ipp_req, link);
		for (size_t i = 0; i < IPP_CALLS; i++)
			if (r->calls[i].busy) {
				scout_bus_cancel(scout_mod_bus(s->m), r->calls[i].corr);
				r->calls[i].busy = false;
			}
		if (r->job_created && !r->committed)
			ipp_job_abort(s, r->job_id, "scout is stopping");
		r->http = NULL;
		req_free(r);
	}
}
