/* Which address a login counts against: X-Forwarded-For's right-most
 * entry and the trust decision. */
#include "server/auth/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const client_source_names[] = {
	[KR_CLIENT_NONE] = "none",
	[KR_CLIENT_PARAM] = "client_ip",
	[KR_CLIENT_HEADER] = "forwarded",
	[KR_CLIENT_PEER] = "peer",
};

const char *
kr_client_source_name(enum kr_client_source source)
{
	return client_source_names[source];
}

bool
kr_client_addr_ok(const char *ip)
{
	char key[KR_CIDR_KEY_MAX];

	return strlen(ip) < KR_CLIENT_ADDR_MAX &&
	       kr_cidr_client_key(ip, key) >= 0;
}

/* 1..5 digits, at most 65535. */
static bool
client_port_ok(const char *port)
{
	size_t n = strlen(port);

	return n >= 1 && n <= 5 && strspn(port, "0123456789") == n &&
	       strtoul(port, NULL, 10) <= 65535;
}

void
kr_client_forwarded(const char *xff, char *out_r)
{
	char buf[KR_CLIENT_ADDR_MAX + 8];
	const char *start;
	char *addr, *port = NULL;
	size_t len;

	out_r[0] = '\0';
	if (xff == NULL)
		return;
	start = strrchr(xff, ',');
	start = start != NULL ? start + 1 : xff;
	start += strspn(start, " \t");
	len = strcspn(start, " \t");
	/* Nothing but blanks may follow the entry. */
	if (len == 0 || len >= sizeof(buf) ||
	    start[len + strspn(start + len, " \t")] != '\0')
		return;
	memcpy(buf, start, len);
	buf[len] = '\0';
	addr = buf;
	if (addr[0] == '[') {
		char *close = strchr(addr, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return;
		port = close[1] == ':' ? close + 2 : NULL;
		*close = '\0';
		addr++;
	} else if (strchr(addr, '.') != NULL && strchr(addr, ':') != NULL &&
		   strchr(addr, ':') == strrchr(addr, ':')) {
		port = strchr(addr, ':');
		*port++ = '\0';
	}
	if (port != NULL && !client_port_ok(port))
		return;
	if (kr_client_addr_ok(addr))
		memcpy(out_r, addr, strlen(addr) + 1);
}

void
kr_client_choose(const struct kr_cidr_list *trusted, const char *peer,
		 const char *client_ip, const char *forwarded,
		 struct kr_client *c_r)
{
	const char *addr;

	memset(c_r, 0, sizeof(*c_r));
	if (!kr_cidr_list_match_text(trusted, peer)) {
		c_r->source = KR_CLIENT_PEER;
		addr = peer;
	} else if (client_ip != NULL) {
		c_r->source = KR_CLIENT_PARAM;
		addr = client_ip;
	} else if (forwarded[0] != '\0') {
		c_r->source = KR_CLIENT_HEADER;
		addr = forwarded;
	} else {
		c_r->source = KR_CLIENT_NONE;
		return;
	}
	snprintf(c_r->addr, sizeof(c_r->addr), "%s", addr);
	/* The peer text is the kernel's, so this fails only for a kind of
	 * peer we do not expect: such peers share one bucket. */
	if (kr_cidr_client_key(addr, c_r->key) < 0)
		snprintf(c_r->key, sizeof(c_r->key), "a:?");
}
