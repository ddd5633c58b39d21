/* Secrets in files: credential paths and one-line password files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop/config.h"
#include "loop/secret.h"

static char dir[] = "/tmp/scout-secret-XXXXXX";

static void put(const char *name, const char *data, size_t len, char *path, size_t size)
{
	snprintf(path, size, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static int read_line(const char *name, const char *data, size_t len, char *buf, size_t size, size_t *ret_len, char *why)
{
	char path[256];
	put(name, data, len, path, sizeof(path));
	return scout_secret_read_line(path, buf, size, ret_len, why, 256);
}

static void test_read_line(void **state)
{
	char buf[16], why[256];
	size_t len = 99;

	assert_int_equal(read_line("a", "s3cret\n", 7, buf, sizeof(buf), &len, why), 0);
	assert_string_equal(buf, "s3cret");
	assert_int_equal(len, 6);
	assert_int_equal(read_line("b", "s3cret", 6, buf, sizeof(buf), &len, why), 0);
	assert_string_equal(buf, "s3cret");
	assert_int_equal(read_line("c", "s3cret\r\n\n", 9, buf, sizeof(buf), &len, why), 0);
	assert_string_equal(buf, "s3cret");
	/* exactly size - 1 bytes fits, one more does not */
	assert_int_equal(read_line("d", "123456789012345", 15, buf, sizeof(buf), &len, why), 0);
	assert_int_equal(len, 15);
	assert_int_equal(read_line("e", "1234567890123456", 16, buf, sizeof(buf), &len, why), -E2BIG);
	assert_non_null(strstr(why, "longer than 15 bytes"));
	assert_int_equal(buf[0], 0); /* wiped */
	assert_int_equal(read_line("f", "", 0, buf, sizeof(buf), &len, why), -EINVAL);
	assert_non_null(strstr(why, "empty"));
	assert_int_equal(read_line("g", "\n", 1, buf, sizeof(buf), &len, why), -EINVAL);
	assert_int_equal(read_line("h", "one\ntwo\n", 8, buf, sizeof(buf), &len, why), -EINVAL);
	assert_non_null(strstr(why, "more than one line"));
	assert_int_equal(read_line("i", "Qz\0y\n", 5, buf, sizeof(buf), &len, why), -EINVAL);
	assert_non_null(strstr(why, "NUL"));
	/* the secret is never in the reason */
	assert_null(strstr(why, "Qz"));
	assert_int_equal(scout_secret_read_line("/nonexistent/pw", buf, sizeof(buf), &len, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "/nonexistent/pw"));
	assert_int_equal(scout_secret_read_line(dir, buf, sizeof(buf), &len, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "not a regular file"));
}

static void test_credential_path(void **state)
{
	char *p = NULL, why[256];

	assert_int_equal(scout_credential_path("/etc/scout/pw", &p, why, sizeof(why)), 0);
	assert_string_equal(p, "/etc/scout/pw");
	free(p);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(scout_credential_path("%d/ldap-bind", &p, why, sizeof(why)), -ENOKEY);
	assert_non_null(strstr(why, "%d/ldap-bind names a credential"));
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/scout.service", 1);
	assert_int_equal(scout_credential_path("%d/ldap-bind", &p, why, sizeof(why)), 0);
	assert_string_equal(p, "/run/credentials/scout.service/ldap-bind");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_line),
		cmocka_unit_test(test_credential_path),
	};
	int r;

	if (!mkdtemp(dir))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
