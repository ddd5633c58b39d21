/* vault: every print job held encrypted on site. This file is the module:
 * its options, start and stop, the state it publishes (vault.state: locked
 * or not, accepting or not and why), the free-space watch and the intake
 * rate. The job table is jobs.c, records record.c, keys keys.c, intake
 * intake.c, the later topics access.c, operators' commands commands.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop/closer.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/secret.h"
#include "state.h"

#define TICK_MS 5000

const struct scout_option vault_options[] = {
	{.key = "key_file",
	 .type = SCOUT_OPT_STRING,
	 .offset = offsetof(struct vault_conf, key_file),
	 .def = "",
	 .help = "the site key (32 bytes, mode 0600) that `scoutctl vault init` writes; empty: STATE_DIR/vault.key; "
		 "%d/NAME: NAME in $CREDENTIALS_DIRECTORY (a systemd credential)"},
	{.key = "hold_for",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct vault_conf, hold_for),
	 .def = "24h",
	 .min = 1000,
	 .max = 366 * 86400000LL,
	 .help = "a held job not released within this time is shredded"},
	{.key = "history",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct vault_conf, history),
	 .def = "1h",
	 .min = 0,
	 .max = 366 * 86400000LL,
	 .help = "how long a canceled or completed job's metadata stays listed (its document is shredded at once)"},
	{.key = "keep_after_release",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct vault_conf, keep_after_release),
	 .def = "0",
	 .min = 0,
	 .max = 366 * 86400000LL,
	 .help = "how long a delivered job's document stays (encrypted) so that its owner can print it again; 0: "
		 "shredded as soon as the printer has it"},
	{.key = "receive_timeout",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct vault_conf, receive_timeout),
	 .def = "10m",
	 .min = 1000,
	 .max = 86400000,
	 .help = "a job still arriving that gets no data for this long is dropped"},
	{.key = "max_jobs_per_user",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct vault_conf, max_jobs_per_user),
	 .def = "100",
	 .min = 0,
	 .max = 1000000,
	 .help = "jobs one user may have held or arriving; 0: no limit"},
	{.key = "max_bytes_per_user",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct vault_conf, max_bytes_per_user),
	 .def = "2G",
	 .help = "document bytes one user may have held or arriving; 0: no limit"},
	{.key = "max_job_size",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct vault_conf, max_job_size),
	 .def = "1G",
	 .min = 1,
	 .max = INT64_MAX,
	 .help = "the largest document one job may hold"},
	{.key = "max_receiving",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct vault_conf, max_receiving),
	 .def = "64",
	 .min = 1,
	 .max = 4096,
	 .help = "jobs arriving at once; more are refused as busy"},
	{.key = "min_free_disk",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct vault_conf, min_free_disk),
	 .def = "64M",
	 .help = "new jobs are refused when less than this (plus the job's announced size) is free in state_dir"},
	{.key = "kdf_cost",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct vault_conf, kdf_cost),
	 .def = "17",
	 .min = 10,
	 .max = 19,
	 .help = "scrypt's cost for a new site password (N = 2^cost, r = 8: 2^cost KiB of memory)"},
	{0},
};

static void vault_configure(void *conf, struct scout_check *c)
{
	struct vault_conf *vc = conf;

	scout_check_credential_path(c, "key_file", vc->key_file);
}

uint64_t vault_now(void)
{
	return (uint64_t)time(NULL);
}

void vault_op_begin(struct vault *v)
{
	v->ops++;
}

void vault_op_end(struct vault *v)
{
	v->ops--;
}

/* Whether new jobs are taken, and why not. */
bool vault_accepting(struct vault *v, const char **ret_reason)
{
	const char *why = NULL;

	if (!v->unlocked)
		why = v->lock_reason;
	else if (v->rotating)
		why = "the site key is being rotated";
	else if (v->disk_full || v->store_full)
		why = v->space_reason;
	if (ret_reason)
		*ret_reason = why ? why : "";
	return !why;
}

void vault_pack_state(struct vault *v, msgpack_packer *pk)
{
	const char *why;
	bool acc = vault_accepting(v, &why);

	msgpack_pack_map(pk, 3);
	scout_pack_str(pk, "locked");
	v->unlocked ? msgpack_pack_false(pk) : msgpack_pack_true(pk);
	scout_pack_str(pk, "accepting");
	acc ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	scout_pack_str(pk, "reason");
	scout_pack_str(pk, why);
}

/* vault.state on every change of what it says. */
void vault_publish_state(struct vault *v)
{
	const char *why;
	bool acc = vault_accepting(v, &why);

	if (v->stopping || (v->published && v->last_locked == !v->unlocked && v->last_accepting == acc &&
			    strcmp(v->last_reason, why) == 0))
		return;
	if (!v->opened)
		; /* "opening" is not news */
	else if (!acc && (!v->published || strcmp(v->last_reason, why) != 0))
		log_warn("vault: not accepting jobs: %s", why);
	else if (acc && v->published && !v->last_accepting)
		log_info("vault: accepting jobs");
	v->published = true;
	v->last_locked = !v->unlocked;
	v->last_accepting = acc;
	snprintf(v->last_reason, sizeof(v->last_reason), "%s", why);

	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	vault_pack_state(v, &pk);
	scout_bus_publish(v->bus, v->t_state, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void vault_reply_error(struct vault *v, uint64_t corr, int status, const char *fmt, ...)
{
	char reason[300];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	va_list ap;

	if (!corr)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	scout_pack_str(&pk, "reason");
	scout_pack_str(&pk, reason);
	scout_bus_reply(v->bus, corr, status, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

void vault_reply_empty(struct vault *v, uint64_t corr)
{
	static const uint8_t empty_map = 0x80;

	if (corr)
		scout_bus_reply(v->bus, corr, 0, &empty_map, 1);
}

/* ---- intake rate: one slot per second of the last minute ---- */

static unsigned rate_slot(struct vault *v, uint64_t now)
{
	unsigned i = (unsigned)(now % 60);

	if (v->rate_sec[i] != now) {
		v->rate_sec[i] = now;
		v->rate_jobs[i] = v->rate_bytes[i] = 0;
	}
	return i;
}

void vault_note_intake(struct vault *v, uint64_t bytes)
{
	unsigned i = rate_slot(v, vault_now());

	v->rate_jobs[i]++;
	v->rate_bytes[i] += bytes;
}

/* jobs per minute and bytes per second over the last minute */
void vault_rate(struct vault *v, uint64_t *ret_jobs, uint64_t *ret_bytes)
{
	uint64_t now = vault_now(), jobs = 0, bytes = 0;

	for (unsigned i = 0; i < 60; i++)
		if (v->rate_sec[i] + 60 > now) {
			jobs += v->rate_jobs[i];
			bytes += v->rate_bytes[i];
		}
	*ret_jobs = jobs;
	*ret_bytes = bytes / 60;
}

/* ---- space ---- */

static void check_store(struct vault *v)
{
	struct scout_store_info info;

	if (scout_store_info(v->store, &info) < 0)
		return;
	/* a job's record is small, but a full store refuses every write:
	 * keep the last 1/32 (at least 1 MiB) for tombstones and shredding */
	uint64_t reserve = info.max_size / 32 > (1u << 20) ? info.max_size / 32 : (1u << 20);
	bool full = info.used + reserve > info.max_size;
	if (full)
		snprintf(v->space_reason, sizeof(v->space_reason), "store full: %" PRIu64 " of %" PRIu64 " MiB used",
			 info.used >> 20, info.max_size >> 20);
	v->store_full = full;
}

void vault_space_error(struct vault *v, int err, bool store)
{
	if (err != -ENOSPC && err != -EDQUOT)
		return;
	if (store) {
		v->store_full = true;
		snprintf(v->space_reason, sizeof(v->space_reason),
			 "store full: scout.mdb is at [agent] store_max_size (or its disk is full)");
	} else {
		v->disk_full = true;
		v->enospc = true;
		snprintf(v->space_reason, sizeof(v->space_reason), "disk full: %s: %s", v->dir, strerror(-err));
	}
	vault_publish_state(v);
}

static void on_statfs(uv_fs_t *req)
{
	struct vault *v = req->data;
	const struct vault_conf *conf = scout_mod_conf(v->m);

	v->fs_busy = false;
	if (!v->stopping && req->result >= 0) {
		const uv_statfs_t *st = req->ptr;
		v->disk_free = st->f_bavail * st->f_bsize;
		/* after a write met ENOSPC, room for one job is not room: wait
		 * for 16 MiB more than the minimum */
		uint64_t need = conf->min_free_disk + (v->enospc ? 16u << 20 : 0);
		bool full = v->disk_free < need;
		if (!full)
			v->enospc = false;
		if (full && !v->enospc)
			snprintf(v->space_reason, sizeof(v->space_reason),
				 "disk full: %" PRIu64 " MiB free in %s (min_free_disk %" PRIu64 " MiB)",
				 v->disk_free >> 20, v->dir, conf->min_free_disk >> 20);
		v->disk_full = full;
		check_store(v);
		vault_publish_state(v);
	}
	uv_fs_req_cleanup(req);
	if (v->stopping)
		scout_closer_release(scout_mod_closer(v->m));
}

static void on_tick(uv_timer_t *t)
{
	vault_check_space(t->data);
}

void vault_check_space(struct vault *v)
{
	if (v->fs_busy || !v->opened || v->stopping)
		return;
	v->fs.data = v;
	if (uv_fs_statfs(scout_mod_loop(v->m), &v->fs, v->dir, on_statfs) == 0)
		v->fs_busy = true;
}

/* ---- lifecycle ---- */

static const struct {
	const char *topic;
	scout_bus_handler fn;
} handlers[] = {
	{"job.create", vault_on_create}, {"job.write", vault_on_write},     {"job.commit", vault_on_commit},
	{"job.abort", vault_on_abort},   {"job.list", vault_on_list},       {"job.cancel", vault_on_cancel},
	{"job.open", vault_on_open},     {"job.read", vault_on_read},       {"job.close", vault_on_close},
	{"job.done", vault_on_done},     {"vault.status", vault_on_status}, {"job.claim", vault_on_claim},
	{"job.hold", vault_on_hold},
};

static int vault_start(struct scout_mod *m)
{
	struct vault *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->m = m;
	v->bus = scout_mod_bus(m);
	v->store = scout_mod_store(m);
	scout_list_init(&v->handles);
	scout_mod_set_priv(m, v);
	snprintf(v->lock_reason, sizeof(v->lock_reason), "vault is opening");
	if ((r = vault_jobs_init(v)) < 0)
		return r;
	if ((r = scout_mod_db(m, &v->db)) < 0) {
		scout_mod_fail(m, "cannot open its store database: %s", strerror(-r));
		return r;
	}
	if ((r = scout_store_async_start(v->store, scout_mod_loop(m))) < 0 && r != -EBUSY)
		return r;
	if ((r = scout_work_group_new(scout_mod_loop(m), "vault", &v->work)) < 0)
		return r;
	if ((r = scout_mod_topic(m, "job.held", &v->t_held)) < 0 ||
	    (r = scout_mod_topic(m, "vault.state", &v->t_state)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		struct scout_topic *t;
		if ((r = scout_mod_topic(m, handlers[i].topic, &t)) < 0)
			return r;
		if ((r = scout_bus_subscribe(v->bus, t, handlers[i].fn, v, 4096, &v->subs[v->nsubs])) < 0)
			return r;
		v->nsubs++;
	}
	scout_timers_init(scout_mod_loop(m), &v->timers);
	v->timers_ready = true;
	uv_timer_init(scout_mod_loop(m), &v->tick);
	v->tick.data = v;
	if ((r = vault_keys_start(v)) < 0)
		return r;
	vault_publish_state(v);
	vault_open(v);
	uv_timer_start(&v->tick, on_tick, TICK_MS, TICK_MS);
	return 0;
}

static int vault_reload(struct scout_mod *m, const void *old_conf)
{
	const struct vault_conf *conf = scout_mod_conf(m), *old = old_conf;

	if (strcmp(conf->key_file, old->key_file) != 0) {
		scout_mod_refuse(m, "key_file changes at the next restart (the running vault keeps its key)");
		return -EINVAL;
	}
	/* hold_for applies to jobs that arrive from now on; history likewise */
	return 0;
}

static void vault_free(void *arg)
{
	struct vault *v = arg;

	vault_handles_free(v);
	vault_jobs_free(v);
	vault_key_free(v->site);
	free(v->dir);
	free(v->key_path);
	free(v);
}

static void work_idle(void *arg)
{
	struct vault *v = arg;

	v->work = NULL;
	scout_closer_release(scout_mod_closer(v->m));
}

static void store_flushed(void *arg)
{
	struct vault *v = arg;

	/* the store's last writers may have queued pool steps: close after */
	if (v->work)
		scout_work_group_close(v->work, 1, work_idle, v);
	else
		scout_closer_release(scout_mod_closer(v->m));
}

static void vault_stop(struct scout_mod *m)
{
	struct vault *v = scout_mod_priv(m);

	if (!v) {
		scout_mod_stopped(m);
		return;
	}
	struct scout_closer *c = scout_mod_closer(m);

	v->stopping = true;
	for (unsigned i = 0; i < v->nsubs; i++)
		scout_bus_unsubscribe(v->subs[i]);
	v->nsubs = 0;
	vault_abort_all(v);
	if (v->timers_ready) {
		scout_timers_close(&v->timers, c);
		scout_closer_close(c, (uv_handle_t *)&v->tick);
	}
	if (v->fs_busy)
		scout_closer_hold(c); /* released by on_statfs */
	if (v->work) {
		scout_closer_hold(c); /* released once the pool and the store are done */
		scout_store_async_flush(v->store, store_flushed, v);
	}
	scout_mod_stopped_when_closed(m, vault_free, v);
}

static const struct scout_topic_decl vault_topics[] = {
	{"job.create", SCOUT_TOPIC_REQUEST,
	 "{owner str, name str, format str, origin str, copies uint, sides str, color str, media str, size_hint "
	 "uint} -> {id uint, expires uint}; -EACCES locked, -EDQUOT quota, -ENOSPC full, -EBUSY too many "
	 "receiving, -EFBIG too big, -EINVAL; errors carry {reason str}"},
	{"job.write", SCOUT_TOPIC_REQUEST,
	 "{id uint, data bin (1..262144)} -> {} once taken; at most 4 in flight per job; -ENOENT, -EFBIG, "
	 "-ENOSPC"},
	{"job.commit", SCOUT_TOPIC_REQUEST,
	 "{id uint} -> {id uint, expires uint} once the document and its record are on disk; -ENODATA when empty"},
	{"job.abort", SCOUT_TOPIC_REQUEST, "{id uint, reason str} -> {}: a receiving job is dropped and shredded"},
	{"job.held", SCOUT_TOPIC_EVENT, "job metadata (see docs/bus.md) once a job is committed and analysed"},
	{"job.list", SCOUT_TOPIC_REQUEST,
	 "{user? str, id? uint, which? str (not-completed|completed|all), limit? uint} -> {jobs [metadata]}; "
	 "-EACCES locked"},
	{"job.cancel", SCOUT_TOPIC_REQUEST,
	 "{id uint, user? str} -> {}: the document is shredded, a tombstone stays for history; -EPERM another "
	 "user's"},
	{"job.open", SCOUT_TOPIC_REQUEST, "{id uint} -> {handle uint, size uint, chunks uint}"},
	{"job.read", SCOUT_TOPIC_REQUEST,
	 "{handle uint, index uint, count? uint (1..16 chunks)} -> {data bin, last bool}, decrypted"},
	{"job.close", SCOUT_TOPIC_REQUEST, "{handle uint} -> {}"},
	{"job.done", SCOUT_TOPIC_EVENT,
	 "{id uint, outcome str (completed|aborted|canceled), printer str, reason str}, from the deliverer: the "
	 "vault shreds the document and keeps a tombstone"},
	{"job.claim", SCOUT_TOPIC_REQUEST,
	 "{id uint, user str, reprint? bool} -> job metadata, the job now processing (in memory); -ENOENT no such "
	 "job of that user's, -EBUSY being delivered, -EACCES locked"},
	{"job.hold", SCOUT_TOPIC_REQUEST,
	 "{id uint, reason str (PWG keyword), text str} -> {}: a processing job goes back to held with that reason"},
	{"vault.state", SCOUT_TOPIC_EVENT, "{locked bool, accepting bool, reason str}, on every change"},
	{"vault.status", SCOUT_TOPIC_REQUEST, "{} -> the vault.state map"},
	{0},
};

const struct scout_module scout_vault_module = {
	.name = "vault",
	.summary = "holds every print job encrypted on site until it is released, expires or is canceled",
	.default_enabled = false,
	.options = vault_options,
	.conf_size = sizeof(struct vault_conf),
	.configure = vault_configure,
	.start = vault_start,
	.reload = vault_reload,
	.status = vault_status,
	.stop = vault_stop,
	.commands = vault_commands,
	.topics = vault_topics,
};
