/* libFuzzer target: ldir_srv_parse() on arbitrary DNS messages, then the
 * ordering on whatever it accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/ldap/srv.h"

static uint64_t fixed(void *arg)
{
	(void)arg;
	return 0x9e3779b97f4a7c15ull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ldir_srv *v = NULL;
	size_t n = 0;

	if (ldir_srv_parse(data, size, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (strlen(v[i].target) >= sizeof(v[i].target) || v[i].port == 0)
				abort();
			if (i && v[i].priority < v[i - 1].priority)
				abort();
		}
		ldir_srv_shuffle(v, n, fixed, NULL);
		ldir_srv_min_ttl(v, n);
		free(v);
	}
	return 0;
}
