/* Charset conversion with iconv (glibc knows ISO-8859-x, HP-ROMAN8, the
 * Windows and Asian sets), plus the clean-up every printer string needs. */
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "loop/utf8.h"

static const struct {
	unsigned mib;
	const char *name;
} charsets[] = {
	{3, "ASCII"},        {4, "ISO-8859-1"}, {5, "ISO-8859-2"},    {6, "ISO-8859-3"},      {7, "ISO-8859-4"},
	{8, "ISO-8859-5"},   {9, "ISO-8859-6"}, {10, "ISO-8859-7"},   {11, "ISO-8859-8"},     {12, "ISO-8859-9"},
	{13, "ISO-8859-10"}, {17, "SHIFT_JIS"}, {18, "EUC-JP"},       {36, "KS_C_5601-1987"}, {38, "EUC-KR"},
	{39, "ISO-2022-JP"}, {106, "UTF-8"},    {109, "ISO-8859-13"}, {110, "ISO-8859-14"},   {111, "ISO-8859-15"},
	{113, "GBK"},        {114, "GB18030"},  {1013, "UTF-16BE"},   {1014, "UTF-16LE"},     {1015, "UTF-16"},
	{2004, "HP-ROMAN8"}, {2025, "GB2312"},  {2026, "BIG5"},       {2084, "KOI8-R"},       {2250, "CP1250"},
	{2251, "CP1251"},    {2252, "CP1252"},  {2253, "CP1253"},     {2254, "CP1254"},
};

/* ISO-8859-1 to UTF-8: every byte has a meaning. */
static char *latin1(const uint8_t *p, size_t len)
{
	char *out = malloc(len * 2 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < 0x80) {
			*o++ = (char)p[i];
		} else {
			*o++ = (char)(0xC0 | p[i] >> 6);
			*o++ = (char)(0x80 | (p[i] & 0x3F));
		}
	}
	*o = 0;
	return out;
}

static char *convert(const uint8_t *p, size_t len, const char *from)
{
	iconv_t cd = iconv_open("UTF-8", from);
	size_t cap = len * 4 + 8, left = cap - 1, inleft = len;
	char *out, *o, *in = (char *)p;

	if (cd == (iconv_t)-1)
		return NULL;
	out = malloc(cap);
	if (!out) {
		iconv_close(cd);
		return NULL;
	}
	o = out;
	while (inleft) {
		if (iconv(cd, &in, &inleft, &o, &left) != (size_t)-1)
			break;
		if (errno == E2BIG)
			break; /* cannot happen with 4x room; stop rather than loop */
		/* an invalid or incomplete sequence: a '?' for that byte, go on */
		if (left < 2)
			break;
		*o++ = '?';
		left--;
		in++;
		inleft--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
	*o = 0;
	iconv_close(cd);
	return out;
}

/* Bytes from the wire are not NUL-terminated: copy exactly len (strndup
 * may look one past them). */
static char *copy0(const uint8_t *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = 0;
	}
	return s;
}

char *snmp_text(const uint8_t *p, size_t len, unsigned charset)
{
	const char *name = NULL;
	char *s = NULL;

	while (len && p[len - 1] == 0)
		len--; /* NUL padding some agents add */
	for (size_t i = 0; i < sizeof(charsets) / sizeof(charsets[0]); i++)
		if (charsets[i].mib == charset)
			name = charsets[i].name;
	if (scout_utf8_valid(p, len, false) && (!name || charset == SNMP_CHARSET_UTF8 || charset == 3))
		s = copy0(p, len);
	else if (name)
		s = convert(p, len, name);
	if (!s || !scout_utf8_valid(s, strlen(s), false)) {
		free(s);
		s = latin1(p, len);
	}
	if (!s)
		return NULL;
	/* embedded NULs cut the text: keep what came before, as agents mean */
	for (unsigned char *c = (unsigned char *)s; *c; c++)
		if ((*c < 0x20 && *c != '\n') || *c == 0x7F)
			*c = ' ';
	return s;
}

char *snmp_trim(char *s)
{
	size_t n;

	if (!s)
		return NULL;
	size_t lead = 0;
	while (s[lead] && isspace((unsigned char)s[lead]))
		lead++;
	if (lead)
		memmove(s, s + lead, strlen(s + lead) + 1);
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

int snmp_split_list(const char *text, int (*fn)(char *item, void *arg), void *arg)
{
	char *copy = strdup(text), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",\n", &save); tok && rc >= 0; tok = strtok_r(NULL, ",\n", &save))
		if (*snmp_trim(tok))
			rc = fn(tok, arg);
	free(copy);
	return rc;
}
