/* DNS SRV answers for domain controller discovery: ldir_srv_parse() reads
 * what res_nquery returned (checking every length, it is fuzzed), the
 * ordering follows RFC 2782 (priority, then weighted random within a
 * priority), and ldir_srv_lookup() is the blocking query itself, which
 * only runs on a pool thread (ldir.c submits it to the module's work
 * group). */
#include "srv.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int srv_cmp(const void *a, const void *b)
{
	const struct ldir_srv *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->target, y->target);
}

int ldir_srv_parse(const uint8_t *msg, size_t len, struct ldir_srv **ret, size_t *ret_n)
{
	ns_msg h;
	struct ldir_srv *v = NULL;
	size_t n = 0;
	int count;

	if (len > 65535 || ns_initparse(msg, (int)len, &h) < 0)
		return -EBADMSG;
	count = ns_msg_count(h, ns_s_an);
	if (count > 0) {
		v = calloc((size_t)count, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	for (int i = 0; i < count; i++) {
		ns_rr rr;
		const uint8_t *rd;
		struct ldir_srv *s = &v[n];

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
			free(v);
			return -EBADMSG;
		}
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in)
			continue; /* a CNAME on the way, say */
		rd = ns_rr_rdata(rr);
		if (ns_rr_rdlen(rr) < 7) {
			free(v);
			return -EBADMSG;
		}
		s->priority = (uint16_t)(rd[0] << 8 | rd[1]);
		s->weight = (uint16_t)(rd[2] << 8 | rd[3]);
		s->port = (uint16_t)(rd[4] << 8 | rd[5]);
		s->ttl = ns_rr_ttl(rr);
		/* The target may be compressed against the whole message, and
		 * must end inside this record's data. */
		int used = dn_expand(ns_msg_base(h), ns_msg_end(h), rd + 6, s->target, sizeof(s->target));
		if (used < 0 || used > ns_rr_rdlen(rr) - 6) {
			free(v);
			return -EBADMSG;
		}
		size_t tl = strlen(s->target);
		if (tl > 0 && s->target[tl - 1] == '.')
			s->target[--tl] = '\0';
		/* "." (dn_expand gives "") means no service; a port 0 cannot be
		 * connected to. */
		if (tl == 0 || s->port == 0)
			continue;
		n++;
	}
	if (n == 0) {
		free(v);
		v = NULL;
	} else
		qsort(v, n, sizeof(*v), srv_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

static uint64_t rand64(scout_rand64_fn rng, void *arg)
{
	uint64_t r = 0;

	if (rng)
		return rng(arg);
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = 0;
	return r;
}

void ldir_srv_shuffle(struct ldir_srv *v, size_t n, scout_rand64_fn rng, void *rng_arg)
{
	size_t i = 0;

	while (i < n) {
		size_t end = i;

		while (end < n && v[end].priority == v[i].priority)
			end++;
		/* RFC 2782: the records not yet ordered, zero weights first
		 * (so they keep a small chance), then the first whose running
		 * sum reaches a random number in [0, sum]. */
		for (size_t k = i; k < end; k++) {
			uint64_t sum = 0, pick, run = 0;
			size_t j, z = k;

			for (j = k; j < end; j++) {
				sum += v[j].weight;
				if (v[j].weight == 0) {
					struct ldir_srv t = v[j];
					memmove(&v[z + 1], &v[z], (j - z) * sizeof(*v));
					v[z++] = t;
				}
			}
			pick = rand64(rng, rng_arg) % (sum + 1);
			for (j = k; j < end - 1; j++) {
				run += v[j].weight;
				if (run >= pick)
					break;
			}
			if (j != k) {
				struct ldir_srv t = v[j];
				memmove(&v[k + 1], &v[k], (j - k) * sizeof(*v));
				v[k] = t;
			}
		}
		i = end;
	}
}

uint32_t ldir_srv_min_ttl(const struct ldir_srv *v, size_t n)
{
	uint32_t ttl = 0;

	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i].ttl < ttl)
			ttl = v[i].ttl;
	return ttl;
}

int ldir_srv_lookup(const char *domain, uint64_t timeout_ms, struct ldir_srv **ret, size_t *ret_n, char *err,
		    size_t errlen)
{
	struct __res_state st;
	char name[NS_MAXDNAME];
	uint8_t *buf;
	int len, r;

	if ((size_t)snprintf(name, sizeof(name), "_ldap._tcp.dc._msdcs.%s", domain) >= sizeof(name)) {
		snprintf(err, errlen, "domain name too long");
		return -EINVAL;
	}
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) < 0) {
		snprintf(err, errlen, "resolver: cannot read its configuration");
		return -EHOSTUNREACH;
	}
	/* One try per server, bounded like every other network step. */
	st.retrans = (int)((timeout_ms + 999) / 1000);
	if (st.retrans < 1)
		st.retrans = 1;
	st.retry = 1;
	buf = malloc(65535);
	if (!buf) {
		res_nclose(&st);
		return -ENOMEM;
	}
	len = res_nquery(&st, name, ns_c_in, ns_t_srv, buf, 65535);
	if (len < 0) {
		int h = st.res_h_errno;
		res_nclose(&st);
		free(buf);
		if (h == HOST_NOT_FOUND || h == NO_DATA) {
			snprintf(err, errlen, "SRV %s: no such records", name);
			return -ENOENT;
		}
		snprintf(err, errlen, "SRV %s: %s", name, h == TRY_AGAIN ? "no answer from DNS" : hstrerror(h));
		return h == TRY_AGAIN ? -ETIMEDOUT : -EHOSTUNREACH;
	}
	res_nclose(&st);
	r = ldir_srv_parse(buf, (size_t)len, ret, ret_n);
	free(buf);
	if (r < 0) {
		snprintf(err, errlen, "SRV %s: malformed answer", name);
		return r;
	}
	if (*ret_n == 0) {
		snprintf(err, errlen, "SRV %s: no usable records", name);
		return -ENOENT;
	}
	return 0;
}
