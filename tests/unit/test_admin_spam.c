/* cmocka tests for admin/admin_spam: GET /api/filters from the status
 * region: generations merged across workers by id (in_flight summed,
 * workers listed, active when any worker's current one), newest
 * first, the latest error, entries of dead workers left out, text a
 * module gave that is no UTF-8; and the versions in /api/antispam. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_spam.h"
#include "antispam/status.h"
#include "lib/metrics.h"

#define TEST_SLOTS 4

struct fixture {
	struct kr_metrics *metrics;
	struct kr_antispam_status *st;
	struct kr_admin_spam_view v;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kr_err err = { 0 };

	assert_non_null(f);
	f->metrics = kr_metrics_create();
	/* Slot 0 is the master's; the workers' follow. */
	assert_int_equal(kr_metrics_map(f->metrics, 1 + TEST_SLOTS, &err), 0);
	assert_int_equal(kr_antispam_status_create(TEST_SLOTS, &f->st, &err),
			 0);
	f->v = (struct kr_admin_spam_view){
		.metrics = f->metrics,
		.first_worker_slot = 1,
		.n_worker_slots = TEST_SLOTS,
		.status = f->st,
		.enabled = true,
	};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	kr_antispam_status_destroy(&f->st);
	kr_metrics_destroy(&f->metrics);
	free(f);
	return 0;
}

/* Worker index in slot i (entry i) with pid. */
static void
worker(struct fixture *f, unsigned i, pid_t pid, unsigned index)
{
	kr_metrics_slot_claim(kr_metrics_slot(f->metrics, 1 + i), pid, index);
	kr_antispam_status_claim(f->st, i, pid, index);
}

static void
gen_set(struct kr_antispam_status_gen *g, uint64_t id, int64_t loaded,
	uint64_t in_flight, bool current, const char *version)
{
	memset(g, 0, sizeof(*g));
	g->id = id;
	g->loaded_at_ms = loaded;
	g->in_flight = in_flight;
	g->current = current;
	g->n_modules = 2;
	snprintf(g->modules[0].name, sizeof(g->modules[0].name), "rules");
	snprintf(g->modules[0].version, sizeof(g->modules[0].version), "%s",
		 version);
	g->modules[0].generation = id;
	snprintf(g->modules[1].name, sizeof(g->modules[1].name), "dnsbl");
	snprintf(g->modules[1].version, sizeof(g->modules[1].version), "1");
	g->modules[1].generation = 1;
}

static void
entry_write(struct fixture *f, unsigned i, pid_t pid, unsigned index,
	    const char *error, int64_t error_ms,
	    const struct kr_antispam_status_gen *gens, unsigned n)
{
	struct kr_antispam_status_entry e;

	memset(&e, 0, sizeof(e));
	e.pid = pid;
	e.index = index;
	e.enabled = true;
	e.generation = n > 0 ? gens[0].id : 0;
	e.open_generations = n;
	snprintf(e.last_error, sizeof(e.last_error), "%s", error);
	e.error_ms = error_ms;
	e.n_generations = n;
	memcpy(e.generations, gens, n * sizeof(gens[0]));
	if (n > 0) {
		e.n_modules = gens[0].n_modules;
		memcpy(e.modules, gens[0].modules, sizeof(e.modules));
	}
	kr_antispam_status_write(f->st, i, &e);
}

static char *
dump(json_t *doc)
{
	char *text;

	assert_non_null(doc);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	assert_non_null(text);
	return text;
}

static void
test_admin_spam_filters_empty(void **state)
{
	struct fixture *f = *state;
	char *text;

	text = dump(kr_admin_filters_doc(&f->v));
	assert_string_equal(text, "{\"enabled\":true,\"generations\":[],"
				  "\"last_error\":null}");
	free(text);
	/* No region at all (antispam never set up): the same, disabled. */
	f->v.status = NULL;
	f->v.enabled = false;
	worker(f, 0, 100, 0);
	text = dump(kr_admin_filters_doc(&f->v));
	assert_string_equal(text, "{\"enabled\":false,\"generations\":[],"
				  "\"last_error\":null}");
	free(text);
}

/* Worker 0 on generation 2 with 1 still held (3 checks), worker 1 on
 * 2 only (1 check), worker 2 still on 1 (a reload not yet seen); a
 * dead worker's entry is left out. */
static void
test_admin_spam_filters_merged(void **state)
{
	struct fixture *f = *state;
	struct kr_antispam_status_gen g[2];
	char *text;

	worker(f, 0, 100, 0);
	worker(f, 1, 101, 1);
	worker(f, 2, 102, 2);
	gen_set(&g[0], 2, 2000, 0, true, "1.1");
	gen_set(&g[1], 1, 1000, 3, false, "1.0");
	entry_write(f, 0, 100, 0, "", 0, g, 2);
	gen_set(&g[0], 2, 2005, 1, true, "1.1");
	entry_write(f, 1, 101, 1, "old error", 50, g, 1);
	gen_set(&g[0], 1, 990, 0, true, "1.0");
	entry_write(f, 2, 102, 2, "newer error", 70, g, 1);
	/* Entry 3 written by a worker whose slot is free now: gone. */
	gen_set(&g[0], 9, 9000, 5, true, "9");
	entry_write(f, 3, 103, 3, "dead worker's error", 99, g, 1);
	text = dump(kr_admin_filters_doc(&f->v));
	assert_string_equal(
		text, "{\"enabled\":true,\"generations\":["
		      "{\"id\":2,\"in_flight\":1,\"loaded_at_ms\":2000,"
		      "\"modules\":[{\"name\":\"rules\",\"version\":\"1.1\"},"
		      "{\"name\":\"dnsbl\",\"version\":\"1\"}],"
		      "\"state\":\"active\",\"workers\":[0,1]},"
		      "{\"id\":1,\"in_flight\":3,\"loaded_at_ms\":990,"
		      "\"modules\":[{\"name\":\"rules\",\"version\":\"1.0\"},"
		      "{\"name\":\"dnsbl\",\"version\":\"1\"}],"
		      "\"state\":\"active\",\"workers\":[0,2]}],"
		      "\"last_error\":\"newer error\"}");
	free(text);
	/* Worker 2 took the reload: generation 1 only retiring now. */
	gen_set(&g[0], 2, 2010, 0, true, "1.1");
	entry_write(f, 2, 102, 2, "", 0, g, 1);
	text = dump(kr_admin_filters_doc(&f->v));
	assert_non_null(strstr(text, "\"state\":\"retiring\","
				     "\"workers\":[0]}"));
	assert_non_null(strstr(text, "\"workers\":[0,1,2]"));
	assert_non_null(strstr(text, "\"last_error\":\"old error\""));
	free(text);
}

/* Worker indexes listed in order whichever slot holds them (a
 * replacement takes another slot); bytes that are no printable ASCII
 * become '?' rather than break the document. */
static void
test_admin_spam_filters_order_and_text(void **state)
{
	struct fixture *f = *state;
	struct kr_antispam_status_gen g[KR_ANTISPAM_STATUS_GENERATIONS_MAX];
	json_t *doc, *gens;
	char *text;

	worker(f, 0, 200, 3);
	worker(f, 1, 201, 1);
	for (unsigned i = 0; i < KR_ANTISPAM_STATUS_GENERATIONS_MAX; i++)
		gen_set(&g[i], 20 - i, 100, 1, i == 0, "v\xff\xfe");
	entry_write(f, 0, 200, 3, "bad \xc3", 5, g,
		    KR_ANTISPAM_STATUS_GENERATIONS_MAX);
	entry_write(f, 1, 201, 1, "", 0, g, 2);
	doc = kr_admin_filters_doc(&f->v);
	assert_non_null(doc);
	gens = json_object_get(doc, "generations");
	assert_int_equal(json_array_size(gens),
			 KR_ANTISPAM_STATUS_GENERATIONS_MAX);
	text = dump(doc);
	assert_non_null(strstr(text, "{\"id\":20,\"in_flight\":2,"));
	assert_non_null(strstr(text, "\"workers\":[1,3]}"));
	assert_non_null(strstr(text, "\"version\":\"v??\""));
	assert_non_null(strstr(text, "\"last_error\":\"bad ?\""));
	assert_non_null(strstr(text, "{\"id\":13,"));
	free(text);
}

/* /api/antispam lists each module's version and the generations. */
static void
test_admin_spam_doc_versions(void **state)
{
	struct fixture *f = *state;
	struct kr_antispam_status_gen g;
	char *text;

	worker(f, 0, 300, 0);
	gen_set(&g, 4, 100, 0, true, "2.0");
	entry_write(f, 0, 300, 0, "", 0, &g, 1);
	text = dump(kr_admin_spam_doc(&f->v));
	assert_non_null(strstr(text, "{\"generation\":4,\"name\":\"rules\","
				     "\"version\":\"2.0\"}"));
	/* And the merged generations of /api/filters. */
	assert_non_null(strstr(text, "\"generations\":[{\"id\":4,"
				     "\"in_flight\":0,"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_admin_spam_filters_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_spam_filters_merged,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_admin_spam_filters_order_and_text, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_admin_spam_doc_versions,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
