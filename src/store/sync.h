/* sync: bring the index of a mailbox in line with its Maildir folder,
 * internal to src/store.
 *
 * The index is authoritative for UIDs, UIDVALIDITY, MODSEQ and keywords;
 * the Maildir is authoritative for which messages exist and, through the
 * ":2,<flags>" of a file name, for the standard flags (so another Maildir
 * tool that renames ":2,S" to ":2,RS" is believed).  A sync therefore:
 *   - appends files that have no index row (matched by base name) with new
 *     UIDs: mail from another program, or a crash between rename and index
 *     commit.  Order: the delivery time in the name ("<sec>.M<usec>..."),
 *     then the name.  internaldate is the file's mtime, size the ",S="
 *     field or else st_size, flags from the name, keywords from Dovecot's
 *     keyword letters through the folder's dovecot-keywords (letters it
 *     doesn't name are dropped);
 *   - expunges rows whose file is in neither cur/ nor new/;
 *   - replaces the standard flags of rows whose file name says otherwise
 *     (keywords are kept; 'P' has no IMAP flag and is ignored; a name
 *     without ":2," carries no flag information and changes nothing).
 * Files found in new/ stay in new/: to other Maildir tools that means "no
 * mail client has seen this yet", which a sync at login doesn't change.
 * The file moves to cur/ the first time its flags are stored.  Files are
 * never deleted, renamed or written by a sync.
 *
 * Cost.  Without SYNC_FLAG_FORCE a sync first stats cur/ and new/ and
 * returns at once when both nanosecond mtimes equal the ones saved by the
 * previous sync.  Otherwise: one index read of the mailbox's rows, one
 * readdir of new/ and cur/, sorted arrays and a merge (O(n log n)), a
 * stat per new file, and one index transaction.  Saved mtimes are only
 * trusted when they were at least SYNC_MTIME_SLACK_SECS old at the scan:
 * a directory changed again within the same timestamp tick keeps its
 * mtime, so a recent one makes the next sync scan again.
 *
 * Concurrency.  The caller holds the user's mutex.  The sync's write
 * transaction is open while the folder is read, so a row another process
 * commits (after its file, in DESIGN's order) is never mistaken for a
 * deleted message.  When the directories changed while they were read (a
 * rename during readdir may hide a file), rows whose file was not seen are
 * checked against a second read before being expunged.
 *
 * Errors as in maildir.h: 0 or -1 with *err_r and a static *error_r fit
 * for a client; details are logged. */
#ifndef SYNC_H
#define SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct index_db;
struct index_mailbox;

/* Scan even when the directory mtimes are unchanged. */
#define SYNC_FLAG_FORCE 0x01u
/* Import a Dovecot folder in place: when the mailbox has never held a
 * message in the index (no messages, uidnext 1) and the folder has a
 * dovecot-uidlist, files listed there keep Dovecot's UIDs, the mailbox
 * takes its UIDVALIDITY and uidnext becomes max(its next uid, highest
 * uid + 1); files it doesn't list get new UIDs above that.  Checked
 * only when the folder is scanned (a mailbox row starts with mtimes 0,
 * so its first sync always scans).  An unreadable uidlist is logged and
 * the folder is synced as if it had none. */
#define SYNC_FLAG_IMPORT_DOVECOT 0x02u

/* Trust a saved directory mtime only if it was this much older than the
 * clock at the scan: covers filesystems with 1 s (ext3, NFS) and 2 s
 * (FAT) timestamps as well as the kernel's coarse tick. */
#define SYNC_MTIME_SLACK_SECS 2

struct sync_result {
	uint32_t added;        /* files given a UID */
	uint32_t expunged;     /* rows whose file was gone */
	uint32_t flag_changed; /* rows whose standard flags were replaced */
	uint32_t imported;     /* of added: UIDs kept from dovecot-uidlist */
	bool scanned;          /* false: the mtime check said nothing changed */
};

/* Sync mailbox mailbox_id, whose Maildir++ directory is dir ("" for
 * INBOX) under root.  flags: SYNC_FLAG_*.  *result_r is always filled
 * (zeros on failure).  NOTFOUND when the mailbox is not in the index (or
 * is \Noselect) or its folder has no cur/ or new/: the index is then left
 * alone (a missing directory is never taken as "everything expunged").
 * On failure the index is unchanged.  0 or -1. */
int sync_mailbox(struct index_db *db, const char *root, const char *dir,
		 int64_t mailbox_id, unsigned flags,
		 struct sync_result *result_r, enum store_error *err_r,
		 const char **error_r);

/* The cheap check of sync_mailbox(): 1 when the folder's directories
 * still have the mtimes row mb recorded (nothing to sync), 0 when a sync
 * must look, -1 when they can't be read.  Reads no index.  root_fd: an
 * O_PATH descriptor of root's directory to stat relative to, or -1 (here
 * and below). */
int sync_mailbox_in_step(const char *root, int root_fd, const char *dir,
			 const struct index_mailbox *mb,
			 enum store_error *err_r, const char **error_r);

/* sync_mailbox() for a mailbox whose row the caller has just read (under
 * the same lock): when the directories' mtimes match the row, no index
 * read at all. */
int sync_mailbox_row(struct index_db *db, const char *root, int root_fd,
		     const char *dir,
		     const struct index_mailbox *mb, unsigned flags,
		     struct sync_result *result_r, enum store_error *err_r,
		     const char **error_r);

/* Sync every selectable mailbox of the index (e.g. at login after an
 * index rebuild), each in its own transaction; *result_r (may be NULL)
 * gets the sums.  A mailbox whose folder is missing is logged and
 * skipped; any other failure is logged and the rest are still synced,
 * then -1 is returned with the first failure's error.  0 or -1. */
int sync_user(struct index_db *db, const char *root, unsigned flags,
	      struct sync_result *result_r, enum store_error *err_r,
	      const char **error_r);

/* Our own writes (APPEND, flag renames, expunges, copies) change the
 * directories' mtimes, which would make the next sync rescan the whole
 * folder.  Around such a write, under the user's lock: _begin says whether
 * the index was up to date with the directories before it; if so, _end
 * records the directories' new mtimes as known, since what changed is in
 * the index already.  A change by another program in that same window
 * is picked up with the next change to the directory (Dovecot's Maildir
 * code lives with the same window). */
int sync_own_write_begin(struct index_db *db, const char *root, int root_fd,
			 const char *dir, int64_t mailbox_id, bool *clean_r);
void sync_own_write_end(struct index_db *db, const char *root, int root_fd,
			const char *dir, int64_t mailbox_id, bool was_clean);

#endif
