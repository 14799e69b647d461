/* UTC calendar arithmetic: Unix seconds to and from year..second,
 * proleptic Gregorian, no time zones and no locks (gmtime_r and timegm
 * take glibc's time zone lock: a visible share of a cold listing, which
 * converts two dates per message). Pure functions, any thread. */
#ifndef KR_UTC_H
#define KR_UTC_H

#include <stdbool.h>
#include <stdint.h>

struct kr_utc {
	int64_t year; /* e.g. 2024 */
	int month;    /* 1..12 */
	int day;      /* 1..31 */
	int hour, min, sec;
};

/* Seconds since 1970-01-01T00:00:00Z of u; fields out of range (hour
 * 24, sec 60) carry over as timegm's do. false when month or day are
 * outside 1..12 / 1..31. */
bool kr_utc_to_unix(const struct kr_utc *u, int64_t *t_r);
void kr_utc_from_unix(int64_t t, struct kr_utc *u_r);

/* RFC 3339 in UTC: "2024-01-31T23:59:59Z" and a NUL. */
#define KR_UTC_TEXT_SIZE sizeof("0000-00-00T00:00:00Z")
/* t as that text; false for years outside 0..9999. */
bool kr_utc_format(int64_t t, char out[KR_UTC_TEXT_SIZE]);

#endif
