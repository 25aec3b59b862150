/* cmd-fetch: FETCH (RFC 9051 6.4.5; the metadata items FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE and the FAST macro — message content comes
 * with the message-content work), STORE (6.4.6), COPY (6.4.7), MOVE
 * (RFC 6851), the UID prefix (6.4.9) with COPYUID (RFC 4315), and the
 * sequence-set-to-UID translation every one of them needs. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap-cmd.h"
#include "imap-mailbox.h"
#include "imap-seqset.h"
#include "store.h"
#include "xalloc.h"

int
imap_cmd_uid_ranges(struct imap_cmd *cmd, const struct imap_arg *arg,
		    struct store_uid_range **ranges_r, size_t *count_r,
		    const char **error_r)
{
	struct store_view *v = cmd->session->view;
	struct imap_seqset set;
	struct store_uid_range *r;
	uint32_t count = store_view_count(v);
	size_t i, n = 0;

	if (arg->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(cmd->arena, (const char *)arg->data, arg->len,
			      &set, error_r) < 0) {
		if (arg->type != IMAP_ARG_ATOM)
			*error_r = "Invalid sequence set";
		return -1;
	}
	if (set.is_saved) {
		*error_r = "Saved search results ($) are not supported";
		return -1;
	}
	imap_seqset_resolve(&set, cmd->uid ? store_view_max_uid(v) : count);
	r = arena_allocarray(cmd->arena, set.count + 1, sizeof(*r));
	for (i = 0; i < set.count; i++) {
		uint32_t lo = set.ranges[i].lo, hi = set.ranges[i].hi;

		if (cmd->uid) {
			/* RFC 9051 6.4.9: UIDs not in the mailbox are
			 * ignored, not errors. */
			if (hi == 0)
				continue;
			r[n].lo = lo == 0 ? 1 : lo;
			r[n].hi = hi;
			n++;
			continue;
		}
		if (lo == 0 || hi > count) {
			*error_r = "Invalid message sequence number";
			return -1;
		}
		r[n].lo = store_view_uid(v, lo);
		r[n].hi = store_view_uid(v, hi);
		n++;
	}
	*ranges_r = r;
	*count_r = n;
	return 0;
}

/* ---- FETCH ---- */

#define FI_FLAGS 0x1u
#define FI_UID 0x2u
#define FI_INTERNALDATE 0x4u
#define FI_SIZE 0x8u

static int
fetch_item(const struct imap_arg *a, unsigned *items)
{
	if (a->type != IMAP_ARG_ATOM)
		return -1;
	if (imap_arg_atom_equals(a, "FLAGS"))
		*items |= FI_FLAGS;
	else if (imap_arg_atom_equals(a, "UID"))
		*items |= FI_UID;
	else if (imap_arg_atom_equals(a, "INTERNALDATE"))
		*items |= FI_INTERNALDATE;
	else if (imap_arg_atom_equals(a, "RFC822.SIZE"))
		*items |= FI_SIZE;
	else if (imap_arg_atom_equals(a, "FAST"))
		*items |= FI_FLAGS | FI_INTERNALDATE | FI_SIZE;
	else
		return -1;
	return 0;
}

struct fetch_ctx {
	struct imap_session *s;
	unsigned items;
	struct buf out;
};

#define FETCH_FLUSH_BYTES 65536 /* batch small lines into big writes */

static void
fetch_cb(const struct store_msg *m, void *ctxp)
{
	struct fetch_ctx *f = ctxp;
	bool sep = false;

	buf_append_str(&f->out, "* ");
	buf_append_u64(&f->out, m->seq);
	buf_append_str(&f->out, " FETCH (");
	if (f->items & FI_UID) {
		buf_append_str(&f->out, "UID ");
		buf_append_u64(&f->out, m->uid);
		sep = true;
	}
	if (f->items & FI_FLAGS) {
		buf_append_str(&f->out, sep ? " FLAGS " : "FLAGS ");
		imap_session_flags(f->s, &f->out, m->flags, m->keywords, m->recent);
		sep = true;
	}
	if (f->items & FI_INTERNALDATE) {
		static const char *const mon[12] = {
			"Jan", "Feb", "Mar", "Apr", "May", "Jun",
			"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
		};
		time_t t = (time_t)m->internaldate;
		struct tm tm;

		gmtime_r(&t, &tm);
		buf_printf(&f->out, "%sINTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d +0000\"",
			   sep ? " " : "", tm.tm_mday, mon[tm.tm_mon],
			   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		sep = true;
	}
	if (f->items & FI_SIZE) {
		buf_append_str(&f->out, sep ? " RFC822.SIZE " : "RFC822.SIZE ");
		buf_append_u64(&f->out, m->size);
	}
	buf_append_str(&f->out, ")\r\n");
	if (f->out.len >= FETCH_FLUSH_BYTES) {
		imap_session_write(f->s, f->out.data, f->out.len);
		buf_clear(&f->out);
	}
}

/* RFC 9051 6.4.5: FETCH sequence-set (items) */
enum imap_cmd_status
cmd_fetch(struct imap_cmd *cmd)
{
	struct store_uid_range *ranges;
	struct fetch_ctx f;
	enum store_error err;
	const char *error;
	size_t nranges, i;
	unsigned items = 0;
	int ret;

	if (cmd->argc != 2)
		return imap_cmd_bad(cmd, "FETCH needs a sequence set and items");
	if (cmd->args[1].type == IMAP_ARG_LIST) {
		if (cmd->args[1].count == 0)
			return imap_cmd_bad(cmd, "Empty FETCH item list");
		for (i = 0; i < cmd->args[1].count; i++) {
			if (fetch_item(&cmd->args[1].list[i], &items) < 0)
				return imap_cmd_bad(cmd, "Unsupported FETCH item");
		}
	} else if (fetch_item(&cmd->args[1], &items) < 0) {
		return imap_cmd_bad(cmd, "Unsupported FETCH item");
	}
	if (cmd->uid)
		items |= FI_UID; /* RFC 9051 6.4.9 */
	if (imap_cmd_uid_ranges(cmd, &cmd->args[0], &ranges, &nranges, &error) < 0)
		return imap_cmd_bad(cmd, error);
	f.s = cmd->session;
	f.items = items;
	buf_init(&f.out, 0);
	ret = store_view_fetch(cmd->session->view, ranges, nranges, fetch_cb, &f,
			       &err, &error);
	imap_session_write(cmd->session, f.out.data, f.out.len);
	buf_deinit(&f.out);
	if (ret < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "FETCH completed");
}

/* ---- STORE ---- */

struct store_out {
	struct imap_session *s;
	bool uid;
	struct buf out;
};

static void
store_out_cb(const struct store_msg *m, void *ctxp)
{
	struct store_out *o = ctxp;

	buf_clear(&o->out);
	buf_printf(&o->out, "* %u FETCH (", m->seq);
	if (o->uid)
		buf_printf(&o->out, "UID %u ", m->uid);
	buf_append_str(&o->out, "FLAGS ");
	imap_session_flags(o->s, &o->out, m->flags, m->keywords, m->recent);
	buf_append_str(&o->out, ")\r\n");
	imap_session_write(o->s, o->out.data, o->out.len);
}

/* RFC 9051 6.4.6: STORE set [+|-]FLAGS[.SILENT] (flags) | flag... */
enum imap_cmd_status
cmd_store(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct store_uid_range *ranges;
	enum store_flag_mode mode = STORE_FLAGS_REPLACE;
	const char *item, *error, **kw;
	const struct imap_arg *fl;
	enum store_error err;
	struct store_out o;
	size_t nranges, nfl, nkw;
	unsigned flags;
	bool silent = false;
	int ret;

	if (cmd->argc < 3 || cmd->args[1].type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "STORE needs a set, an item and flags");
	item = (const char *)cmd->args[1].data;
	if (item[0] == '+' || item[0] == '-') {
		mode = item[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		silent = true;
	else if (strcasecmp(item, "FLAGS") != 0)
		return imap_cmd_bad(cmd, "Unsupported STORE item");
	if (cmd->argc == 3 && cmd->args[2].type == IMAP_ARG_LIST) {
		fl = cmd->args[2].list;
		nfl = cmd->args[2].count;
	} else {
		fl = &cmd->args[2];
		nfl = cmd->argc - 2;
	}
	if (imap_parse_flags(cmd, fl, nfl, &flags, &kw, &nkw, &error) < 0)
		return imap_cmd_bad(cmd, error);
	if (imap_cmd_uid_ranges(cmd, &cmd->args[0], &ranges, &nranges, &error) < 0)
		return imap_cmd_bad(cmd, error);
	if (store_view_readonly(s->view))
		return imap_cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
	o.s = s;
	o.uid = cmd->uid;
	buf_init(&o.out, 0);
	ret = store_view_store(s->view, ranges, nranges, mode, flags, kw, nkw,
			       NULL, NULL, &err, &error);
	/* RFC 9051 6.4.6: without .SILENT, the flags of every message in
	 * the set (changed or not) come back as FETCH responses. */
	if (ret == 0 && !silent)
		ret = store_view_fetch(s->view, ranges, nranges, store_out_cb, &o,
				       &err, &error);
	buf_deinit(&o.out);
	if (ret < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "STORE completed");
}

/* ---- COPY / MOVE ---- */

static void
append_uid_set(struct buf *out, const uint32_t *uids, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			buf_append_byte(out, ',');
		if (j > i)
			buf_printf(out, "%u:%u", uids[i], uids[j]);
		else
			buf_printf(out, "%u", uids[i]);
		i = j + 1;
	}
}

/* RFC 6851 4.3: the EXPUNGEs follow the untagged OK [COPYUID], which is
 * only known once the copy is done: hold them until then. */
static void
move_expunge_cb(uint32_t seq, void *ctx)
{
	buf_printf(ctx, "* %u EXPUNGE\r\n", seq);
}

static enum imap_cmd_status
copy_common(struct imap_cmd *cmd, bool move)
{
	struct imap_session *s = cmd->session;
	struct store_uid_range *ranges;
	const char *dest, *error;
	enum store_error err;
	uint32_t uidvalidity, *src = NULL, *dst = NULL;
	size_t nranges, n = 0;
	struct buf code, expunges;
	enum imap_cmd_status st;

	if (cmd->argc != 2)
		return imap_cmd_bad(cmd, "A sequence set and a mailbox are needed");
	if (imap_cmd_uid_ranges(cmd, &cmd->args[0], &ranges, &nranges, &error) < 0)
		return imap_cmd_bad(cmd, error);
	dest = imap_mailbox_from_wire(cmd, &cmd->args[1], &error);
	if (dest == NULL)
		return imap_cmd_no(cmd, "TRYCREATE", error);
	if (move && store_view_readonly(s->view))
		return imap_cmd_no(cmd, "READ-ONLY", "Mailbox is read-only");
	buf_init(&code, 0);
	buf_init(&expunges, 0);
	if (store_view_copy(s->view, ranges, nranges, dest, move, &uidvalidity,
			    &src, &dst, &n, move_expunge_cb, &expunges, &err,
			    &error) < 0) {
		buf_deinit(&code);
		buf_deinit(&expunges);
		return imap_cmd_store_fail(cmd, err, error);
	}
	if (n > 0) {
		buf_printf(&code, "[COPYUID %u ", uidvalidity);
		append_uid_set(&code, src, n);
		buf_append_byte(&code, ' ');
		append_uid_set(&code, dst, n);
		buf_append_str(&code, "]");
	}
	free(src);
	free(dst);
	if (move) {
		if (n > 0)
			imap_session_printf(s, "* OK %s Moved\r\n", buf_cstr(&code));
		imap_session_write(s, expunges.data, expunges.len);
		imap_session_sync(s, true);
		st = imap_cmd_ok(cmd, "MOVE completed");
	} else {
		buf_append_str(&code, n > 0 ? " COPY completed" : "COPY completed");
		imap_session_sync(s, false);
		st = imap_cmd_ok(cmd, buf_cstr(&code));
	}
	buf_deinit(&code);
	buf_deinit(&expunges);
	return st;
}

enum imap_cmd_status
cmd_copy(struct imap_cmd *cmd)
{
	return copy_common(cmd, false);
}

enum imap_cmd_status
cmd_move(struct imap_cmd *cmd)
{
	return copy_common(cmd, true);
}

/* RFC 9051 6.4.9: UID COPY/MOVE/FETCH/STORE/EXPUNGE (SEARCH comes with
 * the search work). */
enum imap_cmd_status
cmd_uid(struct imap_cmd *cmd)
{
	struct imap_cmd sub = *cmd;
	const struct imap_arg *a = &cmd->args[0];

	if (cmd->argc < 1 || a->type != IMAP_ARG_ATOM)
		return imap_cmd_bad(cmd, "UID needs a command");
	sub.uid = true;
	sub.args = cmd->args + 1;
	sub.argc = cmd->argc - 1;
	if (imap_arg_atom_equals(a, "FETCH"))
		return cmd_fetch(&sub);
	if (imap_arg_atom_equals(a, "STORE"))
		return cmd_store(&sub);
	if (imap_arg_atom_equals(a, "COPY"))
		return cmd_copy(&sub);
	if (imap_arg_atom_equals(a, "MOVE"))
		return cmd_move(&sub);
	if (imap_arg_atom_equals(a, "EXPUNGE"))
		return cmd_expunge(&sub);
	return imap_cmd_bad(cmd, "Unknown UID command");
}
