/* Unit tests for printers.c, the ipp module's registry of printers: what
 * a printer spec may say (GUID, IP, HOST:PORT, [v6]:port, ipp(s):// URI,
 * a configured name), the GUIDs it hands out, how a serial from the snmp
 * inventory (a fake snmp.lookup) or from the printer's own attributes keeps
 * a GUID across an address change, the pin state machine (first use,
 * changed: alert on the bus and in status, trust over the status socket),
 * the [ipp] printers list, and that all of it survives a restart on the
 * same store. The real ipp module runs on a real loop and bus, with a fake
 * vault (topics only) and a fake snmp module. */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "status-client.h"

#include "loop/bus.h"
#include "loop/config.h"
#include "loop/module.h"
#include "loop/pack.h"
#include "loop/status.h"
#include "loop/store.h"
#include "modules/ipp/ipp.h"
#include "modules/ipp/printers.h"

extern const struct scout_module scout_ipp_module;

/* ---- fakes ------------------------------------------------------------- */

struct fake_conf {
	int unused;
};
static const struct scout_option fake_options[] = {{0}};

/* every vault topic the ipp module may look up */
static const struct scout_topic_decl vault_topics[] = {
	{"job.create", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.write", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.commit", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.abort", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.list", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.cancel", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.claim", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.hold", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.open", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.read", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.close", SCOUT_TOPIC_REQUEST, "fake"},
	{"job.done", SCOUT_TOPIC_EVENT, "fake"},
	{"vault.status", SCOUT_TOPIC_REQUEST, "fake"},
	{"vault.state", SCOUT_TOPIC_EVENT, "fake"},
	{0},
};
static const struct scout_topic_decl snmp_topics[] = {{"snmp.lookup", SCOUT_TOPIC_REQUEST, "fake"}, {0}};
static const struct scout_topic_decl users_topics[] = {{"auth.password", SCOUT_TOPIC_REQUEST, "fake"}, {0}};

static struct {
	char ip[8][64], serial[8][64];
	unsigned n, asked;
	struct scout_sub *sub;
} snmp;

static void on_lookup(const struct scout_msg *msg, void *arg)
{
	struct scout_bus *bus = arg;
	msgpack_unpacked u;
	const char *ip;
	size_t n;

	snmp.asked++;
	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(scout_pack_get_str(&u.data, "ip", &ip, &n), 0);
	for (unsigned i = 0; i < snmp.n; i++)
		if (strlen(snmp.ip[i]) == n && memcmp(snmp.ip[i], ip, n) == 0) {
			msgpack_sbuffer sb;
			msgpack_packer pk;
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_pack_map(&pk, 2);
			scout_pack_str(&pk, "ip");
			scout_pack_str(&pk, snmp.ip[i]);
			scout_pack_str(&pk, "serial");
			scout_pack_str(&pk, snmp.serial[i]);
			scout_bus_reply(bus, msg->corr, 0, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
			msgpack_unpacked_destroy(&u);
			return;
		}
	msgpack_unpacked_destroy(&u);
	scout_bus_reply(bus, msg->corr, -ENOENT, NULL, 0);
}

static void snmp_knows(const char *ip, const char *serial)
{
	snprintf(snmp.ip[snmp.n], sizeof(snmp.ip[0]), "%s", ip);
	snprintf(snmp.serial[snmp.n++], sizeof(snmp.serial[0]), "%s", serial);
}

static int snmp_start(struct scout_mod *m)
{
	struct scout_topic *t;

	assert_int_equal(scout_mod_topic(m, "snmp.lookup", &t), 0);
	return scout_bus_subscribe(scout_mod_bus(m), t, on_lookup, scout_mod_bus(m), 64, &snmp.sub);
}

static void snmp_stop(struct scout_mod *m)
{
	scout_bus_unsubscribe(snmp.sub);
	scout_mod_stopped(m);
}

static int nothing_start(struct scout_mod *m)
{
	(void)m;
	return 0;
}

static void nothing_stop(struct scout_mod *m)
{
	scout_mod_stopped(m);
}

static int fake_reload(struct scout_mod *m, const void *old)
{
	(void)m;
	(void)old;
	return 0;
}

#define FAKE(n, topics_, start_, stop_)                                                                       \
	{                                                                                                     \
		.name = n, .summary = "fake", .default_enabled = true, .options = fake_options,               \
		.conf_size = sizeof(struct fake_conf), .start = start_, .reload = fake_reload, .stop = stop_, \
		.topics = topics_                                                                             \
	}
static const struct scout_module fake_vault = FAKE("vault", vault_topics, nothing_start, nothing_stop);
static const struct scout_module fake_users = FAKE("users", users_topics, nothing_start, nothing_stop);
static const struct scout_module fake_snmp = FAKE("snmp", snmp_topics, snmp_start, snmp_stop);

/* the real ipp module, with its state caught at start */
static struct ipp *ipp;
static struct scout_module ipp_module;

static int ipp_start_caught(struct scout_mod *m)
{
	int r = scout_ipp_module.start(m);

	ipp = scout_mod_priv(m);
	return r;
}

static const struct scout_module *registry[4] = {&fake_vault, &fake_users, &fake_snmp, &ipp_module};
static const struct scout_section first = {.name = "agent",
					   .options = fake_options,
					   .conf_size = sizeof(struct fake_conf)};

/* ---- environment ---------------------------------------------------------- */

struct env {
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_bus *bus;
	struct scout_store *store;
	const struct scout_schema *schema;
	struct scout_host *host;
	struct scout_status_server *srv;
	struct scout_sub *alert_sub;
	char dir[64], sock[96];
	bool stopped, bus_closed, running;
	/* the status socket client */
	struct status_client client;
	/* printer.alert events seen */
	char alerts[8][512];
	unsigned nalerts;
};

#define WAIT_FOR(e, cond) LOOP_WAIT_FOR(&(e)->loop, &(e)->timer, cond, 10)

static void on_alert(const struct scout_msg *msg, void *arg)
{
	struct env *e = arg;
	msgpack_unpacked u;

	msgpack_unpacked_init(&u);
	assert_int_equal(msgpack_unpack_next(&u, msg->data, msg->len, NULL), MSGPACK_UNPACK_SUCCESS);
	json_t *j = scout_unpack_json(&u.data);
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	if (e->nalerts < 8)
		snprintf(e->alerts[e->nalerts++], sizeof(e->alerts[0]), "%s", text);
	free(text);
	json_decref(j);
	msgpack_unpacked_destroy(&u);
}

static void on_request(struct scout_status_req *req, const char *cmd, json_t *request, void *arg)
{
	struct env *e = arg;

	if (!scout_host_command(e->host, cmd, req, request))
		scout_status_error(req, "unknown", "no command %s", cmd);
}

static void start(struct env *e, const char *ipp_conf, bool with_snmp)
{
	struct scout_host_env henv = {.loop = &e->loop, .bus = e->bus, .store = e->store, .state_dir = e->dir};
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	char text[1024], err[256] = "";

	ipp_module = scout_ipp_module;
	ipp_module.start = ipp_start_caught;
	ipp = NULL;
	e->nalerts = 0;
	/* a fresh bus each time, as scoutd has after a restart */
	assert_int_equal(scout_bus_new(&e->loop, &e->bus), 0);
	henv.bus = e->bus;
	snprintf(text, sizeof(text),
		 "[snmp]\nenabled = %s\n[ipp]\nenabled = yes\nlisten = 127.0.0.1:0\ntls = no\nowner = "
		 "requesting-user-name\n%s\n",
		 with_snmp ? "yes" : "no", ipp_conf);
	assert_int_equal(scout_host_schema_of(&first, registry, 4, &e->schema), 0);
	assert_int_equal(scout_host_new_of(e->schema, registry, 4, &e->host), 0);
	int r = scout_config_parse(e->schema, "t.ini", text, strlen(text), &d, &cfg);
	for (size_t i = 0; i < d.n; i++)
		print_error("problem: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	scout_diag_free(&d);
	scout_host_start(e->host, &henv, cfg);
	scout_config_free(cfg);
	assert_non_null(ipp);
	assert_non_null(ipp->reg);
	assert_int_equal(scout_bus_subscribe(e->bus, scout_bus_find(e->bus, "printer.alert"), on_alert, e, 64,
					     &e->alert_sub),
			 0);
	snprintf(e->sock, sizeof(e->sock), "%s/status.sock", e->dir);
	if (scout_status_listen(&e->loop, e->sock, NULL, on_request, e, &e->srv, err, sizeof(err)) < 0)
		fail_msg("status socket: %s", err);
	e->running = true;
}

static void on_bus_closed(void *arg)
{
	((struct env *)arg)->bus_closed = true;
}

static void on_stopped(void *arg)
{
	((struct env *)arg)->stopped = true;
}

/* Stops the modules, waits for the store's writes; the store stays open. */
static void stop(struct env *e)
{
	if (!e->running)
		return;
	scout_bus_unsubscribe(e->alert_sub);
	scout_status_close(e->srv, NULL, NULL);
	e->stopped = false;
	scout_host_stop(e->host, on_stopped, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->stopped);
	assert_int_equal(scout_store_async_pending(e->store), 0);
	scout_host_free(e->host);
	e->host = NULL;
	e->bus_closed = false;
	scout_bus_close(e->bus, on_bus_closed, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->bus_closed);
	e->bus = NULL;
	e->running = false;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512] = "";

	memset(&snmp, 0, sizeof(snmp));
	strcpy(e->dir, "/tmp/scout-test-printers-XXXXXX");
	e->client.cap = 16384;
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(uv_loop_init(&e->loop), 0);
	assert_int_equal(uv_timer_init(&e->loop, &e->timer), 0);
	if (scout_store_open(e->dir, 64 << 20, &e->store, err, sizeof(err)) < 0)
		fail_msg("store: %s", err);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	stop(e);
	scout_store_async_stop(e->store, NULL, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&e->timer, NULL);
	assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	scout_store_close(e->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	status_client_free(&e->client);
	free(e);
	return 0;
}

/* ---- the status socket, as scoutctl talks to it ------------------------- */

/* One request line over the status socket; the reply (caller decrefs). */
static json_t *ask(struct env *e, const char *line)
{
	return status_client_ask(&e->client, &e->loop, &e->timer, e->sock, line, 10);
}

/* ---- resolving ------------------------------------------------------------ */

struct res {
	bool done;
	int status;
	struct ipp_printer *p;
	char why[300];
};

static void on_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct res *r = arg;

	assert_false(r->done); /* once */
	r->done = true;
	r->status = status;
	r->p = p;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	if (status == 0)
		assert_non_null(p);
	else
		assert_null(p);
}

static struct res resolve(struct env *e, const char *spec)
{
	struct res r = {0};

	ipp_printer_resolve(ipp, spec, on_resolved, &r);
	WAIT_FOR(e, r.done);
	return r;
}

static struct ipp_printer *resolved(struct env *e, const char *spec)
{
	struct res r = resolve(e, spec);

	if (r.status != 0)
		fail_msg("%s: %s (%s)", spec, strerror(-r.status), r.why);
	return r.p;
}

static json_t *ipp_status(struct env *e)
{
	json_t *arr = json_array(), *found = NULL, *m;
	size_t i;

	scout_host_status(e->host, arr);
	json_array_foreach (arr, i, m)
		if (strcmp(json_string_value(json_object_get(m, "name")), "ipp") == 0)
			found = json_incref(m);
	json_decref(arr);
	assert_non_null(found);
	return found;
}

/* ---- tests -------------------------------------------------------------- */

static void test_spec_parse(void **state)
{
	static const struct {
		const char *spec;
		const char *host;
		int port;
		const char *path;
		bool ip, uri, tls;
	} ok[] = {
		{"127.0.0.1", "127.0.0.1", 631, "", true, false, false},
		{" 127.0.0.1:8632 ", "127.0.0.1", 8632, "", true, false, false},
		{"[::1]:8633", "::1", 8633, "", true, false, false},
		{"[0:0::1]", "::1", 631, "", true, false, false},
		{"fe80::1", "fe80::1", 631, "", true, false, false},
		{"Printer-3.Example.COM", "printer-3.example.com", 631, "", false, false, false},
		{"printer3:9631", "printer3", 9631, "", false, false, false},
		{"ipps://127.0.0.1:8632/ipp/print", "127.0.0.1", 8632, "/ipp/print", true, true, true},
		{"IPP://[::1]/ipp/print/1", "::1", 631, "/ipp/print/1", true, true, false},
		{"ipp://host.lan", "host.lan", 631, "", false, true, false},
	};
	static const char *const bad[] = {
		"",
		"   ",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:x",
		"[::1",
		"[::1]x",
		"[nothost]:631",
		"http://127.0.0.1/",
		"host/ipp/print",
		"a b",
		"bad_host!",
		"ipp://u@h/",
		"ipp://h/p?q",
		"-lead",
		"two..dots",
		"ipps://[::1]:99999/",
	};
	struct ipp_spec sp;
	char why[200];
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ipp_printer_spec_parse(ok[i].spec, &sp, why, sizeof(why)) != 0)
			fail_msg("'%s' refused: %s", ok[i].spec, why);
		assert_false(sp.is_guid);
		assert_string_equal(sp.host, ok[i].host);
		assert_int_equal(sp.port, ok[i].port);
		assert_string_equal(sp.path, ok[i].path);
		assert_int_equal(sp.ip, ok[i].ip);
		assert_int_equal(sp.uri, ok[i].uri);
		assert_int_equal(sp.tls, ok[i].tls);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		if (ipp_printer_spec_parse(bad[i], &sp, why, sizeof(why)) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(why[0]); /* says why */
	}
	assert_int_equal(ipp_printer_spec_parse("0F8FAD5B-D9CB-469F-A165-70867728950E", &sp, why, sizeof(why)), 0);
	assert_true(sp.is_guid);
	assert_string_equal(sp.guid, "0f8fad5b-d9cb-469f-a165-70867728950e");
}

static void test_guid_form(void **state)
{
	char seen[64][37];
	(void)state;

	for (int i = 0; i < 64; i++) {
		assert_int_equal(ipp_guid_new(seen[i]), 0);
		assert_int_equal(strlen(seen[i]), 36);
		assert_true(ipp_guid_valid(seen[i]));
		for (int k = 0; k < 36; k++) {
			char c = seen[i][k];
			if (k == 8 || k == 13 || k == 18 || k == 23)
				assert_int_equal(c, '-');
			else
				assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		}
		assert_int_equal(seen[i][14], '4'); /* version 4 */
		assert_non_null(strchr("89ab", seen[i][19]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	assert_false(ipp_guid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	assert_false(ipp_guid_valid("0f8fad5bd-9cb-469f-a165-70867728950e"));
	assert_false(ipp_guid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
}

static void test_resolve(void **state)
{
	struct env *e = *state;
	struct ipp_printer *p, *q;
	struct res r;

	start(e, "", false);
	p = resolved(e, "127.0.0.1:8632");
	assert_true(ipp_guid_valid(p->guid));
	assert_string_equal(p->address, "127.0.0.1:8632");
	assert_string_equal(p->host, "127.0.0.1");
	assert_int_equal(p->port, 8632);
	assert_string_equal(p->path, "");
	assert_false(p->pinned);
	/* the same endpoint however it is written; a URI's path is learnt */
	assert_ptr_equal(resolved(e, "ipps://127.0.0.1:8632/ipp/print"), p);
	assert_string_equal(p->path, "/ipp/print");
	assert_string_equal(p->address, "127.0.0.1:8632");
	assert_ptr_equal(resolved(e, p->guid), p);
	char upper[37];
	for (int i = 0; i < 37; i++)
		upper[i] = (char)toupper((unsigned char)p->guid[i]);
	assert_ptr_equal(resolved(e, upper), p);
	/* another port is another printer; 631 when none is given */
	q = resolved(e, "127.0.0.1");
	assert_ptr_not_equal(q, p);
	assert_int_equal(q->port, 631);
	assert_string_not_equal(q->guid, p->guid);
	assert_ptr_equal(resolved(e, "ipp://127.0.0.1/"), q);
	/* IPv6 in any spelling */
	q = resolved(e, "[::1]:8633");
	assert_ptr_equal(resolved(e, "ipps://[0::1]:8633/ipp/print"), q);
	assert_string_equal(q->host, "::1");
	/* a host name is kept as a name: the loop never blocks on DNS */
	q = resolved(e, "Printer.Invalid:9631");
	assert_string_equal(q->host, "printer.invalid");
	/* unknown GUID, malformed spec */
	r = resolve(e, "00000000-0000-4000-8000-000000000000");
	assert_int_equal(r.status, -ENOENT);
	assert_non_null(strstr(r.why, "00000000-0000-4000-8000-000000000000"));
	r = resolve(e, "ftp://127.0.0.1/");
	assert_int_equal(r.status, -EINVAL);
	assert_non_null(strstr(r.why, "ipp://"));
	json_t *st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "printers"), "known")), 4);
	json_decref(st);
}

static void test_snmp_serial(void **state)
{
	struct env *e = *state;
	struct ipp_printer *p, *q;

	start(e, "", true);
	snmp_knows("127.0.0.5", "SN-0001");
	p = resolved(e, "127.0.0.5:631");
	assert_int_equal(snmp.asked, 1);
	assert_string_equal(p->serial, "SN-0001");
	char guid[37];
	strcpy(guid, p->guid);
	/* the printer moved: same serial at another address keeps its GUID */
	snmp_knows("127.0.0.6", "SN-0001");
	q = resolved(e, "127.0.0.6");
	assert_ptr_equal(q, p);
	assert_string_equal(q->guid, guid);
	assert_string_equal(q->address, "127.0.0.6");
	assert_ptr_equal(resolved(e, guid), p);
	/* a printer snmp does not know is new */
	q = resolved(e, "127.0.0.7");
	assert_ptr_not_equal(q, p);
	assert_string_equal(q->serial, "");
	/* names are not asked about */
	unsigned asked = snmp.asked;
	resolved(e, "printer.invalid");
	assert_int_equal(snmp.asked, asked);
	/* and after a restart, the moved printer is still where it went */
	stop(e);
	start(e, "", true);
	p = resolved(e, guid);
	assert_string_equal(p->address, "127.0.0.6");
	assert_string_equal(p->serial, "SN-0001");
}

static void test_serial_from_caps(void **state)
{
	struct env *e = *state;
	struct ipp_caps caps = {.ipps = true, .copies_max = 99};
	uint8_t pin[32];

	start(e, "", false); /* no snmp running: lookups answer -ENOENT */
	struct ipp_printer *a = resolved(e, "127.0.0.1:9001");
	char guid[37];
	strcpy(guid, a->guid);
	memset(pin, 0xaa, sizeof(pin));
	ipp_printer_pin_seen(ipp, a, pin);
	snprintf(caps.serial, sizeof(caps.serial), "X-42");
	snprintf(caps.make_model, sizeof(caps.make_model), "Acme Laser 9");
	ipp_printer_caps_set(ipp, a, &caps);
	assert_true(a->caps_known);
	assert_string_equal(a->serial, "X-42");
	/* the same printer at a new address says the same serial */
	struct ipp_printer *b = resolved(e, "127.0.0.2:9001");
	assert_string_not_equal(b->guid, guid);
	ipp_printer_caps_set(ipp, b, &caps);
	assert_string_equal(b->guid, guid);
	assert_true(b->pinned);
	assert_memory_equal(b->pin, pin, 32);
	assert_ptr_equal(resolved(e, guid), b);
	json_t *st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "printers"), "known")), 1);
	json_decref(st);
	/* listed with what it said */
	json_t *r = ask(e, "{\"cmd\":\"printers\"}");
	json_t *row = json_array_get(json_object_get(r, "printers"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "guid")), guid);
	assert_string_equal(json_string_value(json_object_get(row, "address")), "127.0.0.2:9001");
	assert_string_equal(json_string_value(json_object_get(row, "protocols")), "ipps");
	assert_string_equal(json_string_value(json_object_get(row, "model")), "Acme Laser 9");
	assert_string_equal(json_string_value(json_object_get(row, "pin")),
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	json_decref(r);
	/* a printer struct that is not the registry's is ignored */
	struct ipp_printer stray = {0};
	ipp_printer_caps_set(ipp, &stray, &caps);
	ipp_printer_pin_seen(ipp, &stray, pin);
	assert_false(stray.pinned);
}

static const char *problem0(json_t *st)
{
	return json_string_value(json_array_get(json_object_get(st, "problems"), 0));
}

static void test_pins(void **state)
{
	struct env *e = *state;
	uint8_t one[32], two[32], three[32];
	json_t *st, *r;
	char line[256];

	memset(one, 0x11, 32);
	memset(two, 0x22, 32);
	memset(three, 0x33, 32);
	start(e, "", false);
	struct ipp_printer *p = resolved(e, "127.0.0.1:8632");
	char guid[37];
	strcpy(guid, p->guid);

	/* trust before anything is pinned asks the printer for its key: nothing
	 * listens there (test_printers.py pins a real TLS server's key) */
	r = ask(e, "{\"cmd\":\"printer trust\",\"address\":\"127.0.0.1:1\"}");
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "unavailable");
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			       "no key pinned yet, and printer 127.0.0.1:1 could not be asked for its certificate"));
	json_decref(r);

	/* first use */
	ipp_printer_pin_seen(ipp, p, one);
	assert_true(p->pinned);
	assert_memory_equal(p->pin, one, 32);
	ipp_printer_pin_seen(ipp, p, one);
	assert_false(p->pin_changed);
	st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "printers"), "pinned")), 1);
	assert_null(json_object_get(st, "problems"));
	json_decref(st);
	r = ask(e, "{\"cmd\":\"printer trust\",\"address\":\"127.0.0.1:8632\"}");
	assert_true(json_is_false(json_object_get(r, "trusted")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "text")), "no new certificate"));
	json_decref(r);
	assert_int_equal(e->nalerts, 0);

	/* changed: the alert, once, on the bus and in status */
	ipp_printer_pin_changed(ipp, p, two);
	ipp_printer_pin_changed(ipp, p, two);
	assert_true(p->pin_changed);
	assert_memory_equal(p->pin, one, 32); /* still the old one */
	assert_memory_equal(p->new_pin, two, 32);
	WAIT_FOR(e, e->nalerts == 1);
	loop_run_for(&e->loop, &e->timer, 50);
	assert_int_equal(e->nalerts, 1);
	snprintf(line, sizeof(line), "\"guid\":\"%s\"", guid);
	assert_non_null(strstr(e->alerts[0], line));
	assert_non_null(strstr(e->alerts[0], "\"alert\":\"certificate-changed\""));
	assert_non_null(strstr(e->alerts[0], "\"address\":\"127.0.0.1:8632\""));
	assert_non_null(
		strstr(e->alerts[0], "\"pin\":\"1111111111111111111111111111111111111111111111111111111111111111\""));
	assert_non_null(strstr(e->alerts[0],
			       "\"new_pin\":\"2222222222222222222222222222222222222222222222222222222222222222\""));
	assert_non_null(strstr(e->alerts[0], "\"time\":"));
	st = ipp_status(e);
	assert_true(json_is_false(json_object_get(st, "ok")));
	snprintf(line, sizeof(line),
		 "printer 127.0.0.1:8632 (%s) shows a new certificate (key 2222…): jobs for it are held; run scoutctl "
		 "printer trust 127.0.0.1:8632",
		 guid);
	assert_string_equal(problem0(st), line);
	json_t *alert = json_array_get(json_object_get(json_object_get(st, "printers"), "alerts"), 0);
	assert_string_equal(json_string_value(json_object_get(alert, "guid")), guid);
	assert_string_equal(json_string_value(json_object_get(alert, "alert")), "certificate-changed");
	assert_true(json_is_string(json_object_get(alert, "since")));
	json_decref(st);

	/* the alert survives a restart */
	stop(e);
	start(e, "", false);
	p = resolved(e, guid);
	assert_true(p->pinned && p->pin_changed);
	assert_memory_equal(p->pin, one, 32);
	assert_memory_equal(p->new_pin, two, 32);
	st = ipp_status(e);
	assert_string_equal(problem0(st), line);
	json_decref(st);

	/* a third key replaces the pending one and alerts again */
	ipp_printer_pin_changed(ipp, p, three);
	WAIT_FOR(e, e->nalerts == 1);
	assert_memory_equal(p->new_pin, three, 32);

	/* trust with the wrong pin is refused, with the right one accepted */
	r = ask(e, "{\"cmd\":\"printer trust\",\"address\":\"127.0.0.1:8632\",\"pin\":\"2222222222222222\"}");
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "conflict");
	json_decref(r);
	assert_true(p->pin_changed);
	r = ask(e, "{\"cmd\":\"printer trust\",\"address\":\"127.0.0.1:8632\",\"pin\":\"xyz\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "invalid");
	json_decref(r);
	snprintf(line, sizeof(line),
		 "{\"cmd\":\"printer trust\",\"address\":\"%s\",\"pin\":\"33:33:33:33:33:33:33:33\"}", guid);
	r = ask(e, line);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_true(json_object_get(r, "trusted")));
	assert_string_equal(json_string_value(json_object_get(r, "pin")),
			    "3333333333333333333333333333333333333333333333333333333333333333");
	json_decref(r);
	assert_false(p->pin_changed);
	assert_memory_equal(p->pin, three, 32);
	WAIT_FOR(e, e->nalerts == 2);
	assert_non_null(strstr(e->alerts[0], "\"new_pin\":\"3333"));
	assert_non_null(strstr(e->alerts[1], "\"alert\":\"certificate-trusted\""));
	st = ipp_status(e);
	assert_null(json_object_get(st, "problems"));
	assert_false(json_is_false(json_object_get(st, "ok")));
	json_decref(st);
	/* trusted is stored */
	stop(e);
	start(e, "", false);
	p = resolved(e, guid);
	assert_true(p->pinned);
	assert_false(p->pin_changed);
	assert_memory_equal(p->pin, three, 32);
}

static void test_config_list(void **state)
{
	struct env *e = *state;
	char guid[37];
	json_t *r;

	start(e, "printers = office=127.0.0.1:8632, ipps://[::1]:8633/ipp/print,\n  127.0.0.3", false);
	json_t *st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "printers"), "known")), 3);
	json_decref(st);
	struct ipp_printer *p = resolved(e, "office");
	assert_string_equal(p->address, "127.0.0.1:8632");
	strcpy(guid, p->guid);
	assert_ptr_equal(resolved(e, "127.0.0.1:8632"), p);
	assert_string_equal(resolved(e, "[::1]:8633")->path, "/ipp/print");
	r = ask(e, "{\"cmd\":\"printers\"}");
	assert_int_equal(json_integer_value(json_object_get(r, "count")), 3);
	json_decref(r);
	/* the QR of a named printer holds its GUID */
	r = ask(e, "{\"cmd\":\"printer qr\",\"address\":\"office\",\"png\":true,\"svg\":true}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "guid")), guid);
	assert_true(json_array_size(json_object_get(r, "qr")) > 10);
	assert_memory_equal(json_string_value(json_object_get(r, "png")), "iVBORw0KGgo", 11); /* \x89PNG */
	assert_memory_equal(json_string_value(json_object_get(r, "svg")), "PD94bWwg", 8);     /* <?xml */
	json_decref(r);
	r = ask(e, "{\"cmd\":\"printer qr\",\"address\":\"ftp://x\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")), "invalid");
	json_decref(r);
	/* a restart with the list: the same GUIDs, no duplicates */
	stop(e);
	start(e, "printers = office=127.0.0.1:8632, ipps://[::1]:8633/ipp/print, 127.0.0.3", false);
	assert_string_equal(resolved(e, "office")->guid, guid);
	st = ipp_status(e);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "printers"), "known")), 3);
	json_decref(st);
	/* the name taken off the list: the printer stays, the word is a host name again */
	stop(e);
	start(e, "printers = 127.0.0.3", false);
	p = resolved(e, guid);
	assert_string_equal(p->address, "127.0.0.1:8632");
	struct ipp_printer *q = resolved(e, "office");
	assert_ptr_not_equal(q, p);
	assert_string_equal(q->host, "office");
}

static void test_config_errors(void **state)
{
	static const struct {
		const char *value, *message;
	} bad[] = {
		{"office=127.0.0.1:0", "'127.0.0.1:0': the port must be 1 to 65535"},
		{"ftp://x", "only ipp:// and ipps:// URIs"},
		{"a=127.0.0.1, a=127.0.0.2", "the name 'a' is given twice"},
		{"o ffice=127.0.0.1", "a printer's name is letters"},
		{"=127.0.0.1", "a printer's name must be 1 to"},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", "a GUID is given to them by scout"},
	};
	(void)state;

	ipp_module = scout_ipp_module;
	const struct scout_schema *schema;
	assert_int_equal(scout_host_schema_of(&first, registry, 4, &schema), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512];
		struct scout_diag d = {0};
		struct scout_config *cfg = NULL;
		snprintf(text, sizeof(text), "[ipp]\nenabled = yes\nprinters = %s\n", bad[i].value);
		assert_int_equal(scout_config_parse(schema, "t.ini", text, strlen(text), &d, &cfg), -EINVAL);
		assert_true(d.n >= 1);
		if (!strstr(d.msgs[0], bad[i].message) || strncmp(d.msgs[0], "t.ini:3: [ipp] printers: ", 25) != 0)
			fail_msg("%s: got '%s', want '%s'", bad[i].value, d.msgs[0], bad[i].message);
		scout_diag_free(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_guid_form),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snmp_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_from_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_list, setup, teardown),
		cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
