/* Kyocera (and Copystar, UTAX, TA Triumph-Adler: its OEM brands). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_kyocera = {
	.name = "Kyocera",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.1347", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.1347.41", "1.3.6.1.4.1.1347.43", NULL},
	.descr_re = "^KYOCERA ",
	.prefixes = (const char *const[]){"KYOCERA", "Kyocera Mita", "UTAX", "TA Triumph-Adler", NULL},
	.brands = (const struct snmp_brand[]){{"UTAX", "UTAX"}, {"TA Triumph-Adler", "TA Triumph-Adler"}, {NULL, NULL}},
	.model = {{.oid = "1.3.6.1.4.1.1347.43.5.1.1.1.1"}},
	.serial = {{.oid = "1.3.6.1.4.1.1347.43.5.1.1.28.1"}},
	.firmware = {{.oid = "1.3.6.1.4.1.1347.43.5.4.1.5.1.1"}},
};
