/* What the analysers share: a bounded sequential reader over a
 * scout_doc_reader, a window reader (the rest of a stream after a PJL
 * header), the setters that record a figure with its source, and one entry
 * point per format. Internal to analyse/: the vault includes analyse.h only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analyse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Formats the sniffer tells apart. */
enum doc_format {
	DOC_UNKNOWN = 0,
	DOC_PDF,
	DOC_POSTSCRIPT,
	DOC_PJL,
	DOC_PCL,
	DOC_PCLXL,
	DOC_PWG,
	DOC_URF,
	DOC_JPEG,
};

/* Looks at the first bytes (up to 1 KiB) of r; *ret_off is where the format's
 * own data starts (a PDF after leading junk). DOC_UNKNOWN when the bytes say
 * nothing. */
enum doc_format doc_sniff(const struct scout_doc_reader *r, uint64_t *ret_off);
enum doc_format doc_format_from_mime(const char *mime);
const char *doc_format_mime(enum doc_format f);

/* Reads exactly len bytes at off unless the document ends first: returns the
 * bytes read or -errno (a reader error, or -EIO for a reader that returns more
 * than asked). */
ssize_t doc_pread(const struct scout_doc_reader *r, uint64_t off, void *buf, size_t len);

/* A reader over [base, base + size) of another reader. */
struct doc_window {
	const struct scout_doc_reader *parent;
	uint64_t base;
};
void doc_window_init(struct doc_window *w, struct scout_doc_reader *ret_r, const struct scout_doc_reader *parent,
		     uint64_t base);

/* Sequential reading with a 64 KiB buffer (heap). Reading past the end or an
 * error sets eof or err; the getters then return -1 / short counts and the
 * caller checks err once. */
#define DOC_STREAM_BUF 65536
struct doc_stream {
	const struct scout_doc_reader *r;
	uint64_t pos; /* document offset of buf[at] */
	uint8_t *buf;
	size_t len, at;
	int err; /* 0 or -errno */
	bool eof;
};
int doc_stream_open(struct doc_stream *s, const struct scout_doc_reader *r, uint64_t off);
void doc_stream_close(struct doc_stream *s);
int doc_stream_getc(struct doc_stream *s); /* a byte, or -1 at the end or on error */
/* copies up to n bytes; returns how many (< n at the end or on error) */
size_t doc_stream_read(struct doc_stream *s, void *buf, size_t n);
/* skips n bytes; false when the document ends first */
bool doc_stream_skip(struct doc_stream *s, uint64_t n);
/* the next line (without CR/LF, truncated to cap - 1 bytes, NUL-terminated);
 * false at the end with nothing read */
bool doc_stream_line(struct doc_stream *s, char *line, size_t cap);
static inline uint64_t doc_stream_tell(const struct doc_stream *s)
{
	return s->pos;
}

/* Setters: each records a figure and the static source it came from. */
void doc_set_format(struct scout_doc_info *d, enum doc_format f, const char *source);
void doc_set_pages(struct scout_doc_info *d, int64_t pages, const char *source);
void doc_set_copies(struct scout_doc_info *d, unsigned copies, const char *source);
void doc_set_sides(struct scout_doc_info *d, const char *sides, const char *source);
void doc_set_color(struct scout_doc_info *d, bool color, const char *source);
/* Appends a problem ("PDF: xref damaged"); the first ones are kept when the
 * buffer is full. */
void doc_problem(struct scout_doc_info *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The analysers. Each reads r from offset 0 and fills what the document
 * says, leaving the rest for the hints; none fails: a figure it cannot read
 * stays unknown and a problem says why. depth counts PJL nesting. */
void doc_analyse_pdf(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_postscript(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_pjl(const struct scout_doc_reader *r, struct scout_doc_info *d, int depth);
void doc_analyse_pcl(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_pclxl(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_pwg(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_urf(const struct scout_doc_reader *r, struct scout_doc_info *d);
void doc_analyse_jpeg(const struct scout_doc_reader *r, struct scout_doc_info *d);
/* Runs the analyser of f over r (DOC_UNKNOWN: nothing). */
void doc_analyse_format(enum doc_format f, const struct scout_doc_reader *r, struct scout_doc_info *d, int depth);

/* Skips one line of the modified PackBits of PWG raster and URF (CUPS's
 * reader: 128 clears to the end of the line, runs are clipped at it). bpp is
 * bytes per pixel (>= 1). false when the data ends first. */
bool doc_skip_packbits_line(struct doc_stream *s, uint64_t bytes_per_line, unsigned bpp);
/* Skips a page of height lines: each a line-repeat byte, then one line
 * (which stands for repeat + 1 lines). false when the data ends first. */
bool doc_skip_raster_page(struct doc_stream *s, uint32_t height, uint64_t bytes_per_line, unsigned bpp);

#ifdef __cplusplus
}
#endif
