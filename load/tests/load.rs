//! The load generator against real sockets on loopback: the real chat server (its `/metrics`
//! must agree with the summary), a port with nothing listening, and a server that accepts TCP
//! but never answers the upgrade.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crashcourse_load::cli::{self, EXIT_BAD_RUN, EXIT_THRESHOLD_FAILED};
use crashcourse_load::{Model, Plan, Summary, Target, Thresholds};
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{Runtime, RuntimeConfig};

/// A chat server on free ports with its own database in a temporary directory.
struct Server {
    endpoint: Endpoint,
    _rt: Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
        let rt = Runtime::start(RuntimeConfig::default());
        let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
        Server {
            endpoint,
            _rt: rt,
            _dir: dir,
        }
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/socket/websocket", self.endpoint.ws_addr())
    }

    /// The server's `/metrics` counters, read over HTTP as any scraper would.
    fn metrics(&self) -> HashMap<String, u64> {
        let body = get(self.endpoint.http_addr(), "/metrics");
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse::<f64>().ok()? as u64))
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.endpoint.shutdown(Duration::from_secs(10));
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the response");
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn plan(url: &str, clients: usize, duration_ms: u64) -> Plan {
    let mut p = Plan::new(Target::parse(url).expect("a valid URL"));
    p.clients = clients;
    p.ramp = 500.0;
    p.duration = Duration::from_millis(duration_ms);
    p.workers = 2;
    p
}

/// Runs `plan` and checks it ended within its own bound (duration + drain + grace).
fn run_bounded(plan: Plan) -> Summary {
    let bound = plan.duration + plan.drain + Duration::from_secs(4);
    let t0 = Instant::now();
    let s = crashcourse_load::run(plan).expect("the plan is valid");
    assert!(
        t0.elapsed() < bound,
        "the run took {:?}, over its bound {bound:?}",
        t0.elapsed()
    );
    s
}

#[test]
fn the_summary_counts_match_the_servers_metrics() {
    let server = Server::start();
    let before = server.metrics();
    let mut p = plan(&server.ws_url(), 20, 1500);
    p.model = Model::Closed { rate: Some(5.0) };
    p.drain = Duration::from_secs(5);
    let s = run_bounded(p);
    let after = server.metrics();
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);

    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    assert_eq!(s.connections.ok, 20);
    assert_eq!(s.connections.ok, delta("crashcourse_connections_total"));
    assert_eq!(s.joins.ok, 20);
    assert_eq!(s.joins.ok, delta("crashcourse_joins_total"));
    assert!(s.messages.acknowledged >= 20, "{:?}", s.messages);
    assert_eq!(s.messages.sent, s.messages.acknowledged);
    assert_eq!(
        s.messages.acknowledged,
        delta("crashcourse_messages_posted_total")
    );
    // Every message is broadcast to the room's 20 members; the last ones may arrive after a
    // member has left.
    assert!(
        s.messages.received > s.messages.acknowledged,
        "{:?}",
        s.messages
    );
    assert_eq!(s.latency_ms.round_trip.count, s.messages.acknowledged);
    assert_eq!(s.latency_ms.join.count, 20);
    assert!(s.latency_ms.round_trip.p99.is_some());
    assert_eq!(s.error_rate, 0.0);
}

#[test]
fn the_open_model_sends_on_schedule_and_everything_is_acknowledged() {
    let server = Server::start();
    let mut p = plan(&server.ws_url(), 5, 1000);
    p.model = Model::Open { arrival_rate: 60.0 };
    p.drain = Duration::from_secs(5);
    let s = run_bounded(p);
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    assert_eq!(s.model, "open");
    // 60/s from the end of the ramp (8 ms) to the end of the second: 60 scheduled sends, each
    // made by whichever client was free.
    let scheduled = s.messages.sent + s.messages.not_sent;
    assert!((55..=60).contains(&scheduled), "{:?}", s.messages);
    assert!(s.messages.sent >= 50, "{:?}", s.messages);
    assert_eq!(s.messages.acknowledged, s.messages.sent);
    assert_eq!(
        s.messages.acknowledged,
        server.metrics()["crashcourse_messages_posted_total"]
    );
}

#[test]
fn json_output_parses_and_has_every_figure() {
    let server = Server::start();
    let mut out = Vec::new();
    let code = cli::run_from(
        [
            "--url",
            &server.ws_url(),
            "--clients",
            "3",
            "--duration",
            "500ms",
            "--rate",
            "4/s",
            "--json",
            "--quiet",
            "--errors-under",
            "1%",
            "--p99-under",
            "5s",
        ],
        &mut out,
    );
    let text = String::from_utf8(out).expect("UTF-8 output");
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("one valid JSON object");
    for key in [
        "mode",
        "model",
        "url",
        "room",
        "clients",
        "rate_per_client",
        "arrival_rate",
        "duration_s",
        "elapsed_s",
        "connections",
        "joins",
        "messages",
        "latency_ms",
        "errors",
        "operations",
        "failures",
        "error_rate",
        "thresholds",
        "passed",
    ] {
        assert!(v.get(key).is_some(), "no {key} in {text}");
    }
    for key in ["attempted", "ok", "failed"] {
        assert!(v["connections"][key].is_u64(), "connections.{key}");
        assert!(v["joins"][key].is_u64(), "joins.{key}");
    }
    for key in [
        "sent",
        "acknowledged",
        "error_replies",
        "timed_out",
        "unanswered",
        "not_sent",
        "received",
        "acknowledged_per_s",
        "received_per_s",
    ] {
        assert!(v["messages"][key].is_number(), "messages.{key}");
    }
    for lat in ["connect", "join", "round_trip"] {
        for key in ["count", "min", "mean", "p50", "p90", "p95", "p99", "max"] {
            assert!(
                v["latency_ms"][lat][key].is_number(),
                "latency_ms.{lat}.{key} in {text}"
            );
        }
    }
    assert_eq!(v["connections"]["ok"], 3);
    assert_eq!(v["thresholds"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["passed"], true);
    // The summary type round-trips the same figures.
    assert_eq!(v["messages"]["sent"], v["messages"]["acknowledged"]);
}

#[test]
fn a_failing_threshold_fails_the_verdict_and_the_exit_code() {
    let server = Server::start();
    let mut p = plan(&server.ws_url(), 3, 500);
    p.model = Model::Closed { rate: Some(4.0) };
    let mut s = run_bounded(p);
    assert!(s.latency_ms.round_trip.p99.is_some());

    s.judge(&Thresholds {
        p99_under: Some(Duration::from_secs(5)),
        errors_under: Some(0.01),
    });
    assert!(s.passed, "{:?}", s.thresholds);
    assert!(s.thresholds.iter().all(|t| t.passed));

    s.judge(&Thresholds {
        p99_under: Some(Duration::from_nanos(1)),
        errors_under: Some(0.01),
    });
    assert!(!s.passed);
    assert_eq!(
        s.thresholds.iter().map(|t| t.passed).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(s.to_text().contains("✗ FAIL  p99 < 0ms"), "{}", s.to_text());

    // An error rate of zero is not under 0%.
    s.judge(&Thresholds {
        p99_under: None,
        errors_under: Some(0.0),
    });
    assert!(!s.passed);

    let url = server.ws_url();
    let args = |p99: &'static str| {
        vec![
            "--url".to_string(),
            url.clone(),
            "--clients".into(),
            "2".into(),
            "--duration".into(),
            "400ms".into(),
            "--rate".into(),
            "5/s".into(),
            "--quiet".into(),
            "--p99-under".into(),
            p99.into(),
        ]
    };
    let mut out = Vec::new();
    assert_eq!(cli::run_from(args("1us"), &mut out), EXIT_THRESHOLD_FAILED);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("✗ FAIL"), "{text}");
    let mut out = Vec::new();
    assert_eq!(cli::run_from(args("10s"), &mut out), 0);
    assert!(String::from_utf8_lossy(&out).contains("✓ pass"));
}

#[test]
fn bad_arguments_get_clear_errors_and_exit_code_2() {
    let mut out = Vec::new();
    assert_eq!(
        cli::run_from(["--clients", "30000", "--quiet"], &mut out),
        EXIT_BAD_RUN
    );
    assert_eq!(
        cli::run_from(["--url", "https://127.0.0.1:1/"], &mut out),
        EXIT_BAD_RUN
    );
    assert_eq!(
        cli::run_from(["--rate", "2/s", "--arrival-rate", "10/s"], &mut out),
        EXIT_BAD_RUN
    );
    assert_eq!(
        cli::run_from(["--duration", "soon"], &mut out),
        EXIT_BAD_RUN
    );
    assert!(out.is_empty(), "nothing ran");
}

#[test]
fn a_port_with_nothing_listening_is_reported_as_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").port()
    };
    let mut p = plan(&format!("ws://127.0.0.1:{port}/socket"), 3, 600);
    p.timeout = Duration::from_millis(500);
    let s = run_bounded(p);
    assert_eq!(s.connections.ok, 0);
    assert!(s.connections.failed >= 3, "{:?}", s.connections);
    assert_eq!(
        s.errors.get("refused"),
        Some(&s.connections.failed),
        "{:?}",
        s.errors
    );
    assert_eq!(s.error_rate, 1.0);
    assert!(s.to_text().contains("refused"));
}

/// Accepts TCP connections and holds them without a word, until dropped.
struct Mute {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl Mute {
    fn start() -> Mute {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.set_nonblocking(true).expect("non-blocking accept");
        let addr = l.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            held.len()
        });
        Mute {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

#[test]
fn a_server_that_never_answers_the_upgrade_is_reported_as_timed_out() {
    let mute = Mute::start();
    let mut p = plan(&format!("ws://{}/socket", mute.addr), 3, 1200);
    p.timeout = Duration::from_millis(400);
    p.drain = Duration::from_millis(500);
    let s = run_bounded(p);
    assert_eq!(s.connections.ok, 0);
    let timed_out = s.errors.get("timed out: upgrade").copied().unwrap_or(0);
    assert!(timed_out >= 3, "{:?}", s.errors);
    assert_eq!(timed_out, s.connections.failed, "{:?}", s.errors);
    assert!(mute.accepted() >= 3);
}

#[test]
fn http_mode_against_api_health() {
    let server = Server::start();
    let before = server.metrics()["crashcourse_http_requests_total"];
    let mut p = plan(
        &format!("http://{}/api/health", server.endpoint.http_addr()),
        4,
        800,
    );
    p.model = Model::Closed { rate: Some(20.0) };
    let s = run_bounded(p);
    let after = server.metrics()["crashcourse_http_requests_total"];
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    assert_eq!(s.mode, "http");
    assert!(s.messages.sent >= 4 * 10, "{:?}", s.messages);
    assert_eq!(s.messages.acknowledged, s.messages.sent);
    // Keep-alive: one connection per client for the whole run.
    assert_eq!(s.connections.ok, 4);
    // The scrape after the run counts itself.
    assert_eq!(after - before, s.messages.sent + 1);
    assert_eq!(s.latency_ms.round_trip.count, s.messages.sent);
}

/// A WebSocket server that upgrades every connection, then hands it to `behave` on its own
/// thread; it stops accepting when dropped.
struct Fake {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

type Ws = async_tungstenite::tungstenite::WebSocket<TcpStream>;

impl Fake {
    fn start(behave: fn(Ws)) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.set_nonblocking(true).expect("non-blocking accept");
        let addr = l.local_addr().expect("its address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                match l.accept() {
                    Ok((s, _)) => {
                        std::thread::spawn(move || {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                            if let Ok(ws) = async_tungstenite::tungstenite::accept(s) {
                                behave(ws);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fake { addr, stop }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_server_that_closes_the_socket_is_reported_with_its_close_code() {
    use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use async_tungstenite::tungstenite::protocol::CloseFrame;
    let fake = Fake::start(|mut ws| {
        let _ = ws.read(); // the join
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::Again,
            reason: "try again later".into(),
        }));
        let _ = ws.flush();
        let _ = ws.read();
    });
    let mut p = plan(&format!("ws://{}/socket", fake.addr), 3, 800);
    p.timeout = Duration::from_millis(500);
    let s = run_bounded(p);
    let closed = s
        .errors
        .get("closed with code 1013: try again later")
        .copied()
        .unwrap_or(0);
    assert!(closed >= 3, "{:?}", s.errors);
    assert_eq!(s.connections.ok, closed, "every connection was closed");
    assert_eq!(s.joins.ok, 0);
    assert_eq!(s.joins.failed, s.joins.attempted);
}

#[test]
fn a_server_that_stalls_after_the_upgrade_is_reported_as_timed_out() {
    let fake = Fake::start(|mut ws| {
        // Reads (so the client's writes never block) and never answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && ws.read().is_ok() {}
    });
    let mut p = plan(&format!("ws://{}/socket", fake.addr), 3, 1000);
    p.timeout = Duration::from_millis(300);
    p.drain = Duration::from_millis(300);
    let s = run_bounded(p);
    assert!(s.connections.ok >= 3);
    assert_eq!(s.joins.ok, 0);
    let timed_out = s.errors.get("timed out: join reply").copied().unwrap_or(0);
    assert!(timed_out >= 3, "{:?}", s.errors);
    assert_eq!(s.messages.sent, 0);
}

#[test]
fn a_run_stopped_early_ends_within_its_drain_and_closes_every_socket() {
    let server = Server::start();
    let mut p = plan(&server.ws_url(), 10, 60_000);
    p.model = Model::Closed { rate: Some(5.0) };
    p.drain = Duration::from_secs(1);
    let running = crashcourse_load::start(p).expect("the plan is valid");
    let deadline = Instant::now() + Duration::from_secs(15);
    while running.live().acknowledged < 10 {
        assert!(
            Instant::now() < deadline,
            "no replies: {:?}",
            running.live()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // While it runs, the live view carries the round-trip percentiles of the replies so far.
    let live = running.live();
    let (p50, p99) = (live.round_trip_p50, live.round_trip_p99);
    assert!(p50.is_some() && p99 >= p50, "live percentiles: {live:?}");
    let stopped = Instant::now();
    running.stop();
    let s = running.wait();
    assert!(
        stopped.elapsed() < Duration::from_secs(4),
        "{:?}",
        stopped.elapsed()
    );
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    assert_eq!(s.messages.sent, s.messages.acknowledged);
    let metrics = &server.endpoint.metrics().connections;
    let deadline = Instant::now() + Duration::from_secs(15);
    while metrics.load(Ordering::Relaxed) > 0 {
        assert!(
            Instant::now() < deadline,
            "the server still has open sockets"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
