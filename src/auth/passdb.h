/* passdb: the user database, a passwd-file in Dovecot's format
 *   user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields
 * (empty fields allowed; lines starting with '#' and blank lines ignored).
 * Lookups are thread-safe.  The file is re-read when its inode, size or
 * mtime changed since the last load (checked with stat() on each lookup),
 * so an added user can log in at once; passdb_reload() forces a re-read
 * (SIGHUP).  If a re-read fails, the last good contents stay in use. */
#ifndef PASSDB_H
#define PASSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Largest passwd-file read (bytes): 100k users at ~200 bytes a line is
 * 20 MB; the cap keeps a runaway file from exhausting memory. */
#define PASSDB_MAX_FILE_SIZE (256 * 1024 * 1024)
#define PASSDB_NAME_MAX_LEN 64

struct passdb;

struct passdb_user {
	char *name;
	char *password; /* stored "{SCHEME}..." value; may be "" */
	long uid;       /* -1 when the field is empty */
	long gid;       /* -1 when the field is empty */
	char *home;     /* "" when empty */
	char *extra;    /* extra fields as written, "" when empty */
};

/* Opens (and loads) the file. NULL with *error_r if it can't be read;
 * a missing file is an empty database, not an error. */
struct passdb *passdb_new(const char *path, const char **error_r);
void passdb_free(struct passdb **db);
/* Force a re-read. 0 ok, -1 (old contents kept) with *error_r. */
int passdb_reload(struct passdb *db, const char **error_r);
/* 1 found (*user_r is a malloc'd copy, free with passdb_user_free),
 * 0 not found, -1 internal error. User names are matched exactly. */
int passdb_lookup(struct passdb *db, const char *name,
		  struct passdb_user **user_r);
void passdb_user_free(struct passdb_user **user);

/* Editing, for the CLI.  Each holds an exclusive lock (<path>.lock via
 * flock), writes <path>.tmp, fsyncs it, renames it over path and fsyncs the
 * directory, keeping every other line (and comments) byte for byte.
 * Names must be 1..64 bytes of [A-Za-z0-9._@+-] not starting with '.';
 * 0 ok, -1 with *error_r (static string). */
bool passdb_name_valid(const char *name);
int passdb_file_add(const char *path, const char *name, const char *hash,
		    const char **error_r); /* fails if the user exists */
int passdb_file_set_password(const char *path, const char *name,
			     const char *hash, const char **error_r);
int passdb_file_del(const char *path, const char *name, const char **error_r);
/* Calls fn for each user in file order. 0 ok, -1 if unreadable. */
int passdb_file_list(const char *path,
		     void (*fn)(const struct passdb_user *user, void *ctx),
		     void *ctx, const char **error_r);

#endif
