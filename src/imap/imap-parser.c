/* imap-parser: the IMAP command framer and tokenizer (see imap-parser.h).
 *
 * The framer cuts commands out of the byte stream without interpreting
 * them beyond what framing needs: where a line ends (CRLF, or a bare LF
 * like Dovecot accepts) and whether it ends with a literal marker
 * ({N}, {N+}, ~{N}, ~{N+}; RFC 9051 section 4.3, RFC 7888, RFC 3516).
 * Every limit is checked before bytes are buffered, so memory stays at
 * max_command at most.
 *
 * Error handling, the choice made where the brief left one: an error is
 * reported as soon as it is known (IMAP_FRAME_ERROR, once), and whatever
 * of the bad command is still to come is then skipped transparently on
 * the following feeds, after imap_framer_reset():
 * - a line longer than max_line: the rest of the line is skipped without
 *   buffering; if it ends with a non-synchronizing literal marker, that
 *   literal and the rest of the command are skipped too;
 * - a synchronizing literal that is too big (for max_literal or for
 *   max_command): the client waits for "+", which never comes, so the
 *   framer is at a command boundary right away;
 * - a non-synchronizing literal that is too big: its N bytes will arrive
 *   anyway, so they are skipped (counted, never buffered), then the rest
 *   of the command: further lines and further non-synchronizing literals
 *   of any size, up to the line that ends without a literal marker (or
 *   with a synchronizing one, which the client will not send since it
 *   received our BAD).
 * None of the skipped bytes is ever interpreted as a command.
 *
 * A marker with an invalid number ("{12x}", "{}", "{5-}", a number that
 * does not fit in 64 bits) is IMAP_FRAME_ERR_BAD_LITERAL.  If such a
 * marker has the "+" of a non-synchronizing literal, we cannot know how
 * many bytes follow, so everything after it is skipped: the caller should
 * answer and disconnect.
 *
 * An empty line is returned as an empty IMAP_FRAME_COMMAND; the tokenizer
 * rejects it ("Empty command line") so it gets an untagged BAD.
 *
 * The tokenizer implements the RFC 9051 section 9 command syntax: tag,
 * command name, then arguments separated by exactly one SP.  It is a
 * single pass with an explicit stack (no recursion), bounded by max_depth
 * and max_args.  Non-goals: it knows no command, so it cannot tell where
 * a grammar wants an astring versus an atom; command handlers do that.
 */
#include "imap-parser.h"

#include <string.h>

#include "strnum.h"

enum framer_state {
	FR_LINE,    /* reading a line, up to LF */
	FR_LITERAL, /* reading (or skipping) literal_left bytes */
};

enum marker_state {
	M_NONE,   /* the line so far does not end with a marker */
	M_TILDE,  /* "~" */
	M_OPEN,   /* "{" */
	M_DIGITS, /* "{123" */
	M_PLUS,   /* "{123+" */
	M_JUNK,   /* "{" followed by something no marker has */
	M_CLOSED, /* "{123}" or "{123+}" */
	M_BAD,    /* "{...}" that is no valid marker */
};

/* Longest number we accept in a literal marker: 20 digits hold 2^64 - 1;
 * leading zeros are legal (number = 1*DIGIT), so count only the value. */

/* ---- character classes (RFC 9051 section 9) ---- */

/* ATOM-CHAR = <any CHAR except atom-specials>
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 *                 quoted-specials / resp-specials */
static bool
is_atom_char(uint8_t c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case ' ': case '%': case '*':
	case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials */
static bool
is_astring_char(uint8_t c)
{
	return is_atom_char(c) || c == ']';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool
is_tag_char(uint8_t c)
{
	return is_astring_char(c) && c != '+';
}

/* What an argument atom may hold besides ATOM-CHAR: list wildcards and
 * "*" (sequence sets), resp-specials.  "\" only leads (flags) and "[" is
 * handled by bracket_end(). */
static bool
is_arg_atom_char(uint8_t c)
{
	return is_atom_char(c) || c == '*' || c == '%' || c == ']';
}

bool
imap_tag_valid(const uint8_t *s, size_t len)
{
	size_t i;

	if (s == NULL || len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!is_tag_char(s[i]))
			return false;
	}
	return true;
}

/* ---- framer ---- */

static void
marker_clear(struct imap_framer *f)
{
	f->marker = M_NONE;
	f->marker_cr = false;
	f->marker_plus = false;
	f->marker_tilde = false;
	f->marker_overflow = false;
	f->marker_value = 0;
}

static bool
marker_in_braces(int m)
{
	return m == M_OPEN || m == M_DIGITS || m == M_PLUS || m == M_JUNK;
}

/* A byte that cannot be part of a marker. */
static void
marker_other(struct imap_framer *f, uint8_t c)
{
	/* A space ends a would-be marker: "{" can appear inside a quoted
	 * string before an atom ending in "}" (`LOGIN "{" pass}`), and that
	 * line has no marker at all. */
	if (marker_in_braces(f->marker) && c != ' ')
		f->marker = M_JUNK;
	else
		f->marker = M_NONE;
}

static void
marker_byte(struct imap_framer *f, uint8_t c)
{
	int m = f->marker;

	if (f->marker_cr) {
		/* that CR was not the end of the line after all */
		f->marker_cr = false;
		marker_other(f, '\r');
		m = f->marker;
	}
	if (c == '\r') {
		f->marker_cr = true;
		return;
	}
	if (c == '{') {
		f->marker_tilde = m == M_TILDE;
		f->marker = M_OPEN;
		f->marker_plus = false;
		f->marker_overflow = false;
		f->marker_value = 0;
	} else if (c == '~' && !marker_in_braces(m)) {
		f->marker = M_TILDE;
	} else if (c >= '0' && c <= '9' && (m == M_OPEN || m == M_DIGITS)) {
		uint64_t d = (uint64_t)(c - '0');

		if (f->marker_value > (UINT64_MAX - d) / 10)
			f->marker_overflow = true;
		else
			f->marker_value = f->marker_value * 10 + d;
		f->marker = M_DIGITS;
	} else if (c == '+' && m == M_DIGITS) {
		f->marker_plus = true;
		f->marker = M_PLUS;
	} else if (c == '}' && (m == M_DIGITS || m == M_PLUS)) {
		f->marker = f->marker_overflow ? M_BAD : M_CLOSED;
	} else if (c == '}' && (m == M_OPEN || m == M_JUNK)) {
		f->marker = M_BAD;
	} else {
		marker_other(f, c);
	}
}

static void
marker_feed(struct imap_framer *f, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		marker_byte(f, data[i]);
}

static void
start_line(struct imap_framer *f)
{
	f->state = FR_LINE;
	f->line_len = 0;
	f->line_start = f->cmd.len;
	marker_clear(f);
}

static void
find_tag(struct imap_framer *f)
{
	size_t i;

	f->tag[0] = '\0';
	if (f->line_mode || f->cmd.data == NULL)
		return;
	for (i = 0; i < f->cmd.len && is_tag_char(f->cmd.data[i]); i++)
		;
	if (i == 0 || i >= f->cmd.len || f->cmd.data[i] != ' ' ||
	    i >= sizeof(f->tag))
		return;
	memcpy(f->tag, f->cmd.data, i);
	f->tag[i] = '\0';
}

static enum imap_frame_result
report(struct imap_framer *f, enum imap_frame_result result,
       enum imap_frame_error error)
{
	f->error = error;
	f->result_pending = true;
	find_tag(f);
	return result;
}

/* Skip the rest of the current command from here on (after reporting). */
static void
start_skipping(struct imap_framer *f)
{
	f->skip_after_error = true;
}

/* The current line just ended (its LF was consumed).  Returns NEED_MORE
 * to go on reading, anything else to return to the caller. */
static enum imap_frame_result
end_of_line(struct imap_framer *f)
{
	int m = f->marker;
	bool plus = f->marker_plus;
	uint64_t value = f->marker_value;

	if (f->line_mode) {
		if (f->skip_after_error) {
			f->skip_after_error = false;
			start_line(f);
			return IMAP_FRAME_NEED_MORE;
		}
		return report(f, IMAP_FRAME_COMMAND, IMAP_FRAME_ERR_NONE);
	}
	if (f->skip_after_error) {
		if (m == M_CLOSED && plus) {
			/* a non-synchronizing literal inside the skipped
			 * command: its bytes are coming, skip them too */
			f->state = FR_LITERAL;
			f->literal_left = value;
			if (value == 0)
				start_line(f);
			return IMAP_FRAME_NEED_MORE;
		}
		if (m == M_BAD && plus) {
			f->state = FR_LITERAL;
			f->literal_left = UINT64_MAX;
			return IMAP_FRAME_NEED_MORE;
		}
		/* No marker: the command is over.  A synchronizing marker:
		 * the client waits for a "+" it will not get (it has our
		 * BAD), so the command is over as well. */
		f->skip_after_error = false;
		buf_reset(&f->cmd);
		start_line(f);
		return IMAP_FRAME_NEED_MORE;
	}
	if (m == M_BAD) {
		if (plus) {
			/* we cannot know how much follows: skip it all */
			start_skipping(f);
			f->state = FR_LITERAL;
			f->literal_left = UINT64_MAX;
		}
		return report(f, IMAP_FRAME_ERROR, IMAP_FRAME_ERR_BAD_LITERAL);
	}
	if (m == M_CLOSED) {
		enum imap_frame_error err = IMAP_FRAME_ERR_NONE;

		if (value > f->limits.max_literal)
			err = IMAP_FRAME_ERR_LITERAL_TOO_BIG;
		else if (value > f->cmd.max - f->cmd.len)
			err = IMAP_FRAME_ERR_COMMAND_TOO_BIG;
		if (err != IMAP_FRAME_ERR_NONE) {
			if (plus) {
				start_skipping(f);
				f->state = FR_LITERAL;
				f->literal_left = value;
			}
			/* else: the client waits for "+", nothing follows,
			 * we are at a command boundary */
			return report(f, IMAP_FRAME_ERROR, err);
		}
		f->state = FR_LITERAL;
		f->literal_left = value;
		if (value == 0)
			start_line(f);
		if (!plus)
			return IMAP_FRAME_CONTINUE;
		return IMAP_FRAME_NEED_MORE;
	}
	return report(f, IMAP_FRAME_COMMAND, IMAP_FRAME_ERR_NONE);
}

void
imap_framer_init(struct imap_framer *f, const struct imap_limits *limits)
{
	memset(f, 0, sizeof(*f));
	f->limits = *limits;
	buf_init(&f->cmd, limits->max_command);
	start_line(f);
}

void
imap_framer_deinit(struct imap_framer *f)
{
	buf_deinit(&f->cmd);
}

void
imap_framer_reset(struct imap_framer *f)
{
	buf_reset(&f->cmd);
	f->tag[0] = '\0';
	f->error = IMAP_FRAME_ERR_NONE;
	f->result_pending = false;
	f->line_start = 0;
	if (f->skip_after_error)
		return; /* keep skipping where we are */
	f->literal_left = 0;
	start_line(f);
}

void
imap_framer_set_line_mode(struct imap_framer *f, bool line_mode)
{
	f->line_mode = line_mode;
}

enum imap_frame_error
imap_framer_error(const struct imap_framer *f)
{
	return f->error;
}

const char *
imap_framer_tag(const struct imap_framer *f)
{
	return f->tag[0] == '\0' ? NULL : f->tag;
}

const uint8_t *
imap_framer_command(const struct imap_framer *f, size_t *len_r)
{
	size_t len = f->cmd.len;

	/* drop the final LF and the CR before it, if that CR belongs to the
	 * last line (not to a literal that ended just before it) */
	if (len > 0 && f->cmd.data[len - 1] == '\n')
		len--;
	if (len > f->line_start && f->cmd.data[len - 1] == '\r')
		len--;
	*len_r = len;
	return f->cmd.data == NULL ? (const uint8_t *)"" : f->cmd.data;
}

/* Literal bytes: buffered, or counted away while skipping. */
static void
feed_literal(struct imap_framer *f, const uint8_t *data, size_t len,
	     size_t *pos)
{
	size_t take = len - *pos;

	if ((uint64_t)take > f->literal_left)
		take = (size_t)f->literal_left;
	/* the marker check made room for the whole literal in cmd, so this
	 * append cannot fail; should it ever, skip rather than lose sync */
	if (!f->skip_after_error &&
	    buf_append(&f->cmd, data + *pos, take) < 0)
		start_skipping(f);
	f->literal_left -= take;
	*pos += take;
	if (f->literal_left == 0)
		start_line(f);
}

/* Line bytes up to and including LF.  Returns NEED_MORE to go on. */
static enum imap_frame_result
feed_line(struct imap_framer *f, const uint8_t *data, size_t len,
	  size_t *pos)
{
	enum imap_frame_result r = IMAP_FRAME_NEED_MORE;
	const uint8_t *lf;
	size_t scan = len - *pos, n;
	bool reported = false;

	if (!f->skip_after_error) {
		/* never look further than the line may go */
		uint64_t room = f->limits.max_line > f->line_len ?
			f->limits.max_line - f->line_len : 0;

		if ((uint64_t)scan > room)
			scan = (size_t)room;
	}
	lf = memchr(data + *pos, '\n', scan);
	n = lf != NULL ? (size_t)(lf - (data + *pos)) + 1 : scan;
	marker_feed(f, data + *pos, lf != NULL ? n - 1 : n);
	if (!f->skip_after_error &&
	    buf_append(&f->cmd, data + *pos, n) < 0) {
		r = report(f, IMAP_FRAME_ERROR, IMAP_FRAME_ERR_COMMAND_TOO_BIG);
		start_skipping(f);
		reported = true;
	}
	*pos += n;
	f->line_len += n;
	if (lf == NULL) {
		if (!f->skip_after_error &&
		    f->line_len >= f->limits.max_line) {
			r = report(f, IMAP_FRAME_ERROR,
				   IMAP_FRAME_ERR_LINE_TOO_LONG);
			start_skipping(f);
		}
		return r;
	}
	/* after a report, this only decides what else to skip */
	if (reported) {
		(void)end_of_line(f);
		return r;
	}
	return end_of_line(f);
}

enum imap_frame_result
imap_framer_feed(struct imap_framer *f, const uint8_t *data, size_t len,
		 size_t *consumed_r)
{
	enum imap_frame_result r = IMAP_FRAME_NEED_MORE;
	size_t pos = 0;

	if (f->result_pending)
		imap_framer_reset(f); /* the caller forgot; be safe */
	while (pos < len && r == IMAP_FRAME_NEED_MORE) {
		if (f->state == FR_LITERAL)
			feed_literal(f, data, len, &pos);
		else
			r = feed_line(f, data, len, &pos);
	}
	*consumed_r = pos;
	return r;
}

/* ---- tokenizer ---- */

struct frame {
	struct imap_arg *items; /* arena */
	size_t count, cap;
	size_t parent_idx;      /* index of this list in the parent frame */
};

struct tokenizer {
	struct arena *a;
	const uint8_t *p;
	size_t len, pos;
	const struct imap_limits *limits;
	const char *error;
	size_t nargs;
	struct frame *stack; /* arena; stack[0] is the command's arguments */
	size_t depth, stack_cap;
};

static struct imap_arg *
frame_push(struct tokenizer *t, struct frame *fr)
{
	if (fr->count == fr->cap) {
		size_t ncap = fr->cap == 0 ? 8 : fr->cap * 2;
		struct imap_arg *n = arena_allocarray(t->a, ncap, sizeof(*n));

		if (fr->count > 0)
			memcpy(n, fr->items, fr->count * sizeof(*n));
		fr->items = n;
		fr->cap = ncap;
	}
	return &fr->items[fr->count++];
}

static struct imap_arg *
new_arg(struct tokenizer *t, enum imap_arg_type type)
{
	struct imap_arg *arg;

	if (t->nargs >= t->limits->max_args) {
		t->error = "Too many arguments";
		return NULL;
	}
	t->nargs++;
	arg = frame_push(t, &t->stack[t->depth]);
	arg->type = type;
	return arg;
}

static int
open_list(struct tokenizer *t)
{
	struct frame *fr;
	size_t parent_idx;

	if (new_arg(t, IMAP_ARG_LIST) == NULL)
		return -1;
	if (t->depth >= t->limits->max_depth) {
		t->error = "List nesting too deep";
		return -1;
	}
	parent_idx = t->stack[t->depth].count - 1;
	if (t->depth + 1 >= t->stack_cap) {
		size_t ncap = t->stack_cap * 2;
		struct frame *n = arena_allocarray(t->a, ncap, sizeof(*n));

		memcpy(n, t->stack, t->stack_cap * sizeof(*n));
		t->stack = n;
		t->stack_cap = ncap;
	}
	t->depth++;
	fr = &t->stack[t->depth];
	memset(fr, 0, sizeof(*fr));
	fr->parent_idx = parent_idx;
	return 0;
}

static void
close_list(struct tokenizer *t)
{
	struct frame *fr = &t->stack[t->depth];
	struct imap_arg *parent;

	t->depth--;
	parent = &t->stack[t->depth].items[fr->parent_idx];
	parent->list = fr->items;
	parent->count = fr->count;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE
 * QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> /
 *               "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
 * From `start` (at the opening DQUOTE): *end_r is the index after the
 * closing DQUOTE, *unescaped_r the content length.  8-bit bytes are let
 * through unchecked (UTF8=ACCEPT clients; the command decides). */
static int
scan_quoted(struct tokenizer *t, size_t start, size_t *end_r,
	    size_t *unescaped_r)
{
	size_t i, n = 0;

	for (i = start + 1; i < t->len; i++) {
		uint8_t c = t->p[i];

		if (c == '"') {
			*end_r = i + 1;
			*unescaped_r = n;
			return 0;
		}
		if (c == '\\') {
			if (i + 1 >= t->len)
				break;
			if (t->p[i + 1] != '\\' && t->p[i + 1] != '"') {
				t->error = "Invalid escape in quoted string";
				return -1;
			}
			i++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			t->error = "Invalid characters in quoted string";
			return -1;
		}
		n++;
	}
	t->error = "Unterminated quoted string";
	return -1;
}

static int
read_quoted(struct tokenizer *t)
{
	struct imap_arg *arg;
	uint8_t *out;
	size_t end, n, i, o = 0;

	if (scan_quoted(t, t->pos, &end, &n) < 0)
		return -1;
	if ((arg = new_arg(t, IMAP_ARG_QUOTED)) == NULL)
		return -1;
	out = arena_alloc(t->a, n + 1);
	for (i = t->pos + 1; i < end - 1; i++) {
		if (t->p[i] == '\\')
			i++;
		out[o++] = t->p[i];
	}
	out[o] = '\0';
	arg->data = out;
	arg->len = o;
	t->pos = end;
	return 0;
}

/* literal = "{" number64 ["+"] "}" CRLF *CHAR8
 * literal8 = "~{" number64 ["+"] "}" CRLF *OCTET
 * A bare LF is accepted after the marker, as the framer accepts it. */
static int
read_literal(struct tokenizer *t)
{
	enum imap_arg_type type = IMAP_ARG_LITERAL;
	struct imap_arg *arg;
	size_t i, digits;
	uint64_t value;

	if (t->p[t->pos] == '~') {
		type = IMAP_ARG_LITERAL8;
		t->pos++;
	}
	/* at "{" */
	i = t->pos + 1;
	digits = i;
	while (i < t->len && t->p[i] >= '0' && t->p[i] <= '9')
		i++;
	if (i == digits) {
		t->error = "Invalid literal";
		return -1;
	}
	if (!str_to_u64(t->p + digits, i - digits, t->limits->max_literal,
			&value)) {
		t->error = "Literal too big";
		return -1;
	}
	if (i < t->len && t->p[i] == '+')
		i++;
	if (i >= t->len || t->p[i] != '}') {
		t->error = "Invalid literal";
		return -1;
	}
	i++;
	if (i < t->len && t->p[i] == '\r')
		i++;
	if (i >= t->len || t->p[i] != '\n') {
		t->error = "Missing CRLF after literal";
		return -1;
	}
	i++;
	if ((uint64_t)(t->len - i) < value) {
		t->error = "Literal data missing";
		return -1;
	}
	if ((arg = new_arg(t, type)) == NULL)
		return -1;
	arg->data = arena_memdup(t->a, t->p + i, (size_t)value);
	arg->len = (size_t)value;
	t->pos = i + (size_t)value;
	return 0;
}

/* From "[" at `start`: the index after the matching "]", or 0 if there is
 * none.  Inside, spaces, parentheses and quoted strings are allowed, so
 * BODY[HEADER.FIELDS (From "To")] stays one token. */
static size_t
bracket_end(struct tokenizer *t, size_t start)
{
	size_t i, end, n, nest = 0;
	const char *saved = t->error;

	for (i = start; i < t->len; i++) {
		uint8_t c = t->p[i];

		if (c == '[') {
			nest++;
		} else if (c == ']') {
			if (--nest == 0)
				return i + 1;
		} else if (c == '"') {
			if (scan_quoted(t, i, &end, &n) < 0) {
				t->error = saved;
				return 0;
			}
			i = end - 1;
		} else if (c < 0x20 || c >= 0x7f || c == '{') {
			return 0;
		}
	}
	return 0;
}

/* An atom as an argument: ATOM-CHARs plus "*", "%", "]", a leading "\"
 * (flags) and bracketed sections.  NIL comes back as IMAP_ARG_NIL. */
static int
read_atom(struct tokenizer *t)
{
	struct imap_arg *arg;
	size_t start = t->pos, i = t->pos, end;
	bool has_bracket = false, try_brackets = true;

	if (t->p[i] == '\\')
		i++;
	while (i < t->len) {
		uint8_t c = t->p[i];

		if (c == '[' && try_brackets) {
			/* an unmatched "[" is an ordinary ATOM-CHAR
			 * ("[Gmail" is a valid astring).  After one failed
			 * scan, stop trying: rescanning from every later
			 * "[" would make "[[[[..." quadratic, and only
			 * garbage like "[[a b]" parses differently. */
			if ((end = bracket_end(t, i)) != 0) {
				has_bracket = true;
				i = end;
			} else {
				try_brackets = false;
				i++;
			}
		} else if (is_arg_atom_char(c)) {
			i++;
		} else {
			break;
		}
	}
	if (i == start || (i == start + 1 && t->p[start] == '\\') ||
	    (i < t->len && t->p[i] != ' ' && t->p[i] != ')')) {
		t->error = "Invalid characters in atom";
		return -1;
	}
	if (!has_bracket && i - start == 3 &&
	    (t->p[start] | 0x20) == 'n' && (t->p[start + 1] | 0x20) == 'i' &&
	    (t->p[start + 2] | 0x20) == 'l')
		arg = new_arg(t, IMAP_ARG_NIL);
	else
		arg = new_arg(t, IMAP_ARG_ATOM);
	if (arg == NULL)
		return -1;
	arg->data = arena_memdup(t->a, t->p + start, i - start);
	arg->len = i - start;
	t->pos = i;
	return 0;
}

static int
read_token(struct tokenizer *t)
{
	uint8_t c = t->p[t->pos];

	if (c == '"')
		return read_quoted(t);
	if (c == '{' ||
	    (c == '~' && t->pos + 1 < t->len && t->p[t->pos + 1] == '{'))
		return read_literal(t);
	return read_atom(t);
}

/* The arguments after the command name, at t->pos. */
static int
read_args(struct tokenizer *t)
{
	bool after_open = false; /* just after "(": no SP needed */

	for (;;) {
		uint8_t c;

		if (t->pos == t->len) {
			if (t->depth > 0) {
				t->error = "Missing ')'";
				return -1;
			}
			return 0;
		}
		c = t->p[t->pos];
		if (c == ')') {
			if (t->depth == 0) {
				t->error = "Unexpected ')'";
				return -1;
			}
			close_list(t);
			t->pos++;
			after_open = false;
			continue;
		}
		if (!after_open) {
			if (c != ' ') {
				t->error = "Missing space between arguments";
				return -1;
			}
			t->pos++;
			if (t->pos == t->len) {
				t->error = "Unexpected space at end of command";
				return -1;
			}
			c = t->p[t->pos];
			if (c == ')') {
				t->error = t->depth == 0 ? "Unexpected ')'" :
					"Unexpected space before ')'";
				return -1;
			}
		}
		if (c == ' ') {
			t->error = "Unexpected extra space";
			return -1;
		}
		if (c == '(') {
			if (open_list(t) < 0)
				return -1;
			t->pos++;
			after_open = true;
			continue;
		}
		if (read_token(t) < 0)
			return -1;
		after_open = false;
	}
}

int
imap_parse_command(struct arena *a, const uint8_t *data, size_t len,
		   const struct imap_limits *limits,
		   struct imap_command **cmd_r, const char **tag_r,
		   const char **error_r)
{
	struct tokenizer t;
	struct imap_command *cmd;
	size_t i, start;

	*cmd_r = NULL;
	*tag_r = NULL;
	*error_r = NULL;
	if (len == 0) {
		*error_r = "Empty command line";
		return -1;
	}

	/* tag SP */
	for (i = 0; i < len && is_tag_char(data[i]); i++)
		;
	if (i == 0) {
		*error_r = data[0] == ' ' ? "Missing tag" : "Invalid tag";
		return -1;
	}
	if (i < len && data[i] != ' ') {
		*error_r = "Invalid tag";
		return -1;
	}
	cmd = arena_alloc(a, sizeof(*cmd));
	cmd->tag = arena_memdup(a, data, i);
	*tag_r = cmd->tag;
	if (i == len || i + 1 == len || data[i + 1] == ' ') {
		*error_r = "Missing command";
		return -1;
	}

	/* command name: an atom */
	start = ++i;
	while (i < len && is_atom_char(data[i]))
		i++;
	if (i == start || (i < len && data[i] != ' ')) {
		*error_r = "Invalid command name";
		return -1;
	}
	cmd->name = arena_memdup(a, data + start, i - start);

	memset(&t, 0, sizeof(t));
	t.a = a;
	t.p = data;
	t.len = len;
	t.pos = i;
	t.limits = limits;
	t.stack_cap = 4;
	t.stack = arena_allocarray(a, t.stack_cap, sizeof(*t.stack));
	if (read_args(&t) < 0) {
		*error_r = t.error;
		return -1;
	}
	cmd->args = t.stack[0].items;
	cmd->count = t.stack[0].count;
	*cmd_r = cmd;
	return 0;
}

/* ---- helpers ---- */

const char *
imap_arg_str(const struct imap_arg *arg)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_LITERAL8:
		if (arg->data == NULL)
			return "";
		if (memchr(arg->data, '\0', arg->len) != NULL)
			return NULL;
		return (const char *)arg->data;
	case IMAP_ARG_LIST:
	default:
		return NULL;
	}
}

bool
imap_arg_is_astring(const struct imap_arg *arg)
{
	size_t i;

	switch (arg->type) {
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_NIL:
		return true;
	case IMAP_ARG_ATOM:
		/* 1*ASTRING-CHAR: no flags, wildcards or bracket spaces */
		for (i = 0; i < arg->len; i++) {
			if (!is_astring_char(arg->data[i]))
				return false;
		}
		return arg->len > 0;
	default:
		return false;
	}
}

bool
imap_arg_atom_equals(const struct imap_arg *arg, const char *s)
{
	size_t i, n = strlen(s);

	if ((arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NIL) ||
	    arg->len != n)
		return false;
	for (i = 0; i < n; i++) {
		uint8_t x = arg->data[i], y = (uint8_t)s[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}
