/* LDAP filters from what people type (src/modules/ldap/filter.c): RFC 4515
 * escaping of every special and of bytes that are not UTF-8, the
 * injection strings of the issue, template checks with the position of
 * the fault, expansion, and the forms of an AD account name. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ldap/filter.h"

#define AD_FILTER "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%u))"

static void escape_is(const char *in, size_t len, const char *want)
{
	char out[256];
	ssize_t n = ldap_filter_escape(in, len, out, sizeof(out));

	assert_true(n >= 0);
	assert_int_equal((size_t)n, strlen(want));
	if (strcmp(out, want) != 0)
		fail_msg("escaped to '%s', want '%s'", out, want);
}

static void test_escape_specials(void **state)
{
	escape_is("alice", 5, "alice");
	escape_is("*", 1, "\\2a");
	escape_is("(", 1, "\\28");
	escape_is(")", 1, "\\29");
	escape_is("\\", 1, "\\5c");
	escape_is("a\0b", 3, "a\\00b");
	escape_is("", 0, "");
	/* what RFC 4515 does not require passes through, '%' included */
	escape_is("a=b&c|!d~e>f<g:h%u", 18, "a=b&c|!d~e>f<g:h%u");
	/* UTF-8 passes, bytes that are not UTF-8 are escaped one by one */
	escape_is("Jos\xc3\xa9 M\xc3\xbcller", 13, "Jos\xc3\xa9 M\xc3\xbcller");
	escape_is("\xf0\x9f\x96\xa8", 4, "\xf0\x9f\x96\xa8");
	escape_is("\xff", 1, "\\ff");
	escape_is("a\xc3", 2, "a\\c3");                    /* cut sequence */
	escape_is("\xc0\xaf", 2, "\\c0\\af");              /* overlong '/' */
	escape_is("\xed\xa0\x80", 3, "\\ed\\a0\\80");      /* surrogate */
	escape_is("\xc3\xa9\x80(", 4, "\xc3\xa9\\80\\28"); /* stray continuation */
}

static void test_escape_injections(void **state)
{
	escape_is("*)(uid=*", 8, "\\2a\\29\\28uid=\\2a");
	escape_is("admin)(|(uid=*", 14, "admin\\29\\28|\\28uid=\\2a");
	escape_is("admin\0", 6, "admin\\00");
}

static void test_escape_space(void **state)
{
	char out[8];

	assert_int_equal(ldap_filter_escape("abc", 3, out, 4), 3);
	assert_int_equal(ldap_filter_escape("abcd", 4, out, 4), -ENOSPC);
	assert_int_equal(ldap_filter_escape("*", 1, out, 4), 3);
	assert_string_equal(out, "\\2a");
	assert_int_equal(ldap_filter_escape("a*", 2, out, 4), -ENOSPC);
	assert_int_equal(ldap_filter_escape("", 0, out, 1), 0);
	assert_int_equal(ldap_filter_escape("", 0, out, 0), -ENOSPC);
}

static void expand_is(const char *tmpl, const char *u, size_t ulen, const char *want)
{
	struct ldap_filter_vars v = {.u = u, .ulen = ulen};
	char *out = NULL, err[256];

	assert_int_equal(ldap_filter_expand(tmpl, &v, &out), 0);
	if (strcmp(out, want) != 0)
		fail_msg("expanded to '%s', want '%s'", out, want);
	if (ldap_filter_valid(out, err, sizeof(err)) != 0)
		fail_msg("'%s' is not a valid filter: %s", out, err);
	free(out);
}

static void test_expand(void **state)
{
	struct ldap_filter_vars v = {.u = "alice", .ulen = 5, .c = "0042", .clen = 4, .d = "CN=A,DC=x", .dlen = 9};
	char *out;

	expand_is(AD_FILTER, "alice", 5, "(&(objectCategory=person)(objectClass=user)(sAMAccountName=alice))");
	expand_is("(uid=%u)", "*", 1, "(uid=\\2a)");
	expand_is("(uid=%u)", "*)(uid=*", 8, "(uid=\\2a\\29\\28uid=\\2a)");
	expand_is("(uid=%u)", "admin)(|(uid=*", 14, "(uid=admin\\29\\28|\\28uid=\\2a)");
	expand_is("(uid=%u)", "admin\0x", 7, "(uid=admin\\00x)");
	expand_is("(uid=%u)", "\xff\xfe", 2, "(uid=\\ff\\fe)");
	expand_is("(cn=*%u*)", "a*b", 3, "(cn=*a\\2ab*)");
	expand_is("(uid=%u%%)", "%u", 2, "(uid=%u%)");

	assert_int_equal(ldap_filter_expand("(|(employeeNumber=%c)(member=%d))", &v, &out), 0);
	assert_string_equal(out, "(|(employeeNumber=0042)(member=CN=A,DC=x))");
	free(out);

	/* a variable without a value, an unknown one, a '%' at the end */
	v.c = NULL;
	out = NULL;
	assert_int_equal(ldap_filter_expand("(employeeNumber=%c)", &v, &out), -EINVAL);
	assert_int_equal(ldap_filter_expand("(uid=%x)", &v, &out), -EINVAL);
	assert_int_equal(ldap_filter_expand("(uid=%)", &v, &out), -EINVAL);
	assert_int_equal(ldap_filter_expand("(uid=a)%", &v, &out), -EINVAL);
	assert_int_equal(ldap_filter_expand("(uid=%u)", NULL, &out), -EINVAL);
	/* an empty value is none: "(cn=*%u)" must not become "(cn=*)" */
	v.u = "";
	v.ulen = 0;
	assert_int_equal(ldap_filter_expand("(cn=*%u)", &v, &out), -EINVAL);
	assert_int_equal(ldap_filter_expand("(uid=%u)", &v, &out), -EINVAL);
	assert_null(out);
}

static void test_expand_big(void **state)
{
	/* 10 kB of stars: escaped to 30 kB, past the 16 KiB limit */
	size_t n = 10240;
	char *name = malloc(n), *out = NULL;
	assert_non_null(name);
	memset(name, '*', n);
	struct ldap_filter_vars v = {.u = name, .ulen = n};
	assert_int_equal(ldap_filter_expand("(uid=%u)", &v, &out), -E2BIG);
	assert_null(out);

	/* 10 kB of letters fit, and come out whole */
	memset(name, 'a', n);
	assert_int_equal(ldap_filter_expand("(uid=%u)", &v, &out), 0);
	assert_int_equal(strlen(out), n + 6);
	assert_int_equal(strspn(out + 5, "a"), n);
	free(out);

	/* exactly at the limit, and one past */
	char *big = malloc(16384 + 1);
	assert_non_null(big);
	memset(big, 'b', 16384 - 6);
	v.u = big;
	v.ulen = 16384 - 6;
	assert_int_equal(ldap_filter_expand("(uid=%u)", &v, &out), 0);
	assert_int_equal(strlen(out), 16384);
	free(out);
	v.ulen++;
	assert_int_equal(ldap_filter_expand("(uid=%u)", &v, &out), -E2BIG);
	free(big);
	free(name);
}

static void check_ok(const char *tmpl, const char *allowed)
{
	char err[256] = "x";

	if (ldap_filter_check(tmpl, allowed, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", tmpl, err);
	assert_string_equal(err, "");
}

static void check_bad(const char *tmpl, const char *allowed, const char *want)
{
	char err[256] = "";

	assert_int_equal(ldap_filter_check(tmpl, allowed, err, sizeof(err)), -EINVAL);
	if (strcmp(err, want) != 0)
		fail_msg("'%s': got '%s', want '%s'", tmpl, err, want);
}

static void test_check_good(void **state)
{
	check_ok(AD_FILTER, "u");
	check_ok("(&(objectClass=inetOrgPerson)(uid=%u))", "u");
	check_ok("(&(objectClass=groupOfNames)(member=%d))", "d");
	check_ok("(memberOf:1.2.840.113556.1.4.1941:=%d)", "d");
	check_ok("(|(memberOf:1.2.840.113556.1.4.1941:=CN=G1,DC=scout,DC=test)"
		 "(memberOf:1.2.840.113556.1.4.1941:=CN=G2\\2c x,DC=scout,DC=test))",
		 "");
	check_ok("(cn:dn:2.4.6.8.10:=Dino)", "");
	check_ok("(:dn:2.4.6.8.10:=Dino)", "");
	check_ok("(:caseExactMatch:=Fred)", "");
	check_ok("(cn:caseExactMatch:=Fred)", "");
	check_ok("(o:dn:=Ace Industry)", "");
	check_ok("(!(cn=Tim Howes))", "");
	check_ok("(|(mail=*)(cn=*)(sn=a*)(sn=*b)(sn=a*b*c))", "");
	check_ok("(&(age>=18)(age<=65)(cn~=jon))", "");
	check_ok("(cn=Babs Jensen)", "");
	check_ok("(o=univ*of*mich*)", "");
	check_ok("(seeAlso=)", "");
	check_ok("(cn=*\\2a*)", "");
	check_ok("(1.3.6.1.4.1.1466.0=\\04\\02\\48\\69)", "");
	check_ok("(sn=Lu\\c4\\8di\\c4\\87)", "");
	check_ok("(sn=Lu\xc4\x8di\xc4\x87)", "");
	check_ok("(cn;lang-en=x)", "");
	check_ok("(|(uid=%u)(mail=%u)(employeeNumber=%c))", "uc");
	check_ok("(description=100%%)", "");
	check_ok("(cn=*%u*)", "u");
}

static void test_check_bad(void **state)
{
	check_bad("", "u", "position 1: an empty filter");
	check_bad("uid=%u", "u", "position 1: expected '(', found 'u'");
	check_bad("(&(objectClass=user)(sAMAccountName=%u)", "u",
		  "position 40: unbalanced '(' at position 1: ')' missing");
	check_bad("(uid=%u))", "u", "position 9: unbalanced ')'");
	check_bad("(uid=%u) ", "u", "position 9: byte 0x20 after the filter's closing ')'");
	check_bad("(uid=%x)", "u", "position 6: unknown variable %x (known: %u, %c, %d; %% for a percent sign)");
	check_bad("(uid=%c)", "u", "position 6: %c is not available in this filter");
	check_bad("(member=%d)", NULL, "position 9: %d is not available in this filter");
	check_bad("(uid=%", "u", "position 6: a '%' at the end (write %% for a percent sign)");
	check_bad("(%u=x)", "u", "position 2: a % (variable or %%) cannot stand in an attribute name or matching rule");
	check_bad("(uid%u=x)", "u", "position 5: a % (variable or %%) cannot stand in an attribute name");
	check_bad("(cn:%u:=x)", "u",
		  "position 5: a % (variable or %%) cannot stand in an attribute name or matching rule");
	check_bad("(uid=a(b)", "", "position 7: a '(' inside a value (write \\28), or a ')' missing before it");
	check_bad("(uid=a\\2)", "", "position 7: '\\' must be followed by two hex digits (\\5c for a backslash)");
	check_bad("(uid=a\\zz)", "", "position 7: '\\' must be followed by two hex digits (\\5c for a backslash)");
	check_bad("(age>=1*)", "", "position 8: a '*' in this value (only '=' takes wildcards; write \\2a for a star)");
	check_bad("(age>1)", "", "position 6: expected '=' after '>'");
	check_bad("(uid)", "", "position 5: expected '=', '~=', '>=', '<=' or ':' after the attribute name, found ')'");
	check_bad("()", "", "position 2: an empty filter '()'");
	check_bad("(&)", "", "position 3: '&' must be followed by one or more filters in parentheses, found ')'");
	check_bad("(!(a=b)(c=d))", "", "position 8: expected ')' to close the '(' at position 1, found '('");
	check_bad("(:=x)", "", "position 2: an extensible match without an attribute needs a matching rule");
	check_bad("(:dn:=x)", "", "position 5: an extensible match without an attribute needs a matching rule");
	check_bad("(cn:1.2:x:=y)", "", "position 9: expected ':=' after the matching rule, found 'x'");
	check_bad("(1=x)", "", "position 2: a numeric OID (an attribute name) needs at least two numbers");
	check_bad("(1.02=x)", "", "position 4: a number with a leading zero in the OID of an attribute name");
	check_bad("(cn;=x)", "", "position 5: an empty attribute option after ';'");
	check_bad("(-cn=x)", "", "position 2: expected an attribute name, found '-'");
	check_bad("(uid=\xff)", "", "position 6: byte 0xff is not UTF-8 (escape a raw byte as \\XX)");
	check_bad("(uid=x", "", "position 7: unbalanced '(' at position 1: ')' missing");

	char deep[2 * 70 + 8] = "";
	for (int i = 0; i < 70; i++)
		strcat(deep, "(!");
	check_bad(deep, "", "position 129: filters nested deeper than 64");

	/* a short buffer gets what fits, NUL-terminated */
	char err[12];
	assert_int_equal(ldap_filter_check("(uid=%x)", "u", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "position 6:");
	assert_int_equal(ldap_filter_check("(uid=%x)", "u", NULL, 0), -EINVAL);
}

static void test_valid(void **state)
{
	char err[256];

	/* no variables in a plain filter: '%' is a character like another */
	assert_int_equal(ldap_filter_valid("(uid=%u)", err, sizeof(err)), 0);
	assert_int_equal(ldap_filter_valid("(uid=%)", err, sizeof(err)), 0);
	assert_int_equal(ldap_filter_valid("(%u=x)", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "position 2: expected an attribute name, found '%'");
}

static void test_rfc4515_examples(void **state)
{
	/* RFC 4515 section 4, every example */
	static const char *const examples[] = {
		"(cn=Babs Jensen)",
		"(!(cn=Tim Howes))",
		"(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
		"(o=univ*of*mich*)",
		"(seeAlso=)",
		"(cn:caseExactMatch:=Fred Flintstone)",
		"(cn:=Betty Rubble)",
		"(sn:dn:2.4.6.8.10:=Barney Rubble)",
		"(o:dn:=Ace Industry)",
		"(:1.2.3:=Wilma Flintstone)",
		"(:DN:2.4.6.8.10:=Dino)",
		"(o=Parens R Us \\28for all your parenthetical needs\\29)",
		"(cn=*\\2A*)",
		"(filename=C:\\5cMyFile)",
		"(bin=\\00\\00\\00\\04)",
		"(sn=Lu\\c4\\8di\\c4\\87)",
		"(1.3.6.1.4.1.1466.0=\\04\\02\\48\\69)",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++)
		if (ldap_filter_valid(examples[i], err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", examples[i], err);
}

static void split_is(const char *in, const char *domain, const char *netbios, int want_r, const char *want)
{
	const char *name = NULL;
	size_t len = 0;
	int r = ldap_name_split(in, strlen(in), domain, netbios, &name, &len);

	if (r != want_r)
		fail_msg("'%s': %d, want %d", in, r, want_r);
	if (r == 0) {
		assert_true(name >= in && name + len <= in + strlen(in));
		if (len != strlen(want) || memcmp(name, want, len) != 0)
			fail_msg("'%s' gave '%.*s', want '%s'", in, (int)len, name, want);
	}
}

static void test_name_split(void **state)
{
	split_is("alice", "scout.test", "SCOUT", 0, "alice");
	split_is("alice@scout.test", "scout.test", "SCOUT", 0, "alice");
	split_is("alice@SCOUT.Test", "scout.test", "SCOUT", 0, "alice");
	split_is("SCOUT\\alice", "scout.test", "SCOUT", 0, "alice");
	split_is("scout\\alice", "scout.test", "SCOUT", 0, "alice");
	split_is("scout.test\\alice", "scout.test", "SCOUT", 0, "alice");
	split_is("J\xc3\xb6rg@scout.test", "scout.test", "SCOUT", 0, "J\xc3\xb6rg");
	split_is("a@b@scout.test", "scout.test", "SCOUT", 0, "a@b");

	split_is("alice@other.test", "scout.test", "SCOUT", -EXDEV, NULL);
	split_is("OTHER\\alice", "scout.test", "SCOUT", -EXDEV, NULL);
	split_is("alice@scout.test.evil", "scout.test", "SCOUT", -EXDEV, NULL);

	/* no domain configured: any domain part goes */
	split_is("alice@any.test", NULL, NULL, 0, "alice");
	split_is("ANY\\alice", "", "", 0, "alice");

	split_is("", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("@scout.test", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("alice@", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("\\alice", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("SCOUT\\", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("SCOUT\\a\\b", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("SCOUT\\alice@scout.test", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("ali\tce", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("alice\x7f", "scout.test", "SCOUT", -EINVAL, NULL);
	split_is("al\xffice", "scout.test", "SCOUT", -EINVAL, NULL);

	const char *name;
	size_t len;
	assert_int_equal(ldap_name_split("ali\0ce", 6, NULL, NULL, &name, &len), -EINVAL);
	char big[300];
	memset(big, 'a', sizeof(big));
	assert_int_equal(ldap_name_split(big, 256, NULL, NULL, &name, &len), 0);
	assert_int_equal(len, 256);
	assert_int_equal(ldap_name_split(big, 257, NULL, NULL, &name, &len), -EINVAL);
	assert_int_equal(ldap_name_split(big, 10240, NULL, NULL, &name, &len), -EINVAL);

	/* the injection strings are names: they split, and escape */
	split_is("*", "scout.test", "SCOUT", 0, "*");
	split_is("*)(uid=*", "scout.test", "SCOUT", 0, "*)(uid=*");
	split_is("admin)(|(uid=*", "scout.test", "SCOUT", 0, "admin)(|(uid=*");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_specials),  cmocka_unit_test(test_escape_injections),
		cmocka_unit_test(test_escape_space),     cmocka_unit_test(test_expand),
		cmocka_unit_test(test_expand_big),       cmocka_unit_test(test_check_good),
		cmocka_unit_test(test_check_bad),        cmocka_unit_test(test_valid),
		cmocka_unit_test(test_rfc4515_examples), cmocka_unit_test(test_name_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
