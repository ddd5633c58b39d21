/* A decrypting reader over a stored job (crypt.h's chunk reader over the
 * job's file or its inline record bytes), on pool threads: whole chunks by
 * index (job.read; reads of one handle may run on several pool threads at
 * once, so they take the reader's lock) or any byte range (the analysers'
 * read_at). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypt.h"

struct vault_reader {
	int fd;           /* the job's file, or -1 */
	uint8_t *inline_; /* the sealed one-chunk document (owned), or NULL */
	uint64_t sealed_size;
	struct vault_chunk_reader *cr;
	pthread_mutex_t lock;
	bool lock_ready;
};

/* fd / inline_ and sealed_size set; doc_key is copied (the caller frees
 * its own). -EBADMSG when the document does not authenticate (a cut or
 * damaged file, a wrong key). */
int vault_reader_open(struct vault_reader *r, const struct vault_key *doc_key, uint32_t id);
void vault_reader_free(struct vault_reader *r);
/* Chunk index decrypted into out (SCOUT_VAULT_CHUNK bytes): its length
 * and whether it is the last, or -errno. */
int vault_reader_chunk(struct vault_reader *r, uint32_t index, uint8_t *out, size_t *ret_len, bool *ret_last);
/* analyse.h's read_at: up to len bytes at off; 0 at the end, -errno. */
ssize_t vault_reader_read_at(void *arg, uint64_t off, void *buf, size_t len);
