/* An intrusive doubly-linked list (after libuv's QUEUE and the Linux
 * kernel's list_head). Use it whenever objects are kept in an order and
 * leave from anywhere: requests waiting for a slot, connections, readers,
 * waiters. The link lives inside the object, so linking and unlinking
 * allocate nothing and cost O(1), and an object finds its own place to
 * unlink itself. For objects kept by deadline use timer.h instead; for a
 * lookup by key, a hash.
 *
 * One struct serves as both the head and the link. A head is circular and
 * points to itself when empty; a link that was initialised or removed also
 * points to itself, so scout_list_linked() tells whether it is on a list.
 * Nothing here is thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct scout_list {
	struct scout_list *prev, *next;
};

#define scout_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define scout_list_entry(ptr, type, member) scout_container_of(ptr, type, member)

/* static struct scout_list l = SCOUT_LIST_INIT(l); */
#define SCOUT_LIST_INIT(name)    \
	{                        \
		&(name), &(name) \
	}

static inline void scout_list_init(struct scout_list *l)
{
	l->prev = l->next = l;
}

static inline bool scout_list_empty(const struct scout_list *l)
{
	return l->next == l;
}

/* Whether a link (initialised with scout_list_init) is on a list. */
static inline bool scout_list_linked(const struct scout_list *n)
{
	return n->next != n && n->next != NULL;
}

static inline void scout_list_insert_after(struct scout_list *at, struct scout_list *n)
{
	n->prev = at;
	n->next = at->next;
	at->next->prev = n;
	at->next = n;
}

static inline void scout_list_insert_head(struct scout_list *l, struct scout_list *n)
{
	scout_list_insert_after(l, n);
}

static inline void scout_list_insert_tail(struct scout_list *l, struct scout_list *n)
{
	scout_list_insert_after(l->prev, n);
}

/* Unlinks n from whatever list holds it and leaves it unlinked; removing an
 * unlinked node does nothing. */
static inline void scout_list_remove(struct scout_list *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* The first or last link, or NULL when empty. */
static inline struct scout_list *scout_list_first(const struct scout_list *l)
{
	return l->next == l ? NULL : l->next;
}

static inline struct scout_list *scout_list_last(const struct scout_list *l)
{
	return l->prev == l ? NULL : l->prev;
}

/* The first entry (or NULL) as a pointer to its container. */
#define scout_list_first_entry(l, type, member) \
	(scout_list_empty(l) ? (type *)NULL : scout_list_entry((l)->next, type, member))

/* Walks the entries of list l in order; pos must not be removed inside the
 * body (use the _safe form for that). */
#define scout_list_foreach(pos, l, member)                                                     \
	for (pos = scout_list_entry((l)->next, __typeof__(*pos), member); &pos->member != (l); \
	     pos = scout_list_entry(pos->member.next, __typeof__(*pos), member))

/* The same, where the body may remove (and free) pos; tmp holds the next.
 * Removing an entry other than pos inside the body is not safe. */
#define scout_list_foreach_safe(pos, tmp, l, member)                            \
	for (pos = scout_list_entry((l)->next, __typeof__(*pos), member),       \
	    tmp = scout_list_entry(pos->member.next, __typeof__(*pos), member); \
	     &pos->member != (l); pos = tmp, tmp = scout_list_entry(tmp->member.next, __typeof__(*pos), member))
