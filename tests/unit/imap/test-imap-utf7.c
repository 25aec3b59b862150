/* Unit tests for imap-utf7: RFC 3501 examples both ways, strict rejects,
 * random round trips, out unchanged on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "imap-utf7.h"

/* utf8 <-> utf7, both directions */
static void
pair(const char *utf8, const char *utf7)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(imap_utf8_to_utf7(&b, utf8, strlen(utf8)), 0);
	if (strcmp(buf_cstr(&b), utf7) != 0) {
		print_error("encode: got '%s' want '%s'\n", buf_cstr(&b), utf7);
		fail();
	}
	buf_clear(&b);
	assert_int_equal(imap_utf7_to_utf8(&b, utf7, strlen(utf7)), 0);
	assert_string_equal(buf_cstr(&b), utf8);
	buf_deinit(&b);
}

static void
bad7_len(const char *utf7, size_t len)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	if (imap_utf7_to_utf8(&b, utf7, len) == 0) {
		print_error("accepted '%s' as '%s'\n", utf7, buf_cstr(&b));
		fail();
	}
	assert_string_equal(buf_cstr(&b), "keep");
	buf_deinit(&b);
}

static void
bad7(const char *utf7)
{
	bad7_len(utf7, strlen(utf7));
}

static void
bad8_len(const char *utf8, size_t len)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	assert_int_equal(imap_utf8_to_utf7(&b, utf8, len), -1);
	assert_string_equal(buf_cstr(&b), "keep");
	buf_deinit(&b);
}

static void
bad8(const char *utf8)
{
	bad8_len(utf8, strlen(utf8));
}

static void
test_examples(void **state)
{
	(void)state;
	/* RFC 3501 section 5.1.3 */
	pair("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	pair("&", "&-");
	pair("a&b&&", "a&-b&-&-");
	pair("INBOX", "INBOX");
	pair("", "");
	pair(" ~}", " ~}");
	/* RFC 2152 style: one shift per run, "&-" right after a shift */
	pair("\xc3\xa9&", "&AOk-&-");
	pair("\xc3\xa9\xc3\xa9", "&AOkA6Q-");
	pair("a\xc3\xa9z", "a&AOk-z");
	/* controls are not printable: they go in a shift */
	pair("\t", "&AAk-");
	pair("\x7f", "&AH8-");
	/* outside the BMP: a surrogate pair */
	pair("\xf0\x9f\x98\x80", "&2D3eAA-");
	pair("\xf4\x8f\xbf\xbf", "&2,,f,w-");
	/* "/" in base64 is "," */
	pair("\xef\xbf\xbd", "&,,0-");
}

static void
test_bad_utf7(void **state)
{
	(void)state;
	bad7("&");
	bad7("&U,BTFw");         /* unterminated */
	bad7("a&");
	bad7("&AGE-");           /* "a" encoded */
	bad7("&ACY-");           /* "&" encoded */
	bad7("&ACA-");           /* SP encoded */
	bad7("&AAA-");           /* NUL */
	bad7("&U,BTFw-&ZeVnLIqe-"); /* two shifts in a row */
	bad7("&U,BTFw/-");       /* "/" is not modified base64 */
	bad7("&U,BTFx-");        /* non-zero padding bits */
	bad7("&U,BTFwA-");       /* a base64 char too many */
	bad7("&U,B-");           /* 18 bits: non-zero padding */
	bad7("&U,-");            /* 12 bits: not a whole unit */
	bad7("&2D0-");           /* lone high surrogate */
	bad7("&2D3YPQ-");        /* high followed by high */
	bad7("&3gA-");           /* lone low surrogate */
	bad7("&2D0AYQ-");        /* high then a non-surrogate */
	bad7("&&-");
	bad7("\xc3\xa9");        /* raw 8-bit */
	bad7("a\tb");            /* raw control */
	bad7("a\x7f");
	bad7_len("a\0b", 3);
	bad7("&U,BTFw -");
}

static void
test_bad_utf8(void **state)
{
	(void)state;
	bad8("\xc3");                /* truncated */
	bad8("\xe5\x8f");
	bad8("\xc3\x28");            /* bad continuation */
	bad8("\x80");                /* stray continuation */
	bad8("\xc0\xaf");            /* overlong "/" */
	bad8("\xe0\x80\xaf");
	bad8("\xf0\x80\x80\xaf");
	bad8("\xed\xa0\x80");        /* surrogate */
	bad8("\xed\xbf\xbf");
	bad8("\xf4\x90\x80\x80");    /* > U+10FFFF */
	bad8("\xf8\x88\x80\x80\x80");
	bad8("\xff");
	bad8_len("a\0b", 3);         /* U+0000 */
}

static void
test_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(imap_utf8_to_utf7(&b, "\xc3\xa9\xc3\xa9", 4), 0);
	assert_string_equal(buf_cstr(&b), "&AOkA6Q-");
	assert_int_equal(imap_utf8_to_utf7(&b, "a", 1), -1);
	buf_clear(&b);
	assert_int_equal(imap_utf7_to_utf8(&b, "123456789", 9), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (uint8_t)(0xc0 | (cp >> 6));
		o[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (cp >> 12));
		o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | (cp >> 18));
	o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

static void
test_roundtrip(void **state)
{
	uint8_t s[200];
	struct buf b7, b8;
	size_t len, n, i;
	uint32_t cp;
	int iter;

	(void)state;
	buf_init(&b7, 0);
	buf_init(&b8, 0);
	for (iter = 0; iter < 20000; iter++) {
		n = rnd() % 20;
		len = 0;
		for (i = 0; i < n; i++) {
			switch (rnd() % 4) {
			case 0:
				cp = 1 + rnd() % 0x7f;
				break;
			case 1:
				cp = rnd() % 2 ? '&' : '-';
				break;
			case 2:
				cp = 0x80 + rnd() % (0xd800 - 0x80);
				break;
			default:
				cp = 0xe000 + rnd() % (0x110000 - 0xe000);
				break;
			}
			len += put_utf8(s + len, cp);
		}
		buf_clear(&b7);
		buf_clear(&b8);
		assert_int_equal(imap_utf8_to_utf7(&b7, (const char *)s, len), 0);
		assert_int_equal(imap_utf7_to_utf8(&b8, buf_cstr(&b7), b7.len), 0);
		assert_int_equal(b8.len, len);
		if (len > 0)
			assert_memory_equal(b8.data, s, len);
	}
	buf_deinit(&b7);
	buf_deinit(&b8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_bad_utf7),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
