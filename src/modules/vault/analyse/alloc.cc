/* Memory accounting for the PDF analysis. qpdf keeps every object it parses
 * and parses an object whole, so a small hostile PDF (a page tree whose
 * /Kids holds millions of direct numbers) can make it allocate gigabytes
 * (measured: 1.3 GB for a 10 MB file). qpdf 11 has no limit of its own, so
 * the process's global operator new counts what each thread holds, and
 * pdf.cc gives the thread running qpdf a budget: past it operator new throws
 * std::bad_alloc, which qpdf unwinds like any other error. The counters are
 * thread-local: concurrent analyses (and the rest of scoutd, all C) do not
 * see each other. Only C++ allocations go through here, and only qpdf
 * makes them. */
#include <malloc.h>
#include <stdlib.h>

#include <cstddef>
#include <new>

#include "alloc.h"

namespace
{
thread_local int64_t held;  /* bytes allocated minus freed by this thread */
thread_local int64_t limit; /* 0: no limit */
thread_local bool exceeded;
} // namespace

void doc_alloc_limit(int64_t bytes)
{
	held = 0;
	limit = bytes;
	exceeded = false;
}

bool doc_alloc_exceeded(void)
{
	return exceeded;
}

/* Every form of new and delete that takes no alignment goes through these
 * two, so that each allocation is freed by the same allocator (a form left
 * to the runtime would hand ASan's own new to our delete). */
static void *counted_new(std::size_t n) noexcept
{
	void *p = malloc(n ? n : 1);

	if (!p)
		return NULL;
	held += (int64_t)malloc_usable_size(p);
	if (limit && held > limit) {
		held -= (int64_t)malloc_usable_size(p);
		free(p);
		exceeded = true;
		return NULL;
	}
	return p;
}

static void counted_delete(void *p) noexcept
{
	if (!p)
		return;
	held -= (int64_t)malloc_usable_size(p);
	free(p);
}

void *operator new(std::size_t n)
{
	void *p = counted_new(n);
	if (!p)
		throw std::bad_alloc();
	return p;
}

void *operator new[](std::size_t n)
{
	void *p = counted_new(n);
	if (!p)
		throw std::bad_alloc();
	return p;
}

void *operator new(std::size_t n, const std::nothrow_t &) noexcept
{
	return counted_new(n);
}

void *operator new[](std::size_t n, const std::nothrow_t &) noexcept
{
	return counted_new(n);
}

void operator delete(void *p) noexcept
{
	counted_delete(p);
}

void operator delete[](void *p) noexcept
{
	counted_delete(p);
}

void operator delete(void *p, std::size_t) noexcept
{
	counted_delete(p);
}

void operator delete[](void *p, std::size_t) noexcept
{
	counted_delete(p);
}

void operator delete(void *p, const std::nothrow_t &) noexcept
{
	counted_delete(p);
}

void operator delete[](void *p, const std::nothrow_t &) noexcept
{
	counted_delete(p);
}
