/* store-rebuild: `satchel index rebuild` and `satchel index check`.
 * Rebuild reads what it can from the old index (a damaged file may still
 * give most rows), writes a fresh one keeping UIDVALIDITY and UIDs for
 * files that exist, then lets the Maildir sync add everything else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "maildir.h"
#include "store-private.h"
#include "sync.h"
#include "xalloc.h"

struct old_msg {
	uint32_t uid, flags, disk_flags;
	char *file, *keywords;
	int64_t internaldate;
	uint64_t size;
};

struct old_mbox {
	char *name;
	char *special_use;
	uint32_t uidvalidity, uidnext;
	bool noselect;
	struct old_msg *msgs;
	size_t nmsgs, cap;
};

struct old_state {
	struct old_mbox *mboxes;
	size_t count;
	char **subs;
	size_t nsubs;
};

static void
collect_mbox(const struct index_mailbox_info *info, void *ctx)
{
	struct old_state *st = ctx;
	struct old_mbox *m;

	st->mboxes = xreallocarray(st->mboxes, st->count + 1, sizeof(*m));
	m = &st->mboxes[st->count++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(info->name);
	m->special_use = info->special_use != NULL ? xstrdup(info->special_use) : NULL;
	m->noselect = info->noselect;
}

static void
collect_sub(const char *name, void *ctx)
{
	struct old_state *st = ctx;

	st->subs = xreallocarray(st->subs, st->nsubs + 1, sizeof(char *));
	st->subs[st->nsubs++] = xstrdup(name);
}

static void
collect_msg(const struct index_msg *im, void *ctx)
{
	struct old_mbox *m = ctx;
	struct old_msg *o;

	if (m->nmsgs == m->cap) {
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->msgs = xreallocarray(m->msgs, m->cap, sizeof(*o));
	}
	o = &m->msgs[m->nmsgs++];
	o->uid = im->uid;
	o->flags = im->flags;
	o->disk_flags = im->disk_flags;
	o->file = xstrdup(im->file);
	o->keywords = xstrdup(im->keywords);
	o->internaldate = im->internaldate;
	o->size = im->size;
}

static void
old_state_free(struct old_state *st)
{
	size_t i, k;

	for (i = 0; i < st->count; i++) {
		for (k = 0; k < st->mboxes[i].nmsgs; k++) {
			free(st->mboxes[i].msgs[k].file);
			free(st->mboxes[i].msgs[k].keywords);
		}
		free(st->mboxes[i].msgs);
		free(st->mboxes[i].name);
		free(st->mboxes[i].special_use);
	}
	free(st->mboxes);
	for (i = 0; i < st->nsubs; i++)
		free(st->subs[i]);
	free(st->subs);
}

/* Read everything readable from the index at path (best effort). */
static void
read_old(const char *path, struct old_state *st, struct buf *report)
{
	struct index_db *db;
	struct index_uid_range all = { 1, UINT32_MAX };
	enum index_error ierr;
	const char *error;
	size_t i;

	if (access(path, F_OK) != 0) {
		buf_printf(report, "no old index\n");
		return;
	}
	if (index_open(path, &db, &ierr, &error) < 0) {
		buf_printf(report, "old index unreadable (%s): UIDs come from the Maildir only\n",
			   error);
		return;
	}
	if (index_mailbox_list(db, collect_mbox, st, &error) < 0)
		buf_printf(report, "old index: mailbox list failed: %s\n", error);
	index_sub_list(db, collect_sub, st, &error);
	for (i = 0; i < st->count; i++) {
		struct old_mbox *m = &st->mboxes[i];
		struct index_mailbox mb;

		if (index_mailbox_get(db, m->name, &mb, &error) <= 0)
			continue;
		m->uidvalidity = mb.uidvalidity;
		m->uidnext = mb.uidnext;
		if (index_msg_fetch(db, mb.id, &all, 1, collect_msg, m, &error) < 0)
			buf_printf(report, "old index: %s: messages unreadable: %s\n",
				   m->name, error);
	}
	index_close(&db);
}

int
store_index_rebuild(const char *user, const char *home, char **report_r,
		    enum store_error *err_r, const char **error_r)
{
	struct old_state st;
	struct index_db *db = NULL;
	enum index_error ierr;
	struct buf report, path, old, dir, fname, root;
	struct sync_result res;
	size_t i, k, kept = 0;
	int ret = -1;

	memset(&st, 0, sizeof(st));
	buf_init(&report, 0);
	buf_init(&path, 0);
	buf_init(&old, 0);
	buf_init(&dir, 0);
	buf_init(&fname, 0);
	buf_init(&root, 0);
	buf_printf(&root, "%s/Maildir", home);
	buf_printf(&path, "%s/satchel.db", home);
	buf_printf(&old, "%s/satchel.db.old", home);
	read_old(buf_cstr(&path), &st, &report);
	if (access(buf_cstr(&path), F_OK) == 0) {
		char *wal = NULL;

		index_remove_files(buf_cstr(&old), error_r);
		if (rename(buf_cstr(&path), buf_cstr(&old)) < 0) {
			log_error("rename(%s, %s): %s", buf_cstr(&path),
				  buf_cstr(&old), strerror(errno));
			*err_r = STORE_ERR_TEMP;
			*error_r = "cannot move the old index aside";
			goto out;
		}
		/* its -wal/-shm belong to the old file: drop them */
		if (asprintf(&wal, "%s-wal", buf_cstr(&path)) > 0)
			unlink(wal);
		free(wal);
		if (asprintf(&wal, "%s-shm", buf_cstr(&path)) > 0)
			unlink(wal);
		free(wal);
	}
	if (index_open(buf_cstr(&path), &db, &ierr, error_r) < 0) {
		*err_r = STORE_ERR_TEMP;
		goto out;
	}
	for (i = 0; i < st.count; i++) {
		struct old_mbox *m = &st.mboxes[i];
		struct index_msg_new *rows;
		int64_t id;
		uint32_t uidv, *uids;
		uint64_t modseq;
		size_t n = 0;

		if (m->noselect || m->uidvalidity == 0)
			continue;
		if (store_name_to_dir(m->name, &dir, err_r, error_r) < 0)
			continue;
		if (index_mailbox_create(db, m->name, m->special_use,
					 m->uidvalidity, &id, &uidv, error_r) < 0) {
			buf_printf(&report, "%s: not recreated: %s\n", m->name, *error_r);
			continue;
		}
		rows = xcalloc(m->nmsgs + 1, sizeof(*rows));
		uids = xcalloc(m->nmsgs + 1, sizeof(uint32_t));
		for (k = 0; k < m->nmsgs; k++) {
			enum store_error e;
			const char *err;
			bool in_new;

			buf_clear(&fname);
			if (maildir_file_find(buf_cstr(&root), buf_cstr(&dir),
					      m->msgs[k].file,
					      strlen(m->msgs[k].file), &fname,
					      &in_new, &e, &err) < 0)
				continue; /* the file is gone */
			/* A flag change whose rename was still pending: the
			 * name says disk_flags; finish it so the new index
			 * and the name agree. */
			if (m->msgs[k].disk_flags != m->msgs[k].flags) {
				struct maildir_filename fn;
				struct buf newname;

				buf_init(&newname, 0);
				if (maildir_filename_parse(buf_cstr(&fname),
							   fname.len, &fn) == 0 &&
				    store_flags_from_maildir(fn.flags) ==
				    store_flags_from_index(m->msgs[k].disk_flags) &&
				    maildir_file_set_flags(buf_cstr(&root),
					buf_cstr(&dir), buf_cstr(&fname), in_new,
					store_flags_to_maildir(store_flags_from_index(
						m->msgs[k].flags)), 0, &newname,
					&e, &err) < 0)
					buf_printf(&report, "%s: flag rename of %s: "
						   "%s\n", m->name, m->msgs[k].file,
						   err);
				buf_deinit(&newname);
			}
			rows[n].uid = m->msgs[k].uid;
			rows[n].file = m->msgs[k].file;
			rows[n].flags = m->msgs[k].flags;
			rows[n].keywords = m->msgs[k].keywords;
			rows[n].internaldate = m->msgs[k].internaldate;
			rows[n].size = m->msgs[k].size;
			n++;
		}
		if (n > 0 && index_msg_append(db, id, rows, n, uids, &modseq,
					      error_r) < 0)
			buf_printf(&report, "%s: messages not kept: %s\n", m->name,
				   *error_r);
		else
			kept += n;
		if (m->uidnext > 1)
			index_mailbox_set_uids(db, id, m->uidvalidity, m->uidnext,
					       error_r);
		/* They were delivered long ago: not \Recent again. */
		{
			uint32_t first, next;

			index_mailbox_claim_recent(db, id, &first, &next, error_r);
		}
		free(rows);
		free(uids);
	}
	for (i = 0; i < st.nsubs; i++)
		index_sub_add(db, st.subs[i], error_r);
	buf_printf(&report, "kept %zu messages with their UIDs in %zu mailboxes\n",
		   kept, st.count);
	index_close(&db);
	/* Everything else (INBOX if it wasn't there, other folders, files
	 * the old index didn't know) comes from the normal open. */
	{
		struct store_user *u = store_user_open(user, home, NULL, err_r,
						       error_r);

		if (u == NULL)
			goto out;
		pthread_mutex_lock(&u->lock);
		if (sync_user(u->db, u->root, SYNC_FLAG_FORCE | SYNC_FLAG_IMPORT_DOVECOT,
			      &res, err_r, error_r) == 0)
			buf_printf(&report, "maildir sync: added %u (%u with Dovecot UIDs), expunged %u\n",
				   res.added, res.imported, res.expunged);
		pthread_mutex_unlock(&u->lock);
		store_user_unref(&u);
	}
	ret = 0;
out:
	*report_r = xstrdup(buf_cstr(&report));
	old_state_free(&st);
	buf_deinit(&report);
	buf_deinit(&path);
	buf_deinit(&old);
	buf_deinit(&dir);
	buf_deinit(&fname);
	buf_deinit(&root);
	return ret;
}

static int
count_file_cb(const struct maildir_file *file, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

int
store_index_check(const char *user, const char *home, char **report_r,
		  enum store_error *err_r, const char **error_r)
{
	struct old_state st;
	struct buf report, path, root, dir;
	size_t i, files;
	int ret = 0;

	memset(&st, 0, sizeof(st));
	buf_init(&report, 0);
	buf_init(&path, 0);
	buf_init(&root, 0);
	buf_init(&dir, 0);
	buf_printf(&path, "%s/satchel.db", home);
	buf_printf(&root, "%s/Maildir", home);
	if (access(buf_cstr(&path), F_OK) != 0) {
		buf_printf(&report, "%s: no index\n", user);
		ret = 1;
		goto out;
	}
	{
		struct index_db *db;
		enum index_error ierr;

		if (index_open(buf_cstr(&path), &db, &ierr, error_r) < 0) {
			buf_printf(&report, "%s: index unreadable: %s\n", user, *error_r);
			ret = 1;
			goto out;
		}
		index_close(&db);
	}
	read_old(buf_cstr(&path), &st, &report);
	for (i = 0; i < st.count; i++) {
		struct old_mbox *m = &st.mboxes[i];
		unsigned skipped = 0;

		if (m->noselect)
			continue;
		if (store_name_to_dir(m->name, &dir, err_r, error_r) < 0)
			continue;
		files = 0;
		if (maildir_scan(buf_cstr(&root), buf_cstr(&dir), count_file_cb,
				 &files, &skipped, err_r, error_r) < 0) {
			buf_printf(&report, "%s: folder unreadable: %s\n", m->name,
				   *error_r);
			ret = 1;
			continue;
		}
		if (files != m->nmsgs) {
			buf_printf(&report, "%s: %zu messages indexed, %zu files\n",
				   m->name, m->nmsgs, files);
			ret = 1;
		}
	}
	if (ret == 0)
		buf_printf(&report, "%s: %zu mailboxes, index and Maildir agree\n",
			   user, st.count);
out:
	*report_r = xstrdup(buf_cstr(&report));
	old_state_free(&st);
	buf_deinit(&report);
	buf_deinit(&path);
	buf_deinit(&root);
	buf_deinit(&dir);
	return ret;
}
