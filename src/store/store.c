/* store: per-user store objects and the mailbox and append operations,
 * joining the Maildir layer (maildir.h) and the SQLite index (index.h);
 * see store.h.
 *
 * Ordering for crash safety:
 * - CREATE makes the folder directory first, then the index row: a crash
 *   in between leaves a directory that the next open imports.
 * - DELETE removes the index row first, then the directory: a crash in
 *   between brings the mailbox back at the next open (nothing lost).
 * - APPEND writes, fsyncs and renames every file into cur/ (fsyncing the
 *   directory) before the index transaction that assigns UIDs.
 *
 * The registry of open users is process-wide state behind one mutex: it is
 * what lets sessions on different worker threads share one user object. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "index.h"
#include "log.h"
#include "maildir.h"
#include "store-private.h"
#include "sync.h"
#include "xalloc.h"



static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store_user *reg_head; /* guarded by reg_lock */

static enum store_error
index_to_store_error(enum index_error e)
{
	switch (e) {
	case INDEX_ERR_NOTFOUND:
		return STORE_ERR_NOTFOUND;
	case INDEX_ERR_EXISTS:
		return STORE_ERR_EXISTS;
	case INDEX_ERR_INVALID:
		return STORE_ERR_CANNOT;
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

int
store_index_fail(struct store_user *u, enum store_error *err_r,
	   const char **error_r, const char *error)
{
	*err_r = index_to_store_error(index_last_error(u->db));
	/* The index's own words (ids, SQL) are for the log, not clients;
	 * TEMP texts are logged again by the protocol with the session. */
	*error_r = *err_r == STORE_ERR_NOTFOUND ? "Mailbox doesn't exist" : error;
	return -1;
}

const char *
store_user_name(const struct store_user *u)
{
	return u->name;
}

bool
store_mailbox_name_valid(const char *name, const char **error_r)
{
	enum store_error err;

	return maildir_name_validate(name, strlen(name), &err, error_r) == 0;
}

const char *
store_mailbox_canonical(const char *name)
{
	if (strncasecmp(name, "INBOX", 5) == 0 && name[5] == '\0')
		return "INBOX";
	return name;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[STORE_PATH_MAX];
	size_t len = strlen(path), i;

	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
			log_error("mkdir(%s): %s", tmp, strerror(errno));
			return -1;
		}
		tmp[i] = path[i];
	}
	return 0;
}

/* The Maildir directory of a (valid) mailbox name, into out. */
int
store_name_to_dir(const char *name, struct buf *out, enum store_error *err_r,
	    const char **error_r)
{
	buf_clear(out);
	return maildir_name_to_dir(name, strlen(name), out, err_r, error_r);
}

static int
import_sub_cb(const char *name, void *ctx)
{
	struct store_user *u = ctx;
	const char *error;

	if (index_sub_add(u->db, name, &error) < 0)
		log_warn("user=%s importing subscription: %s", u->name, error);
	return 0;
}

static void
import_folder_cb(const char *name, const char *dir, void *ctx)
{
	struct store_user *u = ctx;
	struct index_mailbox mb;
	const char *error;
	int64_t id;
	uint32_t uidv;

	if (index_mailbox_get(u->db, name, &mb, &error) == 0 &&
	    index_mailbox_create(u->db, name, NULL, 0, &id, &uidv, &error) < 0)
		log_warn("user=%s importing folder %s: %s", u->name, dir, error);
}

/* First open: INBOX, the special-use mailboxes, and folders another tool
 * left in the Maildir. */
static int
user_prepare(struct store_user *u, const char *const *autocreate,
	     enum store_error *err_r, const char **error_r)
{
	struct index_mailbox mb;
	struct buf dir;
	unsigned skipped = 0;
	int64_t id;
	uint32_t uidv;
	int ret;

	ret = index_mailbox_get(u->db, "INBOX", &mb, error_r);
	if (ret < 0)
		return store_index_fail(u, err_r, error_r, *error_r);
	if (ret == 0) {
		if (index_mailbox_create(u->db, "INBOX", NULL, 0, &id, &uidv,
					 error_r) < 0 ||
		    index_sub_add(u->db, "INBOX", error_r) < 0)
			return store_index_fail(u, err_r, error_r, *error_r);
		buf_init(&dir, 0);
		for (; autocreate != NULL && *autocreate != NULL; autocreate++) {
			const char *bs = strchr(*autocreate, '\\');
			char *name = bs == NULL ? xstrdup(*autocreate) :
				xstrndup(*autocreate, (size_t)(bs - *autocreate));
			enum store_error e;
			const char *err;

			if (store_name_to_dir(name, &dir, &e, &err) == 0 &&
			    (maildir_folder_create(u->root, buf_cstr(&dir), &e,
						   &err) == 0 || e == STORE_ERR_EXISTS) &&
			    index_mailbox_create(u->db, name, bs, 0, &id, &uidv,
						 &err) == 0)
				index_sub_add(u->db, name, &err);
			free(name);
		}
		buf_deinit(&dir);
		/* A Maildir that another server (Dovecot) kept: its
		 * subscriptions come along. */
		{
			enum store_error e;
			const char *err;
			unsigned sub_skipped = 0;

			if (maildir_subscriptions_read(u->root, import_sub_cb, u,
						       &sub_skipped, &e, &err) < 0 &&
			    e != STORE_ERR_NOTFOUND)
				log_warn("user=%s subscriptions file: %s", u->name, err);
		}
	}
	if (maildir_folder_list(u->root, import_folder_cb, u, &skipped, err_r,
				error_r) < 0)
		return -1;
	return 0;
}

static void
user_free(struct store_user *u)
{
	size_t i;

	for (i = 0; i < STORE_UID_CACHE; i++)
		store_uidset_unref(&u->uid_cache[i].set);
	store_memo_clear(u);
	store_select_cache_clear(u);
	index_close(&u->db);
	if (u->root_fd >= 0)
		close(u->root_fd);
	pthread_mutex_destroy(&u->lock);
	free(u->name);
	free(u->home);
	free(u->root);
	free(u->index_path);
	free(u);
}

/* STATUS looks at the Maildir at most once a second per mailbox: a
 * folder written in the last moments has mtimes that can't be trusted
 * (sync.c), and a client polling STATUS must not rescan it each time.
 * Caller holds u->lock. */
static bool
status_check_due(struct store_user *u, int64_t mailbox_id)
{
	struct timespec now;
	struct store_status_check *c, *oldest = &u->status_checks[0];
	size_t i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < STORE_STATUS_CHECKS; i++) {
		c = &u->status_checks[i];
		if (c->mailbox_id == mailbox_id) {
			if (now.tv_sec - c->when.tv_sec < 1 ||
			    (now.tv_sec - c->when.tv_sec == 1 &&
			     now.tv_nsec < c->when.tv_nsec))
				return false;
			c->when = now;
			return true;
		}
		if (c->when.tv_sec < oldest->when.tv_sec ||
		    (c->when.tv_sec == oldest->when.tv_sec &&
		     c->when.tv_nsec < oldest->when.tv_nsec))
			oldest = c;
	}
	oldest->mailbox_id = mailbox_id;
	oldest->when = now;
	return true;
}

void
store_mailbox_sync(struct store_user *u, const char *name, int64_t mailbox_id)
{
	struct sync_result res;
	enum store_error err;
	const char *error;
	struct buf dir;

	buf_init(&dir, 0);
	if (store_name_to_dir(name, &dir, &err, &error) < 0 ||
	    sync_mailbox(u->db, u->root, buf_cstr(&dir), mailbox_id,
			 SYNC_FLAG_IMPORT_DOVECOT, &res, &err, &error) < 0)
		log_warn("user=%s mailbox=%s maildir sync: %s", u->name, name,
			 error);
	else if (res.added > 0 || res.expunged > 0 || res.flag_changed > 0)
		store_hub_notify(u, mailbox_id, NULL);
	buf_deinit(&dir);
}

struct store_user *
store_user_open(const char *user, const char *home,
		const char *const *autocreate, enum store_error *err_r,
		const char **error_r)
{
	struct store_user *u;
	enum index_error ierr;
	char path[STORE_PATH_MAX];

	pthread_mutex_lock(&reg_lock);
	for (u = reg_head; u != NULL; u = u->next) {
		if (strcmp(u->name, user) == 0) {
			u->refcount++;
			pthread_mutex_unlock(&reg_lock);
			return u;
		}
	}
	u = xmalloc(sizeof(*u));
	u->name = xstrdup(user);
	u->home = xstrdup(home);
	snprintf(path, sizeof(path), "%s/Maildir", home);
	u->root = xstrdup(path);
	u->root_fd = -1;
	snprintf(path, sizeof(path), "%s/satchel.db", home);
	u->index_path = xstrdup(path);
	pthread_mutex_init(&u->lock, NULL);
	u->refcount = 1;
	/* A returning user's Maildir is complete: a few stats, not a mkdir
	 * of every level of the path. */
	if (!maildir_root_complete(u->root)) {
		if (mkdir_p(home, 0700) < 0) {
			*err_r = STORE_ERR_TEMP;
			*error_r = "cannot create the home directory";
			goto fail;
		}
		if (maildir_root_create(u->root, err_r, error_r) < 0)
			goto fail;
	}
	/* The cheap "did the folder change?" stats go relative to this.
	 * Without it (never expected) they take the full path. */
	u->root_fd = open(u->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (u->root_fd < 0)
		log_warn("user=%s open(%s): %s", user, u->root,
			 strerror(errno));
	if (index_open(u->index_path, &u->db, &ierr, error_r) < 0) {
		if (ierr != INDEX_ERR_CORRUPT) {
			*err_r = index_to_store_error(ierr);
			goto fail;
		}
		/* A corrupt index is rebuilt from the Maildir. */
		log_warn("user=%s index %s is corrupt: rebuilding", user,
			 u->index_path);
		if (index_remove_files(u->index_path, error_r) < 0 ||
		    index_open(u->index_path, &u->db, &ierr, error_r) < 0) {
			*err_r = STORE_ERR_TEMP;
			goto fail;
		}
	}
	if (user_prepare(u, autocreate, err_r, error_r) < 0)
		goto fail;
	/* Mail another program left (or a crash between a file's rename
	 * and its index commit) is picked up per mailbox when it is first
	 * used (SELECT, STATUS, APPEND...): opening a user with many
	 * mailboxes reads none of their folders. */
	u->next = reg_head;
	reg_head = u;
	pthread_mutex_unlock(&reg_lock);
	/* flag renames a crash or a stop left (the queue takes reg_lock) */
	pthread_mutex_lock(&u->lock);
	store_rename_resume(u);
	pthread_mutex_unlock(&u->lock);
	return u;
fail:
	pthread_mutex_unlock(&reg_lock);
	user_free(u);
	return NULL;
}

void
store_user_ref(struct store_user *u)
{
	pthread_mutex_lock(&reg_lock);
	u->refcount++;
	pthread_mutex_unlock(&reg_lock);
}

void
store_user_unref(struct store_user **up)
{
	struct store_user *u = *up, **pp;

	if (u == NULL)
		return;
	*up = NULL;
	pthread_mutex_lock(&reg_lock);
	if (--u->refcount > 0) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	for (pp = &reg_head; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	user_free(u);
}

/* ---- mailboxes ---- */

/* Create one level (the caller holds the lock and has validated). */
static int
create_one(struct store_user *u, const char *name, const char *special_use,
	   struct buf *dir, enum store_error *err_r, const char **error_r)
{
	int64_t id;
	uint32_t uidv;
	enum store_error e;

	if (store_name_to_dir(name, dir, err_r, error_r) < 0)
		return -1;
	if (maildir_folder_create(u->root, buf_cstr(dir), &e, error_r) < 0 &&
	    e != STORE_ERR_EXISTS) {
		*err_r = e;
		return -1;
	}
	if (index_mailbox_create(u->db, name, special_use, 0, &id, &uidv,
				 error_r) < 0)
		return store_index_fail(u, err_r, error_r, *error_r);
	return 0;
}

int
store_mailbox_create(struct store_user *u, const char *name,
		     const char *special_use, enum store_error *err_r,
		     const char **error_r)
{
	struct index_mailbox mb;
	struct buf dir;
	char *parent;
	size_t i;
	int ret = -1, r;

	if (maildir_name_validate(name, strlen(name), err_r, error_r) < 0)
		return -1;
	name = store_mailbox_canonical(name);
	buf_init(&dir, 0);
	parent = xstrdup(name);
	pthread_mutex_lock(&u->lock);
	r = index_mailbox_get(u->db, name, &mb, error_r);
	if (r < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (r > 0 && !mb.noselect) {
		*err_r = STORE_ERR_EXISTS;
		*error_r = "Mailbox already exists";
		goto out;
	}
	/* RFC 9051 6.3.4: create the superior levels that are missing. */
	for (i = 0; parent[i] != '\0'; i++) {
		if (parent[i] != STORE_SEPARATOR)
			continue;
		parent[i] = '\0';
		r = index_mailbox_get(u->db, parent, &mb, error_r);
		if (r < 0) {
			store_index_fail(u, err_r, error_r, *error_r);
			goto out;
		}
		if (r == 0 && create_one(u, parent, NULL, &dir, err_r, error_r) < 0)
			goto out;
		parent[i] = STORE_SEPARATOR;
	}
	ret = create_one(u, name, special_use, &dir, err_r, error_r);
out:
	pthread_mutex_unlock(&u->lock);
	free(parent);
	buf_deinit(&dir);
	return ret;
}

int
store_mailbox_delete(struct store_user *u, const char *name,
		     enum store_error *err_r, const char **error_r)
{
	struct index_mailbox mb;
	struct buf dir;
	int ret = -1, r, children;

	name = store_mailbox_canonical(name);
	if (strcmp(name, "INBOX") == 0) {
		*err_r = STORE_ERR_CANNOT;
		*error_r = "INBOX can't be deleted";
		return -1;
	}
	buf_init(&dir, 0);
	pthread_mutex_lock(&u->lock);
	r = index_mailbox_get(u->db, name, &mb, error_r);
	if (r <= 0) {
		if (r < 0)
			store_index_fail(u, err_r, error_r, *error_r);
		else {
			*err_r = STORE_ERR_NOTFOUND;
			*error_r = "Mailbox doesn't exist";
		}
		goto out;
	}
	children = index_mailbox_has_children(u->db, name, error_r);
	if (children < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (children > 0 && mb.noselect) {
		/* RFC 9051 6.3.5: deleting a \Noselect with inferiors. */
		*err_r = STORE_ERR_HASCHILDREN;
		*error_r = "Mailbox has children; delete them first";
		goto out;
	}
	if ((children > 0 ? index_mailbox_set_noselect(u->db, mb.id, error_r) :
	     index_mailbox_delete(u->db, mb.id, error_r)) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (store_name_to_dir(name, &dir, err_r, error_r) == 0 &&
	    maildir_folder_delete(u->root, buf_cstr(&dir), err_r, error_r) < 0 &&
	    *err_r != STORE_ERR_NOTFOUND)
		log_error("user=%s deleting folder %s: %s", u->name,
			  buf_cstr(&dir), *error_r);
	ret = 0;
out:
	pthread_mutex_unlock(&u->lock);
	buf_deinit(&dir);
	return ret;
}

struct rename_ctx {
	const char *old;
	size_t oldlen;
	char **names;
	size_t count, cap;
};

static void
rename_collect(const struct index_mailbox_info *info, void *ctxp)
{
	struct rename_ctx *ctx = ctxp;

	if (strncmp(info->name, ctx->old, ctx->oldlen) != 0 ||
	    (info->name[ctx->oldlen] != '\0' &&
	     info->name[ctx->oldlen] != STORE_SEPARATOR))
		return;
	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap == 0 ? 8 : ctx->cap * 2;
		ctx->names = xreallocarray(ctx->names, ctx->cap, sizeof(char *));
	}
	ctx->names[ctx->count++] = xstrdup(info->name);
}

static void
rename_sub_collect(const char *name, void *ctxp)
{
	struct index_mailbox_info info = { .name = name };

	rename_collect(&info, ctxp);
}

/* RENAME INBOX (RFC 9051 6.3.6): a new mailbox gets INBOX's messages and
 * INBOX stays, empty.  Files move first, then the index: a crash between
 * leaves files the next sync indexes in the new mailbox. */
struct inbox_move {
	struct store_user *u;
	const char *newdir;
	struct index_msg_new *msgs;
	bool *pending;   /* its name doesn't carry its flags yet */
	char **files;
	size_t count, cap;
	int failed;
};

static void
inbox_move_cb(const struct index_msg *msg, void *ctxp)
{
	struct inbox_move *m = ctxp;

	if (m->count == m->cap) {
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->msgs = xreallocarray(m->msgs, m->cap, sizeof(*m->msgs));
		m->files = xreallocarray(m->files, m->cap, sizeof(char *));
		m->pending = xreallocarray(m->pending, m->cap, sizeof(bool));
	}
	m->pending[m->count] = msg->disk_flags != msg->flags;
	m->files[m->count] = xstrdup(msg->file);
	m->msgs[m->count].uid = 0;
	m->msgs[m->count].file = m->files[m->count];
	m->msgs[m->count].flags = msg->flags;
	m->msgs[m->count].keywords = xstrdup(msg->keywords);
	m->msgs[m->count].internaldate = msg->internaldate;
	m->msgs[m->count].size = msg->size;
	m->count++;
}

static int
rename_inbox(struct store_user *u, const char *newname,
	     enum store_error *err_r, const char **error_r)
{
	struct index_mailbox inbox, nmb;
	struct index_uid_range all = { 1, UINT32_MAX };
	struct inbox_move m;
	struct buf newdir, fname, path_from, path_to;
	uint32_t *uids = NULL;
	uint64_t modseq;
	size_t i;
	int ret = -1;

	memset(&m, 0, sizeof(m));
	buf_init(&newdir, 0);
	buf_init(&fname, 0);
	buf_init(&path_from, 0);
	buf_init(&path_to, 0);
	if (index_mailbox_get(u->db, "INBOX", &inbox, error_r) <= 0) {
		store_index_fail(u, err_r, error_r, "INBOX is missing");
		goto out;
	}
	if (create_one(u, newname, NULL, &newdir, err_r, error_r) < 0)
		goto out;
	if (index_mailbox_get(u->db, newname, &nmb, error_r) <= 0) {
		store_index_fail(u, err_r, error_r, "Mailbox vanished");
		goto out;
	}
	if (index_msg_fetch(u->db, inbox.id, &all, 1, inbox_move_cb, &m,
			    error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	for (i = 0; i < m.count; i++) {
		bool in_new;

		buf_clear(&fname);
		if (maildir_file_find(u->root, "", m.files[i], strlen(m.files[i]),
				      &fname, &in_new, err_r, error_r) < 0)
			continue; /* gone: the index row goes anyway */
		buf_clear(&path_from);
		buf_clear(&path_to);
		buf_printf(&path_from, "%s/%s/%s", u->root, in_new ? "new" : "cur",
			   buf_cstr(&fname));
		if (m.pending[i]) {
			/* a flag rename still pending: the moved file takes
			 * its name now, as the new row has no pending state */
			buf_clear(&fname);
			maildir_filename_build(&fname, m.files[i],
					       strlen(m.files[i]),
					       store_flags_to_maildir(
						       store_flags_from_index(
							       m.msgs[i].flags)), 0);
			in_new = false;
		}
		buf_printf(&path_to, "%s/%s/%s/%s", u->root, buf_cstr(&newdir),
			   in_new ? "new" : "cur", buf_cstr(&fname));
		if (rename(buf_cstr(&path_from), buf_cstr(&path_to)) < 0) {
			log_error("rename(%s, %s): %s", buf_cstr(&path_from),
				  buf_cstr(&path_to), strerror(errno));
			*err_r = STORE_ERR_TEMP;
			*error_r = "Moving INBOX's messages failed";
			goto out;
		}
	}
	if (maildir_dir_fsync(u->root, buf_cstr(&newdir), "cur", err_r, error_r) < 0 ||
	    maildir_dir_fsync(u->root, buf_cstr(&newdir), "new", err_r, error_r) < 0)
		goto out;
	uids = xcalloc(m.count + 1, sizeof(uint32_t));
	if (index_transaction_begin(u->db, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if ((m.count > 0 &&
	     index_msg_append(u->db, nmb.id, m.msgs, m.count, uids, &modseq,
			      error_r) < 0) ||
	    index_msg_expunge(u->db, inbox.id, &all, 1, NULL, NULL, &modseq,
			      error_r) < 0) {
		index_transaction_rollback(u->db);
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (index_transaction_commit(u->db, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	/* sessions with INBOX selected see its messages go */
	store_hub_notify(u, inbox.id, NULL);
	ret = 0;
out:
	for (i = 0; i < m.count; i++) {
		free(m.files[i]);
		free((char *)m.msgs[i].keywords);
	}
	free(m.files);
	free(m.msgs);
	free(m.pending);
	free(uids);
	buf_deinit(&newdir);
	buf_deinit(&fname);
	buf_deinit(&path_from);
	buf_deinit(&path_to);
	return ret;
}

int
store_mailbox_rename(struct store_user *u, const char *oldname,
		     const char *newname, enum store_error *err_r,
		     const char **error_r)
{
	struct index_mailbox mb;
	struct rename_ctx ctx, subs;
	struct buf odir, ndir;
	size_t i, oldlen;
	int ret = -1, r;

	oldname = store_mailbox_canonical(oldname);
	newname = store_mailbox_canonical(newname);
	if (maildir_name_validate(newname, strlen(newname), err_r, error_r) < 0)
		return -1;
	oldlen = strlen(oldname);
	if (strncmp(newname, oldname, oldlen) == 0 &&
	    (newname[oldlen] == '\0' || newname[oldlen] == STORE_SEPARATOR)) {
		*err_r = STORE_ERR_CANNOT;
		*error_r = "Can't rename a mailbox into itself";
		return -1;
	}
	memset(&ctx, 0, sizeof(ctx));
	memset(&subs, 0, sizeof(subs));
	buf_init(&odir, 0);
	buf_init(&ndir, 0);
	pthread_mutex_lock(&u->lock);
	r = index_mailbox_get(u->db, oldname, &mb, error_r);
	if (r <= 0) {
		if (r < 0)
			store_index_fail(u, err_r, error_r, *error_r);
		else {
			*err_r = STORE_ERR_NOTFOUND;
			*error_r = "Mailbox doesn't exist";
		}
		goto out;
	}
	r = index_mailbox_get(u->db, newname, &mb, error_r);
	if (r != 0) {
		if (r < 0)
			store_index_fail(u, err_r, error_r, *error_r);
		else {
			*err_r = STORE_ERR_EXISTS;
			*error_r = "Target mailbox already exists";
		}
		goto out;
	}
	if (strcmp(oldname, "INBOX") == 0) {
		ret = rename_inbox(u, newname, err_r, error_r);
		goto out;
	}
	ctx.old = oldname;
	ctx.oldlen = oldlen;
	if (index_mailbox_list(u->db, rename_collect, &ctx, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	/* Directories first (each child is its own Maildir++ folder). */
	for (i = 0; i < ctx.count; i++) {
		char *nn = xmalloc(strlen(newname) + strlen(ctx.names[i]) + 1);
		enum store_error e;

		memcpy(nn, newname, strlen(newname));
		memcpy(nn + strlen(newname), ctx.names[i] + oldlen,
		       strlen(ctx.names[i] + oldlen) + 1);
		if (store_name_to_dir(ctx.names[i], &odir, err_r, error_r) < 0 ||
		    store_name_to_dir(nn, &ndir, err_r, error_r) < 0) {
			free(nn);
			goto out;
		}
		free(nn);
		if (maildir_folder_rename(u->root, buf_cstr(&odir),
					  buf_cstr(&ndir), &e, error_r) < 0 &&
		    e != STORE_ERR_NOTFOUND) {
			*err_r = e;
			goto out;
		}
	}
	if (index_mailbox_rename(u->db, oldname, newname, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	/* Subscriptions follow the mailboxes, as Dovecot does. */
	subs.old = oldname;
	subs.oldlen = oldlen;
	if (index_sub_list(u->db, rename_sub_collect, &subs, error_r) == 0) {
		for (i = 0; i < subs.count; i++) {
			char *nn = xmalloc(strlen(newname) + strlen(subs.names[i]) + 1);

			memcpy(nn, newname, strlen(newname));
			memcpy(nn + strlen(newname), subs.names[i] + oldlen,
			       strlen(subs.names[i] + oldlen) + 1);
			index_sub_remove(u->db, subs.names[i], error_r);
			index_sub_add(u->db, nn, error_r);
			free(nn);
		}
	}
	ret = 0;
out:
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < ctx.count; i++)
		free(ctx.names[i]);
	free(ctx.names);
	for (i = 0; i < subs.count; i++)
		free(subs.names[i]);
	free(subs.names);
	buf_deinit(&odir);
	buf_deinit(&ndir);
	return ret;
}

int
store_subscription_set(struct store_user *u, const char *name, bool on,
		       enum store_error *err_r, const char **error_r)
{
	int ret;

	name = store_mailbox_canonical(name);
	if (on && maildir_name_validate(name, strlen(name), err_r, error_r) < 0)
		return -1;
	pthread_mutex_lock(&u->lock);
	ret = on ? index_sub_add(u->db, name, error_r) :
		index_sub_remove(u->db, name, error_r);
	if (ret < 0)
		store_index_fail(u, err_r, error_r, *error_r);
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/* ---- listing ---- */

struct list_item {
	char *name;
	char *special_use;
	bool exists, noselect, subscribed;
};

struct list_acc {
	struct list_item *items;
	size_t count, cap;
};

static struct list_item *
acc_add(struct list_acc *acc, const char *name)
{
	struct list_item *it;

	if (acc->count == acc->cap) {
		acc->cap = acc->cap == 0 ? 32 : acc->cap * 2;
		acc->items = xreallocarray(acc->items, acc->cap, sizeof(*it));
	}
	it = &acc->items[acc->count++];
	memset(it, 0, sizeof(*it));
	it->name = xstrdup(name);
	return it;
}

static void
list_mb_cb(const struct index_mailbox_info *info, void *ctx)
{
	struct list_item *it = acc_add(ctx, info->name);

	it->exists = true;
	it->noselect = info->noselect;
	it->subscribed = info->subscribed;
	if (info->special_use != NULL)
		it->special_use = xstrdup(info->special_use);
}

static void
list_sub_cb(const char *name, void *ctx)
{
	struct list_item *it = acc_add(ctx, name);

	it->subscribed = true;
}

static int
item_cmp(const void *a, const void *b)
{
	const struct list_item *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* the real mailbox before a bare subscription of the same name */
	return c != 0 ? c : (int)y->exists - (int)x->exists;
}

int
store_mailbox_list(struct store_user *u,
		   void (*cb)(const struct store_mailbox_info *info, void *ctx),
		   void *ctx, enum store_error *err_r, const char **error_r)
{
	struct list_acc acc;
	size_t i;
	int ret = 0;

	memset(&acc, 0, sizeof(acc));
	pthread_mutex_lock(&u->lock);
	if (index_mailbox_list(u->db, list_mb_cb, &acc, error_r) < 0 ||
	    index_sub_list(u->db, list_sub_cb, &acc, error_r) < 0)
		ret = store_index_fail(u, err_r, error_r, *error_r);
	pthread_mutex_unlock(&u->lock);
	if (ret == 0) {
		qsort(acc.items, acc.count, sizeof(*acc.items), item_cmp);
		for (i = 0; i < acc.count; i++) {
			struct list_item *it = &acc.items[i];
			struct store_mailbox_info info;

			if (i > 0 && strcmp(acc.items[i - 1].name, it->name) == 0)
				continue; /* subscription of an existing one */
			memset(&info, 0, sizeof(info));
			info.name = it->name;
			info.exists = it->exists;
			info.noselect = it->noselect;
			info.subscribed = it->subscribed;
			info.special_use = it->special_use;
			/* has_children is computed by the caller */
			cb(&info, ctx);
		}
	}
	for (i = 0; i < acc.count; i++) {
		free(acc.items[i].name);
		free(acc.items[i].special_use);
	}
	free(acc.items);
	return ret;
}

int
store_mailbox_status(struct store_user *u, const char *name,
		     struct store_status *status_r, enum store_error *err_r,
		     const char **error_r)
{
	struct index_mailbox mb;
	struct index_status st;
	int r, ret = -1;

	name = store_mailbox_canonical(name);
	pthread_mutex_lock(&u->lock);
	r = index_mailbox_get(u->db, name, &mb, error_r);
	if (r > 0 && !mb.noselect && status_check_due(u, mb.id))
		store_mailbox_sync(u, name, mb.id);
	if (r < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
	} else if (r == 0 || mb.noselect) {
		*err_r = STORE_ERR_NOTFOUND;
		*error_r = "Mailbox doesn't exist";
	} else if (index_mailbox_status(u->db, mb.id, &st, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
	} else {
		status_r->messages = st.messages;
		status_r->recent = st.recent;
		status_r->uidnext = st.uidnext;
		status_r->uidvalidity = st.uidvalidity;
		status_r->unseen = st.unseen;
		status_r->deleted = st.deleted;
		status_r->size = st.size;
		status_r->highestmodseq = st.highestmodseq;
		ret = 0;
	}
	pthread_mutex_unlock(&u->lock);
	return ret;
}

/* ---- append ---- */

unsigned
store_flags_to_maildir(unsigned f)
{
	unsigned m = 0;

	if (f & STORE_FLAG_SEEN)
		m |= MAILDIR_FLAG_SEEN;
	if (f & STORE_FLAG_ANSWERED)
		m |= MAILDIR_FLAG_REPLIED;
	if (f & STORE_FLAG_FLAGGED)
		m |= MAILDIR_FLAG_FLAGGED;
	if (f & STORE_FLAG_DELETED)
		m |= MAILDIR_FLAG_TRASHED;
	if (f & STORE_FLAG_DRAFT)
		m |= MAILDIR_FLAG_DRAFT;
	return m;
}

/* The store's flag bits are the index's (one set of numbers to keep). */
_Static_assert(STORE_FLAG_SEEN == INDEX_FLAG_SEEN &&
	       STORE_FLAG_ANSWERED == INDEX_FLAG_ANSWERED &&
	       STORE_FLAG_FLAGGED == INDEX_FLAG_FLAGGED &&
	       STORE_FLAG_DELETED == INDEX_FLAG_DELETED &&
	       STORE_FLAG_DRAFT == INDEX_FLAG_DRAFT,
	       "store and index flag bits must agree");

uint32_t
store_flags_to_index(unsigned f)
{
	return f & INDEX_FLAGS_ALL;
}

unsigned
store_flags_from_index(uint32_t f)
{
	return f & INDEX_FLAGS_ALL;
}

unsigned
store_flags_from_maildir(unsigned m)
{
	unsigned f = 0;

	if (m & MAILDIR_FLAG_SEEN)
		f |= STORE_FLAG_SEEN;
	if (m & MAILDIR_FLAG_REPLIED)
		f |= STORE_FLAG_ANSWERED;
	if (m & MAILDIR_FLAG_FLAGGED)
		f |= STORE_FLAG_FLAGGED;
	if (m & MAILDIR_FLAG_TRASHED)
		f |= STORE_FLAG_DELETED;
	if (m & MAILDIR_FLAG_DRAFT)
		f |= STORE_FLAG_DRAFT;
	return f;
}

static int
kw_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, de-duplicated, space-separated keywords (malloc'd). */
char *
store_keywords_join(const char *const *kw, size_t n)
{
	const char **sorted;
	struct buf b;
	size_t i;
	char *out;

	if (n == 0)
		return xstrdup("");
	sorted = xcalloc(n, sizeof(char *));
	memcpy(sorted, kw, n * sizeof(char *));
	qsort(sorted, n, sizeof(char *), kw_cmp);
	buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(sorted[i], sorted[i - 1]) == 0)
			continue;
		if (b.len > 0)
			buf_append_byte(&b, ' ');
		buf_append_str(&b, sorted[i]);
	}
	out = xstrdup(buf_cstr(&b));
	buf_deinit(&b);
	free(sorted);
	return out;
}

int
store_append(struct store_user *u, const char *mailbox,
	     const struct store_new_message *msgs, size_t count,
	     uint32_t *uidvalidity_r, uint32_t *uids_r,
	     enum store_error *err_r, const char **error_r)
{
	struct index_mailbox mb;
	struct index_msg_new *rows;
	struct buf dir, fname;
	char **files;
	uint64_t modseq;
	size_t i, done = 0;
	int r, ret = -1;
	bool clean = false;
	int64_t now = (int64_t)time(NULL);

	mailbox = store_mailbox_canonical(mailbox);
	rows = xcalloc(count, sizeof(*rows));
	files = xcalloc(count, sizeof(char *));
	buf_init(&dir, 0);
	buf_init(&fname, 0);
	pthread_mutex_lock(&u->lock);
	r = index_mailbox_get(u->db, mailbox, &mb, error_r);
	if (r < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (r == 0 || mb.noselect) {
		*err_r = STORE_ERR_TRYCREATE;
		*error_r = "Mailbox doesn't exist";
		goto out;
	}
	if (store_name_to_dir(mailbox, &dir, err_r, error_r) < 0)
		goto out;
	sync_own_write_begin(u->db, u->root, u->root_fd,
			     buf_cstr(&dir), mb.id, &clean);
	for (i = 0; i < count; i++) {
		struct maildir_delivery *d;
		struct maildir_filename fn;

		d = maildir_delivery_begin(u->root, buf_cstr(&dir), err_r, error_r);
		if (d == NULL)
			goto out;
		if (maildir_delivery_write(d, msgs[i].data, msgs[i].len, err_r,
					   error_r) < 0) {
			maildir_delivery_abort(&d);
			goto out;
		}
		buf_clear(&fname);
		if (maildir_delivery_commit(&d, store_flags_to_maildir(msgs[i].flags), 0,
					    false, &fname, err_r, error_r) < 0)
			goto out;
		files[i] = xstrdup(buf_cstr(&fname));
		done = i + 1;
		if (maildir_filename_parse(files[i], strlen(files[i]), &fn) < 0) {
			*err_r = STORE_ERR_TEMP;
			*error_r = "Unparseable delivered file name";
			goto out;
		}
		rows[i].file = xstrndup(fn.base, fn.base_len);
		rows[i].flags = store_flags_to_index(msgs[i].flags);
		rows[i].keywords = store_keywords_join(msgs[i].keywords, msgs[i].nkeywords);
		rows[i].internaldate = msgs[i].internaldate >= 0 ?
			msgs[i].internaldate : now;
		rows[i].size = msgs[i].len;
	}
	if (index_msg_append(u->db, mb.id, rows, count, uids_r, &modseq,
			     error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	*uidvalidity_r = mb.uidvalidity;
	sync_own_write_end(u->db, u->root, u->root_fd,
			   buf_cstr(&dir), mb.id, clean);
	store_hub_notify(u, mb.id, NULL);
	ret = 0;
out:
	if (ret < 0) {
		/* All or nothing (RFC 3502): drop what was delivered. */
		for (i = 0; i < done; i++) {
			enum store_error e;
			const char *err;

			if (files[i] != NULL)
				maildir_file_unlink(u->root, buf_cstr(&dir),
						    files[i], false, &e, &err);
		}
	}
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < count; i++) {
		free(files[i]);
		free((char *)rows[i].file);
		free((char *)rows[i].keywords);
	}
	free(files);
	free(rows);
	buf_deinit(&dir);
	buf_deinit(&fname);
	return ret;
}
