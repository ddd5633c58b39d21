/* Zebra label printers and ZebraNet print servers. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_zebra = {
	.name = "Zebra",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.10642", "1.3.6.1.4.1.683", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.10642", "1.3.6.1.4.1.683.6", NULL},
	.descr_re = "^(Zebra|ZebraNet|ZTC) ",
	.prefixes = (const char *const[]){"Zebra Technologies", "Zebra", "ZTC", NULL},
	/* the ZebraNet print server's own serial, firmware and MAC */
	.serial = {{.oid = "1.3.6.1.4.1.683.1.5.0"}},
	.firmware = {{.oid = "1.3.6.1.4.1.683.1.9.0"}},
	.mac = {{.oid = "1.3.6.1.4.1.683.1.6.0"}},
};
