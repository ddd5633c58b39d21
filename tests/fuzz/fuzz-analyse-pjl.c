/* libFuzzer target for the PJL header (pjl.c) and the PCL 5 and PCL XL
 * analysers (pcl.c): arbitrary bytes as a held job's document
 * (fuzz-analyse.h), through each. PJL hands what follows its header to the
 * analyser of the language it enters, PDF and PostScript included. */
#include "fuzz-analyse.h"

static void pjl(const struct scout_doc_reader *r, struct scout_doc_info *d)
{
	doc_analyse_pjl(r, d, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_analyse(data, size, pjl, "application/octet-stream");
	fuzz_analyse(data, size, doc_analyse_pcl, "application/vnd.hp-pcl");
	fuzz_analyse(data, size, doc_analyse_pclxl, "application/vnd.hp-pclxl");
	return 0;
}
