/* Failed attempts per key (a user name, a source address) within a
 * sliding window: past max_failures the key is throttled until the oldest
 * failure leaves the window. Bounded: past max_keys the stalest key goes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

int ratelimit_new(unsigned max_failures, uint64_t window_ms, size_t max_keys, struct ratelimit **ret);
void ratelimit_free(struct ratelimit *rl);
/* true when key has max_failures within the window; *retry_after_ms (if
 * not NULL) then says when it clears. */
bool ratelimit_blocked(struct ratelimit *rl, const char *key, uint64_t now_ms, uint64_t *retry_after_ms);
void ratelimit_fail(struct ratelimit *rl, const char *key, uint64_t now_ms);
void ratelimit_clear(struct ratelimit *rl, const char *key);
size_t ratelimit_count(const struct ratelimit *rl);
