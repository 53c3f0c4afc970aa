//! The embedded chat server: Phoenix Channels V2 over WebSocket, Presence, and HTTP, built as
//! a supervision tree of runtime processes that a learner can read and break.
//!
//! ```text
//! endpoint (supervisor, one_for_one)
//! ├── pubsub        broadcasts one encoded frame to every socket subscribed to a room topic
//! ├── presence      who is in which room; diffs coalesced per room, at most one per 100 ms
//! ├── db pool       the SQLite pool (its own supervisor and connection processes)
//! ├── rooms         dynamic supervisor: one room process per `room:<name>` (history, sequencing)
//! ├── sockets       dynamic supervisor: one socket process per connection, one channel per join
//! ├── http          accepts HTTP; one process per connection, and the fixed thread pool of /api/slow
//! └── ws listener   accepts WebSocket connections and starts their sockets
//! ```
//!
//! Nothing that kills or injects faults is reachable over HTTP or the WebSocket: control stays
//! with the process that owns the [`Endpoint`].

mod acceptor;
mod channel;
pub mod config;
pub mod frame;
mod http;
mod memory;
pub mod metrics;
mod presence;
mod pubsub;
mod room;
mod socket;
mod time;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Utf8Bytes;

pub use config::ChatConfig;
pub use metrics::ChatMetrics;

use crate::db::{self, DbError, Pool, StorageReport};
use crate::dynamic_supervisor::{self, DynamicSpec};
use crate::supervisor::{
    self, ChildSpec, Intensity, Shutdown, StartError, Strategy, SupervisorSpec,
};
use crate::{ExitReason, Handle, Kind, Pid, SpawnOpts};

/// Registered names of the endpoint's fixed processes.
pub mod names {
    pub const ENDPOINT: &str = "endpoint";
    pub const PUBSUB: &str = "pubsub";
    pub const PRESENCE: &str = "presence";
    pub const ROOMS: &str = "rooms";
    pub const SOCKETS: &str = "sockets";
    pub const HTTP: &str = "http";
    pub const WS_LISTENER: &str = "ws listener";
    pub const DB_POOL: &str = "db_pool";
}

/// Starting the chat server failed.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the {what} port {addr} is already in use (pick another with --{flag}, or 0 for any free port)")]
    PortInUse {
        what: &'static str,
        flag: &'static str,
        addr: SocketAddr,
    },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("could not start the endpoint: {0}")]
    Start(#[from] StartError),
}

/// A frame on its way to one client, encoded once and shared by every recipient.
#[derive(Clone)]
pub struct Push(pub Utf8Bytes);

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0.as_str();
        match s.char_indices().nth(160) {
            Some((cut, _)) => write!(f, "push {}… ({} bytes)", &s[..cut], s.len()),
            None => write!(f, "push {s}"),
        }
    }
}

/// What every chat process shares.
pub(crate) struct ChatShared {
    pub(crate) config: ChatConfig,
    pub(crate) metrics: Arc<ChatMetrics>,
    pub(crate) pool: Pool,
    pub(crate) http_addr: SocketAddr,
    pub(crate) ws_addr: SocketAddr,
    pub(crate) started: Instant,
}

impl ChatShared {
    /// The URL the page's client connects to (the `phoenix` client appends `/websocket`).
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/socket", self.ws_addr)
    }
}

/// A running chat server.
pub struct Endpoint {
    handle: Handle,
    supervisor: Pid,
    shared: Arc<ChatShared>,
    storage: StorageReport,
}

impl Endpoint {
    /// Binds both ports (a port in use is an error naming it), checks the database, and starts
    /// the supervision tree.
    pub fn start(handle: &Handle, config: ChatConfig) -> Result<Endpoint, ChatError> {
        let http = bind(config.bind, config.http_port, "HTTP", "http-port")?;
        let ws = bind(config.bind, config.ws_port, "WebSocket", "ws-port")?;
        let storage = db::prepare_database(&config.pool.path)?;
        let http_addr = local_addr(&http)?;
        let ws_addr = local_addr(&ws)?;
        let mut pool_config = config.pool.clone();
        pool_config.name = names::DB_POOL.into();
        let (pool_spec, pool) = Pool::child_spec(handle, pool_config);
        let shared = Arc::new(ChatShared {
            config,
            metrics: Arc::new(ChatMetrics::default()),
            pool,
            http_addr,
            ws_addr,
            started: Instant::now(),
        });
        let ws = Arc::new(async_io::Async::new(ws).map_err(|source| ChatError::Bind {
            addr: ws_addr,
            source,
        })?);
        let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
            .child(pubsub::child_spec())
            .child(presence::child_spec(shared.clone()))
            .child(pool_spec)
            .child(
                ChildSpec::new(names::ROOMS, |h, opts| {
                    dynamic_supervisor::start(
                        h,
                        opts.name(names::ROOMS),
                        DynamicSpec::new(Intensity::elixir()),
                    )
                })
                .kind(Kind::DynamicSupervisor)
                .shutdown(Shutdown::Infinity),
            )
            .child(
                ChildSpec::new(names::SOCKETS, |h, opts| {
                    dynamic_supervisor::start(
                        h,
                        opts.name(names::SOCKETS),
                        DynamicSpec::new(Intensity::elixir()),
                    )
                })
                .kind(Kind::DynamicSupervisor)
                .shutdown(Shutdown::Infinity),
            )
            .child(http::child_spec(shared.clone(), http))
            .child(acceptor::child_spec(shared.clone(), ws));
        let supervisor = supervisor::start(
            handle,
            SpawnOpts::new().name(names::ENDPOINT).label("endpoint"),
            spec,
        )?;
        Ok(Endpoint {
            handle: handle.clone(),
            supervisor,
            shared,
            storage,
        })
    }

    /// `http://host:port`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.shared.http_addr)
    }

    /// `ws://host:port/socket` (the `phoenix` client appends `/websocket`).
    pub fn ws_url(&self) -> String {
        self.shared.ws_url()
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.shared.http_addr
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.shared.ws_addr
    }

    /// The endpoint supervisor.
    pub fn supervisor(&self) -> Pid {
        self.supervisor
    }

    pub fn metrics(&self) -> &Arc<ChatMetrics> {
        &self.shared.metrics
    }

    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    /// What the database check at start found (a corrupt file moved aside, say).
    pub fn storage(&self) -> &StorageReport {
        &self.storage
    }

    /// Whether the endpoint supervisor still runs (it stops past its restart intensity).
    pub fn is_running(&self) -> bool {
        self.handle.is_alive(self.supervisor)
    }

    /// Stops in order: the listener first, then the sockets (closed with 1001), the rooms, the
    /// pool (drained, database closed), presence and pub/sub. Waits up to `limit`.
    pub fn shutdown(&self, limit: Duration) -> bool {
        let _ = self.handle.exit(self.supervisor, ExitReason::Shutdown);
        self.handle
            .wait_exit_timeout(self.supervisor, limit)
            .is_some()
    }
}

/// Connections the kernel queues before they are accepted: Phoenix's (Cowboy's) 1,024 rather
/// than the standard library's 128, so a burst of thousands of connects is not dropped and
/// retried by the clients' SYN timers.
const LISTEN_BACKLOG: i32 = 1024;

fn bind(
    ip: std::net::IpAddr,
    port: u16,
    what: &'static str,
    flag: &'static str,
) -> Result<TcpListener, ChatError> {
    use socket2::{Domain, Socket, Type};
    let addr = SocketAddr::new(ip, port);
    let error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            ChatError::PortInUse { what, flag, addr }
        } else {
            ChatError::Bind { addr, source }
        }
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(error)?;
    // As std does: a restarted server may reuse a port whose old connections are in TIME_WAIT.
    socket.set_reuse_address(true).map_err(error)?;
    socket.bind(&addr.into()).map_err(error)?;
    socket.listen(LISTEN_BACKLOG).map_err(error)?;
    Ok(socket.into())
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, ChatError> {
    l.local_addr().map_err(|source| ChatError::Bind {
        addr: SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
        source,
    })
}

/// Sends `msg` to the process registered as `name`, waiting (up to `limit`) for it to be there:
/// a supervised process being restarted is back within milliseconds.
pub(crate) async fn send_named<M: crate::Message>(
    h: &Handle,
    name: &str,
    msg: M,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    let mut msg = msg;
    loop {
        let Some(pid) = crate::server::wait_for_name(h, name, deadline).await else {
            return false;
        };
        match h.send(pid, msg) {
            Ok(()) => return true,
            // It exited in between: wait for the next one.
            Err(e) => msg = e.message,
        }
    }
}
