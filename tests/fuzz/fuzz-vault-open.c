/* libFuzzer target for the vault's openers (src/modules/vault/crypt.c):
 * arbitrary bytes as a KDF params record, a key check, a wrapped key, a
 * metadata blob, a chunk, a sealed document; none may crash, read out of
 * bounds (ASan), leak, or hand out plaintext from a failed open (every
 * output buffer is pre-filled and must come back zeroed). The first byte
 * picks the opener; the checksum modes recompute the record's checksum so
 * the bounds checks behind it are reached too. The last mode is a
 * property: a document sealed from the input, then damaged as the input
 * says (a flipped bit, a cut, or nothing), reads back exactly when it was
 * not damaged and fails with -EBADMSG when it was.
 *
 * The seed corpus (corpus/fuzz-vault-open) holds one valid record of each
 * kind under the keys below, made with the API itself. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"
#include "modules/vault/crypt.h"

#define JOB 17
#define DOC_MAX (5 * SCOUT_VAULT_CHUNK + 1000)

static struct vault_key *site_key, *doc_key;
/* back has room for a last read of the largest step past the end */
static uint8_t plain[DOC_MAX], back[DOC_MAX + 256 * 1031];

static struct vault_key *counting_key(uint8_t start)
{
	uint8_t b[SCOUT_VAULT_KEY_LEN];
	struct vault_key *k = NULL;
	for (int i = 0; i < SCOUT_VAULT_KEY_LEN; i++)
		b[i] = (uint8_t)(start + i);
	CHECK(vault_key_import(b, sizeof(b), &k) == 0);
	return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	site_key = counting_key(0);
	doc_key = counting_key(0xa0);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A copy of data with its last 8 bytes replaced by the checksum the
 * records carry (SHA-256 of what precedes, first 8 bytes). */
static uint8_t *with_checksum(const uint8_t *data, size_t len)
{
	uint8_t *c = malloc(len ? len : 1), md[32];
	unsigned int mdlen;
	CHECK(c);
	memcpy(c, data, len);
	if (len > 8) {
		CHECK(EVP_Digest(c, len - 8, md, &mdlen, EVP_sha256(), NULL) == 1);
		memcpy(c + len - 8, md, 8);
	}
	return c;
}

static void fuzz_params(const uint8_t *data, size_t len, bool fix)
{
	uint8_t *c = fix ? with_checksum(data, len) : NULL;
	struct vault_kdf_params p;
	struct vault_crypt_error err = {""};
	memset(&p, 0x77, sizeof(p));
	int r = vault_kdf_params_parse(c ? c : data, len, &p, &err);
	if (r == 0) {
		/* whatever was accepted is cheap enough to run */
		uint64_t n = 1ull << p.log2_n;
		CHECK(p.log2_n >= 4 && p.log2_n <= 20 && p.r >= 1 && p.r <= 32 && p.p >= 1 && p.p <= 16);
		CHECK(128 * n * p.r <= (512ull << 20) && n * p.r * p.p <= (1ull << 25));
		uint8_t out[SCOUT_VAULT_KDF_PARAMS_LEN];
		CHECK(vault_kdf_params_serialise(&p, out, NULL) == 0);
		CHECK(len == sizeof(out) && memcmp(out, c ? c : data, len) == 0);
	} else {
		CHECK(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ERANGE);
		CHECK(err.reason[0] != '\0');
		CHECK(p.r == 0x77777777); /* not written */
	}
	free(c);
}

static void fuzz_check(const uint8_t *data, size_t len, bool fix)
{
	uint8_t *c = fix ? with_checksum(data, len) : NULL;
	struct vault_crypt_error err = {""};
	int r = vault_key_check_verify(site_key, c ? c : data, len, &err);
	CHECK(r == 0 || r == -EKEYREJECTED || r == -EBADMSG || r == -EPROTONOSUPPORT);
	CHECK(r == 0 || err.reason[0] != '\0');
	free(c);
}

static void fuzz_unwrap(const uint8_t *data, size_t len)
{
	struct vault_key *k = NULL;
	struct vault_crypt_error err = {""};
	if (len < 1)
		return;
	enum vault_key_purpose purpose = data[0] & 1 ? VAULT_KEY_DOCUMENT : VAULT_KEY_METADATA;
	int r = vault_key_unwrap(site_key, JOB, purpose, data + 1, len - 1, &k, &err);
	if (r == 0) {
		vault_key_free(k);
	} else {
		CHECK(r == -EBADMSG && err.reason[0] != '\0' && k == NULL);
	}
}

static void fuzz_meta(const uint8_t *data, size_t len)
{
	static uint8_t out[SCOUT_VAULT_META_MAX + 64];
	size_t n = 12345;
	struct vault_crypt_error err = {""};
	memset(out, 0xaa, sizeof(out));
	int r = vault_meta_open(doc_key, JOB, data, len, out, sizeof(out), &n, &err);
	if (r == 0) {
		CHECK(n + SCOUT_VAULT_META_OVERHEAD == len);
	} else {
		CHECK(r == -EBADMSG && err.reason[0] != '\0' && n == 12345);
		/* what would have been plaintext */
		size_t plain_len = len > SCOUT_VAULT_META_OVERHEAD ? len - SCOUT_VAULT_META_OVERHEAD : 0;
		CHECK(all_zero(out, plain_len < sizeof(out) ? plain_len : sizeof(out)));
	}
}

static void fuzz_chunk(const uint8_t *data, size_t len)
{
	static uint8_t out[SCOUT_VAULT_CHUNK_SEALED];
	if (len < 9)
		return;
	uint64_t index = data[0] & 0x7f, job = 0;
	bool last = data[0] & 0x80;
	for (int i = 1; i < 9; i++)
		job = job << 8 | data[i];
	data += 9;
	len -= 9;
	if (len > sizeof(out))
		len = sizeof(out);
	memset(out, 0xaa, sizeof(out));
	int r = vault_chunk_open(doc_key, job, index, last, data, len, out, NULL);
	if (r < 0) {
		CHECK(r == -EBADMSG);
		CHECK(all_zero(out, len > SCOUT_VAULT_TAG_LEN ? len - SCOUT_VAULT_TAG_LEN : 0));
	}
}

struct mem {
	const uint8_t *buf;
	size_t len;
};

static ssize_t mem_read(void *arg, uint64_t off, void *buf, size_t len)
{
	const struct mem *m = arg;
	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memcpy(buf, m->buf + off, len);
	return (ssize_t)len;
}

/* Opens sealed as job 17's document and reads it all in pieces of step
 * bytes: 0 and the plaintext in back[], or the error, with every failed
 * read's buffer zeroed. */
static int read_doc(const uint8_t *sealed, size_t len, size_t sealed_size, size_t step, uint64_t *ret_size)
{
	struct mem m = {sealed, len};
	struct vault_chunk_reader *r = NULL;
	struct vault_crypt_error err = {""};
	int rc = vault_chunk_reader_open(doc_key, JOB, sealed_size, mem_read, &m, &r, &err);
	if (rc < 0) {
		CHECK(r == NULL && err.reason[0] != '\0');
		return rc;
	}
	uint64_t size = vault_chunk_reader_size(r);
	CHECK(size <= DOC_MAX);
	if (step == 0)
		step = 1;
	for (uint64_t off = 0; off < size; off += step) {
		memset(back + off, 0xaa, step);
		ssize_t n = vault_chunk_reader_read_at(r, off, back + off, step);
		if (n < 0) {
			CHECK(all_zero(back + off, step));
			CHECK(vault_chunk_reader_error(r)[0] != '\0');
			vault_chunk_reader_free(r);
			return (int)n;
		}
		CHECK((uint64_t)n == (step < size - off ? step : size - off));
	}
	vault_chunk_reader_free(r);
	*ret_size = size;
	return 0;
}

static void fuzz_reader(const uint8_t *data, size_t len)
{
	uint64_t size;
	if (len < 2)
		return;
	size_t step = (size_t)data[0] * 509 + 1;
	int r = read_doc(data + 1, len - 1, len - 1, step, &size);
	CHECK(r == 0 || r == -EBADMSG);
}

struct sink {
	uint8_t *buf;
	size_t len, cap;
};

static int sink_emit(void *arg, uint64_t index, const uint8_t *sealed, size_t len, bool last)
{
	struct sink *s = arg;
	(void)index;
	(void)last;
	if (s->len + len > s->cap)
		return -ENOSPC;
	memcpy(s->buf + s->len, sealed, len);
	s->len += len;
	return 0;
}

/* [repeat, piece, flip position (3 bytes), flip mask, cut] then the text. */
static void fuzz_property(const uint8_t *data, size_t len)
{
	static uint8_t sealed[DOC_MAX + 128 * SCOUT_VAULT_TAG_LEN];
	if (len < 7)
		return;
	size_t repeat = data[0] % 8 + 1, piece = (size_t)data[1] * 1031 + 1;
	size_t pos = (size_t)data[2] << 16 | (size_t)data[3] << 8 | data[4];
	uint8_t mask = data[5], cut = data[6];
	data += 7;
	len -= 7;
	size_t n = 0;
	for (size_t i = 0; i < repeat && n + len <= DOC_MAX; i++, n += len)
		memcpy(plain + n, data, len);

	struct sink s = {sealed, 0, sizeof(sealed)};
	struct vault_chunk_writer *w = NULL;
	CHECK(vault_chunk_writer_new(doc_key, JOB, sink_emit, &s, &w) == 0);
	for (size_t off = 0; off < n; off += piece)
		CHECK(vault_chunk_writer_write(w, plain + off, piece < n - off ? piece : n - off, NULL) == 0);
	CHECK(vault_chunk_writer_finish(w, NULL) == 0);
	CHECK(s.len == vault_sealed_size(n) && s.len == vault_chunk_writer_sealed(w));
	vault_chunk_writer_free(w);

	size_t sealed_len = s.len;
	bool damaged = false;
	if (mask) {
		sealed[pos % s.len] ^= mask;
		damaged = true;
	}
	if (cut & 1) {
		/* cut (to a chunk boundary when the low bits say so) */
		size_t c = cut & 2 ? (cut >> 2) * SCOUT_VAULT_CHUNK_SEALED : (size_t)(cut >> 1) * 97 + 1;
		if (c > 0 && c <= sealed_len) {
			sealed_len -= c;
			damaged = true;
		}
	}
	uint64_t size = 0;
	int r = read_doc(sealed, sealed_len, sealed_len, piece, &size);
	if (damaged) {
		CHECK(r == -EBADMSG);
	} else {
		CHECK(r == 0 && size == n && memcmp(back, plain, n) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *d = data + 1;
	size_t len = size - 1;
	switch (data[0] % 9) {
	case 0:
		fuzz_params(d, len, false);
		break;
	case 1:
		fuzz_params(d, len, true);
		break;
	case 2:
		fuzz_check(d, len, false);
		break;
	case 3:
		fuzz_check(d, len, true);
		break;
	case 4:
		fuzz_unwrap(d, len);
		break;
	case 5:
		fuzz_meta(d, len);
		break;
	case 6:
		fuzz_chunk(d, len);
		break;
	case 7:
		fuzz_reader(d, len);
		break;
	default:
		fuzz_property(d, len);
		break;
	}
	return 0;
}
