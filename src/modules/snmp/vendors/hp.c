/* HP and HP Inc. (JetDirect). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_hp = {
	.name = "HP",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.11", "1.3.6.1.4.1.26696", NULL},
	/* JetDirect print servers and HP printers; not HP's switches or servers */
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.11.2.3.9.1", "1.3.6.1.4.1.11.1.3.9", NULL},
	.descr_re =
		"^(HP|Hewlett-Packard) .*(JETDIRECT|LaserJet|OfficeJet|DesignJet|PageWide|ETHERNET MULTI-ENVIRONMENT)",
	.prefixes = (const char *const[]){"Hewlett-Packard", "HP", NULL},
	/* sysDescr "HP ETHERNET MULTI-ENVIRONMENT,SN:XXXX,FN:...,PID:HP Color LaserJet ..." */
	.model = {{.re = "PID:([^,]+)"}},
	.serial = {{.oid = "1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0"}, {.re = "SN:([A-Za-z0-9]+)"}},
};
