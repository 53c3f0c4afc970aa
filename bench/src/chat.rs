//! The chat workload: N WebSocket clients join one room of a server running in another OS
//! process; then one client posts 20 messages, one after another, and each broadcast is timed
//! from the moment the sender writes its `new_msg` frame to the moment the last client has read
//! it. The same clients run against our `crashcourse serve` and against the Node.js peer.
//!
//! The clients are processes of this crate's own runtime, each with its own WebSocket.

use std::future::poll_fn;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_io::Async;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::Message;
use futures_util::{Sink, Stream};

use async_io::Timer;
use crashcourse_runtime::{Ctx, Pid, Runtime, RuntimeConfig, SpawnOpts};

use crate::peers::find_peer;
use crate::{BenchError, Figure};

/// Sizes of one run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub clients: usize,
    pub broadcasts: usize,
}

impl Sizes {
    /// 10,000 clients (1,000 with `quick`), 20 broadcasts.
    pub fn new(quick: bool) -> Sizes {
        Sizes {
            clients: if quick { 1_000 } else { 10_000 },
            broadcasts: 20,
        }
    }
}

/// A server to measure: a command that prints `listening ... ws://HOST:PORT/socket/websocket pid N`.
pub struct Target {
    /// Prefix of the printed figures (`""` for ours, `"peer."` for the peer).
    pub prefix: String,
    pub command: Command,
}

/// The figures of one target.
pub struct Outcome {
    pub figures: Vec<Figure>,
    pub failed_clients: usize,
}

pub(crate) const TOPIC: &str = "room:bench";
/// Connections being set up at once.
pub(crate) const IN_FLIGHT: usize = 250;
/// Source addresses the clients spread over, so ports never run short.
const SOURCES: u8 = 4;

#[derive(Debug)]
pub(crate) enum FromClient {
    Joined,
    Failed(String),
    Sent(usize, Instant),
    Got(usize, Instant),
}

#[derive(Debug)]
pub(crate) struct Post(pub(crate) usize);

/// How long a server may take to print its ready line (the Node peer installs its locked
/// packages on first use).
const READY_LIMIT: Duration = Duration::from_secs(300);

/// Runs the workload against `target`.
pub fn run(sizes: Sizes, mut target: Target) -> Result<Outcome, String> {
    let mut server = ServerProcess::start(&mut target.command)?;
    let rt = Runtime::start(RuntimeConfig {
        name: "bench-clients".into(),
        ..RuntimeConfig::default()
    });
    let result = measure(&rt, sizes, &server, &target.prefix);
    drop(rt);
    server.stop();
    result
}

/// A server in another OS process, started from a command that prints its ready line.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) ws: SocketAddr,
    http: Option<SocketAddr>,
}

impl ServerProcess {
    pub(crate) fn start(cmd: &mut Command) -> Result<ServerProcess, String> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        // Read the ready line on a thread of its own, so a server that hangs cannot.
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = line_tx.send(read);
        });
        let line = match line_rx.recv_timeout(READY_LIMIT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("reading the server's ready line: {e}"));
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd:?} printed no ready line within {} s",
                    READY_LIMIT.as_secs()
                ));
            }
        };
        // ... ws://HOST:PORT/socket/websocket pid N
        let words: Vec<&str> = line.split_whitespace().collect();
        let ws = words
            .iter()
            .find_map(|w| w.strip_prefix("ws://"))
            .and_then(|w| w.strip_suffix("/socket/websocket"))
            .and_then(|a| a.parse().ok());
        let pid = words.last().and_then(|p| p.parse().ok());
        let http = words
            .iter()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.parse().ok());
        match (ws, pid) {
            (Some(ws), Some(pid)) => Ok(ServerProcess {
                child,
                pid,
                ws,
                http,
            }),
            _ => {
                let _ = child.kill();
                let status = child
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                Err(format!(
                    "{cmd:?} did not start (it printed {line:?}, then {status}; its own message \
                     is above)"
                ))
            }
        }
    }

    pub(crate) fn rss(&self) -> Option<usize> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let kb: usize = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// A gauge from the server's `/metrics`, if it has one.
    fn gauge(&self, name: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(self.http?).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn measure(
    rt: &Runtime,
    sizes: Sizes,
    server: &ServerProcess,
    prefix: &str,
) -> Result<Outcome, String> {
    let n = sizes.clients;
    let (tx, rx) = mpsc::channel();
    let addr = server.ws;
    let rss_before = server.rss().ok_or("cannot read the server's memory")?;
    let heap_before = server.gauge("crashcourse_heap_bytes");
    let parts_before = [
        server.gauge("crashcourse_chat_socket_process_bytes"),
        server.gauge("crashcourse_chat_channel_process_bytes"),
        server.gauge("crashcourse_chat_sockets_supervisor_bytes"),
    ];
    let driver = rt
        .spawn_with(SpawnOpts::new().label("bench driver"), move |ctx| {
            drive(ctx, n, sizes.broadcasts, addr, tx)
        })
        .map_err(|e| e.to_string())?;
    let wait = Duration::from_secs(600);
    // The driver reports the join first and waits, so memory is read with everyone connected.
    let (join_ms, failed) = match rx.recv_timeout(wait) {
        Ok(DriverReport::Joined { ms, failed }) => (ms, failed),
        Ok(DriverReport::Done(Err(e))) => return Err(e),
        _ => {
            let _ = rt.kill(driver);
            return Err("the clients did not all join within 10 minutes".into());
        }
    };
    // Let the server settle (presence diffs, buffers) before reading its memory.
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = server.rss().ok_or("cannot read the server's memory")?;
    let per = |before: Option<f64>, after: Option<f64>| {
        Some((after? - before?) / (n - failed).max(1) as f64)
    };
    let heap = per(heap_before, server.gauge("crashcourse_heap_bytes"));
    if let Some(heap) = heap {
        let part = |name: &str, before: Option<f64>| per(before, server.gauge(name));
        let rss = (rss_after as f64 - rss_before as f64) / (n - failed).max(1) as f64;
        let socket = part("crashcourse_chat_socket_process_bytes", parts_before[0]);
        let channel = part("crashcourse_chat_channel_process_bytes", parts_before[1]);
        let sup = part("crashcourse_chat_sockets_supervisor_bytes", parts_before[2]);
        let ws = server.gauge("crashcourse_chat_websocket_state_size_bytes");
        let known = socket.unwrap_or(0.0) + channel.unwrap_or(0.0) + sup.unwrap_or(0.0);
        let b = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.0} B"));
        eprintln!("# {prefix}memory per connection: RSS {rss:.0} B = live heap {heap:.0} B + allocator slack and pages {:.0} B", rss - heap);
        eprintln!("#   socket process {} (of which WebSocket state {}), channel process {}, sockets supervisor's child records {}", b(socket), b(ws), b(channel), b(sup));
        eprintln!("#   other heap (reactor registration, pub/sub subscription, presence, timers, labels) {:.0} B", heap - known);
    }
    let _ = rt.send(driver, Go);
    let latencies = match rx.recv_timeout(wait) {
        Ok(DriverReport::Done(result)) => result?,
        _ => return Err("the broadcasts did not finish".into()),
    };
    let joined = n - failed;
    if latencies.is_empty() {
        return Err("no broadcast was measured".into());
    }
    let mut sorted = latencies;
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    Ok(Outcome {
        figures: vec![
            Figure::new(name(prefix, "connect_join_all"), join_ms, "ms"),
            Figure::new(
                name(prefix, "bytes_per_connection"),
                rss_after.saturating_sub(rss_before) as f64 / joined.max(1) as f64,
                "B",
            ),
            Figure::new(name(prefix, "broadcast_p50"), pct(0.5), "ms"),
            Figure::new(name(prefix, "broadcast_p99"), pct(0.99), "ms"),
        ],
        failed_clients: failed,
    })
}

/// `chat.<what>`, `peer.chat.<what>`, or `chat.presence_on.<what>`.
fn name(prefix: &str, what: &str) -> String {
    match prefix.strip_suffix(':') {
        Some(variant) => format!("chat.{variant}.{what}"),
        None => format!("{prefix}chat.{what}"),
    }
}

#[derive(Debug)]
enum DriverReport {
    Joined { ms: f64, failed: usize },
    Done(Result<Vec<f64>, String>),
}

#[derive(Debug)]
struct Go;

async fn drive(
    ctx: Ctx,
    n: usize,
    broadcasts: usize,
    addr: SocketAddr,
    report: mpsc::Sender<DriverReport>,
) {
    let me = ctx.pid();
    let t0 = Instant::now();
    let mut clients: Vec<Pid> = Vec::with_capacity(n);
    let (mut joined, mut failed, mut started) = (0, 0, 0);
    let mut failures: Vec<String> = Vec::new();
    while joined + failed < n {
        while started < n && started - (joined + failed) < IN_FLIGHT {
            let src = IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                2 + (started % SOURCES as usize) as u8,
            ));
            let nick = format!("c{started}");
            match ctx.spawn_with(SpawnOpts::new().label("bench client"), move |c| {
                client(c, me, addr, src, nick)
            }) {
                Ok(pid) => clients.push(pid),
                Err(e) => {
                    let _ = report.send(DriverReport::Done(Err(e.to_string())));
                    return;
                }
            }
            started += 1;
        }
        match ctx.recv().await.downcast::<FromClient>() {
            Ok(FromClient::Joined) => joined += 1,
            Ok(FromClient::Failed(why)) => {
                failed += 1;
                if failures.len() < 3 {
                    failures.push(why);
                }
            }
            _ => {}
        }
    }
    if joined == 0 {
        let _ = report.send(DriverReport::Done(Err(format!(
            "no client could join: {failures:?}"
        ))));
        return;
    }
    if failed > 0 {
        eprintln!("# {failed} of {n} clients could not join, e.g. {failures:?}");
    }
    let _ = report.send(DriverReport::Joined {
        ms: t0.elapsed().as_secs_f64() * 1e3,
        failed,
    });
    ctx.recv_match(|m| m.is::<Go>()).await;
    // One client posts; each broadcast is timed from its write to the last client's read.
    let sender = clients[0];
    let mut latencies = Vec::with_capacity(broadcasts);
    for k in 0..broadcasts {
        let _ = ctx.send(sender, Post(k));
        let mut sent_at = None;
        let mut last = None::<Instant>;
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while got < joined || sent_at.is_none() {
            let Some(msg) = ctx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .await
            else {
                let _ = report.send(DriverReport::Done(Err(format!(
                    "broadcast {k} reached only {got} of {joined} clients"
                ))));
                return;
            };
            match msg.downcast::<FromClient>() {
                Ok(FromClient::Sent(i, at)) if i == k => sent_at = Some(at),
                Ok(FromClient::Got(i, at)) if i == k => {
                    got += 1;
                    last = Some(last.map_or(at, |l| l.max(at)));
                }
                _ => {}
            }
        }
        let (Some(sent), Some(last)) = (sent_at, last) else {
            continue;
        };
        latencies.push(last.saturating_duration_since(sent).as_secs_f64() * 1e3);
    }
    for c in clients {
        let _ = ctx.handle().kill(c);
    }
    let _ = report.send(DriverReport::Done(Ok(latencies)));
}

/// One client: connect from `src`, handshake, join as `nick`, then report broadcasts as they
/// arrive and post when told to.
pub(crate) async fn client(ctx: Ctx, driver: Pid, addr: SocketAddr, src: IpAddr, nick: String) {
    let mut ws = match connect(addr, src).await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ctx.send(driver, FromClient::Failed(e));
            return;
        }
    };
    let join = format!("[\"1\",\"1\",\"{TOPIC}\",\"phx_join\",{{\"nick\":\"{nick}\"}}]");
    if ws.send(Message::text(join)).await.is_err() {
        let _ = ctx.send(driver, FromClient::Failed("could not send the join".into()));
        return;
    }
    let prefix = format!("[null,null,\"{TOPIC}\",\"new_msg\"");
    let mut joined = false;
    loop {
        let event = poll_fn(|cx| {
            if let Some(m) = ctx.try_recv() {
                return Poll::Ready(Ok(m));
            }
            match Pin::new(&mut ws).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => Poll::Ready(Err(Some(m))),
                Poll::Ready(_) => Poll::Ready(Err(None)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match event {
            Ok(msg) => {
                if let Ok(Post(k)) = msg.downcast::<Post>() {
                    let frame = format!(
                        "[\"1\",\"{}\",\"{TOPIC}\",\"new_msg\",{{\"body\":\"b{k}\"}}]",
                        k + 2
                    );
                    let sent_at = Instant::now();
                    if Pin::new(&mut ws).start_send(Message::text(frame)).is_err() {
                        return;
                    }
                    let _ = ctx.send(driver, FromClient::Sent(k, sent_at));
                    let _ = poll_fn(|cx| Pin::new(&mut ws).poll_flush(cx)).await;
                }
            }
            Err(Some(Message::Text(t))) => {
                let got = Instant::now();
                let text = t.as_str();
                if !joined && text.contains("phx_reply") && text.starts_with("[\"1\",\"1\"") {
                    joined = true;
                    let _ = ctx.send(driver, FromClient::Joined);
                } else if text.starts_with(&prefix) {
                    if let Some(k) = text
                        .split("\"body\":\"b")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .and_then(|k| k.parse().ok())
                    {
                        let _ = ctx.send(driver, FromClient::Got(k, got));
                    }
                }
            }
            Err(Some(_)) => {}
            Err(None) => {
                if !joined {
                    let _ = ctx.send(
                        driver,
                        FromClient::Failed("connection closed before the join".into()),
                    );
                }
                return;
            }
        }
    }
}

async fn connect(
    addr: SocketAddr,
    src: IpAddr,
) -> Result<async_tungstenite::WebSocketStream<Async<TcpStream>>, String> {
    let mut last = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            Timer::after(Duration::from_millis(50 << attempt)).await;
        }
        let stream = match tcp_from(src, addr).await {
            Ok(s) => s,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
        match async_tungstenite::client_async_with_config(url, stream, Some(config)).await {
            Ok((ws, _)) => return Ok(ws),
            Err(e) => last = format!("handshake: {e}"),
        }
    }
    Err(last)
}

/// Linux's "connection in progress" errno from a non-blocking `connect`.
const EINPROGRESS: i32 = 115;

async fn tcp_from(src: IpAddr, addr: SocketAddr) -> Result<Async<TcpStream>, String> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
    sock.bind(&SocketAddr::new(src, 0).into())
        .map_err(|e| format!("bind {src}: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    sock.set_tcp_nodelay(true).map_err(|e| e.to_string())?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(EINPROGRESS)
                || e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(format!("connect: {e}")),
    }
    let stream = Async::new(TcpStream::from(sock)).map_err(|e| e.to_string())?;
    stream
        .writable()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if let Some(e) = stream.get_ref().take_error().map_err(|e| e.to_string())? {
        return Err(format!("connect: {e}"));
    }
    Ok(stream)
}

/// A free loopback port (for a peer that cannot be told to pick one).
pub(crate) fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// `exe serve` on free ports with its database at `db` and an idle timeout longer than any
/// run (benchmark clients that only listen are not cut off); callers add their own flags.
pub(crate) fn serve_command(exe: &std::path::Path, db: &std::path::Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args([
        "serve",
        "--http-port",
        "0",
        "--ws-port",
        "0",
        "--idle-timeout",
        "600s",
    ])
    .arg("--db")
    .arg(db);
    cmd
}

/// Runs the whole chat benchmark: ours with presence and history off (like the peer), the
/// Node.js peer, ours with presence on, then ours with history on (the defaults' joins).
/// `workers` sets our executor threads (1 compares with the single-threaded peer). `exe` is the
/// `crashcourse` binary. Every side runs
/// even when one fails; any failure (a server that did not start, clients that could not join,
/// a broadcast that did not arrive) is returned as an error after the figures that were measured.
pub fn run_all(
    quick: bool,
    workers: Option<u16>,
    exe: &std::path::Path,
    mut report: impl FnMut(String),
) -> Result<(), BenchError> {
    let sizes = Sizes::new(quick);
    let dir = crate::temp_dir("chat")?;
    let ours = |presence: bool, history: bool, prefix: &str| {
        let mut cmd = serve_command(
            exe,
            &dir.path()
                .join(format!("{}bench.db", prefix.replace(':', "."))),
        );
        if !presence {
            cmd.arg("--no-presence");
        }
        if !history {
            cmd.arg("--no-history");
        }
        if let Some(w) = workers {
            cmd.args(["--workers", &w.to_string()]);
        }
        Target {
            prefix: prefix.to_string(),
            command: cmd,
        }
    };
    report(format!(
        "# chat: {} clients in one room, {} broadcasts; ours with {} executor worker(s), the Node.js peer single-threaded",
        sizes.clients,
        sizes.broadcasts,
        workers.map_or_else(|| "the default".to_string(), |w| w.to_string())
    ));
    // Runs one side, prints its figures and says what failed, if anything.
    let outcome =
        |side: &str, target: Target, report: &mut dyn FnMut(String)| match run(sizes, target) {
            Ok(o) => {
                for f in o.figures {
                    report(f.to_string());
                }
                (o.failed_clients > 0).then(|| {
                    format!(
                        "{side}: {} of {} clients could not join",
                        o.failed_clients, sizes.clients
                    )
                })
            }
            Err(e) => Some(format!("{side}: {e}")),
        };
    let mut failures: Vec<String> = Vec::new();
    failures.extend(outcome("ours", ours(false, false, ""), &mut report));
    let peer = find_peer("node-chat-peer")
        .map_err(|e| e.to_string())
        .and_then(|peer| {
            let mut cmd = Command::new(peer);
            cmd.env("PORT", free_port()?.to_string());
            Ok(cmd)
        });
    failures.extend(match peer {
        Ok(command) => outcome(
            "the Node.js peer",
            Target {
                prefix: "peer.".into(),
                command,
            },
            &mut report,
        ),
        Err(e) => Some(format!("the Node.js peer: {e}")),
    });
    failures.extend(outcome(
        "ours with presence",
        ours(true, false, "presence_on:"),
        &mut report,
    ));
    failures.extend(outcome(
        "ours with history",
        ours(false, true, "history_on:"),
        &mut report,
    ));
    BenchError::from_failures(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_names_for_ours_the_peer_and_a_variant() {
        assert_eq!(name("", "broadcast_p99"), "chat.broadcast_p99");
        assert_eq!(name("peer.", "broadcast_p99"), "peer.chat.broadcast_p99");
        assert_eq!(
            name("presence_on:", "connect_join_all"),
            "chat.presence_on.connect_join_all"
        );
    }
}
