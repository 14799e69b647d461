/* Client address lists ("127.0.0.0/8 ::1 unix") and the address key a
 * rate limit counts by. Used for [lmtp] allow and [auth] trusted. Pure
 * values: any thread; a list is a fixed-size struct the caller embeds. */
#ifndef KR_CIDR_H
#define KR_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

/* Entries of one list: an allow-list is a handful of networks, not a
 * blocklist. */
#define KR_CIDR_LIST_MAX 32
/* Text of one address key: "a:" plus an IPv6 address and "/64". */
#define KR_CIDR_KEY_MAX 64

struct kr_cidr {
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	uint8_t bits;	  /* prefix length over those 128 bits */
};

struct kr_cidr_list {
	struct kr_cidr nets[KR_CIDR_LIST_MAX];
	unsigned n;
	bool unix_ok; /* the keyword "unix": unix-socket peers match */
};

/* Parses a list separated by spaces or commas: "A.B.C.D[/N]",
 * "IPV6[/N]", "unix", or "none" alone for an empty list. Returns 0, or
 * -1 with a message naming the bad entry (KR_ERR_PERMANENT). A bare
 * address is a host (/32, /128). Bits past the prefix must be zero. */
int kr_cidr_list_parse(const char *text, struct kr_cidr_list *list_r,
		       struct kr_err *err_r);

/* True when sa (AF_INET, AF_INET6 incl. v4-mapped, AF_UNIX) is in the
 * list. NULL sa (peer unknown) never matches. */
bool kr_cidr_list_match_sa(const struct kr_cidr_list *list,
			   const struct sockaddr *sa);
/* The same for an address in text form (no port, no brackets); false
 * when it is not an address. */
bool kr_cidr_list_match_text(const struct kr_cidr_list *list, const char *addr);

/* The key a per-client limit counts under: the IPv4 address, or the
 * /64 an IPv6 address lies in (one host usually holds a whole /64, so
 * counting single addresses would let it rotate). v4-mapped IPv6 counts
 * as IPv4. Writes "a:<text>" into key_r (KR_CIDR_KEY_MAX bytes) and
 * returns its length, or -1 when addr is not an address. */
int kr_cidr_client_key(const char *addr, char *key_r);

#endif
