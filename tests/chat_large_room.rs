//! A large room with Presence on: thousands of clients in one room stay connected, each sees the
//! room's count converge to the truth (joins and leaves), a broadcast reaches all of them, and a
//! client that stops reading is cut off with 1008 while the readers are not.

mod support;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Client, Server};
use tungstenite::{Message, WebSocket};

const TOPIC: &str = "room:big";
const LIMIT: Duration = Duration::from_secs(120);

/// A non-blocking client, polled in turn with all the others from one thread.
struct Member {
    ws: WebSocket<TcpStream>,
    nick: String,
    /// The room's count as this client last saw it (summary count or map size).
    count: Option<u64>,
    /// Members by map, while the room sends maps.
    map: HashSet<String>,
    closed: Option<String>,
    got: HashSet<String>,
}

impl Member {
    fn join(addr: SocketAddr, nick: &str) -> Member {
        let mut c = Client::connect(addr, "/socket/websocket?vsn=2.0.0", None)
            .expect("the handshake succeeds");
        c.send(Some("1"), "1", TOPIC, "phx_join", json!({ "nick": nick }));
        c.ws.get_ref()
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        Member {
            ws: c.ws,
            nick: nick.to_string(),
            count: None,
            map: HashSet::new(),
            closed: None,
            got: HashSet::new(),
        }
    }

    /// Reads whatever has arrived; returns how many frames.
    fn poll(&mut self) -> usize {
        let mut n = 0;
        while self.closed.is_none() {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    n += 1;
                    let f: Value = serde_json::from_str(t.as_str()).expect("JSON frames");
                    self.frame(&f);
                }
                Ok(Message::Close(c)) => {
                    self.closed = Some(format!("{c:?}"));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let _ = self.ws.flush();
                    break;
                }
                Err(e) => self.closed = Some(e.to_string()),
            }
        }
        n
    }

    fn frame(&mut self, f: &Value) {
        match f[3].as_str() {
            Some("presence_state") => {
                self.map = f[4]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                self.count = Some(self.map.len() as u64);
            }
            Some("presence_diff") => {
                for k in f[4]["joins"].as_object().into_iter().flat_map(|m| m.keys()) {
                    self.map.insert(k.clone());
                }
                for k in f[4]["leaves"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    self.map.remove(k);
                }
                self.count = Some(self.map.len() as u64);
            }
            Some("presence_summary") => {
                self.map.clear();
                self.count = f[4]["count"].as_u64();
                let recent = f[4]["joins"].as_array().map_or(0, Vec::len);
                assert!(recent <= 10, "a summary carries at most 10 recent joins");
            }
            Some("new_msg") => {
                if let Some(b) = f[4]["body"].as_str() {
                    self.got.insert(b.to_string());
                }
            }
            Some("phx_reply") if f[1] == "1" => {
                assert_eq!(f[4]["status"], "ok", "{} could not join: {f}", self.nick);
            }
            _ => {}
        }
    }
}

/// Polls everyone until `done` holds for each open member; panics on a deadline or a close.
fn settle(members: &mut [Member], what: &str, done: impl Fn(&Member) -> bool) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut read = 0;
        for m in members.iter_mut() {
            read += m.poll();
            if let Some(why) = &m.closed {
                panic!(
                    "{} was disconnected ({why}) while waiting for {what}",
                    m.nick
                );
            }
        }
        if members.iter().all(&done) {
            return;
        }
        let lagging = members.iter().filter(|m| !done(m)).count();
        assert!(
            Instant::now() < deadline,
            "{lagging} of {} members never saw {what}",
            members.len()
        );
        if read == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_few_thousand_members_with_presence_stay_connected_and_agree_on_the_count() {
    const N: usize = 2_000;
    const LEAVING: usize = 500;
    let s = Server::start_with(|c| {
        c.presence_full_until = 200;
        c.history = false;
        c.idle_timeout = Duration::from_secs(600);
    });
    let addr = s.ws_addr();
    let mut members: Vec<Member> = Vec::with_capacity(N);
    for i in 0..N {
        members.push(Member::join(addr, &format!("m{i}")));
        if i % 100 == 99 {
            // Read as we go, as real clients do.
            for m in members.iter_mut() {
                m.poll();
            }
        }
    }
    settle(&mut members, "the full count", |m| {
        m.count == Some(N as u64)
    });
    // A quarter leaves: everyone else's count comes down to the truth.
    let gone: Vec<Member> = members.drain(..LEAVING).collect();
    drop(gone);
    let left = (N - LEAVING) as u64;
    settle(&mut members, "the count after the leaves", |m| {
        m.count == Some(left)
    });
    // A broadcast still reaches every member.
    let mut talker = s.connect();
    let jr = talker.join_ok(TOPIC, "talker");
    let r = talker.push(&jr, TOPIC, "new_msg", json!({"body": "hello all"}));
    assert_eq!(talker.reply_to(&r)[4]["status"], "ok");
    settle(&mut members, "the broadcast", |m| {
        m.got.contains("hello all")
    });
    assert_eq!(
        s.endpoint
            .metrics()
            .closed_slow_client
            .load(Ordering::Relaxed),
        0,
        "nobody was cut off as a slow reader"
    );
}

#[test]
fn a_member_that_stops_reading_is_cut_off_and_the_readers_are_not() {
    const N: usize = 200;
    let s = Server::start_with(|c| {
        c.presence_full_until = 50;
        c.history = false;
        c.max_outbound = 64 * 1024;
        c.rate_limit = 100_000;
    });
    let addr = s.ws_addr();
    let mut members: Vec<Member> = (0..N)
        .map(|i| Member::join(addr, &format!("r{i}")))
        .collect();
    let mut sleeper =
        Client::connect(addr, "/socket/websocket?vsn=2.0.0", None).expect("the handshake succeeds");
    sleeper.join_ok(TOPIC, "sleepy");
    settle(&mut members, "everyone", |m| m.count == Some(N as u64 + 1));
    // The sleeper reads nothing from here on; the talker posts until it is cut off.
    let mut talker = s.connect();
    let jt = talker.join_ok(TOPIC, "talker");
    let body = "b".repeat(1900);
    let mut sent = 0;
    let slow = |s: &Server| {
        s.endpoint
            .metrics()
            .closed_slow_client
            .load(Ordering::Relaxed)
    };
    let deadline = Instant::now() + LIMIT;
    while slow(&s) == 0 {
        assert!(
            Instant::now() < deadline,
            "the slow client was never closed"
        );
        let r = talker.push(
            &jt,
            TOPIC,
            "new_msg",
            json!({ "body": format!("{sent} {body}") }),
        );
        assert_eq!(talker.reply_to(&r)[4]["status"], "ok");
        sent += 1;
        for m in members.iter_mut() {
            m.poll();
            assert!(m.closed.is_none(), "{} was cut off: {:?}", m.nick, m.closed);
        }
    }
    assert_eq!(slow(&s), 1, "only the sleeper was cut off");
    let last = format!("{} {body}", sent - 1);
    settle(&mut members, "every message", |m| {
        m.got.len() == sent && m.got.contains(&last)
    });
    match sleeper.ended() {
        support::Ended::Close(Some(code), _) => assert_eq!(code, 1008),
        support::Ended::Close(None, _) | support::Ended::Dropped => {}
    }
}
