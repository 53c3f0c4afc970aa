//! Counters of the chat server, for `/metrics`, the GUI and tests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Connection, message and bad-input counters. All only grow except `connections`.
#[derive(Debug, Default)]
pub struct ChatMetrics {
    pub connections: AtomicU64,
    pub connections_total: AtomicU64,
    pub joins: AtomicU64,
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub messages_posted: AtomicU64,
    pub broadcasts: AtomicU64,
    pub closed_oversized: AtomicU64,
    pub closed_invalid: AtomicU64,
    pub closed_binary: AtomicU64,
    pub closed_slow_client: AtomicU64,
    pub closed_idle: AtomicU64,
    pub rate_limited: AtomicU64,
    pub rejected_origin: AtomicU64,
    pub rejected_handshake: AtomicU64,
    pub http_requests: AtomicU64,
}

impl ChatMetrics {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// (name, help, value) for each counter, in Prometheus naming.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let g = ChatMetrics::get;
        vec![
            (
                "crashcourse_connections",
                "Open WebSocket connections",
                g(&self.connections),
            ),
            (
                "crashcourse_connections_total",
                "WebSocket connections accepted",
                g(&self.connections_total),
            ),
            ("crashcourse_joins_total", "Channel joins", g(&self.joins)),
            (
                "crashcourse_frames_in_total",
                "Frames received from clients",
                g(&self.frames_in),
            ),
            (
                "crashcourse_frames_out_total",
                "Frames sent to clients",
                g(&self.frames_out),
            ),
            (
                "crashcourse_messages_posted_total",
                "Chat messages committed",
                g(&self.messages_posted),
            ),
            (
                "crashcourse_broadcasts_total",
                "Broadcasts to a room",
                g(&self.broadcasts),
            ),
            (
                "crashcourse_closed_oversized_total",
                "Sockets closed with 1009 (frame too large)",
                g(&self.closed_oversized),
            ),
            (
                "crashcourse_closed_invalid_total",
                "Sockets closed with 1007 (invalid JSON or frame shape)",
                g(&self.closed_invalid),
            ),
            (
                "crashcourse_closed_binary_total",
                "Sockets closed with 1003 (binary frame)",
                g(&self.closed_binary),
            ),
            (
                "crashcourse_closed_slow_client_total",
                "Sockets closed with 1008 (outbound queue over limit)",
                g(&self.closed_slow_client),
            ),
            (
                "crashcourse_closed_idle_total",
                "Sockets closed for sending nothing",
                g(&self.closed_idle),
            ),
            (
                "crashcourse_rate_limited_total",
                "Pushes refused as rate limited",
                g(&self.rate_limited),
            ),
            (
                "crashcourse_rejected_origin_total",
                "Handshakes refused for their Origin",
                g(&self.rejected_origin),
            ),
            (
                "crashcourse_rejected_handshake_total",
                "Handshakes refused (path or protocol version)",
                g(&self.rejected_handshake),
            ),
            (
                "crashcourse_http_requests_total",
                "HTTP requests handled",
                g(&self.http_requests),
            ),
        ]
    }
}
