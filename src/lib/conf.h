/* conf: the settings file (INI, parsed with libinih) and the read-only
 * settings struct built from it.  conf_load() reports every problem in the
 * file at once (file:line, key, reason; an unknown key names the closest
 * known one) and never returns a half-filled struct: either all is valid or
 * the caller refuses to start.  After startup the struct is read-only and
 * shared by all threads; SIGHUP builds a fresh one. */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_MAX_LISTEN 8 /* addresses per listener kind */

struct conf_listen {
	char *addrs[CONF_MAX_LISTEN]; /* "127.0.0.1:143", "[::]:143", "*:143" */
	size_t count;
};

struct conf {
	char *path; /* file it came from, or NULL for built-in defaults */

	/* [server] */
	char *user;          /* system user to drop to after binding; "" = don't */
	char *data_dir;      /* base of user homes (<data_dir>/users/<name>) */
	unsigned workers;    /* 0 = number of cores */
	bool log_syslog;     /* log = syslog | stderr */
	char *log_level;     /* debug|info|warn|error */
	unsigned max_connections; /* whole server */

	/* [imap] */
	struct conf_listen imap_listen;  /* plaintext + STARTTLS */
	struct conf_listen imaps_listen; /* implicit TLS (RFC 8314) */
	size_t max_line_length;    /* bytes of one command line */
	uint64_t max_literal_size; /* bytes of one literal */
	size_t max_command_size;   /* all lines + literals of one command */
	unsigned max_list_depth;   /* parenthesized list nesting */
	unsigned max_args;         /* arguments (tokens) per command */
	unsigned max_pipelined;    /* queued commands per connection */
	unsigned timeout_preauth;  /* seconds before authentication */
	unsigned timeout_auth;     /* seconds idle after authentication */
	size_t output_high_water;  /* bytes queued before we stop producing */
	char *autocreate;          /* "Name \\Use, ..." made at first login */

	/* [tls] */
	char *tls_cert;          /* PEM chain */
	char *tls_key;           /* PEM key */
	char *tls_min_version;   /* TLSv1.2 | TLSv1.3 */
	char *tls_ciphers;       /* TLS <= 1.2 cipher list ("" = OpenSSL default) */
	char *tls_ciphersuites;  /* TLS 1.3 suites ("" = OpenSSL default) */

	/* [auth] */
	char *passwd_file;            /* Dovecot-format passwd-file */
	bool allow_plaintext;         /* LOGIN/AUTH on non-TLS non-loopback */
	bool loopback_is_secure;      /* loopback counts as secure (default yes) */
	bool allow_plain_scheme;      /* accept {PLAIN} stored passwords */
	char *default_scheme;         /* for `satchel user add` / `pw hash` */
	char *mechanisms;             /* space separated: PLAIN LOGIN SCRAM-SHA-256 */
	unsigned failure_delay_ms;    /* first failed login's delay */
	unsigned failure_delay_max_ms;/* cap of the doubling delay */
	unsigned ip_failure_limit;    /* failures per IP in the window ... */
	unsigned user_failure_limit;  /* ... and per user name */
	unsigned failure_window;      /* seconds */
	unsigned max_auth_attempts;   /* per connection, then BYE */

	/* Added by conf.c: problems worth a log line that do not stop the
	 * load ("FILE:LINE: key: reason\n" each), or NULL.  Owned. */
	char *warnings;
};

/* Built-in defaults (what satchel.conf.example documents). */
struct conf *conf_new_defaults(void);

/* Parse `path` over the defaults.  Returns 0 and *conf_r on success.  On
 * failure returns -1, *conf_r untouched, and writes one line per problem
 * ("FILE:LINE: key: reason") to *errors_r (malloc'd, caller frees). */
int conf_load(const char *path, struct conf **conf_r, char **errors_r);

/* Same, but from an in-memory string (for tests and the fuzzer);
 * `name` is used in error lines in place of a file name, and relative paths
 * resolve against its directory part (kept relative if it has none). */
int conf_load_string(const char *name, const char *text, struct conf **conf_r,
		     char **errors_r);

void conf_free(struct conf **conf);

#endif
