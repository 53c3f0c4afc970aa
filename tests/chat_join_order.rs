//! Every join push gets its own reply, in order, even when a refused join and a valid join of
//! the same topic arrive back to back on one socket.

mod support;

use serde_json::json;
use support::Server;

#[test]
fn a_refused_join_then_a_valid_join_of_the_same_topic_each_get_their_reply() {
    let s = Server::start();
    // Repeated: whether the refusal is answered before the second join is read is a race.
    for round in 0..20 {
        refused_then_valid(&s, &format!("room:r{round}"));
    }
}

fn refused_then_valid(s: &Server, topic: &str) {
    let mut c = s.connect();
    // Sent back to back: the second join arrives before the first is answered.
    let bad = c.next_ref();
    c.send(Some(&bad), &bad, topic, "phx_join", json!({"nick": ""}));
    let good = c.join(topic, "ada");
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let f = c.expect("a join reply", |f| {
            f[3] == "phx_reply" || f[3] == "phx_close" || f[3] == "phx_error"
        });
        assert_ne!(
            f[3], "phx_close",
            "a join was closed instead of answered: {f}"
        );
        assert_ne!(f[3], "phx_error", "a join crashed: {f}");
        replies.push(f);
    }
    assert_eq!(
        replies[0][1],
        json!(bad),
        "the refused join is answered first"
    );
    assert_eq!(replies[0][4]["status"], "error");
    assert!(
        replies[0][4]["response"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("nick")),
        "{}",
        replies[0]
    );
    assert_eq!(replies[1][1], json!(good));
    assert_eq!(replies[1][4]["status"], "ok");
    let r = c.push(&good, topic, "new_msg", json!({"body": "joined"}));
    assert_eq!(c.reply_to(&r)[4]["status"], "ok");
}

#[test]
fn many_joins_of_one_topic_back_to_back_are_each_answered_in_order() {
    let s = Server::start();
    let mut c = s.connect();
    let refs: Vec<String> = (0..6)
        .map(|i| {
            let nick = if i % 2 == 0 { "" } else { "ada" };
            let r = c.next_ref();
            c.send(
                Some(&r),
                &r,
                "room:lobby",
                "phx_join",
                json!({ "nick": nick }),
            );
            r
        })
        .collect();
    let mut got = Vec::new();
    while got.len() < refs.len() {
        let f = c.expect("a join reply", |f| f[3] == "phx_reply");
        got.push((
            f[1].as_str().unwrap_or_default().to_string(),
            f[4]["status"].clone(),
        ));
    }
    for (i, (r, status)) in got.iter().enumerate() {
        assert_eq!(r, &refs[i], "replies in push order");
        let want = if i % 2 == 0 { "error" } else { "ok" };
        assert_eq!(status, want, "join {i}");
    }
}
