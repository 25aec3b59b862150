/* imap-utf7: modified UTF-7 mailbox names (RFC 3501 section 5.1.3,
 * RFC 9051 section 5.1.3), strictly validated: both directions refuse
 * anything that does not round-trip (unterminated shifts, "&-" spelled
 * otherwise, encoded printable ASCII, bad surrogates, non-zero bits). */
#ifndef IMAP_UTF7_H
#define IMAP_UTF7_H

#include <stddef.h>

#include "buf.h"

/* UTF-8 to mUTF-7, appended to out. 0 ok, -1 invalid UTF-8 or out full. */
int imap_utf8_to_utf7(struct buf *out, const char *utf8, size_t len);
/* mUTF-7 to UTF-8, appended to out. 0 ok, -1 invalid mUTF-7 or out full. */
int imap_utf7_to_utf8(struct buf *out, const char *utf7, size_t len);

#endif
