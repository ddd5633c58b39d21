/* PCL 5 and PCL XL, whatever their PJL header did not say.
 *
 * PCL 5: the escape sequences are parsed (so that the binary data after
 * "ESC*b#W" and its kind is skipped by its length, not searched for form
 * feeds); pages are the form feeds at the top level, copies from
 * "ESC&l#X", duplex from "ESC&l#S". A stream with no form feed has an
 * unknown page count (HP-GL/2 pages, or a driver that ejects otherwise).
 *
 * PCL XL: the binary tokens are walked by their types' sizes; pages are the
 * BeginPage operators, colour from ColorSpace attributes (eGray or not),
 * duplex from DuplexPageMode, copies from the first PageCopies. */
#include <ctype.h>
#include <string.h>

#include "analyse-int.h"

#define ESC 0x1b

static void set_duplex(struct scout_doc_info *d, int mode, const char *source)
{
	doc_set_sides(d, mode == 0 ? "one-sided" : mode == 1 ? "two-sided-long-edge" : "two-sided-short-edge", source);
}

/* One parameterised escape, "ESC & l 1 s 2 X": after ESC and the
 * parameterised character pc. Applies what it says; false at the end. */
static bool pcl_escape(struct doc_stream *s, int pc, struct scout_doc_info *d, int64_t *copies, int *duplex)
{
	int group = doc_stream_getc(s);

	if (group < 0)
		return false;
	for (;;) {
		/* value: [+-] digits [. digits] */
		int c = doc_stream_getc(s);
		bool neg = false, digits = false;
		int64_t v = 0;

		if (c == '+' || c == '-') {
			neg = c == '-';
			c = doc_stream_getc(s);
		}
		while (c >= '0' && c <= '9') {
			if (v < 100000000)
				v = v * 10 + (c - '0');
			digits = true;
			c = doc_stream_getc(s);
		}
		if (c == '.') {
			while ((c = doc_stream_getc(s)) >= '0' && c <= '9')
				;
		}
		if (c < 0)
			return false;
		if (neg)
			v = -v;
		int param = toupper(c);
		bool last = c >= 0x40 && c <= 0x5e;
		if (!(c >= 0x40 && c <= 0x7e))
			return true; /* not a parameter: a malformed escape, resynchronise */
		if (pc == '&' && group == 'l' && param == 'X' && digits && v >= 1 && v <= 9999 && *copies == 0)
			*copies = v;
		else if (pc == '&' && group == 'l' && param == 'S' && digits && v >= 0 && v <= 2)
			*duplex = (int)v;
		/* data follows: "ESC*b#W", "ESC(s#W", "ESC&p#X" (transparent print data) ... */
		if (last && (param == 'W' || (pc == '&' && group == 'p' && param == 'X')) && v > 0)
			return doc_stream_skip(s, (uint64_t)v);
		if (last)
			return true;
	}
}

void doc_analyse_pcl(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct doc_stream s;
	int64_t pages = 0, copies = 0;
	int duplex = -1, c;
	bool hpgl = false;

	doc_set_format(d, DOC_PCL, "pcl");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "PCL: out of memory");
		return;
	}
	while ((c = doc_stream_getc(&s)) >= 0) {
		if (c == 0x0c && !hpgl) {
			pages++;
			continue;
		}
		if (c != ESC)
			continue;
		if ((c = doc_stream_getc(&s)) < 0)
			break;
		if (c == '%') {
			/* "ESC%-12345X" ends the job; "ESC%#B" enters HP-GL/2,
			 * "ESC%#A" returns */
			char b[8];
			size_t n = 0;
			while (n < sizeof(b) && (c = doc_stream_getc(&s)) >= 0 && (c == '-' || isdigit(c)))
				b[n++] = (char)c;
			if (c == 'X')
				break;
			hpgl = c == 'B';
			continue;
		}
		if (c >= 0x21 && c <= 0x2f && !pcl_escape(&s, c, d, &copies, &duplex))
			break;
	}
	if (s.err) {
		doc_problem(d, "PCL: read error %d", s.err);
	} else if (pages > 0) {
		doc_set_pages(d, pages, "pcl");
	} else {
		doc_problem(d, "PCL: no form feeds, page count unknown");
	}
	if (copies > 0)
		doc_set_copies(d, (unsigned)copies, "pcl");
	if (duplex >= 0)
		set_duplex(d, duplex, "pcl");
	doc_stream_close(&s);
}

/* PCL XL (HP's "PCL 6"): tokens are operators (0x41..0xbf), typed values
 * (0xc0..0xef), attribute ids (0xf8 + 1 byte, 0xf9 + 2 bytes) and embedded
 * data (0xfa + 4-byte length, 0xfb + 1-byte length). */
#define PXL_BEGIN_PAGE 0x43
#define PXL_ATTR_COLOR_SPACE 3
#define PXL_ATTR_PAGE_COPIES 49
#define PXL_ATTR_DUPLEX_PAGE_MODE 53

static uint32_t pxl_uint(const uint8_t *p, unsigned n, bool be)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint32_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

/* bytes of one element of a typed value: the low bits of its tag */
static unsigned pxl_elem(int tag)
{
	static const unsigned size[] = {1, 2, 4, 2, 4, 4};
	return (tag & 7) < 6 ? size[tag & 7] : 0;
}

void doc_analyse_pclxl(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct doc_stream s;
	char header[256];
	int64_t pages = 0;
	uint32_t value = 0, copies = 0;
	bool have_value = false, color = false, any_space = false, be, ended = false;
	int duplex = -1, c;
	uint8_t b[16];

	doc_set_format(d, DOC_PCLXL, "pcl");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "PCL XL: out of memory");
		return;
	}
	/* ") HP-PCL XL;2;0;comment": ')' low byte first, '(' high byte first */
	if (!doc_stream_line(&s, header, sizeof(header)) || strncmp(header + 1, " HP-PCL XL", 10) ||
	    (header[0] != ')' && header[0] != '(')) {
		doc_problem(d, "PCL XL: no stream header");
		goto out;
	}
	be = header[0] == '(';
	while ((c = doc_stream_getc(&s)) >= 0) {
		unsigned n;
		if (c >= 0xc0 && c <= 0xc5) { /* a scalar */
			n = pxl_elem(c);
			if (doc_stream_read(&s, b, n) < n)
				break;
			value = pxl_uint(b, n, be);
			have_value = true;
			continue;
		}
		have_value = have_value && c >= 0xf8 && c <= 0xf9;
		if (c >= 0xc8 && c <= 0xcd) { /* an array: its length, then its elements */
			int lt = doc_stream_getc(&s);
			unsigned ln = lt == 0xc0 ? 1 : lt == 0xc1 ? 2 : 0;
			if (!ln || doc_stream_read(&s, b, ln) < ln ||
			    !doc_stream_skip(&s, (uint64_t)pxl_uint(b, ln, be) * pxl_elem(c)))
				break;
		} else if (c >= 0xd0 && c <= 0xd5) { /* an xy pair */
			if (!doc_stream_skip(&s, 2 * pxl_elem(c)))
				break;
		} else if (c >= 0xe0 && c <= 0xe5) { /* a box */
			if (!doc_stream_skip(&s, 4 * pxl_elem(c)))
				break;
		} else if (c == 0xf8 || c == 0xf9) { /* an attribute id names the value before it */
			n = c == 0xf8 ? 1 : 2;
			if (doc_stream_read(&s, b, n) < n)
				break;
			uint32_t id = pxl_uint(b, n, be);
			if (!have_value)
				continue;
			if (id == PXL_ATTR_COLOR_SPACE) {
				any_space = true;
				color = color || value != 1; /* 1 eGray */
			} else if (id == PXL_ATTR_PAGE_COPIES && copies == 0 && value >= 1 && value <= 9999) {
				copies = value;
			} else if (id == PXL_ATTR_DUPLEX_PAGE_MODE && duplex < 0) {
				duplex = value == 0 ? 2 : 1; /* 0 horizontal binding: short edge */
			}
			have_value = false;
		} else if (c == 0xfa || c == 0xfb) { /* embedded data */
			n = c == 0xfa ? 4 : 1;
			if (doc_stream_read(&s, b, n) < n || !doc_stream_skip(&s, pxl_uint(b, n, be)))
				break;
		} else if (c == PXL_BEGIN_PAGE) {
			pages++;
		} else if (c == ESC) {
			ended = true; /* the universal exit language ends the stream */
			break;
		}
	}
	ended = ended || c < 0;
	if (s.err) {
		doc_problem(d, "PCL XL: read error %d", s.err);
		goto out;
	}
	if (!ended) {
		doc_problem(d, "PCL XL: truncated in page %lld", (long long)pages);
		goto out;
	}
	doc_set_pages(d, pages, "pcl");
	if (any_space)
		doc_set_color(d, color, "pcl");
	if (copies)
		doc_set_copies(d, copies, "pcl");
	if (duplex > 0)
		set_duplex(d, duplex, "pcl");
out:
	doc_stream_close(&s);
}
