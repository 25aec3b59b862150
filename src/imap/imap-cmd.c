/* imap-cmd: command table, dispatch gate and reply helpers; see imap-cmd.h.
 * The gate checks the session state so handlers don't; unknown commands and
 * commands not valid in this state get BAD (RFC 9051 section 3). */
#include "imap-cmd.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "store.h"

#define ST_NOTAUTH (1u << IMAP_STATE_NOTAUTH)
#define ST_AUTH (1u << IMAP_STATE_AUTH)
#define ST_SELECTED (1u << IMAP_STATE_SELECTED)
#define ST_ANY (ST_NOTAUTH | ST_AUTH | ST_SELECTED)

struct imap_cmd_def {
	const char *name;
	enum imap_cmd_status (*fn)(struct imap_cmd *cmd);
	unsigned states;
	unsigned flags; /* CMD_F_* */
};

/* How the dispatcher treats a command around the handler. */
#define CMD_F_NO_STORE 0x1u /* needs no mail store (opened lazily) */
#define CMD_F_NO_SYNC 0x2u  /* no untagged updates before it */
#define CMD_F_SEQ 0x4u      /* works on sequence numbers: no EXPUNGE
			       before it (RFC 9051 7.5.1) */
#define CMD_F_CHECK 0x8u    /* "anything new?": look at the Maildir now */

/* RFC 9051 section 6, in the RFC's order. */
static const struct imap_cmd_def cmd_table[] = {
	{ "CAPABILITY", cmd_capability, ST_ANY, CMD_F_NO_STORE },       /* 6.1.1 */
	{ "NOOP", cmd_noop, ST_ANY, CMD_F_NO_STORE | CMD_F_CHECK },                   /* 6.1.2 */
	{ "LOGOUT", cmd_logout, ST_ANY, CMD_F_NO_STORE | CMD_F_NO_SYNC },               /* 6.1.3 */
	{ "ID", cmd_id, ST_ANY, CMD_F_NO_STORE },                       /* RFC 2971 */
	{ "STARTTLS", cmd_starttls, ST_NOTAUTH, 0 },       /* 6.2.1 */
	{ "AUTHENTICATE", cmd_authenticate, ST_NOTAUTH, 0 }, /* 6.2.2 */
	{ "LOGIN", cmd_login, ST_NOTAUTH, 0 },             /* 6.2.3 */
	{ "ENABLE", cmd_enable, ST_AUTH, CMD_F_NO_STORE },              /* 6.3.1, RFC 5161 */
	{ "CREATE", cmd_create, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.4 */
	{ "DELETE", cmd_delete, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.5 */
	{ "RENAME", cmd_rename, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.6 */
	{ "SUBSCRIBE", cmd_subscribe, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.7 */
	{ "UNSUBSCRIBE", cmd_unsubscribe, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.8 */
	{ "LIST", cmd_list, ST_AUTH | ST_SELECTED, 0 },    /* 6.3.9 */
	{ "LSUB", cmd_lsub, ST_AUTH | ST_SELECTED, 0 },    /* RFC 3501 6.3.9 */
	{ "NAMESPACE", cmd_namespace, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.10 */
	{ "STATUS", cmd_status, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.11 */
	{ "APPEND", cmd_append, ST_AUTH | ST_SELECTED, 0 }, /* 6.3.12 */
	{ "IDLE", cmd_idle, ST_AUTH | ST_SELECTED, CMD_F_NO_SYNC | CMD_F_CHECK },    /* 6.3.13, RFC 2177 */
	{ "SELECT", cmd_select, ST_AUTH | ST_SELECTED, CMD_F_NO_SYNC }, /* 6.3.2 */
	{ "EXAMINE", cmd_examine, ST_AUTH | ST_SELECTED, CMD_F_NO_SYNC }, /* 6.3.3 */
	{ "CLOSE", cmd_close, ST_SELECTED, CMD_F_NO_SYNC },            /* 6.4.1 */
	{ "UNSELECT", cmd_unselect, ST_SELECTED, CMD_F_NO_SYNC },      /* 6.4.2, RFC 3691 */
	{ "CHECK", cmd_check, ST_SELECTED, CMD_F_CHECK },            /* RFC 3501 6.4.1 */
	{ "EXPUNGE", cmd_expunge, ST_SELECTED, 0 },        /* 6.4.3 */
	{ "FETCH", cmd_fetch, ST_SELECTED, CMD_F_SEQ },            /* 6.4.5 */
	{ "STORE", cmd_store, ST_SELECTED, CMD_F_SEQ },            /* 6.4.6 */
	{ "COPY", cmd_copy, ST_SELECTED, CMD_F_SEQ },              /* 6.4.7 */
	{ "MOVE", cmd_move, ST_SELECTED, CMD_F_SEQ },              /* 6.4.8, RFC 6851 */
	{ "UID", cmd_uid, ST_SELECTED, 0 },                /* 6.4.9 */
};

static const struct imap_cmd_def *
cmd_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (strcasecmp(cmd_table[i].name, name) == 0)
			return &cmd_table[i];
	}
	return NULL;
}

static const char *
state_name(enum imap_state st)
{
	switch (st) {
	case IMAP_STATE_NOTAUTH:
		return "not authenticated";
	case IMAP_STATE_AUTH:
		return "authenticated";
	case IMAP_STATE_SELECTED:
		return "selected";
	default:
		return "logout";
	}
}

static void
log_command(struct imap_session *s, const char *name, const char *status)
{
	struct timespec now;
	long us;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (long)(now.tv_sec - s->cmd_start.tv_sec) * 1000000L +
	     (now.tv_nsec - s->cmd_start.tv_nsec) / 1000;
	log_debug("sess=%s ip=%s user=%s cmd=%s result=%s dur_us=%ld", s->id,
		  s->peer, s->user != NULL ? s->user : "-", name, status, us);
}

static void
tagged(struct imap_session *s, const char *tag, const char *status,
       const char *code, const char *text)
{
	if (code != NULL)
		imap_session_printf(s, "%s %s [%s] %s\r\n", tag, status, code,
				    text);
	else
		imap_session_printf(s, "%s %s %s\r\n", tag, status, text);
	if (s->cmd_name != NULL)
		log_command(s, s->cmd_name, status);
}

enum imap_cmd_status
imap_cmd_ok(struct imap_cmd *cmd, const char *text)
{
	tagged(cmd->session, cmd->tag, "OK", NULL, text);
	return IMAP_CMD_DONE;
}

enum imap_cmd_status
imap_cmd_no(struct imap_cmd *cmd, const char *code, const char *text)
{
	tagged(cmd->session, cmd->tag, "NO", code, text);
	return IMAP_CMD_DONE;
}

enum imap_cmd_status
imap_cmd_bad(struct imap_cmd *cmd, const char *text)
{
	tagged(cmd->session, cmd->tag, "BAD", NULL, text);
	return IMAP_CMD_DONE;
}

void
imap_cmd_tagged(struct imap_session *s, const char *tag, const char *status,
		const char *text)
{
	tagged(s, tag, status, NULL, text);
	s->cmd_name = NULL;
	arena_reset(&s->arena);
	imap_session_resume(s);
}

void
imap_cmd_dispatch(struct imap_session *s, const uint8_t *data, size_t len)
{
	const struct imap_cmd_def *def;
	struct imap_command *parsed;
	struct imap_cmd cmd;
	const char *tag, *error;
	char name[32];

	clock_gettime(CLOCK_MONOTONIC, &s->cmd_start);
	s->cmd_name = NULL;
	arena_reset(&s->arena);
	if (imap_parse_command(&s->arena, data, len, &s->limits, &parsed, &tag,
			       &error) < 0) {
		imap_framer_reset(&s->framer);
		imap_session_printf(s, "%s BAD %s\r\n",
				    tag != NULL ? tag : "*", error);
		log_command(s, "-", "BAD");
		return;
	}
	/* The arguments now live in the arena: free the raw bytes. */
	imap_framer_reset(&s->framer);

	memset(&cmd, 0, sizeof(cmd));
	cmd.session = s;
	cmd.tag = parsed->tag;
	cmd.args = parsed->args;
	cmd.argc = parsed->count;
	cmd.arena = &s->arena;
	def = cmd_lookup(parsed->name);
	if (def == NULL) {
		char safe[40];

		log_sanitize(safe, sizeof(safe), parsed->name,
			     strlen(parsed->name));
		s->cmd_name = "-";
		imap_cmd_bad(&cmd, "Unknown command");
		log_debug("sess=%s unknown-command=%s", s->id, safe);
		return;
	}
	snprintf(name, sizeof(name), "%s", def->name);
	cmd.name = def->name;
	s->cmd_name = def->name;
	if ((def->states & (1u << s->state)) == 0) {
		char text[96];

		snprintf(text, sizeof(text), "%s is not valid in the %s state",
			 name, state_name(s->state));
		imap_cmd_bad(&cmd, text);
		return;
	}
	if (s->state != IMAP_STATE_NOTAUTH && s->store == NULL &&
	    (def->flags & CMD_F_NO_STORE) == 0) {
		if (imap_session_open_store(s, &error) < 0) {
			log_error("sess=%s user=%s opening the mail store: %s",
				  s->id, s->user, error);
			imap_cmd_no(&cmd, "UNAVAILABLE",
				    "Your mail is not available right now");
			s->cmd_name = NULL;
			arena_reset(&s->arena);
			return;
		}
	}
	/* Tell the client what others changed before answering (RFC 9051
	 * 7: untagged data precedes the tagged reply).  7.5.1: no EXPUNGE
	 * while responding to FETCH, STORE or SEARCH by sequence number (nor
	 * COPY/MOVE, whose numbers would shift under them); the UID forms
	 * may see them. */
	if (s->view != NULL && (def->flags & CMD_F_CHECK))
		store_view_check_maildir(s->view);
	if (s->state == IMAP_STATE_SELECTED && s->view != NULL &&
	    (def->flags & CMD_F_NO_SYNC) == 0)
		imap_session_sync(s, (def->flags & CMD_F_SEQ) == 0);
	if (def->fn(&cmd) == IMAP_CMD_ASYNC) {
		s->busy = true;
		return;
	}
	s->cmd_name = NULL;
	arena_reset(&s->arena);
}
