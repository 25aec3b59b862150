/* Unit tests for sync.c (and index_mailbox_set_uids, which it needs):
 * new files get UIDs in delivery order with flags, size and internaldate
 * from the file; vanished files are expunged; flag renames by another tool
 * reach the index and keep keywords; the mtime check skips unchanged
 * folders (timed) and distrusts recent mtimes; a crash leftover is
 * indexed exactly once; a Dovecot Maildir (the real fixture in
 * tests/data/dovecot-maildir and hand-made ones) keeps UIDVALIDITY, UIDs,
 * flags and keywords; and a 20,000-file folder (SYNC_BIG_N to change)
 * with timings for the import, a no-change rescan and the mtime check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "index.h"
#include "maildir.h"
#include "sync.h"

#ifndef SATCHEL_SOURCE_ROOT
#error "meson passes SATCHEL_SOURCE_ROOT"
#endif
#define FIXTURE SATCHEL_SOURCE_ROOT "/tests/data/dovecot-maildir/Maildir"

/* ---- helpers ---- */

struct fixture {
	char tmp[64];
	char root[128];
	char dbpath[128];
	struct index_db *db;
	int64_t inbox;
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
copy_tree(const char *from, const char *to)
{
	char a[4096], b[4096], data[8192];
	struct dirent *de;
	struct stat st;
	DIR *d;
	ssize_t n;
	int in, out;

	assert_int_equal(mkdir(to, 0700), 0);
	d = opendir(from);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, de->d_name);
		assert_int_equal(lstat(a, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
			continue;
		}
		in = open(a, O_RDONLY);
		out = open(b, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(in >= 0 && out >= 0);
		while ((n = read(in, data, sizeof(data))) > 0)
			assert_int_equal(write(out, data, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

static void
sub_path(char *out, size_t size, const char *root, const char *dir,
	 const char *sub, const char *fname)
{
	int n = snprintf(out, size, "%s%s%s/%s%s%s", root, *dir ? "/" : "",
			 dir, sub, fname ? "/" : "", fname ? fname : "");

	assert_true(n > 0 && (size_t)n < size);
}

/* A hand-made message file: what another program leaves behind. */
static void
put_file(const char *root, const char *dir, const char *sub,
	 const char *fname, const char *data, time_t mtime)
{
	char p[4096];
	struct timespec ts[2];
	FILE *f;

	sub_path(p, sizeof(p), root, dir, sub, fname);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
	if (mtime != 0) {
		ts[0].tv_sec = ts[1].tv_sec = mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
}

static void
rename_file(const char *root, const char *dir, const char *sub1,
	    const char *from, const char *sub2, const char *to)
{
	char a[4096], b[4096];

	sub_path(a, sizeof(a), root, dir, sub1, from);
	sub_path(b, sizeof(b), root, dir, sub2, to);
	assert_int_equal(rename(a, b), 0);
}

static bool
file_exists(const char *root, const char *dir, const char *sub,
	    const char *fname)
{
	char p[4096];
	struct stat st;

	sub_path(p, sizeof(p), root, dir, sub, fname);
	return stat(p, &st) == 0;
}

/* Set cur/ and new/ mtimes to `when` (seconds) plus nsec: an old,
 * trusted directory, or the same value again after a hidden change. */
static void
set_dir_mtimes(const char *root, const char *dir, time_t when, long nsec)
{
	static const char *const subs[] = { "new", "cur" };
	struct timespec ts[2];
	char p[4096];
	size_t i;

	for (i = 0; i < 2; i++) {
		sub_path(p, sizeof(p), root, dir, subs[i], NULL);
		ts[0].tv_sec = ts[1].tv_sec = when;
		ts[0].tv_nsec = ts[1].tv_nsec = nsec;
		assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
}

/* Deliver through the Maildir layer (durable, into cur/ or new/) without
 * touching the index: exactly what a crash before the commit leaves.
 * Returns the base name (malloc'd). */
static char *
deliver(const char *root, const char *dir, const char *data, unsigned flags,
	bool to_new)
{
	struct maildir_delivery *d;
	struct maildir_filename fn;
	enum store_error err;
	const char *error;
	struct buf name;
	char *base;

	d = maildir_delivery_begin(root, dir, &err, &error);
	assert_non_null(d);
	assert_int_equal(maildir_delivery_write(d, data, strlen(data), &err,
						&error), 0);
	buf_init(&name, 0);
	assert_int_equal(maildir_delivery_commit(&d, flags, 0, to_new, &name,
						 &err, &error), 0);
	assert_int_equal(maildir_filename_parse(buf_cstr(&name), name.len,
						&fn), 0);
	base = strndup(fn.base, fn.base_len);
	buf_deinit(&name);
	return base;
}

struct msgs {
	struct index_msg v[64];
	char *kw[64];
	char *file[64];
	size_t n;
};

static void
msgs_cb(const struct index_msg *msg, void *ctx)
{
	struct msgs *m = ctx;

	assert_true(m->n < 64);
	m->v[m->n] = *msg;
	m->kw[m->n] = strdup(msg->keywords);
	m->file[m->n] = strdup(msg->file);
	m->v[m->n].keywords = m->kw[m->n];
	m->v[m->n].file = m->file[m->n];
	m->n++;
}

static void
msgs_load(struct index_db *db, int64_t id, struct msgs *m)
{
	struct index_uid_range all = { 1, UINT32_MAX };
	const char *error;

	memset(m, 0, sizeof(*m));
	assert_int_equal(index_msg_fetch(db, id, &all, 1, msgs_cb, m, &error),
			 0);
}

static void
msgs_free(struct msgs *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free(m->kw[i]);
		free(m->file[i]);
	}
	m->n = 0;
}

static uint32_t
msg_count(struct index_db *db, int64_t id)
{
	struct index_status st;
	const char *error;

	assert_int_equal(index_mailbox_status(db, id, &st, &error), 0);
	return st.messages;
}

static void
do_sync(struct fixture *f, const char *dir, int64_t id, unsigned flags,
	struct sync_result *res)
{
	enum store_error err;
	const char *error = NULL;

	if (sync_mailbox(f->db, f->root, dir, id, flags, res, &err,
			 &error) < 0) {
		print_error("sync_mailbox(%s): %s\n", dir, error);
		fail();
	}
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	enum index_error ierr;
	enum store_error err;
	const char *error;
	uint32_t uidv;

	assert_non_null(f);
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/test-sync-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->root, sizeof(f->root), "%s/Maildir", f->tmp);
	snprintf(f->dbpath, sizeof(f->dbpath), "%s/satchel.db", f->tmp);
	assert_int_equal(maildir_root_create(f->root, &err, &error), 0);
	assert_int_equal(index_open(f->dbpath, &f->db, &ierr, &error), 0);
	assert_int_equal(index_mailbox_create(f->db, "INBOX", NULL, 0,
					      &f->inbox, &uidv, &error), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	index_close(&f->db);
	rm_rf(f->tmp);
	free(f);
	return 0;
}

/* ---- tests ---- */

/* Files without a row get UIDs in delivery order (numeric seconds, then
 * microseconds: "M5" before "M20"), flags from the name, size from ",S="
 * or the file, internaldate from the mtime; new/ files stay in new/. */
static void
test_new_files(void **state)
{
	struct fixture *f = *state;
	struct sync_result res;
	struct msgs m;

	put_file(f->root, "", "new", "1000000003.M1P1.host", "three\n",
		 1500000003);
	put_file(f->root, "", "new", "1000000001.M20P1.host", "two\n",
		 1500000002);
	put_file(f->root, "", "cur", "1000000001.M5P1.host:2,S", "one\n",
		 1500000001);
	/* ",S=" wins over the file size (Dovecot's physical size). */
	put_file(f->root, "", "cur", "1000000002.M1P1.host,S=77:2,FRT",
		 "four\n", 1500000004);
	put_file(f->root, "", "cur", "1000000004.M1P1.host:2,DP", "draft\n",
		 1500000005);
	put_file(f->root, "", "cur", ".hidden", "x", 0);
	put_file(f->root, "", "tmp", "1000000000.M1P1.host", "garbage", 0);

	do_sync(f, "", f->inbox, 0, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added, 5);
	assert_int_equal(res.expunged, 0);
	assert_int_equal(res.flag_changed, 0);
	assert_int_equal(res.imported, 0);

	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 5);
	assert_int_equal(m.v[0].uid, 1);
	assert_string_equal(m.v[0].file, "1000000001.M5P1.host");
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN);
	assert_int_equal(m.v[0].size, 4);
	assert_int_equal(m.v[0].internaldate, 1500000001);
	assert_int_equal(m.v[1].uid, 2);
	assert_string_equal(m.v[1].file, "1000000001.M20P1.host");
	assert_int_equal(m.v[1].flags, 0);
	assert_int_equal(m.v[2].uid, 3);
	assert_string_equal(m.v[2].file, "1000000002.M1P1.host,S=77");
	assert_int_equal(m.v[2].flags, INDEX_FLAG_FLAGGED |
			 INDEX_FLAG_ANSWERED | INDEX_FLAG_DELETED);
	assert_int_equal(m.v[2].size, 77);
	assert_int_equal(m.v[3].uid, 4);
	assert_string_equal(m.v[3].file, "1000000003.M1P1.host");
	assert_int_equal(m.v[3].internaldate, 1500000003);
	assert_int_equal(m.v[4].uid, 5);
	assert_int_equal(m.v[4].flags, INDEX_FLAG_DRAFT); /* P: no flag */
	msgs_free(&m);

	/* Nothing was moved or deleted. */
	assert_true(file_exists(f->root, "", "new", "1000000003.M1P1.host"));
	assert_true(file_exists(f->root, "", "new", "1000000001.M20P1.host"));
	assert_true(file_exists(f->root, "", "tmp", "1000000000.M1P1.host"));

	/* Again, forced: nothing to do, no duplicates. */
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added + res.expunged + res.flag_changed, 0);
	assert_int_equal(msg_count(f->db, f->inbox), 5);

	/* Later mail gets UIDs above the old ones even if its name sorts
	 * first. */
	put_file(f->root, "", "new", "0999.M1P1.host", "early\n", 0);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.added, 1);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 6);
	assert_int_equal(m.v[5].uid, 6);
	assert_string_equal(m.v[5].file, "0999.M1P1.host");
	msgs_free(&m);
}

/* Another program deletes one file and renames another's flags. */
static void
test_expunge_and_flags(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r2 = { 2, 2 };
	struct index_store req;
	struct sync_result res;
	struct index_status st;
	struct msgs m;
	const char *error;
	char *b[4], from[512], to[512];
	uint64_t modseq_before;
	size_t i;

	for (i = 0; i < 4; i++)
		b[i] = deliver(f->root, "", "Subject: x\n\nbody\n",
			       i == 1 ? MAILDIR_FLAG_SEEN : 0, false);
	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 4);

	/* A keyword only the index knows must survive the flag sync. */
	memset(&req, 0, sizeof(req));
	req.mode = INDEX_STORE_ADD;
	req.keywords = "$Work";
	assert_int_equal(index_msg_store(f->db, f->inbox, &r2, 1, &req, NULL,
					 NULL, NULL, &error), 0);
	assert_int_equal(index_mailbox_status(f->db, f->inbox, &st, &error),
			 0);
	modseq_before = st.highestmodseq;
	assert_int_equal(st.unseen, 3);

	/* uid 1 deleted, uid 2 ":2,S" -> ":2,RS", uid 3 ":2," -> ":2,ST",
	 * uid 4 untouched. */
	snprintf(from, sizeof(from), "%s:2,", b[0]);
	{
		char p[4096];

		sub_path(p, sizeof(p), f->root, "", "cur", from);
		assert_int_equal(unlink(p), 0);
	}
	snprintf(from, sizeof(from), "%s:2,S", b[1]);
	snprintf(to, sizeof(to), "%s:2,RS", b[1]);
	rename_file(f->root, "", "cur", from, "cur", to);
	snprintf(from, sizeof(from), "%s:2,", b[2]);
	snprintf(to, sizeof(to), "%s:2,ST", b[2]);
	rename_file(f->root, "", "cur", from, "cur", to);

	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.expunged, 1);
	assert_int_equal(res.flag_changed, 2);

	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.v[0].uid, 2);
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN | INDEX_FLAG_ANSWERED);
	assert_string_equal(m.v[0].keywords, "$Work");
	assert_true(m.v[0].modseq > modseq_before);
	assert_int_equal(m.v[1].uid, 3);
	assert_int_equal(m.v[1].flags, INDEX_FLAG_SEEN | INDEX_FLAG_DELETED);
	assert_int_equal(m.v[2].uid, 4);
	assert_int_equal(m.v[2].flags, 0);
	assert_true(m.v[2].modseq <= modseq_before);
	msgs_free(&m);
	assert_int_equal(index_mailbox_status(f->db, f->inbox, &st, &error),
			 0);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.deleted, 1);

	/* Flags removed by the other tool: ":2,RS" -> ":2,". */
	snprintf(from, sizeof(from), "%s:2,RS", b[1]);
	snprintf(to, sizeof(to), "%s:2,", b[1]);
	rename_file(f->root, "", "cur", from, "cur", to);
	/* A file moved back to new/ without info says nothing about
	 * flags: uid 3 keeps \Seen \Deleted. */
	snprintf(from, sizeof(from), "%s:2,ST", b[2]);
	rename_file(f->root, "", "cur", from, "new", b[2]);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.flag_changed, 1);
	assert_int_equal(res.expunged, 0);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.v[0].flags, 0);
	assert_string_equal(m.v[0].keywords, "$Work");
	assert_int_equal(m.v[1].flags, INDEX_FLAG_SEEN | INDEX_FLAG_DELETED);
	msgs_free(&m);

	for (i = 0; i < 4; i++)
		free(b[i]);
}

/* A STORE whose rename is still pending (the index's disk_flags) is not
 * taken back by a sync; another program's rename of such a file wins;
 * a recorded rename leaves nothing pending. */
static void
test_pending_rename(void **state)
{
	struct fixture *f = *state;
	struct index_uid_range r = { 1, 3 };
	struct index_store req;
	struct sync_result res;
	struct msgs m;
	const char *error;
	char *b[3], from[512], to[512];
	uint32_t uid, fl;
	size_t i;

	for (i = 0; i < 3; i++)
		b[i] = deliver(f->root, "", "Subject: x\n\nbody\n", 0, false);
	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 3);
	memset(&req, 0, sizeof(req));
	req.mode = INDEX_STORE_ADD;
	req.flags = INDEX_FLAG_SEEN;
	assert_int_equal(index_msg_store(f->db, f->inbox, &r, 1, &req, NULL,
					 NULL, NULL, &error), 0);
	/* nothing renamed yet: a forced sync keeps \Seen */
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.flag_changed, 0);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(m.v[i].flags, INDEX_FLAG_SEEN);
		assert_int_equal(m.v[i].disk_flags, 0);
	}
	msgs_free(&m);
	/* uid 1: renamed by us and recorded; uid 2: another program marks
	 * it flagged (its flags win); uid 3: still pending */
	snprintf(from, sizeof(from), "%s:2,", b[0]);
	snprintf(to, sizeof(to), "%s:2,S", b[0]);
	rename_file(f->root, "", "cur", from, "cur", to);
	uid = 1;
	fl = INDEX_FLAG_SEEN;
	assert_int_equal(index_msg_renamed(f->db, f->inbox, &uid, &fl, 1,
					   &error), 0);
	snprintf(from, sizeof(from), "%s:2,", b[1]);
	snprintf(to, sizeof(to), "%s:2,F", b[1]);
	rename_file(f->root, "", "cur", from, "cur", to);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.flag_changed, 1);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN);
	assert_int_equal(m.v[0].disk_flags, INDEX_FLAG_SEEN);
	assert_int_equal(m.v[1].flags, INDEX_FLAG_FLAGGED);
	assert_int_equal(m.v[1].disk_flags, INDEX_FLAG_FLAGGED);
	assert_int_equal(m.v[2].flags, INDEX_FLAG_SEEN);
	assert_int_equal(m.v[2].disk_flags, 0);
	msgs_free(&m);
	/* a third program renames uid 3 to what we wanted: nothing to do */
	snprintf(from, sizeof(from), "%s:2,", b[2]);
	snprintf(to, sizeof(to), "%s:2,S", b[2]);
	rename_file(f->root, "", "cur", from, "cur", to);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.flag_changed, 0);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.v[2].flags, INDEX_FLAG_SEEN);
	assert_int_equal(m.v[2].disk_flags, INDEX_FLAG_SEEN);
	msgs_free(&m);
	for (i = 0; i < 3; i++)
		free(b[i]);
}

/* Unchanged mtimes: nothing is read.  Recent mtimes are not trusted. */
static void
test_mtime_fast_path(void **state)
{
	struct fixture *f = *state;
	struct sync_result res;
	time_t old = time(NULL) - 3600;
	double t0, t1;
	char *b;
	int i;

	b = deliver(f->root, "", "Subject: a\n\nbody\n", 0, false);
	free(b);
	/* Fresh mtimes (just written): scanned, and saved as untrusted, so
	 * the next sync scans again even though nothing changed. */
	do_sync(f, "", f->inbox, 0, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added, 1);
	do_sync(f, "", f->inbox, 0, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added, 0);

	/* Old mtimes: one more scan saves them, then the check skips. */
	set_dir_mtimes(f->root, "", old, 123456789);
	do_sync(f, "", f->inbox, 0, &res);
	assert_true(res.scanned);
	do_sync(f, "", f->inbox, 0, &res);
	assert_false(res.scanned);

	/* A file slipped in but the mtimes read the same: without FORCE it
	 * is not seen (that is the promise of the cheap path), with FORCE
	 * it is. */
	put_file(f->root, "", "cur", "1600000000.M1P9.other:2,S", "x\n", 0);
	set_dir_mtimes(f->root, "", old, 123456789);
	do_sync(f, "", f->inbox, 0, &res);
	assert_false(res.scanned);
	assert_int_equal(res.added, 0);
	assert_int_equal(msg_count(f->db, f->inbox), 1);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added, 1);

	/* A change by nanoseconds is a change. */
	put_file(f->root, "", "new", "1600000001.M1P9.other", "y\n", 0);
	set_dir_mtimes(f->root, "", old, 123456790);
	do_sync(f, "", f->inbox, 0, &res);
	assert_true(res.scanned);
	assert_int_equal(res.added, 1);
	do_sync(f, "", f->inbox, 0, &res);
	assert_false(res.scanned);

	t0 = now_sec();
	for (i = 0; i < 10000; i++) {
		do_sync(f, "", f->inbox, 0, &res);
		assert_false(res.scanned);
	}
	t1 = now_sec();
	print_message("mtime check: %.1f us per sync (10,000 runs)\n",
		      (t1 - t0) * 1e6 / 10000);
	assert_true(t1 - t0 < 10.0);
}

/* A crash between the rename into cur/ and the index commit leaves a file
 * without a row: the next sync indexes it, the one after doesn't again. */
static void
test_crash_leftover(void **state)
{
	struct fixture *f = *state;
	struct index_msg_new row;
	struct sync_result res;
	struct msgs m;
	const char *error;
	uint32_t uid;
	char *done, *lost;

	/* A completed APPEND: file and row. */
	done = deliver(f->root, "", "Subject: done\n\nx\n", MAILDIR_FLAG_SEEN,
		       false);
	memset(&row, 0, sizeof(row));
	row.file = done;
	row.flags = INDEX_FLAG_SEEN;
	row.internaldate = 1;
	row.size = 17;
	assert_int_equal(index_msg_append(f->db, f->inbox, &row, 1, &uid, NULL,
					  &error), 0);
	assert_int_equal(uid, 1);
	/* The crashed one: file only. */
	lost = deliver(f->root, "", "Subject: lost\n\ny\n", 0, false);

	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 1);
	assert_int_equal(res.expunged, 0);
	assert_int_equal(res.flag_changed, 0);
	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	assert_int_equal(res.added, 0);
	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 0);

	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.v[0].file, done);
	assert_int_equal(m.v[0].internaldate, 1); /* the row is not touched */
	assert_int_equal(m.v[1].uid, 2);
	assert_string_equal(m.v[1].file, lost);
	assert_int_equal(m.v[1].size, strlen("Subject: lost\n\ny\n"));
	msgs_free(&m);
	free(done);
	free(lost);
}

/* One message under two names (cur/ and new/): indexed once; a missing
 * folder is NOTFOUND and leaves the index alone. */
static void
test_duplicates_and_missing(void **state)
{
	struct fixture *f = *state;
	struct sync_result res;
	enum store_error err;
	const char *error;
	int64_t id;
	uint32_t uidv;
	struct msgs m;

	put_file(f->root, "", "new", "1700000000.M1P1.h", "a\n", 0);
	put_file(f->root, "", "cur", "1700000000.M1P1.h:2,S", "a\n", 0);
	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 1);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN); /* the cur/ one */
	msgs_free(&m);

	assert_int_equal(index_mailbox_create(f->db, "Gone", NULL, 0, &id,
					      &uidv, &error), 0);
	assert_int_equal(sync_mailbox(f->db, f->root, ".Gone", id, 0, &res,
				      &err, &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);
	assert_int_equal(sync_mailbox(f->db, f->root, "../x", id, 0, &res,
				      &err, &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);
	assert_int_equal(sync_mailbox(f->db, f->root, "", 9999, 0, &res,
				      &err, &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);

	/* sync_user skips the folderless mailbox and syncs the rest. */
	put_file(f->root, "", "new", "1700000001.M1P1.h", "b\n", 0);
	assert_int_equal(sync_user(f->db, f->root, 0, &res, &err, &error), 0);
	assert_int_equal(res.added, 1);
	assert_int_equal(msg_count(f->db, f->inbox), 2);
	assert_int_equal(msg_count(f->db, id), 0);
}

/* index_mailbox_set_uids, the call the import needs. */
static void
test_set_uids(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb;
	struct index_msg_new row;
	const char *error;
	int64_t id, id2;
	uint32_t uidv, uid;

	assert_int_equal(index_mailbox_create(f->db, "Old", NULL, 0, &id,
					      &uidv, &error), 0);
	/* An older UIDVALIDITY on an empty mailbox: accepted. */
	assert_int_equal(index_mailbox_set_uids(f->db, id, 1000, 7, &error),
			 0);
	assert_int_equal(index_mailbox_get_by_id(f->db, id, &mb, &error), 1);
	assert_int_equal(mb.uidvalidity, 1000);
	assert_int_equal(mb.uidnext, 7);
	assert_int_equal(mb.recent_uid, 7);
	/* Same UIDVALIDITY: up is fine, down is not. */
	assert_int_equal(index_mailbox_set_uids(f->db, id, 1000, 9, &error),
			 0);
	assert_int_equal(index_mailbox_set_uids(f->db, id, 1000, 8, &error),
			 -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	memset(&row, 0, sizeof(row));
	row.file = "f1";
	assert_int_equal(index_msg_append(f->db, id, &row, 1, &uid, NULL,
					  &error), 0);
	assert_int_equal(uid, 9);
	/* A mailbox with messages keeps its UIDVALIDITY. */
	assert_int_equal(index_mailbox_set_uids(f->db, id, 2000, 20, &error),
			 -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_INVALID);
	assert_int_equal(index_mailbox_set_uids(f->db, id, 0, 20, &error), -1);
	assert_int_equal(index_mailbox_set_uids(f->db, 9999, 5, 5, &error),
			 -1);
	assert_int_equal(index_last_error(f->db), INDEX_ERR_NOTFOUND);
	/* A far-future imported value moves the user's sequence past it. */
	assert_int_equal(index_mailbox_create(f->db, "Future", NULL, 0, &id2,
					      &uidv, &error), 0);
	assert_int_equal(index_mailbox_set_uids(f->db, id2, 4000000000u, 1,
						&error), 0);
	assert_int_equal(index_mailbox_create(f->db, "After", NULL, 0, &id,
					      &uidv, &error), 0);
	assert_true(uidv > 4000000000u);
}

/* The real Dovecot-written Maildir: every folder keeps its UIDVALIDITY,
 * UIDs, flags and keywords. */
static void
folder_cb(const char *name, const char *dir, void *ctx)
{
	struct fixture *f = ctx;
	const char *error;
	int64_t id;
	uint32_t uidv;

	(void)dir;
	assert_int_equal(index_mailbox_create(f->db, name, NULL, 0, &id,
					      &uidv, &error), 0);
}

static void
test_dovecot_fixture(void **state)
{
	struct fixture *f = *state;
	static const char *const dirs[] = {
		"", ".Work.Projects", ".a\\2eb", ".Entw&APw-rfe",
	};
	struct index_mailbox mb;
	struct sync_result res;
	enum store_error err;
	const char *error;
	unsigned skipped;
	char p[4096];
	struct msgs m;
	size_t i;

	rm_rf(f->root);
	copy_tree(FIXTURE, f->root);
	for (i = 0; i < 4; i++) {
		static const char *const subs[] = { "cur", "new", "tmp" };
		size_t j;

		for (j = 0; j < 3; j++) {
			sub_path(p, sizeof(p), f->root, dirs[i], subs[j], NULL);
			assert_true(mkdir(p, 0700) == 0 || errno == EEXIST);
		}
	}
	assert_int_equal(maildir_folder_list(f->root, folder_cb, f, &skipped,
					     &err, &error), 0);
	assert_int_equal(sync_user(f->db, f->root, SYNC_FLAG_IMPORT_DOVECOT,
				   &res, &err, &error), 0);
	assert_int_equal(res.added, 4);
	assert_int_equal(res.imported, 4);

	/* INBOX: "3 V1795663852 N1", uid 1 (N raised to 2). */
	assert_int_equal(index_mailbox_get(f->db, "INBOX", &mb, &error), 1);
	assert_int_equal(mb.uidvalidity, 1795663852u);
	assert_int_equal(mb.uidnext, 2);
	msgs_load(f->db, mb.id, &m);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.v[0].uid, 1);
	assert_string_equal(m.v[0].file,
			    "1795663851.M948088P16925.vm,S=140,W=147");
	assert_int_equal(m.v[0].flags, 0);
	assert_int_equal(m.v[0].size, 140);
	msgs_free(&m);
	assert_true(file_exists(f->root, "", "new",
				"1795663851.M948088P16925.vm,S=140,W=147"));

	/* Work/Projects: uid 1 \Seen $Important (":2,Sa"), uid 2 \Flagged
	 * \Answered, both still in new/. */
	assert_int_equal(index_mailbox_get(f->db, "Work/Projects", &mb,
					   &error), 1);
	assert_int_equal(mb.uidvalidity, 1795663851u);
	assert_int_equal(mb.uidnext, 3);
	msgs_load(f->db, mb.id, &m);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.v[0].uid, 1);
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN);
	assert_string_equal(m.v[0].keywords, "$Important");
	assert_int_equal(m.v[0].size, 164);
	assert_int_equal(m.v[1].uid, 2);
	assert_int_equal(m.v[1].flags, INDEX_FLAG_FLAGGED |
			 INDEX_FLAG_ANSWERED);
	assert_string_equal(m.v[1].keywords, "");
	msgs_free(&m);

	assert_int_equal(index_mailbox_get(f->db, "a.b", &mb, &error), 1);
	assert_int_equal(mb.uidvalidity, 1795663854u);
	assert_int_equal(mb.uidnext, 2);
	assert_int_equal(mb.messages, 1);

	/* An empty Dovecot folder still keeps its UIDVALIDITY. */
	assert_int_equal(index_mailbox_get(f->db, "Entwürfe", &mb, &error), 1);
	assert_int_equal(mb.uidvalidity, 1795663853u);
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(mb.messages, 0);

	/* Later mail continues the numbering; nothing is imported twice. */
	put_file(f->root, "", "new", "1795663999.M1P1.vm", "new\n", 0);
	assert_int_equal(sync_user(f->db, f->root,
				   SYNC_FLAG_IMPORT_DOVECOT | SYNC_FLAG_FORCE,
				   &res, &err, &error), 0);
	assert_int_equal(res.added, 1);
	assert_int_equal(res.imported, 0);
	assert_int_equal(index_mailbox_get(f->db, "INBOX", &mb, &error), 1);
	assert_int_equal(mb.uidvalidity, 1795663852u);
	msgs_load(f->db, mb.id, &m);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.v[1].uid, 2);
	msgs_free(&m);
}

/* A hand-made Dovecot folder: listed files keep their UIDs, a file the
 * uidlist doesn't know gets one at or above N, keyword letters map through
 * dovecot-keywords (unusable names and unknown letters dropped). */
static void
test_dovecot_partial(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb;
	struct sync_result res;
	const char *error;
	char p[4096];
	struct msgs m;
	FILE *fp;

	sub_path(p, sizeof(p), f->root, "", "dovecot-uidlist", NULL);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("3 V12345 N10 G0123\n3 :1600000000.M1P1.a\n"
	      "5 :1600000001.M1P1.b,S=2\n7 :1600000002.M1P1.gone\n", fp);
	fclose(fp);
	sub_path(p, sizeof(p), f->root, "", "dovecot-keywords", NULL);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("0 $Label1\n1 bad\\kw\n2 Work\n", fp);
	fclose(fp);
	put_file(f->root, "", "cur", "1600000000.M1P1.a:2,Sacz", "a\n", 0);
	put_file(f->root, "", "cur", "1600000001.M1P1.b,S=2:2,", "b\n", 0);
	put_file(f->root, "", "new", "1500000000.M1P1.c", "c\n", 0);

	do_sync(f, "", f->inbox, SYNC_FLAG_IMPORT_DOVECOT, &res);
	assert_int_equal(res.added, 3);
	assert_int_equal(res.imported, 2);
	assert_int_equal(index_mailbox_get_by_id(f->db, f->inbox, &mb, &error),
			 1);
	assert_int_equal(mb.uidvalidity, 12345);
	assert_int_equal(mb.uidnext, 11);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.v[0].uid, 3);
	assert_int_equal(m.v[0].flags, INDEX_FLAG_SEEN);
	assert_string_equal(m.v[0].keywords, "$Label1 Work");
	assert_int_equal(m.v[1].uid, 5);
	assert_int_equal(m.v[2].uid, 10);
	assert_string_equal(m.v[2].file, "1500000000.M1P1.c");
	msgs_free(&m);
}

/* Without SYNC_FLAG_IMPORT_DOVECOT a uidlist is ignored. */
static void
test_dovecot_not_asked(void **state)
{
	struct fixture *f = *state;
	struct index_mailbox mb, before;
	struct sync_result res;
	const char *error;
	char p[4096];
	struct msgs m;
	FILE *fp;

	assert_int_equal(index_mailbox_get_by_id(f->db, f->inbox, &before,
						 &error), 1);
	snprintf(p, sizeof(p), "%s/dovecot-uidlist", f->root);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("3 V12345 N10\n3 :1600000000.M1P1.a\n", fp);
	fclose(fp);
	put_file(f->root, "", "cur", "1600000000.M1P1.a:2,S", "a\n", 0);
	do_sync(f, "", f->inbox, 0, &res);
	assert_int_equal(res.added, 1);
	assert_int_equal(res.imported, 0);
	assert_int_equal(index_mailbox_get_by_id(f->db, f->inbox, &mb, &error),
			 1);
	assert_int_equal(mb.uidvalidity, before.uidvalidity);
	msgs_load(f->db, f->inbox, &m);
	assert_int_equal(m.v[0].uid, 1);
	msgs_free(&m);
	/* And once the mailbox has held mail, the flag changes nothing. */
	put_file(f->root, "", "new", "1600000003.M1P1.z", "z\n", 0);
	do_sync(f, "", f->inbox, SYNC_FLAG_IMPORT_DOVECOT, &res);
	assert_int_equal(res.imported, 0);
	assert_int_equal(index_mailbox_get_by_id(f->db, f->inbox, &mb, &error),
			 1);
	assert_int_equal(mb.uidvalidity, before.uidvalidity);
}

/* 20,000 files (SYNC_BIG_N): import with a dovecot-uidlist, a forced
 * rescan with no change, the mtime check; then a few changes. */
static void
test_big(void **state)
{
	struct fixture *f = *state;
	struct sync_result res;
	struct index_status st;
	const char *error, *env = getenv("SYNC_BIG_N");
	unsigned n = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 20000;
	char name[128], p[4096];
	time_t old = time(NULL) - 3600;
	double t0, t1, t2, t3, t4, t5;
	FILE *ul;
	unsigned i;
	int fd;

	if (n < 10)
		n = 10;
	sub_path(p, sizeof(p), f->root, "", "dovecot-uidlist", NULL);
	ul = fopen(p, "w");
	assert_non_null(ul);
	fprintf(ul, "3 V777 N%u\n", 2 * n + 5);
	for (i = 0; i < n; i++) {
		/* Every 10th in new/ without info, the rest in cur/. */
		snprintf(name, sizeof(name), "%u.M%uP42.bighost,S=%u",
			 1600000000 + i, i % 1000000, 10 + i % 7);
		fprintf(ul, "%u :%s\n", 2 * i + 1, name);
		if (i % 10 == 0) {
			sub_path(p, sizeof(p), f->root, "", "new", name);
		} else {
			char full[160];

			snprintf(full, sizeof(full), "%s:2,%s", name,
				 i % 3 == 0 ? "S" : "");
			sub_path(p, sizeof(p), f->root, "", "cur", full);
		}
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "0123456789abcdef", 10 + i % 7),
				 (ssize_t)(10 + i % 7));
		close(fd);
	}
	fclose(ul);
	set_dir_mtimes(f->root, "", old, 0);

	t0 = now_sec();
	do_sync(f, "", f->inbox, SYNC_FLAG_IMPORT_DOVECOT, &res);
	t1 = now_sec();
	assert_int_equal(res.added, n);
	assert_int_equal(res.imported, n);
	assert_int_equal(index_mailbox_status(f->db, f->inbox, &st, &error),
			 0);
	assert_int_equal(st.messages, n);
	assert_int_equal(st.uidvalidity, 777);
	assert_int_equal(st.uidnext, 2 * n + 5);

	do_sync(f, "", f->inbox, SYNC_FLAG_FORCE, &res);
	t2 = now_sec();
	assert_int_equal(res.added + res.expunged + res.flag_changed, 0);

	do_sync(f, "", f->inbox, 0, &res);
	t3 = now_sec();
	assert_false(res.scanned);

	/* A few external changes: 3 deletions, 2 flag renames, 2 new. */
	for (i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "%u.M%uP42.bighost,S=%u:2,%s",
			 1600000000 + i, i, 10 + i % 7, i % 3 == 0 ? "S" : "");
		sub_path(p, sizeof(p), f->root, "", "cur", name);
		assert_int_equal(unlink(p), 0);
	}
	snprintf(name, sizeof(name), "%u.M%uP42.bighost,S=%u",
		 1600000004, 4, 10 + 4 % 7);
	{
		char from[256], to[256];

		snprintf(from, sizeof(from), "%s:2,", name);
		snprintf(to, sizeof(to), "%s:2,FS", name);
		rename_file(f->root, "", "cur", from, "cur", to);
		snprintf(name, sizeof(name), "%u.M%uP42.bighost,S=%u",
			 1600000006, 6, 10 + 6 % 7);
		snprintf(from, sizeof(from), "%s:2,S", name);
		snprintf(to, sizeof(to), "%s:2,", name);
		rename_file(f->root, "", "cur", from, "cur", to);
	}
	put_file(f->root, "", "new", "1700000000.M1P1.late", "late\n", 0);
	put_file(f->root, "", "cur", "1700000001.M1P1.late:2,S", "late\n", 0);
	set_dir_mtimes(f->root, "", old + 1, 0);
	t4 = now_sec();
	do_sync(f, "", f->inbox, 0, &res);
	t5 = now_sec();
	assert_int_equal(res.expunged, 3);
	assert_int_equal(res.flag_changed, 2);
	assert_int_equal(res.added, 2);
	assert_int_equal(index_mailbox_status(f->db, f->inbox, &st, &error),
			 0);
	assert_int_equal(st.messages, n - 3 + 2);
	assert_int_equal(st.uidnext, 2 * n + 7);

	print_message("%u files: import %.3f s, no-change rescan %.3f s, "
		      "mtime check %.6f s, rescan with 7 changes %.3f s\n",
		      n, t1 - t0, t2 - t1, t3 - t2, t5 - t4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expunge_and_flags, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_rename, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mtime_fast_path, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_crash_leftover, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicates_and_missing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_uids, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_fixture, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_partial, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dovecot_not_asked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_big, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
