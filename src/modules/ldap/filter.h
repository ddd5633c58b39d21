/* LDAP filters built from what people type: RFC 4515 escaping of every
 * substituted value, templates checked once at configure time, and the
 * forms of an Active Directory account name. Pure functions, fuzzed. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Escapes the characters RFC 4515 requires ( * ( ) \ NUL ) and every byte
 * that is not part of valid UTF-8 as \XX; valid UTF-8 passes through.
 * Returns the length written (out NUL-terminated) or -ENOSPC. */
ssize_t ldap_filter_escape(const char *in, size_t len, char *out, size_t outsize);

/* Checks a template once: only the %x in allowed ("u", "c", "d", "uc"...)
 * and %%, and a valid RFC 4515 filter once expanded with a dummy value.
 * -EINVAL with err saying what and where ("position 12: unbalanced ')'"). */
int ldap_filter_check(const char *tmpl, const char *allowed, char *err, size_t errlen);
/* Checks a filter as it goes to the directory (no variables: '%' is an
 * ordinary character): what an expansion of a checked template always
 * passes. -EINVAL with err as above. */
int ldap_filter_valid(const char *filter, char *err, size_t errlen);

struct ldap_filter_vars {
	const char *u; /* user name; NULL: %u not allowed */
	size_t ulen;
	const char *c; /* card number */
	size_t clen;
	const char *d; /* a DN */
	size_t dlen;
};

/* Expands %u, %c, %d (each value escaped) and %% into a malloc'd string.
 * -EINVAL (unknown %x, or its value missing or empty: "(cn=*%u)" would
 * become "(cn=*)"), -E2BIG (over 16 KiB), -ENOMEM. */
int ldap_filter_expand(const char *tmpl, const struct ldap_filter_vars *v, char **ret);

/* A user name as typed: "alice", "alice@scout.test", "SCOUT\alice". Gives
 * the bare account name (*ret_name points into in, *ret_len bytes) when
 * the domain part is absent or matches domain / netbios (case-insensitive;
 * NULL or "" matches any). -EXDEV when it names another domain; -EINVAL
 * for empty, a NUL, over 256 bytes, not UTF-8, or control characters. */
int ldap_name_split(const char *in, size_t len, const char *domain, const char *netbios, const char **ret_name,
		    size_t *ret_len);
