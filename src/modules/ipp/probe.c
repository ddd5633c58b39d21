/* The probe: what a printer speaks and can do, from Get-Printer-Attributes
 * over IPPS (its key pinned on first use), then plain IPP, then whether
 * raw 9100 takes a connection (the last two only with
 * allow_unencrypted_delivery). The answer is cached in the registry
 * (ipp_printer_caps_set) for probe_cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "ipp.h"
#include "loop/log.h"

struct ipp_probe {
	struct scout_list link;
	struct ipp *s;
	struct ipp_printer *p;
	void (*done)(void *arg, int status, const char *why);
	void *arg;
	struct ippc *c;
	struct ipp_raw *raw;
	int stage;     /* 0 ipps, 1 ipp, 2 raw */
	unsigned path; /* index into paths() */
	struct ipp_caps caps;
	int first_err; /* what the IPPS attempt said, for the answer */
	char first_why[300];
};

static const char *const requested[] = {
	"document-format-supported",
	"sides-supported",
	"print-color-mode-supported",
	"color-supported",
	"copies-supported",
	"printer-make-and-model",
	"printer-uuid",
	"printer-device-id",
	"printer-serial-number",
	"printer-uri-supported",
};

static const char *path_at(const struct ipp_printer *p, unsigned i)
{
	static const char *const dflt[] = {"/ipp/print", "/"};

	if (p->path[0])
		return i == 0 ? p->path : NULL;
	return i < 2 ? dflt[i] : NULL;
}

static int raw_port(const struct ipp_printer *p)
{
	/* a printer named by HOST:PORT with a port that is not IPP's may be a
	 * raw socket itself; else raw is 9100 */
	return p->port > 0 && p->port != 631 ? p->port : IPP_RAW_PORT;
}

static bool unreachable(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EHOSTUNREACH || err == -ENETUNREACH ||
	       err == -EAI_NONAME || err == UV_EAI_NONAME || err == UV_ECONNREFUSED || err == UV_ETIMEDOUT ||
	       err == -EADDRNOTAVAIL;
}

static void probe_end(struct ipp_probe *pr, int status, const char *why)
{
	void (*done)(void *, int, const char *) = pr->done;
	void *arg = pr->arg;
	char w[300];

	/* why may be pr's own */
	snprintf(w, sizeof(w), "%s", why ? why : "");
	why = w;
	scout_list_remove(&pr->link);
	ippc_free(pr->c);
	ipp_raw_free(pr->raw);
	free(pr);
	done(arg, status, why);
}

static void probe_step(struct ipp_probe *pr);

static void caps_store(struct ipp_probe *pr)
{
	struct ipp_printer *p = pr->p;

	pr->caps.ipps = pr->stage == 0;
	pr->caps.ipp = pr->stage == 1;
	p->caps_known = true;
	p->caps_ms = uv_now(scout_mod_loop(pr->s->m));
	ipp_printer_caps_set(pr->s, p, &pr->caps);
	/* whatever the registry kept, the deliverer works with this answer */
	p->caps = pr->caps;
	p->caps_known = true;
}

static bool allow_raw(struct ipp *s)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);

	return conf->allow_unencrypted_delivery;
}

static void raw_done(void *arg, int status, const char *why)
{
	struct ipp_probe *pr = arg;
	struct ipp_printer *p = pr->p;

	ipp_raw_free(pr->raw);
	pr->raw = NULL;
	if (status == 0) {
		memset(&pr->caps, 0, sizeof(pr->caps));
		p->raw_ok = true;
		pr->stage = 2;
		pr->caps.ipps = pr->caps.ipp = false;
		p->caps = pr->caps;
		p->caps_known = true;
		p->caps_ms = uv_now(scout_mod_loop(pr->s->m));
		log_info("ipp: printer %s (%s) speaks no IPP; raw TCP %d takes connections%s", p->address, p->guid,
			 raw_port(p), allow_raw(pr->s) ? "" : " (not used: allow_unencrypted_delivery is no)");
		probe_end(pr, 0, "");
		return;
	}
	p->raw_ok = false;
	probe_end(pr, pr->first_err ? pr->first_err : status, pr->first_why[0] ? pr->first_why : why);
}

static void raw_writable(void *arg)
{
	(void)arg;
}

static const struct ipp_raw_cbs raw_cbs = {.on_writable = raw_writable, .on_done = raw_done};

static void on_done(struct ippc *c, int status, const struct ipp_msg *m, const char *why, void *arg)
{
	struct ipp_probe *pr = arg;
	struct ipp *s = pr->s;
	struct ipp_printer *p = pr->p;
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	uint8_t pin[32];
	bool have_pin = ippc_peer_pin(c, pin);
	bool connected = ippc_connected(c);
	char msg[256];

	pr->c = NULL;
	ippc_free(c);
	if (status == -EKEYREJECTED) {
		if (have_pin)
			ipp_printer_pin_changed(s, p, pin);
		log_warn("ipp: printer %s (%s) shows a new certificate: jobs for it are held until `scoutctl printer "
			 "trust %s`",
			 p->address, p->guid, p->address);
		probe_end(pr, -EKEYREJECTED, why);
		return;
	}
	if (status == 0 && m->code < 0x0400 && ipp_caps_from_response(m, &pr->caps) == 0) {
		if (pr->stage == 0 && have_pin && !p->pinned)
			ipp_printer_pin_seen(s, p, pin);
		snprintf(pr->caps.path, sizeof(pr->caps.path), "%s", path_at(p, pr->path));
		char host[300];
		snprintf(host, sizeof(host), strchr(p->host, ':') ? "[%s]" : "%s", p->host);
		snprintf(pr->caps.uri, sizeof(pr->caps.uri), "%s://%.200s:%d%.200s", pr->stage == 0 ? "ipps" : "ipp",
			 host, p->port, pr->caps.path);
		caps_store(pr);
		log_info("ipp: printer %s (%s) speaks %s at %s, %u formats", p->address, p->guid,
			 pr->stage == 0 ? "ipps" : "ipp", pr->caps.uri, pr->caps.nformats);
		probe_end(pr, 0, "");
		return;
	}
	if (status == 0 && path_at(p, pr->path + 1)) {
		/* an IPP answer but not a printer there (client-error-not-found):
		 * the next path */
		pr->path++;
		probe_step(pr);
		return;
	}
	if (status == 0) {
		ippc_status_message(m, msg, sizeof(msg));
		snprintf(pr->first_why, sizeof(pr->first_why),
			 "%.100s:%d answers Get-Printer-Attributes with 0x%04x %.120s", p->host, p->port, m->code, msg);
		status = -EPROTO;
	} else if (pr->stage == 0 || !pr->first_why[0]) {
		snprintf(pr->first_why, sizeof(pr->first_why), "%s", why);
	}
	if (pr->stage == 0) {
		pr->first_err = unreachable(status) && !connected ? status : -EPROTONOSUPPORT;
		if (pr->first_err == -EPROTONOSUPPORT && !conf->allow_unencrypted_delivery)
			snprintf(pr->first_why, sizeof(pr->first_why),
				 "%.80s offers no IPPS (%.150s) and allow_unencrypted_delivery is no", p->address, why);
	}
	if (status == -ECONNREFUSED && !connected && pr->stage == 0) {
		/* nothing listens on the IPP port at all: whether raw 9100 takes a
		 * connection (nothing is sent) tells encryption-required from
		 * unreachable; the deliverer uses it only when allowed */
		if (raw_port(p) != p->port) {
			pr->stage = 2;
			probe_step(pr);
			return;
		}
		probe_end(pr, pr->first_err, pr->first_why);
		return;
	}
	if (!conf->allow_unencrypted_delivery) {
		/* IPPS or nothing: never a fallback in clear */
		probe_end(pr, pr->first_err, pr->first_why);
		return;
	}
	/* IPPS, then plain IPP, then raw: a HOST:PORT that is a raw socket gets
	 * its data only after both IPP attempts failed there */
	pr->stage++;
	pr->path = 0;
	probe_step(pr);
}

static void on_writable(struct ippc *c, void *arg)
{
	(void)c, (void)arg;
}

static const struct ippc_cbs probe_cbs = {.on_writable = on_writable, .on_done = on_done};

static void probe_step(struct ipp_probe *pr)
{
	struct ipp *s = pr->s;
	struct ipp_printer *p = pr->p;
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	struct ipp_writer w;
	char uri[600], err[256];
	int r;

	if (pr->stage >= 2) {
		r = ipp_raw_start(scout_mod_loop(s->m), p->host, raw_port(p), conf->delivery_timeout, 0, &raw_cbs, pr,
				  &pr->raw);
		if (r < 0)
			probe_end(pr, pr->first_err ? pr->first_err : r, pr->first_why);
		return;
	}
	const char *path = path_at(p, pr->path);
	snprintf(uri, sizeof(uri), strchr(p->host, ':') ? "%s://[%s]:%d%s" : "%s://%s:%d%s",
		 pr->stage == 0 ? "ipps" : "ipp", p->host, p->port, path);
	ipp_w_init(&w, 2, 0, IPP_OP_GET_PRINTER_ATTRIBUTES, 1);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_str(&w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(&w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(&w, IPP_TAG_URI, "printer-uri", uri);
	ipp_w_str(&w, IPP_TAG_NAME, "requesting-user-name", "scout");
	ipp_w_strs(&w, IPP_TAG_KEYWORD, "requested-attributes", requested, sizeof(requested) / sizeof(requested[0]));
	if ((r = ipp_w_finish(&w)) < 0) {
		ipp_w_free(&w);
		probe_end(pr, r, "out of memory");
		return;
	}
	struct ippc_opts o = {
		.host = p->host,
		.port = p->port,
		.path = path,
		.tls_ctx = pr->stage == 0 ? s->deliver->tls : NULL,
		.pin = pr->stage == 0 && p->pinned ? p->pin : NULL,
		.timeout_ms = conf->delivery_timeout,
	};
	r = ippc_start(scout_mod_loop(s->m), &o, w.p, w.len, 0, &probe_cbs, pr, &pr->c, err, sizeof(err));
	ipp_w_free(&w);
	if (r < 0)
		probe_end(pr, r, err);
}

void ipp_probe(struct ipp *s, struct ipp_printer *p, void (*done)(void *arg, int status, const char *why), void *arg)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	uint64_t now = uv_now(scout_mod_loop(s->m));
	char why[300];

	if (p->pin_changed) {
		snprintf(why, sizeof(why),
			 "%.100s shows a new certificate; an operator must accept it (scoutctl printer trust %.100s)",
			 p->address, p->address);
		done(arg, -EKEYREJECTED, why);
		return;
	}
	if (p->caps_known && now - p->caps_ms < conf->probe_cache && (p->caps.ipps || p->caps.ipp || p->raw_ok)) {
		done(arg, 0, "");
		return;
	}
	struct ipp_probe *pr = calloc(1, sizeof(*pr));
	if (!pr) {
		done(arg, -ENOMEM, "out of memory");
		return;
	}
	pr->s = s;
	pr->p = p;
	/* the JetDirect port named: raw, never an IPP probe there (whatever
	 * reaches a raw port is printed) */
	if (p->port == IPP_RAW_PORT)
		pr->stage = 2;
	pr->done = done;
	pr->arg = arg;
	scout_list_insert_tail(&s->deliver->probes, &pr->link);
	probe_step(pr);
}

void ipp_probe_cancel_arg(struct ipp *s, void *arg)
{
	struct ipp_probe *pr, *tmp;

	scout_list_foreach_safe (pr, tmp, &s->deliver->probes, link)
		if (pr->arg == arg) {
			scout_list_remove(&pr->link);
			ippc_free(pr->c);
			ipp_raw_free(pr->raw);
			free(pr);
		}
}

/* ---- what Get-Printer-Attributes says ---- */

static bool has_value(const struct ipp_attr *a, const char *prefix)
{
	char buf[80];

	for (const struct ipp_value *v = a ? a->values : NULL; v; v = v->next)
		if (ipp_value_str(v, buf, sizeof(buf)) && strncmp(buf, prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void str_of(const struct ipp_msg *m, const char *name, char *buf, size_t size)
{
	const struct ipp_attr *a = ipp_find(m->attrs, IPP_TAG_PRINTER, name);

	if (!a || !a->values || !ipp_value_str(a->values, buf, size))
		buf[0] = 0;
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

int ipp_caps_from_response(const struct ipp_msg *m, struct ipp_caps *caps)
{
	const struct ipp_attr *a;

	if (m->code >= 0x0400)
		return -EBADMSG;
	memset(caps, 0, sizeof(*caps));
	a = ipp_find(m->attrs, IPP_TAG_PRINTER, "document-format-supported");
	for (const struct ipp_value *v = a ? a->values : NULL; v && caps->nformats < 32; v = v->next)
		if (v->tag == IPP_TAG_MIMETYPE &&
		    ipp_value_str(v, caps->formats[caps->nformats], sizeof(caps->formats[0])) &&
		    caps->formats[caps->nformats][0] && v->len < sizeof(caps->formats[0]))
			caps->nformats++;
	caps->sides_duplex = has_value(ipp_find(m->attrs, IPP_TAG_PRINTER, "sides-supported"), "two-sided-");
	caps->color = has_value(ipp_find(m->attrs, IPP_TAG_PRINTER, "print-color-mode-supported"), "color");
	a = ipp_find(m->attrs, IPP_TAG_PRINTER, "color-supported");
	bool b;
	if (a && a->values && ipp_value_bool(a->values, &b) && b)
		caps->color = true;
	a = ipp_find(m->attrs, IPP_TAG_PRINTER, "copies-supported");
	if (a && a->values && a->values->tag == IPP_TAG_RANGE && a->values->len == 8) {
		const uint8_t *d = a->values->data;
		int32_t hi = (int32_t)((uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7]);
		caps->copies_max = hi > 0 ? hi : 0;
	}
	str_of(m, "printer-make-and-model", caps->make_model, sizeof(caps->make_model));
	str_of(m, "printer-uuid", caps->uuid, sizeof(caps->uuid));
	str_of(m, "printer-serial-number", caps->serial, sizeof(caps->serial));
	if (!caps->serial[0]) {
		/* IEEE 1284 device id: "...;SN:ABC123;..." */
		char id[512];
		str_of(m, "printer-device-id", id, sizeof(id));
		const char *sn = strstr(id, "SN:");
		if (!sn)
			sn = strstr(id, "SERN:");
		if (sn) {
			sn = strchr(sn, ':') + 1;
			size_t n = strcspn(sn, ";");
			if (n >= sizeof(caps->serial))
				n = sizeof(caps->serial) - 1;
			memcpy(caps->serial, sn, n);
			caps->serial[n] = 0;
		}
	}
	return 0;
}

const char *ipp_format_choose(const struct ipp_caps *caps, const char *format)
{
	/* as is when the printer lists it: PDF, PWG raster, URF, JPEG and the
	 * rest pass through untouched; anything else would print garbage */
	for (unsigned i = 0; i < caps->nformats && i < 32; i++)
		if (strcmp(caps->formats[i], format) == 0)
			return caps->formats[i];
	return NULL;
}
