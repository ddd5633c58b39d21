/* Status socket server: accepts local clients, checks who they are, reads
 * newline-delimited JSON requests one at a time per connection and hands
 * each to the agent's handler, which answers now or later. Any bad request
 * is answered with an error and the connection closed; nothing a client
 * sends can stop the agent. */
#include "status.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define MAX_CONNS 1024
#define MAX_QUEUED (1024 * 1024) /* reply bytes a client may leave unread before we stop reading it */

struct conn {
	uv_pipe_t pipe;
	struct scout_status_server *srv;
	struct conn *prev, *next;
	char *buf;
	size_t len, cap;
	struct scout_status_req *req; /* in flight */
	unsigned writes;
	bool closing, close_after_write, processing, reading;
};

struct scout_status_req {
	struct conn *conn; /* NULL once the client is gone */
};

struct scout_status_server {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	char *path;
	gid_t gid;
	scout_status_handler handler;
	void *arg;
	struct conn *conns;
	struct scout_status_stats stats;
	bool closing, listener_closed;
	void (*done)(void *);
	void *done_arg;
};

struct write_req {
	uv_write_t w;
	struct conn *conn;
	char *data;
};

const struct scout_status_stats *scout_status_stats(const struct scout_status_server *s)
{
	return &s->stats;
}

/* ---- request parsing -------------------------------------------------- */

int scout_status_parse_request(const char *line, size_t len, json_t **ret_request, const char **ret_cmd,
			       char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *req, *cmd;
	const char *c;
	size_t n;

	if (len > SCOUT_STATUS_MAX_LINE) {
		snprintf(err, errlen, "request longer than %d bytes", SCOUT_STATUS_MAX_LINE);
		return -EINVAL;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		snprintf(err, errlen, "malformed JSON at column %d: %s", jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(req)) {
		snprintf(err, errlen, "a request is a JSON object such as {\"cmd\":\"status\"}");
		goto bad;
	}
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		snprintf(err, errlen, "\"cmd\" must be a string, e.g. {\"cmd\":\"status\"}");
		goto bad;
	}
	c = json_string_value(cmd);
	n = json_string_length(cmd);
	if (n == 0 || n > 32 || strlen(c) != n || strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789-") != n) {
		snprintf(err, errlen, "\"cmd\" must be 1 to 32 of a-z, 0-9 and -");
		goto bad;
	}
	*ret_request = req;
	*ret_cmd = c;
	return 0;
bad:
	json_decref(req);
	return -EINVAL;
}

/* ---- connections ------------------------------------------------------ */

static void process(struct conn *c);
static void set_reading(struct conn *c, bool on);

static void maybe_free(struct scout_status_server *s)
{
	if (!s->closing || !s->listener_closed || s->conns)
		return;
	void (*done)(void *) = s->done;
	void *arg = s->done_arg;
	free(s->path);
	free(s);
	if (done)
		done(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct scout_status_server *s = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.open--;
	free(c->buf);
	free(c);
	maybe_free(s);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->req) {
		c->req->conn = NULL; /* the handler still answers; the answer is dropped */
		c->req = NULL;
	}
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static bool backlogged(struct conn *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > MAX_QUEUED;
}

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct conn *c = wr->conn;

	free(wr->data);
	free(wr);
	c->writes--;
	if (c->closing)
		return;
	if (status < 0 || (c->close_after_write && c->writes == 0))
		conn_close(c);
	else if (!c->req && !c->close_after_write)
		process(c); /* a slow reader caught up: go on with what it sent */
}

static void send_json(struct conn *c, json_t *obj)
{
	struct write_req *wr;
	char *text = json_dumps(obj, JSON_COMPACT);
	size_t n;

	json_decref(obj);
	if (!text || !(wr = malloc(sizeof(*wr)))) {
		free(text);
		conn_close(c);
		return;
	}
	n = strlen(text);
	wr->data = text;
	wr->conn = c;
	static char newline[] = "\n";
	uv_buf_t b[2] = {uv_buf_init(text, (unsigned)n), uv_buf_init(newline, 1)};
	if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, b, 2, on_written) < 0) {
		free(wr->data);
		free(wr);
		conn_close(c);
		return;
	}
	c->writes++;
}

static json_t *error_obj(const char *code, const char *msg)
{
	return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code, "message", msg);
}

/* Answers with an error and closes once it is written. */
static void fail_conn(struct conn *c, const char *code, const char *msg)
{
	c->srv->stats.errors++;
	c->close_after_write = true;
	set_reading(c, false);
	send_json(c, error_obj(code, msg));
}

void scout_status_reply(struct scout_status_req *req, json_t *reply)
{
	struct conn *c = req->conn;
	json_t *obj;

	free(req);
	if (!c) {
		json_decref(reply);
		return;
	}
	c->req = NULL;
	obj = json_pack("{s:b}", "ok", 1);
	if (reply) {
		json_object_update(obj, reply);
		json_decref(reply);
	}
	send_json(c, obj);
	if (!c->closing)
		process(c);
}

void scout_status_error(struct scout_status_req *req, const char *code, const char *fmt, ...)
{
	struct conn *c = req->conn;
	char msg[1024];
	va_list ap;

	free(req);
	if (!c)
		return;
	c->req = NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_conn(c, code, msg);
}

/* Handles every complete line buffered, one request at a time. */
static void process(struct conn *c)
{
	struct scout_status_server *s = c->srv;

	if (c->processing)
		return; /* an answer given inside the handler: the loop below goes on */
	c->processing = true;
	while (!c->req && !c->closing && !c->close_after_write && !backlogged(c)) {
		char *nl = memchr(c->buf, '\n', c->len);
		char err[256];
		const char *cmd;
		json_t *request;

		if (!nl) {
			if (c->len > SCOUT_STATUS_MAX_LINE)
				fail_conn(c, "too_large", "request longer than 65536 bytes");
			break;
		}
		size_t n = (size_t)(nl - c->buf), used = n + 1;
		if (n && c->buf[n - 1] == '\r')
			n--;
		if (n == 0) {
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			continue;
		}
		s->stats.requests++;
		if (n > SCOUT_STATUS_MAX_LINE) {
			fail_conn(c, "too_large", "request longer than 65536 bytes");
			break;
		}
		int r = scout_status_parse_request(c->buf, n, &request, &cmd, err, sizeof(err));
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		if (r < 0) {
			fail_conn(c, "bad_request", err);
			break;
		}
		c->req = calloc(1, sizeof(*c->req));
		if (!c->req) {
			json_decref(request);
			fail_conn(c, "internal", "out of memory");
			break;
		}
		c->req->conn = c;
		s->handler(c->req, cmd, request, s->arg);
		json_decref(request);
	}
	c->processing = false;
	if (c->closing || c->close_after_write)
		return;
	set_reading(c, !c->req && !backlogged(c));
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;

	if (c->cap - c->len < 4096 && c->cap < SCOUT_STATUS_MAX_LINE + 8192) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		if (cap > SCOUT_STATUS_MAX_LINE + 8192)
			cap = SCOUT_STATUS_MAX_LINE + 8192;
		char *b = realloc(c->buf, cap);
		if (b) {
			c->buf = b;
			c->cap = cap;
		}
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	(void)buf;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	process(c);
	/* full at its largest size without a complete line (smaller, it grows) */
	if (!c->closing && !c->close_after_write && c->len == c->cap && c->cap >= SCOUT_STATUS_MAX_LINE + 8192 &&
	    !c->req)
		fail_conn(c, "too_large", "request longer than 65536 bytes");
}

static void set_reading(struct conn *c, bool on)
{
	if (on == c->reading || c->closing)
		return;
	c->reading = on;
	if (on)
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
	else
		uv_read_stop((uv_stream_t *)&c->pipe);
}

/* May this peer talk to the agent? */
static bool peer_allowed(struct scout_status_server *s, int fd, char *why, size_t size)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(why, size, "cannot read peer credentials: %s", strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == s->gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == s->gid)
				return true;
	snprintf(why, size, "uid %u is not root, the agent's user or in the socket's group (gid %u)",
		 (unsigned)cred.uid, (unsigned)s->gid);
	return false;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct scout_status_server *s = server->data;
	struct conn *c;
	uv_os_fd_t fd;
	char why[200];

	if (status < 0) {
		log_warn("status: accept on %s: %s", s->path, uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	uv_pipe_init(s->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->stats.open++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	s->stats.connections++;
	if (s->stats.open > MAX_CONNS) {
		fail_conn(c, "busy", "too many status connections");
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 || !peer_allowed(s, fd, why, sizeof(why))) {
		s->stats.denied++;
		log_warn("status: refused a client: %s", why);
		fail_conn(c, "denied", why);
		return;
	}
	set_reading(c, true);
}

/* ---- listening -------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
	struct scout_status_server *s = h->data;

	s->listener_closed = true;
	maybe_free(s);
}

/* A socket file left by a process that is gone is removed; one that a live
 * process answers on is not ours to take. */
static int clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "%s: another process is listening (is scoutd already running?)", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot remove stale socket: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int scout_status_listen(uv_loop_t *loop, const char *path, const char *group, scout_status_handler handler,
			void *arg, struct scout_status_server **ret_server, char *err, size_t errlen)
{
	struct scout_status_server *s;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path longer than %zu bytes, too long for a unix socket", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	err[0] = 0;
	r = clear_stale(path, err, errlen);
	if (r < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->loop = loop;
	s->handler = handler;
	s->arg = arg;
	s->gid = getegid();
	if (group && *group) {
		struct group gr, *res = NULL;
		char gbuf[4096];
		if (getgrnam_r(group, &gr, gbuf, sizeof(gbuf), &res) != 0 || !res) {
			snprintf(err, errlen, "status_group: no group named '%s'", group);
			free(s->path);
			free(s);
			return -ENOENT;
		}
		s->gid = gr.gr_gid;
	}
	uv_pipe_init(loop, &s->pipe, 0);
	s->pipe.data = s;
	old = umask(0117); /* the socket is never world-accessible, not even briefly */
	r = uv_pipe_bind(&s->pipe, path);
	umask(old);
	if (r == 0 && (chmod(path, 0660) < 0 || (s->gid != getegid() && chown(path, (uid_t)-1, s->gid) < 0)))
		r = -errno;
	if (r == 0)
		r = uv_listen((uv_stream_t *)&s->pipe, 511, on_connection);
	if (r == 0 && stat(path, &st) == 0)
		s->gid = st.st_gid;
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot listen: %s", path, uv_strerror(r));
		unlink(path);
		s->closing = true; /* freed once the handle has closed */
		uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
		return r;
	}
	*ret_server = s;
	return 0;
}


void scout_status_close(struct scout_status_server *s, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	unlink(s->path);
	for (struct conn *c = s->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
}
