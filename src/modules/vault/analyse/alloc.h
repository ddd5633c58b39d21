/* A per-thread budget for C++ allocations (alloc.cc): the PDF analysis runs
 * qpdf under one. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Starts counting this thread's C++ allocations from zero, failing them
 * with std::bad_alloc past bytes (0: no limit). */
void doc_alloc_limit(int64_t bytes);
/* Whether an allocation failed for the budget since doc_alloc_limit(): qpdf
 * turns some failures into warnings and goes on, so its result is not
 * trusted then. */
bool doc_alloc_exceeded(void);
