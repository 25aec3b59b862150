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

/* A FETCH answers in slices: each is one read of the index under the
 * user's lock (held well under a millisecond, not for the whole mailbox),
 * and slices are made while the output is below the high-water mark, then
 * again as the client reads.  So a 100,000-message FETCH goes out while
 * it is produced, and holds a few hundred KB, not megabytes.  A slice is
 * sized to about FETCH_SLICE_BYTES of output from the lines of the one
 * before (a message with 100 keywords makes a 10 KB line, most make 40
 * bytes); message-content items will fit the same scheme. */
#define FETCH_SLICE_BYTES 65536
#define FETCH_SLICE_FIRST 64   /* messages, before any line was seen */
#define FETCH_SLICE_MIN 16
#define FETCH_SLICE_MAX 4096
#define FETCH_OUT_ROOM 65536 /* output room asked for at a time */

/* The FLAGS list of a message without keywords depends only on its
 * flags and \Recent: made once per combination, then copied. */
#define FETCH_FLAGSETS 64 /* STORE_FLAG_* (5 bits) and \Recent */
#define FETCH_FLAGSET_MAX 64 /* "(\Answered ... \Recent)" is 50 bytes */
/* "* seq FETCH (UID uid FLAGS ": 21 bytes of words and two numbers of
 * at most 10 digits */
#define FETCH_HEAD_MAX 48

struct fetch_job {
	struct imap_session *s;
	const char *tag;                /* command arena */
	const char *done;               /* the tagged OK's text */
	struct store_uid_range *ranges; /* command arena */
	size_t nranges;
	unsigned items;                 /* FI_* */
	unsigned fields;                /* STORE_FETCH_* they need */
	struct store_fetch_pos pos;
	size_t slice;                   /* messages per slice */
	size_t nlines, nbytes;          /* made in this slice */
	uint8_t *room;                  /* output space, formatted into in
					   place (imap_session_reserve) */
	size_t room_len, room_used;
	struct buf line;                /* scratch for the rarer items */
	uint8_t flagset[FETCH_FLAGSETS][FETCH_FLAGSET_MAX];
	uint8_t flagset_len[FETCH_FLAGSETS]; /* 0: not made yet */
};

/* Queue what is formatted so far. */
static void
out_commit(struct fetch_job *f)
{
	imap_session_commit(f->s, f->room, f->room_used);
	f->nbytes += f->room_used;
	f->room = NULL;
	f->room_len = f->room_used = 0;
}

/* Room for n more bytes of output; false if there is none to be had
 * (then the caller copies instead). */
static bool
out_room(struct fetch_job *f, size_t n)
{
	if (n <= f->room_len - f->room_used)
		return true;
	out_commit(f);
	f->room = imap_session_reserve(f->s, n > FETCH_OUT_ROOM ? n :
				       FETCH_OUT_ROOM, &f->room_len);
	return f->room != NULL;
}

/* Append to the output, in place in the reserved room. */
static void
out_add(struct fetch_job *f, const void *data, size_t len)
{
	if (!out_room(f, len)) {
		imap_session_write(f->s, data, len);
		return;
	}
	/* UNSAFE: room_used + len <= room_len (out_room) */
	memcpy(f->room + f->room_used, data, len);
	f->room_used += len;
}

/* out_add of len bytes out of `pad` readable at data, copying all pad:
 * with a constant pad the copy is a few moves, not a call to memcpy,
 * which for the three short pieces of each line cost 5% of a big FETCH.
 * The bytes past len are overwritten by what follows, never sent. */
static inline void
out_add_short(struct fetch_job *f, const void *data, size_t len, size_t pad)
{
	if (!out_room(f, pad)) {
		imap_session_write(f->s, data, len);
		return;
	}
	/* UNSAFE: room_used + pad <= room_len (out_room), len <= pad */
	memcpy(f->room + f->room_used, data, pad);
	f->room_used += len;
}

static void
flags_list(struct fetch_job *f, const struct store_msg *m)
{
	unsigned k = (m->flags & 0x1fu) | (m->recent ? 0x20u : 0);

	if (m->keywords[0] != '\0' || (m->flags & ~0x1fu) != 0) {
		buf_clear(&f->line);
		imap_session_flags(f->s, &f->line, m->flags, m->keywords,
				   m->recent);
		out_add(f, f->line.data, f->line.len);
		return;
	}
	if (f->flagset_len[k] == 0) {
		buf_clear(&f->line);
		imap_session_flags(f->s, &f->line, m->flags, "", m->recent);
		if (f->line.len >= FETCH_FLAGSET_MAX) {
			out_add(f, f->line.data, f->line.len); /* can't be */
			return;
		}
		memcpy(f->flagset[k], f->line.data, f->line.len);
		f->flagset_len[k] = (uint8_t)f->line.len;
	}
	out_add_short(f, f->flagset[k], f->flagset_len[k], FETCH_FLAGSET_MAX);
}

/* End of a slice: queue its lines, and size the next slice from them. */
static void
fetch_flush(struct fetch_job *f)
{
	size_t per;

	out_commit(f);
	if (f->nlines > 0) {
		per = f->nbytes / f->nlines + 1;
		f->slice = FETCH_SLICE_BYTES / per;
		if (f->slice < FETCH_SLICE_MIN)
			f->slice = FETCH_SLICE_MIN;
		if (f->slice > FETCH_SLICE_MAX)
			f->slice = FETCH_SLICE_MAX;
	}
	f->nlines = f->nbytes = 0;
}

/* Decimal digits of v at p, which has room for 10; their count. */
static size_t
put_u32(char *p, uint32_t v)
{
	char tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* INTERNALDATE and RFC822.SIZE into f->line. */
static void
fetch_dates_sizes(struct fetch_job *f, const struct store_msg *m, bool sep)
{
	if (f->items & FI_INTERNALDATE) {
		static const char *const mon[12] = {
			"Jan", "Feb", "Mar", "Apr", "May", "Jun",
			"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
		};
		time_t t = (time_t)m->internaldate;
		struct tm tm;

		gmtime_r(&t, &tm);
		buf_printf(&f->line, "%sINTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d +0000\"",
			   sep ? " " : "", tm.tm_mday, mon[tm.tm_mon],
			   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		sep = true;
	}
	if (f->items & FI_SIZE) {
		buf_append_str(&f->line, sep ? " RFC822.SIZE " : "RFC822.SIZE ");
		buf_append_u64(&f->line, m->size);
	}
}

static void
fetch_cb(const struct store_msg *m, void *ctxp)
{
	struct fetch_job *f = ctxp;
	/* built at once: this runs 100,000 times for a big mailbox, and
	 * three appends beat a dozen */
	char head[FETCH_HEAD_MAX];
	size_t n;
	bool sep = false;

	/* UNSAFE: offsets into head, bounded by FETCH_HEAD_MAX */
	memcpy(head, "* ", 2);
	n = 2;
	n += put_u32(head + n, m->seq);
	memcpy(head + n, " FETCH (", 8);
	n += 8;
	if (f->items & FI_UID) {
		memcpy(head + n, "UID ", 4);
		n += 4;
		n += put_u32(head + n, m->uid);
		sep = true;
	}
	if ((f->items & FI_FLAGS) && sep) {
		memcpy(head + n, " FLAGS ", 7);
		n += 7;
	} else if (f->items & FI_FLAGS) {
		memcpy(head + n, "FLAGS ", 6);
		n += 6;
	}
	out_add_short(f, head, n, sizeof(head));
	if (f->items & FI_FLAGS) {
		flags_list(f, m);
		sep = true;
	}
	if (f->items & (FI_INTERNALDATE | FI_SIZE)) {
		buf_clear(&f->line);
		fetch_dates_sizes(f, m, sep);
		out_add(f, f->line.data, f->line.len);
	}
	out_add_short(f, ")\r\n", 3, 3);
	f->nlines++;
}

static void
fetch_job_free(void *ctx)
{
	struct fetch_job *f = ctx;

	buf_deinit(&f->line);
}

/* Slices until the output is full or the FETCH is done; true once the
 * tagged reply is queued (imap_session_slices). */
static bool
fetch_next(struct imap_session *s, void *ctx)
{
	struct fetch_job *f = ctx;
	struct imap_cmd cmd;
	enum store_error err = STORE_ERR_NONE;
	const char *error = NULL;
	int ret;

	do {
		ret = store_view_fetch_part(s->view, f->ranges, f->nranges,
					    f->fields, f->slice, &f->pos,
					    fetch_cb, f, &err, &error);
		fetch_flush(f);
	} while (ret > 0 && !imap_session_output_full(s));
	if (ret > 0)
		return false;
	memset(&cmd, 0, sizeof(cmd));
	cmd.session = s;
	cmd.tag = f->tag;
	cmd.arena = &s->arena;
	if (ret < 0)
		imap_cmd_store_fail(&cmd, err, error);
	else
		imap_cmd_ok(&cmd, f->done);
	fetch_job_free(f);
	return true;
}

/* Answer `items` of the messages in ranges, in slices, then tag OK with
 * `done` (FETCH, and STORE without .SILENT). */
static enum imap_cmd_status
fetch_start(struct imap_cmd *cmd, struct store_uid_range *ranges,
	    size_t nranges, unsigned items, const char *done)
{
	struct fetch_job *f;

	f = arena_alloc(cmd->arena, sizeof(*f));
	f->s = cmd->session;
	f->tag = cmd->tag;
	f->done = done;
	f->ranges = ranges;
	f->nranges = nranges;
	f->items = items;
	f->fields = STORE_FETCH_UID;
	if (items & FI_FLAGS)
		f->fields |= STORE_FETCH_FLAGS;
	if (items & (FI_INTERNALDATE | FI_SIZE))
		f->fields = STORE_FETCH_ALL;
	f->slice = FETCH_SLICE_FIRST;
	buf_init(&f->line, 0);
	if (fetch_next(cmd->session, f))
		return IMAP_CMD_DONE;
	imap_session_slices(cmd->session, fetch_next, fetch_job_free, f);
	return IMAP_CMD_ASYNC;
}

/* RFC 9051 6.4.5: FETCH sequence-set (items) */
enum imap_cmd_status
cmd_fetch(struct imap_cmd *cmd)
{
	struct store_uid_range *ranges;
	const char *error;
	size_t nranges, i;
	unsigned items = 0;

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
	return fetch_start(cmd, ranges, nranges, items, "FETCH completed");
}

/* ---- STORE ---- */

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
	ret = store_view_store(s->view, ranges, nranges, mode, flags, kw, nkw,
			       NULL, NULL, &err, &error);
	if (ret < 0)
		return imap_cmd_store_fail(cmd, err, error);
	/* RFC 9051 6.4.6: without .SILENT, the flags of every message in
	 * the set (changed or not) come back as FETCH responses (with the
	 * UID for UID STORE, 6.4.9), as a FETCH would send them. */
	if (!silent)
		return fetch_start(cmd, ranges, nranges,
				   FI_FLAGS | (cmd->uid ? FI_UID : 0),
				   "STORE completed");
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
