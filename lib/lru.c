/* The LRU cache: a chained hash table of entries, resized as it
 * grows, plus three intrusive circular lists: LRU order over all entries,
 * and per owner the entries of that owner (found through a second, small
 * hash table of owner records). Every operation is O(1) but drop_owner,
 * which is O(entries of that owner). */
#include "lib/lru.h"

#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hash.h"

/* Buckets of a new table; tables double when they hold more nodes than
 * buckets, so chains stay about one long. */
#define LRU_TABLE_INITIAL 16
/* A chain this long happens by chance with a probability of about 1e-14
 * per bucket at load factor 1, so reaching it means colliding keys: the
 * new entry is not stored rather than letting lookups get slower. */
#define LRU_CHAIN_MAX 16
/* A value may take at most this fraction of the cache, so that one big
 * result cannot flush everything else. */
#define LRU_VALUE_DIVISOR 8

#define LRU_CONTAINER(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct lru_link {
	struct lru_link *prev, *next;
};

struct lru_hnode {
	struct lru_hnode *next;
	uint64_t hash;
};

struct lru_table {
	struct lru_hnode **buckets;
	size_t mask; /* bucket count - 1, a power of two */
	size_t count;
};

struct lru_owner {
	struct lru_hnode hnode;
	int64_t id;
	struct lru_link entries; /* list head of cache_entry.by_owner */
	size_t n;		 /* the record goes when this reaches 0 */
};

struct lru_entry {
	struct lru_hnode hnode;
	struct lru_link lru;
	struct lru_link by_owner;
	struct lru_owner *owner;
	uint64_t gen;
	int64_t stored_ms;
	size_t klen, vlen;
	unsigned char data[]; /* key, value, NUL */
};

struct kr_lru {
	size_t max_bytes;
	struct lru_table entries, owners;
	struct lru_link lru; /* next: least recently used; prev: most */
	struct kr_lru_stats stats;
};

/* The overhead constant must cover what an entry really costs: header and
 * NUL, allocator slack (16 bytes for each of the two blocks), two bucket
 * pointers in each table (load factor down to 1/2), and an owner record of its
 * own. */
_Static_assert(sizeof(struct lru_entry) + 1 + sizeof(struct lru_owner) + 32 +
			       4 * sizeof(void *) <=
		       KR_LRU_ENTRY_OVERHEAD,
	       "KR_LRU_ENTRY_OVERHEAD too small");

/* The splitmix64 finaliser: FNV-1a's low bits, which pick the bucket,
 * depend only on the low bits of each byte; this spreads every bit. */
static uint64_t
lru_mix(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Keys derive from client input, and FNV-1a is not keyed: someone could
 * choose colliding keys. LRU_CHAIN_MAX bounds what that costs. */
static uint64_t
lru_key_hash(const void *key, size_t klen)
{
	return lru_mix(kr_hash_fnv1a64(key, klen));
}

static uint64_t
lru_owner_hash(int64_t id)
{
	return lru_mix((uint64_t)id);
}

static void
link_init(struct lru_link *head)
{
	head->prev = head;
	head->next = head;
}

static void
link_remove(struct lru_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

/* Appends l at the end of the list headed by head. */
static void
link_append(struct lru_link *head, struct lru_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void
table_init(struct lru_table *t)
{
	t->buckets = kr_xcalloc(LRU_TABLE_INITIAL, sizeof(struct lru_hnode *));
	t->mask = LRU_TABLE_INITIAL - 1;
	t->count = 0;
}

static struct lru_hnode **
table_bucket(const struct lru_table *t, uint64_t hash)
{
	return &t->buckets[hash & t->mask];
}

/* Doubles the bucket count. On allocation failure the table keeps its
 * size: chains get longer, lookups stay correct. */
static void
table_grow(struct lru_table *t)
{
	size_t n = (t->mask + 1) * 2;
	struct lru_hnode **b = calloc(n, sizeof(struct lru_hnode *));

	if (b == NULL)
		return;
	for (size_t i = 0; i <= t->mask; i++) {
		struct lru_hnode *h = t->buckets[i], *next;

		for (; h != NULL; h = next) {
			next = h->next;
			h->next = b[h->hash & (n - 1)];
			b[h->hash & (n - 1)] = h;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->mask = n - 1;
}

static void
table_insert(struct lru_table *t, struct lru_hnode *h)
{
	struct lru_hnode **b = table_bucket(t, h->hash);

	h->next = *b;
	*b = h;
	if (++t->count > t->mask + 1)
		table_grow(t);
}

/* Chains are short (LRU_CHAIN_MAX), so a singly linked one will do. */
static void
table_remove(struct lru_table *t, struct lru_hnode *h)
{
	struct lru_hnode **pp = table_bucket(t, h->hash);

	while (*pp != h) {
		kr_assert(*pp != NULL);
		pp = &(*pp)->next;
	}
	*pp = h->next;
	t->count--;
}

static size_t
table_chain_len(const struct lru_table *t, uint64_t hash)
{
	size_t n = 0;

	for (const struct lru_hnode *h = *table_bucket(t, hash); h != NULL;
	     h = h->next)
		n++;
	return n;
}

static size_t
lru_entry_cost(size_t klen, size_t vlen)
{
	return klen + vlen + KR_LRU_ENTRY_OVERHEAD;
}

static const unsigned char *
lru_entry_value(const struct lru_entry *e)
{
	return e->data + e->klen;
}

static struct lru_entry *
lru_find(const struct kr_lru *c, const void *key, size_t klen, uint64_t hash)
{
	for (struct lru_hnode *h = *table_bucket(&c->entries, hash); h != NULL;
	     h = h->next) {
		struct lru_entry *e = LRU_CONTAINER(h, struct lru_entry, hnode);

		if (h->hash == hash && e->klen == klen &&
		    memcmp(e->data, key, klen) == 0)
			return e;
	}
	return NULL;
}

static struct lru_owner *
lru_owner_find(const struct kr_lru *c, int64_t id)
{
	uint64_t hash = lru_owner_hash(id);

	for (struct lru_hnode *h = *table_bucket(&c->owners, hash); h != NULL;
	     h = h->next) {
		struct lru_owner *o = LRU_CONTAINER(h, struct lru_owner, hnode);

		if (o->id == id)
			return o;
	}
	return NULL;
}

/* The owner's record, created if needed; NULL if memory is short. */
static struct lru_owner *
lru_owner_get(struct kr_lru *c, int64_t id)
{
	struct lru_owner *o = lru_owner_find(c, id);

	if (o != NULL)
		return o;
	o = malloc(sizeof(*o));
	if (o == NULL)
		return NULL;
	o->hnode.hash = lru_owner_hash(id);
	o->id = id;
	link_init(&o->entries);
	o->n = 0;
	table_insert(&c->owners, &o->hnode);
	return o;
}

static void
lru_remove(struct kr_lru *c, struct lru_entry *e)
{
	struct lru_owner *o = e->owner;

	table_remove(&c->entries, &e->hnode);
	link_remove(&e->lru);
	link_remove(&e->by_owner);
	if (--o->n == 0) {
		table_remove(&c->owners, &o->hnode);
		free(o);
	}
	c->stats.bytes -= lru_entry_cost(e->klen, e->vlen);
	c->stats.entries--;
	free(e);
}

struct kr_lru *
kr_lru_create(size_t max_bytes)
{
	struct kr_lru *c = kr_xcalloc(1, sizeof(*c));

	c->max_bytes = max_bytes;
	table_init(&c->entries);
	table_init(&c->owners);
	link_init(&c->lru);
	return c;
}

void
kr_lru_destroy(struct kr_lru **cp)
{
	struct kr_lru *c;

	if (cp == NULL || *cp == NULL)
		return;
	c = *cp;
	while (c->lru.next != &c->lru)
		lru_remove(c,
			   LRU_CONTAINER(c->lru.next, struct lru_entry, lru));
	free(c->entries.buckets);
	free(c->owners.buckets);
	free(c);
	*cp = NULL;
}

/* Unsigned arithmetic: no overflow whatever the caller's clock says. A
 * clock behind the stamp means no time has passed. */
static bool
lru_expired(const struct lru_entry *e, int64_t now_ms, int64_t ttl_ms)
{
	if (ttl_ms <= 0 || now_ms < e->stored_ms)
		return false;
	return (uint64_t)now_ms - (uint64_t)e->stored_ms >= (uint64_t)ttl_ms;
}

bool
kr_lru_get(struct kr_lru *c, const void *key, size_t klen, uint64_t gen,
	   int64_t now_ms, int64_t ttl_ms, const char **val_r, size_t *vlen_r)
{
	struct lru_entry *e = NULL;

	*val_r = NULL;
	*vlen_r = 0;
	if (c->max_bytes > 0 && klen <= KR_LRU_KEY_MAX)
		e = lru_find(c, key, klen, lru_key_hash(key, klen));
	if (e == NULL) {
		c->stats.misses++;
		return false;
	}
	if (e->gen != gen || lru_expired(e, now_ms, ttl_ms)) {
		/* It can never hit again: generations only move forward. */
		lru_remove(c, e);
		c->stats.stale++;
		c->stats.misses++;
		return false;
	}
	link_remove(&e->lru);
	link_append(&c->lru, &e->lru);
	c->stats.hits++;
	*val_r = (const char *)lru_entry_value(e);
	*vlen_r = e->vlen;
	return true;
}

static void
lru_make_room(struct kr_lru *c, size_t cost)
{
	while (cost > c->max_bytes - c->stats.bytes) {
		kr_assert(c->lru.next != &c->lru);
		lru_remove(c,
			   LRU_CONTAINER(c->lru.next, struct lru_entry, lru));
		c->stats.evictions++;
	}
}

/* A copy of key and value, NUL-terminated so that callers may treat the
 * JSON text as a string; NULL if memory is short. */
static struct lru_entry *
lru_entry_new(const void *key, size_t klen, const void *val, size_t vlen)
{
	struct lru_entry *e = malloc(sizeof(*e) + klen + vlen + 1);

	if (e == NULL)
		return NULL;
	e->klen = klen;
	e->vlen = vlen;
	memcpy(e->data, key, klen);
	if (vlen > 0)
		memcpy(e->data + klen, val, vlen);
	e->data[klen + vlen] = '\0';
	return e;
}

/* Whether a value of vlen under a key of klen may be stored; counts
 * too_big. */
static bool
lru_admit(struct kr_lru *c, size_t klen, size_t vlen)
{
	if (vlen > c->max_bytes / LRU_VALUE_DIVISOR ||
	    lru_entry_cost(klen, vlen) > c->max_bytes) {
		c->stats.too_big++;
		return false;
	}
	return true;
}

void
kr_lru_put(struct kr_lru *c, int64_t owner, const void *key, size_t klen,
	   const void *val, size_t vlen, uint64_t gen, int64_t now_ms)
{
	struct lru_entry *e, *old;
	struct lru_owner *o;
	uint64_t hash;

	if (c->max_bytes == 0)
		return;
	if (klen > KR_LRU_KEY_MAX) {
		c->stats.too_big++;
		return;
	}
	hash = lru_key_hash(key, klen);
	/* The old value predates the caller's: it goes even if the new one
	 * cannot be stored. */
	old = lru_find(c, key, klen, hash);
	if (old != NULL)
		lru_remove(c, old);
	if (!lru_admit(c, klen, vlen) ||
	    table_chain_len(&c->entries, hash) >= LRU_CHAIN_MAX)
		return;
	e = lru_entry_new(key, klen, val, vlen);
	if (e == NULL)
		return;
	/* Room first: eviction may free the owner's record, so the record is
	 * looked up afterwards. */
	lru_make_room(c, lru_entry_cost(klen, vlen));
	o = lru_owner_get(c, owner);
	if (o == NULL) {
		free(e);
		return;
	}
	e->hnode.hash = hash;
	e->owner = o;
	e->gen = gen;
	e->stored_ms = now_ms;
	table_insert(&c->entries, &e->hnode);
	link_append(&c->lru, &e->lru);
	link_append(&o->entries, &e->by_owner);
	o->n++;
	c->stats.bytes += lru_entry_cost(klen, vlen);
	c->stats.entries++;
}

void
kr_lru_drop_owner(struct kr_lru *c, int64_t owner)
{
	struct lru_owner *o = lru_owner_find(c, owner);

	/* The record is freed with its last entry: look it up again each
	 * time rather than test a list that may be gone. O(1) per entry. */
	for (; o != NULL; o = lru_owner_find(c, owner))
		lru_remove(c, LRU_CONTAINER(o->entries.next, struct lru_entry,
					    by_owner));
}

void
kr_lru_get_stats(const struct kr_lru *c, struct kr_lru_stats *s)
{
	*s = c->stats;
}
