/* A printer's QR label (qr.c): the GUID as a QR code (libqrencode), drawn
 * as a PNG (an encoder of our own over zlib), an SVG (one path of module
 * squares) or terminal text in half blocks. Knows nothing of printers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ipp_qr {
	unsigned width; /* modules per side, without the quiet zone */
	uint8_t *dark;  /* width * width, row by row: 1 dark, 0 light */
};

/* Encodes text (8-bit mode, error correction M). Free with ipp_qr_free. */
int ipp_qr_encode(const char *text, struct ipp_qr **ret_qr);
void ipp_qr_free(struct ipp_qr *qr);
/* Whether the module at (x, y) is dark; outside the symbol (quiet zone)
 * it is light. */
int ipp_qr_at(const struct ipp_qr *qr, long x, long y);

#define IPP_QR_QUIET 4 /* modules of light border the standard asks for */

/* A 1-bit greyscale PNG, scale pixels per module, with the quiet zone.
 * *ret_png is malloc'd (caller frees). */
int ipp_qr_png(const struct ipp_qr *qr, unsigned scale, uint8_t **ret_png, size_t *ret_len);
/* An SVG document: a white background and one black path of squares, in
 * module units (viewBox), size_mm on paper. Caller frees. */
int ipp_qr_svg(const struct ipp_qr *qr, unsigned size_mm, char **ret_svg);
/* Text lines (UTF-8) drawing two module rows per line with "█▀▄ " (a dark
 * module is ink), with a quiet zone of margin modules. *ret_lines is a
 * NULL-terminated array of malloc'd lines; free with ipp_qr_lines_free. */
int ipp_qr_text(const struct ipp_qr *qr, unsigned margin, char ***ret_lines);
void ipp_qr_lines_free(char **lines);
