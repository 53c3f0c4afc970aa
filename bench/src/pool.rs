//! `crashcourse bench pool`: 1,000 writer processes insert 100,000 chat messages through the
//! pool at pool sizes 1, 4 and 16 (the pool group-commits up to 256 waiting inserts per
//! transaction). Two plain `rusqlite` connections on one thread, with the same pragmas and
//! schema in the same directory, give the yardsticks: the same inserts committed one per
//! transaction (`one_per_commit`), and in batches of the pool's group-commit size
//! (`batched_baseline`) -- the fair comparison for the pool. Then the best pool size and the
//! batched baseline run again with `synchronous=FULL` (an fsync per commit). Queue settings are
//! loose enough that nothing should be dropped; drops are printed anyway. Everything happens in
//! a temporary directory.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crashcourse_runtime::db::{open_connection, Pool, PoolConfig, Synchronous};
use crashcourse_runtime::{Runtime, RuntimeConfig, SpawnOpts};
use rusqlite::{params, Connection};

use crate::{BenchError, Figure};

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
/// The statement the pool's inserts run.
const INSERT_MESSAGE: &str = "INSERT INTO messages (room, nick, body, at) VALUES (?1, ?2, ?3, ?4)";
/// How long SQLite waits for a lock (the pool's default).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every measurement, calling `report` with each figure as it is measured.
pub fn run(sizes: Sizes, mut report: impl FnMut(Figure)) -> Result<(), BenchError> {
    let dir = tempfile::Builder::new()
        .prefix("crashcourse-bench-pool-")
        .tempdir()
        .map_err(|e| {
            BenchError::new(format!(
                "could not create a temporary directory in {}: {e}",
                std::env::temp_dir().display()
            ))
        })?;
    let batch = PoolConfig::new(dir.path().join("unused.db")).max_batch;
    let mut best = (0.0, POOL_SIZES[0]);
    for n in POOL_SIZES {
        let run = through_pool(dir.path(), n, sizes, Synchronous::Normal)?;
        if run.inserts_per_s > best.0 {
            best = (run.inserts_per_s, n);
        }
        run.figures.into_iter().for_each(&mut report);
    }
    report(Figure::new(
        "pool.one_per_commit.inserts_per_s",
        baseline(dir.path(), sizes, 1, Synchronous::Normal)?,
        "insert/s",
    ));
    report(Figure::new(
        "pool.batched_baseline.inserts_per_s",
        baseline(dir.path(), sizes, batch, Synchronous::Normal)?,
        "insert/s",
    ));
    let full = through_pool(dir.path(), best.1, sizes, Synchronous::Full)?;
    full.figures.into_iter().for_each(&mut report);
    report(Figure::new(
        "pool.sync_full.batched_baseline.inserts_per_s",
        baseline(dir.path(), sizes, batch, Synchronous::Full)?,
        "insert/s",
    ));
    Ok(())
}

/// The figures of one pool run and its insert rate.
struct PoolRun {
    inserts_per_s: f64,
    figures: Vec<Figure>,
}

/// `sizes.writers` processes share `sizes.messages` inserts through a pool of `n`.
fn through_pool(
    dir: &Path,
    n: usize,
    sizes: Sizes,
    synchronous: Synchronous,
) -> Result<PoolRun, BenchError> {
    let prefix = match synchronous {
        Synchronous::Normal => format!("pool.size_{n}"),
        Synchronous::Full => format!("pool.sync_full.size_{n}"),
    };
    let rt = Runtime::start(RuntimeConfig::default());
    let mut config = PoolConfig::new(dir.join(format!("pool_{n}_{synchronous}.db")));
    config.pool_size = n;
    config.queue_target = Duration::from_secs(60);
    config.queue_interval = Duration::from_secs(60);
    config.timeout = Duration::from_secs(600);
    config.synchronous = synchronous;
    let pool = Pool::start(&rt, config)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.metrics().size < n {
        if Instant::now() > deadline {
            return Err(BenchError::new(format!(
                "{prefix}: {n} connections did not come up within 30 s"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    let (tx, rx) = mpsc::channel::<(usize, Option<String>)>();
    let started = Instant::now();
    for w in 0..sizes.writers {
        let count = per_writer(sizes, w);
        let pool = pool.clone();
        let tx = tx.clone();
        rt.spawn_with(
            SpawnOpts::new().label("bench writer"),
            move |_ctx| async move {
                let nick = format!("writer{w}");
                let (mut failed, mut first_error) = (0, None);
                for k in 0..count {
                    let body = format!("message {k} from writer {w}");
                    if let Err(e) = pool.insert_message(ROOM, &nick, &body).await {
                        failed += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                let _ = tx.send((failed, first_error));
            },
        )
        .map_err(|e| BenchError::new(format!("{prefix}: could not spawn a writer: {e}")))?;
    }
    drop(tx);
    let (mut failed, mut first_error) = (0, None);
    for _ in 0..sizes.writers {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok((f, e)) => {
                failed += f;
                first_error = first_error.or(e);
            }
            Err(_) => {
                return Err(BenchError::new(format!(
                    "{prefix}: the writers did not all finish within 10 minutes"
                )))
            }
        }
    }
    let elapsed = started.elapsed();
    if failed > 0 {
        return Err(BenchError::new(format!(
            "{prefix}: {failed} inserts failed, e.g. {}",
            first_error.unwrap_or_default()
        )));
    }
    let m = pool.metrics();
    let stored: i64 =
        rt.block_on(pool.run(|c| c.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))))?;
    if stored as usize != sizes.messages {
        return Err(BenchError::new(format!(
            "{prefix}: {stored} messages stored, {} expected",
            sizes.messages
        )));
    }
    drop(rt);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let name = |what: &str| format!("{prefix}.{what}");
    let inserts_per_s = stored as f64 / elapsed.as_secs_f64();
    Ok(PoolRun {
        inserts_per_s,
        figures: vec![
            Figure::new(name("inserts_per_s"), inserts_per_s, "insert/s"),
            Figure::new(name("queue_p50"), ms(m.queue_time.p50), "ms"),
            Figure::new(name("queue_p99"), ms(m.queue_time.p99), "ms"),
            Figure::new(name("dropped"), m.drops as f64, "count"),
        ],
    })
}

/// How many of the messages writer `w` inserts: an even share, the first ones one more.
fn per_writer(sizes: Sizes, w: usize) -> usize {
    sizes.messages / sizes.writers + usize::from(w < sizes.messages % sizes.writers)
}

/// Message `i` of the run, as (nick, body): writer `i % writers` sends its `i / writers`-th
/// message, so the whole run holds exactly the payloads the pool's writers send.
fn payload(i: usize, writers: usize) -> (String, String) {
    let (w, k) = (i % writers, i / writers);
    (format!("writer{w}"), format!("message {k} from writer {w}"))
}

/// The run's inserts through one plain connection on this thread, `batch` per transaction,
/// on a fresh file set up as the pool's connections set theirs up. Returns inserts per second.
fn baseline(
    dir: &Path,
    sizes: Sizes,
    batch: usize,
    synchronous: Synchronous,
) -> Result<f64, BenchError> {
    let path = dir.join(format!("baseline_{batch}_{synchronous}.db"));
    let conn = open_connection(&path, BUSY_TIMEOUT, synchronous)?;
    let started = Instant::now();
    insert_batched(&conn, sizes, batch)
        .map_err(|e| BenchError::new(format!("{}: {e}", path.display())))?;
    Ok(sizes.messages as f64 / started.elapsed().as_secs_f64())
}

/// Inserts the run's messages, committing every `batch` of them (and the rest at the end), as
/// the pool's group commit does; returns the number of transactions committed.
fn insert_batched(conn: &Connection, sizes: Sizes, batch: usize) -> rusqlite::Result<usize> {
    let batch = batch.max(1);
    let mut commits = 0;
    let mut i = 0;
    while i < sizes.messages {
        let end = (i + batch).min(sizes.messages);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut stmt = conn.prepare_cached(INSERT_MESSAGE)?;
        for j in i..end {
            let (nick, body) = payload(j, sizes.writers);
            stmt.execute(params![ROOM, nick, body, now_ms()])?;
        }
        drop(stmt);
        conn.execute_batch("COMMIT")?;
        commits += 1;
        i = end;
    }
    Ok(commits)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_commits_the_pools_payloads_in_batches() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let conn = open_connection(&dir.path().join("b.db"), BUSY_TIMEOUT, Synchronous::Normal)
            .expect("open");
        let sizes = Sizes {
            writers: 3,
            messages: 10,
        };
        assert_eq!(insert_batched(&conn, sizes, 4).expect("insert"), 3);
        let mut stmt = conn
            .prepare("SELECT nick, body FROM messages ORDER BY id")
            .expect("prepare");
        let mut stored: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        // Exactly what the writers of the pool run send: writer w its messages 0..count.
        let mut sent: Vec<(String, String)> = (0..sizes.writers)
            .flat_map(|w| {
                (0..per_writer(sizes, w))
                    .map(move |k| (format!("writer{w}"), format!("message {k} from writer {w}")))
            })
            .collect();
        stored.sort();
        sent.sort();
        assert_eq!(stored, sent);
        assert_eq!(insert_batched(&conn, sizes, 1).expect("insert"), 10);
        assert_eq!(insert_batched(&conn, sizes, 256).expect("insert"), 1);
    }
}
