/* Canon imageRUNNER, i-SENSYS and LBP. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_canon = {
	.name = "Canon",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.1602", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.1602.4", NULL},
	.descr_re = "^Canon ",
	.prefixes = (const char *const[]){"Canon", NULL},
	/* sysDescr "Canon iR-ADV C5235 /P" */
	.model = {{.oid = "1.3.6.1.4.1.1602.1.1.1.1.0"}, {.re = "^Canon (.+) /[A-Z]+$"}, {.re = "^Canon (.+)$"}},
	.firmware = {{.oid = "1.3.6.1.4.1.1602.1.1.1.4.0"}},
};
