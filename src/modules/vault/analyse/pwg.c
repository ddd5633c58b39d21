/* PWG raster (PWG 5102.4, "RaS2", big-endian CUPS v2 page headers): pages by
 * walking every page, colour and duplex from each page's header. A page's
 * data has no length: it is skipped by decoding its lines' run-length codes
 * (each code consumes at least one byte, so the walk is linear in the file
 * and holds only the 64 KiB stream buffer). The modified PackBits is also
 * URF's (urf.c). */
#include <string.h>

#include "analyse-int.h"

#define PWG_HEADER 1796

/* offsets in the page header (cups_page_header2_t) */
#define PWG_DUPLEX 272
#define PWG_NUM_COPIES 340
#define PWG_TUMBLE 368
#define PWG_HEIGHT 376
#define PWG_BITS_PER_PIXEL 388
#define PWG_BYTES_PER_LINE 392
#define PWG_COLOR_ORDER 396
#define PWG_COLOR_SPACE 400
#define PWG_NUM_COLORS 420

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool doc_skip_packbits_line(struct doc_stream *s, uint64_t bytes_per_line, unsigned bpp)
{
	uint64_t left = bytes_per_line;

	while (left > 0) {
		int c = doc_stream_getc(s);
		if (c < 0)
			return false;
		if (c == 128) /* the rest of the line is blank */
			return true;
		if (c & 128) { /* 257 - c literal pixels */
			uint64_t n = (uint64_t)(257 - c) * bpp;
			if (n > left)
				n = left;
			if (!doc_stream_skip(s, n))
				return false;
			left -= n;
		} else { /* one pixel, c + 1 times */
			uint64_t n = (uint64_t)(c + 1) * bpp;
			if (n > left)
				n = left;
			if (n < bpp)
				return true; /* CUPS stops the line there too */
			if (!doc_stream_skip(s, bpp))
				return false;
			left -= n;
		}
	}
	return true;
}

bool doc_skip_raster_page(struct doc_stream *s, uint32_t height, uint64_t bytes_per_line, unsigned bpp)
{
	for (uint32_t y = 0; y < height;) {
		int rep = doc_stream_getc(s);
		if (rep < 0 || !doc_skip_packbits_line(s, bytes_per_line, bpp))
			return false;
		y += (uint32_t)rep + 1 < height - y ? (uint32_t)rep + 1 : height - y;
	}
	return true;
}

/* CUPS colour spaces with one colorant (cups_cspace_t): W, K, WHITE, GOLD,
 * SILVER, SW, DEVICE1. */
static bool gray_space(uint32_t cs, uint32_t colors)
{
	switch (cs) {
	case 0:
	case 3:
	case 12:
	case 13:
	case 14:
	case 18:
	case 48:
		return true;
	default:
		return colors == 1 && cs >= 48;
	}
}

void doc_analyse_pwg(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct doc_stream s;
	uint8_t h[PWG_HEADER], sync[4];
	int64_t pages = 0;
	bool color = false, duplex = false, tumble = false;

	doc_set_format(d, DOC_PWG, "pwg-raster");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "PWG raster: out of memory");
		return;
	}
	if (doc_stream_read(&s, sync, 4) < 4 || memcmp(sync, "RaS2", 4)) {
		doc_problem(d, "PWG raster: no RaS2 sync word");
		goto out;
	}
	for (;;) {
		size_t got = doc_stream_read(&s, h, sizeof(h));
		if (got == 0 && !s.err)
			break;
		if (got < sizeof(h)) {
			doc_problem(d, "PWG raster: truncated in the header of page %lld", (long long)pages + 1);
			goto out;
		}
		uint32_t bits = be32(h + PWG_BITS_PER_PIXEL), bpl = be32(h + PWG_BYTES_PER_LINE);
		uint32_t height = be32(h + PWG_HEIGHT);
		unsigned bpp = (bits + 7) / 8;

		/* what CUPS's reader accepts; PWG raster is always chunked */
		if (bits == 0 || bits > 240 || bpl == 0 || bpl > 0x7fffffff || height == 0 || bpl % bpp ||
		    be32(h + PWG_COLOR_ORDER) != 0) {
			doc_problem(d, "PWG raster: page %lld has an invalid header", (long long)pages + 1);
			goto out;
		}
		if (!gray_space(be32(h + PWG_COLOR_SPACE), be32(h + PWG_NUM_COLORS)))
			color = true;
		if (be32(h + PWG_DUPLEX) && !duplex) {
			duplex = true;
			tumble = be32(h + PWG_TUMBLE) != 0;
		}
		if (pages == 0 && be32(h + PWG_NUM_COPIES) >= 1 && be32(h + PWG_NUM_COPIES) <= 9999)
			doc_set_copies(d, be32(h + PWG_NUM_COPIES), "pwg-raster");

		if (!doc_skip_raster_page(&s, height, bpl, bpp)) {
			doc_problem(d, "PWG raster: truncated in page %lld", (long long)pages + 1);
			goto out;
		}
		pages++;
	}
	doc_set_pages(d, pages, "pwg-raster");
out:
	if (s.err)
		doc_problem(d, "PWG raster: read error %d", s.err);
	if (pages > 0) {
		doc_set_color(d, color, "pwg-raster");
		doc_set_sides(d,
			      !duplex  ? "one-sided"
			      : tumble ? "two-sided-short-edge"
				       : "two-sided-long-edge",
			      "pwg-raster");
	}
	doc_stream_close(&s);
}
