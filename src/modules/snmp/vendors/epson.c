/* Epson inkjet and label printers. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_epson = {
	.name = "Epson",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.1248", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.1248.1.1", NULL},
	.descr_re = "^EPSON ",
	.prefixes = (const char *const[]){"EPSON", "Seiko Epson", NULL},
	.ink_model_re = ".",
};
