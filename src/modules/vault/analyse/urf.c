/* URF / Apple raster ("UNIRAST\0", the format of AirPrint): a file header
 * with the page count, then per page a 32-byte header (bits per pixel,
 * colour space, duplex, width, height, resolution) and run-length data with
 * PWG raster's coding (pwg.c). Pages are counted by walking the file (the
 * header's count may be 0 or wrong); colour from every page's colour space,
 * duplex from the first duplex page. */
#include <string.h>

#include "analyse-int.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void doc_analyse_urf(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct doc_stream s;
	uint8_t fh[12], h[32];
	int64_t pages = 0;
	bool color = false, duplex = false, tumble = false;

	doc_set_format(d, DOC_URF, "urf");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "URF: out of memory");
		return;
	}
	if (doc_stream_read(&s, fh, sizeof(fh)) < sizeof(fh) || memcmp(fh, "UNIRAST\0", 8)) {
		doc_problem(d, "URF: no UNIRAST header");
		goto out;
	}
	for (;;) {
		size_t got = doc_stream_read(&s, h, sizeof(h));
		if (got == 0 && !s.err)
			break;
		if (got < sizeof(h)) {
			doc_problem(d, "URF: truncated in the header of page %lld", (long long)pages + 1);
			goto out;
		}
		unsigned bits = h[0], bpp = (bits + 7) / 8;
		uint32_t width = be32(h + 12), height = be32(h + 16);
		uint64_t bpl = (uint64_t)width * bits / 8;

		if (bits == 0 || width == 0 || height == 0 || bpl == 0 || bpl > 0x7fffffff || bpl % bpp) {
			doc_problem(d, "URF: page %lld has an invalid header", (long long)pages + 1);
			goto out;
		}
		/* colour spaces: 0 sGray, 1 sRGB, 2 CIELab, 3 AdobeRGB, 4 Gray,
		 * 5 RGB, 6 CMYK; others are device colour */
		if (h[1] != 0 && h[1] != 4)
			color = true;
		/* duplex: 1 simplex, 2 short edge, 3 long edge */
		if (h[2] >= 2 && !duplex) {
			duplex = true;
			tumble = h[2] == 2;
		}
		if (!doc_skip_raster_page(&s, height, bpl, bpp)) {
			doc_problem(d, "URF: truncated in page %lld", (long long)pages + 1);
			goto out;
		}
		pages++;
	}
	doc_set_pages(d, pages, "urf");
	if (be32(fh + 8) != 0 && be32(fh + 8) != 0xffffffffu && be32(fh + 8) != (uint64_t)pages)
		doc_problem(d, "URF: header says %u pages, file has %lld", be32(fh + 8), (long long)pages);
out:
	if (s.err)
		doc_problem(d, "URF: read error %d", s.err);
	if (pages > 0) {
		doc_set_color(d, color, "urf");
		doc_set_sides(d,
			      !duplex  ? "one-sided"
			      : tumble ? "two-sided-short-edge"
				       : "two-sided-long-edge",
			      "urf");
	}
	doc_stream_close(&s);
}
