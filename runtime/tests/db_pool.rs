//! The database pool's queue semantics, on real SQLite files in temporary directories: checkout
//! and checkin, queue order, `queue: false`, timeouts, callers that die, connections that die,
//! the drop rule (checked from the pool's own records), group commit and the fault switches.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crashcourse_runtime::db::{CheckoutOutcome, DbError, Pool, PoolConfig};
use crashcourse_runtime::{Pid, Runtime};
use support::{runtime, wait_for, wait_until};

/// A query that runs for minutes unless interrupted.
const LONG_QUERY: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
                          SELECT count(*) FROM (SELECT x FROM c LIMIT 20000000000)";

struct Fixture {
    rt: Runtime,
    pool: Pool,
    _dir: tempfile::TempDir,
}

fn start(configure: impl FnOnce(&mut PoolConfig)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = PoolConfig::new(dir.path().join("test.db"));
    config.pool_size = 2;
    configure(&mut config);
    let rt = runtime();
    let pool = Pool::start(&rt, config.clone()).unwrap();
    wait_until("every connection is up", || {
        pool.metrics().size == config.pool_size
    });
    Fixture {
        rt,
        pool,
        _dir: dir,
    }
}

/// Runs `f` through the pool from a new process; the result arrives on the receiver.
fn call<T, F>(fx: &Fixture, f: F) -> (Pid, mpsc::Receiver<Result<T, DbError>>)
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let pool = fx.pool.clone();
    let pid = fx
        .rt
        .spawn(move |_ctx| async move {
            let _ = tx.send(pool.run(f).await);
        })
        .unwrap();
    (pid, rx)
}

/// A request that holds its connection until the returned sender is used (or dropped).
struct Gate {
    open: mpsc::Sender<()>,
    started: Arc<AtomicBool>,
    pid: Pid,
    result: mpsc::Receiver<Result<(), DbError>>,
}

fn hold_connection(fx: &Fixture) -> Gate {
    let (open, wait) = mpsc::channel::<()>();
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let (pid, result) = call(fx, move |_c| {
        s.store(true, Ordering::SeqCst);
        let _ = wait.recv_timeout(Duration::from_secs(20));
        Ok(())
    });
    wait_until("the gate holds a connection", || {
        started.load(Ordering::SeqCst)
    });
    Gate {
        open,
        started,
        pid,
        result,
    }
}

fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(support::DEADLINE)
        .expect("the call answered in time")
}

#[test]
fn checkout_and_checkin_return_every_connection() {
    let fx = start(|c| c.pool_size = 2);
    let calls: Vec<_> = (0..20)
        .map(|i| {
            call(&fx, move |c| {
                c.query_row("SELECT ?1 * 2", [i], |r| r.get::<_, i64>(0))
            })
        })
        .collect();
    for (i, (_, rx)) in calls.iter().enumerate() {
        assert_eq!(recv(rx).unwrap(), i as i64 * 2);
    }
    wait_until("both connections are idle again", || {
        let m = fx.pool.metrics();
        m.idle == 2 && m.checked_out == 0 && m.queue_len == 0
    });
    let m = fx.pool.metrics();
    assert_eq!(m.served, 20);
    assert_eq!(m.size, 2);
    assert_eq!(m.drops + m.timeouts + m.unavailable, 0);
    assert_eq!(m.queue_time.count, 20);
    assert_eq!(m.query_time.count, 20);
    assert_eq!(m.idle_time.count, 20, "one idle-time sample per checkout");
}

#[test]
fn an_insert_is_acknowledged_only_after_it_is_committed() {
    let fx = start(|_| {});
    let path = fx.pool.config().path.clone();
    let outside = rusqlite::Connection::open(&path).unwrap();
    let first = fx
        .rt
        .block_on(fx.pool.insert_message("room:a", "ada", "one"))
        .unwrap();
    // Another connection sees it the moment the acknowledgement arrives.
    let (nick, body): (String, String) = outside
        .query_row(
            "SELECT nick, body FROM messages WHERE id = ?1",
            [first.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((nick.as_str(), body.as_str()), ("ada", "one"));
    for body in ["two", "three"] {
        fx.rt
            .block_on(fx.pool.insert_message("room:a", "bob", body))
            .unwrap();
    }
    fx.rt
        .block_on(fx.pool.insert_message("room:b", "eve", "elsewhere"))
        .unwrap();
    let recent = fx
        .rt
        .block_on(fx.pool.recent_messages("room:a", 2))
        .unwrap();
    let bodies: Vec<_> = recent.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["two", "three"], "the last two, oldest first");
    assert!(recent[0].id < recent[1].id);
    assert!(recent.iter().all(|m| m.room == "room:a" && m.at_ms > 0));
}

#[test]
fn queued_requests_are_served_in_arrival_order() {
    let fx = start(|c| c.pool_size = 1);
    let gate = hold_connection(&fx);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut results = Vec::new();
    for i in 0..10 {
        let order = order.clone();
        results.push(call(&fx, move |_c| {
            order.lock().unwrap().push(i);
            Ok(())
        }));
        wait_until("the request is queued", || {
            fx.pool.metrics().queue_len == i + 1
        });
    }
    gate.open.send(()).unwrap();
    recv(&gate.result).unwrap();
    for (_, rx) in &results {
        recv(rx).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn queue_false_refuses_at_once_when_every_connection_is_busy() {
    let fx = start(|c| {
        c.pool_size = 1;
        c.queue = false;
    });
    let gate = hold_connection(&fx);
    let asked = Instant::now();
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    let err = recv(&rx).unwrap_err();
    assert!(matches!(err, DbError::Unavailable), "{err}");
    assert!(asked.elapsed() < Duration::from_secs(2), "refused at once");
    assert_eq!(
        err.to_string(),
        "connection not available and queuing is disabled"
    );
    assert_eq!(fx.pool.metrics().unavailable, 1);
    gate.open.send(()).unwrap();
    recv(&gate.result).unwrap();
    wait_until("the connection is back", || fx.pool.metrics().idle == 1);
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 1);
}

#[test]
fn a_call_past_its_timeout_fails_is_counted_and_leaves_the_queue() {
    let fx = start(|c| {
        c.pool_size = 1;
        c.timeout = Duration::from_millis(300);
    });
    // A closure that ignores interrupts keeps the connection past its caller's timeout...
    let gate = hold_connection(&fx);
    // ...so a request behind it times out while queued.
    let (_, queued) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert!(matches!(recv(&queued).unwrap_err(), DbError::Timeout));
    assert!(matches!(recv(&gate.result).unwrap_err(), DbError::Timeout));
    wait_until("the timed-out request has left the queue", || {
        fx.pool.metrics().queue_len == 0
    });
    let m = fx.pool.metrics();
    assert_eq!(m.timeouts, 2);
    assert_eq!(
        m.cancelled, 1,
        "the queued request was taken out of the queue"
    );
    gate.open.send(()).unwrap();
    wait_until("the connection is idle", || fx.pool.metrics().idle == 1);

    // A query that would run for minutes is interrupted at the deadline, freeing the
    // connection for the next caller.
    let asked = Instant::now();
    let (_, rx) = call(&fx, |c| c.query_row(LONG_QUERY, [], |r| r.get::<_, i64>(0)));
    assert!(matches!(recv(&rx).unwrap_err(), DbError::Timeout));
    wait_until("the connection is idle again", || {
        fx.pool.metrics().idle == 1
    });
    assert!(asked.elapsed() < Duration::from_secs(5));
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 7", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 7);
    assert_eq!(fx.pool.metrics().timeouts, 3);
}

#[test]
fn a_caller_killed_while_queued_leaves_the_queue_and_its_work_never_runs() {
    let fx = start(|c| c.pool_size = 1);
    let gate = hold_connection(&fx);
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (caller, _rx) = call(&fx, move |_c| {
        r.store(true, Ordering::SeqCst);
        Ok(())
    });
    wait_until("the caller is queued", || fx.pool.metrics().queue_len == 1);
    fx.rt.kill(caller).unwrap();
    wait_until("the queue forgets the dead caller", || {
        fx.pool.metrics().queue_len == 0
    });
    assert_eq!(fx.pool.metrics().cancelled, 1);
    gate.open.send(()).unwrap();
    recv(&gate.result).unwrap();
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 1);
    assert!(
        !ran.load(Ordering::SeqCst),
        "a dead caller's work is not run"
    );
    wait_until("the connection is checked back in", || {
        let m = fx.pool.metrics();
        (m.checked_out, m.idle, m.queue_len) == (0, 1, 0)
    });
}

#[test]
fn a_caller_killed_while_holding_a_connection_does_not_leak_it() {
    let fx = start(|c| c.pool_size = 1);
    // Killed while its closure runs on the connection.
    let gate = hold_connection(&fx);
    assert!(gate.started.load(Ordering::SeqCst));
    fx.rt.kill(gate.pid).unwrap();
    wait_until("the caller is gone", || !fx.rt.is_alive(gate.pid));
    assert_eq!(
        fx.pool.metrics().checked_out,
        1,
        "its query is still running"
    );
    gate.open.send(()).unwrap();
    wait_until("the connection is checked back in", || {
        let m = fx.pool.metrics();
        m.checked_out == 0 && m.idle == 1
    });
    // Killed while its query waits out the "slow database" latency: freed at once.
    fx.pool.set_query_latency(Duration::from_secs(60));
    let (caller, _rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    wait_until("the slow query holds the connection", || {
        fx.pool.metrics().checked_out == 1
    });
    let killed = Instant::now();
    fx.rt.kill(caller).unwrap();
    wait_until("the connection is checked back in", || {
        fx.pool.metrics().idle == 1
    });
    assert!(killed.elapsed() < Duration::from_secs(5));
    fx.pool.set_query_latency(Duration::ZERO);
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 1);
}

#[test]
fn a_connection_killed_mid_query_fails_its_caller_and_the_queue_keeps_being_served() {
    let fx = start(|c| c.pool_size = 1);
    let started = Arc::new(AtomicBool::new(false));
    let s = started.clone();
    let (_, long) = call(&fx, move |c| {
        s.store(true, Ordering::SeqCst);
        c.query_row(LONG_QUERY, [], |r| r.get::<_, i64>(0))
    });
    wait_until("the long query runs", || started.load(Ordering::SeqCst));
    let (_, next) = call(&fx, |c| {
        c.query_row("SELECT 42", [], |r| r.get::<_, i64>(0))
    });
    wait_until("the next caller is queued", || {
        fx.pool.metrics().queue_len == 1
    });

    let killed = Instant::now();
    let old = fx.pool.kill_connection(0).unwrap();
    let err = recv(&long).unwrap_err();
    assert!(matches!(err, DbError::ConnectionDied), "{err}");
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "the query was interrupted"
    );
    assert_eq!(
        recv(&next).unwrap(),
        42,
        "the queue is served by the new connection"
    );

    let new = wait_for("a new connection process", || {
        fx.pool.connections()[0].pid.filter(|p| *p != old)
    });
    assert!(!fx.rt.is_alive(old));
    assert!(fx.rt.is_alive(new));
    let info = fx.rt.process_info(new).unwrap();
    assert_eq!(info.label.as_deref(), Some("db conn 1"));
    assert_eq!(info.kind, crashcourse_runtime::Kind::PoolConnection);
    assert_eq!(info.restarts, 1);
    assert_eq!(fx.pool.metrics().connection_exits, 1);
    assert!(matches!(
        fx.pool.kill_connection(5),
        Err(DbError::NoConnection(5))
    ));
}

/// The issue's drop rule: query latency 20 ms, pool_size 2, 200 concurrent callers. Drops
/// happen, and once the pool is in slow mode no served request waited longer than
/// 2 × queue_target + the query time + 50 ms — read from the pool's own checkout log.
#[test]
fn the_slow_queue_drops_requests_and_bounds_the_wait_of_those_it_serves() {
    let fx = start(|c| c.pool_size = 2);
    let config = fx.pool.config().clone();
    assert_eq!(config.queue_target, Duration::from_millis(50));
    assert_eq!(config.queue_interval, Duration::from_millis(2000));
    let latency = Duration::from_millis(20);
    fx.pool.set_query_latency(latency);

    let stop = Arc::new(AtomicBool::new(false));
    let dropped_seen = Arc::new(AtomicUsize::new(0));
    let message = Arc::new(Mutex::new(String::new()));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..200 {
        let (pool, stop, dropped_seen, message, done) = (
            fx.pool.clone(),
            stop.clone(),
            dropped_seen.clone(),
            message.clone(),
            done_tx.clone(),
        );
        fx.rt
            .spawn(move |_ctx| async move {
                while !stop.load(Ordering::SeqCst) {
                    match pool
                        .run(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                        .await
                    {
                        Ok(_) => {}
                        Err(e @ DbError::Dropped { .. }) => {
                            dropped_seen.fetch_add(1, Ordering::SeqCst);
                            *message.lock().unwrap() = e.to_string();
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                let _ = done.send(());
            })
            .unwrap();
    }
    let served_slow = |log: &[crashcourse_runtime::db::CheckoutRecord]| {
        log.iter()
            .filter(|r| r.slow && r.outcome == CheckoutOutcome::Served)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = fx.pool.checkout_log();
        let drops = log
            .iter()
            .filter(|r| r.outcome == CheckoutOutcome::Dropped)
            .count();
        if drops > 0 && served_slow(&log) >= 50 {
            break;
        }
        assert!(Instant::now() < deadline, "no slow mode after 30 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    fx.pool.set_query_latency(Duration::ZERO);
    for _ in 0..200 {
        recv(&done_rx);
    }

    let log = fx.pool.checkout_log();
    assert!(
        log.first().is_some_and(|r| r.id == 0),
        "the log kept every record"
    );
    let bound = config.queue_target * 2 + latency + Duration::from_millis(50);
    let mut slow_served = 0;
    for r in &log {
        match r.outcome {
            CheckoutOutcome::Served if r.slow => {
                slow_served += 1;
                assert!(
                    r.waited <= bound,
                    "request {} was served in slow mode after waiting {:?} (bound {bound:?})",
                    r.id,
                    r.waited
                );
            }
            CheckoutOutcome::Dropped => assert!(
                r.waited > config.queue_target * 2,
                "request {} was dropped after only {:?}",
                r.id,
                r.waited
            ),
            _ => {}
        }
    }
    assert!(slow_served >= 50);
    let worst = log
        .iter()
        .filter(|r| r.slow && r.outcome == CheckoutOutcome::Served)
        .map(|r| r.waited)
        .max();
    eprintln!(
        "served in slow mode: {slow_served}, longest wait among them: {worst:?}, dropped: {}, records: {}",
        log.iter().filter(|r| r.outcome == CheckoutOutcome::Dropped).count(),
        log.len()
    );
    let m = fx.pool.metrics();
    assert!(m.drops > 0);
    assert_eq!(m.drops as usize, dropped_seen.load(Ordering::SeqCst));
    let message = message.lock().unwrap().clone();
    assert!(
        message.starts_with("connection not available and request was dropped from queue after ")
            && message.ends_with(" ms"),
        "{message}"
    );
}

#[test]
fn concurrent_inserts_are_group_committed_and_each_acknowledged() {
    let fx = start(|c| c.pool_size = 1);
    let gate = hold_connection(&fx);
    let (tx, rx) = mpsc::channel();
    for i in 0..50 {
        let (pool, tx) = (fx.pool.clone(), tx.clone());
        fx.rt
            .spawn(move |_ctx| async move {
                let _ = tx.send(pool.insert_message("room:g", "n", &format!("m{i}")).await);
            })
            .unwrap();
    }
    wait_until("50 inserts are queued", || {
        fx.pool.metrics().queue_len == 50
    });
    gate.open.send(()).unwrap();
    recv(&gate.result).unwrap();
    let mut ids: Vec<i64> = (0..50).map(|_| recv(&rx).unwrap().id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    let m = fx.pool.metrics();
    assert_eq!(
        m.idle_time.count, 2,
        "two checkouts: the gate, then one transaction for all 50 inserts"
    );
    assert_eq!(m.query_time.count, 51);
    let stored = fx
        .rt
        .block_on(fx.pool.recent_messages("room:g", 100))
        .unwrap();
    assert_eq!(stored.len(), 50);
}

#[test]
fn a_restarted_pool_process_is_found_again_by_name() {
    let fx = start(|_| {});
    let old = fx.pool.pid().unwrap();
    assert_eq!(fx.rt.whereis("db_pool"), Some(old));
    let info = fx.rt.process_info(old).unwrap();
    assert_eq!(info.kind, crashcourse_runtime::Kind::Pool);
    fx.rt.kill(old).unwrap();
    wait_until("a new pool with all its connections", || {
        fx.pool.pid().is_some_and(|p| p != old) && fx.pool.metrics().size == 2
    });
    let stored = fx
        .rt
        .block_on(fx.pool.insert_message("room:r", "ada", "after the restart"))
        .unwrap();
    assert_eq!(stored.body, "after the restart");
}

#[test]
fn holding_the_write_lock_fails_writes_but_not_reads() {
    let fx = start(|c| c.busy_timeout = Duration::from_millis(300));
    fx.rt
        .block_on(fx.pool.insert_message("room:l", "ada", "before"))
        .unwrap();
    fx.pool.hold_write_lock(true).unwrap();
    assert!(fx.pool.metrics().write_lock_held);
    let err = fx
        .rt
        .block_on(fx.pool.insert_message("room:l", "ada", "blocked"))
        .unwrap_err();
    assert!(matches!(err, DbError::Locked { .. }), "{err}");
    let read = fx
        .rt
        .block_on(fx.pool.recent_messages("room:l", 10))
        .unwrap();
    assert_eq!(read.len(), 1, "reads go on under WAL");
    fx.pool.hold_write_lock(false).unwrap();
    assert!(!fx.pool.metrics().write_lock_held);
    fx.rt
        .block_on(fx.pool.insert_message("room:l", "ada", "after"))
        .unwrap();
}

#[test]
fn metrics_show_the_added_latency_in_query_times() {
    let fx = start(|_| {});
    fx.pool.set_query_latency(Duration::from_millis(30));
    assert_eq!(fx.pool.metrics().query_latency, Duration::from_millis(30));
    for _ in 0..3 {
        fx.rt
            .block_on(
                fx.pool
                    .run(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))),
            )
            .unwrap();
    }
    let m = fx.pool.metrics();
    assert_eq!(m.recent_query_time.count, 3);
    assert!(
        m.recent_query_time.p50 >= Duration::from_millis(29),
        "{m:?}"
    );
    assert!(m.query_time.max >= Duration::from_millis(29));
}

#[test]
fn settings_and_lesson_progress_round_trip() {
    let fx = start(|_| {});
    let rt = &fx.rt;
    assert_eq!(rt.block_on(fx.pool.setting("theme")).unwrap(), None);
    rt.block_on(fx.pool.put_setting("theme", "dark")).unwrap();
    rt.block_on(fx.pool.put_setting("theme", "light")).unwrap();
    assert_eq!(
        rt.block_on(fx.pool.setting("theme")).unwrap().as_deref(),
        Some("light")
    );
    for step in [2, 0, 2] {
        rt.block_on(fx.pool.record_progress("07-database", step))
            .unwrap();
    }
    assert_eq!(
        rt.block_on(fx.pool.progress("07-database")).unwrap(),
        [0, 2]
    );
}

#[test]
fn a_panicking_closure_is_an_error_and_the_connection_lives_on() {
    let fx = start(|c| c.pool_size = 1);
    let err = fx
        .rt
        .block_on(fx.pool.run(|_c| -> rusqlite::Result<()> { panic!("boom") }))
        .unwrap_err();
    assert!(matches!(&err, DbError::Panicked(m) if m == "boom"), "{err}");
    let before = fx.pool.connections()[0].pid;
    // A closure that leaves a transaction open does not poison the next caller.
    fx.rt
        .block_on(
            fx.pool
                .run(|c| c.execute_batch("BEGIN; INSERT INTO settings VALUES ('x', 'y')")),
        )
        .unwrap();
    assert_eq!(fx.rt.block_on(fx.pool.setting("x")).unwrap(), None);
    assert_eq!(fx.pool.connections()[0].pid, before);
}

#[test]
fn without_a_pool_process_calls_fail_with_no_pool() {
    let fx = start(|c| c.name = "short_lived".into());
    // Stop the whole pool: its supervisor is the only process left above it.
    let sup = fx
        .rt
        .process_table()
        .into_iter()
        .find(|r| r.label.as_deref() == Some("db pool supervisor"))
        .unwrap()
        .pid;
    fx.rt.kill(sup).unwrap();
    wait_until("the pool is gone", || fx.pool.pid().is_none());
    let err = fx
        .rt
        .block_on(fx.pool.insert_message("room", "n", "b"))
        .unwrap_err();
    assert!(matches!(err, DbError::NoPool), "{err}");
}

/// The live connection processes of the pool, in slot order.
fn live_connections(fx: &Fixture) -> Vec<Pid> {
    fx.pool
        .connections()
        .iter()
        .filter_map(|c| c.pid)
        .filter(|p| fx.rt.is_alive(*p))
        .collect()
}

#[test]
fn reconfigure_grows_the_pool_under_its_supervisor() {
    let fx = start(|c| c.pool_size = 2);
    let pool_pid = fx.pool.pid().expect("a pool process");
    let supervisor = fx
        .rt
        .process_info(pool_pid)
        .and_then(|i| i.parent)
        .expect("the pool's supervisor");
    fx.pool.reconfigure(Some(5), None, None).unwrap();
    assert_eq!(fx.pool.size(), 5);
    wait_until("five connections are up", || {
        fx.pool.metrics().size == 5 && live_connections(&fx).len() == 5
    });
    assert_eq!(fx.pool.metrics().pool_size, 5);
    for pid in live_connections(&fx) {
        let info = fx.rt.process_info(pid).expect("a live connection");
        assert_eq!(
            info.parent,
            Some(supervisor),
            "{pid} is supervised by the pool"
        );
        assert_eq!(info.kind, crashcourse_runtime::Kind::PoolConnection);
    }
    // All five take work at the same time.
    let gates: Vec<Gate> = (0..5).map(|_| hold_connection(&fx)).collect();
    assert_eq!(fx.pool.metrics().checked_out, 5);
    for g in gates {
        drop(g.open);
        recv(&g.result).unwrap();
    }
    // A new connection is supervised like the first ones: killed, it is restarted.
    let old = fx.pool.kill_connection(4).unwrap();
    let new = wait_for("connection 5 restarted", || {
        fx.pool.connections()[4]
            .pid
            .filter(|p| *p != old && fx.rt.is_alive(*p))
    });
    assert_ne!(new, old);
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 1);
}

#[test]
fn reconfigure_shrinks_without_interrupting_a_query_and_grows_back() {
    let fx = start(|c| c.pool_size = 3);
    let gates: Vec<Gate> = (0..3).map(|_| hold_connection(&fx)).collect();
    let before = live_connections(&fx);
    assert_eq!(before.len(), 3);
    fx.pool.reconfigure(Some(1), None, None).unwrap();
    // A request queued behind them is served by the connection that stays.
    let (_, queued) = call(&fx, |c| c.query_row("SELECT 7", [], |r| r.get::<_, i64>(0)));
    // Busy connections are not stopped: each query finishes and answers its caller.
    for g in gates {
        assert!(g.started.load(Ordering::SeqCst));
        drop(g.open);
        recv(&g.result).expect("a query in flight is never interrupted by a shrink");
    }
    assert_eq!(recv(&queued).unwrap(), 7);
    wait_until("two connections have stopped", || {
        fx.pool.metrics().size == 1 && live_connections(&fx).len() == 1
    });
    let stopped: Vec<Pid> = before
        .iter()
        .copied()
        .filter(|p| !fx.rt.is_alive(*p))
        .collect();
    assert_eq!(stopped.len(), 2);
    assert_eq!(fx.pool.connections().len(), 1);
    assert_eq!(fx.pool.metrics().pool_size, 1);
    // They stopped normally, so their supervisor left them stopped.
    assert_eq!(live_connections(&fx).len(), 1);
    let (_, rx) = call(&fx, |c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
    assert_eq!(recv(&rx).unwrap(), 1);

    // Grown back, the stopped connections are started again.
    fx.pool.reconfigure(Some(3), None, None).unwrap();
    wait_until("three connections are up again", || {
        fx.pool.metrics().size == 3 && live_connections(&fx).len() == 3
    });
    let gates: Vec<Gate> = (0..3).map(|_| hold_connection(&fx)).collect();
    for g in gates {
        drop(g.open);
        recv(&g.result).unwrap();
    }
}

#[test]
fn reconfigure_refuses_settings_out_of_range_and_changes_the_queue_settings() {
    let fx = start(|c| c.pool_size = 1);
    for (size, target, interval) in [
        (Some(0), None, None),
        (
            Some(crashcourse_runtime::db::Pool::MAX_SIZE + 1),
            None,
            None,
        ),
        (None, Some(Duration::ZERO), None),
        (None, None, Some(Duration::from_secs(7200))),
    ] {
        let e = fx.pool.reconfigure(size, target, interval).unwrap_err();
        assert!(matches!(e, DbError::Setting(_)), "{e}");
    }
    assert_eq!(fx.pool.size(), 1);
    fx.pool
        .reconfigure(
            None,
            Some(Duration::from_millis(5)),
            Some(Duration::from_millis(100)),
        )
        .unwrap();
    assert_eq!(
        fx.pool.queue_settings(),
        (Duration::from_millis(5), Duration::from_millis(100))
    );
    assert_eq!(fx.pool.size(), 1, "None keeps the size");
    // Four callers on one connection with 10 ms queries wait about 30 ms each: fast under the
    // default 50 ms target, slow under 5 ms, so requests get dropped once the new settings
    // are in force (from the next interval, at most the default 2 s away).
    fx.pool.set_query_latency(Duration::from_millis(10));
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..4 {
        let (pool, stop, done) = (fx.pool.clone(), stop.clone(), done_tx.clone());
        fx.rt
            .spawn(move |_ctx| async move {
                while !stop.load(Ordering::SeqCst) {
                    let _ = pool
                        .run(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
                        .await;
                }
                let _ = done.send(());
            })
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(8);
    while fx.pool.metrics().drops == 0 {
        assert!(Instant::now() < deadline, "no drops under the new target");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        recv(&done_rx);
    }
}
