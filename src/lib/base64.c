/* base64: RFC 4648 section 4 encoding and a strict decoder.
 *
 * The decoder accepts exactly the canonical encoding: length a multiple of
 * four, only alphabet characters, "=" padding only in the last group (one or
 * two of them), and zero bits in whatever the padding leaves unused.  So every
 * byte string has exactly one accepted encoding, which SASL relies on.  Non-
 * goals: the URL-safe alphabet, line breaks and whitespace (MIME decoding of
 * base64 bodies is lenient and lives in src/mime/). */
#include "base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char b64_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 table 1, by ranges rather than a 256-entry table. */
static int
b64_value(uint8_t c, uint8_t *value_r)
{
	if (c >= 'A' && c <= 'Z')
		*value_r = (uint8_t)(c - 'A');
	else if (c >= 'a' && c <= 'z')
		*value_r = (uint8_t)(c - 'a' + 26);
	else if (c >= '0' && c <= '9')
		*value_r = (uint8_t)(c - '0' + 52);
	else if (c == '+')
		*value_r = 62;
	else if (c == '/')
		*value_r = 63;
	else
		return -1;
	return 0;
}

int
base64_encode(struct buf *out, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t chunk[256];
	size_t groups, need, i, n = 0;

	/* Fail before writing anything if the result can't fit. */
	groups = len / 3 + (len % 3 != 0);
	if (groups > (SIZE_MAX - 1) / 4)
		return -1;
	need = groups * 4;
	if (need > out->max || out->len > out->max - need)
		return -1;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
			p[i + 2];

		chunk[n++] = b64_alphabet[v >> 18];
		chunk[n++] = b64_alphabet[(v >> 12) & 0x3f];
		chunk[n++] = b64_alphabet[(v >> 6) & 0x3f];
		chunk[n++] = b64_alphabet[v & 0x3f];
		if (n == sizeof(chunk)) {
			if (buf_append(out, chunk, n) < 0)
				return -1;
			n = 0;
		}
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		chunk[n++] = b64_alphabet[v >> 18];
		chunk[n++] = b64_alphabet[(v >> 12) & 0x3f];
		chunk[n++] = '=';
		chunk[n++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		chunk[n++] = b64_alphabet[v >> 18];
		chunk[n++] = b64_alphabet[(v >> 12) & 0x3f];
		chunk[n++] = b64_alphabet[(v >> 6) & 0x3f];
		chunk[n++] = '=';
	}
	return n == 0 ? 0 : buf_append(out, chunk, n);
}

int
base64_decode(struct buf *out, const void *text, size_t len)
{
	const uint8_t *p = text;
	uint8_t chunk[255];
	size_t i, n = 0;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		uint8_t v[4];
		size_t pad = 0, j;

		/* RFC 4648 3.3: padding only at the very end, at most two. */
		if (last && p[i + 3] == '=')
			pad = p[i + 2] == '=' ? 2 : 1;
		for (j = 0; j < 4 - pad; j++) {
			if (b64_value(p[i + j], &v[j]) < 0)
				return -1;
		}
		if (pad == 2) {
			/* RFC 4648 3.5: the unused low bits must be zero. */
			if ((v[1] & 0x0f) != 0)
				return -1;
			chunk[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		} else if (pad == 1) {
			if ((v[2] & 0x03) != 0)
				return -1;
			chunk[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
			chunk[n++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		} else {
			chunk[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
			chunk[n++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
			chunk[n++] = (uint8_t)(v[2] << 6 | v[3]);
		}
		if (n == sizeof(chunk)) {
			if (buf_append(out, chunk, n) < 0)
				return -1;
			n = 0;
		}
	}
	return n == 0 ? 0 : buf_append(out, chunk, n);
}
