/* libFuzzer target for the IPP decoder (src/modules/ipp/codec.c).
 *
 * Whatever the input: a refusal comes with a message naming the byte
 * offset; a decoded message ends inside the input, no name is longer than
 * IPP_MAX_NAME, no value longer than IPP_MAX_VALUE or outside the input,
 * collections are no deeper than IPP_MAX_DEPTH, and the incremental header
 * scanner, fed the input in two pieces, agrees with the decoder on where
 * the attributes end. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "modules/ipp/codec.h"

static size_t walk(const struct ipp_attr *a, const uint8_t *data, size_t size, unsigned depth)
{
	size_t n = 0;

	CHECK(depth <= IPP_MAX_DEPTH);
	for (; a; a = a->next) {
		CHECK(strlen(a->name) <= IPP_MAX_NAME);
		CHECK(a->nvalues > 0);
		for (const struct ipp_value *v = a->values; v; v = v->next) {
			n++;
			CHECK(v->len <= IPP_MAX_VALUE);
			CHECK(v->data >= data && v->data + v->len <= data + size);
			if (v->tag == IPP_TAG_BEGIN_COLLECTION)
				n += walk(v->members, data, size, depth + 1);
			char buf[64];
			(void)ipp_value_str(v, buf, sizeof(buf));
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[IPP_ERR_LEN];
	struct ipp_msg m;
	size_t resume = 0;
	ssize_t hl;
	int r;

	r = ipp_decode(data, size, &m, err, sizeof(err));
	/* the scanner in two pieces */
	hl = ipp_header_length(data, size / 2, &resume);
	if (hl == 0)
		hl = ipp_header_length(data, size, &resume);
	if (r < 0) {
		CHECK(r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
		CHECK(strstr(err, "byte ") != NULL);
		return 0;
	}
	CHECK(m.length >= 9 && m.length <= size && m.length <= IPP_MAX_HEADER);
	CHECK(hl == (ssize_t)m.length);
	CHECK(walk(m.attrs, data, size, 0) <= IPP_MAX_VALUES);
	ipp_msg_free(&m);
	return 0;
}
