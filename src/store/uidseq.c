/* uidseq: ascending UIDs as runs, with sequence-number lookups (see
 * uidseq.h). */
#include "uidseq.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
uidseq_init(struct uidseq *s)
{
	s->runs = NULL;
	s->nruns = s->cap = 0;
	s->count = 0;
}

void
uidseq_free(struct uidseq *s)
{
	free(s->runs);
	uidseq_init(s);
}

void
uidseq_copy(struct uidseq *dst, const struct uidseq *src)
{
	uidseq_init(dst);
	if (src->nruns == 0)
		return;
	/* room for a few splits before the first regrowth */
	dst->cap = src->nruns + 4;
	dst->runs = xreallocarray(NULL, dst->cap, sizeof(*dst->runs));
	memcpy(dst->runs, src->runs, src->nruns * sizeof(*src->runs));
	dst->nruns = src->nruns;
	dst->count = src->count;
}

static void
reserve(struct uidseq *s, size_t n)
{
	if (n <= s->cap)
		return;
	s->cap = s->cap < 4 ? 4 : s->cap * 2;
	if (s->cap < n)
		s->cap = n;
	s->runs = xreallocarray(s->runs, s->cap, sizeof(*s->runs));
}

int
uidseq_append(struct uidseq *s, uint32_t lo, uint32_t hi)
{
	struct uid_run *last;

	if (lo == 0 || lo > hi || (s->count > 0 && lo <= uidseq_max(s)))
		return -1;
	last = s->nruns > 0 ? &s->runs[s->nruns - 1] : NULL;
	if (last != NULL && last->hi + 1 == lo) {
		last->hi = hi;
	} else {
		reserve(s, s->nruns + 1);
		s->runs[s->nruns].lo = lo;
		s->runs[s->nruns].hi = hi;
		s->runs[s->nruns].first = (uint32_t)s->count;
		s->nruns++;
	}
	s->count += (size_t)(hi - lo) + 1;
	return 0;
}

/* Index of the run holding position pos (pos < count). */
static size_t
run_at(const struct uidseq *s, size_t pos)
{
	size_t lo = 0, hi = s->nruns;

	/* the last run whose first is <= pos */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->runs[mid].first <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
uidseq_uid(const struct uidseq *s, size_t pos)
{
	const struct uid_run *r;

	if (pos >= s->count)
		return 0;
	r = &s->runs[run_at(s, pos)];
	return r->lo + (uint32_t)(pos - r->first);
}

size_t
uidseq_below(const struct uidseq *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nruns;
	const struct uid_run *r;

	/* the first run whose hi is >= uid */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->runs[mid].hi < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nruns)
		return s->count;
	r = &s->runs[lo];
	return uid <= r->lo ? r->first : r->first + (size_t)(uid - r->lo);
}

uint32_t
uidseq_seq(const struct uidseq *s, uint32_t uid)
{
	size_t pos = uidseq_below(s, uid);

	return uid != 0 && uidseq_uid(s, pos) == uid ? (uint32_t)pos + 1 : 0;
}

uint32_t
uidseq_max(const struct uidseq *s)
{
	return s->nruns == 0 ? 0 : s->runs[s->nruns - 1].hi;
}

void
uidseq_remove_pos(struct uidseq *s, size_t pos)
{
	struct uid_run *r;
	size_t i, k;
	uint32_t uid;

	if (pos >= s->count)
		return;
	k = run_at(s, pos);
	r = &s->runs[k];
	uid = r->lo + (uint32_t)(pos - r->first);
	if (r->lo == r->hi) {
		memmove(r, r + 1, (s->nruns - k - 1) * sizeof(*r));
		s->nruns--;
	} else if (uid == r->lo) {
		r->lo++;
		k++;
	} else if (uid == r->hi) {
		r->hi--;
		k++;
	} else {
		/* split: lo..uid-1 stays, uid+1..hi follows at position pos
		 * (where uid was) */
		reserve(s, s->nruns + 1);
		r = &s->runs[k];
		memmove(r + 2, r + 1, (s->nruns - k - 1) * sizeof(*r));
		s->nruns++;
		r[1].lo = uid + 1;
		r[1].hi = r->hi;
		r[1].first = (uint32_t)pos + 1; /* lowered with the rest below */
		r->hi = uid - 1;
		k++;
	}
	/* every run from k on starts one position earlier */
	for (i = k; i < s->nruns; i++)
		s->runs[i].first--;
	s->count--;
}
