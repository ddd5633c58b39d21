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

struct scout_check;

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

/* A secret's path as configured: "%d/NAME" is NAME in the systemd
 * credentials directory ($CREDENTIALS_DIRECTORY), anything else a plain
 * path (copied). -ENOKEY, with why, when a credential is named and the
 * directory is not set. */
int scout_credential_path(const char *spec, char **ret_path, char *why, size_t whylen);
/* Configure-time check of such a path under key: only %d/ may start with
 * %, a credential has a name, a relative path gets a warning. */
void scout_check_credential_path(struct scout_check *c, const char *key, const char *value);
/* Reads a one-line secret (a password) from path into buf (NUL-terminated,
 * *ret_len bytes, the line's end dropped). Refuses, with why naming the
 * file: not a regular file, empty, more than one line, a NUL, longer than
 * size - 1 bytes. buf is wiped on failure and past the secret on success.
 * Blocking: call at start-up, reload or from a pool job. */
int scout_secret_read_line(const char *path, char *buf, size_t size, size_t *ret_len, char *why, size_t whylen);
