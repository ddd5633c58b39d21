/* A decrypting reader over a stored job, on a pool thread: whole chunks
 * by index (job.read) or any byte range (the analysers' read_at), one
 * chunk decrypted at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "seal.h"

struct vault_reader {
	uint32_t id;
	uint8_t dk[VAULT_KEY_LEN];
	uint64_t size; /* plaintext bytes */
	uint32_t chunks;
	int fd;           /* the job's file, or -1 */
	uint8_t *inline_; /* the sealed one-chunk document, or NULL (owned) */
	size_t inline_len;
	/* the chunk last decrypted */
	uint8_t *plain, *sealed;
	int64_t cached; /* its index, -1 */
	size_t cached_len;
};

int vault_reader_init(struct vault_reader *r);
void vault_reader_free(struct vault_reader *r);
/* Decrypts chunk index into r->plain; its length, or -EBADMSG / -EIO. */
int vault_reader_chunk(struct vault_reader *r, uint32_t index);
/* analyse.h's read_at: up to len bytes at off; 0 at the end, -errno. */
ssize_t vault_reader_read_at(void *arg, uint64_t off, void *buf, size_t len);
