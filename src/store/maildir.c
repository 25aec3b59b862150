/* maildir: message files in a Maildir++ folder (delivery, copy, flag
 * renames, scanning, reading) and the helpers maildir-folder.c and
 * maildir-dovecot.c share; see maildir.h for the layout and the error
 * contract.  The write paths follow DESIGN's durable order (tmp/, fsync,
 * rename, fsync the directory) and leave nothing half-visible on
 * failure.  Non-goals: UIDs, flags as IMAP sees them, locking (the hub
 * serialises writers to a folder), and writing Dovecot's files (the
 * SQLite index is ours). */
#include "maildir.h"
#include "maildir-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "strnum.h"
#include "xalloc.h"

#define HOST_MAX 64
/* set_flags retries after ENOENT: each retry follows one rename by another
 * program; more than a few in a row means something is looping. */
#define FLAG_RENAME_TRIES 3
#define COPY_CHUNK 65536

/* Delivery names must be unique per host even across threads.  The only
 * mutable global here, and it is atomic. */
static atomic_ulong delivery_counter;

struct maildir_delivery {
	char *root;      /* owned */
	char *dir;       /* owned */
	char *base;      /* owned: the unique base without ",S=" */
	char *tmp_path;  /* owned */
	int fd;
	uint64_t size;
	bool failed;
	enum store_error fail_err;
};

/* ---- small helpers ---- */

int
maildir_set_err(enum store_error *err_r, enum store_error err,
		const char **error_r, const char *error)
{
	if (err_r != NULL)
		*err_r = err;
	if (error_r != NULL)
		*error_r = error;
	return -1;
}

static enum store_error
errno_class(int e, enum store_error enoent)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return enoent;
	case ENOSPC:
	case EDQUOT:
		return STORE_ERR_OVERQUOTA;
	case EACCES:
	case EPERM:
	case EROFS:
		return STORE_ERR_NOPERM;
	case EEXIST:
	case ENOTEMPTY:
		return STORE_ERR_EXISTS;
	case ENAMETOOLONG:
		return STORE_ERR_LIMIT;
	default:
		return STORE_ERR_TEMP;
	}
}

const char *
maildir_class_text(enum store_error err)
{
	switch (err) {
	case STORE_ERR_OVERQUOTA:
		return "Not enough disk space or quota";
	case STORE_ERR_NOPERM:
		return "Permission denied";
	case STORE_ERR_NOTFOUND:
		return "Mailbox doesn't exist";
	case STORE_ERR_EXPUNGED:
		return "Message was expunged";
	case STORE_ERR_EXISTS:
		return "Mailbox already exists";
	case STORE_ERR_LIMIT:
		return "Name too long";
	default:
		return "Internal error";
	}
}

/* Log a failed system call as "op(path): strerror" and fill the outputs. */
int
maildir_sys_fail(const char *op, const char *path, int e,
		 enum store_error enoent, enum store_error *err_r,
		 const char **error_r)
{
	enum store_error err = errno_class(e, enoent);

	if (!(e == ENOENT && (enoent == STORE_ERR_EXPUNGED ||
			      enoent == STORE_ERR_NOTFOUND)))
		log_error("%s(%s): %s", op, path, strerror(e));
	return maildir_set_err(err_r, err, error_r, maildir_class_text(err));
}

/* Checked snprintf: -1 on truncation (a silently cut path is a bug). */
int
maildir_mkpath(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* A folder dir is "" (the root) or a single component that starts with
 * '.', isn't "." or "..", and holds no '/'. */
bool
maildir_dir_ok(const char *dir, bool allow_root)
{
	size_t len = strlen(dir);

	if (len == 0)
		return allow_root;
	return dir[0] == '.' && len <= MAILDIR_DIRNAME_MAX &&
	       strcmp(dir, ".") != 0 && strcmp(dir, "..") != 0 &&
	       strchr(dir, '/') == NULL;
}

/* A message file name: one component, not hidden, not "." or "..". */
static bool
fname_ok(const char *fname)
{
	size_t len = strlen(fname);

	return len > 0 && len <= MAILDIR_FILENAME_MAX && fname[0] != '.' &&
	       strchr(fname, '/') == NULL;
}

/* "<root>/<dir>" or "<root>" for INBOX, plus an optional "/<sub>" and
 * "/<file>". */
int
maildir_folder_path(char *out, size_t size, const char *root, const char *dir,
	    const char *sub, const char *file)
{
	return maildir_mkpath(out, size, "%s%s%s%s%s%s%s", root,
		      dir[0] == '\0' ? "" : "/", dir,
		      sub == NULL ? "" : "/", sub == NULL ? "" : sub,
		      file == NULL ? "" : "/", file == NULL ? "" : file);
}

int
maildir_path_fail(enum store_error *err_r, const char **error_r)
{
	return maildir_set_err(err_r, STORE_ERR_LIMIT, error_r, "Path too long");
}

int
maildir_bad_args(enum store_error *err_r, const char **error_r)
{
	return maildir_set_err(err_r, STORE_ERR_BADNAME, error_r,
		       "Invalid folder or file name");
}

int
maildir_fsync_path(const char *path, enum store_error *err_r,
		   const char **error_r)
{
	int fd, e;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return maildir_sys_fail("open", path, errno, STORE_ERR_TEMP, err_r,
				error_r);
	if (fsync(fd) < 0) {
		e = errno;
		close(fd);
		return maildir_sys_fail("fsync", path, e, STORE_ERR_TEMP, err_r,
				error_r);
	}
	close(fd);
	return 0;
}

/* Rename without replacing an existing target (a unique name that already
 * exists means something is badly wrong, and a directory rename must never
 * swallow an empty folder).  renameat2 where the filesystem has it; else
 * link+unlink for files, a racy check for directories. */
int
maildir_rename_noreplace(const char *from, const char *to, bool is_dir)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (!is_dir) {
		if (link(from, to) < 0)
			return -1;
		if (unlink(from) < 0) {
			int e = errno;

			(void)unlink(to);
			errno = e;
			return -1;
		}
		return 0;
	}
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/* ---- unique names and delivery ---- */

/* Host name as the Maildir spec wants it in file names: '/' and ':' (and
 * ',' and '\\', which would confuse the ",S=" fields and our escapes, and
 * any non-printing byte) as "\ooo" octal.  Capped at HOST_MAX bytes. */
static void
sanitized_hostname(char *out, size_t size)
{
	char host[256];
	size_t i, o = 0;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		(void)maildir_mkpath(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':' ||
		    c == ',' || c == '\\') {
			if (o + 4 >= size)
				break;
			(void)maildir_mkpath(out + o, size - o, "\\%03o", c);
			o += 4;
		} else {
			if (o + 1 >= size)
				break;
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* The host and process parts of unique names, worked out once: a COPY
 * of 10,000 messages must not ask the kernel 20,000 times.  A child of
 * fork() takes its own pid at once. */
static pthread_once_t unique_once = PTHREAD_ONCE_INIT;
static char unique_host[HOST_MAX + 1];
static long unique_pid;

static void
unique_after_fork(void)
{
	unique_pid = (long)getpid();
}

static void
unique_init(void)
{
	sanitized_hostname(unique_host, sizeof(unique_host));
	unique_pid = (long)getpid();
	(void)pthread_atfork(NULL, NULL, unique_after_fork);
}

/* "<sec>.M<usec>P<pid>Q<counter>.<host>" */
static char *
unique_base(void)
{
	char base[MAILDIR_FILENAME_MAX + 1];
	struct timeval tv;
	unsigned long n;

	pthread_once(&unique_once, unique_init);
	gettimeofday(&tv, NULL);
	n = atomic_fetch_add(&delivery_counter, 1) + 1;
	if (maildir_mkpath(base, sizeof(base), "%lld.M%ldP%ldQ%lu.%s",
		   (long long)tv.tv_sec, (long)tv.tv_usec, unique_pid, n,
		   unique_host) < 0)
		(void)maildir_mkpath(base, sizeof(base), "%lld.M%ldP%ldQ%lu",
			     (long long)tv.tv_sec, (long)tv.tv_usec,
			     unique_pid, n);
	return xstrdup(base);
}

static void
delivery_free(struct maildir_delivery *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->root);
	free(d->dir);
	free(d->base);
	free(d->tmp_path);
	free(d);
}

struct maildir_delivery *
maildir_delivery_begin(const char *root, const char *dir,
		       enum store_error *err_r, const char **error_r)
{
	struct maildir_delivery *d;
	char path[MAILDIR_PATH_MAX];
	int tries;

	if (!maildir_dir_ok(dir, true)) {
		maildir_bad_args(err_r, error_r);
		return NULL;
	}
	d = xmalloc(sizeof(*d));
	d->fd = -1;
	d->root = xstrdup(root);
	d->dir = xstrdup(dir);
	/* O_EXCL: the name is unique by construction, but if it were not
	 * we must not share a file with another writer. */
	for (tries = 0; tries < 3 && d->fd < 0; tries++) {
		free(d->base);
		d->base = unique_base();
		if (maildir_folder_path(path, sizeof(path), root, dir, "tmp",
				d->base) < 0) {
			maildir_path_fail(err_r, error_r);
			delivery_free(d);
			return NULL;
		}
		d->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			     O_NOFOLLOW, 0600);
		if (d->fd < 0 && errno != EEXIST)
			break;
	}
	if (d->fd < 0) {
		maildir_sys_fail("open", path, errno, STORE_ERR_NOTFOUND, err_r,
			 error_r);
		delivery_free(d);
		return NULL;
	}
	d->tmp_path = xstrdup(path);
	return d;
}

int
maildir_delivery_write(struct maildir_delivery *d, const void *data,
		       size_t len, enum store_error *err_r,
		       const char **error_r)
{
	const uint8_t *p = data;
	ssize_t n;

	if (d->failed)
		return maildir_set_err(err_r, d->fail_err, error_r,
			       maildir_class_text(d->fail_err));
	while (len > 0) {
		n = write(d->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			d->failed = true;
			maildir_sys_fail("write", d->tmp_path, e, STORE_ERR_TEMP,
				 &d->fail_err, NULL);
			return maildir_set_err(err_r, d->fail_err, error_r,
				       maildir_class_text(d->fail_err));
		}
		p += n;
		len -= (size_t)n;
		d->size += (uint64_t)n;
	}
	return 0;
}

uint64_t
maildir_delivery_size(const struct maildir_delivery *d)
{
	return d->size;
}

void
maildir_delivery_abort(struct maildir_delivery **dp)
{
	struct maildir_delivery *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	if (d->tmp_path != NULL && unlink(d->tmp_path) < 0 && errno != ENOENT)
		log_error("unlink(%s): %s", d->tmp_path, strerror(errno));
	delivery_free(d);
}

int
maildir_delivery_commit(struct maildir_delivery **dp, unsigned flags,
			uint32_t keywords, bool to_new, struct buf *fname_out,
			enum store_error *err_r, const char **error_r)
{
	struct maildir_delivery *d = *dp;
	char base[MAILDIR_FILENAME_MAX + 1], path[MAILDIR_PATH_MAX];
	char dirpath[MAILDIR_PATH_MAX];
	struct buf fname;
	int e;

	buf_init(&fname, MAILDIR_FILENAME_MAX + 1);
	if (d->failed) {
		maildir_set_err(err_r, d->fail_err, error_r, maildir_class_text(d->fail_err));
		goto fail;
	}
	/* 1. fsync the data: after the rename below the name is visible,
	 * so its contents must already be on disk or a crash leaves an
	 * empty or partial message that looks complete. */
	if (fsync(d->fd) < 0) {
		maildir_sys_fail("fsync", d->tmp_path, errno, STORE_ERR_TEMP, err_r,
			 error_r);
		goto fail;
	}
	/* 2. close can report delayed write errors (NFS, quota). */
	e = close(d->fd);
	d->fd = -1;
	if (e < 0) {
		maildir_sys_fail("close", d->tmp_path, errno, STORE_ERR_TEMP, err_r,
			 error_r);
		goto fail;
	}
	if (maildir_mkpath(base, sizeof(base), "%s,S=%llu", d->base,
		   (unsigned long long)d->size) < 0) {
		maildir_path_fail(err_r, error_r);
		goto fail;
	}
	if (to_new ? buf_append_str(&fname, base) < 0 :
	    maildir_filename_build(&fname, base, strlen(base), flags,
				   keywords) < 0) {
		maildir_path_fail(err_r, error_r);
		goto fail;
	}
	if (maildir_folder_path(dirpath, sizeof(dirpath), d->root, d->dir,
			to_new ? "new" : "cur", NULL) < 0 ||
	    maildir_mkpath(path, sizeof(path), "%s/%s", dirpath,
		   buf_cstr(&fname)) < 0) {
		maildir_path_fail(err_r, error_r);
		goto fail;
	}
	/* 3. rename: the message appears atomically, whole or not at all;
	 * never over an existing file. */
	if (maildir_rename_noreplace(d->tmp_path, path, false) < 0) {
		maildir_sys_fail("rename", d->tmp_path, errno, STORE_ERR_NOTFOUND,
			 err_r, error_r);
		goto fail;
	}
	/* 4. fsync the directory: without it a crash can lose the rename
	 * after we told the client OK. */
	if (maildir_fsync_path(dirpath, err_r, error_r) < 0) {
		if (unlink(path) < 0)
			log_error("unlink(%s): %s", path, strerror(errno));
		goto fail;
	}
	if (buf_append(fname_out, fname.data, fname.len) < 0) {
		/* The caller's buffer can't hold a 255-byte name: a bug, but
		 * don't leave an unindexed message behind. */
		(void)unlink(path);
		maildir_path_fail(err_r, error_r);
		goto fail;
	}
	buf_deinit(&fname);
	free(d->tmp_path);
	d->tmp_path = NULL;
	delivery_free(d);
	*dp = NULL;
	return 0;
fail:
	buf_deinit(&fname);
	maildir_delivery_abort(dp);
	return -1;
}

/* ---- messages ---- */

/* Look for base in one of cur/ or new/. 1 found, 0 not, -1 error. */
static int
find_in(const char *path, const char *base, size_t base_len, struct buf *out)
{
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strncmp(n, base, base_len) == 0 &&
		    (n[base_len] == '\0' || n[base_len] == ':')) {
			ret = buf_append_str(out, n) < 0 ? -1 : 1;
			break;
		}
	}
	closedir(d);
	return ret;
}

int
maildir_file_find(const char *root, const char *dir, const char *base,
		  size_t base_len, struct buf *fname_out, bool *in_new_r,
		  enum store_error *err_r, const char **error_r)
{
	static const char *const subs[] = { "cur", "new" };
	char path[MAILDIR_PATH_MAX];
	size_t i;
	int ret;

	if (!maildir_dir_ok(dir, true) || base_len == 0 ||
	    base_len > MAILDIR_FILENAME_MAX ||
	    memchr(base, '/', base_len) != NULL ||
	    memchr(base, ':', base_len) != NULL ||
	    memchr(base, '\0', base_len) != NULL)
		return maildir_bad_args(err_r, error_r);
	for (i = 0; i < 2; i++) {
		if (maildir_folder_path(path, sizeof(path), root, dir, subs[i],
				NULL) < 0)
			return maildir_path_fail(err_r, error_r);
		ret = find_in(path, base, base_len, fname_out);
		if (ret < 0)
			return maildir_sys_fail("opendir", path, errno,
					STORE_ERR_NOTFOUND, err_r, error_r);
		if (ret > 0) {
			*in_new_r = i == 1;
			return 0;
		}
	}
	return maildir_set_err(err_r, STORE_ERR_EXPUNGED, error_r,
		       maildir_class_text(STORE_ERR_EXPUNGED));
}

int
maildir_file_set_flags(const char *root, const char *dir, const char *fname,
		       bool in_new, unsigned flags, uint32_t keywords,
		       struct buf *newname_out, enum store_error *err_r,
		       const char **error_r)
{
	char from[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX];
	struct maildir_filename fn;
	struct buf cur, target;
	int tries, ret = -1;

	if (!maildir_dir_ok(dir, true) || !fname_ok(fname) ||
	    maildir_filename_parse(fname, strlen(fname), &fn) < 0)
		return maildir_bad_args(err_r, error_r);
	buf_init(&cur, MAILDIR_FILENAME_MAX + 1);
	buf_init(&target, MAILDIR_FILENAME_MAX + 1);
	(void)buf_append_str(&cur, fname);
	if (maildir_filename_build(&target, fn.base, fn.base_len, flags,
				   keywords) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	if (maildir_folder_path(to, sizeof(to), root, dir, "cur",
			buf_cstr(&target)) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	for (tries = 0;; tries++) {
		if (!in_new && strcmp(buf_cstr(&cur), buf_cstr(&target)) == 0)
			break; /* already right */
		if (maildir_folder_path(from, sizeof(from), root, dir,
				in_new ? "new" : "cur", buf_cstr(&cur)) < 0) {
			maildir_path_fail(err_r, error_r);
			goto out;
		}
		if (rename(from, to) == 0)
			break;
		if (errno != ENOENT || tries >= FLAG_RENAME_TRIES) {
			maildir_sys_fail("rename", from, errno, STORE_ERR_EXPUNGED,
				 err_r, error_r);
			goto out;
		}
		/* Renamed by someone else (flags, new/ -> cur/): find it. */
		buf_clear(&cur);
		if (maildir_file_find(root, dir, fn.base, fn.base_len, &cur,
				      &in_new, err_r, error_r) < 0)
			goto out;
	}
	if (buf_append(newname_out, target.data, target.len) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&cur);
	buf_deinit(&target);
	return ret;
}

int
maildir_file_move_to_cur(const char *root, const char *dir, const char *fname,
			 struct buf *newname_out, enum store_error *err_r,
			 const char **error_r)
{
	char from[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX];
	struct maildir_filename fn;
	struct buf target;
	bool in_new;
	int ret = -1;

	if (!maildir_dir_ok(dir, true) || !fname_ok(fname) ||
	    maildir_filename_parse(fname, strlen(fname), &fn) < 0)
		return maildir_bad_args(err_r, error_r);
	buf_init(&target, MAILDIR_FILENAME_MAX + 1);
	/* Keep any info another program wrote; add ":2," when there is none
	 * (the spec's marker that the file has been seen by a reader). */
	if (buf_append_str(&target, fname) < 0 ||
	    (fn.base_len == strlen(fname) && buf_append_str(&target, ":2,") < 0) ||
	    target.len > MAILDIR_FILENAME_MAX) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	if (maildir_folder_path(from, sizeof(from), root, dir, "new", fname) < 0 ||
	    maildir_folder_path(to, sizeof(to), root, dir, "cur",
			buf_cstr(&target)) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	if (maildir_rename_noreplace(from, to, false) < 0) {
		if (errno != ENOENT) {
			maildir_sys_fail("rename", from, errno, STORE_ERR_EXPUNGED,
				 err_r, error_r);
			goto out;
		}
		/* Moved already by someone else? */
		buf_clear(&target);
		if (maildir_file_find(root, dir, fn.base, fn.base_len,
				      &target, &in_new, err_r, error_r) < 0)
			goto out;
		if (in_new) {
			maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				"Message file keeps moving");
			goto out;
		}
	}
	if (buf_append(newname_out, target.data, target.len) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&target);
	return ret;
}

int
maildir_file_unlink(const char *root, const char *dir, const char *fname,
		    bool in_new, enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];

	if (!maildir_dir_ok(dir, true) || !fname_ok(fname))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, in_new ? "new" : "cur",
			fname) < 0)
		return maildir_path_fail(err_r, error_r);
	if (unlink(path) < 0 && errno != ENOENT)
		return maildir_sys_fail("unlink", path, errno, STORE_ERR_TEMP, err_r,
				error_r);
	return 0;
}

int
maildir_file_open(const char *root, const char *dir, const char *fname,
		  bool in_new, int *fd_r, uint64_t *size_r,
		  enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];
	struct stat st;
	int fd;

	*fd_r = -1;
	if (!maildir_dir_ok(dir, true) || !fname_ok(fname))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, in_new ? "new" : "cur",
			fname) < 0)
		return maildir_path_fail(err_r, error_r);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return maildir_sys_fail("open", path, errno, STORE_ERR_EXPUNGED, err_r,
				error_r);
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return maildir_sys_fail("fstat", path, e, STORE_ERR_TEMP, err_r,
				error_r);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		log_error("open(%s): not a regular file", path);
		return maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
			       "Internal error");
	}
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	return 0;
}

/* Copy src_fd into a fresh delivery in dst_dir (the fallback when the
 * file can't be hard-linked). */
static int
copy_by_data(const char *root, const char *src_path, int src_fd,
	     const char *dst_dir, unsigned flags, uint32_t keywords,
	     struct buf *fname_out, enum store_error *err_r,
	     const char **error_r)
{
	struct maildir_delivery *d;
	uint8_t *chunk;
	ssize_t n;
	int ret = 0;

	d = maildir_delivery_begin(root, dst_dir, err_r, error_r);
	if (d == NULL)
		return -1;
	chunk = xmalloc(COPY_CHUNK);
	for (;;) {
		n = read(src_fd, chunk, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = maildir_sys_fail("read", src_path, errno, STORE_ERR_TEMP,
				       err_r, error_r);
			break;
		}
		if (n == 0)
			break;
		if (maildir_delivery_write(d, chunk, (size_t)n, err_r,
					   error_r) < 0) {
			ret = -1;
			break;
		}
	}
	free(chunk);
	if (ret < 0) {
		maildir_delivery_abort(&d);
		return -1;
	}
	return maildir_delivery_commit(&d, flags, keywords, false, fname_out,
				       err_r, error_r);
}

/* ---- batches of copies ---- */

void
maildir_copier_init(struct maildir_copier *c)
{
	memset(c, 0, sizeof(*c));
	c->src_fd[0] = c->src_fd[1] = c->dst_fd = -1;
}

int
maildir_copier_open(struct maildir_copier *c, const char *root,
		    const char *src_dir, const char *dst_dir,
		    enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];
	size_t i;

	maildir_copier_close(c);
	if (!maildir_dir_ok(src_dir, true) || !maildir_dir_ok(dst_dir, true))
		return maildir_bad_args(err_r, error_r);
	for (i = 0; i < 3; i++) {
		int *fdp = i < 2 ? &c->src_fd[i] : &c->dst_fd;

		if (maildir_folder_path(path, sizeof(path), root,
				i < 2 ? src_dir : dst_dir,
				i == 1 ? "new" : "cur", NULL) < 0) {
			maildir_copier_close(c);
			return maildir_path_fail(err_r, error_r);
		}
		/* dst cur/ is fsynced through its descriptor, so not O_PATH */
		*fdp = open(path, (i < 2 ? O_PATH : O_RDONLY) | O_DIRECTORY |
			    O_CLOEXEC);
		if (*fdp < 0) {
			int e = errno;

			maildir_copier_close(c);
			return maildir_sys_fail("open", path, e,
					STORE_ERR_NOTFOUND, err_r, error_r);
		}
	}
	c->root = xstrdup(root);
	c->src_dir = xstrdup(src_dir);
	c->dst_dir = xstrdup(dst_dir);
	return 0;
}

/* For messages: "<root>[/<dir>]/<sub>/<fname>", or "?" if it won't fit. */
static const char *
copier_path(char *out, size_t size, const struct maildir_copier *c,
	    bool dst, bool in_new, const char *fname)
{
	if (maildir_folder_path(out, size, c->root,
			dst ? c->dst_dir : c->src_dir,
			in_new ? "new" : "cur", fname) < 0)
		return "?";
	return out;
}

int
maildir_copier_link(struct maildir_copier *c, const char *src_fname,
		    bool src_in_new, unsigned flags, uint32_t keywords,
		    struct buf *fname_out, enum store_error *err_r,
		    const char **error_r)
{
	char path[MAILDIR_PATH_MAX], base[MAILDIR_FILENAME_MAX + 1];
	int sfd = c->src_fd[src_in_new ? 1 : 0];
	struct buf fname;
	struct stat st;
	char *ubase;
	int fd, ret = -1;

	if (c->dst_fd < 0 || !fname_ok(src_fname))
		return maildir_bad_args(err_r, error_r);
	/* One stat instead of open, fstat and close: the size for the new
	 * name, and a symlink or other odd file is refused as before. */
	if (fstatat(sfd, src_fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return maildir_sys_fail("stat", copier_path(path, sizeof(path),
					c, false, src_in_new, src_fname),
				errno, STORE_ERR_EXPUNGED, err_r, error_r);
	if (!S_ISREG(st.st_mode)) {
		log_error("copy(%s): not a regular file", copier_path(path,
			  sizeof(path), c, false, src_in_new, src_fname));
		return maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				       "Internal error");
	}
	buf_init(&fname, MAILDIR_FILENAME_MAX + 1);
	ubase = unique_base();
	if (maildir_mkpath(base, sizeof(base), "%s,S=%llu", ubase,
		   (unsigned long long)st.st_size) < 0 ||
	    maildir_filename_build(&fname, base, strlen(base), flags,
				   keywords) < 0) {
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	/* link(2) never replaces an existing name, and shares the data. */
	if (linkat(sfd, src_fname, c->dst_fd, buf_cstr(&fname), 0) < 0) {
		if (errno != EXDEV && errno != EMLINK && errno != EPERM) {
			maildir_sys_fail("link", copier_path(path, sizeof(path),
					 c, false, src_in_new, src_fname),
					 errno, STORE_ERR_EXPUNGED, err_r,
					 error_r);
			goto out;
		}
		fd = openat(sfd, src_fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			maildir_sys_fail("open", copier_path(path, sizeof(path),
					 c, false, src_in_new, src_fname),
					 errno, STORE_ERR_EXPUNGED, err_r,
					 error_r);
			goto out;
		}
		ret = copy_by_data(c->root, copier_path(path, sizeof(path), c,
				   false, src_in_new, src_fname), fd,
				   c->dst_dir, flags, keywords, fname_out,
				   err_r, error_r);
		close(fd);
		goto out;
	}
	if (buf_append(fname_out, fname.data, fname.len) < 0) {
		(void)unlinkat(c->dst_fd, buf_cstr(&fname), 0);
		maildir_path_fail(err_r, error_r);
		goto out;
	}
	ret = 0;
out:
	free(ubase);
	buf_deinit(&fname);
	return ret;
}

int
maildir_copier_sync(struct maildir_copier *c, enum store_error *err_r,
		    const char **error_r)
{
	char path[MAILDIR_PATH_MAX];

	if (c->dst_fd < 0)
		return maildir_bad_args(err_r, error_r);
	if (fsync(c->dst_fd) < 0)
		return maildir_sys_fail("fsync", copier_path(path, sizeof(path),
					c, true, false, NULL),
				errno, STORE_ERR_TEMP, err_r, error_r);
	return 0;
}

void
maildir_copier_close(struct maildir_copier *c)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (c->src_fd[i] >= 0)
			close(c->src_fd[i]);
	if (c->dst_fd >= 0)
		close(c->dst_fd);
	free(c->root);
	free(c->src_dir);
	free(c->dst_dir);
	maildir_copier_init(c);
}

int
maildir_file_copy(const char *root, const char *src_dir, const char *src_fname,
		  bool src_in_new, const char *dst_dir, unsigned flags,
		  uint32_t keywords, struct buf *fname_out,
		  enum store_error *err_r, const char **error_r)
{
	struct maildir_copier c;
	size_t len = fname_out->len;
	int ret;

	maildir_copier_init(&c);
	if (maildir_copier_open(&c, root, src_dir, dst_dir, err_r,
				error_r) < 0)
		return -1;
	ret = maildir_copier_link(&c, src_fname, src_in_new, flags, keywords,
				  fname_out, err_r, error_r);
	/* The new name must survive a crash before the index row exists. */
	if (ret == 0 && maildir_copier_sync(&c, err_r, error_r) < 0) {
		(void)unlinkat(c.dst_fd, buf_cstr(fname_out) + len, 0);
		fname_out->len = len;
		ret = -1;
	}
	maildir_copier_close(&c);
	return ret;
}

/* ---- scanning ---- */

int
maildir_scan(const char *root, const char *dir,
	     int (*cb)(const struct maildir_file *file, void *ctx), void *ctx,
	     unsigned *skipped_r, enum store_error *err_r, const char **error_r)
{
	static const char *const subs[] = { "new", "cur" };
	char path[MAILDIR_PATH_MAX], safe[80];
	struct maildir_file file;
	struct dirent *de;
	DIR *d;
	size_t i;
	int ret = 0;

	*skipped_r = 0;
	if (!maildir_dir_ok(dir, true))
		return maildir_bad_args(err_r, error_r);
	for (i = 0; i < 2 && ret == 0; i++) {
		if (maildir_folder_path(path, sizeof(path), root, dir, subs[i],
				NULL) < 0)
			return maildir_path_fail(err_r, error_r);
		d = opendir(path);
		if (d == NULL)
			return maildir_sys_fail("opendir", path, errno,
					STORE_ERR_NOTFOUND, err_r, error_r);
		while ((errno = 0, de = readdir(d)) != NULL) {
			const char *n = de->d_name;

			if (n[0] == '.')
				continue;
			memset(&file, 0, sizeof(file));
			file.fname = n;
			file.in_new = i == 0;
			if (maildir_filename_parse(n, strlen(n), &file.fn) < 0) {
				log_warn("maildir_scan(%s): skipping %s", path,
					 log_sanitize(safe, sizeof(safe), n,
						      strlen(n)));
				(*skipped_r)++;
				continue;
			}
			if (cb(&file, ctx) < 0) {
				ret = maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
					      "Scan stopped");
				break;
			}
		}
		if (ret == 0 && errno != 0)
			ret = maildir_sys_fail("readdir", path, errno, STORE_ERR_TEMP,
				       err_r, error_r);
		closedir(d);
	}
	return ret;
}
