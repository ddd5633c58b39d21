/* Unit tests for qr.c: the symbol libqrencode makes for a GUID, and the
 * three drawings of it. The PNG is decoded back here (signature, chunk
 * CRCs, IHDR, inflated rows) and compared module by module with the
 * symbol, the SVG's path is parsed back into squares, and the half-block
 * text is read back into modules. (tests/integration/test_printers.py
 * reads the PNG with zbarimg, a real QR decoder, when it is installed.) */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "modules/ipp/qr.h"

static const char *const guid = "0f8fad5b-d9cb-469f-a165-70867728950e";

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_encode(void **state)
{
	struct ipp_qr *qr;
	(void)state;

	assert_int_equal(ipp_qr_encode(guid, &qr), 0);
	/* 36 bytes at level M: version 3, 29 modules */
	assert_int_equal(qr->width, 29);
	/* the finder patterns: a dark 7x7 ring at three corners */
	for (int i = 0; i < 7; i++) {
		assert_int_equal(ipp_qr_at(qr, i, 0), 1);
		assert_int_equal(ipp_qr_at(qr, 0, i), 1);
		assert_int_equal(ipp_qr_at(qr, 28 - i, 0), 1);
		assert_int_equal(ipp_qr_at(qr, i, 28), 1);
	}
	assert_int_equal(ipp_qr_at(qr, 1, 1), 0);
	assert_int_equal(ipp_qr_at(qr, 3, 3), 1);
	assert_int_equal(ipp_qr_at(qr, -1, 0), 0); /* quiet zone */
	assert_int_equal(ipp_qr_at(qr, 29, 0), 0);
	ipp_qr_free(qr);
	assert_int_equal(ipp_qr_encode("", &qr), -EINVAL);
}

static void test_png(void **state)
{
	const unsigned scale = 3;
	struct ipp_qr *qr;
	uint8_t *png;
	size_t len;
	(void)state;

	assert_int_equal(ipp_qr_encode(guid, &qr), 0);
	assert_int_equal(ipp_qr_png(qr, 0, &png, &len), -EINVAL);
	assert_int_equal(ipp_qr_png(qr, scale, &png, &len), 0);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	size_t off = 8, side = (qr->width + 2 * IPP_QR_QUIET) * scale;
	uint8_t *idat = NULL;
	size_t idat_len = 0;
	bool ihdr = false, iend = false;
	while (off < len) {
		assert_true(off + 12 <= len);
		uint32_t n = get32(png + off);
		assert_true(off + 12 + n <= len);
		const uint8_t *type = png + off + 4, *data = png + off + 8;
		assert_int_equal(get32(data + n), (uint32_t)crc32(0, type, n + 4));
		if (!memcmp(type, "IHDR", 4)) {
			assert_int_equal(n, 13);
			assert_int_equal(get32(data), side);
			assert_int_equal(get32(data + 4), side);
			assert_int_equal(data[8], 1); /* 1 bit */
			assert_int_equal(data[9], 0); /* greyscale */
			ihdr = true;
		} else if (!memcmp(type, "IDAT", 4)) {
			idat = realloc(idat, idat_len + n);
			memcpy(idat + idat_len, data, n);
			idat_len += n;
		} else if (!memcmp(type, "IEND", 4)) {
			iend = true;
		}
		off += 12 + n;
	}
	assert_int_equal(off, len);
	assert_true(ihdr && iend && idat);
	size_t stride = 1 + (side + 7) / 8;
	uLongf rawlen = side * stride;
	uint8_t *raw = malloc(rawlen);
	assert_int_equal(uncompress(raw, &rawlen, idat, idat_len), Z_OK);
	assert_int_equal(rawlen, side * stride);
	for (size_t y = 0; y < side; y++) {
		assert_int_equal(raw[y * stride], 0); /* filter: none */
		for (size_t x = 0; x < side; x++) {
			int white = (raw[y * stride + 1 + x / 8] >> (7 - x % 8)) & 1;
			int dark = ipp_qr_at(qr, (long)(x / scale) - IPP_QR_QUIET, (long)(y / scale) - IPP_QR_QUIET);
			if (white == dark)
				fail_msg("pixel %zu,%zu: white %d, module dark %d", x, y, white, dark);
		}
	}
	free(raw);
	free(idat);
	free(png);
	ipp_qr_free(qr);
}

static void test_svg(void **state)
{
	struct ipp_qr *qr;
	char *svg;
	(void)state;

	assert_int_equal(ipp_qr_encode(guid, &qr), 0);
	assert_int_equal(ipp_qr_svg(qr, 30, &svg), 0);
	assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	assert_non_null(strstr(svg, "viewBox=\"0 0 37 37\""));
	assert_non_null(strstr(svg, "width=\"30mm\""));
	/* paint the path's rectangles and compare with the symbol */
	unsigned side = qr->width + 2 * IPP_QR_QUIET;
	uint8_t *painted = calloc(side * side, 1);
	const char *d = strstr(svg, " d=\"");
	assert_non_null(d);
	d += 4;
	unsigned x, y, w, w2;
	int n;
	while (sscanf(d, "M%u %uh%uv1h-%uz%n", &x, &y, &w, &w2, &n) == 4) {
		assert_int_equal(w, w2);
		assert_true(x + w <= side && y < side);
		for (unsigned i = 0; i < w; i++) {
			assert_int_equal(painted[y * side + x + i], 0); /* no overlap */
			painted[y * side + x + i] = 1;
		}
		d += n;
	}
	assert_int_equal(*d, '"');
	for (y = 0; y < side; y++)
		for (x = 0; x < side; x++)
			assert_int_equal(painted[y * side + x],
					 ipp_qr_at(qr, (long)x - IPP_QR_QUIET, (long)y - IPP_QR_QUIET));
	free(painted);
	free(svg);
	ipp_qr_free(qr);
}

static void test_text(void **state)
{
	struct ipp_qr *qr;
	char **lines;
	(void)state;

	assert_int_equal(ipp_qr_encode(guid, &qr), 0);
	assert_int_equal(ipp_qr_text(qr, 2, &lines), 0);
	long side = (long)qr->width + 4, nlines = 0;
	for (char **l = lines; *l; l++, nlines++) {
		const char *p = *l;
		for (long x = 0; x < side; x++) {
			int top, bottom;
			if (*p == ' ') {
				top = bottom = 0;
				p++;
			} else if (!strncmp(p, "\xe2\x96\x88", 3)) {
				top = bottom = 1;
				p += 3;
			} else if (!strncmp(p, "\xe2\x96\x80", 3)) {
				top = 1, bottom = 0;
				p += 3;
			} else if (!strncmp(p, "\xe2\x96\x84", 3)) {
				top = 0, bottom = 1;
				p += 3;
			} else {
				fail_msg("line %ld: unexpected byte %02x", nlines, (unsigned char)*p);
			}
			long y = 2 * nlines - 2;
			assert_int_equal(top, ipp_qr_at(qr, x - 2, y));
			assert_int_equal(bottom, ipp_qr_at(qr, x - 2, y + 1));
		}
		assert_int_equal(*p, 0);
	}
	assert_int_equal(nlines, (side + 1) / 2);
	ipp_qr_lines_free(lines);
	ipp_qr_free(qr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_png),
		cmocka_unit_test(test_svg),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
