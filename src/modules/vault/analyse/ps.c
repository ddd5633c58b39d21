/* PostScript: what the DSC comments (Adobe's Document Structuring
 * Conventions 3.0) say. Pages from %%Pages: in the header, or in the trailer
 * when the header says (atend), or else the number of %%Page: comments;
 * duplex and colour from %%Requirements:, %%BeginFeature: / %%IncludeFeature:
 * (*Duplex, *ColorModel), %%DocumentProcessColors: and setpagedevice lines
 * (/Duplex, /Tumble, /NumCopies); copies from numcopies(N), /NumCopies and
 * %%BeginNonPPDFeature: NumCopies.
 * Documents embedded between %%BeginDocument and %%EndDocument are not
 * counted, and %%BeginData / %%BeginBinary sections are skipped by their
 * length. The file is streamed once, line by line, with a bounded line. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "analyse-int.h"

#define PS_LINE 256

struct ps_state {
	int64_t pages_header, pages_trailer, page_comments;
	bool atend, in_header, in_trailer;
	int depth;
	int duplex;  /* -1 unknown, 0 simplex, 1 long edge, 2 short edge */
	int tumble;  /* -1 unknown, else setpagedevice's /Tumble */
	int color;   /* -1 unknown */
	long copies; /* 0 unknown */
};

static bool prefix(const char *s, const char *p, const char **ret_rest)
{
	size_t n = strlen(p);

	if (strncmp(s, p, n))
		return false;
	s += n;
	while (*s == ' ' || *s == '\t')
		s++;
	*ret_rest = s;
	return true;
}

static int64_t number(const char *s)
{
	if (!isdigit((unsigned char)*s))
		return -1;
	long long v = strtoll(s, NULL, 10);
	return v < 0 || v > 100000000 ? -1 : v;
}

static void feature(struct ps_state *st, const char *v)
{
	const char *opt;

	if (prefix(v, "*Duplex", &opt)) {
		if (!strncmp(opt, "DuplexNoTumble", 14))
			st->duplex = 1;
		else if (!strncmp(opt, "DuplexTumble", 12))
			st->duplex = 2;
		else if (!strncmp(opt, "None", 4) || !strncmp(opt, "Simplex", 7))
			st->duplex = 0;
	} else if (prefix(v, "*ColorModel", &opt)) {
		if (!strncasecmp(opt, "Gray", 4) || !strncasecmp(opt, "Mono", 4) || !strncasecmp(opt, "Black", 5))
			st->color = 0;
		else if (*opt)
			st->color = 1;
	}
}

static void requirements(struct ps_state *st, const char *v)
{
	const char *p;

	if ((p = strstr(v, "duplex")))
		st->duplex = !strncmp(p, "duplex(tumble)", 14) ? 2 : 1;
	if (strstr(v, "color"))
		st->color = 1;
	if ((p = strstr(v, "numcopies(")) && number(p + 10) > 0)
		st->copies = (long)number(p + 10);
}

/* setpagedevice dictionaries: << /Duplex true /Tumble false /NumCopies 2 >> */
static void pagedevice(struct ps_state *st, const char *line)
{
	const char *p;

	if ((p = strstr(line, "/Duplex"))) {
		p += 7;
		while (*p == ' ')
			p++;
		if (!strncmp(p, "true", 4) && st->duplex <= 0)
			st->duplex = 1;
		else if (!strncmp(p, "false", 5) && st->duplex < 0)
			st->duplex = 0;
	}
	if ((p = strstr(line, "/Tumble"))) {
		p += 7;
		while (*p == ' ')
			p++;
		st->tumble = !strncmp(p, "true", 4);
	}
	if ((p = strstr(line, "/NumCopies"))) {
		p += 10;
		while (*p == ' ')
			p++;
		if (number(p) > 0)
			st->copies = (long)number(p);
	}
}

/* %%BeginData: N [type [Bytes|Lines]] and %%BeginBinary: N */
static bool skip_data(struct doc_stream *s, const char *v, bool binary)
{
	int64_t n = number(v);
	char line[PS_LINE];

	if (n < 0)
		return true;
	if (binary || !strstr(v, "Lines"))
		return doc_stream_skip(s, (uint64_t)n);
	for (int64_t i = 0; i < n; i++)
		if (!doc_stream_line(s, line, sizeof(line)))
			return false;
	return true;
}

static void line_at_top(struct ps_state *st, const char *line)
{
	const char *v;

	if (prefix(line, "%%Pages:", &v)) {
		if (!strncmp(v, "(atend)", 7)) {
			if (st->in_header)
				st->atend = true;
		} else if (number(v) >= 0) {
			if (st->in_header && !st->atend && st->pages_header < 0)
				st->pages_header = number(v);
			else if (st->in_trailer || st->atend)
				st->pages_trailer = number(v);
		}
	} else if (prefix(line, "%%Page:", &v)) {
		st->page_comments++;
	} else if (prefix(line, "%%Trailer", &v)) {
		st->in_trailer = true;
	} else if (prefix(line, "%%Requirements:", &v)) {
		requirements(st, v);
	} else if (prefix(line, "%%BeginFeature:", &v) || prefix(line, "%%IncludeFeature:", &v)) {
		feature(st, v);
	} else if (prefix(line, "%%BeginNonPPDFeature:", &v)) {
		/* Windows' PScript5: "%%BeginNonPPDFeature: NumCopies 2" */
		const char *n;
		if (prefix(v, "NumCopies", &n) && number(n) > 0)
			st->copies = (long)number(n);
	} else if (prefix(line, "%%DocumentProcessColors:", &v)) {
		if (strstr(v, "Cyan") || strstr(v, "Magenta") || strstr(v, "Yellow"))
			st->color = 1;
		else if (strstr(v, "Black") && st->color < 0)
			st->color = 0;
	} else if (line[0] != '%' && (strstr(line, "setpagedevice") || strstr(line, "/NumCopies"))) {
		pagedevice(st, line);
	}
}

void doc_analyse_postscript(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	struct ps_state st =
		{.pages_header = -1, .pages_trailer = -1, .in_header = true, .duplex = -1, .tumble = -1, .color = -1};
	struct doc_stream s;
	char line[PS_LINE];
	const char *v;

	doc_set_format(d, DOC_POSTSCRIPT, "postscript-dsc");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "PostScript: out of memory");
		return;
	}
	if (!doc_stream_line(&s, line, sizeof(line)) || strncmp(line, "%!", 2)) {
		doc_problem(d, "PostScript: no %%! header");
		goto out;
	}
	while (doc_stream_line(&s, line, sizeof(line))) {
		if (st.in_header && (!strncmp(line, "%%EndComments", 13) || line[0] != '%'))
			st.in_header = false;
		if (prefix(line, "%%BeginDocument", &v)) {
			st.depth++;
		} else if (prefix(line, "%%EndDocument", &v)) {
			if (st.depth > 0)
				st.depth--;
		} else if (prefix(line, "%%BeginData:", &v) || prefix(line, "%%BeginBinary:", &v)) {
			if (!skip_data(&s, v, line[7] == 'B'))
				break;
		} else if (st.depth == 0) {
			line_at_top(&st, line);
		}
	}
	if (s.err) {
		doc_problem(d, "PostScript: read error %d", s.err);
		goto out;
	}
	if (st.atend && st.pages_trailer >= 0)
		doc_set_pages(d, st.pages_trailer, "postscript-dsc");
	else if (!st.atend && st.pages_header >= 0)
		doc_set_pages(d, st.pages_header, "postscript-dsc");
	else if (st.page_comments > 0)
		doc_set_pages(d, st.page_comments, "postscript-dsc");
	else
		doc_problem(d, "PostScript: no %%%%Pages or %%%%Page comments");
	if (st.duplex == 1 && st.tumble == 1)
		st.duplex = 2;
	if (st.duplex >= 0)
		doc_set_sides(d,
			      st.duplex == 0   ? "one-sided"
			      : st.duplex == 1 ? "two-sided-long-edge"
					       : "two-sided-short-edge",
			      "postscript-dsc");
	if (st.color >= 0)
		doc_set_color(d, st.color, "postscript-dsc");
	if (st.copies > 0)
		doc_set_copies(d, (unsigned)st.copies, "postscript-dsc");
out:
	doc_stream_close(&s);
}
