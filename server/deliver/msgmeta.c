/* Summary to listing metadata. */
#include "server/deliver/msgmeta.h"

#include "lib/arena.h"
#include "proto/mime.h"
#include "storage/store.h"

static const struct kr_store_addr *
msgmeta_addrs(struct kr_arena *arena, const struct kr_mime_addr *in, unsigned n)
{
	struct kr_store_addr *out;

	if (n == 0)
		return NULL;
	out = kr_arena_alloc(arena, n * sizeof(*out), NULL);
	for (unsigned i = 0; out != NULL && i < n; i++)
		out[i] = (struct kr_store_addr){ .name = in[i].name,
						 .email = in[i].email };
	return out;
}

static const struct kr_store_attachment *
msgmeta_attachments(struct kr_arena *arena, const struct kr_mime_summary *sum)
{
	struct kr_store_attachment *out;

	if (sum->n_attachments == 0)
		return NULL;
	out = kr_arena_alloc(arena, sum->n_attachments * sizeof(*out), NULL);
	for (unsigned i = 0; out != NULL && i < sum->n_attachments; i++) {
		const struct kr_mime_attachment *a = &sum->attachments[i];

		out[i] = (struct kr_store_attachment){
			.part = a->part,
			.filename = a->filename,
			.type = a->type,
			.size = (int64_t)a->size,
		};
	}
	return out;
}

int
kr_msgmeta_from_summary(const struct kr_mime_summary *sum,
			struct kr_arena *arena, struct kr_store_meta *meta)
{
	*meta = (struct kr_store_meta){ 0 };
	if (sum == NULL)
		return 0;
	*meta = (struct kr_store_meta){
		.has_date = sum->has_date,
		.date = (int64_t)sum->date,
		.from_name = sum->from.name,
		.from_email = sum->from.email,
		.to = msgmeta_addrs(arena, sum->to, sum->n_to),
		.n_to = sum->n_to,
		.cc = msgmeta_addrs(arena, sum->cc, sum->n_cc),
		.n_cc = sum->n_cc,
		.subject = sum->subject,
		.message_id = sum->message_id,
		.in_reply_to = sum->in_reply_to,
		.references = sum->references,
		.preview = sum->preview,
		.has_attachments = sum->has_attachments,
		.attachments = msgmeta_attachments(arena, sum),
		.n_attachments = sum->n_attachments,
		.search_terms = sum->search_terms,
	};
	if ((sum->n_to > 0 && meta->to == NULL) ||
	    (sum->n_cc > 0 && meta->cc == NULL) ||
	    (sum->n_attachments > 0 && meta->attachments == NULL))
		return -1;
	return 0;
}
