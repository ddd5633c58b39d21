/* HTTP/1.1 over libuv, plain or TLS (tls.h), parsed by llhttp: a server
 * and a client that share the connection code.
 *
 * Use the server when a module accepts HTTP from the network (IPP's
 * printer endpoint, an MFP's web hooks): it hands the module one request at
 * a time per connection with its method, target and headers, then streams
 * the body in chunks as it arrives (never buffered whole; the handler may
 * pause reading), and takes the response with a Content-Length or as a
 * chunked stream. It enforces the limits (header bytes and count, body size
 * per request, header and idle timeouts, a connection cap answered with 503)
 * and answers malformed requests itself (400, 408, 413, 431, 505), logging
 * each once. Keep-alive and pipelining are handled: pipelined requests are
 * handed over in order, the next only after the previous response ended.
 * Use the client for outgoing HTTP(S) (the IPP deliverer, cloud calls):
 * one connection, requests one after another, streamed bodies both ways.
 * Everything runs on the loop thread; nothing blocks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "tls.h"

struct scout_http_server;
struct scout_http_req;
struct scout_http_client;

struct scout_http_header {
	const char *name;
	const char *value;
};

struct scout_http_limits {
	size_t max_header_bytes;    /* request line + headers; past it 431 (default 16 KiB) */
	unsigned max_headers;       /* past it 431 (default 100) */
	uint64_t max_body;          /* per request unless the handler sets its own; 413 (default 1 MiB) */
	uint64_t header_timeout_ms; /* first byte of a request to its last header; 408 (default 10 s) */
	uint64_t idle_timeout_ms;   /* no byte in or out while waiting for a request or its body
				     * (a paused body does not count); closed (default 60 s) */
	unsigned max_conns;         /* open connections; past it 503 and close (default 256) */
};

/* Called on the loop thread. req is valid from on_request until the
 * response has ended (scout_http_end() / scout_http_respond()) or on_abort
 * has returned, whichever comes first. */
struct scout_http_handler {
	/* Method, target and headers are in. The handler may answer now (any
	 * status; the body, if any, is then not read and the connection closes
	 * after the response), set a body limit, pause, or just return: then the
	 * body flows to on_body, and a client that sent "Expect: 100-continue"
	 * gets "100 Continue" when reading begins (after on_request returns, or
	 * at scout_http_resume() if it paused). Required. */
	void (*on_request)(struct scout_http_req *req, void *arg);
	/* A piece of the body (chunked encoding removed), borrowed until return. */
	void (*on_body)(struct scout_http_req *req, const char *data, size_t len, void *arg);
	/* The body is complete (also for requests without one). */
	void (*on_end)(struct scout_http_req *req, void *arg);
	/* The connection went away, or the request was refused by the server
	 * (413 once the handler's limit is known, 408), before the response
	 * ended; req is gone after. */
	void (*on_abort)(struct scout_http_req *req, void *arg);
};

struct scout_http_server_opts {
	const char *host;                /* address to bind: "127.0.0.1", "::", ... */
	int port;                        /* 0: any free port (see scout_http_server_port) */
	struct scout_tls_ctx *tls;       /* NULL: plain HTTP; else a server context (one ref taken) */
	bool tls_optional;               /* with tls: plain HTTP too on the same port (ipp:// and ipps://), each
			    * connection told apart by its first byte; see scout_http_is_tls() */
	struct scout_http_limits limits; /* zeros: the defaults */
	const struct scout_http_handler *handler; /* borrowed for the server's life */
	void *arg;
	const char *name; /* for log lines ("ipp"); default "http" */
};

struct scout_http_server_stats {
	uint64_t connections, open, requests, refused_busy, errors, timeouts;
};

/* Creates the server; listens unless opts->port < 0 (a server without a
 * socket, for scout_http_server_feed_test). err names the address. */
int scout_http_server_new(uv_loop_t *loop, const struct scout_http_server_opts *opts,
			  struct scout_http_server **ret_server, char *err, size_t errlen);
int scout_http_server_port(const struct scout_http_server *s);
const struct scout_http_server_stats *scout_http_server_stats(const struct scout_http_server *s);
/* Stops listening, aborts every connection (on_abort runs for requests in
 * flight) and frees the server; done runs when every handle is closed. */
void scout_http_server_close(struct scout_http_server *s, void (*done)(void *arg), void *arg);

/* ---- requests (server side) ---- */

const char *scout_http_method(const struct scout_http_req *req); /* "GET" */
const char *scout_http_target(const struct scout_http_req *req); /* "/ipp/print?x=1", as sent */
/* First header of that name, case-insensitive; NULL if absent. */
const char *scout_http_header(const struct scout_http_req *req, const char *name);
size_t scout_http_header_count(const struct scout_http_req *req);
/* The i-th header as sent (name and value borrowed like req). */
struct scout_http_header scout_http_header_at(const struct scout_http_req *req, size_t i);
/* Content-Length, or -1 for a chunked body. 0 without a body. */
int64_t scout_http_content_length(const struct scout_http_req *req);
bool scout_http_expects_continue(const struct scout_http_req *req);
/* Whether the request came over TLS (a tls_optional server serves both). */
bool scout_http_is_tls(const struct scout_http_req *req);
/* The TLS peer (client certificate), NULL on plain connections. */
const struct scout_tls_peer *scout_http_tls_peer(const struct scout_http_req *req);
const char *scout_http_remote(const struct scout_http_req *req); /* "127.0.0.1:51234" */
void scout_http_set_data(struct scout_http_req *req, void *data);
void *scout_http_data(const struct scout_http_req *req);
/* In on_request: this request's body limit instead of the server's; a
 * Content-Length over it is answered 413 before any body is read. */
void scout_http_set_max_body(struct scout_http_req *req, uint64_t max);

/* Flow control: no on_body/on_end until resume (the socket is not read
 * meanwhile; the idle timeout does not run). Safe inside on_body. */
void scout_http_pause(struct scout_http_req *req);
void scout_http_resume(struct scout_http_req *req);

/* ---- responses ---- */

/* A whole response with a Content-Length; the request's end. body is
 * copied. A HEAD request gets the headers only. */
int scout_http_respond(struct scout_http_req *req, int status, const struct scout_http_header *headers, size_t nheaders,
		       const void *body, size_t len);
/* Starts a streamed response: content_length >= 0 sends exactly that many
 * bytes; -1 uses chunked encoding (or close-delimited for HTTP/1.0). */
int scout_http_start(struct scout_http_req *req, int status, const struct scout_http_header *headers, size_t nheaders,
		     int64_t content_length);
typedef void (*scout_http_write_cb)(void *arg, int status);
/* data is copied; cb (may be NULL) runs once it has been written to the
 * socket (0) or the connection failed (negative errno). Back-pressure:
 * wait for cb, or watch scout_http_queued(). */
int scout_http_write(struct scout_http_req *req, const void *data, size_t len, scout_http_write_cb cb, void *arg);
size_t scout_http_queued(const struct scout_http_req *req);
/* Ends the streamed response; req is gone after. */
int scout_http_end(struct scout_http_req *req);

const char *scout_http_reason(int status); /* "Not Found" */

/* ---- test seam ---- */

/* Runs data through one server connection that has no socket, in pieces
 * of chunk bytes (0: one piece), as if read then closed by the peer;
 * handlers run as usual and must answer synchronously to be seen. Returns
 * what the server wrote (caller frees) and whether it closed. For unit
 * tests and the fuzz target, with a server made with port -1. */
int scout_http_server_feed_test(struct scout_http_server *s, const char *data, size_t len, size_t chunk, char **ret_out,
				size_t *ret_outlen, bool *ret_closed);

/* ---- client ---- */

struct scout_http_client_opts {
	const char *host; /* name or IP literal; a name is resolved through uv_getaddrinfo */
	int port;
	struct scout_tls_ctx *tls;                  /* NULL: plain; else a client context (one ref taken) */
	struct scout_tls_client_conn_opts tls_opts; /* server_name defaults to host */
	uint64_t connect_timeout_ms;                /* resolve + connect + handshake (default 10 s) */
	uint64_t timeout_ms;                        /* no byte in or out while a request is open (default 30 s) */
	size_t max_header_bytes;                    /* of a response (default 64 KiB) */
};

struct scout_http_client_callbacks {
	/* Connected (and the TLS peer checked: peer is NULL on plain HTTP);
	 * requests may be sent from here on. */
	void (*on_connect)(struct scout_http_client *c, const struct scout_tls_peer *peer, void *arg);
	/* Status and headers of the response (1xx are skipped). */
	void (*on_response)(struct scout_http_client *c, int status, void *arg);
	void (*on_body)(struct scout_http_client *c, const char *data, size_t len, void *arg);
	/* The response is complete; another request may follow if
	 * scout_http_client_reusable(). */
	void (*on_complete)(struct scout_http_client *c, void *arg);
	/* Fatal: connect, TLS, timeout, a malformed response, a reset. Nothing
	 * runs after it but the caller's scout_http_client_close(). */
	void (*on_error)(struct scout_http_client *c, int err, const char *reason, void *arg);
};

int scout_http_client_connect(uv_loop_t *loop, const struct scout_http_client_opts *opts,
			      const struct scout_http_client_callbacks *cbs, void *arg,
			      struct scout_http_client **ret_client, char *err, size_t errlen);
/* Sends the request line and headers (Host is added). content_length >= 0:
 * exactly that many body bytes follow through scout_http_client_write; -1:
 * a chunked body. Finish with scout_http_client_end (also without a body). */
int scout_http_client_request(struct scout_http_client *c, const char *method, const char *target,
			      const struct scout_http_header *headers, size_t nheaders, int64_t content_length);
int scout_http_client_write(struct scout_http_client *c, const void *data, size_t len, scout_http_write_cb cb,
			    void *arg);
int scout_http_client_end(struct scout_http_client *c);
size_t scout_http_client_queued(const struct scout_http_client *c);
/* Response headers, valid from on_response to on_complete. */
const char *scout_http_client_header(const struct scout_http_client *c, const char *name);
bool scout_http_client_reusable(const struct scout_http_client *c);
/* Stops / restarts reading the connection: after pause, at most what was
 * already read (64 KiB) is still delivered. */
void scout_http_client_pause(struct scout_http_client *c);
void scout_http_client_resume(struct scout_http_client *c);
/* Closes and frees; no callback runs after this call. */
void scout_http_client_close(struct scout_http_client *c);
