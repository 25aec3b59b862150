/* index: the per-user SQLite index; see index.h for the contract.  This
 * file holds the connection, schema, statements, errors, transactions,
 * mailboxes, subscriptions and meta; index-msg.c the messages.
 *
 * Schema (version 3; PRAGMA user_version, one migrate_* function per step;
 * what versions 2 and 3 added is described at their migrate_* functions):
 *
 *   meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)     caller's strings
 *   sequences(id = 1, next_uidvalidity INTEGER)         per-user counter:
 *       kept apart from meta so no caller key can clobber it; UIDVALIDITY
 *       stays strictly monotonic across DELETE and re-CREATE of a name.
 *   mailboxes(id INTEGER PRIMARY KEY AUTOINCREMENT      never reused, so a
 *                                          hub keyed by id can't confuse a
 *                                          deleted mailbox with a new one
 *             name TEXT NOT NULL UNIQUE    UTF-8, '/', "INBOX" upper-case
 *             uidvalidity, uidnext, highestmodseq,
 *             recent_uid                   first UID not yet \Recent to anyone
 *             special_use TEXT, noselect   placeholder after DELETE
 *             messages, unseen, deleted, size   kept exact by every write
 *                                          transaction: STATUS is O(1)
 *             mtime_new, mtime_cur)        last Maildir sync
 *   messages(mailbox_id, uid, file, flags, keywords, internaldate, size,
 *            modseq, PRIMARY KEY(mailbox_id, uid)) WITHOUT ROWID
 *       flags: enum index_flag bits; keywords: space-separated, sorted,
 *       unique ('' for none; a column rather than a table because a STORE
 *       on 100,000 rows must stay one UPDATE per changed row)
 *       INDEX (mailbox_id, modseq)        changes since a modseq
 *       UNIQUE (mailbox_id, file)         Maildir sync lookups; a file
 *                                         is never indexed twice
 *   expunged(mailbox_id, uid, modseq, PRIMARY KEY(mailbox_id, uid))
 *       INDEX (mailbox_id, modseq)        what vanished since a modseq
 *   mailbox_keywords(mailbox_id, name)    every keyword ever used in the
 *                                         mailbox, for the FLAGS response
 *   subscriptions(name TEXT PRIMARY KEY)  may name missing mailboxes; the
 *       brief's mailboxes.subscribed column is left out: one source of
 *       truth, joined in index_mailbox_list().
 * Child tables reference mailboxes(id) ON DELETE CASCADE (foreign_keys is
 * on); the deletes are also done explicitly.
 *
 * Non-goals: locking (the caller's mutex), Maildir access, IMAP syntax,
 * keyword case folding, mailbox name validation beyond what the SQL
 * needs (non-empty, no control bytes: rename relies on \x01 being free). */
#include "index.h"
#include "index-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

#define MBOX_COLS \
	"id, uidvalidity, uidnext, highestmodseq, recent_uid, special_use, " \
	"noselect, messages, unseen, deleted, size, mtime_new, mtime_cur"
#define MSG_COLS "uid, flags, keywords, modseq, internaldate, size, file, " \
	"coalesce(disk_flags, flags)"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN",
	[ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT index_op",
	[ST_RELEASE] = "RELEASE index_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO index_op",
	[ST_UIDV_GET] = "SELECT next_uidvalidity FROM sequences WHERE id = 1",
	[ST_UIDV_SET] =
		"UPDATE sequences SET next_uidvalidity = ?1 WHERE id = 1",
	[ST_MBOX_BY_NAME] = "SELECT " MBOX_COLS " FROM mailboxes WHERE name = ?1",
	[ST_MBOX_BY_ID] = "SELECT " MBOX_COLS " FROM mailboxes WHERE id = ?1",
	[ST_MBOX_INSERT] = "INSERT INTO mailboxes (name, uidvalidity, "
		"special_use) VALUES (?1, ?2, ?3)",
	[ST_MBOX_REVIVE] = "UPDATE mailboxes SET noselect = 0, "
		"uidvalidity = ?2, uidnext = 1, highestmodseq = 1, "
		"recent_uid = 1, special_use = ?3, messages = 0, unseen = 0, "
		"deleted = 0, size = 0 WHERE id = ?1",
	[ST_MBOX_DELETE] = "DELETE FROM mailboxes WHERE id = ?1",
	[ST_MBOX_SET_NOSELECT] = "UPDATE mailboxes SET noselect = 1, "
		"special_use = NULL, messages = 0, unseen = 0, deleted = 0, "
		"size = 0 WHERE id = ?1",
	/* Two steps so that no intermediate state collides (renaming a/b
	 * to a moves a/b/b/c to a/b/c, an old name not yet moved): first
	 * to "\x01<final name>" (control bytes are refused in names), then
	 * strip the \x01; a UNIQUE failure in the second step is a real
	 * collision.  length() and substr() count characters on both
	 * sides, and the range test is byte order ('0' is '/' + 1). */
	[ST_MBOX_RENAME_TMP] = "UPDATE mailboxes SET name = char(1) || ?2 || "
		"substr(name, length(?1) + 1) WHERE name = ?1 OR "
		"(name >= ?1 || '/' AND name < ?1 || '0')",
	[ST_MBOX_RENAME_FINAL] = "UPDATE mailboxes SET name = substr(name, 2) "
		"WHERE name >= char(1) AND name < char(2)",
	[ST_MBOX_HAS_CHILDREN] = "SELECT 1 FROM mailboxes WHERE "
		"name >= ?1 || '/' AND name < ?1 || '0' LIMIT 1",
	[ST_MBOX_LIST] = "SELECT m.id, m.name, m.special_use, m.noselect, "
		"s.name IS NOT NULL FROM mailboxes m LEFT JOIN subscriptions s "
		"ON s.name = m.name ORDER BY m.name",
	[ST_MBOX_SET_SPECIAL] =
		"UPDATE mailboxes SET special_use = ?2 WHERE id = ?1",
	[ST_MBOX_SET_MTIMES] = "UPDATE mailboxes SET mtime_new = ?2, "
		"mtime_cur = ?3 WHERE id = ?1",
	[ST_MBOX_COUNT_RECENT] = "SELECT count(*) FROM messages "
		"WHERE mailbox_id = ?1 AND uid >= ?2",
	[ST_MBOX_SET_RECENT] =
		"UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1",
	[ST_MBOX_UPDATE] = "UPDATE mailboxes SET uidnext = ?2, "
		"highestmodseq = ?3, messages = messages + ?4, "
		"unseen = unseen + ?5, deleted = deleted + ?6, "
		"size = size + ?7 WHERE id = ?1",
	[ST_MSG_DELETE_ALL] = "DELETE FROM messages WHERE mailbox_id = ?1",
	[ST_EXP_DELETE_ALL] = "DELETE FROM expunged WHERE mailbox_id = ?1",
	[ST_KW_DELETE_ALL] =
		"DELETE FROM mailbox_keywords WHERE mailbox_id = ?1",
	[ST_KW_INSERT] = "INSERT OR IGNORE INTO mailbox_keywords "
		"(mailbox_id, name) VALUES (?1, ?2)",
	[ST_KW_LIST] = "SELECT name FROM mailbox_keywords "
		"WHERE mailbox_id = ?1 ORDER BY name",
	[ST_MSG_INSERT] = "INSERT INTO messages (mailbox_id, uid, file, flags, "
		"keywords, internaldate, size, modseq) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_MSG_UIDS] =
		"SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
	/* without stats the planner walks the primary key past every
	 * \Seen row: name the partial index */
	[ST_MSG_FIRST_UNSEEN] = "SELECT uid FROM messages INDEXED BY "
		"messages_unseen WHERE mailbox_id = ?1 AND (flags & 1) = 0 "
		"ORDER BY uid LIMIT 1",
	[ST_MSG_RANGE] = "SELECT " MSG_COLS " FROM messages WHERE "
		"mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
	[ST_MSG_RANGE_FLAGS] = "SELECT uid, flags, keywords, modseq, size "
		"FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 "
		"ORDER BY uid",
	/* The narrow reads of index_msg_fetch_part (INDEX_COLS_*). */
	[ST_MSG_RANGE_UIDS] = "SELECT uid FROM messages WHERE "
		"mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
	[ST_MSG_RANGE_NARROW] = "SELECT uid, flags, keywords FROM messages "
		"WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
	/* disk_flags keeps what the file name says until the renamer
	 * (store-rename.c) has renamed the file; NULL once they agree. */
	[ST_MSG_UPDATE_FLAGS] = "UPDATE messages SET flags = ?3, "
		"keywords = ?4, modseq = ?5, disk_flags = CASE "
		"WHEN coalesce(disk_flags, flags) = ?3 THEN NULL "
		"ELSE coalesce(disk_flags, flags) END "
		"WHERE mailbox_id = ?1 AND uid = ?2",
	[ST_MSG_PENDING] = "SELECT uid, file, flags, disk_flags FROM messages "
		"WHERE mailbox_id = ?1 AND disk_flags IS NOT NULL AND uid > ?2 "
		"ORDER BY uid LIMIT ?3",
	[ST_MSG_PENDING_BOXES] = "SELECT DISTINCT mailbox_id FROM messages "
		"WHERE disk_flags IS NOT NULL",
	[ST_MSG_SET_DISK] = "UPDATE messages SET disk_flags = NULL "
		"WHERE mailbox_id = ?1 AND uid = ?2 AND disk_flags IS NOT NULL "
		"AND flags = ?3",
	[ST_MSG_CLEAR_DISK] = "UPDATE messages SET disk_flags = NULL "
		"WHERE mailbox_id = ?1 AND uid = ?2",
	[ST_RANGE_BEFORE] = "SELECT lo, hi FROM uid_ranges WHERE "
		"mailbox_id = ?1 AND lo <= ?2 ORDER BY lo DESC LIMIT 1",
	[ST_RANGE_AFTER] = "SELECT lo, hi FROM uid_ranges WHERE "
		"mailbox_id = ?1 AND lo > ?2 ORDER BY lo LIMIT 1",
	[ST_RANGE_INSERT] = "INSERT INTO uid_ranges (mailbox_id, lo, hi) "
		"VALUES (?1, ?2, ?3)",
	[ST_RANGE_SET_HI] = "UPDATE uid_ranges SET hi = ?3 "
		"WHERE mailbox_id = ?1 AND lo = ?2",
	[ST_RANGE_DELETE] =
		"DELETE FROM uid_ranges WHERE mailbox_id = ?1 AND lo = ?2",
	[ST_RANGE_DELETE_ALL] = "DELETE FROM uid_ranges WHERE mailbox_id = ?1",
	[ST_RANGE_LIST] = "SELECT lo, hi FROM uid_ranges WHERE mailbox_id = ?1 "
		"ORDER BY lo",
	[ST_RANGE_REBUILD] = "INSERT INTO uid_ranges (mailbox_id, lo, hi) "
		"SELECT mailbox_id, min(uid), max(uid) FROM (SELECT mailbox_id, "
		"uid, uid - row_number() OVER (ORDER BY uid) AS g FROM messages "
		"WHERE mailbox_id = ?1) GROUP BY g",
	[ST_MSG_DELETE] =
		"DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2",
	[ST_EXP_INSERT] = "INSERT OR REPLACE INTO expunged (mailbox_id, uid, "
		"modseq) VALUES (?1, ?2, ?3)",
	[ST_MSG_CHANGED] = "SELECT " MSG_COLS " FROM messages WHERE "
		"mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
	[ST_EXP_SINCE] = "SELECT uid FROM expunged WHERE mailbox_id = ?1 "
		"AND modseq > ?2 ORDER BY uid",
	[ST_MSG_BY_FILE] = "SELECT uid, flags FROM messages "
		"WHERE mailbox_id = ?1 AND file = ?2",
	[ST_MSG_SET_FILE] = "UPDATE messages SET file = ?3 "
		"WHERE mailbox_id = ?1 AND uid = ?2",
	[ST_SUB_ADD] = "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
	[ST_SUB_DEL] = "DELETE FROM subscriptions WHERE name = ?1",
	[ST_SUB_LIST] = "SELECT name FROM subscriptions ORDER BY name",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] =
		"INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
	[ST_META_DEL] = "DELETE FROM meta WHERE key = ?1",
	[ST_MBOX_SET_UIDS] = "UPDATE mailboxes SET uidvalidity = ?2, "
		"uidnext = ?3, recent_uid = ?4 WHERE id = ?1",
};


/* ---- errors ---- */

int
index_set_error(struct index_db *db, enum index_error err,
		const char **error_r, const char *fmt, ...)
{
	va_list ap;

	db->last_error = err;
	buf_clear(&db->errmsg);
	va_start(ap, fmt);
	if (buf_vprintf(&db->errmsg, fmt, ap) < 0)
		buf_clear(&db->errmsg);
	va_end(ap);
	*error_r = db->errmsg.len > 0 ? buf_cstr(&db->errmsg) :
		"index: error (message lost)";
	return -1;
}

static enum index_error
classify(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return INDEX_ERR_CORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return INDEX_ERR_BUSY;
	case SQLITE_FULL:
		return INDEX_ERR_FULL;
	default:
		break;
	}
	if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return INDEX_ERR_EXISTS;
	return INDEX_ERR_TEMP;
}

/* An SQLite call failed with rc: log it with sqlite3_errmsg (which must
 * still describe this failure, so call before any reset) and set the
 * error.  A UNIQUE violation is an expected outcome (EXISTS), not logged
 * as an error. */
static int
sql_fail(struct index_db *db, int rc, const char *what, const char **error_r)
{
	enum index_error err = classify(rc);
	const char *msg = sqlite3_errmsg(db->sql);

	if (err == INDEX_ERR_CORRUPT)
		db->corrupt = true;
	if (err == INDEX_ERR_EXISTS)
		log_debug("index db=%s op=%s: %s", db->path, what, msg);
	else
		log_error("index db=%s op=%s rc=%d: %s", db->path, what, rc,
			  msg);
	return index_set_error(db, err, error_r, "index %s: %s (rc=%d)", what, msg,
			 rc);
}

/* Every public call starts here: clears the last error, refuses to touch
 * a database already found corrupt. */
int
index_enter(struct index_db *db, const char **error_r)
{
	db->last_error = INDEX_ERR_NONE;
	if (db->corrupt)
		return index_set_error(db, INDEX_ERR_CORRUPT, error_r,
				 "index: database %s is corrupt", db->path);
	return 0;
}

/* ---- statements ---- */

/* Statements are prepared on first use, not at open: preparing all of
 * stmt_sql[] cost 1-2 ms per index_open (mostly page faults on fresh
 * heap), most of a cold SELECT, and a session uses a few of them.  Once
 * prepared a statement is kept (SQLITE_PREPARE_PERSISTENT) until
 * db_free.  A SQLite that cannot compile one of them is refused when
 * the server starts, by index_selfcheck(), not at some user's login. */
sqlite3_stmt *
index_st(struct index_db *db, enum stmt_id id, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (db->st[id] != NULL)
		return db->st[id];
	/* On failure st is NULL: nothing to finalize, retried next use. */
	rc = sqlite3_prepare_v3(db->sql, stmt_sql[id], -1,
				SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		(void)sql_fail(db, rc, stmt_sql[id], error_r);
		return NULL;
	}
	db->st[id] = st;
	return st;
}

void
index_st_done(sqlite3_stmt *st)
{
	/* Return codes of reset repeat the step's, already handled. */
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

int
index_bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	return sqlite3_bind_int64(st, i, v);
}

/* NULL binds SQL NULL.  Strings are bound SQLITE_STATIC with their length:
 * index_st_done() clears the bindings before the caller's string can die. */
int
index_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	size_t len;

	if (s == NULL)
		return sqlite3_bind_null(st, i);
	len = strlen(s);
	if (len > INT_MAX)
		return SQLITE_TOOBIG;
	return sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
}

int
index_bind_fail(struct index_db *db, sqlite3_stmt *st, int rc,
		const char *what, const char **error_r)
{
	int ret = sql_fail(db, rc, what, error_r);

	index_st_done(st);
	return ret;
}

int
index_exec_i64(struct index_db *db, enum stmt_id id, const int64_t *args,
	       size_t nargs, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, id, error_r);
	size_t i;
	int rc;

	if (st == NULL)
		return -1;
	for (i = 0; i < nargs; i++) {
		rc = index_bind_i64(st, (int)i + 1, args[i]);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
	}
	return index_st_exec(db, id, error_r);
}

/* Step a statement that returns no rows; reset it.  0 or -1. */
int
index_st_exec(struct index_db *db, enum stmt_id id, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, id, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		int ret = sql_fail(db, rc, stmt_sql[id], error_r);

		index_st_done(st);
		return ret;
	}
	index_st_done(st);
	return 0;
}

/* Step a query: 1 row available (caller resets with st_done when done
 * with it), 0 no more rows (already reset), -1 error (already reset). */
int
index_st_row(struct index_db *db, enum stmt_id id, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, id, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		index_st_done(st);
		return 0;
	}
	rc = sql_fail(db, rc, stmt_sql[id], error_r);
	index_st_done(st);
	return rc;
}

const char *
index_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s == NULL ? "" : (const char *)s;
}

/* ---- transactions ----
 * Outside a caller transaction each operation is its own BEGIN
 * [IMMEDIATE] ... COMMIT; inside one, a savepoint, so a failed
 * operation leaves nothing behind while the rest stays pending. */

/* Prepare the statements that undo a transaction (or savepoint) before it
 * begins: statements are prepared lazily (index_st), and the rollback
 * after a failure must not itself depend on a prepare succeeding. */
static int
txn_undo_ready(struct index_db *db, bool savepoint, const char **error_r)
{
	if (!savepoint)
		return index_st(db, ST_ROLLBACK, error_r) == NULL ? -1 : 0;
	if (index_st(db, ST_ROLLBACK_TO, error_r) == NULL ||
	    index_st(db, ST_RELEASE, error_r) == NULL)
		return -1;
	return 0;
}

int
index_txn_begin(struct index_db *db, enum txn_kind kind, const char **error_r)
{
	if (txn_undo_ready(db, db->in_user_txn, error_r) < 0)
		return -1;
	if (db->in_user_txn)
		return index_st_exec(db, ST_SAVEPOINT, error_r);
	return index_st_exec(db, kind == INDEX_TXN_WRITE ?
			     ST_BEGIN_IMMEDIATE : ST_BEGIN, error_r);
}

/* Best effort, keeps the error already set; SQLite may have rolled back
 * by itself (SQLITE_FULL, IOERR, BUSY), hence the autocommit checks. */
static void
txn_rollback(struct index_db *db)
{
	const char *ignored;
	enum index_error saved = db->last_error;
	char *msg = xstrdup(buf_cstr(&db->errmsg));

	if (db->in_user_txn) {
		if (!sqlite3_get_autocommit(db->sql)) {
			(void)index_st_exec(db, ST_ROLLBACK_TO, &ignored);
			(void)index_st_exec(db, ST_RELEASE, &ignored);
		} else {
			/* The whole caller transaction is gone. */
			db->in_user_txn = false;
		}
	} else if (!sqlite3_get_autocommit(db->sql)) {
		(void)index_st_exec(db, ST_ROLLBACK, &ignored);
	}
	db->last_error = saved;
	buf_clear(&db->errmsg);
	(void)buf_append_str(&db->errmsg, msg);
	free(msg);
}

int
index_txn_commit(struct index_db *db, const char **error_r)
{
	if (index_st_exec(db, db->in_user_txn ? ST_RELEASE : ST_COMMIT,
		    error_r) < 0) {
		txn_rollback(db);
		*error_r = buf_cstr(&db->errmsg);
		return -1;
	}
	return 0;
}

/* Roll back after a failure inside an operation and return -1 with the
 * operation's error text. */
int
index_txn_fail(struct index_db *db, const char **error_r)
{
	txn_rollback(db);
	*error_r = buf_cstr(&db->errmsg);
	return -1;
}

/* Open a caller transaction with begin (ST_BEGIN_IMMEDIATE for writes,
 * ST_BEGIN for a read snapshot); its end statement prepared first. */
static int
user_txn_begin(struct index_db *db, enum stmt_id begin, const char **error_r)
{
	if (index_enter(db, error_r) < 0)
		return -1;
	if (db->in_user_txn)
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: transaction already open");
	if (txn_undo_ready(db, false, error_r) < 0 ||
	    index_st(db, ST_COMMIT, error_r) == NULL ||
	    index_st_exec(db, begin, error_r) < 0)
		return -1;
	db->in_user_txn = true;
	return 0;
}

int
index_transaction_begin(struct index_db *db, const char **error_r)
{
	return user_txn_begin(db, ST_BEGIN_IMMEDIATE, error_r);
}

int
index_transaction_commit(struct index_db *db, const char **error_r)
{
	if (index_enter(db, error_r) < 0) {
		index_transaction_rollback(db);
		return -1;
	}
	if (!db->in_user_txn)
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 sqlite3_get_autocommit(db->sql) ?
				 "index: no transaction open (rolled back "
				 "after an error?)" :
				 "index: no transaction open");
	db->in_user_txn = false;
	if (index_st_exec(db, ST_COMMIT, error_r) < 0)
		return index_txn_fail(db, error_r);
	return 0;
}

/* A read snapshot is a caller transaction begun DEFERRED: the operations
 * inside run as savepoints as in any caller transaction, and the first
 * read takes the WAL read lock that every later one reuses. */
int
index_read_begin(struct index_db *db, const char **error_r)
{
	return user_txn_begin(db, ST_BEGIN, error_r);
}

void
index_read_end(struct index_db *db)
{
	const char *ignored;

	db->in_user_txn = false;
	/* nothing was written: COMMIT only drops the read lock */
	if (!sqlite3_get_autocommit(db->sql) &&
	    index_st_exec(db, ST_COMMIT, &ignored) < 0)
		(void)index_st_exec(db, ST_ROLLBACK, &ignored);
}

void
index_transaction_rollback(struct index_db *db)
{
	const char *ignored;

	db->in_user_txn = false;
	if (!sqlite3_get_autocommit(db->sql))
		(void)index_st_exec(db, ST_ROLLBACK, &ignored);
}

/* ---- schema ---- */

static int
exec_sql(struct index_db *db, const char *sql, const char *what,
	 const char **error_r)
{
	int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sql_fail(db, rc, what, error_r);
	return 0;
}

static int
read_int_pragma(struct index_db *db, const char *sql, int64_t *value_r,
		const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(db, rc, sql, error_r);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = sql_fail(db, rc, sql, error_r);
		sqlite3_finalize(st);
		return rc;
	}
	*value_r = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int
migrate_0_to_1(struct index_db *db, const char **error_r)
{
	static const char schema[] =
		"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
		" WITHOUT ROWID;"
		"CREATE TABLE sequences (id INTEGER PRIMARY KEY CHECK (id = 1),"
		" next_uidvalidity INTEGER NOT NULL);"
		"CREATE TABLE mailboxes ("
		" id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" name TEXT NOT NULL UNIQUE,"
		" uidvalidity INTEGER NOT NULL,"
		" uidnext INTEGER NOT NULL DEFAULT 1,"
		" highestmodseq INTEGER NOT NULL DEFAULT 1,"
		" recent_uid INTEGER NOT NULL DEFAULT 1,"
		" special_use TEXT,"
		" noselect INTEGER NOT NULL DEFAULT 0,"
		" messages INTEGER NOT NULL DEFAULT 0,"
		" unseen INTEGER NOT NULL DEFAULT 0,"
		" deleted INTEGER NOT NULL DEFAULT 0,"
		" size INTEGER NOT NULL DEFAULT 0,"
		" mtime_new INTEGER NOT NULL DEFAULT 0,"
		" mtime_cur INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE messages ("
		" mailbox_id INTEGER NOT NULL"
		"  REFERENCES mailboxes(id) ON DELETE CASCADE,"
		" uid INTEGER NOT NULL,"
		" file TEXT NOT NULL,"
		" flags INTEGER NOT NULL,"
		" keywords TEXT NOT NULL DEFAULT '',"
		" internaldate INTEGER NOT NULL,"
		" size INTEGER NOT NULL,"
		" modseq INTEGER NOT NULL,"
		" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
		"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
		"CREATE UNIQUE INDEX messages_file ON messages (mailbox_id, file);"
		"CREATE TABLE expunged ("
		" mailbox_id INTEGER NOT NULL"
		"  REFERENCES mailboxes(id) ON DELETE CASCADE,"
		" uid INTEGER NOT NULL,"
		" modseq INTEGER NOT NULL,"
		" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
		"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
		"CREATE TABLE mailbox_keywords ("
		" mailbox_id INTEGER NOT NULL"
		"  REFERENCES mailboxes(id) ON DELETE CASCADE,"
		" name TEXT NOT NULL,"
		" PRIMARY KEY (mailbox_id, name)) WITHOUT ROWID;"
		"CREATE TABLE subscriptions (name TEXT PRIMARY KEY)"
		" WITHOUT ROWID;";
	sqlite3_stmt *st;
	int rc;

	if (exec_sql(db, schema, "create schema v1", error_r) < 0)
		return -1;
	rc = sqlite3_prepare_v2(db->sql, "INSERT INTO sequences "
				"(id, next_uidvalidity) VALUES (1, ?1)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(db, rc, "seed sequences", error_r);
	rc = index_bind_i64(st, 1, (int64_t)time(NULL));
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		rc = sql_fail(db, rc, "seed sequences", error_r);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

/* Version 2: a narrow index of (mailbox_id, uid) — in a WITHOUT ROWID
 * table a secondary index holds the key columns — so listing a mailbox's
 * UIDs (SELECT) reads a few bytes per message instead of whole rows with
 * their file names: it is what makes a cold SELECT of 100,000 messages
 * read ~1 MB instead of the whole table. */
static int
migrate_1_to_2(struct index_db *db, const char **error_r)
{
	return exec_sql(db, "CREATE INDEX IF NOT EXISTS messages_by_mailbox "
			"ON messages(mailbox_id)", "migrate 1->2", error_r);
}

/* Version 3:
 *   uid_ranges(mailbox_id, lo, hi)  the mailbox's UIDs as maximal runs,
 *       kept by every insert and delete of a message in the same
 *       transaction: SELECT reads one row for 100,000 messages appended in
 *       order instead of 100,000 index entries (cold SELECT); checked
 *       against mailboxes.messages when read and rebuilt if they differ.
 *   messages.disk_flags  the flags the file name still carries while a
 *       flag change waits for the renamer (NULL when name and flags
 *       agree): STORE commits flags to the index only and the files are
 *       renamed behind it, so a Maildir sync can tell our pending change
 *       (name == disk_flags) from another program's rename.
 *   INDEX messages_pending  the rows waiting for a rename.
 *   INDEX messages_unseen   the unseen rows: SELECT's first unseen message
 *       is one lookup, not a scan past every \Seen one (a mailbox read
 *       up to its last few messages is the common case). */
static int
migrate_2_to_3(struct index_db *db, const char **error_r)
{
	static const char sql[] =
		"CREATE INDEX IF NOT EXISTS messages_pending ON messages"
		" (mailbox_id, uid) WHERE disk_flags IS NOT NULL;"
		"CREATE INDEX IF NOT EXISTS messages_unseen ON messages"
		" (mailbox_id, uid) WHERE (flags & 1) = 0;"
		"CREATE TABLE IF NOT EXISTS uid_ranges ("
		" mailbox_id INTEGER NOT NULL"
		"  REFERENCES mailboxes(id) ON DELETE CASCADE,"
		" lo INTEGER NOT NULL,"
		" hi INTEGER NOT NULL,"
		" PRIMARY KEY (mailbox_id, lo)) WITHOUT ROWID;"
		"DELETE FROM uid_ranges;"
		"INSERT INTO uid_ranges (mailbox_id, lo, hi) "
		" SELECT mailbox_id, min(uid), max(uid) FROM (SELECT mailbox_id,"
		"  uid, uid - row_number() OVER (PARTITION BY mailbox_id"
		"  ORDER BY uid) AS g FROM messages) GROUP BY mailbox_id, g;";
	int64_t has = 0;

	/* ADD COLUMN has no IF NOT EXISTS: a rerun must not fail. */
	if (read_int_pragma(db, "SELECT count(*) FROM pragma_table_info("
			    "'messages') WHERE name = 'disk_flags'", &has,
			    error_r) < 0)
		return -1;
	if (has == 0 && exec_sql(db, "ALTER TABLE messages ADD COLUMN "
				 "disk_flags INTEGER", "migrate 2->3",
				 error_r) < 0)
		return -1;
	return exec_sql(db, sql, "migrate 2->3", error_r);
}

/* migrations[v] moves the schema from version v to v + 1. */
static int (*const migrations[INDEX_SCHEMA_VERSION])(struct index_db *,
						      const char **) = {
	migrate_0_to_1,
	migrate_1_to_2,
	migrate_2_to_3,
};

static int
migrate(struct index_db *db, const char **error_r)
{
	int64_t version;
	char sql[64];
	int n;

	/* Cheap check first so an up-to-date open takes no write lock. */
	if (read_int_pragma(db, "PRAGMA user_version", &version, error_r) < 0)
		return -1;
	if (version == INDEX_SCHEMA_VERSION)
		return 0;
	if (version < 0 || version > INDEX_SCHEMA_VERSION)
		return index_set_error(db, INDEX_ERR_VERSION, error_r,
				 "index: schema version %lld is newer than %d",
				 (long long)version, INDEX_SCHEMA_VERSION);
	if (exec_sql(db, "BEGIN IMMEDIATE", "migrate begin", error_r) < 0)
		return -1;
	/* Another process may have migrated while we waited for the lock. */
	if (read_int_pragma(db, "PRAGMA user_version", &version, error_r) < 0)
		goto fail;
	for (; version < INDEX_SCHEMA_VERSION; version++) {
		/* the self-check builds a schema at every start: not news */
		log_msg(db->scratch ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
			"index db=%s migrate from=%lld to=%lld", db->path,
			(long long)version, (long long)version + 1);
		if (migrations[version](db, error_r) < 0)
			goto fail;
	}
	n = snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		     INDEX_SCHEMA_VERSION);
	if (n < 0 || (size_t)n >= sizeof(sql))
		abort(); /* constant text; cannot happen */
	if (exec_sql(db, sql, "set user_version", error_r) < 0 ||
	    exec_sql(db, "COMMIT", "migrate commit", error_r) < 0)
		goto fail;
	return 0;
fail:
	/* No persistent statement is prepared yet: plain exec.  Best
	 * effort; the error already set is the one to report. */
	if (!sqlite3_get_autocommit(db->sql))
		(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	*error_r = buf_cstr(&db->errmsg);
	return -1;
}

/* What a connection needs before its statements can be prepared, whatever
 * it was opened on (index_open's file, index_selfcheck's memory): foreign
 * keys, which are compiled into the statements that delete, and the
 * current schema. */
static int
db_schema(struct index_db *db, const char **error_r)
{
	if (exec_sql(db, "PRAGMA foreign_keys = ON", "pragmas", error_r) < 0)
		return -1;
	return migrate(db, error_r);
}

static int
check_wal(void *ctx, int ncols, char **values, char **names)
{
	bool *is_wal = ctx;

	(void)names;
	*is_wal = ncols == 1 && values[0] != NULL &&
		strcasecmp(values[0], "wal") == 0;
	return 0;
}

/* A db with no connection yet; path is for log lines.  db_free() frees
 * it at any stage. */
static struct index_db *
db_alloc(const char *path)
{
	struct index_db *db = xmalloc(sizeof(*db)); /* zeroed: no statements */

	db->path = xstrdup(path);
	buf_init(&db->errmsg, 0);
	buf_init(&db->kwbuf, 0);
	return db;
}

static void
db_free(struct index_db *db)
{
	size_t i;
	int rc;

	/* Only the statements used were prepared; the others are NULL,
	 * which sqlite3_finalize() ignores. */
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->st[i]);
	if (db->sql != NULL) {
		rc = sqlite3_close(db->sql);
		if (rc != SQLITE_OK)
			log_error("index db=%s op=close rc=%d: %s", db->path,
				  rc, sqlite3_errmsg(db->sql));
	}
	buf_deinit(&db->errmsg);
	buf_deinit(&db->kwbuf);
	free(db->kw_op.v);
	free(db->kw_row.v);
	free(db->kw_res.v);
	free(db->path);
	free(db);
}

static const char *
open_error_text(enum index_error err)
{
	switch (err) {
	case INDEX_ERR_CORRUPT:
		return "index: database is corrupt";
	case INDEX_ERR_BUSY:
		return "index: database is locked by another process";
	case INDEX_ERR_VERSION:
		return "index: database was written by a newer version";
	default:
		return "index: cannot open database";
	}
}

/* Counts every commit on the connection (index_commits()); 0 lets the
 * commit go ahead. */
static int
commit_hook(void *ctx)
{
	struct index_db *db = ctx;

	db->commits++;
	return 0;
}

uint64_t
index_commits(const struct index_db *db)
{
	return db->commits;
}

int
index_open(const char *path, struct index_db **db_r, enum index_error *err_r,
	   const char **error_r)
{
	struct index_db *db;
	const char *detail;
	bool is_wal = false;
	char pragma[64];
	int fd, rc, n;

	*db_r = NULL;
	db = db_alloc(path);

	/* An existing file: start reading its head (INDEX_PREFETCH_KIB)
	 * while SQLite opens it.  A new one: create it ourselves so mail
	 * metadata is never world readable; SQLite gives -wal and -shm the
	 * same mode. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		(void)posix_fadvise(fd, 0, INDEX_PREFETCH_KIB * 1024,
				    POSIX_FADV_WILLNEED);
		close(fd);
	} else if (errno == ENOENT) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
		else if (errno != EEXIST)
			goto create_fail;
	} else {
		goto create_fail;
	}
	rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (db->sql != NULL)
			(void)sql_fail(db, rc, "sqlite3_open_v2", &detail);
		else
			log_error("index db=%s op=sqlite3_open_v2 rc=%d",
				  path, rc);
		*err_r = classify(rc);
		*error_r = open_error_text(*err_r);
		db_free(db);
		return -1;
	}
	(void)sqlite3_extended_result_codes(db->sql, 1);
	(void)sqlite3_commit_hook(db->sql, commit_hook, db);
	{
		int persist = 1;

		/* see INDEX_WAL_KEEP_KIB */
		(void)sqlite3_file_control(db->sql, "main",
					   SQLITE_FCNTL_PERSIST_WAL, &persist);
	}
	rc = sqlite3_busy_timeout(db->sql, INDEX_BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		(void)sql_fail(db, rc, "sqlite3_busy_timeout", &detail);
		goto fail;
	}
	/* The first statement reads the header: SQLITE_NOTADB shows here. */
	rc = sqlite3_exec(db->sql, "PRAGMA journal_mode = WAL", check_wal,
			  &is_wal, NULL);
	if (rc != SQLITE_OK) {
		(void)sql_fail(db, rc, "PRAGMA journal_mode", &detail);
		goto fail;
	}
	if (!is_wal) {
		(void)index_set_error(db, INDEX_ERR_TEMP, &detail,
				"index: WAL mode refused");
		log_error("index db=%s op=journal_mode: WAL refused", path);
		goto fail;
	}
	if (exec_sql(db, "PRAGMA synchronous = FULL", "pragmas", &detail) < 0)
		goto fail;
	n = snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d",
		     INDEX_CACHE_KIB);
	if (n < 0 || (size_t)n >= sizeof(pragma))
		abort(); /* constant text; cannot happen */
	if (exec_sql(db, pragma, "cache_size", &detail) < 0)
		goto fail;
	n = snprintf(pragma, sizeof(pragma), "PRAGMA journal_size_limit = %d",
		     INDEX_WAL_KEEP_KIB * 1024);
	if (n < 0 || (size_t)n >= sizeof(pragma))
		abort(); /* constant text; cannot happen */
	if (exec_sql(db, pragma, "journal_size_limit", &detail) < 0)
		goto fail;
	/* The statements are prepared as they are first used (index_st). */
	if (db_schema(db, &detail) < 0)
		goto fail;
	db->last_error = INDEX_ERR_NONE;
	*db_r = db;
	return 0;
create_fail:
	log_error("index op=open(%s): %s", path, strerror(errno));
	*err_r = INDEX_ERR_TEMP;
	*error_r = "index: cannot create database file";
	db_free(db);
	return -1;
fail:
	*err_r = db->last_error == INDEX_ERR_NONE ? INDEX_ERR_TEMP :
		db->last_error;
	*error_r = open_error_text(*err_r);
	db_free(db);
	return -1;
}

void
index_close(struct index_db **_db)
{
	struct index_db *db = *_db;

	if (db == NULL)
		return;
	*_db = NULL;
	if (db->in_user_txn)
		index_transaction_rollback(db);
	db_free(db);
}

/* Build the schema in memory with the migrations index_open runs and
 * prepare every statement once.  Now that statements are prepared as
 * they are first used, a SQLite build lacking something the index needs
 * (window functions, partial indexes, INDEXED BY...) would otherwise be
 * found out at some user's first login, in the middle of a command; this
 * refuses it when the server starts.  It also loads the SQL compiler's
 * code and data once at start, not during the first user's login. */
int
index_selfcheck(const char **error_r)
{
	static char msg[512];
	struct index_db *db = db_alloc(":memory:");
	const char *detail = "index: self-check failed";
	size_t i;
	int rc;

	db->scratch = true;
	rc = sqlite3_open_v2(":memory:", &db->sql, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		(void)snprintf(msg, sizeof(msg), "index: cannot open an "
			       "in-memory database: %s (rc=%d)",
			       sqlite3_errstr(rc), rc);
		goto fail;
	}
	(void)sqlite3_extended_result_codes(db->sql, 1);
	if (db_schema(db, &detail) < 0)
		goto fail_detail;
	for (i = 0; i < ST_COUNT; i++) {
		if (index_st(db, (enum stmt_id)i, &detail) == NULL)
			goto fail_detail;
	}
	db_free(db);
	return 0;
fail_detail:
	/* detail lives in db, which is about to go */
	(void)snprintf(msg, sizeof(msg), "%s", detail);
fail:
	db_free(db);
	*error_r = msg;
	return -1;
}

int
index_remove_files(const char *path, const char **error_r)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	struct buf name;
	size_t i;
	int ret = 0;

	buf_init(&name, 0);
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		buf_clear(&name);
		if (buf_append_str(&name, path) < 0 ||
		    buf_append_str(&name, suffixes[i]) < 0) {
			*error_r = "index: path too long";
			ret = -1;
			break;
		}
		if (unlink(buf_cstr(&name)) < 0 && errno != ENOENT) {
			log_error("index op=unlink(%s): %s", buf_cstr(&name),
				  strerror(errno));
			*error_r = "index: cannot remove database files";
			ret = -1;
		}
	}
	buf_deinit(&name);
	return ret;
}

enum index_error
index_last_error(const struct index_db *db)
{
	return db->last_error;
}

bool
index_is_corrupt(const struct index_db *db)
{
	return db->corrupt;
}

/* ---- mailboxes ---- */

static const char *
canon_name(const char *name)
{
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static int
check_name(struct index_db *db, const char *name, const char **error_r)
{
	const unsigned char *p;

	if (*name == '\0')
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: empty mailbox name");
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: control byte in mailbox name");
	}
	return 0;
}

/* Load a mailbox row from a bound ST_MBOX_BY_* statement. */
static int
mbox_load(struct index_db *db, enum stmt_id id, struct index_mailbox *mbox_r,
	  const char **error_r)
{
	sqlite3_stmt *st = index_st(db, id, error_r);
	int ret;

	memset(mbox_r, 0, sizeof(*mbox_r));
	if (st == NULL)
		return -1;
	ret = index_st_row(db, id, error_r);
	if (ret <= 0)
		return ret;
	mbox_r->id = sqlite3_column_int64(st, 0);
	mbox_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
	mbox_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
	mbox_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
	mbox_r->recent_uid = (uint32_t)sqlite3_column_int64(st, 4);
	/* Written only through create/set_special_use, which bound it. */
	(void)snprintf(mbox_r->special_use, sizeof(mbox_r->special_use), "%s",
		       index_col_text(st, 5));
	mbox_r->noselect = sqlite3_column_int64(st, 6) != 0;
	mbox_r->messages = (uint32_t)sqlite3_column_int64(st, 7);
	mbox_r->unseen = (uint32_t)sqlite3_column_int64(st, 8);
	mbox_r->deleted = (uint32_t)sqlite3_column_int64(st, 9);
	mbox_r->size = (uint64_t)sqlite3_column_int64(st, 10);
	mbox_r->mtime_new = sqlite3_column_int64(st, 11);
	mbox_r->mtime_cur = sqlite3_column_int64(st, 12);
	index_st_done(st);
	return 1;
}

static int
mbox_by_name(struct index_db *db, const char *name,
	     struct index_mailbox *mbox_r, const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_MBOX_BY_NAME, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = index_bind_text(st, 1, name);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return mbox_load(db, ST_MBOX_BY_NAME, mbox_r, error_r);
}

static int
mbox_by_id(struct index_db *db, int64_t id, struct index_mailbox *mbox_r,
	   const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_MBOX_BY_ID, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return mbox_load(db, ST_MBOX_BY_ID, mbox_r, error_r);
}

/* Found and selectable, else INDEX_ERR_NOTFOUND. */
int
index_mbox_need(struct index_db *db, int64_t id, bool selectable,
		struct index_mailbox *mbox_r, const char **error_r)
{
	int ret = mbox_by_id(db, id, mbox_r, error_r);

	if (ret < 0)
		return -1;
	if (ret == 0 || (selectable && mbox_r->noselect))
		return index_set_error(db, INDEX_ERR_NOTFOUND, error_r,
				 "index: no mailbox with id %lld%s",
				 (long long)id, ret == 0 ? "" :
				 " (it is \\Noselect)");
	return 0;
}

/* Take the next UIDVALIDITY (see index_mailbox_create). */
static int
uidvalidity_take(struct index_db *db, uint32_t wanted, uint32_t *uidv_r,
		 const char **error_r)
{
	sqlite3_stmt *st = index_st(db, ST_UIDV_GET, error_r);
	int64_t next, now = (int64_t)time(NULL), v;
	int ret, rc;

	if (st == NULL)
		return -1;
	ret = index_st_row(db, ST_UIDV_GET, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return index_set_error(db, INDEX_ERR_CORRUPT, error_r,
				 "index: sequences row missing");
	next = sqlite3_column_int64(st, 0);
	index_st_done(st);
	if (wanted != 0)
		v = wanted;
	else
		v = next > now ? next : now;
	if (v <= 0 || v > UINT32_MAX)
		return index_set_error(db, INDEX_ERR_LIMIT, error_r,
				 "index: UIDVALIDITY space exhausted");
	if (v + 1 > next) {
		st = index_st(db, ST_UIDV_SET, error_r);
		if (st == NULL)
			return -1;
		rc = index_bind_i64(st, 1, v + 1);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		if (index_st_exec(db, ST_UIDV_SET, error_r) < 0)
			return -1;
	}
	*uidv_r = (uint32_t)v;
	return 0;
}

static int
mailbox_create(struct index_db *db, const char *name, const char *special_use,
	       uint32_t wanted, int64_t *id_r, uint32_t *uidv_r,
	       const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	uint32_t uidv = 0;
	int ret, rc;

	ret = mbox_by_name(db, name, &mbox, error_r);
	if (ret < 0)
		return -1;
	if (ret > 0 && !mbox.noselect)
		return index_set_error(db, INDEX_ERR_EXISTS, error_r,
				 "index: mailbox exists");
	if (uidvalidity_take(db, wanted, &uidv, error_r) < 0)
		return -1;
	if (ret > 0) {
		st = index_st(db, ST_MBOX_REVIVE, error_r);
		if (st == NULL)
			return -1;
		rc = index_bind_i64(st, 1, mbox.id);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, uidv);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 3, special_use);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		if (index_st_exec(db, ST_MBOX_REVIVE, error_r) < 0)
			return -1;
		*id_r = mbox.id;
	} else {
		st = index_st(db, ST_MBOX_INSERT, error_r);
		if (st == NULL)
			return -1;
		rc = index_bind_text(st, 1, name);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 2, uidv);
		if (rc == SQLITE_OK)
			rc = index_bind_text(st, 3, special_use);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
		if (index_st_exec(db, ST_MBOX_INSERT, error_r) < 0)
			return -1;
		*id_r = sqlite3_last_insert_rowid(db->sql);
	}
	*uidv_r = uidv;
	return 0;
}

int
index_mailbox_create(struct index_db *db, const char *name,
		     const char *special_use, uint32_t uidvalidity,
		     int64_t *id_r, uint32_t *uidvalidity_r,
		     const char **error_r)
{
	if (index_enter(db, error_r) < 0 || check_name(db, name, error_r) < 0)
		return -1;
	name = canon_name(name);
	if (special_use != NULL && *special_use == '\0')
		special_use = NULL;
	if (special_use != NULL &&
	    strlen(special_use) >= INDEX_SPECIAL_USE_MAX)
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: special-use attribute too long");
	if (index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (mailbox_create(db, name, special_use, uidvalidity, id_r,
			   uidvalidity_r, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

int
index_mailbox_get(struct index_db *db, const char *name,
		  struct index_mailbox *mbox_r, const char **error_r)
{
	if (index_enter(db, error_r) < 0)
		return -1;
	return mbox_by_name(db, canon_name(name), mbox_r, error_r);
}

int
index_mailbox_get_by_id(struct index_db *db, int64_t id,
			struct index_mailbox *mbox_r, const char **error_r)
{
	if (index_enter(db, error_r) < 0)
		return -1;
	return mbox_by_id(db, id, mbox_r, error_r);
}

int
index_mailbox_has_children(struct index_db *db, const char *name,
			   const char **error_r)
{
	sqlite3_stmt *st;
	int ret, rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MBOX_HAS_CHILDREN, error_r)) == NULL)
		return -1;
	rc = index_bind_text(st, 1, canon_name(name));
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	ret = index_st_row(db, ST_MBOX_HAS_CHILDREN, error_r);
	if (ret > 0)
		index_st_done(st);
	return ret;
}

/* Remove a mailbox's messages, expunge records and keywords. */
static int
mailbox_empty(struct index_db *db, int64_t id, const char **error_r)
{
	static const enum stmt_id ids[] = {
		ST_MSG_DELETE_ALL, ST_EXP_DELETE_ALL, ST_KW_DELETE_ALL,
		ST_RANGE_DELETE_ALL,
	};
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (index_exec_i64(db, ids[i], &id, 1, error_r) < 0)
			return -1;
	}
	return 0;
}

static int
mailbox_delete(struct index_db *db, int64_t id, bool placeholder,
	       const char **error_r)
{
	struct index_mailbox mbox;
	enum stmt_id sid = placeholder ? ST_MBOX_SET_NOSELECT : ST_MBOX_DELETE;

	if (index_mbox_need(db, id, false, &mbox, error_r) < 0 ||
	    mailbox_empty(db, id, error_r) < 0)
		return -1;
	return index_exec_i64(db, sid, &id, 1, error_r);
}

int
index_mailbox_delete(struct index_db *db, int64_t id, const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (mailbox_delete(db, id, false, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

int
index_mailbox_set_noselect(struct index_db *db, int64_t id,
			   const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (mailbox_delete(db, id, true, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

static int
mailbox_rename(struct index_db *db, const char *oldname, const char *newname,
	       const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	int ret, rc;

	ret = mbox_by_name(db, oldname, &mbox, error_r);
	if (ret < 0)
		return -1;
	if (ret == 0)
		return index_set_error(db, INDEX_ERR_NOTFOUND, error_r,
				 "index: no such mailbox");
	ret = mbox_by_name(db, newname, &mbox, error_r);
	if (ret < 0)
		return -1;
	if (ret > 0)
		return index_set_error(db, INDEX_ERR_EXISTS, error_r,
				 "index: target mailbox exists");
	st = index_st(db, ST_MBOX_RENAME_TMP, error_r);
	if (st == NULL)
		return -1;
	rc = index_bind_text(st, 1, oldname);
	if (rc == SQLITE_OK)
		rc = index_bind_text(st, 2, newname);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	if (index_st_exec(db, ST_MBOX_RENAME_TMP, error_r) < 0 ||
	    index_st_exec(db, ST_MBOX_RENAME_FINAL, error_r) < 0) {
		if (db->last_error == INDEX_ERR_EXISTS)
			return index_set_error(db, INDEX_ERR_EXISTS, error_r,
					 "index: a child's new name exists");
		return -1;
	}
	return 0;
}

int
index_mailbox_rename(struct index_db *db, const char *oldname,
		     const char *newname, const char **error_r)
{
	size_t oldlen;

	if (index_enter(db, error_r) < 0 || check_name(db, oldname, error_r) < 0 ||
	    check_name(db, newname, error_r) < 0)
		return -1;
	oldname = canon_name(oldname);
	newname = canon_name(newname);
	oldlen = strlen(oldname);
	if (strcmp(oldname, newname) == 0 ||
	    (strncmp(newname, oldname, oldlen) == 0 &&
	     newname[oldlen] == INDEX_HIER_SEP))
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: cannot rename a mailbox into itself");
	if (index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (mailbox_rename(db, oldname, newname, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

/* Run one of the "UPDATE mailboxes SET x = ?2[, y = ?3] WHERE id = ?1"
 * statements; NOTFOUND when no row matched. */
static int
mailbox_set(struct index_db *db, enum stmt_id sid, int64_t id,
	    const char *text, int64_t a, int64_t b, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, sid, error_r)) == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc == SQLITE_OK && sid == ST_MBOX_SET_SPECIAL)
		rc = index_bind_text(st, 2, text);
	else if (rc == SQLITE_OK) {
		rc = index_bind_i64(st, 2, a);
		if (rc == SQLITE_OK)
			rc = index_bind_i64(st, 3, b);
	}
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	if (index_st_exec(db, sid, error_r) < 0)
		return -1;
	if (sqlite3_changes(db->sql) == 0)
		return index_set_error(db, INDEX_ERR_NOTFOUND, error_r,
				 "index: no mailbox with id %lld",
				 (long long)id);
	return 0;
}

int
index_mailbox_set_special_use(struct index_db *db, int64_t id,
			      const char *special_use, const char **error_r)
{
	if (special_use != NULL && *special_use == '\0')
		special_use = NULL;
	if (special_use != NULL &&
	    strlen(special_use) >= INDEX_SPECIAL_USE_MAX)
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: special-use attribute too long");
	return mailbox_set(db, ST_MBOX_SET_SPECIAL, id, special_use, 0, 0,
			   error_r);
}

int
index_mailbox_set_mtimes(struct index_db *db, int64_t id, int64_t mtime_new,
			 int64_t mtime_cur, const char **error_r)
{
	return mailbox_set(db, ST_MBOX_SET_MTIMES, id, NULL, mtime_new,
			   mtime_cur, error_r);
}

/* See index.h.  A new UIDVALIDITY makes every old UID meaningless, so the
 * expunge records go and \Recent restarts at the new uidnext. */
static int
mailbox_set_uids(struct index_db *db, int64_t id, uint32_t uidvalidity,
		 uint32_t uidnext, const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	uint32_t uidv, recent;
	int rc;

	if (index_mbox_need(db, id, true, &mbox, error_r) < 0)
		return -1;
	if (uidvalidity == 0 || uidnext == 0 || uidnext == UINT32_MAX)
		return index_set_error(db, INDEX_ERR_INVALID, error_r,
				 "index: bad UIDVALIDITY or UIDNEXT");
	recent = mbox.recent_uid;
	if (uidvalidity == mbox.uidvalidity) {
		if (uidnext < mbox.uidnext)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: UIDNEXT can't go down");
	} else {
		if (mbox.messages != 0)
			return index_set_error(db, INDEX_ERR_INVALID, error_r,
					 "index: UIDVALIDITY of a mailbox "
					 "with messages");
		/* Moves the user's sequence past it; the value is ours. */
		if (uidvalidity_take(db, uidvalidity, &uidv, error_r) < 0)
			return -1;
		if (index_exec_i64(db, ST_EXP_DELETE_ALL, &id, 1, error_r) < 0)
			return -1;
		recent = uidnext;
	}
	st = index_st(db, ST_MBOX_SET_UIDS, error_r);
	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, uidvalidity);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 3, uidnext);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 4, recent);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return index_st_exec(db, ST_MBOX_SET_UIDS, error_r);
}

int
index_mailbox_set_uids(struct index_db *db, int64_t id, uint32_t uidvalidity,
		       uint32_t uidnext, const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (mailbox_set_uids(db, id, uidvalidity, uidnext, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

int
index_mailbox_list(struct index_db *db,
		   void (*cb)(const struct index_mailbox_info *info, void *ctx),
		   void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	struct index_mailbox_info info;
	int ret;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_MBOX_LIST, error_r)) == NULL)
		return -1;
	while ((ret = index_st_row(db, ST_MBOX_LIST, error_r)) > 0) {
		info.id = sqlite3_column_int64(st, 0);
		info.name = index_col_text(st, 1);
		info.special_use = sqlite3_column_type(st, 2) == SQLITE_NULL ?
			NULL : index_col_text(st, 2);
		info.noselect = sqlite3_column_int64(st, 3) != 0;
		info.subscribed = sqlite3_column_int64(st, 4) != 0;
		cb(&info, ctx);
	}
	return ret;
}

static int
mailbox_status(struct index_db *db, int64_t id, struct index_status *st_r,
	       const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	int ret, rc;

	if (index_mbox_need(db, id, false, &mbox, error_r) < 0)
		return -1;
	memset(st_r, 0, sizeof(*st_r));
	st_r->messages = mbox.messages;
	st_r->uidnext = mbox.uidnext;
	st_r->uidvalidity = mbox.uidvalidity;
	st_r->unseen = mbox.unseen;
	st_r->deleted = mbox.deleted;
	st_r->size = mbox.size;
	st_r->highestmodseq = mbox.highestmodseq;
	if (mbox.recent_uid >= mbox.uidnext)
		return 0;
	st = index_st(db, ST_MBOX_COUNT_RECENT, error_r);
	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, mbox.recent_uid);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	ret = index_st_row(db, ST_MBOX_COUNT_RECENT, error_r);
	if (ret <= 0)
		return ret < 0 ? -1 : index_set_error(db, INDEX_ERR_TEMP, error_r,
						"index: count returned nothing");
	st_r->recent = (uint32_t)sqlite3_column_int64(st, 0);
	index_st_done(st);
	return 0;
}

int
index_mailbox_status(struct index_db *db, int64_t id,
		     struct index_status *status_r, const char **error_r)
{
	/* A read transaction so the counters and the recent count come
	 * from the same snapshot even if an LDA commits in between. */
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_READ, error_r) < 0)
		return -1;
	if (mailbox_status(db, id, status_r, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

static int
claim_recent(struct index_db *db, int64_t id, uint32_t *first_r,
	     uint32_t *uidnext_r, const char **error_r)
{
	struct index_mailbox mbox;
	sqlite3_stmt *st;
	int rc;

	if (index_mbox_need(db, id, true, &mbox, error_r) < 0)
		return -1;
	*first_r = mbox.recent_uid;
	*uidnext_r = mbox.uidnext;
	if (mbox.recent_uid == mbox.uidnext)
		return 0;
	st = index_st(db, ST_MBOX_SET_RECENT, error_r);
	if (st == NULL)
		return -1;
	rc = index_bind_i64(st, 1, id);
	if (rc == SQLITE_OK)
		rc = index_bind_i64(st, 2, mbox.uidnext);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return index_st_exec(db, ST_MBOX_SET_RECENT, error_r);
}

int
index_mailbox_claim_recent(struct index_db *db, int64_t id,
			   uint32_t *first_recent_r, uint32_t *uidnext_r,
			   const char **error_r)
{
	if (index_enter(db, error_r) < 0 ||
	    index_txn_begin(db, INDEX_TXN_WRITE, error_r) < 0)
		return -1;
	if (claim_recent(db, id, first_recent_r, uidnext_r, error_r) < 0)
		return index_txn_fail(db, error_r);
	return index_txn_commit(db, error_r);
}

/* Run a one-parameter (?1 = i or text) query and pass column 0 of each
 * row to cb as text. */
static int
list_strings(struct index_db *db, enum stmt_id sid, bool bind_id, int64_t id,
	     void (*cb)(const char *s, void *ctx), void *ctx,
	     const char **error_r)
{
	sqlite3_stmt *st;
	int ret, rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, sid, error_r)) == NULL)
		return -1;
	if (bind_id) {
		rc = index_bind_i64(st, 1, id);
		if (rc != SQLITE_OK)
			return index_bind_fail(db, st, rc, "bind", error_r);
	}
	while ((ret = index_st_row(db, sid, error_r)) > 0)
		cb(index_col_text(st, 0), ctx);
	return ret;
}

int
index_mailbox_keywords(struct index_db *db, int64_t id,
		       void (*cb)(const char *keyword, void *ctx), void *ctx,
		       const char **error_r)
{
	return list_strings(db, ST_KW_LIST, true, id, cb, ctx, error_r);
}

/* ---- subscriptions and meta ---- */

static int
exec_text(struct index_db *db, enum stmt_id sid, const char *a, const char *b,
	  const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, sid, error_r)) == NULL)
		return -1;
	rc = index_bind_text(st, 1, a);
	if (rc == SQLITE_OK && b != NULL)
		rc = index_bind_text(st, 2, b);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	return index_st_exec(db, sid, error_r);
}

int
index_sub_add(struct index_db *db, const char *name, const char **error_r)
{
	if (check_name(db, name, error_r) < 0)
		return -1;
	return exec_text(db, ST_SUB_ADD, canon_name(name), NULL, error_r);
}

int
index_sub_remove(struct index_db *db, const char *name, const char **error_r)
{
	return exec_text(db, ST_SUB_DEL, canon_name(name), NULL, error_r);
}

int
index_sub_list(struct index_db *db, void (*cb)(const char *name, void *ctx),
	       void *ctx, const char **error_r)
{
	return list_strings(db, ST_SUB_LIST, false, 0, cb, ctx, error_r);
}

int
index_meta_get(struct index_db *db, const char *key, char **value_r,
	       const char **error_r)
{
	sqlite3_stmt *st;
	int ret, rc;

	*value_r = NULL;
	if (index_enter(db, error_r) < 0 ||
	    (st = index_st(db, ST_META_GET, error_r)) == NULL)
		return -1;
	rc = index_bind_text(st, 1, key);
	if (rc != SQLITE_OK)
		return index_bind_fail(db, st, rc, "bind", error_r);
	ret = index_st_row(db, ST_META_GET, error_r);
	if (ret <= 0)
		return ret;
	*value_r = xstrdup(index_col_text(st, 0));
	index_st_done(st);
	return 1;
}

int
index_meta_set(struct index_db *db, const char *key, const char *value,
	       const char **error_r)
{
	if (value == NULL)
		return exec_text(db, ST_META_DEL, key, NULL, error_r);
	return exec_text(db, ST_META_SET, key, value, error_r);
}
