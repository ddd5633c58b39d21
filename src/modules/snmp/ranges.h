/* Address ranges to sweep: CIDR blocks, a.b.c.d-a.b.c.e spans and single
 * addresses, IPv4 and IPv6, minus the exclude list. Everything is kept as
 * sorted, disjoint 128-bit intervals (IPv4 as ::ffff:a.b.c.d), so an
 * excluded address can never be produced by iteration. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef unsigned __int128 snmp_addr128;

struct snmp_interval {
	snmp_addr128 lo, hi; /* inclusive */
};

struct snmp_ranges {
	struct snmp_interval *iv;
	size_t n;
	uint64_t total; /* addresses in all intervals */
};

/* Most addresses one sweep may cover: a /8 of IPv4. */
#define SNMP_RANGES_MAX_TOTAL (UINT64_C(1) << 24)

/* Parses a comma (or newline) separated list into ret (freshly allocated).
 * On error writes what and where into err and returns -EINVAL. */
int snmp_ranges_parse(const char *text, struct snmp_ranges *ret, char *err, size_t errlen);
/* Removes every address of ex from r. */
int snmp_ranges_subtract(struct snmp_ranges *r, const struct snmp_ranges *ex);
void snmp_ranges_free(struct snmp_ranges *r);
bool snmp_ranges_contains(const struct snmp_ranges *r, snmp_addr128 a);

/* The first address of r in globally routed space (not private, shared,
 * loopback, link-local, documentation, reserved or multicast): false when
 * r stays inside the site's own kinds of address. */
bool snmp_ranges_first_public(const struct snmp_ranges *r, snmp_addr128 *ret_addr);
/* The first multicast or limited-broadcast address of r, if any. */
bool snmp_ranges_first_group(const struct snmp_ranges *r, snmp_addr128 *ret_addr);

/* The i-th address in order (0 <= i < total). */
snmp_addr128 snmp_ranges_nth(const struct snmp_ranges *r, uint64_t i);

bool snmp_addr_is_v4(snmp_addr128 a);
snmp_addr128 snmp_addr_from_sockaddr(const struct sockaddr *sa);
/* Fills a sockaddr_in or sockaddr_in6 (ret must hold a sockaddr_storage). */
socklen_t snmp_addr_to_sockaddr(snmp_addr128 a, uint16_t port, struct sockaddr_storage *ret);
/* "192.0.2.1" or "2001:db8::1"; buf of INET6_ADDRSTRLEN. */
const char *snmp_addr_format(snmp_addr128 a, char *buf, size_t size);
int snmp_addr_parse(const char *s, snmp_addr128 *ret);
