/* arena: a bump allocator for memory that dies together (one command's
 * parsed arguments and temporary strings).  arena_reset() frees everything
 * at once; an empty arena holds no memory, so idle sessions stay small. */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* owned chain, newest first */
	size_t used_total;        /* bytes handed out since reset */
};

void arena_init(struct arena *a);
/* Frees every chunk; the arena is reusable afterwards. */
void arena_reset(struct arena *a);
/* Zeroed, 16-byte aligned memory valid until the next reset. */
void *arena_alloc(struct arena *a, size_t size);
void *arena_allocarray(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void *arena_memdup(struct arena *a, const void *p, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
