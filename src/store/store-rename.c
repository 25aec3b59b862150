/* store-rename: the Maildir renames behind STORE.
 *
 * STORE commits the new flags to the index and answers; the files' names
 * (":2,<flags>", what other Maildir programs read) follow here, on one
 * background thread, in batches that each hold the user's lock for a
 * bounded time.  The index remembers what each name still says
 * (messages.disk_flags), so nothing depends on this thread finishing: a
 * Maildir sync knows a pending change of ours from another program's
 * rename, expunge and copy find the file by its current name, and after
 * a crash or restart the next store open finds the pending rows and
 * queues them again.
 *
 * Order per batch: rename the files, fsync cur/, then record in the index
 * that the names are right.  Recording first could leave, after a crash,
 * an old name that a sync would take for another program's change.
 *
 * Locks: callers of store_rename_kick() may hold a user's lock; the queue
 * lock is taken inside it and never held while taking a user's lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"
#include "store-private.h"
#include "sync.h"
#include "xalloc.h"

/* Renames per lock hold: a few ms that a session's command may wait. */
#define RENAME_BATCH 200
/* Between batches the lock is left free this long, so that a session's
 * command (the FETCH replies of the STORE that queued the work, a sliced
 * FETCH) gets it rather than waiting behind every batch. */
#define RENAME_PAUSE_USEC 1000
/* A kick waits this long first: the client that stored usually reads
 * right after, and gets the lock to itself for that. */
#define RENAME_DELAY_USEC 50000

struct rename_job {
	struct rename_job *next;
	struct store_user *u; /* referenced */
	int64_t mailbox_id;
};

static pthread_mutex_t rq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rq_cond = PTHREAD_COND_INITIALIZER;
static struct rename_job *rq_head, *rq_tail; /* guarded by rq_lock */
static bool rq_started, rq_stop;             /* guarded by rq_lock */
static pthread_t rq_thread;

static bool
stopping(void)
{
	bool stop;

	pthread_mutex_lock(&rq_lock);
	stop = rq_stop;
	pthread_mutex_unlock(&rq_lock);
	return stop;
}

struct pending {
	uint32_t *uid, *flags, *disk;
	char **file;
	size_t n;
};

static void
pending_cb(const struct index_msg *m, void *ctx)
{
	struct pending *p = ctx;

	if (p->n >= RENAME_BATCH)
		return;
	p->uid[p->n] = m->uid;
	p->flags[p->n] = m->flags;
	p->disk[p->n] = m->disk_flags;
	p->file[p->n] = xstrdup(m->file);
	p->n++;
}

struct name_find {
	int64_t id;
	char *name;
};

static void
name_cb(const struct index_mailbox_info *info, void *ctx)
{
	struct name_find *nf = ctx;

	if (info->id == nf->id && nf->name == NULL && !info->noselect)
		nf->name = xstrdup(info->name);
}

static unsigned
maildir_flags_of(uint32_t index_flags)
{
	return store_flags_to_maildir(store_flags_from_index(index_flags));
}

/* The mailbox's current name into *name (kept between batches: looked
 * up by id only when it is not, or no longer, this mailbox's name, as
 * after a RENAME).  false when the mailbox is gone.  Caller holds the
 * lock. */
static bool
mailbox_name(struct store_user *u, int64_t mailbox_id, char **name)
{
	struct name_find nf = { mailbox_id, NULL };
	struct index_mailbox mb;
	const char *error;

	if (*name != NULL && index_mailbox_get(u->db, *name, &mb, &error) > 0 &&
	    mb.id == mailbox_id && !mb.noselect)
		return true;
	free(*name);
	*name = NULL;
	if (index_mailbox_list(u->db, name_cb, &nf, &error) < 0) {
		log_warn("user=%s flag renames: listing mailboxes: %s", u->name,
			 error);
		return false;
	}
	*name = nf.name;
	return *name != NULL;
}

/* One batch of the mailbox's pending renames with UID > *after; *name
 * caches the mailbox's name between batches.  Returns 1 when more may
 * follow, 0 when done, -1 when the mailbox is gone or the index failed
 * (logged). */
static int
rename_batch(struct store_user *u, int64_t mailbox_id, uint32_t *after,
	     char **name_cache)
{
	struct pending p;
	struct buf dir, name, newname;
	enum store_error e;
	const char *error;
	uint32_t *done_uid, *done_flags;
	size_t i, ndone = 0, failed = 0;
	bool clean = false;
	int ret = -1;

	memset(&p, 0, sizeof(p));
	p.uid = xcalloc(RENAME_BATCH, sizeof(uint32_t));
	p.flags = xcalloc(RENAME_BATCH, sizeof(uint32_t));
	p.disk = xcalloc(RENAME_BATCH, sizeof(uint32_t));
	p.file = xcalloc(RENAME_BATCH, sizeof(char *));
	done_uid = xcalloc(RENAME_BATCH, sizeof(uint32_t));
	done_flags = xcalloc(RENAME_BATCH, sizeof(uint32_t));
	buf_init(&dir, 0);
	buf_init(&name, 0);
	buf_init(&newname, 0);
	pthread_mutex_lock(&u->lock);
	/* by id: the mailbox may have been renamed since the kick */
	if (!mailbox_name(u, mailbox_id, name_cache) ||
	    store_name_to_dir(*name_cache, &dir, &e, &error) < 0)
		goto out; /* deleted meanwhile: its files went with it */
	if (index_msg_pending(u->db, mailbox_id, *after, RENAME_BATCH,
			      pending_cb, &p, &error) < 0) {
		log_warn("user=%s mailbox=%s flag renames: %s", u->name, *name_cache,
			 error);
		goto out;
	}
	sync_own_write_begin(u->db, u->root, u->root_fd,
			     buf_cstr(&dir), mailbox_id, &clean);
	for (i = 0; i < p.n; i++) {
		buf_clear(&name);
		buf_clear(&newname);
		maildir_filename_build(&name, p.file[i], strlen(p.file[i]),
				       maildir_flags_of(p.disk[i]), 0);
		if (maildir_file_set_flags(u->root, buf_cstr(&dir),
					   buf_cstr(&name), false,
					   maildir_flags_of(p.flags[i]), 0,
					   &newname, &e, &error) < 0) {
			/* gone (another program expunged it: the next sync
			 * expunges the row) or unwritable: stays pending */
			if (e != STORE_ERR_EXPUNGED && failed++ == 0)
				log_warn("user=%s mailbox=%s flag rename of %s: %s",
					 u->name, *name_cache, p.file[i], error);
			continue;
		}
		done_uid[ndone] = p.uid[i];
		done_flags[ndone] = p.flags[i];
		ndone++;
	}
	if (ndone > 0 &&
	    maildir_dir_fsync(u->root, buf_cstr(&dir), "cur", &e, &error) < 0) {
		log_warn("user=%s mailbox=%s flag renames: %s", u->name, *name_cache,
			 error);
		sync_own_write_end(u->db, u->root, u->root_fd,
				   buf_cstr(&dir), mailbox_id,
				   false);
		goto out;
	}
	if (ndone > 0 && index_msg_renamed(u->db, mailbox_id, done_uid,
					   done_flags, ndone, &error) < 0) {
		log_warn("user=%s mailbox=%s recording flag renames: %s",
			 u->name, *name_cache, error);
		sync_own_write_end(u->db, u->root, u->root_fd,
				   buf_cstr(&dir), mailbox_id,
				   false);
		goto out;
	}
	sync_own_write_end(u->db, u->root, u->root_fd,
			   buf_cstr(&dir), mailbox_id, clean);
	if (p.n > 0)
		*after = p.uid[p.n - 1];
	ret = p.n == RENAME_BATCH ? 1 : 0;
out:
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < p.n; i++)
		free(p.file[i]);
	free(p.uid);
	free(p.flags);
	free(p.disk);
	free(p.file);
	free(done_uid);
	free(done_flags);
	buf_deinit(&dir);
	buf_deinit(&name);
	buf_deinit(&newname);
	return ret;
}

static void *
rename_main(void *arg)
{
	struct rename_job *j;
	uint32_t after;
	unsigned rounds;
	char *name;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&rq_lock);
		while (rq_head == NULL && !rq_stop)
			pthread_cond_wait(&rq_cond, &rq_lock);
		if (rq_stop) {
			pthread_mutex_unlock(&rq_lock);
			break;
		}
		j = rq_head;
		rq_head = j->next;
		if (rq_head == NULL)
			rq_tail = NULL;
		pthread_mutex_unlock(&rq_lock);
		/* One pass over the pending rows (the cursor moves on past
		 * failures); bounded by 2^32 / RENAME_BATCH rounds. */
		after = 0;
		name = NULL;
		usleep(RENAME_DELAY_USEC);
		for (rounds = 0; rounds < UINT32_MAX / RENAME_BATCH + 1; rounds++) {
			if (stopping() ||
			    rename_batch(j->u, j->mailbox_id, &after, &name) <= 0)
				break;
			usleep(RENAME_PAUSE_USEC);
		}
		free(name);
		store_user_unref(&j->u);
		free(j);
	}
	return NULL;
}

void
store_rename_kick(struct store_user *u, int64_t mailbox_id)
{
	struct rename_job *j;

	pthread_mutex_lock(&rq_lock);
	if (rq_stop) {
		pthread_mutex_unlock(&rq_lock);
		return;
	}
	for (j = rq_head; j != NULL; j = j->next) {
		if (j->u == u && j->mailbox_id == mailbox_id) {
			pthread_mutex_unlock(&rq_lock);
			return; /* queued, not started: it will see this too */
		}
	}
	if (!rq_started) {
		if (pthread_create(&rq_thread, NULL, rename_main, NULL) != 0) {
			pthread_mutex_unlock(&rq_lock);
			log_error("flag renames: cannot start the thread; they "
				  "wait for the next start");
			return;
		}
		rq_started = true;
	}
	j = xmalloc(sizeof(*j));
	store_user_ref(u);
	j->u = u;
	j->mailbox_id = mailbox_id;
	if (rq_tail != NULL)
		rq_tail->next = j;
	else
		rq_head = j;
	rq_tail = j;
	pthread_cond_signal(&rq_cond);
	pthread_mutex_unlock(&rq_lock);
}

static void
kick_cb(int64_t mailbox_id, void *ctx)
{
	store_rename_kick(ctx, mailbox_id);
}

void
store_rename_resume(struct store_user *u)
{
	const char *error;

	if (index_msg_pending_mailboxes(u->db, kick_cb, u, &error) < 0)
		log_warn("user=%s flag renames: finding pending ones: %s",
			 u->name, error);
}

void
store_shutdown(void)
{
	struct rename_job *j, *next;
	bool join;

	pthread_mutex_lock(&rq_lock);
	rq_stop = true;
	join = rq_started;
	rq_started = false; /* a second call joins nothing */
	pthread_cond_broadcast(&rq_cond);
	j = rq_head;
	rq_head = rq_tail = NULL;
	pthread_mutex_unlock(&rq_lock);
	/* the running batch finishes; queued ones wait for the next start */
	if (join)
		pthread_join(rq_thread, NULL);
	for (; j != NULL; j = next) {
		next = j->next;
		store_user_unref(&j->u);
		free(j);
	}
}
