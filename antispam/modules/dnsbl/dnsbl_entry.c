/* The ABI entry of kr_dnsbl.so (antispam/filter.h). */
#include "antispam/modules/dnsbl/dnsbl.h"

const struct kr_filter_module *kr_filter_entry(void);

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &kr_dnsbl_module;
}
