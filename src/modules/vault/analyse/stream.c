/* Reading a document for the analysers: whole reads at an offset, windows
 * (the language after a PJL header) and a sequential reader with one 64 KiB
 * buffer, so that an analyser walking a 50 MB file holds 64 KiB of it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analyse-int.h"

ssize_t doc_pread(const struct scout_doc_reader *r, uint64_t off, void *buf, size_t len)
{
	size_t got = 0;

	if (off >= r->size)
		return 0;
	if (len > r->size - off)
		len = (size_t)(r->size - off);
	while (got < len) {
		ssize_t n = r->read_at(r->arg, off + got, (uint8_t *)buf + got, len - got);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		if ((size_t)n > len - got)
			return -EIO;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static ssize_t window_read(void *arg, uint64_t off, void *buf, size_t len)
{
	const struct doc_window *w = arg;

	if (off > UINT64_MAX - w->base)
		return 0;
	return w->parent->read_at(w->parent->arg, w->base + off, buf, len);
}

void doc_window_init(struct doc_window *w, struct scout_doc_reader *ret_r, const struct scout_doc_reader *parent,
		     uint64_t base)
{
	w->parent = parent;
	w->base = base < parent->size ? base : parent->size;
	*ret_r = (struct scout_doc_reader){
		.size = parent->size - w->base,
		.read_at = window_read,
		.arg = w,
	};
}

int doc_stream_open(struct doc_stream *s, const struct scout_doc_reader *r, uint64_t off)
{
	*s = (struct doc_stream){.r = r, .pos = off};
	s->buf = malloc(DOC_STREAM_BUF);
	if (!s->buf) {
		s->err = -ENOMEM;
		return -ENOMEM;
	}
	return 0;
}

void doc_stream_close(struct doc_stream *s)
{
	free(s->buf);
	s->buf = NULL;
}

/* Makes at least one byte available; false at the end or on an error. */
static bool fill(struct doc_stream *s)
{
	if (s->at < s->len)
		return true;
	if (s->err || s->eof || !s->buf)
		return false;
	ssize_t n = doc_pread(s->r, s->pos, s->buf, DOC_STREAM_BUF);
	if (n < 0) {
		s->err = (int)n;
		return false;
	}
	if (n == 0) {
		s->eof = true;
		return false;
	}
	s->len = (size_t)n;
	s->at = 0;
	return true;
}

int doc_stream_getc(struct doc_stream *s)
{
	if (!fill(s))
		return -1;
	s->pos++;
	return s->buf[s->at++];
}

size_t doc_stream_read(struct doc_stream *s, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n && fill(s)) {
		size_t k = s->len - s->at;
		if (k > n - got)
			k = n - got;
		memcpy((uint8_t *)buf + got, s->buf + s->at, k);
		s->at += k;
		s->pos += k;
		got += k;
	}
	return got;
}

bool doc_stream_skip(struct doc_stream *s, uint64_t n)
{
	if (s->at < s->len) {
		size_t k = s->len - s->at;
		if (k > n)
			k = (size_t)n;
		s->at += k;
		s->pos += k;
		n -= k;
	}
	if (n == 0)
		return true;
	/* past the buffer: jump without reading what lies between */
	s->at = s->len = 0;
	if (s->err || s->pos > s->r->size || n > s->r->size - s->pos) {
		s->pos = s->r->size;
		s->eof = true;
		return false;
	}
	s->pos += n;
	return true;
}

bool doc_stream_line(struct doc_stream *s, char *line, size_t cap)
{
	size_t n = 0;
	bool any = false;

	while (fill(s)) {
		uint8_t *p = s->buf + s->at;
		size_t avail = s->len - s->at;
		uint8_t *cr = memchr(p, '\r', avail), *lf = memchr(p, '\n', avail);
		uint8_t *end = cr && (!lf || cr < lf) ? cr : lf;
		size_t take = end ? (size_t)(end - p) : avail;

		any = true;
		if (n + 1 < cap) {
			size_t k = take < cap - 1 - n ? take : cap - 1 - n;
			memcpy(line + n, p, k);
			n += k;
		}
		s->at += take;
		s->pos += take;
		if (!end)
			continue;
		/* the end of line: CR, LF or CR LF */
		int c = doc_stream_getc(s);
		if (c == '\r' && fill(s) && s->buf[s->at] == '\n') {
			s->at++;
			s->pos++;
		}
		break;
	}
	if (cap)
		line[n] = 0;
	return any;
}
