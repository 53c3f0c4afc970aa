//! The Phoenix Channels V2 protocol table, against the real server over real sockets.

mod support;

use serde_json::json;
use support::{Client, Ended, Server};

#[test]
fn the_handshake_wants_the_path_protocol_version_2_and_an_allowed_origin() {
    let s = Server::start();
    let addr = s.ws_addr();
    let status = |path: &str, origin: Option<&str>| match Client::connect(addr, path, origin) {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    };
    assert_eq!(
        status("/socket/websocket?vsn=2.0.0", None),
        101,
        "no Origin: a non-browser client"
    );
    assert_eq!(status("/socket/websocket", None), 403, "no vsn means 1.0.0");
    assert_eq!(status("/socket/websocket?vsn=1.0.0", None), 403);
    assert_eq!(status("/elsewhere?vsn=2.0.0", None), 404);
    let port = s.endpoint.http_addr().port();
    assert_eq!(
        status(
            "/socket/websocket?vsn=2.0.0",
            Some(&format!("http://127.0.0.1:{port}"))
        ),
        101
    );
    assert_eq!(
        status(
            "/socket/websocket?vsn=2.0.0",
            Some(&format!("http://localhost:{port}"))
        ),
        101
    );
    assert_eq!(
        status("/socket/websocket?vsn=2.0.0", Some("http://evil.example")),
        403
    );
    assert_eq!(
        status(
            "/socket/websocket?vsn=2.0.0",
            Some(&format!("http://127.0.0.1:{}", port + 1))
        ),
        403
    );
}

#[test]
fn the_phoenix_subprotocol_is_answered() {
    let s = Server::start();
    let addr = s.ws_addr();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{addr}/socket/websocket?vsn=2.0.0"
    ))
    .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "phoenix, base64url.bearer.phx.dG9rZW4".parse().unwrap(),
    );
    let (_ws, resp) = tungstenite::client(req, stream)
        .map_err(|e| format!("{e}"))
        .unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "phoenix");
}

#[test]
fn heartbeat_needs_no_join() {
    let s = Server::start();
    s.connect().heartbeat();
}

#[test]
fn a_join_is_answered_then_history_then_presence_state() {
    let s = Server::start();
    let mut c = s.connect();
    let jr = c.join("room:lobby", "ada");
    let first = c.expect("the join reply", |f| f[2] == "room:lobby");
    assert_eq!(
        first,
        json!([jr, jr, "room:lobby", "phx_reply", {"status": "ok", "response": {}}])
    );
    let history = c.expect("history", |f| f[3] == "history");
    assert_eq!(history[0], json!(jr));
    assert!(history[1].is_null());
    assert_eq!(history[4], json!({"messages": []}));
    let state = c.expect("presence_state", |f| f[3] == "presence_state");
    assert_eq!(state[0], json!(jr));
    // Its own join comes in the next diff.
    let diff = c.expect("presence_diff", |f| f[3] == "presence_diff");
    let metas = &diff[4]["joins"]["ada"]["metas"];
    assert_eq!(metas[0]["phx_ref"].as_str().map(str::len), Some(16));
    assert!(diff[0].is_null() && diff[1].is_null());
}

#[test]
fn a_bad_nick_is_refused_with_a_reason() {
    let s = Server::start();
    let mut c = s.connect();
    for nick in [
        json!(""),
        json!("x".repeat(33)),
        json!("tab\there"),
        json!(42),
    ] {
        let r = c.next_ref();
        c.send(
            Some(&r),
            &r,
            "room:lobby",
            "phx_join",
            json!({ "nick": nick }),
        );
        let reply = c.reply_to(&r);
        assert_eq!(reply[4]["status"], "error", "{nick} was accepted");
        assert!(
            reply[4]["response"]["reason"]
                .as_str()
                .unwrap()
                .contains("nick"),
            "{reply}"
        );
    }
    // The socket is fine, and a good nick joins.
    c.join_ok("room:lobby", &"é".repeat(32));
}

#[test]
fn a_message_is_acknowledged_with_its_id_broadcast_and_kept_in_history() {
    let s = Server::start();
    let mut a = s.connect();
    let mut b = s.connect();
    let ja = a.join_ok("room:lobby", "ada");
    b.join_ok("room:lobby", "bob");
    let r = a.push(
        &ja,
        "room:lobby",
        "new_msg",
        json!({"body": "hello <b>bob</b>"}),
    );
    let reply = a.reply_to(&r);
    assert_eq!(reply[0], json!(ja));
    assert_eq!(reply[4]["status"], "ok");
    let id = reply[4]["response"]["id"].as_i64().expect("an id");
    let seen = b.expect("the broadcast", |f| f[3] == "new_msg");
    assert!(seen[0].is_null() && seen[1].is_null());
    assert_eq!(seen[2], "room:lobby");
    assert_eq!(seen[4]["id"], id);
    assert_eq!(seen[4]["nick"], "ada");
    assert_eq!(seen[4]["body"], "hello <b>bob</b>");
    assert!(seen[4]["at"].as_str().unwrap().ends_with('Z'));
    a.expect("its own copy of the broadcast", |f| f[3] == "new_msg");
    let mut c = s.connect();
    c.join("room:lobby", "cy");
    let history = c.expect("history", |f| f[3] == "history");
    assert_eq!(history[4]["messages"][0]["id"], id);
    assert_eq!(history[4]["messages"][0]["body"], "hello <b>bob</b>");
}

#[test]
fn a_body_outside_1_to_2000_characters_is_refused() {
    let s = Server::start();
    let mut a = s.connect();
    let ja = a.join_ok("room:lobby", "ada");
    for body in [json!(""), json!("y".repeat(2001)), json!(null)] {
        let r = a.push(&ja, "room:lobby", "new_msg", json!({ "body": body }));
        let reply = a.reply_to(&r);
        assert_eq!(reply[4]["status"], "error");
        assert!(reply[4]["response"]["reason"]
            .as_str()
            .unwrap()
            .contains("body"));
    }
    let r = a.push(
        &ja,
        "room:lobby",
        "new_msg",
        json!({"body": "z".repeat(2000)}),
    );
    assert_eq!(a.reply_to(&r)[4]["status"], "ok");
}

#[test]
fn a_push_on_a_topic_not_joined_gets_unmatched_topic_with_a_null_join_ref() {
    let s = Server::start();
    let mut c = s.connect();
    c.send(None, "6", "room:bad", "new_msg", json!({"body": "x"}));
    let reply = c.reply_to("6");
    assert_eq!(
        reply,
        json!([null, "6", "room:bad", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
    // A join on a topic no channel serves is refused the same way.
    let r = c.next_ref();
    c.send(Some(&r), &r, "lobby", "phx_join", json!({"nick": "ada"}));
    assert_eq!(c.reply_to(&r)[4]["response"]["reason"], "unmatched topic");
}

#[test]
fn leave_is_answered_then_closed_and_a_leave_of_nothing_is_ok() {
    let s = Server::start();
    let mut c = s.connect();
    let jr = c.join_ok("room:lobby", "ada");
    let r = c.push(&jr, "room:lobby", "phx_leave", json!({}));
    assert_eq!(c.reply_to(&r)[4]["status"], "ok");
    let close = c.expect("phx_close", |f| f[3] == "phx_close");
    assert_eq!(close, json!([jr, jr, "room:lobby", "phx_close", {}]));
    // Not joined any more: pushes are unmatched, a second leave is still ok.
    let r = c.push(&jr, "room:lobby", "new_msg", json!({"body": "x"}));
    assert_eq!(c.reply_to(&r)[4]["response"]["reason"], "unmatched topic");
    let r = c.push(&jr, "room:lobby", "phx_leave", json!({}));
    assert_eq!(c.reply_to(&r)[4]["status"], "ok");
}

#[test]
fn joining_a_joined_topic_again_replaces_the_channel_and_closes_the_old_join() {
    let s = Server::start();
    let mut c = s.connect();
    let old = c.join_ok("room:lobby", "ada");
    let new = c.join("room:lobby", "ada");
    let reply = c.expect("the new join's reply", |f| {
        f[3] == "phx_reply" && f[1] == new.as_str()
    });
    assert_eq!(reply[4]["status"], "ok");
    let close = c.expect("phx_close of the old join", |f| f[3] == "phx_close");
    assert_eq!(close, json!([old, old, "room:lobby", "phx_close", {}]));
    let r = c.push(&new, "room:lobby", "new_msg", json!({"body": "still here"}));
    assert_eq!(c.reply_to(&r)[4]["status"], "ok");
}

#[test]
fn a_socket_may_join_at_most_its_channel_limit() {
    let s = Server::start_with(|c| c.max_channels = 3);
    let mut c = s.connect();
    for i in 0..3 {
        c.join_ok(&format!("room:r{i}"), "ada");
    }
    let r = c.join("room:r3", "ada");
    assert_eq!(
        c.reply_to(&r)[4]["response"]["reason"],
        "too many channels joined"
    );
}

#[test]
fn a_silent_socket_is_closed_after_the_idle_timeout() {
    let s = Server::start_with(|c| c.idle_timeout = std::time::Duration::from_millis(300));
    let mut quiet = s.connect();
    match quiet.ended() {
        Ended::Close(Some(code), reason) => {
            assert_ne!(code, 1000, "clients must reconnect");
            assert_eq!(reason, "idle timeout");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}
