/* SNMPv3 (USM: HMAC-SHA or HMAC-SHA-256 authentication, AES privacy) for
 * the request engine, through net-snmp so that no cryptography is written
 * here. One net-snmp session per agent, its socket watched by a uv_poll, so
 * nothing blocks the loop: the engine id is discovered with an
 * unauthenticated probe sent asynchronously (net-snmp's own probe would
 * block), then requests go out authenticated and encrypted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "ber.h"
#include "ranges.h"

struct snmp_req;
struct snmp_v3;

struct snmp_v3_cred {
	const char *user;
	bool sha256; /* else HMAC-SHA-96 */
	const char *auth_pass;
	const char *priv_pass; /* NULL: authNoPriv */
};

/* Delivers a decoded response for request_id from addr/port to the io. */
typedef void (*snmp_v3_deliver)(void *io, snmp_addr128 addr, uint16_t port, const struct snmp_msg *msg);

/* Derives the keys (once: this is the slow part of SNMPv3). The pass
 * phrases are not kept. */
int snmp_v3_new(uv_loop_t *loop, const struct snmp_v3_cred *cred, snmp_v3_deliver deliver, void *io,
		struct snmp_v3 **ret_v3);
/* Sends req (or queues it until the agent's engine id is known). */
int snmp_v3_send(struct snmp_v3 *v3, struct snmp_req *req);
/* Closes every session; done runs when the poll handles are closed. */
void snmp_v3_close(struct snmp_v3 *v3, void (*done)(void *arg), void *arg);
/* Forgets req (answered, timed out or cancelled). */
void snmp_v3_forget(struct snmp_v3 *v3, struct snmp_req *req);
