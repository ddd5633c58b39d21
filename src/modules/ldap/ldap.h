/* The ldap module's own state, shared by its files: the [ldap] section as
 * parsed (struct ldap_conf) and as the module uses it once defaults that
 * depend on other keys are filled in (struct ldap_settings), the running
 * module (struct ldap), and what the auth, lookup and command files offer
 * each other. No other module includes it. */
#pragma once

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "ldir.h"
#include "limit.h"
#include "loop/config.h"
#include "loop/list.h"
#include "loop/module.h"
#include "verifier.h"

#define LDAP_MAX_NAME 256      /* a user name as typed, bytes */
#define LDAP_MAX_PASSWORD 1023 /* bytes */
#define LDAP_MAX_SOURCE 128
#define LDAP_MAX_CARD 128
#define LDAP_MAX_INFLIGHT 512 /* requests in progress; past it -EAGAIN */
#define LDAP_CACHE_ENTRIES 10000
#define LDAP_LIMIT_KEYS 10000

enum ldap_schema {
	LDAP_SCHEMA_AD,
	LDAP_SCHEMA_OPENLDAP,
};

struct ldap_strlist {
	char **v;
	size_t n;
};

/* The [ldap] section, field for key (see the options table in config.c). */
struct ldap_conf {
	struct ldap_strlist servers;
	char *domain;
	char *netbios_domain;
	int schema;
	char *ca_file;
	bool allow_plaintext;
	char *bind_dn;
	char *bind_password_file;
	char *base;
	char *user_filter;
	char *card_attribute;
	char *card_filter;
	char *name_attribute;
	char *display_attribute;
	char *mail_attribute;
	struct ldap_strlist allowed_groups;
	char *group_base;
	char *group_filter;
	uint64_t timeout;
	int64_t max_binds;
	uint64_t cache_for;
	uint64_t offline_grace;
	int64_t max_failures;
	int64_t max_source_failures;
	uint64_t failure_window;
};

extern const struct scout_option ldap_options[];
void ldap_configure(void *conf, struct scout_check *c);

/* What the module runs with: every default that depends on another key
 * (schema, domain) resolved, templates checked. Owned strings. */
struct ldap_settings {
	enum ldap_schema schema;
	char *domain;  /* "" when none */
	char *netbios; /* "" when none */
	char *base;
	char *user_filter;
	char *card_filter; /* NULL: no lookup by card */
	char *group_base;
	char *group_filter; /* openldap; AD searches member in-chain */
	char *name_attr;
	char *display_attr;
	char *mail_attr;
	char *card_attr; /* NULL when none */
};

/* Fills s from conf; -EINVAL with err naming the key ("user_filter:
 * position 3: ...") when a template or a derived value is not usable. */
int ldap_settings_make(const struct ldap_conf *conf, struct ldap_settings *s, const char **ret_key, char *err,
		       size_t errlen);
void ldap_settings_free(struct ldap_settings *s);

struct ldap_counters {
	uint64_t binds_ok, binds_denied, bind_errors;
	uint64_t search_errors; /* searches themselves are the directory client's count */
	uint64_t cache_hits, cache_misses;
	uint64_t throttled, offline_accepts;
	uint64_t requests, busy;
};

struct ldap {
	struct scout_mod *m;
	struct ldap_settings set;
	struct ldir *dir;
	/* the service account's password the directory client was made
	 * with, to tell at a reload whether the file changed */
	char bind_pw[LDAP_MAX_PASSWORD + 1];
	size_t bind_pwlen;
	struct scout_work_group *work;
	struct ucache *cache;
	struct ratelimit *rl_user, *rl_source; /* NULL: limit off */
	struct vtable *verifiers;
	struct scout_sub *auth_sub, *lookup_sub;
	struct scout_list reqs; /* struct ldap_req in progress */
	unsigned inflight;
	bool stopping;
	struct ldap_counters n;
};

/* One request in progress (auth.password, user.lookup, or their
 * commands): what it needs across callbacks. The password is a copy,
 * wiped when the request is freed. */
enum ldap_req_kind {
	LDAP_REQ_AUTH,
	LDAP_REQ_LOOKUP,
};

struct ldap_req {
	struct ldap *l;
	struct scout_list link;
	enum ldap_req_kind kind;
	uint64_t corr;                 /* bus request; 0 for a command */
	struct scout_status_req *sreq; /* command; NULL for the bus */
	struct ldir_op *op;
	uint64_t t0;
	char typed[LDAP_MAX_NAME + 1]; /* as sent; logged only when it passed the name checks */
	char name[LDAP_MAX_NAME + 1];  /* bare account name */
	char key[LDAP_MAX_NAME + 1];   /* lower-cased bare name: limits, verifiers */
	char source[LDAP_MAX_SOURCE + 1];
	char card[LDAP_MAX_CARD + 1];
	bool by_card, from_cache, allowed;
	char *pw; /* NUL-terminated copy */
	size_t pwlen;
	struct ldap_user *user;
	char server[256]; /* the server that answered last */
	struct ldap_verifier verifier;
	bool verifier_ok;
};

uint64_t ldap_now_ms(const struct ldap *l);

/* requests (ldap.c) */
int ldap_req_new(struct ldap *l, enum ldap_req_kind kind, struct ldap_req **ret);
void ldap_req_free(struct ldap_req *q);
/* Every request in progress answered "unavailable" (stop, a new directory). */
void ldap_req_fail_all(struct ldap *l, const char *why);

/* auth.c */
void ldap_on_auth(const struct scout_msg *msg, void *arg);
/* Starts a check of a password for the auth test command: 0 or -errno with
 * nothing sent. pw is copied. */
int ldap_auth_start(struct ldap *l, struct ldap_req *q, const char *user, size_t ulen, const char *pw, size_t pwlen);
void ldap_auth_abort(struct ldap_req *q, const char *why);

/* lookup.c */
/* "timed out", "failed (TLS)"...: how an operation ended, for a reply's
 * text ("the user search timed out: ldaps://dc1:636: ..."). */
const char *ldap_failure_verb(const struct ldir_result *res);
/* The bare account name of a name as typed: AD's forms (DOMAIN\user,
 * user@domain) through ldap_name_split, an openldap name whole; -EINVAL
 * (not a name: empty, too long, NUL, control characters, not UTF-8),
 * -EXDEV (another domain). */
int ldap_split_name(const struct ldap *l, const char *in, size_t len, const char **ret_name, size_t *ret_len);
void ldap_on_lookup(const struct scout_msg *msg, void *arg);
int ldap_lookup_start(struct ldap *l, struct ldap_req *q, const char *user, size_t ulen, bool by_card);
void ldap_lookup_abort(struct ldap_req *q, const char *why);
struct ldap_filter_vars;
/* Sends q's user search: tmpl expanded with v, under base, for the user's
 * attributes; cb gets the result. 0 when sent;
 * -EINVAL when the name does not fit the filter (nothing sent); -EHOSTUNREACH
 * when the search could not start (counted as a search error). */
int ldap_user_search(struct ldap_req *q, const char *tmpl, const struct ldap_filter_vars *v, ldir_cb cb);
/* A user from a search entry (name: the name attribute, else fallback);
 * NULL when out of memory. */
struct ldap_user *ldap_user_from_entry(const struct ldap *l, const struct ldir_entry *e, const char *fallback);
/* Searches the groups dn is in (nested too on AD); cb gets the entries. */
int ldap_groups_search(struct ldap *l, const char *dn, ldir_cb cb, void *arg, struct ldir_op **ret_op);
/* Puts the cn of every group entry into u->groups; true when one of them is
 * in allowed_groups (or allowed_groups is empty). */
bool ldap_groups_take(const struct ldap *l, const struct ldir_result *res, struct ldap_user *u);
/* The bus reply {ok: true, user, dn, display?, mail?, card?, groups,
 * offline?} to corr. */
void ldap_reply_user(struct ldap *l, uint64_t corr, const struct ldap_user *u, bool offline);
json_t *ldap_user_json(const struct ldap_user *u);
/* A bus reply {ok:false, reason, text} (and retry_after_ms when not 0). */
void ldap_reply_reason(struct ldap *l, uint64_t corr, int status, const char *reason, const char *text,
		       uint64_t retry_after_ms);

/* commands.c */
extern const struct scout_command ldap_commands[];
