/* ipp: the secure-print intake. */
#include <stddef.h>

#include "loop/module.h"

const struct scout_module scout_ipp_module = {
	.name = "ipp",
	.summary = "IPP Everywhere print queue: jobs arrive over ipp:// or ipps:// and are held in the vault",
	.default_enabled = false,
};
