/* Time windows in which sweeps may run: "mon-fri 07:00-19:00, sat 08:00-12:00".
 * Kept as one bit per minute of the week, in local time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct snmp_windows {
	bool always;
	uint8_t minute[7 * 24 * 60 / 8]; /* bit per minute, week starts Monday 00:00 */
};

/* Empty text or "always" means no restriction. Items are separated by
 * commas: DAYS [HH:MM-HH:MM] or HH:MM-HH:MM (every day); DAYS is mon..sun,
 * a span like mon-fri, or "daily". A span past midnight (22:00-06:00) runs
 * into the next day. */
int snmp_windows_parse(const char *text, struct snmp_windows *ret, char *err, size_t errlen);
bool snmp_windows_open(const struct snmp_windows *w, time_t t);
/* Seconds from t until the window state next changes (at most one week). */
int64_t snmp_windows_next_change(const struct snmp_windows *w, time_t t);
