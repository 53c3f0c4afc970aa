//! The thread-pool contrast against the real chat server: the same users against `/api/slow`
//! (a fixed pool of handler threads) and the `slow` event (a process per request) at once.

use std::time::{Duration, Instant};

use crashcourse_load::cli;
use crashcourse_load::{contrast, ContrastPlan, Model, Plan, Target};
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{Runtime, RuntimeConfig};

struct Server {
    endpoint: Endpoint,
    _rt: Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A chat server with `threads` HTTP handler threads.
    fn start(threads: usize) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
        config.http_threads = threads;
        let rt = Runtime::start(RuntimeConfig::default());
        let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
        Server {
            endpoint,
            _rt: rt,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.endpoint.shutdown(Duration::from_secs(10));
    }
}

#[test]
fn slow_mode_waits_for_each_requests_process() {
    let server = Server::start(2);
    let mut p = Plan::new(Target::parse(&server.endpoint.ws_url()).expect("a URL"));
    p.clients = 5;
    p.ramp = 100.0;
    p.duration = Duration::from_millis(1500);
    p.model = Model::Closed { rate: Some(4.0) };
    p.slow_ms = Some(150);
    p.workers = 2;
    let s = crashcourse_load::run(p).expect("a valid plan");
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.messages.acknowledged >= 10, "{:?}", s.messages);
    assert_eq!(s.messages.acknowledged, s.messages.sent);
    let rt = &s.latency_ms.round_trip;
    assert!(rt.min.unwrap_or(0.0) >= 150.0, "{rt:?}");
    // Nothing was posted: slow requests are not chat messages.
    assert_eq!(
        crashcourse_runtime::chat::ChatMetrics::get(&server.endpoint.metrics().messages_posted),
        0
    );
}

#[test]
fn under_the_same_load_the_thread_pool_queues_and_the_processes_do_not() {
    let server = Server::start(2);
    let plan = ContrastPlan {
        http_url: server.endpoint.http_url(),
        ws_url: server.endpoint.ws_url(),
        // 60 users at 1/s each ask for 60 requests a second; 2 threads serve at most 20.
        users: 60,
        work_ms: 100,
        duration: Duration::from_secs(3),
    };
    let t0 = Instant::now();
    let running = contrast::start(plan).expect("a valid contrast");
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.live().1.acknowledged == 0 {
        assert!(
            Instant::now() < deadline,
            "no replies: {:?}",
            running.live()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = running.wait();
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
    let (t, p) = (&r.thread_pool, &r.processes);
    assert_eq!(t.mode, "http");
    assert_eq!(p.mode, "websocket");
    assert_eq!((t.connections.ok, p.connections.ok), (60, 60));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    let (tp99, pp99) = (
        t.latency_ms.round_trip.p99.expect("thread-pool replies"),
        p.latency_ms.round_trip.p99.expect("process replies"),
    );
    assert!(pp99 < 1500.0, "processes p99 {pp99} ms");
    assert!(tp99 > 2.0 * pp99, "thread pool p99 {tp99} ms vs {pp99} ms");
    assert!(
        p.messages.acknowledged_per_s > 1.5 * t.messages.acknowledged_per_s,
        "{} vs {}",
        p.messages.acknowledged_per_s,
        t.messages.acknowledged_per_s
    );
    let text = r.to_text();
    assert!(text.contains("thread pool (HTTP)") && text.contains("processes (WS)"));
    assert!(text.contains("p99"), "{text}");
}

#[test]
fn the_contrast_command_prints_both_sides_as_json() {
    let server = Server::start(4);
    let mut out = Vec::new();
    let code = cli::run_from(
        [
            "--contrast",
            "--url",
            &server.endpoint.ws_url(),
            "--http-url",
            &server.endpoint.http_url(),
            "--clients",
            "4",
            "--slow-ms",
            "20",
            "--duration",
            "1s",
            "--json",
            "--quiet",
        ],
        &mut out,
    );
    let text = String::from_utf8(out).expect("UTF-8");
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
    for side in ["thread_pool", "processes"] {
        assert_eq!(v[side]["clients"], 4, "{text}");
        assert!(
            v[side]["messages"]["acknowledged"].as_u64() >= Some(1),
            "{text}"
        );
        assert!(v[side]["latency_ms"]["round_trip"]["p99"].is_number());
    }
    assert_eq!(
        v["thread_pool"]["url"],
        format!("{}/api/slow?ms=20", server.endpoint.http_url())
    );
}

#[test]
fn a_contrast_side_that_cannot_connect_fails_the_command() {
    let server = Server::start(2);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("its address").port()
    };
    let mut out = Vec::new();
    let t0 = Instant::now();
    let code = cli::run_from(
        [
            "--contrast",
            "--url",
            &server.endpoint.ws_url(),
            "--http-url",
            &format!("http://127.0.0.1:{port}"),
            "--clients",
            "2",
            "--slow-ms",
            "10",
            "--duration",
            "500ms",
            "--quiet",
        ],
        &mut out,
    );
    assert_eq!(code, cli::EXIT_SIDE_FAILED);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("thread pool (HTTP)"),
        "the summary is still printed: {text}"
    );
}
