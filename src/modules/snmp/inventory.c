/* Inventory in memory (a JSON object per record) and in LMDB:
 *   d/<id>                  the device record (JSON)
 *   h/<id>/<time, 16 hex>   a meter reading (JSON)
 *   n/<ip>                  a host that answered but is not a printer
 *   m/<name>                module metadata (last sweep)
 * An id is s:<serial>, m:<mac> or i:<ip>. */
#include "inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/log.h"
#include "loop/store.h"

struct snmp_inventory {
	struct scout_store *store;
	struct scout_db *db;
	json_t *devices;    /* id -> record */
	json_t *nonprinters; /* ip -> record */
	int64_t history;
};

static const char *const identity_fields[] = {"description", "sysobjectid", "manufacturer", "model", "serial",
					       "mac", "firmware", "location", "name", "asset", NULL};
static const char *const status_fields[] = {"status", "errors", "display", "alerts", "meters", "supplies", "color",
					     NULL};

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

static void make_id(json_t *rec, char *out, size_t size)
{
	if (id_serial(rec))
		snprintf(out, size, "s:%s", id_serial(rec));
	else if (id_mac(rec))
		snprintf(out, size, "m:%s", id_mac(rec));
	else
		snprintf(out, size, "i:%s", str(rec, "ip") ? str(rec, "ip") : "?");
}

void snmp_iso_time(time_t t, char *buf, size_t size)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
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
	inv->devices = json_object();
	inv->nonprinters = json_object();
	inv->history = 2000;
	struct load l = {inv, 0};
	r = scout_store_read(store, load_all, &l);
	if (r < 0) {
		snmp_inventory_free(inv);
		return r;
	}
	if (l.bad)
		log_warn("snmp: %u unreadable records in the store were skipped", l.bad);
	*ret_inv = inv;
	return 0;
}

void snmp_inventory_free(struct snmp_inventory *inv)
{
	if (!inv)
		return;
	json_decref(inv->devices);
	json_decref(inv->nonprinters);
	free(inv);
}

void snmp_inventory_set_history(struct snmp_inventory *inv, int64_t max_readings)
{
	inv->history = max_readings;
}

/* ---- writing ------------------------------------------------------------- */

struct save {
	struct snmp_inventory *inv;
	const char *id, *old_id;
	const char *text;
	json_t *reading;     /* or NULL */
	json_t *displaced;   /* other records whose ip this one took: id -> text */
};

static int put_str(struct scout_txn *t, struct scout_db *db, const char *k, const char *v)
{
	return scout_txn_put(t, db, k, strlen(k), v, strlen(v));
}

/* Moves a device's history from one id to another, then trims it. */
static int history_fix(struct scout_txn *t, struct save *s)
{
	char prefix[600], key[700];
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	if (s->old_id) {
		snprintf(prefix, sizeof(prefix), "h/%s/", s->old_id);
		size_t pl = strlen(prefix);
		if ((r = scout_cursor_open(t, s->inv->db, &c)) < 0)
			return r;
		for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl); r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
		     r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl)) {
			int n = snprintf(key, sizeof(key), "h/%s/%.*s", s->id, (int)(kl - pl), (const char *)k + pl);
			if ((r = scout_txn_put(t, s->inv->db, key, (size_t)n, v, vl)) < 0 || (r = scout_cursor_del(c)) < 0)
				break;
		}
		scout_cursor_close(c);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	/* keep the newest `history` readings */
	snprintf(prefix, sizeof(prefix), "h/%s/", s->id);
	size_t pl = strlen(prefix);
	uint64_t n = 0;
	if ((r = scout_cursor_open(t, s->inv->db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL); r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
	     r = scout_cursor_next(c, &k, &kl, NULL, NULL))
		n++;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL);
	     r == 0 && n > (uint64_t)s->inv->history && kl > pl && memcmp(k, prefix, pl) == 0; n--) {
		if ((r = scout_cursor_del(c)) < 0)
			break;
		r = scout_cursor_seek(c, prefix, pl, &k, &kl, NULL, NULL);
	}
	scout_cursor_close(c);
	return r == -ENOENT || r == 0 ? 0 : r;
}

static int save_device(struct scout_txn *t, void *arg)
{
	struct save *s = arg;
	char key[600];
	int r;

	if (s->old_id) {
		snprintf(key, sizeof(key), "d/%s", s->old_id);
		r = scout_txn_del(t, s->inv->db, key, strlen(key));
		if (r < 0 && r != -ENOENT)
			return r;
	}
	snprintf(key, sizeof(key), "d/%s", s->id);
	if ((r = put_str(t, s->inv->db, key, s->text)) < 0)
		return r;
	const char *oid;
	json_t *text;
	json_object_foreach(s->displaced, oid, text)
	{
		snprintf(key, sizeof(key), "d/%s", oid);
		if ((r = put_str(t, s->inv->db, key, json_string_value(text))) < 0)
			return r;
	}
	if (s->reading) {
		char *rt = json_dumps(s->reading, JSON_COMPACT);
		if (!rt)
			return -ENOMEM;
		snprintf(key, sizeof(key), "h/%s/%016llx", s->id,
			 (unsigned long long)json_integer_value(json_object_get(s->reading, "time_ms")));
		r = put_str(t, s->inv->db, key, rt);
		free(rt);
		if (r < 0)
			return r;
	}
	return history_fix(t, s);
}

/* ---- merging ------------------------------------------------------------- */

static json_t *match(struct snmp_inventory *inv, json_t *fresh, const char **ret_id)
{
	const char *serial = id_serial(fresh), *mac = id_mac(fresh), *ip = str(fresh, "ip");
	const char *id;
	json_t *rec;

	json_object_foreach(inv->devices, id, rec)
		if (serial && same(serial, id_serial(rec)))
			goto found;
	json_object_foreach(inv->devices, id, rec)
		if (mac && same(mac, id_mac(rec)) && (!serial || !id_serial(rec)))
			goto found;
	json_object_foreach(inv->devices, id, rec)
	{
		bool serial_conflict = serial && id_serial(rec) && !same(serial, id_serial(rec));
		bool mac_conflict = mac && id_mac(rec) && !same(mac, id_mac(rec));
		if (ip && same(ip, str(rec, "ip")) && !serial_conflict && !mac_conflict)
			goto found;
	}
	return NULL;
found:
	*ret_id = id;
	return rec;
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

int snmp_inventory_update(struct snmp_inventory *inv, json_t *fresh, bool full, time_t now, json_t **ret_record,
			  unsigned *ret_flags, json_t **ret_meters)
{
	const char *old_id = NULL;
	json_t *old = match(inv, fresh, &old_id), *rec;
	char id[512], ts[32];
	unsigned flags = 0;
	int r;

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
	snmp_iso_time(now, ts, sizeof(ts));
	json_t *first = old ? json_object_get(old, "first_seen") : NULL;
	json_object_set_new(rec, "first_seen", first ? json_incref(first) : json_string(ts));
	json_object_set_new(rec, "last_seen", json_string(ts));
	make_id(rec, id, sizeof(id));
	json_object_set_new(rec, "id", json_string(id));
	if (!old)
		flags |= SNMP_INV_FOUND;
	if (old && (!same_json(json_object_get(old, "errors"), json_object_get(rec, "errors")) ||
		    !same_json(json_object_get(old, "alerts"), json_object_get(rec, "alerts"))))
		flags |= SNMP_INV_ALERTS;
	if (!old && (json_array_size(json_object_get(rec, "errors")) || json_array_size(json_object_get(rec, "alerts"))))
		flags |= SNMP_INV_ALERTS;
	json_t *reading = meter_reading(old, rec, now, &flags);

	/* another record that claimed this address has moved away */
	json_t *displaced = json_object();
	const char *oid;
	json_t *other;
	json_object_foreach(inv->devices, oid, other)
	{
		if (other == old || !same(str(other, "ip"), str(rec, "ip")))
			continue;
		json_t *copy = json_deep_copy(other);
		json_object_set(copy, "previous_ip", json_object_get(copy, "ip"));
		json_object_del(copy, "ip");
		char *t = json_dumps(copy, JSON_COMPACT);
		json_object_set_new(displaced, oid, json_string(t ? t : "{}"));
		free(t);
		json_decref(copy);
	}

	char *text = json_dumps(rec, JSON_COMPACT);
	char *old_id_copy = old_id && strcmp(old_id, id) ? strdup(old_id) : NULL;
	struct save s = {inv, id, old_id_copy, text, reading, displaced};
	r = text ? scout_store_write(inv->store, save_device, &s) : -ENOMEM;
	free(text);
	if (r < 0) {
		free(old_id_copy);
		json_decref(displaced);
		json_decref(reading);
		json_decref(rec);
		return r;
	}
	json_t *t;
	json_object_foreach(displaced, oid, t)
		json_object_set_new(inv->devices, oid, json_loads(json_string_value(t), 0, NULL));
	json_decref(displaced);
	if (old_id_copy) {
		json_object_del(inv->devices, old_id_copy);
		flags |= SNMP_INV_REKEYED;
		free(old_id_copy);
	}
	json_object_set_new(inv->devices, id, rec);
	*ret_record = rec;
	*ret_flags = flags;
	if (ret_meters)
		*ret_meters = reading;
	else
		json_decref(reading);
	return 0;
}

struct save_np {
	struct snmp_inventory *inv;
	const char *ip, *text;
};

static int save_nonprinter(struct scout_txn *t, void *arg)
{
	struct save_np *s = arg;
	char key[128];

	snprintf(key, sizeof(key), "n/%s", s->ip);
	return put_str(t, s->inv->db, key, s->text);
}

int snmp_inventory_nonprinter(struct snmp_inventory *inv, const char *ip, const char *descr,
			      const char *sysobjectid, time_t now)
{
	json_t *old = json_object_get(inv->nonprinters, ip), *rec = json_object();
	char ts[32];
	int r;

	snmp_iso_time(now, ts, sizeof(ts));
	json_object_set_new(rec, "ip", json_string(ip));
	if (descr && *descr)
		json_object_set_new(rec, "description", json_string(descr));
	if (sysobjectid && *sysobjectid)
		json_object_set_new(rec, "sysobjectid", json_string(sysobjectid));
	json_object_set_new(rec, "printer", json_false());
	json_t *first = old ? json_object_get(old, "first_seen") : NULL;
	json_object_set_new(rec, "first_seen", first ? json_incref(first) : json_string(ts));
	json_object_set_new(rec, "last_seen", json_string(ts));
	char *text = json_dumps(rec, JSON_COMPACT);
	struct save_np s = {inv, ip, text};
	r = text ? scout_store_write(inv->store, save_nonprinter, &s) : -ENOMEM;
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
	json_t *rec;

	if ((rec = json_object_get(inv->devices, key)))
		return rec;
	json_object_foreach(inv->devices, id, rec)
		if (same(key, str(rec, "ip")) || same(key, str(rec, "serial")) || same(key, str(rec, "mac")))
			return rec;
	return NULL;
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
	json_object_foreach(inv->devices, id, rec)
		v[k++] = rec;
	if (all)
		json_object_foreach(inv->nonprinters, id, rec)
			v[k++] = rec;
	qsort(v, k, sizeof(*v), cmp_ip);
	for (size_t i = 0; i < k; i++)
		json_array_append(out, v[i]);
	free(v);
	return out;
}

struct hist {
	struct snmp_inventory *inv;
	const char *id;
	json_t *out;
};

static int read_history(struct scout_txn *t, void *arg)
{
	struct hist *h = arg;
	char prefix[600];
	struct scout_cursor *c;
	const void *k, *v;
	size_t kl, vl;
	int r;

	snprintf(prefix, sizeof(prefix), "h/%s/", h->id);
	size_t pl = strlen(prefix);
	if ((r = scout_cursor_open(t, h->inv->db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, prefix, pl, &k, &kl, &v, &vl); r == 0 && kl > pl && memcmp(k, prefix, pl) == 0;
	     r = scout_cursor_next(c, &k, &kl, &v, &vl)) {
		json_t *e = json_loadb(v, vl, 0, NULL);
		if (!json_is_object(e)) {
			json_decref(e);
			continue;
		}
		time_t secs = (time_t)(json_integer_value(json_object_get(e, "time_ms")) / 1000);
		char ts[32];
		snmp_iso_time(secs, ts, sizeof(ts));
		json_object_set_new(e, "time", json_string(ts));
		json_object_del(e, "time_ms");
		json_array_append_new(h->out, e);
	}
	scout_cursor_close(c);
	return r == -ENOENT || r == 0 ? 0 : r;
}

json_t *snmp_inventory_history(struct snmp_inventory *inv, const char *id)
{
	struct hist h = {inv, id, json_array()};

	scout_store_read(inv->store, read_history, &h);
	return h.out;
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

static int save_meta(struct scout_txn *t, void *arg)
{
	struct meta *m = arg;
	char key[128];

	snprintf(key, sizeof(key), "m/%s", m->key);
	return put_str(t, m->inv->db, key, m->text);
}

int snmp_inventory_save_meta(struct snmp_inventory *inv, const char *key, json_t *value)
{
	struct meta m = {inv, key, json_dumps(value, JSON_COMPACT), NULL};
	int r = m.text ? scout_store_write(inv->store, save_meta, &m) : -ENOMEM;

	free(m.text);
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
