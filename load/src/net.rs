//! Connecting from a chosen loopback source address, waits with a deadline, and the kinds of
//! failure the summary counts.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use smol::{future, Async, Timer};

/// `f`, or `None` if it has not finished by `deadline`.
pub(crate) async fn until<T>(deadline: Instant, f: impl Future<Output = T>) -> Option<T> {
    future::or(async { Some(f.await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

/// Why one operation failed, as the summary names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Refused,
    TimedOut(&'static str),
    /// The server closed the WebSocket with this code and reason.
    Closed(u16, String),
    /// The connection ended without a close frame.
    Dropped,
    /// The upgrade was answered with this HTTP status instead of 101.
    Rejected(u16),
    Other(String),
}

impl Failure {
    pub fn kind(&self) -> String {
        match self {
            Failure::Refused => "refused".into(),
            Failure::TimedOut(what) => format!("timed out: {what}"),
            Failure::Closed(code, reason) if reason.is_empty() => {
                format!("closed with code {code}")
            }
            Failure::Closed(code, reason) => {
                format!("closed with code {code}: {}", short(reason))
            }
            Failure::Dropped => "connection dropped".into(),
            Failure::Rejected(status) => format!("upgrade refused with HTTP {status}"),
            Failure::Other(e) => short(e),
        }
    }

    pub fn io(e: &io::Error) -> Failure {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => Failure::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => Failure::Dropped,
            io::ErrorKind::TimedOut => Failure::TimedOut("socket"),
            _ => Failure::Other(format!("i/o error: {e}")),
        }
    }
}

/// Error kinds are map keys: keep them short and on one line.
fn short(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

/// A TCP connection to `addr`, from `source` when given (so many clients can spread over
/// several loopback addresses' ephemeral ports), finished by `deadline`.
pub(crate) async fn connect(
    source: Option<Ipv4Addr>,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<Async<TcpStream>, Failure> {
    use socket2::{Domain, Socket, Type};
    let other = |what: &str, e: io::Error| Failure::Other(format!("{what}: {e}"));
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .map_err(|e| other("socket", e))?;
    if let Some(src) = source {
        match sock.bind(&SocketAddr::new(IpAddr::V4(src), 0).into()) {
            Ok(()) => {}
            // Only 127.0.0.1 exists on some systems (macOS): connect from the default address.
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {}
            Err(e) => return Err(other(&format!("bind {src}"), e)),
        }
    }
    sock.set_nonblocking(true)
        .map_err(|e| other("nonblocking", e))?;
    sock.set_tcp_nodelay(true)
        .map_err(|e| other("nodelay", e))?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc_einprogress())
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(Failure::io(&e)),
    }
    let stream = Async::new(TcpStream::from(sock)).map_err(|e| other("register", e))?;
    match until(deadline, stream.writable()).await {
        None => return Err(Failure::TimedOut("connect")),
        Some(Err(e)) => return Err(Failure::io(&e)),
        Some(Ok(())) => {}
    }
    if let Some(e) = stream
        .get_ref()
        .take_error()
        .map_err(|e| other("connect", e))?
    {
        return Err(Failure::io(&e));
    }
    // A refused connect on some systems only shows on the first use of the socket.
    if let Err(e) = stream.get_ref().peer_addr() {
        return Err(match e.kind() {
            io::ErrorKind::NotConnected => Failure::Refused,
            _ => Failure::io(&e),
        });
    }
    Ok(stream)
}

/// `EINPROGRESS`: a non-blocking connect under way (Linux 115, the BSDs and macOS 36).
fn libc_einprogress() -> i32 {
    if cfg!(target_os = "linux") {
        115
    } else {
        36
    }
}

/// When a wait that starts now and may last `timeout` must end, capped by `cap`.
pub(crate) fn deadline(timeout: Duration, cap: Instant) -> Instant {
    (Instant::now() + timeout).min(cap)
}
