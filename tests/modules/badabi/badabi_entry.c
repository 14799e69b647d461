/* A filter module for the host's tests: built against an ABI the host
 * does not speak, so loading it must be refused. */
#include "antispam/filter.h"

static int
badabi_open(const struct kr_filter_host *host,
	    const struct kr_filter_conf *conf, void **state_r, char *err,
	    size_t err_size)
{
	(void)host;
	(void)conf;
	(void)err;
	(void)err_size;
	*state_r = NULL;
	return 0;
}

static const struct kr_filter_module badabi_module = {
	.abi = KR_FILTER_ABI + 1,
	.name = "badabi",
	.version = "test",
	.open = badabi_open,
};

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &badabi_module;
}
