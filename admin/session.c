/* Admin browser sessions: stateless HMAC cookies and the Origin rule. */
#include "admin/session.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/hex.h"
#include "lib/secret.h"

#define SESSION_MAC_HEX 64

/* mac_r gets 64 hex digits and a NUL. */
static void
session_mac(const char *token, int64_t expiry, char *mac_r)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char msg[64];
	int len = snprintf(msg, sizeof(msg), "kurier-admin|%" PRId64, expiry);

	if (HMAC(EVP_sha256(), token, (int)strlen(token),
		 (const unsigned char *)msg, (size_t)len, mac, &n) == NULL ||
	    n != 32)
		kr_panic("admin: HMAC-SHA256 failed");
	for (unsigned i = 0; i < n; i++)
		snprintf(mac_r + 2 * i, 3, "%02x", mac[i]);
}

void
kr_admin_session_cookie(const char *token, int64_t now_s, char *buf,
			size_t size)
{
	int64_t expiry = now_s + KR_ADMIN_SESSION_TTL_S;
	char mac[SESSION_MAC_HEX + 1];

	session_mac(token, expiry, mac);
	snprintf(buf, size,
		 KR_ADMIN_COOKIE "=%" PRId64 ".%s; Path=/; HttpOnly; "
				 "SameSite=Strict; Max-Age=%d",
		 expiry, mac, KR_ADMIN_SESSION_TTL_S);
}

/* One "expiry.mac" value checked. */
static bool
session_value_valid(const char *token, const char *v, size_t len, int64_t now_s)
{
	char mac[SESSION_MAC_HEX + 1], num[24];
	const char *dot = memchr(v, '.', len);
	size_t num_len;
	char *end;
	long long expiry;

	if (dot == NULL)
		return false;
	num_len = (size_t)(dot - v);
	if (num_len == 0 || num_len >= sizeof(num) ||
	    len - num_len - 1 != SESSION_MAC_HEX)
		return false;
	memcpy(num, v, num_len);
	num[num_len] = '\0';
	expiry = strtoll(num, &end, 10);
	if (*end != '\0' || expiry <= now_s ||
	    expiry > now_s + KR_ADMIN_SESSION_TTL_S)
		return false;
	session_mac(token, expiry, mac);
	return kr_secret_equal(dot + 1, SESSION_MAC_HEX, mac, SESSION_MAC_HEX);
}

bool
kr_admin_session_valid(const char *token, const char *cookie_field,
		       int64_t now_s)
{
	static const char name[] = KR_ADMIN_COOKIE "=";
	const char *p = cookie_field;

	/* Any of the pairs may be ours (RFC 6265 §5.4: several fields are
	 * joined with "; "). */
	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ";");

		while (*p == ' ' && len > 0) {
			p++;
			len--;
		}
		if (len > sizeof(name) - 1 &&
		    strncmp(p, name, sizeof(name) - 1) == 0 &&
		    session_value_valid(token, p + sizeof(name) - 1,
					len - (sizeof(name) - 1), now_s))
			return true;
		p += len;
		if (*p == ';')
			p++;
	}
	return false;
}

bool
kr_admin_origin_ok(const char *origin, const char *host)
{
	static const char *const schemes[] = { "http://", "https://" };

	if (origin == NULL || host == NULL || *host == '\0')
		return false;
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(schemes[i]);

		if (strncmp(origin, schemes[i], n) == 0 &&
		    strcmp(origin + n, host) == 0)
			return true;
	}
	return false;
}

/* Decodes [v, v + len) into buf; false as kr_admin_query_param. */
static bool
session_decode(const char *v, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)v[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				return false;
			hi = kr_hex_value(v[i + 1]);
			lo = kr_hex_value(v[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= size)
			return false;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return true;
}

bool
kr_admin_query_param(const char *url, const char *name, char *buf, size_t size)
{
	const char *q = strchr(url, '?');
	size_t name_len = strlen(name);

	if (q == NULL || size == 0)
		return false;
	for (const char *p = q + 1; *p != '\0';) {
		size_t len = strcspn(p, "&#");

		if (len > name_len && p[name_len] == '=' &&
		    strncmp(p, name, name_len) == 0)
			return session_decode(p + name_len + 1,
					      len - name_len - 1, buf, size);
		if (p[len] != '&')
			break;
		p += len + 1;
	}
	return false;
}
