/* The [ldap] section: its keys, their parsers, the checks across keys that
 * --check-config, start and reload run, and the settings the module runs
 * with (defaults that depend on schema and domain, filter templates
 * checked once here rather than at each login). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "ldap.h"
#include "loop/secret.h"

static const char *const schemas[] = {"ad", "openldap", NULL};

#define GROUP_FILTER "(&(objectClass=groupOfNames)(member=%d))" /* openldap's groups of a user */

static void strlist_free(void *field)
{
	struct ldap_strlist *l = field;

	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct ldap_strlist){0};
}

static int strlist_add(struct ldap_strlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(l->v[l->n] = strndup(s, len)))
		return -ENOMEM;
	l->n++;
	return 0;
}

/*
 * Splits value at any byte of seps into l: empty items are skipped, with
 * trim each item loses its surrounding white space, and check (given the
 * item and how many l holds already) accepts it or fills err and returns
 * -EINVAL. On any error l is freed.
 */
static int strlist_parse(const char *value, const char *seps, bool trim,
			 int (*check)(const char *s, size_t len, size_t n, char *err, size_t errlen),
			 struct ldap_strlist *l, char *err, size_t errlen)
{
	const char *p = value;
	int r;

	while (*p) {
		size_t len = strcspn(p, seps);
		const char *s = p, *e = p + len;

		while (trim && s < e && isspace((unsigned char)*s))
			s++;
		while (trim && e > s && isspace((unsigned char)e[-1]))
			e--;
		if (e > s && ((r = check(s, (size_t)(e - s), l->n, err, errlen)) < 0 ||
			      (r = strlist_add(l, s, (size_t)(e - s))) < 0)) {
			strlist_free(l);
			return r;
		}
		p += len + (p[len] != '\0');
	}
	return 0;
}

/* One of servers: ldap:// or ldaps:// with a host and no path. */
static int check_server(const char *s, size_t len, size_t n, char *err, size_t errlen)
{
	const char *host;

	if (strncmp(s, "ldaps://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "ldap://", 7) == 0)
		host = s + 7;
	else {
		snprintf(err, errlen, "'%.*s' is not an ldaps:// or ldap:// URI", (int)(len > 200 ? 200 : len), s);
		return -EINVAL;
	}
	if (host == s + len || *host == ':' || memchr(host, '/', len - (size_t)(host - s)) ||
	    memchr(host, '?', len - (size_t)(host - s))) {
		snprintf(err, errlen, "'%.*s': expected ldaps://HOST[:PORT] (a host, no path)",
			 (int)(len > 200 ? 200 : len), s);
		return -EINVAL;
	}
	if (n == 16) {
		snprintf(err, errlen, "at most 16 servers");
		return -EINVAL;
	}
	return 0;
}

/* "ldaps://dc1.example.com, ldap://dc2:389": URIs separated by commas or
 * spaces. */
static int parse_servers(const char *value, void *field, char *err, size_t errlen)
{
	return strlist_parse(value, ", \t", false, check_server, field, err, errlen);
}

/* One of allowed_groups: a DN (it has an '='). */
static int check_group(const char *s, size_t len, size_t n, char *err, size_t errlen)
{
	if (!memchr(s, '=', len) || n == 64) {
		snprintf(err, errlen, n == 64 ? "at most 64 groups" : "'%.*s' is not a group DN (CN=...,DC=...)",
			 (int)(len > 200 ? 200 : len), s);
		return -EINVAL;
	}
	return 0;
}

/* "CN=Printing,OU=Groups,DC=example,DC=com; CN=Staff,...": group DNs
 * separated by ';' (DNs hold commas). */
static int parse_groups(const char *value, void *field, char *err, size_t errlen)
{
	return strlist_parse(value, ";", true, check_group, field, err, errlen);
}

#define OPT(k, t, f, d, ...)                                                                        \
	{                                                                                           \
		.key = k, .type = t, .offset = offsetof(struct ldap_conf, f), .def = d, __VA_ARGS__ \
	}

const struct scout_option ldap_options[] = {
	OPT("servers", SCOUT_OPT_CUSTOM, servers, "", .parse = parse_servers, .free = strlist_free,
	    .help = "directory servers in order of preference, ldaps://HOST[:PORT] or ldap://HOST[:PORT] "
		    "(StartTLS), separated by commas; empty: found through DNS SRV records of domain"),
	OPT("domain", SCOUT_OPT_STRING, domain, "",
	    .help = "Active Directory's DNS domain: domain controllers from _ldap._tcp.dc._msdcs.DOMAIN when "
		    "servers is empty, user@DOMAIN names accepted, base derived from it"),
	OPT("netbios_domain", SCOUT_OPT_STRING, netbios_domain, "",
	    .help = "NETBIOS\\user names accepted for this domain; empty: domain's first label in upper case"),
	OPT("schema", SCOUT_OPT_ENUM, schema, "ad", .choices = schemas,
	    .help = "ad (Active Directory: sAMAccountName, userAccountControl, nested groups through memberOf) "
		    "or openldap (uid, inetOrgPerson, groupOfNames); sets the defaults below"),
	OPT("ca_file", SCOUT_OPT_STRING, ca_file, "",
	    .help = "PEM CA certificates the servers' certificates must chain to; empty: the system's store"),
	OPT("allow_plaintext", SCOUT_OPT_BOOL, allow_plaintext, "no",
	    .help = "let ldap:// servers run without StartTLS, for anonymous searches only: no password is ever "
		    "sent without TLS"),
	OPT("bind_dn", SCOUT_OPT_STRING, bind_dn, "",
	    .help = "the service account that searches users (a DN, or user@domain on AD); empty: anonymous "
		    "searches"),
	OPT("bind_password_file", SCOUT_OPT_STRING, bind_password_file, "",
	    .help = "file holding the service account's password on one line, or %d/NAME for a systemd "
		    "credential; required with bind_dn (there is no inline password)"),
	OPT("base", SCOUT_OPT_STRING, base, "",
	    .help = "where users are searched (DC=example,DC=com); empty: from domain"),
	OPT("user_filter", SCOUT_OPT_STRING, user_filter, "",
	    .help = "the user search, %u the name as typed (escaped); empty: by schema, ad "
		    "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%u)), openldap "
		    "(&(objectClass=inetOrgPerson)(uid=%u))"),
	OPT("card_attribute", SCOUT_OPT_STRING, card_attribute, "",
	    .help = "attribute holding a badge number (employeeNumber, say): enables lookups by card"),
	OPT("card_filter", SCOUT_OPT_STRING, card_filter, "",
	    .help = "the search by card, %c the card number (escaped); empty: user_filter with "
		    "(CARD_ATTRIBUTE=%c) in place of the term holding %u"),
	OPT("name_attribute", SCOUT_OPT_STRING, name_attribute, "",
	    .help = "the account name returned as user; empty: sAMAccountName (ad) or uid (openldap)"),
	OPT("display_attribute", SCOUT_OPT_STRING, display_attribute, "displayName",
	    .help = "the name shown to people (cn when the user has none)"),
	OPT("mail_attribute", SCOUT_OPT_STRING, mail_attribute, "mail", .help = "the user's mail address"),
	OPT("allowed_groups", SCOUT_OPT_CUSTOM, allowed_groups, "", .parse = parse_groups, .free = strlist_free,
	    .help = "group DNs separated by ';' (no space before it: \" ;\" starts a comment): only their members "
		    "(nested ones too on AD) log in; empty: every user found"),
	OPT("group_base", SCOUT_OPT_STRING, group_base, "",
	    .help = "where groups are searched (openldap); empty: base"),
	OPT("group_filter", SCOUT_OPT_STRING, group_filter, GROUP_FILTER,
	    .help = "the groups of a user (openldap), %d the user's DN (escaped)"),
	OPT("timeout", SCOUT_OPT_DURATION, timeout, "5s", .min = 100, .max = 300000,
	    .help = "one attempt on one server: connect, TLS and one operation; then the next server"),
	OPT("max_binds", SCOUT_OPT_INT, max_binds, "8", .min = 1, .max = 64,
	    .help = "password checks at once per server (connections kept for them); more wait their turn, "
		    "each within its timeout"),
	OPT("cache_for", SCOUT_OPT_DURATION, cache_for, "24h", .min = 0, .max = 30LL * 86400 * 1000,
	    .help = "users' attributes and groups are kept this long (never a password); 0: always ask"),
	OPT("offline_grace", SCOUT_OPT_DURATION, offline_grace, "0", .min = 0, .max = 30LL * 86400 * 1000,
	    .help = "when every server is down, a password that matched within this time is accepted from a "
		    "salted scrypt verifier kept in memory; 0: off"),
	OPT("max_failures", SCOUT_OPT_INT, max_failures, "5", .min = 0, .max = 10000,
	    .help = "wrong passwords per user within failure_window before it is throttled; 0: no limit"),
	OPT("max_source_failures", SCOUT_OPT_INT, max_source_failures, "20", .min = 0, .max = 100000,
	    .help = "the same per source (a workstation's address, a caller); 0: no limit"),
	OPT("failure_window", SCOUT_OPT_DURATION, failure_window, "15m", .min = 1000, .max = 86400LL * 1000,
	    .help = "how long a failure counts"),
	{0},
};

void ldap_settings_free(struct ldap_settings *s)
{
	free(s->domain);
	free(s->netbios);
	free(s->base);
	free(s->user_filter);
	free(s->card_filter);
	free(s->group_base);
	free(s->group_filter);
	free(s->name_attr);
	free(s->display_attr);
	free(s->mail_attr);
	free(s->card_attr);
	*s = (struct ldap_settings){0};
}

/* An attribute description: a name (letter, then letters, digits, '-') or
 * a numeric OID, with ;options. */
static bool attr_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > 128)
		return false;
	if (isdigit((unsigned char)a[0]))
		return strspn(a, "0123456789.") == n;
	if (!isalpha((unsigned char)a[0]))
		return false;
	for (const char *p = a; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != ';')
			return false;
	return true;
}

/* "scout.test" -> "DC=scout,DC=test". */
static char *base_of_domain(const char *domain)
{
	size_t n = strlen(domain);
	char *b = malloc(4 * n + 4), *o = b;

	if (!b)
		return NULL;
	o += sprintf(o, "DC=");
	for (const char *p = domain; *p; p++)
		o += *p == '.' ? sprintf(o, ",DC=") : sprintf(o, "%c", *p);
	return b;
}

static bool domain_ok(const char *d)
{
	size_t n = strlen(d), label = 0;

	if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
		return false;
	for (const char *p = d; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return true;
}

/* user_filter with its term holding %u replaced by (ATTR=%c):
 * (&(objectClass=user)(sAMAccountName=%u)) -> (&(objectClass=user)(employeeNumber=%c)). */
static char *derive_card_filter(const char *user_filter, const char *attr)
{
	const char *u = strstr(user_filter, "%u"), *open, *close;
	char *f;

	if (!u)
		return NULL;
	for (open = u; open > user_filter && *open != '('; open--)
		;
	close = strchr(u, ')');
	if (*open != '(' || !close)
		return NULL;
	if (asprintf(&f, "%.*s(%s=%%c)%s", (int)(open - user_filter), user_filter, attr, close + 1) < 0)
		return NULL;
	return f;
}

static int dup_or(char **ret, const char *s, const char *def)
{
	*ret = strdup(s && s[0] ? s : def);
	return *ret ? 0 : -ENOMEM;
}

int ldap_settings_make(const struct ldap_conf *conf, struct ldap_settings *ret, const char **ret_key, char *err,
		       size_t errlen)
{
	struct ldap_settings s = {.schema = (enum ldap_schema)conf->schema};
	bool ad = s.schema == LDAP_SCHEMA_AD;
	char why[256];
	const char *key = NULL;
	int r = -ENOMEM;

	err[0] = '\0';
	if (dup_or(&s.domain, conf->domain, "") < 0)
		goto fail;
	for (char *p = s.domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (conf->netbios_domain[0]) {
		if (!(s.netbios = strdup(conf->netbios_domain)))
			goto fail;
	} else if (!(s.netbios = strndup(s.domain, strcspn(s.domain, "."))))
		goto fail;
	for (char *p = s.netbios; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (conf->base[0])
		s.base = strdup(conf->base);
	else if (s.domain[0])
		s.base = base_of_domain(s.domain);
	else
		s.base = strdup("");
	if (!s.base ||
	    dup_or(&s.user_filter, conf->user_filter,
		   ad ? "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%u))"
		      : "(&(objectClass=inetOrgPerson)(uid=%u))") < 0 ||
	    dup_or(&s.name_attr, conf->name_attribute, ad ? "sAMAccountName" : "uid") < 0 ||
	    dup_or(&s.display_attr, conf->display_attribute, "displayName") < 0 ||
	    dup_or(&s.mail_attr, conf->mail_attribute, "mail") < 0 ||
	    dup_or(&s.group_base, conf->group_base, s.base) < 0 ||
	    dup_or(&s.group_filter, conf->group_filter, GROUP_FILTER) < 0)
		goto fail;
	if (conf->card_attribute[0]) {
		if (!(s.card_attr = strdup(conf->card_attribute)))
			goto fail;
		if (conf->card_filter[0])
			s.card_filter = strdup(conf->card_filter);
		else if (!(s.card_filter = derive_card_filter(s.user_filter, s.card_attr))) {
			key = "card_filter";
			snprintf(
				err, errlen,
				"cannot derive the card search from user_filter (no (ATTR=%%u) term): set card_filter");
			r = -EINVAL;
			goto fail;
		}
		if (!s.card_filter)
			goto fail;
	}

	r = -EINVAL;
	if (s.domain[0] && !domain_ok(s.domain)) {
		key = "domain";
		snprintf(err, errlen, "'%s' is not a DNS domain name", s.domain);
		goto fail;
	}
	if (!s.base[0]) {
		key = "base";
		snprintf(err, errlen, "base is required without domain: where are users searched (DC=example,DC=com)?");
		goto fail;
	}
	if (!strchr(s.base, '=')) {
		key = "base";
		snprintf(err, errlen, "'%s' is not a DN (DC=example,DC=com)", s.base);
		goto fail;
	}
	if (conf->group_base[0] && !strchr(conf->group_base, '=')) {
		key = "group_base";
		snprintf(err, errlen, "'%s' is not a DN (OU=Groups,DC=example,DC=com)", conf->group_base);
		goto fail;
	}
	if (ldap_filter_check(s.user_filter, "u", why, sizeof(why)) < 0) {
		key = "user_filter";
		snprintf(err, errlen, "%s: %s", s.user_filter, why);
		goto fail;
	}
	if (!strstr(s.user_filter, "%u")) {
		key = "user_filter";
		snprintf(err, errlen, "%s: has no %%u: every login would find the same entries", s.user_filter);
		goto fail;
	}
	if (s.card_filter && ldap_filter_check(s.card_filter, "c", why, sizeof(why)) < 0) {
		key = "card_filter";
		snprintf(err, errlen, "%s: %s", s.card_filter, why);
		goto fail;
	}
	if (s.card_filter && !strstr(s.card_filter, "%c")) {
		key = "card_filter";
		snprintf(err, errlen, "%s: has no %%c", s.card_filter);
		goto fail;
	}
	if (!ad && ldap_filter_check(s.group_filter, "d", why, sizeof(why)) < 0) {
		key = "group_filter";
		snprintf(err, errlen, "%s: %s", s.group_filter, why);
		goto fail;
	}
	{
		const struct {
			const char *key, *val;
		} attrs[] = {{"name_attribute", s.name_attr},
			     {"display_attribute", s.display_attr},
			     {"mail_attribute", s.mail_attr},
			     {"card_attribute", s.card_attr}};
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			if (attrs[i].val && !attr_ok(attrs[i].val)) {
				key = attrs[i].key;
				snprintf(err, errlen, "'%s' is not an attribute name", attrs[i].val);
				goto fail;
			}
	}
	*ret = s;
	return 0;
fail:
	if (r == -ENOMEM && !err[0])
		snprintf(err, errlen, "out of memory");
	if (ret_key)
		*ret_key = key;
	ldap_settings_free(&s);
	return r;
}

void ldap_configure(void *p, struct scout_check *c)
{
	struct ldap_conf *conf = p;
	struct ldap_settings s;
	const char *key = NULL;
	char err[512];

	if (!c->enabled)
		return;
	if (conf->servers.n == 0 && !conf->domain[0])
		scout_check_error(c, "servers",
				  "servers (ldaps://HOST, ...) or domain (Active Directory's, for its DNS SRV "
				  "records) is needed");
	if (conf->bind_dn[0] && !conf->bind_password_file[0])
		scout_check_error(c, "bind_dn",
				  "bind_dn needs bind_password_file (a file with the password on one line, or "
				  "%%d/NAME for a systemd credential)");
	if (!conf->bind_dn[0] && conf->bind_password_file[0])
		scout_check_error(c, "bind_password_file",
				  "bind_password_file is set but bind_dn is not: whose password is it?");
	if (conf->bind_password_file[0])
		scout_check_credential_path(c, "bind_password_file", conf->bind_password_file);
	if (conf->allow_plaintext && conf->bind_dn[0])
		scout_check_error(c, "allow_plaintext",
				  "allow_plaintext = yes is for anonymous searches (no bind_dn): the service "
				  "account's password is never sent without TLS");
	if (conf->ca_file[0] && conf->ca_file[0] != '/')
		scout_check_warn(c, "ca_file", "a relative ca_file is taken from scoutd's working directory");
	for (size_t i = 0; i < conf->servers.n; i++)
		if (strncmp(conf->servers.v[i], "ldap://", 7) == 0 && conf->allow_plaintext)
			scout_check_warn(c, "servers",
					 "%s may answer without TLS (allow_plaintext = yes): user passwords "
					 "are refused over it",
					 conf->servers.v[i]);
	if (conf->schema == LDAP_SCHEMA_AD && strcmp(conf->group_filter, GROUP_FILTER))
		scout_check_warn(c, "group_filter",
				 "schema = ad finds groups through memberOf: group_filter is not used");
	if (conf->card_filter[0] && !conf->card_attribute[0])
		scout_check_error(c, "card_filter",
				  "card_filter needs card_attribute (the attribute holding the card)");
	if (conf->offline_grace && conf->offline_grace > conf->cache_for)
		scout_check_warn(c, "offline_grace",
				 "offline_grace is longer than cache_for: users accepted offline past cache_for "
				 "get their name only (no display name, no groups)");
	if (ldap_settings_make(conf, &s, &key, err, sizeof(err)) < 0)
		scout_check_error(c, key, "%s", err);
	else
		ldap_settings_free(&s);
}
