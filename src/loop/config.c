/* INI loading against a schema. inih tokenises (comments, trimming, BOM,
 * indented continuation lines); this file feeds it lines from memory so it
 * knows every line number, classifies each line itself so that every syntax
 * problem is reported rather than only the first, then turns the raw strings
 * into typed fields and runs each section's cross-key check. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONFIG_BYTES (1024 * 1024)

static void diag_push(struct scout_diag *d, bool warning, const char *file, unsigned line, const char *fmt, va_list ap)
{
	char msg[512];
	int n;

	/* line 0: about the file as a whole (cannot open it, too large) */
	n = line ? snprintf(msg, sizeof(msg), "%s:%u: %s", file, line, warning ? "warning: " : "")
		 : snprintf(msg, sizeof(msg), "%s: %s", file, warning ? "warning: " : "");
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1; /* a long path: the message is cut */
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	/* One problem per line, whatever a check callback quotes: a value
	 * joined from continuation lines holds '\n', any value may hold escapes. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		char **m = realloc(d->msgs, cap * sizeof(*m));
		if (!m)
			return;
		d->msgs = m;
		unsigned *l = realloc(d->lines, cap * sizeof(*l));
		if (!l)
			return;
		d->lines = l;
		bool *w = realloc(d->warning, cap * sizeof(*w));
		if (!w)
			return;
		d->warning = w;
		d->cap = cap;
	}
	char *copy = strdup(msg);
	if (copy) {
		d->lines[d->n] = line;
		d->warning[d->n] = warning;
		d->msgs[d->n++] = copy;
		d->warnings += warning;
	}
}

void scout_diag_add(struct scout_diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(d, false, file, line, fmt, ap);
	va_end(ap);
}

void scout_diag_warn(struct scout_diag *d, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_push(d, true, file, line, fmt, ap);
	va_end(ap);
}

void scout_diag_sort(struct scout_diag *d)
{
	/* insertion sort: a handful of messages, and it keeps equal lines in order */
	for (size_t i = 1; i < d->n; i++) {
		char *m = d->msgs[i];
		unsigned l = d->lines[i];
		bool w = d->warning[i];
		size_t j = i;
		for (; j > 0 && d->lines[j - 1] > l; j--) {
			d->msgs[j] = d->msgs[j - 1];
			d->lines[j] = d->lines[j - 1];
			d->warning[j] = d->warning[j - 1];
		}
		d->msgs[j] = m;
		d->lines[j] = l;
		d->warning[j] = w;
	}
}

void scout_diag_free(struct scout_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	free(d->lines);
	free(d->warning);
	*d = (struct scout_diag){0};
}

/* ---- value parsers ---------------------------------------------------- */

int scout_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parses "<digits><unit>" with the unit looked up in units; a bare number
 * takes bare_mult. Rejects overflow, signs, fractions and trailing junk. */
static int parse_scaled(const char *s, const char *const *names, const uint64_t *mults, uint64_t bare_mult,
			uint64_t *ret)
{
	uint64_t v = 0, mult = bare_mult;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	while (*p == ' ')
		p++;
	if (*p) {
		size_t i;
		for (i = 0; names[i]; i++)
			if (strcasecmp(p, names[i]) == 0)
				break;
		if (!names[i])
			return -EINVAL;
		mult = mults[i];
	}
	if (mult && v > UINT64_MAX / mult)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

int scout_parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	static const char *const names[] = {"ms", "s", "sec", "m", "min", "h", "d", NULL};
	static const uint64_t mults[] = {1, 1000, 1000, 60000, 60000, 3600000, 86400000};
	return parse_scaled(s, names, mults, 1000, ret_ms);
}

int scout_parse_size(const char *s, uint64_t *ret_bytes)
{
	static const char *const names[] = {"b", "k",  "kb",  "kib", "m",  "mb",  "mib",
					    "g", "gb", "gib", "t",   "tb", "tib", NULL};
	static const uint64_t mults[] = {1,          1ull << 10, 1ull << 10, 1ull << 10, 1ull << 20,
					 1ull << 20, 1ull << 20, 1ull << 30, 1ull << 30, 1ull << 30,
					 1ull << 40, 1ull << 40, 1ull << 40};
	return parse_scaled(s, names, mults, 1, ret_bytes);
}

static int parse_int(const char *s, int64_t *ret)
{
	char *end;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end || !(isdigit((unsigned char)*s) || *s == '-'))
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*ret = v;
	return 0;
}

/* ---- parse state ------------------------------------------------------ */

struct raw {
	char *value;
	unsigned line;
};

struct parse {
	const struct scout_schema *schema;
	const char *file;
	struct scout_diag *diag;
	const char *text;
	size_t len, pos;
	unsigned line;           /* of the line the reader handed out last */
	bool line_indented;      /* that line starts with blank space */
	int section;             /* schema index; -1 unknown, -2 none yet */
	bool have_key;           /* a key was seen in this section (for continuations) */
	int last_opt;            /* option of the previous key line, -1 = enabled */
	unsigned *section_lines; /* [n] */
	struct raw **raw;        /* [n][options + 1]; the last one is "enabled" */
};

static size_t n_options(const struct scout_section *s)
{
	size_t n = 0;
	while (s->options && s->options[n].key)
		n++;
	return n;
}

/* Prints a value in a message safely: printable ASCII, cut at 60. */
static const char *shown(const char *v, char *buf, size_t size)
{
	size_t j = 0;

	for (size_t i = 0; v[i] && j + 4 < size; i++) {
		if (i == 60) {
			memcpy(buf + j, "...", 3);
			j += 3;
			break;
		}
		buf[j++] = isprint((unsigned char)v[i]) ? v[i] : '?';
	}
	buf[j] = 0;
	return buf;
}

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Reports a line that inih would take wrongly or not at all: a NUL byte,
 * a carriage return inside it, more than num - 2 characters. True when it
 * did (the line is then handed over empty). */
static bool bad_raw_line(struct parse *p, const char *start, size_t body, int num)
{
	if (memchr(start, 0, body)) {
		scout_diag_add(p->diag, p->file, p->line, "NUL byte in line");
		return true;
	}
	/* Before the length check: a file saved with CR-only line endings is
	 * one long line here, and what its author needs to hear is why. */
	if (memchr(start, '\r', body)) {
		scout_diag_add(p->diag, p->file, p->line,
			       "carriage return inside a line (a file with CR-only line endings?); end lines with LF "
			       "or CRLF");
		return true;
	}
	if (body + 2 > (size_t)num) {
		scout_diag_add(p->diag, p->file, p->line,
			       "line longer than %d characters; continue a long value on an indented next line",
			       num - 2);
		return true;
	}
	return false;
}

/* inih ignores what follows ']'; "[agent] state_dir = x" would set nothing
 * and say nothing. Blanks and a comment may follow. */
static void check_after_section(struct parse *p, const char *rest)
{
	char buf[80], text[80];
	size_t lt;

	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (*rest == '\n' || *rest == ';' || *rest == '#')
		return;
	lt = strcspn(rest, "\n");
	while (lt && (rest[lt - 1] == ' ' || rest[lt - 1] == '\t'))
		lt--;
	if (lt >= sizeof(text))
		lt = sizeof(text) - 1;
	memcpy(text, rest, lt);
	text[lt] = 0;
	scout_diag_add(p->diag, p->file, p->line, "syntax error: text after ']' ('%s'); put it on a line of its own",
		       shown(text, buf, sizeof(buf)));
}

/* A "[name]" line (t at its '['): the section it starts, an unknown one
 * reported with the known ones. False when it has no ']'. */
static bool section_line(struct parse *p, const char *t)
{
	const char *close = strchr(t, ']');
	char name[64];

	if (!close) {
		scout_diag_add(p->diag, p->file, p->line, "syntax error: '[' without ']'");
		return false;
	}
	size_t ln = (size_t)(close - t - 1);
	if (ln >= sizeof(name))
		ln = sizeof(name) - 1;
	memcpy(name, t + 1, ln);
	name[ln] = 0;
	/* the section still starts here, so the lines after it are checked
	 * against it rather than reported again */
	check_after_section(p, close + 1);
	p->have_key = false;
	p->section = scout_schema_find(p->schema, name);
	if (p->section < 0) {
		char buf[80], known[256] = "";
		size_t k = 0;
		for (size_t i = 0; i < p->schema->n && k < sizeof(known) - 40; i++)
			k += (size_t)snprintf(known + k, sizeof(known) - k, "%s%s", i ? ", " : "",
					      p->schema->sections[i]->name);
		scout_diag_add(p->diag, p->file, p->line, "unknown section [%s] (known: %s)",
			       shown(name, buf, sizeof(buf)), known);
	} else if (!p->section_lines[p->section]) {
		p->section_lines[p->section] = p->line;
	}
	return true;
}

/* Hands inih one line at a time and reports what inih would not: lines too
 * long for it, NUL bytes, and lines that are neither section, key nor
 * comment. A bad line is handed over empty so inih stays in step. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *start, *nl, *t;
	size_t n;

	if (p->pos >= p->len)
		return NULL;
	start = p->text + p->pos;
	nl = memchr(start, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - start) + 1 : p->len - p->pos;
	p->pos += n;
	p->line++;

	size_t body = n;
	while (body && (start[body - 1] == '\n' || start[body - 1] == '\r'))
		body--;
	if (bad_raw_line(p, start, body, num))
		goto blank;
	memcpy(str, start, body);
	str[body] = '\n';
	str[body + 1] = 0;

	t = str;
	if (p->line == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB && (unsigned char)t[2] == 0xBF)
		t += 3;
	p->line_indented = (*t == ' ' || *t == '\t');
	while (*t == ' ' || *t == '\t')
		t++;
	if (*t == '\n' || *t == ';' || *t == '#')
		return str;
	if (p->line_indented && p->have_key)
		return str; /* continuation of the previous value */
	if (*t == '[') {
		if (!section_line(p, t))
			goto blank;
		return str;
	}
	if (!strpbrk(t, "=:")) {
		scout_diag_add(p->diag, p->file, p->line, "syntax error: expected [section], key = value or a comment");
		goto blank;
	}
	return str;
blank:
	str[0] = '\n';
	str[1] = 0;
	p->line_indented = false;
	return str;
}

/* Length of a continuation line's value before its inline comment (a ';'
 * after blank space), trailing blanks dropped. inih r55 (Debian 12) strips
 * such comments from key lines but hands continuation lines over whole. */
static size_t inline_comment_start(const char *v)
{
	bool was_space = false;
	size_t n = 0;

	for (; v[n] && !(was_space && v[n] == ';'); n++)
		was_space = isspace((unsigned char)v[n]);
	while (n && isspace((unsigned char)v[n - 1]))
		n--;
	return n;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const struct scout_section *sec;
	char buf[80];
	size_t nopt;
	int opt = -2;

	(void)section; /* the reader tracks sections by schema index */
	if (p->section == -1)
		return 1; /* unknown section, reported once at its header */
	if (p->section == -2) {
		scout_diag_add(p->diag, p->file, p->line, "'%s' is outside any section; put it under a [section]",
			       shown(name, buf, sizeof(buf)));
		return 1;
	}
	sec = p->schema->sections[p->section];
	nopt = n_options(sec);

	if (p->line_indented && p->have_key) {
		/* an indented line continues the previous key's value */
		struct raw *r = &p->raw[p->section][p->last_opt < 0 ? nopt : (size_t)p->last_opt];
		if (p->last_opt == -2 || !r->value)
			return 1;
		size_t a = strlen(r->value), b = inline_comment_start(value);
		char *v = realloc(r->value, a + b + 2);
		if (!v)
			return 0;
		v[a] = '\n';
		memcpy(v + a + 1, value, b);
		v[a + 1 + b] = 0;
		r->value = v;
		return 1;
	}
	p->have_key = true;
	p->last_opt = -2;

	if (sec->has_enabled && strcmp(name, "enabled") == 0) {
		opt = -1;
	} else {
		for (size_t i = 0; i < nopt; i++)
			if (strcmp(name, sec->options[i].key) == 0)
				opt = (int)i;
	}
	if (opt == -2) {
		const char *best = NULL;
		unsigned bestd = 3;
		for (size_t i = 0; i < nopt; i++) {
			unsigned d = edit_distance(name, sec->options[i].key);
			if (d < bestd) {
				bestd = d;
				best = sec->options[i].key;
			}
		}
		if (sec->has_enabled && edit_distance(name, "enabled") < bestd)
			best = "enabled";
		if (*name == 0)
			scout_diag_add(p->diag, p->file, p->line, "[%s] empty key name", sec->name);
		else if (best)
			scout_diag_add(p->diag, p->file, p->line, "[%s] unknown key '%s' (did you mean '%s'?)",
				       sec->name, shown(name, buf, sizeof(buf)), best);
		else
			scout_diag_add(p->diag, p->file, p->line, "[%s] unknown key '%s'", sec->name,
				       shown(name, buf, sizeof(buf)));
		return 1;
	}
	p->last_opt = opt;
	struct raw *r = &p->raw[p->section][opt < 0 ? nopt : (size_t)opt];
	if (r->value) {
		scout_diag_add(p->diag, p->file, p->line, "[%s] %s is set twice (first at line %u)", sec->name, name,
			       r->line);
		p->last_opt = -2;
		return 1;
	}
	r->value = strdup(value);
	r->line = p->line;
	return r->value ? 1 : 0;
}

/* ---- typed conversion ------------------------------------------------- */

static bool convert(const struct scout_option *o, const char *v, void *field, char *err, size_t errlen)
{
	uint64_t u;
	int64_t i;
	int r;

	switch (o->type) {
	case SCOUT_OPT_BOOL:
		if (scout_parse_bool(v, (bool *)field) < 0) {
			snprintf(err, errlen, "expected yes or no");
			return false;
		}
		return true;
	case SCOUT_OPT_INT:
		r = parse_int(v, &i);
		if (r < 0 || ((o->min || o->max) && (i < o->min || i > o->max))) {
			if (o->min || o->max)
				snprintf(err, errlen, "expected a whole number from %lld to %lld", (long long)o->min,
					 (long long)o->max);
			else
				snprintf(err, errlen, "expected a whole number");
			return false;
		}
		*(int64_t *)field = i;
		return true;
	case SCOUT_OPT_DURATION:
		r = scout_parse_duration_ms(v, &u);
		if (r < 0 || ((o->min || o->max) && (u < (uint64_t)o->min || u > (uint64_t)o->max))) {
			if (o->min || o->max)
				snprintf(err, errlen,
					 "expected a duration from %lldms to %llds (e.g. 500ms, 30s, 5m, 1h)",
					 (long long)o->min, (long long)o->max / 1000);
			else
				snprintf(err, errlen, "expected a duration such as 500ms, 30s, 5m, 1h or 2d");
			return false;
		}
		*(uint64_t *)field = u;
		return true;
	case SCOUT_OPT_SIZE:
		r = scout_parse_size(v, &u);
		if (r < 0 || ((o->min || o->max) && (u < (uint64_t)o->min || u > (uint64_t)o->max))) {
			if (o->min || o->max)
				snprintf(err, errlen, "expected a size from %lld to %lld bytes (e.g. 512K, 100M, 2G)",
					 (long long)o->min, (long long)o->max);
			else
				snprintf(err, errlen, "expected a size such as 512K, 100M or 2G");
			return false;
		}
		*(uint64_t *)field = u;
		return true;
	case SCOUT_OPT_STRING:
	case SCOUT_OPT_PATH:
		if (o->type == SCOUT_OPT_PATH && (!*v || strlen(v) >= PATH_MAX)) {
			snprintf(err, errlen, "expected a file system path");
			return false;
		}
		*(char **)field = strdup(v);
		return *(char **)field != NULL;
	case SCOUT_OPT_ENUM:
		for (int k = 0; o->choices[k]; k++)
			if (strcasecmp(v, o->choices[k]) == 0) {
				*(int *)field = k;
				return true;
			}
		{
			size_t n = (size_t)snprintf(err, errlen, "expected one of");
			for (int k = 0; o->choices[k] && n < errlen; k++)
				n += (size_t)snprintf(err + n, errlen - n, "%s %s", k ? "," : "", o->choices[k]);
		}
		return false;
	case SCOUT_OPT_CUSTOM:
		return o->parse(v, field, err, errlen) == 0;
	}
	return false;
}

void scout_section_conf_free(const struct scout_section *sec, void *conf)
{
	if (!conf)
		return;
	for (const struct scout_option *o = sec->options; o && o->key; o++) {
		void *field = (char *)conf + o->offset;
		if (o->type == SCOUT_OPT_STRING || o->type == SCOUT_OPT_PATH)
			free(*(char **)field);
		else if (o->type == SCOUT_OPT_CUSTOM && o->free)
			o->free(field);
	}
	free(conf);
}

static void check_push(struct scout_check *c, bool warning, const char *key, const char *fmt, va_list ap)
{
	char msg[400];
	unsigned line = c->section_line;

	for (size_t i = 0; key && c->section->options[i].key; i++)
		if (strcmp(c->section->options[i].key, key) == 0 && c->key_lines[i])
			line = c->key_lines[i];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	void (*add)(struct scout_diag *, const char *, unsigned, const char *, ...) =
		warning ? scout_diag_warn : scout_diag_add;
	if (key)
		add(c->diag, c->file, line ? line : 1, "[%s] %s: %s", c->section->name, key, msg);
	else
		add(c->diag, c->file, line ? line : 1, "[%s] %s", c->section->name, msg);
}

void scout_check_error(struct scout_check *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_push(c, false, key, fmt, ap);
	va_end(ap);
}

void scout_check_warn(struct scout_check *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_push(c, true, key, fmt, ap);
	va_end(ap);
}

/* Builds section i's struct from its raw strings and defaults. */
static int build_section(struct parse *p, struct scout_config *cfg, size_t si)
{
	const struct scout_section *sec = p->schema->sections[si];
	size_t nopt = n_options(sec);
	struct raw *raw = p->raw[si];
	unsigned sline = p->section_lines[si];
	size_t before = scout_diag_errors(p->diag);
	char err[200], buf[80];

	cfg->confs[si] = calloc(1, sec->conf_size ? sec->conf_size : 1);
	cfg->key_lines[si] = calloc(nopt + 1, sizeof(unsigned));
	if (!cfg->confs[si] || !cfg->key_lines[si])
		return -ENOMEM;

	bool enabled = sec->has_enabled ? sec->default_enabled : true;
	if (sec->has_enabled && raw[nopt].value && scout_parse_bool(raw[nopt].value, &enabled) < 0)
		scout_diag_add(p->diag, p->file, raw[nopt].line, "[%s] enabled: '%s' is not valid (expected yes or no)",
			       sec->name, shown(raw[nopt].value, buf, sizeof(buf)));
	cfg->enabled[si] = enabled;

	for (size_t i = 0; i < nopt; i++) {
		const struct scout_option *o = &sec->options[i];
		const char *v = raw[i].value ? raw[i].value : o->def;
		void *field = (char *)cfg->confs[si] + o->offset;

		cfg->key_lines[si][i] = raw[i].line;
		if (!v) {
			if (enabled)
				scout_diag_add(p->diag, p->file, sline ? sline : 1, "[%s] missing required key '%s'",
					       sec->name, o->key);
			continue;
		}
		err[0] = 0;
		if (convert(o, v, field, err, sizeof(err)))
			continue;
		if (!raw[i].value) {
			/* a default that does not parse is a bug in the schema */
			scout_diag_add(p->diag, p->file, sline ? sline : 1,
				       "[%s] %s: built-in default '%s' is invalid: %s", sec->name, o->key, o->def, err);
		} else if (o->secret) {
			scout_diag_add(p->diag, p->file, raw[i].line, "[%s] %s: value is not valid (%s)", sec->name,
				       o->key, err);
		} else {
			scout_diag_add(p->diag, p->file, raw[i].line, "[%s] %s: '%s' is not valid (%s)", sec->name,
				       o->key, shown(v, buf, sizeof(buf)), err);
		}
	}
	if (scout_diag_errors(p->diag) == before && sec->check && enabled) {
		struct scout_check c = {
			.diag = p->diag,
			.file = p->file,
			.section = sec,
			.key_lines = cfg->key_lines[si],
			.section_line = sline,
			.enabled = enabled,
		};
		sec->check(cfg->confs[si], &c);
	}
	return 0;
}

void *scout_config_take(struct scout_config *cfg, size_t i)
{
	void *conf = cfg->confs[i];
	cfg->confs[i] = NULL;
	return conf;
}

int scout_schema_find(const struct scout_schema *schema, const char *name)
{
	for (size_t i = 0; i < schema->n; i++)
		if (strcmp(schema->sections[i]->name, name) == 0)
			return (int)i;
	return -1;
}

void scout_config_free(struct scout_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->schema->n; i++) {
		if (cfg->confs)
			scout_section_conf_free(cfg->schema->sections[i], cfg->confs[i]);
		if (cfg->key_lines)
			free(cfg->key_lines[i]);
	}
	free(cfg->confs);
	free(cfg->key_lines);
	free(cfg->enabled);
	free(cfg->section_lines);
	free(cfg->path);
	free(cfg);
}

int scout_config_parse(const struct scout_schema *schema, const char *file, const char *text, size_t len,
		       struct scout_diag *diag, struct scout_config **ret_config)
{
	size_t n = schema->n, before = diag->n, errors = scout_diag_errors(diag);
	struct parse p = {
		.schema = schema,
		.file = file,
		.diag = diag,
		.text = text,
		.len = len,
		.section = -2,
		.last_opt = -2,
	};
	struct scout_config *cfg = calloc(1, sizeof(*cfg));
	int r = -ENOMEM;

	if (!cfg)
		return -ENOMEM;
	cfg->schema = schema;
	cfg->confs = calloc(n, sizeof(void *));
	cfg->enabled = calloc(n, sizeof(bool));
	cfg->key_lines = calloc(n, sizeof(unsigned *));
	cfg->section_lines = calloc(n, sizeof(unsigned));
	p.section_lines = cfg->section_lines;
	p.raw = calloc(n, sizeof(struct raw *));
	if (!cfg->confs || !cfg->enabled || !cfg->key_lines || !cfg->section_lines || !p.raw)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!(p.raw[i] = calloc(n_options(schema->sections[i]) + 1, sizeof(struct raw))))
			goto out;

	int bad = ini_parse_stream(reader, &p, handler, &p);
	if (bad < 0)
		goto out;
	if (bad > 0) {
		/* a line inih rejected that the reader let through */
		bool known = false;
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "%s:%d: ", file, bad);
		for (size_t i = before; i < diag->n; i++)
			known |= strncmp(diag->msgs[i], prefix, strlen(prefix)) == 0;
		if (!known)
			scout_diag_add(diag, file, (unsigned)bad, "syntax error");
	}
	for (size_t i = 0; i < n; i++)
		if ((r = build_section(&p, cfg, i)) < 0)
			goto out;
	r = scout_diag_errors(diag) > errors ? -EINVAL : 0;
	scout_diag_sort(diag);
out:
	if (p.raw) {
		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; p.raw[i] && k <= n_options(schema->sections[i]); k++)
				free(p.raw[i][k].value);
			free(p.raw[i]);
		}
		free(p.raw);
	}
	if (r < 0) {
		scout_config_free(cfg);
		return r;
	}
	*ret_config = cfg;
	return 0;
}

int scout_config_load(const struct scout_schema *schema, const char *path, struct scout_diag *diag,
		      struct scout_config **ret_config)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO would wait for a writer (for ever, on
	 * the thread of a reload that the stop then waits for); the type is
	 * checked on the descriptor, so nothing can be swapped in between. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		scout_diag_add(diag, path, 0, "cannot open: %s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		scout_diag_add(diag, path, 0, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, 0); /* a regular file: plain blocking reads from here */
	if (st.st_size > MAX_CONFIG_BYTES) {
		scout_diag_add(diag, path, 0, "file is larger than %d bytes", MAX_CONFIG_BYTES);
		close(fd);
		return -EFBIG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size) {
		ssize_t k = read(fd, text + len, (size_t)st.st_size - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			scout_diag_add(diag, path, 0, "read failed: %s", strerror(-r));
			free(text);
			close(fd);
			return r;
		}
		len += (size_t)k;
	}
	close(fd);

	struct scout_config *cfg;
	r = scout_config_parse(schema, path, text, len, diag, &cfg);
	free(text);
	if (r < 0)
		return r;
	cfg->path = strdup(path);
	if (!cfg->path) {
		scout_config_free(cfg);
		return -ENOMEM;
	}
	*ret_config = cfg;
	return 0;
}
