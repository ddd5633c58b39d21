/* Fujifilm Business Innovation and Fuji Xerox (before 2021). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_fujifilm = {
	.name = "Fujifilm",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.297", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.297.1.11.93", NULL},
	.descr_re = "^(FUJIFILM|FUJI XEROX) ",
	.prefixes = (const char *const[]){"FUJIFILM", "FUJI XEROX", NULL},
	.brands = (const struct snmp_brand[]){{"FUJI XEROX", "Fuji Xerox"}, {NULL, NULL}},
	/* sysDescr "FUJIFILM Apeos C7580"; the brand is removed as a prefix */
	.model = {{.re = "^([^;]+)"}},
};
