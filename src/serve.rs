//! `crashcourse serve`: the chat server without the window.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{db, Runtime, RuntimeConfig};

use crate::args;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (a warning is printed when it is not loopback).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTP port (0: any free port).
    #[arg(long, default_value_t = 4000)]
    http_port: u16,
    /// WebSocket port (0: any free port).
    #[arg(long, default_value_t = 4001)]
    ws_port: u16,
    /// HTTP handler threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    http_threads: u16,
    /// SQLite database file (default: the platform's data directory).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Database connections in the pool.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=256))]
    pool_size: u16,
    /// SQLite's synchronous setting: `normal` (WAL is fsynced at checkpoints; a power cut may
    /// lose the last commits, an application crash loses nothing acknowledged) or `full` (an
    /// fsync per commit: slower, nothing acknowledged is lost).
    #[arg(long, default_value = "normal")]
    synchronous: db::Synchronous,
    /// DBConnection queue_target.
    #[arg(long, default_value = "50ms", value_parser = args::duration)]
    queue_target: Duration,
    /// DBConnection queue_interval.
    #[arg(long, default_value = "2000ms", value_parser = args::duration)]
    queue_interval: Duration,
    /// Largest WebSocket frame accepted (larger closes the socket with 1009).
    #[arg(long, default_value = "64KiB", value_parser = args::size)]
    max_frame: usize,
    /// Pushes per second per client.
    #[arg(long, default_value = "100/s", value_parser = args::rate)]
    rate_limit: u32,
    /// Close a socket that sent nothing for this long.
    #[arg(long, default_value = "60s", value_parser = args::duration)]
    idle_timeout: Duration,
    /// Switch Presence off in rooms (the chat benchmark compares like for like with it off).
    #[arg(long)]
    no_presence: bool,
    /// Switch the history push after a join off.
    #[arg(long)]
    no_history: bool,
    /// Executor worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
}

impl ServeArgs {
    fn config(&self) -> ChatConfig {
        let mut c = ChatConfig::new(self.db.clone().unwrap_or_else(db::default_db_path));
        c.bind = self.bind;
        c.http_port = self.http_port;
        c.ws_port = self.ws_port;
        c.http_threads = self.http_threads.into();
        c.pool.pool_size = self.pool_size.into();
        c.pool.queue_target = self.queue_target;
        c.pool.queue_interval = self.queue_interval;
        c.pool.synchronous = self.synchronous;
        c.max_frame = self.max_frame;
        c.rate_limit = self.rate_limit;
        c.idle_timeout = self.idle_timeout;
        c.presence = !self.no_presence;
        c.history = !self.no_history;
        c
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: listening on {}, which is not a loopback address: other machines can reach this server",
            args.bind
        );
    }
    let config = args.config();
    if let Some(dir) = config.pool.path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("could not install the Ctrl-C handler")?;
    let rt = Runtime::start(RuntimeConfig::default().with_workers(args.workers.into()));
    let endpoint = Endpoint::start(&rt, config)?;
    eprintln!("{}", endpoint.storage().message());
    println!(
        "listening {} ws://{}/socket/websocket pid {}",
        endpoint.http_url(),
        endpoint.ws_addr(),
        std::process::id()
    );
    std::io::stdout().flush()?;
    let _ = stop_rx.recv();
    eprintln!("shutting down: closing sockets, draining the pool, closing the database");
    let clean = endpoint.shutdown(Duration::from_secs(10));
    drop(endpoint);
    drop(rt);
    if !clean {
        eprintln!("warning: the endpoint did not stop within 10 s");
    }
    Ok(())
}
