//! Killing chat processes: the client sees exactly what ARCHITECTURE.md's chat table says, and the rest of
//! the system carries on.

mod support;

use serde_json::json;
use support::{wait_until, Ended, Server};

use crashcourse_runtime::{Kind, Pid};

fn pids_of(s: &Server, kind: Kind, label: &str) -> Vec<Pid> {
    s.rt.process_table()
        .into_iter()
        .filter(|r| r.kind == kind && r.display_name().contains(label))
        .map(|r| r.pid)
        .collect()
}

#[test]
fn a_crashed_channel_becomes_phx_error_for_its_topic_and_the_socket_lives_on() {
    let s = Server::start();
    let mut c = s.connect();
    let jr = c.join_ok("room:lobby", "ada");
    let channel = pids_of(&s, Kind::Channel, "room:lobby")[0];
    s.rt.crash(channel).unwrap();
    let err = c.expect("phx_error", |f| f[3] == "phx_error");
    assert_eq!(
        err,
        json!([jr, jr, "room:lobby", "phx_error", {"reason": "channel_crash"}])
    );
    c.heartbeat();
    // The client rejoins; a fresh channel serves it.
    let jr2 = c.join_ok("room:lobby", "ada");
    let r = c.push(&jr2, "room:lobby", "new_msg", json!({"body": "back"}));
    assert_eq!(c.reply_to(&r)[4]["status"], "ok");
    assert_ne!(pids_of(&s, Kind::Channel, "room:lobby")[0], channel);
}

#[test]
fn a_killed_socket_closes_the_connection_without_1000() {
    let s = Server::start();
    let mut c = s.connect();
    c.join_ok("room:lobby", "ada");
    let socket =
        s.rt.process_table()
            .into_iter()
            .find(|r| r.kind == Kind::Socket)
            .unwrap()
            .pid;
    s.rt.kill(socket).unwrap();
    let ended = c.ended();
    // 1000 would stop the phoenix client from reconnecting.
    assert!(!matches!(ended, Ended::Close(Some(1000), _)), "{ended:?}");
    wait_until("its channel is gone too", || {
        pids_of(&s, Kind::Channel, "room:lobby").is_empty()
    });
}

#[test]
fn a_killed_room_is_restarted_and_two_clients_keep_chatting() {
    let s = Server::start();
    let mut a = s.connect();
    let mut b = s.connect();
    let ja = a.join_ok("room:lobby", "ada");
    let jb = b.join_ok("room:lobby", "bob");
    let room = s.rt.whereis("room:lobby").unwrap();
    s.rt.kill(room).unwrap();
    for i in 0..5 {
        let r = a.push(
            &ja,
            "room:lobby",
            "new_msg",
            json!({"body": format!("a{i}")}),
        );
        assert_eq!(a.reply_to(&r)[4]["status"], "ok");
        b.expect("a's message", |f| {
            f[3] == "new_msg" && f[4]["body"] == format!("a{i}")
        });
        let r = b.push(
            &jb,
            "room:lobby",
            "new_msg",
            json!({"body": format!("b{i}")}),
        );
        assert_eq!(b.reply_to(&r)[4]["status"], "ok");
        a.expect("b's message", |f| {
            f[3] == "new_msg" && f[4]["body"] == format!("b{i}")
        });
    }
    let restarted = s.rt.whereis("room:lobby").unwrap();
    assert_ne!(restarted, room);
    assert_eq!(s.rt.process_info(restarted).unwrap().restarts, 1);
}

#[test]
fn shutdown_closes_sockets_with_1001() {
    let s = Server::start();
    let mut c = s.connect();
    c.join_ok("room:lobby", "ada");
    assert!(s.endpoint.shutdown(std::time::Duration::from_secs(10)));
    match c.ended() {
        Ended::Close(Some(1001), reason) => assert_eq!(reason, "server shutting down"),
        other => panic!("expected 1001, got {other:?}"),
    }
}

#[test]
fn a_client_that_goes_away_leaves_no_channel_behind() {
    let s = Server::start();
    let mut c = s.connect();
    c.join_ok("room:lobby", "ada");
    c.join_ok("room:other", "ada");
    assert_eq!(pids_of(&s, Kind::Channel, "room:").len(), 2);
    c.ws.close(None).unwrap();
    let _ = c.ended();
    wait_until("its channels are gone", || {
        pids_of(&s, Kind::Channel, "room:").is_empty()
    });
    wait_until("its socket is gone", || {
        s.rt.process_table().iter().all(|r| r.kind != Kind::Socket)
    });
    wait_until("nothing stays subscribed", || {
        s.rt.subscriber_count("room:lobby") == 0
    });
}
