/* BER for SNMP v1/v2c: requests are encoded back to front (so every length
 * is known when its header is written); responses are decoded in one pass
 * with bounds checked at every step and no allocation. */
#include "ber.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- decoding --------------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
};

/* Reads a tag and a definite length that fits in what remains. */
static int read_tl(struct rd *r, uint8_t *tag, size_t *len)
{
	size_t n;

	if (r->end - r->p < 2)
		return -EBADMSG;
	*tag = *r->p++;
	if ((*tag & 0x1F) == 0x1F)
		return -EBADMSG; /* high tag numbers are not used by SNMP */
	n = *r->p++;
	if (n & 0x80) {
		size_t k = n & 0x7F;
		if (k == 0 || k > 4 || (size_t)(r->end - r->p) < k)
			return -EBADMSG; /* indefinite or absurd */
		n = 0;
		while (k--)
			n = (n << 8) | *r->p++;
	}
	if (n > (size_t)(r->end - r->p))
		return -EBADMSG;
	*len = n;
	return 0;
}

static int expect(struct rd *r, uint8_t want, struct rd *inner)
{
	uint8_t tag;
	size_t len;

	if (read_tl(r, &tag, &len) < 0 || tag != want)
		return -EBADMSG;
	inner->p = r->p;
	inner->end = r->p + len;
	r->p += len;
	return 0;
}

static int get_int(const uint8_t *p, size_t len, int64_t *ret)
{
	int64_t v;

	if (len == 0 || len > 8)
		return -EBADMSG;
	v = (p[0] & 0x80) ? -1 : 0;
	for (size_t i = 0; i < len; i++)
		v = (int64_t)(((uint64_t)v << 8) | p[i]);
	*ret = v;
	return 0;
}

static int get_uint(const uint8_t *p, size_t len, uint8_t type, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 9 || (len == 9 && p[0] != 0))
		return -EBADMSG;
	for (size_t i = 0; i < len; i++)
		v = (v << 8) | p[i];
	if (type != SNMP_COUNTER64) {
		/* Some agents encode large 32-bit counters as negative numbers:
		 * the low 32 bits are the value they meant. */
		if (len > 5 || (len == 5 && p[0] != 0))
			return -EBADMSG;
		v &= 0xFFFFFFFFu;
	}
	*ret = v;
	return 0;
}

static int get_i32(struct rd *r, int32_t *ret)
{
	struct rd in;
	int64_t v;

	if (expect(r, SNMP_INTEGER, &in) < 0 || get_int(in.p, (size_t)(in.end - in.p), &v) < 0)
		return -EBADMSG;
	if (v < INT32_MIN || v > INT32_MAX)
		return -EBADMSG;
	*ret = (int32_t)v;
	return 0;
}

static int get_oid(const uint8_t *p, size_t len, uint32_t *arcs, size_t cap, uint32_t *ret_n)
{
	uint32_t n = 0;
	uint64_t v = 0;
	bool first = true;

	if (len == 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (v == 0 && p[i] == 0x80)
			return -EBADMSG; /* non-minimal sub-identifier */
		v = (v << 7) | (p[i] & 0x7F);
		if (v > UINT32_MAX)
			return -EBADMSG;
		if (p[i] & 0x80)
			continue;
		if (first) {
			if (n + 2 > cap || n + 2 > SNMP_MAX_OID)
				return -E2BIG;
			uint32_t x = v < 80 ? (uint32_t)(v / 40) : 2;
			arcs[n++] = x;
			arcs[n++] = (uint32_t)(v - 40u * x);
			first = false;
		} else {
			if (n + 1 > cap || n + 1 > SNMP_MAX_OID)
				return n + 1 > SNMP_MAX_OID ? -EBADMSG : -E2BIG;
			arcs[n++] = (uint32_t)v;
		}
		v = 0;
	}
	if (p[len - 1] & 0x80)
		return -EBADMSG; /* ends inside a sub-identifier */
	*ret_n = n;
	return 0;
}

static int get_value(const uint8_t tag, const uint8_t *p, size_t len, struct snmp_vb *vb, uint32_t *arcs,
		     size_t *arcs_used, size_t arccap)
{
	vb->type = tag;
	switch (tag) {
	case SNMP_INTEGER:
		return get_int(p, len, &vb->i);
	case SNMP_OCTETS:
	case SNMP_OPAQUE:
		vb->data = p;
		vb->len = (uint32_t)len;
		return 0;
	case SNMP_IPADDRESS:
		if (len != 4)
			return -EBADMSG;
		vb->data = p;
		vb->len = 4;
		return 0;
	case SNMP_COUNTER32:
	case SNMP_GAUGE32:
	case SNMP_TIMETICKS:
	case SNMP_COUNTER64:
		return get_uint(p, len, tag, &vb->u);
	case SNMP_OBJECT_ID: {
		int r = get_oid(p, len, arcs + *arcs_used, arccap - *arcs_used, &vb->val_oid_len);
		if (r < 0)
			return r;
		vb->val_oid = arcs + *arcs_used;
		*arcs_used += vb->val_oid_len;
		return 0;
	}
	case SNMP_NULL:
	case SNMP_NO_SUCH_OBJECT:
	case SNMP_NO_SUCH_INSTANCE:
	case SNMP_END_OF_MIB_VIEW:
		return len == 0 ? 0 : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

int snmp_decode(const uint8_t *data, size_t len, struct snmp_msg *msg, struct snmp_vb *vbs, size_t vbcap,
		uint32_t *arcs, size_t arccap)
{
	struct rd r = {data, data + len}, m, s, pdu, list;
	size_t arcs_used = 0, clen;
	uint8_t tag;
	int32_t version;
	int rc;

	memset(msg, 0, sizeof(*msg));
	if (expect(&r, 0x30, &m) < 0 || r.p != r.end)
		return -EBADMSG;
	if (get_i32(&m, &version) < 0)
		return -EBADMSG;
	if (version != SNMP_V1 && version != SNMP_V2C)
		return -EPROTONOSUPPORT;
	if (expect(&m, SNMP_OCTETS, &s) < 0)
		return -EBADMSG;
	clen = (size_t)(s.end - s.p);
	if (read_tl(&m, &tag, &clen) < 0 || (tag & 0xE0) != 0xA0 || m.p + clen != m.end)
		return -EBADMSG;
	pdu.p = m.p;
	pdu.end = m.end;
	msg->version = version;
	msg->community = s.p;
	msg->community_len = (uint32_t)(s.end - s.p);
	msg->pdu_type = tag;
	if (get_i32(&pdu, &msg->request_id) < 0 || get_i32(&pdu, &msg->error_status) < 0 ||
	    get_i32(&pdu, &msg->error_index) < 0)
		return -EBADMSG;
	if (expect(&pdu, 0x30, &list) < 0 || pdu.p != pdu.end)
		return -EBADMSG;
	msg->vbs = vbs;
	while (list.p < list.end) {
		struct rd vb, name;
		struct snmp_vb *v;
		size_t vlen;

		if (msg->nvbs == vbcap)
			return -E2BIG;
		v = &vbs[msg->nvbs];
		memset(v, 0, sizeof(*v));
		if (expect(&list, 0x30, &vb) < 0 || expect(&vb, SNMP_OBJECT_ID, &name) < 0)
			return -EBADMSG;
		rc = get_oid(name.p, (size_t)(name.end - name.p), arcs + arcs_used, arccap - arcs_used, &v->oid_len);
		if (rc < 0)
			return rc;
		v->oid = arcs + arcs_used;
		arcs_used += v->oid_len;
		if (read_tl(&vb, &tag, &vlen) < 0 || vb.p + vlen != vb.end)
			return -EBADMSG;
		rc = get_value(tag, vb.p, vlen, v, arcs, &arcs_used, arccap);
		if (rc < 0)
			return rc;
		msg->nvbs++;
	}
	return 0;
}

/* ---- encoding --------------------------------------------------------- */

/* A writer that fills buf from the end towards the start. */
struct wr {
	uint8_t *start, *p;
	bool overflow;
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->overflow || (size_t)(w->p - w->start) < n) {
		w->overflow = true;
		return;
	}
	w->p -= n;
	memcpy(w->p, src, n);
}

static void put_byte(struct wr *w, uint8_t b)
{
	put(w, &b, 1);
}

static void put_len(struct wr *w, size_t n)
{
	if (n < 0x80) {
		put_byte(w, (uint8_t)n);
		return;
	}
	uint8_t k = 0;
	while (n) {
		put_byte(w, (uint8_t)n);
		n >>= 8;
		k++;
	}
	put_byte(w, 0x80 | k);
}

/* Wraps everything written since mark in tag+length. */
static void wrap(struct wr *w, const uint8_t *mark, uint8_t tag)
{
	put_len(w, (size_t)(mark - w->p));
	put_byte(w, tag);
}

static void put_int(struct wr *w, int64_t v)
{
	const uint8_t *mark = w->p;
	do {
		put_byte(w, (uint8_t)v);
		v >>= 8; /* arithmetic: keeps the sign */
	} while (!w->overflow && !((v == 0 && !(*w->p & 0x80)) || (v == -1 && (*w->p & 0x80))));
	wrap(w, mark, SNMP_INTEGER);
}

static void put_oid(struct wr *w, const struct snmp_oid *o)
{
	const uint8_t *mark = w->p;

	for (uint32_t i = o->n; i-- > 2;) {
		uint32_t v = o->arc[i];
		put_byte(w, v & 0x7F);
		while (v >>= 7)
			put_byte(w, 0x80 | (v & 0x7F));
	}
	uint32_t first = o->n >= 2 ? o->arc[0] * 40 + o->arc[1] : 0;
	put_byte(w, (uint8_t)(first & 0x7F));
	while (first >>= 7)
		put_byte(w, 0x80 | (first & 0x7F));
	wrap(w, mark, SNMP_OBJECT_ID);
}

size_t snmp_encode_request(uint8_t *buf, size_t cap, enum snmp_version version, const uint8_t *community,
			   size_t community_len, enum snmp_pdu_type type, int32_t request_id, int32_t a, int32_t b,
			   const struct snmp_oid *const *oids, size_t n)
{
	struct wr w = {buf, buf + cap, false};
	const uint8_t *msg_end = w.p, *pdu_end, *list_end;

	list_end = w.p;
	for (size_t i = n; i-- > 0;) {
		const uint8_t *vb_end = w.p;
		put_byte(&w, 0);
		put_byte(&w, SNMP_NULL);
		put_oid(&w, oids[i]);
		wrap(&w, vb_end, 0x30);
	}
	wrap(&w, list_end, 0x30);
	pdu_end = list_end;
	put_int(&w, b);
	put_int(&w, a);
	put_int(&w, request_id);
	wrap(&w, pdu_end, (uint8_t)type);
	const uint8_t *c_end = w.p;
	put(&w, community, community_len);
	wrap(&w, c_end, SNMP_OCTETS);
	put_int(&w, version);
	wrap(&w, msg_end, 0x30);
	if (w.overflow)
		return 0;
	size_t len = (size_t)(buf + cap - w.p);
	memmove(buf, w.p, len);
	return len;
}

/* ---- OIDs ------------------------------------------------------------- */

int snmp_oid_cmp(const uint32_t *a, uint32_t alen, const uint32_t *b, uint32_t blen)
{
	uint32_t n = alen < blen ? alen : blen;

	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return alen < blen ? -1 : alen > blen;
}

bool snmp_oid_has_prefix(const uint32_t *oid, uint32_t len, const struct snmp_oid *prefix)
{
	return len >= prefix->n && memcmp(oid, prefix->arc, prefix->n * sizeof(uint32_t)) == 0;
}

int snmp_oid_parse(const char *s, struct snmp_oid *ret)
{
	struct snmp_oid o = {0};

	if (*s == '.')
		s++;
	while (*s) {
		uint64_t v = 0;
		if (*s < '0' || *s > '9' || o.n == SNMP_MAX_OID)
			return -EINVAL;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (uint64_t)(*s++ - '0');
			if (v > UINT32_MAX)
				return -EINVAL;
		}
		o.arc[o.n++] = (uint32_t)v;
		if (*s == '.' && s[1])
			s++;
		else if (*s)
			return -EINVAL;
	}
	/* the first two arcs share one sub-identifier: arc0 * 40 + arc1 */
	if (o.n < 2 || o.arc[0] > 2 || (o.arc[0] < 2 && o.arc[1] >= 40) || o.arc[1] > UINT32_MAX - 80)
		return -EINVAL;
	*ret = o;
	return 0;
}

size_t snmp_oid_format(const uint32_t *arcs, uint32_t n, char *buf, size_t size)
{
	size_t k = 0;

	if (size)
		buf[0] = 0;
	for (uint32_t i = 0; i < n; i++) {
		int m = snprintf(k < size ? buf + k : NULL, k < size ? size - k : 0, i ? ".%u" : "%u", arcs[i]);
		k += (size_t)m;
	}
	return k;
}

const char *snmp_type_name(uint8_t type)
{
	switch (type) {
	case SNMP_INTEGER:
		return "INTEGER";
	case SNMP_OCTETS:
		return "OCTET STRING";
	case SNMP_NULL:
		return "NULL";
	case SNMP_OBJECT_ID:
		return "OBJECT IDENTIFIER";
	case SNMP_IPADDRESS:
		return "IpAddress";
	case SNMP_COUNTER32:
		return "Counter32";
	case SNMP_GAUGE32:
		return "Gauge32";
	case SNMP_TIMETICKS:
		return "TimeTicks";
	case SNMP_OPAQUE:
		return "Opaque";
	case SNMP_COUNTER64:
		return "Counter64";
	case SNMP_NO_SUCH_OBJECT:
		return "noSuchObject";
	case SNMP_NO_SUCH_INSTANCE:
		return "noSuchInstance";
	case SNMP_END_OF_MIB_VIEW:
		return "endOfMibView";
	}
	return "?";
}
