/* The sizes of crypt.h under the names the vault's files use, and two
 * small helpers that need no key. */
#pragma once

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <errno.h>
#include <stddef.h>

#include "crypt.h"

#define VAULT_CHUNK SCOUT_VAULT_CHUNK
#define VAULT_TAG SCOUT_VAULT_TAG_LEN
#define VAULT_SEALED_CHUNK SCOUT_VAULT_CHUNK_SEALED
#define VAULT_WRAP_LEN SCOUT_VAULT_WRAPPED_LEN
#define VAULT_META_OVERHEAD SCOUT_VAULT_META_OVERHEAD

static inline void vault_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

static inline int vault_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}
