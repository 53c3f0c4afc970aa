//! The database file: the open-time check (quick_check; corrupt files moved aside, locked ones
//! reported and left alone), the pragmas every connection uses, and the lesson switch that
//! holds the write lock from outside the pool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use super::migrations;
use super::DbError;

/// How long the open-time check waits for a lock before calling the file locked.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// What [`prepare_database`] found and did, so the app can say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageReport {
    pub path: PathBuf,
    /// There was no database at `path` (or it was moved aside): a new one was made.
    pub created: bool,
    /// The schema version found (0 for a new file).
    pub schema_before: i64,
    /// The schema version now.
    pub schema_after: i64,
    /// A corrupt file was found and moved aside before a fresh database was started.
    pub moved_aside: Option<MovedAside>,
}

/// A corrupt database and its companions, moved aside untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedAside {
    /// What the check said.
    pub detail: String,
    /// Each file moved: (where it was, where it is now). The database itself comes last.
    pub files: Vec<(PathBuf, PathBuf)>,
}

impl StorageReport {
    /// One or two sentences for the user.
    pub fn message(&self) -> String {
        match &self.moved_aside {
            Some(moved) => {
                let kept = moved
                    .files
                    .last()
                    .map_or_else(String::new, |(_, to)| to.display().to_string());
                format!(
                    "The database {} was corrupt ({}). It was moved aside, untouched, to {}; \
                     a fresh, empty database was started in its place.",
                    self.path.display(),
                    moved.detail,
                    kept
                )
            }
            None if self.created => format!("Created a new database at {}.", self.path.display()),
            None if self.schema_before != self.schema_after => format!(
                "Opened {} and upgraded its schema from version {} to {}.",
                self.path.display(),
                self.schema_before,
                self.schema_after
            ),
            None => format!("Opened {}.", self.path.display()),
        }
    }
}

impl fmt::Display for StorageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// The open-time check. Runs `PRAGMA quick_check`; a corrupt file (and its `-wal`/`-shm`) is
/// moved aside under a new name — nothing is ever overwritten — and a fresh database is made;
/// a locked file is reported as [`DbError::Locked`] and left exactly as it was. Then switches
/// to WAL and runs the migrations.
pub fn prepare_database(path: &Path) -> Result<StorageReport, DbError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
            what: "could not create the directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut created = !path.exists();
    let mut moved_aside = None;
    if !created {
        match check(path) {
            Ok(()) => {}
            Err(Check::Corrupt(detail)) => {
                let files = move_aside(path)?;
                moved_aside = Some(MovedAside { detail, files });
                created = true;
            }
            Err(Check::Failed(e)) => return Err(e),
        }
    }
    let mut conn = open(path, LOCK_WAIT)?;
    let (schema_before, schema_after) = migrations::migrate(&mut conn, path)?;
    Ok(StorageReport {
        path: path.to_path_buf(),
        created,
        schema_before,
        schema_after,
        moved_aside,
    })
}

enum Check {
    Corrupt(String),
    Failed(DbError),
}

/// The first bytes of every SQLite database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Reads the file without changing it. A file that does not even start like an SQLite
/// database is judged before SQLite opens it (SQLite would rebuild a `-shm` beside it);
/// otherwise `PRAGMA quick_check` runs with no journal-mode switch and no checkpoint on close.
/// A schema newer than this program's is refused here, before anything is written.
fn check(path: &Path) -> Result<(), Check> {
    let mut header = Vec::with_capacity(MAGIC.len());
    let read = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        f.take(MAGIC.len() as u64).read_to_end(&mut header)
    });
    match read {
        Ok(0) => {} // An empty file is an empty database.
        Ok(_) if header.as_slice() == MAGIC => {}
        Ok(_) => {
            return Err(Check::Corrupt(
                "it does not start with the SQLite header: not a database file".into(),
            ))
        }
        Err(source) => {
            return Err(Check::Failed(DbError::Io {
                what: "could not read",
                path: path.to_path_buf(),
                source,
            }))
        }
    }
    let classify = |e: rusqlite::Error| match DbError::from_sqlite(e, path) {
        DbError::Corrupt { detail, .. } => Check::Corrupt(detail),
        other => Check::Failed(other),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(classify)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(classify)?;
    conn.busy_timeout(LOCK_WAIT).map_err(classify)?;
    let mut stmt = conn.prepare("PRAGMA quick_check").map_err(classify)?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(classify)?
        .collect::<Result<_, _>>()
        .map_err(classify)?;
    if lines.len() == 1 && lines[0] == "ok" {
        let found = migrations::version(&conn).map_err(classify)?;
        migrations::check_known(found, path).map_err(Check::Failed)
    } else {
        let mut detail = lines.into_iter().take(3).collect::<Vec<_>>().join("; ");
        if detail.is_empty() {
            detail = "quick_check returned nothing".into();
        }
        Err(Check::Corrupt(format!("quick_check: {detail}")))
    }
}

/// Moves `path`, then its companions, to `<name>.corrupt-<unix time>[-n]` (and `-wal`, `-shm`
/// beside it), never replacing an existing file. Companions go first so that a crash half-way
/// never leaves an old WAL beside a new database.
fn move_aside(path: &Path) -> Result<Vec<(PathBuf, PathBuf)>, DbError> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = path.as_os_str().to_owned();
    let with = |suffix: &str| {
        let mut s = base.clone();
        s.push(suffix);
        PathBuf::from(s)
    };
    let target = (0..)
        .map(|n| {
            if n == 0 {
                with(&format!(".corrupt-{secs}"))
            } else {
                with(&format!(".corrupt-{secs}-{n}"))
            }
        })
        .find(|t| {
            let mut wal = t.as_os_str().to_owned();
            wal.push("-wal");
            let mut shm = t.as_os_str().to_owned();
            shm.push("-shm");
            !t.exists() && !Path::new(&wal).exists() && !Path::new(&shm).exists()
        })
        .expect("an unused name exists");
    let mut moved = Vec::new();
    for suffix in ["-wal", "-shm", ""] {
        let from = with(suffix);
        if !from.exists() {
            continue;
        }
        let mut to = target.as_os_str().to_owned();
        to.push(suffix);
        let to = PathBuf::from(to);
        move_no_overwrite(&from, &to)?;
        moved.push((from, to));
    }
    Ok(moved)
}

/// Renames without ever replacing `to`: a hard link fails if `to` exists; where links are not
/// supported, checks first and renames.
fn move_no_overwrite(from: &Path, to: &Path) -> Result<(), DbError> {
    let io = |what, source| DbError::Io {
        what,
        path: from.to_path_buf(),
        source,
    };
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from).map_err(|e| io("could not remove the moved file", e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(io("refusing to overwrite while moving", e))
        }
        Err(_) if !to.exists() => {
            std::fs::rename(from, to).map_err(|e| io("could not move the corrupt database file", e))
        }
        Err(e) => Err(io("could not move the corrupt database file", e)),
    }
}

/// How hard SQLite works to make a commit survive a power cut (`PRAGMA synchronous`). In WAL
/// mode both settings keep every acknowledged commit through an application crash; they differ
/// only when the machine itself stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// `synchronous=NORMAL`: the WAL is fsynced at checkpoints, not at each commit, so a power
    /// cut may lose the last commits (never corrupt the file). The default: much faster.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced before it is acknowledged.
    Full,
}

impl Synchronous {
    /// The pragma value: `NORMAL` or `FULL`.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pragma().to_ascii_lowercase())
    }
}

impl std::str::FromStr for Synchronous {
    type Err = String;

    /// `normal` or `full`, in any case.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(Synchronous::Normal),
            "full" => Ok(Synchronous::Full),
            _ => Err(format!(
                "{s:?} is not a synchronous setting; use normal or full"
            )),
        }
    }
}

/// Opens a connection with the pool's pragmas: WAL, `synchronous=NORMAL`, `busy_timeout`.
/// A file with a schema newer than this program's is refused before anything is written.
pub(crate) fn open(path: &Path, busy_timeout: Duration) -> Result<Connection, DbError> {
    open_with(path, busy_timeout, Synchronous::Normal)
}

fn open_with(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> Result<Connection, DbError> {
    let sqlite = |e| DbError::from_sqlite(e, path);
    let conn = Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(busy_timeout).map_err(sqlite)?;
    migrations::check_known(migrations::version(&conn).map_err(sqlite)?, path)?;
    apply_pragmas(&conn, busy_timeout, synchronous).map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The pragmas every connection uses: WAL, the given `synchronous`, foreign keys, `busy_timeout`.
pub fn apply_pragmas(
    conn: &Connection,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!("could not switch to WAL (journal mode is {mode})")),
        ));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous={}; PRAGMA foreign_keys=ON;",
        synchronous.pragma()
    ))
}

/// Opens, sets the pragmas (`synchronous=NORMAL`) and migrates: what a connection does before
/// serving.
pub(crate) fn open_and_migrate(path: &Path, busy_timeout: Duration) -> Result<Connection, DbError> {
    open_and_migrate_with(path, busy_timeout, Synchronous::Normal)
}

/// [`open_and_migrate`] with the given `synchronous` setting.
pub(crate) fn open_and_migrate_with(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> Result<Connection, DbError> {
    let mut conn = open_with(path, busy_timeout, synchronous)?;
    migrations::migrate(&mut conn, path)?;
    Ok(conn)
}

/// A plain connection set up exactly as each pool connection sets up its own (pragmas,
/// migrations), outside any pool: for measuring the pool against SQLite alone.
pub fn open_connection(
    path: &Path,
    busy_timeout: Duration,
    synchronous: Synchronous,
) -> Result<Connection, DbError> {
    open_and_migrate_with(path, busy_timeout, synchronous)
}

/// The "hold the write lock" lesson switch: a connection of its own, on a thread of its own,
/// inside `BEGIN IMMEDIATE` until dropped.
pub(crate) struct WriteLockHolder {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WriteLockHolder {
    /// Takes the write lock, waiting at most `busy_timeout` for it.
    pub(crate) fn acquire(path: &Path, busy_timeout: Duration) -> Result<Self, DbError> {
        let (locked_tx, locked_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("db-write-lock".into())
            .spawn(move || {
                let conn = match open(&path, busy_timeout).and_then(|c| {
                    c.execute_batch("BEGIN IMMEDIATE")
                        .map_err(|e| DbError::from_sqlite(e, &path))?;
                    Ok(c)
                }) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = locked_tx.send(Err(e));
                        return;
                    }
                };
                let _ = locked_tx.send(Ok(()));
                // Held until the sender is dropped.
                let _ = release_rx.recv();
                let _ = conn.execute_batch("ROLLBACK");
            })
            .map_err(|source| DbError::Io {
                what: "could not start a thread for",
                path: PathBuf::from("the write lock"),
                source,
            })?;
        match locked_rx.recv() {
            Ok(Ok(())) => Ok(WriteLockHolder {
                release: Some(release_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(DbError::Start("the write-lock thread ended early".into()))
            }
        }
    }
}

impl Drop for WriteLockHolder {
    fn drop(&mut self) {
        self.release.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_parses_and_sets_the_pragma() {
        assert_eq!("normal".parse(), Ok(Synchronous::Normal));
        assert_eq!("FULL".parse(), Ok(Synchronous::Full));
        assert!("off".parse::<Synchronous>().is_err());
        assert_eq!(Synchronous::default(), Synchronous::Normal);

        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("sync.db");
        // SQLite reports synchronous as a number: 1 is NORMAL, 2 is FULL.
        for (setting, expected) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let conn = open_connection(&path, Duration::from_secs(1), setting).expect("open");
            let got: i64 = conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .expect("read the pragma");
            assert_eq!(got, expected, "{setting}");
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .expect("read the journal mode");
            assert_eq!(mode, "wal");
        }
    }
}
