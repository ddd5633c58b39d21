/* reader.h: chunk i of a file job is at i * VAULT_SEALED_CHUNK; the last
 * chunk is sealed with the last flag, so a cut file fails to open rather
 * than reading short. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

int vault_reader_init(struct vault_reader *r)
{
	r->cached = -1;
	r->plain = malloc(VAULT_CHUNK);
	r->sealed = r->fd >= 0 ? malloc(VAULT_SEALED_CHUNK) : NULL;
	return r->plain && (r->fd < 0 || r->sealed) ? 0 : -ENOMEM;
}

void vault_reader_free(struct vault_reader *r)
{
	if (r->plain) {
		vault_wipe(r->plain, VAULT_CHUNK);
		free(r->plain);
	}
	free(r->sealed);
	free(r->inline_);
	if (r->fd >= 0)
		close(r->fd);
	vault_wipe(r->dk, sizeof(r->dk));
	r->plain = r->sealed = r->inline_ = NULL;
	r->fd = -1;
}

int vault_reader_chunk(struct vault_reader *r, uint32_t index)
{
	bool last = index + 1 == r->chunks;
	const uint8_t *in;
	size_t len;
	int n;

	if (index >= r->chunks)
		return -EINVAL;
	if (r->cached == (int64_t)index)
		return (int)r->cached_len;
	r->cached = -1;
	if (r->fd < 0) {
		in = r->inline_;
		len = r->inline_len;
	} else {
		size_t want = VAULT_SEALED_CHUNK, got = 0;
		while (got < want) {
			ssize_t k = pread(r->fd, r->sealed + got, want - got,
					  (off_t)index * VAULT_SEALED_CHUNK + (off_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			if (k == 0)
				break;
			got += (size_t)k;
		}
		in = r->sealed;
		len = got;
	}
	n = vault_chunk_open(r->dk, r->id, index, last, in, len, r->plain);
	if (n < 0)
		return n;
	r->cached = index;
	r->cached_len = (size_t)n;
	return n;
}

ssize_t vault_reader_read_at(void *arg, uint64_t off, void *buf, size_t len)
{
	struct vault_reader *r = arg;
	size_t done = 0;

	while (done < len && off < r->size) {
		uint32_t idx = (uint32_t)(off / VAULT_CHUNK);
		size_t in = (size_t)(off % VAULT_CHUNK);
		int n = vault_reader_chunk(r, idx);
		if (n < 0)
			return done ? (ssize_t)done : n;
		if ((size_t)n <= in)
			break;
		size_t k = (size_t)n - in < len - done ? (size_t)n - in : len - done;
		memcpy((uint8_t *)buf + done, r->plain + in, k);
		done += k;
		off += k;
	}
	return (ssize_t)done;
}
