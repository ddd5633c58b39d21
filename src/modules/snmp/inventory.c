/* Inventory in memory (a JSON object per record) and in LMDB:
 *   d/<id>                  the device record (JSON)
 *   h/<id>/<time, 16 hex>   a meter reading (JSON)
 *   n/<ip>                  a host that answered but is not a printer
 *   m/<name>                module metadata (last sweep)
 * An id is s:<serial>, m:<mac> or i:<ip>.
 *
 * In memory, indexes from an address, a serial and a MAC to the ids of the
 * records that carry it (jansson objects as hash sets) make a lookup or a
 * merge cost the same with 20 records as with 20000. Records enter and
 * leave memory only through put_rec() and drop_rec(), which keep the
 * indexes in step.
 *
 * Memory is the truth callers read: every change is applied to it at once,
 * on the loop thread. The store follows: each change becomes a job, a list
 * of plain operations on strings (no jansson object crosses threads), run
 * in one transaction, on the thread pool once snmp_inventory_write_async()
 * was called (group commit, see store.h), else right away. A failed write
 * is logged; memory keeps the change and the next change of that record
 * writes it whole again. The meter history is read from the store, with
 * the jobs still pending replayed over it, so it shows a reading as soon
 * as the record does. */
#include "inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/list.h"
#include "loop/log.h"
#include "loop/status.h"
#include "loop/store.h"

struct snmp_inventory {
	struct scout_store *store;
	struct scout_db *db;
	json_t *devices;     /* id -> record */
	json_t *nonprinters; /* ip -> record */
	/* key -> {id: true}: the address a record names (its ip, else its
	 * previous_ip), its serial and its MAC, as reported */
	json_t *by_addr, *by_serial, *by_mac;
	int64_t history;
	size_t max_devices;       /* 0: no limit */
	unsigned max_per_address; /* 0: no limit */
	bool full_logged;         /* the refusal past max_devices, once per time full */
	struct snmp_inventory_stats stats;
	bool async;                 /* writes through scout_store_write_async */
	struct scout_list pending;  /* jobs not yet done, oldest first */
	void (*flushed)(void *arg); /* snmp_inventory_flush */
	void *flushed_arg;
	bool freeing; /* snmp_inventory_free with jobs pending: the last frees */
};

/* serial_unstable is not read from a device: once set, it stays */
static const char *const identity_fields[] = {"description", "sysobjectid", "manufacturer",    "model",
					      "serial",      "mac",         "firmware",        "location",
					      "name",        "asset",       "serial_unstable", NULL};
static const char *const status_fields[] = {"status", "errors",   "display", "alerts",
					    "meters", "supplies", "color",   NULL};

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* json_equal is false when either is NULL: absent in both is the same */
static bool same_json(json_t *a, json_t *b)
{
	return a == b || json_equal(a, b);
}

/* A serial number that can tell devices apart: placeholders some agents
 * return ("serial_number", "0000000", "N/A", "unknown") cannot. */
static const char *id_serial(json_t *rec)
{
	const char *s = str(rec, "serial");
	bool digit = false, varied = false;

	if (!s || strlen(s) < 4 || strlen(s) > 64)
		return NULL;
	for (const char *p = s; *p; p++) {
		digit |= *p >= '1' && *p <= '9';
		varied |= *p != s[0];
		if (*p == ' ' || *p == '/' || *p == '\\')
			return NULL;
	}
	return digit && varied ? s : NULL;
}

/* A MAC that is the device's own: not locally administered (placeholders
 * like aa:bb:cc:dd:ee:ff and random addresses are), not multicast. */
static const char *id_mac(json_t *rec)
{
	const char *m = str(rec, "mac");
	unsigned first;

	if (!m || sscanf(m, "%2x", &first) != 1 || (first & 0x03))
		return NULL;
	return m;
}

/* The serial a record is keyed and matched by: none once it proved to
 * change between reads of the same device (serial_unstable). */
static const char *key_serial(json_t *rec)
{
	return json_is_true(json_object_get(rec, "serial_unstable")) ? NULL : id_serial(rec);
}

static void make_id(json_t *rec, char *out, size_t size)
{
	if (key_serial(rec))
		snprintf(out, size, "s:%s", key_serial(rec));
	else if (id_mac(rec))
		snprintf(out, size, "m:%s", id_mac(rec));
	else
		snprintf(out, size, "i:%s", str(rec, "ip") ? str(rec, "ip") : "?");
}

/* ---- indexes ------------------------------------------------------------ */

/* The address a record names: where it answers, else where it last did. */
static const char *addr_of(json_t *rec)
{
	const char *ip = str(rec, "ip");
	return ip ? ip : str(rec, "previous_ip");
}

static void set_add(json_t *index, const char *key, const char *id)
{
	json_t *set;

	if (!key)
		return;
	if (!(set = json_object_get(index, key))) {
		set = json_object();
		json_object_set_new(index, key, set);
	}
	json_object_set_new(set, id, json_true());
}

static void set_del(json_t *index, const char *key, const char *id)
{
	json_t *set = key ? json_object_get(index, key) : NULL;

	if (!set)
		return;
	json_object_del(set, id);
	if (!json_object_size(set))
		json_object_del(index, key);
}

static void index_rec(struct snmp_inventory *inv, const char *id, json_t *rec, bool add)
{
	void (*op)(json_t *, const char *, const char *) = add ? set_add : set_del;

	op(inv->by_addr, addr_of(rec), id);
	op(inv->by_serial, str(rec, "serial"), id);
	op(inv->by_mac, str(rec, "mac"), id);
}

/* Keeps rec (stolen) under id, replacing what was there. */
static void put_rec(struct snmp_inventory *inv, const char *id, json_t *rec)
{
	json_t *old = json_object_get(inv->devices, id);

	if (old)
		index_rec(inv, id, old, false);
	index_rec(inv, id, rec, true);
	json_object_set_new(inv->devices, id, rec);
}

static void drop_rec(struct snmp_inventory *inv, const char *id)
{
	json_t *rec = json_object_get(inv->devices, id);
	char copy[512];

	if (!rec)
		return;
	snprintf(copy, sizeof(copy), "%s", id); /* id may belong to what goes */
	index_rec(inv, copy, rec, false);
	json_object_del(inv->devices, copy);
}

/* The record of set (an index entry) that answers at an address, else
 * any; NULL for none. */
static json_t *first_of(struct snmp_inventory *inv, json_t *set)
{
	const char *id;
	json_t *v, *rec, *any = NULL;

	json_object_foreach (set, id, v) {
		if (!(rec = json_object_get(inv->devices, id)))
			continue;
		if (str(rec, "ip"))
			return rec;
		any = any ? any : rec;
	}
	return any;
}

static void room_again(struct snmp_inventory *inv)
{
	if (inv->max_devices && json_object_size(inv->devices) < inv->max_devices)
		inv->full_logged = false;
}

/* "90d", "12h", "10s": the largest unit that divides it. */
static void format_duration(uint64_t secs, char *buf, size_t size)
{
	static const uint64_t div[] = {86400, 3600, 60, 1};
	static const char unit[] = "dhms";

	for (int i = 0; i < 4; i++)
		if (secs % div[i] == 0 || i == 3) {
			snprintf(buf, size, "%llu%c", (unsigned long long)(secs / div[i]), unit[i]);
			return;
		}
}

/* ---- loading ------------------------------------------------------------- */

struct load {
	struct snmp_inventory *inv;
	unsigned bad;
};

static int load_all(struct scout_txn *txn, void *arg)
{
	struct load *l = arg;
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r = scout_cursor_open(txn, l->inv->db, &c);

	if (r < 0)
		return r;
	for (r = scout_cursor_first(c, &k, &kl, &v, &vl); r == 0; r = scout_cursor_next(c, &k, &kl, &v, &vl)) {
		const char *key = k;
		json_t *target = NULL;
		if (kl > 2 && key[0] == 'd' && key[1] == '/')
			target = l->inv->devices;
		else if (kl > 2 && key[0] == 'n' && key[1] == '/')
			target = l->inv->nonprinters;
		if (!target)
			continue;
		json_t *rec = json_loadb(v, vl, 0, NULL);
		char name[512];
		if (!json_is_object(rec) || kl - 2 >= sizeof(name)) {
			json_decref(rec);
			l->bad++;
			continue;
		}
		memcpy(name, key + 2, kl - 2);
		name[kl - 2] = 0;
		json_object_set_new(target, name, rec);
	}
	scout_cursor_close(c);
	return r == -ENOENT ? 0 : r;
}

int snmp_inventory_open(struct scout_store *store, struct scout_db *db, struct snmp_inventory **ret_inv)
{
	struct snmp_inventory *inv = calloc(1, sizeof(*inv));
	int r;

	if (!inv)
		return -ENOMEM;
	inv->store = store;
	inv->db = db;
	scout_list_init(&inv->pending);
	inv->devices = json_object();
	inv->nonprinters = json_object();
	inv->by_addr = json_object();
	inv->by_serial = json_object();
	inv->by_mac = json_object();
	inv->history = 2000;
	inv->max_devices = 20000;
	inv->max_per_address = 4;
	struct load l = {inv, 0};
	r = scout_store_read(store, load_all, &l);
	if (r < 0) {
		snmp_inventory_free(inv);
		return r;
	}
	const char *id;
	json_t *rec;
	json_object_foreach (inv->devices, id, rec)
		index_rec(inv, id, rec, true);
	if (l.bad)
		log_warn("snmp: %u unreadable records in the store were skipped", l.bad);
	*ret_inv = inv;
	return 0;
}

void snmp_inventory_free(struct snmp_inventory *inv)
{
	if (!inv)
		return;
	if (!scout_list_empty(&inv->pending)) {
		inv->freeing = true;
		return;
	}
	json_decref(inv->devices);
	json_decref(inv->nonprinters);
	json_decref(inv->by_addr);
	json_decref(inv->by_serial);
	json_decref(inv->by_mac);
	free(inv);
}

void snmp_inventory_set_history(struct snmp_inventory *inv, int64_t max_readings)
{
	inv->history = max_readings;
}

void snmp_inventory_set_limits(struct snmp_inventory *inv, size_t max_devices, unsigned max_per_address)
{
	inv->max_devices = max_devices;
	inv->max_per_address = max_per_address;
	room_again(inv);
}

const struct snmp_inventory_stats *snmp_inventory_stats(const struct snmp_inventory *inv)
{
	return &inv->stats;
}

/* ---- writing ------------------------------------------------------------- */

enum op_kind {
	OP_PUT,        /* key = val */
	OP_DEL,        /* key, if there */
	OP_DEL_DEVICE, /* the device `key`: its record and its history */
	OP_HISTORY,    /* the history of the device `old` (if any) moves to the
			* device `key`, then its newest `n` readings are kept */
};

struct op {
	enum op_kind kind;
	char *key, *val, *old;
	int64_t n;
};

/* One change of the store, run in one transaction on whatever thread: it
 * owns copies of everything it writes. */
struct job {
	struct snmp_inventory *inv;
	struct scout_db *db;
	struct op *ops;
	size_t n, cap;
	bool oom;
	const char *what; /* for the message if it fails */
	char who[64];
	struct scout_list link; /* in inv->pending */
};

static struct job *job_new(struct snmp_inventory *inv, const char *what, const char *who)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->inv = inv;
	j->db = inv->db;
	j->what = what;
	snprintf(j->who, sizeof(j->who), "%.63s", who ? who : "?");
	scout_list_init(&j->link);
	return j;
}

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->ops[i].key);
		free(j->ops[i].val);
		free(j->ops[i].old);
	}
	free(j->ops);
	free(j);
}

/* Appends an operation (key, val and old copied); a failure is remembered
 * and reported by job_commit. */
static void job_op(struct job *j, enum op_kind kind, const char *key, const char *val, const char *old, int64_t n)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 8;
		struct op *ops = realloc(j->ops, cap * sizeof(*ops));
		if (!ops) {
			j->oom = true;
			return;
		}
		j->ops = ops;
		j->cap = cap;
	}
	struct op *o = &j->ops[j->n];
	*o = (struct op){kind, strdup(key), val ? strdup(val) : NULL, old ? strdup(old) : NULL, n};
	if (!o->key || (val && !o->val) || (old && !o->old)) {
		free(o->key);
		free(o->val);
		free(o->old);
		j->oom = true;
		return;
	}
	j->n++;
}

static int put_str(struct scout_txn *t, struct scout_db *db, const char *k, const char *v)
{
	return scout_txn_put(t, db, k, strlen(k), v, strlen(v));
}

/* Drops a device record and its meter history. */
static int del_device(struct scout_txn *t, struct scout_db *db, const char *id)
{
	char key[600];
	struct scout_cursor *c;
	const void *k;
	size_t kl;
	int r;

	snprintf(key, sizeof(key), "d/%s", id);
	if ((r = scout_txn_del(t, db, key, strlen(key))) < 0 && r != -ENOENT)
		return r;
	snprintf(key, sizeof(key), "h/%s/", id);
	size_t pl = strlen(key);
	if ((r = scout_cursor_open(t, db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, key, pl, &k, &kl, NULL, NULL); r == 0 && kl > pl && memcmp(k, key, pl) == 0;
	     r = scout_cursor_seek(c, key, pl, &k, &kl, NULL, NULL))
		if ((r = scout_cursor_del(c)) < 0)
			break;
	scout_cursor_close(c);
	return r == -ENOENT || r == 0 ? 0 : r;
}

/* Moves a device's history from old_id (if any) to id, then keeps its
 * newest `history` readings. */
static int history_fix(struct scout_txn *t, struct scout_db *db, const char *id, const char *old_id, int64_t history)
{
	char prefix[600], key[700];
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	if (old_id) {
		snprintf(prefix, sizeof(prefix), "h/%s/", old_id);
		size_t pl = strlen(prefix);
		if ((r = scout_cursor_open(t, db, &c)) < 0)
			return r;
		for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl);
		     r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
		     r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl)) {
			int n = snprintf(key, sizeof(key), "h/%s/%.*s", id, (int)(kl - pl), (const char *)k + pl);
			if ((r = scout_txn_put(t, db, key, (size_t)n, v, vl)) < 0 || (r = scout_cursor_del(c)) < 0)
				break;
		}
		scout_cursor_close(c);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	snprintf(prefix, sizeof(prefix), "h/%s/", id);
	size_t pl = strlen(prefix);
	uint64_t n = 0;
	if ((r = scout_cursor_open(t, db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL); r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
	     r = scout_cursor_next(c, &k, &kl, NULL, NULL))
		n++;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL);
	     r == 0 && n > (uint64_t)history && kl > pl && memcmp(k, prefix, pl) == 0; n--) {
		if ((r = scout_cursor_del(c)) < 0)
			break;
		r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL);
	}
	scout_cursor_close(c);
	return r == -ENOENT || r == 0 ? 0 : r;
}

/* A job's transaction: on a pool thread when async, so it reads only the
 * job. Repeatable: it runs again after a map growth. */
static int job_run(struct scout_txn *t, void *arg)
{
	struct job *j = arg;
	int r = 0;

	for (size_t i = 0; i < j->n && r >= 0; i++) {
		struct op *o = &j->ops[i];
		switch (o->kind) {
		case OP_PUT:
			r = put_str(t, j->db, o->key, o->val);
			break;
		case OP_DEL:
			r = scout_txn_del(t, j->db, o->key, strlen(o->key));
			if (r == -ENOENT)
				r = 0;
			break;
		case OP_DEL_DEVICE:
			r = del_device(t, j->db, o->key);
			break;
		case OP_HISTORY:
			r = history_fix(t, j->db, o->key, o->old, o->n);
			break;
		}
	}
	return r;
}

static void job_done(void *arg, int status)
{
	struct job *j = arg;
	struct snmp_inventory *inv = j->inv;

	if (status < 0)
		log_error("snmp: %s: cannot store the %s: %s", j->who, j->what, strerror(-status));
	scout_list_remove(&j->link);
	job_free(j);
	if (!scout_list_empty(&inv->pending))
		return;
	if (inv->flushed) {
		void (*cb)(void *) = inv->flushed;
		inv->flushed = NULL;
		cb(inv->flushed_arg);
	}
	if (inv->freeing && scout_list_empty(&inv->pending)) {
		inv->freeing = false;
		snmp_inventory_free(inv);
	}
}

/* Writes the job and lets go of it: queued for the pool when async (0:
 * queued; job_done logs a failure), else now (0 or the error). */
static int job_commit(struct snmp_inventory *inv, struct job *j)
{
	int r;

	if (j->oom) {
		job_free(j);
		return -ENOMEM;
	}
	if (!inv->async) {
		r = scout_store_write(inv->store, job_run, j);
		job_free(j);
		return r;
	}
	scout_list_insert_tail(&inv->pending, &j->link);
	r = scout_store_write_async(inv->store, job_run, j, job_done);
	if (r < 0) {
		scout_list_remove(&j->link);
		job_free(j);
	}
	return r;
}

int snmp_inventory_write_async(struct snmp_inventory *inv, uv_loop_t *loop)
{
	int r = scout_store_async_start(inv->store, loop);

	if (r == 0)
		inv->async = true;
	return r;
}

size_t snmp_inventory_pending(const struct snmp_inventory *inv)
{
	size_t n = 0;

	for (const struct scout_list *l = inv->pending.next; l != &inv->pending; l = l->next)
		n++;
	return n;
}

void snmp_inventory_flush(struct snmp_inventory *inv, void (*done)(void *arg), void *arg)
{
	if (scout_list_empty(&inv->pending)) {
		done(arg);
		return;
	}
	inv->flushed = done;
	inv->flushed_arg = arg;
}

/* ---- the history, with pending jobs replayed ----------------------------- */

struct hview {
	const char *id;
	json_t *view; /* time key (16 hex) -> reading text */
	struct snmp_inventory *inv;
};

static int view_load(struct scout_txn *t, struct scout_db *db, const char *id, json_t *view)
{
	char prefix[600];
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	snprintf(prefix, sizeof(prefix), "h/%s/", id);
	size_t pl = strlen(prefix);
	if ((r = scout_cursor_open(t, db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl); r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
	     r = scout_cursor_next(c, &k, &kl, &v, &vl)) {
		char tk[64];
		snprintf(tk, sizeof(tk), "%.*s", (int)(kl - pl), (const char *)k + pl);
		json_object_set_new(view, tk, json_stringn(v, vl));
	}
	scout_cursor_close(c);
	return r == -ENOENT || r == 0 ? 0 : r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of view in order (a new array of borrowed strings). */
static const char **view_keys(json_t *view, size_t *ret_n)
{
	size_t n = json_object_size(view), i = 0;
	const char **keys = malloc((n ? n : 1) * sizeof(*keys)), *k;
	json_t *v;

	if (!keys) {
		*ret_n = 0;
		return NULL;
	}
	json_object_foreach (view, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	*ret_n = n;
	return keys;
}

static void view_trim(json_t *view, int64_t keep)
{
	size_t n;
	const char **keys;

	if (keep < 0) /* as history_fix: a negative limit keeps all */
		return;
	keys = view_keys(view, &n);
	for (size_t i = 0; keys && (int64_t)(n - i) > keep && i < n; i++)
		json_object_del(view, keys[i]);
	free(keys);
}

/* The history of id as it will be once the pending jobs before op `stop`
 * of job `upto` (all of them with NULL) are done: the store's, then what
 * those jobs do to it, in order. A job already committed but not yet done
 * is replayed too, which changes nothing: readings are keyed by time. */
static int replay(struct scout_txn *t, struct snmp_inventory *inv, const char *id, const struct job *upto, size_t stop,
		  json_t *view)
{
	char prefix[600];
	struct job *j;
	int r;

	if ((r = view_load(t, inv->db, id, view)) < 0)
		return r;
	snprintf(prefix, sizeof(prefix), "h/%s/", id);
	size_t pl = strlen(prefix);
	scout_list_foreach (j, &inv->pending, link) {
		for (size_t i = 0; i < j->n; i++) {
			struct op *o = &j->ops[i];
			if (j == upto && i == stop)
				return 0;
			if (o->kind == OP_PUT && strncmp(o->key, prefix, pl) == 0) {
				json_object_set_new(view, o->key + pl, json_string(o->val));
			} else if (o->kind == OP_DEL_DEVICE && strcmp(o->key, id) == 0) {
				json_object_clear(view);
			} else if (o->kind == OP_HISTORY && o->old && strcmp(o->old, id) == 0) {
				json_object_clear(view); /* moved to another id */
			} else if (o->kind == OP_HISTORY && strcmp(o->key, id) == 0) {
				if (o->old) { /* what the old id had by then joins */
					json_t *was = json_object();
					r = replay(t, inv, o->old, j, i, was);
					json_object_update(view, was);
					json_decref(was);
					if (r < 0)
						return r;
				}
				view_trim(view, o->n);
			}
		}
	}
	return 0;
}

static int read_history(struct scout_txn *t, void *arg)
{
	struct hview *h = arg;
	return replay(t, h->inv, h->id, NULL, 0, h->view);
}

/* ---- merging ------------------------------------------------------------- */

/* The record fresh is a reading of: the one with its serial, else with its
 * MAC (unless the serials say they are two devices), else the one at its
 * address (unless a serial or MAC says it is another device). *ret_flap:
 * matched by MAC though the serials differ, because the MAC, the
 * sysObjectID and the address are the same: one device whose serial
 * changes between reads, not a new one each read. */
static json_t *match(struct snmp_inventory *inv, json_t *fresh, const char **ret_id, bool *ret_flap)
{
	const char *serial = id_serial(fresh), *mac = id_mac(fresh), *ip = str(fresh, "ip");
	const char *id;
	json_t *set, *v, *rec;

	*ret_flap = false;
	set = serial ? json_object_get(inv->by_serial, serial) : NULL;
	json_object_foreach (set, id, v)
		if ((rec = json_object_get(inv->devices, id)) && same(serial, key_serial(rec)))
			goto found;
	set = mac ? json_object_get(inv->by_mac, mac) : NULL;
	json_object_foreach (set, id, v)
		if ((rec = json_object_get(inv->devices, id)) && same(mac, id_mac(rec)) &&
		    (!serial || !key_serial(rec)))
			goto found;
	json_object_foreach (set, id, v)
		if ((rec = json_object_get(inv->devices, id)) && same(mac, id_mac(rec)) && same(ip, str(rec, "ip")) &&
		    same(str(fresh, "sysobjectid"), str(rec, "sysobjectid"))) {
			*ret_flap = true;
			goto found;
		}
	set = ip ? json_object_get(inv->by_addr, ip) : NULL;
	json_object_foreach (set, id, v) {
		if (!(rec = json_object_get(inv->devices, id)) || !same(ip, str(rec, "ip")))
			continue;
		bool serial_conflict = serial && key_serial(rec) && !same(serial, key_serial(rec));
		bool mac_conflict = mac && id_mac(rec) && !same(mac, id_mac(rec));
		if (!serial_conflict && !mac_conflict)
			goto found;
	}
	return NULL;
found:
	*ret_id = id;
	return rec;
}

struct named {
	const char *id;
	json_t *rec;
};

/* Seen longest ago first (no date counts as oldest), then by id. */
static int cmp_seen(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	const char *p = str(x->rec, "last_seen"), *q = str(y->rec, "last_seen");
	int c = !p || !q ? !!p - !!q : strcmp(p, q);

	return c ? c : strcmp(x->id, y->id);
}

/* What rec taking its address does to the other records that name it:
 * past max_per_address (rec being one) the ones seen longest ago are
 * forgotten (their ids into forget); the others that answered there lose
 * the address (id -> new text into displaced). */
static int plan_address(struct snmp_inventory *inv, json_t *rec, json_t *old, json_t *displaced, json_t *forget)
{
	const char *ip = str(rec, "ip"), *id;
	json_t *set = ip ? json_object_get(inv->by_addr, ip) : NULL, *v;
	struct named *others;
	size_t n = 0;

	if (!json_object_size(set))
		return 0;
	if (!(others = malloc(json_object_size(set) * sizeof(*others))))
		return -ENOMEM;
	json_object_foreach (set, id, v) {
		json_t *o = json_object_get(inv->devices, id);
		if (o && o != old)
			others[n++] = (struct named){id, o};
	}
	qsort(others, n, sizeof(*others), cmp_seen);
	size_t keep = inv->max_per_address ? inv->max_per_address - 1 : n;
	for (size_t i = 0; i < n; i++) {
		if (n - i > keep) {
			json_array_append_new(forget, json_string(others[i].id));
			continue;
		}
		if (!same(str(others[i].rec, "ip"), ip))
			continue;
		json_t *copy = json_deep_copy(others[i].rec);
		json_object_set(copy, "previous_ip", json_object_get(copy, "ip"));
		json_object_del(copy, "ip");
		char *t = json_dumps(copy, JSON_COMPACT);
		json_object_set_new(displaced, others[i].id, json_string(t ? t : "{}"));
		free(t);
		json_decref(copy);
	}
	free(others);
	return 0;
}

static json_t *meter_reading(json_t *old, json_t *fresh, time_t now, unsigned *flags)
{
	json_t *om = json_object_get(old, "meters"), *nm = json_object_get(fresh, "meters");
	static const char *const keys[] = {"total", "mono", "color"};
	bool changed = false, reset = false;

	if (!nm)
		return NULL;
	for (int i = 0; i < 3; i++) {
		json_t *a = json_object_get(om, keys[i]), *b = json_object_get(nm, keys[i]);
		if (!b)
			continue;
		if (!a || json_integer_value(a) != json_integer_value(b))
			changed = true;
		if (a && json_integer_value(b) < json_integer_value(a))
			reset = true;
	}
	if (!changed)
		return NULL;
	json_t *r = json_object();
	json_object_set_new(r, "time_ms", json_integer((json_int_t)now * 1000));
	for (int i = 0; i < 3; i++)
		if (json_object_get(nm, keys[i]))
			json_object_set(r, keys[i], json_object_get(nm, keys[i]));
	json_object_set_new(r, "reset", json_boolean(reset));
	*flags |= SNMP_INV_METERS | (reset ? SNMP_INV_RESET : 0);
	return r;
}

/* Logs what the update decided, once it is stored. */
static void log_forgotten(struct snmp_inventory *inv, const char *ip, json_t *forget)
{
	size_t i;
	json_t *v;

	json_array_foreach (forget, i, v) {
		json_t *rec = json_object_get(inv->devices, json_string_value(v));
		log_info("snmp: %s: forgot %s (last seen %s): more than %u records for this address", ip,
			 json_string_value(v), str(rec, "last_seen") ? str(rec, "last_seen") : "never",
			 inv->max_per_address);
	}
}

/* The job of one update: the records it forgets, the record (under its
 * new id when it changed), the records whose address it took, its reading,
 * and its history moved and trimmed. */
static int save_device(struct snmp_inventory *inv, const char *id, const char *old_id, const char *text,
		       json_t *reading, json_t *displaced, json_t *forget, const char *ip)
{
	struct job *j = job_new(inv, "device record", ip ? ip : id);
	char key[600];
	const char *oid;
	json_t *v;
	size_t i;

	if (!j)
		return -ENOMEM;
	json_array_foreach (forget, i, v)
		job_op(j, OP_DEL_DEVICE, json_string_value(v), NULL, NULL, 0);
	if (old_id) {
		snprintf(key, sizeof(key), "d/%s", old_id);
		job_op(j, OP_DEL, key, NULL, NULL, 0);
	}
	snprintf(key, sizeof(key), "d/%s", id);
	job_op(j, OP_PUT, key, text, NULL, 0);
	json_object_foreach (displaced, oid, v) {
		snprintf(key, sizeof(key), "d/%s", oid);
		job_op(j, OP_PUT, key, json_string_value(v), NULL, 0);
	}
	if (reading) {
		char *rt = json_dumps(reading, JSON_COMPACT);
		if (!rt) {
			job_free(j);
			return -ENOMEM;
		}
		snprintf(key, sizeof(key), "h/%s/%016llx", id,
			 (unsigned long long)json_integer_value(json_object_get(reading, "time_ms")));
		job_op(j, OP_PUT, key, rt, NULL, 0);
		free(rt);
	}
	job_op(j, OP_HISTORY, id, NULL, old_id, inv->history);
	return job_commit(inv, j);
}

/* The record a read makes of a device known as old (NULL: new): a status
 * read keeps old's identity and replaces what it reads; a full read is the
 * record, with what it missed but an earlier read knew. Takes fresh. */
static json_t *merge_read(json_t *old, json_t *fresh, bool full)
{
	json_t *rec;

	if (old && !full) {
		/* a status read: identity stays, what changes is replaced */
		rec = json_deep_copy(old);
		for (const char *const *f = status_fields; *f; f++) {
			json_t *v = json_object_get(fresh, *f);
			if (v)
				json_object_set(rec, *f, v);
			else if (strcmp(*f, "color") != 0)
				json_object_del(rec, *f);
		}
		if (str(fresh, "ip"))
			json_object_set(rec, "ip", json_object_get(fresh, "ip"));
	} else {
		rec = json_deep_copy(fresh);
		/* what this read missed but an earlier one knew */
		for (const char *const *f = identity_fields; old && *f; f++)
			if (!json_object_get(rec, *f) && json_object_get(old, *f))
				json_object_set(rec, *f, json_object_get(old, *f));
	}
	json_decref(fresh);
	return rec;
}

/* Seen times and id (written to id) of rec; the flags a read of a device
 * known as old (or new) raises so far: found, alerts changed. */
static unsigned stamp_record(json_t *rec, json_t *old, bool flap, time_t now, char *id, size_t idsize)
{
	json_t *first = old ? json_object_get(old, "first_seen") : NULL;
	unsigned flags = 0;
	char ts[32];

	if (flap)
		json_object_set_new(rec, "serial_unstable", json_true());
	scout_iso_time(now, ts, sizeof(ts));
	json_object_set_new(rec, "first_seen", first ? json_incref(first) : json_string(ts));
	json_object_set_new(rec, "last_seen", json_string(ts));
	make_id(rec, id, idsize);
	json_object_set_new(rec, "id", json_string(id));
	if (!old)
		flags |= SNMP_INV_FOUND;
	if (old && (!same_json(json_object_get(old, "errors"), json_object_get(rec, "errors")) ||
		    !same_json(json_object_get(old, "alerts"), json_object_get(rec, "alerts"))))
		flags |= SNMP_INV_ALERTS;
	if (!old &&
	    (json_array_size(json_object_get(rec, "errors")) || json_array_size(json_object_get(rec, "alerts"))))
		flags |= SNMP_INV_ALERTS;
	return flags;
}

/* A new device past max_devices is refused (logged once, counted): room is
 * never made by dropping a device that is still there. */
static bool refuse_new(struct snmp_inventory *inv, json_t *rec, json_t *old, json_t *forget, const char *id)
{
	if (old || !inv->max_devices ||
	    json_object_size(inv->devices) + 1 - json_array_size(forget) <= inv->max_devices)
		return false;
	inv->stats.refused++;
	if (!inv->full_logged)
		log_warn("snmp: %s: new printer not recorded: the inventory holds %zu printers (max_devices); "
			 "more are only counted (devices_refused) until there is room",
			 str(rec, "ip") ? str(rec, "ip") : id, json_object_size(inv->devices));
	inv->full_logged = true;
	return true;
}

/* Once saved: the records in memory follow (forgotten, displaced, moved
 * from old_id when moved, rec put under id, which takes rec). */
static void apply_saved(struct snmp_inventory *inv, json_t *rec, const char *id, const char *moved_from,
			json_t *displaced, json_t *forget)
{
	const char *oid;
	size_t i;
	json_t *v;

	log_forgotten(inv, str(rec, "ip"), forget);
	json_array_foreach (forget, i, v)
		drop_rec(inv, json_string_value(v));
	inv->stats.forgotten += json_array_size(forget);
	json_object_foreach (displaced, oid, v)
		put_rec(inv, oid, json_loads(json_string_value(v), 0, NULL));
	if (moved_from)
		drop_rec(inv, moved_from);
	put_rec(inv, id, rec);
	room_again(inv);
}

int snmp_inventory_update(struct snmp_inventory *inv, json_t *fresh, bool full, time_t now, json_t **ret_record,
			  unsigned *ret_flags, json_t **ret_meters)
{
	const char *matched = NULL;
	bool flap;
	json_t *old = match(inv, fresh, &matched, &flap), *rec;
	json_t *displaced = json_object(), *forget = json_array(), *reading = NULL;
	char id[512], old_id[512] = "", *text = NULL;
	const char *moved_from;
	unsigned flags;
	int r;

	if (old)
		snprintf(old_id, sizeof(old_id), "%s", matched);
	rec = merge_read(old, fresh, full);
	flags = stamp_record(rec, old, flap, now, id, sizeof(id));

	if ((r = plan_address(inv, rec, old, displaced, forget)) < 0)
		goto out;
	if (refuse_new(inv, rec, old, forget, id)) {
		r = -ENOSPC;
		goto out;
	}
	reading = meter_reading(old, rec, now, &flags);
	text = json_dumps(rec, JSON_COMPACT);
	moved_from = old && strcmp(old_id, id) ? old_id : NULL;
	r = text ? save_device(inv, id, moved_from, text, reading, displaced, forget, str(rec, "ip")) : -ENOMEM;
	if (r < 0)
		goto out;

	if (flap)
		log_warn("snmp: %s: its serial number changed from %s to %s, its MAC and sysObjectID did not; "
			 "identifying it by its MAC (%s) from now on",
			 str(rec, "ip"), str(old, "serial"), str(rec, "serial"), str(rec, "mac"));
	if (moved_from)
		flags |= SNMP_INV_REKEYED;
	apply_saved(inv, rec, id, moved_from, displaced, forget);
	*ret_record = rec;
	*ret_flags = flags;
	if (ret_meters)
		*ret_meters = json_incref(reading);
	rec = NULL;
out:
	free(text);
	json_decref(displaced);
	json_decref(forget);
	json_decref(reading);
	json_decref(rec);
	return r;
}

int snmp_inventory_nonprinter(struct snmp_inventory *inv, const char *ip, const char *descr, const char *sysobjectid,
			      time_t now)
{
	json_t *old = json_object_get(inv->nonprinters, ip), *rec = json_object();
	char ts[32];
	int r;

	scout_iso_time(now, ts, sizeof(ts));
	json_object_set_new(rec, "ip", json_string(ip));
	if (descr && *descr)
		json_object_set_new(rec, "description", json_string(descr));
	if (sysobjectid && *sysobjectid)
		json_object_set_new(rec, "sysobjectid", json_string(sysobjectid));
	json_object_set_new(rec, "printer", json_false());
	json_t *first = old ? json_object_get(old, "first_seen") : NULL;
	json_object_set_new(rec, "first_seen", first ? json_incref(first) : json_string(ts));
	json_object_set_new(rec, "last_seen", json_string(ts));
	char *text = json_dumps(rec, JSON_COMPACT), key[128];
	struct job *j = text ? job_new(inv, "host record", ip) : NULL;
	if (j) {
		snprintf(key, sizeof(key), "n/%s", ip);
		job_op(j, OP_PUT, key, text, NULL, 0);
		r = job_commit(inv, j);
	} else {
		r = -ENOMEM;
	}
	free(text);
	if (r < 0) {
		json_decref(rec);
		return r;
	}
	json_object_set_new(inv->nonprinters, ip, rec);
	return 0;
}

json_t *snmp_inventory_find(struct snmp_inventory *inv, const char *key)
{
	const char *id;
	json_t *rec, *v;

	if ((rec = json_object_get(inv->devices, key)))
		return rec;
	/* by address: the device there now, not one that was before */
	json_object_foreach (json_object_get(inv->by_addr, key), id, v)
		if ((rec = json_object_get(inv->devices, id)) && same(key, str(rec, "ip")))
			return rec;
	if ((rec = first_of(inv, json_object_get(inv->by_serial, key))))
		return rec;
	return first_of(inv, json_object_get(inv->by_mac, key));
}

/* ---- forgetting ---------------------------------------------------------- */

#define EXPIRE_BATCH 64 /* records per transaction: a history can be long */

struct expire {
	struct snmp_inventory *inv;
	json_t *devices, *hosts; /* ids, addresses */
};

static int expire_write(struct expire *x)
{
	struct job *j = job_new(x->inv, "removal of records not seen", "inventory");
	char key[128];
	size_t i;
	json_t *v;

	if (!j)
		return -ENOMEM;
	json_array_foreach (x->devices, i, v)
		job_op(j, OP_DEL_DEVICE, json_string_value(v), NULL, NULL, 0);
	json_array_foreach (x->hosts, i, v) {
		snprintf(key, sizeof(key), "n/%s", json_string_value(v));
		job_op(j, OP_DEL, key, NULL, NULL, 0);
	}
	return job_commit(x->inv, j);
}

static bool unseen_since(json_t *rec, const char *cutoff)
{
	const char *seen = str(rec, "last_seen");
	return !seen || strcmp(seen, cutoff) < 0;
}

/* Stores and applies one batch; logs the first few of the call. Returns
 * how many went, or a negative errno. */
static int expire_batch(struct snmp_inventory *inv, struct expire *x, const char *after, size_t *logged)
{
	size_t i, n = json_array_size(x->devices) + json_array_size(x->hosts);
	json_t *v;
	int r = n ? expire_write(x) : 0;

	if (r < 0)
		return r;
	json_array_foreach (x->devices, i, v) {
		json_t *rec = json_object_get(inv->devices, json_string_value(v));
		if ((*logged)++ < 10)
			log_info("snmp: forgot %s (%s): not seen for %s (last seen %s)", json_string_value(v),
				 addr_of(rec) ? addr_of(rec) : "no address", after,
				 str(rec, "last_seen") ? str(rec, "last_seen") : "never");
		drop_rec(inv, json_string_value(v));
	}
	json_array_foreach (x->hosts, i, v) {
		json_t *rec = json_object_get(inv->nonprinters, json_string_value(v));
		if ((*logged)++ < 10)
			log_info("snmp: forgot the host %s (not a printer): not seen for %s (last seen %s)",
				 json_string_value(v), after, str(rec, "last_seen") ? str(rec, "last_seen") : "never");
		json_object_del(inv->nonprinters, json_string_value(v));
	}
	inv->stats.forgotten += n;
	json_array_clear(x->devices);
	json_array_clear(x->hosts);
	return (int)n;
}

int snmp_inventory_expire(struct snmp_inventory *inv, time_t now, uint64_t forget_after_s, size_t *ret_n)
{
	struct expire x = {inv, json_array(), json_array()};
	json_t *gone = json_array(), *gone_hosts = json_array(), *rec;
	char cutoff[32], after[32];
	size_t n = 0, logged = 0, due = 0, i;
	const char *key;
	int r = 0;

	if (!forget_after_s || (uint64_t)now <= forget_after_s)
		goto out;
	scout_iso_time(now - (time_t)forget_after_s, cutoff, sizeof(cutoff));
	format_duration(forget_after_s, after, sizeof(after));
	/* the keys first: a batch changes what would be iterated */
	json_object_foreach (inv->devices, key, rec)
		if (unseen_since(rec, cutoff) && due++ < SNMP_INV_EXPIRE_MAX)
			json_array_append_new(gone, json_string(key));
	json_object_foreach (inv->nonprinters, key, rec)
		if (unseen_since(rec, cutoff) && due++ < SNMP_INV_EXPIRE_MAX)
			json_array_append_new(gone_hosts, json_string(key));
	for (i = 0; i < json_array_size(gone) && r >= 0; i++) {
		json_array_append(x.devices, json_array_get(gone, i));
		if (json_array_size(x.devices) == EXPIRE_BATCH && (r = expire_batch(inv, &x, after, &logged)) > 0)
			n += (size_t)r;
	}
	for (i = 0; i < json_array_size(gone_hosts) && r >= 0; i++) {
		json_array_append(x.hosts, json_array_get(gone_hosts, i));
		if (json_array_size(x.devices) + json_array_size(x.hosts) == EXPIRE_BATCH &&
		    (r = expire_batch(inv, &x, after, &logged)) > 0)
			n += (size_t)r;
	}
	if (r >= 0 && (r = expire_batch(inv, &x, after, &logged)) > 0)
		n += (size_t)r;
	if (r < 0)
		log_error("snmp: cannot forget what was not seen for %s: %s", after, strerror(-r));
	if (logged > 10)
		log_info("snmp: forgot %zu more not seen for %s", logged - 10, after);
	if (due > n && r >= 0)
		log_info("snmp: %zu more not seen for %s are left for the next check", due - n, after);
	room_again(inv);
out:
	json_decref(gone);
	json_decref(gone_hosts);
	json_decref(x.devices);
	json_decref(x.hosts);
	if (ret_n)
		*ret_n = n;
	return r < 0 ? r : 0;
}

static int cmp_ip(const void *a, const void *b)
{
	const char *x = str(*(json_t *const *)a, "ip"), *y = str(*(json_t *const *)b, "ip");
	if (!x || !y)
		return !x - !y;
	/* numeric order for dotted quads, text order otherwise */
	unsigned xa[4], ya[4];
	if (sscanf(x, "%u.%u.%u.%u", &xa[0], &xa[1], &xa[2], &xa[3]) == 4 &&
	    sscanf(y, "%u.%u.%u.%u", &ya[0], &ya[1], &ya[2], &ya[3]) == 4)
		for (int i = 0; i < 4; i++)
			if (xa[i] != ya[i])
				return xa[i] < ya[i] ? -1 : 1;
	return strcmp(x, y);
}

json_t *snmp_inventory_list(struct snmp_inventory *inv, bool all)
{
	size_t n = json_object_size(inv->devices) + (all ? json_object_size(inv->nonprinters) : 0), k = 0;
	json_t **v = malloc((n ? n : 1) * sizeof(*v)), *rec, *out = json_array();
	const char *id;

	if (!v)
		return out;
	json_object_foreach (inv->devices, id, rec)
		v[k++] = rec;
	if (all)
		json_object_foreach (inv->nonprinters, id, rec)
			v[k++] = rec;
	qsort(v, k, sizeof(*v), cmp_ip);
	for (size_t i = 0; i < k; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

json_t *snmp_inventory_history(struct snmp_inventory *inv, const char *id)
{
	struct hview h = {id, json_object(), inv};
	json_t *out = json_array();
	size_t n;

	scout_store_read(inv->store, read_history, &h);
	const char **keys = view_keys(h.view, &n);
	for (size_t i = 0; keys && i < n; i++) {
		const char *text = json_string_value(json_object_get(h.view, keys[i]));
		json_t *e = json_loads(text, 0, NULL);
		if (!json_is_object(e)) {
			json_decref(e);
			continue;
		}
		time_t secs = (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
		char ts[32];
		scout_iso_time(secs, ts, sizeof(ts));
		json_object_set_new(e, "time", json_string(ts));
		json_object_del(e, "time_ms");
		json_array_append_new(out, e);
	}
	free(keys);
	json_decref(h.view);
	return out;
}

size_t snmp_inventory_count(const struct snmp_inventory *inv, bool printers)
{
	return json_object_size(printers ? inv->devices : inv->nonprinters);
}

struct meta {
	struct snmp_inventory *inv;
	const char *key;
	char *text;
	json_t *value;
};

int snmp_inventory_save_meta(struct snmp_inventory *inv, const char *key, json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT), k[128];
	struct job *j = text ? job_new(inv, "module metadata", key) : NULL;
	int r = -ENOMEM;

	if (j) {
		snprintf(k, sizeof(k), "m/%s", key);
		job_op(j, OP_PUT, k, text, NULL, 0);
		r = job_commit(inv, j);
	}
	free(text);
	return r;
}

static int load_meta(struct scout_txn *t, void *arg)
{
	struct meta *m = arg;
	char key[128];
	const void *v;
	size_t vl;

	snprintf(key, sizeof(key), "m/%s", m->key);
	if (scout_txn_get(t, m->inv->db, key, strlen(key), &v, &vl) == 0)
		m->value = json_loadb(v, vl, 0, NULL);
	return 0;
}

json_t *snmp_inventory_load_meta(struct snmp_inventory *inv, const char *key)
{
	struct meta m = {inv, key, NULL, NULL};

	scout_store_read(inv->store, load_meta, &m);
	return m.value;
}
