/* The one check of a user's e-mail address, shared by everything that
 * takes one: the CLI and its passwd-file import, the store, LMTP RCPT
 * and auth.login. Pure; any thread. */
#ifndef KR_ADDRESS_H
#define KR_ADDRESS_H

#include <stddef.h>

#include "lib/err.h"
#include "lib/limits.h"

/* in[0..len) (need not be NUL-terminated) is an address kurier keeps:
 * local@domain, 1 to KR_ADDRESS_MAX bytes of printable ASCII without
 * blanks, exactly one '@' with something on either side. Writes it
 * lower-cased (ASCII only, as the shard map and the SQL side fold it)
 * and NUL-terminated to out (out_size > KR_ADDRESS_MAX; out may be in).
 * -1 + err_r (KR_ERR_PERMANENT, the reason) otherwise; out is then
 * undefined. */
int kr_address_normalize(const char *in, size_t len, char *out, size_t out_size,
			 struct kr_err *err_r);

#endif
