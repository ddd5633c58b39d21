/* Unit tests for the print-stream analysers (src/modules/vault/analyse):
 * each format's pages, colour, duplex and copies against documents made by
 * ghostscript and qpdf (tests/data/print, see its README), PJL in front of
 * PDF, the IPP fallback and its sources, damaged, truncated, encrypted and
 * hostile inputs (unknown figures with a reason, never a crash), the PDF
 * limits (page trees that loop or are huge, too many objects, qpdf's memory
 * budget), a 50 MB PDF analysed lazily (few bytes read, little memory; the
 * figures are printed), and analyses on several threads at once. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "modules/vault/analyse/analyse.h"

/* ---- readers ------------------------------------------------------------- */

struct mem {
	const uint8_t *p;
	size_t n;
	uint64_t bytes_read;
	int fail; /* -errno to return from every read, 0 for none */
};

static ssize_t mem_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct mem *m = arg;

	if (m->fail)
		return m->fail;
	if (off >= m->n)
		return 0;
	if (len > m->n - off)
		len = m->n - off;
	/* short reads, as a decrypting reader returns one chunk at a time */
	if (len > 65536 - off % 65536)
		len = 65536 - off % 65536;
	memcpy(buf, m->p + off, len);
	m->bytes_read += len;
	return (ssize_t)len;
}

struct file {
	int fd;
	uint64_t bytes_read, reads;
};

static ssize_t file_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct file *f = arg;
	ssize_t n = pread(f->fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	f->bytes_read += (uint64_t)n;
	f->reads++;
	return n;
}

static const char *datadir(void)
{
	const char *d = getenv("SCOUT_PRINTDATA");
	return d && *d ? d : "tests/data/print";
}

static uint8_t *load(const char *name, size_t *ret_n)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", datadir(), name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s (SCOUT_PRINTDATA=%s)\n", path, strerror(errno), datadir());
		fail();
	}
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *p = malloc((size_t)st.st_size + 1);
	assert_non_null(p);
	assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret_n = (size_t)st.st_size;
	return p;
}

static const char *const sources[] = {"pdf", "pwg-raster", "urf", "postscript-dsc", "pjl",
				      "pcl", "jpeg",       "ipp", "default"};

static void check_source(const char *s)
{
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
		if (!strcmp(s, sources[i]))
			return;
	fail_msg("unknown source %s", s);
}

/* What holds for every result, whatever the input. */
static void check_info(const struct scout_doc_info *d, uint64_t size)
{
	assert_non_null(memchr(d->format, 0, sizeof(d->format)));
	assert_non_null(memchr(d->sides, 0, sizeof(d->sides)));
	assert_non_null(memchr(d->color, 0, sizeof(d->color)));
	assert_non_null(memchr(d->problem, 0, sizeof(d->problem)));
	assert_true(d->format[0]);
	check_source(d->format_source);
	check_source(d->pages_source);
	check_source(d->copies_source);
	check_source(d->sides_source);
	check_source(d->color_source);
	assert_true(d->pages >= -1);
	assert_true(d->copies >= 1);
	assert_true(!strcmp(d->sides, "one-sided") || !strcmp(d->sides, "two-sided-long-edge") ||
		    !strcmp(d->sides, "two-sided-short-edge"));
	assert_true(!strcmp(d->color, "color") || !strcmp(d->color, "monochrome") || !strcmp(d->color, "unknown"));
	assert_int_equal(d->size, size);
	if (d->pages == -1)
		assert_string_equal(d->pages_source, "default");
}

static void analyse_mem(const void *p, size_t n, const struct scout_doc_hints *h, struct scout_doc_info *d)
{
	struct mem m = {.p = p, .n = n};
	struct scout_doc_reader r = {.size = n, .read_at = mem_read, .arg = &m};

	memset(d, 0x5a, sizeof(*d)); /* every field is written */
	assert_int_equal(scout_doc_analyse(&r, h, d), 0);
	check_info(d, n);
}

static void analyse_file(const char *name, const struct scout_doc_hints *h, struct scout_doc_info *d)
{
	size_t n;
	uint8_t *p = load(name, &n);

	analyse_mem(p, n, h, d);
	free(p);
}

static void expect(const struct scout_doc_info *d, const char *format, int64_t pages, const char *pages_source,
		   const char *color, const char *sides)
{
	if (d->pages != pages)
		fail_msg("pages %lld, expected %lld (problem: %s)", (long long)d->pages, (long long)pages, d->problem);
	assert_string_equal(d->format, format);
	assert_string_equal(d->pages_source, pages_source);
	assert_string_equal(d->color, color);
	assert_string_equal(d->sides, sides);
}

/* ---- PDF ----------------------------------------------------------------- */

static void test_pdf(void **state)
{
	struct scout_doc_info d;

	analyse_file("color3.pdf", NULL, &d);
	expect(&d, "application/pdf", 3, "pdf", "unknown", "one-sided");
	assert_string_equal(d.format_source, "pdf");
	assert_string_equal(d.color_source, "default");
	assert_string_equal(d.sides_source, "default");
	assert_int_equal(d.copies, 1);
	assert_string_equal(d.copies_source, "default");
	assert_string_equal(d.problem, "");

	/* what a PDF does not say comes from the client's attributes */
	struct scout_doc_hints h = {.format = "application/octet-stream",
				    .copies = 2,
				    .sides = "two-sided-long-edge",
				    .color = "monochrome"};
	analyse_file("color3.pdf", &h, &d);
	expect(&d, "application/pdf", 3, "pdf", "monochrome", "two-sided-long-edge");
	assert_string_equal(d.format_source, "pdf");
	assert_int_equal(d.copies, 2);
	assert_string_equal(d.copies_source, "ipp");
	assert_string_equal(d.sides_source, "ipp");
	assert_string_equal(d.color_source, "ipp");
}

static void test_pdf_after_junk(void **state)
{
	size_t n;
	uint8_t *pdf = load("color3.pdf", &n);
	const char junk[] = "some leading junk\r\n";
	uint8_t *p = malloc(n + sizeof(junk));
	struct scout_doc_info d;

	memcpy(p, junk, sizeof(junk) - 1);
	memcpy(p + sizeof(junk) - 1, pdf, n);
	analyse_mem(p, n + sizeof(junk) - 1, NULL, &d);
	expect(&d, "application/pdf", 3, "pdf", "unknown", "one-sided");
	free(p);
	free(pdf);
}

static void test_pdf_encrypted(void **state)
{
	struct scout_doc_info d;
	struct scout_doc_hints h = {.copies = 3, .color = "color"};

	/* a user password: nothing can be read, the hints stand */
	analyse_file("encrypted-user.pdf", &h, &d);
	expect(&d, "application/pdf", -1, "default", "color", "one-sided");
	assert_string_equal(d.problem, "PDF is encrypted (password required)");
	assert_int_equal(d.copies, 3);
	assert_string_equal(d.copies_source, "ipp");

	/* an owner password only restricts: the pages are readable */
	analyse_file("encrypted-owner.pdf", NULL, &d);
	expect(&d, "application/pdf", 3, "pdf", "unknown", "one-sided");
}

static void test_pdf_damaged(void **state)
{
	size_t n;
	uint8_t *pdf = load("color3.pdf", &n);
	struct scout_doc_info d;

	/* a wrong startxref: qpdf rebuilds the xref of a small file */
	uint8_t *p = memmem(pdf, n, "startxref", 9);
	assert_non_null(p);
	for (p += 10; p < pdf + n && *p >= '0' && *p <= '9'; p++)
		*p = '1';
	analyse_mem(pdf, n, NULL, &d);
	expect(&d, "application/pdf", 3, "pdf", "unknown", "one-sided");

	/* a header and nothing of a PDF after it */
	static const char empty[] = "%PDF-1.7\n%%EOF\n";
	analyse_mem(empty, sizeof(empty) - 1, NULL, &d);
	expect(&d, "application/pdf", -1, "default", "unknown", "one-sided");
	assert_true(!strncmp(d.problem, "PDF", 3));
	free(pdf);
}

/* ---- generated PDFs ------------------------------------------------------ */

struct pdfw {
	FILE *f;
	long *offs;
	size_t nobj, cap;
};

static void pdfw_open(struct pdfw *w, FILE *f, size_t cap)
{
	*w = (struct pdfw){.f = f, .cap = cap + 1};
	w->offs = calloc(w->cap, sizeof(long));
	assert_non_null(w->offs);
	fputs("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", f);
}

/* starts object number num (1-based, in order) */
static void pdfw_obj(struct pdfw *w, size_t num, const char *fmt, ...)
{
	va_list ap;

	assert_true(num < w->cap);
	w->offs[num] = ftell(w->f);
	if (num > w->nobj)
		w->nobj = num;
	fprintf(w->f, "%zu 0 obj\n", num);
	va_start(ap, fmt);
	vfprintf(w->f, fmt, ap);
	va_end(ap);
}

static void pdfw_close(struct pdfw *w)
{
	long xref = ftell(w->f);

	fprintf(w->f, "xref\n0 %zu\n0000000000 65535 f \n", w->nobj + 1);
	for (size_t i = 1; i <= w->nobj; i++)
		fprintf(w->f, "%010ld 00000 n \n", w->offs[i]);
	fprintf(w->f, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", w->nobj + 1, xref);
	free(w->offs);
	assert_int_equal(fflush(w->f), 0);
}

static FILE *tmpdoc(char *path, size_t cap)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, cap, "%s/scout-analyse-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w+");
	assert_non_null(f);
	return f;
}

static void analyse_fd(FILE *f, struct file *fr, struct scout_doc_info *d)
{
	struct stat st;

	assert_int_equal(fstat(fileno(f), &st), 0);
	*fr = (struct file){.fd = fileno(f)};
	struct scout_doc_reader r = {.size = (uint64_t)st.st_size, .read_at = file_read, .arg = fr};
	assert_int_equal(scout_doc_analyse(&r, NULL, d), 0);
	check_info(d, (uint64_t)st.st_size);
}

/* A flat page tree larger than the walk's budget: the root's /Count is taken
 * and the problem says so. */
static void test_pdf_huge_tree(void **state)
{
	enum { PAGES = 12000 };
	char path[4096];
	FILE *f = tmpdoc(path, sizeof(path));
	struct pdfw w;
	struct file fr;
	struct scout_doc_info d;

	pdfw_open(&w, f, PAGES + 2);
	pdfw_obj(&w, 1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 2, "<< /Type /Pages /Count %d /Kids [", PAGES);
	for (int i = 0; i < PAGES; i++)
		fprintf(f, "%d 0 R ", i + 3);
	fputs("] >>\nendobj\n", f);
	for (int i = 0; i < PAGES; i++)
		pdfw_obj(&w, (size_t)i + 3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>\nendobj\n");
	pdfw_close(&w);

	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", PAGES, "pdf", "unknown", "one-sided");
	assert_non_null(strstr(d.problem, "/Count"));
	fclose(f);
	unlink(path);
}

/* A page tree that loops back to its root and lists a page twice: each page
 * counts once and the walk ends; a lying /Count is not believed. */
static void test_pdf_tree_loop(void **state)
{
	char path[4096];
	FILE *f = tmpdoc(path, sizeof(path));
	struct pdfw w;
	struct file fr;
	struct scout_doc_info d;

	pdfw_open(&w, f, 5);
	pdfw_obj(&w, 1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 2, "<< /Type /Pages /Count 1000000 /Kids [3 0 R 2 0 R 4 0 R 3 0 R] >>\nendobj\n");
	pdfw_obj(&w, 3, "<< /Type /Page /Parent 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 4, "<< /Type /Pages /Parent 2 0 R /Count 1 /Kids [2 0 R 5 0 R] >>\nendobj\n");
	pdfw_obj(&w, 5, "<< /Type /Page /Parent 4 0 R >>\nendobj\n");
	pdfw_close(&w);

	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", 2, "pdf", "unknown", "one-sided");
	fclose(f);
	unlink(path);
}

/* More objects than qpdf is given: refused before it loads the xref; and
 * the same file with its xref damaged is not rebuilt. */
static void test_pdf_many_objects(void **state)
{
	enum { OBJECTS = 101000 };
	char path[4096];
	FILE *f = tmpdoc(path, sizeof(path));
	struct pdfw w;
	struct file fr;
	struct scout_doc_info d;

	pdfw_open(&w, f, OBJECTS);
	pdfw_obj(&w, 1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 2, "<< /Type /Pages /Count 1 /Kids [3 0 R] >>\nendobj\n");
	pdfw_obj(&w, 3, "<< /Type /Page /Parent 2 0 R >>\nendobj\n");
	for (size_t i = 4; i <= OBJECTS; i++)
		pdfw_obj(&w, i, "null\nendobj\n");
	pdfw_close(&w);

	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", -1, "default", "unknown", "one-sided");
	assert_string_equal(d.problem, "PDF: more than 100000 objects, not read");

	assert_int_equal(fseek(f, -8, SEEK_END), 0);
	fputs("9", f); /* startxref now points into the xref */
	fflush(f);
	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", -1, "default", "unknown", "one-sided");
	assert_string_equal(d.problem, "PDF: damaged, not repaired with more than 100000 objects");
	fclose(f);
	unlink(path);
}

/* A page tree whose /Kids holds 5 million direct numbers (10 MB): qpdf
 * would parse it whole into 1.3 GB; the analysis stops at its memory budget
 * and says so. */
static void test_pdf_memory_budget(void **state)
{
	char path[4096];
	FILE *f = tmpdoc(path, sizeof(path));
	struct pdfw w;
	struct file fr;
	struct scout_doc_info d;

	pdfw_open(&w, f, 2);
	pdfw_obj(&w, 1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 2, "<< /Type /Pages /Count 1 /Kids [");
	for (int i = 0; i < 5000000; i++)
		fputs("1 ", f);
	fputs("] >>\nendobj\n", f);
	pdfw_close(&w);

	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", -1, "default", "unknown", "one-sided");
	assert_string_equal(d.problem, "PDF: needs more than 64 MiB of memory");
	fclose(f);
	unlink(path);
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 50 MB: 50 pages, each with a 1 MiB image. qpdf reads the xref and the
 * page tree, never the images: a few KiB read, and peak RSS grows by little
 * (measured and printed; the bound here is generous). Then the same file
 * with its xref damaged: too big to rebuild, so it gives up at once. */
static void test_pdf_50mb(void **state)
{
	enum { PAGES = 50, IMAGE = 1 << 20 };
	char path[4096];
	FILE *f = tmpdoc(path, sizeof(path));
	struct pdfw w;
	struct file fr;
	struct scout_doc_info d;
	uint8_t *chunk = malloc(65536);
	uint32_t x = 2463534242u;

	assert_non_null(chunk);
	pdfw_open(&w, f, 2 + 2 * PAGES);
	pdfw_obj(&w, 1, "<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
	pdfw_obj(&w, 2, "<< /Type /Pages /Count %d /Kids [", PAGES);
	for (int i = 0; i < PAGES; i++)
		fprintf(f, "%d 0 R ", 3 + 2 * i);
	fputs("] >>\nendobj\n", f);
	for (int i = 0; i < PAGES; i++) {
		pdfw_obj(&w, (size_t)(3 + 2 * i),
			 "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im %d 0 R "
			 ">> >> >>\nendobj\n",
			 4 + 2 * i);
		pdfw_obj(&w, (size_t)(4 + 2 * i),
			 "<< /Type /XObject /Subtype /Image /Width 1024 /Height 1024 /ColorSpace /DeviceGray "
			 "/BitsPerComponent 8 /Length %d >>\nstream\n",
			 IMAGE);
		for (int k = 0; k < IMAGE / 65536; k++) {
			for (int j = 0; j < 65536; j++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				chunk[j] = (uint8_t)x;
			}
			fwrite(chunk, 1, 65536, f);
		}
		fputs("\nendstream\nendobj\n", f);
	}
	pdfw_close(&w);
	free(chunk);

	/* measured in a child: its peak RSS starts at its RSS at fork, not at
	 * what earlier tests of this process reached */
	fflush(stdout);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long rss0 = maxrss_kib();
		double t0 = now_s();
		struct stat st;
		struct scout_doc_reader r;

		fstat(fileno(f), &st);
		fr = (struct file){.fd = fileno(f)};
		r = (struct scout_doc_reader){.size = (uint64_t)st.st_size, .read_at = file_read, .arg = &fr};
		scout_doc_analyse(&r, NULL, &d);
		double t1 = now_s();
		long rss1 = maxrss_kib();
		printf("# 50 MB PDF (%lld bytes): %.3f s, %llu bytes read in %llu reads, peak RSS growth %ld KiB\n",
		       (long long)st.st_size, t1 - t0, (unsigned long long)fr.bytes_read, (unsigned long long)fr.reads,
		       rss1 - rss0);
		fflush(stdout);
		_exit(d.pages == PAGES && st.st_size > 50 * 1000 * 1000 && fr.bytes_read < 4 << 20 &&
				      rss1 - rss0 < 16 * 1024
			      ? 0
			      : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	analyse_fd(f, &fr, &d);
	expect(&d, "application/pdf", PAGES, "pdf", "unknown", "one-sided");

	/* damage the xref's first entry: qpdf would rebuild by scanning 50 MB */
	assert_int_equal(fseek(f, -30, SEEK_END), 0);
	fputs("9", f); /* startxref now points nowhere useful */
	fflush(f);
	double t0 = now_s();
	analyse_fd(f, &fr, &d);
	double t1 = now_s();
	printf("# damaged 50 MB PDF: %.3f s, %llu bytes read: %s\n", t1 - t0, (unsigned long long)fr.bytes_read,
	       d.problem);
	assert_int_equal(d.pages, -1);
	assert_non_null(strstr(d.problem, "not repaired"));
	fclose(f);
	unlink(path);
}

/* ---- rasters ------------------------------------------------------------- */

static void test_pwg(void **state)
{
	struct scout_doc_info d;
	struct scout_doc_hints h = {.sides = "one-sided", .color = "monochrome"};

	/* the pages' headers win over the client's attributes */
	analyse_file("color3-duplex.pwg", &h, &d);
	expect(&d, "image/pwg-raster", 3, "pwg-raster", "color", "two-sided-long-edge");
	assert_string_equal(d.color_source, "pwg-raster");
	assert_string_equal(d.sides_source, "pwg-raster");
	assert_string_equal(d.problem, "");

	analyse_file("gray3.pwg", NULL, &d);
	expect(&d, "image/pwg-raster", 3, "pwg-raster", "monochrome", "one-sided");
	assert_string_equal(d.sides_source, "pwg-raster");
}

static void test_urf(void **state)
{
	struct scout_doc_info d;

	analyse_file("color3-duplex.urf", NULL, &d);
	expect(&d, "image/urf", 3, "urf", "color", "two-sided-long-edge");
	assert_string_equal(d.color_source, "urf");
	assert_string_equal(d.problem, "");

	analyse_file("gray3-tumble.urf", NULL, &d);
	expect(&d, "image/urf", 3, "urf", "monochrome", "two-sided-short-edge");
}

/* A raster cut anywhere in its data or headers has no page count, says
 * where it was cut, and does not crash. */
static void test_raster_truncated(void **state)
{
	static const char *const names[] = {"color3-duplex.pwg", "gray3-tumble.urf"};

	for (size_t i = 0; i < 2; i++) {
		size_t n;
		uint8_t *p = load(names[i], &n);
		struct scout_doc_info d;

		analyse_mem(p, n - 1, NULL, &d);
		assert_int_equal(d.pages, -1);
		assert_non_null(strstr(d.problem, "truncated"));
		analyse_mem(p, n / 2, NULL, &d);
		assert_int_equal(d.pages, -1);
		assert_non_null(strstr(d.problem, "truncated"));
		free(p);
	}
}

/* ---- PostScript ---------------------------------------------------------- */

static void test_postscript(void **state)
{
	struct scout_doc_info d;

	analyse_file("color3.ps", NULL, &d);
	expect(&d, "application/postscript", 3, "postscript-dsc", "unknown", "one-sided");

	analyse_file("color3-ps2write.ps", NULL, &d);
	expect(&d, "application/postscript", 3, "postscript-dsc", "unknown", "one-sided");

	/* (atend) and the trailer's count, an embedded EPS not counted,
	 * %%Requirements: for duplex and copies, process colours for grey */
	struct scout_doc_hints h = {.copies = 5, .color = "color"};
	analyse_file("gray2.ps", &h, &d);
	expect(&d, "application/postscript", 2, "postscript-dsc", "monochrome", "two-sided-short-edge");
	assert_int_equal(d.copies, 2);
	assert_string_equal(d.copies_source, "postscript-dsc");
	assert_string_equal(d.color_source, "postscript-dsc");

	/* setpagedevice and %%BeginFeature, after a Windows driver's Ctrl-D */
	static const char ps[] = "\x04%!PS-Adobe-3.0\r\n%%EndComments\r\n"
				 "%%BeginFeature: *Duplex DuplexNoTumble\r\n<</Duplex true>> setpagedevice\r\n"
				 "%%EndFeature\r\n<< /NumCopies 4 >> setpagedevice\r\n%%Page: 1 1\r\nshowpage\r\n"
				 "%%Page: 2 2\r\nshowpage\r\n%%EOF\r\n";
	analyse_mem(ps, sizeof(ps) - 1, NULL, &d);
	expect(&d, "application/postscript", 2, "postscript-dsc", "unknown", "two-sided-long-edge");
	assert_int_equal(d.copies, 4);

	/* Windows' PScript5 says copies this way */
	static const char win[] = "%!PS-Adobe-3.0\r\n%%Pages: 1\r\n%%EndComments\r\n"
				  "%%BeginNonPPDFeature: NumCopies 3\r\n%%EndNonPPDFeature\r\n%%EOF\r\n";
	analyse_mem(win, sizeof(win) - 1, NULL, &d);
	expect(&d, "application/postscript", 1, "postscript-dsc", "unknown", "one-sided");
	assert_int_equal(d.copies, 3);

	/* no DSC at all */
	static const char bare[] = "%!\n/Helvetica findfont 12 scalefont setfont showpage\n";
	analyse_mem(bare, sizeof(bare) - 1, NULL, &d);
	expect(&d, "application/postscript", -1, "default", "unknown", "one-sided");
	assert_non_null(strstr(d.problem, "PostScript"));
}

/* ---- PJL, PCL, PCL XL ---------------------------------------------------- */

static void test_pcl(void **state)
{
	struct scout_doc_info d;

	analyse_file("color3.pcl", NULL, &d);
	expect(&d, "application/vnd.hp-pcl", 3, "pcl", "unknown", "one-sided");
	assert_int_equal(d.copies, 1);

	analyse_file("color3-pjl.pcl", NULL, &d);
	expect(&d, "application/vnd.hp-pcl", 3, "pcl", "unknown", "one-sided");

	analyse_file("color3-duplex.pcl", NULL, &d);
	expect(&d, "application/vnd.hp-pcl", 3, "pcl", "unknown", "two-sided-long-edge");
	assert_string_equal(d.sides_source, "pcl");

	analyse_file("color3-mono.pxl", NULL, &d);
	expect(&d, "application/vnd.hp-pclxl", 3, "pcl", "monochrome", "one-sided");

	analyse_file("color3-duplex.pxl", NULL, &d);
	expect(&d, "application/vnd.hp-pclxl", 3, "pcl", "color", "two-sided-long-edge");

	/* PCL with no form feed: pages unknown */
	static const char pcl[] = "\x1b"
				  "E\x1b&l2X\x1b&l2S\x1b*b3WABC\x1b"
				  "E";
	analyse_mem(pcl, sizeof(pcl) - 1, NULL, &d);
	expect(&d, "application/vnd.hp-pcl", -1, "default", "unknown", "two-sided-short-edge");
	assert_int_equal(d.copies, 2);
	assert_string_equal(d.copies_source, "pcl");
}

/* PJL then a PDF: PJL's settings, the PDF's pages. */
static void test_pjl_pdf(void **state)
{
	static const char head[] = "\x1b%-12345X@PJL JOB NAME=\"x\"\r\n@PJL SET COPIES = 3\r\n"
				   "@PJL SET DUPLEX=ON\r\n@PJL SET BINDING=SHORTEDGE\r\n"
				   "@PJL SET RENDERMODE=GRAYSCALE\r\n@PJL ENTER LANGUAGE=PDF\r\n";
	static const char tail[] = "\x1b%-12345X@PJL EOJ\r\n\x1b%-12345X";
	size_t n;
	uint8_t *pdf = load("color3.pdf", &n);
	size_t total = sizeof(head) - 1 + n + sizeof(tail) - 1;
	uint8_t *p = malloc(total);
	struct scout_doc_info d;

	memcpy(p, head, sizeof(head) - 1);
	memcpy(p + sizeof(head) - 1, pdf, n);
	memcpy(p + sizeof(head) - 1 + n, tail, sizeof(tail) - 1);
	analyse_mem(p, total, NULL, &d);
	expect(&d, "application/pdf", 3, "pdf", "monochrome", "two-sided-short-edge");
	assert_int_equal(d.copies, 3);
	assert_string_equal(d.copies_source, "pjl");
	assert_string_equal(d.sides_source, "pjl");
	assert_string_equal(d.color_source, "pjl");

	/* PJL with no language after it */
	static const char only[] = "\x1b%-12345X@PJL SET QTY=2\r\n\x1b%-12345X";
	analyse_mem(only, sizeof(only) - 1, NULL, &d);
	assert_int_equal(d.pages, -1);
	assert_int_equal(d.copies, 2);
	assert_string_equal(d.format, "application/octet-stream");
	assert_non_null(strstr(d.problem, "PJL"));
	free(p);
	free(pdf);
}

/* ---- JPEG, fallback ------------------------------------------------------ */

static void test_jpeg(void **state)
{
	struct scout_doc_info d;

	analyse_file("color.jpg", NULL, &d);
	expect(&d, "image/jpeg", 1, "jpeg", "color", "one-sided");
	analyse_file("gray.jpg", NULL, &d);
	expect(&d, "image/jpeg", 1, "jpeg", "monochrome", "one-sided");
	assert_string_equal(d.color_source, "jpeg");
}

static void test_fallback(void **state)
{
	static const char text[] = "just some text\n";
	struct scout_doc_info d;
	struct scout_doc_hints h = {.format = "text/plain",
				    .copies = 4,
				    .sides = "two-sided-short-edge",
				    .color = "auto"};

	analyse_mem(text, sizeof(text) - 1, &h, &d);
	expect(&d, "text/plain", -1, "default", "unknown", "two-sided-short-edge");
	assert_string_equal(d.format_source, "ipp");
	assert_int_equal(d.copies, 4);
	assert_string_equal(d.copies_source, "ipp");
	assert_string_equal(d.sides_source, "ipp");
	assert_string_equal(d.color_source, "default");
	assert_string_equal(d.problem, "document format not recognised");

	/* nothing at all */
	analyse_mem("", 0, NULL, &d);
	expect(&d, "application/octet-stream", -1, "default", "unknown", "one-sided");
	assert_string_equal(d.format_source, "default");
	assert_string_equal(d.problem, "empty document");

	/* bad hints are not taken */
	struct scout_doc_hints bad = {.sides = "three-sided", .color = "purple"};
	analyse_mem(text, sizeof(text) - 1, &bad, &d);
	assert_string_equal(d.sides_source, "default");
	assert_string_equal(d.color_source, "default");

	/* the bytes say nothing, the client says PCL: PCL it is */
	static const char pcl[] = "text\x0cmore text\x0c";
	struct scout_doc_hints hp = {.format = "application/vnd.hp-pcl"};
	analyse_mem(pcl, sizeof(pcl) - 1, &hp, &d);
	expect(&d, "application/vnd.hp-pcl", 2, "pcl", "unknown", "one-sided");
	assert_string_equal(d.format_source, "ipp");

	assert_int_equal(scout_doc_analyse(NULL, NULL, &d), -EINVAL);
}

static void test_read_error(void **state)
{
	static const char *const names[] = {"color3.pdf", "color3-duplex.pwg", "color3.ps", "color3.pcl", "color.jpg"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n;
		uint8_t *p = load(names[i], &n);
		struct mem m = {.p = p, .n = n, .fail = -EIO};
		struct scout_doc_reader r = {.size = n, .read_at = mem_read, .arg = &m};
		struct scout_doc_info d;

		assert_int_equal(scout_doc_analyse(&r, NULL, &d), 0);
		check_info(&d, n);
		assert_int_equal(d.pages, -1);
		free(p);
	}
}

/* ---- hostile input ------------------------------------------------------- */

/* Every sample cut short at many lengths and with bytes flipped: whatever
 * comes out is well-formed (ASan/UBSan watch the rest). */
static void test_hostile(void **state)
{
	static const char *const names[] = {"color3.pdf",         "color3-duplex.pwg", "color3-duplex.urf",
					    "color3.ps",          "gray2.ps",          "color3.pcl",
					    "color3-pjl.pcl",     "color3-duplex.pxl", "color.jpg",
					    "encrypted-owner.pdf"};
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n;
		uint8_t *p = load(names[i], &n);
		uint8_t *q = malloc(n);
		struct scout_doc_info d;

		for (size_t cut = 0; cut < n; cut += cut < 64 ? 1 : n / 37 + 1)
			analyse_mem(p, cut, NULL, &d);
		for (int round = 0; round < 60; round++) {
			memcpy(q, p, n);
			for (int k = 0; k < 1 + round % 8; k++) {
				x ^= x << 13, x ^= x >> 17, x ^= x << 5;
				/* mostly near the start, where the headers are */
				size_t at = (round & 1) ? x % n : x % (n < 2048 ? n : 2048);
				q[at] = (uint8_t)(x >> 8);
			}
			analyse_mem(q, n, NULL, &d);
		}
		free(q);
		free(p);
	}

	/* a PWG header claiming 2^32-1 lines of 2^31 bytes, and little data */
	uint8_t pwg[4 + 1796 + 16] = "RaS2";
	uint8_t *h = pwg + 4;
	h[388 + 3] = 8;                                             /* bits per pixel */
	h[392] = 0x7f, h[393] = 0xff, h[394] = 0xff, h[395] = 0xff; /* bytes per line */
	h[376] = 0xff, h[377] = 0xff, h[378] = 0xff, h[379] = 0xff; /* height */
	memset(pwg + 4 + 1796, 0x80, 16);
	struct scout_doc_info d;
	analyse_mem(pwg, sizeof(pwg), NULL, &d);
	assert_int_equal(d.pages, -1);
	assert_non_null(strstr(d.problem, "truncated"));

	/* nested PJL headers do not recurse without end */
	static const char uel[] = "\x1b%-12345X@PJL ENTER LANGUAGE=PCL\n";
	char nest[sizeof(uel) * 8];
	for (int i = 0; i < 8; i++)
		memcpy(nest + i * (sizeof(uel) - 1), uel, sizeof(uel) - 1);
	analyse_mem(nest, 8 * (sizeof(uel) - 1), NULL, &d);
}

/* Analyses on several threads at once (the pool runs up to four) give what
 * they give alone: no shared state, qpdf's included. */
struct thread_job {
	const char *name;
	struct scout_doc_info alone, together;
};

static bool same_info(const struct scout_doc_info *a, const struct scout_doc_info *b)
{
	return !strcmp(a->format, b->format) && a->format_source == b->format_source && a->pages == b->pages &&
	       a->pages_source == b->pages_source && a->copies == b->copies && a->copies_source == b->copies_source &&
	       !strcmp(a->sides, b->sides) && a->sides_source == b->sides_source && !strcmp(a->color, b->color) &&
	       a->color_source == b->color_source && a->size == b->size && !strcmp(a->problem, b->problem);
}

static void *thread_main(void *arg)
{
	struct thread_job *j = arg;
	size_t n;
	uint8_t *p = load(j->name, &n);

	for (int i = 0; i < 20; i++) {
		struct mem m = {.p = p, .n = n};
		struct scout_doc_reader r = {.size = n, .read_at = mem_read, .arg = &m};
		if (scout_doc_analyse(&r, NULL, &j->together) < 0 || !same_info(&j->together, &j->alone))
			break;
	}
	free(p);
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_job jobs[] = {{.name = "color3.pdf"},         {.name = "encrypted-owner.pdf"},
				    {.name = "encrypted-user.pdf"}, {.name = "color3-duplex.pwg"},
				    {.name = "color3-ps2write.ps"}, {.name = "color3-duplex.pxl"}};
	enum { N = sizeof(jobs) / sizeof(jobs[0]) };
	pthread_t t[N];

	for (size_t i = 0; i < N; i++)
		analyse_file(jobs[i].name, NULL, &jobs[i].alone);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, &jobs[i]), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(same_info(&jobs[i].together, &jobs[i].alone));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pdf),
		cmocka_unit_test(test_pdf_after_junk),
		cmocka_unit_test(test_pdf_encrypted),
		cmocka_unit_test(test_pdf_damaged),
		cmocka_unit_test(test_pdf_huge_tree),
		cmocka_unit_test(test_pdf_tree_loop),
		cmocka_unit_test(test_pdf_many_objects),
		cmocka_unit_test(test_pdf_memory_budget),
		cmocka_unit_test(test_pdf_50mb),
		cmocka_unit_test(test_pwg),
		cmocka_unit_test(test_urf),
		cmocka_unit_test(test_raster_truncated),
		cmocka_unit_test(test_postscript),
		cmocka_unit_test(test_pcl),
		cmocka_unit_test(test_pjl_pdf),
		cmocka_unit_test(test_jpeg),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
