/* The IPP message codec (RFC 8010): decodes a request's header and
 * attribute groups into a small tree, and writes responses.
 *
 * The decoder trusts nothing: every length is checked against what is left
 * of the input before it is used, names, values, attribute counts,
 * collection depth and the whole message are bounded, and every refusal
 * names the attribute and the byte offset. Values point into the caller's
 * buffer (borrowed: it must outlive the message); the tree itself lives in
 * the message's arena and is freed with ipp_msg_free(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Limits of what the decoder accepts. RFC 8011's largest value syntax is
 * text(MAX) at 1023 octets, a name(MAX) 255; the margin lets clients that
 * send longer URIs or octetStrings through. */
#define IPP_MAX_NAME 255     /* attribute names and memberAttrName values */
#define IPP_MAX_VALUE 4096   /* any one value */
#define IPP_MAX_VALUES 2048  /* values in a message, collection members included */
#define IPP_MAX_DEPTH 8      /* nested collections */
#define IPP_MAX_HEADER 65536 /* header + attributes, up to and with end-of-attributes */
#define IPP_ERR_LEN 192

enum ipp_tag {
	/* delimiters: attribute groups */
	IPP_TAG_OPERATION = 0x01,
	IPP_TAG_JOB = 0x02,
	IPP_TAG_END = 0x03,
	IPP_TAG_PRINTER = 0x04,
	IPP_TAG_UNSUPPORTED_GROUP = 0x05,
	IPP_TAG_SUBSCRIPTION = 0x06,
	IPP_TAG_EVENT = 0x07,
	IPP_TAG_RESOURCE = 0x08,
	IPP_TAG_DOCUMENT = 0x09,
	IPP_TAG_SYSTEM = 0x0a,
	/* out-of-band values */
	IPP_TAG_UNSUPPORTED_VALUE = 0x10,
	IPP_TAG_UNKNOWN = 0x12,
	IPP_TAG_NOVALUE = 0x13,
	IPP_TAG_NOTSETTABLE = 0x15,
	IPP_TAG_DELETEATTR = 0x16,
	IPP_TAG_ADMINDEFINE = 0x17,
	/* integers */
	IPP_TAG_INTEGER = 0x21,
	IPP_TAG_BOOLEAN = 0x22,
	IPP_TAG_ENUM = 0x23,
	/* octet strings */
	IPP_TAG_STRING = 0x30,
	IPP_TAG_DATE = 0x31,
	IPP_TAG_RESOLUTION = 0x32,
	IPP_TAG_RANGE = 0x33,
	IPP_TAG_BEGIN_COLLECTION = 0x34,
	IPP_TAG_TEXTLANG = 0x35,
	IPP_TAG_NAMELANG = 0x36,
	IPP_TAG_END_COLLECTION = 0x37,
	/* character strings */
	IPP_TAG_TEXT = 0x41,
	IPP_TAG_NAME = 0x42,
	IPP_TAG_KEYWORD = 0x44,
	IPP_TAG_URI = 0x45,
	IPP_TAG_URISCHEME = 0x46,
	IPP_TAG_CHARSET = 0x47,
	IPP_TAG_LANGUAGE = 0x48,
	IPP_TAG_MIMETYPE = 0x49,
	IPP_TAG_MEMBERNAME = 0x4a,
	IPP_TAG_EXTENSION = 0x7f,
};

struct ipp_attr;

struct ipp_value {
	struct ipp_value *next;
	uint8_t tag;
	uint16_t len;
	const uint8_t *data;      /* len bytes, borrowed from the input */
	struct ipp_attr *members; /* begCollection: the collection's members, in order */
};

struct ipp_attr {
	struct ipp_attr *next;
	const char *name; /* NUL-terminated (the arena's copy) */
	uint8_t group;    /* the group tag it was in (0 for a collection member) */
	unsigned nvalues;
	struct ipp_value *values, *last;
	size_t offset; /* of its first value's tag, for messages */
};

struct ipp_arena;

struct ipp_msg {
	uint8_t major, minor;
	uint16_t code; /* operation-id in a request, status-code in a response */
	uint32_t request_id;
	struct ipp_attr *attrs; /* every top-level attribute, in order */
	unsigned ngroups;       /* group delimiters seen */
	size_t length;          /* bytes of header and attributes, end tag included */
	struct ipp_arena *arena;
};

/* How many bytes the header and attributes take, end-of-attributes tag
 * included, scanning only tags and lengths (the document data follows).
 * Incremental: *resume (0 at first) is where the scan picks up when more
 * bytes of the same buffer arrive. Returns the length, 0 when more bytes
 * are needed, -EMSGSIZE past IPP_MAX_HEADER, -EBADMSG when the bytes cannot
 * be IPP (ipp_decode then says what and where). */
ssize_t ipp_header_length(const uint8_t *p, size_t len, size_t *resume);

/* Decodes a message's header and attributes from p (borrowed by the
 * result). 0, or -EBADMSG with err naming what and where
 * ("attribute 'job-name' at byte 41: value length 900 past the end (12
 * bytes left)"), -EMSGSIZE over a limit, -ENOMEM. On failure ret is
 * untouched. */
int ipp_decode(const uint8_t *p, size_t len, struct ipp_msg *ret, char *err, size_t errlen);
void ipp_msg_free(struct ipp_msg *m);

/* Lookups. group 0 matches any group. */
const struct ipp_attr *ipp_find(const struct ipp_attr *list, uint8_t group, const char *name);
/* The first value of an integer/enum, or -1 and *ok false. */
bool ipp_value_int(const struct ipp_value *v, int32_t *ret);
bool ipp_value_bool(const struct ipp_value *v, bool *ret);
/* The text of a string value (textWithLanguage: its text part), copied and
 * NUL-terminated into buf; false when the value is not a string or holds a
 * NUL. Cut at size - 1 bytes. */
bool ipp_value_str(const struct ipp_value *v, char *buf, size_t size);
/* Whether a string value equals s exactly. */
bool ipp_value_is(const struct ipp_value *v, const char *s);
bool ipp_tag_is_string(uint8_t tag);
bool ipp_tag_is_oob(uint8_t tag);
const char *ipp_tag_name(uint8_t tag);

/* ---- writing ---- */

/* A response (or request, for tests) in a growing buffer. Writes never
 * fail one by one: running out of memory is remembered and reported by
 * ipp_w_finish(). With a filter, top-level attributes it does not want are
 * left out, with all their values (requested-attributes). */
struct ipp_writer {
	uint8_t *p;
	size_t len, cap;
	bool oom;
	bool skipping; /* the current top-level attribute is filtered out */
	unsigned depth;
	bool (*want)(void *arg, const char *name);
	void *want_arg;
};

void ipp_w_init(struct ipp_writer *w, uint8_t major, uint8_t minor, uint16_t code, uint32_t request_id);
void ipp_w_free(struct ipp_writer *w);
void ipp_w_group(struct ipp_writer *w, uint8_t tag);
/* name NULL (or "") adds a value to the attribute before it (1setOf). */
void ipp_w_raw(struct ipp_writer *w, uint8_t tag, const char *name, const void *data, size_t len);
void ipp_w_int(struct ipp_writer *w, uint8_t tag, const char *name, int32_t v);
void ipp_w_bool(struct ipp_writer *w, const char *name, bool v);
void ipp_w_str(struct ipp_writer *w, uint8_t tag, const char *name, const char *s);
/* Several string values as one 1setOf attribute. */
void ipp_w_strs(struct ipp_writer *w, uint8_t tag, const char *name, const char *const *s, size_t n);
void ipp_w_ints(struct ipp_writer *w, uint8_t tag, const char *name, const int32_t *v, size_t n);
void ipp_w_range(struct ipp_writer *w, const char *name, int32_t lo, int32_t hi);
void ipp_w_resolution(struct ipp_writer *w, const char *name, int32_t x, int32_t y, int8_t units);
void ipp_w_date(struct ipp_writer *w, const char *name, time_t t);
void ipp_w_oob(struct ipp_writer *w, uint8_t tag, const char *name);
/* A collection value: begin, then members (ipp_w_member, then the
 * member's value(s) written with a NULL name), then end. */
void ipp_w_col_begin(struct ipp_writer *w, const char *name);
void ipp_w_member(struct ipp_writer *w, const char *member);
void ipp_w_col_end(struct ipp_writer *w);
/* Adds end-of-attributes; 0 or -ENOMEM. */
int ipp_w_finish(struct ipp_writer *w);
