//! HTTP that holds its ground: thousands of connections that open and never finish their
//! request head (slowloris) against `crashcourse serve`, a separate OS process, so its threads
//! and memory can be read from /proc. They must add under 500 threads and under 300 MB, leave
//! `/api/health` answering within a second, and each be closed after the header timeout.
//!
//! 3,000 connections by default (`SLOWLORIS_CONNECTIONS=10000` for the full case; a busy 2-core
//! machine needs long to open them through a listen backlog of 128), from source addresses
//! 127.0.0.2 and up; the clients' descriptors are this process's, the server's are its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const HEADER_TIMEOUT: Duration = Duration::from_secs(20);
const OPENERS: usize = 8;
const SOURCES: usize = 16;

/// The server, killed when the test ends however it ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `Threads` and `VmRSS` (bytes) of a process, from /proc.
fn threads_and_rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("Threads:"), field("VmRSS:") * 1024)
}

/// A GET that must be answered within `limit`: (status, body, time taken).
fn timed_get(addr: SocketAddr, path: &str, limit: Duration) -> (u16, String, Duration) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, limit).expect("connect within the limit");
    s.set_read_timeout(Some(limit)).expect("a read timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("an answer within the limit");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body, t0.elapsed())
}

/// The `crashcourse_http_connections` gauge of `/metrics`.
fn open_http_connections(addr: SocketAddr) -> u64 {
    let (_, body, _) = timed_get(addr, "/metrics", Duration::from_secs(10));
    body.lines()
        .find_map(|l| l.strip_prefix("crashcourse_http_connections "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .expect("crashcourse_http_connections in /metrics")
}

/// Opens a connection from 127.0.0.`2 + i % SOURCES` and sends an unfinished request head.
fn open_slow(addr: SocketAddr, i: usize) -> (TcpStream, Instant) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let source = Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES) as u8);
    socket
        .bind(&SocketAddrV4::new(source, 0).into())
        .expect("bind a loopback source address");
    socket
        .connect_timeout(&addr.into(), Duration::from_secs(10))
        .expect("connect");
    let mut stream: TcpStream = socket.into();
    let opened = Instant::now();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: slow\r\nX-Never: ending")
        .expect("send the start of a head");
    (stream, opened)
}

#[test]
fn thousands_of_unfinished_heads_cost_no_threads_and_are_closed_after_the_header_timeout() {
    let n: usize = std::env::var("SLOWLORIS_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    assert!(
        n <= 18_000,
        "stay below the 20,000 descriptors of this process"
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let timeout = format!("{}s", HEADER_TIMEOUT.as_secs());
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .args([
            "serve",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--http-header-timeout",
            &timeout,
        ])
        .arg("--db")
        .arg(dir.path().join("chat.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run crashcourse serve");
    let stdout = child.stdout.take().expect("its stdout");
    let server = Serve(child);
    let pid = server.0.id();
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the ready line");
    let addr: SocketAddr = line
        .split_whitespace()
        .nth(1)
        .and_then(|u| u.strip_prefix("http://"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP address in {line:?}"));
    assert_eq!(
        timed_get(addr, "/api/health", Duration::from_secs(10)).0,
        200
    );
    let (threads_before, rss_before) = threads_and_rss(pid);

    // Open them all, from several threads (each connect may wait on the listen backlog).
    let t0 = Instant::now();
    let openers: Vec<_> = (0..OPENERS)
        .map(|k| {
            std::thread::spawn(move || {
                (k..n)
                    .step_by(OPENERS)
                    .map(|i| open_slow(addr, i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut conns: Vec<(TcpStream, Instant)> = openers
        .into_iter()
        .flat_map(|t| t.join().expect("an opener thread"))
        .collect();
    conns.sort_by_key(|(_, opened)| *opened);
    let first_opened = conns[0].1;
    let opened_in = t0.elapsed();
    eprintln!("{n} connections opened in {opened_in:?}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while open_http_connections(addr) < n as u64 {
        assert!(
            Instant::now() < deadline,
            "the server never held all {n} connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Held: no thread per connection, bounded memory, and the server still answers.
    let (threads, rss) = threads_and_rss(pid);
    let (added_threads, added_mb) = (
        threads.saturating_sub(threads_before),
        rss.saturating_sub(rss_before) as f64 / 1e6,
    );
    eprintln!(
        "held {n}: threads {threads_before} -> {threads}, RSS +{added_mb:.1} MB ({:.0} B a connection)",
        rss.saturating_sub(rss_before) as f64 / n as f64
    );
    assert!(added_threads < 500, "{added_threads} threads added");
    assert!(added_mb < 300.0, "{added_mb:.1} MB added");
    for _ in 0..5 {
        let (status, body, took) = timed_get(addr, "/api/health", Duration::from_secs(1));
        assert_eq!(status, 200, "{body}");
        assert!(took < Duration::from_secs(1), "/api/health took {took:?}");
    }
    assert!(
        first_opened.elapsed() < HEADER_TIMEOUT - Duration::from_secs(1),
        "opening took too long to tell an early close from a timely one ({opened_in:?})"
    );
    // None has been closed before its time.
    for (i, (c, _)) in conns.iter_mut().enumerate() {
        c.set_nonblocking(true).expect("non-blocking");
        let mut byte = [0u8; 1];
        match c.read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("connection {i} ended before the header timeout: {other:?}"),
        }
        c.set_nonblocking(false).expect("blocking");
    }

    // Each is answered 408 and closed once the header timeout has passed.
    let mut answered_408 = 0;
    for (i, (c, opened)) in conns.iter_mut().enumerate() {
        let by = *opened + HEADER_TIMEOUT + Duration::from_secs(10);
        c.set_read_timeout(Some(
            by.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100)),
        ))
        .expect("a read timeout");
        let mut got = Vec::new();
        match c.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {i} was not closed after the header timeout: {e}"),
        }
        let closed_after = opened.elapsed();
        assert!(
            closed_after >= HEADER_TIMEOUT - Duration::from_millis(500),
            "connection {i} closed after {closed_after:?}"
        );
        if got.starts_with(b"HTTP/1.1 408 ") {
            answered_408 += 1;
        }
    }
    assert!(answered_408 > n / 2, "only {answered_408} of {n} got a 408");
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(10);
    // The request that reads the gauge is a connection of its own.
    while open_http_connections(addr) > 1 {
        assert!(
            Instant::now() < deadline,
            "connection processes outlived their connections"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        timed_get(addr, "/api/health", Duration::from_secs(1)).0,
        200
    );
}
