/* Who owns a job. With [ipp] owner = authenticated (the default) the
 * owner is the user whose HTTP Basic credentials auth.password accepted
 * (the users module, later the ldap one, serves it); the credentials are
 * looked at only on TLS connections, so a password never travels in clear
 * to us: a plain-HTTP client that must authenticate gets 426 Upgrade
 * Required (CUPS clients then retry with TLS on the same port). The
 * password is wiped from our buffers once asked and never logged. With
 * owner = requesting-user-name the owner is whatever the client says. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ipp.h"
#include "loop/log.h"
#include "loop/pack.h"
#include "loop/utf8.h"

#define AUTH_TIMEOUT_MS 15000
#define MAX_CREDENTIALS 768 /* decoded user:password */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 with padding; -EINVAL for anything else. */
static int b64decode(const char *in, unsigned char *out, size_t size, size_t *ret_len)
{
	size_t n = 0, len = strlen(in);
	uint32_t acc = 0;
	int bits = 0;

	while (len && in[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= size)
				return -EINVAL;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*ret_len = n;
	return 0;
}

static void on_auth_reply(struct ipp_req *r, int status, const msgpack_object *reply)
{
	const char *user;
	size_t n;

	if (!r->http)
		return;
	r->phase = PH_HEADER;
	if (status == 0 && scout_pack_get_str(reply, "user", &user, &n) == 0 && n && n < sizeof(r->user) &&
	    scout_utf8_valid(user, n, true)) {
		memcpy(r->user, user, n);
		r->user[n] = 0;
		r->authenticated = true;
		r->ipp->n.auth_ok++;
		scout_http_resume(r->http);
		return;
	}
	if (status == -EACCES || status == 0) {
		r->ipp->n.auth_failed++;
		ipp_req_http_error(r, 401, "unknown user or wrong password");
	} else {
		ipp_req_http_error(r, 503, "cannot check the password now");
	}
}

bool ipp_auth_begin(struct ipp_req *r)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	const char *h = scout_http_header(r->http, "authorization");
	unsigned char cred[MAX_CREDENTIALS];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t len;
	int ret;

	/* over plain HTTP the header is not even decoded: 426 follows when
	 * the operation needs an owner */
	if (conf->owner != IPP_OWNER_AUTHENTICATED || !h || !r->tls || strncasecmp(h, "Basic ", 6) != 0)
		return false;
	h += 6;
	while (*h == ' ')
		h++;
	if (!r->ipp->t_auth) {
		ipp_req_http_error(r, 503, "no module serves auth.password");
		return true;
	}
	char *colon;
	if (b64decode(h, cred, sizeof(cred) - 1, &len) < 0 || !(colon = memchr(cred, ':', len)) ||
	    colon == (char *)cred) {
		explicit_bzero(cred, sizeof(cred));
		r->ipp->n.auth_failed++;
		ipp_req_http_error(r, 401, "malformed Basic credentials");
		return true;
	}
	size_t ulen = (size_t)(colon - (char *)cred);
	/* the source, for the password checker's per-address limits: the
	 * client's address without its port ("[::1]:5000" -> "::1") */
	const char *remote = scout_http_remote(r->http), *port = strrchr(remote, ':');
	size_t slen = port ? (size_t)(port - remote) : strlen(remote);
	if (slen >= 2 && remote[0] == '[' && remote[slen - 1] == ']') {
		remote++;
		slen -= 2;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	scout_pack_str(&pk, "source");
	msgpack_pack_str(&pk, slen);
	msgpack_pack_str_body(&pk, remote, slen);
	scout_pack_str(&pk, "user");
	msgpack_pack_str(&pk, ulen);
	msgpack_pack_str_body(&pk, cred, ulen);
	scout_pack_str(&pk, "password");
	msgpack_pack_str(&pk, len - ulen - 1);
	msgpack_pack_str_body(&pk, colon + 1, len - ulen - 1);
	explicit_bzero(cred, sizeof(cred));
	ret = ipp_req_call(r, r->ipp->t_auth, &sb, AUTH_TIMEOUT_MS, on_auth_reply);
	explicit_bzero(sb.data, sb.alloc);
	msgpack_sbuffer_destroy(&sb);
	if (ret < 0) {
		ipp_req_http_error(r, 503, "cannot check the password now");
		return true;
	}
	r->phase = PH_AUTH;
	scout_http_pause(r->http);
	return true;
}

bool ipp_auth_require(struct ipp_req *r)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);

	if (conf->owner == IPP_OWNER_REQUESTING_USER || r->authenticated)
		return true;
	if (!r->tls)
		ipp_req_http_error(r, 426,
				   "owner = authenticated: jobs need a user name and password, sent only over TLS "
				   "(use ipps:// on the same port)");
	else
		ipp_req_http_error(r, 401, "this operation needs a user name and password");
	return false;
}

void ipp_auth_requesting_user(struct ipp_req *r)
{
	const struct ipp_conf *conf = scout_mod_conf(r->ipp->m);
	const struct ipp_attr *a = ipp_find(r->msg.attrs, IPP_TAG_OPERATION, "requesting-user-name");
	char name[256];

	/* in authenticated mode a name the client merely claims is nobody */
	if (conf->owner != IPP_OWNER_REQUESTING_USER)
		return;
	if (a && ipp_value_str(a->values, name, sizeof(name)) && name[0] && scout_utf8_valid(name, strlen(name), true))
		snprintf(r->user, sizeof(r->user), "%s", name);
	else
		snprintf(r->user, sizeof(r->user), "anonymous");
}
