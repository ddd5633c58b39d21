/* The [snmp] section: its keys (ranges, communities, SNMPv3 user, rate,
 * windows, intervals, limits), their parsers, the checks across keys that
 * --check-config, start and reload run, and the SNMPv3 user handed to the
 * io. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "text.h"
#include "v3.h"

int snmp_targets_of(const struct snmp_conf *conf, struct snmp_ranges *ret)
{
	struct snmp_ranges t = {0};

	t.iv = malloc((conf->ranges.n ? conf->ranges.n : 1) * sizeof(*t.iv));
	if (!t.iv)
		return -ENOMEM;
	if (conf->ranges.n) /* ranges.iv is NULL when empty */
		memcpy(t.iv, conf->ranges.iv, conf->ranges.n * sizeof(*t.iv));
	t.n = conf->ranges.n;
	t.total = conf->ranges.total;
	if (snmp_ranges_subtract(&t, &conf->exclude) < 0) {
		snmp_ranges_free(&t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}
static const char *const versions[] = {"2c", "1", "3", NULL};
static const char *const v3_auths[] = {"sha", "sha256", NULL};
static const char *const v3_privs[] = {"aes", "none", NULL};

static int parse_ranges(const char *value, void *field, char *err, size_t errlen)
{
	return snmp_ranges_parse(value, field, err, errlen);
}

static void free_ranges(void *field)
{
	snmp_ranges_free(field);
}

static int parse_windows(const char *value, void *field, char *err, size_t errlen)
{
	return snmp_windows_parse(value, field, err, errlen);
}

struct strlist_ctx {
	struct strlist *l;
	char *err;
	size_t errlen;
};

static int add_community(char *item, void *arg)
{
	struct strlist_ctx *c = arg;
	struct strlist *l = c->l;
	char **v;

	if (l->n == SNMP_MAX_COMMUNITIES || strlen(item) > 255) {
		snprintf(c->err, c->errlen, "at most %d communities of up to 255 characters", SNMP_MAX_COMMUNITIES);
		return -EINVAL;
	}
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	if (!(l->v[l->n] = strdup(item)))
		return -ENOMEM;
	l->v[++l->n] = NULL;
	return 0;
}

static int parse_strlist(const char *value, void *field, char *err, size_t errlen)
{
	struct strlist_ctx c = {field, err, errlen};
	int r = snmp_split_list(value, add_community, &c);

	if (r < 0)
		return r;
	if (!c.l->n) {
		snprintf(err, errlen, "expected one or more community names separated by commas");
		return -EINVAL;
	}
	return 0;
}

static void free_strlist(void *field)
{
	struct strlist *l = field;
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct strlist){0};
}

#define OPT(k, t, f, d, ...)                                                                        \
	{                                                                                           \
		.key = k, .type = t, .offset = offsetof(struct snmp_conf, f), .def = d, __VA_ARGS__ \
	}

const struct scout_option snmp_options[] = {
	OPT("ranges", SCOUT_OPT_CUSTOM, ranges, NULL, .parse = parse_ranges, .free = free_ranges,
	    .help = "addresses to sweep: CIDR blocks, a.b.c.d-a.b.c.e spans and addresses, IPv4 and IPv6, "
		    "separated by commas"),
	OPT("exclude", SCOUT_OPT_CUSTOM, exclude, "", .parse = parse_ranges, .free = free_ranges,
	    .help = "addresses never sent a packet, same syntax as ranges"),
	OPT("communities", SCOUT_OPT_CUSTOM, communities, "public", .parse = parse_strlist, .free = free_strlist,
	    .secret = true, .help = "SNMPv1/v2c communities tried in order; the one that answers is remembered"),
	OPT("version", SCOUT_OPT_ENUM, version, "2c", .choices = versions,
	    .help = "2c (falls back to 1 for devices that answer only SNMPv1), 1, or 3"),
	OPT("v3_user", SCOUT_OPT_STRING, v3_user, "", .help = "SNMPv3 USM user name (version = 3)"),
	OPT("v3_auth", SCOUT_OPT_ENUM, v3_auth, "sha256", .choices = v3_auths,
	    .help = "SNMPv3 authentication: sha (HMAC-SHA-96) or sha256 (HMAC-SHA-256)"),
	OPT("v3_auth_password", SCOUT_OPT_STRING, v3_auth_password, "", .secret = true,
	    .help = "SNMPv3 authentication pass phrase (at least 8 characters)"),
	OPT("v3_priv", SCOUT_OPT_ENUM, v3_priv, "aes", .choices = v3_privs,
	    .help = "SNMPv3 privacy: aes (AES-128-CFB) or none"),
	OPT("v3_priv_password", SCOUT_OPT_STRING, v3_priv_password, "", .secret = true,
	    .help = "SNMPv3 privacy pass phrase (at least 8 characters)"),
	OPT("port", SCOUT_OPT_INT, port, "161", .min = 1, .max = 65535, .help = "UDP port of the agents"),
	OPT("timeout_ms", SCOUT_OPT_INT, timeout_ms, "1000", .min = 10, .max = 60000,
	    .help = "milliseconds to wait for an answer before a retry"),
	OPT("retries", SCOUT_OPT_INT, retries, "1", .min = 0, .max = 10, .help = "retries after a timeout"),
	OPT("rate", SCOUT_OPT_INT, rate, "500", .min = 0, .max = 1000000,
	    .help = "requests sent per second at most, to limit network use; 0 means no limit"),
	OPT("max_inflight", SCOUT_OPT_INT, max_inflight, "256", .min = 1, .max = 65536,
	    .help = "requests awaiting an answer at once"),
	OPT("windows", SCOUT_OPT_CUSTOM, windows, "always", .parse = parse_windows,
	    .help = "when sweeps may run, local time: e.g. mon-fri 07:00-19:00, sat 08:00-12:00; a sweep "
		    "running when a window closes pauses"),
	OPT("discovery_interval", SCOUT_OPT_DURATION, discovery_interval, "12h", .min = 0, .max = 30LL * 86400000,
	    .help = "time between sweeps of the ranges; 0 sweeps only on scoutctl scan"),
	OPT("status_interval", SCOUT_OPT_DURATION, status_interval, "15m", .min = 0, .max = 7LL * 86400000,
	    .help = "time between re-reads of known printers (meters, supplies, status); 0 turns them off"),
	OPT("meter_history", SCOUT_OPT_INT, meter_history, "5000", .min = 1, .max = 1000000,
	    .help = "meter readings kept per printer (one is kept only when a meter changed)"),
	OPT("max_devices", SCOUT_OPT_INT, max_devices, "20000", .min = 1, .max = 1000000,
	    .help = "printer records kept at most; a new printer past it is not recorded (logged once, counted as "
		    "devices_refused), none already known is dropped for it"),
	OPT("max_per_address", SCOUT_OPT_INT, max_per_address, "4", .min = 1, .max = 1000,
	    .help = "records that name one address: the printer there and the ones before it; past it the one seen "
		    "longest ago is forgotten"),
	OPT("forget_after", SCOUT_OPT_DURATION, forget_after, "90d", .min = 0, .max = 3650LL * 86400000,
	    .help = "printers and other hosts no sweep or status read has reached for this long are forgotten, "
		    "with their meter history, at the end of a sweep; 0 never forgets"),
	{0},
};

void snmp_configure(void *p, struct scout_check *c)
{
	struct snmp_conf *conf = p;
	char err[256];

	if (conf->version == VERSION_3) {
		if (!*conf->v3_user)
			scout_check_error(c, "v3_user", "required with version = 3");
		if (strlen(conf->v3_auth_password) < 8)
			scout_check_error(c, "v3_auth_password", "required with version = 3, at least 8 characters");
		if (conf->v3_priv == 0 && strlen(conf->v3_priv_password) < 8)
			scout_check_error(c, "v3_priv_password", "required with v3_priv = aes, at least 8 characters");
	}
	if (conf->forget_after && conf->discovery_interval && conf->forget_after <= conf->discovery_interval)
		scout_check_error(c, "forget_after",
				  "must be longer than discovery_interval (or 0 for never): a printer switched off "
				  "during one sweep would be forgotten");
	struct snmp_ranges targets;
	if (snmp_targets_of(conf, &targets) < 0) {
		scout_check_error(c, "ranges", "out of memory");
		return;
	}
	if (targets.total > SNMP_RANGES_MAX_TOTAL) {
		snprintf(err, sizeof(err), "covers more than %llu addresses; sweep smaller ranges",
			 (unsigned long long)SNMP_RANGES_MAX_TOTAL);
		scout_check_error(c, "ranges", "%s", err);
	} else if (!targets.total) {
		scout_check_error(c, "ranges", "no address left to sweep after exclude");
	}
	/* allowed, but seldom meant: said at --check-config, start and reload */
	snmp_addr128 a;
	char ip[64];
	if (snmp_ranges_first_public(&targets, &a))
		scout_check_warn(c, "ranges",
				 "includes public address space (%s first): sweep only networks you run, or exclude it",
				 snmp_addr_format(a, ip, sizeof(ip)));
	if (snmp_ranges_first_group(&targets, &a))
		scout_check_warn(
			c, "ranges",
			"includes a multicast or broadcast address (%s): one request there reaches many hosts; "
			"exclude it",
			snmp_addr_format(a, ip, sizeof(ip)));
	snmp_ranges_free(&targets);
	if (conf->discovery_interval && conf->discovery_interval < 60000)
		scout_check_warn(
			c, "discovery_interval",
			"under a minute: sweeps would run almost without pause and load the network; 12h is usual");
	if (conf->rate > 10000)
		scout_check_warn(c, "rate", "over 10,000 requests a second can flood links and printers; 500 is usual");
}
enum snmp_version snmp_version_of(const struct snmp_conf *conf)
{
	return conf->version == VERSION_1 ? SNMP_V1 : conf->version == VERSION_3 ? SNMP_V3 : SNMP_V2C;
}

int snmp_apply_v3(struct snmp_io *io, const struct snmp_conf *conf)
{
	if (conf->version != VERSION_3)
		return 0;
	struct snmp_v3_cred cred = {
		.user = conf->v3_user,
		.sha256 = conf->v3_auth == 1,
		.auth_pass = conf->v3_auth_password,
		.priv_pass = conf->v3_priv == 0 ? conf->v3_priv_password : NULL,
	};
	return snmp_io_set_v3(io, &cred);
}

bool snmp_same_v3(const struct snmp_conf *a, const struct snmp_conf *b)
{
	return a->version == b->version && a->v3_auth == b->v3_auth && a->v3_priv == b->v3_priv &&
	       strcmp(a->v3_user, b->v3_user) == 0 && strcmp(a->v3_auth_password, b->v3_auth_password) == 0 &&
	       strcmp(a->v3_priv_password, b->v3_priv_password) == 0;
}
