/* Print-stream analysis: what a held job will cost when it is printed.
 * scout_doc_analyse() reads a document through a random-access reader (the
 * vault hands it a decrypting one; the document is never in clear on disk
 * nor whole in memory), sniffs its format from its first bytes and asks the
 * analyser of that format for pages, copies, sides and colour; what the
 * document does not say comes from the client's IPP job attributes, and what
 * they do not say from defaults. Each figure carries its source.
 *
 * It runs on a pool thread: it calls nothing of the loop, keeps no global
 * state, and its time and memory are bounded whatever the input (a 50 MB
 * file reads in a few bounded windows; a hostile one stops at a budget and
 * reports why in problem). */
#pragma once

#include <stdint.h>
#include <sys/types.h>

struct scout_doc_reader {
	uint64_t size;
	/* reads up to len bytes at off; returns bytes read (0 at the end) or -errno */
	ssize_t (*read_at)(void *arg, uint64_t off, void *buf, size_t len);
	void *arg;
};

/* The client's IPP attributes as the ipp module got them; NULL, "" or 0 when
 * absent. Borrowed for the duration of the call. */
struct scout_doc_hints {
	const char *format; /* document-format, e.g. "application/pdf" */
	unsigned copies;
	const char *sides; /* "one-sided" | "two-sided-long-edge" | "two-sided-short-edge" */
	const char *color; /* print-color-mode: "color" | "monochrome" | "auto" | ... */
};

/* Each *_source is a static string: "pdf", "pwg-raster", "urf",
 * "postscript-dsc", "pjl", "pcl", "jpeg", "ipp" (the client's attributes) or
 * "default". */
struct scout_doc_info {
	char format[64]; /* MIME type, "application/octet-stream" when unknown */
	const char *format_source;
	int64_t pages; /* -1 unknown */
	const char *pages_source;
	unsigned copies; /* >= 1 */
	const char *copies_source;
	char sides[32]; /* "one-sided" | "two-sided-long-edge" | "two-sided-short-edge" */
	const char *sides_source;
	char color[16]; /* "color" | "monochrome" | "unknown" */
	const char *color_source;
	uint64_t size;
	char problem[160]; /* "" or why a figure could not be read ("PDF: xref damaged") */
};

/* Fills ret_info whatever the document holds (unknown figures are -1,
 * "unknown" or from hints, with problem saying why). h may be NULL. Returns
 * 0, or -EINVAL for a NULL reader or ret_info. */
int scout_doc_analyse(const struct scout_doc_reader *r, const struct scout_doc_hints *h,
		      struct scout_doc_info *ret_info);
