/* Format sniffing from the first bytes: the client's document-format is often
 * application/octet-stream (or wrong), and the bytes are what the printer will
 * see. A PDF may follow leading junk within the first KiB (qpdf accepts the
 * same); PostScript from Windows drivers may start with a Ctrl-D. */
#include <string.h>

#include "analyse-int.h"

#define SNIFF_LEN 1024

static bool starts(const uint8_t *p, size_t n, const char *magic, size_t mlen)
{
	return n >= mlen && !memcmp(p, magic, mlen);
}

static const uint8_t *find(const uint8_t *p, size_t n, const char *needle, size_t nlen)
{
	return memmem(p, n, needle, nlen);
}

enum doc_format doc_sniff(const struct scout_doc_reader *r, uint64_t *ret_off)
{
	uint8_t b[SNIFF_LEN];
	ssize_t got = doc_pread(r, 0, b, sizeof(b));
	size_t n, skip = 0;
	const uint8_t *p;

	*ret_off = 0;
	if (got <= 0)
		return DOC_UNKNOWN;
	n = (size_t)got;
#define STARTS(m) starts(b + skip, n - skip, m, sizeof(m) - 1)
	/* PJL's universal exit language, or a bare PJL line */
	if (STARTS("\x1b%-12345X") || STARTS("@PJL"))
		return DOC_PJL;
	if (STARTS("%PDF-"))
		return DOC_PDF;
	if (STARTS("RaS2"))
		return DOC_PWG;
	if (STARTS("UNIRAST\0"))
		return DOC_URF;
	if (STARTS("\xff\xd8\xff"))
		return DOC_JPEG;
	if (STARTS(") HP-PCL XL") || STARTS("( HP-PCL XL"))
		return DOC_PCLXL;
	if (STARTS("\x1b"
		   "E") ||
	    STARTS("\x1b&") || STARTS("\x1b*") || STARTS("\x1b("))
		return DOC_PCL;
	if (b[0] == 0x04)
		skip = 1;
	if (STARTS("%!"))
		return *ret_off = skip, DOC_POSTSCRIPT;
#undef STARTS
	if ((p = find(b, n, "%PDF-", 5))) {
		*ret_off = (uint64_t)(p - b);
		return DOC_PDF;
	}
	return DOC_UNKNOWN;
}
