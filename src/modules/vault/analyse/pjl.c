/* PJL: the job-control header HP-compatible drivers put before the printer
 * language (universal exit language "ESC%-12345X", then "@PJL ..." lines,
 * then "@PJL ENTER LANGUAGE=..."). Copies (COPIES, QTY), duplex (DUPLEX,
 * BINDING) and colour (RENDERMODE, PLANESINUSE) come from its SET commands;
 * the rest of the stream goes to the analyser of the language it enters
 * (sniffed first, ENTER LANGUAGE when the bytes say nothing), whose own
 * figures win over PJL's defaults. The header is read up to 64 KiB. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "analyse-int.h"

#define PJL_MAX_HEADER 65536
#define PJL_LINE 256
#define PJL_MAX_DEPTH 2

#define UEL "\x1b%-12345X"

struct pjl_state {
	long copies;
	int duplex; /* -1 unknown, 0 off, 1 on */
	bool short_edge;
	int color; /* -1 unknown */
	enum doc_format language;
};

/* "@PJL SET COPIES = 2" becomes "SET COPIES=2": upper case, no blanks
 * around '=', runs of blanks as one. */
static void normalise(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = in; *p && n + 1 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == ' ' || c == '\t') {
			while (p[1] == ' ' || p[1] == '\t')
				p++;
			if (n == 0 || out[n - 1] == '=' || p[1] == '=' || !p[1])
				continue;
			c = ' ';
		}
		out[n++] = (char)toupper(c);
	}
	out[n] = 0;
}

static long value_num(const char *v)
{
	if (!isdigit((unsigned char)*v))
		return -1;
	long n = strtol(v, NULL, 10);
	return n > 9999 ? -1 : n;
}

/* Returns true for ENTER LANGUAGE, the header's last line. */
static bool command(struct pjl_state *st, const char *line)
{
	char c[PJL_LINE];
	const char *v;

	normalise(line + 4, c, sizeof(c));
	if (!strncmp(c, "SET ", 4) || !strncmp(c, "DEFAULT ", 8)) {
		const char *kv = c + (c[0] == 'S' ? 4 : 8);
		if (!strncmp(kv, "COPIES=", 7) || !strncmp(kv, "QTY=", 4)) {
			long n = value_num(strchr(kv, '=') + 1);
			if (n > 0)
				st->copies = n;
		} else if (!strncmp(kv, "DUPLEX=", 7)) {
			v = kv + 7;
			st->duplex = !strncmp(v, "ON", 2) ? 1 : !strncmp(v, "OFF", 3) ? 0 : st->duplex;
		} else if (!strncmp(kv, "BINDING=", 8)) {
			st->short_edge = !strncmp(kv + 8, "SHORTEDGE", 9);
		} else if (!strncmp(kv, "RENDERMODE=", 11)) {
			v = kv + 11;
			st->color = !strncmp(v, "COLOR", 5) ? 1 : !strncmp(v, "GRAYSCALE", 9) ? 0 : st->color;
		} else if (!strncmp(kv, "PLANESINUSE=", 12)) {
			st->color = value_num(kv + 12) == 1 ? 0 : value_num(kv + 12) > 1 ? 1 : st->color;
		}
	} else if (!strncmp(c, "ENTER LANGUAGE=", 15)) {
		v = c + 15;
		if (!strncmp(v, "PCLXL", 5))
			st->language = DOC_PCLXL;
		else if (!strncmp(v, "PCL", 3))
			st->language = DOC_PCL;
		else if (!strncmp(v, "POSTSCRIPT", 10))
			st->language = DOC_POSTSCRIPT;
		else if (!strncmp(v, "PDF", 3))
			st->language = DOC_PDF;
		else
			st->language = DOC_UNKNOWN;
		return true;
	}
	return false;
}

void doc_analyse_pjl(const struct scout_doc_reader *r, struct scout_doc_info *d, int depth)
{
	struct pjl_state st = {.duplex = -1, .color = -1};
	struct doc_stream s;
	char line[PJL_LINE];
	uint64_t lang_off = r->size;
	bool entered = false;

	doc_set_format(d, DOC_UNKNOWN, "pjl");
	if (doc_stream_open(&s, r, 0) < 0) {
		doc_problem(d, "PJL: out of memory");
		return;
	}
	for (;;) {
		uint64_t start = doc_stream_tell(&s);
		if (start > PJL_MAX_HEADER) {
			doc_problem(d, "PJL: header longer than %d bytes", PJL_MAX_HEADER);
			break;
		}
		if (!doc_stream_line(&s, line, sizeof(line)))
			break;
		char *p = line;
		while (!strncmp(p, UEL, sizeof(UEL) - 1))
			p += sizeof(UEL) - 1;
		if (!*p)
			continue;
		if (strncasecmp(p, "@PJL", 4)) {
			/* no ENTER LANGUAGE: the language starts here */
			lang_off = start + (uint64_t)(p - line);
			break;
		}
		if (command(&st, p)) {
			lang_off = doc_stream_tell(&s);
			entered = true;
			break;
		}
	}
	if (s.err)
		doc_problem(d, "PJL: read error %d", s.err);
	doc_stream_close(&s);

	if (st.copies > 0)
		doc_set_copies(d, (unsigned)st.copies, "pjl");
	if (st.duplex >= 0)
		doc_set_sides(d,
			      st.duplex == 0  ? "one-sided"
			      : st.short_edge ? "two-sided-short-edge"
					      : "two-sided-long-edge",
			      "pjl");
	if (st.color >= 0)
		doc_set_color(d, st.color, "pjl");

	if (lang_off >= r->size) {
		doc_problem(d, "PJL: no printer language after the header");
		d->format_source = NULL;
		return;
	}
	struct doc_window w;
	struct scout_doc_reader sub;
	uint64_t off = 0;

	doc_window_init(&w, &sub, r, lang_off);
	enum doc_format f = doc_sniff(&sub, &off);
	if (f == DOC_UNKNOWN && entered)
		f = st.language;
	if (f == DOC_PJL && depth >= PJL_MAX_DEPTH)
		f = DOC_UNKNOWN;
	if (f == DOC_UNKNOWN) {
		doc_problem(d, "PJL: printer language not recognised");
		d->format_source = NULL;
		return;
	}
	struct doc_window w2;
	struct scout_doc_reader sub2;

	doc_window_init(&w2, &sub2, &sub, off);
	doc_analyse_format(f, &sub2, d, depth + 1);
}
