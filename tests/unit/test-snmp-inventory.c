/* Unit tests for src/modules/snmp/inventory.c on a real store in a fresh
 * temp dir: identity (serial, then MAC, then IP; placeholders are no
 * identity), re-keying with its history, a printer that moves or is
 * replaced, meter history with resets and pruning, status reads that keep
 * identity, and what comes back after a reopen, damaged records included;
 * the bounds (records per address, max_devices, forget_after), a serial
 * that changes on every read, and the indexes that replace scans. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>
#include <jansson.h>

#include "loop/log.h"
#include "loop/store.h"
#include "loop/work.h"
#include "modules/snmp/inventory.h"

/* Every test runs twice: writing synchronously, then through the thread
 * pool (async_loop set), where what reads the store directly first lets
 * the writes finish, and the history is read with writes still pending. */
static uv_loop_t *async_loop;

static void drain(void)
{
	if (async_loop)
		uv_run(async_loop, UV_RUN_DEFAULT);
}

struct env {
	char dir[64];
	struct scout_store *store;
	struct scout_db *db;
	struct snmp_inventory *inv;
};

static void open_all(struct env *e)
{
	char err[512] = "";

	if (scout_store_open(e->dir, 64 << 20, &e->store, err, sizeof(err)) < 0)
		fail_msg("store: %s", err);
	assert_int_equal(scout_store_db(e->store, "snmp", &e->db), 0);
	assert_int_equal(snmp_inventory_open(e->store, e->db, &e->inv), 0);
	if (async_loop)
		assert_int_equal(snmp_inventory_write_async(e->inv, async_loop), 0);
}

static void close_all(struct env *e)
{
	drain();
	assert_int_equal(snmp_inventory_pending(e->inv), 0);
	if (async_loop) {
		scout_store_async_stop(e->store, NULL, NULL);
		drain();
	}
	snmp_inventory_free(e->inv);
	scout_store_close(e->store);
	e->inv = NULL;
	e->store = NULL;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	strcpy(e->dir, "/tmp/scout-test-inv-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	open_all(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	if (e->inv)
		close_all(e);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* Merges a record given as JSON text; returns the flags. */
static unsigned update(struct env *e, const char *text, bool full, time_t now, json_t **ret_record, json_t **ret_meters)
{
	json_error_t err;
	json_t *fresh = json_loads(text, 0, &err), *rec = NULL;
	unsigned flags = 0xdead;

	if (!fresh)
		fail_msg("%s: %s", text, err.text);
	assert_int_equal(snmp_inventory_update(e->inv, fresh, full, now, &rec, &flags, ret_meters), 0);
	assert_non_null(rec);
	assert_true(flags != 0xdead);
	if (ret_record)
		*ret_record = rec;
	return flags;
}

static const char *sget(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

struct scan {
	struct scout_db *db;
	const char *prefix;
	unsigned n;
};

static int scan_fn(struct scout_txn *t, void *arg)
{
	struct scan *s = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl, pl = strlen(s->prefix);
	int r;

	if ((r = scout_cursor_open(t, s->db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, s->prefix, pl, &k, &kl, &v, &vl);
	     r == 0 && kl >= pl && memcmp(k, s->prefix, pl) == 0; r = scout_cursor_next(c, &k, &kl, &v, &vl))
		s->n++;
	scout_cursor_close(c);
	return 0;
}

/* Keys in the store under prefix. */
static unsigned stored(struct env *e, const char *prefix)
{
	struct scan s = {e->db, prefix, 0};

	drain();
	assert_int_equal(scout_store_read(e->store, scan_fn, &s), 0);
	return s.n;
}

static bool has_key(struct env *e, const char *key)
{
	void *v = NULL;
	size_t vl;
	drain();
	int r = scout_store_get(e->db, key, strlen(key), &v, &vl);

	free(v);
	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

static size_t history_len(struct env *e, const char *id)
{
	json_t *h = snmp_inventory_history(e->inv, id);
	size_t n = json_array_size(h);

	json_decref(h);
	return n;
}

/* Catches what the inventory logs (to stderr) between the two calls. */
struct capture {
	char path[128];
	int fd, saved;
};

static void capture_begin(struct env *e, struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "%s/stderr", e->dir);
	c->fd = open(c->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	c->saved = dup(2);
	assert_true(c->fd >= 0 && c->saved >= 0);
	fflush(stderr);
	dup2(c->fd, 2);
	scout_log_set_level(SCOUT_LOG_INFO);
}

static void capture_end(struct capture *c, char *buf, size_t size)
{
	ssize_t n;

	fflush(stderr);
	scout_log_set_level(SCOUT_LOG_WARN);
	dup2(c->saved, 2);
	close(c->saved);
	n = pread(c->fd, buf, size - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	close(c->fd);
	unlink(c->path);
}

static unsigned count_of(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Merges; returns what snmp_inventory_update returned (asserts nothing,
 * so it may run while stderr is captured). */
static int try_update(struct env *e, const char *text, bool full, time_t now)
{
	json_t *fresh = json_loads(text, 0, NULL), *rec = NULL;
	unsigned flags = 0;

	return fresh ? snmp_inventory_update(e->inv, fresh, full, now, &rec, &flags, NULL) : -EINVAL;
}

/* Records whose address, or previous address when they have none, is ip. */
static unsigned naming(struct env *e, const char *ip)
{
	json_t *list = snmp_inventory_list(e->inv, false), *rec;
	unsigned n = 0;
	size_t i;

	json_array_foreach (list, i, rec) {
		const char *a = sget(rec, "ip") ? sget(rec, "ip") : sget(rec, "previous_ip");
		n += a && strcmp(a, ip) == 0;
	}
	json_decref(list);
	return n;
}

/* The indexes agree with the records: each is found by its id, its
 * address, its serial and its MAC (a record that is the only one with it). */
static void check_index(struct env *e)
{
	json_t *list = snmp_inventory_list(e->inv, false), *rec, *other;
	size_t i, j;

	assert_int_equal(json_array_size(list), snmp_inventory_count(e->inv, true));
	json_array_foreach (list, i, rec) {
		assert_ptr_equal(snmp_inventory_find(e->inv, sget(rec, "id")), rec);
		if (sget(rec, "ip"))
			assert_ptr_equal(snmp_inventory_find(e->inv, sget(rec, "ip")), rec);
		static const char *const keys[] = {"serial", "mac"};
		for (int k = 0; k < 2; k++) {
			const char *v = sget(rec, keys[k]);
			unsigned n = 0;
			if (!v)
				continue;
			json_array_foreach (list, j, other)
				n += sget(other, keys[k]) && strcmp(sget(other, keys[k]), v) == 0;
			if (n == 1 && snmp_inventory_find(e->inv, v) != rec)
				fail_msg("%s %s of %s: found %p, not %p", keys[k], v, sget(rec, "id"),
					 (void *)snmp_inventory_find(e->inv, v), (void *)rec);
		}
	}
	json_decref(list);
}

/* ---- identity ------------------------------------------------------------ */

static void test_found_by_ip_then_serial(void **state)
{
	struct env *e = *state;
	json_t *rec, *reading = NULL;
	unsigned f;

	f = update(e, "{\"ip\": \"10.0.0.5\", \"model\": \"M1\", \"meters\": {\"total\": 100}}", true, 1000, &rec,
		   &reading);
	assert_int_equal(f, SNMP_INV_FOUND | SNMP_INV_METERS);
	assert_string_equal(sget(rec, "id"), "i:10.0.0.5");
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
	assert_non_null(reading);
	assert_int_equal(json_integer_value(json_object_get(reading, "total")), 100);
	assert_true(json_is_false(json_object_get(reading, "reset")));
	json_decref(reading);

	/* the same meter again writes no history */
	f = update(e, "{\"ip\": \"10.0.0.5\", \"model\": \"M1\", \"meters\": {\"total\": 100}}", true, 1050, &rec,
		   &reading);
	assert_int_equal(f, 0);
	assert_null(reading);
	f = update(e, "{\"ip\": \"10.0.0.5\", \"model\": \"M1\", \"meters\": {\"total\": 110}}", true, 1100, &rec,
		   NULL);
	assert_int_equal(f, SNMP_INV_METERS);
	assert_int_equal(history_len(e, "i:10.0.0.5"), 2);

	/* now the serial is known: one record, re-keyed, its history moved */
	f = update(e, "{\"ip\": \"10.0.0.5\", \"serial\": \"ABC12345\", \"meters\": {\"total\": 120}}", true, 1200,
		   &rec, NULL);
	assert_int_equal(f, SNMP_INV_REKEYED | SNMP_INV_METERS);
	assert_string_equal(sget(rec, "id"), "s:ABC12345");
	assert_string_equal(sget(rec, "model"), "M1"); /* what this read missed, an earlier one knew */
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
	assert_string_equal(sget(rec, "last_seen"), "1970-01-01T00:20:00Z");
	assert_int_equal(snmp_inventory_count(e->inv, true), 1);
	assert_ptr_equal(snmp_inventory_find(e->inv, "s:ABC12345"), rec);
	assert_ptr_equal(snmp_inventory_find(e->inv, "10.0.0.5"), rec);
	assert_ptr_equal(snmp_inventory_find(e->inv, "ABC12345"), rec);
	assert_null(snmp_inventory_find(e->inv, "i:10.0.0.5"));
	assert_int_equal(history_len(e, "s:ABC12345"), 3);
	assert_int_equal(history_len(e, "i:10.0.0.5"), 0);
	assert_int_equal(stored(e, "d/"), 1);
	assert_true(has_key(e, "d/s:ABC12345"));
	assert_false(has_key(e, "d/i:10.0.0.5"));
	assert_int_equal(stored(e, "h/i:10.0.0.5/"), 0);
	assert_int_equal(stored(e, "h/s:ABC12345/"), 3);

	/* history in time order, with times */
	json_t *h = snmp_inventory_history(e->inv, "s:ABC12345");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 0), "total")), 100);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(h, 2), "total")), 120);
	assert_string_equal(sget(json_array_get(h, 2), "time"), "1970-01-01T00:20:00Z");
	assert_null(json_object_get(json_array_get(h, 2), "time_ms"));
	json_decref(h);

	/* a MAC-only device re-keys to its serial the same way */
	f = update(e, "{\"ip\": \"10.0.0.6\", \"mac\": \"00:11:22:33:44:55\"}", true, 1300, &rec, NULL);
	assert_int_equal(f, SNMP_INV_FOUND);
	assert_string_equal(sget(rec, "id"), "m:00:11:22:33:44:55");
	f = update(e, "{\"ip\": \"10.0.0.6\", \"mac\": \"00:11:22:33:44:55\", \"serial\": \"XYZ98765\"}", true, 1400,
		   &rec, NULL);
	assert_int_equal(f, SNMP_INV_REKEYED);
	assert_string_equal(sget(rec, "id"), "s:XYZ98765");
	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
}

static void test_moved_and_replaced(void **state)
{
	struct env *e = *state;
	json_t *rec;
	unsigned f;

	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\"}", true, 1000, NULL, NULL);
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL002\"}", true, 1000, NULL, NULL);

	/* SERIAL001 now answers at .2: updated, not duplicated; the record
	 * that had .2 remembers it as its previous address */
	f = update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL001\"}", true, 2000, &rec, NULL);
	assert_int_equal(f, 0);
	assert_string_equal(sget(rec, "id"), "s:SERIAL001");
	assert_string_equal(sget(rec, "ip"), "10.0.0.2");
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
	json_t *other = snmp_inventory_find(e->inv, "s:SERIAL002");
	assert_non_null(other);
	assert_null(json_object_get(other, "ip"));
	assert_string_equal(sget(other, "previous_ip"), "10.0.0.2");
	assert_ptr_equal(snmp_inventory_find(e->inv, "10.0.0.2"), rec);
	assert_null(snmp_inventory_find(e->inv, "10.0.0.1"));

	/* a different printer put at .2 in its place: a second record */
	f = update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL003\"}", true, 3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_FOUND);
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);
	json_t *moved = snmp_inventory_find(e->inv, "s:SERIAL001");
	assert_null(json_object_get(moved, "ip"));
	assert_string_equal(sget(moved, "previous_ip"), "10.0.0.2");

	/* a device known by MAC that changes address */
	update(e, "{\"ip\": \"10.0.0.7\", \"mac\": \"00:11:22:33:44:66\"}", true, 1000, NULL, NULL);
	f = update(e, "{\"ip\": \"10.0.0.8\", \"mac\": \"00:11:22:33:44:66\"}", true, 2000, &rec, NULL);
	assert_int_equal(f, 0);
	assert_string_equal(sget(rec, "ip"), "10.0.0.8");
	assert_int_equal(snmp_inventory_count(e->inv, true), 4);

	/* what is stored is what is in memory */
	close_all(e);
	open_all(e);
	assert_int_equal(snmp_inventory_count(e->inv, true), 4);
	other = snmp_inventory_find(e->inv, "s:SERIAL002");
	assert_string_equal(sget(other, "previous_ip"), "10.0.0.2");
	assert_null(json_object_get(other, "ip"));
	assert_string_equal(sget(snmp_inventory_find(e->inv, "10.0.0.2"), "serial"), "SERIAL003");
}

static void test_placeholders_are_no_identity(void **state)
{
	struct env *e = *state;
	json_t *rec;

	/* the anonymised brotherlib devices: serial "serial_number", MAC
	 * aa:bb:cc:dd:ee:ff (locally administered) */
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"serial_number\", \"mac\": \"aa:bb:cc:dd:ee:ff\"}", true, 1000,
	       &rec, NULL);
	assert_string_equal(sget(rec, "id"), "i:10.0.0.1");
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"serial_number\", \"mac\": \"aa:bb:cc:dd:ee:ff\"}", true, 1000,
	       &rec, NULL);
	assert_string_equal(sget(rec, "id"), "i:10.0.0.2");
	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
	assert_string_equal(sget(snmp_inventory_find(e->inv, "i:10.0.0.1"), "ip"), "10.0.0.1");

	/* other placeholders, and serials that cannot be one */
	static const char *const bad[] = {"0000000", "N/A", "unknown", "1111111",  "AB 123456",
					  "abc",     "",    "none",    "XXXXXXXX", "12/34/5678"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], want[64];
		snprintf(text, sizeof(text),
			 "{\"ip\": \"10.0.1.%zu\", \"serial\": \"%s\", \"mac\": \"02:00:00:00:00:01\"}", i, bad[i]);
		update(e, text, true, 1000, &rec, NULL);
		snprintf(want, sizeof(want), "i:10.0.1.%zu", i);
		assert_string_equal(sget(rec, "id"), want);
	}
	assert_int_equal(snmp_inventory_count(e->inv, true), 2 + sizeof(bad) / sizeof(bad[0]));
	/* a multicast MAC is not one either; a real one is */
	update(e, "{\"ip\": \"10.0.2.1\", \"mac\": \"01:00:5e:00:00:01\"}", true, 1000, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "i:10.0.2.1");
	update(e, "{\"ip\": \"10.0.2.2\", \"mac\": \"00:00:5e:00:00:01\"}", true, 1000, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "m:00:00:5e:00:00:01");
}

/* ---- meters ------------------------------------------------------------- */

static void test_meter_reset(void **state)
{
	struct env *e = *state;
	json_t *rec, *reading = NULL;
	unsigned f;

	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 5000, \"mono\": 4000}}",
	       true, 1000, NULL, NULL);
	f = update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 5100, \"mono\": 3}}",
		   true, 2000, &rec, &reading);
	assert_int_equal(f, SNMP_INV_METERS | SNMP_INV_RESET);
	assert_true(json_is_true(json_object_get(reading, "reset")));
	assert_int_equal(json_integer_value(json_object_get(reading, "mono")), 3);
	json_decref(reading);
	json_t *h = snmp_inventory_history(e->inv, "s:SERIAL001");
	assert_int_equal(json_array_size(h), 2);
	assert_true(json_is_false(json_object_get(json_array_get(h, 0), "reset")));
	assert_true(json_is_true(json_object_get(json_array_get(h, 1), "reset")));
	json_decref(h);

	/* going up again is no reset */
	f = update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 5200, \"mono\": 9}}",
		   true, 3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_METERS);
	/* a read without meters writes no history and keeps nothing */
	f = update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\"}", true, 4000, &rec, NULL);
	assert_int_equal(f & (SNMP_INV_METERS | SNMP_INV_RESET), 0);
	assert_int_equal(history_len(e, "s:SERIAL001"), 3);
}

static void test_history_pruned(void **state)
{
	struct env *e = *state;
	char text[256];

	snmp_inventory_set_history(e->inv, 5);
	for (int i = 0; i < 12; i++) {
		snprintf(text, sizeof(text),
			 "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": %d}}", 100 + i);
		assert_int_equal(update(e, text, true, 1000 + 60 * i, NULL, NULL),
				 i ? SNMP_INV_METERS : SNMP_INV_FOUND | SNMP_INV_METERS);
	}
	json_t *h = snmp_inventory_history(e->inv, "s:SERIAL001");
	assert_int_equal(json_array_size(h), 5);
	for (size_t i = 0; i < 5; i++) /* the newest five */
		assert_int_equal(json_integer_value(json_object_get(json_array_get(h, i), "total")), 107 + (int)i);
	json_decref(h);
	assert_int_equal(stored(e, "h/"), 5);

	/* a smaller maximum prunes at the next reading; history moved by a
	 * re-key is pruned too */
	snmp_inventory_set_history(e->inv, 2);
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 500}}", true, 5000, NULL,
	       NULL);
	assert_int_equal(history_len(e, "s:SERIAL001"), 2);
	for (int i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "{\"ip\": \"10.0.0.9\", \"meters\": {\"total\": %d}}", i);
		update(e, text, true, 1000 + i, NULL, NULL);
	}
	assert_int_equal(history_len(e, "i:10.0.0.9"), 2);
	update(e, "{\"ip\": \"10.0.0.9\", \"serial\": \"SERIAL009\"}", true, 2000, NULL, NULL);
	assert_int_equal(history_len(e, "s:SERIAL009"), 2);
	assert_int_equal(stored(e, "h/"), 4);
}

/* ---- status reads ------------------------------------------------------- */

static void test_status_update(void **state)
{
	struct env *e = *state;
	json_t *rec;
	unsigned f;

	update(e,
	       "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"model\": \"MX-3570N\", \"manufacturer\": \"Sharp\","
	       " \"location\": \"Floor 2\", \"mac\": \"00:11:22:33:44:55\", \"color\": true,"
	       " \"status\": {\"printer\": \"idle\"}, \"errors\": [], \"display\": \"Ready\","
	       " \"supplies\": [{\"kind\": \"toner\", \"level_percent\": 40}], \"meters\": {\"total\": 10}}",
	       true, 1000, NULL, NULL);

	/* a status read carries no identity fields and must not erase them */
	f = update(e,
		   "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"status\": {\"printer\": \"printing\"},"
		   " \"errors\": [\"lowToner\"], \"meters\": {\"total\": 12}}",
		   false, 2000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_METERS | SNMP_INV_ALERTS);
	assert_string_equal(sget(rec, "model"), "MX-3570N");
	assert_string_equal(sget(rec, "manufacturer"), "Sharp");
	assert_string_equal(sget(rec, "location"), "Floor 2");
	assert_string_equal(sget(rec, "mac"), "00:11:22:33:44:55");
	assert_string_equal(sget(rec, "id"), "s:SERIAL001");
	assert_string_equal(sget(json_object_get(rec, "status"), "printer"), "printing");
	assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "errors"), 0)), "lowToner");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "meters"), "total")), 12);
	/* status fields the read did not see are gone, except colour */
	assert_null(json_object_get(rec, "display"));
	assert_null(json_object_get(rec, "supplies"));
	assert_true(json_is_true(json_object_get(rec, "color")));
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
	assert_string_equal(sget(rec, "last_seen"), "1970-01-01T00:33:20Z");

	/* identity fields in a status read are not taken either */
	f = update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"model\": \"garbage\", \"errors\": []}",
		   false, 3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_ALERTS);
	assert_string_equal(sget(rec, "model"), "MX-3570N");

	/* a full read replaces identity, and keeps what it did not see */
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"model\": \"MX-3571N\", \"errors\": []}", true,
	       4000, &rec, NULL);
	assert_string_equal(sget(rec, "model"), "MX-3571N");
	assert_string_equal(sget(rec, "location"), "Floor 2");
	assert_int_equal(snmp_inventory_count(e->inv, true), 1);

	/* a status read of a device nobody knows makes a new record */
	f = update(e, "{\"ip\": \"10.0.0.99\", \"status\": {\"printer\": \"idle\"}}", false, 5000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_FOUND);
	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
}

/* ---- persistence -------------------------------------------------------- */

static void test_reopen(void **state)
{
	struct env *e = *state;

	update(e, "{\"ip\": \"10.0.0.10\", \"serial\": \"SERIAL010\", \"meters\": {\"total\": 1}}", true, 1000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.9\", \"mac\": \"00:11:22:33:44:09\", \"model\": \"\u00e9\"}", true, 1000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.11\"}", true, 1000, NULL, NULL);
	update(e, "{\"ip\": \"10.0.0.10\", \"serial\": \"SERIAL010\", \"meters\": {\"total\": 2}}", true, 2000, NULL,
	       NULL);
	assert_int_equal(snmp_inventory_nonprinter(e->inv, "10.0.0.50", "Linux router", "1.3.6.1.4.1.8072.3.2.10",
						   1000),
			 0);
	assert_int_equal(snmp_inventory_nonprinter(e->inv, "10.0.0.50", "Linux router", NULL, 2000), 0);
	json_t *meta = json_pack("{s:i, s:s}", "probed", 254, "at", "now");
	assert_int_equal(snmp_inventory_save_meta(e->inv, "last_sweep", meta), 0);

	close_all(e);
	open_all(e);
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);
	assert_int_equal(snmp_inventory_count(e->inv, false), 1);
	assert_non_null(snmp_inventory_find(e->inv, "s:SERIAL010"));
	assert_string_equal(sget(snmp_inventory_find(e->inv, "m:00:11:22:33:44:09"), "model"), "\xc3\xa9");
	assert_non_null(snmp_inventory_find(e->inv, "i:10.0.0.11"));
	assert_int_equal(history_len(e, "s:SERIAL010"), 2);
	json_t *back = snmp_inventory_load_meta(e->inv, "last_sweep");
	assert_true(json_equal(back, meta));
	json_decref(back);
	json_decref(meta);
	assert_null(snmp_inventory_load_meta(e->inv, "nothing"));

	/* lists: printers in address order (numeric), then with the others */
	json_t *list = snmp_inventory_list(e->inv, false);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(sget(json_array_get(list, 0), "ip"), "10.0.0.9");
	assert_string_equal(sget(json_array_get(list, 1), "ip"), "10.0.0.10");
	assert_string_equal(sget(json_array_get(list, 2), "ip"), "10.0.0.11");
	json_decref(list);
	list = snmp_inventory_list(e->inv, true);
	assert_int_equal(json_array_size(list), 4);
	json_t *np = json_array_get(list, 3);
	assert_string_equal(sget(np, "ip"), "10.0.0.50");
	assert_true(json_is_false(json_object_get(np, "printer")));
	assert_string_equal(sget(np, "first_seen"), "1970-01-01T00:16:40Z");
	assert_string_equal(sget(np, "last_seen"), "1970-01-01T00:33:20Z");
	json_decref(list);

	/* and it goes on from there */
	json_t *rec;
	unsigned f = update(e, "{\"ip\": \"10.0.0.10\", \"serial\": \"SERIAL010\", \"meters\": {\"total\": 1}}", true,
			    3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_METERS | SNMP_INV_RESET);
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
}

static int put_raw(struct env *e, const char *key, const char *value)
{
	drain();
	return scout_store_put(e->db, key, strlen(key), value, strlen(value));
}

static void test_corrupt_record_skipped(void **state)
{
	struct env *e = *state;
	char buf[4096] = "";

	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\"}", true, 1000, NULL, NULL);
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL002\"}", true, 1000, NULL, NULL);
	assert_int_equal(put_raw(e, "d/s:BROKEN01", "{\"ip\": \"10.0.0.3\", "), 0);
	assert_int_equal(put_raw(e, "d/s:ARRAY001", "[1, 2]"), 0);
	assert_int_equal(put_raw(e, "n/10.0.0.60", "\xff\xfe"), 0);
	assert_int_equal(put_raw(e, "h/s:SERIAL001/0000000000000001", "not json"), 0);
	assert_int_equal(put_raw(e, "z/unknown", "{}"), 0);
	close_all(e);

	/* the warning goes to stderr: catch it */
	struct capture cap;
	capture_begin(e, &cap);
	open_all(e);
	capture_end(&cap, buf, sizeof(buf));
	if (!strstr(buf, "3 unreadable records"))
		fail_msg("no warning about the damaged records in: %s", buf);

	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
	assert_int_equal(snmp_inventory_count(e->inv, false), 0);
	assert_non_null(snmp_inventory_find(e->inv, "s:SERIAL001"));
	assert_null(snmp_inventory_find(e->inv, "s:BROKEN01"));
	/* a damaged history entry is skipped too */
	assert_int_equal(history_len(e, "s:SERIAL001"), 0);

	/* the inventory still works, and a new record for the damaged id
	 * replaces the bad bytes */
	update(e, "{\"ip\": \"10.0.0.3\", \"serial\": \"BROKEN01\"}", true, 2000, NULL, NULL);
	close_all(e);
	scout_log_set_level(SCOUT_LOG_ERROR); /* the array record is still there */
	open_all(e);
	scout_log_set_level(SCOUT_LOG_WARN);
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);
}

/* ---- bounds ------------------------------------------------------------- */

static void test_per_address_bound(void **state)
{
	struct env *e = *state;
	char text[256];
	json_t *rec;

	/* by default the device at an address and the three before it */
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "{\"ip\": \"10.0.9.1\", \"serial\": \"DFLT1%03d\"}", i);
		update(e, text, true, 1000 + i, NULL, NULL);
		assert_true(naming(e, "10.0.9.1") <= 4);
	}
	assert_int_equal(naming(e, "10.0.9.1"), 4);
	assert_int_equal(snmp_inventory_stats(e->inv)->forgotten, 6);

	snmp_inventory_set_limits(e->inv, 0, 3);
	/* the next change at an address trims it to the new bound */
	update(e, "{\"ip\": \"10.0.9.1\", \"serial\": \"DFLT1009\"}", true, 2000, NULL, NULL);
	assert_int_equal(naming(e, "10.0.9.1"), 3);

	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"OTHER0002\"}", true, 1000, NULL, NULL);
	/* A, B, C in turn at .1, each with a meter reading */
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALA1\", \"meters\": {\"total\": 1}}", true, 1000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALB2\", \"meters\": {\"total\": 2}}", true, 2000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALC3\", \"meters\": {\"total\": 3}}", true, 3000, NULL,
	       NULL);
	assert_int_equal(naming(e, "10.0.0.1"), 3);
	/* A comes back at .1: the oldest seen is now B */
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALA1\", \"meters\": {\"total\": 4}}", true, 3500, NULL,
	       NULL);
	assert_int_equal(naming(e, "10.0.0.1"), 3);
	/* D replaces A: four would name .1, B goes, with its history */
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALD4\", \"meters\": {\"total\": 5}}", true, 4000, &rec,
	       NULL);
	assert_string_equal(sget(rec, "id"), "s:SERIALD4");
	assert_int_equal(naming(e, "10.0.0.1"), 3);
	assert_null(snmp_inventory_find(e->inv, "s:SERIALB2"));
	assert_non_null(snmp_inventory_find(e->inv, "s:SERIALA1"));
	assert_non_null(snmp_inventory_find(e->inv, "s:SERIALC3"));
	assert_false(has_key(e, "d/s:SERIALB2"));
	assert_int_equal(stored(e, "h/s:SERIALB2/"), 0);
	assert_int_equal(stored(e, "h/s:SERIALA1/"), 2);
	/* a device that moved away names its new address only */
	update(e, "{\"ip\": \"10.0.0.3\", \"serial\": \"SERIALC3\"}", true, 4100, NULL, NULL);
	assert_int_equal(naming(e, "10.0.0.1"), 2);
	assert_int_equal(naming(e, "10.0.0.3"), 1);
	/* other addresses are untouched */
	assert_non_null(snmp_inventory_find(e->inv, "s:OTHER0002"));
	assert_int_equal(snmp_inventory_stats(e->inv)->forgotten, 6 + 1 + 1);
	check_index(e);

	/* one per address keeps only the device there now */
	snmp_inventory_set_limits(e->inv, 0, 1);
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIALE5\"}", true, 5000, NULL, NULL);
	assert_int_equal(naming(e, "10.0.0.1"), 1);
	assert_string_equal(sget(snmp_inventory_find(e->inv, "10.0.0.1"), "serial"), "SERIALE5");
	check_index(e);

	close_all(e);
	open_all(e);
	assert_int_equal(naming(e, "10.0.0.1"), 1);
	assert_int_equal(naming(e, "10.0.9.1"), 3);
	assert_int_equal(stored(e, "d/"), snmp_inventory_count(e->inv, true));
	check_index(e);
}

static void test_max_devices(void **state)
{
	struct env *e = *state;
	char buf[4096];
	struct capture cap;
	json_t *rec;

	snmp_inventory_set_limits(e->inv, 3, 2);
	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\"}", true, 1000, NULL, NULL);
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL002\"}", true, 1000, NULL, NULL);
	update(e, "{\"ip\": \"10.0.0.3\", \"mac\": \"00:11:22:33:44:03\"}", true, 1000, NULL, NULL);

	capture_begin(e, &cap);
	int r1 = try_update(e, "{\"ip\": \"10.0.0.4\", \"serial\": \"SERIAL004\"}", true, 2000);
	int r2 = try_update(e, "{\"ip\": \"10.0.0.5\"}", false, 2000);
	int r3 = try_update(e, "{\"ip\": \"10.0.0.4\", \"serial\": \"SERIAL004\"}", true, 2100);
	capture_end(&cap, buf, sizeof(buf));
	assert_int_equal(r1, -ENOSPC);
	assert_int_equal(r2, -ENOSPC);
	assert_int_equal(r3, -ENOSPC);
	assert_int_equal(count_of(buf, "max_devices"), 1);
	if (!strstr(buf, "10.0.0.4"))
		fail_msg("the refusal does not name the device: %s", buf);
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);
	assert_int_equal(snmp_inventory_stats(e->inv)->refused, 3);
	assert_false(has_key(e, "d/s:SERIAL004"));
	assert_null(snmp_inventory_find(e->inv, "10.0.0.4"));

	/* the devices it has are still updated, moved and re-keyed */
	unsigned f = update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 9}}", false,
			    3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_METERS);
	update(e, "{\"ip\": \"10.0.0.9\", \"serial\": \"SERIAL002\"}", true, 3000, &rec, NULL);
	assert_string_equal(sget(rec, "ip"), "10.0.0.9");
	f = update(e, "{\"ip\": \"10.0.0.3\", \"mac\": \"00:11:22:33:44:03\", \"serial\": \"SERIAL003\"}", true, 3100,
		   &rec, NULL);
	assert_int_equal(f, SNMP_INV_REKEYED);
	/* a device replaced at an address takes the room of the one it
	 * pushes past max_per_address: nothing is kept that was not before */
	scout_log_set_level(SCOUT_LOG_ERROR);
	assert_int_equal(try_update(e, "{\"ip\": \"10.0.0.9\", \"serial\": \"SERIAL010\"}", true, 3100), -ENOSPC);
	scout_log_set_level(SCOUT_LOG_WARN);
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);
	assert_int_equal(snmp_inventory_stats(e->inv)->refused, 4);
	snmp_inventory_set_limits(e->inv, 3, 1);
	update(e, "{\"ip\": \"10.0.0.9\", \"serial\": \"SERIAL011\"}", true, 3200, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "s:SERIAL011");
	assert_null(snmp_inventory_find(e->inv, "s:SERIAL002"));
	assert_int_equal(snmp_inventory_count(e->inv, true), 3);

	/* room again (after forgetting), full again: logged again */
	size_t n = 0;
	assert_int_equal(snmp_inventory_expire(e->inv, 3050 + 60, 60, &n), 0);
	assert_int_equal(n, 1); /* SERIAL001, last seen at 3000 */
	update(e, "{\"ip\": \"10.0.0.4\", \"serial\": \"SERIAL004\"}", true, 4000, NULL, NULL);
	capture_begin(e, &cap);
	r1 = try_update(e, "{\"ip\": \"10.0.0.6\", \"serial\": \"SERIAL006\"}", true, 4000);
	capture_end(&cap, buf, sizeof(buf));
	assert_int_equal(r1, -ENOSPC);
	assert_int_equal(count_of(buf, "max_devices"), 1);

	/* 0: no limit */
	snmp_inventory_set_limits(e->inv, 0, 4);
	update(e, "{\"ip\": \"10.0.0.6\", \"serial\": \"SERIAL006\"}", true, 4000, NULL, NULL);
	assert_int_equal(snmp_inventory_count(e->inv, true), 4);
	check_index(e);
}

static void test_forget_after(void **state)
{
	struct env *e = *state;
	char buf[4096];
	struct capture cap;
	size_t n = 99;

	update(e, "{\"ip\": \"10.0.0.1\", \"serial\": \"SERIAL001\", \"meters\": {\"total\": 1}}", true, 1000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL002\", \"meters\": {\"total\": 1}}", true, 1000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.2\", \"serial\": \"SERIAL002\", \"meters\": {\"total\": 2}}", false, 5000, NULL,
	       NULL);
	update(e, "{\"ip\": \"10.0.0.3\", \"mac\": \"00:11:22:33:44:03\"}", true, 1100, NULL, NULL);
	assert_int_equal(snmp_inventory_nonprinter(e->inv, "10.0.0.50", "router", NULL, 1000), 0);
	assert_int_equal(snmp_inventory_nonprinter(e->inv, "10.0.0.51", "router", NULL, 5000), 0);

	/* 0 is never; nothing is old enough yet */
	assert_int_equal(snmp_inventory_expire(e->inv, 1000000, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(snmp_inventory_expire(e->inv, 4000, 3600, &n), 0);
	assert_int_equal(n, 0);

	capture_begin(e, &cap);
	int r = snmp_inventory_expire(e->inv, 1000 + 3601, 3600, &n);
	capture_end(&cap, buf, sizeof(buf));
	assert_int_equal(r, 0);
	assert_int_equal(n, 2); /* SERIAL001 and the router seen at 1000, not the MAC one at 1100 */
	if (!strstr(buf, "s:SERIAL001 (10.0.0.1)") || !strstr(buf, "10.0.0.50") || !strstr(buf, "not seen for 1h"))
		fail_msg("not logged as expected: %s", buf);
	assert_null(snmp_inventory_find(e->inv, "s:SERIAL001"));
	assert_null(snmp_inventory_find(e->inv, "10.0.0.1"));
	assert_null(snmp_inventory_find(e->inv, "SERIAL001"));
	assert_non_null(snmp_inventory_find(e->inv, "m:00:11:22:33:44:03"));
	assert_false(has_key(e, "d/s:SERIAL001"));
	assert_false(has_key(e, "n/10.0.0.50"));
	assert_int_equal(stored(e, "h/s:SERIAL001/"), 0);
	assert_int_equal(stored(e, "h/s:SERIAL002/"), 2);
	assert_int_equal(snmp_inventory_count(e->inv, true), 2);
	assert_int_equal(snmp_inventory_count(e->inv, false), 1);
	assert_int_equal(snmp_inventory_stats(e->inv)->forgotten, 2);
	check_index(e);

	/* many at once go in batches, SNMP_INV_EXPIRE_MAX a call */
	char text[128];
	for (int i = 0; i < 1100; i++) {
		snprintf(text, sizeof(text), "10.1.%d.%d", i / 200, i % 200);
		assert_int_equal(snmp_inventory_nonprinter(e->inv, text, NULL, NULL, 2000), 0);
	}
	scout_log_set_level(SCOUT_LOG_ERROR);
	assert_int_equal(snmp_inventory_expire(e->inv, 2000 + 86400, 86400 - 1, &n), 0);
	assert_int_equal(n, SNMP_INV_EXPIRE_MAX);
	assert_int_equal(snmp_inventory_expire(e->inv, 2000 + 86400, 86400 - 1, &n), 0);
	scout_log_set_level(SCOUT_LOG_WARN);
	assert_int_equal(n, 1100 + 1 /* the MAC one, 1100 */ - SNMP_INV_EXPIRE_MAX);

	close_all(e);
	open_all(e);
	assert_int_equal(snmp_inventory_count(e->inv, true), 1);
	assert_int_equal(snmp_inventory_count(e->inv, false), 1);
	assert_non_null(snmp_inventory_find(e->inv, "SERIAL002"));
	check_index(e);
}

/* A serial that changes on every read (broken firmware, or an agent that
 * lies) from a device whose MAC and sysObjectID stay the same at its
 * address: one record, keyed by the MAC. */
static void test_flapping_serial(void **state)
{
	struct env *e = *state;
	char text[512], buf[4096];
	struct capture cap;
	json_t *rec;
	unsigned f;

	update(e,
	       "{\"ip\": \"10.0.0.1\", \"serial\": \"FLAP1000\", \"mac\": \"00:1b:a9:00:00:01\", \"sysobjectid\":"
	       " \"1.3.6.1.4.1.11.2.3.9.1\", \"model\": \"M1\", \"meters\": {\"total\": 10}}",
	       true, 1000, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "s:FLAP1000");
	capture_begin(e, &cap);
	int bad = 0;
	for (int i = 1; i <= 20; i++) {
		snprintf(
			text, sizeof(text),
			"{\"ip\": \"10.0.0.1\", \"serial\": \"FLAP1%03d\", \"mac\": \"00:1b:a9:00:00:01\", \"sysobjectid\":"
			" \"1.3.6.1.4.1.11.2.3.9.1\", \"meters\": {\"total\": %d}}",
			i, 10 + i);
		json_t *fresh = json_loads(text, 0, NULL);
		if (snmp_inventory_update(e->inv, fresh, true, 1000 + i, &rec, &f, NULL) < 0 ||
		    (f & (SNMP_INV_FOUND | SNMP_INV_REKEYED)) != (i == 1 ? SNMP_INV_REKEYED : 0u))
			bad = bad ? bad : i;
		/* and the status reads between them, which carry no MAC */
		snprintf(
			text, sizeof(text),
			"{\"ip\": \"10.0.0.1\", \"serial\": \"STAT1%03d\", \"sysobjectid\": \"1.3.6.1.4.1.11.2.3.9.1\","
			" \"meters\": {\"total\": %d}}",
			i, 10 + i);
		fresh = json_loads(text, 0, NULL);
		if (snmp_inventory_update(e->inv, fresh, false, 1000 + i, &rec, &f, NULL) < 0 || (f & SNMP_INV_FOUND))
			bad = bad ? bad : 100 + i;
	}
	capture_end(&cap, buf, sizeof(buf));
	assert_int_equal(bad, 0); /* the read (100 + i for a status read) that went wrong */
	assert_int_equal(count_of(buf, "identifying it by its MAC"), 1);
	assert_int_equal(snmp_inventory_count(e->inv, true), 1);
	assert_string_equal(sget(rec, "id"), "m:00:1b:a9:00:00:01");
	assert_string_equal(sget(rec, "serial"), "FLAP1020"); /* as last read in full */
	assert_true(json_is_true(json_object_get(rec, "serial_unstable")));
	assert_string_equal(sget(rec, "model"), "M1");
	assert_string_equal(sget(rec, "first_seen"), "1970-01-01T00:16:40Z");
	assert_int_equal(history_len(e, "m:00:1b:a9:00:00:01"), 21);
	assert_int_equal(stored(e, "d/"), 1);

	/* it may move like any MAC-keyed device */
	update(e,
	       "{\"ip\": \"10.0.0.5\", \"serial\": \"FLAP1099\", \"mac\": \"00:1b:a9:00:00:01\", \"sysobjectid\":"
	       " \"1.3.6.1.4.1.11.2.3.9.1\"}",
	       true, 2000, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "m:00:1b:a9:00:00:01");
	assert_int_equal(snmp_inventory_count(e->inv, true), 1);

	/* another device at its address (another MAC) is a new record */
	f = update(e,
		   "{\"ip\": \"10.0.0.5\", \"serial\": \"OTHER001\", \"mac\": \"00:1b:a9:00:00:02\", \"sysobjectid\":"
		   " \"1.3.6.1.4.1.11.2.3.9.1\"}",
		   true, 3000, &rec, NULL);
	assert_int_equal(f, SNMP_INV_FOUND);
	assert_string_equal(sget(snmp_inventory_find(e->inv, "m:00:1b:a9:00:00:01"), "previous_ip"), "10.0.0.5");
	/* and so is one with the same MAC and another sysObjectID (a print
	 * server moved to another model) when the serial differs */
	update(e,
	       "{\"ip\": \"10.0.0.7\", \"serial\": \"PLAIN001\", \"mac\": \"00:1b:a9:00:00:07\", \"sysobjectid\":"
	       " \"1.3.6.1.4.1.11.2.3.9.1\"}",
	       true, 3000, NULL, NULL);
	f = update(e,
		   "{\"ip\": \"10.0.0.7\", \"serial\": \"PLAIN002\", \"mac\": \"00:1b:a9:00:00:07\", \"sysobjectid\":"
		   " \"1.3.6.1.4.1.11.2.3.9.2\"}",
		   true, 3100, &rec, NULL);
	assert_int_equal(f, SNMP_INV_FOUND);
	assert_null(json_object_get(rec, "serial_unstable"));
	assert_int_equal(snmp_inventory_count(e->inv, true), 4);
	check_index(e);

	close_all(e);
	open_all(e);
	update(e,
	       "{\"ip\": \"10.0.0.9\", \"serial\": \"FLAP1100\", \"mac\": \"00:1b:a9:00:00:01\", \"sysobjectid\":"
	       " \"1.3.6.1.4.1.11.2.3.9.1\"}",
	       true, 4000, &rec, NULL);
	assert_string_equal(sget(rec, "id"), "m:00:1b:a9:00:00:01");
	assert_int_equal(snmp_inventory_count(e->inv, true), 4);
	check_index(e);
}

/* Lookups and merges go through indexes: with 20000 records, 20000 finds
 * by address, serial and MAC take no time to speak of (a scan of every
 * record per lookup took tens of seconds). */
struct bulk {
	struct scout_db *db;
	int n;
};

static int bulk_fn(struct scout_txn *t, void *arg)
{
	struct bulk *b = arg;
	char key[64], val[256];
	int r;

	for (int i = 0; i < b->n; i++) {
		int kl = snprintf(key, sizeof(key), "d/s:BULK%06d", i);
		int vl = snprintf(val, sizeof(val),
				  "{\"id\": \"s:BULK%06d\", \"ip\": \"10.%d.%d.%d\", \"serial\": \"BULK%06d\", \"mac\":"
				  " \"00:10:00:%02x:%02x:%02x\", \"last_seen\": \"1970-01-01T00:16:40Z\"}",
				  i, i >> 16, (i >> 8) & 255, i & 255, i, i >> 16, (i >> 8) & 255, i & 255);
		if ((r = scout_txn_put(t, b->db, key, (size_t)kl, val, (size_t)vl)) < 0)
			return r;
	}
	return 0;
}

static void test_index_lookups(void **state)
{
	struct env *e = *state;
	struct bulk b = {e->db, 20000};
	char key[64];

	drain();
	assert_int_equal(scout_store_write(e->store, bulk_fn, &b), 0);
	close_all(e);
	open_all(e);
	assert_int_equal(snmp_inventory_count(e->inv, true), 20000);

	clock_t t0 = clock();
	for (int i = 0; i < b.n; i++) {
		snprintf(key, sizeof(key), "BULK%06d", i);
		json_t *rec = snmp_inventory_find(e->inv, key);
		assert_non_null(rec);
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		assert_ptr_equal(snmp_inventory_find(e->inv, key), rec);
		snprintf(key, sizeof(key), "00:10:00:%02x:%02x:%02x", i >> 16, (i >> 8) & 255, i & 255);
		assert_ptr_equal(snmp_inventory_find(e->inv, key), rec);
	}
	assert_null(snmp_inventory_find(e->inv, "10.200.0.1"));
	/* merges too: each used to scan every record four times */
	char text[256];
	for (int i = 0; i < 200; i++) {
		snprintf(text, sizeof(text),
			 "{\"ip\": \"10.0.%d.%d\", \"serial\": \"BULK%06d\", \"meters\": {\"total\": 1}}",
			 (i * 97 >> 8) & 255, i * 97 & 255, i * 97);
		update(e, text, false, 2000, NULL, NULL);
	}
	double cpu = (double)(clock() - t0) / CLOCKS_PER_SEC;
	/* far above what indexes need (milliseconds), far below a scan */
	if (cpu > 5.0)
		fail_msg("60000 lookups and 200 merges in 20000 records took %.1f s of CPU", cpu);
	assert_int_equal(snmp_inventory_count(e->inv, true), 20000);
}

/* ---- asynchronous writes ------------------------------------------------- */

/* Holds the one pool thread until released, so commits wait. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate; /* 0 closed, 1 blocker running, 2 open */

static void blocker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate_lock);
	gate = gate ? gate : 1;
	pthread_cond_broadcast(&gate_cond);
	while (gate != 2)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void block_pool(struct scout_work_group *g)
{
	gate = 0;
	assert_int_equal(scout_work_submit(g, blocker, NULL, NULL), 0);
	pthread_mutex_lock(&gate_lock);
	while (gate != 1)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void open_pool(void)
{
	pthread_mutex_lock(&gate_lock);
	gate = 2;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void flushed(void *arg)
{
	(*(int *)arg)++;
}

/* Memory changes at once; the history shows readings and re-keys that are
 * not committed yet; flush waits for them; they are on disk after. */
static void test_async_pending_visible(void **state)
{
	struct env *e = *state;
	struct scout_work_group *g;
	int n = 0;

	assert_int_equal(scout_work_group_new(async_loop, "test", &g), 0);
	update(e, "{\"ip\": \"10.0.0.5\", \"meters\": {\"total\": 10}}", true, 1000, NULL, NULL);
	drain();
	block_pool(g); /* the pool's one thread is taken: nothing commits */
	update(e, "{\"ip\": \"10.0.0.5\", \"meters\": {\"total\": 20}}", true, 2000, NULL, NULL);
	/* the serial becomes known: the record and its history move to s: */
	update(e, "{\"ip\": \"10.0.0.5\", \"serial\": \"ASYNC001\", \"meters\": {\"total\": 30}}", true, 3000, NULL,
	       NULL);
	assert_true(snmp_inventory_pending(e->inv) >= 2);
	assert_non_null(snmp_inventory_find(e->inv, "s:ASYNC001"));
	assert_null(snmp_inventory_find(e->inv, "i:10.0.0.5"));
	assert_int_equal(history_len(e, "s:ASYNC001"), 3);
	assert_int_equal(history_len(e, "i:10.0.0.5"), 0);
	snmp_inventory_flush(e->inv, flushed, &n);
	assert_int_equal(n, 0);
	open_pool();
	scout_work_group_close(g, 0, NULL, NULL);
	drain();
	assert_int_equal(n, 1);
	assert_int_equal(snmp_inventory_pending(e->inv), 0);
	assert_true(has_key(e, "d/s:ASYNC001"));
	assert_false(has_key(e, "d/i:10.0.0.5"));
	assert_int_equal(stored(e, "h/s:ASYNC001/"), 3);
	assert_int_equal(history_len(e, "s:ASYNC001"), 3);
	snmp_inventory_flush(e->inv, flushed, &n); /* nothing pending: at once */
	assert_int_equal(n, 2);
}

/* Freed with writes pending: they still land, and the memory goes after. */
static void test_async_free_with_pending(void **state)
{
	struct env *e = *state;

	update(e, "{\"ip\": \"10.0.0.7\", \"serial\": \"ASYNC007\"}", true, 1000, NULL, NULL);
	assert_int_equal(snmp_inventory_nonprinter(e->inv, "10.0.0.8", "router", NULL, 1000), 0);
	snmp_inventory_free(e->inv);
	drain();
	assert_int_equal(snmp_inventory_open(e->store, e->db, &e->inv), 0);
	assert_non_null(snmp_inventory_find(e->inv, "s:ASYNC007"));
	assert_int_equal(snmp_inventory_count(e->inv, false), 1);
	assert_int_equal(snmp_inventory_write_async(e->inv, async_loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_found_by_ip_then_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_and_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placeholders_are_no_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_meter_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_address_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flapping_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_lookups, setup, teardown),
	};
	const struct CMUnitTest async_only[] = {
		cmocka_unit_test_setup_teardown(test_async_pending_visible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_free_with_pending, setup, teardown),
	};
	uv_loop_t loop;
	int failed;

	setenv("UV_THREADPOOL_SIZE", "1", 1); /* block_pool holds the whole pool */
	scout_log_set_level(SCOUT_LOG_WARN);
	failed = _cmocka_run_group_tests("sync", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	assert_int_equal(uv_loop_init(&loop), 0);
	async_loop = &loop;
	failed += _cmocka_run_group_tests("async", tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	failed += _cmocka_run_group_tests("async-only", async_only, sizeof(async_only) / sizeof(async_only[0]), NULL,
					  NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "uv_loop_close: handles left open\n");
		failed++;
	}
	return failed;
}
