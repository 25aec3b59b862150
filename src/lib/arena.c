/* arena: bump allocator; see arena.h. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define ARENA_CHUNK_MIN 2048 /* small: most commands need a few hundred bytes */

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void
arena_init(struct arena *a)
{
	a->head = NULL;
	a->used_total = 0;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used_total = 0;
}

void *
arena_alloc(struct arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t asize, csize;
	void *p;

	if (size > SIZE_MAX - 16)
		abort();
	asize = (size + 15) & ~(size_t)15;
	if (asize == 0)
		asize = 16;
	if (c == NULL || c->size - c->used < asize) {
		csize = asize > ARENA_CHUNK_MIN ? asize : ARENA_CHUNK_MIN;
		if (c != NULL && c->size * 2 > csize && c->size < 65536)
			csize = c->size * 2;
		c = xmalloc(sizeof(*c) + csize);
		c->size = csize;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += asize;
	a->used_total += asize;
	memset(p, 0, size);
	return p;
}

void *
arena_allocarray(struct arena *a, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		abort();
	return arena_alloc(a, total);
}

void *
arena_memdup(struct arena *a, const void *p, size_t n)
{
	void *q = arena_alloc(a, n + 1); /* NUL after, for string use */

	if (n > 0)
		memcpy(q, p, n);
	return q;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	return arena_memdup(a, s, strnlen(s, n));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return arena_strdup(a, "");
	if ((size_t)n < sizeof(small))
		return arena_memdup(a, small, (size_t)n);
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}
