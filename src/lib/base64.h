/* base64 (RFC 4648 section 4), strict: the decoder rejects characters
 * outside the alphabet, wrong padding and non-zero trailing bits, so SASL
 * exchanges can't smuggle junk. */
#ifndef BASE64_H
#define BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Appends the encoding of data to out. 0 ok, -1 if out's max is hit. */
int base64_encode(struct buf *out, const void *data, size_t len);
/* Appends the decoding of text to out. 0 ok, -1 on malformed input or if
 * out's max is hit (out then holds an unspecified prefix). */
int base64_decode(struct buf *out, const void *text, size_t len);

#endif
