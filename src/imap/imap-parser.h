/* imap-parser: IMAP command syntax (RFC 9051 section 9, RFC 3501 section 9,
 * RFC 7888 LITERAL+/LITERAL-, RFC 3516 literal8).  Two layers, both free of
 * any session or network knowledge:
 *
 * 1. The framer cuts one complete command out of the byte stream: its first
 *    line, each literal's bytes and the lines after them.  It enforces the
 *    limits as bytes arrive, so an oversized line or literal is refused
 *    before it is buffered, and tells the caller when a synchronizing
 *    literal needs a "+" continuation.
 * 2. The tokenizer turns a complete command into a tag, a command name and
 *    a tree of arguments allocated in an arena.
 */
#ifndef IMAP_PARSER_H
#define IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"

struct imap_limits {
	size_t max_line;      /* bytes of one line, CRLF included */
	uint64_t max_literal; /* bytes of one literal */
	size_t max_command;   /* all lines and literals of one command */
	unsigned max_depth;   /* nesting of parenthesized lists */
	unsigned max_args;    /* tokens in one command, all levels together */
};

/* ---- framing ---- */

enum imap_frame_result {
	IMAP_FRAME_NEED_MORE, /* all input consumed; feed more */
	IMAP_FRAME_COMMAND,   /* imap_framer_command() holds a full command */
	IMAP_FRAME_CONTINUE,  /* a synchronizing literal was announced: send
				 "+ ..." to the client, then feed more */
	IMAP_FRAME_ERROR,     /* the current command is rejected (reason in
				 imap_framer_error(), tag if any in
				 imap_framer_tag()); answer it, then call
				 imap_framer_reset().  The framer has already
				 skipped (or will keep skipping, transparently)
				 whatever of the bad command must not be
				 interpreted as new commands. */
};

enum imap_frame_error {
	IMAP_FRAME_ERR_NONE,
	IMAP_FRAME_ERR_LINE_TOO_LONG,
	IMAP_FRAME_ERR_LITERAL_TOO_BIG, /* answer with [TOOBIG] */
	IMAP_FRAME_ERR_COMMAND_TOO_BIG, /* answer with [TOOBIG] */
	IMAP_FRAME_ERR_BAD_LITERAL,     /* e.g. "{12x}" or "{99999999999999999999}" */
};

struct imap_framer {
	struct imap_limits limits;
	struct buf cmd;        /* the command so far: lines (with CRLF) and
				  literal bytes exactly as received */
	/* internal state, see imap-parser.c */
	int state;
	uint64_t literal_left;  /* bytes of literal still expected (or to skip) */
	size_t line_start;      /* offset in cmd where the current line began */
	bool line_mode;
	enum imap_frame_error error;
	char tag[64];           /* best-effort tag of the current command */
	bool skip_after_error;  /* discard to end of command after an error */
	bool result_pending;    /* COMMAND/ERROR returned, reset not yet called */
	uint64_t line_len;      /* bytes of the current line seen so far */
	/* recognizer for a literal marker ending the current line; it works
	 * on the byte stream so it also runs while bytes are being skipped */
	int marker;
	bool marker_cr;         /* last byte was CR (maybe the CR of CRLF) */
	bool marker_plus;       /* {N+}: non-synchronizing */
	bool marker_tilde;      /* ~{N}: literal8 */
	bool marker_overflow;   /* N does not fit in 64 bits */
	uint64_t marker_value;
};

void imap_framer_init(struct imap_framer *f, const struct imap_limits *limits);
void imap_framer_deinit(struct imap_framer *f); /* frees cmd's memory */

/* Consume input.  Returns when something must happen or when input ran
 * out; *consumed_r says how much of data was used (the caller drops that
 * and calls again with the rest).  Never consumes past the end of the
 * current command.
 * Errors are reported once, as soon as they are known; the rest of the bad
 * command (the rest of a too-long line, a too-big non-synchronizing
 * literal and the lines and literals after it) is then skipped by later
 * feeds without being buffered or interpreted.  An empty line comes back
 * as an empty COMMAND (the tokenizer rejects it).  A non-synchronizing
 * marker with an unusable number ({99999999999999999999+}) is BAD_LITERAL
 * and everything after it is skipped: answer and disconnect.
 * Feeding again without imap_framer_reset() resets implicitly. */
enum imap_frame_result imap_framer_feed(struct imap_framer *f,
					const uint8_t *data, size_t len,
					size_t *consumed_r);
/* After IMAP_FRAME_COMMAND: the command's bytes, without the final CRLF. */
const uint8_t *imap_framer_command(const struct imap_framer *f, size_t *len_r);
/* After IMAP_FRAME_ERROR: */
enum imap_frame_error imap_framer_error(const struct imap_framer *f);
/* The command's tag if one was seen (valid tag chars, then SP), else NULL. */
const char *imap_framer_tag(const struct imap_framer *f);
/* Forget the current command (after answering it); frees cmd's memory so
 * an idle connection holds none. */
void imap_framer_reset(struct imap_framer *f);
/* Line mode: each CRLF-terminated line is returned as a "command" without
 * literal processing (AUTHENTICATE responses, IDLE's DONE). */
void imap_framer_set_line_mode(struct imap_framer *f, bool line_mode);

/* ---- tokenizing ---- */

enum imap_arg_type {
	IMAP_ARG_ATOM,     /* includes flags (\Seen), '*', sequence sets, and
			      bracketed forms like BODY[HEADER.FIELDS (A B)]<0.5>
			      kept whole (brackets may contain spaces/lists) */
	IMAP_ARG_QUOTED,   /* data is the unescaped content */
	IMAP_ARG_LITERAL,  /* {n} or {n+} ({n-} is not RFC 7888 syntax) */
	IMAP_ARG_LITERAL8, /* ~{n} or ~{n+} */
	IMAP_ARG_LIST,     /* ( ... ) */
	IMAP_ARG_NIL,      /* the atom NIL, case-insensitive */
};

struct imap_arg {
	enum imap_arg_type type;
	const uint8_t *data; /* ATOM/QUOTED/LITERAL*: bytes, NUL-terminated in
				the arena (may contain NULs for literals) */
	size_t len;
	struct imap_arg *list; /* LIST: children */
	size_t count;          /* LIST: number of children */
};

struct imap_command {
	const char *tag;
	const char *name;     /* as sent; compare case-insensitively */
	struct imap_arg *args;
	size_t count;
};

/* Tokenize a complete command from the framer.  0 with *cmd_r (arena
 * memory); -1 with *error_r (static or arena string, safe to send to the
 * client) and *tag_r set to the tag when one could be read, else NULL. */
int imap_parse_command(struct arena *a, const uint8_t *data, size_t len,
		       const struct imap_limits *limits,
		       struct imap_command **cmd_r, const char **tag_r,
		       const char **error_r);

/* ---- helpers on parsed arguments ---- */

/* astring/string value as a NUL-free C string (NULL if the arg is a list or
 * contains NUL).  For IMAP_ARG_NIL it is the atom as sent ("NIL" is a valid
 * astring); nstring readers check the type first. */
const char *imap_arg_str(const struct imap_arg *arg);
bool imap_arg_is_astring(const struct imap_arg *arg);
bool imap_arg_atom_equals(const struct imap_arg *arg, const char *s); /* ci */
bool imap_tag_valid(const uint8_t *s, size_t len);

#endif
