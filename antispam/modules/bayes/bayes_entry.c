/* The ABI entry of kr_bayes.so (only in the shared object). */
#include "antispam/modules/bayes/bayes.h"

const struct kr_filter_module *kr_filter_entry(void);

static const struct kr_filter_module bayes_module = {
	.abi = KR_FILTER_ABI,
	.name = "bayes",
	.version = "1 (Robinson/Fisher, FNV-1a tokens, seed 1)",
	.open = kr_bayes_open,
	.selftest = kr_bayes_selftest,
	.close = kr_bayes_close,
	.check = kr_bayes_check,
	.cancel = kr_bayes_cancel,
	.tokens = kr_bayes_tokens,
};

const struct kr_filter_module *
kr_filter_entry(void)
{
	return &bayes_module;
}
