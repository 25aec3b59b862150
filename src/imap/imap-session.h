/* imap-session: one IMAP connection: its bufferevent (with a TLS filter
 * after STARTTLS, or a TLS bufferevent on the implicit-TLS port), the state
 * machine of RFC 9051 section 3, the input loop that feeds the framer and
 * dispatches complete commands, output backpressure and timeouts.
 *
 * Lifetime: created by imap_session_accept() on a worker thread, freed on
 * that thread when the client goes away, after LOGOUT once the output has
 * drained, on a timeout, or at server shutdown. */
#ifndef IMAP_SESSION_H
#define IMAP_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "arena.h"
#include "buf.h"
#include "imap-parser.h"
#include "server.h"
#include "store.h"

enum imap_state {
	IMAP_STATE_NOTAUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* ENABLE'd extensions (RFC 5161). */
#define IMAP_ENABLED_IMAP4REV2 0x1u

struct imap_auth;
struct imap_session;

/* A command that answers in slices (a big FETCH), so its output goes out
 * while the rest is produced and never piles up in memory: next() queues
 * some more and returns true once it has queued its tagged reply and
 * freed what it holds; abort() frees it when the session goes first. */
struct imap_slices {
	bool (*next)(struct imap_session *s, void *ctx);
	void (*abort)(void *ctx);
	void *ctx;
	bool running; /* next() is on the stack: a write that goes out at
			 once (TLS) may call write_cb back */
};

struct imap_session {
	struct worker_conn conn; /* must stay first: shutdown hook */
	struct worker *worker;
	struct server *server;
	struct bufferevent *bev; /* owned; replaced by a TLS filter on STARTTLS */
	char id[9];
	char peer[INET6_ADDRSTRLEN];
	bool peer_is_loopback;
	bool tls;            /* TLS active (implicit, or after STARTTLS) */
	bool tls_implicit;

	enum imap_state state;
	struct imap_limits limits;
	struct imap_framer framer;
	struct arena arena;  /* the current command's memory */
	struct event *preauth_timer; /* deadline to authenticate; NULL after */
	struct event *close_timer;   /* closing: waits for a TLS filter's
					underlying stream to drain */
	unsigned close_polls;        /* bounded: give up after the close timeout */

	char *user;          /* authenticated user (malloc'd), NULL before */
	struct store_user *store; /* shared per-user store (ref), after login */
	struct store_view *view;  /* the selected mailbox, SELECTED state */
	char *idle_tag;           /* IDLE in progress (malloc'd tag) */
	struct event *watch_ev;   /* IDLE only: on the mailbox's inotify fd
				     (the store's, shared) */
	uint32_t enabled;    /* IMAP_ENABLED_* */
	unsigned auth_failures;
	struct imap_auth *auth; /* AUTHENTICATE/LOGIN in progress, owned */
	struct imap_slices slices; /* a command answering in slices (owns
				      ctx); next == NULL when none */

	bool busy;           /* a command waits for async work: input paused */
	bool closing;        /* output is flushed, then the session is freed */
	bool output_blocked; /* output over the high-water mark: input paused */
	bool stop_requested; /* server stopping: BYE after the running command */
	bool in_process;     /* re-entrancy guard for the input loop */
	struct timespec cmd_start;
	const char *cmd_name; /* current command, for the log line */
};

/* server_accept_fn for the IMAP and IMAPS listeners. */
void imap_session_accept(struct worker *worker, int fd,
			 const struct sockaddr *peer, socklen_t peerlen,
			 bool implicit_tls);

/* Queue output (already formatted, CRLF included). */
void imap_session_write(struct imap_session *s, const void *data, size_t len);
void imap_session_printf(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Send "* BYE text" and close once it is flushed. */
void imap_session_bye(struct imap_session *s, const char *text);
/* Close once pending output is flushed (no more input is read). */
void imap_session_close(struct imap_session *s);
/* An async command finished (tagged reply queued): go on reading input. */
void imap_session_resume(struct imap_session *s);
/* The running command answers in slices: it returns IMAP_CMD_ASYNC and
 * next(s, ctx) is called each time the output has drained to half the
 * high-water mark, until it returns true.  Meanwhile no other command
 * runs and nothing is synced, so no untagged EXPUNGE (RFC 9051 7.5.1) or
 * other response comes between its lines. */
void imap_session_slices(struct imap_session *s,
			 bool (*next)(struct imap_session *s, void *ctx),
			 void (*abort)(void *ctx), void *ctx);
/* Is the output at the high-water mark (time for a slice to stop)? */
bool imap_session_output_full(const struct imap_session *s);
/* Room at the end of the output to format into in place (a big FETCH
 * saves copying megabytes): at least min bytes, *len_r in all, NULL when
 * the session has no stream.  imap_session_commit(s, p, used) sends the
 * first `used`; nothing else may write to the session in between. */
uint8_t *imap_session_reserve(struct imap_session *s, size_t min,
			      size_t *len_r);
void imap_session_commit(struct imap_session *s, uint8_t *p, size_t used);
/* The session became authenticated as `user`.  0 (kept as int for a
 * future check that can refuse). */
int imap_session_logged_in(struct imap_session *s, const char *user,
			   const char **error_r);
/* Select `view` (NULL: back to the authenticated state), closing any
 * previous one. */
void imap_session_set_view(struct imap_session *s, struct store_view *view);
/* The notify hook to hand to store_view_open (ctx = the session). */
void imap_session_view_notify(void *ctx);
/* Send what other sessions changed in the selected mailbox (untagged
 * EXISTS/RECENT/EXPUNGE/FETCH/FLAGS); expunges only when allowed. */
void imap_session_sync(struct imap_session *s, bool expunges_allowed);
/* Append "(\Seen ...)" for flags, keywords and \Recent (rev1 only). */
void imap_session_flags(struct imap_session *s, struct buf *out,
			unsigned flags, const char *keywords, bool recent);

void imap_session_send_flags_list(struct imap_session *s,
				  const struct store_select_info *info);
/* Start / stop watching the Maildir for other programs' changes (IDLE). */
void imap_session_watch(struct imap_session *s, bool on);

/* Open the user's store if it isn't yet (first mailbox command).
 * 0 ok, -1 with *error_r. */
int imap_session_open_store(struct imap_session *s, const char **error_r);

/* Switch to TLS (STARTTLS) after the tagged OK has been queued. */
int imap_session_start_tls(struct imap_session *s);
/* Plaintext passwords allowed on this connection right now? */
bool imap_session_plaintext_ok(const struct imap_session *s);
/* Append the capability list for the current state, no leading "CAPABILITY". */
void imap_session_capabilities(struct imap_session *s, struct buf *out);

#endif
