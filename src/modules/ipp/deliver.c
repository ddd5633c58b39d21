/* The deliverer: one job at a time per printer, max_deliveries in all;
 * each job claimed at the vault, its printer probed (cached), the
 * document streamed from the vault into the printer's connection, the
 * printer's job followed to its end, and the outcome reported: job.done
 * (delivered) or job.hold with the reason (anything else), plus
 * job.released / job.failed for the cloud. See deliver.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver.h"
#include "ipp.h"
#include "loop/closer.h"
#include "loop/log.h"
#include "loop/pack.h"

#define VAULT_CHUNK_BYTES (64 * 1024)               /* the vault's unit (job.open's chunks) */
#define READ_CHUNKS 1                               /* vault chunks a job.read asks for (job.read takes up to 16) */
#define CHUNK_MAX (READ_CHUNKS * VAULT_CHUNK_BYTES) /* one read's bytes, at most */
#define READS_IN_FLIGHT 4                           /* job.read requests at once per delivery */
#define BUS_TIMEOUT_MS 30000
#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS 30000
#define FOLLOW_FIRST_MS 50
#define FOLLOW_MAX_MS 2000

enum stage { ST_WAITING, ST_CLAIM, ST_PROBE, ST_OPEN, ST_SEND, ST_FOLLOW, ST_RETRY, ST_CLOSE, ST_REPORT };

struct ipp_delivery;

struct slot {
	struct ipp_delivery *d;
	bool busy, have;
	uint64_t corr;
	uint32_t index;
	uint8_t *data;
	size_t len;
};

struct ipp_delivery {
	struct scout_list link;  /* dv->waiting or dv->running */
	struct scout_list plink; /* p->queue while it exists: the registry keeps p */
	struct ipp *s;
	struct ipp_printer *p;
	uint32_t id;
	char user[256];
	void (*done)(void *arg, const struct ipp_outcome *o);
	void *arg;
	enum stage stage;
	uint64_t call_corr; /* the bus request of the stage, 0 none */
	bool claimed;
	/* the job's metadata from job.claim */
	char name[256], format[128], sides[32], color[32];
	uint64_t copies, size;
	/* the vault's reader */
	bool open;
	uint64_t handle;
	uint32_t chunks;                       /* the vault's */
	uint32_t reads, next_read, next_write; /* job.reads of READ_CHUNKS chunks */
	uint64_t streamed;
	struct slot slots[READS_IN_FLIGHT];
	/* the printer side */
	int proto;
	struct ippc *c;
	struct ipp_raw *raw;
	const char *doc_format;
	int32_t printer_job_id;
	unsigned attempt;
	uint64_t first_try_ms, follow_until_ms, follow_delay;
	struct scout_deadline timer;
	struct ipp_outcome out;
};

static struct ipp_deliver *D(struct ipp *s)
{
	return s->deliver;
}

static uv_loop_t *loop_of(struct ipp_delivery *d)
{
	return scout_mod_loop(d->s->m);
}

static uint64_t now_ms(struct ipp_delivery *d)
{
	return uv_now(loop_of(d));
}

static const struct ipp_conf *conf_of(struct ipp_delivery *d)
{
	return scout_mod_conf(d->s->m);
}

const char *ipp_proto_name(int proto)
{
	switch (proto) {
	case PROTO_IPPS:
		return "ipps";
	case PROTO_IPP:
		return "ipp";
	case PROTO_RAW:
		return "raw";
	default:
		return "";
	}
}

int ipp_deliver_proto(const struct ipp *s, const struct ipp_printer *p)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);

	if (!p->caps_known)
		return PROTO_NONE;
	if (p->caps.ipps)
		return PROTO_IPPS;
	if (p->caps.ipp && conf->allow_unencrypted_delivery)
		return PROTO_IPP;
	if (p->raw_ok && conf->allow_unencrypted_delivery)
		return PROTO_RAW;
	return PROTO_NONE;
}

static void pump(struct ipp *s);
static void stage_probe(struct ipp_delivery *d);
static void send_start(struct ipp_delivery *d);
static void doc_pump(struct ipp_delivery *d);

/* ---- the end of a delivery ---- */

static void cancel_reads(struct ipp_delivery *d)
{
	struct scout_bus *bus = scout_mod_bus(d->s->m);

	for (unsigned i = 0; i < READS_IN_FLIGHT; i++) {
		struct slot *sl = &d->slots[i];
		if (sl->busy)
			scout_bus_cancel(bus, sl->corr);
		sl->busy = sl->have = false;
	}
}

static void drop_conn(struct ipp_delivery *d)
{
	ippc_free(d->c);
	d->c = NULL;
	ipp_raw_free(d->raw);
	d->raw = NULL;
}

static void count_failure(struct ipp_deliver *dv, const char *reason)
{
	unsigned i;

	for (i = 0; i < IPP_MAX_FAILURE_REASONS && dv->failures[i].reason[0]; i++)
		if (strcmp(dv->failures[i].reason, reason) == 0)
			break;
	if (i == IPP_MAX_FAILURE_REASONS)
		i = IPP_MAX_FAILURE_REASONS - 1; /* the last one collects the rest */
	if (!dv->failures[i].reason[0])
		snprintf(dv->failures[i].reason, sizeof(dv->failures[i].reason), "%s", reason);
	dv->failures[i].n++;
}

static void publish(struct ipp_delivery *d, struct scout_topic *t, msgpack_sbuffer *sb)
{
	if (t)
		(void)scout_bus_publish(scout_mod_bus(d->s->m), t, sb->data, sb->size);
}

/* job.released and job.failed: id, owner, printer, what differs, time. */
static void pack_event(msgpack_packer *pk, const struct ipp_delivery *d, const char *k1, const char *v1, const char *k2,
		       const char *v2, int32_t printer_job_id)
{
	msgpack_pack_map(pk, 6);
	scout_pack_str(pk, "id");
	msgpack_pack_uint32(pk, d->id);
	scout_pack_str(pk, "owner");
	scout_pack_str(pk, d->user);
	scout_pack_str(pk, "printer");
	scout_pack_str(pk, d->p->guid);
	scout_pack_str(pk, k1);
	scout_pack_str(pk, v1);
	scout_pack_str(pk, k2);
	if (v2)
		scout_pack_str(pk, v2);
	else
		msgpack_pack_int32(pk, printer_job_id);
	scout_pack_str(pk, "time");
	msgpack_pack_uint64(pk, (uint64_t)time(NULL));
}

static void report_events(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (d->out.delivered) {
		/* the vault shreds (or keeps for reprint) */
		msgpack_pack_map(&pk, 4);
		scout_pack_str(&pk, "id");
		msgpack_pack_uint32(&pk, d->id);
		scout_pack_str(&pk, "outcome");
		scout_pack_str(&pk, "completed");
		scout_pack_str(&pk, "printer");
		scout_pack_str(&pk, d->p->guid);
		scout_pack_str(&pk, "reason");
		scout_pack_str(&pk, R_COMPLETED);
		publish(d, dv->t_done, &sb);
		msgpack_sbuffer_clear(&sb);
		pack_event(&pk, d, "protocol", ipp_proto_name(d->out.proto), "printer_job_id", NULL,
			   d->out.printer_job_id);
		publish(d, dv->t_released, &sb);
	} else {
		pack_event(&pk, d, "reason", d->out.reason, "text", d->out.text, 0);
		publish(d, dv->t_failed, &sb);
	}
	msgpack_sbuffer_destroy(&sb);
}

static void delivery_free(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);

	if (d->call_corr)
		scout_bus_cancel(scout_mod_bus(d->s->m), d->call_corr);
	cancel_reads(d);
	drop_conn(d);
	ipp_probe_cancel_arg(d->s, d);
	if (dv->timers_ready)
		scout_timers_disarm(&dv->timers, &d->timer);
	for (unsigned i = 0; i < READS_IN_FLIGHT; i++) {
		if (d->slots[i].data)
			explicit_bzero(d->slots[i].data, CHUNK_MAX); /* the document, decrypted */
		free(d->slots[i].data);
	}
	scout_list_remove(&d->link);
	scout_list_remove(&d->plink);
	free(d);
}

/* The outcome is known: tell the release, free the slot, run the queue. */
static void report(struct ipp_delivery *d)
{
	struct ipp *s = d->s;
	struct ipp_deliver *dv = D(s);

	d->stage = ST_REPORT;
	if (d->claimed)
		report_events(d);
	if (d->out.delivered) {
		dv->delivered++;
		if (d->out.proto >= 0 && d->out.proto <= PROTO_RAW)
			dv->by_proto[d->out.proto]++;
		log_info("ipp: job %u of %s delivered to %s (%s) over %s, printer job %d", d->id, d->user,
			 d->p->address, d->p->guid, ipp_proto_name(d->out.proto), d->out.printer_job_id);
	} else {
		dv->failed++;
		count_failure(dv, d->out.reason);
		log_warn("ipp: job %u of %s not delivered to %s (%s): %s: %s", d->id, d->user, d->p->address,
			 d->p->guid, d->out.reason, d->out.text);
	}
	if (d->p->busy)
		d->p->busy--;
	dv->in_flight--;
	d->done(d->arg, &d->out);
	delivery_free(d);
	pump(s);
}

static void on_hold_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_delivery *d = arg;

	(void)reply;
	d->call_corr = 0;
	if (status < 0)
		log_warn("ipp: job %u: the vault did not take job.hold (%s); it stays where the vault put it", d->id,
			 strerror(-status));
	report(d);
}

static void hold(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (!d->claimed || !dv->t_hold || strcmp(d->out.reason, R_CANCELED_BY_USER) == 0) {
		report(d);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, d->id);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, d->out.reason);
	scout_pack_str(&pk, "text");
	scout_pack_str(&pk, d->out.text);
	int r = scout_bus_request(scout_mod_bus(d->s->m), dv->t_hold, sb.data, sb.size, BUS_TIMEOUT_MS, on_hold_reply,
				  d, &d->call_corr);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0) {
		log_warn("ipp: job %u: cannot ask the vault to hold it: %s", d->id, strerror(-r));
		report(d);
	}
}

static void ignore_reply(int status, const struct scout_msg *reply, void *arg)
{
	(void)status, (void)reply, (void)arg;
}

/* Fire and forget: the module is going away. */
static void hold_on_stop(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (d->call_corr) {
		scout_bus_cancel(scout_mod_bus(d->s->m), d->call_corr);
		d->call_corr = 0;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, d->id);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, R_SYSTEM);
	scout_pack_str(&pk, "text");
	scout_pack_str(&pk, "scout stopped while the job went out");
	(void)scout_bus_request(scout_mod_bus(d->s->m), dv->t_hold, sb.data, sb.size, BUS_TIMEOUT_MS, ignore_reply,
				NULL, NULL);
	msgpack_sbuffer_destroy(&sb);
	if (d->open) {
		msgpack_sbuffer_init(&sb);
		msgpack_pack_map(&pk, 1);
		scout_pack_str(&pk, "handle");
		msgpack_pack_uint64(&pk, d->handle);
		(void)scout_bus_request(scout_mod_bus(d->s->m), dv->t_close, sb.data, sb.size, BUS_TIMEOUT_MS,
					ignore_reply, NULL, NULL);
		msgpack_sbuffer_destroy(&sb);
		d->open = false;
	}
}

static void on_close_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_delivery *d = arg;

	(void)status, (void)reply;
	d->call_corr = 0;
	d->open = false;
	if (d->out.delivered)
		report(d);
	else
		hold(d);
}

/* Closes the vault's reader (if open), then reports or holds. */
static void end_with(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);

	cancel_reads(d);
	drop_conn(d);
	if (dv->timers_ready)
		scout_timers_disarm(&dv->timers, &d->timer);
	d->stage = ST_CLOSE;
	if (d->open) {
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 1);
		scout_pack_str(&pk, "handle");
		msgpack_pack_uint64(&pk, d->handle);
		int r = scout_bus_request(scout_mod_bus(d->s->m), dv->t_close, sb.data, sb.size, BUS_TIMEOUT_MS,
					  on_close_reply, d, &d->call_corr);
		msgpack_sbuffer_destroy(&sb);
		if (r == 0)
			return;
		d->open = false;
	}
	if (d->out.delivered)
		report(d);
	else
		hold(d);
}

__attribute__((format(printf, 3, 4))) static void fail(struct ipp_delivery *d, const char *reason, const char *fmt, ...)
{
	va_list ap;

	d->out.delivered = false;
	snprintf(d->out.reason, sizeof(d->out.reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(d->out.text, sizeof(d->out.text), fmt, ap);
	va_end(ap);
	end_with(d);
}

static void succeed(struct ipp_delivery *d)
{
	d->out.delivered = true;
	snprintf(d->out.reason, sizeof(d->out.reason), "%s", R_COMPLETED);
	snprintf(d->out.text, sizeof(d->out.text), "printed on %.200s", d->p->address);
	end_with(d);
}

/* ---- retries ---- */

static void on_retry_timer(struct scout_deadline *t)
{
	struct ipp_delivery *d = scout_container_of(t, struct ipp_delivery, timer);

	if (d->stage == ST_RETRY)
		stage_probe(d);
	else if (d->stage == ST_FOLLOW)
		send_start(d); /* the next Get-Job-Attributes */
}

/* A transient failure: again after a full-jitter back-off while retry_for
 * lasts, else the failure with reason. */
static void retry_or_fail(struct ipp_delivery *d, const char *reason, const char *why)
{
	struct ipp_deliver *dv = D(d->s);
	uint64_t elapsed = now_ms(d) - d->first_try_ms;

	drop_conn(d);
	cancel_reads(d);
	if (elapsed >= conf_of(d)->retry_for) {
		fail(d, reason, "%s (retried for %" PRIu64 " s)", why, elapsed / 1000);
		return;
	}
	uint64_t delay = scout_backoff(RETRY_BASE_MS, RETRY_CAP_MS, d->attempt++, NULL, NULL);
	if (delay > conf_of(d)->retry_for - elapsed)
		delay = conf_of(d)->retry_for - elapsed;
	log_info("ipp: job %u to %s: %s; again in %" PRIu64 " ms", d->id, d->p->address, why, delay);
	d->stage = ST_RETRY;
	if (scout_timers_arm_in(&dv->timers, &d->timer, delay) < 0)
		fail(d, reason, "%s", why);
}

static bool errno_unreachable(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EHOSTUNREACH || err == -ENETUNREACH ||
	       err == -EADDRNOTAVAIL || err == UV_EAI_NONAME || err == UV_EAI_AGAIN || err == -ECONNRESET;
}

/* ---- following the printer's job ---- */

static void follow_next(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);

	if (now_ms(d) >= d->follow_until_ms) {
		fail(d, R_TIMEOUT, "%s did not finish its job %d within %" PRIu64 " s", d->p->address,
		     d->printer_job_id, conf_of(d)->job_timeout / 1000);
		return;
	}
	d->stage = ST_FOLLOW;
	if (scout_timers_arm_in(&dv->timers, &d->timer, d->follow_delay) < 0) {
		fail(d, R_SYSTEM, "out of memory following job %d", d->printer_job_id);
		return;
	}
	d->follow_delay = d->follow_delay * 2 > FOLLOW_MAX_MS ? FOLLOW_MAX_MS : d->follow_delay * 2;
}

static void follow_answer(struct ipp_delivery *d, const struct ipp_msg *m)
{
	char msg[200];

	if (m->code == IPP_NOT_FOUND) {
		/* printers forget finished jobs; one that was taken and is gone ended */
		succeed(d);
		return;
	}
	if (m->code >= 0x0400) {
		ippc_status_message(m, msg, sizeof(msg));
		log_info("ipp: job %u: Get-Job-Attributes at %s: 0x%04x %s", d->id, d->p->address, m->code, msg);
		follow_next(d);
		return;
	}
	switch (ippc_job_state(m)) {
	case IPPC_JOB_COMPLETED:
		succeed(d);
		return;
	case IPPC_JOB_ABORTED:
		fail(d, R_ABORTED_AT_DEVICE, "%s aborted its job %d", d->p->address, d->printer_job_id);
		return;
	case IPPC_JOB_CANCELED:
		fail(d, R_CANCELED_AT_DEVICE, "%s canceled its job %d", d->p->address, d->printer_job_id);
		return;
	default:
		follow_next(d);
	}
}

/* ---- the printer's answers ---- */

static void on_ipp_done(struct ippc *c, int status, const struct ipp_msg *m, const char *why, void *arg)
{
	struct ipp_delivery *d = arg;
	struct ipp_printer *p = d->p;
	bool connected = ippc_connected(c);
	uint64_t sent = ippc_sent(c);
	uint8_t pin[32];
	bool have_pin = ippc_peer_pin(c, pin);
	char msg[200];

	d->c = NULL;
	ippc_free(c);
	if (status == -EKEYREJECTED) {
		if (have_pin)
			ipp_printer_pin_changed(d->s, p, pin);
		fail(d, R_CERT_CHANGED,
		     "%s shows a new certificate; an operator must accept it (scoutctl printer trust %s)", p->address,
		     p->address);
		return;
	}
	if (d->stage == ST_FOLLOW) {
		if (status < 0) {
			log_info("ipp: job %u: following job %d at %s: %s", d->id, d->printer_job_id, p->address, why);
			follow_next(d);
			return;
		}
		follow_answer(d, m);
		return;
	}
	/* ST_SEND: the Print-Job */
	if (status < 0) {
		if (!connected && errno_unreachable(status)) {
			p->caps_known = false; /* ask again what it speaks when it is back */
			retry_or_fail(d, R_UNREACHABLE, why);
			return;
		}
		fail(d, R_INCOMPLETE, "the connection to %s ended after %" PRIu64 " of %" PRIu64 " bytes: %s",
		     p->address, sent, d->size, why);
		return;
	}
	ippc_status_message(m, msg, sizeof(msg));
	if (m->code == IPP_BUSY || m->code == IPP_SERVICE_UNAVAILABLE || m->code == IPP_TEMPORARY_ERROR ||
	    m->code == IPP_NOT_ACCEPTING) {
		char w[300];
		snprintf(w, sizeof(w), "%.80s is busy (0x%04x %.180s)", p->address, m->code, msg);
		retry_or_fail(d, R_BUSY, w);
		return;
	}
	if (m->code == IPP_FORMAT_NOT_SUPPORTED || (m->code == IPP_ATTRIBUTES_NOT_SUPPORTED &&
						    ipp_find(m->attrs, IPP_TAG_UNSUPPORTED_GROUP, "document-format"))) {
		fail(d, R_FORMAT, "%s does not take %s: %s", p->address, d->doc_format, msg);
		return;
	}
	if (m->code >= 0x0400) {
		fail(d, R_SYSTEM, "%s refused the job: 0x%04x %s", p->address, m->code, msg);
		return;
	}
	if (sent < d->size) {
		fail(d, R_INCOMPLETE, "%s answered after %" PRIu64 " of %" PRIu64 " bytes", p->address, sent, d->size);
		return;
	}
	d->printer_job_id = ippc_job_id(m);
	d->out.printer_job_id = d->printer_job_id;
	cancel_reads(d);
	if (d->printer_job_id <= 0) {
		/* nothing to follow: taken is the best it tells */
		succeed(d);
		return;
	}
	d->follow_until_ms = now_ms(d) + conf_of(d)->job_timeout;
	d->follow_delay = FOLLOW_FIRST_MS;
	int32_t state = ippc_job_state(m);
	if (state >= IPPC_JOB_CANCELED) {
		follow_answer(d, m);
		return;
	}
	follow_next(d);
}

static void on_ipp_writable(struct ippc *c, void *arg)
{
	(void)c;
	doc_pump(arg);
}

static const struct ippc_cbs deliver_cbs = {.on_writable = on_ipp_writable, .on_done = on_ipp_done};

static void on_raw_writable(void *arg)
{
	doc_pump(arg);
}

static void on_raw_done(void *arg, int status, const char *why)
{
	struct ipp_delivery *d = arg;
	bool connected = ipp_raw_connected(d->raw);

	ipp_raw_free(d->raw);
	d->raw = NULL;
	if (status == 0) {
		succeed(d);
		return;
	}
	if (!connected && errno_unreachable(status)) {
		d->p->caps_known = false;
		retry_or_fail(d, R_UNREACHABLE, why);
		return;
	}
	fail(d, R_INCOMPLETE, "%s", why);
}

static const struct ipp_raw_cbs raw_cbs = {.on_writable = on_raw_writable, .on_done = on_raw_done};

/* ---- the document: vault -> printer, in order, bounded ---- */

static size_t sink_queued(struct ipp_delivery *d)
{
	return d->c ? ippc_queued(d->c) : d->raw ? ipp_raw_queued(d->raw) : 0;
}

static int sink_write(struct ipp_delivery *d, const void *data, size_t len)
{
	if (d->c)
		return ippc_write(d->c, data, len);
	if (d->raw)
		return ipp_raw_write(d->raw, data, len);
	return -EPIPE;
}

static void on_read_reply(int status, const struct scout_msg *reply, void *arg);

static void doc_pump(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);

	if (d->stage != ST_SEND || (!d->c && !d->raw))
		return;
	/* write what is in, in order */
	for (;;) {
		struct slot *sl = &d->slots[d->next_write % READS_IN_FLIGHT];
		if (!sl->have || sl->index != d->next_write)
			break;
		int r = sink_write(d, sl->data, sl->len);
		if (r == -ENOBUFS)
			return; /* on_writable comes */
		if (r == -EPIPE)
			return; /* the connection's own end (on_done) says why */
		if (r < 0) {
			fail(d, R_SYSTEM, "job %u: the vault's chunks do not add up to its size (%s)", d->id,
			     strerror(-r));
			return;
		}
		sl->have = false;
		d->streamed += sl->len;
		d->next_write++;
		if (d->stage != ST_SEND)
			return;
	}
	/* ask for more while the socket keeps up: at most READS_IN_FLIGHT
	 * chunks wait in memory, and nothing is read past the high water */
	while (d->next_read < d->reads && d->next_read - d->next_write < READS_IN_FLIGHT &&
	       sink_queued(d) < IPPC_HIGH_WATER) {
		struct slot *sl = &d->slots[d->next_read % READS_IN_FLIGHT];
		if (sl->busy || sl->have)
			break;
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_map(&pk, 3);
		scout_pack_str(&pk, "handle");
		msgpack_pack_uint64(&pk, d->handle);
		scout_pack_str(&pk, "index");
		msgpack_pack_uint32(&pk, d->next_read * READ_CHUNKS);
		scout_pack_str(&pk, "count");
		msgpack_pack_uint32(&pk, READ_CHUNKS);
		sl->index = d->next_read;
		sl->d = d;
		int r = scout_bus_request(scout_mod_bus(d->s->m), dv->t_read, sb.data, sb.size, BUS_TIMEOUT_MS,
					  on_read_reply, sl, &sl->corr);
		msgpack_sbuffer_destroy(&sb);
		if (r < 0) {
			if (d->next_read > d->next_write)
				break; /* later, when one comes back */
			fail(d, R_SYSTEM, "cannot read job %u from the vault: %s", d->id, strerror(-r));
			return;
		}
		sl->busy = true;
		d->next_read++;
	}
}

static void on_read_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct slot *sl = arg;
	struct ipp_delivery *d = sl->d;
	msgpack_unpacked u;
	const msgpack_object *data;

	sl->busy = false;
	if (status == -ENOENT && reply) {
		fail(d, R_CANCELED_BY_USER, "job %u was canceled in the vault while it went out", d->id);
		return;
	}
	if (status < 0 || !reply) {
		fail(d, R_SYSTEM, "the vault could not read job %u (chunk %u): %s", d->id, sl->index,
		     strerror(status < 0 ? -status : EIO));
		return;
	}
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, reply->data, reply->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    !(data = scout_pack_get(&u.data, "data")) || data->type != MSGPACK_OBJECT_BIN ||
	    data->via.bin.size > CHUNK_MAX) {
		msgpack_unpacked_destroy(&u);
		fail(d, R_SYSTEM, "job %u: a malformed job.read answer", d->id);
		return;
	}
	/* the next chunk to go out goes straight from the reply to the
	 * connection (which copies it once more, into TLS); only one that
	 * arrives early or finds the socket full waits in its slot */
	if (sl->index == d->next_write && d->stage == ST_SEND &&
	    sink_write(d, data->via.bin.ptr, data->via.bin.size) == 0) {
		d->streamed += data->via.bin.size;
		d->next_write++;
		msgpack_unpacked_destroy(&u);
		doc_pump(d);
		return;
	}
	/* early, or the socket is full: it waits in its slot (made on first use) */
	if (!sl->data && !(sl->data = malloc(CHUNK_MAX))) {
		msgpack_unpacked_destroy(&u);
		fail(d, R_SYSTEM, "out of memory");
		return;
	}
	memcpy(sl->data, data->via.bin.ptr, data->via.bin.size);
	sl->len = data->via.bin.size;
	sl->have = true;
	msgpack_unpacked_destroy(&u);
	doc_pump(d);
}

/* ---- the request to the printer ---- */

static void build_print_job(struct ipp_delivery *d, struct ipp_writer *w)
{
	const struct ipp_caps *caps = &d->p->caps;

	ipp_w_init(w, 2, 0, IPP_OP_PRINT_JOB, d->id);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(w, IPP_TAG_URI, "printer-uri", caps->uri);
	ipp_w_str(w, IPP_TAG_NAME, "requesting-user-name", d->user);
	ipp_w_str(w, IPP_TAG_NAME, "job-name", d->name[0] ? d->name : "scout job");
	ipp_w_str(w, IPP_TAG_MIMETYPE, "document-format", d->doc_format);
	ipp_w_group(w, IPP_TAG_JOB);
	if (d->copies > 1 && caps->copies_max >= (int32_t)(d->copies > INT32_MAX ? INT32_MAX : d->copies))
		ipp_w_int(w, IPP_TAG_INTEGER, "copies", (int32_t)d->copies);
	if (caps->sides_duplex && (!strcmp(d->sides, "one-sided") || !strcmp(d->sides, "two-sided-long-edge") ||
				   !strcmp(d->sides, "two-sided-short-edge")))
		ipp_w_str(w, IPP_TAG_KEYWORD, "sides", d->sides);
	if (caps->color && (!strcmp(d->color, "color") || !strcmp(d->color, "monochrome")))
		ipp_w_str(w, IPP_TAG_KEYWORD, "print-color-mode", d->color);
}

static void build_get_job(struct ipp_delivery *d, struct ipp_writer *w)
{
	static const char *const want[] = {"job-state", "job-state-reasons", "job-state-message"};

	ipp_w_init(w, 2, 0, IPP_OP_GET_JOB_ATTRIBUTES, d->id);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(w, IPP_TAG_URI, "printer-uri", d->p->caps.uri);
	ipp_w_int(w, IPP_TAG_INTEGER, "job-id", d->printer_job_id);
	ipp_w_str(w, IPP_TAG_NAME, "requesting-user-name", d->user);
	ipp_w_strs(w, IPP_TAG_KEYWORD, "requested-attributes", want, 3);
}

/* The Print-Job (ST_SEND) or the next Get-Job-Attributes (ST_FOLLOW). */
static void send_start(struct ipp_delivery *d)
{
	struct ipp *s = d->s;
	struct ipp_printer *p = d->p;
	const struct ipp_conf *conf = conf_of(d);
	struct ipp_writer w;
	char err[256];
	int r;

	if (d->stage != ST_FOLLOW) {
		d->stage = ST_SEND;
		d->next_read = d->next_write = 0;
		d->streamed = 0;
		cancel_reads(d);
	}
	if (d->proto == PROTO_RAW) {
		r = ipp_raw_start(loop_of(d), p->host, p->port > 0 && p->port != 631 ? p->port : IPP_RAW_PORT,
				  conf->delivery_timeout, d->size, &raw_cbs, d, &d->raw);
		if (r < 0)
			fail(d, R_SYSTEM, "cannot connect to %s: %s", p->address, strerror(-r));
		return;
	}
	if (d->stage == ST_FOLLOW)
		build_get_job(d, &w);
	else
		build_print_job(d, &w);
	if ((r = ipp_w_finish(&w)) < 0) {
		ipp_w_free(&w);
		fail(d, R_SYSTEM, "out of memory");
		return;
	}
	struct ippc_opts o = {
		.host = p->host,
		.port = p->port,
		.path = p->caps.path,
		.tls_ctx = d->proto == PROTO_IPPS ? D(s)->tls : NULL,
		.pin = d->proto == PROTO_IPPS && p->pinned ? p->pin : NULL,
		.timeout_ms = conf->delivery_timeout,
	};
	r = ippc_start(loop_of(d), &o, w.p, w.len, d->stage == ST_FOLLOW ? 0 : d->size, &deliver_cbs, d, &d->c, err,
		       sizeof(err));
	ipp_w_free(&w);
	if (r < 0)
		fail(d, R_SYSTEM, "cannot connect to %s: %s", p->address, err);
}

/* ---- opening the document ---- */

static void on_open_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_delivery *d = arg;
	msgpack_unpacked u;
	uint64_t handle, size, chunks;

	d->call_corr = 0;
	if (status < 0 || !reply) {
		fail(d, status == -ENOENT ? R_CANCELED_BY_USER : R_SYSTEM, "the vault cannot open job %u: %s", d->id,
		     strerror(status < 0 ? -status : EIO));
		return;
	}
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, reply->data, reply->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    scout_pack_get_uint(&u.data, "handle", &handle) < 0 || scout_pack_get_uint(&u.data, "size", &size) < 0 ||
	    scout_pack_get_uint(&u.data, "chunks", &chunks) < 0 || chunks > UINT32_MAX ||
	    (size > 0 && chunks < (size + VAULT_CHUNK_BYTES - 1) / VAULT_CHUNK_BYTES)) {
		msgpack_unpacked_destroy(&u);
		fail(d, R_SYSTEM, "job %u: a malformed job.open answer", d->id);
		return;
	}
	msgpack_unpacked_destroy(&u);
	d->open = true;
	d->handle = handle;
	d->size = size;
	d->chunks = size == 0 ? 0 : (uint32_t)chunks;
	d->reads = (d->chunks + READ_CHUNKS - 1) / READ_CHUNKS;
	send_start(d);
}

static void stage_open(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (d->open) {
		send_start(d); /* a retry: the reader is still open */
		return;
	}
	d->stage = ST_OPEN;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, d->id);
	int r = scout_bus_request(scout_mod_bus(d->s->m), dv->t_open, sb.data, sb.size, BUS_TIMEOUT_MS, on_open_reply,
				  d, &d->call_corr);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0)
		fail(d, R_SYSTEM, "cannot ask the vault for job %u: %s", d->id, strerror(-r));
}

/* ---- the printer: what it speaks ---- */

static void on_probed(void *arg, int status, const char *why)
{
	struct ipp_delivery *d = arg;
	struct ipp_printer *p = d->p;
	const struct ipp_conf *conf = conf_of(d);

	if (status == -EKEYREJECTED) {
		fail(d, R_CERT_CHANGED, "%s", why);
		return;
	}
	if (status == -EPROTONOSUPPORT) {
		fail(d, R_ENCRYPTION, "%s", why);
		return;
	}
	if (status < 0) {
		if (status == -ENOMEM) {
			fail(d, R_SYSTEM, "%s", why);
			return;
		}
		retry_or_fail(d, R_UNREACHABLE, why && *why ? why : "the printer does not answer");
		return;
	}
	d->proto = ipp_deliver_proto(d->s, p);
	d->out.proto = d->proto;
	if (d->proto == PROTO_NONE) {
		fail(d, R_ENCRYPTION, "%s offers no IPPS%s and allow_unencrypted_delivery is %s", p->address,
		     p->caps.ipp ? " (only plain ipp://)"
		     : p->raw_ok ? " (only raw TCP)"
				 : "",
		     conf->allow_unencrypted_delivery ? "yes" : "no");
		return;
	}
	if (d->proto != PROTO_RAW) {
		d->doc_format = ipp_format_choose(&p->caps, d->format);
		if (!d->doc_format) {
			fail(d, R_FORMAT, "%s cannot print %s (it takes %u other formats)", p->address,
			     d->format[0] ? d->format : "this document", p->caps.nformats);
			return;
		}
	}
	stage_open(d);
}

static void stage_probe(struct ipp_delivery *d)
{
	d->stage = ST_PROBE;
	ipp_probe(d->s, d->p, on_probed, d);
}

/* ---- claiming the job ---- */

static void on_claim_reply(int status, const struct scout_msg *reply, void *arg)
{
	struct ipp_delivery *d = arg;
	msgpack_unpacked u;

	d->call_corr = 0;
	if (status < 0 || !reply) {
		/* not this user's held job (or no such job: the same answer) */
		const char *what = status == -ENOENT   ? "no such held job for"
				   : status == -EBUSY  ? "is being delivered already for"
				   : status == -EACCES ? "cannot be read (the vault is locked) for"
						       : "cannot be handed out by the vault for";
		fail(d, R_SYSTEM, "job %u: %s %s", d->id, what, d->user);
		return;
	}
	d->claimed = true;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, reply->data, reply->len, NULL) != MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		fail(d, R_SYSTEM, "job %u: a malformed job.claim answer", d->id);
		return;
	}
	(void)scout_pack_get_strbuf(&u.data, "name", d->name, sizeof(d->name));
	(void)scout_pack_get_strbuf(&u.data, "format", d->format, sizeof(d->format));
	(void)scout_pack_get_strbuf(&u.data, "sides", d->sides, sizeof(d->sides));
	(void)scout_pack_get_strbuf(&u.data, "color", d->color, sizeof(d->color));
	if (scout_pack_get_uint(&u.data, "copies", &d->copies) < 0)
		d->copies = 1;
	(void)scout_pack_get_uint(&u.data, "size", &d->size);
	msgpack_unpacked_destroy(&u);
	d->first_try_ms = now_ms(d);
	stage_probe(d);
}

static void stage_claim(struct ipp_delivery *d)
{
	struct ipp_deliver *dv = D(d->s);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	d->stage = ST_CLAIM;
	if (!dv->t_claim || !dv->t_open || !dv->t_read || !dv->t_close || !dv->t_done) {
		fail(d, R_SYSTEM, "the vault does not serve job.claim, job.open, job.read, job.close and job.done");
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	scout_pack_str(&pk, "id");
	msgpack_pack_uint32(&pk, d->id);
	scout_pack_str(&pk, "user");
	scout_pack_str(&pk, d->user);
	int r = scout_bus_request(scout_mod_bus(d->s->m), dv->t_claim, sb.data, sb.size, BUS_TIMEOUT_MS, on_claim_reply,
				  d, &d->call_corr);
	msgpack_sbuffer_destroy(&sb);
	if (r < 0)
		fail(d, R_SYSTEM, "cannot ask the vault for job %u: %s", d->id, strerror(-r));
}

/* ---- the queue ---- */

static void pump(struct ipp *s)
{
	struct ipp_deliver *dv = D(s);
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	struct ipp_delivery *d, *tmp;

	if (!dv || s->stopping)
		return;
	/* a delivery that ends at once (its claim cannot be asked) calls back
	 * here: the outer call walks the list again instead */
	if (dv->pumping) {
		dv->pump_again = true;
		return;
	}
	dv->pumping = true;
	do {
		dv->pump_again = false;
		scout_list_foreach_safe (d, tmp, &dv->waiting, link) {
			if (dv->in_flight >= (unsigned)conf->max_deliveries)
				break;
			if (d->p->busy)
				continue; /* one at a time per printer, in order */
			scout_list_remove(&d->link);
			scout_list_insert_tail(&dv->running, &d->link);
			d->p->busy++;
			dv->in_flight++;
			stage_claim(d);
			if (dv->pump_again)
				break; /* tmp may be gone */
		}
	} while (dv->pump_again);
	dv->pumping = false;
}

int ipp_deliver_job(struct ipp *s, struct ipp_printer *p, uint32_t id, const char *user,
		    void (*done)(void *arg, const struct ipp_outcome *o), void *arg)
{
	struct ipp_deliver *dv = D(s);
	struct ipp_delivery *d;

	if (!dv)
		return -ESHUTDOWN;
	/* the same job released again while it waits or goes out (the vault
	 * claims it only when its turn comes): refused, and for its owner only,
	 * so that another user learns nothing about the id */
	struct scout_list *lists[] = {&dv->waiting, &dv->running};
	for (size_t i = 0; i < 2; i++)
		scout_list_foreach (d, lists[i], link)
			if (d->id == id && strcmp(d->user, user) == 0)
				return -EBUSY;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	d->s = s;
	d->p = p;
	d->id = id;
	d->done = done;
	d->arg = arg;
	d->proto = PROTO_NONE;
	d->out.id = id;
	d->out.proto = PROTO_NONE;
	d->out.printer_job_id = -1;
	d->printer_job_id = -1;
	snprintf(d->user, sizeof(d->user), "%s", user);
	scout_deadline_init(&d->timer, on_retry_timer);
	scout_list_insert_tail(&dv->waiting, &d->link);
	scout_list_insert_tail(&p->queue, &d->plink);
	pump(s);
	return 0;
}

/* ---- lifecycle and status ---- */

int ipp_deliver_start(struct ipp *s, char *err, size_t errlen)
{
	struct ipp_deliver *dv = calloc(1, sizeof(*dv));
	struct scout_mod *m = s->m;
	struct scout_bus *bus = scout_mod_bus(m);
	struct scout_tls_client_opts to = {0};
	int r;

	if (!dv) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	dv->s = s;
	s->deliver = dv;
	scout_list_init(&dv->waiting);
	scout_list_init(&dv->running);
	scout_list_init(&dv->releases);
	scout_list_init(&dv->commands);
	scout_list_init(&dv->probes);
	if ((r = scout_mod_topic(m, "job.release", &dv->t_release)) < 0 ||
	    (r = scout_mod_topic(m, "job.released", &dv->t_released)) < 0 ||
	    (r = scout_mod_topic(m, "job.failed", &dv->t_failed)) < 0 ||
	    (r = scout_mod_topic(m, "job.list", &dv->t_list)) < 0) {
		snprintf(err, errlen, "a topic of the deliverer is not declared");
		return r;
	}
	/* the vault's release half: without it the intake still runs and every
	 * release fails with a reason naming what is missing */
	dv->t_claim = scout_bus_find(bus, "job.claim");
	dv->t_hold = scout_bus_find(bus, "job.hold");
	dv->t_done = scout_bus_find(bus, "job.done");
	dv->t_open = scout_bus_find(bus, "job.open");
	dv->t_read = scout_bus_find(bus, "job.read");
	dv->t_close = scout_bus_find(bus, "job.close");
	if ((r = scout_tls_ctx_client(&to, &dv->tls, err, errlen)) < 0)
		return r;
	scout_timers_init(scout_mod_loop(m), &dv->timers);
	dv->timers_ready = true;
	return ipp_release_start(s);
}

void ipp_deliver_stop(struct ipp *s)
{
	struct ipp_deliver *dv = D(s);
	struct ipp_delivery *d, *tmp;

	if (!dv)
		return;
	ipp_release_stop(s);
	/* jobs in flight go back to held at once (the vault would do it only at
	 * its own restart); what the printer got of them is lost */
	scout_list_foreach_safe (d, tmp, &dv->running, link) {
		if (d->claimed && d->stage != ST_REPORT && dv->t_hold)
			hold_on_stop(d);
		delivery_free(d);
	}
	scout_list_foreach_safe (d, tmp, &dv->waiting, link)
		delivery_free(d);
	if (dv->timers_ready)
		scout_timers_close(&dv->timers, scout_mod_closer(s->m));
	dv->timers_ready = false;
	if (dv->tls)
		scout_tls_ctx_unref(dv->tls);
	dv->tls = NULL;
}

void ipp_deliver_free(struct ipp *s)
{
	free(s->deliver);
	s->deliver = NULL;
}

static size_t count(const struct scout_list *l)
{
	size_t n = 0;

	for (const struct scout_list *p = l->next; p != l; p = p->next)
		n++;
	return n;
}

void ipp_deliver_status(struct ipp *s, json_t *obj)
{
	struct ipp_deliver *dv = D(s);
	json_t *o, *by, *fl;

	if (!dv)
		return;
	o = json_object();
	json_object_set_new(o, "in_flight", json_integer((json_int_t)dv->in_flight));
	json_object_set_new(o, "queued", json_integer((json_int_t)count(&dv->waiting)));
	json_object_set_new(o, "delivered", json_integer((json_int_t)dv->delivered));
	json_object_set_new(o, "failed", json_integer((json_int_t)dv->failed));
	by = json_object();
	for (int i = 0; i <= PROTO_RAW; i++)
		json_object_set_new(by, ipp_proto_name(i), json_integer((json_int_t)dv->by_proto[i]));
	json_object_set_new(o, "by_protocol", by);
	fl = json_object();
	for (unsigned i = 0; i < IPP_MAX_FAILURE_REASONS && dv->failures[i].reason[0]; i++)
		json_object_set_new(fl, dv->failures[i].reason, json_integer((json_int_t)dv->failures[i].n));
	json_object_set_new(o, "failures", fl);
	json_object_set_new(obj, "delivery", o);
}
