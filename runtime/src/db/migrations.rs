//! The schema, versioned with SQLite's `user_version`: migration *n* takes a file from version
//! *n − 1* to *n*, all pending ones in one `BEGIN IMMEDIATE` transaction.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::DbError;

/// Each entry upgrades the schema by one version; never edit one that has shipped, add one.
const MIGRATIONS: &[&str] = &[
    // 1: chat messages, read back per room newest first.
    "CREATE TABLE IF NOT EXISTS messages (
         id   INTEGER PRIMARY KEY,
         room TEXT NOT NULL,
         nick TEXT NOT NULL,
         body TEXT NOT NULL,
         at   INTEGER NOT NULL
     );
     CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room, id);",
    // 2: lesson progress and settings.
    "CREATE TABLE IF NOT EXISTS lesson_progress (
         lesson       TEXT NOT NULL,
         step         INTEGER NOT NULL,
         completed_at INTEGER NOT NULL,
         PRIMARY KEY (lesson, step)
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS settings (
         key   TEXT PRIMARY KEY,
         value TEXT NOT NULL
     ) WITHOUT ROWID;",
    // 3: where each lesson was left and the predictions the learner made.
    "CREATE TABLE IF NOT EXISTS lesson_state (
         lesson       TEXT PRIMARY KEY,
         current_step INTEGER NOT NULL,
         updated_at   INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS lesson_predictions (
         lesson TEXT NOT NULL,
         step   INTEGER NOT NULL,
         answer INTEGER NOT NULL,
         PRIMARY KEY (lesson, step)
     ) WITHOUT ROWID;",
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The file's `user_version`.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the versions before and after. Safe to
/// run from several connections at once: the version is read again under the write lock.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(i64, i64), DbError> {
    let sqlite = |e| DbError::from_sqlite(e, path);
    let found = version(conn).map_err(sqlite)?;
    check_known(found, path)?;
    if found == SCHEMA_VERSION {
        return Ok((found, found));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    let current = version(&tx).map_err(sqlite)?;
    check_known(current, path)?;
    for sql in &MIGRATIONS[current as usize..] {
        tx.execute_batch(sql).map_err(sqlite)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    Ok((found, SCHEMA_VERSION))
}

pub(crate) fn check_known(found: i64, path: &Path) -> Result<(), DbError> {
    if (0..=SCHEMA_VERSION).contains(&found) {
        Ok(())
    } else {
        Err(DbError::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_to_the_latest_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            (0, SCHEMA_VERSION)
        );
        assert_eq!(
            migrate(&mut conn, Path::new(":memory:")).unwrap(),
            (SCHEMA_VERSION, SCHEMA_VERSION)
        );
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')", [])
            .unwrap();
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn, Path::new(":memory:")),
            Err(DbError::TooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }
}
