/* The config's limits against the store's: a limit the store cannot
 * honour would turn into the same failure on every retry (a message
 * that gets 451 for ever), so kurierd refuses to start with it. */
#include <stdarg.h>
#include <stdio.h>

#include "lib/config.h"
#include "storage/store.h"

/* Fails with "<file>:<line>: [section] key: <what>", the config
 * loader's wording. */
static int __attribute__((format(printf, 5, 6)))
store_config_fail(const struct kr_config *cfg, const char *section,
		  const char *key, struct kr_err *err_r, const char *fmt, ...)
{
	char what[KR_ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kr_err_set(err_r, KR_ERR_PERMANENT, "%s:%u: [%s] %s: %s",
			  cfg->path != NULL ? cfg->path : "(config)",
			  kr_config_key_line(cfg, section, key), section, key,
			  what);
}

int
kr_store_check_config(const struct kr_config *cfg, struct kr_err *err_r)
{
	if (cfg->lmtp.rcpt_max > KR_STORE_RCPTS_MAX)
		return store_config_fail(
			cfg, "lmtp", "rcpt_max", err_r,
			"%u is more than the store takes in one delivery "
			"(at most %d)",
			cfg->lmtp.rcpt_max, KR_STORE_RCPTS_MAX);
	if (cfg->lmtp.message_max > KR_STORE_DELIVERY_BODY_MAX)
		return store_config_fail(
			cfg, "lmtp", "message_max", err_r,
			"%llu bytes is more than the store takes (at most "
			"%d: %d less %d for the headers delivery adds)",
			(unsigned long long)cfg->lmtp.message_max,
			KR_STORE_DELIVERY_BODY_MAX, KR_STORE_MESSAGE_MAX,
			KR_STORE_PREFIX_RESERVE);
	if (cfg->jsonrpc.body_max > KR_STORE_RPC_BODY_MAX)
		return store_config_fail(
			cfg, "jsonrpc", "body_max", err_r,
			"%llu bytes is more than any call can use (at most "
			"%d: message.append of a %d-byte message in base64 "
			"and its request)",
			(unsigned long long)cfg->jsonrpc.body_max,
			KR_STORE_RPC_BODY_MAX, KR_STORE_MESSAGE_MAX);
	return 0;
}
