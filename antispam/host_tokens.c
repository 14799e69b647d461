/* The Bayes statistic as the host offers it to modules: the env's
 * look-up, with each look-up holding its module (the answer calls
 * module code) and a per-worker memory of accounts that have no
 * statistic at all, answered without asking the store. A training on
 * any worker of the host counts into the host-wide counters
 * (kr_antispam_learned); a remembered account whose count moved since
 * is asked again, so the memory never hides a first training. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "antispam/host_priv.h"
#include "lib/clock.h"
#include "lib/limits.h"
#include "lib/lru.h"

struct host_tokens {
	struct as_module *m;
	kr_filter_tokens_fn *cb;
	void *arg;
	uint64_t learned; /* the account's trainings before the look-up */
	size_t alen;
	char account[KR_ADDRESS_MAX + 1];
};

/* The count of account's trainings host-wide, after adding n. */
static uint64_t
tokens_learned(const struct kr_antispam *as, const char *account, size_t alen,
	       unsigned n)
{
	return as->env.count(as->env.count_ctx, "bayes_learned", account, alen,
			     KR_ANTISPAM_WINDOW_MS_MAX, n);
}

void
kr_antispam_learned(struct kr_antispam *as, const char *account)
{
	if (as != NULL && as->env.count != NULL)
		(void)tokens_learned(as, account,
				     strnlen(account, KR_ADDRESS_MAX + 1), 1);
}

static void
tokens_answer(struct host_tokens *ht, const struct kr_filter_tokens *t, int ok)
{
	ht->cb(ht->arg, t, ok);
	as_module_put(ht->m);
	free(ht);
}

static void
tokens_on_store(void *arg, const struct kr_filter_tokens *t, int ok)
{
	struct host_tokens *ht = arg;
	struct kr_antispam *as = ht->m->as;

	if (ok && t != NULL && t->n_spam == 0 && t->n_ham == 0 &&
	    as->env.count != NULL)
		kr_lru_put(as->untrained, 0, ht->account, ht->alen,
			   &ht->learned, sizeof(ht->learned), 0,
			   kr_clock_mono_ms());
	tokens_answer(ht, t, ok);
}

/* An account remembered as untrained: an empty statistic, from the
 * loop (never before tokens_get returns). */
static void
tokens_on_untrained(evutil_socket_t fd, short what, void *arg)
{
	const struct kr_filter_tokens empty = { 0 };

	(void)fd;
	(void)what;
	tokens_answer(arg, &empty, 1);
}

/* Remembered without a statistic, and not trained since. */
static bool
tokens_untrained(struct kr_antispam *as, const struct host_tokens *ht)
{
	const char *val;
	size_t vlen;
	uint64_t then;

	if (as->env.count == NULL ||
	    !kr_lru_get(as->untrained, ht->account, ht->alen, 0,
			kr_clock_mono_ms(), KR_ANTISPAM_UNTRAINED_TTL_MS, &val,
			&vlen) ||
	    vlen != sizeof(then))
		return false;
	memcpy(&then, val, sizeof(then));
	return then == ht->learned;
}

int
as_tokens_get(void *ctx, const char *account, const uint64_t *hashes, size_t n,
	      kr_filter_tokens_fn *cb, void *arg)
{
	struct as_module *m = ctx;
	struct kr_antispam *as = m->as;
	size_t alen = account != NULL ? strnlen(account, KR_ADDRESS_MAX + 1)
				      : KR_ADDRESS_MAX + 1;
	struct host_tokens *ht;
	const struct timeval now = { 0, 0 };

	if (as->env.tokens_get == NULL || alen > KR_ADDRESS_MAX)
		return -1;
	ht = kr_xmalloc(sizeof(*ht));
	*ht = (struct host_tokens){
		.m = m, .cb = cb, .arg = arg, .alen = alen
	};
	memcpy(ht->account, account, alen);
	ht->account[alen] = '\0';
	if (as->env.count != NULL)
		ht->learned = tokens_learned(as, account, alen, 0);
	m->refs++;
	if (tokens_untrained(as, ht) &&
	    event_base_once(as->env.base, -1, EV_TIMEOUT, tokens_on_untrained,
			    ht, &now) == 0)
		return 0;
	if (as->env.tokens_get(as->env.tokens_ctx, account, hashes, n,
			       tokens_on_store, ht) < 0) {
		m->refs--;
		free(ht);
		return -1;
	}
	return 0;
}
