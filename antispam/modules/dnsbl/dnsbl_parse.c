/* The pure parts of the dnsbl module: the zone list, the reversed
 * query name, what an answer means. */
#include "antispam/modules/dnsbl/dnsbl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How much of a bad entry an error message shows. */
#define DNSBL_SHOWN_MAX 64

static bool
dnsbl_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 1035 2.3.1 names (digits first allowed, RFC 1123), plus '_':
 * labels of 1-63 letters, digits, '-' and '_', joined by dots. */
static bool
dnsbl_zone_valid(const char *z, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > KR_DNSBL_ZONE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = z[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static int
dnsbl_bad(const char *entry, size_t len, const char *why, char *err,
	  size_t err_size)
{
	int shown = len > DNSBL_SHOWN_MAX ? DNSBL_SHOWN_MAX : (int)len;

	snprintf(err, err_size, "dnsbl: entry \"%.*s%s\": %s", shown, entry,
		 len > DNSBL_SHOWN_MAX ? "..." : "", why);
	return -1;
}

static int
dnsbl_score(const char *s, size_t len, double *score_r)
{
	char buf[32], *end;
	double v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) ||
	    fabs(v) > KR_DNSBL_SCORE_MAX)
		return -1;
	*score_r = v;
	return 0;
}

/* One entry "ZONE[=SCORE]" of len bytes into z. */
static int
dnsbl_entry(const char *e, size_t len, struct kr_dnsbl_zone *z, char *err,
	    size_t err_size)
{
	const char *eq = memchr(e, '=', len);
	size_t zlen = eq != NULL ? (size_t)(eq - e) : len;
	size_t i;

	z->score = KR_DNSBL_SCORE_DEFAULT;
	if (eq != NULL && dnsbl_score(eq + 1, len - zlen - 1, &z->score) < 0)
		return dnsbl_bad(e, len, "the score is no number in +-10000",
				 err, err_size);
	if (zlen > 1 && e[zlen - 1] == '.')
		zlen--; /* "zen.spamhaus.org." is the same zone */
	if (!dnsbl_zone_valid(e, zlen))
		return dnsbl_bad(e, len,
				 "the zone is no DNS name of 1-128 "
				 "bytes",
				 err, err_size);
	memcpy(z->zone, e, zlen);
	z->zone[zlen] = '\0';
	memcpy(z->test, "RCVD_IN_", 8);
	for (i = 0; i < zlen; i++) {
		char c = e[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		z->test[8 + i] = c;
	}
	z->test[8 + i] = '\0';
	return 0;
}

int
kr_dnsbl_parse(const char *spec, struct kr_dnsbl_zone *zones, size_t max,
	       char *err, size_t err_size)
{
	const char *p = spec != NULL ? spec : "";
	size_t n = 0;

	for (;;) {
		const char *e;
		size_t len;

		while (dnsbl_space(*p))
			p++;
		if (*p == '\0')
			return (int)n;
		e = p;
		while (*p != '\0' && !dnsbl_space(*p))
			p++;
		len = (size_t)(p - e);
		if (n == max)
			return dnsbl_bad(e, len, "too many zones", err,
					 err_size);
		if (dnsbl_entry(e, len, &zones[n], err, err_size) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (strcasecmp(zones[i].zone, zones[n].zone) == 0)
				return dnsbl_bad(e, len,
						 "the zone is given "
						 "twice",
						 err, err_size);
		n++;
	}
}

int
kr_dnsbl_reverse(const char *addr, char *rev, char *text)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0,    0,
						  0, 0, 0, 0, 0xff, 0xff };
	unsigned char b[16];
	const unsigned char *v4 = NULL;
	char *o = rev;

	if (addr == NULL)
		return -1;
	if (inet_pton(AF_INET, addr, b) == 1) {
		v4 = b;
	} else {
		if (strncasecmp(addr, "IPv6:", 5) == 0)
			addr += 5;
		if (inet_pton(AF_INET6, addr, b) != 1)
			return -1;
		if (memcmp(b, mapped, sizeof(mapped)) == 0)
			v4 = b + 12;
	}
	if (v4 != NULL) {
		inet_ntop(AF_INET, v4, text, 46);
		snprintf(rev, KR_DNSBL_REVERSED_MAX, "%u.%u.%u.%u", v4[3],
			 v4[2], v4[1], v4[0]);
		return 0;
	}
	inet_ntop(AF_INET6, b, text, 46);
	for (int i = 15; i >= 0; i--) {
		*o++ = hex[b[i] & 0xf];
		*o++ = '.';
		*o++ = hex[b[i] >> 4];
		*o++ = i > 0 ? '.' : '\0';
	}
	return 0;
}

enum kr_dnsbl_answer
kr_dnsbl_classify(uint32_t addr)
{
	if ((addr >> 24) != 127 || addr < 0x7f000002u)
		return KR_DNSBL_NOT_LISTED;
	if ((addr & 0xffffff00u) == 0x7fffff00u)
		return KR_DNSBL_REFUSED;
	return KR_DNSBL_LISTED;
}
