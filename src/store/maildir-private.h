/* maildir-private: helpers shared by maildir.c, maildir-folder.c and
 * maildir-dovecot.c; nothing outside those files includes this. */
#ifndef MAILDIR_PRIVATE_H
#define MAILDIR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* Dovecot's scratch name for a folder being deleted; never listed. */
#define MAILDIR_TRASH_DIR ".DOVECOT-TRASHED"

/* Fill *err_r and *error_r (either may be NULL); returns -1. */
int maildir_set_err(enum store_error *err_r, enum store_error err,
		    const char **error_r, const char *error);
/* The static client text for an error class. */
const char *maildir_class_text(enum store_error err);
/* Log "op(path): strerror(e)" (not for ENOENT mapped to NOTFOUND or
 * EXPUNGED) and fill the outputs with errno e's class, ENOENT and ENOTDIR
 * becoming `enoent`.  Returns -1. */
int maildir_sys_fail(const char *op, const char *path, int e,
		     enum store_error enoent, enum store_error *err_r,
		     const char **error_r);
/* -1 with LIMIT "Path too long" / BADNAME "Invalid folder or file name". */
int maildir_path_fail(enum store_error *err_r, const char **error_r);
int maildir_bad_args(enum store_error *err_r, const char **error_r);
/* Checked snprintf: 0, or -1 (out = "") on truncation. */
int maildir_mkpath(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Is dir a safe folder dir ("" only when allow_root)? */
bool maildir_dir_ok(const char *dir, bool allow_root);
/* "<root>[/<dir>][/<sub>][/<file>]" (sub, file may be NULL); 0 or -1. */
int maildir_folder_path(char *out, size_t size, const char *root,
			const char *dir, const char *sub, const char *file);
/* open + fsync + close of a directory; 0 or -1 (logged). */
int maildir_fsync_path(const char *path, enum store_error *err_r,
		       const char **error_r);
/* rename(2) that never replaces an existing target; -1 with errno
 * (EEXIST when the target exists). */
int maildir_rename_noreplace(const char *from, const char *to, bool is_dir);

#endif
