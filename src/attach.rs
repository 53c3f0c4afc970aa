//! Making a `serve` node observable: `--observer 127.0.0.1:PORT` opens the observer stream on
//! loopback behind a token (random and printed, or read from `--observer-token-file`), and
//! `--record FILE` writes the same stream to a file of bounded size (`--record-max`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use crashcourse_runtime::chat::Endpoint;
use crashcourse_runtime::stream::{
    self, ObserverServer, Publisher, PublisherConfig, RecordConfig, Recorder, ServerConfig,
};
use crashcourse_runtime::Handle;

/// The observer stream's flags of `crashcourse serve`.
#[derive(Args, Debug, Clone)]
pub struct StreamArgs {
    /// Open the observer stream on this loopback address (e.g. 127.0.0.1:4002; port 0: any free
    /// port) for `crashcourse console --attach`; a random token is printed unless
    /// `--observer-token-file` gives one.
    #[arg(long, value_name = "ADDR", value_parser = loopback_addr)]
    observer: Option<SocketAddr>,
    /// Read the observer token from this file (its first line) instead of making one up.
    #[arg(long, value_name = "FILE", requires = "observer")]
    observer_token_file: Option<PathBuf>,
    /// Record the observer stream to this file (timestamped, a keyframe every 5 s).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// The recording's size at most, in megabytes; it stops at the bound and says so.
    #[arg(long, value_name = "MB", default_value_t = 100, requires = "record",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    record_max: u64,
}

/// Parses `--observer`: a socket address on loopback, refused otherwise before anything starts.
fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|e| format!("{e} (expected e.g. 127.0.0.1:4002)"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "the observer stream listens on loopback only (127.0.0.1 or [::1]), not {}, \
             because whoever holds the token can kill processes",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// The running stream of a `serve` node; dropping it closes observers and ends the recording
/// (printing what was recorded).
pub struct NodeStream {
    server: Option<ObserverServer>,
    recorder: Option<Recorder>,
    publisher: Option<Arc<Publisher>>,
}

impl Drop for NodeStream {
    fn drop(&mut self) {
        if let Some(p) = &self.publisher {
            p.stop();
        }
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
        if let Some(mut r) = self.recorder.take() {
            let status = r.stop();
            let how = match &status.stopped {
                Some(why) => format!(" (stopped early: {why})"),
                None => String::new(),
            };
            println!(
                "recorded {} frames, {} bytes to {}{how}",
                status.frames,
                status.bytes,
                r.path().display()
            );
        }
    }
}

/// Reads the token from `path`: its first line, trimmed, not empty.
fn token_from_file(path: &PathBuf) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the observer token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        bail!("the observer token file {} is empty", path.display());
    }
    if token.len() > stream::codec::MAX_TOKEN {
        bail!(
            "the observer token in {} is longer than {} bytes",
            path.display(),
            stream::codec::MAX_TOKEN
        );
    }
    Ok(token)
}

/// Starts what the flags ask for (nothing without `--observer` or `--record`), printing the
/// observer's address and token, and where it records.
pub fn start(handle: &Handle, endpoint: &Endpoint, args: &StreamArgs) -> Result<NodeStream> {
    let mut node = NodeStream {
        server: None,
        recorder: None,
        publisher: None,
    };
    if args.observer.is_none() && args.record.is_none() {
        return Ok(node);
    }
    let token = match &args.observer_token_file {
        Some(path) => token_from_file(path)?,
        None => stream::random_token(),
    };
    let publisher = Publisher::start(
        handle,
        PublisherConfig {
            chat: Some((endpoint.metrics().clone(), endpoint.pool().clone())),
            node: format!("crashcourse serve (pid {})", std::process::id()),
            ..PublisherConfig::default()
        },
    )
    .context("could not start the observer stream")?;
    node.publisher = Some(publisher.clone());
    let mut out = std::io::stdout().lock();
    if let Some(addr) = args.observer {
        let server = ObserverServer::start(&publisher, ServerConfig::new(addr, token.clone()))?;
        tracing::info!(addr = %server.local_addr(), "observer stream open");
        if let Some(file) = &args.observer_token_file {
            writeln!(
                out,
                "observer {} token-file {}",
                server.local_addr(),
                file.display()
            )?;
        } else {
            writeln!(out, "observer {} token {token}", server.local_addr())?;
        }
        node.server = Some(server);
    }
    if let Some(path) = &args.record {
        let max = args.record_max.saturating_mul(1_000_000);
        let recorder = Recorder::start(&publisher, RecordConfig::new(path, max))
            .with_context(|| format!("could not record to {}", path.display()))?;
        writeln!(
            out,
            "recording {} (at most {} MB)",
            path.display(),
            args.record_max
        )?;
        node.recorder = Some(recorder);
    }
    out.flush()?;
    Ok(node)
}
