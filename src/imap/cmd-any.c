/* cmd-any: commands valid in every state (RFC 9051 6.1) plus ID (RFC 2971)
 * and ENABLE (RFC 5161, RFC 9051 6.3.1). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap-cmd.h"
#include "imap-resp.h"
#include "log.h"

#define ID_MAX_PAIRS 30        /* RFC 2971 3.3 */
#define ID_MAX_FIELD_LEN 30    /* RFC 2971 3.3 */
#define ID_MAX_VALUE_LEN 1024  /* RFC 2971 3.3 */

#ifndef SATCHEL_VERSION
#define SATCHEL_VERSION "0.1.0"
#endif

/* RFC 9051 6.1.1 */
enum imap_cmd_status
cmd_capability(struct imap_cmd *cmd)
{
	struct buf out;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "CAPABILITY takes no arguments");
	buf_init(&out, 0);
	buf_append_str(&out, "* CAPABILITY ");
	imap_session_capabilities(cmd->session, &out);
	buf_append_str(&out, "\r\n");
	imap_session_write(cmd->session, out.data, out.len);
	buf_deinit(&out);
	return imap_cmd_ok(cmd, "CAPABILITY completed");
}

/* RFC 9051 6.1.2 */
enum imap_cmd_status
cmd_noop(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "NOOP takes no arguments");
	return imap_cmd_ok(cmd, "NOOP completed");
}

/* RFC 9051 6.1.3: BYE first, then the tagged OK, then close. */
enum imap_cmd_status
cmd_logout(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;

	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "LOGOUT takes no arguments");
	imap_session_printf(s, "* BYE Logging out\r\n");
	imap_cmd_ok(cmd, "LOGOUT completed");
	log_info("sess=%s ip=%s user=%s event=logout", s->id, s->peer,
		 s->user != NULL ? s->user : "-");
	imap_session_close(s);
	return IMAP_CMD_DONE;
}

static bool
id_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL;
}

/* RFC 2971 3.1: ID ( field value ... ) | NIL */
enum imap_cmd_status
cmd_id(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	const struct imap_arg *list;
	char name[64] = "-", version[64] = "-";
	size_t i;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "ID needs one argument: a list or NIL");
	if (cmd->args[0].type == IMAP_ARG_LIST) {
		list = cmd->args[0].list;
		if (cmd->args[0].count % 2 != 0)
			return imap_cmd_bad(cmd, "ID list needs field/value pairs");
		if (cmd->args[0].count / 2 > ID_MAX_PAIRS)
			return imap_cmd_bad(cmd, "Too many ID fields");
		for (i = 0; i < cmd->args[0].count; i += 2) {
			const struct imap_arg *f = &list[i], *v = &list[i + 1];

			if (!id_is_string(f) || f->len > ID_MAX_FIELD_LEN)
				return imap_cmd_bad(cmd, "Invalid ID field name");
			if (v->type != IMAP_ARG_NIL &&
			    (!id_is_string(v) || v->len > ID_MAX_VALUE_LEN))
				return imap_cmd_bad(cmd, "Invalid ID field value");
			if (v->type == IMAP_ARG_NIL)
				continue;
			if (f->len == 4 &&
			    strncasecmp((const char *)f->data, "name", 4) == 0)
				log_sanitize(name, sizeof(name), v->data, v->len);
			else if (f->len == 7 &&
				 strncasecmp((const char *)f->data, "version", 7) == 0)
				log_sanitize(version, sizeof(version), v->data,
					     v->len);
		}
		log_info("sess=%s ip=%s event=id client=%s client_version=%s",
			 s->id, s->peer, name, version);
	} else if (cmd->args[0].type != IMAP_ARG_NIL) {
		return imap_cmd_bad(cmd, "ID needs a list or NIL");
	}
	imap_session_printf(s, "* ID (\"name\" \"Satchel\" \"version\" \"%s\")\r\n",
			    SATCHEL_VERSION);
	return imap_cmd_ok(cmd, "ID completed");
}

/* RFC 5161 3.1: ENABLE capability... ; unknown names are ignored, the
 * ENABLED response lists only what this command newly enabled. */
enum imap_cmd_status
cmd_enable(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct buf out;
	size_t i;

	if (cmd->argc == 0)
		return imap_cmd_bad(cmd, "ENABLE needs at least one capability");
	for (i = 0; i < cmd->argc; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM)
			return imap_cmd_bad(cmd, "ENABLE arguments are atoms");
	}
	buf_init(&out, 0);
	buf_append_str(&out, "* ENABLED");
	for (i = 0; i < cmd->argc; i++) {
		const char *cap = (const char *)cmd->args[i].data;

		if (strcasecmp(cap, "IMAP4rev2") == 0 &&
		    (s->enabled & IMAP_ENABLED_IMAP4REV2) == 0) {
			s->enabled |= IMAP_ENABLED_IMAP4REV2;
			buf_append_str(&out, " IMAP4rev2");
		}
	}
	buf_append_str(&out, "\r\n");
	imap_session_write(s, out.data, out.len);
	buf_deinit(&out);
	return imap_cmd_ok(cmd, "ENABLE completed");
}
