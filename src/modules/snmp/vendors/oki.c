/* OKI (OkiLAN print servers report the attached printer in sysDescr). */
#include "../vendors.h"

const struct snmp_vendor snmp_vendor_oki = {
	.name = "OKI",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.2001", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.2001.1", NULL},
	.descr_re = "^OKI ",
	.prefixes = (const char *const[]){"OKI DATA", "OKI", NULL},
	/* "OKI OkiLAN 9450g Rev.00.69 ...: Attached to MC873 Rev.07.87 : ..." */
	.model = {{.re = "Attached to ([^ ]+)"}},
	.model_before_standard = true,
	.firmware = {{.re = "Attached to [^ ]+ Rev\\.([^ ]+)"}},
};
