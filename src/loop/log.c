/* Logging to stderr. Under systemd the journal adds time and unit, so a line
 * is just "<prio>message"; on a terminal it carries a timestamp and level. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static enum scout_log_level cur_level = SCOUT_LOG_INFO;
static bool journal;

static const struct {
	const char *name;
	enum scout_log_level level;
} levels[] = {
	{"error", SCOUT_LOG_ERROR},
	{"warn", SCOUT_LOG_WARN},
	{"info", SCOUT_LOG_INFO},
	{"debug", SCOUT_LOG_DEBUG},
};

int scout_log_level_parse(const char *s, enum scout_log_level *ret_level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0) {
			*ret_level = levels[i].level;
			return 0;
		}
	return -1;
}

const char *scout_log_level_name(enum scout_log_level level)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (levels[i].level == level)
			return levels[i].name;
	return "?";
}

void scout_log_set_level(enum scout_log_level level)
{
	cur_level = level;
}

enum scout_log_level scout_log_get_level(void)
{
	return cur_level;
}

void scout_log_set_journal(bool on)
{
	journal = on;
}

bool scout_log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void scout_logv(enum scout_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n = 0;

	if (level > cur_level)
		return;
	if (journal) {
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ld %-5s ", ts.tv_nsec / 1000000,
			      scout_log_level_name(level));
	}
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2; /* truncated: keep the line whole */
	line[n++] = '\n';
	/* one write per line so concurrent writers never interleave mid-line */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void scout_log(enum scout_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	scout_logv(level, fmt, ap);
	va_end(ap);
}
