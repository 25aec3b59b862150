/* libFuzzer target for maildir-name: the input is tried three ways.
 * As a mailbox name: if it validates, it maps to a safe directory name
 * (starts with '.', no '/', not "." or "..", or "" for INBOX) unless that
 * is too long, and the directory maps back to the canonical name.  As a
 * directory name: if it decodes, encoding the name gives the input back
 * (one spelling per folder).  As a message file name: if it parses and is
 * canonical, building from the parts gives the input back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *in, size_t size)
{
	struct buf dir, name, canon;
	const char *error;
	enum store_error err;

	buf_init(&dir, 0);
	buf_init(&name, 0);
	buf_init(&canon, 0);
	if (maildir_name_validate(in, size, &err, &error) < 0) {
		if (maildir_name_to_dir(in, size, &dir, &err, &error) == 0 ||
		    dir.len != 0)
			abort();
		goto out;
	}
	if (maildir_name_to_dir(in, size, &dir, &err, &error) < 0) {
		if (err != STORE_ERR_LIMIT && err != STORE_ERR_BADNAME)
			abort();
		goto out;
	}
	if (maildir_name_canonical(in, size, &canon) < 0)
		abort();
	if (dir.len == 0) {
		if (!maildir_name_is_inbox(in, size))
			abort();
		goto out;
	}
	if (dir.data[0] != '.' || memchr(dir.data, '/', dir.len) != NULL ||
	    memchr(dir.data, '\0', dir.len) != NULL ||
	    strcmp(buf_cstr(&dir), ".") == 0 ||
	    strcmp(buf_cstr(&dir), "..") == 0 ||
	    dir.len > MAILDIR_DIRNAME_MAX)
		abort();
	if (maildir_dir_to_name(buf_cstr(&dir), dir.len, &name, &error) < 0)
		abort();
	if (name.len != canon.len || memcmp(name.data, canon.data, name.len) != 0)
		abort();
out:
	buf_deinit(&dir);
	buf_deinit(&name);
	buf_deinit(&canon);
}

static void
check_dir(const char *in, size_t size)
{
	struct buf name, dir;
	const char *error;
	enum store_error err;

	buf_init(&name, 0);
	buf_init(&dir, 0);
	if (maildir_dir_to_name(in, size, &name, &error) == 0) {
		if (maildir_name_to_dir(buf_cstr(&name), name.len, &dir, &err,
					&error) < 0)
			abort();
		if (dir.len != size || memcmp(dir.data, in, size) != 0)
			abort();
	} else if (name.len != 0) {
		abort();
	}
	buf_deinit(&name);
	buf_deinit(&dir);
}

static void
check_filename(const char *in, size_t size)
{
	struct maildir_filename fn;
	struct buf out;

	if (maildir_filename_parse(in, size, &fn) < 0)
		return;
	if (fn.base_len == 0 || fn.base_len > size ||
	    memchr(fn.base, ':', fn.base_len) != NULL ||
	    memchr(in, '/', size) != NULL || in[0] == '.')
		abort();
	if (!fn.is_canonical)
		return;
	buf_init(&out, 0);
	if (maildir_filename_build(&out, fn.base, fn.base_len, fn.flags,
				   fn.keywords) < 0)
		abort();
	if (out.len != size || memcmp(out.data, in, size) != 0)
		abort();
	buf_deinit(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	/* A private copy, so reads past `size` are caught by ASan. */
	in = malloc(size + 1);
	if (in == NULL)
		return 0;
	if (size > 0)
		memcpy(in, data, size);
	in[size] = '\0';
	check_name(in, size);
	check_dir(in, size);
	check_filename(in, size);
	free(in);
	return 0;
}
