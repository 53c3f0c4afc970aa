//! A room process, one per `room:<name>`: it keeps the room's recent history (loaded from the
//! database when it starts, so a restarted room has it again) and turns each committed message
//! into one broadcast frame for pub/sub. Channels find it by its registered name, the topic.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chat::frame::{encode, push_str};
use crate::chat::metrics::ChatMetrics;
use crate::chat::pubsub::Broadcast;
use crate::chat::{names, send_named, ChatShared, Push};
use crate::db::StoredMessage;
use crate::dynamic_supervisor::{self, StartChildError};
use crate::server::{self, wait_for_name, Behaviour, CastMsg, Flow, ReplyTo};
use crate::supervisor::{ChildSpec, Restart};
use crate::{Ctx, ExitReason, Handle, Kind, Msg, Pid, SpawnError};

/// How long a channel waits for its room: for the rooms supervisor to be up, or for a room
/// another channel is starting at the same moment.
const FIND_WAIT: Duration = Duration::from_secs(1);

/// Asks the room for the payload of its `history` push: its recent messages, oldest first,
/// encoded once and shared by every join until the next message.
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
    let deadline = Instant::now() + FIND_WAIT;
    let gave_up = || format!("the room {topic} could not be started");
    loop {
        if let Some(pid) = h.whereis(topic) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            return Err(gave_up());
        }
        let rooms = wait_for_name(h, names::ROOMS, deadline)
            .await
            .ok_or_else(gave_up)?;
        let spec = child_spec(shared.clone(), topic);
        match dynamic_supervisor::start_child(h, rooms, spec, Duration::from_secs(5)).await {
            Ok(Ok(pid)) => return Ok(pid),
            // Another channel started it first (its name is taken): look it up again.
            Ok(Err(StartChildError::Spawn(SpawnError::NameTaken(..)))) => {}
            Ok(Err(e)) => return Err(format!("the room {topic} could not be started: {e}")),
            // The rooms supervisor went away during the call: wait for the next one.
            Err(_) => {}
        }
    }
}

fn child_spec(shared: Arc<ChatShared>, topic: &str) -> ChildSpec {
    let topic: Arc<str> = topic.into();
    ChildSpec::new(topic.clone(), move |h, opts| {
        let room = Room::new(h.clone(), shared.clone(), topic.clone());
        server::start(h, opts.name(topic.clone()), room)
    })
    .kind(Kind::Room)
    .restart(Restart::Permanent)
}

/// A room's state: its recent history and what it has broadcast.
struct Room {
    handle: Handle,
    shared: Arc<ChatShared>,
    topic: Arc<str>,
    history: VecDeque<StoredMessage>,
    /// What `history` holds, roughly, in bytes.
    history_bytes: usize,
    /// `{"messages":[...]}` for `history`, encoded on the first join after a change: a burst of
    /// joins costs one encoding, not one per join.
    encoded: Option<Arc<str>>,
    posted: u64,
}

fn message_bytes(m: &StoredMessage) -> usize {
    64 + m.body.len() + m.nick.len()
}

impl Room {
    fn new(handle: Handle, shared: Arc<ChatShared>, topic: Arc<str>) -> Room {
        Room {
            handle,
            shared,
            topic,
            history: VecDeque::new(),
            history_bytes: 0,
            encoded: None,
            posted: 0,
        }
    }

    fn remember(&mut self, m: StoredMessage) {
        if self.history.len() == self.shared.config.history_len {
            if let Some(old) = self.history.pop_front() {
                self.history_bytes -= message_bytes(&old);
            }
        }
        self.history_bytes += message_bytes(&m);
        self.history.push_back(m);
        self.encoded = None;
    }

    fn history_payload(&mut self) -> Arc<str> {
        if let Some(p) = &self.encoded {
            return p.clone();
        }
        let mut payload = String::from("{\"messages\":[");
        for (i, m) in self.history.iter().enumerate() {
            if i > 0 {
                payload.push(',');
            }
            payload.push_str(&message_json(m));
        }
        payload.push_str("]}");
        let p: Arc<str> = payload.into();
        self.encoded = Some(p.clone());
        p
    }
}

impl Behaviour for Room {
    type Call = GetHistory;
    type Reply = Arc<str>;
    type Cast = Infallible;

    /// Loads the recent history, so a restarted room has it again.
    async fn init(&mut self, _ctx: &Ctx) -> Result<(), ExitReason> {
        if !self.shared.config.history {
            return Ok(());
        }
        let room = self.topic.strip_prefix("room:").unwrap_or(&self.topic);
        let recent = self
            .shared
            .pool
            .recent_messages(room, self.shared.config.history_len)
            .await
            .map_err(|e| {
                ExitReason::custom(format!("could not load the history of {}: {e}", self.topic))
            })?;
        for m in recent {
            self.remember(m);
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        _ctx: &Ctx,
        _request: GetHistory,
        reply: ReplyTo<Arc<str>>,
    ) -> Flow {
        reply.send(self.history_payload());
        Flow::Continue
    }

    /// A committed message (sent by the channel that stored it): broadcast it.
    async fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> Flow {
        let Ok(Committed(m)) = msg.downcast::<Committed>() else {
            return Flow::Continue;
        };
        self.posted += 1;
        let frame = encode(None, None, &self.topic, "new_msg", &message_json(&m));
        if self.shared.config.history {
            self.remember(m);
        }
        ChatMetrics::add(&self.shared.metrics.broadcasts);
        let b = CastMsg(Broadcast {
            topic: self.topic.clone(),
            frame: Push(frame.into()),
        });
        send_named(ctx.handle(), names::PUBSUB, b, Duration::from_secs(5)).await;
        Flow::Continue
    }

    fn render_state(&self) -> String {
        format!(
            "topic: {}\nsubscribers: {}\nmessages broadcast since start: {}\nhistory kept: {}",
            self.topic,
            self.handle.subscriber_count(&self.topic),
            self.posted,
            self.history.len()
        )
    }

    fn state_size(&self) -> usize {
        self.history_bytes + self.encoded.as_ref().map_or(0, |p| p.len())
    }
}
