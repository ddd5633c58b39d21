/* Unit tests for the vault module on a real loop, bus and store in a temp
 * dir, driven as its peers drive it: job.* requests on the bus, commands
 * over a real status socket. Locked refusal, vault init, small (inline)
 * and big (file) jobs read back through job.open/read, abort, list by
 * user, cancel, quotas, expiry, a restart that finds its jobs, orphan
 * files and records without files at start, rotate-key (and a crash in
 * the middle of one), a full disk, and kill -9 of a process committing
 * jobs: every acknowledged job decrypts to exactly its bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "status-client.h"

#include "loop/agent.h"
#include "loop/bus.h"
#include "loop/config.h"
#include "loop/log.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"

struct env {
	char dir[128];
	char conf_extra[512];
	uint64_t store_max;
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_bus *bus;
	struct scout_store *store;
	const struct scout_schema *schema;
	struct scout_host *host;
	struct scout_status_server *srv;
	char sock[160];
	struct status_client client;
	bool stopped, bus_closed, running;
	/* the last bus reply */
	bool answered;
	int status;
	char *data;
	size_t len;
	/* job.held events */
	struct scout_sub *held_sub;
	unsigned held;
	uint64_t last_held_id;
	int64_t last_held_pages;
};

/* Runs the loop for about ms milliseconds. */
static void run_for(struct env *e, uint64_t ms)
{
	loop_run_for(&e->loop, &e->timer, ms);
}

#define WAIT_FOR(e, cond) LOOP_WAIT_FOR(&(e)->loop, &(e)->timer, cond, 30)

/* ---- the status socket ---- */

static void on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct env *e = arg;

	if (!scout_host_command(e->host, cmd, req, request))
		scout_status_error(req, "unknown", "no command %s", cmd);
}

/* One request line over the status socket; the reply (caller decrefs). */
static json_t *cmd(struct env *e, const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return status_client_ask(&e->client, &e->loop, &e->timer, e->sock, line, 30);
}

static bool cmd_ok(struct env *e, const char *fmt, const char *arg)
{
	json_t *r = cmd(e, fmt, arg);
	bool ok = json_is_true(json_object_get(r, "ok"));
	if (!ok)
		print_message("reply: %s\n", e->client.buf);
	json_decref(r);
	return ok;
}

/* ---- the bus ---- */

static void on_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct env *e = arg;

	e->answered = true;
	e->status = status;
	free(e->data);
	e->data = NULL;
	e->len = 0;
	if (reply && reply->len) {
		e->data = malloc(reply->len);
		memcpy(e->data, reply->data, reply->len);
		e->len = reply->len;
	}
}

static void on_held(const struct scout_msg *msg, void *arg)
{
	struct env *e = arg;
	msgpack_unpacked u;

	e->held++;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_uint(&u.data, "id", &e->last_held_id), 0);
	const msgpack_object *p = scout_pack_get(&u.data, "pages");
	assert_non_null(p);
	e->last_held_pages = p->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? p->via.i64 : (int64_t)p->via.u64;
	msgpack_unpacked_destroy(&u);
}

/* Asks topic with a payload; returns the status (the reply in e->data). */
static int ask(struct env *e, const char *topic, const msgpack_sbuffer *sb)
{
	struct scout_topic *t = scout_bus_find(e->bus, topic);

	assert_non_null(t);
	e->answered = false;
	assert_int_equal(scout_bus_request(e->bus, t, sb->data, sb->size, 30000, on_reply, e, NULL), 0);
	WAIT_FOR(e, e->answered);
	return e->status;
}

static uint64_t reply_uint(struct env *e, const char *key)
{
	msgpack_unpacked u;
	uint64_t x = 0;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_uint(&u.data, key, &x), 0);
	msgpack_unpacked_destroy(&u);
	return x;
}

static bool reply_has_reason(struct env *e, const char *word)
{
	msgpack_unpacked u;
	const char *s;
	size_t n;
	bool found = false;

	msgpack_unpacked_init(&u);
	if (e->data && msgpack_unpack_next(&u, e->data, e->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_str(&u.data, "reason", &s, &n) == 0)
		found = memmem(s, n, word, strlen(word)) != NULL;
	msgpack_unpacked_destroy(&u);
	return found;
}

#define PK(sb, pk)                 \
	msgpack_sbuffer sb;        \
	msgpack_packer pk;         \
	msgpack_sbuffer_init(&sb); \
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write)

static int create(struct env *e, const char *owner, const char *name, uint64_t hint, uint32_t *ret_id)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, 5);
	scout_pack_str(&pk, "owner");
	scout_pack_str(&pk, owner);
	scout_pack_str(&pk, "name");
	scout_pack_str(&pk, name);
	scout_pack_str(&pk, "format");
	scout_pack_str(&pk, "application/pdf");
	scout_pack_str(&pk, "copies");
	msgpack_pack_uint32(&pk, 2);
	scout_pack_str(&pk, "size_hint");
	msgpack_pack_uint64(&pk, hint);
	int r = ask(e, "job.create", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (r == 0 && ret_id)
		*ret_id = (uint32_t)reply_uint(e, "id");
	return r;
}

static int id_req(struct env *e, const char *topic, const char *key, uint64_t id)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, key);
	msgpack_pack_uint64(&pk, id);
	int r = ask(e, topic, &sb);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static int write_data(struct env *e, uint32_t id, const void *data, size_t len)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "data");
	msgpack_pack_bin_with_body(&pk, data, len);
	int r = ask(e, "job.write", &sb);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

/* Writes len bytes in pieces of up to 256 KiB, then commits. */
static int submit(struct env *e, const char *owner, const char *name, const uint8_t *data, size_t len, uint32_t *ret_id)
{
	uint32_t id;
	int r = create(e, owner, name, len, &id);

	if (r < 0)
		return r;
	for (size_t off = 0; off < len; off += 256 * 1024) {
		size_t n = len - off < 256 * 1024 ? len - off : 256 * 1024;
		if ((r = write_data(e, id, data + off, n)) < 0)
			return r;
	}
	r = id_req(e, "job.commit", "id", id);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

/* The document back through job.open/read/close; caller frees. */
/* Reads a job back, count chunks a job.read (1: without "count"). */
static uint8_t *read_back_n(struct env *e, uint32_t id, unsigned count, size_t *ret_len)
{
	if (id_req(e, "job.open", "id", id) < 0)
		return NULL;
	uint64_t handle = reply_uint(e, "handle"), size = reply_uint(e, "size"), chunks = reply_uint(e, "chunks");
	uint8_t *out = malloc(size ? size : 1);
	size_t got = 0;

	for (uint64_t i = 0; i < chunks; i += count) {
		PK(sb, pk);
		msgpack_pack_map(&pk, count > 1 ? 3 : 2);
		scout_pack_str(&pk, "handle");
		msgpack_pack_uint64(&pk, handle);
		scout_pack_str(&pk, "index");
		msgpack_pack_uint64(&pk, i);
		if (count > 1) {
			scout_pack_str(&pk, "count");
			msgpack_pack_uint32(&pk, count);
		}
		int r = ask(e, "job.read", &sb);
		msgpack_sbuffer_destroy(&sb);
		if (r < 0) {
			free(out);
			return NULL;
		}
		msgpack_unpacked u;
		bool last;
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
		const msgpack_object *d = scout_pack_get(&u.data, "data");
		assert_non_null(d);
		assert_int_equal(d->type, MSGPACK_OBJECT_BIN);
		assert_int_equal(scout_pack_get_bool(&u.data, "last", &last), 0);
		assert_true(last == (i + count >= chunks));
		assert_true(got + d->via.bin.size <= size);
		memcpy(out + got, d->via.bin.ptr, d->via.bin.size);
		got += d->via.bin.size;
		msgpack_unpacked_destroy(&u);
	}
	assert_int_equal(got, size);
	assert_int_equal(id_req(e, "job.close", "handle", handle), 0);
	*ret_len = got;
	return out;
}

static uint8_t *read_back(struct env *e, uint32_t id, size_t *ret_len)
{
	return read_back_n(e, id, 1, ret_len);
}

static void assert_reads_back(struct env *e, uint32_t id, const uint8_t *data, size_t len)
{
	size_t n;
	uint8_t *got = read_back(e, id, &n);

	assert_non_null(got);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);
	free(got);
}

/* job.list's jobs (count) for user, which */
static size_t list(struct env *e, const char *user, const char *which)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, (user ? 1 : 0) + (which ? 1 : 0));
	if (user) {
		scout_pack_str(&pk, "user");
		scout_pack_str(&pk, user);
	}
	if (which) {
		scout_pack_str(&pk, "which");
		scout_pack_str(&pk, which);
	}
	int r = ask(e, "job.list", &sb);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0)
		return (size_t)-1;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
	const msgpack_object *j = scout_pack_get(&u.data, "jobs");
	assert_non_null(j);
	assert_int_equal(j->type, MSGPACK_OBJECT_ARRAY);
	size_t n = j->via.array.size;
	for (size_t i = 0; i < n && user; i++) {
		const char *o;
		size_t ol;
		assert_int_equal(scout_pack_get_str(&j->via.array.ptr[i], "owner", &o, &ol), 0);
		assert_true(ol == strlen(user) && memcmp(o, user, ol) == 0);
	}
	msgpack_unpacked_destroy(&u);
	return n;
}

/* ---- set-up ---- */

static struct scout_config *parse(struct env *e)
{
	char text[2048];
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;

	snprintf(text, sizeof(text),
		 "[agent]\nstate_dir = %s\n[health]\nenabled = no\n[vault]\nenabled = yes\nkdf_cost = 10\n"
		 "min_free_disk = 0\n%s",
		 e->dir, e->conf_extra);
	int r = scout_config_parse(e->schema, "t.ini", text, strlen(text), &d, &cfg);
	for (size_t i = 0; i < d.n; i++)
		print_error("problem: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	scout_diag_free(&d);
	return cfg;
}

static void start(struct env *e)
{
	char err[512] = "";

	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(uv_timer_init(&e->loop, &e->timer), 0);
	assert_int_equal(scout_bus_new(&e->loop, &e->bus), 0);
	if (scout_store_open(e->dir, e->store_max ? e->store_max : 256 << 20, &e->store, err, sizeof(err)) < 0)
		fail_msg("store: %s", err);
	assert_int_equal(scout_agent_schema(&e->schema), 0);
	assert_int_equal(scout_host_new(e->schema, &e->host), 0);
	struct scout_config *cfg = parse(e);
	struct scout_host_env henv = {.loop = &e->loop, .bus = e->bus, .store = e->store, .state_dir = e->dir};
	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
	snprintf(e->sock, sizeof(e->sock), "%s/s.sock", e->dir);
	if (scout_status_listen(&e->loop, e->sock, NULL, on_request, e, &e->srv, err, sizeof(err)) < 0)
		fail_msg("status socket: %s", err);
	assert_int_equal(scout_bus_subscribe(e->bus, scout_bus_find(e->bus, "job.held"), on_held, e, 0, &e->held_sub),
			 0);
	e->running = true;
	e->stopped = e->bus_closed = false;
	/* the start-up scan has run once vault.status answers */
	PK(sb, pk);
	msgpack_pack_map(&pk, 0);
	for (int i = 0; i < 3000; i++) {
		ask(e, "vault.status", &sb);
		msgpack_unpacked u;
		const char *s;
		size_t n;
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(scout_pack_get_str(&u.data, "reason", &s, &n), 0);
		bool opening = n == 16 && memcmp(s, "vault is opening", 16) == 0;
		msgpack_unpacked_destroy(&u);
		if (!opening)
			break;
		run_for(e, 10);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void on_stopped(void *arg)
{
	((struct env *)arg)->stopped = true;
}

static void on_bus_closed(void *arg)
{
	((struct env *)arg)->bus_closed = true;
}

static void stop(struct env *e)
{
	if (!e->running)
		return;
	scout_status_close(e->srv, NULL, NULL);
	scout_host_stop(e->host, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->stopped);
	scout_store_async_stop(e->store, NULL, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	scout_bus_unsubscribe(e->held_sub);
	scout_bus_close(e->bus, on_bus_closed, e);
	uv_close((uv_handle_t *)&e->timer, NULL);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_true(e->bus_closed);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	scout_host_free(e->host);
	scout_store_close(e->store);
	e->running = false;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	strcpy(e->dir, "/tmp/scout-test-vault-XXXXXX");
	e->client.cap = 8 << 20;
	assert_non_null(mkdtemp(e->dir));
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char c[300];

	stop(e);
	free(e->data);
	snprintf(c, sizeof(c), "umount -l '%s' 2>/dev/null; rm -rf '%s'", e->dir, e->dir);
	assert_int_equal(system(c), 0);
	status_client_free(&e->client);
	free(e);
	return 0;
}

static void init(struct env *e, const char *pw)
{
	assert_true(cmd_ok(e, "{\"cmd\":\"vault init\",\"password\":\"%s\"}", pw));
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* Whether any file under dir (recursively) contains needle. */
static bool tree_contains(const char *dir, const void *needle, size_t nlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	while (d && !found && (de = readdir(d))) {
		char p[512];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			found = tree_contains(p, needle, nlen);
		} else if (S_ISREG(st.st_mode) && st.st_size) {
			FILE *f = fopen(p, "rb");
			uint8_t *buf = malloc((size_t)st.st_size);
			if (f && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size)
				found = memmem(buf, (size_t)st.st_size, needle, nlen) != NULL;
			free(buf);
			if (f)
				fclose(f);
		}
	}
	if (d)
		closedir(d);
	return found;
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* ---- tests ---- */

static void test_locked_then_init(void **state)
{
	struct env *e = *state;
	char path[256];
	struct stat st;
	uint32_t id;

	start(e);
	assert_int_equal(create(e, "alice", "a.pdf", 10, &id), -EACCES);
	assert_true(reply_has_reason(e, "vault init"));
	assert_int_equal(list(e, NULL, NULL), (size_t)-1);
	json_t *r = cmd(e, "{\"cmd\":\"vault status\"}");
	assert_true(json_is_true(json_object_get(json_object_get(r, "vault"), "locked")));
	json_decref(r);

	init(e, "correct horse");
	snprintf(path, sizeof(path), "%s/vault.key", e->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(create(e, "alice", "a.pdf", 10, &id), 0);
	assert_true(id >= 1 && id <= 0x7fffffff);

	r = cmd(e, "{\"cmd\":\"vault init\",\"password\":\"wrong\"}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(e->client.buf, "wrong password"));
	json_decref(r);
	/* a second init with the right password is fine (rewrites the key) */
	init(e, "correct horse");
}

/* A key file that cannot be written (a read-only credential, a missing
 * directory) does not keep the running vault locked; the reply says so,
 * and the next start is locked again. */
static void test_init_unwritable_key_file(void **state)
{
	struct env *e = *state;
	uint32_t id;

	snprintf(e->conf_extra, sizeof(e->conf_extra), "key_file = %s/no-such-dir/vault.key\n", e->dir);
	start(e);
	json_t *r = cmd(e, "{\"cmd\":\"vault init\",\"password\":\"pw\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_false(json_object_get(r, "key_file_written")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "warning")), "no-such-dir"));
	json_decref(r);
	assert_int_equal(create(e, "alice", "a", 1, &id), 0);
	stop(e);
	start(e);
	assert_int_equal(create(e, "alice", "a", 1, &id), -EACCES);
	init(e, "pw");
	assert_int_equal(create(e, "alice", "a", 1, &id), 0);
}

static void test_small_and_big_jobs(void **state)
{
	struct env *e = *state;
	static const char secret[] = "PAYROLL-CONFIDENTIAL-0123456789";
	size_t big_len = 3 * 65536 + 1234;
	uint8_t small[4096], *big = malloc(big_len);
	uint32_t a, b, c;

	start(e);
	init(e, "pw");
	fill(small, sizeof(small), 1);
	memcpy(small + 100, secret, sizeof(secret));
	fill(big, big_len, 2);
	memcpy(big + 70000, secret, sizeof(secret));
	assert_int_equal(submit(e, "alice", "salaries-2026.pdf", small, sizeof(small), &a), 0);
	assert_int_equal(reply_uint(e, "id"), a);
	assert_true(reply_uint(e, "expires") > (uint64_t)time(NULL) + 3600);
	assert_int_equal(submit(e, "bob", "big.pdf", big, big_len, &b), 0);
	/* exactly one chunk stays inline; one byte more is a file */
	assert_int_equal(submit(e, "alice", "x", big, 65536, &c), 0);
	WAIT_FOR(e, e->held >= 3);

	assert_reads_back(e, a, small, sizeof(small));
	assert_reads_back(e, b, big, big_len);
	assert_reads_back(e, c, big, 65536);
	assert_int_equal(list(e, "alice", NULL), 2);
	assert_int_equal(list(e, "bob", NULL), 1);
	assert_int_equal(list(e, NULL, NULL), 3);
	assert_int_equal(list(e, "carol", NULL), 0);
	assert_int_equal(count_files(strcat(strcpy((char[200]){0}, e->dir), "/vault")), 1);

	json_t *r = cmd(e, "{\"cmd\":\"jobs\",\"user\":\"alice\"}");
	assert_int_equal(json_array_size(json_object_get(r, "jobs")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r, "jobs"), 0), "owner")),
			    "alice");
	json_decref(r);
	r = cmd(e, "{\"cmd\":\"job\",\"id\":\"%u\"}", b);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "job"), "storage")), "file");
	json_decref(r);

	/* no plaintext of the documents or their names anywhere on disk */
	stop(e);
	assert_false(tree_contains(e->dir, secret, strlen(secret)));
	assert_false(tree_contains(e->dir, "salaries-2026", 13));
	assert_false(tree_contains(e->dir, "alice", 5));
	free(big);
}

/* A real PDF: the analysis (on the pool, after the commit) finds its
 * pages; job.held carries them and the list shows them. */
static void test_analysis(void **state)
{
	struct env *e = *state;
	const char *dir = getenv("SCOUT_PRINTDATA");
	char path[512];
	uint32_t id;

	if (!dir) {
		print_message("test_analysis: SKIP: SCOUT_PRINTDATA is not set\n");
		skip();
	}
	snprintf(path, sizeof(path), "%s/color3.pdf", dir);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	start(e);
	init(e, "pw");
	assert_int_equal(submit(e, "alice", "colour.pdf", buf, n, &id), 0);
	WAIT_FOR(e, e->held >= 1);
	assert_int_equal(e->last_held_id, id);
	assert_int_equal(e->last_held_pages, 3);
	json_t *r = cmd(e, "{\"cmd\":\"job\",\"id\":%u}", id);
	json_t *job = json_object_get(r, "job");
	assert_int_equal(json_integer_value(json_object_get(job, "pages")), 3);
	assert_string_equal(json_string_value(json_object_get(job, "pages_source")), "pdf");
	json_decref(r);
	/* the analysis is sealed in the record: it survives a restart */
	stop(e);
	start(e);
	r = cmd(e, "{\"cmd\":\"job\",\"id\":%u}", id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "job"), "pages")), 3);
	json_decref(r);
	free(buf);
}

/* A 30 MiB job is streamed: sealed and written a chunk at a time, never
 * held whole (the resident set grows by far less than the document). */
static void test_big_job_streams(void **state)
{
	struct env *e = *state;
	size_t len = 30u << 20, rss0 = 0, rss1 = 0;
	uint8_t *buf = malloc(len);
	uint32_t id;

	start(e);
	init(e, "pw");
	fill(buf, len, 11);
	uv_resident_set_memory(&rss0);
	assert_int_equal(submit(e, "alice", "big", buf, len, &id), 0);
	uv_resident_set_memory(&rss1);
#if defined(__SANITIZE_ADDRESS__)
	print_message("test_big_job_streams: RSS not checked under ASan (its quarantine keeps freed memory)\n");
#else
	if (rss1 > rss0 + (8u << 20))
		fail_msg("RSS grew by %zu KiB for a 30 MiB job", (rss1 - rss0) >> 10);
#endif
	assert_reads_back(e, id, buf, len);
	free(buf);
}

static void test_write_errors_and_abort(void **state)
{
	struct env *e = *state;
	uint8_t buf[200000];
	char vdir[200];
	uint32_t id;

	start(e);
	init(e, "pw");
	snprintf(vdir, sizeof(vdir), "%s/vault", e->dir);
	fill(buf, sizeof(buf), 3);
	assert_int_equal(create(e, "alice", "a", 0, &id), 0);
	assert_int_equal(id_req(e, "job.commit", "id", id), -ENODATA);
	assert_int_equal(write_data(e, id, buf, sizeof(buf)), 0);
	assert_int_equal(write_data(e, id, buf, sizeof(buf)), 0);
	assert_int_equal(count_files(vdir), 1);
	PK(sb, pk);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, "client went away");
	assert_int_equal(ask(e, "job.abort", &sb), 0);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(write_data(e, id, buf, 10), -ENOENT);

	/* a locked vault expires jobs too: the expiry is in the clear */
	strcpy(e->conf_extra, "hold_for = 2s\n");
	stop(e);
	start(e);
	assert_int_equal(submit(e, "alice", "d", buf, sizeof(buf), NULL), 0);
	assert_int_equal(count_files(vdir), 1);
	stop(e);
	char kp[300];
	snprintf(kp, sizeof(kp), "%s/vault.key", e->dir);
	assert_int_equal(unlink(kp), 0);
	start(e);
	assert_int_equal(list(e, NULL, NULL), (size_t)-1);
	WAIT_FOR(e, count_files(vdir) == 0);
	init(e, "pw");
	assert_int_equal(list(e, NULL, "all"), 0);
	assert_int_equal(id_req(e, "job.commit", "id", id), -ENOENT);
	WAIT_FOR(e, count_files(vdir) == 0);
	assert_int_equal(list(e, NULL, "all"), 0);

	/* bad payloads */
	PK(sb2, pk2);
	msgpack_pack_map(&pk2, 1);
	scout_pack_str(&pk2, "owner");
	msgpack_pack_uint32(&pk2, 7);
	assert_int_equal(ask(e, "job.create", &sb2), -EINVAL);
	msgpack_sbuffer_destroy(&sb2);
	assert_int_equal(write_data(e, 12345, buf, 10), -ENOENT);
	assert_int_equal(create(e, "alice", "a", 0, &id), 0);
	assert_int_equal(write_data(e, id, buf, 0), -EINVAL);
}

/* job.list's filters, job.read's bounds, vault.status, and payloads of the
 * wrong types. */
static void test_list_read_payloads(void **state)
{
	struct env *e = *state;
	uint8_t buf[100];
	uint32_t a, b;

	start(e);
	init(e, "pw");
	fill(buf, sizeof(buf), 12);
	assert_int_equal(submit(e, "alice", "a", buf, sizeof(buf), &a), 0);
	assert_int_equal(submit(e, "alice", "b", buf, sizeof(buf), &b), 0);
	PK(sb, pk);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, b);
	scout_pack_str(&pk, "limit");
	msgpack_pack_uint32(&pk, 5);
	assert_int_equal(ask(e, "job.list", &sb), 0);
	msgpack_sbuffer_destroy(&sb);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
	const msgpack_object *jobs = scout_pack_get(&u.data, "jobs");
	assert_int_equal(jobs->via.array.size, 1);
	uint64_t id;
	assert_int_equal(scout_pack_get_uint(&jobs->via.array.ptr[0], "id", &id), 0);
	assert_int_equal(id, b);
	msgpack_unpacked_destroy(&u);

	PK(sb2, pk2);
	msgpack_pack_map(&pk2, 1);
	scout_pack_str(&pk2, "limit");
	msgpack_pack_uint32(&pk2, 1);
	assert_int_equal(ask(e, "job.list", &sb2), 0);
	msgpack_sbuffer_destroy(&sb2);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get(&u.data, "jobs")->via.array.size, 1);
	msgpack_unpacked_destroy(&u);

	PK(sb3, pk3);
	msgpack_pack_map(&pk3, 1);
	scout_pack_str(&pk3, "which");
	msgpack_pack_uint32(&pk3, 1);
	assert_int_equal(ask(e, "job.list", &sb3), -EINVAL);
	msgpack_sbuffer_destroy(&sb3);
	PK(sb4, pk4);
	msgpack_pack_map(&pk4, 1);
	scout_pack_str(&pk4, "which");
	scout_pack_str(&pk4, "everything");
	assert_int_equal(ask(e, "job.list", &sb4), -EINVAL);
	msgpack_sbuffer_destroy(&sb4);

	/* job.read: past the last chunk, an unknown handle, a closed one */
	assert_int_equal(id_req(e, "job.open", "id", a), 0);
	uint64_t h = reply_uint(e, "handle");
	assert_int_equal(reply_uint(e, "chunks"), 1);
	assert_int_equal(reply_uint(e, "size"), sizeof(buf));
	PK(sb5, pk5);
	msgpack_pack_map(&pk5, 2);
	scout_pack_str(&pk5, "handle");
	msgpack_pack_uint64(&pk5, h);
	scout_pack_str(&pk5, "index");
	msgpack_pack_uint64(&pk5, 1);
	assert_int_equal(ask(e, "job.read", &sb5), -EINVAL);
	msgpack_sbuffer_destroy(&sb5);
	assert_int_equal(id_req(e, "job.close", "handle", h), 0);
	assert_int_equal(id_req(e, "job.close", "handle", h), -ENOENT);
	assert_int_equal(id_req(e, "job.open", "id", 999), -ENOENT);

	/* a payload that is not a map, and garbage */
	msgpack_sbuffer nil;
	msgpack_sbuffer_init(&nil);
	msgpack_sbuffer_write(&nil, "\xc0", 1);
	assert_int_equal(ask(e, "job.create", &nil), -EINVAL);
	assert_int_equal(ask(e, "job.write", &nil), -EINVAL);
	assert_int_equal(ask(e, "job.commit", &nil), -EINVAL);
	assert_int_equal(ask(e, "job.cancel", &nil), -EINVAL);
	assert_int_equal(ask(e, "job.open", &nil), -EINVAL);
	msgpack_sbuffer_destroy(&nil);

	PK(sb6, pk6);
	msgpack_pack_map(&pk6, 0);
	assert_int_equal(ask(e, "vault.status", &sb6), 0);
	msgpack_sbuffer_destroy(&sb6);
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, e->data, e->len, NULL), MSGPACK_UNPACK_SUCCESS);
	bool locked = true, accepting = false;
	assert_int_equal(scout_pack_get_bool(&u.data, "locked", &locked), 0);
	assert_int_equal(scout_pack_get_bool(&u.data, "accepting", &accepting), 0);
	assert_false(locked);
	assert_true(accepting);
	msgpack_unpacked_destroy(&u);
}

static void test_quotas(void **state)
{
	struct env *e = *state;
	uint8_t buf[100000];
	uint32_t id;

	strcpy(e->conf_extra, "max_jobs_per_user = 2\nmax_bytes_per_user = 150000\nmax_job_size = 120000\n");
	start(e);
	init(e, "pw");
	fill(buf, sizeof(buf), 4);
	assert_int_equal(submit(e, "alice", "1", buf, 1000, NULL), 0);
	assert_int_equal(submit(e, "alice", "2", buf, 1000, NULL), 0);
	assert_int_equal(create(e, "alice", "3", 0, &id), -EDQUOT);
	assert_true(reply_has_reason(e, "max_jobs_per_user"));
	assert_int_equal(create(e, "bob", "big", 200000, &id), -EFBIG);
	assert_int_equal(create(e, "bob", "1", 0, &id), 0);
	assert_int_equal(write_data(e, id, buf, sizeof(buf)), 0);
	assert_int_equal(write_data(e, id, buf, 30000), -EFBIG); /* over max_job_size */
	assert_int_equal(id_req(e, "job.commit", "id", id), 0);
	assert_int_equal(create(e, "bob", "2", 0, &id), 0);
	assert_int_equal(write_data(e, id, buf, 60000), -EFBIG); /* over max_bytes_per_user */
	json_t *r = cmd(e, "{\"cmd\":\"vault status\"}");
	assert_true(json_integer_value(
			    json_object_get(json_object_get(json_object_get(r, "vault"), "refused"), "quota")) >= 2);
	json_decref(r);
}

static void test_cancel_and_done(void **state)
{
	struct env *e = *state;
	uint8_t buf[150000];
	char vdir[200];
	uint32_t a, b, c;

	start(e);
	init(e, "pw");
	snprintf(vdir, sizeof(vdir), "%s/vault", e->dir);
	fill(buf, sizeof(buf), 5);
	assert_int_equal(submit(e, "alice", "a", buf, sizeof(buf), &a), 0);
	assert_int_equal(submit(e, "alice", "b", buf, 100, &b), 0);
	assert_int_equal(submit(e, "bob", "c", buf, 100, &c), 0);
	PK(sb, pk);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, a);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, "bob");
	assert_int_equal(ask(e, "job.cancel", &sb), -EPERM);
	msgpack_sbuffer_destroy(&sb);
	assert_int_equal(id_req(e, "job.cancel", "id", a), 0);
	assert_int_equal(id_req(e, "job.cancel", "id", a), -EALREADY);
	assert_int_equal(id_req(e, "job.open", "id", a), -ENOENT);
	WAIT_FOR(e, count_files(vdir) == 0);
	assert_int_equal(list(e, "alice", NULL), 1);
	assert_int_equal(list(e, "alice", "completed"), 1);
	assert_int_equal(list(e, "alice", "all"), 2);

	/* the deliverer's outcome */
	PK(sb2, pk2);
	msgpack_pack_map(&pk2, 4);
	scout_pack_str(&pk2, "id");
	msgpack_pack_uint32(&pk2, b);
	scout_pack_str(&pk2, "outcome");
	scout_pack_str(&pk2, "completed");
	scout_pack_str(&pk2, "printer");
	scout_pack_str(&pk2, "HP 4th floor");
	scout_pack_str(&pk2, "reason");
	scout_pack_str(&pk2, "printed");
	assert_int_equal(scout_bus_publish(e->bus, scout_bus_find(e->bus, "job.done"), sb2.data, sb2.size), 0);
	msgpack_sbuffer_destroy(&sb2);
	WAIT_FOR(e, list(e, "alice", "completed") == 2);
	assert_int_equal(id_req(e, "job.open", "id", b), -ENOENT);

	/* the operator's cancel */
	assert_true(cmd_ok(e, "{\"cmd\":\"cancel\",\"id\":\"%s\"}", (char[16]){0}) == false);
	char idbuf[16];
	snprintf(idbuf, sizeof(idbuf), "%u", c);
	assert_true(cmd_ok(e, "{\"cmd\":\"cancel\",\"id\":\"%s\"}", idbuf));
	assert_int_equal(list(e, "bob", NULL), 0);

	/* tombstones survive a restart, with their outcome */
	stop(e);
	start(e);
	assert_int_equal(list(e, "alice", "completed"), 2);
	assert_int_equal(list(e, NULL, NULL), 0);
}

static int claim(struct env *e, uint32_t id, const char *user, bool reprint)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, reprint ? 3 : 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, user);
	if (reprint) {
		scout_pack_str(&pk, "reprint");
		msgpack_pack_true(&pk);
	}
	int r = ask(e, "job.claim", &sb);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static int hold(struct env *e, uint32_t id, const char *reason, const char *text)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, reason);
	scout_pack_str(&pk, "text");
	scout_pack_str(&pk, text);
	int r = ask(e, "job.hold", &sb);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static void publish_done(struct env *e, uint32_t id)
{
	PK(sb, pk);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, id);
	scout_pack_str(&pk, "outcome");
	scout_pack_str(&pk, "completed");
	assert_int_equal(scout_bus_publish(e->bus, scout_bus_find(e->bus, "job.done"), sb.data, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);
}

/* The deliverer's side: a job is claimed by its owner only, once at a
 * time; a failure puts it back with a reason that survives a restart; a
 * delivered job is kept for reprint when keep_after_release says so. */
static void test_claim_hold_keep(void **state)
{
	struct env *e = *state;
	uint8_t buf[70000];
	uint32_t a, b;

	strcpy(e->conf_extra, "keep_after_release = 1h\n");
	start(e);
	init(e, "pw");
	fill(buf, sizeof(buf), 9);
	assert_int_equal(submit(e, "alice", "a", buf, sizeof(buf), &a), 0);
	assert_int_equal(submit(e, "alice", "b", buf, 100, &b), 0);

	/* someone else's job looks like no job at all */
	assert_int_equal(claim(e, a, "bob", false), -ENOENT);
	assert_false(reply_has_reason(e, "alice"));
	assert_int_equal(claim(e, 999999, "bob", false), -ENOENT);
	assert_int_equal(claim(e, a, "alice", false), 0);
	assert_true(reply_has_reason(e, "")); /* the metadata map */
	assert_int_equal(claim(e, a, "alice", false), -EBUSY);
	assert_reads_back(e, a, buf, sizeof(buf)); /* open works while processing */
	/* several chunks a read, the last read cut at the end of the job */
	for (unsigned count = 2; count <= 16; count += 14) {
		size_t n = 0;
		uint8_t *got = read_back_n(e, a, count, &n);
		assert_non_null(got);
		assert_int_equal(n, sizeof(buf));
		assert_memory_equal(got, buf, n);
		free(got);
	}
	assert_int_equal(id_req(e, "job.open", "id", a), 0);
	uint64_t handle = reply_uint(e, "handle");
	for (unsigned count = 0; count <= 17; count += 17) {
		PK(sb, pk);
		msgpack_pack_map(&pk, 3);
		scout_pack_str(&pk, "handle");
		msgpack_pack_uint64(&pk, handle);
		scout_pack_str(&pk, "index");
		msgpack_pack_uint64(&pk, 0);
		scout_pack_str(&pk, "count");
		msgpack_pack_uint32(&pk, count);
		assert_int_equal(ask(e, "job.read", &sb), -EINVAL);
		msgpack_sbuffer_destroy(&sb);
	}
	assert_int_equal(id_req(e, "job.close", "handle", handle), 0);
	assert_int_equal(list(e, "alice", NULL), 2); /* processing is not completed */

	/* a failure: held again, with the reason, also after a restart */
	assert_int_equal(hold(e, a, "printer-busy", "the printer stayed busy for 2 minutes"), 0);
	assert_int_equal(hold(e, 424242, "x", "y"), -ENOENT);
	stop(e);
	start(e);
	assert_int_equal(claim(e, a, "alice", false), 0);
	assert_true(reply_has_reason(e, "printer-busy"));
	/* stopped mid-delivery: held again at the next start, saying so */
	stop(e);
	start(e);
	assert_int_equal(claim(e, a, "alice", false), 0);
	assert_true(reply_has_reason(e, "aborted-by-system"));
	assert_int_equal(hold(e, a, "printer-unreachable", "down"), 0);

	/* delivered: completed, kept for reprint; a reprint needs asking */
	assert_int_equal(claim(e, b, "alice", false), 0);
	publish_done(e, b);
	WAIT_FOR(e, list(e, "alice", "completed") == 1);
	assert_int_equal(list(e, "alice", NULL), 1);
	assert_int_equal(claim(e, b, "alice", false), -ENOENT);
	assert_int_equal(claim(e, b, "alice", true), 0);
	assert_reads_back(e, b, buf, 100);
	assert_int_equal(hold(e, b, "printer-unreachable", "down"), 0); /* back to completed */
	assert_int_equal(list(e, "alice", "completed"), 1);
	stop(e);
	start(e);
	assert_int_equal(claim(e, b, "alice", true), 0);
	publish_done(e, b);
	WAIT_FOR(e, list(e, "alice", "completed") == 1);
	json_t *r = cmd(e, "{\"cmd\":\"status\"}");
	json_decref(r);
}

static void test_expiry(void **state)
{
	struct env *e = *state;
	uint8_t buf[100000];
	char vdir[200];

	strcpy(e->conf_extra, "hold_for = 1s\nhistory = 1s\nreceive_timeout = 1s\n");
	start(e);
	init(e, "pw");
	snprintf(vdir, sizeof(vdir), "%s/vault", e->dir);
	fill(buf, sizeof(buf), 6);
	assert_int_equal(submit(e, "alice", "a", buf, sizeof(buf), NULL), 0);
	assert_int_equal(submit(e, "alice", "b", buf, 10, NULL), 0);
	assert_int_equal(count_files(vdir), 1);
	/* a job whose client went away without a word */
	uint32_t id;
	assert_int_equal(create(e, "alice", "c", 0, &id), 0);
	assert_int_equal(write_data(e, id, buf, sizeof(buf)), 0);
	assert_int_equal(count_files(vdir), 2);
	WAIT_FOR(e, list(e, NULL, "all") == 0);
	WAIT_FOR(e, count_files(vdir) == 0);
	assert_int_equal(write_data(e, id, buf, 10), -ENOENT);
	json_t *r = cmd(e, "{\"cmd\":\"status\"}");
	json_decref(r);
}

static void test_restart_orphans_and_dropped(void **state)
{
	struct env *e = *state;
	size_t len = 200000;
	uint8_t *buf = malloc(len);
	char path[300];
	uint32_t a, b, c;

	start(e);
	init(e, "pw");
	fill(buf, len, 7);
	assert_int_equal(submit(e, "alice", "a", buf, len, &a), 0);
	assert_int_equal(submit(e, "alice", "b", buf, 5000, &b), 0);
	assert_int_equal(submit(e, "bob", "c", buf, len, &c), 0);
	stop(e);

	/* a file no record names (a crash before its commit), and a record
	 * whose file is gone */
	snprintf(path, sizeof(path), "%s/vault/0badf00d", e->dir);
	FILE *f = fopen(path, "w");
	fputs("junk", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/vault/%08x", e->dir, c);
	assert_int_equal(unlink(path), 0);

	start(e);
	json_t *r = cmd(e, "{\"cmd\":\"vault status\"}");
	assert_true(json_is_false(json_object_get(json_object_get(r, "vault"), "locked")));
	json_decref(r);
	snprintf(path, sizeof(path), "%s/vault/0badf00d", e->dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(list(e, NULL, "all"), 2);
	assert_reads_back(e, a, buf, len);
	assert_reads_back(e, b, buf, 5000);
	assert_int_equal(id_req(e, "job.open", "id", c), -ENOENT);

	/* a damaged file does not read (the record stays: it is the operator's) */
	snprintf(path, sizeof(path), "%s/vault/%08x", e->dir, a);
	int fd = open(path, O_RDWR);
	char byte;
	assert_true(pread(fd, &byte, 1, 100) == 1);
	byte ^= 1; /* a flipped bit: writing a fixed byte left the file as it was 1 time in 256 */
	assert_true(pwrite(fd, &byte, 1, 100) == 1);
	close(fd);
	size_t n;
	assert_null(read_back(e, a, &n));

	/* locked at start: the jobs are there but nothing is listed */
	stop(e);
	snprintf(path, sizeof(path), "%s/vault.key", e->dir);
	unlink(path);
	start(e);
	assert_int_equal(list(e, NULL, NULL), (size_t)-1);
	init(e, "pw");
	assert_int_equal(list(e, NULL, NULL), 2);
	assert_reads_back(e, b, buf, 5000);
	free(buf);
}

static void read_file(const char *path, uint8_t key[32])
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(key, 1, 32, f), 32);
	fclose(f);
}

static void write_file(const char *path, const uint8_t key[32])
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(key, 1, 32, f), 32);
	fclose(f);
	chmod(path, 0600);
}

static void test_rotate_key(void **state)
{
	struct env *e = *state;
	size_t len = 100000;
	uint8_t *buf = malloc(len), oldk[32], newk[32], junk[32];
	char kp[300], np[300];
	uint32_t a, b;

	start(e);
	init(e, "old password");
	snprintf(kp, sizeof(kp), "%s/vault.key", e->dir);
	snprintf(np, sizeof(np), "%s/vault.key.new", e->dir);
	read_file(kp, oldk);
	fill(buf, len, 8);
	assert_int_equal(submit(e, "alice", "a", buf, len, &a), 0);
	assert_int_equal(submit(e, "alice", "b", buf, 10, &b), 0);
	WAIT_FOR(e, e->held >= 2);
	assert_true(cmd_ok(e, "{\"cmd\":\"vault rotate-key\",\"new_password\":\"%s\"}", "new password"));
	read_file(kp, newk);
	assert_memory_not_equal(oldk, newk, 32);
	assert_int_equal(access(np, F_OK), -1);
	assert_reads_back(e, a, buf, len);
	assert_reads_back(e, b, buf, 10);
	stop(e);

	start(e);
	assert_reads_back(e, a, buf, len);
	json_t *r = cmd(e, "{\"cmd\":\"vault init\",\"password\":\"old password\"}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	init(e, "new password");
	stop(e);

	/* a crash after the transaction, before the rename: the old key in
	 * key_file, the new one beside it; the start finishes the rotation */
	write_file(kp, oldk);
	write_file(np, newk);
	start(e);
	assert_reads_back(e, a, buf, len);
	read_file(kp, junk);
	assert_memory_equal(junk, newk, 32);
	assert_int_equal(access(np, F_OK), -1);
	stop(e);

	/* a crash before the transaction: key_file.new does not match; the
	 * current key stays */
	fill(junk, 32, 9);
	write_file(np, junk);
	start(e);
	assert_reads_back(e, b, buf, 10);
	assert_int_equal(access(np, F_OK), -1);
	free(buf);
}

static void test_full_disk(void **state)
{
	struct env *e = *state;
	char vdir[200], c[300];
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len);
	uint32_t ids[64];
	int n = 0, r;

	snprintf(c, sizeof(c), "mount -t tmpfs -o size=12m tmpfs '%s' 2>/dev/null", e->dir);
	if (system(c) != 0) {
		print_message("test_full_disk: SKIP: cannot mount a tmpfs (needs root)\n");
		free(buf);
		skip();
	}
	e->store_max = 4 << 20;
	start(e);
	init(e, "pw");
	snprintf(vdir, sizeof(vdir), "%s/vault", e->dir);
	for (;;) {
		fill(buf, len, (unsigned)n);
		r = submit(e, "alice", "x", buf, len, &ids[n]);
		if (r < 0)
			break;
		n++;
		assert_true(n < 64);
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(n >= 2);
	/* new jobs are refused, and every stored one still reads */
	uint32_t id;
	WAIT_FOR(e, create(e, "alice", "y", 10, &id) == -ENOSPC);
	for (int i = 0; i < n; i++) {
		fill(buf, len, (unsigned)i);
		assert_reads_back(e, ids[i], buf, len);
	}
	free(buf);
}

/* A full store (store_max_size reached: LMDB's map is full) refuses new
 * jobs with -ENOSPC and keeps every stored one. */
static void test_full_store(void **state)
{
	struct env *e = *state;
	uint8_t buf[60000];
	uint32_t ids[200];
	int n = 0, r;

	e->store_max = 2 << 20;
	start(e);
	init(e, "pw");
	for (;;) {
		fill(buf, sizeof(buf), (unsigned)n);
		r = submit(e, "alice", "inline", buf, sizeof(buf), &ids[n]);
		if (r < 0)
			break;
		n++;
		assert_true(n < 200);
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(n >= 5);
	uint32_t id;
	assert_int_equal(create(e, "alice", "y", 10, &id), -ENOSPC);
	/* still refused once the free-space reading (5 s) has seen a roomy disk */
	run_for(e, 5500);
	assert_int_equal(create(e, "alice", "y", 10, &id), -ENOSPC);
	assert_true(reply_has_reason(e, "store full"));
	for (int i = 0; i < n; i++) {
		fill(buf, sizeof(buf), (unsigned)i);
		assert_reads_back(e, ids[i], buf, sizeof(buf));
	}
	/* canceling makes room for tombstones, not for new jobs: the reserve */
	assert_int_equal(id_req(e, "job.cancel", "id", ids[0]), 0);
}

/* ---- kill -9 ---- */

static void child_commits(struct env *e, int fd, unsigned first_seed)
{
	uint8_t *buf = malloc(4 << 20);

	start(e);
	for (unsigned seed = first_seed;; seed++) {
		/* mostly small, some of a few chunks, now and then megabytes */
		size_t len = seed % 7 == 0   ? 1 + seed * 104729u % (2 << 20)
			     : seed % 3 == 0 ? 1 + seed * 7919u % 300000
					     : 1 + seed * 131u % 5000;
		char name[64];
		uint32_t id;
		fill(buf, len, seed);
		snprintf(name, sizeof(name), "s%u l%zu", seed, len);
		if (submit(e, "alice", name, buf, len, &id) == 0) {
			char line[64];
			int n = snprintf(line, sizeof(line), "%u %zu %u\n", id, len, seed);
			if (write(fd, line, (size_t)n) != n)
				_exit(1);
		}
	}
}

/* kill -9 at random moments of a process committing jobs: afterwards
 * every acknowledged job is listed and decrypts to exactly its bytes, and
 * every listed job (acknowledged or not: its commit may have landed just
 * before the kill) reads whole. */
static void test_crash(void **state)
{
	struct env *e = *state;
	uint8_t *buf = malloc(4 << 20);
	unsigned acked = 0, checked = 0;
	int rounds = getenv("SCOUT_VAULT_CRASH_ROUNDS") ? atoi(getenv("SCOUT_VAULT_CRASH_ROUNDS")) : 8;

	strcpy(e->conf_extra, "max_jobs_per_user = 0\nmax_bytes_per_user = 0\n");
	start(e);
	init(e, "pw");
	stop(e);
	srand((unsigned)time(NULL));
	for (int round = 0; round < rounds; round++) {
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			child_commits(e, p[1], 1 + (unsigned)round * 100000);
		}
		close(p[1]);
		usleep(50000 + (useconds_t)(rand() % 600000));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		FILE *f = fdopen(p[0], "r");
		unsigned id, seed;
		size_t len, n = 0;
		static unsigned ack_ids[4096];
		while (n < 4096 && fscanf(f, "%u %zu %u\n", &id, &len, &seed) == 3)
			ack_ids[n++] = id;
		fclose(f);
		start(e);
		json_t *r = cmd(e, "{\"cmd\":\"jobs\"}"), *row;
		json_t *jobs = json_object_get(r, "jobs");
		size_t i, k;
		for (k = 0; k < n; k++) {
			bool found = false;
			json_array_foreach (jobs, i, row)
				found |= json_integer_value(json_object_get(row, "id")) == ack_ids[k];
			if (!found)
				fail_msg("acknowledged job %u is not listed after kill -9", ack_ids[k]);
		}
		json_array_foreach (jobs, i, row) {
			const char *name = json_string_value(json_object_get(row, "name"));
			id = (unsigned)json_integer_value(json_object_get(row, "id"));
			assert_int_equal(sscanf(name, "s%u l%zu", &seed, &len), 2);
			if (seed < 1 + (unsigned)round * 100000)
				continue; /* an earlier round's, checked then */
			fill(buf, len, seed);
			assert_reads_back(e, id, buf, len);
			checked++;
		}
		json_decref(r);
		acked += (unsigned)n;
		stop(e);
	}
	print_message("crash: %d kill -9; %u acknowledged jobs listed, %u listed jobs read back whole\n", rounds, acked,
		      checked);
	free(buf);
}

/* ---- measurements (SCOUT_VAULT_BENCH=1) ---- */

struct client {
	struct env *e;
	int state; /* 0 create, 1 write, 2 commit */
	uint32_t id;
	uint64_t done;
	bool stop, once;
	const uint8_t *data;
	size_t len, sent, acked;
	unsigned inflight;
};

static void client_next(struct client *c);

static void client_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct client *c = arg;
	msgpack_unpacked u;
	uint64_t id;

	assert_int_equal(status, 0);
	if (c->state == 0) {
		msgpack_unpacked_init(&u);
		assert_int_equal(msgpack_unpack_next(&u, reply->data, reply->len, NULL), MSGPACK_UNPACK_SUCCESS);
		assert_int_equal(scout_pack_get_uint(&u.data, "id", &id), 0);
		msgpack_unpacked_destroy(&u);
		c->id = (uint32_t)id;
		c->state = 1;
		c->sent = c->acked = 0;
	} else if (c->state == 1) {
		c->inflight--;
		c->acked++;
	} else {
		c->done++;
		c->state = 0;
	}
	client_next(c);
}

static void client_send(struct client *c, const char *topic, msgpack_sbuffer *sb)
{
	assert_int_equal(scout_bus_request(c->e->bus, scout_bus_find(c->e->bus, topic), sb->data, sb->size, 60000,
					   client_reply, c, NULL),
			 0);
	msgpack_sbuffer_destroy(sb);
}

/* Keeps up to 4 writes in flight, as the ipp module does. */
static void client_next(struct client *c)
{
	size_t piece = 256 * 1024, pieces = (c->len + piece - 1) / piece;

	if (c->state == 0) {
		if (c->stop || (c->once && c->done))
			return;
		PK(sb, pk);
		msgpack_pack_map(&pk, 2);
		scout_pack_str(&pk, "owner");
		scout_pack_str(&pk, "bench");
		scout_pack_str(&pk, "size_hint");
		msgpack_pack_uint64(&pk, c->len);
		client_send(c, "job.create", &sb);
		return;
	}
	if (c->state == 1) {
		while (c->inflight < 4 && c->sent < pieces) {
			size_t off = c->sent * piece, n = c->len - off < piece ? c->len - off : piece;
			PK(sb, pk);
			msgpack_pack_map(&pk, 2);
			scout_pack_str(&pk, "id");
			msgpack_pack_uint32(&pk, c->id);
			scout_pack_str(&pk, "data");
			msgpack_pack_bin_with_body(&pk, c->data + off, n);
			client_send(c, "job.write", &sb);
			c->sent++;
			c->inflight++;
		}
		if (c->acked == pieces) {
			c->state = 2;
			PK(sb, pk);
			msgpack_pack_map(&pk, 1);
			scout_pack_str(&pk, "id");
			msgpack_pack_uint32(&pk, c->id);
			client_send(c, "job.commit", &sb);
		}
	}
}

static size_t rss_now(void)
{
	size_t rss = 0;
	uv_resident_set_memory(&rss);
	return rss;
}

static void test_bench(void **state)
{
	struct env *e = *state;
	struct scout_store_info i0, i1;

	if (!getenv("SCOUT_VAULT_BENCH")) {
		print_message("test_bench: SKIP: set SCOUT_VAULT_BENCH=1 to measure\n");
		skip();
	}
	/* on the disk the work tree is on (/tmp may be a tmpfs, where fsync
	 * costs nothing) */
	const char *bench_dir = getenv("SCOUT_VAULT_BENCH_DIR");
	if (bench_dir) {
		char dir[sizeof(e->dir)];
		rmdir(e->dir);
		snprintf(dir, sizeof(dir), "%.90s/scout-bench-XXXXXX", bench_dir);
		assert_non_null(mkdtemp(dir));
		memcpy(e->dir, dir, sizeof(dir));
	}
	strcpy(e->conf_extra, "max_jobs_per_user = 0\nmax_bytes_per_user = 0\nmax_receiving = 4096\n");
	start(e);
	init(e, "pw");
	size_t big = 50u << 20;
	uint8_t *data = malloc(big);
	fill(data, big, 42);
	/* warm: the data buffer itself is resident before the baseline */
	size_t rss0 = rss_now(), peak = rss0;
	struct client c = {.e = e, .data = data, .len = big, .once = true};
	uint64_t t0 = uv_hrtime();
	client_next(&c);
	while (c.done < 1) {
		run_for(e, 5);
		size_t r = rss_now();
		if (r > peak)
			peak = r;
	}
	double ms = (double)(uv_hrtime() - t0) / 1e6;
	print_message("bench: one 50 MiB job, create to commit reply: %.0f ms (%.0f MB/s); RSS grew %zu KiB at "
		      "most\n",
		      ms, 50 * 1.048576 / (ms / 1000), (peak - rss0) >> 10);

	/* 8 concurrent clients of 4 kB jobs */
	struct client cl[8];
	assert_int_equal(scout_store_info(e->store, &i0), 0);
	for (int k = 0; k < 8; k++) {
		cl[k] = (struct client){.e = e, .data = data, .len = 4096};
		client_next(&cl[k]);
	}
	t0 = uv_hrtime();
	run_for(e, 3000);
	for (int k = 0; k < 8; k++)
		cl[k].stop = true;
	uint64_t jobs = 0;
	for (int k = 0; k < 8; k++)
		jobs += cl[k].done;
	double s = (double)(uv_hrtime() - t0) / 1e9;
	assert_int_equal(scout_store_info(e->store, &i1), 0);
	WAIT_FOR(e, ({
			 bool idle = true;
			 for (int k = 0; k < 8; k++)
				 idle &= cl[k].state == 0;
			 idle;
		 }));
	print_message("bench: 8 clients of 4 kB jobs: %.0f jobs/s, %.1f jobs per store commit (fsync)\n", jobs / s,
		      (double)jobs / (double)(i1.commits - i0.commits));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_locked_then_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_unwritable_key_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_and_big_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_analysis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_job_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_read_payloads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quotas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_and_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_hold_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_orphans_and_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bench, setup, teardown),
	};

	scout_log_set_level(SCOUT_LOG_WARN);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
