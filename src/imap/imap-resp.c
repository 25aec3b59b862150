/* imap-resp: writing IMAP strings in the smallest correct form (see
 * imap-resp.h).  Every writer first checks that the whole item fits under
 * out's maximum, so on -1 the buffer is unchanged (no half-written
 * literal that would desynchronize the client).  Non-goal: deciding where
 * the grammar allows which form; the callers pick astring/string/nstring.
 */
#include "imap-resp.h"

#include <stdio.h>
#include <string.h>

/* ATOM-CHAR = <any CHAR except atom-specials> (RFC 9051 section 9)
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials */
static bool
is_atom_char(uint8_t c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case ' ': case '%': case '*':
	case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

bool
imap_resp_is_atom(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!is_atom_char(p[i]))
			return false;
	}
	return true;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE with TEXT-CHAR = %x01-7F except CR
 * and LF.  8-bit goes out as a literal: a client that did not enable
 * UTF8=ACCEPT must not see raw 8-bit in a quoted string. */
bool
imap_resp_is_quotable(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i;

	if (len > IMAP_RESP_QUOTED_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n' ||
		    p[i] >= 0x80)
			return false;
	}
	return true;
}

static bool
fits(const struct buf *out, size_t n)
{
	return n <= out->max && out->len <= out->max - n;
}

static bool
is_nil(const uint8_t *p, size_t len)
{
	return len == 3 && (p[0] | 0x20) == 'n' && (p[1] | 0x20) == 'i' &&
		(p[2] | 0x20) == 'l';
}

int
imap_resp_quoted(struct buf *out, const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i, n = 2;

	if (!imap_resp_is_quotable(s, len))
		return -1;
	for (i = 0; i < len; i++)
		n += (p[i] == '"' || p[i] == '\\') ? 2 : 1;
	if (!fits(out, n))
		return -1;
	buf_append_byte(out, '"');
	for (i = 0; i < len; i++) {
		if (p[i] == '"' || p[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, p[i]);
	}
	buf_append_byte(out, '"');
	return 0;
}

static int
write_literal(struct buf *out, const char *prefix, const void *s, size_t len)
{
	char hdr[32];
	int n;

	n = snprintf(hdr, sizeof(hdr), "%s{%zu}\r\n", prefix, len);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	if (len > SIZE_MAX - (size_t)n || !fits(out, (size_t)n + len))
		return -1;
	buf_append(out, hdr, (size_t)n);
	buf_append(out, s, len);
	return 0;
}

int
imap_resp_literal(struct buf *out, const void *s, size_t len)
{
	return write_literal(out, "", s, len);
}

int
imap_resp_literal8(struct buf *out, const void *s, size_t len)
{
	return write_literal(out, "~", s, len);
}

int
imap_resp_string(struct buf *out, const void *s, size_t len)
{
	if (imap_resp_is_quotable(s, len))
		return imap_resp_quoted(out, s, len);
	if (len > 0 && memchr(s, '\0', len) != NULL)
		return imap_resp_literal8(out, s, len);
	return imap_resp_literal(out, s, len);
}

int
imap_resp_astring(struct buf *out, const void *s, size_t len)
{
	/* "NIL" as an atom would read back as NIL, not as the string */
	if (imap_resp_is_atom(s, len) && !is_nil(s, len)) {
		if (!fits(out, len))
			return -1;
		return buf_append(out, s, len);
	}
	return imap_resp_string(out, s, len);
}

int
imap_resp_nstring(struct buf *out, const void *s, size_t len)
{
	if (s == NULL)
		return buf_append(out, "NIL", 3);
	return imap_resp_string(out, s, len);
}
