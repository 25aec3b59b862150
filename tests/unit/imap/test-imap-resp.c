/* Unit tests for imap-resp: the form chosen for each kind of string, the
 * max limit, and round trips: whatever the writers produce, the framer and
 * tokenizer read back as the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "imap-parser.h"
#include "imap-resp.h"

typedef int (*writer_fn)(struct buf *, const void *, size_t);

static void
check_write(writer_fn fn, const void *s, size_t len, const void *want,
	    size_t want_len)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(fn(&b, s, len), 0);
	if (b.len != want_len || memcmp(b.data, want, want_len) != 0) {
		print_error("got '%s'\n", buf_cstr(&b));
		fail();
	}
	buf_deinit(&b);
}

#define W(fn, s, want) \
	check_write(fn, s, sizeof(s) - 1, want, sizeof(want) - 1)

static void
test_astring(void **state)
{
	(void)state;
	W(imap_resp_astring, "INBOX", "INBOX");
	W(imap_resp_astring, "~peter/mail/&U,BTFw-", "~peter/mail/&U,BTFw-");
	W(imap_resp_astring, "[Gmail", "[Gmail");
	W(imap_resp_astring, "", "\"\"");
	W(imap_resp_astring, "NIL", "\"NIL\"");
	W(imap_resp_astring, "nIl", "\"nIl\"");
	W(imap_resp_astring, "NILS", "NILS");
	W(imap_resp_astring, "a b", "\"a b\"");
	W(imap_resp_astring, "a\"b", "\"a\\\"b\"");
	W(imap_resp_astring, "a\\b", "\"a\\\\b\"");
	W(imap_resp_astring, "\\Seen", "\"\\\\Seen\"");
	W(imap_resp_astring, "a]", "\"a]\"");
	W(imap_resp_astring, "*", "\"*\"");
	W(imap_resp_astring, "%", "\"%\"");
	W(imap_resp_astring, "{5}", "\"{5}\"");
	W(imap_resp_astring, "a\tb", "\"a\tb\"");
	W(imap_resp_astring, "\r", "{1}\r\n\r");
	W(imap_resp_astring, "a\nb", "{3}\r\na\nb");
	W(imap_resp_astring, "\xc3\xa9", "{2}\r\n\xc3\xa9");
	W(imap_resp_astring, "a\0b", "~{3}\r\na\0b");
}

static void
test_string_forms(void **state)
{
	char big[IMAP_RESP_QUOTED_MAX + 1];
	char want[IMAP_RESP_QUOTED_MAX + 16];
	int n;

	(void)state;
	W(imap_resp_string, "INBOX", "\"INBOX\"");
	W(imap_resp_string, "", "\"\"");
	W(imap_resp_nstring, "x", "\"x\"");
	check_write(imap_resp_nstring, NULL, 0, "NIL", 3);
	W(imap_resp_literal, "abc", "{3}\r\nabc");
	W(imap_resp_literal, "", "{0}\r\n");
	W(imap_resp_literal8, "a\0", "~{2}\r\na\0");
	W(imap_resp_quoted, "x\"y", "\"x\\\"y\"");

	/* IMAP_RESP_QUOTED_MAX: quoted up to it, a literal past it */
	memset(big, ' ', sizeof(big));
	assert_true(imap_resp_is_quotable(big, IMAP_RESP_QUOTED_MAX));
	assert_false(imap_resp_is_quotable(big, IMAP_RESP_QUOTED_MAX + 1));
	want[0] = '"';
	memset(want + 1, ' ', IMAP_RESP_QUOTED_MAX);
	want[IMAP_RESP_QUOTED_MAX + 1] = '"';
	check_write(imap_resp_astring, big, IMAP_RESP_QUOTED_MAX, want,
		    IMAP_RESP_QUOTED_MAX + 2);
	n = snprintf(want, sizeof(want), "{%d}\r\n", IMAP_RESP_QUOTED_MAX + 1);
	memset(want + n, ' ', IMAP_RESP_QUOTED_MAX + 1);
	check_write(imap_resp_string, big, sizeof(big), want,
		    (size_t)n + IMAP_RESP_QUOTED_MAX + 1);
	/* a long atom stays an atom */
	memset(big, 'a', sizeof(big));
	check_write(imap_resp_astring, big, sizeof(big), big, sizeof(big));
}

static void
test_classes(void **state)
{
	static const char specials[] = "(){ %*\"\\]";
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		uint8_t b = (uint8_t)c;
		bool want_atom = c > 0x1f && c < 0x7f &&
			strchr(specials, c) == NULL;
		bool want_quotable = c != 0 && c != '\r' && c != '\n' &&
			c < 0x80;

		assert_int_equal(imap_resp_is_atom(&b, 1), want_atom);
		assert_int_equal(imap_resp_is_quotable(&b, 1), want_quotable);
	}
	assert_false(imap_resp_is_atom("", 0));
	assert_true(imap_resp_is_quotable("", 0));
}

static void
test_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "12345"), 0);
	/* each fails as a whole and leaves the buffer as it was */
	assert_int_equal(imap_resp_astring(&b, "abcdef", 6), -1);
	assert_int_equal(imap_resp_quoted(&b, "abcd", 4), -1);
	assert_int_equal(imap_resp_literal(&b, "a", 1), -1);
	assert_int_equal(imap_resp_literal8(&b, "a", 1), -1);
	assert_int_equal(imap_resp_string(&b, "a\r", 2), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(buf_cstr(&b), "12345");
	/* exactly to the limit */
	assert_int_equal(imap_resp_quoted(&b, "abc", 3), 0);
	assert_string_equal(buf_cstr(&b), "12345\"abc\"");
	buf_deinit(&b);

	/* forced quoting refuses what cannot be quoted */
	buf_init(&b, 0);
	assert_int_equal(imap_resp_quoted(&b, "a\nb", 3), -1);
	assert_int_equal(imap_resp_quoted(&b, "\xff", 1), -1);
	assert_int_equal(b.len, 0);
	buf_deinit(&b);
}

/* ---- round trips through the framer and tokenizer ---- */

static const struct imap_limits rt_limits = {
	.max_line = 8192,
	.max_literal = 65536,
	.max_command = 65536,
	.max_depth = 8,
	.max_args = 64,
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* Frames and parses "t X <item>\r\n"; checks that args[0] holds s. */
static void
roundtrip(writer_fn fn, const uint8_t *s, size_t len)
{
	struct imap_framer f;
	struct arena a;
	struct buf in;
	struct imap_command *cmd;
	const char *tag, *error;
	const uint8_t *data;
	size_t pos = 0, consumed, dlen;
	enum imap_frame_result r = IMAP_FRAME_NEED_MORE;

	buf_init(&in, 0);
	buf_append_str(&in, "t X ");
	assert_int_equal(fn(&in, s, len), 0);
	buf_append_str(&in, "\r\n");

	imap_framer_init(&f, &rt_limits);
	while (pos < in.len) {
		r = imap_framer_feed(&f, in.data + pos, in.len - pos, &consumed);
		pos += consumed;
		if (r == IMAP_FRAME_COMMAND || r == IMAP_FRAME_ERROR)
			break;
	}
	assert_int_equal(r, IMAP_FRAME_COMMAND);
	assert_int_equal(pos, in.len);
	data = imap_framer_command(&f, &dlen);
	arena_init(&a);
	if (imap_parse_command(&a, data, dlen, &rt_limits, &cmd, &tag,
			       &error) < 0) {
		print_error("parse of '%s' failed: %s\n", buf_cstr(&in), error);
		fail();
	}
	assert_int_equal(cmd->count, 1);
	assert_int_not_equal(cmd->args[0].type, IMAP_ARG_NIL);
	assert_int_not_equal(cmd->args[0].type, IMAP_ARG_LIST);
	if (fn != imap_resp_astring)
		assert_int_not_equal(cmd->args[0].type, IMAP_ARG_ATOM);
	assert_int_equal(cmd->args[0].len, len);
	if (len > 0)
		assert_memory_equal(cmd->args[0].data, s, len);
	arena_reset(&a);
	imap_framer_deinit(&f);
	buf_deinit(&in);
}

static void
test_roundtrip(void **state)
{
	/* bytes that matter to the grammar, drawn more often */
	static const char interesting[] = "NILnil()[]{}<>~+*%\\\" \r\n\t\x7f\x80\xff\0-.";
	uint8_t s[1100];
	size_t len, i;
	int iter;

	(void)state;
	roundtrip(imap_resp_astring, (const uint8_t *)"NIL", 3);
	roundtrip(imap_resp_astring, (const uint8_t *)"", 0);
	roundtrip(imap_resp_astring, (const uint8_t *)"a[b c]", 6);
	roundtrip(imap_resp_astring, (const uint8_t *)"[x", 2);
	roundtrip(imap_resp_astring, (const uint8_t *)"~{3}", 4);
	roundtrip(imap_resp_astring, (const uint8_t *)"~", 1);
	for (iter = 0; iter < 20000; iter++) {
		len = rnd() % (iter % 100 == 0 ? sizeof(s) : 12);
		for (i = 0; i < len; i++) {
			switch (rnd() % 4) {
			case 0:
				s[i] = (uint8_t)rnd();
				break;
			case 1:
				s[i] = (uint8_t)interesting[rnd() %
					(sizeof(interesting) - 1)];
				break;
			default:
				s[i] = (uint8_t)(0x21 + rnd() % 94);
				break;
			}
		}
		roundtrip(imap_resp_astring, s, len);
		roundtrip(imap_resp_string, s, len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_astring),
		cmocka_unit_test(test_string_forms),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
