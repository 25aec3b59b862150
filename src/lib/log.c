/* log: line-oriented logging to stderr or syslog; see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Set once at startup before any worker thread exists; read-only after. */
static bool log_to_syslog;
static enum log_level log_min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	"debug", "info", "warn", "error", "fatal",
};

void
log_setup(bool use_syslog, enum log_level min_level)
{
	log_to_syslog = use_syslog;
	log_min_level = min_level;
	if (use_syslog)
		openlog("satchel", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

bool
log_level_parse(const char *name, enum log_level *level_r)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return true;
		}
	}
	return false;
}

bool
log_enabled(enum log_level level)
{
	return level >= log_min_level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR,
				    LOG_CRIT };
	char line[2048];
	size_t off = 0;
	int n;
	va_list ap;
	int saved_errno = errno;

	if (level < log_min_level)
		return;
	if (!log_to_syslog) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s: ",
			     ts.tv_nsec / 1000000, level_names[level]);
		if (n > 0)
			off += (size_t)n;
	}
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line) - off - 1) {
		/* Truncated: say so rather than cut silently. */
		off = sizeof(line) - 5;
		memcpy(line + off - 3, "...", 3);
	} else {
		off += (size_t)n;
	}
	if (log_to_syslog) {
		line[off] = '\0';
		syslog(prio[level], "%s", line);
	} else {
		line[off++] = '\n';
		if (write(STDERR_FILENO, line, off) < 0) {
			/* nothing sensible to do */
		}
	}
	errno = saved_errno;
}

char *
log_sanitize(char *out, size_t outsize, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i, o = 0;

	if (outsize == 0)
		return out;
	for (i = 0; i < len && o + 1 < outsize; i++) {
		unsigned char c = p[i];

		if (c < 0x21 || c == 0x7f || c == '"' || c == '\\' || c == '=')
			c = '?';
		out[o++] = (char)c;
	}
	if (i < len && outsize > 4) {
		o = o > outsize - 4 ? outsize - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
