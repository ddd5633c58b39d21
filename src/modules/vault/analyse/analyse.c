/* scout_doc_analyse(): sniffs the format, runs its analyser, then fills what
 * the document did not say from the client's IPP attributes, then from
 * defaults, recording where each figure came from. Also the setters the
 * analysers record figures with. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "analyse-int.h"

static const struct {
	enum doc_format f;
	const char *mime;
} mimes[] = {
	{DOC_PDF, "application/pdf"},
	{DOC_POSTSCRIPT, "application/postscript"},
	{DOC_PCL, "application/vnd.hp-pcl"},
	{DOC_PCLXL, "application/vnd.hp-pclxl"},
	{DOC_PWG, "image/pwg-raster"},
	{DOC_URF, "image/urf"},
	{DOC_JPEG, "image/jpeg"},
};

const char *doc_format_mime(enum doc_format f)
{
	for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
		if (mimes[i].f == f)
			return mimes[i].mime;
	return "application/octet-stream";
}

enum doc_format doc_format_from_mime(const char *mime)
{
	if (!mime)
		return DOC_UNKNOWN;
	for (size_t i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
		if (!strcasecmp(mime, mimes[i].mime))
			return mimes[i].f;
	if (!strcasecmp(mime, "image/pjpeg"))
		return DOC_JPEG;
	return DOC_UNKNOWN;
}

void doc_set_format(struct scout_doc_info *d, enum doc_format f, const char *source)
{
	snprintf(d->format, sizeof(d->format), "%s", doc_format_mime(f));
	d->format_source = source;
}

void doc_set_pages(struct scout_doc_info *d, int64_t pages, const char *source)
{
	d->pages = pages;
	d->pages_source = source;
}

void doc_set_copies(struct scout_doc_info *d, unsigned copies, const char *source)
{
	if (copies == 0)
		return;
	d->copies = copies;
	d->copies_source = source;
}

void doc_set_sides(struct scout_doc_info *d, const char *sides, const char *source)
{
	snprintf(d->sides, sizeof(d->sides), "%s", sides);
	d->sides_source = source;
}

void doc_set_color(struct scout_doc_info *d, bool color, const char *source)
{
	snprintf(d->color, sizeof(d->color), "%s", color ? "color" : "monochrome");
	d->color_source = source;
}

void doc_problem(struct scout_doc_info *d, const char *fmt, ...)
{
	size_t n = strlen(d->problem);
	va_list ap;

	if (n + 3 >= sizeof(d->problem))
		return;
	if (n) {
		memcpy(d->problem + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(d->problem + n, sizeof(d->problem) - n, fmt, ap);
	va_end(ap);
}

void doc_analyse_format(enum doc_format f, const struct scout_doc_reader *r, struct scout_doc_info *d, int depth)
{
	switch (f) {
	case DOC_PDF:
		doc_analyse_pdf(r, d);
		break;
	case DOC_POSTSCRIPT:
		doc_analyse_postscript(r, d);
		break;
	case DOC_PJL:
		doc_analyse_pjl(r, d, depth);
		break;
	case DOC_PCL:
		doc_analyse_pcl(r, d);
		break;
	case DOC_PCLXL:
		doc_analyse_pclxl(r, d);
		break;
	case DOC_PWG:
		doc_analyse_pwg(r, d);
		break;
	case DOC_URF:
		doc_analyse_urf(r, d);
		break;
	case DOC_JPEG:
		doc_analyse_jpeg(r, d);
		break;
	case DOC_UNKNOWN:
		break;
	}
}

static bool valid_sides(const char *s)
{
	return s &&
	       (!strcmp(s, "one-sided") || !strcmp(s, "two-sided-long-edge") || !strcmp(s, "two-sided-short-edge"));
}

/* print-color-mode (PWG 5100.13) to colour or not; -1 when it does not say
 * ("auto", or a value we do not know). */
static int hint_color(const char *c)
{
	static const char *const mono[] = {"monochrome",      "bi-level",         "process-monochrome",
					   "auto-monochrome", "process-bi-level", "highlight"};

	if (!c)
		return -1;
	if (!strcmp(c, "color"))
		return 1;
	for (size_t i = 0; i < sizeof(mono) / sizeof(mono[0]); i++)
		if (!strcmp(c, mono[i]))
			return 0;
	return -1;
}

/* What the document did not say: the client's attributes, then defaults. A
 * document's copies of 1 is what drivers write when nothing was asked, so the
 * client's copies above 1 win over it. */
static void fill_from_hints(struct scout_doc_info *d, const struct scout_doc_hints *h)
{
	if (!d->format_source) {
		if (h->format && h->format[0]) {
			snprintf(d->format, sizeof(d->format), "%s", h->format);
			d->format_source = "ipp";
		} else {
			doc_set_format(d, DOC_UNKNOWN, "default");
		}
	}
	if (!d->pages_source)
		doc_set_pages(d, -1, "default");
	if (d->copies == 0 || (d->copies == 1 && h->copies > 1)) {
		if (h->copies >= 1)
			doc_set_copies(d, h->copies, "ipp");
		else
			doc_set_copies(d, 1, "default");
	}
	if (!d->sides_source) {
		if (valid_sides(h->sides))
			doc_set_sides(d, h->sides, "ipp");
		else
			doc_set_sides(d, "one-sided", "default");
	}
	if (!d->color_source) {
		int c = hint_color(h->color);
		if (c >= 0) {
			doc_set_color(d, c, "ipp");
		} else {
			snprintf(d->color, sizeof(d->color), "unknown");
			d->color_source = "default";
		}
	}
}

int scout_doc_analyse(const struct scout_doc_reader *r, const struct scout_doc_hints *h,
		      struct scout_doc_info *ret_info)
{
	static const struct scout_doc_hints none = {0};
	struct scout_doc_info d = {.pages = -1};
	uint64_t off = 0;

	if (!r || !r->read_at || !ret_info)
		return -EINVAL;
	if (!h)
		h = &none;
	d.size = r->size;

	enum doc_format f = doc_sniff(r, &off);
	if (f != DOC_UNKNOWN) {
		struct doc_window w;
		struct scout_doc_reader sub;

		doc_window_init(&w, &sub, r, off);
		doc_analyse_format(f, &sub, &d, 0);
	} else if ((f = doc_format_from_mime(h->format)) != DOC_UNKNOWN) {
		/* the bytes say nothing we know: try what the client said it is */
		doc_analyse_format(f, r, &d, 0);
		doc_set_format(&d, f, "ipp");
	} else if (r->size == 0) {
		doc_problem(&d, "empty document");
	} else {
		doc_problem(&d, "document format not recognised");
	}
	fill_from_hints(&d, h);
	*ret_info = d;
	return 0;
}
