/* `vault verify`: reads every held job (or one) back through its document
 * key, chunk by chunk, as a release would, and reports for each whether it
 * decrypts whole, its size and the SHA-256 of its document. For operators
 * after a crash, a disk problem or a restore from backup, and for the tests
 * that compare what was sent with what is held. Runs as one pool job over
 * a snapshot of the held jobs; nothing decrypted leaves the pool thread but
 * the digest. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/log.h"
#include "loop/status.h"
#include "reader.h"
#include "state.h"

struct verify_item {
	uint32_t id;
	bool in_file;
	uint64_t size; /* what the record says */
	uint64_t got;  /* what decrypted */
	int r;
	char sha256[65];
	char problem[160];
};

struct verify {
	struct vault *v;
	struct scout_status_req *req;
	size_t n;
	struct verify_item items[];
};

/* Reads every chunk of one job into a digest. */
static void verify_one(struct vault *v, struct verify_item *it, uint8_t *buf)
{
	struct vault_reader rd = {.fd = -1};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t digest[32];
	bool last = false;

	if (!md) {
		it->r = -ENOMEM;
		return;
	}
	it->r = vault_open_job(v, it->id, it->in_file, &rd);
	if (it->r == 0 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		it->r = -EIO;
	for (uint32_t i = 0; it->r == 0 && !last; i++) {
		size_t len;
		int r = vault_reader_chunk(&rd, i, buf, &len, &last);
		if (r < 0) {
			it->r = r;
			snprintf(it->problem, sizeof(it->problem), "chunk %u: %s", i,
				 r == -EBADMSG ? "does not authenticate (damaged, cut or moved)" : strerror(-r));
			break;
		}
		EVP_DigestUpdate(md, buf, len);
		it->got += len;
	}
	if (it->r == 0 && EVP_DigestFinal_ex(md, digest, NULL) == 1) {
		for (size_t i = 0; i < sizeof(digest); i++)
			snprintf(it->sha256 + 2 * i, 3, "%02x", digest[i]);
		if (it->got != it->size)
			snprintf(it->problem, sizeof(it->problem), "decrypts to %llu bytes, the record says %llu",
				 (unsigned long long)it->got, (unsigned long long)it->size);
	} else if (it->r < 0 && !it->problem[0]) {
		snprintf(it->problem, sizeof(it->problem), "cannot open: %s",
			 it->r == -EBADMSG ? "does not authenticate (damaged, cut or wrong key)" : strerror(-it->r));
	}
	vault_wipe(buf, VAULT_CHUNK);
	vault_reader_free(&rd);
	EVP_MD_CTX_free(md);
}

static void verify_work(void *arg)
{
	struct verify *vf = arg;
	uint8_t *buf = malloc(VAULT_CHUNK);

	for (size_t i = 0; i < vf->n; i++) {
		if (buf)
			verify_one(vf->v, &vf->items[i], buf);
		else
			vf->items[i].r = -ENOMEM;
	}
	free(buf);
}

static void verify_done(void *arg, int status)
{
	struct verify *vf = arg;
	json_t *rows = json_array();
	size_t damaged = 0;

	vault_op_end(vf->v);
	for (size_t i = 0; i < vf->n; i++) {
		struct verify_item *it = &vf->items[i];
		bool ok = status == 0 && it->r == 0 && !it->problem[0];
		json_t *row = json_pack("{s:I, s:I, s:s}", "id", (json_int_t)it->id, "size", (json_int_t)it->got,
					"result", ok ? "ok" : "DAMAGED");
		if (ok)
			json_object_set_new(row, "sha256", json_string(it->sha256));
		else
			json_object_set_new(row, "problem",
					    json_string(status < 0 ? "not checked (stopping)" : it->problem));
		if (!ok) {
			damaged++;
			log_error("vault: job %u: verify: %s", it->id, status < 0 ? "not checked" : it->problem);
		}
		json_array_append_new(rows, row);
	}
	scout_status_reply(vf->req, json_pack("{s:o, s:I, s:I}", "jobs", rows, "verified",
					      (json_int_t)(vf->n - damaged), "damaged", (json_int_t)damaged));
	free(vf);
}

void vault_cmd_verify(struct vault *v, struct scout_status_req *req, json_t *request)
{
	json_t *jid = json_object_get(request, "id");
	struct verify *vf;
	struct job *j;
	size_t n = 0;

	if (!v->unlocked) {
		scout_status_error(req, "locked", "the vault is locked: %s", v->lock_reason);
		return;
	}
	if (jid && (!json_is_integer(jid) || !vault_job_find(v, (uint32_t)json_integer_value(jid)))) {
		scout_status_error(req, "not_found", "no job %s", json_is_integer(jid) ? "with that id" : "id given");
		return;
	}
	scout_list_foreach (j, &v->jobs, link)
		n++;
	if (!(vf = calloc(1, sizeof(*vf) + n * sizeof(vf->items[0])))) {
		scout_status_error(req, "no_memory", "out of memory");
		return;
	}
	vf->v = v;
	vf->req = req;
	scout_list_foreach (j, &v->jobs, link) {
		if (!j->committed || !j->has_doc || (jid && j->id != (uint32_t)json_integer_value(jid)))
			continue;
		vf->items[vf->n++] = (struct verify_item){.id = j->id, .in_file = j->in_file, .size = j->meta.size};
	}
	vault_op_begin(v);
	if (scout_work_submit(v->work, verify_work, verify_done, vf) < 0) {
		vault_op_end(v);
		scout_status_error(req, "unavailable", "the vault is stopping");
		free(vf);
	}
}
