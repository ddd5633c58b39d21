/* Logging: one line per event to stderr, with sd-daemon priority prefixes
 * ("<3>") when stderr is the journal, so journald keeps the level.
 * Never pass secrets (passwords, PINs, card numbers, keys, document bytes). */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

enum scout_log_level {
	SCOUT_LOG_ERROR = 3, /* the numbers are syslog priorities */
	SCOUT_LOG_WARN = 4,
	SCOUT_LOG_INFO = 6,
	SCOUT_LOG_DEBUG = 7,
};

/* Parses "error", "warn", "info" or "debug". */
int scout_log_level_parse(const char *s, enum scout_log_level *ret_level);
const char *scout_log_level_name(enum scout_log_level level);

void scout_log_set_level(enum scout_log_level level);
enum scout_log_level scout_log_get_level(void);
/* Journal-style prefixes instead of timestamps; decided once at start-up. */
void scout_log_set_journal(bool on);
/* True when stderr is connected to the journal (JOURNAL_STREAM matches). */
bool scout_log_stderr_is_journal(void);

__attribute__((format(printf, 2, 3))) void scout_log(enum scout_log_level level, const char *fmt, ...);
void scout_logv(enum scout_log_level level, const char *fmt, va_list ap);

#define log_error(...) scout_log(SCOUT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) scout_log(SCOUT_LOG_WARN, __VA_ARGS__)
#define log_info(...) scout_log(SCOUT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) scout_log(SCOUT_LOG_DEBUG, __VA_ARGS__)
