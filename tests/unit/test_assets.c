/* cmocka tests for admin/assets: the dashboard's files as the build
 * embedded them (ops/embed-ui.sh): every file the page and the admin
 * name, each typed, with a NUL after its bytes and a SHA-256 ETag; look-
 * ups exact, by length too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "admin/assets.h"

struct assets_case {
	const char *name;
	const char *type_prefix;
	bool page;
	const char *must_contain; /* a marker of the right content */
};

static const struct assets_case assets_cases[] = {
	{ "index.html", "text/html", true, "/ui/app.js" },
	{ "login.html", "text/html", true, "name=\"token\"" },
	{ "app.js", "text/javascript", false, "/api/snapshot" },
	{ "login.js", "text/javascript", false, "replaceState" },
	{ "app.css", "text/css", false, "row-down" },
	{ "uPlot.iife.min.js", "text/javascript", false, "uPlot" },
	{ "uPlot.min.css", "text/css", false, ".uplot" },
};

static bool
assets_etag_ok(const char *etag)
{
	size_t len = strlen(etag);

	if (len != 34 || etag[0] != '"' || etag[33] != '"')
		return false;
	for (size_t i = 1; i < 33; i++)
		if (!isxdigit((unsigned char)etag[i]) ||
		    isupper((unsigned char)etag[i]))
			return false;
	return true;
}

static void
test_assets_every_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(assets_cases) / sizeof(assets_cases[0]);
	     i++) {
		const struct assets_case *c = &assets_cases[i];
		const struct kr_admin_asset *a = kr_admin_asset_find(c->name);

		assert_non_null(a);
		assert_string_equal(a->name, c->name);
		assert_true(strncmp(a->content_type, c->type_prefix,
				    strlen(c->type_prefix)) == 0);
		assert_true(a->len > 0);
		assert_int_equal(a->data[a->len], 0);
		assert_int_equal(strlen((const char *)a->data), a->len);
		assert_non_null(strstr((const char *)a->data, c->must_contain));
		assert_true(assets_etag_ok(a->etag));
		assert_int_equal(a->page, c->page);
	}
	assert_int_equal(kr_admin_n_assets,
			 sizeof(assets_cases) / sizeof(assets_cases[0]));
}

/* The pages load nothing from elsewhere and carry no inline script or
 * style (the admin's CSP: script-src 'self'; style-src 'self'). */
static void
test_assets_pages_csp_clean(void **state)
{
	static const char *const bad[] = {
		"<script>", "style=",  "<style",   "http://",	"https://",
		" onclick", " onload", " onerror", " onsubmit",
	};

	(void)state;
	for (size_t i = 0; i < kr_admin_n_assets; i++) {
		const struct kr_admin_asset *a = &kr_admin_assets[i];

		if (!a->page)
			continue;
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
			if (strstr((const char *)a->data, bad[j]) != NULL)
				fail_msg("%s contains \"%s\"", a->name, bad[j]);
	}
}

static void
test_assets_find_exact(void **state)
{
	(void)state;
	assert_null(kr_admin_asset_find(NULL));
	assert_null(kr_admin_asset_find(""));
	assert_null(kr_admin_asset_find("nope.js"));
	assert_null(kr_admin_asset_find("APP.JS"));
	assert_null(kr_admin_asset_find("app.j"));
	assert_null(kr_admin_asset_find("app.jsx"));
	assert_null(kr_admin_asset_find("/app.js"));
	assert_null(kr_admin_asset_find("../app.js"));
	/* A request-target's segment: the name, then a query. */
	assert_non_null(kr_admin_asset_find_n("app.js?v=1", 6));
	assert_null(kr_admin_asset_find_n("app.js?v=1", 7));
	assert_null(kr_admin_asset_find_n("app.js", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assets_every_file),
		cmocka_unit_test(test_assets_pages_csp_clean),
		cmocka_unit_test(test_assets_find_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
