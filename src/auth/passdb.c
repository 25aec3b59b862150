/* passdb: the passwd-file user database (Dovecot's format) with
 * thread-safe lookups, reload on change, and the CLI's atomic editing.
 *
 * A loaded file is kept as one buffer whose fields are NUL-terminated in
 * place plus an array of entries sorted by name, so a 100k-user file costs
 * one allocation for the text and one for the index, and a lookup is a
 * binary search.  Each lookup stat()s the file and re-reads it when its
 * identity (device, inode, size, mtime, ctime, with nanoseconds) changed; a
 * failed read keeps the previous contents and isn't retried until the file
 * changes again, so a broken file doesn't cost a read per login.
 * File timestamps are only as fine as the kernel's clock tick, so a
 * same-size rewrite within one tick of the previous one would go unseen;
 * as git does with its index, contents loaded within a second of the
 * file's mtime are "racy" and read once more when that second is past,
 * so such a change shows up within about two seconds.
 *
 * Editing takes flock() on <path>.lock (never unlinked, so two editors can't
 * end up holding locks on different inodes), writes <path>.tmp, fsyncs it,
 * renames it over the file and fsyncs the directory.  Lines other than the
 * one changed are copied byte for byte, comments and CRLFs included.
 * Non-goals: userdb fields beyond uid/gid/home/extra, and Dovecot's
 * %-variables in the file. */
#include "passdb.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "strnum.h"
#include "xalloc.h"

/* What identifies one version of the file. */
struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct passdb_entry {
	/* all point into passdb_contents.data */
	char *name;
	char *password;
	char *home;
	char *extra;
	long uid;
	long gid;
	size_t line_no; /* 1-based, for stable ordering of duplicates */
};

struct passdb_contents {
	char *data;       /* owned; the file text, fields split in place */
	size_t data_size; /* allocation size, for wiping */
	struct passdb_entry *entries; /* owned; sorted by name */
	size_t count;
};

struct passdb {
	char *path; /* owned, immutable */
	pthread_mutex_t lock;
	/* The fields below are protected by lock. */
	struct passdb_contents contents;
	struct file_id loaded;     /* version the contents came from */
	bool loaded_racy;          /* loaded within a second of its mtime */
	struct file_id failed;     /* version whose read last failed */
	bool has_failed;
};

/* ---- reading and parsing ---- */

static void
file_id_from_stat(struct file_id *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->exists = true;
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
	id->mode = st->st_mode;
	id->uid = st->st_uid;
	id->gid = st->st_gid;
}

static bool
file_id_equal(const struct file_id *a, const struct file_id *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
		a->mtime.tv_sec == b->mtime.tv_sec &&
		a->mtime.tv_nsec == b->mtime.tv_nsec &&
		a->ctime.tv_sec == b->ctime.tv_sec &&
		a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Reads the whole file into a NUL-terminated malloc'd buffer.  A missing
 * file reads as empty (id_r->exists = false).  0 ok, -1 with *error_r. */
static int
read_file(const char *path, char **data_r, size_t *len_r, size_t *size_r,
	  struct file_id *id_r, const char **error_r)
{
	struct stat st;
	char *data;
	size_t len = 0, size;
	ssize_t n;
	int fd;

	*data_r = NULL;
	*len_r = 0;
	*size_r = 0;
	memset(id_r, 0, sizeof(*id_r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("passdb: open(%s): %s", path, strerror(errno));
		*error_r = "cannot open passwd-file";
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_error("passdb: fstat(%s): %s", path, strerror(errno));
		close(fd);
		*error_r = "cannot stat passwd-file";
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		*error_r = "passwd-file is not a regular file";
		return -1;
	}
	if (st.st_size > PASSDB_MAX_FILE_SIZE) {
		close(fd);
		*error_r = "passwd-file is too large";
		return -1;
	}
	file_id_from_stat(id_r, &st);
	size = (size_t)st.st_size + 1;
	data = xmalloc(size);
	for (;;) {
		if (len + 1 == size) {
			/* The file grew after fstat(); keep reading. */
			if (size > PASSDB_MAX_FILE_SIZE) {
				*error_r = "passwd-file is too large";
				goto fail;
			}
			size = size * 2 > PASSDB_MAX_FILE_SIZE + 1 ?
				PASSDB_MAX_FILE_SIZE + 1 : size * 2;
			data = xrealloc(data, size);
		}
		n = read(fd, data + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("passdb: read(%s): %s", path,
				  strerror(errno));
			*error_r = "cannot read passwd-file";
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	data[len] = '\0';
	*data_r = data;
	*len_r = len;
	*size_r = size;
	return 0;
fail:
	close(fd);
	OPENSSL_cleanse(data, size);
	free(data);
	return -1;
}

/* An empty uid/gid field is -1; otherwise 0..2^32-1. */
static int
parse_id(const char *s, long *value_r)
{
	uint64_t v;

	if (s == NULL || s[0] == '\0') {
		*value_r = -1;
		return 0;
	}
	if (!str_to_u64z(s, UINT32_MAX, &v))
		return -1;
	*value_r = (long)v;
	return 0;
}

/* Parses one line (without its LF, NUL-terminated, modified in place).
 *   user:password:uid:gid:gecos:home:shell:extra_fields
 * Fields after the name may be missing; extra_fields is the rest of the
 * line.  1 = entry, 0 = comment or blank, -1 = malformed. */
static int
parse_line(char *line, size_t len, struct passdb_entry *e)
{
	char *fields[7] = { NULL };
	char *p = line, *colon;
	size_t i, nfields = 0;
	bool blank = true;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t') {
			blank = false;
			break;
		}
	}
	if (blank || line[0] == '#')
		return 0;
	if (memchr(line, '\0', len) != NULL)
		return -1;

	memset(e, 0, sizeof(*e));
	while (nfields < 7) {
		fields[nfields++] = p;
		colon = strchr(p, ':');
		if (colon == NULL) {
			p = NULL;
			break;
		}
		*colon = '\0';
		p = colon + 1;
	}
	e->name = fields[0];
	if (e->name[0] == '\0')
		return -1;
	e->password = fields[1] != NULL ? fields[1] : line + len;
	if (parse_id(fields[2], &e->uid) < 0 ||
	    parse_id(fields[3], &e->gid) < 0)
		return -1;
	e->home = fields[5] != NULL ? fields[5] : line + len;
	/* After seven fields, p is what follows the 7th colon. */
	e->extra = nfields == 7 && p != NULL ? p : line + len;
	return 1;
}

/* Splits data into entries in file order.  Malformed lines are logged
 * (by number, never content: they may hold hashes) and skipped. */
static void
parse_contents(const char *path, char *data, size_t len,
	       struct passdb_entry **entries_r, size_t *count_r)
{
	struct passdb_entry *entries = NULL, e;
	size_t count = 0, alloc = 0, line_no = 0, pos = 0;

	while (pos < len) {
		char *line = data + pos;
		char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl == NULL ? len - pos : (size_t)(nl - line);
		int ret;

		line_no++;
		line[llen] = '\0';
		pos += llen + 1;
		ret = parse_line(line, llen, &e);
		if (ret < 0) {
			log_warn("passdb: %s:%zu: malformed line ignored",
				 path, line_no);
			continue;
		}
		if (ret == 0)
			continue;
		if (count == alloc) {
			alloc = alloc == 0 ? 64 : alloc * 2;
			entries = xreallocarray(entries, alloc,
						sizeof(*entries));
		}
		e.line_no = line_no;
		entries[count++] = e;
	}
	*entries_r = entries;
	*count_r = count;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct passdb_entry *ea = a, *eb = b;
	int ret = strcmp(ea->name, eb->name);

	if (ret != 0)
		return ret;
	return ea->line_no < eb->line_no ? -1 : ea->line_no > eb->line_no;
}

static void
contents_free(struct passdb_contents *c)
{
	if (c->data != NULL)
		OPENSSL_cleanse(c->data, c->data_size);
	free(c->data);
	free(c->entries);
	memset(c, 0, sizeof(*c));
}

/* Reads and indexes the file.  0 ok, -1 with *error_r. */
static int
contents_load(const char *path, struct passdb_contents *c_r,
	      struct file_id *id_r, const char **error_r)
{
	struct passdb_contents c;
	size_t len, i, out;

	memset(&c, 0, sizeof(c));
	if (read_file(path, &c.data, &len, &c.data_size, id_r, error_r) < 0)
		return -1;
	if (c.data != NULL)
		parse_contents(path, c.data, len, &c.entries, &c.count);
	if (c.count > 1) {
		qsort(c.entries, c.count, sizeof(c.entries[0]), entry_cmp);
		/* The first line for a name wins, as it does in the file's
		 * order for editing and listing. */
		for (i = 1, out = 1; i < c.count; i++) {
			if (strcmp(c.entries[i].name,
				   c.entries[out - 1].name) == 0) {
				log_warn("passdb: %s:%zu: duplicate user "
					 "ignored", path,
					 c.entries[i].line_no);
				continue;
			}
			c.entries[out++] = c.entries[i];
		}
		c.count = out;
	}
	*c_r = c;
	return 0;
}

/* True when the file was modified so recently that another write in the
 * same timestamp tick would leave its identity unchanged. */
static bool
is_racy(const struct file_id *id)
{
	struct timespec now;

	if (!id->exists)
		return false;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return true;
	return now.tv_sec - id->mtime.tv_sec <= 1;
}

/* Caller holds db->lock.  Re-reads the file if it changed (or if force).
 * On failure the old contents stay. */
static int
passdb_refresh(struct passdb *db, bool force, const char **error_r)
{
	struct passdb_contents c;
	struct file_id now, loaded;
	struct stat st;

	if (stat(db->path, &st) == 0) {
		file_id_from_stat(&now, &st);
	} else if (errno == ENOENT) {
		memset(&now, 0, sizeof(now));
	} else {
		log_error("passdb: stat(%s): %s", db->path, strerror(errno));
		*error_r = "cannot stat passwd-file";
		return -1;
	}
	if (!force) {
		if (file_id_equal(&now, &db->loaded) &&
		    (!db->loaded_racy || is_racy(&now)))
			return 0;
		if (db->has_failed && file_id_equal(&now, &db->failed)) {
			*error_r = "passwd-file unreadable, using old contents";
			return -1;
		}
	}
	if (contents_load(db->path, &c, &loaded, error_r) < 0) {
		db->failed = now;
		db->has_failed = true;
		return -1;
	}
	contents_free(&db->contents);
	db->contents = c;
	db->loaded = loaded;
	db->loaded_racy = is_racy(&loaded);
	db->has_failed = false;
	return 0;
}

struct passdb *
passdb_new(const char *path, const char **error_r)
{
	struct passdb *db;

	if (path == NULL || path[0] == '\0') {
		*error_r = "no passwd-file path";
		return NULL;
	}
	db = xmalloc(sizeof(*db));
	db->path = xstrdup(path);
	if (pthread_mutex_init(&db->lock, NULL) != 0) {
		free(db->path);
		free(db);
		*error_r = "pthread_mutex_init failed";
		return NULL;
	}
	if (contents_load(db->path, &db->contents, &db->loaded,
			  error_r) < 0) {
		passdb_free(&db);
		return NULL;
	}
	db->loaded_racy = is_racy(&db->loaded);
	return db;
}

void
passdb_free(struct passdb **dbp)
{
	struct passdb *db = *dbp;

	if (db == NULL)
		return;
	*dbp = NULL;
	contents_free(&db->contents);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	free(db);
}

int
passdb_reload(struct passdb *db, const char **error_r)
{
	int ret;

	pthread_mutex_lock(&db->lock);
	ret = passdb_refresh(db, true, error_r);
	pthread_mutex_unlock(&db->lock);
	return ret;
}

static struct passdb_user *
user_copy(const struct passdb_entry *e)
{
	struct passdb_user *u = xmalloc(sizeof(*u));

	u->name = xstrdup(e->name);
	u->password = xstrdup(e->password);
	u->uid = e->uid;
	u->gid = e->gid;
	u->home = xstrdup(e->home);
	u->extra = xstrdup(e->extra);
	return u;
}

static int
entry_name_cmp(const void *key, const void *elem)
{
	const struct passdb_entry *e = elem;

	return strcmp(key, e->name);
}

int
passdb_lookup(struct passdb *db, const char *name,
	      struct passdb_user **user_r)
{
	const struct passdb_entry *e;
	const char *error;
	int ret = 0;

	*user_r = NULL;
	if (name == NULL)
		return -1;
	pthread_mutex_lock(&db->lock);
	/* A failed re-read was logged; the last good contents answer. */
	(void)passdb_refresh(db, false, &error);
	if (db->contents.count > 0) {
		e = bsearch(name, db->contents.entries, db->contents.count,
			    sizeof(db->contents.entries[0]), entry_name_cmp);
		if (e != NULL) {
			*user_r = user_copy(e);
			ret = 1;
		}
	}
	pthread_mutex_unlock(&db->lock);
	return ret;
}

void
passdb_user_free(struct passdb_user **userp)
{
	struct passdb_user *u = *userp;

	if (u == NULL)
		return;
	*userp = NULL;
	free(u->name);
	if (u->password != NULL)
		OPENSSL_cleanse(u->password, strlen(u->password));
	free(u->password);
	free(u->home);
	free(u->extra);
	free(u);
}

/* ---- editing ---- */

bool
passdb_name_valid(const char *name)
{
	size_t i, len;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len == 0 || len > PASSDB_NAME_MAX_LEN || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '@' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

static bool
hash_valid(const char *hash)
{
	return hash != NULL && hash[0] != '\0' &&
		strpbrk(hash, ":\r\n") == NULL;
}

enum edit_op {
	EDIT_ADD,
	EDIT_SET,
	EDIT_DEL,
};

static int
write_all(int fd, const uint8_t *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the rename durable: without this a crash can bring back the old
 * file (or neither) even though we reported success. */
static int
fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, ret = 0;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		log_error("passdb: fsync(%s): %s", dir, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

/* Writes data to <path>.tmp and renames it over path.  The new file gets
 * the old one's mode (and owner, when we're root), or 0640. */
static int
replace_file(const char *path, const struct buf *data,
	     const struct file_id *old, const char **error_r)
{
	struct buf tmp;
	int fd;

	buf_init(&tmp, 0);
	if (buf_printf(&tmp, "%s.tmp", path) < 0) {
		*error_r = "path too long";
		return -1;
	}
	/* We hold the lock, so a leftover tmp file is from a crashed
	 * editor; O_TRUNC reuses it, O_NOFOLLOW refuses a planted link. */
	fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		  O_NOFOLLOW, 0640);
	if (fd < 0) {
		log_error("passdb: open(%s): %s", buf_cstr(&tmp),
			  strerror(errno));
		*error_r = "cannot create temporary passwd-file";
		buf_deinit(&tmp);
		return -1;
	}
	if (fchmod(fd, old->exists ? (old->mode & 07777) : 0640) < 0) {
		log_error("passdb: fchmod(%s): %s", buf_cstr(&tmp),
			  strerror(errno));
		*error_r = "cannot set passwd-file mode";
		goto fail;
	}
	if (old->exists && geteuid() == 0 &&
	    fchown(fd, old->uid, old->gid) < 0) {
		log_error("passdb: fchown(%s): %s", buf_cstr(&tmp),
			  strerror(errno));
		*error_r = "cannot set passwd-file owner";
		goto fail;
	}
	/* write + fsync before rename: otherwise a crash after the rename
	 * can leave an empty or partial passwd-file. */
	if (write_all(fd, data->data, data->len) < 0 || fsync(fd) < 0) {
		log_error("passdb: write(%s): %s", buf_cstr(&tmp),
			  strerror(errno));
		*error_r = "cannot write temporary passwd-file";
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		log_error("passdb: close(%s): %s", buf_cstr(&tmp),
			  strerror(errno));
		*error_r = "cannot write temporary passwd-file";
		goto fail;
	}
	fd = -1;
	if (rename(buf_cstr(&tmp), path) < 0) {
		log_error("passdb: rename(%s, %s): %s", buf_cstr(&tmp), path,
			  strerror(errno));
		*error_r = "cannot rename temporary passwd-file";
		goto fail;
	}
	buf_deinit(&tmp);
	if (fsync_dir_of(path) < 0) {
		*error_r = "cannot fsync passwd-file directory";
		return -1;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(buf_cstr(&tmp));
	buf_deinit(&tmp);
	return -1;
}

/* Length of the line's user name field (up to ':' or the line's end),
 * or 0 for comments and blank lines, which never match. */
static size_t
line_name_len(const char *line, size_t content_len)
{
	const char *colon;

	if (content_len == 0 || line[0] == '#')
		return 0;
	colon = memchr(line, ':', content_len);
	return colon == NULL ? content_len : (size_t)(colon - line);
}

/* Builds the edited file in out.  0 ok, -1 with *error_r. */
static int
edit_contents(const char *data, size_t len, enum edit_op op,
	      const char *name, const char *hash, struct buf *out,
	      const char **error_r)
{
	size_t pos = 0, name_len = strlen(name), matches = 0;

	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t full = nl == NULL ? len - pos : (size_t)(nl - line) + 1;
		size_t content = nl == NULL ? full : full - 1;
		size_t nlen;
		int ret = 0;

		if (content > 0 && line[content - 1] == '\r')
			content--;
		pos += full;
		nlen = line_name_len(line, content);
		if (nlen != name_len || memcmp(line, name, name_len) != 0) {
			if (buf_append(out, line, full) < 0)
				goto too_big;
			continue;
		}
		matches++;
		if (op == EDIT_ADD) {
			*error_r = "user already exists";
			return -1;
		}
		if (op == EDIT_DEL)
			continue;
		/* EDIT_SET: replace field 2, keep everything else. */
		{
			const char *rest = line + nlen;
			size_t rest_len = full - nlen;

			if (nlen < content) {
				/* skip ":" and the old password */
				const char *c2 = memchr(line + nlen + 1, ':',
							content - nlen - 1);

				rest = c2 != NULL ? c2 : line + content;
				rest_len = (size_t)(line + full - rest);
			} else {
				rest = line + content;
				rest_len = full - content;
			}
			ret = buf_append(out, line, nlen);
			if (ret == 0)
				ret = buf_append_byte(out, ':');
			if (ret == 0)
				ret = buf_append_str(out, hash);
			if (ret == 0)
				ret = buf_append(out, rest, rest_len);
			if (ret < 0)
				goto too_big;
		}
	}
	if (op != EDIT_ADD && matches == 0) {
		*error_r = "no such user";
		return -1;
	}
	if (op == EDIT_ADD) {
		if (len > 0 && data[len - 1] != '\n' &&
		    buf_append_byte(out, '\n') < 0)
			goto too_big;
		if (buf_printf(out, "%s:%s::::::\n", name, hash) < 0)
			goto too_big;
	}
	return 0;
too_big:
	*error_r = "passwd-file is too large";
	return -1;
}

static int
edit_file(const char *path, enum edit_op op, const char *name,
	  const char *hash, const char **error_r)
{
	struct file_id id;
	struct buf lockpath, out;
	char *data = NULL;
	size_t len, size;
	int lockfd, ret = -1;

	if (path == NULL || path[0] == '\0') {
		*error_r = "no passwd-file path";
		return -1;
	}
	if (!passdb_name_valid(name)) {
		*error_r = "invalid user name";
		return -1;
	}
	if (op != EDIT_DEL && !hash_valid(hash)) {
		*error_r = "invalid password hash (empty, or has ':' or a "
			"line break)";
		return -1;
	}
	buf_init(&lockpath, 0);
	if (buf_printf(&lockpath, "%s.lock", path) < 0) {
		*error_r = "path too long";
		return -1;
	}
	lockfd = open(buf_cstr(&lockpath), O_RDWR | O_CREAT | O_CLOEXEC |
		      O_NOFOLLOW, 0600);
	if (lockfd < 0) {
		log_error("passdb: open(%s): %s", buf_cstr(&lockpath),
			  strerror(errno));
		*error_r = "cannot open passwd-file lock";
		buf_deinit(&lockpath);
		return -1;
	}
	while (flock(lockfd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		log_error("passdb: flock(%s): %s", buf_cstr(&lockpath),
			  strerror(errno));
		*error_r = "cannot lock passwd-file";
		goto done;
	}
	if (read_file(path, &data, &len, &size, &id, error_r) < 0)
		goto done;
	buf_init(&out, PASSDB_MAX_FILE_SIZE);
	if (edit_contents(data == NULL ? "" : data, len, op, name, hash,
			  &out, error_r) == 0)
		ret = replace_file(path, &out, &id, error_r);
	if (out.data != NULL)
		OPENSSL_cleanse(out.data, out.cap);
	buf_deinit(&out);
done:
	if (data != NULL)
		OPENSSL_cleanse(data, size);
	free(data);
	close(lockfd); /* releases the flock */
	buf_deinit(&lockpath);
	return ret;
}

int
passdb_file_add(const char *path, const char *name, const char *hash,
		const char **error_r)
{
	return edit_file(path, EDIT_ADD, name, hash, error_r);
}

int
passdb_file_set_password(const char *path, const char *name,
			 const char *hash, const char **error_r)
{
	return edit_file(path, EDIT_SET, name, hash, error_r);
}

int
passdb_file_del(const char *path, const char *name, const char **error_r)
{
	return edit_file(path, EDIT_DEL, name, NULL, error_r);
}

int
passdb_file_list(const char *path,
		 void (*fn)(const struct passdb_user *user, void *ctx),
		 void *ctx, const char **error_r)
{
	struct passdb_entry *entries = NULL;
	struct file_id id;
	char *data;
	size_t len, size, count = 0, i;

	if (read_file(path, &data, &len, &size, &id, error_r) < 0)
		return -1;
	if (data == NULL)
		return 0;
	parse_contents(path, data, len, &entries, &count);
	for (i = 0; i < count; i++) {
		struct passdb_user u = {
			.name = entries[i].name,
			.password = entries[i].password,
			.uid = entries[i].uid,
			.gid = entries[i].gid,
			.home = entries[i].home,
			.extra = entries[i].extra,
		};

		fn(&u, ctx);
	}
	free(entries);
	OPENSSL_cleanse(data, size);
	free(data);
	return 0;
}
