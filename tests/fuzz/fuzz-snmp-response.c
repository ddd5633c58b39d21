/* libFuzzer target for the SNMP v1/v2c decoder: arbitrary bytes as one
 * datagram (up to the 64 KiB the receive buffer holds), decoded as io.c
 * decodes them (4096 varbinds, 32768 arcs) and again into buffers too small
 * for most answers, where the decoder must say -E2BIG and never overrun.
 *
 * A message that decodes must describe the datagram: every varbind has an
 * OID of 2 to 128 arcs in the arc buffer (the varbinds' OIDs one after
 * another, never overlapping), a type the decoder documents, and octets
 * that lie inside the datagram. Its varbinds then go the way of a read:
 * copied into a walk, normalised into a device record that must serialise
 * (fuzz-snmp.h). And its OIDs must survive a round trip: encoded into a
 * request, which decodes to the same OIDs, community and header. */
#include <errno.h>
#include <string.h>

#include "fuzz-snmp.h"
#include "fuzz.h"
#include "modules/snmp/ber.h"
#include "modules/snmp/normalise.h"
#include "modules/snmp/walk.h"

#define RX_VBS 4096 /* as io.c */
#define RX_ARCS 32768
#define TINY_VBS 3
#define TINY_ARCS 24

static struct snmp_vb vbs[RX_VBS], vbs2[RX_VBS], tiny_vbs[TINY_VBS];
static uint32_t arcs[RX_ARCS], arcs2[RX_ARCS], tiny_arcs[TINY_ARCS];
static struct snmp_oid oids[RX_VBS];
static const struct snmp_oid *oidp[RX_VBS];

static bool inside(const void *p, size_t n, const void *base, size_t size)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && a - b <= size && n <= size - (a - b);
}

static void check_oid(const uint32_t *oid, uint32_t n, const uint32_t *buf, size_t cap, const uint32_t **next)
{
	CHECK(oid && n >= 2 && n <= SNMP_MAX_OID);
	CHECK(inside(oid, n * sizeof(*oid), buf, cap * sizeof(*buf)));
	CHECK(oid >= *next); /* in order, not overlapping the previous one */
	*next = oid + n;
	CHECK(oid[0] <= 2 && (oid[0] == 2 || oid[1] < 40)); /* what BER's first sub-identifier allows */
}

static void check_msg(const struct snmp_msg *m, const struct snmp_vb *v, const uint32_t *buf, size_t cap,
		      const uint8_t *data, size_t size)
{
	const uint32_t *next = buf;

	CHECK(m->version == SNMP_V1 || m->version == SNMP_V2C);
	CHECK((m->pdu_type & 0xE0) == 0xA0 && (m->pdu_type & 0x1F) != 0x1F);
	CHECK(inside(m->community, m->community_len, data, size));
	CHECK(m->vbs == v);
	for (uint32_t k = 0; k < m->nvbs; k++, v++) {
		check_oid(v->oid, v->oid_len, buf, cap, &next);
		switch (v->type) {
		case SNMP_INTEGER:
			break;
		case SNMP_IPADDRESS:
			CHECK(v->len == 4);
			/* fall through */
		case SNMP_OCTETS:
		case SNMP_OPAQUE:
			CHECK(v->data && inside(v->data, v->len, data, size));
			break;
		case SNMP_COUNTER32:
		case SNMP_GAUGE32:
		case SNMP_TIMETICKS:
			CHECK(v->u <= UINT32_MAX);
			break;
		case SNMP_COUNTER64:
			break;
		case SNMP_OBJECT_ID:
			check_oid(v->val_oid, v->val_oid_len, buf, cap, &next);
			break;
		case SNMP_NULL:
		case SNMP_NO_SUCH_OBJECT:
		case SNMP_NO_SUCH_INSTANCE:
		case SNMP_END_OF_MIB_VIEW:
			break;
		default:
			CHECK(!"a type the decoder does not document");
		}
		if (v->type != SNMP_OCTETS && v->type != SNMP_OPAQUE && v->type != SNMP_IPADDRESS)
			CHECK(!v->data && !v->len);
		if (v->type != SNMP_OBJECT_ID)
			CHECK(!v->val_oid && !v->val_oid_len);
		if (v->type != SNMP_INTEGER)
			CHECK(v->i == 0);
	}
}

static bool same_vb(const struct snmp_vb *a, const struct snmp_vb *b)
{
	return a->type == b->type && a->i == b->i && a->u == b->u && a->data == b->data && a->len == b->len &&
	       snmp_oid_cmp(a->oid, a->oid_len, b->oid, b->oid_len) == 0 && (!a->val_oid) == (!b->val_oid) &&
	       (!a->val_oid || snmp_oid_cmp(a->val_oid, a->val_oid_len, b->val_oid, b->val_oid_len) == 0);
}

/* The same datagram into buffers for 3 varbinds and 24 arcs: the decoder
 * stops with -E2BIG where the big buffers would have gone on, and agrees
 * with them everywhere else. */
static void tiny_run(const uint8_t *data, size_t size, int full, const struct snmp_msg *m)
{
	struct snmp_msg t;
	int r = snmp_decode(data, size, &t, tiny_vbs, TINY_VBS, tiny_arcs, TINY_ARCS);

	switch (full) {
	case 0:
		CHECK(r == 0 || r == -E2BIG);
		break;
	case -EBADMSG:
		CHECK(r == -EBADMSG || r == -E2BIG);
		break;
	default: /* -E2BIG, -EPROTONOSUPPORT */
		CHECK(r == full);
	}
	if (r < 0)
		return;
	check_msg(&t, tiny_vbs, tiny_arcs, TINY_ARCS, data, size);
	CHECK(t.nvbs == m->nvbs && t.version == m->version && t.pdu_type == m->pdu_type &&
	      t.request_id == m->request_id && t.error_status == m->error_status && t.error_index == m->error_index &&
	      t.community == m->community && t.community_len == m->community_len);
	for (uint32_t k = 0; k < t.nvbs; k++)
		CHECK(same_vb(&tiny_vbs[k], &vbs[k]));
}

/* Varbinds into a walk, the walk into a device record. */
static void normalise(const struct snmp_msg *m, const uint8_t *data, size_t size)
{
	static const char *const ips[] = {NULL, "192.0.2.10", "10.0.0.1"};
	const struct snmp_vendor *vendor = NULL;
	struct snmp_walk w;
	size_t kept = 0;

	snmp_walk_init(&w);
	for (uint32_t k = 0; k < m->nvbs; k++) {
		CHECK(snmp_walk_add(&w, &m->vbs[k]) == 0);
		uint8_t t = m->vbs[k].type;
		kept += t != SNMP_END_OF_MIB_VIEW && t != SNMP_NO_SUCH_OBJECT && t != SNMP_NO_SUCH_INSTANCE;
	}
	CHECK(w.n == kept);
	snmp_walk_finish(&w);
	CHECK(w.n <= kept && (w.n > 0) == (kept > 0));
	for (size_t k = 1; k < w.n; k++) /* sorted, duplicates gone */
		CHECK(snmp_oid_cmp(w.v[k - 1].oid, w.v[k - 1].oid_len, w.v[k].oid, w.v[k].oid_len) < 0);
	for (uint32_t k = 0; k < m->nvbs; k++) {
		const struct snmp_vb *v = &m->vbs[k];
		const struct snmp_val *got = snmp_walk_get(&w, v->oid, v->oid_len);
		if (v->type == SNMP_END_OF_MIB_VIEW || v->type == SNMP_NO_SUCH_OBJECT ||
		    v->type == SNMP_NO_SUCH_INSTANCE)
			continue;
		CHECK(got && got->oid != v->oid); /* a copy, not the datagram's */
		CHECK(!got->data || !inside(got->data, 1, data, size));
	}

	const char *ip = ips[(uint32_t)m->request_id % 3];
	json_t *dev = snmp_normalise(&w, ip, &vendor);
	fuzz_snmp_check_record(dev, ip);
	if (vendor)
		CHECK(json_is_string(json_object_get(dev, "manufacturer")));
	json_decref(dev);
	snmp_walk_free(&w);
}

/* The decoded OIDs encoded into a request, and decoded again. */
static void round_trip(const struct snmp_msg *m, size_t size)
{
	enum snmp_pdu_type type = SNMP_PDU_GETNEXT;
	int32_t a = 0, b = 0;
	struct snmp_msg back;

	if (m->pdu_type == SNMP_PDU_GET || m->pdu_type == SNMP_PDU_GETNEXT || m->pdu_type == SNMP_PDU_GETBULK)
		type = (enum snmp_pdu_type)m->pdu_type;
	if (type == SNMP_PDU_GETBULK) {
		a = m->error_status;
		b = m->error_index;
	}
	for (uint32_t k = 0; k < m->nvbs; k++) {
		oids[k].n = m->vbs[k].oid_len;
		memcpy(oids[k].arc, m->vbs[k].oid, m->vbs[k].oid_len * sizeof(uint32_t));
		oidp[k] = &oids[k];
	}
	/* Minimal encodings and NULL values: never longer than what came in. */
	size_t cap = size + 64;
	uint8_t *buf = malloc(cap);
	CHECK(buf);
	size_t n = snmp_encode_request(buf, cap, (enum snmp_version)m->version, m->community, m->community_len, type,
				       m->request_id, a, b, oidp, m->nvbs);
	CHECK(n > 0 && n <= size);
	/* and an exact fit is enough, one byte less is not */
	CHECK(snmp_encode_request(buf, n - 1, (enum snmp_version)m->version, m->community, m->community_len, type,
				  m->request_id, a, b, oidp, m->nvbs) == 0);
	CHECK(snmp_encode_request(buf, n, (enum snmp_version)m->version, m->community, m->community_len, type,
				  m->request_id, a, b, oidp, m->nvbs) == n);

	CHECK(snmp_decode(buf, n, &back, vbs2, RX_VBS, arcs2, RX_ARCS) == 0);
	check_msg(&back, vbs2, arcs2, RX_ARCS, buf, n);
	CHECK(back.version == m->version && back.pdu_type == type && back.request_id == m->request_id);
	CHECK(back.error_status == a && back.error_index == b);
	CHECK(back.community_len == m->community_len &&
	      (!m->community_len || memcmp(back.community, m->community, m->community_len) == 0));
	CHECK(back.nvbs == m->nvbs);
	for (uint32_t k = 0; k < m->nvbs; k++) {
		CHECK(vbs2[k].type == SNMP_NULL);
		CHECK(snmp_oid_cmp(vbs2[k].oid, vbs2[k].oid_len, m->vbs[k].oid, m->vbs[k].oid_len) == 0);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snmp_msg m;
	int r = snmp_decode(data, size, &m, vbs, RX_VBS, arcs, RX_ARCS);

	CHECK(r == 0 || r == -EBADMSG || r == -E2BIG || r == -EPROTONOSUPPORT);
	tiny_run(data, size, r, &m);
	if (r < 0)
		return 0;
	check_msg(&m, vbs, arcs, RX_ARCS, data, size);
	normalise(&m, data, size);
	round_trip(&m, size);
	return 0;
}
