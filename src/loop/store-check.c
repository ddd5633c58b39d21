/* The store's start-up check: reads scout.mdb with pread, before LMDB maps
 * it, and walks every page LMDB could reach, because LMDB checks page
 * numbers but trusts page contents (a node offset or size changed on disk
 * makes mdb_put copy past a page buffer, or a cursor read past the map).
 *
 * Both meta pages are read and both snapshots walked: LMDB opens the newer
 * one, and the older one is what the next commit builds on if the newer is
 * lost. In each snapshot: the free-page list, the table of databases, and
 * every named database that table lists. For each page: its number inside
 * the snapshot and, when in use, inside the file; reached once only (no
 * loop, no two owners); its type right for its level in the tree; its
 * free-space bounds, every node with its key and data inside the page and
 * apart from the others; keys in order and inside the range the parent
 * page gives them; overflow pages in range and long enough; each database's
 * recorded depth, page counts and entries equal to what the walk found;
 * every page the free-page list names in range and not in use.
 *
 * The layout is LMDB 0.9's data file (format 1, see libraries/liblmdb/mdb.c)
 * as LMDB lays it out on this platform: page numbers and transaction ids are
 * size_t, fields in host byte order. scout writes plain named databases
 * only, so duplicate-key (DUPSORT) data, integer keys and other database
 * flags are damage here, not a format to follow. */
#include "store-check.h"

#include <errno.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if MDB_VERSION_MAJOR != 0 || MDB_VERSION_MINOR != 9
#error "store-check.c knows the data file of LMDB 0.9 only"
#endif

typedef size_t pgno_t; /* LMDB's pgno_t and txnid_t are its MDB_ID, a size_t */
typedef size_t txnid_t;

#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_FORMAT 1
#define P_INVALID ((pgno_t)-1)
#define NUM_METAS 2
#define MIN_PSIZE 512
#define MAX_PSIZE 0x8000 /* LMDB 0.9's MAX_PAGESIZE */
#define MAX_KEY 511      /* LMDB 0.9's MDB_MAXKEYSIZE */
#define MAX_DEPTH 32     /* LMDB's cursor stack: a deeper tree cannot be used */

/* page flags */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08

/* node flags */
#define F_BIGDATA 0x01 /* the data is on overflow pages */
#define F_SUBDATA 0x02 /* the data is a database record */
#define F_DUPDATA 0x04 /* the data holds duplicates */

/* MDB_page: the header of every page, then (branch and leaf pages) the
 * offsets of its nodes, in key order; the nodes fill the page from its end. */
struct page_hdr {
	pgno_t pgno;
	uint16_t pad;
	uint16_t flags;
	union {
		struct {
			uint16_t lower, upper; /* free space between them */
		} b;
		uint32_t pages; /* overflow pages: how many in a row */
	} u;
	uint16_t ptrs[];
};
#define PAGEHDRSZ offsetof(struct page_hdr, ptrs)

/* MDB_node: data size (leaf) or child page number (branch, with flags as
 * its top 16 bits where page numbers have 64 bits), then the key, then the
 * data: inline, or the number of its first overflow page. */
struct node {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint16_t lo, hi;
#else
	uint16_t hi, lo;
#endif
	uint16_t flags;
	uint16_t ksize;
};
#define NODESIZE sizeof(struct node)

/* MDB_db: one database's record, in a meta page or the table of databases. */
struct db {
	uint32_t pad;
	uint16_t flags;
	uint16_t depth;
	pgno_t branch_pages, leaf_pages, overflow_pages;
	size_t entries;
	pgno_t root;
};

/* MDB_meta, after the page header of pages 0 and 1. */
struct meta {
	uint32_t magic, format;
	void *address;
	size_t mapsize;
	struct db dbs[2]; /* the free-page list (its pad is the page size), the table of databases */
	pgno_t last_pg;
	txnid_t txnid;
};

_Static_assert(NODESIZE == 8, "MDB_node header");
_Static_assert(sizeof(struct db) == 8 + 5 * sizeof(size_t), "MDB_db layout");
_Static_assert(offsetof(struct meta, dbs) == 8 + sizeof(void *) + sizeof(size_t), "MDB_meta layout");

enum tree { TREE_FREE, TREE_MAIN, TREE_NAMED };

struct key {
	const uint8_t *p;
	size_t n;
};

struct extent {
	size_t off, len;
};

struct named {
	char label[80];
	struct db db;
};

struct check {
	int fd;
	uint32_t psize;
	size_t nodemax;      /* the largest node LMDB keeps inline */
	uint64_t file_pages; /* whole pages in the file */
	/* the snapshot being walked */
	const char *snap;
	txnid_t txnid;
	uint64_t npages; /* its last page + 1 */
	uint8_t *seen;   /* a bit per page of the file */
	pgno_t *freed;   /* pages its free-page list names */
	size_t nfreed, freed_cap;
	struct named *dbs; /* databases its table lists */
	size_t ndbs, dbs_cap;
	/* the tree being walked */
	enum tree tree;
	const char *label;
	uint64_t branch, leaf, overflow, entries;
	uint8_t *level[MAX_DEPTH]; /* a page buffer per level */
	struct extent *ext;        /* the nodes of one page */
	uint8_t *data;             /* a free-page list record from overflow pages */
	size_t data_cap;
	/* the verdict */
	enum scout_store_state state;
	char *why;
	size_t whylen;
};

/* Records the first problem; returns -EBADMSG to unwind the walk. */
__attribute__((format(printf, 3, 4))) static int bad(struct check *c, enum scout_store_state state, const char *fmt,
						     ...)
{
	va_list ap;
	int n;

	c->state = state;
	n = snprintf(c->why, c->whylen, "%s%s%s", c->snap ? c->snap : "", c->label ? c->label : "",
		     c->label ? ": " : "");
	if (n < 0 || (size_t)n >= c->whylen)
		return -EBADMSG;
	va_start(ap, fmt);
	vsnprintf(c->why + n, c->whylen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Reads len bytes at off; -ENODATA when the file ends first. */
static int read_at(struct check *c, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(c->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Takes pages [pgno, pgno + count) for the tree being walked. */
static int claim(struct check *c, pgno_t pgno, uint64_t count)
{
	if (count == 0)
		return 0;
	if (pgno < NUM_METAS || pgno >= c->npages || count > c->npages - pgno)
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu%s lies outside the store's %llu pages",
			   (unsigned long long)pgno, count > 1 ? " and the pages after it" : "",
			   (unsigned long long)c->npages);
	if (count > c->file_pages || pgno > c->file_pages - count)
		return bad(c, SCOUT_STORE_TRUNCATED, "page %llu lies past the end of the file (%llu pages)",
			   (unsigned long long)(pgno + count - 1), (unsigned long long)c->file_pages);
	for (uint64_t p = pgno; p < pgno + count; p++) {
		if (c->seen[p / 8] & (1u << (p % 8)))
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu is reached twice (a loop, or two owners)",
				   (unsigned long long)p);
		c->seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	return 0;
}

static int read_page(struct check *c, pgno_t pgno, uint8_t *buf, size_t len)
{
	int r = read_at(c, buf, len, (uint64_t)pgno * c->psize);

	if (r == -ENODATA)
		return bad(c, SCOUT_STORE_TRUNCATED, "page %llu lies past the end of the file",
			   (unsigned long long)pgno);
	return r;
}

static size_t node_offset(const uint8_t *page, unsigned i)
{
	uint16_t off;

	memcpy(&off, page + PAGEHDRSZ + 2 * i, sizeof(off));
	return off;
}

/* Node i of a page whose node offsets page_nodes() has checked. */
static struct node node_at(const uint8_t *page, unsigned i, size_t *ret_off)
{
	struct node nd;

	*ret_off = node_offset(page, i);
	memcpy(&nd, page + *ret_off, sizeof(nd));
	return nd;
}

static struct key key_at(const uint8_t *page, unsigned i)
{
	size_t off;
	struct node nd = node_at(page, i, &off);

	return (struct key){page + off + NODESIZE, nd.ksize};
}

/* LMDB's orders: the free-page list by transaction id (a txnid_t), every
 * other database bytewise, a shorter key before its extensions. */
static int compare(const struct check *c, struct key a, struct key b)
{
	int r;

	if (c->tree == TREE_FREE) {
		txnid_t x, y;
		memcpy(&x, a.p, sizeof(x));
		memcpy(&y, b.p, sizeof(y));
		return (x > y) - (x < y);
	}
	r = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
	return r ? r : (a.n > b.n) - (a.n < b.n);
}

static int by_offset(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;
	return (x->off > y->off) - (x->off < y->off);
}

/* The overflow pages of record i on page from: at pgno, enough of them for
 * dsize bytes. With read_data, the data lands in c->data. */
static int overflow(struct check *c, pgno_t from, unsigned i, pgno_t pgno, size_t dsize, bool read_data)
{
	struct page_hdr h;
	uint64_t need = (PAGEHDRSZ - 1 + (uint64_t)dsize) / c->psize + 1;
	int r = claim(c, pgno, 1);

	if (r < 0)
		return r;
	r = read_page(c, pgno, (uint8_t *)&h, PAGEHDRSZ);
	if (r < 0)
		return r;
	if (h.pgno != pgno || h.flags != P_OVERFLOW || h.u.pages < need)
		return bad(
			c, SCOUT_STORE_DAMAGED,
			"page %llu, record %u: its %zu bytes of data should fill %llu overflow pages from page %llu, "
			"which is not such a run",
			(unsigned long long)from, i, dsize, (unsigned long long)need, (unsigned long long)pgno);
	r = claim(c, pgno + 1, h.u.pages - 1);
	if (r < 0)
		return r;
	c->overflow += h.u.pages;
	if (!read_data)
		return 0;
	if (dsize > c->data_cap) {
		uint8_t *d = realloc(c->data, dsize);
		if (!d)
			return -ENOMEM;
		c->data = d;
		c->data_cap = dsize;
	}
	r = read_at(c, c->data, dsize, (uint64_t)pgno * c->psize + PAGEHDRSZ);
	if (r == -ENODATA)
		return bad(c, SCOUT_STORE_TRUNCATED, "page %llu lies past the end of the file",
			   (unsigned long long)pgno);
	return r;
}

/* A record of the free-page list: transaction id -> the pages it freed, as
 * an LMDB IDL: a count, then that many page numbers, highest first. The
 * record may have room for more than it counts. */
static int free_record(struct check *c, pgno_t from, unsigned i, struct key k, const uint8_t *data, size_t dsize)
{
	txnid_t id;
	pgno_t n, prev = 0;

	memcpy(&id, k.p, sizeof(id));
	if (id > c->txnid)
		return bad(c, SCOUT_STORE_DAMAGED,
			   "page %llu, record %u: names transaction %llu, after the snapshot's %llu",
			   (unsigned long long)from, i, (unsigned long long)id, (unsigned long long)c->txnid);
	if (dsize < sizeof(pgno_t) || dsize % sizeof(pgno_t))
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu, record %u: a page list of %zu bytes",
			   (unsigned long long)from, i, dsize);
	memcpy(&n, data, sizeof(n));
	if (n > dsize / sizeof(pgno_t) - 1)
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu, record %u: counts %llu pages in room for %zu",
			   (unsigned long long)from, i, (unsigned long long)n, dsize / sizeof(pgno_t) - 1);
	if (n > c->freed_cap - c->nfreed) {
		size_t cap = (c->nfreed + n) * 2;
		pgno_t *f = realloc(c->freed, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		c->freed = f;
		c->freed_cap = cap;
	}
	for (pgno_t j = 1; j <= n; j++) {
		pgno_t p;
		memcpy(&p, data + j * sizeof(pgno_t), sizeof(p));
		if (p < NUM_METAS || p >= c->npages || (j > 1 && p >= prev))
			return bad(c, SCOUT_STORE_DAMAGED,
				   "page %llu, record %u: lists page %llu (out of range or out of order)",
				   (unsigned long long)from, i, (unsigned long long)p);
		c->freed[c->nfreed++] = p;
		prev = p;
	}
	return 0;
}

/* A record of the table of databases: name -> its MDB_db. */
static int add_named(struct check *c, struct key name, const uint8_t *data)
{
	struct named *d;
	size_t n;

	if (c->ndbs == c->dbs_cap) {
		size_t cap = c->dbs_cap ? c->dbs_cap * 2 : 8;
		d = realloc(c->dbs, cap * sizeof(*d));
		if (!d)
			return -ENOMEM;
		c->dbs = d;
		c->dbs_cap = cap;
	}
	d = &c->dbs[c->ndbs++];
	memcpy(&d->db, data, sizeof(d->db));
	/* the name comes from the file: escaped for the log, and cut short */
	n = (size_t)snprintf(d->label, sizeof(d->label), "database '");
	for (size_t j = 0; j < name.n; j++) {
		uint8_t ch = name.p[j];
		if (n + 9 >= sizeof(d->label)) {
			n += (size_t)snprintf(d->label + n, sizeof(d->label) - n, "...");
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
			d->label[n++] = (char)ch;
		else
			n += (size_t)snprintf(d->label + n, sizeof(d->label) - n, "\\x%02x", ch);
	}
	snprintf(d->label + n, sizeof(d->label) - n, "'");
	return 0;
}

/* The records of a leaf, by what its tree holds. */
static int leaf_records(struct check *c, pgno_t pgno, const uint8_t *page, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		size_t off;
		struct node nd = node_at(page, i, &off);
		size_t dsize = nd.lo | (size_t)nd.hi << 16;
		const uint8_t *data = page + off + NODESIZE + nd.ksize;
		struct key k = {page + off + NODESIZE, nd.ksize};
		pgno_t ov;
		int r = 0;

		/* the table holds databases only; the others plain records */
		if (c->tree == TREE_MAIN ? nd.flags != F_SUBDATA : (nd.flags & ~F_BIGDATA) != 0)
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu, record %u: flags 0x%x (%s)",
				   (unsigned long long)pgno, i, nd.flags,
				   c->tree == TREE_MAIN ? "not a database"
							: "duplicates or a sub-database, which scout never writes");
		if (nd.flags & F_BIGDATA) {
			memcpy(&ov, data, sizeof(ov));
			r = overflow(c, pgno, i, ov, dsize, c->tree == TREE_FREE);
			if (r < 0)
				return r;
			data = c->data;
		}
		if (c->tree == TREE_FREE) {
			r = free_record(c, pgno, i, k, data, dsize);
		} else if (c->tree == TREE_MAIN) {
			if (dsize != sizeof(struct db))
				return bad(c, SCOUT_STORE_DAMAGED,
					   "page %llu, record %u: a database record of %zu bytes",
					   (unsigned long long)pgno, i, dsize);
			r = add_named(c, k, data);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Checks the nodes of a branch or leaf page: each inside the page, none
 * over another, keys of the right size, in order and inside [lo, hi). */
static int page_nodes(struct check *c, pgno_t pgno, const uint8_t *page, unsigned n, bool leaf, const struct key *lo,
		      const struct key *hi)
{
	struct page_hdr h;

	memcpy(&h, page, PAGEHDRSZ);
	for (unsigned i = 0; i < n; i++) {
		size_t off = node_offset(page, i), size, dsize;
		bool keyed = leaf || i > 0; /* a branch's first key is not used */
		struct node nd;

		if (off % 2 || off < h.u.b.upper || off > c->psize - NODESIZE)
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: node %u at offset %zu, outside the node area",
				   (unsigned long long)pgno, i, off);
		nd = node_at(page, i, &off);
		dsize = nd.lo | (size_t)nd.hi << 16;
		if (nd.ksize > MAX_KEY || (keyed && c->tree == TREE_FREE && nd.ksize != sizeof(txnid_t)) ||
		    (keyed && nd.ksize == 0))
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: node %u has a key of %u bytes",
				   (unsigned long long)pgno, i, nd.ksize);
		size = NODESIZE + nd.ksize;
		if (leaf) {
			if (nd.flags & F_BIGDATA)
				size += sizeof(pgno_t);
			else if (size + dsize > c->nodemax)
				return bad(c, SCOUT_STORE_DAMAGED,
					   "page %llu: node %u holds %zu bytes, more than fit a node",
					   (unsigned long long)pgno, i, dsize);
			else
				size += dsize;
		}
		if (size > c->psize - off)
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: node %u runs past the end of the page",
				   (unsigned long long)pgno, i);
		c->ext[i] = (struct extent){off, size};
		if (!keyed)
			continue;
		struct key k = key_at(page, i);
		if ((i > (leaf ? 0u : 1u) && compare(c, key_at(page, i - 1), k) >= 0) ||
		    (lo && compare(c, k, *lo) < 0) || (hi && compare(c, k, *hi) >= 0))
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: node %u is out of key order",
				   (unsigned long long)pgno, i);
	}
	qsort(c->ext, n, sizeof(*c->ext), by_offset);
	for (unsigned i = 1; i < n; i++)
		if (c->ext[i].off < c->ext[i - 1].off + c->ext[i - 1].len)
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: two nodes overlap at offset %zu",
				   (unsigned long long)pgno, c->ext[i].off);
	return 0;
}

/* Page pgno at level lvl (0: the root) of a tree of the given depth; its
 * keys must lie in [lo, hi) (NULL: unbounded). */
static int walk_page(struct check *c, pgno_t pgno, unsigned lvl, unsigned depth, const struct key *lo,
		     const struct key *hi)
{
	bool leaf = lvl + 1 == depth;
	struct page_hdr h;
	uint8_t *page;
	unsigned n;
	int r;

	if (!c->level[lvl] && !(c->level[lvl] = malloc(c->psize)))
		return -ENOMEM;
	page = c->level[lvl];
	r = claim(c, pgno, 1);
	if (r == 0)
		r = read_page(c, pgno, page, c->psize);
	if (r < 0)
		return r;
	memcpy(&h, page, PAGEHDRSZ);
	if (h.pgno != pgno)
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu calls itself page %llu", (unsigned long long)pgno,
			   (unsigned long long)h.pgno);
	if (h.flags != (leaf ? P_LEAF : P_BRANCH))
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu has flags 0x%x where level %u of %u needs a %s page",
			   (unsigned long long)pgno, h.flags, lvl + 1, depth, leaf ? "leaf" : "branch");
	if (h.u.b.lower < PAGEHDRSZ || (h.u.b.lower - PAGEHDRSZ) % 2 || h.u.b.lower > h.u.b.upper ||
	    h.u.b.upper > c->psize)
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu: free space from %u to %u does not fit the page",
			   (unsigned long long)pgno, h.u.b.lower, h.u.b.upper);
	n = (h.u.b.lower - (unsigned)PAGEHDRSZ) / 2;
	/* LMDB asserts a branch has two children (the free-page list's may
	 * have one while it is rebalanced) and leaves no empty page behind */
	if (n < (leaf ? 1u : c->tree == TREE_FREE ? 1u : 2u))
		return bad(c, SCOUT_STORE_DAMAGED, "page %llu has %u nodes", (unsigned long long)pgno, n);
	r = page_nodes(c, pgno, page, n, leaf, lo, hi);
	if (r < 0)
		return r;
	if (leaf) {
		c->leaf++;
		c->entries += n;
		return leaf_records(c, pgno, page, n);
	}
	c->branch++;
	for (unsigned i = 0; i < n; i++) {
		size_t off;
		struct node nd = node_at(page, i, &off);
		pgno_t child = nd.lo | (pgno_t)nd.hi << 16;
		struct key klo, khi;

		if (sizeof(pgno_t) > 4)
			child |= (pgno_t)nd.flags << 16 << 16;
		else if (nd.flags)
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu: node %u has flags 0x%x",
				   (unsigned long long)pgno, i, nd.flags);
		if (i > 0)
			klo = key_at(page, i);
		if (i + 1 < n)
			khi = key_at(page, i + 1);
		r = walk_page(c, child, lvl + 1, depth, i > 0 ? &klo : lo, i + 1 < n ? &khi : hi);
		if (r < 0)
			return r;
	}
	return 0;
}

static int walk_tree(struct check *c, enum tree tree, const char *label, const struct db *db)
{
	int r;

	c->tree = tree;
	c->label = label;
	c->branch = c->leaf = c->overflow = c->entries = 0;
	if (tree == TREE_FREE
		    ? !(db->flags & MDB_INTEGERKEY) || (db->flags & (MDB_REVERSEKEY | MDB_DUPSORT | MDB_DUPFIXED |
								     MDB_INTEGERDUP | MDB_REVERSEDUP))
		    : db->flags != 0)
		return bad(c, SCOUT_STORE_DAMAGED, "flags 0x%x, which scout never sets", db->flags);
	if (db->root == P_INVALID) {
		if (db->depth || db->entries || db->branch_pages || db->leaf_pages || db->overflow_pages)
			return bad(c, SCOUT_STORE_DAMAGED, "empty, yet it counts %llu entries on %u levels",
				   (unsigned long long)db->entries, db->depth);
		return 0;
	}
	if (db->depth == 0 || db->depth > MAX_DEPTH)
		return bad(c, SCOUT_STORE_DAMAGED, "a tree of %u levels", db->depth);
	r = walk_page(c, db->root, 0, db->depth, NULL, NULL);
	if (r < 0)
		return r;
	if (c->branch != db->branch_pages || c->leaf != db->leaf_pages || c->overflow != db->overflow_pages ||
	    c->entries != db->entries)
		return bad(c, SCOUT_STORE_DAMAGED,
			   "counts %llu entries on %llu branch, %llu leaf and %llu overflow pages; holds %llu on %llu, "
			   "%llu and %llu",
			   (unsigned long long)db->entries, (unsigned long long)db->branch_pages,
			   (unsigned long long)db->leaf_pages, (unsigned long long)db->overflow_pages,
			   (unsigned long long)c->entries, (unsigned long long)c->branch, (unsigned long long)c->leaf,
			   (unsigned long long)c->overflow);
	return 0;
}

static int by_pgno(const void *a, const void *b)
{
	const pgno_t *x = a, *y = b;
	return (*x > *y) - (*x < *y);
}

/* One snapshot: every tree, then the free pages against the pages in use. */
static int walk_snapshot(struct check *c, const struct meta *m, const char *snap)
{
	uint64_t past_end = 0;
	int r;

	c->snap = snap;
	c->label = NULL;
	c->txnid = m->txnid;
	c->nfreed = c->ndbs = 0;
	if (m->last_pg < NUM_METAS - 1 || m->last_pg >= SIZE_MAX / c->psize)
		return bad(c, SCOUT_STORE_DAMAGED, "the meta page gives %llu as the last page",
			   (unsigned long long)m->last_pg);
	c->npages = (uint64_t)m->last_pg + 1;
	memset(c->seen, 0, (size_t)(c->file_pages + 7) / 8);
	r = walk_tree(c, TREE_FREE, "the free-page list", &m->dbs[0]);
	if (r == 0)
		r = walk_tree(c, TREE_MAIN, "the table of databases", &m->dbs[1]);
	for (size_t i = 0; r == 0 && i < c->ndbs; i++)
		r = walk_tree(c, TREE_NAMED, c->dbs[i].label, &c->dbs[i].db);
	if (r < 0)
		return r;

	/* A page LMDB hands out again must not be in use; the file may end
	 * early only by pages that are free (allocated, then freed unwritten). */
	c->label = "the free-page list";
	if (c->nfreed)
		qsort(c->freed, c->nfreed, sizeof(*c->freed), by_pgno);
	for (size_t i = 0; i < c->nfreed; i++) {
		pgno_t p = c->freed[i];
		if (i > 0 && p == c->freed[i - 1])
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu is listed twice", (unsigned long long)p);
		if (p >= c->file_pages)
			past_end++;
		else if (c->seen[p / 8] & (1u << (p % 8)))
			return bad(c, SCOUT_STORE_DAMAGED, "page %llu is listed as free and is in use",
				   (unsigned long long)p);
	}
	c->label = NULL;
	if (c->npages > c->file_pages && past_end != c->npages - c->file_pages)
		return bad(c, SCOUT_STORE_TRUNCATED, "the file holds %llu pages, the store %llu",
			   (unsigned long long)c->file_pages, (unsigned long long)c->npages);
	return 0;
}

/* Meta page i: an LMDB header, the format, the page size. */
static int read_meta(struct check *c, unsigned i, uint64_t size, struct meta *ret)
{
	uint8_t buf[PAGEHDRSZ + sizeof(struct meta)];
	uint64_t off = (uint64_t)i * c->psize;
	struct page_hdr h;
	size_t len = sizeof(buf);
	int r;

	if (size - off < len)
		len = (size_t)(size - off);
	r = read_at(c, buf, len, off);
	if (r < 0)
		return r == -ENODATA ? bad(c, SCOUT_STORE_TRUNCATED, "the file changed while being read") : r;
	memset(buf + len, 0, sizeof(buf) - len); /* a short file: what is missing reads as 0 */
	memcpy(&h, buf, PAGEHDRSZ);
	memcpy(ret, buf + PAGEHDRSZ, sizeof(*ret));
	if (ret->magic != LMDB_MAGIC)
		return bad(c, i ? SCOUT_STORE_DAMAGED : SCOUT_STORE_FOREIGN, "%s",
			   i ? "meta page 1 is not an LMDB meta page" : "no LMDB header");
	if (len < sizeof(buf))
		return bad(c, SCOUT_STORE_TRUNCATED, "%llu bytes, shorter than its two header pages",
			   (unsigned long long)size);
	if (ret->format != LMDB_FORMAT)
		return bad(c, i ? SCOUT_STORE_DAMAGED : SCOUT_STORE_FOREIGN, "LMDB data format %u, not %u", ret->format,
			   LMDB_FORMAT);
	if (h.pgno != i || h.flags != P_META)
		return bad(c, SCOUT_STORE_DAMAGED, "meta page %u has the header of page %llu with flags 0x%x", i,
			   (unsigned long long)h.pgno, h.flags);
	if (i == 0) {
		uint32_t ps = ret->dbs[0].pad;
		if (ps < MIN_PSIZE || ps > MAX_PSIZE || (ps & (ps - 1)))
			return bad(c, SCOUT_STORE_DAMAGED, "meta page 0 gives a page size of %u", ps);
		c->psize = ps;
	} else if (ret->dbs[0].pad != c->psize) {
		return bad(c, SCOUT_STORE_DAMAGED, "the meta pages give page sizes %u and %u", c->psize,
			   ret->dbs[0].pad);
	}
	return 0;
}

int scout_store_check(int fd, enum scout_store_state *ret_state, char *why, size_t whylen)
{
	struct check c = {.fd = fd, .why = why, .whylen = whylen, .state = SCOUT_STORE_SOUND};
	struct meta m[NUM_METAS];
	struct stat st;
	unsigned newer;
	int r;

	if (whylen)
		why[0] = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0) {
		r = bad(&c, SCOUT_STORE_EMPTY, "0 bytes");
		goto out;
	}
	r = read_meta(&c, 0, (uint64_t)st.st_size, &m[0]);
	if (r == 0 && (uint64_t)st.st_size < (uint64_t)NUM_METAS * c.psize)
		r = bad(&c, SCOUT_STORE_TRUNCATED, "%llu bytes, shorter than its two header pages of %u bytes",
			(unsigned long long)st.st_size, c.psize);
	if (r == 0)
		r = read_meta(&c, 1, (uint64_t)st.st_size, &m[1]);
	if (r < 0)
		goto out;
	/* Commit n writes meta page n % 2: the two hold consecutive commits,
	 * or both 0 in a store never written. LMDB opens the newer. */
	newer = m[1].txnid > m[0].txnid;
	if (m[newer].txnid - m[!newer].txnid != (m[newer].txnid != 0) || m[newer].txnid % 2 != newer) {
		r = bad(&c, SCOUT_STORE_DAMAGED, "the meta pages hold commits %llu and %llu",
			(unsigned long long)m[0].txnid, (unsigned long long)m[1].txnid);
		goto out;
	}
	c.file_pages = (uint64_t)st.st_size / c.psize;
	c.nodemax = (((c.psize - PAGEHDRSZ) / 2) & ~(size_t)1) - sizeof(uint16_t);
	c.seen = malloc((size_t)(c.file_pages + 7) / 8);
	c.ext = malloc(c.psize / 2 * sizeof(*c.ext));
	if (!c.seen || !c.ext) {
		r = -ENOMEM;
		goto out;
	}
	r = walk_snapshot(&c, &m[newer], "");
	if (r == 0)
		r = walk_snapshot(&c, &m[!newer], "the older snapshot: ");
out:
	free(c.seen);
	free(c.ext);
	free(c.freed);
	free(c.dbs);
	free(c.data);
	for (unsigned i = 0; i < MAX_DEPTH; i++)
		free(c.level[i]);
	if (r == -EBADMSG || r == 0) {
		*ret_state = c.state;
		return 0;
	}
	return r;
}
