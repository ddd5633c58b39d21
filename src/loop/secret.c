/* Secrets kept in files: the vault's key, a directory's service password.
 * A path may name a systemd credential ("%d/NAME": LoadCredential= or
 * LoadCredentialEncrypted= put it in $CREDENTIALS_DIRECTORY, readable by
 * this service only), so a secret never sits in the configuration file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "secret.h"

int scout_credential_path(const char *spec, char **ret_path, char *why, size_t whylen)
{
	const char *cd;

	if (strncmp(spec, "%d/", 3) != 0) {
		*ret_path = strdup(spec);
		return *ret_path ? 0 : -ENOMEM;
	}
	cd = getenv("CREDENTIALS_DIRECTORY");
	if (!cd || !cd[0]) {
		snprintf(why, whylen,
			 "%s names a credential, but $CREDENTIALS_DIRECTORY is not set (LoadCredential= or "
			 "LoadCredentialEncrypted= in the unit)",
			 spec);
		return -ENOKEY;
	}
	return asprintf(ret_path, "%s/%s", cd, spec + 3) < 0 ? -ENOMEM : 0;
}

void scout_check_credential_path(struct scout_check *c, const char *key, const char *value)
{
	if (value[0] == '%' && strncmp(value, "%d/", 3) != 0)
		scout_check_error(c, key, "only %%d/ (the credentials directory) may start a path with %%");
	else if (strncmp(value, "%d/", 3) == 0 && (!value[3] || strchr(value + 3, '/')))
		scout_check_error(c, key, "%%d/ takes a credential's name (no '/')");
	else if (value[0] && value[0] != '/' && value[0] != '%')
		scout_check_warn(c, key, "a relative path is taken from scoutd's working directory");
}

int scout_secret_read_line(const char *path, char *buf, size_t size, size_t *ret_len, char *why, size_t whylen)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	/* read one byte past the limit, to tell "too long" from "just fits" */
	while (len < size && (n = read(fd, buf + len, size - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(why, whylen, "%s: %s", path, strerror(errno));
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (r == 0) {
		char *nl = memchr(buf, '\n', len);
		size_t end = nl ? (size_t)(nl - buf) : len;
		while (nl && end < len && (buf[end] == '\n' || buf[end] == '\r'))
			end++;
		if (nl && end < len) {
			/* text after the first line: refuse rather than guess which is meant */
			snprintf(why, whylen, "%s: more than one line", path);
			r = -EINVAL;
		} else if (!nl && len >= size) {
			snprintf(why, whylen, "%s: longer than %zu bytes", path, size - 1);
			r = -E2BIG;
		} else {
			if (nl)
				len = (size_t)(nl - buf);
			if (len && buf[len - 1] == '\r')
				len--;
			if (!len) {
				snprintf(why, whylen, "%s: empty", path);
				r = -EINVAL;
			} else if (memchr(buf, '\0', len)) {
				snprintf(why, whylen, "%s: contains a NUL byte", path);
				r = -EINVAL;
			}
		}
	}
	if (r < 0) {
		explicit_bzero(buf, size);
		return r;
	}
	buf[len] = '\0';
	explicit_bzero(buf + len, size - len);
	*ret_len = len;
	return 0;
}
