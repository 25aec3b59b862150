/* maildir-folder: Maildir++ folder directories: create, delete (via
 * Dovecot's trash rename, never following symlinks), rename, existence and
 * listing.  Non-goals: hierarchy semantics (the caller renames or deletes
 * children one by one) and subscriptions (the index keeps them). */
#include "maildir.h"
#include "maildir-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- folders ---- */

static int
mkdir_synced(const char *path, const char *parent, bool exist_ok,
	     enum store_error *err_r, const char **error_r)
{
	struct stat st;

	if (mkdir(path, 0700) < 0) {
		if (errno != EEXIST || !exist_ok)
			return maildir_sys_fail("mkdir", path, errno, STORE_ERR_NOTFOUND,
					err_r, error_r);
		if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			log_error("mkdir(%s): exists and is not a directory",
				  path);
			return maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				       "Internal error");
		}
		return 0;
	}
	/* The new entry is only durable once its parent is synced. */
	return maildir_fsync_path(parent, err_r, error_r);
}

bool
maildir_root_complete(const char *root)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char path[MAILDIR_PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (maildir_folder_path(path, sizeof(path), root, "", subs[i],
					NULL) < 0 ||
		    lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			return false;
	}
	return true;
}

int
maildir_root_create(const char *root, enum store_error *err_r,
		    const char **error_r)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char parent[MAILDIR_PATH_MAX], path[MAILDIR_PATH_MAX];
	const char *slash = strrchr(root, '/');
	size_t i;

	if (root[0] == '\0')
		return maildir_bad_args(err_r, error_r);
	if (slash == NULL)
		(void)maildir_mkpath(parent, sizeof(parent), ".");
	else if (slash == root)
		(void)maildir_mkpath(parent, sizeof(parent), "/");
	else if (maildir_mkpath(parent, sizeof(parent), "%.*s", (int)(slash - root),
			root) < 0)
		return maildir_path_fail(err_r, error_r);
	if (mkdir_synced(root, parent, true, err_r, error_r) < 0)
		return -1;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (maildir_folder_path(path, sizeof(path), root, "", subs[i], NULL) < 0)
			return maildir_path_fail(err_r, error_r);
		if (mkdir_synced(path, root, true, err_r, error_r) < 0)
			return -1;
	}
	return 0;
}

int
maildir_folder_create(const char *root, const char *dir,
		      enum store_error *err_r, const char **error_r)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char fpath[MAILDIR_PATH_MAX], path[MAILDIR_PATH_MAX];
	size_t i, made = 0;
	int fd, e;

	if (!maildir_dir_ok(dir, false))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(fpath, sizeof(fpath), root, dir, NULL, NULL) < 0 ||
	    maildir_folder_path(path, sizeof(path), root, dir, "maildirfolder",
			NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	if (mkdir(fpath, 0700) < 0) {
		if (errno == EEXIST)
			return maildir_set_err(err_r, STORE_ERR_EXISTS, error_r,
				       "Mailbox already exists");
		return maildir_sys_fail("mkdir", fpath, errno, STORE_ERR_NOTFOUND,
				err_r, error_r);
	}
	if (maildir_fsync_path(root, err_r, error_r) < 0)
		goto undo;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		(void)maildir_folder_path(path, sizeof(path), root, dir, subs[i], NULL);
		if (mkdir_synced(path, fpath, false, err_r, error_r) < 0)
			goto undo;
		made++;
	}
	/* Empty marker that Courier and Dovecot's quota code look for. */
	(void)maildir_folder_path(path, sizeof(path), root, dir, "maildirfolder",
				  NULL);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		maildir_sys_fail("open", path, errno, STORE_ERR_TEMP, err_r, error_r);
		goto undo;
	}
	if (close(fd) < 0) {
		e = errno;
		(void)unlink(path);
		maildir_sys_fail("close", path, e, STORE_ERR_TEMP, err_r, error_r);
		goto undo;
	}
	if (maildir_fsync_path(fpath, err_r, error_r) < 0) {
		(void)unlink(path);
		goto undo;
	}
	return 0;
undo:
	/* Leave nothing half-created (e.g. ENOSPC after the first mkdir). */
	while (made > 0) {
		made--;
		(void)maildir_folder_path(path, sizeof(path), root, dir, subs[made],
				  NULL);
		(void)rmdir(path);
	}
	(void)rmdir(fpath);
	return -1;
}

static bool
known_control_file(const char *name)
{
	return strcmp(name, "maildirfolder") == 0 ||
	       strncmp(name, "dovecot", 7) == 0 ||
	       strncmp(name, "courierimap", 11) == 0;
}

static bool
is_dir_entry(int dfd, const struct dirent *de, bool *is_link_r)
{
	struct stat st;

	*is_link_r = false;
	if (de->d_type == DT_DIR)
		return true;
	if (de->d_type == DT_LNK) {
		*is_link_r = true;
		return false;
	}
	if (de->d_type != DT_UNKNOWN)
		return false;
	if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	*is_link_r = S_ISLNK(st.st_mode);
	return S_ISDIR(st.st_mode);
}

/* Walk folder directory `name` under rootfd.  With do_delete false only
 * check that it holds nothing unknown; with true remove it.  Never follows
 * a symlink (O_NOFOLLOW on every directory opened, unlinkat on entries).
 * 0, or -1 with *unknown_r set when something unexpected is inside. */
static int
folder_walk(int rootfd, const char *path, const char *name, bool do_delete,
	    bool *unknown_r)
{
	DIR *d, *sd;
	struct dirent *de, *sde;
	int fd, sfd, ret = 0;
	bool is_link;

	*unknown_r = false;
	fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENOTDIR)
			*unknown_r = true;
		else
			log_error("open(%s): %s", path, strerror(errno));
		return -1;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		log_error("fdopendir(%s): %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while (ret == 0 && (errno = 0, de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (strcmp(n, "cur") == 0 || strcmp(n, "new") == 0 ||
		    strcmp(n, "tmp") == 0) {
			sfd = openat(fd, n, O_RDONLY | O_DIRECTORY |
				     O_NOFOLLOW | O_CLOEXEC);
			if (sfd < 0) {
				log_error("open(%s/%s): %s", path, n,
					  strerror(errno));
				*unknown_r = errno == ELOOP || errno == ENOTDIR;
				ret = -1;
				break;
			}
			sd = fdopendir(sfd);
			if (sd == NULL) {
				close(sfd);
				ret = -1;
				break;
			}
			while (ret == 0 && (sde = readdir(sd)) != NULL) {
				if (strcmp(sde->d_name, ".") == 0 ||
				    strcmp(sde->d_name, "..") == 0)
					continue;
				if (is_dir_entry(sfd, sde, &is_link)) {
					*unknown_r = true;
					ret = -1;
				} else if (do_delete &&
					   unlinkat(sfd, sde->d_name, 0) < 0 &&
					   errno != ENOENT) {
					log_error("unlink(%s/%s/%s): %s", path,
						  n, sde->d_name,
						  strerror(errno));
					ret = -1;
				}
			}
			closedir(sd);
			if (ret == 0 && do_delete &&
			    unlinkat(fd, n, AT_REMOVEDIR) < 0) {
				log_error("rmdir(%s/%s): %s", path, n,
					  strerror(errno));
				ret = -1;
			}
			continue;
		}
		if (is_dir_entry(fd, de, &is_link) || !known_control_file(n)) {
			*unknown_r = true;
			ret = -1;
		} else if (do_delete && unlinkat(fd, n, 0) < 0 &&
			   errno != ENOENT) {
			log_error("unlink(%s/%s): %s", path, n, strerror(errno));
			ret = -1;
		}
	}
	closedir(d);
	if (ret == 0 && do_delete && unlinkat(rootfd, name, AT_REMOVEDIR) < 0) {
		log_error("rmdir(%s): %s", path, strerror(errno));
		ret = -1;
	}
	return ret;
}

int
maildir_folder_delete(const char *root, const char *dir,
		      enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX], trash[MAILDIR_PATH_MAX];
	int rootfd, ret = -1;
	bool unknown;

	if (!maildir_dir_ok(dir, false) || strcmp(dir, MAILDIR_TRASH_DIR) == 0)
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, NULL, NULL) < 0 ||
	    maildir_folder_path(trash, sizeof(trash), root, MAILDIR_TRASH_DIR, NULL,
			NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return maildir_sys_fail("open", root, errno, STORE_ERR_NOTFOUND, err_r,
				error_r);
	if (faccessat(rootfd, dir, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		maildir_sys_fail("access", path, errno, STORE_ERR_NOTFOUND, err_r,
			 error_r);
		goto out;
	}
	/* Check everything before touching anything. */
	if (folder_walk(rootfd, path, dir, false, &unknown) < 0) {
		if (unknown) {
			log_error("delete(%s): holds unknown files or "
				  "directories, not deleted", path);
			maildir_set_err(err_r, STORE_ERR_CANNOT, error_r,
				"Folder holds files Satchel doesn't know");
		} else {
			maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				"Internal error");
		}
		goto out;
	}
	/* Out of sight first: a crash while emptying must not leave a
	 * half-emptied folder that looks like a mailbox. */
	if (renameat(rootfd, dir, rootfd, MAILDIR_TRASH_DIR) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			maildir_sys_fail("rename", path, errno, STORE_ERR_NOTFOUND,
				 err_r, error_r);
			goto out;
		}
		/* Leftover from an earlier crash: empty it, try again. */
		if (folder_walk(rootfd, trash, MAILDIR_TRASH_DIR, true, &unknown) < 0 ||
		    renameat(rootfd, dir, rootfd, MAILDIR_TRASH_DIR) < 0) {
			log_error("rename(%s, %s): could not clear the "
				  "leftover trash directory", path, trash);
			maildir_set_err(err_r, STORE_ERR_TEMP, error_r,
				"Internal error");
			goto out;
		}
	}
	if (fsync(rootfd) < 0) {
		maildir_sys_fail("fsync", root, errno, STORE_ERR_TEMP, err_r, error_r);
		goto out;
	}
	/* The folder is gone from the namespace now; a failure below only
	 * leaves garbage that the next delete clears. */
	if (folder_walk(rootfd, trash, MAILDIR_TRASH_DIR, true, &unknown) < 0)
		log_warn("delete(%s): could not empty %s", path, trash);
	ret = 0;
out:
	close(rootfd);
	return ret;
}

int
maildir_folder_rename(const char *root, const char *olddir,
		      const char *newdir, enum store_error *err_r,
		      const char **error_r)
{
	char from[MAILDIR_PATH_MAX], to[MAILDIR_PATH_MAX];
	struct stat st;

	if (!maildir_dir_ok(olddir, false) || !maildir_dir_ok(newdir, false) ||
	    strcmp(olddir, MAILDIR_TRASH_DIR) == 0 ||
	    strcmp(newdir, MAILDIR_TRASH_DIR) == 0)
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(from, sizeof(from), root, olddir, NULL, NULL) < 0 ||
	    maildir_folder_path(to, sizeof(to), root, newdir, NULL, NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	if (lstat(from, &st) < 0)
		return maildir_sys_fail("lstat", from, errno, STORE_ERR_NOTFOUND, err_r,
				error_r);
	if (!S_ISDIR(st.st_mode))
		return maildir_set_err(err_r, STORE_ERR_CANNOT, error_r,
			       "Folder is not a directory");
	if (maildir_rename_noreplace(from, to, true) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			return maildir_set_err(err_r, STORE_ERR_EXISTS, error_r,
				       "Mailbox already exists");
		return maildir_sys_fail("rename", from, errno, STORE_ERR_NOTFOUND,
				err_r, error_r);
	}
	return maildir_fsync_path(root, err_r, error_r);
}

int
maildir_folder_exists(const char *root, const char *dir, bool *exists_r,
		      enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];
	struct stat st;

	*exists_r = false;
	if (!maildir_dir_ok(dir, true))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, NULL, NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return maildir_sys_fail("lstat", path, errno, STORE_ERR_TEMP, err_r,
				error_r);
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	(void)maildir_folder_path(path, sizeof(path), root, dir, "cur", NULL);
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return maildir_sys_fail("lstat", path, errno, STORE_ERR_TEMP, err_r,
				error_r);
	}
	*exists_r = S_ISDIR(st.st_mode);
	return 0;
}

int
maildir_folder_list(const char *root,
		    void (*cb)(const char *name, const char *dir, void *ctx),
		    void *ctx, unsigned *skipped_r, enum store_error *err_r,
		    const char **error_r)
{
	struct buf name;
	struct dirent *de;
	const char *error;
	char safe[80];
	DIR *d;
	bool is_link;
	int ret = 0;

	*skipped_r = 0;
	d = opendir(root);
	if (d == NULL)
		return maildir_sys_fail("opendir", root, errno, STORE_ERR_NOTFOUND,
				err_r, error_r);
	buf_init(&name, MAILDIR_NAME_MAX_LEN + 1);
	while ((errno = 0, de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (n[0] != '.' || strcmp(n, ".") == 0 ||
		    strcmp(n, "..") == 0 || strcmp(n, MAILDIR_TRASH_DIR) == 0)
			continue;
		if (!is_dir_entry(dirfd(d), de, &is_link)) {
			if (is_link) {
				log_warn("maildir_list(%s): skipping symlink "
					 "%s", root, log_sanitize(safe,
					 sizeof(safe), n, strlen(n)));
				(*skipped_r)++;
			}
			continue;
		}
		buf_clear(&name);
		if (maildir_dir_to_name(n, strlen(n), &name, &error) < 0) {
			log_warn("maildir_list(%s): skipping %s: %s", root,
				 log_sanitize(safe, sizeof(safe), n, strlen(n)),
				 error);
			(*skipped_r)++;
			continue;
		}
		cb(buf_cstr(&name), n, ctx);
	}
	if (errno != 0)
		ret = maildir_sys_fail("readdir", root, errno, STORE_ERR_TEMP, err_r,
			       error_r);
	closedir(d);
	buf_deinit(&name);
	return ret;
}

int
maildir_dir_fsync(const char *root, const char *dir, const char *sub,
		  enum store_error *err_r, const char **error_r)
{
	char path[MAILDIR_PATH_MAX];

	if (!maildir_dir_ok(dir, true) ||
	    (strcmp(sub, "cur") != 0 && strcmp(sub, "new") != 0 &&
	     strcmp(sub, "tmp") != 0))
		return maildir_bad_args(err_r, error_r);
	if (maildir_folder_path(path, sizeof(path), root, dir, sub, NULL) < 0)
		return maildir_path_fail(err_r, error_r);
	return maildir_fsync_path(path, err_r, error_r);
}
