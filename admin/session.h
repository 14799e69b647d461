/* Browser sessions of the admin port (SPEC.md §3.3, the Jupyter
 * convention): `GET /?token=TOKEN` trades the token for a cookie, and
 * POSTs carried by the cookie alone must come from the admin's own
 * origin. The cookie is stateless, `<expiry>.<HMAC-SHA256(token,
 * "kurier-admin|" expiry)>`: the master keeps no session table to
 * bound, and a new token ends every session at once. */
#ifndef KR_ADMIN_SESSION_H
#define KR_ADMIN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KR_ADMIN_COOKIE "kurier_admin"
#define KR_ADMIN_SESSION_TTL_S 43200 /* a working day and a half */
/* The Set-Cookie value, with its attributes, fits in this. */
#define KR_ADMIN_COOKIE_MAX 192

/* The Set-Cookie value of a session for token, starting at now_s. */
void kr_admin_session_cookie(const char *token, int64_t now_s, char *buf,
			     size_t size);
/* True when the Cookie field (NULL: none) carries a session of token
 * that has not expired at now_s. */
bool kr_admin_session_valid(const char *token, const char *cookie_field,
			    int64_t now_s);
/* True when origin (the Origin field) is http:// or https:// followed
 * by host (the Host field) exactly; either NULL: false. */
bool kr_admin_origin_ok(const char *origin, const char *host);
/* The value of query parameter `name` in the request-target url,
 * percent- and plus-decoded into buf. False when absent, undecodable,
 * holding a NUL, or longer than size - 1. */
bool kr_admin_query_param(const char *url, const char *name, char *buf,
			  size_t size);

#endif
