/* imap-resp: writing IMAP data items (RFC 9051 section 4).  Picks the
 * smallest correct form for any byte string: atom where the grammar allows
 * an atom, quoted string when every byte is a quotable 7-bit TEXT-CHAR
 * (with \" and \\ escaped) and the string is short, literal {n} otherwise.
 * Strings with NUL can only go out as literal8 (~{n}); nstring writers
 * send NIL for a NULL pointer.  All return 0, or -1 when out's max is hit. */
#ifndef IMAP_RESP_H
#define IMAP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define IMAP_RESP_QUOTED_MAX 1024 /* longer strings go out as literals */

int imap_resp_astring(struct buf *out, const void *s, size_t len);
int imap_resp_string(struct buf *out, const void *s, size_t len);
int imap_resp_nstring(struct buf *out, const void *s, size_t len);
int imap_resp_quoted(struct buf *out, const void *s, size_t len); /* forced; s must be quotable */
int imap_resp_literal(struct buf *out, const void *s, size_t len);
int imap_resp_literal8(struct buf *out, const void *s, size_t len);
bool imap_resp_is_atom(const void *s, size_t len);
bool imap_resp_is_quotable(const void *s, size_t len);

#endif
