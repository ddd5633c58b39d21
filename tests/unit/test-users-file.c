/* The users file (src/modules/users/users-file.c): what a good file gives,
 * and for each way a line can be wrong, the FILE:LINE message; the file's
 * own checks (mode, type, size). Hashes are made here with crypt(3). */
#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/users/users-file.h"

static char dir[] = "/tmp/scout-users-XXXXXX";
static char sha512[CRYPT_OUTPUT_SIZE], yescrypt[CRYPT_OUTPUT_SIZE];

static void make_hash(const char *prefix, const char *pw, char *out)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd = {0};

	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, setting, sizeof(setting)));
	snprintf(out, CRYPT_OUTPUT_SIZE, "%s", crypt_rn(pw, setting, &cd, sizeof(cd)));
	assert_true(out[0] == '$');
}

static int parse(const char *text, struct users_table **t, char *err, size_t errlen)
{
	return users_parse("users", text, strlen(text), t, err, errlen);
}

static void parse_bad(const char *text, const char *want)
{
	struct users_table *t = NULL;
	char err[512] = "";

	assert_int_equal(parse(text, &t, err, sizeof(err)), -EINVAL);
	assert_null(t);
	if (strcmp(err, want) != 0)
		fail_msg("got '%s', want '%s'", err, want);
}

static void test_good(void **state)
{
	char text[2048], err[256];
	struct users_table *t;

	snprintf(text, sizeof(text), "# local accounts\n\n  # indented comment\nbob:%s\r\nalice:%s\nJosé Müller:%s",
		 sha512, yescrypt, yescrypt);
	assert_int_equal(parse(text, &t, err, sizeof(err)), 0);
	assert_int_equal(users_count(t), 3);
	assert_string_equal(users_name_at(t, 0), "José Müller"); /* sorted by bytes */
	assert_string_equal(users_name_at(t, 1), "alice");
	assert_string_equal(users_find(t, "bob"), sha512);
	assert_string_equal(users_find(t, "alice"), yescrypt);
	assert_null(users_find(t, "Alice")); /* exact names */
	assert_null(users_find(t, "carol"));
	assert_string_equal(users_scheme(t), "$y$"); /* two of three */
	assert_string_equal(users_scheme_of(sha512), "sha512crypt");
	assert_string_equal(users_scheme_of(users_hash_at(t, 0)), "yescrypt");
	users_free(t);

	/* an empty file is an empty table (every login refused), not an error */
	assert_int_equal(parse("# nobody yet\n", &t, err, sizeof(err)), 0);
	assert_int_equal(users_count(t), 0);
	assert_string_equal(users_scheme(t), "$y$");
	users_free(t);
}

static void test_bad_lines(void **state)
{
	char text[2048], want[256];

	parse_bad("alice\n", "users:1: expected name:hash");
	snprintf(text, sizeof(text), "# ok\nalice:%s:0:0\n", sha512);
	parse_bad(text, "users:2: expected name:hash"); /* a shadow line is not taken as it is */
	snprintf(text, sizeof(text), ":%s\n", sha512);
	parse_bad(text, "users:1: empty user name");
	snprintf(text, sizeof(text), "alice :%s\n", sha512);
	parse_bad(text, "users:1: white space around the user name");
	snprintf(text, sizeof(text), "al\x01ice:%s\n", sha512);
	parse_bad(text, "users:1: control character in the user name");
	snprintf(text, sizeof(text), "al\xffice:%s\n", sha512);
	parse_bad(text, "users:1: user name is not UTF-8");
	parse_bad("alice:secret\n",
		  "users:1: the hash is not a crypt(3) hash such as mkpasswd or openssl passwd -6 make");
	parse_bad("alice:$zz$abc$def\n", "users:1: the hash is not one this system's crypt(3) knows");
	parse_bad("alice:$1$abcdefgh$znAnv9M.XU2pRYfmSs46h/\n",
		  "users:1: the hash uses a weak scheme: make it with mkpasswd (yescrypt) or openssl passwd -6");
	snprintf(text, sizeof(text), "alice:%s\nbob:%s\n\nalice:%s\n", sha512, sha512, yescrypt);
	parse_bad(text, "users:4: user 'alice' is on line 1 already");
	char name[300];
	memset(name, 'n', 257);
	name[257] = '\0';
	snprintf(text, sizeof(text), "%s:%s\n", name, sha512);
	parse_bad(text, "users:1: user name longer than 256 bytes");

	struct users_table *t = NULL;
	char err[256];
	snprintf(text, sizeof(text), "alice:%s\n", sha512);
	text[3] = '\0';
	snprintf(want, sizeof(want), "users:1: NUL byte in the line");
	assert_int_equal(users_parse("users", text, strlen(sha512) + 7, &t, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
	char path[256], text[1024], err[512], warn[256];
	struct users_table *t;

	snprintf(path, sizeof(path), "%s/users", dir);
	snprintf(text, sizeof(text), "alice:%s\n", yescrypt);
	write_file(path, text, 0640);
	warn[0] = '\0';
	assert_int_equal(users_load(path, &t, warn, sizeof(warn), err, sizeof(err)), 0);
	assert_string_equal(warn, "");
	assert_int_equal(users_count(t), 1);
	users_free(t);

	/* readable by all: loads, with a warning */
	chmod(path, 0644);
	assert_int_equal(users_load(path, &t, warn, sizeof(warn), err, sizeof(err)), 0);
	assert_non_null(strstr(warn, "every local user may read the password hashes (mode 644); chmod 0640"));
	users_free(t);

	/* writable by others: refused */
	chmod(path, 0662);
	assert_int_equal(users_load(path, &t, warn, sizeof(warn), err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "others may write it (mode 662)"));

	/* a bad line names the file's path and the line */
	snprintf(text, sizeof(text), "alice:%s\nbob\n", yescrypt);
	write_file(path, text, 0600);
	assert_int_equal(users_load(path, &t, warn, sizeof(warn), err, sizeof(err)), -EINVAL);
	char want[300];
	snprintf(want, sizeof(want), "%s:2: expected name:hash", path);
	assert_string_equal(err, want);

	assert_int_equal(users_load(dir, &t, warn, sizeof(warn), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(path, sizeof(path), "%s/absent", dir);
	assert_int_equal(users_load(path, &t, warn, sizeof(warn), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "absent: cannot open: No such file or directory"));
}

static void test_equal(void **state)
{
	assert_true(users_equal("abc", "abc", 3));
	assert_false(users_equal("abc", "abd", 3));
	assert_true(users_equal("abc", "abd", 2));
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	make_hash("$6$", "secret", sha512);
	make_hash("$y$", "secret", yescrypt);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_equal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
