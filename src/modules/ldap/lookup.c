/* user.lookup: a user by account name or by card number (card_attribute),
 * from the cache or from the directory (a search as the service account,
 * then the user's groups), with no password involved: for a printer panel
 * that reads a badge, or an operator's `scoutctl user`. Also what the
 * auth flow shares with it: the attributes asked for, a user built from
 * an entry, the group search, the replies' shapes. */
#include <ctype.h>
#include <errno.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "ldap.h"
#include "loop/bus.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/utf8.h"

#define AD_IN_CHAIN "1.2.840.113556.1.4.1941"

/* The attributes a user search asks for (NULL-terminated, into attrs of
 * at least 8). */
static void ldap_user_attrs(const struct ldap *l, const char **attrs)
{
	size_t n = 0;

	attrs[n++] = l->set.name_attr;
	attrs[n++] = l->set.display_attr;
	attrs[n++] = "cn";
	attrs[n++] = l->set.mail_attr;
	if (l->set.card_attr)
		attrs[n++] = l->set.card_attr;
	if (l->set.schema == LDAP_SCHEMA_AD) {
		attrs[n++] = "userAccountControl";
		attrs[n++] = "msDS-User-Account-Control-Computed";
	}
	attrs[n] = NULL;
}

int ldap_user_search(struct ldap_req *q, const char *tmpl, const struct ldap_filter_vars *v, ldir_cb cb)
{
	struct ldap *l = q->l;
	const char *attrs[8];
	char *filter = NULL;
	int r;

	if (ldap_filter_expand(tmpl, v, &filter) < 0)
		return -EINVAL;
	ldap_user_attrs(l, attrs);
	r = ldir_search(l->dir, l->set.base, LDAP_SCOPE_SUBTREE, filter, attrs, 2, cb, q, &q->op);
	free(filter);
	if (r < 0) {
		l->n.search_errors++;
		return -EHOSTUNREACH;
	}
	return 0;
}

static const struct ldir_val *first_val(const struct ldir_entry *e, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < e->nattrs; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0 && e->attrs[i].nvals > 0)
			return &e->attrs[i].vals[0];
	return NULL;
}

/* A value fit to show and to pass on (JSON, msgpack str): UTF-8 text
 * without NUL; NULL for anything else (a binary attribute). */
static char *text_of(const struct ldir_val *v)
{
	if (!v || v->len == 0 || memchr(v->v, '\0', v->len) || !scout_utf8_valid(v->v, v->len, false))
		return NULL;
	return strndup(v->v, v->len);
}

struct ldap_user *ldap_user_from_entry(const struct ldap *l, const struct ldir_entry *e, const char *fallback)
{
	struct ldap_user *u = calloc(1, sizeof(*u));
	const struct ldir_val *v;

	if (!u)
		return NULL;
	u->dn = strdup(e->dn ? e->dn : "");
	u->name = text_of(first_val(e, l->set.name_attr));
	if (!u->name)
		u->name = strdup(fallback ? fallback : "");
	u->display = text_of(first_val(e, l->set.display_attr));
	if (!u->display)
		u->display = text_of(first_val(e, "cn"));
	u->mail = text_of(first_val(e, l->set.mail_attr));
	u->card = text_of(first_val(e, l->set.card_attr));
	if (l->set.schema == LDAP_SCHEMA_AD) {
		if ((v = first_val(e, "userAccountControl")))
			u->uac |= (uint32_t)strtoul(v->v, NULL, 10);
		if ((v = first_val(e, "msDS-User-Account-Control-Computed")))
			u->uac |= (uint32_t)strtoul(v->v, NULL, 10);
	}
	if (!u->dn || !u->name) {
		ldap_user_free(u);
		return NULL;
	}
	return u;
}

int ldap_groups_search(struct ldap *l, const char *dn, ldir_cb cb, void *arg, struct ldir_op **ret_op)
{
	static const char *const attrs[] = {"cn", NULL};
	struct ldap_filter_vars v = {.d = dn, .dlen = strlen(dn)};
	bool ad = l->set.schema == LDAP_SCHEMA_AD;
	char *filter;
	int r;

	/* AD: every group the user is in, through nested groups too (the
	 * in-chain matching rule); openldap: group_filter */
	if ((r = ldap_filter_expand(ad ? "(member:" AD_IN_CHAIN ":=%d)" : l->set.group_filter, &v, &filter)) < 0)
		return r;
	r = ldir_search(l->dir, ad ? l->set.base : l->set.group_base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, cb, arg,
			ret_op);
	free(filter);
	return r;
}

/* DNs compared as people write them: case and the spaces after commas
 * do not count. */
static bool dn_equal(const char *a, const char *b)
{
	while (*a && *b) {
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		if (*a == ',') {
			while (a[1] == ' ')
				a++;
			while (b[1] == ' ')
				b++;
		}
		a++;
		b++;
	}
	return *a == *b;
}

bool ldap_groups_take(const struct ldap *l, const struct ldir_result *res, struct ldap_user *u)
{
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	bool allowed = conf->allowed_groups.n == 0;
	char **g;

	for (size_t i = 0; i < u->ngroups; i++)
		free(u->groups[i]);
	free(u->groups);
	u->groups = NULL;
	u->ngroups = 0;
	if (res->nentries == 0 || !(g = calloc(res->nentries, sizeof(*g))))
		return allowed;
	u->groups = g;
	for (size_t i = 0; i < res->nentries; i++) {
		const struct ldir_entry *e = &res->entries[i];
		char *cn = text_of(first_val(e, "cn"));

		if (cn)
			u->groups[u->ngroups++] = cn;
		for (size_t k = 0; !allowed && e->dn && k < conf->allowed_groups.n; k++)
			allowed = dn_equal(e->dn, conf->allowed_groups.v[k]);
	}
	return allowed;
}

void ldap_reply_user(struct ldap *l, uint64_t corr, const struct ldap_user *u, bool offline)
{
	size_t n = 4 + (u->display != NULL) + (u->mail != NULL) + (u->card != NULL) + offline;
	msgpack_sbuffer sb;
	msgpack_packer packer, *pk = &packer;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(pk, &sb, msgpack_sbuffer_write);

	msgpack_pack_map(pk, n);
	scout_pack_str(pk, "ok");
	msgpack_pack_true(pk);
	scout_pack_str(pk, "user");
	scout_pack_str(pk, u->name);
	scout_pack_str(pk, "dn");
	scout_pack_str(pk, u->dn ? u->dn : "");
	if (u->display) {
		scout_pack_str(pk, "display");
		scout_pack_str(pk, u->display);
	}
	if (u->mail) {
		scout_pack_str(pk, "mail");
		scout_pack_str(pk, u->mail);
	}
	if (u->card) {
		scout_pack_str(pk, "card");
		scout_pack_str(pk, u->card);
	}
	scout_pack_str(pk, "groups");
	msgpack_pack_array(pk, u->ngroups);
	for (size_t i = 0; i < u->ngroups; i++)
		scout_pack_str(pk, u->groups[i]);
	if (offline) {
		scout_pack_str(pk, "offline");
		msgpack_pack_true(pk);
	}
	(void)scout_bus_reply(scout_mod_bus(l->m), corr, 0, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

json_t *ldap_user_json(const struct ldap_user *u)
{
	json_t *o = json_object(), *g = json_array();

	json_object_set_new(o, "user", json_string(u->name));
	json_object_set_new(o, "dn", json_string(u->dn ? u->dn : ""));
	if (u->display)
		json_object_set_new(o, "display", json_string(u->display));
	if (u->mail)
		json_object_set_new(o, "mail", json_string(u->mail));
	if (u->card)
		json_object_set_new(o, "card", json_string(u->card));
	for (size_t i = 0; i < u->ngroups; i++)
		json_array_append_new(g, json_string(u->groups[i]));
	json_object_set_new(o, "groups", g);
	return o;
}

void ldap_reply_reason(struct ldap *l, uint64_t corr, int status, const char *reason, const char *text,
		       uint64_t retry_after_ms)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, retry_after_ms ? 4 : 3);
	scout_pack_str(&pk, "ok");
	msgpack_pack_false(&pk);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, reason);
	scout_pack_str(&pk, "text");
	scout_pack_str(&pk, text);
	if (retry_after_ms) {
		scout_pack_str(&pk, "retry_after_ms");
		msgpack_pack_uint64(&pk, retry_after_ms);
	}
	(void)scout_bus_reply(scout_mod_bus(l->m), corr, status, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

const char *ldap_failure_verb(const struct ldir_result *res)
{
	if (!res)
		return "failed";
	switch (res->status) {
	case -ETIMEDOUT:
		return "timed out";
	case -EPROTO:
		return "failed (TLS)";
	case -EHOSTUNREACH:
		return "failed (no server reachable)";
	default:
		return "failed";
	}
}

int ldap_split_name(const struct ldap *l, const char *in, size_t len, const char **ret_name, size_t *ret_len)
{
	/* DOMAIN\user and user@domain are Active Directory's forms; an
	 * OpenLDAP uid may hold either character, so it is taken whole */
	if (l->set.schema == LDAP_SCHEMA_AD)
		return ldap_name_split(in, len, l->set.domain, l->set.netbios, ret_name, ret_len);
	if (len == 0 || len > LDAP_MAX_NAME || memchr(in, '\0', len) || !scout_utf8_valid(in, len, true))
		return -EINVAL;
	*ret_name = in;
	*ret_len = len;
	return 0;
}

static const char *what(const struct ldap_req *q)
{
	return q->by_card ? "card" : q->name;
}

static void lookup_fail(struct ldap_req *q, int status, const char *reason, const char *text)
{
	if (q->sreq)
		scout_status_error(q->sreq, strcmp(reason, "unknown") == 0 ? "not_found" : "unavailable", "%s", text);
	else
		ldap_reply_reason(q->l, q->corr, status, reason, text, 0);
	ldap_req_free(q);
}

static void lookup_done(struct ldap_req *q)
{
	if (q->sreq) {
		json_t *o = ldap_user_json(q->user);

		json_object_set_new(o, "from", json_string(q->from_cache ? "cache" : q->server));
		scout_status_reply(q->sreq, o);
	} else {
		ldap_reply_user(q->l, q->corr, q->user, false);
	}
	ldap_req_free(q);
}

static void unavailable(struct ldap_req *q, const struct ldir_result *res, const char *step)
{
	char text[512];

	snprintf(text, sizeof(text), "%s %s: %s", step, ldap_failure_verb(res),
		 res && res->diag && res->diag[0] ? res->diag
		 : res && res->status == 0        ? ldap_err2string(res->ldap_code)
						  : "no directory server answered");
	log_warn("ldap: lookup of %s: %s", what(q), text);
	lookup_fail(q, -EHOSTUNREACH, "unavailable", text);
}

static void on_groups(void *arg, const struct ldir_result *res)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);

	q->op = NULL;
	if (res->status < 0 || (res->ldap_code != LDAP_SUCCESS && res->ldap_code != LDAP_SIZELIMIT_EXCEEDED)) {
		l->n.search_errors++;
		unavailable(q, res, "the group search");
		return;
	}
	(void)ldap_groups_take(l, res, q->user);
	if (conf->cache_for > 0 && l->cache)
		(void)ucache_put(l->cache, q->user, ldap_now_ms(l), conf->cache_for);
	lookup_done(q);
}

static void on_search(void *arg, const struct ldir_result *res)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;
	int r;

	q->op = NULL;
	if (res->server)
		snprintf(q->server, sizeof(q->server), "%s", res->server);
	if (res->status < 0 || (res->ldap_code != LDAP_SUCCESS && res->ldap_code != LDAP_SIZELIMIT_EXCEEDED &&
				res->ldap_code != LDAP_NO_SUCH_OBJECT)) {
		l->n.search_errors++;
		unavailable(q, res, "the user search");
		return;
	}
	if (res->nentries == 0) {
		lookup_fail(q, -ENOENT, "unknown", q->by_card ? "no user has that card" : "no such user");
		return;
	}
	if (res->nentries > 1 || res->ldap_code == LDAP_SIZELIMIT_EXCEEDED) {
		log_warn("ldap: lookup of %s: ambiguous: more than one entry", what(q));
		lookup_fail(q, -ENOENT, "unknown", "more than one entry matches");
		return;
	}
	if (!(q->user = ldap_user_from_entry(l, &res->entries[0], q->by_card ? NULL : q->name))) {
		lookup_fail(q, -EHOSTUNREACH, "unavailable", "out of memory");
		return;
	}
	if ((r = ldap_groups_search(l, q->user->dn, on_groups, q, &q->op)) < 0) {
		l->n.search_errors++;
		unavailable(q, NULL, "the group search");
	}
}

int ldap_lookup_start(struct ldap *l, struct ldap_req *q, const char *user, size_t ulen, bool by_card)
{
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	const struct ldap_user *cached;
	struct ldap_filter_vars v = {0};
	uint64_t now = ldap_now_ms(l);
	const char *bare;
	size_t blen;
	int r;

	q->by_card = by_card;
	if (by_card) {
		if (!l->set.card_filter) {
			lookup_fail(q, -ENOENT, "unknown", "no card_attribute is configured: no lookups by card");
			return 0;
		}
		if (ulen == 0 || ulen > LDAP_MAX_CARD || memchr(user, '\0', ulen)) {
			lookup_fail(q, -ENOENT, "unknown", "not a card number");
			return 0;
		}
		memcpy(q->card, user, ulen);
		cached = conf->cache_for > 0 && l->cache ? ucache_get_card(l->cache, q->card, now) : NULL;
		v.c = q->card;
		v.clen = ulen;
	} else {
		r = ldap_split_name(l, user, ulen, &bare, &blen);
		if (r < 0 || blen > LDAP_MAX_NAME) {
			lookup_fail(q, -ENOENT, "unknown",
				    r == -EXDEV ? "a name of another domain" : "not a user name");
			return 0;
		}
		memcpy(q->name, bare, blen);
		cached = conf->cache_for > 0 && l->cache ? ucache_get(l->cache, q->name, now) : NULL;
		v.u = q->name;
		v.ulen = blen;
	}
	if (cached) {
		l->n.cache_hits++;
		q->from_cache = true;
		if (!(q->user = ldap_user_dup(cached))) {
			lookup_fail(q, -EHOSTUNREACH, "unavailable", "out of memory");
			return 0;
		}
		lookup_done(q);
		return 0;
	}
	l->n.cache_misses++;
	r = ldap_user_search(q, by_card ? l->set.card_filter : l->set.user_filter, &v, on_search);
	if (r == -EINVAL)
		lookup_fail(q, -ENOENT, "unknown", "does not fit the search filter");
	else if (r < 0)
		unavailable(q, NULL, "the user search");
	return 0;
}

void ldap_lookup_abort(struct ldap_req *q, const char *why)
{
	lookup_fail(q, -EHOSTUNREACH, "unavailable", why);
}

void ldap_on_lookup(const struct scout_msg *msg, void *arg)
{
	struct ldap *l = arg;
	struct ldap_req *q;
	msgpack_unpacked up;
	const char *user = NULL, *card = NULL;
	size_t ulen = 0, clen = 0;
	int r = -EINVAL;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, msg->data, msg->len, NULL) == MSGPACK_UNPACK_SUCCESS) {
		int ru = scout_pack_get_str(&up.data, "user", &user, &ulen);
		int rc = scout_pack_get_str(&up.data, "card", &card, &clen);

		if ((ru == 0) != (rc == 0) && (ru == 0 || ru == -ENOENT) && (rc == 0 || rc == -ENOENT) &&
		    (r = ldap_req_new(l, LDAP_REQ_LOOKUP, &q)) == 0) {
			q->corr = msg->corr;
			(void)ldap_lookup_start(l, q, card ? card : user, card ? clen : ulen, card != NULL);
		}
	}
	msgpack_unpacked_destroy(&up);
	if (r == -EINVAL)
		ldap_reply_reason(l, msg->corr, -EINVAL, "unknown", "user.lookup needs a user or a card (a string)", 0);
	else if (r < 0)
		ldap_reply_reason(l, msg->corr, -EHOSTUNREACH, "unavailable",
				  r == -EAGAIN ? "too many requests at once" : strerror(-r), 0);
}
