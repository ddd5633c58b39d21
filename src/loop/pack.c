/* msgpack helpers shared by the bus's producers and consumers. */
#include "pack.h"

#include <errno.h>
#include <stdlib.h>
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

int scout_pack_get_strdup(const msgpack_object *map, const char *key, size_t max, char **ret)
{
	const char *s;
	size_t n;
	int r = scout_pack_get_str(map, key, &s, &n);

	if (r < 0)
		return r;
	if (n > max || memchr(s, 0, n))
		return -EINVAL;
	/* not strndup: the bytes are not NUL-terminated, and strndup may look
	 * past n for a NUL (ASan's strict string checks say so) */
	if (!(*ret = malloc(n + 1)))
		return -ENOMEM;
	memcpy(*ret, s, n);
	(*ret)[n] = '\0';
	return 0;
}

int scout_pack_get_strbuf(const msgpack_object *map, const char *key, char *buf, size_t size)
{
	const char *s;
	size_t n;
	int r = scout_pack_get_str(map, key, &s, &n);

	if (size)
		buf[0] = '\0';
	if (r < 0)
		return r;
	if (n >= size || memchr(s, 0, n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

void scout_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void scout_pack_json(msgpack_packer *pk, const json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		msgpack_pack_map(pk, json_object_size(j));
		json_object_foreach ((json_t *)j, k, v) {
			scout_pack_str(pk, k);
			scout_pack_json(pk, v);
		}
		break;
	case JSON_ARRAY:
		msgpack_pack_array(pk, json_array_size(j));
		json_array_foreach (j, i, v)
			scout_pack_json(pk, v);
		break;
	case JSON_STRING:
		msgpack_pack_str(pk, json_string_length(j));
		msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(j));
		break;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		break;
	}
}

static json_t *unpack(const msgpack_object *o, int depth)
{
	json_t *j;

	if (depth > 64)
		return NULL;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return o->via.u64 > INT64_MAX ? NULL : json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return json_stringn(o->via.str.ptr, o->via.str.size); /* NULL unless UTF-8 */
	case MSGPACK_OBJECT_ARRAY:
		j = json_array();
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			json_t *v = unpack(&o->via.array.ptr[i], depth + 1);
			if (!v) {
				json_decref(j);
				return NULL;
			}
			json_array_append_new(j, v);
		}
		return j;
	case MSGPACK_OBJECT_MAP:
		j = json_object();
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			char key[256];
			if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size >= sizeof(key)) {
				json_decref(j);
				return NULL;
			}
			memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
			key[kv->key.via.str.size] = 0;
			json_t *v = unpack(&kv->val, depth + 1);
			if (!v || strlen(key) != kv->key.via.str.size) {
				json_decref(v);
				json_decref(j);
				return NULL;
			}
			json_object_set_new(j, key, v);
		}
		return j;
	default:
		return NULL;
	}
}

json_t *scout_unpack_json(const msgpack_object *o)
{
	return unpack(o, 0);
}
