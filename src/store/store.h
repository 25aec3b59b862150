/* store: the mail store as the protocols see it.  This is the only header
 * of src/store that other directories include; no SQL and no Maildir path
 * crosses it.
 *
 * A struct store_user is the per-user shared state: the open index and the
 * Maildir root, one object per user however many sessions (on however many
 * worker threads) have it open; reference counted, with one mutex that
 * every call below takes for its duration.
 *
 * Mailbox names are UTF-8 with '/' as the hierarchy separator; "INBOX" is
 * matched case-insensitively and always reported as "INBOX".  The protocol
 * layer converts from and to modified UTF-7 on the wire.
 *
 * Every fallible call returns 0 or -1 with *err_r (the class, which the
 * protocol maps to its response code in one place) and *error_r (a static
 * text safe to show the client; details go to the log). */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SEPARATOR '/'

enum store_error {
	STORE_ERR_NONE = 0,
	STORE_ERR_TEMP,      /* internal or I/O failure, try again later */
	STORE_ERR_NOTFOUND,  /* no such mailbox (or not visible) */
	STORE_ERR_EXISTS,    /* it already exists */
	STORE_ERR_NOPERM,    /* not allowed */
	STORE_ERR_OVERQUOTA, /* quota or disk full */
	STORE_ERR_EXPUNGED,  /* the message was expunged meanwhile */
	STORE_ERR_TOOBIG,    /* message or argument too large */
	STORE_ERR_LIMIT,     /* a count limit was hit */
	STORE_ERR_INUSE,     /* locked by someone else */
	STORE_ERR_BADNAME,   /* the mailbox name is not acceptable */
	STORE_ERR_CANNOT,    /* the operation can never succeed */
	STORE_ERR_TRYCREATE, /* target mailbox missing: create it first */
	STORE_ERR_HASCHILDREN, /* DELETE of a \Noselect mailbox with children */
};

struct store_user;

/* Open (or share) the store of `user` whose home is `home`; the Maildir and
 * index are created on first use, and the index is rebuilt from the
 * Maildir when it is missing or corrupt.  `autocreate` is a NULL-terminated
 * list of "Name\SpecialUse" strings created at first login (e.g.
 * "Sent\\Sent").  NULL on failure. */
struct store_user *store_user_open(const char *user, const char *home,
				   const char *const *autocreate,
				   enum store_error *err_r, const char **error_r);
void store_user_unref(struct store_user **user);
/* At server exit, after every session is gone: stop the background flag
 * renames (the running batch finishes; the rest waits in the index for
 * the next start) and release what they held. */
void store_shutdown(void);
const char *store_user_name(const struct store_user *user);

/* Rebuild the user's index from the Maildir (run with the server
 * stopped).  What the old index still says — UIDVALIDITY, UIDs, flags,
 * keywords, subscriptions — is kept for every file that exists; the rest
 * is found by a Maildir sync (dovecot-uidlist honoured).  The old file is
 * kept as satchel.db.old.  *report_r (malloc'd) says what happened. */
int store_index_rebuild(const char *user, const char *home, char **report_r,
			enum store_error *err_r, const char **error_r);
/* Compare the index with the Maildir without changing either: 0 when they
 * agree, 1 when they differ (report says how), -1 on error. */
int store_index_check(const char *user, const char *home, char **report_r,
		      enum store_error *err_r, const char **error_r);

/* ---- mailboxes ---- */

/* Is `name` acceptable as a mailbox name?  (UTF-8, no empty levels, no
 * control characters, bounded length and depth.) */
bool store_mailbox_name_valid(const char *name, const char **error_r);
/* "INBOX" for any case of inbox, else name itself. */
const char *store_mailbox_canonical(const char *name);

int store_mailbox_create(struct store_user *u, const char *name,
			 const char *special_use, enum store_error *err_r,
			 const char **error_r);
int store_mailbox_delete(struct store_user *u, const char *name,
			 enum store_error *err_r, const char **error_r);
int store_mailbox_rename(struct store_user *u, const char *oldname,
			 const char *newname, enum store_error *err_r,
			 const char **error_r);
int store_subscription_set(struct store_user *u, const char *name, bool on,
			   enum store_error *err_r, const char **error_r);

struct store_mailbox_info {
	const char *name;
	bool exists;        /* a mailbox (possibly \Noselect) */
	bool noselect;
	bool subscribed;
	bool has_children;
	const char *special_use; /* "\Sent" etc. or NULL */
};

/* Every mailbox and every subscription (subscribed names that don't exist
 * come with exists=false), sorted by name.  The callback must not call
 * back into the store. */
int store_mailbox_list(struct store_user *u,
		       void (*cb)(const struct store_mailbox_info *info,
				  void *ctx),
		       void *ctx, enum store_error *err_r,
		       const char **error_r);

struct store_status {
	uint32_t messages;
	uint32_t recent;
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;
	uint32_t deleted;
	uint64_t size;
	uint64_t highestmodseq;
};

int store_mailbox_status(struct store_user *u, const char *name,
			 struct store_status *status_r, enum store_error *err_r,
			 const char **error_r);

/* ---- messages ---- */

#define STORE_FLAG_SEEN 0x01u
#define STORE_FLAG_ANSWERED 0x02u
#define STORE_FLAG_FLAGGED 0x04u
#define STORE_FLAG_DELETED 0x08u
#define STORE_FLAG_DRAFT 0x10u
#define STORE_MAX_KEYWORDS 100 /* per message */
#define STORE_KEYWORD_MAX_LEN 100

struct store_new_message {
	const void *data;       /* the whole message */
	size_t len;
	unsigned flags;         /* STORE_FLAG_* */
	const char *const *keywords;
	size_t nkeywords;
	int64_t internaldate;   /* seconds since the epoch, or -1 for now */
};

/* Deliver messages into `mailbox`, all or nothing (RFC 3502): each file is
 * written and fsynced, the directory fsynced, then one index transaction
 * assigns the UIDs, so a success means every message is durable.
 * *uids_r (count entries, caller's array) and *uidvalidity_r tell the
 * assigned UIDs.  A missing mailbox fails with STORE_ERR_TRYCREATE. */
int store_append(struct store_user *u, const char *mailbox,
		 const struct store_new_message *msgs, size_t count,
		 uint32_t *uidvalidity_r, uint32_t *uids_r,
		 enum store_error *err_r, const char **error_r);

/* ---- a selected mailbox (RFC 9051 6.3.2) ---- */

struct store_view;

struct store_uid_range {
	uint32_t lo, hi; /* inclusive, lo <= hi */
};

struct store_select_info {
	uint32_t exists;
	uint32_t recent;       /* \Recent for this session (RFC 3501) */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t first_unseen; /* sequence number, 0 if none */
	uint64_t highestmodseq;
	char **keywords;       /* keywords in use (malloc'd), for FLAGS */
	size_t nkeywords;
};
void store_select_info_free(struct store_select_info *info);

/* Open `name` for a session.  notify(ctx) is called from any thread, with
 * the store locked, when someone else changed the mailbox: it may only
 * wake its session (queue it on its worker) and must not call the store. */
struct store_view *store_view_open(struct store_user *u, const char *name,
				   bool readonly, void (*notify)(void *ctx),
				   void *ctx, struct store_select_info *info_r,
				   enum store_error *err_r, const char **error_r);
void store_view_close(struct store_view **view);
bool store_view_readonly(const struct store_view *v);
const char *store_view_name(const struct store_view *v);
uint32_t store_view_count(const struct store_view *v);
/* seq 1..count */
uint32_t store_view_uid(const struct store_view *v, uint32_t seq);
/* 0 if the UID is not in the view */
uint32_t store_view_seq(const struct store_view *v, uint32_t uid);
uint32_t store_view_max_uid(const struct store_view *v);

struct store_msg {
	uint32_t seq, uid;
	unsigned flags;        /* STORE_FLAG_* */
	const char *keywords;  /* space-separated, "" when none */
	bool recent;
	int64_t internaldate;
	uint64_t size;
	uint64_t modseq;
};

struct store_sync_cb {
	/* seq is valid at the moment of the call (earlier expunges applied) */
	void (*expunge)(uint32_t seq, void *ctx);
	void (*exists)(uint32_t count, uint32_t recent, void *ctx);
	void (*flags)(const struct store_msg *msg, void *ctx);
	/* new keywords came into use: FLAGS/PERMANENTFLAGS again */
	void (*keywords)(const struct store_select_info *info, void *ctx);
};

/* Bring the view up to date with what others did, reporting it through
 * cb.  Expunges are only applied when allowed (RFC 9051 7.5.1: not during
 * FETCH, STORE or SEARCH by sequence number); they wait otherwise. */
int store_view_sync(struct store_view *v, bool expunges_allowed,
		    const struct store_sync_cb *cb, void *ctx,
		    enum store_error *err_r, const char **error_r);
/* For a session in IDLE whose notify hook ran (any number of times) or
 * whose watch fired: store_view_sync(v, true, ...), except that it
 * returns at once, reading nothing, when no change made since the view's
 * last sync, no look at the Maildir asked for and no held expunge is
 * pending (a woken session may have synced already, or the change was its
 * own); and the first of many sessions woken by one change reads the
 * index for all of them. */
int store_view_sync_woken(struct store_view *v, const struct store_sync_cb *cb,
			  void *ctx, enum store_error *err_r,
			  const char **error_r);
/* Make the next sync look at the Maildir for other programs' changes
 * (otherwise it does so at most once a second), unless another view of
 * the user looks after this call: one look stands for all of them, and
 * wakes those it finds behind. */
void store_view_check_maildir(struct store_view *v);
/* An inotify descriptor (non-blocking) that becomes readable when a file
 * comes or goes in the mailbox's Maildir, for sessions that must hear of
 * it at once (IDLE).  It is the mailbox's, shared by every view watching
 * it on any thread: the caller must not close it, only read it.  Whoever
 * reads events from it calls store_view_check_maildir() and then
 * store_view_sync_woken(): that look wakes every view it finds behind.
 * -1 if it can't be had (then the others' watches or commands tell).
 * Calling it again while watching returns the same descriptor. */
int store_view_watch(struct store_view *v);
/* Stop watching (after the caller stopped polling the descriptor).  Done
 * by store_view_close() too. */
void store_view_unwatch(struct store_view *v);
/* Messages of the view in the UID ranges (sorted, non-overlapping), in
 * UID order. */
int store_view_fetch(struct store_view *v, const struct store_uid_range *r,
		     size_t nr, void (*cb)(const struct store_msg *msg, void *ctx),
		     void *ctx, enum store_error *err_r, const char **error_r);

/* What store_view_fetch_part reads besides the UID, the sequence number
 * and \Recent; the other fields of struct store_msg come back as 0 ("").
 * The narrower, the cheaper a FETCH of a big mailbox. */
#define STORE_FETCH_UID 0x0u   /* nothing more */
#define STORE_FETCH_FLAGS 0x1u /* flags, keywords */
#define STORE_FETCH_ALL 0xffu  /* every field */

/* Where a sliced fetch goes on from; zeroed before the first call. */
struct store_fetch_pos {
	size_t range;      /* the range being read */
	uint64_t next_uid; /* first UID not read yet in it; 0: its start */
	uint32_t seq;      /* the last message's sequence number (a hint) */
};

/* store_view_fetch in slices, so a big FETCH can go out while it is
 * being read and the user's lock is never held for long: the `fields`
 * (STORE_FETCH_*) of at most max_msgs messages from *pos on, *pos moved
 * past them.  Each call is one consistent read; a message changed by
 * another session between two calls is reported as it is when its slice
 * is read, one expunged meanwhile is left out.  1 when more may follow
 * (call again with the same ranges and pos), 0 when done, -1 on error. */
int store_view_fetch_part(struct store_view *v,
			  const struct store_uid_range *r, size_t nr,
			  unsigned fields, size_t max_msgs,
			  struct store_fetch_pos *pos,
			  void (*cb)(const struct store_msg *msg, void *ctx),
			  void *ctx, enum store_error *err_r,
			  const char **error_r);

enum store_flag_mode {
	STORE_FLAGS_REPLACE,
	STORE_FLAGS_ADD,
	STORE_FLAGS_REMOVE,
};

/* STORE: changes flags and keywords; cb gets every message whose flags
 * changed (with the new state).  Maildir file names follow. */
int store_view_store(struct store_view *v, const struct store_uid_range *r,
		     size_t nr, enum store_flag_mode mode, unsigned flags,
		     const char *const *keywords, size_t nkeywords,
		     void (*cb)(const struct store_msg *msg, void *ctx),
		     void *ctx, enum store_error *err_r, const char **error_r);
/* Expunge the \Deleted messages (within r when r != NULL): files, then
 * index; the view drops them and cb gets each one's sequence number as it
 * goes (valid at the moment of the call). */
int store_view_expunge(struct store_view *v, const struct store_uid_range *r,
		       size_t nr, void (*cb)(uint32_t seq, void *ctx),
		       void *ctx, enum store_error *err_r, const char **error_r);
/* COPY (or MOVE) the view's messages in r into mailbox dest.  On success
 * *count_r pairs of source/destination UIDs (malloc'd arrays, caller
 * frees) and the destination's UIDVALIDITY.  For MOVE the sources are then
 * expunged with cb as for store_view_expunge. */
int store_view_copy(struct store_view *v, const struct store_uid_range *r,
		    size_t nr, const char *dest, bool move,
		    uint32_t *uidvalidity_r, uint32_t **src_uids_r,
		    uint32_t **dst_uids_r, size_t *count_r,
		    void (*cb)(uint32_t seq, void *ctx), void *ctx,
		    enum store_error *err_r, const char **error_r);

#endif
