/* store-private: what the files of src/store share and nobody else sees:
 * the per-user object's layout, the hub of selected views, and the
 * notification of other sessions. */
#ifndef STORE_PRIVATE_H
#define STORE_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "index.h"
#include "store.h"
#include "uidseq.h"

#define STORE_PATH_MAX 4096
#define STORE_UID_CACHE 4 /* mailboxes per user; 400 KB each at 100,000 */
#define STORE_SELECT_CACHE 4 /* SELECT answers kept per user */
#define STORE_STATUS_CHECKS 256 /* mailboxes whose last STATUS look is kept */
/* Mailboxes per user whose last Maildir look is remembered: enough for
 * the folders a client keeps IDLE connections on; one more only means a
 * look of its own now and then. */
#define STORE_DIR_CHECKS 4

struct store_view;

/* A mailbox's UID list, immutable while shared: the user's cache and every
 * view that SELECTed the mailbox in the same state point at one copy, and
 * a view copies it before its first change (copy on write), so SELECT of
 * a mailbox nobody changed costs no copy and an idle selected connection
 * holds no list of its own.  refs guarded by the user's lock. */
struct store_uidset {
	unsigned refs;
	struct uidseq seq;
};

struct store_uidset *store_uidset_new(void);
void store_uidset_unref(struct store_uidset **setp);

struct store_user {
	struct store_user *next;    /* registry list, guarded by reg_lock */
	unsigned refcount;          /* guarded by reg_lock */
	char *name;
	char *home;
	char *root;                 /* <home>/Maildir */
	int root_fd;                /* O_PATH of root, or -1 (sync.h) */
	char *index_path;           /* <home>/satchel.db */
	pthread_mutex_t lock;       /* guards db and every store operation */
	struct index_db *db;
	struct store_view *views;   /* every open view (hub), guarded by lock */
	/* UID lists of recently selected mailboxes, valid while the
	 * mailbox's highestmodseq is unchanged, so SELECT of a big mailbox
	 * that nobody changed shares a list instead of querying.  Guarded
	 * by lock. */
	struct store_uid_cache {
		int64_t mailbox_id;  /* 0 = empty slot */
		uint64_t modseq;
		uint32_t uidvalidity;
		struct store_uidset *set; /* one reference */
	} uid_cache[STORE_UID_CACHE];
	unsigned uid_cache_next;
	/* SELECT's answer for recently selected mailboxes, so a SELECT of a
	 * mailbox nobody changed reads no index (store-view.c,
	 * select_cache_get).  Guarded by lock. */
	struct store_select_cache {
		char *name;               /* owned, canonical; NULL = empty */
		char *dir;                /* owned */
		struct index_mailbox mb;  /* the row */
		uint64_t commits;         /* index_commits() when it was read */
		uint32_t first_unseen;    /* UID, 0 if none */
		struct store_select_info kw; /* only keywords used; owned */
	} select_cache[STORE_SELECT_CACHE];
	unsigned select_cache_next;
	/* When STATUS last looked at a mailbox's folder.  Guarded by lock. */
	struct store_status_check {
		int64_t mailbox_id;   /* 0 = empty */
		struct timespec when; /* CLOCK_MONOTONIC */
	} status_checks[STORE_STATUS_CHECKS];
	/* The last "what changed in mailbox X since modseq A" answer: when
	 * a write wakes 1,000 IDLE sessions that were all at A, one index
	 * query serves them all.  Guarded by lock. */
	struct store_changes_memo {
		int64_t mailbox_id;   /* 0 = empty */
		uint64_t from;
		struct index_mailbox mb;   /* the row it was read against */
		uint64_t hub_gen;          /* hub_gen then */
		struct index_msg *changed; /* owned; keywords owned, file NULL */
		size_t nchanged, capchanged;
		uint32_t *expunged;        /* owned */
		size_t nexpunged, capexpunged;
		uint64_t maxmodseq; /* mb's highestmodseq or a change's */
		bool kw_loaded;     /* kw holds the mailbox's keywords */
		struct store_select_info kw; /* only keywords used; owned */
	} memo;
	/* Bumped by store_hub_notify(), i.e. after every write this process
	 * makes: while it stays put, the memo's row is still what this
	 * process last wrote.  Guarded by lock. */
	uint64_t hub_gen;
	/* One inotify instance per watched mailbox, however many IDLE
	 * sessions (on any worker) watch it: the kernel queues one event per
	 * delivered file, not one per session.  Guarded by lock. */
	struct store_watch {
		int64_t mailbox_id;
		int fd;        /* owned: closed with the last reference */
		unsigned refs; /* views watching */
	} *watches;        /* owned; NULL when there are none */
	size_t nwatches;
	/* When each mailbox's Maildir was last looked at by any view (the
	 * look's start, CLOCK_MONOTONIC): one inotify event seen by 1,000
	 * IDLE sessions needs one look, not 1,000.  Guarded by lock. */
	struct store_dir_check {
		int64_t mailbox_id;  /* 0 = empty slot */
		struct timespec at;
	} dir_check[STORE_DIR_CHECKS];
	unsigned dir_check_next;
};


void store_user_ref(struct store_user *u);
void store_memo_clear(struct store_user *u);
void store_select_cache_clear(struct store_user *u);

/* Wake every view of mailbox_id except `except` (may be NULL): their
 * sessions sync at their next chance.  Caller holds u->lock. */
void store_hub_notify(struct store_user *u, int64_t mailbox_id,
		      const struct store_view *except);

/* Bring the mailbox's index in line with its Maildir folder (cheap when
 * the folder's mtimes say nothing changed) and wake its views if anything
 * did; failures are logged.  Caller holds u->lock. */
void store_mailbox_sync(struct store_user *u, const char *name,
			int64_t mailbox_id);

/* Queue the mailbox's pending flag renames (store-rename.c) for the
 * background thread.  May be called with u->lock held. */
void store_rename_kick(struct store_user *u, int64_t mailbox_id);
/* Queue every mailbox of the user with pending renames (store open).
 * Caller holds u->lock. */
void store_rename_resume(struct store_user *u);

/* Maildir directory of a valid mailbox name into out (cleared first). */
int store_name_to_dir(const char *name, struct buf *out,
		      enum store_error *err_r, const char **error_r);

/* Failing index call: set *err_r from the db's last error. Returns -1. */
int store_index_fail(struct store_user *u, enum store_error *err_r,
		     const char **error_r, const char *error);

/* Sorted, de-duplicated, space-separated keywords (malloc'd). */
char *store_keywords_join(const char *const *kw, size_t n);
unsigned store_flags_to_maildir(unsigned store_flags);
uint32_t store_flags_to_index(unsigned store_flags);
unsigned store_flags_from_index(uint32_t index_flags);
unsigned store_flags_from_maildir(unsigned maildir_flags);

#endif
