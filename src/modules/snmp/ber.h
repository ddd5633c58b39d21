/* SNMP v1/v2c messages in BER: encoding of requests and a decoder of
 * responses that allocates nothing. Decoded varbinds point into the
 * datagram; OIDs are decoded into a caller-supplied arc buffer so they can be
 * ordered and compared. Every length and type is checked: a datagram from
 * the network is never trusted. (SNMPv3 goes through net-snmp's USM.) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNMP_MAX_OID 128

enum snmp_type {
	SNMP_INTEGER = 0x02,
	SNMP_OCTETS = 0x04,
	SNMP_NULL = 0x05,
	SNMP_OBJECT_ID = 0x06,
	SNMP_IPADDRESS = 0x40,
	SNMP_COUNTER32 = 0x41,
	SNMP_GAUGE32 = 0x42,
	SNMP_TIMETICKS = 0x43,
	SNMP_OPAQUE = 0x44,
	SNMP_COUNTER64 = 0x46,
	SNMP_NO_SUCH_OBJECT = 0x80,
	SNMP_NO_SUCH_INSTANCE = 0x81,
	SNMP_END_OF_MIB_VIEW = 0x82,
};

enum snmp_pdu_type {
	SNMP_PDU_GET = 0xA0,
	SNMP_PDU_GETNEXT = 0xA1,
	SNMP_PDU_RESPONSE = 0xA2,
	SNMP_PDU_GETBULK = 0xA5,
	SNMP_PDU_REPORT = 0xA8,
};

enum snmp_version { SNMP_V1 = 0, SNMP_V2C = 1, SNMP_V3 = 3 };

/* error-status values that matter to a reader */
enum { SNMP_ERR_NONE = 0, SNMP_ERR_TOO_BIG = 1, SNMP_ERR_NO_SUCH_NAME = 2, SNMP_ERR_GEN = 5 };

struct snmp_oid {
	uint32_t n;
	uint32_t arc[SNMP_MAX_OID];
};

struct snmp_vb {
	const uint32_t *oid;
	uint32_t oid_len;
	uint8_t type;
	int64_t i;           /* INTEGER */
	uint64_t u;          /* Counter32/64, Gauge32, TimeTicks */
	const uint8_t *data; /* OCTET STRING, IpAddress, Opaque: borrowed */
	uint32_t len;
	const uint32_t *val_oid; /* OBJECT IDENTIFIER value */
	uint32_t val_oid_len;
};

struct snmp_msg {
	int32_t version;
	const uint8_t *community;
	uint32_t community_len;
	uint8_t pdu_type;
	int32_t request_id;
	int32_t error_status;
	int32_t error_index;
	struct snmp_vb *vbs;
	uint32_t nvbs;
};

/* Decodes a v1/v2c message. vbs[vbcap] and arcs[arccap] receive the
 * varbinds and their OIDs. Returns 0, -EBADMSG when malformed, -E2BIG when
 * the buffers are too small, -EPROTONOSUPPORT for another version. */
int snmp_decode(const uint8_t *data, size_t len, struct snmp_msg *msg, struct snmp_vb *vbs, size_t vbcap,
		uint32_t *arcs, size_t arccap);

/* Encodes a request with NULL values for oids[n]. For GETBULK, a and b are
 * non-repeaters and max-repetitions; otherwise they must be 0. Returns the
 * length written at the start of buf, or 0 when cap is too small. */
size_t snmp_encode_request(uint8_t *buf, size_t cap, enum snmp_version version, const uint8_t *community,
			   size_t community_len, enum snmp_pdu_type type, int32_t request_id, int32_t a, int32_t b,
			   const struct snmp_oid *const *oids, size_t n);

/* OIDs */
int snmp_oid_cmp(const uint32_t *a, uint32_t alen, const uint32_t *b, uint32_t blen);
bool snmp_oid_has_prefix(const uint32_t *oid, uint32_t len, const struct snmp_oid *prefix);
/* Parses "1.3.6.1.2.1" (a leading dot is allowed). 0 or -EINVAL. */
int snmp_oid_parse(const char *s, struct snmp_oid *ret);
/* Writes dotted form, always NUL-terminated; returns the length it needed. */
size_t snmp_oid_format(const uint32_t *arcs, uint32_t n, char *buf, size_t size);
const char *snmp_type_name(uint8_t type);
