/* The vault's job table: every job the vault knows (arriving, held, and
 * tombstones) by id in a hash and in submission order on a list, the
 * per-user counters the quotas read, each job's retention deadline, and
 * the job's metadata in its packed (sealed on disk) and bus forms. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop/log.h"
#include "loop/pack.h"
#include "state.h"

static const char *const state_names[] = {"receiving", "held", "processing", "completed", "canceled", "aborted"};

const char *vault_state_name(enum job_state s)
{
	return state_names[s];
}

int vault_state_parse(const char *s, size_t len, enum job_state *ret)
{
	for (int i = 0; i < 6; i++)
		if (strlen(state_names[i]) == len && memcmp(state_names[i], s, len) == 0) {
			*ret = (enum job_state)i;
			return 0;
		}
	return -EINVAL;
}

int vault_jobs_init(struct vault *v)
{
	v->hash_size = 1024;
	v->hash = calloc(v->hash_size, sizeof(*v->hash));
	if (!v->hash)
		return -ENOMEM;
	scout_list_init(&v->jobs);
	scout_list_init(&v->users);
	return 0;
}

static size_t slot(const struct vault *v, uint32_t id)
{
	return (id * 2654435761u) & (v->hash_size - 1);
}

struct job *vault_job_find(struct vault *v, uint32_t id)
{
	struct job *j;

	for (j = v->hash[slot(v, id)]; j; j = j->hnext)
		if (j->id == id)
			return j;
	return NULL;
}

static void grow(struct vault *v)
{
	size_t n = v->hash_size * 2;
	struct job **h = calloc(n, sizeof(*h));
	struct job *j;

	if (!h)
		return; /* longer chains, still correct */
	struct job **old = v->hash;
	size_t oldn = v->hash_size;
	v->hash = h;
	v->hash_size = n;
	for (size_t i = 0; i < oldn; i++)
		while ((j = old[i])) {
			old[i] = j->hnext;
			j->hnext = h[slot(v, j->id)];
			h[slot(v, j->id)] = j;
		}
	free(old);
}

int vault_job_new(struct vault *v, uint32_t id, struct job **ret_job)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->v = v;
	j->id = id;
	j->fd = -1;
	scout_list_init(&j->writes);
	scout_list_init(&j->batch);
	scout_deadline_init(&j->dl, vault_expire);
	msgpack_sbuffer_init(&j->metabuf);
	if (v->njobs >= v->hash_size * 2)
		grow(v);
	j->hnext = v->hash[slot(v, id)];
	v->hash[slot(v, id)] = j;
	scout_list_insert_tail(&v->jobs, &j->link);
	v->njobs++;
	*ret_job = j;
	return 0;
}

void vault_meta_clear(struct job_meta *m)
{
	free(m->owner);
	free(m->name);
	free(m->format);
	free(m->origin);
	free(m->sides);
	free(m->color);
	free(m->media);
	free(m->reason);
	free(m->reason_text);
	memset(m, 0, sizeof(*m));
}

void vault_job_free(struct vault *v, struct job *j)
{
	struct job **p = &v->hash[slot(v, j->id)];
	struct wreq *w, *tmp;

	while (*p && *p != j)
		p = &(*p)->hnext;
	if (*p)
		*p = j->hnext;
	scout_list_remove(&j->link);
	v->njobs--;
	if (j->claim_corr && !v->stopping) /* a job.claim that waited for the analysis */
		vault_reply_error(v, j->claim_corr, -ENOENT, "job %u is gone", j->id);
	if (v->timers_ready)
		scout_timers_disarm(&v->timers, &j->dl);
	scout_list_foreach_safe (w, tmp, &j->writes, link) {
		scout_list_remove(&w->link);
		free(w);
	}
	if (j->fd >= 0)
		close(j->fd);
	vault_meta_clear(&j->meta);
	if (j->buf) {
		vault_wipe(j->buf, VAULT_CHUNK);
		free(j->buf);
	}
	vault_key_free(j->dk);
	vault_key_free(j->mk);
	msgpack_sbuffer_destroy(&j->metabuf);
	free(j);
}

void vault_jobs_free(struct vault *v)
{
	struct job *j, *tmp;
	struct user *u, *utmp;

	if (v->hash) {
		scout_list_foreach_safe (j, tmp, &v->jobs, link)
			vault_job_free(v, j);
	}
	free(v->hash);
	v->hash = NULL;
	if (v->users.next)
		scout_list_foreach_safe (u, utmp, &v->users, link)
			free(u);
}

/* A random id in 1..2^31-1 that no job (or tombstone) has: ids say
 * nothing about order or volume. */
int vault_new_id(struct vault *v, uint32_t *ret_id)
{
	for (int tries = 0; tries < 64; tries++) {
		uint32_t id;
		if (vault_random(&id, sizeof(id)) < 0)
			return -EIO;
		id &= 0x7fffffff;
		if (id && !vault_job_find(v, id)) {
			*ret_id = id;
			return 0;
		}
	}
	return -EAGAIN;
}

struct user *vault_user(struct vault *v, const char *name, bool create)
{
	struct user *u;

	if (!name)
		return NULL;
	scout_list_foreach (u, &v->users, link)
		if (strcmp(u->name, name) == 0)
			return u;
	if (!create)
		return NULL;
	size_t n = strlen(name);
	u = calloc(1, sizeof(*u) + n + 1);
	if (!u)
		return NULL;
	memcpy(u->name, name, n + 1);
	scout_list_insert_tail(&v->users, &u->link);
	return u;
}

/* Adds (sign 1) or removes (-1) a live job from its owner's counters and
 * the totals. Tombstones count for nothing. */
void vault_account(struct vault *v, struct job *j, int sign)
{
	struct user *u = j->meta_known ? vault_user(v, j->meta.owner, sign > 0) : NULL;

	if (u) {
		u->jobs += (uint64_t)(int64_t)sign;
		u->bytes += (uint64_t)(sign * (int64_t)j->meta.size);
	}
	if (j->committed) {
		v->held_jobs += (uint64_t)(int64_t)sign;
		v->held_bytes += (uint64_t)(sign * (int64_t)j->stored);
	}
}

static void pack_kv(msgpack_packer *pk, const char *k, const char *val)
{
	scout_pack_str(pk, k);
	scout_pack_str(pk, val ? val : "");
}

static void pack_ku(msgpack_packer *pk, const char *k, uint64_t val)
{
	scout_pack_str(pk, k);
	msgpack_pack_uint64(pk, val);
}

/* The metadata map: for_bus gives the contract's map (job.held,
 * job.list); otherwise the sealed form, which also keeps the client's
 * attributes. */
void vault_meta_pack(const struct job *j, msgpack_packer *pk, bool for_bus)
{
	const struct job_meta *m = &j->meta;
	const struct job_analysis *a = &m->an;

	msgpack_pack_map(pk, for_bus ? 19 : 23);
	pack_ku(pk, "id", j->id);
	pack_kv(pk, "owner", m->owner);
	pack_kv(pk, "name", m->name);
	pack_kv(pk, "format", a->format[0] ? a->format : m->format);
	scout_pack_str(pk, "pages");
	msgpack_pack_int64(pk, a->pages);
	pack_kv(pk, "pages_source", a->pages_source);
	pack_ku(pk, "copies", a->copies);
	pack_kv(pk, "copies_source", a->copies_source);
	pack_kv(pk, "sides", a->sides);
	pack_kv(pk, "sides_source", a->sides_source);
	pack_kv(pk, "color", a->color);
	pack_kv(pk, "color_source", a->color_source);
	pack_ku(pk, "size", m->size);
	pack_ku(pk, "submitted", m->submitted);
	pack_ku(pk, "expires", j->expires);
	pack_kv(pk, "state", vault_state_name(m->state));
	pack_kv(pk, "reason", m->reason);
	pack_kv(pk, "reason_text", m->reason_text);
	pack_kv(pk, "origin", m->origin);
	if (for_bus)
		return;
	pack_kv(pk, "client_format", m->format);
	pack_kv(pk, "client_sides", m->sides);
	pack_kv(pk, "client_color", m->color);
	scout_pack_str(pk, "client");
	msgpack_pack_map(pk, 3);
	pack_kv(pk, "media", m->media);
	pack_ku(pk, "copies", m->copies);
	scout_pack_str(pk, "analysed");
	m->analysed ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
}

static int get_strdup(const msgpack_object *map, const char *key, char **ret)
{
	int r = scout_pack_get_strdup(map, key, 4096, ret);

	return r == -ENOMEM ? r : r < 0 ? -EBADMSG : 0;
}

/* The sealed form back (after vault_meta_open). */
int vault_meta_unpack(const void *data, size_t len, struct job_meta *ret)
{
	struct job_meta m = {0};
	msgpack_unpacked u;
	const msgpack_object *o, *client;
	uint64_t x;
	const char *s;
	size_t n;
	int r = -EBADMSG;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS)
		goto out;
	o = &u.data;
	client = scout_pack_get(o, "client");
	if (get_strdup(o, "owner", &m.owner) < 0 || get_strdup(o, "name", &m.name) < 0 ||
	    get_strdup(o, "origin", &m.origin) < 0 || get_strdup(o, "reason", &m.reason) < 0 ||
	    get_strdup(o, "client_format", &m.format) < 0 || get_strdup(o, "client_sides", &m.sides) < 0 ||
	    get_strdup(o, "client_color", &m.color) < 0 || !client || get_strdup(client, "media", &m.media) < 0 ||
	    scout_pack_get_uint(client, "copies", &x) < 0 || scout_pack_get_bool(client, "analysed", &m.analysed) < 0)
		goto out;
	m.copies = (unsigned)x;
	/* records written before delivery existed have no reason_text */
	if (scout_pack_get(o, "reason_text") && get_strdup(o, "reason_text", &m.reason_text) < 0)
		goto out;
	if (scout_pack_get_uint(o, "size", &m.size) < 0 || scout_pack_get_uint(o, "submitted", &m.submitted) < 0 ||
	    scout_pack_get_str(o, "state", &s, &n) < 0 || vault_state_parse(s, n, &m.state) < 0)
		goto out;
	const msgpack_object *p = scout_pack_get(o, "pages");
	if (!p || (p->type != MSGPACK_OBJECT_NEGATIVE_INTEGER && p->type != MSGPACK_OBJECT_POSITIVE_INTEGER))
		goto out;
	m.an.pages = p->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? p->via.i64 : (int64_t)p->via.u64;
	if (scout_pack_get_uint(o, "copies", &x) < 0)
		goto out;
	m.an.copies = (unsigned)x;
	if (scout_pack_get_strbuf(o, "format", m.an.format, sizeof(m.an.format)) < 0 ||
	    scout_pack_get_strbuf(o, "pages_source", m.an.pages_source, sizeof(m.an.pages_source)) < 0 ||
	    scout_pack_get_strbuf(o, "copies_source", m.an.copies_source, sizeof(m.an.copies_source)) < 0 ||
	    scout_pack_get_strbuf(o, "sides", m.an.sides, sizeof(m.an.sides)) < 0 ||
	    scout_pack_get_strbuf(o, "sides_source", m.an.sides_source, sizeof(m.an.sides_source)) < 0 ||
	    scout_pack_get_strbuf(o, "color", m.an.color, sizeof(m.an.color)) < 0 ||
	    scout_pack_get_strbuf(o, "color_source", m.an.color_source, sizeof(m.an.color_source)) < 0)
		goto out;
	*ret = m;
	memset(&m, 0, sizeof(m));
	r = 0;
out:
	vault_meta_clear(&m);
	msgpack_unpacked_destroy(&u);
	return r;
}

static void set_str(json_t *o, const char *k, const char *val)
{
	json_object_set_new(o, k, json_string(val ? val : ""));
}

/* For the operators' commands. */
json_t *vault_meta_json(const struct job *j)
{
	const struct job_meta *m = &j->meta;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(j->id));
	json_object_set_new(o, "expires", json_integer((json_int_t)j->expires));
	if (!j->meta_known) {
		set_str(o, "state", "locked");
		return o;
	}
	set_str(o, "owner", m->owner);
	set_str(o, "name", m->name);
	set_str(o, "format", m->an.format[0] ? m->an.format : m->format);
	json_object_set_new(o, "pages", json_integer(m->an.pages));
	set_str(o, "pages_source", m->an.pages_source);
	json_object_set_new(o, "copies", json_integer(m->an.copies));
	set_str(o, "copies_source", m->an.copies_source);
	set_str(o, "sides", m->an.sides);
	set_str(o, "sides_source", m->an.sides_source);
	set_str(o, "color", m->an.color);
	set_str(o, "color_source", m->an.color_source);
	json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "submitted", json_integer((json_int_t)m->submitted));
	set_str(o, "state", vault_state_name(m->state));
	set_str(o, "reason", m->reason);
	set_str(o, "reason_text", m->reason_text);
	set_str(o, "origin", m->origin);
	return o;
}

/* The job's deadline: its expiry (a held job) or the end of its history
 * (a tombstone), both in the clear `expires`. */
void vault_arm(struct vault *v, struct job *j)
{
	uint64_t now = vault_now();
	uint64_t in = j->expires > now ? (j->expires - now) * 1000 : 0;

	if (v->timers_ready && !v->stopping)
		scout_timers_arm_in(&v->timers, &j->dl, in);
}

void vault_meta_buf(struct job *j)
{
	msgpack_packer pk;

	msgpack_sbuffer_clear(&j->metabuf);
	msgpack_packer_init(&pk, &j->metabuf, msgpack_sbuffer_write);
	vault_meta_pack(j, &pk, false);
}

/* A job found "processing" at start: its delivery was cut short (a crash,
 * a kill, a stop the deliverer could not report). Held again, saying so:
 * the printer may have printed some or all of it. */
void vault_interrupted(struct job *j)
{
	char *reason = strdup("aborted-by-system");
	char *text = strdup("the delivery was cut short when scoutd stopped; the printer may have printed part of it");

	if (!reason || !text) {
		free(reason);
		free(text);
		return; /* held, without the words */
	}
	j->meta.state = JOB_HELD;
	free(j->meta.reason);
	free(j->meta.reason_text);
	j->meta.reason = reason;
	j->meta.reason_text = text;
}
