/* Unit tests for src/modules/snmp/text.c: printer strings in UTF-8,
 * ISO-8859-2, HP-Roman8 and unknown charsets become valid, printable UTF-8;
 * control characters, NUL padding and bytes that are invalid in their
 * charset are dealt with; and snmp_trim. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/snmp/text.h"

/* An independent check of UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t cp;
		int n;
		if (*p < 0x80) {
			p++;
			continue;
		} else if ((*p & 0xE0) == 0xC0) {
			cp = *p & 0x1F, n = 1;
		} else if ((*p & 0xF0) == 0xE0) {
			cp = *p & 0x0F, n = 2;
		} else if ((*p & 0xF8) == 0xF0) {
			cp = *p & 0x07, n = 3;
		} else {
			return false;
		}
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
	}
	return true;
}

/* Valid UTF-8 with no control character but newline. */
static void assert_clean(const char *s)
{
	assert_non_null(s);
	if (!utf8_ok(s))
		fail_msg("not UTF-8: '%s'", s);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n') || *p == 0x7F)
			fail_msg("control character 0x%02x in '%s'", *p, s);
}

static void expect(const void *in, size_t len, unsigned charset, const char *want)
{
	char *s = snmp_text(in, len, charset);

	assert_clean(s);
	assert_string_equal(s, want);
	free(s);
}

static void test_utf8(void **state)
{
	(void)state;

	expect("Stap. Kopie\xc3\xabn:01", 17, SNMP_CHARSET_UTF8, "Stap. Kopie\xc3\xabn:01");
	expect("Stap. Kopie\xc3\xabn:01", 17, SNMP_CHARSET_UNKNOWN, "Stap. Kopie\xc3\xabn:01");
	/* CJK and a 4-byte character */
	expect("\xe7\x9d\xa1\xe7\x9c\xa0 \xf0\x9f\x96\xa8", 11, SNMP_CHARSET_UTF8,
	       "\xe7\x9d\xa1\xe7\x9c\xa0 \xf0\x9f\x96\xa8");
	expect("plain ASCII", 11, 3, "plain ASCII");
	expect("", 0, SNMP_CHARSET_UTF8, "");
	expect("", 0, SNMP_CHARSET_UNKNOWN, "");
	expect("", 0, 5, "");
}

static void test_iso8859_2(void **state)
{
	static const uint8_t tryb[] = "TRYB U\xa6PIENIA      ";
	(void)state;

	/* the Brother panel text of brotherlib_dcp-9020cdw */
	char *s = snmp_text(tryb, sizeof(tryb) - 1, 5);
	assert_clean(s);
	assert_string_equal(s, "TRYB U\xc5\x9aPIENIA      ");
	assert_string_equal(snmp_trim(s), "TRYB U\xc5\x9aPIENIA");
	free(s);
	/* the declared charset wins over bytes that happen to be UTF-8 */
	expect("\xc5\xb9", 2, 5, "\xc4\xb9\xc5\xa1");
	/* ISO-8859-5 (charset 8) and -9 (charset 12) too */
	expect("\xbf\xe0\xd8\xdd\xe2\xd5\xe0", 7, 8, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xbd\xd1\x82\xd0\xb5\xd1\x80");
	expect("Kopyalama \xfd\xfe", 12, 12, "Kopyalama \xc4\xb1\xc5\x9f");
}

static void test_roman8(void **state)
{
	(void)state;

	/* the Brother panel text of brotherlib_dcp-7070dw: 0xCD is e-diaeresis */
	expect("Stap. Kopie\xcdn:01", 16, SNMP_CHARSET_ROMAN8, "Stap. Kopie\xc3\xabn:01");
	expect("\xc5\xc8\xcf", 3, SNMP_CHARSET_ROMAN8, "\xc3\xa9\xc3\xa0\xc3\xbc");
}

static void test_unknown_charset(void **state)
{
	(void)state;

	/* not UTF-8 and no charset named: read as ISO-8859-1 */
	expect("Caf\xe9", 4, SNMP_CHARSET_UNKNOWN, "Caf\xc3\xa9");
	expect("\xff\xfe", 2, SNMP_CHARSET_UNKNOWN, "\xc3\xbf\xc3\xbe");
	/* a charset number nobody knows is the same */
	expect("Caf\xe9", 4, 9999, "Caf\xc3\xa9");
	/* overlong forms and surrogates are not UTF-8 */
	expect("\xc0\xaf", 2, SNMP_CHARSET_UNKNOWN, "\xc3\x80\xc2\xaf");
	expect("\xed\xa0\x80", 3, SNMP_CHARSET_UNKNOWN, "\xc3\xad\xc2\xa0\xc2\x80");
	expect("\xf4\x90\x80\x80", 4, SNMP_CHARSET_UNKNOWN, "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80");
	/* a truncated sequence at the end */
	expect("ab\xe2\x82", 4, SNMP_CHARSET_UNKNOWN, "ab\xc3\xa2\xc2\x82");
}

static void test_controls_and_nul(void **state)
{
	(void)state;

	expect("a\tb\rc\x01"
	       "d\x7f"
	       "e\x1b",
	       10, SNMP_CHARSET_UNKNOWN, "a b c d e ");
	expect("line 1\nline 2", 13, SNMP_CHARSET_UNKNOWN, "line 1\nline 2");
	expect("a\tb", 3, 5, "a b");
	expect("a\tb", 3, SNMP_CHARSET_ROMAN8, "a b");
	/* NUL padding goes, all of it */
	expect("abc\0\0\0", 6, SNMP_CHARSET_UNKNOWN, "abc");
	expect("abc\0\0\0", 6, 5, "abc");
	expect("\0\0\0\0", 4, SNMP_CHARSET_UTF8, "");
	/* an embedded NUL ends the text, as the agent meant */
	expect("ab\0cd", 5, SNMP_CHARSET_UNKNOWN, "ab");
	expect("ab\0\xe9", 4, SNMP_CHARSET_UNKNOWN, "ab");
}

static void test_invalid_for_charset(void **state)
{
	char *s;
	(void)state;

	/* declared UTF-8, but not */
	s = snmp_text((const uint8_t *)"ok \xff\xfe ok", 8, SNMP_CHARSET_UTF8);
	assert_clean(s);
	assert_non_null(strstr(s, "ok "));
	free(s);
	/* declared ASCII, with 8-bit bytes */
	s = snmp_text((const uint8_t *)"caf\xe9", 4, 3);
	assert_clean(s);
	assert_int_equal(strncmp(s, "caf", 3), 0);
	free(s);
	/* Shift_JIS ending inside a double-byte character */
	s = snmp_text((const uint8_t *)"\x82\xa0\x81", 3, 17);
	assert_clean(s);
	assert_int_equal(strncmp(s, "\xe3\x81\x82", 3), 0); /* HIRAGANA A */
	free(s);
	/* UTF-16 of odd length */
	s = snmp_text((const uint8_t *)"\x00"
				       "A\x00"
				       "B\x00",
		      5, 1013);
	assert_clean(s);
	assert_int_equal(strncmp(s, "AB", 2), 0);
	free(s);
	/* a lone UTF-16 surrogate */
	s = snmp_text((const uint8_t *)"\xd8\x00\x00"
				       "A",
		      4, 1013);
	assert_clean(s);
	free(s);

	/* any bytes in any charset the table knows */
	static const unsigned charsets[] = {0,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,
					    17,   18,   36,   38,   39,   106,  109,  110,  111,  113,  114,  1013,
					    1014, 1015, 2004, 2025, 2026, 2084, 2250, 2251, 2252, 2253, 2254, 77};
	uint32_t seed = 12345;
	uint8_t buf[64];
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)(round % 64);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
		}
		for (size_t c = 0; c < sizeof(charsets) / sizeof(charsets[0]); c++) {
			s = snmp_text(buf, len, charsets[c]);
			assert_clean(s);
			free(s);
		}
	}
}

static void test_trim(void **state)
{
	char a[] = "  a b  ", b[] = "", c[] = "   ", d[] = "\t\n x \r\n", e[] = "x", f[] = "\xc3\xa9 ";
	(void)state;

	assert_ptr_equal(snmp_trim(a), a);
	assert_string_equal(a, "a b");
	assert_string_equal(snmp_trim(b), "");
	assert_string_equal(snmp_trim(c), "");
	assert_string_equal(snmp_trim(d), "x");
	assert_string_equal(snmp_trim(e), "x");
	assert_string_equal(snmp_trim(f), "\xc3\xa9"); /* bytes of UTF-8 are not blanks */
	assert_null(snmp_trim(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_iso8859_2),
		cmocka_unit_test(test_roman8),
		cmocka_unit_test(test_unknown_charset),
		cmocka_unit_test(test_controls_and_nul),
		cmocka_unit_test(test_invalid_for_charset),
		cmocka_unit_test(test_trim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
