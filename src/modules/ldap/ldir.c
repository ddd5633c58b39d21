/* The directory client: servers (configured, or found through DNS SRV),
 * their health, the connections to them and the operations on them.
 *
 * Servers are tried in order; one that fails at the connection level (TCP,
 * TLS, a deadline) is marked down and skipped until its back-off
 * (scout_backoff: 1 s doubling to 60 s) passes, or earlier when no server
 * is up. Each server has up to two service connections, bound as bind_dn
 * (or anonymous) and shared by every search, and up to max_binds bind
 * connections, each carrying one user bind at a time and re-bound by the
 * next. Binds wait in one bounded FIFO for a bind connection.
 *
 * Time: each attempt on one server (connect + TLS + the operation) gets
 * timeout_ms; an operation as a whole gets timeout_ms times the number of
 * servers (at most 3), so a search fails over while time is left. A
 * deadline that passes abandons the operation and closes its connection
 * (a server that does not answer one request is not trusted with the
 * next). A bind that was sent is never sent again, to another server or
 * the same: AD would count a wrong password twice.
 *
 * Failures found synchronously are delivered from a deadline armed for
 * "now", so callbacks never run inside ldir_search / ldir_bind. */
#include "ldir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "loop/closer.h"
#include "loop/list.h"
#include "loop/log.h"
#include "loop/status.h"
#include "loop/timer.h"
#include "loop/work.h"
#include "srv.h"

#define SVC_CONNS 2          /* service connections per server */
#define SVC_BUSY 8           /* searches in flight before a second one opens */
#define IDLE_CLOSE_MS 300000 /* idle connections closed after 5 min */
#define SWEEP_MS 30000
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS 60000
#define MAX_TRIED 16
#define REASON_LEN 300

enum srv_state { SRV_UNKNOWN, SRV_UP, SRV_DOWN };

struct ldir_server {
	struct ldir *d;
	char *uri;
	uint64_t id;
	bool from_srv;
	enum srv_state state;
	double latency_ms;
	bool has_latency;
	char last_error[REASON_LEN];
	time_t since;
	uint64_t retry_at;
	unsigned fails;
	struct scout_list svc;   /* service connections */
	struct scout_list binds; /* bind connections */
	/* The service account's bind was refused (an LDAP answer): searches
	 * get that answer until svc_refused_until rather than hammering the
	 * account into a lockout. */
	int svc_refused_code;
	char svc_refused_diag[REASON_LEN];
	uint64_t svc_refused_until;
	unsigned svc_refusals;
};

enum op_state {
	OP_NEW,
	OP_DISC,      /* waiting for SRV discovery */
	OP_QUEUED,    /* bind waiting for a bind connection */
	OP_WAIT_CONN, /* attached to a connection being set up or bound */
	OP_SENT,
	OP_FINISH, /* result decided, delivered from the deadline */
};

struct ldir_op {
	struct ldir *d;
	struct scout_list link; /* d->disc_wait, d->bind_queue or conn->ops */
	struct scout_list all;  /* d->ops */
	bool bind;
	enum op_state state;
	ldir_cb cb;
	void *arg;
	bool delivering;

	char *base, *filter;
	char **attrs;
	int scope, sizelimit;
	char *dn, *pw;
	size_t pwlen;
	bool sent;        /* a bind reached a server */
	bool reconnected; /* retried once on its server after a stale connection */

	struct ldir_conn *conn;
	int msgid;
	uint64_t start, end, attempt_start;
	struct scout_deadline dl;
	uint64_t tried[MAX_TRIED];
	size_t ntried;

	int status, code;
	char reason[REASON_LEN];
	char server[256];
};

/* What the client did; what came of it (refusals, errors) the module
 * counts, which judges the answers. */
struct counters {
	uint64_t searches, binds, connects, connect_errors;
};

struct ldir {
	uv_loop_t *loop;
	struct conn_env env;
	struct scout_closer closer; /* our handles, jobs and connections */
	struct scout_closer *outer;
	struct scout_timers timers;
	struct scout_deadline sweep;
	bool closing;

	char *domain, *ca_file, *bind_dn, *bind_pw;
	size_t bind_pwlen;
	bool srv_ldaps;
	uint64_t timeout_ms;
	unsigned max_binds;

	struct ldir_server **servers;
	size_t nservers;
	uint64_t next_id;

	bool disc_pending;
	bool disc_failed;
	uint64_t disc_at; /* next refresh (uv_now) */
	unsigned disc_fails;
	char disc_error[REASON_LEN];
	struct scout_list disc_wait;

	struct scout_list bind_queue;
	size_t nqueued;
	struct scout_list ops;
	struct counters n;
};

static void op_dispatch(struct ldir_op *op);
static void pump_binds(struct ldir *d);
static void disc_start(struct ldir *d);
static void on_conn_dl(struct scout_deadline *dl);

/* ---- servers ---------------------------------------------------------- */

static struct ldir_server *server_new(struct ldir *d, const char *uri, bool from_srv)
{
	struct ldir_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->uri = strdup(uri);
	if (!s->uri) {
		free(s);
		return NULL;
	}
	s->d = d;
	s->id = ++d->next_id;
	s->from_srv = from_srv;
	scout_list_init(&s->svc);
	scout_list_init(&s->binds);
	return s;
}

static bool all_down(const struct ldir *d)
{
	for (size_t i = 0; i < d->nservers; i++)
		if (d->servers[i]->state != SRV_DOWN)
			return false;
	return d->nservers > 0;
}

static void server_down(struct ldir_server *s, const char *reason)
{
	uint64_t now = uv_now(s->d->loop);

	if (s->state != SRV_DOWN) {
		s->since = time(NULL);
		log_warn("ldap: %s", reason);
	}
	s->state = SRV_DOWN;
	snprintf(s->last_error, sizeof(s->last_error), "%s", reason);
	s->retry_at = now + scout_backoff(BACKOFF_BASE_MS, BACKOFF_CAP_MS, s->fails, NULL, NULL);
	if (s->fails < 16)
		s->fails++;
	if (s->d->domain && all_down(s->d))
		disc_start(s->d);
}

static void server_up(struct ldir_server *s)
{
	if (s->state != SRV_UP) {
		if (s->state == SRV_DOWN)
			log_info("ldap: %s is up again", s->uri);
		s->since = time(NULL);
	}
	s->state = SRV_UP;
	s->fails = 0;
}

static void server_latency(struct ldir_server *s, uint64_t ms)
{
	if (!s->has_latency)
		s->latency_ms = (double)ms;
	else
		s->latency_ms = 0.8 * s->latency_ms + 0.2 * (double)ms;
	s->has_latency = true;
}

static bool tried(const struct ldir_op *op, const struct ldir_server *s)
{
	for (size_t i = 0; i < op->ntried; i++)
		if (op->tried[i] == s->id)
			return true;
	return false;
}

/* The first server in order that is not down (or whose back-off passed)
 * and that op has not tried; when every untried one is in back-off and no
 * server at all is up, the one due first. */
static struct ldir_server *pick_server(struct ldir *d, const struct ldir_op *op)
{
	uint64_t now = uv_now(d->loop);
	struct ldir_server *fallback = NULL;
	bool any_up = false;

	if (op->ntried >= MAX_TRIED)
		return NULL;
	for (size_t i = 0; i < d->nservers; i++) {
		struct ldir_server *s = d->servers[i];

		if (s->state != SRV_DOWN)
			any_up = true;
		if (tried(op, s))
			continue;
		if (s->state != SRV_DOWN || now >= s->retry_at)
			return s;
		if (!fallback || s->retry_at < fallback->retry_at)
			fallback = s;
	}
	return any_up ? NULL : fallback;
}

/* ---- operations: ending ----------------------------------------------- */

static void op_free(struct ldir_op *op)
{
	if (op->pw) {
		explicit_bzero(op->pw, op->pwlen);
		free(op->pw);
	}
	free(op->dn);
	free(op->base);
	free(op->filter);
	if (op->attrs)
		for (char **a = op->attrs; *a; a++)
			free(*a);
	free(op->attrs);
	free(op);
}

static void op_detach(struct ldir_op *op)
{
	scout_list_remove(&op->link);
	if (op->conn) {
		op->conn->nops--;
		op->conn = NULL;
	}
	scout_timers_disarm(&op->d->timers, &op->dl);
}

static void op_deliver(struct ldir_op *op, const struct ldir_result *res)
{
	struct ldir *d = op->d;

	op_detach(op);
	scout_list_remove(&op->all);
	if (op->bind)
		d->n.binds++;
	else
		d->n.searches++;
	op->delivering = true;
	op->cb(op->arg, res);
	op_free(op);
}

static void op_deliver_own(struct ldir_op *op)
{
	struct ldir_result res = {
		.status = op->status,
		.ldap_code = op->code,
		.diag = op->reason,
		.server = op->server[0] ? op->server : NULL,
		.ms = uv_now(op->d->loop) - op->start,
	};

	op_deliver(op, &res);
}

/* The op's outcome is decided: deliver it from the timers (never inside
 * the caller's own call). */
static void op_finish_later(struct ldir_op *op, int status, int code, const char *reason)
{
	op_detach(op);
	op->status = status;
	op->code = code;
	if (reason && reason != op->reason)
		snprintf(op->reason, sizeof(op->reason), "%s", reason);
	op->state = OP_FINISH;
	scout_timers_arm(&op->d->timers, &op->dl, uv_now(op->d->loop));
}

/* A connection-level failure for op on its current server: try the next
 * one while time is left, else fail with this status. */
static void op_retry(struct ldir_op *op, int status, const char *reason)
{
	struct ldir *d = op->d;

	op_detach(op);
	op->status = status;
	op->code = 0;
	snprintf(op->reason, sizeof(op->reason), "%s", reason);
	if (d->closing)
		return;
	if (op->bind && op->sent) {
		op_finish_later(op, status, 0, NULL);
		return;
	}
	if (uv_now(d->loop) + 50 >= op->end || !pick_server(d, op)) {
		op_finish_later(op, status, 0, NULL);
		return;
	}
	if (op->bind) {
		op->state = OP_QUEUED;
		scout_list_insert_head(&d->bind_queue, &op->link);
		d->nqueued++;
		scout_timers_arm(&d->timers, &op->dl, op->end);
		pump_binds(d);
	} else
		op_dispatch(op);
}

/* ---- connections ------------------------------------------------------ */

/* Every connection ldir.c closes goes through here: its deadline lives in
 * our timers, which must not keep a pointer into a freed connection. */
static void conn_drop(struct ldir_conn *c)
{
	struct ldir_server *s = c->owner;

	scout_timers_disarm(&s->d->timers, &c->dl);
	conn_close(c);
}

static struct ldir_conn *conn_of_dl(struct scout_deadline *dl)
{
	return scout_container_of(dl, struct ldir_conn, dl);
}

enum fail_mode {
	FAIL_DOWN,  /* the server failed: mark it down */
	FAIL_KEEP,  /* not the server's fault (no TLS for a bind, DNS change) */
	FAIL_STALE, /* an established connection broke (the server closed an
		     * idle one, or restarted): not down, and its operations
		     * may try the same server once more on a new connection */
};

/* Closes c and moves its operations on: searches and unsent binds to the
 * next server, sent binds end with status. */
static void conn_fail(struct ldir_conn *c, int status, const char *reason, enum fail_mode mode)
{
	struct ldir_server *s = c->owner;
	struct scout_list ops;
	struct ldir_op *op, *tmp;
	struct ldir *d = s->d;
	uint64_t sid = s->id;
	char why[REASON_LEN];

	/* reason may live in c (its set-up's), which is freed below. */
	snprintf(why, sizeof(why), "%s", reason);
	reason = why;
	if (mode == FAIL_DOWN)
		server_down(s, reason);
	else if (mode == FAIL_STALE)
		log_info("ldap: %s: connection lost, the next operation reconnects", reason);
	/* Take the ops, and the connection off the server's lists, before
	 * any of them is retried: none may land on c again. */
	scout_list_init(&ops);
	while (!scout_list_empty(&c->ops)) {
		struct scout_list *l = scout_list_first(&c->ops);
		scout_list_remove(l);
		scout_list_insert_tail(&ops, l);
	}
	scout_list_foreach_safe (op, tmp, &ops, link) {
		op->conn = NULL;
	}
	conn_drop(c);
	scout_list_foreach_safe (op, tmp, &ops, link) {
		scout_list_remove(&op->link);
		if (mode == FAIL_STALE && !op->reconnected) {
			op->reconnected = true;
			for (size_t i = 0; i < op->ntried; i++)
				if (op->tried[i] == sid)
					op->tried[i] = 0;
		}
		op_retry(op, status, reason);
	}
	pump_binds(d);
}

static int conn_new(struct ldir_server *s, bool svc, struct ldir_conn **ret_c)
{
	struct ldir *d = s->d;
	struct ldir_conn *c;
	int r = conn_open(&d->env, s->uri, &c);

	if (r < 0)
		return r;
	c->owner = s;
	c->svc = svc;
	scout_list_insert_tail(svc ? &s->svc : &s->binds, &c->link);
	/* The set-up's own bound, for when no operation waits on it. */
	scout_deadline_init(&c->dl, on_conn_dl);
	scout_timers_arm_in(&d->timers, &c->dl, d->timeout_ms);
	d->n.connects++;
	*ret_c = c;
	return 0;
}

static void op_attach(struct ldir_op *op, struct ldir_conn *c, enum op_state state)
{
	struct ldir_server *s = c->owner;
	uint64_t now = uv_now(op->d->loop);

	op->conn = c;
	c->nops++;
	scout_list_insert_tail(&c->ops, &op->link);
	op->state = state;
	if (!tried(op, s) && op->ntried < MAX_TRIED)
		op->tried[op->ntried++] = s->id;
	snprintf(op->server, sizeof(op->server), "%s", s->uri);
	op->attempt_start = now;
	scout_timers_arm(&op->d->timers, &op->dl,
			 now + op->d->timeout_ms < op->end ? now + op->d->timeout_ms : op->end);
}

static void search_send(struct ldir_op *op)
{
	struct ldir_conn *c = op->conn;
	char reason[REASON_LEN];
	int rc = ldap_search_ext(c->ld, op->base, op->scope, op->filter, op->attrs, 0, NULL, NULL, NULL, op->sizelimit,
				 &op->msgid);

	if (rc == LDAP_SUCCESS) {
		op->state = OP_SENT;
		return;
	}
	if (rc == LDAP_FILTER_ERROR || rc == LDAP_PARAM_ERROR || rc == LDAP_ENCODING_ERROR) {
		snprintf(reason, sizeof(reason), "search not sent: %s", ldap_err2string(rc));
		op_finish_later(op, -EINVAL, rc, reason);
		return;
	}
	conn_reason(c, rc, reason, sizeof(reason));
	conn_fail(c, conn_errno(rc), reason, FAIL_STALE);
}

/*
 * Sends a simple bind of dn with pw on c, for the user's binds and the
 * service account's alike. Never in clear: without TLS nothing is sent, the
 * reason says "<uri>: <refused>" and -EPERM leaves c to the caller. A send
 * that fails fails c (which may be freed: the caller must not touch it) and
 * returns -EIO.
 */
static int conn_simple_bind(struct ldir_conn *c, const char *dn, char *pw, size_t pwlen, const char *refused,
			    int *ret_msgid, char *reason, size_t reasonlen)
{
	struct berval cred = {.bv_len = pwlen, .bv_val = pw};
	int rc;

	if (!c->tls) {
		snprintf(reason, reasonlen, "%s: %s", c->uri, refused);
		return -EPERM;
	}
	rc = ldap_sasl_bind(c->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, ret_msgid);
	if (rc != LDAP_SUCCESS) {
		conn_reason(c, rc, reason, reasonlen);
		conn_fail(c, conn_errno(rc), reason, FAIL_STALE);
		return -EIO;
	}
	return 0;
}

static void bind_send(struct ldir_op *op)
{
	struct ldir_conn *c = op->conn;
	char reason[REASON_LEN];
	int r;

	r = conn_simple_bind(c, op->dn, op->pw, op->pwlen,
			     "simple bind refused: the connection has no TLS (allow_plaintext is for anonymous "
			     "searches only)",
			     &op->msgid, reason, sizeof(reason));
	if (r == -EPERM) {
		/* Not the server's fault, and useless for binds: drop it. */
		op_detach(op);
		conn_drop(c);
		op_retry(op, -EPERM, reason);
		return;
	}
	if (r < 0)
		return;
	op->sent = true;
	op->state = OP_SENT;
	explicit_bzero(op->pw, op->pwlen);
	free(op->pw);
	op->pw = NULL;
}

/* The service account's bind, right after set-up. */
static void svc_bind(struct ldir_conn *c)
{
	struct ldir_server *s = c->owner;
	struct ldir *d = s->d;
	char reason[REASON_LEN];
	int r;

	r = conn_simple_bind(c, d->bind_dn, d->bind_pw, d->bind_pwlen,
			     "service bind refused: the connection has no TLS (simple binds are never sent in clear)",
			     &c->bind_msgid, reason, sizeof(reason));
	if (r == -EPERM) {
		conn_fail(c, -EPERM, reason, FAIL_KEEP);
		return;
	}
	if (r < 0)
		return;
	c->state = CONN_BINDING;
	scout_timers_arm_in(&d->timers, &c->dl, d->timeout_ms);
}

static void conn_send_waiting(struct ldir_conn *c)
{
	struct ldir_op *op, *tmp;

	c->state = CONN_READY;
	scout_list_foreach_safe (op, tmp, &c->ops, link) {
		if (op->state != OP_WAIT_CONN)
			continue;
		if (op->bind)
			bind_send(op);
		else
			search_send(op);
		if (c->state == CONN_DEAD)
			return;
	}
}

static void on_conn_dl(struct scout_deadline *dl)
{
	struct ldir_conn *c = conn_of_dl(dl);
	struct ldir_server *s = c->owner;
	char reason[REASON_LEN];

	snprintf(reason, sizeof(reason), "%s: %s: no answer within %llu ms", s->uri,
		 c->state == CONN_BINDING ? "service bind" : (c->ldaps ? "connect/TLS" : "connect/StartTLS"),
		 (unsigned long long)s->d->timeout_ms);
	if (c->bind_msgid)
		ldap_abandon_ext(c->ld, c->bind_msgid, NULL, NULL);
	conn_fail(c, -ETIMEDOUT, reason, FAIL_DOWN);
}

static void on_conn_up(struct ldir_conn *c, int status, const char *reason)
{
	struct ldir_server *s = c->owner;
	struct ldir *d = s->d;

	if (status < 0) {
		d->n.connect_errors++;
		conn_fail(c, status, reason, FAIL_DOWN);
		return;
	}
	server_up(s);
	scout_timers_disarm(&d->timers, &c->dl);
	if (c->svc && d->bind_dn) {
		svc_bind(c);
		return;
	}
	conn_send_waiting(c);
	if (!c->svc && c->state == CONN_READY && scout_list_empty(&c->ops))
		pump_binds(d);
}

static void on_conn_broken(struct ldir_conn *c, int status, const char *reason)
{
	conn_fail(c, status, reason, FAIL_STALE);
}

/* ---- answers ---------------------------------------------------------- */

struct entries {
	struct ldir_entry *e;
	size_t n;
};

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		struct ldir_entry *e = &es->e[i];
		for (size_t j = 0; j < e->nattrs; j++) {
			const struct ldir_attr *a = &e->attrs[j];
			for (size_t k = 0; k < a->nvals; k++)
				free((char *)a->vals[k].v);
			free((struct ldir_val *)a->vals);
			free((char *)a->name);
		}
		free((struct ldir_attr *)e->attrs);
		free((char *)e->dn);
	}
	free(es->e);
}

static char *dup_mem(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

static int entry_read(LDAP *ld, LDAPMessage *m, struct ldir_entry *e)
{
	BerElement *ber = NULL;
	char *dn = ldap_get_dn(ld, m);
	size_t cap = 0;
	struct ldir_attr *attrs = NULL;

	e->dn = strdup(dn ? dn : "");
	ldap_memfree(dn);
	if (!e->dn)
		return -ENOMEM;
	for (char *a = ldap_first_attribute(ld, m, &ber); a; a = ldap_next_attribute(ld, m, ber)) {
		struct berval **bv = ldap_get_values_len(ld, m, a);
		size_t nv = bv ? (size_t)ldap_count_values_len(bv) : 0;
		struct ldir_val *vals = nv ? calloc(nv, sizeof(*vals)) : NULL;
		struct ldir_attr *at;

		if (e->nattrs == cap) {
			struct ldir_attr *na = realloc(attrs, (cap ? cap * 2 : 8) * sizeof(*na));
			if (!na) {
				free(vals);
				ldap_value_free_len(bv);
				ldap_memfree(a);
				break;
			}
			attrs = na;
			cap = cap ? cap * 2 : 8;
		}
		at = &attrs[e->nattrs];
		at->vals = vals;
		at->nvals = 0;
		if ((at->name = strdup(a))) {
			for (size_t k = 0; vals && k < nv; k++) {
				vals[k].v = dup_mem(bv[k]->bv_val, bv[k]->bv_len);
				vals[k].len = bv[k]->bv_len;
				if (vals[k].v)
					at->nvals++;
			}
			e->nattrs++;
		} else
			free(vals);
		ldap_value_free_len(bv);
		ldap_memfree(a);
	}
	e->attrs = attrs;
	if (ber)
		ber_free(ber, 0);
	return 0;
}

/* The server's answer to op (code, its diagnostic, which is freed, and any
 * entries): the server's latency counted, the result delivered. */
static void op_answer(struct ldir_op *op, struct ldir_server *s, int code, char *diag, const struct entries *es)
{
	char reason[REASON_LEN];

	server_latency(s, uv_now(s->d->loop) - op->attempt_start);
	snprintf(reason, sizeof(reason), "%s", diag ? diag : "");
	ldap_memfree(diag);

	struct ldir_result r = {
		.status = 0,
		.ldap_code = code,
		.diag = reason,
		.server = s->uri,
		.ms = uv_now(s->d->loop) - op->start,
		.entries = es ? es->e : NULL,
		.nentries = es ? es->n : 0,
	};
	op_deliver(op, &r);
}

static void search_answer(struct ldir_op *op, LDAPMessage *res)
{
	struct ldir_conn *c = op->conn;
	struct ldir_server *s = c->owner;
	LDAP *ld = c->ld;
	struct entries es = {0};
	int code = LDAP_OTHER, n = ldap_count_entries(ld, res);
	char *diag = NULL;

	if (n > 0)
		es.e = calloc((size_t)n, sizeof(*es.e));
	for (LDAPMessage *m = ldap_first_message(ld, res); m; m = ldap_next_message(ld, m)) {
		int t = ldap_msgtype(m);
		if (t == LDAP_RES_SEARCH_ENTRY && es.e && es.n < (size_t)n) {
			if (entry_read(ld, m, &es.e[es.n]) == 0)
				es.n++;
		} else if (t == LDAP_RES_SEARCH_RESULT) {
			ldap_parse_result(ld, m, &code, NULL, &diag, NULL, NULL, 0);
		}
	}
	ldap_msgfree(res);
	op_answer(op, s, code, diag, &es);
	entries_free(&es);
}

static void bind_answer(struct ldir_op *op, LDAPMessage *res)
{
	struct ldir_conn *c = op->conn;
	struct ldir_server *s = c->owner;
	struct ldir *d = s->d;
	int code = LDAP_OTHER;
	char *diag = NULL;

	ldap_parse_result(c->ld, res, &code, NULL, &diag, NULL, NULL, 1);
	op_answer(op, s, code, diag, NULL);
	if (!d->closing && c->state == CONN_READY)
		pump_binds(d);
}

static void svc_bind_answer(struct ldir_conn *c, LDAPMessage *res)
{
	struct ldir_server *s = c->owner;
	struct ldir *d = s->d;
	int code = LDAP_OTHER;
	char *diag = NULL;
	struct ldir_op *op, *tmp;

	ldap_parse_result(c->ld, res, &code, NULL, &diag, NULL, NULL, 1);
	c->bind_msgid = 0;
	scout_timers_disarm(&d->timers, &c->dl);
	if (code == LDAP_SUCCESS) {
		ldap_memfree(diag);
		s->svc_refusals = 0;
		conn_send_waiting(c);
		return;
	}
	/* An answer: final for the searches waiting, and kept for a while. */
	snprintf(s->svc_refused_diag, sizeof(s->svc_refused_diag), "%s: service bind as %s refused: %s%s%s", s->uri,
		 d->bind_dn, ldap_err2string(code), diag && *diag ? ": " : "", diag ? diag : "");
	ldap_memfree(diag);
	s->svc_refused_code = code;
	s->svc_refused_until =
		uv_now(d->loop) + scout_backoff_ceiling(BACKOFF_BASE_MS * 5, BACKOFF_CAP_MS, s->svc_refusals);
	if (s->svc_refusals < 16)
		s->svc_refusals++;
	log_error("ldap: %s", s->svc_refused_diag);
	snprintf(s->last_error, sizeof(s->last_error), "%s", s->svc_refused_diag);
	scout_list_foreach_safe (op, tmp, &c->ops, link)
		op_finish_later(op, 0, code, s->svc_refused_diag);
	conn_drop(c);
}

static void on_conn_msg(struct ldir_conn *c, LDAPMessage *res)
{
	int msgid = ldap_msgid(res);
	struct ldir_op *op;

	if (c->bind_msgid && msgid == c->bind_msgid) {
		svc_bind_answer(c, res);
		return;
	}
	scout_list_foreach (op, &c->ops, link) {
		if (op->state == OP_SENT && op->msgid == msgid) {
			server_up(c->owner);
			if (op->bind)
				bind_answer(op, res);
			else
				search_answer(op, res);
			return;
		}
	}
	if (msgid == 0) {
		/* An unsolicited notice: the server is closing the connection. */
		char reason[REASON_LEN];
		snprintf(reason, sizeof(reason), "%s: the server closed the connection", c->uri);
		ldap_msgfree(res);
		conn_fail(c, -EHOSTUNREACH, reason, FAIL_STALE);
		return;
	}
	ldap_msgfree(res); /* an answer to an operation cancelled since */
}

/* ---- dispatch ---------------------------------------------------------- */

static void search_on(struct ldir_op *op, struct ldir_server *s)
{
	struct ldir *d = op->d;
	struct ldir_conn *c, *best = NULL, *connecting = NULL;
	unsigned count = 0;
	int r;

	if (s->svc_refused_until > uv_now(d->loop)) {
		snprintf(op->server, sizeof(op->server), "%s", s->uri);
		op_finish_later(op, 0, s->svc_refused_code, s->svc_refused_diag);
		return;
	}
	scout_list_foreach (c, &s->svc, link) {
		count++;
		if (c->state == CONN_READY && (!best || c->nops < best->nops))
			best = c;
		else if (c->state != CONN_READY && !connecting)
			connecting = c;
	}
	if (best) {
		/* A second connection for a busy server, opened on the side. */
		if (best->nops >= SVC_BUSY && count < SVC_CONNS && !connecting && conn_new(s, true, &c) == 0)
			log_debug("ldap: %s: second service connection", s->uri);
		op_attach(op, best, OP_WAIT_CONN);
		search_send(op);
		return;
	}
	if (connecting) {
		op_attach(op, connecting, OP_WAIT_CONN);
		return;
	}
	r = conn_new(s, true, &c);
	if (r < 0) {
		char reason[REASON_LEN];
		snprintf(reason, sizeof(reason), "%s: cannot start a connection: %s", s->uri, strerror(-r));
		op_finish_later(op, r, 0, reason);
		return;
	}
	op_attach(op, c, OP_WAIT_CONN);
}

static void op_no_server(struct ldir_op *op)
{
	if (op->status < 0 || op->reason[0]) {
		op_finish_later(op, op->status < 0 ? op->status : -EHOSTUNREACH, op->code, NULL);
		return;
	}
	op_finish_later(op, -EHOSTUNREACH, 0, "every directory server is down");
}

static bool disc_due(struct ldir *d)
{
	return d->domain && !d->disc_pending && uv_now(d->loop) >= d->disc_at;
}

/* Searches: onto a server now. Binds go through the queue (pump_binds). */
static void op_dispatch(struct ldir_op *op)
{
	struct ldir *d = op->d;
	struct ldir_server *s;

	if (disc_due(d))
		disc_start(d);
	if (d->nservers == 0) {
		if (d->disc_pending) {
			op->state = OP_DISC;
			scout_list_insert_tail(&d->disc_wait, &op->link);
			scout_timers_arm(&d->timers, &op->dl, op->end);
			return;
		}
		op_finish_later(op, -EHOSTUNREACH, 0, d->disc_error[0] ? d->disc_error : "no directory servers");
		return;
	}
	s = pick_server(d, op);
	if (!s) {
		op_no_server(op);
		return;
	}
	search_on(op, s);
}

static struct ldir_conn *idle_bind_conn(struct ldir_server *s, unsigned *ret_count)
{
	struct ldir_conn *c, *idle = NULL;
	unsigned n = 0;

	scout_list_foreach (c, &s->binds, link) {
		n++;
		if (!idle && c->state == CONN_READY && c->nops == 0)
			idle = c;
	}
	*ret_count = n;
	return idle;
}

static void pump_binds(struct ldir *d)
{
	if (d->closing)
		return;
	if (disc_due(d))
		disc_start(d);
	while (!scout_list_empty(&d->bind_queue)) {
		struct ldir_op *op = scout_list_first_entry(&d->bind_queue, struct ldir_op, link);
		struct ldir_server *s;
		struct ldir_conn *c;
		unsigned count;
		int r;

		if (d->nservers == 0) {
			if (d->disc_pending)
				return;
			d->nqueued--;
			op_finish_later(op, -EHOSTUNREACH, 0,
					d->disc_error[0] ? d->disc_error : "no directory servers");
			continue;
		}
		s = pick_server(d, op);
		if (!s) {
			d->nqueued--;
			op_no_server(op);
			continue;
		}
		c = idle_bind_conn(s, &count);
		if (c) {
			scout_list_remove(&op->link);
			d->nqueued--;
			op_attach(op, c, OP_WAIT_CONN);
			bind_send(op);
			continue;
		}
		if (count >= d->max_binds)
			return; /* FIFO: the next free connection takes it */
		r = conn_new(s, false, &c);
		if (r < 0) {
			char reason[REASON_LEN];
			snprintf(reason, sizeof(reason), "%s: cannot start a connection: %s", s->uri, strerror(-r));
			d->nqueued--;
			op_finish_later(op, r, 0, reason);
			continue;
		}
		scout_list_remove(&op->link);
		d->nqueued--;
		op_attach(op, c, OP_WAIT_CONN);
	}
}

static void on_op_dl(struct scout_deadline *dl)
{
	struct ldir_op *op = scout_container_of(dl, struct ldir_op, dl);
	struct ldir *d = op->d;
	struct ldir_conn *c = op->conn;
	char reason[REASON_LEN];

	switch (op->state) {
	case OP_FINISH:
		op_deliver_own(op);
		return;
	case OP_NEW:
	case OP_DISC:
		op_finish_later(op, -ETIMEDOUT, 0, d->domain ? "SRV discovery: no answer in time" : "timed out");
		return;
	case OP_QUEUED:
		d->nqueued--;
		op_finish_later(op, -ETIMEDOUT, 0, "no bind connection free in time");
		return;
	case OP_WAIT_CONN:
	case OP_SENT:
		break;
	}
	snprintf(reason, sizeof(reason), "%s: %s: no answer within %llu ms", c->uri,
		 op->state == OP_SENT       ? (op->bind ? "bind" : "search")
		 : c->state == CONN_BINDING ? "service bind"
					    : (c->ldaps ? "connect/TLS" : "connect/StartTLS"),
		 (unsigned long long)(uv_now(d->loop) - op->attempt_start));
	if (op->state == OP_SENT)
		ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	/* The connection is not trusted with anything else: every op on it
	 * moves on, this one included (a sent bind ends here). */
	conn_fail(c, -ETIMEDOUT, reason, FAIL_DOWN);
}

/* ---- SRV discovery ---------------------------------------------------- */

struct disc_job {
	struct ldir *d;
	char *domain;
	uint64_t timeout_ms;
	struct ldir_srv *v;
	size_t n;
	int status;
	char err[REASON_LEN];
};

static void disc_work(void *arg)
{
	struct disc_job *j = arg;

	j->status = ldir_srv_lookup(j->domain, j->timeout_ms, &j->v, &j->n, j->err, sizeof(j->err));
}

static void server_free(struct ldir_server *s)
{
	struct ldir_conn *c;

	while ((c = scout_list_first_entry(&s->svc, struct ldir_conn, link)))
		conn_fail(c, -EHOSTUNREACH, "server no longer listed in DNS", FAIL_KEEP);
	while ((c = scout_list_first_entry(&s->binds, struct ldir_conn, link)))
		conn_fail(c, -EHOSTUNREACH, "server no longer listed in DNS", FAIL_KEEP);
	free(s->uri);
	free(s);
}

static int disc_apply(struct ldir *d, const struct ldir_srv *v, size_t n)
{
	struct ldir_server **next = calloc(n, sizeof(*next));
	struct ldir_server **old = d->servers;
	size_t nold = d->nservers, k = 0;

	if (!next)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char uri[300];
		struct ldir_server *s = NULL;
		bool v6 = strchr(v[i].target, ':') != NULL;

		snprintf(uri, sizeof(uri), "%s://%s%s%s:%u", d->srv_ldaps ? "ldaps" : "ldap", v6 ? "[" : "",
			 v[i].target, v6 ? "]" : "", d->srv_ldaps ? 636u : (unsigned)v[i].port);
		bool dup = false;
		for (size_t j = 0; j < k; j++)
			dup |= strcmp(next[j]->uri, uri) == 0;
		if (dup)
			continue;
		for (size_t j = 0; j < nold; j++)
			if (old[j] && strcmp(old[j]->uri, uri) == 0) {
				s = old[j];
				old[j] = NULL;
				break;
			}
		if (!s)
			s = server_new(d, uri, true);
		if (s)
			next[k++] = s;
	}
	d->servers = next;
	d->nservers = k;
	/* Servers gone from DNS: their operations move to the new list. */
	for (size_t j = 0; j < nold; j++)
		if (old[j])
			server_free(old[j]);
	free(old);
	return 0;
}

static void disc_done(void *arg, int status)
{
	struct disc_job *j = arg;
	struct ldir *d = j->d;
	struct ldir_op *op, *tmp;
	uint64_t now = uv_now(d->loop);

	if (status < 0 && j->status == 0) {
		j->status = status;
		snprintf(j->err, sizeof(j->err), "SRV discovery cancelled");
	}
	if (!d->closing) {
		d->disc_pending = false;
		if (j->status == 0) {
			uint32_t ttl = ldir_srv_min_ttl(j->v, j->n);
			ldir_srv_shuffle(j->v, j->n, NULL, NULL);
			if (disc_apply(d, j->v, j->n) < 0)
				j->status = -ENOMEM;
			if (ttl < 60)
				ttl = 60;
			if (ttl > 3600)
				ttl = 3600;
			d->disc_at = now + (uint64_t)ttl * 1000;
			d->disc_fails = 0;
			d->disc_failed = false;
			d->disc_error[0] = '\0';
		}
		if (j->status < 0) {
			snprintf(d->disc_error, sizeof(d->disc_error), "%s", j->err);
			log_warn("ldap: %s", j->err);
			d->disc_failed = true;
			d->disc_at = now + scout_backoff_ceiling(BACKOFF_BASE_MS, BACKOFF_CAP_MS, d->disc_fails);
			if (d->disc_fails < 16)
				d->disc_fails++;
		}
		scout_list_foreach_safe (op, tmp, &d->disc_wait, link) {
			scout_list_remove(&op->link);
			op->state = OP_NEW;
			op_dispatch(op);
		}
		pump_binds(d);
	}
	free(j->v);
	free(j->domain);
	free(j);
	scout_closer_release(&d->closer);
}

static void disc_start(struct ldir *d)
{
	struct disc_job *j;

	if (d->disc_pending || d->closing)
		return;
	if (uv_now(d->loop) < d->disc_at && d->nservers > 0 && !all_down(d))
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->d = d;
	j->timeout_ms = d->timeout_ms;
	j->domain = strdup(d->domain);
	if (!j->domain) {
		free(j);
		return;
	}
	scout_closer_hold(&d->closer);
	if (scout_work_submit(d->env.work, disc_work, disc_done, j) < 0) {
		scout_closer_release(&d->closer);
		free(j->domain);
		free(j);
		return;
	}
	d->disc_pending = true;
	/* At most one refresh per back-off when every server is down. */
	d->disc_at = uv_now(d->loop) + BACKOFF_BASE_MS * 5;
}

/* ---- idle connections ------------------------------------------------- */

static void on_sweep(struct scout_deadline *dl)
{
	struct ldir *d = scout_container_of(dl, struct ldir, sweep);
	uint64_t now = uv_now(d->loop);

	for (size_t i = 0; i < d->nservers; i++) {
		struct ldir_server *s = d->servers[i];
		struct scout_list *lists[] = {&s->svc, &s->binds};
		for (size_t l = 0; l < 2; l++) {
			struct ldir_conn *c, *tmp;
			scout_list_foreach_safe (c, tmp, lists[l], link) {
				if (c->state == CONN_READY && c->nops == 0 && now - c->used_at >= IDLE_CLOSE_MS)
					conn_drop(c);
			}
		}
	}
	scout_timers_arm_in(&d->timers, &d->sweep, SWEEP_MS);
}

/* ---- API -------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* scheme://host:port from a URI, or -EINVAL with the reason. */
static int normalise_uri(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
	LDAPURLDesc *u = NULL;
	bool ldaps;
	int port;

	if (ldap_url_parse(in, &u) != LDAP_URL_SUCCESS || !u) {
		snprintf(err, errlen, "servers: %s: not an LDAP URI", in);
		return -EINVAL;
	}
	if (strcasecmp(u->lud_scheme, "ldaps") == 0)
		ldaps = true;
	else if (strcasecmp(u->lud_scheme, "ldap") == 0)
		ldaps = false;
	else {
		snprintf(err, errlen, "servers: %s: only ldap:// and ldaps:// are supported", in);
		ldap_free_urldesc(u);
		return -EINVAL;
	}
	if (!u->lud_host || !*u->lud_host) {
		snprintf(err, errlen, "servers: %s: no host", in);
		ldap_free_urldesc(u);
		return -EINVAL;
	}
	port = u->lud_port ? u->lud_port : (ldaps ? 636 : 389);
	bool v6 = strchr(u->lud_host, ':') != NULL;
	if ((size_t)snprintf(out, outlen, "%s://%s%s%s:%d", ldaps ? "ldaps" : "ldap", v6 ? "[" : "", u->lud_host,
			     v6 ? "]" : "", port) >= outlen) {
		snprintf(err, errlen, "servers: %s: too long", in);
		ldap_free_urldesc(u);
		return -EINVAL;
	}
	ldap_free_urldesc(u);
	return 0;
}

static void ldir_free(struct ldir *d)
{
	for (size_t i = 0; i < d->nservers; i++) {
		free(d->servers[i]->uri);
		free(d->servers[i]);
	}
	free(d->servers);
	if (d->bind_pw) {
		explicit_bzero(d->bind_pw, d->bind_pwlen);
		free(d->bind_pw);
	}
	free(d->domain);
	free(d->ca_file);
	free(d->bind_dn);
	free(d);
}

int ldir_new(uv_loop_t *loop, struct scout_work_group *work, const struct ldir_conf *conf, struct ldir **ret_d,
	     char *err, size_t errlen)
{
	struct ldir *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	scout_list_init(&d->disc_wait);
	scout_list_init(&d->bind_queue);
	scout_list_init(&d->ops);
	d->timeout_ms = conf->timeout_ms ? conf->timeout_ms : 5000;
	d->max_binds = conf->max_binds ? conf->max_binds : 1;
	d->srv_ldaps = conf->srv_ldaps;
	d->domain = dup_or_null(conf->domain);
	d->ca_file = dup_or_null(conf->ca_file);
	d->bind_dn = dup_or_null(conf->bind_dn);
	if (d->bind_dn) {
		d->bind_pwlen = conf->bind_password ? conf->bind_password_len : 0;
		d->bind_pw = malloc(d->bind_pwlen + 1);
		if (d->bind_pw) {
			if (d->bind_pwlen)
				memcpy(d->bind_pw, conf->bind_password, d->bind_pwlen);
			d->bind_pw[d->bind_pwlen] = '\0';
		}
	}
	if ((conf->domain && *conf->domain && !d->domain) || (conf->ca_file && *conf->ca_file && !d->ca_file) ||
	    (conf->bind_dn && *conf->bind_dn && (!d->bind_dn || !d->bind_pw))) {
		ldir_free(d);
		return -ENOMEM;
	}
	if (conf->nservers == 0 && !d->domain) {
		snprintf(err, errlen, "no servers and no domain to find them in DNS");
		ldir_free(d);
		return -EINVAL;
	}
	if (conf->nservers) {
		d->servers = calloc(conf->nservers, sizeof(*d->servers));
		if (!d->servers) {
			ldir_free(d);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < conf->nservers; i++) {
		char uri[300];
		int r = normalise_uri(conf->servers[i], uri, sizeof(uri), err, errlen);
		if (r < 0) {
			ldir_free(d);
			return r;
		}
		d->servers[d->nservers] = server_new(d, uri, false);
		if (!d->servers[d->nservers]) {
			ldir_free(d);
			return -ENOMEM;
		}
		d->nservers++;
	}
	d->env.loop = loop;
	d->env.work = work;
	d->env.closer = &d->closer;
	d->env.ca_file = d->ca_file;
	d->env.allow_plaintext = conf->allow_plaintext;
	d->env.timeout_ms = d->timeout_ms;
	d->env.up = on_conn_up;
	d->env.msg = on_conn_msg;
	d->env.broken = on_conn_broken;
	scout_closer_init(&d->closer);
	scout_timers_init(loop, &d->timers);
	scout_deadline_init(&d->sweep, on_sweep);
	scout_timers_arm_in(&d->timers, &d->sweep, SWEEP_MS);
	*ret_d = d;
	return 0;
}

static void ldir_closed(void *arg)
{
	struct ldir *d = arg;
	struct scout_closer *outer = d->outer;

	ldir_free(d);
	scout_closer_release(outer);
}

void ldir_close(struct ldir *d, struct scout_closer *closer)
{
	struct ldir_op *op, *tmp;

	d->closing = true;
	d->outer = closer;
	scout_closer_hold(closer);
	scout_list_foreach_safe (op, tmp, &d->ops, all) {
		scout_list_remove(&op->link);
		scout_list_remove(&op->all);
		scout_timers_disarm(&d->timers, &op->dl);
		op->conn = NULL;
		op_free(op);
	}
	for (size_t i = 0; i < d->nservers; i++) {
		struct ldir_server *s = d->servers[i];
		struct ldir_conn *c;
		while ((c = scout_list_first_entry(&s->svc, struct ldir_conn, link)))
			conn_drop(c);
		while ((c = scout_list_first_entry(&s->binds, struct ldir_conn, link)))
			conn_drop(c);
	}
	scout_timers_close(&d->timers, &d->closer);
	scout_closer_wait(&d->closer, ldir_closed, d);
}

static struct ldir_op *op_new(struct ldir *d, bool bind, ldir_cb cb, void *arg)
{
	struct ldir_op *op = calloc(1, sizeof(*op));
	size_t n = d->nservers ? d->nservers : 1;

	if (!op)
		return NULL;
	op->d = d;
	op->bind = bind;
	op->cb = cb;
	op->arg = arg;
	scout_list_init(&op->link);
	scout_list_init(&op->all);
	scout_deadline_init(&op->dl, on_op_dl);
	op->start = uv_now(d->loop);
	op->end = op->start + d->timeout_ms * (n < 3 ? n : 3);
	return op;
}

int ldir_search(struct ldir *d, const char *base, int scope, const char *filter, const char *const *attrs,
		int sizelimit, ldir_cb cb, void *arg, struct ldir_op **ret_op)
{
	struct ldir_op *op;
	size_t na = 0;

	if (!d || d->closing || !base || !filter || !cb)
		return -EINVAL;
	op = op_new(d, false, cb, arg);
	if (!op)
		return -ENOMEM;
	op->base = strdup(base);
	op->filter = strdup(filter);
	op->scope = scope;
	op->sizelimit = sizelimit;
	if (attrs)
		while (attrs[na])
			na++;
	op->attrs = calloc(na + 1, sizeof(*op->attrs));
	if (!op->base || !op->filter || !op->attrs) {
		op_free(op);
		return -ENOMEM;
	}
	for (size_t i = 0; i < na; i++)
		if (!(op->attrs[i] = strdup(attrs[i]))) {
			op_free(op);
			return -ENOMEM;
		}
	if (na == 0) {
		/* No attribute list: ask for none rather than all. */
		free(op->attrs);
		op->attrs = calloc(2, sizeof(*op->attrs));
		if (!op->attrs || !(op->attrs[0] = strdup(LDAP_NO_ATTRS))) {
			op_free(op);
			return -ENOMEM;
		}
	}
	scout_list_insert_tail(&d->ops, &op->all);
	op_dispatch(op);
	if (ret_op)
		*ret_op = op;
	return 0;
}

int ldir_bind(struct ldir *d, const char *dn, const char *password, size_t pwlen, ldir_cb cb, void *arg,
	      struct ldir_op **ret_op)
{
	struct ldir_op *op;

	if (!d || d->closing || !dn || !*dn || !password || !cb)
		return -EINVAL;
	/* An empty password is an unauthenticated bind (RFC 4513 5.1.2):
	 * the server says success without checking anything. */
	if (pwlen == 0 || memchr(password, '\0', pwlen))
		return -EINVAL;
	/* A burst of logins (a shift starting at the printers) waits its turn
	 * rather than being refused: each waits at most its deadline, which
	 * counts the time queued. The bound is only against a flood. */
	if (d->nqueued >= LDIR_MAX_QUEUED)
		return -EAGAIN;
	op = op_new(d, true, cb, arg);
	if (!op)
		return -ENOMEM;
	op->dn = strdup(dn);
	op->pw = malloc(pwlen + 1);
	if (!op->dn || !op->pw) {
		op_free(op);
		return -ENOMEM;
	}
	memcpy(op->pw, password, pwlen);
	op->pw[pwlen] = '\0';
	op->pwlen = pwlen;
	scout_list_insert_tail(&d->ops, &op->all);
	op->state = OP_QUEUED;
	scout_list_insert_tail(&d->bind_queue, &op->link);
	d->nqueued++;
	scout_timers_arm(&d->timers, &op->dl, op->end);
	pump_binds(d);
	if (ret_op)
		*ret_op = op;
	return 0;
}

void ldir_cancel(struct ldir_op *op)
{
	struct ldir_conn *c;
	struct ldir *d;

	if (!op || op->delivering)
		return;
	d = op->d;
	c = op->conn;
	if (op->state == OP_QUEUED)
		d->nqueued--;
	if (c && op->state == OP_SENT) {
		if (op->bind) {
			/* The connection's identity is unknown until the answer:
			 * drop it rather than reuse it. */
			op_detach(op);
			conn_drop(c);
		} else
			ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	}
	op_detach(op);
	scout_list_remove(&op->all);
	op_free(op);
	if (!d->closing)
		pump_binds(d);
}

bool ldir_available(const struct ldir *d)
{
	if (d->nservers == 0)
		return !d->disc_failed;
	return !all_down(d);
}

size_t ldir_servers_up(const struct ldir *d, size_t *ret_total)
{
	size_t up = 0;

	for (size_t i = 0; i < d->nservers; i++)
		up += d->servers[i]->state == SRV_UP;
	*ret_total = d->nservers;
	return up;
}

void ldir_status(const struct ldir *d, json_t *obj)
{
	static const char *const states[] = {"unknown", "up", "down"};
	json_t *arr = json_array();

	for (size_t i = 0; i < d->nservers; i++) {
		const struct ldir_server *s = d->servers[i];
		json_t *o = json_object();
		json_object_set_new(o, "uri", json_string(s->uri));
		json_object_set_new(o, "state", json_string(states[s->state]));
		json_object_set_new(o, "latency_ms",
				    s->has_latency ? json_real((double)(int64_t)(s->latency_ms * 10 + 0.5) / 10)
						   : json_null());
		json_object_set_new(o, "last_error", s->last_error[0] ? json_string(s->last_error) : json_null());
		json_object_set_new(o, "since", scout_time_json(s->since));
		json_object_set_new(o, "source", json_string(s->from_srv ? "srv" : "config"));
		json_array_append_new(arr, o);
	}
	json_object_set_new(obj, "servers", arr);
	if (d->domain)
		json_object_set_new(obj, "discovery_error",
				    d->disc_error[0] ? json_string(d->disc_error) : json_null());
	/* Into the status's "counters" object, which the module's own
	 * counters join. */
	json_t *c = json_object_get(obj, "counters");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(obj, "counters", c);
	}
	json_object_set_new(c, "searches", json_integer((json_int_t)d->n.searches));
	json_object_set_new(c, "binds", json_integer((json_int_t)d->n.binds));
	json_object_set_new(c, "connects", json_integer((json_int_t)d->n.connects));
	json_object_set_new(c, "connect_errors", json_integer((json_int_t)d->n.connect_errors));
}
