//! The chat server's settings: addresses, limits and timeouts (every one configurable, so tests
//! never wait for the defaults).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolConfig;

/// How the chat server runs.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    pub bind: IpAddr,
    /// HTTP port (0: any free port).
    pub http_port: u16,
    /// WebSocket port (0: any free port).
    pub ws_port: u16,
    /// Threads of the fixed pool that serves `/api/slow` (the "typical stack" thread pool).
    pub http_threads: usize,
    /// How long an HTTP client has to send a request's head (and then its body); past it the
    /// connection is answered 408 and closed.
    pub http_header_timeout: Duration,
    /// How long an HTTP keep-alive connection may wait for its next request.
    pub http_keepalive_timeout: Duration,
    /// Largest HTTP request head (request line and headers); larger is answered 431.
    pub http_max_header: usize,
    /// Largest HTTP request body; larger is answered 413.
    pub http_max_body: usize,
    pub pool: PoolConfig,
    /// Largest text frame accepted; larger closes the socket with 1009.
    pub max_frame: usize,
    /// Pushes per second a client may send; more get "rate limited" error replies.
    pub rate_limit: u32,
    /// A socket that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Channels one socket may join.
    pub max_channels: usize,
    /// Bytes queued for a client that does not read before it is closed with 1008.
    pub max_outbound: usize,
    /// Presence tracking in rooms (`presence_state` / `presence_diff`).
    pub presence: bool,
    /// The `history` push after a join.
    pub history: bool,
    /// Rooms with more members than this get `presence_summary` (a count and the most recent
    /// joins and leaves) instead of the whole member map; back to the map at half of it.
    pub presence_full_until: usize,
    /// How often a room's presence changes are broadcast, at most.
    pub presence_interval: Duration,
    /// Messages in the `history` push.
    pub history_len: usize,
    /// Longest `/api/slow` hold.
    pub max_slow: Duration,
}

impl ChatConfig {
    /// The defaults of `crashcourse serve` (see its `--help`), with the database at `db`.
    pub fn new(db: impl Into<PathBuf>) -> ChatConfig {
        ChatConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: 4000,
            ws_port: 4001,
            http_threads: 4,
            http_header_timeout: Duration::from_secs(10),
            http_keepalive_timeout: Duration::from_secs(60),
            http_max_header: 16 * 1024,
            http_max_body: 64 * 1024,
            pool: PoolConfig::new(db),
            max_frame: 64 * 1024,
            rate_limit: 100,
            idle_timeout: Duration::from_secs(60),
            max_channels: 100,
            max_outbound: 1024 * 1024,
            presence: true,
            history: true,
            presence_full_until: 1000,
            presence_interval: Duration::from_millis(100),
            history_len: 50,
            max_slow: Duration::from_secs(60),
        }
    }

    /// Any free ports: for tests and embedding.
    pub fn any_ports(mut self) -> ChatConfig {
        self.http_port = 0;
        self.ws_port = 0;
        self
    }
}
