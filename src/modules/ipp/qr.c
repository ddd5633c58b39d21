/* A printer's QR label: libqrencode makes the symbol; the PNG encoder,
 * the SVG and the half-block text are here (a label PNG is a few hundred
 * bytes of 1-bit rows, not worth libpng's setjmp error handling). */
#include <errno.h>
#include <qrencode.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "qr.h"

int ipp_qr_encode(const char *text, struct ipp_qr **ret_qr)
{
	QRcode *code;
	struct ipp_qr *qr;

	if (!text || !*text)
		return -EINVAL;
	errno = 0;
	code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	if (!code)
		return errno ? -errno : -EINVAL;
	qr = calloc(1, sizeof(*qr));
	if (qr)
		qr->dark = malloc((size_t)code->width * (size_t)code->width);
	if (!qr || !qr->dark) {
		free(qr);
		QRcode_free(code);
		return -ENOMEM;
	}
	qr->width = (unsigned)code->width;
	/* bit 0 of each byte is the module's colour; the rest say what it is for */
	for (size_t i = 0; i < (size_t)code->width * (size_t)code->width; i++)
		qr->dark[i] = code->data[i] & 1;
	QRcode_free(code);
	*ret_qr = qr;
	return 0;
}

void ipp_qr_free(struct ipp_qr *qr)
{
	if (!qr)
		return;
	free(qr->dark);
	free(qr);
}

int ipp_qr_at(const struct ipp_qr *qr, long x, long y)
{
	if (x < 0 || y < 0 || x >= (long)qr->width || y >= (long)qr->width)
		return 0;
	return qr->dark[(size_t)y * qr->width + (size_t)x];
}

/* ---- PNG ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC of type and data) at out + *off. */
static void chunk(uint8_t *out, size_t *off, const char type[4], const uint8_t *data, uint32_t len)
{
	uint8_t *p = out + *off;

	put32(p, len);
	memcpy(p + 4, type, 4);
	if (len)
		memcpy(p + 8, data, len);
	put32(p + 8 + len, (uint32_t)crc32(0, p + 4, len + 4));
	*off += 12 + len;
}

int ipp_qr_png(const struct ipp_qr *qr, unsigned scale, uint8_t **ret_png, size_t *ret_len)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (scale < 1 || scale > 64)
		return -EINVAL;
	size_t side = ((size_t)qr->width + 2 * IPP_QR_QUIET) * scale;
	size_t stride = 1 + (side + 7) / 8; /* filter byte, then 8 pixels a byte */
	uint8_t *raw = calloc(side, stride);
	uLongf zlen = compressBound((uLong)(side * stride));
	uint8_t *z = malloc(zlen);
	uint8_t *out = NULL;
	int r = -ENOMEM;

	if (!raw || !z)
		goto out;
	for (size_t y = 0; y < side; y++) {
		uint8_t *row = raw + y * stride;
		long my = (long)(y / scale) - IPP_QR_QUIET;
		for (size_t x = 0; x < side; x++) {
			long mx = (long)(x / scale) - IPP_QR_QUIET;
			/* greyscale 1 bit: 1 is white */
			if (!ipp_qr_at(qr, mx, my))
				row[1 + x / 8] |= (uint8_t)(0x80 >> (x % 8));
		}
	}
	if (compress2(z, &zlen, raw, (uLong)(side * stride), Z_BEST_COMPRESSION) != Z_OK) {
		r = -EIO;
		goto out;
	}
	uint8_t ihdr[13];
	put32(ihdr, (uint32_t)side);
	put32(ihdr + 4, (uint32_t)side);
	ihdr[8] = 1;  /* bit depth */
	ihdr[9] = 0;  /* greyscale */
	ihdr[10] = 0; /* deflate */
	ihdr[11] = 0; /* adaptive filtering (every row: none) */
	ihdr[12] = 0; /* not interlaced */
	size_t len = sizeof(sig) + (12 + sizeof(ihdr)) + (12 + zlen) + 12;
	if (!(out = malloc(len)))
		goto out;
	size_t off = sizeof(sig);
	memcpy(out, sig, sizeof(sig));
	chunk(out, &off, "IHDR", ihdr, sizeof(ihdr));
	chunk(out, &off, "IDAT", z, (uint32_t)zlen);
	chunk(out, &off, "IEND", NULL, 0);
	*ret_png = out;
	*ret_len = off;
	out = NULL;
	r = 0;
out:
	free(out);
	free(raw);
	free(z);
	return r;
}

/* ---- SVG ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t len, cap;
	int err;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

int ipp_qr_svg(const struct ipp_qr *qr, unsigned size_mm, char **ret_svg)
{
	unsigned side = qr->width + 2 * IPP_QR_QUIET;
	struct buf b = {0};

	bprintf(&b,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%umm\" height=\"%umm\" "
		"viewBox=\"0 0 %u %u\" shape-rendering=\"crispEdges\">\n"
		"<rect width=\"%u\" height=\"%u\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
		size_mm, size_mm, side, side, side, side);
	/* one rectangle per horizontal run of dark modules */
	for (unsigned y = 0; y < qr->width; y++)
		for (unsigned x = 0; x < qr->width;) {
			if (!ipp_qr_at(qr, x, y)) {
				x++;
				continue;
			}
			unsigned run = 0;
			while (x + run < qr->width && ipp_qr_at(qr, x + run, y))
				run++;
			bprintf(&b, "M%u %uh%uv1h-%uz", x + IPP_QR_QUIET, y + IPP_QR_QUIET, run, run);
			x += run;
		}
	bprintf(&b, "\"/>\n</svg>\n");
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*ret_svg = b.p;
	return 0;
}

/* ---- terminal text -------------------------------------------------------- */

void ipp_qr_lines_free(char **lines)
{
	if (!lines)
		return;
	for (char **l = lines; *l; l++)
		free(*l);
	free(lines);
}

int ipp_qr_text(const struct ipp_qr *qr, unsigned margin, char ***ret_lines)
{
	static const char *const glyph[4] = {" ", "\xe2\x96\x84", "\xe2\x96\x80", "\xe2\x96\x88"}; /* ▄ ▀ █ */
	long lo = -(long)margin, hi = (long)qr->width + (long)margin;                              /* [lo, hi) */
	size_t nlines = (size_t)(hi - lo + 1) / 2;
	char **lines = calloc(nlines + 1, sizeof(*lines));

	if (!lines)
		return -ENOMEM;
	for (size_t i = 0; i < nlines; i++) {
		long y = lo + 2 * (long)i;
		char *line = malloc((size_t)(hi - lo) * 3 + 1), *p = line;
		if (!line) {
			ipp_qr_lines_free(lines);
			return -ENOMEM;
		}
		for (long x = lo; x < hi; x++) {
			int top = ipp_qr_at(qr, x, y), bottom = y + 1 < hi && ipp_qr_at(qr, x, y + 1);
			const char *g = glyph[top * 2 + bottom];
			size_t n = strlen(g);
			memcpy(p, g, n);
			p += n;
		}
		*p = 0;
		lines[i] = line;
	}
	*ret_lines = lines;
	return 0;
}
