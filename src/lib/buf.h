/* buf: a growable byte buffer with a hard maximum.
 * Length always travels with the bytes; the data is kept NUL-terminated past
 * len for convenience, but may itself contain NULs.  Appending past `max`
 * fails cleanly (returns -1, buffer unchanged) so callers can answer with a
 * protocol error instead of growing without bound. */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data; /* owned; NULL until first append */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len; 0 means SIZE_MAX */
};

void buf_init(struct buf *b, size_t max);
void buf_deinit(struct buf *b);
/* Drop contents, keep no memory (idle connections must stay small). */
void buf_reset(struct buf *b);
/* Drop contents, keep the allocation. */
void buf_clear(struct buf *b);
/* 0 on success, -1 if the result would exceed max. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_byte(struct buf *b, uint8_t c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Decimal digits of v (no printf: hot FETCH paths). */
int buf_append_u64(struct buf *b, uint64_t v);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* NUL-terminated view (always valid, "" when empty). */
const char *buf_cstr(const struct buf *b);

#endif
