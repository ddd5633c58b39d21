/* The registry of printers scout may deliver to. Each printer has a random
 * GUID (what its QR label holds) that stays when its address changes: a
 * printer's serial number, from the snmp inventory (snmp.lookup) or from
 * its own attributes, ties a new address to the GUID it had. The registry
 * lives in memory and in the ipp module's store database (one record a
 * printer, "printer:GUID" -> msgpack map), read once at start and written
 * with scout_store_write_async on every change.
 *
 * It also keeps each printer's pinned TLS key (SHA-256 of its public key):
 * pinned on first use, and when a printer shows another key the new one is
 * kept aside as an alert (printer.alert on the bus, "ok": false and a
 * problem line in the module's status) until an operator accepts it with
 * `scoutctl printer trust`. What names a printer is parsed in
 * printer-address.c; the commands are printers-cmd.c, the QR drawing qr.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipp.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"
#include "printers-int.h"
#include "printers.h"

#define KEY_PREFIX "printer:"
#define LOOKUP_TIMEOUT_MS 2000
#define MAX_PRINTERS 4096

struct lookup {
	struct scout_list link;
	struct ipp *s;
	uint64_t corr;
	struct ipp_spec spec;
	char address[300];
	ipp_printer_cb cb;
	void *arg;
	bool from_command; /* answered with -ESHUTDOWN at stop; others are dropped */
};

/* ---- records in the store ------------------------------------------------- */

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	scout_pack_str(pk, k);
	scout_pack_str(pk, v);
}

static void pack_kv_bin(msgpack_packer *pk, const char *k, const uint8_t *v, size_t n)
{
	scout_pack_str(pk, k);
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, v, n);
}

static void pack_caps(msgpack_packer *pk, const struct ipp_caps *c)
{
	msgpack_pack_map(pk, 11);
	scout_pack_str(pk, "ipps");
	msgpack_pack_int(pk, c->ipps);
	scout_pack_str(pk, "ipp");
	msgpack_pack_int(pk, c->ipp);
	pack_kv_str(pk, "uri", c->uri);
	pack_kv_str(pk, "path", c->path);
	scout_pack_str(pk, "formats");
	msgpack_pack_array(pk, c->nformats);
	for (unsigned i = 0; i < c->nformats; i++)
		scout_pack_str(pk, c->formats[i]);
	scout_pack_str(pk, "duplex");
	msgpack_pack_int(pk, c->sides_duplex);
	scout_pack_str(pk, "color");
	msgpack_pack_int(pk, c->color);
	scout_pack_str(pk, "copies_max");
	msgpack_pack_int32(pk, c->copies_max);
	pack_kv_str(pk, "make_model", c->make_model);
	pack_kv_str(pk, "uuid", c->uuid);
	pack_kv_str(pk, "serial", c->serial);
}

static void record_pack(const struct entry *e, msgpack_sbuffer *sb)
{
	const struct ipp_printer *p = &e->p;
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 12);
	pack_kv_str(&pk, "guid", p->guid);
	pack_kv_str(&pk, "address", p->address);
	pack_kv_str(&pk, "host", p->host);
	scout_pack_str(&pk, "port");
	msgpack_pack_int(&pk, p->port);
	pack_kv_str(&pk, "path", p->path);
	pack_kv_str(&pk, "serial", p->serial);
	pack_kv_str(&pk, "name", e->name);
	pack_kv_bin(&pk, "pin", p->pin, p->pinned ? 32 : 0);
	pack_kv_bin(&pk, "new_pin", p->new_pin, p->pin_changed ? 32 : 0);
	scout_pack_str(&pk, "alert_since");
	msgpack_pack_int64(&pk, p->pin_changed ? (int64_t)e->alert_since : 0);
	scout_pack_str(&pk, "raw_ok");
	msgpack_pack_int(&pk, p->raw_ok);
	scout_pack_str(&pk, "caps");
	pack_caps(&pk, &p->caps);
}

static int64_t get_int(const msgpack_object *o, const char *key)
{
	const msgpack_object *v = scout_pack_get(o, key);

	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return v->via.u64 > INT64_MAX ? 0 : (int64_t)v->via.u64;
	if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return v->via.i64;
	return 0;
}

static bool get_pin(const msgpack_object *o, const char *key, uint8_t pin[32])
{
	const msgpack_object *v = scout_pack_get(o, key);

	if (!v || v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != 32)
		return false;
	memcpy(pin, v->via.bin.ptr, 32);
	return true;
}

static void caps_unpack(const msgpack_object *o, struct ipp_caps *c)
{
	memset(c, 0, sizeof(*c));
	if (!o || o->type != MSGPACK_OBJECT_MAP)
		return;
	c->ipps = get_int(o, "ipps") != 0;
	c->ipp = get_int(o, "ipp") != 0;
	(void)scout_pack_get_strbuf(o, "uri", c->uri, sizeof(c->uri));
	(void)scout_pack_get_strbuf(o, "path", c->path, sizeof(c->path));
	const msgpack_object *f = scout_pack_get(o, "formats");
	if (f && f->type == MSGPACK_OBJECT_ARRAY)
		for (uint32_t i = 0; i < f->via.array.size && c->nformats < 32; i++) {
			const msgpack_object *x = &f->via.array.ptr[i];
			if (x->type == MSGPACK_OBJECT_STR && x->via.str.size < sizeof(c->formats[0]) &&
			    !memchr(x->via.str.ptr, 0, x->via.str.size)) {
				memcpy(c->formats[c->nformats], x->via.str.ptr, x->via.str.size);
				c->formats[c->nformats++][x->via.str.size] = 0;
			}
		}
	c->sides_duplex = get_int(o, "duplex") != 0;
	c->color = get_int(o, "color") != 0;
	int64_t cm = get_int(o, "copies_max");
	c->copies_max = cm > 0 && cm <= INT32_MAX ? (int32_t)cm : 0;
	(void)scout_pack_get_strbuf(o, "make_model", c->make_model, sizeof(c->make_model));
	(void)scout_pack_get_strbuf(o, "uuid", c->uuid, sizeof(c->uuid));
	(void)scout_pack_get_strbuf(o, "serial", c->serial, sizeof(c->serial));
}

static struct entry *entry_new(void)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	scout_list_init(&e->p.link);
	scout_list_init(&e->p.queue);
	return e;
}

/* A stored record, checked; NULL when it is not one. */
static struct entry *record_unpack(const void *data, size_t len)
{
	msgpack_unpacked u;
	struct entry *e = NULL;
	struct ipp_spec sp;
	char why[200];

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS || u.data.type != MSGPACK_OBJECT_MAP ||
	    !(e = entry_new()))
		goto out;
	struct ipp_printer *p = &e->p;
	(void)scout_pack_get_strbuf(&u.data, "guid", p->guid, sizeof(p->guid));
	(void)scout_pack_get_strbuf(&u.data, "address", p->address, sizeof(p->address));
	(void)scout_pack_get_strbuf(&u.data, "path", p->path, sizeof(p->path));
	(void)scout_pack_get_strbuf(&u.data, "serial", p->serial, sizeof(p->serial));
	(void)scout_pack_get_strbuf(&u.data, "name", e->name, sizeof(e->name));
	/* host and port are derived again from the address, the one truth */
	if (!ipp_guid_valid(p->guid) || ipp_printer_spec_parse(p->address, &sp, why, sizeof(why)) < 0 || sp.is_guid) {
		free(e);
		e = NULL;
		goto out;
	}
	snprintf(p->host, sizeof(p->host), "%s", sp.host);
	p->port = sp.port;
	if (!p->path[0])
		snprintf(p->path, sizeof(p->path), "%s", sp.path);
	p->pinned = get_pin(&u.data, "pin", p->pin);
	p->pin_changed = p->pinned && get_pin(&u.data, "new_pin", p->new_pin);
	e->alert_since = (time_t)get_int(&u.data, "alert_since");
	p->raw_ok = get_int(&u.data, "raw_ok") != 0;
	caps_unpack(scout_pack_get(&u.data, "caps"), &p->caps);
	/* what the printer said is listed, but deliver asks again after a restart */
	p->caps_known = false;
out:
	msgpack_unpacked_destroy(&u);
	return e;
}

struct write {
	struct scout_db *db;
	char key[sizeof(KEY_PREFIX) + 37];
	msgpack_sbuffer sb; /* empty: delete */
	bool del;
	struct ipp_registry *reg; /* for the failure count; NULL once stopped */
	void (*done)(void *arg, int status);
	void *arg;
};

static int write_fn(struct scout_txn *txn, void *arg)
{
	struct write *w = arg;
	int r;

	if (w->del) {
		r = scout_txn_del(txn, w->db, w->key, strlen(w->key));
		return r == -ENOENT ? 0 : r;
	}
	return scout_txn_put(txn, w->db, w->key, strlen(w->key), w->sb.data, w->sb.size);
}

static void write_done(void *arg, int status)
{
	struct write *w = arg;

	if (status < 0) {
		log_error("ipp: printer %s: cannot store its record: %s", w->key + strlen(KEY_PREFIX),
			  strerror(-status));
		if (w->reg)
			w->reg->writes_failed++;
	}
	if (w->done)
		w->done(w->arg, status);
	msgpack_sbuffer_destroy(&w->sb);
	free(w);
}

/* Stores e's record (or deletes it); done(arg, status) once it is on disk. */
int ipp_reg_persist(struct ipp *s, struct entry *e, bool del, void (*done)(void *arg, int status), void *arg)
{
	struct ipp_registry *reg = s->reg;
	struct write *w = calloc(1, sizeof(*w));
	int r;

	if (!w) {
		reg->writes_failed++;
		return -ENOMEM;
	}
	w->db = reg->db;
	w->reg = reg;
	w->del = del;
	w->done = done;
	w->arg = arg;
	snprintf(w->key, sizeof(w->key), KEY_PREFIX "%s", e->p.guid);
	msgpack_sbuffer_init(&w->sb);
	if (!del)
		record_pack(e, &w->sb);
	if ((r = scout_store_write_async(reg->store, write_fn, w, write_done)) < 0) {
		log_error("ipp: printer %s: cannot store its record: %s", e->p.guid, strerror(-r));
		reg->writes_failed++;
		msgpack_sbuffer_destroy(&w->sb);
		free(w);
	}
	return r;
}

void ipp_reg_save(struct ipp *s, struct entry *e)
{
	ipp_reg_persist(s, e, false, NULL, NULL);
}

struct load_ctx {
	struct ipp_registry *reg;
	size_t bad;
};

static int load_fn(struct scout_txn *txn, void *arg)
{
	struct load_ctx *c = arg;
	struct scout_cursor *cur;
	const void *k, *v;
	size_t kl, vl;
	int r;

	if ((r = scout_cursor_open(txn, c->reg->db, &cur)) < 0)
		return r;
	for (r = scout_cursor_seek(cur, KEY_PREFIX, strlen(KEY_PREFIX), &k, &kl, &v, &vl); r == 0;
	     r = scout_cursor_next(cur, &k, &kl, &v, &vl)) {
		if (kl < strlen(KEY_PREFIX) || memcmp(k, KEY_PREFIX, strlen(KEY_PREFIX)) != 0)
			break;
		struct entry *e = record_unpack(v, vl);
		if (!e) {
			c->bad++;
			continue;
		}
		scout_list_insert_tail(&c->reg->printers, &e->p.link);
	}
	scout_cursor_close(cur);
	return r == -ENOENT || r == 0 ? 0 : r;
}

/* ---- the registry --------------------------------------------------------- */

struct entry *ipp_reg_find_guid(struct ipp_registry *reg, const char *guid)
{
	struct entry *e;

	scout_list_foreach (e, &reg->printers, p.link)
		if (strcmp(e->p.guid, guid) == 0)
			return e;
	return NULL;
}

static struct entry *find_endpoint(struct ipp_registry *reg, const char *host, int port)
{
	struct entry *e;

	scout_list_foreach (e, &reg->printers, p.link)
		if (e->p.port == port && strcmp(e->p.host, host) == 0)
			return e;
	return NULL;
}

static struct entry *find_serial(struct ipp_registry *reg, const char *serial, const struct entry * not )
{
	struct entry *e;

	if (!serial[0])
		return NULL;
	scout_list_foreach (e, &reg->printers, p.link)
		if (e != not &&strcmp(e->p.serial, serial) == 0)
			return e;
	return NULL;
}

static struct entry *find_name(struct ipp_registry *reg, const char *name)
{
	struct entry *e;

	scout_list_foreach (e, &reg->printers, p.link)
		if (e->name[0] && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static size_t count(struct ipp_registry *reg)
{
	size_t n = 0;
	struct entry *e;

	scout_list_foreach (e, &reg->printers, p.link)
		n++;
	return n;
}

/* Whether p is one of ours (deliver's tests may hand in their own). */
struct entry *ipp_reg_ours(struct ipp *s, struct ipp_printer *p)
{
	struct entry *e;

	if (!s->reg || !p)
		return NULL;
	scout_list_foreach (e, &s->reg->printers, p.link)
		if (&e->p == p)
			return e;
	return NULL;
}

static void set_endpoint(struct entry *e, const char *address, const struct ipp_spec *sp)
{
	snprintf(e->p.address, sizeof(e->p.address), "%s", address);
	snprintf(e->p.host, sizeof(e->p.host), "%s", sp->host);
	e->p.port = sp->port;
	snprintf(e->p.path, sizeof(e->p.path), "%s", sp->path);
}

static int create(struct ipp *s, const char *address, const struct ipp_spec *sp, const char *serial, const char *name,
		  struct entry **ret)
{
	struct entry *e;
	int r;

	if (count(s->reg) >= MAX_PRINTERS)
		return -ENOSPC;
	if (!(e = entry_new()))
		return -ENOMEM;
	do {
		if ((r = ipp_guid_new(e->p.guid)) < 0) {
			free(e);
			return r;
		}
	} while (ipp_reg_find_guid(s->reg, e->p.guid));
	set_endpoint(e, address, sp);
	snprintf(e->p.serial, sizeof(e->p.serial), "%s", serial ? serial : "");
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	scout_list_insert_tail(&s->reg->printers, &e->p.link);
	log_info("ipp: printer %s is new: GUID %s%s%s", address, e->p.guid, serial && *serial ? ", serial " : "",
		 serial ? serial : "");
	ipp_reg_save(s, e);
	*ret = e;
	return 0;
}

/* An address the registry has not seen: the snmp inventory's serial for it
 * may tie it to a printer known under another address. */
static void settle(struct ipp *s, const struct ipp_spec *sp, const char *address, const char *serial, ipp_printer_cb cb,
		   void *arg)
{
	struct entry *e = find_endpoint(s->reg, sp->host, sp->port); /* found meanwhile */
	int r;

	if (!e && (e = find_serial(s->reg, serial, NULL))) {
		log_info("ipp: printer %s (serial %s) moved from %s to %s", e->p.guid, serial, e->p.address, address);
		set_endpoint(e, address, sp);
		e->p.caps_known = false;
		ipp_reg_save(s, e);
	}
	if (!e && (r = create(s, address, sp, serial, NULL, &e)) < 0) {
		cb(arg, r, NULL, r == -ENOSPC ? "too many printers known" : "cannot add the printer");
		return;
	}
	cb(arg, 0, &e->p, NULL);
}

static void lookup_free(struct lookup *l)
{
	scout_list_remove(&l->link);
	free(l);
}

static void on_lookup(int status, const struct scout_msg *reply, void *arg)
{
	struct lookup *l = arg;
	struct ipp *s = l->s;
	char serial[64] = "";

	if (status == 0 && reply) {
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		if (msgpack_unpack_next(&u, reply->data, reply->len, NULL) == MSGPACK_UNPACK_SUCCESS &&
		    u.data.type == MSGPACK_OBJECT_MAP)
			(void)scout_pack_get_strbuf(&u.data, "serial", serial, sizeof(serial));
		msgpack_unpacked_destroy(&u);
	} else if (status != -ENOENT) {
		log_debug("ipp: snmp.lookup %s: %s", l->spec.host, strerror(-status));
	}
	struct lookup c = *l;
	lookup_free(l);
	settle(s, &c.spec, c.address, serial, c.cb, c.arg);
}

void ipp_reg_resolve(struct ipp *s, const char *spec, bool from_command, ipp_printer_cb cb, void *arg)
{
	struct ipp_registry *reg = s->reg;
	struct ipp_spec sp;
	struct entry *e;
	char why[300];
	int r;

	if (!reg) {
		cb(arg, -ESHUTDOWN, NULL, "the printer registry is not running");
		return;
	}
	while (*spec == ' ')
		spec++;
	if ((e = find_name(reg, spec))) {
		cb(arg, 0, &e->p, NULL);
		return;
	}
	if ((r = ipp_printer_spec_parse(spec, &sp, why, sizeof(why))) < 0) {
		cb(arg, r, NULL, why);
		return;
	}
	if (sp.is_guid) {
		if ((e = ipp_reg_find_guid(reg, sp.guid))) {
			cb(arg, 0, &e->p, NULL);
		} else {
			snprintf(why, sizeof(why), "no printer has the GUID %s", sp.guid);
			cb(arg, -ENOENT, NULL, why);
		}
		return;
	}
	if ((e = find_endpoint(reg, sp.host, sp.port))) {
		if (sp.path[0] && !e->p.path[0]) {
			snprintf(e->p.path, sizeof(e->p.path), "%s", sp.path);
			ipp_reg_save(s, e);
		}
		cb(arg, 0, &e->p, NULL);
		return;
	}
	/* ask the snmp inventory for the serial at that address, if it runs */
	struct lookup *l = NULL;
	if (sp.ip && reg->t_lookup && (l = calloc(1, sizeof(*l)))) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		l->s = s;
		l->spec = sp;
		snprintf(l->address, sizeof(l->address), "%s", spec);
		for (size_t n = strlen(l->address); n && l->address[n - 1] == ' ';)
			l->address[--n] = 0;
		l->cb = cb;
		l->arg = arg;
		l->from_command = from_command;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		pack_kv_str(&pk, "ip", sp.host);
		scout_list_insert_tail(&reg->lookups, &l->link);
		r = scout_bus_request(scout_mod_bus(s->m), reg->t_lookup, sb.data, sb.size, LOOKUP_TIMEOUT_MS,
				      on_lookup, l, &l->corr);
		msgpack_sbuffer_destroy(&sb);
		if (r == 0)
			return;
		lookup_free(l);
	}
	char address[300];
	snprintf(address, sizeof(address), "%s", spec);
	for (size_t n = strlen(address); n && address[n - 1] == ' ';)
		address[--n] = 0;
	settle(s, &sp, address, "", cb, arg);
}

void ipp_printer_resolve(struct ipp *s, const char *spec, ipp_printer_cb cb, void *arg)
{
	ipp_reg_resolve(s, spec, false, cb, arg);
}

/* ---- pins ----------------------------------------------------------------- */

void ipp_reg_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

void ipp_reg_alert(struct ipp *s, struct entry *e, const char *alert)
{
	char pin[65], new_pin[65];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	ipp_reg_hex(e->p.pin, 32, pin);
	ipp_reg_hex(e->p.pin_changed ? e->p.new_pin : e->p.pin, 32, new_pin);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	pack_kv_str(&pk, "guid", e->p.guid);
	pack_kv_str(&pk, "address", e->p.address);
	pack_kv_str(&pk, "alert", alert);
	pack_kv_str(&pk, "pin", pin);
	pack_kv_str(&pk, "new_pin", new_pin);
	scout_pack_str(&pk, "time");
	msgpack_pack_uint64(&pk, (uint64_t)time(NULL));
	if (scout_bus_publish(scout_mod_bus(s->m), s->reg->t_alert, sb.data, sb.size) < 0)
		log_warn("ipp: printer %s: printer.alert %s not delivered to every subscriber", e->p.guid, alert);
	msgpack_sbuffer_destroy(&sb);
}

void ipp_printer_pin_seen(struct ipp *s, struct ipp_printer *p, const uint8_t pin[32])
{
	struct entry *e = ipp_reg_ours(s, p);

	if (!e)
		return;
	if (p->pinned) {
		if (memcmp(p->pin, pin, 32) != 0)
			ipp_printer_pin_changed(s, p, pin);
		return;
	}
	char h[65];
	ipp_reg_hex(pin, 32, h);
	memcpy(p->pin, pin, 32);
	p->pinned = true;
	p->pin_changed = false;
	log_info("ipp: printer %s (%s): key %.16s… pinned on first use", p->address, p->guid, h);
	ipp_reg_save(s, e);
}

void ipp_printer_pin_changed(struct ipp *s, struct ipp_printer *p, const uint8_t new_pin[32])
{
	struct entry *e = ipp_reg_ours(s, p);
	char h[65], old[65];

	if (!e)
		return;
	if (!p->pinned) {
		ipp_printer_pin_seen(s, p, new_pin);
		return;
	}
	if (memcmp(p->pin, new_pin, 32) == 0 || (p->pin_changed && memcmp(p->new_pin, new_pin, 32) == 0))
		return; /* nothing new: the alert stands, said once */
	ipp_reg_hex(new_pin, 32, h);
	ipp_reg_hex(p->pin, 32, old);
	memcpy(p->new_pin, new_pin, 32);
	p->pin_changed = true;
	e->alert_since = time(NULL);
	log_warn("ipp: printer %s (%s) shows a new certificate (key %.16s…, pinned %.16s…): its jobs are held until "
		 "`scoutctl printer trust %s`",
		 p->address, p->guid, h, old, p->address);
	ipp_reg_save(s, e);
	ipp_reg_alert(s, e, "certificate-changed");
}

void ipp_printer_caps_set(struct ipp *s, struct ipp_printer *p, const struct ipp_caps *caps)
{
	struct entry *e = ipp_reg_ours(s, p), *q;

	if (!e)
		return;
	if (caps != &p->caps)
		p->caps = *caps;
	p->caps_known = true;
	p->caps_ms = uv_now(scout_mod_loop(s->m));
	if (!p->serial[0] && caps->serial[0])
		snprintf(p->serial, sizeof(p->serial), "%s", caps->serial);
	/* the same printer known under another address before: p takes over its
	 * GUID and pin (deliver holds p), unless deliver is busy with that one */
	if ((q = find_serial(s->reg, p->serial, e)) && !q->p.busy && scout_list_empty(&q->p.queue)) {
		log_info("ipp: printer %s (serial %s) is %s, known before at %s: it keeps GUID %s", p->address,
			 p->serial, q->p.guid, q->p.address, q->p.guid);
		ipp_reg_persist(s, e, true, NULL, NULL); /* the GUID p had goes */
		memcpy(p->guid, q->p.guid, sizeof(p->guid));
		if (!e->name[0])
			memcpy(e->name, q->name, sizeof(e->name));
		if (q->p.pinned) {
			bool differs = p->pinned && memcmp(p->pin, q->p.pin, 32) != 0;
			uint8_t shown[32];
			memcpy(shown, p->pin, 32);
			memcpy(p->pin, q->p.pin, 32);
			p->pinned = true;
			p->pin_changed = q->p.pin_changed;
			memcpy(p->new_pin, q->p.new_pin, 32);
			e->alert_since = q->alert_since;
			scout_list_remove(&q->p.link);
			free(q);
			if (differs) {
				ipp_reg_save(s, e);
				ipp_printer_pin_changed(s, p, shown);
				return;
			}
		} else {
			scout_list_remove(&q->p.link);
			free(q);
		}
	}
	ipp_reg_save(s, e);
}

/* ---- start, stop, status -------------------------------------------------- */

int ipp_printers_sync_conf(struct ipp *s)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	struct entry *old;
	int r = 0;

	/* a name no longer in the list is no longer a name (the printer stays) */
	scout_list_foreach (old, &s->reg->printers, p.link) {
		bool listed = false;
		for (size_t i = 0; old->name[0] && i < conf->printers.n && !listed; i++)
			listed = strcmp(conf->printers.v[i].name, old->name) == 0;
		if (old->name[0] && !listed) {
			old->name[0] = 0;
			ipp_reg_save(s, old);
		}
	}
	for (size_t i = 0; i < conf->printers.n; i++) {
		const struct ipp_conf_printer *c = &conf->printers.v[i];
		struct ipp_spec sp;
		char why[200];
		struct entry *e, *named;

		if (ipp_printer_spec_parse(c->address, &sp, why, sizeof(why)) < 0)
			continue; /* checked when the file was read */
		e = find_endpoint(s->reg, sp.host, sp.port);
		named = c->name[0] ? find_name(s->reg, c->name) : NULL;
		if (named && named != e) {
			/* the name now points elsewhere: the old entry loses it */
			named->name[0] = 0;
			ipp_reg_save(s, named);
		}
		if (!e) {
			if ((r = create(s, c->address, &sp, NULL, c->name, &e)) < 0)
				return r;
			continue;
		}
		if (strcmp(e->name, c->name) != 0 || strcmp(e->p.address, c->address) != 0 ||
		    (sp.path[0] && strcmp(e->p.path, sp.path) != 0)) {
			snprintf(e->name, sizeof(e->name), "%s", c->name);
			snprintf(e->p.address, sizeof(e->p.address), "%s", c->address);
			if (sp.path[0])
				snprintf(e->p.path, sizeof(e->p.path), "%s", sp.path);
			ipp_reg_save(s, e);
		}
	}
	return 0;
}

int ipp_printers_start(struct ipp *s, char *err, size_t errlen)
{
	struct ipp_registry *reg = calloc(1, sizeof(*reg));
	struct load_ctx lc = {reg, 0};
	int r;

	if (!reg)
		return -ENOMEM;
	scout_list_init(&reg->printers);
	scout_list_init(&reg->lookups);
	scout_list_init(&reg->peeks);
	s->reg = reg;
	reg->store = scout_mod_store(s->m);
	if ((r = scout_mod_topic(s->m, "printer.alert", &reg->t_alert)) < 0) {
		snprintf(err, errlen, "printer.alert is not declared");
		return r;
	}
	/* snmp may be left out of the build or not run: then there is no serial
	 * to tie addresses with, and lookups answer -ENOENT */
	reg->t_lookup = scout_bus_find(scout_mod_bus(s->m), "snmp.lookup");
	if ((r = scout_mod_db(s->m, &reg->db)) < 0 ||
	    ((r = scout_store_async_start(reg->store, scout_mod_loop(s->m))) < 0 && r != -EBUSY) ||
	    (r = scout_store_read(reg->store, load_fn, &lc)) < 0) {
		snprintf(err, errlen, "cannot read the printers from the store: %s", strerror(-r));
		return r;
	}
	if (lc.bad)
		log_warn("ipp: %zu printer records in the store are damaged and ignored", lc.bad);
	if ((r = ipp_printers_sync_conf(s)) < 0) {
		snprintf(err, errlen, "cannot add the configured printers: %s", strerror(-r));
		return r;
	}
	size_t pinned = 0;
	struct entry *e;
	scout_list_foreach (e, &reg->printers, p.link)
		pinned += e->p.pinned;
	log_info("ipp: %zu printers known, %zu with a pinned key", count(reg), pinned);
	return 0;
}

static void flushed(void *arg)
{
	scout_closer_release(arg);
}

void ipp_printers_stop(struct ipp *s)
{
	struct ipp_registry *reg = s->reg;

	if (!reg)
		return;
	while (!scout_list_empty(&reg->lookups)) {
		struct lookup *l = scout_list_entry(reg->lookups.next, struct lookup, link);
		scout_bus_cancel(scout_mod_bus(s->m), l->corr);
		ipp_printer_cb cb = l->cb;
		void *arg = l->arg;
		bool answer = l->from_command;
		lookup_free(l);
		if (answer)
			cb(arg, -ESHUTDOWN, NULL, "scout is stopping");
	}
	ipp_reg_cmds_stop(reg);
	while (!scout_list_empty(&reg->printers)) {
		struct entry *e = scout_list_entry(reg->printers.next, struct entry, p.link);
		scout_list_remove(&e->p.link);
		free(e);
	}
	/* the module is stopped once its records are on disk */
	if (reg->store && scout_store_async_pending(reg->store)) {
		scout_closer_hold(scout_mod_closer(s->m));
		scout_store_async_flush(reg->store, flushed, scout_mod_closer(s->m));
	}
	free(reg);
	s->reg = NULL;
}

static void problem(json_t *obj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(json_t *obj, const char *fmt, ...)
{
	json_t *arr = json_object_get(obj, "problems");
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!json_is_array(arr)) {
		arr = json_array();
		json_object_set_new(obj, "problems", arr);
	}
	json_array_append_new(arr, json_string(line));
	json_object_set_new(obj, "ok", json_false());
}

void ipp_printers_status(struct ipp *s, json_t *obj)
{
	struct ipp_registry *reg = s->reg;
	json_t *alerts = json_array();
	size_t known = 0, pinned = 0;
	struct entry *e;

	if (!reg) {
		json_decref(alerts);
		return;
	}
	scout_list_foreach (e, &reg->printers, p.link) {
		known++;
		pinned += e->p.pinned;
		if (!e->p.pin_changed)
			continue;
		char h[65];
		ipp_reg_hex(e->p.new_pin, 32, h);
		json_array_append_new(alerts, json_pack("{s:s, s:s, s:s, s:o}", "guid", e->p.guid, "address",
							e->p.address, "alert", "certificate-changed", "since",
							scout_time_json(e->alert_since)));
		problem(obj,
			"printer %s (%s) shows a new certificate (key %.4s…): jobs for it are held; run scoutctl printer "
			"trust %s",
			e->p.address, e->p.guid, h, e->p.address);
	}
	json_object_set_new(obj, "printers",
			    json_pack("{s:I, s:I, s:o}", "known", (json_int_t)known, "pinned", (json_int_t)pinned,
				      "alerts", alerts));
	json_t *c = json_object_get(obj, "counters");
	if (json_is_object(c))
		json_object_set_new(c, "printer_store_errors", json_integer((json_int_t)reg->writes_failed));
}
