/* The directory as the rest of the module sees it: servers (configured or
 * found through DNS SRV), connections, TLS and fail-over. Everything that
 * can block on the network (ldap_initialize + connect + TLS handshake +
 * StartTLS, SRV lookups) runs on the module's work group; operations run on
 * the loop with libldap's asynchronous calls (ldap_search_ext,
 * ldap_sasl_bind with LDAP_SASL_SIMPLE, ldap_result with a zero timeout),
 * the connection's descriptor on a uv_poll, the socket non-blocking. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct scout_work_group;
struct scout_closer;
struct ldir;
struct ldir_op;

struct ldir_conf {
	const char *const *servers; /* URIs, preference order; may be empty when domain is set */
	size_t nservers;
	const char *domain;        /* SRV discovery (only when nservers == 0) */
	bool srv_ldaps;            /* SRV targets: ldaps://host:636 (true) or ldap://host:port + StartTLS */
	const char *ca_file;       /* "" or NULL: system store */
	bool allow_plaintext;      /* ldap:// without StartTLS allowed (no simple bind over it) */
	const char *bind_dn;       /* "" or NULL: anonymous searches */
	const char *bind_password; /* copied by ldir_new, wiped at close */
	size_t bind_password_len;
	uint64_t timeout_ms; /* one attempt on one server */
	unsigned max_binds;  /* bind connections per server */
};

/* conf strings are copied. work is the module's group (borrowed; outlives d). */
int ldir_new(uv_loop_t *loop, struct scout_work_group *work, const struct ldir_conf *conf, struct ldir **ret_d,
	     char *err, size_t errlen);
/* Cancels every operation (their callbacks do not run), closes every
 * connection; holds closer until all handles are closed and pool jobs
 * done, then frees d. */
void ldir_close(struct ldir *d, struct scout_closer *closer);

#define LDIR_MAX_QUEUED 1024

struct ldir_val {
	const char *v;
	size_t len;
}; /* v is NUL-terminated too */
struct ldir_attr {
	const char *name;
	const struct ldir_val *vals;
	size_t nvals;
};
struct ldir_entry {
	const char *dn;
	const struct ldir_attr *attrs;
	size_t nattrs;
};

/* status: 0 = the server answered (ldap_code says what: LDAP_SUCCESS,
 * LDAP_NO_SUCH_OBJECT, LDAP_SIZELIMIT_EXCEEDED ... are answers);
 * -ETIMEDOUT, -EHOSTUNREACH (every server down / unreachable), -EPROTO
 * (TLS / certificate failure on every server tried), -ECANCELED never
 * reaches the callback (cancelled ops are silent). */
struct ldir_result {
	int status;
	int ldap_code;
	const char *diag;                 /* server's diagnostic message or our reason; never a password */
	const char *server;               /* URI of the server that answered, or the last one tried */
	uint64_t ms;                      /* time taken */
	const struct ldir_entry *entries; /* search only */
	size_t nentries;
};
typedef void (*ldir_cb)(void *arg, const struct ldir_result *res);

/* Search over a service-account connection (bound as bind_dn, or anonymous).
 * A connection-level failure (down, timeout, TLS) marks the server down and
 * retries the next one while time is left; an LDAP answer is final.
 * attrs NULL-terminated. sizelimit 0: none. Result and entries borrowed
 * during cb. Returns 0 and (if ret_op) a handle for ldir_cancel, or -errno
 * (cb never runs then). */
int ldir_search(struct ldir *d, const char *base, int scope, const char *filter, const char *const *attrs,
		int sizelimit, ldir_cb cb, void *arg, struct ldir_op **ret_op);
/* Simple bind as dn with password on a bind connection (at most max_binds
 * per server at once; further binds queue, each within its deadline:
 * -EAGAIN past LDIR_MAX_QUEUED queued, every server together). Never over a connection without TLS (-EPERM).
 * LDAP_INVALID_CREDENTIALS and every other LDAP answer is final: never
 * retried on another server (AD would count the failure twice). The
 * password is copied and wiped once sent. */
int ldir_bind(struct ldir *d, const char *dn, const char *password, size_t pwlen, ldir_cb cb, void *arg,
	      struct ldir_op **ret_op);
/* The callback will not run; safe from inside another callback. */
void ldir_cancel(struct ldir_op *op);
/* false when every server is known down (for offline_grace). */
bool ldir_available(const struct ldir *d);
/* How many servers are up, of *ret_total known. */
size_t ldir_servers_up(const struct ldir *d, size_t *ret_total);
/* "servers": [{uri, state, latency_ms, last_error, since, source: config|srv}], plus
 * counters searches, binds (operations done), connects, connect_errors. */
void ldir_status(const struct ldir *d, json_t *obj);
