/* Unit tests for passdb.c: passwd-file parsing edge cases, reload on
 * change, keeping the last good contents, a missing file, the editing
 * functions (other lines kept byte for byte), name validation, a large
 * file and concurrent lookups during edits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "passdb.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-passdb.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/passwd", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char p[200];

	unlink(f->path);
	rmdir(f->path); /* in case a test left a directory there */
	snprintf(p, sizeof(p), "%s.lock", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s.tmp", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/moved", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	char tmp[200];
	FILE *fp;

	/* replace atomically, like an editor or the CLI would */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fp = fopen(tmp, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void
write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

static char *
read_all(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "r");
	char *data = malloc(1 << 20);
	size_t n;

	assert_non_null(fp);
	assert_non_null(data);
	n = fread(data, 1, (1 << 20) - 1, fp);
	fclose(fp);
	data[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	return data;
}

static void
expect_user(struct passdb *db, const char *name, const char *password,
	    long uid, long gid, const char *home, const char *extra)
{
	struct passdb_user *u = NULL;

	if (passdb_lookup(db, name, &u) != 1)
		fail_msg("user %s not found", name);
	assert_string_equal(u->name, name);
	assert_string_equal(u->password, password);
	assert_int_equal(u->uid, uid);
	assert_int_equal(u->gid, gid);
	assert_string_equal(u->home, home);
	assert_string_equal(u->extra, extra);
	passdb_user_free(&u);
	assert_null(u);
}

static void
expect_none(struct passdb *db, const char *name)
{
	struct passdb_user *u = (struct passdb_user *)1;

	assert_int_equal(passdb_lookup(db, name, &u), 0);
	assert_null(u);
}

static void
test_parse(void **state)
{
	struct fixture *f = *state;
	struct passdb *db;
	const char *error = NULL;
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	buf_append_str(&b,
		"# a comment:with:colons\n"
		"\n"
		"   \n"
		"full:{PLAIN}pw:1000:1001:Gecos Name:/home/full:/bin/sh:"
			"userdb_quota_rule=*:storage=1G mail=maildir:~/M\n"
		"crlf:{PLAIN}crlf::::/home/crlf::\r\n"
		"onlyname\n"
		"namepw:{PLAIN}x\n"
		"short:{PLAIN}s:5\n"
		"badid:{PLAIN}b:notanumber:1\n"
		"negid:{PLAIN}b:-1:1\n"
		"bigid:{PLAIN}b:99999999999:1\n"
		":{PLAIN}noname\n"
		"dup:{PLAIN}first\n"
		"dup:{PLAIN}second\n"
		"\t#not a comment? no: tab-led lines are names\n"
		"emptypw::1:2\n");
	buf_append_str(&b, "long:{PLAIN}l::::/h::");
	for (i = 0; i < 20000; i++)
		buf_append_byte(&b, (uint8_t)('a' + i % 26));
	buf_append_str(&b, "\nlast:{PLAIN}nonl:7:8"); /* no final newline */
	write_file(f->path, b.data, b.len);

	db = passdb_new(f->path, &error);
	assert_non_null(db);
	expect_user(db, "full", "{PLAIN}pw", 1000, 1001, "/home/full",
		    "userdb_quota_rule=*:storage=1G mail=maildir:~/M");
	expect_user(db, "crlf", "{PLAIN}crlf", -1, -1, "/home/crlf", "");
	expect_user(db, "onlyname", "", -1, -1, "", "");
	expect_user(db, "namepw", "{PLAIN}x", -1, -1, "", "");
	expect_user(db, "short", "{PLAIN}s", 5, -1, "", "");
	expect_user(db, "dup", "{PLAIN}first", -1, -1, "", "");
	expect_user(db, "emptypw", "", 1, 2, "", "");
	expect_user(db, "last", "{PLAIN}nonl", 7, 8, "", "");
	expect_none(db, "badid");
	expect_none(db, "negid");
	expect_none(db, "bigid");
	expect_none(db, "");
	expect_none(db, "# a comment");
	expect_none(db, "Full"); /* exact match only */
	expect_none(db, "ful");
	expect_none(db, "crlf\r");
	{
		struct passdb_user *u = NULL;

		assert_int_equal(passdb_lookup(db, "long", &u), 1);
		assert_int_equal(strlen(u->extra), 20000);
		assert_string_equal(u->home, "/h");
		passdb_user_free(&u);
	}
	passdb_free(&db);
	assert_null(db);
	buf_deinit(&b);
}

static void
test_nul_line(void **state)
{
	static const char data[] = "a:{PLAIN}x\nb\0c:{PLAIN}y\nd:{PLAIN}z\n";

	struct fixture *f = *state;
	struct passdb *db;
	const char *error;

	write_file(f->path, data, sizeof(data) - 1);
	db = passdb_new(f->path, &error);
	assert_non_null(db);
	expect_user(db, "a", "{PLAIN}x", -1, -1, "", "");
	expect_user(db, "d", "{PLAIN}z", -1, -1, "", "");
	expect_none(db, "b");
	passdb_free(&db);
}

static void
test_missing_and_reload(void **state)
{
	struct fixture *f = *state;
	struct passdb *db;
	const char *error = NULL;
	char moved[200];

	/* a missing file is an empty database */
	db = passdb_new(f->path, &error);
	assert_non_null(db);
	expect_none(db, "alice");

	/* created later: seen at the next lookup */
	write_str(f->path, "alice:{PLAIN}one\n");
	expect_user(db, "alice", "{PLAIN}one", -1, -1, "", "");

	/* same size, new content: detected (inode / mtime) */
	write_str(f->path, "alice:{PLAIN}two\n");
	expect_user(db, "alice", "{PLAIN}two", -1, -1, "", "");

	/* rewritten in place with the same size (same inode) */
	usleep(20000); /* past the file system's timestamp tick */
	{
		FILE *fp = fopen(f->path, "r+");

		assert_non_null(fp);
		fputs("alice:{PLAIN}thr\n", fp);
		fclose(fp);
	}
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");
	/* and again at once, possibly within one tick: the racy-mtime
	 * re-read picks it up within two seconds */
	{
		FILE *fp = fopen(f->path, "r+");

		assert_non_null(fp);
		fputs("alice:{PLAIN}fou\n", fp);
		fclose(fp);
	}
	usleep(2100000);
	expect_user(db, "alice", "{PLAIN}fou", -1, -1, "", "");
	write_str(f->path, "alice:{PLAIN}thr\n");
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");

	/* a failed re-read keeps the last good contents */
	snprintf(moved, sizeof(moved), "%s/moved", f->dir);
	assert_int_equal(rename(f->path, moved), 0);
	assert_int_equal(mkdir(f->path, 0700), 0);
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");
	error = NULL;
	assert_int_equal(passdb_reload(db, &error), -1);
	assert_non_null(error);
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");
	assert_int_equal(rmdir(f->path), 0);

	/* the file gone: empty again */
	expect_none(db, "alice");
	assert_int_equal(passdb_reload(db, &error), 0);
	expect_none(db, "alice");

	/* and back */
	assert_int_equal(rename(moved, f->path), 0);
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");
	assert_int_equal(passdb_reload(db, &error), 0);
	expect_user(db, "alice", "{PLAIN}thr", -1, -1, "", "");
	passdb_free(&db);
}

static void
test_new_errors(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;

	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_null(passdb_new(f->path, &error));
	assert_non_null(error);
	assert_int_equal(rmdir(f->path), 0);
	error = NULL;
	assert_null(passdb_new("", &error));
	assert_non_null(error);
}

static void
test_name_valid(void **state)
{
	char long_name[PASSDB_NAME_MAX_LEN + 2];

	(void)state;
	assert_true(passdb_name_valid("alice"));
	assert_true(passdb_name_valid("a.b_c-d+e@example.org"));
	assert_true(passdb_name_valid("A9"));
	assert_false(passdb_name_valid(""));
	assert_false(passdb_name_valid(NULL));
	assert_false(passdb_name_valid(".hidden"));
	assert_false(passdb_name_valid("a:b"));
	assert_false(passdb_name_valid("a b"));
	assert_false(passdb_name_valid("a/b"));
	assert_false(passdb_name_valid("a\nb"));
	assert_false(passdb_name_valid("#a"));
	assert_false(passdb_name_valid("\xc3\xa9"));
	memset(long_name, 'x', sizeof(long_name));
	long_name[PASSDB_NAME_MAX_LEN] = '\0';
	assert_true(passdb_name_valid(long_name));
	long_name[PASSDB_NAME_MAX_LEN] = 'x';
	long_name[PASSDB_NAME_MAX_LEN + 1] = '\0';
	assert_false(passdb_name_valid(long_name));
}

struct list_ctx {
	struct buf out;
	unsigned count;
};

static void
list_cb(const struct passdb_user *u, void *context)
{
	struct list_ctx *ctx = context;

	ctx->count++;
	buf_printf(&ctx->out, "%s=%s;", u->name, u->password);
}

static void
test_edit(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	struct list_ctx lc;
	struct passdb *db;
	struct stat st;
	char *data;
	static const char orig[] =
		"# users\n"
		"alice:{PLAIN}a:1000:1000::/home/alice::quota=1G\n"
		"\n"
		"bob:{PLAIN}b\r\n"
		"  weird line kept as is  \n"
		"carol\n"
		"dave:{PLAIN}d:1:2:g:/h:/s:x:y:z";

	/* add to a new file: mode 0640, whatever the umask */
	umask(077);
	assert_int_equal(passdb_file_add(f->path, "zed", "{PLAIN}z",
					 &error), 0);
	umask(022);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	data = read_all(f->path, NULL);
	assert_string_equal(data, "zed:{PLAIN}z::::::\n");
	free(data);

	write_str(f->path, orig);
	assert_int_equal(chmod(f->path, 0600), 0);

	assert_int_equal(passdb_file_add(f->path, "erin", "{PLAIN}e",
					 &error), 0);
	data = read_all(f->path, NULL);
	assert_string_equal(data, "# users\n"
		"alice:{PLAIN}a:1000:1000::/home/alice::quota=1G\n"
		"\n"
		"bob:{PLAIN}b\r\n"
		"  weird line kept as is  \n"
		"carol\n"
		"dave:{PLAIN}d:1:2:g:/h:/s:x:y:z\n"
		"erin:{PLAIN}e::::::\n");
	free(data);
	/* the existing file's mode is kept */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	error = NULL;
	assert_int_equal(passdb_file_add(f->path, "alice", "{PLAIN}x",
					 &error), -1);
	assert_non_null(error);

	assert_int_equal(passdb_file_set_password(f->path, "bob", "{PLAIN}B2",
						  &error), 0);
	assert_int_equal(passdb_file_set_password(f->path, "alice",
						  "{PLAIN}A2", &error), 0);
	assert_int_equal(passdb_file_set_password(f->path, "carol",
						  "{PLAIN}C2", &error), 0);
	assert_int_equal(passdb_file_set_password(f->path, "dave",
						  "{PLAIN}D2", &error), 0);
	data = read_all(f->path, NULL);
	assert_string_equal(data, "# users\n"
		"alice:{PLAIN}A2:1000:1000::/home/alice::quota=1G\n"
		"\n"
		"bob:{PLAIN}B2\r\n"
		"  weird line kept as is  \n"
		"carol:{PLAIN}C2\n"
		"dave:{PLAIN}D2:1:2:g:/h:/s:x:y:z\n"
		"erin:{PLAIN}e::::::\n");
	free(data);

	error = NULL;
	assert_int_equal(passdb_file_set_password(f->path, "nobody",
						  "{PLAIN}x", &error), -1);
	assert_non_null(error);
	error = NULL;
	assert_int_equal(passdb_file_del(f->path, "nobody", &error), -1);
	assert_non_null(error);
	/* a comment is never a user */
	assert_int_equal(passdb_file_del(f->path, "# users", &error), -1);

	assert_int_equal(passdb_file_del(f->path, "bob", &error), 0);
	assert_int_equal(passdb_file_del(f->path, "erin", &error), 0);
	data = read_all(f->path, NULL);
	assert_string_equal(data, "# users\n"
		"alice:{PLAIN}A2:1000:1000::/home/alice::quota=1G\n"
		"\n"
		"  weird line kept as is  \n"
		"carol:{PLAIN}C2\n"
		"dave:{PLAIN}D2:1:2:g:/h:/s:x:y:z\n");
	free(data);

	/* the loaded view agrees */
	db = passdb_new(f->path, &error);
	assert_non_null(db);
	expect_user(db, "alice", "{PLAIN}A2", 1000, 1000, "/home/alice",
		    "quota=1G");
	expect_none(db, "bob");
	expect_user(db, "dave", "{PLAIN}D2", 1, 2, "/h", "x:y:z");
	passdb_free(&db);

	memset(&lc, 0, sizeof(lc));
	buf_init(&lc.out, 0);
	assert_int_equal(passdb_file_list(f->path, list_cb, &lc, &error), 0);
	assert_string_equal(buf_cstr(&lc.out),
		"alice={PLAIN}A2;  weird line kept as is  =;carol={PLAIN}C2;"
		"dave={PLAIN}D2;");
	assert_int_equal(lc.count, 4);
	buf_deinit(&lc.out);

	/* the lock file stays, the tmp file doesn't */
	{
		char p[200];

		snprintf(p, sizeof(p), "%s.lock", f->path);
		assert_int_equal(access(p, F_OK), 0);
		snprintf(p, sizeof(p), "%s.tmp", f->path);
		assert_int_equal(access(p, F_OK), -1);
	}
}

static void
test_edit_validation(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct list_ctx lc;
	char *data;

	write_str(f->path, "alice:{PLAIN}a\n");
	error = NULL;
	assert_int_equal(passdb_file_add(f->path, "bad:name", "{PLAIN}x",
					 &error), -1);
	assert_non_null(error);
	assert_int_equal(passdb_file_add(f->path, ".dot", "{PLAIN}x",
					 &error), -1);
	assert_int_equal(passdb_file_add(f->path, "ok", "{PLAIN}x:y",
					 &error), -1);
	assert_int_equal(passdb_file_add(f->path, "ok", "{PLAIN}x\ny",
					 &error), -1);
	assert_int_equal(passdb_file_add(f->path, "ok", "{PLAIN}x\ry",
					 &error), -1);
	assert_int_equal(passdb_file_add(f->path, "ok", "", &error), -1);
	assert_int_equal(passdb_file_add(f->path, "ok", NULL, &error), -1);
	assert_int_equal(passdb_file_set_password(f->path, "alice", "a:b",
						  &error), -1);
	assert_int_equal(passdb_file_del(f->path, "", &error), -1);
	data = read_all(f->path, NULL);
	assert_string_equal(data, "alice:{PLAIN}a\n");
	free(data);

	/* listing a missing file: nothing, no error */
	unlink(f->path);
	memset(&lc, 0, sizeof(lc));
	buf_init(&lc.out, 0);
	assert_int_equal(passdb_file_list(f->path, list_cb, &lc, &error), 0);
	assert_int_equal(lc.count, 0);
	buf_deinit(&lc.out);
	/* deleting from a missing file */
	assert_int_equal(passdb_file_del(f->path, "alice", &error), -1);
	/* listing something unreadable */
	assert_int_equal(mkdir(f->path, 0700), 0);
	error = NULL;
	assert_int_equal(passdb_file_list(f->path, list_cb, &lc, &error), -1);
	assert_non_null(error);
	assert_int_equal(passdb_file_add(f->path, "x", "{PLAIN}x", &error), -1);
	rmdir(f->path);
}

static void
test_large(void **state)
{
	struct fixture *f = *state;
	const char *error;
	struct passdb *db;
	struct buf b;
	unsigned i;
	char name[32], pw[32];

	buf_init(&b, 0);
	for (i = 0; i < 100000; i++)
		buf_printf(&b, "user%u:{PLAIN}pw%u:%u:%u::/home/user%u::\n",
			   i, i, i, i, i);
	write_file(f->path, b.data, b.len);
	buf_deinit(&b);
	db = passdb_new(f->path, &error);
	assert_non_null(db);
	for (i = 0; i < 100000; i += 997) {
		struct passdb_user *u;

		snprintf(name, sizeof(name), "user%u", i);
		snprintf(pw, sizeof(pw), "{PLAIN}pw%u", i);
		assert_int_equal(passdb_lookup(db, name, &u), 1);
		assert_string_equal(u->password, pw);
		assert_int_equal(u->uid, i);
		passdb_user_free(&u);
	}
	expect_none(db, "user100000");
	expect_none(db, "user");
	passdb_free(&db);
}

struct thread_ctx {
	struct passdb *db;
	int failures;
};

static void *
lookup_thread(void *arg)
{
	struct thread_ctx *ctx = arg;
	struct passdb_user *u;
	int i;

	for (i = 0; i < 2000; i++) {
		if (passdb_lookup(ctx->db, "stable", &u) != 1) {
			ctx->failures++;
			continue;
		}
		if (strcmp(u->password, "{PLAIN}s") != 0)
			ctx->failures++;
		passdb_user_free(&u);
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct thread_ctx ctx[4];
	pthread_t th[4];
	const char *error;
	struct passdb *db;
	char hash[32];
	int i;

	write_str(f->path, "stable:{PLAIN}s\nchanging:{PLAIN}0\n");
	db = passdb_new(f->path, &error);
	assert_non_null(db);
	for (i = 0; i < 4; i++) {
		ctx[i].db = db;
		ctx[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, lookup_thread,
						&ctx[i]), 0);
	}
	for (i = 0; i < 50; i++) {
		snprintf(hash, sizeof(hash), "{PLAIN}%d", i);
		assert_int_equal(passdb_file_set_password(f->path, "changing",
							  hash, &error), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ctx[i].failures, 0);
	}
	expect_user(db, "changing", "{PLAIN}49", -1, -1, "", "");
	passdb_free(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_reload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_new_errors, setup,
						teardown),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test_setup_teardown(test_edit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_validation, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
