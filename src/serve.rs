//! `crashcourse serve`: the chat server without the window. It logs (through `tracing`, level
//! from `RUST_LOG`) its start and stop, and what the runtime's event stream says about
//! supervision: supervisors starting and stopping, restarts, intensity exceeded, escalations.
//! With `--chaos` it also kills random processes of the chosen kinds for a while, and prints
//! what it killed when that ends.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::observe::EventKind;
use crashcourse_runtime::{
    db, ChaosPlan, ChaosReport, Faults, Handle, Kind, Pid, Runtime, RuntimeConfig,
};

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
    /// Threads of the fixed pool behind /api/slow (the "typical stack" the thread-pool lesson
    /// compares with processes; every other request is served by a process per connection).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    http_threads: u16,
    /// Time an HTTP client has to send a request's head (then its body); past it: 408, closed.
    #[arg(long, default_value = "10s", value_parser = args::positive_duration)]
    http_header_timeout: Duration,
    /// Time an idle HTTP keep-alive connection waits for its next request.
    #[arg(long, default_value = "60s", value_parser = args::positive_duration)]
    http_keepalive_timeout: Duration,
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
    /// Above this many members a room sends a count and the latest joins and leaves
    /// (`presence_summary`) instead of the whole member map; the page then shows "n here".
    #[arg(long, default_value_t = 1000)]
    presence_full_until: usize,
    /// Switch the history push after a join off.
    #[arg(long)]
    no_history: bool,
    /// Executor worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Chaos: kill random processes of `--chaos-kinds` at this rate (e.g. `50/s`) once the
    /// server is up, for `--chaos-for`; what it killed is printed when it ends.
    #[arg(long, value_parser = args::kill_rate)]
    chaos: Option<f64>,
    /// How long chaos runs.
    #[arg(long, default_value = "10s", value_parser = args::positive_duration, requires = "chaos")]
    chaos_for: Duration,
    /// The kinds chaos picks from, as the process table names them, `_` for a space.
    #[arg(
        long,
        default_value = "channel,room,socket,pool_connection",
        value_parser = args::kinds,
        requires = "chaos"
    )]
    // Spelled out so that clap takes the whole list from one value.
    chaos_kinds: ::std::vec::Vec<Kind>,
    #[command(flatten)]
    stream: crate::attach::StreamArgs,
}

impl ServeArgs {
    fn config(&self) -> ChatConfig {
        let mut c = ChatConfig::new(self.db.clone().unwrap_or_else(db::default_db_path));
        c.bind = self.bind;
        c.http_port = self.http_port;
        c.ws_port = self.ws_port;
        c.http_threads = self.http_threads.into();
        c.http_header_timeout = self.http_header_timeout;
        c.http_keepalive_timeout = self.http_keepalive_timeout;
        c.pool.pool_size = self.pool_size.into();
        c.pool.queue_target = self.queue_target;
        c.pool.queue_interval = self.queue_interval;
        c.pool.synchronous = self.synchronous;
        c.max_frame = self.max_frame;
        c.rate_limit = self.rate_limit;
        c.idle_timeout = self.idle_timeout;
        c.presence = !self.no_presence;
        c.history = !self.no_history;
        c.presence_full_until = self.presence_full_until;
        c
    }
}

pub fn run(args: ServeArgs) -> Result<()> {
    if !args.bind.is_loopback() {
        tracing::warn!(
            "listening on {}, which is not a loopback address: other machines can reach this server",
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
    let (log_stop, log_stopped) = mpsc::channel();
    let logger = log_supervision(rt.handle(), log_stopped)?;
    let endpoint = Endpoint::start(&rt, config)?;
    tracing::info!("{}", endpoint.storage().message());
    tracing::info!(
        http = %endpoint.http_url(),
        ws = %endpoint.ws_addr(),
        "chat server started"
    );
    println!(
        "listening {} ws://{}/socket/websocket pid {}",
        endpoint.http_url(),
        endpoint.ws_addr(),
        std::process::id()
    );
    std::io::stdout().flush()?;
    let node_stream = crate::attach::start(&rt, &endpoint, &args.stream)?;
    let chaos = match args.chaos {
        Some(per_second) => {
            let plan = ChaosPlan {
                per_second,
                duration: args.chaos_for,
                kinds: args.chaos_kinds.clone(),
                seed: None,
            };
            Some(start_chaos(&rt, endpoint.pool().clone(), plan)?)
        }
        None => None,
    };
    let _ = stop_rx.recv();
    if let Some((faults, printer)) = chaos {
        faults.stop_chaos();
        let _ = printer.join();
    }
    tracing::info!("shutting down: closing sockets, draining the pool, closing the database");
    let clean = endpoint.shutdown(Duration::from_secs(10));
    drop(endpoint);
    drop(node_stream);
    // The last events (the tree stopping) are read before the runtime goes.
    let _ = log_stop.send(());
    let _ = logger.join();
    drop(rt);
    if clean {
        tracing::info!("chat server stopped");
    } else {
        tracing::warn!("the endpoint did not stop within 10 s");
    }
    Ok(())
}

/// Starts chaos and a thread that prints its report once it ends (by itself or stopped).
fn start_chaos(rt: &Runtime, pool: db::Pool, plan: ChaosPlan) -> Result<(Faults, JoinHandle<()>)> {
    let faults = Faults::with_pool(rt, pool);
    faults.start_chaos(plan)?;
    let waiting = faults.clone();
    let printer = std::thread::Builder::new()
        .name("serve chaos".into())
        .spawn(move || loop {
            if let Some(report) = waiting.wait_chaos(Duration::from_secs(1)) {
                print_chaos(&report);
                return;
            }
        })
        .context("could not start the chaos thread")?;
    Ok((faults, printer))
}

/// One line per kind chaos picked from, then the total: `chaos killed socket 120`.
fn print_chaos(report: &ChaosReport) {
    let mut out = std::io::stdout().lock();
    for (kind, n) in &report.killed {
        let _ = writeln!(out, "chaos killed {} {n}", kind.name().replace(' ', "_"));
    }
    let _ = writeln!(
        out,
        "chaos killed total {} missed {} in {:.1}s",
        report.killed_total,
        report.missed,
        report.elapsed.as_secs_f64()
    );
    let _ = out.flush();
}

/// How often the log thread reads the event stream.
const LOG_EVERY: Duration = Duration::from_millis(100);
/// Events read per pass.
const LOG_BATCH: usize = 10_000;

/// Starts a thread that reads the runtime's event stream and logs supervision at info level
/// (supervisors starting and stopping, restarts, intensity, escalations) and other abnormal
/// exits at debug level, so the volume stays bounded by the tree, not by the traffic. It reads
/// a last time and ends when `stop` hears or hangs up.
fn log_supervision(handle: Handle, stop: mpsc::Receiver<()>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("serve log".into())
        .spawn(move || {
            let mut reader = handle.events_from_start();
            let mut supervisors: HashMap<Pid, Arc<str>> = HashMap::new();
            let mut dropped = 0;
            loop {
                let stopping = !matches!(
                    stop.recv_timeout(LOG_EVERY),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                loop {
                    let events = handle.read_events(&mut reader, LOG_BATCH);
                    for event in &events {
                        log_event(&mut supervisors, event.pid, &event.kind);
                    }
                    if events.len() < LOG_BATCH {
                        break;
                    }
                }
                if reader.dropped() > dropped {
                    tracing::warn!(
                        lost = reader.dropped() - dropped,
                        "runtime events went by faster than the log read them"
                    );
                    dropped = reader.dropped();
                }
                if stopping {
                    return;
                }
            }
        })
        .context("could not start the log thread")
}

/// Logs one runtime event, if it is about supervision (see [`log_supervision`]).
fn log_event(supervisors: &mut HashMap<Pid, Arc<str>>, pid: Pid, kind: &EventKind) {
    let name = |supervisors: &HashMap<Pid, Arc<str>>| -> Arc<str> {
        supervisors
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| Arc::from(pid.to_string()))
    };
    match kind {
        EventKind::Spawned {
            kind: Kind::Supervisor | Kind::DynamicSupervisor,
            label,
            ..
        } => {
            let label: Arc<str> = label.clone().unwrap_or_else(|| Arc::from(pid.to_string()));
            tracing::info!(supervisor = %label, pid = %pid, "supervisor started");
            supervisors.insert(pid, label);
        }
        EventKind::Exited { reason } => match supervisors.remove(&pid) {
            Some(label) if reason.is_abnormal() => {
                tracing::warn!(supervisor = %label, pid = %pid, %reason, "supervisor stopped")
            }
            Some(label) => {
                tracing::info!(supervisor = %label, pid = %pid, %reason, "supervisor stopped")
            }
            None if reason.is_abnormal() => {
                tracing::debug!(pid = %pid, %reason, "process exited")
            }
            None => {}
        },
        EventKind::Restarted {
            child,
            old,
            new,
            reason,
        } => tracing::info!(
            supervisor = %name(supervisors),
            child = %child,
            old = %old,
            new = %new,
            %reason,
            "child restarted"
        ),
        EventKind::IntensityExceeded {
            restarts,
            max_restarts,
            period,
        } => tracing::warn!(
            supervisor = %name(supervisors),
            restarts,
            max_restarts,
            ?period,
            "restart intensity exceeded"
        ),
        EventKind::Escalated { to } => tracing::warn!(
            supervisor = %name(supervisors),
            to = %match to {
                Some(p) => p.to_string(),
                None => "nobody".to_string(),
            },
            "supervisor gave up and escalates"
        ),
        _ => {}
    }
}
