/* maildir: the Maildir++ on-disk layer (Dovecot's default layout), internal
 * to src/store.  It knows directory and file names, the durable write order
 * and Dovecot's control files; it knows nothing of IMAP, UIDs as protocol
 * objects, or SQL.
 *
 * Layout.  A user's Maildir root holds INBOX (cur/ new/ tmp/ directly under
 * the root) and one sibling directory per other folder: mailbox "Work/Plans"
 * lives in "<root>/.Work.Plans".  Each level is stored in modified UTF-7;
 * characters the layout can't hold are escaped exactly as Dovecot's
 * listescape plugin does (verified with Dovecot 2.3.19, separator '/'):
 *   '.'  -> "\2e"   (the on-disk hierarchy separator)
 *   '\\' -> "\5c"   (the escape character itself)
 *   '~'  -> "\7e"   only as the first character of a level
 * Plain Dovecot without listescape refuses '.' in names; with listescape it
 * reads and writes the same directories we do.
 *
 * Folders are named below by their directory name ("dir"), the result of
 * maildir_name_to_dir(): "" is INBOX (the root itself), anything else is a
 * ".Level1.Level2" component that never contains '/', is never "." or ".."
 * and always starts with '.'.  Every function taking a dir re-checks that
 * shape, so no input can reach outside the root.
 *
 * Errors.  Fallible calls return 0 or -1 with *err_r (enum store_error:
 * ENOSPC/EDQUOT give STORE_ERR_OVERQUOTA, ENOENT on a message
 * STORE_ERR_EXPUNGED, on a folder STORE_ERR_NOTFOUND, EACCES/EPERM/EROFS
 * STORE_ERR_NOPERM, anything else STORE_ERR_TEMP) and *error_r (a static
 * text fit for a client).  Every failed system call is logged with
 * log_error("op(path): strerror"), except ENOENT where it is reported as
 * NOTFOUND or EXPUNGED (a normal race with another session or program).
 * No call here takes a lock or calls back into the store; callbacks run
 * synchronously and must not re-enter the same folder's write calls.
 *
 * Thread safety: every function may be called from any worker thread; the
 * only shared state is the atomic counter in delivery names. */
#ifndef MAILDIR_H
#define MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

/* ---- limits ---- */

/* Mailbox names (UTF-8, '/'-separated).  Generous for people, small enough
 * that a name always fits a log line and a path. */
#define MAILDIR_NAME_MAX_LEN 1024
#define MAILDIR_NAME_MAX_LEVEL_LEN 255
#define MAILDIR_NAME_MAX_LEVELS 32
/* The whole ".a.b.c" is one path component, so the filesystem's NAME_MAX
 * (255 on every Linux filesystem) bounds the encoded name; a name that is
 * valid but encodes longer is refused by maildir_name_to_dir (LIMIT). */
#define MAILDIR_DIRNAME_MAX 255
/* Message file names: NAME_MAX as well. */
#define MAILDIR_FILENAME_MAX 255
/* Full paths we build: PATH_MAX. */
#define MAILDIR_PATH_MAX 4096
/* Dovecot control files: one line holds a uid, a few extension fields and
 * a file name (<= 255), so 4 KiB is far more than any real line. */
#define MAILDIR_CTL_MAX_LINE 4096
/* dovecot-uidlist entries we accept: beyond any real folder, small enough
 * that a hostile file can't make the rebuild run forever. */
#define MAILDIR_UIDLIST_MAX_ENTRIES 10000000u
/* Subscriptions we read from a Dovecot subscriptions file. */
#define MAILDIR_SUBSCRIPTIONS_MAX 100000u
/* Dovecot keywords in file names are the letters a..z. */
#define MAILDIR_KEYWORDS_MAX 26
#define MAILDIR_KEYWORD_MAX_LEN 255

/* ---- mailbox names (maildir-name.c) ---- */

/* Is name[0..len) acceptable?  Non-empty, valid UTF-8 (no overlongs,
 * surrogates or NUL), no control characters (< 0x20, 0x7f), no empty level
 * (leading, trailing or doubled '/'), no "." or ".." level, at most
 * MAILDIR_NAME_MAX_LEN bytes, MAILDIR_NAME_MAX_LEVEL_LEN bytes per level
 * and MAILDIR_NAME_MAX_LEVELS levels.  0 ok; -1 with *err_r BADNAME (or
 * LIMIT for the size limits) and a static *error_r. */
int maildir_name_validate(const char *name, size_t len,
			  enum store_error *err_r, const char **error_r);

/* True if name[0..len) is "INBOX" in any case. */
bool maildir_name_is_inbox(const char *name, size_t len);

/* Append to out the directory name of mailbox name[0..len): "" for INBOX,
 * ".L1.L2" otherwise (a first level spelled "inbox" in any case is stored
 * as "INBOX", so "inbox/x" and "INBOX/x" are one folder).  Validates first.
 * 0 ok; -1 (out unchanged) with BADNAME for an invalid or reserved name
 * ("DOVECOT-TRASHED", Dovecot's delete scratch directory), LIMIT when the
 * encoding exceeds MAILDIR_DIRNAME_MAX or out's maximum. */
int maildir_name_to_dir(const char *name, size_t len, struct buf *out,
			enum store_error *err_r, const char **error_r);

/* Append to out the mailbox name stored as directory dir[0..len) (as
 * readdir returns it).  Only exact encodings are accepted: the result,
 * mapped back with maildir_name_to_dir, gives dir again, so each folder has
 * one spelling.  0 ok; -1 (out unchanged) with a static *error_r. */
int maildir_dir_to_name(const char *dir, size_t len, struct buf *out,
			const char **error_r);

/* Append the canonical spelling of a valid name: the first level "INBOX"
 * when it is inbox in any case, everything else unchanged.  For a name
 * that passed maildir_name_validate, maildir_dir_to_name(to_dir(name))
 * gives exactly this.  0 ok, -1 when out is full. */
int maildir_name_canonical(const char *name, size_t len, struct buf *out);

/* ---- message file names (maildir-name.c) ---- */

/* Standard flags; in file names they appear in this (ASCII) order. */
#define MAILDIR_FLAG_DRAFT    0x01u /* D */
#define MAILDIR_FLAG_FLAGGED  0x02u /* F */
#define MAILDIR_FLAG_PASSED   0x04u /* P (forwarded; no IMAP flag) */
#define MAILDIR_FLAG_REPLIED  0x08u /* R: \Answered */
#define MAILDIR_FLAG_SEEN     0x10u /* S */
#define MAILDIR_FLAG_TRASHED  0x20u /* T: \Deleted */
#define MAILDIR_FLAGS_ALL     0x3fu

/* A parsed file name; pointers point into the parsed string. */
struct maildir_filename {
	const char *base;  /* the unique part, up to (not including) ':' */
	size_t base_len;
	bool has_info;     /* ":2," was present */
	bool is_canonical; /* build(base, flags, keywords) gives the input */
	unsigned flags;    /* MAILDIR_FLAG_* */
	uint32_t keywords; /* bit i: Dovecot keyword letter 'a' + i */
	bool has_size;     /* ",S=<size>" in base: the file's size */
	uint64_t size;
	bool has_vsize;    /* ",W=<vsize>" in base: the size with CRLF */
	uint64_t vsize;
};

/* Parse a message file name fname[0..len) ("<base>[:2,<flags>]").  Info
 * other than ":2," (e.g. ":1,...") leaves has_info false and the flags 0;
 * unknown flag characters are ignored (the name is then not canonical),
 * as are repeated and unsorted ones.  Malformed ",S=" / ",W=" fields are
 * ignored.  -1 (with nothing reliable in *fn_r) if the name cannot be a
 * message file: empty, longer than MAILDIR_FILENAME_MAX, starting with '.',
 * holding '/', NUL or control bytes, or with an empty base. */
int maildir_filename_parse(const char *fname, size_t len,
			   struct maildir_filename *fn_r);

/* Append "<base>:2,<flags><keyword letters>" (flags in DFPRST order,
 * keywords a..z).  0 ok, -1 (out unchanged) if out is full or the result
 * would exceed MAILDIR_FILENAME_MAX. */
int maildir_filename_build(struct buf *out, const char *base, size_t base_len,
			   unsigned flags, uint32_t keywords);

/* ---- folders (maildir-folder.c) ---- */

/* Create the root itself as INBOX: root, cur/, new/, tmp/ (existing ones
 * are fine), each mkdir followed by an fsync of its parent.  0 or -1. */
int maildir_root_create(const char *root, enum store_error *err_r,
			const char **error_r);
/* root/cur, root/new and root/tmp are all directories: nothing for
 * maildir_root_create to do (three stats instead of its mkdirs). */
bool maildir_root_complete(const char *root);

/* Create folder dir (not ""): the directory, cur/ new/ tmp/ and an empty
 * "maildirfolder" file, each followed by an fsync of its parent directory.
 * EXISTS if the directory is already there.  On failure whatever this
 * call made is removed again.  A crash part way can leave the directory
 * without cur/: maildir_folder_exists then says false while this says
 * EXISTS, and maildir_folder_delete clears it.  0 or -1. */
int maildir_folder_create(const char *root, const char *dir,
			  enum store_error *err_r, const char **error_r);

/* Delete folder dir (not ""): only its own directory (children are other
 * directories in Maildir++ and are left alone).  First checks that it
 * holds nothing but cur/ new/ tmp/ with plain files and known control files
 * ("maildirfolder", "dovecot*", "courierimap*" files); anything else (a
 * subdirectory, a symlinked cur/) refuses with CANNOT and deletes nothing.
 * Then renames it to "<root>/.DOVECOT-TRASHED" (Dovecot's scratch name,
 * never listed) and fsyncs the root, so a crash never leaves a half-emptied
 * folder visible, then removes the files and directories.  Symlinks are
 * never followed (a symlink entry is unlinked, not its target).  NOTFOUND
 * if it doesn't exist.  0 or -1. */
int maildir_folder_delete(const char *root, const char *dir,
			  enum store_error *err_r, const char **error_r);

/* Rename folder olddir to newdir (neither ""): one rename(2), refusing to
 * replace an existing newdir (EXISTS), then an fsync of the root.  Children
 * are separate directories: the caller renames each.  0 or -1. */
int maildir_folder_rename(const char *root, const char *olddir,
			  const char *newdir, enum store_error *err_r,
			  const char **error_r);

/* Does folder dir exist (its directory, not a symlink, with cur/)?
 * 0 with *exists_r, or -1 on an error other than ENOENT/ENOTDIR. */
int maildir_folder_exists(const char *root, const char *dir, bool *exists_r,
			  enum store_error *err_r, const char **error_r);

/* Call cb once per folder directory of root (entries starting with '.',
 * except "." , ".." and ".DOVECOT-TRASHED", that are directories; INBOX is
 * not reported), with the mailbox name (UTF-8, NUL-terminated) and the
 * directory name, both valid only during the call.  Entries that don't map
 * back exactly are skipped, logged at warn level and counted in
 * *skipped_r.  Order is readdir order.  0 or -1 (opendir failed). */
int maildir_folder_list(const char *root,
			void (*cb)(const char *name, const char *dir,
				   void *ctx),
			void *ctx, unsigned *skipped_r,
			enum store_error *err_r, const char **error_r);

/* (maildir.c) fsync the directory <root>/<dir>/<sub> (sub "cur", "new" or
 * "tmp"), e.g. once after a batch of maildir_file_set_flags renames.
 * 0 or -1. */
int maildir_dir_fsync(const char *root, const char *dir, const char *sub,
		      enum store_error *err_r, const char **error_r);

/* ---- delivery (maildir.c) ---- */

struct maildir_delivery;

/* Start writing a new message into folder dir: creates
 * tmp/<sec>.M<usec>P<pid>Q<counter>.<host> with O_EXCL (host sanitised:
 * '/' ':' ',' '\\' and non-printing bytes become "\ooo" octal, as the
 * Maildir spec does for '/' and ':').  NULL on failure with *err_r.
 * The handle belongs to the caller until _commit or _abort. */
struct maildir_delivery *maildir_delivery_begin(const char *root,
						const char *dir,
						enum store_error *err_r,
						const char **error_r);

/* Append len bytes (any bytes, NULs included).  After a failure the
 * delivery is dead: later writes and the commit fail; abort it.  0 or -1
 * (OVERQUOTA for ENOSPC/EDQUOT). */
int maildir_delivery_write(struct maildir_delivery *d, const void *data,
			   size_t len, enum store_error *err_r,
			   const char **error_r);

/* Bytes written so far. */
uint64_t maildir_delivery_size(const struct maildir_delivery *d);

/* Make the message durable, in DESIGN's order: fsync the file, close it,
 * rename tmp/<u> to cur/<u>,S=<size>:2,<flags> (or new/<u>,S=<size> when
 * to_new; flags and keywords are then not recorded), fsync the target
 * directory.  On success the final file name is appended to fname_out.
 * On failure nothing is left in cur/ or new/ (a renamed file is unlinked
 * again) and the tmp file is removed.  Frees *d and sets it to NULL either
 * way.  0 or -1 (OVERQUOTA for ENOSPC/EDQUOT). */
int maildir_delivery_commit(struct maildir_delivery **d, unsigned flags,
			    uint32_t keywords, bool to_new,
			    struct buf *fname_out, enum store_error *err_r,
			    const char **error_r);

/* Drop the delivery: close and unlink the tmp file, free *d, set it NULL.
 * NULL *d is fine. */
void maildir_delivery_abort(struct maildir_delivery **d);

/* ---- messages (maildir.c) ---- */

/* Find the file whose base is base[0..base_len) in folder dir: cur/ first,
 * then new/.  Used after ENOENT when another program renamed the file
 * (flag change, new/ -> cur/).  0 with the file name appended to fname_out
 * and *in_new_r, or -1 with EXPUNGED if it is in neither. */
int maildir_file_find(const char *root, const char *dir, const char *base,
		      size_t base_len, struct buf *fname_out, bool *in_new_r,
		      enum store_error *err_r, const char **error_r);

/* Rename message fname (in new/ when in_new) to cur/<base>:2,<flags> with
 * the given flags and keywords.  If the file is gone (ENOENT) the folder is
 * rescanned for its base (another program renamed it) and the rename
 * retried, a few times.  The new name is appended to newname_out; an
 * unchanged name is not renamed.  No directory fsync: batch them with
 * maildir_dir_fsync.  0 or -1 (EXPUNGED if the base is nowhere). */
int maildir_file_set_flags(const char *root, const char *dir,
			   const char *fname, bool in_new, unsigned flags,
			   uint32_t keywords, struct buf *newname_out,
			   enum store_error *err_r, const char **error_r);

/* Move new/<fname> to cur/, adding ":2," when fname has no info (other
 * info is kept).  If it is already gone from new/ but its base is in cur/
 * (someone else moved it), that is success.  The cur/ name is appended to
 * newname_out.  No directory fsync.  0 or -1 (EXPUNGED). */
int maildir_file_move_to_cur(const char *root, const char *dir,
			     const char *fname, struct buf *newname_out,
			     enum store_error *err_r, const char **error_r);

/* Link message src_fname of folder src_dir (in new/ when src_in_new) into
 * folder dst_dir as cur/<new unique>,S=<size>:2,<flags>: link(2), falling
 * back to copy + fsync on EXDEV, EMLINK or EPERM; then fsync dst cur/.
 * The new name is appended to fname_out.  On failure nothing is left in
 * the target.  0 or -1 (EXPUNGED if the source is gone, OVERQUOTA). */
int maildir_file_copy(const char *root, const char *src_dir,
		      const char *src_fname, bool src_in_new,
		      const char *dst_dir, unsigned flags, uint32_t keywords,
		      struct buf *fname_out, enum store_error *err_r,
		      const char **error_r);

/* A batch of copies from one folder into another (COPY, MOVE): the
 * source's cur/ and new/ and the target's cur/ are opened once, and each
 * copy is a stat and a link relative to them (no path walk, no open of
 * the message).  Names as maildir_file_copy().  Init before use; close
 * (also after a failed open) frees it. */
struct maildir_copier {
	int src_fd[2];  /* src cur/, new/ (O_PATH) */
	int dst_fd;     /* dst cur/ */
	char *root, *src_dir, *dst_dir; /* owned, for messages */
};

void maildir_copier_init(struct maildir_copier *c);
/* NOTFOUND when a directory is missing.  0 or -1. */
int maildir_copier_open(struct maildir_copier *c, const char *root,
			const char *src_dir, const char *dst_dir,
			enum store_error *err_r, const char **error_r);
/* maildir_file_copy() without the fsync of dst cur/, which the caller
 * does once for the batch (maildir_copier_sync) before relying on the
 * copies.  0 or -1 (EXPUNGED if the source is gone, OVERQUOTA...). */
int maildir_copier_link(struct maildir_copier *c, const char *src_fname,
			bool src_in_new, unsigned flags, uint32_t keywords,
			struct buf *fname_out, enum store_error *err_r,
			const char **error_r);
/* fsync dst cur/.  0 or -1. */
int maildir_copier_sync(struct maildir_copier *c, enum store_error *err_r,
			const char **error_r);
void maildir_copier_close(struct maildir_copier *c);

/* Unlink a message file (EXPUNGE) and leave the directory fsync to the
 * caller.  ENOENT counts as success (already gone).  0 or -1. */
int maildir_file_unlink(const char *root, const char *dir, const char *fname,
			bool in_new, enum store_error *err_r,
			const char **error_r);

/* Open a message for reading (O_RDONLY|O_CLOEXEC|O_NOFOLLOW); the caller
 * owns *fd_r and closes it.  *size_r is fstat's st_size.  ENOENT gives
 * EXPUNGED (the caller may maildir_file_find the base and retry).  A
 * non-regular file is refused.  0 or -1. */
int maildir_file_open(const char *root, const char *dir, const char *fname,
		      bool in_new, int *fd_r, uint64_t *size_r,
		      enum store_error *err_r, const char **error_r);

/* ---- scanning (maildir.c) ---- */

struct maildir_file {
	const char *fname;          /* full file name, NUL-terminated */
	bool in_new;                /* found in new/ (else cur/) */
	struct maildir_filename fn; /* parsed fname; base points into it */
};

/* Read new/ then cur/ of folder dir and call cb once per message file
 * (pointers valid only during the call).  Names starting with '.' are
 * skipped silently; names maildir_filename_parse refuses are skipped,
 * logged and counted in *skipped_r.  Files are not moved (moving new/ ->
 * cur/ is what marks mail non-recent for other Maildir tools; the caller
 * decides).  cb returns 0 to continue or -1 to stop, in which case the
 * scan returns -1 with TEMP and "Scan stopped".  0 or -1. */
int maildir_scan(const char *root, const char *dir,
		 int (*cb)(const struct maildir_file *file, void *ctx),
		 void *ctx, unsigned *skipped_r, enum store_error *err_r,
		 const char **error_r);

/* ---- Dovecot's control files (maildir-dovecot.c), read-only ---- */

struct maildir_uidlist_header {
	unsigned version;     /* 1 or 3 */
	uint32_t uidvalidity; /* non-zero */
	uint32_t nextuid;     /* > every uid in the file */
	char guid[33];        /* version 3 "G" field (hex), "" if absent */
};

/* Parse <root>/<dir>/dovecot-uidlist.  Header: version 3
 * "3 V<uidvalidity> N<nextuid> [G<guid>] [other fields]" or version 1
 * "1 <uidvalidity> <nextuid>".  Entries: v3 "<uid> [<ext fields>] :<fname>",
 * v1 "<uid> <fname>"; fname is the base Dovecot recorded (no ":2,...").
 * *hdr_r is filled before the first callback; cb gets each entry in file
 * order (returns 0 to go on, -1 to stop: the read then fails with TEMP).
 * The whole file is refused (-1, *err_r TEMP and a reason; cb may have
 * seen a prefix) on a missing or bad header, uidvalidity 0, a bad number,
 * uids not strictly increasing (duplicates), a line over
 * MAILDIR_CTL_MAX_LINE, a bad file name, more than
 * MAILDIR_UIDLIST_MAX_ENTRIES entries or a missing final newline.  A
 * nextuid not above the last uid is raised to last uid + 1.  NOTFOUND if
 * the file doesn't exist (not a Dovecot folder). */
int maildir_uidlist_read(const char *root, const char *dir,
			 struct maildir_uidlist_header *hdr_r,
			 int (*cb)(uint32_t uid, const char *fname,
				   void *ctx),
			 void *ctx, enum store_error *err_r,
			 const char **error_r);

/* Parse <root>/<dir>/dovecot-keywords: lines "<index> <name>" with index
 * 0..25 (the file-name letter 'a' + index) and name 1..255 bytes without
 * control characters or spaces.  cb per line, in file order.  Refused as a
 * whole (-1 TEMP) on a bad index, a duplicate index, a bad name or a long
 * line.  NOTFOUND if absent. */
int maildir_keywords_read(const char *root, const char *dir,
			  int (*cb)(unsigned idx, const char *name, void *ctx),
			  void *ctx, enum store_error *err_r,
			  const char **error_r);

/* Parse <root>/subscriptions as Dovecot 2.x writes it: "V\t2\n\n", then one
 * name per line with levels separated by '\t', each level stored as in a
 * directory name (mUTF-7 plus the escapes above); "INBOX" is INBOX.  cb
 * gets each name as UTF-8; lines that don't decode exactly are skipped and
 * counted in *skipped_r.  Refused (-1 TEMP) without the "V\t2" header,
 * on a long line or past MAILDIR_SUBSCRIPTIONS_MAX names.  NOTFOUND if
 * absent. */
int maildir_subscriptions_read(const char *root,
			       int (*cb)(const char *name, void *ctx),
			       void *ctx, unsigned *skipped_r,
			       enum store_error *err_r, const char **error_r);

#endif
