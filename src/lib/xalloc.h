/* xalloc: allocation wrappers that return zeroed memory and abort on OOM.
 * Every per-client quantity is capped elsewhere, so running out of memory is
 * an operator problem, not something a client can cause. */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);                  /* zeroed */
void *xcalloc(size_t n, size_t size);        /* zeroed, overflow-checked */
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size); /* overflow-checked */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
