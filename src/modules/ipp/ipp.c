/* ipp: the secure-print intake. An IPP/2.0 printer object (IPP Everywhere,
 * so Windows, macOS, Linux and Mopria clients add it from its URI alone)
 * on the core's http seam; every job it takes is streamed to the vault
 * over the bus (job.create / job.write / job.commit) and held there for
 * release. It follows the vault's vault.state to say whether it accepts
 * jobs and why not.
 *
 * This file holds the descriptor, the configuration, the lifecycle and
 * the status; server.c the HTTP side and the job stream, ops.c the
 * operations, attrs.c the attributes, auth.c who the client is, web.c the
 * page and icon, codec.c the IPP encoding. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipp.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/store.h"
#include "deliver.h"
#include "printers.h"

#define SWEEP_MS 5000
#define RATE_WINDOW_MS 60000

/* ---- configuration ------------------------------------------------------ */

static int parse_listen(const char *value, void *field, char *err, size_t errlen)
{
	struct ipp_listen *l = field;
	const char *colon = strrchr(value, ':');
	char host[sizeof(l->host)];
	char *end;

	if (!colon || colon == value) {
		snprintf(err, errlen, "expected ADDRESS:PORT (127.0.0.1:8631, [::1]:8631, 0.0.0.0:631)");
		return -EINVAL;
	}
	size_t n = (size_t)(colon - value);
	if (value[0] == '[' && n >= 2 && value[n - 1] == ']')
		value++, n -= 2;
	if (n == 0 || n >= sizeof(host)) {
		snprintf(err, errlen, "the address must be 1 to %zu characters", sizeof(host) - 1);
		return -EINVAL;
	}
	memcpy(host, value, n);
	host[n] = 0;
	struct sockaddr_in6 a6;
	struct sockaddr_in a4;
	if (uv_ip4_addr(host, 0, &a4) != 0 && uv_ip6_addr(host, 0, &a6) != 0) {
		snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address", host);
		return -EINVAL;
	}
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535) {
		snprintf(err, errlen, "the port must be 0 to 65535 (0: any free port)");
		return -EINVAL;
	}
	snprintf(l->host, sizeof(l->host), "%s", host);
	l->port = (int)port;
	return 0;
}

static const char *const owner_modes[] = {"authenticated", "requesting-user-name", NULL};

#define OPT(k, t, f, d, ...)                                                                       \
	{                                                                                          \
		.key = k, .type = t, .offset = offsetof(struct ipp_conf, f), .def = d, __VA_ARGS__ \
	}

static const struct scout_option ipp_options[] = {
	OPT("listen", SCOUT_OPT_CUSTOM, listen, "127.0.0.1:8631", .parse = parse_listen,
	    .help = "address and port of the IPP printer (ipp://ADDRESS:PORT/ipp/print); [::]:631 for every address"),
	OPT("owner", SCOUT_OPT_ENUM, owner, "authenticated", .choices = owner_modes,
	    .help = "who owns a job: authenticated (HTTP Basic over TLS, checked with auth.password) or "
		    "requesting-user-name (whatever name the client sends: trusts the client)"),
	OPT("tls", SCOUT_OPT_BOOL, tls, "yes",
	    .help = "also serve ipps:// (TLS 1.2+) on the same port; owner = authenticated needs it"),
	OPT("tls_cert", SCOUT_OPT_STRING, tls_cert, "",
	    .help = "PEM certificate (and chain) for ipps://; empty: one is generated on first start in "
		    "state_dir (ipp-cert.pem, ipp-key.pem)"),
	OPT("tls_key", SCOUT_OPT_STRING, tls_key, "", .help = "PEM private key of tls_cert"),
	OPT("dnssd", SCOUT_OPT_BOOL, dnssd, "no",
	    .help = "announce the queue over DNS-SD (_ipp._tcp, _ipps._tcp) through avahi-daemon"),
	OPT("name", SCOUT_OPT_STRING, name, "scout", .help = "printer-name and the name clients show"),
	OPT("location", SCOUT_OPT_STRING, location, "", .help = "printer-location"),
	OPT("info", SCOUT_OPT_STRING, info, "Secure print: held until you release it at a printer",
	    .help = "printer-info"),
	OPT("make_and_model", SCOUT_OPT_STRING, make_model, "scout Secure Print", .help = "printer-make-and-model"),
	OPT("max_job_size", SCOUT_OPT_SIZE, max_job_size, "1G", .min = 1 << 20, .max = 1LL << 40,
	    .help = "largest document accepted; a larger one is refused with HTTP 413"),
	OPT("header_timeout", SCOUT_OPT_DURATION, header_timeout, "10s", .min = 1000, .max = 600000,
	    .help = "time a client has to send a request's HTTP headers"),
	OPT("idle_timeout", SCOUT_OPT_DURATION, idle_timeout, "60s", .min = 1000, .max = 3600000,
	    .help = "an idle connection, or a request body that stops flowing, is closed after this"),
	OPT("max_connections", SCOUT_OPT_INT, max_connections, "1024", .min = 1, .max = 100000,
	    .help = "open connections; more are answered 503"),
	OPT("multiple_operation_timeout", SCOUT_OPT_DURATION, multiple_operation_timeout, "5m", .min = 10000,
	    .max = 86400000, .help = "a Create-Job whose Send-Document does not come within this is dropped"),
	OPT("printers", SCOUT_OPT_CUSTOM, printers, "", .parse = ipp_printers_conf_parse,
	    .free = ipp_printers_conf_free,
	    .help = "printers scout may deliver to, listed before first use: NAME=ADDRESS or ADDRESS entries "
		    "(ADDRESS an IP, HOST:PORT or ipp(s):// URI), separated by commas"),
	IPP_DELIVER_OPTIONS,
	{0},
};

static void ipp_configure(void *conf_, struct scout_check *c)
{
	struct ipp_conf *conf = conf_;

	if (!conf->name[0] || strlen(conf->name) > 127)
		scout_check_error(c, "name", "name must be 1 to 127 characters");
	if (strlen(conf->location) > 127)
		scout_check_error(c, "location", "location must be at most 127 characters");
	if (strlen(conf->info) > 127)
		scout_check_error(c, "info", "info must be at most 127 characters");
	if (!conf->tls_cert[0] != !conf->tls_key[0])
		scout_check_error(c, conf->tls_cert[0] ? "tls_cert" : "tls_key", "tls_cert and tls_key go together");
	if (conf->owner == IPP_OWNER_AUTHENTICATED && !conf->tls)
		scout_check_error(c, "tls", "owner = authenticated needs tls = yes: passwords are taken only over TLS");
	if (strlen(conf->make_model) > 127)
		scout_check_error(c, "make_and_model", "make_and_model must be at most 127 characters");
}

/* ---- the vault's state -------------------------------------------------- */

static void vault_state_set(struct ipp *s, const void *data, size_t len)
{
	struct ipp_vault_state v = {.known = true};
	msgpack_unpacked u;
	const char *reason;
	size_t n;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_bool(&u.data, "locked", &v.locked) < 0 ||
	    scout_pack_get_bool(&u.data, "accepting", &v.accepting) < 0) {
		msgpack_unpacked_destroy(&u);
		log_warn("ipp: vault.state: malformed payload ignored");
		return;
	}
	if (scout_pack_get_str(&u.data, "reason", &reason, &n) == 0)
		snprintf(v.reason, sizeof(v.reason), "%.*s", (int)(n < sizeof(v.reason) ? n : sizeof(v.reason) - 1),
			 reason);
	msgpack_unpacked_destroy(&u);
	bool was = ipp_accepting(s);
	s->vault = v;
	if (ipp_accepting(s) != was || !was) {
		s->state_changed = time(NULL);
		if (ipp_accepting(s) != was)
			log_info("ipp: %s", ipp_accepting(s) ? "accepting jobs" : ipp_state_message(s));
	}
}

static void on_vault_state(const struct scout_msg *msg, void *arg)
{
	vault_state_set(arg, msg->data, msg->len);
}

static void on_vault_status(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp *s = arg;

	s->status_corr = 0;
	if (status == 0 && reply)
		vault_state_set(s, reply->data, reply->len);
	else if (!s->vault.known)
		log_info("ipp: the vault did not answer vault.status (%s): not accepting jobs until it reports",
			 strerror(-status));
}

/* ---- lifecycle ---------------------------------------------------------- */

/* printer-uuid: made once, kept in the module's store database. */
static int load_uuid(struct ipp *s)
{
	struct scout_db *db;
	unsigned char b[16];
	void *val;
	size_t len;
	int r;

	if ((r = scout_mod_db(s->m, &db)) < 0)
		return r;
	if (scout_store_get(db, "uuid", 4, &val, &len) == 0) {
		if (len < sizeof(s->uuid) && len > 9) {
			memcpy(s->uuid, val, len);
			s->uuid[len] = 0;
			free(val);
			return 0;
		}
		free(val);
	}
	if ((r = uv_random(NULL, NULL, b, sizeof(b), 0, NULL)) < 0)
		return r;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(s->uuid, sizeof(s->uuid),
		 "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return scout_store_put(db, "uuid", 4, s->uuid, strlen(s->uuid));
}

static void on_sweep(uv_timer_t *t)
{
	struct ipp *s = t->data;
	uint64_t now = uv_now(scout_mod_loop(s->m));

	ipp_open_jobs_sweep(s);
	if (now - s->rate_start_ms >= RATE_WINDOW_MS) {
		s->last_rate_bytes = s->rate_bytes;
		s->last_rate_jobs = s->rate_jobs;
		s->rate_bytes = s->rate_jobs = 0;
		s->rate_start_ms = now;
	}
}

static int find_topics(struct scout_mod *m, struct ipp *s)
{
	int r;

	if ((r = scout_mod_topic(m, "job.create", &s->t_create)) < 0 ||
	    (r = scout_mod_topic(m, "job.write", &s->t_write)) < 0 ||
	    (r = scout_mod_topic(m, "job.commit", &s->t_commit)) < 0 ||
	    (r = scout_mod_topic(m, "job.abort", &s->t_abort)) < 0 ||
	    (r = scout_mod_topic(m, "job.list", &s->t_list)) < 0 ||
	    (r = scout_mod_topic(m, "job.cancel", &s->t_cancel)) < 0 ||
	    (r = scout_mod_topic(m, "vault.status", &s->t_status)) < 0 ||
	    (r = scout_mod_topic(m, "vault.state", &s->t_state)) < 0)
		return r;
	/* only owner = authenticated needs it; its absence answers 503 then */
	s->t_auth = scout_bus_find(scout_mod_bus(m), "auth.password");
	return 0;
}

static int ipp_start(struct scout_mod *m)
{
	const struct ipp_conf *conf = scout_mod_conf(m);
	struct ipp *s = calloc(1, sizeof(*s));
	char err[256];
	int r;

	if (!s)
		return -ENOMEM;
	s->m = m;
	scout_list_init(&s->reqs);
	scout_list_init(&s->open_jobs);
	s->started = s->state_changed = time(NULL);
	scout_mod_set_priv(m, s);
	if ((r = find_topics(m, s)) < 0)
		return r;
	if ((r = load_uuid(s)) < 0) {
		scout_mod_fail(m, "cannot keep printer-uuid in its store database: %s", strerror(-r));
		return r;
	}
	if ((r = scout_bus_subscribe(scout_mod_bus(m), s->t_state, on_vault_state, s, 64, &s->state_sub)) < 0)
		return r;
	if (scout_bus_request(scout_mod_bus(m), s->t_status, NULL, 0, 10000, on_vault_status, s, &s->status_corr) < 0)
		log_warn("ipp: cannot ask the vault for its state");
	uv_timer_init(scout_mod_loop(m), &s->sweep);
	s->sweep.data = s;
	s->sweep_ready = true;
	s->rate_start_ms = uv_now(scout_mod_loop(m));
	uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	if ((r = ipp_server_start(s, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "cannot listen on %s:%d: %s", conf->listen.host, conf->listen.port, err);
		return r;
	}
	if ((r = ipp_printers_start(s, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "%s", err);
		return r;
	}
	if ((r = ipp_deliver_start(s, err, sizeof(err))) < 0) {
		scout_mod_fail(m, "deliverer: %s", err);
		return r;
	}
	log_info("ipp: printer '%s' at %s, owner = %s", conf->name, s->url[0], owner_modes[conf->owner]);
	if (conf->dnssd && ipp_dnssd_start(s, &s->dnssd) < 0)
		log_warn("ipp: the queue runs without its DNS-SD announcement");
	return 0;
}

static int ipp_reload(struct scout_mod *m, const void *old_conf)
{
	const struct ipp_conf *conf = scout_mod_conf(m), *old = old_conf;

	if (strcmp(conf->listen.host, old->listen.host) != 0 || conf->listen.port != old->listen.port ||
	    conf->tls != old->tls || conf->dnssd != old->dnssd || strcmp(conf->name, old->name) != 0 ||
	    strcmp(conf->tls_cert, old->tls_cert) != 0 || strcmp(conf->tls_key, old->tls_key) != 0 ||
	    conf->max_job_size != old->max_job_size || conf->header_timeout != old->header_timeout ||
	    conf->idle_timeout != old->idle_timeout || conf->max_connections != old->max_connections) {
		scout_mod_refuse(
			m,
			"listen, tls, tls_cert, tls_key, dnssd, name, max_job_size, the timeouts and max_connections take effect at a restart "
			"of the module (disable, reload, enable) or of scoutd");
		return -EINVAL;
	}
	return ipp_printers_sync_conf(scout_mod_priv(m));
}

static void ipp_free(void *arg)
{
	struct ipp *s = arg;

	while (!scout_list_empty(&s->open_jobs)) {
		struct ipp_open_job *j = scout_list_entry(s->open_jobs.next, struct ipp_open_job, link);
		scout_list_remove(&j->link);
		free(j);
	}
	ipp_deliver_free(s);
	free(s);
}

static void ipp_stop(struct scout_mod *m)
{
	struct ipp *s = scout_mod_priv(m);

	if (!s) {
		scout_mod_stopped(m);
		return;
	}
	s->stopping = true;
	if (s->status_corr) /* a start that failed, or a stop right after it: s goes */
		scout_bus_cancel(scout_mod_bus(m), s->status_corr);
	s->status_corr = 0;
	if (s->state_sub)
		scout_bus_unsubscribe(s->state_sub);
	s->state_sub = NULL;
	ipp_dnssd_stop(s->dnssd);
	s->dnssd = NULL;
	ipp_server_stop(s);
	ipp_deliver_stop(s);
	ipp_printers_stop(s);
	struct ipp_open_job *j;
	scout_list_foreach (j, &s->open_jobs, link)
		if (s->t_abort)
			ipp_job_abort(s, j->id, "scout is stopping");
	if (s->sweep_ready)
		scout_closer_close(scout_mod_closer(m), (uv_handle_t *)&s->sweep);
	scout_mod_stopped_when_closed(m, ipp_free, s);
}

static size_t list_count(const struct scout_list *l)
{
	size_t n = 0;

	for (const struct scout_list *p = l->next; p != l; p = p->next)
		n++;
	return n;
}

static void ipp_status(struct scout_mod *m, json_t *obj)
{
	struct ipp *s = scout_mod_priv(m);
	json_t *c = json_object_get(obj, "counters");
	json_t *urls = json_array();

	if (!s)
		return;
	for (size_t i = 0; i < 2; i++)
		if (s->url[i][0])
			json_array_append_new(urls, json_string(s->url[i]));
	json_object_set_new(obj, "urls", urls);
	json_object_set_new(obj, "printer_uuid", json_string(s->uuid));
	json_object_set_new(obj, "dnssd", s->dnssd ? json_string(ipp_dnssd_state(s->dnssd)) : json_null());
	json_object_set_new(obj, "accepting", json_boolean(ipp_accepting(s)));
	json_object_set_new(obj, "state_message", json_string(ipp_state_message(s)));
	json_object_set_new(obj, "requests_in_flight", json_integer((json_int_t)list_count(&s->reqs)));
	json_object_set_new(obj, "open_jobs", json_integer((json_int_t)list_count(&s->open_jobs)));
	json_object_set_new(obj, "intake_jobs_last_minute", json_integer((json_int_t)s->last_rate_jobs));
	json_object_set_new(obj, "intake_bytes_per_second", json_integer((json_int_t)(s->last_rate_bytes / 60)));
	const struct scout_http_server_stats *hs = s->http ? scout_http_server_stats(s->http) : NULL;
	if (hs) {
		json_object_set_new(obj, "connections_open", json_integer((json_int_t)hs->open));
		json_object_set_new(c, "http_connections", json_integer((json_int_t)hs->connections));
		json_object_set_new(c, "http_errors", json_integer((json_int_t)hs->errors));
		json_object_set_new(c, "http_timeouts", json_integer((json_int_t)hs->timeouts));
		json_object_set_new(c, "http_refused_busy", json_integer((json_int_t)hs->refused_busy));
	}
	json_object_set_new(c, "http_requests", json_integer((json_int_t)s->n.http_requests));
	json_object_set_new(c, "ipp_requests", json_integer((json_int_t)s->n.ipp_requests));
	json_object_set_new(c, "bad_requests", json_integer((json_int_t)s->n.bad_requests));
	json_object_set_new(c, "jobs_received", json_integer((json_int_t)s->n.jobs));
	json_object_set_new(c, "document_bytes", json_integer((json_int_t)s->n.documents_bytes));
	json_object_set_new(c, "errors", json_integer((json_int_t)s->n.errors));
	json_object_set_new(c, "refused_not_accepting", json_integer((json_int_t)s->n.refused_not_accepting));
	json_object_set_new(c, "auth_ok", json_integer((json_int_t)s->n.auth_ok));
	json_object_set_new(c, "auth_failed", json_integer((json_int_t)s->n.auth_failed));
	json_object_set_new(c, "aborted", json_integer((json_int_t)s->n.aborted));
	json_object_set_new(c, "unsupported_operations", json_integer((json_int_t)s->n.unsupported_ops));
	ipp_printers_status(s, obj);
	ipp_deliver_status(s, obj);
}

static const struct scout_topic_decl ipp_topics[] = {
	{"printer.alert", SCOUT_TOPIC_EVENT,
	 "when a printer shows a new certificate, or an operator trusts it; map: guid str, address str, alert str "
	 "(\"certificate-changed\" or \"certificate-trusted\"), pin str (hex SHA-256 of the pinned key), new_pin str "
	 "(hex, the key the printer shows now), time uint (unix s)"},
	{"job.release", SCOUT_TOPIC_REQUEST,
	 "{user str, printer str, jobs? [uint]} -> {printer {guid, address, protocol}, jobs [{id, outcome "
	 "(delivered|failed), reason, text, protocol, printer_job_id?}]}; -ENOENT printer unknown, -EINVAL, -EACCES "
	 "vault locked"},
	{"job.released", SCOUT_TOPIC_EVENT,
	 "{id uint, owner str, printer str (GUID), protocol str, printer_job_id int, time uint}"},
	{"job.failed", SCOUT_TOPIC_EVENT, "{id uint, owner str, printer str (GUID), reason str, text str, time uint}"},
	{0},
};

static const struct scout_command ipp_commands[] = {
	{"release", ipp_release_command, "release a user's held jobs to a printer and wait for the outcome",
	 ipp_release_args, ipp_release_tables, ipp_release_text, .no_timeout = true},
	{"printers", ipp_cmd_printers,
	 "the printers scout may deliver to: GUID, address, protocols, pinned key, alerts", NULL,
	 ipp_cmd_printers_tables, ipp_cmd_printers_text},
	{"printer trust", ipp_cmd_trust, "accept the new certificate a printer shows (its jobs are held until then)",
	 ipp_cmd_trust_args, NULL, ipp_cmd_trust_text},
	{"printer qr", ipp_cmd_qr, "a printer's GUID and its QR code for the label (--png, --svg: files)",
	 ipp_cmd_qr_args, ipp_cmd_qr_tables, ipp_cmd_qr_text},
	{0},
};

const struct scout_module scout_ipp_module = {
	.name = "ipp",
	.summary = "IPP Everywhere print queue: jobs arrive over ipp:// and are held encrypted in the vault",
	.default_enabled = false,
	.options = ipp_options,
	.conf_size = sizeof(struct ipp_conf),
	.configure = ipp_configure,
	.start = ipp_start,
	.reload = ipp_reload,
	.status = ipp_status,
	.stop = ipp_stop,
	.commands = ipp_commands,
	.topics = ipp_topics,
};
