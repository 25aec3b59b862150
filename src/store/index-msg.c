/* index-msg: the message half of the index (append, UID list, fetch,
 * STORE, EXPUNGE, changes since a modseq, Maildir file names) and the
 * keyword sets STORE works with; see index.h for the contract and index.c
 * for the schema.  Non-goals: the same as index.c's. */
#include "index.h"
#include "index-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "buf.h"
#include "xalloc.h"

/* ---- keyword sets ---- */

static int
kw_cmp(const void *a, const void *b)
{
	const struct kw *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void
kw_push(struct kwset *set, const char *p, size_t len)
{
	if (set->n == set->cap) {
		set->cap = set->cap == 0 ? 8 : set->cap * 2;
		set->v = xreallocarray(set->v, set->cap, sizeof(*set->v));
	}
	set->v[set->n].p = p;
	set->v[set->n].len = len;
	set->n++;
}

/* Split s on spaces into a sorted, duplicate-free set of slices of s. */
static void
kw_parse(struct kwset *set, const char *s)
{
	size_t i, j;

	set->n = 0;
	if (s == NULL)
		return;
	while (*s != '\0') {
		size_t len = strcspn(s, " ");

		if (len > 0)
			kw_push(set, s, len);
		s += len;
		while (*s == ' ')
			s++;
	}
	if (set->n < 2)
		return;
	qsort(set->v, set->n, sizeof(*set->v), kw_cmp);
	for (i = 1, j = 1; i < set->n; i++) {
		if (kw_cmp(&set->v[i], &set->v[j - 1]) != 0)
			set->v[j++] = set->v[i];
	}
	set->n = j;
}

/* out = a + b (op > 0) or a - b (op < 0); both sorted. */
static void
kw_merge(struct kwset *out, const struct kwset *a, const struct kwset *b,
	 int op)
{
	size_t i = 0, j = 0;

	out->n = 0;
	while (i < a->n || j < b->n) {
		int c = i == a->n ? 1 : j == b->n ? -1 :
			kw_cmp(&a->v[i], &b->v[j]);

		if (c < 0) {
			kw_push(out, a->v[i].p, a->v[i].len);
			i++;
		} else if (c > 0) {
			if (op > 0)
				kw_push(out, b->v[j].p, b->v[j].len);
			j++;
		} else {
			if (op > 0)
				kw_push(out, a->v[i].p, a->v[i].len);
			i++;
			j++;
		}
	}
}

/* Join into db->kwbuf; the result is buf_cstr(&db->kwbuf). */
static int
kw_join(struct index_db *db, const struct kwset *set, const char **error_r)
{
	size_t i;

	buf_clear(&db->kwbuf);
	for (i = 0; i < set->n; i++) {
		if ((i > 0 && buf_append_byte(&db->kwbuf, ' ') < 0) ||
		    buf_append(&db->kwbuf, set->v[i].p, set->v[i].len) < 0)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: keywords too long");
	}
	return 0;
}

/* ---- messages ---- */

/* Apply the deltas and the new uidnext/highestmodseq to the mailbox row. */
static int
mailbox_update(struct index_db *db, int64_t id, uint32_t uidnext,
	       uint64_t modseq, int64_t messages, int64_t unseen,
	       int64_t deleted, int64_t size, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_MBOX_UPDATE, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, uidnext);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 3, (int64_t)modseq);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 4, messages);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 5, unseen);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 6, deleted);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 7, size);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return index_st_exec(db, ST_MBOX_UPDATE, error_r);
}

static int
keywords_register(struct index_db *db, int64_t mailbox_id,
		  const struct kwset *set, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_KW_INSERT, error_r);
	char *name;
	size_t i;
	int rc;

	if (st == NULL)
		return -1;
	for (i = 0; i < set->n; i++) {
		name = xstrndup(set->v[i].p, set->v[i].len);
		rc = index_bind_i64(st, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 2, name);
		if (rc != SQLITE_OK) {
			free(name);
			return index_bind_fail(db, st, rc, "bind", error_r);
		}
		rc = index_st_exec(db, ST_KW_INSERT, error_r);
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ---- uid_ranges: the mailbox's UIDs as maximal runs (schema v3) ---- */

/* The run with the greatest lo <= uid (before) or the least lo > uid
 * (after): 1 with *r filled, 0 if none. */
static int
range_near(struct index_db *db, enum stmt_id sid, int64_t mailbox_id,
	   uint32_t uid, struct index_uid_range *r, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, sid, error_r);
	int ret, rc;

	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, uid);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	ret = index_st_row(db, sid, error_r);
	if (ret <= 0)
		return ret;
	r->lo = (uint32_t)sqlite3_column_int64(st, 0);
	r->hi = (uint32_t)sqlite3_column_int64(st, 1);
	index_st_done(st);
	return 1;
}

/* Run one of the uid_ranges writes: ?1 mailbox, ?2 lo[, ?3 hi]. */
static int
range_write(struct index_db *db, enum stmt_id sid, int64_t mailbox_id,
	    uint32_t lo, uint32_t hi, const char **error_r)
{
	const int64_t args[] = { mailbox_id, lo, hi };

	return index_exec_i64(db, sid, args, sid == ST_RANGE_DELETE ? 2 : 3,
			      error_r);
}

/* Recompute the mailbox's runs from its messages (repair). */
static int
ranges_rebuild(struct index_db *db, int64_t mailbox_id, const char **error_r)
{
	if (index_exec_i64(db, ST_RANGE_DELETE_ALL, &mailbox_id, 1, error_r) < 0)
		return -1;
	return index_exec_i64(db, ST_RANGE_REBUILD, &mailbox_id, 1, error_r);
}

/* UIDs lo..hi (all new) joined the mailbox. */
static int
ranges_add(struct index_db *db, int64_t mailbox_id, uint32_t lo, uint32_t hi,
	   const char **error_r)
{
	struct index_uid_range b = { 0, 0 }, a = { 0, 0 };
	int hb, ha;

	if ((hb = range_near(db, ST_RANGE_BEFORE, mailbox_id, lo, &b,
			     error_r)) < 0 ||
	    (ha = range_near(db, ST_RANGE_AFTER, mailbox_id, lo, &a,
			     error_r)) < 0)
		return -1;
	if ((hb && b.hi >= lo) || (ha && a.lo <= hi))
		return ranges_rebuild(db, mailbox_id, error_r); /* overlap */
	hb = hb && b.hi + 1 == lo;
	ha = ha && a.lo == hi + 1;
	if (ha && range_write(db, ST_RANGE_DELETE, mailbox_id, a.lo, 0,
			      error_r) < 0)
		return -1;
	if (hb)
		return range_write(db, ST_RANGE_SET_HI, mailbox_id, b.lo,
				   ha ? a.hi : hi, error_r);
	return range_write(db, ST_RANGE_INSERT, mailbox_id, lo, ha ? a.hi : hi,
			   error_r);
}

/* UIDs lo..hi (all present, so inside one run) left the mailbox. */
static int
ranges_del(struct index_db *db, int64_t mailbox_id, uint32_t lo, uint32_t hi,
	   const char **error_r)
{
	struct index_uid_range b = { 0, 0 };
	int hb;

	if ((hb = range_near(db, ST_RANGE_BEFORE, mailbox_id, lo, &b,
			     error_r)) < 0)
		return -1;
	if (!hb || b.hi < hi)
		return ranges_rebuild(db, mailbox_id, error_r);
	if (range_write(db, ST_RANGE_DELETE, mailbox_id, b.lo, 0, error_r) < 0)
		return -1;
	if (b.lo < lo && range_write(db, ST_RANGE_INSERT, mailbox_id, b.lo,
				     lo - 1, error_r) < 0)
		return -1;
	if (hi < b.hi && range_write(db, ST_RANGE_INSERT, mailbox_id, hi + 1,
				     b.hi, error_r) < 0)
		return -1;
	return 0;
}

int
index_msg_uid_ranges(struct index_db *db, int64_t mailbox_id,
		     uint32_t expect, struct index_uid_range **ranges_r,
		     size_t *n_r, const char **error_r)
{
	sqlite3_stmt *st;
	struct index_uid_range *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	uint32_t prev = 0;
	bool ok = true;
	int ret, rc;

	*ranges_r = NULL;
	*n_r = 0;
	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_RANGE_LIST, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	while ((ret = index_st_row(db, ST_RANGE_LIST, error_r)) > 0) {
		int64_t lo = sqlite3_column_int64(st, 0);
		int64_t hi = sqlite3_column_int64(st, 1);

		if (lo < 1 || hi < lo || hi > UINT32_MAX ||
		    (n > 0 && (uint32_t)lo <= prev)) {
			ok = false;
			continue;
		}
		if (n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n].lo = (uint32_t)lo;
		v[n].hi = (uint32_t)hi;
		prev = v[n].hi;
		total += (uint64_t)(hi - lo) + 1;
		n++;
	}
	if (ret < 0) {
		free(v);
		return -1;
	}
	if (!ok || total != expect) {
		free(v);
		return 0;
	}
	*ranges_r = v;
	*n_r = n;
	return 1;
}

int
index_msg_ranges_repair(struct index_db *db, int64_t mailbox_id,
			const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (ranges_rebuild(db, mailbox_id, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

/* ---- flag renames waiting (messages.disk_flags) ---- */

int
index_msg_pending(struct index_db *db, int64_t mailbox_id, uint32_t after_uid,
		  size_t max,
		  void (*cb)(const struct index_msg *msg, void *ctx), void *ctx,
		  const char **error_r)
{
	sqlite3_stmt *st;
	struct index_msg msg;
	int ret, rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MSG_PENDING, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, after_uid);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 3, (int64_t)max);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	memset(&msg, 0, sizeof(msg));
	msg.keywords = "";
	while ((ret = index_st_row(db, ST_MSG_PENDING, error_r)) > 0) {
		msg.uid = (uint32_t)sqlite3_column_int64(st, 0);
		msg.file = index_col_text(st, 1);
		msg.flags = (uint32_t)sqlite3_column_int64(st, 2);
		msg.disk_flags = (uint32_t)sqlite3_column_int64(st, 3);
		cb(&msg, ctx);
	}
	return ret < 0 ? -1 : 0;
}

int
index_msg_pending_mailboxes(struct index_db *db,
			    void (*cb)(int64_t mailbox_id, void *ctx),
			    void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	int ret;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MSG_PENDING_BOXES, error_r)) == NULL)
		return -1;
	while ((ret = index_st_row(db, ST_MSG_PENDING_BOXES, error_r)) > 0)
		cb(sqlite3_column_int64(st, 0), ctx);
	return ret < 0 ? -1 : 0;
}

int
index_msg_renamed(struct index_db *db, int64_t mailbox_id,
		  const uint32_t *uids, const uint32_t *flags, size_t n,
		  const char **error_r)
{
	size_t i;

	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const int64_t args[] = { mailbox_id, uids[i], flags[i] };

		if (index_exec_i64(db, ST_MSG_SET_DISK, args, 3, error_r) < 0)
			return index_txn_fail(db, error_r);
	}
	return index_txn_commit(db, error_r);
}

int
index_msg_clear_disk_flags(struct index_db *db, int64_t mailbox_id,
			   const uint32_t *uids, size_t n, const char **error_r)
{
	size_t i;

	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const int64_t args[] = { mailbox_id, uids[i] };

		if (index_exec_i64(db, ST_MSG_CLEAR_DISK, args, 2, error_r) < 0)
			return index_txn_fail(db, error_r);
	}
	return index_txn_commit(db, error_r);
}

/* Highest UID we hand out, so that uidnext stays a valid nz-number. */
#define UID_MAX (UINT32_MAX - 1)

static int
msg_append(struct index_db *db, int64_t mailbox_id,
	   const struct index_msg_new *msgs, size_t count, uint32_t *uids_r,
	   uint64_t *modseq_r, const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	uint64_t modseq, next;
	int64_t unseen = 0, deleted = 0, size = 0;
	uint32_t run_lo = 0;
	size_t i;
	int rc;

	if (index_mbox_need(db, mailbox_id, true, &mbox, error_r) < 0)
		return -1;
	if (count == 0) {
		if (modseq_r != NULL)
			*modseq_r = mbox.highestmodseq;
		return 0;
	}
	st = index_st(db, ST_MSG_INSERT, error_r);
	if (st == NULL)
		return -1;
	modseq = mbox.highestmodseq + 1;
	next = mbox.uidnext;
	for (i = 0; i < count; i++) {
		const struct index_msg_new *m = &msgs[i];
		uint64_t uid = m->uid == 0 ? next : m->uid;

		/* UIDs ascend: close the run before a gap. */
		if (i > 0 && uid != next && ranges_add(db, mailbox_id,
						       run_lo, (uint32_t)next - 1,
						       error_r) < 0)
			return -1;
		if (i == 0 || uid != next)
			run_lo = (uint32_t)uid;

		if (uid < next)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: explicit UID %u below "
					 "uidnext %llu", m->uid,
					 (unsigned long long)next);
		if (uid > UID_MAX)
			return index_set_error(db, INDEX_ERR_LIMIT, error_r,
					 "index: UIDs exhausted");
		if (m->size > INT64_MAX || (uint64_t)size > INT64_MAX - m->size)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: message size out of range");
		if (m->file == NULL || m->file[0] == '\0')
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: empty file name");
		kw_parse(&db->kw_row, m->keywords);
		if (kw_join(db, &db->kw_row, error_r) < 0)
			return -1;
		rc = index_bind_i64(st, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, (int64_t)uid);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 3, m->file);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 4, m->flags & INDEX_FLAGS_ALL);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 5, buf_cstr(&db->kwbuf));
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 6, m->internaldate);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 7, (int64_t)m->size);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 8, (int64_t)modseq);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		if (index_st_exec(db, ST_MSG_INSERT, error_r) < 0) {
			if (db->last_error == INDEX_ERR_EXISTS)
				return index_set_error(db, INDEX_ERR_EXISTS, error_r,
						 "index: file already indexed");
			return -1;
		}
		if (db->kw_row.n > 0 &&
		    keywords_register(db, mailbox_id, &db->kw_row, error_r) < 0)
			return -1;
		if ((m->flags & INDEX_FLAG_SEEN) == 0)
			unseen++;
		if ((m->flags & INDEX_FLAG_DELETED) != 0)
			deleted++;
		size += (int64_t)m->size;
		uids_r[i] = (uint32_t)uid;
		next = uid + 1;
	}
	if (ranges_add(db, mailbox_id, run_lo, (uint32_t)next - 1,
		       error_r) < 0 ||
	    mailbox_update(db, mailbox_id, (uint32_t)next, modseq,
			   (int64_t)count, unseen, deleted, size, error_r) < 0)
		return -1;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
}

int
index_msg_append(struct index_db *db, int64_t mailbox_id,
		 const struct index_msg_new *msgs, size_t count,
		 uint32_t *uids_r, uint64_t *modseq_r, const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (msg_append(db, mailbox_id, msgs, count, uids_r, modseq_r,
		       error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

int
index_msg_uids(struct index_db *db, int64_t mailbox_id, uint32_t *uids,
	       size_t uids_cap, size_t *count_r, const char **error_r)
{
	sqlite3_stmt *st;
	size_t n = 0;
	int ret, rc;

	*count_r = 0;
	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MSG_UIDS, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	while ((ret = index_st_row(db, ST_MSG_UIDS, error_r)) > 0) {
		if (n < uids_cap)
			uids[n] = (uint32_t)sqlite3_column_int64(st, 0);
		n++;
	}
	if (ret < 0)
		return -1;
	*count_r = n;
	return 0;
}

int
index_msg_first_unseen(struct index_db *db, int64_t mailbox_id,
		       uint32_t *uid_r, const char **error_r)
{
	sqlite3_stmt *st;
	int ret, rc;

	*uid_r = 0;
	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MSG_FIRST_UNSEEN, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	while ((ret = index_st_row(db, ST_MSG_FIRST_UNSEEN, error_r)) > 0)
		*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
	return ret < 0 ? -1 : 0;
}

static void
msg_from_row(sqlite3_stmt *st, struct index_msg *msg)
{
	msg->uid = (uint32_t)sqlite3_column_int64(st, 0);
	msg->flags = (uint32_t)sqlite3_column_int64(st, 1);
	msg->keywords = index_col_text(st, 2);
	msg->modseq = (uint64_t)sqlite3_column_int64(st, 3);
	msg->internaldate = sqlite3_column_int64(st, 4);
	msg->size = (uint64_t)sqlite3_column_int64(st, 5);
	msg->file = index_col_text(st, 6);
	msg->disk_flags = (uint32_t)sqlite3_column_int64(st, 7);
}

static int
bind_range(struct index_db *db, enum stmt_id sid, int64_t mailbox_id,
	   const struct index_uid_range *r, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, sid, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, r->lo);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 3, r->hi);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return 0;
}

/* The statement that reads `cols` (INDEX_COLS_*). */
static enum stmt_id
fetch_stmt(unsigned cols)
{
	if (cols == INDEX_COLS_UID)
		return ST_MSG_RANGE_UIDS;
	if ((cols & ~INDEX_COLS_FLAGS) == 0)
		return ST_MSG_RANGE_NARROW;
	return ST_MSG_RANGE;
}

/* A row of that statement. */
static void
msg_from_fetch_row(sqlite3_stmt *st, enum stmt_id sid, struct index_msg *msg)
{
	if (sid == ST_MSG_RANGE) {
		msg_from_row(st, msg);
		return;
	}
	memset(msg, 0, sizeof(*msg));
	msg->uid = (uint32_t)sqlite3_column_int64(st, 0);
	msg->keywords = "";
	msg->file = "";
	if (sid == ST_MSG_RANGE_NARROW) {
		msg->flags = (uint32_t)sqlite3_column_int64(st, 1);
		msg->keywords = index_col_text(st, 2);
	}
}

/* Rows of ranges[pos->range..] from pos->next_uid on; stops after
 * max_rows (0: no limit).  1 stopped at the limit, 0 done, -1 error. */
static int
msg_fetch(struct index_db *db, int64_t mailbox_id,
	  const struct index_uid_range *ranges, size_t nranges, unsigned cols,
	  size_t max_rows, struct index_fetch_pos *pos,
	  void (*cb)(const struct index_msg *msg, void *ctx), void *ctx,
	  const char **error_r)
{
	enum stmt_id sid = fetch_stmt(cols);
	sqlite3_stmt *st = index_st(db, sid, error_r);
	struct index_msg msg;
	size_t n = 0;
	int ret;

	if (st == NULL)
		return -1;
	for (; pos->range < nranges; pos->range++, pos->next_uid = 0) {
		struct index_uid_range r = ranges[pos->range];

		if (pos->next_uid > r.hi)
			continue;
		if (pos->next_uid > r.lo)
			r.lo = (uint32_t)pos->next_uid;
		if (max_rows > 0 && n == max_rows)
			return 1;
		if (bind_range(db, sid, mailbox_id, &r, error_r) < 0)
			return -1;
		while ((ret = index_st_row(db, sid, error_r)) > 0) {
			msg_from_fetch_row(st, sid, &msg);
			cb(&msg, ctx);
			pos->next_uid = (uint64_t)msg.uid + 1;
			if (max_rows > 0 && ++n == max_rows) {
				index_st_done(st);
				return 1;
			}
		}
		if (ret < 0)
			return -1;
	}
	return 0;
}

int
index_msg_fetch_part(struct index_db *db, int64_t mailbox_id,
		     const struct index_uid_range *ranges, size_t nranges,
		     unsigned cols, size_t max_rows, struct index_fetch_pos *pos,
		     void (*cb)(const struct index_msg *msg, void *ctx),
		     void *ctx, const char **error_r)
{
	int ret;

	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_READ, error_r) < 0)
		return -1;
	ret = msg_fetch(db, mailbox_id, ranges, nranges, cols, max_rows, pos,
			cb, ctx, error_r);
	if (ret < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r) < 0 ? -1 : ret;
}

int
index_msg_fetch(struct index_db *db, int64_t mailbox_id,
		const struct index_uid_range *ranges, size_t nranges,
		void (*cb)(const struct index_msg *msg, void *ctx), void *ctx,
		const char **error_r)
{
	struct index_fetch_pos pos = { 0, 0 };

	return index_msg_fetch_part(db, mailbox_id, ranges, nranges,
				    INDEX_COLS_ALL, 0, &pos, cb, ctx, error_r);
}

int
index_msg_lookup_file(struct index_db *db, int64_t mailbox_id,
		      const char *file, uint32_t *uid_r, uint32_t *flags_r,
		      const char **error_r)
{
	sqlite3_stmt *st;
	int ret, rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MSG_BY_FILE, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc == SQLITE_OK)
		rc = index_bind_text(st, 2, file);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	ret = index_st_row(db, ST_MSG_BY_FILE, error_r);
	if (ret <= 0)
		return ret;
	*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
	*flags_r = (uint32_t)sqlite3_column_int64(st, 1);
	index_st_done(st);
	return 1;
}

int
index_msg_set_file(struct index_db *db, int64_t mailbox_id, uint32_t uid,
		   const char *file, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (index_enter(db, error_r) < 0)
		return -1;
	if (file == NULL || *file == '\0')
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: empty file name");
	st = index_st(db, ST_MSG_SET_FILE, error_r);
	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, mailbox_id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, uid);
	if (rc == SQLITE_OK)
		rc = index_bind_text(st, 3, file);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	if (index_st_exec(db, ST_MSG_SET_FILE, error_r) < 0)
		return -1;
	if (sqlite3_changes(db->sql) == 0)
		return index_set_error(db, INDEX_ERR_NOTFOUND, error_r,
				 "index: no message with UID %u", uid);
	return 0;
}

/* A row collected before changing it: SQLite leaves undefined what a
 * running SELECT sees of rows changed under it, so STORE and EXPUNGE
 * read first, then write. */
struct row {
	uint32_t uid;
	uint32_t flags;
	uint64_t modseq;
	uint64_t size;
	char *keywords; /* owned; NULL for none */
	bool changed, modified;
};

struct rows {
	struct row *v; /* owned */
	size_t n, cap;
};

static void
rows_free(struct rows *rows)
{
	size_t i;

	for (i = 0; i < rows->n; i++)
		free(rows->v[i].keywords);
	free(rows->v);
	rows->v = NULL;
	rows->n = rows->cap = 0;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Read uid, flags, keywords, modseq, size of the rows in the ranges,
 * sorted by UID without duplicates (ranges may overlap). */
static int
rows_collect(struct index_db *db, int64_t mailbox_id,
	     const struct index_uid_range *ranges, size_t nranges,
	     struct rows *rows, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_MSG_RANGE_FLAGS, error_r);
	struct row *r;
	size_t i, j;
	int ret;

	if (st == NULL)
		return -1;
	for (i = 0; i < nranges; i++) {
		if (bind_range(db, ST_MSG_RANGE_FLAGS, mailbox_id, &ranges[i],
			       error_r) < 0)
			return -1;
		while ((ret = index_st_row(db, ST_MSG_RANGE_FLAGS, error_r)) > 0) {
			const char *kw = index_col_text(st, 2);

			if (rows->n == rows->cap) {
				rows->cap = rows->cap == 0 ? 64 :
					rows->cap * 2;
				rows->v = xreallocarray(rows->v, rows->cap,
							sizeof(*rows->v));
			}
			r = &rows->v[rows->n++];
			memset(r, 0, sizeof(*r));
			r->uid = (uint32_t)sqlite3_column_int64(st, 0);
			r->flags = (uint32_t)sqlite3_column_int64(st, 1);
			r->keywords = *kw == '\0' ? NULL : xstrdup(kw);
			r->modseq = (uint64_t)sqlite3_column_int64(st, 3);
			r->size = (uint64_t)sqlite3_column_int64(st, 4);
		}
		if (ret < 0)
			return -1;
	}
	if (nranges < 2 || rows->n < 2)
		return 0;
	qsort(rows->v, rows->n, sizeof(*rows->v), row_cmp);
	for (i = 1, j = 1; i < rows->n; i++) {
		if (rows->v[i].uid == rows->v[j - 1].uid)
			free(rows->v[i].keywords);
		else
			rows->v[j++] = rows->v[i];
	}
	rows->n = j;
	return 0;
}

/* Compute the row's new keywords; *changed_r if they differ.  The new
 * string is left in db->kwbuf. */
static int
store_keywords(struct index_db *db, const struct index_store *req,
	       const char *opkw, const struct row *r, bool *changed_r,
	       const char **error_r)
{
	const char *old = r->keywords == NULL ? "" : r->keywords;

	*changed_r = false;
	if (req->mode == INDEX_STORE_REPLACE) {
		/* Stored keywords are normalized, so compare the strings. */
		*changed_r = strcmp(old, opkw) != 0;
		buf_clear(&db->kwbuf);
		return buf_append_str(&db->kwbuf, opkw) < 0 ?
			index_set_error(db, INDEX_ERR_INVALID, error_r,
				  "index: keywords too long") : 0;
	}
	kw_parse(&db->kw_row, old);
	if (db->kw_op.n > 0) {
		kw_merge(&db->kw_res, &db->kw_row, &db->kw_op,
			 req->mode == INDEX_STORE_ADD ? 1 : -1);
		/* Union only grows, difference only shrinks. */
		*changed_r = db->kw_res.n != db->kw_row.n;
		return kw_join(db, &db->kw_res, error_r);
	}
	return kw_join(db, &db->kw_row, error_r);
}

static int
msg_store(struct index_db *db, int64_t mailbox_id,
	  const struct index_uid_range *ranges, size_t nranges,
	  const struct index_store *req, struct rows *rows,
	  uint64_t *modseq_r, const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	uint32_t reqflags = req->flags & INDEX_FLAGS_ALL, newflags;
	uint64_t modseq;
	int64_t unseen = 0, deleted = 0;
	char *opkw;
	bool kw_changed, any = false;
	size_t i;
	int rc;

	if (index_mbox_need(db, mailbox_id, true, &mbox, error_r) < 0)
		return -1;
	modseq = mbox.highestmodseq + 1;
	if (rows_collect(db, mailbox_id, ranges, nranges, rows, error_r) < 0)
		return -1;
	/* The operation's keywords, normalized once; kw_op points into
	 * opkw, which outlives every use below. */
	kw_parse(&db->kw_op, req->keywords);
	if (kw_join(db, &db->kw_op, error_r) < 0)
		return -1;
	opkw = xstrdup(buf_cstr(&db->kwbuf));
	kw_parse(&db->kw_op, opkw);
	for (i = 0; i < rows->n; i++) {
		struct row *r = &rows->v[i];

		if (req->unchangedsince != 0 &&
		    r->modseq > req->unchangedsince) {
			r->modified = true;
			continue;
		}
		switch (req->mode) {
		case INDEX_STORE_REPLACE:
			newflags = reqflags;
			break;
		case INDEX_STORE_ADD:
			newflags = r->flags | reqflags;
			break;
		case INDEX_STORE_REMOVE:
		default:
			newflags = r->flags & ~reqflags;
			break;
		}
		if (store_keywords(db, req, opkw, r, &kw_changed,
				   error_r) < 0)
			goto fail;
		if (newflags == r->flags && !kw_changed)
			continue;
		/* prepared at the first row that changes (kept after) */
		st = index_st(db, ST_MSG_UPDATE_FLAGS, error_r);
		if (st == NULL)
			goto fail;
		rc = index_bind_i64(st, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, r->uid);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 3, newflags);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 4, buf_cstr(&db->kwbuf));
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 5, (int64_t)modseq);
		if (rc != SQLITE_OK) {
			(void)index_bind_fail(db, st, rc, "bind", error_r);
			goto fail;
		}
		if (index_st_exec(db, ST_MSG_UPDATE_FLAGS, error_r) < 0)
			goto fail;
		unseen += (int64_t)((newflags & INDEX_FLAG_SEEN) == 0) -
			(int64_t)((r->flags & INDEX_FLAG_SEEN) == 0);
		deleted += (int64_t)((newflags & INDEX_FLAG_DELETED) != 0) -
			(int64_t)((r->flags & INDEX_FLAG_DELETED) != 0);
		r->flags = newflags;
		r->modseq = modseq;
		r->changed = true;
		if (kw_changed) {
			free(r->keywords);
			r->keywords = db->kwbuf.len == 0 ? NULL :
				xstrdup(buf_cstr(&db->kwbuf));
		}
		any = true;
	}
	if (any) {
		if (req->keywords != NULL && db->kw_op.n > 0 &&
		    req->mode != INDEX_STORE_REMOVE &&
		    keywords_register(db, mailbox_id, &db->kw_op, error_r) < 0)
			goto fail;
		if (mailbox_update(db, mailbox_id, mbox.uidnext, modseq, 0,
				   unseen, deleted, 0, error_r) < 0)
			goto fail;
	}
	free(opkw);
	*modseq_r = any ? modseq : mbox.highestmodseq;
	return 0;
fail:
	free(opkw);
	return -1;
}

int
index_msg_store(struct index_db *db, int64_t mailbox_id,
		const struct index_uid_range *ranges, size_t nranges,
		const struct index_store *req,
		void (*cb)(const struct index_msg *msg, bool modified,
			   void *ctx),
		void *ctx, uint64_t *modseq_r, const char **error_r)
{
	struct rows rows = { NULL, 0, 0 };
	struct index_msg msg;
	uint64_t modseq = 0;
	size_t i;

	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (msg_store(db, mailbox_id, ranges, nranges, req, &rows, &modseq,
		      error_r) < 0) {
		rows_free(&rows);
		return index_txn_fail(db, error_r);
	}
	if (index_txn_commit(db, error_r) < 0) {
		rows_free(&rows);
		return -1;
	}
	/* Report only after the commit: a client must never see a change
	 * that did not happen. */
	for (i = 0; cb != NULL && i < rows.n; i++) {
		const struct row *r = &rows.v[i];

		if (!r->changed && !r->modified)
			continue;
		memset(&msg, 0, sizeof(msg));
		msg.uid = r->uid;
		msg.flags = r->flags;
		msg.keywords = r->keywords == NULL ? "" : r->keywords;
		msg.modseq = r->modseq;
		msg.size = r->size;
		msg.file = "";
		cb(&msg, r->modified, ctx);
	}
	rows_free(&rows);
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
}

static int
msg_expunge(struct index_db *db, int64_t mailbox_id,
	    const struct index_uid_range *ranges, size_t nranges,
	    struct rows *rows, uint64_t *modseq_r, const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *del, *exp;
	int64_t unseen = 0, deleted = 0, size = 0;
	uint64_t modseq;
	uint32_t run_lo = 0;
	size_t i;
	int rc;

	if (index_mbox_need(db, mailbox_id, true, &mbox, error_r) < 0 ||
	    rows_collect(db, mailbox_id, ranges, nranges, rows, error_r) < 0)
		return -1;
	if (rows->n == 0) {
		*modseq_r = mbox.highestmodseq;
		return 0;
	}
	if ((del = index_st(db, ST_MSG_DELETE, error_r)) == NULL ||
	    (exp = index_st(db, ST_EXP_INSERT, error_r)) == NULL)
		return -1;
	modseq = mbox.highestmodseq + 1;
	for (i = 0; i < rows->n; i++) {
		const struct row *r = &rows->v[i];

		rc = index_bind_i64(del, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(del, 2, r->uid);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, del, rc, "bind", error_r);
		if (index_st_exec(db, ST_MSG_DELETE, error_r) < 0)
			return -1;
		rc = index_bind_i64(exp, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(exp, 2, r->uid);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(exp, 3, (int64_t)modseq);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, exp, rc, "bind", error_r);
		if (index_st_exec(db, ST_EXP_INSERT, error_r) < 0)
			return -1;
		if ((r->flags & INDEX_FLAG_SEEN) == 0)
			unseen--;
		if ((r->flags & INDEX_FLAG_DELETED) != 0)
			deleted--;
		size -= (int64_t)r->size;
		/* rows are sorted: a run of consecutive UIDs lies in one
		 * uid_ranges row */
		if (i > 0 && r->uid != rows->v[i - 1].uid + 1 &&
		    ranges_del(db, mailbox_id, run_lo, rows->v[i - 1].uid,
			       error_r) < 0)
			return -1;
		if (i == 0 || r->uid != rows->v[i - 1].uid + 1)
			run_lo = r->uid;
	}
	if (ranges_del(db, mailbox_id, run_lo, rows->v[rows->n - 1].uid,
		       error_r) < 0)
		return -1;
	if (mailbox_update(db, mailbox_id, mbox.uidnext, modseq,
			   -(int64_t)rows->n, unseen, deleted, size,
			   error_r) < 0)
		return -1;
	*modseq_r = modseq;
	return 0;
}

int
index_msg_expunge(struct index_db *db, int64_t mailbox_id,
		  const struct index_uid_range *ranges, size_t nranges,
		  void (*cb)(uint32_t uid, void *ctx), void *ctx,
		  uint64_t *modseq_r, const char **error_r)
{
	struct rows rows = { NULL, 0, 0 };
	uint64_t modseq = 0;
	size_t i;

	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (msg_expunge(db, mailbox_id, ranges, nranges, &rows, &modseq,
			error_r) < 0) {
		rows_free(&rows);
		return index_txn_fail(db, error_r);
	}
	if (index_txn_commit(db, error_r) < 0) {
		rows_free(&rows);
		return -1;
	}
	for (i = 0; cb != NULL && i < rows.n; i++)
		cb(rows.v[i].uid, ctx);
	rows_free(&rows);
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
}

static int
changes_since(struct index_db *db, int64_t mailbox_id, uint64_t modseq,
	      void (*changed_cb)(const struct index_msg *msg, void *ctx),
	      void (*expunged_cb)(uint32_t uid, void *ctx), void *ctx,
	      const char **error_r)
{
	sqlite3_stmt *st;
	struct index_msg msg;
	int ret, rc;

	if (modseq > INT64_MAX)
		modseq = INT64_MAX;
	if (changed_cb != NULL) {
		st = index_st(db, ST_MSG_CHANGED, error_r);
		if (st == NULL)
			return -1;
		rc = index_bind_i64(st, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, (int64_t)modseq);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		while ((ret = index_st_row(db, ST_MSG_CHANGED, error_r)) > 0) {
			msg_from_row(st, &msg);
			changed_cb(&msg, ctx);
		}
		if (ret < 0)
			return -1;
	}
	if (expunged_cb != NULL) {
		st = index_st(db, ST_EXP_SINCE, error_r);
		if (st == NULL)
			return -1;
		rc = index_bind_i64(st, 1, mailbox_id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, (int64_t)modseq);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		while ((ret = index_st_row(db, ST_EXP_SINCE, error_r)) > 0)
			expunged_cb((uint32_t)sqlite3_column_int64(st, 0),
				    ctx);
		if (ret < 0)
			return -1;
	}
	return 0;
}

int
index_msg_changes_since(struct index_db *db, int64_t mailbox_id,
			uint64_t modseq,
			void (*changed_cb)(const struct index_msg *msg,
					   void *ctx),
			void (*expunged_cb)(uint32_t uid, void *ctx),
			void *ctx, const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_READ, error_r) < 0)
		return -1;
	if (changes_since(db, mailbox_id, modseq, changed_cb, expunged_cb,
			  ctx, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}
