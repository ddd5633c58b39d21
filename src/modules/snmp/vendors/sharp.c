/* Sharp MX. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_sharp = {
	.name = "Sharp",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.2385", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.2385.3.1", NULL},
	.descr_re = "^SHARP ",
	.prefixes = (const char *const[]){"SHARP", NULL},
	.firmware = {{.oid = "1.3.6.1.4.1.2385.2.1.1.2.1.2.1"}},
	/* B&W and Full Color Total Count */
	.meter_mono = {{.oid = "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.61"}},
	.meter_color = {{.oid = "1.3.6.1.4.1.2385.1.1.19.2.1.3.5.4.63"}},
};
