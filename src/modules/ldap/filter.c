/* LDAP filters built from what people type. A user name reaches the
 * directory only inside a filter expanded from a template the operator
 * wrote, and only RFC 4515-escaped, so no name can add a clause, widen a
 * match with '*' or end the filter early. Templates are checked once, at
 * configure time, by a recursive-descent parser of RFC 4515's grammar in
 * which %u, %c and %d may stand only where a value goes: an escaped value
 * there can never change the filter's structure, so every expansion of a
 * template that passed is a valid filter of the same shape (the fuzz
 * target tests/fuzz/fuzz-ldap-filter.c holds it to that). Also the forms
 * of an Active Directory account name (user@domain, DOMAIN\user).
 *
 * Positions in error messages count bytes from 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "loop/utf8.h"
#include "modules/ldap/filter.h"

#define EXPAND_MAX 16384 /* bytes of an expanded filter, NUL excluded */
#define NAME_MAX_LEN 256
#define DEPTH_MAX 64 /* nested (&, (|, (! : a template needs a handful */

static const char hexdigits[] = "0123456789abcdef";

static bool must_escape(unsigned char c)
{
	return c == '*' || c == '(' || c == ')' || c == '\\' || c == 0;
}

/* Writes the escaped form of in to out when out is not NULL; returns its
 * length, or stops counting once past limit (returning limit + 1). */
static size_t escape_into(const char *in, size_t len, char *out, size_t limit)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t cl = p[i] < 0x80 ? 1 : scout_utf8_char(p + i, len - i, &cp);

		if (cl == 0 || (cl == 1 && must_escape(p[i]))) {
			if (n + 3 > limit)
				return limit + 1;
			if (out) {
				out[n] = '\\';
				out[n + 1] = hexdigits[p[i] >> 4];
				out[n + 2] = hexdigits[p[i] & 0xf];
			}
			n += 3;
			i++;
			continue;
		}
		if (n + cl > limit)
			return limit + 1;
		if (out)
			memcpy(out + n, p + i, cl);
		n += cl;
		i += cl;
	}
	return n;
}

ssize_t ldap_filter_escape(const char *in, size_t len, char *out, size_t outsize)
{
	if (!outsize)
		return -ENOSPC;
	size_t n = escape_into(in, len, NULL, outsize - 1);
	if (n > outsize - 1)
		return -ENOSPC;
	escape_into(in, len, out, outsize - 1);
	out[n] = '\0';
	return (ssize_t)n;
}

/* The parser: s[0..len) is a template (vars: %u and the like stand for a
 * value, %% for a percent sign) or a plain filter (vars false: '%' is an
 * ordinary character). */
struct parser {
	const char *s;
	size_t len;
	size_t pos;
	bool vars;
	const char *allowed;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	if (p->err && p->errlen) {
		int n = snprintf(p->err, p->errlen, "position %zu: ", pos + 1);
		if (n >= 0 && (size_t)n < p->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What a character is called in a message: printable ASCII in quotes, the
 * rest as a byte value. */
static const char *describe(int c, char buf[16])
{
	if (c < 0)
		snprintf(buf, 16, "the end");
	else if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", (unsigned)c);
	return buf;
}

/* A '%' in a template: where one is not a value, what to say. */
static int misplaced_var(struct parser *p, const char *where)
{
	return fail(p, p->pos, "a %% (variable or %%%%) %s", where);
}

/* oid = descr / numericoid (RFC 4512): descr = ALPHA *(ALPHA / DIGIT / "-"),
 * numericoid = number 1*("." number), number without leading zeros. */
static int parse_oid(struct parser *p, const char *what)
{
	char b[16];
	int c = peek(p);

	if (is_alpha(c)) {
		while (is_alpha(peek(p)) || is_digit(peek(p)) || peek(p) == '-')
			p->pos++;
		return 0;
	}
	if (!is_digit(c)) {
		if (c == '%' && p->vars)
			return misplaced_var(p, "cannot stand in an attribute name or matching rule");
		return fail(p, p->pos, "expected %s, found %s", what, describe(c, b));
	}
	size_t start = p->pos;
	unsigned numbers = 0;
	for (;;) {
		size_t nstart = p->pos;
		if (!is_digit(peek(p)))
			return fail(p, p->pos, "expected a number in the OID of %s", what);
		while (is_digit(peek(p)))
			p->pos++;
		if (p->s[nstart] == '0' && p->pos - nstart > 1)
			return fail(p, nstart, "a number with a leading zero in the OID of %s", what);
		numbers++;
		if (peek(p) != '.')
			break;
		p->pos++;
	}
	if (numbers < 2)
		return fail(p, start, "a numeric OID (%s) needs at least two numbers", what);
	return 0;
}

/* attributedescription = attributetype *(";" option), option = 1*keychar */
static int parse_attr(struct parser *p)
{
	int r = parse_oid(p, "an attribute name");
	if (r < 0)
		return r;
	while (peek(p) == ';') {
		p->pos++;
		size_t start = p->pos;
		while (is_alpha(peek(p)) || is_digit(peek(p)) || peek(p) == '-')
			p->pos++;
		if (p->pos == start)
			return fail(p, start, "an empty attribute option after ';'");
	}
	return 0;
}

/* A run of valueencoding up to ')' (or '*' when stars is true, which the
 * caller then consumes). In a template %u and the like are values. */
static int parse_value(struct parser *p, bool stars)
{
	char b[16];

	for (;;) {
		int c = peek(p);
		uint32_t cp;

		if (c < 0 || c == ')')
			return 0;
		if (c == '*') {
			if (stars)
				return 0;
			return fail(p, p->pos, "a '*' in this value (only '=' takes wildcards; write \\2a for a star)");
		}
		if (c == '(')
			return fail(p, p->pos, "a '(' inside a value (write \\28), or a ')' missing before it");
		if (c == '\\') {
			if (p->len - p->pos < 3 || !is_hex((unsigned char)p->s[p->pos + 1]) ||
			    !is_hex((unsigned char)p->s[p->pos + 2]))
				return fail(p, p->pos,
					    "'\\' must be followed by two hex digits (\\5c for a backslash)");
			p->pos += 3;
			continue;
		}
		if (c == '%' && p->vars) {
			int v = p->pos + 1 < p->len ? (unsigned char)p->s[p->pos + 1] : -1;
			if (v == '%') {
				p->pos += 2;
				continue;
			}
			if (v < 0)
				return fail(p, p->pos, "a '%%' at the end (write %%%% for a percent sign)");
			if (v != 'u' && v != 'c' && v != 'd')
				return fail(p, p->pos,
					    "unknown variable %%%c (known: %%u, %%c, %%d; %%%% for a percent sign)",
					    v > 0x20 && v < 0x7f ? v : '?');
			if (!p->allowed || !strchr(p->allowed, v))
				return fail(p, p->pos, "%%%c is not available in this filter", v);
			p->pos += 2;
			continue;
		}
		if (c < 0x80) {
			if (c == 0)
				return fail(p, p->pos, "a NUL byte in a value");
			p->pos++;
			continue;
		}
		size_t n = scout_utf8_char((const unsigned char *)p->s + p->pos, p->len - p->pos, &cp);
		if (!n)
			return fail(p, p->pos, "%s is not UTF-8 (escape a raw byte as \\XX)", describe(c, b));
		p->pos += n;
	}
}

/* After '=' of an item: present (attr=*), substring (a*b*c) or equality. */
static int parse_eq_value(struct parser *p)
{
	int r;

	for (;;) {
		if ((r = parse_value(p, true)) < 0)
			return r;
		if (peek(p) != '*')
			return 0;
		p->pos++;
	}
}

/* The extensible part after attr (or at '(' + ':'): [":dn"] [":" oid] ":=" value.
 * has_attr: without an attribute the matching rule is required. */
static int parse_extensible(struct parser *p, bool has_attr)
{
	bool dn = false, rule = false;
	char b[16];

	for (;;) {
		if (peek(p) != ':')
			return fail(p, p->pos, "expected ':' or ':=' in an extensible match, found %s",
				    describe(peek(p), b));
		p->pos++;
		if (peek(p) == '=') {
			if (!has_attr && !rule)
				return fail(p, p->pos - 1,
					    "an extensible match without an attribute needs a matching rule");
			p->pos++;
			return parse_value(p, false);
		}
		if (rule)
			return fail(p, p->pos, "expected ':=' after the matching rule, found %s", describe(peek(p), b));
		if (!dn && p->pos + 2 < p->len && strncasecmp(p->s + p->pos, "dn", 2) == 0 && p->s[p->pos + 2] == ':') {
			dn = true;
			p->pos += 2;
			continue;
		}
		int r = parse_oid(p, "a matching rule");
		if (r < 0)
			return r;
		rule = true;
	}
}

static int parse_filter(struct parser *p, unsigned depth);

/* filtercomp after '(' */
static int parse_comp(struct parser *p, unsigned depth)
{
	char b[16];
	int c = peek(p), r;

	if (c == '&' || c == '|') {
		p->pos++;
		if (peek(p) != '(')
			return fail(p, p->pos, "'%c' must be followed by one or more filters in parentheses, found %s",
				    c, describe(peek(p), b));
		while (peek(p) == '(')
			if ((r = parse_filter(p, depth + 1)) < 0)
				return r;
		return 0;
	}
	if (c == '!') {
		p->pos++;
		if (peek(p) != '(')
			return fail(p, p->pos, "'!' must be followed by one filter in parentheses, found %s",
				    describe(peek(p), b));
		return parse_filter(p, depth + 1);
	}
	if (c == ':')
		return parse_extensible(p, false);
	if (c == ')')
		return fail(p, p->pos, "an empty filter '()'");
	if ((r = parse_attr(p)) < 0)
		return r;
	c = peek(p);
	switch (c) {
	case '=':
		p->pos++;
		return parse_eq_value(p);
	case '~':
	case '>':
	case '<':
		p->pos++;
		if (peek(p) != '=')
			return fail(p, p->pos, "expected '=' after '%c'", c);
		p->pos++;
		return parse_value(p, false);
	case ':':
		return parse_extensible(p, true);
	default:
		if (c == '%' && p->vars)
			return misplaced_var(p, "cannot stand in an attribute name");
		return fail(p, p->pos, "expected '=', '~=', '>=', '<=' or ':' after the attribute name, found %s",
			    describe(c, b));
	}
}

static int parse_filter(struct parser *p, unsigned depth)
{
	char b[16];
	int r;

	if (peek(p) != '(')
		return fail(p, p->pos, "expected '(', found %s", describe(peek(p), b));
	if (depth >= DEPTH_MAX)
		return fail(p, p->pos, "filters nested deeper than %d", DEPTH_MAX);
	size_t open = p->pos++;
	if ((r = parse_comp(p, depth)) < 0)
		return r;
	if (peek(p) < 0)
		return fail(p, p->pos, "unbalanced '(' at position %zu: ')' missing", open + 1);
	if (peek(p) != ')')
		return fail(p, p->pos, "expected ')' to close the '(' at position %zu, found %s", open + 1,
			    describe(peek(p), b));
	p->pos++;
	return 0;
}

static int parse_all(struct parser *p)
{
	char b[16];
	int r;

	if (p->len == 0)
		return fail(p, 0, "an empty filter");
	if ((r = parse_filter(p, 0)) < 0)
		return r;
	if (p->pos < p->len) {
		if (peek(p) == ')')
			return fail(p, p->pos, "unbalanced ')'");
		return fail(p, p->pos, "%s after the filter's closing ')'", describe(peek(p), b));
	}
	return 0;
}

int ldap_filter_check(const char *tmpl, const char *allowed, char *err, size_t errlen)
{
	struct parser p = {
		.s = tmpl,
		.len = tmpl ? strlen(tmpl) : 0,
		.vars = true,
		.allowed = allowed,
		.err = err,
		.errlen = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	return parse_all(&p);
}

int ldap_filter_valid(const char *filter, char *err, size_t errlen)
{
	struct parser p = {
		.s = filter,
		.len = filter ? strlen(filter) : 0,
		.vars = false,
		.err = err,
		.errlen = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	return parse_all(&p);
}

/* The value of %x, or -EINVAL when there is none. An empty value is none
 * too: next to a '*' it would turn a substring match into a presence
 * match, "(cn=*%u)" into "(cn=*)", everyone. */
static int var_value(const struct ldap_filter_vars *v, char x, const char **ret, size_t *ret_len)
{
	const char *s = NULL;
	size_t n = 0;

	if (v) {
		if (x == 'u')
			s = v->u, n = v->ulen;
		else if (x == 'c')
			s = v->c, n = v->clen;
		else if (x == 'd')
			s = v->d, n = v->dlen;
	}
	if (!s || !n)
		return -EINVAL;
	*ret = s;
	*ret_len = n;
	return 0;
}

/* One pass of the expansion: counts when out is NULL. Returns the length,
 * EXPAND_MAX + 1 when past it, or -EINVAL. */
static ssize_t expand_into(const char *tmpl, const struct ldap_filter_vars *v, char *out)
{
	size_t n = 0;

	for (const char *t = tmpl; *t; t++) {
		if (*t != '%') {
			if (n + 1 > EXPAND_MAX)
				return EXPAND_MAX + 1;
			if (out)
				out[n] = *t;
			n++;
			continue;
		}
		t++;
		if (*t == '%') {
			if (n + 1 > EXPAND_MAX)
				return EXPAND_MAX + 1;
			if (out)
				out[n] = '%';
			n++;
			continue;
		}
		const char *s;
		size_t len;
		if (!*t || var_value(v, *t, &s, &len) < 0)
			return -EINVAL;
		size_t m = escape_into(s, len, out ? out + n : NULL, EXPAND_MAX - n);
		if (m > EXPAND_MAX - n)
			return EXPAND_MAX + 1;
		n += m;
	}
	return (ssize_t)n;
}

int ldap_filter_expand(const char *tmpl, const struct ldap_filter_vars *v, char **ret)
{
	if (!tmpl)
		return -EINVAL;
	ssize_t n = expand_into(tmpl, v, NULL);
	if (n < 0)
		return (int)n;
	if (n > EXPAND_MAX)
		return -E2BIG;
	char *out = malloc((size_t)n + 1);
	if (!out)
		return -ENOMEM;
	expand_into(tmpl, v, out);
	out[n] = '\0';
	*ret = out;
	return 0;
}

static bool same_ci(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

int ldap_name_split(const char *in, size_t len, const char *domain, const char *netbios, const char **ret_name,
		    size_t *ret_len)
{
	if (!in || len == 0 || len > NAME_MAX_LEN || !scout_utf8_valid(in, len, true))
		return -EINVAL;

	const char *bs = memchr(in, '\\', len);
	const char *at = NULL;
	for (size_t i = len; i-- > 0;)
		if (in[i] == '@') {
			at = in + i;
			break;
		}
	if (bs && at)
		return -EINVAL;

	if (bs) {
		/* DOMAIN\user: the NetBIOS name, or (as Windows takes it) the DNS one */
		size_t dlen = (size_t)(bs - in);
		const char *name = bs + 1;
		size_t nlen = len - dlen - 1;
		if (!dlen || !nlen || memchr(name, '\\', nlen))
			return -EINVAL;
		bool any = !netbios || !*netbios;
		if (!any && !same_ci(in, dlen, netbios) && !(domain && *domain && same_ci(in, dlen, domain)))
			return -EXDEV;
		*ret_name = name;
		*ret_len = nlen;
		return 0;
	}
	if (at) {
		size_t nlen = (size_t)(at - in);
		size_t dlen = len - nlen - 1;
		if (!nlen || !dlen)
			return -EINVAL;
		if (domain && *domain && !same_ci(at + 1, dlen, domain))
			return -EXDEV;
		*ret_name = in;
		*ret_len = nlen;
		return 0;
	}
	*ret_name = in;
	*ret_len = len;
	return 0;
}
