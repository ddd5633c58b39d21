/* Shared helpers of the snmp unit tests: a BER writer and a fake agent.
 * The writer is written independently of src/modules/snmp/ber.c (forward,
 * with a length patched in by moving the content), so the two check each
 * other. */
#include "snmp-testlib.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

/* ---- BER writer --------------------------------------------------------- */

void ber_raw(struct ber *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->d));
	if (n)
		memcpy(b->d + b->n, p, n);
	b->n += n;
}

void ber_byte(struct ber *b, uint8_t c)
{
	ber_raw(b, &c, 1);
}

void ber_wrap(struct ber *b, size_t mark, uint8_t tag)
{
	size_t len = b->n - mark, hl = 2;
	uint8_t h[8];

	h[0] = tag;
	if (len < 0x80) {
		h[1] = (uint8_t)len;
	} else {
		size_t k = 0;
		for (size_t x = len; x; x >>= 8)
			k++;
		h[1] = (uint8_t)(0x80 | k);
		for (size_t i = 0; i < k; i++)
			h[2 + i] = (uint8_t)(len >> (8 * (k - 1 - i)));
		hl = 2 + k;
	}
	assert_true(b->n + hl <= sizeof(b->d));
	memmove(b->d + mark + hl, b->d + mark, len);
	memcpy(b->d + mark, h, hl);
	b->n += hl;
}

void ber_tlv(struct ber *b, uint8_t tag, const void *content, size_t n)
{
	size_t mark = b->n;

	ber_raw(b, content, n);
	ber_wrap(b, mark, tag);
}

void ber_int(struct ber *b, uint8_t tag, int64_t v)
{
	uint8_t tmp[8];
	int start = 0;

	for (int i = 7; i >= 0; i--)
		tmp[i] = (uint8_t)((uint64_t)v >> (8 * (7 - i)));
	/* drop leading bytes that only repeat the sign */
	while (start < 7 &&
	       ((tmp[start] == 0x00 && !(tmp[start + 1] & 0x80)) || (tmp[start] == 0xFF && (tmp[start + 1] & 0x80))))
		start++;
	ber_tlv(b, tag, tmp + start, (size_t)(8 - start));
}

void ber_uint(struct ber *b, uint8_t tag, uint64_t v)
{
	uint8_t tmp[9];
	int start = 1;

	tmp[0] = 0;
	for (int i = 1; i <= 8; i++)
		tmp[i] = (uint8_t)(v >> (8 * (8 - i)));
	while (start < 8 && tmp[start] == 0)
		start++;
	if (tmp[start] & 0x80)
		start--;
	ber_tlv(b, tag, tmp + start, (size_t)(9 - start));
}

static void subid(struct ber *b, uint64_t v)
{
	uint8_t tmp[10];
	int k = 0;

	do {
		tmp[k++] = (uint8_t)(v & 0x7F);
		v >>= 7;
	} while (v);
	while (k--)
		ber_byte(b, (uint8_t)(tmp[k] | (k ? 0x80 : 0)));
}

void ber_oid(struct ber *b, uint8_t tag, const uint32_t *arcs, uint32_t n)
{
	size_t mark = b->n;

	assert_true(n >= 2);
	subid(b, (uint64_t)arcs[0] * 40 + arcs[1]);
	for (uint32_t i = 2; i < n; i++)
		subid(b, arcs[i]);
	ber_wrap(b, mark, tag);
}

void ber_value(struct ber *b, const struct tval *v)
{
	switch (v->type) {
	case SNMP_INTEGER:
		ber_int(b, v->type, v->i);
		break;
	case SNMP_OCTETS:
	case SNMP_OPAQUE:
	case SNMP_IPADDRESS:
		ber_tlv(b, v->type, v->data, v->len);
		break;
	case SNMP_COUNTER32:
	case SNMP_GAUGE32:
	case SNMP_TIMETICKS:
	case SNMP_COUNTER64:
		ber_uint(b, v->type, v->u);
		break;
	case SNMP_OBJECT_ID:
		ber_oid(b, SNMP_OBJECT_ID, v->val_oid, v->val_oid_len);
		break;
	default: /* NULL and the exceptions */
		ber_tlv(b, v->type, NULL, 0);
		break;
	}
}

void ber_varbind(struct ber *b, const uint32_t *oid, uint32_t n, const struct tval *v)
{
	size_t mark = b->n;

	ber_oid(b, SNMP_OBJECT_ID, oid, n);
	ber_value(b, v);
	ber_wrap(b, mark, 0x30);
}

size_t ber_message(struct ber *b, int64_t version, const void *community, size_t community_len, uint8_t pdu, int64_t id,
		   int64_t a, int64_t c, void (*fn)(struct ber *b, void *arg), void *arg)
{
	b->n = 0;
	ber_int(b, SNMP_INTEGER, version);
	ber_tlv(b, SNMP_OCTETS, community, community_len);
	size_t pdu_mark = b->n;
	ber_int(b, SNMP_INTEGER, id);
	ber_int(b, SNMP_INTEGER, a);
	ber_int(b, SNMP_INTEGER, c);
	size_t list = b->n;
	if (fn)
		fn(b, arg);
	ber_wrap(b, list, 0x30);
	ber_wrap(b, pdu_mark, pdu);
	ber_wrap(b, 0, 0x30);
	return b->n;
}

/* ---- fake agent --------------------------------------------------------- */

struct held {
	uint8_t *d;
	size_t n;
	struct sockaddr_storage to;
	uint64_t due;
};

static struct tval tval_of(const struct snmp_val *v)
{
	return (struct tval){v->type, v->i, v->u, v->data, v->len, v->val_oid, v->val_oid_len};
}

/* Index of the first entry > oid (or >= with inclusive). */
static size_t after(const struct snmp_walk *w, const uint32_t *oid, uint32_t n, bool inclusive)
{
	size_t lo = 0, hi = w->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = snmp_oid_cmp(w->v[mid].oid, w->v[mid].oid_len, oid, n);
		if (c < 0 || (c == 0 && !inclusive))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct answer {
	struct agent *ag;
	const struct snmp_msg *req;
	int32_t err, idx;
};

static void exception(struct ber *b, const uint32_t *oid, uint32_t n, uint8_t type)
{
	struct tval v = {.type = type};
	ber_varbind(b, oid, n, &v);
}

/* One GETNEXT step: the varbind written; false at the end of the MIB. */
static bool next_vb(struct agent *ag, struct ber *b, const uint32_t *oid, uint32_t n, const uint32_t **ret_oid,
		    uint32_t *ret_n)
{
	if (ag->loop_next) {
		struct tval v = {.type = SNMP_INTEGER, .i = 1};
		ber_varbind(b, oid, n, &v);
		*ret_oid = oid;
		*ret_n = n;
		return true;
	}
	size_t i = after(ag->mib, oid, n, false);
	if (i >= ag->mib->n)
		return false;
	struct tval v = tval_of(&ag->mib->v[i]);
	ber_varbind(b, ag->mib->v[i].oid, ag->mib->v[i].oid_len, &v);
	*ret_oid = ag->mib->v[i].oid;
	*ret_n = ag->mib->v[i].oid_len;
	return true;
}

static void echo_list(struct ber *b, const struct snmp_msg *req)
{
	for (uint32_t i = 0; i < req->nvbs; i++)
		exception(b, req->vbs[i].oid, req->vbs[i].oid_len, SNMP_NULL);
}

static void answer_list(struct ber *b, void *arg)
{
	struct answer *a = arg;
	struct agent *ag = a->ag;
	const struct snmp_msg *req = a->req;
	bool v1 = req->version == SNMP_V1;
	size_t mark = b->n;

	switch (req->pdu_type) {
	case SNMP_PDU_GET:
		for (uint32_t i = 0; i < req->nvbs; i++) {
			const struct snmp_val *v = snmp_walk_get(ag->mib, req->vbs[i].oid, req->vbs[i].oid_len);
			if (v) {
				struct tval t = tval_of(v);
				ber_varbind(b, req->vbs[i].oid, req->vbs[i].oid_len, &t);
			} else if (v1) {
				a->err = SNMP_ERR_NO_SUCH_NAME;
				a->idx = (int32_t)i + 1;
				break;
			} else {
				exception(b, req->vbs[i].oid, req->vbs[i].oid_len, SNMP_NO_SUCH_OBJECT);
			}
		}
		break;
	case SNMP_PDU_GETNEXT:
		for (uint32_t i = 0; i < req->nvbs; i++) {
			const uint32_t *o;
			uint32_t on;
			if (next_vb(ag, b, req->vbs[i].oid, req->vbs[i].oid_len, &o, &on))
				continue;
			if (v1) {
				a->err = SNMP_ERR_NO_SUCH_NAME;
				a->idx = (int32_t)i + 1;
				break;
			}
			exception(b, req->vbs[i].oid, req->vbs[i].oid_len, SNMP_END_OF_MIB_VIEW);
		}
		break;
	case SNMP_PDU_GETBULK: {
		uint32_t nr = req->error_status < 0 ? 0 : (uint32_t)req->error_status;
		int32_t m = req->error_index;
		size_t max = ag->max_vbs ? ag->max_vbs : 64, count = 0;
		if (nr > req->nvbs)
			nr = req->nvbs;
		if (ag->toobig_over && m > ag->toobig_over) {
			a->err = SNMP_ERR_TOO_BIG;
			break;
		}
		for (uint32_t i = 0; i < nr; i++, count++) {
			const uint32_t *o;
			uint32_t on;
			if (!next_vb(ag, b, req->vbs[i].oid, req->vbs[i].oid_len, &o, &on))
				exception(b, req->vbs[i].oid, req->vbs[i].oid_len, SNMP_END_OF_MIB_VIEW);
		}
		uint32_t k = req->nvbs - nr;
		const uint32_t *cur[256];
		uint32_t curn[256];
		assert_true(k <= 256);
		for (uint32_t j = 0; j < k; j++) {
			cur[j] = req->vbs[nr + j].oid;
			curn[j] = req->vbs[nr + j].oid_len;
		}
		for (int32_t r = 0; r < m && k; r++) {
			bool all_end = true;
			for (uint32_t j = 0; j < k && count < max; j++, count++) {
				const uint32_t *o;
				uint32_t on;
				if (next_vb(ag, b, cur[j], curn[j], &o, &on)) {
					cur[j] = o;
					curn[j] = on;
					all_end = false;
				} else {
					exception(b, cur[j], curn[j], SNMP_END_OF_MIB_VIEW);
				}
			}
			if (all_end || count >= max)
				break;
		}
		break;
	}
	default:
		a->err = SNMP_ERR_GEN;
		break;
	}
	if (a->err) {
		/* errors carry the request's varbinds */
		b->n = mark;
		echo_list(b, req);
	}
}

void agent_answer(struct agent *ag, const struct snmp_msg *req, struct ber *b)
{
	struct answer a = {ag, req, 0, 0};
	struct ber tmp;

	/* the list decides error-status and index, so write it first */
	tmp.n = 0;
	answer_list(&tmp, &a);
	struct ber *list = malloc(sizeof(*list));
	assert_non_null(list);
	memcpy(list->d, tmp.d, tmp.n);
	list->n = tmp.n;
	b->n = 0;
	ber_int(b, SNMP_INTEGER, req->version);
	ber_tlv(b, SNMP_OCTETS, req->community, req->community_len);
	size_t pdu = b->n;
	ber_int(b, SNMP_INTEGER, req->request_id);
	ber_int(b, SNMP_INTEGER, a.err);
	ber_int(b, SNMP_INTEGER, a.idx);
	ber_tlv(b, 0x30, list->d, list->n);
	ber_wrap(b, pdu, SNMP_PDU_RESPONSE);
	ber_wrap(b, 0, 0x30);
	free(list);
}

void agent_echo(const struct snmp_msg *req, int32_t version, int32_t id, int32_t err, int32_t idx, struct ber *b)
{
	b->n = 0;
	ber_int(b, SNMP_INTEGER, version);
	ber_tlv(b, SNMP_OCTETS, req->community, req->community_len);
	size_t pdu = b->n;
	ber_int(b, SNMP_INTEGER, id);
	ber_int(b, SNMP_INTEGER, err);
	ber_int(b, SNMP_INTEGER, idx);
	size_t list = b->n;
	echo_list(b, req);
	ber_wrap(b, list, 0x30);
	ber_wrap(b, pdu, SNMP_PDU_RESPONSE);
	ber_wrap(b, 0, 0x30);
}

void agent_send(struct agent *ag, const struct ber *b, const struct sockaddr *to)
{
	uv_buf_t buf = uv_buf_init((char *)b->d, (unsigned)b->n);
	int r = uv_udp_try_send(&ag->udp, &buf, 1, to);

	if (r < 0)
		fail_msg("agent send: %s", uv_strerror(r));
}

void agent_serve(struct agent *ag, const struct snmp_msg *req, const struct sockaddr *from)
{
	static struct ber b;

	if (ag->v1_only && req->version != SNMP_V1)
		return;
	agent_answer(ag, req, &b);
	agent_send(ag, &b, from);
}

static void arm_held(struct agent *ag);

static void on_held(uv_timer_t *t)
{
	struct agent *ag = t->data;
	uint64_t now = uv_now(ag->loop);

	for (size_t i = 0; i < ag->nheld;) {
		struct held *h = &ag->held[i];
		if (h->due > now) {
			i++;
			continue;
		}
		uv_buf_t buf = uv_buf_init((char *)h->d, (unsigned)h->n);
		uv_udp_try_send(&ag->udp, &buf, 1, (const struct sockaddr *)&h->to);
		free(h->d);
		ag->held[i] = ag->held[--ag->nheld];
		ag->outstanding--;
	}
	arm_held(ag);
}

static void arm_held(struct agent *ag)
{
	uint64_t now = uv_now(ag->loop), at = UINT64_MAX;

	for (size_t i = 0; i < ag->nheld; i++)
		if (ag->held[i].due < at)
			at = ag->held[i].due;
	if (at == UINT64_MAX)
		uv_timer_stop(&ag->timer);
	else
		uv_timer_start(&ag->timer, on_held, at > now ? at - now : 0, 0);
}

void agent_send_later(struct agent *ag, const struct ber *b, const struct sockaddr *to, uint64_t delay_ms)
{
	struct held *h = realloc(ag->held, (ag->nheld + 1) * sizeof(*h));

	assert_non_null(h);
	ag->held = h;
	h = &ag->held[ag->nheld++];
	h->d = malloc(b->n);
	assert_non_null(h->d);
	memcpy(h->d, b->d, b->n);
	h->n = b->n;
	memset(&h->to, 0, sizeof(h->to));
	memcpy(&h->to, to, to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	h->due = uv_now(ag->loop) + delay_ms;
	if (++ag->outstanding > ag->max_outstanding)
		ag->max_outstanding = ag->outstanding;
	arm_held(ag);
}

static uint8_t rxbuf[65536];

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init((char *)rxbuf, sizeof(rxbuf));
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
	struct agent *ag = h->data;
	static struct snmp_vb vbs[256];
	static uint32_t arcs[256 * SNMP_MAX_OID];
	struct snmp_msg msg;
	(void)flags;

	if (nread <= 0 || !from)
		return;
	if (snmp_decode((const uint8_t *)buf->base, (size_t)nread, &msg, vbs, 256, arcs, 256 * SNMP_MAX_OID) < 0) {
		ag->malformed++;
		return;
	}
	if (ag->nlog == ag->caplog) {
		ag->caplog = ag->caplog ? ag->caplog * 2 : 64;
		ag->log = realloc(ag->log, ag->caplog * sizeof(*ag->log));
		assert_non_null(ag->log);
	}
	ag->log[ag->nlog++] = (struct agent_log){uv_now(ag->loop), msg.version,     msg.request_id, msg.pdu_type,
						 msg.error_status, msg.error_index, msg.nvbs};
	ag->policy(ag, &msg, from);
}

void agent_start(struct agent *ag, uv_loop_t *loop, struct snmp_walk *mib)
{
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(ag, 0, sizeof(*ag));
	ag->loop = loop;
	ag->mib = mib;
	ag->policy = agent_serve;
	assert_int_equal(uv_udp_init(loop, &ag->udp), 0);
	ag->udp.data = ag;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
	assert_int_equal(uv_udp_bind(&ag->udp, (const struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_udp_getsockname(&ag->udp, (struct sockaddr *)&ss, &len), 0);
	ag->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(uv_udp_recv_start(&ag->udp, on_alloc, on_recv), 0);
	uv_timer_init(loop, &ag->timer);
	ag->timer.data = ag;
}

void agent_stop(struct agent *ag)
{
	for (size_t i = 0; i < ag->nheld; i++)
		free(ag->held[i].d);
	free(ag->held);
	ag->held = NULL;
	ag->nheld = 0;
	free(ag->log);
	ag->log = NULL;
	ag->nlog = ag->caplog = 0;
	uv_close((uv_handle_t *)&ag->udp, NULL);
	uv_close((uv_handle_t *)&ag->timer, NULL);
}

/* ---- misc --------------------------------------------------------------- */

char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
		fclose(f);
		return NULL;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

void walk_from_snmprec(struct snmp_walk *w, const char *text)
{
	size_t bad = 99;

	snmp_walk_init(w);
	assert_int_equal(snmp_walk_load_snmprec(w, text, strlen(text), &bad), 0);
	if (bad)
		fail_msg("%zu snmprec lines did not parse in:\n%s", bad, text);
}

const char *testdata_dir(void)
{
	static char path[4096];
	const char *env = getenv("SCOUT_TESTDATA");
	struct stat st;

	if (!env || !*env) {
		printf("SCOUT_TESTDATA is not set: the shared printer recordings are not available\n");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/snmprec", env);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		printf("%s does not exist: the shared printer recordings are not available\n", path);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s", env);
	return path;
}
