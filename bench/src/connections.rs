//! The connections ramp: WebSocket clients join one room of `crashcourse serve` in steps until
//! the server refuses them, a client process runs out of something, or the ramp's limit is
//! reached; then one message is broadcast to everyone and timed. Printed: the connections held,
//! the server's RSS per connection, the broadcast time to all, and what stopped the ramp. Run
//! with Presence on and off.
//!
//! One process may open 20,000 files here, so the clients live in child processes (this same
//! binary, `crashcourse bench-clients`), each with its own descriptors and its own source
//! address (127.0.0.2, .3, ...) so that ports do not run short either.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crashcourse_runtime::{Ctx, Pid, Runtime, RuntimeConfig, SpawnOpts};

use crate::chat::{client, FromClient, ServerProcess, IN_FLIGHT, TOPIC};
use crate::{BenchError, Figure};

/// Sizes of one ramp.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Stop here even if nothing else stops the ramp.
    pub limit: usize,
    /// Clients added per step.
    pub step: usize,
    /// Clients per client process.
    pub per_process: usize,
}

impl Sizes {
    /// Up to 20,000 (2,000 with `quick`).
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                limit: 2_000,
                step: 500,
                per_process: 1_000,
            }
        } else {
            Sizes {
                limit: 20_000,
                step: 1_000,
                per_process: 5_000,
            }
        }
    }
}

/// How long one step may take before its missing clients count as failed.
const STEP_LIMIT: Duration = Duration::from_secs(120);
/// How long a broadcast may take to reach everyone.
const BROADCAST_LIMIT: Duration = Duration::from_secs(60);
/// Server RSS at which the ramp stops (memory).
const RSS_LIMIT: usize = 8 << 30;

/// Runs the ramp with Presence off, then on. `exe` is the `crashcourse` binary.
pub fn run_all(
    quick: bool,
    exe: &std::path::Path,
    mut report: impl FnMut(String),
) -> Result<(), BenchError> {
    let sizes = Sizes::new(quick);
    let dir = crate::temp_dir("connections")?;
    report(format!(
        "# connections: clients join one room in steps of {} up to {}, {} per client process",
        sizes.step, sizes.limit, sizes.per_process
    ));
    let mut failures = Vec::new();
    for presence in [false, true] {
        let variant = if presence {
            "presence_on"
        } else {
            "presence_off"
        };
        let mut cmd = crate::chat::serve_command(exe, &dir.path().join(format!("{variant}.db")));
        cmd.arg("--no-history");
        if !presence {
            cmd.arg("--no-presence");
        }
        match ramp(sizes, exe, &mut cmd) {
            Ok(r) => {
                report(format!("# {variant}: stopped by {}", r.stopped_by));
                for f in [
                    Figure::new(format!("connections.{variant}.held"), r.held as f64, "conn"),
                    Figure::new(
                        format!("connections.{variant}.bytes_per_connection"),
                        r.bytes_per_connection,
                        "B",
                    ),
                    Figure::new(
                        format!("connections.{variant}.broadcast_to_all"),
                        r.broadcast_ms,
                        "ms",
                    ),
                ] {
                    report(f.to_string());
                }
                if r.reached < r.held {
                    failures.push(format!(
                        "{variant}: the broadcast reached {} of {}",
                        r.reached, r.held
                    ));
                }
            }
            Err(e) => failures.push(format!("{variant}: {e}")),
        }
    }
    BenchError::from_failures(failures)
}

struct Ramp {
    held: usize,
    bytes_per_connection: f64,
    broadcast_ms: f64,
    reached: usize,
    stopped_by: String,
}

/// A client process and its pipes.
struct Clients {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    held: usize,
}

impl Clients {
    fn start(exe: &std::path::Path, ws: SocketAddr, index: usize) -> Result<Clients, String> {
        let src = Ipv4Addr::new(127, 0, 0, 2 + (index % 250) as u8);
        let mut child = Command::new(exe)
            .args([
                "bench-clients",
                &ws.to_string(),
                &src.to_string(),
                &format!("p{index}-"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start a client process: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Clients {
            child,
            stdin,
            lines,
            held: 0,
        })
    }

    fn ask(&mut self, command: &str, limit: Duration) -> Result<String, String> {
        writeln!(self.stdin, "{command}").map_err(|e| format!("client process: {e}"))?;
        self.lines
            .recv_timeout(limit)
            .map_err(|_| format!("the client process did not answer {command:?}"))
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's soft limit on open files, from `/proc/PID/limits`.
fn open_files_limit(pid: u32) -> Option<usize> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// Names the limit a connection failure points to.
fn classify(failure: &str) -> String {
    let f = failure.to_ascii_lowercase();
    let what = if f.contains("too many open files") {
        "descriptors"
    } else if f.contains("cannot assign requested address") || f.contains("address in use") {
        "ports"
    } else if f.contains("refused") || f.contains("reset") {
        "the server refusing connections"
    } else if f.contains("timed out") || f.contains("did not") {
        "time (the server did not accept or answer in time: CPU)"
    } else {
        "connection failures"
    };
    format!("{what}: {failure}")
}

fn ramp(sizes: Sizes, exe: &std::path::Path, cmd: &mut Command) -> Result<Ramp, String> {
    let mut server = ServerProcess::start(cmd)?;
    let result = ramp_against(sizes, exe, &server);
    server.stop();
    result
}

fn ramp_against(
    sizes: Sizes,
    exe: &std::path::Path,
    server: &ServerProcess,
) -> Result<Ramp, String> {
    let rss_before = server.rss().ok_or("cannot read the server's memory")?;
    // The talker joins first: once the ramp has used up the server's descriptors, a new
    // connection would wait in the backlog.
    let mut talker = Talker::join(server.ws)?;
    let mut procs: Vec<Clients> = Vec::new();
    let mut held = 0;
    let stopped_by = loop {
        if held >= sizes.limit {
            break format!("the ramp's limit ({})", sizes.limit);
        }
        if server.rss().unwrap_or(0) > RSS_LIMIT {
            break format!("memory (server RSS over {} GiB)", RSS_LIMIT >> 30);
        }
        if procs.last().is_none_or(|p| p.held >= sizes.per_process) {
            procs.push(Clients::start(exe, server.ws, procs.len())?);
        }
        let Some(p) = procs.last_mut() else {
            break "no client process".into();
        };
        let step = sizes
            .step
            .min(sizes.limit - held)
            .min(sizes.per_process - p.held);
        let answer = p.ask(&format!("add {step}"), STEP_LIMIT)?;
        // added OK FAILED [first failure]
        let mut words = answer.splitn(4, ' ');
        let ok: usize = words.nth(1).and_then(|w| w.parse().ok()).unwrap_or(0);
        let failed: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(step);
        let why = words.next().unwrap_or("").to_string();
        p.held += ok;
        held += ok;
        eprintln!(
            "# held {held} (server RSS {} MiB)",
            server.rss().unwrap_or(0) >> 20
        );
        if failed > 0 {
            let fds =
                std::fs::read_dir(format!("/proc/{}/fd", server.pid)).map_or(0, |d| d.count());
            let max = open_files_limit(server.pid).unwrap_or(usize::MAX);
            if fds + 8 >= max {
                break format!(
                    "descriptors: the server holds {fds} of its {max} open files ({why})"
                );
            }
            break format!("{} (the server holds {fds} descriptors)", classify(&why));
        }
    };
    if held == 0 {
        return Err(format!("no client could join ({stopped_by})"));
    }
    // Let presence and buffers settle before reading the server's memory.
    std::thread::sleep(Duration::from_millis(500));
    let rss = server.rss().ok_or("cannot read the server's memory")?;
    let bytes_per_connection = rss.saturating_sub(rss_before) as f64 / held as f64;
    let (broadcast_ms, reached) = talker.broadcast(&mut procs)?;
    Ok(Ramp {
        held,
        bytes_per_connection,
        broadcast_ms,
        reached,
        stopped_by,
    })
}

/// A client of our own that posts the timed broadcast.
struct Talker(async_tungstenite::tungstenite::WebSocket<TcpStream>);

impl Talker {
    fn join(ws: SocketAddr) -> Result<Talker, String> {
        use async_tungstenite::tungstenite::{self, Message};
        let stream = TcpStream::connect(ws).map_err(|e| format!("talker: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| format!("talker: {e}"))?;
        let url = format!("ws://{ws}/socket/websocket?vsn=2.0.0");
        let (mut t, _) = tungstenite::client(url, stream).map_err(|e| format!("talker: {e}"))?;
        let join = format!("[\"1\",\"1\",\"{TOPIC}\",\"phx_join\",{{\"nick\":\"talker\"}}]");
        t.send(Message::text(join))
            .map_err(|e| format!("talker: {e}"))?;
        loop {
            match t.read() {
                Ok(Message::Text(m)) if m.as_str().starts_with("[\"1\",\"1\"") => break,
                Ok(_) => {}
                Err(e) => return Err(format!("talker's join: {e}")),
            }
        }
        Ok(Talker(t))
    }

    /// Posts one message and waits for every client process to report when its last client
    /// got it: the time from the post to the last receipt, and how many got it.
    fn broadcast(&mut self, procs: &mut [Clients]) -> Result<(f64, usize), String> {
        use async_tungstenite::tungstenite::Message;
        for p in procs.iter_mut() {
            writeln!(p.stdin, "watch 0").map_err(|e| format!("client process: {e}"))?;
        }
        let sent = SystemTime::now();
        let post = format!("[\"1\",\"2\",\"{TOPIC}\",\"new_msg\",{{\"body\":\"b0\"}}]");
        self.0
            .send(Message::text(post))
            .map_err(|e| format!("talker: {e}"))?;
        let mut last = sent;
        let mut reached = 0;
        for p in procs.iter_mut() {
            // got <unix ns of the last receipt> <clients that got it>
            let line = p
                .lines
                .recv_timeout(BROADCAST_LIMIT)
                .map_err(|_| "a client process did not report the broadcast")?;
            let mut w = line.split_whitespace().skip(1);
            let ns: u64 = w.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            reached += w.next().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            last = last.max(UNIX_EPOCH + Duration::from_nanos(ns));
        }
        let ms = last.duration_since(sent).unwrap_or_default().as_secs_f64() * 1e3;
        Ok((ms, reached))
    }
}

/// `crashcourse bench-clients WS SRC PREFIX`: a client process of the ramp. Reads commands on
/// stdin (`add N`: connect and join N more clients; `watch K`: report when every client got
/// broadcast `bK`), answers each with one line on stdout; exits at the end of its input.
pub fn client_process(ws: SocketAddr, src: IpAddr, prefix: String) -> Result<(), BenchError> {
    let rt = Runtime::start(RuntimeConfig {
        name: "bench-clients".into(),
        ..RuntimeConfig::default()
    });
    let (out_tx, out_rx) = mpsc::channel::<String>();
    let driver = rt
        .spawn_with(SpawnOpts::new().label("ramp driver"), move |ctx| {
            drive(ctx, ws, src, prefix, out_tx)
        })
        .map_err(|e| BenchError::new(e.to_string()))?;
    let printer = std::thread::spawn(move || {
        let mut stdout = std::io::stdout();
        for line in out_rx {
            if writeln!(stdout, "{line}")
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return;
            }
        }
    });
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { break };
        let mut w = line.split_whitespace();
        let cmd = match (w.next(), w.next().and_then(|n| n.parse().ok())) {
            (Some("add"), Some(n)) => Cmd::Add(n),
            (Some("watch"), Some(k)) => Cmd::Watch(k),
            _ => {
                return Err(BenchError::new(format!("unknown command {line:?}")));
            }
        };
        if rt.send(driver, cmd).is_err() {
            break;
        }
    }
    let _ = rt.kill(driver);
    drop(rt);
    let _ = printer.join();
    Ok(())
}

#[derive(Debug)]
enum Cmd {
    Add(usize),
    Watch(usize),
}

async fn drive(ctx: Ctx, ws: SocketAddr, src: IpAddr, prefix: String, out: mpsc::Sender<String>) {
    let me = ctx.pid();
    let mut clients: Vec<Pid> = Vec::new();
    // Wall clock at an instant, so receipts compare across processes.
    let (t0, wall0) = (Instant::now(), SystemTime::now());
    let wall = |at: Instant| {
        (wall0 + at.saturating_duration_since(t0))
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    };
    let mut joined_total = 0usize;
    loop {
        let msg = ctx.recv().await;
        match msg.downcast::<Cmd>() {
            Ok(Cmd::Add(n)) => {
                let (mut ok, mut failed, mut started) = (0, 0, 0);
                let mut first_failure = String::new();
                let deadline = Instant::now() + STEP_LIMIT - Duration::from_secs(5);
                while ok + failed < n {
                    while started < n && started - (ok + failed) < IN_FLIGHT {
                        let nick = format!("{prefix}{}", clients.len());
                        match ctx.spawn_with(SpawnOpts::new().label("ramp client"), move |c| {
                            client(c, me, ws, src, nick)
                        }) {
                            Ok(pid) => clients.push(pid),
                            Err(e) => {
                                failed += n - started;
                                first_failure = e.to_string();
                                break;
                            }
                        }
                        started += 1;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Some(m) = ctx.recv_match_timeout(left, |m| m.is::<FromClient>()).await
                    else {
                        failed += n - ok - failed;
                        if first_failure.is_empty() {
                            first_failure = "the joins timed out".into();
                        }
                        break;
                    };
                    match m.downcast::<FromClient>() {
                        Ok(FromClient::Joined) => ok += 1,
                        Ok(FromClient::Failed(why)) => {
                            failed += 1;
                            if first_failure.is_empty() {
                                first_failure = why;
                            }
                        }
                        _ => {}
                    }
                }
                joined_total += ok;
                let _ = out.send(format!("added {ok} {failed} {first_failure}"));
            }
            Ok(Cmd::Watch(k)) => {
                let deadline = Instant::now() + BROADCAST_LIMIT - Duration::from_secs(5);
                let (mut got, mut last) = (0usize, None::<Instant>);
                while got < joined_total {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Some(m) = ctx.recv_match_timeout(left, |m| m.is::<FromClient>()).await
                    else {
                        break;
                    };
                    if let Ok(FromClient::Got(i, at)) = m.downcast::<FromClient>() {
                        if i == k {
                            got += 1;
                            last = Some(last.map_or(at, |l| l.max(at)));
                        }
                    }
                }
                let ns = last.map_or(0, wall);
                let _ = out.send(format!("got {ns} {got}"));
            }
            Err(_) => {}
        }
    }
}
