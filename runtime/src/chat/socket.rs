//! A socket process: one per WebSocket connection. It does the handshake (path, `vsn=2.0.0`,
//! Origin), reads the client's frames and routes them (heartbeat, join, leave, pushes to the
//! channel of their topic), writes what channels and rooms send it, and enforces the limits:
//! frame size (1009), JSON and frame shape (1007), binary frames (1003), rate (error replies),
//! a client that does not read (1008), idle time.
//!
//! It traps exits: a channel that crashes becomes `phx_error` for its topic and the socket lives
//! on; its own supervisor's shutdown closes the connection with 1001.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::frame::CloseFrame;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use futures_util::{Sink, Stream};

mod joins;

use crate::chat::channel::{self, ChannelIn, Join, JoinAnswered};
use crate::chat::frame::{self, encode, error_reply, reply, Frame};
use crate::chat::metrics::ChatMetrics;
use crate::chat::{ChatShared, Push};
use crate::ctx::with_timeout;
use crate::dynamic_supervisor;
use crate::supervisor::{ChildSpec, Restart, Shutdown};
use crate::{Ctx, Exit, ExitReason, Kind, Msg, Pid, SpawnError};
use joins::{Joined, Joins};

type Ws = WebSocketStream<Async<TcpStream>>;

/// How long a client has to finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing socket waits for its close frame to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client's queue may stay over the outbound limit without the client reading
/// anything before it is cut off: a burst it has not had a fair chance to read is not held
/// against it.
const SLOW_READER_GRACE: Duration = Duration::from_secs(2);
/// Over this many times the outbound limit, a client is cut off at once, grace or not.
const HARD_LIMIT_FACTOR: usize = 8;

pub(crate) fn child_spec(
    shared: Arc<ChatShared>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
) -> ChildSpec {
    // One id shared by every socket's child record, not one allocation each.
    static ID: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "socket".into());
    let slot = parking_lot::Mutex::new(Some(stream));
    ChildSpec::new(ID.clone(), move |h, opts| {
        let stream = slot
            .lock()
            .take()
            .ok_or_else(|| SpawnError::Failed("a socket is started once".into()))?;
        let shared = shared.clone();
        h.spawn_with(opts.trap_exit(true), move |ctx| run(ctx, shared, stream))
    })
    .label(format!("socket {peer}"))
    .kind(Kind::Socket)
    .restart(Restart::Temporary)
    .shutdown(Shutdown::Timeout(CLOSE_TIMEOUT))
}

/// Counts the connection while the socket lives.
struct Connected(Arc<ChatMetrics>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How many joins may wait for an earlier join of their topic to be answered.
const MAX_DEFERRED_JOINS: usize = 16;

/// Frames waiting to be written, and their size. Frames are shared (a broadcast is encoded
/// once for all its recipients) and written straight from the shared bytes: the socket keeps no
/// write buffer of its own, so an idle connection holds only its small read buffer.
struct Outbound {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    /// When the client last read something, or the queue last started from empty.
    progress: Instant,
    /// The frame being written: its header, the payload, and how much of both is written.
    current: Option<(FrameHeader, Utf8Bytes, usize)>,
}

impl Outbound {
    fn new() -> Outbound {
        Outbound {
            frames: VecDeque::new(),
            bytes: 0,
            progress: Instant::now(),
            current: None,
        }
    }

    fn push(&mut self, frame: Utf8Bytes) {
        if self.bytes == 0 && self.current.is_none() {
            self.progress = Instant::now();
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }
}

/// The header of an unmasked server text frame (FIN set): 2, 4 or 10 bytes.
struct FrameHeader {
    bytes: [u8; 10],
    len: usize,
}

impl FrameHeader {
    fn text(payload_len: usize) -> FrameHeader {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x81;
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if payload_len <= u16::MAX as usize {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&(payload_len as u16).to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        FrameHeader { bytes, len }
    }
}

/// A token bucket: `rate` pushes per second, bursts up to `rate`.
struct RateLimit {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(rate: u32) -> RateLimit {
        RateLimit {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

enum Event {
    Frame(Message),
    ReadError(WsError),
    Mailbox(Msg),
    Idle,
    Closed,
}

struct Socket {
    ctx: Ctx,
    shared: Arc<ChatShared>,
    ws: Ws,
    out: Outbound,
    channels: Joins,
    /// Joins that arrived while an earlier join of their topic was still unanswered: they run,
    /// in order, once it is answered, so every join gets its own reply (as in Phoenix, where a
    /// join is answered before the socket reads the next frame).
    deferred: Vec<Frame>,
    rate: RateLimit,
    idle: Timer,
}

/// Why the socket is closing: the close code and reason, and the socket's exit reason.
type Closing = (CloseCode, String, ExitReason);

async fn run(ctx: Ctx, shared: Arc<ChatShared>, stream: Async<TcpStream>) -> ExitReason {
    let _ = stream.get_ref().set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_message_size(Some(shared.config.max_frame))
        .max_frame_size(Some(shared.config.max_frame));
    let check = handshake_check(shared.clone());
    // Boxed: the handshake's state is large and only needed once; the task keeps only the
    // loop's state afterwards (memory per connection is a figure we are judged on).
    let accepted = Box::pin(with_timeout(
        HANDSHAKE_TIMEOUT,
        async_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)),
    ))
    .await;
    let ws = match accepted {
        Some(Ok(ws)) => ws,
        // Refused (403/404 already answered), broken, or too slow: nothing else to do.
        _ => return ExitReason::Normal,
    };
    ChatMetrics::add(&shared.metrics.connections);
    let _connected = Connected(shared.metrics.clone());
    let idle = Timer::after(shared.config.idle_timeout);
    let mut socket = Socket {
        rate: RateLimit::new(shared.config.rate_limit),
        ctx,
        shared,
        ws,
        out: Outbound::new(),
        channels: Joins::default(),
        deferred: Vec::new(),
        idle,
    };
    let (code, reason, exit) = Box::pin(socket.serve()).await;
    // A normal exit would not take the linked channels down: stop them explicitly, as Phoenix
    // stops a transport's channels when the connection goes.
    for joined in socket.channels.iter() {
        socket.ctx.exit(joined.channel, ExitReason::Shutdown);
    }
    Box::pin(socket.close(code, &reason)).await;
    exit
}

/// The handshake callback: right path, protocol version 2, and an allowed Origin.
// The error type is tungstenite's: the callback's signature is not ours to choose.
#[allow(clippy::result_large_err)]
fn handshake_check(
    shared: Arc<ChatShared>,
) -> impl FnOnce(&Request, Response) -> Result<Response, ErrorResponse> + Unpin {
    move |req: &Request, mut resp: Response| {
        let refuse = |status: StatusCode, why: &str| {
            tracing::info!(
                status = status.as_u16(),
                uri = %req.uri(),
                reason = why,
                "websocket handshake refused"
            );
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = status;
            r
        };
        if req.uri().path() != "/socket/websocket" {
            ChatMetrics::add(&shared.metrics.rejected_handshake);
            return Err(refuse(
                StatusCode::NOT_FOUND,
                "no such socket: connect to /socket/websocket",
            ));
        }
        let vsn = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("vsn="))
            .unwrap_or("1.0.0");
        if !vsn.starts_with("2.0") {
            ChatMetrics::add(&shared.metrics.rejected_handshake);
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "only protocol version vsn=2.0.0 is served",
            ));
        }
        if let Some(origin) = req.headers().get("origin") {
            let port = shared.http_addr.port();
            let allowed = [
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
                format!("http://{}", shared.http_addr),
            ];
            if !allowed.iter().any(|a| origin.as_bytes() == a.as_bytes()) {
                ChatMetrics::add(&shared.metrics.rejected_origin);
                return Err(refuse(StatusCode::FORBIDDEN, "origin not allowed"));
            }
        }
        let wants_phoenix = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|p| p.trim() == "phoenix"));
        if wants_phoenix {
            resp.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static("phoenix"),
            );
        }
        Ok(resp)
    }
}

impl Socket {
    /// Serves the connection until it must close.
    async fn serve(&mut self) -> Closing {
        loop {
            let event = self.next_event().await;
            let outcome = match event {
                Event::Frame(Message::Text(text)) => {
                    self.touch();
                    self.handle_text(text).await
                }
                Event::Frame(Message::Binary(_)) => {
                    ChatMetrics::add(&self.shared.metrics.closed_binary);
                    Some(closing(
                        CloseCode::Unsupported,
                        "binary frames are not supported; send JSON text frames",
                    ))
                }
                Event::Frame(Message::Close(_)) => {
                    Some((CloseCode::Normal, String::new(), ExitReason::Normal))
                }
                Event::Frame(_) => {
                    self.touch();
                    None
                }
                Event::ReadError(WsError::Capacity(e)) => {
                    ChatMetrics::add(&self.shared.metrics.closed_oversized);
                    Some(closing(CloseCode::Size, &format!("frame too large: {e}")))
                }
                Event::ReadError(WsError::Utf8(_)) => {
                    ChatMetrics::add(&self.shared.metrics.closed_invalid);
                    Some(closing(CloseCode::Invalid, "text frame is not UTF-8"))
                }
                Event::ReadError(_) | Event::Closed => {
                    return (CloseCode::Abnormal, String::new(), ExitReason::Normal);
                }
                Event::Mailbox(msg) => self.handle_mailbox(msg),
                Event::Idle => {
                    ChatMetrics::add(&self.shared.metrics.closed_idle);
                    Some((
                        CloseCode::Away,
                        "idle timeout".into(),
                        ExitReason::custom("idle timeout"),
                    ))
                }
            };
            if let Some(c) = outcome {
                return c;
            }
            self.run_deferred_joins().await;
            if self.is_slow_reader() {
                ChatMetrics::add(&self.shared.metrics.closed_slow_client);
                self.out.clear();
                return closing(
                    CloseCode::Policy,
                    "client is not reading: outbound queue over its limit",
                );
            }
        }
    }

    /// Over the outbound limit and not read from for the grace period, or far over it.
    fn is_slow_reader(&self) -> bool {
        let limit = self.shared.config.max_outbound;
        self.out.bytes > limit.saturating_mul(HARD_LIMIT_FACTOR)
            || (self.out.bytes > limit && self.out.progress.elapsed() > SLOW_READER_GRACE)
    }

    fn touch(&mut self) {
        self.idle.set_after(self.shared.config.idle_timeout);
    }

    /// Writes what it can, then waits for a frame, a message or the idle timer.
    async fn next_event(&mut self) -> Event {
        poll_fn(|cx| {
            // Write progress first: a client that reads gets its frames promptly.
            match self.poll_write(cx) {
                Poll::Ready(Err(())) => return Poll::Ready(Event::Closed),
                Poll::Ready(Ok(())) | Poll::Pending => {}
            }
            if let Some(msg) = self.ctx.try_recv() {
                return Poll::Ready(Event::Mailbox(msg));
            }
            // Read only between our frames: the WebSocket library may answer a ping or a close
            // while reading, and that must not land in the middle of one of our frames.
            if self.out.current.is_none() {
                match Pin::new(&mut self.ws).poll_next(cx) {
                    Poll::Ready(Some(Ok(m))) => return Poll::Ready(Event::Frame(m)),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Event::ReadError(e)),
                    Poll::Ready(None) => return Poll::Ready(Event::Closed),
                    Poll::Pending => {}
                }
            }
            if Pin::new(&mut self.idle).poll(cx).is_ready() {
                return Poll::Ready(Event::Idle);
            }
            Poll::Pending
        })
        .await
    }

    /// Writes queued frames straight to the TCP stream until done or it would block.
    fn poll_write(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), ()>> {
        loop {
            if self.out.current.is_none() {
                let Some(next) = self.out.frames.pop_front() else {
                    return Poll::Ready(Ok(()));
                };
                // Whatever the library queued itself (a pong) goes out before our frame.
                match Pin::new(&mut self.ws).poll_flush(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
                    Poll::Pending => {
                        self.out.frames.push_front(next);
                        return Poll::Pending;
                    }
                }
                self.out.bytes -= next.len();
                self.out.current = Some((FrameHeader::text(next.len()), next, 0));
            }
            let Some((header, payload, written)) = self.out.current.as_mut() else {
                continue;
            };
            let head = &header.bytes[..header.len];
            let (a, b): (&[u8], &[u8]) = if *written < head.len() {
                (&head[*written..], payload.as_bytes())
            } else {
                (&payload.as_bytes()[*written - head.len()..], &[])
            };
            let bufs = [std::io::IoSlice::new(a), std::io::IoSlice::new(b)];
            let stream = Pin::new(self.ws.get_mut());
            match futures_lite::AsyncWrite::poll_write_vectored(stream, cx, &bufs) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
                Poll::Ready(Ok(n)) => {
                    *written += n;
                    self.out.progress = Instant::now();
                    if *written == head.len() + payload.len() {
                        self.out.current = None;
                        ChatMetrics::add(&self.shared.metrics.frames_out);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn write(&mut self, frame: impl Into<Utf8Bytes>) {
        self.out.push(frame.into());
    }

    async fn handle_text(&mut self, text: Utf8Bytes) -> Option<Closing> {
        ChatMetrics::add(&self.shared.metrics.frames_in);
        let f = match frame::parse(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                ChatMetrics::add(&self.shared.metrics.closed_invalid);
                return Some(closing(CloseCode::Invalid, &e.to_string()));
            }
        };
        if f.topic == "phoenix" && f.event == "heartbeat" {
            self.write(reply(None, f.msg_ref.as_deref(), "phoenix", "ok", "{}"));
            return None;
        }
        if !self.rate.allow() {
            ChatMetrics::add(&self.shared.metrics.rate_limited);
            // Per push: debug only, so a flood cannot flood the log.
            tracing::debug!(topic = %f.topic, "push refused: rate limited");
            self.write(error_reply(
                f.join_ref.as_deref(),
                f.msg_ref.as_deref(),
                &f.topic,
                "rate limited",
            ));
            return None;
        }
        match f.event.as_str() {
            "phx_join" => Box::pin(self.join(f)).await,
            "phx_leave" => self.leave(f),
            _ => self.route(f),
        }
        None
    }

    /// Runs the deferred joins whose topic has no join waiting for its answer any more.
    async fn run_deferred_joins(&mut self) {
        while let Some(i) = self
            .deferred
            .iter()
            .position(|f| !self.join_pending(&f.topic))
        {
            let f = self.deferred.remove(i);
            Box::pin(self.join(f)).await;
        }
    }

    fn join_pending(&self, topic: &str) -> bool {
        self.channels.get(topic).is_some_and(|j| !j.answered)
    }

    async fn join(&mut self, f: Frame) {
        let (jr, r) = (f.join_ref.as_deref(), f.msg_ref.as_deref());
        if self.join_pending(&f.topic) {
            if self.deferred.len() >= MAX_DEFERRED_JOINS {
                self.write(error_reply(jr, r, &f.topic, "too many joins waiting"));
            } else {
                self.deferred.push(f);
            }
            return;
        }
        if !f.topic.starts_with("room:") {
            tracing::info!(topic = %f.topic, reason = "unmatched topic", "join refused");
            self.write(error_reply(jr, r, &f.topic, "unmatched topic"));
            return;
        }
        let replaced = self.channels.contains(&f.topic);
        if !replaced && self.channels.len() >= self.shared.config.max_channels {
            tracing::info!(topic = %f.topic, reason = "too many channels joined", "join refused");
            self.write(error_reply(jr, r, &f.topic, "too many channels joined"));
            return;
        }
        let Some(sockets) = self.ctx.parent() else {
            self.write(error_reply(jr, r, &f.topic, "the socket has no supervisor"));
            return;
        };
        let join = Join {
            shared: self.shared.clone(),
            socket: self.ctx.pid(),
            topic: f.topic.clone(),
            join_ref: f.join_ref.clone(),
            msg_ref: f.msg_ref.clone(),
            params: f.payload,
        };
        let h = self.ctx.handle().clone();
        let started = dynamic_supervisor::start_child(
            &h,
            sockets,
            channel::child_spec(join),
            Duration::from_secs(5),
        )
        .await;
        let pid = match started {
            Ok(Ok(pid)) => pid,
            Ok(Err(e)) => {
                self.write(error_reply(
                    jr,
                    r,
                    &f.topic,
                    &format!("could not start the channel: {e}"),
                ));
                return;
            }
            Err(e) => {
                self.write(error_reply(
                    jr,
                    r,
                    &f.topic,
                    &format!("could not start the channel: {e}"),
                ));
                return;
            }
        };
        let previous = self.channels.insert(Joined {
            topic: f.topic.as_str().into(),
            join_ref: f.join_ref.clone(),
            channel: pid,
            replaced: None,
            answered: false,
        });
        if let Some(old) = previous {
            // The old channel stops; after the new join is answered, its phx_close goes out.
            self.ctx.exit(old.channel, ExitReason::Shutdown);
            if let Some(j) = self.channels.get_mut(&f.topic) {
                j.replaced = Some(old.join_ref);
            }
        }
    }

    fn leave(&mut self, f: Frame) {
        let r = f.msg_ref.as_deref();
        match self.channels.remove(&f.topic) {
            Some(joined) => {
                self.ctx.unsubscribe(&f.topic);
                self.ctx.exit(joined.channel, ExitReason::Shutdown);
                let jr = joined.join_ref.as_deref();
                self.write(reply(jr, r, &f.topic, "ok", "{}"));
                self.write(encode(jr, jr, &f.topic, "phx_close", "{}"));
            }
            None => self.write(reply(f.join_ref.as_deref(), r, &f.topic, "ok", "{}")),
        }
    }

    fn route(&mut self, f: Frame) {
        match self.channels.get(&f.topic) {
            Some(joined) => {
                let input = ChannelIn {
                    msg_ref: f.msg_ref,
                    event: f.event,
                    payload: f.payload,
                };
                let _ = self.ctx.send(joined.channel, input);
            }
            None => self.write(error_reply(
                None,
                f.msg_ref.as_deref(),
                &f.topic,
                "unmatched topic",
            )),
        }
    }

    fn handle_mailbox(&mut self, msg: Msg) -> Option<Closing> {
        let msg = match msg.downcast::<Push>() {
            Ok(Push(frame)) => {
                self.write(frame);
                return None;
            }
            Err(msg) => msg,
        };
        let msg = match msg.downcast::<JoinAnswered>() {
            Ok(answer) => {
                self.join_answered(answer);
                return None;
            }
            Err(msg) => msg,
        };
        if let Ok(exit) = msg.downcast::<Exit>() {
            return self.exit_signal(exit);
        }
        None
    }

    fn join_answered(&mut self, a: JoinAnswered) {
        let current = self
            .channels
            .get(&a.topic)
            .is_some_and(|j| j.channel == a.channel);
        if !current {
            // A channel that was replaced before it answered: its answer is stale.
            return;
        }
        self.write(a.reply.0);
        if let Some(j) = self.channels.get_mut(&a.topic) {
            j.answered = true;
        }
        if !a.ok {
            self.channels.remove(&a.topic);
            return;
        }
        if let Some(replaced) = self
            .channels
            .get_mut(&a.topic)
            .and_then(|j| j.replaced.take())
        {
            let old = replaced.as_deref();
            self.write(encode(old, old, &a.topic, "phx_close", "{}"));
        }
    }

    fn exit_signal(&mut self, exit: Exit) -> Option<Closing> {
        if Some(exit.from) == self.ctx.parent() || exit.from == Pid::OUTSIDE {
            if exit.reason == ExitReason::Normal {
                return None;
            }
            return Some((CloseCode::Away, "server shutting down".into(), exit.reason));
        }
        let joined = self.channels.remove_channel(exit.from)?;
        let topic = &*joined.topic;
        self.ctx.unsubscribe(topic);
        if exit.reason.is_abnormal() {
            // The client rejoins by itself on phx_error.
            let jr = joined.join_ref.as_deref();
            self.write(encode(
                jr,
                jr,
                topic,
                "phx_error",
                "{\"reason\":\"channel_crash\"}",
            ));
        }
        None
    }

    /// Sends a close frame (unless the client already went away) and waits briefly for it.
    async fn close(&mut self, code: CloseCode, reason: &str) {
        if code == CloseCode::Abnormal {
            return;
        }
        // A close reason is limited to 123 bytes.
        let mut cut = reason.len().min(123);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let frame = CloseFrame {
            code,
            reason: reason[..cut].to_string().into(),
        };
        let _ = with_timeout(CLOSE_TIMEOUT, async {
            if poll_fn(|cx| self.poll_write(cx)).await.is_err() {
                return;
            }
            let _ = self.ws.close(Some(frame)).await;
        })
        .await;
    }
}

/// Why a socket is closed for what its client did (bad input, a flood, not reading); logged,
/// once per connection.
fn closing(code: CloseCode, reason: &str) -> Closing {
    tracing::info!(
        code = u16::from(code),
        reason,
        "socket closed by the server"
    );
    (
        code,
        reason.to_string(),
        ExitReason::custom(format!("closed {}: {reason}", u16::from(code))),
    )
}
