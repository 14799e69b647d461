/* Look-up in the generated asset table: a handful of entries, so a
 * linear scan. */
#include "admin/assets.h"

#include <string.h>

const struct kr_admin_asset *
kr_admin_asset_find_n(const char *name, size_t len)
{
	if (name == NULL || len == 0)
		return NULL;
	for (size_t i = 0; i < kr_admin_n_assets; i++) {
		const struct kr_admin_asset *a = &kr_admin_assets[i];

		if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
			return a;
	}
	return NULL;
}

const struct kr_admin_asset *
kr_admin_asset_find(const char *name)
{
	return name != NULL ? kr_admin_asset_find_n(name, strlen(name)) : NULL;
}
