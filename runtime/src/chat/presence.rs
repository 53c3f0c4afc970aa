//! Presence: who is in which room. Channels track themselves here; the presence process monitors
//! them, and broadcasts the changes of each room as one `presence_diff` at most every 100 ms, so
//! a room of 10,000 does not cost 10,000² metas. A joining channel gets the room's state as of
//! the last broadcast diff (encoded once per diff, not once per join); the diffs after it bring
//! the client up to date.
//!
//! A large room (more members than `presence_full_until`) is summarised instead: joiners and
//! every interval's broadcast get `presence_summary` (`{"count":n,"joins":[nicks],"leaves":
//! [nicks]}`, at most [`RECENT`] nicks each), so neither a join nor a flush costs bytes in
//! proportion to the room, and nobody is sent a frame the size of the room. When the room shrinks
//! to half the limit it goes back to full maps: one `presence_state` to everyone.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use async_tungstenite::tungstenite::Utf8Bytes;

use crate::chat::frame::push_str;
use crate::chat::pubsub::Broadcast;
use crate::chat::{names, ChatShared, Push};
use crate::server::{CastMsg, Flow, ReplyTo, Server};
use crate::supervisor::ChildSpec;
use crate::{Ctx, Down, Kind, MonitorRef, Msg, Pid};

/// One presence of one user (a user with two tabs has two metas).
#[derive(Clone, Debug)]
struct Meta {
    phx_ref: String,
    online_at: i64,
}

/// Track `channel` as `nick` in `topic`; the reply is the `presence_state` frame for that
/// channel's join ref (shared with every channel of the same join ref: clients mostly use "3").
#[derive(Debug)]
pub(crate) struct Track {
    pub(crate) topic: Arc<str>,
    pub(crate) nick: String,
    pub(crate) channel: Pid,
    pub(crate) join_ref: Option<String>,
}

/// Nicks of the most recent joins and leaves a `presence_summary` carries.
pub(crate) const RECENT: usize = 10;

#[derive(Default)]
struct RoomPresence {
    /// Summarised: counts and recent nicks instead of maps.
    large: bool,
    recent_joins: VecDeque<String>,
    recent_leaves: VecDeque<String>,
    /// Something changed since the last summary.
    changed: bool,
    present: BTreeMap<String, Vec<Meta>>,
    joins: BTreeMap<String, Vec<Meta>>,
    leaves: BTreeMap<String, Vec<Meta>>,
    /// `present` encoded as of the last diff.
    state: Option<Utf8Bytes>,
    /// That state as `presence_state` frames, by join ref.
    frames: HashMap<Option<String>, Utf8Bytes>,
}

struct Presence {
    shared: Arc<ChatShared>,
    rooms: HashMap<Arc<str>, RoomPresence>,
    channels: HashMap<Pid, (Arc<str>, String, String, MonitorRef)>,
    next_ref: u64,
    flush_pending: bool,
}

#[derive(Debug)]
struct Flush;

impl Presence {
    fn schedule_flush(&mut self, ctx: &Ctx) {
        if !self.flush_pending {
            self.flush_pending = true;
            ctx.handle()
                .send_after(ctx.pid(), self.shared.config.presence_interval, Flush);
        }
    }

    fn flush(&mut self, ctx: &Ctx) {
        self.flush_pending = false;
        let h = ctx.handle();
        let Some(pubsub) = h.whereis(names::PUBSUB) else {
            // Pub/sub is restarting: try again at the next interval.
            self.schedule_flush(ctx);
            return;
        };
        let full_until = self.shared.config.presence_full_until;
        self.rooms.retain(|topic, room| {
            if room.large {
                if !room.changed {
                    return !room.present.is_empty();
                }
                room.changed = false;
                let frame = if room.present.len() <= full_until / 2 {
                    // Small again: everyone gets the whole map once, then diffs.
                    room.large = false;
                    room.recent_joins.clear();
                    room.recent_leaves.clear();
                    let mut state = String::new();
                    encode_map(&mut state, &room.present);
                    let frame =
                        crate::chat::frame::encode(None, None, topic, "presence_state", &state);
                    room.state = Some(state.into());
                    room.frames.clear();
                    frame
                } else {
                    let f = summary(topic, None, room);
                    room.recent_joins.clear();
                    room.recent_leaves.clear();
                    f
                };
                let _ = h.send(
                    pubsub,
                    CastMsg(Broadcast {
                        topic: topic.clone(),
                        frame: Push(frame.into()),
                    }),
                );
                return !room.present.is_empty();
            }
            if room.joins.is_empty() && room.leaves.is_empty() {
                return !room.present.is_empty();
            }
            let mut diff = String::from("{\"joins\":");
            encode_map(&mut diff, &room.joins);
            diff.push_str(",\"leaves\":");
            encode_map(&mut diff, &room.leaves);
            diff.push('}');
            room.joins.clear();
            room.leaves.clear();
            let frame = crate::chat::frame::encode(None, None, topic, "presence_diff", &diff);
            let _ = h.send(
                pubsub,
                CastMsg(Broadcast {
                    topic: topic.clone(),
                    frame: Push(frame.into()),
                }),
            );
            // The state that goes with this diff, for the channels that join before the next.
            let mut state = String::new();
            encode_map(&mut state, &room.present);
            room.state = Some(state.into());
            room.frames.clear();
            !room.present.is_empty()
        });
    }
}

/// A `presence_summary` frame: the member count and the latest joins and leaves.
fn summary(topic: &str, join_ref: Option<&str>, room: &RoomPresence) -> String {
    let mut p = format!("{{\"count\":{},\"joins\":[", room.present.len());
    for (i, nick) in room.recent_joins.iter().enumerate() {
        if i > 0 {
            p.push(',');
        }
        push_str(&mut p, nick);
    }
    p.push_str("],\"leaves\":[");
    for (i, nick) in room.recent_leaves.iter().enumerate() {
        if i > 0 {
            p.push(',');
        }
        push_str(&mut p, nick);
    }
    p.push_str("]}");
    crate::chat::frame::encode(join_ref, None, topic, "presence_summary", &p)
}

fn remember(list: &mut VecDeque<String>, nick: &str) {
    if list.len() == RECENT {
        list.pop_front();
    }
    list.push_back(nick.to_string());
}

fn encode_map(out: &mut String, map: &BTreeMap<String, Vec<Meta>>) {
    out.push('{');
    for (i, (nick, metas)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, nick);
        out.push_str(":{\"metas\":[");
        for (j, m) in metas.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("{\"online_at\":\"");
            out.push_str(&m.online_at.to_string());
            out.push_str("\",\"phx_ref\":");
            push_str(out, &m.phx_ref);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push('}');
}

impl Server for Presence {
    type Call = Track;
    type Reply = Utf8Bytes;
    type Cast = ();

    fn handle_call(&mut self, ctx: &Ctx, t: Track, reply: ReplyTo<Utf8Bytes>) -> Flow {
        self.next_ref += 1;
        // 16 characters, as Phoenix's refs are.
        let phx_ref = format!("F{:015x}", self.next_ref ^ 0x5deece66d);
        let meta = Meta {
            phx_ref: phx_ref.clone(),
            online_at: crate::chat::time::now_ms(),
        };
        let mref = ctx.monitor(t.channel);
        let full_until = self.shared.config.presence_full_until;
        let room = self.rooms.entry(t.topic.clone()).or_default();
        room.present
            .entry(t.nick.clone())
            .or_default()
            .push(meta.clone());
        if !room.large && room.present.len() > full_until {
            // Too large for maps: from now on, counts (the pending diff is dropped).
            room.large = true;
            room.joins.clear();
            room.leaves.clear();
            room.state = None;
            room.frames.clear();
        }
        let frame = if room.large {
            remember(&mut room.recent_joins, &t.nick);
            room.changed = true;
            summary(&t.topic, t.join_ref.as_deref(), room).into()
        } else {
            // The state as of the last diff: this join and any since come in the next diff.
            let state = match &room.state {
                Some(s) => s.clone(),
                None => {
                    let mut present = room.present.clone();
                    // This join is in the next diff, not in the state.
                    if let Some(metas) = present.get_mut(&t.nick) {
                        metas.retain(|m| m.phx_ref != meta.phx_ref);
                        if metas.is_empty() {
                            present.remove(&t.nick);
                        }
                    }
                    let mut s = String::new();
                    encode_map(&mut s, &present);
                    let s: Utf8Bytes = s.into();
                    room.state = Some(s.clone());
                    room.frames.clear();
                    s
                }
            };
            let frame = room
                .frames
                .entry(t.join_ref.clone())
                .or_insert_with(|| {
                    crate::chat::frame::encode(
                        t.join_ref.as_deref(),
                        None,
                        &t.topic,
                        "presence_state",
                        state.as_str(),
                    )
                    .into()
                })
                .clone();
            room.joins.entry(t.nick.clone()).or_default().push(meta);
            frame
        };
        self.channels
            .insert(t.channel, (t.topic, t.nick, phx_ref, mref));
        self.schedule_flush(ctx);
        reply.send(frame);
        Flow::Continue
    }

    fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> Flow {
        if msg.is::<Flush>() {
            self.flush(ctx);
            return Flow::Continue;
        }
        if let Ok(down) = msg.downcast::<Down>() {
            if let Some((topic, nick, phx_ref, _)) = self.channels.remove(&down.pid) {
                if let Some(room) = self.rooms.get_mut(&topic) {
                    if let Some(metas) = room.present.get_mut(&nick) {
                        if let Some(i) = metas.iter().position(|m| m.phx_ref == phx_ref) {
                            let meta = metas.remove(i);
                            if room.large {
                                remember(&mut room.recent_leaves, &nick);
                                room.changed = true;
                            } else {
                                room.leaves.entry(nick.clone()).or_default().push(meta);
                            }
                        }
                        if metas.is_empty() {
                            room.present.remove(&nick);
                        }
                    }
                    // A join and its leave within one interval cancel out.
                    if let Some(joined) = room.joins.get_mut(&nick) {
                        if let Some(i) = joined.iter().position(|m| m.phx_ref == phx_ref) {
                            joined.remove(i);
                            if joined.is_empty() {
                                room.joins.remove(&nick);
                            }
                            if let Some(left) = room.leaves.get_mut(&nick) {
                                left.retain(|m| m.phx_ref != phx_ref);
                                if left.is_empty() {
                                    room.leaves.remove(&nick);
                                }
                            }
                        }
                    }
                }
                self.schedule_flush(ctx);
            }
        }
        Flow::Continue
    }

    fn render_state(&self) -> String {
        let mut out = format!("tracked channels: {}\nrooms:\n", self.channels.len());
        for (topic, room) in &self.rooms {
            let metas: usize = room.present.values().map(Vec::len).sum();
            out.push_str(&format!(
                "  {topic}: {} users, {metas} presences\n",
                room.present.len()
            ));
        }
        out
    }

    fn state_size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.channels.capacity() * 96
            + self
                .rooms
                .values()
                .map(|r| r.present.len() * 96 + r.state.as_ref().map_or(0, |s| s.len()))
                .sum::<usize>()
    }
}

pub(crate) fn child_spec(shared: Arc<ChatShared>) -> ChildSpec {
    ChildSpec::server(names::PRESENCE, move || Presence {
        shared: shared.clone(),
        rooms: HashMap::new(),
        channels: HashMap::new(),
        next_ref: 0,
        flush_pending: false,
    })
    .name(names::PRESENCE)
    .kind(Kind::Presence)
}
