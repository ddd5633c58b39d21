/* ldap: people checked against the site's Active Directory or OpenLDAP.
 * It serves the bus's auth.password request (the same one the users
 * module serves from a local file: one of the two is enabled) and
 * user.lookup (by name or by card number). This file holds the module's
 * life: start (the directory client, the caches, the rate limits, the
 * service account's password read from its file), reload, stop, status,
 * and the list of requests in progress. The login flow is in auth.c, the
 * lookups in lookup.c, the operators' commands in commands.c, the [ldap]
 * section in config.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ldap.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/secret.h"
#include "loop/status.h"
#include "loop/work.h"

uint64_t ldap_now_ms(const struct ldap *l)
{
	return uv_now(scout_mod_loop(l->m));
}

int ldap_req_new(struct ldap *l, enum ldap_req_kind kind, struct ldap_req **ret)
{
	struct ldap_req *q;

	if (l->stopping)
		return -ESHUTDOWN;
	if (l->inflight >= LDAP_MAX_INFLIGHT) {
		l->n.busy++;
		return -EAGAIN;
	}
	if (!(q = calloc(1, sizeof(*q))))
		return -ENOMEM;
	q->l = l;
	q->kind = kind;
	q->t0 = ldap_now_ms(l);
	scout_list_insert_tail(&l->reqs, &q->link);
	l->inflight++;
	l->n.requests++;
	*ret = q;
	return 0;
}

void ldap_req_free(struct ldap_req *q)
{
	if (!q)
		return;
	if (q->op)
		ldir_cancel(q->op);
	scout_list_remove(&q->link);
	q->l->inflight--;
	if (q->pw) {
		explicit_bzero(q->pw, q->pwlen);
		free(q->pw);
	}
	ldap_user_free(q->user);
	explicit_bzero(q, sizeof(*q));
	free(q);
}

void ldap_req_fail_all(struct ldap *l, const char *why)
{
	struct scout_list *it;

	/* a request a pool job holds (an offline check, a new verifier) is
	 * not on the list: that job's done answers or frees it */
	while ((it = scout_list_first(&l->reqs))) {
		struct ldap_req *q = scout_list_entry(it, struct ldap_req, link);

		if (q->kind == LDAP_REQ_AUTH)
			ldap_auth_abort(q, why);
		else
			ldap_lookup_abort(q, why);
	}
}

/* Reads the service account's password (a file or a %d/ credential). */
static int read_bind_password(const struct ldap_conf *conf, char *buf, size_t size, size_t *ret_len, char *err,
			      size_t errlen)
{
	char why[256] = "", *path = NULL;
	int r;

	if ((r = scout_credential_path(conf->bind_password_file, &path, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "bind_password_file %s: %s", conf->bind_password_file,
			 why[0] ? why : strerror(-r));
		return r;
	}
	r = scout_secret_read_line(path, buf, size, ret_len, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "bind_password_file %s: %s", path, why[0] ? why : strerror(-r));
	free(path);
	return r;
}

static bool same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_dir(const struct ldap_conf *a, const struct ldap_conf *b)
{
	if (a->servers.n != b->servers.n)
		return false;
	for (size_t i = 0; i < a->servers.n; i++)
		if (strcmp(a->servers.v[i], b->servers.v[i]))
			return false;
	return same_str(a->domain, b->domain) && same_str(a->ca_file, b->ca_file) &&
	       a->allow_plaintext == b->allow_plaintext && same_str(a->bind_dn, b->bind_dn) &&
	       a->timeout == b->timeout && a->max_binds == b->max_binds;
}

/* A directory client for conf. At a reload (old not NULL) *ret is NULL
 * when the one running will do: same servers and account, and the same
 * password in the file (read again at each reload, so a rotated service
 * password is taken by `scoutctl reload`). */
static int make_dir(struct ldap *l, const struct ldap_conf *conf, const struct ldap_conf *old, struct ldir **ret,
		    char *err, size_t errlen)
{
	char pw[LDAP_MAX_PASSWORD + 1];
	size_t pwlen = 0;
	int r;

	*ret = NULL;
	if (conf->bind_dn[0] && (r = read_bind_password(conf, pw, sizeof(pw), &pwlen, err, errlen)) < 0)
		return r;
	if (old && same_dir(conf, old) && pwlen == l->bind_pwlen &&
	    (pwlen == 0 || memcmp(pw, l->bind_pw, pwlen) == 0)) {
		explicit_bzero(pw, sizeof(pw));
		return 0;
	}
	struct ldir_conf dc = {
		.servers = (const char *const *)conf->servers.v,
		.nservers = conf->servers.n,
		.domain = conf->domain,
		.srv_ldaps = true,
		.ca_file = conf->ca_file,
		.allow_plaintext = conf->allow_plaintext,
		.bind_dn = conf->bind_dn,
		.bind_password = conf->bind_dn[0] ? pw : NULL,
		.bind_password_len = pwlen,
		.timeout_ms = conf->timeout,
		.max_binds = (unsigned)conf->max_binds,
	};
	if ((r = ldir_new(scout_mod_loop(l->m), l->work, &dc, ret, err, errlen)) == 0) {
		explicit_bzero(l->bind_pw, sizeof(l->bind_pw));
		memcpy(l->bind_pw, pw, pwlen);
		l->bind_pwlen = pwlen;
	}
	explicit_bzero(pw, sizeof(pw));
	return r;
}

static int make_limits(const struct ldap_conf *conf, struct ratelimit **ret_user, struct ratelimit **ret_source)
{
	struct ratelimit *u = NULL, *s = NULL;
	int r;

	if (conf->max_failures > 0 &&
	    (r = ratelimit_new((unsigned)conf->max_failures, conf->failure_window, LDAP_LIMIT_KEYS, &u)) < 0)
		return r;
	if (conf->max_source_failures > 0 &&
	    (r = ratelimit_new((unsigned)conf->max_source_failures, conf->failure_window, LDAP_LIMIT_KEYS, &s)) < 0) {
		ratelimit_free(u);
		return r;
	}
	*ret_user = u;
	*ret_source = s;
	return 0;
}

static const char *dir_desc(const struct ldap_conf *conf, char *buf, size_t size)
{
	size_t o = 0;

	if (conf->servers.n == 0) {
		snprintf(buf, size, "the domain controllers of %s", conf->domain);
		return buf;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < conf->servers.n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", conf->servers.v[i]);
	return buf;
}

static int ldap_start(struct scout_mod *m)
{
	const struct ldap_conf *conf = scout_mod_conf(m);
	struct ldap *l = calloc(1, sizeof(*l));
	struct scout_topic *auth, *lookup;
	const char *key = NULL;
	char err[512], desc[512];
	int r;

	if (!l)
		return -ENOMEM;
	l->m = m;
	scout_list_init(&l->reqs);
	scout_mod_set_priv(m, l);
	if ((r = ldap_settings_make(conf, &l->set, &key, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "%s: %s", key ? key : "ldap", err);
		return r;
	}
	if ((r = scout_work_group_new(scout_mod_loop(m), "ldap", &l->work)) < 0 ||
	    (r = ucache_new(LDAP_CACHE_ENTRIES, &l->cache)) < 0 ||
	    (r = vtable_new(LDAP_CACHE_ENTRIES, &l->verifiers)) < 0 ||
	    (r = make_limits(conf, &l->rl_user, &l->rl_source)) < 0) {
		scout_mod_fail(m, "cannot set up: %s", strerror(-r));
		return r;
	}
	if ((r = make_dir(l, conf, NULL, &l->dir, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "%s", err);
		return r;
	}
	if ((r = scout_mod_topic(m, "auth.password", &auth)) < 0 ||
	    (r = scout_mod_topic(m, "user.lookup", &lookup)) < 0)
		return r;
	r = scout_bus_subscribe(scout_mod_bus(m), auth, ldap_on_auth, l, 1024, &l->auth_sub);
	if (r == -EBUSY) {
		scout_mod_fail(m, "auth.password has a server already: enable one of [users] and [ldap]");
		return r;
	}
	if (r < 0 || (r = scout_bus_subscribe(scout_mod_bus(m), lookup, ldap_on_lookup, l, 1024, &l->lookup_sub)) < 0) {
		scout_mod_fail(m, "cannot subscribe: %s", strerror(-r));
		return r;
	}
	log_info("ldap: %s directory at %s, users under %s",
		 conf->schema == LDAP_SCHEMA_AD ? "Active Directory" : "LDAP", dir_desc(conf, desc, sizeof(desc)),
		 l->set.base);
	return 0;
}

static int ldap_reload(struct scout_mod *m, const void *old_conf)
{
	const struct ldap_conf *conf = scout_mod_conf(m), *old = old_conf;
	struct ldap *l = scout_mod_priv(m);
	struct ldap_settings s;
	struct ratelimit *ru = NULL, *rs = NULL;
	struct ldir *dir = NULL;
	bool limits = conf->max_failures != old->max_failures ||
		      conf->max_source_failures != old->max_source_failures ||
		      conf->failure_window != old->failure_window;
	const char *key = NULL;
	char err[512];
	int r;

	if ((r = ldap_settings_make(conf, &s, &key, err, sizeof(err))) < 0) {
		scout_mod_refuse(m, "%s: %s", key ? key : "ldap", err);
		return r;
	}
	if (limits && (r = make_limits(conf, &ru, &rs)) < 0) {
		scout_mod_refuse(m, "cannot set up the rate limits: %s", strerror(-r));
		ldap_settings_free(&s);
		return r;
	}
	if ((r = make_dir(l, conf, old, &dir, err, sizeof(err))) < 0) {
		scout_mod_refuse(m, "%s", err);
		ldap_settings_free(&s);
		ratelimit_free(ru);
		ratelimit_free(rs);
		return r;
	}
	/* From here on the new configuration is taken. Requests in flight
	 * answer "unavailable" if their directory goes: they used the old
	 * servers or the old account. */
	if (dir) {
		ldap_req_fail_all(l, "the directory configuration changed; try again");
		ldir_close(l->dir, scout_mod_closer(m));
		l->dir = dir;
	}
	if (limits) {
		ratelimit_free(l->rl_user);
		ratelimit_free(l->rl_source);
		l->rl_user = ru;
		l->rl_source = rs;
	}
	/* attributes cached under other settings (attributes, base, filters)
	 * may not be what these would find */
	ucache_free(l->cache);
	l->cache = NULL;
	(void)ucache_new(LDAP_CACHE_ENTRIES, &l->cache);
	if (conf->offline_grace == 0) {
		vtable_free(l->verifiers);
		l->verifiers = NULL;
		(void)vtable_new(LDAP_CACHE_ENTRIES, &l->verifiers);
	}
	ldap_settings_free(&l->set);
	l->set = s;
	log_info("ldap: configuration reloaded%s", dir ? " (new directory connections)" : "");
	return 0;
}

static void ldap_status(struct scout_mod *m, json_t *obj)
{
	struct ldap *l = scout_mod_priv(m);
	size_t up, total;
	char detail[128];
	json_t *c;

	if (!l || !l->dir)
		return;
	/* the directory client's servers and its connection counters; the
	 * module's own counters (what logins and lookups came to) join them */
	ldir_status(l->dir, obj);
	c = json_object_get(obj, "counters");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(obj, "counters", c);
	}
	up = ldir_servers_up(l->dir, &total);
	snprintf(detail, sizeof(detail), "%zu of %zu servers up; logins: %llu accepted, %llu refused", up, total,
		 (unsigned long long)l->n.binds_ok, (unsigned long long)l->n.binds_denied);
	json_object_set_new(obj, "detail", json_string(detail));
	json_object_set_new(obj, "base", json_string(l->set.base));
	json_object_set_new(obj, "cached_users", json_integer((json_int_t)(l->cache ? ucache_count(l->cache) : 0)));
	json_object_set_new(obj, "in_progress", json_integer((json_int_t)l->inflight));
	const struct {
		const char *name;
		uint64_t v;
	} n[] = {
		{"binds_ok", l->n.binds_ok},       {"binds_denied", l->n.binds_denied},
		{"bind_errors", l->n.bind_errors}, {"search_errors", l->n.search_errors},
		{"cache_hits", l->n.cache_hits},   {"cache_misses", l->n.cache_misses},
		{"throttled", l->n.throttled},     {"offline_accepts", l->n.offline_accepts},
		{"requests", l->n.requests},       {"busy", l->n.busy},
	};
	for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		json_object_set_new(c, n[i].name, json_integer((json_int_t)n[i].v));
}

static void work_idle(void *arg)
{
	struct ldap *l = arg;
	scout_closer_release(scout_mod_closer(l->m));
}

static void ldap_cleanup(void *arg)
{
	struct ldap *l = arg;

	ldap_settings_free(&l->set);
	ucache_free(l->cache);
	vtable_free(l->verifiers);
	ratelimit_free(l->rl_user);
	ratelimit_free(l->rl_source);
	explicit_bzero(l->bind_pw, sizeof(l->bind_pw));
	free(l);
}

static void ldap_stop(struct scout_mod *m)
{
	struct ldap *l = scout_mod_priv(m);

	if (!l) {
		scout_mod_stopped(m);
		return;
	}
	scout_bus_unsubscribe(l->auth_sub);
	scout_bus_unsubscribe(l->lookup_sub);
	l->auth_sub = l->lookup_sub = NULL;
	ldap_req_fail_all(l, "the ldap module is stopping");
	l->stopping = true;
	if (l->dir) {
		ldir_close(l->dir, scout_mod_closer(m));
		l->dir = NULL;
	}
	if (l->work) {
		/* pool jobs (offline checks, verifiers) finish and free their
		 * requests in their done callbacks */
		scout_closer_hold(scout_mod_closer(m));
		scout_work_group_close(l->work, 1, work_idle, l);
		l->work = NULL;
	}
	scout_mod_stopped_when_closed(m, ldap_cleanup, l);
}

static const struct scout_topic_decl ldap_topics[] = {
	{"user.lookup", SCOUT_TOPIC_REQUEST,
	 "request {user: str} or {card: str} -> {ok: true, user, dn, display?, mail?, groups: [str], card?}; "
	 "-ENOENT {ok: false, reason: \"unknown\", text}, -EHOSTUNREACH {ok: false, reason: \"unavailable\", text}"},
	{0},
};

const struct scout_module scout_ldap_module = {
	.name = "ldap",
	.summary = "passwords and users checked against Active Directory or OpenLDAP",
	.default_enabled = false,
	.options = ldap_options,
	.conf_size = sizeof(struct ldap_conf),
	.configure = ldap_configure,
	.start = ldap_start,
	.reload = ldap_reload,
	.status = ldap_status,
	.stop = ldap_stop,
	.commands = ldap_commands,
	.topics = ldap_topics,
};
