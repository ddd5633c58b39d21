/* health's bus payloads, for the modules (and the agent) that consume them.
 * health.report is published every interval; health.query answers with the
 * last one. The fields are documented in docs/bus.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEALTH_TOPIC_REPORT "health.report"
#define HEALTH_TOPIC_QUERY "health.query"

struct health_report {
	bool ok;
	unsigned nproblems;
	char problem[256]; /* the first problem, cut to fit; empty when ok */
	uint64_t time;     /* unix seconds */
	uint64_t loop_lag_ms, disk_free, disk_total, rss, store_used, store_map;
};

/* Decodes a health.report (or health.query reply) payload; checks every
 * type. -EBADMSG when it is not one; the numbers it lacks are 0. */
int health_report_decode(const void *data, size_t len, struct health_report *ret_report);
