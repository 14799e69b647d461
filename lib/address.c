/* Users' e-mail addresses: what kurier accepts as one. */
#include "lib/address.h"

#include <string.h>

int
kr_address_normalize(const char *in, size_t len, char *out, size_t out_size,
		     struct kr_err *err_r)
{
	const char *at;

	kr_assert(out_size > KR_ADDRESS_MAX);
	if (len == 0)
		return kr_err_set(err_r, KR_ERR_PERMANENT, "empty address");
	if (len > KR_ADDRESS_MAX)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "address longer than %d bytes",
				  KR_ADDRESS_MAX);
	/* Byte by byte, so out == in works. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c >= 0x7f)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "address has a byte 0x%02x that is "
					  "not printable ASCII",
					  c);
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[len] = '\0';
	at = memchr(out, '@', len);
	if (at == NULL || at == out || at == out + len - 1 ||
	    memchr(at + 1, '@', (size_t)(out + len - at - 1)) != NULL)
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "address is not local@domain");
	return 0;
}
