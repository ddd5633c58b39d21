/* libFuzzer target for the configuration parser: arbitrary bytes go through
 * scout_config_parse() with the agent's real schema (module parsers such as
 * snmp's ranges and windows included), then with a test schema holding what
 * the real one may lack (yes/no keys, a custom list, a required key, a secret,
 * a section-wide check, a section without options).
 *
 * Whatever the input, the parser must answer with messages, never a crash or
 * a leak, and the messages must keep the "FILE:LINE: message" contract that
 * --check-config and reload errors rely on: one problem per line, sorted by line,
 * each naming the file and a line that exists (1 stands for an empty file),
 * with no control characters whatever the values quoted, and never quoting
 * the value of a secret key. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "loop/agent.h"
#include "loop/config.h"

#define FILE_NAME "fuzz.conf"

/* ---- the test schema -------------------------------------------------- */

struct words {
	char **v;
	size_t n;
};

struct test_conf {
	bool flag;
	char *name;  /* required when enabled */
	int64_t pin; /* secret */
	struct words list;
	int mode;
	uint64_t timeout, limit;
	int64_t count;
};

static void words_free(void *field)
{
	struct words *w = field;

	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	*w = (struct words){0};
}

/* "a, b,c": comma-separated words of a-z. */
static int words_parse(const char *value, void *field, char *err, size_t errlen)
{
	struct words *w = field;
	const char *p = value;

	for (;;) {
		p += strspn(p, " \t\n");
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz");
		if (n == 0 || n > 16) {
			snprintf(err, errlen, "expected words of 1 to 16 of a-z, separated by commas");
			words_free(w);
			return -EINVAL;
		}
		char **v = realloc(w->v, (w->n + 1) * sizeof(*v));
		if (!v || !(v[w->n] = strndup(p, n))) {
			if (v)
				w->v = v;
			words_free(w);
			return -ENOMEM;
		}
		w->v = v;
		w->n++;
		p += n;
		p += strspn(p, " \t\n");
		if (!*p)
			return 0;
		if (*p++ != ',') {
			snprintf(err, errlen, "expected a comma between words");
			words_free(w);
			return -EINVAL;
		}
	}
}

static const char *const modes[] = {"fast", "safe", NULL};

static const struct scout_option test_options[] = {
	{.key = "flag", .type = SCOUT_OPT_BOOL, .offset = offsetof(struct test_conf, flag), .def = "no"},
	{.key = "name", .type = SCOUT_OPT_STRING, .offset = offsetof(struct test_conf, name)},
	{.key = "pin",
	 .type = SCOUT_OPT_INT,
	 .offset = offsetof(struct test_conf, pin),
	 .def = "0",
	 .min = 0,
	 .max = 9999,
	 .secret = true},
	{.key = "list",
	 .type = SCOUT_OPT_CUSTOM,
	 .offset = offsetof(struct test_conf, list),
	 .def = "a",
	 .parse = words_parse,
	 .free = words_free},
	{.key = "mode",
	 .type = SCOUT_OPT_ENUM,
	 .offset = offsetof(struct test_conf, mode),
	 .def = "fast",
	 .choices = modes},
	{.key = "timeout", .type = SCOUT_OPT_DURATION, .offset = offsetof(struct test_conf, timeout), .def = "1s"},
	{.key = "limit", .type = SCOUT_OPT_SIZE, .offset = offsetof(struct test_conf, limit), .def = "1M"},
	{.key = "count", .type = SCOUT_OPT_INT, .offset = offsetof(struct test_conf, count), .def = "0"},
	{0},
};

static void test_check(void *conf, struct scout_check *c)
{
	struct test_conf *t = conf;

	if (t->flag && !*t->name)
		scout_check_error(c, "name", "must not be empty when flag is set");
	if (t->count > 100)
		scout_check_error(c, NULL, "count %lld is more than 100", (long long)t->count);
}

static const struct scout_section test_section = {
	.name = "test",
	.options = test_options,
	.conf_size = sizeof(struct test_conf),
	.has_enabled = true,
	.check = test_check,
};
static const struct scout_section plain_section = {.name = "plain"};
static const struct scout_section *const test_sections[] = {&test_section, &plain_section};
static const struct scout_schema test_schema = {.sections = test_sections, .n = 2};

/* ---- checks ----------------------------------------------------------- */

static unsigned count_lines(const uint8_t *data, size_t size)
{
	unsigned n = 0;

	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	if (size && data[size - 1] != '\n')
		n++;
	return n ? n : 1;
}

/* Whether body is a message about a secret key's value: "[section] key: ...". */
static bool about_secret(const struct scout_schema *schema, const char *body)
{
	for (size_t i = 0; i < schema->n; i++) {
		const struct scout_section *sec = schema->sections[i];
		size_t ls = strlen(sec->name);
		if (body[0] != '[' || strncmp(body + 1, sec->name, ls) != 0 || body[ls + 1] != ']' ||
		    body[ls + 2] != ' ')
			continue;
		for (const struct scout_option *o = sec->options; o && o->key; o++) {
			size_t lk = strlen(o->key);
			if (o->secret && strncmp(body + ls + 3, o->key, lk) == 0 && body[ls + 3 + lk] == ':')
				return true;
		}
	}
	return false;
}

static void check_message(const struct scout_schema *schema, const char *msg, unsigned line, unsigned max_line)
{
	char prefix[64];

	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", FILE_NAME, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", FILE_NAME);
	CHECK(strncmp(msg, prefix, strlen(prefix)) == 0);
	const char *body = msg + strlen(prefix);
	if (strncmp(body, "warning: ", 9) == 0)
		body += 9;
	CHECK(*body);
	CHECK(line <= max_line);
	for (const char *c = msg; *c; c++) /* one line, no terminal escapes */
		CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
	/* a secret's value is never quoted */
	if (about_secret(schema, body))
		CHECK(!strchr(body, '\''));
}

static void check_test_conf(const struct scout_config *cfg)
{
	const struct test_conf *t = cfg->confs[0];

	CHECK(!cfg->enabled[0] || t->name);
	CHECK(t->pin >= 0 && t->pin <= 9999);
	CHECK(t->list.n >= 1);
	for (size_t i = 0; i < t->list.n; i++)
		CHECK(strlen(t->list.v[i]) >= 1 && strlen(t->list.v[i]) <= 16);
	CHECK(t->mode == 0 || t->mode == 1);
	CHECK(!cfg->enabled[0] || t->count <= 100);
}

static void parse_one(const struct scout_schema *schema, const uint8_t *data, size_t size)
{
	struct scout_diag diag = {0};
	struct scout_config *cfg = NULL;
	unsigned max_line = count_lines(data, size);
	int r;

	/* The parser appends to a diag that may already hold messages; one
	 * about no line sorts first and must survive untouched. */
	scout_diag_add(&diag, "earlier", 0, "kept");
	r = scout_config_parse(schema, FILE_NAME, (const char *)data, size, &diag, &cfg);
	CHECK(diag.n >= 1 && strcmp(diag.msgs[0], "earlier: kept") == 0);

	if (r == 0) {
		CHECK(scout_diag_errors(&diag) == 1); /* the earlier one; the rest are warnings */
		for (size_t i = 1; i < diag.n; i++) {
			CHECK(diag.warning[i]);
			check_message(schema, diag.msgs[i], diag.lines[i], max_line);
		}
		CHECK(cfg && cfg->schema == schema && !cfg->path);
		for (size_t i = 0; i < schema->n; i++)
			CHECK(cfg->confs[i] && cfg->section_lines[i] <= max_line);
		if (schema == &test_schema)
			check_test_conf(cfg);
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(!cfg); /* written only on success */
		CHECK(r == -ENOMEM || diag.n > 1);
		for (size_t i = 1; i < diag.n; i++) {
			check_message(schema, diag.msgs[i], diag.lines[i], max_line);
			CHECK(i == 1 || diag.lines[i - 1] <= diag.lines[i]);
		}
	}
	scout_config_free(cfg);
	scout_diag_free(&diag);
}

/* Once per run, what the input bytes cannot vary: a file name longer than a
 * message (scoutd -c takes any path) must be cut, not overflow. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] = "[nope]\nkey = value\n";
	const struct scout_schema *schema;
	struct scout_diag diag = {0};
	struct scout_config *cfg = NULL;
	char name[4096];

	(void)argc;
	(void)argv;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	CHECK(scout_agent_schema(&schema) == 0);
	CHECK(scout_config_parse(schema, name, text, sizeof(text) - 1, &diag, &cfg) == -EINVAL);
	CHECK(diag.n == 1 && strncmp(diag.msgs[0], name, strlen(diag.msgs[0])) == 0);
	scout_diag_free(&diag);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct scout_schema *schema;

	if (!schema)
		CHECK(scout_agent_schema(&schema) == 0);
	parse_one(schema, data, size);
	parse_one(&test_schema, data, size);
	return 0;
}
