/* What the fuzz-analyse-* targets share: the input as a document behind a
 * reader that returns short reads (as the vault's chunked decrypting reader
 * does), one format's analysers run on it directly (so that a mutated magic
 * does not stop the fuzzer at the sniffer), then the whole of
 * scout_doc_analyse() with that format as the client's hint. Whatever the
 * input, every string ends within its field, every source is set and the
 * figures are in range (ASan and UBSan watch the rest). */
#pragma once

#include <string.h>

#include "fuzz.h"
#include "modules/vault/analyse/analyse-int.h"

struct fuzz_doc {
	const uint8_t *p;
	size_t n;
};

static ssize_t fuzz_read(void *arg, uint64_t off, void *buf, size_t len)
{
	const struct fuzz_doc *f = arg;

	if (off >= f->n)
		return 0;
	if (len > f->n - off)
		len = f->n - off;
	if (len > 4096 - off % 4096)
		len = 4096 - off % 4096;
	memcpy(buf, f->p + off, len);
	return (ssize_t)len;
}

static void fuzz_check_info(const struct scout_doc_info *d, size_t size)
{
	CHECK(memchr(d->format, 0, sizeof(d->format)) && d->format[0]);
	CHECK(memchr(d->sides, 0, sizeof(d->sides)));
	CHECK(memchr(d->color, 0, sizeof(d->color)));
	CHECK(memchr(d->problem, 0, sizeof(d->problem)));
	CHECK(d->format_source && d->pages_source && d->copies_source && d->sides_source && d->color_source);
	CHECK(d->pages >= -1);
	CHECK(d->copies >= 1);
	CHECK(!strcmp(d->sides, "one-sided") || !strcmp(d->sides, "two-sided-long-edge") ||
	      !strcmp(d->sides, "two-sided-short-edge"));
	CHECK(!strcmp(d->color, "color") || !strcmp(d->color, "monochrome") || !strcmp(d->color, "unknown"));
	CHECK(d->size == size);
}

/* Runs fn (one format's analyser) on the input, then scout_doc_analyse()
 * with mime as the hint. */
static void fuzz_analyse(const uint8_t *data, size_t size,
			 void (*fn)(const struct scout_doc_reader *, struct scout_doc_info *), const char *mime)
{
	struct fuzz_doc f = {.p = data, .n = size};
	struct scout_doc_reader r = {.size = size, .read_at = fuzz_read, .arg = &f};
	struct scout_doc_info d = {.pages = -1};

	fn(&r, &d);
	CHECK(memchr(d.problem, 0, sizeof(d.problem)));
	CHECK(d.pages >= -1);

	struct scout_doc_hints h = {.format = mime, .copies = 2, .sides = "one-sided", .color = "auto"};
	CHECK(scout_doc_analyse(&r, &h, &d) == 0);
	fuzz_check_info(&d, size);
}
