/* cmd-mailbox: CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB
 * NAMESPACE STATUS (RFC 9051 6.3.4-6.3.11), with LIST-EXTENDED (RFC 5258),
 * SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154), LIST-STATUS (RFC 5819)
 * and STATUS=SIZE (RFC 8438). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-cmd.h"
#include "imap-mailbox.h"
#include "imap-resp.h"
#include "store.h"
#include "xalloc.h"

#define LIST_MAX_PATTERNS 100

static const char *const special_uses[] = {
	"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent",
	"\\Trash", NULL,
};

static const char *
special_use_canonical(const char *s)
{
	size_t i;

	for (i = 0; special_uses[i] != NULL; i++) {
		if (strcasecmp(special_uses[i], s) == 0)
			return special_uses[i];
	}
	return NULL;
}

/* A name as given, with one trailing separator dropped (RFC 9051 6.3.4:
 * "foo/" declares the intent to create children). */
static const char *
mailbox_arg(struct imap_cmd *cmd, size_t i, const char **error_r)
{
	const char *name = imap_mailbox_from_wire(cmd, &cmd->args[i], error_r);
	size_t len;

	if (name == NULL)
		return NULL;
	len = strlen(name);
	if (len > 1 && name[len - 1] == STORE_SEPARATOR)
		name = arena_strndup(cmd->arena, name, len - 1);
	return store_mailbox_canonical(name);
}

/* RFC 9051 6.3.4, RFC 6154 3: CREATE name [(USE (\Special))] */
enum imap_cmd_status
cmd_create(struct imap_cmd *cmd)
{
	const char *name, *error, *use = NULL;
	enum store_error err;

	if (cmd->argc != 1 && cmd->argc != 2)
		return imap_cmd_bad(cmd, "CREATE needs a mailbox name");
	name = mailbox_arg(cmd, 0, &error);
	if (name == NULL)
		return imap_cmd_no(cmd, "CANNOT", error);
	if (cmd->argc == 2) {
		const struct imap_arg *opts = &cmd->args[1], *uses;

		if (opts->type != IMAP_ARG_LIST || opts->count != 2 ||
		    !imap_arg_atom_equals(&opts->list[0], "USE") ||
		    opts->list[1].type != IMAP_ARG_LIST)
			return imap_cmd_bad(cmd, "Invalid CREATE parameters");
		uses = &opts->list[1];
		if (uses->count > 1)
			return imap_cmd_no(cmd, "USEATTR",
					   "Only one special-use attribute per mailbox");
		if (uses->count == 1) {
			if (uses->list[0].type != IMAP_ARG_ATOM)
				return imap_cmd_bad(cmd, "Invalid USE attribute");
			use = special_use_canonical((const char *)uses->list[0].data);
			if (use == NULL)
				return imap_cmd_no(cmd, "USEATTR",
						   "Unsupported special-use attribute");
		}
	}
	if (strcmp(name, "INBOX") == 0)
		return imap_cmd_no(cmd, "ALREADYEXISTS", "INBOX always exists");
	if (store_mailbox_create(cmd->session->store, name, use, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "CREATE completed");
}

/* RFC 9051 6.3.5 */
enum imap_cmd_status
cmd_delete(struct imap_cmd *cmd)
{
	const char *name, *error;
	enum store_error err;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "DELETE needs a mailbox name");
	name = mailbox_arg(cmd, 0, &error);
	if (name == NULL)
		return imap_cmd_no(cmd, "NONEXISTENT", error);
	if (strcmp(name, "INBOX") == 0)
		return imap_cmd_no(cmd, "CANNOT", "INBOX can't be deleted");
	if (store_mailbox_delete(cmd->session->store, name, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "DELETE completed");
}

/* RFC 9051 6.3.6 */
enum imap_cmd_status
cmd_rename(struct imap_cmd *cmd)
{
	const char *from, *to, *error;
	enum store_error err;

	if (cmd->argc != 2)
		return imap_cmd_bad(cmd, "RENAME needs two mailbox names");
	from = mailbox_arg(cmd, 0, &error);
	if (from == NULL)
		return imap_cmd_no(cmd, "NONEXISTENT", error);
	to = mailbox_arg(cmd, 1, &error);
	if (to == NULL)
		return imap_cmd_no(cmd, "CANNOT", error);
	if (strcmp(to, "INBOX") == 0)
		return imap_cmd_no(cmd, "ALREADYEXISTS", "INBOX always exists");
	if (store_mailbox_rename(cmd->session->store, from, to, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, "RENAME completed");
}

static enum imap_cmd_status
subscribe(struct imap_cmd *cmd, bool on)
{
	const char *name, *error;
	enum store_error err;

	if (cmd->argc != 1)
		return imap_cmd_bad(cmd, "A mailbox name is needed");
	name = mailbox_arg(cmd, 0, &error);
	if (name == NULL)
		return imap_cmd_no(cmd, "CANNOT", error);
	if (store_subscription_set(cmd->session->store, name, on, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	return imap_cmd_ok(cmd, on ? "SUBSCRIBE completed" : "UNSUBSCRIBE completed");
}

/* RFC 9051 6.3.7 */
enum imap_cmd_status
cmd_subscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, true);
}

/* RFC 9051 6.3.8 */
enum imap_cmd_status
cmd_unsubscribe(struct imap_cmd *cmd)
{
	return subscribe(cmd, false);
}

/* ---- STATUS ---- */

#define ST_MESSAGES 0x01u
#define ST_RECENT 0x02u
#define ST_UIDNEXT 0x04u
#define ST_UIDVALIDITY 0x08u
#define ST_UNSEEN 0x10u
#define ST_DELETED 0x20u
#define ST_SIZE 0x40u
#define ST_APPENDLIMIT 0x80u

static int
status_items(const struct imap_arg *list, unsigned *items_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "MESSAGES", ST_MESSAGES }, { "RECENT", ST_RECENT },
		{ "UIDNEXT", ST_UIDNEXT }, { "UIDVALIDITY", ST_UIDVALIDITY },
		{ "UNSEEN", ST_UNSEEN }, { "DELETED", ST_DELETED },
		{ "SIZE", ST_SIZE }, { "APPENDLIMIT", ST_APPENDLIMIT },
	};
	size_t i, k;

	if (list->type != IMAP_ARG_LIST || list->count == 0)
		return -1;
	*items_r = 0;
	for (i = 0; i < list->count; i++) {
		for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			if (imap_arg_atom_equals(&list->list[i], names[k].name))
				break;
		}
		if (k == sizeof(names) / sizeof(names[0]))
			return -1;
		*items_r |= names[k].bit;
	}
	return 0;
}

static void
status_line(struct imap_session *s, struct buf *out, const char *name,
	    unsigned items, const struct store_status *st)
{
	const char *sep = "";

	buf_append_str(out, "* STATUS ");
	imap_mailbox_to_wire(s, out, name);
	buf_append_str(out, " (");
#define ITEM(bit, fmt, val) \
	if (items & (bit)) { buf_printf(out, "%s" fmt, sep, val); sep = " "; }
	ITEM(ST_MESSAGES, "MESSAGES %u", st->messages)
	ITEM(ST_RECENT, "RECENT %u", st->recent)
	ITEM(ST_UIDNEXT, "UIDNEXT %u", st->uidnext)
	ITEM(ST_UIDVALIDITY, "UIDVALIDITY %u", st->uidvalidity)
	ITEM(ST_UNSEEN, "UNSEEN %u", st->unseen)
	ITEM(ST_DELETED, "DELETED %u", st->deleted)
	ITEM(ST_SIZE, "SIZE %llu", (unsigned long long)st->size)
	ITEM(ST_APPENDLIMIT, "APPENDLIMIT %llu",
	     (unsigned long long)s->server->conf->max_literal_size)
#undef ITEM
	buf_append_str(out, ")\r\n");
}

/* RFC 9051 6.3.11 */
enum imap_cmd_status
cmd_status(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct store_status st;
	const char *name, *error;
	enum store_error err;
	unsigned items;
	struct buf out;

	if (cmd->argc != 2)
		return imap_cmd_bad(cmd, "STATUS needs a mailbox and a list of items");
	if (status_items(&cmd->args[1], &items) < 0)
		return imap_cmd_bad(cmd, "Invalid STATUS items");
	name = mailbox_arg(cmd, 0, &error);
	if (name == NULL)
		return imap_cmd_no(cmd, "NONEXISTENT", error);
	if (store_mailbox_status(s->store, name, &st, &err, &error) < 0)
		return imap_cmd_store_fail(cmd, err, error);
	buf_init(&out, 0);
	status_line(s, &out, name, items, &st);
	imap_session_write(s, out.data, out.len);
	buf_deinit(&out);
	return imap_cmd_ok(cmd, "STATUS completed");
}

/* RFC 9051 6.3.10, RFC 2342: one personal namespace, no others. */
enum imap_cmd_status
cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->argc != 0)
		return imap_cmd_bad(cmd, "NAMESPACE takes no arguments");
	imap_session_printf(cmd->session, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	return imap_cmd_ok(cmd, "NAMESPACE completed");
}

/* ---- LIST / LSUB ---- */

struct list_entry {
	char *name;
	bool exists, noselect, subscribed, has_children;
	bool child_subscribed; /* a descendant is subscribed */
	const char *special_use;
};

struct list_ctx {
	struct list_entry *entries; /* malloc'd array */
	size_t count, cap;
};

static void
list_collect(const struct store_mailbox_info *info, void *ctxp)
{
	struct list_ctx *ctx = ctxp;
	struct list_entry *e;

	if (ctx->count == ctx->cap) {
		ctx->cap = ctx->cap == 0 ? 32 : ctx->cap * 2;
		ctx->entries = xreallocarray(ctx->entries, ctx->cap,
					     sizeof(*ctx->entries));
	}
	e = &ctx->entries[ctx->count++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(info->name);
	e->exists = info->exists;
	e->noselect = info->noselect;
	e->subscribed = info->subscribed;
	e->has_children = info->has_children;
	/* the store's string dies after the call: keep our static copy */
	e->special_use = info->special_use != NULL ?
		special_use_canonical(info->special_use) : NULL;
}

static void
list_ctx_free(struct list_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->count; i++)
		free(ctx->entries[i].name);
	free(ctx->entries);
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_entry *)a)->name,
		      ((const struct list_entry *)b)->name);
}

static struct list_entry *
find_entry(struct list_ctx *ctx, size_t n, const char *name)
{
	struct list_entry key = { .name = (char *)name };

	return bsearch(&key, ctx->entries, n, sizeof(key), entry_cmp);
}

/* Add the parents missing from the list (a Maildir made by another tool,
 * or subscriptions below nothing), then compute has_children and
 * child_subscribed.  Entries must be sorted on entry. */
static void
list_complete(struct list_ctx *ctx)
{
	size_t i, o, n = ctx->count;
	char *name, *slash;

	for (i = 0; i < n; i++) {
		name = xstrdup(ctx->entries[i].name);
		while ((slash = strrchr(name, STORE_SEPARATOR)) != NULL) {
			*slash = '\0';
			if (find_entry(ctx, n, name) == NULL) {
				struct store_mailbox_info info = { .name = name };

				list_collect(&info, ctx);
			}
		}
		free(name);
	}
	qsort(ctx->entries, ctx->count, sizeof(*ctx->entries), entry_cmp);
	for (i = 0, o = 0; i < ctx->count; i++) {
		if (o > 0 && strcmp(ctx->entries[o - 1].name,
				    ctx->entries[i].name) == 0) {
			free(ctx->entries[i].name);
			continue;
		}
		ctx->entries[o++] = ctx->entries[i];
	}
	ctx->count = o;
	for (i = 0; i < ctx->count; i++) {
		bool sub = ctx->entries[i].subscribed;

		name = xstrdup(ctx->entries[i].name);
		while ((slash = strrchr(name, STORE_SEPARATOR)) != NULL) {
			struct list_entry *p;

			*slash = '\0';
			p = find_entry(ctx, ctx->count, name);
			if (p == NULL)
				continue;
			p->has_children = true;
			if (sub)
				p->child_subscribed = true;
		}
		free(name);
	}
}

#define SEL_SUBSCRIBED 0x1u
#define SEL_REMOTE 0x2u
#define SEL_RECURSIVEMATCH 0x4u
#define SEL_SPECIALUSE 0x8u
#define RET_SUBSCRIBED 0x1u
#define RET_CHILDREN 0x2u
#define RET_SPECIALUSE 0x4u
#define RET_STATUS 0x8u

struct list_req {
	unsigned sel, ret, status_items;
	bool extended; /* LIST-EXTENDED syntax was used */
	bool lsub;
	const char **patterns;
	size_t npatterns;
};

static bool
matches_any(const struct list_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->npatterns; i++) {
		if (imap_mailbox_match(req->patterns[i], name))
			return true;
	}
	return false;
}

/* Does any pattern match a proper descendant level of this name via '%'?
 * For LSUB/RECURSIVEMATCH: a parent is shown when a '%' pattern stops at
 * its level and a child below is subscribed. */
static void
list_output(struct imap_cmd *cmd, struct list_ctx *ctx,
	    const struct list_req *req)
{
	struct imap_session *s = cmd->session;
	struct buf out;
	size_t i;

	buf_init(&out, 0);
	for (i = 0; i < ctx->count; i++) {
		const struct list_entry *e = &ctx->entries[i];
		const char *sep = "";
		bool childinfo = false;

		if (!matches_any(req, e->name))
			continue;
		if (req->lsub) {
			/* RFC 3501 6.3.9: a non-subscribed parent of a
			 * subscribed child is listed \Noselect for '%'. */
			if (!e->subscribed && !e->child_subscribed)
				continue;
		} else if (req->sel & SEL_SUBSCRIBED) {
			if (!e->subscribed) {
				if (!((req->sel & SEL_RECURSIVEMATCH) &&
				      e->child_subscribed))
					continue;
			}
			if ((req->sel & SEL_RECURSIVEMATCH) && e->child_subscribed)
				childinfo = true;
		} else if (!e->exists && !e->has_children) {
			continue; /* subscription of a vanished mailbox */
		}
		if ((req->sel & SEL_SPECIALUSE) && e->special_use == NULL)
			continue;

		buf_clear(&out);
		buf_append_str(&out, req->lsub ? "* LSUB (" : "* LIST (");
#define ATTR(str) do { buf_printf(&out, "%s%s", sep, str); sep = " "; } while (0)
		if (req->lsub) {
			if (!e->subscribed || !e->exists || e->noselect)
				ATTR("\\Noselect");
		} else {
			if (!e->exists)
				ATTR(req->extended || (s->enabled & IMAP_ENABLED_IMAP4REV2) ?
				     "\\NonExistent" : "\\Noselect");
			else if (e->noselect)
				ATTR("\\Noselect");
			if (e->subscribed &&
			    ((req->sel & SEL_SUBSCRIBED) || (req->ret & RET_SUBSCRIBED)))
				ATTR("\\Subscribed");
			if (e->exists || e->has_children)
				ATTR(e->has_children ? "\\HasChildren" :
				     "\\HasNoChildren");
			if (e->special_use != NULL)
				ATTR(e->special_use);
		}
#undef ATTR
		buf_append_str(&out, ") \"/\" ");
		imap_mailbox_to_wire(s, &out, e->name);
		if (childinfo)
			buf_append_str(&out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
		buf_append_str(&out, "\r\n");
		/* RFC 5819: STATUS after the LIST line, selectable only. */
		if ((req->ret & RET_STATUS) && e->exists && !e->noselect) {
			struct store_status st;
			enum store_error err;
			const char *error;

			if (store_mailbox_status(s->store, e->name, &st, &err,
						 &error) == 0)
				status_line(s, &out, e->name, req->status_items, &st);
		}
		imap_session_write(s, out.data, out.len);
	}
	buf_deinit(&out);
}

static int
parse_selection(struct list_req *req, const struct imap_arg *list)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];

		if (imap_arg_atom_equals(a, "SUBSCRIBED"))
			req->sel |= SEL_SUBSCRIBED;
		else if (imap_arg_atom_equals(a, "REMOTE"))
			req->sel |= SEL_REMOTE;
		else if (imap_arg_atom_equals(a, "RECURSIVEMATCH"))
			req->sel |= SEL_RECURSIVEMATCH;
		else if (imap_arg_atom_equals(a, "SPECIAL-USE"))
			req->sel |= SEL_SPECIALUSE;
		else
			return -1;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH needs another selection option. */
	if ((req->sel & SEL_RECURSIVEMATCH) &&
	    (req->sel & ~(SEL_RECURSIVEMATCH | SEL_REMOTE)) == 0)
		return -1;
	return 0;
}

static int
parse_return(struct list_req *req, const struct imap_arg *list)
{
	size_t i;

	for (i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];

		if (imap_arg_atom_equals(a, "SUBSCRIBED"))
			req->ret |= RET_SUBSCRIBED;
		else if (imap_arg_atom_equals(a, "CHILDREN"))
			req->ret |= RET_CHILDREN;
		else if (imap_arg_atom_equals(a, "SPECIAL-USE"))
			req->ret |= RET_SPECIALUSE;
		else if (imap_arg_atom_equals(a, "STATUS") && i + 1 < list->count) {
			req->ret |= RET_STATUS;
			if (status_items(&list->list[++i], &req->status_items) < 0)
				return -1;
		} else
			return -1;
	}
	return 0;
}

/* Reference + pattern, RFC 9051 6.3.9: the reference is a prefix. */
static const char *
join_pattern(struct imap_cmd *cmd, const char *ref, const char *pat)
{
	if (ref[0] == '\0' || pat[0] == STORE_SEPARATOR)
		return pat;
	return arena_printf(cmd->arena, "%s%s", ref, pat);
}

static const char *
pattern_arg(struct imap_cmd *cmd, const struct imap_arg *a)
{
	const char *error;

	return imap_pattern_from_wire(cmd, a, &error);
}

static enum imap_cmd_status
list_common(struct imap_cmd *cmd, bool lsub)
{
	struct imap_session *s = cmd->session;
	struct list_req req;
	struct list_ctx ctx;
	const char *ref, *error;
	enum store_error err;
	size_t ai = 0, i;

	memset(&req, 0, sizeof(req));
	req.lsub = lsub;
	if (!lsub && cmd->argc > 0 && cmd->args[0].type == IMAP_ARG_LIST) {
		req.extended = true;
		if (parse_selection(&req, &cmd->args[0]) < 0)
			return imap_cmd_bad(cmd, "Invalid LIST selection options");
		ai = 1;
	}
	if (cmd->argc < ai + 2)
		return imap_cmd_bad(cmd, "LIST needs a reference and a mailbox pattern");
	ref = pattern_arg(cmd, &cmd->args[ai]);
	if (ref == NULL)
		return imap_cmd_bad(cmd, "Invalid reference name");
	if (!lsub && cmd->args[ai + 1].type == IMAP_ARG_LIST) {
		const struct imap_arg *pl = &cmd->args[ai + 1];

		req.extended = true;
		if (pl->count == 0 || pl->count > LIST_MAX_PATTERNS)
			return imap_cmd_bad(cmd, "Invalid list of patterns");
		req.patterns = arena_allocarray(cmd->arena, pl->count,
						sizeof(char *));
		for (i = 0; i < pl->count; i++) {
			const char *p = pattern_arg(cmd, &pl->list[i]);

			if (p == NULL)
				return imap_cmd_bad(cmd, "Invalid mailbox pattern");
			if (p[0] == '\0')
				continue; /* RFC 5258 3: empty patterns ignored */
			req.patterns[req.npatterns++] = join_pattern(cmd, ref, p);
		}
	} else {
		const char *p = pattern_arg(cmd, &cmd->args[ai + 1]);

		if (p == NULL)
			return imap_cmd_bad(cmd, "Invalid mailbox pattern");
		if (p[0] == '\0' && !lsub) {
			/* RFC 9051 6.3.9: the hierarchy delimiter and root. */
			imap_session_printf(s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
			return imap_cmd_ok(cmd, "LIST completed");
		}
		req.patterns = arena_alloc(cmd->arena, sizeof(char *));
		req.patterns[0] = join_pattern(cmd, ref, p);
		req.npatterns = 1;
	}
	ai += 2;
	if (!lsub && cmd->argc > ai) {
		if (cmd->argc != ai + 2 ||
		    !imap_arg_atom_equals(&cmd->args[ai], "RETURN") ||
		    cmd->args[ai + 1].type != IMAP_ARG_LIST ||
		    parse_return(&req, &cmd->args[ai + 1]) < 0)
			return imap_cmd_bad(cmd, "Invalid LIST return options");
		req.extended = true;
	} else if (cmd->argc > ai) {
		return imap_cmd_bad(cmd, "Too many arguments");
	}

	memset(&ctx, 0, sizeof(ctx));
	if (store_mailbox_list(s->store, list_collect, &ctx, &err, &error) < 0) {
		list_ctx_free(&ctx);
		return imap_cmd_store_fail(cmd, err, error);
	}
	qsort(ctx.entries, ctx.count, sizeof(*ctx.entries), entry_cmp);
	list_complete(&ctx);
	list_output(cmd, &ctx, &req);
	list_ctx_free(&ctx);
	return imap_cmd_ok(cmd, lsub ? "LSUB completed" : "LIST completed");
}

/* RFC 9051 6.3.9, RFC 5258 */
enum imap_cmd_status
cmd_list(struct imap_cmd *cmd)
{
	return list_common(cmd, false);
}

/* RFC 3501 6.3.9 */
enum imap_cmd_status
cmd_lsub(struct imap_cmd *cmd)
{
	return list_common(cmd, true);
}
