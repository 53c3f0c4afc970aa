//! One WebSocket virtual user: connect, join `room:<name>`, heartbeat every 30 s, push `new_msg`
//! (or `slow` requests) at the model's pace and match replies by ref, count broadcasts; reconnect (with the Phoenix
//! client's backoff) when the server closes or drops the socket, rejoin after `phx_error`.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{self, Message};
use async_tungstenite::WebSocketStream;
use serde_json::json;
use smol::stream::StreamExt;
use smol::{future, Async, Timer};

use crate::net::{self, until, Failure};
use crate::phoenix::{self, Incoming};
use crate::shared::Shared;
use crate::stats::{Lat, OpenGuard, Stats};
use crate::Model;

type Ws = WebSocketStream<Async<TcpStream>>;

const HEARTBEAT: Duration = Duration::from_secs(30);
/// The `phoenix` client's reconnect backoff.
const BACKOFF_MS: [u64; 10] = [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000];
/// The `phoenix` client's first rejoin delay after `phx_error`.
const REJOIN: Duration = Duration::from_secs(1);

/// How a session ended.
enum Next {
    Done,
    Reconnect { joined: bool },
}

/// Runs user `index` until the run's end (plus drain).
pub(crate) async fn user(sh: &Shared, index: usize) {
    let mut failures = 0usize;
    while !sh.sending_over() {
        match session(sh, index).await {
            Next::Done => return,
            Next::Reconnect { joined } => {
                failures = if joined { 0 } else { failures + 1 };
                let wait = BACKOFF_MS[failures.min(BACKOFF_MS.len() - 1)];
                let wake = (Instant::now() + Duration::from_millis(wait)).min(sh.end);
                future::or(
                    async {
                        Timer::at(wake).await;
                    },
                    async {
                        let _ = sh.stop.recv().await;
                    },
                )
                .await;
            }
        }
    }
}

/// Connects and upgrades, counting the attempt and its latency.
async fn open(sh: &Shared, index: usize) -> Option<Ws> {
    let st = &sh.stats;
    Stats::add(&st.connects, 1);
    let t0 = Instant::now();
    let deadline = net::deadline(sh.plan.timeout, sh.hard_end());
    let target = &sh.plan.target;
    let result = async {
        let stream = net::connect(sh.plan.source(index), target.addr, deadline).await?;
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let url = format!("ws://{}{}", target.addr, target.path);
        let upgrade = async_tungstenite::client_async_with_config(url, stream, Some(config));
        match until(deadline, upgrade).await {
            None => Err(Failure::TimedOut("upgrade")),
            Some(Ok((ws, _))) => Ok(ws),
            Some(Err(e)) => Err(ws_failure(e)),
        }
    }
    .await;
    match result {
        Ok(ws) => {
            Stats::add(&st.connects_ok, 1);
            st.record(Lat::Connect, t0.elapsed());
            Some(ws)
        }
        Err(f) => {
            Stats::add(&st.connects_failed, 1);
            st.error(&f.kind());
            None
        }
    }
}

fn ws_failure(e: tungstenite::Error) -> Failure {
    match e {
        tungstenite::Error::Http(resp) => Failure::Rejected(resp.status().as_u16()),
        tungstenite::Error::Io(e) => Failure::io(&e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            Failure::Dropped
        }
        tungstenite::Error::Protocol(p) => match p {
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake => Failure::Dropped,
            tungstenite::error::ProtocolError::HandshakeIncomplete => Failure::Dropped,
            other => Failure::Other(format!("protocol error: {other}")),
        },
        other => Failure::Other(other.to_string()),
    }
}

/// What woke the session loop.
enum Event {
    Frame(Option<Result<Message, tungstenite::Error>>),
    Tick,
    Job(Option<Instant>),
    Stop,
}

/// One connection's life: join, traffic, and how it ended.
async fn session(sh: &Shared, index: usize) -> Next {
    let Some(mut ws) = open(sh, index).await else {
        return Next::Reconnect { joined: false };
    };
    let _open = OpenGuard::new(&sh.stats.open);
    let mut s = Session::new(sh, index);
    match s.join(&mut ws).await {
        Ok(()) => {}
        Err(End::Lost(f)) => return s.lost(f),
        Err(End::Done) => return Next::Done,
    }
    loop {
        if s.draining.is_none() && sh.sending_over() {
            s.draining = Some(sh.drain_end());
        }
        if s.draining.is_some() && s.pending.is_empty() && s.join_pending.is_none() {
            s.close(&mut ws).await;
            return Next::Done;
        }
        let wake = s.wake();
        let want_job = s.joined && s.draining.is_none() && !s.jobs_done;
        let stop_armed = s.draining.is_none();
        let ev = future::or(
            async { Event::Frame(ws.next().await) },
            future::or(
                async {
                    Timer::at(wake).await;
                    Event::Tick
                },
                future::or(
                    async {
                        match (&sh.jobs, want_job) {
                            (Some(jobs), true) => Event::Job(jobs.recv().await.ok()),
                            _ => future::pending().await,
                        }
                    },
                    async {
                        if stop_armed {
                            let _ = sh.stop.recv().await;
                            Event::Stop
                        } else {
                            future::pending().await
                        }
                    },
                ),
            ),
        )
        .await;
        let step = match ev {
            Event::Frame(Some(Ok(m))) => s.frame(m),
            Event::Frame(Some(Err(e))) => Err(End::Lost(ws_failure(e))),
            Event::Frame(None) => Err(End::Lost(Failure::Dropped)),
            Event::Tick => s.tick(&mut ws).await,
            Event::Job(Some(at)) => s.send_msg(&mut ws, at).await,
            Event::Job(None) => {
                s.jobs_done = true;
                Ok(())
            }
            Event::Stop => {
                s.draining = Some(sh.drain_end());
                Ok(())
            }
        };
        match step {
            Ok(()) => {}
            Err(End::Done) => {
                s.close(&mut ws).await;
                return Next::Done;
            }
            Err(End::Lost(f)) => return s.lost(f),
        }
    }
}

/// Why a step ends the session: quietly (the run or the channel is over) or with a failure.
enum End {
    Done,
    Lost(Failure),
}

impl From<Failure> for End {
    fn from(f: Failure) -> End {
        End::Lost(f)
    }
}

struct Session<'a> {
    sh: &'a Shared,
    index: usize,
    next_ref: u64,
    join_ref: String,
    joined: bool,
    /// Ever joined on this socket: a reconnect afterwards starts its backoff again.
    was_joined: bool,
    join_pending: Option<(u64, Instant)>,
    rejoin_at: Option<Instant>,
    /// Message refs in flight and when each was sent (or scheduled).
    pending: BTreeMap<u64, Instant>,
    heartbeat_pending: Option<(u64, Instant)>,
    next_heartbeat: Instant,
    next_send: Instant,
    seq: u64,
    draining: Option<Instant>,
    jobs_done: bool,
    topic: String,
    /// `[null,null,"room:<name>","new_msg",` as compact JSON encoders write it.
    broadcast_prefix: String,
}

impl<'a> Session<'a> {
    fn new(sh: &'a Shared, index: usize) -> Session<'a> {
        Session {
            sh,
            index,
            next_ref: 0,
            join_ref: String::new(),
            joined: false,
            was_joined: false,
            join_pending: None,
            rejoin_at: None,
            pending: BTreeMap::new(),
            heartbeat_pending: None,
            next_heartbeat: Instant::now() + HEARTBEAT,
            next_send: Instant::now(),
            seq: 0,
            draining: None,
            jobs_done: false,
            topic: sh.plan.topic_of(index),
            broadcast_prefix: format!(
                "[null,null,{},\"new_msg\",",
                serde_json::Value::String(sh.plan.topic_of(index))
            ),
        }
    }

    fn stats(&self) -> &Stats {
        &self.sh.stats
    }

    fn take_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }

    async fn send(&mut self, ws: &mut Ws, text: String) -> Result<(), Failure> {
        let deadline = net::deadline(self.sh.plan.timeout, self.sh.hard_end());
        match until(deadline, ws.send(Message::text(text))).await {
            None => Err(Failure::TimedOut("send")),
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(ws_failure(e)),
        }
    }

    async fn join(&mut self, ws: &mut Ws) -> Result<(), End> {
        let r = self.take_ref();
        self.join_ref = r.to_string();
        let payload = json!({ "nick": format!("load{}", self.index) });
        let frame = phoenix::encode(
            Some(&self.join_ref),
            &self.join_ref,
            &self.topic,
            "phx_join",
            &payload,
        );
        Stats::add(&self.stats().joins, 1);
        self.join_pending = Some((r, Instant::now()));
        self.rejoin_at = None;
        Ok(self.send(ws, frame).await?)
    }

    /// Sends one `new_msg` (or, in slow mode, one `slow` request) whose latency counts from
    /// `start`.
    async fn send_msg(&mut self, ws: &mut Ws, start: Instant) -> Result<(), End> {
        let r = self.take_ref();
        self.seq += 1;
        let (event, payload) = match self.sh.plan.slow_ms {
            Some(ms) => ("slow", json!({ "ms": ms })),
            None => (
                "new_msg",
                json!({ "body": format!("load{} m{}", self.index, self.seq) }),
            ),
        };
        let frame = phoenix::encode(
            Some(&self.join_ref),
            &r.to_string(),
            &self.topic,
            event,
            &payload,
        );
        self.pending.insert(r, start);
        Stats::add(&self.stats().sent, 1);
        Ok(self.send(ws, frame).await?)
    }

    /// The next instant something is due.
    fn wake(&self) -> Instant {
        let timeout = self.sh.plan.timeout;
        let mut wake = self.next_heartbeat;
        if let Some((_, t)) = self.heartbeat_pending {
            wake = wake.min(t + timeout);
        }
        if let Some((_, t)) = self.join_pending {
            wake = wake.min(t + timeout);
        }
        if let Some(t) = self.rejoin_at {
            wake = wake.min(t);
        }
        if let Some((_, t)) = self.pending.first_key_value() {
            wake = wake.min(*t + timeout);
        }
        match self.draining {
            Some(end) => wake.min(end),
            None => {
                if self.closed_send_due().is_some() {
                    wake = wake.min(self.next_send);
                }
                wake.min(self.sh.end)
            }
        }
    }

    /// In the closed model, whether this user may send (joined, nothing in flight, a pace).
    fn closed_send_due(&self) -> Option<Option<f64>> {
        match self.sh.plan.model {
            Model::Closed { rate }
                if self.joined && self.pending.is_empty() && rate != Some(0.0) =>
            {
                Some(rate)
            }
            _ => None,
        }
    }

    async fn tick(&mut self, ws: &mut Ws) -> Result<(), End> {
        let now = Instant::now();
        let timeout = self.sh.plan.timeout;
        if let Some(end) = self.draining {
            if now >= end {
                Stats::add(&self.stats().unanswered, self.pending.len() as u64);
                self.pending.clear();
                if self.join_pending.take().is_some() {
                    Stats::add(&self.stats().joins_failed, 1);
                    self.stats().error("timed out: join reply (run ended)");
                }
                return Err(End::Done);
            }
        }
        if let Some((_, t)) = self.join_pending {
            if now >= t + timeout {
                self.join_pending = None;
                Stats::add(&self.stats().joins_failed, 1);
                return Err(Failure::TimedOut("join reply").into());
            }
        }
        while let Some((&r, &t)) = self.pending.first_key_value() {
            if now < t + timeout {
                break;
            }
            self.pending.remove(&r);
            Stats::add(&self.stats().timed_out, 1);
            self.stats().error("timed out: message reply");
        }
        if let Some((_, t)) = self.heartbeat_pending {
            if now >= t + timeout {
                return Err(Failure::TimedOut("heartbeat reply").into());
            }
        }
        if now >= self.next_heartbeat {
            let r = self.take_ref();
            self.heartbeat_pending = Some((r, now));
            self.next_heartbeat = now + HEARTBEAT;
            let frame = phoenix::encode(None, &r.to_string(), "phoenix", "heartbeat", &json!({}));
            self.send(ws, frame).await?;
        }
        if self.rejoin_at.is_some_and(|t| now >= t) && self.draining.is_none() {
            self.join(ws).await?;
        }
        if self.draining.is_none() && now < self.sh.end {
            if let Some(rate) = self.closed_send_due() {
                if now >= self.next_send {
                    let interval =
                        rate.map_or(Duration::ZERO, |r| Duration::from_secs_f64(1.0 / r));
                    self.next_send = (self.next_send + interval).max(now);
                    self.send_msg(ws, now).await?;
                }
            }
        }
        Ok(())
    }

    fn frame(&mut self, m: Message) -> Result<(), End> {
        match m {
            // Broadcasts are most of the traffic in a busy room: count them without parsing.
            Message::Text(t) if t.as_str().starts_with(self.broadcast_prefix.as_str()) => {
                Stats::add(&self.sh.stats.received, 1);
                Ok(())
            }
            Message::Text(t) => match phoenix::parse(t.as_str()) {
                Some(f) => self.incoming(f),
                None => {
                    self.stats().error("unreadable frame (not Phoenix V2 JSON)");
                    Ok(())
                }
            },
            Message::Close(frame) => Err(End::Lost(match frame {
                Some(f) => Failure::Closed(u16::from(f.code), f.reason.to_string()),
                None => Failure::Closed(1005, String::new()),
            })),
            Message::Binary(_) => {
                self.stats().error("binary frame (not expected)");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn incoming(&mut self, f: Incoming) -> Result<(), End> {
        let st = &self.sh.stats;
        let now = Instant::now();
        if let Some((status, reason)) = f.reply {
            let Some(r) = f.msg_ref.as_deref().and_then(|r| r.parse::<u64>().ok()) else {
                return Ok(());
            };
            let ok = status == "ok";
            let reason = reason.unwrap_or_else(|| status.clone());
            if self.join_pending.is_some_and(|(jr, _)| jr == r) {
                let (_, t) = self.join_pending.take().expect("checked above");
                if ok {
                    Stats::add(&st.joins_ok, 1);
                    st.record(Lat::Join, now - t);
                    self.joined = true;
                    self.was_joined = true;
                    self.next_send = now + self.first_send_offset();
                    return Ok(());
                }
                Stats::add(&st.joins_failed, 1);
                st.error(&format!("join refused: {reason}"));
                return Err(End::Done);
            }
            if let Some(t) = self.pending.remove(&r) {
                if ok {
                    Stats::add(&st.acked, 1);
                    st.record(Lat::RoundTrip, now.saturating_duration_since(t));
                } else {
                    Stats::add(&st.error_replies, 1);
                    st.error(&format!("error reply: {reason}"));
                }
                return Ok(());
            }
            if self.heartbeat_pending.is_some_and(|(hr, _)| hr == r) {
                self.heartbeat_pending = None;
            }
            return Ok(());
        }
        if f.topic != self.topic {
            return Ok(());
        }
        let current = f.join_ref.as_deref() == Some(self.join_ref.as_str());
        match f.event.as_str() {
            "new_msg" if f.msg_ref.is_none() => Stats::add(&st.received, 1),
            "phx_error" if current && self.joined => {
                st.error("channel crashed (phx_error)");
                Stats::add(&st.unanswered, self.pending.len() as u64);
                self.pending.clear();
                self.joined = false;
                self.rejoin_at = Some(now + REJOIN);
            }
            "phx_close" if current => {
                st.error("channel closed by the server (phx_close)");
                Stats::add(&st.unanswered, self.pending.len() as u64);
                self.pending.clear();
                return Err(End::Done);
            }
            _ => {}
        }
        Ok(())
    }

    /// Spreads the first sends of the users over one interval so they do not all fire at once.
    fn first_send_offset(&self) -> Duration {
        match self.sh.plan.model {
            Model::Closed { rate: Some(r) } if r > 0.0 => {
                let frac = (self.index as f64 * 0.618_033_988_75).fract();
                Duration::from_secs_f64(frac / r)
            }
            _ => Duration::ZERO,
        }
    }

    /// The connection ended with `f`: count it and what was still in flight.
    fn lost(&mut self, f: Failure) -> Next {
        let sh = self.sh;
        let st = &sh.stats;
        st.error(&f.kind());
        Stats::add(&st.unanswered, self.pending.len() as u64);
        if self.join_pending.take().is_some() && !matches!(f, Failure::TimedOut("join reply")) {
            Stats::add(&st.joins_failed, 1);
        }
        self.pending.clear();
        Next::Reconnect {
            joined: self.was_joined,
        }
    }

    /// Closes the socket politely, without waiting long for the server.
    async fn close(&mut self, ws: &mut Ws) {
        let deadline = (Instant::now() + Duration::from_secs(1)).min(self.sh.hard_end());
        let _ = until(deadline, ws.close(None)).await;
    }
}
