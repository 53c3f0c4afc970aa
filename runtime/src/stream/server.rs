//! The node's side of the stream: a loopback listener guarded by a token. Each attached
//! observer gets two OS threads (one reads its requests, one writes its outbox) rather than a
//! runtime process, because its requests block: a console query waits up to its timeout and a
//! fault switch waits for processes to stop, which must never happen on an executor worker.
//! Observers are few (at most `max_observers`), so the threads are bounded too.

use std::io::Write as _;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use super::codec::{
    encode, read_frame, read_handshake, write_server_header, CodecError, MAX_REQUEST, VERSION,
};
use super::commands::Executor;
use super::frames::{ErrorCode, Frame, Hello, Reply, Request, StreamError};
use super::outbox::Outbox;
use super::publisher::{item, Publisher};

/// Connections waiting for their handshake, beyond the attached observers, before new ones
/// are refused at once.
const PENDING_MAX: usize = 8;
/// How long a stuck write to an observer may block before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the observer listener is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// A loopback address (any other is refused); port 0 picks a free one.
    pub addr: SocketAddr,
    /// What an observer must present.
    pub token: String,
    /// Observers attached at once at most.
    pub max_observers: usize,
    /// Bytes queued for one observer at most before it is dropped as too slow.
    pub queue_bytes: usize,
    /// Time an observer has to send its handshake.
    pub handshake_timeout: Duration,
}

impl ServerConfig {
    /// Defaults around an address and a token.
    pub fn new(addr: SocketAddr, token: impl Into<String>) -> ServerConfig {
        ServerConfig {
            addr,
            token: token.into(),
            max_observers: 16,
            queue_bytes: 64 << 20,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// Why the listener did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the observer stream listens on loopback only (127.0.0.1 or ::1), not {0}: it lets whoever holds the token kill processes")]
    NotLoopback(SocketAddr),
    #[error("the observer token is empty or longer than {max} bytes", max = super::codec::MAX_TOKEN)]
    BadToken,
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not start the observer threads: {0}")]
    Thread(std::io::Error),
}

struct Shared {
    config: ServerConfig,
    publisher: Arc<Publisher>,
    executor: Executor,
    stop: AtomicBool,
    /// Attached observers.
    attached: AtomicUsize,
    /// Connections with a thread (attached or in their handshake).
    open: AtomicUsize,
    /// Open sockets, to close them on stop.
    conns: Mutex<Vec<(u64, TcpStream)>>,
    /// Outboxes of attached observers, to count the ones dropped as too slow.
    outboxes: Mutex<Vec<Arc<Outbox>>>,
    /// Observers dropped as too slow whose outbox is gone.
    slow_dropped: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The listening observer stream; [`stop`](Self::stop) (or dropping it) closes it and every
/// observer connection.
pub struct ObserverServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ObserverServer {
    /// Listens on `config.addr` (loopback only) and serves the publisher's stream.
    pub fn start(
        publisher: &Arc<Publisher>,
        config: ServerConfig,
    ) -> Result<ObserverServer, ServerError> {
        if !config.addr.ip().is_loopback() {
            return Err(ServerError::NotLoopback(config.addr));
        }
        if config.token.is_empty() || config.token.len() > super::codec::MAX_TOKEN {
            return Err(ServerError::BadToken);
        }
        let listener = TcpListener::bind(config.addr).map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        let executor = Executor::new(publisher.handle(), publisher.config().chat.clone());
        let shared = Arc::new(Shared {
            config,
            publisher: publisher.clone(),
            executor,
            stop: AtomicBool::new(false),
            attached: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            outboxes: Mutex::new(Vec::new()),
            slow_dropped: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("observer accept".into())
                .spawn(move || accept(&shared, listener))
                .map_err(ServerError::Thread)?
        };
        Ok(ObserverServer {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Observers attached now.
    pub fn attached(&self) -> usize {
        self.shared.attached.load(Ordering::Relaxed)
    }

    /// Observers dropped so far because they read too slowly.
    pub fn dropped_slow(&self) -> usize {
        let now = self
            .shared
            .outboxes
            .lock()
            .iter()
            .filter(|o| o.overflowed())
            .count();
        now + self.shared.slow_dropped.load(Ordering::SeqCst)
    }

    /// Closes the listener and every connection, and waits for their threads.
    pub fn stop(&mut self) {
        if self.shared.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, s) in self.shared.conns.lock().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for ObserverServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept(shared: &Arc<Shared>, listener: TcpListener) {
    let mut next_id = 0u64;
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, most likely: back off rather than spin.
                tracing::warn!("observer stream: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if shared.open.load(Ordering::SeqCst) >= shared.config.max_observers + PENDING_MAX {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            refuse(
                &stream,
                ErrorCode::Busy,
                format!(
                    "too many observers: at most {} attach at once",
                    shared.config.max_observers
                ),
            );
            continue;
        }
        next_id += 1;
        let id = next_id;
        shared.open.fetch_add(1, Ordering::SeqCst);
        let spawned = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("observer conn".into())
                .spawn(move || {
                    connection(&shared, id, stream);
                    shared.conns.lock().retain(|(i, _)| *i != id);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                })
        };
        match spawned {
            Ok(t) => {
                let mut threads = shared.threads.lock();
                threads.retain(|t| !t.is_finished());
                threads.push(t);
            }
            Err(e) => {
                shared.open.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!("observer stream: could not start a connection thread: {e}");
            }
        }
    }
}

/// Answers the handshake with the node's header and one error frame, and closes.
fn refuse(mut stream: &TcpStream, code: ErrorCode, message: String) {
    tracing::info!("observer refused: {message}");
    let _ = write_server_header(&mut stream);
    if let Ok(bytes) = encode(&Frame::Error(StreamError { code, message })) {
        let _ = stream.write_all(&bytes);
    }
    let _ = stream.flush();
    linger_close(stream);
}

/// Closes our side, then reads (briefly, a bounded amount) what the peer still sends, so the
/// close is not a reset that could destroy the error frame before the peer reads it.
fn linger_close(mut stream: &TcpStream) {
    use std::io::Read as _;
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4096];
    let mut left = 256 << 10;
    while left > 0 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left -= n.min(left),
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Whether two tokens match, in time that does not depend on where they differ.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= (*x ^ a.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

fn connection(shared: &Arc<Shared>, id: u64, stream: TcpStream) {
    let config = &shared.config;
    let _ = stream.set_read_timeout(Some(config.handshake_timeout));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let hs = match read_handshake(&mut &stream) {
        Ok(h) => h,
        Err(CodecError::Closed) => return,
        Err(CodecError::BadMagic) => {
            return refuse(
                &stream,
                ErrorCode::BadMagic,
                "this is a crashcourse observer stream: connect with `crashcourse console \
                 --attach` or `crashcourse attach`"
                    .into(),
            )
        }
        Err(CodecError::Oversized { len, max }) => {
            return refuse(
                &stream,
                ErrorCode::Oversized,
                format!("a token of {len} bytes is over the limit of {max}"),
            )
        }
        Err(CodecError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return refuse(
                &stream,
                ErrorCode::Timeout,
                format!(
                    "no handshake within {} s",
                    config.handshake_timeout.as_secs_f64()
                ),
            )
        }
        Err(e) => return refuse(&stream, ErrorCode::Malformed, format!("bad handshake: {e}")),
    };
    if hs.version != VERSION {
        return refuse(
            &stream,
            ErrorCode::BadVersion,
            format!(
                "this node speaks version {VERSION} of the observer stream, the observer version {}",
                hs.version
            ),
        );
    }
    if !token_matches(&hs.token, &config.token) {
        return refuse(&stream, ErrorCode::BadToken, "wrong observer token".into());
    }
    if shared.attached.fetch_add(1, Ordering::SeqCst) >= config.max_observers {
        shared.attached.fetch_sub(1, Ordering::SeqCst);
        return refuse(
            &stream,
            ErrorCode::Busy,
            format!(
                "too many observers: at most {} attach at once",
                config.max_observers
            ),
        );
    }
    attached(shared, id, stream);
    shared.attached.fetch_sub(1, Ordering::SeqCst);
}

/// Serves one attached observer until it leaves, misbehaves, falls behind or the node stops.
fn attached(shared: &Arc<Shared>, id: u64, stream: TcpStream) {
    let publisher = &shared.publisher;
    let (Ok(mut write_half), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    if write_server_header(&mut write_half).is_err() {
        return;
    }
    shared.conns.lock().push((id, registered));
    if shared.stop.load(Ordering::SeqCst) {
        return;
    }
    let outbox = Outbox::new(shared.config.queue_bytes);
    let hello = Frame::Hello(Hello {
        version: VERSION,
        node: publisher.config().node.clone(),
        os_pid: std::process::id(),
        tick_us: publisher.config().tick.as_micros() as u64,
    });
    if let Some(hello) = item(publisher.now_us(), &hello) {
        outbox.push(hello, || None);
    }
    let writer = {
        let outbox = outbox.clone();
        std::thread::Builder::new()
            .name("observer write".into())
            .spawn(move || {
                loop {
                    match outbox.pop(Duration::from_secs(1)) {
                        Ok(Some(item)) => {
                            if write_half.write_all(&item.bytes).is_err() {
                                outbox.abort();
                                break;
                            }
                        }
                        Ok(None) => {}
                        Err(()) => break,
                    }
                }
                let _ = write_half.flush();
                // Cut off (too slow, or the write failed): wake the reader too. Otherwise the
                // reader half lingers and closes.
                let how = if outbox.overflowed() {
                    Shutdown::Both
                } else {
                    Shutdown::Write
                };
                let _ = write_half.shutdown(how);
            })
    };
    let Ok(writer) = writer else {
        return;
    };
    shared.outboxes.lock().push(outbox.clone());
    publisher.subscribe(outbox.clone(), None);
    let _ = stream.set_read_timeout(None);
    let mut reader = std::io::BufReader::new(&stream);
    loop {
        match read_frame::<Request>(&mut reader, MAX_REQUEST) {
            Ok(request) => {
                let outcome = shared.executor.run(&request.command);
                let reply = Frame::Reply(Reply {
                    id: request.id,
                    outcome,
                });
                if let Some(reply) = item(publisher.now_us(), &reply) {
                    if !outbox.push(reply, || None) {
                        break;
                    }
                }
            }
            Err(CodecError::Closed) | Err(CodecError::Io(_)) => break,
            Err(e) => {
                let code = match e {
                    CodecError::Oversized { .. } => ErrorCode::Oversized,
                    _ => ErrorCode::Malformed,
                };
                tracing::info!("observer dropped: {e}");
                let error = Frame::Error(StreamError {
                    code,
                    message: format!("{e}; the connection is closed"),
                });
                if let Some(error) = item(publisher.now_us(), &error) {
                    outbox.push_last(error);
                }
                break;
            }
        }
    }
    outbox.close();
    let _ = writer.join();
    {
        let mut outboxes = shared.outboxes.lock();
        outboxes.retain(|o| !Arc::ptr_eq(o, &outbox));
        if outbox.overflowed() {
            shared.slow_dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
    linger_close(&stream);
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abd", "abc"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("abcd", "abc"));
        assert!(!token_matches("", "abc"));
    }
}
