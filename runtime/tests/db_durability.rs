//! Durability with a real child process: the child inserts messages through the pool and
//! prints each acknowledgement; it is killed with SIGKILL mid-stream; after reopening, every
//! acknowledged message is in the file.
//!
//! The child is this same test binary, started with the ignored `child_writer` test selected
//! and the database path in an environment variable, so nothing but `cargo test` is needed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crashcourse_runtime::db::{prepare_database, Pool, PoolConfig};
use crashcourse_runtime::{Runtime, RuntimeConfig};

const PATH_VAR: &str = "CRASHCOURSE_DB_WRITER_PATH";
const WRITERS: usize = 8;
/// The child stops by itself after this, in case nobody kills it.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The child: writes until killed. Does nothing unless started by the test below.
#[test]
#[ignore = "run as a child process by sigkill_mid_stream_loses_no_acknowledged_message"]
fn child_writer() {
    let Some(path) = std::env::var_os(PATH_VAR) else {
        eprintln!("child_writer only runs as the child of the durability test");
        return;
    };
    let rt = Runtime::start(RuntimeConfig::default());
    let mut config = PoolConfig::new(path);
    config.pool_size = 4;
    let pool = Pool::start(&rt, config).expect("the child opens the database");
    let (done_tx, done_rx) = mpsc::channel::<()>();
    for w in 0..WRITERS {
        let (pool, done) = (pool.clone(), done_tx.clone());
        rt.spawn(move |_ctx| async move {
            let started = Instant::now();
            let mut i = 0u64;
            while started.elapsed() < CHILD_LIMIT {
                let body = format!("w{w}-m{i}");
                let stored = pool
                    .insert_message("room:durable", &format!("w{w}"), &body)
                    .await
                    .expect("insert");
                // Printed only after the insert's transaction committed.
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {} {}", stored.id, stored.body).expect("stdout");
                out.flush().expect("stdout");
                i += 1;
            }
            let _ = done.send(());
        })
        .unwrap();
    }
    for _ in 0..WRITERS {
        let _ = done_rx.recv();
    }
}

#[test]
#[cfg(unix)]
fn sigkill_mid_stream_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PATH_VAR, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child writer");
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });

    // Let it acknowledge a good number of messages, then kill it without warning.
    let mut acked: HashMap<i64, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let parse = |line: &str| -> Option<(i64, String)> {
        let rest = line.strip_prefix("ack ")?;
        let (id, body) = rest.split_once(' ')?;
        Some((id.parse().ok()?, body.to_string()))
    };
    while acked.len() < 5_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = line_rx
            .recv_timeout(left)
            .expect("the child acknowledges messages");
        if let Some((id, body)) = parse(&line) {
            acked.insert(id, body);
        }
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    // Whatever it printed before dying is still in the pipe: those were acknowledged too.
    reader.join().unwrap();
    for line in line_rx.try_iter() {
        if let Some((id, body)) = parse(&line) {
            acked.insert(id, body);
        }
    }

    let report = prepare_database(&path).expect("the file reopens");
    assert!(report.moved_aside.is_none(), "the file is not corrupt");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stored: HashMap<i64, String> = HashMap::new();
    let mut stmt = conn
        .prepare("SELECT id, body FROM messages WHERE room = 'room:durable'")
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
    {
        let (id, body) = row.unwrap();
        stored.insert(id, body);
    }
    let missing: Vec<_> = acked
        .iter()
        .filter(|(id, body)| stored.get(id) != Some(body))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages are missing, e.g. {missing:?}",
        acked
            .iter()
            .filter(|(id, b)| stored.get(id) != Some(b))
            .count(),
        acked.len()
    );
    assert!(stored.len() >= acked.len());
}
