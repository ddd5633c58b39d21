/* The deliverer: releases held jobs from the vault to printers (issue 10).
 *
 * release.c serves job.release (and the `release` command): it resolves
 * the printer through the registry (printers.h), names the jobs, and
 * hands each to deliver.c, which queues it (one job at a time per
 * printer, max_deliveries across printers), claims it at the vault
 * (job.claim), asks the printer what it speaks (probe.c, cached), and
 * sends it over IPPS, then IPP, then raw 9100 (raw.c) as
 * allow_unencrypted_delivery permits, streaming the document from the
 * vault (job.open / job.read / job.close) into the connection (ippc.c)
 * with a bounded number of reads in flight. It follows the printer's job
 * until it ends; a completed job is job.done at the vault, any other
 * outcome job.hold with its reason. Nothing here is seen outside the ipp
 * module. */
#pragma once

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "ippc.h"
#include "loop/bus.h"
#include "loop/list.h"
#include "loop/module.h"
#include "loop/timer.h"
#include "printers.h"

struct ipp;
struct ipp_printer;
struct scout_mod;
struct scout_status_req;

/* The reason keywords (PWG job-state-reasons, and scout's own). */
#define R_COMPLETED "job-completed-successfully"
#define R_CERT_CHANGED "printer-certificate-changed"
#define R_ENCRYPTION "encryption-required"
#define R_FORMAT "document-format-not-supported"
#define R_UNREACHABLE "printer-unreachable"
#define R_BUSY "printer-busy"
#define R_ABORTED_AT_DEVICE "job-aborted-at-device"
#define R_CANCELED_AT_DEVICE "job-canceled-at-device"
#define R_INCOMPLETE "job-incomplete"
#define R_TIMEOUT "printer-timeout"
#define R_CANCELED_BY_USER "job-canceled-by-user"
#define R_SYSTEM "aborted-by-system"

enum ipp_proto { PROTO_NONE = -1, PROTO_IPPS = 0, PROTO_IPP = 1, PROTO_RAW = 2 };
const char *ipp_proto_name(int proto);

#define IPP_RAW_PORT 9100
#define IPP_MAX_FAILURE_REASONS 16

/* The [ipp] options of the deliverer, inside ipp.c's option table (OPT is
 * its macro). */
#define IPP_DELIVER_OPTIONS                                                                                            \
	OPT("allow_unencrypted_delivery", SCOUT_OPT_BOOL, allow_unencrypted_delivery, "no",                            \
	    .help = "also deliver over plain ipp:// and raw TCP 9100 (the document crosses the network in clear); "    \
		    "no: only ipps://, and a printer without it leaves the job held (encryption-required)"),           \
		OPT("delivery_timeout", SCOUT_OPT_DURATION, delivery_timeout, "30s", .min = 1000, .max = 3600000,      \
		    .help = "a printer connection that makes no progress for this long fails"),                        \
		OPT("job_timeout", SCOUT_OPT_DURATION, job_timeout, "10m", .min = 1000, .max = 86400000,               \
		    .help = "the printer's job must end (completed, aborted, canceled) within this after it took "     \
			    "the document (else printer-timeout)"),                                                    \
		OPT("retry_for", SCOUT_OPT_DURATION, retry_for, "2m", .min = 0, .max = 86400000,                       \
		    .help = "how long an unreachable or busy printer is retried (full-jitter back-off, 1 s to 30 s)"), \
		OPT("probe_cache", SCOUT_OPT_DURATION, probe_cache, "10m", .min = 0, .max = 86400000,                  \
		    .help = "how long a printer's Get-Printer-Attributes answer is used before asking again"),         \
		OPT("max_deliveries", SCOUT_OPT_INT, max_deliveries, "8", .min = 1, .max = 1024,                       \
		    .help = "jobs going out at once, across printers (one at a time per printer)")

/* The deliverer's commands, inside ipp.c's command table. */
extern const struct scout_arg ipp_release_args[];
extern const struct scout_table ipp_release_tables[];
extern const char *const ipp_release_text[];
void ipp_release_command(struct scout_mod *m, struct scout_status_req *req, json_t *request);

struct ipp_release;
struct ipp_delivery;

struct ipp_deliver {
	struct ipp *s;
	struct scout_tls_ctx *tls; /* client context for ipps (keys pinned, not chained) */
	struct scout_topic *t_release, *t_released, *t_failed, *t_done;
	struct scout_topic *t_claim, *t_hold; /* NULL until the vault declares them */
	struct scout_topic *t_open, *t_read, *t_close, *t_list;
	struct scout_sub *release_sub;
	struct scout_timers timers;
	bool timers_ready;
	struct scout_list waiting;  /* struct ipp_delivery, in arrival order */
	struct scout_list running;  /* struct ipp_delivery */
	struct scout_list releases; /* struct ipp_release */
	struct scout_list commands; /* release.c's `release` commands waiting */
	struct scout_list probes;   /* struct ipp_probe in flight */
	unsigned in_flight;
	bool pumping, pump_again;
	uint64_t delivered, failed, by_proto[3];
	struct {
		char reason[48];
		uint64_t n;
	} failures[IPP_MAX_FAILURE_REASONS];
};

/* ---- probe.c ---- */
/* Probes p (Get-Printer-Attributes over IPPS, then IPP when allowed, then
 * whether raw 9100 answers when allowed), honouring its pin: pinned, only
 * that key; else the key seen is pinned (ipp_printer_pin_seen). A printer
 * showing another key gets ipp_printer_pin_changed and the probe fails
 * with -EKEYREJECTED (never a fallback to plain IPP). Other failures:
 * -ECONNREFUSED etc. (unreachable), -EPROTONOSUPPORT (it offers nothing
 * scout may use: encryption-required). done may run synchronously when
 * the cached answer is fresh (probe_cache). */
void ipp_probe(struct ipp *s, struct ipp_printer *p, void (*done)(void *arg, int status, const char *why), void *arg);
/* Forgets probes in flight for a delivery that is gone: their done will
 * not run. */
void ipp_probe_cancel_arg(struct ipp *s, void *arg);
/* What a Get-Printer-Attributes response says a printer can do. 0, or
 * -EBADMSG when it is not a successful answer. */
int ipp_caps_from_response(const struct ipp_msg *m, struct ipp_caps *caps);
/* The document-format to send a job of format as to a printer with caps:
 * format itself when listed; NULL when it cannot be sent. */
const char *ipp_format_choose(const struct ipp_caps *caps, const char *format);

/* ---- raw.c ---- */
struct ipp_raw;
struct ipp_raw_cbs {
	void (*on_writable)(void *arg);
	/* 0: every byte written and the connection shut down; else why */
	void (*on_done)(void *arg, int status, const char *why);
};
int ipp_raw_start(uv_loop_t *loop, const char *host, int port, uint64_t timeout_ms, uint64_t doc_len,
		  const struct ipp_raw_cbs *cbs, void *arg, struct ipp_raw **ret);
/* -ENOBUFS past IPPC_HIGH_WATER queued; the last byte shuts down. */
int ipp_raw_write(struct ipp_raw *r, const void *data, size_t len);
size_t ipp_raw_queued(const struct ipp_raw *r);
bool ipp_raw_connected(const struct ipp_raw *r);
void ipp_raw_free(struct ipp_raw *r);
/* (doc_len 0 checks whether HOST:PORT takes a connection.) */

/* ---- deliver.c ---- */
int ipp_deliver_start(struct ipp *s, char *err, size_t errlen);
void ipp_deliver_stop(struct ipp *s);
void ipp_deliver_status(struct ipp *s, json_t *obj);
/* Frees what stop left (from the module's cleanup, once handles closed). */
void ipp_deliver_free(struct ipp *s);
/* The outcome of one job of a release. */
struct ipp_outcome {
	uint32_t id;
	bool delivered;
	char reason[48];
	char text[300];
	int proto;
	int32_t printer_job_id; /* -1: none */
};
/* Queues job id of user for p; done runs once with the outcome. */
int ipp_deliver_job(struct ipp *s, struct ipp_printer *p, uint32_t id, const char *user,
		    void (*done)(void *arg, const struct ipp_outcome *o), void *arg);
/* The protocol a delivery to p would use now, from its cached caps. */
int ipp_deliver_proto(const struct ipp *s, const struct ipp_printer *p);

/* ---- release.c ---- */
int ipp_release_start(struct ipp *s);
void ipp_release_stop(struct ipp *s);
