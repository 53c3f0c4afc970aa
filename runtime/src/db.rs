//! SQLite behind a connection pool with Ecto/DBConnection's queue semantics.
//!
//! A [`Pool`] is a small supervision tree: a pool process (kind [`Kind::Pool`], registered
//! under [`PoolConfig::name`]) that owns the checkout queue, and `pool_size` connection
//! processes (kind [`Kind::PoolConnection`], labelled `db conn 1`, `db conn 2`, ...) that each
//! own one `rusqlite::Connection` on an OS thread of their own, so blocking SQLite work never
//! runs on an executor thread. Callers wait in the queue as DBConnection's callers do: the
//! queue is *slow* when even the fastest checkout of a whole `queue_interval` waited longer than
//! `queue_target`, and while it is slow, requests that waited more than twice `queue_target`
//! are dropped with an error. `queue: false` refuses at once when no connection is free; every
//! call also has a timeout. Concurrent `insert_message` calls are group-committed: one
//! transaction for all inserts waiting at that moment, each acknowledged only after `COMMIT`.
//!
//! Storage is one file in WAL mode with `synchronous=NORMAL` (committed transactions survive
//! a killed process), versioned with `user_version` migrations; [`prepare_database`] checks it
//! at start and moves a corrupt file aside (never overwriting anything) or reports a locked one.
//!
//! ```
//! use crashcourse_runtime::db::{prepare_database, Pool, PoolConfig};
//! use crashcourse_runtime::{Runtime, RuntimeConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("chat.db");
//! let report = prepare_database(&path).unwrap();
//! assert!(report.created);
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let pool = Pool::start(&rt, PoolConfig::new(&path)).unwrap();
//! let stored = rt.block_on(pool.insert_message("room:lobby", "ada", "hello")).unwrap();
//! let recent = rt.block_on(pool.recent_messages("room:lobby", 50)).unwrap();
//! assert_eq!(recent, vec![stored]);
//! ```
//!
//! [`Kind::Pool`]: crate::Kind::Pool
//! [`Kind::PoolConnection`]: crate::Kind::PoolConnection

mod connection;
mod error;
mod messages;
mod metrics;
mod migrations;
mod pool;
mod queue;
pub(crate) mod repo;
mod request;
mod shared;
pub(crate) mod storage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::DbError;
pub use metrics::{CheckoutOutcome, CheckoutRecord, PoolMetrics, Quantiles};
pub use migrations::SCHEMA_VERSION;
pub use pool::{ConnectionInfo, Pool};
pub use repo::LessonRecord;
pub use storage::{open_connection, prepare_database, MovedAside, StorageReport, Synchronous};

/// How a pool is set up. Defaults follow Ecto's: 10 connections, `queue_target` 50 ms,
/// `queue_interval` 2000 ms (Ecto's default is 1000 ms; 2000 ms is what this project teaches
/// with), queuing on, a 15 s call timeout.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The SQLite file.
    pub path: PathBuf,
    /// Number of connection processes.
    pub pool_size: usize,
    /// A checkout that waits longer than this, in every checkout of a whole interval, marks
    /// the queue slow.
    pub queue_target: Duration,
    /// The window over which the fastest checkout is compared with `queue_target`.
    pub queue_interval: Duration,
    /// `false`: fail at once with [`DbError::Unavailable`] when no connection is free.
    pub queue: bool,
    /// The longest a call may take, queue and query together ([`DbError::Timeout`]).
    pub timeout: Duration,
    /// The name the pool process is registered under.
    pub name: Arc<str>,
    /// How long SQLite itself waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// The most inserts committed in one transaction (group commit); 1 turns it off.
    pub max_batch: usize,
    /// `PRAGMA synchronous` on every connection: `Normal` (the default) or `Full`, which
    /// fsyncs each commit so a power cut loses nothing acknowledged.
    pub synchronous: Synchronous,
}

impl PoolConfig {
    /// The defaults for the database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PoolConfig {
            path: path.into(),
            pool_size: 10,
            queue_target: Duration::from_millis(50),
            queue_interval: Duration::from_millis(2000),
            queue: true,
            timeout: Duration::from_secs(15),
            name: "db_pool".into(),
            busy_timeout: Duration::from_secs(5),
            max_batch: 256,
            synchronous: Synchronous::Normal,
        }
    }
}

/// A chat message as stored: `at` is milliseconds since the Unix epoch, taken at insert time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub room: String,
    pub nick: String,
    pub body: String,
    pub at_ms: i64,
}

/// Where the app keeps its database unless told otherwise: the platform's data directory
/// (for example `~/.local/share` on Linux), `crashcourse/crashcourse.db`. Tests and benchmarks
/// never use it.
pub fn default_db_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("crashcourse")
        .join("crashcourse.db")
}
