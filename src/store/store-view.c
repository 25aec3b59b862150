/* store-view: a session's selected mailbox: the sequence-number-to-UID map,
 * this session's \Recent set, the modseq it has caught up to, and the hub
 * that wakes the other sessions on the same mailbox (DESIGN: per-mailbox
 * change hub).  Every call takes the user's lock.
 *
 * How a view learns of changes: each write (by any session, by delivery,
 * or found by a Maildir sync) gets a new modseq in the index; a view keeps
 * the highest modseq it has reported and asks the index for what came
 * after it.  Its own writes are remembered (own_modseqs) so they are not
 * reported back to it as if someone else had made them.
 *
 * Waking: a write wakes the mailbox's other views (store_hub_notify marks
 * them notified and calls their hook); a session in IDLE then syncs with
 * store_view_sync_woken(), which does nothing for a view that nothing
 * woke, and lets the views at the same modseq share one index answer (the
 * memo).  Other programs' changes are found by looking at the Maildir:
 * one look (sync.c's mtime check, one row read) stands for every view of
 * the user that asked before it began, and wakes those it finds behind the
 * index, so one inotify watch per mailbox and one look per event serve
 * any number of IDLE sessions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "store-private.h"
#include "sync.h"
#include "xalloc.h"

#define VIEW_OWN_MODSEQS 16 /* own writes remembered between syncs */

struct recent_range {
	uint32_t lo, hi; /* [lo, hi) */
};

struct store_view {
	struct store_view *next;   /* in u->views, guarded by u->lock */
	struct store_user *u;      /* referenced */
	int64_t mailbox_id;
	char *name;
	char *dir;                 /* Maildir++ directory */
	uint32_t uidvalidity;
	bool readonly;
	/* The view's UIDs (seq-1 -> uid): shared->seq while shared is
	 * set (copy on write, see struct store_uidset), else own_uids. */
	struct store_uidset *shared; /* referenced */
	struct uidseq own_uids;
	struct recent_range *recent;
	size_t nrecent;
	uint64_t modseq;           /* caught up to */
	uint64_t own[VIEW_OWN_MODSEQS];
	size_t nown;
	uint32_t *pending_expunges; /* expunged by others, not yet reported */
	size_t npending, cappending;
	size_t nkeywords;          /* keywords announced in FLAGS */
	struct timespec last_check; /* last Maildir mtime check */
	bool check_now;            /* next sync checks the Maildir... */
	struct timespec check_asked; /* ...unless a view looked after this */
	bool notified;             /* woken since its last sync; u->lock */
	bool watching;             /* holds a ref on u's watch; u->lock */
	/* The mailbox row as last read, kept while the index handle has
	 * committed nothing since (view_row()); u->lock */
	struct index_mailbox row;
	uint64_t row_commits;
	bool row_kept;
	void (*notify)(void *ctx);
	void *notify_ctx;
};

static void view_leave(struct store_view *v);

static void
wake(struct store_view *v)
{
	v->notified = true;
	v->notify(v->notify_ctx);
}

void
store_hub_notify(struct store_user *u, int64_t mailbox_id,
		 const struct store_view *except)
{
	struct store_view *v;

	u->hub_gen++;
	for (v = u->views; v != NULL; v = v->next) {
		if (v != except && v->mailbox_id == mailbox_id)
			wake(v);
	}
}

static void
own_add(struct store_view *v, uint64_t modseq)
{
	if (v->nown == VIEW_OWN_MODSEQS) {
		memmove(v->own, v->own + 1, (VIEW_OWN_MODSEQS - 1) * sizeof(v->own[0]));
		v->nown--;
	}
	v->own[v->nown++] = modseq;
}

static bool
own_has(const struct store_view *v, uint64_t modseq)
{
	size_t i;

	for (i = 0; i < v->nown; i++) {
		if (v->own[i] == modseq)
			return true;
	}
	return false;
}

static bool
is_recent(const struct store_view *v, uint32_t uid)
{
	size_t i;

	for (i = 0; i < v->nrecent; i++) {
		if (uid >= v->recent[i].lo && uid < v->recent[i].hi)
			return true;
	}
	return false;
}

struct store_uidset *
store_uidset_new(void)
{
	struct store_uidset *set;

	set = xmalloc(sizeof(*set));
	set->refs = 1;
	uidseq_init(&set->seq);
	return set;
}

void
store_uidset_unref(struct store_uidset **setp)
{
	struct store_uidset *set = *setp;

	*setp = NULL;
	if (set != NULL && --set->refs == 0) {
		uidseq_free(&set->seq);
		free(set);
	}
}

static const struct uidseq *
uids(const struct store_view *v)
{
	return v->shared != NULL ? &v->shared->seq : &v->own_uids;
}

/* Before changing the view's UIDs: a private copy if they are shared.
 * Caller holds the lock. */
static void
uids_own(struct store_view *v)
{
	if (v->shared == NULL)
		return;
	uidseq_copy(&v->own_uids, &v->shared->seq);
	store_uidset_unref(&v->shared);
}

static void
uids_free(struct store_view *v)
{
	store_uidset_unref(&v->shared);
	uidseq_free(&v->own_uids);
}

static void
uids_push(struct store_view *v, uint32_t uid)
{
	uids_own(v);
	/* callers push ascending UIDs above the view's highest */
	(void)uidseq_append(&v->own_uids, uid, uid);
}

/* Number of messages with a UID below uid. */
static size_t
uids_below(const struct store_view *v, uint32_t uid)
{
	return uidseq_below(uids(v), uid);
}

uint32_t
store_view_seq(const struct store_view *v, uint32_t uid)
{
	return uidseq_seq(uids(v), uid);
}

uint32_t
store_view_uid(const struct store_view *v, uint32_t seq)
{
	return seq >= 1 ? uidseq_uid(uids(v), seq - 1) : 0;
}

uint32_t
store_view_count(const struct store_view *v)
{
	return (uint32_t)uids(v)->count;
}

uint32_t
store_view_max_uid(const struct store_view *v)
{
	return uidseq_max(uids(v));
}

bool
store_view_readonly(const struct store_view *v)
{
	return v->readonly;
}

const char *
store_view_name(const struct store_view *v)
{
	return v->name;
}

/* How many of the view's messages are \Recent to it: O(ranges log n),
 * not a pass over 100,000 UIDs per SELECT. */
static uint32_t
count_recent(const struct store_view *v)
{
	size_t i, n = 0;
	uint32_t done = 0; /* UIDs below this are counted */

	for (i = 0; i < v->nrecent; i++) {
		uint32_t lo = v->recent[i].lo > done ? v->recent[i].lo : done;

		if (v->recent[i].hi <= lo)
			continue;
		n += uids_below(v, v->recent[i].hi) - uids_below(v, lo);
		done = v->recent[i].hi;
	}
	return (uint32_t)n;
}

/* Add [lo, hi) to the view's \Recent UIDs, merging with the last range
 * (a read-only view sees the same unclaimed range again at each sync). */
static void
recent_add(struct store_view *v, uint32_t lo, uint32_t hi)
{
	struct recent_range *last;

	if (lo >= hi)
		return;
	last = v->nrecent > 0 ? &v->recent[v->nrecent - 1] : NULL;
	if (last != NULL && lo >= last->lo && lo <= last->hi) {
		if (hi > last->hi)
			last->hi = hi;
		return;
	}
	v->recent = xreallocarray(v->recent, v->nrecent + 1, sizeof(*v->recent));
	v->recent[v->nrecent].lo = lo;
	v->recent[v->nrecent].hi = hi;
	v->nrecent++;
}

static void
remove_seq(struct store_view *v, uint32_t seq)
{
	uids_own(v);
	uidseq_remove_pos(&v->own_uids, seq - 1);
}

void
store_select_info_free(struct store_select_info *info)
{
	size_t i;

	for (i = 0; i < info->nkeywords; i++)
		free(info->keywords[i]);
	free(info->keywords);
	info->keywords = NULL;
	info->nkeywords = 0;
}

static void
keyword_cb(const char *kw, void *ctx)
{
	struct store_select_info *info = ctx;

	info->keywords = xreallocarray(info->keywords, info->nkeywords + 1,
				       sizeof(char *));
	info->keywords[info->nkeywords++] = xstrdup(kw);
}

/* SELECT's answer from the mailbox row mb the view was loaded from, and
 * the keywords and first unseen UID from the index, or from ce (a
 * select_cache_get() hit) when it is given.  *first_unseen_r: that UID
 * (0 if none). */
static int
fill_info(struct store_view *v, const struct index_mailbox *mb,
	  const struct store_select_cache *ce, struct store_select_info *info,
	  uint32_t *first_unseen_r, enum store_error *err_r,
	  const char **error_r)
{
	struct store_user *u = v->u;
	uint32_t uid = 0;
	size_t i;

	memset(info, 0, sizeof(*info));
	if (ce != NULL) {
		for (i = 0; i < ce->kw.nkeywords; i++)
			keyword_cb(ce->kw.keywords[i], info);
	} else if (index_mailbox_keywords(u->db, v->mailbox_id, keyword_cb,
					  info, error_r) < 0) {
		store_select_info_free(info);
		return store_index_fail(u, err_r, error_r, *error_r);
	}
	info->exists = store_view_count(v);
	info->recent = count_recent(v);
	info->uidvalidity = v->uidvalidity;
	info->uidnext = mb->uidnext;
	info->highestmodseq = mb->highestmodseq;
	v->nkeywords = info->nkeywords;
	if (ce != NULL) {
		uid = ce->first_unseen;
	} else if (mb->unseen > 0) {
		/* RFC 3501 7.1: [UNSEEN n] is the first unseen's number. */
		if (index_msg_first_unseen(u->db, v->mailbox_id, &uid,
					   error_r) < 0) {
			store_select_info_free(info);
			return store_index_fail(u, err_r, error_r, *error_r);
		}
	}
	if (uid != 0)
		info->first_unseen = store_view_seq(v, uid);
	*first_unseen_r = uid;
	return 0;
}

/* ---- the SELECT cache and kept rows ---- */

/* Whether mb's folder directories were last changed SYNC_MTIME_SLACK_SECS
 * or more ago (by the mtimes the row recorded): from now on any change to
 * them gives them other mtimes, even on a file system with coarse
 * timestamps, so the Maildir check finds it.  Only such a row is kept. */
static bool
row_quiet(const struct index_mailbox *mb)
{
	struct timespec now;
	int64_t quiet;

	clock_gettime(CLOCK_REALTIME, &now);
	quiet = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec -
		(int64_t)SYNC_MTIME_SLACK_SECS * 1000000000LL;
	/* not 0 (never looked at) nor sync.c's "untrusted" mark */
	return !mb->noselect && mb->mtime_new > 0 && mb->mtime_cur > 0 &&
		mb->mtime_new < quiet && mb->mtime_cur < quiet;
}

/* Keep mb (just read, nothing committed since) as v's row if its
 * folder is quiet. */
static void
view_keep_row(struct store_view *v, const struct index_mailbox *mb)
{
	v->row_kept = row_quiet(mb);
	if (v->row_kept) {
		v->row = *mb;
		v->row_commits = index_commits(v->u->db);
	}
}

/* v's mailbox row: as kept from an earlier read if this process has
 * committed nothing to the index since (every write of the user's mail
 * goes through that handle; other programs change only the Maildir, which
 * the caller's check sees as for a row just read), else read now and
 * kept if its folder is quiet.  1, 0 (gone) or -1 as for
 * index_mailbox_get_by_id().  Caller holds the lock. */
static int
view_row(struct store_view *v, struct index_mailbox *mb_r,
	 const char **error_r)
{
	struct store_user *u = v->u;
	int r;

	if (v->row_kept && v->row_commits == index_commits(u->db)) {
		*mb_r = v->row;
		return 1;
	}
	v->row_kept = false;
	r = index_mailbox_get_by_id(u->db, v->mailbox_id, mb_r, error_r);
	if (r > 0)
		view_keep_row(v, mb_r);
	return r;
}

static void
select_cache_free(struct store_select_cache *ce)
{
	store_select_info_free(&ce->kw);
	free(ce->name);
	free(ce->dir);
	memset(ce, 0, sizeof(*ce));
}

void
store_select_cache_clear(struct store_user *u)
{
	size_t i;

	for (i = 0; i < STORE_SELECT_CACHE; i++)
		select_cache_free(&u->select_cache[i]);
}

static struct store_select_cache *
select_cache_find(struct store_user *u, const char *name)
{
	size_t i;

	for (i = 0; i < STORE_SELECT_CACHE; i++) {
		if (u->select_cache[i].name != NULL &&
		    strcmp(u->select_cache[i].name, name) == 0)
			return &u->select_cache[i];
	}
	return NULL;
}

/* The kept answer for mailbox `name`, if it still holds: this process
 * has committed nothing to the index since it was read (every write of
 * the user's mail goes through this handle; other programs change only
 * the Maildir, which the caller's mtime check sees, as for a row just
 * read).  NULL otherwise.  Caller holds the lock. */
static const struct store_select_cache *
select_cache_get(struct store_user *u, const char *name)
{
	const struct store_select_cache *ce = select_cache_find(u, name);

	return ce != NULL && ce->commits == index_commits(u->db) ? ce : NULL;
}

/* Keep SELECT's answer for name (read just now, in one snapshot, with
 * nothing committed since) if its folder is quiet (row_quiet()).  Caller
 * holds the lock. */
static void
select_cache_put(struct store_user *u, const char *name, const char *dir,
		 const struct index_mailbox *mb,
		 const struct store_select_info *info, uint32_t first_unseen)
{
	struct store_select_cache *ce = select_cache_find(u, name);
	size_t i;

	if (!row_quiet(mb)) {
		if (ce != NULL)
			select_cache_free(ce);
		return;
	}
	if (ce == NULL) {
		ce = &u->select_cache[u->select_cache_next];
		u->select_cache_next = (u->select_cache_next + 1) %
			STORE_SELECT_CACHE;
	}
	select_cache_free(ce);
	ce->name = xstrdup(name);
	ce->dir = xstrdup(dir);
	ce->mb = *mb;
	ce->commits = index_commits(u->db);
	ce->first_unseen = first_unseen;
	for (i = 0; i < info->nkeywords; i++)
		keyword_cb(info->keywords[i], &ce->kw);
}

/* Pick up what other Maildir programs did (no index read when the
 * directories' mtimes match the row mb just read) and wake the other
 * views if anything changed.  *scanned_r: the folder was read and the
 * row may have changed.  Caller holds the lock. */
static int
maildir_sync(struct store_view *v, const struct index_mailbox *mb,
	     bool *scanned_r, enum store_error *err_r, const char **error_r)
{
	struct sync_result res;

	clock_gettime(CLOCK_MONOTONIC, &v->last_check);
	v->check_now = false;
	if (sync_mailbox_row(v->u->db, v->u->root, v->u->root_fd, v->dir, mb,
			     SYNC_FLAG_IMPORT_DOVECOT, &res, err_r,
			     error_r) < 0)
		return -1;
	*scanned_r = res.scanned;
	if (res.added > 0 || res.expunged > 0 || res.flag_changed > 0)
		store_hub_notify(v->u, mb->id, NULL);
	return 0;
}

/* The mailbox's UIDs read row by row into seq (empty): when the runs
 * table can't be trusted.  0 or -1. */
static int
uids_from_rows(struct store_user *u, int64_t mailbox_id, uint32_t expect,
	       struct uidseq *seq, const char **error_r)
{
	size_t i, n = 0, cap = (size_t)expect + 64;
	uint32_t *list = xreallocarray(NULL, cap, sizeof(*list));

	if (index_msg_uids(u->db, mailbox_id, list, cap, &n, error_r) < 0)
		goto fail;
	if (n > cap) {
		cap = n;
		list = xreallocarray(list, cap, sizeof(*list));
		if (index_msg_uids(u->db, mailbox_id, list, cap, &n,
				   error_r) < 0)
			goto fail;
	}
	for (i = 0; i < n && i < cap; i++)
		(void)uidseq_append(seq, list[i], list[i]);
	free(list);
	return 0;
fail:
	free(list);
	return -1;
}

/* The UID list of the mailbox into the view: shared from the user's
 * cache when nothing changed since it was taken, else built from the
 * index's UID runs (one row for a mailbox appended to in order) and
 * cached.  Caller holds the lock. */
static int
load_uids(struct store_view *v, const struct index_mailbox *mb,
	  enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct store_uid_cache *c;
	struct store_uidset *set;
	struct index_uid_range *ranges;
	size_t i, nranges;
	int r;

	for (i = 0; i < STORE_UID_CACHE; i++) {
		c = &u->uid_cache[i];
		if (c->set != NULL && c->mailbox_id == mb->id &&
		    c->modseq == mb->highestmodseq &&
		    c->uidvalidity == mb->uidvalidity &&
		    c->set->seq.count == mb->messages) {
			c->set->refs++;
			v->shared = c->set;
			return 0;
		}
	}
	r = index_msg_uid_ranges(u->db, mb->id, mb->messages, &ranges, &nranges,
				 error_r);
	if (r < 0)
		return store_index_fail(u, err_r, error_r, *error_r);
	set = store_uidset_new();
	if (r > 0) {
		for (i = 0; i < nranges; i++)
			(void)uidseq_append(&set->seq, ranges[i].lo,
					    ranges[i].hi);
		free(ranges);
	} else {
		/* The runs disagree with the message count: list the UIDs
		 * and rewrite the runs. */
		log_warn("user=%s mailbox=%s: UID runs out of step with the "
			 "messages, rebuilding them", u->name, v->name);
		if (uids_from_rows(u, mb->id, mb->messages, &set->seq,
				   error_r) < 0) {
			store_uidset_unref(&set);
			return store_index_fail(u, err_r, error_r, *error_r);
		}
		if (index_msg_ranges_repair(u->db, mb->id, error_r) < 0)
			log_warn("user=%s mailbox=%s: rebuilding UID runs: %s",
				 u->name, v->name, *error_r);
	}
	/* remember it: this mailbox's slot, else the next one round robin */
	c = NULL;
	for (i = 0; i < STORE_UID_CACHE && c == NULL; i++) {
		if (u->uid_cache[i].mailbox_id == mb->id)
			c = &u->uid_cache[i];
	}
	if (c == NULL) {
		c = &u->uid_cache[u->uid_cache_next];
		u->uid_cache_next = (u->uid_cache_next + 1) % STORE_UID_CACHE;
	}
	store_uidset_unref(&c->set);
	c->mailbox_id = mb->id;
	c->modseq = mb->highestmodseq;
	c->uidvalidity = mb->uidvalidity;
	c->set = set; /* the cache's reference */
	set->refs++;  /* the view's */
	v->shared = set;
	return 0;
}

struct store_view *
store_view_open(struct store_user *u, const char *name, bool readonly,
		void (*notify)(void *ctx), void *ctx,
		struct store_select_info *info_r, enum store_error *err_r,
		const char **error_r)
{
	const struct store_select_cache *ce;
	struct index_mailbox mb;
	struct store_view *v;
	struct buf dir;
	uint32_t first_recent, uidnext, first_unseen = 0;
	bool in_read = false;
	int r;

	name = store_mailbox_canonical(name);
	v = xmalloc(sizeof(*v));
	v->u = u;
	v->readonly = readonly;
	v->notify = notify;
	v->notify_ctx = ctx;
	v->name = xstrdup(name);
	buf_init(&dir, 0);
	pthread_mutex_lock(&u->lock);
	/* A mailbox selected a moment ago that nobody changed since: its row
	 * as kept, checked against the Maildir as a row just read would be,
	 * and no index read at all (no claim of \Recent either: there is
	 * nothing new to claim when uidnext hasn't moved past it). */
	ce = select_cache_get(u, name);
	if (ce != NULL) {
		v->dir = xstrdup(ce->dir);
		r = sync_mailbox_in_step(u->root, u->root_fd, v->dir, &ce->mb,
					 err_r, error_r);
		if (r == 1 && (readonly || ce->mb.recent_uid >= ce->mb.uidnext)) {
			mb = ce->mb;
			clock_gettime(CLOCK_MONOTONIC, &v->last_check);
			first_recent = uidnext = 0;
			log_debug("user=%s mailbox=%s: select from the kept "
				  "answer", u->name, name);
			goto loaded;
		}
		free(v->dir);
		v->dir = NULL;
		ce = NULL;
	}
	/* Everything from one read snapshot: SQLite takes and drops its read
	 * lock around every statement otherwise.  Writes can't happen
	 * inside it, so a folder that changed (a Maildir sync) or \Recent
	 * to claim ends the snapshot for the write, and a new one reads the
	 * row again. */
	if (index_read_begin(u->db, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto fail;
	}
	in_read = true;
	r = index_mailbox_get(u->db, name, &mb, error_r);
	if (r < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto fail;
	}
	if (r == 0 || mb.noselect) {
		*err_r = STORE_ERR_NOTFOUND;
		*error_r = "Mailbox doesn't exist";
		goto fail;
	}
	if (store_name_to_dir(name, &dir, err_r, error_r) < 0)
		goto fail;
	v->dir = xstrdup(buf_cstr(&dir));
	clock_gettime(CLOCK_MONOTONIC, &v->last_check);
	r = sync_mailbox_in_step(u->root, u->root_fd,
				 v->dir, &mb, err_r, error_r);
	if (r < 0)
		goto fail;
	/* A write (and its fsync) only when there is something to claim:
	 * 1,000 sessions must not each commit on SELECT.  EXAMINE doesn't
	 * claim \Recent but sees it (RFC 3501 2.3.2, 6.3.3): the unclaimed
	 * UIDs are recent for a read-only view. */
	first_recent = uidnext = 0;
	if (r == 0 || (!readonly && mb.recent_uid < mb.uidnext)) {
		bool scanned = false;

		index_read_end(u->db);
		in_read = false;
		if (r == 0 && maildir_sync(v, &mb, &scanned, err_r,
					   error_r) < 0)
			goto fail;
		if (!readonly &&
		    index_mailbox_claim_recent(u->db, mb.id, &first_recent,
					       &uidnext, error_r) < 0) {
			store_index_fail(u, err_r, error_r, *error_r);
			goto fail;
		}
		if (index_read_begin(u->db, error_r) < 0) {
			store_index_fail(u, err_r, error_r, *error_r);
			goto fail;
		}
		in_read = true;
		r = index_mailbox_get(u->db, name, &mb, error_r);
		if (r <= 0 || mb.noselect) {
			store_index_fail(u, err_r, error_r, r < 0 ? *error_r :
					 "Mailbox vanished");
			goto fail;
		}
	}
loaded:
	v->check_now = false;
	v->mailbox_id = mb.id;
	v->uidvalidity = mb.uidvalidity;
	v->modseq = mb.highestmodseq;
	if (readonly) {
		first_recent = mb.recent_uid;
		uidnext = mb.uidnext;
	}
	if (first_recent < uidnext) {
		v->recent = xmalloc(sizeof(*v->recent));
		v->recent[0].lo = first_recent;
		v->recent[0].hi = uidnext;
		v->nrecent = 1;
	}
	if (load_uids(v, &mb, err_r, error_r) < 0 ||
	    fill_info(v, &mb, ce, info_r, &first_unseen, err_r, error_r) < 0)
		goto fail;
	if (ce == NULL)
		select_cache_put(u, name, v->dir, &mb, info_r, first_unseen);
	view_keep_row(v, &mb); /* the row now holds for NOOP too */
	if (in_read)
		index_read_end(u->db);
	store_user_ref(u);
	v->next = u->views;
	u->views = v;
	pthread_mutex_unlock(&u->lock);
	buf_deinit(&dir);
	return v;
fail:
	if (in_read)
		index_read_end(u->db);
	uids_free(v);
	pthread_mutex_unlock(&u->lock);
	buf_deinit(&dir);
	free(v->recent);
	free(v->dir);
	free(v->name);
	free(v);
	return NULL;
}

void
store_view_close(struct store_view **vp)
{
	struct store_view *v = *vp, **pp;
	struct store_user *u;

	if (v == NULL)
		return;
	*vp = NULL;
	u = v->u;
	pthread_mutex_lock(&u->lock);
	for (pp = &u->views; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			break;
		}
	}
	view_leave(v);
	uids_free(v); /* a shared list's count is guarded by the lock */
	pthread_mutex_unlock(&u->lock);
	free(v->recent);
	free(v->pending_expunges);
	free(v->dir);
	free(v->name);
	free(v);
	store_user_unref(&u);
}

/* ---- sync ---- */

static void
fill_msg_at(const struct store_view *v, const struct index_msg *m,
	    uint32_t seq, struct store_msg *out)
{
	out->seq = seq;
	out->uid = m->uid;
	out->flags = store_flags_from_index(m->flags);
	out->keywords = m->keywords;
	out->recent = is_recent(v, m->uid);
	out->internaldate = m->internaldate;
	out->size = m->size;
	out->modseq = m->modseq;
}

static void
fill_msg(const struct store_view *v, const struct index_msg *m,
	 struct store_msg *out)
{
	fill_msg_at(v, m, store_view_seq(v, m->uid), out);
}

static bool
pending_has(const struct store_view *v, uint32_t uid)
{
	size_t i;

	for (i = 0; i < v->npending; i++) {
		if (v->pending_expunges[i] == uid)
			return true;
	}
	return false;
}

static void
pending_add(struct store_view *v, uint32_t uid)
{
	if (pending_has(v, uid))
		return;
	if (v->npending == v->cappending) {
		v->cappending = v->cappending == 0 ? 16 : v->cappending * 2;
		v->pending_expunges = xreallocarray(v->pending_expunges,
						    v->cappending,
						    sizeof(uint32_t));
	}
	v->pending_expunges[v->npending++] = uid;
}

void
store_memo_clear(struct store_user *u)
{
	struct store_changes_memo *m = &u->memo;
	size_t i;

	for (i = 0; i < m->nchanged; i++)
		free((char *)m->changed[i].keywords);
	free(m->changed);
	free(m->expunged);
	store_select_info_free(&m->kw);
	memset(m, 0, sizeof(*m));
}

static void
memo_changed_cb(const struct index_msg *im, void *ctx)
{
	struct store_changes_memo *m = ctx;
	struct index_msg *copy;

	if (m->nchanged == m->capchanged) {
		m->capchanged = m->capchanged == 0 ? 16 : m->capchanged * 2;
		m->changed = xreallocarray(m->changed, m->capchanged,
					   sizeof(*m->changed));
	}
	copy = &m->changed[m->nchanged++];
	*copy = *im;
	copy->keywords = xstrdup(im->keywords);
	copy->file = NULL;
	if (im->modseq > m->maxmodseq)
		m->maxmodseq = im->modseq;
}

static void
memo_expunged_cb(uint32_t uid, void *ctx)
{
	struct store_changes_memo *m = ctx;

	if (m->nexpunged == m->capexpunged) {
		m->capexpunged = m->capexpunged == 0 ? 16 : m->capexpunged * 2;
		m->expunged = xreallocarray(m->expunged, m->capexpunged,
					    sizeof(uint32_t));
	}
	m->expunged[m->nexpunged++] = uid;
}

/* The memo for v at the mailbox row *mb: kept when it answers the same
 * question, else one query.  0, or -1 with the error set.  Caller holds
 * the lock. */
static int
memo_fill(struct store_view *v, const struct index_mailbox *mb,
	  enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct store_changes_memo *m = &u->memo;

	if (m->mailbox_id == v->mailbox_id && m->from == v->modseq &&
	    m->mb.highestmodseq == mb->highestmodseq) {
		m->mb = *mb;
		m->hub_gen = u->hub_gen;
		return 0;
	}
	store_memo_clear(u);
	if (index_msg_changes_since(u->db, v->mailbox_id, v->modseq,
				    memo_changed_cb, memo_expunged_cb, m,
				    error_r) < 0) {
		store_memo_clear(u);
		return store_index_fail(u, err_r, error_r, *error_r);
	}
	m->mailbox_id = v->mailbox_id;
	m->from = v->modseq;
	m->mb = *mb;
	m->hub_gen = u->hub_gen;
	if (m->maxmodseq < mb->highestmodseq)
		m->maxmodseq = mb->highestmodseq;
	return 0;
}

/* What changed in v's mailbox since v->modseq, into u->memo (valid while
 * the lock is held).  mb: the mailbox row if the caller just read it, else
 * NULL: it is read here (one row), unless `woken` and the memo answers
 * v's question and this process wrote nothing since it was taken: the
 * first of 1,000 woken IDLE sessions reads the index, the others don't.
 * (A change another process made meanwhile is then reported at the next
 * sync or look, as if the sync had run a moment earlier.  Read-only views
 * always read: their \Recent comes from the row, which a SELECT elsewhere
 * may have changed without waking anyone.)  Own writes are
 * in the memo too: the caller skips those.  1: the memo holds v's changes;
 * 0: nothing changed (or the mailbox is gone); -1: error.  Caller holds
 * the lock. */
static int
changes_since(struct store_view *v, const struct index_mailbox *mb,
	      bool woken, enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct store_changes_memo *m = &u->memo;
	struct index_mailbox row;
	int r;

	if (mb == NULL && woken && !v->readonly &&
	    m->mailbox_id == v->mailbox_id && m->from == v->modseq &&
	    m->hub_gen == u->hub_gen)
		return m->mb.highestmodseq == v->modseq ? 0 : 1;
	if (mb == NULL) {
		r = view_row(v, &row, error_r);
		if (r < 0)
			return store_index_fail(u, err_r, error_r, *error_r);
		if (r == 0)
			return 0; /* deleted under us: nothing more changes */
		mb = &row;
	}
	if (mb->highestmodseq == v->modseq)
		return 0;
	if (memo_fill(v, mb, err_r, error_r) < 0)
		return -1;
	return 1;
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

static struct store_dir_check *
dir_check_find(struct store_user *u, int64_t mailbox_id)
{
	size_t i;

	for (i = 0; i < STORE_DIR_CHECKS; i++) {
		if (u->dir_check[i].mailbox_id == mailbox_id)
			return &u->dir_check[i];
	}
	return NULL;
}

/* A look at mailbox_id's Maildir began at `at`. */
static void
dir_check_note(struct store_user *u, int64_t mailbox_id,
	       const struct timespec *at)
{
	struct store_dir_check *c = dir_check_find(u, mailbox_id);

	if (c == NULL) {
		c = &u->dir_check[u->dir_check_next];
		u->dir_check_next = (u->dir_check_next + 1) % STORE_DIR_CHECKS;
		c->mailbox_id = mailbox_id;
		c->at = *at;
	} else if (ts_cmp(at, &c->at) > 0) {
		c->at = *at;
	}
}

/* Whether v must look at its Maildir now.  Any view's look counts (look()
 * wakes every view it finds behind): when v was asked to look (NOOP,
 * IDLE's inotify), a look that began after the asking saw whatever caused
 * it; otherwise one look a second will do.  Caller holds the lock. */
static bool
check_due(struct store_view *v)
{
	const struct store_dir_check *c = dir_check_find(v->u, v->mailbox_id);
	struct timespec now, last = v->last_check;

	if (c != NULL && ts_cmp(&c->at, &last) > 0)
		last = c->at;
	if (v->check_now) {
		if (ts_cmp(&last, &v->check_asked) < 0)
			return true;
		v->check_now = false;
		return false;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - last.tv_sec >= 1;
}

/* Look at v's Maildir for other programs' changes, then wake every other
 * view of the mailbox that is behind the index: a program may have written
 * both, leaving the Maildir looking in step, and views whose own look this
 * one stands for (check_due) must still hear of it.  The mailbox row after
 * the look goes to *mb_r.  1, 0 (mailbox gone) or -1 as for
 * index_mailbox_get_by_id().  Caller holds the lock. */
static int
look(struct store_view *v, struct index_mailbox *mb_r,
     enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct store_view *w;
	bool scanned = false;
	int r;

	r = view_row(v, mb_r, error_r);
	if (r < 0)
		return store_index_fail(u, err_r, error_r, *error_r);
	if (r == 0 || mb_r->noselect) {
		clock_gettime(CLOCK_MONOTONIC, &v->last_check);
		v->check_now = false;
	} else if (maildir_sync(v, mb_r, &scanned, err_r, error_r) < 0) {
		log_warn("user=%s maildir sync of %s: %s", u->name, v->name,
			 *error_r);
	} else if (scanned) {
		r = view_row(v, mb_r, error_r);
		if (r < 0)
			return store_index_fail(u, err_r, error_r, *error_r);
	}
	/* noted even if it failed: 1,000 sessions must not each retry */
	dir_check_note(u, v->mailbox_id, &v->last_check);
	for (w = u->views; r > 0 && w != NULL; w = w->next) {
		if (w != v && w->mailbox_id == v->mailbox_id && !w->notified &&
		    w->modseq < mb_r->highestmodseq)
			wake(w);
	}
	return r;
}

/* New messages (UIDs above the view's) from the memo into the view, and
 * the \Recent claim for them.  Returns how many were added. */
static uint32_t
sync_new(struct store_view *v, struct store_changes_memo *m)
{
	struct store_user *u = v->u;
	uint32_t maxuid = store_view_max_uid(v), added = 0;
	uint32_t first_recent = 0, uidnext = 0;
	const char *error;
	bool got = false;
	size_t i;

	for (i = 0; i < m->nchanged; i++) {
		if (m->changed[i].uid > maxuid &&
		    !own_has(v, m->changed[i].modseq)) {
			uids_push(v, m->changed[i].uid);
			maxuid = m->changed[i].uid;
			added++;
		}
	}
	if (added == 0)
		return 0;
	/* \Recent goes to one session (RFC 3501 2.3.2): the first to hear
	 * of the message claims it; the memo's row says whether anyone did
	 * (claims are ours alone), so only that one writes. */
	if (v->readonly) {
		first_recent = m->mb.recent_uid;
		uidnext = m->mb.uidnext;
		got = true;
	} else if (m->mb.recent_uid < m->mb.uidnext) {
		got = index_mailbox_claim_recent(u->db, v->mailbox_id,
						 &first_recent, &uidnext,
						 &error) == 0;
		if (got)
			m->mb.recent_uid = uidnext;
		else
			log_warn("user=%s claiming \\Recent in %s: %s", u->name,
				 v->name, error);
	}
	if (got)
		recent_add(v, first_recent, uidnext);
	return added;
}

/* store_view_sync() and store_view_sync_woken(). */
static int
view_sync(struct store_view *v, bool expunges_allowed, bool woken,
	  const struct store_sync_cb *cb, void *ctx, enum store_error *err_r,
	  const char **error_r)
{
	struct store_user *u = v->u;
	struct store_changes_memo *m = &u->memo;
	struct index_mailbox mb;
	uint32_t old_maxuid;
	bool has_kw = false, have_mb = false;
	size_t i;
	int r, ret = -1;

	pthread_mutex_lock(&u->lock);
	/* Our own writes change the directories' mtimes, and a fresh mtime
	 * can't be trusted (sync.c), so looking on every command would
	 * rescan a big folder over and over: look when asked (NOOP, IDLE's
	 * inotify) and otherwise at most once a second. */
	if (check_due(v)) {
		r = look(v, &mb, err_r, error_r);
		if (r < 0)
			goto out;
		have_mb = r > 0;
		if (have_mb && mb.highestmodseq != v->modseq)
			v->notified = true;
	}
	/* Woken for nothing this view hasn't seen (its own write, or an
	 * inotify event that a look found nothing behind): no index read. */
	if (woken && !v->notified && v->npending == 0) {
		ret = 0;
		goto out;
	}
	v->notified = false;
	r = changes_since(v, have_mb ? &mb : NULL, woken, err_r, error_r);
	if (r < 0)
		goto out;
	if (r > 0) {
		if (v->modseq < m->maxmodseq)
			v->modseq = m->maxmodseq;
		/* Expunges by others: now, or kept until they may be sent. */
		for (i = 0; i < m->nexpunged; i++) {
			if (store_view_seq(v, m->expunged[i]) != 0)
				pending_add(v, m->expunged[i]);
		}
	}
	if (expunges_allowed && v->npending > 0) {
		for (i = 0; i < v->npending; i++) {
			uint32_t seq = store_view_seq(v, v->pending_expunges[i]);

			if (seq == 0)
				continue;
			remove_seq(v, seq);
			if (cb->expunge != NULL)
				cb->expunge(seq, ctx);
		}
		v->npending = 0;
	}
	if (r == 0) {
		v->nown = 0;
		ret = 0;
		goto out;
	}
	/* New messages (UIDs above ours), then flag changes of the others:
	 * a new message's flags come with its first FETCH. */
	old_maxuid = store_view_max_uid(v);
	if (sync_new(v, m) > 0 && cb->exists != NULL)
		cb->exists(store_view_count(v), count_recent(v), ctx);
	for (i = 0; i < m->nchanged; i++) {
		const struct index_msg *im = &m->changed[i];
		struct store_msg msg;

		if (own_has(v, im->modseq))
			continue;
		if (im->keywords[0] != '\0')
			has_kw = true;
		if (im->uid > old_maxuid || pending_has(v, im->uid))
			continue;
		fill_msg(v, im, &msg);
		if (msg.seq != 0 && cb->flags != NULL)
			cb->flags(&msg, ctx);
	}
	v->nown = 0;
	/* The mailbox's keyword list is the memo's too: it only grows with
	 * a change, which would have renewed the memo. */
	if (cb->keywords != NULL && has_kw && !m->kw_loaded) {
		if (index_mailbox_keywords(u->db, v->mailbox_id, keyword_cb,
					   &m->kw, error_r) == 0)
			m->kw_loaded = true;
		else
			store_select_info_free(&m->kw);
	}
	if (cb->keywords != NULL && has_kw && m->kw_loaded &&
	    m->kw.nkeywords != v->nkeywords) {
		v->nkeywords = m->kw.nkeywords;
		cb->keywords(&m->kw, ctx);
	}
	ret = 0;
out:
	pthread_mutex_unlock(&u->lock);
	return ret;
}

int
store_view_sync(struct store_view *v, bool expunges_allowed,
		const struct store_sync_cb *cb, void *ctx,
		enum store_error *err_r, const char **error_r)
{
	return view_sync(v, expunges_allowed, false, cb, ctx, err_r, error_r);
}

int
store_view_sync_woken(struct store_view *v, const struct store_sync_cb *cb,
		      void *ctx, enum store_error *err_r, const char **error_r)
{
	return view_sync(v, true, true, cb, ctx, err_r, error_r);
}

void
store_view_check_maildir(struct store_view *v)
{
	v->check_now = true;
	clock_gettime(CLOCK_MONOTONIC, &v->check_asked);
}

static struct store_watch *
watch_find(struct store_user *u, int64_t mailbox_id)
{
	size_t i;

	for (i = 0; i < u->nwatches; i++) {
		if (u->watches[i].mailbox_id == mailbox_id)
			return &u->watches[i];
	}
	return NULL;
}

static int
watch_open(const struct store_view *v)
{
	static const char *const subs[] = { "new", "cur" };
	char path[STORE_PATH_MAX];
	size_t i;
	int fd;

	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		log_warn("inotify_init1: %m");
		return -1;
	}
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s%s%s/%s", v->u->root,
			 v->dir[0] != '\0' ? "/" : "", v->dir, subs[i]);
		if (inotify_add_watch(fd, path, IN_CREATE | IN_DELETE |
				      IN_MOVED_TO | IN_MOVED_FROM |
				      IN_ONLYDIR) < 0) {
			log_warn("inotify_add_watch(%s): %m", path);
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
store_view_watch(struct store_view *v)
{
	struct store_user *u = v->u;
	struct store_watch *w;
	int fd = -1;

	pthread_mutex_lock(&u->lock);
	w = watch_find(u, v->mailbox_id);
	if (w == NULL) {
		fd = watch_open(v);
		if (fd >= 0) {
			u->watches = xreallocarray(u->watches, u->nwatches + 1,
						   sizeof(*u->watches));
			w = &u->watches[u->nwatches++];
			w->mailbox_id = v->mailbox_id;
			w->fd = fd;
			w->refs = 0;
		}
	}
	if (w != NULL) {
		if (!v->watching) {
			w->refs++;
			v->watching = true;
		}
		fd = w->fd;
	}
	pthread_mutex_unlock(&u->lock);
	return fd;
}

/* Drop v's reference on its mailbox's watch.  Caller holds the lock. */
static void
watch_release(struct store_view *v)
{
	struct store_user *u = v->u;
	struct store_watch *w;

	if (!v->watching)
		return;
	v->watching = false;
	w = watch_find(u, v->mailbox_id);
	if (w == NULL || --w->refs > 0)
		return;
	close(w->fd);
	*w = u->watches[--u->nwatches];
	if (u->nwatches == 0) {
		free(u->watches);
		u->watches = NULL;
	}
}

void
store_view_unwatch(struct store_view *v)
{
	pthread_mutex_lock(&v->u->lock);
	watch_release(v);
	pthread_mutex_unlock(&v->u->lock);
}

/* v is going (out of the hub already): its watch reference, and a look it
 * was asked for and nobody has taken yet, which other views may be
 * counting on (a watch event is read by one session for all).  Caller
 * holds the lock. */
static void
view_leave(struct store_view *v)
{
	struct index_mailbox mb;
	enum store_error err;
	const char *error;

	watch_release(v);
	if (v->check_now && check_due(v) && look(v, &mb, &err, &error) < 0)
		log_warn("user=%s look at %s: %s", v->u->name, v->name, error);
}

/* ---- fetch ---- */

struct fetch_ctx {
	struct store_view *v;
	struct store_fetch_pos *pos;
	void (*cb)(const struct store_msg *msg, void *ctx);
	void *ctx;
};

/* store_view_seq for a walk in UID order: the message after the previous
 * one is usually the next sequence number, so look there first. */
static uint32_t
view_seq_after(const struct store_view *v, uint32_t uid, uint32_t prev_seq)
{
	if (prev_seq < UINT32_MAX && store_view_uid(v, prev_seq + 1) == uid)
		return prev_seq + 1;
	return store_view_seq(v, uid);
}

static void
fetch_cb(const struct index_msg *m, void *ctxp)
{
	struct fetch_ctx *f = ctxp;
	struct store_msg msg;
	uint32_t seq = view_seq_after(f->v, m->uid, f->pos->seq);

	if (seq == 0)
		return; /* not (yet) in this session's view */
	f->pos->seq = seq;
	fill_msg_at(f->v, m, seq, &msg);
	f->cb(&msg, f->ctx);
}

int
store_view_fetch_part(struct store_view *v, const struct store_uid_range *r,
		      size_t nr, unsigned fields, size_t max_msgs,
		      struct store_fetch_pos *pos,
		      void (*cb)(const struct store_msg *msg, void *ctx),
		      void *ctx, enum store_error *err_r, const char **error_r)
{
	struct fetch_ctx f = { v, pos, cb, ctx };
	struct index_fetch_pos ipos;
	unsigned cols = INDEX_COLS_UID;
	int ret;

	if (pos->range >= nr)
		return 0;
	if (fields & STORE_FETCH_FLAGS)
		cols |= INDEX_COLS_FLAGS;
	if (fields & ~STORE_FETCH_FLAGS)
		cols = INDEX_COLS_ALL;
	ipos.range = pos->range;
	ipos.next_uid = pos->next_uid;
	pthread_mutex_lock(&v->u->lock);
	ret = index_msg_fetch_part(v->u->db, v->mailbox_id,
				   (const struct index_uid_range *)r, nr, cols,
				   max_msgs, &ipos, fetch_cb, &f, error_r);
	if (ret < 0)
		ret = store_index_fail(v->u, err_r, error_r, *error_r);
	pthread_mutex_unlock(&v->u->lock);
	pos->range = ipos.range;
	pos->next_uid = ipos.next_uid;
	return ret;
}

int
store_view_fetch(struct store_view *v, const struct store_uid_range *r,
		 size_t nr, void (*cb)(const struct store_msg *msg, void *ctx),
		 void *ctx, enum store_error *err_r, const char **error_r)
{
	struct store_fetch_pos pos;

	memset(&pos, 0, sizeof(pos));
	return store_view_fetch_part(v, r, nr, STORE_FETCH_ALL, 0, &pos, cb,
				     ctx, err_r, error_r);
}

/* ---- store ---- */

struct flag_file {
	uint32_t uid;
	char *file;
	unsigned old_flags; /* STORE_FLAG_* before */
	unsigned disk_flags; /* STORE_FLAG_* its file name carries now */
	unsigned nkeywords; /* keywords it has */
	char *keywords;     /* space-separated */
};

struct files_ctx {
	struct flag_file *files;
	size_t count, cap;
};

static void
files_cb(const struct index_msg *m, void *ctxp)
{
	struct files_ctx *fc = ctxp;

	if (fc->count == fc->cap) {
		fc->cap = fc->cap == 0 ? 64 : fc->cap * 2;
		fc->files = xreallocarray(fc->files, fc->cap, sizeof(*fc->files));
	}
	fc->files[fc->count].uid = m->uid;
	fc->files[fc->count].file = xstrdup(m->file);
	fc->files[fc->count].old_flags = store_flags_from_index(m->flags);
	fc->files[fc->count].disk_flags = store_flags_from_index(m->disk_flags);
	fc->files[fc->count].keywords = xstrdup(m->keywords);
	{
		const char *p = m->keywords;
		unsigned n = 0;

		while (*p != '\0') {
			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			n++;
			while (*p != '\0' && *p != ' ')
				p++;
		}
		fc->files[fc->count].nkeywords = n;
	}
	fc->count++;
}

static void
files_free(struct files_ctx *fc)
{
	size_t i;

	for (i = 0; i < fc->count; i++) {
		free(fc->files[i].file);
		free(fc->files[i].keywords);
	}
	free(fc->files);
}

static bool
has_word(const char *list, const char *w)
{
	size_t len = strlen(w);
	const char *p = list;

	while ((p = strstr(p, w)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0'))
			return true;
		p += len;
	}
	return false;
}

/* STORE_MAX_KEYWORDS per message, counted after the change. */
static bool
too_many_keywords(const struct files_ctx *fc, enum store_flag_mode mode,
		  const char *const *kw, size_t nkw)
{
	size_t i, k;

	for (i = 0; i < fc->count; i++) {
		size_t total = mode == STORE_FLAGS_REPLACE ? 0 :
			fc->files[i].nkeywords;

		for (k = 0; k < nkw; k++) {
			if (mode == STORE_FLAGS_REPLACE ||
			    !has_word(fc->files[i].keywords, kw[k]))
				total++;
		}
		if (total > STORE_MAX_KEYWORDS)
			return true;
	}
	return false;
}

struct store_ctx {
	struct store_view *v;
	void (*cb)(const struct store_msg *msg, void *ctx);
	void *ctx;
};

/* The file names follow in the background (store-rename.c): the index
 * is authoritative and remembers what each name still says. */
static void
store_cb(const struct index_msg *m, bool modified, void *ctxp)
{
	struct store_ctx *sc = ctxp;
	struct store_msg msg;

	if (modified)
		return;
	fill_msg(sc->v, m, &msg);
	if (msg.seq != 0 && sc->cb != NULL)
		sc->cb(&msg, sc->ctx);
}

int
store_view_store(struct store_view *v, const struct store_uid_range *r,
		 size_t nr, enum store_flag_mode mode, unsigned flags,
		 const char *const *keywords, size_t nkeywords,
		 void (*cb)(const struct store_msg *msg, void *ctx), void *ctx,
		 enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct index_store req;
	struct files_ctx fc;
	struct store_ctx sc;
	uint64_t modseq = 0, before;
	char *kw;
	int ret = -1;

	if (v->readonly) {
		*err_r = STORE_ERR_NOPERM;
		*error_r = "Mailbox is read-only";
		return -1;
	}
	if (nr == 0)
		return 0;
	memset(&fc, 0, sizeof(fc));
	memset(&sc, 0, sizeof(sc));
	kw = store_keywords_join(keywords, nkeywords);
	req.mode = mode == STORE_FLAGS_ADD ? INDEX_STORE_ADD :
		mode == STORE_FLAGS_REMOVE ? INDEX_STORE_REMOVE : INDEX_STORE_REPLACE;
	req.flags = store_flags_to_index(flags);
	req.keywords = kw;
	req.unchangedsince = 0;
	sc.v = v;
	sc.cb = cb;
	sc.ctx = ctx;
	pthread_mutex_lock(&u->lock);
	/* Only a keyword-adding STORE needs the rows first: the limit. */
	if (mode != STORE_FLAGS_REMOVE && nkeywords > 0) {
		if (index_msg_fetch(u->db, v->mailbox_id,
				    (const struct index_uid_range *)r, nr,
				    files_cb, &fc, error_r) < 0) {
			store_index_fail(u, err_r, error_r, *error_r);
			goto out;
		}
		if (too_many_keywords(&fc, mode, keywords, nkeywords)) {
			*err_r = STORE_ERR_LIMIT;
			*error_r = "Too many keywords on a message";
			goto out;
		}
	}
	before = v->modseq;
	if (index_msg_store(u->db, v->mailbox_id,
			    (const struct index_uid_range *)r, nr, &req, store_cb,
			    &sc, &modseq, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (modseq > before)
		store_rename_kick(u, v->mailbox_id);
	own_add(v, modseq);
	store_hub_notify(u, v->mailbox_id, v);
	ret = 0;
out:
	pthread_mutex_unlock(&u->lock);
	files_free(&fc);
	free(kw);
	return ret;
}

/* ---- expunge ---- */

static void
deleted_cb(const struct index_msg *m, void *ctxp)
{
	if (m->flags & INDEX_FLAG_DELETED)
		files_cb(m, ctxp);
}

/* Unlink files, then remove the rows (index.h: a crash between leaves
 * rows without files, which the next sync expunges). */
static int
expunge_files(struct store_view *v, struct files_ctx *fc,
	      void (*cb)(uint32_t seq, void *ctx), void *ctx,
	      enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct index_uid_range *ranges;
	struct buf name;
	uint64_t modseq = 0;
	size_t i;
	int ret = 0;
	bool clean = false;

	if (fc->count == 0)
		return 0;
	buf_init(&name, 0);
	ranges = xcalloc(fc->count, sizeof(*ranges));
	sync_own_write_begin(u->db, u->root, u->root_fd,
			     v->dir, v->mailbox_id, &clean);
	for (i = 0; i < fc->count; i++) {
		struct flag_file *ff = &fc->files[i];
		enum store_error e;
		const char *err;
		bool in_new;

		buf_clear(&name);
		maildir_filename_build(&name, ff->file, strlen(ff->file),
				       store_flags_to_maildir(ff->disk_flags), 0);
		if (maildir_file_unlink(u->root, v->dir, buf_cstr(&name), false,
					&e, &err) == 0) {
			/* ENOENT counts as success: maybe a different name */
			buf_clear(&name);
			if (maildir_file_find(u->root, v->dir, ff->file,
					      strlen(ff->file), &name, &in_new,
					      &e, &err) == 0)
				maildir_file_unlink(u->root, v->dir,
						    buf_cstr(&name), in_new, &e,
						    &err);
		}
		ranges[i].lo = ranges[i].hi = ff->uid;
	}
	{
		enum store_error e;
		const char *err;

		maildir_dir_fsync(u->root, v->dir, "cur", &e, &err);
		maildir_dir_fsync(u->root, v->dir, "new", &e, &err);
	}
	if (index_msg_expunge(u->db, v->mailbox_id, ranges, fc->count, NULL,
			      NULL, &modseq, error_r) < 0) {
		ret = store_index_fail(u, err_r, error_r, *error_r);
	} else {
		sync_own_write_end(u->db, u->root, u->root_fd,
				   v->dir, v->mailbox_id, clean);
		own_add(v, modseq);
		for (i = 0; i < fc->count; i++) {
			uint32_t seq = store_view_seq(v, fc->files[i].uid);

			if (seq == 0)
				continue;
			remove_seq(v, seq);
			if (cb != NULL)
				cb(seq, ctx);
		}
		store_hub_notify(u, v->mailbox_id, v);
	}
	free(ranges);
	buf_deinit(&name);
	return ret;
}

int
store_view_expunge(struct store_view *v, const struct store_uid_range *r,
		   size_t nr, void (*cb)(uint32_t seq, void *ctx), void *ctx,
		   enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct index_uid_range all = { 1, UINT32_MAX };
	struct files_ctx fc;
	int ret = -1;

	if (v->readonly) {
		*err_r = STORE_ERR_NOPERM;
		*error_r = "Mailbox is read-only";
		return -1;
	}
	memset(&fc, 0, sizeof(fc));
	pthread_mutex_lock(&u->lock);
	if (index_msg_fetch(u->db, v->mailbox_id,
			    r != NULL ? (const struct index_uid_range *)r : &all,
			    r != NULL ? nr : 1, deleted_cb, &fc, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	/* Only what this session can see (RFC 9051 6.4.3). */
	{
		size_t i, o = 0;

		for (i = 0; i < fc.count; i++) {
			if (store_view_seq(v, fc.files[i].uid) != 0) {
				fc.files[o++] = fc.files[i];
			} else {
				free(fc.files[i].file);
				free(fc.files[i].keywords);
			}
		}
		fc.count = o;
	}
	ret = expunge_files(v, &fc, cb, ctx, err_r, error_r);
out:
	pthread_mutex_unlock(&u->lock);
	files_free(&fc);
	return ret;
}

/* ---- copy / move ---- */

struct copy_src {
	struct files_ctx fc;
	struct index_msg_new *rows;
	char **keywords;
};

static void
copy_collect_cb(const struct index_msg *m, void *ctxp)
{
	struct copy_src *cs = ctxp;
	size_t i = cs->fc.count;

	files_cb(m, &cs->fc);
	cs->rows = xreallocarray(cs->rows, cs->fc.cap, sizeof(*cs->rows));
	cs->keywords = xreallocarray(cs->keywords, cs->fc.cap, sizeof(char *));
	cs->keywords[i] = xstrdup(m->keywords);
	memset(&cs->rows[i], 0, sizeof(cs->rows[i]));
	cs->rows[i].flags = m->flags;
	cs->rows[i].internaldate = m->internaldate;
	cs->rows[i].size = m->size;
}

int
store_view_copy(struct store_view *v, const struct store_uid_range *r,
		size_t nr, const char *dest, bool move, uint32_t *uidvalidity_r,
		uint32_t **src_uids_r, uint32_t **dst_uids_r, size_t *count_r,
		void (*cb)(uint32_t seq, void *ctx), void *ctx,
		enum store_error *err_r, const char **error_r)
{
	struct store_user *u = v->u;
	struct index_mailbox mb;
	struct copy_src cs;
	struct maildir_copier cp;
	struct buf ddir, name, newname;
	char **newfiles = NULL;
	uint32_t *src = NULL, *dst = NULL;
	uint64_t modseq;
	size_t i, o, done = 0;
	int ret = -1, rr;
	bool dclean = false;

	if (move && v->readonly) {
		*err_r = STORE_ERR_NOPERM;
		*error_r = "Mailbox is read-only";
		return -1;
	}
	dest = store_mailbox_canonical(dest);
	memset(&cs, 0, sizeof(cs));
	maildir_copier_init(&cp);
	buf_init(&ddir, 0);
	buf_init(&name, 0);
	buf_init(&newname, 0);
	pthread_mutex_lock(&u->lock);
	rr = index_mailbox_get(u->db, dest, &mb, error_r);
	if (rr < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (rr == 0 || mb.noselect) {
		*err_r = STORE_ERR_TRYCREATE;
		*error_r = "Destination mailbox doesn't exist";
		goto out;
	}
	if (store_name_to_dir(dest, &ddir, err_r, error_r) < 0)
		goto out;
	if (nr > 0 && index_msg_fetch(u->db, v->mailbox_id,
				      (const struct index_uid_range *)r, nr,
				      copy_collect_cb, &cs, error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	/* Only messages this session can see. */
	for (i = 0, o = 0; i < cs.fc.count; i++) {
		if (store_view_seq(v, cs.fc.files[i].uid) == 0) {
			free(cs.fc.files[i].file);
			free(cs.fc.files[i].keywords);
			free(cs.keywords[i]);
			continue;
		}
		cs.fc.files[o] = cs.fc.files[i];
		cs.rows[o] = cs.rows[i];
		cs.keywords[o] = cs.keywords[i];
		o++;
	}
	cs.fc.count = o;
	sync_own_write_begin(u->db, u->root, u->root_fd,
			     buf_cstr(&ddir), mb.id, &dclean);
	if (o > 0 && maildir_copier_open(&cp, u->root, v->dir,
					 buf_cstr(&ddir), err_r, error_r) < 0)
		goto out;
	newfiles = xcalloc(o + 1, sizeof(char *));
	src = xcalloc(o + 1, sizeof(uint32_t));
	dst = xcalloc(o + 1, sizeof(uint32_t));
	for (i = 0; i < o; i++) {
		struct flag_file *ff = &cs.fc.files[i];
		struct maildir_filename fn;
		bool in_new = false;

		buf_clear(&name);
		maildir_filename_build(&name, ff->file, strlen(ff->file),
				       store_flags_to_maildir(ff->disk_flags), 0);
		buf_clear(&newname);
		if (maildir_copier_link(&cp, buf_cstr(&name), false,
					store_flags_to_maildir(ff->old_flags),
					0, &newname, err_r, error_r) < 0) {
			/* the file may carry other flags than the index says */
			buf_clear(&name);
			if (maildir_file_find(u->root, v->dir, ff->file,
					      strlen(ff->file), &name, &in_new,
					      err_r, error_r) < 0 ||
			    (buf_clear(&newname),
			     maildir_copier_link(&cp, buf_cstr(&name), in_new,
					store_flags_to_maildir(ff->old_flags),
					0, &newname, err_r, error_r) < 0))
				goto out;
		}
		newfiles[i] = xstrdup(buf_cstr(&newname));
		done = i + 1;
		if (maildir_filename_parse(newfiles[i], strlen(newfiles[i]), &fn) < 0) {
			*err_r = STORE_ERR_TEMP;
			*error_r = "Unparseable copied file name";
			goto out;
		}
		cs.rows[i].file = xstrndup(fn.base, fn.base_len);
		cs.rows[i].keywords = cs.keywords[i];
		src[i] = ff->uid;
	}
	/* One directory fsync for the whole batch, before the index row
	 * makes the copies visible (DESIGN: durable before OK). */
	if (o > 0 && maildir_copier_sync(&cp, err_r, error_r) < 0)
		goto out;
	if (o > 0 && index_msg_append(u->db, mb.id, cs.rows, o, dst, &modseq,
				      error_r) < 0) {
		store_index_fail(u, err_r, error_r, *error_r);
		goto out;
	}
	if (o > 0) {
		sync_own_write_end(u->db, u->root, u->root_fd,
				   buf_cstr(&ddir), mb.id, dclean);
		store_hub_notify(u, mb.id, NULL);
	}
	*uidvalidity_r = mb.uidvalidity;
	*src_uids_r = src;
	*dst_uids_r = dst;
	*count_r = o;
	src = dst = NULL;
	done = 0; /* the copies stay */
	ret = 0;
	if (move) {
		/* RFC 6851: the copies are durable; now expunge the sources. */
		if (expunge_files(v, &cs.fc, cb, ctx, err_r, error_r) < 0)
			log_error("user=%s MOVE: expunging sources failed: %s",
				  u->name, *error_r);
	}
out:
	if (ret < 0) {
		for (i = 0; i < done; i++) {
			enum store_error e;
			const char *err;

			maildir_file_unlink(u->root, buf_cstr(&ddir), newfiles[i],
					    false, &e, &err);
		}
	}
	maildir_copier_close(&cp);
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < cs.fc.count; i++) {
		free((char *)cs.rows[i].file);
		free(cs.keywords[i]);
	}
	for (i = 0; newfiles != NULL && i < cs.fc.count; i++)
		free(newfiles[i]);
	free(newfiles);
	files_free(&cs.fc);
	free(cs.rows);
	free(cs.keywords);
	free(src);
	free(dst);
	buf_deinit(&ddir);
	buf_deinit(&name);
	buf_deinit(&newname);
	return ret;
}
