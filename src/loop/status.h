/* The status socket: AF_UNIX stream, mode 0660, newline-delimited JSON.
 * Each request line is one JSON object with a "cmd" string; each gets one
 * reply line: {"ok":true,...} or {"ok":false,"error":{"code","message"}}.
 * A malformed, unknown or oversized (> 64 KiB) request gets an error reply
 * and the connection is closed. Peers are checked with SO_PEERCRED: root,
 * the agent's own uid, or a member of the socket's group.
 *
 * Limits: at most 1024 connections (and at most half of RLIMIT_NOFILE);
 * a client past them, or one arriving when the process is out of file
 * descriptors, gets one "busy" error line and is closed. A connection
 * stops being read while more than 1 MiB of its replies wait unread; past
 * 32 MiB waiting for all connections together, the one with the most
 * unread is closed. Idle connections are closed (see set_idle_timeout). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#define SCOUT_STATUS_MAX_LINE (64 * 1024)

struct scout_status_server;
struct scout_status_req;

struct scout_status_stats {
	uint64_t connections;
	uint64_t requests;
	uint64_t errors;          /* error replies */
	uint64_t denied;          /* peers refused */
	uint64_t open;            /* connections open now */
	uint64_t busy;            /* clients refused with "busy": too many open, or out of descriptors */
	uint64_t idle_closed;     /* connections closed for being idle */
	uint64_t overflow_closed; /* closed because replies left unread passed the limit for all */
	uint64_t queued_bytes;    /* reply bytes waiting to be written now */
};

/* request is borrowed until the handler returns; answer req exactly once
 * with scout_status_reply() or scout_status_error(), now or later. */
typedef void (*scout_status_handler)(struct scout_status_req *req, const char *cmd, json_t *request, void *arg);

/* Binds path (removing a stale socket, refusing if another process
 * listens), sets mode 0660 and group (NULL: the process's group). */
int scout_status_listen(uv_loop_t *loop, const char *path, const char *group, scout_status_handler handler, void *arg,
			struct scout_status_server **ret_server, char *err, size_t errlen);
/* Closes connections that have no request in flight and have read or
 * written nothing for ms milliseconds (0: the default, 60 s). */
void scout_status_set_idle_timeout(struct scout_status_server *s, uint64_t ms);
/* Closes every connection and the socket, unlinks it; done runs after. */
void scout_status_close(struct scout_status_server *s, void (*done)(void *arg), void *arg);
const struct scout_status_stats *scout_status_stats(const struct scout_status_server *s);

/* Sends {"ok":true} merged with the fields of reply (stolen; may be NULL). */
void scout_status_reply(struct scout_status_req *req, json_t *reply);
__attribute__((format(printf, 3, 4))) void scout_status_error(struct scout_status_req *req, const char *code,
							      const char *fmt, ...);

/* Parses one request line: a JSON object whose "cmd" is 1..32 of [a-z0-9-].
 * Returns 0 with the object (caller decrefs) and its cmd (borrowed from it),
 * or -EINVAL with a message in err. */
int scout_status_parse_request(const char *line, size_t len, json_t **ret_request, const char **ret_cmd, char *err,
			       size_t errlen);

/* A UTC time as RFC 3339, "2026-11-30T06:12:59Z": how the status socket,
 * and records kept in the store, show a time. buf holds at least
 * SCOUT_ISO_TIME_LEN bytes. */
#define SCOUT_ISO_TIME_LEN 32
void scout_iso_time(time_t t, char *buf, size_t size);
/* The same as a JSON string; null for 0 (never). */
json_t *scout_time_json(time_t t);
