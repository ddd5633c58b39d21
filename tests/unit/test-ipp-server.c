/* Unit tests for the ipp module as a whole: the real module on a real
 * socket and loop, talked to with the core's HTTP client, with a fake
 * vault and a fake users module on the bus (test doubles of the bus
 * contract in /work/issue9-contract.md: job.*, vault.state/status and
 * auth.password). They check what a client sees (status codes, messages,
 * job attributes) and what the vault is asked (owner, bytes, at most four
 * writes in flight, the commit before successful-ok, an abort when the
 * client goes or the vault fails). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop-wait.h"

#include "loop/bus.h"
#include "loop/config.h"
#include "loop/http.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/store.h"
#include "modules/ipp/codec.h"

extern const struct scout_module scout_ipp_module;

/* ---- the fake vault ---------------------------------------------------- */

#define MAX_JOBS 512

struct fjob {
	uint32_t id;
	char owner[64], name[64], format[64];
	uint8_t *data;
	size_t len;
	bool committed, aborted, canceled;
};

static struct fake {
	bool locked;
	int create_err, write_err, commit_err, list_err, cancel_err;
	unsigned write_err_after; /* writes that succeed before write_err */
	struct fjob jobs[MAX_JOBS];
	unsigned njobs;
	unsigned writes, inflight, max_inflight, aborts;
	uint64_t pending[64];
	size_t npending;
	char last_list_user[64], last_cancel_user[64];
	bool list_had_user;
	struct scout_bus *bus;
	struct scout_sub *subs[10];
	uv_timer_t flush;
	unsigned auth_calls;
} fk;

struct fake_conf {
	int unused;
};
static const struct scout_option fake_options[] = {{0}};

static void reply_map0(uint64_t corr)
{
	static const uint8_t empty_map = 0x80;
	scout_bus_reply(fk.bus, corr, 0, &empty_map, 1);
}

static void reply_err(uint64_t corr, int err, const char *reason)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, reason);
	scout_bus_reply(fk.bus, corr, err, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void copy_str(const msgpack_object *o, const char *key, char *buf, size_t size)
{
	const char *s;
	size_t n;

	buf[0] = 0;
	if (scout_pack_get_str(o, key, &s, &n) == 0 && n < size) {
		memcpy(buf, s, n);
		buf[n] = 0;
	}
}

static struct fjob *find_job(uint64_t id)
{
	for (unsigned i = 0; i < fk.njobs; i++)
		if (fk.jobs[i].id == id)
			return &fk.jobs[i];
	return NULL;
}

static void on_create(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	(void)arg;

	if (fk.njobs == MAX_JOBS) {
		reply_err(msg->corr, -EBUSY, "the fake vault is full");
		return;
	}
	if (fk.locked || fk.create_err) {
		reply_err(msg->corr, fk.locked ? -EACCES : fk.create_err, fk.locked ? "vault is locked" : "no");
		return;
	}
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	struct fjob *j = &fk.jobs[fk.njobs++];
	j->id = 100 + fk.njobs;
	copy_str(&u.data, "owner", j->owner, sizeof(j->owner));
	copy_str(&u.data, "name", j->name, sizeof(j->name));
	copy_str(&u.data, "format", j->format, sizeof(j->format));
	msgpack_unpacked_destroy(&u);

	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, j->id);
	scout_pack_str(&pk, "expires");
	msgpack_pack_uint64(&pk, 2000000000);
	scout_bus_reply(fk.bus, msg->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* Writes are answered a little later, all at once: the writer has to
 * keep its window of four. */
static void on_flush(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < fk.npending; i++) {
		fk.inflight--;
		if (fk.write_err && fk.writes > fk.write_err_after)
			reply_err(fk.pending[i], fk.write_err, "disk full");
		else
			reply_map0(fk.pending[i]);
	}
	fk.npending = 0;
}

static void on_write(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	uint64_t id;
	(void)arg;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_uint(&u.data, "id", &id), 0);
	const msgpack_object *d = scout_pack_get(&u.data, "data");
	assert_non_null(d);
	assert_int_equal(d->type, MSGPACK_OBJECT_BIN);
	assert_true(d->via.bin.size >= 1 && d->via.bin.size <= 262144);
	struct fjob *j = find_job(id);
	assert_non_null(j);
	assert_false(j->committed);
	j->data = realloc(j->data, j->len + d->via.bin.size);
	memcpy(j->data + j->len, d->via.bin.ptr, d->via.bin.size);
	j->len += d->via.bin.size;
	msgpack_unpacked_destroy(&u);
	fk.writes++;
	fk.inflight++;
	if (fk.inflight > fk.max_inflight)
		fk.max_inflight = fk.inflight;
	assert_true(fk.npending < 64);
	fk.pending[fk.npending++] = msg->corr;
	/* held until four are waiting (a fifth would show in max_inflight) or
	 * a moment has passed */
	if (fk.npending >= 4)
		uv_timer_start(&fk.flush, on_flush, 0, 0);
	else
		uv_timer_start(&fk.flush, on_flush, 20, 0);
}

static void on_commit(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	uint64_t id;
	(void)arg;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_uint(&u.data, "id", &id), 0);
	msgpack_unpacked_destroy(&u);
	struct fjob *j = find_job(id);
	assert_non_null(j);
	assert_int_equal(fk.inflight, 0); /* every write answered first */
	if (fk.commit_err) {
		reply_err(msg->corr, fk.commit_err, "cannot");
		return;
	}
	if (!j->len) {
		reply_err(msg->corr, -ENODATA, "a job without document bytes");
		return;
	}
	j->committed = true;
	reply_map0(msg->corr);
}

static void on_abort_job(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	uint64_t id;
	(void)arg;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_uint(&u.data, "id", &id), 0);
	msgpack_unpacked_destroy(&u);
	struct fjob *j = find_job(id);
	if (j)
		j->aborted = true;
	fk.aborts++;
	reply_map0(msg->corr);
}

static void pack_meta(msgpack_packer *pk, const struct fjob *j)
{
	msgpack_pack_map(pk, 8);
	scout_pack_str(pk, "submitted");
	msgpack_pack_uint64(pk, 1700000000);
	scout_pack_str(pk, "id");
	msgpack_pack_uint32(pk, j->id);
	scout_pack_str(pk, "owner");
	scout_pack_str(pk, j->owner);
	scout_pack_str(pk, "name");
	scout_pack_str(pk, j->name);
	scout_pack_str(pk, "format");
	scout_pack_str(pk, j->format);
	scout_pack_str(pk, "state");
	scout_pack_str(pk, j->canceled ? "canceled" : "held");
	scout_pack_str(pk, "size");
	msgpack_pack_uint64(pk, j->len);
	scout_pack_str(pk, "pages");
	msgpack_pack_int(pk, 3);
}

static void on_list(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	uint64_t id = 0;
	(void)arg;

	if (fk.list_err) {
		reply_err(msg->corr, fk.list_err, "locked");
		return;
	}
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	fk.list_had_user = scout_pack_get(&u.data, "user") != NULL;
	copy_str(&u.data, "user", fk.last_list_user, sizeof(fk.last_list_user));
	char which[32];
	copy_str(&u.data, "which", which, sizeof(which));
	int mode = strcmp(which, "completed") == 0 ? 1 : strcmp(which, "all") == 0 ? 2 : 0;
	scout_pack_get_uint(&u.data, "id", &id);
	msgpack_unpacked_destroy(&u);

	const struct fjob *sel[MAX_JOBS];
	unsigned n = 0;
	for (unsigned i = 0; i < fk.njobs; i++) {
		const struct fjob *j = &fk.jobs[i];
		if (!j->committed || (id && j->id != id) ||
		    (fk.list_had_user && strcmp(j->owner, fk.last_list_user) != 0) || (mode == 0 && j->canceled) ||
		    (mode == 1 && !j->canceled))
			continue;
		sel[n++] = j;
	}
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "jobs");
	msgpack_pack_array(&pk, n);
	for (unsigned i = 0; i < n; i++)
		pack_meta(&pk, sel[i]);
	scout_bus_reply(fk.bus, msg->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void on_cancel(const struct scout_msg *msg, void *arg)
{
	msgpack_unpacked u;
	uint64_t id = 0;
	(void)arg;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	scout_pack_get_uint(&u.data, "id", &id);
	copy_str(&u.data, "user", fk.last_cancel_user, sizeof(fk.last_cancel_user));
	msgpack_unpacked_destroy(&u);
	struct fjob *j = find_job(id);
	if (!j || !j->committed)
		reply_err(msg->corr, -ENOENT, "no such job");
	else if (strcmp(j->owner, fk.last_cancel_user) != 0)
		reply_err(msg->corr, -EPERM, "not yours");
	else {
		j->canceled = true;
		reply_map0(msg->corr);
	}
}

static void pack_state(msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "locked");
	fk.locked ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	scout_pack_str(&pk, "accepting");
	fk.locked ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, fk.locked ? "vault is locked: run scoutctl vault init" : "");
}

static void on_status(const struct scout_msg *msg, void *arg)
{
	msgpack_sbuffer sb;
	(void)arg;

	msgpack_sbuffer_init(&sb);
	pack_state(&sb);
	scout_bus_reply(fk.bus, msg->corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void on_auth(const struct scout_msg *msg, void *arg)
{
	char user[64], pw[64];
	msgpack_unpacked u;
	(void)arg;

	fk.auth_calls++;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	copy_str(&u.data, "user", user, sizeof(user));
	copy_str(&u.data, "password", pw, sizeof(pw));
	msgpack_unpacked_destroy(&u);
	if (strcmp(user, "alice") == 0 && strcmp(pw, "secret") == 0) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		scout_pack_str(&pk, "user");
		scout_pack_str(&pk, "alice");
		scout_bus_reply(fk.bus, msg->corr, 0, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	} else {
		reply_err(msg->corr, -EACCES, "unknown user or wrong password");
	}
}

static const struct scout_topic_decl vault_topics[] = {
	{"job.create", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.write", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.commit", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.abort", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.list", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.cancel", SCOUT_TOPIC_REQUEST, "fake"},
	{"vault.state", SCOUT_TOPIC_EVENT, "fake"},
	{"vault.status", SCOUT_TOPIC_REQUEST, "fake"},
	{0},
};

static const struct scout_topic_decl users_topics[] = {{"auth.password", SCOUT_TOPIC_REQUEST, "fake"}, {0}};

static int vault_start(struct scout_mod *m)
{
	static const struct {
		const char *topic;
		scout_bus_handler h;
	} serve[] = {{"job.create", on_create},   {"job.write", on_write}, {"job.commit", on_commit},
		     {"job.abort", on_abort_job}, {"job.list", on_list},   {"job.cancel", on_cancel},
		     {"vault.status", on_status}};
	struct scout_topic *t;

	fk.bus = scout_mod_bus(m);
	uv_timer_init(scout_mod_loop(m), &fk.flush);
	for (size_t i = 0; i < sizeof(serve) / sizeof(serve[0]); i++) {
		assert_int_equal(scout_mod_topic(m, serve[i].topic, &t), 0);
		assert_int_equal(scout_bus_subscribe(fk.bus, t, serve[i].h, NULL, 1024, &fk.subs[i]), 0);
	}
	return 0;
}

static void vault_stop(struct scout_mod *m)
{
	for (size_t i = 0; i < 7; i++)
		scout_bus_unsubscribe(fk.subs[i]);
	uv_close((uv_handle_t *)&fk.flush, NULL);
	scout_mod_stopped(m);
}

static int users_start(struct scout_mod *m)
{
	struct scout_topic *t;

	assert_int_equal(scout_mod_topic(m, "auth.password", &t), 0);
	return scout_bus_subscribe(scout_mod_bus(m), t, on_auth, NULL, 64, &fk.subs[9]);
}

static void users_stop(struct scout_mod *m)
{
	scout_bus_unsubscribe(fk.subs[9]);
	scout_mod_stopped(m);
}

static int fake_reload(struct scout_mod *m, const void *old)
{
	(void)m;
	(void)old;
	return 0;
}

static const struct scout_module fake_vault = {.name = "vault",
					       .summary = "fake",
					       .default_enabled = true,
					       .options = fake_options,
					       .conf_size = sizeof(struct fake_conf),
					       .start = vault_start,
					       .reload = fake_reload,
					       .stop = vault_stop,
					       .topics = vault_topics};
static const struct scout_module fake_users = {.name = "users",
					       .summary = "fake",
					       .default_enabled = true,
					       .options = fake_options,
					       .conf_size = sizeof(struct fake_conf),
					       .start = users_start,
					       .reload = fake_reload,
					       .stop = users_stop,
					       .topics = users_topics};
static const struct scout_module *const registry[] = {&fake_vault, &fake_users, &scout_ipp_module};
static const struct scout_section first = {.name = "agent",
					   .options = fake_options,
					   .conf_size = sizeof(struct fake_conf)};

/* ---- environment ---------------------------------------------------------- */

struct env {
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_bus *bus;
	struct scout_store *store;
	const struct scout_schema *schema;
	struct scout_host *host;
	char dir[64];
	int port;
	bool stopped, bus_closed;
};

/* Runs the loop for about ms milliseconds. */
static void run_for(struct env *e, uint64_t ms)
{
	loop_run_for(&e->loop, &e->timer, ms);
}

#define WAIT_FOR(e, cond) LOOP_WAIT_FOR(&(e)->loop, &(e)->timer, cond, 10)

static json_t *ipp_status(struct env *e)
{
	json_t *arr = json_array(), *found = NULL, *m;
	size_t i;

	scout_host_status(e->host, arr);
	json_array_foreach (arr, i, m)
		if (strcmp(json_string_value(json_object_get(m, "name")), "ipp") == 0)
			found = json_incref(m);
	json_decref(arr);
	assert_non_null(found);
	return found;
}

static int serve_port; /* 0: any free one */

static void start(struct env *e, const char *ipp_conf)
{
	struct scout_host_env henv = {.loop = &e->loop, .bus = e->bus, .store = e->store, .state_dir = e->dir};
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	char text[512];

	snprintf(text, sizeof(text), "[ipp]\nenabled = yes\nlisten = 127.0.0.1:%d\n%s\n", serve_port, ipp_conf);
	assert_int_equal(scout_host_schema_of(&first, registry, 3, &e->schema), 0);
	assert_int_equal(scout_host_new_of(e->schema, registry, 3, &e->host), 0);
	int r = scout_config_parse(e->schema, "t.ini", text, strlen(text), &d, &cfg);
	for (size_t i = 0; i < d.n; i++)
		print_error("problem: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	scout_diag_free(&d);
	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
	json_t *st = ipp_status(e);
	const char *url = json_string_value(json_array_get(json_object_get(st, "urls"), 0));
	if (!url)
		fail_msg("ipp did not start: %s", json_dumps(st, 0));
	const char *colon = strrchr(url + 6, ':');
	e->port = atoi(colon + 1);
	json_decref(st);
	WAIT_FOR(e, ({
			 json_t *s2 = ipp_status(e);
			 bool ok = json_is_true(json_object_get(s2, "accepting")) || fk.locked;
			 json_decref(s2);
			 ok;
		 }));
	run_for(e, 10); /* vault.status answered */
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512] = "";

	memset(&fk, 0, sizeof(fk));
	strcpy(e->dir, "/tmp/scout-test-ipp-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(uv_timer_init(&e->loop, &e->timer), 0);
	assert_int_equal(scout_bus_new(&e->loop, &e->bus), 0);
	if (scout_store_open(e->dir, 64 << 20, &e->store, err, sizeof(err)) < 0)
		fail_msg("store: %s", err);
	*state = e;
	return 0;
}

static void on_stopped(void *arg)
{
	((struct env *)arg)->stopped = true;
}

static void on_bus_closed(void *arg)
{
	((struct env *)arg)->bus_closed = true;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	if (e->host && !e->stopped) {
		scout_host_stop(e->host, on_stopped, e);
		uv_run(&e->loop, UV_RUN_DEFAULT);
		assert_true(e->stopped);
	}
	scout_bus_close(e->bus, on_bus_closed, e);
	uv_close((uv_handle_t *)&e->timer, NULL);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	scout_host_free(e->host);
	scout_store_close(e->store);
	for (unsigned i = 0; i < fk.njobs; i++)
		free(fk.jobs[i].data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* ---- an HTTP client on the same loop -------------------------------------- */

struct exchange {
	const char *method, *path, *ctype, *auth;
	const uint8_t *body;
	size_t len;
	bool chunked, tls;
	int status;
	char *resp;
	size_t rlen;
	bool done, failed;
	struct scout_http_client *c;
};

static void cl_connect(struct scout_http_client *c, const struct scout_tls_peer *peer, void *arg)
{
	struct exchange *x = arg;
	struct scout_http_header h[2];
	size_t n = 0;
	(void)peer;

	if (x->ctype)
		h[n++] = (struct scout_http_header){"Content-Type", x->ctype};
	if (x->auth)
		h[n++] = (struct scout_http_header){"Authorization", x->auth};
	assert_int_equal(scout_http_client_request(c, x->method, x->path, h, n, x->chunked ? -1 : (int64_t)x->len), 0);
	/* in pieces, as a client streaming a file would */
	for (size_t off = 0; off < x->len; off += 50000) {
		size_t k = x->len - off < 50000 ? x->len - off : 50000;
		assert_int_equal(scout_http_client_write(c, x->body + off, k, NULL, NULL), 0);
	}
	assert_int_equal(scout_http_client_end(c), 0);
}

static void cl_response(struct scout_http_client *c, int status, void *arg)
{
	(void)c;
	((struct exchange *)arg)->status = status;
}

static void cl_body(struct scout_http_client *c, const char *data, size_t len, void *arg)
{
	struct exchange *x = arg;
	(void)c;

	x->resp = realloc(x->resp, x->rlen + len + 1);
	memcpy(x->resp + x->rlen, data, len);
	x->rlen += len;
	x->resp[x->rlen] = 0;
}

static void cl_complete(struct scout_http_client *c, void *arg)
{
	(void)c;
	((struct exchange *)arg)->done = true;
}

static void cl_error(struct scout_http_client *c, int err, const char *reason, void *arg)
{
	struct exchange *x = arg;
	(void)c;
	(void)err;
	(void)reason;

	x->failed = x->done = true;
}

static const struct scout_http_client_callbacks cl_cbs = {cl_connect, cl_response, cl_body, cl_complete, cl_error};

static void exchange(struct env *e, struct exchange *x)
{
	struct scout_http_client_opts o = {.host = "127.0.0.1", .port = e->port, .timeout_ms = 10000};
	struct scout_tls_client_opts to = {0};
	char err[256];

	if (x->tls) {
		assert_int_equal(scout_tls_ctx_client(&to, &o.tls, err, sizeof(err)), 0);
		o.tls_opts.verify = SCOUT_TLS_PIN_FIRST_USE;
	}
	if (!x->method)
		x->method = "POST";
	if (!x->path)
		x->path = "/ipp/print";
	assert_int_equal(scout_http_client_connect(&e->loop, &o, &cl_cbs, x, &x->c, err, sizeof(err)), 0);
	if (o.tls)
		scout_tls_ctx_unref(o.tls);
	WAIT_FOR(e, x->done);
	scout_http_client_close(x->c);
}

/* Sends an IPP request (w, then doc) and decodes the answer into m. */
static int ipp_exchange(struct env *e, struct ipp_writer *w, const void *doc, size_t doclen, struct ipp_msg *m,
			struct exchange *x)
{
	char err[IPP_ERR_LEN];
	uint8_t *body = malloc(w->len + doclen + 1);

	assert_int_equal(ipp_w_finish(w), 0);
	memcpy(body, w->p, w->len);
	if (doclen)
		memcpy(body + w->len, doc, doclen);
	x->ctype = "application/ipp";
	x->body = body;
	x->len = w->len + doclen;
	exchange(e, x);
	free(body);
	ipp_w_free(w);
	if (x->failed || x->status != 200)
		return -EIO;
	int r = ipp_decode((const uint8_t *)x->resp, x->rlen, m, err, sizeof(err));
	if (r < 0)
		fail_msg("response does not decode: %s", err);
	return 0;
}

static void request(struct ipp_writer *w, uint16_t op, const char *user)
{
	ipp_w_init(w, 2, 0, op, 7);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(w, IPP_TAG_URI, "printer-uri", "ipp://localhost/ipp/print");
	if (user)
		ipp_w_str(w, IPP_TAG_NAME, "requesting-user-name", user);
}

static const char *status_message(const struct ipp_msg *m)
{
	static char buf[256];
	const struct ipp_attr *a = ipp_find(m->attrs, IPP_TAG_OPERATION, "status-message");

	buf[0] = 0;
	if (a)
		ipp_value_str(a->values, buf, sizeof(buf));
	return buf;
}

static void done(struct exchange *x, struct ipp_msg *m)
{
	if (m)
		ipp_msg_free(m);
	free(x->resp);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_get_printer_attributes(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	struct exchange x = {0};
	char buf[128], uuid[128];

	start(e, "owner = requesting-user-name");
	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &x), 0);
	assert_int_equal(m.code, 0);
	assert_int_equal(m.request_id, 7);
	const struct ipp_attr *a = ipp_find(m.attrs, IPP_TAG_PRINTER, "document-format-supported");
	assert_non_null(a);
	assert_int_equal(a->nvalues, 7);
	bool accepting = false;
	assert_true(
		ipp_value_bool(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-is-accepting-jobs")->values, &accepting));
	assert_true(accepting);
	assert_true(ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-uuid")->values, uuid, sizeof(uuid)));
	assert_int_equal(strncmp(uuid, "urn:uuid:", 9), 0);
	a = ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-uri-supported");
	assert_int_equal(a->nvalues, 2); /* ipps:// and ipp:// on one port */
	assert_true(ipp_value_str(a->values, buf, sizeof(buf)));
	assert_int_equal(strncmp(buf, "ipps://127.0.0.1:", 17), 0);
	assert_true(ipp_value_str(a->values->next, buf, sizeof(buf)));
	assert_int_equal(strncmp(buf, "ipp://127.0.0.1:", 16), 0);
	assert_int_equal(ipp_find(m.attrs, IPP_TAG_PRINTER, "uri-security-supported")->nvalues, 2);
	assert_non_null(ipp_find(m.attrs, IPP_TAG_PRINTER, "media-col-database"));
	assert_non_null(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-icons"));
	done(&x, &m);

	/* requested-attributes: only those */
	struct exchange y = {0};
	request(&w, 0x000b, NULL);
	ipp_w_str(&w, IPP_TAG_KEYWORD, "requested-attributes", "printer-state");
	ipp_w_str(&w, IPP_TAG_KEYWORD, NULL, "printer-uuid");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &y), 0);
	unsigned n = 0;
	for (a = m.attrs; a; a = a->next)
		n += a->group == IPP_TAG_PRINTER;
	assert_int_equal(n, 2);
	assert_true(ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-uuid")->values, buf, sizeof(buf)));
	assert_string_equal(buf, uuid); /* stable */
	done(&y, &m);

	/* the page and the icon */
	struct exchange p = {.method = "GET", .path = "/"};
	exchange(e, &p);
	assert_int_equal(p.status, 200);
	assert_non_null(strstr(p.resp, "/ipp/print"));
	done(&p, NULL);
	struct exchange i = {.method = "GET", .path = "/icon.png"};
	exchange(e, &i);
	assert_int_equal(i.status, 200);
	assert_int_equal(memcmp(i.resp, "\x89PNG", 4), 0);
	done(&i, NULL);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + i / 251);
	return p;
}

static void test_print_job(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	struct exchange x = {0};
	size_t size = 700000;
	uint8_t *doc = pattern(size);
	int32_t v;
	char buf[128];

	start(e, "owner = requesting-user-name");
	request(&w, 0x0002, "alice");
	ipp_w_str(&w, IPP_TAG_NAME, "job-name", "payroll.pdf");
	ipp_w_str(&w, IPP_TAG_MIMETYPE, "document-format", "application/pdf");
	ipp_w_group(&w, IPP_TAG_JOB);
	ipp_w_int(&w, IPP_TAG_INTEGER, "copies", 2);
	assert_int_equal(ipp_exchange(e, &w, doc, size, &m, &x), 0);
	assert_int_equal(m.code, 0);
	assert_int_equal(fk.njobs, 1);
	struct fjob *j = &fk.jobs[0];
	assert_true(j->committed); /* before the answer */
	assert_string_equal(j->owner, "alice");
	assert_string_equal(j->name, "payroll.pdf");
	assert_string_equal(j->format, "application/pdf");
	assert_int_equal(j->len, size);
	assert_memory_equal(j->data, doc, size);
	assert_true(fk.max_inflight <= 4);
	assert_true(fk.writes >= 3);
	assert_true(ipp_value_int(ipp_find(m.attrs, IPP_TAG_JOB, "job-id")->values, &v));
	assert_int_equal(v, (int32_t)j->id);
	assert_true(ipp_value_int(ipp_find(m.attrs, IPP_TAG_JOB, "job-state")->values, &v));
	assert_int_equal(v, 4);
	assert_true(ipp_value_str(ipp_find(m.attrs, IPP_TAG_JOB, "job-state-reasons")->values, buf, sizeof(buf)));
	assert_string_equal(buf, "job-held-for-release");
	done(&x, &m);

	/* chunked too */
	struct exchange y = {.chunked = true};
	request(&w, 0x0002, "bob");
	assert_int_equal(ipp_exchange(e, &w, doc, 1000, &m, &y), 0);
	assert_int_equal(m.code, 0);
	assert_int_equal(fk.jobs[1].len, 1000);
	assert_string_equal(fk.jobs[1].owner, "bob");
	done(&y, &m);

	json_t *st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "counters"), "jobs_received")), 2);
	json_decref(st);
	free(doc);
}

static void test_locked_vault(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	struct exchange x = {0}, y = {0};
	char buf[256];

	fk.locked = true;
	start(e, "owner = requesting-user-name");
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, "%PDF-1.4\n", 9, &m, &x), 0);
	assert_int_equal(m.code, 0x0506);
	assert_non_null(strstr(status_message(&m), "vault is locked"));
	assert_int_equal(fk.njobs, 0);
	done(&x, &m);

	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &y), 0);
	bool accepting = true;
	ipp_value_bool(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-is-accepting-jobs")->values, &accepting);
	assert_false(accepting);
	ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-state-message")->values, buf, sizeof(buf));
	assert_non_null(strstr(buf, "scoutctl vault init"));
	done(&y, &m);
}

static void test_vault_errors(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	size_t size = 400000;
	uint8_t *doc = pattern(size);

	start(e, "owner = requesting-user-name");
	/* over quota: client-error-not-possible */
	fk.create_err = -EDQUOT;
	struct exchange a = {0};
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, doc, 100, &m, &a), 0);
	assert_int_equal(m.code, 0x0404);
	done(&a, &m);
	/* disk full before the job: busy */
	fk.create_err = -ENOSPC;
	struct exchange b = {0};
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, doc, 100, &m, &b), 0);
	assert_int_equal(m.code, 0x0507);
	done(&b, &m);
	/* disk full mid-job: job canceled, and the vault told to drop it */
	fk.create_err = 0;
	fk.write_err = -ENOSPC;
	fk.write_err_after = 2;
	struct exchange c = {0};
	request(&w, 0x0002, "alice");
	if (ipp_exchange(e, &w, doc, size, &m, &c) == 0) {
		assert_int_equal(m.code, 0x0508);
		done(&c, &m);
	} else {
		free(c.resp); /* closed mid-upload: also a refusal */
	}
	WAIT_FOR(e, fk.aborts == 1);
	assert_true(fk.jobs[0].aborted);
	assert_false(fk.jobs[0].committed);
	free(doc);
}

static void test_bad_requests(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;

	start(e, "owner = requesting-user-name");
	/* a 64 KiB name: refused from its length */
	struct exchange a = {0};
	uint8_t huge[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0xff, 0xff, 'a', 'b'};
	a.ctype = "application/ipp";
	a.body = huge;
	a.len = sizeof(huge);
	exchange(e, &a);
	assert_int_equal(a.status, 200);
	char err[IPP_ERR_LEN];
	assert_int_equal(ipp_decode((uint8_t *)a.resp, a.rlen, &m, err, sizeof(err)), 0);
	assert_int_equal(m.code, 0x0400);
	assert_non_null(strstr(status_message(&m), "at byte 9"));
	assert_non_null(strstr(status_message(&m), "name length 65535"));
	done(&a, &m);
	/* request-id 0 */
	struct exchange b = {0};
	request(&w, 0x000b, NULL);
	w.p[4] = w.p[5] = w.p[6] = w.p[7] = 0;
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &b), 0);
	assert_int_equal(m.code, 0x0400);
	done(&b, &m);
	/* charset not first */
	struct exchange c = {0};
	ipp_w_init(&w, 1, 1, 0x000b, 3);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_str(&w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(&w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &c), 0);
	assert_int_equal(m.code, 0x0400);
	done(&c, &m);
	/* version 0.0 */
	struct exchange d = {0};
	request(&w, 0x000b, NULL);
	w.p[0] = 0;
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &d), 0);
	assert_int_equal(m.code, 0x0503);
	done(&d, &m);
	/* an operation not served */
	struct exchange f = {0};
	request(&w, 0x0010, NULL); /* Pause-Printer */
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &f), 0);
	assert_int_equal(m.code, 0x0501);
	done(&f, &m);
	/* an unsupported document format */
	struct exchange g = {0};
	request(&w, 0x0002, "alice");
	ipp_w_str(&w, IPP_TAG_MIMETYPE, "document-format", "text/x-bogus");
	assert_int_equal(ipp_exchange(e, &w, "x", 1, &m, &g), 0);
	assert_int_equal(m.code, 0x040a);
	done(&g, &m);
	/* no end tag before the body ends */
	struct exchange h = {0};
	uint8_t cut[] = {2, 0, 0, 0x0b, 0, 0, 0, 1, 1};
	h.ctype = "application/ipp";
	h.body = cut;
	h.len = sizeof(cut);
	exchange(e, &h);
	assert_int_equal(ipp_decode((uint8_t *)h.resp, h.rlen, &m, err, sizeof(err)), 0);
	assert_int_equal(m.code, 0x0400);
	assert_non_null(strstr(status_message(&m), "no end-of-attributes"));
	done(&h, &m);
	/* attributes over 64 KiB: refused once 64 KiB are in */
	struct exchange big = {0};
	static char text[4000];
	memset(text, 'x', sizeof(text) - 1);
	request(&w, 0x000b, NULL);
	for (int k = 0; k < 20; k++)
		ipp_w_str(&w, IPP_TAG_TEXT, k ? NULL : "filler", text);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &big), 0);
	assert_int_equal(m.code, 0x0400);
	assert_non_null(strstr(status_message(&m), "longer than 65536"));
	done(&big, &m);
	/* not IPP */
	struct exchange i = {.ctype = "text/plain", .body = (const uint8_t *)"hi", .len = 2};
	exchange(e, &i);
	assert_int_equal(i.status, 415);
	done(&i, NULL);
	assert_int_equal(fk.njobs, 0);
}

static void test_jobs_and_cancel(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	int32_t v;

	start(e, "owner = requesting-user-name");
	const char *users[] = {"alice", "bob", "alice"};
	for (int i = 0; i < 3; i++) {
		struct exchange x = {0};
		request(&w, 0x0002, users[i]);
		assert_int_equal(ipp_exchange(e, &w, "%PDF", 4, &m, &x), 0);
		assert_int_equal(m.code, 0);
		done(&x, &m);
	}
	/* my-jobs: alice sees her two, with names */
	struct exchange a = {0};
	request(&w, 0x000a, "alice");
	ipp_w_bool(&w, "my-jobs", true);
	ipp_w_str(&w, IPP_TAG_KEYWORD, "requested-attributes", "job-id");
	ipp_w_str(&w, IPP_TAG_KEYWORD, NULL, "job-name");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &a), 0);
	assert_int_equal(m.code, 0);
	assert_true(fk.list_had_user);
	assert_string_equal(fk.last_list_user, "alice");
	unsigned n = 0;
	for (const struct ipp_attr *at = m.attrs; at; at = at->next)
		n += strcmp(at->name, "job-name") == 0;
	assert_int_equal(n, 2);
	done(&a, &m);
	/* everyone's: bob's job without its name for alice */
	struct exchange b = {0};
	request(&w, 0x000a, "alice");
	ipp_w_str(&w, IPP_TAG_KEYWORD, "requested-attributes", "all");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &b), 0);
	assert_false(fk.list_had_user);
	n = 0;
	for (const struct ipp_attr *at = m.attrs; at; at = at->next)
		n += strcmp(at->name, "job-name") == 0;
	assert_int_equal(n, 2);
	done(&b, &m);
	/* Get-Job-Attributes */
	struct exchange c = {0};
	request(&w, 0x0009, "alice");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", (int32_t)fk.jobs[0].id);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &c), 0);
	assert_int_equal(m.code, 0);
	assert_true(ipp_value_int(ipp_find(m.attrs, IPP_TAG_JOB, "job-impressions")->values, &v));
	assert_int_equal(v, 3);
	done(&c, &m);
	/* bob cannot cancel alice's job; alice can */
	struct exchange d = {0};
	request(&w, 0x0008, "bob");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", (int32_t)fk.jobs[0].id);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &d), 0);
	assert_int_equal(m.code, 0x0403);
	done(&d, &m);
	struct exchange f = {0};
	request(&w, 0x0008, "alice");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", (int32_t)fk.jobs[0].id);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &f), 0);
	assert_int_equal(m.code, 0);
	assert_true(fk.jobs[0].canceled);
	done(&f, &m);
	/* Cancel-My-Jobs: alice's other one */
	struct exchange g = {0};
	request(&w, 0x0039, "alice");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &g), 0);
	assert_int_equal(m.code, 0);
	assert_true(fk.jobs[2].canceled);
	assert_false(fk.jobs[1].canceled);
	done(&g, &m);
	/* the vault locked: Get-Jobs still answers, with a message */
	fk.list_err = -EACCES;
	struct exchange h = {0};
	request(&w, 0x000a, "alice");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &h), 0);
	assert_int_equal(m.code, 0);
	assert_non_null(strstr(status_message(&m), "locked"));
	done(&h, &m);
}

static void test_create_job_send_document(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	int32_t id, v;

	start(e, "owner = requesting-user-name");
	struct exchange a = {0};
	request(&w, 0x0005, "carol");
	ipp_w_str(&w, IPP_TAG_NAME, "job-name", "two-step");
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &a), 0);
	assert_int_equal(m.code, 0);
	assert_true(ipp_value_int(ipp_find(m.attrs, IPP_TAG_JOB, "job-id")->values, &id));
	done(&a, &m);
	/* someone else cannot fill it */
	struct exchange b = {0};
	request(&w, 0x0006, "mallory");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", id);
	ipp_w_bool(&w, "last-document", true);
	assert_int_equal(ipp_exchange(e, &w, "x", 1, &m, &b), 0);
	assert_int_equal(m.code, 0x0403);
	done(&b, &m);
	/* last-document missing: bad request */
	struct exchange c = {0};
	request(&w, 0x0006, "carol");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", id);
	assert_int_equal(ipp_exchange(e, &w, "x", 1, &m, &c), 0);
	assert_int_equal(m.code, 0x0400);
	done(&c, &m);
	struct exchange d = {0};
	request(&w, 0x0006, "carol");
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", id);
	ipp_w_bool(&w, "last-document", true);
	assert_int_equal(ipp_exchange(e, &w, "%!PS-Adobe-3.0\n", 15, &m, &d), 0);
	assert_int_equal(m.code, 0);
	assert_true(ipp_value_int(ipp_find(m.attrs, IPP_TAG_JOB, "job-state")->values, &v));
	assert_int_equal(v, 4);
	done(&d, &m);
	assert_true(fk.jobs[0].committed);
	assert_string_equal(fk.jobs[0].owner, "carol");
	assert_string_equal(fk.jobs[0].name, "two-step");
	assert_int_equal(fk.jobs[0].len, 15);
}

/* owner = authenticated: a plain-HTTP client is told to upgrade, and its
 * credentials are not even looked at; Get-Printer-Attributes needs none. */
static void test_authenticated_needs_tls(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;

	start(e, "");
	struct exchange a = {.auth = "Basic YWxpY2U6c2VjcmV0"}; /* alice:secret */
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, "%PDF", 4, &m, &a), -EIO);
	assert_int_equal(a.status, 426);
	assert_int_equal(fk.auth_calls, 0);
	assert_int_equal(fk.njobs, 0);
	free(a.resp);
	struct exchange b = {0};
	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &b), 0);
	assert_int_equal(m.code, 0);
	char buf[64];
	ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "uri-authentication-supported")->values, buf, sizeof(buf));
	assert_string_equal(buf, "basic");
	done(&b, &m);
}

/* Over TLS on the same port: Basic credentials checked with
 * auth.password; the owner is the name it answers with, not the one the
 * client claims. */
static void test_authenticated_over_tls(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;

	start(e, "owner = authenticated");
	struct exchange a = {.tls = true, .auth = "Basic YWxpY2U6c2VjcmV0"}; /* alice:secret */
	request(&w, 0x0002, "mallory");
	assert_int_equal(ipp_exchange(e, &w, "%PDF", 4, &m, &a), 0);
	assert_int_equal(m.code, 0);
	assert_int_equal(fk.auth_calls, 1);
	assert_string_equal(fk.jobs[0].owner, "alice");
	done(&a, &m);
	struct exchange b = {.tls = true, .auth = "Basic YWxpY2U6d3Jvbmc="}; /* alice:wrong */
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, "%PDF", 4, &m, &b), -EIO);
	assert_int_equal(b.status, 401);
	free(b.resp);
	struct exchange c = {.tls = true};
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_exchange(e, &w, "%PDF", 4, &m, &c), -EIO);
	assert_int_equal(c.status, 401);
	free(c.resp);
	struct exchange d = {.tls = true};
	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &d), 0);
	assert_int_equal(m.code, 0);
	char buf[64];
	ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-uri-supported")->values, buf, sizeof(buf));
	assert_int_equal(strncmp(buf, "ipps://", 7), 0);
	done(&d, &m);
	assert_int_equal(fk.njobs, 1);
}

/* A client that goes away mid-document: the job is dropped (job.abort),
 * never committed. */
struct cut {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	char *buf;
	size_t len;
	bool closed;
};

static void cut_closed(uv_handle_t *h)
{
	((struct cut *)h->data)->closed = true;
}

static void cut_written(uv_write_t *w, int status)
{
	struct cut *c = w->data;
	(void)status;
	uv_close((uv_handle_t *)&c->tcp, cut_closed);
}

static void cut_connected(uv_connect_t *req, int status)
{
	struct cut *c = req->data;
	uv_buf_t b = uv_buf_init(c->buf, (unsigned)c->len);

	assert_int_equal(status, 0);
	c->wr.data = c;
	assert_int_equal(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, cut_written), 0);
}

static void test_client_goes_away(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct sockaddr_in a;
	struct cut c = {0};
	size_t doc = 300000;

	start(e, "owner = requesting-user-name");
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_w_finish(&w), 0);
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Type: application/ipp\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  w.len + 5000000);
	c.len = (size_t)hl + w.len + doc; /* 5 MB announced, 300 kB sent */
	c.buf = calloc(1, c.len);
	memcpy(c.buf, head, (size_t)hl);
	memcpy(c.buf + hl, w.p, w.len);
	ipp_w_free(&w);
	uv_tcp_init(&e->loop, &c.tcp);
	c.tcp.data = c.conn.data = &c;
	uv_ip4_addr("127.0.0.1", e->port, &a);
	assert_int_equal(uv_tcp_connect(&c.conn, &c.tcp, (const struct sockaddr *)&a, cut_connected), 0);
	WAIT_FOR(e, c.closed);
	WAIT_FOR(e, fk.aborts == 1);
	assert_int_equal(fk.njobs, 1);
	assert_true(fk.jobs[0].aborted);
	assert_false(fk.jobs[0].committed);
	json_t *st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "counters"), "aborted")), 1);
	json_decref(st);
	free(c.buf);
}

static void cut_connected_keep(uv_connect_t *req, int status)
{
	struct cut *c = req->data;
	uv_buf_t b = uv_buf_init(c->buf, (unsigned)c->len);

	assert_int_equal(status, 0);
	assert_int_equal(uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, NULL), 0);
}

/* scoutd stops while a job streams in: the request is aborted, the job
 * dropped, every handle closed (teardown: uv_loop_close succeeds). */
static void test_stop_mid_job(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct sockaddr_in a;
	struct cut c = {0};

	start(e, "owner = requesting-user-name");
	request(&w, 0x0002, "alice");
	assert_int_equal(ipp_w_finish(&w), 0);
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "POST /ipp/print HTTP/1.1\r\nHost: x\r\nContent-Type: application/ipp\r\n"
			  "Content-Length: %zu\r\n\r\n",
			  w.len + 5000000);
	c.len = (size_t)hl + w.len + 200000;
	c.buf = calloc(1, c.len);
	memcpy(c.buf, head, (size_t)hl);
	memcpy(c.buf + hl, w.p, w.len);
	ipp_w_free(&w);
	uv_tcp_init(&e->loop, &c.tcp);
	c.tcp.data = c.conn.data = &c;
	uv_ip4_addr("127.0.0.1", e->port, &a);
	assert_int_equal(uv_tcp_connect(&c.conn, &c.tcp, (const struct sockaddr *)&a, cut_connected_keep), 0);
	WAIT_FOR(e, fk.writes >= 2);
	scout_host_stop(e->host, on_stopped, e);
	WAIT_FOR(e, e->stopped);
	assert_true(fk.jobs[0].aborted || !fk.jobs[0].committed);
	assert_false(fk.jobs[0].committed);
	uv_close((uv_handle_t *)&c.tcp, cut_closed);
	WAIT_FOR(e, c.closed);
	free(c.buf);
}

static struct scout_config *parse(struct env *e, const char *text)
{
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;

	assert_int_equal(scout_config_parse(e->schema, "t.ini", text, strlen(text), &d, &cfg), 0);
	scout_diag_free(&d);
	return cfg;
}

/* A reload applies location at once and refuses a new listen address,
 * keeping the old configuration (and the port) running. */
static void test_reload(void **state)
{
	struct env *e = *state;
	struct ipp_writer w;
	struct ipp_msg m;
	char text[256], buf[128];

	start(e, "owner = requesting-user-name");
	snprintf(text, sizeof(text),
		 "[ipp]\nenabled = yes\nlisten = 127.0.0.1:0\nowner = requesting-user-name\n"
		 "location = room 101\n");
	struct scout_config *cfg = parse(e, text);
	json_t *refused = json_array();
	scout_host_reload(e->host, cfg, refused);
	scout_config_free(cfg);
	assert_int_equal(json_array_size(refused), 0);
	struct exchange a = {0};
	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &a), 0);
	ipp_value_str(ipp_find(m.attrs, IPP_TAG_PRINTER, "printer-location")->values, buf, sizeof(buf));
	assert_string_equal(buf, "room 101");
	done(&a, &m);

	snprintf(text, sizeof(text), "[ipp]\nenabled = yes\nlisten = 127.0.0.1:1\nowner = requesting-user-name\n");
	cfg = parse(e, text);
	scout_host_reload(e->host, cfg, refused);
	scout_config_free(cfg);
	assert_int_equal(json_array_size(refused), 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(refused, 0), "reason")), "listen"));
	json_decref(refused);
	struct exchange b = {0};
	request(&w, 0x000b, NULL);
	assert_int_equal(ipp_exchange(e, &w, NULL, 0, &m, &b), 0); /* still on the old port */
	done(&b, &m);
}

/* dnssd = yes: the AvahiPoll adapter on the loop announces the queue when
 * avahi-daemon runs, and every watch and timeout it made is closed by the
 * module's stop (teardown checks that uv_loop_close succeeds). */
static void test_dnssd_start_stop(void **state)
{
	struct env *e = *state;
	char conf[128];

	snprintf(conf, sizeof(conf), "owner = requesting-user-name\ndnssd = yes\nname = scout-unit-%d", (int)getpid());
	start(e, conf);
	if (system("pgrep -x avahi-daemon >/dev/null") != 0) {
		print_message("avahi-daemon is not running: only the start and stop are checked\n");
		run_for(e, 200);
		return;
	}
	WAIT_FOR(e, ({
			 json_t *st = ipp_status(e);
			 const char *d = json_string_value(json_object_get(st, "dnssd"));
			 bool ok = d && strcmp(d, "announced") == 0;
			 json_decref(st);
			 ok;
		 }));
}

/* test-ipp-server --serve PORT: the module with the fake vault on
 * 127.0.0.1:PORT until killed, for running ipptool by hand before the real
 * vault is there. A third argument is added to [ipp] ("dnssd = yes"). */
static int serve(int port, const char *extra)
{
	void *state;
	char conf[128];

	serve_port = port;
	setup(&state);
	struct env *e = state;
	snprintf(conf, sizeof(conf), "owner = requesting-user-name\n%s\n", extra);
	start(e, conf);
	fprintf(stderr, "serving on port %d\n", e->port);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--serve") == 0)
		return serve(atoi(argv[2]), argc > 3 ? argv[3] : "");

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_printer_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_vault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vault_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_job_send_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticated_needs_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticated_over_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_goes_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_mid_job, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnssd_start_stop, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
