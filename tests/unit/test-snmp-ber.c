/* Unit tests for src/modules/snmp/ber.c: requests encoded and decoded back
 * (and compared byte for byte with an independent writer), responses with
 * every value type, and the refusals that keep a hostile datagram from
 * being read past its end: every truncation of a valid message, bad
 * lengths, bad tags, bad OIDs, wrong types, other versions, full buffers.
 * Every input is copied to a heap block of its exact size, so a read past
 * the end shows under ASan. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/snmp/ber.h"
#include "snmp-testlib.h"

#define VBCAP 64
#define ARCCAP (VBCAP * SNMP_MAX_OID)

static struct snmp_vb vbs[VBCAP];
static uint32_t arcs[ARCCAP];

/* Decodes a copy of data that ends exactly where the input ends. */
static int decode_n(const uint8_t *data, size_t len, struct snmp_msg *m, size_t vbcap, size_t arccap)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, data, len);
	int r = snmp_decode(copy, len, m, vbs, vbcap, arcs, arccap);
	/* a decoded message points into the datagram: keep it readable for
	 * the caller by pointing it back at the original */
	if (r == 0) {
		m->community = data + (m->community - copy);
		for (uint32_t i = 0; i < m->nvbs; i++)
			if (m->vbs[i].data)
				m->vbs[i].data = data + (m->vbs[i].data - copy);
	}
	free(copy);
	return r;
}

static int decode(const struct ber *b, struct snmp_msg *m)
{
	return decode_n(b->d, b->n, m, VBCAP, ARCCAP);
}

static struct snmp_oid oid(const char *s)
{
	struct snmp_oid o;

	assert_int_equal(snmp_oid_parse(s, &o), 0);
	return o;
}

static void assert_oid(const uint32_t *a, uint32_t n, const char *want)
{
	char buf[SNMP_MAX_OID * 11];

	snmp_oid_format(a, n, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* ---- requests ------------------------------------------------------------ */

/* The same request through the independent writer. */
struct req_list {
	const struct snmp_oid *const *oids;
	size_t n;
};

static void null_list(struct ber *b, void *arg)
{
	struct req_list *l = arg;
	struct tval v = {.type = SNMP_NULL};

	for (size_t i = 0; i < l->n; i++)
		ber_varbind(b, l->oids[i]->arc, l->oids[i]->n, &v);
}

static void roundtrip(enum snmp_version version, const char *community, size_t clen, enum snmp_pdu_type type,
		      int32_t id, int32_t a, int32_t b, const struct snmp_oid *const *oids, size_t n)
{
	static uint8_t buf[65536];
	static struct ber ref;
	struct snmp_msg m;
	size_t len = snmp_encode_request(buf, sizeof(buf), version, (const uint8_t *)community, clen, type, id, a, b,
					 oids, n);
	struct req_list l = {oids, n};

	assert_true(len > 0);
	ber_message(&ref, version, community, clen, type, id, a, b, null_list, &l);
	assert_int_equal(len, ref.n);
	assert_memory_equal(buf, ref.d, len);

	assert_int_equal(decode_n(buf, len, &m, VBCAP, ARCCAP), 0);
	assert_int_equal(m.version, version);
	assert_int_equal(m.community_len, clen);
	assert_memory_equal(m.community, community, clen);
	assert_int_equal(m.pdu_type, type);
	assert_int_equal(m.request_id, id);
	assert_int_equal(m.error_status, a);
	assert_int_equal(m.error_index, b);
	assert_int_equal(m.nvbs, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(snmp_oid_cmp(m.vbs[i].oid, m.vbs[i].oid_len, oids[i]->arc, oids[i]->n), 0);
		assert_int_equal(m.vbs[i].type, SNMP_NULL);
	}

	/* every buffer too small is refused, never overrun (all sizes of a
	 * small message; near both ends and a sample between for a large one) */
	for (size_t cap = 0; cap < len; cap += (len < 4096 || cap < 64 || cap + 64 >= len) ? 1 : 61) {
		/* the buffer ends where its block ends (malloc(0) would hand out
		 * an addressable byte) */
		uint8_t *block = malloc(cap + 1);
		assert_non_null(block);
		size_t got = snmp_encode_request(block + 1, cap, version, (const uint8_t *)community, clen, type, id, a,
						 b, oids, n);
		assert_int_equal(got, 0);
		free(block);
	}
}

static void test_encode_get(void **state)
{
	struct snmp_oid a = oid("1.3.6.1.2.1.1.1.0"), b = oid("1.3.6.1.2.1.1.2.0");
	struct snmp_oid c = oid("1.3.6.1.2.1.43.5.1.1.17.1");
	const struct snmp_oid *list[] = {&a, &b, &c};
	(void)state;

	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, 1, 0, 0, list, 3);
	roundtrip(SNMP_V1, "public", 6, SNMP_PDU_GET, 0x12345678, 0, 0, list, 3);
	roundtrip(SNMP_V2C, "", 0, SNMP_PDU_GET, 0, 0, 0, list, 1);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, INT32_MAX, 0, 0, list, 1);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, INT32_MIN, 0, 0, list, 1);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, -1, 0, 0, list, 1);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, 128, 0, 0, list, 1); /* 00 80 */
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, 7, 0, 0, list, 0);   /* empty list */
}

static void test_encode_getnext_getbulk(void **state)
{
	struct snmp_oid a = oid("1.3.6.1.2.1.2.2.1.6"), b = oid("1.3.6.1.2.1.43.11.1.1.9");
	const struct snmp_oid *list[] = {&a, &b};
	(void)state;

	roundtrip(SNMP_V1, "private", 7, SNMP_PDU_GETNEXT, 42, 0, 0, list, 2);
	roundtrip(SNMP_V2C, "private", 7, SNMP_PDU_GETNEXT, 43, 0, 0, list, 2);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GETBULK, 44, 0, 25, list, 2);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GETBULK, 45, 1, 10, list, 2);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GETBULK, 46, 2, 255, list, 2);
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GETBULK, 47, 0, 1000, list, 2);
}

static void test_encode_long_community(void **state)
{
	char c[300];
	struct snmp_oid a = oid("1.3.6.1.2.1.1.1.0");
	const struct snmp_oid *list[] = {&a};
	(void)state;

	for (size_t i = 0; i < sizeof(c); i++)
		c[i] = (char)('a' + i % 26);
	roundtrip(SNMP_V2C, c, 127, SNMP_PDU_GET, 1, 0, 0, list, 1); /* short form */
	roundtrip(SNMP_V2C, c, 128, SNMP_PDU_GET, 1, 0, 0, list, 1); /* 81 80 */
	roundtrip(SNMP_V2C, c, 255, SNMP_PDU_GET, 1, 0, 0, list, 1);
	roundtrip(SNMP_V2C, c, 256, SNMP_PDU_GET, 1, 0, 0, list, 1); /* 82 01 00 */
	roundtrip(SNMP_V2C, c, 300, SNMP_PDU_GET, 1, 0, 0, list, 1);
}

static void test_encode_oids(void **state)
{
	struct snmp_oid big = {0}, large = oid("1.3.6.1.4.1.4294967295.0.127.128.16383.16384.2097151.2097152"),
			top = oid("2.999.3"), zero = oid("0.0");
	const struct snmp_oid *list[] = {&big, &large, &top, &zero};
	(void)state;

	big.n = SNMP_MAX_OID;
	big.arc[0] = 1;
	big.arc[1] = 3;
	for (uint32_t i = 2; i < SNMP_MAX_OID; i++)
		big.arc[i] = i * 1000003u;
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GET, 9, 0, 0, list, 4);

	/* 48 varbinds of 128 arcs make a datagram with 3-byte lengths */
	const struct snmp_oid *many[48];
	for (int i = 0; i < 48; i++)
		many[i] = &big;
	roundtrip(SNMP_V2C, "public", 6, SNMP_PDU_GETBULK, 10, 0, 5, many, 48);
}

/* ---- responses ----------------------------------------------------------- */

static const uint32_t vb_oid[] = {1, 3, 6, 1, 2, 1, 1, 1, 0};

static void vb_raw(struct ber *b, uint8_t tag, const void *content, size_t n)
{
	size_t mark = b->n;

	ber_oid(b, SNMP_OBJECT_ID, vb_oid, 9);
	ber_tlv(b, tag, content, n);
	ber_wrap(b, mark, 0x30);
}

struct one {
	uint8_t tag;
	const void *content;
	size_t n;
};

static void one_list(struct ber *b, void *arg)
{
	struct one *o = arg;
	vb_raw(b, o->tag, o->content, o->n);
}

/* Decodes a response with one varbind whose value is tag + content. */
static int decode_value(uint8_t tag, const void *content, size_t n, struct snmp_vb *ret)
{
	static struct ber b;
	struct snmp_msg m;
	struct one o = {tag, content, n};

	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 77, 0, 0, one_list, &o);
	int r = decode(&b, &m);
	if (r == 0) {
		assert_int_equal(m.nvbs, 1);
		assert_int_equal(m.request_id, 77);
		assert_int_equal(m.pdu_type, SNMP_PDU_RESPONSE);
		assert_oid(m.vbs[0].oid, m.vbs[0].oid_len, "1.3.6.1.2.1.1.1.0");
		*ret = m.vbs[0];
	}
	return r;
}

static int64_t int_value(const void *content, size_t n)
{
	struct snmp_vb v;

	assert_int_equal(decode_value(SNMP_INTEGER, content, n, &v), 0);
	assert_int_equal(v.type, SNMP_INTEGER);
	return v.i;
}

static uint64_t uint_value(uint8_t tag, const void *content, size_t n)
{
	struct snmp_vb v;

	assert_int_equal(decode_value(tag, content, n, &v), 0);
	assert_int_equal(v.type, tag);
	return v.u;
}

static void test_decode_integers(void **state)
{
	struct snmp_vb v;
	(void)state;

	assert_int_equal(int_value("\x00", 1), 0);
	assert_int_equal(int_value("\x7f", 1), 127);
	assert_int_equal(int_value("\x00\x80", 2), 128);
	assert_int_equal(int_value("\xff", 1), -1);
	assert_int_equal(int_value("\x80", 1), -128);
	assert_int_equal(int_value("\xff\x7f", 2), -129);
	assert_int_equal(int_value("\xfe", 1), -2);
	assert_int_equal(int_value("\xfd", 1), -3);
	assert_int_equal(int_value("\x7f\xff\xff\xff", 4), INT32_MAX);
	assert_int_equal(int_value("\x80\x00\x00\x00", 4), INT32_MIN);
	assert_int_equal(int_value("\x00\xff\xff\xff\xff", 5), 4294967295LL);
	assert_true(int_value("\x80\x00\x00\x00\x00\x00\x00\x00", 8) == INT64_MIN);
	assert_true(int_value("\x7f\xff\xff\xff\xff\xff\xff\xff", 8) == INT64_MAX);
	/* not representable, or no content */
	assert_int_equal(decode_value(SNMP_INTEGER, "\x00\x80\x00\x00\x00\x00\x00\x00\x00", 9, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_INTEGER, "", 0, &v), -EBADMSG);

	/* through the independent writer, every edge */
	static const int64_t edges[] = {0,         1,         -1,        127,
					128,       -128,      -129,      255,
					256,       32767,     32768,     -32768,
					-32769,    INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
					INT64_MAX, INT64_MIN};
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		struct ber b = {.n = 0};
		ber_int(&b, SNMP_INTEGER, edges[i]);
		assert_true(int_value(b.d + 2, b.n - 2) == edges[i]);
	}
}

static void test_decode_unsigned(void **state)
{
	struct snmp_vb v;
	(void)state;

	assert_int_equal(uint_value(SNMP_COUNTER32, "\x00", 1), 0);
	assert_int_equal(uint_value(SNMP_COUNTER32, "\x00\xff\xff\xff\xff", 5), 4294967295u);
	/* agents that encode a large Counter32 as a negative number: the low
	 * 32 bits are what they meant */
	assert_int_equal(uint_value(SNMP_COUNTER32, "\xff\xff\xff\xfe", 4), 4294967294u);
	assert_int_equal(uint_value(SNMP_COUNTER32, "\x80\x00\x00\x00", 4), 2147483648u);
	assert_int_equal(uint_value(SNMP_COUNTER32, "\xff", 1), 255);
	assert_int_equal(uint_value(SNMP_GAUGE32, "\x00\x80", 2), 128);
	assert_int_equal(uint_value(SNMP_GAUGE32, "\x12\x34\x56\x78", 4), 0x12345678);
	assert_int_equal(uint_value(SNMP_TIMETICKS, "\x01\xe2\x40", 3), 123456);
	assert_int_equal(uint_value(SNMP_TIMETICKS, "\x00", 1), 0);
	/* more than 32 bits in a 32-bit type */
	assert_int_equal(decode_value(SNMP_COUNTER32, "\x01\x00\x00\x00\x00", 5, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_GAUGE32, "\x00\x00\x00\x00\x00\x01", 6, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_TIMETICKS, "", 0, &v), -EBADMSG);

	/* Counter64: 9 bytes with the leading 0 of a value with its top bit set */
	assert_true(uint_value(SNMP_COUNTER64, "\x00\xff\xff\xff\xff\xff\xff\xff\xff", 9) == UINT64_MAX);
	assert_true(uint_value(SNMP_COUNTER64, "\x00\x80\x00\x00\x00\x00\x00\x00\x00", 9) == UINT64_C(1) << 63);
	assert_true(uint_value(SNMP_COUNTER64, "\x01\x00\x00\x00\x00", 5) == UINT64_C(1) << 32);
	assert_true(uint_value(SNMP_COUNTER64, "\x00", 1) == 0);
	assert_int_equal(decode_value(SNMP_COUNTER64, "\x01\x00\x00\x00\x00\x00\x00\x00\x00", 9, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_COUNTER64, "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 10, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_COUNTER64, "", 0, &v), -EBADMSG);
}

static void test_decode_octets_and_others(void **state)
{
	struct snmp_vb v;
	static const uint8_t bin[] = {0x00, 0xff, 0x80, 0x0a, 0x00};
	(void)state;

	assert_int_equal(decode_value(SNMP_OCTETS, "", 0, &v), 0);
	assert_int_equal(v.type, SNMP_OCTETS);
	assert_int_equal(v.len, 0);

	assert_int_equal(decode_value(SNMP_OCTETS, bin, sizeof(bin), &v), 0);
	assert_int_equal(v.len, sizeof(bin));
	assert_memory_equal(v.data, bin, sizeof(bin));

	char big[1000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(decode_value(SNMP_OCTETS, big, sizeof(big), &v), 0);
	assert_int_equal(v.len, sizeof(big));

	assert_int_equal(decode_value(SNMP_OPAQUE, "\x9f\x78\x04\x3f\x80\x00\x00", 7, &v), 0);
	assert_int_equal(v.type, SNMP_OPAQUE);
	assert_int_equal(v.len, 7);

	assert_int_equal(decode_value(SNMP_NULL, "", 0, &v), 0);
	assert_int_equal(v.type, SNMP_NULL);
	assert_int_equal(decode_value(SNMP_NULL, "\x00", 1, &v), -EBADMSG);

	assert_int_equal(decode_value(SNMP_IPADDRESS, "\xc0\x00\x02\x01", 4, &v), 0);
	assert_int_equal(v.type, SNMP_IPADDRESS);
	assert_int_equal(v.len, 4);
	assert_memory_equal(v.data, "\xc0\x00\x02\x01", 4);
	assert_int_equal(decode_value(SNMP_IPADDRESS, "\xc0\x00\x02", 3, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_IPADDRESS, "\xc0\x00\x02\x01\x01", 5, &v), -EBADMSG);

	static const uint8_t exc[] = {SNMP_NO_SUCH_OBJECT, SNMP_NO_SUCH_INSTANCE, SNMP_END_OF_MIB_VIEW};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(decode_value(exc[i], "", 0, &v), 0);
		assert_int_equal(v.type, exc[i]);
		assert_int_equal(decode_value(exc[i], "\x00", 1, &v), -EBADMSG);
	}
	/* a type SNMP does not have */
	assert_int_equal(decode_value(0x47, "\x01", 1, &v), -EBADMSG);
	assert_int_equal(decode_value(0x45, "\x01", 1, &v), -EBADMSG); /* NsapAddress (v1 only, unused) */
	assert_int_equal(decode_value(0x83, "", 0, &v), -EBADMSG);
	assert_int_equal(decode_value(0x01, "\x01", 1, &v), -EBADMSG); /* BOOLEAN */

	assert_string_equal(snmp_type_name(SNMP_COUNTER64), "Counter64");
	assert_string_equal(snmp_type_name(SNMP_END_OF_MIB_VIEW), "endOfMibView");
	assert_string_equal(snmp_type_name(0x47), "?");
}

static void test_decode_oid_values(void **state)
{
	struct snmp_vb v;
	(void)state;

	/* 1.3.6.1.4.1.11.2.3.9.1 */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x2b\x06\x01\x04\x01\x0b\x02\x03\x09\x01", 10, &v), 0);
	assert_int_equal(v.type, SNMP_OBJECT_ID);
	assert_oid(v.val_oid, v.val_oid_len, "1.3.6.1.4.1.11.2.3.9.1");
	/* the value's arcs are not the name's */
	assert_ptr_not_equal(v.val_oid, v.oid);
	/* 2.999: the first sub-identifier is 1079 */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x88\x37", 2, &v), 0);
	assert_oid(v.val_oid, v.val_oid_len, "2.999");
	/* 0.0 (zeroDotZero, common in hrDeviceID) */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x00", 1, &v), 0);
	assert_oid(v.val_oid, v.val_oid_len, "0.0");
	/* largest arc */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x2b\x8f\xff\xff\xff\x7f", 6, &v), 0);
	assert_oid(v.val_oid, v.val_oid_len, "1.3.4294967295");
	/* one past it */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x2b\x90\x80\x80\x80\x00", 6, &v), -EBADMSG);
	/* non-minimal, unterminated, empty */
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x2b\x80\x01", 3, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "\x2b\x06\x81", 3, &v), -EBADMSG);
	assert_int_equal(decode_value(SNMP_OBJECT_ID, "", 0, &v), -EBADMSG);
}

/* A response with every type in one message, through the writer. */
static void all_types(struct ber *b, void *arg)
{
	static const uint32_t val[] = {1, 3, 6, 1, 4, 1, 2435, 2, 3, 9, 1};
	uint32_t name[] = {1, 3, 6, 1, 2, 1, 99, 0};
	struct tval v[] = {
		{.type = SNMP_INTEGER, .i = -3},
		{.type = SNMP_INTEGER, .i = 2147483647},
		{.type = SNMP_OCTETS, .data = (const uint8_t *)"", .len = 0},
		{.type = SNMP_OCTETS, .data = (const uint8_t *)"\x00\x01\xfe\xff", .len = 4},
		{.type = SNMP_NULL},
		{.type = SNMP_OBJECT_ID, .val_oid = val, .val_oid_len = 11},
		{.type = SNMP_IPADDRESS, .data = (const uint8_t *)"\x0a\x00\x00\x01", .len = 4},
		{.type = SNMP_COUNTER32, .u = 4294967295u},
		{.type = SNMP_GAUGE32, .u = 100},
		{.type = SNMP_TIMETICKS, .u = 8640000},
		{.type = SNMP_COUNTER64, .u = UINT64_MAX},
		{.type = SNMP_NO_SUCH_OBJECT},
		{.type = SNMP_NO_SUCH_INSTANCE},
		{.type = SNMP_END_OF_MIB_VIEW},
	};
	(void)arg;

	for (uint32_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		name[6] = 100 + i;
		ber_varbind(b, name, 8, &v[i]);
	}
}

static void test_decode_all_types(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, -5, 0, 0, all_types, NULL);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.version, SNMP_V2C);
	assert_int_equal(m.request_id, -5);
	assert_int_equal(m.nvbs, 14);
	for (uint32_t i = 0; i < m.nvbs; i++) {
		char want[32];
		snprintf(want, sizeof(want), "1.3.6.1.2.1.%u.0", 100 + i);
		assert_oid(m.vbs[i].oid, m.vbs[i].oid_len, want);
	}
	assert_int_equal(m.vbs[0].i, -3);
	assert_int_equal(m.vbs[1].i, 2147483647);
	assert_int_equal(m.vbs[2].len, 0);
	assert_memory_equal(m.vbs[3].data, "\x00\x01\xfe\xff", 4);
	assert_int_equal(m.vbs[4].type, SNMP_NULL);
	assert_oid(m.vbs[5].val_oid, m.vbs[5].val_oid_len, "1.3.6.1.4.1.2435.2.3.9.1");
	assert_memory_equal(m.vbs[6].data, "\x0a\x00\x00\x01", 4);
	assert_int_equal(m.vbs[7].u, 4294967295u);
	assert_int_equal(m.vbs[8].u, 100);
	assert_int_equal(m.vbs[9].u, 8640000);
	assert_true(m.vbs[10].u == UINT64_MAX);
	assert_int_equal(m.vbs[11].type, SNMP_NO_SUCH_OBJECT);
	assert_int_equal(m.vbs[12].type, SNMP_NO_SUCH_INSTANCE);
	assert_int_equal(m.vbs[13].type, SNMP_END_OF_MIB_VIEW);

	/* error-status and index */
	ber_message(&b, 0, "public", 6, SNMP_PDU_RESPONSE, 5, SNMP_ERR_NO_SUCH_NAME, 3, all_types, NULL);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.version, SNMP_V1);
	assert_int_equal(m.error_status, SNMP_ERR_NO_SUCH_NAME);
	assert_int_equal(m.error_index, 3);

	/* a report PDU and an empty list decode too */
	ber_message(&b, 1, "public", 6, SNMP_PDU_REPORT, 5, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.pdu_type, SNMP_PDU_REPORT);
	assert_int_equal(m.nvbs, 0);

	/* every truncation of this message is refused, and never read past */
	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, -5, 0, 0, all_types, NULL);
	for (size_t n = 0; n < b.n; n++)
		assert_int_equal(decode_n(b.d, n, &m, VBCAP, ARCCAP), -EBADMSG);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_truncated_request(void **state)
{
	static uint8_t buf[4096];
	struct snmp_oid a = oid("1.3.6.1.2.1.1.1.0"), big = {0};
	const struct snmp_oid *list[] = {&a, &big};
	struct snmp_msg m;
	char community[200];
	(void)state;

	big.n = SNMP_MAX_OID;
	big.arc[0] = 1;
	big.arc[1] = 3;
	for (uint32_t i = 2; i < SNMP_MAX_OID; i++)
		big.arc[i] = 4294967295u - i;
	memset(community, 'c', sizeof(community));
	size_t len = snmp_encode_request(buf, sizeof(buf), SNMP_V2C, (const uint8_t *)community, sizeof(community),
					 SNMP_PDU_GETBULK, 99, 0, 10, list, 2);
	assert_true(len > 256); /* lengths in long form */
	assert_int_equal(decode_n(buf, len, &m, VBCAP, ARCCAP), 0);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(decode_n(buf, n, &m, VBCAP, ARCCAP), -EBADMSG);
}

/* all_types and a long string: lengths in long form at every level */
static void long_list(struct ber *b, void *arg)
{
	static const uint32_t name[] = {1, 3, 6, 1, 2, 1, 43, 16, 5, 1, 2, 1, 1};
	static uint8_t text[300];
	struct tval v = {.type = SNMP_OCTETS, .data = text, .len = sizeof(text)};

	memset(text, 'T', sizeof(text));
	all_types(b, arg);
	ber_varbind(b, name, 13, &v);
}

static void test_bad_lengths(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, long_list, NULL);
	assert_int_equal(decode(&b, &m), 0);
	assert_true(b.n > 255 && b.n < 65536);
	assert_int_equal(b.d[1], 0x82); /* outer length in two bytes */

	/* indefinite length */
	struct ber x = b;
	x.d[1] = 0x80;
	assert_int_equal(decode(&x, &m), -EBADMSG);
	/* the length says more than there is */
	x = b;
	x.d[3]++;
	assert_int_equal(decode(&x, &m), -EBADMSG);
	x = b;
	x.d[2] = 0xff;
	assert_int_equal(decode(&x, &m), -EBADMSG);
	/* length of length absurd (5 bytes) or zero */
	static const uint8_t five[] = {0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x03, 0x02, 0x01, 0x01};
	assert_int_equal(decode_n(five, sizeof(five), &m, VBCAP, ARCCAP), -EBADMSG);
	/* four length bytes with a huge value */
	static const uint8_t huge[] = {0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01};
	assert_int_equal(decode_n(huge, sizeof(huge), &m, VBCAP, ARCCAP), -EBADMSG);
	/* trailing garbage after the message */
	x = b;
	x.d[x.n++] = 0;
	assert_int_equal(decode(&x, &m), -EBADMSG);
	/* an inner length that runs past its container */
	static const uint8_t inner[] = {0x30, 0x0a, 0x02, 0x01, 0x01, 0x04, 0x10, 'p', 'u', 'b', 'l', 'i'};
	assert_int_equal(decode_n(inner, sizeof(inner), &m, VBCAP, ARCCAP), -EBADMSG);
	/* nothing at all */
	assert_int_equal(decode_n((const uint8_t *)"", 0, &m, VBCAP, ARCCAP), -EBADMSG);
	assert_int_equal(decode_n((const uint8_t *)"\x30", 1, &m, VBCAP, ARCCAP), -EBADMSG);
	assert_int_equal(decode_n((const uint8_t *)"\x30\x00", 2, &m, VBCAP, ARCCAP), -EBADMSG);
}

/* Varbind lists with a defect placed by the test. */
static void garbage_after_list(struct ber *b, void *arg)
{
	(void)arg;
	vb_raw(b, SNMP_INTEGER, "\x01", 1);
}

static void extra_in_varbind(struct ber *b, void *arg)
{
	size_t mark = b->n;
	(void)arg;
	ber_oid(b, SNMP_OBJECT_ID, vb_oid, 9);
	ber_tlv(b, SNMP_INTEGER, "\x01", 1);
	ber_tlv(b, SNMP_INTEGER, "\x02", 1);
	ber_wrap(b, mark, 0x30);
}

static void raw_name(struct ber *b, void *arg)
{
	const struct one *o = arg;
	size_t mark = b->n;

	ber_tlv(b, o->tag, o->content, o->n);
	ber_tlv(b, SNMP_NULL, NULL, 0);
	ber_wrap(b, mark, 0x30);
}

static void not_a_sequence(struct ber *b, void *arg)
{
	(void)arg;
	ber_tlv(b, SNMP_NULL, NULL, 0);
}

static void high_tag_value(struct ber *b, void *arg)
{
	size_t mark = b->n;
	(void)arg;
	ber_oid(b, SNMP_OBJECT_ID, vb_oid, 9);
	ber_raw(b, "\x5f\x01\x00", 3); /* [APPLICATION 1] in high-tag form, length 0 */
	ber_wrap(b, mark, 0x30);
}

static int decode_list(void (*fn)(struct ber *, void *), void *arg)
{
	static struct ber b;
	struct snmp_msg m;

	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, fn, arg);
	return decode(&b, &m);
}

static void test_bad_structure(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	/* trailing bytes inside the PDU after the list */
	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, garbage_after_list, NULL);
	assert_int_equal(decode(&b, &m), 0);
	{
		/* rebuild with a stray INTEGER after the list, inside the PDU */
		struct ber x = {.n = 0};
		ber_int(&x, SNMP_INTEGER, 1);
		ber_tlv(&x, SNMP_OCTETS, "public", 6);
		size_t pdu = x.n;
		ber_int(&x, SNMP_INTEGER, 1);
		ber_int(&x, SNMP_INTEGER, 0);
		ber_int(&x, SNMP_INTEGER, 0);
		size_t list = x.n;
		garbage_after_list(&x, NULL);
		ber_wrap(&x, list, 0x30);
		ber_int(&x, SNMP_INTEGER, 7);
		ber_wrap(&x, pdu, SNMP_PDU_RESPONSE);
		ber_wrap(&x, 0, 0x30);
		assert_int_equal(decode(&x, &m), -EBADMSG);
	}
	assert_int_equal(decode_list(extra_in_varbind, NULL), -EBADMSG);
	assert_int_equal(decode_list(not_a_sequence, NULL), -EBADMSG);
	assert_int_equal(decode_list(high_tag_value, NULL), -EBADMSG);

	/* names that are not OIDs, or bad OIDs */
	struct one o = {SNMP_OCTETS, "\x2b\x06", 2};
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);
	o = (struct one){SNMP_OBJECT_ID, "\x2b\x80\x06", 3}; /* non-minimal */
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);
	o = (struct one){SNMP_OBJECT_ID, "\x2b\x06\x01\x82", 4}; /* ends inside a sub-identifier */
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);
	o = (struct one){SNMP_OBJECT_ID, "", 0};
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);
	o = (struct one){SNMP_OBJECT_ID, "\x2b\x06\x01", 3};
	assert_int_equal(decode_list(raw_name, &o), 0);

	/* 128 arcs are fine, 129 are not */
	uint8_t arcs_bytes[200];
	arcs_bytes[0] = 0x2b;
	for (int i = 1; i < 200; i++)
		arcs_bytes[i] = 0x01;
	o = (struct one){SNMP_OBJECT_ID, arcs_bytes, SNMP_MAX_OID - 1};
	assert_int_equal(decode_list(raw_name, &o), 0);
	o = (struct one){SNMP_OBJECT_ID, arcs_bytes, SNMP_MAX_OID};
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);
	o = (struct one){SNMP_OBJECT_ID, arcs_bytes, 199};
	assert_int_equal(decode_list(raw_name, &o), -EBADMSG);

	/* high tag number in the message header */
	b.n = 0;
	ber_raw(&b, "\x3f\x01\x03\x02\x01\x01", 6);
	assert_int_equal(decode(&b, &m), -EBADMSG);
}

/* Builds a message field by field with one of them of the wrong type. */
static void wrong(struct ber *b, int which)
{
	b->n = 0;
	if (which == 0)
		ber_tlv(b, SNMP_OCTETS, "\x01", 1);
	else
		ber_int(b, SNMP_INTEGER, 1);
	if (which == 1)
		ber_int(b, SNMP_INTEGER, 7);
	else
		ber_tlv(b, SNMP_OCTETS, "public", 6);
	size_t pdu = b->n;
	if (which == 2)
		ber_tlv(b, SNMP_OCTETS, "\x01", 1);
	else
		ber_int(b, SNMP_INTEGER, 1);
	if (which == 3)
		ber_tlv(b, SNMP_NULL, NULL, 0);
	else
		ber_int(b, SNMP_INTEGER, 0);
	if (which == 4)
		ber_uint(b, SNMP_COUNTER32, 0);
	else
		ber_int(b, SNMP_INTEGER, 0);
	size_t list = b->n;
	vb_raw(b, SNMP_INTEGER, "\x01", 1);
	ber_wrap(b, list, which == 5 ? 0x31 : 0x30);
	ber_wrap(b, pdu, which == 6 ? 0x30 : which == 7 ? 0x04 : SNMP_PDU_RESPONSE);
	ber_wrap(b, 0, which == 8 ? 0x31 : 0x30);
}

static void test_wrong_types(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	wrong(&b, -1);
	assert_int_equal(decode(&b, &m), 0);
	for (int i = 0; i <= 8; i++) {
		wrong(&b, i);
		if (decode(&b, &m) != -EBADMSG)
			fail_msg("field %d of the wrong type was accepted", i);
	}

	/* a request-id that does not fit in 32 bits */
	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, (int64_t)INT32_MAX + 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, (int64_t)INT32_MIN - 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EBADMSG);
	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, (int64_t)1 << 40, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EBADMSG);
}

static void test_versions(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	/* a real v3 header: version 3, then a SEQUENCE of global data */
	b.n = 0;
	ber_int(&b, SNMP_INTEGER, 3);
	size_t g = b.n;
	ber_int(&b, SNMP_INTEGER, 12345);
	ber_int(&b, SNMP_INTEGER, 65507);
	ber_tlv(&b, SNMP_OCTETS, "\x04", 1);
	ber_int(&b, SNMP_INTEGER, 3);
	ber_wrap(&b, g, 0x30);
	ber_tlv(&b, SNMP_OCTETS, "", 0);
	ber_wrap(&b, 0, 0x30);
	assert_int_equal(decode(&b, &m), -EPROTONOSUPPORT);

	ber_message(&b, 3, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EPROTONOSUPPORT);
	ber_message(&b, 2, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EPROTONOSUPPORT);
	ber_message(&b, -1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), -EPROTONOSUPPORT);
	ber_message(&b, 0, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, NULL, NULL);
	assert_int_equal(decode(&b, &m), 0);
	assert_int_equal(m.version, SNMP_V1);
}

static void test_capacity(void **state)
{
	static struct ber b;
	struct snmp_msg m;
	(void)state;

	ber_message(&b, 1, "public", 6, SNMP_PDU_RESPONSE, 1, 0, 0, all_types, NULL);
	assert_int_equal(decode_n(b.d, b.n, &m, 14, ARCCAP), 0);
	assert_int_equal(decode_n(b.d, b.n, &m, 13, ARCCAP), -E2BIG);
	assert_int_equal(decode_n(b.d, b.n, &m, 0, ARCCAP), -E2BIG);
	/* 14 names of 8 arcs and one OID value of 11 arcs */
	assert_int_equal(decode_n(b.d, b.n, &m, 14, 14 * 8 + 11), 0);
	assert_int_equal(decode_n(b.d, b.n, &m, 14, 14 * 8 + 10), -E2BIG);
	assert_int_equal(decode_n(b.d, b.n, &m, 14, 8), -E2BIG);
	assert_int_equal(decode_n(b.d, b.n, &m, 14, 1), -E2BIG);
	assert_int_equal(decode_n(b.d, b.n, &m, 14, 0), -E2BIG);
}

/* ---- OID helpers --------------------------------------------------------- */

static void test_oid_parse(void **state)
{
	struct snmp_oid o, keep = {.n = 3, .arc = {9, 9, 9}};
	char s[SNMP_MAX_OID * 4 + 8];
	(void)state;

	assert_int_equal(snmp_oid_parse("1.3.6.1.2.1", &o), 0);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.arc[5], 1);
	assert_int_equal(snmp_oid_parse(".1.3.6.1.2.1", &o), 0);
	assert_int_equal(o.n, 6);
	assert_int_equal(snmp_oid_parse("1.3.6.1.4.1.4294967295", &o), 0);
	assert_int_equal(o.arc[6], 4294967295u);
	assert_int_equal(snmp_oid_parse("2.999", &o), 0);
	assert_int_equal(snmp_oid_parse("0.0", &o), 0);
	assert_int_equal(snmp_oid_parse("1.39", &o), 0);

	static const char *const bad[] =
		{"",       ".",    "1",    "1.",   "1.3.",           "1..3",
		 "1.3..6", "3.1",  "1.40", "0.40", "1.3.4294967296", "1.3.a",
		 "a.1",    "-1.3", " 1.3", "1.3 ", "1.3.6.1x",       "1.3.99999999999999999999",
		 "..1.3",  "1,3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = keep;
		if (snmp_oid_parse(bad[i], &o) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(o.n, 3); /* untouched */
	}

	/* 128 arcs, then 129 */
	size_t k = (size_t)sprintf(s, "1.3");
	for (int i = 2; i < SNMP_MAX_OID; i++)
		k += (size_t)sprintf(s + k, ".%d", i);
	assert_int_equal(snmp_oid_parse(s, &o), 0);
	assert_int_equal(o.n, SNMP_MAX_OID);
	sprintf(s + k, ".7");
	assert_int_equal(snmp_oid_parse(s, &o), -EINVAL);
}

static void test_oid_format(void **state)
{
	struct snmp_oid o = oid("1.3.6.1.4.1.4294967295.0");
	char buf[64];
	(void)state;

	assert_int_equal(snmp_oid_format(o.arc, o.n, buf, sizeof(buf)), strlen("1.3.6.1.4.1.4294967295.0"));
	assert_string_equal(buf, "1.3.6.1.4.1.4294967295.0");
	/* too small: truncated, terminated, the needed length returned */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(snmp_oid_format(o.arc, o.n, buf, 8), strlen("1.3.6.1.4.1.4294967295.0"));
	assert_string_equal(buf, "1.3.6.1");
	assert_int_equal(buf[9], 'x');
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(snmp_oid_format(o.arc, o.n, buf, 1), strlen("1.3.6.1.4.1.4294967295.0"));
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 'x');
	assert_int_equal(snmp_oid_format(o.arc, o.n, NULL, 0), strlen("1.3.6.1.4.1.4294967295.0"));
	assert_int_equal(snmp_oid_format(o.arc, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	/* a 128-arc OID of the largest arcs fits the buffer normalise uses */
	struct snmp_oid big = {.n = SNMP_MAX_OID};
	char wide[SNMP_MAX_OID * 11];
	for (int i = 0; i < SNMP_MAX_OID; i++)
		big.arc[i] = 4294967295u;
	assert_int_equal(snmp_oid_format(big.arc, big.n, wide, sizeof(wide)), SNMP_MAX_OID * 11 - 1);
	assert_int_equal(strlen(wide), SNMP_MAX_OID * 11 - 1);

	/* parse and format agree */
	struct snmp_oid back;
	snmp_oid_format(o.arc, o.n, buf, sizeof(buf));
	assert_int_equal(snmp_oid_parse(buf, &back), 0);
	assert_int_equal(snmp_oid_cmp(o.arc, o.n, back.arc, back.n), 0);
}

static void test_oid_cmp_prefix(void **state)
{
	struct snmp_oid a = oid("1.3.6.1.2.1.43"), b = oid("1.3.6.1.2.1.43.11"), c = oid("1.3.6.1.2.1.44"),
			d = oid("1.3.6.1.2.1.4294967295"), e = oid("1.3.6.1.2.1.5");
	(void)state;

	assert_int_equal(snmp_oid_cmp(a.arc, a.n, a.arc, a.n), 0);
	assert_int_equal(snmp_oid_cmp(a.arc, a.n, b.arc, b.n), -1);
	assert_int_equal(snmp_oid_cmp(b.arc, b.n, a.arc, a.n), 1);
	assert_int_equal(snmp_oid_cmp(b.arc, b.n, c.arc, c.n), -1);
	assert_int_equal(snmp_oid_cmp(c.arc, c.n, b.arc, b.n), 1);
	assert_int_equal(snmp_oid_cmp(d.arc, d.n, c.arc, c.n), 1);  /* unsigned arcs */
	assert_int_equal(snmp_oid_cmp(e.arc, e.n, a.arc, a.n), -1); /* numeric, not text */
	assert_int_equal(snmp_oid_cmp(a.arc, 0, b.arc, 0), 0);

	assert_true(snmp_oid_has_prefix(b.arc, b.n, &a));
	assert_true(snmp_oid_has_prefix(a.arc, a.n, &a));
	assert_false(snmp_oid_has_prefix(a.arc, a.n, &b));
	assert_false(snmp_oid_has_prefix(c.arc, c.n, &a));
	struct snmp_oid fourthree = oid("1.3.6.1.2.1.4");
	assert_false(snmp_oid_has_prefix(a.arc, a.n, &fourthree)); /* 43 is not under 4 */
	struct snmp_oid empty = {.n = 0};
	assert_true(snmp_oid_has_prefix(a.arc, a.n, &empty));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_get),
		cmocka_unit_test(test_encode_getnext_getbulk),
		cmocka_unit_test(test_encode_long_community),
		cmocka_unit_test(test_encode_oids),
		cmocka_unit_test(test_decode_integers),
		cmocka_unit_test(test_decode_unsigned),
		cmocka_unit_test(test_decode_octets_and_others),
		cmocka_unit_test(test_decode_oid_values),
		cmocka_unit_test(test_decode_all_types),
		cmocka_unit_test(test_truncated_request),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_bad_structure),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_oid_parse),
		cmocka_unit_test(test_oid_format),
		cmocka_unit_test(test_oid_cmp_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
