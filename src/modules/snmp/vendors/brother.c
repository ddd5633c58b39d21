/* Brother. Besides the Printer-MIB, Brother devices keep their model in a
 * PJL device id, and supplies and counters in private blobs: a list of
 * records <code> 0x01 <length> <value, big-endian> ended by 0xff. Supply
 * levels in the maintenance blob are percent x 100. */
#include "../vendors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../text.h"

#define BR_PJL "1.3.6.1.4.1.2435.2.3.9.1.1.7.0"
#define BR_INFO "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5"
#define BR_MAINTENANCE BR_INFO ".8.0"
#define BR_COUNTERS BR_INFO ".10.0"
#define BR_PANEL "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.4.5.2.0"
#define PRT_CHARSET "1.3.6.1.2.1.43.7.1.1.4.1.1"

/* Finds code in a blob; only 4-byte values count (older devices use a
 * different layout that this reading must not misinterpret). */
static bool blob_get(const struct snmp_walk *w, const char *oid, uint8_t code, uint32_t *ret)
{
	const struct snmp_val *v = snmp_walk_get_str(w, oid);

	if (!v || v->type != SNMP_OCTETS)
		return false;
	for (uint32_t i = 0; i + 3 <= v->len && v->data[i] != 0xff;) {
		uint8_t c = v->data[i], len = v->data[i + 2];
		if (v->data[i + 1] != 0x01 || i + 3 + len > v->len)
			return false; /* not this layout: trust none of it */
		if (c == code && len == 4) {
			const uint8_t *p = v->data + i + 3;
			*ret = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
			return true;
		}
		i += 3u + len;
	}
	return false;
}

static void add_supply(json_t *list, const char *kind, const char *colorant, uint32_t hundredths)
{
	json_t *s = json_object();

	json_object_set_new(s, "kind", json_string(kind));
	if (colorant)
		json_object_set_new(s, "colorant", json_string(colorant));
	/* percent x 100, rounded half up; more than 100 % (or a value so
	 * large that + 50 would wrap) is 100 */
	json_object_set_new(s, "level_percent", json_integer(hundredths >= 10000 ? 100 : (hundredths + 50) / 100));
	json_object_set_new(s, "unit", json_string("percent"));
	json_array_append_new(list, s);
}

static void brother_decode(const struct snmp_vendor *v, const struct snmp_walk *w, json_t *dev)
{
	static const char *const colours[] = {"black", "cyan", "magenta", "yellow"};
	/* remaining toner/ink, and the drums of colour lasers, per colour */
	static const uint8_t remain[] = {0x6f, 0x70, 0x71, 0x72}, drums[] = {0x79, 0x7a, 0x7b, 0x80};
	json_t *supplies = json_object_get(dev, "supplies");
	const char *model = json_string_value(json_object_get(dev, "model"));
	bool ink = model && v->ink_model_re && snmp_re_match(v->ink_model_re, model);
	uint32_t x;

	/* Without a supplies table of the Printer-MIB, the blobs are the list. */
	if (!json_array_size(supplies)) {
		json_t *list = json_array();
		bool colour = false;
		for (int i = 0; i < 4; i++)
			if (blob_get(w, BR_MAINTENANCE, remain[i], &x)) {
				add_supply(list, ink ? "ink" : "toner", colours[i], x);
				colour |= i > 0;
			}
		bool drum = false;
		for (int i = 0; i < 4; i++)
			if (blob_get(w, BR_MAINTENANCE, drums[i], &x)) {
				add_supply(list, "opc", colours[i], x);
				drum = true;
			}
		if (!drum && blob_get(w, BR_MAINTENANCE, 0x41, &x))
			add_supply(list, "opc", NULL, x);
		if (json_array_size(list)) {
			json_object_set_new(dev, "supplies", list);
			if (!json_object_get(dev, "color"))
				json_object_set_new(dev, "color", json_boolean(colour));
		} else {
			json_decref(list);
		}
	}

	/* counters: 00 all pages, 01 black-and-white, 02 colour */
	json_t *meters = json_object_get(dev, "meters");
	static const struct {
		uint8_t code;
		const char *key;
	} counters[] = {{0x00, "total"}, {0x01, "mono"}, {0x02, "color"}};
	for (size_t i = 0; i < 3; i++)
		if (!json_object_get(meters, counters[i].key) && blob_get(w, BR_COUNTERS, counters[i].code, &x)) {
			if (!meters) {
				meters = json_object();
				json_object_set_new(dev, "meters", meters);
			}
			json_object_set_new(meters, counters[i].key, json_integer(x));
		}

	/* the panel text, in the printer's character set (HP-Roman8 when it
	 * does not say); CR separates the lines */
	const struct snmp_val *panel = snmp_walk_get_str(w, BR_PANEL);
	if (panel && panel->type == SNMP_OCTETS && !json_object_get(dev, "display")) {
		const struct snmp_val *cs = snmp_walk_get_str(w, PRT_CHARSET);
		unsigned charset = cs && cs->type == SNMP_INTEGER && cs->i > 0 ? (unsigned)cs->i : SNMP_CHARSET_ROMAN8;
		char text[1024] = "";
		size_t k = 0;
		for (uint32_t start = 0; start <= panel->len;) {
			uint32_t end = start;
			while (end < panel->len && panel->data[end] != '\r' && panel->data[end] != '\n')
				end++;
			char *line = snmp_trim(snmp_text(panel->data + start, end - start, charset));
			/* whole lines only: a cut could split a UTF-8 character */
			if (line && *line && k + (k ? 1 : 0) + strlen(line) < sizeof(text))
				k += (size_t)snprintf(text + k, sizeof(text) - k, "%s%s", k ? "\n" : "", line);
			free(line);
			start = end + 1;
		}
		json_object_set_new(dev, "display", json_string(text));
	}
}

const struct snmp_vendor snmp_vendor_brother = {
	.name = "Brother",
	.enterprise = (const char *const[]){"1.3.6.1.4.1.2435", NULL},
	.printer_oids = (const char *const[]){"1.3.6.1.4.1.2435.2.3.9", NULL},
	.descr_re = "^Brother ",
	.prefixes = (const char *const[]){"Brother", NULL},
	.model = {{.oid = BR_PJL, .pjl_key = "MDL"}},
	.serial = {{.oid = BR_INFO ".1.0"}},
	/* "Brother NC-6800h, Firmware Ver.1.01  (08.12.12),MID 84UB05" */
	.firmware = {{.oid = BR_INFO ".17.0"}, {.re = "Firmware Ver\\.([^ ,]+)"}},
	.ink_model_re = "^(MFC|DCP|HL)-[JT]", /* MFC-J680DW, DCP-T520W */
	.identity_oids = (const char *const[]){BR_PJL, NULL},
	.extra_oids = (const char *const[]){BR_MAINTENANCE, BR_COUNTERS, BR_PANEL, NULL},
	.decode = brother_decode,
};
