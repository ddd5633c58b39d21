/* SNMP requests on the event loop: one non-blocking UDP socket per address
 * family carries every v1/v2c request of the module. The io bounds how many
 * requests are in flight and how many datagrams leave per second, matches
 * each response to its request by a random request-id, the source address
 * and port and the community, retries on timeout, and never blocks the
 * loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "ber.h"
#include "loop/list.h"
#include "loop/timer.h"
#include "ranges.h"

#define SNMP_REQ_MAX_OIDS 48

struct snmp_io;
struct snmp_req;

/* status 0: msg is the response (borrowed until return). Otherwise
 * -ETIMEDOUT after every retry, or -ECANCELED. The request may be reused or
 * freed inside the callback. */
typedef void (*snmp_req_cb)(struct snmp_req *req, int status, const struct snmp_msg *msg);

struct snmp_req {
	/* filled by the caller */
	snmp_addr128 addr;
	uint16_t port;
	enum snmp_version version;
	const uint8_t *community; /* borrowed until done */
	size_t community_len;
	enum snmp_pdu_type type;
	int32_t non_repeaters, max_repetitions; /* GETBULK */
	const struct snmp_oid *oids[SNMP_REQ_MAX_OIDS];
	size_t n;
	unsigned retries;
	uint32_t timeout_ms;
	/* 2c with v1 fall-back: halfway through the last attempt, if no answer
	 * came yet, a v1 copy goes out (silent hosts cost one more datagram;
	 * hosts that answer v2c never see v1) */
	bool v1_on_last;
	snmp_req_cb done;
	void *data;

	/* private to io */
	int32_t id;
	unsigned attempt;
	struct scout_deadline dl; /* in flight: the end of this attempt */
	bool queued, inflight, half;
	struct scout_list link; /* queued: in the io's FIFO */
	struct snmp_io *io;
	size_t bytes_out, bytes_in; /* this request's datagrams, retries included */
};

struct snmp_io_stats {
	uint64_t sent, received, retries, timeouts;
	uint64_t bytes_out, bytes_in;
	uint64_t malformed; /* undecodable datagrams */
	uint64_t stray;     /* unknown id, or an answer from the wrong address */
	uint64_t send_errors;
};

struct snmp_io_limits {
	uint32_t rate;         /* datagrams per second; 0: unlimited */
	uint32_t max_inflight; /* requests awaiting an answer */
};

int snmp_io_new(uv_loop_t *loop, const struct snmp_io_limits *limits, struct snmp_io **ret_io);
void snmp_io_set_limits(struct snmp_io *io, const struct snmp_io_limits *limits);
/* Cancels every request (callbacks run with -ECANCELED), closes the
 * sockets, then calls done. */
void snmp_io_close(struct snmp_io *io, void (*done)(void *arg), void *arg);

/* Queues req; it is sent as soon as limits allow. 0 or -errno. */
int snmp_io_submit(struct snmp_io *io, struct snmp_req *req);
/* Withdraws req without calling its callback. */
void snmp_io_cancel(struct snmp_io *io, struct snmp_req *req);

/* Requests that could start now without waiting in the queue. */
uint32_t snmp_io_room(struct snmp_io *io);
/* Whether a unit of n requests (a probe sends one per community) may start
 * now: nothing waits in the queue, a rate token is there and n slots are
 * free (n is capped at max_inflight). Requests of the unit beyond the
 * tokens at hand wait in the queue and leave at the rate, so a producer
 * that asks this makes progress at any rate >= 1 whatever n is, and never
 * queues more than n - 1 requests ahead of others. */
bool snmp_io_room_for(struct snmp_io *io, uint32_t n);
/* Called whenever room may have grown (a request ended, a token came). */
void snmp_io_on_room(struct snmp_io *io, void (*cb)(void *arg), void *arg);

const struct snmp_io_stats *snmp_io_stats(const struct snmp_io *io);

struct snmp_v3_cred;
/* Credentials for SNMPv3 requests (replacing earlier ones); derives the
 * keys now. 0 or -errno. */
int snmp_io_set_v3(struct snmp_io *io, const struct snmp_v3_cred *cred);
