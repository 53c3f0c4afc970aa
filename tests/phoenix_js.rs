//! The official `phoenix` npm client (1.8.16, with `ws` as its transport in Node) against the
//! real server: join, push and reply, broadcast, history, presence, heartbeat, and recovery from
//! a crashed channel, a killed socket and a killed room.
//!
//! Needs Node and the packages of `tests/js/package-lock.json` (`./scripts/test` installs them).
//! These tests fail, never skip, when either is missing.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crashcourse_runtime::Kind;
use support::Server;

fn js_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

/// Runs one scenario of `phoenix_client.mjs`, doing the kills it asks for.
fn scenario(name: &str) {
    assert!(
        js_dir().join("node_modules/phoenix").is_dir(),
        "tests/js/node_modules is missing: run ./scripts/test, which installs the locked npm packages"
    );
    let s = Server::start();
    let mut child = Command::new("node")
        .arg(js_dir().join("phoenix_client.mjs"))
        .arg(name)
        .arg(s.endpoint.ws_url())
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed to run the phoenix client tests");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("read the scenario's output");
        seen.push(line.clone());
        if let Some(what) = line.strip_prefix("KILL ") {
            kill(&s, what);
            writeln!(stdin, "done").unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the scenario {name} did not end");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    assert!(
        status.success() && seen.last().map(String::as_str) == Some("PASS"),
        "scenario {name} failed:\n{}\n{err}",
        seen.join("\n")
    );
}

fn kill(s: &Server, what: &str) {
    let rows = s.rt.process_table();
    let find = |kind: Kind, label: &str| {
        rows.iter()
            .find(|r| r.kind == kind && r.display_name() == label)
            .map(|r| r.pid)
            .unwrap_or_else(|| panic!("no {kind:?} process {label}"))
    };
    if let Some(topic) = what.strip_prefix("channel ") {
        s.rt.crash(find(Kind::Channel, &format!("channel {topic}")))
            .unwrap();
    } else if what == "socket" {
        let sockets: Vec<_> = rows.iter().filter(|r| r.kind == Kind::Socket).collect();
        assert_eq!(sockets.len(), 1, "one socket to kill");
        s.rt.kill(sockets[0].pid).unwrap();
    } else if let Some(topic) = what.strip_prefix("room ") {
        s.rt.kill(s.rt.whereis(topic).expect("the room runs"))
            .unwrap();
    } else {
        panic!("unknown kill request {what}");
    }
}

#[test]
fn join_push_and_reply() {
    scenario("join_push_reply");
}

#[test]
fn broadcast_between_two_clients() {
    scenario("broadcast");
}

#[test]
fn history_on_join() {
    scenario("history");
}

#[test]
fn presence_sync() {
    scenario("presence");
}

#[test]
fn heartbeat() {
    scenario("heartbeat");
}

#[test]
fn a_crashed_channel_is_rejoined_by_the_client() {
    scenario("channel_crash");
}

#[test]
fn a_killed_socket_is_reconnected_by_the_client() {
    scenario("socket_kill");
}

#[test]
fn a_killed_room_is_restarted_while_two_clients_keep_chatting() {
    scenario("room_kill");
}
