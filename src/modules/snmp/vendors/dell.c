/* Dell laser printers (Lexmark- and Xerox-made). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_dell = {
	.name = "Dell",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.674.10898", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.674.10898", NULL},
	.descr_re = "^Dell .*(Laser|MFP|[0-9]+c?dn|version .* kernel)",
	.prefixes = (const char *const[]){"Dell", NULL},
	/* sysDescr "Dell S5830dn version NH62.YS.N636 kernel ..."; hrDeviceDescr
	 * carries the service tag after the model, so sysDescr comes first */
	.model = {{.re = "^Dell (.+) version "}},
	.model_before_standard = true,
	.firmware = {{.oid = "1.3.6.1.4.1.674.10898.100.1.1.1.0"}, {.re = " version ([^ ]+)"}},
};
