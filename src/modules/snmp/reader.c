/* Probes and reads. A read runs in phases, each a series of requests:
 *   1. GET the scalars (standard and the vendor's),
 *   2. walk the columns that enumerate table rows (GETBULK; GETNEXT on v1),
 *   3. GET the other cells of just the rows found,
 * so that a printer's tables cost no GETBULK overshoot beyond one column
 * each. Every response is checked against what was asked. */
#include "reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mib.h"
#include "normalise.h"

#define MAX_ROWS_PER_COLUMN 512
#define MAX_VARBINDS 8192
#define MAX_BYTES (1u << 20)
#define GET_BATCH 24
#define WALK_BATCH 8

/* ---- probe -------------------------------------------------------------- */

static const char *const probe_oids[] = {
	"1.3.6.1.2.1.1.1", /* sysDescr */
	"1.3.6.1.2.1.1.2", /* sysObjectID */
	PRT_MIB,           /* any Printer-MIB object */
	HR_DEV_TYPE,       /* the first hrDeviceType */
};
#define PROBE_N 4

/* Sized for its communities: a /16 sweep keeps thousands in flight. */
struct snmp_probe {
	struct snmp_io *io;
	unsigned n, pending;
	bool dropped[PROBE_N]; /* v1: vars the agent had nothing after */
	snmp_probe_cb cb;
	void *arg;
	struct snmp_probe_result res;
	struct snmp_req req[]; /* one per community */
};

/* The probe's OIDs, parsed once. */
static const struct snmp_oid *probe_oid(unsigned k)
{
	static struct snmp_oid oids[PROBE_N];
	static bool parsed;

	if (!parsed) {
		for (unsigned i = 0; i < PROBE_N; i++)
			snmp_oid_parse(probe_oids[i], &oids[i]);
		parsed = true;
	}
	return &oids[k];
}

static void probe_finish(struct snmp_probe *p)
{
	for (unsigned i = 0; i < p->n; i++)
		snmp_io_cancel(p->io, &p->req[i]);
	p->cb(p, &p->res, p->arg);
	free(p);
}

static void probe_fill(struct snmp_req *r, struct snmp_probe *p)
{
	r->n = 0;
	for (unsigned k = 0; k < PROBE_N; k++)
		if (!p->dropped[k])
			r->oids[r->n++] = probe_oid(k);
}

static void probe_classify(struct snmp_probe *p, const struct snmp_msg *m)
{
	const struct snmp_oid *descr = probe_oid(0), *objid = probe_oid(1), *prt = probe_oid(2), *hrtype = probe_oid(3);
	static struct snmp_oid printer;

	if (!printer.n)
		snmp_oid_parse(HR_TYPE_PRINTER, &printer);
	bool hr = false, mib = false;
	for (uint32_t i = 0; i < m->nvbs; i++) {
		const struct snmp_vb *v = &m->vbs[i];
		if (snmp_oid_has_prefix(v->oid, v->oid_len, descr) && v->type == SNMP_OCTETS) {
			size_t n = v->len < sizeof(p->res.descr) - 1 ? v->len : sizeof(p->res.descr) - 1;
			memcpy(p->res.descr, v->data, n);
			p->res.descr[n] = 0;
			for (size_t k = 0; k < n; k++)
				if ((unsigned char)p->res.descr[k] < 0x20)
					p->res.descr[k] = ' ';
		} else if (snmp_oid_has_prefix(v->oid, v->oid_len, objid) && v->type == SNMP_OBJECT_ID) {
			p->res.sysobjectid.n = v->val_oid_len;
			memcpy(p->res.sysobjectid.arc, v->val_oid, v->val_oid_len * sizeof(uint32_t));
		} else if (snmp_oid_has_prefix(v->oid, v->oid_len, prt) && v->type != SNMP_END_OF_MIB_VIEW) {
			mib = true;
		} else if (snmp_oid_has_prefix(v->oid, v->oid_len, hrtype) && v->type == SNMP_OBJECT_ID &&
			   snmp_oid_cmp(v->val_oid, v->val_oid_len, printer.arc, printer.n) == 0) {
			hr = true;
		}
	}
	p->res.printer = snmp_is_printer(p->res.sysobjectid.n ? p->res.sysobjectid.arc : NULL, p->res.sysobjectid.n,
					 p->res.descr[0] ? p->res.descr : NULL, mib, hr);
}

static void on_probe(struct snmp_req *r, int status, const struct snmp_msg *m)
{
	struct snmp_probe *p = r->data;

	p->res.bytes += r->bytes_out + r->bytes_in;
	p->pending--;
	if (status == 0 && m->error_status == SNMP_ERR_NO_SUCH_NAME && m->error_index >= 1 &&
	    (uint32_t)m->error_index <= r->n && r->n > 1) {
		/* SNMPv1: one var ran off the end of the MIB; ask again without it */
		const struct snmp_oid *gone = r->oids[m->error_index - 1];
		for (unsigned k = 0; k < PROBE_N; k++)
			if (gone == probe_oid(k))
				p->dropped[k] = true;
		p->res.answered = true;
		probe_fill(r, p);
		r->version = m->version;
		r->v1_on_last = false;
		if (snmp_io_submit(p->io, r) == 0) {
			p->pending++;
			return;
		}
	}
	if (status == 0) {
		p->res.answered = true;
		p->res.community = (unsigned)(r - p->req);
		p->res.version = (enum snmp_version)m->version;
		if (m->error_status == SNMP_ERR_NONE)
			probe_classify(p, m);
		probe_finish(p);
		return;
	}
	if (p->pending == 0)
		probe_finish(p);
}

int snmp_probe_start(struct snmp_io *io, const struct snmp_auth *auth, snmp_addr128 addr, snmp_probe_cb cb, void *arg,
		     struct snmp_probe **ret_probe)
{
	/* SNMPv3 has one user instead of communities */
	unsigned n = auth->version == SNMP_V3                    ? 1
		     : auth->ncommunities < SNMP_MAX_COMMUNITIES ? auth->ncommunities
								 : SNMP_MAX_COMMUNITIES;
	struct snmp_probe *p;

	if (!n)
		return -EINVAL;
	p = calloc(1, sizeof(*p) + n * sizeof(p->req[0]));
	if (!p)
		return -ENOMEM;
	p->io = io;
	p->cb = cb;
	p->arg = arg;
	p->res.addr = addr;
	p->n = n;
	for (unsigned i = 0; i < p->n; i++) {
		struct snmp_req *r = &p->req[i];
		r->addr = addr;
		r->port = auth->port;
		r->version = auth->version;
		r->v1_on_last = auth->version == SNMP_V2C && auth->v1_fallback;
		r->community = (const uint8_t *)(auth->version == SNMP_V3 ? "" : auth->communities[i]);
		r->community_len = strlen((const char *)r->community);
		r->type = SNMP_PDU_GETNEXT;
		r->retries = auth->retries;
		r->timeout_ms = auth->timeout_ms;
		r->done = on_probe;
		r->data = p;
		probe_fill(r, p);
	}
	for (unsigned i = 0; i < p->n; i++)
		if (snmp_io_submit(io, &p->req[i]) == 0)
			p->pending++;
	if (!p->pending) {
		free(p);
		return -EIO;
	}
	if (ret_probe)
		*ret_probe = p;
	return 0;
}

void snmp_probe_cancel(struct snmp_probe *p)
{
	for (unsigned i = 0; i < p->n; i++)
		snmp_io_cancel(p->io, &p->req[i]);
	free(p);
}

/* ---- read --------------------------------------------------------------- */

struct column {
	struct snmp_oid prefix, cur;
	unsigned rows;
	bool done;
};

struct snmp_read {
	struct snmp_io *io;
	struct snmp_req req;
	snmp_addr128 addr;
	char community[256];
	enum snmp_read_kind kind;
	const struct snmp_vendor *vendor;
	struct snmp_walk walk;
	/* GET phases: the OIDs still to ask */
	struct snmp_oid *gets;
	unsigned ngets, next_get, batch;
	bool skip[GET_BATCH];
	/* walk phase */
	struct column cols[SNMP_MAX_COLUMNS];
	unsigned ncols;
	unsigned in_req[WALK_BATCH], nin_req;
	int32_t max_rep;
	int phase;             /* 1 scalars, 2 walk, 3 cells */
	bool identified;       /* the vendor's OIDs are in the plan */
	bool started, refused; /* the first request was accepted / refused */
	struct snmp_read_stats stats;
	snmp_read_cb cb;
	void *arg;
};

static void read_next(struct snmp_read *r);

const struct snmp_read_stats *snmp_read_stats(const struct snmp_read *r)
{
	return &r->stats;
}

snmp_addr128 snmp_read_addr(const struct snmp_read *r)
{
	return r->addr;
}

static int add_get(struct snmp_read *r, const char *oid)
{
	struct snmp_oid o;

	if (snmp_oid_parse(oid, &o) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < r->ngets; i++)
		if (snmp_oid_cmp(r->gets[i].arc, r->gets[i].n, o.arc, o.n) == 0)
			return 0;
	struct snmp_oid *g = realloc(r->gets, (r->ngets + 1) * sizeof(*g));
	if (!g)
		return -ENOMEM;
	r->gets = g;
	r->gets[r->ngets++] = o;
	return 0;
}

static void add_get_cb(const char *oid, void *arg)
{
	add_get(arg, oid);
}

static void add_column(struct snmp_read *r, const char *oid)
{
	if (r->ncols < SNMP_MAX_COLUMNS && snmp_oid_parse(oid, &r->cols[r->ncols].prefix) == 0) {
		r->cols[r->ncols].cur = r->cols[r->ncols].prefix;
		r->ncols++;
	}
}

static void finish(struct snmp_read *r, int status)
{
	snmp_walk_finish(&r->walk);
	r->cb(r, status, status == 0 ? &r->walk : NULL, r->arg);
	snmp_walk_free(&r->walk);
	free(r->gets);
	free(r);
}

static bool over_limits(struct snmp_read *r)
{
	return r->walk.n >= MAX_VARBINDS || r->stats.bytes >= MAX_BYTES;
}

static void submit(struct snmp_read *r)
{
	r->stats.requests++;
	if (snmp_io_submit(r->io, &r->req) == 0)
		return;
	if (!r->started) {
		r->refused = true; /* snmp_read_start reports it; no callback */
		return;
	}
	finish(r, -EIO);
}

/* Phase 1 and 3: GET the next batch of r->gets. */
static void send_gets(struct snmp_read *r)
{
	unsigned n = 0;

	r->req.type = SNMP_PDU_GET;
	for (unsigned i = 0; i < r->batch && r->next_get + i < r->ngets; i++)
		if (!r->skip[i])
			r->req.oids[n++] = &r->gets[r->next_get + i];
	r->req.n = n;
	if (!n) {
		r->next_get += r->batch;
		memset(r->skip, 0, sizeof(r->skip));
		read_next(r);
		return;
	}
	submit(r);
}

static void got_gets(struct snmp_read *r, const struct snmp_msg *m)
{
	if (m->error_status == SNMP_ERR_TOO_BIG && r->batch > 1) {
		r->batch /= 2;
		memset(r->skip, 0, sizeof(r->skip));
		send_gets(r);
		return;
	}
	if (m->error_status == SNMP_ERR_NO_SUCH_NAME && m->error_index >= 1 && (uint32_t)m->error_index <= r->req.n) {
		/* SNMPv1: that one object is absent; ask again for the others */
		const struct snmp_oid *gone = r->req.oids[m->error_index - 1];
		for (unsigned i = 0; i < r->batch; i++)
			if (&r->gets[r->next_get + i] == gone)
				r->skip[i] = true;
		send_gets(r);
		return;
	}
	if (m->error_status != SNMP_ERR_NONE) {
		if (r->batch > 1) {
			/* some agents fail a whole PDU for one bad object: one at a time */
			r->batch = 1;
			memset(r->skip, 0, sizeof(r->skip));
			send_gets(r);
			return;
		}
	} else {
		for (uint32_t i = 0; i < m->nvbs && i < r->req.n; i++) {
			const struct snmp_vb *v = &m->vbs[i];
			const struct snmp_oid *want = r->req.oids[i];
			if (snmp_oid_cmp(v->oid, v->oid_len, want->arc, want->n) == 0)
				snmp_walk_add(&r->walk, v);
		}
		r->stats.varbinds += m->nvbs;
	}
	r->next_get += r->batch;
	memset(r->skip, 0, sizeof(r->skip));
	read_next(r);
}

/* Phase 2: walk the active columns, several per request. */
static void send_walk(struct snmp_read *r)
{
	r->nin_req = 0;
	r->req.n = 0;
	for (unsigned i = 0; i < r->ncols && r->nin_req < WALK_BATCH; i++)
		if (!r->cols[i].done) {
			r->in_req[r->nin_req++] = i;
			r->req.oids[r->req.n++] = &r->cols[i].cur;
		}
	if (!r->nin_req) {
		read_next(r);
		return;
	}
	if (r->req.version == SNMP_V1) {
		r->req.type = SNMP_PDU_GETNEXT;
	} else {
		r->req.type = SNMP_PDU_GETBULK;
		r->req.non_repeaters = 0;
		r->req.max_repetitions = r->max_rep;
	}
	submit(r);
}

static void got_walk(struct snmp_read *r, const struct snmp_msg *m)
{
	unsigned k = r->nin_req;

	if (m->error_status == SNMP_ERR_TOO_BIG) {
		if (r->max_rep > 1) {
			r->max_rep /= 2;
		} else {
			for (unsigned j = 0; j < k; j++)
				r->cols[r->in_req[j]].done = true;
		}
		send_walk(r);
		return;
	}
	if (m->error_status == SNMP_ERR_NO_SUCH_NAME && m->error_index >= 1 && (uint32_t)m->error_index <= k) {
		r->cols[r->in_req[m->error_index - 1]].done = true; /* v1: end of the MIB */
		send_walk(r);
		return;
	}
	if (m->error_status != SNMP_ERR_NONE || m->nvbs == 0) {
		for (unsigned j = 0; j < k; j++)
			r->cols[r->in_req[j]].done = true;
		send_walk(r);
		return;
	}
	/* row-major: varbind i belongs to column i % k */
	bool progress[WALK_BATCH] = {false}, seen[WALK_BATCH] = {false};
	for (uint32_t i = 0; i < m->nvbs; i++) {
		struct column *c = &r->cols[r->in_req[i % k]];
		const struct snmp_vb *v = &m->vbs[i];
		seen[i % k] = true;
		if (c->done)
			continue;
		if (v->type == SNMP_END_OF_MIB_VIEW || !snmp_oid_has_prefix(v->oid, v->oid_len, &c->prefix) ||
		    snmp_oid_cmp(v->oid, v->oid_len, c->cur.arc, c->cur.n) <= 0) {
			c->done = true; /* left the column, or an agent going round in circles */
			continue;
		}
		snmp_walk_add(&r->walk, v);
		c->cur.n = v->oid_len;
		memcpy(c->cur.arc, v->oid, v->oid_len * sizeof(uint32_t));
		progress[i % k] = true;
		if (++c->rows >= MAX_ROWS_PER_COLUMN)
			c->done = true;
	}
	r->stats.varbinds += m->nvbs;
	/* a response without a step forward ends a column; one that a
	 * shortened GETBULK answer (RFC 3416 4.2.3) did not reach goes on, and
	 * the first column is always reached, so the walk still ends */
	for (unsigned j = 0; j < k; j++)
		if (seen[j] && !progress[j])
			r->cols[r->in_req[j]].done = true;
	if (over_limits(r))
		for (unsigned j = 0; j < r->ncols; j++)
			r->cols[j].done = true;
	if (r->max_rep < 32)
		r->max_rep *= 2; /* columns that go on are long ones */
	send_walk(r);
}

/* Phase 3: the other cells of the rows the walk found. */
static void plan_cells(struct snmp_read *r)
{
	struct snmp_oid prefix;
	size_t i, end;
	char oid[256];

	r->ngets = r->next_get = 0;
	snmp_walk_finish(&r->walk); /* sorted, for the lookups below */
	/* interfaces: type and state of each row with an address */
	snmp_oid_parse(IF_PHYS, &prefix);
	snmp_walk_range(&r->walk, &prefix, &i, &end);
	for (; i < end; i++)
		if (r->walk.v[i].oid_len == prefix.n + 1 && r->walk.v[i].len == 6) {
			uint32_t row = r->walk.v[i].oid[prefix.n];
			snprintf(oid, sizeof(oid), IF_TYPE ".%u", row);
			add_get(r, oid);
			snprintf(oid, sizeof(oid), IF_OPER ".%u", row);
			add_get(r, oid);
		}
	/* the printer's device row */
	struct snmp_oid printer;
	snmp_oid_parse(HR_DEV_TYPE, &prefix);
	snmp_oid_parse(HR_TYPE_PRINTER, &printer);
	snmp_walk_range(&r->walk, &prefix, &i, &end);
	for (; i < end; i++) {
		const struct snmp_val *v = &r->walk.v[i];
		if (v->oid_len == prefix.n + 1 && v->type == SNMP_OBJECT_ID &&
		    snmp_oid_cmp(v->val_oid, v->val_oid_len, printer.arc, printer.n) == 0) {
			if (r->kind == SNMP_READ_FULL) {
				snprintf(oid, sizeof(oid), HR_DEV_DESCR ".%u", v->oid[prefix.n]);
				add_get(r, oid);
			}
			snprintf(oid, sizeof(oid), HR_DEV_STATUS ".%u", v->oid[prefix.n]);
			add_get(r, oid);
			break;
		}
	}
	/* supplies: the columns besides the level that enumerated them */
	snmp_oid_parse(PRT_SUPPLIES ".9", &prefix);
	snmp_walk_range(&r->walk, &prefix, &i, &end);
	if (i == end) {
		snmp_oid_parse(PRT_SUPPLIES ".6", &prefix);
		snmp_walk_range(&r->walk, &prefix, &i, &end);
	}
	for (; i < end; i++) {
		const struct snmp_val *v = &r->walk.v[i];
		if (v->oid_len != prefix.n + 2)
			continue;
		static const unsigned cols[] = {3, 5, 6, 7, 8, 9};
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
			snprintf(oid, sizeof(oid), PRT_SUPPLIES ".%u.%u.%u", cols[c], v->oid[prefix.n],
				 v->oid[prefix.n + 1]);
			if (!snmp_walk_get_str(&r->walk, oid))
				add_get(r, oid);
		}
	}
	/* alerts: severity, group and text of each code */
	snmp_oid_parse(PRT_ALERT ".7", &prefix);
	snmp_walk_range(&r->walk, &prefix, &i, &end);
	for (unsigned n = 0; i < end && n < 64; i++, n++) {
		const struct snmp_val *v = &r->walk.v[i];
		if (v->oid_len != prefix.n + 2)
			continue;
		static const unsigned cols[] = {2, 4, 8};
		for (size_t c = 0; c < 3; c++) {
			snprintf(oid, sizeof(oid), PRT_ALERT ".%u.%u.%u", cols[c], v->oid[prefix.n],
				 v->oid[prefix.n + 1]);
			add_get(r, oid);
		}
	}
	r->batch = GET_BATCH;
}

/* Moves the read on: the next request of this phase, or the next phase. */
static void read_next(struct snmp_read *r)
{
	if (r->phase == 1 || r->phase == 3) {
		if (r->next_get < r->ngets && !over_limits(r)) {
			send_gets(r);
			return;
		}
		if (r->phase == 3) {
			finish(r, 0);
			return;
		}
		if (!r->identified) {
			/* now that sysObjectID, sysDescr and the identity OIDs are in,
			 * ask what this vendor keeps privately */
			r->identified = true;
			snmp_walk_finish(&r->walk);
			const struct snmp_vendor *v = snmp_vendor_identify(&r->walk);
			unsigned before = r->ngets;
			if (v && v != r->vendor) {
				r->vendor = v;
				snmp_vendor_oids(v, add_get_cb, r);
			}
			if (r->ngets > before) {
				r->next_get = before;
				r->batch = GET_BATCH;
				send_gets(r);
				return;
			}
		}
		r->phase = 2;
		r->max_rep = 2; /* doubled for columns that go on: short tables cost no overshoot */
		send_walk(r);
		return;
	}
	for (unsigned i = 0; i < r->ncols; i++)
		if (!r->cols[i].done) {
			send_walk(r);
			return;
		}
	r->phase = 3;
	plan_cells(r);
	read_next(r);
}

static void on_read(struct snmp_req *q, int status, const struct snmp_msg *m)
{
	struct snmp_read *r = q->data;

	r->stats.bytes += q->bytes_out + q->bytes_in;
	if (status < 0) {
		finish(r, status);
		return;
	}
	if (r->phase == 2)
		got_walk(r, m);
	else
		got_gets(r, m);
}

int snmp_read_start(struct snmp_io *io, snmp_addr128 addr, uint16_t port, enum snmp_version version,
		    const char *community, uint32_t timeout_ms, unsigned retries, const struct snmp_vendor *vendor,
		    enum snmp_read_kind kind, snmp_read_cb cb, void *arg, struct snmp_read **ret_read)
{
	struct snmp_read *r = calloc(1, sizeof(*r));
	static const char *const full_scalars[] = {SYS_DESCR,  SYS_OBJECT_ID, SYS_NAME,  SYS_LOCATION,
						   PRT_SERIAL, PRT_NAME,      ENT_ASSET, NULL};
	static const char *const status_scalars[] = {HR_PRINTER_STATUS, HR_PRINTER_ERRORS, PRT_CHARSET, PRT_LIFE_COUNT,
						     PRT_COUNTER_UNIT,  PRT_COLORANTS,     NULL};
	static const char *const full_columns[] = {IF_PHYS, IP_AD_IFINDEX, NULL};
	static const char *const status_columns[] = {HR_DEV_TYPE,      PRT_SUPPLIES ".9", PRT_COLORANT_VALUE,
						     PRT_CONSOLE_TEXT, PRT_ALERT ".7",    NULL};

	if (!r)
		return -ENOMEM;
	if (strlen(community) >= sizeof(r->community)) {
		free(r);
		return -EINVAL;
	}
	strcpy(r->community, community);
	r->io = io;
	r->addr = addr;
	r->kind = kind;
	r->vendor = vendor;
	r->cb = cb;
	r->arg = arg;
	snmp_walk_init(&r->walk);
	r->req = (struct snmp_req){
		.addr = addr,
		.port = port,
		.version = version,
		.community = (const uint8_t *)r->community,
		.community_len = strlen(r->community),
		.retries = retries,
		.timeout_ms = timeout_ms,
		.done = on_read,
		.data = r,
	};
	if (kind == SNMP_READ_FULL)
		for (const char *const *o = full_scalars; *o; o++)
			add_get(r, *o);
	else
		add_get(r, SYS_OBJECT_ID), add_get(r, PRT_SERIAL); /* is it still the same device? */
	for (const char *const *o = status_scalars; *o; o++)
		add_get(r, *o);
	if (vendor)
		snmp_vendor_oids(vendor, add_get_cb, r);
	else
		snmp_vendor_identity_oids(add_get_cb, r);
	r->identified = vendor != NULL;
	if (kind == SNMP_READ_FULL)
		for (const char *const *o = full_columns; *o; o++)
			add_column(r, *o);
	for (const char *const *o = status_columns; *o; o++)
		add_column(r, *o);
	r->batch = GET_BATCH;
	r->phase = 1;
	read_next(r);
	if (r->refused) {
		snmp_walk_free(&r->walk);
		free(r->gets);
		free(r);
		return -EIO;
	}
	r->started = true;
	if (ret_read)
		*ret_read = r;
	return 0;
}

void snmp_read_cancel(struct snmp_read *r)
{
	snmp_io_cancel(r->io, &r->req);
	snmp_walk_free(&r->walk);
	free(r->gets);
	free(r);
}
