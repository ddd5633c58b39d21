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

void *operator new(std::size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		throw std::bad_alloc();
	held += (int64_t)malloc_usable_size(p);
	if (limit && held > limit) {
		held -= (int64_t)malloc_usable_size(p);
		free(p);
		exceeded = true;
		throw std::bad_alloc();
	}
	return p;
}

void operator delete(void *p) noexcept
{
	if (!p)
		return;
	held -= (int64_t)malloc_usable_size(p);
	free(p);
}

void operator delete(void *p, std::size_t) noexcept
{
	operator delete(p);
}
