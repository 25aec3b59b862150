/* Unit tests for imap-seqset: grammar (RFC 9051 examples, "$"), rejects,
 * resolve (star, reversed ranges, sort and merge) and contains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap-seqset.h"

static struct arena arena;

static int
setup(void **state)
{
	(void)state;
	arena_init(&arena);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arena_reset(&arena);
	return 0;
}

static struct imap_seqset
parse_ok(const char *s)
{
	struct imap_seqset set;
	const char *error;

	if (imap_seqset_parse(&arena, s, strlen(s), &set, &error) < 0) {
		print_error("'%s': %s\n", s, error);
		fail();
	}
	return set;
}

static void
parse_bad(const char *s)
{
	struct imap_seqset set;
	const char *error = NULL;

	if (imap_seqset_parse(&arena, s, strlen(s), &set, &error) == 0) {
		print_error("'%s' accepted\n", s);
		fail();
	}
	assert_non_null(error);
}

/* Ranges rendered as "lo:hi,..." */
static void
assert_ranges(const struct imap_seqset *set, const char *want)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < set->count; i++)
		buf_printf(&b, "%s%u:%u", i == 0 ? "" : ",",
			   set->ranges[i].lo, set->ranges[i].hi);
	if (strcmp(buf_cstr(&b), want) != 0) {
		print_error("got '%s' want '%s'\n", buf_cstr(&b), want);
		fail();
	}
	buf_deinit(&b);
}

static void
test_parse(void **state)
{
	struct imap_seqset set;

	(void)state;
	set = parse_ok("1");
	assert_false(set.is_saved);
	assert_ranges(&set, "1:1");
	/* RFC 9051 section 9, sequence-set example */
	set = parse_ok("2,4:7,9,12:*");
	assert_ranges(&set, "2:2,4:7,9:9,12:4294967295");
	set = parse_ok("*:4,5:7");
	assert_ranges(&set, "4294967295:4,5:7");
	set = parse_ok("4:2");
	assert_ranges(&set, "4:2");
	set = parse_ok("*");
	assert_ranges(&set, "4294967295:4294967295");
	set = parse_ok("1:*");
	assert_ranges(&set, "1:4294967295");
	set = parse_ok("4294967294");
	assert_ranges(&set, "4294967294:4294967294");
	set = parse_ok("$");
	assert_true(set.is_saved);
	assert_int_equal(set.count, 0);
}

static void
test_reject(void **state)
{
	(void)state;
	parse_bad("");
	parse_bad("0");
	parse_bad("0:5");
	parse_bad("5:0");
	parse_bad("01");
	parse_bad("1,,2");
	parse_bad(",1");
	parse_bad("1,");
	parse_bad("1:");
	parse_bad(":1");
	parse_bad("1:2:3");
	parse_bad("1::2");
	parse_bad("4294967296");
	parse_bad("99999999999999999999999");
	parse_bad("1:4294967296");
	parse_bad("a");
	parse_bad(" 1");
	parse_bad("1 ");
	parse_bad("1,2 ");
	parse_bad("-1");
	parse_bad("+1");
	parse_bad("**");
	parse_bad("*1");
	parse_bad("$,1");
	parse_bad("1,$");
	parse_bad("$$");
	parse_bad("$:1");
	{
		struct imap_seqset set;
		const char *error;

		/* an embedded NUL is junk, not the end */
		assert_int_equal(imap_seqset_parse(&arena, "1\0002", 3, &set,
						   &error), -1);
	}
}

static void
test_max_ranges(void **state)
{
	struct imap_seqset set;
	struct buf b;
	const char *error;
	int i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < IMAP_SEQSET_MAX_RANGES; i++)
		buf_printf(&b, "%s%d", i == 0 ? "" : ",", i + 1);
	assert_int_equal(imap_seqset_parse(&arena, (const char *)b.data, b.len,
					   &set, &error), 0);
	assert_int_equal(set.count, IMAP_SEQSET_MAX_RANGES);
	buf_append_str(&b, ",1");
	assert_int_equal(imap_seqset_parse(&arena, (const char *)b.data, b.len,
					   &set, &error), -1);
	buf_deinit(&b);
}

static void
test_resolve(void **state)
{
	struct imap_seqset set;

	(void)state;
	set = parse_ok("4:2");
	imap_seqset_resolve(&set, 10);
	assert_ranges(&set, "2:4");

	set = parse_ok("*");
	imap_seqset_resolve(&set, 10);
	assert_ranges(&set, "10:10");

	/* "*:4" with 3 messages is 3:4 (RFC 9051 6.4.8 example) */
	set = parse_ok("*:4");
	imap_seqset_resolve(&set, 3);
	assert_ranges(&set, "3:4");

	set = parse_ok("1:*");
	imap_seqset_resolve(&set, 0);
	assert_ranges(&set, "0:1");

	set = parse_ok("5,1:3,4,10:12,11,20:14,13");
	imap_seqset_resolve(&set, 100);
	assert_ranges(&set, "1:5,10:20");

	set = parse_ok("7,3,5");
	imap_seqset_resolve(&set, 100);
	assert_ranges(&set, "3:3,5:5,7:7");

	set = parse_ok("2:*,1");
	imap_seqset_resolve(&set, 4294967295U);
	assert_ranges(&set, "1:4294967295");

	set = parse_ok("4294967294,4294967295,1:*");
	imap_seqset_resolve(&set, 7);
	assert_ranges(&set, "1:7,4294967294:4294967294");

	/* resolving again changes nothing */
	imap_seqset_resolve(&set, 7);
	assert_ranges(&set, "1:7,4294967294:4294967294");

	set = parse_ok("$");
	imap_seqset_resolve(&set, 7);
	assert_true(set.is_saved);
	assert_int_equal(set.count, 0);
}

static void
test_contains(void **state)
{
	struct imap_seqset set;
	uint32_t n;

	(void)state;
	set = parse_ok("2,4:7,9,12:*");
	imap_seqset_resolve(&set, 15);
	for (n = 0; n <= 20; n++) {
		bool want = n == 2 || (n >= 4 && n <= 7) || n == 9 ||
			(n >= 12 && n <= 15);

		assert_int_equal(imap_seqset_contains(&set, n), want);
	}
	assert_false(imap_seqset_contains(&set, UINT32_MAX));

	set = parse_ok("$");
	assert_false(imap_seqset_contains(&set, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contains, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
