/* Configuration model: an INI file (parsed by inih) checked against a schema
 * of sections and typed options, giving every problem as "FILE:LINE: message".
 *
 * Each section's options are parsed straight into a struct the section owner
 * declares (nginx-style offsets), so a module reads plain fields, never
 * strings. The core knows no section by name: the schema is handed in. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Problems found while loading, each "FILE:LINE: message"; warnings read
 * "FILE:LINE: warning: message" and do not make a load fail. */
struct scout_diag {
	char **msgs;
	unsigned *lines;
	bool *warning; /* [n]: msgs[i] is a warning */
	size_t n, cap;
	size_t warnings; /* how many of n */
};

__attribute__((format(printf, 4, 5))) void scout_diag_add(struct scout_diag *d, const char *file, unsigned line,
							  const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void scout_diag_warn(struct scout_diag *d, const char *file, unsigned line,
							   const char *fmt, ...);
/* Errors only. */
static inline size_t scout_diag_errors(const struct scout_diag *d)
{
	return d->n - d->warnings;
}
void scout_diag_free(struct scout_diag *d);
/* Orders the messages by line number (stable). */
void scout_diag_sort(struct scout_diag *d);

enum scout_opt_type {
	SCOUT_OPT_BOOL,     /* bool: yes|no|true|false|on|off|1|0 */
	SCOUT_OPT_INT,      /* int64_t within [min, max] */
	SCOUT_OPT_DURATION, /* uint64_t milliseconds: 500ms, 30s, 5m, 1h, 2d; bare = seconds */
	SCOUT_OPT_SIZE,     /* uint64_t bytes: 512K, 100M, 1G, 1T; bare = bytes */
	SCOUT_OPT_STRING,   /* char *, owned by the config */
	SCOUT_OPT_PATH,     /* char *, a file system path, owned by the config */
	SCOUT_OPT_ENUM,     /* int: index into choices */
	SCOUT_OPT_CUSTOM,   /* parse() fills the field; free() releases it */
};

struct scout_option {
	const char *key;
	enum scout_opt_type type;
	size_t offset;              /* of the field in the section's struct */
	const char *def;            /* default, as written in a file; NULL makes the key required */
	int64_t min, max;           /* INT, DURATION (ms) and SIZE (bytes); both 0: unbounded */
	const char *const *choices; /* ENUM: NULL-terminated */
	/* CUSTOM: parse value into field; on error write a message saying what
	 * is expected into err and return a negative errno. */
	int (*parse)(const char *value, void *field, char *err, size_t errlen);
	void (*free)(void *field);
	bool secret;      /* never echo the value in a message */
	const char *help; /* one line for docs */
};

struct scout_check;

/* One [section] of the file. */
struct scout_section {
	const char *name;
	const struct scout_option *options; /* ends with a zeroed entry */
	size_t conf_size;
	/* Module sections get an implicit "enabled" key; required keys are
	 * enforced only when the section is enabled. */
	bool has_enabled;
	bool default_enabled;
	/* Cross-key validation and derived fields after every key parsed; no
	 * I/O, may run off the loop thread. Report with scout_check_error(). */
	void (*check)(void *conf, struct scout_check *c);
};

struct scout_schema {
	const struct scout_section *const *sections;
	size_t n;
};

/* A loaded configuration: one struct per section, defaults filled in. */
struct scout_config {
	char *path; /* NULL for the embedded default */
	const struct scout_schema *schema;
	void **confs;            /* [schema->n] */
	bool *enabled;           /* [schema->n] */
	unsigned **key_lines;    /* [schema->n][options]: 0 where defaulted */
	unsigned *section_lines; /* first [name] line, 0 if absent */
};

struct scout_check {
	struct scout_diag *diag;
	const char *file;
	const struct scout_section *section;
	const unsigned *key_lines;
	unsigned section_line;
	bool enabled;
};

/* Reports a problem at the line of key (or of the section when key is NULL
 * or was not written in the file). */
__attribute__((format(printf, 3, 4))) void scout_check_error(struct scout_check *c, const char *key, const char *fmt,
							     ...);
/* Reports something allowed but probably not meant (scanning public
 * address space, say): shown by --check-config and logged at start and
 * reload, never a reason to refuse the file. */
__attribute__((format(printf, 3, 4))) void scout_check_warn(struct scout_check *c, const char *key, const char *fmt,
							    ...);

/* Parses text (len bytes, need not be NUL-terminated) named file in messages.
 * Returns 0 and the config, or -EINVAL with every problem in diag. */
int scout_config_parse(const struct scout_schema *schema, const char *file, const char *text, size_t len,
		       struct scout_diag *diag, struct scout_config **ret_config);
/* Reads path (blocking: call at start-up or off the loop) and parses it. */
int scout_config_load(const struct scout_schema *schema, const char *path, struct scout_diag *diag,
		      struct scout_config **ret_config);
void scout_config_free(struct scout_config *config);

/* Takes section i's struct out of the config: the caller now owns it and
 * frees it with scout_section_conf_free(). */
void *scout_config_take(struct scout_config *config, size_t i);
void scout_section_conf_free(const struct scout_section *section, void *conf);

/* Index of a section in the schema, or -1. */
int scout_schema_find(const struct scout_schema *schema, const char *name);

/* Formatting helpers shared with status and docs. */
int scout_parse_bool(const char *s, bool *ret);
int scout_parse_duration_ms(const char *s, uint64_t *ret_ms);
int scout_parse_size(const char *s, uint64_t *ret_bytes);
