/* The vault's use of the crypto library, in one place: key derivation,
 * the key check, wrapping per-job keys under the site key, sealing the
 * document's chunks and the metadata. Every call is pure computation on
 * its arguments (no globals), so it runs on pool threads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAULT_KEY_LEN 32
#define VAULT_SALT_LEN 16
#define VAULT_CHUNK (64 * 1024) /* plaintext bytes per chunk */
#define VAULT_TAG 16            /* added to each sealed chunk */
#define VAULT_SEALED_CHUNK (VAULT_CHUNK + VAULT_TAG)
#define VAULT_WRAP_LEN (12 + VAULT_KEY_LEN + 16)
#define VAULT_CHECK_LEN (12 + 16 + 16)
#define VAULT_META_OVERHEAD (12 + 16)

/* scrypt with N = 2^cost, r = 8, p = 1. 0 or -errno. */
int vault_kdf(const char *pw, size_t pwlen, const uint8_t salt[VAULT_SALT_LEN], unsigned cost,
	      uint8_t ret_key[VAULT_KEY_LEN]);
int vault_random(void *buf, size_t len);
/* The key-check value of a site key, and whether a key matches one:
 * 0, or -EACCES for another key, -EINVAL for a malformed value. */
int vault_check_make(const uint8_t site[VAULT_KEY_LEN], uint8_t out[VAULT_CHECK_LEN]);
int vault_check_verify(const uint8_t site[VAULT_KEY_LEN], const uint8_t *chk, size_t len);
/* A per-job key under the site key, bound to the job id and a purpose
 * label ('d' document, 'm' metadata). */
int vault_wrap(const uint8_t site[VAULT_KEY_LEN], uint32_t id, char purpose, const uint8_t key[VAULT_KEY_LEN],
	       uint8_t out[VAULT_WRAP_LEN]);
int vault_unwrap(const uint8_t site[VAULT_KEY_LEN], uint32_t id, char purpose, const uint8_t *in, size_t len,
		 uint8_t ret_key[VAULT_KEY_LEN]);
/* One chunk (len <= VAULT_CHUNK; only the last may be shorter): out gets
 * len + VAULT_TAG bytes. open returns the plaintext length or -EBADMSG. */
int vault_chunk_seal(const uint8_t dk[VAULT_KEY_LEN], uint32_t id, uint32_t index, bool last, const void *in,
		     size_t len, uint8_t *out);
int vault_chunk_open(const uint8_t dk[VAULT_KEY_LEN], uint32_t id, uint32_t index, bool last, const uint8_t *in,
		     size_t len, void *out);
/* Metadata: out gets len + VAULT_META_OVERHEAD bytes. */
int vault_meta_seal(const uint8_t mk[VAULT_KEY_LEN], uint32_t id, const void *in, size_t len, uint8_t *out);
int vault_meta_open(const uint8_t mk[VAULT_KEY_LEN], uint32_t id, const uint8_t *in, size_t len, void *out);
void vault_wipe(void *p, size_t len);
