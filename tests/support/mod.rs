//! Shared by the end-to-end tests: a chat server on free ports with its own temporary database,
//! a plain WebSocket client speaking V2 JSON frames, and waiting with a deadline.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{Runtime, RuntimeConfig};
use serde_json::{json, Value};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

pub const DEADLINE: Duration = Duration::from_secs(15);

/// A runtime with a chat server on free ports and a database in a temporary directory.
pub struct Server {
    pub endpoint: Endpoint,
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut ChatConfig)) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = ChatConfig::new(dir.path().join("chat.db")).any_ports();
        tweak(&mut config);
        let rt = Runtime::start(RuntimeConfig::default());
        let endpoint = Endpoint::start(&rt, config).expect("the chat server starts");
        Server { endpoint, rt, dir }
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.endpoint.ws_addr()
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.ws_addr(), "/socket/websocket?vsn=2.0.0", None)
            .expect("the handshake succeeds")
    }

    /// A GET (or other method) over a raw TCP connection: (status, content type, body).
    pub fn http(&self, method: &str, path: &str) -> (u16, String, String) {
        http(self.endpoint.http_addr(), method, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.endpoint.shutdown(Duration::from_secs(10));
    }
}

pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP port");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// A blocking WebSocket client.
pub struct Client {
    pub ws: WebSocket<TcpStream>,
    next_ref: u64,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq)]
pub enum Ended {
    Close(Option<u16>, String),
    Dropped,
}

impl Client {
    pub fn connect(
        addr: SocketAddr,
        path: &str,
        origin: Option<&str>,
    ) -> Result<Client, tungstenite::Error> {
        let stream = TcpStream::connect(addr).expect("connect to the WebSocket port");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}{path}"
        ))?;
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let (ws, _resp) = tungstenite::client(req, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(e) => e,
            tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
        })?;
        Ok(Client { ws, next_ref: 0 })
    }

    pub fn next_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).expect("send a frame");
    }

    pub fn send(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: &str,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        let frame = json!([join_ref, msg_ref, topic, event, payload]);
        self.send_text(&frame.to_string());
    }

    /// Joins `topic` as `nick`; returns the join ref (the reply is left to read).
    pub fn join(&mut self, topic: &str, nick: &str) -> String {
        let r = self.next_ref();
        self.send(Some(&r), &r, topic, "phx_join", json!({ "nick": nick }));
        r
    }

    /// Joins and waits for the ok reply.
    pub fn join_ok(&mut self, topic: &str, nick: &str) -> String {
        let r = self.join(topic, nick);
        let reply = self.reply_to(&r);
        assert_eq!(reply[4]["status"], "ok", "join of {topic} refused: {reply}");
        r
    }

    /// Pushes `event` on `topic` and returns its ref.
    pub fn push(&mut self, join_ref: &str, topic: &str, event: &str, payload: Value) -> String {
        let r = self.next_ref();
        self.send(Some(join_ref), &r, topic, event, payload);
        r
    }

    /// The next frame, if one arrives before the deadline.
    pub fn next_frame(&mut self, deadline: Instant) -> Result<Value, Ended> {
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("the server sends JSON"))
                }
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame
                        .map(|CloseFrame { code, reason }| {
                            (Some(u16::from(code)), reason.to_string())
                        })
                        .unwrap_or((None, String::new()));
                    return Err(Ended::Close(code, reason));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if Instant::now() >= deadline {
                        panic!("no frame before the deadline");
                    }
                }
                Err(_) => return Err(Ended::Dropped),
            }
        }
    }

    /// Reads frames until one matches; panics after the deadline or if the connection ends.
    pub fn expect(&mut self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.next_frame(deadline) {
                Ok(f) if pred(&f) => return f,
                Ok(_) => {}
                Err(e) => panic!("connection ended ({e:?}) while waiting for {what}"),
            }
        }
    }

    /// The `phx_reply` to `msg_ref`.
    pub fn reply_to(&mut self, msg_ref: &str) -> Value {
        self.expect(&format!("the reply to {msg_ref}"), |f| {
            f[3] == "phx_reply" && f[1] == msg_ref
        })
    }

    /// Reads until the server closes or drops the connection; returns how.
    pub fn ended(&mut self) -> Ended {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.next_frame(deadline) {
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    /// A heartbeat round trip: proves the socket still serves.
    pub fn heartbeat(&mut self) {
        let r = self.next_ref();
        self.send(None, &r, "phoenix", "heartbeat", json!({}));
        let reply = self.reply_to(&r);
        assert_eq!(
            reply,
            json!([null, r, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
        );
    }
}

/// Polls `cond` until it holds; panics with `what` after the deadline.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The folder of the Node scripts and their locked npm packages.
pub fn js_dir() -> &'static std::path::Path {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

/// Runs `node tests/js/<script> <args>`: when it prints `KILL <what>`, does that to the server's
/// processes and answers on its stdin; passes when it exits 0 with `PASS` as its last line.
/// Fails, never skips, when Node or the npm packages are missing.
pub fn run_node(s: &Server, script: &str, args: &[&str]) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    assert!(
        js_dir().join("node_modules/phoenix").is_dir(),
        "tests/js/node_modules is missing: run ./scripts/test, which installs the locked npm packages"
    );
    let mut child = Command::new("node")
        .arg(js_dir().join(script))
        .args(args)
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to run the JavaScript tests");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("read the script's output");
        seen.push(line.clone());
        if let Some(what) = line.strip_prefix("KILL ") {
            kill(s, what);
            writeln!(stdin, "done").unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{script} {args:?} did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    assert!(
        status.success() && seen.last().map(String::as_str) == Some("PASS"),
        "{script} {args:?} failed:\n{}\n{err}",
        seen.join("\n")
    );
}

/// `channel <topic>` crashes that channel, `socket` kills the one socket, `room <topic>` kills
/// the room.
fn kill(s: &Server, what: &str) {
    use crashcourse_runtime::Kind;
    // Waits until exactly one process matches (a client that just left may still be going).
    let only = |kind: Kind, label: Option<&str>| {
        let mut found = None;
        wait_until(&format!("exactly one {kind:?} {label:?}"), || {
            let all: Vec<_> =
                s.rt.process_table()
                    .into_iter()
                    .filter(|r| r.kind == kind && label.is_none_or(|l| r.display_name() == l))
                    .collect();
            found = (all.len() == 1).then(|| all[0].pid);
            found.is_some()
        });
        found.expect("checked above")
    };
    if let Some(topic) = what.strip_prefix("channel ") {
        let label = format!("channel {topic}");
        s.rt.crash(only(Kind::Channel, Some(&label))).unwrap();
    } else if what == "socket" {
        s.rt.kill(only(Kind::Socket, None)).unwrap();
    } else if let Some(topic) = what.strip_prefix("room ") {
        s.rt.kill(s.rt.whereis(topic).expect("the room runs"))
            .unwrap();
    } else {
        panic!("unknown kill request {what}");
    }
}
