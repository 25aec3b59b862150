/* Unit tests for the Maildir++ layer: mailbox name validation and mapping
 * (RFC 3501 mUTF-7 example, Dovecot listescape spellings checked against
 * Dovecot 2.3.19), file names, folder create/delete/rename/list, durable
 * delivery and its failure paths, link copy, flag renames racing another
 * program, scanning, and Dovecot's control files (a real Dovecot-written
 * Maildir in tests/data/dovecot-maildir plus hostile hand-written ones). */
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
#include <sys/wait.h>
#include <unistd.h>

#include "maildir.h"

#ifndef SATCHEL_SOURCE_ROOT
#error "meson passes SATCHEL_SOURCE_ROOT"
#endif
#define FIXTURE SATCHEL_SOURCE_ROOT "/tests/data/dovecot-maildir/Maildir"

/* ---- helpers ---- */

static char *
tmpdir_new(void)
{
	char tmpl[] = "/tmp/satchel-maildir-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

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
write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(data, f);
	fclose(f);
}

static unsigned
count_entries(const char *path)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(path);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Copy a directory tree (regular files and directories only). */
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

/* ---- names ---- */

static void
name_ok(const char *name)
{
	const char *error;
	enum store_error err;

	if (maildir_name_validate(name, strlen(name), &err, &error) < 0) {
		print_error("refused '%s': %s\n", name, error);
		fail();
	}
}

static void
name_bad_len(const char *name, size_t len, enum store_error want)
{
	const char *error = NULL;
	enum store_error err = STORE_ERR_NONE;
	struct buf b;

	assert_int_equal(maildir_name_validate(name, len, &err, &error), -1);
	assert_int_equal(err, want);
	assert_non_null(error);
	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	assert_int_equal(maildir_name_to_dir(name, len, &b, &err, &error), -1);
	assert_string_equal(buf_cstr(&b), "keep");
	buf_deinit(&b);
}

static void
name_bad(const char *name, enum store_error want)
{
	name_bad_len(name, strlen(name), want);
}

static void
test_name_validate(void **state)
{
	char *big, *deep;
	size_t i;

	name_ok("INBOX");
	name_ok("a");
	name_ok("Work/Projects/2024");
	name_ok("a.b");
	name_ok(".hidden");
	name_ok("...");
	name_ok("x/..y");
	name_ok("Entwürfe");
	name_ok("台北/日本語");
	name_ok("\xf0\x9f\x93\xa7 mail"); /* U+1F4E7, 4-byte UTF-8 */
	name_ok("a b&c~d\\e%f*g");

	name_bad("", STORE_ERR_BADNAME);
	name_bad("../x", STORE_ERR_BADNAME);
	name_bad("x/../y", STORE_ERR_BADNAME);
	name_bad("x/.", STORE_ERR_BADNAME);
	name_bad(".", STORE_ERR_BADNAME);
	name_bad("..", STORE_ERR_BADNAME);
	name_bad("a//b", STORE_ERR_BADNAME);
	name_bad("/a", STORE_ERR_BADNAME);
	name_bad("a/", STORE_ERR_BADNAME);
	name_bad("/", STORE_ERR_BADNAME);
	name_bad("a\tb", STORE_ERR_BADNAME);
	name_bad("a\nb", STORE_ERR_BADNAME);
	name_bad("a\x7f", STORE_ERR_BADNAME);
	name_bad("\x1b[31m", STORE_ERR_BADNAME);
	name_bad_len("a\0b", 3, STORE_ERR_BADNAME);
	name_bad("\xff", STORE_ERR_BADNAME);
	name_bad("a\xc3", STORE_ERR_BADNAME);            /* truncated */
	name_bad("\xc0\xaf", STORE_ERR_BADNAME);         /* overlong '/' */
	name_bad("\xe0\x80\xae", STORE_ERR_BADNAME);     /* overlong '.' */
	name_bad("\xed\xa0\x80", STORE_ERR_BADNAME);     /* surrogate */
	name_bad("\xf4\x90\x80\x80", STORE_ERR_BADNAME); /* > U+10FFFF */
	name_bad("\x80x", STORE_ERR_BADNAME);

	/* 10,000 characters: total limit. */
	big = malloc(10001);
	memset(big, 'a', 10000);
	big[10000] = '\0';
	name_bad(big, STORE_ERR_LIMIT);
	/* 256-byte level. */
	big[256] = '\0';
	name_bad(big, STORE_ERR_LIMIT);
	big[255] = '\0';
	name_ok(big);
	/* 1024 total is fine, 1025 not. */
	memset(big, 'a', 1025);
	for (i = 200; i < 1025; i += 200)
		big[i] = '/';
	big[1024] = '\0';
	name_ok(big);
	big[1024] = 'a';
	big[1025] = '\0';
	name_bad(big, STORE_ERR_LIMIT);
	free(big);

	/* 32 levels ok, 33 not. */
	deep = malloc(100);
	for (i = 0; i < 32; i++) {
		deep[i * 2] = 'x';
		deep[i * 2 + 1] = '/';
	}
	deep[63] = '\0';
	name_ok(deep);
	deep[63] = '/';
	deep[64] = 'y';
	deep[65] = '\0';
	name_bad(deep, STORE_ERR_LIMIT);
	free(deep);

	assert_true(maildir_name_is_inbox("InBoX", 5));
	assert_false(maildir_name_is_inbox("INBOX/a", 7));
	assert_false(maildir_name_is_inbox("INBOXX", 6));
}

/* name -> dir must give `dir`, and dir -> name the canonical name. */
static void
map_pair(const char *name, const char *dir, const char *canonical)
{
	const char *error;
	enum store_error err;
	struct buf b;

	buf_init(&b, 0);
	if (maildir_name_to_dir(name, strlen(name), &b, &err, &error) < 0) {
		print_error("to_dir '%s': %s\n", name, error);
		fail();
	}
	if (strcmp(buf_cstr(&b), dir) != 0) {
		print_error("to_dir '%s': got '%s' want '%s'\n", name,
			    buf_cstr(&b), dir);
		fail();
	}
	if (dir[0] != '\0') {
		buf_clear(&b);
		if (maildir_dir_to_name(dir, strlen(dir), &b, &error) < 0) {
			print_error("to_name '%s': %s\n", dir, error);
			fail();
		}
		assert_string_equal(buf_cstr(&b), canonical);
	}
	buf_clear(&b);
	assert_int_equal(maildir_name_canonical(name, strlen(name), &b), 0);
	assert_string_equal(buf_cstr(&b), canonical);
	buf_deinit(&b);
}

static void
test_name_map(void **state)
{
	map_pair("INBOX", "", "INBOX");
	map_pair("inbox", "", "INBOX");
	map_pair("Sent", ".Sent", "Sent");
	map_pair("Work/Projects", ".Work.Projects", "Work/Projects");
	/* RFC 3501 5.1.3: "~peter/mail/&U,BTFw-/&ZeVnLIqe-" is
	 * ~peter/mail/台北/日本語; the leading '~' gets Dovecot's escape. */
	map_pair("~peter/mail/台北/日本語", ".\\7epeter.mail.&U,BTFw-.&ZeVnLIqe-",
		 "~peter/mail/台北/日本語");
	/* Spellings as Dovecot 2.3.19 + listescape wrote them. */
	map_pair("a.b", ".a\\2eb", "a.b");
	map_pair("back\\slash", ".back\\5cslash", "back\\slash");
	map_pair("~tilde/x~y", ".\\7etilde.x~y", "~tilde/x~y");
	map_pair("a/~b", ".a.\\7eb", "a/~b");
	map_pair("amp&x", ".amp&-x", "amp&x");
	map_pair("sp ace", ".sp ace", "sp ace");
	map_pair("pct%2e", ".pct%2e", "pct%2e");
	map_pair("Entwürfe/Ünter.x", ".Entw&APw-rfe.&ANw-nter\\2ex",
		 "Entwürfe/Ünter.x");
	map_pair("...", ".\\2e\\2e\\2e", "...");
	map_pair(".hidden", ".\\2ehidden", ".hidden");
	/* INBOX children: one folder however INBOX is spelled. */
	map_pair("inbox/x", ".INBOX.x", "INBOX/x");
	map_pair("INBOX/x", ".INBOX.x", "INBOX/x");
	map_pair("INBOXES", ".INBOXES", "INBOXES");
}

static void
dir_bad(const char *dir)
{
	const char *error = NULL;
	struct buf b;

	buf_init(&b, 0);
	buf_append_str(&b, "keep");
	if (maildir_dir_to_name(dir, strlen(dir), &b, &error) == 0) {
		print_error("accepted dir '%s' as '%s'\n", dir, buf_cstr(&b));
		fail();
	}
	assert_non_null(error);
	assert_string_equal(buf_cstr(&b), "keep");
	buf_deinit(&b);
}

static void
test_dir_refused(void **state)
{
	const char *error;
	enum store_error err;
	char level[300];
	struct buf b;

	dir_bad("");
	dir_bad(".");
	dir_bad("..");
	dir_bad("Work");
	dir_bad(".a..b");
	dir_bad(".a.");
	dir_bad("..a");
	dir_bad(".a/b");
	dir_bad(".INBOX");
	dir_bad(".inbox.x");
	dir_bad(".Inbox");
	dir_bad(".a\\2Eb");     /* upper-case hex: not our spelling */
	dir_bad(".a\\41");      /* escapes only for . \ ~ */
	dir_bad(".a\\zz");
	dir_bad(".a\\");
	dir_bad(".a\\2");
	dir_bad(".a\\7eb");     /* '~' escaped mid-level */
	dir_bad(".~x");         /* leading '~' must be escaped */
	dir_bad(".&AC4-");      /* '.' as mUTF-7: not canonical */
	dir_bad(".&Jjo");       /* unterminated shift */
	dir_bad(".a&b");        /* bare & */
	dir_bad(".\\2e");       /* level "." */
	dir_bad(".x.\\2e\\2e"); /* level ".." */
	dir_bad(".a\tb");       /* control character */
	dir_bad(".DOVECOT-TRASHED");
	dir_bad(".\xc3\xbc");   /* raw UTF-8 instead of mUTF-7 */

	/* Valid but too long for one path component. */
	memset(level, 'a', 255);
	level[255] = '\0';
	buf_init(&b, 0);
	assert_int_equal(maildir_name_to_dir(level, 255, &b, &err, &error), -1);
	assert_int_equal(err, STORE_ERR_LIMIT);
	level[254] = '\0';
	assert_int_equal(maildir_name_to_dir(level, 254, &b, &err, &error), 0);
	assert_int_equal(b.len, 255);
	buf_deinit(&b);
	/* Dovecot's delete scratch name is reserved (only as a top level). */
	name_ok("DOVECOT-TRASHED");
	buf_init(&b, 0);
	assert_int_equal(maildir_name_to_dir("DOVECOT-TRASHED", 15, &b, &err,
					     &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);
	assert_int_equal(maildir_name_to_dir("DOVECOT-TRASHED/x", 17, &b, &err,
					     &error), 0);
	buf_deinit(&b);
}

/* ---- file names ---- */

static void
test_filename(void **state)
{
	struct maildir_filename fn;
	const char *f;
	struct buf b;

	f = "1795663851.M992162P16927.vm,S=164,W=172:2,Sa";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_int_equal(fn.base_len, strlen(f) - 5);
	assert_true(fn.has_info);
	assert_true(fn.is_canonical);
	assert_int_equal(fn.flags, MAILDIR_FLAG_SEEN);
	assert_int_equal(fn.keywords, 1);
	assert_true(fn.has_size);
	assert_int_equal(fn.size, 164);
	assert_true(fn.has_vsize);
	assert_int_equal(fn.vsize, 172);
	buf_init(&b, 0);
	assert_int_equal(maildir_filename_build(&b, fn.base, fn.base_len,
						fn.flags, fn.keywords), 0);
	assert_string_equal(buf_cstr(&b), f);

	f = "123.abc:2,DFPRSTaz";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_int_equal(fn.flags, MAILDIR_FLAGS_ALL);
	assert_int_equal(fn.keywords, (1u << 25) | 1u);
	assert_true(fn.is_canonical);
	assert_false(fn.has_size);

	/* Unsorted, repeated, unknown: parsed, not canonical. */
	f = "123.abc:2,SF";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_int_equal(fn.flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED);
	assert_false(fn.is_canonical);
	f = "123.abc:2,SS";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_false(fn.is_canonical);
	f = "123.abc:2,SX1";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_int_equal(fn.flags, MAILDIR_FLAG_SEEN);
	assert_false(fn.is_canonical);
	/* No info, or other info versions. */
	f = "123.abc,S=12";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_false(fn.has_info);
	assert_int_equal(fn.base_len, strlen(f));
	assert_int_equal(fn.size, 12);
	f = "123.abc:1,foo";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_false(fn.has_info);
	assert_int_equal(fn.flags, 0);
	assert_int_equal(fn.base_len, 7);
	/* Bad size fields are just ignored. */
	f = "123.abc,S=12x,S=,W=99999999999999999999999:2,";
	assert_int_equal(maildir_filename_parse(f, strlen(f), &fn), 0);
	assert_false(fn.has_size);
	assert_false(fn.has_vsize);
	assert_true(fn.is_canonical);

	/* Refused. */
	assert_int_equal(maildir_filename_parse("", 0, &fn), -1);
	assert_int_equal(maildir_filename_parse(".hidden", 7, &fn), -1);
	assert_int_equal(maildir_filename_parse("a/b", 3, &fn), -1);
	assert_int_equal(maildir_filename_parse(":2,S", 4, &fn), -1);
	assert_int_equal(maildir_filename_parse("a\nb", 3, &fn), -1);
	assert_int_equal(maildir_filename_parse("a\0b", 3, &fn), -1);

	/* Build refuses bad bases and overlong results. */
	buf_clear(&b);
	assert_int_equal(maildir_filename_build(&b, "a:b", 3, 0, 0), -1);
	assert_int_equal(maildir_filename_build(&b, "a/b", 3, 0, 0), -1);
	assert_int_equal(maildir_filename_build(&b, "", 0, 0, 0), -1);
	{
		char base[300];

		memset(base, 'x', sizeof(base));
		assert_int_equal(maildir_filename_build(&b, base, 252, 0, 0), 0);
		buf_clear(&b);
		assert_int_equal(maildir_filename_build(&b, base, 252,
							MAILDIR_FLAG_SEEN, 0),
				 -1);
		assert_int_equal(b.len, 0);
	}
	buf_deinit(&b);
}

/* ---- folders ---- */

struct list_ctx {
	char names[16][300];
	char dirs[16][300];
	unsigned n;
};

static void
list_cb(const char *name, const char *dir, void *ctx)
{
	struct list_ctx *l = ctx;

	assert_true(l->n < 16);
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
	snprintf(l->dirs[l->n], sizeof(l->dirs[0]), "%s", dir);
	l->n++;
}

static bool
list_has(const struct list_ctx *l, const char *name, const char *dir)
{
	unsigned i;

	for (i = 0; i < l->n; i++) {
		if (strcmp(l->names[i], name) == 0 &&
		    strcmp(l->dirs[i], dir) == 0)
			return true;
	}
	return false;
}

static void
test_folders(void **state)
{
	char *root = tmpdir_new(), p[4096], q[4096];
	const char *error;
	enum store_error err;
	struct list_ctx l;
	unsigned skipped;
	bool ex;

	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	assert_int_equal(maildir_folder_exists(root, "", &ex, &err, &error), 0);
	assert_true(ex);
	assert_int_equal(maildir_folder_create(root, ".Work", &err, &error), 0);
	assert_int_equal(maildir_folder_create(root, ".Work.Projects", &err,
					       &error), 0);
	assert_int_equal(maildir_folder_create(root, ".a\\2eb", &err, &error),
			 0);
	assert_int_equal(maildir_folder_create(root, ".Work", &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXISTS);
	snprintf(p, sizeof(p), "%s/.Work/maildirfolder", root);
	assert_true(exists(p));
	snprintf(p, sizeof(p), "%s/.Work/tmp", root);
	assert_true(exists(p));
	assert_int_equal(maildir_folder_exists(root, ".Work", &ex, &err,
					       &error), 0);
	assert_true(ex);
	assert_int_equal(maildir_folder_exists(root, ".Nope", &ex, &err,
					       &error), 0);
	assert_false(ex);

	/* Unsafe dir arguments are refused before any syscall. */
	assert_int_equal(maildir_folder_create(root, "..", &err, &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);
	assert_int_equal(maildir_folder_create(root, ".a/../../x", &err,
					       &error), -1);
	assert_int_equal(maildir_folder_create(root, "x", &err, &error), -1);
	assert_int_equal(maildir_folder_create(root, "", &err, &error), -1);
	assert_int_equal(maildir_folder_delete(root, "", &err, &error), -1);

	/* Things the listing must skip. */
	snprintf(p, sizeof(p), "%s/.a..b", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.DOVECOT-TRASHED", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.Link", root);
	assert_int_equal(symlink("/tmp", p), 0);
	snprintf(p, sizeof(p), "%s/.file", root);
	write_file(p, "x");
	memset(&l, 0, sizeof(l));
	assert_int_equal(maildir_folder_list(root, list_cb, &l, &skipped, &err,
					     &error), 0);
	assert_int_equal(l.n, 3);
	assert_true(list_has(&l, "Work", ".Work"));
	assert_true(list_has(&l, "Work/Projects", ".Work.Projects"));
	assert_true(list_has(&l, "a.b", ".a\\2eb"));
	assert_int_equal(skipped, 2); /* .a..b and the symlink */

	/* Rename: refuses to replace, even an empty directory. */
	assert_int_equal(maildir_folder_rename(root, ".Work.Projects", ".Work",
					       &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXISTS);
	snprintf(p, sizeof(p), "%s/.Empty", root);
	mkdir(p, 0700);
	assert_int_equal(maildir_folder_rename(root, ".Work.Projects", ".Empty",
					       &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXISTS);
	rmdir(p);
	assert_int_equal(maildir_folder_rename(root, ".Work.Projects",
					       ".Work.Plans", &err, &error), 0);
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur", root);
	assert_true(exists(p));
	assert_int_equal(maildir_folder_rename(root, ".Gone", ".Other", &err,
					       &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);

	/* Delete: messages and Dovecot files go; the child stays. */
	snprintf(p, sizeof(p), "%s/.Work/cur/1.x:2,S", root);
	write_file(p, "msg");
	snprintf(p, sizeof(p), "%s/.Work/tmp/2.x", root);
	write_file(p, "partial");
	snprintf(p, sizeof(p), "%s/.Work/dovecot-uidlist", root);
	write_file(p, "3 V1 N1\n");
	assert_int_equal(maildir_folder_delete(root, ".Work", &err, &error), 0);
	snprintf(p, sizeof(p), "%s/.Work", root);
	assert_false(exists(p));
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur", root);
	assert_true(exists(p));
	assert_int_equal(maildir_folder_delete(root, ".Work", &err, &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);

	/* Unknown content: refused, nothing touched. */
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur/1.x:2,", root);
	write_file(p, "msg");
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur/subdir", root);
	mkdir(p, 0700);
	assert_int_equal(maildir_folder_delete(root, ".Work.Plans", &err,
					       &error), -1);
	assert_int_equal(err, STORE_ERR_CANNOT);
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur/1.x:2,", root);
	assert_true(exists(p));
	snprintf(p, sizeof(p), "%s/.Work.Plans/cur/subdir", root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/.Work.Plans/notes.txt", root);
	write_file(p, "mine");
	assert_int_equal(maildir_folder_delete(root, ".Work.Plans", &err,
					       &error), -1);
	assert_int_equal(err, STORE_ERR_CANNOT);
	unlink(p);

	/* A symlinked cur/ is never followed: refused, target untouched. */
	snprintf(p, sizeof(p), "%s/outside", root);
	mkdir(p, 0700);
	snprintf(q, sizeof(q), "%s/outside/precious", root);
	write_file(q, "keep me");
	snprintf(q, sizeof(q), "%s/.a\\2eb/cur", root);
	rmdir(q);
	assert_int_equal(symlink(p, q), 0);
	assert_int_equal(maildir_folder_delete(root, ".a\\2eb", &err, &error),
			 -1);
	assert_int_equal(err, STORE_ERR_CANNOT);
	snprintf(q, sizeof(q), "%s/outside/precious", root);
	assert_true(exists(q));

	/* A symlink as the folder itself: refused. */
	assert_int_equal(maildir_folder_delete(root, ".Link", &err, &error), -1);
	assert_true(exists(q));

	/* A leftover trash directory from a crash is cleared first. */
	snprintf(p, sizeof(p), "%s/.DOVECOT-TRASHED", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.DOVECOT-TRASHED/cur", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/.DOVECOT-TRASHED/cur/old", root);
	write_file(p, "old");
	assert_int_equal(maildir_folder_delete(root, ".Work.Plans", &err,
					       &error), 0);
	snprintf(p, sizeof(p), "%s/.DOVECOT-TRASHED", root);
	assert_false(exists(p));

	rm_rf(root);
	free(root);
}

/* ---- delivery ---- */

static void
deliver(const char *root, const char *dir, const char *body, unsigned flags,
	uint32_t kw, bool to_new, struct buf *fname)
{
	struct maildir_delivery *d;
	const char *error;
	enum store_error err;
	size_t len = strlen(body), half = len / 2;

	d = maildir_delivery_begin(root, dir, &err, &error);
	assert_non_null(d);
	assert_int_equal(maildir_delivery_write(d, body, half, &err, &error), 0);
	assert_int_equal(maildir_delivery_write(d, body + half, len - half,
						&err, &error), 0);
	assert_int_equal(maildir_delivery_size(d), len);
	assert_int_equal(maildir_delivery_commit(&d, flags, kw, to_new, fname,
						 &err, &error), 0);
	assert_null(d);
}

static void
test_delivery(void **state)
{
	static const char body[] = "From: a@b\r\nSubject: x\r\n\r\nhello\r\n";
	char *root = tmpdir_new(), p[4096], data[256];
	struct maildir_delivery *d;
	struct maildir_filename fn;
	const char *error;
	enum store_error err;
	struct buf fname, fname2;
	uint64_t size;
	ssize_t n;
	int fd;

	buf_init(&fname, 0);
	buf_init(&fname2, 0);
	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	assert_int_equal(maildir_folder_create(root, ".Box", &err, &error), 0);

	deliver(root, "", body, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED, 4,
		false, &fname);
	assert_int_equal(maildir_filename_parse(buf_cstr(&fname), fname.len, &fn), 0);
	assert_true(fn.has_info && fn.is_canonical && fn.has_size);
	assert_int_equal(fn.size, strlen(body));
	assert_int_equal(fn.flags, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED);
	assert_int_equal(fn.keywords, 4);
	assert_non_null(strstr(buf_cstr(&fname), ":2,FSc"));
	assert_non_null(strstr(buf_cstr(&fname), ".M"));
	assert_non_null(strstr(buf_cstr(&fname), "Q"));
	snprintf(p, sizeof(p), "%s/cur", root);
	assert_int_equal(count_entries(p), 1);
	snprintf(p, sizeof(p), "%s/tmp", root);
	assert_int_equal(count_entries(p), 0);

	/* Read it back. */
	assert_int_equal(maildir_file_open(root, "", buf_cstr(&fname), false,
					   &fd, &size, &err, &error), 0);
	assert_int_equal(size, strlen(body));
	n = read(fd, data, sizeof(data));
	assert_int_equal(n, (ssize_t)strlen(body));
	assert_memory_equal(data, body, strlen(body));
	close(fd);
	assert_int_equal(maildir_file_open(root, "", "nope:2,", false, &fd,
					   &size, &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXPUNGED);
	assert_int_equal(maildir_file_open(root, "", "../../etc/passwd", false,
					   &fd, &size, &err, &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);

	/* To new/: no info. Two deliveries get distinct names. */
	deliver(root, ".Box", body, MAILDIR_FLAG_SEEN, 0, true, &fname2);
	assert_null(strchr(buf_cstr(&fname2), ':'));
	buf_clear(&fname2);
	deliver(root, ".Box", "", 0, 0, true, &fname2);
	assert_non_null(strstr(buf_cstr(&fname2), ",S=0"));
	snprintf(p, sizeof(p), "%s/.Box/new", root);
	assert_int_equal(count_entries(p), 2);

	/* Abort leaves nothing anywhere. */
	d = maildir_delivery_begin(root, ".Box", &err, &error);
	assert_non_null(d);
	assert_int_equal(maildir_delivery_write(d, "abc", 3, &err, &error), 0);
	snprintf(p, sizeof(p), "%s/.Box/tmp", root);
	assert_int_equal(count_entries(p), 1);
	maildir_delivery_abort(&d);
	assert_null(d);
	maildir_delivery_abort(&d);
	assert_int_equal(count_entries(p), 0);
	snprintf(p, sizeof(p), "%s/.Box/cur", root);
	assert_int_equal(count_entries(p), 0);

	/* Commit failure (the target directory vanished): tmp cleaned, the
	 * handle freed, a proper error class. */
	d = maildir_delivery_begin(root, ".Box", &err, &error);
	assert_non_null(d);
	assert_int_equal(maildir_delivery_write(d, "abc", 3, &err, &error), 0);
	snprintf(p, sizeof(p), "%s/.Box/cur", root);
	assert_int_equal(rmdir(p), 0);
	buf_clear(&fname2);
	assert_int_equal(maildir_delivery_commit(&d, 0, 0, false, &fname2, &err,
						 &error), -1);
	assert_null(d);
	assert_int_equal(fname2.len, 0);
	assert_int_not_equal(err, STORE_ERR_NONE);
	snprintf(p, sizeof(p), "%s/.Box/tmp", root);
	assert_int_equal(count_entries(p), 0);

	/* Begin in a missing folder. */
	assert_null(maildir_delivery_begin(root, ".Nope", &err, &error));
	assert_int_equal(err, STORE_ERR_NOTFOUND);
	assert_null(maildir_delivery_begin(root, "..", &err, &error));
	assert_int_equal(err, STORE_ERR_BADNAME);

	buf_deinit(&fname);
	buf_deinit(&fname2);
	rm_rf(root);
	free(root);
}

/* ---- copy, flags, move, scan ---- */

struct scan_ctx {
	unsigned n, in_new;
	unsigned flags_or;
	char last[300];
};

static int
scan_cb(const struct maildir_file *f, void *ctx)
{
	struct scan_ctx *s = ctx;

	s->n++;
	if (f->in_new)
		s->in_new++;
	s->flags_or |= f->fn.flags;
	assert_true(f->fn.base_len > 0 && f->fn.base == f->fname);
	snprintf(s->last, sizeof(s->last), "%s", f->fname);
	return 0;
}

static int
scan_stop_cb(const struct maildir_file *f, void *ctx)
{
	return -1;
}

/* A batch of copies: from cur/ and new/, names carrying the size and the
 * new flags, the data shared (link), each name unique; a missing source
 * is EXPUNGED, a symlink is refused, a missing folder fails the open. */
static void
test_copier(void **state)
{
	static const char body[] = "Subject: batch\r\n\r\nbody\r\n";
	char *root = tmpdir_new(), p[4096], q[4096];
	struct maildir_copier c;
	struct maildir_filename fn;
	struct buf src_cur, src_new, out;
	struct stat st;
	const char *error, *names[2];
	enum store_error err;
	size_t i;

	(void)state;
	buf_init(&src_cur, 0);
	buf_init(&src_new, 0);
	buf_init(&out, 0);
	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	assert_int_equal(maildir_folder_create(root, ".Dst", &err, &error), 0);
	deliver(root, "", body, MAILDIR_FLAG_SEEN, 0, false, &src_cur);
	deliver(root, "", body, 0, 0, true, &src_new);

	maildir_copier_init(&c);
	assert_int_equal(maildir_copier_open(&c, root, "", ".Nope", &err,
					     &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);
	assert_int_equal(maildir_copier_open(&c, root, "", "..", &err,
					     &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);
	assert_int_equal(maildir_copier_open(&c, root, "", ".Dst", &err,
					     &error), 0);
	assert_int_equal(maildir_copier_link(&c, buf_cstr(&src_cur), false,
					     MAILDIR_FLAG_FLAGGED, 0, &out,
					     &err, &error), 0);
	names[0] = strdup(buf_cstr(&out));
	buf_clear(&out);
	assert_int_equal(maildir_copier_link(&c, buf_cstr(&src_new), true, 0,
					     1, &out, &err, &error), 0);
	names[1] = strdup(buf_cstr(&out));
	assert_string_not_equal(names[0], names[1]);
	assert_non_null(strstr(names[0], ":2,F"));
	assert_non_null(strstr(names[1], ":2,a"));
	for (i = 0; i < 2; i++) {
		assert_int_equal(maildir_filename_parse(names[i],
				 strlen(names[i]), &fn), 0);
		assert_int_equal(fn.size, strlen(body));
		snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, names[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_nlink, 2);
	}
	/* gone, in the wrong subdirectory, or not a file of ours */
	buf_clear(&out);
	assert_int_equal(maildir_copier_link(&c, "gone:2,", false, 0, 0, &out,
					     &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXPUNGED);
	assert_int_equal(maildir_copier_link(&c, buf_cstr(&src_cur), true, 0,
					     0, &out, &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXPUNGED);
	assert_int_equal(maildir_copier_link(&c, "../../x", false, 0, 0, &out,
					     &err, &error), -1);
	assert_int_equal(err, STORE_ERR_BADNAME);
	snprintf(p, sizeof(p), "%s/cur/%s", root, buf_cstr(&src_cur));
	snprintf(q, sizeof(q), "%s/cur/1.M1P1Q1.link:2,", root);
	assert_int_equal(symlink(p, q), 0);
	assert_int_equal(maildir_copier_link(&c, "1.M1P1Q1.link:2,", false, 0,
					     0, &out, &err, &error), -1);
	assert_int_not_equal(err, STORE_ERR_NONE);
	assert_int_equal(out.len, 0);
	assert_int_equal(maildir_copier_sync(&c, &err, &error), 0);
	maildir_copier_close(&c);
	maildir_copier_close(&c); /* twice is harmless */
	assert_int_equal(maildir_copier_sync(&c, &err, &error), -1);
	snprintf(p, sizeof(p), "%s/.Dst/cur", root);
	assert_int_equal(count_entries(p), 2);

	free((char *)names[0]);
	free((char *)names[1]);
	buf_deinit(&src_cur);
	buf_deinit(&src_new);
	buf_deinit(&out);
	rm_rf(root);
	free(root);
}

/* Unique names carry the pid of the process that made them, also in a
 * child forked after the parent made some (the pid is worked out once). */
static void
test_unique_after_fork(void **state)
{
	static const char body[] = "x\r\n";
	char *root = tmpdir_new(), want[64], p[4096];
	struct buf f;
	const char *error;
	enum store_error err;
	int status;
	pid_t pid;

	(void)state;
	buf_init(&f, 0);
	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	deliver(root, "", body, 0, 0, false, &f);
	snprintf(want, sizeof(want), "P%ldQ", (long)getpid());
	assert_non_null(strstr(buf_cstr(&f), want));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		buf_clear(&f);
		deliver(root, "", body, 0, 0, false, &f);
		snprintf(want, sizeof(want), "P%ldQ", (long)getpid());
		_exit(strstr(buf_cstr(&f), want) != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(p, sizeof(p), "%s/cur", root);
	assert_int_equal(count_entries(p), 2);
	buf_deinit(&f);
	rm_rf(root);
	free(root);
}

static void
test_messages(void **state)
{
	static const char body[] = "Subject: copy me\r\n\r\nbody\r\n";
	char *root = tmpdir_new(), p[4096], q[4096];
	struct maildir_filename fn;
	struct scan_ctx s;
	const char *error;
	enum store_error err;
	struct buf f1, f2, f3;
	struct stat st;
	unsigned skipped;
	bool in_new;

	buf_init(&f1, 0);
	buf_init(&f2, 0);
	buf_init(&f3, 0);
	assert_int_equal(maildir_root_create(root, &err, &error), 0);
	assert_int_equal(maildir_folder_create(root, ".Dst", &err, &error), 0);
	deliver(root, "", body, MAILDIR_FLAG_SEEN, 0, false, &f1);

	/* Hard-link copy with new flags. */
	assert_int_equal(maildir_file_copy(root, "", buf_cstr(&f1), false,
					   ".Dst", MAILDIR_FLAG_FLAGGED, 0, &f2,
					   &err, &error), 0);
	assert_non_null(strstr(buf_cstr(&f2), ":2,F"));
	assert_int_equal(maildir_filename_parse(buf_cstr(&f2), f2.len, &fn), 0);
	assert_int_equal(fn.size, strlen(body));
	snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, buf_cstr(&f2));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(maildir_file_copy(root, "", "gone:2,", false, ".Dst",
					   0, 0, &f3, &err, &error), -1);
	assert_int_equal(err, STORE_ERR_EXPUNGED);

	/* Flag rename. */
	buf_clear(&f3);
	assert_int_equal(maildir_file_set_flags(root, ".Dst", buf_cstr(&f2),
						false, MAILDIR_FLAG_REPLIED |
						MAILDIR_FLAG_TRASHED, 3, &f3,
						&err, &error), 0);
	assert_non_null(strstr(buf_cstr(&f3), ":2,RTab"));
	snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, buf_cstr(&f3));
	assert_true(exists(p));
	/* Unchanged: no rename, same name. */
	buf_clear(&f2);
	assert_int_equal(maildir_file_set_flags(root, ".Dst", buf_cstr(&f3),
						false, MAILDIR_FLAG_REPLIED |
						MAILDIR_FLAG_TRASHED, 3, &f2,
						&err, &error), 0);
	assert_string_equal(buf_cstr(&f2), buf_cstr(&f3));
	/* Another program renamed it meanwhile: found by base, renamed. */
	assert_int_equal(maildir_filename_parse(buf_cstr(&f3), f3.len, &fn), 0);
	snprintf(q, sizeof(q), "%s/.Dst/new/%.*s", root, (int)fn.base_len,
		 fn.base);
	assert_int_equal(rename(p, q), 0);
	buf_clear(&f2);
	assert_int_equal(maildir_file_set_flags(root, ".Dst", buf_cstr(&f3),
						false, MAILDIR_FLAG_SEEN, 0,
						&f2, &err, &error), 0);
	assert_non_null(strstr(buf_cstr(&f2), ":2,S"));
	snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, buf_cstr(&f2));
	assert_true(exists(p));
	assert_false(exists(q));
	/* find (fn.base points into f3: keep a copy) */
	snprintf(q, sizeof(q), "%.*s", (int)fn.base_len, fn.base);
	buf_clear(&f3);
	assert_int_equal(maildir_file_find(root, ".Dst", q, strlen(q), &f3,
					   &in_new, &err, &error), 0);
	assert_string_equal(buf_cstr(&f3), buf_cstr(&f2));
	assert_false(in_new);
	/* Gone for good: EXPUNGED. */
	assert_int_equal(maildir_file_unlink(root, ".Dst", buf_cstr(&f2),
					     false, &err, &error), 0);
	assert_int_equal(maildir_file_unlink(root, ".Dst", buf_cstr(&f2),
					     false, &err, &error), 0);
	buf_clear(&f3);
	assert_int_equal(maildir_file_set_flags(root, ".Dst", buf_cstr(&f2),
						false, 0, 0, &f3, &err, &error),
			 -1);
	assert_int_equal(err, STORE_ERR_EXPUNGED);

	/* new/ -> cur/ */
	buf_clear(&f2);
	deliver(root, ".Dst", body, 0, 0, true, &f2);
	buf_clear(&f3);
	assert_int_equal(maildir_file_move_to_cur(root, ".Dst", buf_cstr(&f2),
						  &f3, &err, &error), 0);
	assert_int_equal(f3.len, f2.len + 3);
	assert_non_null(strstr(buf_cstr(&f3), ":2,"));
	snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, buf_cstr(&f3));
	assert_true(exists(p));
	/* Again: someone else already moved it, success with cur name. */
	buf_clear(&f1);
	assert_int_equal(maildir_file_move_to_cur(root, ".Dst", buf_cstr(&f2),
						  &f1, &err, &error), 0);
	assert_string_equal(buf_cstr(&f1), buf_cstr(&f3));
	/* A new/ file that already carries info keeps it. */
	snprintf(p, sizeof(p), "%s/.Dst/new/77.host,S=1:2,Sa", root);
	write_file(p, "x");
	buf_clear(&f1);
	assert_int_equal(maildir_file_move_to_cur(root, ".Dst",
						  "77.host,S=1:2,Sa", &f1,
						  &err, &error), 0);
	assert_string_equal(buf_cstr(&f1), "77.host,S=1:2,Sa");
	/* set_flags on a file in new/ moves it to cur/. */
	buf_clear(&f2);
	deliver(root, ".Dst", body, 0, 0, true, &f2);
	buf_clear(&f1);
	assert_int_equal(maildir_file_set_flags(root, ".Dst", buf_cstr(&f2),
						true, MAILDIR_FLAG_DRAFT, 0,
						&f1, &err, &error), 0);
	snprintf(p, sizeof(p), "%s/.Dst/cur/%s", root, buf_cstr(&f1));
	assert_true(exists(p));
	assert_int_equal(maildir_dir_fsync(root, ".Dst", "cur", &err, &error),
			 0);
	assert_int_equal(maildir_dir_fsync(root, ".Dst", "..", &err, &error),
			 -1);

	/* Scan: one in new, three in cur; junk skipped and counted. */
	buf_clear(&f2);
	deliver(root, ".Dst", body, 0, 0, true, &f2);
	snprintf(p, sizeof(p), "%s/.Dst/new/.hidden", root);
	write_file(p, "x");
	snprintf(p, sizeof(p), "%s/.Dst/cur/bad\x01name", root);
	write_file(p, "x");
	snprintf(p, sizeof(p), "%s/.Dst/cur/:2,S", root);
	write_file(p, "x");
	memset(&s, 0, sizeof(s));
	assert_int_equal(maildir_scan(root, ".Dst", scan_cb, &s, &skipped,
				      &err, &error), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.in_new, 1);
	assert_int_equal(skipped, 2);
	assert_int_equal(s.flags_or, MAILDIR_FLAG_DRAFT | MAILDIR_FLAG_SEEN);
	/* Scanning never moves files. */
	snprintf(p, sizeof(p), "%s/.Dst/new/%s", root, buf_cstr(&f2));
	assert_true(exists(p));
	assert_int_equal(maildir_scan(root, ".Dst", scan_stop_cb, NULL,
				      &skipped, &err, &error), -1);
	assert_int_equal(maildir_scan(root, ".Nope", scan_cb, &s, &skipped,
				      &err, &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);

	buf_deinit(&f1);
	buf_deinit(&f2);
	buf_deinit(&f3);
	rm_rf(root);
	free(root);
}

/* ---- Dovecot files ---- */

struct uid_ctx {
	uint32_t uids[8];
	char names[8][300];
	unsigned n;
};

static int
uid_cb(uint32_t uid, const char *fname, void *ctx)
{
	struct uid_ctx *u = ctx;

	if (u->n < 8) {
		u->uids[u->n] = uid;
		snprintf(u->names[u->n], sizeof(u->names[0]), "%s", fname);
	}
	u->n++;
	return 0;
}

struct kw_ctx {
	unsigned idx[30];
	char names[30][300];
	unsigned n;
};

static int
kw_cb(unsigned idx, const char *name, void *ctx)
{
	struct kw_ctx *k = ctx;

	k->idx[k->n] = idx;
	snprintf(k->names[k->n], sizeof(k->names[0]), "%s", name);
	k->n++;
	return 0;
}

struct sub_ctx {
	char names[8][300];
	unsigned n;
};

static int
sub_cb(const char *name, void *ctx)
{
	struct sub_ctx *s = ctx;

	if (s->n < 8)
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->n++;
	return 0;
}

static void
test_dovecot_fixture(void **state)
{
	struct maildir_uidlist_header hdr;
	struct uid_ctx u;
	struct kw_ctx k;
	struct sub_ctx sc;
	struct scan_ctx s;
	struct list_ctx l;
	const char *error;
	enum store_error err;
	unsigned skipped;
	char *tmp = tmpdir_new(), root[2048], p[4096];

	memset(&u, 0, sizeof(u));
	assert_int_equal(maildir_uidlist_read(FIXTURE, ".Work.Projects", &hdr,
					      uid_cb, &u, &err, &error), 0);
	assert_int_equal(hdr.version, 3);
	assert_int_equal(hdr.uidvalidity, 1795663851u);
	assert_int_equal(hdr.nextuid, 3);
	assert_string_equal(hdr.guid, "63f2f334eba7076b1b42000083ecc375");
	assert_int_equal(u.n, 2);
	assert_int_equal(u.uids[0], 1);
	assert_string_equal(u.names[0], "1795663851.M992162P16927.vm,S=164,W=172");
	assert_int_equal(u.uids[1], 2);

	memset(&u, 0, sizeof(u));
	assert_int_equal(maildir_uidlist_read(FIXTURE, "", &hdr, uid_cb, &u,
					      &err, &error), 0);
	assert_int_equal(u.n, 1);
	assert_int_equal(hdr.nextuid, 2);

	memset(&k, 0, sizeof(k));
	assert_int_equal(maildir_keywords_read(FIXTURE, ".Work.Projects", kw_cb,
					       &k, &err, &error), 0);
	assert_int_equal(k.n, 1);
	assert_int_equal(k.idx[0], 0);
	assert_string_equal(k.names[0], "$Important");
	assert_int_equal(maildir_keywords_read(FIXTURE, "", kw_cb, &k, &err,
					       &error), -1);
	assert_int_equal(err, STORE_ERR_NOTFOUND);

	memset(&sc, 0, sizeof(sc));
	assert_int_equal(maildir_subscriptions_read(FIXTURE, sub_cb, &sc,
						    &skipped, &err, &error), 0);
	assert_int_equal(sc.n, 3);
	assert_int_equal(skipped, 0);
	assert_string_equal(sc.names[0], "INBOX");
	assert_string_equal(sc.names[1], "Work/Projects");
	assert_string_equal(sc.names[2], "a.b");

	memset(&l, 0, sizeof(l));
	assert_int_equal(maildir_folder_list(FIXTURE, list_cb, &l, &skipped,
					     &err, &error), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(skipped, 0);
	assert_true(list_has(&l, "Work/Projects", ".Work.Projects"));
	assert_true(list_has(&l, "a.b", ".a\\2eb"));
	assert_true(list_has(&l, "Entwürfe", ".Entw&APw-rfe"));

	/* Scan a copy (git keeps no empty cur/ and tmp/). */
	snprintf(root, sizeof(root), "%s/Maildir", tmp);
	copy_tree(FIXTURE, root);
	snprintf(p, sizeof(p), "%s/.Work.Projects/cur", root);
	mkdir(p, 0700);
	memset(&s, 0, sizeof(s));
	assert_int_equal(maildir_scan(root, ".Work.Projects", scan_cb, &s,
				      &skipped, &err, &error), 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.in_new, 2);
	assert_int_equal(s.flags_or, MAILDIR_FLAG_SEEN | MAILDIR_FLAG_FLAGGED |
			 MAILDIR_FLAG_REPLIED);
	snprintf(p, sizeof(p), "%s/.Work.Projects/tmp", root);
	mkdir(p, 0700);
	assert_int_equal(maildir_folder_delete(root, ".Work.Projects", &err,
					       &error), 0);
	rm_rf(tmp);
	free(tmp);
}

static int
uidlist_text(const char *text, struct maildir_uidlist_header *hdr,
	     struct uid_ctx *u, enum store_error *err)
{
	char *root = tmpdir_new(), p[4096];
	const char *error;
	int ret;

	snprintf(p, sizeof(p), "%s/dovecot-uidlist", root);
	write_file(p, text);
	memset(u, 0, sizeof(*u));
	ret = maildir_uidlist_read(root, "", hdr, uid_cb, u, err, &error);
	rm_rf(root);
	free(root);
	return ret;
}

static void
test_uidlist_hostile(void **state)
{
	struct maildir_uidlist_header hdr;
	struct uid_ctx u;
	enum store_error err;
	char *big;

	/* Version 1, and v3 with extension fields and spaces in names. */
	assert_int_equal(uidlist_text("1 42 10\n3 a.b\n5 c.d\n", &hdr, &u, &err),
			 0);
	assert_int_equal(hdr.version, 1);
	assert_int_equal(hdr.uidvalidity, 42);
	assert_int_equal(hdr.nextuid, 10);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.names[1], "c.d");
	assert_int_equal(uidlist_text("3 V7 N2 Gab X1\n4 W100 S90 :a b,S=90\n",
				      &hdr, &u, &err), 0);
	assert_string_equal(u.names[0], "a b,S=90");
	assert_int_equal(hdr.nextuid, 5); /* raised past the last uid */

	assert_int_equal(uidlist_text("", &hdr, &u, &err), -1);
	assert_int_equal(err, STORE_ERR_TEMP);
	assert_int_equal(uidlist_text("1 :a\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 N5\n1 :a\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V0 N5\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 Vx N5\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5 V2\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V99999999999 N5\n", &hdr, &u, &err),
			 -1);
	assert_int_equal(uidlist_text("2 V1 N5\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5 Gxyz\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\nx :a\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n-1 :a\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n0 :a\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n4294967296 :a\n", &hdr, &u,
				      &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n 1 :a\n", &hdr, &u, &err), -1);
	/* Duplicate and decreasing uids. */
	assert_int_equal(uidlist_text("3 V1 N5\n1 :a\n1 :b\n", &hdr, &u, &err),
			 -1);
	assert_int_equal(uidlist_text("3 V1 N5\n2 :a\n1 :b\n", &hdr, &u, &err),
			 -1);
	/* Bad file names. */
	assert_int_equal(uidlist_text("3 V1 N5\n1 W5\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n1 :\n", &hdr, &u, &err), -1);
	assert_int_equal(uidlist_text("3 V1 N5\n1 :../../x\n", &hdr, &u, &err),
			 -1);
	assert_int_equal(uidlist_text("3 V1 N5\n1 :.hidden\n", &hdr, &u, &err),
			 -1);
	/* Truncated (no final newline), NUL bytes. */
	assert_int_equal(uidlist_text("3 V1 N5\n1 :a", &hdr, &u, &err), -1);
	/* Long line. */
	big = malloc(MAILDIR_CTL_MAX_LINE * 3);
	memset(big, 'a', MAILDIR_CTL_MAX_LINE * 3 - 2);
	memcpy(big, "3 V1 N5\n1 :", 11);
	big[MAILDIR_CTL_MAX_LINE * 3 - 2] = '\n';
	big[MAILDIR_CTL_MAX_LINE * 3 - 1] = '\0';
	assert_int_equal(uidlist_text(big, &hdr, &u, &err), -1);
	free(big);
	/* Missing file. */
	{
		struct maildir_uidlist_header h;
		const char *error;

		assert_int_equal(maildir_uidlist_read("/nonexistent", "", &h,
						      uid_cb, &u, &err,
						      &error), -1);
		assert_int_equal(err, STORE_ERR_NOTFOUND);
	}
}

static int
keywords_text(const char *text, struct kw_ctx *k)
{
	char *root = tmpdir_new(), p[4096];
	const char *error;
	enum store_error err;
	int ret;

	snprintf(p, sizeof(p), "%s/dovecot-keywords", root);
	write_file(p, text);
	memset(k, 0, sizeof(*k));
	ret = maildir_keywords_read(root, "", kw_cb, k, &err, &error);
	rm_rf(root);
	free(root);
	return ret;
}

static int
subs_text(const char *text, struct sub_ctx *s, unsigned *skipped)
{
	char *root = tmpdir_new(), p[4096];
	const char *error;
	enum store_error err;
	int ret;

	snprintf(p, sizeof(p), "%s/subscriptions", root);
	write_file(p, text);
	memset(s, 0, sizeof(*s));
	ret = maildir_subscriptions_read(root, sub_cb, s, skipped, &err,
					 &error);
	rm_rf(root);
	free(root);
	return ret;
}

static void
test_keywords_subs_hostile(void **state)
{
	struct kw_ctx k;
	struct sub_ctx s;
	unsigned skipped;

	assert_int_equal(keywords_text("0 $Junk\n25 Last\n3 NonJunk\n", &k), 0);
	assert_int_equal(k.n, 3);
	assert_int_equal(k.idx[1], 25);
	assert_int_equal(keywords_text("", &k), 0);
	assert_int_equal(keywords_text("26 x\n", &k), -1);
	assert_int_equal(keywords_text("99999999999999999999 x\n", &k), -1);
	assert_int_equal(keywords_text("a x\n", &k), -1);
	assert_int_equal(keywords_text("0\n", &k), -1);
	assert_int_equal(keywords_text("0 \n", &k), -1);
	assert_int_equal(keywords_text("0 a b\n", &k), -1);
	assert_int_equal(keywords_text("0 a\x01\n", &k), -1);
	assert_int_equal(keywords_text("0 a\n0 b\n", &k), -1);
	assert_int_equal(keywords_text("0 a", &k), -1);

	assert_int_equal(subs_text("V\t2\n\nINBOX\nWork\tProjects\n"
				   "Entw&APw-rfe\ninbox\n", &s, &skipped), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[2], "Entwürfe");
	assert_string_equal(s.names[3], "INBOX");
	/* Undecodable lines skipped, counted. */
	assert_int_equal(subs_text("V\t2\n\na.b\nx\t\ty\n&Jjo\n\\zz\nok\n", &s,
				   &skipped), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "ok");
	assert_int_equal(skipped, 4);
	assert_int_equal(subs_text("INBOX\n", &s, &skipped), -1);
	assert_int_equal(subs_text("V\t2\nINBOX\n", &s, &skipped), -1);
	assert_int_equal(subs_text("V\t1\n\nINBOX\n", &s, &skipped), -1);
	assert_int_equal(subs_text("V\t2\n\nINBOX", &s, &skipped), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_validate),
		cmocka_unit_test(test_name_map),
		cmocka_unit_test(test_dir_refused),
		cmocka_unit_test(test_filename),
		cmocka_unit_test(test_folders),
		cmocka_unit_test(test_delivery),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_copier),
		cmocka_unit_test(test_unique_after_fork),
		cmocka_unit_test(test_dovecot_fixture),
		cmocka_unit_test(test_uidlist_hostile),
		cmocka_unit_test(test_keywords_subs_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
