/* The request engine. Requests wait in a FIFO until both a token (rate) and
 * a slot (max_inflight) are free; in flight they sit in a deadline heap
 * (loop/timer.h) under one timer, and in a table indexed by request-id. A
 * response is accepted only from the address and port the request went to.
 * Datagrams are decoded from one reusable buffer: nothing is allocated per
 * request or per response. */
#include "io.h"
#include "v3.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop/closer.h"

#define RX_VBS 4096
#define RX_ARCS 32768
#define BURST 32

struct snmp_io {
	uv_loop_t *loop;
	uv_udp_t udp[2]; /* [0] IPv4, [1] IPv6 */
	bool udp_open[2];
	struct scout_timers timers; /* requests in flight, and the next token */
	struct scout_deadline token;
	struct snmp_io_limits lim;
	struct scout_list queue; /* waiting */
	uint32_t inflight;
	struct snmp_req **slots;
	uint32_t mask;
	uint32_t rnd[64]; /* request-ids from the system's CSPRNG, drawn in batches */
	unsigned nrnd;
	double tokens;
	uint64_t tokens_at;
	bool pumping, closing;
	struct scout_closer closer;
	void (*room_cb)(void *);
	void *room_arg;
	void (*close_done)(void *);
	void *close_arg;
	struct snmp_v3 *v3;
	struct snmp_io_stats stats;
	uint8_t rx[65536];
	uint8_t tx[65536];
	struct snmp_vb vbs[RX_VBS];
	uint32_t arcs[RX_ARCS];
};

static void pump(struct snmp_io *io);

const struct snmp_io_stats *snmp_io_stats(const struct snmp_io *io)
{
	return &io->stats;
}

/* ---- queue ------------------------------------------------------------- */

static struct snmp_req *queue_head(struct snmp_io *io)
{
	return scout_list_first_entry(&io->queue, struct snmp_req, link);
}

static void on_deadline(struct scout_deadline *d);

/* In flight until deadline_ms from now. The heap has room for every
 * request in flight (reserved with the slots), so this cannot fail. */
static void arm_request(struct snmp_io *io, struct snmp_req *r, uint64_t in_ms)
{
	scout_deadline_init(&r->dl, on_deadline);
	scout_timers_arm_in(&io->timers, &r->dl, in_ms);
}

/* ---- ids ---------------------------------------------------------------- */

static int resize_slots(struct snmp_io *io, uint32_t max_inflight)
{
	uint32_t size = 64;

	while (size < 2 * max_inflight)
		size <<= 1;
	/* one deadline per request in flight, and the token's */
	if (scout_timers_reserve(&io->timers, (size_t)max_inflight + 1) < 0)
		return -ENOMEM;
	if (io->slots && size <= io->mask + 1)
		return 0;
	struct snmp_req **s = calloc(size, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; io->slots && i <= io->mask; i++)
		if (io->slots[i])
			s[(uint32_t)io->slots[i]->id & (size - 1)] = io->slots[i];
	free(io->slots);
	io->slots = s;
	io->mask = size - 1;
	return 0;
}

/* A fresh 31-bit id from the system's CSPRNG: a host that sees one request
 * learns nothing about the ids of the others (sequential ids would let it
 * answer for its neighbours with a spoofed source). One uv_random() call
 * serves 64 ids. */
static int random_id(struct snmp_io *io, int32_t *ret_id)
{
	for (;;) {
		if (!io->nrnd) {
			int r = uv_random(NULL, NULL, io->rnd, sizeof(io->rnd), 0, NULL);
			if (r < 0)
				return r;
			io->nrnd = sizeof(io->rnd) / sizeof(io->rnd[0]);
		}
		int32_t id = (int32_t)(io->rnd[--io->nrnd] & 0x7FFFFFFF);
		if (id) { /* 0 is what a careless responder echoes */
			*ret_id = id;
			return 0;
		}
	}
}

static int assign_id(struct snmp_io *io, struct snmp_req *r)
{
	/* at most half the table is in use: a free slot takes two draws on
	 * average */
	for (;;) {
		int32_t id;
		int rc = random_id(io, &id);
		if (rc < 0)
			return rc;
		if (!io->slots[(uint32_t)id & io->mask]) {
			r->id = id;
			io->slots[(uint32_t)id & io->mask] = r;
			return 0;
		}
	}
}

static void release_id(struct snmp_io *io, struct snmp_req *r)
{
	if (io->slots[(uint32_t)r->id & io->mask] == r)
		io->slots[(uint32_t)r->id & io->mask] = NULL;
}

/* ---- tokens ------------------------------------------------------------- */

static void refill(struct snmp_io *io)
{
	uint64_t now = uv_now(io->loop);

	if (!io->lim.rate) {
		io->tokens = BURST;
		return;
	}
	io->tokens += (double)(now - io->tokens_at) * io->lim.rate / 1000.0;
	double burst = io->lim.rate < BURST ? 1 : BURST;
	if (io->tokens > burst)
		io->tokens = burst;
	io->tokens_at = now;
}

/* ---- sockets ------------------------------------------------------------ */

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct snmp_io *io = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)io->rx, sizeof(io->rx));
}

static int open_socket(struct snmp_io *io, int fam)
{
	struct sockaddr_storage ss;
	int r, i = fam == AF_INET6;

	if (io->udp_open[i])
		return 0;
	r = uv_udp_init_ex(io->loop, &io->udp[i], (unsigned)fam);
	if (r < 0)
		return r;
	io->udp[i].data = io;
	io->udp_open[i] = true;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)fam;
	r = uv_udp_bind(&io->udp[i], (struct sockaddr *)&ss, fam == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
	if (r == 0) {
		int size = 4 << 20;
		uv_recv_buffer_size((uv_handle_t *)&io->udp[i], &size);
		r = uv_udp_recv_start(&io->udp[i], on_alloc, on_recv);
	}
	return r;
}

static int transmit(struct snmp_io *io, struct snmp_req *r, enum snmp_version version)
{
	struct sockaddr_storage ss;
	int fam, rc;
	size_t n;

	if (version == SNMP_V3) {
		rc = io->v3 ? snmp_v3_send(io->v3, r) : -EINVAL;
		if (rc < 0) {
			io->stats.send_errors++;
			return rc;
		}
		io->stats.sent++;
		if (io->lim.rate)
			io->tokens -= 1;
		return 0;
	}
	snmp_addr_to_sockaddr(r->addr, r->port, &ss);
	fam = ss.ss_family;
	rc = open_socket(io, fam);
	if (rc < 0)
		return rc;
	n = snmp_encode_request(io->tx, sizeof(io->tx), version, r->community, r->community_len, r->type, r->id,
				r->type == SNMP_PDU_GETBULK && version != SNMP_V1 ? r->non_repeaters : 0,
				r->type == SNMP_PDU_GETBULK && version != SNMP_V1 ? r->max_repetitions : 0, r->oids,
				r->n);
	if (!n)
		return -EMSGSIZE;
	uv_buf_t b = uv_buf_init((char *)io->tx, (unsigned)n);
	rc = uv_udp_try_send(&io->udp[fam == AF_INET6], &b, 1, (struct sockaddr *)&ss);
	if (rc < 0) {
		io->stats.send_errors++;
		return rc;
	}
	io->stats.sent++;
	io->stats.bytes_out += n;
	r->bytes_out += n;
	if (io->lim.rate)
		io->tokens -= 1;
	return 0;
}

/* One attempt: the request's version, and on the last attempt of a 2c
 * request with fall-back, a v1 copy too. */
static void attempt(struct snmp_io *io, struct snmp_req *r)
{
	transmit(io, r, r->version); /* a failed send is retried like a lost datagram */
	r->half = r->v1_on_last && r->attempt == r->retries && r->version == SNMP_V2C && r->type != SNMP_PDU_GETBULK;
	arm_request(io, r, r->half ? r->timeout_ms / 2 : r->timeout_ms);
}

/* ---- completion --------------------------------------------------------- */

static void finish(struct snmp_io *io, struct snmp_req *r, int status, const struct snmp_msg *msg)
{
	if (r->version == SNMP_V3 && io->v3)
		snmp_v3_forget(io->v3, r);
	scout_timers_disarm(&io->timers, &r->dl);
	release_id(io, r);
	r->inflight = false;
	io->inflight--;
	r->done(r, status, msg);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
	struct snmp_io *io = h->data;
	struct snmp_msg msg;
	struct snmp_req *r;
	(void)flags;

	if (nread <= 0 || !from)
		return;
	io->stats.received++;
	io->stats.bytes_in += (uint64_t)nread;
	if (snmp_decode((const uint8_t *)buf->base, (size_t)nread, &msg, io->vbs, RX_VBS, io->arcs, RX_ARCS) < 0 ||
	    (msg.pdu_type != SNMP_PDU_RESPONSE && msg.pdu_type != SNMP_PDU_REPORT)) {
		io->stats.malformed++;
		return;
	}
	/* an answer belongs to one request: its id, the address and port it
	 * went to, and the community it carried */
	r = io->slots[(uint32_t)msg.request_id & io->mask];
	if (!r || r->id != msg.request_id || r->addr != snmp_addr_from_sockaddr(from) ||
	    ntohs(((const struct sockaddr_in *)from)->sin_port) != r->port || r->version == SNMP_V3 ||
	    msg.community_len != r->community_len || memcmp(msg.community, r->community, r->community_len) != 0) {
		io->stats.stray++;
		return;
	}
	r->bytes_in += (size_t)nread;
	finish(io, r, 0, &msg);
	pump(io);
}

/* A response that came through an SNMPv3 session. */
static void v3_deliver(void *arg, snmp_addr128 addr, uint16_t port, const struct snmp_msg *msg)
{
	struct snmp_io *io = arg;
	struct snmp_req *r = io->slots[(uint32_t)msg->request_id & io->mask];

	io->stats.received++;
	if (!r || r->id != msg->request_id || r->addr != addr || r->port != port || r->version != SNMP_V3) {
		io->stats.stray++;
		return;
	}
	finish(io, r, 0, msg);
	pump(io);
}

int snmp_io_set_v3(struct snmp_io *io, const struct snmp_v3_cred *cred)
{
	struct snmp_v3 *v3;
	int r = snmp_v3_new(io->loop, cred, v3_deliver, io, &v3);

	if (r < 0)
		return r;
	if (io->v3)
		snmp_v3_close(io->v3, NULL, NULL);
	io->v3 = v3;
	return 0;
}

/* A request's attempt ended without an answer. */
static void on_deadline(struct scout_deadline *d)
{
	struct snmp_req *r = scout_container_of(d, struct snmp_req, dl);
	struct snmp_io *io = r->io;

	refill(io); /* as a run of deadlines did before: tokens count from now */
	if (r->half) {
		/* no v2c answer halfway: try v1 for the rest of the attempt */
		r->half = false;
		transmit(io, r, SNMP_V1);
		arm_request(io, r, r->timeout_ms - r->timeout_ms / 2);
		return;
	}
	if (r->attempt < r->retries) {
		r->attempt++;
		io->stats.retries++;
		attempt(io, r);
		return;
	}
	io->stats.timeouts++;
	finish(io, r, -ETIMEDOUT, NULL);
}

/* A token is due: nothing to do but pump, after the batch. */
static void on_token(struct scout_deadline *d)
{
	(void)d;
}

/* After each run of expired deadlines: what they freed goes out. */
static void after_deadlines(void *arg)
{
	struct snmp_io *io = arg;

	refill(io);
	pump(io);
}

/* Arms the token's deadline when a token is due and someone waits for it:
 * the queue or a producer. */
static void arm(struct snmp_io *io)
{
	if (io->closing)
		return;
	if ((!scout_list_empty(&io->queue) || io->room_cb) && io->inflight < io->lim.max_inflight && io->tokens < 1 &&
	    io->lim.rate) {
		uint64_t wait = (uint64_t)((1 - io->tokens) * 1000.0 / io->lim.rate) + 1;
		uint64_t at = uv_now(io->loop) + wait;
		if (!scout_deadline_armed(&io->token) || io->token.at != at)
			scout_timers_arm(&io->timers, &io->token, at);
	} else {
		scout_timers_disarm(&io->timers, &io->token);
	}
}

static void pump(struct snmp_io *io)
{
	if (io->pumping || io->closing)
		return;
	io->pumping = true;
	refill(io);
	for (;;) {
		while (!scout_list_empty(&io->queue) && io->inflight < io->lim.max_inflight &&
		       (!io->lim.rate || io->tokens >= 1)) {
			struct snmp_req *r = queue_head(io);
			scout_list_remove(&r->link);
			r->queued = false;
			r->attempt = 0;
			r->bytes_out = r->bytes_in = 0;
			if (assign_id(io, r) < 0) {
				/* no randomness: never send a guessable id */
				io->stats.send_errors++;
				r->done(r, -EIO, NULL);
				continue;
			}
			r->inflight = true;
			io->inflight++;
			attempt(io, r);
		}
		/* producers top the queue up while there is room */
		if (!io->room_cb || !scout_list_empty(&io->queue) || snmp_io_room(io) == 0)
			break;
		uint32_t before = io->inflight;
		io->room_cb(io->room_arg);
		if (scout_list_empty(&io->queue) && io->inflight == before)
			break;
	}
	io->pumping = false;
	arm(io);
}

/* ---- public ------------------------------------------------------------- */

bool snmp_io_room_for(struct snmp_io *io, uint32_t n)
{
	refill(io);
	if (io->closing || !scout_list_empty(&io->queue) || (io->lim.rate && io->tokens < 1))
		return false;
	if (n > io->lim.max_inflight)
		n = io->lim.max_inflight;
	return io->lim.max_inflight - io->inflight >= n;
}

uint32_t snmp_io_room(struct snmp_io *io)
{
	refill(io);
	if (io->closing || !scout_list_empty(&io->queue) || io->inflight >= io->lim.max_inflight ||
	    (io->lim.rate && io->tokens < 1))
		return 0;
	uint32_t room = io->lim.max_inflight - io->inflight;
	if (io->lim.rate && io->tokens < room)
		room = (uint32_t)io->tokens;
	return room;
}

void snmp_io_on_room(struct snmp_io *io, void (*cb)(void *arg), void *arg)
{
	io->room_cb = cb;
	io->room_arg = arg;
	/* a producer that finds no token now is called back when one comes */
	refill(io);
	arm(io);
}

int snmp_io_new(uv_loop_t *loop, const struct snmp_io_limits *limits, struct snmp_io **ret_io)
{
	struct snmp_io *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	io->loop = loop;
	io->lim = *limits;
	if (!io->lim.max_inflight)
		io->lim.max_inflight = 1;
	scout_list_init(&io->queue);
	scout_closer_init(&io->closer);
	scout_timers_init(loop, &io->timers);
	scout_timers_on_batch(&io->timers, after_deadlines, io);
	scout_deadline_init(&io->token, on_token);
	if (resize_slots(io, io->lim.max_inflight) < 0) {
		scout_timers_close(&io->timers, &io->closer);
		scout_closer_wait(&io->closer, free, io);
		return -ENOMEM;
	}
	io->tokens = 1;
	io->tokens_at = uv_now(loop);
	*ret_io = io;
	return 0;
}

void snmp_io_set_limits(struct snmp_io *io, const struct snmp_io_limits *limits)
{
	if (resize_slots(io, limits->max_inflight ? limits->max_inflight : 1) < 0)
		return;
	io->lim = *limits;
	if (!io->lim.max_inflight)
		io->lim.max_inflight = 1;
	pump(io);
}

int snmp_io_submit(struct snmp_io *io, struct snmp_req *r)
{
	if (io->closing)
		return -ECANCELED;
	if (!r->done || !r->n || r->n > SNMP_REQ_MAX_OIDS)
		return -EINVAL;
	r->queued = true;
	r->inflight = false;
	r->io = io;
	scout_list_insert_tail(&io->queue, &r->link);
	pump(io);
	return 0;
}

void snmp_io_cancel(struct snmp_io *io, struct snmp_req *r)
{
	if (r->version == SNMP_V3 && io->v3)
		snmp_v3_forget(io->v3, r);
	if (r->queued) {
		scout_list_remove(&r->link);
		r->queued = false;
	} else if (r->inflight) {
		scout_timers_disarm(&io->timers, &r->dl);
		release_id(io, r);
		r->inflight = false;
		io->inflight--;
	}
	pump(io); /* a slot may have freed for what waits in the queue */
}

static void closed(void *arg)
{
	struct snmp_io *io = arg;
	void (*done)(void *) = io->close_done;
	void *done_arg = io->close_arg;

	free(io->slots);
	free(io);
	if (done)
		done(done_arg);
}

static void v3_closed(void *arg)
{
	struct snmp_io *io = arg;
	scout_closer_release(&io->closer);
}

void snmp_io_close(struct snmp_io *io, void (*done)(void *arg), void *arg)
{
	io->room_cb = NULL;
	io->closing = true; /* callbacks below may not submit again */
	while (!scout_list_empty(&io->queue)) {
		struct snmp_req *r = queue_head(io);
		scout_list_remove(&r->link);
		r->queued = false;
		r->done(r, -ECANCELED, NULL);
	}
	struct scout_deadline *d;
	while ((d = scout_timers_first(&io->timers)) && d != &io->token)
		finish(io, scout_container_of(d, struct snmp_req, dl), -ECANCELED, NULL);
	/* the token may sit first with requests behind it */
	scout_timers_disarm(&io->timers, &io->token);
	while ((d = scout_timers_first(&io->timers)))
		finish(io, scout_container_of(d, struct snmp_req, dl), -ECANCELED, NULL);
	io->close_done = done;
	io->close_arg = arg;
	if (io->v3) {
		scout_closer_hold(&io->closer);
		snmp_v3_close(io->v3, v3_closed, io);
		io->v3 = NULL;
	}
	for (int i = 0; i < 2; i++)
		if (io->udp_open[i])
			scout_closer_close(&io->closer, (uv_handle_t *)&io->udp[i]);
	scout_timers_close(&io->timers, &io->closer);
	scout_closer_wait(&io->closer, closed, io);
}
