/* What the vault module's files share: its configuration, the job table
 * (jobs.c), the records in its database (record.c), intake (intake.c), the
 * readers and later topics (access.c), keys (keys.c) and the operators'
 * commands (commands.c). No other module sees it: they use the bus. */
#pragma once

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "loop/bus.h"
#include "loop/list.h"
#include "loop/module.h"
#include "loop/store.h"
#include "loop/timer.h"
#include "loop/work.h"
#include <errno.h>

#include "seal.h"

struct vault_conf {
	char *key_file; /* "" = <state_dir>/vault.key; "%d/NAME" = $CREDENTIALS_DIRECTORY/NAME */
	uint64_t hold_for, history, receive_timeout; /* ms */
	uint64_t keep_after_release;                 /* ms a delivered job's document stays for reprint */
	int64_t max_jobs_per_user;
	uint64_t max_bytes_per_user, max_job_size, min_free_disk;
	int64_t max_receiving, kdf_cost;
};

enum job_state {
	JOB_RECEIVING,
	JOB_HELD,
	JOB_PROCESSING,
	JOB_COMPLETED,
	JOB_CANCELED,
	JOB_ABORTED,
};
const char *vault_state_name(enum job_state s);
int vault_state_parse(const char *s, size_t len, enum job_state *ret);
static inline bool job_is_tombstone(enum job_state s)
{
	return s >= JOB_COMPLETED;
}

/* What the stream analysis found (or the client's attributes until then). */
struct job_analysis {
	char format[64];
	int64_t pages;
	unsigned copies;
	char sides[32], color[16];
	char pages_source[16], copies_source[16], sides_source[16], color_source[16];
};

struct job_meta {
	char *owner, *name, *format, *origin, *sides, *color, *media, *reason;
	char *reason_text; /* the deliverer's words for reason (a PWG keyword), or NULL */
	unsigned copies;
	uint64_t size, submitted;
	enum job_state state;
	struct job_analysis an;
	bool analysed;
};

/* A job.write waiting for the job's pool step. */
struct wreq {
	struct scout_list link;
	uint64_t corr;
	size_t len;
	int status;
	uint8_t data[];
};

struct vault;

struct job {
	struct vault *v;
	uint32_t id;
	uint64_t expires; /* unix s, in clear on disk */
	struct job *hnext;
	struct scout_list link; /* v->jobs, in order of submission */
	struct scout_deadline dl;
	bool meta_known; /* false: loaded while locked */
	struct job_meta meta;
	/* on disk */
	bool committed;
	bool has_doc;    /* document key and bytes still there */
	bool in_file;    /* state_dir/vault/<id> (else inline in the record) */
	uint64_t flen;   /* bytes of the sealed file */
	uint64_t stored; /* sealed document bytes on disk (file or record) */
	uint32_t chunks; /* sealed chunks */
	bool analysing;
	unsigned readers; /* open handles */
	/* delivery: state JOB_PROCESSING between job.claim and job.done or
	 * job.hold, in memory only (a restart finds it held) */
	enum job_state claimed_from; /* JOB_HELD, or JOB_COMPLETED for a reprint */
	uint64_t claim_corr;         /* a job.claim waiting for the analysis */
	bool claim_reprint;
	/* receiving: owned by the pool while busy */
	struct vault_key *dk, *mk; /* until the commit (mk) and the analysis (dk) */
	uint8_t *buf;              /* VAULT_CHUNK bytes */
	size_t buf_len;
	int fd;
	uint32_t next_chunk;
	int pool_err;
	bool busy;          /* a write or the commit on the pool */
	bool commit_wanted; /* job.commit waiting for the writes */
	bool abort_wanted;  /* job.abort waiting for the writes */
	uint64_t commit_corr;
	struct scout_list writes, batch; /* struct wreq */
	/* the commit's record, packed on the loop thread */
	msgpack_sbuffer metabuf;
};

struct user {
	struct scout_list link;
	uint64_t jobs, bytes;
	char name[];
};

enum refusal { REF_LOCKED, REF_QUOTA, REF_SPACE, REF_BUSY, REF_TOO_BIG, REF_BAD, REF_N };

struct vault {
	struct scout_mod *m;
	struct scout_bus *bus;
	struct scout_store *store;
	struct scout_db *db;
	struct scout_work_group *work;
	struct scout_timers timers;
	bool timers_ready, stopping;
	uv_timer_t tick;
	uv_fs_t fs;
	bool fs_busy;
	char *dir;      /* state_dir/vault */
	char *key_path; /* key_file resolved */
	/* topics */
	struct scout_topic *t_held, *t_state;
	struct scout_sub *subs[16];
	unsigned nsubs;
	/* keys */
	bool opened; /* the start-up scan is done */
	bool unlocked;
	bool have_params;
	bool rotating, initing;
	struct vault_key *site; /* NULL while locked */
	char lock_reason[256];
	/* space */
	uint64_t disk_free;
	bool disk_full, store_full;
	bool enospc; /* a write met ENOSPC: full until well above min_free_disk */
	char space_reason[128];
	/* jobs */
	struct job **hash;
	size_t hash_size, njobs;
	struct scout_list jobs;
	struct scout_list users;
	unsigned receiving;
	uint64_t held_jobs, held_bytes;
	unsigned ops; /* pool steps and store writes in flight that use keys */
	/* readers */
	struct scout_list handles;
	uint32_t next_handle;
	/* counters */
	uint64_t refused[REF_N];
	uint64_t created, committed, aborted, expired, canceled, done, shredded, analysed;
	uint64_t claimed, held_again, kept;
	uint64_t commit_errors, dropped_records, orphans_removed;
	uint64_t bytes_in;
	/* intake rate: per second of the last minute */
	uint64_t rate_sec[60], rate_jobs[60], rate_bytes[60];
	/* the last vault.state published */
	bool last_locked, last_accepting;
	char last_reason[256];
	bool published;
};

/* ---- vault.c ---- */
extern const struct scout_option vault_options[];
uint64_t vault_now(void);
bool vault_accepting(struct vault *v, const char **ret_reason);
void vault_publish_state(struct vault *v);
void vault_pack_state(struct vault *v, msgpack_packer *pk);
void vault_reply_error(struct vault *v, uint64_t corr, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void vault_reply_empty(struct vault *v, uint64_t corr);
void vault_note_intake(struct vault *v, uint64_t bytes);
void vault_rate(struct vault *v, uint64_t *ret_jobs, uint64_t *ret_bytes);
/* store: the error came from the store's commit (its map full), else
 * from a data file */
void vault_space_error(struct vault *v, int err, bool store);
void vault_check_space(struct vault *v);
void vault_op_begin(struct vault *v);
void vault_op_end(struct vault *v);

/* ---- jobs.c: the table, users, metadata ---- */
int vault_jobs_init(struct vault *v);
void vault_jobs_free(struct vault *v);
struct job *vault_job_find(struct vault *v, uint32_t id);
int vault_job_new(struct vault *v, uint32_t id, struct job **ret_job);
void vault_job_free(struct vault *v, struct job *j);
int vault_new_id(struct vault *v, uint32_t *ret_id);
struct user *vault_user(struct vault *v, const char *name, bool create);
void vault_account(struct vault *v, struct job *j, int sign);
void vault_meta_clear(struct job_meta *m);
void vault_meta_pack(const struct job *j, msgpack_packer *pk, bool for_bus);
int vault_meta_unpack(const void *data, size_t len, struct job_meta *ret);
json_t *vault_meta_json(const struct job *j);
void vault_arm(struct vault *v, struct job *j);
/* The record's packed metadata for a write (on the loop: no crypto). */
void vault_meta_buf(struct job *j);

/* ---- record.c: the database ---- */
struct record {
	uint64_t expires;
	bool has_doc, in_file;
	uint64_t flen;
	uint32_t chunks;
	const uint8_t *wdk, *wmk, *meta, *doc;
	size_t meta_len, doc_len;
};
void vault_key(uint32_t id, uint8_t key[5]);
int vault_record_decode(const void *data, size_t len, struct record *ret);
void vault_record_pack(msgpack_packer *pk, const struct record *r);
int vault_record_get(struct scout_txn *txn, struct scout_db *db, uint32_t id, struct record *ret);
int vault_file_path(struct vault *v, uint32_t id, char *buf, size_t size);
int vault_fsync_dir(const char *dir);

/* ---- keys.c ---- */
int vault_keys_start(struct vault *v);
void vault_open(struct vault *v); /* the start-up scan on the pool */
struct scout_status_req;
void vault_cmd_init(struct vault *v, struct scout_status_req *req, const char *pw);
void vault_cmd_rotate(struct vault *v, struct scout_status_req *req, const char *pw);

/* ---- intake.c ---- */
void vault_on_create(const struct scout_msg *msg, void *arg);
void vault_on_write(const struct scout_msg *msg, void *arg);
void vault_on_commit(const struct scout_msg *msg, void *arg);
void vault_on_abort(const struct scout_msg *msg, void *arg);
void vault_abort_all(struct vault *v);
/* A receiving job that saw no write for receive_timeout is aborted (its
 * client or the ipp module went away without a word). */
void vault_receive_idle(struct vault *v, struct job *j);

/* ---- access.c ---- */
void vault_on_list(const struct scout_msg *msg, void *arg);
void vault_on_cancel(const struct scout_msg *msg, void *arg);
void vault_on_open(const struct scout_msg *msg, void *arg);
void vault_on_read(const struct scout_msg *msg, void *arg);
void vault_on_close(const struct scout_msg *msg, void *arg);
void vault_on_done(const struct scout_msg *msg, void *arg);
void vault_on_claim(const struct scout_msg *msg, void *arg);
void vault_on_hold(const struct scout_msg *msg, void *arg);
void vault_on_status(const struct scout_msg *msg, void *arg);
void vault_expire(struct scout_deadline *d);
void vault_analyse(struct vault *v, struct job *j);
/* Ends a job: shreds its document and keeps a tombstone in state (or drops
 * the record with state JOB_RECEIVING... see access.c). */
int vault_finish(struct vault *v, struct job *j, enum job_state state, const char *reason);
void vault_close_handles(struct vault *v, struct job *j);
int vault_cancel(struct vault *v, uint32_t id, const char *user, size_t ulen, const char *by, char *why, size_t size);
void vault_handles_free(struct vault *v);
struct vault_reader;
struct vault_key;
/* The stored job as a decrypting reader (pool threads). */
int vault_open_stored(struct vault *v, uint32_t id, bool in_file, const struct vault_key *dk, struct vault_reader *rd);
/* The same through the job's document key, read from its record and
 * unwrapped under the site key. */
int vault_open_job(struct vault *v, uint32_t id, bool in_file, struct vault_reader *rd);

/* ---- verify.c ---- */
void vault_cmd_verify(struct vault *v, struct scout_status_req *req, json_t *request);

/* ---- commands.c ---- */
extern const struct scout_command vault_commands[];
void vault_status(struct scout_mod *m, json_t *obj);
