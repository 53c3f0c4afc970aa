//! What a load run does: the target, the virtual users, the workload model and the deadlines,
//! checked before anything connects.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The most sockets one generator process opens: its open-file limit is 20,000 and it keeps
/// headroom for its own files, threads and the progress output.
pub const MAX_CLIENTS: usize = 19_000;

/// Client sockets bound to one loopback source address before the next one is used (one address
/// has about 28,000 ephemeral ports; this leaves room for other programs).
pub const PER_SOURCE: usize = 10_000;

/// Slowest and fastest rates accepted (a pace's interval must fit a `Duration`).
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 1_000_000.0;
/// Longest "slow" request a WebSocket user asks for (the server's own limit).
pub const MAX_SLOW_MS: u64 = 10_000;
/// Longest duration, timeout or drain accepted.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// What the virtual users speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Phoenix Channels V2 JSON over a WebSocket.
    WebSocket,
    /// HTTP/1.1 GET requests over keep-alive connections.
    Http,
}

/// Where the load goes: a parsed `ws://` or `http://` URL with an IP address (or `localhost`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub protocol: Protocol,
    pub addr: SocketAddr,
    /// Path and query as sent in the request line (`/socket/websocket?vsn=2.0.0`).
    pub path: String,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` or `http://HOST:PORT/PATH`. A WebSocket path of `/socket`
    /// becomes `/socket/websocket` and `vsn=2.0.0` is added when the query has no `vsn`, as the
    /// `phoenix` JavaScript client does.
    pub fn parse(url: &str) -> Result<Target, PlanError> {
        let bad = |why: &str| PlanError::Url(url.to_string(), why.to_string());
        let (protocol, rest, default_port) = if let Some(r) = url.strip_prefix("ws://") {
            (Protocol::WebSocket, r, 80)
        } else if let Some(r) = url.strip_prefix("http://") {
            (Protocol::Http, r, 80)
        } else if url.starts_with("wss://") || url.starts_with("https://") {
            return Err(bad("TLS is not supported; use ws:// or http://"));
        } else {
            return Err(bad("it must start with ws:// or http://"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| bad(&format!("{p:?} is not a port")))?;
                (h, port)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().map_err(|_| {
                bad(&format!(
                    "{host:?} is not an IP address; write e.g. 127.0.0.1 (no name lookup)"
                ))
            })?
        };
        if port == 0 {
            return Err(bad("port 0 cannot be connected to"));
        }
        let mut path = if path.is_empty() || path.starts_with('?') {
            let base = match protocol {
                Protocol::WebSocket => "/socket/websocket",
                Protocol::Http => "/",
            };
            format!("{base}{path}")
        } else {
            path.to_string()
        };
        if protocol == Protocol::WebSocket {
            let (p, q) = path.split_once('?').unwrap_or((&path, ""));
            let p = if p.trim_end_matches('/') == "/socket" {
                "/socket/websocket".to_string()
            } else {
                p.to_string()
            };
            let has_vsn = q.split('&').any(|kv| kv.starts_with("vsn="));
            path = match (q.is_empty(), has_vsn) {
                (true, _) => format!("{p}?vsn=2.0.0"),
                (false, true) => format!("{p}?{q}"),
                (false, false) => format!("{p}?{q}&vsn=2.0.0"),
            };
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the path may not contain spaces or control characters"));
        }
        Ok(Target {
            protocol,
            addr: SocketAddr::new(ip, port),
            path,
        })
    }

    /// The URL as the run uses it.
    pub fn url(&self) -> String {
        let scheme = match self.protocol {
            Protocol::WebSocket => "ws",
            Protocol::Http => "http",
        };
        format!("{scheme}://{}{}", self.addr, self.path)
    }
}

/// How sends are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Model {
    /// Each virtual user waits for its reply, then sends again `rate` times a second at most
    /// (`None`: at once). A WebSocket rate of zero only connects and joins.
    Closed { rate: Option<f64> },
    /// `arrival_rate` messages (or requests) a second across all users, on schedule whatever
    /// the server does; latency counts from the scheduled time.
    Open { arrival_rate: f64 },
}

/// One run, checked by [`Plan::validate`] before anything connects.
#[derive(Clone, Debug)]
pub struct Plan {
    pub target: Target,
    /// Virtual users (one socket each).
    pub clients: usize,
    /// Users started per second.
    pub ramp: f64,
    /// From the first connection to the last send.
    pub duration: Duration,
    /// The room to join (topic `room:<room>`).
    pub room: String,
    /// Users spread over this many rooms (`room:<room>-<k>`, user `i` in room `i % rooms`);
    /// 1 puts everyone in `room:<room>`. More rooms means fewer broadcasts per message.
    pub rooms: usize,
    pub model: Model,
    /// The longest any one wait may last: connect, upgrade, join reply, message reply, request.
    pub timeout: Duration,
    /// After the last send, how long replies still in flight are waited for.
    pub drain: Duration,
    /// The first loopback source address; users fill it with [`PER_SOURCE`] sockets, then the
    /// next one (used only when the target is on loopback).
    pub first_source: Ipv4Addr,
    /// Executor threads that run the virtual users.
    pub workers: usize,
    /// WebSocket mode: send the event `slow` with `{"ms": N}` (answered after N ms by a process
    /// started for that one request) instead of posting `new_msg`.
    pub slow_ms: Option<u64>,
}

impl Plan {
    /// A plan with the command line's defaults against `target`.
    pub fn new(target: Target) -> Plan {
        Plan {
            target,
            clients: 10,
            ramp: 100.0,
            duration: Duration::from_secs(30),
            room: "lobby".to_string(),
            rooms: 1,
            model: Model::Closed { rate: Some(1.0) },
            timeout: Duration::from_secs(10),
            drain: Duration::from_secs(2),
            first_source: Ipv4Addr::new(127, 0, 0, 2),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
            slow_ms: None,
        }
    }

    /// Refuses what cannot run, with a message that says what to do instead.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.clients == 0 {
            return Err(PlanError::Invalid("--clients must be at least 1".into()));
        }
        if self.clients > MAX_CLIENTS {
            return Err(PlanError::TooManyClients(self.clients));
        }
        let rate_ok = |r: f64| (MIN_RATE..=MAX_RATE).contains(&r);
        if !rate_ok(self.ramp) {
            return Err(PlanError::Invalid(
                "--ramp must be 0.001/s to 1000000/s".into(),
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_WAIT {
            return Err(PlanError::Invalid(
                "--duration must be above zero and at most 24h".into(),
            ));
        }
        if self.timeout.is_zero() || self.timeout > MAX_WAIT {
            return Err(PlanError::Invalid(
                "--timeout must be above zero and at most 24h".into(),
            ));
        }
        if self.drain > MAX_WAIT {
            return Err(PlanError::Invalid("--drain must be at most 24h".into()));
        }
        if self.workers == 0 || self.workers > 64 {
            return Err(PlanError::Invalid("--workers must be 1 to 64".into()));
        }
        let room_ok = !self.room.is_empty()
            && self.room.len() <= 100
            && self
                .room
                .chars()
                .all(|c| !c.is_control() && c != '"' && c != '\\');
        if self.rooms == 0 || self.rooms > self.clients {
            return Err(PlanError::Invalid(format!(
                "--rooms {}: 1 to the number of clients ({})",
                self.rooms, self.clients
            )));
        }
        if !room_ok {
            return Err(PlanError::Invalid(format!(
                "--room {:?}: 1 to 100 printable characters, no quotes or backslashes",
                self.room
            )));
        }
        if let Some(ms) = self.slow_ms {
            if self.target.protocol == Protocol::Http {
                return Err(PlanError::Invalid(
                    "--slow-ms is for WebSocket mode; in HTTP mode use --url http://HOST:PORT/api/slow?ms=N"
                        .into(),
                ));
            }
            if ms > MAX_SLOW_MS {
                return Err(PlanError::Invalid(format!(
                    "--slow-ms {ms}: at most {MAX_SLOW_MS}"
                )));
            }
        }
        match self.model {
            Model::Closed { rate: Some(r) } if r != 0.0 && !rate_ok(r) => {
                return Err(PlanError::Invalid(
                    "--rate must be 0, 0.001/s to 1000000/s, or max".into(),
                ))
            }
            Model::Closed { rate: Some(r) }
                if r == 0.0 && self.target.protocol == Protocol::Http =>
            {
                return Err(PlanError::Invalid(
                    "--rate 0 sends no requests; in HTTP mode give a rate, or max for no pause"
                        .into(),
                ))
            }
            Model::Open { arrival_rate } if !rate_ok(arrival_rate) => {
                return Err(PlanError::Invalid(
                    "--arrival-rate must be 0.001/s to 1000000/s".into(),
                ))
            }
            _ => {}
        }
        if self.source(0).is_some() {
            let last = self.source(self.clients - 1);
            if !self.first_source.is_loopback()
                || last.is_none_or(|ip| !ip.is_loopback() || ip.octets()[3] == 255)
            {
                return Err(PlanError::Invalid(format!(
                    "--source {}: {} clients need {} loopback addresses from it, inside 127.0.0.1-127.255.255.254",
                    self.first_source,
                    self.clients,
                    self.clients.div_ceil(PER_SOURCE)
                )));
            }
        }
        Ok(())
    }

    /// The source address of user `index`, when the target is on IPv4 loopback.
    pub fn source(&self, index: usize) -> Option<Ipv4Addr> {
        if !matches!(self.target.addr.ip(), IpAddr::V4(ip) if ip.is_loopback()) {
            return None;
        }
        let n = u32::from(self.first_source).checked_add((index / PER_SOURCE) as u32)?;
        Some(Ipv4Addr::from(n))
    }

    /// The topic users join (the first one, when users spread over several rooms).
    pub fn topic(&self) -> String {
        self.topic_of(0)
    }

    /// The topic user `index` joins.
    pub fn topic_of(&self, index: usize) -> String {
        if self.rooms <= 1 {
            format!("room:{}", self.room)
        } else {
            format!("room:{}-{}", self.room, index % self.rooms)
        }
    }
}

/// Why a run cannot start.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("--url {0:?}: {1}")]
    Url(String, String),
    #[error(
        "--clients {0} asks for more sockets than one generator process can hold: at most \
         19,000 (its open-file limit is 20,000). Split the run over several processes, each \
         with at most 19,000 clients and its own --source (e.g. 127.0.0.2, then 127.0.0.4, ...)"
    )]
    TooManyClients(usize),
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_the_phoenix_client_builds_them() {
        let t = Target::parse("ws://127.0.0.1:4001/socket").unwrap();
        assert_eq!(t.protocol, Protocol::WebSocket);
        assert_eq!(t.addr, "127.0.0.1:4001".parse().unwrap());
        assert_eq!(t.path, "/socket/websocket?vsn=2.0.0");
        let t = Target::parse("ws://localhost:4001/socket/websocket?token=x").unwrap();
        assert_eq!(t.path, "/socket/websocket?token=x&vsn=2.0.0");
        let t = Target::parse("http://127.0.0.1:4000/api/slow?ms=5").unwrap();
        assert_eq!(
            (t.protocol, t.path.as_str()),
            (Protocol::Http, "/api/slow?ms=5")
        );
        assert_eq!(Target::parse("http://127.0.0.1:4000").unwrap().path, "/");
        assert!(Target::parse("https://127.0.0.1:4000/").is_err());
        assert!(Target::parse("127.0.0.1:4000").is_err());
        assert!(Target::parse("ws://example.com:4001/socket").is_err());
        assert!(Target::parse("ws://127.0.0.1:99999/socket").is_err());
    }

    #[test]
    fn a_run_one_process_cannot_hold_is_refused_with_how_to_split_it() {
        let mut plan = Plan::new(Target::parse("ws://127.0.0.1:4001/socket").unwrap());
        plan.clients = MAX_CLIENTS;
        assert_eq!(plan.validate(), Ok(()));
        assert_eq!(plan.source(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(plan.source(PER_SOURCE), Some(Ipv4Addr::new(127, 0, 0, 3)));
        plan.model = Model::Closed { rate: Some(1e-300) };
        assert!(plan.validate().is_err(), "a pace too slow for a Duration");
        plan.model = Model::Closed { rate: Some(1.0) };
        plan.duration = Duration::from_secs(u64::MAX / 4);
        assert!(plan.validate().is_err(), "a duration past any Instant");
        plan.duration = Duration::from_secs(30);
        plan.clients = 30_000;
        let e = plan.validate().unwrap_err().to_string();
        assert!(
            e.contains("at most 19,000") && e.contains("Split the run"),
            "{e}"
        );
        assert_eq!(MAX_CLIENTS, 19_000, "the message names the limit");
    }
}
