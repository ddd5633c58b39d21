/* The vault's records in its database, and its files. A job's record,
 * under "j" + its id (4 bytes, big-endian), is a msgpack map:
 *
 *   v 1, exp uint (unix s: when the job is shredded or its tombstone
 *   dropped; in the clear so that a locked vault still expires jobs),
 *   mk bin (the metadata key, wrapped), meta bin (the sealed metadata),
 *   and while the document is there: dk bin (the document key, wrapped),
 *   n uint (sealed chunks), then doc bin (a one-chunk document, sealed,
 *   inline) or flen uint (the sealed length of state_dir/vault/<id>).
 *
 * A tombstone is a record without dk. The site key's parameters are under
 * "params": {v 1, cost uint, salt bin, check bin}. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loop/pack.h"
#include "state.h"

void vault_key(uint32_t id, uint8_t key[5])
{
	key[0] = 'j';
	key[1] = (uint8_t)(id >> 24);
	key[2] = (uint8_t)(id >> 16);
	key[3] = (uint8_t)(id >> 8);
	key[4] = (uint8_t)id;
}

static int get_bin(const msgpack_object *map, const char *key, const uint8_t **ret, size_t *ret_len)
{
	const msgpack_object *o = scout_pack_get(map, key);

	if (!o || o->type != MSGPACK_OBJECT_BIN)
		return -EBADMSG;
	*ret = (const uint8_t *)o->via.bin.ptr;
	*ret_len = o->via.bin.size;
	return 0;
}

/* The record's fields point into data. */
int vault_record_decode(const void *data, size_t len, struct record *ret)
{
	struct record r = {0};
	msgpack_unpacked u;
	size_t off = 0, n;
	uint64_t ver, x;
	int rc = -EBADMSG;

	msgpack_unpacked_init(&u);
	/* bin and str objects point into data (msgpack-c copies only maps
	 * and arrays into its zone), so they outlive u */
	if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
		goto out;
	const msgpack_object *o = &u.data;
	if (scout_pack_get_uint(o, "v", &ver) < 0 || ver != 1 || scout_pack_get_uint(o, "exp", &r.expires) < 0 ||
	    get_bin(o, "mk", &r.wmk, &n) < 0 || n != VAULT_WRAP_LEN || get_bin(o, "meta", &r.meta, &r.meta_len) < 0)
		goto out;
	if (get_bin(o, "dk", &r.wdk, &n) == 0) {
		if (n != VAULT_WRAP_LEN || scout_pack_get_uint(o, "n", &x) < 0 || x == 0 || x > UINT32_MAX)
			goto out;
		r.has_doc = true;
		r.chunks = (uint32_t)x;
		if (get_bin(o, "doc", &r.doc, &r.doc_len) == 0) {
			if (r.chunks != 1 || r.doc_len < VAULT_TAG || r.doc_len > VAULT_SEALED_CHUNK)
				goto out;
		} else if (scout_pack_get_uint(o, "flen", &r.flen) == 0) {
			r.in_file = true;
			uint64_t full = (uint64_t)(r.chunks - 1) * VAULT_SEALED_CHUNK;
			if (r.flen <= full || r.flen > full + VAULT_SEALED_CHUNK)
				goto out;
		} else {
			goto out;
		}
	}
	*ret = r;
	rc = 0;
out:
	msgpack_unpacked_destroy(&u);
	return rc;
}

void vault_record_pack(msgpack_packer *pk, const struct record *r)
{
	msgpack_pack_map(pk, r->has_doc ? 7 : 4);
	scout_pack_str(pk, "v");
	msgpack_pack_uint8(pk, 1);
	scout_pack_str(pk, "exp");
	msgpack_pack_uint64(pk, r->expires);
	scout_pack_str(pk, "mk");
	msgpack_pack_bin_with_body(pk, r->wmk, VAULT_WRAP_LEN);
	scout_pack_str(pk, "meta");
	msgpack_pack_bin_with_body(pk, r->meta, r->meta_len);
	if (!r->has_doc)
		return;
	scout_pack_str(pk, "dk");
	msgpack_pack_bin_with_body(pk, r->wdk, VAULT_WRAP_LEN);
	scout_pack_str(pk, "n");
	msgpack_pack_uint32(pk, r->chunks);
	if (r->in_file) {
		scout_pack_str(pk, "flen");
		msgpack_pack_uint64(pk, r->flen);
	} else {
		scout_pack_str(pk, "doc");
		msgpack_pack_bin_with_body(pk, r->doc, r->doc_len);
	}
}

int vault_record_get(struct scout_txn *txn, struct scout_db *db, uint32_t id, struct record *ret)
{
	uint8_t key[5];
	const void *val;
	size_t vlen;
	int r;

	vault_key(id, key);
	if ((r = scout_txn_get(txn, db, key, sizeof(key), &val, &vlen)) < 0)
		return r;
	return vault_record_decode(val, vlen, ret);
}

int vault_file_path(struct vault *v, uint32_t id, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%08x", v->dir, id);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vault_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}
