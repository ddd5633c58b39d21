/* The users file: "name:hash" lines, read whole and checked line by line.
 * A table is immutable once loaded; a reload loads a new one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define USERS_MAX_NAME 256
#define USERS_MAX_FILE (1024 * 1024)

struct users_table;

/* Loads file. On failure err says where and why ("users:3: ..."); a
 * success may leave a warning in warn (a file others can read). */
int users_load(const char *file, struct users_table **ret_table, char *warn, size_t warnlen, char *err, size_t errlen);
/* The same over text in memory (tests, the fuzz target); file names it. */
int users_parse(const char *file, const char *text, size_t len, struct users_table **ret_table, char *err,
		size_t errlen);
void users_free(struct users_table *t);

/* The hash of name, or NULL. */
const char *users_find(const struct users_table *t, const char *name);
size_t users_count(const struct users_table *t);
const char *users_name_at(const struct users_table *t, size_t i);
const char *users_hash_at(const struct users_table *t, size_t i);
/* The crypt prefix most entries use ("$y$"), for a dummy hash like theirs;
 * "$y$" for an empty table. */
const char *users_scheme(const struct users_table *t);
/* "yescrypt", "sha512crypt", ... for a hash. */
const char *users_scheme_of(const char *hash);
/* Constant-time comparison of n bytes. */
bool users_equal(const char *a, const char *b, size_t n);
