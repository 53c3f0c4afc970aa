//! The "a poll hogged a scheduler thread" warning is about CPU time: a ramp of thousands of
//! WebSocket clients into the chat server (client and server sharing this machine's cores, so
//! worker threads are often descheduled) raises none for the runtime's own processes, while a
//! process really spinning on the CPU is still named within 100 ms.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{wait_until, Client, Server, DEADLINE};

/// Clients in the ramp, and the threads that connect them.
const CLIENTS: usize = 2_400;
const THREADS: usize = 8;
/// Rooms the clients spread over (20 members each: presence and joins stay busy). With 60 a
/// room, the presence process's own work per poll (a diff to every member for each of up to
/// 128 joins) reached 10 ms of CPU in a debug build: a real hog, but not what this test is about.
const ROOMS: usize = 120;

#[test]
fn a_client_ramp_raises_no_hog_warning_but_a_busy_loop_is_named_within_100_ms() {
    let server = Server::start();
    let addr = server.ws_addr();
    let ramp_deadline = Instant::now() + Duration::from_secs(120);
    let clients: Vec<Client> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for i in (t..CLIENTS).step_by(THREADS) {
                        if Instant::now() > ramp_deadline {
                            break;
                        }
                        let Ok(mut c) = Client::connect(addr, "/socket/websocket?vsn=2.0.0", None)
                        else {
                            continue;
                        };
                        c.join(&format!("room:r{}", i % ROOMS), &format!("u{i}"));
                        mine.push(c);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a ramp thread"))
            .collect()
    });
    assert!(
        clients.len() >= CLIENTS * 9 / 10,
        "only {} of {CLIENTS} clients connected",
        clients.len()
    );
    // Every client has its socket (and channel) process and the run queue has drained.
    wait_until("every client has its processes", || {
        server.rt.process_count() >= clients.len() * 2 && server.rt.run_queue_len() == 0
    });
    let m = server.rt.metrics();
    assert!(
        m.recent_long_polls.is_empty() && m.long_polls_total == 0,
        "hog warnings during a ramp of {} clients: {:#?}",
        clients.len(),
        m.recent_long_polls
    );

    // A real hog: a process spinning on the CPU for 200 ms.
    let (tx, rx) = mpsc::channel();
    let hog = server
        .rt
        .spawn(move |ctx| async move {
            let started = ctx.handle().uptime();
            let _ = tx.send(started);
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        })
        .expect("spawn the hog");
    let started = rx.recv_timeout(DEADLINE).expect("the hog started");
    let deadline = Instant::now() + DEADLINE;
    let report = loop {
        let m = server.rt.metrics();
        if let Some(r) = m.recent_long_polls.iter().find(|r| r.pid == hog) {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "the hog was never named");
        std::thread::sleep(Duration::from_millis(1));
    };
    let named_after = report.at.saturating_sub(started);
    assert!(
        named_after <= Duration::from_millis(100),
        "the hog was named {named_after:?} after it started: {report:?}"
    );
    assert!(report.cpu > Duration::from_millis(10), "{report:?}");
    assert!(report.cpu <= report.running_for, "{report:?}");
    drop(clients);
}
