/* A check of the store's LMDB data file before LMDB maps it. LMDB trusts
 * the contents of every page it reads: a node offset or size changed on
 * disk makes mdb_put copy past the end of a page buffer. The check reads
 * the file with pread only and walks every page LMDB could reach. */
#pragma once

#include <stddef.h>

enum scout_store_state {
	SCOUT_STORE_SOUND,
	SCOUT_STORE_EMPTY,     /* 0 bytes: a store that lost everything */
	SCOUT_STORE_FOREIGN,   /* no LMDB header: not a store at all */
	SCOUT_STORE_TRUNCATED, /* pages in use lie past the end of the file */
	SCOUT_STORE_DAMAGED,   /* a page or record that LMDB would misread */
};

/* Checks the LMDB data file open on fd, never writing to it. Returns 0
 * with the verdict in *ret_state and, for anything but SOUND, a short
 * description of the first problem in why (which database, which page,
 * what is wrong; the caller names the file). Returns -errno when the file
 * cannot be read or memory runs out. */
int scout_store_check(int fd, enum scout_store_state *ret_state, char *why, size_t whylen);
