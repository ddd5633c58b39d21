/* libFuzzer target for the raster analysers, PWG raster (pwg.c) and URF
 * (urf.c), which share the run-length skipping: arbitrary bytes as a held
 * job's document (fuzz-analyse.h), through both. */
#include "fuzz-analyse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_analyse(data, size, doc_analyse_pwg, "image/pwg-raster");
	fuzz_analyse(data, size, doc_analyse_urf, "image/urf");
	return 0;
}
