/* Users as the directory described them, by name (case-insensitive) and
 * by card number, kept for cache_for: what a login needs without asking
 * the directory again. Never a password. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ldap_user {
	char *name; /* the account name (name_attribute) */
	char *dn;
	char *display; /* NULL when absent, as mail and card */
	char *mail;
	char *card;
	char **groups; /* group names (cn) */
	size_t ngroups;
	uint32_t uac; /* AD userAccountControl (with the computed lockout/expiry bits); 0 elsewhere */
};

/* Frees the members and u itself. */
void ldap_user_free(struct ldap_user *u);
/* A deep copy, or NULL. */
struct ldap_user *ldap_user_dup(const struct ldap_user *u);

struct ucache;

/* Past max_entries the least recently used goes. */
int ucache_new(size_t max_entries, struct ucache **ret);
void ucache_free(struct ucache *c);
/* Borrowed until the next put, forget or free; NULL when absent or expired. */
const struct ldap_user *ucache_get(struct ucache *c, const char *name, uint64_t now_ms);
const struct ldap_user *ucache_get_card(struct ucache *c, const char *card, uint64_t now_ms);
/* Copies u; replaces an entry of the same name. */
int ucache_put(struct ucache *c, const struct ldap_user *u, uint64_t now_ms, uint64_t ttl_ms);
void ucache_forget(struct ucache *c, const char *name);
size_t ucache_count(const struct ucache *c);
