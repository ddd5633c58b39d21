/* The IPP codec (RFC 8010 section 3): a bounded decoder for requests (and,
 * in tests, responses) and a writer for responses. See codec.h.
 *
 * The decoder reads the framing of each element (tag, name-length, name,
 * value-length, value) checking every length against the limit first and
 * against what is left second, so a 64 KiB name or a length past the end is
 * refused after reading three bytes. Collections (begCollection, then
 * memberAttrName + value(s) pairs, then endCollection) recurse up to
 * IPP_MAX_DEPTH. Values are not copied: they point into the input. */
#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* ---- arena -------------------------------------------------------------- */

struct ipp_arena {
	struct ipp_arena *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

#define ARENA_BLOCK 4096

static void *arena_alloc(struct ipp_arena **a, size_t n)
{
	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (!*a || (*a)->cap - (*a)->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		struct ipp_arena *b = malloc(sizeof(*b) + cap);

		if (!b)
			return NULL;
		b->next = *a;
		b->used = 0;
		b->cap = cap;
		*a = b;
	}
	void *p = (*a)->data + (*a)->used;
	(*a)->used += n;
	memset(p, 0, n);
	return p;
}

static void arena_free(struct ipp_arena *a)
{
	while (a) {
		struct ipp_arena *next = a->next;
		free(a);
		a = next;
	}
}

/* ---- decoding ----------------------------------------------------------- */

struct dec {
	const uint8_t *p;
	size_t len, off;
	struct ipp_arena *arena;
	unsigned nvalues;
	char *err;
	size_t errlen;
};

/* One element's framing. */
struct elem {
	uint8_t tag;
	size_t at; /* offset of its tag */
	const uint8_t *name;
	uint16_t nlen;
	const uint8_t *val;
	uint16_t vlen;
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Names in messages: printable, and short enough to leave room for the
 * offset and the reason. */
static void show_name(const char *name, char *out, size_t size)
{
	size_t n = 0;

	for (; name[n] && n < size - 4; n++)
		out[n] = name[n] > 0x20 && name[n] < 0x7f ? name[n] : '?';
	if (name[n])
		memcpy(out + n, "...", 3), n += 3;
	out[n] = 0;
}

__attribute__((format(printf, 5, 6))) static int fail(struct dec *d, int r, size_t at, const char *name,
						      const char *fmt, ...)
{
	char shown[64];
	va_list ap;
	int n;

	if (name && *name) {
		show_name(name, shown, sizeof(shown));
		n = snprintf(d->err, d->errlen, "attribute '%s' at byte %zu: ", shown, at);
	} else {
		n = snprintf(d->err, d->errlen, "at byte %zu: ", at);
	}
	if (n < 0 || (size_t)n >= d->errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return r;
}

/* Reads the framing at d->off and moves past it. ctx names the attribute
 * the element belongs to, for messages. */
static int read_elem(struct dec *d, struct elem *e, const char *ctx)
{
	size_t left = d->len - d->off;
	const uint8_t *p = d->p + d->off;

	e->at = d->off;
	e->tag = p[0];
	if (left < 3)
		return fail(d, -EBADMSG, e->at, ctx, "tag 0x%02x: name length past the end (%zu bytes left)", e->tag,
			    left - 1);
	e->nlen = get16(p + 1);
	if (e->nlen > IPP_MAX_NAME)
		return fail(d, -EBADMSG, e->at, ctx, "name length %u over the limit of %d", e->nlen, IPP_MAX_NAME);
	if (left - 3 < (size_t)e->nlen + 2)
		return fail(d, -EBADMSG, e->at, ctx, "name length %u past the end (%zu bytes left)", e->nlen, left - 3);
	e->name = p + 3;
	e->vlen = get16(p + 3 + e->nlen);
	const char *n = e->nlen ? NULL : ctx;
	char nbuf[IPP_MAX_NAME + 1];
	if (e->nlen) {
		memcpy(nbuf, e->name, e->nlen);
		nbuf[e->nlen] = 0;
		n = nbuf;
	}
	if (e->vlen > IPP_MAX_VALUE)
		return fail(d, -EBADMSG, e->at, n, "value length %u over the limit of %d", e->vlen, IPP_MAX_VALUE);
	if (left - 5 - e->nlen < e->vlen)
		return fail(d, -EBADMSG, e->at, n, "value length %u past the end (%zu bytes left)", e->vlen,
			    left - 5 - e->nlen);
	e->val = p + 5 + e->nlen;
	d->off += 5 + (size_t)e->nlen + e->vlen;
	return 0;
}

static bool name_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

/* The value's length and content as its tag requires. */
static int check_value(struct dec *d, const struct elem *e, const char *ctx)
{
	size_t want = 0;

	switch (e->tag) {
	case IPP_TAG_INTEGER:
	case IPP_TAG_ENUM:
		want = 4;
		break;
	case IPP_TAG_BOOLEAN:
		if (e->vlen == 1 && e->val[0] > 1)
			return fail(d, -EBADMSG, e->at, ctx, "boolean value %u is neither 0 nor 1", e->val[0]);
		want = 1;
		break;
	case IPP_TAG_DATE:
		want = 11;
		break;
	case IPP_TAG_RESOLUTION:
		want = 9;
		break;
	case IPP_TAG_RANGE:
		want = 8;
		break;
	case IPP_TAG_TEXTLANG:
	case IPP_TAG_NAMELANG: {
		if (e->vlen < 4)
			return fail(d, -EBADMSG, e->at, ctx, "%s value of %u bytes is too short", ipp_tag_name(e->tag),
				    e->vlen);
		size_t l = get16(e->val);
		if (l + 4 > e->vlen || l + 4 + get16(e->val + 2 + l) != e->vlen)
			return fail(d, -EBADMSG, e->at, ctx, "%s value: inner lengths do not add up to %u",
				    ipp_tag_name(e->tag), e->vlen);
		return 0;
	}
	case IPP_TAG_EXTENSION:
		if (e->vlen < 4)
			return fail(d, -EBADMSG, e->at, ctx, "extension value without its 4-byte type");
		return 0;
	default:
		if (ipp_tag_is_oob(e->tag) || e->tag == IPP_TAG_BEGIN_COLLECTION)
			want = 0;
		else
			return 0;
	}
	if (e->vlen != want)
		return fail(d, -EBADMSG, e->at, ctx, "%s value of %u bytes (must be %zu)", ipp_tag_name(e->tag),
			    e->vlen, want);
	return 0;
}

static int read_collection(struct dec *d, unsigned depth, const char *ctx, struct ipp_attr **ret);

/* A value from its element; a begCollection reads the whole collection. */
static int make_value(struct dec *d, const struct elem *e, unsigned depth, const char *ctx,
		      struct ipp_value **ret_value)
{
	struct ipp_value *v;
	int r;

	if (e->tag >= 0x80 || e->tag == 0x00)
		return fail(d, -EBADMSG, e->at, ctx, "invalid value tag 0x%02x", e->tag);
	if (e->tag == IPP_TAG_END_COLLECTION || e->tag == IPP_TAG_MEMBERNAME)
		return fail(d, -EBADMSG, e->at, ctx, "%s outside a collection", ipp_tag_name(e->tag));
	if ((r = check_value(d, e, ctx)) < 0)
		return r;
	if (++d->nvalues > IPP_MAX_VALUES)
		return fail(d, -EMSGSIZE, e->at, ctx, "more than %d values in one message", IPP_MAX_VALUES);
	if (!(v = arena_alloc(&d->arena, sizeof(*v))))
		return -ENOMEM;
	v->tag = e->tag;
	v->len = e->vlen;
	v->data = e->val;
	if (e->tag == IPP_TAG_BEGIN_COLLECTION) {
		if (depth >= IPP_MAX_DEPTH)
			return fail(d, -EMSGSIZE, e->at, ctx, "collections nested deeper than %d", IPP_MAX_DEPTH);
		if ((r = read_collection(d, depth + 1, ctx, &v->members)) < 0)
			return r;
	}
	*ret_value = v;
	return 0;
}

static struct ipp_attr *new_attr(struct dec *d, const uint8_t *name, size_t n, uint8_t group, size_t at)
{
	struct ipp_attr *a = arena_alloc(&d->arena, sizeof(*a));
	char *s = arena_alloc(&d->arena, n + 1);

	if (!a || !s)
		return NULL;
	memcpy(s, name, n);
	s[n] = 0;
	a->name = s;
	a->group = group;
	a->offset = at;
	return a;
}

static void add_value(struct ipp_attr *a, struct ipp_value *v)
{
	if (a->last)
		a->last->next = v;
	else
		a->values = v;
	a->last = v;
	a->nvalues++;
}

/* After a begCollection: memberAttrName/value(s) pairs up to endCollection. */
static int read_collection(struct dec *d, unsigned depth, const char *ctx, struct ipp_attr **ret)
{
	struct ipp_attr *head = NULL, *tail = NULL, *cur = NULL;
	struct ipp_value *v;
	struct elem e;
	int r;

	for (;;) {
		if (d->off >= d->len)
			return fail(d, -EBADMSG, d->off, ctx, "collection not ended before the end of the message");
		if ((r = read_elem(d, &e, cur ? cur->name : ctx)) < 0)
			return r;
		if (e.nlen)
			return fail(d, -EBADMSG, e.at, ctx,
				    "collection member with a name (%s) instead of memberAttrName",
				    ipp_tag_name(e.tag));
		if (e.tag == IPP_TAG_END_COLLECTION) {
			if (e.vlen)
				return fail(d, -EBADMSG, e.at, ctx, "endCollection with a value");
			if (cur && !cur->nvalues)
				return fail(d, -EBADMSG, e.at, cur->name, "collection member without a value");
			*ret = head;
			return 0;
		}
		if (e.tag == IPP_TAG_MEMBERNAME) {
			if (cur && !cur->nvalues)
				return fail(d, -EBADMSG, e.at, cur->name, "collection member without a value");
			if (!e.vlen || e.vlen > IPP_MAX_NAME || !name_ok(e.val, e.vlen))
				return fail(d, -EBADMSG, e.at, ctx, "memberAttrName of %u bytes is not a keyword",
					    e.vlen);
			if (++d->nvalues > IPP_MAX_VALUES)
				return fail(d, -EMSGSIZE, e.at, ctx, "more than %d values in one message",
					    IPP_MAX_VALUES);
			if (!(cur = new_attr(d, e.val, e.vlen, 0, e.at)))
				return -ENOMEM;
			if (tail)
				tail->next = cur;
			else
				head = cur;
			tail = cur;
			continue;
		}
		if (e.tag < 0x10)
			return fail(d, -EBADMSG, e.at, ctx, "group tag 0x%02x inside a collection", e.tag);
		if (!cur)
			return fail(d, -EBADMSG, e.at, ctx, "collection value before any memberAttrName");
		if ((r = make_value(d, &e, depth, cur->name, &v)) < 0)
			return r;
		add_value(cur, v);
	}
}

static int decode_attrs(struct dec *d, struct ipp_msg *m)
{
	struct ipp_attr *tail = NULL, *cur = NULL;
	uint8_t group = 0;
	struct ipp_value *v;
	struct elem e;
	int r;

	for (;;) {
		if (d->off >= IPP_MAX_HEADER)
			return fail(d, -EMSGSIZE, d->off, cur ? cur->name : NULL, "attributes longer than %d bytes",
				    IPP_MAX_HEADER);
		if (d->off >= d->len)
			return fail(d, -EBADMSG, d->off, cur ? cur->name : NULL,
				    "no end-of-attributes tag before the end of the message");
		uint8_t tag = d->p[d->off];
		if (tag == IPP_TAG_END) {
			m->length = ++d->off;
			return 0;
		}
		if (tag < 0x10) {
			if (tag == 0)
				return fail(d, -EBADMSG, d->off, NULL, "reserved delimiter tag 0x00");
			group = tag;
			m->ngroups++;
			cur = NULL;
			d->off++;
			continue;
		}
		if (!group)
			return fail(d, -EBADMSG, d->off, NULL, "value tag 0x%02x before any attribute group", tag);
		if ((r = read_elem(d, &e, cur ? cur->name : NULL)) < 0)
			return r;
		if (e.nlen == 0 && !cur)
			return fail(d, -EBADMSG, e.at, NULL, "additional value without an attribute before it");
		if (e.nlen) {
			if (!name_ok(e.name, e.nlen))
				return fail(d, -EBADMSG, e.at, NULL, "attribute name is not printable US-ASCII");
			if (!(cur = new_attr(d, e.name, e.nlen, group, e.at)))
				return -ENOMEM;
			if (tail)
				tail->next = cur;
			else
				m->attrs = cur;
			tail = cur;
		}
		if ((r = make_value(d, &e, 0, cur->name, &v)) < 0)
			return r;
		add_value(cur, v);
	}
}

int ipp_decode(const uint8_t *p, size_t len, struct ipp_msg *ret, char *err, size_t errlen)
{
	struct dec d = {.p = p, .len = len, .err = err, .errlen = errlen};
	struct ipp_msg m = {0};
	int r;

	if (errlen)
		err[0] = 0;
	if (len < 8)
		return fail(&d, -EBADMSG, 0, NULL, "message of %zu bytes is shorter than the 8-byte IPP header", len);
	m.major = p[0];
	m.minor = p[1];
	m.code = get16(p + 2);
	m.request_id = get32(p + 4);
	d.off = 8;
	r = decode_attrs(&d, &m);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		arena_free(d.arena);
		return r;
	}
	m.arena = d.arena;
	*ret = m;
	return 0;
}

void ipp_msg_free(struct ipp_msg *m)
{
	arena_free(m->arena);
	m->arena = NULL;
	m->attrs = NULL;
}

ssize_t ipp_header_length(const uint8_t *p, size_t len, size_t *resume)
{
	size_t off = *resume < 8 ? 8 : *resume;

	if (len < 8)
		return 0;
	for (;;) {
		*resume = off;
		if (off >= IPP_MAX_HEADER)
			return -EMSGSIZE;
		if (off >= len)
			return 0;
		if (p[off] == IPP_TAG_END)
			return (ssize_t)off + 1;
		if (p[off] < 0x10) {
			off++;
			continue;
		}
		if (len - off < 3)
			return 0;
		uint16_t nlen = get16(p + off + 1);
		if (nlen > IPP_MAX_NAME)
			return -EBADMSG;
		if (len - off - 3 < (size_t)nlen + 2)
			return 0;
		uint16_t vlen = get16(p + off + 3 + nlen);
		if (vlen > IPP_MAX_VALUE)
			return -EBADMSG;
		if (len - off - 5 - nlen < vlen)
			return 0;
		off += 5 + (size_t)nlen + vlen;
	}
}

/* ---- lookups ------------------------------------------------------------ */

const struct ipp_attr *ipp_find(const struct ipp_attr *list, uint8_t group, const char *name)
{
	for (const struct ipp_attr *a = list; a; a = a->next)
		if ((!group || a->group == group) && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

bool ipp_value_int(const struct ipp_value *v, int32_t *ret)
{
	if (!v || (v->tag != IPP_TAG_INTEGER && v->tag != IPP_TAG_ENUM) || v->len != 4)
		return false;
	*ret = (int32_t)get32(v->data);
	return true;
}

bool ipp_value_bool(const struct ipp_value *v, bool *ret)
{
	if (!v || v->tag != IPP_TAG_BOOLEAN || v->len != 1)
		return false;
	*ret = v->data[0] != 0;
	return true;
}

bool ipp_tag_is_string(uint8_t tag)
{
	return tag == IPP_TAG_STRING || tag == IPP_TAG_TEXTLANG || tag == IPP_TAG_NAMELANG ||
	       (tag >= IPP_TAG_TEXT && tag <= IPP_TAG_MEMBERNAME && tag != 0x43);
}

bool ipp_tag_is_oob(uint8_t tag)
{
	return tag >= 0x10 && tag <= 0x1f;
}

bool ipp_value_str(const struct ipp_value *v, char *buf, size_t size)
{
	const uint8_t *s;
	size_t n;

	if (!v || !ipp_tag_is_string(v->tag) || !size)
		return false;
	s = v->data;
	n = v->len;
	if (v->tag == IPP_TAG_TEXTLANG || v->tag == IPP_TAG_NAMELANG) {
		size_t l = get16(v->data); /* lengths checked by the decoder */
		s = v->data + 2 + l + 2;
		n = get16(v->data + 2 + l);
	}
	if (memchr(s, 0, n))
		return false;
	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = 0;
	return true;
}

bool ipp_value_is(const struct ipp_value *v, const char *s)
{
	size_t n = strlen(s);

	return v && ipp_tag_is_string(v->tag) && v->tag != IPP_TAG_TEXTLANG && v->tag != IPP_TAG_NAMELANG &&
	       v->len == n && memcmp(v->data, s, n) == 0;
}

const char *ipp_tag_name(uint8_t tag)
{
	switch (tag) {
	case IPP_TAG_UNSUPPORTED_VALUE:
		return "unsupported";
	case IPP_TAG_UNKNOWN:
		return "unknown";
	case IPP_TAG_NOVALUE:
		return "no-value";
	case IPP_TAG_NOTSETTABLE:
		return "not-settable";
	case IPP_TAG_DELETEATTR:
		return "delete-attribute";
	case IPP_TAG_ADMINDEFINE:
		return "admin-define";
	case IPP_TAG_INTEGER:
		return "integer";
	case IPP_TAG_BOOLEAN:
		return "boolean";
	case IPP_TAG_ENUM:
		return "enum";
	case IPP_TAG_STRING:
		return "octetString";
	case IPP_TAG_DATE:
		return "dateTime";
	case IPP_TAG_RESOLUTION:
		return "resolution";
	case IPP_TAG_RANGE:
		return "rangeOfInteger";
	case IPP_TAG_BEGIN_COLLECTION:
		return "begCollection";
	case IPP_TAG_TEXTLANG:
		return "textWithLanguage";
	case IPP_TAG_NAMELANG:
		return "nameWithLanguage";
	case IPP_TAG_END_COLLECTION:
		return "endCollection";
	case IPP_TAG_TEXT:
		return "textWithoutLanguage";
	case IPP_TAG_NAME:
		return "nameWithoutLanguage";
	case IPP_TAG_KEYWORD:
		return "keyword";
	case IPP_TAG_URI:
		return "uri";
	case IPP_TAG_URISCHEME:
		return "uriScheme";
	case IPP_TAG_CHARSET:
		return "charset";
	case IPP_TAG_LANGUAGE:
		return "naturalLanguage";
	case IPP_TAG_MIMETYPE:
		return "mimeMediaType";
	case IPP_TAG_MEMBERNAME:
		return "memberAttrName";
	case IPP_TAG_EXTENSION:
		return "extension";
	default:
		return "unknown-tag";
	}
}

/* ---- writing ------------------------------------------------------------ */

static void w_put(struct ipp_writer *w, const void *data, size_t n)
{
	if (w->oom)
		return;
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 1024;
		while (cap - w->len < n)
			cap *= 2;
		uint8_t *p = realloc(w->p, cap);
		if (!p) {
			w->oom = true;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	if (n)
		memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void w_u16(struct ipp_writer *w, size_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	w_put(w, b, 2);
}

static void w_u32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

void ipp_w_init(struct ipp_writer *w, uint8_t major, uint8_t minor, uint16_t code, uint32_t request_id)
{
	uint8_t h[8] = {major, minor, (uint8_t)(code >> 8), (uint8_t)code};

	memset(w, 0, sizeof(*w));
	w_u32(h + 4, request_id);
	w_put(w, h, sizeof(h));
}

void ipp_w_free(struct ipp_writer *w)
{
	free(w->p);
	w->p = NULL;
	w->len = w->cap = 0;
}

void ipp_w_group(struct ipp_writer *w, uint8_t tag)
{
	w->skipping = false;
	w_put(w, &tag, 1);
}

void ipp_w_raw(struct ipp_writer *w, uint8_t tag, const char *name, const void *data, size_t len)
{
	size_t nlen = name ? strlen(name) : 0;

	if (nlen > 0xffff || len > 0xffff) {
		w->oom = true;
		return;
	}
	if (w->depth == 0 && nlen)
		w->skipping = w->want && !w->want(w->want_arg, name);
	if (w->skipping)
		return;
	w_put(w, &tag, 1);
	w_u16(w, nlen);
	w_put(w, name, nlen);
	w_u16(w, len);
	w_put(w, data, len);
}

void ipp_w_int(struct ipp_writer *w, uint8_t tag, const char *name, int32_t v)
{
	uint8_t b[4];

	w_u32(b, (uint32_t)v);
	ipp_w_raw(w, tag, name, b, 4);
}

void ipp_w_bool(struct ipp_writer *w, const char *name, bool v)
{
	uint8_t b = v;

	ipp_w_raw(w, IPP_TAG_BOOLEAN, name, &b, 1);
}

void ipp_w_str(struct ipp_writer *w, uint8_t tag, const char *name, const char *s)
{
	ipp_w_raw(w, tag, name, s, strlen(s));
}

void ipp_w_strs(struct ipp_writer *w, uint8_t tag, const char *name, const char *const *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ipp_w_str(w, tag, i ? NULL : name, s[i]);
}

void ipp_w_ints(struct ipp_writer *w, uint8_t tag, const char *name, const int32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ipp_w_int(w, tag, i ? NULL : name, v[i]);
}

void ipp_w_range(struct ipp_writer *w, const char *name, int32_t lo, int32_t hi)
{
	uint8_t b[8];

	w_u32(b, (uint32_t)lo);
	w_u32(b + 4, (uint32_t)hi);
	ipp_w_raw(w, IPP_TAG_RANGE, name, b, 8);
}

void ipp_w_resolution(struct ipp_writer *w, const char *name, int32_t x, int32_t y, int8_t units)
{
	uint8_t b[9];

	w_u32(b, (uint32_t)x);
	w_u32(b + 4, (uint32_t)y);
	b[8] = (uint8_t)units;
	ipp_w_raw(w, IPP_TAG_RESOLUTION, name, b, 9);
}

/* RFC 2579 DateAndTime in UTC. */
void ipp_w_date(struct ipp_writer *w, const char *name, time_t t)
{
	struct tm tm;
	uint8_t b[11];

	gmtime_r(&t, &tm);
	b[0] = (uint8_t)((tm.tm_year + 1900) >> 8);
	b[1] = (uint8_t)(tm.tm_year + 1900);
	b[2] = (uint8_t)(tm.tm_mon + 1);
	b[3] = (uint8_t)tm.tm_mday;
	b[4] = (uint8_t)tm.tm_hour;
	b[5] = (uint8_t)tm.tm_min;
	b[6] = (uint8_t)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
	b[7] = 0;
	b[8] = '+';
	b[9] = 0;
	b[10] = 0;
	ipp_w_raw(w, IPP_TAG_DATE, name, b, 11);
}

void ipp_w_oob(struct ipp_writer *w, uint8_t tag, const char *name)
{
	ipp_w_raw(w, tag, name, NULL, 0);
}

void ipp_w_col_begin(struct ipp_writer *w, const char *name)
{
	ipp_w_raw(w, IPP_TAG_BEGIN_COLLECTION, name, NULL, 0);
	w->depth++;
}

void ipp_w_member(struct ipp_writer *w, const char *member)
{
	ipp_w_raw(w, IPP_TAG_MEMBERNAME, NULL, member, strlen(member));
}

void ipp_w_col_end(struct ipp_writer *w)
{
	if (w->depth)
		w->depth--;
	ipp_w_raw(w, IPP_TAG_END_COLLECTION, NULL, NULL, 0);
}

int ipp_w_finish(struct ipp_writer *w)
{
	uint8_t end = IPP_TAG_END;

	w_put(w, &end, 1);
	return w->oom ? -ENOMEM : 0;
}
