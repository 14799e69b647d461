/* /api/antispam and the wait of POST /api/reload, both on the shared
 * antispam status region: the master never asks a worker. */
#include "admin/admin_spam.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "admin/httpd.h"
#include "lib/clock.h"

/* What a wait noted of one worker before the reload. */
struct reload_note {
	unsigned entry; /* status entry = metrics slot - first_worker_slot */
	pid_t pid;
	uint64_t seq;
};

struct kr_admin_reload {
	const struct kr_admin_spam_view *v;
	struct event_base *base;
	struct kr_httpd_call *call;
	struct event *timer;
	int64_t deadline_ms;
	struct kr_admin_reload **list; /* where it is linked */
	struct kr_admin_reload *next;
	unsigned n;
	struct reload_note notes[];
};

/* The live process of slot entry i, or pid 0. */
static void
spam_slot(const struct kr_admin_spam_view *v, unsigned i,
	  struct kr_metrics_slot_info *info_r)
{
	kr_metrics_slot_get_info(
		kr_metrics_slot(v->metrics, v->first_worker_slot + i), info_r);
}

/* Entry i when it is pid's; else one with no host and why. */
static void
spam_entry(const struct kr_admin_spam_view *v, unsigned i, pid_t pid,
	   struct kr_antispam_status_entry *e_r)
{
	if (v->status != NULL &&
	    kr_antispam_status_read(v->status, i, e_r) == 0 && e_r->pid == pid)
		return;
	memset(e_r, 0, sizeof(*e_r));
	e_r->pid = pid;
}

/* The first slot entry from `from` on with a live process, its process
 * and status entry filled; -1 past the last. */
static int
spam_live(const struct kr_admin_spam_view *v, unsigned from,
	  struct kr_metrics_slot_info *info_r,
	  struct kr_antispam_status_entry *e_r)
{
	for (unsigned i = from; i < v->n_worker_slots; i++) {
		spam_slot(v, i, info_r);
		if (info_r->pid != 0) {
			spam_entry(v, i, info_r->pid, e_r);
			return (int)i;
		}
	}
	return -1;
}

/* s as a JSON string; bytes that are not printable ASCII become '?'
 * (a module's version or a dlerror() text may carry anything, and
 * jansson refuses invalid UTF-8). */
static json_t *
spam_string(const char *s)
{
	char buf[KR_ANTISPAM_STATUS_ERROR_MAX];
	size_t n = 0;

	for (; n < sizeof(buf) - 1 && s[n] != '\0'; n++)
		buf[n] = s[n] >= ' ' && s[n] <= '~' ? s[n] : '?';
	return json_stringn(buf, n);
}

static json_t *
spam_worker_json(const struct kr_antispam_status_entry *e, unsigned index)
{
	json_t *mods = json_array();

	for (unsigned m = 0; m < e->n_modules; m++)
		json_array_append_new(
			mods,
			json_pack("{s:o, s:I, s:o}", "name",
				  spam_string(e->modules[m].name), "generation",
				  (json_int_t)e->modules[m].generation,
				  "version",
				  spam_string(e->modules[m].version)));
	return json_pack("{s:I, s:i, s:I, s:I, s:I, s:o, s:o}", "pid",
			 (json_int_t)e->pid, "index", (int)index, "generation",
			 (json_int_t)e->generation, "open_generations",
			 (json_int_t)e->open_generations, "reload_seq",
			 (json_int_t)e->reload_seq, "last_error",
			 spam_string(e->last_error), "modules", mods);
}

/* One generation of /api/filters, merged across workers. */
struct filters_gen {
	uint64_t id;
	int64_t loaded_at_ms;
	uint64_t in_flight;
	bool active;
	json_t *modules;
	unsigned n_workers;
	unsigned *workers; /* n_worker_slots of room */
};

struct filters_acc {
	struct filters_gen *gens; /* n_worker_slots * GENERATIONS_MAX */
	size_t n, max;
	unsigned room; /* workers per generation */
	int64_t error_ms;
	char error[KR_ANTISPAM_STATUS_ERROR_MAX];
};

static json_t *
filters_modules(const struct kr_antispam_status_gen *g)
{
	json_t *mods = json_array();

	for (unsigned m = 0; m < g->n_modules; m++)
		json_array_append_new(
			mods,
			json_pack("{s:o, s:o}", "name",
				  spam_string(g->modules[m].name), "version",
				  spam_string(g->modules[m].version)));
	return mods;
}

static struct filters_gen *
filters_find(struct filters_acc *acc, const struct kr_antispam_status_gen *g)
{
	struct filters_gen *f;

	for (size_t k = 0; k < acc->n; k++)
		if (acc->gens[k].id == g->id)
			return &acc->gens[k];
	if (acc->n == acc->max)
		return NULL; /* cannot happen: max is every entry's all */
	f = &acc->gens[acc->n++];
	f->id = g->id;
	f->loaded_at_ms = g->loaded_at_ms;
	f->modules = filters_modules(g);
	f->workers = kr_xcalloc(acc->room, sizeof(*f->workers));
	return f;
}

/* Entry e of the worker with that index into acc. */
static void
filters_add(struct filters_acc *acc, const struct kr_antispam_status_entry *e,
	    unsigned index)
{
	for (unsigned i = 0; i < e->n_generations; i++) {
		const struct kr_antispam_status_gen *g = &e->generations[i];
		struct filters_gen *f = filters_find(acc, g);

		if (f == NULL)
			continue;
		f->in_flight += g->in_flight;
		f->active = f->active || g->current;
		if (g->loaded_at_ms < f->loaded_at_ms)
			f->loaded_at_ms = g->loaded_at_ms;
		if (f->n_workers < acc->room)
			f->workers[f->n_workers++] = index;
	}
	if (e->last_error[0] != '\0' &&
	    (acc->error[0] == '\0' || e->error_ms > acc->error_ms)) {
		acc->error_ms = e->error_ms;
		memcpy(acc->error, e->last_error, sizeof(acc->error));
	}
}

static int
filters_gen_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct filters_gen *)a)->id;
	uint64_t y = ((const struct filters_gen *)b)->id;

	return x < y ? 1 : x > y ? -1 : 0; /* newest first */
}

static int
filters_index_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* The merged generations as JSON; frees what acc held. */
static json_t *
filters_json(struct filters_acc *acc)
{
	json_t *list = json_array();

	qsort(acc->gens, acc->n, sizeof(acc->gens[0]), filters_gen_cmp);
	for (size_t k = 0; k < acc->n; k++) {
		struct filters_gen *f = &acc->gens[k];
		json_t *workers = json_array();

		qsort(f->workers, f->n_workers, sizeof(f->workers[0]),
		      filters_index_cmp);
		for (unsigned w = 0; w < f->n_workers; w++)
			json_array_append_new(workers,
					      json_integer(f->workers[w]));
		json_array_append_new(
			list,
			json_pack("{s:I, s:o, s:I, s:I, s:s, s:o}", "id",
				  (json_int_t)f->id, "modules", f->modules,
				  "loaded_at_ms", (json_int_t)f->loaded_at_ms,
				  "in_flight", (json_int_t)f->in_flight,
				  "state", f->active ? "active" : "retiring",
				  "workers", workers));
		free(f->workers);
	}
	free(acc->gens);
	return list;
}

json_t *
kr_admin_filters_doc(const struct kr_admin_spam_view *v)
{
	struct filters_acc acc = {
		.max = (size_t)v->n_worker_slots *
		       KR_ANTISPAM_STATUS_GENERATIONS_MAX,
		.room = v->n_worker_slots,
	};
	struct kr_metrics_slot_info info;
	struct kr_antispam_status_entry e;
	json_t *gens;

	acc.gens = kr_xcalloc(acc.max + 1, sizeof(*acc.gens));
	for (int i = 0; (i = spam_live(v, (unsigned)i, &info, &e)) >= 0; i++)
		filters_add(&acc, &e, info.index);
	gens = filters_json(&acc);
	return json_pack("{s:b, s:o, s:o}", "enabled", v->enabled,
			 "generations", gens, "last_error",
			 acc.error[0] != '\0' ? spam_string(acc.error)
					      : json_null());
}

json_t *
kr_admin_spam_doc(const struct kr_admin_spam_view *v)
{
	json_t *list = json_array(), *filters, *doc;
	struct kr_metrics_slot_info info;
	struct kr_antispam_status_entry e;

	for (int i = 0; (i = spam_live(v, (unsigned)i, &info, &e)) >= 0; i++)
		json_array_append_new(list, spam_worker_json(&e, info.index));
	/* The merged generations of /api/filters too (s:O takes a
	 * reference of its own). */
	filters = kr_admin_filters_doc(v);
	doc = json_pack("{s:b, s:o, s:O}", "enabled", v->enabled, "workers",
			list, "generations",
			json_object_get(filters, "generations"));
	json_decref(filters);
	return doc;
}

struct kr_admin_reload *
kr_admin_reload_new(struct event_base *base, const struct kr_admin_spam_view *v,
		    struct kr_httpd_call *call)
{
	struct kr_admin_reload *r = kr_xcalloc(
		1, sizeof(*r) + v->n_worker_slots * sizeof(r->notes[0]));
	struct kr_metrics_slot_info info;
	struct kr_antispam_status_entry e;

	r->v = v;
	r->base = base;
	r->call = call;
	/* The master signals every worker but the draining ones (one still
	 * starting gets it once its handlers are up). */
	for (int i = 0; (i = spam_live(v, (unsigned)i, &info, &e)) >= 0; i++)
		if (info.state != KR_SLOT_DRAINING)
			r->notes[r->n++] =
				(struct reload_note){ .entry = (unsigned)i,
						      .pid = info.pid,
						      .seq = e.reload_seq };
	return r;
}

void
kr_admin_reload_free(struct kr_admin_reload *r)
{
	if (r == NULL)
		return;
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

static void
reload_unlink(struct kr_admin_reload *r)
{
	for (struct kr_admin_reload **p = r->list; p != NULL && *p != NULL;
	     p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
}

/* Whether note's worker has reported (or is gone: a process started
 * after the reload read the new config anyway). */
static bool
reload_reported(const struct kr_admin_reload *r, const struct reload_note *n,
		struct kr_antispam_status_entry *e_r)
{
	struct kr_metrics_slot_info info;

	spam_slot(r->v, n->entry, &info);
	spam_entry(r->v, n->entry, n->pid, e_r);
	if (info.pid != n->pid)
		return true;
	return e_r->reload_seq > n->seq;
}

static void
reload_answer(struct kr_admin_reload *r, unsigned status, json_t *doc)
{
	static const struct kr_http_field nostore = { "Cache-Control",
						      "no-store" };
	const struct kr_httpd_answer a = {
		.status = status,
		.content_type = "application/json",
		.fields = &nostore,
		.n_fields = 1,
	};
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	size_t len;

	json_decref(doc);
	if (text == NULL)
		kr_panic("admin: out of memory encoding /api/reload");
	len = strlen(text);
	kr_httpd_answer_take(r->call, &a, text, len);
	r->call = NULL;
}

/* {generation, workers: [... reload: "done"|"pending"], error}. */
static json_t *
reload_doc(struct kr_admin_reload *r)
{
	json_t *list = json_array(), *error = json_null();
	uint64_t top = 0;

	for (unsigned i = 0; i < r->n; i++) {
		struct kr_antispam_status_entry e;
		bool done = reload_reported(r, &r->notes[i], &e);
		struct kr_metrics_slot_info info;
		json_t *w;

		spam_slot(r->v, r->notes[i].entry, &info);
		w = spam_worker_json(&e, info.index);
		json_object_set_new(w, "reload",
				    json_string(info.pid != r->notes[i].pid
							? "gone"
						: done ? "done"
						       : "pending"));
		if (e.generation > top)
			top = e.generation;
		if (done && e.last_error[0] != '\0' && json_is_null(error)) {
			json_decref(error);
			error = spam_string(e.last_error);
		}
		json_array_append_new(list, w);
	}
	return json_pack("{s:I, s:o, s:o, s:b}", "generation", (json_int_t)top,
			 "workers", list, "error", error, "enabled",
			 r->v->enabled);
}

static bool
reload_all_reported(const struct kr_admin_reload *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		struct kr_antispam_status_entry e;

		if (!reload_reported(r, &r->notes[i], &e))
			return false;
	}
	return true;
}

static void
reload_on_tick(evutil_socket_t fd, short what, void *ctx)
{
	struct kr_admin_reload *r = ctx;
	struct timeval poll = { .tv_usec = KR_ADMIN_RELOAD_POLL_MS * 1000 };

	(void)fd;
	(void)what;
	if (!reload_all_reported(r) && kr_clock_mono_ms() < r->deadline_ms) {
		event_add(r->timer, &poll);
		return;
	}
	reload_answer(r, 200, reload_doc(r));
	reload_unlink(r);
	kr_admin_reload_free(r);
}

void
kr_admin_reload_wait(struct kr_admin_reload *r, struct kr_admin_reload **list)
{
	struct timeval now = { 0 };

	r->list = list;
	r->next = *list;
	*list = r;
	r->deadline_ms = kr_clock_mono_ms() + KR_ADMIN_RELOAD_WAIT_MS;
	r->timer = evtimer_new(r->base, reload_on_tick, r);
	if (r->timer == NULL)
		kr_panic("admin: out of memory");
	/* Looked at from the loop, never from inside the handler. */
	event_add(r->timer, &now);
}

void
kr_admin_reload_cancel_all(struct kr_admin_reload **list)
{
	while (*list != NULL) {
		struct kr_admin_reload *r = *list;
		json_t *doc = json_pack("{s:s}", "error", "shutting down");

		*list = r->next;
		reload_answer(r, 503, doc);
		kr_admin_reload_free(r);
	}
}
