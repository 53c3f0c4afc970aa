//! `crashcourse serve` logs through `tracing` at the level `RUST_LOG` asks for: its start, the
//! supervision tree starting, a refused handshake (403 for a wrong protocol version), and an
//! orderly stop on Ctrl-C (SIGINT).

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{wait_until, Client};

/// `crashcourse serve` on free ports with `RUST_LOG=level`; its stderr is collected as it
/// comes. Returns the child, the WebSocket address and the stderr seen so far.
fn serve(level: &str, db: &std::path::Path) -> (Child, std::net::SocketAddr, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .args(["serve", "--http-port", "0", "--ws-port", "0", "--db"])
        .arg(db)
        .env("RUST_LOG", level)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run crashcourse serve");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("the ready line");
    // listening http://127.0.0.1:P ws://127.0.0.1:Q/socket/websocket pid N
    let ws = line
        .split_whitespace()
        .nth(2)
        .and_then(|w| w.strip_prefix("ws://"))
        .and_then(|w| w.strip_suffix("/socket/websocket"))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no WebSocket address in {line:?}"));
    (child, ws, log)
}

fn interrupt_and_wait(child: &mut Child) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait for serve") {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not exit on SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn has(log: &Mutex<String>, text: &str) -> bool {
    log.lock().unwrap().contains(text)
}

#[test]
fn serve_logs_start_refusals_and_stop_at_info() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ws, log) = serve("info", &dir.path().join("chat.db"));
    wait_until("the start is logged", || {
        has(&log, "chat server started") && has(&log, "supervisor started")
    });

    let refused = Client::connect(ws, "/socket/websocket?vsn=1.0.0", None);
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Err(e) => panic!("expected a 403 refusal, got {e}"),
        Ok(_) => panic!("a vsn=1.0.0 handshake was accepted"),
    }
    wait_until("the refusal is logged", || {
        let log = log.lock().unwrap();
        log.lines().any(|l| {
            l.contains("websocket handshake refused")
                && l.contains("status=403")
                && l.contains("vsn=2.0.0 is served")
        })
    });

    let status = interrupt_and_wait(&mut child);
    assert_eq!(status.code(), Some(0));
    wait_until("the stop is logged", || {
        has(&log, "shutting down") && has(&log, "chat server stopped")
    });
    let log = log.lock().unwrap();
    assert!(
        log.contains("supervisor stopped"),
        "the tree's stop is logged: {log}"
    );
}

#[test]
fn rust_log_sets_the_level() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, ws, log) = serve("warn", &dir.path().join("chat.db"));
    assert!(Client::connect(ws, "/socket/websocket?vsn=1.0.0", None).is_err());
    let status = interrupt_and_wait(&mut child);
    assert_eq!(status.code(), Some(0));
    // Give the reader thread the pipe's last bytes: it ends at end of file.
    wait_until("stderr is read to its end", || Arc::strong_count(&log) == 1);
    let log = log.lock().unwrap();
    assert!(!log.contains("chat server started"), "{log}");
    assert!(!log.contains("handshake refused"), "{log}");
}
