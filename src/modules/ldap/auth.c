/* The auth.password flow: a name and a password in, accepted (with the
 * user's attributes and groups) or a reason out. Steps, each an
 * asynchronous directory operation:
 *
 *   1. the name as typed ("alice", "alice@scout.test", "SCOUT\alice") to
 *      the bare account name; the per-user and per-source failure limits;
 *   2. the user's entry: from the cache (cache_for), else a search as the
 *      service account with user_filter (at most 2 entries: 0 is an
 *      unknown name, answered like a wrong password, 2 is ambiguous);
 *      on AD, userAccountControl tells disabled, locked out and expired;
 *   3. a bind as the user's DN with the password, on one of the directory
 *      client's bind connections; always, also on a cache hit: a cached
 *      entry never stands in for a password check;
 *   4. the user's groups (nested ones on AD), checked against
 *      allowed_groups, on a cache miss or when allowed_groups is set.
 *
 * When every server is down and offline_grace is set, a verifier made
 * after the last successful bind (a salted scrypt hash, in memory only)
 * is checked on the thread pool instead. The password is copied once off
 * the bus (or the command) and wiped when the request ends; it is never
 * logged, and a reply's text never holds it. */
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
#include "loop/work.h"

/* AD's userAccountControl bits (and msDS-User-Account-Control-Computed's,
 * folded into the same word by ldap_user_from_entry). */
#define UAC_ACCOUNTDISABLE 0x2u
#define UAC_LOCKOUT 0x10u
#define UAC_PASSWORD_EXPIRED 0x800000u

static const char wrong[] = "unknown user or wrong password";

static uint64_t elapsed(const struct ldap_req *q)
{
	return ldap_now_ms(q->l) - q->t0;
}

static void log_decision(const struct ldap_req *q, const char *result, const char *detail)
{
	char by[300] = "";

	if (q->server[0])
		snprintf(by, sizeof(by), " by %s", q->server);
	if (q->name[0])
		log_info("ldap: %s %s%s%s%s%s in %llu ms", q->name, result, detail ? " (" : "", detail ? detail : "",
			 detail ? ")" : "", by, (unsigned long long)elapsed(q));
	else
		log_info("ldap: a name of %zu bytes %s%s%s%s%s in %llu ms", strlen(q->typed), result,
			 detail ? " (" : "", detail ? detail : "", detail ? ")" : "", by,
			 (unsigned long long)elapsed(q));
}

/* Answers a refusal (or an error) and ends the request. */
static void refuse(struct ldap_req *q, int status, const char *reason, const char *text, uint64_t retry_after_ms)
{
	struct ldap *l = q->l;

	if (q->sreq) {
		json_t *o =
			json_pack("{s:s, s:b, s:s, s:s, s:s, s:I}", "user", q->name[0] ? q->name : q->typed, "accepted",
				  0, "result", reason, "reason", reason, "text", text, "ms", (json_int_t)elapsed(q));
		if (q->server[0])
			json_object_set_new(o, "server", json_string(q->server));
		if (retry_after_ms)
			json_object_set_new(o, "retry_after_ms", json_integer((json_int_t)retry_after_ms));
		scout_status_reply(q->sreq, o);
	} else
		ldap_reply_reason(l, q->corr, status, reason, text, retry_after_ms);
	ldap_req_free(q);
}

static void fail_limits(struct ldap_req *q)
{
	uint64_t now = ldap_now_ms(q->l);

	if (q->l->rl_user && q->key[0])
		ratelimit_fail(q->l->rl_user, q->key, now);
	if (q->l->rl_source && q->source[0])
		ratelimit_fail(q->l->rl_source, q->source, now);
}

/* Hands q to a pool job: off the list of requests in progress, so that
 * ldap_req_fail_all leaves it to done, which answers or frees it. false,
 * with q back on the list, when the job cannot be queued. */
static bool to_pool(struct ldap_req *q, scout_work_fn work, scout_work_done_fn done)
{
	struct ldap *l = q->l;

	scout_list_remove(&q->link);
	if (scout_work_submit(l->work, work, done, q) == 0)
		return true;
	scout_list_insert_tail(&l->reqs, &q->link);
	return false;
}

static void verifier_work(void *arg)
{
	struct ldap_req *q = arg;

	q->verifier_ok = ldap_verifier_make(q->pw, q->pwlen, q->verifier.made_ms, &q->verifier) == 0;
}

static void verifier_done(void *arg, int status)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;

	if (status == 0 && q->verifier_ok && !l->stopping && l->verifiers)
		(void)vtable_put(l->verifiers, q->key, &q->verifier);
	explicit_bzero(&q->verifier, sizeof(q->verifier));
	ldap_req_free(q);
}

/* Accepted: answers, then (offline_grace) keeps a verifier of the password
 * made on the pool before the copy is wiped. */
static void accept_user(struct ldap_req *q, bool offline)
{
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);

	if (l->rl_user)
		ratelimit_clear(l->rl_user, q->key);
	if (q->sreq) {
		json_t *o = ldap_user_json(q->user);

		json_object_set_new(o, "accepted", json_true());
		json_object_set_new(o, "result", json_string("accepted"));
		json_object_set_new(o, "ms", json_integer((json_int_t)elapsed(q)));
		if (q->server[0] && !offline)
			json_object_set_new(o, "server", json_string(q->server));
		if (offline)
			json_object_set_new(o, "offline", json_true());
		scout_status_reply(q->sreq, o);
		q->sreq = NULL;
	} else {
		ldap_reply_user(l, q->corr, q->user, offline);
	}
	if (offline) {
		log_decision(q, "accepted offline", "every server down; the password matched the one accepted last");
		ldap_req_free(q);
		return;
	}
	log_decision(q, "accepted", NULL);
	if (conf->offline_grace > 0 && l->work) {
		q->verifier.made_ms = ldap_now_ms(l);
		if (to_pool(q, verifier_work, verifier_done))
			return;
	}
	ldap_req_free(q);
}

static void offline_work(void *arg)
{
	struct ldap_req *q = arg;

	q->verifier_ok = ldap_verifier_check(&q->verifier, q->pw, q->pwlen);
}

static void offline_done(void *arg, int status)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;

	explicit_bzero(&q->verifier, sizeof(q->verifier));
	if (status < 0 || l->stopping) {
		refuse(q, -EHOSTUNREACH, "unavailable", "every directory server is down", 0);
		return;
	}
	if (!q->verifier_ok) {
		fail_limits(q);
		log_decision(q, "refused offline", "every server down; not the password accepted last");
		/* the same answer as without a verifier: a caller does not learn
		 * who logged in lately */
		refuse(q, -EHOSTUNREACH, "unavailable", "every directory server is down", 0);
		return;
	}
	if (!q->user) {
		const struct ldap_user *c = l->cache ? ucache_get(l->cache, q->name, ldap_now_ms(l)) : NULL;
		struct ldap_user bare = {.name = q->name};

		q->user = ldap_user_dup(c ? c : &bare);
		if (!q->user) {
			refuse(q, -ENOMEM, "unavailable", "out of memory", 0);
			return;
		}
	}
	l->n.offline_accepts++;
	accept_user(q, true);
}

/* Every server down: the verifier of the password last accepted, if
 * offline_grace allows; false when there is none (the caller answers). */
static bool try_offline(struct ldap_req *q)
{
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	const struct ldap_verifier *v;

	if (conf->offline_grace == 0 || !l->verifiers || !l->work)
		return false;
	if (!(v = vtable_get(l->verifiers, q->key, ldap_now_ms(l), conf->offline_grace)))
		return false;
	q->verifier = *v;
	if (to_pool(q, offline_work, offline_done))
		return true;
	explicit_bzero(&q->verifier, sizeof(q->verifier));
	return false;
}

static void unavailable(struct ldap_req *q, const struct ldir_result *res, const char *what)
{
	char text[512];

	/* only when no server answered: an answer (busy, an error) is not
	 * "every server down" */
	if ((!res || res->status < 0) && try_offline(q))
		return;
	snprintf(text, sizeof(text), "%s %s: %s", what, ldap_failure_verb(res),
		 res && res->diag && res->diag[0] ? res->diag : "no directory server answered");
	log_warn("ldap: %s: %s", q->name, text);
	refuse(q, -EHOSTUNREACH, "unavailable", text, 0);
}

static void copy_server(struct ldap_req *q, const struct ldir_result *res)
{
	if (res->server)
		snprintf(q->server, sizeof(q->server), "%s", res->server);
}

/* The reason AD gives in a refused bind's message ("... data 775, v4563"). */
static const char *ad_reason(const char *diag)
{
	const char *p = diag ? strstr(diag, "data ") : NULL;
	unsigned long code;

	if (!p)
		return NULL;
	code = strtoul(p + 5, NULL, 16);
	switch (code) {
	case 0x533:
		return "disabled";
	case 0x775:
		return "locked";
	case 0x532: /* password expired */
	case 0x773: /* must change the password */
	case 0x701: /* account expired */
		return "expired";
	default:
		return NULL;
	}
}

static const char *reason_text(const char *reason)
{
	if (!strcmp(reason, "disabled"))
		return "the account is disabled";
	if (!strcmp(reason, "locked"))
		return "the account is locked out";
	if (!strcmp(reason, "expired"))
		return "the password or the account has expired";
	if (!strcmp(reason, "not-allowed"))
		return "not a member of the groups allowed to log in";
	return wrong;
}

static void on_groups(void *arg, const struct ldir_result *res)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	bool allowed;

	q->op = NULL;
	copy_server(q, res);
	if (res->status < 0 || (res->ldap_code != LDAP_SUCCESS && res->ldap_code != LDAP_SIZELIMIT_EXCEEDED)) {
		l->n.search_errors++;
		if (res->status == 0)
			log_warn("ldap: %s: the group search failed: %s (%d)", q->name,
				 res->diag && res->diag[0] ? res->diag : ldap_err2string(res->ldap_code),
				 res->ldap_code);
		unavailable(q, res, "the group search");
		return;
	}
	allowed = ldap_groups_take(l, res, q->user);
	if (!allowed) {
		log_decision(q, "denied", "not-allowed");
		refuse(q, -EACCES, "not-allowed", reason_text("not-allowed"), 0);
		return;
	}
	if (!q->from_cache && conf->cache_for > 0 && l->cache)
		(void)ucache_put(l->cache, q->user, ldap_now_ms(l), conf->cache_for);
	accept_user(q, false);
}

static void after_bind(struct ldap_req *q)
{
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	int r;

	if (q->from_cache && conf->allowed_groups.n == 0) {
		accept_user(q, false);
		return;
	}
	if ((r = ldap_groups_search(l, q->user->dn, on_groups, q, &q->op)) < 0) {
		l->n.search_errors++;
		refuse(q, r == -EAGAIN ? -EAGAIN : -EHOSTUNREACH, "unavailable", "cannot search the user's groups", 0);
	}
}

static void on_bind(void *arg, const struct ldir_result *res)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;
	const char *reason;

	q->op = NULL;
	copy_server(q, res);
	if (res->status < 0) {
		l->n.bind_errors++;
		unavailable(q, res, "the password check");
		return;
	}
	switch (res->ldap_code) {
	case LDAP_SUCCESS:
		l->n.binds_ok++;
		after_bind(q);
		return;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_UNWILLING_TO_PERFORM:
		l->n.binds_denied++;
		reason = ad_reason(res->diag);
		if (!reason) {
			reason = "denied";
			fail_limits(q);
		}
		/* a cached DN may be stale (the account moved or was renamed):
		 * the next login searches again */
		if (q->from_cache && l->cache)
			ucache_forget(l->cache, q->user->name);
		log_decision(q, "denied", reason);
		refuse(q, -EACCES, reason, reason_text(reason), 0);
		return;
	default:
		l->n.bind_errors++;
		log_warn("ldap: %s: the bind failed at %s: %s (%d)", q->name, q->server,
			 res->diag && res->diag[0] ? res->diag : ldap_err2string(res->ldap_code), res->ldap_code);
		unavailable(q, res, "the password check");
		return;
	}
}

static void bind_user(struct ldap_req *q)
{
	struct ldap *l = q->l;
	int r;

	r = ldir_bind(l->dir, q->user->dn, q->pw, q->pwlen, on_bind, q, &q->op);
	if (r == 0)
		return;
	l->n.bind_errors++;
	if (r == -EAGAIN)
		refuse(q, -EAGAIN, "unavailable", "too many password checks at once; try again", 0);
	else if (r == -EPERM) {
		log_error("ldap: %s: not sent: no server offers TLS for a password", q->name);
		refuse(q, -EHOSTUNREACH, "unavailable", "no directory server offers TLS for a password", 0);
	} else
		unavailable(q, NULL, "the password check");
}

static void on_search(void *arg, const struct ldir_result *res)
{
	struct ldap_req *q = arg;
	struct ldap *l = q->l;
	uint32_t uac;

	q->op = NULL;
	copy_server(q, res);
	if (res->status < 0) {
		l->n.search_errors++;
		unavailable(q, res, "the user search");
		return;
	}
	if (res->ldap_code == LDAP_SIZELIMIT_EXCEEDED || res->nentries > 1) {
		log_warn("ldap: %s: ambiguous: user_filter finds more than one entry", q->name);
		log_decision(q, "denied", "ambiguous");
		refuse(q, -EACCES, "denied", wrong, 0);
		return;
	}
	if (res->ldap_code != LDAP_SUCCESS && res->ldap_code != LDAP_NO_SUCH_OBJECT) {
		l->n.search_errors++;
		log_warn("ldap: %s: the user search failed at %s: %s (%d)", q->name, q->server,
			 res->diag && res->diag[0] ? res->diag : ldap_err2string(res->ldap_code), res->ldap_code);
		refuse(q, -EHOSTUNREACH, "unavailable", "the user search failed", 0);
		return;
	}
	if (res->nentries == 0) {
		fail_limits(q);
		log_decision(q, "denied", "no such user");
		refuse(q, -EACCES, "denied", wrong, 0);
		return;
	}
	if (!(q->user = ldap_user_from_entry(l, &res->entries[0], q->name))) {
		refuse(q, -ENOMEM, "unavailable", "out of memory", 0);
		return;
	}
	uac = q->user->uac;
	if (l->set.schema == LDAP_SCHEMA_AD && (uac & (UAC_ACCOUNTDISABLE | UAC_LOCKOUT | UAC_PASSWORD_EXPIRED))) {
		const char *reason = uac & UAC_ACCOUNTDISABLE ? "disabled" : uac & UAC_LOCKOUT ? "locked" : "expired";

		l->n.binds_denied++;
		log_decision(q, "denied", reason);
		refuse(q, -EACCES, reason, reason_text(reason), 0);
		return;
	}
	bind_user(q);
}

static void search_user(struct ldap_req *q)
{
	struct ldap *l = q->l;
	struct ldap_filter_vars v = {.u = q->name, .ulen = strlen(q->name)};
	int r;

	r = ldap_user_search(q, l->set.user_filter, &v, on_search);
	if (r == -EINVAL) {
		/* the name passed ldap_name_split: only a huge expansion gets here */
		log_decision(q, "denied", "the name does not fit the user filter");
		refuse(q, -EACCES, "denied", wrong, 0);
	} else if (r < 0)
		unavailable(q, NULL, "the user search");
}

/* Steps 1 and 2: the name, the limits, the entry. Every outcome answers. */
static void auth_run(struct ldap_req *q, const char *user, size_t ulen)
{
	struct ldap *l = q->l;
	const struct ldap_conf *conf = scout_mod_conf(l->m);
	const struct ldap_user *cached;
	const char *bare;
	size_t blen;
	uint64_t now = ldap_now_ms(l), retry = 0, retry2 = 0;
	bool blocked;
	int r;

	memcpy(q->typed, user, ulen < LDAP_MAX_NAME ? ulen : LDAP_MAX_NAME);
	r = ldap_split_name(l, user, ulen, &bare, &blen);
	if (r < 0 || blen > LDAP_MAX_NAME) {
		q->typed[0] = '\0';
		if (r == -EXDEV) {
			/* a well-formed name of another domain may be shown */
			snprintf(q->name, sizeof(q->name), "%.*s", (int)(ulen < LDAP_MAX_NAME ? ulen : LDAP_MAX_NAME),
				 user);
			log_decision(q, "denied", "another domain");
		} else
			log_info("ldap: a name of %zu bytes denied (not a user name)", ulen);
		refuse(q, -EACCES, "denied", wrong, 0);
		return;
	}
	memcpy(q->name, bare, blen);
	q->name[blen] = '\0';
	for (size_t i = 0; i <= blen; i++)
		q->key[i] = (char)tolower((unsigned char)q->name[i]);

	blocked = l->rl_user && ratelimit_blocked(l->rl_user, q->key, now, &retry);
	if (l->rl_source && q->source[0] && ratelimit_blocked(l->rl_source, q->source, now, &retry2))
		blocked = true;
	if (blocked) {
		char text[128];

		l->n.throttled++;
		if (retry2 > retry)
			retry = retry2;
		snprintf(text, sizeof(text), "too many failed logins; try again in %llu s",
			 (unsigned long long)(retry + 999) / 1000);
		log_decision(q, "throttled", q->source[0] ? q->source : NULL);
		refuse(q, -EAGAIN, "throttled", text, retry ? retry : 1);
		return;
	}
	if (!ldir_available(l->dir) && try_offline(q))
		return;
	cached = conf->cache_for > 0 && l->cache ? ucache_get(l->cache, q->name, now) : NULL;
	if (cached) {
		l->n.cache_hits++;
		q->from_cache = true;
		if (!(q->user = ldap_user_dup(cached))) {
			refuse(q, -ENOMEM, "unavailable", "out of memory", 0);
			return;
		}
		bind_user(q);
		return;
	}
	l->n.cache_misses++;
	search_user(q);
}

int ldap_auth_start(struct ldap *l, struct ldap_req *q, const char *user, size_t ulen, const char *pw, size_t pwlen)
{
	/* an empty password is an anonymous bind to LDAP, which "succeeds":
	 * never sent */
	if (ulen == 0 || pwlen == 0 || pwlen > LDAP_MAX_PASSWORD || memchr(pw, '\0', pwlen))
		return -EINVAL;
	if (!(q->pw = malloc(pwlen + 1)))
		return -ENOMEM;
	memcpy(q->pw, pw, pwlen);
	q->pw[pwlen] = '\0';
	q->pwlen = pwlen;
	auth_run(q, user, ulen);
	return 0;
}

void ldap_auth_abort(struct ldap_req *q, const char *why)
{
	refuse(q, -EHOSTUNREACH, "unavailable", why, 0);
}

void ldap_on_auth(const struct scout_msg *msg, void *arg)
{
	struct ldap *l = arg;
	struct ldap_req *q = NULL;
	msgpack_unpacked up;
	const char *user = NULL, *pw = NULL, *src = NULL;
	size_t ulen = 0, pwlen = 0, slen = 0;
	int r = -EINVAL;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, msg->data, msg->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_str(&up.data, "user", &user, &ulen) == 0 &&
	    scout_pack_get_str(&up.data, "password", &pw, &pwlen) == 0) {
		r = scout_pack_get_str(&up.data, "source", &src, &slen);
		if (r == -ENOENT || (r == 0 && slen <= LDAP_MAX_SOURCE && !memchr(src, '\0', slen)))
			r = ldap_req_new(l, LDAP_REQ_AUTH, &q);
		else
			r = -EINVAL;
	}
	if (r == 0) {
		q->corr = msg->corr;
		if (src)
			memcpy(q->source, src, slen);
		r = ldap_auth_start(l, q, user, ulen, pw, pwlen);
		if (r < 0)
			ldap_req_free(q);
	}
	msgpack_unpacked_destroy(&up);
	if (r == -EINVAL)
		ldap_reply_reason(l, msg->corr, -EINVAL, "denied",
				  "auth.password needs a user and a password (1 to 1023 bytes, no NUL)", 0);
	else if (r == -EAGAIN)
		ldap_reply_reason(l, msg->corr, -EAGAIN, "unavailable", "too many password checks at once", 0);
	else if (r < 0)
		ldap_reply_reason(l, msg->corr, -EHOSTUNREACH, "unavailable", strerror(-r), 0);
}
