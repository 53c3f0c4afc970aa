//! Where a connection's memory goes, as gauges for `/metrics`: the socket and channel processes
//! (task, record, mailbox), the sockets supervisor's child records, and the WebSocket state each
//! socket holds. `bench chat` divides them by the connections to print its breakdown.

use std::net::TcpStream;

use async_io::Async;
use async_tungstenite::WebSocketStream;

use crate::chat::names;
use crate::{Handle, Kind};

/// `(name, help, value)` for each part.
pub(crate) fn gauges(h: &Handle) -> Vec<(&'static str, &'static str, f64)> {
    let (mut sockets, mut channels, mut supervisor) = (0usize, 0usize, 0usize);
    let sockets_sup = h.whereis(names::SOCKETS);
    for row in h.process_table() {
        match row.kind {
            Kind::Socket => sockets += row.memory,
            Kind::Channel => channels += row.memory,
            _ if Some(row.pid) == sockets_sup => supervisor += row.memory,
            _ => {}
        }
    }
    vec![
        (
            "crashcourse_chat_socket_process_bytes",
            "Memory of the socket processes (task with its WebSocket state, record, mailbox)",
            sockets as f64,
        ),
        (
            "crashcourse_chat_channel_process_bytes",
            "Memory of the channel processes (task, record, mailbox)",
            channels as f64,
        ),
        (
            "crashcourse_chat_sockets_supervisor_bytes",
            "Memory of the sockets supervisor (its child records)",
            supervisor as f64,
        ),
        (
            "crashcourse_chat_websocket_state_size_bytes",
            "Size of one socket's WebSocket state, without its read buffer",
            std::mem::size_of::<WebSocketStream<Async<TcpStream>>>() as f64,
        ),
    ]
}
