/* Inside proto/jsonrpc: the pre-scan that runs over a request body
 * before jansson builds anything (proto/jsonrpc_scan.c). */
#ifndef KR_JSONRPC_PRIV_H
#define KR_JSONRPC_PRIV_H

#include <stdbool.h>
#include <stddef.h>

/* Where the "id" member's value of one request object lies in the body;
 * len 0 when that object has no scalar id (none, or an array/object). */
struct kr_jsonrpc_idspan {
	size_t off, len;
};

/* What one pass over the body found. Exact for valid JSON; for invalid
 * JSON the counts are what the bytes up to the error suggest (jansson
 * then fails anyway). */
struct kr_jsonrpc_scan {
	bool too_deep;	/* nesting passed depth_max: scan stopped there */
	size_t values;	/* JSON values: containers and scalars */
	size_t entries; /* entries of a top-level array; 1 otherwise */
	/* The id of the top-level object (ids[0]) or of each object of a
	 * top-level array, for the first ids_max entries; malloc'd. The
	 * last "id" member counts when there are several, as in jansson;
	 * keys are compared after \u unescaping ("\u0069d" is "id"). */
	struct kr_jsonrpc_idspan *ids;
	size_t n_ids;
};

/* Scans len bytes of body: counts values and top-level entries,
 * checks the nesting against depth_max and records ids. Allocates
 * nothing but the ids array. Free with kr_jsonrpc_scan_free. */
void kr_jsonrpc_scan(const char *body, size_t len, unsigned depth_max,
		     size_t ids_max, struct kr_jsonrpc_scan *out);
void kr_jsonrpc_scan_free(struct kr_jsonrpc_scan *s);

/* Whether the number text s (n bytes) is one jansson can hold: it
 * refuses integers beyond int64 and reals whose magnitude overflows a
 * double, and fails the whole body with them. True for text that is
 * not a JSON number at all (jansson refuses it for other reasons). */
bool kr_jsonrpc_number_loadable(const char *s, size_t n);

#endif
