/* Secrets in memory: passwords pass through jansson (the status socket's
 * requests, scoutctl's) and through plain buffers. jansson frees its
 * strings and parse buffers without clearing them, so a process that may
 * hold a secret routes jansson's frees through scout_free_wiped (call
 * scout_json_wipe_frees() first thing in main), and its own buffers through
 * explicit_bzero before free. A freed block no longer holds the secret for
 * a core file or a later allocation to show. */
#pragma once

#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static inline void scout_free_wiped(void *p)
{
	if (p) {
		explicit_bzero(p, malloc_usable_size(p));
		free(p);
	}
}

static inline void scout_json_wipe_frees(void)
{
	json_set_alloc_funcs(malloc, scout_free_wiped);
}
