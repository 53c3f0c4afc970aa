//! One HTTP connection: a process (as Bandit and Cowboy run one per connection) that reads
//! requests on async I/O, answers them, and keeps the connection for the next one.
//!
//! Its limits: the head (and then the body) must arrive within the header timeout, or the
//! client gets 408 and the connection is closed; a head over the size cap gets 431, a body
//! over its cap 413; a keep-alive connection waits for its next request up to the keep-alive
//! timeout, then closes. A connection that waits holds no thread, only the bytes it has read.

use std::future::Future;
use std::io::Read as _;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_io::Async;
use futures_channel::oneshot;
use futures_lite::AsyncWriteExt;

use crate::chat::http::routes::{route, Route};
use crate::chat::http::shared::{HttpShared, Open};
use crate::chat::http::thread_pool::Job;
use crate::chat::http::wire::{self, Body, BodyLength, Head, Parsed, Response};
use crate::chat::metrics::ChatMetrics;
use crate::ctx::{with_timeout, Received};
use crate::{Ctx, ExitReason};

/// Longest single read: the head cap bounds the buffer, this bounds one step of it.
const READ_CHUNK: usize = 4096;
/// How long a closing connection reads (and drops) what the client still sends, so that the
/// answer is not lost to a reset.
const LINGER: Duration = Duration::from_secs(1);
/// Bytes a closing connection reads at most while lingering.
const LINGER_BYTES: usize = 64 * 1024;
/// How long an error answer to a client that timed out may take to write.
const TIMEOUT_ANSWER: Duration = Duration::from_secs(1);

/// What the connection is doing, for the inspector.
#[derive(Clone, Copy)]
enum Phase {
    Head,
    Body,
    Idle,
    Slow(u64),
    Writing,
}

impl Phase {
    fn describe(self) -> String {
        match self {
            Phase::Head => "reading a request head".into(),
            Phase::Body => "reading a request body".into(),
            Phase::Idle => "keep-alive: waiting for the next request".into(),
            Phase::Slow(ms) => format!("/api/slow: waiting {ms} ms for the thread pool"),
            Phase::Writing => "writing a response".into(),
        }
    }
}

/// How a read went.
enum Read {
    Data,
    Closed,
    TimedOut,
}

/// The connection process's body.
pub(crate) async fn run(
    ctx: Ctx,
    shared: Arc<HttpShared>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
) -> ExitReason {
    let _open = Open::new(&shared);
    let _ = stream.get_ref().set_nodelay(true);
    let mut conn = Conn {
        ctx,
        shared,
        stream,
        peer,
        buf: Vec::new(),
        served: 0,
    };
    conn.serve().await;
    ExitReason::Normal
}

struct Conn {
    ctx: Ctx,
    shared: Arc<HttpShared>,
    stream: Async<TcpStream>,
    peer: SocketAddr,
    /// Bytes read and not yet consumed: a partial head, or the start of a pipelined request.
    buf: Vec<u8>,
    served: u64,
}

impl Conn {
    async fn serve(&mut self) {
        let accepted = Instant::now();
        let config = &self.shared.chat.config;
        let (header_timeout, keepalive) =
            (config.http_header_timeout, config.http_keepalive_timeout);
        let (max_header, max_body) = (config.http_max_header, config.http_max_body);
        let mut first = true;
        loop {
            let head_deadline = if first {
                accepted + header_timeout
            } else {
                if self.buf.is_empty() {
                    let readable = self.stream.readable();
                    match answering(
                        &self.ctx,
                        self.render(Phase::Idle),
                        with_timeout(keepalive, readable),
                    )
                    .await
                    {
                        Some(Ok(())) => {}
                        // Idle past the keep-alive timeout, or gone: close quietly.
                        _ => return,
                    }
                }
                Instant::now() + header_timeout
            };
            let (head, len) = loop {
                match wire::parse(&self.buf) {
                    Parsed::Done(head, len) if len <= max_header => break (head, len),
                    Parsed::Done(..) | Parsed::TooManyHeaders => {
                        return self.refuse(431, "the request head is too large\n").await
                    }
                    Parsed::Bad(why) => return self.refuse(400, &format!("{why}\n")).await,
                    Parsed::Partial if self.buf.len() > max_header => {
                        return self.refuse(431, "the request head is too large\n").await
                    }
                    Parsed::Partial => {}
                }
                match self
                    .read_more(Phase::Head, head_deadline, max_header + 1)
                    .await
                {
                    Read::Data => {}
                    Read::Closed => return,
                    Read::TimedOut => return self.timed_out().await,
                }
            };
            self.buf.drain(..len);
            let body_deadline = Instant::now() + header_timeout;
            match head.body {
                BodyLength::None => {}
                BodyLength::Fixed(n) if n > max_body as u64 => {
                    return self.refuse(413, "the request body is too large\n").await
                }
                BodyLength::Fixed(_) | BodyLength::Chunked => {
                    if head.expect_continue
                        && !self
                            .write(b"HTTP/1.1 100 Continue\r\n\r\n", body_deadline)
                            .await
                    {
                        return;
                    }
                    let skipped = match head.body {
                        BodyLength::Fixed(n) => self.skip_fixed(n, body_deadline).await,
                        _ => self.skip_chunked(max_body, body_deadline).await,
                    };
                    match skipped {
                        Ok(()) => {}
                        Err(Some(answer)) => return answer.send(self).await,
                        Err(None) => return,
                    }
                }
            }
            ChatMetrics::add(&self.shared.chat.metrics.http_requests);
            let response = self.answer(&head).await;
            let bytes = response.encode(head.http11, head.keep_alive, head.method == "HEAD");
            if !self.write(&bytes, Instant::now() + header_timeout).await {
                return;
            }
            self.served += 1;
            if !head.keep_alive {
                return self.close().await;
            }
            first = false;
        }
    }

    /// Routes the request; `/api/slow` waits for the fixed pool's thread to do it.
    async fn answer(&self, head: &Head) -> Response {
        match route(self.ctx.handle(), &self.shared, &head.method, &head.target) {
            Route::Respond(r) => r,
            Route::Slow(ms) => {
                let (done, finished) = oneshot::channel();
                if self.shared.pool.submit(Job { ms, done }).is_err() {
                    return Response::text(503, "the thread pool has stopped\n");
                }
                match answering(&self.ctx, self.render(Phase::Slow(ms)), finished).await {
                    Ok(()) => Response::new(
                        200,
                        "application/json",
                        Body::Owned(format!("{{\"slept_ms\":{ms}}}")),
                    ),
                    Err(_) => Response::text(503, "the thread pool has stopped\n"),
                }
            }
        }
    }

    /// Reads what the client sent so far onto the buffer, up to `cap` bytes in all.
    async fn read_more(&mut self, phase: Phase, deadline: Instant, cap: usize) -> Read {
        let room = cap.saturating_sub(self.buf.len()).clamp(1, READ_CHUNK);
        let left = deadline.saturating_duration_since(Instant::now());
        let render = self.render(phase);
        let (stream, buf) = (&self.stream, &mut self.buf);
        let read = stream.read_with(|s| {
            // The chunk lives only inside this call: a waiting connection holds no buffer.
            let mut chunk = [0u8; READ_CHUNK];
            let n = (&*s).read(&mut chunk[..room])?;
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        });
        match answering(&self.ctx, render, with_timeout(left, read)).await {
            None => Read::TimedOut,
            Some(Ok(0) | Err(_)) => Read::Closed,
            Some(Ok(_)) => Read::Data,
        }
    }

    /// Reads and drops a body of `n` bytes.
    async fn skip_fixed(&mut self, n: u64, deadline: Instant) -> Result<(), Option<Answer>> {
        let mut left = n;
        loop {
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            self.buf.drain(..take);
            left -= take as u64;
            if left == 0 {
                return Ok(());
            }
            let want = usize::try_from(left).unwrap_or(usize::MAX);
            match self.read_more(Phase::Body, deadline, want).await {
                Read::Data => {}
                Read::Closed => return Err(None),
                Read::TimedOut => return Err(Some(Answer::TimedOut)),
            }
        }
    }

    /// Reads and drops a chunked body (chunk sizes, data, trailers), at most `max` data bytes.
    async fn skip_chunked(&mut self, max: usize, deadline: Instant) -> Result<(), Option<Answer>> {
        let mut total: u64 = 0;
        // Data bytes (plus their CRLF) of the current chunk still to drop.
        let mut in_chunk: u64 = 0;
        let mut trailers = false;
        loop {
            if in_chunk > 0 {
                let take = usize::try_from(in_chunk)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                self.buf.drain(..take);
                in_chunk -= take as u64;
            }
            while in_chunk == 0 {
                let Some(eol) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                    if self.buf.len() > 1024 {
                        return Err(Some(Answer::Refuse(400, "a chunk size line is too long\n")));
                    }
                    break;
                };
                let line = String::from_utf8_lossy(&self.buf[..eol]).to_string();
                self.buf.drain(..eol + 2);
                if trailers {
                    if line.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                let size = line.split(';').next().unwrap_or("").trim();
                let Ok(size) = u64::from_str_radix(size, 16) else {
                    return Err(Some(Answer::Refuse(400, "an invalid chunk size\n")));
                };
                if size == 0 {
                    trailers = true;
                    continue;
                }
                total = total.saturating_add(size);
                if total > max as u64 {
                    return Err(Some(Answer::Refuse(413, "the request body is too large\n")));
                }
                in_chunk = size + 2;
                let take = usize::try_from(in_chunk)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                self.buf.drain(..take);
                in_chunk -= take as u64;
            }
            match self.read_more(Phase::Body, deadline, READ_CHUNK).await {
                Read::Data => {}
                Read::Closed => return Err(None),
                Read::TimedOut => return Err(Some(Answer::TimedOut)),
            }
        }
    }

    /// Writes all of `bytes` by `deadline`; false if the client is gone or does not read.
    async fn write(&self, bytes: &[u8], deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut stream = &self.stream;
        let write = async { stream.write_all(bytes).await.is_ok() };
        answering(
            &self.ctx,
            self.render(Phase::Writing),
            with_timeout(left, write),
        )
        .await
        .unwrap_or(false)
    }

    /// The request head or body did not arrive in time: 408, then close.
    async fn timed_out(&mut self) {
        HttpShared::count(&self.shared.timed_out);
        let bytes =
            Response::text(408, "the request did not arrive in time\n").encode(true, false, false);
        self.write(&bytes, Instant::now() + TIMEOUT_ANSWER).await;
    }

    /// A request we do not serve: answer `status`, then close.
    async fn refuse(&mut self, status: u16, why: &str) {
        HttpShared::count(&self.shared.refused);
        let bytes = Response::text(status, why).encode(true, false, false);
        if self.write(&bytes, Instant::now() + TIMEOUT_ANSWER).await {
            self.close().await;
        }
    }

    /// Closes after an answer: stops writing, then drops what the client still sends for a
    /// moment, so that closing with unread bytes does not reset the connection under the answer.
    async fn close(&mut self) {
        let _ = self.stream.get_ref().shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            self.buf.clear();
            match self.read_more(Phase::Writing, deadline, READ_CHUNK).await {
                Read::Data => dropped += self.buf.len(),
                Read::Closed | Read::TimedOut => return,
            }
        }
    }

    /// What the inspector shows for this connection in `phase`.
    fn render(&self, phase: Phase) -> impl Fn() -> String + Send + Sync + 'static {
        let (peer, served) = (self.peer, self.served);
        move || {
            format!(
                "peer: {peer}\nnow: {}\nrequests served: {served}",
                phase.describe()
            )
        }
    }
}

/// How a body read that failed is answered.
enum Answer {
    TimedOut,
    Refuse(u16, &'static str),
}

impl Answer {
    async fn send(self, conn: &mut Conn) {
        match self {
            Answer::TimedOut => conn.timed_out().await,
            Answer::Refuse(status, why) => conn.refuse(status, why).await,
        }
    }
}

/// Runs `fut`, answering the inspector's requests for this process's state meanwhile (a
/// connection gets no other messages).
async fn answering<T>(ctx: &Ctx, render: impl Fn() -> String, fut: impl Future<Output = T>) -> T {
    futures_lite::future::or(fut, async {
        loop {
            if let Received::StateRequest = ctx.recv_or_system().await {
                ctx.publish_state(render(), 0);
            }
        }
    })
    .await
}
