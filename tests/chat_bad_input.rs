//! Bad input closes or refuses only the socket that sent it, with a clear code, and is counted.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use crashcourse_runtime::chat::ChatMetrics;
use serde_json::json;
use support::{wait_until, Ended, Server};
use tungstenite::Message;

fn count(s: &Server, f: impl Fn(&ChatMetrics) -> &std::sync::atomic::AtomicU64) -> u64 {
    f(s.endpoint.metrics()).load(Ordering::Relaxed)
}

#[test]
fn an_oversized_frame_closes_that_socket_with_1009() {
    let s = Server::start_with(|c| c.max_frame = 1024);
    let mut bystander = s.connect();
    bystander.join_ok("room:lobby", "bob");
    let mut c = s.connect();
    let big = json!([null, "1", "room:lobby", "new_msg", {"body": "x".repeat(4096)}]).to_string();
    c.send_text(&big);
    match c.ended() {
        Ended::Close(Some(1009), reason) => assert!(reason.contains("too large"), "{reason}"),
        other => panic!("expected 1009, got {other:?}"),
    }
    assert_eq!(count(&s, |m| &m.closed_oversized), 1);
    bystander.heartbeat();
}

#[test]
fn invalid_json_closes_that_socket_with_1007_and_a_reason() {
    let s = Server::start();
    let mut bystander = s.connect();
    let mut c = s.connect();
    c.send_text("[\"1\", \"2\", \"room:lobby\"");
    match c.ended() {
        Ended::Close(Some(1007), reason) => assert!(reason.starts_with("invalid JSON"), "{reason}"),
        other => panic!("expected 1007, got {other:?}"),
    }
    bystander.heartbeat();
    assert_eq!(count(&s, |m| &m.closed_invalid), 1);
}

#[test]
fn a_frame_of_the_wrong_shape_closes_with_1007() {
    let s = Server::start();
    for bad in [
        r#"{"topic":"room:lobby"}"#,
        r#"[null,"1","room:lobby","new_msg","body"]"#,
        "[1,2,3]",
    ] {
        let mut c = s.connect();
        c.send_text(bad);
        match c.ended() {
            Ended::Close(Some(1007), reason) => {
                assert!(reason.starts_with("wrong frame shape"), "{bad}: {reason}")
            }
            other => panic!("{bad}: expected 1007, got {other:?}"),
        }
    }
    assert_eq!(count(&s, |m| &m.closed_invalid), 3);
}

#[test]
fn a_binary_frame_is_refused_with_1003() {
    let s = Server::start();
    let mut c = s.connect();
    c.ws.send(Message::binary(vec![0u8, 1, 2, 3])).unwrap();
    match c.ended() {
        Ended::Close(Some(1003), _) => {}
        other => panic!("expected 1003, got {other:?}"),
    }
    assert_eq!(count(&s, |m| &m.closed_binary), 1);
}

#[test]
fn a_client_over_its_rate_gets_error_replies_not_a_disconnect() {
    let s = Server::start_with(|c| c.rate_limit = 5);
    let mut c = s.connect();
    let jr = c.join_ok("room:lobby", "ada");
    let refs: Vec<String> = (0..20)
        .map(|i| {
            c.push(
                &jr,
                "room:lobby",
                "new_msg",
                json!({"body": format!("m{i}")}),
            )
        })
        .collect();
    // Refused pushes are answered by the socket at once, accepted ones by the channel after
    // the commit: collect every reply, in whatever order.
    let mut replies = std::collections::HashMap::new();
    while replies.len() < refs.len() {
        let f = c.expect("a reply", |f| f[3] == "phx_reply");
        replies.insert(f[1].as_str().unwrap().to_string(), f);
    }
    let limited = refs
        .iter()
        .filter(|r| replies[r.as_str()][4]["response"]["reason"] == "rate limited")
        .count() as u64;
    assert!(limited >= 10, "only {limited} of 20 were limited");
    assert_eq!(count(&s, |m| &m.rate_limited), limited);
    c.heartbeat();
}

#[test]
fn a_client_that_does_not_read_is_closed_with_1008_and_others_carry_on() {
    let s = Server::start_with(|c| {
        c.max_outbound = 64 * 1024;
        c.rate_limit = 100_000;
    });
    let mut sleeper = s.connect();
    sleeper.join_ok("room:lobby", "sleepy");
    let mut talker = s.connect();
    let jt = talker.join_ok("room:lobby", "talker");
    // The sleeper stops reading; the talker fills the room until the sleeper is cut off.
    let body = "b".repeat(1900);
    let mut sent = 0;
    while count(&s, |m| &m.closed_slow_client) == 0 {
        assert!(sent < 20_000, "the slow client was never closed");
        let r = talker.push(&jt, "room:lobby", "new_msg", json!({ "body": body }));
        assert_eq!(talker.reply_to(&r)[4]["status"], "ok");
        sent += 1;
    }
    talker.heartbeat();
    // Reading now, the sleeper finds its connection closed (a close frame if it got through).
    match sleeper.ended() {
        Ended::Close(Some(code), _) => assert_eq!(code, 1008),
        Ended::Close(None, _) | Ended::Dropped => {}
    }
    wait_until("the slow socket's process is gone", || {
        s.endpoint.metrics().connections.load(Ordering::Relaxed) == 1
    });
}

#[test]
fn a_port_in_use_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        crashcourse_runtime::chat::ChatConfig::new(dir.path().join("x.db")).any_ports();
    config.ws_port = port;
    let rt = crashcourse_runtime::Runtime::start(Default::default());
    let err = crashcourse_runtime::chat::Endpoint::start(&rt, config)
        .err()
        .expect("the port is taken");
    let text = err.to_string();
    assert!(
        text.contains(&port.to_string()) && text.contains("WebSocket") && text.contains("in use"),
        "{text}"
    );
    drop(taken);
    let _ = Duration::ZERO;
}
