/* The "dnsbl" filter module (SPEC.md §5): asks every zone of
 * [antispam] dnsbl ("ZONE[=SCORE] ...") about the client address at
 * once over the host's resolver (host->dns, evdns) and reports each
 * listing as RCVD_IN_<ZONE> (upper-cased, other than A-Z0-9 -> '_').
 * A zone that does not answer, answers with an error, or answers with
 * a "query refused" code counts as not listing the client (and is
 * logged): a DNSBL never blocks mail by failing. Worker loop only. */
#ifndef KR_DNSBL_H
#define KR_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "antispam/filter.h"

/* Zones at most, and the longest zone name: with the 64 bytes of an
 * IPv6 address's reversed nibbles the query name stays well under the
 * 253 of RFC 1035. */
#define KR_DNSBL_ZONES_MAX 16
#define KR_DNSBL_ZONE_MAX 128
#define KR_DNSBL_SCORE_DEFAULT 5.0
#define KR_DNSBL_SCORE_MAX 10000.0
/* The reversed address: 32 nibbles and their dots, NUL. */
#define KR_DNSBL_REVERSED_MAX 65
/* "RCVD_IN_" and the zone. */
#define KR_DNSBL_TEST_MAX (8 + KR_DNSBL_ZONE_MAX + 1)

struct kr_dnsbl_zone {
	char zone[KR_DNSBL_ZONE_MAX + 1];
	char test[KR_DNSBL_TEST_MAX];
	double score;
};

/* The module's ABI struct (kr_filter_entry returns it in the .so;
 * unit tests call it directly). */
extern const struct kr_filter_module kr_dnsbl_module;

/* Parses spec (NULL or blank: no zones) into zones[0..max). Returns
 * how many, or -1 with err naming the entry that is wrong: a zone that
 * is no DNS name or too long, a score that is no number or outside
 * +-KR_DNSBL_SCORE_MAX, a zone given twice, more than max zones. */
int kr_dnsbl_parse(const char *spec, struct kr_dnsbl_zone *zones, size_t max,
		   char *err, size_t err_size);

/* The reversed form of addr for a DNSBL query ("4.3.2.1" for 1.2.3.4;
 * 32 nibbles lowest first for IPv6; an IPv4-mapped IPv6 address and an
 * "IPv6:" prefix are understood) into rev (KR_DNSBL_REVERSED_MAX), and
 * the address as parsed into text (46 bytes). -1 when addr is NULL or
 * no address. */
int kr_dnsbl_reverse(const char *addr, char *rev, char *text);

/* What an A record answer (host byte order) means:
 * 127.0.0.2-127.255.255.255 is a listing, except 127.255.255.0/24,
 * which Spamhaus and others use for "query refused" (public resolver,
 * over the limit, typing error): those, and anything else, are not. */
enum kr_dnsbl_answer {
	KR_DNSBL_NOT_LISTED,
	KR_DNSBL_LISTED,
	KR_DNSBL_REFUSED,
};
enum kr_dnsbl_answer kr_dnsbl_classify(uint32_t addr);

#endif
