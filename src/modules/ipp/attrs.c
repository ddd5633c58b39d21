/* The printer's attributes (RFC 8011 and PWG 5100.14 IPP Everywhere, so a
 * driverless client adds the queue from its URI alone) and the job
 * attributes made from the vault's job metadata. Values that depend on
 * the request (URIs with the host the client used, the scheme it came in
 * on) are built per request; the vault's state gives printer-state,
 * -reasons, -message and printer-is-accepting-jobs. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ipp.h"
#include "loop/pack.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const formats[] = {
	"application/pdf",        "image/pwg-raster",         "image/urf", "image/jpeg", "application/postscript",
	"application/vnd.hp-pcl", "application/octet-stream",
};

struct media {
	const char *name;
	int32_t x, y; /* hundredths of mm */
};

static const struct media medias[] = {
	{"iso_a4_210x297mm", 21000, 29700},         {"na_letter_8.5x11in", 21590, 27940},
	{"na_legal_8.5x14in", 21590, 35560},        {"iso_a5_148x210mm", 14800, 21000},
	{"iso_a3_297x420mm", 29700, 42000},         {"na_ledger_11x17in", 27940, 43180},
	{"na_executive_7.25x10.5in", 18415, 26670},
};

#define MARGIN 423 /* 1/6 inch, the usual printable-area margin */

bool ipp_format_supported(const char *format)
{
	for (size_t i = 0; i < N(formats); i++)
		if (strcasecmp(formats[i], format) == 0)
			return true;
	return false;
}

bool ipp_media_supported(const char *media)
{
	for (size_t i = 0; i < N(medias); i++)
		if (strcmp(medias[i].name, media) == 0)
			return true;
	return false;
}

bool ipp_accepting(const struct ipp *s)
{
	return s->vault.known && s->vault.accepting && !s->vault.locked;
}

const char *ipp_state_message(const struct ipp *s)
{
	if (!s->vault.known)
		return "the vault has not reported its state: is the vault module enabled?";
	if (ipp_accepting(s))
		return "ready: jobs are held for release";
	if (s->vault.reason[0])
		return s->vault.reason;
	return s->vault.locked ? "the vault is locked" : "the vault is not accepting jobs";
}

void ipp_printer_uri(const struct ipp_req *r, char *buf, size_t size)
{
	snprintf(buf, size, "%s://%s/ipp/print", r->tls ? "ipps" : "ipp", r->host);
}

static void web_uri(const struct ipp_req *r, const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "%s://%s%s", r->tls ? "https" : "http", r->host, path);
}

static void media_size(struct ipp_writer *w, const struct media *m)
{
	ipp_w_member(w, "x-dimension");
	ipp_w_int(w, IPP_TAG_INTEGER, NULL, m->x);
	ipp_w_member(w, "y-dimension");
	ipp_w_int(w, IPP_TAG_INTEGER, NULL, m->y);
}

static void media_col(struct ipp_writer *w, const char *name, const struct media *m, bool ready)
{
	static const char *const margins[] = {"media-bottom-margin", "media-left-margin", "media-right-margin",
					      "media-top-margin"};

	ipp_w_col_begin(w, name);
	for (size_t i = 0; i < N(margins); i++) {
		ipp_w_member(w, margins[i]);
		ipp_w_int(w, IPP_TAG_INTEGER, NULL, MARGIN);
	}
	ipp_w_member(w, "media-size");
	ipp_w_col_begin(w, NULL);
	media_size(w, m);
	ipp_w_col_end(w);
	ipp_w_member(w, "media-size-name");
	ipp_w_str(w, IPP_TAG_KEYWORD, NULL, m->name);
	if (ready) {
		ipp_w_member(w, "media-source");
		ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "auto");
		ipp_w_member(w, "media-type");
		ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "stationery");
	}
	ipp_w_col_end(w);
}

static void attrs_media(struct ipp_writer *w)
{
	static const char *const margins[] = {"media-bottom-margin-supported", "media-left-margin-supported",
					      "media-right-margin-supported", "media-top-margin-supported"};

	for (size_t i = 0; i < N(medias); i++)
		media_col(w, i ? NULL : "media-col-database", &medias[i], false);
	media_col(w, "media-col-default", &medias[0], true);
	media_col(w, "media-col-ready", &medias[0], true);
	media_col(w, NULL, &medias[1], true);
	ipp_w_str(w, IPP_TAG_KEYWORD, "media-default", medias[0].name);
	ipp_w_str(w, IPP_TAG_KEYWORD, "media-ready", medias[0].name);
	ipp_w_str(w, IPP_TAG_KEYWORD, NULL, medias[1].name);
	for (size_t i = 0; i < N(medias); i++)
		ipp_w_str(w, IPP_TAG_KEYWORD, i ? NULL : "media-supported", medias[i].name);
	for (size_t i = 0; i < N(medias); i++) {
		ipp_w_col_begin(w, i ? NULL : "media-size-supported");
		media_size(w, &medias[i]);
		ipp_w_col_end(w);
	}
	for (size_t i = 0; i < N(margins); i++)
		ipp_w_int(w, IPP_TAG_INTEGER, margins[i], MARGIN);
	static const char *const col_members[] = {"media-bottom-margin", "media-left-margin", "media-right-margin",
						  "media-size",          "media-size-name",   "media-source",
						  "media-top-margin",    "media-type"};
	ipp_w_strs(w, IPP_TAG_KEYWORD, "media-col-supported", col_members, N(col_members));
	ipp_w_str(w, IPP_TAG_KEYWORD, "media-source-supported", "auto");
	ipp_w_str(w, IPP_TAG_KEYWORD, "media-type-supported", "stationery");
}

static void attrs_job_template(struct ipp_writer *w, const struct ipp_conf *conf)
{
	static const char *const sides[] = {"one-sided", "two-sided-long-edge", "two-sided-short-edge"};
	static const char *const colors[] = {"auto", "color", "monochrome"};
	static const char *const creation[] = {"copies", "media", "media-col", "print-color-mode", "sides"};
	static const int32_t quality[] = {3, 4, 5}, orient[] = {3, 4, 5, 6};

	ipp_w_int(w, IPP_TAG_INTEGER, "copies-default", 1);
	ipp_w_range(w, "copies-supported", 1, 999);
	ipp_w_int(w, IPP_TAG_ENUM, "finishings-default", 3);
	ipp_w_int(w, IPP_TAG_ENUM, "finishings-supported", 3);
	/* no job-hold-until-default/-supported: every job is held, whatever
	 * the client asks (RFC 8011 would want no-hold among the supported) */
	ipp_w_str(w, IPP_TAG_KEYWORD, "job-sheets-default", "none");
	ipp_w_str(w, IPP_TAG_KEYWORD, "job-sheets-supported", "none");
	ipp_w_strs(w, IPP_TAG_KEYWORD, "job-creation-attributes-supported", creation, N(creation));
	ipp_w_range(w, "job-k-octets-supported", 0,
		    (int32_t)(conf->max_job_size / 1024 > INT32_MAX ? INT32_MAX : conf->max_job_size / 1024));
	ipp_w_int(w, IPP_TAG_INTEGER, "number-up-default", 1);
	ipp_w_int(w, IPP_TAG_INTEGER, "number-up-supported", 1);
	ipp_w_int(w, IPP_TAG_ENUM, "orientation-requested-default", 3);
	ipp_w_ints(w, IPP_TAG_ENUM, "orientation-requested-supported", orient, N(orient));
	ipp_w_str(w, IPP_TAG_KEYWORD, "output-bin-default", "face-down");
	ipp_w_str(w, IPP_TAG_KEYWORD, "output-bin-supported", "face-down");
	ipp_w_bool(w, "page-ranges-supported", false);
	ipp_w_str(w, IPP_TAG_KEYWORD, "print-color-mode-default", "auto");
	ipp_w_strs(w, IPP_TAG_KEYWORD, "print-color-mode-supported", colors, N(colors));
	ipp_w_str(w, IPP_TAG_KEYWORD, "print-content-optimize-default", "auto");
	ipp_w_str(w, IPP_TAG_KEYWORD, "print-content-optimize-supported", "auto");
	ipp_w_int(w, IPP_TAG_ENUM, "print-quality-default", 4);
	ipp_w_ints(w, IPP_TAG_ENUM, "print-quality-supported", quality, N(quality));
	ipp_w_str(w, IPP_TAG_KEYWORD, "print-rendering-intent-default", "auto");
	ipp_w_str(w, IPP_TAG_KEYWORD, "print-rendering-intent-supported", "auto");
	ipp_w_resolution(w, "printer-resolution-default", 600, 600, 3);
	ipp_w_resolution(w, "printer-resolution-supported", 300, 300, 3);
	ipp_w_resolution(w, NULL, 600, 600, 3);
	ipp_w_str(w, IPP_TAG_KEYWORD, "sides-default", "one-sided");
	ipp_w_strs(w, IPP_TAG_KEYWORD, "sides-supported", sides, N(sides));
}

/* What the printer accepts as documents, raster formats included. */
static void attrs_documents(struct ipp_writer *w)
{
	static const char *const raster_types[] = {"black_1", "sgray_8", "srgb_8"};
	static const char *const urf[] = {"V1.4", "CP1", "PQ3-4-5", "RS300-600", "SRGB24", "W8", "DM1", "IS1", "MT1"};

	ipp_w_str(w, IPP_TAG_MIMETYPE, "document-format-default", "application/octet-stream");
	ipp_w_strs(w, IPP_TAG_MIMETYPE, "document-format-supported", formats, N(formats));
	ipp_w_str(w, IPP_TAG_KEYWORD, "compression-supported", "none");
	ipp_w_str(w, IPP_TAG_KEYWORD, "pdl-override-supported", "attempted");
	ipp_w_resolution(w, "pwg-raster-document-resolution-supported", 300, 300, 3);
	ipp_w_resolution(w, NULL, 600, 600, 3);
	ipp_w_str(w, IPP_TAG_KEYWORD, "pwg-raster-document-sheet-back", "normal");
	ipp_w_strs(w, IPP_TAG_KEYWORD, "pwg-raster-document-type-supported", raster_types, N(raster_types));
	ipp_w_strs(w, IPP_TAG_KEYWORD, "urf-supported", urf, N(urf));
	ipp_w_range(w, "jpeg-k-octets-supported", 0, 65536);
	ipp_w_range(w, "pdf-k-octets-supported", 0, INT32_MAX);
}

static void attrs_state(struct ipp_req *r, struct ipp_writer *w)
{
	const struct ipp *s = r->ipp;
	time_t now = time(NULL);
	bool ok = ipp_accepting(s);
	const char *reason = "none";

	if (!ok)
		reason = !s->vault.known ? "shutdown" : s->vault.locked ? "other" : "spool-area-full";
	ipp_w_int(w, IPP_TAG_ENUM, "printer-state", ok ? 3 : 5);
	ipp_w_str(w, IPP_TAG_KEYWORD, "printer-state-reasons", reason);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-state-message", ipp_state_message(s));
	ipp_w_bool(w, "printer-is-accepting-jobs", ok);
	ipp_w_date(w, "printer-state-change-date-time", s->state_changed);
	ipp_w_int(w, IPP_TAG_INTEGER, "printer-state-change-time", (int32_t)(s->state_changed - s->started + 1));
	ipp_w_date(w, "printer-config-change-date-time", s->started);
	ipp_w_int(w, IPP_TAG_INTEGER, "printer-config-change-time", 1);
	ipp_w_date(w, "printer-current-time", now);
	ipp_w_int(w, IPP_TAG_INTEGER, "printer-up-time", (int32_t)(now - s->started + 1));
	ipp_w_int(w, IPP_TAG_INTEGER, "queued-job-count", 0);
}

static void attrs_uris(struct ipp_req *r, struct ipp_writer *w)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	const char *auth = conf->owner == IPP_OWNER_AUTHENTICATED ? "basic" : "requesting-user-name";
	char uri[320];

	/* ipps:// and ipp:// on one port: both, each with its security */
	if (r->ipp->tls) {
		snprintf(uri, sizeof(uri), "ipps://%s/ipp/print", r->host);
		ipp_w_str(w, IPP_TAG_URI, "printer-uri-supported", uri);
		snprintf(uri, sizeof(uri), "ipp://%s/ipp/print", r->host);
		ipp_w_str(w, IPP_TAG_URI, NULL, uri);
		ipp_w_str(w, IPP_TAG_KEYWORD, "uri-authentication-supported", auth);
		ipp_w_str(w, IPP_TAG_KEYWORD, NULL, auth);
		ipp_w_str(w, IPP_TAG_KEYWORD, "uri-security-supported", "tls");
		ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "none");
	} else {
		snprintf(uri, sizeof(uri), "ipp://%s/ipp/print", r->host);
		ipp_w_str(w, IPP_TAG_URI, "printer-uri-supported", uri);
		ipp_w_str(w, IPP_TAG_KEYWORD, "uri-authentication-supported", auth);
		ipp_w_str(w, IPP_TAG_KEYWORD, "uri-security-supported", "none");
	}
	web_uri(r, "/", uri, sizeof(uri));
	ipp_w_str(w, IPP_TAG_URI, "printer-more-info", uri);
	ipp_w_str(w, IPP_TAG_URI, "printer-supply-info-uri", uri);
	web_uri(r, "/icon.png", uri, sizeof(uri));
	ipp_w_str(w, IPP_TAG_URI, "printer-icons", uri);
	ipp_w_str(w, IPP_TAG_URI, "printer-uuid", r->ipp->uuid);
}

static void attrs_description(struct ipp_req *r, struct ipp_writer *w)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	static const int32_t ops[] = {IPP_OP_PRINT_JOB,       IPP_OP_VALIDATE_JOB,
				      IPP_OP_CREATE_JOB,      IPP_OP_SEND_DOCUMENT,
				      IPP_OP_CANCEL_JOB,      IPP_OP_GET_JOB_ATTRIBUTES,
				      IPP_OP_GET_JOBS,        IPP_OP_GET_PRINTER_ATTRIBUTES,
				      IPP_OP_CANCEL_MY_JOBS,  IPP_OP_CLOSE_JOB,
				      IPP_OP_IDENTIFY_PRINTER};
	static const char *const versions[] = {"1.0", "1.1", "2.0"};
	static const char *const which[] = {"completed", "not-completed", "all"};
	static const char *const features[] = {"ipp-everywhere"};
	char devid[256];

	ipp_w_str(w, IPP_TAG_CHARSET, "charset-configured", "utf-8");
	ipp_w_str(w, IPP_TAG_CHARSET, "charset-supported", "utf-8");
	ipp_w_str(w, IPP_TAG_CHARSET, NULL, "us-ascii");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "natural-language-configured", "en");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "generated-natural-language-supported", "en");
	ipp_w_ints(w, IPP_TAG_ENUM, "operations-supported", ops, N(ops));
	ipp_w_strs(w, IPP_TAG_KEYWORD, "ipp-versions-supported", versions, N(versions));
	ipp_w_strs(w, IPP_TAG_KEYWORD, "ipp-features-supported", features, N(features));
	ipp_w_strs(w, IPP_TAG_KEYWORD, "which-jobs-supported", which, N(which));
	ipp_w_bool(w, "color-supported", true);
	ipp_w_str(w, IPP_TAG_KEYWORD, "identify-actions-default", "display");
	ipp_w_str(w, IPP_TAG_KEYWORD, "identify-actions-supported", "display");
	ipp_w_bool(w, "job-ids-supported", true);
	ipp_w_bool(w, "multiple-document-jobs-supported", false);
	ipp_w_int(w, IPP_TAG_INTEGER, "multiple-operation-time-out",
		  (int32_t)(conf->multiple_operation_timeout / 1000));
	ipp_w_str(w, IPP_TAG_KEYWORD, "multiple-operation-time-out-action", "abort-job");
	ipp_w_bool(w, "preferred-attributes-supported", false);
	ipp_w_int(w, IPP_TAG_INTEGER, "pages-per-minute", 20);
	ipp_w_int(w, IPP_TAG_INTEGER, "pages-per-minute-color", 20);
	ipp_w_str(w, IPP_TAG_KEYWORD, "printer-get-attributes-supported", "document-format");
	ipp_w_str(w, IPP_TAG_NAME, "printer-name", conf->name);
	ipp_w_str(w, IPP_TAG_NAME, "printer-dns-sd-name", conf->name);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-info", conf->info);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-location", conf->location);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-make-and-model", conf->make_model);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-organization", "");
	ipp_w_str(w, IPP_TAG_TEXT, "printer-organizational-unit", "");
	ipp_w_oob(w, IPP_TAG_UNKNOWN, "printer-geo-location");
	snprintf(devid, sizeof(devid), "MFG:scout;MDL:%.100s;CMD:PDF,PWGRaster,URF,JPEG,PS,PCL;", conf->make_model);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-device-id", devid);
}

void ipp_attrs_printer(struct ipp_req *r, struct ipp_writer *w)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);

	attrs_uris(r, w);
	attrs_description(r, w);
	attrs_state(r, w);
	attrs_documents(w);
	attrs_job_template(w, conf);
	attrs_media(w);
}

/* ---- jobs ---------------------------------------------------------------- */

static void job_uri(const struct ipp_req *r, uint32_t id, char *buf, size_t size)
{
	snprintf(buf, size, "%s://%s/ipp/print/%" PRIu32, r->tls ? "ipps" : "ipp", r->host, id);
}

void ipp_attrs_job_basic(struct ipp_req *r, struct ipp_writer *w, uint32_t id, int state, const char *reason)
{
	char uri[320];

	ipp_w_int(w, IPP_TAG_INTEGER, "job-id", (int32_t)id);
	job_uri(r, id, uri, sizeof(uri));
	ipp_w_str(w, IPP_TAG_URI, "job-uri", uri);
	ipp_printer_uri(r, uri, sizeof(uri));
	ipp_w_str(w, IPP_TAG_URI, "job-printer-uri", uri);
	ipp_w_int(w, IPP_TAG_ENUM, "job-state", state);
	ipp_w_str(w, IPP_TAG_KEYWORD, "job-state-reasons", reason);
	if (state == 4)
		ipp_w_str(w, IPP_TAG_KEYWORD, "job-hold-until", "indefinite");
}

struct state_map {
	const char *vault;
	int ipp;
	const char *reason;
};

static const struct state_map states[] = {
	{"receiving", 3, "job-incoming"},        {"held", 4, "job-held-for-release"},
	{"processing", 5, "job-printing"},       {"completed", 9, "job-completed-successfully"},
	{"canceled", 7, "job-canceled-by-user"}, {"aborted", 8, "aborted-by-system"},
};

/* A str field of the metadata, as a NUL-terminated copy ("" if absent). */
static const char *meta_str(const msgpack_object *meta, const char *key, char *buf, size_t size)
{
	const char *s;
	size_t n;

	buf[0] = 0;
	if (scout_pack_get_str(meta, key, &s, &n) == 0 && !memchr(s, 0, n)) {
		if (n >= size)
			n = size - 1;
		memcpy(buf, s, n);
		buf[n] = 0;
	}
	return buf;
}

void ipp_attrs_job(struct ipp_req *r, struct ipp_writer *w, const msgpack_object *meta, bool show_private)
{
	const struct state_map *st = &states[1];
	char buf[256];
	uint64_t id = 0, u;

	scout_pack_get_uint(meta, "id", &id);
	meta_str(meta, "state", buf, sizeof(buf));
	for (size_t i = 0; i < N(states); i++)
		if (strcmp(states[i].vault, buf) == 0)
			st = &states[i];
	ipp_attrs_job_basic(r, w, (uint32_t)id, st->ipp, st->reason);
	if (*meta_str(meta, "reason", buf, sizeof(buf)))
		ipp_w_str(w, IPP_TAG_TEXT, "job-state-message", buf);
	if (scout_pack_get_uint(meta, "submitted", &u) == 0) {
		ipp_w_int(w, IPP_TAG_INTEGER, "time-at-creation", (int32_t)(u > INT32_MAX ? INT32_MAX : u));
		ipp_w_date(w, "date-time-at-creation", (time_t)u);
	}
	ipp_w_oob(w, IPP_TAG_NOVALUE, "time-at-processing");
	ipp_w_oob(w, IPP_TAG_NOVALUE, "time-at-completed");
	ipp_w_int(w, IPP_TAG_INTEGER, "job-printer-up-time", (int32_t)(time(NULL) - r->ipp->started + 1));
	if (scout_pack_get_uint(meta, "size", &u) == 0)
		ipp_w_int(w, IPP_TAG_INTEGER, "job-k-octets",
			  (int32_t)((u + 1023) / 1024 > INT32_MAX ? INT32_MAX : (u + 1023) / 1024));
	const msgpack_object *pages = scout_pack_get(meta, "pages");
	if (pages && pages->type == MSGPACK_OBJECT_POSITIVE_INTEGER && pages->via.u64 <= INT32_MAX)
		ipp_w_int(w, IPP_TAG_INTEGER, "job-impressions", (int32_t)pages->via.u64);
	if (!show_private)
		return; /* name, owner and format are the owner's business (job-privacy) */
	ipp_w_str(w, IPP_TAG_NAME, "job-name", meta_str(meta, "name", buf, sizeof(buf)));
	ipp_w_str(w, IPP_TAG_NAME, "job-originating-user-name", meta_str(meta, "owner", buf, sizeof(buf)));
	if (*meta_str(meta, "format", buf, sizeof(buf)))
		ipp_w_str(w, IPP_TAG_MIMETYPE, "document-format", buf);
	if (scout_pack_get_uint(meta, "copies", &u) == 0 && u >= 1 && u <= 999)
		ipp_w_int(w, IPP_TAG_INTEGER, "copies", (int32_t)u);
	if (*meta_str(meta, "sides", buf, sizeof(buf)))
		ipp_w_str(w, IPP_TAG_KEYWORD, "sides", buf);
}
