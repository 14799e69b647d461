/* The address a login counts against (SPEC.md §6, issue 13): a peer
 * in [auth] trusted (the webmail backend, which logs everyone in) names
 * its end user with a client_ip of the login, or else with the
 * right-most X-Forwarded-For entry; if it names none, the login is
 * limited per user only, so one attacker behind the webmail cannot
 * lock every user out. Any other peer counts as itself; what it says
 * about its client is ignored. Pure functions: any thread. */
#ifndef KR_CLIENT_H
#define KR_CLIENT_H

#include <stdbool.h>

#include "lib/cidr.h"

/* An IPv4 or IPv6 address as text, NUL included (INET6_ADDRSTRLEN). */
#define KR_CLIENT_ADDR_MAX 46

/* Where the address counted came from; named in log lines. */
enum kr_client_source {
	KR_CLIENT_NONE,	  /* a trusted peer named none: per user only */
	KR_CLIENT_PARAM,  /* client_ip, from a trusted peer */
	KR_CLIENT_HEADER, /* X-Forwarded-For, from a trusted peer */
	KR_CLIENT_PEER,	  /* the connection's own address */
};

struct kr_client {
	enum kr_client_source source;
	char addr[KR_CLIENT_ADDR_MAX]; /* the address counted, or "" */
	/* Its limiter key ("a:<address or /64>", lib/cidr.h), or "" when
	 * the login is not limited by address. */
	char key[KR_CIDR_KEY_MAX];
};

/* True when ip is an IPv4 or IPv6 address (no port, no brackets)
 * shorter than KR_CLIENT_ADDR_MAX: what a client_ip must be. */
bool kr_client_addr_ok(const char *ip);

/* The right-most entry of an X-Forwarded-For value (NULL: no header),
 * the one the trusted peer added (entries to its left are what its own
 * client claimed), into out_r (KR_CLIENT_ADDR_MAX bytes). Takes
 * "addr", "[ipv6]", "[ipv6]:port" and "ipv4:port"; anything else, and
 * no header, leaves out_r "". */
void kr_client_forwarded(const char *xff, char *out_r);

/* Chooses as the header says: peer is the connection's address (the
 * kernel's text), client_ip the login's (NULL: none; a trusted peer's
 * must have passed kr_client_addr_ok), forwarded what
 * kr_client_forwarded gave ("" for none). A peer address that has no
 * key (a kind we do not expect) shares the key "a:?". */
void kr_client_choose(const struct kr_cidr_list *trusted, const char *peer,
		      const char *client_ip, const char *forwarded,
		      struct kr_client *c_r);

/* "none", "client_ip", "forwarded", "peer". */
const char *kr_client_source_name(enum kr_client_source source);

#endif
