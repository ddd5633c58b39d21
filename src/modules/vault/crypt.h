/* The vault's cryptography: every key, seal and open the vault does goes
 * through here, and nothing here does I/O, logging or loop calls (pure
 * functions over buffers; thread-safe unless a type says otherwise, so the
 * vault runs them on the pool through the work seam). OpenSSL 3 EVP only:
 * scrypt through EVP_KDF "SCRYPT", AES-256-GCM, RAND_bytes, SHA-256 for the
 * corruption checksums of the two clear records.
 *
 * Keys
 *   site key   32 bytes, scrypt(site password, stored KDF params). Wraps the
 *              per-job keys. Its key-check value tells a wrong password
 *              apart from a corrupted record.
 *   job keys   32 random bytes each, one job only, wrapped under the site key
 *              (61-byte blob). A job has a document key (its chunks) and a
 *              metadata key (its metadata blob): kept apart so that
 *              destroying the document key (cancel, done, expiry) leaves a
 *              tombstone's metadata readable. The wrap binds the job id and
 *              the key's purpose, so a wrapped key moved to another job or
 *              used for the other purpose fails to unwrap.
 *
 * Formats (all version 1; every version label is inside the AAD)
 *   document   the plaintext cut into SCOUT_VAULT_CHUNK (64 KiB) chunks:
 *              every chunk but the last is full, the last holds 1..64 KiB,
 *              except an empty document, which is one empty last chunk (so
 *              a sealed document is never 0 bytes). Each chunk on disk is
 *              ciphertext || 16-byte tag, concatenated with no header: the
 *              sealed size of n plaintext bytes is vault_sealed_size(n).
 *              Nonce = 0x01 0 0 last || index (64-bit big-endian): unique
 *              because a document key seals one document only, once.
 *              AAD = "scout-vault chunk v1" || job id || index || last.
 *   metadata   one blob of at most SCOUT_VAULT_META_MAX bytes: version byte
 *              || nonce (0x02 || 11 random bytes, a domain no chunk nonce
 *              is in, so sealing it under the document key would be safe
 *              too) || ciphertext || tag. May be re-sealed any number of
 *              times. AAD = "scout-vault meta v1" || job id.
 *   wrapped    version byte || random 12-byte nonce || 32 || tag = 61 bytes.
 *   key        AAD = "scout-vault wrap v1" || job id || purpose.
 *   KDF params version || log2 N || r || p (32-bit big-endian) || salt[16]
 *              || checksum: 34 bytes, stored in the clear (nothing in
 *              them is secret).
 *   key check  version || random nonce || tag (GCM over the fixed label
 *              "scout-vault key-check v1") || checksum: 37 bytes.
 *   (job ids are 64-bit big-endian in every AAD; a checksum is the first 8
 *   bytes of SHA-256 over the bytes before it: it catches a corrupted
 *   record before scrypt runs on it, it is no defence against a forger,
 *   which the AEAD tags are.)
 *
 * Errors: every function that can fail returns 0 or a negative errno and,
 * when err is not NULL, writes a sentence naming what failed into
 * err->reason (no secret, no plaintext: fit for a log line or an IPP
 * status-message). -EBADMSG always means "authentication failed": the
 * bytes were tampered with, truncated, moved to another job/index/purpose,
 * or the key is wrong; the output buffer of a failed open is zeroed, never
 * partly filled. Other codes: -EINVAL (a bad argument: the caller's bug),
 * -ENOMEM, -EIO (OpenSSL failed unexpectedly), and those named below.
 * Out-parameters are written only on success.
 *
 * Secrets: a struct vault_key lives in memory that is mlock()ed (best
 * effort: see vault_secure_memory_locked) and madvise(MADV_DONTDUMP)ed, so
 * keys stay out of swap and core files, and is wiped with OPENSSL_cleanse
 * when freed. Writers and readers keep their own copy of the key (same
 * memory), and wipe their plaintext buffers when freed. OpenSSL's expanded
 * AES key exists in its heap only for the length of one seal/open call and
 * is wiped by OpenSSL when the call ends. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SCOUT_VAULT_KEY_LEN 32
#define SCOUT_VAULT_TAG_LEN 16
#define SCOUT_VAULT_CHUNK (64 * 1024)                                      /* plaintext per chunk */
#define SCOUT_VAULT_CHUNK_SEALED (SCOUT_VAULT_CHUNK + SCOUT_VAULT_TAG_LEN) /* a full chunk on disk */
#define SCOUT_VAULT_WRAPPED_LEN 61
#define SCOUT_VAULT_KDF_PARAMS_LEN 34
#define SCOUT_VAULT_KEY_CHECK_LEN 37
#define SCOUT_VAULT_META_MAX (64 * 1024)
#define SCOUT_VAULT_META_OVERHEAD 29 /* version + nonce + tag */
#define SCOUT_VAULT_SALT_LEN 16

/* The defaults vault_kdf_params_generate uses: 128 MiB and ~0.3-1 s of
 * one core. Run the derivation on the pool. */
#define SCOUT_VAULT_KDF_LOG2_N 17
#define SCOUT_VAULT_KDF_R 8
#define SCOUT_VAULT_KDF_P 1

struct vault_crypt_error {
	char reason[192];
};

/* ---- keys ---------------------------------------------------------- */

/* 32 secret bytes in locked, non-dumpable memory. Opaque: copy it with
 * vault_key_dup, never by value. */
struct vault_key;

enum vault_key_purpose {
	VAULT_KEY_DOCUMENT = 1, /* seals a job's chunks */
	VAULT_KEY_METADATA = 2, /* seals a job's metadata blob */
};

/* A fresh random key (RAND_bytes): a job's document or metadata key. */
int vault_key_generate(struct vault_key **ret_key);
/* A key from its 32 raw bytes (the key file); the caller wipes its copy.
 * -EINVAL when len is not SCOUT_VAULT_KEY_LEN. */
int vault_key_import(const void *bytes, size_t len, struct vault_key **ret_key);
/* The raw bytes, to write the key file; borrowed while key lives. */
const uint8_t *vault_key_bytes(const struct vault_key *key);
int vault_key_dup(const struct vault_key *key, struct vault_key **ret_key);
/* Constant time. */
bool vault_key_equal(const struct vault_key *a, const struct vault_key *b);
/* Wipes and frees; NULL is fine. */
void vault_key_free(struct vault_key *key);

/* true when key memory could be mlock()ed (RLIMIT_MEMLOCK allowed it);
 * keys are kept out of core files (MADV_DONTDUMP) either way. For the
 * vault's status and one log line at start. */
bool vault_secure_memory_locked(void);

/* ---- site key: scrypt parameters, derivation, key check -------------- */

struct vault_kdf_params {
	uint8_t log2_n; /* N = 2^log2_n */
	uint32_t r, p;
	uint8_t salt[SCOUT_VAULT_SALT_LEN];
};

/* The defaults above with a fresh random salt: for `vault init` and for
 * every new password (rotate-key), never reuse a salt. */
int vault_kdf_params_generate(struct vault_kdf_params *ret_params);
/* -ERANGE when the params are outside the bounds parse accepts. */
int vault_kdf_params_serialise(const struct vault_kdf_params *params, uint8_t out[SCOUT_VAULT_KDF_PARAMS_LEN],
			       struct vault_crypt_error *err);
/* Checks everything before scrypt may run on it: -EBADMSG when the record
 * is corrupted (wrong length or checksum), -EPROTONOSUPPORT for an
 * unknown version, -ERANGE for values out of bounds (log2 N 4..20, r
 * 1..32, p 1..16, memory 128*r*N at most 512 MiB, work N*r*p at most
 * 2^25 = 32x the default), so no record can make scrypt take hours or
 * gigabytes. */
int vault_kdf_params_parse(const void *buf, size_t len, struct vault_kdf_params *ret_params,
			   struct vault_crypt_error *err);

/* scrypt(password, params) -> site key. Slow (see the defaults): pool only.
 * The password is not kept; the caller wipes its copy. -ERANGE for params
 * out of bounds, -ENOMEM when scrypt cannot get its memory. */
int vault_site_key_derive(const void *password, size_t password_len, const struct vault_kdf_params *params,
			  struct vault_key **ret_key, struct vault_crypt_error *err);

/* The key-check value of a site key, stored next to the params. */
int vault_key_check_make(const struct vault_key *site_key, uint8_t out[SCOUT_VAULT_KEY_CHECK_LEN],
			 struct vault_crypt_error *err);
/* 0 when site_key is the key the check was made with; -EKEYREJECTED when
 * it is not (a wrong password, or a key file of another vault); -EBADMSG
 * when the check value itself is corrupted (wrong length or checksum);
 * -EPROTONOSUPPORT for an unknown version. */
int vault_key_check_verify(const struct vault_key *site_key, const void *check, size_t len,
			   struct vault_crypt_error *err);

/* ---- job keys, wrapped under the site key ----------------------------- */

int vault_key_wrap(const struct vault_key *site_key, uint64_t job_id, enum vault_key_purpose purpose,
		   const struct vault_key *key, uint8_t out[SCOUT_VAULT_WRAPPED_LEN], struct vault_crypt_error *err);
/* -EBADMSG: wrong site key, another job's or purpose's blob, or tampered. */
int vault_key_unwrap(const struct vault_key *site_key, uint64_t job_id, enum vault_key_purpose purpose,
		     const void *wrapped, size_t len, struct vault_key **ret_key, struct vault_crypt_error *err);
/* Unwraps under old_site and wraps under new_site (rotate-key) without the
 * job key ever leaving this file. out may be the same buffer as wrapped. */
int vault_key_rewrap(const struct vault_key *old_site, const struct vault_key *new_site, uint64_t job_id,
		     enum vault_key_purpose purpose, const void *wrapped, size_t len,
		     uint8_t out[SCOUT_VAULT_WRAPPED_LEN], struct vault_crypt_error *err);

/* ---- document chunks -------------------------------------------------- */

/* The sealed size of a document of plain_size bytes, and its chunk count
 * (at least 1). */
uint64_t vault_sealed_size(uint64_t plain_size);
uint64_t vault_chunk_count(uint64_t plain_size);

/* Seals one chunk: len must be SCOUT_VAULT_CHUNK unless last (then
 * 0..SCOUT_VAULT_CHUNK, 0 only for index 0), else -EINVAL; writes len + 16
 * bytes to out. Seal each (key, index, last) once only, or again with
 * the very same bytes: the nonce is derived, so sealing other bytes at the
 * same place under the same key reuses a GCM nonce, which gives away the
 * XOR of both plaintexts and lets anyone forge tags. A job whose write
 * failed is aborted and starts over with a new key, never patched. The
 * writer below keeps to this by construction. */
int vault_chunk_seal(const struct vault_key *doc_key, uint64_t job_id, uint64_t index, bool last, const void *plain,
		     size_t len, uint8_t *out, struct vault_crypt_error *err);
/* Opens one chunk of sealed_len bytes (tag included) into out (sealed_len
 * - 16 bytes). -EBADMSG (and out zeroed) when it does not authenticate as
 * chunk index of job_id with that last flag, or its size cannot be one. */
int vault_chunk_open(const struct vault_key *doc_key, uint64_t job_id, uint64_t index, bool last, const void *sealed,
		     size_t sealed_len, uint8_t *out, struct vault_crypt_error *err);

/* Streaming writer: feed plaintext of any size; each completed chunk is
 * sealed and handed to emit in index order. A full chunk is held back until
 * the next byte arrives (a document's last chunk is never empty, unless
 * the whole document is), so emit sees the last chunk only from finish.
 * One thread at a time. */
struct vault_chunk_writer;

/* sealed (len bytes: SCOUT_VAULT_CHUNK_SEALED unless last) is borrowed for
 * the call. Return 0, or a negative errno that stops the writer and is
 * returned by the write/finish that called it. */
typedef int (*vault_chunk_emit_fn)(void *arg, uint64_t index, const uint8_t *sealed, size_t len, bool last);

/* Keeps its own copy of doc_key. */
int vault_chunk_writer_new(const struct vault_key *doc_key, uint64_t job_id, vault_chunk_emit_fn emit, void *arg,
			   struct vault_chunk_writer **ret_writer);
/* -EPIPE after finish or after a failure (the first failure was returned
 * then). */
int vault_chunk_writer_write(struct vault_chunk_writer *w, const void *data, size_t len, struct vault_crypt_error *err);
/* Seals and emits the last chunk (an empty last chunk for an empty
 * document). */
int vault_chunk_writer_finish(struct vault_chunk_writer *w, struct vault_crypt_error *err);
/* Plaintext bytes taken so far, and sealed bytes emitted so far. */
uint64_t vault_chunk_writer_size(const struct vault_chunk_writer *w);
uint64_t vault_chunk_writer_sealed(const struct vault_chunk_writer *w);
/* Wipes the buffered plaintext and the key; NULL is fine. */
void vault_chunk_writer_free(struct vault_chunk_writer *w);

/* Random-access reader over a sealed document. read_sealed reads up to
 * len bytes of the sealed document at off: bytes read (short only at the
 * end), or a negative errno. One thread at a time. */
typedef ssize_t (*vault_read_sealed_fn)(void *arg, uint64_t off, void *buf, size_t len);

struct vault_chunk_reader;

/* sealed_size is the sealed document's size (the file's). Checks the
 * layout (-EBADMSG when no document has that sealed size, e.g. cut inside
 * a chunk) and opens the last chunk at once, so a document truncated at a
 * chunk boundary or with bytes appended fails here (-EBADMSG), before
 * anyone reads it. Keeps its own copy of doc_key. */
int vault_chunk_reader_open(const struct vault_key *doc_key, uint64_t job_id, uint64_t sealed_size,
			    vault_read_sealed_fn read_sealed, void *arg, struct vault_chunk_reader **ret_reader,
			    struct vault_crypt_error *err);
/* Plaintext size and chunk count of the document. */
uint64_t vault_chunk_reader_size(const struct vault_chunk_reader *r);
uint64_t vault_chunk_reader_chunks(const struct vault_chunk_reader *r);
/* Opens chunk index: *ret_data (borrowed until the next call on r) holds
 * *ret_len plaintext bytes; *ret_last says whether it is the last one.
 * -ERANGE past the last chunk. */
int vault_chunk_reader_chunk(struct vault_chunk_reader *r, uint64_t index, const uint8_t **ret_data, size_t *ret_len,
			     bool *ret_last, struct vault_crypt_error *err);
/* Copies plaintext at off (any offset, any length, across chunks) into
 * buf: bytes copied (short only at the end, 0 at or past it), or a
 * negative errno with buf's len bytes zeroed; the reason is then
 * vault_chunk_reader_error(r). The shape of the analysers' read_at. */
ssize_t vault_chunk_reader_read_at(struct vault_chunk_reader *r, uint64_t off, void *buf, size_t len);
/* The reason of the last failure on r ("" if none); borrowed. */
const char *vault_chunk_reader_error(const struct vault_chunk_reader *r);
/* Wipes the cached plaintext and the key; NULL is fine. */
void vault_chunk_reader_free(struct vault_chunk_reader *r);

/* ---- metadata ---------------------------------------------------------- */

/* Seals len (0..SCOUT_VAULT_META_MAX) bytes into out (out_size at least
 * len + SCOUT_VAULT_META_OVERHEAD, else -ENOBUFS); *ret_len is the sealed
 * length. */
int vault_meta_seal(const struct vault_key *meta_key, uint64_t job_id, const void *plain, size_t len, uint8_t *out,
		    size_t out_size, size_t *ret_len, struct vault_crypt_error *err);
/* Opens a sealed blob into out (out_size at least len -
 * SCOUT_VAULT_META_OVERHEAD, else -ENOBUFS); -EBADMSG with out zeroed
 * when it does not authenticate as job_id's metadata under meta_key. */
int vault_meta_open(const struct vault_key *meta_key, uint64_t job_id, const void *sealed, size_t len, uint8_t *out,
		    size_t out_size, size_t *ret_len, struct vault_crypt_error *err);
