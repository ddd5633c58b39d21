/* Failed attempts per key (a user name, a source) within a sliding window:
 * each key keeps the times of its last max_failures failures in a ring,
 * and is throttled while the oldest of them is still inside the window,
 * so the throttle lifts exactly when that failure leaves it. Keys are on
 * a list by their latest failure: the ones whose every failure has left
 * the window are dropped from its end, and past max_keys the stalest goes
 * (a flood of new names or sources cannot grow the table; a key being
 * attacked now is the freshest, not the one evicted).
 *
 * max_failures 0 turns the limit off. Keys are compared as given: the
 * caller folds a user name's case. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop/list.h"
#include "modules/ldap/keymap.h"
#include "modules/ldap/limit.h"

struct rkey {
	struct keymap_node node;
	struct scout_list lru; /* latest failure first */
	char *key;
	size_t n;    /* failures in the ring */
	size_t head; /* the oldest */
	uint64_t t[];
};

struct ratelimit {
	struct keymap keys;
	struct scout_list lru;
	unsigned max_failures;
	uint64_t window_ms;
	size_t max_keys;
};

int ratelimit_new(unsigned max_failures, uint64_t window_ms, size_t max_keys, struct ratelimit **ret)
{
	if (!max_keys || max_failures > 1u << 16)
		return -EINVAL;
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	if (keymap_init(&rl->keys, false) < 0) {
		free(rl);
		return -ENOMEM;
	}
	scout_list_init(&rl->lru);
	rl->max_failures = max_failures;
	rl->window_ms = window_ms;
	rl->max_keys = max_keys;
	*ret = rl;
	return 0;
}

static void drop(struct ratelimit *rl, struct rkey *k)
{
	keymap_remove(&rl->keys, &k->node);
	scout_list_remove(&k->lru);
	free(k->key);
	free(k);
}

void ratelimit_free(struct ratelimit *rl)
{
	struct rkey *k, *tmp;

	if (!rl)
		return;
	scout_list_foreach_safe (k, tmp, &rl->lru, lru)
		drop(rl, k);
	keymap_fini(&rl->keys);
	free(rl);
}

static uint64_t until(const struct ratelimit *rl, uint64_t t)
{
	return t + rl->window_ms < t ? UINT64_MAX : t + rl->window_ms;
}

static uint64_t newest(const struct ratelimit *rl, const struct rkey *k)
{
	return k->t[(k->head + k->n - 1) % rl->max_failures];
}

/* Every failure of k has left the window. */
static bool stale(const struct ratelimit *rl, const struct rkey *k, uint64_t now_ms)
{
	return until(rl, newest(rl, k)) <= now_ms;
}

static struct rkey *find(struct ratelimit *rl, const char *key)
{
	struct keymap_node *n = key ? keymap_find(&rl->keys, key) : NULL;
	return n ? scout_container_of(n, struct rkey, node) : NULL;
}

bool ratelimit_blocked(struct ratelimit *rl, const char *key, uint64_t now_ms, uint64_t *retry_after_ms)
{
	if (!rl || !rl->max_failures)
		return false;
	struct rkey *k = find(rl, key);
	if (!k)
		return false;
	if (stale(rl, k, now_ms)) {
		drop(rl, k);
		return false;
	}
	if (k->n < rl->max_failures)
		return false;
	uint64_t end = until(rl, k->t[k->head]);
	if (end <= now_ms)
		return false;
	if (retry_after_ms)
		*retry_after_ms = end - now_ms;
	return true;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, uint64_t now_ms)
{
	if (!rl || !rl->max_failures || !key)
		return;
	struct rkey *k = find(rl, key);
	if (!k) {
		struct scout_list *last;
		while ((last = scout_list_last(&rl->lru))) {
			struct rkey *old = scout_list_entry(last, struct rkey, lru);
			if (rl->keys.n < rl->max_keys && !stale(rl, old, now_ms))
				break;
			drop(rl, old);
		}
		k = calloc(1, sizeof(*k) + rl->max_failures * sizeof(k->t[0]));
		if (!k)
			return;
		if (!(k->key = strdup(key)) || keymap_insert(&rl->keys, &k->node, k->key) < 0) {
			free(k->key);
			free(k);
			return;
		}
	}
	if (k->n < rl->max_failures) {
		k->t[(k->head + k->n) % rl->max_failures] = now_ms;
		k->n++;
	} else {
		k->t[k->head] = now_ms;
		k->head = (k->head + 1) % rl->max_failures;
	}
	scout_list_remove(&k->lru);
	scout_list_insert_head(&rl->lru, &k->lru);
}

void ratelimit_clear(struct ratelimit *rl, const char *key)
{
	struct rkey *k = rl ? find(rl, key) : NULL;
	if (k)
		drop(rl, k);
}

size_t ratelimit_count(const struct ratelimit *rl)
{
	return rl ? rl->keys.n : 0;
}
