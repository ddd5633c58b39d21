/* Unit tests for src/modules/vault/crypt.c, the vault's cryptography.
 *
 * Known answers, each computed outside this code: AES-256-GCM against the
 * GCM specification's test cases (McGrew & Viega, cases 14 and 16), scrypt
 * against RFC 7914 section 12, the site key and the KDF params record
 * against Python's hashlib.scrypt and hashlib.sha256, and one blob of each
 * format (chunk, wrapped key, metadata, key check) against a throwaway
 * program that built the nonces and AADs from crypt.h's description and
 * sealed them with raw EVP calls. Then round trips (0, 1, 65535, 65536,
 * 65537 bytes and 5 MB, fed in uneven pieces) and every way a sealed
 * thing can be damaged: a flipped bit in each part, truncation (the last
 * chunk missing, a cut inside a chunk), swapped chunks, a chunk of
 * another job, a replayed index, bytes appended, a wrong key, a wrong
 * password; each fails with its errno, a reason naming what failed, and
 * no plaintext out (the output buffers are pre-filled and must come back
 * zeroed). crypt.c is included, not linked, so that the primitives' own
 * known-answer tests reach its static gcm_seal/gcm_open and scrypt_raw. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/vault/crypt.c"

#define JOB 17

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* The key 00 01 .. 1f the known answers use. */
static struct vault_key *counting_key(uint8_t start)
{
	uint8_t b[32];
	struct vault_key *k = NULL;
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(start + i);
	assert_int_equal(vault_key_import(b, sizeof(b), &k), 0);
	return k;
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ---- known answers ------------------------------------------------------ */

static void test_gcm_known_answers(void **state)
{
	(void)state;
	uint8_t key[32], iv[12], aad[64], pt[128], ct[128], tag[16], exp_ct[128], exp_tag[16], back[128];

	/* GCM spec test case 16: 256-bit key, 96-bit IV, AAD, 60-byte text */
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, sizeof(key));
	unhex("cafebabefacedbaddecaf888", iv, sizeof(iv));
	size_t alen = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
	size_t plen = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
			    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
			    pt, sizeof(pt));
	unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	      exp_ct, sizeof(exp_ct));
	unhex("76fc6ece0f4e1768cddf8853bb2d551b", exp_tag, sizeof(exp_tag));
	assert_int_equal(gcm_seal(key, iv, aad, alen, pt, plen, ct, tag), 0);
	assert_memory_equal(ct, exp_ct, plen);
	assert_memory_equal(tag, exp_tag, 16);
	assert_int_equal(gcm_open(key, iv, aad, alen, ct, plen, tag, back), 0);
	assert_memory_equal(back, pt, plen);
	tag[15] ^= 1;
	memset(back, 0xaa, sizeof(back));
	assert_int_equal(gcm_open(key, iv, aad, alen, ct, plen, tag, back), -EBADMSG);
	assert_true(all_zero(back, plen));

	/* test case 14: zero key and IV, one zero block, no AAD */
	memset(key, 0, sizeof(key));
	memset(iv, 0, sizeof(iv));
	memset(pt, 0, 16);
	unhex("cea7403d4d606b6e074ec5d3baf39d18", exp_ct, sizeof(exp_ct));
	unhex("d0d1c8a799996bf0265b98b5d48ab919", exp_tag, sizeof(exp_tag));
	assert_int_equal(gcm_seal(key, iv, NULL, 0, pt, 16, ct, tag), 0);
	assert_memory_equal(ct, exp_ct, 16);
	assert_memory_equal(tag, exp_tag, 16);
}

static void test_scrypt_rfc7914(void **state)
{
	(void)state;
	static const struct {
		const char *pw, *salt;
		struct vault_kdf_params p;
		const char *dk;
	} v[] = {
		{"",
		 "",
		 {.log2_n = 4, .r = 1, .p = 1},
		 "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
		 "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"},
		{"password",
		 "NaCl",
		 {.log2_n = 10, .r = 8, .p = 16},
		 "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
		 "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"},
		{"pleaseletmein",
		 "SodiumChloride",
		 {.log2_n = 14, .r = 8, .p = 1},
		 "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
		 "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t out[64], exp[64];
		unhex(v[i].dk, exp, sizeof(exp));
		assert_int_equal(scrypt_raw(v[i].pw, strlen(v[i].pw), (const uint8_t *)v[i].salt, strlen(v[i].salt),
					    &v[i].p, out, sizeof(out), NULL),
				 0);
		assert_memory_equal(out, exp, 64);
	}
	/* the fourth vector (N = 2^20, r = 8: 1 GiB) is past the bounds */
	struct vault_kdf_params big = {.log2_n = 20, .r = 8, .p = 1};
	struct vault_crypt_error err = {""};
	uint8_t out[64];
	assert_int_equal(scrypt_raw("pleaseletmein", 13, (const uint8_t *)"SodiumChloride", 14, &big, out, 64, &err),
			 -ERANGE);
	assert_non_null(strstr(err.reason, "MiB"));
}

/* hashlib.scrypt(b"correct horse battery staple", salt=bytes(range(16)),
 * n=2**14, r=8, p=1, dklen=32); the record's checksum from hashlib.sha256. */
static const char site_params_hex[] = "010e0000000800000001000102030405060708090a0b0c0d0e0f13df3fca3ed3624c";
static const char site_key_hex[] = "d7590aca2c9801cf06eeba772a69dc31ce3862591d96522ac4e6bba6ad1f31a5";
static const char password[] = "correct horse battery staple";

static void test_site_key_known_answer(void **state)
{
	(void)state;
	uint8_t rec[SCOUT_VAULT_KDF_PARAMS_LEN], again[SCOUT_VAULT_KDF_PARAMS_LEN], exp[32];
	struct vault_kdf_params p;
	struct vault_key *k = NULL;

	assert_int_equal(unhex(site_params_hex, rec, sizeof(rec)), SCOUT_VAULT_KDF_PARAMS_LEN);
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &p, NULL), 0);
	assert_int_equal(p.log2_n, 14);
	assert_int_equal(p.r, 8);
	assert_int_equal(p.p, 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(p.salt[i], i);
	assert_int_equal(vault_kdf_params_serialise(&p, again, NULL), 0);
	assert_memory_equal(again, rec, sizeof(rec));

	assert_int_equal(vault_site_key_derive(password, strlen(password), &p, &k, NULL), 0);
	unhex(site_key_hex, exp, sizeof(exp));
	assert_memory_equal(vault_key_bytes(k), exp, 32);
	vault_key_free(k);
}

static void test_format_known_answers(void **state)
{
	(void)state;
	struct vault_key *site = counting_key(0), *dk = counting_key(0xa0), *got = NULL;
	uint8_t blob[256], out[256], again[256];
	size_t n, len;

	/* chunk 2 of job 17, last, "hello, vault", under 00..1f */
	n = unhex("9dfd2e53ce9e523b0b9c21c5de54586e4e854c66cf817f56bce11435", blob, sizeof(blob));
	assert_int_equal(vault_chunk_open(site, JOB, 2, true, blob, n, out, NULL), 0);
	assert_memory_equal(out, "hello, vault", 12);
	assert_int_equal(vault_chunk_seal(site, JOB, 2, true, "hello, vault", 12, again, NULL), 0);
	assert_memory_equal(again, blob, n);

	/* job 17's document key a0..bf wrapped under 00..1f, nonce c0..cb */
	n = unhex("01c0c1c2c3c4c5c6c7c8c9cacba0e985c4d3dd30f9307057099e0146f9fcc2518c"
		  "8857a90d927af1b18bc0c10940944e87a247a7e11c5d59dbf2c2a722",
		  blob, sizeof(blob));
	assert_int_equal(n, SCOUT_VAULT_WRAPPED_LEN);
	assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_DOCUMENT, blob, n, &got, NULL), 0);
	assert_true(vault_key_equal(got, dk));
	vault_key_free(got);

	/* job 17's metadata under a0..bf, nonce 02 d0..da */
	n = unhex("0102d0d1d2d3d4d5d6d7d8d9da327ef45e734041ddd41fa5ea087346f3c2ae555a"
		  "872b1276ee5d029714cb2865f054179e78621b0bd169ec19",
		  blob, sizeof(blob));
	assert_int_equal(vault_meta_open(dk, JOB, blob, n, out, sizeof(out), &len, NULL), 0);
	assert_int_equal(len, 28);
	assert_memory_equal(out, "owner=alice name=payroll.pdf", 28);

	/* the key check of 00..1f, nonce e0..eb */
	n = unhex("01e0e1e2e3e4e5e6e7e8e9eaeb4ba1d3a782f9805ed6428fcd3f05acfa95bd16b2971d863c", blob, sizeof(blob));
	assert_int_equal(n, SCOUT_VAULT_KEY_CHECK_LEN);
	assert_int_equal(vault_key_check_verify(site, blob, n, NULL), 0);
	assert_int_equal(vault_key_check_verify(dk, blob, n, NULL), -EKEYREJECTED);

	vault_key_free(site);
	vault_key_free(dk);
}

/* ---- KDF params and the key check ------------------------------------------- */

/* A record with the given fields and a valid checksum. */
static void forge_params(uint8_t rec[SCOUT_VAULT_KDF_PARAMS_LEN], uint8_t version, uint8_t log2_n, uint32_t r,
			 uint32_t p)
{
	memset(rec, 0x5a, SCOUT_VAULT_KDF_PARAMS_LEN);
	rec[0] = version;
	rec[1] = log2_n;
	put_be32(rec + 2, r);
	put_be32(rec + 6, p);
	assert_int_equal(checksum(rec, 26, rec + 26), 0);
}

static void test_params(void **state)
{
	(void)state;
	struct vault_kdf_params a, b, back;
	uint8_t rec[SCOUT_VAULT_KDF_PARAMS_LEN], bad[SCOUT_VAULT_KDF_PARAMS_LEN + 1];
	struct vault_crypt_error err;

	assert_int_equal(vault_kdf_params_generate(&a), 0);
	assert_int_equal(vault_kdf_params_generate(&b), 0);
	assert_int_equal(a.log2_n, SCOUT_VAULT_KDF_LOG2_N);
	assert_int_equal(a.r, SCOUT_VAULT_KDF_R);
	assert_int_equal(a.p, SCOUT_VAULT_KDF_P);
	assert_memory_not_equal(a.salt, b.salt, sizeof(a.salt)); /* fresh salt each time */
	assert_int_equal(vault_kdf_params_serialise(&a, rec, NULL), 0);
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &back, NULL), 0);
	assert_memory_equal(&back, &a, sizeof(a));

	/* every flipped bit is corruption, caught before scrypt */
	for (size_t bit = 0; bit < sizeof(rec) * 8; bit++) {
		memcpy(bad, rec, sizeof(rec));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(&back, 0x77, sizeof(back));
		err.reason[0] = '\0';
		assert_int_equal(vault_kdf_params_parse(bad, sizeof(rec), &back, &err), -EBADMSG);
		assert_non_null(strstr(err.reason, "corrupted"));
		assert_int_equal(back.r, 0x77777777); /* untouched */
	}
	/* cut short, one byte more, nothing */
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec) - 1, &back, NULL), -EBADMSG);
	memcpy(bad, rec, sizeof(rec));
	bad[sizeof(rec)] = 0;
	assert_int_equal(vault_kdf_params_parse(bad, sizeof(bad), &back, NULL), -EBADMSG);
	assert_int_equal(vault_kdf_params_parse(rec, 0, &back, NULL), -EBADMSG);

	/* a sound record of another version */
	forge_params(rec, 2, 17, 8, 1);
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &back, &err), -EPROTONOSUPPORT);
	assert_non_null(strstr(err.reason, "version 2"));

	/* sound records that would cost hours or gigabytes, or are nonsense */
	static const struct {
		uint8_t log2_n;
		uint32_t r, p;
	} out_of_bounds[] = {
		{63, 8, 1},          /* N = 2^63 */
		{21, 1, 1},          /* N past 2^20 */
		{3, 8, 1},           /* N below 2^4 */
		{17, 0, 1},          /* r = 0 */
		{17, 8, 0},          /* p = 0 */
		{17, 33, 1},         /* r past 32 */
		{17, 8, 17},         /* p past 16 */
		{20, 8, 1},          /* 1 GiB */
		{19, 8, 16},         /* 2^26 work */
		{17, 8, 0xffffffff}, /* p = 2^32 - 1 */
	};
	for (size_t i = 0; i < sizeof(out_of_bounds) / sizeof(out_of_bounds[0]); i++) {
		forge_params(rec, 1, out_of_bounds[i].log2_n, out_of_bounds[i].r, out_of_bounds[i].p);
		err.reason[0] = '\0';
		assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &back, &err), -ERANGE);
		assert_non_null(strstr(err.reason, "KDF params"));
		struct vault_kdf_params p = {.log2_n = out_of_bounds[i].log2_n,
					     .r = out_of_bounds[i].r,
					     .p = out_of_bounds[i].p};
		assert_int_equal(vault_kdf_params_serialise(&p, rec, NULL), -ERANGE);
	}
	/* the largest accepted: 512 MiB; 2^25 work */
	forge_params(rec, 1, 19, 8, 4);
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &back, NULL), 0);
	forge_params(rec, 1, 18, 8, 16);
	assert_int_equal(vault_kdf_params_parse(rec, sizeof(rec), &back, NULL), 0);
}

static void test_password_and_key_check(void **state)
{
	(void)state;
	struct vault_kdf_params p = {.log2_n = 14, .r = 8, .p = 1};
	struct vault_key *right = NULL, *wrong = NULL, *again = NULL;
	uint8_t check[SCOUT_VAULT_KEY_CHECK_LEN], bad[SCOUT_VAULT_KEY_CHECK_LEN];
	struct vault_crypt_error err;

	assert_int_equal(RAND_bytes(p.salt, sizeof(p.salt)), 1);
	assert_int_equal(vault_site_key_derive(password, strlen(password), &p, &right, NULL), 0);
	assert_int_equal(vault_site_key_derive(password, strlen(password), &p, &again, NULL), 0);
	assert_true(vault_key_equal(right, again));
	assert_int_equal(vault_site_key_derive("Correct horse battery staple", strlen(password), &p, &wrong, NULL), 0);
	assert_false(vault_key_equal(right, wrong));
	assert_int_equal(vault_site_key_derive("", 0, &p, &again, &err), -EINVAL); /* refused */
	assert_non_null(strstr(err.reason, "empty"));

	assert_int_equal(vault_key_check_make(right, check, NULL), 0);
	assert_int_equal(vault_key_check_verify(right, check, sizeof(check), NULL), 0);
	/* a wrong password, told apart from a corrupted check */
	assert_int_equal(vault_key_check_verify(wrong, check, sizeof(check), &err), -EKEYREJECTED);
	assert_non_null(strstr(err.reason, "wrong password"));
	for (size_t bit = 0; bit < sizeof(check) * 8; bit++) {
		memcpy(bad, check, sizeof(check));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		err.reason[0] = '\0';
		assert_int_equal(vault_key_check_verify(right, bad, sizeof(bad), &err), -EBADMSG);
		assert_non_null(strstr(err.reason, "corrupted"));
	}
	assert_int_equal(vault_key_check_verify(right, check, sizeof(check) - 1, NULL), -EBADMSG);
	/* a sound check whose tag is not this key's: the nonce changed and
	 * the checksum redone, as a forger would */
	memcpy(bad, check, sizeof(check));
	bad[5] ^= 1;
	assert_int_equal(checksum(bad, 29, bad + 29), 0);
	assert_int_equal(vault_key_check_verify(right, bad, sizeof(bad), NULL), -EKEYREJECTED);
	bad[0] = 9;
	assert_int_equal(checksum(bad, 29, bad + 29), 0);
	assert_int_equal(vault_key_check_verify(right, bad, sizeof(bad), &err), -EPROTONOSUPPORT);
	/* two checks of one key differ (random nonce) and both verify */
	assert_int_equal(vault_key_check_make(right, bad, NULL), 0);
	assert_memory_not_equal(bad, check, sizeof(check));
	assert_int_equal(vault_key_check_verify(right, bad, sizeof(bad), NULL), 0);

	vault_key_free(right);
	vault_key_free(wrong);
	vault_key_free(again);
}

/* ---- wrapped keys ---------------------------------------------------------------- */

static void test_wrap(void **state)
{
	(void)state;
	struct vault_key *site = NULL, *site2 = NULL, *dk = NULL, *got = NULL;
	uint8_t w[SCOUT_VAULT_WRAPPED_LEN], w2[SCOUT_VAULT_WRAPPED_LEN], bad[SCOUT_VAULT_WRAPPED_LEN + 1];
	struct vault_crypt_error err;

	assert_int_equal(vault_key_generate(&site), 0);
	assert_int_equal(vault_key_generate(&site2), 0);
	assert_int_equal(vault_key_generate(&dk), 0);
	assert_false(vault_key_equal(site, dk));

	assert_int_equal(vault_key_wrap(site, JOB, VAULT_KEY_DOCUMENT, dk, w, NULL), 0);
	assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_DOCUMENT, w, sizeof(w), &got, NULL), 0);
	assert_true(vault_key_equal(got, dk));
	vault_key_free(got);
	got = NULL;

	/* a wrong site key, another job, the other purpose */
	assert_int_equal(vault_key_unwrap(site2, JOB, VAULT_KEY_DOCUMENT, w, sizeof(w), &got, &err), -EBADMSG);
	assert_non_null(strstr(err.reason, "job 17: document key: authentication failed"));
	assert_int_equal(vault_key_unwrap(site, JOB + 1, VAULT_KEY_DOCUMENT, w, sizeof(w), &got, &err), -EBADMSG);
	assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_METADATA, w, sizeof(w), &got, &err), -EBADMSG);
	assert_non_null(strstr(err.reason, "metadata key"));
	assert_int_equal(vault_key_unwrap(site, JOB, 3, w, sizeof(w), &got, &err), -EINVAL);
	/* every flipped bit, every wrong length */
	for (size_t bit = 0; bit < sizeof(w) * 8; bit++) {
		memcpy(bad, w, sizeof(w));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_DOCUMENT, bad, sizeof(w), &got, NULL), -EBADMSG);
	}
	for (size_t len = 0; len <= sizeof(bad); len++) {
		if (len == sizeof(w))
			continue;
		memset(bad, 0, sizeof(bad));
		memcpy(bad, w, len < sizeof(w) ? len : sizeof(w));
		assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_DOCUMENT, bad, len, &got, NULL), -EBADMSG);
	}
	assert_null(got); /* never written by a failure */

	/* two wraps of one key differ (random nonce) */
	assert_int_equal(vault_key_wrap(site, JOB, VAULT_KEY_DOCUMENT, dk, w2, NULL), 0);
	assert_memory_not_equal(w, w2, sizeof(w));

	/* rotate-key: rewrapped in place under the new site key only */
	memcpy(w2, w, sizeof(w));
	assert_int_equal(vault_key_rewrap(site, site2, JOB, VAULT_KEY_DOCUMENT, w2, sizeof(w2), w2, NULL), 0);
	assert_int_equal(vault_key_unwrap(site, JOB, VAULT_KEY_DOCUMENT, w2, sizeof(w2), &got, NULL), -EBADMSG);
	assert_int_equal(vault_key_unwrap(site2, JOB, VAULT_KEY_DOCUMENT, w2, sizeof(w2), &got, NULL), 0);
	assert_true(vault_key_equal(got, dk));
	vault_key_free(got);
	/* a rewrap with the wrong old key changes nothing */
	memcpy(bad, w2, sizeof(w2));
	assert_int_equal(vault_key_rewrap(site, site2, JOB, VAULT_KEY_DOCUMENT, bad, sizeof(w2), bad, &err), -EBADMSG);
	assert_memory_equal(bad, w2, sizeof(w2));

	vault_key_free(site);
	vault_key_free(site2);
	vault_key_free(dk);
}

/* ---- documents ----------------------------------------------------------------- */

struct sink {
	uint8_t *buf;
	size_t len, cap;
	uint64_t next_index;
	bool saw_last;
	int fail_at; /* emit fails at this index (-ENOSPC), or -1 */
};

static int sink_emit(void *arg, uint64_t index, const uint8_t *sealed, size_t len, bool last)
{
	struct sink *s = arg;
	assert_int_equal(index, s->next_index);
	assert_false(s->saw_last);
	if ((int64_t)index == s->fail_at)
		return -ENOSPC;
	if (!last)
		assert_int_equal(len, SCOUT_VAULT_CHUNK_SEALED);
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->buf = realloc(s->buf, s->cap);
		assert_non_null(s->buf);
	}
	memcpy(s->buf + s->len, sealed, len);
	s->len += len;
	s->next_index++;
	s->saw_last = last;
	return 0;
}

/* A sealed file in memory; reads see only its first visible bytes. */
struct file {
	const uint8_t *buf;
	size_t visible;
	int fail_errno;
};

static ssize_t file_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct file *f = arg;
	if (f->fail_errno)
		return -f->fail_errno;
	if (off >= f->visible)
		return 0;
	if (len > f->visible - off)
		len = f->visible - off;
	/* short reads as a pipe or a slow disk may give, to exercise the loop */
	if (len > 5000)
		len -= 17;
	memcpy(buf, f->buf + off, len);
	return (ssize_t)len;
}

/* Seals plain (fed in pieces of varying size) as job's document. */
static struct sink seal_doc(const struct vault_key *k, uint64_t job, const uint8_t *plain, size_t n, uint32_t seed)
{
	struct sink s = {.fail_at = -1};
	struct vault_chunk_writer *w;
	assert_int_equal(vault_chunk_writer_new(k, job, sink_emit, &s, &w), 0);
	size_t off = 0;
	uint32_t x = seed | 1;
	while (off < n) {
		x = x * 1103515245u + 12345u;
		size_t piece = (size_t)(x >> 8) % (3 * SCOUT_VAULT_CHUNK);
		if (x % 5 == 0)
			piece = x % 7; /* tiny pieces too, 0 included */
		if (piece > n - off)
			piece = n - off;
		assert_int_equal(vault_chunk_writer_write(w, plain + off, piece, NULL), 0);
		off += piece;
		assert_int_equal(vault_chunk_writer_size(w), off);
	}
	assert_int_equal(vault_chunk_writer_finish(w, NULL), 0);
	assert_true(s.saw_last);
	assert_int_equal(vault_chunk_writer_sealed(w), s.len);
	assert_int_equal(vault_chunk_writer_write(w, "x", 1, NULL), -EPIPE);
	assert_int_equal(vault_chunk_writer_finish(w, NULL), -EPIPE);
	vault_chunk_writer_free(w);
	return s;
}

static void check_round_trip(size_t n)
{
	struct vault_key *k = NULL;
	struct vault_chunk_reader *r;
	uint8_t *plain = malloc(n ? n : 1), *back = malloc(n + 100);
	assert_non_null(plain);
	assert_non_null(back);
	fill_pattern(plain, n, (uint32_t)n);
	assert_int_equal(vault_key_generate(&k), 0);

	struct sink s = seal_doc(k, JOB, plain, n, (uint32_t)n);
	assert_int_equal(s.len, vault_sealed_size(n));
	assert_int_equal(s.next_index, vault_chunk_count(n));
	/* no plaintext in the sealed bytes (a 16-byte window of it) */
	if (n >= 64)
		assert_null(memmem(s.buf, s.len, plain + n / 2 - 8, 16));

	struct file f = {s.buf, s.len, 0};
	assert_int_equal(vault_chunk_reader_open(k, JOB, s.len, file_read, &f, &r, NULL), 0);
	assert_int_equal(vault_chunk_reader_size(r), n);
	assert_int_equal(vault_chunk_reader_chunks(r), vault_chunk_count(n));
	assert_int_equal(vault_chunk_reader_read_at(r, 0, back, n + 100), (ssize_t)n);
	assert_memory_equal(back, plain, n);
	assert_int_equal(vault_chunk_reader_read_at(r, n, back, 10), 0);
	assert_int_equal(vault_chunk_reader_read_at(r, n + 12345, back, 10), 0);
	/* random offsets and lengths, across chunk boundaries, backwards too */
	uint32_t x = 7;
	for (int i = 0; i < 40 && n > 0; i++) {
		x = x * 1103515245u + 12345u;
		size_t off = (x >> 4) % n, len = (x >> 9) % (2 * SCOUT_VAULT_CHUNK + 3);
		size_t want = len < n - off ? len : n - off;
		assert_int_equal(vault_chunk_reader_read_at(r, off, back, len), (ssize_t)want);
		assert_memory_equal(back, plain + off, want);
	}
	/* chunk by chunk */
	uint64_t total = 0;
	for (uint64_t i = 0; i < vault_chunk_reader_chunks(r); i++) {
		const uint8_t *data;
		size_t len;
		bool last;
		assert_int_equal(vault_chunk_reader_chunk(r, i, &data, &len, &last, NULL), 0);
		assert_int_equal(last, i + 1 == vault_chunk_reader_chunks(r));
		assert_memory_equal(data, plain + total, len);
		total += len;
	}
	assert_int_equal(total, n);
	const uint8_t *data;
	size_t len;
	assert_int_equal(vault_chunk_reader_chunk(r, vault_chunk_reader_chunks(r), &data, &len, NULL, NULL), -ERANGE);

	vault_chunk_reader_free(r);
	vault_key_free(k);
	free(s.buf);
	free(plain);
	free(back);
}

static void test_round_trips(void **state)
{
	(void)state;
	static const size_t sizes[] = {0,
				       1,
				       SCOUT_VAULT_CHUNK - 1,
				       SCOUT_VAULT_CHUNK,
				       SCOUT_VAULT_CHUNK + 1,
				       2 * SCOUT_VAULT_CHUNK,
				       5 * 1000 * 1000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_round_trip(sizes[i]);
	/* an empty document is one empty last chunk: 16 bytes */
	assert_int_equal(vault_sealed_size(0), SCOUT_VAULT_TAG_LEN);
	assert_int_equal(vault_sealed_size(SCOUT_VAULT_CHUNK), SCOUT_VAULT_CHUNK_SEALED);
	assert_int_equal(vault_sealed_size(SCOUT_VAULT_CHUNK + 1), SCOUT_VAULT_CHUNK_SEALED + 17);
}

/* A three-chunk document of job 17 (64 KiB, 64 KiB, 100 bytes) and its key. */
#define DOC_SIZE (2 * SCOUT_VAULT_CHUNK + 100)
static uint8_t doc_plain[DOC_SIZE];

struct doc {
	struct vault_key *key;
	struct sink s;
};

static struct doc make_doc(void)
{
	struct doc d;
	fill_pattern(doc_plain, sizeof(doc_plain), 99);
	assert_int_equal(vault_key_generate(&d.key), 0);
	d.s = seal_doc(d.key, JOB, doc_plain, sizeof(doc_plain), 3);
	assert_int_equal(d.s.len, 2 * SCOUT_VAULT_CHUNK_SEALED + 116);
	return d;
}

static void free_doc(struct doc *d)
{
	vault_key_free(d->key);
	free(d->s.buf);
}

/* Opens buf (len sealed bytes, visible bytes readable) and reads it all:
 * returns the first error, with the checks that a failure gives no
 * plaintext and names what failed. */
static int open_and_read(const struct vault_key *k, uint64_t job, const uint8_t *buf, size_t len, size_t visible,
			 char *reason, size_t reason_size)
{
	static uint8_t back[DOC_SIZE + SCOUT_VAULT_CHUNK];
	struct vault_chunk_reader *r = NULL;
	struct vault_crypt_error err = {""};
	struct file f = {buf, visible, 0};
	int rc = vault_chunk_reader_open(k, job, len, file_read, &f, &r, &err);
	if (rc < 0) {
		assert_null(r);
		assert_true(err.reason[0] != '\0');
		snprintf(reason, reason_size, "%s", err.reason);
		return rc;
	}
	uint64_t size = vault_chunk_reader_size(r);
	assert_true(size <= sizeof(back));
	/* chunk by chunk, each read into a buffer full of 0xaa */
	for (uint64_t off = 0; off < size; off += SCOUT_VAULT_CHUNK) {
		memset(back, 0xaa, sizeof(back));
		ssize_t n = vault_chunk_reader_read_at(r, off, back, SCOUT_VAULT_CHUNK);
		if (n < 0) {
			assert_true(all_zero(back, SCOUT_VAULT_CHUNK));
			snprintf(reason, reason_size, "%s", vault_chunk_reader_error(r));
			assert_true(reason[0] != '\0');
			vault_chunk_reader_free(r);
			return (int)n;
		}
	}
	vault_chunk_reader_free(r);
	return 0;
}

static void test_flipped_bits(void **state)
{
	(void)state;
	struct doc d = make_doc();
	uint8_t *bad = malloc(d.s.len);
	char reason[256];
	assert_non_null(bad);

	assert_int_equal(open_and_read(d.key, JOB, d.s.buf, d.s.len, d.s.len, reason, sizeof(reason)), 0);
	/* in each chunk: its first and last ciphertext byte, a stride through
	 * the middle, every byte of its tag; each bit of those in turn */
	for (size_t c = 0; c < 3; c++) {
		size_t start = c * SCOUT_VAULT_CHUNK_SEALED;
		size_t end = c < 2 ? start + SCOUT_VAULT_CHUNK_SEALED : d.s.len;
		for (size_t pos = start; pos < end;
		     pos += (pos < start + 1 || pos >= end - SCOUT_VAULT_TAG_LEN - 1) ? 1 : 4093) {
			for (int bit = 0; bit < 8; bit += (pos >= end - SCOUT_VAULT_TAG_LEN) ? 1 : 3) {
				memcpy(bad, d.s.buf, d.s.len);
				bad[pos] ^= (uint8_t)(1u << bit);
				assert_int_equal(open_and_read(d.key, JOB, bad, d.s.len, d.s.len, reason,
							       sizeof(reason)),
						 -EBADMSG);
				char want[64];
				snprintf(want, sizeof(want), "chunk %zu of job 17: authentication failed", c);
				assert_non_null(strstr(reason, want));
			}
		}
	}
	free(bad);
	free_doc(&d);
}

static void test_truncated(void **state)
{
	(void)state;
	struct doc d = make_doc();
	char reason[256];

	/* the last chunk missing: chunk 1 was not sealed as the last one */
	assert_int_equal(open_and_read(d.key, JOB, d.s.buf, 2 * SCOUT_VAULT_CHUNK_SEALED, d.s.len, reason,
				       sizeof(reason)),
			 -EBADMSG);
	assert_non_null(strstr(reason, "chunk 1 of job 17: authentication failed"));
	assert_int_equal(open_and_read(d.key, JOB, d.s.buf, SCOUT_VAULT_CHUNK_SEALED, d.s.len, reason, sizeof(reason)),
			 -EBADMSG);
	assert_non_null(strstr(reason, "chunk 0 of job 17"));
	/* cut inside the last chunk, inside a middle one, inside a tag */
	static const size_t cuts[] = {
		2 * SCOUT_VAULT_CHUNK_SEALED + 115,
		2 * SCOUT_VAULT_CHUNK_SEALED + 50,
		2 * SCOUT_VAULT_CHUNK_SEALED + 17,
		SCOUT_VAULT_CHUNK_SEALED + 1000,
		SCOUT_VAULT_CHUNK_SEALED - 1,
		SCOUT_VAULT_CHUNK_SEALED - 16,
		100,
		16,
	};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		reason[0] = '\0';
		assert_int_equal(open_and_read(d.key, JOB, d.s.buf, cuts[i], d.s.len, reason, sizeof(reason)),
				 -EBADMSG);
		assert_non_null(strstr(reason, "job 17"));
	}
	/* sizes no document has: nothing, shorter than a tag, a tag past a
	 * full chunk (an empty last chunk after full ones) */
	static const size_t impossible[] = {0, 15, 2 * SCOUT_VAULT_CHUNK_SEALED + 10,
					    2 * SCOUT_VAULT_CHUNK_SEALED + 16};
	for (size_t i = 0; i < sizeof(impossible) / sizeof(impossible[0]); i++) {
		assert_int_equal(open_and_read(d.key, JOB, d.s.buf, impossible[i], d.s.len, reason, sizeof(reason)),
				 -EBADMSG);
		assert_non_null(strstr(reason, "cannot be a document"));
	}
	/* the record says the full size but the file was cut: reads fail as
	 * they reach the cut */
	assert_int_equal(open_and_read(d.key, JOB, d.s.buf, d.s.len, 2 * SCOUT_VAULT_CHUNK_SEALED, reason,
				       sizeof(reason)),
			 -EBADMSG);
	assert_non_null(strstr(reason, "ends 116 bytes early"));
	assert_int_equal(open_and_read(d.key, JOB, d.s.buf, d.s.len, 1000, reason, sizeof(reason)), -EBADMSG);
	/* bytes appended: a fourth "chunk" that is not one */
	uint8_t *longer = calloc(1, d.s.len + 500);
	memcpy(longer, d.s.buf, d.s.len);
	assert_int_equal(open_and_read(d.key, JOB, longer, d.s.len + 500, d.s.len + 500, reason, sizeof(reason)),
			 -EBADMSG);
	free(longer);
	/* the cut at a chunk boundary is found by the open itself, before
	 * anyone reads a byte */
	struct vault_chunk_reader *cut = NULL;
	struct file whole = {d.s.buf, d.s.len, 0};
	assert_int_equal(vault_chunk_reader_open(d.key, JOB, 2 * SCOUT_VAULT_CHUNK_SEALED, file_read, &whole, &cut,
						 NULL),
			 -EBADMSG);
	assert_null(cut);
	/* a read error is passed through with its errno */
	struct vault_chunk_reader *r;
	struct file f = {d.s.buf, d.s.len, EIO};
	struct vault_crypt_error err;
	assert_int_equal(vault_chunk_reader_open(d.key, JOB, d.s.len, file_read, &f, &r, &err), -EIO);
	assert_non_null(strstr(err.reason, "read failed"));
	free_doc(&d);
}

static void test_moved_chunks(void **state)
{
	(void)state;
	struct doc d = make_doc();
	uint8_t *bad = malloc(d.s.len);
	char reason[256];
	const size_t C = SCOUT_VAULT_CHUNK_SEALED;

	/* chunks 0 and 1 swapped */
	memcpy(bad, d.s.buf, d.s.len);
	memcpy(bad, d.s.buf + C, C);
	memcpy(bad + C, d.s.buf, C);
	assert_int_equal(open_and_read(d.key, JOB, bad, d.s.len, d.s.len, reason, sizeof(reason)), -EBADMSG);
	assert_non_null(strstr(reason, "chunk 0 of job 17: authentication failed"));
	/* chunk 0 replayed as chunk 1 */
	memcpy(bad, d.s.buf, d.s.len);
	memcpy(bad + C, d.s.buf, C);
	assert_int_equal(open_and_read(d.key, JOB, bad, d.s.len, d.s.len, reason, sizeof(reason)), -EBADMSG);
	assert_non_null(strstr(reason, "chunk 1 of job 17: authentication failed"));

	/* a chunk of another job, even under the same key (keys are per job:
	 * this is the AAD's job id at work) */
	struct sink other = seal_doc(d.key, JOB + 1, doc_plain, sizeof(doc_plain), 5);
	memcpy(bad, d.s.buf, d.s.len);
	memcpy(bad + C, other.buf + C, C);
	assert_int_equal(open_and_read(d.key, JOB, bad, d.s.len, d.s.len, reason, sizeof(reason)), -EBADMSG);
	assert_non_null(strstr(reason, "chunk 1 of job 17"));
	/* the whole document of job 18 read as job 17's */
	assert_int_equal(open_and_read(d.key, JOB, other.buf, other.len, other.len, reason, sizeof(reason)), -EBADMSG);
	free(other.buf);

	/* and a chunk of another job under its own key */
	struct vault_key *k2 = NULL;
	assert_int_equal(vault_key_generate(&k2), 0);
	other = seal_doc(k2, JOB + 1, doc_plain, sizeof(doc_plain), 5);
	memcpy(bad, d.s.buf, d.s.len);
	memcpy(bad, other.buf, C);
	assert_int_equal(open_and_read(d.key, JOB, bad, d.s.len, d.s.len, reason, sizeof(reason)), -EBADMSG);
	/* a wrong key */
	assert_int_equal(open_and_read(k2, JOB, d.s.buf, d.s.len, d.s.len, reason, sizeof(reason)), -EBADMSG);
	assert_non_null(strstr(reason, "chunk 2 of job 17: authentication failed"));
	free(other.buf);
	vault_key_free(k2);
	free(bad);
	free_doc(&d);
}

static void test_chunk_api_edges(void **state)
{
	(void)state;
	struct vault_key *k = NULL;
	static uint8_t plain[SCOUT_VAULT_CHUNK + 1], sealed[SCOUT_VAULT_CHUNK_SEALED + 1], out[SCOUT_VAULT_CHUNK + 1];
	struct vault_crypt_error err;
	assert_int_equal(vault_key_generate(&k), 0);

	/* only a last chunk may be short, only the first may be empty */
	assert_int_equal(vault_chunk_seal(k, JOB, 0, false, plain, 100, sealed, &err), -EINVAL);
	assert_int_equal(vault_chunk_seal(k, JOB, 0, false, plain, SCOUT_VAULT_CHUNK + 1, sealed, NULL), -EINVAL);
	assert_int_equal(vault_chunk_seal(k, JOB, 0, true, plain, SCOUT_VAULT_CHUNK + 1, sealed, NULL), -EINVAL);
	assert_int_equal(vault_chunk_seal(k, JOB, 1, true, plain, 0, sealed, NULL), -EINVAL);
	assert_int_equal(vault_chunk_seal(k, JOB, 0, true, NULL, 0, sealed, NULL), 0);
	assert_int_equal(vault_chunk_open(k, JOB, 0, true, sealed, 16, out, NULL), 0);
	assert_int_equal(vault_chunk_open(k, JOB, 1, true, sealed, 16, out, &err), -EBADMSG);
	assert_int_equal(vault_chunk_open(k, JOB, 0, false, sealed, 16, out, &err), -EBADMSG);
	assert_int_equal(vault_chunk_open(k, JOB, 0, true, sealed, 15, out, &err), -EBADMSG);

	/* the last flag is authenticated: a full last chunk is not a middle one */
	fill_pattern(plain, SCOUT_VAULT_CHUNK, 1);
	assert_int_equal(vault_chunk_seal(k, JOB, 4, true, plain, SCOUT_VAULT_CHUNK, sealed, NULL), 0);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(vault_chunk_open(k, JOB, 4, false, sealed, SCOUT_VAULT_CHUNK_SEALED, out, &err), -EBADMSG);
	assert_true(all_zero(out, SCOUT_VAULT_CHUNK));
	assert_non_null(strstr(err.reason, "chunk 4 of job 17: authentication failed"));
	assert_int_equal(vault_chunk_open(k, JOB, 4, true, sealed, SCOUT_VAULT_CHUNK_SEALED, out, NULL), 0);
	assert_memory_equal(out, plain, SCOUT_VAULT_CHUNK);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(vault_chunk_open(k, JOB, 4, true, sealed, SCOUT_VAULT_CHUNK_SEALED + 1, out, NULL), -EBADMSG);
	assert_true(all_zero(out, SCOUT_VAULT_CHUNK + 1));

	/* a document is never opened as metadata nor the other way round:
	 * its bytes in a metadata envelope, and a metadata blob as a chunk */
	uint8_t blob[64 + SCOUT_VAULT_META_OVERHEAD];
	size_t len;
	assert_int_equal(vault_chunk_seal(k, JOB, 0, true, plain, 64, sealed, NULL), 0);
	blob[0] = 1;
	chunk_nonce_aad(blob + 1, (uint8_t[CHUNK_AAD_LEN]){0}, JOB, 0, true);
	memcpy(blob + 13, sealed, 64 + 16);
	assert_int_equal(vault_meta_open(k, JOB, blob, sizeof(blob), out, sizeof(out), &len, NULL), -EBADMSG);
	blob[1] = 0x02; /* in the metadata nonce domain, the AAD still differs */
	assert_int_equal(vault_meta_open(k, JOB, blob, sizeof(blob), out, sizeof(out), &len, NULL), -EBADMSG);
	assert_int_equal(vault_meta_seal(k, JOB, plain, 64, blob, sizeof(blob), &len, NULL), 0);
	assert_int_equal(vault_chunk_open(k, JOB, 0, true, blob + 13, 64 + 16, out, NULL), -EBADMSG);

	vault_key_free(k);
}

static void test_writer_failures(void **state)
{
	(void)state;
	struct vault_key *k = NULL;
	struct vault_chunk_writer *w;
	struct vault_crypt_error err;
	static uint8_t plain[3 * SCOUT_VAULT_CHUNK];
	assert_int_equal(vault_key_generate(&k), 0);

	/* the store refuses chunk 1: the write that emitted it says so, and
	 * the writer takes nothing more */
	struct sink s = {.fail_at = 1};
	assert_int_equal(vault_chunk_writer_new(k, JOB, sink_emit, &s, &w), 0);
	assert_int_equal(vault_chunk_writer_write(w, plain, sizeof(plain), &err), -ENOSPC);
	assert_non_null(strstr(err.reason, "chunk 1 of job 17: could not be stored"));
	assert_int_equal(vault_chunk_writer_write(w, plain, 1, &err), -EPIPE);
	assert_int_equal(vault_chunk_writer_finish(w, &err), -EPIPE);
	vault_chunk_writer_free(w);
	free(s.buf);

	/* a refused last chunk fails finish */
	s = (struct sink){.fail_at = 0};
	assert_int_equal(vault_chunk_writer_new(k, JOB, sink_emit, &s, &w), 0);
	assert_int_equal(vault_chunk_writer_write(w, plain, SCOUT_VAULT_CHUNK, NULL), 0); /* held back */
	assert_int_equal(s.next_index, 0);
	assert_int_equal(vault_chunk_writer_finish(w, &err), -ENOSPC);
	vault_chunk_writer_free(w);
	free(s.buf);

	/* a writer whose document key is freed meanwhile still works: it
	 * keeps its own copy */
	s = (struct sink){.fail_at = -1};
	assert_int_equal(vault_chunk_writer_new(k, JOB, sink_emit, &s, &w), 0);
	struct vault_key *k_copy = NULL;
	assert_int_equal(vault_key_dup(k, &k_copy), 0);
	vault_key_free(k);
	assert_int_equal(vault_chunk_writer_write(w, "abc", 3, NULL), 0);
	assert_int_equal(vault_chunk_writer_finish(w, NULL), 0);
	vault_chunk_writer_free(w);
	uint8_t out[3];
	assert_int_equal(vault_chunk_open(k_copy, JOB, 0, true, s.buf, s.len, out, NULL), 0);
	assert_memory_equal(out, "abc", 3);
	free(s.buf);
	vault_key_free(k_copy);
}

/* ---- metadata -------------------------------------------------------------------- */

static void test_metadata(void **state)
{
	(void)state;
	struct vault_key *k = NULL, *k2 = NULL;
	static uint8_t plain[SCOUT_VAULT_META_MAX + 1], sealed[SCOUT_VAULT_META_MAX + 64],
		out[SCOUT_VAULT_META_MAX + 64];
	size_t len, n;
	struct vault_crypt_error err;
	assert_int_equal(vault_key_generate(&k), 0);
	assert_int_equal(vault_key_generate(&k2), 0);
	fill_pattern(plain, sizeof(plain), 4);

	static const size_t sizes[] = {0, 1, 300, SCOUT_VAULT_META_MAX};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(vault_meta_seal(k, JOB, plain, sizes[i], sealed, sizeof(sealed), &len, NULL), 0);
		assert_int_equal(len, sizes[i] + SCOUT_VAULT_META_OVERHEAD);
		assert_int_equal(vault_meta_open(k, JOB, sealed, len, out, sizeof(out), &n, NULL), 0);
		assert_int_equal(n, sizes[i]);
		assert_memory_equal(out, plain, n);
	}
	assert_int_equal(vault_meta_seal(k, JOB, plain, SCOUT_VAULT_META_MAX + 1, sealed, sizeof(sealed), &len, &err),
			 -EFBIG);
	assert_int_equal(vault_meta_seal(k, JOB, plain, 100, sealed, 100 + SCOUT_VAULT_META_OVERHEAD - 1, &len, &err),
			 -ENOBUFS);

	/* re-sealing gives a new nonce each time */
	uint8_t a[100 + SCOUT_VAULT_META_OVERHEAD], b[100 + SCOUT_VAULT_META_OVERHEAD];
	assert_int_equal(vault_meta_seal(k, JOB, plain, 100, a, sizeof(a), &len, NULL), 0);
	assert_int_equal(vault_meta_seal(k, JOB, plain, 100, b, sizeof(b), &len, NULL), 0);
	assert_memory_not_equal(a, b, 13);

	/* every flipped bit, another job, a wrong key, cut short: zeroed out */
	for (size_t bit = 0; bit < sizeof(a) * 8; bit++) {
		memcpy(b, a, sizeof(a));
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(vault_meta_open(k, JOB, b, sizeof(b), out, sizeof(out), &n, &err), -EBADMSG);
		assert_true(all_zero(out, 100));
		assert_non_null(strstr(err.reason, "metadata of job 17"));
	}
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(vault_meta_open(k, JOB + 1, a, sizeof(a), out, sizeof(out), &n, &err), -EBADMSG);
	assert_true(all_zero(out, 100));
	assert_int_equal(vault_meta_open(k2, JOB, a, sizeof(a), out, sizeof(out), &n, &err), -EBADMSG);
	assert_non_null(strstr(err.reason, "authentication failed"));
	for (size_t cut = 0; cut < sizeof(a); cut++)
		assert_int_equal(vault_meta_open(k, JOB, a, cut, out, sizeof(out), &n, NULL), -EBADMSG);
	assert_int_equal(vault_meta_open(k, JOB, a, sizeof(a), out, 99, &n, NULL), -ENOBUFS);
	vault_key_free(k);
	vault_key_free(k2);
}

/* ---- key memory -------------------------------------------------------------------- */

/* ASan makes mlock a no-op that returns 0. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The VmFlags line of the mapping that holds p, from /proc/self/smaps. */
static bool vm_flags(const void *p, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		} else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, size, "%s", line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_key_memory(void **state)
{
	(void)state;
	enum { N = 1000 };
	static struct vault_key *keys[N];
	char flags[512];

	for (int i = 0; i < N; i++)
		assert_int_equal(vault_key_generate(&keys[i]), 0);
	for (int i = 1; i < N; i++)
		assert_false(vault_key_equal(keys[i - 1], keys[i]));
	/* out of core files always; locked when the limit allows */
	bool locked = vault_secure_memory_locked();
	for (int i = 0; i < N; i += 97) {
		assert_true(vm_flags(vault_key_bytes(keys[i]), flags, sizeof(flags)));
		assert_non_null(strstr(flags, " dd"));
		if (locked && !UNDER_ASAN)
			assert_non_null(strstr(flags, " lo"));
	}
	if (!locked)
		print_message("note: RLIMIT_MEMLOCK refused mlock; keys are out of core files but not locked\n");

	/* a freed key is wiped: its page stays mapped while its neighbours
	 * (keys[]) live */
	struct vault_key *b = NULL;
	assert_int_equal(vault_key_generate(&b), 0);
	const uint8_t *bytes = vault_key_bytes(b);
	struct key_page *pg;
	for (pg = key_pages; pg; pg = pg->next)
		if (bytes >= pg->base && bytes < pg->base + page_size)
			break;
	assert_non_null(pg);
	assert_true(pg->used >= 2);
	vault_key_free(b);
	assert_true(all_zero(bytes, SCOUT_VAULT_KEY_LEN));

	for (int i = 0; i < N; i++)
		vault_key_free(keys[i]);
	/* all pages but one are given back */
	size_t pages = 0;
	for (pg = key_pages; pg; pg = pg->next)
		pages++;
	assert_true(pages <= 1);

	/* import takes exactly 32 bytes */
	struct vault_key *k = NULL;
	assert_int_equal(vault_key_import("short", 5, &k), -EINVAL);
	assert_null(k);
	vault_key_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gcm_known_answers),
		cmocka_unit_test(test_scrypt_rfc7914),
		cmocka_unit_test(test_site_key_known_answer),
		cmocka_unit_test(test_format_known_answers),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_password_and_key_check),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_flipped_bits),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_moved_chunks),
		cmocka_unit_test(test_chunk_api_edges),
		cmocka_unit_test(test_writer_failures),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_key_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
