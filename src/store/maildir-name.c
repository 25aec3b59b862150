/* maildir-name: pure name handling for the Maildir++ layer, no I/O.
 * Mailbox names <-> folder directory names (mUTF-7 levels joined by '.',
 * with Dovecot's listescape escapes) and message file names
 * ("<base>:2,<flags>").  Both mappings are strict: a directory or file name
 * is accepted only in the one spelling we would write ourselves, so names
 * can't alias each other and fuzzing can check exact round trips.
 * Non-goals: the IMAP wire form (the protocol layer does mUTF-7 there) and
 * anything touching the filesystem (maildir.c). */
#include "maildir.h"

#include <string.h>
#include <strings.h>

#include "imap-utf7.h"
#include "strnum.h"

#define INBOX_NAME "INBOX"
#define INBOX_LEN 5
/* Dovecot renames a folder to this before deleting it and never lists it;
 * we do the same, so a mailbox can't be called that. */
#define TRASH_LEVEL "DOVECOT-TRASHED"

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if it is invalid
 * (overlong, surrogate, above U+10FFFF, truncated, NUL). RFC 3629 4. */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int
fail(enum store_error *err_r, enum store_error err, const char **error_r,
     const char *error)
{
	if (err_r != NULL)
		*err_r = err;
	if (error_r != NULL)
		*error_r = error;
	return -1;
}

int
maildir_name_validate(const char *name, size_t len, enum store_error *err_r,
		      const char **error_r)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t i = 0, level_start = 0, n;
	unsigned levels = 1;

	if (len == 0)
		return fail(err_r, STORE_ERR_BADNAME, error_r,
			    "Mailbox name is empty");
	if (len > MAILDIR_NAME_MAX_LEN)
		return fail(err_r, STORE_ERR_LIMIT, error_r,
			    "Mailbox name is too long");
	while (i <= len) {
		if (i == len || s[i] == STORE_SEPARATOR) {
			size_t level_len = i - level_start;

			if (level_len == 0)
				return fail(err_r, STORE_ERR_BADNAME, error_r,
					    "Mailbox name has an empty level");
			if (level_len > MAILDIR_NAME_MAX_LEVEL_LEN)
				return fail(err_r, STORE_ERR_LIMIT, error_r,
					    "Mailbox name level is too long");
			if ((level_len == 1 && s[level_start] == '.') ||
			    (level_len == 2 && s[level_start] == '.' &&
			     s[level_start + 1] == '.'))
				return fail(err_r, STORE_ERR_BADNAME, error_r,
					    "Mailbox name has a . or .. level");
			if (i == len)
				break;
			if (++levels > MAILDIR_NAME_MAX_LEVELS)
				return fail(err_r, STORE_ERR_LIMIT, error_r,
					    "Mailbox name is too deep");
			i++;
			level_start = i;
			continue;
		}
		if (s[i] < 0x20 || s[i] == 0x7f)
			return fail(err_r, STORE_ERR_BADNAME, error_r,
				    "Mailbox name has control characters");
		n = utf8_seq_len(s + i, len - i);
		if (n == 0)
			return fail(err_r, STORE_ERR_BADNAME, error_r,
				    "Mailbox name is not valid UTF-8");
		i += n;
	}
	return 0;
}

bool
maildir_name_is_inbox(const char *name, size_t len)
{
	return len == INBOX_LEN && strncasecmp(name, INBOX_NAME, INBOX_LEN) == 0;
}

/* Is the first level of name[0..len) "inbox" in any case? */
static bool
first_level_is_inbox(const char *name, size_t len)
{
	return len >= INBOX_LEN && strncasecmp(name, INBOX_NAME, INBOX_LEN) == 0 &&
	       (len == INBOX_LEN || name[INBOX_LEN] == STORE_SEPARATOR);
}

int
maildir_name_canonical(const char *name, size_t len, struct buf *out)
{
	size_t old_len = out->len;

	if (first_level_is_inbox(name, len)) {
		if (buf_append(out, INBOX_NAME, INBOX_LEN) < 0 ||
		    buf_append(out, name + INBOX_LEN, len - INBOX_LEN) < 0)
			goto full;
		return 0;
	}
	if (buf_append(out, name, len) == 0)
		return 0;
full:
	out->len = old_len;
	if (out->data != NULL)
		out->data[old_len] = '\0';
	return -1;
}

/* Append one level, mUTF-7 encoded, then with '.', '\\' and a leading '~'
 * escaped as Dovecot's listescape writes them ("\2e", "\5c", "\7e";
 * mUTF-7 first, escapes second, which is Dovecot's order).  The mUTF-7
 * base64 alphabet holds none of these, so only literal ones get escaped. */
static int
append_level(struct buf *out, const char *level, size_t len)
{
	struct buf tmp;
	size_t i;
	int ret = 0;

	buf_init(&tmp, MAILDIR_NAME_MAX_LEVEL_LEN * 4);
	if (imap_utf8_to_utf7(&tmp, level, len) < 0) {
		buf_deinit(&tmp);
		return -1;
	}
	for (i = 0; i < tmp.len && ret == 0; i++) {
		uint8_t c = tmp.data[i];

		if (c == '.')
			ret = buf_append(out, "\\2e", 3);
		else if (c == '\\')
			ret = buf_append(out, "\\5c", 3);
		else if (c == '~' && i == 0)
			ret = buf_append(out, "\\7e", 3);
		else
			ret = buf_append_byte(out, c);
	}
	buf_deinit(&tmp);
	return ret;
}

int
maildir_name_to_dir(const char *name, size_t len, struct buf *out,
		    enum store_error *err_r, const char **error_r)
{
	size_t old_len = out->len, start, i;
	bool first = true;

	if (maildir_name_validate(name, len, err_r, error_r) < 0)
		return -1;
	if (maildir_name_is_inbox(name, len))
		return 0;
	if (len == sizeof(TRASH_LEVEL) - 1 &&
	    memcmp(name, TRASH_LEVEL, len) == 0)
		return fail(err_r, STORE_ERR_BADNAME, error_r,
			    "Mailbox name is reserved");

	for (start = 0, i = 0; i <= len; i++) {
		if (i < len && name[i] != STORE_SEPARATOR)
			continue;
		if (buf_append_byte(out, '.') < 0)
			goto too_long;
		if (first && first_level_is_inbox(name, len)) {
			if (buf_append(out, INBOX_NAME, INBOX_LEN) < 0)
				goto too_long;
		} else if (append_level(out, name + start, i - start) < 0) {
			goto too_long;
		}
		first = false;
		start = i + 1;
	}
	if (out->len - old_len > MAILDIR_DIRNAME_MAX)
		goto too_long;
	return 0;
too_long:
	/* validate() accepted it, so UTF-8 is fine: only size can fail. */
	out->len = old_len;
	if (out->data != NULL)
		out->data[old_len] = '\0';
	return fail(err_r, STORE_ERR_LIMIT, error_r,
		    "Mailbox name is too long for the filesystem");
}

static int
unescape_level(struct buf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != '\\') {
			if (buf_append_byte(out, (uint8_t)s[i]) < 0)
				return -1;
			continue;
		}
		if (len - i < 3)
			return -1;
		if (s[i + 1] == '2' && s[i + 2] == 'e') {
			if (buf_append_byte(out, '.') < 0)
				return -1;
		} else if (s[i + 1] == '5' && s[i + 2] == 'c') {
			if (buf_append_byte(out, '\\') < 0)
				return -1;
		} else if (s[i + 1] == '7' && s[i + 2] == 'e' && i == 0) {
			if (buf_append_byte(out, '~') < 0)
				return -1;
		} else {
			return -1;
		}
		i += 2;
	}
	return 0;
}

int
maildir_dir_to_name(const char *dir, size_t len, struct buf *out,
		    const char **error_r)
{
	struct buf name, utf7, check;
	size_t start, i;
	int ret = -1;

	if (len < 2 || len > MAILDIR_DIRNAME_MAX || dir[0] != '.') {
		*error_r = "Not a folder directory name";
		return -1;
	}
	if (memchr(dir, '/', len) != NULL || memchr(dir, '\0', len) != NULL) {
		*error_r = "Folder directory name holds '/' or NUL";
		return -1;
	}
	buf_init(&name, MAILDIR_NAME_MAX_LEN + 1);
	buf_init(&utf7, MAILDIR_DIRNAME_MAX + 1);
	buf_init(&check, MAILDIR_DIRNAME_MAX + 1);
	*error_r = "Folder directory name doesn't decode";
	for (start = 1, i = 1; i <= len; i++) {
		if (i < len && dir[i] != '.')
			continue;
		if (i == start)
			goto out; /* empty level */
		buf_clear(&utf7);
		if (start > 1 && buf_append_byte(&name, STORE_SEPARATOR) < 0)
			goto out;
		if (unescape_level(&utf7, dir + start, i - start) < 0 ||
		    imap_utf7_to_utf8(&name, buf_cstr(&utf7), utf7.len) < 0)
			goto out;
		start = i + 1;
	}
	/* Exact round trip: one spelling per folder. */
	if (maildir_name_to_dir(buf_cstr(&name), name.len, &check, NULL,
				error_r) < 0)
		goto out;
	if (check.len != len || memcmp(check.data, dir, len) != 0) {
		*error_r = "Folder directory name is not in canonical form";
		goto out;
	}
	if (buf_append(out, name.data, name.len) < 0) {
		*error_r = "Mailbox name is too long";
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&name);
	buf_deinit(&utf7);
	buf_deinit(&check);
	return ret;
}

/* ---- message file names ---- */

static const char std_flag_chars[] = "DFPRST";

static unsigned
std_flag_bit(char c)
{
	const char *p = c == '\0' ? NULL : strchr(std_flag_chars, c);

	return p == NULL ? 0 : 1u << (p - std_flag_chars);
}

/* ",S=<digits>" and ",W=<digits>" fields in the base (Dovecot puts them
 * after the host name: "<sec>.M<usec>P<pid>.<host>,S=123,W=130"). */
static void
parse_size_fields(struct maildir_filename *fn)
{
	const char *base = fn->base, *field, *end;
	size_t len = fn->base_len, i;
	uint64_t value;

	for (i = 0; i < len; i++) {
		if (base[i] != ',' || len - i < 4 || base[i + 2] != '=')
			continue;
		field = base + i + 3;
		end = memchr(field, ',', len - (i + 3));
		if (end == NULL)
			end = base + len;
		if (!str_to_u64(field, (size_t)(end - field), UINT64_MAX, &value))
			continue;
		if (base[i + 1] == 'S' && !fn->has_size) {
			fn->has_size = true;
			fn->size = value;
		} else if (base[i + 1] == 'W' && !fn->has_vsize) {
			fn->has_vsize = true;
			fn->vsize = value;
		}
	}
}

int
maildir_filename_parse(const char *fname, size_t len,
		       struct maildir_filename *fn_r)
{
	const char *colon;
	size_t i;
	int last = -1;

	memset(fn_r, 0, sizeof(*fn_r));
	if (len == 0 || len > MAILDIR_FILENAME_MAX || fname[0] == '.')
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)fname[i];

		if (c < 0x20 || c == 0x7f || c == '/')
			return -1;
	}
	colon = memchr(fname, ':', len);
	fn_r->base = fname;
	fn_r->base_len = colon == NULL ? len : (size_t)(colon - fname);
	if (fn_r->base_len == 0)
		return -1;
	parse_size_fields(fn_r);
	if (colon == NULL || len - fn_r->base_len < 3 ||
	    colon[1] != '2' || colon[2] != ',')
		return 0;

	fn_r->has_info = true;
	fn_r->is_canonical = true;
	for (i = fn_r->base_len + 3; i < len; i++) {
		char c = fname[i];
		unsigned bit = std_flag_bit(c);

		if (bit != 0)
			fn_r->flags |= bit;
		else if (c >= 'a' && c <= 'z')
			fn_r->keywords |= 1u << (c - 'a');
		else
			fn_r->is_canonical = false;
		/* Canonical: strictly ascending ASCII (DFPRST then a..z). */
		if ((int)(unsigned char)c <= last)
			fn_r->is_canonical = false;
		last = (unsigned char)c;
	}
	return 0;
}

int
maildir_filename_build(struct buf *out, const char *base, size_t base_len,
		       unsigned flags, uint32_t keywords)
{
	size_t old_len = out->len;
	unsigned i;

	if (base_len == 0 || memchr(base, ':', base_len) != NULL ||
	    memchr(base, '/', base_len) != NULL)
		return -1;
	if (buf_append(out, base, base_len) < 0 ||
	    buf_append(out, ":2,", 3) < 0)
		goto fail;
	for (i = 0; i < sizeof(std_flag_chars) - 1; i++) {
		if ((flags & (1u << i)) != 0 &&
		    buf_append_byte(out, (uint8_t)std_flag_chars[i]) < 0)
			goto fail;
	}
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if ((keywords & (1u << i)) != 0 &&
		    buf_append_byte(out, (uint8_t)('a' + i)) < 0)
			goto fail;
	}
	if (out->len - old_len > MAILDIR_FILENAME_MAX)
		goto fail;
	return 0;
fail:
	out->len = old_len;
	if (out->data != NULL)
		out->data[old_len] = '\0';
	return -1;
}
