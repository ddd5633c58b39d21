/* The one static table of modules, in start order. Removing a module is
 * removing its folder and its line here. */
#include "loop/module.h"

extern const struct scout_module scout_health_module, scout_snmp_module;

const struct scout_module *const scout_modules[] = {
	&scout_health_module,
	&scout_snmp_module,
};

const size_t scout_modules_count = sizeof(scout_modules) / sizeof(scout_modules[0]);
