/* Unit tests for src/loop/status.c: the request parser, and a live server
 * on a uv loop with a blocking client in a thread (requests, pipelining,
 * answers given later, error replies that close the connection, the
 * 64 KiB limit, the socket's mode, stale and foreign socket files, peer
 * credentials) ending with uv_loop_close() == 0. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop/status.h"

/* ---- scout_status_parse_request --------------------------------------- */

static void parse_good(const char *line, const char *want_cmd)
{
	json_t *req = NULL;
	const char *cmd = NULL;
	char err[256] = "";

	if (scout_status_parse_request(line, strlen(line), &req, &cmd, err, sizeof(err)) != 0)
		fail_msg("refused %s: %s", line, err);
	assert_non_null(req);
	assert_true(json_is_object(req));
	assert_string_equal(cmd, want_cmd);
	json_decref(req);
}

static void parse_bad_len(const char *line, size_t len, const char *want_err)
{
	json_t *req = (json_t *)1;
	const char *cmd = "untouched";
	char err[256] = "";

	assert_int_equal(scout_status_parse_request(line, len, &req, &cmd, err, sizeof(err)), -EINVAL);
	assert_ptr_equal(req, (json_t *)1);
	assert_string_equal(cmd, "untouched");
	if (!strstr(err, want_err))
		fail_msg("error for %.60s: '%s', want '%s'", line, err, want_err);
}

static void parse_bad(const char *line, const char *want_err)
{
	parse_bad_len(line, strlen(line), want_err);
}

static void test_parse_good(void **state)
{
	parse_good("{\"cmd\":\"status\"}", "status");
	parse_good("  {\"cmd\" : \"metrics\" , \"x\": [1,2,{}]}  ", "metrics");
	parse_good("{\"a\":1,\"cmd\":\"a-b-0\"}", "a-b-0");
	parse_good("{\"cmd\":\"abcdefghijklmnopqrstuvwxyz012345\"}", "abcdefghijklmnopqrstuvwxyz012345"); /* 32 */
	parse_good("{\"cmd\":\"x\"}\n", "x");                             /* a trailing newline is white space */
	parse_good("{\"cmd\":\"vault rotate-key\"}", "vault rotate-key"); /* a group's command */

	/* the cmd is borrowed from the request object */
	json_t *req;
	const char *cmd;
	char err[64];
	assert_int_equal(scout_status_parse_request("{\"cmd\":\"v\",\"n\":7}", 17, &req, &cmd, err, sizeof(err)), 0);
	assert_ptr_equal(cmd, json_string_value(json_object_get(req, "cmd")));
	assert_int_equal(json_integer_value(json_object_get(req, "n")), 7);
	json_decref(req);

	/* len, not NUL: the bytes after it are not read */
	assert_int_equal(scout_status_parse_request("{\"cmd\":\"ab\"}garbage", 12, &req, &cmd, err, sizeof(err)), 0);
	assert_string_equal(cmd, "ab");
	json_decref(req);
}

static void test_parse_malformed(void **state)
{
	parse_bad("", "malformed JSON");
	parse_bad("{", "malformed JSON");
	parse_bad("{\"cmd\":\"status\"", "malformed JSON");
	parse_bad("{'cmd':'status'}", "malformed JSON");
	parse_bad("{\"cmd\":\"status\",}", "malformed JSON");
	parse_bad("cmd=status", "malformed JSON at column ");
}

static void test_parse_not_object(void **state)
{
	const char *want = "a request is a JSON object such as {\"cmd\":\"status\"}";

	parse_bad("[\"status\"]", want);
	parse_bad("[]", want);
	/* jansson takes only an array or an object at the top */
	parse_bad("\"status\"", "malformed JSON");
	parse_bad("42", "malformed JSON");
	parse_bad("null", "malformed JSON");
	parse_bad("true", "malformed JSON");
}

static void test_parse_cmd(void **state)
{
	const char *type = "\"cmd\" must be a string, e.g. {\"cmd\":\"status\"}";
	const char *chars = "\"cmd\" must be one or two words (\"vault init\") of a-z, 0-9 and -, 32 bytes at most";

	parse_bad("{}", type);
	parse_bad("{\"Cmd\":\"status\"}", type);
	parse_bad("{\"cmd\":1}", type);
	parse_bad("{\"cmd\":null}", type);
	parse_bad("{\"cmd\":[\"status\"]}", type);
	parse_bad("{\"cmd\":{\"x\":1}}", type);
	parse_bad("{\"cmd\":true}", type);

	parse_bad("{\"cmd\":\"\"}", chars);
	parse_bad("{\"cmd\":\"Status\"}", chars);
	parse_bad("{\"cmd\":\"sta  tus\"}", chars);
	parse_bad("{\"cmd\":\" status\"}", chars);
	parse_bad("{\"cmd\":\"status \"}", chars);
	parse_bad("{\"cmd\":\"a b c\"}", chars);
	parse_bad("{\"cmd\":\"a\\tb\"}", chars);
	parse_bad("{\"cmd\":\"status_x\"}", chars);
	parse_bad("{\"cmd\":\"st\\u00e9tus\"}", chars);
	parse_bad("{\"cmd\":\"../etc\"}", chars);
	parse_bad("{\"cmd\":\"status\\n\"}", chars);
	parse_bad("{\"cmd\":\"abcdefghijklmnopqrstuvwxyz0123456\"}", chars); /* 33 */
}

static void test_parse_duplicate_keys(void **state)
{
	parse_bad("{\"cmd\":\"a\",\"cmd\":\"b\"}", "duplicate");
	parse_bad("{\"cmd\":\"a\",\"x\":1,\"x\":2}", "duplicate");
	parse_bad("{\"cmd\":\"a\",\"x\":{\"y\":1,\"y\":1}}", "duplicate");
}

static void test_parse_trailing_garbage(void **state)
{
	parse_bad("{\"cmd\":\"a\"} x", "malformed JSON");
	parse_bad("{\"cmd\":\"a\"}{\"cmd\":\"b\"}", "malformed JSON");
	parse_bad("{\"cmd\":\"a\"}]", "malformed JSON");
}

static void test_parse_too_long(void **state)
{
	/* exactly 64 KiB of valid JSON is accepted; one byte more is not */
	size_t n = SCOUT_STATUS_MAX_LINE + 1;
	char *line = malloc(n + 1);
	const char *head = "{\"cmd\":\"big\",\"pad\":\"";

	memset(line, 'p', n);
	memcpy(line, head, strlen(head));
	memcpy(line + SCOUT_STATUS_MAX_LINE - 2, "\"}", 2);
	line[SCOUT_STATUS_MAX_LINE] = ' ';
	line[n] = 0;

	json_t *req;
	const char *cmd;
	char err[256];
	assert_int_equal(scout_status_parse_request(line, SCOUT_STATUS_MAX_LINE, &req, &cmd, err, sizeof(err)), 0);
	assert_string_equal(cmd, "big");
	json_decref(req);
	parse_bad_len(line, n, "request longer than 65536 bytes");
	free(line);
}

static void test_parse_nul(void **state)
{
	static const char raw_in_string[] = "{\"cmd\":\"st\0atus\"}";
	static const char raw_after[] = "{\"cmd\":\"status\"}\0";
	static const char raw_before[] = "\0{\"cmd\":\"status\"}";

	parse_bad_len(raw_in_string, sizeof(raw_in_string) - 1, "malformed JSON");
	parse_bad_len(raw_after, sizeof(raw_after) - 1, "malformed JSON");
	parse_bad_len(raw_before, sizeof(raw_before) - 1, "malformed JSON");
	/* an escaped NUL inside the command, or anywhere */
	parse_bad("{\"cmd\":\"st\\u0000atus\"}", "malformed JSON");
	parse_bad("{\"cmd\":\"status\",\"x\":\"\\u0000\"}", "malformed JSON");
}

/* ---- a live server ---------------------------------------------------- */

enum op { END, CONNECT, SEND, READ, EXPECT_EOF, CLOSE, SLEEP, WAIT };

struct step {
	enum op op;
	const char *data; /* SEND */
	size_t len;       /* SEND; 0: strlen. WAIT: milliseconds */
};

#define MAX_READS 16

struct live {
	uv_loop_t loop;
	char dir[64], path[128];
	struct scout_status_server *srv;
	uv_async_t done_async;
	uv_timer_t later_timer;
	struct scout_status_req *later_req;
	unsigned later_ms; /* 0: 20 */
	bool server_closed, close_called;
	struct scout_status_stats stats; /* copied before closing */
	unsigned handled;
	char cmds[256];
	/* client */
	pthread_t thread;
	const struct step *script;
	char *reads[MAX_READS];
	unsigned nreads;
	unsigned eofs; /* EXPECT_EOF steps that saw the end */
	char client_err[256];
};

static void on_server_closed(void *arg)
{
	struct live *l = arg;
	l->server_closed = true;
}

static void close_server(struct live *l)
{
	if (l->close_called)
		return;
	l->close_called = true;
	l->stats = *scout_status_stats(l->srv);
	scout_status_close(l->srv, on_server_closed, l);
}

static void on_later(uv_timer_t *t)
{
	struct live *l = t->data;
	struct scout_status_req *req = l->later_req;

	l->later_req = NULL;
	scout_status_reply(req, json_pack("{s:b}", "later", 1));
}

static void handler(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct live *l = arg;
	size_t n = strlen(l->cmds);

	l->handled++;
	snprintf(l->cmds + n, sizeof(l->cmds) - n, "%s%s", n ? " " : "", cmd);
	if (strcmp(cmd, "echo") == 0) {
		scout_status_reply(req, json_pack("{s:O}", "echo", request));
	} else if (strcmp(cmd, "empty") == 0) {
		scout_status_reply(req, NULL);
	} else if (strcmp(cmd, "later") == 0) {
		/* answered from a timer: the connection reads nothing meanwhile */
		l->later_req = req;
		uv_timer_start(&l->later_timer, on_later, l->later_ms ? l->later_ms : 20, 0);
	} else if (strcmp(cmd, "fail") == 0) {
		scout_status_error(req, "custom", "failed on purpose (%d)", 42);
	} else if (strcmp(cmd, "cut") == 0) {
		/* a careless %.Ns that cuts a character in half, and stray bytes */
		scout_status_error(req, "custom", "no '%.4s' \xff\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 end",
				   "a\xc3\xa9\xc3\xa9");
	} else if (strcmp(cmd, "shutdown") == 0) {
		/* the server closes under a request in flight: the answer is dropped */
		close_server(l);
		scout_status_reply(req, json_pack("{s:s}", "never", "sent"));
	} else {
		scout_status_error(req, "unknown_command", "unknown command '%s'", cmd);
	}
}

/* ---- the client thread (no cmocka asserts here: it records, the test
 * thread checks) ---- */

static int cl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int cl_send(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t k = send(fd, data, len, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		data += k;
		len -= (size_t)k;
	}
	return 0;
}

/* One line without its newline (malloc'd), or NULL at the end or on error. */
static char *cl_readline(int fd)
{
	size_t len = 0, cap = 1024;
	char *buf = malloc(cap);

	for (;;) {
		char c;
		ssize_t k = recv(fd, &c, 1, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(buf);
			return NULL;
		}
		if (c == '\n')
			break;
		if (len + 2 > cap)
			buf = realloc(buf, cap *= 2);
		buf[len++] = c;
	}
	buf[len] = 0;
	return buf;
}

/* The peer closed: recv gives 0, or ECONNRESET when it closed with input
 * of ours unread. */
static bool cl_at_eof(int fd)
{
	char c;

	for (;;) {
		ssize_t k = recv(fd, &c, 1, 0);
		if (k < 0 && errno == EINTR)
			continue;
		return k == 0 || (k < 0 && errno == ECONNRESET);
	}
}

static void *client_main(void *arg)
{
	struct live *l = arg;
	int fd = -1;

	for (const struct step *s = l->script; s->op != END; s++) {
		switch (s->op) {
		case CONNECT:
			if (fd >= 0)
				close(fd);
			fd = cl_connect(l->path);
			if (fd < 0) {
				snprintf(l->client_err, sizeof(l->client_err), "connect: %s", strerror(-fd));
				goto out;
			}
			break;
		case SEND: {
			int r = cl_send(fd, s->data, s->len ? s->len : strlen(s->data));
			if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
				snprintf(l->client_err, sizeof(l->client_err), "send: %s", strerror(-r));
				goto out;
			}
			break;
		}
		case READ:
			if (l->nreads < MAX_READS)
				l->reads[l->nreads++] = cl_readline(fd);
			break;
		case EXPECT_EOF:
			l->eofs += cl_at_eof(fd);
			break;
		case CLOSE:
			close(fd);
			fd = -1;
			break;
		case SLEEP:
			uv_sleep(50);
			break;
		case WAIT:
			uv_sleep((unsigned)s->len);
			break;
		case END:
			break;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	uv_async_send(&l->done_async);
	return NULL;
}

static void on_client_done(uv_async_t *a)
{
	struct live *l = a->data;

	close_server(l);
	if (l->later_req) {
		/* still waiting for its timer: answered now, after the close */
		scout_status_reply(l->later_req, NULL);
		l->later_req = NULL;
	}
	uv_close((uv_handle_t *)&l->done_async, NULL);
	uv_close((uv_handle_t *)&l->later_timer, NULL);
}

static int live_setup(void **state)
{
	struct live *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	strcpy(l->dir, "/tmp/scout-test-status-XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->path, sizeof(l->path), "%s/s.sock", l->dir);
	assert_int_equal(uv_loop_init(&l->loop), 0);
	assert_int_equal(uv_async_init(&l->loop, &l->done_async, on_client_done), 0);
	assert_int_equal(uv_timer_init(&l->loop, &l->later_timer), 0);
	l->done_async.data = l->later_timer.data = l;
	*state = l;
	return 0;
}

static void listen_ok(struct live *l)
{
	char err[512] = "";
	int r = scout_status_listen(&l->loop, l->path, NULL, handler, l, &l->srv, err, sizeof(err));

	if (r < 0)
		fail_msg("listen %s: %s", l->path, err);
}

/* Runs the script in a client thread while the loop serves it; returns
 * once the server and every handle are closed. */
static void run_client(struct live *l, const struct step *script)
{
	l->script = script;
	assert_int_equal(pthread_create(&l->thread, NULL, client_main, l), 0);
	assert_int_equal(uv_run(&l->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(pthread_join(l->thread, NULL), 0);
	if (l->client_err[0])
		fail_msg("client: %s", l->client_err);
	assert_true(l->server_closed);
}

static int live_teardown(void **state)
{
	struct live *l = *state;
	char cmd[128];

	if (!uv_is_closing((uv_handle_t *)&l->done_async)) {
		/* a test that never ran a client */
		if (l->srv && !l->close_called)
			close_server(l);
		uv_close((uv_handle_t *)&l->done_async, NULL);
		uv_close((uv_handle_t *)&l->later_timer, NULL);
	}
	assert_int_equal(uv_run(&l->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&l->loop), 0);
	for (unsigned i = 0; i < l->nreads; i++)
		free(l->reads[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", l->dir);
	assert_int_equal(system(cmd), 0);
	free(l);
	return 0;
}

/* The reply read as nth line: parsed, and checked to be ok or an error
 * with that code. */
static json_t *reply_of(struct live *l, unsigned nth)
{
	json_error_t jerr;
	json_t *j;

	if (nth >= l->nreads || !l->reads[nth])
		fail_msg("no reply line %u", nth);
	j = json_loads(l->reads[nth], 0, &jerr);
	if (!j)
		fail_msg("reply %u is not JSON: %s", nth, l->reads[nth]);
	return j;
}

static void assert_ok_reply(struct live *l, unsigned nth)
{
	json_t *j = reply_of(l, nth);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
}

static void assert_error_reply(struct live *l, unsigned nth, const char *code, const char *msg_part)
{
	json_t *j = reply_of(l, nth);
	json_t *e = json_object_get(j, "error");

	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	assert_true(json_is_string(json_object_get(e, "message")));
	if (msg_part && !strstr(json_string_value(json_object_get(e, "message")), msg_part))
		fail_msg("message '%s' lacks '%s'", json_string_value(json_object_get(e, "message")), msg_part);
	json_decref(j);
}

static void test_live_requests(void **state)
{
	struct live *l = *state;
	struct stat st;

	listen_ok(l);
	assert_int_equal(stat(l->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getegid());

	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"echo\",\"x\":1}\n"},
		{READ},
		/* pipelined, one answered later: replies come in order */
		{SEND, "{\"cmd\":\"later\"}\n{\"cmd\":\"echo\",\"n\":2}\r\n\n\n{\"cmd\":\"empty\"}\n"},
		{READ},
		{READ},
		{READ},
		/* a request split over several writes */
		{SEND, "{\"cmd\":"},
		{SEND, "\"echo\",\"n\":3"},
		{SEND, "}\n"},
		{READ},
		{CLOSE},
		/* another connection at the same time as nothing else */
		{CONNECT},
		{SEND, "{\"cmd\":\"echo\",\"n\":4}\n"},
		{READ},
		{CLOSE},
		{END},
	};
	run_client(l, script);

	assert_int_equal(l->nreads, 6);
	json_t *j = reply_of(l, 0);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "echo"), "x")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "echo"), "cmd")), "echo");
	json_decref(j);
	j = reply_of(l, 1);
	assert_true(json_is_true(json_object_get(j, "later")));
	json_decref(j);
	j = reply_of(l, 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "echo"), "n")), 2);
	json_decref(j);
	assert_string_equal(l->reads[3], "{\"ok\":true}");
	j = reply_of(l, 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "echo"), "n")), 3);
	json_decref(j);
	assert_ok_reply(l, 5);

	assert_string_equal(l->cmds, "echo later echo empty echo echo");
	assert_int_equal(l->stats.connections, 2);
	assert_int_equal(l->stats.requests, 6);
	assert_int_equal(l->stats.errors, 0);
	assert_int_equal(l->stats.denied, 0);
	/* closed: the socket file is gone */
	assert_int_equal(access(l->path, F_OK), -1);
}

static void test_live_bad_request_closes(void **state)
{
	struct live *l = *state;

	listen_ok(l);
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\n{\"cmd\":\"echo\"}\n"}, /* the second is never handled */
		{READ},
		{EXPECT_EOF},
		{CONNECT},
		{SEND, "[1,2]\n"},
		{READ},
		{EXPECT_EOF},
		{CONNECT},
		{SEND, "{\"cmd\":\"a\",\"cmd\":\"b\"}\n"},
		{READ},
		{EXPECT_EOF},
		{CONNECT},
		{SEND, "{\"cmd\":\"x\\u0000\"}\n"},
		{READ},
		{EXPECT_EOF},
		{CONNECT},
		{SEND, "{\"cmd\":\"NOPE\"}\n"},
		{READ},
		{EXPECT_EOF},
		/* handler errors close the connection too */
		{CONNECT},
		{SEND, "{\"cmd\":\"echo\"}\n{\"cmd\":\"nope\"}\n{\"cmd\":\"echo\"}\n"},
		{READ},
		{READ},
		{EXPECT_EOF},
		{CONNECT},
		{SEND, "{\"cmd\":\"fail\"}\n"},
		{READ},
		{EXPECT_EOF},
		/* an error message that is not valid UTF-8 still gets its reply */
		{CONNECT},
		{SEND, "{\"cmd\":\"cut\"}\n"},
		{READ},
		{EXPECT_EOF},
		{END},
	};
	run_client(l, script);

	assert_int_equal(l->nreads, 9);
	assert_string_equal(l->reads[8], "{\"ok\":false,\"error\":{\"code\":\"custom\",\"message\":"
					 "\"no 'a\u00e9?' ??? ??? ???? end\"}}");
	assert_error_reply(l, 0, "bad_request", "malformed JSON");
	assert_error_reply(l, 1, "bad_request", "a request is a JSON object");
	assert_error_reply(l, 2, "bad_request", "duplicate");
	assert_error_reply(l, 3, "bad_request", "malformed JSON");
	assert_error_reply(l, 4, "bad_request", "\"cmd\" must be one or two words");
	assert_ok_reply(l, 5);
	assert_error_reply(l, 6, "unknown_command", "unknown command 'nope'");
	assert_string_equal(l->reads[7],
			    "{\"ok\":false,\"error\":{\"code\":\"custom\",\"message\":\"failed on purpose (42)\"}}");
	assert_int_equal(l->eofs, 8);
	assert_string_equal(l->cmds, "echo nope fail cut");
	assert_int_equal(l->stats.connections, 8);
	assert_int_equal(l->stats.errors, 8);
}

static char *big_line(size_t body, bool valid_json, bool newline)
{
	char *s = malloc(body + 2);
	const char *head = "{\"cmd\":\"echo\",\"pad\":\"";

	memset(s, valid_json ? 'p' : 'a', body);
	if (valid_json) {
		memcpy(s, head, strlen(head));
		memcpy(s + body - 2, "\"}", 2);
	}
	s[body] = newline ? '\n' : 0;
	s[body + 1] = 0;
	return s;
}

static void test_live_too_large(void **state)
{
	struct live *l = *state;
	char *exact = big_line(SCOUT_STATUS_MAX_LINE, true, true);
	char *over = big_line(SCOUT_STATUS_MAX_LINE + 1, true, true);
	char *endless = big_line(70000, false, false);

	listen_ok(l);
	const struct step script[] = {
		/* exactly 64 KiB is served */
		{CONNECT},
		{SEND, exact},
		{READ},
		{SEND, "{\"cmd\":\"echo\",\"after\":1}\n"},
		{READ},
		{CLOSE},
		/* one byte more is too large */
		{CONNECT},
		{SEND, over},
		{READ},
		{EXPECT_EOF},
		/* so is a line that never ends */
		{CONNECT},
		{SEND, endless},
		{READ},
		{EXPECT_EOF},
		{END},
	};
	run_client(l, script);

	assert_int_equal(l->nreads, 4);
	json_t *j = reply_of(l, 0);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(j, "echo"), "pad"))),
			 SCOUT_STATUS_MAX_LINE - 23);
	json_decref(j);
	assert_ok_reply(l, 1);
	assert_error_reply(l, 2, "too_large", "65536");
	assert_error_reply(l, 3, "too_large", "65536");
	assert_int_equal(l->eofs, 2);
	assert_string_equal(l->cmds, "echo echo");
	free(exact);
	free(over);
	free(endless);
}

static void test_live_client_gone_before_answer(void **state)
{
	/* the client leaves while its request waits for an answer; the
	 * answer meets a closed peer (ASan checks nothing leaks or is used
	 * after being freed) */
	struct live *l = *state;

	listen_ok(l);
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"later\"}\n"},
		{CLOSE},
		{SLEEP},   /* the answer comes meanwhile */
		{CONNECT}, /* and the server goes on serving others */
		{SEND, "{\"cmd\":\"echo\"}\n"},
		{READ},
		{CLOSE},
		{END},
	};
	run_client(l, script);
	assert_int_equal(l->nreads, 1);
	assert_ok_reply(l, 0);
	assert_null(l->later_req);
}

static void test_live_close_with_request_in_flight(void **state)
{
	struct live *l = *state;

	listen_ok(l);
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"shutdown\"}\n"},
		{EXPECT_EOF}, /* no reply: the connection just closes */
		{END},
	};
	run_client(l, script);
	assert_int_equal(l->eofs, 1);
	assert_int_equal(l->handled, 1);
}

static void test_stale_socket_replaced(void **state)
{
	struct live *l = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* a socket file nobody listens on, as a killed agent leaves it */
	strcpy(sa.sun_path, l->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(access(l->path, F_OK), 0);

	listen_ok(l);
	struct stat st;
	assert_int_equal(stat(l->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"echo\"}\n"},
		{READ},
		{END},
	};
	run_client(l, script);
	assert_ok_reply(l, 0);
}

static void test_refuse_live_socket_and_other_files(void **state)
{
	struct live *l = *state;
	struct scout_status_server *srv = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char err[512] = "", want[256];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* someone listens there */
	strcpy(sa.sun_path, l->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(scout_status_listen(&l->loop, l->path, NULL, handler, l, &srv, err, sizeof(err)), -EADDRINUSE);
	assert_null(srv);
	snprintf(want, sizeof(want), "%s: another process is listening", l->path);
	assert_non_null(strstr(err, want));
	assert_int_equal(access(l->path, F_OK), 0); /* left alone */
	close(fd);
	unlink(l->path);

	/* a regular file is not ours to remove */
	FILE *f = fopen(l->path, "w");
	fputs("data", f);
	fclose(f);
	assert_int_equal(scout_status_listen(&l->loop, l->path, NULL, handler, l, &srv, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want), "%s exists and is not a socket", l->path);
	assert_string_equal(err, want);
	assert_int_equal(access(l->path, F_OK), 0);
	unlink(l->path);

	/* too long for sun_path */
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath));
	memcpy(longpath, "/tmp/", 5);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(scout_status_listen(&l->loop, longpath, NULL, handler, l, &srv, err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_non_null(strstr(err, "too long for a unix socket"));

	/* an unknown group */
	assert_int_equal(scout_status_listen(&l->loop, l->path, "no-such-group-scout-test", handler, l, &srv, err,
					     sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "status_group: no group named 'no-such-group-scout-test'");

	/* a directory that does not exist */
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/no/such/dir.sock", l->dir);
	int r = scout_status_listen(&l->loop, missing, NULL, handler, l, &srv, err, sizeof(err));
	assert_true(r < 0);
	assert_null(srv);
	assert_non_null(strstr(err, missing));
	/* the failed listen's handle closes on the loop: teardown checks */
}

/* A client in a child process that drops to an unprivileged user: it is
 * refused with "denied" (the socket is opened to everyone for this). */
static void test_live_denied(void **state)
{
	struct live *l = *state;
	struct passwd *pw = getpwnam("nobody");
	int pipefd[2];

	if (geteuid() != 0 || !pw) {
		print_message("skipped: needs root and a 'nobody' user to connect as another user\n");
		skip();
	}
	listen_ok(l);
	assert_int_equal(chmod(l->path, 0666), 0);
	assert_int_equal(chmod(l->dir, 0755), 0);
	assert_int_equal(pipe(pipefd), 0);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *line = NULL;
		close(pipefd[0]);
		if (setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 && setuid(pw->pw_uid) == 0) {
			int fd = cl_connect(l->path);
			if (fd >= 0 && cl_send(fd, "{\"cmd\":\"echo\"}\n", 15) == 0)
				line = cl_readline(fd);
		}
		if (line && write(pipefd[1], line, strlen(line)) < 0)
			_exit(2);
		_exit(line ? 0 : 1);
	}
	close(pipefd[1]);

	/* serve until the child is done */
	int status = 0;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		uv_run(&l->loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	char buf[1024] = "";
	ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	buf[n] = 0;

	l->reads[l->nreads++] = strdup(buf);
	assert_error_reply(l, 0, "denied", "is not root, the agent's user or in the socket's group");
	assert_int_equal(scout_status_stats(l->srv)->denied, 1);
	assert_int_equal(l->handled, 0);
}

/* Issue 7, point 14: a socket made in a setgid directory takes the
 * directory's group; with no status_group it must get scoutd's own. */
static void test_setgid_dir_group(void **state)
{
	struct live *l = *state;
	struct stat st;

	if (geteuid() != 0) {
		print_message("skipped: needs root to give the directory another group\n");
		skip();
	}
	assert_int_equal(chown(l->dir, (uid_t)-1, 54321), 0);
	assert_int_equal(chmod(l->dir, 02700), 0);
	listen_ok(l);
	assert_int_equal(lstat(l->path, &st), 0);
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(st.st_mode & 07777, 0660);
}

/* Reads what arrived on fd (non-blocking) into buf; true at EOF. */
static bool drain(int fd, char *buf, size_t size, size_t *len)
{
	for (;;) {
		ssize_t k = recv(fd, buf + *len, size - 1 - *len, MSG_DONTWAIT);
		if (k > 0) {
			*len += (size_t)k;
			buf[*len] = 0;
			continue;
		}
		return k == 0 || (k < 0 && errno == ECONNRESET);
	}
}

/* Issue 7, point 9: out of file descriptors, a client used to be accepted
 * and closed by libuv without a word. Now it gets a "busy" line. */
static void test_live_out_of_fds(void **state)
{
	struct live *l = *state;
	struct rlimit old, low;
	int clients[3], fillers[128], nfill = 0;
	char bufs[3][512] = {{0}};
	size_t lens[3] = {0};
	bool eof[3] = {false};

	listen_ok(l);
	for (int i = 0; i < 3; i++) {
		clients[i] = cl_connect(l->path);
		assert_true(clients[i] >= 0);
		assert_int_equal(cl_send(clients[i], "{\"cmd\":\"echo\"}\n", 15), 0);
	}
	/* every descriptor below a low limit taken: accept() fails EMFILE */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 128) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fillers[nfill++] = fd;
	}
	assert_int_equal(errno, EMFILE);

	uint64_t deadline = uv_hrtime() + 10 * 1000000000ull;
	while (!(eof[0] && eof[1] && eof[2]) && uv_hrtime() < deadline) {
		uv_run(&l->loop, UV_RUN_NOWAIT);
		for (int i = 0; i < 3; i++)
			if (!eof[i])
				eof[i] = drain(clients[i], bufs[i], sizeof(bufs[i]), &lens[i]);
		uv_sleep(1);
	}
	for (int i = 0; i < nfill; i++)
		close(fillers[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

	for (int i = 0; i < 3; i++) {
		close(clients[i]);
		assert_true(eof[i]);
		char *nl = strchr(bufs[i], '\n');
		if (!nl)
			fail_msg("client %d: closed without a reply line (got '%s')", i, bufs[i]);
		*nl = 0;
		l->reads[l->nreads++] = strdup(bufs[i]);
		assert_error_reply(l, (unsigned)i, "busy", "out of file descriptors");
	}
	assert_int_equal(scout_status_stats(l->srv)->busy, 3);
	assert_int_equal(l->handled, 0);

	/* with descriptors back, the next client is served */
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"echo\"}\n"},
		{READ},
		{END},
	};
	run_client(l, script);
	assert_ok_reply(l, 3);
}

/* Issue 7, point 9: idle connections close; one with a request in flight
 * or one that keeps talking does not. */
static void test_live_idle_timeout(void **state)
{
	struct live *l = *state;

	listen_ok(l);
	scout_status_set_idle_timeout(l->srv, 200);
	l->later_ms = 600; /* answered after three idle periods */
	static const struct step script[] = {
		{CONNECT},
		{SEND, "{\"cmd\":\"later\"}\n"},
		{READ},
		{SEND, "{\"cmd\":\"echo\",\"n\":1}\n"},
		{WAIT, NULL, 150},
		{SEND, "{\"cmd\":\"echo\",\"n\":2}\n"},
		{WAIT, NULL, 150},
		{SEND, "{\"cmd\":\"echo\",\"n\":3}\n"},
		{READ},
		{READ},
		{READ},
		/* now it says nothing */
		{WAIT, NULL, 1500},
		{EXPECT_EOF},
		{END},
	};
	run_client(l, script);
	assert_int_equal(l->nreads, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_ok_reply(l, i);
	assert_int_equal(l->eofs, 1);
	assert_int_equal(l->stats.idle_closed, 1);
}

int main(void)
{
	/* as scoutd does: a write to a client that left is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_not_object),
		cmocka_unit_test(test_parse_cmd),
		cmocka_unit_test(test_parse_duplicate_keys),
		cmocka_unit_test(test_parse_trailing_garbage),
		cmocka_unit_test(test_parse_too_long),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test_setup_teardown(test_live_requests, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_bad_request_closes, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_too_large, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_client_gone_before_answer, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_close_with_request_in_flight, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_refuse_live_socket_and_other_files, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_denied, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_setgid_dir_group, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_out_of_fds, live_setup, live_teardown),
		cmocka_unit_test_setup_teardown(test_live_idle_timeout, live_setup, live_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
