/* Small checked readers for msgpack payloads on the bus: every lookup
 * checks the type and returns an error rather than trusting the sender. */
#pragma once

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value under string key in map, or NULL (absent, or obj not a map). */
const msgpack_object *scout_pack_get(const msgpack_object *map, const char *key);
int scout_pack_get_bool(const msgpack_object *map, const char *key, bool *ret);
int scout_pack_get_uint(const msgpack_object *map, const char *key, uint64_t *ret);
/* Borrowed bytes (not NUL-terminated) of a str value. */
int scout_pack_get_str(const msgpack_object *map, const char *key, const char **ret, size_t *ret_len);
/* A malloc'd, NUL-terminated copy of a str value (caller frees): -ENOENT
 * absent, -EINVAL not a str, longer than max bytes or holding a NUL,
 * -ENOMEM. */
int scout_pack_get_strdup(const msgpack_object *map, const char *key, size_t max, char **ret);
/* The same into buf (size bytes with the NUL): "" and -ENOENT / -EINVAL
 * (not a str, holding a NUL, or not fitting) when it is not there whole. */
int scout_pack_get_strbuf(const msgpack_object *map, const char *key, char *buf, size_t size);

/* Packs a NUL-terminated string. */
void scout_pack_str(msgpack_packer *pk, const char *s);

#include <jansson.h>

/* Packs a JSON value as msgpack (objects as maps, arrays as arrays). */
void scout_pack_json(msgpack_packer *pk, const json_t *j);
/* The JSON form of a msgpack object; NULL for what JSON cannot hold (binary,
 * non-string map keys, ext types) or nesting deeper than 64. */
json_t *scout_unpack_json(const msgpack_object *o);
