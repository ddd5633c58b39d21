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
 * `scoutctl printer trust`. The commands printers, printer trust and
 * printer qr are here; the QR drawing is qr.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipp.h"
#include "loop/closer.h"
#include "loop/http.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"
#include "printers.h"
#include "qr.h"

#define KEY_PREFIX "printer:"
#define LOOKUP_TIMEOUT_MS 2000
#define MAX_PRINTERS 4096
#define PEEK_TIMEOUT_MS 10000

/* What printers.h's struct does not carry: the operator's name for it and
 * since when its alert stands. */
struct entry {
	struct ipp_printer p;
	char name[64];
	time_t alert_since;
};

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

struct ipp_registry {
	struct scout_list printers; /* struct entry */
	struct scout_list lookups;  /* struct lookup: snmp.lookup in flight */
	struct scout_list peeks;    /* struct peek: printer trust reading a key */
	struct scout_db *db;
	struct scout_store *store;
	struct scout_topic *t_alert;
	struct scout_topic *t_lookup; /* NULL when no module declares snmp.lookup */
	uint64_t writes_failed;
};

/* ---- addresses ------------------------------------------------------------ */

static bool is_hex(char c)
{
	return isxdigit((unsigned char)c);
}

bool ipp_guid_valid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	size_t i, d = 0;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

int ipp_guid_new(char guid[37])
{
	uint8_t b[16];
	int r;

	if ((r = uv_random(NULL, NULL, b, sizeof(b), 0, NULL)) < 0)
		return r;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* an RFC 9562 version 4 UUID: 122 random bits */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(guid, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static bool host_name_valid(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* Takes host (n bytes, brackets removed) into sp->host: an IP in its
 * canonical form, or a host name in lower case. */
static int take_host(struct ipp_spec *sp, const char *host, size_t n, bool bracketed, char *why, size_t whylen)
{
	char h[256];
	uint8_t a[16];

	if (n == 0 || n >= sizeof(h)) {
		snprintf(why, whylen, "no host name or address");
		return -EINVAL;
	}
	memcpy(h, host, n);
	h[n] = 0;
	if (uv_inet_pton(AF_INET6, h, a) == 0) {
		uv_inet_ntop(AF_INET6, a, sp->host, sizeof(sp->host));
		sp->ip = true;
		return 0;
	}
	if (bracketed) {
		snprintf(why, whylen, "'[%s]' is not an IPv6 address", h);
		return -EINVAL;
	}
	if (uv_inet_pton(AF_INET, h, a) == 0) {
		uv_inet_ntop(AF_INET, a, sp->host, sizeof(sp->host));
		sp->ip = true;
		return 0;
	}
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!host_name_valid(h)) {
		snprintf(why, whylen, "'%s' is not an IP address or a host name", h);
		return -EINVAL;
	}
	memcpy(sp->host, h, n + 1);
	return 0;
}

static int take_port(struct ipp_spec *sp, const char *p, size_t n, char *why, size_t whylen)
{
	long port = 0;

	if (n == 0 || n > 5) {
		snprintf(why, whylen, "the port must be 1 to 65535");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i])) {
			snprintf(why, whylen, "the port must be 1 to 65535");
			return -EINVAL;
		}
		port = port * 10 + (p[i] - '0');
	}
	if (port < 1 || port > 65535) {
		snprintf(why, whylen, "the port must be 1 to 65535");
		return -EINVAL;
	}
	sp->port = (int)port;
	return 0;
}

/* HOST, HOST:PORT, IPv6, [IPv6], [IPv6]:PORT (n bytes of a). */
static int parse_authority(struct ipp_spec *sp, const char *a, size_t n, char *why, size_t whylen)
{
	if (memchr(a, '@', n)) {
		snprintf(why, whylen, "user names do not belong in a printer's address");
		return -EINVAL;
	}
	if (n && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close) {
			snprintf(why, whylen, "'[' without ']'");
			return -EINVAL;
		}
		size_t hl = (size_t)(close - a - 1), rest = n - hl - 2;
		int r = take_host(sp, a + 1, hl, true, why, whylen);
		if (r < 0)
			return r;
		if (rest == 0)
			return 0;
		if (close[1] != ':') {
			snprintf(why, whylen, "expected ':PORT' after ']'");
			return -EINVAL;
		}
		return take_port(sp, close + 2, rest - 1, why, whylen);
	}
	const char *colon = memchr(a, ':', n);
	if (colon && memchr(colon + 1, ':', n - (size_t)(colon - a) - 1)) /* a bare IPv6 address */
		return take_host(sp, a, n, true, why, whylen);
	if (!colon)
		return take_host(sp, a, n, false, why, whylen);
	int r = take_host(sp, a, (size_t)(colon - a), false, why, whylen);
	return r < 0 ? r : take_port(sp, colon + 1, n - (size_t)(colon - a) - 1, why, whylen);
}

int ipp_printer_spec_parse(const char *spec, struct ipp_spec *ret, char *why, size_t whylen)
{
	struct ipp_spec sp = {.port = 631};
	size_t n;
	int r;

	while (*spec == ' ' || *spec == '\t')
		spec++;
	n = strlen(spec);
	while (n && (spec[n - 1] == ' ' || spec[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(((struct ipp_printer *)0)->address)) {
		snprintf(why, whylen,
			 "a printer is named by an IP address, HOST:PORT, an ipp:// or ipps:// URI or "
			 "its GUID (at most 299 characters)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)spec[i] <= ' ' || spec[i] == 0x7f) {
			snprintf(why, whylen, "spaces or control characters in a printer's address");
			return -EINVAL;
		}
	char s[300];
	memcpy(s, spec, n);
	s[n] = 0;
	if (ipp_guid_valid(s)) {
		for (size_t i = 0; i < n; i++)
			sp.guid[i] = (char)tolower((unsigned char)s[i]);
		sp.is_guid = true;
		*ret = sp;
		return 0;
	}
	const char *a = s;
	if (strncasecmp(s, "ipp://", 6) == 0 || strncasecmp(s, "ipps://", 7) == 0) {
		sp.uri = true;
		sp.tls = s[3] == 's' || s[3] == 'S';
		a = s + (sp.tls ? 7 : 6);
		const char *slash = strchr(a, '/');
		size_t an = slash ? (size_t)(slash - a) : strlen(a);
		if (slash) {
			if (strlen(slash) >= sizeof(sp.path) || strpbrk(slash, "?#")) {
				snprintf(why, whylen,
					 "the URI's path must be under 256 characters, without '?' or '#'");
				return -EINVAL;
			}
			snprintf(sp.path, sizeof(sp.path), "%s", slash);
		}
		if ((r = parse_authority(&sp, a, an, why, whylen)) < 0)
			return r;
	} else if (strstr(s, "://")) {
		snprintf(why, whylen, "only ipp:// and ipps:// URIs name a printer");
		return -EINVAL;
	} else if (strchr(s, '/')) {
		snprintf(why, whylen, "a path needs an ipp:// or ipps:// URI");
		return -EINVAL;
	} else if ((r = parse_authority(&sp, s, n, why, whylen)) < 0) {
		return r;
	}
	*ret = sp;
	return 0;
}

/* ---- the [ipp] printers list ---------------------------------------------- */

static int conf_add(struct ipp_printers_conf *c, char *item, char *err, size_t errlen)
{
	struct ipp_conf_printer e = {0};
	struct ipp_spec sp;
	char why[200];
	char *eq = strchr(item, '='), *addr = item;

	if (eq) {
		*eq = 0;
		char *name = item;
		addr = eq + 1;
		while (*name == ' ' || *name == '\t')
			name++;
		for (char *end = name + strlen(name); end > name && (end[-1] == ' ' || end[-1] == '\t');)
			*--end = 0;
		if (!*name || strlen(name) >= sizeof(e.name)) {
			snprintf(err, errlen, "'%s=...': a printer's name must be 1 to %zu characters", name,
				 sizeof(e.name) - 1);
			return -EINVAL;
		}
		for (char *p = name; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) {
				snprintf(err, errlen, "'%s': a printer's name is letters, digits, '-', '_' and '.'",
					 name);
				return -EINVAL;
			}
		if (ipp_guid_valid(name)) {
			snprintf(err, errlen, "'%s': a printer's name cannot look like a GUID", name);
			return -EINVAL;
		}
		snprintf(e.name, sizeof(e.name), "%s", name);
	}
	while (*addr == ' ' || *addr == '\t')
		addr++;
	for (char *end = addr + strlen(addr); end > addr && (end[-1] == ' ' || end[-1] == '\t');)
		*--end = 0;
	if (ipp_printer_spec_parse(addr, &sp, why, sizeof(why)) < 0) {
		snprintf(err, errlen,
			 "'%s': %s; each entry is NAME=ADDRESS or ADDRESS, ADDRESS an IP, HOST:PORT or "
			 "ipp(s):// URI",
			 addr, why);
		return -EINVAL;
	}
	if (sp.is_guid) {
		snprintf(err, errlen, "'%s': list printers by address; a GUID is given to them by scout", addr);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n; i++)
		if (e.name[0] && strcmp(c->v[i].name, e.name) == 0) {
			snprintf(err, errlen, "the name '%s' is given twice", e.name);
			return -EINVAL;
		}
	if (c->n == 256) {
		snprintf(err, errlen, "at most 256 printers can be listed");
		return -EINVAL;
	}
	struct ipp_conf_printer *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	snprintf(e.address, sizeof(e.address), "%s", addr);
	c->v[c->n++] = e;
	return 0;
}

int ipp_printers_conf_parse(const char *value, void *field, char *err, size_t errlen)
{
	struct ipp_printers_conf c = {0};
	char *copy = strdup(value), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",\n", &save); tok && r >= 0; tok = strtok_r(NULL, ",\n", &save)) {
		char *t = tok;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t)
			r = conf_add(&c, t, err, errlen);
	}
	free(copy);
	if (r < 0) {
		free(c.v);
		return r;
	}
	ipp_printers_conf_free(field);
	*(struct ipp_printers_conf *)field = c;
	return 0;
}

void ipp_printers_conf_free(void *field)
{
	struct ipp_printers_conf *c = field;

	free(c->v);
	c->v = NULL;
	c->n = 0;
}

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

static void get_str(const msgpack_object *o, const char *key, char *buf, size_t size)
{
	const char *v;
	size_t n;

	buf[0] = 0;
	if (scout_pack_get_str(o, key, &v, &n) == 0 && n < size && !memchr(v, 0, n)) {
		memcpy(buf, v, n);
		buf[n] = 0;
	}
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
	get_str(o, "uri", c->uri, sizeof(c->uri));
	get_str(o, "path", c->path, sizeof(c->path));
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
	get_str(o, "make_model", c->make_model, sizeof(c->make_model));
	get_str(o, "uuid", c->uuid, sizeof(c->uuid));
	get_str(o, "serial", c->serial, sizeof(c->serial));
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
	get_str(&u.data, "guid", p->guid, sizeof(p->guid));
	get_str(&u.data, "address", p->address, sizeof(p->address));
	get_str(&u.data, "path", p->path, sizeof(p->path));
	get_str(&u.data, "serial", p->serial, sizeof(p->serial));
	get_str(&u.data, "name", e->name, sizeof(e->name));
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
static int persist(struct ipp *s, struct entry *e, bool del, void (*done)(void *arg, int status), void *arg)
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

static void save(struct ipp *s, struct entry *e)
{
	persist(s, e, false, NULL, NULL);
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

static struct entry *find_guid(struct ipp_registry *reg, const char *guid)
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
static struct entry *ours(struct ipp *s, struct ipp_printer *p)
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
	} while (find_guid(s->reg, e->p.guid));
	set_endpoint(e, address, sp);
	snprintf(e->p.serial, sizeof(e->p.serial), "%s", serial ? serial : "");
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	scout_list_insert_tail(&s->reg->printers, &e->p.link);
	log_info("ipp: printer %s is new: GUID %s%s%s", address, e->p.guid, serial && *serial ? ", serial " : "",
		 serial ? serial : "");
	save(s, e);
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
		save(s, e);
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
			get_str(&u.data, "serial", serial, sizeof(serial));
		msgpack_unpacked_destroy(&u);
	} else if (status != -ENOENT) {
		log_debug("ipp: snmp.lookup %s: %s", l->spec.host, strerror(-status));
	}
	struct lookup c = *l;
	lookup_free(l);
	settle(s, &c.spec, c.address, serial, c.cb, c.arg);
}

static void resolve(struct ipp *s, const char *spec, bool from_command, ipp_printer_cb cb, void *arg)
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
		if ((e = find_guid(reg, sp.guid))) {
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
			save(s, e);
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
	resolve(s, spec, false, cb, arg);
}

/* ---- pins ----------------------------------------------------------------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = 0;
}

static void publish_alert(struct ipp *s, struct entry *e, const char *alert)
{
	char pin[65], new_pin[65];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	hex(e->p.pin, 32, pin);
	hex(e->p.pin_changed ? e->p.new_pin : e->p.pin, 32, new_pin);
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
	struct entry *e = ours(s, p);

	if (!e)
		return;
	if (p->pinned) {
		if (memcmp(p->pin, pin, 32) != 0)
			ipp_printer_pin_changed(s, p, pin);
		return;
	}
	char h[65];
	hex(pin, 32, h);
	memcpy(p->pin, pin, 32);
	p->pinned = true;
	p->pin_changed = false;
	log_info("ipp: printer %s (%s): key %.16s… pinned on first use", p->address, p->guid, h);
	save(s, e);
}

void ipp_printer_pin_changed(struct ipp *s, struct ipp_printer *p, const uint8_t new_pin[32])
{
	struct entry *e = ours(s, p);
	char h[65], old[65];

	if (!e)
		return;
	if (!p->pinned) {
		ipp_printer_pin_seen(s, p, new_pin);
		return;
	}
	if (memcmp(p->pin, new_pin, 32) == 0 || (p->pin_changed && memcmp(p->new_pin, new_pin, 32) == 0))
		return; /* nothing new: the alert stands, said once */
	hex(new_pin, 32, h);
	hex(p->pin, 32, old);
	memcpy(p->new_pin, new_pin, 32);
	p->pin_changed = true;
	e->alert_since = time(NULL);
	log_warn("ipp: printer %s (%s) shows a new certificate (key %.16s…, pinned %.16s…): its jobs are held until "
		 "`scoutctl printer trust %s`",
		 p->address, p->guid, h, old, p->address);
	save(s, e);
	publish_alert(s, e, "certificate-changed");
}

void ipp_printer_caps_set(struct ipp *s, struct ipp_printer *p, const struct ipp_caps *caps)
{
	struct entry *e = ours(s, p), *q;

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
		persist(s, e, true, NULL, NULL); /* the GUID p had goes */
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
				save(s, e);
				ipp_printer_pin_changed(s, p, shown);
				return;
			}
		} else {
			scout_list_remove(&q->p.link);
			free(q);
		}
	}
	save(s, e);
}

/* ---- start, stop, status -------------------------------------------------- */

int ipp_printers_sync_conf(struct ipp *s)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	int r = 0;

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
			save(s, named);
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
			save(s, e);
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

static void peeks_stop(struct ipp_registry *reg);

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
	peeks_stop(reg);
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

static json_t *time_json(time_t t)
{
	char buf[32];
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm))
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
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
		hex(e->p.new_pin, 32, h);
		json_array_append_new(alerts,
				      json_pack("{s:s, s:s, s:s, s:o}", "guid", e->p.guid, "address", e->p.address,
						"alert", "certificate-changed", "since", time_json(e->alert_since)));
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

/* ---- commands ------------------------------------------------------------- */

static json_t *printer_json(const struct entry *e)
{
	const struct ipp_printer *p = &e->p;
	char pin[65] = "", new_pin[65] = "", short_pin[24] = "", protos[32] = "";

	if (p->pinned) {
		hex(p->pin, 32, pin);
		snprintf(short_pin, sizeof(short_pin), "%.16s\xe2\x80\xa6", pin);
	}
	if (p->pin_changed)
		hex(p->new_pin, 32, new_pin);
	snprintf(protos, sizeof(protos), "%s%s%s", p->caps.ipps ? "ipps " : "", p->caps.ipp ? "ipp " : "",
		 p->raw_ok ? "raw " : "");
	if (protos[0])
		protos[strlen(protos) - 1] = 0;
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "guid", p->guid, "address", p->address, "host", p->host,
			      "port", p->port, "path", p->path, "serial", p->serial);
	/* null until deliver has asked the printer */
	json_object_set_new(o, "protocols", protos[0] ? json_string(protos) : json_null());
	if (e->name[0])
		json_object_set_new(o, "name", json_string(e->name));
	if (p->caps.make_model[0])
		json_object_set_new(o, "model", json_string(p->caps.make_model));
	json_object_set_new(o, "pin", p->pinned ? json_string(pin) : json_null());
	if (p->pinned)
		json_object_set_new(o, "pin_short", json_string(short_pin));
	if (p->pin_changed) {
		json_object_set_new(o, "new_pin", json_string(new_pin));
		json_object_set_new(o, "alert", json_string("certificate-changed"));
		json_object_set_new(o, "alert_since", time_json(e->alert_since));
	}
	return o;
}

static void cmd_printers(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct ipp *s = scout_mod_priv(m);
	json_t *arr = json_array();
	struct entry *e;
	(void)request;

	if (s->reg)
		scout_list_foreach (e, &s->reg->printers, p.link)
			json_array_append_new(arr, printer_json(e));
	scout_status_reply(req, json_pack("{s:o, s:I}", "printers", arr, "count", (json_int_t)json_array_size(arr)));
}

static const char *arg_str(json_t *request, const char *key)
{
	return json_string_value(json_object_get(request, key));
}

/* A command's resolution: the request is kept until the answer. */
struct cmd_ctx {
	struct ipp *s;
	struct scout_status_req *req;
	json_t *request;
};

static struct cmd_ctx *cmd_ctx(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct cmd_ctx *c = calloc(1, sizeof(*c));

	if (!c) {
		scout_status_error(req, "internal", "out of memory");
		return NULL;
	}
	c->s = scout_mod_priv(m);
	c->req = req;
	c->request = json_incref(request);
	return c;
}

static void cmd_ctx_free(struct cmd_ctx *c)
{
	json_decref(c->request);
	free(c);
}

static bool resolved(struct cmd_ctx *c, int status, const char *why)
{
	if (status == 0)
		return true;
	scout_status_error(c->req,
			   status == -EINVAL   ? "invalid"
			   : status == -ENOENT ? "not-found"
					       : "unavailable",
			   "%s", why ? why : strerror(-status));
	cmd_ctx_free(c);
	return false;
}

/* --pin HEX: 16 to 64 hex digits (colons allowed), a prefix of the key. */
static int parse_pin(const char *text, char out[65])
{
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (!is_hex(*p) || n == 64)
			return -EINVAL;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = 0;
	return n >= 16 ? 0 : -EINVAL;
}

struct trust_ctx {
	struct scout_status_req *req;
	json_t *reply;
};

static void trust_stored(void *arg, int status)
{
	struct trust_ctx *t = arg;

	if (status < 0) {
		scout_status_error(t->req, "internal", "the new key is trusted but could not be stored: %s",
				   strerror(-status));
		json_decref(t->reply);
	} else {
		scout_status_reply(t->req, t->reply);
	}
	free(t);
}

/* printer trust on a printer with no pin yet: one TLS handshake (pin on
 * first use, no request) reads the key it shows now, and that is pinned. */
struct peek {
	struct scout_list link; /* registry's peeks */
	struct cmd_ctx *c;
	char guid[37], address[300];
	struct scout_http_client *hc;
};

static void peek_free(struct peek *k)
{
	scout_list_remove(&k->link);
	scout_http_client_close(k->hc);
	cmd_ctx_free(k->c);
	free(k);
}

static void peek_connected(struct scout_http_client *hc, const struct scout_tls_peer *peer, void *arg)
{
	struct peek *k = arg;
	struct cmd_ctx *c = k->c;
	struct ipp *s = c->s;
	struct entry *e = s->reg ? find_guid(s->reg, k->guid) : NULL;
	const char *pin_arg = arg_str(c->request, "pin");
	char want[65] = "", shown[65];
	(void)hc;

	if (!e || !peer) {
		scout_status_error(c->req, "unavailable", "printer %s: %s", k->address,
				   e ? "no certificate was shown" : "it left the registry meanwhile");
		peek_free(k);
		return;
	}
	hex(peer->pin, 32, shown);
	if (pin_arg)
		parse_pin(pin_arg, want); /* checked before connecting */
	if (e->p.pinned || e->p.pin_changed) {
		/* a delivery pinned it meanwhile: that stands */
		scout_status_error(c->req, "conflict", "printer %s was pinned meanwhile; run printer trust again",
				   k->address);
	} else if (want[0] && strncmp(shown, want, strlen(want)) != 0) {
		scout_status_error(c->req, "conflict", "printer %s shows key %.16s…, not the one given with --pin",
				   k->address, shown);
	} else {
		struct trust_ctx *t = calloc(1, sizeof(*t));
		memcpy(e->p.pin, peer->pin, 32);
		e->p.pinned = true;
		log_info("ipp: printer %s (%s): key %.16s… pinned by an operator", e->p.address, e->p.guid, shown);
		publish_alert(s, e, "certificate-trusted");
		json_t *reply = json_pack("{s:s, s:s, s:s, s:b, s:s}", "guid", e->p.guid, "address", e->p.address,
					  "pin", shown, "trusted", 1, "text",
					  "the key the printer shows now is pinned: jobs for it go only to that key");
		if (!t) {
			save(s, e);
			scout_status_reply(c->req, reply);
		} else {
			t->req = c->req;
			t->reply = reply;
			if (persist(s, e, false, trust_stored, t) < 0)
				trust_stored(t, -EIO);
		}
	}
	peek_free(k);
}

static void peek_failed(struct scout_http_client *hc, int err, const char *reason, void *arg)
{
	struct peek *k = arg;
	(void)hc;

	scout_status_error(k->c->req, "unavailable",
			   "no key pinned yet, and printer %s could not be asked for its certificate: %s (%s)",
			   k->address, reason ? reason : "", strerror(-err));
	peek_free(k);
}

static const struct scout_http_client_callbacks peek_cbs = {
	.on_connect = peek_connected,
	.on_error = peek_failed,
};

static void peeks_stop(struct ipp_registry *reg)
{
	while (!scout_list_empty(&reg->peeks)) {
		struct peek *k = scout_list_entry(reg->peeks.next, struct peek, link);
		scout_status_error(k->c->req, "unavailable", "scout is stopping");
		peek_free(k);
	}
}

static int peek_start(struct cmd_ctx *c, struct entry *e)
{
	struct ipp *s = c->s;
	struct scout_tls_ctx *tls = NULL;
	struct peek *k = calloc(1, sizeof(*k));
	struct scout_tls_client_opts topts = {0};
	char err[SCOUT_TLS_ERR_LEN];
	int r = -ENOMEM;

	if (!k || (r = scout_tls_ctx_client(&topts, &tls, err, sizeof(err))) < 0) {
		scout_status_error(c->req, "internal", "cannot make a TLS client: %s", k ? err : "out of memory");
		free(k);
		return r;
	}
	struct ipp_spec sp;
	char why[200];
	bool name = ipp_printer_spec_parse(e->p.host, &sp, why, sizeof(why)) == 0 && !sp.ip;
	struct scout_http_client_opts o = {
		.host = e->p.host,
		.port = e->p.port,
		.tls = tls,
		.tls_opts = {.server_name = name ? e->p.host : NULL, .verify = SCOUT_TLS_PIN_FIRST_USE},
		.connect_timeout_ms = PEEK_TIMEOUT_MS,
		.timeout_ms = PEEK_TIMEOUT_MS,
	};
	k->c = c;
	memcpy(k->guid, e->p.guid, sizeof(k->guid));
	memcpy(k->address, e->p.address, sizeof(k->address));
	scout_list_insert_tail(&s->reg->peeks, &k->link);
	r = scout_http_client_connect(scout_mod_loop(s->m), &o, &peek_cbs, k, &k->hc, err, sizeof(err));
	scout_tls_ctx_unref(tls);
	if (r < 0) {
		scout_status_error(c->req, "unavailable", "printer %s: %s", k->address, err);
		scout_list_remove(&k->link);
		free(k);
	}
	return r;
}

static void trust_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct cmd_ctx *c = arg;
	struct ipp *s = c->s;
	const char *pin_arg = arg_str(c->request, "pin");
	char want[65] = "", shown[65], old[65];

	if (!resolved(c, status, why))
		return;
	struct entry *e = ours(s, p);
	if (pin_arg && parse_pin(pin_arg, want) < 0) {
		scout_status_error(c->req, "invalid", "--pin takes 16 to 64 hex digits of the key's SHA-256");
		goto out;
	}
	if (!p->pin_changed) {
		if (p->pinned) {
			hex(p->pin, 32, old);
			scout_status_reply(c->req,
					   json_pack("{s:s, s:s, s:s, s:b, s:s}", "guid", p->guid, "address",
						     p->address, "pin", old, "trusted", 0, "text",
						     "no new certificate to trust: the printer shows the pinned key"));
			goto out;
		}
		/* nothing pinned yet: pin what the printer shows now */
		if (peek_start(c, e) == 0)
			return;
		goto out;
	}
	hex(p->new_pin, 32, shown);
	if (want[0] && strncmp(shown, want, strlen(want)) != 0) {
		scout_status_error(c->req, "conflict", "printer %s shows key %.16s…, not the one given with --pin",
				   p->address, shown);
		goto out;
	}
	hex(p->pin, 32, old);
	memcpy(p->pin, p->new_pin, 32);
	p->pin_changed = false;
	e->alert_since = 0;
	log_info("ipp: printer %s (%s): new key %.16s… trusted by an operator (was %.16s…)", p->address, p->guid, shown,
		 old);
	publish_alert(s, e, "certificate-trusted");
	struct trust_ctx *t = calloc(1, sizeof(*t));
	json_t *reply = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "guid", p->guid, "address", p->address, "pin",
				  shown, "previous_pin", old, "trusted", 1, "text",
				  "the new certificate is trusted: jobs for this printer can be released");
	if (!t) {
		save(s, e);
		scout_status_reply(c->req, reply);
		goto out;
	}
	t->req = c->req;
	t->reply = reply;
	if (persist(s, e, false, trust_stored, t) < 0)
		trust_stored(t, -EIO);
out:
	cmd_ctx_free(c);
}

static void cmd_trust(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	const char *address = arg_str(request, "address");
	struct cmd_ctx *c;

	if (!address) {
		scout_status_error(req, "invalid", "which printer? (an address, a name or its GUID)");
		return;
	}
	if ((c = cmd_ctx(m, req, request)))
		resolve(c->s, address, true, trust_resolved, c);
}

static char *base64(const uint8_t *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static bool want(json_t *request, const char *key)
{
	json_t *v = json_object_get(request, key);

	return json_is_true(v) || (json_is_string(v) && json_string_length(v) > 0);
}

static void qr_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct cmd_ctx *c = arg;
	struct ipp_qr *qr = NULL;
	char **lines = NULL;
	json_t *reply = NULL;
	int r;

	if (!resolved(c, status, why))
		return;
	if ((r = ipp_qr_encode(p->guid, &qr)) < 0 || (r = ipp_qr_text(qr, 2, &lines)) < 0)
		goto fail;
	json_t *text = json_array();
	for (char **l = lines; *l; l++)
		json_array_append_new(text, json_string(*l));
	reply = json_pack("{s:s, s:s, s:o}", "guid", p->guid, "address", p->address, "qr", text);
	if (want(c->request, "png")) {
		uint8_t *png;
		size_t len;
		if ((r = ipp_qr_png(qr, 10, &png, &len)) < 0)
			goto fail;
		char *b = base64(png, len);
		free(png);
		if (!b) {
			r = -ENOMEM;
			goto fail;
		}
		json_object_set_new(reply, "png", json_string(b));
		free(b);
	}
	if (want(c->request, "svg")) {
		char *svg;
		if ((r = ipp_qr_svg(qr, 30, &svg)) < 0)
			goto fail;
		char *b = base64((const uint8_t *)svg, strlen(svg));
		free(svg);
		if (!b) {
			r = -ENOMEM;
			goto fail;
		}
		json_object_set_new(reply, "svg", json_string(b));
		free(b);
	}
	scout_status_reply(c->req, reply);
	reply = NULL;
	goto out;
fail:
	scout_status_error(c->req, "internal", "cannot draw the QR code: %s", strerror(-r));
out:
	json_decref(reply);
	ipp_qr_lines_free(lines);
	ipp_qr_free(qr);
	cmd_ctx_free(c);
}

static void cmd_qr(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	const char *address = arg_str(request, "address");
	struct cmd_ctx *c;

	if (!address) {
		scout_status_error(req, "invalid", "which printer? (an address, a name or its GUID)");
		return;
	}
	if ((c = cmd_ctx(m, req, request)))
		resolve(c->s, address, true, qr_resolved, c);
}

static const struct scout_column printers_columns[] = {
	{"guid", "GUID", 0},
	{"address", "ADDRESS", 40},
	{"protocols", "PROTOCOLS", 0},
	{"model", "MODEL", 30},
	{"pin_short", "PIN", 0},
	{"alert", "ALERT", 0},
	{0},
};
static const struct scout_table printers_tables[] = {{"printers", printers_columns}, {0}};
static const char *const printers_text[] = {"{count} printers known", NULL};

static const struct scout_arg trust_args[] = {
	{"address", SCOUT_ARG_STRING, true, "the printer: IP, HOST:PORT, URI, name or GUID"},
	{"pin", SCOUT_ARG_STRING, false, "accept only this key (hex SHA-256 as the alert shows, 16 digits at least)"},
	{0},
};
static const char *const trust_text[] = {"printer {address} ({guid}): {text}", NULL};

static const struct scout_arg qr_args[] = {
	{"address", SCOUT_ARG_STRING, true, "the printer: IP, HOST:PORT, URI, name or GUID"},
	{"png", SCOUT_ARG_OUTPUT, false, "write a PNG of the label to FILE"},
	{"svg", SCOUT_ARG_OUTPUT, false, "write an SVG of the label to FILE"},
	{0},
};
static const char *const qr_text[] = {"printer {address}: GUID {guid}", NULL};
/* the code itself: each line a row of a one-column table (path "": the row) */
static const struct scout_column qr_columns[] = {{"", "", 0}, {0}};
static const struct scout_table qr_tables[] = {{"qr", qr_columns}, {0}};

const struct scout_command ipp_printers_commands[] = {
	{"printers", cmd_printers, "the printers scout may deliver to: GUID, address, protocols, pinned key, alerts",
	 NULL, printers_tables, printers_text},
	{"printer trust", cmd_trust, "accept the new certificate a printer shows (its jobs are held until then)",
	 trust_args, NULL, trust_text},
	{"printer qr", cmd_qr, "a printer's GUID and its QR code for the label (--png, --svg: files)", qr_args,
	 qr_tables, qr_text},
	{0},
};
