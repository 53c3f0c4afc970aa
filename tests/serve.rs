//! `crashcourse serve`: the ready line, a clear error for a port in use, bad flags, and an
//! orderly shutdown on Ctrl-C (SIGINT) that closes sockets with 1001 and exits 0.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Client, Ended};

fn serve(args: &[&str], db: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .arg("serve")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run crashcourse serve")
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn serve_prints_where_it_listens_and_shuts_down_in_order_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        &["--http-port", "0", "--ws-port", "0"],
        &dir.path().join("chat.db"),
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // listening http://127.0.0.1:P ws://127.0.0.1:Q/socket/websocket pid N
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 5, "{line}");
    assert_eq!(words[0], "listening");
    assert!(words[1].starts_with("http://127.0.0.1:"), "{line}");
    assert!(
        words[2].starts_with("ws://127.0.0.1:") && words[2].ends_with("/socket/websocket"),
        "{line}"
    );
    assert_eq!(words[3], "pid");
    assert_eq!(words[4].parse::<u32>().unwrap(), child.id());
    let ws_addr = words[2]
        .trim_start_matches("ws://")
        .trim_end_matches("/socket/websocket")
        .parse()
        .unwrap();
    let http_addr = words[1].trim_start_matches("http://").parse().unwrap();
    let mut c = Client::connect(ws_addr, "/socket/websocket?vsn=2.0.0", None).unwrap();
    c.join_ok("room:lobby", "ada");
    assert_eq!(support::http(http_addr, "GET", "/api/health").0, 200);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    match c.ended() {
        Ended::Close(Some(1001), _) => {}
        other => panic!("expected 1001 on shutdown, got {other:?}"),
    }
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0));
    // The database was closed cleanly and holds what was committed.
    assert!(dir.path().join("chat.db").exists());
}

#[test]
fn a_port_in_use_is_named_and_nothing_is_left_running() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        &["--http-port", &port, "--ws-port", "0"],
        &dir.path().join("chat.db"),
    );
    let status = wait_exit(&mut child);
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains(&port) && err.contains("already in use"),
        "{err}"
    );
}

#[test]
fn wrong_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--queue-target", "fast"),
        ("--max-frame", "huge"),
        ("--rate-limit", "0/s"),
        ("--bind", "nowhere"),
    ] {
        let mut child = serve(&[flag, value], &dir.path().join("chat.db"));
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(2), "{flag} {value}");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(
            err.contains(value) && err.contains(flag),
            "{flag} {value}: {err}"
        );
    }
}

#[test]
fn serve_runs_chaos_and_prints_what_it_killed_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        &[
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--chaos",
            "10/s",
            "--chaos-for",
            "1s",
            "--chaos-kinds",
            "pool_connection,room",
        ],
        &dir.path().join("chat.db"),
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // The ready line, then chaos's lines once it ends (about 1 s later); bounded by count.
    for _ in 0..10 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let done = line.starts_with("chaos killed total");
        lines.push(line.trim().to_string());
        if done {
            break;
        }
    }
    assert!(lines[0].starts_with("listening "), "{lines:?}");
    let count = |prefix: &str| -> u64 {
        let line = lines
            .iter()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:?}"));
        line[prefix.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {line:?}"))
    };
    let connections = count("chaos killed pool_connection ");
    let rooms = count("chaos killed room ");
    let total = count("chaos killed total ");
    assert_eq!(rooms, 0, "no room exists before anyone joins");
    assert_eq!(connections, total);
    assert!(
        (8..=10).contains(&total),
        "about 10 kills at 10/s for 1 s: {lines:?}"
    );
    let http_addr = lines[0].split_whitespace().nth(1).unwrap();
    let http_addr = http_addr.trim_start_matches("http://").parse().unwrap();
    assert_eq!(support::http(http_addr, "GET", "/api/health").0, 200);
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    assert_eq!(wait_exit(&mut child).code(), Some(0));
}

#[test]
fn bad_chaos_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag, value) in [
        (vec!["--chaos", "0/s"], "--chaos", "0/s"),
        (vec!["--chaos", "lots"], "--chaos", "lots"),
        (
            vec!["--chaos", "50/s", "--chaos-for", "0s"],
            "--chaos-for",
            "0s",
        ),
        (
            vec!["--chaos", "50/s", "--chaos-kinds", "socket,dragon"],
            "--chaos-kinds",
            "dragon",
        ),
        (vec!["--chaos-for", "10s"], "--chaos", "--chaos-for"),
    ] {
        let mut child = serve(&args, &dir.path().join("chat.db"));
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(2), "{args:?}");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(err.contains(value) && err.contains(flag), "{args:?}: {err}");
    }
}
