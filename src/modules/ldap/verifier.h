/* offline_grace: when every directory server is down, a password that
 * matched within the grace period is checked against a salted scrypt
 * verifier (OpenSSL's EVP_KDF "SCRYPT", N=2^14, r=8, p=1, 16-byte salt,
 * 32-byte output) kept in memory only, wiped when freed. Making and
 * checking one is slow on purpose: call them from a pool job. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ldap_verifier {
	uint8_t salt[16];
	uint8_t hash[32];
	uint64_t made_ms;
};

int ldap_verifier_make(const char *pw, size_t len, uint64_t now_ms, struct ldap_verifier *ret);
/* Constant-time compare of the derived hash. */
bool ldap_verifier_check(const struct ldap_verifier *v, const char *pw, size_t len);

/* Verifiers by user name (case-insensitive), on the loop thread. */
struct vtable;
int vtable_new(size_t max_entries, struct vtable **ret);
void vtable_free(struct vtable *t); /* wipes */
/* Copies v, replacing the user's previous one. */
int vtable_put(struct vtable *t, const char *name, const struct ldap_verifier *v);
/* NULL when absent or made before now_ms - grace_ms. Borrowed until the next put/forget/free. */
const struct ldap_verifier *vtable_get(struct vtable *t, const char *name, uint64_t now_ms, uint64_t grace_ms);
void vtable_forget(struct vtable *t, const char *name);
