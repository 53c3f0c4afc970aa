//! Chaos under load: a chat server with a real SQLite file, 500 WebSocket clients posting
//! messages, and chaos killing 50 processes a second for 10 s among channels, rooms, sockets
//! and pool connections. Afterwards every message that got an `ok` reply is in SQLite, the tree
//! is whole, and once the clients have reconnected and rejoined, the process count is what it
//! was for the same clients before chaos.
//!
//! The clients are this test's own (plain tungstenite over TCP, one thread each) because the
//! test needs the id and body of every acknowledged message. Like the `phoenix` client, each
//! rejoins after `phx_error` and reconnects after its socket goes.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::supervisor;
use crashcourse_runtime::{ChaosPlan, Faults, Kind, Runtime, RuntimeConfig};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

const CLIENTS: usize = 500;
/// Two rooms. A room's broadcast goes to everyone in it, and the `rooms` supervisor allows 3
/// restarts in 5 s across all rooms: past that it gives up, its rooms are gone until a client
/// joins them again, and the count would not come back. Among ~1,000 candidates, two rooms
/// draw about one of the 500 kills (four within 5 s is about a 1-in-100 chance).
const ROOMS: usize = 2;
/// Each client posts once per this interval while the load runs.
const SEND_EVERY: Duration = Duration::from_secs(4);
/// How long a client waits for the reply to a push or a join before it gives up on it.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// The client's pause before it reconnects or rejoins (its back-off, not a synchronisation).
const BACK_OFF: Duration = Duration::from_millis(200);
const CHAOS_RATE: f64 = 50.0;
const CHAOS_FOR: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(30);

/// Phases: clients join and stay idle; post; stop posting; hang up.
const JOIN: u8 = 0;
const LOAD: u8 = 1;
const SETTLE: u8 = 2;
const STOP: u8 = 3;

#[derive(Default)]
struct Shared {
    phase: AtomicU8,
    /// Clients joined to their room right now.
    joined: AtomicUsize,
    /// Every acknowledged message: (id from the reply, body sent).
    acked: Mutex<Vec<(i64, String)>>,
    sent: AtomicU64,
    reconnects: AtomicU64,
    rejoins: AtomicU64,
    error_replies: AtomicU64,
    unanswered: AtomicU64,
    /// A client thread hit something it cannot handle (not a dropped connection).
    broken: AtomicBool,
}

fn wait_until(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    wait_until_or(what, limit, cond, String::new);
}

/// Like `wait_until`; `why` says what was seen when the deadline passes.
fn wait_until_or(
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {}",
            why()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn chaos_during_a_500_client_load_loses_no_acknowledged_message_and_leaves_the_tree_whole() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
    let rt = Runtime::start(RuntimeConfig::default());
    let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
    let shared = Arc::new(Shared::default());
    assert_eq!(shared.phase.load(Ordering::SeqCst), JOIN);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let shared = shared.clone();
            let addr = endpoint.ws_addr();
            std::thread::Builder::new()
                .name(format!("client {i}"))
                .stack_size(256 << 10)
                .spawn(move || run_client(i, addr, &shared))
                .unwrap()
        })
        .collect();

    // Everyone joined, nothing sent yet: the process count for these clients.
    wait_until("every client joined", DEADLINE, || {
        shared.joined.load(Ordering::SeqCst) == CLIENTS
    });
    let before = rt.process_count();
    let kinds_before = count_kinds(&rt);
    eprintln!(
        "{CLIENTS} clients joined in {:.1?}: {before} processes",
        started.elapsed()
    );

    shared.phase.store(LOAD, Ordering::SeqCst);
    let faults = Faults::with_pool(&rt, endpoint.pool().clone());
    faults
        .start_chaos(ChaosPlan {
            per_second: CHAOS_RATE,
            duration: CHAOS_FOR,
            kinds: ChaosPlan::parse_kinds("channel,room,socket,pool_connection").unwrap(),
            seed: Some(9),
        })
        .unwrap();
    let report = faults
        .wait_chaos(CHAOS_FOR + DEADLINE)
        .expect("chaos ends after its time");
    shared.phase.store(SETTLE, Ordering::SeqCst);
    eprintln!(
        "chaos killed {} in {:.1?} (missed {}): {:?}; clients sent {}, {} acknowledged, {} error replies, {} unanswered, {} reconnects, {} rejoins",
        report.killed_total,
        report.elapsed,
        report.missed,
        report.killed,
        shared.sent.load(Ordering::SeqCst),
        shared.acked.lock().unwrap().len(),
        shared.error_replies.load(Ordering::SeqCst),
        shared.unanswered.load(Ordering::SeqCst),
        shared.reconnects.load(Ordering::SeqCst),
        shared.rejoins.load(Ordering::SeqCst),
    );
    let ticks = (CHAOS_RATE * CHAOS_FOR.as_secs_f64()) as u64;
    assert!(
        report.killed_total + report.missed >= ticks * 9 / 10 && report.killed_total <= ticks,
        "chaos kept roughly to its rate: {report:?}"
    );
    assert!(
        report.killed_total >= ticks * 8 / 10,
        "it found victims: {report:?}"
    );
    for kind in [Kind::Socket, Kind::Channel] {
        assert!(
            report.killed.iter().any(|(k, n)| *k == kind && *n > 0),
            "{kind:?} among the victims: {report:?}"
        );
    }

    // The clients come back: all joined again, the same processes as before.
    wait_until_or(
        "every client has rejoined and the process count is back",
        DEADLINE,
        || shared.joined.load(Ordering::SeqCst) == CLIENTS && rt.process_count() == before,
        || {
            format!(
                "{} joined, {} processes (before: {before}), by kind {:?} (before: {kinds_before:?})",
                shared.joined.load(Ordering::SeqCst),
                rt.process_count(),
                count_kinds(&rt)
            )
        },
    );
    assert_eq!(count_kinds(&rt), kinds_before);
    assert!(!shared.broken.load(Ordering::SeqCst));

    // The tree is whole: every child of the endpoint runs, the pool has all its connections,
    // and both rooms run (restarted if chaos killed them).
    assert!(endpoint.is_running());
    let children = rt
        .block_on(supervisor::which_children(
            &rt,
            endpoint.supervisor(),
            Duration::from_secs(5),
        ))
        .unwrap();
    assert_eq!(children.len(), 7);
    for child in &children {
        let pid = child
            .pid
            .unwrap_or_else(|| panic!("{} is not running", child.id));
        assert!(rt.is_alive(pid), "{} is alive", child.id);
    }
    let pool = endpoint.pool();
    wait_until("the pool has all its connections", DEADLINE, || {
        pool.metrics().size == pool.config().pool_size
    });
    for room in 0..ROOMS {
        assert!(
            rt.whereis(&format!("room:chaos{room}")).is_some(),
            "room {room} runs"
        );
    }

    // Every acknowledged message is in SQLite, with the body that was sent.
    let mut stored: HashMap<i64, String> = HashMap::new();
    for room in 0..ROOMS {
        for m in rt
            .block_on(pool.recent_messages(&format!("chaos{room}"), 1_000_000))
            .unwrap()
        {
            stored.insert(m.id, m.body);
        }
    }
    let acked = shared.acked.lock().unwrap().clone();
    assert!(
        acked.len() >= CLIENTS,
        "the load got through: {} acknowledged",
        acked.len()
    );
    let lost: Vec<&(i64, String)> = acked
        .iter()
        .filter(|(id, body)| stored.get(id) != Some(body))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages are not in SQLite: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );

    shared.phase.store(STOP, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    assert!(endpoint.shutdown(Duration::from_secs(10)));
    eprintln!("done in {:.1?}", started.elapsed());
}

/// How many processes of each kind run.
fn count_kinds(rt: &Runtime) -> HashMap<Kind, usize> {
    let mut counts = HashMap::new();
    for row in rt.process_table() {
        *counts.entry(row.kind).or_insert(0) += 1;
    }
    counts
}

/// One client: connects, joins its room, posts while the load runs; reconnects when its socket
/// goes and rejoins when its channel does, until the test says stop.
fn run_client(i: usize, addr: SocketAddr, shared: &Shared) {
    let mut conn = Conn {
        i,
        topic: format!("room:chaos{}", i % ROOMS),
        next_ref: 0,
        seq: 0,
    };
    let mut first = true;
    while shared.phase.load(Ordering::SeqCst) != STOP {
        match connect(addr) {
            Ok(mut ws) => {
                if !first {
                    shared.reconnects.fetch_add(1, Ordering::SeqCst);
                }
                first = false;
                conn.session(&mut ws, shared);
                let _ = ws.close(None);
                let _ = ws.flush();
            }
            Err(_) => std::thread::sleep(BACK_OFF),
        }
    }
}

fn connect(addr: SocketAddr) -> Result<WebSocket<TcpStream>, String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let (ws, _) = tungstenite::client(format!("ws://{addr}/socket/websocket?vsn=2.0.0"), stream)
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// What a client is waiting for a reply to.
enum Waiting {
    Nothing,
    Join {
        r: String,
        since: Instant,
    },
    Push {
        r: String,
        body: String,
        since: Instant,
    },
}

struct Conn {
    i: usize,
    topic: String,
    next_ref: u64,
    seq: u64,
}

/// What one frame means to the client.
enum Frame {
    Ignore,
    Reply {
        r: String,
        ok: bool,
        id: Option<i64>,
    },
    /// The channel went (`phx_error`) or was closed (`phx_close`): rejoin.
    ChannelGone,
}

impl Conn {
    fn next_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// One connection's life; returns when it ends or the test stops.
    fn session(&mut self, ws: &mut WebSocket<TcpStream>, shared: &Shared) {
        let mut join_ref = String::new();
        let mut joined = false;
        let mut waiting = Waiting::Nothing;
        let mut rejoin_at = Some(Instant::now());
        // Spread the first posts over the interval.
        let mut send_at = Instant::now() + SEND_EVERY.mul_f64((self.i % 100) as f64 / 100.0);
        let leave = |joined: &mut bool| {
            if std::mem::take(joined) {
                shared.joined.fetch_sub(1, Ordering::SeqCst);
            }
        };
        loop {
            let phase = shared.phase.load(Ordering::SeqCst);
            if phase == STOP {
                leave(&mut joined);
                return;
            }
            let now = Instant::now();
            if matches!(waiting, Waiting::Nothing) && rejoin_at.is_some_and(|t| now >= t) {
                rejoin_at = None;
                join_ref = self.next_ref();
                let frame = json!([join_ref, join_ref, self.topic, "phx_join", {"nick": format!("c{}", self.i)}]);
                if ws.send(Message::text(frame.to_string())).is_err() {
                    leave(&mut joined);
                    return;
                }
                waiting = Waiting::Join {
                    r: join_ref.clone(),
                    since: now,
                };
            }
            if joined && phase == LOAD && matches!(waiting, Waiting::Nothing) && now >= send_at {
                self.seq += 1;
                let r = self.next_ref();
                let body = format!("c{} m{}", self.i, self.seq);
                let frame = json!([join_ref, r, self.topic, "new_msg", {"body": body}]);
                if ws.send(Message::text(frame.to_string())).is_err() {
                    leave(&mut joined);
                    return;
                }
                shared.sent.fetch_add(1, Ordering::SeqCst);
                waiting = Waiting::Push {
                    r,
                    body,
                    since: now,
                };
                send_at = now + SEND_EVERY;
            }
            match &waiting {
                Waiting::Join { since, .. } | Waiting::Push { since, .. }
                    if now.duration_since(*since) > REPLY_WAIT =>
                {
                    shared.unanswered.fetch_add(1, Ordering::SeqCst);
                    // A socket that stops answering is given up on, as a client would.
                    leave(&mut joined);
                    return;
                }
                _ => {}
            }
            let text = match ws.read() {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(_)) => {
                    leave(&mut joined);
                    return;
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(_) => {
                    leave(&mut joined);
                    return;
                }
            };
            match classify(text.as_str(), &self.topic, &join_ref) {
                Frame::Ignore => {}
                Frame::ChannelGone => {
                    leave(&mut joined);
                    // A push in flight on the dead channel gets no reply.
                    if matches!(waiting, Waiting::Push { .. }) {
                        shared.unanswered.fetch_add(1, Ordering::SeqCst);
                    }
                    waiting = Waiting::Nothing;
                    shared.rejoins.fetch_add(1, Ordering::SeqCst);
                    rejoin_at = Some(Instant::now() + BACK_OFF);
                }
                Frame::Reply { r, ok, id } => {
                    match std::mem::replace(&mut waiting, Waiting::Nothing) {
                        Waiting::Join { r: want, .. } if want == r => {
                            if ok {
                                joined = true;
                                shared.joined.fetch_add(1, Ordering::SeqCst);
                            } else {
                                rejoin_at = Some(Instant::now() + BACK_OFF);
                            }
                        }
                        Waiting::Push { r: want, body, .. } if want == r => match (ok, id) {
                            (true, Some(id)) => shared.acked.lock().unwrap().push((id, body)),
                            (true, None) => shared.broken.store(true, Ordering::SeqCst),
                            (false, _) => {
                                shared.error_replies.fetch_add(1, Ordering::SeqCst);
                            }
                        },
                        other => waiting = other,
                    }
                }
            }
        }
    }
}

/// Reads what matters from a frame: replies, and the channel going. Broadcasts (null refs)
/// are skipped without parsing.
fn classify(text: &str, topic: &str, join_ref: &str) -> Frame {
    if text.starts_with("[null,null,") {
        return Frame::Ignore;
    }
    let Ok(f) = serde_json::from_str::<Value>(text) else {
        return Frame::Ignore;
    };
    let event = f[3].as_str().unwrap_or_default();
    let for_us = f[2] == topic && f[0].as_str() == Some(join_ref);
    match event {
        "phx_reply" => Frame::Reply {
            r: f[1].as_str().unwrap_or_default().to_string(),
            ok: f[4]["status"] == "ok",
            id: f[4]["response"]["id"].as_i64(),
        },
        "phx_error" | "phx_close" if for_us => Frame::ChannelGone,
        _ => Frame::Ignore,
    }
}
