/* cmd-append: APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502) and
 * APPENDUID (RFC 4315).  The message bytes come whole from the framer's
 * literal (bounded by imap.max_literal_size). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap-cmd.h"
#include "imap-mailbox.h"
#include "store.h"
#include "strnum.h"

#define APPEND_MAX_MESSAGES 1000 /* per MULTIAPPEND command */

static const char *const months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* RFC 9051 9: date-time = DQUOTE date-day-fixed "-" date-month "-"
 * date-year SP time SP zone DQUOTE; date-day-fixed = (SP DIGIT) / 2DIGIT.
 * 0 with seconds since the epoch, -1 if malformed. */
static int
parse_date_time(const char *s, int64_t *time_r)
{
	uint64_t day, year, hh, mm, ss, zh, zm;
	int mon;
	struct tm tm;
	time_t t;
	char dbuf[2];

	if (strlen(s) != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' ||
	    s[14] != ':' || s[17] != ':' || s[20] != ' ' ||
	    (s[21] != '+' && s[21] != '-'))
		return -1;
	dbuf[0] = s[0] == ' ' ? '0' : s[0];
	dbuf[1] = s[1];
	if (!str_to_u64(dbuf, 2, 31, &day) || day == 0)
		return -1;
	for (mon = 0; mon < 12; mon++) {
		if (strncasecmp(s + 3, months[mon], 3) == 0)
			break;
	}
	if (mon == 12 || !str_to_u64(s + 7, 4, 9999, &year) || year < 1900 ||
	    !str_to_u64(s + 12, 2, 23, &hh) || !str_to_u64(s + 15, 2, 59, &mm) ||
	    !str_to_u64(s + 18, 2, 60, &ss) || !str_to_u64(s + 22, 2, 99, &zh) ||
	    !str_to_u64(s + 24, 2, 59, &zm))
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = (int)day;
	tm.tm_mon = mon;
	tm.tm_year = (int)year - 1900;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mm;
	tm.tm_sec = (int)ss;
	t = timegm(&tm);
	if (tm.tm_mday != (int)day)
		return -1; /* 31-Feb and friends */
	t -= (time_t)((s[21] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60));
	*time_r = (int64_t)t;
	return 0;
}

/* RFC 9051 6.3.12, RFC 3502 6.3.11:
 * APPEND mailbox 1*(SP [flag-list SP] [date-time SP] literal) */
enum imap_cmd_status
cmd_append(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct store_new_message *msgs;
	const char *mailbox, *error;
	enum store_error err;
	uint32_t uidvalidity, *uids;
	size_t ai = 1, n = 0, i;
	char *text;
	size_t tlen;

	if (cmd->argc < 2)
		return imap_cmd_bad(cmd, "APPEND needs a mailbox and a message");
	mailbox = imap_mailbox_from_wire(cmd, &cmd->args[0], &error);
	if (mailbox == NULL)
		return imap_cmd_no(cmd, "TRYCREATE", error);
	mailbox = store_mailbox_canonical(mailbox);
	msgs = arena_allocarray(cmd->arena, cmd->argc, sizeof(*msgs));
	while (ai < cmd->argc) {
		struct store_new_message *m = &msgs[n];

		if (n == APPEND_MAX_MESSAGES)
			return imap_cmd_no(cmd, "LIMIT", "Too many messages in one APPEND");
		m->internaldate = -1;
		if (cmd->args[ai].type == IMAP_ARG_LIST) {
			const char **kw;

			if (imap_parse_flags(cmd, cmd->args[ai].list,
					     cmd->args[ai].count, &m->flags, &kw,
					     &m->nkeywords, &error) < 0)
				return imap_cmd_bad(cmd, error);
			m->keywords = kw;
			ai++;
		}
		if (ai < cmd->argc && cmd->args[ai].type == IMAP_ARG_QUOTED) {
			if (parse_date_time((const char *)cmd->args[ai].data,
					    &m->internaldate) < 0)
				return imap_cmd_bad(cmd, "Invalid date-time");
			ai++;
		}
		if (ai >= cmd->argc || cmd->args[ai].type != IMAP_ARG_LITERAL)
			return imap_cmd_bad(cmd, "APPEND needs the message as a literal");
		m->data = cmd->args[ai].data;
		m->len = cmd->args[ai].len;
		if (m->len == 0)
			return imap_cmd_no(cmd, "CANNOT", "Can't save a zero byte message");
		ai++;
		n++;
	}
	uids = arena_allocarray(cmd->arena, n, sizeof(uint32_t));
	if (store_append(s->store, mailbox, msgs, n, &uidvalidity, uids, &err,
			 &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	/* The selected mailbox may have grown: EXISTS before the OK. */
	if (s->view != NULL)
		imap_session_sync(s, true);
	/* RFC 4315 3: APPENDUID uidvalidity uid-set */
	tlen = 64 + n * 11;
	text = arena_alloc(cmd->arena, tlen);
	{
		size_t off = (size_t)snprintf(text, tlen, "[APPENDUID %u ", uidvalidity);

		for (i = 0; i < n && off < tlen; i++) {
			if (i > 0 && uids[i] == uids[i - 1] + 1 &&
			    (i + 1 == n || uids[i + 1] != uids[i] + 1))
				off += (size_t)snprintf(text + off, tlen - off, ":%u", uids[i]);
			else if (i > 0 && uids[i] == uids[i - 1] + 1)
				continue;
			else
				off += (size_t)snprintf(text + off, tlen - off, "%s%u",
							i > 0 ? "," : "", uids[i]);
		}
		snprintf(text + off, tlen - off, "] APPEND completed");
	}
	return imap_cmd_ok(cmd, text);
}
