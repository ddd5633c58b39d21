/* Helpers shared by the snmp unit tests: a BER writer that can build any
 * message (well-formed or not) byte by byte, and a fake SNMP agent on a
 * libuv loop that decodes requests with snmp_decode and answers them from a
 * walk (or as the test's policy decides). Test code only: failures abort
 * through cmocka. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "modules/snmp/ber.h"
#include "modules/snmp/walk.h"

/* ---- BER writer --------------------------------------------------------- */

struct ber {
	uint8_t d[65536];
	size_t n;
};

void ber_raw(struct ber *b, const void *p, size_t n);
void ber_byte(struct ber *b, uint8_t c);
/* Wraps everything written since mark in tag + minimal definite length. */
void ber_wrap(struct ber *b, size_t mark, uint8_t tag);
void ber_tlv(struct ber *b, uint8_t tag, const void *content, size_t n);
/* Minimal two's complement. */
void ber_int(struct ber *b, uint8_t tag, int64_t v);
/* Unsigned (a leading 0 when the top bit is set). */
void ber_uint(struct ber *b, uint8_t tag, uint64_t v);
void ber_oid(struct ber *b, uint8_t tag, const uint32_t *arcs, uint32_t n);

/* One value, as stored in a walk or a decoded varbind. */
struct tval {
	uint8_t type;
	int64_t i;
	uint64_t u;
	const uint8_t *data;
	uint32_t len;
	const uint32_t *val_oid;
	uint32_t val_oid_len;
};
void ber_value(struct ber *b, const struct tval *v);
void ber_varbind(struct ber *b, const uint32_t *oid, uint32_t n, const struct tval *v);

/* A whole message: SEQUENCE { version, community, pdu { id, a, b, list } }
 * with varbinds written by fn (may be NULL for an empty list). */
size_t ber_message(struct ber *b, int64_t version, const void *community, size_t community_len, uint8_t pdu, int64_t id,
		   int64_t a, int64_t c, void (*fn)(struct ber *b, void *arg), void *arg);

/* ---- fake agent --------------------------------------------------------- */

struct agent;

/* Decides what to do with a request; the default serves the walk. */
typedef void (*agent_policy)(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from);

struct agent_log {
	uint64_t at; /* uv_now */
	int32_t version, id;
	uint8_t pdu;
	int32_t a, b; /* error-status and -index: GETBULK's non-repeaters, max-repetitions */
	uint32_t nvbs;
};

struct agent {
	uv_loop_t *loop;
	uv_udp_t udp;
	uint16_t port;
	struct snmp_walk *mib; /* served by agent_serve; borrowed */
	agent_policy policy;
	void *data;
	/* behaviours of agent_serve */
	int32_t toobig_over; /* GETBULK with max-repetitions above this: tooBig (0: off) */
	bool loop_next;      /* GETNEXT/GETBULK answer the OID asked (never moves on) */
	bool v1_only;        /* ignore v2c requests */
	size_t max_vbs;      /* truncate GETBULK responses to this many varbinds (0: 64) */
	/* what came in */
	struct agent_log *log;
	size_t nlog, caplog;
	size_t malformed;
	/* answers held back (agent_reply_later) */
	struct held *held;
	size_t nheld;
	uv_timer_t timer;
	size_t outstanding, max_outstanding;
};

void agent_start(struct agent *ag, uv_loop_t *loop, struct snmp_walk *mib);
void agent_stop(struct agent *ag); /* closes the handles (run the loop afterwards) */
/* The answer a real agent would give, sent now. */
void agent_serve(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from);
/* Builds the answer agent_serve would send into b. */
void agent_answer(struct agent *ag, const struct snmp_msg *req, struct ber *b);
void agent_send(struct agent *ag, const struct ber *b, const struct sockaddr *to);
/* Sends b after delay_ms (from the agent's socket). */
void agent_send_later(struct agent *ag, const struct ber *b, const struct sockaddr *to, uint64_t delay_ms);

/* A response to req carrying the same varbind names with NULL values. */
void agent_echo(const struct snmp_msg *req, int32_t version, int32_t id, int32_t err, int32_t idx, struct ber *b);

/* ---- misc --------------------------------------------------------------- */

/* Reads a whole file (NUL-terminated); NULL when it cannot. */
char *slurp(const char *path, size_t *ret_len);
/* A walk from snmprec text; aborts when a line does not parse. */
void walk_from_snmprec(struct snmp_walk *w, const char *text);
/* The shared printer data folder, or NULL (with a message) when absent. */
const char *testdata_dir(void);
