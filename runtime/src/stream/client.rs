//! The observer's side of the stream: connect with a token, read frames, send requests and
//! wait for their replies. Blocking, for a terminal or a reader thread.

use std::io::{BufReader, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::codec::{
    encode, read_frame, read_server_header, write_handshake, CodecError, MAX_FRAME, VERSION,
};
use super::frames::{Command, Frame, Hello, Outcome, Request, StreamError};

/// Why talking to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not connect to {addr}: {error}")]
    Connect { addr: String, error: std::io::Error },
    #[error("the node refused: {0}")]
    Refused(StreamError),
    #[error("the node dropped this observer: {0}")]
    Dropped(StreamError),
    #[error("the node is closing: {0}")]
    Closing(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the node sent something unexpected: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// One connection to a node's observer stream.
pub struct ObserverClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    hello: Hello,
    next_id: u64,
}

impl ObserverClient {
    /// Connects to `addr` (`HOST:PORT`), presents `token` and reads the node's `Hello`.
    pub fn connect(
        addr: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<ObserverClient, ClientError> {
        let connect_err = |error| ClientError::Connect {
            addr: addr.to_string(),
            error,
        };
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(connect_err)?.collect();
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_err(last))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(timeout))
            .map_err(CodecError::from)?;
        let mut writer = stream.try_clone().map_err(CodecError::from)?;
        write_handshake(&mut writer, VERSION, token)?;
        let mut reader = BufReader::new(stream);
        let version = read_server_header(&mut reader)?;
        // Whatever its version, the node's first frame is `Error` or `Hello` (variants 0 and 1
        // in every version), so a refusal can always be read.
        let first: Frame = match read_frame(&mut reader, MAX_FRAME) {
            Ok(f) => f,
            Err(e) if version != VERSION => {
                return Err(ClientError::Unexpected(format!(
                    "the node speaks version {version} of the stream, this observer {VERSION} ({e})"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let hello = match first {
            Frame::Hello(h) => h,
            Frame::Error(e) => return Err(ClientError::Refused(e)),
            other => {
                return Err(ClientError::Unexpected(format!(
                    "a {} frame before hello",
                    other.name()
                )))
            }
        };
        reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(CodecError::from)?;
        Ok(ObserverClient {
            reader,
            writer,
            hello,
            next_id: 1,
        })
    }

    /// Who the node said it is.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// How long [`next_frame`](Self::next_frame) waits at most (`None`: for ever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| CodecError::from(e).into())
    }

    /// The next frame, as sent (errors and `Closing` included).
    pub fn next_frame(&mut self) -> Result<Frame, ClientError> {
        Ok(read_frame(&mut self.reader, MAX_FRAME)?)
    }

    /// Sends a command; its reply will carry the returned number.
    pub fn send(&mut self, command: Command) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = encode(&Request { id, command })?;
        self.writer.write_all(&bytes).map_err(CodecError::from)?;
        Ok(id)
    }

    /// Sends raw bytes (tests use it to misbehave).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.writer.write_all(bytes).map_err(CodecError::from)?;
        Ok(())
    }

    /// Sends a command and waits up to `timeout` for its reply, passing over the stream's
    /// other frames.
    pub fn request(&mut self, command: Command, timeout: Duration) -> Result<Outcome, ClientError> {
        let id = self.send(command)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(timeout));
            }
            self.set_timeout(Some(left))?;
            let frame = match self.next_frame() {
                Ok(f) => f,
                Err(ClientError::Codec(CodecError::Io(e)))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ClientError::Timeout(timeout))
                }
                Err(e) => return Err(e),
            };
            match frame {
                Frame::Reply(r) if r.id == id => {
                    self.set_timeout(None)?;
                    return Ok(r.outcome);
                }
                Frame::Error(e) => return Err(ClientError::Dropped(e)),
                Frame::Closing { reason } => return Err(ClientError::Closing(reason)),
                _ => {}
            }
        }
    }
}
