/* Samsung printers. */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_samsung = {
	.name = "Samsung",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.236.11", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.236.11.5", NULL},
	.descr_re = "^Samsung [^;]+;",
	.prefixes = (const char *const[]){"Samsung", NULL},
	/* "Samsung M4080FX; V11.01.03.04_02-27-2017;Engine ...;S/N XXXX"; its
	 * hrDeviceDescr names only the family ("M408x Series") */
	.model = {{.re = "^Samsung ([^;]+);"}},
	.model_before_standard = true,
	.serial = {{.re = "S/N ([A-Za-z0-9]+)"}},
	.firmware = {{.re = "^[^;]+; *V([^_;]+)"}},
};
