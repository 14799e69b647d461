/* The host-wide counting table: buckets of KR_COUNTER_WAYS slots in one
 * shared mapping, each bucket under a spin lock whose word holds the
 * holder's pid (so a worker killed while holding it can be detected and
 * the lock taken over instead of freezing the bucket). The lock is held
 * for a few dozen instructions; the counts are plain fields under it. */
#include "antispam/counter.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "lib/clock.h"
#include "lib/secret.h"

#define COUNTER_SIP_KEY_BYTES 16
#define COUNTER_SIP_OUT_BYTES 16
/* Tries for a bucket's lock before add gives up (returns 0): the first
 * COUNTER_SPIN_FAST spin, the rest yield the CPU, so a holder that was
 * preempted gets to run; past that, something is wrong (a holder that
 * died mid-update and whose pid was reused) and counting is skipped. */
#define COUNTER_SPIN_FAST 64
#define COUNTER_SPIN_MAX 4096

struct counter_slot {
	uint64_t id[2];	    /* SipHash-2-4-128 of kind NUL key */
	uint64_t sub;	    /* the current sub-window: now / window_ms */
	uint64_t cur;	    /* events in sub-window sub */
	uint64_t prev;	    /* events in sub-window sub - 1 */
	uint64_t last_ms;   /* the last now_ms: the LRU order */
	uint32_t window_ms; /* 0: the slot is empty */
};

struct counter_bucket {
	_Alignas(64) _Atomic uint32_t owner; /* the holder's pid; 0: free */
	struct counter_slot slot[KR_COUNTER_WAYS];
};

struct kr_counter {
	size_t map_size;
	size_t n_buckets;
	EVP_MAC_CTX *mac; /* each process's own copy after fork */
	unsigned char sip_key[COUNTER_SIP_KEY_BYTES];
	/* buckets follow, at counter_buckets_off() */
};

static size_t
counter_buckets_off(void)
{
	size_t a = _Alignof(struct counter_bucket);

	return (sizeof(struct kr_counter) + a - 1) / a * a;
}

static struct counter_bucket *
counter_bucket_at(struct kr_counter *c, size_t i)
{
	return (struct counter_bucket *)((char *)c + counter_buckets_off()) + i;
}

static int
counter_mac_init(struct kr_counter *c, struct kr_err *err_r)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_SIPHASH, NULL);
	size_t out = COUNTER_SIP_OUT_BYTES;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &out),
		OSSL_PARAM_construct_end(),
	};

	if (mac == NULL)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "counter: OpenSSL has no SipHash");
	c->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (c->mac == NULL || EVP_MAC_CTX_set_params(c->mac, params) != 1)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "counter: SipHash context failed");
	return kr_secret_random(c->sip_key, sizeof(c->sip_key), err_r);
}

int
kr_counter_create(size_t slots, struct kr_counter **c_r, struct kr_err *err_r)
{
	size_t n_buckets, size;
	struct kr_counter *c;
	void *p;

	*c_r = NULL;
	if (slots == 0 || slots > KR_COUNTER_SLOTS_MAX)
		return kr_err_set(err_r, KR_ERR_LIMIT,
				  "counter: slots must be 1..%u",
				  KR_COUNTER_SLOTS_MAX);
	n_buckets = (slots + KR_COUNTER_WAYS - 1) / KR_COUNTER_WAYS;
	size = counter_buckets_off() +
	       n_buckets * sizeof(struct counter_bucket);
	/* Zero-filled by the kernel: every slot empty, every lock free. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return kr_err_set(err_r, KR_ERR_INTERNAL,
				  "counter: mmap of %zu bytes: %s", size,
				  strerror(errno));
	c = p;
	c->map_size = size;
	c->n_buckets = n_buckets;
	if (counter_mac_init(c, err_r) < 0) {
		kr_counter_destroy(&c);
		return -1;
	}
	*c_r = c;
	return 0;
}

void
kr_counter_destroy(struct kr_counter **c_p)
{
	struct kr_counter *c;

	if (c_p == NULL || *c_p == NULL)
		return;
	c = *c_p;
	EVP_MAC_CTX_free(c->mac);
	munmap(c, c->map_size);
	*c_p = NULL;
}

size_t
kr_counter_slots(const struct kr_counter *c)
{
	return c->n_buckets * KR_COUNTER_WAYS;
}

/* Keyed, because clients choose the keys (addresses, senders, bodies):
 * with a public hash they could fill one bucket and evict the counter
 * of the key they are flooding with. Kind and key are separated by a
 * NUL, which no kind contains. */
static void
counter_id(struct kr_counter *c, const char *kind, size_t kind_len,
	   const void *key, size_t key_len, uint64_t id_r[2])
{
	unsigned char out[COUNTER_SIP_OUT_BYTES];
	size_t outl = 0;

	if (EVP_MAC_init(c->mac, c->sip_key, sizeof(c->sip_key), NULL) != 1 ||
	    EVP_MAC_update(c->mac, (const unsigned char *)kind, kind_len + 1) !=
		    1 ||
	    (key_len > 0 && EVP_MAC_update(c->mac, key, key_len) != 1) ||
	    EVP_MAC_final(c->mac, out, &outl, sizeof(out)) != 1 ||
	    outl != sizeof(out))
		kr_panic("counter: SipHash failed");
	memcpy(id_r, out, sizeof(out));
}

/* Whether the process holding a lock is gone (EPERM: alive, not ours). */
static bool
counter_holder_dead(uint32_t pid)
{
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

static bool
counter_lock(struct counter_bucket *b, uint32_t me)
{
	for (unsigned i = 0; i < COUNTER_SPIN_MAX; i++) {
		uint32_t holder = 0;

		if (atomic_compare_exchange_weak_explicit(
			    &b->owner, &holder, me, memory_order_acquire,
			    memory_order_relaxed))
			return true;
		if (i < COUNTER_SPIN_FAST || holder == 0)
			continue;
		/* A dead holder may have left one slot half-updated: a
		 * count off by its last add, which is all it costs. */
		if (counter_holder_dead(holder) &&
		    atomic_compare_exchange_strong_explicit(
			    &b->owner, &holder, me, memory_order_acquire,
			    memory_order_relaxed))
			return true;
		sched_yield();
	}
	return false;
}

static void
counter_unlock(struct counter_bucket *b)
{
	atomic_store_explicit(&b->owner, 0, memory_order_release);
}

/* The slot of id in b: its own, else an empty one, else the least
 * recently used one, emptied. */
static struct counter_slot *
counter_slot_get(struct counter_bucket *b, const uint64_t id[2])
{
	struct counter_slot *empty = NULL, *lru = NULL, *s;

	for (size_t i = 0; i < KR_COUNTER_WAYS; i++) {
		s = &b->slot[i];
		if (s->window_ms == 0) {
			if (empty == NULL)
				empty = s;
			continue;
		}
		if (s->id[0] == id[0] && s->id[1] == id[1])
			return s;
		if (lru == NULL || s->last_ms < lru->last_ms)
			lru = s;
	}
	s = empty != NULL ? empty : lru;
	memset(s, 0, sizeof(*s));
	s->id[0] = id[0];
	s->id[1] = id[1];
	return s;
}

static uint64_t
counter_sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Brings s to the sub-window of now: the current one becomes the
 * previous one when now is in the next, both empty when later. */
static void
counter_roll(struct counter_slot *s, uint64_t now)
{
	uint64_t sub = now / s->window_ms;

	if (sub == s->sub)
		return;
	s->prev = sub == s->sub + 1 ? s->cur : 0;
	s->cur = 0;
	s->sub = sub;
}

/* cur + prev * (the part of the previous sub-window inside the sliding
 * window [now - w, now]) / w, without overflow: prev is split so that
 * no product passes 2^64. */
static uint64_t
counter_estimate(const struct counter_slot *s, uint64_t now)
{
	uint64_t w = s->window_ms, rem = w - now % w;
	uint64_t part = (s->prev / w) * rem + (s->prev % w) * rem / w;

	return counter_sat_add(s->cur, part);
}

uint64_t
kr_counter_add(struct kr_counter *c, const char *kind, const void *key,
	       size_t key_len, unsigned window_ms, unsigned n, uint64_t now_ms)
{
	size_t kind_len =
		kind != NULL ? strnlen(kind, KR_COUNTER_KIND_MAX + 1) : 0;
	struct counter_bucket *b;
	struct counter_slot *s;
	uint64_t id[2], count;

	if (kind_len == 0 || kind_len > KR_COUNTER_KIND_MAX ||
	    key_len > KR_COUNTER_KEY_MAX || window_ms == 0 ||
	    (key == NULL && key_len > 0))
		return 0;
	counter_id(c, kind, kind_len, key, key_len, id);
	b = counter_bucket_at(c, id[0] % c->n_buckets);
	if (!counter_lock(b, (uint32_t)getpid()))
		return 0;
	s = counter_slot_get(b, id);
	if (s->window_ms != window_ms) {
		s->window_ms = window_ms;
		s->cur = s->prev = 0;
		s->sub = now_ms / window_ms;
		s->last_ms = now_ms;
	}
	if (now_ms < s->last_ms)
		now_ms = s->last_ms;
	counter_roll(s, now_ms);
	s->cur = counter_sat_add(s->cur, n);
	s->last_ms = now_ms;
	count = counter_estimate(s, now_ms);
	counter_unlock(b);
	return count;
}

uint64_t
kr_counter_count(void *svc, const char *kind, const void *key, size_t key_len,
		 unsigned window_ms, unsigned n)
{
	int64_t now = kr_clock_mono_ms();

	return kr_counter_add(svc, kind, key, key_len, window_ms, n,
			      now > 0 ? (uint64_t)now : 0);
}
