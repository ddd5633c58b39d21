/* JPEG: one page; colour from the frame header's component count (1 is
 * greyscale; 3 or 4 colour, though a colour JPEG of grey pixels also says
 * 3). Markers are walked by their lengths up to the first SOF, within the
 * first 1 MiB (Exif thumbnails and ICC profiles come first). */
#include "analyse-int.h"

#define JPEG_SCAN_MAX (1 << 20)

void doc_analyse_jpeg(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct doc_stream s;
	uint8_t b[8];

	doc_set_format(d, DOC_JPEG, "jpeg");
	doc_set_pages(d, 1, "jpeg");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "JPEG: out of memory");
		return;
	}
	if (doc_stream_read(&s, b, 2) < 2 || b[0] != 0xff || b[1] != 0xd8) {
		doc_problem(d, "JPEG: no SOI marker");
		goto out;
	}
	while (doc_stream_tell(&s) < JPEG_SCAN_MAX) {
		int c = doc_stream_getc(&s);
		if (c != 0xff)
			break;
		int m;
		while ((m = doc_stream_getc(&s)) == 0xff) /* fill bytes */
			;
		if (m < 0)
			break;
		if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7))
			continue; /* no length */
		if (m == 0xd9 || m == 0xda)
			break; /* end, or the scan before any frame header */
		if (doc_stream_read(&s, b, 2) < 2)
			break;
		unsigned len = (unsigned)b[0] << 8 | b[1];
		if (len < 2)
			break;
		/* SOF0..SOF15 but DHT (c4), JPG (c8) and DAC (cc) */
		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
			if (len < 8 || doc_stream_read(&s, b, 6) < 6)
				break;
			doc_set_color(d, b[5] != 1, "jpeg");
			goto out;
		}
		if (!doc_stream_skip(&s, len - 2))
			break;
	}
	doc_problem(d, "JPEG: no frame header");
out:
	doc_stream_close(&s);
}
