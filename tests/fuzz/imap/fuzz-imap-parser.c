/* libFuzzer target for imap-parser: the input is fed to the framer in
 * chunks whose sizes come from the input, every command is tokenized, and
 * invariants are checked: consumed <= len, NEED_MORE means all consumed,
 * the framer never buffers more than max_command, a parsed command's tag
 * is valid and matches the framer's, lists respect max_depth/max_args,
 * and the arena is empty after reset.  The stream is framed twice, in
 * input-derived chunks and all at once, and both must give the same
 * events: framing never depends on how the bytes arrive.
 *
 * Input: byte 0 = options (bit 0: line mode, bits 1-2: limit set),
 * byte 1 = chunk-size seed, then the stream. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap-parser.h"

#define FUZZ_MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct imap_limits fuzz_limits[4] = {
	{ 128, 512, 1024, 8, 64 },
	{ 16, 8, 40, 2, 4 },
	{ 8192, 65536, 65536, 64, 1000 },
	{ 64, 100, 64, 0, 1 },
};

static void
check_args(const struct imap_arg *args, size_t count,
	   const struct imap_limits *lim)
{
	/* iterative walk with a small explicit stack of (array, count) */
	struct { const struct imap_arg *a; size_t n, i; } st[80];
	size_t depth = 0, total = 0;

	st[0].a = args;
	st[0].n = count;
	st[0].i = 0;
	for (;;) {
		const struct imap_arg *arg;

		if (st[depth].i == st[depth].n) {
			if (depth == 0)
				break;
			depth--;
			continue;
		}
		arg = &st[depth].a[st[depth].i++];
		total++;
		if (total > lim->max_args)
			abort();
		if (arg->type == IMAP_ARG_LIST) {
			if (depth + 1 > lim->max_depth ||
			    depth + 1 >= sizeof(st) / sizeof(st[0]))
				abort();
			if (arg->count > 0 && arg->list == NULL)
				abort();
			depth++;
			st[depth].a = arg->list;
			st[depth].n = arg->count;
			st[depth].i = 0;
			continue;
		}
		if (arg->data == NULL || arg->data[arg->len] != '\0')
			abort();
		if (arg->type == IMAP_ARG_ATOM || arg->type == IMAP_ARG_NIL) {
			if (arg->len == 0 || memchr(arg->data, '\0', arg->len))
				abort();
		}
		if (arg->type == IMAP_ARG_QUOTED &&
		    (memchr(arg->data, '\r', arg->len) ||
		     memchr(arg->data, '\n', arg->len)))
			abort();
		(void)imap_arg_str(arg);
		(void)imap_arg_is_astring(arg);
	}
}

static void
check_command(struct imap_framer *f, struct arena *a,
	      const struct imap_limits *lim, bool line_mode)
{
	struct imap_command *cmd;
	const char *tag, *error, *ftag;
	const uint8_t *p;
	size_t len;

	p = imap_framer_command(f, &len);
	if (len > lim->max_command)
		abort();
	if (imap_parse_command(a, p, len, lim, &cmd, &tag, &error) < 0) {
		if (error == NULL || cmd != NULL)
			abort();
		if (tag != NULL &&
		    !imap_tag_valid((const uint8_t *)tag, strlen(tag)))
			abort();
	} else {
		if (cmd == NULL || tag != cmd->tag || cmd->name == NULL ||
		    !imap_tag_valid((const uint8_t *)tag, strlen(tag)))
			abort();
		ftag = imap_framer_tag(f);
		if (!line_mode && strlen(tag) < 64 &&
		    (ftag == NULL || strcmp(ftag, tag) != 0))
			abort();
		check_args(cmd->args, cmd->count, lim);
	}
	arena_reset(a);
	if (a->head != NULL || a->used_total != 0)
		abort();
}

/* Frames data[2..size) in chunks (seeded, or all at once if seed is 0)
 * and writes the events to log. */
static void
run(const uint8_t *data, size_t size, const struct imap_limits *lim,
    bool line_mode, uint32_t seed, struct buf *log)
{
	struct imap_framer f;
	struct arena a;
	size_t pos = 2, consumed, n, len;
	enum imap_frame_result r;
	const uint8_t *p;
	const char *tag;

	arena_init(&a);
	imap_framer_init(&f, lim);
	imap_framer_set_line_mode(&f, line_mode);
	while (pos < size) {
		/* chunk sizes: 1..32 from the seed, sometimes everything */
		n = size - pos;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 33 != 0 && (seed >> 16) % 33 < n)
				n = (seed >> 16) % 33;
		}
		while (n > 0) {
			r = imap_framer_feed(&f, data + pos, n, &consumed);
			if (consumed > n || f.cmd.len > lim->max_command)
				abort();
			pos += consumed;
			n -= consumed;
			switch (r) {
			case IMAP_FRAME_NEED_MORE:
				if (n != 0)
					abort();
				break;
			case IMAP_FRAME_CONTINUE:
				if (line_mode)
					abort();
				buf_append_byte(log, '+');
				break;
			case IMAP_FRAME_COMMAND:
				p = imap_framer_command(&f, &len);
				buf_printf(log, "C%zu:", len);
				buf_append(log, p, len);
				check_command(&f, &a, lim, line_mode);
				imap_framer_reset(&f);
				break;
			case IMAP_FRAME_ERROR:
				if (imap_framer_error(&f) == IMAP_FRAME_ERR_NONE)
					abort();
				tag = imap_framer_tag(&f);
				buf_printf(log, "E%d:%s;", (int)imap_framer_error(&f),
					   tag == NULL ? "-" : tag);
				imap_framer_reset(&f);
				if (f.cmd.len != 0)
					abort();
				break;
			}
		}
	}
	imap_framer_deinit(&f);
	arena_reset(&a);
	if (a.head != NULL || a.used_total != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct imap_limits *lim;
	struct buf log1, log2;
	bool line_mode;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return 0;
	line_mode = (data[0] & 1) != 0;
	lim = &fuzz_limits[(data[0] >> 1) & 3];
	buf_init(&log1, 0);
	buf_init(&log2, 0);
	run(data, size, lim, line_mode, data[1] | 0x100u, &log1);
	run(data, size, lim, line_mode, 0, &log2);
	if (log1.len != log2.len ||
	    (log1.len > 0 && memcmp(log1.data, log2.data, log1.len) != 0))
		abort();
	buf_deinit(&log1);
	buf_deinit(&log2);
	return 0;
}
