/* The normaliser. Standard MIBs first (SNMPv2-MIB, IF-MIB, IP-MIB,
 * HOST-RESOURCES-MIB, Printer-MIB RFC 3805), then the vendor's table and its
 * decoder. RFC 3805's special values (-1 other, -2 unknown, -3 "some
 * remaining") never become percentages. */
#include "normalise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mib.h"
#include "text.h"

/* ---- names of enumerations ----------------------------------------------- */

struct name {
	int value;
	const char *name;
};

static const char *lookup(const struct name *t, int64_t v)
{
	for (; t->name; t++)
		if (t->value == v)
			return t->name;
	return NULL;
}

/* The tables are laid out by hand, several entries a line. */
/* clang-format off */
static const struct name supply_types[] = {
	{1, "other"},          {2, "unknown"},        {3, "toner"},          {4, "wasteToner"},
	{5, "ink"},            {6, "inkCartridge"},   {7, "inkRibbon"},      {8, "wasteInk"},
	{9, "opc"},            {10, "developer"},     {11, "fuserOil"},      {12, "solidWax"},
	{13, "ribbonWax"},     {14, "wasteWax"},      {15, "fuser"},         {16, "coronaWire"},
	{17, "fuserOilWick"},  {18, "cleanerUnit"},   {19, "fuserCleaningPad"}, {20, "transferUnit"},
	{21, "tonerCartridge"}, {22, "fuserOiler"},   {23, "water"},         {24, "wasteWater"},
	{25, "glueWaterAdditive"}, {26, "wastePaper"}, {27, "bindingSupply"}, {28, "bandingSupply"},
	{29, "stitchingWire"}, {30, "shrinkWrap"},    {31, "paperWrap"},     {32, "staples"},
	{33, "inserts"},       {34, "covers"},        {35, "matteToner"},    {36, "matteInk"},
	{0, NULL},
};

static const struct name supply_units[] = {
	{1, "other"},       {2, "unknown"},  {3, "tenThousandthsOfInches"}, {4, "micrometers"},
	{7, "impressions"}, {8, "sheets"},   {11, "hours"},                 {12, "thousandthsOfOunces"},
	{13, "tenthsOfGrams"}, {14, "hundrethsOfFluidOunces"}, {15, "tenthsOfMilliliters"}, {16, "feet"},
	{17, "meters"},     {18, "items"},   {19, "percent"},               {0, NULL},
};

static const struct name device_status[] = {
	{1, "unknown"}, {2, "running"}, {3, "warning"}, {4, "testing"}, {5, "down"}, {0, NULL},
};

static const struct name printer_status[] = {
	{1, "other"}, {2, "unknown"}, {3, "idle"}, {4, "printing"}, {5, "warmup"}, {0, NULL},
};

static const struct name severities[] = {
	{1, "other"}, {3, "critical"}, {4, "warning"}, {5, "warningBinaryChangeEvent"}, {0, NULL},
};

static const struct name alert_groups[] = {
	{1, "other"}, {3, "hostResourcesMIBStorageTable"}, {4, "hostResourcesMIBDeviceTable"},
	{5, "generalPrinter"}, {6, "cover"}, {7, "localization"}, {8, "input"}, {9, "output"},
	{10, "marker"}, {11, "markerSupplies"}, {12, "markerColorant"}, {13, "mediaPath"},
	{14, "channel"}, {15, "interpreter"}, {16, "consoleDisplayBuffer"}, {17, "consoleLights"},
	{18, "alert"}, {30, "finDevice"}, {31, "finSupply"}, {32, "finSupplyMediaInput"},
	{33, "finAttribute"}, {0, NULL},
};

static const struct name alert_codes[] = {
	{1, "other"}, {2, "unknown"}, {3, "coverOpen"}, {4, "coverClosed"}, {5, "interlockOpen"},
	{6, "interlockClosed"}, {7, "configurationChange"}, {8, "jam"}, {9, "subunitMissing"},
	{10, "subunitLifeAlmostOver"}, {11, "subunitLifeOver"}, {12, "subunitAlmostEmpty"},
	{13, "subunitEmpty"}, {14, "subunitAlmostFull"}, {15, "subunitFull"}, {16, "subunitNearLimit"},
	{17, "subunitAtLimit"}, {18, "subunitOpened"}, {19, "subunitClosed"}, {20, "subunitTurnedOn"},
	{21, "subunitTurnedOff"}, {22, "subunitOffline"}, {23, "subunitPowerSaver"},
	{24, "subunitWarmingUp"}, {25, "subunitAdded"}, {26, "subunitRemoved"},
	{27, "subunitResourceAdded"}, {28, "subunitResourceRemoved"}, {29, "subunitRecoverableFailure"},
	{30, "subunitUnrecoverableFailure"}, {31, "subunitRecoverableStorageError"},
	{32, "subunitUnrecoverableStorageError"}, {33, "subunitMotorFailure"},
	{34, "subunitMemoryExhausted"}, {35, "subunitUnderTemperature"}, {36, "subunitOverTemperature"},
	{37, "subunitTimingFailure"}, {38, "subunitThermistorFailure"}, {501, "doorOpen"},
	{502, "doorClosed"}, {503, "powerUp"}, {504, "powerDown"}, {505, "printerNMSReset"},
	{506, "printerManualReset"}, {507, "printerReadyToPrint"}, {801, "inputMediaTrayMissing"},
	{802, "inputMediaSizeChange"}, {803, "inputMediaWeightChange"}, {804, "inputMediaTypeChange"},
	{805, "inputMediaColorChange"}, {806, "inputMediaFormPartsChange"}, {807, "inputMediaSupplyLow"},
	{808, "inputMediaSupplyEmpty"}, {809, "inputMediaChangeRequest"}, {810, "inputManualInputRequest"},
	{811, "inputTrayPositionFailure"}, {812, "inputTrayElevationFailure"},
	{813, "inputCannotFeedSizeSelected"}, {901, "outputMediaTrayMissing"},
	{902, "outputMediaTrayAlmostFull"}, {903, "outputMediaTrayFull"},
	{904, "outputMailboxSelectFailure"}, {1001, "markerFuserUnderTemperature"},
	{1002, "markerFuserOverTemperature"}, {1003, "markerFuserTimingFailure"},
	{1004, "markerFuserThermistorFailure"}, {1005, "markerAdjustingPrintQuality"},
	{1101, "markerTonerEmpty"}, {1102, "markerInkEmpty"}, {1103, "markerPrintRibbonEmpty"},
	{1104, "markerTonerAlmostEmpty"}, {1105, "markerInkAlmostEmpty"},
	{1106, "markerPrintRibbonAlmostEmpty"}, {1107, "markerWasteTonerReceptacleAlmostFull"},
	{1108, "markerWasteInkReceptacleAlmostFull"}, {1109, "markerWasteTonerReceptacleFull"},
	{1110, "markerWasteInkReceptacleFull"}, {1111, "markerOpcLifeAlmostOver"},
	{1112, "markerOpcLifeOver"}, {1113, "markerDeveloperAlmostEmpty"},
	{1114, "markerDeveloperEmpty"}, {1115, "markerTonerCartridgeMissing"},
	{1301, "mediaPathMediaTrayMissing"}, {1302, "mediaPathMediaTrayAlmostFull"},
	{1303, "mediaPathMediaTrayFull"}, {1304, "mediaPathCannotDuplexMediaSelected"},
	{1501, "interpreterMemoryIncrease"}, {1502, "interpreterMemoryDecrease"},
	{1503, "interpreterCartridgeAdded"}, {1504, "interpreterCartridgeDeleted"},
	{1505, "interpreterResourceAdded"}, {1506, "interpreterResourceDeleted"},
	{1507, "interpreterResourceUnavailable"}, {1509, "interpreterComplexPageEncountered"},
	{1801, "alertRemovalOfBinaryChangeEntry"}, {0, NULL},
};

/* hrPrinterDetectedErrorState: first octet's most significant bit is bit 0 */
static const char *const error_bits[] = {
	"lowPaper",         "noPaper",           "lowToner",           "noToner",
	"doorOpen",         "jammed",            "offline",            "serviceRequested",
	"inputTrayMissing", "outputTrayMissing", "markerSupplyMissing", "outputNearFull",
	"outputFull",       "inputTrayEmpty",    "overduePreventMaint",
};
/* clang-format on */

/* ---- helpers ------------------------------------------------------------- */

struct ctx {
	const struct snmp_walk *w;
	const struct snmp_vendor *v;
	json_t *dev;
	char *descr;
	unsigned charset;
	uint32_t printer_row; /* hrDeviceIndex of the printer, 0 if none */
};

static const struct snmp_val *get(const struct snmp_walk *w, const char *oid)
{
	return snmp_walk_get_str(w, oid);
}

static bool get_int(const struct snmp_walk *w, const char *oid, int64_t *ret)
{
	const struct snmp_val *v = get(w, oid);

	if (!v)
		return false;
	if (v->type == SNMP_INTEGER)
		*ret = v->i;
	else if (v->type == SNMP_COUNTER32 || v->type == SNMP_GAUGE32 || v->type == SNMP_COUNTER64 ||
		 v->type == SNMP_TIMETICKS)
		*ret = v->u > INT64_MAX ? INT64_MAX : (int64_t)v->u;
	else
		return false;
	return true;
}

/* An OCTET STRING as trimmed UTF-8, NULL when absent or empty. */
static char *text_of(const struct snmp_val *v, unsigned charset)
{
	if (!v || v->type != SNMP_OCTETS)
		return NULL;
	char *s = snmp_trim(snmp_text(v->data, v->len, charset));
	if (s && !*s) {
		free(s);
		return NULL;
	}
	return s;
}

static void set_str(json_t *o, const char *key, char *s)
{
	if (s)
		json_object_set_new(o, key, json_string(s));
	free(s);
}

static bool starts_with_word(const char *s, const char *prefix, size_t *ret_len)
{
	size_t n = strlen(prefix);

	if (strncasecmp(s, prefix, n) != 0 || (s[n] && s[n] != ' ' && s[n] != '-' && s[n] != '_'))
		return false;
	*ret_len = n;
	return true;
}

/* Model text without the maker's name in front or "series" behind. */
static char *clean_model(const struct snmp_vendor *v, char *m)
{
	size_t n;
	bool again = true;

	if (!m)
		return NULL;
	while (again && v) {
		again = false;
		for (const char *const *p = v->prefixes; p && *p; p++)
			if (starts_with_word(m, *p, &n) && m[n]) {
				memmove(m, m + n, strlen(m + n) + 1);
				snmp_trim(m);
				again = true;
			}
		for (const struct snmp_brand *b = v->brands; b && b->prefix; b++)
			if (starts_with_word(m, b->prefix, &n) && m[n]) {
				memmove(m, m + n, strlen(m + n) + 1);
				snmp_trim(m);
				again = true;
			}
	}
	n = strlen(m);
	if (n > 7 && strcasecmp(m + n - 7, " series") == 0)
		m[n - 7] = 0;
	snmp_trim(m);
	if (!*m) {
		free(m);
		return NULL;
	}
	return m;
}

/* ---- fields -------------------------------------------------------------- */

static void find_printer_row(struct ctx *c)
{
	struct snmp_oid prefix, printer;
	size_t i, end;

	snmp_oid_parse(HR_DEV_TYPE, &prefix);
	snmp_oid_parse(HR_TYPE_PRINTER, &printer);
	snmp_walk_range(c->w, &prefix, &i, &end);
	for (; i < end; i++) {
		const struct snmp_val *v = &c->w->v[i];
		if (v->type == SNMP_OBJECT_ID && v->oid_len == prefix.n + 1 &&
		    snmp_oid_cmp(v->val_oid, v->val_oid_len, printer.arc, printer.n) == 0) {
			c->printer_row = v->oid[prefix.n];
			return;
		}
	}
}

static const struct snmp_val *row_value(struct ctx *c, const char *column, uint32_t row)
{
	struct snmp_oid o;

	if (snmp_oid_parse(column, &o) < 0 || o.n >= SNMP_MAX_OID)
		return NULL;
	o.arc[o.n++] = row;
	return snmp_walk_get_oid(c->w, &o);
}

static void identity(struct ctx *c)
{
	const char *brand = NULL;
	char *model = NULL;

	/* brand: an OEM name the device shows, else the vendor's */
	for (const struct snmp_brand *b = c->v ? c->v->brands : NULL; b && b->prefix && !brand; b++) {
		size_t n;
		if (c->descr && starts_with_word(c->descr, b->prefix, &n))
			brand = b->name;
	}

	/* model: the vendor's sources and the standard ones, in its order */
	char *std = NULL;
	if (c->printer_row)
		std = text_of(row_value(c, HR_DEV_DESCR, c->printer_row), c->charset);
	if (!std)
		std = text_of(get(c->w, PRT_NAME), c->charset);
	char *ven = c->v ? snmp_sources_text(c->v->model, c->w, c->descr) : NULL;
	if (c->v && c->v->model_before_standard) {
		model = ven ? ven : std;
		free(ven ? std : NULL);
	} else {
		model = std ? std : ven;
		free(std ? ven : NULL);
	}
	/* a brand may also show in the model text ("Gestetner MPC2500") */
	for (const struct snmp_brand *b = c->v ? c->v->brands : NULL; model && b && b->prefix && !brand; b++) {
		size_t n;
		if (starts_with_word(model, b->prefix, &n))
			brand = b->name;
	}
	if (brand || c->v)
		json_object_set_new(c->dev, "manufacturer", json_string(brand ? brand : c->v->name));
	set_str(c->dev, "model", clean_model(c->v, model));

	char *serial = text_of(get(c->w, PRT_SERIAL), c->charset);
	if (!serial && c->v)
		serial = snmp_sources_text(c->v->serial, c->w, c->descr);
	set_str(c->dev, "serial", serial);
	if (c->v)
		set_str(c->dev, "firmware", snmp_sources_text(c->v->firmware, c->w, c->descr));
	set_str(c->dev, "location", text_of(get(c->w, SYS_LOCATION), SNMP_CHARSET_UNKNOWN));
	set_str(c->dev, "name", text_of(get(c->w, SYS_NAME), SNMP_CHARSET_UNKNOWN));
	set_str(c->dev, "asset", text_of(get(c->w, ENT_ASSET), SNMP_CHARSET_UNKNOWN));
}

static bool mac_from_bytes(const uint8_t *p, uint32_t len, char *out)
{
	static const uint8_t zero[6];

	if (len != 6 || memcmp(p, zero, 6) == 0)
		return false;
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5]);
	return true;
}

/* "00:07:4d:6b:c2:a8", "00-07-4D-...", "00074d6bc2a8" as text. */
static bool mac_from_text(const char *s, char *out)
{
	uint8_t b[6];
	int n = 0;

	for (const char *p = s; *p && n < 6;) {
		unsigned v;
		if (sscanf(p, "%2x", &v) != 1)
			return false;
		b[n++] = (uint8_t)v;
		p += 2;
		if (*p == ':' || *p == '-' || *p == ' ')
			p++;
	}
	return n == 6 && mac_from_bytes(b, 6, out);
}

static void mac(struct ctx *c, const char *ip)
{
	struct snmp_oid ipad, phys;
	char found[18] = "", m[18];
	size_t i, end;
	int candidates = 0;

	for (int k = 0; c->v && k < SNMP_SOURCES && c->v->mac[k].oid; k++) {
		const struct snmp_val *v = get(c->w, c->v->mac[k].oid);
		if (!v || v->type != SNMP_OCTETS)
			continue;
		char text[64] = "";
		memcpy(text, v->data, v->len < 63 ? v->len : 63);
		if (mac_from_bytes(v->data, v->len, m) || mac_from_text(text, m)) {
			json_object_set_new(c->dev, "mac", json_string(m));
			return;
		}
	}

	/* the interface that carries the device's IPv4 address and is not down */
	snmp_oid_parse(IP_AD_IFINDEX, &ipad);
	snmp_oid_parse(IF_PHYS, &phys);
	snmp_walk_range(c->w, &ipad, &i, &end);
	bool have_ip_table = i < end;
	uint32_t chosen[16];
	int nchosen = 0;
	for (; i < end && nchosen < 16; i++) {
		const struct snmp_val *v = &c->w->v[i];
		if (v->oid_len != ipad.n + 4 || v->type != SNMP_INTEGER || v->i <= 0)
			continue;
		const uint32_t *a = v->oid + ipad.n;
		char addr[20];
		snprintf(addr, sizeof(addr), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		if (a[0] == 127 || a[0] == 0)
			continue;
		if (ip && strcmp(addr, ip) == 0) {
			chosen[0] = (uint32_t)v->i;
			nchosen = 1;
			break;
		}
		chosen[nchosen++] = (uint32_t)v->i;
	}
	if (!have_ip_table) {
		/* every interface is a candidate */
		snmp_walk_range(c->w, &phys, &i, &end);
		for (; i < end && nchosen < 16; i++)
			if (c->w->v[i].oid_len == phys.n + 1)
				chosen[nchosen++] = c->w->v[i].oid[phys.n];
	}
	for (int k = 0; k < nchosen; k++) {
		const struct snmp_val *v = row_value(c, IF_PHYS, chosen[k]);
		int64_t oper = 0, type = 0;
		const struct snmp_val *o = row_value(c, IF_OPER, chosen[k]), *t = row_value(c, IF_TYPE, chosen[k]);
		if (o && o->type == SNMP_INTEGER)
			oper = o->i;
		if (t && t->type == SNMP_INTEGER)
			type = t->i;
		if (oper == 2 || type == 24 /* softwareLoopback */)
			continue;
		if (!have_ip_table && oper != 1 && o)
			continue; /* without the address table, only interfaces that are up */
		if (!v || v->type != SNMP_OCTETS || !mac_from_bytes(v->data, v->len, m))
			continue;
		if (!candidates || strcmp(found, m) != 0)
			candidates++;
		strcpy(found, m);
	}
	if (candidates == 1)
		json_object_set_new(c->dev, "mac", json_string(found));
}

static void status(struct ctx *c)
{
	json_t *st = json_object();
	int64_t v;
	const char *name;

	if (c->printer_row) {
		const struct snmp_val *s = row_value(c, HR_DEV_STATUS, c->printer_row);
		if (s && s->type == SNMP_INTEGER && (name = lookup(device_status, s->i)))
			json_object_set_new(st, "device", json_string(name));
	}
	if (get_int(c->w, HR_PRINTER_STATUS, &v) && (name = lookup(printer_status, v)))
		json_object_set_new(st, "printer", json_string(name));
	if (json_object_size(st))
		json_object_set_new(c->dev, "status", st);
	else
		json_decref(st);

	const struct snmp_val *e = get(c->w, HR_PRINTER_ERRORS);
	if (e && e->type == SNMP_OCTETS) {
		json_t *errs = json_array();
		for (uint32_t bit = 0; bit < sizeof(error_bits) / sizeof(error_bits[0]); bit++)
			if (bit / 8 < e->len && (e->data[bit / 8] & (0x80 >> (bit % 8))))
				json_array_append_new(errs, json_string(error_bits[bit]));
		json_object_set_new(c->dev, "errors", errs);
	}
}

static void display(struct ctx *c)
{
	struct snmp_oid prefix;
	size_t i, end;
	char buf[2048] = "";
	size_t k = 0;

	snmp_oid_parse(PRT_CONSOLE_TEXT, &prefix);
	snmp_walk_range(c->w, &prefix, &i, &end);
	if (i == end)
		return;
	for (; i < end; i++) {
		const struct snmp_val *v = &c->w->v[i];
		char *line = v->oid_len == prefix.n + 1 ? text_of(v, c->charset) : NULL;
		/* whole lines only: a cut could split a UTF-8 character, and
		 * json_string refuses what is not UTF-8 */
		if (line && k + (k ? 1 : 0) + strlen(line) < sizeof(buf))
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", k ? "\n" : "", line);
		free(line);
	}
	json_object_set_new(c->dev, "display", json_string(buf));
}

static void meters(struct ctx *c)
{
	json_t *m = json_object();
	int64_t v;
	uint64_t u;

	if (get_int(c->w, PRT_LIFE_COUNT, &v) && v >= 0)
		json_object_set_new(m, "total", json_integer(v));
	else if (c->v && snmp_sources_uint(c->v->meter_total, c->w, &u))
		json_object_set_new(m, "total", json_integer(u > INT64_MAX ? INT64_MAX : (json_int_t)u));
	if (c->v && snmp_sources_uint(c->v->meter_mono, c->w, &u))
		json_object_set_new(m, "mono", json_integer(u > INT64_MAX ? INT64_MAX : (json_int_t)u));
	if (c->v && snmp_sources_uint(c->v->meter_color, c->w, &u))
		json_object_set_new(m, "color", json_integer(u > INT64_MAX ? INT64_MAX : (json_int_t)u));
	if (get_int(c->w, PRT_COUNTER_UNIT, &v) && json_object_size(m))
		json_object_set_new(m, "unit", json_string(v == 7 ? "impressions" : v == 8 ? "sheets" : "other"));
	if (json_object_size(m))
		json_object_set_new(c->dev, "meters", m);
	else
		json_decref(m);
}

/* Row indexes (hrDeviceIndex, supply index) of the supplies table, in order. */
struct row {
	uint32_t dev, idx;
};

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static const struct snmp_val *cell(struct ctx *c, const char *table, unsigned column, uint32_t a, uint32_t b)
{
	struct snmp_oid o;

	if (snmp_oid_parse(table, &o) < 0)
		return NULL;
	o.arc[o.n++] = column;
	o.arc[o.n++] = a;
	o.arc[o.n++] = b;
	return snmp_walk_get_oid(c->w, &o);
}

static void supplies(struct ctx *c)
{
	struct snmp_oid table;
	struct row rows[256];
	size_t nrows = 0, i, end;

	snmp_oid_parse(PRT_SUPPLIES, &table);
	snmp_walk_range(c->w, &table, &i, &end);
	for (; i < end && nrows < 256; i++) {
		const struct snmp_val *v = &c->w->v[i];
		if (v->oid_len != table.n + 3)
			continue;
		struct row r = {v->oid[table.n + 1], v->oid[table.n + 2]};
		bool seen = false;
		for (size_t k = 0; k < nrows && !seen; k++)
			seen = rows[k].dev == r.dev && rows[k].idx == r.idx;
		if (!seen)
			rows[nrows++] = r;
	}
	if (!nrows)
		return;
	qsort(rows, nrows, sizeof(rows[0]), cmp_row);

	json_t *list = json_array();
	for (size_t k = 0; k < nrows; k++) {
		json_t *s = json_object();
		const struct snmp_val *v;
		const char *name;
		int64_t level = 0, max = 0;
		bool has_level = false, has_max = false;

		set_str(s, "description", text_of(cell(c, PRT_SUPPLIES, 6, rows[k].dev, rows[k].idx), c->charset));
		v = cell(c, PRT_SUPPLIES, 5, rows[k].dev, rows[k].idx);
		if (v && v->type == SNMP_INTEGER && (name = lookup(supply_types, v->i)))
			json_object_set_new(s, "kind", json_string(name));
		v = cell(c, PRT_SUPPLIES, 3, rows[k].dev, rows[k].idx);
		if (v && v->type == SNMP_INTEGER && v->i > 0 && v->i <= UINT32_MAX) {
			const struct snmp_val *cv = cell(c, "1.3.6.1.2.1.43.12.1.1", 4, rows[k].dev, (uint32_t)v->i);
			set_str(s, "colorant", text_of(cv, c->charset));
		}
		v = cell(c, PRT_SUPPLIES, 9, rows[k].dev, rows[k].idx);
		if (v && v->type == SNMP_INTEGER) {
			level = v->i;
			has_level = true;
		}
		v = cell(c, PRT_SUPPLIES, 8, rows[k].dev, rows[k].idx);
		if (v && v->type == SNMP_INTEGER) {
			max = v->i;
			has_max = true;
		}
		if (has_level && level >= 0 && has_max && max > 0) {
			/* round half up, in 128 bits (an agent may send any 64-bit
			 * INTEGER); a level above max (seen in the field) is 100 */
			__int128 pct = ((__int128)level * 200 + max) / ((__int128)max * 2);
			json_object_set_new(s, "level_percent", json_integer(pct > 100 ? 100 : (json_int_t)pct));
		} else if (has_level && level < 0) {
			const char *state = level == -3   ? "some_remaining"
					    : level == -2 ? "unknown"
					    : level == -1 ? "other"
							  : NULL;
			if (state)
				json_object_set_new(s, "level_state", json_string(state));
		}
		if (has_level)
			json_object_set_new(s, "level", json_integer(level));
		if (has_max)
			json_object_set_new(s, "max", json_integer(max));
		v = cell(c, PRT_SUPPLIES, 7, rows[k].dev, rows[k].idx);
		if (v && v->type == SNMP_INTEGER && (name = lookup(supply_units, v->i)))
			json_object_set_new(s, "unit", json_string(name));
		json_array_append_new(list, s);
	}
	json_object_set_new(c->dev, "supplies", list);
}

static void alerts(struct ctx *c)
{
	struct snmp_oid codecol;
	size_t i, end;
	json_t *list = json_array();

	snmp_oid_parse(PRT_ALERT ".7", &codecol);
	snmp_walk_range(c->w, &codecol, &i, &end);
	for (; i < end && json_array_size(list) < 64; i++) {
		const struct snmp_val *v = &c->w->v[i];
		if (v->oid_len != codecol.n + 2 || v->type != SNMP_INTEGER)
			continue;
		uint32_t dev = v->oid[codecol.n], idx = v->oid[codecol.n + 1];
		json_t *a = json_object();
		const char *name = lookup(alert_codes, v->i);
		char num[24];
		snprintf(num, sizeof(num), "%lld", (long long)v->i);
		json_object_set_new(a, "code", json_string(name ? name : num));
		const struct snmp_val *s = cell(c, PRT_ALERT, 2, dev, idx);
		if (s && s->type == SNMP_INTEGER && (name = lookup(severities, s->i)))
			json_object_set_new(a, "severity", json_string(name));
		s = cell(c, PRT_ALERT, 4, dev, idx);
		if (s && s->type == SNMP_INTEGER && (name = lookup(alert_groups, s->i)))
			json_object_set_new(a, "group", json_string(name));
		set_str(a, "text", text_of(cell(c, PRT_ALERT, 8, dev, idx), c->charset));
		json_array_append_new(list, a);
	}
	if (json_array_size(list))
		json_object_set_new(c->dev, "alerts", list);
	else
		json_decref(list);
}

static bool has_word(const char *s, const char *w)
{
	return s && strcasestr(s, w) != NULL;
}

/* A supply that puts colorant on paper (not a drum, fuser, waste box...). */
static bool is_marking(json_t *s)
{
	static const char *const kinds[] = {"toner",    "ink",       "inkCartridge", "tonerCartridge", "inkRibbon",
					    "solidWax", "ribbonWax", "matteToner",   "matteInk"};
	static const char *const other[] = {"drum",      "fuser",    "waste",  "kit",         "roller",
					    "belt",      "transfer", "staple", "maintenance", "unit",
					    "developer", "opc",      "cleaner"};
	const char *kind = json_string_value(json_object_get(s, "kind"));
	const char *d = json_string_value(json_object_get(s, "description"));

	if (kind) {
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(kind, kinds[i]) == 0)
				return true;
		if (strcmp(kind, "other") && strcmp(kind, "unknown"))
			return false;
	}
	if (!d)
		return false;
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (has_word(d, other[i]))
			return false;
	return has_word(d, "toner") || has_word(d, "ink") || has_word(d, "cartridge");
}

/* Colour-capable: the marker's process colorants, then the colorant table,
 * then the supplies (a cyan, magenta or yellow toner or ink). */
static void colour(struct ctx *c)
{
	int64_t n;

	if (json_object_get(c->dev, "color"))
		return;
	if (get_int(c->w, PRT_COLORANTS, &n) && n > 0) {
		json_object_set_new(c->dev, "color", json_boolean(n > 1));
		return;
	}
	struct snmp_oid col;
	size_t i, end;
	bool any = false, chroma = false;
	snmp_oid_parse(PRT_COLORANT_VALUE, &col);
	snmp_walk_range(c->w, &col, &i, &end);
	for (; i < end; i++) {
		char *t = text_of(&c->w->v[i], SNMP_CHARSET_UNKNOWN);
		if (t) {
			any = true;
			chroma |= has_word(t, "cyan") || has_word(t, "magenta") || has_word(t, "yellow");
		}
		free(t);
	}
	if (any) {
		json_object_set_new(c->dev, "color", json_boolean(chroma));
		return;
	}
	json_t *list = json_object_get(c->dev, "supplies"), *s;
	bool black = false;
	unsigned marking = 0;
	json_array_foreach (list, i, s) {
		const char *d = json_string_value(json_object_get(s, "description"));
		const char *k = json_string_value(json_object_get(s, "colorant"));
		if (has_word(d, "cyan") || has_word(d, "magenta") || has_word(d, "yellow") || has_word(k, "cyan") ||
		    has_word(k, "magenta") || has_word(k, "yellow"))
			chroma = true;
		if (has_word(d, "black") || has_word(k, "black"))
			black = true;
		if (is_marking(s))
			marking++;
	}
	/* colour needs at least three colorants: fewer marking supplies, and
	 * none of them coloured, is a monochrome device */
	if (chroma || black || (marking && marking < 3))
		json_object_set_new(c->dev, "color", json_boolean(chroma));
}

json_t *snmp_normalise(const struct snmp_walk *w, const char *ip, const struct snmp_vendor **ret_vendor)
{
	struct ctx c = {.w = w, .dev = json_object()};
	const struct snmp_val *oid = get(w, SYS_OBJECT_ID);
	int64_t cs;

	if (get_int(w, PRT_CHARSET, &cs) && cs > 0 && cs < 100000)
		c.charset = (unsigned)cs;
	c.descr = text_of(get(w, SYS_DESCR), SNMP_CHARSET_UNKNOWN);
	find_printer_row(&c);
	c.v = snmp_vendor_identify(w);
	if (!c.v && c.printer_row) {
		/* no known sysObjectID or sysDescr: the printer row may name the maker */
		char *d = text_of(row_value(&c, HR_DEV_DESCR, c.printer_row), c.charset);
		c.v = snmp_vendor_match(NULL, 0, d);
		free(d);
	}

	if (ip)
		json_object_set_new(c.dev, "ip", json_string(ip));
	if (c.descr)
		json_object_set_new(c.dev, "description", json_string(c.descr));
	if (oid && oid->type == SNMP_OBJECT_ID) {
		char buf[SNMP_MAX_OID * 11];
		snmp_oid_format(oid->val_oid, oid->val_oid_len, buf, sizeof(buf));
		json_object_set_new(c.dev, "sysobjectid", json_string(buf));
	}
	identity(&c);
	mac(&c, ip);
	status(&c);
	display(&c);
	alerts(&c);
	meters(&c);
	supplies(&c);
	if (c.v && c.v->decode)
		c.v->decode(c.v, w, c.dev);
	colour(&c);
	free(c.descr);
	if (ret_vendor)
		*ret_vendor = c.v;
	return c.dev;
}

bool snmp_is_printer(const uint32_t *sysobjectid, uint32_t oidlen, const char *descr, bool printer_mib, bool hr_printer)
{
	const struct snmp_vendor *v;

	if (printer_mib || hr_printer)
		return true;
	v = snmp_vendor_match(sysobjectid, oidlen, descr);
	if (!v)
		return false;
	if (snmp_vendor_printer_oid(v, sysobjectid, oidlen))
		return true;
	/* a printer maker's sysDescr pattern, when sysObjectID says nothing */
	return !sysobjectid && descr && v->descr_re && snmp_re_match(v->descr_re, descr);
}
