/* uidseq: a mailbox's UIDs in ascending order, kept as runs of
 * consecutive UIDs, with the mapping between UIDs and message sequence
 * numbers (RFC 9051 2.3.1.2).
 *
 * A mailbox appended to in order is one run whatever its size, so a view
 * of 100,000 messages costs a few bytes instead of a 400 KB array that
 * has to be written (and, fresh from the kernel, faulted in page by page)
 * at every cold SELECT.  Every operation is at worst linear in the number
 * of runs, never in the number of messages; a mailbox where every other
 * message was expunged has as many runs as messages, and then costs
 * three times the memory of a plain array, no more. */
#ifndef UIDSEQ_H
#define UIDSEQ_H

#include <stddef.h>
#include <stdint.h>

struct uid_run {
	uint32_t lo, hi; /* UIDs lo..hi, all present */
	uint32_t first;  /* position (0-based) of lo in the whole list */
};

struct uidseq {
	struct uid_run *runs; /* owned, ascending, never adjacent */
	size_t nruns, cap;
	size_t count;         /* UIDs in all runs */
};

void uidseq_init(struct uidseq *s);
void uidseq_free(struct uidseq *s);
/* dst (initialised or freed) becomes a copy of src. */
void uidseq_copy(struct uidseq *dst, const struct uidseq *src);

/* Append lo..hi; lo must be above every UID already in (else ignored,
 * returns -1).  0 on success. */
int uidseq_append(struct uidseq *s, uint32_t lo, uint32_t hi);

/* The UID at position pos (0-based), 0 if pos >= count. */
uint32_t uidseq_uid(const struct uidseq *s, size_t pos);
/* How many UIDs are below uid. */
size_t uidseq_below(const struct uidseq *s, uint32_t uid);
/* Sequence number (1-based) of uid, 0 if absent. */
uint32_t uidseq_seq(const struct uidseq *s, uint32_t uid);
/* The highest UID, 0 if empty. */
uint32_t uidseq_max(const struct uidseq *s);
/* Remove the UID at position pos (0-based); nothing if out of range. */
void uidseq_remove_pos(struct uidseq *s, size_t pos);

#endif
