/* libFuzzer target for imap-seqset: parse; on success resolve against a
 * star taken from the input and check that ranges come out ordered,
 * disjoint and non-adjacent, and that contains() agrees with a linear scan
 * of the unresolved set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-seqset.h"

#define FUZZ_MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
linear_contains(const struct imap_seq_range *r, size_t count, uint32_t star,
		uint32_t n)
{
	size_t i;

	for (i = 0; i < count; i++) {
		uint32_t lo = r[i].lo == IMAP_SEQ_STAR ? star : r[i].lo;
		uint32_t hi = r[i].hi == IMAP_SEQ_STAR ? star : r[i].hi;

		if ((n >= lo && n <= hi) || (n >= hi && n <= lo))
			return true;
	}
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_seqset set;
	struct imap_seq_range *copy;
	struct arena a;
	const char *error;
	uint32_t star, probes[8];
	size_t i, count;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	star = data[0] < 0x80 ? data[0] : UINT32_MAX - (data[0] - 0x80);
	arena_init(&a);
	if (imap_seqset_parse(&a, (const char *)data + 1, size - 1, &set,
			      &error) < 0) {
		if (error == NULL)
			abort();
		arena_reset(&a);
		return 0;
	}
	if (set.is_saved) {
		if (size != 2 || data[1] != '$' || set.count != 0)
			abort();
		arena_reset(&a);
		return 0;
	}
	count = set.count;
	if (count == 0 || count > IMAP_SEQSET_MAX_RANGES)
		abort();
	for (i = 0; i < count; i++) {
		if (set.ranges[i].lo == 0 || set.ranges[i].hi == 0)
			abort();
	}
	copy = malloc(count * sizeof(*copy));
	if (copy == NULL)
		abort();
	memcpy(copy, set.ranges, count * sizeof(*copy));
	imap_seqset_resolve(&set, star);
	if (set.count == 0 || set.count > count)
		abort();
	for (i = 0; i < set.count; i++) {
		if (set.ranges[i].lo > set.ranges[i].hi)
			abort();
		if (i > 0 && (uint64_t)set.ranges[i - 1].hi + 1 >=
		    set.ranges[i].lo)
			abort();
	}
	probes[0] = 0;
	probes[1] = 1;
	probes[2] = star;
	probes[3] = star + 1;
	probes[4] = UINT32_MAX;
	probes[5] = set.ranges[0].lo;
	probes[6] = set.ranges[set.count - 1].hi;
	probes[7] = set.ranges[set.count / 2].hi + 1;
	for (i = 0; i < 8; i++) {
		if (imap_seqset_contains(&set, probes[i]) !=
		    linear_contains(copy, count, star, probes[i]))
			abort();
	}
	free(copy);
	arena_reset(&a);
	return 0;
}
