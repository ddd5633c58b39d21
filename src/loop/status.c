/* Status socket server: accepts local clients, checks who they are, reads
 * newline-delimited JSON requests one at a time per connection and hands
 * each to the agent's handler, which answers now or later. Any bad request
 * is answered with an error and the connection closed; nothing a client
 * sends can stop the agent.
 *
 * What clients may hold is bounded: connections (at most 1024, and at most
 * half the process's file descriptors), reply bytes left unread (per
 * connection, and in all), and time spent idle. The server accepts on its
 * own (not uv_listen) so that a client it cannot serve, even when the
 * process is out of file descriptors, still gets a "busy" line. */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "closer.h"
#include "list.h"
#include "log.h"
#include "utf8.h"

#define MAX_CONNS 1024
#define MAX_QUEUED (1024 * 1024) /* reply bytes a client may leave unread before we stop reading it */
/* Reply bytes held for all clients together. Past it, the connection with
 * the most unread bytes is closed: above this, memory would grow with the
 * number of clients that do not read (about 1 MiB each). */
#define MAX_QUEUED_TOTAL (32 * 1024 * 1024)
#define DEFAULT_IDLE_MS 60000
#define ACCEPT_BATCH 64       /* per wake-up, so that serving others goes on */
#define ACCEPT_PAUSE_MS 100   /* when not even the reserve descriptor helps */
#define LOG_INTERVAL_MS 10000 /* for messages a crowd of clients could repeat */
#define REQUEST_BATCH 4       /* requests handled per connection per loop turn */

struct conn {
	uv_pipe_t pipe;
	struct scout_status_server *srv;
	struct scout_list link; /* in srv->conns */
	char *buf;
	size_t len, cap;
	struct scout_status_req *req; /* in flight */
	unsigned writes;
	size_t queued;        /* reply bytes not yet written (counted in srv->stats.queued_bytes) */
	uint64_t last_active; /* uv_now() of the last byte read or written */
	bool closing, close_after_write, processing, reading;
	bool more; /* complete requests left for the next loop turn */
};

/* A message logged at most once per LOG_INTERVAL_MS, with a count of the
 * times it was held back. */
struct ratelog {
	uint64_t last;
	uint64_t held;
	bool ever;
};

struct scout_status_req {
	struct conn *conn; /* NULL once the client is gone */
};

struct scout_status_server {
	uv_loop_t *loop;
	int fd;                     /* the listening socket */
	int reserve_fd;             /* given up to accept a client when out of descriptors */
	uv_poll_t poll;             /* on fd */
	uv_timer_t timer;           /* idle connections; accepting again after a pause */
	uv_idle_t more;             /* runs while connections have requests left over */
	struct scout_closer closer; /* poll, timer and more */
	bool handles_closed;
	bool paused; /* accepting stopped for ACCEPT_PAUSE_MS */
	unsigned max_conns;
	uint64_t idle_ms;
	uint64_t rlimit; /* RLIMIT_NOFILE when listening began, for messages */
	struct ratelog busy_log, nofd_log, queue_log;
	char *path;
	gid_t gid;
	scout_status_handler handler;
	void *arg;
	struct scout_list conns;
	struct scout_status_stats stats;
	bool closing;
	void (*done)(void *);
	void *done_arg;
};

struct write_req {
	uv_write_t w;
	struct conn *conn;
	char *data;
	size_t size;
};

const struct scout_status_stats *scout_status_stats(const struct scout_status_server *s)
{
	return &s->stats;
}

static bool ratelog_due(struct ratelog *r, uint64_t now, uint64_t *ret_held)
{
	if (r->ever && now - r->last < LOG_INTERVAL_MS) {
		r->held++;
		return false;
	}
	*ret_held = r->held;
	r->held = 0;
	r->last = now;
	r->ever = true;
	return true;
}

/* One word, or two separated by one space ("vault init"). */
static bool cmd_name_ok(const char *c, size_t n)
{
	static const char word[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
	size_t first = strspn(c, word);

	if (n == 0 || n > 32 || strlen(c) != n || first == 0)
		return false;
	return first == n || (c[first] == ' ' && first + 1 < n && first + 1 + strspn(c + first + 1, word) == n);
}

/* ---- request parsing -------------------------------------------------- */

int scout_status_parse_request(const char *line, size_t len, json_t **ret_request, const char **ret_cmd, char *err,
			       size_t errlen)
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
	if (!cmd_name_ok(c, n)) {
		snprintf(err, errlen,
			 "\"cmd\" must be one or two words (\"vault init\") of a-z, 0-9 and -, 32 "
			 "bytes at most");
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
static void on_more(uv_idle_t *h);

/* Lets process() go on with c in the next loop turn. */
static void schedule(struct conn *c)
{
	c->more = true;
	if (!c->srv->closing && !uv_is_active((uv_handle_t *)&c->srv->more))
		uv_idle_start(&c->srv->more, on_more);
}

static void set_reading(struct conn *c, bool on);

static void maybe_free(struct scout_status_server *s)
{
	if (!s->closing || !s->handles_closed || !scout_list_empty(&s->conns))
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

	scout_list_remove(&c->link);
	s->stats.open--;
	if (c->buf)
		explicit_bzero(c->buf, c->cap);
	free(c->buf);
	free(c);
	maybe_free(s);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	/* its replies are dropped: they no longer count against the others
	 * (the memory goes when libuv cancels the writes, in this loop turn) */
	c->srv->stats.queued_bytes -= c->queued;
	c->queued = 0;
	if (c->req) {
		c->req->conn = NULL; /* the handler still answers; the answer is dropped */
		c->req = NULL;
	}
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static bool backlogged(struct conn *c)
{
	return c->queued > MAX_QUEUED;
}

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct conn *c = wr->conn;
	size_t size = wr->size;

	free(wr->data);
	free(wr);
	c->writes--;
	if (c->closing)
		return;
	c->queued -= size;
	c->srv->stats.queued_bytes -= size;
	c->last_active = uv_now(c->srv->loop);
	if (status < 0 || (c->close_after_write && c->writes == 0))
		conn_close(c);
	else if (!c->req && !c->close_after_write && !c->reading)
		schedule(c); /* a slow reader caught up: go on with what it sent, in the next turn */
}

/* Keeps the reply bytes held for all clients under MAX_QUEUED_TOTAL by
 * closing the connections that left the most unread, largest first.
 * Returns false when that was c itself. A reply larger than the limit
 * with nothing else held still goes out: its text exists already. */
static bool make_room(struct conn *c, size_t need)
{
	struct scout_status_server *s = c->srv;

	while (s->stats.queued_bytes + need > MAX_QUEUED_TOTAL) {
		struct conn *victim = NULL;
		uint64_t held;

		struct conn *x;
		scout_list_foreach (x, &s->conns, link)
			if (!x->closing && x->queued && (!victim || x->queued > victim->queued))
				victim = x;
		if (!victim)
			break;
		s->stats.overflow_closed++;
		if (ratelog_due(&s->queue_log, uv_now(s->loop), &held))
			log_warn("status: clients left more than %d MiB of replies unread in all; closed the "
				 "connection holding the most (%zu bytes unread)%s",
				 MAX_QUEUED_TOTAL >> 20, victim->queued,
				 held ? " (and others since the last message)" : "");
		conn_close(victim);
		if (victim == c)
			return false;
	}
	return true;
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
	if (!make_room(c, n + 1)) {
		free(text);
		free(wr);
		return;
	}
	wr->data = text;
	wr->conn = c;
	wr->size = n + 1;
	static char newline[] = "\n";
	uv_buf_t b[2] = {uv_buf_init(text, (unsigned)n), uv_buf_init(newline, 1)};
	if (uv_write(&wr->w, (uv_stream_t *)&c->pipe, b, 2, on_written) < 0) {
		free(wr->data);
		free(wr);
		conn_close(c);
		return;
	}
	c->writes++;
	c->last_active = uv_now(c->srv->loop); /* the idle clock starts when a request is answered */
	c->queued += wr->size;
	c->srv->stats.queued_bytes += wr->size;
}

/* An error message is built with printf from anything (a quoted value cut
 * at a byte count, say): every byte that is not part of valid UTF-8
 * becomes '?', so the reply is always sent. */
static json_t *error_obj(const char *code, const char *msg)
{
	char clean[1024];
	size_t i = 0, n, len = strlen(msg);
	uint32_t cp;

	while (i < len && i < sizeof(clean) - 1) {
		n = scout_utf8_char((const unsigned char *)msg + i, len - i, &cp);
		if (!n || i + n > sizeof(clean) - 1) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, msg + i, n);
		i += n;
	}
	clean[i] = 0;
	return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code, "message", clean);
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

/* Handles the complete lines buffered, one request at a time, at most
 * REQUEST_BATCH of them per loop turn: one client that pipelines
 * thousands of requests cannot hold the loop (and every other client,
 * timer and module) for the seconds they take. */
static void process(struct conn *c)
{
	struct scout_status_server *s = c->srv;
	unsigned budget = REQUEST_BATCH;

	if (c->processing)
		return; /* an answer given inside the handler: the loop below goes on */
	c->processing = true;
	c->more = false;
	while (!c->req && !c->closing && !c->close_after_write && !backlogged(c)) {
		char *nl = memchr(c->buf, '\n', c->len);
		char err[256];
		const char *cmd;
		json_t *request;

		if (nl && budget-- == 0) {
			schedule(c);
			break;
		}
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
		/* a request may carry a secret (vault init): no stale copy stays */
		explicit_bzero(c->buf + c->len, used);
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
	/* not while lines wait: the buffer's "full without a line" check
	 * counts on every complete line having been taken out */
	set_reading(c, !c->req && !backlogged(c) && !c->more);
}

static void on_more(uv_idle_t *h)
{
	struct scout_status_server *s = h->data;
	bool any = false;

	/* closing a connection only unlinks it in a later turn: the walk is safe */
	struct conn *c;
	scout_list_foreach (c, &s->conns, link) {
		if (c->more && !c->closing)
			process(c);
		any |= c->more && !c->closing;
	}
	if (!any)
		uv_idle_stop(&s->more);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;

	if (c->cap - c->len < 4096 && c->cap < SCOUT_STATUS_MAX_LINE + 8192) {
		size_t cap = c->cap ? c->cap * 2 : 8192;
		if (cap > SCOUT_STATUS_MAX_LINE + 8192)
			cap = SCOUT_STATUS_MAX_LINE + 8192;
		/* not realloc: the old block is wiped before it goes (secrets) */
		char *b = malloc(cap);
		if (b) {
			if (c->buf) {
				memcpy(b, c->buf, c->len);
				explicit_bzero(c->buf, c->cap);
			}
			free(c->buf);
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
	if (nread > 0)
		c->last_active = uv_now(c->srv->loop);
	c->len += (size_t)nread;
	process(c);
	/* full at its largest size without a complete line (smaller, it grows;
	 * with lines left for the next turn, it is full of complete ones) */
	if (!c->closing && !c->close_after_write && c->len == c->cap && c->cap >= SCOUT_STATUS_MAX_LINE + 8192 &&
	    !c->req && !c->more)
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

/* Answers a client that cannot be served with one error line and closes
 * it, without a connection of its own: nothing to allocate, nothing held. */
static void refuse(struct scout_status_server *s, int fd, const char *msg)
{
	json_t *obj = error_obj("busy", msg);
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (text) {
		/* a fresh socket's buffer takes a short line at once; a client
		 * that is already gone is no concern of ours */
		struct iovec iov[2] = {{text, strlen(text)}, {(char *)"\n", 1}};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
		if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			log_debug("status: could not tell a client it was refused: %s", strerror(errno));
	}
	free(text);
	close(fd);
	s->stats.busy++;
	s->stats.errors++;
}

static void on_timer(uv_timer_t *t);

static void pause_accepting(struct scout_status_server *s)
{
	if (s->paused)
		return;
	s->paused = true;
	uv_poll_stop(&s->poll);
	uv_timer_start(&s->timer, on_timer, ACCEPT_PAUSE_MS, 0);
}

/* Out of descriptors: the reserve one makes room to accept one client and
 * tell it so, rather than leave it in the backlog or reset it silently. */
static void shed(struct scout_status_server *s, int err)
{
	uint64_t held;
	int fd = -1;

	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			s->stats.connections++;
			refuse(s, fd, "scoutd is out of file descriptors; try again later");
		}
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (ratelog_due(&s->nofd_log, uv_now(s->loop), &held))
		log_warn("status: %s: out of file descriptors (%s; open files limit %llu, %llu connections open): "
			 "refusing clients with 'busy'%s",
			 s->path, strerror(err), (unsigned long long)s->rlimit, (unsigned long long)s->stats.open,
			 held ? " (again since the last message)" : "");
	if (fd < 0 || s->reserve_fd < 0)
		pause_accepting(s); /* another thread took the room: try again shortly */
}

static void add_conn(struct scout_status_server *s, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	char why[200];

	if (!c || uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
		free(c);
		refuse(s, fd, "scoutd is out of memory");
		return;
	}
	c->srv = s;
	c->pipe.data = c;
	c->last_active = uv_now(s->loop);
	scout_list_insert_head(&s->conns, &c->link);
	s->stats.open++;
	if (uv_pipe_open(&c->pipe, fd) < 0) {
		close(fd);
		conn_close(c);
		return;
	}
	if (!peer_allowed(s, fd, why, sizeof(why))) {
		s->stats.denied++;
		log_warn("status: refused a client: %s", why);
		fail_conn(c, "denied", why);
		return;
	}
	set_reading(c, true);
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
	struct scout_status_server *s = h->data;
	uint64_t held;
	(void)events;

	if (status < 0) {
		log_warn("status: %s: %s", s->path, uv_strerror(status));
		pause_accepting(s);
		return;
	}
	for (int i = 0; i < ACCEPT_BATCH && !s->closing && !s->paused; i++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				shed(s, errno);
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_warn("status: accept on %s: %s", s->path, strerror(errno));
				pause_accepting(s);
			}
			return;
		}
		s->stats.connections++;
		if (s->stats.open >= s->max_conns) {
			if (ratelog_due(&s->busy_log, uv_now(s->loop), &held))
				log_warn("status: %s: %u connections open, the most served at once: refusing clients "
					 "with 'busy'%s",
					 s->path, s->max_conns, held ? " (again since the last message)" : "");
			refuse(s, fd, "too many status connections; try again later");
			continue;
		}
		add_conn(s, fd);
	}
}

/* Closes connections idle for idle_ms: no request in flight and no byte
 * read or written. A client that leaves its replies unread counts as idle
 * too. Runs every quarter of the timeout. */
static void on_timer(uv_timer_t *t)
{
	struct scout_status_server *s = t->data;
	uint64_t now = uv_now(s->loop);

	if (s->paused) {
		s->paused = false;
		uv_poll_start(&s->poll, UV_READABLE, on_listen_readable);
		uv_timer_start(&s->timer, on_timer, s->idle_ms / 4 ? s->idle_ms / 4 : 1,
			       s->idle_ms / 4 ? s->idle_ms / 4 : 1);
	}
	struct conn *c;
	scout_list_foreach (c, &s->conns, link) {
		if (c->closing || c->req || now - c->last_active < s->idle_ms)
			continue;
		s->stats.idle_closed++;
		log_debug("status: closing a connection idle for %llu ms", (unsigned long long)(now - c->last_active));
		conn_close(c);
	}
}

void scout_status_set_idle_timeout(struct scout_status_server *s, uint64_t ms)
{
	s->idle_ms = ms ? ms : DEFAULT_IDLE_MS;
	if (!s->paused) {
		uint64_t tick = s->idle_ms / 4 ? s->idle_ms / 4 : 1;
		uv_timer_start(&s->timer, on_timer, tick, tick);
	}
}

/* ---- listening -------------------------------------------------------- */

static void on_handles_closed(void *arg)
{
	struct scout_status_server *s = arg;

	close(s->fd); /* only now: the poll watched it until its close */
	s->fd = -1;
	s->handles_closed = true;
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

/* Creates, binds and listens; the socket file gets mode 0660 and group
 * gid. Returns the descriptor or -errno with err filled in. */
static int open_listener(const char *path, gid_t gid, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(-r));
		return r;
	}
	strcpy(sa.sun_path, path);
	old = umask(0117); /* the socket is never world-accessible, not even briefly */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	/* A socket made in a setgid directory takes the directory's group, not
	 * ours: the group is set explicitly whenever it is not the one wanted,
	 * so that an empty status_group really means scoutd's own group (and
	 * the directory's group is not let in). The check comes first because
	 * the systemd unit's filter forbids chown, which is then never needed. */
	if (chmod(path, 0660) < 0 || lstat(path, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot set the socket's mode: %s", path, strerror(-r));
	} else if (st.st_gid != gid && lchown(path, (uid_t)-1, gid) < 0) {
		r = -errno;
		snprintf(err, errlen,
			 "%s: cannot give the socket to group %u (it has the group %u of its directory): %s", path,
			 (unsigned)gid, (unsigned)st.st_gid, strerror(-r));
	} else if (listen(fd, 511) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot listen: %s", path, strerror(-r));
	}
	if (r < 0) {
		unlink(path);
		close(fd);
		return r;
	}
	return fd;
}

int scout_status_listen(uv_loop_t *loop, const char *path, const char *group, scout_status_handler handler, void *arg,
			struct scout_status_server **ret_server, char *err, size_t errlen)
{
	struct scout_status_server *s;
	struct sockaddr_un sa;
	struct rlimit rl;
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
	scout_list_init(&s->conns);
	s->handler = handler;
	s->arg = arg;
	s->fd = s->reserve_fd = -1;
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
	/* Connections take at most half the descriptors, so that the rest of
	 * the agent (a reload opening the file, the store, the modules'
	 * sockets) never runs short because of them. */
	s->max_conns = MAX_CONNS;
	s->rlimit = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		s->rlimit = rl.rlim_cur;
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < MAX_CONNS)
			s->max_conns = rl.rlim_cur / 2 > 4 ? (unsigned)(rl.rlim_cur / 2) : 4;
	}
	s->fd = open_listener(path, s->gid, err, errlen);
	if (s->fd < 0) {
		r = s->fd;
		free(s->path);
		free(s);
		return r;
	}
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uv_poll_init(loop, &s->poll, s->fd);
	uv_timer_init(loop, &s->timer);
	uv_idle_init(loop, &s->more);
	s->poll.data = s->timer.data = s->more.data = s;
	scout_closer_init(&s->closer);
	uv_poll_start(&s->poll, UV_READABLE, on_listen_readable);
	scout_status_set_idle_timeout(s, DEFAULT_IDLE_MS);
	if (s->max_conns < MAX_CONNS)
		log_warn("status: open files limit is %llu: serving at most %u connections at once (%d with a "
			 "limit of %d or more)",
			 (unsigned long long)s->rlimit, s->max_conns, MAX_CONNS, 2 * MAX_CONNS);
	*ret_server = s;
	return 0;
}

void scout_status_close(struct scout_status_server *s, void (*done)(void *arg), void *arg)
{
	s->closing = true;
	s->done = done;
	s->done_arg = arg;
	unlink(s->path);
	struct conn *c;
	scout_list_foreach (c, &s->conns, link)
		conn_close(c); /* unlinked only in its close callback */
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	s->reserve_fd = -1;
	scout_closer_close(&s->closer, (uv_handle_t *)&s->poll);
	scout_closer_close(&s->closer, (uv_handle_t *)&s->timer);
	scout_closer_close(&s->closer, (uv_handle_t *)&s->more);
	scout_closer_wait(&s->closer, on_handles_closed, s);
}

void scout_iso_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "?");
}

json_t *scout_time_json(time_t t)
{
	char buf[SCOUT_ISO_TIME_LEN];

	if (!t)
		return json_null();
	scout_iso_time(t, buf, sizeof(buf));
	return json_string(buf);
}
