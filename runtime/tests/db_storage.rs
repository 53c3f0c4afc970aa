//! The database file at open: new files, migrations of an old file, a newer schema, corrupt
//! files moved aside untouched, and locked files reported and left alone.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crashcourse_runtime::db::{
    default_db_path, prepare_database, DbError, Pool, PoolConfig, SCHEMA_VERSION,
};
use rusqlite::Connection;
use support::{runtime, wait_until};

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn journal_mode(path: &Path) -> String {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_file_is_created_in_wal_mode_with_the_latest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/chat.db");
    let report = prepare_database(&path).unwrap();
    assert!(report.created);
    assert_eq!(
        (report.schema_before, report.schema_after),
        (0, SCHEMA_VERSION)
    );
    assert!(report.moved_aside.is_none());
    assert!(report.message().starts_with("Created a new database at"));
    assert_eq!(journal_mode(&path), "wal");
    let conn = Connection::open(&path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "lesson_predictions",
            "lesson_progress",
            "lesson_state",
            "messages",
            "settings"
        ]
    );
    // Opening again changes nothing.
    let again = prepare_database(&path).unwrap();
    assert!(!again.created);
    assert_eq!(again.schema_before, SCHEMA_VERSION);
    assert_eq!(again.message(), format!("Opened {}.", path.display()));
}

/// A file as the first release wrote it: schema version 1 (messages only), rollback journal.
fn make_version_1_file(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE messages (
             id INTEGER PRIMARY KEY, room TEXT NOT NULL, nick TEXT NOT NULL,
             body TEXT NOT NULL, at INTEGER NOT NULL);
         CREATE INDEX messages_room_id ON messages (room, id);
         INSERT INTO messages (room, nick, body, at) VALUES
             ('room:old', 'ada', 'first', 1000),
             ('room:old', 'bob', 'second', 2000),
             ('room:other', 'eve', 'elsewhere', 3000);
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn an_old_file_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    make_version_1_file(&path);
    let report = prepare_database(&path).unwrap();
    assert!(!report.created);
    assert_eq!(
        (report.schema_before, report.schema_after),
        (1, SCHEMA_VERSION)
    );
    assert_eq!(
        report.message(),
        format!(
            "Opened {} and upgraded its schema from version 1 to {SCHEMA_VERSION}.",
            path.display()
        )
    );
    assert_eq!(journal_mode(&path), "wal");

    let rt = runtime();
    let pool = Pool::start(&rt, PoolConfig::new(&path)).unwrap();
    let old = rt.block_on(pool.recent_messages("room:old", 10)).unwrap();
    let bodies: Vec<_> = old.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["first", "second"]);
    assert_eq!(old[0].at_ms, 1000);
    rt.block_on(pool.put_setting("lesson", "7")).unwrap();
    let new = rt
        .block_on(pool.insert_message("room:old", "cy", "third"))
        .unwrap();
    assert_eq!(new.id, 4, "ids continue after the old rows");
}

#[test]
fn the_pool_itself_migrates_an_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    make_version_1_file(&path);
    let rt = runtime();
    let mut config = PoolConfig::new(&path);
    config.pool_size = 3;
    let pool = Pool::start(&rt, config).unwrap();
    wait_until("the connections are up", || pool.metrics().size == 3);
    rt.block_on(pool.record_progress("01-processes", 1))
        .unwrap();
    let version: i64 = rt
        .block_on(pool.run(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0))))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; CREATE TABLE t (x); PRAGMA user_version = 99;",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = prepare_database(&path).unwrap_err();
    assert!(
        matches!(&err, DbError::TooNew { found: 99, known, .. } if *known == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("future.db"));
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file is untouched"
    );
    let rt = runtime();
    assert!(matches!(
        Pool::start(&rt, PoolConfig::new(&path)),
        Err(DbError::TooNew { .. })
    ));
}

#[test]
fn a_corrupt_file_is_moved_aside_untouched_and_a_fresh_database_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let wal = dir.path().join("chat.db-wal");
    let shm = dir.path().join("chat.db-shm");
    let garbage = |tag: &str| -> Vec<u8> {
        format!("not a database, {tag}: ")
            .into_bytes()
            .into_iter()
            .cycle()
            .take(8192)
            .collect()
    };
    let mut kept = Vec::new();
    for round in ["first", "second"] {
        std::fs::write(&path, garbage(round)).unwrap();
        std::fs::write(&wal, garbage(&format!("{round} wal"))).unwrap();
        std::fs::write(&shm, garbage(&format!("{round} shm"))).unwrap();
        let report = prepare_database(&path).unwrap();
        let moved = report.moved_aside.clone().expect("moved aside");
        assert!(report.created);
        assert_eq!(report.schema_after, SCHEMA_VERSION);
        assert_eq!(moved.files.len(), 3);
        assert_eq!(moved.files[2].0, path, "the database itself moves last");
        for (from, to) in &moved.files {
            let suffix = from
                .to_str()
                .unwrap()
                .strip_prefix(path.to_str().unwrap())
                .unwrap();
            let tag = match suffix {
                "" => round.to_string(),
                "-wal" => format!("{round} wal"),
                _ => format!("{round} shm"),
            };
            assert!(
                std::fs::read(to).unwrap() == garbage(&tag),
                "{to:?} is untouched"
            );
            assert!(to
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .contains(".corrupt-"));
        }
        let message = report.message();
        assert!(message.contains("was corrupt"), "{message}");
        assert!(message.contains(path.to_str().unwrap()), "{message}");
        assert!(message.contains("fresh, empty database"), "{message}");
        kept.push(moved.files[2].1.clone());
        // The fresh database works.
        let rt = runtime();
        let pool = Pool::start(&rt, PoolConfig::new(&path)).unwrap();
        assert!(rt
            .block_on(pool.recent_messages("r", 5))
            .unwrap()
            .is_empty());
        drop(rt);
        // Leave companions to be moved in the next round.
        let _ = std::fs::remove_file(&wal);
        let _ = std::fs::remove_file(&shm);
    }
    assert_ne!(
        kept[0], kept[1],
        "a second corrupt file never overwrites the first"
    );
    assert!(std::fs::read(&kept[0]).unwrap() == garbage("first"));
    assert!(std::fs::read(&kept[1]).unwrap() == garbage("second"));
}

#[test]
fn a_damaged_page_is_found_by_quick_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096;
             CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, nick TEXT NOT NULL,
                                    body TEXT NOT NULL, at INTEGER NOT NULL);
             CREATE INDEX messages_room_id ON messages (room, id);",
        )
        .unwrap();
        for i in 0..2000 {
            conn.execute(
                "INSERT INTO messages (room, nick, body, at) VALUES ('r', 'n', ?1, 0)",
                [format!(
                    "message number {i} with some padding to fill pages"
                )],
            )
            .unwrap();
        }
    }
    // Scribble over the middle of the file: several b-tree pages.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096);
    for b in &mut bytes[3 * 4096..6 * 4096] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let report = prepare_database(&path).unwrap();
    let moved = report.moved_aside.expect("a damaged file is moved aside");
    assert!(
        std::fs::read(&moved.files.last().unwrap().1).unwrap() == bytes,
        "moved aside untouched"
    );
    assert!(report.created);
}

/// Holds an exclusive lock on `path` from another connection, as a second program would.
fn lock_exclusively(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    conn
}

fn assert_locked_and_untouched(path: &Path) {
    let dir = path.parent().unwrap();
    let files = files_in(dir);
    let bytes = std::fs::read(path).unwrap();
    let started = std::time::Instant::now();
    let err = prepare_database(path).unwrap_err();
    assert!(
        matches!(&err, DbError::Locked { path: p, .. } if p == path),
        "{err}"
    );
    assert!(err.to_string().contains("is locked"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(files_in(dir), files, "nothing was moved or created");
    assert!(
        std::fs::read(path).unwrap() == bytes,
        "the file is untouched"
    );
}

#[test]
fn a_locked_file_is_reported_and_never_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rollback.db");
    make_version_1_file(&path);
    let holder = lock_exclusively(&path);
    assert_locked_and_untouched(&path);
    drop(holder);
    let report = prepare_database(&path).unwrap();
    assert!(report.moved_aside.is_none());
    assert_eq!(report.schema_before, 1);
}

#[test]
fn a_locked_wal_file_is_reported_and_never_moved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    prepare_database(&path).unwrap();
    let holder = lock_exclusively(&path);
    assert_locked_and_untouched(&path);
    drop(holder);
    assert!(prepare_database(&path).unwrap().moved_aside.is_none());
}

#[test]
fn the_default_path_is_in_the_platform_data_directory() {
    let path = default_db_path();
    assert!(path.ends_with("crashcourse/crashcourse.db"), "{path:?}");
    if let Some(data) = dirs::data_dir() {
        assert!(path.starts_with(data));
    }
}
