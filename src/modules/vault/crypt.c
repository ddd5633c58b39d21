/* The vault's cryptography (crypt.h says what and why; the formats are
 * described there). This file owns the locked memory keys live in, the
 * one AES-256-GCM seal/open pair every format goes through, and the
 * chunk writer and reader. OpenSSL EVP does all the cryptography. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "modules/vault/crypt.h"

#define NONCE_LEN 12
#define CHECKSUM_LEN 8
#define FORMAT_V1 1

/* scrypt bounds (crypt.h, vault_kdf_params_parse). */
#define KDF_LOG2_N_MIN 4
#define KDF_LOG2_N_MAX 20
#define KDF_R_MAX 32
#define KDF_P_MAX 16
#define KDF_MEM_MAX (512ull << 20) /* 128 * r * N */
#define KDF_WORK_MAX (1ull << 25)  /* N * r * p */

/* The record sizes crypt.h promises, from their parts. */
_Static_assert(SCOUT_VAULT_WRAPPED_LEN == 1 + NONCE_LEN + SCOUT_VAULT_KEY_LEN + SCOUT_VAULT_TAG_LEN, "wrapped key");
_Static_assert(SCOUT_VAULT_KEY_CHECK_LEN == 1 + NONCE_LEN + SCOUT_VAULT_TAG_LEN + CHECKSUM_LEN, "key check");
_Static_assert(SCOUT_VAULT_KDF_PARAMS_LEN == 1 + 1 + 4 + 4 + SCOUT_VAULT_SALT_LEN + CHECKSUM_LEN, "KDF params");
_Static_assert(SCOUT_VAULT_META_OVERHEAD == 1 + NONCE_LEN + SCOUT_VAULT_TAG_LEN, "metadata");

static const char label_chunk[] = "scout-vault chunk v1";
static const char label_meta[] = "scout-vault meta v1";
static const char label_wrap[] = "scout-vault wrap v1";
static const char label_check[] = "scout-vault key-check v1";

static int set_error(struct vault_crypt_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct vault_crypt_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
		va_end(ap);
	}
	return code;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- locked key memory ------------------------------------------------
 *
 * Keys are small and short-lived, one per job being received or read plus
 * the site key: pages from mmap, each cut into 32-byte slots, locked
 * (mlock: no swap) and excluded from core dumps (MADV_DONTDUMP) and from
 * forked children (MADV_WIPEONFORK). A page with no key left is unmapped,
 * except the first, so that a busy vault does not map and unmap per job. */

struct vault_key {
	uint8_t b[SCOUT_VAULT_KEY_LEN];
};

#define SLOTS_MAX 512 /* 16 KiB pages and more are cut into at most this many */

struct key_page {
	struct key_page *next;
	uint8_t *base;
	size_t used;
	uint64_t busy[SLOTS_MAX / 64];
};

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_page *key_pages;
static size_t page_size, page_slots;
static bool mlock_failed;
static bool mlock_tried;

static struct key_page *key_page_new(void)
{
	struct key_page *pg = calloc(1, sizeof(*pg));
	if (!pg)
		return NULL;
	if (!page_size) {
		long ps = sysconf(_SC_PAGESIZE);
		page_size = ps > 0 ? (size_t)ps : 4096;
		page_slots = page_size / sizeof(struct vault_key);
		if (page_slots > SLOTS_MAX)
			page_slots = SLOTS_MAX;
	}
	void *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(pg);
		return NULL;
	}
	/* Both are best effort: an old kernel without them still works, and
	 * vault_secure_memory_locked() tells the vault whether mlock held. */
	(void)madvise(p, page_size, MADV_DONTDUMP);
#ifdef MADV_WIPEONFORK
	(void)madvise(p, page_size, MADV_WIPEONFORK);
#endif
	mlock_tried = true;
	if (mlock(p, page_size) != 0)
		mlock_failed = true;
	pg->base = p;
	return pg;
}

static struct vault_key *key_alloc(void)
{
	struct vault_key *k = NULL;

	pthread_mutex_lock(&key_lock);
	struct key_page *pg;
	for (pg = key_pages; pg; pg = pg->next)
		if (pg->used < page_slots)
			break;
	if (!pg) {
		pg = key_page_new();
		if (pg) {
			pg->next = key_pages;
			key_pages = pg;
		}
	}
	if (pg) {
		for (size_t i = 0; i < page_slots; i++) {
			if (!(pg->busy[i / 64] & (1ull << (i % 64)))) {
				pg->busy[i / 64] |= 1ull << (i % 64);
				pg->used++;
				k = (struct vault_key *)(pg->base + i * sizeof(*k));
				break;
			}
		}
	}
	pthread_mutex_unlock(&key_lock);
	return k;
}

void vault_key_free(struct vault_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	pthread_mutex_lock(&key_lock);
	struct key_page **pp, *pg;
	for (pp = &key_pages; (pg = *pp); pp = &pg->next) {
		uint8_t *p = (uint8_t *)k;
		if (p < pg->base || p >= pg->base + page_size)
			continue;
		size_t i = (size_t)(p - pg->base) / sizeof(*k);
		if (pg->busy[i / 64] & (1ull << (i % 64))) {
			pg->busy[i / 64] &= ~(1ull << (i % 64));
			pg->used--;
		} else {
			abort(); /* a double free of a key: fail loudly, never reuse */
		}
		if (pg->used == 0 && (pg != key_pages || pg->next)) {
			*pp = pg->next;
			munlock(pg->base, page_size);
			munmap(pg->base, page_size);
			free(pg);
		}
		pthread_mutex_unlock(&key_lock);
		return;
	}
	abort(); /* not one of ours */
}

bool vault_secure_memory_locked(void)
{
	pthread_mutex_lock(&key_lock);
	if (!mlock_tried) {
		pthread_mutex_unlock(&key_lock);
		vault_key_free(key_alloc());
		pthread_mutex_lock(&key_lock);
	}
	bool locked = !mlock_failed;
	pthread_mutex_unlock(&key_lock);
	return locked;
}

int vault_key_generate(struct vault_key **ret_key)
{
	if (!ret_key)
		return -EINVAL;
	struct vault_key *k = key_alloc();
	if (!k)
		return -ENOMEM;
	if (RAND_bytes(k->b, sizeof(k->b)) != 1) {
		vault_key_free(k);
		return -EIO;
	}
	*ret_key = k;
	return 0;
}

int vault_key_import(const void *bytes, size_t len, struct vault_key **ret_key)
{
	if (!bytes || len != SCOUT_VAULT_KEY_LEN || !ret_key)
		return -EINVAL;
	struct vault_key *k = key_alloc();
	if (!k)
		return -ENOMEM;
	memcpy(k->b, bytes, len);
	*ret_key = k;
	return 0;
}

const uint8_t *vault_key_bytes(const struct vault_key *key)
{
	return key->b;
}

int vault_key_dup(const struct vault_key *key, struct vault_key **ret_key)
{
	if (!key)
		return -EINVAL;
	return vault_key_import(key->b, sizeof(key->b), ret_key);
}

bool vault_key_equal(const struct vault_key *a, const struct vault_key *b)
{
	return CRYPTO_memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* ---- AES-256-GCM --------------------------------------------------------
 *
 * One context per call, freed (and so wiped by OpenSSL) before returning:
 * the expanded key never outlives the call. */

static pthread_once_t cipher_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *cipher_gcm;

static void cipher_fetch(void)
{
	cipher_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *gcm(void)
{
	pthread_once(&cipher_once, cipher_fetch);
	return cipher_gcm ? cipher_gcm : EVP_aes_256_gcm();
}

/* plain -> out (len bytes), tag. 0 or -EIO. */
static int gcm_seal(const uint8_t key[SCOUT_VAULT_KEY_LEN], const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *plain, size_t len, uint8_t *out, uint8_t tag[SCOUT_VAULT_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok = ctx != NULL && len <= INT_MAX && aad_len <= INT_MAX;
	uint8_t none[1]; /* GCM's final writes nothing; out may be NULL */

	ok = ok && EVP_EncryptInit_ex2(ctx, gcm(), key, nonce, NULL) == 1;
	ok = ok && (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1);
	ok = ok && (len == 0 || EVP_EncryptUpdate(ctx, out, &n, plain, (int)len) == 1);
	ok = ok && EVP_EncryptFinal_ex(ctx, none, &n) == 1;
	ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SCOUT_VAULT_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* sealed -> out (len bytes) checked against tag: 0, -EBADMSG when the tag
 * does not match, -ENOMEM or -EIO when OpenSSL could not run; out zeroed
 * on any failure (GCM writes plaintext before it can check the tag). */
static int gcm_open(const uint8_t key[SCOUT_VAULT_KEY_LEN], const uint8_t nonce[NONCE_LEN], const uint8_t *aad,
		    size_t aad_len, const uint8_t *sealed, size_t len, const uint8_t tag[SCOUT_VAULT_TAG_LEN],
		    uint8_t *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, r = 0;
	uint8_t tag_copy[SCOUT_VAULT_TAG_LEN], none[1];

	memcpy(tag_copy, tag, sizeof(tag_copy)); /* the ctrl takes a non-const pointer */
	if (!ctx)
		r = -ENOMEM;
	else if (len > INT_MAX || aad_len > INT_MAX || EVP_DecryptInit_ex2(ctx, gcm(), key, nonce, NULL) != 1 ||
		 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SCOUT_VAULT_TAG_LEN, tag_copy) != 1 ||
		 (aad_len && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1) ||
		 (len && EVP_DecryptUpdate(ctx, out, &n, sealed, (int)len) != 1))
		r = -EIO;
	else if (EVP_DecryptFinal_ex(ctx, none, &n) != 1)
		r = -EBADMSG;
	EVP_CIPHER_CTX_free(ctx);
	if (r < 0 && len)
		OPENSSL_cleanse(out, len);
	return r;
}

/* The reason for a failed open that was not an authentication failure. */
static const char *open_failure(int r)
{
	return r == -ENOMEM ? "out of memory" : "AES-GCM failed";
}

/* The first 8 bytes of SHA-256(buf): the clear records' corruption check. */
static int checksum(const uint8_t *buf, size_t len, uint8_t out[CHECKSUM_LEN])
{
	uint8_t md[32];
	unsigned int mdlen = 0;
	if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
		return -EIO;
	memcpy(out, md, CHECKSUM_LEN);
	return 0;
}

static bool checksum_ok(const uint8_t *buf, size_t len)
{
	uint8_t sum[CHECKSUM_LEN];
	return len > CHECKSUM_LEN && checksum(buf, len - CHECKSUM_LEN, sum) == 0 &&
	       CRYPTO_memcmp(sum, buf + len - CHECKSUM_LEN, CHECKSUM_LEN) == 0;
}

/* ---- site key -------------------------------------------------------- */

static int kdf_params_check(const struct vault_kdf_params *p, struct vault_crypt_error *err)
{
	if (p->log2_n < KDF_LOG2_N_MIN || p->log2_n > KDF_LOG2_N_MAX)
		return set_error(err, -ERANGE, "KDF params: N = 2^%u is out of bounds (2^%d..2^%d)", p->log2_n,
				 KDF_LOG2_N_MIN, KDF_LOG2_N_MAX);
	if (p->r < 1 || p->r > KDF_R_MAX)
		return set_error(err, -ERANGE, "KDF params: r = %u is out of bounds (1..%d)", p->r, KDF_R_MAX);
	if (p->p < 1 || p->p > KDF_P_MAX)
		return set_error(err, -ERANGE, "KDF params: p = %u is out of bounds (1..%d)", p->p, KDF_P_MAX);
	uint64_t n = 1ull << p->log2_n;
	if (128ull * p->r * n > KDF_MEM_MAX)
		return set_error(err, -ERANGE, "KDF params: N = 2^%u, r = %u need %llu MiB, more than %llu", p->log2_n,
				 p->r, (unsigned long long)((128ull * p->r * n) >> 20),
				 (unsigned long long)(KDF_MEM_MAX >> 20));
	if (n * p->r * p->p > KDF_WORK_MAX)
		return set_error(err, -ERANGE, "KDF params: N = 2^%u, r = %u, p = %u: more than 2^25 work", p->log2_n,
				 p->r, p->p);
	return 0;
}

int vault_kdf_params_generate(struct vault_kdf_params *ret_params)
{
	struct vault_kdf_params p = {.log2_n = SCOUT_VAULT_KDF_LOG2_N, .r = SCOUT_VAULT_KDF_R, .p = SCOUT_VAULT_KDF_P};
	if (!ret_params)
		return -EINVAL;
	if (RAND_bytes(p.salt, sizeof(p.salt)) != 1)
		return -EIO;
	*ret_params = p;
	return 0;
}

int vault_kdf_params_serialise(const struct vault_kdf_params *params, uint8_t out[SCOUT_VAULT_KDF_PARAMS_LEN],
			       struct vault_crypt_error *err)
{
	if (!params || !out)
		return set_error(err, -EINVAL, "KDF params: nothing to serialise");
	int r = kdf_params_check(params, err);
	if (r < 0)
		return r;
	uint8_t buf[SCOUT_VAULT_KDF_PARAMS_LEN];
	buf[0] = FORMAT_V1;
	buf[1] = params->log2_n;
	put_be32(buf + 2, params->r);
	put_be32(buf + 6, params->p);
	memcpy(buf + 10, params->salt, SCOUT_VAULT_SALT_LEN);
	if (checksum(buf, 26, buf + 26) < 0)
		return set_error(err, -EIO, "KDF params: SHA-256 failed");
	memcpy(out, buf, sizeof(buf));
	return 0;
}

/* Checksum first: a flipped version byte is corruption, not a version. */
int vault_kdf_params_parse(const void *buf, size_t len, struct vault_kdf_params *ret_params,
			   struct vault_crypt_error *err)
{
	const uint8_t *b = buf;
	if (!buf || !ret_params)
		return set_error(err, -EINVAL, "KDF params: nothing to parse");
	if (!checksum_ok(b, len))
		return set_error(err, -EBADMSG, "KDF params: corrupted record (%zu bytes, checksum does not match)",
				 len);
	if (b[0] != FORMAT_V1)
		return set_error(err, -EPROTONOSUPPORT, "KDF params: version %u is not supported (this scout reads 1)",
				 b[0]);
	if (len != SCOUT_VAULT_KDF_PARAMS_LEN)
		return set_error(err, -EBADMSG, "KDF params: %zu bytes, version 1 has %d", len,
				 SCOUT_VAULT_KDF_PARAMS_LEN);
	struct vault_kdf_params p = {.log2_n = b[1], .r = get_be32(b + 2), .p = get_be32(b + 6)};
	memcpy(p.salt, b + 10, sizeof(p.salt));
	int r = kdf_params_check(&p, err);
	if (r < 0)
		return r;
	*ret_params = p;
	return 0;
}

/* scrypt through EVP_KDF, salt of any length (the RFC 7914 vectors have
 * others than 16). */
static int scrypt_raw(const void *password, size_t password_len, const uint8_t *salt, size_t salt_len,
		      const struct vault_kdf_params *p, uint8_t *out, size_t out_len, struct vault_crypt_error *err)
{
	int r = kdf_params_check(p, err);
	if (r < 0)
		return r;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (!kdf)
		return set_error(err, -EIO, "site key: OpenSSL has no SCRYPT KDF");
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return set_error(err, -ENOMEM, "site key: out of memory");
	uint64_t n = 1ull << p->log2_n;
	uint32_t rr = p->r, pp = p->p;
	/* scrypt needs 128*r*(N+p+2) bytes; KDF_MEM_MAX bounds 128*r*N, and
	 * p and the 2 add at most 128*32*18 more. */
	uint64_t maxmem = KDF_MEM_MAX + (1u << 20);
	/* OSSL_PARAM wants non-const pointers; they are only read. */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, password_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(out, out_len);
		return set_error(err, -ENOMEM, "site key: scrypt failed (N = 2^%u, r = %u, p = %u: out of memory?)",
				 p->log2_n, p->r, p->p);
	}
	return 0;
}

int vault_site_key_derive(const void *password, size_t password_len, const struct vault_kdf_params *params,
			  struct vault_key **ret_key, struct vault_crypt_error *err)
{
	if (!password || !params || !ret_key)
		return set_error(err, -EINVAL, "site key: missing password or params");
	if (password_len == 0)
		return set_error(err, -EINVAL, "site key: the password is empty");
	struct vault_key *k = key_alloc();
	if (!k)
		return set_error(err, -ENOMEM, "site key: out of locked memory");
	int r = scrypt_raw(password, password_len, params->salt, sizeof(params->salt), params, k->b, sizeof(k->b), err);
	if (r < 0) {
		vault_key_free(k);
		return r;
	}
	*ret_key = k;
	return 0;
}

/* The check is a GCM tag over no plaintext, the label as AAD. */
int vault_key_check_make(const struct vault_key *site_key, uint8_t out[SCOUT_VAULT_KEY_CHECK_LEN],
			 struct vault_crypt_error *err)
{
	uint8_t buf[SCOUT_VAULT_KEY_CHECK_LEN];
	if (!site_key || !out)
		return set_error(err, -EINVAL, "key check: missing key");
	buf[0] = FORMAT_V1;
	if (RAND_bytes(buf + 1, NONCE_LEN) != 1)
		return set_error(err, -EIO, "key check: no random bytes");
	if (gcm_seal(site_key->b, buf + 1, (const uint8_t *)label_check, sizeof(label_check) - 1, NULL, 0, NULL,
		     buf + 1 + NONCE_LEN) < 0)
		return set_error(err, -EIO, "key check: AES-GCM failed");
	if (checksum(buf, 1 + NONCE_LEN + SCOUT_VAULT_TAG_LEN, buf + 1 + NONCE_LEN + SCOUT_VAULT_TAG_LEN) < 0)
		return set_error(err, -EIO, "key check: SHA-256 failed");
	memcpy(out, buf, sizeof(buf));
	return 0;
}

int vault_key_check_verify(const struct vault_key *site_key, const void *check, size_t len,
			   struct vault_crypt_error *err)
{
	const uint8_t *b = check;
	if (!site_key || !check)
		return set_error(err, -EINVAL, "key check: missing key or check");
	if (!checksum_ok(b, len))
		return set_error(err, -EBADMSG, "key check: corrupted record (%zu bytes, checksum does not match)",
				 len);
	if (b[0] != FORMAT_V1)
		return set_error(err, -EPROTONOSUPPORT, "key check: version %u is not supported (this scout reads 1)",
				 b[0]);
	if (len != SCOUT_VAULT_KEY_CHECK_LEN)
		return set_error(err, -EBADMSG, "key check: %zu bytes, version 1 has %d", len,
				 SCOUT_VAULT_KEY_CHECK_LEN);
	int r = gcm_open(site_key->b, b + 1, (const uint8_t *)label_check, sizeof(label_check) - 1, NULL, 0,
			 b + 1 + NONCE_LEN, NULL);
	if (r == -EBADMSG)
		return set_error(err, -EKEYREJECTED,
				 "wrong password: the site key does not match this vault's key check");
	if (r < 0)
		return set_error(err, r, "key check: %s", open_failure(r));
	return 0;
}

/* ---- job keys ------------------------------------------------------------ */

#define WRAP_AAD_LEN (sizeof(label_wrap) - 1 + 8 + 1)

static void wrap_aad(uint8_t aad[WRAP_AAD_LEN], uint64_t job_id, enum vault_key_purpose purpose)
{
	memcpy(aad, label_wrap, sizeof(label_wrap) - 1);
	put_be64(aad + sizeof(label_wrap) - 1, job_id);
	aad[WRAP_AAD_LEN - 1] = (uint8_t)purpose;
}

static const char *purpose_name(enum vault_key_purpose purpose)
{
	return purpose == VAULT_KEY_DOCUMENT ? "document" : purpose == VAULT_KEY_METADATA ? "metadata" : NULL;
}

int vault_key_wrap(const struct vault_key *site_key, uint64_t job_id, enum vault_key_purpose purpose,
		   const struct vault_key *key, uint8_t out[SCOUT_VAULT_WRAPPED_LEN], struct vault_crypt_error *err)
{
	uint8_t buf[SCOUT_VAULT_WRAPPED_LEN], aad[WRAP_AAD_LEN];
	if (!site_key || !key || !out || !purpose_name(purpose))
		return set_error(err, -EINVAL, "job %llu: key wrap: bad arguments", (unsigned long long)job_id);
	buf[0] = FORMAT_V1;
	if (RAND_bytes(buf + 1, NONCE_LEN) != 1)
		return set_error(err, -EIO, "job %llu: key wrap: no random bytes", (unsigned long long)job_id);
	wrap_aad(aad, job_id, purpose);
	if (gcm_seal(site_key->b, buf + 1, aad, sizeof(aad), key->b, SCOUT_VAULT_KEY_LEN, buf + 1 + NONCE_LEN,
		     buf + 1 + NONCE_LEN + SCOUT_VAULT_KEY_LEN) < 0)
		return set_error(err, -EIO, "job %llu: key wrap: AES-GCM failed", (unsigned long long)job_id);
	memcpy(out, buf, sizeof(buf));
	return 0;
}

int vault_key_unwrap(const struct vault_key *site_key, uint64_t job_id, enum vault_key_purpose purpose,
		     const void *wrapped, size_t len, struct vault_key **ret_key, struct vault_crypt_error *err)
{
	const uint8_t *b = wrapped;
	uint8_t aad[WRAP_AAD_LEN];
	const char *what = purpose_name(purpose);
	if (!site_key || !wrapped || !ret_key || !what)
		return set_error(err, -EINVAL, "job %llu: key unwrap: bad arguments", (unsigned long long)job_id);
	if (len != SCOUT_VAULT_WRAPPED_LEN || b[0] != FORMAT_V1)
		return set_error(err, -EBADMSG, "job %llu: %s key: not a version 1 wrapped key (%zu bytes)",
				 (unsigned long long)job_id, what, len);
	struct vault_key *k = key_alloc();
	if (!k)
		return set_error(err, -ENOMEM, "job %llu: out of locked memory", (unsigned long long)job_id);
	wrap_aad(aad, job_id, purpose);
	int r = gcm_open(site_key->b, b + 1, aad, sizeof(aad), b + 1 + NONCE_LEN, SCOUT_VAULT_KEY_LEN,
			 b + 1 + NONCE_LEN + SCOUT_VAULT_KEY_LEN, k->b);
	if (r < 0) {
		vault_key_free(k);
		if (r != -EBADMSG)
			return set_error(err, r, "job %llu: %s key: %s", (unsigned long long)job_id, what,
					 open_failure(r));
		return set_error(err, -EBADMSG,
				 "job %llu: %s key: authentication failed (wrong site key, another job's key, or "
				 "tampered)",
				 (unsigned long long)job_id, what);
	}
	*ret_key = k;
	return 0;
}

int vault_key_rewrap(const struct vault_key *old_site, const struct vault_key *new_site, uint64_t job_id,
		     enum vault_key_purpose purpose, const void *wrapped, size_t len,
		     uint8_t out[SCOUT_VAULT_WRAPPED_LEN], struct vault_crypt_error *err)
{
	struct vault_key *k;
	int r = vault_key_unwrap(old_site, job_id, purpose, wrapped, len, &k, err);
	if (r < 0)
		return r;
	r = vault_key_wrap(new_site, job_id, purpose, k, out, err);
	vault_key_free(k);
	return r;
}

/* ---- document chunks ------------------------------------------------------ */

#define CHUNK_AAD_LEN (sizeof(label_chunk) - 1 + 8 + 8 + 1)

uint64_t vault_chunk_count(uint64_t plain_size)
{
	return plain_size == 0 ? 1 : (plain_size - 1) / SCOUT_VAULT_CHUNK + 1;
}

uint64_t vault_sealed_size(uint64_t plain_size)
{
	return plain_size + vault_chunk_count(plain_size) * SCOUT_VAULT_TAG_LEN;
}

static void chunk_nonce_aad(uint8_t nonce[NONCE_LEN], uint8_t aad[CHUNK_AAD_LEN], uint64_t job_id, uint64_t index,
			    bool last)
{
	nonce[0] = 0x01;
	nonce[1] = nonce[2] = 0;
	nonce[3] = last;
	put_be64(nonce + 4, index);
	memcpy(aad, label_chunk, sizeof(label_chunk) - 1);
	put_be64(aad + sizeof(label_chunk) - 1, job_id);
	put_be64(aad + sizeof(label_chunk) - 1 + 8, index);
	aad[CHUNK_AAD_LEN - 1] = last;
}

/* Whether a chunk of len plaintext bytes may sit at index with last. */
static bool chunk_len_ok(uint64_t index, bool last, size_t len)
{
	if (!last)
		return len == SCOUT_VAULT_CHUNK;
	return len <= SCOUT_VAULT_CHUNK && (len > 0 || index == 0);
}

int vault_chunk_seal(const struct vault_key *doc_key, uint64_t job_id, uint64_t index, bool last, const void *plain,
		     size_t len, uint8_t *out, struct vault_crypt_error *err)
{
	uint8_t nonce[NONCE_LEN], aad[CHUNK_AAD_LEN];
	if (!doc_key || (!plain && len) || !out || !chunk_len_ok(index, last, len))
		return set_error(err, -EINVAL, "chunk %llu of job %llu: cannot seal %zu bytes as a%s chunk",
				 (unsigned long long)index, (unsigned long long)job_id, len, last ? " last" : "");
	chunk_nonce_aad(nonce, aad, job_id, index, last);
	if (gcm_seal(doc_key->b, nonce, aad, sizeof(aad), plain, len, out, out + len) < 0)
		return set_error(err, -EIO, "chunk %llu of job %llu: AES-GCM failed", (unsigned long long)index,
				 (unsigned long long)job_id);
	return 0;
}

int vault_chunk_open(const struct vault_key *doc_key, uint64_t job_id, uint64_t index, bool last, const void *sealed,
		     size_t sealed_len, uint8_t *out, struct vault_crypt_error *err)
{
	uint8_t nonce[NONCE_LEN], aad[CHUNK_AAD_LEN];
	if (!doc_key || !sealed || !out)
		return set_error(err, -EINVAL, "chunk %llu of job %llu: bad arguments", (unsigned long long)index,
				 (unsigned long long)job_id);
	if (sealed_len < SCOUT_VAULT_TAG_LEN || !chunk_len_ok(index, last, sealed_len - SCOUT_VAULT_TAG_LEN)) {
		if (sealed_len > SCOUT_VAULT_TAG_LEN)
			OPENSSL_cleanse(out, sealed_len - SCOUT_VAULT_TAG_LEN);
		return set_error(err, -EBADMSG, "chunk %llu of job %llu: %zu bytes cannot be a%s chunk (truncated?)",
				 (unsigned long long)index, (unsigned long long)job_id, sealed_len,
				 last ? " last" : "");
	}
	size_t len = sealed_len - SCOUT_VAULT_TAG_LEN;
	const uint8_t *s = sealed;
	chunk_nonce_aad(nonce, aad, job_id, index, last);
	int r = gcm_open(doc_key->b, nonce, aad, sizeof(aad), s, len, s + len, out);
	if (r == -EBADMSG)
		return set_error(
			err, -EBADMSG,
			"chunk %llu of job %llu: authentication failed (tampered, truncated, moved or wrong key)",
			(unsigned long long)index, (unsigned long long)job_id);
	if (r < 0)
		return set_error(err, r, "chunk %llu of job %llu: %s", (unsigned long long)index,
				 (unsigned long long)job_id, open_failure(r));
	return 0;
}

/* ---- streaming writer -------------------------------------------------------- */

struct vault_chunk_writer {
	struct vault_key *key;
	uint64_t job_id;
	vault_chunk_emit_fn emit;
	void *arg;
	uint64_t index; /* of the chunk being filled */
	uint64_t size, sealed;
	size_t fill;
	int state; /* 0 open, else -EPIPE once finished or failed */
	uint8_t plain[SCOUT_VAULT_CHUNK];
	uint8_t out[SCOUT_VAULT_CHUNK_SEALED];
};

int vault_chunk_writer_new(const struct vault_key *doc_key, uint64_t job_id, vault_chunk_emit_fn emit, void *arg,
			   struct vault_chunk_writer **ret_writer)
{
	if (!doc_key || !emit || !ret_writer)
		return -EINVAL;
	struct vault_chunk_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	int r = vault_key_dup(doc_key, &w->key);
	if (r < 0) {
		free(w);
		return r;
	}
	w->job_id = job_id;
	w->emit = emit;
	w->arg = arg;
	*ret_writer = w;
	return 0;
}

static int writer_emit(struct vault_chunk_writer *w, const uint8_t *plain, size_t len, bool last,
		       struct vault_crypt_error *err)
{
	int r = vault_chunk_seal(w->key, w->job_id, w->index, last, plain, len, w->out, err);
	if (r == 0) {
		r = w->emit(w->arg, w->index, w->out, len + SCOUT_VAULT_TAG_LEN, last);
		if (r < 0)
			set_error(err, r, "chunk %llu of job %llu: could not be stored (%s)",
				  (unsigned long long)w->index, (unsigned long long)w->job_id, strerror(-r));
	}
	if (r < 0) {
		w->state = -EPIPE;
		return r;
	}
	w->index++;
	w->sealed += len + SCOUT_VAULT_TAG_LEN;
	return 0;
}

int vault_chunk_writer_write(struct vault_chunk_writer *w, const void *data, size_t len, struct vault_crypt_error *err)
{
	const uint8_t *p = data;
	if (!w || (!data && len))
		return set_error(err, -EINVAL, "chunk writer: bad arguments");
	if (w->state < 0)
		return set_error(err, w->state, "job %llu: chunk writer already finished or failed",
				 (unsigned long long)w->job_id);
	while (len > 0) {
		/* A full chunk goes out only now that more bytes follow it. */
		if (w->fill == SCOUT_VAULT_CHUNK) {
			int r = writer_emit(w, w->plain, w->fill, false, err);
			w->fill = 0;
			if (r < 0)
				return r;
		}
		/* Whole chunks with more after them straight from the caller's
		 * buffer, without a copy. */
		if (w->fill == 0 && len > SCOUT_VAULT_CHUNK) {
			int r = writer_emit(w, p, SCOUT_VAULT_CHUNK, false, err);
			if (r < 0)
				return r;
			p += SCOUT_VAULT_CHUNK;
			len -= SCOUT_VAULT_CHUNK;
			w->size += SCOUT_VAULT_CHUNK;
			continue;
		}
		size_t n = SCOUT_VAULT_CHUNK - w->fill;
		if (n > len)
			n = len;
		memcpy(w->plain + w->fill, p, n);
		w->fill += n;
		w->size += n;
		p += n;
		len -= n;
	}
	return 0;
}

int vault_chunk_writer_finish(struct vault_chunk_writer *w, struct vault_crypt_error *err)
{
	if (!w)
		return set_error(err, -EINVAL, "chunk writer: bad arguments");
	if (w->state < 0)
		return set_error(err, w->state, "job %llu: chunk writer already finished or failed",
				 (unsigned long long)w->job_id);
	int r = writer_emit(w, w->plain, w->fill, true, err);
	OPENSSL_cleanse(w->plain, sizeof(w->plain));
	w->fill = 0;
	w->state = -EPIPE;
	return r;
}

uint64_t vault_chunk_writer_size(const struct vault_chunk_writer *w)
{
	return w->size;
}

uint64_t vault_chunk_writer_sealed(const struct vault_chunk_writer *w)
{
	return w->sealed;
}

void vault_chunk_writer_free(struct vault_chunk_writer *w)
{
	if (!w)
		return;
	vault_key_free(w->key);
	OPENSSL_cleanse(w, sizeof(*w));
	free(w);
}

/* ---- random-access reader ------------------------------------------------------ */

struct vault_chunk_reader {
	struct vault_key *key;
	uint64_t job_id;
	uint64_t sealed_size, size, chunks;
	vault_read_sealed_fn read_sealed;
	void *arg;
	uint64_t cached; /* index of the chunk in plain, or UINT64_MAX */
	size_t cached_len;
	struct vault_crypt_error err;
	uint8_t plain[SCOUT_VAULT_CHUNK];
	uint8_t sealed[SCOUT_VAULT_CHUNK_SEALED];
};

/* Reads exactly len sealed bytes at off; a short file is a truncation. */
static int reader_fill(struct vault_chunk_reader *r, uint64_t index, uint64_t off, size_t len,
		       struct vault_crypt_error *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = r->read_sealed(r->arg, off + got, r->sealed + got, len - got);
		if (n < 0)
			return set_error(err, (int)n, "chunk %llu of job %llu: read failed (%s)",
					 (unsigned long long)index, (unsigned long long)r->job_id, strerror((int)-n));
		if (n == 0)
			return set_error(err, -EBADMSG,
					 "chunk %llu of job %llu: the file ends %zu bytes early (truncated)",
					 (unsigned long long)index, (unsigned long long)r->job_id, len - got);
		if ((size_t)n > len - got)
			return set_error(err, -EIO, "chunk %llu of job %llu: read returned more than asked",
					 (unsigned long long)index, (unsigned long long)r->job_id);
		got += (size_t)n;
	}
	return 0;
}

static int reader_load(struct vault_chunk_reader *r, uint64_t index, struct vault_crypt_error *err)
{
	if (r->cached == index)
		return 0;
	r->cached = UINT64_MAX;
	bool last = index == r->chunks - 1;
	uint64_t off = index * SCOUT_VAULT_CHUNK_SEALED;
	size_t len = last ? (size_t)(r->sealed_size - off) : SCOUT_VAULT_CHUNK_SEALED;
	int rc = reader_fill(r, index, off, len, err);
	if (rc == 0)
		rc = vault_chunk_open(r->key, r->job_id, index, last, r->sealed, len, r->plain, err);
	if (rc < 0) {
		OPENSSL_cleanse(r->plain, sizeof(r->plain));
		return rc;
	}
	r->cached = index;
	r->cached_len = len - SCOUT_VAULT_TAG_LEN;
	return 0;
}

int vault_chunk_reader_open(const struct vault_key *doc_key, uint64_t job_id, uint64_t sealed_size,
			    vault_read_sealed_fn read_sealed, void *arg, struct vault_chunk_reader **ret_reader,
			    struct vault_crypt_error *err)
{
	if (!doc_key || !read_sealed || !ret_reader)
		return set_error(err, -EINVAL, "job %llu: chunk reader: bad arguments", (unsigned long long)job_id);
	/* The layout the writer makes: full chunks, then a last one of
	 * 1..64 KiB, or 0 when it is the only one. */
	uint64_t chunks = sealed_size == 0 ? 0 : (sealed_size - 1) / SCOUT_VAULT_CHUNK_SEALED + 1;
	uint64_t last_len = chunks ? sealed_size - (chunks - 1) * SCOUT_VAULT_CHUNK_SEALED : 0;
	if (chunks == 0 || last_len < SCOUT_VAULT_TAG_LEN || (chunks > 1 && last_len == SCOUT_VAULT_TAG_LEN))
		return set_error(err, -EBADMSG, "job %llu: %llu sealed bytes cannot be a document (truncated?)",
				 (unsigned long long)job_id, (unsigned long long)sealed_size);
	struct vault_chunk_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return set_error(err, -ENOMEM, "job %llu: out of memory", (unsigned long long)job_id);
	int rc = vault_key_dup(doc_key, &r->key);
	if (rc < 0) {
		free(r);
		return set_error(err, rc, "job %llu: out of locked memory", (unsigned long long)job_id);
	}
	r->job_id = job_id;
	r->sealed_size = sealed_size;
	r->chunks = chunks;
	r->size = sealed_size - chunks * SCOUT_VAULT_TAG_LEN;
	r->read_sealed = read_sealed;
	r->arg = arg;
	r->cached = UINT64_MAX;
	/* Truncation at a chunk boundary leaves a chunk sealed as not last at
	 * the end: opening it as the last one fails now, not at the end of a
	 * print. */
	rc = reader_load(r, chunks - 1, err);
	if (rc < 0) {
		vault_chunk_reader_free(r);
		return rc;
	}
	*ret_reader = r;
	return 0;
}

uint64_t vault_chunk_reader_size(const struct vault_chunk_reader *r)
{
	return r->size;
}

uint64_t vault_chunk_reader_chunks(const struct vault_chunk_reader *r)
{
	return r->chunks;
}

int vault_chunk_reader_chunk(struct vault_chunk_reader *r, uint64_t index, const uint8_t **ret_data, size_t *ret_len,
			     bool *ret_last, struct vault_crypt_error *err)
{
	if (!r || !ret_data || !ret_len)
		return set_error(err, -EINVAL, "chunk reader: bad arguments");
	if (index >= r->chunks)
		return set_error(err, -ERANGE, "chunk %llu of job %llu: past the last chunk (%llu)",
				 (unsigned long long)index, (unsigned long long)r->job_id,
				 (unsigned long long)r->chunks - 1);
	int rc = reader_load(r, index, &r->err);
	if (rc < 0) {
		if (err)
			*err = r->err;
		return rc;
	}
	*ret_data = r->plain;
	*ret_len = r->cached_len;
	if (ret_last)
		*ret_last = index == r->chunks - 1;
	return 0;
}

ssize_t vault_chunk_reader_read_at(struct vault_chunk_reader *r, uint64_t off, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t asked = len;
	if (!r || (!buf && len))
		return -EINVAL;
	r->err.reason[0] = '\0';
	if (off >= r->size || len == 0)
		return 0;
	if (len > r->size - off)
		len = (size_t)(r->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	size_t done = 0;
	while (done < len) {
		uint64_t at = off + done, index = at / SCOUT_VAULT_CHUNK;
		size_t in = (size_t)(at % SCOUT_VAULT_CHUNK);
		int rc = reader_load(r, index, &r->err);
		if (rc < 0) {
			OPENSSL_cleanse(buf, asked);
			return rc;
		}
		size_t n = r->cached_len - in;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, r->plain + in, n);
		done += n;
	}
	return (ssize_t)done;
}

const char *vault_chunk_reader_error(const struct vault_chunk_reader *r)
{
	return r->err.reason;
}

void vault_chunk_reader_free(struct vault_chunk_reader *r)
{
	if (!r)
		return;
	vault_key_free(r->key);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

/* ---- metadata ------------------------------------------------------------------ */

#define META_AAD_LEN (sizeof(label_meta) - 1 + 8)

static void meta_aad(uint8_t aad[META_AAD_LEN], uint64_t job_id)
{
	memcpy(aad, label_meta, sizeof(label_meta) - 1);
	put_be64(aad + sizeof(label_meta) - 1, job_id);
}

int vault_meta_seal(const struct vault_key *meta_key, uint64_t job_id, const void *plain, size_t len, uint8_t *out,
		    size_t out_size, size_t *ret_len, struct vault_crypt_error *err)
{
	uint8_t aad[META_AAD_LEN];
	if (!meta_key || (!plain && len) || !out || !ret_len)
		return set_error(err, -EINVAL, "metadata of job %llu: bad arguments", (unsigned long long)job_id);
	if (len > SCOUT_VAULT_META_MAX)
		return set_error(err, -EFBIG, "metadata of job %llu: %zu bytes, more than %d",
				 (unsigned long long)job_id, len, SCOUT_VAULT_META_MAX);
	if (out_size < len + SCOUT_VAULT_META_OVERHEAD)
		return set_error(err, -ENOBUFS, "metadata of job %llu: output buffer too small",
				 (unsigned long long)job_id);
	out[0] = FORMAT_V1;
	out[1] = 0x02; /* the nonce domain chunk nonces (0x01) are not in */
	if (RAND_bytes(out + 2, NONCE_LEN - 1) != 1)
		return set_error(err, -EIO, "metadata of job %llu: no random bytes", (unsigned long long)job_id);
	meta_aad(aad, job_id);
	if (gcm_seal(meta_key->b, out + 1, aad, sizeof(aad), plain, len, out + 1 + NONCE_LEN,
		     out + 1 + NONCE_LEN + len) < 0)
		return set_error(err, -EIO, "metadata of job %llu: AES-GCM failed", (unsigned long long)job_id);
	*ret_len = len + SCOUT_VAULT_META_OVERHEAD;
	return 0;
}

int vault_meta_open(const struct vault_key *meta_key, uint64_t job_id, const void *sealed, size_t len, uint8_t *out,
		    size_t out_size, size_t *ret_len, struct vault_crypt_error *err)
{
	const uint8_t *b = sealed;
	uint8_t aad[META_AAD_LEN];
	if (!meta_key || !sealed || (!out && out_size) || !ret_len)
		return set_error(err, -EINVAL, "metadata of job %llu: bad arguments", (unsigned long long)job_id);
	if (len < SCOUT_VAULT_META_OVERHEAD || len - SCOUT_VAULT_META_OVERHEAD > SCOUT_VAULT_META_MAX ||
	    b[0] != FORMAT_V1 || b[1] != 0x02) {
		if (out_size)
			OPENSSL_cleanse(out, out_size);
		return set_error(err, -EBADMSG, "metadata of job %llu: not a version 1 metadata blob (%zu bytes)",
				 (unsigned long long)job_id, len);
	}
	size_t n = len - SCOUT_VAULT_META_OVERHEAD;
	if (out_size < n) {
		if (out_size)
			OPENSSL_cleanse(out, out_size);
		return set_error(err, -ENOBUFS, "metadata of job %llu: output buffer too small",
				 (unsigned long long)job_id);
	}
	meta_aad(aad, job_id);
	int r = gcm_open(meta_key->b, b + 1, aad, sizeof(aad), b + 1 + NONCE_LEN, n, b + 1 + NONCE_LEN + n, out);
	if (r == -EBADMSG)
		return set_error(err, -EBADMSG,
				 "metadata of job %llu: authentication failed (tampered, another job's, or wrong key)",
				 (unsigned long long)job_id);
	if (r < 0)
		return set_error(err, r, "metadata of job %llu: %s", (unsigned long long)job_id, open_failure(r));
	*ret_len = n;
	return 0;
}
