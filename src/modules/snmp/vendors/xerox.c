/* Xerox. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_xerox = {
	.name = "Xerox",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.253", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.253.8.62", NULL},
	.descr_re = "^Xerox ",
	.prefixes = (const char *const[]){"Xerox", "FUJI XEROX", NULL},
	/* "Xerox AltaLink C8045; SS 100.002.057.09608, NC ..." */
	.model = {{.re = "^([^;]+);"}},
};
