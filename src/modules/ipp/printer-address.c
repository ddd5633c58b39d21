/* What names a printer: the spec parser (GUID, IP, HOST:PORT, [v6]:port,
 * ipp(s):// URI) that resolution, the commands and the [ipp] printers
 * option share, GUIDs, and the printers option itself. No I/O: a host
 * name stays a name, resolved when scout connects. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "ipp.h"
#include "printers.h"

/* ---- addresses ------------------------------------------------------------ */

static bool is_hex(char c)
{
	return isxdigit((unsigned char)c);
}

bool ipp_guid_valid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	size_t i, d = 0;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

int ipp_guid_new(char guid[37])
{
	uint8_t b[16];
	int r;

	if ((r = uv_random(NULL, NULL, b, sizeof(b), 0, NULL)) < 0)
		return r;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* an RFC 9562 version 4 UUID: 122 random bits */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(guid, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static bool host_name_valid(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* Takes host (n bytes, brackets removed) into sp->host: an IP in its
 * canonical form, or a host name in lower case. */
static int take_host(struct ipp_spec *sp, const char *host, size_t n, bool bracketed, char *why, size_t whylen)
{
	char h[256];
	uint8_t a[16];

	if (n == 0 || n >= sizeof(h)) {
		snprintf(why, whylen, "no host name or address");
		return -EINVAL;
	}
	memcpy(h, host, n);
	h[n] = 0;
	if (uv_inet_pton(AF_INET6, h, a) == 0) {
		uv_inet_ntop(AF_INET6, a, sp->host, sizeof(sp->host));
		sp->ip = true;
		return 0;
	}
	if (bracketed) {
		snprintf(why, whylen, "'[%s]' is not an IPv6 address", h);
		return -EINVAL;
	}
	if (uv_inet_pton(AF_INET, h, a) == 0) {
		uv_inet_ntop(AF_INET, a, sp->host, sizeof(sp->host));
		sp->ip = true;
		return 0;
	}
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!host_name_valid(h)) {
		snprintf(why, whylen, "'%s' is not an IP address or a host name", h);
		return -EINVAL;
	}
	memcpy(sp->host, h, n + 1);
	return 0;
}

static int take_port(struct ipp_spec *sp, const char *p, size_t n, char *why, size_t whylen)
{
	long port = 0;

	if (n == 0 || n > 5) {
		snprintf(why, whylen, "the port must be 1 to 65535");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i])) {
			snprintf(why, whylen, "the port must be 1 to 65535");
			return -EINVAL;
		}
		port = port * 10 + (p[i] - '0');
	}
	if (port < 1 || port > 65535) {
		snprintf(why, whylen, "the port must be 1 to 65535");
		return -EINVAL;
	}
	sp->port = (int)port;
	return 0;
}

/* HOST, HOST:PORT, IPv6, [IPv6], [IPv6]:PORT (n bytes of a). */
static int parse_authority(struct ipp_spec *sp, const char *a, size_t n, char *why, size_t whylen)
{
	if (memchr(a, '@', n)) {
		snprintf(why, whylen, "user names do not belong in a printer's address");
		return -EINVAL;
	}
	if (n && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (!close) {
			snprintf(why, whylen, "'[' without ']'");
			return -EINVAL;
		}
		size_t hl = (size_t)(close - a - 1), rest = n - hl - 2;
		int r = take_host(sp, a + 1, hl, true, why, whylen);
		if (r < 0)
			return r;
		if (rest == 0)
			return 0;
		if (close[1] != ':') {
			snprintf(why, whylen, "expected ':PORT' after ']'");
			return -EINVAL;
		}
		return take_port(sp, close + 2, rest - 1, why, whylen);
	}
	const char *colon = memchr(a, ':', n);
	if (colon && memchr(colon + 1, ':', n - (size_t)(colon - a) - 1)) /* a bare IPv6 address */
		return take_host(sp, a, n, true, why, whylen);
	if (!colon)
		return take_host(sp, a, n, false, why, whylen);
	int r = take_host(sp, a, (size_t)(colon - a), false, why, whylen);
	return r < 0 ? r : take_port(sp, colon + 1, n - (size_t)(colon - a) - 1, why, whylen);
}

int ipp_printer_spec_parse(const char *spec, struct ipp_spec *ret, char *why, size_t whylen)
{
	struct ipp_spec sp = {.port = 631};
	size_t n;
	int r;

	while (*spec == ' ' || *spec == '\t')
		spec++;
	n = strlen(spec);
	while (n && (spec[n - 1] == ' ' || spec[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(((struct ipp_printer *)0)->address)) {
		snprintf(why, whylen,
			 "a printer is named by an IP address, HOST:PORT, an ipp:// or ipps:// URI or "
			 "its GUID (at most 299 characters)");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)spec[i] <= ' ' || spec[i] == 0x7f) {
			snprintf(why, whylen, "spaces or control characters in a printer's address");
			return -EINVAL;
		}
	char s[300];
	memcpy(s, spec, n);
	s[n] = 0;
	if (ipp_guid_valid(s)) {
		for (size_t i = 0; i < n; i++)
			sp.guid[i] = (char)tolower((unsigned char)s[i]);
		sp.is_guid = true;
		*ret = sp;
		return 0;
	}
	const char *a = s;
	if (strncasecmp(s, "ipp://", 6) == 0 || strncasecmp(s, "ipps://", 7) == 0) {
		sp.uri = true;
		sp.tls = s[3] == 's' || s[3] == 'S';
		a = s + (sp.tls ? 7 : 6);
		const char *slash = strchr(a, '/');
		size_t an = slash ? (size_t)(slash - a) : strlen(a);
		if (slash) {
			if (strlen(slash) >= sizeof(sp.path) || strpbrk(slash, "?#")) {
				snprintf(why, whylen,
					 "the URI's path must be under 256 characters, without '?' or '#'");
				return -EINVAL;
			}
			snprintf(sp.path, sizeof(sp.path), "%s", slash);
		}
		if ((r = parse_authority(&sp, a, an, why, whylen)) < 0)
			return r;
	} else if (strstr(s, "://")) {
		snprintf(why, whylen, "only ipp:// and ipps:// URIs name a printer");
		return -EINVAL;
	} else if (strchr(s, '/')) {
		snprintf(why, whylen, "a path needs an ipp:// or ipps:// URI");
		return -EINVAL;
	} else if ((r = parse_authority(&sp, s, n, why, whylen)) < 0) {
		return r;
	}
	*ret = sp;
	return 0;
}

/* ---- the [ipp] printers list ---------------------------------------------- */

static int conf_add(struct ipp_printers_conf *c, char *item, char *err, size_t errlen)
{
	struct ipp_conf_printer e = {0};
	struct ipp_spec sp;
	char why[200];
	char *eq = strchr(item, '='), *addr = item;

	if (eq) {
		*eq = 0;
		char *name = item;
		addr = eq + 1;
		while (*name == ' ' || *name == '\t')
			name++;
		for (char *end = name + strlen(name); end > name && (end[-1] == ' ' || end[-1] == '\t');)
			*--end = 0;
		if (!*name || strlen(name) >= sizeof(e.name)) {
			snprintf(err, errlen, "'%s=...': a printer's name must be 1 to %zu characters", name,
				 sizeof(e.name) - 1);
			return -EINVAL;
		}
		for (char *p = name; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) {
				snprintf(err, errlen, "'%s': a printer's name is letters, digits, '-', '_' and '.'",
					 name);
				return -EINVAL;
			}
		if (ipp_guid_valid(name)) {
			snprintf(err, errlen, "'%s': a printer's name cannot look like a GUID", name);
			return -EINVAL;
		}
		snprintf(e.name, sizeof(e.name), "%s", name);
	}
	while (*addr == ' ' || *addr == '\t')
		addr++;
	for (char *end = addr + strlen(addr); end > addr && (end[-1] == ' ' || end[-1] == '\t');)
		*--end = 0;
	if (ipp_printer_spec_parse(addr, &sp, why, sizeof(why)) < 0) {
		snprintf(err, errlen,
			 "'%s': %s; each entry is NAME=ADDRESS or ADDRESS, ADDRESS an IP, HOST:PORT or "
			 "ipp(s):// URI",
			 addr, why);
		return -EINVAL;
	}
	if (sp.is_guid) {
		snprintf(err, errlen, "'%s': list printers by address; a GUID is given to them by scout", addr);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n; i++)
		if (e.name[0] && strcmp(c->v[i].name, e.name) == 0) {
			snprintf(err, errlen, "the name '%s' is given twice", e.name);
			return -EINVAL;
		}
	if (c->n == 256) {
		snprintf(err, errlen, "at most 256 printers can be listed");
		return -EINVAL;
	}
	struct ipp_conf_printer *v = realloc(c->v, (c->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->v = v;
	snprintf(e.address, sizeof(e.address), "%s", addr);
	c->v[c->n++] = e;
	return 0;
}

int ipp_printers_conf_parse(const char *value, void *field, char *err, size_t errlen)
{
	struct ipp_printers_conf c = {0};
	char *copy = strdup(value), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",\n", &save); tok && r >= 0; tok = strtok_r(NULL, ",\n", &save)) {
		char *t = tok;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t)
			r = conf_add(&c, t, err, errlen);
	}
	free(copy);
	if (r < 0) {
		free(c.v);
		return r;
	}
	ipp_printers_conf_free(field);
	*(struct ipp_printers_conf *)field = c;
	return 0;
}

void ipp_printers_conf_free(void *field)
{
	struct ipp_printers_conf *c = field;

	free(c->v);
	c->v = NULL;
	c->n = 0;
}
