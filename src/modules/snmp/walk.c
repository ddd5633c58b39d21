/* Storage for collected values: entries in a growing array, their OIDs and
 * bytes in a chain of chunks so pointers stay valid while adding. */
#include "walk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16384

struct chunk {
	struct chunk *next;
	size_t used, cap;
	uint8_t data[];
};

void snmp_walk_init(struct snmp_walk *w)
{
	memset(w, 0, sizeof(*w));
}

void snmp_walk_free(struct snmp_walk *w)
{
	while (w->chunks) {
		struct chunk *c = w->chunks;
		w->chunks = c->next;
		free(c);
	}
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static void *store(struct snmp_walk *w, const void *src, size_t n, size_t align)
{
	struct chunk *c = w->chunks;
	size_t off = c ? (c->used + align - 1) & ~(align - 1) : 0;

	if (!c || off + n > c->cap) {
		size_t cap = n > CHUNK ? n : CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = w->chunks;
		w->chunks = c;
		off = 0;
	}
	void *p = c->data + off;
	if (n)
		memcpy(p, src, n);
	c->used = off + n;
	w->bytes += n;
	return p;
}

int snmp_walk_add(struct snmp_walk *w, const struct snmp_vb *vb)
{
	struct snmp_val *v;

	if (vb->type == SNMP_END_OF_MIB_VIEW || vb->type == SNMP_NO_SUCH_OBJECT || vb->type == SNMP_NO_SUCH_INSTANCE)
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct snmp_val *nv = realloc(w->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		w->v = nv;
		w->cap = cap;
	}
	v = &w->v[w->n];
	memset(v, 0, sizeof(*v));
	v->seq = (uint32_t)w->n;
	v->type = vb->type;
	v->i = vb->i;
	v->u = vb->u;
	v->oid_len = vb->oid_len;
	if (!(v->oid = store(w, vb->oid, vb->oid_len * sizeof(uint32_t), sizeof(uint32_t))))
		return -ENOMEM;
	if (vb->data) {
		v->len = vb->len;
		if (!(v->data = store(w, vb->data, vb->len, 1)))
			return -ENOMEM;
	}
	if (vb->val_oid) {
		v->val_oid_len = vb->val_oid_len;
		if (!(v->val_oid = store(w, vb->val_oid, vb->val_oid_len * sizeof(uint32_t), sizeof(uint32_t))))
			return -ENOMEM;
	}
	w->n++;
	w->sorted = false;
	return 0;
}

static int cmp_val(const void *a, const void *b)
{
	const struct snmp_val *x = a, *y = b;
	int c = snmp_oid_cmp(x->oid, x->oid_len, y->oid, y->oid_len);
	/* equal OIDs keep the order they were added in (qsort is not stable) */
	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

void snmp_walk_finish(struct snmp_walk *w)
{
	size_t k = 0;

	if (w->n) /* v is NULL for an empty walk, and qsort's base must not be */
		qsort(w->v, w->n, sizeof(*w->v), cmp_val);
	for (size_t i = 0; i < w->n; i++)
		if (!k || snmp_oid_cmp(w->v[k - 1].oid, w->v[k - 1].oid_len, w->v[i].oid, w->v[i].oid_len) != 0)
			w->v[k++] = w->v[i];
	w->n = k;
	w->sorted = true;
}

/* First entry >= oid. */
static size_t lower_bound(const struct snmp_walk *w, const uint32_t *oid, uint32_t len)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (snmp_oid_cmp(w->v[mid].oid, w->v[mid].oid_len, oid, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct snmp_val *snmp_walk_get(const struct snmp_walk *w, const uint32_t *oid, uint32_t len)
{
	size_t i = lower_bound(w, oid, len);

	if (i < w->n && snmp_oid_cmp(w->v[i].oid, w->v[i].oid_len, oid, len) == 0)
		return &w->v[i];
	return NULL;
}

const struct snmp_val *snmp_walk_get_oid(const struct snmp_walk *w, const struct snmp_oid *oid)
{
	return snmp_walk_get(w, oid->arc, oid->n);
}

const struct snmp_val *snmp_walk_get_str(const struct snmp_walk *w, const char *s)
{
	struct snmp_oid o;

	if (snmp_oid_parse(s, &o) < 0)
		return NULL;
	return snmp_walk_get(w, o.arc, o.n);
}

void snmp_walk_range(const struct snmp_walk *w, const struct snmp_oid *prefix, size_t *first, size_t *end)
{
	size_t i = lower_bound(w, prefix->arc, prefix->n), j = i;

	while (j < w->n && snmp_oid_has_prefix(w->v[j].oid, w->v[j].oid_len, prefix))
		j++;
	*first = i;
	*end = j;
}

/* ---- snmprec ------------------------------------------------------------ */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "4142..." into a malloc'd buffer (caller frees) of *ret_len bytes. */
static int hex_bytes(const char *value, uint8_t **ret_bytes, uint32_t *ret_len)
{
	size_t n = strlen(value);
	uint8_t *bytes;

	if (n % 2)
		return -EINVAL;
	bytes = malloc(n / 2 + 1);
	if (!bytes)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		int a = hexval(value[2 * i]), b = hexval(value[2 * i + 1]);
		if (a < 0 || b < 0) {
			free(bytes);
			return -EINVAL;
		}
		bytes[i] = (uint8_t)(a << 4 | b);
	}
	*ret_bytes = bytes;
	*ret_len = (uint32_t)(n / 2);
	return 0;
}

/* The value of a tag's type, from its text (hex: its bytes are in vb
 * already). vb may point into value and val_oid until it is added. */
static int parse_value(struct snmp_vb *vb, long tag, char *value, bool hex, struct snmp_oid *val_oid)
{
	char *end;

	switch (tag) {
	case SNMP_INTEGER:
		vb->i = strtoll(value, &end, 10);
		return *end || end == value ? -EINVAL : 0;
	case SNMP_OCTETS:
	case SNMP_OPAQUE:
		if (!hex) {
			/* as snmpsim serves it: trailing blanks of plain text dropped */
			size_t vl = strlen(value);
			while (vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
				vl--;
			vb->data = (const uint8_t *)value;
			vb->len = (uint32_t)vl;
		}
		return 0;
	case SNMP_NULL:
		return 0;
	case SNMP_OBJECT_ID:
		if (snmp_oid_parse(value, val_oid) < 0)
			return -EINVAL;
		vb->val_oid = val_oid->arc;
		vb->val_oid_len = val_oid->n;
		return 0;
	case SNMP_IPADDRESS:
		if (!hex) {
			unsigned a, b, c, d;
			static uint8_t ip[4];
			if (sscanf(value, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 || c > 255 ||
			    d > 255)
				return -EINVAL;
			ip[0] = (uint8_t)a, ip[1] = (uint8_t)b, ip[2] = (uint8_t)c, ip[3] = (uint8_t)d;
			vb->data = ip;
			vb->len = 4;
			return 0;
		}
		return vb->len == 4 ? 0 : -EINVAL;
	case SNMP_COUNTER32:
	case SNMP_GAUGE32:
	case SNMP_TIMETICKS:
	case SNMP_COUNTER64:
		vb->u = strtoull(value, &end, 10);
		return *end || end == value ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
}

static int parse_line(struct snmp_walk *w, char *line)
{
	char *bar1 = strchr(line, '|'), *bar2, *value, *end;
	struct snmp_oid name, val_oid;
	struct snmp_vb vb = {0};
	uint8_t *bytes = NULL;
	int rc;

	if (!bar1 || !(bar2 = strchr(bar1 + 1, '|')))
		return -EINVAL;
	*bar1 = *bar2 = 0;
	value = bar2 + 1;
	if (snmp_oid_parse(line, &name) < 0)
		return -EINVAL;
	bool hex = bar2[-1] == 'x';
	if (hex)
		bar2[-1] = 0;
	long tag = strtol(bar1 + 1, &end, 10);
	if (*end)
		return -EINVAL;
	vb.oid = name.arc;
	vb.oid_len = name.n;
	vb.type = (uint8_t)tag;
	if (hex) {
		if ((rc = hex_bytes(value, &bytes, &vb.len)) < 0)
			return rc;
		vb.data = bytes;
	}
	rc = parse_value(&vb, tag, value, hex, &val_oid);
	if (rc == 0)
		rc = snmp_walk_add(w, &vb);
	free(bytes);
	return rc;
}

int snmp_walk_load_snmprec(struct snmp_walk *w, const char *text, size_t len, size_t *bad)
{
	size_t pos = 0;

	*bad = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text - pos) : len - pos;
		char *line = malloc(n + 1);
		if (!line)
			return -ENOMEM;
		memcpy(line, text + pos, n);
		line[n] = 0;
		if (n && line[n - 1] == '\r')
			line[n - 1] = 0;
		if (line[0] && line[0] != '#') {
			int r = parse_line(w, line);
			if (r == -ENOMEM) {
				free(line);
				return r;
			}
			if (r < 0)
				(*bad)++;
		}
		free(line);
		pos += n + 1;
	}
	snmp_walk_finish(w);
	return 0;
}
