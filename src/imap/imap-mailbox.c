/* imap-mailbox: wire names, LIST matching, store error mapping; see
 * imap-mailbox.h. */
#include "imap-mailbox.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-resp.h"
#include "imap-utf7.h"
#include "log.h"
#include "xalloc.h"

#define MAILBOX_WIRE_MAX 4096 /* bytes of a name on the wire */

static bool
is_utf8(const unsigned char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static const char *
from_wire(struct imap_cmd *cmd, const struct imap_arg *arg, bool pattern,
	  const char **error_r)
{
	struct buf out;
	const char *raw = imap_arg_str(arg);
	bool eight_bit = false;
	char *name;
	size_t i, len;

	/* RFC 9051 9: list-mailbox = 1*list-char / string, where list-char
	 * adds the wildcards '%' and '*' to what an astring atom allows. */
	if (raw == NULL || arg->type == IMAP_ARG_LIST ||
	    (!imap_arg_is_astring(arg) &&
	     !(pattern && arg->type == IMAP_ARG_ATOM))) {
		*error_r = "Invalid mailbox name";
		return NULL;
	}
	len = strlen(raw);
	if (len > MAILBOX_WIRE_MAX) {
		*error_r = "Mailbox name too long";
		return NULL;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)raw[i] >= 0x80)
			eight_bit = true;
	}
	/* RFC 9051 5.1: UTF-8 names; IMAP4rev1 clients use modified UTF-7
	 * (RFC 3501 5.1.3).  8-bit input is taken as UTF-8 either way. */
	if (eight_bit || (cmd->session->enabled & IMAP_ENABLED_IMAP4REV2)) {
		if (!is_utf8((const unsigned char *)raw, len)) {
			*error_r = "Mailbox name is not valid UTF-8";
			return NULL;
		}
		return raw;
	}
	buf_init(&out, MAILBOX_WIRE_MAX * 2);
	if (imap_utf7_to_utf8(&out, raw, len) < 0) {
		buf_deinit(&out);
		*error_r = "Mailbox name is not valid modified UTF-7";
		return NULL;
	}
	name = arena_memdup(cmd->arena, out.data == NULL ? "" : (const char *)out.data,
			    out.len);
	buf_deinit(&out);
	return name;
}

const char *
imap_mailbox_from_wire(struct imap_cmd *cmd, const struct imap_arg *arg,
		       const char **error_r)
{
	return from_wire(cmd, arg, false, error_r);
}

const char *
imap_pattern_from_wire(struct imap_cmd *cmd, const struct imap_arg *arg,
		       const char **error_r)
{
	return from_wire(cmd, arg, true, error_r);
}

int
imap_mailbox_to_wire(struct imap_session *s, struct buf *out, const char *name)
{
	struct buf tmp;
	int ret;

	if (s->enabled & IMAP_ENABLED_IMAP4REV2) {
		size_t len = strlen(name), i;
		bool quotable = len <= IMAP_RESP_QUOTED_MAX;

		/* RFC 9051 9: quoted strings may hold UTF-8 (QUOTED-CHAR
		 * includes UTF8-2/3/4); our names are valid UTF-8 already. */
		for (i = 0; i < len && quotable; i++) {
			unsigned char c = (unsigned char)name[i];

			if (c < 0x20 || c == 0x7f)
				quotable = false;
		}
		if (!quotable || imap_resp_is_atom(name, len))
			return imap_resp_astring(out, name, len);
		if (buf_append_byte(out, '"') < 0)
			return -1;
		for (i = 0; i < len; i++) {
			if ((name[i] == '"' || name[i] == '\\') &&
			    buf_append_byte(out, '\\') < 0)
				return -1;
			if (buf_append_byte(out, (uint8_t)name[i]) < 0)
				return -1;
		}
		return buf_append_byte(out, '"');
	}
	buf_init(&tmp, 0);
	if (imap_utf8_to_utf7(&tmp, name, strlen(name)) < 0) {
		buf_deinit(&tmp);
		return imap_resp_astring(out, name, strlen(name));
	}
	ret = imap_resp_astring(out, tmp.data == NULL ? "" : (const char *)tmp.data,
				tmp.len);
	buf_deinit(&tmp);
	return ret;
}

/* Dynamic programming over name positions: O(pattern * name) time and
 * O(name) memory, so hostile patterns can't blow up (no backtracking). */
bool
imap_mailbox_match(const char *pattern, const char *name)
{
	size_t plen = strlen(pattern), nlen = strlen(name), i, j;
	bool *cur, *next, ok;
	const char *p = pattern;
	char *pcopy = NULL;

	/* INBOX is case-insensitive: fold the pattern's leading "inbox". */
	if (plen >= 5 && strncasecmp(pattern, "INBOX", 5) == 0 &&
	    (pattern[5] == '\0' || pattern[5] == '/') &&
	    strncmp(name, "INBOX", 5) == 0) {
		pcopy = xstrdup(pattern);
		memcpy(pcopy, "INBOX", 5);
		p = pcopy;
	}
	cur = xcalloc(nlen + 1, sizeof(bool));
	next = xcalloc(nlen + 1, sizeof(bool));
	cur[0] = true;
	for (i = 0; i < plen; i++) {
		char c = p[i];

		memset(next, 0, nlen + 1);
		if (c == '*' || c == '%') {
			bool carry = false;

			for (j = 0; j <= nlen; j++) {
				if (cur[j])
					carry = true;
				next[j] = carry;
				if (c == '%' && j < nlen && name[j] == '/')
					carry = false;
			}
		} else {
			for (j = 0; j < nlen; j++) {
				if (cur[j] && name[j] == c)
					next[j + 1] = true;
			}
		}
		{
			bool *t = cur;

			cur = next;
			next = t;
		}
	}
	ok = cur[nlen];
	free(cur);
	free(next);
	free(pcopy);
	return ok;
}

enum imap_cmd_status
imap_cmd_store_fail(struct imap_cmd *cmd, enum store_error err,
		    const char *error)
{
	const char *code;

	switch (err) {
	case STORE_ERR_NOTFOUND:
		code = "NONEXISTENT";
		break;
	case STORE_ERR_EXISTS:
		code = "ALREADYEXISTS";
		break;
	case STORE_ERR_NOPERM:
		code = "NOPERM";
		break;
	case STORE_ERR_OVERQUOTA:
		code = "OVERQUOTA";
		break;
	case STORE_ERR_EXPUNGED:
		code = "EXPUNGEISSUED";
		break;
	case STORE_ERR_TOOBIG:
		code = "TOOBIG";
		break;
	case STORE_ERR_LIMIT:
		code = "LIMIT";
		break;
	case STORE_ERR_INUSE:
		code = "INUSE";
		break;
	case STORE_ERR_BADNAME:
	case STORE_ERR_CANNOT:
		code = "CANNOT";
		break;
	case STORE_ERR_TRYCREATE:
		code = "TRYCREATE";
		break;
	case STORE_ERR_HASCHILDREN:
		code = "HASCHILDREN";
		break;
	case STORE_ERR_TEMP:
	default:
		code = "SERVERBUG";
		log_error("sess=%s user=%s cmd=%s store error: %s",
			  cmd->session->id, cmd->session->user != NULL ?
			  cmd->session->user : "-", cmd->name,
			  error != NULL ? error : "?");
		return imap_cmd_no(cmd, code,
				   arena_printf(cmd->arena,
						"Internal error occurred. Refer to server log for more information. [sess=%s]",
						cmd->session->id));
	}
	return imap_cmd_no(cmd, code, error != NULL ? error : "Failed");
}

/* flag-list items (RFC 9051 9: flag, flag-keyword); see imap-mailbox.h. */
int
imap_parse_flags(struct imap_cmd *cmd, const struct imap_arg *args,
		  size_t n, unsigned *flags_r, const char ***kw_r,
		  size_t *nkw_r, const char **error_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = {
		{ "\\Seen", STORE_FLAG_SEEN }, { "\\Answered", STORE_FLAG_ANSWERED },
		{ "\\Flagged", STORE_FLAG_FLAGGED }, { "\\Deleted", STORE_FLAG_DELETED },
		{ "\\Draft", STORE_FLAG_DRAFT },
	};
	const char **kw;
	size_t i, k;

	if (n > STORE_MAX_KEYWORDS + 5) {
		*error_r = "Too many flags";
		return -1;
	}
	kw = arena_allocarray(cmd->arena, n + 1, sizeof(char *));
	*flags_r = 0;
	*nkw_r = 0;
	for (i = 0; i < n; i++) {
		const char *name = (const char *)args[i].data;

		if (args[i].type != IMAP_ARG_ATOM) {
			*error_r = "Flags must be atoms";
			return -1;
		}
		if (name[0] == '\\') {
			if (strcasecmp(name, "\\Recent") == 0)
				continue; /* can't be set; ignored, as Dovecot does */
			for (k = 0; k < sizeof(sys) / sizeof(sys[0]); k++) {
				if (strcasecmp(name, sys[k].name) == 0)
					break;
			}
			if (k == sizeof(sys) / sizeof(sys[0])) {
				*error_r = "Invalid system flag";
				return -1;
			}
			*flags_r |= sys[k].bit;
			continue;
		}
		if (strlen(name) > STORE_KEYWORD_MAX_LEN ||
		    strpbrk(name, "[]%*\"") != NULL) {
			*error_r = "Invalid keyword";
			return -1;
		}
		kw[(*nkw_r)++] = name;
	}
	*kw_r = kw;
	return 0;
}
