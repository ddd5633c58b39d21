/* The site key and the start-up scan. The key lives in key_file (32 raw
 * bytes, 0600); scrypt's cost, salt and a key-check value live in the
 * vault's database, so a wrong key or password is told apart from a right
 * one and the password itself is never stored. At start (on the pool) the
 * vault reads the key file, finishes or rolls back an interrupted
 * rotation, loads every record (opening the metadata when it has the
 * key), deletes data files that no record names (a job that was never
 * acknowledged) and drops records whose file is missing or short.
 *
 * `vault init` derives the key from the password on the pool, stores the
 * parameters on first use (or checks the password against them), writes
 * the key file atomically and unlocks the running vault. `vault rotate-key`
 * derives a new key from a new password, writes it beside the key file as
 * key_file.new, re-wraps every job's keys and replaces the parameters in
 * one transaction, then renames key_file.new over key_file: a crash
 * anywhere leaves one of the two keys matching the database, and the next
 * start picks the one that does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/log.h"
#include "loop/pack.h"
#include "loop/secret.h"
#include "loop/status.h"
#include "state.h"

struct params {
	struct vault_kdf_params kdf;
	uint8_t check[SCOUT_VAULT_KEY_CHECK_LEN];
};

int vault_keys_start(struct vault *v)
{
	const struct vault_conf *conf = scout_mod_conf(v->m);
	const char *sd = scout_mod_state_dir(v->m);
	char why[200];
	int r;

	if (asprintf(&v->dir, "%s/vault", sd) < 0)
		return -ENOMEM;
	if (!conf->key_file[0])
		return asprintf(&v->key_path, "%s/vault.key", sd) < 0 ? -ENOMEM : 0;
	r = scout_credential_path(conf->key_file, &v->key_path, why, sizeof(why));
	if (r == -ENOKEY) {
		/* locked with the reason; the path stays unusable */
		snprintf(v->lock_reason, sizeof(v->lock_reason), "vault is locked: key_file %s", why);
		v->key_path = strdup("");
		return v->key_path ? 0 : -ENOMEM;
	}
	return r;
}

/* ---- files ---- */

/* 0 and the key, -ENOENT, or -EINVAL (not 32 bytes) */
static int read_key(const char *path, struct vault_key **ret_key, char *why, size_t whylen)
{
	uint8_t buf[SCOUT_VAULT_KEY_LEN + 1];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		snprintf(why, whylen, "%.200s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whylen, "%.200s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 0007)
		log_warn("vault: key file %s is readable by others (mode %04o): chmod 600 it", path,
			 (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != SCOUT_VAULT_KEY_LEN) {
		vault_wipe(buf, sizeof(buf));
		snprintf(why, whylen, "%.200s: not a vault key (%zd bytes, want %d)", path, n, SCOUT_VAULT_KEY_LEN);
		return -EINVAL;
	}
	int r = vault_key_import(buf, SCOUT_VAULT_KEY_LEN, ret_key);
	vault_wipe(buf, sizeof(buf));
	return r;
}

static void fsync_parent(const char *path)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	vault_fsync_dir(dir);
}

/* path written whole and durable, 0600; a temp file renamed into place
 * when tmp_suffix, else path itself (key_file.new, checked at start). */
static int write_key(const char *path, const struct vault_key *key, bool atomic, char *why, size_t whylen)
{
	char tmp[4096];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s%s", path, atomic ? ".tmp" : "") >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "cannot write %.200s: %s", tmp, strerror(-r));
		return r;
	}
	if (write(fd, vault_key_bytes(key), SCOUT_VAULT_KEY_LEN) != SCOUT_VAULT_KEY_LEN || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && atomic && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		snprintf(why, whylen, "cannot write %.200s: %s", tmp, strerror(-r));
		unlink(tmp);
		return r;
	}
	fsync_parent(path);
	return 0;
}

/* ---- the database ---- */

static int params_decode(const void *data, size_t len, struct params *ret)
{
	msgpack_unpacked u;
	uint64_t ver;
	int r = -EBADMSG;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_uint(&u.data, "v", &ver) == 0 && ver == 1) {
		const msgpack_object *k = scout_pack_get(&u.data, "kdf"), *c = scout_pack_get(&u.data, "check");
		if (k && k->type == MSGPACK_OBJECT_BIN && c && c->type == MSGPACK_OBJECT_BIN &&
		    c->via.bin.size == SCOUT_VAULT_KEY_CHECK_LEN &&
		    vault_kdf_params_parse(k->via.bin.ptr, k->via.bin.size, &ret->kdf, NULL) == 0) {
			memcpy(ret->check, c->via.bin.ptr, SCOUT_VAULT_KEY_CHECK_LEN);
			r = 0;
		}
	}
	msgpack_unpacked_destroy(&u);
	return r;
}

static int params_put(struct scout_txn *txn, struct scout_db *db, const struct params *p)
{
	uint8_t kdf[SCOUT_VAULT_KDF_PARAMS_LEN];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r;

	if ((r = vault_kdf_params_serialise(&p->kdf, kdf, NULL)) < 0)
		return r;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "v");
	msgpack_pack_uint8(&pk, 1);
	scout_pack_str(&pk, "kdf");
	msgpack_pack_bin_with_body(&pk, kdf, sizeof(kdf));
	scout_pack_str(&pk, "check");
	msgpack_pack_bin_with_body(&pk, p->check, SCOUT_VAULT_KEY_CHECK_LEN);
	r = scout_txn_put(txn, db, "params", 6, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return r;
}

struct params_read {
	struct scout_db *db;
	struct params p;
	int r;
};

static int read_params_fn(struct scout_txn *txn, void *arg)
{
	struct params_read *pr = arg;
	const void *val;
	size_t len;

	pr->r = scout_txn_get(txn, pr->db, "params", 6, &val, &len);
	if (pr->r == 0)
		pr->r = params_decode(val, len, &pr->p);
	return 0;
}

/* ---- loading records ---- */

struct loaded {
	uint32_t id;
	struct record rec; /* pointers cleared: copied below */
	uint64_t stored;
	bool meta_ok;
	struct job_meta meta;
	bool drop; /* its file is missing or short */
};

struct load {
	struct vault *v;
	const struct vault_key *site; /* NULL: locked, metadata stays sealed */
	struct loaded *a;
	size_t n, cap;
	int r;
};

static int load_fn(struct scout_txn *txn, void *arg)
{
	struct load *l = arg;
	struct scout_cursor *c;
	const void *k, *val;
	size_t kl, vl;
	int r;

	if ((r = scout_cursor_open(txn, l->v->db, &c)) < 0)
		return l->r = r;
	for (r = scout_cursor_seek(c, "j", 1, &k, &kl, &val, &vl); r == 0;
	     r = scout_cursor_next(c, &k, &kl, &val, &vl)) {
		const uint8_t *key = k;
		if (kl < 1 || key[0] != 'j')
			break;
		struct loaded x = {0};
		if (kl != 5 || vault_record_decode(val, vl, &x.rec) < 0) {
			log_error("vault: a damaged record in the store (key of %zu bytes): skipped", kl);
			continue;
		}
		x.id = (uint32_t)key[1] << 24 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 8 | key[4];
		x.stored = x.rec.has_doc ? (x.rec.in_file ? x.rec.flen : x.rec.doc_len) : 0;
		if (l->site) {
			struct vault_key *mk = NULL;
			uint8_t *plain = malloc(x.rec.meta_len + 1);
			size_t n = 0;
			int rc = -ENOMEM;
			if (plain && (rc = vault_key_unwrap(l->site, x.id, VAULT_KEY_METADATA, x.rec.wmk,
							    VAULT_WRAP_LEN, &mk, NULL)) == 0)
				rc = vault_meta_open(mk, x.id, x.rec.meta, x.rec.meta_len, plain, x.rec.meta_len + 1,
						     &n, NULL);
			if (rc == 0 && vault_meta_unpack(plain, n, &x.meta) == 0)
				x.meta_ok = true;
			else
				log_error("vault: job %u: its metadata does not open with the site key: kept sealed",
					  x.id);
			vault_key_free(mk);
			if (plain)
				vault_wipe(plain, x.rec.meta_len);
			free(plain);
		}
		x.rec.wdk = x.rec.wmk = x.rec.meta = x.rec.doc = NULL;
		if (l->n == l->cap) {
			size_t nc = l->cap ? l->cap * 2 : 64;
			struct loaded *na = realloc(l->a, nc * sizeof(*na));
			if (!na) {
				vault_meta_clear(&x.meta);
				r = -ENOMEM;
				break;
			}
			l->a = na;
			l->cap = nc;
		}
		l->a[l->n++] = x;
	}
	scout_cursor_close(c);
	l->r = r == -ENOENT ? 0 : r;
	return 0;
}

static void load_free(struct load *l)
{
	for (size_t i = 0; i < l->n; i++)
		vault_meta_clear(&l->a[i].meta);
	free(l->a);
	l->a = NULL;
	l->n = l->cap = 0;
}

static struct loaded *load_find(struct load *l, uint32_t id)
{
	/* records come in key order: ids ascending */
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->a[mid].id == id)
			return &l->a[mid];
		if (l->a[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- the start-up scan ---- */

struct opening {
	struct vault *v;
	struct load l;
	bool have_params, unlocked;
	struct params p;
	struct vault_key *site;
	char reason[256];
	uint64_t orphans, dropped;
	int err;
};

static int drop_fn(struct scout_txn *txn, void *arg)
{
	struct opening *o = arg;
	uint8_t key[5];
	int r;

	for (size_t i = 0; i < o->l.n; i++)
		if (o->l.a[i].drop) {
			vault_key(o->l.a[i].id, key);
			if ((r = scout_txn_del(txn, o->v->db, key, sizeof(key))) < 0 && r != -ENOENT)
				return r;
		}
	return 0;
}

/* Which key works: key_file, or key_file.new left by a rotation that
 * committed but did not rename it yet. */
static void pick_key(struct opening *o)
{
	struct vault *v = o->v;
	char newp[4096], why[300];
	struct vault_key *nk = NULL;
	int r;

	if (!v->key_path[0]) {
		snprintf(o->reason, sizeof(o->reason), "%s", v->lock_reason);
		return;
	}
	snprintf(newp, sizeof(newp), "%s.new", v->key_path);
	if (o->have_params && read_key(newp, &nk, why, sizeof(why)) == 0) {
		if (vault_key_check_verify(nk, o->p.check, SCOUT_VAULT_KEY_CHECK_LEN, NULL) == 0) {
			if (rename(newp, v->key_path) == 0) {
				log_warn("vault: finished an interrupted key rotation: %s replaced by the new key",
					 v->key_path);
				fsync_parent(v->key_path);
			}
		} else {
			log_warn("vault: an interrupted key rotation did not commit: %s removed, the old key stays",
				 newp);
			unlink(newp);
		}
		vault_key_free(nk);
	} else if (!o->have_params) {
		unlink(newp);
	}
	if (!o->have_params) {
		snprintf(o->reason, sizeof(o->reason), "vault is locked: no site key yet: run scoutctl vault init");
		return;
	}
	r = read_key(v->key_path, &o->site, why, sizeof(why));
	if (r < 0) {
		snprintf(o->reason, sizeof(o->reason), "vault is locked: key file %.200s: run scoutctl vault init",
			 why);
		return;
	}
	if (vault_key_check_verify(o->site, o->p.check, SCOUT_VAULT_KEY_CHECK_LEN, NULL) < 0) {
		vault_key_free(o->site);
		o->site = NULL;
		snprintf(o->reason, sizeof(o->reason),
			 "vault is locked: key file %s is not this vault's key: run scoutctl vault init", v->key_path);
		return;
	}
	o->unlocked = true;
}

static bool hex_name(const char *s, uint32_t *ret_id)
{
	uint32_t id = 0;

	if (strlen(s) != 8)
		return false;
	for (int i = 0; i < 8; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		id = id << 4 | (uint32_t)d;
	}
	*ret_id = id;
	return true;
}

static void open_work(void *arg)
{
	struct opening *o = arg;
	struct vault *v = o->v;
	struct params_read pr = {.db = v->db};
	struct dirent *de;
	DIR *d;
	int r;

	if (mkdir(v->dir, 0700) < 0 && errno != EEXIST) {
		o->err = -errno;
		snprintf(o->reason, sizeof(o->reason), "vault is unusable: cannot create %s: %s", v->dir,
			 strerror(errno));
		return;
	}
	scout_store_read(v->store, read_params_fn, &pr);
	o->have_params = pr.r == 0;
	o->p = pr.p;
	if (pr.r < 0 && pr.r != -ENOENT)
		log_error("vault: the site key's parameters in the store are damaged: %s", strerror(-pr.r));
	pick_key(o);
	o->l.v = v;
	o->l.site = o->unlocked ? o->site : NULL;
	scout_store_read(v->store, load_fn, &o->l);
	if (o->l.r < 0) {
		o->err = o->l.r;
		snprintf(o->reason, sizeof(o->reason), "vault is unusable: cannot read its records: %s",
			 strerror(-o->l.r));
		return;
	}
	/* files: each must belong to a record that names it, at its length */
	bool *seen = calloc(o->l.n + 1, sizeof(*seen));
	if (!seen) {
		o->err = -ENOMEM;
		return;
	}
	d = opendir(v->dir);
	while (d && (de = readdir(d))) {
		uint32_t id;
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		struct loaded *x = hex_name(de->d_name, &id) ? load_find(&o->l, id) : NULL;
		if (x && x->rec.in_file && fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && (uint64_t)st.st_size == x->rec.flen) {
			seen[x - o->l.a] = true;
			continue;
		}
		if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			o->orphans++;
			log_info("vault: removed %s/%s: no job was acknowledged with it", v->dir, de->d_name);
		}
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < o->l.n; i++)
		if (o->l.a[i].rec.in_file && !seen[i]) {
			o->l.a[i].drop = true;
			o->dropped++;
			log_error("vault: job %u: its data file is missing or damaged: the job is dropped",
				  o->l.a[i].id);
		}
	free(seen);
	if (o->orphans)
		vault_fsync_dir(v->dir);
	if (o->dropped && (r = scout_store_write(v->store, drop_fn, o)) < 0)
		log_error("vault: cannot drop the records without a file: %s", strerror(-r));
}

/* The loaded records become the job table (or fill in the metadata of the
 * jobs it has, at an unlock). */
static void merge(struct vault *v, struct load *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct loaded *x = &l->a[i];
		struct job *j = vault_job_find(v, x->id);
		if (x->drop)
			continue;
		if (!j) {
			if (vault_job_new(v, x->id, &j) < 0)
				continue;
			j->committed = true;
			j->expires = x->rec.expires;
			j->has_doc = x->rec.has_doc;
			j->in_file = x->rec.in_file;
			j->flen = x->rec.flen;
			j->chunks = x->rec.chunks;
			j->stored = x->stored;
			vault_arm(v, j);
		} else if (j->meta_known || !j->committed) {
			continue;
		} else {
			vault_account(v, j, -1); /* counted without an owner */
		}
		if (x->meta_ok) {
			j->meta = x->meta;
			memset(&x->meta, 0, sizeof(x->meta));
			j->meta_known = true;
			if (j->meta.state == JOB_PROCESSING) /* scoutd stopped mid-delivery */
				vault_interrupted(j);
		}
		if (!job_is_tombstone(j->meta.state) || !j->meta_known)
			vault_account(v, j, 1);
	}
}

static void open_done(void *arg, int status)
{
	struct opening *o = arg;
	struct vault *v = o->v;

	if (status == 0 && !v->stopping) {
		v->orphans_removed += o->orphans;
		v->dropped_records += o->dropped;
		if (o->err < 0) {
			snprintf(v->lock_reason, sizeof(v->lock_reason), "%s", o->reason);
			scout_mod_fail(v->m, "%s", o->reason);
		} else {
			v->have_params = o->have_params;
			merge(v, &o->l);
			v->opened = true;
			if (o->unlocked) {
				v->site = o->site;
				o->site = NULL;
				v->unlocked = true;
				log_info("vault: unlocked with %s; %" PRIu64 " jobs held", v->key_path, v->held_jobs);
			} else {
				snprintf(v->lock_reason, sizeof(v->lock_reason), "%s", o->reason);
			}
			vault_publish_state(v);
			vault_check_space(v);
		}
	}
	vault_key_free(o->site);
	load_free(&o->l);
	free(o);
}

void vault_open(struct vault *v)
{
	struct opening *o = calloc(1, sizeof(*o));

	if (o)
		o->v = v;
	if (!o || scout_work_submit(v->work, open_work, open_done, o) < 0) {
		free(o);
		scout_mod_fail(v->m, "cannot start its start-up scan");
	}
}

/* ---- vault init ---- */

struct init {
	struct vault *v;
	struct scout_status_req *req;
	char *pw;
	size_t pwlen;
	bool fresh; /* no parameters yet: these are new */
	struct params p;
	struct vault_key *site;
	int r;
	char why[300], key_warning[400];
	struct load l;
};

static void init_free(struct init *in)
{
	if (in->pw) {
		vault_wipe(in->pw, in->pwlen);
		free(in->pw);
	}
	vault_key_free(in->site);
	load_free(&in->l);
	free(in);
}

static void init_reply(struct init *in)
{
	struct vault *v = in->v;

	v->initing = false;
	if (in->r < 0)
		scout_status_error(in->req, in->r == -EACCES ? "denied" : "internal", "%s", in->why);
	else if (in->key_warning[0])
		scout_status_reply(in->req, json_pack("{s:b, s:s, s:b, s:b, s:I, s:s}", "unlocked", 1, "key_file",
						      v->key_path, "key_file_written", 0, "created", in->fresh, "jobs",
						      (json_int_t)v->held_jobs, "warning", in->key_warning));
	else
		scout_status_reply(in->req, json_pack("{s:b, s:s, s:b, s:b, s:I}", "unlocked", 1, "key_file",
						      v->key_path, "key_file_written", 1, "created", in->fresh, "jobs",
						      (json_int_t)v->held_jobs));
	init_free(in);
}

/* After the key file: the metadata of the jobs loaded while locked. */
static void unlock_work(void *arg)
{
	struct init *in = arg;
	char why[300];

	/* a key file that cannot be written (a read-only credential) does not
	 * keep the running vault locked: the reply says so */
	if (!in->v->key_path[0])
		snprintf(in->key_warning, sizeof(in->key_warning),
			 "key_file names a credential and $CREDENTIALS_DIRECTORY is not set: the key was not written; "
			 "the vault is unlocked until scoutd stops");
	else if (write_key(in->v->key_path, in->site, true, why, sizeof(why)) < 0)
		snprintf(in->key_warning, sizeof(in->key_warning), "%s; the vault is unlocked until scoutd stops", why);
	in->l.v = in->v;
	in->l.site = in->site;
	scout_store_read(in->v->store, load_fn, &in->l);
}

static void unlock_done(void *arg, int status)
{
	struct init *in = arg;
	struct vault *v = in->v;

	if (status < 0 && in->r == 0) {
		in->r = status;
		snprintf(in->why, sizeof(in->why), "stopped");
	}
	if (in->r == 0 && !v->stopping) {
		merge(v, &in->l);
		/* unlocked already: the same key (checked), and pool steps may
		 * be using the one in place */
		if (!v->site) {
			v->site = in->site;
			in->site = NULL;
		}
		v->have_params = true;
		if (!v->unlocked)
			log_info("vault: unlocked by vault init; key written to %s", v->key_path);
		v->unlocked = true;
		vault_publish_state(v);
	}
	init_reply(in);
}

static void params_written(void *arg, int status)
{
	struct init *in = arg;

	vault_op_end(in->v);
	if (status < 0) {
		in->r = status;
		snprintf(in->why, sizeof(in->why), "cannot store the key's parameters: %s", strerror(-status));
		init_reply(in);
		return;
	}
	if (in->v->stopping || scout_work_submit(in->v->work, unlock_work, unlock_done, in) < 0) {
		in->r = -ESHUTDOWN;
		snprintf(in->why, sizeof(in->why), "the vault is stopping");
		init_reply(in);
	}
}

static int params_fn(struct scout_txn *txn, void *arg)
{
	struct init *in = arg;
	const void *val;
	size_t len;

	/* first init wins: a second one racing it must check against it */
	if (scout_txn_get(txn, in->v->db, "params", 6, &val, &len) == 0)
		return -EEXIST;
	return params_put(txn, in->v->db, &in->p);
}

static void derive_work(void *arg)
{
	struct init *in = arg;
	struct vault_crypt_error err = {""};

	if (!in->fresh) {
		in->r = vault_site_key_derive(in->pw, in->pwlen, &in->p.kdf, &in->site, &err);
		if (in->r == 0) {
			in->r = vault_key_check_verify(in->site, in->p.check, SCOUT_VAULT_KEY_CHECK_LEN, &err);
			if (in->r == -EKEYREJECTED) {
				in->r = -EACCES;
				snprintf(in->why, sizeof(in->why),
					 "wrong password: it does not match the password this vault was set up with");
			}
		}
	} else {
		uint8_t cost = in->p.kdf.log2_n;
		if ((in->r = vault_kdf_params_generate(&in->p.kdf)) == 0) {
			in->p.kdf.log2_n = cost;
			if ((in->r = vault_site_key_derive(in->pw, in->pwlen, &in->p.kdf, &in->site, &err)) == 0)
				in->r = vault_key_check_make(in->site, in->p.check, &err);
		}
	}
	if (in->r < 0 && !in->why[0])
		snprintf(in->why, sizeof(in->why), "cannot derive the key: %s",
			 err.reason[0] ? err.reason : strerror(-in->r));
	vault_wipe(in->pw, in->pwlen);
}

static void derive_done(void *arg, int status)
{
	struct init *in = arg;
	struct vault *v = in->v;

	if (status < 0 || v->stopping) {
		in->r = -ESHUTDOWN;
		snprintf(in->why, sizeof(in->why), "the vault is stopping");
	}
	if (in->r < 0) {
		if (in->r == -EACCES)
			log_warn("vault: vault init refused: wrong password");
		init_reply(in);
		return;
	}
	if (in->fresh) {
		vault_op_begin(v);
		if (scout_store_write_async(v->store, params_fn, in, params_written) < 0)
			params_written(in, -EIO);
		return;
	}
	vault_op_begin(v);
	params_written(in, 0);
}

void vault_cmd_init(struct vault *v, struct scout_status_req *req, const char *pw)
{
	const struct vault_conf *conf = scout_mod_conf(v->m);
	struct params_read pr = {.db = v->db};
	struct init *in;

	if (!pw || !pw[0]) {
		scout_status_error(req, "bad_request", "\"password\" (the site password) is required");
		return;
	}
	if (!v->opened || v->initing || v->rotating) {
		scout_status_error(req, "unavailable", "the vault is %s; try again in a moment",
				   v->rotating  ? "rotating its key"
				   : v->initing ? "being initialised"
						: "opening");
		return;
	}
	in = calloc(1, sizeof(*in));
	if (!in || !(in->pw = strdup(pw))) {
		free(in);
		scout_status_error(req, "internal", "out of memory");
		return;
	}
	in->v = v;
	in->req = req;
	in->pwlen = strlen(pw);
	/* a read on the loop: LMDB readers take no lock */
	scout_store_read(v->store, read_params_fn, &pr);
	in->fresh = pr.r == -ENOENT;
	if (in->fresh)
		in->p.kdf.log2_n = (uint8_t)conf->kdf_cost;
	else if (pr.r == 0)
		in->p = pr.p;
	else {
		scout_status_error(req, "internal", "the key's parameters in the store are damaged");
		init_free(in);
		return;
	}
	v->initing = true;
	if (scout_work_submit(v->work, derive_work, derive_done, in) < 0) {
		v->initing = false;
		scout_status_error(req, "internal", "cannot queue the key derivation");
		init_free(in);
	}
}

/* ---- vault rotate-key ---- */

struct rotate {
	struct vault *v;
	struct scout_status_req *req;
	char *pw;
	size_t pwlen;
	struct params p;
	const struct vault_key *old; /* v->site: nothing else uses it while rotating */
	struct vault_key *site;
	int r;
	char why[300];
	uint64_t rewrapped;
};

static void rotate_finish(struct rotate *ro)
{
	struct vault *v = ro->v;

	v->rotating = false;
	if (ro->r < 0) {
		log_error("vault: key rotation failed: %s", ro->why);
		scout_status_error(ro->req, "internal", "%s", ro->why);
	} else {
		scout_status_reply(ro->req, json_pack("{s:b, s:I, s:s}", "rotated", 1, "jobs",
						      (json_int_t)ro->rewrapped, "key_file", v->key_path));
	}
	vault_publish_state(v);
	if (ro->pw) {
		vault_wipe(ro->pw, ro->pwlen);
		free(ro->pw);
	}
	vault_key_free(ro->site);
	free(ro);
}

static void rotate_new_path(struct rotate *ro, char *buf, size_t size)
{
	snprintf(buf, size, "%s.new", ro->v->key_path);
}

static void rotate_derive(void *arg)
{
	struct rotate *ro = arg;
	struct vault_crypt_error err = {""};
	uint8_t cost = ro->p.kdf.log2_n;
	char newp[4096];

	if ((ro->r = vault_kdf_params_generate(&ro->p.kdf)) == 0) {
		ro->p.kdf.log2_n = cost;
		if ((ro->r = vault_site_key_derive(ro->pw, ro->pwlen, &ro->p.kdf, &ro->site, &err)) == 0)
			ro->r = vault_key_check_make(ro->site, ro->p.check, &err);
	}
	vault_wipe(ro->pw, ro->pwlen);
	if (ro->r < 0) {
		snprintf(ro->why, sizeof(ro->why), "cannot derive the new key: %s",
			 err.reason[0] ? err.reason : strerror(-ro->r));
		return;
	}
	rotate_new_path(ro, newp, sizeof(newp));
	ro->r = write_key(newp, ro->site, false, ro->why, sizeof(ro->why));
}

/* Every job's keys under the new site key, and the new parameters, in one
 * transaction. */
static int rotate_fn(struct scout_txn *txn, void *arg)
{
	struct rotate *ro = arg;
	struct scout_db *db = ro->v->db;
	struct scout_cursor *c;
	const void *k, *val;
	size_t kl, vl, n = 0, cap = 0;
	uint32_t *ids = NULL;
	int r;

	ro->rewrapped = 0;
	if ((r = scout_cursor_open(txn, db, &c)) < 0)
		return r;
	for (r = scout_cursor_seek(c, "j", 1, &k, &kl, &val, &vl); r == 0 && kl == 5 && ((const uint8_t *)k)[0] == 'j';
	     r = scout_cursor_next(c, &k, &kl, &val, &vl)) {
		const uint8_t *key = k;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			uint32_t *ni = realloc(ids, cap * sizeof(*ids));
			if (!ni) {
				r = -ENOMEM;
				break;
			}
			ids = ni;
		}
		ids[n++] = (uint32_t)key[1] << 24 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 8 | key[4];
	}
	scout_cursor_close(c);
	if (r < 0 && r != -ENOENT)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct record rec;
		uint8_t wmk[VAULT_WRAP_LEN], wdk[VAULT_WRAP_LEN], key[5];
		if ((r = vault_record_get(txn, db, ids[i], &rec)) < 0)
			goto out;
		if ((r = vault_key_rewrap(ro->old, ro->site, ids[i], VAULT_KEY_METADATA, rec.wmk, VAULT_WRAP_LEN, wmk,
					  NULL)) < 0)
			goto fail;
		if (rec.has_doc && (r = vault_key_rewrap(ro->old, ro->site, ids[i], VAULT_KEY_DOCUMENT, rec.wdk,
							 VAULT_WRAP_LEN, wdk, NULL)) < 0)
			goto fail;
		rec.wmk = wmk;
		if (rec.has_doc)
			rec.wdk = wdk;
		msgpack_sbuffer sb;
		msgpack_packer pk;
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		vault_record_pack(&pk, &rec);
		vault_key(ids[i], key);
		r = scout_txn_put(txn, db, key, sizeof(key), sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		if (r < 0)
			goto out;
		ro->rewrapped++;
		continue;
fail:
		log_error("vault: job %u: its keys do not open with the current site key", ids[i]);
		goto out;
	}
	r = params_put(txn, db, &ro->p);
out:
	free(ids);
	return r;
}

static void rotate_renamed_work(void *arg)
{
	struct rotate *ro = arg;
	char newp[4096];

	rotate_new_path(ro, newp, sizeof(newp));
	if (rename(newp, ro->v->key_path) < 0) {
		/* the database has the new key: the next start renames it */
		ro->r = -errno;
		snprintf(ro->why, sizeof(ro->why),
			 "rotated, but cannot rename %.100s into place: %s (the next start will)", newp,
			 strerror(errno));
	}
	fsync_parent(ro->v->key_path);
}

static void rotate_renamed(void *arg, int status)
{
	struct rotate *ro = arg;

	if (status < 0 && ro->r == 0) {
		ro->r = status;
		snprintf(ro->why, sizeof(ro->why), "rotated, but the key file was not renamed (the next start will)");
	}
	/* the database took the new key either way */
	vault_key_free(ro->v->site);
	ro->v->site = ro->site;
	ro->site = NULL;
	log_info("vault: site key rotated; %" PRIu64 " jobs re-wrapped", ro->rewrapped);
	rotate_finish(ro);
}

static void rotate_unlink_work(void *arg)
{
	struct rotate *ro = arg;
	char newp[4096];

	rotate_new_path(ro, newp, sizeof(newp));
	unlink(newp);
}

static void rotate_unlinked(void *arg, int status)
{
	rotate_finish(arg);
}

static void rotate_written(void *arg, int status)
{
	struct rotate *ro = arg;
	struct vault *v = ro->v;

	vault_op_end(v);
	if (status < 0) {
		ro->r = status;
		snprintf(ro->why, sizeof(ro->why), "cannot re-wrap the jobs' keys: %s; the old key stays",
			 strerror(-status));
		if (scout_work_submit(v->work, rotate_unlink_work, rotate_unlinked, ro) < 0)
			rotate_finish(ro);
		return;
	}
	if (scout_work_submit(v->work, rotate_renamed_work, rotate_renamed, ro) < 0)
		rotate_renamed(ro, -ESHUTDOWN);
}

static void rotate_derived(void *arg, int status)
{
	struct rotate *ro = arg;
	struct vault *v = ro->v;

	if (status < 0 && ro->r == 0) {
		ro->r = status;
		snprintf(ro->why, sizeof(ro->why), "the vault is stopping");
	}
	if (ro->r < 0 || v->stopping) {
		rotate_finish(ro);
		return;
	}
	vault_op_begin(v);
	if (scout_store_write_async(v->store, rotate_fn, ro, rotate_written) < 0)
		rotate_written(ro, -EIO);
}

void vault_cmd_rotate(struct vault *v, struct scout_status_req *req, const char *pw)
{
	const struct vault_conf *conf = scout_mod_conf(v->m);
	struct rotate *ro;

	if (!pw || !pw[0]) {
		scout_status_error(req, "bad_request", "\"new_password\" (the new site password) is required");
		return;
	}
	if (!v->unlocked) {
		scout_status_error(req, "unavailable", "%s; rotate-key needs the vault unlocked", v->lock_reason);
		return;
	}
	if (!v->key_path[0]) {
		scout_status_error(
			req, "unavailable",
			"key_file names a credential and $CREDENTIALS_DIRECTORY is not set: nowhere to write "
			"the new key");
		return;
	}
	/* every step that wraps or unwraps with the site key has ended, and no
	 * new one starts while rotating (vault_accepting) */
	if (v->rotating || v->initing || v->receiving || v->ops || !scout_list_empty(&v->handles)) {
		scout_status_error(req, "unavailable",
				   "jobs are arriving or being read (%u arriving); try again in a moment",
				   v->receiving);
		return;
	}
	ro = calloc(1, sizeof(*ro));
	if (!ro || !(ro->pw = strdup(pw))) {
		free(ro);
		scout_status_error(req, "internal", "out of memory");
		return;
	}
	ro->v = v;
	ro->req = req;
	ro->pwlen = strlen(pw);
	ro->p.kdf.log2_n = (uint8_t)conf->kdf_cost;
	ro->old = v->site;
	v->rotating = true;
	vault_publish_state(v);
	if (scout_work_submit(v->work, rotate_derive, rotate_derived, ro) < 0) {
		ro->r = -ESHUTDOWN;
		snprintf(ro->why, sizeof(ro->why), "the vault is stopping");
		rotate_finish(ro);
	}
}
