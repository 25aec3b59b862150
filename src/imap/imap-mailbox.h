/* imap-mailbox: mailbox names between the wire and the store, LIST pattern
 * matching, and the store-error-to-response-code mapping.  Names travel in
 * modified UTF-7 for IMAP4rev1 clients and in UTF-8 once IMAP4rev2 is
 * enabled (RFC 9051 5.1, appendix A.1). */
#ifndef IMAP_MAILBOX_H
#define IMAP_MAILBOX_H

#include <stdbool.h>

#include "buf.h"
#include "imap-cmd.h"
#include "store.h"

/* The mailbox name in `arg` as UTF-8 (arena memory), or NULL with
 * *error_r when it is not a string or not valid mUTF-7/UTF-8. */
const char *imap_mailbox_from_wire(struct imap_cmd *cmd,
				   const struct imap_arg *arg,
				   const char **error_r);
/* The same for a LIST pattern or reference (list-mailbox: the wildcards
 * '%' and '*' may appear unquoted). */
const char *imap_pattern_from_wire(struct imap_cmd *cmd,
				   const struct imap_arg *arg,
				   const char **error_r);
/* Append `name` (UTF-8) as the client should see it (astring). */
int imap_mailbox_to_wire(struct imap_session *s, struct buf *out,
			 const char *name);
/* LIST wildcard match: '*' matches anything, '%' anything but '/'.
 * Both strings UTF-8; a leading INBOX is matched case-insensitively. */
bool imap_mailbox_match(const char *pattern, const char *name);
/* Answer a failed store call: NO with the RFC 5530 code for `err`. */
enum imap_cmd_status imap_cmd_store_fail(struct imap_cmd *cmd,
					 enum store_error err,
					 const char *error);

/* Flags of STORE and APPEND: the five system flags (\Recent ignored, it
 * can't be set) and keywords (atoms, bounded in count and length).
 * Keywords point into the arguments; the array is arena memory.  0, or -1
 * with *error_r for a BAD reply. */
int imap_parse_flags(struct imap_cmd *cmd, const struct imap_arg *args,
		     size_t n, unsigned *flags_r, const char ***kw_r,
		     size_t *nkw_r, const char **error_r);

#endif
