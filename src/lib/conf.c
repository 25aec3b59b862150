/* conf: the settings file.  libinih splits the INI syntax; this file owns
 * everything else: the table of known keys, value parsing (numbers with
 * ranges, sizes with k/M/G, booleans, enums, listen lists, SASL mechanism
 * lists), relative path resolution, cross-field checks and the error report.
 *
 * Loading runs in three passes over a scratch context: inih feeds raw
 * "section.key = value" pairs into per-key slots (unknown, duplicate and
 * syntax problems are recorded here), then every key is parsed from its slot
 * or from its built-in default text, then the cross-field checks run.  Errors
 * from all passes are sorted by line and returned together; the struct is
 * handed out only when there are none.
 *
 * Line numbers: Debian's libinih is built without INI_HANDLER_LINENO, so the
 * handler never learns the line.  We parse with ini_parse_stream() and our
 * own reader that hands inih exactly one physical line per call; inih calls
 * the handler for a line before asking for the next one, so the reader's
 * counter is the handler's line.  The reader also classifies each line the
 * way inih 55 does (comment, section, pair, continuation) so that every
 * syntax error is reported, not only the first one inih returns.
 *
 * Non-goals: include files, environment expansion, quoting.  The file is
 * read once at startup (and again on SIGHUP into a fresh struct). */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "buf.h"
#include "strnum.h"
#include "xalloc.h"

/* A settings file is a few KiB; anything near this is not one. */
#define CONF_MAX_FILE_SIZE (1024 * 1024)
/* Error lines shown; a binary file fed by mistake would give thousands. */
#define CONF_MAX_ERRORS 100
/* Longest value quoted back in an error line. */
#define CONF_MAX_QUOTE 60
/* RFC 9051 5.4: the autologout timer after login is at least 30 minutes. */
#define CONF_RFC_MIN_TIMEOUT_AUTH 1800
/* inih 55 keeps section and key names in 50-byte buffers. */
#define CONF_MAX_NAME 64

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

enum conf_type {
	CONF_T_STR,    /* free text */
	CONF_T_USER,   /* system user name, "" = none */
	CONF_T_PATH,   /* relative to the file's directory */
	CONF_T_UINT,   /* decimal in [min, max] */
	CONF_T_SIZE,   /* decimal with optional k/M/G (1024-based) */
	CONF_T_BOOL,   /* yes/no/true/false/on/off/1/0 */
	CONF_T_ENUM,   /* one of choices, stored in canonical spelling */
	CONF_T_LOG,    /* stderr|syslog -> bool */
	CONF_T_LISTEN, /* host:port list -> struct conf_listen */
	CONF_T_MECHS,  /* SASL mechanism list */
};

#define CONF_F_LIST     0x1 /* value may continue on indented lines */
#define CONF_F_EMPTY_OK 0x2 /* "" is a valid path (= none) */

enum conf_key_id {
	K_USER, K_DATA_DIR, K_WORKERS, K_LOG, K_LOG_LEVEL, K_MAX_CONNECTIONS,
	K_LISTEN, K_LISTEN_TLS, K_MAX_LINE_LENGTH, K_MAX_LITERAL_SIZE,
	K_MAX_COMMAND_SIZE, K_MAX_LIST_DEPTH, K_MAX_ARGS, K_MAX_PIPELINED,
	K_TIMEOUT_PREAUTH, K_TIMEOUT_AUTH, K_OUTPUT_HIGH_WATER, K_AUTOCREATE,
	K_TLS_CERT, K_TLS_KEY, K_TLS_MIN_VERSION, K_TLS_CIPHERS,
	K_TLS_CIPHERSUITES,
	K_PASSWD_FILE, K_ALLOW_PLAINTEXT, K_LOOPBACK_IS_SECURE, K_ALLOW_PLAIN_SCHEME,
	K_DEFAULT_SCHEME, K_MECHANISMS, K_FAILURE_DELAY_MS,
	K_FAILURE_DELAY_MAX_MS, K_IP_FAILURE_LIMIT, K_USER_FAILURE_LIMIT,
	K_FAILURE_WINDOW, K_MAX_AUTH_ATTEMPTS,
	K_COUNT
};

struct conf_key {
	const char *section;
	const char *name;
	enum conf_type type;
	size_t offset; /* into struct conf */
	size_t size;   /* of that field, for the integer types */
	uint64_t min, max;
	const char *const *choices; /* CONF_T_ENUM, NULL-terminated */
	const char *def;            /* default, in file syntax */
	unsigned flags;
};

static const char *const conf_sections[] = {
	"server", "imap", "tls", "auth", NULL
};
static const char *const log_level_choices[] = {
	"debug", "info", "warn", "error", NULL
};
static const char *const log_choices[] = { "stderr", "syslog", NULL };
static const char *const tls_version_choices[] = {
	"TLSv1.2", "TLSv1.3", NULL
};
static const char *const scheme_choices[] = {
	"SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "SCRAM-SHA-256", "PLAIN", NULL
};
static const char *const mech_choices[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", NULL
};

#define FIELD(f) offsetof(struct conf, f), sizeof(((struct conf *)0)->f)

static const struct conf_key conf_keys[K_COUNT] = {
	[K_USER] = { "server", "user", CONF_T_USER, FIELD(user), 0, 0, NULL,
		"satchel", 0 },
	[K_DATA_DIR] = { "server", "data_dir", CONF_T_PATH, FIELD(data_dir),
		0, 0, NULL, "/var/lib/satchel", 0 },
	[K_WORKERS] = { "server", "workers", CONF_T_UINT, FIELD(workers),
		0, 256, NULL, "0", 0 },
	[K_LOG] = { "server", "log", CONF_T_LOG, FIELD(log_syslog), 0, 0,
		log_choices, "stderr", 0 },
	[K_LOG_LEVEL] = { "server", "log_level", CONF_T_ENUM, FIELD(log_level),
		0, 0, log_level_choices, "info", 0 },
	[K_MAX_CONNECTIONS] = { "server", "max_connections", CONF_T_UINT,
		FIELD(max_connections), 1, 10000000, NULL, "100000", 0 },

	[K_LISTEN] = { "imap", "listen", CONF_T_LISTEN, FIELD(imap_listen),
		0, 0, NULL, "0.0.0.0:143, [::]:143", CONF_F_LIST },
	[K_LISTEN_TLS] = { "imap", "listen_tls", CONF_T_LISTEN,
		FIELD(imaps_listen), 0, 0, NULL, "0.0.0.0:993, [::]:993",
		CONF_F_LIST },
	[K_MAX_LINE_LENGTH] = { "imap", "max_line_length", CONF_T_SIZE,
		FIELD(max_line_length), 1024, 16 * MIB, NULL, "64k", 0 },
	[K_MAX_LITERAL_SIZE] = { "imap", "max_literal_size", CONF_T_SIZE,
		FIELD(max_literal_size), 1, TIB, NULL, "50M", 0 },
	[K_MAX_COMMAND_SIZE] = { "imap", "max_command_size", CONF_T_SIZE,
		FIELD(max_command_size), 1024, TIB, NULL, "64M", 0 },
	[K_MAX_LIST_DEPTH] = { "imap", "max_list_depth", CONF_T_UINT,
		FIELD(max_list_depth), 1, 1000, NULL, "32", 0 },
	[K_MAX_ARGS] = { "imap", "max_args", CONF_T_UINT, FIELD(max_args),
		1, 1000000, NULL, "10000", 0 },
	[K_MAX_PIPELINED] = { "imap", "max_pipelined", CONF_T_UINT,
		FIELD(max_pipelined), 1, 10000, NULL, "32", 0 },
	[K_TIMEOUT_PREAUTH] = { "imap", "timeout_preauth", CONF_T_UINT,
		FIELD(timeout_preauth), 1, 86400, NULL, "60", 0 },
	[K_TIMEOUT_AUTH] = { "imap", "timeout_auth", CONF_T_UINT,
		FIELD(timeout_auth), 1, 7 * 86400, NULL, "1800", 0 },
	[K_OUTPUT_HIGH_WATER] = { "imap", "output_high_water", CONF_T_SIZE,
		FIELD(output_high_water), 4 * KIB, GIB, NULL, "256k", 0 },
	[K_AUTOCREATE] = { "imap", "autocreate", CONF_T_STR, FIELD(autocreate),
		0, 0, NULL, "Drafts \\Drafts, Sent \\Sent, Trash \\Trash, Junk \\Junk, Archive \\Archive",
		CONF_F_EMPTY_OK | CONF_F_LIST },

	[K_TLS_CERT] = { "tls", "cert", CONF_T_PATH, FIELD(tls_cert), 0, 0,
		NULL, "", CONF_F_EMPTY_OK },
	[K_TLS_KEY] = { "tls", "key", CONF_T_PATH, FIELD(tls_key), 0, 0,
		NULL, "", CONF_F_EMPTY_OK },
	[K_TLS_MIN_VERSION] = { "tls", "min_version", CONF_T_ENUM,
		FIELD(tls_min_version), 0, 0, tls_version_choices, "TLSv1.2", 0 },
	[K_TLS_CIPHERS] = { "tls", "ciphers", CONF_T_STR, FIELD(tls_ciphers),
		0, 0, NULL, "", CONF_F_LIST },
	[K_TLS_CIPHERSUITES] = { "tls", "ciphersuites", CONF_T_STR,
		FIELD(tls_ciphersuites), 0, 0, NULL, "", CONF_F_LIST },

	[K_PASSWD_FILE] = { "auth", "passwd_file", CONF_T_PATH,
		FIELD(passwd_file), 0, 0, NULL, "/etc/satchel/passwd", 0 },
	[K_ALLOW_PLAINTEXT] = { "auth", "allow_plaintext", CONF_T_BOOL,
		FIELD(allow_plaintext), 0, 0, NULL, "no", 0 },
	[K_LOOPBACK_IS_SECURE] = { "auth", "loopback_is_secure", CONF_T_BOOL,
		FIELD(loopback_is_secure), 0, 0, NULL, "yes", 0 },
	[K_ALLOW_PLAIN_SCHEME] = { "auth", "allow_plain_scheme", CONF_T_BOOL,
		FIELD(allow_plain_scheme), 0, 0, NULL, "no", 0 },
	[K_DEFAULT_SCHEME] = { "auth", "default_scheme", CONF_T_ENUM,
		FIELD(default_scheme), 0, 0, scheme_choices, "ARGON2ID", 0 },
	[K_MECHANISMS] = { "auth", "mechanisms", CONF_T_MECHS,
		FIELD(mechanisms), 0, 0, mech_choices,
		"PLAIN LOGIN SCRAM-SHA-256", CONF_F_LIST },
	[K_FAILURE_DELAY_MS] = { "auth", "failure_delay_ms", CONF_T_UINT,
		FIELD(failure_delay_ms), 0, 60000, NULL, "2000", 0 },
	[K_FAILURE_DELAY_MAX_MS] = { "auth", "failure_delay_max_ms",
		CONF_T_UINT, FIELD(failure_delay_max_ms), 0, 600000, NULL,
		"15000", 0 },
	[K_IP_FAILURE_LIMIT] = { "auth", "ip_failure_limit", CONF_T_UINT,
		FIELD(ip_failure_limit), 1, 1000000, NULL, "20", 0 },
	[K_USER_FAILURE_LIMIT] = { "auth", "user_failure_limit", CONF_T_UINT,
		FIELD(user_failure_limit), 1, 1000000, NULL, "10", 0 },
	[K_FAILURE_WINDOW] = { "auth", "failure_window", CONF_T_UINT,
		FIELD(failure_window), 1, 86400, NULL, "300", 0 },
	[K_MAX_AUTH_ATTEMPTS] = { "auth", "max_auth_attempts", CONF_T_UINT,
		FIELD(max_auth_attempts), 1, 100, NULL, "3", 0 },
};

/* How the reader saw a line, mirroring inih 55's ini_parse_stream(). */
enum conf_line {
	CONF_LINE_NONE,     /* no line pending */
	CONF_LINE_BLANK,    /* blank, comment, or already reported */
	CONF_LINE_SECTION,
	CONF_LINE_BAD_SECTION,
	CONF_LINE_PAIR,
	CONF_LINE_CONT,     /* indented continuation of the previous key */
	CONF_LINE_BAD,      /* neither pair nor section nor comment */
};

struct conf_slot {
	char *value;   /* owned; NULL when the file does not set the key */
	unsigned line;
};

struct conf_msg {
	unsigned line; /* 0 = not tied to a line */
	size_t seq;    /* report order within a line */
	char *text;    /* owned, one line without '\n' */
};

struct conf_ctx {
	const char *name;     /* for messages; NULL = built-in defaults */
	char *base_dir;       /* owned; for relative paths, NULL = keep them */

	const char *pos;      /* reader: rest of the text */
	unsigned lineno;      /* reader: physical line just handed out */
	enum conf_line line_class;
	bool handler_called;  /* for the current line */
	bool inih_has_prev;   /* inih's prev_name is non-empty */
	bool in_bad_section;  /* current [section] unknown, already reported */
	bool in_broken_section; /* after a header without ']' */
	int cont_key;         /* key a continuation extends, -1 = none */
	bool failed[K_COUNT]; /* pass 2 rejected the value */

	struct conf_slot slots[K_COUNT];
	struct conf_msg *errors;
	size_t nerrors;
	struct conf_msg *warnings;
	size_t nwarnings;
};

/* ---- messages ---- */

static void __attribute__((format(printf, 4, 0)))
conf_vmsg(struct conf_ctx *ctx, bool is_error, unsigned line,
	  const char *fmt, va_list ap)
{
	struct conf_msg **list = is_error ? &ctx->errors : &ctx->warnings;
	size_t *count = is_error ? &ctx->nerrors : &ctx->nwarnings;
	struct buf b;

	/* Grow by doubling: a binary file gives one error per line. */
	if ((*count & (*count - 1)) == 0)
		*list = xreallocarray(*list, *count == 0 ? 1 : *count * 2,
				      sizeof(**list));

	buf_init(&b, 0);
	if (line > 0)
		buf_printf(&b, "%s:%u: ", ctx->name != NULL ? ctx->name :
			   "<defaults>", line);
	else
		buf_printf(&b, "%s: ", ctx->name != NULL ? ctx->name :
			   "<defaults>");
	buf_vprintf(&b, fmt, ap);
	(*list)[*count].line = line;
	(*list)[*count].seq = *count;
	(*list)[*count].text = xstrdup(buf_cstr(&b));
	(*count)++;
	buf_deinit(&b);
}

static void __attribute__((format(printf, 3, 4)))
conf_error(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vmsg(ctx, true, line, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
conf_warning(struct conf_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_vmsg(ctx, false, line, fmt, ap);
	va_end(ap);
}

static int
conf_msg_cmp(const void *a, const void *b)
{
	const struct conf_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* Sorted, one per line, capped; malloc'd.  Frees the list. */
static char *
conf_msgs_join(const char *name, struct conf_msg *list, size_t count)
{
	struct buf b;
	size_t i;
	char *ret;

	qsort(list, count, sizeof(*list), conf_msg_cmp);
	buf_init(&b, 0);
	for (i = 0; i < count; i++) {
		if (i < CONF_MAX_ERRORS)
			buf_printf(&b, "%s\n", list[i].text);
		free(list[i].text);
	}
	if (count > CONF_MAX_ERRORS)
		buf_printf(&b, "%s: %zu more not shown\n",
			   name != NULL ? name : "<defaults>",
			   count - CONF_MAX_ERRORS);
	free(list);
	ret = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return ret;
}

/* Quote a value from the file for an error line: control bytes become '?',
 * long values are cut with "...".  Returns a pointer into `out`. */
static const char *
conf_quote(const char *s, char *out, size_t outsize)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 4 < outsize; i++)
		out[n++] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (s[i] != '\0' && n + 4 <= outsize) {
		/* UNSAFE: n + 4 <= outsize leaves room for "..." and NUL */
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* ---- suggestions ---- */

/* Case-insensitive Levenshtein distance; names are short (inih caps them
 * at 49 bytes), longer inputs are compared on their first 63 bytes.  Stops
 * early with a result above `limit` once the distance must exceed it. */
static unsigned
conf_distance(const char *a, const char *b, unsigned limit)
{
	unsigned row[CONF_MAX_NAME];
	size_t la = strnlen(a, CONF_MAX_NAME - 1);
	size_t lb = strnlen(b, CONF_MAX_NAME - 1);
	size_t i, j;

	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		unsigned diag = row[0], row_min;

		row[0] = (unsigned)i;
		row_min = row[0];
		for (j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = tolower((unsigned char)a[i - 1]) ==
				tolower((unsigned char)b[j - 1]) ? 0 : 1;
			unsigned best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
			if (best < row_min)
				row_min = best;
		}
		if (row_min > limit)
			return limit + 1;
	}
	return row[lb];
}

/* Largest distance still worth suggesting for a name of `len` bytes. */
static unsigned
conf_max_distance(size_t len)
{
	return len / 3 > 2 ? (unsigned)(len / 3) : 2;
}

/* The known "section.key" nearest to what the file said, or -1.  A key that
 * exists verbatim in another section scores 2. */
static int
conf_suggest_key(const char *section, const char *name)
{
	char query[2 * CONF_MAX_NAME], cand[2 * CONF_MAX_NAME];
	unsigned limit = conf_max_distance(strlen(name) + strlen(section));
	unsigned best = limit + 1, d, dk;
	int best_k = -1, k;

	snprintf(query, sizeof(query), "%.*s.%.*s", CONF_MAX_NAME - 1,
		 section, CONF_MAX_NAME - 1, name);
	for (k = 0; k < K_COUNT; k++) {
		snprintf(cand, sizeof(cand), "%s.%s", conf_keys[k].section,
			 conf_keys[k].name);
		d = section[0] != '\0' ? conf_distance(query, cand, limit) :
			UINT32_MAX;
		dk = conf_distance(name, conf_keys[k].name, limit);
		if (section[0] != '\0')
			dk += 2;
		if (dk < d)
			d = dk;
		if (d < best) {
			best = d;
			best_k = k;
		}
	}
	return best_k;
}

static const char *
conf_suggest_section(const char *section)
{
	unsigned limit = conf_max_distance(strlen(section));
	unsigned best = limit + 1, d;
	const char *best_s = NULL;
	size_t i;

	for (i = 0; conf_sections[i] != NULL; i++) {
		d = conf_distance(section, conf_sections[i], limit);
		if (d < best) {
			best = d;
			best_s = conf_sections[i];
		}
	}
	return best_s;
}

static bool
conf_section_known(const char *section)
{
	size_t i;

	for (i = 0; conf_sections[i] != NULL; i++) {
		if (strcmp(conf_sections[i], section) == 0)
			return true;
	}
	return false;
}

/* ---- pass 1: inih glue ---- */

/* inih 55's find_chars_or_comment(): stop at one of `chars` or at an
 * inline comment (';' after whitespace). */
static const char *
conf_find_chars(const char *s, const char *chars)
{
	bool was_space = false;

	while (*s != '\0' && strchr(chars, *s) == NULL &&
	       !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s) != 0;
		s++;
	}
	return s;
}

static void
conf_unknown_section(struct conf_ctx *ctx, const char *start,
		     const char *end)
{
	char name[CONF_MAX_NAME], q[CONF_MAX_QUOTE + 8];
	size_t len = (size_t)(end - start);
	const char *hint;

	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, start, len);
	name[len] = '\0';
	if (conf_section_known(name)) {
		ctx->in_bad_section = false;
		return;
	}
	ctx->in_bad_section = true;
	hint = conf_suggest_section(name);
	conf_quote(name, q, sizeof(q));
	if (hint != NULL)
		conf_error(ctx, ctx->lineno,
			   "[%s]: unknown section; did you mean [%s]?", q, hint);
	else
		conf_error(ctx, ctx->lineno, "[%s]: unknown section "
			   "(known: [server], [imap], [tls], [auth])", q);
}

/* Classify the line the way inih will treat it.  `line` is what the reader
 * hands to inih. */
static void
conf_classify(struct conf_ctx *ctx, const char *line)
{
	const char *start = line, *end, *s;

	if (ctx->lineno == 1 && (unsigned char)start[0] == 0xEF &&
	    (unsigned char)start[1] == 0xBB && (unsigned char)start[2] == 0xBF)
		start += 3;
	while (isspace((unsigned char)*start))
		start++;
	if (*start == '\0' || *start == ';' || *start == '#') {
		ctx->line_class = CONF_LINE_BLANK;
		return;
	}
	if (ctx->inih_has_prev && start > line) {
		ctx->line_class = CONF_LINE_CONT;
		return;
	}
	if (*start == '[') {
		end = conf_find_chars(start + 1, "]");
		if (*end != ']') {
			/* inih keeps the previous section; its keys would be
			 * misfiled, so they wait until the header is fixed. */
			ctx->line_class = CONF_LINE_BAD_SECTION;
			ctx->in_broken_section = true;
			return;
		}
		ctx->line_class = CONF_LINE_SECTION;
		ctx->in_broken_section = false;
		ctx->inih_has_prev = false;
		ctx->cont_key = -1;
		conf_unknown_section(ctx, start + 1, end);
		return;
	}
	end = conf_find_chars(start, "=:");
	if (*end == '\0' || *end == ';') {
		ctx->line_class = CONF_LINE_BAD;
		return;
	}
	ctx->line_class = CONF_LINE_PAIR;
	for (s = end; s > start && isspace((unsigned char)s[-1]); s--)
		;
	ctx->inih_has_prev = s > start;
}

/* Called before each new line and at the end: report the previous line if
 * inih will have rejected it. */
static void
conf_line_done(struct conf_ctx *ctx)
{
	enum conf_line cls = ctx->line_class;

	ctx->line_class = CONF_LINE_NONE;
	switch (cls) {
	case CONF_LINE_BAD_SECTION:
		conf_error(ctx, ctx->lineno, "syntax error: section header "
			   "without closing ']'");
		break;
	case CONF_LINE_BAD:
		conf_error(ctx, ctx->lineno, "syntax error: expected "
			   "'key = value', '[section]' or a '#' comment");
		break;
	case CONF_LINE_PAIR:
	case CONF_LINE_CONT:
		if (!ctx->handler_called)
			conf_error(ctx, ctx->lineno, "syntax error");
		break;
	default:
		break;
	}
	ctx->handler_called = false;
}

/* ini_reader: one physical line per call, whatever its length. */
static char *
conf_reader(char *str, int num, void *stream)
{
	struct conf_ctx *ctx = stream;
	const char *nl;
	size_t len, content, limit;

	conf_line_done(ctx);
	if (*ctx->pos == '\0' || num < 4)
		return NULL;
	nl = strchr(ctx->pos, '\n');
	len = nl != NULL ? (size_t)(nl - ctx->pos) : strlen(ctx->pos);
	content = len;
	if (content > 0 && ctx->pos[content - 1] == '\r')
		content--;
	ctx->lineno++;
	/* inih needs room for "\r\n\0" after the text. */
	limit = (size_t)num - 3;
	if (content > limit) {
		conf_error(ctx, ctx->lineno, "line too long (over %zu bytes); "
			   "list values may continue on indented lines", limit);
		str[0] = '\n';
		str[1] = '\0';
		ctx->line_class = CONF_LINE_BLANK;
	} else {
		memcpy(str, ctx->pos, content);
		str[content] = '\n';
		str[content + 1] = '\0';
		conf_classify(ctx, str);
	}
	ctx->pos += nl != NULL ? len + 1 : len;
	return str;
}

static int
conf_find_key(const char *section, const char *name)
{
	int k;

	for (k = 0; k < K_COUNT; k++) {
		if (strcmp(conf_keys[k].section, section) == 0 &&
		    strcmp(conf_keys[k].name, name) == 0)
			return k;
	}
	return -1;
}

static void
conf_unknown_key(struct conf_ctx *ctx, const char *section, const char *name)
{
	char qs[CONF_MAX_QUOTE + 8], qn[CONF_MAX_QUOTE + 8];
	const char *what = "unknown key";
	const char *s;
	int k;

	conf_quote(section, qs, sizeof(qs));
	conf_quote(name, qn, sizeof(qn));
	if (name[0] == '\0') {
		conf_error(ctx, ctx->lineno, "syntax error: no key name before "
			   "'='");
		return;
	}
	for (s = name; *s != '\0'; s++) {
		if (isspace((unsigned char)*s)) {
			conf_error(ctx, ctx->lineno, "%s%s%s: key names have "
				   "no spaces (missing '='?)", qs,
				   qs[0] != '\0' ? "." : "", qn);
			return;
		}
	}
	if (section[0] == '\0')
		what = "key outside any [section]";
	else if (!conf_section_known(section))
		what = "key in unknown section";
	/* Pass 1 reports in line order, so past the cap nobody sees a hint. */
	k = ctx->nerrors < CONF_MAX_ERRORS ? conf_suggest_key(section, name) : -1;
	if (k >= 0)
		conf_error(ctx, ctx->lineno, "%s%s%s: %s; did you mean '%s.%s'?",
			   qs, qs[0] != '\0' ? "." : "", qn, what,
			   conf_keys[k].section, conf_keys[k].name);
	else
		conf_error(ctx, ctx->lineno, "%s%s%s: %s", qs,
			   qs[0] != '\0' ? "." : "", qn, what);
}

/* ini_handler: store the raw value in the key's slot.  Always returns 1:
 * problems are recorded here, so inih's return value only signals syntax
 * errors. */
static int
conf_handler(void *user, const char *section, const char *name,
	     const char *value)
{
	struct conf_ctx *ctx = user;
	const struct conf_key *key;
	struct conf_slot *slot;
	int k;

	ctx->handler_called = true;
	if (ctx->line_class == CONF_LINE_CONT) {
		if (ctx->cont_key < 0)
			return 1; /* the key's own line was already reported */
		key = &conf_keys[ctx->cont_key];
		slot = &ctx->slots[ctx->cont_key];
		if ((key->flags & CONF_F_LIST) == 0) {
			conf_error(ctx, ctx->lineno, "%s.%s: indented line "
				   "continues the value, but only lists may "
				   "span lines", key->section, key->name);
			ctx->cont_key = -1;
			return 1;
		}
		if (value[0] != '\0') {
			size_t a = strlen(slot->value), b = strlen(value);
			char *joined = xmalloc(a + b + 2);

			memcpy(joined, slot->value, a);
			joined[a] = ' ';
			memcpy(joined + a + 1, value, b + 1);
			free(slot->value);
			slot->value = joined;
		}
		return 1;
	}

	ctx->cont_key = -1;
	if ((ctx->in_bad_section && !conf_section_known(section)) ||
	    ctx->in_broken_section)
		return 1; /* its [section] line was already reported */
	k = conf_find_key(section, name);
	if (k < 0) {
		conf_unknown_key(ctx, section, name);
		return 1;
	}
	key = &conf_keys[k];
	slot = &ctx->slots[k];
	if (slot->value != NULL) {
		conf_error(ctx, ctx->lineno, "%s.%s: duplicate key (first set "
			   "on line %u)", key->section, key->name, slot->line);
		return 1;
	}
	slot->value = xstrdup(value);
	slot->line = ctx->lineno;
	ctx->cont_key = k;
	return 1;
}

static bool
conf_has_error_on(const struct conf_ctx *ctx, unsigned line)
{
	size_t i;

	for (i = 0; i < ctx->nerrors; i++) {
		if (ctx->errors[i].line == line)
			return true;
	}
	return false;
}

static void
conf_parse_text(struct conf_ctx *ctx, const char *text)
{
	int ret;

	ctx->pos = text;
	ctx->cont_key = -1;
	ret = ini_parse_stream(conf_reader, ctx, conf_handler, ctx);
	/* In case inih stopped early: settle the last line it saw. */
	conf_line_done(ctx);
	if (ret > 0 && !conf_has_error_on(ctx, (unsigned)ret))
		conf_error(ctx, (unsigned)ret, "syntax error");
	else if (ret < 0)
		conf_error(ctx, 0, "INI parser failed (%d)", ret);
}

/* ---- pass 2: values ---- */

static void
conf_store_uint(struct conf *conf, const struct conf_key *key, uint64_t v)
{
	void *field = (char *)conf + key->offset;

	if (key->size == sizeof(uint64_t)) {
		uint64_t x = v;

		memcpy(field, &x, sizeof(x));
	} else if (key->size == sizeof(unsigned)) {
		unsigned x = (unsigned)v; /* range table keeps this exact */

		memcpy(field, &x, sizeof(x));
	} else {
		abort(); /* a table entry names a field of another type */
	}
}

static void
conf_store_str(struct conf *conf, const struct conf_key *key, char *s)
{
	char **field = (char **)(void *)((char *)conf + key->offset);

	*field = s;
}

static char *
conf_fmt_size(uint64_t v, char *out, size_t outsize)
{
	if (v != 0 && v % GIB == 0)
		snprintf(out, outsize, "%lluG", (unsigned long long)(v / GIB));
	else if (v != 0 && v % MIB == 0)
		snprintf(out, outsize, "%lluM", (unsigned long long)(v / MIB));
	else if (v != 0 && v % KIB == 0)
		snprintf(out, outsize, "%lluk", (unsigned long long)(v / KIB));
	else
		snprintf(out, outsize, "%llu", (unsigned long long)v);
	return out;
}

/* "64k" -> 65536.  Suffixes are 1024-based; no sign, no spaces. */
static bool
conf_parse_size(const char *s, uint64_t *value_r)
{
	size_t digits = strspn(s, "0123456789");
	uint64_t v, mult;

	if (!str_to_u64(s, digits, UINT64_MAX, &v))
		return false;
	switch (s[digits]) {
	case '\0': mult = 1; break;
	case 'k': case 'K': mult = KIB; break;
	case 'm': case 'M': mult = MIB; break;
	case 'g': case 'G': mult = GIB; break;
	default: return false;
	}
	if (s[digits] != '\0' && s[digits + 1] != '\0')
		return false;
	if (__builtin_mul_overflow(v, mult, value_r))
		return false;
	return true;
}

static int
conf_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	size_t i;

	for (i = 0; yes[i] != NULL; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
	}
	for (i = 0; no[i] != NULL; i++) {
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

static int
conf_choice(const char *const *choices, const char *s)
{
	int i;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcasecmp(choices[i], s) == 0)
			return i;
	}
	return -1;
}

static void
conf_choices_text(const char *const *choices, struct buf *b)
{
	size_t i;

	for (i = 0; choices[i] != NULL; i++)
		buf_printf(b, "%s%s", i > 0 ? ", " : "", choices[i]);
}

/* host:port with host an IPv4 literal, [IPv6 literal], "*" or "localhost"
 * (what net_parse_addr() binds).  Port 0 asks for an ephemeral port. */
static int
conf_check_addr(const char *a, const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char tmp[sizeof(struct in6_addr)];
	const char *port_s, *end;
	size_t hlen;
	uint64_t port;
	bool is_v6 = a[0] == '[';

	if (is_v6) {
		end = strchr(a, ']');
		if (end == NULL) {
			*error_r = "missing ']' after the IPv6 address";
			return -1;
		}
		if (end[1] != ':') {
			*error_r = "expected [IPv6]:PORT";
			return -1;
		}
		hlen = (size_t)(end - a - 1);
		port_s = end + 2;
		a++;
	} else {
		end = strrchr(a, ':');
		if (end == NULL) {
			*error_r = "expected HOST:PORT";
			return -1;
		}
		hlen = (size_t)(end - a);
		port_s = end + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = is_v6 ? "invalid IPv6 address" :
			"host must be an IPv4 address, [IPv6], * or localhost";
		return -1;
	}
	memcpy(host, a, hlen);
	host[hlen] = '\0';
	if (is_v6) {
		if (inet_pton(AF_INET6, host, tmp) != 1) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
	} else if (strcmp(host, "*") != 0 && strcmp(host, "localhost") != 0 &&
		   inet_pton(AF_INET, host, tmp) != 1) {
		*error_r = "host must be an IPv4 address, [IPv6], * or localhost";
		return -1;
	}
	if (!str_to_u64z(port_s, 65535, &port)) {
		*error_r = "port must be a number 0..65535";
		return -1;
	}
	return 0;
}

/* Comma- and/or space-separated; "" = no listener. */
static int
conf_parse_listen(struct conf_ctx *ctx, const struct conf_key *key,
		  unsigned line, const char *value, struct conf_listen *out)
{
	const char *p = value, *tok, *error;
	char q[CONF_MAX_QUOTE + 8];
	char *addr;
	size_t len, i;
	bool need_item = false;
	int ret = 0;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == ',') {
			if (need_item || *p == ',') {
				conf_error(ctx, line, "%s.%s: empty address in "
					   "the list", key->section, key->name);
				return -1;
			}
			break;
		}
		tok = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		len = (size_t)(p - tok);
		addr = xstrndup(tok, len);
		while (isspace((unsigned char)*p))
			p++;
		need_item = *p == ',';
		if (need_item)
			p++;
		if (conf_check_addr(addr, &error) < 0) {
			conf_error(ctx, line, "%s.%s: '%s': %s", key->section,
				   key->name, conf_quote(addr, q, sizeof(q)),
				   error);
			free(addr);
			ret = -1;
			continue;
		}
		for (i = 0; i < out->count; i++) {
			if (strcmp(out->addrs[i], addr) == 0)
				break;
		}
		if (i < out->count) {
			conf_error(ctx, line, "%s.%s: '%s' is listed twice",
				   key->section, key->name,
				   conf_quote(addr, q, sizeof(q)));
			free(addr);
			ret = -1;
			continue;
		}
		if (out->count == CONF_MAX_LISTEN) {
			conf_error(ctx, line, "%s.%s: more than %d addresses",
				   key->section, key->name, CONF_MAX_LISTEN);
			free(addr);
			return -1;
		}
		out->addrs[out->count++] = addr;
	}
	return ret;
}

static int
conf_parse_mechs(struct conf_ctx *ctx, const struct conf_key *key,
		 unsigned line, const char *value, char **out_r)
{
	const char *p = value, *tok;
	char word[CONF_MAX_QUOTE + 8], q[CONF_MAX_QUOTE + 8];
	bool seen[8] = { false };
	struct buf b, allowed;
	size_t len;
	int i, ret = 0;

	buf_init(&b, 0);
	for (;;) {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		tok = p;
		while (*p != '\0' && *p != ',' && !isspace((unsigned char)*p))
			p++;
		len = (size_t)(p - tok);
		if (len >= sizeof(word))
			len = sizeof(word) - 1;
		memcpy(word, tok, len);
		word[len] = '\0';
		i = conf_choice(key->choices, word);
		if (i < 0) {
			buf_init(&allowed, 0);
			conf_choices_text(key->choices, &allowed);
			conf_error(ctx, line, "%s.%s: unknown mechanism '%s' "
				   "(allowed: %s)", key->section, key->name,
				   conf_quote(word, q, sizeof(q)),
				   buf_cstr(&allowed));
			buf_deinit(&allowed);
			ret = -1;
			continue;
		}
		if (seen[i]) {
			conf_error(ctx, line, "%s.%s: '%s' is listed twice",
				   key->section, key->name, key->choices[i]);
			ret = -1;
			continue;
		}
		seen[i] = true;
		buf_printf(&b, "%s%s", b.len > 0 ? " " : "", key->choices[i]);
	}
	if (ret == 0 && b.len == 0) {
		conf_error(ctx, line, "%s.%s: at least one mechanism is needed "
			   "(PLAIN, LOGIN, SCRAM-SHA-256)", key->section,
			   key->name);
		ret = -1;
	}
	if (ret == 0)
		*out_r = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return ret;
}

/* POSIX portable user names, as useradd accepts them. */
static bool
conf_valid_user(const char *s)
{
	size_t i;

	if (s[0] == '-' || strlen(s) > 32)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return false;
	}
	return true;
}

static char *
conf_resolve_path(const struct conf_ctx *ctx, const char *value)
{
	struct buf b;
	size_t blen;
	char *ret;

	if (value[0] == '/' || value[0] == '\0' || ctx->base_dir == NULL)
		return xstrdup(value);
	while (value[0] == '.' && value[1] == '/') {
		value += 2;
		while (value[0] == '/')
			value++;
	}
	blen = strlen(ctx->base_dir);
	buf_init(&b, 0);
	buf_printf(&b, "%s%s%s", ctx->base_dir,
		   blen > 0 && ctx->base_dir[blen - 1] == '/' ? "" : "/", value);
	ret = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return ret;
}

/* Parse one key's text into conf; errors name `line` (0 = the default). */
static void
conf_apply(struct conf_ctx *ctx, struct conf *conf, int k)
{
	const struct conf_key *key = &conf_keys[k];
	const struct conf_slot *slot = &ctx->slots[k];
	const char *value = slot->value != NULL ? slot->value : key->def;
	unsigned line = slot->value != NULL ? slot->line : 0;
	char q[CONF_MAX_QUOTE + 8], lo[32], hi[32];
	struct buf b;
	uint64_t v;
	bool flag;
	int i;

	conf_quote(value, q, sizeof(q));
	switch (key->type) {
	case CONF_T_STR:
		conf_store_str(conf, key, xstrdup(value));
		break;
	case CONF_T_USER:
		if (!conf_valid_user(value)) {
			conf_error(ctx, line, "%s.%s: '%s' is not a valid user "
				   "name (letters, digits, '.', '_', '-'; "
				   "\"\" = stay root)", key->section, key->name,
				   q);
			break;
		}
		conf_store_str(conf, key, xstrdup(value));
		break;
	case CONF_T_PATH:
		if (value[0] == '\0' && (key->flags & CONF_F_EMPTY_OK) == 0) {
			conf_error(ctx, line, "%s.%s: must not be empty",
				   key->section, key->name);
			break;
		}
		conf_store_str(conf, key, conf_resolve_path(ctx, value));
		break;
	case CONF_T_UINT:
		if (!str_to_u64z(value, UINT64_MAX, &v) || v < key->min ||
		    v > key->max) {
			conf_error(ctx, line, "%s.%s: '%s' is not a number in "
				   "%llu..%llu", key->section, key->name, q,
				   (unsigned long long)key->min,
				   (unsigned long long)key->max);
			break;
		}
		conf_store_uint(conf, key, v);
		break;
	case CONF_T_SIZE:
		if (!conf_parse_size(value, &v) || v < key->min ||
		    v > key->max) {
			conf_error(ctx, line, "%s.%s: '%s' is not a size in "
				   "%s..%s (bytes; suffixes k, M, G are "
				   "1024-based)", key->section, key->name, q,
				   conf_fmt_size(key->min, lo, sizeof(lo)),
				   conf_fmt_size(key->max, hi, sizeof(hi)));
			break;
		}
		conf_store_uint(conf, key, v);
		break;
	case CONF_T_BOOL:
		if (conf_parse_bool(value, &flag) < 0) {
			conf_error(ctx, line, "%s.%s: '%s' is not a boolean "
				   "(yes, no, true, false, on, off, 1, 0)",
				   key->section, key->name, q);
			break;
		}
		memcpy((char *)conf + key->offset, &flag, sizeof(flag));
		break;
	case CONF_T_ENUM:
	case CONF_T_LOG:
		i = conf_choice(key->choices, value);
		if (i < 0) {
			buf_init(&b, 0);
			conf_choices_text(key->choices, &b);
			conf_error(ctx, line, "%s.%s: '%s' is not one of: %s",
				   key->section, key->name, q, buf_cstr(&b));
			buf_deinit(&b);
			break;
		}
		if (key->type == CONF_T_LOG) {
			flag = i == 1;
			memcpy((char *)conf + key->offset, &flag, sizeof(flag));
		} else {
			conf_store_str(conf, key, xstrdup(key->choices[i]));
		}
		break;
	case CONF_T_LISTEN:
		conf_parse_listen(ctx, key, line, value, (struct conf_listen *)
				  (void *)((char *)conf + key->offset));
		break;
	case CONF_T_MECHS: {
		char *mechs = NULL;

		if (conf_parse_mechs(ctx, key, line, value, &mechs) == 0)
			conf_store_str(conf, key, mechs);
		break;
	}
	}
}

/* ---- pass 3: cross-field checks ---- */

/* Which of two keys to blame: the first one the file sets. */
static int
conf_pick(const struct conf_ctx *ctx, int a, int b)
{
	if (ctx->slots[a].value != NULL)
		return a;
	if (ctx->slots[b].value != NULL)
		return b;
	return a;
}

static void
conf_listen_clear(struct conf_listen *l)
{
	size_t i;

	for (i = 0; i < l->count; i++) {
		free(l->addrs[i]);
		l->addrs[i] = NULL;
	}
	l->count = 0;
}

static void
conf_cross_check(struct conf_ctx *ctx, struct conf *conf)
{
	bool has_cert = conf->tls_cert != NULL && conf->tls_cert[0] != '\0';
	bool has_key = conf->tls_key != NULL && conf->tls_key[0] != '\0';
	const struct conf_slot *s;
	size_t i, j;
	int k;

	if (has_cert && !has_key)
		conf_error(ctx, ctx->slots[K_TLS_CERT].line, "tls.cert: set "
			   "without tls.key (both are needed)");
	if (has_key && !has_cert)
		conf_error(ctx, ctx->slots[K_TLS_KEY].line, "tls.key: set "
			   "without tls.cert (both are needed)");

	/* listen_tls defaults to port 993 only when there is a certificate;
	 * a file that asks for it explicitly without one is an error. */
	if (conf->imaps_listen.count > 0 && !(has_cert && has_key)) {
		s = &ctx->slots[K_LISTEN_TLS];
		if (s->value != NULL)
			conf_error(ctx, s->line, "imap.listen_tls: needs tls.cert "
				   "and tls.key (or set listen_tls empty)");
		conf_listen_clear(&conf->imaps_listen);
	}

	for (i = 0; i < conf->imaps_listen.count; i++) {
		for (j = 0; j < conf->imap_listen.count; j++) {
			size_t alen = strlen(conf->imaps_listen.addrs[i]);

			if (strcmp(conf->imaps_listen.addrs[i],
				   conf->imap_listen.addrs[j]) != 0)
				continue;
			/* Port 0 picks a free port per listener: no clash. */
			if (alen >= 2 &&
			    strcmp(conf->imaps_listen.addrs[i] + alen - 2, ":0") == 0)
				continue;
			k = conf_pick(ctx, K_LISTEN_TLS, K_LISTEN);
			conf_error(ctx, ctx->slots[k].line, "imap.%s: '%s' is in "
				   "both imap.listen and imap.listen_tls",
				   conf_keys[k].name, conf->imaps_listen.addrs[i]);
		}
	}

	if (!ctx->failed[K_MAX_LITERAL_SIZE] && !ctx->failed[K_MAX_COMMAND_SIZE] &&
	    conf->max_literal_size > conf->max_command_size) {
		k = conf_pick(ctx, K_MAX_LITERAL_SIZE, K_MAX_COMMAND_SIZE);
		conf_error(ctx, ctx->slots[k].line, "imap.%s: max_literal_size "
			   "(%llu) exceeds max_command_size (%zu)",
			   conf_keys[k].name,
			   (unsigned long long)conf->max_literal_size,
			   conf->max_command_size);
	}
	if (!ctx->failed[K_MAX_LINE_LENGTH] && !ctx->failed[K_MAX_COMMAND_SIZE] &&
	    conf->max_line_length > conf->max_command_size) {
		k = conf_pick(ctx, K_MAX_LINE_LENGTH, K_MAX_COMMAND_SIZE);
		conf_error(ctx, ctx->slots[k].line, "imap.%s: max_line_length "
			   "(%zu) exceeds max_command_size (%zu)",
			   conf_keys[k].name, conf->max_line_length,
			   conf->max_command_size);
	}
	if (!ctx->failed[K_FAILURE_DELAY_MS] &&
	    !ctx->failed[K_FAILURE_DELAY_MAX_MS] &&
	    conf->failure_delay_ms > conf->failure_delay_max_ms) {
		k = conf_pick(ctx, K_FAILURE_DELAY_MS, K_FAILURE_DELAY_MAX_MS);
		conf_error(ctx, ctx->slots[k].line, "auth.%s: failure_delay_ms "
			   "(%u) exceeds failure_delay_max_ms (%u)",
			   conf_keys[k].name, conf->failure_delay_ms,
			   conf->failure_delay_max_ms);
	}
	if (conf->timeout_auth < CONF_RFC_MIN_TIMEOUT_AUTH &&
	    ctx->slots[K_TIMEOUT_AUTH].value != NULL)
		conf_warning(ctx, ctx->slots[K_TIMEOUT_AUTH].line,
			     "imap.timeout_auth: %u seconds is below the "
			     "30 minutes RFC 9051 section 5.4 requires; idle "
			     "clients will be logged out early",
			     conf->timeout_auth);
}

/* ---- driver ---- */

static void
conf_ctx_deinit(struct conf_ctx *ctx)
{
	size_t i;

	for (i = 0; i < K_COUNT; i++)
		free(ctx->slots[i].value);
	for (i = 0; i < ctx->nerrors; i++)
		free(ctx->errors[i].text);
	free(ctx->errors);
	for (i = 0; i < ctx->nwarnings; i++)
		free(ctx->warnings[i].text);
	free(ctx->warnings);
	free(ctx->base_dir);
}

/* Passes 2 and 3 over what pass 1 collected; the ctx is consumed. */
static int
conf_finish(struct conf_ctx *ctx, struct conf **conf_r, char **errors_r)
{
	struct conf *conf = xmalloc(sizeof(*conf));
	int k;

	if (ctx->name != NULL)
		conf->path = xstrdup(ctx->name);
	for (k = 0; k < K_COUNT; k++) {
		size_t before = ctx->nerrors;

		conf_apply(ctx, conf, k);
		ctx->failed[k] = ctx->nerrors > before;
	}
	conf_cross_check(ctx, conf);
	if (ctx->nerrors > 0) {
		*errors_r = conf_msgs_join(ctx->name, ctx->errors, ctx->nerrors);
		ctx->errors = NULL;
		ctx->nerrors = 0;
		conf_free(&conf);
		conf_ctx_deinit(ctx);
		return -1;
	}
	if (ctx->nwarnings > 0) {
		conf->warnings = conf_msgs_join(ctx->name, ctx->warnings,
						ctx->nwarnings);
		ctx->warnings = NULL;
		ctx->nwarnings = 0;
	}
	conf_ctx_deinit(ctx);
	*conf_r = conf;
	return 0;
}

struct conf *
conf_new_defaults(void)
{
	struct conf_ctx ctx;
	struct conf *conf = NULL;
	char *errors = NULL;

	memset(&ctx, 0, sizeof(ctx));
	if (conf_finish(&ctx, &conf, &errors) < 0) {
		/* The built-in table contradicts itself: a bug, not input. */
		fprintf(stderr, "conf: bad built-in defaults:\n%s", errors);
		abort();
	}
	return conf;
}

/* Directory part of `name`, or NULL when it has none. */
static char *
conf_dirname(const char *name)
{
	const char *slash = strrchr(name, '/');

	if (slash == NULL)
		return NULL;
	if (slash == name)
		return xstrdup("/");
	return xstrndup(name, (size_t)(slash - name));
}

static int
conf_load_text(const char *name, char *base_dir, const char *text,
	       struct conf **conf_r, char **errors_r)
{
	struct conf_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.name = name != NULL ? name : "<string>";
	ctx.base_dir = base_dir;
	conf_parse_text(&ctx, text);
	return conf_finish(&ctx, conf_r, errors_r);
}

int
conf_load_string(const char *name, const char *text, struct conf **conf_r,
		 char **errors_r)
{
	return conf_load_text(name, name != NULL ? conf_dirname(name) : NULL,
			      text, conf_r, errors_r);
}

static char *
conf_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
conf_errorf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	char *ret;

	buf_init(&b, 0);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ret = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return ret;
}

/* Whole file into a NUL-terminated string; 0 or -1 with *errors_r set. */
static int
conf_read_file(const char *path, char **text_r, char **errors_r)
{
	struct stat st;
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*errors_r = conf_errorf("%s: open: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*errors_r = conf_errorf("%s: not a regular file\n", path);
		close(fd);
		return -1;
	}
	buf_init(&b, CONF_MAX_FILE_SIZE);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*errors_r = conf_errorf("%s: read: %s\n", path,
						strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			*errors_r = conf_errorf("%s: larger than %d bytes; not "
						"a settings file?\n", path,
						CONF_MAX_FILE_SIZE);
			n = -1;
			break;
		}
	}
	close(fd);
	if (n < 0) {
		buf_deinit(&b);
		return -1;
	}
	if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
		const uint8_t *nul = memchr(b.data, '\0', b.len);
		unsigned line = 1;
		const uint8_t *p;

		for (p = b.data; p < nul; p++)
			line += *p == '\n';
		*errors_r = conf_errorf("%s:%u: NUL byte; not a text file?\n",
					path, line);
		buf_deinit(&b);
		return -1;
	}
	*text_r = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	return 0;
}

/* Absolute directory of `path`, for resolving relative settings even after
 * the daemon changes directory. */
static char *
conf_abs_dirname(const char *path)
{
	char *dir = conf_dirname(path), *cwd, *ret;

	if (dir != NULL && dir[0] == '/')
		return dir;
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		return dir; /* best effort: keep them relative */
	if (dir == NULL)
		return cwd;
	ret = conf_errorf("%s/%s", cwd, dir);
	free(cwd);
	free(dir);
	return ret;
}

int
conf_load(const char *path, struct conf **conf_r, char **errors_r)
{
	char *text = NULL;
	int ret;

	if (conf_read_file(path, &text, errors_r) < 0)
		return -1;
	ret = conf_load_text(path, conf_abs_dirname(path), text, conf_r,
			     errors_r);
	free(text);
	return ret;
}

void
conf_free(struct conf **confp)
{
	struct conf *conf = *confp;

	if (conf == NULL)
		return;
	free(conf->path);
	free(conf->user);
	free(conf->data_dir);
	free(conf->log_level);
	conf_listen_clear(&conf->imap_listen);
	conf_listen_clear(&conf->imaps_listen);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->tls_min_version);
	free(conf->tls_ciphers);
	free(conf->tls_ciphersuites);
	free(conf->autocreate);
	free(conf->passwd_file);
	free(conf->default_scheme);
	free(conf->mechanisms);
	free(conf->warnings);
	free(conf);
	*confp = NULL;
}
