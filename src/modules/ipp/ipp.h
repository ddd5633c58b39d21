/* What the ipp module's files share: its configuration, its state, one
 * IPP request in flight, and the functions between server.c (HTTP and the
 * vault's job stream), ops.c (the operations), attrs.c (printer and job
 * attributes), auth.c (who the client is) and web.c (the page and icon).
 * Nothing here is seen outside the module. */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "codec.h"
#include "loop/bus.h"
#include "loop/http.h"
#include "loop/list.h"
#include "loop/module.h"

/* IPP status codes (RFC 8011 section 4.1.6 and PWG 5100.x). */
enum {
	IPP_OK = 0x0000,
	IPP_OK_IGNORED = 0x0001,
	IPP_BAD_REQUEST = 0x0400,
	IPP_FORBIDDEN = 0x0401,
	IPP_NOT_AUTHENTICATED = 0x0402,
	IPP_NOT_AUTHORIZED = 0x0403,
	IPP_NOT_POSSIBLE = 0x0404,
	IPP_NOT_FOUND = 0x0406,
	IPP_TOO_LARGE = 0x0408,
	IPP_FORMAT_NOT_SUPPORTED = 0x040a,
	IPP_ATTRIBUTES_NOT_SUPPORTED = 0x040b,
	IPP_CHARSET_NOT_SUPPORTED = 0x040d,
	IPP_COMPRESSION_NOT_SUPPORTED = 0x040f,
	IPP_INTERNAL_ERROR = 0x0500,
	IPP_OPERATION_NOT_SUPPORTED = 0x0501,
	IPP_SERVICE_UNAVAILABLE = 0x0502,
	IPP_VERSION_NOT_SUPPORTED = 0x0503,
	IPP_TEMPORARY_ERROR = 0x0505,
	IPP_NOT_ACCEPTING = 0x0506,
	IPP_BUSY = 0x0507,
	IPP_JOB_CANCELED = 0x0508,
	IPP_MULTIPLE_DOCS_NOT_SUPPORTED = 0x0509,
};

/* Operation ids. */
enum {
	IPP_OP_PRINT_JOB = 0x0002,
	IPP_OP_VALIDATE_JOB = 0x0004,
	IPP_OP_CREATE_JOB = 0x0005,
	IPP_OP_SEND_DOCUMENT = 0x0006,
	IPP_OP_CANCEL_JOB = 0x0008,
	IPP_OP_GET_JOB_ATTRIBUTES = 0x0009,
	IPP_OP_GET_JOBS = 0x000a,
	IPP_OP_GET_PRINTER_ATTRIBUTES = 0x000b,
	IPP_OP_CANCEL_MY_JOBS = 0x0039,
	IPP_OP_CLOSE_JOB = 0x003b,
	IPP_OP_IDENTIFY_PRINTER = 0x003c,
};

enum ipp_owner_mode { IPP_OWNER_AUTHENTICATED, IPP_OWNER_REQUESTING_USER };

struct ipp_listen {
	char host[64];
	int port;
};

/* ---- printers (printers.c): the [ipp] printers list and the registry ---- */
struct ipp_conf_printer {
	char name[64];     /* "" when listed by address alone */
	char address[300]; /* IP, HOST:PORT or URI, checked */
};
struct ipp_printers_conf {
	struct ipp_conf_printer *v;
	size_t n;
};
struct ipp_registry;

struct ipp_conf {
	struct ipp_listen listen;
	int owner; /* enum ipp_owner_mode */
	char *name, *location, *info, *make_model;
	bool tls;                 /* ipps:// on the same port as ipp:// */
	bool dnssd;               /* announce through avahi-daemon */
	char *tls_cert, *tls_key; /* "" : generated in the state dir */
	uint64_t max_job_size;
	uint64_t idle_timeout, header_timeout;
	int64_t max_connections;
	uint64_t multiple_operation_timeout; /* ms a Create-Job waits for its document */
	struct ipp_printers_conf printers;   /* printers (printers.c) */
	/* deliver (deliver.h) */
	bool allow_unencrypted_delivery;
	uint64_t delivery_timeout, job_timeout, retry_for, probe_cache;
	int64_t max_deliveries;
};

/* The vault as vault.state last said. */
struct ipp_vault_state {
	bool known, locked, accepting;
	char reason[200];
};

/* A job made by Create-Job, waiting for its Send-Document. */
struct ipp_open_job {
	struct scout_list link;
	uint32_t id;
	char owner[256];
	char name[256];
	uint64_t expires_ms; /* uv_now */
	bool receiving;      /* a Send-Document is streaming into it */
	time_t created;
};

struct ipp_counters {
	uint64_t http_requests, ipp_requests, bad_requests, jobs, documents_bytes, errors;
	uint64_t refused_not_accepting, auth_ok, auth_failed, aborted, unsupported_ops;
};

struct ipp_dnssd;

struct ipp {
	struct scout_mod *m;
	struct ipp_dnssd *dnssd;
	struct scout_http_server *http;
	struct scout_tls_ctx *tls;
	struct scout_topic *t_create, *t_write, *t_commit, *t_abort, *t_list, *t_cancel, *t_status, *t_state;
	struct scout_topic *t_auth; /* NULL when no module declares auth.password */
	struct scout_sub *state_sub;
	uint64_t status_corr; /* vault.status asked at start, until answered */
	struct ipp_vault_state vault;
	char uuid[64]; /* "urn:uuid:..." */
	time_t started, state_changed;
	struct scout_list reqs;      /* struct ipp_req, in flight */
	struct scout_list open_jobs; /* struct ipp_open_job */
	uv_timer_t sweep;
	bool sweep_ready, stopping;
	struct ipp_counters n;
	/* intake rate: bytes and jobs in the current and the last minute */
	uint64_t rate_start_ms, rate_bytes, rate_jobs, last_rate_bytes, last_rate_jobs;
	char url[2][128];         /* listening URLs, for status */
	struct ipp_registry *reg; /* printers (printers.c) */
	/* deliver (deliver.h) */
	struct ipp_deliver *deliver;
};

enum ipp_phase {
	PH_HEADER, /* reading the IPP header and attributes */
	PH_AUTH,   /* waiting for auth.password */
	PH_DOC,    /* streaming the document to the vault */
	PH_DRAIN,  /* the rest of the body is ignored; on_end runs the op */
	PH_WAIT,   /* waiting for the bus to answer */
	PH_DONE,   /* answered (or gone) */
};

struct ipp_req;
typedef void (*ipp_call_done)(struct ipp_req *r, int status, const msgpack_object *reply);

/* One bus request in flight for an IPP request. */
struct ipp_call {
	struct ipp_req *r;
	uint64_t corr;
	bool busy;
	ipp_call_done done;
};

#define IPP_MAX_WRITES 4 /* job.write requests in flight (bus contract) */
#define IPP_CALLS (IPP_MAX_WRITES + 2)

struct ipp_req {
	struct scout_list link;
	struct ipp *ipp;
	struct scout_http_req *http; /* NULL once answered or gone */
	enum ipp_phase phase;
	bool tls;
	char remote[64];
	char host[256]; /* for URIs in the answer: the Host header, or the listener */

	/* the header */
	uint8_t *hbuf; /* grows to IPP_MAX_HEADER at most */
	size_t hlen, hcap, hresume;
	struct ipp_msg msg;
	bool have_msg;

	/* who */
	char user[256];
	bool authenticated; /* user came from auth.password */
	bool auth_tried;    /* credentials were given and refused */

	/* the operation deferred to on_end, or the answer kept for it */
	void (*on_end)(struct ipp_req *r);
	bool ended; /* on_end came */
	struct ipp_writer pending;
	bool has_pending;
	uint16_t ok_status; /* successful-ok, or -ignored-or-substituted-attributes */

	/* Cancel-My-Jobs */
	uint32_t cancel_ids[256];
	size_t ncancel, cancel_next;

	/* the document */
	uint32_t job_id;
	bool streaming, job_created, commit_sent, committed, body_done, aborted;
	struct ipp_open_job *open; /* Send-Document: the Create-Job it fills */
	uint8_t *wbuf;
	size_t wlen, wcap;
	unsigned inflight;
	uint64_t doc_bytes;
	int doc_status; /* the IPP status once the stream failed; 0 while it runs */
	char doc_message[200];

	/* Print-Job/Create-Job attributes for job.create */
	char job_name[256], format[128], sides[32], color[16], media[64];
	uint32_t copies;

	struct ipp_call calls[IPP_CALLS];
};

/* ---- server.c ---- */
int ipp_server_start(struct ipp *s, char *err, size_t errlen);
void ipp_server_stop(struct ipp *s);
/* Sends a bus request for r; done runs once (unless r is freed first). */
int ipp_req_call(struct ipp_req *r, struct scout_topic *t, const msgpack_sbuffer *sb, uint64_t timeout_ms,
		 ipp_call_done done);
/* Answers r with the IPP message in w (freed here). */
void ipp_req_respond(struct ipp_req *r, struct ipp_writer *w);
/* Answers with an HTTP status of our own (401, 426, ...). */
void ipp_req_http_error(struct ipp_req *r, int status, const char *why);
/* Starts streaming the document after the header (Print-Job,
 * Send-Document): job.create first unless job_id is set. */
void ipp_doc_begin(struct ipp_req *r, const uint8_t *rest, size_t rest_len);
/* Asks the vault for a job with r's attributes. */
int ipp_send_create(struct ipp_req *r, ipp_call_done done);
/* Fire and forget: the vault drops a receiving job. */
void ipp_job_abort(struct ipp *s, uint32_t id, const char *reason);
void ipp_req_maybe_free(struct ipp_req *r);

/* ---- ops.c ---- */
/* The header is decoded: checks it and runs (or starts) the operation. */
void ipp_ops_dispatch(struct ipp_req *r, const uint8_t *rest, size_t rest_len);
/* Writes the start of a response: version, status, request-id and the
 * operation group with charset, language and status-message. */
void ipp_ops_begin_response(struct ipp_req *r, struct ipp_writer *w, uint16_t status, const char *message);
/* An answer with just a status and a message. */
void ipp_ops_fail(struct ipp_req *r, uint16_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* After job.commit: successful-ok with the job's attributes. */
void ipp_ops_job_done(struct ipp_req *r);
uint16_t ipp_status_of_errno(int err, bool mid_job);
void ipp_open_jobs_sweep(struct ipp *s);

/* ---- attrs.c ---- */
/* The printer's attributes, through w's requested-attributes filter. */
void ipp_attrs_printer(struct ipp_req *r, struct ipp_writer *w);
/* A job's attributes from its vault metadata map (job.list), private ones
 * only when show_private. */
void ipp_attrs_job(struct ipp_req *r, struct ipp_writer *w, const msgpack_object *meta, bool show_private);
/* A job the module knows only by id and state (just created). */
void ipp_attrs_job_basic(struct ipp_req *r, struct ipp_writer *w, uint32_t id, int state, const char *reason);
void ipp_printer_uri(const struct ipp_req *r, char *buf, size_t size);
bool ipp_format_supported(const char *format);
bool ipp_media_supported(const char *media);
/* printer-state-reasons and -message as the vault's state says. */
bool ipp_accepting(const struct ipp *s);
const char *ipp_state_message(const struct ipp *s);

/* ---- auth.c ---- */
/* Starts checking the request's Basic credentials (phase PH_AUTH, paused);
 * false when there is nothing to check. */
bool ipp_auth_begin(struct ipp_req *r);
/* Whether the operation may go on as r->user; else it answered (401/426). */
bool ipp_auth_require(struct ipp_req *r);
/* The requesting-user-name value checked (UTF-8, printable), or "anonymous". */
void ipp_auth_requesting_user(struct ipp_req *r);

/* ---- dnssd.c ---- */
int ipp_dnssd_start(struct ipp *s, struct ipp_dnssd **ret);
const char *ipp_dnssd_state(const struct ipp_dnssd *d);
void ipp_dnssd_stop(struct ipp_dnssd *d);

/* ---- web.c ---- */
/* Answers GET / and GET /icon.png; false for other targets. */
bool ipp_web_serve(struct ipp *s, struct scout_http_req *h, const char *path);
