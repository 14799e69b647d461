/* Failed-login limiter: entries in a pool, found through an
 * open-addressing table (linear probing, backward-shift deletion, so no
 * tombstones) and ordered in a min-heap by the time each bucket is whole
 * again, which makes "fullest first" eviction exact. */
#include "server/auth/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "lib/err.h"
#include "lib/secret.h"

/* Levels are kept in 1/60000 of a token: a bucket then gains exactly
 * per_minute units per millisecond, so refill is integer arithmetic with
 * no rounding drift. */
#define RL_UNIT 60000u
#define RL_NONE UINT32_MAX
/* Refilled entries dropped per take: more than the one entry a take can
 * add, so the table sheds dead entries faster than it gains them, and
 * still bounded work per call. */
#define RL_PURGE_MAX 4
#define RL_SIP_KEY_BYTES 16
#define RL_SIP_OUT_BYTES 16

struct rl_entry {
	uint64_t id[2];	    /* SipHash-2-4-128 of the key */
	uint64_t level;	    /* tokens * RL_UNIT, as of stamp_ms */
	int64_t stamp_ms;   /* the last now_ms this entry saw */
	int64_t full_at_ms; /* when level is back at burst: the heap order */
	uint32_t heap_pos;  /* index in heap; free-list link when unused */
};

/* The struct and its tables are one shared anonymous mapping, so the
 * workers forked after create share one limiter (an attacker spreading
 * guesses over connections meets the same bucket in every worker). The
 * MAC context is each process's own copy (inherited at fork). */
struct kr_ratelimit {
	pthread_mutex_t lock; /* process-shared, robust */
	size_t map_size;
	uint64_t full; /* burst * RL_UNIT; 0 = disabled */
	unsigned per_minute;
	uint32_t max_keys;
	uint32_t n;	    /* entries held, = heap length */
	uint32_t used;	    /* entries[0..used) handed out at least once */
	uint32_t free_head; /* returned entries */
	uint32_t mask;	    /* slot count - 1 */
	uint32_t *slots;    /* entry index or RL_NONE */
	uint32_t *heap;
	struct rl_entry *entries;
	EVP_MAC_CTX *mac;
	pid_t owner; /* the creator: only it clears the key and the lock */
	unsigned char sip_key[RL_SIP_KEY_BYTES];
};

/* --- keys --------------------------------------------------------- */

static int
ratelimit_mac_init(struct kr_ratelimit *rl)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_SIPHASH, NULL);
	size_t out = RL_SIP_OUT_BYTES;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &out),
		OSSL_PARAM_construct_end(),
	};

	if (mac == NULL)
		return -1;
	rl->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (rl->mac == NULL || EVP_MAC_CTX_set_params(rl->mac, params) != 1)
		return -1;
	return kr_secret_random(rl->sip_key, sizeof(rl->sip_key), NULL);
}

/* Keyed, because clients choose the keys: with a public hash they could
 * pile every key onto one probe run and make each lookup O(max_keys). */
static void
ratelimit_key_id(struct kr_ratelimit *rl, const void *key, size_t klen,
		 uint64_t id_r[2])
{
	unsigned char out[RL_SIP_OUT_BYTES];
	size_t outl = 0;

	if (EVP_MAC_init(rl->mac, rl->sip_key, sizeof(rl->sip_key), NULL) !=
		    1 ||
	    EVP_MAC_update(rl->mac, key, klen) != 1 ||
	    EVP_MAC_final(rl->mac, out, &outl, sizeof(out)) != 1 ||
	    outl != sizeof(out))
		kr_panic("ratelimit: SipHash failed");
	memcpy(id_r, out, sizeof(out));
}

/* --- buckets ------------------------------------------------------ */

static uint64_t
ratelimit_div_ceil(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/* Brings e up to now. Time before stamp counts as none, and stamp
 * follows now both ways: a clock stepped back then refills from the
 * new reading instead of freezing the bucket until it catches up. */
static void
ratelimit_refill(const struct kr_ratelimit *rl, struct rl_entry *e, int64_t now)
{
	uint64_t gap = rl->full - e->level;

	if (now > e->stamp_ms) {
		/* Exact in uint64 whatever the two int64 values are. */
		uint64_t elapsed = (uint64_t)now - (uint64_t)e->stamp_ms;

		/* Compare before multiplying: long idle gaps must not wrap. */
		if (elapsed > gap / rl->per_minute)
			e->level = rl->full;
		else
			e->level += elapsed * rl->per_minute;
	}
	e->stamp_ms = now;
}

static int64_t
ratelimit_full_at(const struct kr_ratelimit *rl, const struct rl_entry *e)
{
	/* At most burst * 60000 ms (~2.6e14), so the sum only needs a
	 * saturation check near INT64_MAX. */
	uint64_t ms = ratelimit_div_ceil(rl->full - e->level, rl->per_minute);

	if (e->stamp_ms > INT64_MAX - (int64_t)ms)
		return INT64_MAX;
	return e->stamp_ms + (int64_t)ms;
}

/* --- heap: earliest full_at first, then least recently updated ---- */

static bool
ratelimit_before(const struct kr_ratelimit *rl, uint32_t a, uint32_t b)
{
	const struct rl_entry *x = &rl->entries[a];
	const struct rl_entry *y = &rl->entries[b];

	if (x->full_at_ms != y->full_at_ms)
		return x->full_at_ms < y->full_at_ms;
	return x->stamp_ms < y->stamp_ms;
}

static void
ratelimit_heap_set(struct kr_ratelimit *rl, uint32_t pos, uint32_t idx)
{
	rl->heap[pos] = idx;
	rl->entries[idx].heap_pos = pos;
}

static uint32_t
ratelimit_heap_up(struct kr_ratelimit *rl, uint32_t pos)
{
	uint32_t idx = rl->heap[pos];

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (!ratelimit_before(rl, idx, rl->heap[parent]))
			break;
		ratelimit_heap_set(rl, pos, rl->heap[parent]);
		pos = parent;
	}
	ratelimit_heap_set(rl, pos, idx);
	return pos;
}

static void
ratelimit_heap_down(struct kr_ratelimit *rl, uint32_t pos)
{
	uint32_t idx = rl->heap[pos];

	for (;;) {
		/* pos < KR_RATELIMIT_KEYS_MAX, so this cannot wrap. */
		uint32_t child = 2 * pos + 1;

		if (child >= rl->n)
			break;
		if (child + 1 < rl->n &&
		    ratelimit_before(rl, rl->heap[child + 1], rl->heap[child]))
			child++;
		if (!ratelimit_before(rl, rl->heap[child], idx))
			break;
		ratelimit_heap_set(rl, pos, rl->heap[child]);
		pos = child;
	}
	ratelimit_heap_set(rl, pos, idx);
}

/* Recomputes e's full_at and restores the heap order; the key may move
 * either way (a clock stepped back lowers it). */
static void
ratelimit_rekey(struct kr_ratelimit *rl, uint32_t idx)
{
	struct rl_entry *e = &rl->entries[idx];

	e->full_at_ms = ratelimit_full_at(rl, e);
	ratelimit_heap_down(rl, ratelimit_heap_up(rl, e->heap_pos));
}

/* --- table -------------------------------------------------------- */

static uint32_t
ratelimit_home(const struct kr_ratelimit *rl, const uint64_t id[2])
{
	return (uint32_t)id[0] & rl->mask;
}

static uint32_t
ratelimit_find(const struct kr_ratelimit *rl, const uint64_t id[2])
{
	uint32_t s = ratelimit_home(rl, id);

	/* Terminates: at least half the slots are always empty. */
	for (;; s = (s + 1) & rl->mask) {
		uint32_t idx = rl->slots[s];

		if (idx == RL_NONE || (rl->entries[idx].id[0] == id[0] &&
				       rl->entries[idx].id[1] == id[1]))
			return idx;
	}
}

/* Backward-shift deletion: pulls later members of the probe run into
 * the hole, so lookups never need tombstones. */
static void
ratelimit_slot_clear(struct kr_ratelimit *rl, uint32_t hole)
{
	uint32_t s = hole;

	for (;;) {
		uint32_t home;

		s = (s + 1) & rl->mask;
		if (rl->slots[s] == RL_NONE)
			break;
		home = ratelimit_home(rl, rl->entries[rl->slots[s]].id);
		/* Movable when its home is not after the hole (cyclic). */
		if (((s - home) & rl->mask) >= ((s - hole) & rl->mask)) {
			rl->slots[hole] = rl->slots[s];
			hole = s;
		}
	}
	rl->slots[hole] = RL_NONE;
}

static void
ratelimit_remove(struct kr_ratelimit *rl, uint32_t idx)
{
	struct rl_entry *e = &rl->entries[idx];
	uint32_t s = ratelimit_home(rl, e->id);
	uint32_t pos = e->heap_pos;
	uint32_t last;

	while (rl->slots[s] != idx)
		s = (s + 1) & rl->mask;
	ratelimit_slot_clear(rl, s);
	last = rl->heap[--rl->n];
	if (pos < rl->n) {
		ratelimit_heap_set(rl, pos, last);
		ratelimit_heap_down(rl, ratelimit_heap_up(rl, pos));
	}
	e->heap_pos = rl->free_head;
	rl->free_head = idx;
}

/* A new entry with a full bucket; evicts the fullest entry first when
 * max_keys are held. */
static uint32_t
ratelimit_insert(struct kr_ratelimit *rl, const uint64_t id[2], int64_t now)
{
	struct rl_entry *e;
	uint32_t idx, s;

	if (rl->n == rl->max_keys)
		ratelimit_remove(rl, rl->heap[0]);
	if (rl->free_head != RL_NONE) {
		idx = rl->free_head;
		rl->free_head = rl->entries[idx].heap_pos;
	} else {
		kr_assert(rl->used < rl->max_keys);
		idx = rl->used++;
	}
	e = &rl->entries[idx];
	memcpy(e->id, id, sizeof(e->id));
	e->level = rl->full;
	e->stamp_ms = now;
	e->full_at_ms = now;
	for (s = ratelimit_home(rl, id); rl->slots[s] != RL_NONE;
	     s = (s + 1) & rl->mask)
		;
	rl->slots[s] = idx;
	ratelimit_heap_set(rl, rl->n++, idx);
	ratelimit_heap_up(rl, e->heap_pos);
	return idx;
}

/* Refilled entries are as good as absent: drop a few per call. The
 * heap puts them first; the refill on a copy settles the one case
 * full_at_ms cannot, when it saturated at INT64_MAX. */
static void
ratelimit_purge(struct kr_ratelimit *rl, int64_t now)
{
	for (int i = 0; i < RL_PURGE_MAX && rl->n > 0; i++) {
		struct rl_entry e = rl->entries[rl->heap[0]];

		ratelimit_refill(rl, &e, now);
		if (e.level != rl->full)
			break;
		ratelimit_remove(rl, rl->heap[0]);
	}
}

/* --- API ---------------------------------------------------------- */

static size_t
ratelimit_nslots(unsigned max_keys)
{
	/* A power of two at least twice max_keys: a load of at most 1/2
	 * keeps probe runs short and guarantees empty slots. */
	size_t nslots = 2;

	while (nslots < 2 * (size_t)max_keys)
		nslots *= 2;
	return nslots;
}

/* The struct, then slots, heap and entries, in one shared mapping. */
static struct kr_ratelimit *
ratelimit_map(unsigned max_keys)
{
	size_t nslots = ratelimit_nslots(max_keys);
	size_t head = (sizeof(struct kr_ratelimit) + 63) & ~(size_t)63;
	size_t size = head + nslots * sizeof(uint32_t) +
		      (size_t)max_keys * sizeof(uint32_t) +
		      (size_t)max_keys * sizeof(struct rl_entry) + 64;
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kr_ratelimit *rl;
	size_t entries_off;

	if (p == MAP_FAILED)
		return NULL;
	rl = (struct kr_ratelimit *)p;
	rl->map_size = size;
	rl->owner = getpid();
	rl->mask = (uint32_t)(nslots - 1);
	rl->max_keys = max_keys;
	rl->free_head = RL_NONE;
	rl->slots = (uint32_t *)(p + head);
	rl->heap = rl->slots + nslots;
	entries_off = (head + (nslots + max_keys) * sizeof(uint32_t) + 63) &
		      ~(size_t)63;
	rl->entries = (struct rl_entry *)(p + entries_off);
	memset(rl->slots, 0xff, nslots * sizeof(*rl->slots)); /* RL_NONE */
	return rl;
}

static int
ratelimit_lock_init(struct kr_ratelimit *rl)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);

	if (rc == 0)
		rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(&rl->lock, &a);
	pthread_mutexattr_destroy(&a);
	return rc == 0 ? 0 : -1;
}

/* A worker that died holding the lock left the tables consistent or
 * nearly so: every operation is a few stores, and a bucket off by one
 * failure is harmless. Take it over rather than lock everyone out. */
static void
ratelimit_lock(struct kr_ratelimit *rl)
{
	if (pthread_mutex_lock(&rl->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&rl->lock);
}

static void
ratelimit_unlock(struct kr_ratelimit *rl)
{
	pthread_mutex_unlock(&rl->lock);
}

struct kr_ratelimit *
kr_ratelimit_create(const struct kr_ratelimit_conf *conf)
{
	struct kr_ratelimit *rl;

	if (conf->burst > 0 && (conf->per_minute == 0 || conf->max_keys == 0 ||
				conf->max_keys > KR_RATELIMIT_KEYS_MAX))
		return NULL;
	rl = ratelimit_map(conf->burst > 0 ? conf->max_keys : 1);
	if (rl == NULL)
		return NULL;
	if (ratelimit_lock_init(rl) < 0) {
		munmap(rl, rl->map_size);
		return NULL;
	}
	if (conf->burst == 0)
		return rl;
	rl->full = (uint64_t)conf->burst * RL_UNIT;
	rl->per_minute = conf->per_minute;
	if (ratelimit_mac_init(rl) < 0)
		kr_ratelimit_destroy(&rl);
	return rl;
}

void
kr_ratelimit_destroy(struct kr_ratelimit **rl_p)
{
	struct kr_ratelimit *rl = rl_p != NULL ? *rl_p : NULL;

	if (rl == NULL)
		return;
	EVP_MAC_CTX_free(rl->mac);
	/* The key and the lock are shared: a worker that exits (a cycle, a
	 * drain) must leave them to the others, or every held key hashes
	 * to a new id and each limited address starts over. */
	if (getpid() == rl->owner) {
		explicit_bzero(rl->sip_key, sizeof(rl->sip_key));
		pthread_mutex_destroy(&rl->lock);
	}
	munmap(rl, rl->map_size);
	*rl_p = NULL;
}

static bool
ratelimit_check(struct kr_ratelimit *rl, const void *key, size_t klen,
		int64_t now_ms, int64_t *retry_after_ms_r)
{
	uint64_t id[2];
	uint32_t idx;
	struct rl_entry *e;
	int64_t retry = 0;

	if (rl->full == 0)
		goto out;
	if (klen > KR_RATELIMIT_KEY_MAX) {
		retry = (int64_t)ratelimit_div_ceil(RL_UNIT, rl->per_minute);
		goto out;
	}
	ratelimit_key_id(rl, key, klen, id);
	idx = ratelimit_find(rl, id);
	if (idx == RL_NONE)
		goto out;
	e = &rl->entries[idx];
	ratelimit_refill(rl, e, now_ms);
	if (e->level == rl->full) {
		ratelimit_remove(rl, idx);
		goto out;
	}
	ratelimit_rekey(rl, idx); /* refill moved stamp_ms */
	if (e->level < RL_UNIT)
		retry = (int64_t)ratelimit_div_ceil(RL_UNIT - e->level,
						    rl->per_minute);
out:
	if (retry_after_ms_r != NULL)
		*retry_after_ms_r = retry;
	return retry == 0;
}

/* 0 when a token was taken, else the milliseconds until one is back. */
static int64_t
ratelimit_take(struct kr_ratelimit *rl, const void *key, size_t klen,
	       int64_t now_ms)
{
	uint64_t id[2];
	uint32_t idx;
	struct rl_entry *e;

	if (rl->full == 0)
		return 0;
	if (klen > KR_RATELIMIT_KEY_MAX)
		return (int64_t)ratelimit_div_ceil(RL_UNIT, rl->per_minute);
	ratelimit_key_id(rl, key, klen, id);
	ratelimit_purge(rl, now_ms);
	idx = ratelimit_find(rl, id);
	if (idx == RL_NONE)
		idx = ratelimit_insert(rl, id, now_ms);
	e = &rl->entries[idx];
	ratelimit_refill(rl, e, now_ms);
	if (e->level < RL_UNIT) {
		ratelimit_rekey(rl, idx); /* refill moved stamp_ms */
		return (int64_t)ratelimit_div_ceil(RL_UNIT - e->level,
						   rl->per_minute);
	}
	e->level -= RL_UNIT;
	ratelimit_rekey(rl, idx);
	return 0;
}

static void
ratelimit_give_back(struct kr_ratelimit *rl, const void *key, size_t klen,
		    int64_t now_ms)
{
	uint64_t id[2];
	uint32_t idx;
	struct rl_entry *e;

	if (rl->full == 0 || klen > KR_RATELIMIT_KEY_MAX)
		return;
	ratelimit_key_id(rl, key, klen, id);
	idx = ratelimit_find(rl, id);
	if (idx == RL_NONE)
		return;
	e = &rl->entries[idx];
	ratelimit_refill(rl, e, now_ms);
	/* Never above burst: the token may have come back by refill. */
	e->level =
		rl->full - e->level <= RL_UNIT ? rl->full : e->level + RL_UNIT;
	if (e->level == rl->full)
		ratelimit_remove(rl, idx);
	else
		ratelimit_rekey(rl, idx);
}

static void
ratelimit_forget(struct kr_ratelimit *rl, const void *key, size_t klen)
{
	uint64_t id[2];
	uint32_t idx;

	if (rl->full == 0 || klen > KR_RATELIMIT_KEY_MAX)
		return;
	ratelimit_key_id(rl, key, klen, id);
	idx = ratelimit_find(rl, id);
	if (idx != RL_NONE)
		ratelimit_remove(rl, idx);
}

bool
kr_ratelimit_take(struct kr_ratelimit *rl, const void *key, size_t klen,
		  int64_t now_ms, int64_t *retry_after_ms_r)
{
	int64_t retry;

	ratelimit_lock(rl);
	retry = ratelimit_take(rl, key, klen, now_ms);
	ratelimit_unlock(rl);
	if (retry_after_ms_r != NULL)
		*retry_after_ms_r = retry;
	return retry == 0;
}

void
kr_ratelimit_give_back(struct kr_ratelimit *rl, const void *key, size_t klen,
		       int64_t now_ms)
{
	ratelimit_lock(rl);
	ratelimit_give_back(rl, key, klen, now_ms);
	ratelimit_unlock(rl);
}

void
kr_ratelimit_forget(struct kr_ratelimit *rl, const void *key, size_t klen)
{
	ratelimit_lock(rl);
	ratelimit_forget(rl, key, klen);
	ratelimit_unlock(rl);
}

bool
kr_ratelimit_check(struct kr_ratelimit *rl, const void *key, size_t klen,
		   int64_t now_ms, int64_t *retry_after_ms_r)
{
	bool ok;

	ratelimit_lock(rl);
	ok = ratelimit_check(rl, key, klen, now_ms, retry_after_ms_r);
	ratelimit_unlock(rl);
	return ok;
}

size_t
kr_ratelimit_size(const struct kr_ratelimit *rl)
{
	return rl->n;
}
