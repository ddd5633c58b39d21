/* DNS-SD announcement of the queue through avahi-daemon ([ipp] dnssd =
 * yes): _ipp._tcp (subtypes _print and _universal, for AirPrint) and,
 * with TLS, _ipps._tcp, with the TXT keys of the IPP Everywhere and
 * Bonjour Printing specifications, so clients on the link find the queue
 * without typing its address.
 *
 * avahi-client runs on scout's loop through an AvahiPoll adapter: each
 * AvahiWatch is a uv_poll_t, each AvahiTimeout a uv_timer_t. avahi frees
 * them synchronously while uv closes handles asynchronously, so a freed
 * one is closed with the module's closer held until its close callback.
 * A daemon that is absent or restarts is waited for (AVAHI_CLIENT_NO_FAIL);
 * a name collision picks avahi's alternative name. */
#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/watch.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ipp.h"
#include "loop/closer.h"
#include "loop/log.h"

struct AvahiWatch {
	uv_poll_t poll;
	struct ipp_dnssd *d;
	struct scout_closer *closer; /* the module's: outlives d */
	int fd;
	AvahiWatchEvent events, revents;
	AvahiWatchCallback cb;
	void *arg;
};

struct AvahiTimeout {
	uv_timer_t timer;
	struct ipp_dnssd *d;
	struct scout_closer *closer;
	AvahiTimeoutCallback cb;
	void *arg;
};

struct ipp_dnssd {
	struct ipp *s;
	AvahiPoll api;
	AvahiClient *client;
	AvahiEntryGroup *group;
	char *name; /* avahi_malloc'd: the service name, changed on collision */
	int port;
	bool tls;
	char state[64];
};

/* ---- AvahiPoll on uv ------------------------------------------------------ */

static void watch_closed(uv_handle_t *h)
{
	AvahiWatch *w = (AvahiWatch *)h;
	struct scout_closer *c = w->closer;

	free(w);
	scout_closer_release(c);
}

static void timeout_closed(uv_handle_t *h)
{
	AvahiTimeout *t = (AvahiTimeout *)h;
	struct scout_closer *c = t->closer;

	free(t);
	scout_closer_release(c);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	AvahiWatch *w = (AvahiWatch *)p;

	w->revents = status < 0 ? AVAHI_WATCH_ERR : 0;
	if (events & UV_READABLE)
		w->revents |= AVAHI_WATCH_IN;
	if (events & UV_WRITABLE)
		w->revents |= AVAHI_WATCH_OUT;
	if (events & UV_DISCONNECT)
		w->revents |= AVAHI_WATCH_HUP;
	w->cb(w, w->fd, w->revents, w->arg);
}

static void watch_update(AvahiWatch *w, AvahiWatchEvent events)
{
	int ev = 0;

	w->events = events;
	if (events & AVAHI_WATCH_IN)
		ev |= UV_READABLE;
	if (events & AVAHI_WATCH_OUT)
		ev |= UV_WRITABLE;
	if (ev)
		uv_poll_start(&w->poll, ev, on_poll);
	else
		uv_poll_stop(&w->poll);
}

static AvahiWatch *watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent events, AvahiWatchCallback cb, void *arg)
{
	struct ipp_dnssd *d = api->userdata;
	AvahiWatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	if (uv_poll_init(scout_mod_loop(d->s->m), &w->poll, fd) < 0) {
		free(w);
		return NULL;
	}
	w->d = d;
	w->closer = scout_mod_closer(d->s->m);
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	watch_update(w, events);
	return w;
}

static AvahiWatchEvent watch_get_events(AvahiWatch *w)
{
	return w->revents;
}

static void watch_free(AvahiWatch *w)
{
	scout_closer_hold(w->closer);
	uv_close((uv_handle_t *)&w->poll, watch_closed);
}

static void on_timer(uv_timer_t *t)
{
	AvahiTimeout *to = (AvahiTimeout *)t;

	to->cb(to, to->arg);
}

static void timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
	struct timeval now;

	uv_timer_stop(&t->timer);
	if (!tv)
		return;
	gettimeofday(&now, NULL);
	int64_t ms = ((int64_t)tv->tv_sec - now.tv_sec) * 1000 + ((int64_t)tv->tv_usec - now.tv_usec) / 1000;
	uv_timer_start(&t->timer, on_timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

static AvahiTimeout *timeout_new(const AvahiPoll *api, const struct timeval *tv, AvahiTimeoutCallback cb, void *arg)
{
	struct ipp_dnssd *d = api->userdata;
	AvahiTimeout *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	uv_timer_init(scout_mod_loop(d->s->m), &t->timer);
	t->d = d;
	t->closer = scout_mod_closer(d->s->m);
	t->cb = cb;
	t->arg = arg;
	timeout_update(t, tv);
	return t;
}

static void timeout_free(AvahiTimeout *t)
{
	scout_closer_hold(t->closer);
	uv_close((uv_handle_t *)&t->timer, timeout_closed);
}

/* ---- the services ---------------------------------------------------------- */

static AvahiStringList *txt_record(struct ipp_dnssd *d, bool tls)
{
	const struct ipp_conf *conf = scout_mod_conf(d->s->m);
	char adminurl[160], uuid[64];
	AvahiStringList *l = NULL;

	snprintf(adminurl, sizeof(adminurl), "%s://%s.local:%d/", tls ? "https" : "http",
		 avahi_client_get_host_name(d->client), d->port);
	snprintf(uuid, sizeof(uuid), "%s", strncmp(d->s->uuid, "urn:uuid:", 9) == 0 ? d->s->uuid + 9 : d->s->uuid);
	l = avahi_string_list_add_pair(l, "txtvers", "1");
	l = avahi_string_list_add_pair(l, "qtotal", "1");
	l = avahi_string_list_add_pair(l, "rp", "ipp/print");
	l = avahi_string_list_add_pair(l, "ty", conf->make_model);
	l = avahi_string_list_add_pair(l, "product", "(scout Secure Print)");
	l = avahi_string_list_add_pair(l, "note", conf->location);
	l = avahi_string_list_add_pair(l, "adminurl", adminurl);
	l = avahi_string_list_add_pair(l, "pdl",
				       "application/pdf,image/pwg-raster,image/urf,image/jpeg,application/postscript,"
				       "application/vnd.hp-pcl,application/octet-stream");
	l = avahi_string_list_add_pair(l, "URF", "V1.4,CP1,PQ3-4-5,RS300-600,SRGB24,W8,DM1,IS1,MT1");
	l = avahi_string_list_add_pair(l, "UUID", uuid);
	l = avahi_string_list_add_pair(l, "Color", "T");
	l = avahi_string_list_add_pair(l, "Duplex", "T");
	l = avahi_string_list_add_pair(l, "Copies", "T");
	l = avahi_string_list_add_pair(l, "kind", "document");
	l = avahi_string_list_add_pair(l, "PaperMax", "legal-A4");
	/* CUPS_PRINTER_COLOR | DUPLEX | COPIES | COLLATE | SMALL | MEDIUM */
	l = avahi_string_list_add_pair(l, "printer-type", "0x901E");
	l = avahi_string_list_add_pair(l, "printer-state", ipp_accepting(d->s) ? "3" : "5");
	if (d->tls)
		l = avahi_string_list_add_pair(l, "TLS", "1.2");
	if (conf->owner == IPP_OWNER_AUTHENTICATED)
		l = avahi_string_list_add_pair(l, "air", "username,password");
	return l;
}

static int add_service(struct ipp_dnssd *d, const char *type, const char *const *subtypes, bool tls)
{
	AvahiStringList *txt = txt_record(d, tls);
	int r = avahi_entry_group_add_service_strlst(d->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, d->name, type,
						     NULL, NULL, (uint16_t)d->port, txt);

	avahi_string_list_free(txt);
	for (size_t i = 0; r >= 0 && subtypes[i]; i++)
		r = avahi_entry_group_add_service_subtype(d->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, 0, d->name,
							  type, NULL, subtypes[i]);
	return r;
}

static void publish(struct ipp_dnssd *d);

static void on_group(AvahiEntryGroup *g, AvahiEntryGroupState state, void *arg)
{
	struct ipp_dnssd *d = arg;

	d->group = g;
	if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) {
		snprintf(d->state, sizeof(d->state), "announced");
		log_info("ipp: announced as '%s' (_ipp._tcp%s) over DNS-SD", d->name, d->tls ? ", _ipps._tcp" : "");
	} else if (state == AVAHI_ENTRY_GROUP_COLLISION) {
		char *n = avahi_alternative_service_name(d->name);
		log_info("ipp: DNS-SD name '%s' is taken, trying '%s'", d->name, n);
		avahi_free(d->name);
		d->name = n;
		avahi_entry_group_reset(g);
		publish(d);
	} else if (state == AVAHI_ENTRY_GROUP_FAILURE) {
		snprintf(d->state, sizeof(d->state), "failed");
		log_warn("ipp: DNS-SD announcement failed: %s",
			 avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(g))));
	}
}

static void publish(struct ipp_dnssd *d)
{
	static const char *const ipp_sub[] = {"_print._sub._ipp._tcp", "_universal._sub._ipp._tcp", NULL};
	static const char *const ipps_sub[] = {"_print._sub._ipps._tcp", "_universal._sub._ipps._tcp", NULL};
	int r;

	if (!d->group && !(d->group = avahi_entry_group_new(d->client, on_group, d))) {
		log_warn("ipp: DNS-SD: %s", avahi_strerror(avahi_client_errno(d->client)));
		return;
	}
	r = add_service(d, "_ipp._tcp", ipp_sub, false);
	if (r >= 0 && d->tls)
		r = add_service(d, "_ipps._tcp", ipps_sub, true);
	if (r == AVAHI_ERR_COLLISION) {
		on_group(d->group, AVAHI_ENTRY_GROUP_COLLISION, d);
		return;
	}
	if (r >= 0)
		r = avahi_entry_group_commit(d->group);
	if (r < 0)
		log_warn("ipp: DNS-SD: cannot announce '%s': %s", d->name, avahi_strerror(r));
	else
		snprintf(d->state, sizeof(d->state), "announcing");
}

static void on_client(AvahiClient *c, AvahiClientState state, void *arg)
{
	struct ipp_dnssd *d = arg;

	d->client = c;
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING:
		if (!d->group || avahi_entry_group_is_empty(d->group))
			publish(d);
		break;
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		if (d->group)
			avahi_entry_group_reset(d->group);
		break;
	case AVAHI_CLIENT_CONNECTING:
		snprintf(d->state, sizeof(d->state), "waiting for avahi-daemon");
		break;
	case AVAHI_CLIENT_FAILURE:
		snprintf(d->state, sizeof(d->state), "failed");
		log_warn("ipp: DNS-SD: avahi: %s", avahi_strerror(avahi_client_errno(c)));
		break;
	}
}

int ipp_dnssd_start(struct ipp *s, struct ipp_dnssd **ret)
{
	const struct ipp_conf *conf = scout_mod_conf(s->m);
	struct ipp_dnssd *d = calloc(1, sizeof(*d));
	int err;

	if (!d || !(d->name = avahi_strdup(conf->name))) {
		free(d);
		return -ENOMEM;
	}
	d->s = s;
	d->port = scout_http_server_port(s->http);
	d->tls = s->tls != NULL;
	snprintf(d->state, sizeof(d->state), "starting");
	d->api = (AvahiPoll){.userdata = d,
			     .watch_new = watch_new,
			     .watch_update = watch_update,
			     .watch_get_events = watch_get_events,
			     .watch_free = watch_free,
			     .timeout_new = timeout_new,
			     .timeout_update = timeout_update,
			     .timeout_free = timeout_free};
	d->client = avahi_client_new(&d->api, AVAHI_CLIENT_NO_FAIL, on_client, d, &err);
	if (!d->client) {
		log_warn("ipp: DNS-SD: cannot start avahi-client: %s", avahi_strerror(err));
		avahi_free(d->name);
		free(d);
		return -EIO;
	}
	*ret = d;
	return 0;
}

const char *ipp_dnssd_state(const struct ipp_dnssd *d)
{
	return d->state;
}

/* avahi frees its watches and timeouts here; their handles close later
 * under the module's closer. */
void ipp_dnssd_stop(struct ipp_dnssd *d)
{
	if (!d)
		return;
	if (d->client)
		avahi_client_free(d->client); /* frees the group too */
	avahi_free(d->name);
	free(d);
}
