/* The registry's status-socket commands: printers (the list), printer
 * trust (accept a printer's new key, or pin the key a printer with none
 * pinned shows now, over one TLS handshake) and printer qr (the GUID as
 * terminal text, PNG and SVG, drawn by qr.c). */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ipp.h"
#include "loop/http.h"
#include "loop/log.h"
#include "loop/status.h"
#include "loop/tls.h"
#include "printers-int.h"
#include "printers.h"
#include "qr.h"

#define PEEK_TIMEOUT_MS 10000

/* ---- commands ------------------------------------------------------------- */

static json_t *printer_json(const struct entry *e)
{
	const struct ipp_printer *p = &e->p;
	char pin[65] = "", new_pin[65] = "", short_pin[24] = "", protos[32] = "";

	if (p->pinned) {
		ipp_reg_hex(p->pin, 32, pin);
		snprintf(short_pin, sizeof(short_pin), "%.16s\xe2\x80\xa6", pin);
	}
	if (p->pin_changed)
		ipp_reg_hex(p->new_pin, 32, new_pin);
	snprintf(protos, sizeof(protos), "%s%s%s", p->caps.ipps ? "ipps " : "", p->caps.ipp ? "ipp " : "",
		 p->raw_ok ? "raw " : "");
	if (protos[0])
		protos[strlen(protos) - 1] = 0;
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s}", "guid", p->guid, "address", p->address, "host", p->host,
			      "port", p->port, "path", p->path, "serial", p->serial);
	/* null until deliver has asked the printer */
	json_object_set_new(o, "protocols", protos[0] ? json_string(protos) : json_null());
	if (e->name[0])
		json_object_set_new(o, "name", json_string(e->name));
	if (p->caps.make_model[0])
		json_object_set_new(o, "model", json_string(p->caps.make_model));
	json_object_set_new(o, "pin", p->pinned ? json_string(pin) : json_null());
	if (p->pinned)
		json_object_set_new(o, "pin_short", json_string(short_pin));
	if (p->pin_changed) {
		json_object_set_new(o, "new_pin", json_string(new_pin));
		json_object_set_new(o, "alert", json_string("certificate-changed"));
		json_object_set_new(o, "alert_since", scout_time_json(e->alert_since));
	}
	return o;
}

void ipp_cmd_printers(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct ipp *s = scout_mod_priv(m);
	json_t *arr = json_array();
	struct entry *e;
	(void)request;

	if (s->reg)
		scout_list_foreach (e, &s->reg->printers, p.link)
			json_array_append_new(arr, printer_json(e));
	scout_status_reply(req, json_pack("{s:o, s:I}", "printers", arr, "count", (json_int_t)json_array_size(arr)));
}

static const char *arg_str(json_t *request, const char *key)
{
	return json_string_value(json_object_get(request, key));
}

/* A command's resolution: the request is kept until the answer. */
struct cmd_ctx {
	struct ipp *s;
	struct scout_status_req *req;
	json_t *request;
};

static struct cmd_ctx *cmd_ctx(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct cmd_ctx *c = calloc(1, sizeof(*c));

	if (!c) {
		scout_status_error(req, "internal", "out of memory");
		return NULL;
	}
	c->s = scout_mod_priv(m);
	c->req = req;
	c->request = json_incref(request);
	return c;
}

static void cmd_ctx_free(struct cmd_ctx *c)
{
	json_decref(c->request);
	free(c);
}

static bool resolved(struct cmd_ctx *c, int status, const char *why)
{
	if (status == 0)
		return true;
	scout_status_error(c->req,
			   status == -EINVAL   ? "invalid"
			   : status == -ENOENT ? "not-found"
					       : "unavailable",
			   "%s", why ? why : strerror(-status));
	cmd_ctx_free(c);
	return false;
}

/* --pin HEX: 16 to 64 hex digits (colons allowed), a prefix of the key. */
static int parse_pin(const char *text, char out[65])
{
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		if (*p == ':' || *p == ' ')
			continue;
		if (!isxdigit((unsigned char)*p) || n == 64)
			return -EINVAL;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = 0;
	return n >= 16 ? 0 : -EINVAL;
}

struct trust_ctx {
	struct scout_status_req *req;
	json_t *reply;
};

static void trust_stored(void *arg, int status)
{
	struct trust_ctx *t = arg;

	if (status < 0) {
		scout_status_error(t->req, "internal", "the new key is trusted but could not be stored: %s",
				   strerror(-status));
		json_decref(t->reply);
	} else {
		scout_status_reply(t->req, t->reply);
	}
	free(t);
}

/* printer trust on a printer with no pin yet: one TLS handshake (pin on
 * first use, no request) reads the key it shows now, and that is pinned. */
struct peek {
	struct scout_list link; /* registry's peeks */
	struct cmd_ctx *c;
	char guid[37], address[300];
	struct scout_http_client *hc;
};

static void peek_free(struct peek *k)
{
	scout_list_remove(&k->link);
	scout_http_client_close(k->hc);
	cmd_ctx_free(k->c);
	free(k);
}

static void peek_connected(struct scout_http_client *hc, const struct scout_tls_peer *peer, void *arg)
{
	struct peek *k = arg;
	struct cmd_ctx *c = k->c;
	struct ipp *s = c->s;
	struct entry *e = s->reg ? ipp_reg_find_guid(s->reg, k->guid) : NULL;
	const char *pin_arg = arg_str(c->request, "pin");
	char want[65] = "", shown[65];
	(void)hc;

	if (!e || !peer) {
		scout_status_error(c->req, "unavailable", "printer %s: %s", k->address,
				   e ? "no certificate was shown" : "it left the registry meanwhile");
		peek_free(k);
		return;
	}
	ipp_reg_hex(peer->pin, 32, shown);
	if (pin_arg)
		parse_pin(pin_arg, want); /* checked before connecting */
	if (e->p.pinned || e->p.pin_changed) {
		/* a delivery pinned it meanwhile: that stands */
		scout_status_error(c->req, "conflict", "printer %s was pinned meanwhile; run printer trust again",
				   k->address);
	} else if (want[0] && strncmp(shown, want, strlen(want)) != 0) {
		scout_status_error(c->req, "conflict", "printer %s shows key %.16s…, not the one given with --pin",
				   k->address, shown);
	} else {
		struct trust_ctx *t = calloc(1, sizeof(*t));
		memcpy(e->p.pin, peer->pin, 32);
		e->p.pinned = true;
		log_info("ipp: printer %s (%s): key %.16s… pinned by an operator", e->p.address, e->p.guid, shown);
		ipp_reg_alert(s, e, "certificate-trusted");
		json_t *reply = json_pack("{s:s, s:s, s:s, s:b, s:s}", "guid", e->p.guid, "address", e->p.address,
					  "pin", shown, "trusted", 1, "text",
					  "the key the printer shows now is pinned: jobs for it go only to that key");
		if (!t) {
			ipp_reg_save(s, e);
			scout_status_reply(c->req, reply);
		} else {
			t->req = c->req;
			t->reply = reply;
			if (ipp_reg_persist(s, e, false, trust_stored, t) < 0)
				trust_stored(t, -EIO);
		}
	}
	peek_free(k);
}

static void peek_failed(struct scout_http_client *hc, int err, const char *reason, void *arg)
{
	struct peek *k = arg;
	(void)hc;

	scout_status_error(k->c->req, "unavailable",
			   "no key pinned yet, and printer %s could not be asked for its certificate: %s (%s)",
			   k->address, reason ? reason : "", strerror(-err));
	peek_free(k);
}

static const struct scout_http_client_callbacks peek_cbs = {
	.on_connect = peek_connected,
	.on_error = peek_failed,
};

void ipp_reg_cmds_stop(struct ipp_registry *reg)
{
	while (!scout_list_empty(&reg->peeks)) {
		struct peek *k = scout_list_entry(reg->peeks.next, struct peek, link);
		scout_status_error(k->c->req, "unavailable", "scout is stopping");
		peek_free(k);
	}
}

static int peek_start(struct cmd_ctx *c, struct entry *e)
{
	struct ipp *s = c->s;
	struct scout_tls_ctx *tls = NULL;
	struct peek *k = calloc(1, sizeof(*k));
	struct scout_tls_client_opts topts = {0};
	char err[SCOUT_TLS_ERR_LEN];
	int r = -ENOMEM;

	if (!k || (r = scout_tls_ctx_client(&topts, &tls, err, sizeof(err))) < 0) {
		scout_status_error(c->req, "internal", "cannot make a TLS client: %s", k ? err : "out of memory");
		free(k);
		return r;
	}
	struct ipp_spec sp;
	char why[200];
	bool name = ipp_printer_spec_parse(e->p.host, &sp, why, sizeof(why)) == 0 && !sp.ip;
	struct scout_http_client_opts o = {
		.host = e->p.host,
		.port = e->p.port,
		.tls = tls,
		.tls_opts = {.server_name = name ? e->p.host : NULL, .verify = SCOUT_TLS_PIN_FIRST_USE},
		.connect_timeout_ms = PEEK_TIMEOUT_MS,
		.timeout_ms = PEEK_TIMEOUT_MS,
	};
	k->c = c;
	memcpy(k->guid, e->p.guid, sizeof(k->guid));
	memcpy(k->address, e->p.address, sizeof(k->address));
	scout_list_insert_tail(&s->reg->peeks, &k->link);
	r = scout_http_client_connect(scout_mod_loop(s->m), &o, &peek_cbs, k, &k->hc, err, sizeof(err));
	scout_tls_ctx_unref(tls);
	if (r < 0) {
		scout_status_error(c->req, "unavailable", "printer %s: %s", k->address, err);
		scout_list_remove(&k->link);
		free(k);
	}
	return r;
}

static void trust_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct cmd_ctx *c = arg;
	struct ipp *s = c->s;
	const char *pin_arg = arg_str(c->request, "pin");
	char want[65] = "", shown[65], old[65];

	if (!resolved(c, status, why))
		return;
	struct entry *e = ipp_reg_ours(s, p);
	if (pin_arg && parse_pin(pin_arg, want) < 0) {
		scout_status_error(c->req, "invalid", "--pin takes 16 to 64 hex digits of the key's SHA-256");
		goto out;
	}
	if (!p->pin_changed) {
		if (p->pinned) {
			ipp_reg_hex(p->pin, 32, old);
			scout_status_reply(c->req,
					   json_pack("{s:s, s:s, s:s, s:b, s:s}", "guid", p->guid, "address",
						     p->address, "pin", old, "trusted", 0, "text",
						     "no new certificate to trust: the printer shows the pinned key"));
			goto out;
		}
		/* nothing pinned yet: pin what the printer shows now */
		if (peek_start(c, e) == 0)
			return;
		goto out;
	}
	ipp_reg_hex(p->new_pin, 32, shown);
	if (want[0] && strncmp(shown, want, strlen(want)) != 0) {
		scout_status_error(c->req, "conflict", "printer %s shows key %.16s…, not the one given with --pin",
				   p->address, shown);
		goto out;
	}
	ipp_reg_hex(p->pin, 32, old);
	memcpy(p->pin, p->new_pin, 32);
	p->pin_changed = false;
	e->alert_since = 0;
	log_info("ipp: printer %s (%s): new key %.16s… trusted by an operator (was %.16s…)", p->address, p->guid, shown,
		 old);
	ipp_reg_alert(s, e, "certificate-trusted");
	struct trust_ctx *t = calloc(1, sizeof(*t));
	json_t *reply = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "guid", p->guid, "address", p->address, "pin",
				  shown, "previous_pin", old, "trusted", 1, "text",
				  "the new certificate is trusted: jobs for this printer can be released");
	if (!t) {
		ipp_reg_save(s, e);
		scout_status_reply(c->req, reply);
		goto out;
	}
	t->req = c->req;
	t->reply = reply;
	if (ipp_reg_persist(s, e, false, trust_stored, t) < 0)
		trust_stored(t, -EIO);
out:
	cmd_ctx_free(c);
}

/* A command naming a printer: resolved (added when new), then cb. */
static void resolve_address(struct scout_mod *m, struct scout_status_req *req, json_t *request, ipp_printer_cb cb)
{
	const char *address = arg_str(request, "address");
	struct cmd_ctx *c;

	if (!address) {
		scout_status_error(req, "invalid", "which printer? (an address, a name or its GUID)");
		return;
	}
	if ((c = cmd_ctx(m, req, request)))
		ipp_reg_resolve(c->s, address, true, cb, c);
}

void ipp_cmd_trust(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	resolve_address(m, req, request, trust_resolved);
}

static char *base64(const uint8_t *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

static bool want(json_t *request, const char *key)
{
	json_t *v = json_object_get(request, key);

	return json_is_true(v) || (json_is_string(v) && json_string_length(v) > 0);
}

static void qr_resolved(void *arg, int status, struct ipp_printer *p, const char *why)
{
	struct cmd_ctx *c = arg;
	struct ipp_qr *qr = NULL;
	char **lines = NULL;
	json_t *reply = NULL;
	int r;

	if (!resolved(c, status, why))
		return;
	if ((r = ipp_qr_encode(p->guid, &qr)) < 0 || (r = ipp_qr_text(qr, 2, &lines)) < 0)
		goto fail;
	json_t *text = json_array();
	for (char **l = lines; *l; l++)
		json_array_append_new(text, json_string(*l));
	reply = json_pack("{s:s, s:s, s:o}", "guid", p->guid, "address", p->address, "qr", text);
	if (want(c->request, "png")) {
		uint8_t *png;
		size_t len;
		if ((r = ipp_qr_png(qr, 10, &png, &len)) < 0)
			goto fail;
		char *b = base64(png, len);
		free(png);
		if (!b) {
			r = -ENOMEM;
			goto fail;
		}
		json_object_set_new(reply, "png", json_string(b));
		free(b);
	}
	if (want(c->request, "svg")) {
		char *svg;
		if ((r = ipp_qr_svg(qr, 30, &svg)) < 0)
			goto fail;
		char *b = base64((const uint8_t *)svg, strlen(svg));
		free(svg);
		if (!b) {
			r = -ENOMEM;
			goto fail;
		}
		json_object_set_new(reply, "svg", json_string(b));
		free(b);
	}
	scout_status_reply(c->req, reply);
	reply = NULL;
	goto out;
fail:
	scout_status_error(c->req, "internal", "cannot draw the QR code: %s", strerror(-r));
out:
	json_decref(reply);
	ipp_qr_lines_free(lines);
	ipp_qr_free(qr);
	cmd_ctx_free(c);
}

void ipp_cmd_qr(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	resolve_address(m, req, request, qr_resolved);
}

static const struct scout_column printers_columns[] = {
	{"guid", "GUID", 0},
	{"address", "ADDRESS", 40},
	{"protocols", "PROTOCOLS", 0},
	{"model", "MODEL", 30},
	{"pin_short", "PIN", 0},
	{"alert", "ALERT", 0},
	{0},
};
const struct scout_table ipp_cmd_printers_tables[] = {{"printers", printers_columns}, {0}};
const char *const ipp_cmd_printers_text[] = {"{count} printers known", NULL};

const struct scout_arg ipp_cmd_trust_args[] = {
	{"address", SCOUT_ARG_STRING, true, "the printer: IP, HOST:PORT, URI, name or GUID"},
	{"pin", SCOUT_ARG_STRING, false, "accept only this key (hex SHA-256 as the alert shows, 16 digits at least)"},
	{0},
};
const char *const ipp_cmd_trust_text[] = {"printer {address} ({guid}): {text}", NULL};

const struct scout_arg ipp_cmd_qr_args[] = {
	{"address", SCOUT_ARG_STRING, true, "the printer: IP, HOST:PORT, URI, name or GUID"},
	{"png", SCOUT_ARG_OUTPUT, false, "write a PNG of the label to FILE"},
	{"svg", SCOUT_ARG_OUTPUT, false, "write an SVG of the label to FILE"},
	{0},
};
const char *const ipp_cmd_qr_text[] = {"printer {address}: GUID {guid}", NULL};
/* the code itself: each line a row of a one-column table (path "": the row) */
static const struct scout_column qr_columns[] = {{"", "", 0}, {0}};
const struct scout_table ipp_cmd_qr_tables[] = {{"qr", qr_columns}, {0}};
