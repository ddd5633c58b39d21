/* Konica Minolta bizhub (and Develop ineo, its OEM brand). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_konica = {
	.name = "Konica Minolta",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.18334", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.18334.1.1.1.2", NULL},
	.descr_re = "^(KONICA MINOLTA|Develop) ",
	.prefixes = (const char *const[]){"KONICA MINOLTA", "Develop", NULL},
	.brands = (const struct snmp_brand[]){{"Develop", "Develop"}, {NULL, NULL}},
	/* sysDescr "KONICA MINOLTA bizhub C250i"; hrDeviceDescr can be "Generic 28C-1" */
	.model = {{.re = "^KONICA MINOLTA (.+)$"}},
	.model_before_standard = true,
	.firmware = {{.oid = "1.3.6.1.4.1.18334.1.1.1.1.6.1.0"}},
};
