/* reader.h: the sealed bytes come from the job's file (pread) or from its
 * record (a copy of the inline chunk); crypt.h's reader checks the layout,
 * the last chunk and every chunk it opens. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader.h"

static ssize_t read_sealed(void *arg, uint64_t off, void *buf, size_t len)
{
	struct vault_reader *r = arg;
	size_t got = 0;

	if (off >= r->sealed_size)
		return 0;
	if (len > r->sealed_size - off)
		len = (size_t)(r->sealed_size - off);
	if (r->fd < 0) {
		memcpy(buf, r->inline_ + off, len);
		return (ssize_t)len;
	}
	while (got < len) {
		ssize_t k = pread(r->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int vault_reader_open(struct vault_reader *r, const struct vault_key *doc_key, uint32_t id)
{
	if (pthread_mutex_init(&r->lock, NULL) != 0)
		return -ENOMEM;
	r->lock_ready = true;
	return vault_chunk_reader_open(doc_key, id, r->sealed_size, read_sealed, r, &r->cr, NULL);
}

void vault_reader_free(struct vault_reader *r)
{
	vault_chunk_reader_free(r->cr);
	r->cr = NULL;
	free(r->inline_);
	r->inline_ = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->lock_ready)
		pthread_mutex_destroy(&r->lock);
	r->lock_ready = false;
}

int vault_reader_chunk(struct vault_reader *r, uint32_t index, uint8_t *out, size_t *ret_len, bool *ret_last)
{
	const uint8_t *data;
	size_t len;
	bool last;
	int rc;

	pthread_mutex_lock(&r->lock);
	rc = vault_chunk_reader_chunk(r->cr, index, &data, &len, &last, NULL);
	if (rc == 0) {
		memcpy(out, data, len);
		*ret_len = len;
		*ret_last = last;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

ssize_t vault_reader_read_at(void *arg, uint64_t off, void *buf, size_t len)
{
	struct vault_reader *r = arg;

	return vault_chunk_reader_read_at(r->cr, off, buf, len);
}
