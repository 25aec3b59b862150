/* Unit tests for imap-parser: the framer (fed byte by byte and in chunks,
 * every error class, the skipping after errors) and the tokenizer (RFC
 * example commands, hostile input, limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap-parser.h"

static const struct imap_limits test_limits = {
	.max_line = 64,
	.max_literal = 1000,
	.max_command = 2000,
	.max_depth = 4,
	.max_args = 20,
};

/* ---- framer driver ----
 * Feeds input in chunks of `chunk` bytes (0: all at once) the way the
 * session does, and writes what came out to a log:
 *   C[bytes]   a command (non-printables escaped)
 *   +          a continuation request
 *   E<n>:tag   an error (n = enum imap_frame_error, tag or "-")
 */

static void
log_escaped(struct buf *log, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r')
			buf_append_str(log, "\\r");
		else if (p[i] == '\n')
			buf_append_str(log, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			buf_printf(log, "\\x%02x", p[i]);
		else
			buf_append_byte(log, p[i]);
	}
}

static void
run_framer_lim(const struct imap_limits *lim, bool line_mode,
	       const void *input, size_t len, size_t chunk, struct buf *log)
{
	const uint8_t *in = input;
	struct imap_framer f;
	size_t pos = 0, consumed, n, cmdlen;
	enum imap_frame_result r;
	const uint8_t *cmd;
	const char *tag;

	imap_framer_init(&f, lim);
	imap_framer_set_line_mode(&f, line_mode);
	while (pos < len) {
		n = chunk == 0 || len - pos < chunk ? len - pos : chunk;
		/* feed this chunk until it is used up */
		while (n > 0) {
			r = imap_framer_feed(&f, in + pos, n, &consumed);
			assert_true(consumed <= n);
			assert_true(f.cmd.len <= lim->max_command);
			pos += consumed;
			n -= consumed;
			switch (r) {
			case IMAP_FRAME_NEED_MORE:
				assert_int_equal(n, 0);
				break;
			case IMAP_FRAME_COMMAND:
				cmd = imap_framer_command(&f, &cmdlen);
				buf_append_str(log, "C[");
				log_escaped(log, cmd, cmdlen);
				buf_append_str(log, "]");
				imap_framer_reset(&f);
				break;
			case IMAP_FRAME_CONTINUE:
				buf_append_str(log, "+");
				break;
			case IMAP_FRAME_ERROR:
				tag = imap_framer_tag(&f);
				buf_printf(log, "E%d:%s", (int)imap_framer_error(&f),
					   tag == NULL ? "-" : tag);
				imap_framer_reset(&f);
				break;
			}
		}
	}
	imap_framer_deinit(&f);
}

/* Run with every chunking that matters and compare to `expected`. */
static void
check_framer_lim(const struct imap_limits *lim, bool line_mode,
		 const void *input, size_t len, const char *expected)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 13, 64, 0 };
	struct buf log;
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		buf_init(&log, 0);
		run_framer_lim(lim, line_mode, input, len, chunks[i], &log);
		if (strcmp(buf_cstr(&log), expected) != 0) {
			print_error("chunk %zu: got '%s' want '%s'\n",
				    chunks[i], buf_cstr(&log), expected);
			fail();
		}
		buf_deinit(&log);
	}
}

static void
check_framer(const void *input, size_t len, const char *expected)
{
	check_framer_lim(&test_limits, false, input, len, expected);
}

#define CHECK(lit, expected) check_framer(lit, sizeof(lit) - 1, expected)

/* STYLE 9: one byte at a time, NEED_MORE at every prefix, then exactly
 * `result` on the last byte. */
static void
check_bytewise(const char *input, enum imap_frame_result result,
	       enum imap_frame_error error)
{
	struct imap_framer f;
	size_t i, len = strlen(input), consumed;
	enum imap_frame_result r;

	imap_framer_init(&f, &test_limits);
	for (i = 0; i + 1 < len; i++) {
		r = imap_framer_feed(&f, (const uint8_t *)input + i, 1, &consumed);
		assert_int_equal(r, IMAP_FRAME_NEED_MORE);
		assert_int_equal(consumed, 1);
	}
	r = imap_framer_feed(&f, (const uint8_t *)input + len - 1, 1, &consumed);
	assert_int_equal(r, result);
	assert_int_equal(consumed, 1);
	assert_int_equal(imap_framer_error(&f), error);
	imap_framer_deinit(&f);
}

static void
test_framer_simple(void **state)
{
	(void)state;
	check_bytewise("a NOOP\r\n", IMAP_FRAME_COMMAND, IMAP_FRAME_ERR_NONE);
	check_bytewise("a NOOP\n", IMAP_FRAME_COMMAND, IMAP_FRAME_ERR_NONE);
	check_bytewise("a LOGIN {3}\r\n", IMAP_FRAME_CONTINUE,
		       IMAP_FRAME_ERR_NONE);
	CHECK("a NOOP\r\n", "C[a NOOP]");
	CHECK("a NOOP\n", "C[a NOOP]");
	/* a CR not before LF is just a byte (the tokenizer rejects it) */
	CHECK("a N\rOOP\r\n", "C[a N\\rOOP]");
	CHECK("a NOOP\r\r\n", "C[a NOOP\\r]");
}

static void
test_framer_tag(void **state)
{
	struct imap_framer f;
	size_t consumed, len;
	const uint8_t *cmd;
	const char *in = "abc.1 NOOP\r\n";

	(void)state;
	imap_framer_init(&f, &test_limits);
	assert_int_equal(imap_framer_feed(&f, (const uint8_t *)in, strlen(in),
					  &consumed), IMAP_FRAME_COMMAND);
	assert_string_equal(imap_framer_tag(&f), "abc.1");
	cmd = imap_framer_command(&f, &len);
	assert_int_equal(len, 10);
	assert_memory_equal(cmd, "abc.1 NOOP", 10);
	imap_framer_reset(&f);
	assert_null(imap_framer_tag(&f));
	assert_int_equal(f.cmd.cap, 0); /* reset keeps no memory */
	imap_framer_deinit(&f);

	CHECK("+ X {5000}\r\n", "E2:-");
	CHECK("* X {5000}\r\n", "E2:-");
	CHECK(" X {5000}\r\n", "E2:-");
	CHECK("a(b X {5000}\r\n", "E2:-");
	CHECK("a]b X {5000}\r\n", "E2:a]b");
	/* the longest tag the best-effort copy holds, and one more */
	{
		struct imap_limits lim = test_limits;
		char line[128], want[80];
		int n;

		lim.max_line = 100;
		n = snprintf(line, sizeof(line), "%063d X {5000}\r\n", 7);
		snprintf(want, sizeof(want), "E2:%063d", 7);
		check_framer_lim(&lim, false, line, (size_t)n, want);
		n = snprintf(line, sizeof(line), "%064d X {5000}\r\n", 7);
		check_framer_lim(&lim, false, line, (size_t)n, "E2:-");
	}
}

static void
test_framer_pipelined(void **state)
{
	struct imap_framer f;
	const char *in = "a NOOP\r\nb CHECK\r\nc LOGOUT\r\n";
	size_t consumed;

	(void)state;
	CHECK("a NOOP\r\nb CHECK\r\nc LOGOUT\r\n",
	      "C[a NOOP]C[b CHECK]C[c LOGOUT]");
	/* never consumes past the end of the current command */
	imap_framer_init(&f, &test_limits);
	assert_int_equal(imap_framer_feed(&f, (const uint8_t *)in, strlen(in),
					  &consumed), IMAP_FRAME_COMMAND);
	assert_int_equal(consumed, 8);
	imap_framer_reset(&f);
	assert_int_equal(imap_framer_feed(&f, (const uint8_t *)in + 8,
					  strlen(in) - 8, &consumed),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(consumed, 9);
	/* no reset: the framer resets itself rather than stall */
	assert_int_equal(imap_framer_feed(&f, (const uint8_t *)in + 17,
					  strlen(in) - 17, &consumed),
			 IMAP_FRAME_COMMAND);
	assert_string_equal(imap_framer_tag(&f), "c");
	imap_framer_deinit(&f);
}

static void
test_framer_literals(void **state)
{
	(void)state;
	CHECK("a LOGIN {3}\r\nbob {4}\r\npass\r\n",
	      "++C[a LOGIN {3}\\r\\nbob {4}\\r\\npass]");
	CHECK("a LOGIN {3+}\r\nbob {4+}\r\npass\r\nb NOOP\r\n",
	      "C[a LOGIN {3+}\\r\\nbob {4+}\\r\\npass]C[b NOOP]");
	/* literal bytes are not interpreted: CRLF, NUL, a command */
	CHECK("a APPEND box {17}\r\nx\r\n\0y\r\nb LOGOUT\r\n\r\n",
	      "+C[a APPEND box {17}\\r\\nx\\r\\n\\x00y\\r\\nb LOGOUT\\r\\n]");
	/* a literal ending in CR, then a bare LF: the CR stays literal */
	CHECK("a X {1}\r\n\r\n", "+C[a X {1}\\r\\n\\r]");
	/* bare LF after the marker */
	CHECK("a X {2}\nab\n", "+C[a X {2}\\nab]");
	/* empty literal */
	CHECK("a X {0}\r\n\r\n", "+C[a X {0}\\r\\n]");
	CHECK("a X {0+}\r\n {0}\r\n\r\n", "+C[a X {0+}\\r\\n {0}\\r\\n]");
	/* literal8 */
	CHECK("a APPEND box ~{3}\r\n\0\1\2\r\n",
	      "+C[a APPEND box ~{3}\\r\\n\\x00\\x01\\x02]");
	CHECK("a APPEND box ~{3+}\r\n\0\1\2\r\n",
	      "C[a APPEND box ~{3+}\\r\\n\\x00\\x01\\x02]");
	/* leading zeros are a valid number */
	CHECK("a X {0000000000000000000000003+}\r\nabc\r\n",
	      "C[a X {0000000000000000000000003+}\\r\\nabc]");
	/* a line longer than max_line is fine if it comes as a literal */
	CHECK("a X {100+}\r\n"
	      "0123456789012345678901234567890123456789"
	      "0123456789012345678901234567890123456789"
	      "01234567890123456789\r\n",
	      "C[a X {100+}\\r\\n"
	      "0123456789012345678901234567890123456789"
	      "0123456789012345678901234567890123456789"
	      "01234567890123456789]");
}

static void
test_framer_not_markers(void **state)
{
	(void)state;
	/* "}" is an ATOM-CHAR, and "{" inside a quoted string before an
	 * atom ending in "}" is no marker */
	CHECK("a SELECT foo}\r\n", "C[a SELECT foo}]");
	CHECK("a LOGIN \"{\" foo}\r\n", "C[a LOGIN \"{\" foo}]");
	CHECK("a X {5\r\n", "C[a X {5]");
	CHECK("a X {5}x\r\n", "C[a X {5}x]");
	CHECK("a X {5} \r\n", "C[a X {5} ]");
	CHECK("a X {5}\rx\r\n", "C[a X {5}\\rx]");
	CHECK("a X ~x{1}\r\nz\r\n", "+C[a X ~x{1}\\r\\nz]");
}

static void
test_framer_bad_literal(void **state)
{
	(void)state;
	CHECK("a X {12x}\r\nb NOOP\r\n", "E4:aC[b NOOP]");
	CHECK("a X {}\r\nb NOOP\r\n", "E4:aC[b NOOP]");
	CHECK("a X {5-}\r\nb NOOP\r\n", "E4:aC[b NOOP]");
	CHECK("a X {+}\r\nb NOOP\r\n", "E4:aC[b NOOP]");
	CHECK("a X {99999999999999999999}\r\nb NOOP\r\n", "E4:aC[b NOOP]");
	/* non-synchronizing with a number we cannot hold: nothing after it
	 * can be trusted, all of it is skipped */
	CHECK("a X {99999999999999999999+}\r\nb NOOP\r\nc NOOP\r\n", "E4:a");
	check_bytewise("a X {1x}\r\n", IMAP_FRAME_ERROR,
		       IMAP_FRAME_ERR_BAD_LITERAL);
}

static void
test_framer_empty_line(void **state)
{
	(void)state;
	CHECK("\r\n", "C[]");
	CHECK("\n\r\nb NOOP\r\n", "C[]C[]C[b NOOP]");
}

static void
test_framer_long_line(void **state)
{
	char line[256], want[80];
	int n;

	(void)state;
	/* exactly max_line bytes with the CRLF: fine */
	n = snprintf(line, sizeof(line), "a %060d\r\n", 0);
	assert_int_equal(n, 64);
	snprintf(want, sizeof(want), "C[a %060d]", 0);
	check_framer(line, (size_t)n, want);
	n = snprintf(line, sizeof(line), "a %061d\n", 0);
	snprintf(want, sizeof(want), "C[a %061d]", 0);
	check_framer(line, (size_t)n, want);
	/* one more: rejected, reported once, and the next command is fine */
	n = snprintf(line, sizeof(line), "a %061d\r\nb NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:aC[b NOOP]");
	/* much longer, with things that look like commands and markers */
	n = snprintf(line, sizeof(line), "a %0100d\rc NOOP\r {5}\r\nb NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:aC[b NOOP]");
	/* reported as soon as the line is too long, before its end */
	n = snprintf(line, sizeof(line), "a %062d", 0);
	check_bytewise(line, IMAP_FRAME_ERROR, IMAP_FRAME_ERR_LINE_TOO_LONG);
	/* ending with a non-synchronizing literal: skipped with it */
	n = snprintf(line, sizeof(line),
		     "a %0100d {10+}\r\nb LOGOUT\r\n {3+}\r\nc\n\r\nd NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:aC[d NOOP]");
	/* ending with a synchronizing literal: the client waits for "+"
	 * (it gets our BAD instead), so the command is over */
	n = snprintf(line, sizeof(line), "a %0100d {10}\r\nd NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:aC[d NOOP]");
	/* a long line after a literal */
	n = snprintf(line, sizeof(line), "a X {1+}\r\nx %0100d\r\nd NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:aC[d NOOP]");
	/* no tag: still one error */
	n = snprintf(line, sizeof(line), "%0100d\r\nd NOOP\r\n", 0);
	check_framer(line, (size_t)n, "E1:-C[d NOOP]");
}

static void
test_framer_literal_too_big(void **state)
{
	struct buf in;
	int i;

	(void)state;
	/* synchronizing: refused before the client sends anything */
	CHECK("a APPEND box {1001}\r\nb NOOP\r\n", "E2:aC[b NOOP]");
	check_bytewise("a APPEND box {1001}\r\n", IMAP_FRAME_ERROR,
		       IMAP_FRAME_ERR_LITERAL_TOO_BIG);
	CHECK("a APPEND box ~{1001}\r\nb NOOP\r\n", "E2:aC[b NOOP]");
	/* max_literal itself is fine */
	buf_init(&in, 0);
	buf_append_str(&in, "a X {1000}\r\n");
	for (i = 0; i < 100; i++)
		buf_append_str(&in, "a LOGOUT\r\n");
	buf_append_str(&in, "\r\n");
	{
		struct buf want;

		buf_init(&want, 0);
		buf_append_str(&want, "+C[a X {1000}\\r\\n");
		for (i = 0; i < 100; i++)
			buf_append_str(&want, "a LOGOUT\\r\\n");
		buf_append_str(&want, "]");
		check_framer(in.data, in.len, buf_cstr(&want));
		buf_deinit(&want);
	}
	buf_deinit(&in);

	/* non-synchronizing: the payload arrives and holds commands; none
	 * of it surfaces, nor does a second literal of the same command */
	buf_init(&in, 0);
	buf_append_str(&in, "a APPEND box {1001+}\r\n");
	for (i = 0; i < 100; i++)
		buf_append_str(&in, "a LOGOUT\r\n");
	buf_append_str(&in, "x {10+}\r\nc LOGOUT\r\n {5000+}\r\n");
	for (i = 0; i < 500; i++)
		buf_append_str(&in, "a LOGOUT\r\n");
	buf_append_str(&in, "\r\nb NOOP\r\n");
	check_framer(in.data, in.len, "E2:aC[b NOOP]");
	buf_deinit(&in);
}

static void
test_framer_command_too_big(void **state)
{
	struct buf in;
	int i;

	(void)state;
	/* three 900-byte literals do not fit in 2000 bytes */
	buf_init(&in, 0);
	buf_append_str(&in, "a X {900}\r\n");
	for (i = 0; i < 900; i++)
		buf_append_byte(&in, 'x');
	buf_append_str(&in, " {900}\r\n");
	for (i = 0; i < 900; i++)
		buf_append_byte(&in, 'y');
	buf_append_str(&in, " {900}\r\nb NOOP\r\n");
	check_framer(in.data, in.len, "++E3:aC[b NOOP]");
	buf_deinit(&in);

	/* the same with non-synchronizing literals: the third is skipped */
	buf_init(&in, 0);
	buf_append_str(&in, "a X {900+}\r\n");
	for (i = 0; i < 900; i++)
		buf_append_byte(&in, 'x');
	buf_append_str(&in, " {900+}\r\n");
	for (i = 0; i < 900; i++)
		buf_append_byte(&in, 'y');
	buf_append_str(&in, " {900+}\r\n");
	for (i = 0; i < 90; i++)
		buf_append_str(&in, "c LOGOUT\r\n");
	buf_append_str(&in, "\r\nb NOOP\r\n");
	check_framer(in.data, in.len, "E3:aC[b NOOP]");
	buf_deinit(&in);

	/* many short lines (literal-separated) reach max_command too */
	buf_init(&in, 0);
	buf_append_str(&in, "a X");
	for (i = 0; i < 300; i++)
		buf_append_str(&in, " {1+}\r\nz");
	buf_append_str(&in, "\r\nb NOOP\r\n");
	check_framer(in.data, in.len, "E3:aC[b NOOP]");
	buf_deinit(&in);
}

/* A huge non-synchronizing literal: skipped without buffering. */
static void
test_framer_skip_memory(void **state)
{
	struct imap_framer f;
	static uint8_t chunk[65536];
	const char *head = "a APPEND box {10000000+}\r\n";
	const char *tail = "\r\nb NOOP\r\n";
	size_t consumed, total = 0;
	enum imap_frame_result r;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	imap_framer_init(&f, &test_limits);
	r = imap_framer_feed(&f, (const uint8_t *)head, strlen(head), &consumed);
	assert_int_equal(r, IMAP_FRAME_ERROR);
	assert_int_equal(imap_framer_error(&f), IMAP_FRAME_ERR_LITERAL_TOO_BIG);
	assert_int_equal(consumed, strlen(head));
	imap_framer_reset(&f);
	while (total < 10000000) {
		size_t n = 10000000 - total < sizeof(chunk) ?
			10000000 - total : sizeof(chunk);

		r = imap_framer_feed(&f, chunk, n, &consumed);
		assert_int_equal(r, IMAP_FRAME_NEED_MORE);
		assert_int_equal(consumed, n);
		assert_true(f.cmd.cap == 0);
		total += n;
	}
	r = imap_framer_feed(&f, (const uint8_t *)tail, strlen(tail), &consumed);
	assert_int_equal(r, IMAP_FRAME_COMMAND);
	assert_string_equal(imap_framer_tag(&f), "b");
	imap_framer_deinit(&f);
}

static void
test_framer_line_mode(void **state)
{
	char line[256];
	int n;

	(void)state;
	check_framer_lim(&test_limits, true, "dGVzdA==\r\n", 10, "C[dGVzdA==]");
	check_framer_lim(&test_limits, true, "AAA {5}\r\nDONE\r\n", 15,
			 "C[AAA {5}]C[DONE]");
	check_framer_lim(&test_limits, true, "a {5+}\r\nDONE\n\r\n", 15,
			 "C[a {5+}]C[DONE]C[]");
	n = snprintf(line, sizeof(line), "a %0100d {5+}\r\nDONE\r\n", 0);
	check_framer_lim(&test_limits, true, line, (size_t)n, "E1:-C[DONE]");
}

/* ---- tokenizer ---- */

static struct arena test_arena;

static struct imap_command *
parse_ok_lim(const struct imap_limits *lim, const void *data, size_t len)
{
	struct imap_command *cmd;
	const char *tag, *error;

	if (imap_parse_command(&test_arena, data, len, lim, &cmd, &tag,
			       &error) < 0) {
		print_error("parse failed: %s\n", error);
		fail();
	}
	assert_non_null(cmd);
	assert_string_equal(cmd->tag, tag);
	return cmd;
}

static struct imap_command *
parse_ok(const char *s)
{
	return parse_ok_lim(&test_limits, s, strlen(s));
}

static void
parse_fail_lim(const struct imap_limits *lim, const void *data, size_t len,
	       const char *want_tag, const char *want_error)
{
	struct imap_command *cmd;
	const char *tag, *error;

	assert_int_equal(imap_parse_command(&test_arena, data, len, lim, &cmd,
					    &tag, &error), -1);
	assert_null(cmd);
	assert_non_null(error);
	if (want_tag == NULL)
		assert_null(tag);
	else
		assert_string_equal(tag, want_tag);
	if (want_error != NULL)
		assert_string_equal(error, want_error);
}

static void
parse_fail(const char *s, const char *want_tag, const char *want_error)
{
	parse_fail_lim(&test_limits, s, strlen(s), want_tag, want_error);
}

static void
assert_arg(const struct imap_arg *arg, enum imap_arg_type type,
	   const char *data)
{
	assert_int_equal(arg->type, type);
	assert_int_equal(arg->len, strlen(data));
	assert_memory_equal(arg->data, data, arg->len);
	assert_int_equal(arg->data[arg->len], '\0');
}

static int
setup_arena(void **state)
{
	(void)state;
	arena_init(&test_arena);
	return 0;
}

static int
teardown_arena(void **state)
{
	(void)state;
	arena_reset(&test_arena);
	return 0;
}

static void
test_parse_fetch(void **state)
{
	struct imap_command *c;
	const struct imap_arg *l;

	(void)state;
	c = parse_ok("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])");
	assert_string_equal(c->tag, "A654");
	assert_string_equal(c->name, "FETCH");
	assert_int_equal(c->count, 2);
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "2:4");
	assert_int_equal(c->args[1].type, IMAP_ARG_LIST);
	l = c->args[1].list;
	assert_int_equal(c->args[1].count, 2);
	assert_arg(&l[0], IMAP_ARG_ATOM, "FLAGS");
	assert_arg(&l[1], IMAP_ARG_ATOM, "BODY[HEADER.FIELDS (DATE FROM)]");

	c = parse_ok("a fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)");
	assert_string_equal(c->name, "fetch");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "1:*");
	assert_arg(&c->args[1].list[1], IMAP_ARG_ATOM,
		   "BODY.PEEK[HEADER.FIELDS (From To)]<0.100>");

	c = parse_ok("a UID FETCH 1,3:5 BODY[]");
	assert_string_equal(c->name, "UID");
	assert_int_equal(c->count, 3);
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "FETCH");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "1,3:5");
	assert_arg(&c->args[2], IMAP_ARG_ATOM, "BODY[]");

	/* quoted strings (with "]") inside a section, binary, partial */
	c = parse_ok("a FETCH 1 (BODY[HEADER.FIELDS.NOT (\"X-]\" Y)] BINARY.PEEK[1.2]<0.10> RFC822.SIZE)");
	assert_int_equal(c->args[1].count, 3);
	assert_arg(&c->args[1].list[0], IMAP_ARG_ATOM,
		   "BODY[HEADER.FIELDS.NOT (\"X-]\" Y)]");
	assert_arg(&c->args[1].list[1], IMAP_ARG_ATOM, "BINARY.PEEK[1.2]<0.10>");

	/* RFC 9051 6.4.5: FETCH macros and items */
	c = parse_ok("A001 FETCH 2:4 ALL");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "ALL");
}

static void
test_parse_store_search(void **state)
{
	struct imap_command *c;

	(void)state;
	c = parse_ok("A003 STORE 2:4 +FLAGS (\\Deleted)");
	assert_int_equal(c->count, 3);
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "2:4");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "+FLAGS");
	assert_int_equal(c->args[2].count, 1);
	assert_arg(&c->args[2].list[0], IMAP_ARG_ATOM, "\\Deleted");

	c = parse_ok("a STORE 1 FLAGS.SILENT (\\Seen \\Answered $Forwarded)");
	assert_int_equal(c->args[2].count, 3);
	assert_arg(&c->args[2].list[2], IMAP_ARG_ATOM, "$Forwarded");

	c = parse_ok("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"");
	assert_int_equal(c->count, 6);
	assert_arg(&c->args[2], IMAP_ARG_ATOM, "1-Feb-1994");
	assert_arg(&c->args[5], IMAP_ARG_QUOTED, "Smith");

	c = parse_ok("A285 SEARCH CHARSET UTF-8 TEXT {15+}\r\n\xd0\x9d\xd1\x8c\xd1\x8e \xd0\x99\xd0\xbe\xd1\x80\xd0\xba");
	assert_int_equal(c->count, 4);
	assert_int_equal(c->args[3].type, IMAP_ARG_LITERAL);
	assert_int_equal(c->args[3].len, 15);

	c = parse_ok("a SEARCH OR (FROM x SUBJECT y) (UNSEEN)");
	assert_int_equal(c->count, 3);
	assert_int_equal(c->args[1].count, 4);
	assert_int_equal(c->args[2].count, 1);

	c = parse_ok("a SEARCH RETURN (SAVE) $");
	assert_arg(&c->args[2], IMAP_ARG_ATOM, "$");
}

static void
test_parse_append(void **state)
{
	static const char in[] =
		"A003 APPEND saved-messages (\\Seen) {21}\r\n"
		"Subject: x\r\n\r\nbody\0\r\n";
	static const char in8[] =
		"a APPEND box (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" ~{4+}\r\n\0\1\2\3";
	struct imap_command *c;

	(void)state;
	c = parse_ok_lim(&test_limits, in, sizeof(in) - 1);
	assert_int_equal(c->count, 3);
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "saved-messages");
	assert_arg(&c->args[1].list[0], IMAP_ARG_ATOM, "\\Seen");
	assert_int_equal(c->args[2].type, IMAP_ARG_LITERAL);
	assert_int_equal(c->args[2].len, 21);
	assert_memory_equal(c->args[2].data, "Subject: x\r\n\r\nbody\0\r\n", 21);
	assert_null(imap_arg_str(&c->args[2])); /* holds a NUL */

	c = parse_ok_lim(&test_limits, in8, sizeof(in8) - 1);
	assert_int_equal(c->count, 4);
	assert_arg(&c->args[2], IMAP_ARG_QUOTED, " 7-Feb-1994 21:52:25 -0800");
	assert_int_equal(c->args[3].type, IMAP_ARG_LITERAL8);
	assert_int_equal(c->args[3].len, 4);
	assert_memory_equal(c->args[3].data, "\0\1\2\3", 4);

	/* literals inside lists, literal at the end of a list, bare LF */
	c = parse_ok("a X ({3}\nabc {0}\r\n)");
	assert_int_equal(c->args[0].count, 2);
	assert_arg(&c->args[0].list[0], IMAP_ARG_LITERAL, "abc");
	assert_arg(&c->args[0].list[1], IMAP_ARG_LITERAL, "");
}

static void
test_parse_strings(void **state)
{
	struct imap_command *c;

	(void)state;
	c = parse_ok("a LOGIN \"fred \\\"the\\\" \\\\ smith\" {4}\r\ntest");
	assert_arg(&c->args[0], IMAP_ARG_QUOTED, "fred \"the\" \\ smith");
	assert_arg(&c->args[1], IMAP_ARG_LITERAL, "test");
	assert_string_equal(imap_arg_str(&c->args[0]), "fred \"the\" \\ smith");

	c = parse_ok("a LIST \"\" *");
	assert_arg(&c->args[0], IMAP_ARG_QUOTED, "");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "*");
	c = parse_ok("a LIST ~/Mail/ %");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "~/Mail/");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "%");

	/* UTF8=ACCEPT: 8-bit in quoted strings, TAB too (TEXT-CHAR) */
	c = parse_ok("a CREATE \"Ma\xc3\xafs\tx\"");
	assert_arg(&c->args[0], IMAP_ARG_QUOTED, "Ma\xc3\xafs\tx");

	/* NIL, in any case, but not a quoted "NIL" */
	c = parse_ok("a X NIL nil \"NIL\" NILS (NIL)");
	assert_arg(&c->args[0], IMAP_ARG_NIL, "NIL");
	assert_arg(&c->args[1], IMAP_ARG_NIL, "nil");
	assert_arg(&c->args[2], IMAP_ARG_QUOTED, "NIL");
	assert_arg(&c->args[3], IMAP_ARG_ATOM, "NILS");
	assert_arg(&c->args[4].list[0], IMAP_ARG_NIL, "NIL");

	/* brackets in mailbox names */
	c = parse_ok("a SELECT [Gmail]/Sent");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "[Gmail]/Sent");
	c = parse_ok("a SELECT [Gmail x");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "[Gmail");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "x");
	c = parse_ok("a SELECT a]b");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "a]b");

	/* flags */
	c = parse_ok("a X (\\* \\Seen) \\Flagged");
	assert_arg(&c->args[0].list[0], IMAP_ARG_ATOM, "\\*");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "\\Flagged");

	/* a command with no arguments; the tag may hold "]" */
	c = parse_ok("a]1 CAPABILITY");
	assert_string_equal(c->tag, "a]1");
	assert_string_equal(c->name, "CAPABILITY");
	assert_int_equal(c->count, 0);
	assert_null(c->args);
}

static void
test_parse_lists(void **state)
{
	struct imap_command *c;

	(void)state;
	c = parse_ok("a X ((a b) c) () (())");
	assert_int_equal(c->count, 3);
	assert_int_equal(c->args[0].count, 2);
	assert_int_equal(c->args[0].list[0].type, IMAP_ARG_LIST);
	assert_int_equal(c->args[0].list[0].count, 2);
	assert_arg(&c->args[0].list[0].list[1], IMAP_ARG_ATOM, "b");
	assert_arg(&c->args[0].list[1], IMAP_ARG_ATOM, "c");
	assert_int_equal(c->args[1].type, IMAP_ARG_LIST);
	assert_int_equal(c->args[1].count, 0);
	assert_int_equal(c->args[2].count, 1);
	assert_int_equal(c->args[2].list[0].count, 0);

	/* RFC 9051 6.3.11 STATUS */
	c = parse_ok("A042 STATUS blurdybloop (UIDNEXT MESSAGES)");
	assert_int_equal(c->args[1].count, 2);

	/* children survive growth of the parent's array */
	c = parse_ok("a X (1 2 3 4 5 6 7 8 (9) 10 11 (12 13))");
	assert_int_equal(c->args[0].count, 12);
	assert_arg(&c->args[0].list[8].list[0], IMAP_ARG_ATOM, "9");
	assert_arg(&c->args[0].list[11].list[1], IMAP_ARG_ATOM, "13");

	/* depth: 4 is allowed, 5 is not */
	parse_ok("a X ((((a))))");
	parse_fail("a X (((((a)))))", "a", "List nesting too deep");
}

static void
test_parse_limits(void **state)
{
	struct imap_limits lim = test_limits;
	struct buf in;
	int i;

	(void)state;
	/* 20 tokens, lists count: fine; 21: not */
	parse_ok("a X 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20");
	parse_fail("a X 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
		   "a", "Too many arguments");
	parse_ok("a X (1 2 3 4 5 6 7 8 9) (11 12 13 14 15 16 17 18 19)");
	parse_fail("a X (1 2 3 4 5 6 7 8 9) (11 12 13 14 15 16 17 18 19 20)",
		   "a", "Too many arguments");
	parse_fail("a X ((((((((((((((((((((((", "a", NULL);
	/* no recursion: very deep nesting with a high limit is fine */
	lim.max_depth = 100000;
	lim.max_args = 100000;
	buf_init(&in, 0);
	buf_append_str(&in, "a X ");
	for (i = 0; i < 50000; i++)
		buf_append_byte(&in, '(');
	for (i = 0; i < 50000; i++)
		buf_append_byte(&in, ')');
	parse_ok_lim(&lim, in.data, in.len);
	buf_deinit(&in);
	/* literal above max_literal */
	parse_fail("a X {1001}\r\n", "a", "Literal too big");
	parse_fail("a X {99999999999999999999999}\r\n", "a", "Literal too big");
}

static void
test_parse_bad_tag(void **state)
{
	(void)state;
	parse_fail("", NULL, "Empty command line");
	parse_fail(" NOOP", NULL, "Missing tag");
	parse_fail("+ NOOP", NULL, "Invalid tag");
	parse_fail("* NOOP", NULL, "Invalid tag");
	parse_fail("a+b NOOP", NULL, "Invalid tag");
	parse_fail("a(b NOOP", NULL, "Invalid tag");
	parse_fail("a{1} NOOP", NULL, "Invalid tag");
	parse_fail("\"a\" NOOP", NULL, "Invalid tag");
	parse_fail("a\\ NOOP", NULL, "Invalid tag");
	parse_fail("a%b NOOP", NULL, "Invalid tag");
	parse_fail("\x80 NOOP", NULL, "Invalid tag");
	parse_fail("a", "a", "Missing command");
	parse_fail("a ", "a", "Missing command");
	parse_fail("a  NOOP", "a", "Missing command");
	parse_fail("a NO(OP", "a", "Invalid command name");
	parse_fail("a NOOP\r", "a", "Invalid command name");
	parse_fail("a *", "a", "Invalid command name");
	parse_fail("a \"NOOP\"", "a", "Invalid command name");
}

static void
test_parse_hostile(void **state)
{
	(void)state;
	parse_fail("a X  b", "a", "Unexpected extra space");
	parse_fail("a X b ", "a", "Unexpected space at end of command");
	parse_fail("a X (a )", "a", "Unexpected space before ')'");
	parse_fail("a X ( a)", "a", "Unexpected extra space");
	parse_fail("a X )", "a", "Unexpected ')'");
	parse_fail("a X a)", "a", "Unexpected ')'");
	parse_fail("a X (a))", "a", "Unexpected ')'");
	parse_fail("a X (a", "a", "Missing ')'");
	parse_fail("a X (a)(b)", "a", "Missing space between arguments");
	parse_fail("a X \"a\"b", "a", "Missing space between arguments");
	parse_fail("a X \"abc", "a", "Unterminated quoted string");
	parse_fail("a X \"abc\\", "a", "Unterminated quoted string");
	parse_fail("a X \"a\\nb\"", "a", "Invalid escape in quoted string");
	parse_fail("a X \"a\rb\"", "a", "Invalid characters in quoted string");
	parse_fail("a X \"a\nb\"", "a", "Invalid characters in quoted string");
	parse_fail_lim(&test_limits, "a X \"a\0b\"", 9, "a",
		       "Invalid characters in quoted string");
	parse_fail("a X fo\"o\"", "a", "Invalid characters in atom");
	parse_fail("a X f{1}", "a", "Invalid characters in atom");
	parse_fail("a X f(o)", "a", "Invalid characters in atom");
	parse_fail("a X \\", "a", "Invalid characters in atom");
	parse_fail("a X a\\b", "a", "Invalid characters in atom");
	parse_fail("a X \x80", "a", "Invalid characters in atom");
	parse_fail("a X a\x7f", "a", "Invalid characters in atom");
	parse_fail("a X a\tb", "a", "Invalid characters in atom");
	parse_fail("a X a\rb", "a", "Invalid characters in atom");
	parse_fail("a X BODY[HEADER\r\n]", "a", "Invalid characters in atom");
	parse_fail("a X BODY[\"x]", "a", "Invalid characters in atom");
	parse_fail_lim(&test_limits, "a X a\0", 6, "a",
		       "Invalid characters in atom");
	parse_fail("a X {5}\r\nabc", "a", "Literal data missing");
	parse_fail("a X {3}abc", "a", "Missing CRLF after literal");
	parse_fail("a X {3}\rabc", "a", "Missing CRLF after literal");
	parse_fail("a X {3x}\r\nabc", "a", "Invalid literal");
	parse_fail("a X {}\r\n", "a", "Invalid literal");
	parse_fail("a X {3-}\r\nabc", "a", "Invalid literal");
	parse_fail("a X {3}\r\nabcd", "a", "Missing space between arguments");
	parse_fail("a X ~{3", "a", "Invalid literal");
}

static void
test_parse_tilde_atom(void **state)
{
	struct imap_command *c;

	(void)state;
	c = parse_ok("a X ~ ~a");
	assert_arg(&c->args[0], IMAP_ARG_ATOM, "~");
	assert_arg(&c->args[1], IMAP_ARG_ATOM, "~a");
}

static void
test_parse_via_framer(void **state)
{
	/* framer and tokenizer together, as the session uses them */
	static const char in[] =
		"a LOGIN {3}\r\nbob \"pw\"\r\n"
		"\r\n"
		"b APPEND box (\\Seen) {5+}\r\nhello\r\n";
	struct imap_framer f;
	struct imap_command *c;
	const char *tag, *error;
	const uint8_t *data;
	size_t pos = 0, consumed, len;
	enum imap_frame_result r;
	int ncmd = 0;

	(void)state;
	imap_framer_init(&f, &test_limits);
	while (pos < sizeof(in) - 1) {
		r = imap_framer_feed(&f, (const uint8_t *)in + pos,
				     sizeof(in) - 1 - pos, &consumed);
		pos += consumed;
		if (r != IMAP_FRAME_COMMAND)
			continue;
		data = imap_framer_command(&f, &len);
		if (ncmd == 0) {
			assert_int_equal(imap_parse_command(&test_arena, data, len,
				&test_limits, &c, &tag, &error), 0);
			assert_arg(&c->args[0], IMAP_ARG_LITERAL, "bob");
			assert_arg(&c->args[1], IMAP_ARG_QUOTED, "pw");
		} else if (ncmd == 1) {
			assert_int_equal(imap_parse_command(&test_arena, data, len,
				&test_limits, &c, &tag, &error), -1);
			assert_null(tag);
		} else {
			assert_int_equal(imap_parse_command(&test_arena, data, len,
				&test_limits, &c, &tag, &error), 0);
			assert_arg(&c->args[2], IMAP_ARG_LITERAL, "hello");
		}
		ncmd++;
		imap_framer_reset(&f);
	}
	assert_int_equal(ncmd, 3);
	imap_framer_deinit(&f);
}

static void
test_arg_helpers(void **state)
{
	struct imap_command *c;

	(void)state;
	c = parse_ok("a X INBOX \\Seen * NIL \"q\" {1}\r\nl (a) [x]y a[b c]");
	assert_true(imap_arg_is_astring(&c->args[0]));
	assert_false(imap_arg_is_astring(&c->args[1]));
	assert_false(imap_arg_is_astring(&c->args[2]));
	assert_true(imap_arg_is_astring(&c->args[3]));
	assert_true(imap_arg_is_astring(&c->args[4]));
	assert_true(imap_arg_is_astring(&c->args[5]));
	assert_false(imap_arg_is_astring(&c->args[6]));
	assert_true(imap_arg_is_astring(&c->args[7]));
	assert_false(imap_arg_is_astring(&c->args[8]));
	assert_string_equal(imap_arg_str(&c->args[0]), "INBOX");
	assert_string_equal(imap_arg_str(&c->args[3]), "NIL");
	assert_string_equal(imap_arg_str(&c->args[5]), "l");
	assert_null(imap_arg_str(&c->args[6]));
	assert_true(imap_arg_atom_equals(&c->args[0], "inbox"));
	assert_true(imap_arg_atom_equals(&c->args[3], "nil"));
	assert_false(imap_arg_atom_equals(&c->args[0], "inbo"));
	assert_false(imap_arg_atom_equals(&c->args[4], "q"));

	assert_true(imap_tag_valid((const uint8_t *)"A001", 4));
	assert_true(imap_tag_valid((const uint8_t *)"a]", 2));
	assert_false(imap_tag_valid((const uint8_t *)"", 0));
	assert_false(imap_tag_valid((const uint8_t *)"+", 1));
	assert_false(imap_tag_valid((const uint8_t *)"*", 1));
	assert_false(imap_tag_valid((const uint8_t *)"a b", 3));
	assert_false(imap_tag_valid(NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framer_simple),
		cmocka_unit_test(test_framer_tag),
		cmocka_unit_test(test_framer_pipelined),
		cmocka_unit_test(test_framer_literals),
		cmocka_unit_test(test_framer_not_markers),
		cmocka_unit_test(test_framer_bad_literal),
		cmocka_unit_test(test_framer_empty_line),
		cmocka_unit_test(test_framer_long_line),
		cmocka_unit_test(test_framer_literal_too_big),
		cmocka_unit_test(test_framer_command_too_big),
		cmocka_unit_test(test_framer_skip_memory),
		cmocka_unit_test(test_framer_line_mode),
		cmocka_unit_test_setup_teardown(test_parse_fetch, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_store_search, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_append, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_strings, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_lists, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_limits, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_bad_tag, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_hostile, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_tilde_atom, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_parse_via_framer, setup_arena, teardown_arena),
		cmocka_unit_test_setup_teardown(test_arg_helpers, setup_arena, teardown_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
