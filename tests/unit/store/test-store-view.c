/* Unit tests for store-view.c's hub and sync: views are woken by every
 * write of another view and by nothing else; a woken sync reports each
 * change once, even when several writes land between the first woken
 * view's sync and the others' (the shared change list must not answer for
 * a later write); a woken sync with nothing pending reads nothing; one
 * look at the Maildir (for an inotify event) wakes every view it finds
 * behind, including a change another process wrote to both the Maildir
 * and the index; expunges wait while not allowed; \Recent goes to one
 * view; the watch descriptor is one per mailbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sqlite3.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "store.h"

/* ---- helpers ---- */

struct seen {
	unsigned wakes;      /* notify hook calls */
	uint32_t exists;     /* last EXISTS, 0 if none since reset */
	uint32_t recent;
	uint32_t expunged[16];
	size_t nexpunged;
	size_t nflags;
};

struct fixture {
	char home[64];
	struct store_user *u;
	struct store_view *v[3];
	struct seen seen[3];
};

static void
rm_rf(const char *path)
{
	char sub[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static void
notify_cb(void *ctx)
{
	struct seen *s = ctx;

	s->wakes++;
}

static void
exists_cb(uint32_t count, uint32_t recent, void *ctx)
{
	struct seen *s = ctx;

	s->exists = count;
	s->recent = recent;
}

static void
expunge_cb(uint32_t seq, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->nexpunged < 16);
	s->expunged[s->nexpunged++] = seq;
}

static void
flags_cb(const struct store_msg *msg, void *ctx)
{
	struct seen *s = ctx;

	s->nflags++;
}

static const struct store_sync_cb sync_cb = {
	.expunge = expunge_cb,
	.exists = exists_cb,
	.flags = flags_cb,
};

static void
reset(struct seen *s)
{
	unsigned wakes = s->wakes;

	memset(s, 0, sizeof(*s));
	s->wakes = wakes;
}

static void
sync_woken(struct fixture *f, int i)
{
	enum store_error err;
	const char *error;

	reset(&f->seen[i]);
	assert_int_equal(store_view_sync_woken(f->v[i], &sync_cb, &f->seen[i],
					       &err, &error), 0);
}

static void
sync_view(struct fixture *f, int i, bool expunges_allowed)
{
	enum store_error err;
	const char *error;

	reset(&f->seen[i]);
	assert_int_equal(store_view_sync(f->v[i], expunges_allowed, &sync_cb,
					 &f->seen[i], &err, &error), 0);
}

static uint32_t
append_one(struct fixture *f, int n)
{
	char body[128];
	struct store_new_message m;
	enum store_error err;
	const char *error;
	uint32_t uidv, uid;

	snprintf(body, sizeof(body), "Subject: %d\r\n\r\nbody %d\r\n", n, n);
	memset(&m, 0, sizeof(m));
	m.data = body;
	m.len = strlen(body);
	m.internaldate = -1;
	assert_int_equal(store_append(f->u, "INBOX", &m, 1, &uidv, &uid, &err,
				      &error), 0);
	return uid;
}

static int
setup(void **state)
{
	static const char *const autocreate[] = { NULL };
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_select_info info;
	enum store_error err;
	const char *error;
	int i;

	static unsigned serial;
	char name[32];

	/* a user per test: background work of the last one (flag renames)
	 * may still hold the last one's user object */
	snprintf(name, sizeof(name), "alice%u", serial++);
	snprintf(f->home, sizeof(f->home), "/tmp/satchel-sv-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	f->u = store_user_open(name, f->home, autocreate, &err, &error);
	assert_non_null(f->u);
	for (i = 0; i < 3; i++) {
		f->v[i] = store_view_open(f->u, "INBOX", false, notify_cb,
					  &f->seen[i], &info, &err, &error);
		assert_non_null(f->v[i]);
		store_select_info_free(&info);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 3; i++)
		store_view_close(&f->v[i]);
	store_user_unref(&f->u);
	rm_rf(f->home);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void
test_woken_sync_reports_each_change_once(void **state)
{
	struct fixture *f = *state;

	append_one(f, 1);
	assert_int_equal(f->seen[0].wakes, 1);
	assert_int_equal(f->seen[2].wakes, 1);
	sync_woken(f, 0);
	assert_int_equal(f->seen[0].exists, 1);
	assert_int_equal(f->seen[0].recent, 1); /* the first to hear claims */
	/* a second write before views 1 and 2 got to the first: the answer
	 * computed for view 0 must not stand in for it */
	append_one(f, 2);
	sync_woken(f, 1);
	assert_int_equal(f->seen[1].exists, 2);
	assert_int_equal(f->seen[1].recent, 1); /* the second message only */
	sync_woken(f, 2);
	assert_int_equal(f->seen[2].exists, 2);
	assert_int_equal(f->seen[2].recent, 0);
	sync_woken(f, 0);
	assert_int_equal(f->seen[0].exists, 2);
	assert_int_equal(f->seen[0].recent, 1);
	/* nothing pending: nothing reported */
	sync_woken(f, 0);
	sync_woken(f, 1);
	assert_int_equal(f->seen[0].exists, 0);
	assert_int_equal(f->seen[1].exists, 0);
	assert_int_equal(store_view_count(f->v[0]), 2);
	assert_int_equal(store_view_count(f->v[2]), 2);
}

static void
test_expunges_wait_until_allowed(void **state)
{
	struct fixture *f = *state;
	struct store_uid_range r;
	enum store_error err;
	const char *error;
	unsigned wakes;
	int i;

	for (i = 0; i < 4; i++)
		append_one(f, i);
	for (i = 0; i < 3; i++)
		sync_view(f, i, true);
	assert_int_equal(store_view_count(f->v[1]), 4);
	r.lo = r.hi = store_view_uid(f->v[0], 2);
	wakes = f->seen[0].wakes;
	assert_int_equal(store_view_store(f->v[0], &r, 1, STORE_FLAGS_ADD,
					  STORE_FLAG_DELETED, NULL, 0, NULL,
					  NULL, &err, &error), 0);
	assert_int_equal(f->seen[0].wakes, wakes); /* not woken by its own */
	assert_int_equal(store_view_expunge(f->v[0], NULL, 0, NULL, NULL, &err,
					    &error), 0);
	/* FETCH by sequence number: the expunge waits (RFC 9051 7.5.1) */
	sync_view(f, 1, false);
	assert_int_equal(f->seen[1].nexpunged, 0);
	assert_int_equal(store_view_count(f->v[1]), 4);
	append_one(f, 9);
	sync_view(f, 1, false);
	assert_int_equal(f->seen[1].nexpunged, 0);
	assert_int_equal(f->seen[1].exists, 5);
	/* IDLE may: the held expunge, then nothing more */
	sync_woken(f, 1);
	assert_int_equal(f->seen[1].nexpunged, 1);
	assert_int_equal(f->seen[1].expunged[0], 2);
	assert_int_equal(store_view_count(f->v[1]), 4);
	/* view 2 gets both at once: the expunge first, EXISTS after it */
	sync_woken(f, 2);
	assert_int_equal(f->seen[2].nexpunged, 1);
	assert_int_equal(f->seen[2].expunged[0], 2);
	assert_int_equal(f->seen[2].exists, 4);
	/* view 0 made the expunge: only the append is news to it */
	sync_woken(f, 0);
	assert_int_equal(f->seen[0].nexpunged, 0);
	assert_int_equal(f->seen[0].nflags, 0);
	assert_int_equal(f->seen[0].exists, 4);
}

static int64_t
mtime_ns(const char *dir, const char *sub)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* Another process delivers: the file into new/, its row into the index,
 * and the Maildir's mtimes with it, so a look finds the folder in step. */
static void
deliver_elsewhere(const char *home, const char *name)
{
	static const char body[] = "Subject: elsewhere\r\n\r\nhi\r\n";
	char path[512], maildir[256];
	struct index_msg_new row;
	struct index_mailbox mb;
	struct index_db *db;
	enum index_error ierr;
	const char *error;
	uint64_t modseq;
	uint32_t uid;
	int fd;

	snprintf(maildir, sizeof(maildir), "%s/Maildir", home);
	snprintf(path, sizeof(path), "%s/new/%s", maildir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, body, sizeof(body) - 1), sizeof(body) - 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/satchel.db", home);
	assert_int_equal(index_open(path, &db, &ierr, &error), 0);
	assert_int_equal(index_mailbox_get(db, "INBOX", &mb, &error), 1);
	memset(&row, 0, sizeof(row));
	row.file = name;
	row.size = sizeof(body) - 1;
	row.internaldate = 1700000000;
	assert_int_equal(index_msg_append(db, mb.id, &row, 1, &uid, &modseq,
					  &error), 0);
	assert_int_equal(index_mailbox_set_mtimes(db, mb.id,
						  mtime_ns(maildir, "new"),
						  mtime_ns(maildir, "cur"),
						  &error), 0);
	index_close(&db);
}

static void
test_one_look_wakes_every_view_behind(void **state)
{
	struct fixture *f = *state;
	unsigned w1 = f->seen[1].wakes, w2 = f->seen[2].wakes;
	int fd0, fd1;

	/* one descriptor for the mailbox, however many watch it */
	fd0 = store_view_watch(f->v[0]);
	fd1 = store_view_watch(f->v[1]);
	assert_true(fd0 >= 0);
	assert_int_equal(fd0, fd1);
	assert_int_equal(store_view_watch(f->v[0]), fd0);
	deliver_elsewhere(f->home, "1700000000.elsewhere.host");
	/* inotify tells one session; its look covers the others */
	store_view_check_maildir(f->v[0]);
	sync_woken(f, 0);
	assert_int_equal(f->seen[0].exists, 1);
	assert_int_equal(f->seen[1].wakes, w1 + 1);
	assert_int_equal(f->seen[2].wakes, w2 + 1);
	sync_woken(f, 1);
	assert_int_equal(f->seen[1].exists, 1);
	sync_woken(f, 2);
	assert_int_equal(f->seen[2].exists, 1);
	/* a view asked to look after that look looks again; one asked
	 * before it doesn't need to */
	store_view_check_maildir(f->v[1]);
	sync_woken(f, 1);
	assert_int_equal(f->seen[1].exists, 0);
	store_view_unwatch(f->v[0]);
	store_view_unwatch(f->v[1]);
	store_view_unwatch(f->v[1]); /* twice is fine */
	fd0 = store_view_watch(f->v[2]);
	assert_true(fd0 >= 0);
	store_view_close(&f->v[2]); /* releases it */
}

/* UID runs that disagree with the message count (damaged behind the
 * index's back): SELECT lists the UIDs row by row instead, numbers the
 * messages right, and the runs are rewritten. */
static void
test_select_repairs_uid_runs(void **state)
{
	static const char *const autocreate[] = { NULL };
	struct fixture *f = *state;
	struct store_select_info info;
	enum store_error err;
	const char *error;
	char path[128], name[64];
	sqlite3 *raw;
	sqlite3_stmt *q;
	uint32_t seq;
	int i;

	for (i = 0; i < 10; i++)
		assert_int_equal(append_one(f, i), (uint32_t)i + 1);
	snprintf(name, sizeof(name), "%s", store_user_name(f->u));
	for (i = 0; i < 3; i++)
		store_view_close(&f->v[i]);
	store_user_unref(&f->u); /* the last reference: the index closes */
	snprintf(path, sizeof(path), "%s/satchel.db", f->home);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "UPDATE uid_ranges SET hi = hi + 5",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);

	f->u = store_user_open(name, f->home, autocreate, &err, &error);
	assert_non_null(f->u);
	f->v[0] = store_view_open(f->u, "INBOX", false, notify_cb, &f->seen[0],
				  &info, &err, &error);
	assert_non_null(f->v[0]);
	assert_int_equal(info.exists, 10);
	store_select_info_free(&info);
	for (seq = 1; seq <= 10; seq++) {
		assert_int_equal(store_view_uid(f->v[0], seq), seq);
		assert_int_equal(store_view_seq(f->v[0], seq), seq);
	}
	assert_int_equal(store_view_uid(f->v[0], 11), 0);
	assert_int_equal(store_view_max_uid(f->v[0]), 10);
	/* the runs were rewritten: one run, 1..10 */
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*), min(lo), "
					    "max(hi) FROM uid_ranges r JOIN "
					    "mailboxes m ON m.id = r.mailbox_id "
					    "WHERE m.name = 'INBOX'", -1, &q,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 1);
	assert_int_equal(sqlite3_column_int(q, 1), 1);
	assert_int_equal(sqlite3_column_int(q, 2), 10);
	sqlite3_finalize(q);
	sqlite3_close(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_woken_sync_reports_each_change_once, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_expunges_wait_until_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_one_look_wakes_every_view_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_select_repairs_uid_runs, setup, teardown),
	};

	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	store_shutdown();
	return ret;
}
