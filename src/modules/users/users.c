/* users: local accounts for sites without a directory. It serves the bus's
 * auth.password request (the ipp module asks it when a workstation sends
 * HTTP Basic credentials; the ldap module serves the same request for
 * sites with a directory, and the bus lets only one of them serve it)
 * from a file of "name:hash" lines, where hash is a crypt(3) string as
 * mkpasswd or `openssl passwd -6` make it (yescrypt, sha512crypt, bcrypt,
 * scrypt). Hashing is slow on purpose, so
 * each check runs on the thread pool; a name that is not in the file is
 * checked against a dummy hash, so the time taken does not tell which
 * names exist. Passwords are copied once off the bus and wiped after. */
#include <crypt.h>
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loop/bus.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/work.h"
#include "users-file.h"

#define MAX_CHECKS 16 /* checks queued or running; past it -EAGAIN */
#define MAX_PASSWORD 1023

struct users_conf {
	char *file;
};

static const struct scout_option users_options[] = {
	{.key = "file",
	 .type = SCOUT_OPT_PATH,
	 .offset = offsetof(struct users_conf, file),
	 .def = "/etc/scout/users",
	 .help = "accounts, one \"name:hash\" line each (hash from mkpasswd or openssl passwd -6); "
		 "read at start and reload"},
	{0},
};

struct users {
	struct scout_mod *m;
	struct users_table *table;
	struct scout_sub *sub;
	struct scout_work_group *work;
	char dummy[CRYPT_OUTPUT_SIZE]; /* a hash of nothing anyone knows, for unknown names */
	unsigned inflight;
	bool stopping;
	uint64_t checks, accepted, refused, busy;
};

/* One check: copies of what the asker sent, wiped when done. */
struct check {
	struct users *u;
	uint64_t corr; /* bus request, or 0 for the status command */
	struct scout_status_req *req;
	char user[USERS_MAX_NAME + 1];
	char password[MAX_PASSWORD + 1];
	char hash[CRYPT_OUTPUT_SIZE];
	bool known, ok;
};

static void check_free(struct check *c)
{
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* Pool thread: crypt over the copies only. */
static void check_work(void *arg)
{
	struct check *c = arg;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	if (!cd)
		return;
	h = crypt_rn(c->password, c->hash, cd, sizeof(*cd));
	c->ok = c->known && h && h[0] != '*' && strlen(h) == strlen(c->hash) &&
		users_equal(h, c->hash, strlen(c->hash));
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
}

/* auth.password's reply: {ok: true, user} or {ok: false, reason, text}. */
static void reply(struct users *u, uint64_t corr, int status, const char *reason, const char *text)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, status == 0 ? 2 : 3);
	scout_pack_str(&pk, "ok");
	status == 0 ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	if (status == 0) {
		scout_pack_str(&pk, "user");
		scout_pack_str(&pk, text);
	} else {
		scout_pack_str(&pk, "reason");
		scout_pack_str(&pk, reason);
		scout_pack_str(&pk, "text");
		scout_pack_str(&pk, text);
	}
	(void)scout_bus_reply(scout_mod_bus(u->m), corr, status, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void check_done(void *arg, int status)
{
	struct check *c = arg;
	struct users *u = c->u;

	u->inflight--;
	if (status == 0) {
		if (c->ok)
			u->accepted++;
		else
			u->refused++;
	}
	if (c->req) {
		if (status < 0)
			scout_status_error(c->req, "unavailable", "users: the check did not run (stopping)");
		else
			scout_status_reply(c->req, json_pack("{s:s, s:b, s:s}", "user", c->user, "accepted", c->ok,
							     "result", c->ok ? "accepted" : "refused"));
	} else if (status < 0) {
		reply(u, c->corr, -EAGAIN, "unavailable", "the password check did not run");
	} else if (c->ok) {
		reply(u, c->corr, 0, NULL, c->user);
	} else {
		reply(u, c->corr, -EACCES, "denied", "unknown user or wrong password");
	}
	if (!c->ok && status == 0)
		log_info("users: password refused for '%s'%s", c->user, c->known ? "" : " (no such user)");
	check_free(c);
}

/* Queues a check of user and password (copied here); 0 or -errno. */
static int check_start(struct users *u, const char *user, size_t ulen, const char *pw, size_t pwlen, uint64_t corr,
		       struct scout_status_req *req)
{
	struct check *c;
	const char *hash;
	int r;

	if (ulen == 0 || ulen > USERS_MAX_NAME || memchr(user, '\0', ulen) || pwlen == 0 || pwlen > MAX_PASSWORD ||
	    memchr(pw, '\0', pwlen))
		return -EINVAL;
	if (u->inflight >= MAX_CHECKS || u->stopping) {
		u->busy++;
		return -EAGAIN;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->u = u;
	c->corr = corr;
	c->req = req;
	memcpy(c->user, user, ulen);
	memcpy(c->password, pw, pwlen);
	hash = users_find(u->table, c->user);
	c->known = hash != NULL;
	snprintf(c->hash, sizeof(c->hash), "%s", hash ? hash : u->dummy);
	if ((r = scout_work_submit(u->work, check_work, check_done, c)) < 0) {
		check_free(c);
		return r;
	}
	u->inflight++;
	u->checks++;
	return 0;
}

static void on_auth(const struct scout_msg *msg, void *arg)
{
	struct users *u = arg;
	msgpack_unpacked up;
	const char *user = NULL, *pw = NULL;
	size_t ulen = 0, pwlen = 0;
	int r = -EINVAL;

	if (!msg->corr)
		return;
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, msg->data, msg->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_str(&up.data, "user", &user, &ulen) == 0 &&
	    scout_pack_get_str(&up.data, "password", &pw, &pwlen) == 0)
		r = check_start(u, user, ulen, pw, pwlen, msg->corr, NULL);
	msgpack_unpacked_destroy(&up);
	if (r == -EINVAL)
		reply(u, msg->corr, r, "denied", "auth.password needs a user and a password (1 to 1023 bytes, no NUL)");
	else if (r == -EAGAIN)
		reply(u, msg->corr, r, "unavailable", "too many password checks at once");
	else if (r < 0)
		reply(u, msg->corr, r, "unavailable", strerror(-r));
}

/* A hash of a random password, in the file's usual scheme: checks of
 * unknown names cost what checks of known ones do. */
static int make_dummy(struct users *u)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], pw[33];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h = NULL;

	if (!cd)
		return -ENOMEM;
	if (crypt_gensalt_rn(users_scheme(u->table), 0, NULL, 0, setting, sizeof(setting)) &&
	    uv_random(NULL, NULL, pw, sizeof(pw) - 1, 0, NULL) == 0) {
		for (size_t i = 0; i < sizeof(pw) - 1; i++)
			pw[i] = (char)('a' + (unsigned char)pw[i] % 26);
		pw[sizeof(pw) - 1] = '\0';
		h = crypt_rn(pw, setting, cd, sizeof(*cd));
	}
	if (h && h[0] != '*')
		snprintf(u->dummy, sizeof(u->dummy), "%s", h);
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return u->dummy[0] ? 0 : -EINVAL;
}

/* Reads the file into a new table; on failure says why, naming FILE:LINE. */
static int load(struct users *u, const char *file, struct users_table **ret, char *err, size_t errlen)
{
	char warn[256] = "";
	int r = users_load(file, ret, warn, sizeof(warn), err, errlen);

	if (r == 0 && warn[0])
		log_warn("users: %s", warn);
	return r;
}

static int users_start(struct scout_mod *m)
{
	const struct users_conf *conf = scout_mod_conf(m);
	struct users *u = calloc(1, sizeof(*u));
	struct scout_topic *topic;
	char err[512];
	int r;

	if (!u)
		return -ENOMEM;
	u->m = m;
	scout_mod_set_priv(m, u);
	if ((r = load(u, conf->file, &u->table, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "%s", err);
		return r;
	}
	if (make_dummy(u) < 0) {
		scout_mod_fail(m, "cannot make a hash in scheme %s", users_scheme(u->table));
		return -EINVAL;
	}
	if ((r = scout_work_group_new(scout_mod_loop(m), "users", &u->work)) < 0 ||
	    (r = scout_mod_topic(m, "auth.password", &topic)) < 0)
		return r;
	if ((r = scout_bus_subscribe(scout_mod_bus(m), topic, on_auth, u, 256, &u->sub)) == -EBUSY) {
		scout_mod_fail(m, "auth.password has a server already: enable one of [users] and [ldap]");
		return r;
	} else if (r < 0) {
		return r;
	}
	log_info("users: %zu account(s) from %s", users_count(u->table), conf->file);
	return 0;
}

static int users_reload(struct scout_mod *m, const void *old_conf)
{
	const struct users_conf *conf = scout_mod_conf(m);
	struct users *u = scout_mod_priv(m);
	struct users_table *t;
	char err[512];

	if (load(u, conf->file, &t, err, sizeof(err)) < 0) {
		scout_mod_refuse(m, "%s", err);
		return -EINVAL;
	}
	/* checks in flight copied their hash: the old table can go now */
	users_free(u->table);
	u->table = t;
	(void)make_dummy(u);
	log_info("users: %zu account(s) from %s", users_count(u->table), conf->file);
	return 0;
}

static void users_status(struct scout_mod *m, json_t *obj)
{
	const struct users_conf *conf = scout_mod_conf(m);
	struct users *u = scout_mod_priv(m);

	if (!u || !u->table)
		return;
	json_object_set_new(obj, "file", json_string(conf->file));
	json_object_set_new(obj, "accounts", json_integer((json_int_t)users_count(u->table)));
	json_object_set_new(obj, "counters",
			    json_pack("{s:I, s:I, s:I, s:I}", "checks", (json_int_t)u->checks, "accepted",
				      (json_int_t)u->accepted, "refused", (json_int_t)u->refused, "busy",
				      (json_int_t)u->busy));
}

static void work_idle(void *arg)
{
	struct users *u = arg;
	scout_closer_release(scout_mod_closer(u->m));
}

static void users_cleanup(void *arg)
{
	struct users *u = arg;

	users_free(u->table);
	explicit_bzero(u->dummy, sizeof(u->dummy));
	free(u);
}

static void users_stop(struct scout_mod *m)
{
	struct users *u = scout_mod_priv(m);

	if (!u) {
		scout_mod_stopped(m);
		return;
	}
	u->stopping = true;
	scout_bus_unsubscribe(u->sub);
	u->sub = NULL;
	if (u->work) {
		scout_closer_hold(scout_mod_closer(m));
		scout_work_group_close(u->work, 1, work_idle, u);
		u->work = NULL;
	}
	scout_mod_stopped_when_closed(m, users_cleanup, u);
}

static void cmd_users(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct users *u = scout_mod_priv(m);
	json_t *rows = json_array();

	for (size_t i = 0; i < users_count(u->table); i++)
		json_array_append_new(rows, json_pack("{s:s, s:s}", "name", users_name_at(u->table, i), "scheme",
						      users_scheme_of(users_hash_at(u->table, i))));
	scout_status_reply(req, json_pack("{s:o}", "users", rows));
}

static void cmd_users_test(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct users *u = scout_mod_priv(m);
	json_t *user = json_object_get(request, "user"), *pw = json_object_get(request, "password");
	int r = -EINVAL;

	if (json_is_string(user) && json_is_string(pw))
		r = check_start(u, json_string_value(user), json_string_length(user), json_string_value(pw),
				json_string_length(pw), 0, req);
	if (r == -EINVAL)
		scout_status_error(req, "bad_request", "users test needs a user name and a password (1 to %d bytes)",
				   MAX_PASSWORD);
	else if (r < 0)
		scout_status_error(req, "unavailable", "users: %s", strerror(-r));
}

static const struct scout_arg users_test_args[] = {
	{"user", SCOUT_ARG_STRING, true, "the account's name"},
	{"password", SCOUT_ARG_SECRET, true, "password"},
	{0},
};
static const struct scout_column users_columns[] = {{"name", "USER", 0}, {"scheme", "HASH", 0}, {0}};
static const struct scout_table users_tables[] = {{"users", users_columns}, {0}};
static const char *const users_test_text[] = {"{user}: password {result}", NULL};
static const struct scout_command users_commands[] = {
	{"users", cmd_users, "local accounts and their hash schemes (never the hashes)", NULL, users_tables, NULL},
	{"users test", cmd_users_test, "checks a password against the users file, as a printer login would",
	 users_test_args, NULL, users_test_text},
	{0},
};

static const struct scout_topic_decl users_topics[] = {
	{"auth.password", SCOUT_TOPIC_REQUEST,
	 "request {user: str, password: str, source?: str (who asks: an address)} -> {ok: true, user: str "
	 "(the account's name), display?, dn?, mail?, groups?: [str]}; -EACCES {ok: false, reason: "
	 "denied|disabled|locked|expired|not-allowed, text}; -EAGAIN {ok: false, reason: throttled|unavailable, "
	 "text, retry_after_ms?}; -EHOSTUNREACH {ok: false, reason: unavailable, text}. Served by the users or the "
	 "ldap module, whichever is enabled"},
	{0},
};

const struct scout_module scout_users_module = {
	.name = "users",
	.summary = "local accounts (name:hash file) for password logins without a directory",
	.default_enabled = false,
	.options = users_options,
	.conf_size = sizeof(struct users_conf),
	.start = users_start,
	.reload = users_reload,
	.status = users_status,
	.stop = users_stop,
	.commands = users_commands,
	.topics = users_topics,
};
