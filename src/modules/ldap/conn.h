/* One connection to one directory server: set up on a pool thread
 * (ldap_initialize, options, TCP, TLS or StartTLS, every step bounded by the
 * timeout), then driven on the loop: the socket non-blocking, its
 * descriptor on a uv_poll, every complete answer handed to the owner. The
 * connection knows nothing of operations or servers' health: ldir.c does. */
#pragma once

#include <ldap.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "loop/list.h"
#include "loop/timer.h"

struct scout_closer;
struct scout_work_group;
struct ldir_conn;

/* What every connection of one directory shares. Borrowed by each
 * connection: it outlives them. */
struct conn_env {
	uv_loop_t *loop;
	struct scout_work_group *work;
	struct scout_closer *closer; /* held while a connection's job or close is pending */
	const char *ca_file;         /* NULL: the system store */
	bool allow_plaintext;
	uint64_t timeout_ms;
	/* Set-up ended: status 0 (ready; c->tls says whether it is
	 * encrypted) or -errno with reason ("URI: cause"). Not called for a
	 * connection closed before. */
	void (*up)(struct ldir_conn *c, int status, const char *reason);
	/* A complete answer (a search's whole chain): the callee owns res
	 * (ldap_msgfree). It may close c. */
	void (*msg)(struct ldir_conn *c, LDAPMessage *res);
	/* The connection failed on the loop (read error, server closed it). */
	void (*broken)(struct ldir_conn *c, int status, const char *reason);
};

enum conn_state {
	CONN_CONNECTING, /* set-up job on the pool */
	CONN_BINDING,    /* service bind in flight (ldir.c) */
	CONN_READY,
	CONN_DEAD, /* closed; freed once its job and poll handle are done */
};

struct ldir_conn {
	const struct conn_env *env;
	char *uri; /* copied */
	bool ldaps;
	enum conn_state state;
	bool tls; /* LDAPS or StartTLS done */
	LDAP *ld;
	int fd;
	uv_poll_t poll;
	bool poll_init;

	/* The owner's (ldir.c). */
	void *owner;            /* its server */
	bool svc;               /* service connection (searches) or bind connection */
	struct scout_list link; /* in the server's list */
	struct scout_list ops;  /* operations sent on it or waiting for it */
	unsigned nops;
	int bind_msgid;           /* the service bind's, 0 when none */
	struct scout_deadline dl; /* set-up and service bind */
	uint64_t used_at;         /* uv_now of the last answer */

	/* Set-up job: written by the pool thread, read in its done. */
	struct ldap_conncb conncb;
	/* A duplicate of the socket being set up, so that the loop can
	 * shut it down (conn_close) and end a TLS handshake that libldap
	 * would otherwise retry forever: libldap 2.5's GnuTLS handshake
	 * takes SO_RCVTIMEO's EAGAIN for "try again". fd_lock guards it. */
	pthread_mutex_t fd_lock;
	int setup_fd;
	bool aborted;
	bool job_pending;
	bool tcp_up;
	int job_status;
	char job_reason[256];
};

/* Starts connecting to uri (copied); env->up follows. 0 or -ENOMEM,
 * -ESHUTDOWN (the work group is closing). */
int conn_open(const struct conn_env *env, const char *uri, struct ldir_conn **ret_c);
/* Closes c (without any callback), at any time: a pending set-up is
 * cut short (its socket shut down) and its result thrown away. c is freed
 * later; do not touch it after. */
void conn_close(struct ldir_conn *c);
/* "URI: what libldap says" for the last error of c, in buf. */
const char *conn_reason(struct ldir_conn *c, int lderr, char *buf, size_t len);
/* An errno for a libldap error code on an established connection. */
int conn_errno(int lderr);
