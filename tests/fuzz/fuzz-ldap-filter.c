/* libFuzzer target for LDAP filters (src/modules/ldap/filter.c): a
 * template is checked; one that passes expands, with any values, to a
 * valid filter of the same structure (the same '(', ')' and '*' in the
 * same order: a value never adds a clause or a wildcard); escaping is
 * reversible and leaves no special; a name split gives a part of the name.
 *
 * Input: a flags byte (bit 0..2: %u %c %d allowed; bit 3: a domain is
 * configured), the template up to a NUL, then the values: a length byte
 * and that many bytes for %u, the same for %c, the rest for %d. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "loop/utf8.h"
#include "modules/ldap/filter.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* The filter's structural characters, in order; in a template, variables
 * and %% stand for a value and add none. */
static size_t skeleton(const char *s, bool tmpl, char *out)
{
	size_t n = 0;

	for (; *s; s++) {
		if (tmpl && *s == '%' && s[1]) {
			s++;
			continue;
		}
		if (*s == '(' || *s == ')' || *s == '*')
			out[n++] = *s;
	}
	out[n] = '\0';
	return n;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_escape(const char *in, size_t len)
{
	size_t size = 3 * len + 1;
	char *out = malloc(size), *back = malloc(len + 1);
	CHECK(out && back);

	ssize_t n = ldap_filter_escape(in, len, out, size);
	CHECK(n >= 0 && (size_t)n < size && out[n] == '\0' && strlen(out) == (size_t)n);
	CHECK(scout_utf8_valid(out, (size_t)n, false));
	size_t m = 0;
	for (ssize_t i = 0; i < n; i++) {
		CHECK(out[i] != '*' && out[i] != '(' && out[i] != ')');
		if (out[i] == '\\') {
			CHECK(i + 2 < n && hexval(out[i + 1]) >= 0 && hexval(out[i + 2]) >= 0);
			back[m++] = (char)(hexval(out[i + 1]) << 4 | hexval(out[i + 2]));
			i += 2;
		} else {
			back[m++] = out[i];
		}
	}
	CHECK(m == len && memcmp(back, in, len) == 0);
	if (n > 0)
		CHECK(ldap_filter_escape(in, len, out, (size_t)n) == -ENOSPC);
	free(out);
	free(back);
}

static void check_split(const char *in, size_t len, bool domain)
{
	const char *name = NULL;
	size_t nlen = 0;
	int r = ldap_name_split(in, len, domain ? "scout.test" : NULL, domain ? "SCOUT" : NULL, &name, &nlen);

	CHECK(r == 0 || r == -EINVAL || r == -EXDEV);
	if (r == -EXDEV)
		CHECK(domain);
	if (r < 0)
		return;
	CHECK(len > 0 && len <= 256);
	CHECK(name >= in && nlen > 0 && name + nlen <= in + len);
	CHECK(scout_utf8_valid(name, nlen, true));
	if (nlen < len)
		CHECK(!memchr(name, '\\', nlen));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	const char *p = (const char *)data + 1, *end = (const char *)data + size;
	const char *nul = memchr(p, '\0', (size_t)(end - p));
	if (!nul)
		return 0;
	char *tmpl = strndup(p, (size_t)(nul - p));
	CHECK(tmpl);
	p = nul + 1;

	const char *val[3];
	size_t vlen[3];
	for (int i = 0; i < 3; i++) {
		size_t n = (size_t)(end - p);
		if (i < 2 && p < end) {
			n = (unsigned char)*p++;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
		}
		val[i] = p;
		vlen[i] = n;
		p += n;
	}

	char allowed[4] = "";
	size_t na = 0;
	for (int i = 0; i < 3; i++)
		if (flags & (1u << i))
			allowed[na++] = "ucd"[i];
	allowed[na] = '\0';

	char err[256];
	int r = ldap_filter_check(tmpl, allowed, err, sizeof(err));
	CHECK(r == 0 || r == -EINVAL);
	CHECK(r == 0 ? err[0] == '\0' : strncmp(err, "position ", 9) == 0);
	(void)ldap_filter_valid(tmpl, err, sizeof(err));

	if (r == 0) {
		struct ldap_filter_vars v = {
			.u = flags & 1 ? val[0] : NULL,
			.ulen = vlen[0],
			.c = flags & 2 ? val[1] : NULL,
			.clen = vlen[1],
			.d = flags & 4 ? val[2] : NULL,
			.dlen = vlen[2],
		};
		char *out = NULL;
		int e = ldap_filter_expand(tmpl, &v, &out);
		/* an empty value is refused (next to a '*' it would make a
		 * substring match a presence match) */
		bool empty = ((flags & 1) && !vlen[0]) || ((flags & 2) && !vlen[1]) || ((flags & 4) && !vlen[2]);
		CHECK(e == 0 || e == -E2BIG || (e == -EINVAL && empty));
		if (e == 0) {
			CHECK(strlen(out) <= 16384);
			if (ldap_filter_valid(out, err, sizeof(err)) != 0) {
				fprintf(stderr, "template '%s' expanded to '%s': %s\n", tmpl, out, err);
				CHECK(!"an expansion of a checked template is a valid filter");
			}
			if (!strchr(out, '%'))
				CHECK(ldap_filter_check(out, "", err, sizeof(err)) == 0);
			char *s1 = malloc(strlen(tmpl) + 1), *s2 = malloc(strlen(out) + 1);
			CHECK(s1 && s2);
			skeleton(tmpl, true, s1);
			skeleton(out, false, s2);
			CHECK(strcmp(s1, s2) == 0);
			free(s1);
			free(s2);
			free(out);
		}
	}

	for (int i = 0; i < 3; i++)
		check_escape(val[i], vlen[i]);
	check_split(val[0], vlen[0], flags & 8);
	check_split(tmpl, strlen(tmpl), flags & 8);
	free(tmpl);
	return 0;
}
