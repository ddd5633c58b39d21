/* Unit tests for src/loop/config.c: the INI model against a schema defined
 * here (every option type, a module-like section with "enabled" and a
 * required key, check hooks), the exact "FILE:LINE: message" text of every
 * kind of problem, the value parsers, and the real schema with the embedded
 * default configuration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop/agent.h"
#include "loop/config.h"

/* ---- the test schema -------------------------------------------------- */

struct list {
	size_t n;
	char **items;
};

struct main_conf {
	bool flag;
	int64_t count;
	uint64_t timeout;
	uint64_t limit;
	char *name;
	char *dir;
	int mode;
	struct list tags;
	int64_t pin;
	int64_t depth;
	uint64_t wait;
	uint64_t big;
};

struct mod_conf {
	char *host;
	int64_t port;
};

static void list_free(void *field)
{
	struct list *l = field;

	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

/* Words of a-z0-9 separated by commas or newlines (continuation lines). */
static int list_parse(const char *value, void *field, char *err, size_t errlen)
{
	struct list *l = field;
	const char *p = value;

	l->n = 0;
	l->items = NULL;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\n')
			p++;
		if (!*p)
			break;
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789");
		if (n == 0 || (p[n] && !strchr(" ,\n", p[n]))) {
			list_free(l);
			snprintf(err, errlen, "expected words of a-z and 0-9 separated by commas");
			return -EINVAL;
		}
		char **items = realloc(l->items, (l->n + 1) * sizeof(*items));
		if (!items) {
			list_free(l);
			return -ENOMEM;
		}
		l->items = items;
		l->items[l->n++] = strndup(p, n);
		p += n;
	}
	return 0;
}

static const char *const modes[] = {"fast", "slow", "auto", NULL};

static const struct scout_option main_options[] = {
	{.key = "flag", .type = SCOUT_OPT_BOOL, .offset = offsetof(struct main_conf, flag), .def = "no"},
	{.key = "count",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct main_conf, count),
	 .def = "5",
	 .min = 1,
	 .max = 10},
	{.key = "timeout",
	 .type = SCOUT_OPT_DURATION,
	 .offset = offsetof(struct main_conf, timeout),
	 .def = "1s",
	 .min = 100,
	 .max = 60000},
	{.key = "limit",
	 .type = SCOUT_OPT_SIZE,
	 .offset = offsetof(struct main_conf, limit),
	 .def = "1M",
	 .min = 1024,
	 .max = INT64_C(1) << 30},
	{.key = "name", .type = SCOUT_OPT_STRING, .offset = offsetof(struct main_conf, name), .def = ""},
	{.key = "dir", .type = SCOUT_OPT_PATH, .offset = offsetof(struct main_conf, dir), .def = "/tmp"},
	{.key = "mode",
	 .type = SCOUT_OPT_ENUM,
	 .offset = offsetof(struct main_conf, mode),
	 .def = "auto",
	 .choices = modes},
	{.key = "tags",
	 .type = SCOUT_OPT_CUSTOM,
	 .offset = offsetof(struct main_conf, tags),
	 .def = "",
	 .parse = list_parse,
	 .free = list_free},
	{.key = "pin",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct main_conf, pin),
	 .def = "0",
	 .min = 0,
	 .max = 9999,
	 .secret = true},
	{.key = "depth", .type = SCOUT_OPT_INT, .offset = offsetof(struct main_conf, depth), .def = "0"},
	{.key = "wait", .type = SCOUT_OPT_DURATION, .offset = offsetof(struct main_conf, wait), .def = "0"},
	{.key = "big", .type = SCOUT_OPT_SIZE, .offset = offsetof(struct main_conf, big), .def = "0"},
	{0},
};

static unsigned main_checks, mod_checks;

static void main_check(void *conf, struct scout_check *c)
{
	struct main_conf *m = conf;

	main_checks++;
	if (m->mode == 0 && m->count > 5)
		scout_check_error(c, "count", "must be at most 5 when mode is fast (got %lld)", (long long)m->count);
	if (strcmp(m->name, "reserved") == 0)
		scout_check_error(c, NULL, "the name 'reserved' is taken");
	if (strcmp(m->name, "nodir") == 0)
		scout_check_error(c, "dir", "must be set when name is nodir");
}

static const struct scout_option mod_options[] = {
	{.key = "host", .type = SCOUT_OPT_STRING, .offset = offsetof(struct mod_conf, host), .def = NULL},
	{.key = "port",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct mod_conf, port),
	 .def = "631",
	 .min = 1,
	 .max = 65535},
	{0},
};

static void mod_check(void *conf, struct scout_check *c)
{
	struct mod_conf *m = conf;

	mod_checks++;
	assert_non_null(m->host); /* never run with a required key missing */
	if (strcmp(m->host, "bad") == 0)
		scout_check_error(c, "host", "'%s' is not a host name", m->host);
}

static const struct scout_section main_section = {
	.name = "main",
	.options = main_options,
	.conf_size = sizeof(struct main_conf),
	.check = main_check,
};

static const struct scout_section mod_section = {
	.name = "mod",
	.options = mod_options,
	.conf_size = sizeof(struct mod_conf),
	.has_enabled = true,
	.default_enabled = false,
	.check = mod_check,
};

static const struct scout_section *const sections[] = {&main_section, &mod_section};
static const struct scout_schema schema = {sections, 2};

/* ---- helpers ---------------------------------------------------------- */

static struct scout_config *parse_ok_len(const char *text, size_t len)
{
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	int r = scout_config_parse(&schema, "t.ini", text, len, &d, &cfg);

	for (size_t i = 0; i < d.n; i++)
		print_error("unexpected problem: %s\n", d.msgs[i]);
	assert_int_equal(d.n, 0);
	assert_int_equal(r, 0);
	assert_non_null(cfg);
	scout_diag_free(&d);
	return cfg;
}

static struct scout_config *parse_ok(const char *text)
{
	return parse_ok_len(text, strlen(text));
}

/* Parses text and asserts that the problems are exactly want (NULL-ended),
 * in that order. */
static void expect_problems_len(const char *text, size_t len, const char *const *want)
{
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	size_t nwant = 0;
	bool same;
	int r;

	while (want[nwant])
		nwant++;
	r = scout_config_parse(&schema, "t.ini", text, len, &d, &cfg);
	same = d.n == nwant;
	for (size_t i = 0; same && i < nwant; i++)
		same = strcmp(d.msgs[i], want[i]) == 0;
	if (!same) {
		for (size_t i = 0; i < nwant; i++)
			print_error("want: %s\n", want[i]);
		for (size_t i = 0; i < d.n; i++)
			print_error("got:  %s\n", d.msgs[i]);
	}
	assert_true(same);
	assert_int_equal(r, -EINVAL);
	assert_null(cfg);
	/* lines[] matches the line in each message */
	for (size_t i = 0; i < d.n; i++) {
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "t.ini:%u: ", d.lines[i]);
		assert_true(strncmp(d.msgs[i], prefix, strlen(prefix)) == 0);
		if (i)
			assert_true(d.lines[i - 1] <= d.lines[i]);
	}
	scout_diag_free(&d);
}

static void expect_problems(const char *text, const char *const *want)
{
	expect_problems_len(text, strlen(text), want);
}

#define PROBLEMS(...) ((const char *const[]){__VA_ARGS__, NULL})

static struct main_conf *main_of(struct scout_config *cfg)
{
	return cfg->confs[0];
}

static struct mod_conf *mod_of(struct scout_config *cfg)
{
	return cfg->confs[1];
}

/* ---- good files ------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct scout_config *cfg = parse_ok("");
	struct main_conf *m = main_of(cfg);

	assert_false(m->flag);
	assert_int_equal(m->count, 5);
	assert_int_equal(m->timeout, 1000);
	assert_int_equal(m->limit, 1 << 20);
	assert_string_equal(m->name, "");
	assert_string_equal(m->dir, "/tmp");
	assert_int_equal(m->mode, 2);
	assert_int_equal(m->tags.n, 0);
	assert_true(cfg->enabled[0]);
	assert_false(cfg->enabled[1]); /* default_enabled = false */
	assert_int_equal(cfg->section_lines[0], 0);
	assert_int_equal(cfg->key_lines[0][1], 0);
	/* mod is disabled, so its missing required host is no problem */
	assert_null(mod_of(cfg)->host);
	assert_int_equal(mod_of(cfg)->port, 631);
	scout_config_free(cfg);
}

static void test_every_type(void **state)
{
	struct scout_config *cfg = parse_ok("; comment\n"
					    "# another comment\n"
					    "[main]\n"
					    "flag = on\n"
					    "count: 7\n"
					    "timeout = 30s\n"
					    "limit = 512K\n"
					    "name = hello world\n"
					    "dir = ./rel/dir\n"
					    "mode = SLOW\n"
					    "tags = a, b,c\n"
					    "pin = 1234\n"
					    "depth = -42\n"
					    "wait = 2d\n"
					    "big = 3T\n"
					    "\n"
					    "[mod]\n"
					    "enabled = yes\n"
					    "host = printer.example\n");
	struct main_conf *m = main_of(cfg);

	assert_true(m->flag);
	assert_int_equal(m->count, 7);
	assert_int_equal(m->timeout, 30000);
	assert_int_equal(m->limit, 512 * 1024);
	assert_string_equal(m->name, "hello world");
	assert_string_equal(m->dir, "./rel/dir");
	assert_int_equal(m->mode, 1);
	assert_int_equal(m->tags.n, 3);
	assert_string_equal(m->tags.items[0], "a");
	assert_string_equal(m->tags.items[1], "b");
	assert_string_equal(m->tags.items[2], "c");
	assert_int_equal(m->pin, 1234);
	assert_int_equal(m->depth, -42);
	assert_int_equal(m->wait, 2ull * 86400000);
	assert_int_equal(m->big, 3ull << 40);
	assert_true(cfg->enabled[1]);
	assert_string_equal(mod_of(cfg)->host, "printer.example");
	assert_int_equal(mod_of(cfg)->port, 631);
	assert_int_equal(cfg->section_lines[0], 3);
	assert_int_equal(cfg->section_lines[1], 17);
	assert_int_equal(cfg->key_lines[0][0], 4); /* flag */
	assert_int_equal(cfg->key_lines[0][1], 5); /* count, written with ':' */
	assert_int_equal(cfg->key_lines[1][0], 19);
	assert_int_equal(cfg->key_lines[1][1], 0); /* port defaulted */
	scout_config_free(cfg);
}

static void test_bounds_inclusive(void **state)
{
	struct scout_config *cfg = parse_ok("[main]\ncount = 1\ntimeout = 100ms\nlimit = 1K\n");
	assert_int_equal(main_of(cfg)->count, 1);
	assert_int_equal(main_of(cfg)->timeout, 100);
	assert_int_equal(main_of(cfg)->limit, 1024);
	scout_config_free(cfg);

	cfg = parse_ok("[main]\ncount = 10\ntimeout = 1m\nlimit = 1G\n");
	assert_int_equal(main_of(cfg)->count, 10);
	assert_int_equal(main_of(cfg)->timeout, 60000);
	assert_int_equal(main_of(cfg)->limit, 1 << 30);
	scout_config_free(cfg);
}

static void test_continuation(void **state)
{
	struct scout_config *cfg = parse_ok("[main]\n"
					    "name = first\n"
					    "  second\n"
					    "\tthird ; an inline comment\n"
					    "tags = a,\n"
					    "   b\n"
					    "   c\n"
					    "count = 3\n"
					    "dir = /one\n"
					    "  /two;three   ;comment ; more\n"
					    "; a comment line between continuations\n"
					    "  four\n");
	struct main_conf *m = main_of(cfg);

	/* inline comments end continuation lines too; a ';' without a space
	 * before it is part of the value */
	assert_string_equal(m->dir, "/one\n/two;three\nfour");
	assert_string_equal(m->name, "first\nsecond\nthird");
	assert_int_equal(m->tags.n, 3);
	assert_string_equal(m->tags.items[2], "c");
	assert_int_equal(m->count, 3);
	assert_int_equal(cfg->key_lines[0][4], 2); /* name: the line of its key */
	assert_int_equal(cfg->key_lines[0][1], 8);
	scout_config_free(cfg);
}

static void test_continuation_of_enabled(void **state)
{
	/* "enabled" is a key like the others: an indented line continues it
	 * (and then it is no longer a valid yes/no) */
	expect_problems("[mod]\nenabled = yes\n  no\nhost = h\n",
			PROBLEMS("t.ini:2: [mod] enabled: 'yes?no' is not valid (expected yes or no)"));
}

static void test_inline_comments(void **state)
{
	struct scout_config *cfg = parse_ok("[main] ; the main section\n"
					    "name = value ; comment\n"
					    "dir = /a;b\n"
					    "count = 4 ;3\n");

	assert_string_equal(main_of(cfg)->name, "value");
	assert_string_equal(main_of(cfg)->dir, "/a;b"); /* no space before ';': part of the value */
	assert_int_equal(main_of(cfg)->count, 4);
	scout_config_free(cfg);
}

static void test_crlf(void **state)
{
	struct scout_config *cfg =
		parse_ok("[main]\r\nname = dos\r\ncount = 9\r\n\r\n[mod]\r\nenabled = yes\r\nhost = h\r\n");

	assert_string_equal(main_of(cfg)->name, "dos");
	assert_int_equal(main_of(cfg)->count, 9);
	assert_string_equal(mod_of(cfg)->host, "h");
	assert_int_equal(cfg->key_lines[1][0], 7);
	scout_config_free(cfg);

	/* line numbers stay right with CRLF */
	expect_problems("[main]\r\n\r\ncount = 0\r\n", PROBLEMS("t.ini:3: [main] count: '0' is not valid "
								"(expected a whole number from 1 to 10)"));
}

static void test_bom(void **state)
{
	struct scout_config *cfg = parse_ok("\xEF\xBB\xBF[main]\nname = bom\n");

	assert_string_equal(main_of(cfg)->name, "bom");
	assert_int_equal(cfg->section_lines[0], 1);
	scout_config_free(cfg);

	expect_problems("\xEF\xBB\xBFname = x\n",
			PROBLEMS("t.ini:1: 'name' is outside any section; put it under a [section]"));
}

static void test_no_trailing_newline_and_not_nul_terminated(void **state)
{
	/* len bytes, not NUL-terminated: the bytes after len are not read */
	const char text[] = "[main]\ncount = 8XXXX";
	struct scout_config *cfg = parse_ok_len(text, strlen(text) - 4);

	assert_int_equal(main_of(cfg)->count, 8);
	scout_config_free(cfg);
}

static void test_line_198_ok(void **state)
{
	/* the longest line: 198 characters before the newline */
	char text[300];
	int n = snprintf(text, sizeof(text), "[main]\nname = ");
	memset(text + n, 'x', 198 - 7);
	n += 198 - 7;
	strcpy(text + n, "\ncount = 2\n");

	struct scout_config *cfg = parse_ok(text);
	assert_int_equal(strlen(main_of(cfg)->name), 198 - 7);
	assert_int_equal(main_of(cfg)->count, 2);
	scout_config_free(cfg);
}

/* ---- problems --------------------------------------------------------- */

static void test_unknown_section(void **state)
{
	/* keys under an unknown section are not reported again */
	expect_problems("[main]\ncount = 2\n[bogus]\nfoo = bar\nbaz = 1\n[mod]\nenabled = no\n",
			PROBLEMS("t.ini:3: unknown section [bogus] (known: main, mod)"));
}

static void test_unknown_key(void **state)
{
	expect_problems("[main]\ncuont = 2\nzzzzzzzz = 1\ncount = 3\n[mod]\nenabeld = yes\nhots = x\n",
			PROBLEMS("t.ini:2: [main] unknown key 'cuont' (did you mean 'count'?)",
				 "t.ini:3: [main] unknown key 'zzzzzzzz'",
				 "t.ini:6: [mod] unknown key 'enabeld' (did you mean 'enabled'?)",
				 "t.ini:7: [mod] unknown key 'hots' (did you mean 'host'?)"));
}

static void test_empty_key(void **state)
{
	expect_problems("[main]\n= 3\n", PROBLEMS("t.ini:2: [main] empty key name"));
}

static void test_bad_values(void **state)
{
	expect_problems(
		"[main]\n"
		"flag = maybe\n"
		"count = 11\n"
		"timeout = 50ms\n"
		"limit = 2G\n"
		"dir =\n"
		"mode = medium\n"
		"tags = a, B\n"
		"pin = 123456\n"
		"depth = 1.5\n"
		"wait = 5 fortnights\n"
		"big = 1Q\n",
		PROBLEMS("t.ini:2: [main] flag: 'maybe' is not valid (expected yes or no)",
			 "t.ini:3: [main] count: '11' is not valid (expected a whole number from 1 to 10)",
			 "t.ini:4: [main] timeout: '50ms' is not valid (expected a duration from 100ms to 60s "
			 "(e.g. 500ms, 30s, 5m, 1h))",
			 "t.ini:5: [main] limit: '2G' is not valid (expected a size from 1024 to 1073741824 "
			 "bytes (e.g. 512K, 100M, 2G))",
			 "t.ini:6: [main] dir: '' is not valid (expected a file system path)",
			 "t.ini:7: [main] mode: 'medium' is not valid (expected one of fast, slow, auto)",
			 "t.ini:8: [main] tags: 'a, B' is not valid (expected words of a-z and 0-9 separated by "
			 "commas)",
			 /* a secret's value is never echoed */
			 "t.ini:9: [main] pin: value is not valid (expected a whole number from 0 to 9999)",
			 "t.ini:10: [main] depth: '1.5' is not valid (expected a whole number)",
			 "t.ini:11: [main] wait: '5 fortnights' is not valid (expected a duration such as 500ms, "
			 "30s, 5m, 1h or 2d)",
			 "t.ini:12: [main] big: '1Q' is not valid (expected a size such as 512K, 100M or 2G)"));
}

static void test_bad_ints(void **state)
{
	static const char *const bad[] = {"", "+3", " 3", "3x", "0x10", "-", "99999999999999999999", "--1"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[100], want[200];
		snprintf(text, sizeof(text), "[main]\ndepth = %s\n", bad[i]);
		/* inih trims the value, so " 3" is "3" */
		if (strcmp(bad[i], " 3") == 0) {
			struct scout_config *cfg = parse_ok(text);
			assert_int_equal(main_of(cfg)->depth, 3);
			scout_config_free(cfg);
			continue;
		}
		snprintf(want, sizeof(want), "t.ini:2: [main] depth: '%s' is not valid (expected a whole number)",
			 bad[i]);
		expect_problems(text, PROBLEMS(want));
	}
}

static void test_value_shown_safely(void **state)
{
	/* a long value is cut at 60 characters, control bytes shown as '?' */
	char want[300];
	const char *v = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnop";
	char text[200];

	snprintf(text, sizeof(text), "[main]\nmode = %s\n", v);
	snprintf(want, sizeof(want), "t.ini:2: [main] mode: '%.60s...' is not valid (expected one of fast, slow, auto)",
		 v);
	expect_problems(text, PROBLEMS(want));
	expect_problems("[main]\nmode = a\x01"
			"b\n",
			PROBLEMS("t.ini:2: [main] mode: 'a?b' is not valid (expected one of fast, slow, auto)"));
}

static void test_required_only_when_enabled(void **state)
{
	struct scout_config *cfg;

	/* disabled (by default, or explicitly): host may be missing */
	cfg = parse_ok("[mod]\nport = 80\n");
	assert_false(cfg->enabled[1]);
	scout_config_free(cfg);
	cfg = parse_ok("[mod]\nenabled = no\n");
	scout_config_free(cfg);

	/* enabled: reported at the section's line */
	expect_problems("[main]\n\n[mod]\nenabled = yes\nport = 80\n",
			PROBLEMS("t.ini:3: [mod] missing required key 'host'"));
	expect_problems("[mod]\nenabled = true\n", PROBLEMS("t.ini:1: [mod] missing required key 'host'"));
	expect_problems("[mod]\nenabled = maybe\nhost = h\n",
			PROBLEMS("t.ini:2: [mod] enabled: 'maybe' is not valid (expected yes or no)"));
}

static void test_duplicate_key(void **state)
{
	expect_problems("[main]\ncount = 2\nname = a\ncount = 3\n[mod]\nenabled = no\nenabled = yes\n",
			PROBLEMS("t.ini:4: [main] count is set twice (first at line 2)",
				 "t.ini:7: [mod] enabled is set twice (first at line 6)"));
	/* the first value stands; a continuation of the duplicate is ignored */
	expect_problems("[main]\nname = a\nname = b\n  c\ncount = 0\n",
			PROBLEMS("t.ini:3: [main] name is set twice (first at line 2)",
				 "t.ini:5: [main] count: '0' is not valid (expected a whole number from 1 to 10)"));
}

static void test_duplicate_section_merges(void **state)
{
	/* a section may be opened again; its keys still may not repeat */
	struct scout_config *cfg = parse_ok("[main]\ncount = 2\n[mod]\nenabled = no\n[main]\nname = n\n");

	assert_int_equal(main_of(cfg)->count, 2);
	assert_string_equal(main_of(cfg)->name, "n");
	assert_int_equal(cfg->section_lines[0], 1);
	scout_config_free(cfg);
	expect_problems("[main]\ncount = 2\n[main]\ncount = 3\n",
			PROBLEMS("t.ini:4: [main] count is set twice (first at line 2)"));
}

static void test_key_outside_section(void **state)
{
	expect_problems("; header\ncount = 3\nname = x\n[main]\ncount = 4\n",
			PROBLEMS("t.ini:2: 'count' is outside any section; put it under a [section]",
				 "t.ini:3: 'name' is outside any section; put it under a [section]"));
}

static void test_syntax_errors(void **state)
{
	expect_problems("[main]\njust some words\n[mod\ncount = 3\n",
			PROBLEMS("t.ini:2: syntax error: expected [section], key = value or a comment",
				 "t.ini:3: syntax error: '[' without ']'"));
}

/* Issue 7, point 13: a file saved with CR-only line endings is one line to
 * a reader that splits on LF; its keys must not be silently dropped. */
static void test_cr_only_line_endings(void **state)
{
	expect_problems("[main]\rname = x\rcount = 0\r",
			PROBLEMS("t.ini:1: carriage return inside a line (a file with CR-only line endings?); end "
				 "lines with LF or CRLF"));
	/* a stray CR inside one line of an LF file, and the file goes on in step */
	expect_problems("[main]\nname = a\rb\ncount = 0\n",
			PROBLEMS("t.ini:2: carriage return inside a line (a file with CR-only line endings?); end "
				 "lines with LF or CRLF",
				 "t.ini:3: [main] count: '0' is not valid (expected a whole number from 1 to 10)"));
	/* CR-only, longer than a line may be: the CR is what is reported */
	char text[600];
	size_t n = 0;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "[main]\r");
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "; comment %02d\r", i);
	expect_problems(text, PROBLEMS("t.ini:1: carriage return inside a line (a file with CR-only line endings?); "
				       "end lines with LF or CRLF"));
}

/* Issue 7, point 13: "[agent] state_dir = ..." set nothing and said nothing. */
static void test_text_after_section(void **state)
{
	expect_problems("[main] count = 3\n",
			PROBLEMS("t.ini:1: syntax error: text after ']' ('count = 3'); put it on a line of its own"));
	/* the section still counts, so the lines after it are checked in it */
	expect_problems("[main]x\ncount = 0\n",
			PROBLEMS("t.ini:1: syntax error: text after ']' ('x'); put it on a line of its own",
				 "t.ini:2: [main] count: '0' is not valid (expected a whole number from 1 to 10)"));
	expect_problems("[mod]]\r\nenabled = yes\nhost = h\n",
			PROBLEMS("t.ini:1: syntax error: text after ']' (']'); put it on a line of its own"));

	/* blanks and comments after ']' are fine */
	struct scout_config *cfg = parse_ok("[main]   \t\ncount = 3\n[mod] ; the module\nenabled = yes\nhost = h\n"
					    "[main]# again\nname = n\n");
	assert_int_equal(main_of(cfg)->count, 3);
	assert_string_equal(main_of(cfg)->name, "n");
	assert_string_equal(mod_of(cfg)->host, "h");
	scout_config_free(cfg);
}

static void test_long_line(void **state)
{
	char text[400];
	int n = snprintf(text, sizeof(text), "[main]\nname = ");

	/* 199 characters: one too many */
	memset(text + n, 'x', 199 - 7);
	n += 199 - 7;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "\ncount = 0\n");
	expect_problems(text,
			PROBLEMS("t.ini:2: line longer than 198 characters; continue a long value on an "
				 "indented next line",
				 "t.ini:3: [main] count: '0' is not valid (expected a whole number from 1 to 10)"));

	/* far longer, with a CRLF ending, and the file goes on in step */
	n = snprintf(text, sizeof(text), "[main]\n");
	memset(text + n, 'y', 300);
	n += 300;
	snprintf(text + n, sizeof(text) - (size_t)n, "\r\nname = ok\n  more\ncount = 11\n");
	expect_problems(text,
			PROBLEMS("t.ini:2: line longer than 198 characters; continue a long value on an "
				 "indented next line",
				 "t.ini:5: [main] count: '11' is not valid (expected a whole number from 1 to 10)"));
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[main]\nname = a\0b\ncount = 0\n";

	expect_problems_len(text, sizeof(text) - 1,
			    PROBLEMS("t.ini:2: NUL byte in line",
				     "t.ini:3: [main] count: '0' is not valid (expected a whole number from 1 to 10)"));
	/* a NUL in the last line, without a newline */
	static const char text2[] = "[main]\ncount = 2\n\0";
	expect_problems_len(text2, sizeof(text2) - 1, PROBLEMS("t.ini:3: NUL byte in line"));
}

static void test_all_problems_sorted(void **state)
{
	/* Found in different passes (syntax while reading, values per section
	 * in schema order, then checks), reported in line order. */
	expect_problems("[mod]\n"          /* 1: host missing */
			"enabled = yes\n"  /* 2 */
			"port = 0\n"       /* 3: out of range */
			"[main]\n"         /* 4 */
			"count = 99\n"     /* 5: out of range */
			"garbage\n"        /* 6: syntax */
			"[nope]\n"         /* 7: unknown section */
			"[main]\n"         /* 8 */
			"flag = perhaps\n" /* 9: bad bool */
			"frag = yes\n"     /* 10: unknown key */
			"count = 1\n",     /* 11: duplicate */
			PROBLEMS("t.ini:1: [mod] missing required key 'host'",
				 "t.ini:3: [mod] port: '0' is not valid (expected a whole number from 1 to 65535)",
				 "t.ini:5: [main] count: '99' is not valid (expected a whole number from 1 to 10)",
				 "t.ini:6: syntax error: expected [section], key = value or a comment",
				 "t.ini:7: unknown section [nope] (known: main, mod)",
				 "t.ini:9: [main] flag: 'perhaps' is not valid (expected yes or no)",
				 "t.ini:10: [main] unknown key 'frag' (did you mean 'flag'?)",
				 "t.ini:11: [main] count is set twice (first at line 5)"));
}

static void test_check_hook(void **state)
{
	struct scout_config *cfg;

	/* reported at the key's line when written there ... */
	main_checks = 0;
	expect_problems("[main]\nmode = fast\n\ncount = 7\n",
			PROBLEMS("t.ini:4: [main] count: must be at most 5 when mode is fast (got 7)"));
	assert_int_equal(main_checks, 1);
	/* ... else at the section's line; without a key, at the section's */
	expect_problems("\n[main]\nname = nodir\n", PROBLEMS("t.ini:2: [main] dir: must be set when name is nodir"));
	expect_problems("\n\n[main]\nname = reserved\n", PROBLEMS("t.ini:3: [main] the name 'reserved' is taken"));
	/* several problems from one check */
	expect_problems("[main]\nmode = fast\ncount = 6\nname = reserved\n",
			PROBLEMS("t.ini:1: [main] the name 'reserved' is taken",
				 "t.ini:3: [main] count: must be at most 5 when mode is fast (got 6)"));

	/* not run when a value of the section is bad */
	main_checks = 0;
	expect_problems("[main]\nmode = fast\ncount = 7\nflag = x\n",
			PROBLEMS("t.ini:4: [main] flag: 'x' is not valid (expected yes or no)"));
	assert_int_equal(main_checks, 0);

	/* a module section's check runs only when enabled */
	mod_checks = 0;
	cfg = parse_ok("[mod]\nenabled = no\nhost = bad\n");
	assert_int_equal(mod_checks, 0);
	scout_config_free(cfg);
	expect_problems("[mod]\nenabled = yes\n\nhost = bad\n",
			PROBLEMS("t.ini:4: [mod] host: 'bad' is not a host name"));
	assert_int_equal(mod_checks, 1);
	/* and not with a required key missing */
	mod_checks = 0;
	expect_problems("[mod]\nenabled = yes\n", PROBLEMS("t.ini:1: [mod] missing required key 'host'"));
	assert_int_equal(mod_checks, 0);
}

static void test_check_error_without_section_line(void **state)
{
	/* a check on a section absent from the file reports at line 1 */
	struct scout_diag d = {0};
	struct scout_check c = {
		.diag = &d,
		.file = "f.ini",
		.section = &main_section,
		.key_lines = (unsigned[13]){0},
		.section_line = 0,
		.enabled = true,
	};
	scout_check_error(&c, "count", "needs %d", 5);
	scout_check_error(&c, NULL, "whole section");
	scout_check_error(&c, "nosuchkey", "still reported");
	assert_int_equal(d.n, 3);
	assert_string_equal(d.msgs[0], "f.ini:1: [main] count: needs 5");
	assert_string_equal(d.msgs[1], "f.ini:1: [main] whole section");
	assert_string_equal(d.msgs[2], "f.ini:1: [main] nosuchkey: still reported");
	scout_diag_free(&d);

	/* with lines: a written key at its own, the rest at the section's */
	unsigned lines[13] = {0};
	lines[1] = 9; /* count */
	c.key_lines = lines;
	c.section_line = 7;
	scout_check_error(&c, "count", "a");
	scout_check_error(&c, "flag", "b"); /* defaulted */
	scout_check_error(&c, NULL, "c");
	scout_check_error(&c, "nosuchkey", "d");
	assert_int_equal(d.n, 4);
	assert_string_equal(d.msgs[0], "f.ini:9: [main] count: a");
	assert_string_equal(d.msgs[1], "f.ini:7: [main] flag: b");
	assert_string_equal(d.msgs[2], "f.ini:7: [main] c");
	assert_string_equal(d.msgs[3], "f.ini:7: [main] nosuchkey: d");
	scout_diag_free(&d);
}

static void test_bad_default_is_reported(void **state)
{
	static const struct scout_option opts[] = {
		{.key = "n", .type = SCOUT_OPT_INT, .offset = 0, .def = "ten"},
		{0},
	};
	static const struct scout_section sec = {.name = "broken", .options = opts, .conf_size = sizeof(int64_t)};
	static const struct scout_section *const secs[] = {&sec};
	static const struct scout_schema bad = {secs, 1};
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;

	assert_int_equal(scout_config_parse(&bad, "b.ini", "", 0, &d, &cfg), -EINVAL);
	assert_null(cfg);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0],
			    "b.ini:1: [broken] n: built-in default 'ten' is invalid: expected a whole number");
	scout_diag_free(&d);
}

static void test_diag_sort_stable(void **state)
{
	struct scout_diag d = {0};

	scout_diag_add(&d, "f", 5, "five-a");
	scout_diag_add(&d, "f", 2, "two");
	scout_diag_add(&d, "f", 5, "five-b");
	scout_diag_add(&d, "f", 0, "whole file");
	for (int i = 0; i < 20; i++)
		scout_diag_add(&d, "f", 100 - (unsigned)i, "n%d", i);
	scout_diag_sort(&d);
	assert_int_equal(d.n, 24);
	assert_string_equal(d.msgs[0], "f: whole file");
	assert_string_equal(d.msgs[1], "f:2: two");
	assert_string_equal(d.msgs[2], "f:5: five-a");
	assert_string_equal(d.msgs[3], "f:5: five-b");
	assert_string_equal(d.msgs[4], "f:81: n19");
	assert_string_equal(d.msgs[23], "f:100: n0");
	for (size_t i = 1; i < d.n; i++)
		assert_true(d.lines[i - 1] <= d.lines[i]);
	scout_diag_free(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.msgs);
}

static void test_load_file(void **state)
{
	char dir[] = "/tmp/scout-test-config-XXXXXX", path[256], want[400];
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/scout.conf", dir);

	/* missing file: a message about the file, without a line */
	assert_int_equal(scout_config_load(&schema, path, &d, &cfg), -ENOENT);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(d.msgs[0], want);
	scout_diag_free(&d);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[main]\ncount = 4\n[mod]\nenabled = yes\nhost = h\nport = 70000\n", f);
	fclose(f);
	assert_int_equal(scout_config_load(&schema, path, &d, &cfg), -EINVAL);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want), "%s:6: [mod] port: '70000' is not valid (expected a whole number from 1 to 65535)",
		 path);
	assert_string_equal(d.msgs[0], want);
	scout_diag_free(&d);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[main]\ncount = 4\n", f);
	fclose(f);
	assert_int_equal(scout_config_load(&schema, path, &d, &cfg), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(cfg->path, path);
	assert_int_equal(main_of(cfg)->count, 4);

	/* take: the caller owns the section's struct */
	struct main_conf *m = scout_config_take(cfg, 0);
	assert_non_null(m);
	assert_null(cfg->confs[0]);
	scout_config_free(cfg);
	assert_string_equal(m->dir, "/tmp");
	scout_section_conf_free(&main_section, m);

	/* a directory is not a config file */
	assert_int_equal(scout_config_load(&schema, dir, &d, &cfg), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	assert_string_equal(d.msgs[0], want);
	scout_diag_free(&d);

	unlink(path);
	rmdir(dir);
}

/* Issue 7, point 12: opening a FIFO blocks until a writer comes, so a
 * FIFO as the config file hung --check-config, start-up and reloads (and
 * with a reload, the stop after it). Refused now without blocking. */
static void test_load_fifo(void **state)
{
	char dir[] = "/tmp/scout-test-config-XXXXXX", path[256], want[400];
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo.conf", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* a blocking open ends the test here (SIGALRM) */
	assert_int_equal(scout_config_load(&schema, path, &d, &cfg), -EINVAL);
	alarm(0);
	assert_null(cfg);
	assert_int_equal(d.n, 1);
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	assert_string_equal(d.msgs[0], want);
	scout_diag_free(&d);

	/* a character device likewise: never read from */
	alarm(10);
	assert_int_equal(scout_config_load(&schema, "/dev/zero", &d, &cfg), -EINVAL);
	alarm(0);
	assert_string_equal(d.msgs[0], "/dev/zero: not a regular file");
	scout_diag_free(&d);

	unlink(path);
	rmdir(dir);
}

static void test_schema_find(void **state)
{
	assert_int_equal(scout_schema_find(&schema, "main"), 0);
	assert_int_equal(scout_schema_find(&schema, "mod"), 1);
	assert_int_equal(scout_schema_find(&schema, "Main"), -1);
	assert_int_equal(scout_schema_find(&schema, ""), -1);
}

/* ---- value parsers ---------------------------------------------------- */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True", "oN"};
	static const char *const no[] = {"no", "false", "off", "0", "NO", "False"};
	static const char *const bad[] = {"", "y", "n", "2", "yes ", "enabled", "-1"};
	bool b;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(scout_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(scout_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = true;
		assert_int_equal(scout_parse_bool(bad[i], &b), -EINVAL);
		assert_true(b); /* untouched on failure */
	}
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{"0", 0},
		{"1", 1000},
		{"500ms", 500},
		{"30s", 30000},
		{"30sec", 30000},
		{"5m", 300000},
		{"5min", 300000},
		{"1h", 3600000},
		{"2d", 172800000},
		{"10 s", 10000},
		{"7MS", 7},
		{"3H", 10800000},
		{"18446744073709551615ms", UINT64_MAX},
		{"18446744073709551s", 18446744073709551000ull},
	};
	static const char *const bad[] = {"", "-1s", "+1s", "1.5s", "s", "1w", "1 s x", "1ss", " 1s", "1s ", "0x10"};
	static const char *const overflow[] = {"18446744073709551616ms", "99999999999999999999999",
					       "18446744073709552s", "213503982335d"};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		assert_int_equal(scout_parse_duration_ms(good[i].s, &v), 0);
		assert_int_equal(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (scout_parse_duration_ms(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 12345);
	}
	for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
		v = 12345;
		if (scout_parse_duration_ms(overflow[i], &v) != -ERANGE)
			fail_msg("'%s' not -ERANGE", overflow[i]);
		assert_int_equal(v, 12345);
	}
	/* 213503982334d is the last whole day that fits */
	assert_int_equal(scout_parse_duration_ms("213503982334d", &v), 0);
	assert_int_equal(v, 213503982334ull * 86400000ull);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} good[] = {
		{"0", 0},
		{"1", 1},
		{"512b", 512},
		{"512K", 512ull << 10},
		{"512kb", 512ull << 10},
		{"512KiB", 512ull << 10},
		{"100M", 100ull << 20},
		{"100mb", 100ull << 20},
		{"100MiB", 100ull << 20},
		{"2G", 2ull << 30},
		{"2gb", 2ull << 30},
		{"2gib", 2ull << 30},
		{"1T", 1ull << 40},
		{"1tb", 1ull << 40},
		{"1TiB", 1ull << 40},
		{"4 G", 4ull << 30},
		{"16777215T", 16777215ull << 40},
		{"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {"", "-1", "1.5G", "G", "1P", "1 G B", "1e3", "+5"};
	static const char *const overflow[] = {"16777216T", "18446744073709551616", "17179869184G",
					       "100000000000000000000000K"};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (scout_parse_size(good[i].s, &v) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (scout_parse_size(bad[i], &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(v, 12345);
	}
	for (size_t i = 0; i < sizeof(overflow) / sizeof(overflow[0]); i++) {
		v = 12345;
		if (scout_parse_size(overflow[i], &v) != -ERANGE)
			fail_msg("'%s' not -ERANGE", overflow[i]);
		assert_int_equal(v, 12345);
	}
}

static void test_overflow_in_file(void **state)
{
	expect_problems(
		"[main]\nbig = 16777216T\nwait = 18446744073709552s\n",
		PROBLEMS("t.ini:2: [main] big: '16777216T' is not valid (expected a size such as 512K, 100M or 2G)",
			 "t.ini:3: [main] wait: '18446744073709552s' is not valid (expected a duration such as "
			 "500ms, 30s, 5m, 1h or 2d)"));
}

/* ---- the real schema -------------------------------------------------- */

static void test_embedded_default(void **state)
{
	const struct scout_schema *real;
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;

	assert_int_equal(scout_agent_schema(&real), 0);
	assert_true(real->n >= 2);
	assert_string_equal(real->sections[0]->name, "agent");
	assert_true(scout_schema_find(real, "health") > 0);

	int r = scout_config_parse(real, SCOUT_EMBEDDED_NAME, scout_default_config, strlen(scout_default_config), &d,
				   &cfg);
	for (size_t i = 0; i < d.n; i++)
		print_error("problem: %s\n", d.msgs[i]);
	assert_int_equal(r, 0);
	assert_int_equal(d.n, 0);
	assert_non_null(cfg);
	assert_null(cfg->path);
	int h = scout_schema_find(real, "health");
	assert_true(cfg->enabled[h]);
	assert_true(cfg->section_lines[0] > 0);
	scout_config_free(cfg);

	/* scout_agent_check agrees, and prints nothing */
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	assert_non_null(f);
	assert_int_equal(scout_agent_check(NULL, f), 0);
	fclose(f);
	assert_int_equal(outlen, 0);
	free(out);

	/* every default in the real schema parses: a file naming only the
	 * sections gives no problem either */
	for (size_t i = 0; i < real->n; i++) {
		char text[128];
		snprintf(text, sizeof(text), "[%s]\n", real->sections[i]->name);
		cfg = NULL;
		assert_int_equal(scout_config_parse(real, "x.ini", text, strlen(text), &d, &cfg), 0);
		assert_int_equal(d.n, 0);
		scout_config_free(cfg);
	}
}

static void test_real_schema_problems(void **state)
{
	const struct scout_schema *real;
	struct scout_diag d = {0};
	struct scout_config *cfg = NULL;
	static const char text[] = "[agent]\nlog_level = loud\nstore_max_size = 1K\n[health]\ninterval = 10ms\n"
				   "histroy = 5\n";

	assert_int_equal(scout_agent_schema(&real), 0);
	assert_int_equal(scout_config_parse(real, "r.ini", text, strlen(text), &d, &cfg), -EINVAL);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.msgs[0], "r.ini:2: [agent] log_level: 'loud' is not valid (expected one of error, warn, "
				       "info, debug)");
	assert_string_equal(d.msgs[1], "r.ini:3: [agent] store_max_size: '1K' is not valid (expected a size from "
				       "1048576 to 1099511627776 bytes (e.g. 512K, 100M, 2G))");
	assert_string_equal(d.msgs[2], "r.ini:5: [health] interval: '10ms' is not valid (expected a duration from "
				       "1000ms to 3600s (e.g. 500ms, 30s, 5m, 1h))");
	assert_string_equal(d.msgs[3], "r.ini:6: [health] unknown key 'histroy' (did you mean 'history'?)");
	scout_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_bounds_inclusive),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_continuation_of_enabled),
		cmocka_unit_test(test_inline_comments),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_no_trailing_newline_and_not_nul_terminated),
		cmocka_unit_test(test_line_198_ok),
		cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_empty_key),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_ints),
		cmocka_unit_test(test_value_shown_safely),
		cmocka_unit_test(test_required_only_when_enabled),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_duplicate_section_merges),
		cmocka_unit_test(test_key_outside_section),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_cr_only_line_endings),
		cmocka_unit_test(test_text_after_section),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_all_problems_sorted),
		cmocka_unit_test(test_check_hook),
		cmocka_unit_test(test_check_error_without_section_line),
		cmocka_unit_test(test_bad_default_is_reported),
		cmocka_unit_test(test_diag_sort_stable),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_fifo),
		cmocka_unit_test(test_schema_find),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_overflow_in_file),
		cmocka_unit_test(test_embedded_default),
		cmocka_unit_test(test_real_schema_problems),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
