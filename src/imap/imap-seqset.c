/* imap-seqset: parsing and resolving sequence sets (see imap-seqset.h).
 * Non-goals: clipping to the mailbox and mapping UIDs to sequence numbers
 * (the command handlers and the store do that).
 *
 * sequence-set    = (seq-number / seq-range) ["," sequence-set]
 * seq-range       = seq-number ":" seq-number
 * seq-number      = nz-number / "*"
 * nz-number       = digit-nz *DIGIT   ; (0 < n < 4,294,967,296)
 * sequence-set    =/ seq-last-command ; RFC 5182
 * seq-last-command = "$"
 *
 * 4294967295 is a legal nz-number but equals IMAP_SEQ_STAR, so it resolves
 * like "*".  Clients that write "1:4294967295" for "all" get what they
 * mean; the only difference is for a lone 4294967295 when the highest UID
 * is lower, which then matches the highest message.
 */
#include "imap-seqset.h"

#include <stdlib.h>
#include <string.h>

/* One seq-number at s[*pos]; advances *pos. */
static int
parse_number(const char *s, size_t len, size_t *pos, uint32_t *n_r,
	     const char **error_r)
{
	size_t i = *pos;
	uint64_t v = 0;

	if (i < len && s[i] == '*') {
		*pos = i + 1;
		*n_r = IMAP_SEQ_STAR;
		return 0;
	}
	if (i >= len || s[i] < '0' || s[i] > '9') {
		*error_r = "Invalid sequence set";
		return -1;
	}
	if (s[i] == '0') {
		*error_r = "Invalid sequence number 0";
		return -1;
	}
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX) {
			*error_r = "Sequence number too big";
			return -1;
		}
		i++;
	}
	*pos = i;
	*n_r = (uint32_t)v;
	return 0;
}

int
imap_seqset_parse(struct arena *a, const char *s, size_t len,
		  struct imap_seqset *set_r, const char **error_r)
{
	size_t i, pos = 0, n = 1;
	struct imap_seq_range *r;

	memset(set_r, 0, sizeof(*set_r));
	*error_r = NULL;
	if (len == 1 && s[0] == '$') {
		set_r->is_saved = true;
		return 0;
	}
	if (len == 0) {
		*error_r = "Empty sequence set";
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == ',' && ++n > IMAP_SEQSET_MAX_RANGES) {
			*error_r = "Too many ranges in sequence set";
			return -1;
		}
	}
	r = arena_allocarray(a, n, sizeof(*r));
	for (i = 0; i < n; i++) {
		if (parse_number(s, len, &pos, &r[i].lo, error_r) < 0)
			return -1;
		r[i].hi = r[i].lo;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (parse_number(s, len, &pos, &r[i].hi, error_r) < 0)
				return -1;
		}
		if (i + 1 < n) {
			if (pos >= len || s[pos] != ',') {
				*error_r = "Invalid sequence set";
				return -1;
			}
			pos++;
		}
	}
	if (pos != len) {
		*error_r = "Invalid sequence set";
		return -1;
	}
	set_r->ranges = r;
	set_r->count = n;
	return 0;
}

static int
range_cmp(const void *x, const void *y)
{
	const struct imap_seq_range *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return 0;
}

void
imap_seqset_resolve(struct imap_seqset *set, uint32_t star)
{
	size_t i, out = 0;

	if (set->count == 0)
		return;
	for (i = 0; i < set->count; i++) {
		struct imap_seq_range *r = &set->ranges[i];
		uint32_t t;

		if (r->lo == IMAP_SEQ_STAR)
			r->lo = star;
		if (r->hi == IMAP_SEQ_STAR)
			r->hi = star;
		if (r->lo > r->hi) {
			t = r->lo;
			r->lo = r->hi;
			r->hi = t;
		}
	}
	qsort(set->ranges, set->count, sizeof(set->ranges[0]), range_cmp);
	for (i = 1; i < set->count; i++) {
		struct imap_seq_range *cur = &set->ranges[out];
		const struct imap_seq_range *next = &set->ranges[i];

		/* overlapping or adjacent (careful at UINT32_MAX) */
		if (cur->hi == UINT32_MAX || next->lo <= cur->hi + 1) {
			if (next->hi > cur->hi)
				cur->hi = next->hi;
		} else {
			set->ranges[++out] = *next;
		}
	}
	set->count = out + 1;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	size_t lo = 0, hi = set->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imap_seq_range *r = &set->ranges[mid];

		if (n < r->lo)
			hi = mid;
		else if (n > r->hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}
