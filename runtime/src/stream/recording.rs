//! Recordings: the stream, timestamped, in a file of bounded size ([`Recorder`]), and reading
//! one back ([`Recording`]): every frame in order, or the node's state at any instant, found
//! from the keyframe before it (one every few seconds) rather than from the start.
//!
//! The file: a 16-byte header (magic `CCOREC`, the stream version as u16, the wall-clock start
//! in Unix milliseconds as u64), then records of `len: u32, at_us: u64, flags: u8` (1: a
//! keyframe) and `len` bytes of one `postcard` [`Frame`], all little-endian. A record cut short
//! (the node died while writing) ends the recording; everything before it reads.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::codec::{decode, CodecError, MAX_FRAME, VERSION};
use super::frames::Frame;
use super::outbox::Outbox;
use super::publisher::Publisher;
use super::state::StreamState;

/// The first bytes of a recording.
pub const RECORDING_MAGIC: [u8; 6] = *b"CCOREC";
const HEADER: usize = 16;
const RECORD_HEADER: usize = 13;
const KEYFRAME: u8 = 1;

/// What to record where.
#[derive(Clone, Debug)]
pub struct RecordConfig {
    pub path: PathBuf,
    /// The file's size at most; recording stops (and says so) before going over it.
    pub max_bytes: u64,
    /// A keyframe this often, so that seeking reads a few seconds of frames at most.
    pub keyframe_every: Duration,
}

impl RecordConfig {
    /// Records to `path`, at most `max_bytes`, a keyframe every 5 s.
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64) -> RecordConfig {
        RecordConfig {
            path: path.into(),
            max_bytes,
            keyframe_every: Duration::from_secs(5),
        }
    }
}

/// How a recording is going.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordStatus {
    pub frames: u64,
    /// The file's size so far.
    pub bytes: u64,
    /// It stopped at its bound.
    pub full: bool,
    /// Why it stopped, if it did before being asked to.
    pub stopped: Option<String>,
}

/// Writes the publisher's stream to a file until stopped or full.
pub struct Recorder {
    path: PathBuf,
    status: Arc<Mutex<RecordStatus>>,
    outbox: Arc<Outbox>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Creates (or truncates) the file and starts recording.
    pub fn start(publisher: &Arc<Publisher>, config: RecordConfig) -> std::io::Result<Recorder> {
        if config.max_bytes < (HEADER + RECORD_HEADER) as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the recording bound is too small to hold anything",
            ));
        }
        let mut file = BufWriter::new(File::create(&config.path)?);
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        file.write_all(&RECORDING_MAGIC)?;
        file.write_all(&VERSION.to_le_bytes())?;
        file.write_all(&started.to_le_bytes())?;
        file.flush()?;
        let status = Arc::new(Mutex::new(RecordStatus {
            bytes: HEADER as u64,
            ..RecordStatus::default()
        }));
        let outbox = Outbox::new(256 << 20);
        let thread = {
            let (status, outbox, path) = (status.clone(), outbox.clone(), config.path.clone());
            let max = config.max_bytes;
            std::thread::Builder::new()
                .name("crashcourse record".into())
                .spawn(move || write_loop(file, &outbox, &status, max, &path))?
        };
        publisher.subscribe(outbox.clone(), Some(config.keyframe_every));
        Ok(Recorder {
            path: config.path,
            status,
            outbox,
            thread: Some(thread),
        })
    }

    /// Where it records.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames and bytes so far, and whether it stopped.
    pub fn status(&self) -> RecordStatus {
        self.status.lock().clone()
    }

    /// Stops after writing what is queued; the final status.
    pub fn stop(&mut self) -> RecordStatus {
        self.outbox.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.status()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(
    mut file: BufWriter<File>,
    outbox: &Outbox,
    status: &Mutex<RecordStatus>,
    max: u64,
    path: &Path,
) {
    let stop = |why: String, full: bool| {
        tracing::warn!("recording {} stopped: {why}", path.display());
        let mut st = status.lock();
        st.full = full;
        st.stopped = Some(why);
    };
    loop {
        let item = match outbox.pop(Duration::from_secs(1)) {
            Ok(Some(item)) => item,
            Ok(None) => continue,
            Err(()) => {
                if outbox.overflowed() {
                    stop("the disk did not keep up with the stream".into(), false);
                }
                break;
            }
        };
        let payload = &item.bytes[4..];
        let size = (RECORD_HEADER + payload.len()) as u64;
        let bytes = status.lock().bytes;
        if bytes + size > max {
            outbox.abort();
            stop(
                format!(
                    "it reached its bound of {:.1} MB ({} bytes)",
                    max as f64 / 1e6,
                    bytes
                ),
                true,
            );
            break;
        }
        let mut head = [0u8; RECORD_HEADER];
        head[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[4..12].copy_from_slice(&item.at_us.to_le_bytes());
        head[12] = if item.keyframe { KEYFRAME } else { 0 };
        let written = file
            .write_all(&head)
            .and_then(|()| file.write_all(payload))
            .and_then(|()| file.flush());
        if let Err(e) = written {
            outbox.abort();
            stop(format!("could not write: {e}"), false);
            break;
        }
        let mut st = status.lock();
        st.bytes += size;
        st.frames += 1;
    }
    let _ = file.flush();
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: not a crashcourse recording")]
    NotARecording(String),
    #[error("{path}: recorded with version {version} of the stream; this build reads {VERSION}")]
    Version { path: String, version: u16 },
    #[error("{path}: a bad frame at byte {offset}: {source}")]
    BadFrame {
        path: String,
        offset: u64,
        source: CodecError,
    },
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u64,
    len: u32,
    at_us: u64,
    keyframe: bool,
}

/// A recording opened for reading: an index of its frames, read from disk on demand.
pub struct Recording {
    path: String,
    file: BufReader<File>,
    index: Vec<Entry>,
    started_unix_ms: u64,
    cut_short: bool,
}

impl Recording {
    /// Opens `path` and indexes its frames (reading their headers only).
    pub fn open(path: impl AsRef<Path>) -> Result<Recording, RecordingError> {
        let name = path.as_ref().display().to_string();
        let io = |source| RecordingError::Io {
            path: name.clone(),
            source,
        };
        let file = File::open(path.as_ref()).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let mut file = BufReader::new(file);
        let mut header = [0u8; HEADER];
        if file.read_exact(&mut header).is_err() || header[..6] != RECORDING_MAGIC {
            return Err(RecordingError::NotARecording(name));
        }
        let version = u16::from_le_bytes([header[6], header[7]]);
        if version != VERSION {
            return Err(RecordingError::Version {
                path: name,
                version,
            });
        }
        let mut started = [0u8; 8];
        started.copy_from_slice(&header[8..16]);
        let mut index = Vec::new();
        let mut offset = HEADER as u64;
        let mut cut_short = false;
        loop {
            if offset == size {
                break;
            }
            let mut head = [0u8; RECORD_HEADER];
            if offset + RECORD_HEADER as u64 > size || file.read_exact(&mut head).is_err() {
                cut_short = true;
                break;
            }
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let mut at = [0u8; 8];
            at.copy_from_slice(&head[4..12]);
            let end = offset + RECORD_HEADER as u64 + len as u64;
            if len as usize > MAX_FRAME || end > size {
                cut_short = true;
                break;
            }
            index.push(Entry {
                offset,
                len,
                at_us: u64::from_le_bytes(at),
                keyframe: head[12] & KEYFRAME != 0,
            });
            file.seek_relative(len as i64).map_err(io)?;
            offset = end;
        }
        Ok(Recording {
            path: name,
            file,
            index,
            started_unix_ms: u64::from_le_bytes(started),
            cut_short,
        })
    }

    /// Frames in it.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Keyframes in it.
    pub fn keyframes(&self) -> usize {
        self.index.iter().filter(|e| e.keyframe).count()
    }

    /// The first and last frame's time (since the node's runtime started).
    pub fn span(&self) -> Option<(Duration, Duration)> {
        let first = self.index.first()?;
        let last = self.index.last()?;
        Some((
            Duration::from_micros(first.at_us),
            Duration::from_micros(last.at_us),
        ))
    }

    /// When recording started, in Unix milliseconds.
    pub fn started_unix_ms(&self) -> u64 {
        self.started_unix_ms
    }

    /// Whether the last record was cut short (it is left out).
    pub fn cut_short(&self) -> bool {
        self.cut_short
    }

    /// Frame `i` and its time (since the node's runtime started).
    pub fn frame(&mut self, i: usize) -> Result<(Duration, Frame), RecordingError> {
        let Some(e) = self.index.get(i).copied() else {
            return Err(RecordingError::BadFrame {
                path: self.path.clone(),
                offset: 0,
                source: CodecError::Malformed(format!("no frame {i}")),
            });
        };
        let io = |source| RecordingError::Io {
            path: self.path.clone(),
            source,
        };
        self.file
            .seek(SeekFrom::Start(e.offset + RECORD_HEADER as u64))
            .map_err(io)?;
        let mut payload = vec![0u8; e.len as usize];
        self.file.read_exact(&mut payload).map_err(io)?;
        let frame = decode(&payload).map_err(|source| RecordingError::BadFrame {
            path: self.path.clone(),
            offset: e.offset,
            source,
        })?;
        Ok((Duration::from_micros(e.at_us), frame))
    }

    /// Every frame in order.
    pub fn frames(
        &mut self,
    ) -> impl Iterator<Item = Result<(Duration, Frame), RecordingError>> + '_ {
        (0..self.index.len()).map(move |i| self.frame(i))
    }

    /// The node's state at `at` (time since its runtime started): the last keyframe at or
    /// before it, then every frame up to it. Before the first keyframe, the state is not whole.
    pub fn state_at(&mut self, at: Duration) -> Result<StreamState, RecordingError> {
        let at_us = at.as_micros() as u64;
        let upto = self.index.partition_point(|e| e.at_us <= at_us);
        let start = self.index[..upto]
            .iter()
            .rposition(|e| e.keyframe)
            .unwrap_or(0);
        let mut state = StreamState::default();
        for i in start..upto {
            let (_, frame) = self.frame(i)?;
            state.apply(&frame);
        }
        Ok(state)
    }
}
