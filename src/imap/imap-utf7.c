/* imap-utf7: modified UTF-7 (RFC 3501 section 5.1.3) to and from UTF-8.
 *
 * Printable US-ASCII except "&" stands for itself, "&" is "&-", anything
 * else is UTF-16BE in modified BASE64 (RFC 2152 with "," for "/") between
 * "&" and "-".  Decoding is strict: only the one spelling our encoder
 * produces is accepted, so a name always round-trips and two spellings can
 * never name the same mailbox.  Refused: bytes outside 0x20..0x7e, an
 * unterminated or empty shift, printable ASCII inside a shift, a shift
 * right after another shift (the encoder merges them), leftover bits that
 * are non-zero or 6 or more, unpaired surrogates, and U+0000 (it cannot be
 * part of a C-string mailbox name).  Encoding refuses invalid UTF-8
 * (overlong forms, surrogates, > U+10FFFF) and U+0000.
 * Both directions build into a scratch buffer and append on success, so
 * out is unchanged on -1.
 */
#include "imap-utf7.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* One code point from UTF-8 at s[*pos], strictly.  0 ok, -1 invalid. */
static int
utf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp_r)
{
	size_t i = *pos, n, k;
	uint32_t cp, min;
	uint8_t c = s[i];

	if (c < 0x80) {
		*cp_r = c;
		*pos = i + 1;
		return 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - i - 1 < n)
		return -1;
	for (k = 1; k <= n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*cp_r = cp;
	*pos = i + n + 1;
	return 0;
}

static int
utf8_put(struct buf *b, uint32_t cp)
{
	uint8_t o[4];
	size_t n;

	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (uint8_t)(0xf0 | (cp >> 18));
		o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, o, n);
}

struct b64state {
	uint32_t bits;  /* pending bits, right-aligned */
	unsigned nbits;
};

static int
b64_put16(struct buf *b, struct b64state *st, uint32_t unit)
{
	st->bits = (st->bits << 16) | unit;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		if (buf_append_byte(b, (uint8_t)b64chars[(st->bits >> st->nbits) & 0x3f]) < 0)
			return -1;
	}
	st->bits &= (1u << st->nbits) - 1;
	return 0;
}

static int
b64_flush(struct buf *b, struct b64state *st)
{
	if (st->nbits > 0 &&
	    buf_append_byte(b, (uint8_t)b64chars[(st->bits << (6 - st->nbits)) & 0x3f]) < 0)
		return -1;
	st->bits = 0;
	st->nbits = 0;
	return buf_append_byte(b, '-');
}

static int
encode(struct buf *tmp, const uint8_t *s, size_t len)
{
	struct b64state st = { 0, 0 };
	bool shifted = false;
	size_t pos = 0;
	uint32_t cp;

	while (pos < len) {
		if (utf8_next(s, len, &pos, &cp) < 0 || cp == 0)
			return -1;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted && b64_flush(tmp, &st) < 0)
				return -1;
			shifted = false;
			if (buf_append_byte(tmp, (uint8_t)cp) < 0)
				return -1;
			if (cp == '&' && buf_append_byte(tmp, '-') < 0)
				return -1;
			continue;
		}
		if (!shifted && buf_append_byte(tmp, '&') < 0)
			return -1;
		shifted = true;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			if (b64_put16(tmp, &st, 0xd800 | (cp >> 10)) < 0 ||
			    b64_put16(tmp, &st, 0xdc00 | (cp & 0x3ff)) < 0)
				return -1;
		} else if (b64_put16(tmp, &st, cp) < 0) {
			return -1;
		}
	}
	if (shifted && b64_flush(tmp, &st) < 0)
		return -1;
	return 0;
}

int
imap_utf8_to_utf7(struct buf *out, const char *utf8, size_t len)
{
	struct buf tmp;
	int ret;

	buf_init(&tmp, out->max);
	ret = encode(&tmp, (const uint8_t *)utf8, len);
	if (ret == 0 && tmp.len > 0)
		ret = buf_append(out, tmp.data, tmp.len);
	buf_deinit(&tmp);
	return ret;
}

/* The shift starting after "&" at s[*pos]; *pos ends after its "-". */
static int
decode_shift(struct buf *tmp, const uint8_t *s, size_t len, size_t *pos)
{
	uint32_t bits = 0, high = 0, u;
	unsigned nbits = 0;
	size_t i = *pos, units = 0;
	int v;

	for (; i < len && s[i] != '-'; i++) {
		if ((v = b64value(s[i])) < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			if (utf8_put(tmp, 0x10000 + ((high - 0xd800) << 10) +
				     (u - 0xdc00)) < 0)
				return -1;
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
			/* NUL, or ASCII that must stand for itself */
			return -1;
		} else if (utf8_put(tmp, u) < 0) {
			return -1;
		}
	}
	/* terminated, non-empty, no half pair, padding short and zero */
	if (i >= len || units == 0 || high != 0 || nbits >= 6 || bits != 0)
		return -1;
	*pos = i + 1;
	return 0;
}

static int
decode(struct buf *tmp, const uint8_t *s, size_t len)
{
	size_t pos = 0, shift_end = SIZE_MAX;

	while (pos < len) {
		uint8_t c = s[pos];

		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_append_byte(tmp, c) < 0)
				return -1;
			pos++;
			continue;
		}
		if (pos + 1 < len && s[pos + 1] == '-') {
			if (buf_append_byte(tmp, '&') < 0)
				return -1;
			pos += 2;
			continue;
		}
		/* "&..-&..-" would have been one shift */
		if (shift_end == pos)
			return -1;
		pos++;
		if (decode_shift(tmp, s, len, &pos) < 0)
			return -1;
		shift_end = pos;
	}
	return 0;
}

int
imap_utf7_to_utf8(struct buf *out, const char *utf7, size_t len)
{
	struct buf tmp;
	int ret;

	buf_init(&tmp, out->max);
	ret = decode(&tmp, (const uint8_t *)utf7, len);
	if (ret == 0 && tmp.len > 0)
		ret = buf_append(out, tmp.data, tmp.len);
	buf_deinit(&tmp);
	return ret;
}
