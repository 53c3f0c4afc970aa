//! Phoenix Channels V2 JSON frames: `[join_ref, ref, topic, event, payload]`, as the public
//! protocol defines them (extra array elements are ignored).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A frame from the server; the payload is read only for replies.
#[derive(Debug, PartialEq)]
pub(crate) struct Incoming {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    /// For `phx_reply`: its status, and the response's `reason` when there is one.
    pub reply: Option<(String, Option<String>)>,
}

/// Parses a text frame; `None` when it is not a V2 frame.
pub(crate) fn parse(text: &str) -> Option<Incoming> {
    serde_json::from_str(text).ok()
}

/// Encodes a client frame.
pub(crate) fn encode(
    join_ref: Option<&str>,
    msg_ref: &str,
    topic: &str,
    event: &str,
    payload: &Value,
) -> String {
    serde_json::json!([join_ref, msg_ref, topic, event, payload]).to_string()
}

#[derive(Deserialize)]
struct ReplyPayload {
    status: Option<String>,
    response: Option<Value>,
}

impl<'de> Deserialize<'de> for Incoming {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Incoming, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Incoming;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[join_ref, ref, topic, event, payload]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Incoming, A::Error> {
                let missing = || de::Error::custom("a V2 frame has five elements");
                let join_ref: Option<String> = seq.next_element()?.ok_or_else(missing)?;
                let msg_ref: Option<String> = seq.next_element()?.ok_or_else(missing)?;
                let topic: String = seq.next_element()?.ok_or_else(missing)?;
                let event: String = seq.next_element()?.ok_or_else(missing)?;
                let reply = if event == "phx_reply" {
                    let p: ReplyPayload = seq.next_element()?.ok_or_else(missing)?;
                    let reason = p.response.as_ref().and_then(|r| match r.get("reason") {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                        None => None,
                    });
                    Some((p.status.unwrap_or_default(), reason))
                } else {
                    seq.next_element::<IgnoredAny>()?.ok_or_else(missing)?;
                    None
                };
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Incoming {
                    join_ref,
                    msg_ref,
                    topic,
                    event,
                    reply,
                })
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_replies_broadcasts_and_ignores_extra_elements() {
        let r = parse(r#"["3","7","room:lobby","phx_reply",{"status":"ok","response":{"id":1}}]"#)
            .unwrap();
        assert_eq!(r.msg_ref.as_deref(), Some("7"));
        assert_eq!(r.reply, Some(("ok".into(), None)));
        let e = parse(r#"[null,"6","room:x","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#).unwrap();
        assert_eq!(
            e.reply,
            Some(("error".into(), Some("unmatched topic".into())))
        );
        let b = parse(r#"[null,null,"room:lobby","new_msg",{"body":"hi"},"extra"]"#).unwrap();
        assert_eq!(
            (b.join_ref, b.msg_ref, b.event.as_str()),
            (None, None, "new_msg")
        );
        assert!(parse("not json").is_none());
        assert!(parse(r#"["1","1","t"]"#).is_none());
        assert_eq!(
            encode(
                Some("1"),
                "2",
                "room:a",
                "new_msg",
                &serde_json::json!({"body": "b"})
            ),
            r#"["1","2","room:a","new_msg",{"body":"b"}]"#
        );
    }
}
