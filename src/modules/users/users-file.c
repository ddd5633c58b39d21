/* The users file: parsing and lookup. Every line is checked; the first bad
 * one fails the load with FILE:LINE and what is wrong, so a typo never
 * leaves an account silently unusable or a weak hash silently accepted. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop/utf8.h"
#include "users-file.h"

struct user {
	char *name;
	char *hash;
	unsigned line;
};

struct users_table {
	struct user *v;
	size_t n;
	char scheme[8];
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct user *)a)->name, ((const struct user *)b)->name);
}

void users_free(struct users_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].name);
		explicit_bzero(t->v[i].hash, strlen(t->v[i].hash));
		free(t->v[i].hash);
	}
	free(t->v);
	free(t);
}

/* A name people type at a printer: UTF-8, no control characters, no ':'
 * and no white space at either end. */
static const char *name_problem(const char *s, size_t len)
{
	if (len == 0)
		return "empty user name";
	if (len > USERS_MAX_NAME)
		return "user name longer than 256 bytes";
	if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t')
		return "white space around the user name";
	if (!scout_utf8_valid(s, len, false))
		return "user name is not UTF-8";
	if (!scout_utf8_valid(s, len, true))
		return "control character in the user name";
	return NULL;
}

static const char *hash_problem(const char *hash)
{
	if (hash[0] != '$')
		return "the hash is not a crypt(3) hash such as mkpasswd or openssl passwd -6 make";
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return NULL;
	case CRYPT_SALT_METHOD_LEGACY:
	case CRYPT_SALT_TOO_CHEAP:
		return "the hash uses a weak scheme: make it with mkpasswd (yescrypt) or openssl passwd -6";
	default:
		return "the hash is not one this system's crypt(3) knows";
	}
}

/* Adds one "name:hash" line; 0, or -EINVAL with err set. */
static int add_line(struct users_table *t, const char *file, unsigned lineno, char *line, char *err, size_t errlen)
{
	char *colon = strchr(line, ':');
	const char *why;

	if (!colon || strchr(colon + 1, ':')) {
		snprintf(err, errlen, "%s:%u: expected name:hash", file, lineno);
		return -EINVAL;
	}
	*colon = '\0';
	if ((why = name_problem(line, (size_t)(colon - line))) || (why = hash_problem(colon + 1))) {
		snprintf(err, errlen, "%s:%u: %s", file, lineno, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, line) == 0) {
			snprintf(err, errlen, "%s:%u: user '%s' is on line %u already", file, lineno, line,
				 t->v[i].line);
			return -EINVAL;
		}
	}
	struct user *v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	v[t->n] = (struct user){.name = strdup(line), .hash = strdup(colon + 1), .line = lineno};
	t->n++;
	if (!v[t->n - 1].name || !v[t->n - 1].hash)
		return -ENOMEM;
	return 0;
}

/* The prefix of a hash up to its second '$' ("$y$", "$2b$"). */
static size_t prefix_len(const char *hash)
{
	const char *end = strchr(hash + 1, '$');
	return end ? (size_t)(end - hash) + 1 : 0;
}

static void pick_scheme(struct users_table *t)
{
	size_t best = 0, best_n = 0;

	for (size_t i = 0; i < t->n; i++) {
		size_t len = prefix_len(t->v[i].hash), same = 0;
		for (size_t j = 0; j < t->n; j++)
			same += prefix_len(t->v[j].hash) == len && strncmp(t->v[i].hash, t->v[j].hash, len) == 0;
		if (same > best_n && len < sizeof(t->scheme)) {
			best = i;
			best_n = same;
		}
	}
	if (best_n)
		snprintf(t->scheme, sizeof(t->scheme), "%.*s", (int)prefix_len(t->v[best].hash), t->v[best].hash);
	else
		snprintf(t->scheme, sizeof(t->scheme), "$y$");
}

int users_parse(const char *file, const char *text, size_t len, struct users_table **ret_table, char *err,
		size_t errlen)
{
	struct users_table *t = calloc(1, sizeof(*t));
	unsigned lineno = 0;
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (size_t off = 0; off < len && r == 0;) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - text - off) : len - off;
		lineno++;
		char *line = malloc(n + 1); /* not strndup: the line may hold a NUL */
		if (!line) {
			r = -ENOMEM;
			break;
		}
		memcpy(line, text + off, n);
		line[n] = '\0';
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		const char *p = line + strspn(line, " \t");
		if (strlen(line) != n) {
			snprintf(err, errlen, "%s:%u: NUL byte in the line", file, lineno);
			r = -EINVAL;
		} else if (*p && *p != '#') {
			r = add_line(t, file, lineno, line, err, errlen);
		}
		explicit_bzero(line, n + 1);
		free(line);
		off = nl ? (size_t)(nl - text) + 1 : len;
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", file);
	if (r < 0) {
		users_free(t);
		return r;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), by_name);
	pick_scheme(t);
	*ret_table = t;
	return 0;
}

int users_load(const char *file, struct users_table **ret_table, char *warn, size_t warnlen, char *err, size_t errlen)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	char *text = NULL;
	ssize_t got = 0;
	int r;

	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", file);
		r = -EINVAL;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: others may write it (mode %03o): anyone could add an account; chmod 0640",
			 file, (unsigned)(st.st_mode & 0777));
		r = -EPERM;
	} else if (st.st_size > USERS_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than 1 MiB", file);
		r = -EFBIG;
	} else if (!(text = malloc((size_t)st.st_size + 1))) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", file);
	} else {
		while ((size_t)got < (size_t)st.st_size) {
			ssize_t n = read(fd, text + got, (size_t)st.st_size - (size_t)got);
			if (n <= 0)
				break;
			got += n;
		}
		r = users_parse(file, text, (size_t)got, ret_table, err, errlen);
		if (r == 0 && (st.st_mode & S_IROTH))
			snprintf(warn, warnlen,
				 "%s: every local user may read the password hashes (mode %03o); chmod 0640", file,
				 (unsigned)(st.st_mode & 0777));
		explicit_bzero(text, (size_t)got);
	}
	free(text);
	close(fd);
	return r;
}

const char *users_find(const struct users_table *t, const char *name)
{
	struct user key = {.name = (char *)name};
	const struct user *u = t->n ? bsearch(&key, t->v, t->n, sizeof(*t->v), by_name) : NULL;
	return u ? u->hash : NULL;
}

size_t users_count(const struct users_table *t)
{
	return t ? t->n : 0;
}

const char *users_name_at(const struct users_table *t, size_t i)
{
	return t->v[i].name;
}

const char *users_hash_at(const struct users_table *t, size_t i)
{
	return t->v[i].hash;
}

const char *users_scheme(const struct users_table *t)
{
	return t->scheme;
}

const char *users_scheme_of(const char *hash)
{
	static const struct {
		const char *prefix, *name;
	} schemes[] = {
		{"$y$", "yescrypt"},     {"$gy$", "gost-yescrypt"}, {"$7$", "scrypt"},      {"$2b$", "bcrypt"},
		{"$2a$", "bcrypt"},      {"$2y$", "bcrypt"},        {"$6$", "sha512crypt"}, {"$5$", "sha256crypt"},
		{"$sha1$", "sha1crypt"}, {"$md5", "sunmd5"},        {"$1$", "md5crypt"},
	};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(hash, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
			return schemes[i].name;
	return "other";
}

bool users_equal(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}
