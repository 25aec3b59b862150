/* sync: reconcile one mailbox's index rows with its Maildir folder (see
 * sync.h for the rules).  One readdir of new/ and cur/ and one read of the
 * index rows go into two arrays sorted by base name; a single merge walk
 * finds new files, vanished files and flag changes, and every index change
 * is made in one transaction.  Non-goals: moving or renaming files (a sync
 * only reads the Maildir), cleaning tmp/, parsing messages (the caller
 * parses new mail on first need), locking (the caller's user mutex). */
#include "sync.h"

#include "store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "index.h"
#include "log.h"
#include "maildir.h"
#include "xalloc.h"

/* Saved in place of an mtime that must not be trusted: no directory has
 * it, so the next sync scans. */
#define SYNC_MTIME_UNTRUSTED INT64_MIN
#define NSEC_PER_SEC 1000000000LL

/* A message file seen by the scan.  Names live in the scan's pool; the
 * pointers are set once the pool stops growing. */
struct sfile {
	size_t off;          /* fname's offset in the pool */
	const char *fname;   /* NUL-terminated, in the pool */
	size_t base_len;     /* the base is fname[0..base_len) */
	uint64_t sec, usec;  /* delivery time from the name, for ordering */
	uint64_t size;       /* ",S=" when has_size */
	uint32_t keywords;   /* Dovecot letters: bit i is 'a' + i */
	uint32_t uid;        /* import: Dovecot's UID, else 0 */
	unsigned mflags;     /* MAILDIR_FLAG_* */
	bool in_new, has_info, has_size, has_time;
};

struct sfiles {
	struct sfile *v; /* owned */
	size_t n, cap;
	struct buf pool; /* owned: the file names, NUL-separated */
};

/* An index row: UID, flags and base name (in the rows' pool). */
struct srow {
	size_t off;
	const char *file;
	uint32_t uid;
	uint32_t flags; /* enum index_flag */
	uint32_t disk;  /* flags its file name should carry */
};

struct srows {
	struct srow *v; /* owned */
	size_t n, cap;
	struct buf pool;
};

/* A row whose flags change: the target value, then the UID. */
struct flagchange {
	uint32_t flags;
	uint32_t uid;
};

struct dir_times {
	int64_t mtime_new, mtime_cur; /* nanoseconds since the epoch */
};

/* ---- small helpers ---- */

static enum store_error
from_index_error(enum index_error e)
{
	switch (e) {
	case INDEX_ERR_NOTFOUND:
		return STORE_ERR_NOTFOUND;
	case INDEX_ERR_LIMIT:
		return STORE_ERR_LIMIT;
	case INDEX_ERR_BUSY:
		return STORE_ERR_INUSE;
	case INDEX_ERR_FULL:
		return STORE_ERR_OVERQUOTA;
	default:
		return STORE_ERR_TEMP;
	}
}

/* Log an index failure and set the caller's error; returns -1. */
static int
index_failed(struct index_db *db, const char *dir, const char *what,
	     const char *detail, enum store_error *err_r, const char **error_r)
{
	log_error("sync(%s): %s: %s", *dir == '\0' ? "INBOX" : dir, what,
		  detail);
	*err_r = from_index_error(index_last_error(db));
	*error_r = *err_r == STORE_ERR_NOTFOUND ? "Mailbox doesn't exist" :
		"Mailbox sync failed";
	return -1;
}

/* The shape maildir.h promises for a dir: "" or ".x" without '/', not
 * "." or "..".  Checked here too because we stat before maildir does. */
static bool
dir_ok(const char *dir)
{
	if (*dir == '\0')
		return true;
	return dir[0] == '.' && strchr(dir, '/') == NULL &&
		strcmp(dir, ".") != 0 && strcmp(dir, "..") != 0;
}

/* "<root>[/<dir>]/<sub>" into out (cleared first).  0 or -1 (too long). */
static int
sub_path(struct buf *out, const char *root, const char *dir, const char *sub)
{
	buf_clear(out);
	if (*dir == '\0')
		return buf_printf(out, "%s/%s", root, sub);
	return buf_printf(out, "%s/%s/%s", root, dir, sub);
}

static int64_t
ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec;
}

/* stat one of a folder's subdirectories ("new", "cur"): relative to
 * root_fd (the root's directory) when it is >= 0, which saves the kernel
 * the walk of every component of the path up to the root (on a small VM
 * a third of a warm SELECT's own time), else by its full path.  0, or -1
 * with errno (ENAMETOOLONG when the path doesn't fit). */
static int
stat_sub(const char *root, int root_fd, const char *dir, const char *sub,
	 struct buf *path, struct stat *st)
{
	char rel[MAILDIR_PATH_MAX];
	int n;

	if (root_fd >= 0) {
		n = *dir == '\0' ? snprintf(rel, sizeof(rel), "%s", sub) :
			snprintf(rel, sizeof(rel), "%s/%s", dir, sub);
		if (n < 0 || (size_t)n >= sizeof(rel)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return fstatat(root_fd, rel, st, 0);
	}
	if (sub_path(path, root, dir, sub) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return stat(buf_cstr(path), st);
}

/* stat cur/ and new/ (see stat_sub() for root_fd).  NOTFOUND when either
 * is missing. */
static int
dirs_stat(const char *root, int root_fd, const char *dir,
	  struct dir_times *t_r, enum store_error *err_r,
	  const char **error_r)
{
	static const char *const subs[] = { "new", "cur" };
	struct buf path;
	struct stat st;
	size_t i;
	int ret = 0, e;

	buf_init(&path, MAILDIR_PATH_MAX);
	for (i = 0; i < 2 && ret == 0; i++) {
		if (stat_sub(root, root_fd, dir, subs[i], &path, &st) == 0) {
			if (i == 0)
				t_r->mtime_new = ts_ns(&st.st_mtim);
			else
				t_r->mtime_cur = ts_ns(&st.st_mtim);
			continue;
		}
		e = errno;
		ret = -1;
		if (e == ENAMETOOLONG) {
			*err_r = STORE_ERR_LIMIT;
			*error_r = "Mailbox path too long";
		} else if (e == ENOENT || e == ENOTDIR) {
			*err_r = STORE_ERR_NOTFOUND;
			*error_r = "Mailbox doesn't exist";
		} else {
			log_error("stat(%s%s%s/%s): %s", root,
				  *dir == '\0' ? "" : "/", dir, subs[i],
				  strerror(e));
			*err_r = e == EACCES ? STORE_ERR_NOPERM :
				STORE_ERR_TEMP;
			*error_r = "Mailbox sync failed";
		}
	}
	buf_deinit(&path);
	return ret;
}

/* Leading decimal digits of s[0..len) (saturating); the count consumed. */
static size_t
parse_digits(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX :
			v * 10 + (uint64_t)(s[i] - '0');
	*v_r = v;
	return i;
}

/* ---- scanning ---- */

static int
scan_cb(const struct maildir_file *file, void *ctxp)
{
	struct sfiles *files = ctxp;
	const struct maildir_filename *fn = &file->fn;
	size_t len = strlen(file->fname), n;
	struct sfile *f;

	if (files->n == files->cap) {
		files->cap = files->cap == 0 ? 256 : files->cap * 2;
		files->v = xreallocarray(files->v, files->cap,
					 sizeof(*files->v));
	}
	f = &files->v[files->n];
	memset(f, 0, sizeof(*f));
	f->off = files->pool.len;
	if (buf_append(&files->pool, file->fname, len + 1) < 0)
		return -1; /* the pool has no maximum: can't happen */
	files->n++;
	/* The base is the name's prefix (maildir_filename_parse). */
	f->base_len = fn->base_len;
	f->in_new = file->in_new;
	f->has_info = fn->has_info;
	f->mflags = fn->flags;
	f->keywords = fn->keywords;
	f->has_size = fn->has_size;
	f->size = fn->size;
	/* "<sec>.M<usec>...": Maildir's delivery time, oldest first. */
	n = parse_digits(fn->base, fn->base_len, &f->sec);
	if (n > 0 && n + 2 < fn->base_len && fn->base[n] == '.' &&
	    fn->base[n + 1] == 'M') {
		f->has_time = true;
		(void)parse_digits(fn->base + n + 2, fn->base_len - n - 2,
				   &f->usec);
	} else if (n > 0 && (n == fn->base_len || fn->base[n] == '.')) {
		f->has_time = true;
	}
	return 0;
}

static int
base_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* By base; for the same base a cur/ file before a new/ one, then by name,
 * so the duplicate kept is deterministic. */
static int
sfile_base_cmp(const void *a, const void *b)
{
	const struct sfile *x = a, *y = b;
	int c = base_cmp(x->fname, x->base_len, y->fname, y->base_len);

	if (c != 0)
		return c;
	if (x->in_new != y->in_new)
		return x->in_new ? 1 : -1;
	return strcmp(x->fname, y->fname);
}

/* Delivery order for new mail. */
static int
sfile_time_cmp(const void *a, const void *b)
{
	const struct sfile *x = *(const struct sfile *const *)a;
	const struct sfile *y = *(const struct sfile *const *)b;

	if (x->has_time != y->has_time)
		return x->has_time ? -1 : 1;
	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	return base_cmp(x->fname, x->base_len, y->fname, y->base_len);
}

static int
sfile_uid_cmp(const void *a, const void *b)
{
	const struct sfile *x = *(const struct sfile *const *)a;
	const struct sfile *y = *(const struct sfile *const *)b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void
sfiles_free(struct sfiles *files)
{
	free(files->v);
	buf_deinit(&files->pool);
	memset(files, 0, sizeof(*files));
}

/* Read new/ and cur/ into files, sorted by base, one file per base. */
static int
scan_folder(const char *root, const char *dir, struct sfiles *files,
	    enum store_error *err_r, const char **error_r)
{
	char safe[80];
	unsigned skipped = 0;
	size_t i, j;

	buf_init(&files->pool, 0);
	if (maildir_scan(root, dir, scan_cb, files, &skipped, err_r,
			 error_r) < 0)
		return -1;
	for (i = 0; i < files->n; i++)
		files->v[i].fname = (const char *)files->pool.data +
			files->v[i].off;
	if (files->n < 2)
		return 0;
	if (files->n > 0)
		qsort(files->v, files->n, sizeof(*files->v), sfile_base_cmp);
	for (i = 1, j = 1; i < files->n; i++) {
		const struct sfile *prev = &files->v[j - 1], *f = &files->v[i];

		if (base_cmp(prev->fname, prev->base_len, f->fname,
			     f->base_len) == 0) {
			/* Two names for one message (a copy left by a crashed
			 * tool, or a rename seen mid-readdir): index it once. */
			log_warn("sync(%s): ignoring %s/%s, same base as %s",
				 *dir == '\0' ? "INBOX" : dir,
				 f->in_new ? "new" : "cur",
				 log_sanitize(safe, sizeof(safe), f->fname,
					      strlen(f->fname)),
				 prev->in_new ? "new" : "cur");
			continue;
		}
		files->v[j++] = *f;
	}
	files->n = j;
	return 0;
}

/* Is a base in the (sorted, unique) files?  Binary search. */
static bool
sfiles_has(const struct sfiles *files, const char *base, size_t len)
{
	size_t lo = 0, hi = files->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sfile *f = &files->v[mid];
		int c = base_cmp(f->fname, f->base_len, base, len);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* ---- index rows ---- */

static void
row_cb(const struct index_msg *msg, void *ctxp)
{
	struct srows *rows = ctxp;
	struct srow *r;

	if (rows->n == rows->cap) {
		rows->cap = rows->cap == 0 ? 256 : rows->cap * 2;
		rows->v = xreallocarray(rows->v, rows->cap, sizeof(*rows->v));
	}
	r = &rows->v[rows->n++];
	r->uid = msg->uid;
	r->flags = msg->flags & INDEX_FLAGS_ALL;
	r->disk = msg->disk_flags & INDEX_FLAGS_ALL;
	r->off = rows->pool.len;
	r->file = NULL;
	(void)buf_append(&rows->pool, msg->file, strlen(msg->file) + 1);
}

static int
srow_file_cmp(const void *a, const void *b)
{
	const struct srow *x = a, *y = b;

	return strcmp(x->file, y->file);
}

static void
srows_free(struct srows *rows)
{
	free(rows->v);
	buf_deinit(&rows->pool);
	memset(rows, 0, sizeof(*rows));
}

/* ---- Dovecot control files ---- */

struct uidlist_entry {
	uint32_t uid;
	size_t off;        /* base name's offset in the pool */
	const char *name;
};

struct uidlist {
	struct maildir_uidlist_header hdr;
	struct uidlist_entry *v; /* owned */
	size_t n, cap;
	struct buf pool;
};

static int
uidlist_cb(uint32_t uid, const char *fname, void *ctxp)
{
	struct uidlist *ul = ctxp;
	struct uidlist_entry *e;

	if (ul->n == ul->cap) {
		ul->cap = ul->cap == 0 ? 256 : ul->cap * 2;
		ul->v = xreallocarray(ul->v, ul->cap, sizeof(*ul->v));
	}
	e = &ul->v[ul->n++];
	e->uid = uid;
	e->off = ul->pool.len;
	(void)buf_append(&ul->pool, fname, strlen(fname) + 1);
	return 0;
}

static int
uidlist_name_cmp(const void *a, const void *b)
{
	const struct uidlist_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void
uidlist_free(struct uidlist *ul)
{
	free(ul->v);
	buf_deinit(&ul->pool);
	memset(ul, 0, sizeof(*ul));
}

/* 1 with ul filled (sorted by name), 0 when the folder has no usable
 * dovecot-uidlist (a broken one is logged). */
static int
uidlist_load(const char *root, const char *dir, struct uidlist *ul)
{
	enum store_error err;
	const char *error;
	size_t i;

	memset(ul, 0, sizeof(*ul));
	buf_init(&ul->pool, 0);
	if (maildir_uidlist_read(root, dir, &ul->hdr, uidlist_cb, ul, &err,
				 &error) < 0) {
		if (err != STORE_ERR_NOTFOUND)
			log_warn("sync(%s): dovecot-uidlist not imported: %s",
				 *dir == '\0' ? "INBOX" : dir, error);
		uidlist_free(ul);
		return 0;
	}
	for (i = 0; i < ul->n; i++)
		ul->v[i].name = (const char *)ul->pool.data + ul->v[i].off;
	if (ul->n > 0)
		qsort(ul->v, ul->n, sizeof(*ul->v), uidlist_name_cmp);
	return 1;
}

static uint32_t
uidlist_find(const struct uidlist *ul, const char *base, size_t len)
{
	size_t lo = 0, hi = ul->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *name = ul->v[mid].name;
		int c = base_cmp(name, strlen(name), base, len);

		if (c == 0)
			return ul->v[mid].uid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Keyword names for the letters a..z; NULL where none (or unusable). */
struct kwmap {
	char *names[MAILDIR_KEYWORDS_MAX]; /* owned */
};

/* An IMAP flag-keyword is an atom (RFC 9051 9: no atom-specials, which
 * include ']' here since a flag can't hold it) and not a "\" flag. */
static bool
keyword_ok(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > STORE_KEYWORD_MAX_LEN)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static int
kwmap_cb(unsigned idx, const char *name, void *ctxp)
{
	struct kwmap *map = ctxp;

	if (idx < MAILDIR_KEYWORDS_MAX && keyword_ok(name))
		map->names[idx] = xstrdup(name);
	return 0;
}

static void
kwmap_load(const char *root, const char *dir, struct kwmap *map)
{
	enum store_error err;
	const char *error;
	size_t i;

	if (maildir_keywords_read(root, dir, kwmap_cb, map, &err,
				  &error) == 0 || err == STORE_ERR_NOTFOUND)
		return;
	log_warn("sync(%s): dovecot-keywords ignored: %s",
		 *dir == '\0' ? "INBOX" : dir, error);
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		free(map->names[i]);
		map->names[i] = NULL;
	}
}

static void
kwmap_free(struct kwmap *map)
{
	size_t i;

	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		free(map->names[i]);
}

/* ---- applying the changes ---- */

/* Ranges of exactly the given ascending UIDs (adjacent ones merged, never
 * a range that would cover a UID not in the list).  Caller frees. */
static struct index_uid_range *
uid_ranges(const uint32_t *uids, size_t n, size_t *nranges_r)
{
	struct index_uid_range *r = xcalloc(n == 0 ? 1 : n, sizeof(*r));
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (k > 0 && r[k - 1].hi + 1 == uids[i] && uids[i] != 0)
			r[k - 1].hi = uids[i];
		else {
			r[k].lo = r[k].hi = uids[i];
			k++;
		}
	}
	*nranges_r = k;
	return r;
}

static int
flagchange_cmp(const void *a, const void *b)
{
	const struct flagchange *x = a, *y = b;

	if (x->flags != y->flags)
		return x->flags < y->flags ? -1 : 1;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Make each row's standard flags exactly its target, keywords untouched:
 * per target value (at most 32) one +FLAGS and one -FLAGS over exactly
 * those UIDs, instead of one call per row. */
static int
apply_flags(struct index_db *db, int64_t id, struct flagchange *ch,
	    size_t n, const char **error_r)
{
	uint32_t *uids = xcalloc(n == 0 ? 1 : n, sizeof(uint32_t));
	size_t i = 0, j, k, nranges;
	int ret = 0;

	if (n > 0)
		qsort(ch, n, sizeof(*ch), flagchange_cmp);
	while (i < n && ret == 0) {
		struct index_uid_range *ranges;
		struct index_store req;

		for (j = i, k = 0; j < n && ch[j].flags == ch[i].flags; j++)
			uids[k++] = ch[j].uid;
		ranges = uid_ranges(uids, k, &nranges);
		memset(&req, 0, sizeof(req));
		req.mode = INDEX_STORE_ADD;
		req.flags = ch[i].flags;
		if (req.flags != 0 &&
		    index_msg_store(db, id, ranges, nranges, &req, NULL, NULL,
				    NULL, error_r) < 0)
			ret = -1;
		req.mode = INDEX_STORE_REMOVE;
		req.flags = INDEX_FLAGS_ALL & ~ch[i].flags;
		if (ret == 0 && req.flags != 0 &&
		    index_msg_store(db, id, ranges, nranges, &req, NULL, NULL,
				    NULL, error_r) < 0)
			ret = -1;
		free(ranges);
		i = j;
	}
	free(uids);
	return ret;
}

/* Fill msg from a new file: fstatat for the mtime (and size without
 * ",S="), flags and keywords from the name.  0, or 1 to skip the file
 * (gone meanwhile, or not a regular file). */
static int
new_msg(int dirfd, const char *dir, const struct sfile *f,
	const struct kwmap *map, struct buf *kwpool, size_t *kwoff_r,
	struct index_msg_new *msg)
{
	char safe[80];
	struct stat st;
	unsigned i;

	if (fstatat(dirfd, f->fname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			log_error("sync(%s): fstatat(%s/%s): %s",
				  *dir == '\0' ? "INBOX" : dir,
				  f->in_new ? "new" : "cur",
				  log_sanitize(safe, sizeof(safe), f->fname,
					       strlen(f->fname)),
				  strerror(errno));
		return 1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warn("sync(%s): %s/%s is not a regular file, skipped",
			 *dir == '\0' ? "INBOX" : dir, f->in_new ? "new" : "cur",
			 log_sanitize(safe, sizeof(safe), f->fname,
				      strlen(f->fname)));
		return 1;
	}
	memset(msg, 0, sizeof(*msg));
	msg->uid = f->uid;
	msg->flags = store_flags_from_maildir(f->mflags);
	msg->internaldate = (int64_t)st.st_mtime;
	msg->size = f->has_size ? f->size : (uint64_t)st.st_size;
	/* Keywords go to the pool as "a b c\0"; the pointer is set later. */
	*kwoff_r = kwpool->len;
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if ((f->keywords & (1u << i)) == 0 || map->names[i] == NULL)
			continue;
		if (kwpool->len > *kwoff_r)
			(void)buf_append_byte(kwpool, ' ');
		(void)buf_append_str(kwpool, map->names[i]);
	}
	(void)buf_append_byte(kwpool, '\0');
	return 0;
}

struct newmail {
	struct index_msg_new *msgs; /* owned */
	char **files;               /* owned base names */
	size_t *kwoff;              /* owned */
	size_t n;
	struct buf kwpool;
};

static void
newmail_free(struct newmail *nm)
{
	size_t i;

	for (i = 0; i < nm->n; i++)
		free(nm->files[i]);
	free(nm->msgs);
	free(nm->files);
	free(nm->kwoff);
	buf_deinit(&nm->kwpool);
	memset(nm, 0, sizeof(*nm));
}

/* Build the rows for the new files (already in the order they are to get
 * UIDs). */
static int
newmail_build(const char *root, const char *dir, struct sfile **fv,
	      size_t n, const struct kwmap *map, struct newmail *nm,
	      enum store_error *err_r, const char **error_r)
{
	static const char *const subs[] = { "new", "cur" };
	struct buf path;
	int fds[2] = { -1, -1 };
	size_t i, k = 0;
	int ret = 0;

	buf_init(&nm->kwpool, 0);
	nm->msgs = xcalloc(n == 0 ? 1 : n, sizeof(*nm->msgs));
	nm->files = xcalloc(n == 0 ? 1 : n, sizeof(char *));
	nm->kwoff = xcalloc(n == 0 ? 1 : n, sizeof(size_t));
	buf_init(&path, MAILDIR_PATH_MAX);
	for (i = 0; i < 2 && n > 0; i++) {
		if (sub_path(&path, root, dir, subs[i]) < 0 ||
		    (fds[i] = open(buf_cstr(&path),
				   O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			log_error("sync: open(%s): %s", buf_cstr(&path),
				  strerror(errno));
			*err_r = STORE_ERR_TEMP;
			*error_r = "Mailbox sync failed";
			ret = -1;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		const struct sfile *f = fv[i];

		if (new_msg(fds[f->in_new ? 0 : 1], dir, f, map, &nm->kwpool,
			    &nm->kwoff[k], &nm->msgs[k]) != 0)
			continue;
		nm->files[k] = xstrndup(f->fname, f->base_len);
		nm->msgs[k].file = nm->files[k];
		k++;
		nm->n = k;
	}
	for (i = 0; i < nm->n; i++)
		nm->msgs[i].keywords = (const char *)nm->kwpool.data +
			nm->kwoff[i];
out:
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	buf_deinit(&path);
	return ret;
}

/* ---- the sync ---- */

struct sync_ctx {
	struct index_db *db;
	const char *root, *dir;
	int64_t id;
	unsigned flags;
	struct sync_result *result;
	enum store_error *err_r;
	const char **error_r;

	struct index_mailbox mb;
	struct sfiles files;
	struct srows rows;
	struct flagchange *changes; /* owned */
	size_t nchanges;
	uint32_t *cleared;          /* owned, UIDs whose names we believe */
	size_t ncleared;
	uint32_t *expunge;          /* owned, UIDs */
	size_t nexpunge;
	struct sfile **fresh;       /* owned array; files without a row */
	size_t nfresh;
};

/* Merge the sorted files and rows. */
static void
merge(struct sync_ctx *c)
{
	size_t i = 0, j = 0;

	c->changes = xcalloc(c->rows.n + 1, sizeof(*c->changes));
	c->cleared = xcalloc(c->rows.n + 1, sizeof(uint32_t));
	c->expunge = xcalloc(c->rows.n + 1, sizeof(uint32_t));
	c->fresh = xcalloc(c->files.n + 1, sizeof(*c->fresh));
	while (i < c->files.n || j < c->rows.n) {
		struct sfile *f = i < c->files.n ? &c->files.v[i] : NULL;
		struct srow *r = j < c->rows.n ? &c->rows.v[j] : NULL;
		int cmp;

		if (f == NULL)
			cmp = 1;
		else if (r == NULL)
			cmp = -1;
		else
			cmp = base_cmp(f->fname, f->base_len, r->file,
				       strlen(r->file));
		if (cmp < 0) {
			c->fresh[c->nfresh++] = f;
			i++;
		} else if (cmp > 0) {
			c->expunge[c->nexpunge++] = r->uid;
			j++;
		} else {
			uint32_t want = store_flags_from_maildir(f->mflags);

			/* The name is compared with what it should say (disk
			 * flags: a STORE whose rename is still pending is not
			 * another program's change); when another program did
			 * rename it, its flags win. */
			if (f->has_info && want != r->disk) {
				if (want != r->flags) {
					c->changes[c->nchanges].flags = want;
					c->changes[c->nchanges].uid = r->uid;
					c->nchanges++;
				}
				c->cleared[c->ncleared++] = r->uid;
			}
			i++;
			j++;
		}
	}
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The directories changed while being read: keep only the expunge
 * candidates a second read doesn't find either. */
static int
confirm_expunges(struct sync_ctx *c)
{
	struct sfiles again;
	size_t i, j, k;

	memset(&again, 0, sizeof(again));
	if (scan_folder(c->root, c->dir, &again, c->err_r, c->error_r) < 0) {
		sfiles_free(&again);
		return -1;
	}
	/* rows are sorted by file, expunge[] follows that order; map back
	 * through the rows to get each candidate's name. */
	for (i = 0, j = 0, k = 0; i < c->rows.n && j < c->nexpunge; i++) {
		const struct srow *r = &c->rows.v[i];

		if (r->uid != c->expunge[j])
			continue;
		j++;
		if (!sfiles_has(&again, r->file, strlen(r->file)))
			c->expunge[k++] = r->uid;
	}
	c->nexpunge = k;
	sfiles_free(&again);
	return 0;
}

static int
append_msgs(struct sync_ctx *c, const struct index_msg_new *msgs, size_t n)
{
	uint32_t *uids;
	int ret;

	if (n == 0)
		return 0;
	uids = xcalloc(n, sizeof(uint32_t));
	ret = index_msg_append(c->db, c->id, msgs, n, uids, NULL, c->error_r);
	free(uids);
	if (ret < 0)
		return index_failed(c->db, c->dir, "appending new mail",
				    *c->error_r, c->err_r, c->error_r);
	c->result->added += (uint32_t)n;
	return 0;
}

/* Index the files without a row: with Dovecot's UIDs first when
 * importing, then the rest in delivery order. */
static int
add_fresh(struct sync_ctx *c)
{
	struct uidlist ul;
	struct kwmap map;
	struct newmail nm;
	size_t i, nimport = 0;
	uint32_t maxuid = 0, next;
	bool import = false;
	int ret = -1;

	memset(&map, 0, sizeof(map));
	memset(&nm, 0, sizeof(nm));
	memset(&ul, 0, sizeof(ul));
	if ((c->flags & SYNC_FLAG_IMPORT_DOVECOT) != 0 &&
	    c->mb.messages == 0 && c->mb.uidnext == 1)
		import = uidlist_load(c->root, c->dir, &ul) > 0;
	if (import) {
		for (i = 0; i < c->nfresh; i++) {
			struct sfile *f = c->fresh[i];

			f->uid = uidlist_find(&ul, f->fname, f->base_len);
			if (f->uid != 0)
				nimport++;
		}
	}
	for (i = 0; i < c->nfresh; i++) {
		if (c->fresh[i]->keywords != 0) {
			kwmap_load(c->root, c->dir, &map);
			break;
		}
	}
	/* Dovecot's UIDs ascending, then the others by delivery time. */
	if (c->nfresh > 0)
		qsort(c->fresh, c->nfresh, sizeof(*c->fresh), sfile_time_cmp);
	if (nimport > 0) {
		struct sfile **tmp = xcalloc(c->nfresh, sizeof(*tmp));
		size_t a = 0, b = nimport;

		for (i = 0; i < c->nfresh; i++)
			tmp[c->fresh[i]->uid != 0 ? a++ : b++] = c->fresh[i];
		if (nimport > 0)
			qsort(tmp, nimport, sizeof(*tmp), sfile_uid_cmp);
		memcpy(c->fresh, tmp, c->nfresh * sizeof(*tmp));
		free(tmp);
	}
	if (newmail_build(c->root, c->dir, c->fresh, c->nfresh, &map, &nm,
			  c->err_r, c->error_r) < 0)
		goto out;
	nimport = 0;
	for (i = 0; i < nm.n && nm.msgs[i].uid != 0; i++) {
		nimport++;
		maxuid = nm.msgs[i].uid;
	}
	if (import) {
		/* Dovecot's UIDVALIDITY; UIDs from 1 so its own fit. */
		if (index_mailbox_set_uids(c->db, c->id, ul.hdr.uidvalidity, 1,
					   c->error_r) < 0) {
			index_failed(c->db, c->dir, "importing UIDVALIDITY",
				     *c->error_r, c->err_r, c->error_r);
			goto out;
		}
		if (append_msgs(c, nm.msgs, nimport) < 0)
			goto out;
		c->result->imported = (uint32_t)nimport;
		/* Never hand out a UID Dovecot already gave (to mail
		 * expunged since): uidnext = max(N, highest + 1). */
		next = ul.hdr.nextuid;
		if (maxuid != 0 && maxuid + 1 > next)
			next = maxuid + 1;
		if (next > 1 &&
		    index_mailbox_set_uids(c->db, c->id, ul.hdr.uidvalidity,
					   next, c->error_r) < 0) {
			index_failed(c->db, c->dir, "importing UIDNEXT",
				     *c->error_r, c->err_r, c->error_r);
			goto out;
		}
	}
	if (append_msgs(c, nm.msgs + nimport, nm.n - nimport) < 0)
		goto out;
	ret = 0;
out:
	newmail_free(&nm);
	kwmap_free(&map);
	uidlist_free(&ul);
	return ret;
}

static int
apply(struct sync_ctx *c)
{
	struct index_uid_range *ranges;
	size_t nranges;
	int ret = 0;

	if (c->nexpunge > 0) {
		if (c->nexpunge > 0)
			qsort(c->expunge, c->nexpunge, sizeof(uint32_t), uid_cmp);
		ranges = uid_ranges(c->expunge, c->nexpunge, &nranges);
		ret = index_msg_expunge(c->db, c->id, ranges, nranges, NULL,
					NULL, NULL, c->error_r);
		free(ranges);
		if (ret < 0)
			return index_failed(c->db, c->dir, "expunging",
					    *c->error_r, c->err_r, c->error_r);
		c->result->expunged = (uint32_t)c->nexpunge;
	}
	if (c->nchanges > 0) {
		if (apply_flags(c->db, c->id, c->changes, c->nchanges,
				c->error_r) < 0)
			return index_failed(c->db, c->dir, "updating flags",
					    *c->error_r, c->err_r, c->error_r);
		c->result->flag_changed = (uint32_t)c->nchanges;
	}
	/* After apply_flags: its STORE marks the rows as waiting for a
	 * rename, but their names already say it. */
	if (c->ncleared > 0 &&
	    index_msg_clear_disk_flags(c->db, c->id, c->cleared, c->ncleared,
				       c->error_r) < 0)
		return index_failed(c->db, c->dir, "updating flags",
				    *c->error_r, c->err_r, c->error_r);
	return add_fresh(c);
}

static void
sync_ctx_free(struct sync_ctx *c)
{
	sfiles_free(&c->files);
	srows_free(&c->rows);
	free(c->changes);
	free(c->cleared);
	free(c->expunge);
	free(c->fresh);
}

/* The scan and all index changes, inside the caller-level transaction. */
static int
sync_locked(struct sync_ctx *c, const struct dir_times *pre)
{
	struct index_uid_range all = { 1, UINT32_MAX };
	struct dir_times post, save;
	struct timespec now;
	int64_t limit;
	size_t i;
	bool stable;
	int r;

	/* Re-read inside the transaction: another process may have
	 * written since the mtime check. */
	r = index_mailbox_get_by_id(c->db, c->id, &c->mb, c->error_r);
	if (r <= 0 || c->mb.noselect) {
		if (r < 0)
			return index_failed(c->db, c->dir, "reading mailbox",
					    *c->error_r, c->err_r, c->error_r);
		*c->err_r = STORE_ERR_NOTFOUND;
		*c->error_r = "Mailbox doesn't exist";
		return -1;
	}
	buf_init(&c->rows.pool, 0);
	if (index_msg_fetch(c->db, c->id, &all, 1, row_cb, &c->rows,
			    c->error_r) < 0)
		return index_failed(c->db, c->dir, "reading messages",
				    *c->error_r, c->err_r, c->error_r);
	for (i = 0; i < c->rows.n; i++)
		c->rows.v[i].file = (const char *)c->rows.pool.data +
			c->rows.v[i].off;
	if (c->rows.n > 0)
		qsort(c->rows.v, c->rows.n, sizeof(*c->rows.v), srow_file_cmp);

	clock_gettime(CLOCK_REALTIME, &now);
	if (scan_folder(c->root, c->dir, &c->files, c->err_r,
			c->error_r) < 0)
		return -1;
	if (dirs_stat(c->root, -1, c->dir, &post, c->err_r, c->error_r) < 0)
		return -1;
	/* Trust the pre-scan mtimes only if nothing moved during the scan
	 * and they are old enough that a later change must alter them. */
	limit = ts_ns(&now) - SYNC_MTIME_SLACK_SECS * NSEC_PER_SEC;
	stable = post.mtime_new == pre->mtime_new &&
		post.mtime_cur == pre->mtime_cur &&
		pre->mtime_new < limit && pre->mtime_cur < limit;

	merge(c);
	if (c->nexpunge > 0 && !stable && confirm_expunges(c) < 0)
		return -1;
	if (apply(c) < 0)
		return -1;
	save = *pre;
	if (!stable)
		save.mtime_new = save.mtime_cur = SYNC_MTIME_UNTRUSTED;
	if (index_mailbox_set_mtimes(c->db, c->id, save.mtime_new,
				     save.mtime_cur, c->error_r) < 0)
		return index_failed(c->db, c->dir, "saving mtimes",
				    *c->error_r, c->err_r, c->error_r);
	c->result->scanned = true;
	return 0;
}

int
sync_mailbox(struct index_db *db, const char *root, const char *dir,
	     int64_t mailbox_id, unsigned flags, struct sync_result *result_r,
	     enum store_error *err_r, const char **error_r)
{
	struct sync_ctx c;
	struct dir_times pre;
	int r;

	memset(result_r, 0, sizeof(*result_r));
	if (!dir_ok(dir)) {
		*err_r = STORE_ERR_BADNAME;
		*error_r = "Invalid mailbox directory";
		return -1;
	}
	if (dirs_stat(root, -1, dir, &pre, err_r, error_r) < 0)
		return -1;
	memset(&c, 0, sizeof(c));
	r = index_mailbox_get_by_id(db, mailbox_id, &c.mb, error_r);
	if (r <= 0 || c.mb.noselect) {
		if (r < 0)
			return index_failed(db, dir, "reading mailbox",
					    *error_r, err_r, error_r);
		*err_r = STORE_ERR_NOTFOUND;
		*error_r = "Mailbox doesn't exist";
		return -1;
	}
	/* The cheap path: two stats and one row read. */
	if ((flags & SYNC_FLAG_FORCE) == 0 &&
	    c.mb.mtime_new == pre.mtime_new && c.mb.mtime_cur == pre.mtime_cur)
		return 0;

	c.db = db;
	c.root = root;
	c.dir = dir;
	c.id = mailbox_id;
	c.flags = flags;
	c.result = result_r;
	c.err_r = err_r;
	c.error_r = error_r;
	/* The write lock is held while the folder is read: see sync.h. */
	if (index_transaction_begin(db, error_r) < 0)
		return index_failed(db, dir, "begin", *error_r, err_r,
				    error_r);
	if (sync_locked(&c, &pre) < 0) {
		index_transaction_rollback(db);
		memset(result_r, 0, sizeof(*result_r));
		sync_ctx_free(&c);
		return -1;
	}
	if (index_transaction_commit(db, error_r) < 0) {
		memset(result_r, 0, sizeof(*result_r));
		sync_ctx_free(&c);
		return index_failed(db, dir, "commit", *error_r, err_r,
				    error_r);
	}
	sync_ctx_free(&c);
	if (result_r->added + result_r->expunged + result_r->flag_changed > 0)
		log_debug("sync(%s): added=%u imported=%u expunged=%u "
			  "flags=%u", *dir == '\0' ? "INBOX" : dir,
			  result_r->added, result_r->imported,
			  result_r->expunged, result_r->flag_changed);
	return 0;
}

int
sync_mailbox_in_step(const char *root, int root_fd, const char *dir,
		     const struct index_mailbox *mb, enum store_error *err_r,
		     const char **error_r)
{
	struct dir_times now;

	if (mb->noselect || !dir_ok(dir))
		return 0; /* sync_mailbox() says what is wrong */
	if (dirs_stat(root, root_fd, dir, &now, err_r, error_r) < 0)
		return -1;
	return mb->mtime_new == now.mtime_new && mb->mtime_cur == now.mtime_cur;
}

int
sync_mailbox_row(struct index_db *db, const char *root, int root_fd,
		 const char *dir,
		 const struct index_mailbox *mb, unsigned flags,
		 struct sync_result *result_r, enum store_error *err_r,
		 const char **error_r)
{
	int r = 0;

	memset(result_r, 0, sizeof(*result_r));
	if ((flags & SYNC_FLAG_FORCE) == 0)
		r = sync_mailbox_in_step(root, root_fd, dir, mb, err_r,
					 error_r);
	if (r != 0)
		return r < 0 ? -1 : 0;
	return sync_mailbox(db, root, dir, mb->id, flags, result_r, err_r,
			    error_r);
}

/* ---- every mailbox ---- */

struct mbox_item {
	int64_t id;
	char *name; /* owned */
};

struct mbox_list {
	struct mbox_item *v; /* owned */
	size_t n, cap;
};

static void
mbox_list_cb(const struct index_mailbox_info *info, void *ctxp)
{
	struct mbox_list *l = ctxp;

	if (info->noselect)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].id = info->id;
	l->v[l->n].name = xstrdup(info->name);
	l->n++;
}

int
sync_user(struct index_db *db, const char *root, unsigned flags,
	  struct sync_result *result_r, enum store_error *err_r,
	  const char **error_r)
{
	struct mbox_list l;
	struct sync_result one, sum;
	struct buf dir;
	enum store_error e;
	const char *error;
	size_t i;
	int ret = 0;

	memset(&l, 0, sizeof(l));
	memset(&sum, 0, sizeof(sum));
	if (result_r != NULL)
		memset(result_r, 0, sizeof(*result_r));
	if (index_mailbox_list(db, mbox_list_cb, &l, error_r) < 0)
		return index_failed(db, "(all)", "listing mailboxes", *error_r,
				    err_r, error_r);
	buf_init(&dir, 0);
	for (i = 0; i < l.n; i++) {
		buf_clear(&dir);
		if (maildir_name_to_dir(l.v[i].name, strlen(l.v[i].name), &dir,
					&e, &error) < 0 ||
		    sync_mailbox(db, root, buf_cstr(&dir), l.v[i].id, flags,
				 &one, &e, &error) < 0) {
			if (e == STORE_ERR_NOTFOUND) {
				log_warn("sync: mailbox id=%lld has no folder "
					 "%s: skipped", (long long)l.v[i].id,
					 buf_cstr(&dir));
			} else {
				log_error("sync: mailbox id=%lld (%s): %s",
					  (long long)l.v[i].id, buf_cstr(&dir),
					  error);
				if (ret == 0) {
					*err_r = e;
					*error_r = error;
				}
				ret = -1;
			}
			continue;
		}
		sum.added += one.added;
		sum.imported += one.imported;
		sum.expunged += one.expunged;
		sum.flag_changed += one.flag_changed;
		sum.scanned = sum.scanned || one.scanned;
	}
	for (i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	buf_deinit(&dir);
	if (result_r != NULL)
		*result_r = sum;
	return ret;
}

int
sync_own_write_begin(struct index_db *db, const char *root, int root_fd,
		     const char *dir, int64_t mailbox_id, bool *clean_r)
{
	struct index_mailbox mb;
	struct dir_times now;
	enum store_error err;
	const char *error;

	*clean_r = false;
	if (!dir_ok(dir) ||
	    dirs_stat(root, root_fd, dir, &now, &err, &error) < 0)
		return 0;
	if (index_mailbox_get_by_id(db, mailbox_id, &mb, &error) <= 0)
		return 0;
	*clean_r = mb.mtime_new == now.mtime_new && mb.mtime_cur == now.mtime_cur;
	return 0;
}

void
sync_own_write_end(struct index_db *db, const char *root, int root_fd,
		   const char *dir, int64_t mailbox_id, bool was_clean)
{
	struct dir_times now;
	enum store_error err;
	const char *error;

	if (!was_clean ||
	    dirs_stat(root, root_fd, dir, &now, &err, &error) < 0)
		return;
	if (index_mailbox_set_mtimes(db, mailbox_id, now.mtime_new,
				     now.mtime_cur, &error) < 0)
		log_warn("sync(%s): saving mtimes after our write: %s",
			 *dir == '\0' ? "INBOX" : dir, error);
}
