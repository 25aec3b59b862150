/* maildir-dovecot: read-only parsers for the files Dovecot keeps in a
 * Maildir (dovecot-uidlist, dovecot-keywords, subscriptions) so an
 * existing Dovecot Maildir is served in place with its UIDs, keywords and
 * subscriptions.  Formats as Dovecot 2.3.19 writes them (see maildir.h).
 * Everything is bounded: line length, entry counts, strict numbers; a file
 * that breaks a rule is refused as a whole rather than half-trusted.
 * Non-goals: writing these files or taking Dovecot's dotlocks (we only
 * read them once, when our index is built). */
#include "maildir.h"
#include "maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "strnum.h"
#include "xalloc.h"

/* Bounded line reader: lines end in '\n', may not exceed
 * MAILDIR_CTL_MAX_LINE bytes or hold NUL, and the file must end in '\n'
 * (a missing one means a truncated write). */
struct line_reader {
	int fd;
	const char *path;
	char *buf; /* owned, MAILDIR_CTL_MAX_LINE + 1 */
	size_t start, end;
	bool eof;
	unsigned lineno;
};

/* 1 with a NUL-terminated line (no '\n') valid until the next call, 0 at
 * the end, -1 with *error_r. */
static int
line_next(struct line_reader *r, char **line_r, const char **error_r)
{
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		if (nl != NULL) {
			*nl = '\0';
			*line_r = r->buf + r->start;
			r->start = (size_t)(nl - r->buf) + 1;
			r->lineno++;
			if (strlen(*line_r) != (size_t)(nl - *line_r)) {
				*error_r = "NUL byte in file";
				return -1;
			}
			return 1;
		}
		if (r->eof) {
			if (r->start == r->end)
				return 0;
			r->lineno++;
			*error_r = "File doesn't end with a newline";
			return -1;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end >= MAILDIR_CTL_MAX_LINE) {
			r->lineno++;
			*error_r = "Line too long";
			return -1;
		}
		n = read(r->fd, r->buf + r->end, MAILDIR_CTL_MAX_LINE - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("read(%s): %s", r->path, strerror(errno));
			*error_r = "Read error";
			return -1;
		}
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
	}
}

static int
reader_open(struct line_reader *r, const char *path, enum store_error *err_r,
	    const char **error_r)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (r->fd < 0)
		return maildir_sys_fail("open", path, errno, STORE_ERR_NOTFOUND, err_r,
				error_r);
	r->buf = xmalloc(MAILDIR_CTL_MAX_LINE + 1);
	return 0;
}

static void
reader_close(struct line_reader *r)
{
	close(r->fd);
	free(r->buf);
}

/* Log why a control file was refused and fill the outputs. */
static int
ctl_refuse(const struct line_reader *r, const char *why,
	   enum store_error *err_r, const char **error_r)
{
	log_warn("maildir: refusing %s line %u: %s", r->path, r->lineno, why);
	return maildir_set_err(err_r, STORE_ERR_TEMP, error_r, why);
}

/* Split off the next ' '-separated token of *p. */
static char *
next_token(char **p)
{
	char *tok = *p, *sp;

	if (tok == NULL)
		return NULL;
	sp = strchr(tok, ' ');
	if (sp == NULL) {
		*p = NULL;
	} else {
		*sp = '\0';
		*p = sp + 1;
	}
	return tok;
}

static int
parse_uidlist_header(char *line, struct maildir_uidlist_header *hdr,
		     const char **why_r)
{
	char *p = line, *tok, *version = next_token(&p);
	bool have_v = false, have_n = false;

	memset(hdr, 0, sizeof(*hdr));
	if (version == NULL || version[0] == '\0') {
		*why_r = "Missing header";
		return -1;
	}
	if (strcmp(version, "1") == 0) {
		char *v = next_token(&p), *n = next_token(&p);

		hdr->version = 1;
		if (v == NULL || n == NULL || p != NULL ||
		    !str_to_u32(v, strlen(v), &hdr->uidvalidity) ||
		    !str_to_u32(n, strlen(n), &hdr->nextuid)) {
			*why_r = "Bad version 1 header";
			return -1;
		}
	} else if (strcmp(version, "3") == 0) {
		hdr->version = 3;
		while ((tok = next_token(&p)) != NULL) {
			size_t len = strlen(tok);

			if (len == 0) {
				*why_r = "Empty header field";
				return -1;
			}
			switch (tok[0]) {
			case 'V':
				if (have_v || !str_to_u32(tok + 1, len - 1,
							  &hdr->uidvalidity)) {
					*why_r = "Bad V header field";
					return -1;
				}
				have_v = true;
				break;
			case 'N':
				if (have_n || !str_to_u32(tok + 1, len - 1,
							  &hdr->nextuid)) {
					*why_r = "Bad N header field";
					return -1;
				}
				have_n = true;
				break;
			case 'G':
				if (len - 1 >= sizeof(hdr->guid) ||
				    strspn(tok + 1, "0123456789abcdefABCDEF") !=
				    len - 1) {
					*why_r = "Bad G header field";
					return -1;
				}
				memcpy(hdr->guid, tok + 1, len - 1);
				hdr->guid[len - 1] = '\0';
				break;
			default:
				break; /* other extensions: ignore */
			}
		}
		if (!have_v || !have_n) {
			*why_r = "Header lacks V or N";
			return -1;
		}
	} else {
		*why_r = "Unsupported uidlist version";
		return -1;
	}
	if (hdr->uidvalidity == 0) {
		*why_r = "UIDVALIDITY is 0";
		return -1;
	}
	return 0;
}

int
maildir_uidlist_read(const char *root, const char *dir,
		     struct maildir_uidlist_header *hdr_r,
		     int (*cb)(uint32_t uid, const char *fname, void *ctx),
		     void *ctx, enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];
	struct line_reader r;
	struct maildir_filename fn;
	const char *why = NULL;
	char *line, *p, *tok, *fname;
	uint32_t uid, last = 0;
	unsigned long entries = 0;
	int ret;

	memset(hdr_r, 0, sizeof(*hdr_r));
	if (!maildir_dir_ok(dir, true))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, "dovecot-uidlist",
			NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	if (reader_open(&r, path, err_r, error_r) < 0)
		return -1;
	ret = line_next(&r, &line, &why);
	if (ret <= 0 || parse_uidlist_header(line, hdr_r, &why) < 0) {
		ret = ctl_refuse(&r, ret == 0 ? "Missing header" : why, err_r,
				 error_r);
		goto out;
	}
	while ((ret = line_next(&r, &line, &why)) > 0) {
		p = line;
		tok = next_token(&p);
		if (tok == NULL || !str_to_u32(tok, strlen(tok), &uid) ||
		    uid == 0) {
			ret = ctl_refuse(&r, "Bad uid", err_r, error_r);
			goto out;
		}
		if (uid <= last) {
			ret = ctl_refuse(&r, "Uids not increasing", err_r,
					 error_r);
			goto out;
		}
		last = uid;
		fname = NULL;
		if (hdr_r->version == 1) {
			fname = p;
		} else {
			/* "<uid> [<ext> ...] :<fname>": the file name is
			 * everything after the ':' and may hold spaces. */
			while (p != NULL && p[0] != ':')
				(void)next_token(&p);
			if (p != NULL)
				fname = p + 1;
		}
		if (fname == NULL ||
		    maildir_filename_parse(fname, strlen(fname), &fn) < 0) {
			ret = ctl_refuse(&r, "Bad file name", err_r, error_r);
			goto out;
		}
		if (++entries > MAILDIR_UIDLIST_MAX_ENTRIES) {
			ret = ctl_refuse(&r, "Too many entries", err_r,
					 error_r);
			goto out;
		}
		if (cb(uid, fname, ctx) < 0) {
			ret = maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				      "Read stopped");
			goto out;
		}
	}
	if (ret < 0) {
		ret = ctl_refuse(&r, why, err_r, error_r);
		goto out;
	}
	if (last != UINT32_MAX && hdr_r->nextuid <= last)
		hdr_r->nextuid = last + 1;
	ret = 0;
out:
	reader_close(&r);
	return ret;
}

int
maildir_keywords_read(const char *root, const char *dir,
		      int (*cb)(unsigned idx, const char *name, void *ctx),
		      void *ctx, enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];
	struct line_reader r;
	const char *why = NULL;
	char *line, *sp, *name;
	uint64_t idx;
	uint32_t seen = 0;
	size_t i, len;
	int ret;

	if (!maildir_dir_ok(dir, true))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, "dovecot-keywords",
			NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	if (reader_open(&r, path, err_r, error_r) < 0)
		return -1;
	while ((ret = line_next(&r, &line, &why)) > 0) {
		sp = strchr(line, ' ');
		if (sp == NULL ||
		    !str_to_u64(line, (size_t)(sp - line),
				MAILDIR_KEYWORDS_MAX - 1, &idx)) {
			ret = ctl_refuse(&r, "Bad keyword index", err_r,
					 error_r);
			goto out;
		}
		if ((seen & (1u << idx)) != 0) {
			ret = ctl_refuse(&r, "Duplicate keyword index", err_r,
					 error_r);
			goto out;
		}
		seen |= 1u << idx;
		name = sp + 1;
		len = strlen(name);
		if (len == 0 || len > MAILDIR_KEYWORD_MAX_LEN) {
			ret = ctl_refuse(&r, "Bad keyword name", err_r,
					 error_r);
			goto out;
		}
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)name[i];

			if (c <= 0x20 || c == 0x7f) {
				ret = ctl_refuse(&r, "Bad keyword name", err_r,
						 error_r);
				goto out;
			}
		}
		if (cb((unsigned)idx, name, ctx) < 0) {
			ret = maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				      "Read stopped");
			goto out;
		}
	}
	if (ret < 0) {
		ret = ctl_refuse(&r, why, err_r, error_r);
		goto out;
	}
	ret = 0;
out:
	reader_close(&r);
	return ret;
}

int
maildir_subscriptions_read(const char *root,
			   int (*cb)(const char *name, void *ctx), void *ctx,
			   unsigned *skipped_r, enum store_error *err_r,
			   const char **error_r)
{
	char path[MAILDIR_PATH_MAX], safe[80];
	struct line_reader r;
	struct buf dir, name;
	const char *why = NULL, *error;
	char *line;
	unsigned count = 0;
	size_t i;
	int ret;

	*skipped_r = 0;
	if (maildir_mkpath(path, sizeof(path), "%s/subscriptions", root) < 0)
		return maildir_path_fail(err_r, error_r);
	if (reader_open(&r, path, err_r, error_r) < 0)
		return -1;
	buf_init(&dir, MAILDIR_DIRNAME_MAX + 1);
	buf_init(&name, MAILDIR_NAME_MAX_LEN + 1);
	/* Dovecot 2.x: "V\t2\n\n" then one name per line. */
	if (line_next(&r, &line, &why) <= 0 || strcmp(line, "V\t2") != 0 ||
	    line_next(&r, &line, &why) <= 0 || line[0] != '\0') {
		ret = ctl_refuse(&r, "Not a version 2 subscriptions file",
				 err_r, error_r);
		goto out;
	}
	while ((ret = line_next(&r, &line, &why)) > 0) {
		if (line[0] == '\0')
			continue;
		if (++count > MAILDIR_SUBSCRIPTIONS_MAX) {
			ret = ctl_refuse(&r, "Too many subscriptions", err_r,
					 error_r);
			goto out;
		}
		buf_clear(&name);
		if (maildir_name_is_inbox(line, strlen(line))) {
			(void)buf_append_str(&name, "INBOX");
		} else {
			/* Levels are '\t'-separated storage names: the same
			 * text as a directory name with '.' for '\t'. */
			buf_clear(&dir);
			error = "Bad subscription";
			if (strchr(line, '.') != NULL ||
			    buf_append_byte(&dir, '.') < 0 ||
			    buf_append_str(&dir, line) < 0)
				goto skip;
			for (i = 0; i < dir.len; i++) {
				if (dir.data[i] == '\t')
					dir.data[i] = '.';
			}
			if (maildir_dir_to_name(buf_cstr(&dir), dir.len, &name,
						&error) < 0)
				goto skip;
		}
		if (cb(buf_cstr(&name), ctx) < 0) {
			ret = maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				      "Read stopped");
			goto out;
		}
		continue;
skip:
		log_warn("maildir: %s line %u: skipping %s: %s", path, r.lineno,
			 log_sanitize(safe, sizeof(safe), line, strlen(line)),
			 error);
		(*skipped_r)++;
	}
	if (ret < 0) {
		ret = ctl_refuse(&r, why, err_r, error_r);
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&dir);
	buf_deinit(&name);
	reader_close(&r);
	return ret;
}
