//! Phoenix Channels V2 JSON frames: `[join_ref, ref, topic, event, payload]`.
//!
//! Parsing is strict about the shape the server relies on (an array of at least five elements,
//! refs that are strings or null, a string topic and event, an object payload) and says exactly
//! what was wrong, so the socket can close with 1007 and a reason.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// One frame from a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Map<String, Value>,
}

/// Why a text frame is not a Phoenix V2 frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("wrong frame shape: {0}")]
    Shape(&'static str),
}

/// Parses one V2 JSON text frame.
pub fn parse(text: &str) -> Result<Frame, FrameError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| FrameError::InvalidJson(e.to_string()))?;
    let Value::Array(mut items) = value else {
        return Err(FrameError::Shape(
            "expected an array [join_ref, ref, topic, event, payload]",
        ));
    };
    if items.len() < 5 {
        return Err(FrameError::Shape(
            "expected five elements [join_ref, ref, topic, event, payload]",
        ));
    }
    items.truncate(5);
    let payload = match items.pop() {
        Some(Value::Object(map)) => map,
        _ => return Err(FrameError::Shape("payload must be an object")),
    };
    let event = match items.pop() {
        Some(Value::String(s)) => s,
        _ => return Err(FrameError::Shape("event must be a string")),
    };
    let topic = match items.pop() {
        Some(Value::String(s)) => s,
        _ => return Err(FrameError::Shape("topic must be a string")),
    };
    let msg_ref = opt_ref(items.pop(), "ref must be a string or null")?;
    let join_ref = opt_ref(items.pop(), "join_ref must be a string or null")?;
    Ok(Frame {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    })
}

fn opt_ref(v: Option<Value>, what: &'static str) -> Result<Option<String>, FrameError> {
    match v {
        Some(Value::Null) | None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        // The JS client always sends strings; accept numbers too, as Phoenix does.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FrameError::Shape(what)),
    }
}

/// Encodes an outgoing frame. `payload` must already be JSON.
pub fn encode(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &str,
) -> String {
    let mut out = String::with_capacity(32 + topic.len() + event.len() + payload.len());
    out.push('[');
    push_opt(&mut out, join_ref);
    out.push(',');
    push_opt(&mut out, msg_ref);
    out.push(',');
    push_str(&mut out, topic);
    out.push(',');
    push_str(&mut out, event);
    out.push(',');
    out.push_str(payload);
    out.push(']');
    out
}

/// A `phx_reply` frame: `{"status": status, "response": response}`.
pub fn reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    status: &str,
    response: &str,
) -> String {
    let mut payload = String::with_capacity(32 + response.len());
    let _ = write!(
        payload,
        "{{\"status\":\"{status}\",\"response\":{response}}}"
    );
    encode(join_ref, msg_ref, topic, "phx_reply", &payload)
}

/// An error reply with a reason.
pub fn error_reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    reason: &str,
) -> String {
    reply(
        join_ref,
        msg_ref,
        topic,
        "error",
        &json_object(&[("reason", reason)]),
    )
}

/// `{"k": "v", ...}` with the values JSON-escaped.
pub fn json_object(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(&mut out, k);
        out.push(':');
        push_str(&mut out, v);
    }
    out.push('}');
    out
}

fn push_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_join_and_ignores_extra_elements() {
        let f = parse(r#"["3","3","room:lobby","phx_join",{"nick":"ada"},"extra"]"#).unwrap();
        assert_eq!(f.join_ref.as_deref(), Some("3"));
        assert_eq!(f.msg_ref.as_deref(), Some("3"));
        assert_eq!(f.topic, "room:lobby");
        assert_eq!(f.event, "phx_join");
        assert_eq!(f.payload["nick"], "ada");
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(matches!(parse("[1,2"), Err(FrameError::InvalidJson(_))));
        assert_eq!(
            parse("{}"),
            Err(FrameError::Shape(
                "expected an array [join_ref, ref, topic, event, payload]"
            ))
        );
        assert_eq!(
            parse(r#"[null,"1","t","e"]"#),
            Err(FrameError::Shape(
                "expected five elements [join_ref, ref, topic, event, payload]"
            ))
        );
        assert_eq!(
            parse(r#"[null,"1","t","e",[]]"#),
            Err(FrameError::Shape("payload must be an object"))
        );
        assert_eq!(
            parse(r#"[null,"1",5,"e",{}]"#),
            Err(FrameError::Shape("topic must be a string"))
        );
        assert_eq!(
            parse(r#"[{},"1","t","e",{}]"#),
            Err(FrameError::Shape("join_ref must be a string or null"))
        );
    }

    #[test]
    fn encodes_replies_with_escaped_strings() {
        assert_eq!(
            reply(None, Some("9"), "phoenix", "ok", "{}"),
            r#"[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        );
        assert_eq!(
            error_reply(Some("3"), Some("4"), "room:\"x\"", "bad \"nick\""),
            r#"["3","4","room:\"x\"","phx_reply",{"status":"error","response":{"reason":"bad \"nick\""}}]"#
        );
    }
}
