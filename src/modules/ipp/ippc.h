/* ippc: one IPP request to a printer over the core's http client (plain
 * or TLS with the printer's key pinned), with an optional document
 * streamed after the IPP header, and the response decoded (codec.h).
 *
 * The deliverer (deliver.c) and the probe (probe.c) use it; it knows
 * nothing of printers or jobs. The document is pushed by the caller with
 * ippc_write, a piece at a time, watching ippc_queued (and on_writable)
 * so that what waits for the socket stays bounded: a 1 GB job never sits
 * in memory. Content-Length is the IPP header's length plus doc_len. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "codec.h"
#include "loop/tls.h"

/* ippc_write is refused past this; callers keep below IPPC_HIGH_WATER */
#define IPPC_HIGH_WATER (256 * 1024)
#define IPPC_LOW_WATER (256 * 1024)

struct ippc;

struct ippc_opts {
	const char *host;
	int port;
	const char *path;              /* "/ipp/print" */
	struct scout_tls_ctx *tls_ctx; /* a client context: TLS (ipps); NULL: plain */
	/* TLS: NULL accepts any key (first use, see ippc_peer_pin); else only a
	 * key with this SHA-256 pin: another fails the request with
	 * -EKEYREJECTED before anything is sent, the new pin in ippc_peer_pin. */
	const uint8_t *pin;
	uint64_t timeout_ms; /* connect + handshake, and no progress while the request is open */
};

struct ippc_cbs {
	/* The request is going out and the document may be written (ippc_write)
	 * now; called again each time the queue falls below IPPC_LOW_WATER.
	 * Only when doc_len > 0. */
	void (*on_writable)(struct ippc *c, void *arg);
	/* The end, exactly once: status 0 with the decoded response (borrowed
	 * until return), or a negative errno and why (for people):
	 * -ECONNREFUSED/-ETIMEDOUT/-EHOSTUNREACH... connecting, -EKEYREJECTED a
	 * key other than the pin, -ECONNRESET closed before the response,
	 * -EBADMSG not IPP, -EPROTO an HTTP error status. ippc_free may be
	 * called from here. */
	void (*on_done)(struct ippc *c, int status, const struct ipp_msg *resp, const char *why, void *arg);
};

/* req (req_len bytes: an encoded IPP request, end-of-attributes included)
 * is copied. 0, or a negative errno with err. */
int ippc_start(uv_loop_t *loop, const struct ippc_opts *opts, const uint8_t *req, size_t req_len, uint64_t doc_len,
	       const struct ippc_cbs *cbs, void *arg, struct ippc **ret, char *err, size_t errlen);
/* Document bytes (copied). -EPIPE once the request failed or answered,
 * -EINVAL past doc_len, -ENOBUFS past IPPC_HIGH_WATER queued. When the
 * last of doc_len bytes is written, the request is ended. */
int ippc_write(struct ippc *c, const void *data, size_t len);
size_t ippc_queued(const struct ippc *c);
/* Document bytes handed to the socket so far. */
uint64_t ippc_sent(const struct ippc *c);
/* Whether the connection (and TLS handshake) was made. */
bool ippc_connected(const struct ippc *c);
/* The key the printer showed (TLS, once connected); false before or on plain. */
bool ippc_peer_pin(const struct ippc *c, uint8_t pin[32]);
/* The HTTP status of the response (0 before one). */
int ippc_http_status(const struct ippc *c);
/* No callback runs after this. */
void ippc_free(struct ippc *c);

/* ---- what printers send back (pure; unit tests and the fuzz target) ---- */

/* RFC 8011 job-state values. */
enum {
	IPPC_JOB_PENDING = 3,
	IPPC_JOB_HELD = 4,
	IPPC_JOB_PROCESSING = 5,
	IPPC_JOB_STOPPED = 6,
	IPPC_JOB_CANCELED = 7,
	IPPC_JOB_ABORTED = 8,
	IPPC_JOB_COMPLETED = 9
};

/* status-message of a response, or "". */
void ippc_status_message(const struct ipp_msg *m, char *buf, size_t size);
/* job-id and job-state from a Print-Job or Get-Job-Attributes response;
 * -1 when absent or malformed. */
int32_t ippc_job_id(const struct ipp_msg *m);
int32_t ippc_job_state(const struct ipp_msg *m);
