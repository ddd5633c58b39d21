/* msgpack helpers shared by the bus's producers and consumers. */
#include "pack.h"

#include <errno.h>
#include <string.h>

const msgpack_object *scout_pack_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return &kv->val;
	}
	return NULL;
}

int scout_pack_get_bool(const msgpack_object *map, const char *key, bool *ret)
{
	const msgpack_object *o = scout_pack_get(map, key);

	if (!o)
		return -ENOENT;
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return -EINVAL;
	*ret = o->via.boolean;
	return 0;
}

int scout_pack_get_uint(const msgpack_object *map, const char *key, uint64_t *ret)
{
	const msgpack_object *o = scout_pack_get(map, key);

	if (!o)
		return -ENOENT;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -EINVAL;
	*ret = o->via.u64;
	return 0;
}

int scout_pack_get_str(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len)
{
	const msgpack_object *o = scout_pack_get(map, key);

	if (!o)
		return -ENOENT;
	if (o->type != MSGPACK_OBJECT_STR)
		return -EINVAL;
	*ret = o->via.str.ptr;
	*ret_len = o->via.str.size;
	return 0;
}

void scout_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}
