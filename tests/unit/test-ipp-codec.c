/* Unit tests for src/modules/ipp/codec.c: requests written with the writer
 * and decoded back (every value tag, 1setOf, collections nested, out-of-band
 * values), the header scanner fed byte by byte, the writer's attribute
 * filter, and the refusals: every truncation of a valid message, lengths
 * past the end, 64 KiB names, too many values, too deep collections, bad
 * tags, and what each message says (attribute and byte offset). Every input
 * is copied to a heap block of its exact size, so a read past the end shows
 * under ASan. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modules/ipp/codec.h"

static char err[IPP_ERR_LEN];

/* Decodes a copy of data that ends exactly where the input ends; the
 * message's values point into the copy, kept in *ret_copy. */
static int decode_copy(const uint8_t *data, size_t len, struct ipp_msg *m, uint8_t **ret_copy)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, data, len);
	int r = ipp_decode(copy, len, m, err, sizeof(err));
	if (r < 0 || !ret_copy)
		free(copy);
	else
		*ret_copy = copy;
	return r;
}

static int decode_fails(const uint8_t *data, size_t len)
{
	struct ipp_msg m;
	int r = decode_copy(data, len, &m, NULL);

	assert_true(r < 0);
	assert_true(err[0] != 0);
	return r;
}

/* A Print-Job request with one of everything. */
static void write_request(struct ipp_writer *w)
{
	ipp_w_init(w, 2, 0, 0x0002, 42);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(w, IPP_TAG_URI, "printer-uri", "ipp://localhost/ipp/print");
	ipp_w_str(w, IPP_TAG_NAME, "requesting-user-name", "alice");
	ipp_w_str(w, IPP_TAG_MIMETYPE, "document-format", "application/pdf");
	const char *ra[] = {"printer-name", "printer-state"};
	ipp_w_strs(w, IPP_TAG_KEYWORD, "requested-attributes", ra, 2);
	uint8_t tl[] = {0, 2, 'e', 'n', 0, 3, 'a', 'b', 'c'};
	ipp_w_raw(w, IPP_TAG_NAMELANG, "job-name", tl, sizeof(tl));
	ipp_w_group(w, IPP_TAG_JOB);
	ipp_w_int(w, IPP_TAG_INTEGER, "copies", 3);
	ipp_w_int(w, IPP_TAG_ENUM, "print-quality", 5);
	ipp_w_bool(w, "page-delivery-bool", true);
	ipp_w_range(w, "page-ranges", 1, 4);
	ipp_w_resolution(w, "printer-resolution", 300, 600, 3);
	ipp_w_date(w, "date-time-at-creation", 1700000000);
	ipp_w_oob(w, IPP_TAG_NOVALUE, "job-hold-until");
	ipp_w_raw(w, IPP_TAG_STRING, "job-password", "\x01\x02", 2);
	ipp_w_col_begin(w, "media-col");
	ipp_w_member(w, "media-size");
	ipp_w_col_begin(w, NULL);
	ipp_w_member(w, "x-dimension");
	ipp_w_int(w, IPP_TAG_INTEGER, NULL, 21000);
	ipp_w_member(w, "y-dimension");
	ipp_w_int(w, IPP_TAG_INTEGER, NULL, 29700);
	ipp_w_col_end(w);
	ipp_w_member(w, "media-type");
	ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "stationery");
	ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "plain");
	ipp_w_col_end(w);
	ipp_w_col_begin(w, NULL); /* a second media-col value: 1setOf collection */
	ipp_w_member(w, "media-source");
	ipp_w_str(w, IPP_TAG_KEYWORD, NULL, "tray-1");
	ipp_w_col_end(w);
	assert_int_equal(ipp_w_finish(w), 0);
}

static void test_roundtrip(void **state)
{
	struct ipp_writer w;
	struct ipp_msg m;
	uint8_t *copy;
	char buf[64];
	int32_t i;
	bool b;

	(void)state;
	write_request(&w);
	/* document data after the end tag is not part of the message */
	size_t hdr = w.len;
	uint8_t *full = malloc(hdr + 5);
	memcpy(full, w.p, hdr);
	memcpy(full + hdr, "%PDF-", 5);
	assert_int_equal(decode_copy(full, hdr + 5, &m, &copy), 0);
	assert_int_equal(m.length, hdr);
	assert_int_equal(m.major, 2);
	assert_int_equal(m.minor, 0);
	assert_int_equal(m.code, 2);
	assert_int_equal(m.request_id, 42);
	assert_int_equal(m.ngroups, 2);

	const struct ipp_attr *a = m.attrs;
	assert_string_equal(a->name, "attributes-charset");
	assert_int_equal(a->group, IPP_TAG_OPERATION);
	assert_true(ipp_value_is(a->values, "utf-8"));
	a = ipp_find(m.attrs, IPP_TAG_OPERATION, "requested-attributes");
	assert_non_null(a);
	assert_int_equal(a->nvalues, 2);
	assert_true(ipp_value_is(a->values->next, "printer-state"));
	a = ipp_find(m.attrs, 0, "job-name");
	assert_true(ipp_value_str(a->values, buf, sizeof(buf)));
	assert_string_equal(buf, "abc");
	assert_null(ipp_find(m.attrs, IPP_TAG_OPERATION, "copies"));
	a = ipp_find(m.attrs, IPP_TAG_JOB, "copies");
	assert_true(ipp_value_int(a->values, &i));
	assert_int_equal(i, 3);
	assert_true(ipp_value_int(ipp_find(m.attrs, 0, "print-quality")->values, &i));
	assert_int_equal(i, 5);
	assert_true(ipp_value_bool(ipp_find(m.attrs, 0, "page-delivery-bool")->values, &b));
	assert_true(b);
	assert_int_equal(ipp_find(m.attrs, 0, "page-ranges")->values->len, 8);
	assert_int_equal(ipp_find(m.attrs, 0, "printer-resolution")->values->len, 9);
	const struct ipp_value *d = ipp_find(m.attrs, 0, "date-time-at-creation")->values;
	assert_int_equal(d->len, 11);
	assert_int_equal(d->data[0] << 8 | d->data[1], 2023);
	assert_int_equal(ipp_find(m.attrs, 0, "job-hold-until")->values->tag, IPP_TAG_NOVALUE);
	assert_false(ipp_value_str(ipp_find(m.attrs, 0, "job-hold-until")->values, buf, sizeof(buf)));

	a = ipp_find(m.attrs, IPP_TAG_JOB, "media-col");
	assert_int_equal(a->nvalues, 2);
	const struct ipp_value *col = a->values;
	assert_int_equal(col->tag, IPP_TAG_BEGIN_COLLECTION);
	const struct ipp_attr *size = ipp_find(col->members, 0, "media-size");
	assert_non_null(size);
	assert_true(ipp_value_int(ipp_find(size->values->members, 0, "y-dimension")->values, &i));
	assert_int_equal(i, 29700);
	const struct ipp_attr *type = ipp_find(col->members, 0, "media-type");
	assert_int_equal(type->nvalues, 2);
	assert_true(ipp_value_is(type->values->next, "plain"));
	assert_non_null(ipp_find(col->next->members, 0, "media-source"));

	ipp_msg_free(&m);
	free(copy);
	free(full);
	ipp_w_free(&w);
}

/* Fed one byte more at a time, the scanner finds the end exactly once all
 * of the attributes are in, and resumes where it stopped. */
static void test_header_length(void **state)
{
	struct ipp_writer w;
	size_t resume = 0;

	(void)state;
	write_request(&w);
	for (size_t n = 0; n < w.len; n++)
		assert_int_equal(ipp_header_length(w.p, n, &resume), 0);
	assert_int_equal(ipp_header_length(w.p, w.len, &resume), (ssize_t)w.len);
	resume = 0;
	assert_int_equal(ipp_header_length(w.p, w.len, &resume), (ssize_t)w.len);

	uint8_t huge[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0xff, 0xff};
	resume = 0;
	assert_int_equal(ipp_header_length(huge, sizeof(huge), &resume), -EBADMSG);
	ipp_w_free(&w);
}

/* Every strict prefix of a valid message is refused, with a message. */
static void test_truncations(void **state)
{
	struct ipp_writer w;

	(void)state;
	write_request(&w);
	for (size_t n = 0; n < w.len; n++)
		decode_fails(w.p, n);
	ipp_w_free(&w);
}

static void test_huge_name(void **state)
{
	/* a name length of 65535 is refused from its three bytes alone */
	uint8_t msg[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0xff, 0xff, 'a'};

	(void)state;
	assert_int_equal(decode_fails(msg, sizeof(msg)), -EBADMSG);
	assert_non_null(strstr(err, "at byte 9"));
	assert_non_null(strstr(err, "name length 65535 over the limit"));
}

static void test_value_past_end(void **state)
{
	uint8_t msg[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0, 3, 'a', 'b', 'c', 0x03, 0x84, 'x', 3};

	(void)state;
	assert_int_equal(decode_fails(msg, sizeof(msg)), -EBADMSG);
	assert_string_equal(err, "attribute 'abc' at byte 9: value length 900 past the end (2 bytes left)");
}

static void test_bad_tags(void **state)
{
	(void)state;
	/* a value before any group */
	uint8_t a[] = {2, 0, 0, 2, 0, 0, 0, 1, 0x42, 0, 1, 'a', 0, 0, 3};
	decode_fails(a, sizeof(a));
	assert_non_null(strstr(err, "before any attribute group"));
	/* tag 0x00 */
	uint8_t b[] = {2, 0, 0, 2, 0, 0, 0, 1, 0, 3};
	decode_fails(b, sizeof(b));
	assert_non_null(strstr(err, "reserved delimiter"));
	/* a high tag */
	uint8_t c[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x80, 0, 1, 'a', 0, 0, 3};
	decode_fails(c, sizeof(c));
	assert_non_null(strstr(err, "invalid value tag 0x80"));
	/* an additional value with nothing before it */
	uint8_t d[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0, 0, 0, 1, 'x', 3};
	decode_fails(d, sizeof(d));
	assert_non_null(strstr(err, "additional value"));
	/* an integer of 3 bytes */
	uint8_t e[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x21, 0, 1, 'n', 0, 3, 1, 2, 3, 3};
	decode_fails(e, sizeof(e));
	assert_string_equal(err, "attribute 'n' at byte 9: integer value of 3 bytes (must be 4)");
	/* a boolean of 2 */
	uint8_t f[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x22, 0, 1, 'n', 0, 1, 2, 3};
	decode_fails(f, sizeof(f));
	/* endCollection at the top */
	uint8_t g[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x37, 0, 1, 'n', 0, 0, 3};
	decode_fails(g, sizeof(g));
	assert_non_null(strstr(err, "outside a collection"));
	/* textWithLanguage whose inner lengths do not add up */
	uint8_t h[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x35, 0, 1, 'n', 0, 5, 0, 9, 'e', 0, 0, 3};
	decode_fails(h, sizeof(h));
	/* a name with a NUL in it */
	uint8_t i[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0, 2, 'a', 0, 0, 0, 3};
	decode_fails(i, sizeof(i));
	/* no end tag */
	uint8_t j[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x42, 0, 1, 'a', 0, 0};
	decode_fails(j, sizeof(j));
	assert_non_null(strstr(err, "no end-of-attributes"));
	/* out-of-band with a value */
	uint8_t k[] = {2, 0, 0, 2, 0, 0, 0, 1, 1, 0x13, 0, 1, 'a', 0, 1, 'x', 3};
	decode_fails(k, sizeof(k));
}

static void test_collection_errors(void **state)
{
	(void)state;
	/* never ended */
	uint8_t a[] = {2, 0, 0, 2, 0,   0,    0, 1, 2, 0x34, 0, 1, 'c', 0, 0, 0x4a,
		       0, 0, 0, 1, 'm', 0x21, 0, 0, 0, 4,    0, 0, 0,   1, 3};
	decode_fails(a, sizeof(a));
	/* a value before its memberAttrName */
	uint8_t b[] = {2,    0, 0, 2, 0, 0, 0, 1, 2, 0x34, 0, 1, 'c', 0, 0,
		       0x21, 0, 0, 0, 4, 0, 0, 0, 1, 0x37, 0, 0, 0,   0, 3};
	decode_fails(b, sizeof(b));
	assert_non_null(strstr(err, "before any memberAttrName"));
	/* a member without a value */
	uint8_t c[] = {2, 0, 0, 2, 0, 0, 0, 1, 2, 0x34, 0, 1, 'c', 0, 0, 0x4a, 0, 0, 0, 1, 'm', 0x37, 0, 0, 0, 0, 3};
	decode_fails(c, sizeof(c));
	assert_non_null(strstr(err, "'m'"));
	/* a named value inside */
	uint8_t d[] = {2, 0, 0, 2, 0, 0, 0, 1, 2, 0x34, 0, 1, 'c', 0, 0, 0x21, 0, 1, 'x', 0, 4, 0, 0, 0, 1, 3};
	decode_fails(d, sizeof(d));
	/* a group tag inside */
	uint8_t e[] = {2, 0, 0, 2, 0, 0, 0, 1, 2, 0x34, 0, 1, 'c', 0, 0, 0x02, 0, 0, 0, 0, 3};
	decode_fails(e, sizeof(e));
}

static void test_depth_limit(void **state)
{
	struct ipp_writer w;
	struct ipp_msg m;

	(void)state;
	for (int depth = IPP_MAX_DEPTH; depth <= IPP_MAX_DEPTH + 1; depth++) {
		ipp_w_init(&w, 2, 0, 2, 1);
		ipp_w_group(&w, IPP_TAG_JOB);
		ipp_w_col_begin(&w, "c");
		for (int i = 1; i < depth; i++) {
			ipp_w_member(&w, "m");
			ipp_w_col_begin(&w, NULL);
		}
		ipp_w_member(&w, "leaf");
		ipp_w_int(&w, IPP_TAG_INTEGER, NULL, 1);
		for (int i = 0; i < depth; i++)
			ipp_w_col_end(&w);
		assert_int_equal(ipp_w_finish(&w), 0);
		if (depth <= IPP_MAX_DEPTH) {
			uint8_t *copy;
			assert_int_equal(decode_copy(w.p, w.len, &m, &copy), 0);
			ipp_msg_free(&m);
			free(copy);
		} else {
			assert_int_equal(decode_fails(w.p, w.len), -EMSGSIZE);
			assert_non_null(strstr(err, "nested deeper"));
		}
		ipp_w_free(&w);
	}
}

static void test_value_count_limit(void **state)
{
	struct ipp_writer w;

	(void)state;
	ipp_w_init(&w, 2, 0, 2, 1);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_int(&w, IPP_TAG_INTEGER, "many", 0);
	for (int i = 0; i < IPP_MAX_VALUES; i++)
		ipp_w_int(&w, IPP_TAG_INTEGER, NULL, i);
	assert_int_equal(ipp_w_finish(&w), 0);
	assert_int_equal(decode_fails(w.p, w.len), -EMSGSIZE);
	assert_non_null(strstr(err, "more than 2048 values"));
	ipp_w_free(&w);
}

static void test_header_size_limit(void **state)
{
	struct ipp_writer w;
	char big[IPP_MAX_VALUE];
	size_t resume = 0;

	(void)state;
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = 0;
	ipp_w_init(&w, 2, 0, 2, 1);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	for (int i = 0; i < 20; i++)
		ipp_w_str(&w, IPP_TAG_TEXT, i ? NULL : "t", big);
	assert_int_equal(ipp_w_finish(&w), 0);
	assert_true(w.len > IPP_MAX_HEADER);
	assert_int_equal(decode_fails(w.p, w.len), -EMSGSIZE);
	assert_int_equal(ipp_header_length(w.p, w.len, &resume), -EMSGSIZE);
	ipp_w_free(&w);
}

static bool want_state(void *arg, const char *name)
{
	(void)arg;
	return strncmp(name, "printer-state", 13) == 0;
}

static void test_writer_filter(void **state)
{
	struct ipp_writer w;
	struct ipp_msg m;
	uint8_t *copy;

	(void)state;
	ipp_w_init(&w, 2, 0, 0, 7);
	w.want = want_state;
	ipp_w_group(&w, IPP_TAG_PRINTER);
	ipp_w_str(&w, IPP_TAG_NAME, "printer-name", "scout");
	ipp_w_str(&w, IPP_TAG_NAME, NULL, "second");
	ipp_w_col_begin(&w, "media-col-default");
	ipp_w_member(&w, "printer-state"); /* a member, not filtered on its own */
	ipp_w_int(&w, IPP_TAG_INTEGER, NULL, 1);
	ipp_w_col_end(&w);
	ipp_w_int(&w, IPP_TAG_ENUM, "printer-state", 3);
	ipp_w_str(&w, IPP_TAG_KEYWORD, "printer-state-reasons", "none");
	ipp_w_str(&w, IPP_TAG_KEYWORD, NULL, "other");
	assert_int_equal(ipp_w_finish(&w), 0);
	assert_int_equal(decode_copy(w.p, w.len, &m, &copy), 0);
	assert_string_equal(m.attrs->name, "printer-state");
	assert_string_equal(m.attrs->next->name, "printer-state-reasons");
	assert_int_equal(m.attrs->next->nvalues, 2);
	assert_null(m.attrs->next->next);
	ipp_msg_free(&m);
	free(copy);
	ipp_w_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),         cmocka_unit_test(test_header_length),
		cmocka_unit_test(test_truncations),       cmocka_unit_test(test_huge_name),
		cmocka_unit_test(test_value_past_end),    cmocka_unit_test(test_bad_tags),
		cmocka_unit_test(test_collection_errors), cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_value_count_limit), cmocka_unit_test(test_header_size_limit),
		cmocka_unit_test(test_writer_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
