/* A string-keyed hash for the ldap module's tables (users by name and by
 * card, rate-limit keys, offline verifiers): intrusive, so that an entry
 * sits in several maps and on an LRU list without further allocation.
 * Keys are compared as given or ASCII case-insensitively (user names in a
 * directory: AD and OpenLDAP compare them so). The hash is FNV-1a over the
 * folded bytes, seeded per map at random: keys come from people at a
 * printer, and a fixed hash would let them choose colliding names. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

struct keymap_node {
	struct keymap_node *next;
	uint64_t hash;
	const char *key; /* owned by the entry */
};

struct keymap {
	struct keymap_node **b;
	size_t nb; /* a power of two */
	size_t n;
	uint64_t seed;
	bool ci;
};

static inline int keymap_init(struct keymap *m, bool ci)
{
	m->nb = 16;
	m->n = 0;
	m->ci = ci;
	m->b = calloc(m->nb, sizeof(*m->b));
	if (!m->b)
		return -ENOMEM;
	if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
		m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15u;
	return 0;
}

/* Frees the buckets; the entries are the caller's. */
static inline void keymap_fini(struct keymap *m)
{
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

static inline uint64_t keymap_hash(const struct keymap *m, const char *key)
{
	uint64_t h = 0xcbf29ce484222325u ^ m->seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		unsigned char c = *p;
		if (m->ci && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 0x100000001b3u;
	}
	return h ^ (h >> 29);
}

static inline bool keymap_same(const struct keymap *m, const char *a, const char *b)
{
	return m->ci ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
}

static inline struct keymap_node *keymap_find(const struct keymap *m, const char *key)
{
	uint64_t h = keymap_hash(m, key);

	for (struct keymap_node *n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->hash == h && keymap_same(m, n->key, key))
			return n;
	return NULL;
}

/* Adds n under key (borrowed from n's entry: it must live as long as n is
 * in the map). The caller has made sure the key is not there yet. Growing
 * may fail (-ENOMEM) only before anything changed. */
static inline int keymap_insert(struct keymap *m, struct keymap_node *n, const char *key)
{
	if (m->n >= m->nb) {
		size_t nb = m->nb * 2;
		struct keymap_node **b = calloc(nb, sizeof(*b));
		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < m->nb; i++)
			for (struct keymap_node *x = m->b[i], *next; x; x = next) {
				next = x->next;
				x->next = b[x->hash & (nb - 1)];
				b[x->hash & (nb - 1)] = x;
			}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	n->key = key;
	n->hash = keymap_hash(m, key);
	n->next = m->b[n->hash & (m->nb - 1)];
	m->b[n->hash & (m->nb - 1)] = n;
	m->n++;
	return 0;
}

static inline void keymap_remove(struct keymap *m, struct keymap_node *n)
{
	for (struct keymap_node **p = &m->b[n->hash & (m->nb - 1)]; *p; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			n->next = NULL;
			m->n--;
			return;
		}
}
