/* The parser's summary (proto/mime) as the store's listing metadata
 * (storage/store.h), for LMTP deliveries and message.append alike. */
#ifndef KR_MSGMETA_H
#define KR_MSGMETA_H

struct kr_arena;
struct kr_mime_summary;
struct kr_store_meta;

/* Fills *meta from sum; sum NULL (parsing failed) gives an empty one,
 * the message is then stored raw. Strings are borrowed from sum; the
 * lists come from arena. -1 when the arena is full. */
int kr_msgmeta_from_summary(const struct kr_mime_summary *sum,
			    struct kr_arena *arena, struct kr_store_meta *meta);

#endif
