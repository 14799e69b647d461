/* The ABI entry of kr_rate.so (antispam/filter.h). */
#include "antispam/modules/rate/rate.h"

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &kr_rate_module;
}
