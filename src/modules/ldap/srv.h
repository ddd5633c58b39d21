/* DNS SRV records for AD domain controller discovery
 * (_ldap._tcp.dc._msdcs.DOMAIN): parsing an answer, ordering the targets
 * as RFC 2782 says, and the blocking lookup that runs on a pool thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "loop/timer.h"

struct ldir_srv {
	char target[256]; /* host name, no trailing dot */
	uint16_t priority;
	uint16_t weight;
	uint16_t port;
	uint32_t ttl;
};

/* Parses a DNS response (the bytes res_nquery returns) into its SRV
 * answers, ordered by priority (lowest first), then weight (highest first)
 * and target, so the order is the same for the same answer. A lone "."
 * target (the service is decidedly not available) yields no record. *ret
 * is malloc'd (caller frees; NULL when *ret_n is 0). 0, -EBADMSG for a
 * message that is not a well-formed response, -ENOMEM. */
int ldir_srv_parse(const uint8_t *msg, size_t len, struct ldir_srv **ret, size_t *ret_n);

/* Reorders, within each run of equal priority, by RFC 2782's weighted
 * random selection (a record of weight w is picked first with probability
 * w / sum). rng NULL: the system's CSPRNG. v must be sorted by priority. */
void ldir_srv_shuffle(struct ldir_srv *v, size_t n, scout_rand64_fn rng, void *rng_arg);

/* The lowest TTL among v (seconds), 0 when n is 0. */
uint32_t ldir_srv_min_ttl(const struct ldir_srv *v, size_t n);

/* Queries _ldap._tcp.dc._msdcs.DOMAIN (blocking: pool threads only), each
 * try bounded by timeout_ms. 0 with the records, -ENOENT (no such name or
 * no records), -ETIMEDOUT / -EHOSTUNREACH (no answer), -EBADMSG, -ENOMEM;
 * err says which in words. */
int ldir_srv_lookup(const char *domain, uint64_t timeout_ms, struct ldir_srv **ret, size_t *ret_n, char *err,
		    size_t errlen);
