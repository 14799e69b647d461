/* Days are counted in 400-year eras of 146 097 days starting on
 * 0000-03-01, so that the leap day ends each year and every era is
 * alike (Howard Hinnant's "chrono-compatible low-level date
 * algorithms"). */
#include "lib/utc.h"

#include <string.h>

#define UTC_ERA_DAYS 146097
/* Days from 0000-03-01 to 1970-01-01. */
#define UTC_EPOCH_SHIFT 719468

/* Floor division for a positive divisor. */
static int64_t
utc_floordiv(int64_t a, int64_t b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t
utc_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = utc_floordiv(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * UTC_ERA_DAYS + doe - UTC_EPOCH_SHIFT;
}

bool
kr_utc_to_unix(const struct kr_utc *u, int64_t *t_r)
{
	if (u->month < 1 || u->month > 12 || u->day < 1 || u->day > 31)
		return false;
	*t_r = utc_days_from_civil(u->year, u->month, u->day) * 86400 +
	       (int64_t)u->hour * 3600 + (int64_t)u->min * 60 + u->sec;
	return true;
}

void
kr_utc_from_unix(int64_t t, struct kr_utc *u_r)
{
	int64_t days = utc_floordiv(t, 86400), secs = t - days * 86400;
	int64_t z = days + UTC_EPOCH_SHIFT, era = utc_floordiv(z, UTC_ERA_DAYS);
	int64_t doe = z - era * UTC_ERA_DAYS;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	u_r->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	u_r->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	u_r->year = yoe + era * 400 + (u_r->month <= 2);
	u_r->hour = (int)(secs / 3600);
	u_r->min = (int)(secs / 60 % 60);
	u_r->sec = (int)(secs % 60);
}

static void
utc_2d(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

bool
kr_utc_format(int64_t t, char out[KR_UTC_TEXT_SIZE])
{
	struct kr_utc u;

	kr_utc_from_unix(t, &u);
	if (u.year < 0 || u.year > 9999)
		return false;
	memcpy(out, "0000-00-00T00:00:00Z", KR_UTC_TEXT_SIZE);
	utc_2d(out, (int)(u.year / 100));
	utc_2d(out + 2, (int)(u.year % 100));
	utc_2d(out + 5, u.month);
	utc_2d(out + 8, u.day);
	utc_2d(out + 11, u.hour);
	utc_2d(out + 14, u.min);
	utc_2d(out + 17, u.sec);
	return true;
}
