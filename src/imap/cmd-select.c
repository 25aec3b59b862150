/* cmd-select: SELECT EXAMINE (RFC 9051 6.3.2-3), CLOSE UNSELECT (6.4.1-2,
 * RFC 3691), CHECK (RFC 3501 6.4.1), EXPUNGE and UID EXPUNGE (6.4.3,
 * RFC 4315), IDLE (6.3.13, RFC 2177). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-cmd.h"
#include "imap-mailbox.h"
#include "store.h"
#include "xalloc.h"

static enum imap_cmd_status
select_common(struct imap_cmd *cmd, bool readonly)
{
	struct imap_session *s = cmd->session;
	struct store_select_info info;
	struct store_view *view;
	const char *name, *error;
	enum store_error err;
	struct buf out;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "A mailbox name is needed");
	name = imap_mailbox_from_wire(cmd, &cmd->args[0], &error);
	if (s->view != NULL) {
		/* RFC 9051 6.3.2: the old mailbox is closed first, without
		 * expunging, even if the new SELECT fails. */
		imap_session_set_view(s, NULL);
		if (s->enabled & IMAP_ENABLED_IMAP4REV2)
			imap_session_printf(s, "* OK [CLOSED] Previous mailbox closed.\r\n");
	}
	if (name == NULL)
		return imap_cmd_no(cmd, "NONEXISTENT", error);
	name = store_mailbox_canonical(name);
	view = store_view_open(s->store, name, readonly, imap_session_view_notify,
			       s, &info, &err, &error);
	if (view == NULL)
		return imap_cmd_store_fail(cmd, err, error);
	imap_session_set_view(s, view);
	imap_session_send_flags_list(s, &info);
	buf_init(&out, 0);
	buf_printf(&out, "* %u EXISTS\r\n", info.exists);
	if (!(s->enabled & IMAP_ENABLED_IMAP4REV2)) {
		buf_printf(&out, "* %u RECENT\r\n", info.recent);
		if (info.first_unseen != 0)
			buf_printf(&out, "* OK [UNSEEN %u] First unseen.\r\n",
				   info.first_unseen);
	}
	buf_printf(&out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", info.uidvalidity);
	buf_printf(&out, "* OK [UIDNEXT %u] Predicted next UID\r\n", info.uidnext);
	if (s->enabled & IMAP_ENABLED_IMAP4REV2) {
		/* RFC 9051 6.3.2: the LIST response gives the name as stored. */
		buf_append_str(&out, "* LIST () \"/\" ");
		imap_mailbox_to_wire(s, &out, name);
		buf_append_str(&out, "\r\n");
	}
	imap_session_write(s, out.data, out.len);
	buf_deinit(&out);
	store_select_info_free(&info);
	return imap_cmd_ok(cmd, readonly ? "[READ-ONLY] EXAMINE completed" :
			   "[READ-WRITE] SELECT completed");
}

/* RFC 9051 6.3.2 */
enum imap_cmd_status
cmd_select(struct imap_cmd *cmd)
{
	return select_common(cmd, false);
}

/* RFC 9051 6.3.3 */
enum imap_cmd_status
cmd_examine(struct imap_cmd *cmd)
{
	return select_common(cmd, true);
}

/* RFC 9051 6.4.1: expunge silently (read-write only), then deselect. */
enum imap_cmd_status
cmd_close(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	enum store_error err;
	const char *error;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CLOSE takes no arguments");
	if (!store_view_readonly(s->view) &&
	    store_view_expunge(s->view, NULL, 0, NULL, NULL, &err, &error) < 0) {
		imap_session_set_view(s, NULL);
		return imap_cmd_store_fail(cmd, err, error);
	}
	imap_session_set_view(s, NULL);
	return imap_cmd_ok(cmd, "CLOSE completed");
}

/* RFC 3691 */
enum imap_cmd_status
cmd_unselect(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "UNSELECT takes no arguments");
	imap_session_set_view(cmd->session, NULL);
	return imap_cmd_ok(cmd, "UNSELECT completed");
}

/* RFC 3501 6.4.1: a NOOP for us (the index is always checkpointed). */
enum imap_cmd_status
cmd_check(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CHECK takes no arguments");
	return imap_cmd_ok(cmd, "CHECK completed");
}

static void
expunge_cb(uint32_t seq, void *ctx)
{
	imap_session_printf(ctx, "* %u EXPUNGE\r\n", seq);
}

/* RFC 9051 6.4.3; UID EXPUNGE set (RFC 4315 2.1) */
enum imap_cmd_status
cmd_expunge(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct store_uid_range *ranges = NULL;
	size_t nranges = 0;
	enum store_error err;
	const char *error;

	if (cmd->uid) {
		if (cmd->argc != 1)
			return imap_cmd_bad(cmd, "UID EXPUNGE needs a UID set");
		if (imap_cmd_uid_ranges(cmd, &cmd->args[0], &ranges, &nranges,
					&error) < 0)
			return imap_cmd_bad(cmd, error);
		if (nranges == 0)
			return imap_cmd_ok(cmd, "EXPUNGE completed");
	} else if (cmd->argc != 0) {
		return imap_cmd_bad(cmd, "EXPUNGE takes no arguments");
	}
	if (store_view_readonly(s->view))
		return imap_cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
	if (store_view_expunge(s->view, cmd->uid ? ranges : NULL, nranges,
			       expunge_cb, s, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "EXPUNGE completed");
}

/* RFC 2177: "+ idling", then updates as they happen, until DONE. */
enum imap_cmd_status
cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "IDLE takes no arguments");
	/* Watch first: the sync's look at the Maildir then covers every
	 * change the watch can't have seen. */
	imap_session_watch(s, true);
	if (s->view != NULL)
		imap_session_sync(s, true);
	imap_session_printf(s, "+ idling\r\n");
	free(s->idle_tag);
	s->idle_tag = xstrdup(cmd->tag);
	imap_framer_set_line_mode(&s->framer, true);
	s->cmd_name = NULL; /* the tagged reply comes with DONE */
	return IMAP_CMD_DONE;
}

void
imap_idle_line(struct imap_session *s, const uint8_t *line, size_t len)
{
	char *tag = s->idle_tag;
	bool done = len == 4 && strncasecmp((const char *)line, "DONE", 4) == 0;

	/* the line lives in the framer: look at it before the reset */
	s->idle_tag = NULL;
	imap_session_watch(s, false);
	imap_framer_set_line_mode(&s->framer, false);
	imap_framer_reset(&s->framer);
	if (done) {
		if (s->view != NULL)
			imap_session_sync(s, true);
		imap_session_printf(s, "%s OK IDLE terminated\r\n", tag);
	} else {
		imap_session_printf(s, "%s BAD Expected DONE\r\n", tag);
	}
	free(tag);
}
