//! The WebSocket listener process: accepts connections and starts a socket process for each
//! under the sockets supervisor. The listening socket outlives a restart of this process.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use async_io::Async;

use crate::chat::metrics::ChatMetrics;
use crate::chat::{names, socket, ChatShared};
use crate::dynamic_supervisor;
use crate::supervisor::{ChildSpec, Shutdown};
use crate::{Ctx, ExitReason, Kind};

pub(crate) fn child_spec(shared: Arc<ChatShared>, listener: Arc<Async<TcpListener>>) -> ChildSpec {
    ChildSpec::new(names::WS_LISTENER, move |h, opts| {
        let shared = shared.clone();
        let listener = listener.clone();
        h.spawn_with(opts.name(names::WS_LISTENER), move |ctx| {
            run(ctx, shared, listener)
        })
    })
    .kind(Kind::Http)
    .label("ws listener")
    .shutdown(Shutdown::BrutalKill)
}

async fn run(ctx: Ctx, shared: Arc<ChatShared>, listener: Arc<Async<TcpListener>>) -> ExitReason {
    let h = ctx.handle().clone();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors (this process's or the system's) or a connection
                // reset before it was accepted: back off, do not spin.
                let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                if out_of_fds || e.kind() == std::io::ErrorKind::ConnectionAborted {
                    crate::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                return ExitReason::custom(format!("accept failed: {e}"));
            }
        };
        ChatMetrics::add(&shared.metrics.connections_total);
        let Some(sockets) = h.whereis(names::SOCKETS) else {
            // The sockets supervisor is restarting: refuse this one (it reconnects).
            continue;
        };
        let spec = socket::child_spec(shared.clone(), stream, peer);
        let _ = dynamic_supervisor::start_child(&h, sockets, spec, Duration::from_secs(5)).await;
    }
}
