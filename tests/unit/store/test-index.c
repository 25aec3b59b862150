/* Unit tests for index.c: schema creation and reopen, UIDVALIDITY and UID
 * monotonicity, counters against COUNT(*) queries, flag modes and modseq
 * bumps, reads in slices, rename with children, changes since a modseq,
 * \Recent claims, subscriptions, meta, caller transactions, corruption
 * detection, two handles on one file, statements prepared on first use
 * (and a failure to prepare one), the start-up self-check, and a
 * 100,000-message run with timings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "index.h"
#include "index-private.h" /* struct index_db: its connection, st[] */

struct fixture {
	char dir[64];
	char path[128];
	struct index_db *db;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	enum index_error err;
	const char *error;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-index-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/satchel.db", f->dir);
	assert_int_equal(index_open(f->path, &f->db, &err, &error), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	const char *error;

	index_close(&f->db);
	assert_int_equal(index_remove_files(f->path, &error), 0);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static void
reopen(struct fixture *f)
{
	enum index_error err;
	const char *error;

	index_close(&f->db);
	assert_null(f->db);
	assert_int_equal(index_open(f->path, &f->db, &err, &error), 0);
}

static int64_t
mk(struct index_db *db, const char *name, uint32_t *uidv_r)
{
	const char *error;
	int64_t id;
	uint32_t uidv;

	if (index_mailbox_create(db, name, NULL, 0, &id, &uidv, &error) < 0)
		fail_msg("create %s: %s", name, error);
	if (uidv_r != NULL)
		*uidv_r = uidv;
	return id;
}

/* Append n messages named <prefix><i> with the given flags/keywords. */
static void
add(struct index_db *db, int64_t id, const char *prefix, size_t n,
    uint32_t flags, const char *keywords, uint32_t *uids_r)
{
	struct index_msg_new *m = calloc(n, sizeof(*m));
	char **names = calloc(n, sizeof(*names));
	uint32_t *uids = uids_r != NULL ? uids_r : calloc(n, sizeof(*uids));
	const char *error;
	size_t i;

	assert_non_null(m);
	for (i = 0; i < n; i++) {
		names[i] = malloc(64);
		snprintf(names[i], 64, "%s%zu.M1P2.host", prefix, i);
		m[i].file = names[i];
		m[i].flags = flags;
		m[i].keywords = keywords;
		m[i].internaldate = 1700000000 + (int64_t)i;
		m[i].size = 100 + i;
	}
	if (index_msg_append(db, id, m, n, uids, NULL, &error) < 0)
		fail_msg("append: %s", error);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(m);
	if (uids_r == NULL)
		free(uids);
}

static struct index_status
status(struct index_db *db, int64_t id)
{
	struct index_status st;
	const char *error;

	if (index_mailbox_status(db, id, &st, &error) < 0)
		fail_msg("status: %s", error);
	return st;
}

/* Compare the kept counters with COUNT(*)/SUM over the messages table,
 * through a separate raw connection. */
static void
check_counters(struct fixture *f, int64_t id)
{
	static const char sql[] = "SELECT count(*), "
		"coalesce(sum((flags & 1) = 0), 0), "
		"coalesce(sum((flags & 8) != 0), 0), coalesce(sum(size), 0), "
		"coalesce(max(uid), 0), coalesce(max(modseq), 0) "
		"FROM messages WHERE mailbox_id = ?1";
	struct index_status st = status(f->db, id);
	sqlite3 *raw;
	sqlite3_stmt *q;

	assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READONLY,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(q, 1, id), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(st.messages, sqlite3_column_int64(q, 0));
	assert_int_equal(st.unseen, sqlite3_column_int64(q, 1));
	assert_int_equal(st.deleted, sqlite3_column_int64(q, 2));
	assert_int_equal(st.size, sqlite3_column_int64(q, 3));
	assert_true(st.uidnext > (uint64_t)sqlite3_column_int64(q, 4));
	assert_true(st.highestmodseq >= (uint64_t)sqlite3_column_int64(q, 5));
	sqlite3_finalize(q);
	sqlite3_close(raw);
}

struct seen {
	uint32_t uids[64];
	char kw[64][64];
	uint32_t flags[64];
	uint64_t modseq[64];
	bool modified[64];
	size_t n;
};

static void
seen_msg(const struct index_msg *msg, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	s->uids[s->n] = msg->uid;
	s->flags[s->n] = msg->flags;
	s->modseq[s->n] = msg->modseq;
	snprintf(s->kw[s->n], sizeof(s->kw[0]), "%s", msg->keywords);
	s->n++;
}

static void
seen_store(const struct index_msg *msg, bool modified, void *ctx)
{
	struct seen *s = ctx;

	s->modified[s->n] = modified;
	seen_msg(msg, ctx);
}

static void
seen_uid(uint32_t uid, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	s->uids[s->n++] = uid;
}

static void
seen_name(const char *name, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	snprintf(s->kw[s->n++], sizeof(s->kw[0]), "%s", name);
}

static void
seen_mailbox(const struct index_mailbox_info *info, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	snprintf(s->kw[s->n], sizeof(s->kw[0]), "%s%s%s%s", info->name,
		 info->noselect ? " noselect" : "",
		 info->subscribed ? " sub" : "",
		 info->special_use != NULL ? info->special_use : "");
	s->n++;
}

static int
store(struct index_db *db, int64_t id, uint32_t lo, uint32_t hi,
      enum index_store_mode mode, uint32_t flags, const char *kw,
      uint64_t unchangedsince, struct seen *s, uint64_t *modseq_r)
{
	struct index_uid_range r = { lo, hi };
	struct index_store req = { mode, flags, kw, unchangedsince };
	const char *error;

	memset(s, 0, sizeof(*s));
	return index_msg_store(db, id, &r, 1, &req, seen_store, s, modseq_r,
			       &error);
}

static void
test_schema_reopen(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb;
	struct seen s = { .n = 0 };
	const char *error;
	struct stat sb;
	sqlite3 *raw;
	sqlite3_stmt *q;
	int64_t inbox, sent;
	uint32_t uidv;

	inbox = mk(f->db, "inbox", &uidv);
	assert_int_equal(index_mailbox_create(f->db, "Sent", "\\Sent", 0,
					      &sent, &uidv, &error), 0);
	/* INBOX is stored upper-case and found in any case */
	assert_int_equal(index_mailbox_get(f->db, "InBoX", &mb, &error), 1);
	assert_int_equal(mb.id, inbox);
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(mb.highestmodseq, 1);
	/* other names are case-sensitive */
	assert_int_equal(index_mailbox_get(f->db, "sent", &mb, &error), 0);
	assert_int_equal(index_mailbox_create(f->db, "INBOX", NULL, 0, &inbox,
					      &uidv, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_EXISTS);
	assert_int_equal(index_mailbox_create(f->db, "", NULL, 0, &inbox,
					      &uidv, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	assert_int_equal(index_mailbox_create(f->db, "a\tb", NULL, 0, &inbox,
					      &uidv, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	add(f->db, sent, "s", 3, INDEX_FLAG_SEEN, "$Label1", NULL);

	reopen(f);
	assert_int_equal(index_mailbox_list(f->db, seen_mailbox, &s, &error),
			 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kw[0], "INBOX");
	assert_string_equal(s.kw[1], "Sent\\Sent");
	assert_int_equal(index_mailbox_get(f->db, "Sent", &mb, &error), 1);
	assert_string_equal(mb.special_use, "\\Sent");
	assert_int_equal(mb.messages, 3);
	assert_int_equal(mb.uidnext, 4);
	assert_int_equal(index_mailbox_set_special_use(f->db, mb.id, NULL,
						       &error), 0);
	assert_int_equal(index_mailbox_set_mtimes(f->db, mb.id, 11, 22,
						  &error), 0);
	assert_int_equal(index_mailbox_set_mtimes(f->db, 999, 11, 22,
						  &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	assert_int_equal(index_mailbox_get_by_id(f->db, mb.id, &mb, &error),
			 1);
	assert_string_equal(mb.special_use, "");
	assert_int_equal(mb.mtime_new, 11);
	assert_int_equal(mb.mtime_cur, 22);
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_mailbox_keywords(f->db, mb.id, seen_name, &s,
						&error), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kw[0], "$Label1");

	/* settings and version as promised */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READONLY,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1,
					    &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), INDEX_SCHEMA_VERSION);
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1,
					    &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	sqlite3_close(raw);
}

/* The write-ahead log outlives the connection, emptied (INDEX_WAL_KEEP_KIB):
 * the next open doesn't create it; what was committed is in the main
 * file.  A symlink where the index should be is refused. */
static void
test_wal_kept(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb;
	struct index_db *db2 = NULL;
	enum index_error err;
	const char *error;
	char wal[160], link_path[160];
	struct stat sb;
	int64_t id;

	id = mk(f->db, "INBOX", NULL);
	add(f->db, id, "m", 300, 0, "", NULL);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 0);
	index_close(&f->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(index_open(f->path, &f->db, &err, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "INBOX", &mb, &error), 1);
	assert_int_equal(mb.messages, 300);
	/* a symlink to a real index: not followed */
	snprintf(link_path, sizeof(link_path), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->path, link_path), 0);
	assert_int_equal(index_open(link_path, &db2, &err, &error), -1);
	assert_null(db2);
	assert_int_equal(unlink(link_path), 0);
}

static void
test_version_newer(void **state)
{
	struct fixture *f = *state;
	struct index_db *db2;
	enum index_error err;
	const char *error;
	sqlite3 *raw;

	index_close(&f->db);
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(index_open(f->path, &db2, &err, &error), -1);
	assert_null(db2);
	assert_int_equal(err, INDEX_ERR_VERSION);
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 1", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	reopen(f);
}

static void
count_box(int64_t id, void *ctx)
{
	(void)id;
	(*(int64_t *)ctx)++;
}

/* The UID runs follow appends (one run when in order), expunges in the
 * middle and at the ends, survive a reopen, and a damaged run table is
 * noticed (0) and repaired. */
static void
check_runs(struct fixture *f, int64_t id, const uint32_t *want, size_t nwant)
{
	struct index_uid_range *r;
	const char *error;
	size_t n, i;

	assert_int_equal(index_msg_uid_ranges(f->db, id, status(f->db, id).messages,
					      &r, &n, &error), 1);
	assert_int_equal(n, nwant / 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(r[i].lo, want[2 * i]);
		assert_int_equal(r[i].hi, want[2 * i + 1]);
	}
	free(r);
}

static void
expunge_uids(struct fixture *f, int64_t id, uint32_t lo, uint32_t hi)
{
	struct index_uid_range r = { lo, hi };
	const char *error;

	if (index_msg_expunge(f->db, id, &r, 1, NULL, NULL, NULL, &error) < 0)
		fail_msg("expunge: %s", error);
}

/* \Seen on or off for UIDs lo..hi, nothing reported. */
static void
seen_range(struct fixture *f, int64_t id, uint32_t lo, uint32_t hi,
	   enum index_store_mode mode)
{
	struct index_uid_range r = { lo, hi };
	struct index_store req = { mode, INDEX_FLAG_SEEN, NULL, 0 };
	const char *error;

	if (index_msg_store(f->db, id, &r, 1, &req, NULL, NULL, NULL, &error) < 0)
		fail_msg("store: %s", error);
}

static void
test_uid_runs(void **state)
{
	struct fixture *f = *state;
	int64_t id = mk(f->db, "Runs", NULL), other = mk(f->db, "Other", NULL);
	struct index_uid_range *r;
	const char *error;
	sqlite3 *raw;
	size_t n;

	assert_int_equal(index_msg_uid_ranges(f->db, id, 0, &r, &n, &error), 1);
	assert_int_equal(n, 0);
	add(f->db, id, "a", 100, 0, NULL, NULL);
	add(f->db, other, "o", 5, 0, NULL, NULL);
	add(f->db, id, "b", 1, 0, NULL, NULL);
	check_runs(f, id, (const uint32_t[]){ 1, 101 }, 2);
	expunge_uids(f, id, 50, 50);
	check_runs(f, id, (const uint32_t[]){ 1, 49, 51, 101 }, 4);
	expunge_uids(f, id, 1, 3);
	expunge_uids(f, id, 98, 101);
	check_runs(f, id, (const uint32_t[]){ 4, 49, 51, 97 }, 4);
	expunge_uids(f, id, 40, 60); /* spans the hole */
	check_runs(f, id, (const uint32_t[]){ 4, 39, 61, 97 }, 4);
	add(f->db, id, "c", 3, 0, NULL, NULL);
	check_runs(f, id, (const uint32_t[]){ 4, 39, 61, 97, 102, 104 }, 6);
	check_runs(f, other, (const uint32_t[]){ 1, 5 }, 2);
	reopen(f);
	check_runs(f, id, (const uint32_t[]){ 4, 39, 61, 97, 102, 104 }, 6);
	/* the first unseen follows \Seen both ways (partial index) */
	{
		uint32_t uid;

		assert_int_equal(index_msg_first_unseen(f->db, id, &uid, &error), 0);
		assert_int_equal(uid, 4);
		seen_range(f, id, 1, 100, INDEX_STORE_ADD);
		assert_int_equal(index_msg_first_unseen(f->db, id, &uid, &error), 0);
		assert_int_equal(uid, 102);
		seen_range(f, id, 70, 70, INDEX_STORE_REMOVE);
		assert_int_equal(index_msg_first_unseen(f->db, id, &uid, &error), 0);
		assert_int_equal(uid, 70);
		seen_range(f, id, 1, 200, INDEX_STORE_ADD);
		assert_int_equal(index_msg_first_unseen(f->db, id, &uid, &error), 0);
		assert_int_equal(uid, 0);
	}
	/* damage: the runs no longer add up */
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "UPDATE uid_ranges SET hi = hi + 5 "
				      "WHERE lo = 4", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(index_msg_uid_ranges(f->db, id, status(f->db, id).messages,
					      &r, &n, &error), 0);
	assert_null(r);
	assert_int_equal(index_msg_ranges_repair(f->db, id, &error), 0);
	check_runs(f, id, (const uint32_t[]){ 4, 39, 61, 97, 102, 104 }, 6);
	/* a deleted mailbox leaves no runs behind */
	assert_int_equal(index_mailbox_delete(f->db, other, &error), 0);
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	{
		sqlite3_stmt *q;

		assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*) FROM "
						    "uid_ranges WHERE mailbox_id = ?1",
						    -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_int64(q, 1, other);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(q, 0), 0);
		sqlite3_finalize(q);
	}
	sqlite3_close(raw);
}

struct pend {
	uint32_t uid[16], flags[16], disk[16];
	size_t n;
};

static void
pend_cb(const struct index_msg *m, void *ctx)
{
	struct pend *p = ctx;

	assert_true(p->n < 16);
	p->uid[p->n] = m->uid;
	p->flags[p->n] = m->flags;
	p->disk[p->n] = m->disk_flags;
	p->n++;
}

/* A flag change leaves the old flags as disk_flags until the rename is
 * recorded; changing back clears it; a changed-again row stays pending. */
static void
test_pending_renames(void **state)
{
	struct fixture *f = *state;
	int64_t id = mk(f->db, "P", NULL);
	struct seen s;
	struct pend p;
	const char *error;
	uint32_t uids[2], fl[2];

	add(f->db, id, "m", 4, INDEX_FLAG_ANSWERED, NULL, NULL);
	memset(&p, 0, sizeof(p));
	assert_int_equal(index_msg_pending(f->db, id, 0, 100, pend_cb, &p, &error), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD, INDEX_FLAG_SEEN,
			       NULL, 0, &s, NULL), 0);
	/* keywords only: the name doesn't change */
	assert_int_equal(store(f->db, id, 4, 4, INDEX_STORE_ADD, 0, "$X", 0, &s,
			       NULL), 0);
	/* 3 back as it was on disk: nothing to rename */
	assert_int_equal(store(f->db, id, 3, 3, INDEX_STORE_REMOVE,
			       INDEX_FLAG_SEEN, NULL, 0, &s, NULL), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(index_msg_pending(f->db, id, 0, 100, pend_cb, &p, &error), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.uid[0], 1);
	assert_int_equal(p.flags[0], INDEX_FLAG_ANSWERED | INDEX_FLAG_SEEN);
	assert_int_equal(p.disk[0], INDEX_FLAG_ANSWERED);
	/* the cursor and the limit */
	memset(&p, 0, sizeof(p));
	assert_int_equal(index_msg_pending(f->db, id, 1, 1, pend_cb, &p, &error), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.uid[0], 2);
	/* 2 changes again before its rename is recorded: stays pending */
	assert_int_equal(store(f->db, id, 2, 2, INDEX_STORE_ADD, INDEX_FLAG_FLAGGED,
			       NULL, 0, &s, NULL), 0);
	uids[0] = 1;
	fl[0] = INDEX_FLAG_ANSWERED | INDEX_FLAG_SEEN;
	uids[1] = 2;
	fl[1] = INDEX_FLAG_ANSWERED | INDEX_FLAG_SEEN;
	assert_int_equal(index_msg_renamed(f->db, id, uids, fl, 2, &error), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(index_msg_pending(f->db, id, 0, 100, pend_cb, &p, &error), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.uid[0], 2);
	{
		int64_t boxes = 0;

		assert_int_equal(index_msg_pending_mailboxes(f->db, count_box,
							     &boxes, &error), 0);
		assert_int_equal(boxes, 1);
	}
	assert_int_equal(index_msg_clear_disk_flags(f->db, id, uids + 1, 1,
						    &error), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(index_msg_pending(f->db, id, 0, 100, pend_cb, &p, &error), 0);
	assert_int_equal(p.n, 0);
}

static void
test_uidvalidity_monotonic(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb;
	const char *error;
	uint32_t v1, v2, v3, v4, v5;
	int64_t id, id2, child;

	id = mk(f->db, "A", &v1);
	assert_true(v1 >= (uint32_t)time(NULL) - 5);
	assert_int_equal(index_mailbox_delete(f->db, id, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "A", &mb, &error), 0);
	assert_int_equal(index_mailbox_delete(f->db, id, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	id2 = mk(f->db, "A", &v2);
	assert_true(v2 > v1);
	assert_true(id2 != id); /* ids are never reused */
	reopen(f);
	/* a \Noselect placeholder revived by CREATE gets a new one too */
	child = mk(f->db, "A/child", &v3);
	assert_true(v3 > v2);
	add(f->db, id2, "a", 5, 0, "kw", NULL);
	assert_int_equal(index_mailbox_has_children(f->db, "A", &error), 1);
	assert_int_equal(index_mailbox_has_children(f->db, "A/child", &error),
			 0);
	assert_int_equal(index_mailbox_set_noselect(f->db, id2, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "A", &mb, &error), 1);
	assert_true(mb.noselect);
	assert_int_equal(mb.messages, 0);
	assert_int_equal(mb.unseen, 0);
	assert_int_equal(mb.size, 0);
	add(f->db, child, "c", 1, 0, NULL, NULL);
	{
		struct index_msg_new m = { 0, "x", 0, NULL, 0, 1 };
		uint32_t uid;

		assert_int_equal(index_msg_append(f->db, id2, &m, 1, &uid,
						  NULL, &error), -1);
		assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	}
	assert_int_equal(index_mailbox_create(f->db, "A", NULL, 0, &id, &v4,
					      &error), 0);
	assert_int_equal(id, id2);
	assert_true(v4 > v3);
	assert_int_equal(index_mailbox_get(f->db, "A", &mb, &error), 1);
	assert_false(mb.noselect);
	assert_int_equal(mb.uidvalidity, v4);
	/* an explicit (imported) UIDVALIDITY moves the sequence past it */
	assert_int_equal(index_mailbox_create(f->db, "B", NULL, v4 + 1000,
					      &id, &v5, &error), 0);
	assert_int_equal(v5, v4 + 1000);
	mk(f->db, "C", &v5);
	assert_int_equal(v5, v4 + 1001);
}

static void
test_uid_no_reuse(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r = { 3, 3 };
	struct index_msg_new m = { 0, "dup", 0, NULL, 0, 10 };
	struct index_status st, st2;
	const char *error;
	uint32_t uids[3], uid;
	int64_t id = mk(f->db, "INBOX", NULL);

	add(f->db, id, "m", 3, 0, NULL, uids);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[2], 3);
	assert_int_equal(index_msg_expunge(f->db, id, &r, 1, NULL, NULL, NULL,
					   &error), 0);
	add(f->db, id, "n", 1, 0, NULL, &uid);
	assert_int_equal(uid, 4);
	reopen(f);
	assert_int_equal(index_msg_expunge(f->db, id, &(struct index_uid_range)
					   { 4, 4 }, 1, NULL, NULL, NULL,
					   &error), 0);
	add(f->db, id, "o", 1, 0, NULL, &uid);
	assert_int_equal(uid, 5);

	/* a file already indexed: refused, and nothing moved */
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), 0);
	st = status(f->db, id);
	{
		struct index_msg_new two[2] = {
			{ 0, "fresh", 0, NULL, 0, 10 },
			{ 0, "dup", 0, NULL, 0, 10 },
		};
		uint32_t u2[2];

		assert_int_equal(index_msg_append(f->db, id, two, 2, u2, NULL,
						  &error), -1);
		assert_int_equal(index_last_error(f->db), INDEX_ERR_EXISTS);
	}
	st2 = status(f->db, id);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_int_equal(index_msg_lookup_file(f->db, id, "fresh", &uid, &uid,
					       &error), 0);
	/* explicit UIDs (import): must not go below uidnext */
	m.uid = 3;
	m.file = "old";
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	m.uid = 100;
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), 0);
	assert_int_equal(uid, 100);
	add(f->db, id, "p", 1, 0, NULL, &uid);
	assert_int_equal(uid, 101);
	/* near the top of the UID space */
	m.uid = UINT32_MAX - 1;
	m.file = "top";
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), 0);
	m.uid = 0;
	m.file = "over";
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_LIMIT);
	assert_int_equal(status(f->db, id).uidnext, UINT32_MAX);
	check_counters(f, id);
}

static void
test_counters(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r[2] = { { 2, 4 }, { 3, 8 } };
	struct seen s;
	const char *error;
	int64_t id = mk(f->db, "Work", NULL);
	int64_t other = mk(f->db, "Other", NULL);
	uint32_t uid, flags;

	add(f->db, id, "a", 10, 0, NULL, NULL);
	add(f->db, id, "b", 5, INDEX_FLAG_SEEN | INDEX_FLAG_DELETED, "x",
	    NULL);
	add(f->db, other, "o", 4, 0, NULL, NULL);
	check_counters(f, id);
	assert_int_equal(status(f->db, id).messages, 15);
	assert_int_equal(status(f->db, id).unseen, 10);
	assert_int_equal(status(f->db, id).deleted, 5);
	assert_int_equal(status(f->db, id).size,
			 (100 + 101 + 102 + 103 + 104) * 2 +
			 105 + 106 + 107 + 108 + 109);
	store(f->db, id, 1, 12, INDEX_STORE_ADD, INDEX_FLAG_SEEN, NULL, 0, &s,
	      NULL);
	check_counters(f, id);
	store(f->db, id, 5, 15, INDEX_STORE_REMOVE,
	      INDEX_FLAG_SEEN | INDEX_FLAG_DELETED, NULL, 0, &s, NULL);
	check_counters(f, id);
	store(f->db, id, 1, 3, INDEX_STORE_REPLACE, INDEX_FLAG_DELETED, NULL,
	      0, &s, NULL);
	check_counters(f, id);
	/* overlapping ranges expunge each message once */
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_msg_expunge(f->db, id, r, 2, seen_uid, &s,
					   NULL, &error), 0);
	assert_int_equal(s.n, 7);
	assert_int_equal(s.uids[0], 2);
	assert_int_equal(s.uids[6], 8);
	check_counters(f, id);
	assert_int_equal(status(f->db, id).messages, 8);
	check_counters(f, other);
	assert_int_equal(status(f->db, other).messages, 4);
	/* file lookups and renames for Maildir sync */
	assert_int_equal(index_msg_lookup_file(f->db, id, "a0.M1P2.host",
					       &uid, &flags, &error), 1);
	assert_int_equal(uid, 1);
	assert_int_equal(flags, INDEX_FLAG_DELETED);
	assert_int_equal(index_msg_set_file(f->db, id, 1, "renamed", &error),
			 0);
	assert_int_equal(index_msg_lookup_file(f->db, id, "renamed", &uid,
					       &flags, &error), 1);
	assert_int_equal(uid, 1);
	assert_int_equal(index_msg_lookup_file(f->db, id, "a0.M1P2.host",
					       &uid, &flags, &error), 0);
	assert_int_equal(index_msg_set_file(f->db, id, 2, "gone", &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	assert_int_equal(index_mailbox_delete(f->db, id, &error), 0);
	check_counters(f, other);
}

static void
test_flags_modseq(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range all = { 1, UINT32_MAX };
	struct seen s;
	const char *error;
	uint64_t m0, m1, m2;
	int64_t id = mk(f->db, "F", NULL);

	add(f->db, id, "s", 1, INDEX_FLAG_SEEN, NULL, NULL);
	add(f->db, id, "u", 2, 0, "b a a", NULL);
	m0 = status(f->db, id).highestmodseq;
	assert_int_equal(m0, 3); /* 1 at creation, +1 per append */

	/* +FLAGS \Seen: only the two unseen ones change */
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD,
			       INDEX_FLAG_SEEN, NULL, 0, &s, &m1), 0);
	assert_int_equal(m1, m0 + 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.uids[0], 2);
	assert_int_equal(s.uids[1], 3);
	assert_int_equal(s.flags[0], INDEX_FLAG_SEEN);
	assert_int_equal(s.modseq[0], m1);
	assert_string_equal(s.kw[0], "a b"); /* normalized */
	assert_false(s.modified[0]);
	/* the same again changes nothing and bumps nothing */
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD,
			       INDEX_FLAG_SEEN, NULL, 0, &s, &m2), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(m2, m1);
	assert_int_equal(status(f->db, id).highestmodseq, m1);
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_msg_fetch(f->db, id, &all, 1, seen_msg, &s,
					 &error), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.modseq[0], 2); /* message 1 never changed */

	/* keywords: add one present and one new; only rows gaining change */
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD, 0, "c a",
			       0, &s, &m2), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.kw[0], "a c");
	assert_string_equal(s.kw[1], "a b c");
	assert_int_equal(m2, m1 + 1);
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD, 0, "a",
			       0, &s, &m2), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_REMOVE, 0, "b zz",
			       0, &s, &m2), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kw[0], "a c");
	/* replace: flags and keywords become exactly these */
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_REPLACE,
			       INDEX_FLAG_FLAGGED, "z", 0, &s, &m1), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.flags[2], INDEX_FLAG_FLAGGED);
	assert_string_equal(s.kw[2], "z");
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_REPLACE,
			       INDEX_FLAG_FLAGGED, "z z", 0, &s, &m2), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(m2, m1);
	/* flag-only change keeps keywords */
	assert_int_equal(store(f->db, id, 2, 2, INDEX_STORE_ADD,
			       INDEX_FLAG_DRAFT, NULL, 0, &s, &m2), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.kw[0], "z");
	/* UNCHANGEDSINCE: message 2 (modseq m2) fails, others change */
	assert_int_equal(store(f->db, id, 1, 3, INDEX_STORE_ADD,
			       INDEX_FLAG_ANSWERED, NULL, m1, &s, &m0), 0);
	assert_int_equal(s.n, 3);
	assert_false(s.modified[0]);
	assert_true(s.modified[1]);
	assert_int_equal(s.modseq[1], m2);
	assert_false(s.flags[1] & INDEX_FLAG_ANSWERED);
	assert_false(s.modified[2]);
	assert_int_equal(s.modseq[2], m2 + 1);
	/* a non-existent range is fine */
	assert_int_equal(store(f->db, id, 50, 60, INDEX_STORE_ADD,
			       INDEX_FLAG_ANSWERED, NULL, 0, &s, &m1), 0);
	assert_int_equal(s.n, 0);
	/* the mailbox keyword list covers everything ever set */
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_mailbox_keywords(f->db, id, seen_name, &s,
						&error), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.kw[0], "a");
	assert_string_equal(s.kw[3], "z");
	check_counters(f, id);
}

/* One slice of index_msg_fetch_part into s (appended); its return. */
static int
part(struct fixture *f, int64_t id, const struct index_uid_range *r,
     size_t nr, unsigned cols, size_t max, struct index_fetch_pos *pos,
     struct seen *s)
{
	const char *error;
	int ret = index_msg_fetch_part(f->db, id, r, nr, cols, max, pos,
				       seen_msg, s, &error);

	if (ret < 0)
		fail_msg("fetch part: %s", error);
	return ret;
}

static void
size_msg(const struct index_msg *msg, void *ctx)
{
	struct seen *s = ctx;

	seen_msg(msg, ctx);
	s->modseq[s->n - 1] = msg->size; /* the column asked for or not */
	s->modified[s->n - 1] = msg->file[0] != '\0';
}

static void
test_fetch_part(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r[3] = { { 2, 4 }, { 6, 6 }, { 8, UINT32_MAX } };
	struct index_uid_range one = { 10, 10 }, nine = { 9, 9 };
	struct index_fetch_pos pos;
	struct seen s, s2;
	uint64_t m;
	const char *error;
	int64_t id = mk(f->db, "P", NULL);
	size_t i;

	add(f->db, id, "a", 5, INDEX_FLAG_SEEN, NULL, NULL);
	add(f->db, id, "b", 5, INDEX_FLAG_FLAGGED, "k1 k2", NULL);

	/* two at a time, FLAGS columns only: every range, in order, each
	 * message once, even where a slice ends at a range's end */
	memset(&s, 0, sizeof(s));
	memset(&pos, 0, sizeof(pos));
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_FLAGS, 2, &pos, &s), 1);
	assert_int_equal(s.n, 2);
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_FLAGS, 2, &pos, &s), 1);
	assert_int_equal(s.n, 4); /* 4 (end of a range), 6 */
	/* meanwhile 9 goes and 10 changes: the next slices see it */
	assert_int_equal(index_msg_expunge(f->db, id, &nine, 1, NULL, NULL,
					   NULL, &error), 0);
	assert_int_equal(store(f->db, id, 10, 10, INDEX_STORE_ADD,
			       INDEX_FLAG_ANSWERED, NULL, 0, &s2, &m), 0);
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_FLAGS, 2, &pos, &s), 1);
	assert_int_equal(s.n, 6);
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_FLAGS, 2, &pos, &s), 0);
	assert_int_equal(s.n, 6);
	{
		static const uint32_t want[] = { 2, 3, 4, 6, 8, 10 };

		for (i = 0; i < 6; i++)
			assert_int_equal(s.uids[i], want[i]);
	}
	assert_int_equal(s.flags[0], INDEX_FLAG_SEEN);
	assert_string_equal(s.kw[0], "");
	assert_int_equal(s.flags[3], INDEX_FLAG_FLAGGED);
	assert_string_equal(s.kw[3], "k1 k2");
	assert_int_equal(s.flags[5], INDEX_FLAG_FLAGGED | INDEX_FLAG_ANSWERED);
	assert_int_equal(s.modseq[0], 0); /* not asked for */
	/* done stays done */
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_FLAGS, 2, &pos, &s), 0);
	assert_int_equal(s.n, 6);

	/* the UID alone; no limit is one call */
	memset(&s, 0, sizeof(s));
	memset(&pos, 0, sizeof(pos));
	assert_int_equal(part(f, id, r, 3, INDEX_COLS_UID, 0, &pos, &s), 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.uids[5], 10);
	assert_int_equal(s.flags[5], 0);
	assert_string_equal(s.kw[5], "");

	/* every column: what index_msg_fetch gives */
	memset(&s, 0, sizeof(s));
	memset(&pos, 0, sizeof(pos));
	assert_int_equal(index_msg_fetch_part(f->db, id, &one, 1,
					      INDEX_COLS_ALL, 1, &pos,
					      size_msg, &s, &error), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.modseq[0], 104); /* size of the 5th of "b" */
	assert_true(s.modified[0]);         /* a file name */
	assert_string_equal(s.kw[0], "k1 k2");
	memset(&s, 0, sizeof(s));
	memset(&pos, 0, sizeof(pos));
	assert_int_equal(index_msg_fetch_part(f->db, id, &one, 1,
					      INDEX_COLS_FLAGS, 0, &pos,
					      size_msg, &s, &error), 0);
	assert_int_equal(s.modseq[0], 0);
	assert_false(s.modified[0]);
}

static void
test_rename_children(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox before, after;
	struct seen s = { .n = 0 };
	const char *error;
	int64_t a = mk(f->db, "a", NULL);

	mk(f->db, "a/b", NULL);
	mk(f->db, "a/b/c", NULL);
	mk(f->db, "ab", NULL);
	mk(f->db, "a.b", NULL);
	add(f->db, a, "r", 2, 0, NULL, NULL);
	assert_int_equal(index_mailbox_get(f->db, "a", &before, &error), 1);
	assert_int_equal(index_mailbox_rename(f->db, "a", "x/y", &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "x/y", &after, &error), 1);
	assert_int_equal(after.id, a);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.messages, 2);
	assert_int_equal(index_mailbox_list(f->db, seen_mailbox, &s, &error),
			 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.kw[0], "a.b");
	assert_string_equal(s.kw[1], "ab");
	assert_string_equal(s.kw[2], "x/y");
	assert_string_equal(s.kw[3], "x/y/b");
	assert_string_equal(s.kw[4], "x/y/b/c");

	/* errors */
	assert_int_equal(index_mailbox_rename(f->db, "nope", "z", &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	assert_int_equal(index_mailbox_rename(f->db, "ab", "a.b", &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_EXISTS);
	assert_int_equal(index_mailbox_rename(f->db, "x/y", "x/y/z", &error),
			 -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	/* a child's new name taken: nothing renamed */
	mk(f->db, "n/b", NULL);
	assert_int_equal(index_mailbox_rename(f->db, "x/y", "n", &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_EXISTS);
	assert_int_equal(index_mailbox_get(f->db, "x/y/b/c", &after, &error),
			 1);
	assert_int_equal(index_mailbox_get(f->db, "n", &after, &error), 0);

	/* moving up a level passes through names still in use */
	mk(f->db, "p/q", NULL);
	mk(f->db, "p/q/q", NULL);
	mk(f->db, "p/q/q/r", NULL);
	assert_int_equal(index_mailbox_rename(f->db, "p/q", "p", &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "p", &after, &error), 1);
	assert_int_equal(index_mailbox_get(f->db, "p/q", &after, &error), 1);
	assert_int_equal(index_mailbox_get(f->db, "p/q/r", &after, &error), 1);
	assert_int_equal(index_mailbox_get(f->db, "p/q/q", &after, &error), 0);
	/* non-ASCII names: substr() counts characters consistently */
	mk(f->db, "Ünïcödé", NULL);
	mk(f->db, "Ünïcödé/Kind", NULL);
	assert_int_equal(index_mailbox_rename(f->db, "Ünïcödé", "Ω", &error),
			 0);
	assert_int_equal(index_mailbox_get(f->db, "Ω/Kind", &after, &error),
			 1);
}

static void
test_changes_since(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r3 = { 3, 3 };
	struct seen ch, ex, s;
	const char *error;
	uint64_t m1, m2, m3;
	int64_t id = mk(f->db, "C", NULL);
	int64_t other = mk(f->db, "D", NULL);

	add(f->db, id, "c", 5, 0, NULL, NULL);
	add(f->db, other, "d", 5, 0, NULL, NULL);
	m1 = status(f->db, id).highestmodseq;
	store(f->db, id, 2, 2, INDEX_STORE_ADD, INDEX_FLAG_FLAGGED, NULL, 0,
	      &s, &m2);
	assert_int_equal(index_msg_expunge(f->db, id, &r3, 1, NULL, NULL, &m3,
					   &error), 0);
	assert_int_equal(m3, m2 + 1);
	assert_int_equal(status(f->db, id).highestmodseq, m3);
	memset(&ch, 0, sizeof(ch));
	memset(&ex, 0, sizeof(ex));
	assert_int_equal(index_msg_changes_since(f->db, id, m1, seen_msg,
						 seen_uid, &ch, &error), 0);
	assert_int_equal(ch.n, 2);
	assert_int_equal(ch.uids[0], 2);
	assert_int_equal(ch.uids[1], 3);
	/* the ctx is shared: changed rows then expunged uids */
	memset(&ch, 0, sizeof(ch));
	assert_int_equal(index_msg_changes_since(f->db, id, m1, seen_msg,
						 NULL, &ch, &error), 0);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.uids[0], 2);
	assert_int_equal(ch.modseq[0], m2);
	assert_int_equal(index_msg_changes_since(f->db, id, m1, NULL,
						 seen_uid, &ex, &error), 0);
	assert_int_equal(ex.n, 1);
	assert_int_equal(ex.uids[0], 3);
	memset(&ch, 0, sizeof(ch));
	memset(&ex, 0, sizeof(ex));
	assert_int_equal(index_msg_changes_since(f->db, id, 0, seen_msg, NULL,
						 &ch, &error), 0);
	assert_int_equal(ch.n, 4);
	assert_int_equal(index_msg_changes_since(f->db, id, m3, seen_msg,
						 NULL, &ex, &error), 0);
	assert_int_equal(ex.n, 0);
	assert_int_equal(index_msg_changes_since(f->db, other, 1, NULL,
						 seen_uid, &ex, &error), 0);
	assert_int_equal(ex.n, 0);
}

static void
test_recent(void **state)
{
	struct fixture *f = *state;
	const char *error;
	uint32_t first, next;
	int64_t id = mk(f->db, "R", NULL);

	add(f->db, id, "r", 2, 0, NULL, NULL);
	assert_int_equal(status(f->db, id).recent, 2);
	assert_int_equal(index_mailbox_claim_recent(f->db, id, &first, &next,
						    &error), 0);
	assert_int_equal(first, 1);
	assert_int_equal(next, 3);
	assert_int_equal(status(f->db, id).recent, 0);
	assert_int_equal(index_mailbox_claim_recent(f->db, id, &first, &next,
						    &error), 0);
	assert_int_equal(first, 3);
	assert_int_equal(next, 3);
	add(f->db, id, "s", 3, 0, NULL, NULL);
	/* an expunged recent message no longer counts */
	assert_int_equal(index_msg_expunge(f->db, id, &(struct index_uid_range)
					   { 4, 4 }, 1, NULL, NULL, NULL,
					   &error), 0);
	assert_int_equal(status(f->db, id).recent, 2);
	assert_int_equal(index_mailbox_claim_recent(f->db, id, &first, &next,
						    &error), 0);
	assert_int_equal(first, 3);
	assert_int_equal(next, 6);
	assert_int_equal(index_mailbox_claim_recent(f->db, 12345, &first,
						    &next, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
}

static void
test_subscriptions_meta(void **state)
{
	struct fixture *f = *state;
	struct seen s = { .n = 0 };
	const char *error;
	char *value;

	mk(f->db, "INBOX", NULL);
	mk(f->db, "Lists", NULL);
	assert_int_equal(index_sub_add(f->db, "inbox", &error), 0);
	assert_int_equal(index_sub_add(f->db, "Gone/Away", &error), 0);
	assert_int_equal(index_sub_add(f->db, "Gone/Away", &error), 0);
	assert_int_equal(index_sub_add(f->db, "Lists", &error), 0);
	assert_int_equal(index_sub_remove(f->db, "Lists", &error), 0);
	assert_int_equal(index_sub_remove(f->db, "never", &error), 0);
	assert_int_equal(index_sub_list(f->db, seen_name, &s, &error), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kw[0], "Gone/Away");
	assert_string_equal(s.kw[1], "INBOX");
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_mailbox_list(f->db, seen_mailbox, &s, &error),
			 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kw[0], "INBOX sub");
	assert_string_equal(s.kw[1], "Lists");

	assert_int_equal(index_meta_get(f->db, "import", &value, &error), 0);
	assert_null(value);
	assert_int_equal(index_meta_set(f->db, "import", "dovecot 1", &error),
			 0);
	assert_int_equal(index_meta_set(f->db, "import", "dovecot 2", &error),
			 0);
	reopen(f);
	assert_int_equal(index_meta_get(f->db, "import", &value, &error), 1);
	assert_string_equal(value, "dovecot 2");
	free(value);
	assert_int_equal(index_meta_set(f->db, "import", NULL, &error), 0);
	assert_int_equal(index_meta_get(f->db, "import", &value, &error), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(index_sub_list(f->db, seen_name, &s, &error), 0);
	assert_int_equal(s.n, 2);
}

static void
test_user_transaction(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r = { 1, 2 };
	struct index_msg_new m[2] = {
		{ 0, "moved1", 0, NULL, 0, 10 },
		{ 0, "moved2", INDEX_FLAG_SEEN, NULL, 0, 20 },
	};
	const char *error;
	uint32_t uids[2];
	int64_t src = mk(f->db, "Src", NULL);
	int64_t dst = mk(f->db, "Dst", NULL);

	add(f->db, src, "src", 2, 0, NULL, NULL);
	/* MOVE: both halves or neither */
	assert_int_equal(index_transaction_begin(f->db, &error), 0);
	assert_int_equal(index_transaction_begin(f->db, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	assert_int_equal(index_msg_append(f->db, dst, m, 2, uids, NULL,
					  &error), 0);
	/* a failing call inside leaves the rest pending */
	assert_int_equal(index_msg_append(f->db, 9999, m, 2, uids, NULL,
					  &error), -1);
	assert_int_equal(index_msg_expunge(f->db, src, &r, 1, NULL, NULL,
					   NULL, &error), 0);
	index_transaction_rollback(f->db);
	assert_int_equal(status(f->db, src).messages, 2);
	assert_int_equal(status(f->db, dst).messages, 0);
	assert_int_equal(status(f->db, dst).uidnext, 1);

	assert_int_equal(index_transaction_begin(f->db, &error), 0);
	assert_int_equal(index_msg_append(f->db, dst, m, 2, uids, NULL,
					  &error), 0);
	assert_int_equal(index_msg_append(f->db, dst, m, 1, uids, NULL,
					  &error), -1); /* duplicate file */
	assert_int_equal(index_msg_expunge(f->db, src, &r, 1, NULL, NULL,
					   NULL, &error), 0);
	assert_int_equal(index_transaction_commit(f->db, &error), 0);
	assert_int_equal(index_transaction_commit(f->db, &error), -1);
	assert_int_equal(status(f->db, src).messages, 0);
	assert_int_equal(status(f->db, dst).messages, 2);
	assert_int_equal(status(f->db, dst).unseen, 1);
	check_counters(f, src);
	check_counters(f, dst);
}

static void
test_corruption(void **state)
{
	struct fixture *f = *state;
	struct index_db *db2 = NULL;
	enum index_error err;
	const char *error;
	char garbage[4096];
	uint32_t *uids;
	size_t count, i;
	int64_t id = mk(f->db, "INBOX", NULL);
	int fd, ret;

	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 13);
	add(f->db, id, "m", 3000, 0, "some keywords", NULL);
	index_close(&f->db);

	/* damage pages in the middle: the header still reads, so the
	 * open may work, but touching the messages table must report
	 * INDEX_ERR_CORRUPT, and stick */
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	for (i = 4; i < 40; i++)
		assert_int_equal(pwrite(fd, garbage, sizeof(garbage),
					(off_t)(i * 4096)), sizeof(garbage));
	close(fd);
	if (index_open(f->path, &db2, &err, &error) < 0) {
		assert_int_equal(err, INDEX_ERR_CORRUPT);
	} else {
		uids = calloc(4000, sizeof(*uids));
		ret = index_msg_uids(db2, id, uids, 4000, &count, &error);
		if (ret == 0) {
			struct index_uid_range all = { 1, UINT32_MAX };
			struct index_store req = { INDEX_STORE_ADD,
				INDEX_FLAG_SEEN, "k", 0 };

			ret = index_msg_store(db2, id, &all, 1, &req, NULL,
					      NULL, NULL, &error);
		}
		free(uids);
		assert_int_equal(ret, -1);
		assert_int_equal(index_last_error(db2), INDEX_ERR_CORRUPT);
		assert_true(index_is_corrupt(db2));
		assert_int_equal(index_mailbox_list(db2, NULL, NULL, &error),
				 -1);
		assert_int_equal(index_last_error(db2), INDEX_ERR_CORRUPT);
		index_close(&db2);
	}

	/* garbage over the whole file: not a database */
	fd = open(f->path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(write(fd, garbage, sizeof(garbage)),
				 sizeof(garbage));
	close(fd);
	assert_int_equal(index_open(f->path, &db2, &err, &error), -1);
	assert_null(db2);
	assert_int_equal(err, INDEX_ERR_CORRUPT);

	/* the caller's recovery: remove and start afresh */
	assert_int_equal(index_remove_files(f->path, &error), 0);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(index_open(f->path, &f->db, &err, &error), 0);
	mk(f->db, "INBOX", NULL);
}

static void
test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct index_db *b;
	struct index_mailbox mb;
	struct index_status st;
	enum index_error err;
	const char *error;
	uint32_t uids[2], uidv;
	int64_t id;

	assert_int_equal(index_open(f->path, &b, &err, &error), 0);
	id = mk(f->db, "Shared", NULL);
	add(f->db, id, "a", 3, 0, NULL, NULL);
	assert_int_equal(index_mailbox_get(b, "Shared", &mb, &error), 1);
	assert_int_equal(mb.messages, 3);
	add(b, id, "b", 2, 0, NULL, uids);
	assert_int_equal(uids[0], 4);
	assert_int_equal(uids[1], 5);
	assert_int_equal(status(f->db, id).messages, 5);
	assert_int_equal(status(f->db, id).uidnext, 6);
	/* UIDVALIDITY is shared too */
	assert_int_equal(index_mailbox_create(b, "Other", NULL, 0, &id, &uidv,
					      &error), 0);
	assert_true(uidv > mb.uidvalidity);
	/* an open caller transaction is invisible to the other handle */
	assert_int_equal(index_transaction_begin(f->db, &error), 0);
	add(f->db, mb.id, "c", 1, 0, NULL, NULL);
	assert_int_equal(index_mailbox_status(b, mb.id, &st, &error), 0);
	assert_int_equal(st.messages, 5);
	assert_int_equal(index_transaction_commit(f->db, &error), 0);
	assert_int_equal(index_mailbox_status(b, mb.id, &st, &error), 0);
	assert_int_equal(st.messages, 6);
	index_close(&b);
	check_counters(f, mb.id);
}

/* A read snapshot: another handle's commit is not seen inside it (so the
 * reads of one SELECT agree with each other), is seen after it; reads that
 * use their own transaction work inside; a write transaction can't be
 * opened inside; the snapshot can't be nested. */
static void
test_read_snapshot(void **state)
{
	struct fixture *f = *state;
	struct index_db *b;
	struct index_mailbox mb;
	struct index_status st;
	struct index_uid_range *ranges = NULL;
	size_t nranges = 0;
	enum index_error err;
	const char *error;
	int64_t id;

	assert_int_equal(index_open(f->path, &b, &err, &error), 0);
	id = mk(f->db, "Snap", NULL);
	add(f->db, id, "a", 3, 0, NULL, NULL);
	assert_int_equal(index_read_begin(f->db, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "Snap", &mb, &error), 1);
	assert_int_equal(mb.messages, 3);
	add(b, id, "b", 2, 0, NULL, NULL); /* another process delivers */
	assert_int_equal(index_mailbox_get(f->db, "Snap", &mb, &error), 1);
	assert_int_equal(mb.messages, 3);
	assert_int_equal(index_mailbox_status(f->db, id, &st, &error), 0);
	assert_int_equal(st.messages, 3);
	assert_int_equal(index_msg_uid_ranges(f->db, id, 3, &ranges, &nranges,
					      &error), 1);
	assert_int_equal(nranges, 1);
	assert_int_equal(ranges[0].hi, 3);
	free(ranges);
	assert_int_equal(index_read_begin(f->db, &error), -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	assert_int_equal(index_transaction_begin(f->db, &error), -1);
	index_read_end(f->db);
	assert_int_equal(index_mailbox_get(f->db, "Snap", &mb, &error), 1);
	assert_int_equal(mb.messages, 5);
	/* and writes work again afterwards */
	add(f->db, id, "c", 1, 0, NULL, NULL);
	assert_int_equal(status(b, id).messages, 6);
	index_read_end(f->db); /* a second end is harmless */
	index_close(&b);
}

/* index_commits() counts what this handle wrote and nothing else: reads,
 * read snapshots and another handle's writes leave it alone. */
static void
test_commits(void **state)
{
	struct fixture *f = *state;
	struct index_db *b;
	struct index_mailbox mb;
	enum index_error err;
	const char *error;
	uint32_t first, next;
	uint64_t c0;
	int64_t id;

	assert_int_equal(index_open(f->path, &b, &err, &error), 0);
	c0 = index_commits(f->db);
	id = mk(f->db, "Count", NULL);
	assert_true(index_commits(f->db) > c0);
	c0 = index_commits(f->db);
	assert_int_equal(index_mailbox_get(f->db, "Count", &mb, &error), 1);
	assert_int_equal(index_read_begin(f->db, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "Count", &mb, &error), 1);
	index_read_end(f->db);
	(void)status(f->db, id);
	assert_int_equal(index_commits(f->db), c0);
	add(b, id, "b", 2, 0, NULL, NULL);
	assert_int_equal(index_commits(f->db), c0);
	assert_true(index_commits(b) > 0);
	add(f->db, id, "a", 1, 0, NULL, NULL);
	assert_true(index_commits(f->db) > c0);
	c0 = index_commits(f->db);
	assert_int_equal(index_mailbox_claim_recent(f->db, id, &first, &next,
						    &error), 0);
	assert_true(index_commits(f->db) > c0);
	index_close(&b);
}

/* Statements on the connection, prepared and not finalized. */
static size_t
prepared(struct index_db *db)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0, kept = 0, i;

	while ((st = sqlite3_next_stmt(db->sql, st)) != NULL)
		n++;
	/* every one of them is a kept statement of db->st[] */
	for (i = 0; i < ST_COUNT; i++)
		kept += db->st[i] != NULL;
	assert_int_equal(n, kept);
	return n;
}

static void
test_lazy_prepare(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range all = { 1, UINT32_MAX };
	struct seen s = { .n = 0 };
	struct index_mailbox mb;
	sqlite3_stmt *by_name;
	const char *error;
	size_t n_create, n_more;
	int64_t id;

	/* a fresh open (schema created) and a reopen prepare nothing */
	assert_int_equal(prepared(f->db), 0);
	reopen(f);
	assert_int_equal(prepared(f->db), 0);

	/* a mailbox create prepares what it runs, not the rest */
	id = mk(f->db, "INBOX", NULL);
	n_create = prepared(f->db);
	assert_true(n_create > 0);
	assert_true(n_create < 10);
	assert_null(f->db->st[ST_MSG_INSERT]);
	assert_null(f->db->st[ST_RANGE_REBUILD]);
	/* kept: the same again prepares nothing new, same statement */
	by_name = f->db->st[ST_MBOX_BY_NAME];
	assert_non_null(by_name);
	mk(f->db, "Other", NULL);
	assert_int_equal(prepared(f->db), n_create);
	assert_int_equal(index_mailbox_get(f->db, "INBOX", &mb, &error), 1);
	assert_ptr_equal(f->db->st[ST_MBOX_BY_NAME], by_name);

	/* more operations, more statements, still not all of them */
	add(f->db, id, "m", 3, 0, "k1", NULL);
	assert_int_equal(index_msg_fetch(f->db, id, &all, 1, seen_msg, &s,
					 &error), 0);
	assert_int_equal(s.n, 3);
	n_more = prepared(f->db);
	assert_true(n_more > n_create);
	assert_true(n_more < ST_COUNT);
	assert_non_null(f->db->st[ST_MSG_INSERT]);
	assert_non_null(f->db->st[ST_MSG_RANGE]);
	assert_null(f->db->st[ST_SUB_LIST]);
	check_counters(f, id);
}

/* Preparing a statement at its first use can fail (here: the table it
 * reads was dropped by another connection): the call fails with the
 * SQLite error, nothing crashes, a transaction the call opened is rolled
 * back and the db stays usable. */
static void
test_lazy_prepare_error(void **state)
{
	struct fixture *f = *state;
	struct index_msg_new m = { 0, "new1", 0, NULL, 0, 10 };
	struct index_uid_range *ranges = NULL;
	struct index_mailbox mb;
	const char *error;
	uint32_t uid;
	size_t n = 0;
	sqlite3 *raw;
	int64_t id = mk(f->db, "INBOX", NULL);

	assert_null(f->db->st[ST_RANGE_LIST]);
	assert_null(f->db->st[ST_RANGE_BEFORE]);
	assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READWRITE,
					 NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "DROP TABLE uid_ranges", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	/* a prepared statement sees the schema change and reloads it */
	assert_int_equal(index_mailbox_get(f->db, "INBOX", &mb, &error), 1);

	/* no transaction */
	assert_int_equal(index_msg_uid_ranges(f->db, id, 0, &ranges, &n,
					      &error), -1);
	assert_non_null(strstr(error, "no such table: uid_ranges"));
	assert_int_equal(index_last_error(f->db), INDEX_ERR_TEMP);
	assert_false(index_is_corrupt(f->db));
	assert_null(ranges);
	assert_int_equal(n, 0);
	assert_null(f->db->st[ST_RANGE_LIST]); /* failed in the prepare */

	/* in the append's own transaction, after the row was inserted */
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), -1);
	assert_non_null(strstr(error, "no such table: uid_ranges"));
	assert_int_equal(index_last_error(f->db), INDEX_ERR_TEMP);
	assert_null(f->db->st[ST_RANGE_BEFORE]);
	assert_int_equal(status(f->db, id).messages, 0);
	assert_int_equal(status(f->db, id).uidnext, 1);
	mk(f->db, "Other", NULL); /* a new write transaction begins */
	check_counters(f, id);

	/* in a caller transaction: the failed call's savepoint goes, the
	 * rest commits */
	assert_int_equal(index_transaction_begin(f->db, &error), 0);
	mk(f->db, "Third", NULL);
	assert_int_equal(index_msg_append(f->db, id, &m, 1, &uid, NULL,
					  &error), -1);
	assert_non_null(strstr(error, "no such table: uid_ranges"));
	assert_int_equal(index_transaction_commit(f->db, &error), 0);
	assert_int_equal(index_mailbox_get(f->db, "Third", &mb, &error), 1);
	assert_int_equal(status(f->db, id).messages, 0);
	check_counters(f, id);
}

static void
test_selfcheck(void **state)
{
	const char *error = NULL;

	(void)state;
	if (index_selfcheck(&error) < 0)
		fail_msg("self-check: %s", error);
	/* nothing left behind: again is the same */
	assert_int_equal(index_selfcheck(&error), 0);
}

/* Stand-in for a SQLite that can't compile one of the statements: every
 * new connection gets an authorizer refusing the SQL function char(),
 * which no migration uses and the mailbox rename does. */
static int
deny_char(void *ctx, int action, const char *a, const char *b,
	  const char *c, const char *d)
{
	(void)ctx;
	(void)a;
	(void)c;
	(void)d;
	if (action == SQLITE_FUNCTION && b != NULL && strcmp(b, "char") == 0)
		return SQLITE_DENY;
	return SQLITE_OK;
}

static int
deny_char_init(sqlite3 *db, char **errmsg, const void *api)
{
	(void)errmsg;
	(void)api;
	return sqlite3_set_authorizer(db, deny_char, NULL);
}

static void
test_selfcheck_refuses(void **state)
{
	const char *error = NULL;
	int ret;

	(void)state;
	assert_int_equal(sqlite3_auto_extension(
				 (void (*)(void))deny_char_init), SQLITE_OK);
	ret = index_selfcheck(&error);
	assert_int_equal(sqlite3_cancel_auto_extension(
				 (void (*)(void))deny_char_init), 1);
	assert_int_equal(ret, -1);
	assert_non_null(error);
	/* names the statement and SQLite's reason */
	assert_non_null(strstr(error, "UPDATE mailboxes SET name = char(1)"));
	assert_non_null(strstr(error, "not authorized"));
	assert_int_equal(index_selfcheck(&error), 0);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
count_cb(const struct index_msg *msg, bool modified, void *ctx)
{
	size_t *n = ctx;

	(void)msg;
	(void)modified;
	(*n)++;
}

static void
count_uid(uint32_t uid, void *ctx)
{
	size_t *n = ctx;

	(void)uid;
	(*n)++;
}

#define BIG 100000

static void
test_big(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range all = { 1, UINT32_MAX };
	struct index_store req = { INDEX_STORE_ADD, INDEX_FLAG_SEEN, NULL, 0 };
	struct index_msg_new *m = calloc(BIG, sizeof(*m));
	char (*names)[32] = calloc(BIG, sizeof(*names));
	uint32_t *uids = calloc(BIG, sizeof(*uids));
	const char *error;
	size_t i, count, changed = 0, expunged = 0;
	double t0, t_append, t_uids, t_store, t_expunge;
	int64_t id = mk(f->db, "Big", NULL);

	assert_non_null(m);
	assert_non_null(names);
	assert_non_null(uids);
	for (i = 0; i < BIG; i++) {
		snprintf(names[i], sizeof(names[i]), "1700000000.M%zuP1.h", i);
		m[i].file = names[i];
		m[i].internaldate = 1700000000;
		m[i].size = 2000 + i % 1000;
	}
	t0 = now_ms();
	assert_int_equal(index_msg_append(f->db, id, m, BIG, uids, NULL,
					  &error), 0);
	t_append = now_ms() - t0;
	assert_int_equal(uids[BIG - 1], BIG);

	memset(uids, 0, BIG * sizeof(*uids));
	t0 = now_ms();
	assert_int_equal(index_msg_uids(f->db, id, uids, BIG, &count, &error),
			 0);
	t_uids = now_ms() - t0;
	assert_int_equal(count, BIG);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[BIG - 1], BIG);
	assert_int_equal(index_msg_uids(f->db, id, uids, 10, &count, &error),
			 0);
	assert_int_equal(count, BIG);

	t0 = now_ms();
	assert_int_equal(index_msg_store(f->db, id, &all, 1, &req, count_cb,
					 &changed, NULL, &error), 0);
	t_store = now_ms() - t0;
	assert_int_equal(changed, BIG);
	assert_int_equal(status(f->db, id).unseen, 0);
	check_counters(f, id);

	t0 = now_ms();
	assert_int_equal(index_msg_expunge(f->db, id, &all, 1, count_uid,
					   &expunged, NULL, &error), 0);
	t_expunge = now_ms() - t0;
	assert_int_equal(expunged, BIG);
	assert_int_equal(status(f->db, id).messages, 0);
	assert_int_equal(status(f->db, id).size, 0);
	check_counters(f, id);
	printf("index timings for %d messages: append %.0f ms, uid list "
	       "%.1f ms, store +\\Seen %.0f ms, expunge %.0f ms\n", BIG,
	       t_append, t_uids, t_store, t_expunge);
	free(m);
	free(names);
	free(uids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_reopen, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_version_newer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uidvalidity_monotonic,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_renames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uid_no_reuse, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flags_modseq, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fetch_part, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rename_children, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_changes_since, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions_meta, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_user_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corruption, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lazy_prepare, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lazy_prepare_error, setup,
						teardown),
		cmocka_unit_test(test_selfcheck),
		cmocka_unit_test_setup_teardown(test_read_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_kept, setup, teardown),
		cmocka_unit_test(test_selfcheck_refuses),
		cmocka_unit_test_setup_teardown(test_big, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
