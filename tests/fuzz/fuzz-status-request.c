/* libFuzzer target for the status socket's request parser: arbitrary bytes
 * as one request line (up to and past the 64 KiB limit). A request that is
 * accepted must be a JSON object whose cmd is one or two words of [a-z0-9-]
 * (one space between), 32 bytes at most, the very string under its "cmd"
 * key; a refused one must come with a message. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "loop/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *request = NULL;
	const char *cmd = NULL;
	char err[256];
	int r;

	memset(err, 'x', sizeof(err));
	r = scout_status_parse_request((const char *)data, size, &request, &cmd, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL);
		CHECK(!request && !cmd); /* written only on success */
		CHECK(memchr(err, 0, sizeof(err)) && err[0]);
		return 0;
	}
	CHECK(r == 0);
	CHECK(size <= SCOUT_STATUS_MAX_LINE);
	CHECK(json_is_object(request));
	CHECK(cmd);
	size_t n = strlen(cmd);
	CHECK(n >= 1 && n <= 32);
	/* one word of a-z, 0-9 and -, or two separated by one space */
	const char *word = "abcdefghijklmnopqrstuvwxyz0123456789-";
	size_t first = strspn(cmd, word);
	CHECK(first >= 1);
	CHECK(first == n || (cmd[first] == ' ' && first + 1 < n && first + 1 + strspn(cmd + first + 1, word) == n));
	json_t *c = json_object_get(request, "cmd");
	CHECK(json_is_string(c) && json_string_value(c) == cmd && json_string_length(c) == n);
	json_decref(request);
	return 0;
}
