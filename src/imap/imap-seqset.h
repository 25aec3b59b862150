/* imap-seqset: sequence-set (RFC 9051 section 9: seq-number, seq-range,
 * sequence-set, "$" from RFC 5182).  '*' parses to IMAP_SEQ_STAR and is
 * turned into the mailbox's largest number at execution time by
 * imap_seqset_resolve(), which also orders each range (RFC 9051: "2:4" and
 * "4:2" are the same) and sorts and merges them. */
#ifndef IMAP_SEQSET_H
#define IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define IMAP_SEQ_STAR UINT32_MAX
#define IMAP_SEQSET_MAX_RANGES 10000 /* bounds work per command */

struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	bool is_saved; /* "$": the saved search result (RFC 5182) */
	struct imap_seq_range *ranges; /* arena memory */
	size_t count;
};

/* 0 ok, -1 malformed (zero, junk, too many ranges) with *error_r. */
int imap_seqset_parse(struct arena *a, const char *s, size_t len,
		      struct imap_seqset *set_r, const char **error_r);
/* Replace IMAP_SEQ_STAR by star (the highest number in use; when the
 * mailbox is empty pass 0), order, sort and merge in place.  Ranges
 * entirely above `star` are kept (callers clip them). */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t star);
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n); /* resolved set */

#endif
