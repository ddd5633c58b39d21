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

#include "analyse-int.h"

/* qpdf's xref reconstruction scans the whole file and keeps an entry per
 * object it finds: tried up to this size only. */
#define PDF_RECOVER_MAX (16ULL << 20)
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

void analyse(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	std::shared_ptr<DocSource> src;

	try {
		src = std::make_shared<DocSource>(r);
		QPDF pdf;
		pdf.setSuppressWarnings(true);
		pdf.setAttemptRecovery(r->size <= PDF_RECOVER_MAX);
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
		if (src && src->over_time)
			doc_problem(d, "PDF: reading took too long");
		else if (src && src->over_budget)
			doc_problem(d, "PDF: read more than %u times its size", PDF_READ_FACTOR);
		else if (e.getErrorCode() == qpdf_e_password)
			doc_problem(d, "PDF is encrypted (password required)");
		else if (e.getErrorCode() == qpdf_e_damaged_pdf && r->size > PDF_RECOVER_MAX)
			doc_problem(d, "PDF: damaged, not repaired above %llu MiB", PDF_RECOVER_MAX >> 20);
		else if (e.getErrorCode() == qpdf_e_damaged_pdf)
			doc_problem(d, "PDF: damaged beyond repair");
		else
			doc_problem(d, "PDF: %s", e.getMessageDetail().c_str());
	} catch (std::bad_alloc &) {
		doc_problem(d, "PDF: out of memory");
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
	analyse(r, d);
}
