/* PDF: the page count from the page tree, read by qpdf over the vault's
 * decrypting reader. qpdf reads only what it needs (the trailer, the xref,
 * then the objects it is asked for), so a 50 MB PDF costs a few blocks read
 * and some hundred KiB; the document is never written in clear nor read
 * whole.
 *
 * qpdf reads through an InputSource; ours serves it from a few 64 KiB blocks
 * fetched with read_at. (A FILE* from fopencookie() for QPDF::processFile
 * was tried first: glibc refills its buffer on every fseek and qpdf seeks
 * every 128 bytes, so it read 16 MB of a 50 MB PDF of 50 pages.)
 * Everything qpdf may do with a hostile file is bounded here: the bytes it
 * may fetch (a multiple of the size), the wall time (checked at each fetch
 * and each page-tree node), the page-tree nodes walked (each is an object
 * qpdf keeps in memory), and the rebuilding of a damaged xref, which scans
 * the whole file and is only tried for small ones. C++ exceptions stop at
 * this file's extern "C" entry. Colour is not read (it would mean parsing
 * every content stream); copies and sides come from the hints. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <new>
#include <set>
#include <vector>

/* qpdf 11: no PointerHolder, only std::shared_ptr (and no #warning) */
#define POINTERHOLDER_TRANSITION 4
#include <qpdf/InputSource.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFExc.hh>
#include <qpdf/QPDFObjGen.hh>
#include <qpdf/QPDFObjectHandle.hh>

#include "alloc.h"
#include "analyse-int.h"

/* qpdf's xref reconstruction scans the whole file and keeps an entry per
 * object it finds: tried up to this size only. */
#define PDF_RECOVER_MAX (16ULL << 20)
/* objects in the xref (qpdf keeps an entry for each, and an object for each
 * it parses): above this the PDF is not handed to qpdf at all */
#define PDF_MAX_OBJECTS 100000
/* heap qpdf may hold (alloc.cc): past it the analysis stops */
#define PDF_MAX_MEMORY (64LL << 20)
/* page-tree nodes visited before the root's /Count is taken instead */
#define PDF_MAX_NODES 10000
#define PDF_MAX_SECONDS 20
/* qpdf may read each byte a few times (xref, object streams, recovery) */
#define PDF_READ_FACTOR 8
#define PDF_READ_SLACK (16ULL << 20)

namespace
{

bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* The document as qpdf's InputSource: a few 64 KiB blocks (the vault's
 * chunk size) kept, least recently used replaced. qpdf seeks and reads a few
 * bytes at a time (its own buffer is 128 bytes), so every read is served from
 * here and a block is fetched once while qpdf works in it. */
class DocSource : public InputSource
{
      public:
	DocSource(const struct scout_doc_reader *r) : r(r), name("document")
	{
		budget = r->size > (UINT64_MAX - PDF_READ_SLACK) / PDF_READ_FACTOR
				 ? UINT64_MAX
				 : r->size * PDF_READ_FACTOR + PDF_READ_SLACK;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += PDF_MAX_SECONDS;
	}

	uint64_t budget; /* bytes that may still be fetched */
	struct timespec deadline;
	bool over_budget = false, over_time = false;

	qpdf_offset_t findAndSkipNextEOL() override
	{
		const qpdf_offset_t end = (qpdf_offset_t)r->size;
		char c;

		while (cur < end && !is_eol(byte_at(cur)))
			cur++;
		if (cur >= end) {
			cur = end;
			return end;
		}
		qpdf_offset_t eol = cur;
		while (cur < end && is_eol(c = byte_at(cur)))
			cur++;
		return eol;
	}

	std::string const &getName() const override
	{
		return name;
	}

	qpdf_offset_t tell() override
	{
		return cur;
	}

	void seek(qpdf_offset_t offset, int whence) override
	{
		qpdf_offset_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? cur : (qpdf_offset_t)r->size;

		if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
			throw std::logic_error("DocSource::seek: bad whence");
		if ((offset < 0 && base + offset < 0) || (offset > 0 && offset > INT64_MAX - base))
			throw std::runtime_error("document: seek out of range");
		cur = base + offset;
	}

	void rewind() override
	{
		cur = 0;
	}

	size_t read(char *buffer, size_t length) override
	{
		size_t got = 0;

		last_offset = cur;
		while (got < length && cur < (qpdf_offset_t)r->size) {
			const Block &b = block((uint64_t)cur);
			size_t at = (size_t)((uint64_t)cur - b.off);
			size_t k = b.len - at < length - got ? b.len - at : length - got;
			if (k == 0)
				break;
			memcpy(buffer + got, b.data.data() + at, k);
			got += k;
			cur += (qpdf_offset_t)k;
		}
		return got;
	}

	void unreadCh(char) override
	{
		if (cur > 0)
			cur--;
	}

      private:
	static constexpr size_t BLOCK = 65536;
	static constexpr int NBLOCKS = 4;
	struct Block {
		uint64_t off = UINT64_MAX;
		size_t len = 0;
		uint64_t used = 0;
		std::vector<char> data;
	};

	const struct scout_doc_reader *r;
	std::string name;
	qpdf_offset_t cur = 0;
	Block blocks[NBLOCKS];
	uint64_t clock = 0;

	static bool is_eol(char c)
	{
		return c == '\r' || c == '\n';
	}

	char byte_at(qpdf_offset_t off)
	{
		const Block &b = block((uint64_t)off);
		return b.data[(size_t)((uint64_t)off - b.off)];
	}

	/* the block holding off (< size), fetched if need be */
	const Block &block(uint64_t off)
	{
		uint64_t start = off - off % BLOCK;
		Block *victim = &blocks[0];

		for (Block &b : blocks) {
			if (b.off == start && b.len > off - start) {
				b.used = ++clock;
				return b;
			}
			if (b.used < victim->used)
				victim = &b;
		}
		if (past(&deadline)) {
			over_time = true;
			throw std::runtime_error("document: reading took too long");
		}
		size_t want = r->size - start < BLOCK ? (size_t)(r->size - start) : BLOCK;
		if (want > budget) {
			over_budget = true;
			throw std::runtime_error("document: read budget spent");
		}
		victim->data.resize(BLOCK);
		ssize_t n = doc_pread(r, start, victim->data.data(), want);
		if (n < 0)
			throw std::runtime_error(std::string("document: ") + strerror((int)-n));
		if ((size_t)n <= off - start)
			throw std::runtime_error("document: shorter than its size");
		budget -= (uint64_t)n;
		victim->off = start;
		victim->len = (size_t)n;
		victim->used = ++clock;
		return *victim;
	}
};

/* Counts the leaves of the page tree: a node with a /Kids array is an
 * intermediate node, anything else that is a dictionary a page (as qpdf's
 * own getAllPages has it). A node seen twice (a loop, or a page listed
 * twice) counts once. Returns the count, or -1 past the node budget or the
 * deadline (*why says which). */
int64_t count_pages(QPDF &pdf, QPDFObjectHandle pages, const struct timespec *deadline, const char **why)
{
	std::vector<QPDFObjectHandle> stack;
	std::set<QPDFObjGen> seen;
	int64_t leaves = 0;
	size_t nodes = 0;

	stack.push_back(pages);
	while (!stack.empty()) {
		QPDFObjectHandle h = stack.back();
		stack.pop_back();
		if ((nodes & 1023) == 0) {
			if (past(deadline)) {
				*why = "took too long";
				return -1;
			}
			if (pdf.numWarnings() > 1000)
				pdf.getWarnings(); /* qpdf keeps them all otherwise */
		}
		if (h.isIndirect() && !seen.insert(h.getObjGen()).second)
			continue;
		if (!h.isDictionary())
			continue;
		QPDFObjectHandle kids = h.getKey("/Kids");
		if (!kids.isArray()) {
			leaves++;
			continue;
		}
		int n = kids.getArrayNItems();
		if (n < 0 || (size_t)n > PDF_MAX_NODES - nodes) {
			*why = "too many page-tree nodes";
			return -1;
		}
		nodes += (size_t)n;
		for (int i = n - 1; i >= 0; i--)
			stack.push_back(kids.getArrayItem(i));
	}
	return leaves;
}

/* The number of xref entries qpdf would load, counted without it: a classic
 * table by its subsection headers (entries are 20 bytes), an xref stream by
 * its /Size, following /Prev through at most 32 sections. -1 when the
 * structure cannot be followed that simply (qpdf then decides, and a rebuild
 * is bounded by obj_markers()). */
int64_t xref_entries(const struct scout_doc_reader *r)
{
	char buf[4096];
	uint64_t seen[32];
	int64_t total = 0;

	uint64_t tail = r->size < 1054 ? r->size : 1054;
	ssize_t n = doc_pread(r, r->size - tail, buf, (size_t)tail);
	if (n <= 0)
		return -1;
	const char *p = NULL;
	for (const char *q = buf; (q = (const char *)memmem(q, (size_t)(buf + n - q), "startxref", 9)); q += 9)
		p = q + 9;
	if (!p)
		return -1;
	std::string tailstr(p, (size_t)(buf + n - p));
	uint64_t at = strtoull(tailstr.c_str(), NULL, 10);

	for (size_t sec = 0; sec < sizeof(seen) / sizeof(seen[0]); sec++) {
		for (size_t i = 0; i < sec; i++)
			if (seen[i] == at)
				return total; /* a /Prev loop: qpdf stops there too */
		seen[sec] = at;
		n = doc_pread(r, at, buf, sizeof(buf) - 1);
		if (n <= 0)
			return -1;
		buf[n] = 0;
		const char *b = buf + strspn(buf, " \t\r\n");
		const char *dict;
		if (!strncmp(b, "xref", 4)) {
			uint64_t pos = at + (uint64_t)(b - buf) + 4;
			for (;;) { /* subsections: "first count" then count entries */
				char line[64];
				n = doc_pread(r, pos, line, sizeof(line) - 1);
				if (n <= 0)
					return -1;
				line[n] = 0;
				size_t ws = strspn(line, " \t\r\n");
				if (!strncmp(line + ws, "trailer", 7)) {
					pos += ws;
					break;
				}
				char *end;
				unsigned long long first = strtoull(line + ws, &end, 10);
				unsigned long long count = strtoull(end, &end, 10);
				(void)first;
				if (end == line + ws || count > 10000000)
					return -1;
				total += (int64_t)count;
				if (total > PDF_MAX_OBJECTS)
					return total;
				end += strspn(end, " \t");
				end += strspn(end, "\r\n");
				pos += (uint64_t)(end - line) + count * 20;
				if (pos >= r->size)
					return -1;
			}
			n = doc_pread(r, pos, buf, sizeof(buf) - 1);
			if (n <= 0)
				return -1;
			buf[n] = 0;
			dict = buf;
		} else if (*b >= '0' && *b <= '9' && strstr(b, " obj")) {
			const char *size = strstr(b, "/Size");
			if (!size)
				return -1;
			long long v = strtoll(size + 5, NULL, 10);
			if (v < 0)
				return -1;
			total += v;
			dict = b;
		} else {
			return -1;
		}
		if (total > PDF_MAX_OBJECTS)
			return total;
		const char *prev = strstr(dict, "/Prev");
		if (!prev)
			return total;
		at = strtoull(prev + 5, NULL, 10);
	}
	return total;
}

/* An upper bound on the objects a rebuild would find: "obj" appears in
 * each "N G obj" (and its "endobj"). Reads the whole file (only small files
 * are rebuilt), stopping past limit. */
int64_t obj_markers(const struct scout_doc_reader *r, int64_t limit)
{
	std::vector<char> buf(65536 + 2);
	int64_t count = 0;
	size_t keep = 0;

	for (uint64_t off = 0; off < r->size && count <= limit;) {
		ssize_t n = doc_pread(r, off, buf.data() + keep, 65536);
		if (n <= 0)
			return n < 0 ? INT64_MAX : count;
		size_t len = keep + (size_t)n;
		for (const char *q = buf.data();
		     (q = (const char *)memmem(q, (size_t)(buf.data() + len - q), "obj", 3)); q += 3)
			count++;
		/* the last two bytes again, for a marker across the boundary */
		keep = len < 2 ? len : 2;
		memmove(buf.data(), buf.data() + len - keep, keep);
		if (keep == 2 && !memcmp(buf.data(), "bj", 2))
			keep = 0; /* counted already */
		off += (uint64_t)n;
	}
	return count;
}

void analyse(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	std::shared_ptr<DocSource> src;

	int64_t objects = xref_entries(r);
	if (objects > PDF_MAX_OBJECTS) {
		doc_problem(d, "PDF: more than %d objects, not read", PDF_MAX_OBJECTS);
		return;
	}
	/* first as it is; a damaged xref is rebuilt on a second try when
	 * the file is small and has few objects */
	bool recover = false;
again:
	try {
		src = std::make_shared<DocSource>(r);
		QPDF pdf;
		pdf.setSuppressWarnings(true);
		pdf.setAttemptRecovery(recover);
		pdf.processInputSource(src);
		QPDFObjectHandle root = pdf.getRoot();
		QPDFObjectHandle pages = root.getKey("/Pages");
		if (!pages.isDictionary()) {
			doc_problem(d, "PDF: no page tree");
			return;
		}
		const char *why = "";
		int64_t n = count_pages(pdf, pages, &src->deadline, &why);
		if (n >= 0) {
			doc_set_pages(d, n, "pdf");
			return;
		}
		/* past a budget: the root's own count, when it is plausible */
		QPDFObjectHandle count = pages.getKey("/Count");
		if (count.isInteger() && count.getIntValue() >= 0 && count.getIntValue() <= 100000000) {
			doc_set_pages(d, count.getIntValue(), "pdf");
			doc_problem(d, "PDF: page tree not walked (%s); its /Count taken", why);
		} else {
			doc_problem(d, "PDF: page tree %s", why);
		}
	} catch (QPDFExc &e) {
		/* damage shows when qpdf opens the file or later, when it
		 * resolves an object through a broken xref */
		if (!recover && e.getErrorCode() == qpdf_e_damaged_pdf && src && !src->over_time && !src->over_budget) {
			if (r->size > PDF_RECOVER_MAX) {
				doc_problem(d, "PDF: damaged, not repaired above %llu MiB", PDF_RECOVER_MAX >> 20);
				return;
			}
			if (obj_markers(r, 2 * PDF_MAX_OBJECTS) > 2 * PDF_MAX_OBJECTS) {
				doc_problem(d, "PDF: damaged, not repaired with more than %d objects", PDF_MAX_OBJECTS);
				return;
			}
			recover = true;
			goto again;
		}
		if (src && src->over_time)
			doc_problem(d, "PDF: reading took too long");
		else if (src && src->over_budget)
			doc_problem(d, "PDF: read more than %u times its size", PDF_READ_FACTOR);
		else if (e.getErrorCode() == qpdf_e_password)
			doc_problem(d, "PDF is encrypted (password required)");
		else if (e.getErrorCode() == qpdf_e_damaged_pdf)
			doc_problem(d, "PDF: damaged beyond repair");
		else
			doc_problem(d, "PDF: %s", e.getMessageDetail().c_str());
	} catch (std::bad_alloc &) {
		doc_problem(d, "PDF: needs more than %lld MiB of memory", PDF_MAX_MEMORY >> 20);
	} catch (std::exception &e) {
		if (src && src->over_time)
			doc_problem(d, "PDF: reading took too long");
		else if (src && src->over_budget)
			doc_problem(d, "PDF: read more than %u times its size", PDF_READ_FACTOR);
		else
			doc_problem(d, "PDF: %s", e.what());
	} catch (...) {
		doc_problem(d, "PDF: unreadable");
	}
}

} // namespace

extern "C" void doc_analyse_pdf(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	doc_set_format(d, DOC_PDF, "pdf");
	struct scout_doc_info before = *d;

	doc_alloc_limit(PDF_MAX_MEMORY);
	analyse(r, d);
	if (doc_alloc_exceeded()) {
		*d = before;
		doc_problem(d, "PDF: needs more than %lld MiB of memory", PDF_MAX_MEMORY >> 20);
	}
	doc_alloc_limit(0);
}
