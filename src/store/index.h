/* index: the per-user SQLite index (<home>/satchel.db), internal to
 * src/store.  It is authoritative for mailboxes, UIDs, UIDVALIDITY,
 * MODSEQs, flags and keywords, subscriptions and a few key/value strings.
 * It knows nothing of IMAP syntax and no path other than the database's.
 *
 * Threads: one struct index_db per open database file.  It holds no lock
 * of its own: several threads may use it, but only one at a time, under
 * the caller's mutex (the per-user object's).  The SQLite connection is
 * opened in multi-thread mode (SQLITE_OPEN_NOMUTEX) on that promise.
 * Other processes (the CLI's rebuild, the LDA) may open the same file: a
 * busy timeout (INDEX_BUSY_TIMEOUT_MS) absorbs short lock waits and every
 * write runs in BEGIN IMMEDIATE, so a writer never deadlocks on a lock
 * upgrade.
 *
 * Durability: WAL with synchronous=FULL, so once a write call returns 0
 * its transaction is on disk and the caller may reply OK.
 *
 * Errors: a fallible call returns 0 (or 1/0 for "found"/"not found"
 * lookups) and -1 on failure, with *error_r set to a detailed text for
 * the log (not for clients) that points into `db` and stays valid until
 * the next call on the same db.  index_last_error(db) then gives the
 * class.  INDEX_ERR_CORRUPT means SQLite reported SQLITE_CORRUPT or
 * SQLITE_NOTADB: the caller should close the db, index_remove_files() and
 * rebuild from the Maildir.  Once seen it is sticky: every later call on
 * that db fails fast with INDEX_ERR_CORRUPT.  Every SQLite failure is
 * also logged with sqlite3_errmsg.
 *
 * Callbacks: the functions that take a callback call it synchronously,
 * before returning, with pointers valid only during the call; a callback
 * must not call any index_* function on the same db.
 *
 * Numbers: UIDs and UIDVALIDITY are 32-bit and never 0; modseqs are
 * positive and below 2^63; a mailbox starts with HIGHESTMODSEQ 1 and
 * every write that changes a mailbox's messages gives the rows it touches
 * the same new modseq, highestmodseq + 1 (RFC 7162 allows one modseq for
 * all messages changed by one command).  Calls that change nothing do not
 * bump the modseq. */
#ifndef INDEX_H
#define INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a call waits for another process's write lock before failing
 * with INDEX_ERR_BUSY: long enough for an LDA delivery or a batch APPEND
 * to commit, short enough that a stuck process shows up as an error. */
#define INDEX_BUSY_TIMEOUT_MS 5000
/* SQLite page cache per open database, in KiB (a ceiling: pages are
 * allocated as used, so small users cost little).  Holding a 100,000-
 * message mailbox's rows (about 6 MB) halves a full UID list scan
 * compared with SQLite's 2 MB default. */
#define INDEX_CACHE_KIB 16384
/* Read ahead at open, in KiB: the schema and the small per-user tables
 * (mailboxes, keywords, UID runs, the roots of the indexes) are created
 * first and live in the first pages of the file, so one sequential read
 * replaces a random read per table on a cold open (a cold SELECT reads
 * six pages there, then one leaf elsewhere). */
#define INDEX_PREFETCH_KIB 128
/* The write-ahead log is kept (emptied) when the database is closed, so
 * the next open doesn't create it again (a new inode, and a directory
 * fsync at its first commit); it is cut back to this size after a
 * checkpoint, so one big transaction doesn't leave a big file behind. */
#define INDEX_WAL_KEEP_KIB 4096
/* Schema version kept in PRAGMA user_version. */
#define INDEX_SCHEMA_VERSION 3
#define INDEX_HIER_SEP '/'
/* Longest special-use attribute stored ("\Important" is 10 bytes). */
#define INDEX_SPECIAL_USE_MAX 32

enum index_error {
	INDEX_ERR_NONE = 0,
	INDEX_ERR_TEMP,     /* SQLite or I/O failure; may work later */
	INDEX_ERR_BUSY,     /* another process held the lock too long */
	INDEX_ERR_CORRUPT,  /* SQLITE_CORRUPT/SQLITE_NOTADB: rebuild */
	INDEX_ERR_VERSION,  /* schema newer than this program knows */
	INDEX_ERR_NOTFOUND, /* no such mailbox (or it is \Noselect) */
	INDEX_ERR_EXISTS,   /* name (or Maildir file name) already taken */
	INDEX_ERR_INVALID,  /* bad argument: empty name, rename into self */
	INDEX_ERR_LIMIT,    /* UIDs or UIDVALIDITY exhausted */
	INDEX_ERR_FULL,     /* SQLITE_FULL: the disk (or quota) is full */
};

/* Standard flags, also kept in the Maildir file name.  \Recent is not a
 * stored flag; see index_mailbox_claim_recent(). */
enum index_flag {
	INDEX_FLAG_SEEN = 1 << 0,
	INDEX_FLAG_ANSWERED = 1 << 1,
	INDEX_FLAG_FLAGGED = 1 << 2,
	INDEX_FLAG_DELETED = 1 << 3,
	INDEX_FLAG_DRAFT = 1 << 4,
};
#define INDEX_FLAGS_ALL 0x1fu

struct index_db;

/* ---- open, close, transactions ---- */

/* Open (creating if missing, with mode 0600) the database at path, set
 * WAL, synchronous=FULL, foreign_keys and the busy timeout, and create or
 * migrate the schema.  0 with *db_r set, or -1 with *err_r and *error_r
 * (a static text; the detail is logged).  *err_r is INDEX_ERR_CORRUPT
 * when the file is not a database or is damaged, INDEX_ERR_VERSION when
 * it was written by a newer schema. */
int index_open(const char *path, struct index_db **db_r,
	       enum index_error *err_r, const char **error_r);
/* Close and free; sets *db to NULL; NULL is fine.  Discards an open
 * caller transaction (rolled back). */
void index_close(struct index_db **db);
/* Start-up check of the SQLite library: build the current schema in an
 * in-memory database (the migrations index_open runs) and prepare every
 * statement the index uses, so that a SQLite lacking a feature the index
 * needs is refused before the first login (statements are otherwise
 * prepared on first use).  0, or -1 with *error_r naming the statement
 * and the SQLite error (a static buffer: call once, at start-up, before
 * threads). */
int index_selfcheck(const char **error_r);
/* Delete path and its -wal, -shm and -journal files (missing ones are
 * fine).  No db may be open on it.  0, or -1 with *error_r (static). */
int index_remove_files(const char *path, const char **error_r);

/* The class of the last failure on db (INDEX_ERR_NONE after success). */
enum index_error index_last_error(const struct index_db *db);
/* True once SQLITE_CORRUPT or SQLITE_NOTADB was seen on db. */
bool index_is_corrupt(const struct index_db *db);

/* Group several calls into one write transaction (e.g. MOVE: append to
 * the target, expunge from the source).  Calls in between run in
 * savepoints: one that fails leaves nothing behind, and the caller
 * decides to commit the rest or roll back.  Not nestable: begin while
 * open fails with INDEX_ERR_INVALID.  0/-1 with *error_r. */
int index_transaction_begin(struct index_db *db, const char **error_r);
int index_transaction_commit(struct index_db *db, const char **error_r);
/* Always leaves no transaction open. */
void index_transaction_rollback(struct index_db *db);
/* A read snapshot around several reads in a row: one WAL read lock for
 * all of them, where each read alone takes and drops its own (two fcntl
 * and an fstat each).  Only reads inside: a write would have to upgrade
 * the snapshot, which fails if another process wrote since.  Not inside
 * a transaction.  _end never fails (a read-only COMMIT only unlocks). */
int index_read_begin(struct index_db *db, const char **error_r);
void index_read_end(struct index_db *db);
/* How many write transactions this handle has committed since it was
 * opened: while it stays put, nothing written through this handle has
 * changed what an earlier read saw. */
uint64_t index_commits(const struct index_db *db);

/* ---- mailboxes ----
 * Names are UTF-8 with '/' as separator; the exact name "INBOX" is
 * matched case-insensitively and stored as "INBOX", every other name is
 * case-sensitive.  Names must be non-empty and free of control bytes
 * (< 0x20, 0x7f); other validation is the caller's. */

struct index_mailbox {
	int64_t id;              /* never reused, even after delete */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	uint32_t recent_uid;     /* first UID not yet claimed as \Recent */
	bool noselect;           /* placeholder left by DELETE */
	char special_use[INDEX_SPECIAL_USE_MAX]; /* "\Sent" or "" */
	uint32_t messages, unseen, deleted;
	uint64_t size;           /* sum of message sizes */
	int64_t mtime_new, mtime_cur; /* opaque to the index (caller's units) */
};

/* Create mailbox `name`.  special_use may be NULL.  uidvalidity 0 takes
 * the next one of this user (strictly above every UIDVALIDITY ever given
 * out here, and at least time(NULL)); non-zero (an import keeping a
 * Dovecot UIDVALIDITY) is used as given and the sequence moves past it.
 * If `name` is a \Noselect placeholder it becomes a real mailbox with a
 * new UIDVALIDITY.  0 with *id_r and *uidvalidity_r, -1 with
 * INDEX_ERR_EXISTS if it exists, INDEX_ERR_INVALID for a bad name or a
 * special_use longer than INDEX_SPECIAL_USE_MAX-1. */
int index_mailbox_create(struct index_db *db, const char *name,
			 const char *special_use, uint32_t uidvalidity,
			 int64_t *id_r, uint32_t *uidvalidity_r,
			 const char **error_r);
/* 1 and *mbox_r filled if found (including \Noselect placeholders), 0 if
 * not, -1 on error. */
int index_mailbox_get(struct index_db *db, const char *name,
		      struct index_mailbox *mbox_r, const char **error_r);
int index_mailbox_get_by_id(struct index_db *db, int64_t id,
			    struct index_mailbox *mbox_r, const char **error_r);
/* Does any mailbox (or placeholder) named "name/..." exist?  1 yes, 0 no,
 * -1 error. */
int index_mailbox_has_children(struct index_db *db, const char *name,
			       const char **error_r);
/* Delete the mailbox with its messages, expunge records and keywords.
 * Children are untouched.  Subscriptions are untouched (RFC 9051 6.3.7:
 * they may name mailboxes that don't exist).  -1/INDEX_ERR_NOTFOUND if
 * there is no such id. */
int index_mailbox_delete(struct index_db *db, int64_t id,
			 const char **error_r);
/* DELETE of a mailbox that has children (RFC 9051 6.3.5): remove its
 * messages, expunge records and keywords, clear special_use and counters
 * and mark it \Noselect.  A later create of the same name revives it with
 * a new UIDVALIDITY. */
int index_mailbox_set_noselect(struct index_db *db, int64_t id,
			       const char **error_r);
/* Rename `oldname` and every "oldname/..." to "newname" and
 * "newname/...", in one transaction; ids, UIDVALIDITY and messages stay
 * (RFC 9051 6.3.6).  INDEX_ERR_NOTFOUND if oldname doesn't exist,
 * INDEX_ERR_EXISTS if newname or any resulting child name exists,
 * INDEX_ERR_INVALID if newname is oldname or below it.  Renaming INBOX
 * (which must move its messages and stay) is the caller's business;
 * subscriptions are not renamed. */
int index_mailbox_rename(struct index_db *db, const char *oldname,
			 const char *newname, const char **error_r);
/* Set (NULL or "" clears) the special-use attribute. */
int index_mailbox_set_special_use(struct index_db *db, int64_t id,
				  const char *special_use,
				  const char **error_r);
/* Remember the Maildir new/ and cur/ mtimes seen at the last sync. */
int index_mailbox_set_mtimes(struct index_db *db, int64_t id,
			     int64_t mtime_new, int64_t mtime_cur,
			     const char **error_r);

/* Give an existing (selectable) mailbox the UIDVALIDITY and UIDNEXT of
 * an import (a Dovecot dovecot-uidlist).  With the mailbox's current
 * UIDVALIDITY, uidnext may only stay or go up.  A different UIDVALIDITY
 * is accepted only while the mailbox holds no message: its expunge
 * records are dropped, recent_uid becomes uidnext and the user's
 * UIDVALIDITY sequence moves past the value (as index_mailbox_create
 * does with an explicit one).  INDEX_ERR_INVALID otherwise, or for 0 or
 * uidnext 2^32-1; INDEX_ERR_NOTFOUND for an unknown or \Noselect id. */
int index_mailbox_set_uids(struct index_db *db, int64_t id,
			   uint32_t uidvalidity, uint32_t uidnext,
			   const char **error_r);

struct index_mailbox_info {
	int64_t id;
	const char *name;
	const char *special_use; /* NULL when none */
	bool noselect;
	bool subscribed;
};

/* Call cb for every mailbox (placeholders included) in byte order of
 * name.  Subscribed names without a mailbox are listed by index_sub_list.
 * 0 or -1. */
int index_mailbox_list(struct index_db *db,
		       void (*cb)(const struct index_mailbox_info *info,
				  void *ctx),
		       void *ctx, const char **error_r);

struct index_status {
	uint32_t messages;
	uint32_t recent;      /* messages with uid >= recent_uid, exact */
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint32_t unseen;      /* messages without \Seen */
	uint32_t deleted;     /* messages with \Deleted */
	uint64_t size;
	uint64_t highestmodseq;
};

/* STATUS in O(1) from the kept counters (recent costs O(recent)). */
int index_mailbox_status(struct index_db *db, int64_t id,
			 struct index_status *status_r, const char **error_r);
/* RFC 3501 \Recent: atomically return the old recent_uid and the uidnext
 * and set recent_uid = uidnext.  The calling session reports UIDs in
 * [*first_recent_r, *uidnext_r) as \Recent; no other session will. */
int index_mailbox_claim_recent(struct index_db *db, int64_t id,
			       uint32_t *first_recent_r, uint32_t *uidnext_r,
			       const char **error_r);
/* Every keyword ever set on a message of the mailbox (for the FLAGS
 * response), sorted; cb called once per keyword. */
int index_mailbox_keywords(struct index_db *db, int64_t id,
			   void (*cb)(const char *keyword, void *ctx),
			   void *ctx, const char **error_r);

/* ---- messages ----
 * Keywords travel as one string of space-separated atoms (no "\" flags).
 * The index stores them sorted and without duplicates, compares them
 * byte for byte (case folding is the caller's) and never loses them. */

struct index_msg {
	uint32_t uid;
	uint32_t flags;        /* enum index_flag bits */
	const char *keywords;  /* "" when none */
	uint64_t modseq;
	int64_t internaldate;  /* seconds since the epoch */
	uint64_t size;
	const char *file;      /* Maildir base name, without ":2,..." */
	uint32_t disk_flags;   /* the flags its file name carries: differ
				* from flags while a rename is pending */
};

struct index_msg_new {
	uint32_t uid;          /* 0: assign the next; else explicit (import) */
	const char *file;
	uint32_t flags;
	const char *keywords;  /* NULL or "" for none */
	int64_t internaldate;
	uint64_t size;
};

struct index_uid_range {
	uint32_t lo, hi;       /* inclusive; lo <= hi */
};

/* Append count messages in one transaction, giving them UIDs from
 * uidnext upwards (or the explicit ones, which must each be >= uidnext
 * and ascending) and the new modseq; uids_r (count entries) receives the
 * UIDs.  The counters move with them.  INDEX_ERR_NOTFOUND for an unknown
 * or \Noselect mailbox, INDEX_ERR_EXISTS if a file name is already
 * indexed in this mailbox, INDEX_ERR_LIMIT when UIDs would pass
 * 2^32-2, INDEX_ERR_INVALID for a bad explicit UID.  Nothing is written
 * on failure.  *modseq_r (may be NULL) gets the new modseq. */
int index_msg_append(struct index_db *db, int64_t mailbox_id,
		     const struct index_msg_new *msgs, size_t count,
		     uint32_t *uids_r, uint64_t *modseq_r,
		     const char **error_r);
/* Fill uids (capacity uids_cap) with the mailbox's UIDs in ascending
 * order; *count_r is the total number of messages, which may exceed
 * uids_cap (then only uids_cap were stored: retry with a bigger array,
 * e.g. sized from index_mailbox_status().messages).  One query. */
int index_msg_uids(struct index_db *db, int64_t mailbox_id,
		   uint32_t *uids, size_t uids_cap, size_t *count_r,
		   const char **error_r);
/* The mailbox's UIDs as ascending runs (*ranges_r malloc'd, NULL when
 * none): 1 when they add up to `expect` messages (the mailbox row's count;
 * one row to read for a mailbox appended to in order), 0 when the stored
 * runs disagree with it (*ranges_r NULL: list the UIDs with
 * index_msg_uids() and call index_msg_ranges_repair()), -1 error. */
int index_msg_uid_ranges(struct index_db *db, int64_t mailbox_id,
			 uint32_t expect, struct index_uid_range **ranges_r,
			 size_t *n_r, const char **error_r);
/* Recompute the mailbox's UID runs from its messages, one transaction. */
int index_msg_ranges_repair(struct index_db *db, int64_t mailbox_id,
			    const char **error_r);

/* Flag changes whose file rename is still to be done (disk_flags !=
 * flags): cb gets up to max of them with UID > after_uid, in UID order,
 * with uid, file, flags and disk_flags set. */
int index_msg_pending(struct index_db *db, int64_t mailbox_id,
		      uint32_t after_uid, size_t max,
		      void (*cb)(const struct index_msg *msg, void *ctx),
		      void *ctx, const char **error_r);
/* cb for each mailbox with pending renames. */
int index_msg_pending_mailboxes(struct index_db *db,
				void (*cb)(int64_t mailbox_id, void *ctx),
				void *ctx, const char **error_r);
/* The files of uids[i] now carry flags[i]: their rows stop being pending
 * unless the flags changed again meanwhile.  One transaction. */
int index_msg_renamed(struct index_db *db, int64_t mailbox_id,
		      const uint32_t *uids, const uint32_t *flags, size_t n,
		      const char **error_r);
/* The files of uids carry their flags (a sync adopted the names' flags):
 * nothing pending for them.  One transaction. */
int index_msg_clear_disk_flags(struct index_db *db, int64_t mailbox_id,
			       const uint32_t *uids, size_t n,
			       const char **error_r);
/* The lowest UID without \Seen (0 if none), for SELECT's [UNSEEN n]. */
int index_msg_first_unseen(struct index_db *db, int64_t mailbox_id,
			   uint32_t *uid_r, const char **error_r);
/* Call cb for every message with a UID in one of the ranges, in UID
 * order within each range, ranges in the order given. */
int index_msg_fetch(struct index_db *db, int64_t mailbox_id,
		    const struct index_uid_range *ranges, size_t nranges,
		    void (*cb)(const struct index_msg *msg, void *ctx),
		    void *ctx, const char **error_r);

/* What index_msg_fetch_part reads besides the UID.  Fields not asked for
 * come back as 0 ("" for strings).  Reading only what a FETCH needs is
 * what keeps a 100,000-message FETCH FLAGS cheap: SQLite then decodes
 * two small columns per row, not seven with the file name. */
#define INDEX_COLS_UID 0x0u   /* the UID alone */
#define INDEX_COLS_FLAGS 0x1u /* flags, keywords */
#define INDEX_COLS_ALL 0xffu  /* every field of struct index_msg */

/* Where a sliced read goes on from; zeroed before the first call. */
struct index_fetch_pos {
	size_t range;      /* index of the range being read */
	uint64_t next_uid; /* first UID not read yet in it; 0: its start */
};

/* index_msg_fetch in slices: the `cols` of at most max_rows messages (0:
 * no limit) from *pos on, in one read transaction, *pos moved past them.
 * 1 when it stopped at max_rows (more may follow: call again with the
 * same ranges and pos), 0 when the ranges are done, -1 on error. */
int index_msg_fetch_part(struct index_db *db, int64_t mailbox_id,
			 const struct index_uid_range *ranges, size_t nranges,
			 unsigned cols, size_t max_rows,
			 struct index_fetch_pos *pos,
			 void (*cb)(const struct index_msg *msg, void *ctx),
			 void *ctx, const char **error_r);
/* 1 with *uid_r and *flags_r if a message of the mailbox has this Maildir
 * base name, 0 if none, -1 error. */
int index_msg_lookup_file(struct index_db *db, int64_t mailbox_id,
			  const char *file, uint32_t *uid_r,
			  uint32_t *flags_r, const char **error_r);
/* Change the Maildir base name of a message (no modseq change: clients
 * can't see it).  INDEX_ERR_NOTFOUND if there is no such message. */
int index_msg_set_file(struct index_db *db, int64_t mailbox_id, uint32_t uid,
		       const char *file, const char **error_r);

enum index_store_mode {
	INDEX_STORE_REPLACE, /* FLAGS: flags and keywords become exactly these */
	INDEX_STORE_ADD,     /* +FLAGS */
	INDEX_STORE_REMOVE,  /* -FLAGS */
};

struct index_store {
	enum index_store_mode mode;
	uint32_t flags;          /* enum index_flag bits */
	const char *keywords;    /* NULL or "" for none */
	uint64_t unchangedsince; /* RFC 7162; 0 means no condition */
};

/* STORE on the messages in the ranges, in one transaction.  Rows whose
 * flags and keywords don't change are left alone (same modseq); changed
 * rows get the new modseq and cb(msg, false) with their new state;
 * rows with modseq > unchangedsince (when set) are not changed and get
 * cb(msg, true) with their current state (the MODIFIED set).  UIDs that
 * don't exist are skipped.  cb is called after the commit (a client is
 * never told of a change that was rolled back), in UID order, with uid,
 * flags, keywords, modseq and size filled (file "" and internaldate 0).
 * *modseq_r (may be NULL) is the mailbox's highestmodseq afterwards.
 * cb may be NULL. */
int index_msg_store(struct index_db *db, int64_t mailbox_id,
		    const struct index_uid_range *ranges, size_t nranges,
		    const struct index_store *req,
		    void (*cb)(const struct index_msg *msg, bool modified,
			       void *ctx),
		    void *ctx, uint64_t *modseq_r, const char **error_r);
/* Expunge the messages in the ranges, in one transaction: rows deleted,
 * recorded in the expunged list with the new modseq, counters updated.
 * cb (may be NULL) gets each UID actually removed, ascending, after the
 * commit.  The caller
 * unlinks the files first (a crash in between then leaves rows without
 * files, which the next sync expunges, rather than files without rows,
 * which would come back as new mail). */
int index_msg_expunge(struct index_db *db, int64_t mailbox_id,
		      const struct index_uid_range *ranges, size_t nranges,
		      void (*cb)(uint32_t uid, void *ctx), void *ctx,
		      uint64_t *modseq_r, const char **error_r);
/* What changed after `modseq`: changed_cb for every message (new or
 * updated) with modseq > it, ascending UID; expunged_cb for every UID
 * expunged with modseq > it, ascending.  Either callback may be NULL. */
int index_msg_changes_since(struct index_db *db, int64_t mailbox_id,
			    uint64_t modseq,
			    void (*changed_cb)(const struct index_msg *msg,
					       void *ctx),
			    void (*expunged_cb)(uint32_t uid, void *ctx),
			    void *ctx, const char **error_r);

/* ---- subscriptions (names need not exist, RFC 9051 6.3.7) ---- */

/* Adding twice or removing a name that isn't there is not an error. */
int index_sub_add(struct index_db *db, const char *name,
		  const char **error_r);
int index_sub_remove(struct index_db *db, const char *name,
		     const char **error_r);
/* cb for every subscribed name, in byte order. */
int index_sub_list(struct index_db *db,
		   void (*cb)(const char *name, void *ctx), void *ctx,
		   const char **error_r);

/* ---- meta: small key/value strings (e.g. a Dovecot-import marker) ---- */

/* 1 with *value_r (malloc'd; free() it) if set, 0 if not, -1 error. */
int index_meta_get(struct index_db *db, const char *key, char **value_r,
		   const char **error_r);
/* value NULL deletes the key. */
int index_meta_set(struct index_db *db, const char *key, const char *value,
		   const char **error_r);

#endif
