//! A channel process: one per joined topic of one socket. It validates the join, pushes the
//! history and presence state, and handles the client's `new_msg` pushes: persisted through the
//! pool, acknowledged only after the commit, then broadcast by the room. `slow` pushes are each
//! answered by a process of their own (`channel/slow.rs`).
//!
//! It is supervised by the sockets supervisor (temporary) and linked to its socket, which traps
//! its exit: a crashed channel becomes `phx_error` for that topic, never the end of the socket.

mod slow;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Utf8Bytes;
use serde_json::{Map, Value};

use crate::chat::frame::{encode, error_reply, reply};
use crate::chat::metrics::ChatMetrics;
use crate::chat::presence::Track;
use crate::chat::room::{self, Committed, GetHistory};
use crate::chat::{names, send_named, ChatShared, Push};
use crate::server::{self, CallError};
use crate::supervisor::{ChildSpec, Restart, Shutdown};
use crate::{Ctx, Down, ExitReason, Kind, Pid, SpawnError};

/// A client frame for this channel, routed by the socket.
#[derive(Debug)]
pub(crate) struct ChannelIn {
    pub(crate) msg_ref: Option<String>,
    pub(crate) event: String,
    pub(crate) payload: Map<String, Value>,
}

/// Told to the socket once the join is answered: `reply` is the frame to write.
#[derive(Debug)]
pub(crate) struct JoinAnswered {
    pub(crate) channel: Pid,
    pub(crate) topic: String,
    pub(crate) reply: Push,
    pub(crate) ok: bool,
}

/// Everything a channel starts from.
pub(crate) struct Join {
    pub(crate) shared: Arc<ChatShared>,
    pub(crate) socket: Pid,
    pub(crate) topic: String,
    pub(crate) join_ref: Option<String>,
    pub(crate) msg_ref: Option<String>,
    pub(crate) params: Map<String, Value>,
}

const CALL: Duration = Duration::from_secs(5);

pub(crate) fn child_spec(join: Join) -> ChildSpec {
    let slot = parking_lot::Mutex::new(Some(join));
    let label: Arc<str> = format!(
        "channel {}",
        slot.lock().as_ref().map_or("", |j| j.topic.as_str())
    )
    .into();
    // One id shared by every channel's child record, not one allocation each.
    static ID: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "channel".into());
    ChildSpec::new(ID.clone(), move |h, opts| {
        let join = slot
            .lock()
            .take()
            .ok_or_else(|| SpawnError::Failed("a channel is started once".into()))?;
        h.spawn_with(opts, move |ctx| run(ctx, join))
    })
    .label(label)
    .kind(Kind::Channel)
    .restart(Restart::Temporary)
    .shutdown(Shutdown::BrutalKill)
}

/// 1 to 32 printable characters.
fn valid_nick(nick: &str) -> bool {
    let n = nick.chars().count();
    (1..=32).contains(&n) && nick.chars().all(|c| !c.is_control()) && !nick.trim().is_empty()
}

fn valid_room(room: &str) -> bool {
    let n = room.chars().count();
    (1..=64).contains(&n) && room.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

async fn run(ctx: Ctx, join: Join) -> ExitReason {
    // The join, boxed: its state is only needed once, and a channel lives for hours.
    let joined = match Box::pin(join_phase(&ctx, join)).await {
        Ok(joined) => joined,
        Err(reason) => return reason,
    };
    let Joined {
        shared,
        socket,
        topic,
        join_ref,
        nick,
        mut presence_monitor,
    } = joined;
    let outstanding = slow::Outstanding::default();
    loop {
        let msg = ctx.recv().await;
        let msg = match msg.downcast::<ChannelIn>() {
            Ok(input) if input.event == "slow" => {
                slow::handle(
                    &ctx,
                    &outstanding,
                    slow::SlowRequest {
                        socket,
                        topic: &topic,
                        join_ref: join_ref.as_deref(),
                        msg_ref: input.msg_ref.as_deref(),
                        payload: &input.payload,
                    },
                );
                continue;
            }
            Ok(input) => {
                Box::pin(handle_in(
                    &ctx,
                    &shared,
                    socket,
                    &topic,
                    join_ref.as_deref(),
                    &nick,
                    input,
                ))
                .await;
                continue;
            }
            Err(msg) => msg,
        };
        if let Ok(down) = msg.downcast::<Down>() {
            if Some(down.monitor) == presence_monitor {
                // Presence restarted and forgot us: track again with the new one.
                let topic_arc: Arc<str> = topic.as_str().into();
                match Box::pin(track(&ctx, &topic_arc, &nick, join_ref.as_deref())).await {
                    Some((_, mref)) => presence_monitor = Some(mref),
                    None => return ExitReason::custom("presence did not come back"),
                }
            }
        }
    }
}

/// What a joined channel keeps.
struct Joined {
    shared: Arc<ChatShared>,
    socket: Pid,
    topic: String,
    join_ref: Option<String>,
    nick: String,
    presence_monitor: Option<crate::MonitorRef>,
}

/// Validates and answers the join, pushes history and presence state.
async fn join_phase(ctx: &Ctx, join: Join) -> Result<Joined, ExitReason> {
    let Join {
        shared,
        socket,
        topic,
        join_ref,
        msg_ref,
        params,
    } = join;
    ctx.link(socket);
    let ctx = ctx.clone();
    let h = ctx.handle().clone();
    let jr = join_ref.as_deref();
    let answer = |ok: bool, frame: String| {
        let _ = h.send(
            socket,
            JoinAnswered {
                channel: ctx.pid(),
                topic: topic.clone(),
                reply: Push(frame.into()),
                ok,
            },
        );
    };
    let refuse = |reason: &str| {
        tracing::info!(topic = %topic, reason, "join refused");
        answer(false, error_reply(jr, msg_ref.as_deref(), &topic, reason));
        ExitReason::Normal
    };
    let nick = match params.get("nick") {
        Some(Value::String(n)) if valid_nick(n) => n.clone(),
        _ => {
            return Err(refuse(
                "invalid nick: it must be 1 to 32 printable characters",
            ))
        }
    };
    if !valid_room(topic.strip_prefix("room:").unwrap_or_default()) {
        return Err(refuse("invalid room name"));
    }
    // The room runs even without history: it sequences the room's broadcasts.
    let room = match Box::pin(room::find_or_start(&h, &shared, &topic)).await {
        Ok(room) => room,
        Err(reason) => return Err(refuse(&reason)),
    };
    let history = if shared.config.history {
        let asked = server::call_raw::<GetHistory, Arc<str>>(&h, room, GetHistory, CALL);
        match Box::pin(asked).await {
            Ok(history) => Some(history),
            Err(e) => return Err(refuse(&format!("the room did not answer: {e}"))),
        }
    } else {
        None
    };
    // Subscribe the socket before asking for the presence state, so no diff after it is lost.
    h.subscribe(socket, &topic);
    answer(true, reply(jr, msg_ref.as_deref(), &topic, "ok", "{}"));
    ChatMetrics::add(&shared.metrics.joins);
    let push = |event: &str, payload: &str| {
        let _ = h.send(
            socket,
            Push(encode(jr, None, &topic, event, payload).into()),
        );
    };
    if let Some(history) = history {
        push("history", &history);
    }
    let topic_arc: Arc<str> = topic.as_str().into();
    let mut presence_monitor = None;
    if shared.config.presence {
        match Box::pin(track(&ctx, &topic_arc, &nick, join_ref.as_deref())).await {
            Some((frame, mref)) => {
                let _ = h.send(socket, Push(frame));
                presence_monitor = Some(mref);
            }
            None => return Err(ExitReason::custom("presence did not answer")),
        }
    }
    Ok(Joined {
        shared,
        socket,
        topic,
        join_ref,
        nick,
        presence_monitor,
    })
}

/// Tracks this channel with presence (waiting for it if it is restarting); returns the
/// `presence_state` frame to push and a monitor on the presence process.
async fn track(
    ctx: &Ctx,
    topic: &Arc<str>,
    nick: &str,
    join_ref: Option<&str>,
) -> Option<(Utf8Bytes, crate::MonitorRef)> {
    let h = ctx.handle();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let presence = server::wait_for_name(h, names::PRESENCE, deadline).await?;
        let mref = ctx.monitor(presence);
        let t = Track {
            topic: topic.clone(),
            nick: nick.to_string(),
            channel: ctx.pid(),
            join_ref: join_ref.map(str::to_string),
        };
        match server::call_raw::<Track, Utf8Bytes>(h, presence, t, CALL).await {
            Ok(state) => return Some((state, mref)),
            // It exited in between: wait for the restarted one.
            Err(CallError::NoProc(_) | CallError::NoReply(_)) => {
                ctx.demonitor(mref);
            }
            Err(CallError::Timeout(..)) => return None,
        }
    }
}

async fn handle_in(
    ctx: &Ctx,
    shared: &Arc<ChatShared>,
    socket: Pid,
    topic: &str,
    join_ref: Option<&str>,
    nick: &str,
    input: ChannelIn,
) {
    let h = ctx.handle();
    let r = input.msg_ref.as_deref();
    let answer = |frame: String| {
        let _ = h.send(socket, Push(frame.into()));
    };
    if input.event != "new_msg" {
        answer(error_reply(
            join_ref,
            r,
            topic,
            &format!("unknown event {:?}", input.event),
        ));
        return;
    }
    let body = match input.payload.get("body") {
        Some(Value::String(b)) if (1..=2000).contains(&b.chars().count()) => b.clone(),
        _ => {
            answer(error_reply(
                join_ref,
                r,
                topic,
                "invalid body: it must be 1 to 2,000 characters",
            ));
            return;
        }
    };
    let room = topic.strip_prefix("room:").unwrap_or(topic);
    match shared.pool.insert_message(room, nick, &body).await {
        Ok(stored) => {
            ChatMetrics::add(&shared.metrics.messages_posted);
            answer(reply(
                join_ref,
                r,
                topic,
                "ok",
                &format!("{{\"id\":{}}}", stored.id),
            ));
            // The room broadcasts it; if the room is being restarted, wait for it.
            send_named(h, topic, Committed(stored), Duration::from_secs(5)).await;
        }
        Err(e) => answer(error_reply(join_ref, r, topic, &e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_are_one_to_thirty_two_printable_characters() {
        assert!(valid_nick("ada"));
        assert!(valid_nick(&"é".repeat(32)));
        assert!(!valid_nick(""));
        assert!(!valid_nick("   "));
        assert!(!valid_nick(&"a".repeat(33)));
        assert!(!valid_nick("bad\nnick"));
    }
}
