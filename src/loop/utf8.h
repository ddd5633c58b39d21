/* One UTF-8 decoder for everything that checks or walks text: the status
 * socket repairing a message, scoutctl escaping what it prints, the snmp
 * module deciding whether printer text is UTF-8 at all, the ipp and vault
 * modules checking names from the network or the bus. Header only, so
 * that scoutctl (which links no core library) uses the same rules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of the UTF-8 character at s (len bytes left) and its code
 * point in *ret_cp; 0 when s does not start a valid one (RFC 3629: a stray
 * continuation byte, a cut sequence, an overlong form, a surrogate, past
 * U+10FFFF). */
static inline size_t scout_utf8_char(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t n;

	if (!len)
		return 0;
	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	*ret_cp = cp;
	return n;
}

/* Whether the len bytes at s are UTF-8 throughout; with no_controls, also
 * without C0 controls (NUL included) and DEL: a name or text to show. */
static inline bool scout_utf8_valid(const void *s, size_t len, bool no_controls)
{
	const unsigned char *p = s;
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n) {
		if (!(n = scout_utf8_char(p + i, len - i, &cp)))
			return false;
		if (no_controls && (cp < 0x20 || cp == 0x7f))
			return false;
	}
	return true;
}
