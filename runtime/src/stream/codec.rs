//! The bytes on the wire: the handshake (magic, version, token) and length-prefixed `postcard`
//! frames with a maximum size, checked before anything is allocated.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The first bytes of every connection, both ways.
pub const MAGIC: [u8; 6] = *b"CCOBSV";
/// The stream's version; an observer of another version is refused with an error frame.
pub const VERSION: u16 = 1;
/// The largest frame a node sends (a keyframe of 100,000 processes is about 6 MiB).
pub const MAX_FRAME: usize = 64 << 20;
/// The largest request an observer may send.
pub const MAX_REQUEST: usize = 64 << 10;
/// The longest token accepted.
pub const MAX_TOKEN: usize = 256;

/// What went wrong reading or writing the stream.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("the connection closed")]
    Closed,
    #[error("this is not a crashcourse observer stream (wrong magic bytes)")]
    BadMagic,
    #[error("a frame of {len} bytes is over the limit of {max}")]
    Oversized { len: usize, max: usize },
    #[error("a malformed frame: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What an observer says first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub version: u16,
    pub token: String,
}

/// Writes an observer's handshake: magic, version, token length and token.
pub fn write_handshake(w: &mut impl Write, version: u16, token: &str) -> Result<(), CodecError> {
    if token.len() > MAX_TOKEN {
        return Err(CodecError::Oversized {
            len: token.len(),
            max: MAX_TOKEN,
        });
    }
    let mut buf = Vec::with_capacity(10 + token.len());
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&version.to_le_bytes());
    buf.extend_from_slice(&(token.len() as u16).to_le_bytes());
    buf.extend_from_slice(token.as_bytes());
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads an observer's handshake, checking the magic and the token's length.
pub fn read_handshake(r: &mut impl Read) -> Result<Handshake, CodecError> {
    let mut head = [0u8; 10];
    read_exact(r, &mut head)?;
    if head[..6] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let version = u16::from_le_bytes([head[6], head[7]]);
    let len = u16::from_le_bytes([head[8], head[9]]) as usize;
    if len > MAX_TOKEN {
        return Err(CodecError::Oversized {
            len,
            max: MAX_TOKEN,
        });
    }
    let mut token = vec![0u8; len];
    read_exact(r, &mut token)?;
    let token = String::from_utf8(token)
        .map_err(|_| CodecError::Malformed("the token is not UTF-8".into()))?;
    Ok(Handshake { version, token })
}

/// Writes the node's answer to a handshake: magic and its version.
pub fn write_server_header(w: &mut impl Write) -> Result<(), CodecError> {
    let mut buf = [0u8; 8];
    buf[..6].copy_from_slice(&MAGIC);
    buf[6..].copy_from_slice(&VERSION.to_le_bytes());
    w.write_all(&buf)?;
    Ok(())
}

/// Reads the node's answer to a handshake: its version.
pub fn read_server_header(r: &mut impl Read) -> Result<u16, CodecError> {
    let mut buf = [0u8; 8];
    read_exact(r, &mut buf)?;
    if buf[..6] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    Ok(u16::from_le_bytes([buf[6], buf[7]]))
}

/// A value as one frame: its length (4 bytes, little-endian) and its `postcard` bytes.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut buf = postcard::to_extend(value, vec![0u8; 4])
        .map_err(|e| CodecError::Malformed(format!("could not encode: {e}")))?;
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(CodecError::Oversized {
            len,
            max: MAX_FRAME,
        });
    }
    buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(buf)
}

/// Decodes one frame's payload (without its length), which must be used up entirely.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(CodecError::Malformed(format!(
            "{} bytes left over after the frame",
            rest.len()
        ))),
        Err(e) => Err(CodecError::Malformed(e.to_string())),
    }
}

/// Reads one frame's payload of at most `max` bytes; [`CodecError::Closed`] at a clean end.
pub fn read_payload(r: &mut impl Read, max: usize) -> Result<Vec<u8>, CodecError> {
    let mut len = [0u8; 4];
    read_exact(r, &mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(CodecError::Oversized { len, max });
    }
    let mut payload = vec![0u8; len];
    read_exact(r, &mut payload).map_err(|e| match e {
        CodecError::Closed => CodecError::Malformed("the connection closed inside a frame".into()),
        e => e,
    })?;
    Ok(payload)
}

/// Reads and decodes one frame of at most `max` bytes.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max: usize) -> Result<T, CodecError> {
    decode(&read_payload(r, max)?)
}

/// Decodes the first frame in `bytes` (length prefix included): the value and the bytes used,
/// or `None` if more bytes are needed.
pub fn decode_prefixed<T: DeserializeOwned>(
    bytes: &[u8],
    max: usize,
) -> Result<Option<(T, usize)>, CodecError> {
    let Some(len) = bytes.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    if len > max {
        return Err(CodecError::Oversized { len, max });
    }
    match bytes.get(4..4 + len) {
        Some(payload) => Ok(Some((decode(payload)?, 4 + len))),
        None => Ok(None),
    }
}

/// `read_exact` that tells a clean end (no byte read) from a cut.
fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), CodecError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Err(CodecError::Closed),
            Ok(0) => {
                return Err(CodecError::Malformed(
                    "the connection closed in the middle of a frame".into(),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
