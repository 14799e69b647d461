/* SPF (SPEC.md §5, RFC 7208) evaluated by libspf2 in a helper process
 * (kurier-spf, spf_main.c) so that a crash or memory corruption in the
 * library (CVE-2023-42118 is not fixed in Debian's 1.2.10) never
 * reaches a worker. spf_proto.c is the line protocol both sides speak;
 * spf_client.c spawns, feeds and restarts the helper on the worker's
 * loop; spf_module.c is the filter module (antispam/filter.h) on top.
 * Everything here runs on one loop thread. */
#ifndef KR_SPF_H
#define KR_SPF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "antispam/filter.h"

struct event_base;

/* The results of RFC 7208 §2.6. */
enum kr_spf_result {
	KR_SPF_NONE,
	KR_SPF_NEUTRAL,
	KR_SPF_PASS,
	KR_SPF_FAIL,
	KR_SPF_SOFTFAIL,
	KR_SPF_TEMPERROR,
	KR_SPF_PERMERROR,
};

/* "pass", "fail", ... (RFC 7208 §8 names, as in Received-SPF). */
const char *kr_spf_result_name(enum kr_spf_result r);
/* 0 and *r_r set, or -1 for an unknown name. */
int kr_spf_result_parse(const char *name, enum kr_spf_result *r_r);
/* The test name (SPF_PASS, ...) and its score (spf_module.c says why). */
const char *kr_spf_test_name(enum kr_spf_result r);
double kr_spf_score(enum kr_spf_result r);

/* The protocol: one line per message, fields separated by a tab,
 * ending in "\n", at most KR_SPF_LINE_MAX bytes with the newline.
 *   query:  "Q" id ip helo sender   (sender "" for the null sender)
 *   ping:   "P" id                  (the helper checks libspf2 itself)
 *   answer: "R" id result received-spf-value explanation
 * No field holds a tab, a newline or another control character: the
 * writer refuses such values (queries) or replaces them (answers). */
#define KR_SPF_LINE_MAX 2048
#define KR_SPF_FIELD_MAX 512

struct kr_spf_query {
	uint64_t id;
	int ping; /* 1: a ping, the other fields are "" */
	const char *ip;
	const char *helo;
	const char *sender;
};

struct kr_spf_answer {
	uint64_t id;
	enum kr_spf_result result;
	const char *received; /* the Received-SPF value, without the name */
	const char *explanation;
};

/* Writes the line into buf (NUL-terminated); returns its length
 * without the NUL, or -1 when a field is too long or holds a control
 * character, or buf is too small. */
int kr_spf_query_format(char *buf, size_t size, const struct kr_spf_query *q);
/* The answer's text fields are cleaned (control characters become
 * spaces) and cut to KR_SPF_FIELD_MAX; -1 only when buf is too small. */
int kr_spf_answer_format(char *buf, size_t size, const struct kr_spf_answer *a);
/* Parses one line (without its "\n") in place: the fields point into
 * line. 0, or -1 when it is malformed. */
int kr_spf_query_parse(char *line, struct kr_spf_query *q);
int kr_spf_answer_parse(char *line, struct kr_spf_answer *a);

/* The client: one helper process per struct kr_spf. */
struct kr_spf;
struct kr_spf_req;

struct kr_spf_params {
	const char *helper;   /* path of kurier-spf */
	const char *resolver; /* "host:port"; NULL: /etc/resolv.conf */
	unsigned timeout_ms;  /* per query; then temperror */
	unsigned queue_max;   /* queries in flight; over it: temperror */
	unsigned backoff_min_ms, backoff_max_ms; /* between restarts */
};

/* The answer; borrowed for the callback. After it the request is
 * gone. */
typedef void kr_spf_cb(void *ctx, const struct kr_spf_answer *a);

/* Spawns the helper and waits (bounded by timeout_ms) for its answer
 * to a ping. 0, or -1 with err filled (the helper did not start or did
 * not answer). */
int kr_spf_create(struct event_base *base, const struct kr_spf_params *p,
		  struct kr_spf **spf_r, char *err, size_t err_size);
/* Kills and reaps the helper; every request still open is dropped
 * without its callback (their owners cancel them first). */
void kr_spf_destroy(struct kr_spf **spf);

/* Asks about one message. Never fails: a full queue, a dead helper or
 * a timeout answer temperror. cb fires once from the loop, never
 * before begin returns, unless kr_spf_cancel runs first. */
struct kr_spf_req *kr_spf_begin(struct kr_spf *spf, const char *ip,
				const char *helo, const char *sender,
				kr_spf_cb *cb, void *ctx);
void kr_spf_cancel(struct kr_spf_req **req);

/* For tests and logs: the helper's pid (0 while none runs), how many
 * times it died, how many requests are open. */
pid_t kr_spf_helper_pid(const struct kr_spf *spf);
uint64_t kr_spf_deaths(const struct kr_spf *spf);
size_t kr_spf_open_requests(const struct kr_spf *spf);

/* The module's table (spf_module.c); spf_entry.c exports it. */
const struct kr_filter_module *kr_spf_module(void);

#endif
