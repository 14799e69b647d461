/* The ABI entry of kr_spf.so (antispam/filter.h); only in the .so. */
#include "antispam/modules/spf/spf.h"

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return kr_spf_module();
}
