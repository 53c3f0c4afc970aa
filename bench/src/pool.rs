//! `crashcourse bench pool`: 1,000 writer processes insert 100,000 chat messages through the
//! pool at pool sizes 1, 4 and 16, then the same inserts go through one plain `rusqlite`
//! connection on one thread, one transaction each, with the same pragmas in the same directory:
//! the ceiling for this disk. Queue settings are loose enough that nothing should be dropped;
//! drops are printed anyway. Everything happens in a temporary directory.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Figure;
use crate::db::{DbError, Pool, PoolConfig};
use crate::{Runtime, RuntimeConfig, SpawnOpts};

/// The pool sizes measured.
pub const POOL_SIZES: [usize; 3] = [1, 4, 16];

/// Sizes of one run; `quick` inserts one tenth of the messages (with the same 1,000 writers).
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub writers: usize,
    pub messages: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        Sizes {
            writers: 1_000,
            messages: if quick { 10_000 } else { 100_000 },
        }
    }
}

const ROOM: &str = "room:bench";

/// Runs every measurement, calling `report` with each figure as it is measured.
pub fn run(sizes: Sizes, mut report: impl FnMut(Figure)) -> Result<(), DbError> {
    let dir = tempfile::Builder::new()
        .prefix("crashcourse-bench-pool-")
        .tempdir()
        .map_err(|source| DbError::Io {
            what: "could not create a temporary directory in",
            path: std::env::temp_dir(),
            source,
        })?;
    for n in POOL_SIZES {
        for f in through_pool(dir.path(), n, sizes)? {
            report(f);
        }
    }
    report(ceiling(dir.path(), sizes.messages)?);
    Ok(())
}

/// `sizes.writers` processes share `sizes.messages` inserts through a pool of `n`.
fn through_pool(dir: &Path, n: usize, sizes: Sizes) -> Result<Vec<Figure>, DbError> {
    let rt = Runtime::start(RuntimeConfig::default());
    let mut config = PoolConfig::new(dir.join(format!("pool_{n}.db")));
    config.pool_size = n;
    config.queue_target = Duration::from_secs(60);
    config.queue_interval = Duration::from_secs(60);
    config.timeout = Duration::from_secs(600);
    let pool = Pool::start(&rt, config)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.metrics().size < n {
        if Instant::now() > deadline {
            return Err(DbError::Start(format!("{n} connections did not come up")));
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let (tx, rx) = mpsc::channel::<usize>();
    let started = Instant::now();
    for w in 0..sizes.writers {
        let count =
            sizes.messages / sizes.writers + usize::from(w < sizes.messages % sizes.writers);
        let pool = pool.clone();
        let tx = tx.clone();
        rt.spawn_with(
            SpawnOpts::new().label("bench writer"),
            move |_ctx| async move {
                let nick = format!("writer{w}");
                let mut failed = 0;
                for i in 0..count {
                    let body = format!("message {i} from writer {w}");
                    if pool.insert_message(ROOM, &nick, &body).await.is_err() {
                        failed += 1;
                    }
                }
                let _ = tx.send(failed);
            },
        )
        .map_err(|e| DbError::Start(e.to_string()))?;
    }
    drop(tx);
    let failed: usize = rx.iter().sum();
    let elapsed = started.elapsed();
    let m = pool.metrics();
    let stored: i64 =
        rt.block_on(pool.run(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))))?;
    if failed > 0 {
        eprintln!("# pool size {n}: {failed} inserts failed");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let name = |what: &str| format!("pool.size_{n}.{what}");
    drop(rt);
    Ok(vec![
        Figure::new(
            name("inserts_per_s"),
            stored as f64 / elapsed.as_secs_f64(),
            "insert/s",
        ),
        Figure::new(name("queue_p50"), ms(m.queue_time.p50), "ms"),
        Figure::new(name("queue_p99"), ms(m.queue_time.p99), "ms"),
        Figure::new(name("dropped"), m.drops as f64, "count"),
    ])
}

/// The same inserts, one transaction each, through one connection on this thread.
fn ceiling(dir: &Path, messages: usize) -> Result<Figure, DbError> {
    let path = dir.join("ceiling.db");
    let conn = crate::db::storage::open_and_migrate(&path, Duration::from_secs(5))?;
    let sqlite = |e| DbError::from_sqlite(e, &path);
    let writers = Sizes::new(false).writers;
    let started = Instant::now();
    for i in 0..messages {
        let (w, k) = (i % writers, i / writers);
        let nick = format!("writer{w}");
        let body = format!("message {k} from writer {w}");
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite)?;
        crate::db::repo::insert(&conn, ROOM, &nick, &body, now_ms()).map_err(sqlite)?;
        conn.execute_batch("COMMIT").map_err(sqlite)?;
    }
    let elapsed = started.elapsed();
    Ok(Figure::new(
        "pool.ceiling.inserts_per_s",
        messages as f64 / elapsed.as_secs_f64(),
        "insert/s",
    ))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
