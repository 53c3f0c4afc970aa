//! The chat server's `slow` event, driven by a plain WebSocket client speaking Phoenix V2: each
//! request is answered after its N ms by a process of its own, the channel keeps answering
//! meanwhile, bad input and too many requests in flight get error replies, and nothing is left
//! running once the socket is gone.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message, WebSocket};
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{Kind, Runtime, RuntimeConfig};
use serde_json::{json, Value};

struct Server {
    endpoint: Endpoint,
    rt: Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
        // The bound on requests in flight is what is tested, not the push rate limit.
        config.rate_limit = 100_000;
        let rt = Runtime::start(RuntimeConfig::default());
        let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
        Server {
            endpoint,
            rt,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.endpoint.shutdown(Duration::from_secs(10));
    }
}

type Ws = WebSocket<TcpStream>;

struct Client {
    ws: Ws,
    next: u64,
}

impl Client {
    fn join(server: &Server, topic: &str) -> Client {
        let addr = server.endpoint.ws_addr();
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("a read timeout");
        let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
        let (ws, _) = tungstenite::client(url, tcp).expect("the upgrade");
        let mut c = Client { ws, next: 1 };
        c.push(topic, "phx_join", json!({"nick": "slowpoke"}));
        let r = c.reply_to("1", Instant::now() + Duration::from_secs(10));
        assert_eq!(r["status"], "ok", "{r}");
        c
    }

    /// Sends a frame; returns its ref.
    fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let r = self.next.to_string();
        self.next += 1;
        let frame = json!(["1", r, topic, event, payload]).to_string();
        self.ws.send(Message::text(frame)).expect("send");
        r
    }

    /// The next reply (ref, payload) before `deadline`.
    fn next_reply(&mut self, deadline: Instant) -> (String, Value) {
        loop {
            assert!(Instant::now() < deadline, "no reply in time");
            match self.ws.read().expect("read a frame") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
                    if v[3] == "phx_reply" {
                        return (v[1].as_str().unwrap_or_default().to_string(), v[4].clone());
                    }
                }
                Message::Close(f) => panic!("closed: {f:?}"),
                _ => {}
            }
        }
    }

    fn reply_to(&mut self, r: &str, deadline: Instant) -> Value {
        loop {
            let (got, payload) = self.next_reply(deadline);
            if got == r {
                return payload;
            }
        }
    }
}

#[test]
fn each_slow_request_is_answered_after_its_time_while_the_channel_stays_responsive() {
    let server = Server::start();
    let mut c = Client::join(&server, "room:slow");
    let t0 = Instant::now();
    // Twenty requests of 400 ms sent together, then one of 0 ms.
    let slow: Vec<String> = (0..20)
        .map(|_| c.push("room:slow", "slow", json!({"ms": 400})))
        .collect();
    let quick = c.push("room:slow", "slow", json!({"ms": 0}));
    let deadline = t0 + Duration::from_secs(10);
    let (first, payload) = c.next_reply(deadline);
    assert_eq!(first, quick, "the 0 ms request is answered first");
    assert_eq!(payload["status"], "ok");
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "the channel answered at once: {:?}",
        t0.elapsed()
    );
    let mut answered = Vec::new();
    while answered.len() < slow.len() {
        let (r, payload) = c.next_reply(deadline);
        assert_eq!(payload["status"], "ok", "{payload}");
        assert_eq!(payload["response"]["ms"], 400);
        answered.push(r);
    }
    let took = t0.elapsed();
    answered.sort();
    let mut expected = slow.clone();
    expected.sort();
    assert_eq!(answered, expected);
    // Run one after another they would take 8 s; side by side, about 400 ms.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn bad_slow_requests_get_clear_error_replies() {
    let server = Server::start();
    let mut c = Client::join(&server, "room:slow");
    let deadline = Instant::now() + Duration::from_secs(10);
    for payload in [
        json!({"ms": 10_001}),
        json!({"ms": -1}),
        json!({"ms": "100"}),
        json!({"ms": 1.5}),
        json!({}),
    ] {
        let r = c.push("room:slow", "slow", payload.clone());
        let reply = c.reply_to(&r, deadline);
        assert_eq!(reply["status"], "error", "{payload} -> {reply}");
        let reason = reply["response"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("0 to 10000"), "{reason}");
    }
    let r = c.push("room:slow", "slow", json!({"ms": 10_000}));
    // The longest request allowed is accepted (its answer is not waited for).
    let ok = c.push("room:slow", "slow", json!({"ms": 1}));
    let (got, reply) = c.next_reply(deadline);
    assert_eq!(
        (got.as_str(), &reply["status"]),
        (ok.as_str(), &json!("ok"))
    );
    assert_ne!(r, ok);
}

#[test]
fn requests_in_flight_are_bounded_per_channel_and_leave_nothing_behind() {
    let server = Server::start();
    let baseline = server.rt.process_count();
    let mut c = Client::join(&server, "room:many");
    for _ in 0..1000 {
        c.push("room:many", "slow", json!({"ms": 5_000}));
    }
    let over = c.push("room:many", "slow", json!({"ms": 5_000}));
    let reply = c.reply_to(&over, Instant::now() + Duration::from_secs(10));
    assert_eq!(reply["status"], "error", "{reply}");
    let reason = reply["response"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("at most 1000"), "{reason}");
    // Every request has its own process while it waits.
    assert!(
        server.rt.process_count() >= baseline + 1000,
        "{} processes, baseline {baseline}",
        server.rt.process_count()
    );
    // The socket goes: its channel goes, and the channel's requests with it. The room stays
    // (rooms are permanent).
    let baseline = baseline + 1;
    let _ = c.ws.close(None);
    let _ = c.ws.flush();
    drop(c);
    // What the socket, its channel and the channel's requests were: none of them is left.
    let left = |rt: &Runtime| {
        rt.handle()
            .process_table()
            .into_iter()
            .filter(|r| {
                matches!(r.kind, Kind::Socket | Kind::Channel)
                    || r.label
                        .as_deref()
                        .is_some_and(|l| l.starts_with("slow request"))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while left(&server.rt) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} socket, channel or request processes left ({} processes, baseline {baseline})",
            left(&server.rt),
            server.rt.process_count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
