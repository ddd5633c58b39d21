/* libFuzzer target for the print-stream analyser of JPEG frame headers (jpeg.c): arbitrary
 * bytes as a held job's document (fuzz-analyse.h). */
#include "fuzz-analyse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_analyse(data, size, doc_analyse_jpeg, "image/jpeg");
	return 0;
}
