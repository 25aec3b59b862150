/* Unit tests for uidseq.c: UIDs as runs.  The random test checks every
 * operation against a plain array after each step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uidseq.h"

/* Every lookup of s agrees with the ascending array ref[0..n-1]. */
static void
check_same(const struct uidseq *s, const uint32_t *ref, size_t n)
{
	size_t i, k;
	uint32_t maxuid = n > 0 ? ref[n - 1] : 0;

	assert_int_equal(s->count, n);
	assert_int_equal(uidseq_max(s), maxuid);
	for (i = 0; i < n; i++) {
		assert_int_equal(uidseq_uid(s, i), ref[i]);
		assert_int_equal(uidseq_seq(s, ref[i]), i + 1);
	}
	assert_int_equal(uidseq_uid(s, n), 0);
	/* below() and seq() of every UID up to past the end, present or not */
	k = 0;
	for (uint32_t u = 1; u <= maxuid + 2; u++) {
		while (k < n && ref[k] < u)
			k++;
		assert_int_equal(uidseq_below(s, u), k);
		assert_int_equal(uidseq_seq(s, u),
				 k < n && ref[k] == u ? k + 1 : 0);
	}
	assert_int_equal(uidseq_seq(s, 0), 0);
	/* the runs are ascending, not adjacent, and their firsts add up */
	k = 0;
	for (i = 0; i < s->nruns; i++) {
		assert_true(s->runs[i].lo <= s->runs[i].hi);
		assert_int_equal(s->runs[i].first, k);
		if (i > 0)
			assert_true(s->runs[i - 1].hi + 1 < s->runs[i].lo);
		k += s->runs[i].hi - s->runs[i].lo + 1;
	}
	assert_int_equal(k, n);
}

static void
test_empty(void **state)
{
	struct uidseq s;

	(void)state;
	uidseq_init(&s);
	check_same(&s, NULL, 0);
	uidseq_remove_pos(&s, 0); /* out of range: nothing */
	check_same(&s, NULL, 0);
	uidseq_free(&s);
}

static void
test_one_run(void **state)
{
	struct uidseq s;
	uint32_t *ref = malloc(100000 * sizeof(*ref));
	size_t i;

	(void)state;
	uidseq_init(&s);
	assert_int_equal(uidseq_append(&s, 1, 100000), 0);
	assert_int_equal(s.nruns, 1);
	assert_int_equal(s.count, 100000);
	for (i = 0; i < 100000; i++)
		ref[i] = (uint32_t)i + 1;
	assert_int_equal(uidseq_uid(&s, 99999), 100000);
	assert_int_equal(uidseq_seq(&s, 54321), 54321);
	assert_int_equal(uidseq_below(&s, 100001), 100000);
	/* appending the next UIDs extends the run */
	assert_int_equal(uidseq_append(&s, 100001, 100001), 0);
	assert_int_equal(s.nruns, 1);
	/* not above the highest: refused, nothing changes */
	assert_int_equal(uidseq_append(&s, 5, 7), -1);
	assert_int_equal(uidseq_append(&s, 100001, 100002), -1);
	assert_int_equal(uidseq_append(&s, 0, 0), -1);
	assert_int_equal(uidseq_append(&s, 9, 8), -1);
	assert_int_equal(s.count, 100001);
	free(ref);
	uidseq_free(&s);
}

static void
test_remove_cases(void **state)
{
	struct uidseq s;
	uint32_t ref[] = { 1, 2, 3, 4, 5, 10, 11, 12, 20 };
	size_t n = sizeof(ref) / sizeof(ref[0]);

	(void)state;
	uidseq_init(&s);
	assert_int_equal(uidseq_append(&s, 1, 5), 0);
	assert_int_equal(uidseq_append(&s, 10, 12), 0);
	assert_int_equal(uidseq_append(&s, 20, 20), 0);
	check_same(&s, ref, n);
	/* middle of a run: split */
	uidseq_remove_pos(&s, 2); /* UID 3 */
	memmove(ref + 2, ref + 3, (n - 3) * sizeof(ref[0]));
	n--;
	check_same(&s, ref, n);
	assert_int_equal(s.nruns, 4);
	/* first of a run */
	uidseq_remove_pos(&s, 4); /* UID 10 */
	memmove(ref + 4, ref + 5, (n - 5) * sizeof(ref[0]));
	n--;
	check_same(&s, ref, n);
	/* last of a run */
	uidseq_remove_pos(&s, 5); /* UID 12 */
	memmove(ref + 5, ref + 6, (n - 6) * sizeof(ref[0]));
	n--;
	check_same(&s, ref, n);
	/* a run of one */
	uidseq_remove_pos(&s, 5); /* UID 20 */
	n--;
	check_same(&s, ref, n);
	assert_int_equal(uidseq_max(&s), 11);
	uidseq_free(&s);
}

static void
test_copy(void **state)
{
	struct uidseq a, b;
	uint32_t ref[] = { 2, 3, 7 };

	(void)state;
	uidseq_init(&a);
	assert_int_equal(uidseq_append(&a, 2, 3), 0);
	assert_int_equal(uidseq_append(&a, 7, 7), 0);
	uidseq_copy(&b, &a);
	uidseq_remove_pos(&b, 0);
	check_same(&a, ref, 3);  /* the original is untouched */
	check_same(&b, ref + 1, 2);
	uidseq_free(&a);
	uidseq_free(&b);
	uidseq_init(&a);
	uidseq_copy(&b, &a);
	check_same(&b, NULL, 0);
	uidseq_free(&b);
}

/* Random appends and removals against a plain array (fixed seed). */
static void
test_random(void **state)
{
	enum { MAXN = 600, STEPS = 3000 };
	uint32_t ref[MAXN];
	size_t n = 0, step;
	uint32_t next = 1;
	struct uidseq s;

	(void)state;
	srand(12345);
	uidseq_init(&s);
	for (step = 0; step < STEPS; step++) {
		int op = rand() % 10;

		if (op < 4 && n + 8 <= MAXN) {
			/* append a run of 1..8 after a gap of 0..2 */
			uint32_t lo = next + (uint32_t)(rand() % 3);
			uint32_t len = 1 + (uint32_t)(rand() % 8);

			assert_int_equal(uidseq_append(&s, lo, lo + len - 1), 0);
			for (uint32_t u = lo; u < lo + len; u++)
				ref[n++] = u;
			next = lo + len;
		} else if (n > 0) {
			size_t pos = (size_t)rand() % n;

			uidseq_remove_pos(&s, pos);
			memmove(ref + pos, ref + pos + 1,
				(n - pos - 1) * sizeof(ref[0]));
			n--;
		}
		if (step % 50 == 0 || step == STEPS - 1)
			check_same(&s, ref, n);
	}
	uidseq_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one_run),
		cmocka_unit_test(test_remove_cases),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
