/* bench_store: store-level delivery load (SPEC.md §7, "store-level
 * delivery"). Drives the store API exactly as a kurierd worker does:
 * one libevent loop, an io and a cpu pool, a connection manager, the
 * shard map and one store, all from the given kurier.conf (so group
 * commit runs with that file's [storage] settings). It applies the
 * migrations first, as the master does at start-up, and creates the
 * bench users u<i>@bench.test through the store when they are missing.
 *
 * Then it keeps CONCURRENCY deliveries in flight until MESSAGES are
 * answered or SECONDS have passed: one recipient each, chosen at random
 * over all users, each message different text (words of a fixed list
 * picked by a seeded PRNG, its own Subject and Message-ID), so neither
 * zlib nor the single-instance body storage is flattered. Prints
 *   store deliveries=N seconds=S rate=R p50_ms=X p99_ms=Y batches=B
 * on stdout (details on stderr) and exits 1 if any delivery failed. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops/bench_msg.h"
#include "ops/bench_util.h"
#include "lib/arena.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/deadline.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/limits.h"
#include "lib/tpool.h"
#include "proto/fts_terms.h"
#include "storage/connmgr.h"
#include "storage/migrate.h"
#include "storage/shardmap.h"
#include "storage/store.h"

/* How long one operation may take, as an LMTP session would wait. */
#define BENCH_OP_TIMEOUT_MS 30000
/* In-flight deliveries still running at the time bound get this long. */
#define BENCH_GRACE_MS 5000
/* Per-operation arena: a delivery result is a few hundred bytes. */
#define BENCH_ARENA_BLOCK 4096
#define BENCH_ARENA_MAX (64 << 10)
#define BENCH_SIZE_MIN 512
#define BENCH_CONC_MAX 4096
#define BENCH_USERS_MAX 1000000
#define BENCH_MESSAGES_MAX 10000000
#define BENCH_HEADERS_MAX 1024
#define BENCH_PREVIEW_LEN 200
#define BENCH_LINE_COLS 72
/* Failures reported one by one on stderr; the rest are only counted. */
#define BENCH_ERRORS_SHOWN 5

struct bench_opts {
	const char *conf;
	unsigned users, messages, conc, size, seconds;
	uint64_t seed;
};

enum bench_phase {
	BENCH_PHASE_USERS,
	BENCH_PHASE_DELIVER,
};

struct bench;

/* One operation in flight; its arena holds the store's answer. */
struct bench_slot {
	struct bench *b;
	struct kr_arena *arena;
	struct kr_store_op *op;
	int64_t started_us;
};

/* The message being composed; the store copies it at begin, so one
 * buffer serves every delivery. */
struct bench_msg {
	char rcpt[32];
	char prefix[128];
	char subject[160];
	char msgid[64];
	char preview[BENCH_PREVIEW_LEN + 1];
	char *raw; /* size + 1 bytes */
	size_t raw_len;
	const char *text; /* the body inside raw, NUL-terminated */
};

struct bench {
	struct bench_opts o;
	struct event_base *base;
	struct kr_config *cfg;
	struct kr_tpool *io, *cpu;
	struct kr_metrics *metrics;
	struct kr_connmgr_metrics *ids;
	struct kr_log *log;
	struct kr_connmgr *mgr;
	struct kr_shardmap *map;
	struct kr_store *store;
	struct bench_slot *slots;
	struct bench_msg msg;
	uint64_t rng;
	enum bench_phase phase;
	unsigned total;	 /* operations of this phase */
	unsigned next;	 /* operations started */
	unsigned active; /* operations in flight */
	unsigned ok, failed, existed, shown;
	int64_t *lat_us; /* one per answered delivery */
	unsigned n_lat;
	int64_t t0_us, t_last_us, stop_us;
	bool stopped; /* the time bound passed: start nothing more */
};

/* The word list and PRNG are bench_lmtp's too (ops/bench_msg.h). */
static uint64_t
bench_rand(struct bench *b)
{
	return bench_msg_rand(&b->rng);
}

static const char *
bench_word(struct bench *b)
{
	return bench_msg_words[bench_rand(b) % BENCH_MSG_N_WORDS];
}

static void
bench_usage(void)
{
	fprintf(stderr,
		"usage: bench_store -c CONF [-u USERS] [-n MESSAGES] "
		"[-C CONCURRENCY]\n"
		"                   [-s SIZE] [-t SECONDS] [-S SEED]\n"
		"  -c CONF         kurier.conf with the [shard.N] sections\n"
		"  -u USERS        bench users u<i>@bench.test (default "
		"1000)\n"
		"  -n MESSAGES     deliveries to make (default 20000; 0: only "
		"set up)\n"
		"  -C CONCURRENCY  deliveries in flight (default 16)\n"
		"  -s SIZE         bytes per message (default 4096)\n"
		"  -t SECONDS      no delivery starts after this (default "
		"60);\n"
		"                  those in flight get 5 s more\n"
		"  -S SEED         PRNG seed (default 1)\n");
	exit(2);
}

static unsigned
bench_num(const char *s, unsigned lo, unsigned hi)
{
	return (unsigned)bench_util_num(s, lo, hi, bench_usage);
}

static void
bench_parse(int argc, char **argv, struct bench_opts *o)
{
	int opt;

	*o = (struct bench_opts){ .users = 1000,
				  .messages = 20000,
				  .conc = 16,
				  .size = 4096,
				  .seconds = 60,
				  .seed = 1 };
	while ((opt = getopt(argc, argv, "c:u:n:C:s:t:S:h")) != -1) {
		switch (opt) {
		case 'c':
			o->conf = optarg;
			break;
		case 'u':
			o->users = bench_num(optarg, 1, BENCH_USERS_MAX);
			break;
		case 'n':
			o->messages = bench_num(optarg, 0, BENCH_MESSAGES_MAX);
			break;
		case 'C':
			o->conc = bench_num(optarg, 1, BENCH_CONC_MAX);
			break;
		case 's':
			o->size = bench_num(optarg, BENCH_SIZE_MIN,
					    KR_STORE_MESSAGE_MAX);
			break;
		case 't':
			o->seconds = bench_num(optarg, 1, 86400);
			break;
		case 'S':
			o->seed = bench_num(optarg, 0, UINT32_MAX);
			break;
		default:
			bench_usage();
		}
	}
	if (o->conf == NULL || optind != argc)
		bench_usage();
}

/* ---- set-up and tear-down --------------------------------------- */

/* As the master does before any worker runs (blocking, start-up only);
 * unlike it, a shard that cannot be migrated ends the run. */
static void
bench_migrate(const struct kr_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_shards; i++) {
		struct kr_err err = { 0 };

		if (kr_migrate_apply(cfg->shards[i].primary, i, NULL, &err) < 0)
			kr_fatal("bench_store: shard %u: %s", i, err.msg);
	}
}

static struct kr_tpool *
bench_pool(struct bench *b, const char *name, unsigned threads, unsigned queue)
{
	struct kr_tpool_settings set = {
		.name = name,
		.threads = threads,
		.queue_max = queue,
		.inline_max = b->cfg->workers.cpu_inline_max,
	};
	struct kr_tpool *pool = kr_tpool_create(b->base, &set);

	if (pool == NULL)
		kr_fatal("bench_store: cannot start the %s pool", name);
	return pool;
}

/* The worker's wiring (server/worker.c), one worker. */
static void
bench_setup(struct bench *b)
{
	const struct kr_config *cfg;
	struct kr_err err = { 0 };

	if (kr_config_load(b->o.conf, &b->cfg, &err) < 0)
		kr_fatal("bench_store: %s", err.msg);
	cfg = b->cfg;
	if (cfg->n_shards == 0)
		kr_fatal("bench_store: %s has no [shard.N] sections",
			 b->o.conf);
	bench_migrate(cfg);
	b->base = event_base_new();
	if (b->base == NULL)
		kr_fatal("bench_store: event_base_new failed");
	b->io = bench_pool(b, "io", cfg->workers.io_threads,
			   cfg->workers.io_queue);
	b->cpu = bench_pool(b, "cpu", 1, cfg->workers.cpu_queue);
	b->metrics = kr_metrics_create();
	b->ids = kr_connmgr_define_metrics(b->metrics, cfg, &err);
	if (b->ids == NULL || kr_metrics_map(b->metrics, 1, &err) < 0)
		kr_fatal("bench_store: metrics: %s", err.msg);
	kr_metrics_slot_claim(kr_metrics_slot(b->metrics, 0), getpid(), 0);
	b->log = kr_log_create(STDERR_FILENO, KR_LOG_WARN, "bench");
	b->mgr = kr_connmgr_create(b->base, b->io, cfg,
				   kr_metrics_slot(b->metrics, 0), b->ids,
				   b->log);
	b->map = kr_shardmap_create(cfg);
	b->store = kr_store_create(b->base, b->mgr, b->map, b->cpu, NULL, cfg,
				   b->log);
	b->slots = kr_xcalloc(b->o.conc, sizeof(*b->slots));
	for (unsigned i = 0; i < b->o.conc; i++) {
		b->slots[i].b = b;
		b->slots[i].arena = kr_arena_create(BENCH_ARENA_BLOCK,
						    BENCH_ARENA_MAX, false);
	}
	b->msg.raw = kr_xmalloc((size_t)b->o.size + 1);
	b->lat_us = kr_xcalloc(b->o.messages > 0 ? b->o.messages : 1,
			       sizeof(*b->lat_us));
	b->rng = b->o.seed;
}

static void
bench_teardown(struct bench *b)
{
	for (unsigned i = 0; i < b->o.conc; i++) {
		kr_store_cancel(&b->slots[i].op);
		kr_arena_destroy(&b->slots[i].arena);
	}
	kr_store_destroy(&b->store);
	kr_connmgr_destroy(&b->mgr);
	kr_tpool_destroy(&b->cpu);
	kr_tpool_destroy(&b->io);
	kr_shardmap_destroy(&b->map);
	kr_connmgr_metrics_free(&b->ids);
	kr_metrics_destroy(&b->metrics);
	kr_log_destroy(&b->log);
	kr_config_destroy(&b->cfg);
	event_base_free(b->base);
	free(b->slots);
	free(b->msg.raw);
	free(b->lat_us);
}

/* ---- the operation pump ------------------------------------------ */

static void bench_pump(struct bench *b);

static void
bench_error(struct bench *b, const char *what, const struct kr_err *err)
{
	b->failed++;
	if (b->shown++ < BENCH_ERRORS_SHOWN)
		fprintf(stderr, "bench_store: %s: %s: %s\n", what,
			kr_err_kind_name(err->kind), err->msg);
}

/* An operation was answered: its slot is free for the next one. */
static void
bench_slot_done(struct bench_slot *s)
{
	struct bench *b = s->b;

	s->op = NULL;
	kr_arena_reset(s->arena);
	b->active--;
	b->t_last_us = kr_clock_mono_us();
	bench_pump(b);
}

static void
bench_on_user(void *ctx, const struct kr_store_user_create_result *res,
	      const struct kr_err *err)
{
	struct bench_slot *s = ctx;
	struct bench *b = s->b;

	if (res != NULL)
		b->ok++;
	else if (err->kind == KR_ERR_CONFLICT)
		b->existed++;
	else
		bench_error(b, "user create", err);
	bench_slot_done(s);
}

static void
bench_start_user(struct bench *b, struct bench_slot *s, unsigned i)
{
	char addr[32];

	snprintf(addr, sizeof(addr), "u%u@bench.test", i);
	/* A hash no password matches: the bench users never log in. */
	s->op = kr_store_user_create_begin(
		b->store, addr, "!bench", 0, s->arena,
		kr_deadline_after(kr_clock_mono_us(), BENCH_OP_TIMEOUT_MS),
		bench_on_user, s);
}

static void
bench_on_deliver(void *ctx, const struct kr_store_deliver_result *res,
		 const struct kr_err *err)
{
	struct bench_slot *s = ctx;
	struct bench *b = s->b;
	int64_t now = kr_clock_mono_us();

	if (res == NULL)
		bench_error(b, "delivery", err);
	else if (res->n != 1)
		kr_panic("bench_store: %u results for one recipient", res->n);
	else if (res->rcpts[0].err.kind != KR_ERR_NONE)
		bench_error(b, "delivery", &res->rcpts[0].err);
	else {
		b->ok++;
		b->lat_us[b->n_lat++] = now - s->started_us;
	}
	bench_slot_done(s);
}

/* ---- messages ------------------------------------------------------ */

#define BENCH_SENDER "sender@bench.test"

static size_t
bench_put(char *buf, size_t pos, size_t end, const char *s, size_t len)
{
	if (len > end - pos)
		len = end - pos;
	memcpy(buf + pos, s, len);
	return pos + len;
}

/* Words in lines of at most BENCH_LINE_COLS up to buf[size - 2], then
 * CRLF and a NUL at buf[size]. */
static void
bench_fill_text(struct bench *b, char *buf, size_t pos, size_t size)
{
	size_t end = size - 2, col = 0;

	while (pos < end) {
		const char *w = bench_word(b);
		size_t len = strlen(w);

		if (col > 0 && col + 1 + len > BENCH_LINE_COLS) {
			/* Never a lone CR at the very end. */
			if (end - pos < 3)
				break;
			pos = bench_put(buf, pos, end, "\r\n", 2);
			col = 0;
		} else if (col > 0) {
			pos = bench_put(buf, pos, end, " ", 1);
			col++;
		}
		pos = bench_put(buf, pos, end, w, len);
		col += len;
	}
	if (pos < end)
		memset(buf + pos, 'x', end - pos);
	memcpy(buf + end, "\r\n", 2);
	buf[size] = '\0';
}

static void
bench_subject(struct bench *b, unsigned i)
{
	struct bench_msg *m = &b->msg;
	size_t len = 0;
	unsigned n = 3 + (unsigned)(bench_rand(b) % 6);

	m->subject[0] = '\0';
	for (unsigned k = 0; k < n; k++) {
		int w = snprintf(m->subject + len, sizeof(m->subject) - len,
				 "%s%s", k > 0 ? " " : "", bench_word(b));

		if (w < 0 || (size_t)w >= sizeof(m->subject) - len)
			break;
		len += (size_t)w;
	}
	snprintf(m->subject + len, sizeof(m->subject) - len, " #%u", i);
}

/* The preview a parser would give: the first words, one line. */
static void
bench_preview(struct bench_msg *m)
{
	size_t n = 0;

	for (const char *p = m->text; *p != '\0' && n < BENCH_PREVIEW_LEN;
	     p++) {
		if (*p == '\r')
			continue;
		m->preview[n++] = *p == '\n' ? ' ' : *p;
	}
	m->preview[n] = '\0';
}

/* Message i: a random recipient, its own subject, id and text. */
static void
bench_compose(struct bench *b, unsigned i)
{
	struct bench_msg *m = &b->msg;
	unsigned r = (unsigned)(bench_rand(b) % b->o.users);
	time_t now = time(NULL);
	char date[64];
	struct tm tm;
	int n;

	snprintf(m->rcpt, sizeof(m->rcpt), "u%u@bench.test", r);
	snprintf(m->prefix, sizeof(m->prefix),
		 "Return-Path: <" BENCH_SENDER ">\r\nDelivered-To: %s\r\n",
		 m->rcpt);
	snprintf(m->msgid, sizeof(m->msgid), "%u.%016" PRIx64 "@bench.test", i,
		 bench_rand(b));
	bench_subject(b, i);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) ==
		    0)
		kr_panic("bench_store: cannot format the date");
	n = snprintf(m->raw, b->o.size + 1,
		     "From: Bench Sender <" BENCH_SENDER ">\r\n"
		     "To: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
		     "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		     m->rcpt, m->subject, date, m->msgid);
	/* BENCH_SIZE_MIN leaves room for the headers and some text. */
	kr_assert(n > 0 && (size_t)n + 16 < b->o.size);
	bench_fill_text(b, m->raw, (size_t)n, b->o.size);
	m->raw_len = b->o.size;
	m->text = m->raw + n;
	bench_preview(m);
}

/* Delivers the composed message as the LMTP side will: the message as
 * received, a per-recipient prefix, and the parsed metadata. */
static void
bench_send(struct bench *b, struct bench_slot *s)
{
	const struct bench_msg *m = &b->msg;
	const struct kr_store_addr to = { .email = m->rcpt };
	const struct kr_store_meta meta = {
		.has_date = true,
		.date = (int64_t)time(NULL),
		.from_name = "Bench Sender",
		.from_email = BENCH_SENDER,
		.to = &to,
		.n_to = 1,
		.subject = m->subject,
		.message_id = m->msgid,
		.preview = m->preview,
		/* As the parse does, in the cpu pool there. */
		.search_terms = kr_fts_terms(s->arena, m->text, strlen(m->text),
					     KR_MIME_SEARCH_TEXT_MAX_DEFAULT,
					     NULL, NULL),
	};
	const struct kr_store_rcpt rcpt = { .address = m->rcpt,
					    .prefix = m->prefix,
					    .prefix_len = strlen(m->prefix) };
	const struct kr_store_delivery d = {
		.body = (const unsigned char *)m->raw,
		.body_len = m->raw_len,
		.rcpts = &rcpt,
		.n_rcpts = 1,
		.meta = &meta,
	};
	const struct kr_deadline grace = { .at_us = b->stop_us +
						    BENCH_GRACE_MS * 1000LL };
	int64_t now = kr_clock_mono_us();

	s->started_us = now;
	s->op = kr_store_deliver_begin(
		b->store, &d, s->arena,
		kr_deadline_min(kr_deadline_after(now, BENCH_OP_TIMEOUT_MS),
				grace),
		bench_on_deliver, s);
}

/* Starts operations while slots are free; ends the loop once the phase
 * has nothing in flight and nothing more to start. */
static void
bench_pump(struct bench *b)
{
	while (b->next < b->total && !b->stopped) {
		struct bench_slot *s = NULL;

		if (b->phase == BENCH_PHASE_DELIVER &&
		    kr_clock_mono_us() >= b->stop_us) {
			b->stopped = true;
			break;
		}
		for (unsigned k = 0; k < b->o.conc && s == NULL; k++)
			if (b->slots[k].op == NULL)
				s = &b->slots[k];
		if (s == NULL)
			break;
		b->active++;
		if (b->phase == BENCH_PHASE_USERS)
			bench_start_user(b, s, b->next++);
		else {
			/* Composing is not part of a delivery's latency. */
			bench_compose(b, b->next++);
			bench_send(b, s);
		}
	}
	if (b->active == 0)
		event_base_loopbreak(b->base);
}

static void
bench_run_phase(struct bench *b, enum bench_phase phase, unsigned total)
{
	b->phase = phase;
	b->total = total;
	b->next = b->ok = b->failed = b->existed = b->shown = 0;
	b->stopped = false;
	b->t0_us = b->t_last_us = kr_clock_mono_us();
	b->stop_us = b->t0_us + (int64_t)b->o.seconds * 1000000;
	bench_pump(b);
	/* A loopbreak before the loop runs would be forgotten. */
	if (b->active > 0)
		event_base_dispatch(b->base);
	if (b->active > 0)
		kr_fatal("bench_store: the loop ended with %u operations open",
			 b->active);
}

/* ---- results ------------------------------------------------------- */

static void
bench_report(struct bench *b, const struct kr_store_stats *st0)
{
	struct kr_store_stats st;
	double secs = (double)(b->t_last_us - b->t0_us) / 1e6;
	unsigned long long batches, msgs;

	kr_store_get_stats(b->store, &st);
	batches = st.batches - st0->batches;
	msgs = st.batch_messages - st0->batch_messages;
	qsort(b->lat_us, b->n_lat, sizeof(*b->lat_us), bench_util_cmp);
	fprintf(stderr,
		"bench_store: %u started, %u stored, %u failed%s; "
		"%llu messages in %llu batches (%.2f per commit), %llu shed; "
		"group_commit_max=%u group_commit_inflight=%u\n",
		b->next, b->ok, b->failed,
		b->stopped ? " (stopped at the time bound)" : "", msgs, batches,
		batches > 0 ? (double)msgs / (double)batches : 0.0,
		st.shed - st0->shed, b->cfg->storage.group_commit_max,
		b->cfg->storage.group_commit_inflight);
	printf("store deliveries=%u seconds=%.3f rate=%.1f p50_ms=%.2f "
	       "p99_ms=%.2f batches=%llu\n",
	       b->ok, secs, secs > 0 ? b->ok / secs : 0.0,
	       bench_util_pct(b->lat_us, b->n_lat, 50),
	       bench_util_pct(b->lat_us, b->n_lat, 99), batches);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct kr_store_stats st0;
	unsigned user_failures;

	bench_parse(argc, argv, &b.o);
	bench_setup(&b);
	bench_run_phase(&b, BENCH_PHASE_USERS, b.o.users);
	user_failures = b.failed;
	fprintf(stderr,
		"bench_store: users u0..u%u@bench.test: %u created, %u "
		"existed, %u failed (%.1fs)\n",
		b.o.users - 1, b.ok, b.existed, b.failed,
		(double)(b.t_last_us - b.t0_us) / 1e6);
	kr_store_get_stats(b.store, &st0);
	bench_run_phase(&b, BENCH_PHASE_DELIVER, b.o.messages);
	bench_report(&b, &st0);
	bench_teardown(&b);
	return user_failures > 0 || b.failed > 0 ? 1 : 0;
}
