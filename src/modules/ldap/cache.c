/* The users the directory described, kept for cache_for so that a login
 * or a card lookup does not ask the directory again: by name (ASCII
 * case-insensitive, as the directory compares them) and by card number,
 * least recently used first out past max_entries. Never a password: a
 * ldap_user has no field for one.
 *
 * An expired entry is not freed by a get (what an earlier get returned
 * stays valid until the next put or forget, as cache.h says); puts drop
 * it, the LRU bound does, or a fresh put of the same name replaces it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop/list.h"
#include "modules/ldap/cache.h"
#include "modules/ldap/keymap.h"

struct centry {
	struct ldap_user *u;
	uint64_t expires_ms;
	struct keymap_node by_name;
	struct keymap_node by_card; /* in cards only when u->card is not NULL or "" */
	struct scout_list lru;      /* most recently used first */
};

struct ucache {
	struct keymap names;
	struct keymap cards;
	struct scout_list lru;
	size_t max;
};

void ldap_user_free(struct ldap_user *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->dn);
	free(u->display);
	free(u->mail);
	free(u->card);
	for (size_t i = 0; i < u->ngroups; i++)
		free(u->groups[i]);
	free(u->groups);
	free(u);
}

static int dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	return (*ret = strdup(s)) ? 0 : -ENOMEM;
}

struct ldap_user *ldap_user_dup(const struct ldap_user *u)
{
	if (!u)
		return NULL;
	struct ldap_user *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->uac = u->uac;
	if (dup_str(u->name, &c->name) < 0 || dup_str(u->dn, &c->dn) < 0 || dup_str(u->display, &c->display) < 0 ||
	    dup_str(u->mail, &c->mail) < 0 || dup_str(u->card, &c->card) < 0)
		goto fail;
	if (u->ngroups) {
		if (!(c->groups = calloc(u->ngroups, sizeof(*c->groups))))
			goto fail;
		for (; c->ngroups < u->ngroups; c->ngroups++)
			if (dup_str(u->groups[c->ngroups], &c->groups[c->ngroups]) < 0)
				goto fail;
	}
	return c;
fail:
	ldap_user_free(c);
	return NULL;
}

static bool has_card(const struct ldap_user *u)
{
	return u->card && *u->card;
}

int ucache_new(size_t max_entries, struct ucache **ret)
{
	if (!max_entries)
		return -EINVAL;
	struct ucache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (keymap_init(&c->names, true) < 0 || keymap_init(&c->cards, true) < 0) {
		keymap_fini(&c->names);
		free(c);
		return -ENOMEM;
	}
	scout_list_init(&c->lru);
	c->max = max_entries;
	*ret = c;
	return 0;
}

static void drop(struct ucache *c, struct centry *e)
{
	keymap_remove(&c->names, &e->by_name);
	if (has_card(e->u))
		keymap_remove(&c->cards, &e->by_card);
	scout_list_remove(&e->lru);
	ldap_user_free(e->u);
	free(e);
}

void ucache_free(struct ucache *c)
{
	struct centry *e, *tmp;

	if (!c)
		return;
	scout_list_foreach_safe (e, tmp, &c->lru, lru)
		drop(c, e);
	keymap_fini(&c->names);
	keymap_fini(&c->cards);
	free(c);
}

static const struct ldap_user *hit(struct ucache *c, struct centry *e, uint64_t now_ms)
{
	if (now_ms >= e->expires_ms)
		return NULL;
	scout_list_remove(&e->lru);
	scout_list_insert_head(&c->lru, &e->lru);
	return e->u;
}

const struct ldap_user *ucache_get(struct ucache *c, const char *name, uint64_t now_ms)
{
	if (!c || !name)
		return NULL;
	struct keymap_node *n = keymap_find(&c->names, name);
	return n ? hit(c, scout_container_of(n, struct centry, by_name), now_ms) : NULL;
}

const struct ldap_user *ucache_get_card(struct ucache *c, const char *card, uint64_t now_ms)
{
	if (!c || !card || !*card)
		return NULL;
	struct keymap_node *n = keymap_find(&c->cards, card);
	return n ? hit(c, scout_container_of(n, struct centry, by_card), now_ms) : NULL;
}

void ucache_forget(struct ucache *c, const char *name)
{
	if (!c || !name)
		return;
	struct keymap_node *n = keymap_find(&c->names, name);
	if (n)
		drop(c, scout_container_of(n, struct centry, by_name));
}

int ucache_put(struct ucache *c, const struct ldap_user *u, uint64_t now_ms, uint64_t ttl_ms)
{
	if (!c || !u || !u->name || !*u->name)
		return -EINVAL;
	if (!ttl_ms) {
		ucache_forget(c, u->name);
		return 0;
	}
	/* copied first: u may be what an earlier get returned, which the
	 * replacing below frees */
	struct centry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (!(e->u = ldap_user_dup(u))) {
		free(e);
		return -ENOMEM;
	}
	ucache_forget(c, e->u->name);
	/* A card the directory now gives this user is no longer the other's:
	 * that entry is stale as a whole. */
	if (has_card(e->u)) {
		struct keymap_node *n = keymap_find(&c->cards, e->u->card);
		if (n)
			drop(c, scout_container_of(n, struct centry, by_card));
	}
	e->expires_ms = now_ms + ttl_ms < now_ms ? UINT64_MAX : now_ms + ttl_ms;
	if (keymap_insert(&c->names, &e->by_name, e->u->name) < 0)
		goto fail;
	if (has_card(e->u) && keymap_insert(&c->cards, &e->by_card, e->u->card) < 0) {
		keymap_remove(&c->names, &e->by_name);
		goto fail;
	}
	scout_list_insert_head(&c->lru, &e->lru);

	/* past the bound the least recently used goes, and the expired ones
	 * that have sunk to the end with it */
	struct scout_list *last;
	while ((last = scout_list_last(&c->lru)) && last != &e->lru) {
		struct centry *old = scout_list_entry(last, struct centry, lru);
		if (c->names.n <= c->max && now_ms < old->expires_ms)
			break;
		drop(c, old);
	}
	return 0;
fail:
	ldap_user_free(e->u);
	free(e);
	return -ENOMEM;
}

size_t ucache_count(const struct ucache *c)
{
	return c ? c->names.n : 0;
}
