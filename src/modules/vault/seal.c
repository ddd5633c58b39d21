/* seal.h over OpenSSL's EVP: AES-256-GCM and scrypt. Nonces: wrapping,
 * the key check and metadata take a random 96-bit nonce stored in front of
 * the ciphertext; a chunk's nonce is its index and last flag (each data
 * key seals each (index, last) once), with the job id in the AAD, so a
 * chunk moved, dropped or taken from another job does not open. */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

#include "seal.h"

static const char check_label[16] = "scout-vault-key!";

void vault_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

int vault_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

int vault_kdf(const char *pw, size_t pwlen, const uint8_t salt[VAULT_SALT_LEN], unsigned cost,
	      uint8_t ret_key[VAULT_KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = (uint64_t)1 << cost;
	uint32_t r = 8, p = 1;
	uint64_t maxmem = 128 * r * n * 2 + (1u << 20);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, pwlen),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, VAULT_SALT_LEN),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int r0 = -EIO;

	if (ctx && EVP_KDF_derive(ctx, ret_key, VAULT_KEY_LEN, params) == 1)
		r0 = 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r0;
}

/* AES-256-GCM of in under key with nonce and aad; out gets len bytes of
 * ciphertext, tag the 16-byte tag. */
static int gcm(bool enc, const uint8_t key[VAULT_KEY_LEN], const uint8_t nonce[12], const void *aad, size_t aadlen,
	       const void *in, size_t len, void *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, r = -EBADMSG;

	if (!ctx)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1 ||
	    (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, (uint8_t *)out + n, &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

int vault_check_make(const uint8_t site[VAULT_KEY_LEN], uint8_t out[VAULT_CHECK_LEN])
{
	if (vault_random(out, 12) < 0)
		return -EIO;
	return gcm(true, site, out, "scout-vault check v1", 20, check_label, 16, out + 12, out + 28);
}

int vault_check_verify(const uint8_t site[VAULT_KEY_LEN], const uint8_t *chk, size_t len)
{
	uint8_t plain[16], tag[16];

	if (len != VAULT_CHECK_LEN)
		return -EINVAL;
	memcpy(tag, chk + 28, 16);
	if (gcm(false, site, chk, "scout-vault check v1", 20, chk + 12, 16, plain, tag) < 0 ||
	    CRYPTO_memcmp(plain, check_label, 16) != 0)
		return -EACCES;
	return 0;
}

static void wrap_aad(uint8_t aad[24], uint32_t id, char purpose)
{
	memcpy(aad, "scout-vault wrap v1", 19);
	aad[19] = (uint8_t)purpose;
	be32(aad + 20, id);
}

int vault_wrap(const uint8_t site[VAULT_KEY_LEN], uint32_t id, char purpose, const uint8_t key[VAULT_KEY_LEN],
	       uint8_t out[VAULT_WRAP_LEN])
{
	uint8_t aad[24];

	wrap_aad(aad, id, purpose);
	if (vault_random(out, 12) < 0)
		return -EIO;
	return gcm(true, site, out, aad, sizeof(aad), key, VAULT_KEY_LEN, out + 12, out + 12 + VAULT_KEY_LEN);
}

int vault_unwrap(const uint8_t site[VAULT_KEY_LEN], uint32_t id, char purpose, const uint8_t *in, size_t len,
		 uint8_t ret_key[VAULT_KEY_LEN])
{
	uint8_t aad[24], tag[16], key[VAULT_KEY_LEN];

	if (len != VAULT_WRAP_LEN)
		return -EINVAL;
	wrap_aad(aad, id, purpose);
	memcpy(tag, in + 12 + VAULT_KEY_LEN, 16);
	if (gcm(false, site, in, aad, sizeof(aad), in + 12, VAULT_KEY_LEN, key, tag) < 0) {
		vault_wipe(key, sizeof(key));
		return -EBADMSG;
	}
	memcpy(ret_key, key, VAULT_KEY_LEN);
	vault_wipe(key, sizeof(key));
	return 0;
}

static void chunk_iv(uint8_t nonce[12], uint8_t aad[29], uint32_t id, uint32_t index, bool last)
{
	memset(nonce, 0, 12);
	be32(nonce + 4, index);
	nonce[8] = last;
	memcpy(aad, "scout-vault chunk v1", 20);
	be32(aad + 20, id);
	be32(aad + 24, index);
	aad[28] = last;
}

int vault_chunk_seal(const uint8_t dk[VAULT_KEY_LEN], uint32_t id, uint32_t index, bool last, const void *in,
		     size_t len, uint8_t *out)
{
	uint8_t nonce[12], aad[29];

	if (len > VAULT_CHUNK || (!last && len != VAULT_CHUNK))
		return -EINVAL;
	chunk_iv(nonce, aad, id, index, last);
	return gcm(true, dk, nonce, aad, sizeof(aad), in, len, out, out + len);
}

int vault_chunk_open(const uint8_t dk[VAULT_KEY_LEN], uint32_t id, uint32_t index, bool last, const uint8_t *in,
		     size_t len, void *out)
{
	uint8_t nonce[12], aad[29], tag[16];
	int r;

	if (len < VAULT_TAG || len > VAULT_SEALED_CHUNK || (!last && len != VAULT_SEALED_CHUNK))
		return -EBADMSG;
	chunk_iv(nonce, aad, id, index, last);
	memcpy(tag, in + len - VAULT_TAG, VAULT_TAG);
	r = gcm(false, dk, nonce, aad, sizeof(aad), in, len - VAULT_TAG, out, tag);
	if (r < 0) {
		vault_wipe(out, len - VAULT_TAG);
		return -EBADMSG;
	}
	return (int)(len - VAULT_TAG);
}

int vault_meta_seal(const uint8_t mk[VAULT_KEY_LEN], uint32_t id, const void *in, size_t len, uint8_t *out)
{
	uint8_t aad[23];

	memcpy(aad, "scout-vault meta v1", 19);
	be32(aad + 19, id);
	if (vault_random(out, 12) < 0)
		return -EIO;
	return gcm(true, mk, out, aad, sizeof(aad), in, len, out + 12, out + 12 + len);
}

int vault_meta_open(const uint8_t mk[VAULT_KEY_LEN], uint32_t id, const uint8_t *in, size_t len, void *out)
{
	uint8_t aad[23], tag[16];

	if (len < VAULT_META_OVERHEAD)
		return -EBADMSG;
	memcpy(aad, "scout-vault meta v1", 19);
	be32(aad + 19, id);
	len -= VAULT_META_OVERHEAD;
	memcpy(tag, in + 12 + len, 16);
	if (gcm(false, mk, in, aad, sizeof(aad), in + 12, len, out, tag) < 0) {
		vault_wipe(out, len);
		return -EBADMSG;
	}
	return (int)len;
}
