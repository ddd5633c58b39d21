/* Turns what a read collected into the device record scoutctl and the cloud
 * see: the JSON object described in docs/snmp.md. A field is present only
 * when the device said it; nothing is guessed. */
#pragma once

#include <jansson.h>

#include "vendors.h"
#include "walk.h"

/* Builds the record for the device at ip (text form). Returns a new object
 * (caller decrefs). *ret_vendor, when given, is set to the matched vendor. */
json_t *snmp_normalise(const struct snmp_walk *w, const char *ip, const struct snmp_vendor **ret_vendor);

/* Whether what the probe saw says "printer": the Printer-MIB answered, the
 * first hrDeviceType is a printer, or the vendor tables recognise
 * sysObjectID or sysDescr. */
bool snmp_is_printer(const uint32_t *sysobjectid, uint32_t oidlen, const char *descr, bool printer_mib,
		     bool hr_printer);
