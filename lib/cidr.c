/* Address lists. IPv4 is kept as v4-mapped IPv6, so one matcher serves
 * both families. */
#include "lib/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t cidr_v4_prefix[12] = { 0, 0, 0, 0, 0,    0,
					    0, 0, 0, 0, 0xff, 0xff };

/* Text without prefix to 16 bytes; *v4_r says whether it was IPv4. */
static bool
cidr_addr_parse(const char *text, uint8_t out[16], bool *v4_r)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, text, &a4) == 1) {
		memcpy(out, cidr_v4_prefix, sizeof(cidr_v4_prefix));
		memcpy(out + 12, &a4, 4);
		*v4_r = true;
		return true;
	}
	*v4_r = false;
	return inet_pton(AF_INET6, text, out) == 1;
}

static bool
cidr_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool
cidr_host_bits_zero(const struct kr_cidr *c)
{
	uint8_t masked[16];

	/* The address must equal itself cut to its prefix. */
	memcpy(masked, c->addr, sizeof(masked));
	for (unsigned i = c->bits; i < 128; i++)
		masked[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	return memcmp(masked, c->addr, sizeof(masked)) == 0;
}

static int
cidr_entry_parse(const char *tok, struct kr_cidr *c, struct kr_err *err_r)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash, *end;
	unsigned long bits;
	bool v4;

	if (strlen(tok) >= sizeof(buf))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "'%.64s...' is not an address", tok);
	memcpy(buf, tok, strlen(tok) + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	if (!cidr_addr_parse(buf, c->addr, &v4))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "'%s' is not an IPv4 or IPv6 address", tok);
	bits = v4 ? 32 : 128;
	if (slash != NULL) {
		unsigned long max = bits;

		if (*slash < '0' || *slash > '9')
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "'%s': bad prefix length", tok);
		bits = strtoul(slash, &end, 10);
		if (*end != '\0' || bits > max || strlen(slash) > 3)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "'%s': prefix length over %lu", tok,
					  max);
	}
	c->bits = (uint8_t)(v4 ? 96 + bits : bits);
	if (!cidr_host_bits_zero(c))
		return kr_err_set(err_r, KR_ERR_PERMANENT,
				  "'%s': bits set past the prefix length", tok);
	return 0;
}

int
kr_cidr_list_parse(const char *text, struct kr_cidr_list *list_r,
		   struct kr_err *err_r)
{
	static const char seps[] = " \t,";
	struct kr_cidr_list list = { .n = 0 };
	char tok[INET6_ADDRSTRLEN + 16];

	for (const char *p = text + strspn(text, seps); *p != '\0';
	     p += strspn(p, seps)) {
		size_t n = strcspn(p, seps);

		if (n >= sizeof(tok))
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "'%.40s...' is not an address", p);
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (strcmp(tok, "unix") == 0) {
			list.unix_ok = true;
			continue;
		}
		if (strcmp(tok, "none") == 0) {
			if (list.n > 0 || list.unix_ok || p[strspn(p, seps)])
				return kr_err_set(err_r, KR_ERR_PERMANENT,
						  "'none' must stand alone");
			continue;
		}
		if (list.n == KR_CIDR_LIST_MAX)
			return kr_err_set(err_r, KR_ERR_PERMANENT,
					  "more than %d entries",
					  KR_CIDR_LIST_MAX);
		if (cidr_entry_parse(tok, &list.nets[list.n], err_r) < 0)
			return -1;
		list.n++;
	}
	*list_r = list;
	return 0;
}

static bool
cidr_list_match(const struct kr_cidr_list *list, const uint8_t addr[16])
{
	for (unsigned i = 0; i < list->n; i++)
		if (cidr_prefix_equal(addr, list->nets[i].addr,
				      list->nets[i].bits))
			return true;
	return false;
}

bool
kr_cidr_list_match_sa(const struct kr_cidr_list *list,
		      const struct sockaddr *sa)
{
	uint8_t addr[16];

	if (sa == NULL)
		return false;
	switch (sa->sa_family) {
	case AF_UNIX:
		return list->unix_ok;
	case AF_INET:
		memcpy(addr, cidr_v4_prefix, sizeof(cidr_v4_prefix));
		memcpy(addr + 12,
		       &((const struct sockaddr_in *)(const void *)sa)
				->sin_addr,
		       4);
		return cidr_list_match(list, addr);
	case AF_INET6:
		memcpy(addr,
		       &((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr,
		       16);
		return cidr_list_match(list, addr);
	default:
		return false;
	}
}

bool
kr_cidr_list_match_text(const struct kr_cidr_list *list, const char *text)
{
	uint8_t addr[16];
	bool v4;

	return cidr_addr_parse(text, addr, &v4) && cidr_list_match(list, addr);
}

int
kr_cidr_client_key(const char *text, char *key_r)
{
	char out[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	bool v4;
	int n;

	if (!cidr_addr_parse(text, addr, &v4))
		return -1;
	if (v4 || memcmp(addr, cidr_v4_prefix, sizeof(cidr_v4_prefix)) == 0) {
		if (inet_ntop(AF_INET, addr + 12, out, sizeof(out)) == NULL)
			return -1;
		n = snprintf(key_r, KR_CIDR_KEY_MAX, "a:%s", out);
	} else {
		memset(addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, addr, out, sizeof(out)) == NULL)
			return -1;
		n = snprintf(key_r, KR_CIDR_KEY_MAX, "a:%s/64", out);
	}
	return n > 0 && n < KR_CIDR_KEY_MAX ? n : -1;
}
