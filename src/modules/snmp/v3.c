/* SNMPv3 through net-snmp's single-session API on the event loop. */
#include "v3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>

#include "io.h"
#include "loop/closer.h"
#include "loop/list.h"
#include "loop/log.h"

#define MAX_PEERS 1024
#define V3_VBS 2048
#define V3_ARCS 16384

enum peer_state { DISCOVERING, READY };

struct peer {
	struct snmp_v3 *v3;
	snmp_addr128 addr;
	uint16_t port;
	void *sessp;
	uv_poll_t poll;
	enum peer_state state;
	long probe_reqid;
	struct snmp_req *waiting[16]; /* requests held until the engine id is known */
	unsigned nwaiting;
	struct scout_list link;
};

struct snmp_v3 {
	uv_loop_t *loop;
	char *user;
	oid *auth_proto;
	size_t auth_proto_len;
	u_char auth_key[USM_AUTH_KU_LEN];
	size_t auth_key_len;
	u_char priv_key[USM_PRIV_KU_LEN];
	size_t priv_key_len;
	bool priv;
	snmp_v3_deliver deliver;
	void *io;
	struct scout_list peers;
	unsigned npeers;
	struct scout_closer closer;
	void (*done)(void *);
	void *done_arg;
	struct snmp_vb vbs[V3_VBS];
	uint32_t arcs[V3_ARCS];
};

static bool initialised;

/* net-snmp reads no configuration, MIB or persistent file of the host: its
 * behaviour here must not depend on /etc/snmp. */
static void init_netsnmp(void)
{
	if (initialised)
		return;
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	setenv("MIBS", "", 1);
	setenv("MIBDIRS", "", 1);
	snmp_disable_log();
	init_snmp("scoutd");
	initialised = true;
}

int snmp_v3_new(uv_loop_t *loop, const struct snmp_v3_cred *cred, snmp_v3_deliver deliver, void *io,
		struct snmp_v3 **ret_v3)
{
	struct snmp_v3 *v3 = calloc(1, sizeof(*v3));

	if (!v3)
		return -ENOMEM;
	init_netsnmp();
	v3->loop = loop;
	scout_list_init(&v3->peers);
	scout_closer_init(&v3->closer);
	v3->deliver = deliver;
	v3->io = io;
	v3->user = strdup(cred->user);
	v3->auth_proto = cred->sha256 ? usmHMAC192SHA256AuthProtocol : usmHMACSHA1AuthProtocol;
	v3->auth_proto_len = USM_AUTH_PROTO_SHA_LEN;
	v3->auth_key_len = sizeof(v3->auth_key);
	v3->priv_key_len = sizeof(v3->priv_key);
	if (!v3->user || generate_Ku(v3->auth_proto, (u_int)v3->auth_proto_len, (const u_char *)cred->auth_pass,
				     strlen(cred->auth_pass), v3->auth_key, &v3->auth_key_len) != SNMPERR_SUCCESS) {
		free(v3->user);
		free(v3);
		return -EINVAL;
	}
	if (cred->priv_pass) {
		v3->priv = true;
		if (generate_Ku(v3->auth_proto, (u_int)v3->auth_proto_len, (const u_char *)cred->priv_pass,
				strlen(cred->priv_pass), v3->priv_key, &v3->priv_key_len) != SNMPERR_SUCCESS) {
			free(v3->user);
			free(v3);
			return -EINVAL;
		}
	}
	*ret_v3 = v3;
	return 0;
}

/* ---- responses ---------------------------------------------------------- */

/* net-snmp's PDU in the engine's own form: what io hands to readers. */
static int convert(struct snmp_v3 *v3, netsnmp_pdu *pdu, struct snmp_msg *m)
{
	size_t arcs = 0;

	memset(m, 0, sizeof(*m));
	m->version = SNMP_V3;
	m->pdu_type = pdu->command == SNMP_MSG_REPORT ? SNMP_PDU_REPORT : SNMP_PDU_RESPONSE;
	m->request_id = (int32_t)pdu->reqid;
	m->error_status = (int32_t)pdu->errstat;
	m->error_index = (int32_t)pdu->errindex;
	m->vbs = v3->vbs;
	for (netsnmp_variable_list *v = pdu->variables; v; v = v->next_variable) {
		struct snmp_vb *b;
		if (m->nvbs == V3_VBS || arcs + v->name_length > V3_ARCS || v->name_length > SNMP_MAX_OID)
			return -E2BIG;
		b = &v3->vbs[m->nvbs];
		memset(b, 0, sizeof(*b));
		for (size_t i = 0; i < v->name_length; i++) {
			if (v->name[i] > UINT32_MAX)
				return -EBADMSG;
			v3->arcs[arcs + i] = (uint32_t)v->name[i];
		}
		b->oid = &v3->arcs[arcs];
		b->oid_len = (uint32_t)v->name_length;
		arcs += v->name_length;
		b->type = v->type;
		switch (v->type) {
		case ASN_INTEGER:
			b->i = *v->val.integer;
			break;
		case ASN_OCTET_STR:
		case ASN_OPAQUE:
		case ASN_IPADDRESS:
			b->data = v->val.string;
			b->len = (uint32_t)v->val_len;
			break;
		case ASN_COUNTER:
		case ASN_GAUGE:
		case ASN_TIMETICKS:
			b->u = (uint32_t)*v->val.integer;
			break;
		case ASN_COUNTER64:
			b->u = (uint64_t)v->val.counter64->high << 32 | v->val.counter64->low;
			break;
		case ASN_OBJECT_ID: {
			size_t n = v->val_len / sizeof(oid);
			if (n > SNMP_MAX_OID || arcs + n > V3_ARCS)
				return -E2BIG;
			for (size_t i = 0; i < n; i++)
				v3->arcs[arcs + i] = (uint32_t)v->val.objid[i];
			b->val_oid = &v3->arcs[arcs];
			b->val_oid_len = (uint32_t)n;
			arcs += n;
			break;
		}
		case ASN_NULL:
		case SNMP_NOSUCHOBJECT:
		case SNMP_NOSUCHINSTANCE:
		case SNMP_ENDOFMIBVIEW:
			break;
		default:
			return -EBADMSG;
		}
		m->nvbs++;
	}
	return 0;
}

static int send_now(struct peer *p, struct snmp_req *r);

static int on_pdu(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu, void *magic)
{
	struct peer *p = magic;
	struct snmp_v3 *v3 = p->v3;
	struct snmp_msg m;
	(void)s;

	if (op != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE || !pdu)
		return 1;
	if (p->state == DISCOVERING && reqid == p->probe_reqid) {
		/* the probe's Report carries the agent's engine id */
		netsnmp_session *ss = snmp_sess_session(p->sessp);
		if (!pdu->securityEngineIDLen || pdu->securityEngineIDLen > 32)
			return 1;
		free(ss->securityEngineID);
		ss->securityEngineID = netsnmp_memdup(pdu->securityEngineID, pdu->securityEngineIDLen);
		ss->securityEngineIDLen = pdu->securityEngineIDLen;
		if (!ss->securityEngineID || create_user_from_session(ss) != SNMPERR_SUCCESS)
			return 1;
		p->state = READY;
		for (unsigned i = 0; i < p->nwaiting; i++)
			send_now(p, p->waiting[i]);
		p->nwaiting = 0;
		return 1;
	}
	if (pdu->command == SNMP_MSG_REPORT) {
		/* notInTimeWindow on the first authenticated request: net-snmp
		 * has learnt the engine's time from it; the retry of that request
		 * (io's timer) will be in the window. Nothing to deliver. */
		return 1;
	}
	if (convert(v3, pdu, &m) == 0)
		v3->deliver(v3->io, p->addr, p->port, &m);
	return 1;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct peer *p = h->data;
	netsnmp_large_fd_set fds;
	int sock = snmp_sess_transport(p->sessp)->sock;
	(void)events;

	if (status < 0)
		return;
	/* not an fd_set: scoutd raises its open files limit, and a socket
	 * numbered 1024 or more would overflow one (FD_SETSIZE) */
	netsnmp_large_fd_set_init(&fds, sock + 1);
	NETSNMP_LARGE_FD_SET(sock, &fds);
	snmp_sess_read2(p->sessp, &fds);
	netsnmp_large_fd_set_cleanup(&fds);
}

/* ---- sessions ----------------------------------------------------------- */

static struct peer *peer_open(struct snmp_v3 *v3, snmp_addr128 addr, uint16_t port)
{
	netsnmp_session s;
	struct peer *p;
	char host[64], name[96];

	if (v3->npeers >= MAX_PEERS)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snmp_addr_format(addr, host, sizeof(host));
	if (snmp_addr_is_v4(addr))
		snprintf(name, sizeof(name), "udp:%s:%u", host, port);
	else
		snprintf(name, sizeof(name), "udp6:[%s]:%u", host, port);
	snmp_sess_init(&s);
	s.version = SNMP_VERSION_3;
	s.peername = name;
	s.securityName = v3->user;
	s.securityNameLen = strlen(v3->user);
	s.securityLevel = v3->priv ? SNMP_SEC_LEVEL_AUTHPRIV : SNMP_SEC_LEVEL_AUTHNOPRIV;
	s.securityAuthProto = v3->auth_proto;
	s.securityAuthProtoLen = v3->auth_proto_len;
	memcpy(s.securityAuthKey, v3->auth_key, v3->auth_key_len);
	s.securityAuthKeyLen = v3->auth_key_len;
	if (v3->priv) {
		s.securityPrivProto = usmAESPrivProtocol;
		s.securityPrivProtoLen = USM_PRIV_PROTO_AES_LEN;
		memcpy(s.securityPrivKey, v3->priv_key, v3->priv_key_len);
		s.securityPrivKeyLen = v3->priv_key_len;
	}
	/* no blocking probe at open: discovery is asynchronous below; no
	 * retries or timeouts of its own: the io's timer owns them */
	s.flags |= SNMP_FLAGS_DONT_PROBE;
	s.retries = 0;
	s.timeout = 3600L * 1000000L;
	s.callback = on_pdu;
	s.callback_magic = p;
	p->v3 = v3;
	p->addr = addr;
	p->port = port;
	p->sessp = snmp_sess_open(&s);
	memset(s.securityAuthKey, 0, sizeof(s.securityAuthKey));
	memset(s.securityPrivKey, 0, sizeof(s.securityPrivKey));
	if (!p->sessp) {
		free(p);
		return NULL;
	}
	/* net-snmp drops the flag while opening; without it the first send
	 * would run its blocking probe */
	snmp_sess_session(p->sessp)->flags |= SNMP_FLAGS_DONT_PROBE;
	if (uv_poll_init(v3->loop, &p->poll, snmp_sess_transport(p->sessp)->sock) < 0) {
		snmp_sess_close(p->sessp);
		free(p);
		return NULL;
	}
	p->poll.data = p;
	uv_poll_start(&p->poll, UV_READABLE, on_readable);
	scout_list_insert_head(&v3->peers, &p->link);
	v3->npeers++;

	/* RFC 3414 discovery: an unauthenticated request with no engine id
	 * and no user; the agent answers with a Report naming its engine */
	netsnmp_pdu *probe = snmp_pdu_create(SNMP_MSG_GET);
	probe->version = SNMP_VERSION_3;
	probe->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
	probe->securityModel = SNMP_SEC_MODEL_USM;
	probe->securityName = strdup("");
	probe->securityNameLen = 0;
	p->probe_reqid = snmp_sess_async_send(p->sessp, probe, on_pdu, p);
	if (!p->probe_reqid)
		snmp_free_pdu(probe);
	p->state = DISCOVERING;
	return p;
}

static int send_now(struct peer *p, struct snmp_req *r)
{
	netsnmp_pdu *pdu;
	int cmd;

	switch (r->type) {
	case SNMP_PDU_GET:
		cmd = SNMP_MSG_GET;
		break;
	case SNMP_PDU_GETNEXT:
		cmd = SNMP_MSG_GETNEXT;
		break;
	case SNMP_PDU_GETBULK:
		cmd = SNMP_MSG_GETBULK;
		break;
	default:
		return -EINVAL;
	}
	pdu = snmp_pdu_create(cmd);
	if (!pdu)
		return -ENOMEM;
	pdu->reqid = r->id; /* kept by net-snmp: the io matches on it */
	if (cmd == SNMP_MSG_GETBULK) {
		pdu->non_repeaters = r->non_repeaters;
		pdu->max_repetitions = r->max_repetitions;
	}
	for (size_t i = 0; i < r->n; i++) {
		oid name[SNMP_MAX_OID];
		for (uint32_t k = 0; k < r->oids[i]->n; k++)
			name[k] = r->oids[i]->arc[k];
		snmp_add_null_var(pdu, name, r->oids[i]->n);
	}
	if (!snmp_sess_async_send(p->sessp, pdu, on_pdu, p)) {
		snmp_free_pdu(pdu);
		return -EIO;
	}
	return 0;
}

int snmp_v3_send(struct snmp_v3 *v3, struct snmp_req *r)
{
	struct peer *p;

	bool found = false;
	scout_list_foreach (p, &v3->peers, link)
		if (p->addr == r->addr && p->port == r->port) {
			found = true;
			break;
		}
	if (!found) {
		p = peer_open(v3, r->addr, r->port);
		if (!p)
			return -ENOBUFS;
	}
	if (p->state == READY)
		return send_now(p, r);
	for (unsigned i = 0; i < p->nwaiting; i++)
		if (p->waiting[i] == r)
			return 0; /* a retry while discovery is still out */
	if (p->nwaiting == sizeof(p->waiting) / sizeof(p->waiting[0]))
		return -ENOBUFS;
	p->waiting[p->nwaiting++] = r;
	return 0;
}

void snmp_v3_forget(struct snmp_v3 *v3, struct snmp_req *r)
{
	struct peer *p;
	scout_list_foreach (p, &v3->peers, link)
		for (unsigned i = 0; i < p->nwaiting; i++)
			if (p->waiting[i] == r) {
				p->waiting[i] = p->waiting[--p->nwaiting];
				return;
			}
}

/* Every peer's poll handle has closed: the sessions go, then the keys. */
static void closed(void *arg)
{
	struct snmp_v3 *v3 = arg;
	void (*done)(void *) = v3->done;
	void *done_arg = v3->done_arg;
	struct peer *p, *tmp;

	scout_list_foreach_safe (p, tmp, &v3->peers, link) {
		scout_list_remove(&p->link);
		snmp_sess_close(p->sessp);
		free(p);
	}
	free(v3->user);
	memset(v3->auth_key, 0, sizeof(v3->auth_key));
	memset(v3->priv_key, 0, sizeof(v3->priv_key));
	free(v3);
	if (done)
		done(done_arg);
}

void snmp_v3_close(struct snmp_v3 *v3, void (*done)(void *arg), void *arg)
{
	struct peer *p;

	v3->done = done;
	v3->done_arg = arg;
	scout_list_foreach (p, &v3->peers, link)
		scout_closer_close(&v3->closer, (uv_handle_t *)&p->poll);
	scout_closer_wait(&v3->closer, closed, v3);
}
