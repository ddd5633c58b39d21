/* Connections to one directory server. The set-up (ldap_initialize, the
 * options, TCP connect, the TLS handshake for ldaps:// or StartTLS for
 * ldap://) blocks, so it runs as a job on the module's work group; each
 * network step there is bounded by the timeout: LDAP_OPT_NETWORK_TIMEOUT
 * for the TCP connect, LDAP_OPT_TIMEOUT for StartTLS's answer, and
 * SO_RCVTIMEO/SO_SNDTIMEO set from LDAP_OPT_CONNECT_CB as soon as the
 * socket exists, so that a TLS handshake with a server that accepts TCP and
 * never answers ends too and a pool thread is never stuck. Back on the
 * loop the socket goes non-blocking and onto a uv_poll; on every readable
 * event ldap_result() with a zero timeout is called until it has nothing
 * more, since GnuTLS may hold records already read from the socket. */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop/closer.h"
#include "loop/work.h"

int conn_errno(int lderr)
{
	switch (lderr) {
	case LDAP_TIMEOUT:
		return -ETIMEDOUT;
	case LDAP_NO_MEMORY:
		return -ENOMEM;
	default:
		return -EHOSTUNREACH;
	}
}

const char *conn_reason(struct ldir_conn *c, int lderr, char *buf, size_t len)
{
	char *diag = NULL;

	if (c->ld)
		ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag && *diag)
		snprintf(buf, len, "%s: %s (%s)", c->uri, ldap_err2string(lderr), diag);
	else
		snprintf(buf, len, "%s: %s", c->uri, ldap_err2string(lderr));
	ldap_memfree(diag);
	return buf;
}

/* Runs on the pool thread inside ldap_connect, right after the TCP
 * connect: from here on every read and write of the set-up is bounded. */
static int on_sock_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr, struct ldap_conncb *ctx)
{
	struct ldir_conn *c = ctx->lc_arg;
	struct timeval tv = {
		.tv_sec = (time_t)(c->env->timeout_ms / 1000),
		.tv_usec = (suseconds_t)(c->env->timeout_ms % 1000) * 1000,
	};
	int fd = -1;
	(void)ld;
	(void)srv;
	(void)addr;

	c->tcp_up = true;
	if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) != 1 || fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&c->fd_lock);
	if (c->setup_fd < 0)
		c->setup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (c->aborted && c->setup_fd >= 0)
		shutdown(c->setup_fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->fd_lock);
	return 0;
}

static void on_sock_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
}

static void job_fail(struct ldir_conn *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void job_fail(struct ldir_conn *c, int status, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(c->job_reason, sizeof(c->job_reason), "%s: ", c->uri);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(c->job_reason))
		vsnprintf(c->job_reason + n, sizeof(c->job_reason) - (size_t)n, fmt, ap);
	va_end(ap);
	c->job_status = status;
}

/* The diagnostic libldap left: GnuTLS's words for a TLS failure. */
static const char *diag_of(LDAP *ld, char *buf, size_t len)
{
	char *diag = NULL;

	buf[0] = '\0';
	if (ld && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS && diag)
		snprintf(buf, len, "%s", diag);
	ldap_memfree(diag);
	return buf;
}

/* A TLS failure, with the cause in words: certificate checks name it. */
static void tls_fail(struct ldir_conn *c, int rc, uint64_t t0)
{
	char diag[200];

	diag_of(c->ld, diag, sizeof(diag));
	if (rc == LDAP_TIMEOUT || uv_hrtime() - t0 >= c->env->timeout_ms * 1000000ull)
		job_fail(c, -ETIMEDOUT, "TLS handshake: no answer within %llu ms",
			 (unsigned long long)c->env->timeout_ms);
	else if (!*diag || strcmp(diag, "(unknown error code)") == 0) {
		/* libldap's GnuTLS backend returns -1 from its certificate
		 * checks (chain, dates, name) and so loses GnuTLS's words. */
		LDAPURLDesc *u = NULL;
		ldap_url_parse(c->uri, &u);
		job_fail(c, -EPROTO,
			 "TLS: certificate verify failed (not issued by a CA in %s, out of its dates, or not "
			 "issued to %s)",
			 c->env->ca_file && *c->env->ca_file ? c->env->ca_file : "the system store",
			 u && u->lud_host ? u->lud_host : "the host");
		if (u)
			ldap_free_urldesc(u);
	} else
		job_fail(c, -EPROTO, "TLS: %s", diag);
}

static void setup_work(void *arg)
{
	struct ldir_conn *c = arg;
	const struct conn_env *env = c->env;
	struct timeval tv = {
		.tv_sec = (time_t)(env->timeout_ms / 1000),
		.tv_usec = (suseconds_t)(env->timeout_ms % 1000) * 1000,
	};
	int v, rc;
	uint64_t t0 = uv_hrtime();
	char diag[200];

	rc = ldap_initialize(&c->ld, c->uri);
	if (rc != LDAP_SUCCESS) {
		job_fail(c, -EINVAL, "%s", ldap_err2string(rc));
		return;
	}
	v = LDAP_VERSION3;
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v);
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv);
	c->conncb.lc_add = on_sock_add;
	c->conncb.lc_del = on_sock_del;
	c->conncb.lc_arg = c;
	ldap_set_option(c->ld, LDAP_OPT_CONNECT_CB, &c->conncb);
	if (env->ca_file && *env->ca_file &&
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, env->ca_file) != LDAP_OPT_SUCCESS) {
		job_fail(c, -EPROTO, "TLS: cannot use CA file %s", env->ca_file);
		return;
	}
	v = LDAP_OPT_X_TLS_DEMAND;
	ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &v);
	/* Last: the context is built from the options above. */
	v = 0;
	rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &v);
	if (rc != LDAP_OPT_SUCCESS) {
		job_fail(c, -EPROTO, "TLS: cannot set up a context (CA file %s): %s",
			 env->ca_file && *env->ca_file ? env->ca_file : "system store",
			 diag_of(c->ld, diag, sizeof(diag)));
		return;
	}

	rc = ldap_connect(c->ld);
	if (rc != LDAP_SUCCESS) {
		if (c->tcp_up && c->ldaps) {
			tls_fail(c, rc, t0);
		} else if (rc == LDAP_TIMEOUT || uv_hrtime() - t0 >= env->timeout_ms * 1000000ull) {
			job_fail(c, -ETIMEDOUT, "connect: no answer within %llu ms",
				 (unsigned long long)env->timeout_ms);
		} else {
			diag_of(c->ld, diag, sizeof(diag));
			job_fail(c, -EHOSTUNREACH, "connect: %s%s%s", ldap_err2string(rc), *diag ? ": " : "", diag);
		}
		return;
	}
	if (c->ldaps) {
		c->tls = true;
		return;
	}

	t0 = uv_hrtime();
	rc = ldap_start_tls_s(c->ld, NULL, NULL);
	if (rc == LDAP_SUCCESS) {
		c->tls = true;
		return;
	}
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT || rc < 0) {
		if (rc == LDAP_SERVER_DOWN && uv_hrtime() - t0 < env->timeout_ms * 1000000ull &&
		    !*diag_of(c->ld, diag, sizeof(diag)))
			job_fail(c, -EHOSTUNREACH, "StartTLS: %s", ldap_err2string(rc));
		else
			tls_fail(c, rc, t0);
		return;
	}
	/* The server answered: it does not do StartTLS. */
	if (env->allow_plaintext)
		return;
	job_fail(c, -EPROTO, "StartTLS refused by the server (%s%s%s) and allow_plaintext is off", ldap_err2string(rc),
		 *diag_of(c->ld, diag, sizeof(diag)) ? ": " : "", diag);
}

static void conn_free(struct ldir_conn *c)
{
	struct scout_closer *closer = c->env->closer;

	if (c->setup_fd >= 0)
		close(c->setup_fd);
	pthread_mutex_destroy(&c->fd_lock);
	free(c->uri);
	free(c);
	scout_closer_release(closer);
}

static void unbind(struct ldir_conn *c)
{
	Sockbuf *sb = NULL;

	if (!c->ld)
		return;
	/* The unbind request is written on the loop: never wait for it. */
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb)
		ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_NONBLOCK, (void *)1);
	ldap_unbind_ext(c->ld, NULL, NULL);
	c->ld = NULL;
}

/* The descriptor is closed (by the unbind) only once the poll handle is:
 * libuv must not watch a number the kernel may hand out again. */
static void on_poll_closed(uv_handle_t *h)
{
	struct ldir_conn *c = h->data;

	unbind(c);
	conn_free(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct ldir_conn *c = h->data;
	char reason[300];
	(void)events;

	if (c->state == CONN_DEAD)
		return;
	if (status < 0) {
		snprintf(reason, sizeof(reason), "%s: %s", c->uri, uv_strerror(status));
		c->env->broken(c, -EHOSTUNREACH, reason);
		return;
	}
	for (;;) {
		struct timeval zero = {0, 0};
		LDAPMessage *res = NULL;
		int rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ALL, &zero, &res);

		if (rc == 0)
			return;
		if (rc < 0) {
			int err = LDAP_SERVER_DOWN;
			ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err);
			conn_reason(c, err, reason, sizeof(reason));
			c->env->broken(c, conn_errno(err), reason);
			return;
		}
		c->used_at = uv_now(c->env->loop);
		c->env->msg(c, res);
		if (c->state == CONN_DEAD)
			return;
	}
}

static void setup_done(void *arg, int status)
{
	struct ldir_conn *c = arg;
	Sockbuf *sb = NULL;
	int r;

	c->job_pending = false;
	if (c->setup_fd >= 0) {
		close(c->setup_fd);
		c->setup_fd = -1;
	}
	if (c->state == CONN_DEAD) {
		unbind(c);
		conn_free(c);
		return;
	}
	if (status < 0) {
		c->job_status = status;
		snprintf(c->job_reason, sizeof(c->job_reason), "%s: set-up cancelled", c->uri);
	}
	if (c->job_status == 0) {
		if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || !sb ||
		    ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &c->fd) != 1 || c->fd < 0 ||
		    ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_NONBLOCK, (void *)1) != 1) {
			c->job_status = -EIO;
			snprintf(c->job_reason, sizeof(c->job_reason), "%s: no socket after connect", c->uri);
		} else if ((r = uv_poll_init_socket(c->env->loop, &c->poll, c->fd)) < 0) {
			c->job_status = r;
			snprintf(c->job_reason, sizeof(c->job_reason), "%s: poll: %s", c->uri, uv_strerror(r));
		} else {
			c->poll_init = true;
			c->poll.data = c;
			uv_poll_start(&c->poll, UV_READABLE, on_poll);
			c->state = CONN_READY;
			c->used_at = uv_now(c->env->loop);
		}
	}
	if (c->job_status < 0) {
		unbind(c);
		c->env->up(c, c->job_status, c->job_reason);
		return;
	}
	c->env->up(c, 0, NULL);
}

int conn_open(const struct conn_env *env, const char *uri, struct ldir_conn **ret_c)
{
	struct ldir_conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->env = env;
	c->fd = -1;
	c->setup_fd = -1;
	pthread_mutex_init(&c->fd_lock, NULL);
	c->uri = strdup(uri);
	if (!c->uri) {
		pthread_mutex_destroy(&c->fd_lock);
		free(c);
		return -ENOMEM;
	}
	c->ldaps = ldap_is_ldaps_url(uri) != 0;
	c->state = CONN_CONNECTING;
	scout_list_init(&c->link);
	scout_list_init(&c->ops);
	c->job_pending = true;
	scout_closer_hold(env->closer);
	r = scout_work_submit(env->work, setup_work, setup_done, c);
	if (r < 0) {
		c->job_pending = false;
		conn_free(c);
		return r;
	}
	*ret_c = c;
	return 0;
}

void conn_close(struct ldir_conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	scout_list_remove(&c->link);
	if (c->job_pending) {
		/* Cut the set-up short: the pool thread's next read or write
		 * fails, so the job ends now rather than at libldap's leisure. */
		pthread_mutex_lock(&c->fd_lock);
		c->aborted = true;
		if (c->setup_fd >= 0)
			shutdown(c->setup_fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->fd_lock);
		return; /* setup_done frees it */
	}
	if (c->poll_init) {
		uv_poll_stop(&c->poll);
		uv_close((uv_handle_t *)&c->poll, on_poll_closed);
		return;
	}
	unbind(c);
	conn_free(c);
}
