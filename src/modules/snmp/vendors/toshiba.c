/* Toshiba TEC e-STUDIO. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_toshiba = {
	.name = "Toshiba",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.1129", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.1129.2.3", NULL},
	.descr_re = "^TOSHIBA (e-STUDIO|TEC)",
	.prefixes = (const char *const[]){"TOSHIBA", NULL},
	.model = {{.re = "^([^;]+)"}},
};
