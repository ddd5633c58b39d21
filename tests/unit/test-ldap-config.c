/* The [ldap] section: what --check-config, start and reload refuse (with
 * the key's line), what they warn about, and the settings derived from
 * schema and domain (base, NETBIOS name, filters, the card search). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop/agent.h"
#include "loop/config.h"
#include "modules/ldap/ldap.h"

static const struct scout_schema *schema;

/* Parses [ldap] enabled = yes plus body; returns the number of errors and
 * the messages joined in out. */
static size_t check(const char *body, char *out, size_t outsize, struct scout_config **ret_cfg)
{
	char text[4096];
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	size_t o = 0, errors;

	snprintf(text, sizeof(text), "[health]\nenabled = no\n[ldap]\nenabled = yes\n%s", body);
	int r = scout_config_parse(schema, "t.ini", text, strlen(text), &d, &cfg);
	out[0] = '\0';
	for (size_t i = 0; i < d.n && o < outsize; i++)
		o += (size_t)snprintf(out + o, outsize - o, "%s\n", d.msgs[i]);
	errors = scout_diag_errors(&d);
	assert_int_equal(r == 0, errors == 0);
	scout_diag_free(&d);
	if (ret_cfg)
		*ret_cfg = cfg;
	else
		scout_config_free(cfg);
	return errors;
}

#define AD_OK                                                                       \
	"servers = ldaps://127.0.0.1\nbind_dn = CN=svc,CN=Users,DC=scout,DC=test\n" \
	"bind_password_file = /etc/scout/ldap-password\n"

static void expect_error(const char *body, const char *line, const char *what)
{
	char out[4096];

	if (check(body, out, sizeof(out), NULL) == 0)
		fail_msg("accepted:\n%s", body);
	if (!strstr(out, line) || !strstr(out, what))
		fail_msg("expected %s ... %s, got:\n%s", line, what, out);
}

static void expect_ok(const char *body, const char *warning)
{
	char out[4096];

	if (check(body, out, sizeof(out), NULL) != 0)
		fail_msg("refused:\n%s\n%s", body, out);
	if (warning && !strstr(out, warning))
		fail_msg("expected a warning %s, got:\n%s", warning, out);
	if (!warning && out[0])
		fail_msg("unexpected:\n%s", out);
}

static void test_minimal(void **state)
{
	(void)state;
	expect_ok(AD_OK "base = DC=scout,DC=test\n", NULL);
	/* anonymous searches need no password */
	expect_ok("servers = ldaps://a.example.com:636, ldap://b.example.com\nbase = dc=example,dc=com\nschema = "
		  "openldap\n",
		  NULL);
	/* domain alone: SRV discovery and base from it */
	expect_ok("domain = scout.test\n", NULL);
}

static void test_servers(void **state)
{
	(void)state;
	/* line 5: [health] 1-2, [ldap] 3, enabled 4, the key 5 */
	expect_error("base = DC=x\n", "t.ini:3", "servers (ldaps://HOST, ...) or domain");
	expect_error("servers = http://dc1\nbase = DC=x\n", "t.ini:5", "not an ldaps:// or ldap:// URI");
	expect_error("servers = ldaps://\nbase = DC=x\n", "t.ini:5", "expected ldaps://HOST[:PORT]");
	expect_error("servers = ldaps://dc1/dc=x\nbase = DC=x\n", "t.ini:5", "no path");
	expect_error("domain = not a domain\n", "t.ini:5", "is not a DNS domain name");
}

static void test_bind(void **state)
{
	(void)state;
	expect_error("servers = ldaps://dc1\nbase = DC=x\nbind_dn = CN=svc,DC=x\n", "t.ini:7",
		     "bind_dn needs bind_password_file");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nbind_password_file = /etc/pw\n", "t.ini:7",
		     "bind_password_file is set but bind_dn is not");
	/* plaintext is for anonymous searches only */
	expect_error(AD_OK "base = DC=x\nallow_plaintext = yes\n", "t.ini:9", "never sent without TLS");
	expect_ok("servers = ldap://dc1\nbase = DC=x\nallow_plaintext = yes\n", "may answer without TLS");
	/* there is no inline password */
	expect_error(AD_OK "base = DC=x\nbind_password = secret\n", "t.ini:9", "bind_password");
}

static void test_credential_paths(void **state)
{
	char out[4096];

	(void)state;
	expect_ok("servers = ldaps://dc1\nbase = DC=x\nbind_dn = CN=svc,DC=x\nbind_password_file = %d/ldap-bind\n",
		  NULL);
	expect_error("servers = ldaps://dc1\nbase = DC=x\nbind_dn = CN=svc,DC=x\nbind_password_file = %x/ldap-bind\n",
		     "t.ini:8", "%d/");
	expect_ok("servers = ldaps://dc1\nbase = DC=x\nbind_dn = CN=svc,DC=x\nbind_password_file = pw.txt\n",
		  "relative");
	/* the password never shows in a message */
	assert_int_not_equal(check("servers = ldaps://dc1\nbase = DC=x\nbind_dn = CN=svc,DC=x\n", out, sizeof(out),
				   NULL),
			     0);
}

static void test_base(void **state)
{
	(void)state;
	expect_error("servers = ldaps://dc1\n", "t.ini:3", "base is required without domain");
	expect_error("servers = ldaps://dc1\nbase = example.com\n", "t.ini:6", "is not a DN");
	expect_error("servers = ldaps://dc1\nbase = DC=x\ngroup_base = groups\nschema = openldap\n", "t.ini:7",
		     "is not a DN");
}

static void test_templates(void **state)
{
	(void)state;
	expect_error("servers = ldaps://dc1\nbase = DC=x\nuser_filter = (uid=%u\n", "t.ini:7", "user_filter");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nuser_filter = (uid=%c)\n", "t.ini:7", "user_filter");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nuser_filter = (objectClass=person)\n", "t.ini:7",
		     "has no %u");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nuser_filter = uid=%u\n", "t.ini:7", "user_filter");
	expect_error("servers = ldaps://dc1\nbase = DC=x\ncard_attribute = employeeNumber\ncard_filter = "
		     "(employeeNumber=%u)\n",
		     "t.ini:8", "card_filter");
	expect_error("servers = ldaps://dc1\nbase = DC=x\ncard_filter = (employeeNumber=%c)\n", "t.ini:7",
		     "card_filter needs card_attribute");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nschema = openldap\ngroup_filter = (member=%u)\n", "t.ini:8",
		     "group_filter");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nname_attribute = user name\n", "t.ini:7",
		     "not an attribute name");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nallowed_groups = Printing\n", "t.ini:7", "not a group DN");
	expect_ok("servers = ldaps://dc1\nbase = DC=x\ngroup_filter = (member=%d)\n", "group_filter is not used");
	expect_ok("servers = ldaps://dc1\nbase = DC=x\noffline_grace = 2d\n", "longer than cache_for");
}

static void test_limits(void **state)
{
	(void)state;
	expect_error("servers = ldaps://dc1\nbase = DC=x\nmax_binds = 0\n", "t.ini:7", "max_binds");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nmax_binds = 65\n", "t.ini:7", "max_binds");
	expect_error("servers = ldaps://dc1\nbase = DC=x\nschema = novell\n", "t.ini:7", "schema");
	expect_error("servers = ldaps://dc1\nbase = DC=x\ntimeout = 10ms\n", "t.ini:7", "timeout");
}

/* The settings the module runs with. */
static struct ldap_settings settings_of(const char *body, struct ldap_conf **ret_conf, struct scout_config **ret_cfg)
{
	char out[4096], err[256];
	struct scout_config *cfg;
	struct ldap_settings s;
	int i;

	assert_int_equal(check(body, out, sizeof(out), &cfg), 0);
	i = scout_schema_find(schema, "ldap");
	assert_true(i >= 0);
	assert_int_equal(ldap_settings_make(cfg->confs[i], &s, NULL, err, sizeof(err)), 0);
	*ret_conf = cfg->confs[i];
	*ret_cfg = cfg;
	return s;
}

static void test_derived(void **state)
{
	struct scout_config *cfg;
	struct ldap_conf *conf;
	struct ldap_settings s;

	(void)state;
	s = settings_of("domain = Scout.Test\ncard_attribute = employeeNumber\n"
			"allowed_groups = CN=Printing,CN=Users,DC=scout,DC=test; CN=Staff,DC=scout,DC=test\n",
			&conf, &cfg);
	assert_string_equal(s.base, "DC=scout,DC=test");
	assert_string_equal(s.domain, "scout.test");
	assert_string_equal(s.netbios, "SCOUT");
	assert_string_equal(s.user_filter, "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%u))");
	assert_string_equal(s.card_filter, "(&(objectCategory=person)(objectClass=user)(employeeNumber=%c))");
	assert_string_equal(s.name_attr, "sAMAccountName");
	assert_int_equal(conf->servers.n, 0);
	assert_int_equal(conf->allowed_groups.n, 2);
	assert_string_equal(conf->allowed_groups.v[0], "CN=Printing,CN=Users,DC=scout,DC=test");
	assert_string_equal(conf->allowed_groups.v[1], "CN=Staff,DC=scout,DC=test");
	assert_int_equal(conf->timeout, 5000);
	assert_int_equal(conf->cache_for, 24 * 3600 * 1000);
	ldap_settings_free(&s);
	scout_config_free(cfg);

	s = settings_of("servers = ldaps://a, ldaps://b:3269 ldap://c\nschema = openldap\nbase = dc=example,dc=com\n"
			"netbios_domain = corp\n",
			&conf, &cfg);
	assert_int_equal(conf->servers.n, 3);
	assert_string_equal(conf->servers.v[1], "ldaps://b:3269");
	assert_string_equal(conf->servers.v[2], "ldap://c");
	assert_string_equal(s.user_filter, "(&(objectClass=inetOrgPerson)(uid=%u))");
	assert_string_equal(s.name_attr, "uid");
	assert_string_equal(s.netbios, "CORP");
	assert_string_equal(s.group_base, "dc=example,dc=com");
	assert_null(s.card_filter);
	ldap_settings_free(&s);
	scout_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal), cmocka_unit_test(test_servers),
		cmocka_unit_test(test_bind),    cmocka_unit_test(test_credential_paths),
		cmocka_unit_test(test_base),    cmocka_unit_test(test_templates),
		cmocka_unit_test(test_limits),  cmocka_unit_test(test_derived),
	};

	if (scout_agent_schema(&schema) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
