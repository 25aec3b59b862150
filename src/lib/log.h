/* log: one line per event, to stderr or syslog, written with a single
 * write(2) so lines from worker threads never interleave.  Lines are
 * key=value fields (sess=3f2a user=bob cmd=LOGIN result=ok).  Never pass
 * passwords, SASL payloads or message content here; run untrusted text
 * through log_sanitize() first. */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
};

/* Called once at startup, before threads start. */
void log_setup(bool use_syslog, enum log_level min_level);
bool log_level_parse(const char *name, enum log_level *level_r);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_fatal(...) log_msg(LOG_LEVEL_FATAL, __VA_ARGS__)

/* Copy untrusted bytes into out (size outsize, always NUL-terminated):
 * control bytes, spaces, quotes and backslashes become '?' (so the result
 * is one token in a key=value line), at most outsize-1 bytes, with "..."
 * marking a cut.  Returns out. */
char *log_sanitize(char *out, size_t outsize, const void *data, size_t len);

#endif
