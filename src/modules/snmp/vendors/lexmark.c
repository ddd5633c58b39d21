/* Lexmark. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_lexmark = {
	.name = "Lexmark",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.641", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.641.1", "1.3.6.1.4.1.641.2", NULL},
	.descr_re = "^Lexmark ",
	.prefixes = (const char *const[]){"Lexmark", NULL},
	/* sysDescr "Lexmark T640 version NS.NP.N219 kernel 2.6.6 All-N-1" */
	.model = {{.re = "^Lexmark (.+) version "}},
	.model_before_standard = true,
	.firmware = {{.re = " version ([^ ]+)"}},
};
