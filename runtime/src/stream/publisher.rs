//! The publisher: one OS thread per node that reads the runtime once per tick (table, events,
//! and every second the counters) and hands the same encoded frames to every subscriber
//! (observer connections, a recording). It reads only while someone subscribes, and never waits
//! for a subscriber: each has a bounded [`Outbox`].
//!
//! A new subscriber (and a recording, every `keyframe_every`) gets a keyframe instead of the
//! tick's delta, so each one sees a whole table, then the changes to it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::codec::encode;
use super::frames::{
    ChatFigures, Delta, ErrorCode, EventBatch, Frame, Keyframe, Metrics, MetricsFrame, Row,
    StreamError, WireEvent,
};
use super::outbox::{Item, Outbox};
use crate::chat::ChatMetrics;
use crate::db::Pool;
use crate::observe::ProcessRow;
use crate::{Handle, Status};

/// Events read per tick at most (the rest wait for the next tick).
const EVENTS_PER_TICK: usize = 20_000;

/// How the publisher reads and what it reads.
#[derive(Clone)]
pub struct PublisherConfig {
    /// Time between two table deltas and event batches.
    pub tick: Duration,
    /// Time between two metrics (and chat) frames.
    pub metrics_every: Duration,
    /// The chat server's counters and pool, when there is one.
    pub chat: Option<(Arc<ChatMetrics>, Pool)>,
    /// What the node calls itself in the `Hello` frame.
    pub node: String,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            tick: Duration::from_millis(200),
            metrics_every: Duration::from_secs(1),
            chat: None,
            node: "crashcourse".into(),
        }
    }
}

pub(crate) struct Subscriber {
    pub outbox: Arc<Outbox>,
    /// Send a keyframe at the next tick.
    pub wants_keyframe: bool,
    /// Send one again this often (recordings, for seeking).
    pub keyframe_every: Option<Duration>,
    pub last_keyframe: Option<Instant>,
}

struct Subs {
    list: Vec<Subscriber>,
    stop: bool,
    hurry: bool,
}

struct Inner {
    subs: Mutex<Subs>,
    wake: Condvar,
}

/// The thread that turns the runtime into frames. Stopping it (or dropping the last `Arc`)
/// tells every subscriber the node is closing.
pub struct Publisher {
    handle: Handle,
    config: PublisherConfig,
    inner: Arc<Inner>,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl Publisher {
    /// Starts the publisher thread over `handle`; observer servers and recorders share it.
    pub fn start(handle: &Handle, config: PublisherConfig) -> std::io::Result<Arc<Publisher>> {
        let inner = Arc::new(Inner {
            subs: Mutex::new(Subs {
                list: Vec::new(),
                stop: false,
                hurry: false,
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let (inner, handle, config) = (inner.clone(), handle.clone(), config.clone());
            std::thread::Builder::new()
                .name("crashcourse stream".into())
                .spawn(move || run(&inner, &handle, &config))?
        };
        Ok(Arc::new(Publisher {
            handle: handle.clone(),
            config,
            inner,
            thread: parking_lot::Mutex::new(Some(thread)),
        }))
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    pub(crate) fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// Adds a subscriber; it gets a keyframe at once.
    pub(crate) fn subscribe(&self, outbox: Arc<Outbox>, keyframe_every: Option<Duration>) {
        let mut subs = self.inner.subs.lock();
        subs.list.push(Subscriber {
            outbox,
            wants_keyframe: true,
            keyframe_every,
            last_keyframe: None,
        });
        subs.hurry = true;
        self.inner.wake.notify_all();
    }

    /// Time since the runtime started, in microseconds: the stamp of every frame.
    pub(crate) fn now_us(&self) -> u64 {
        self.handle.0.now().as_micros() as u64
    }

    /// Stops the thread; every subscriber gets a `Closing` frame.
    pub fn stop(&self) {
        self.inner.subs.lock().stop = true;
        self.inner.wake.notify_all();
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An encoded frame for an outbox; `None` only if it cannot be encoded (over the size limit).
pub(crate) fn item(at_us: u64, frame: &Frame) -> Option<Item> {
    match encode(frame) {
        Ok(bytes) => Some(Item {
            at_us,
            bytes: Arc::from(bytes),
            keyframe: matches!(frame, Frame::Keyframe(_)),
        }),
        Err(e) => {
            tracing::warn!(
                "observer stream: a {} frame was not sent: {e}",
                frame.name()
            );
            None
        }
    }
}

fn too_slow(at_us: u64) -> Option<Item> {
    item(
        at_us,
        &Frame::Error(StreamError {
            code: ErrorCode::TooSlow,
            message: "this observer read too slowly and was dropped (its queue went over the \
                      bound); reconnect to get a fresh keyframe"
                .into(),
        }),
    )
}

/// What the publisher knows between ticks.
struct Seen {
    rows: HashMap<u64, Row>,
    buffer: Vec<ProcessRow>,
    metrics: Option<Metrics>,
    chat: Option<ChatFigures>,
}

fn run(inner: &Inner, handle: &Handle, config: &PublisherConfig) {
    let tick = config.tick.max(Duration::from_millis(5));
    let mut events = handle.events();
    let mut seen = Seen {
        rows: HashMap::new(),
        buffer: Vec::new(),
        metrics: None,
        chat: None,
    };
    let mut next_tick = Instant::now();
    let mut next_metrics = Instant::now();
    loop {
        {
            let mut subs = inner.subs.lock();
            loop {
                subs.list.retain(|s| !s.outbox.is_closed());
                if subs.stop {
                    let at_us = handle.0.now().as_micros() as u64;
                    if let Some(bye) = item(
                        at_us,
                        &Frame::Closing {
                            reason: "the node is shutting down".into(),
                        },
                    ) {
                        for s in &subs.list {
                            s.outbox.push_last(bye.clone());
                        }
                    }
                    return;
                }
                let now = Instant::now();
                if subs.list.is_empty() {
                    // Nobody listens: read nothing, and start afresh for the next subscriber.
                    events = handle.events();
                    seen.rows.clear();
                    seen.metrics = None;
                    inner.wake.wait(&mut subs);
                    next_tick = Instant::now();
                    continue;
                }
                if subs.hurry || now >= next_tick {
                    subs.hurry = false;
                    break;
                }
                inner.wake.wait_until(&mut subs, next_tick);
            }
        }
        let now = Instant::now();
        next_tick = now + tick;
        let frames = read(handle, config, &mut seen, &mut events, now >= next_metrics);
        if now >= next_metrics {
            next_metrics = now + config.metrics_every;
        }
        let mut subs = inner.subs.lock();
        let mut keyframe: Option<Option<Item>> = None;
        for s in subs.list.iter_mut() {
            let due = s.wants_keyframe
                || matches!((s.keyframe_every, s.last_keyframe),
                            (Some(every), Some(last)) if now.duration_since(last) >= every);
            let mut items: Vec<&Item> = Vec::new();
            if due {
                let k = keyframe.get_or_insert_with(|| {
                    item(
                        frames.at_us,
                        &Frame::Keyframe(Keyframe {
                            at_us: frames.at_us,
                            rows: seen.rows.values().cloned().collect(),
                            metrics: seen.metrics.clone().unwrap_or_default(),
                            chat: seen.chat.clone(),
                            next_event: frames.next_event,
                        }),
                    )
                });
                if let Some(k) = k {
                    items.push(k);
                }
                s.wants_keyframe = false;
                s.last_keyframe = Some(now);
            } else if let Some(d) = &frames.delta {
                items.push(d);
            }
            items.extend(frames.rest.iter());
            for i in items {
                if !s.outbox.push(i.clone(), || too_slow(frames.at_us)) {
                    break;
                }
            }
        }
    }
}

/// The frames of one tick, encoded once for every subscriber.
struct Tick {
    at_us: u64,
    /// The table delta (none if nothing changed).
    delta: Option<Item>,
    /// Events, metrics and chat.
    rest: Vec<Item>,
    next_event: u64,
}

fn read(
    handle: &Handle,
    config: &PublisherConfig,
    seen: &mut Seen,
    events: &mut crate::observe::EventReader,
    with_metrics: bool,
) -> Tick {
    let at_us = handle.0.now().as_micros() as u64;
    handle.process_table_into(&mut seen.buffer);
    let mut changed = Vec::new();
    let mut alive = HashMap::with_capacity(seen.rows.len());
    for row in seen.buffer.drain(..) {
        if row.status == Status::Exited {
            continue; // on its way out: its exit event or the next tick settles it
        }
        let wire = Row::from(&row);
        // An unchanged row keeps the version last sent, so "changed" is judged against what
        // observers have, not against a row that drifted a little at every tick.
        let kept = match seen.rows.get(&wire.pid) {
            Some(old) if old.same_as(&wire) => old.clone(),
            _ => {
                changed.push(wire.clone());
                wire
            }
        };
        alive.insert(kept.pid, kept);
    }
    let removed: Vec<u64> = seen
        .rows
        .keys()
        .filter(|pid| !alive.contains_key(pid))
        .copied()
        .collect();
    seen.rows = alive;
    let delta = if changed.is_empty() && removed.is_empty() {
        None
    } else {
        item(
            at_us,
            &Frame::Delta(Delta {
                at_us,
                changed,
                removed,
            }),
        )
    };
    let mut rest = Vec::new();
    let next_event = events.next;
    let batch = handle.read_events(events, EVENTS_PER_TICK);
    if !batch.is_empty() {
        let frame = Frame::Events(EventBatch {
            events: batch.iter().map(WireEvent::from).collect(),
            dropped: events.dropped(),
        });
        rest.extend(item(at_us, &frame));
    }
    if with_metrics || seen.metrics.is_none() {
        let metrics = Metrics::from(&handle.metrics());
        seen.metrics = Some(metrics.clone());
        if with_metrics {
            rest.extend(item(
                at_us,
                &Frame::Metrics(MetricsFrame { at_us, metrics }),
            ));
        }
        if let Some((chat, pool)) = &config.chat {
            let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
            let figures = ChatFigures {
                at_us,
                connections: get(&chat.connections),
                connections_total: get(&chat.connections_total),
                joins: get(&chat.joins),
                frames_in: get(&chat.frames_in),
                frames_out: get(&chat.frames_out),
                messages_posted: get(&chat.messages_posted),
                broadcasts: get(&chat.broadcasts),
                pool: (&pool.metrics()).into(),
            };
            seen.chat = Some(figures.clone());
            if with_metrics {
                rest.extend(item(at_us, &Frame::Chat(figures)));
            }
        }
    }
    Tick {
        at_us,
        delta,
        rest,
        next_event,
    }
}
