/* Ricoh (and Gestetner, Savin, Lanier, NRG, nashuatec: its OEM brands). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_ricoh = {
	.name = "Ricoh",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.367", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.367.1.1", NULL},
	.descr_re = "^(RICOH|Gestetner|SAVIN|LANIER|NRG|nashuatec) ",
	.prefixes = (const char *const[]){"RICOH", "Gestetner", "SAVIN", "LANIER", "NRG", "nashuatec", NULL},
	.brands = (const struct snmp_brand[]){{"Gestetner", "Gestetner"},
					      {"SAVIN", "Savin"},
					      {"LANIER", "Lanier"},
					      {"NRG", "NRG"},
					      {"nashuatec", "nashuatec"},
					      {NULL, NULL}},
	/* sysDescr "RICOH MP 3053 1.09 / RICOH Network Printer C model / ..." */
	.model = {{.oid = "1.3.6.1.4.1.367.3.2.1.1.1.1.0"}, {.re = "^(.+) [0-9][0-9.]* / "}},
	.serial = {{.oid = "1.3.6.1.4.1.367.3.2.1.2.1.4.0"}},
	.firmware = {{.oid = "1.3.6.1.4.1.367.3.2.1.1.1.2.0"}, {.re = " ([0-9][0-9.]*) / "}},
};
