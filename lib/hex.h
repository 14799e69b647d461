/* One hex digit's value: the three parsers that meet hex in input (a
 * JSON \u escape, LMTP xtext, a percent-encoded query) read it alike. */
#ifndef KR_HEX_H
#define KR_HEX_H

/* 0..15, or -1 for anything but [0-9A-Fa-f]. */
static inline int
kr_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
