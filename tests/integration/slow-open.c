/* LD_PRELOAD shim for the lifecycle tests: while the file named by
 * SCOUT_SLOW_OPEN_FLAG exists, opening the path named by SCOUT_SLOW_OPEN
 * waits (at most 60 s) until it is removed. A test holds a reload "still
 * reading its file" that way for as long as it needs, then lets it go. */
#undef _FILE_OFFSET_BITS /* defines open() itself, not open64 under its name */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int __open64_2(const char *path, int flags);

static void hold(const char *path)
{
	const char *target = getenv("SCOUT_SLOW_OPEN"), *flag = getenv("SCOUT_SLOW_OPEN_FLAG");

	if (!target || !flag || !path || strcmp(path, target) != 0)
		return;
	for (int i = 0; i < 6000 && access(flag, F_OK) == 0; i++)
		usleep(10000);
}

static int mode_of(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}

/* Holds, then passes the call on to the next definition of sym. */
static int held_open(const char *sym, int (**real)(const char *, int, ...), const char *path, int flags, int mode)
{
	hold(path);
	if (!*real)
		*real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, sym);
	return (*real)(path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	va_list ap;

	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return held_open("open", &real, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	va_list ap;

	va_start(ap, flags);
	int mode = mode_of(flags, ap);
	va_end(ap);
	return held_open("open64", &real, path, flags, mode);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}
