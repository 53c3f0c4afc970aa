//! The observer stream: what the app reads from a runtime (process table, events, metrics,
//! chat and pool figures), as versioned `postcard` frames over loopback TCP or into a
//! recording, and the commands that go the other way.
//!
//! - [`frames`]: the wire types ([`Frame`] node → observer, [`Request`] observer → node);
//! - [`codec`]: the handshake (magic, version, token) and length-prefixed, size-bounded frames;
//! - [`Publisher`]: reads the runtime once per tick for every subscriber;
//! - [`ObserverServer`] / [`ObserverClient`]: the node's listener and an observer's connection;
//! - [`Recorder`] / [`Recording`]: the stream to a bounded file, and reading it back;
//! - [`StreamState`]: the view an observer rebuilds from the frames (attached or replayed).

mod client;
pub mod codec;
mod commands;
pub mod frames;
mod outbox;
mod publisher;
mod recording;
mod server;
mod state;

pub use client::{ClientError, ObserverClient};
pub use codec::{CodecError, MAX_FRAME, MAX_REQUEST, VERSION};
pub use frames::{Command, ErrorCode, Frame, Outcome, Request, StreamError};
pub use publisher::{Publisher, PublisherConfig};
pub use recording::{RecordConfig, RecordStatus, Recorder, Recording, RecordingError};
pub use server::{ObserverServer, ServerConfig, ServerError};
pub use state::{StreamState, EVENTS_KEPT};

/// A fresh random token (128 bits, hex) for guarding an observer listener.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if from_os.is_err() {
        // No /dev/urandom: std's per-process random hash keys, mixed with the time.
        use std::hash::{BuildHasher, Hasher};
        for chunk in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
