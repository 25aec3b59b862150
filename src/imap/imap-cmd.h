/* imap-cmd: the command table, the dispatch gate (state checks) and the
 * helpers handlers use to answer.  A handler sends untagged data, then
 * exactly one tagged reply, and returns IMAP_CMD_DONE; or it starts async
 * work, returns IMAP_CMD_ASYNC and later calls imap_cmd_finish(). */
#ifndef IMAP_CMD_H
#define IMAP_CMD_H

#include <stdbool.h>

#include "imap-parser.h"
#include "imap-session.h"

enum imap_cmd_status {
	IMAP_CMD_DONE,
	IMAP_CMD_ASYNC,
};

struct imap_cmd {
	struct imap_session *session;
	const char *tag;            /* arena */
	const char *name;           /* canonical upper-case name */
	const struct imap_arg *args;
	size_t argc;
	struct arena *arena;        /* the session's command arena */
	bool uid;                   /* UID FETCH/STORE/COPY/MOVE/EXPUNGE */
};

/* Parse and run one complete command from the framer. */
void imap_cmd_dispatch(struct imap_session *s, const uint8_t *data, size_t len);

/* Replies; each returns IMAP_CMD_DONE for `return imap_cmd_ok(...)`. */
enum imap_cmd_status imap_cmd_ok(struct imap_cmd *cmd, const char *text);
enum imap_cmd_status imap_cmd_no(struct imap_cmd *cmd, const char *code,
				 const char *text); /* code may be NULL */
enum imap_cmd_status imap_cmd_bad(struct imap_cmd *cmd, const char *text);
/* A tagged reply for a command that went async, then resume input. */
void imap_cmd_tagged(struct imap_session *s, const char *tag,
		     const char *status, const char *text);

/* Handlers (one file per family). */
enum imap_cmd_status cmd_capability(struct imap_cmd *cmd); /* cmd-any.c */
enum imap_cmd_status cmd_noop(struct imap_cmd *cmd);
enum imap_cmd_status cmd_logout(struct imap_cmd *cmd);
enum imap_cmd_status cmd_id(struct imap_cmd *cmd);
enum imap_cmd_status cmd_enable(struct imap_cmd *cmd);
enum imap_cmd_status cmd_starttls(struct imap_cmd *cmd); /* cmd-auth.c */
enum imap_cmd_status cmd_login(struct imap_cmd *cmd);
enum imap_cmd_status cmd_authenticate(struct imap_cmd *cmd);

enum imap_cmd_status cmd_create(struct imap_cmd *cmd); /* cmd-mailbox.c */
enum imap_cmd_status cmd_delete(struct imap_cmd *cmd);
enum imap_cmd_status cmd_rename(struct imap_cmd *cmd);
enum imap_cmd_status cmd_subscribe(struct imap_cmd *cmd);
enum imap_cmd_status cmd_unsubscribe(struct imap_cmd *cmd);
enum imap_cmd_status cmd_list(struct imap_cmd *cmd);
enum imap_cmd_status cmd_lsub(struct imap_cmd *cmd);
enum imap_cmd_status cmd_namespace(struct imap_cmd *cmd);
enum imap_cmd_status cmd_status(struct imap_cmd *cmd);
enum imap_cmd_status cmd_append(struct imap_cmd *cmd); /* cmd-append.c */
enum imap_cmd_status cmd_select(struct imap_cmd *cmd); /* cmd-select.c */
enum imap_cmd_status cmd_examine(struct imap_cmd *cmd);
enum imap_cmd_status cmd_close(struct imap_cmd *cmd);
enum imap_cmd_status cmd_unselect(struct imap_cmd *cmd);
enum imap_cmd_status cmd_check(struct imap_cmd *cmd);
enum imap_cmd_status cmd_expunge(struct imap_cmd *cmd);
enum imap_cmd_status cmd_idle(struct imap_cmd *cmd);
enum imap_cmd_status cmd_fetch(struct imap_cmd *cmd); /* cmd-fetch.c */
enum imap_cmd_status cmd_store(struct imap_cmd *cmd);
enum imap_cmd_status cmd_copy(struct imap_cmd *cmd);
enum imap_cmd_status cmd_move(struct imap_cmd *cmd);
enum imap_cmd_status cmd_uid(struct imap_cmd *cmd);

/* cmd-fetch.c: a sequence-set argument as UID ranges of the selected
 * view (arena memory).  0, or -1 with *error_r for a BAD reply. */
struct store_uid_range;
int imap_cmd_uid_ranges(struct imap_cmd *cmd, const struct imap_arg *arg,
			struct store_uid_range **ranges_r, size_t *count_r,
			const char **error_r);

/* cmd-select.c: a line while IDLE (expects DONE). */
void imap_idle_line(struct imap_session *s, const uint8_t *line, size_t len);

/* cmd-auth.c: a line of an AUTHENTICATE exchange arrived (line mode). */
void imap_auth_line(struct imap_session *s, const uint8_t *line, size_t len);
/* cmd-auth.c: the session is being freed while an exchange may run. */
void imap_auth_abort(struct imap_session *s);

#endif
