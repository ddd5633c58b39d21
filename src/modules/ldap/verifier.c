/* offline_grace: when every directory server is down, a user whose
 * password the directory accepted within the grace period may still log
 * in, checked against what is kept here: a salted scrypt hash of that
 * password (N=2^14, r=8, p=1: about 16 MiB and tens of milliseconds, so a
 * pool job), never the password. The table lives in memory only and is
 * wiped as entries are replaced, forgotten or freed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "loop/list.h"
#include "modules/ldap/keymap.h"
#include "modules/ldap/verifier.h"

static int derive(const char *pw, size_t len, const uint8_t salt[16], uint8_t out[32])
{
	uint64_t n = 1u << 14, maxmem = 64u << 20;
	uint32_t r = 8, p = 1;

	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (!kdf)
		return -ENOSYS;
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOMEM;
	/* OSSL_PARAM wants non-const pointers; they are only read. */
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, 16),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
		OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
		OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
		OSSL_PARAM_construct_end(),
	};
	int ok = EVP_KDF_derive(ctx, out, 32, params) == 1;
	EVP_KDF_CTX_free(ctx);
	if (!ok) {
		OPENSSL_cleanse(out, 32);
		return -EIO;
	}
	return 0;
}

/* An empty password is never kept or matched: to AD a simple bind with
 * one is an anonymous bind, which "succeeds". */
int ldap_verifier_make(const char *pw, size_t len, uint64_t now_ms, struct ldap_verifier *ret)
{
	struct ldap_verifier v;
	int r;

	if (!pw || !len || !ret)
		return -EINVAL;
	if (RAND_bytes(v.salt, sizeof(v.salt)) != 1)
		return -EIO;
	if ((r = derive(pw, len, v.salt, v.hash)) < 0) {
		OPENSSL_cleanse(&v, sizeof(v));
		return r;
	}
	v.made_ms = now_ms;
	*ret = v;
	OPENSSL_cleanse(&v, sizeof(v));
	return 0;
}

bool ldap_verifier_check(const struct ldap_verifier *v, const char *pw, size_t len)
{
	uint8_t h[32];

	if (!v || !pw || !len || derive(pw, len, v->salt, h) < 0)
		return false;
	bool same = CRYPTO_memcmp(h, v->hash, sizeof(h)) == 0;
	OPENSSL_cleanse(h, sizeof(h));
	return same;
}

struct ventry {
	struct keymap_node node;
	struct scout_list lru; /* latest put first */
	char *name;
	struct ldap_verifier v;
};

struct vtable {
	struct keymap names;
	struct scout_list lru;
	size_t max;
};

int vtable_new(size_t max_entries, struct vtable **ret)
{
	if (!max_entries)
		return -EINVAL;
	struct vtable *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (keymap_init(&t->names, true) < 0) {
		free(t);
		return -ENOMEM;
	}
	scout_list_init(&t->lru);
	t->max = max_entries;
	*ret = t;
	return 0;
}

static void drop(struct vtable *t, struct ventry *e)
{
	keymap_remove(&t->names, &e->node);
	scout_list_remove(&e->lru);
	OPENSSL_cleanse(&e->v, sizeof(e->v));
	free(e->name);
	free(e);
}

void vtable_free(struct vtable *t)
{
	struct ventry *e, *tmp;

	if (!t)
		return;
	scout_list_foreach_safe (e, tmp, &t->lru, lru)
		drop(t, e);
	keymap_fini(&t->names);
	free(t);
}

static struct ventry *find(struct vtable *t, const char *name)
{
	struct keymap_node *n = t && name ? keymap_find(&t->names, name) : NULL;
	return n ? scout_container_of(n, struct ventry, node) : NULL;
}

int vtable_put(struct vtable *t, const char *name, const struct ldap_verifier *v)
{
	if (!t || !name || !*name || !v)
		return -EINVAL;
	struct ventry *e = find(t, name);
	if (e) {
		/* v may be the entry's own (from a get) */
		struct ldap_verifier copy = *v;
		OPENSSL_cleanse(&e->v, sizeof(e->v));
		e->v = copy;
		OPENSSL_cleanse(&copy, sizeof(copy));
		scout_list_remove(&e->lru);
		scout_list_insert_head(&t->lru, &e->lru);
		return 0;
	}
	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	if (!(e->name = strdup(name)) || keymap_insert(&t->names, &e->node, e->name) < 0) {
		free(e->name);
		free(e);
		return -ENOMEM;
	}
	e->v = *v;
	scout_list_insert_head(&t->lru, &e->lru);
	while (t->names.n > t->max)
		drop(t, scout_list_entry(scout_list_last(&t->lru), struct ventry, lru));
	return 0;
}

const struct ldap_verifier *vtable_get(struct vtable *t, const char *name, uint64_t now_ms, uint64_t grace_ms)
{
	struct ventry *e = find(t, name);

	if (!e || !grace_ms)
		return NULL;
	uint64_t end = e->v.made_ms + grace_ms < e->v.made_ms ? UINT64_MAX : e->v.made_ms + grace_ms;
	return now_ms < end ? &e->v : NULL;
}

void vtable_forget(struct vtable *t, const char *name)
{
	struct ventry *e = find(t, name);
	if (e)
		drop(t, e);
}
