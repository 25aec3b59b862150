/* index-private: what index.c and index-msg.c share: the layout of
 * struct index_db, the statement ids and the statement, error and
 * transaction helpers (all defined in index.c).  Nothing outside those
 * two files includes this, but for the index unit test (it counts the
 * prepared statements on db->sql). */
#ifndef INDEX_PRIVATE_H
#define INDEX_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "buf.h"
#include "index.h"

enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_IMMEDIATE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_UIDV_GET,
	ST_UIDV_SET,
	ST_MBOX_BY_NAME,
	ST_MBOX_BY_ID,
	ST_MBOX_INSERT,
	ST_MBOX_REVIVE,
	ST_MBOX_DELETE,
	ST_MBOX_SET_NOSELECT,
	ST_MBOX_RENAME_TMP,
	ST_MBOX_RENAME_FINAL,
	ST_MBOX_HAS_CHILDREN,
	ST_MBOX_LIST,
	ST_MBOX_SET_SPECIAL,
	ST_MBOX_SET_MTIMES,
	ST_MBOX_COUNT_RECENT,
	ST_MBOX_SET_RECENT,
	ST_MBOX_UPDATE,
	ST_MSG_DELETE_ALL,
	ST_EXP_DELETE_ALL,
	ST_KW_DELETE_ALL,
	ST_KW_INSERT,
	ST_KW_LIST,
	ST_MSG_INSERT,
	ST_MSG_UIDS,
	ST_MSG_FIRST_UNSEEN,
	ST_MSG_RANGE,
	ST_MSG_RANGE_FLAGS,
	ST_MSG_RANGE_UIDS,
	ST_MSG_RANGE_NARROW,
	ST_MSG_UPDATE_FLAGS,
	ST_MSG_DELETE,
	ST_EXP_INSERT,
	ST_MSG_CHANGED,
	ST_EXP_SINCE,
	ST_MSG_BY_FILE,
	ST_MSG_SET_FILE,
	ST_SUB_ADD,
	ST_SUB_DEL,
	ST_SUB_LIST,
	ST_META_GET,
	ST_META_SET,
	ST_META_DEL,
	ST_MBOX_SET_UIDS,
	ST_MSG_PENDING,
	ST_MSG_PENDING_BOXES,
	ST_MSG_SET_DISK,
	ST_MSG_CLEAR_DISK,
	ST_RANGE_BEFORE,
	ST_RANGE_AFTER,
	ST_RANGE_INSERT,
	ST_RANGE_SET_HI,
	ST_RANGE_DELETE,
	ST_RANGE_DELETE_ALL,
	ST_RANGE_LIST,
	ST_RANGE_REBUILD,
	ST_COUNT
};

/* A keyword set: slices into a string owned elsewhere, sorted, unique. */
struct kw {
	const char *p;
	size_t len;
};

struct kwset {
	struct kw *v; /* owned array */
	size_t n, cap;
};

struct index_db {
	sqlite3 *sql;               /* owned connection */
	char *path;                 /* owned; for log lines */
	sqlite3_stmt *st[ST_COUNT]; /* owned; NULL until first used, then
				     * kept: always go through index_st() */
	enum index_error last_error;
	bool corrupt;               /* sticky, see index.h */
	bool in_user_txn;           /* index_transaction_begin() is open */
	bool scratch;               /* index_selfcheck()'s in-memory db */
	uint64_t commits;           /* write transactions committed (hook) */
	struct buf errmsg;          /* text behind *error_r */
	/* Scratch space reused across calls (the caller's mutex makes this
	 * safe), so a 100,000-row STORE allocates nothing per row. */
	struct buf kwbuf;
	struct kwset kw_op, kw_row, kw_res;
};

/* ---- helpers (index.c) ---- */

/* db->st[id], prepared on first use (SQLITE_PREPARE_PERSISTENT) and kept
 * until close.  NULL on a prepare failure, reported like any other SQLite
 * failure (logged, error set, corruption sticky) with *error_r set. */
sqlite3_stmt *index_st(struct index_db *db, enum stmt_id id,
		       const char **error_r);

/* Set the error class and text (in db, see index.h); returns -1. */
int index_set_error(struct index_db *db, enum index_error err,
		    const char **error_r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Every public call starts here: clears the last error, refuses a
 * database already found corrupt.  0 or -1. */
int index_enter(struct index_db *db, const char **error_r);

/* Reset a statement and clear its bindings. */
void index_st_done(sqlite3_stmt *st);
/* sqlite3_bind_* wrappers returning the SQLite code; a NULL string binds
 * NULL; strings are bound SQLITE_STATIC with their length (index_st_done
 * clears bindings before the caller's string can die). */
int index_bind_i64(sqlite3_stmt *st, int i, int64_t v);
int index_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A bind failed with rc: log, set the error, reset st; returns -1. */
int index_bind_fail(struct index_db *db, sqlite3_stmt *st, int rc,
		    const char *what, const char **error_r);
/* Bind args[0..nargs-1] to ?1..?n of a statement that returns no rows,
 * step and reset it.  0 or -1. */
int index_exec_i64(struct index_db *db, enum stmt_id id, const int64_t *args,
		   size_t nargs, const char **error_r);
/* Step a statement that returns no rows and reset it.  0 or -1. */
int index_st_exec(struct index_db *db, enum stmt_id id, const char **error_r);
/* Step a query: 1 row available (the caller resets with index_st_done
 * when done with it), 0 no more rows (already reset), -1 error (already
 * reset). */
int index_st_row(struct index_db *db, enum stmt_id id, const char **error_r);
/* Column text, "" for NULL. */
const char *index_col_text(sqlite3_stmt *st, int col);

/* Outside a caller transaction each operation is its own BEGIN
 * [IMMEDIATE] ... COMMIT; inside one, a savepoint. */
enum txn_kind { INDEX_TXN_READ, INDEX_TXN_WRITE };

int index_txn_begin(struct index_db *db, enum txn_kind kind,
		    const char **error_r);
/* Commit (or release the savepoint); on failure roll back.  0 or -1. */
int index_txn_commit(struct index_db *db, const char **error_r);
/* Roll back after a failure inside an operation; returns -1 with the
 * operation's error text in *error_r. */
int index_txn_fail(struct index_db *db, const char **error_r);

/* Load the mailbox row; INDEX_ERR_NOTFOUND if missing or (when
 * selectable) \Noselect.  0 or -1. */
int index_mbox_need(struct index_db *db, int64_t id, bool selectable,
		    struct index_mailbox *mbox_r, const char **error_r);

#endif
