/* libFuzzer target for the users file parser: any bytes either load or
 * fail with a "users:LINE: ..." message; a loaded table finds each of its
 * names, in order, with a hash that starts with '$'. */
#include <string.h>

#include "fuzz.h"
#include "modules/users/users-file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct users_table *t = NULL;
	char err[512] = "";
	int r = users_parse("users", (const char *)data, size, &t, err, sizeof(err));

	if (r < 0) {
		CHECK(t == NULL);
		CHECK(strncmp(err, "users:", 6) == 0);
		return 0;
	}
	for (size_t i = 0; i < users_count(t); i++) {
		const char *name = users_name_at(t, i);
		CHECK(users_find(t, name) == users_hash_at(t, i));
		CHECK(users_hash_at(t, i)[0] == '$');
		if (i)
			CHECK(strcmp(users_name_at(t, i - 1), name) < 0);
	}
	CHECK(users_scheme(t)[0] == '$');
	users_free(t);
	return 0;
}
