/* The dashboard's web assets (SPEC.md §3.3), embedded into the binary at
 * build time by ops/embed-ui.sh from admin/ui/ and uPlot's dist files
 * (admin/ui/node_modules): constant data, any thread, nothing to free.
 * The admin serves the code and styles at /ui/NAME without auth (public
 * code, no data) and the two pages at / itself. */
#ifndef KR_ADMIN_ASSETS_H
#define KR_ADMIN_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct kr_admin_asset {
	const char *name;	   /* "app.js", "index.html", ... */
	const char *content_type;  /* with charset where it is text */
	const unsigned char *data; /* len bytes, then a NUL (not counted) */
	size_t len;
	const char *etag; /* strong, quoted: "\"<hex of SHA-256>\"" */
	/* An HTML page ("index.html": the dashboard, "login.html": the
	 * token form) that the admin answers at / behind its own checks,
	 * never at /ui/NAME. */
	bool page;
};

/* The asset called name (exactly, case counts), or NULL. */
const struct kr_admin_asset *kr_admin_asset_find(const char *name);
/* The same for a name of len bytes that need not end in a NUL (a
 * request-target's last segment); NULL for len 0. */
const struct kr_admin_asset *kr_admin_asset_find_n(const char *name,
						   size_t len);

/* The table ops/embed-ui.sh generates (build/<mode>/gen/admin/), in
 * the order of its arguments. */
extern const struct kr_admin_asset kr_admin_assets[];
extern const size_t kr_admin_n_assets;

#endif
