/* Text from printers: printable UTF-8 out of whatever bytes came in. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* IANA MIBenum of prtLocalizationCharacterSet; 0 means not known. */
#define SNMP_CHARSET_UNKNOWN 0
#define SNMP_CHARSET_UTF8 106
#define SNMP_CHARSET_ROMAN8 2004

/* Converts len bytes in charset to a malloc'd UTF-8 string. Bytes that are
 * not valid in the charset (or, with an unknown charset, bytes that are not
 * UTF-8, read as ISO-8859-1) are still converted; control characters other
 * than newline become spaces and a trailing NUL padding is dropped. Never
 * returns invalid UTF-8. */
char *snmp_text(const uint8_t *p, size_t len, unsigned charset);
/* Trims blanks at both ends in place. */
char *snmp_trim(char *s);

/* Calls fn for each item of a list separated by commas or newlines, trimmed,
 * empty items skipped; stops at fn's first negative return and returns it.
 * The item is a writable copy, valid during the call. */
int snmp_split_list(const char *text, int (*fn)(char *item, void *arg), void *arg);
