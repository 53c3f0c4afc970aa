//! A room process, one per `room:<name>`: it keeps the room's recent history (loaded from the
//! database when it starts, so a restarted room has it again) and turns each committed message
//! into one broadcast frame for pub/sub. Channels find it by its registered name, the topic.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::chat::frame::{encode, push_str};
use crate::chat::metrics::ChatMetrics;
use crate::chat::pubsub::Broadcast;
use crate::chat::{names, send_named, ChatShared, Push};
use crate::ctx::Received;
use crate::db::StoredMessage;
use crate::dynamic_supervisor;
use crate::server::{CallMsg, CastMsg};
use crate::supervisor::{ChildSpec, Restart};
use crate::{Ctx, ExitReason, Handle, Kind, Pid};

/// Asks the room for its recent history (oldest first).
#[derive(Debug)]
pub(crate) struct GetHistory;

/// A message that has been committed: broadcast it.
#[derive(Debug)]
pub(crate) struct Committed(pub(crate) StoredMessage);

/// The payload of a `new_msg` broadcast and of each `history` entry.
pub(crate) fn message_json(m: &StoredMessage) -> String {
    let mut out = String::with_capacity(64 + m.body.len());
    out.push_str("{\"id\":");
    out.push_str(&m.id.to_string());
    out.push_str(",\"nick\":");
    push_str(&mut out, &m.nick);
    out.push_str(",\"body\":");
    push_str(&mut out, &m.body);
    out.push_str(",\"at\":");
    push_str(&mut out, &crate::chat::time::rfc3339(m.at_ms));
    out.push('}');
    out
}

/// Finds the room process of `topic`, starting it under the rooms supervisor if needed.
pub(crate) async fn find_or_start(
    h: &Handle,
    shared: &Arc<ChatShared>,
    topic: &str,
) -> Result<Pid, String> {
    for _ in 0..50 {
        if let Some(pid) = h.whereis(topic) {
            return Ok(pid);
        }
        let Some(rooms) = h.whereis(names::ROOMS) else {
            crate::timer::sleep(Duration::from_millis(5)).await;
            continue;
        };
        match dynamic_supervisor::start_child(
            h,
            rooms,
            child_spec(shared.clone(), topic),
            Duration::from_secs(5),
        )
        .await
        {
            Ok(Ok(pid)) => return Ok(pid),
            // Another channel started it first (its name is taken): look it up again.
            Ok(Err(_)) | Err(_) => {
                crate::timer::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    Err(format!("the room {topic} could not be started"))
}

fn child_spec(shared: Arc<ChatShared>, topic: &str) -> ChildSpec {
    let topic: Arc<str> = topic.into();
    ChildSpec::new(topic.clone(), move |h, opts| {
        let shared = shared.clone();
        let topic = topic.clone();
        h.spawn_with(opts.name(topic.clone()), move |ctx| run(ctx, shared, topic))
    })
    .kind(Kind::Room)
    .restart(Restart::Permanent)
}

async fn run(ctx: Ctx, shared: Arc<ChatShared>, topic: Arc<str>) -> ExitReason {
    let room = topic.strip_prefix("room:").unwrap_or(&topic).to_string();
    let mut history: VecDeque<StoredMessage> = VecDeque::new();
    if shared.config.history {
        match shared
            .pool
            .recent_messages(&room, shared.config.history_len)
            .await
        {
            Ok(recent) => history.extend(recent),
            Err(e) => {
                return ExitReason::custom(format!("could not load the history of {topic}: {e}"))
            }
        }
    }
    let mut posted: u64 = 0;
    loop {
        let msg = match ctx.recv_or_system().await {
            Received::StateRequest => {
                let bytes: usize = history
                    .iter()
                    .map(|m| 64 + m.body.len() + m.nick.len())
                    .sum();
                ctx.publish_state(
                    format!(
                        "topic: {topic}\nsubscribers: {}\nmessages broadcast since start: {posted}\nhistory kept: {}",
                        ctx.handle().subscriber_count(&topic),
                        history.len()
                    ),
                    bytes,
                );
                continue;
            }
            Received::Message(msg) => msg,
        };
        let msg = match msg.downcast::<CallMsg<GetHistory, Vec<StoredMessage>>>() {
            Ok(call) => {
                call.reply.send(history.iter().cloned().collect());
                continue;
            }
            Err(msg) => msg,
        };
        if let Ok(Committed(m)) = msg.downcast::<Committed>() {
            posted += 1;
            let frame = encode(None, None, &topic, "new_msg", &message_json(&m));
            if shared.config.history {
                if history.len() == shared.config.history_len {
                    history.pop_front();
                }
                history.push_back(m);
            }
            ChatMetrics::add(&shared.metrics.broadcasts);
            let b = CastMsg(Broadcast {
                topic: topic.clone(),
                frame: Push(frame.into()),
            });
            send_named(ctx.handle(), names::PUBSUB, b, Duration::from_secs(5)).await;
        }
    }
}
