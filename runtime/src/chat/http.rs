//! The HTTP side: the chat page, `/api/config`, `/api/health`, `/metrics` (Prometheus text) and
//! `/api/slow?ms=N`.
//!
//! Served as Phoenix's Bandit and Cowboy serve it: the `http` process accepts on async I/O and
//! starts one process per connection (kind `http`, linked to it), each with a header timeout,
//! size caps and keep-alive, so ten thousand idle or slow clients cost memory, never threads.
//! `/api/slow` alone is handed to the `http thread pool` process's fixed pool of OS threads —
//! the "typical stack" the thread-pool lesson measures processes against.
//!
//! `http` traps exits: a connection that ends (or is killed) is only counted; the pool's end, or
//! its supervisor's signal, ends it, and its connections and pool go with it (they are linked).
//! The listening socket outlives a restart.

mod connection;
mod prometheus;
mod routes;
mod shared;
mod thread_pool;
mod wire;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_io::Async;

use crate::chat::http::shared::HttpShared;
use crate::chat::http::thread_pool::{StopOnDrop, ThreadPool};
use crate::chat::metrics::ChatMetrics;
use crate::chat::{names, ChatShared};
use crate::ctx::Received;
use crate::supervisor::{ChildSpec, Shutdown};
use crate::{Ctx, Exit, ExitReason, Kind, Pid, SpawnError, SpawnOpts};

pub(crate) fn child_spec(shared: Arc<ChatShared>, listener: TcpListener) -> ChildSpec {
    let listener = Async::new(listener)
        .map(Arc::new)
        .map_err(|e| format!("http listener: {e}"));
    ChildSpec::new(names::HTTP, move |h, opts| {
        let listener = listener
            .as_ref()
            .map_err(|e| SpawnError::Failed(e.clone().into()))?
            .clone();
        let shared = shared.clone();
        h.spawn_with(opts.name(names::HTTP).trap_exit(true), move |ctx| {
            run(ctx, shared, listener)
        })
    })
    .kind(Kind::Http)
    .label("http")
    .shutdown(Shutdown::Timeout(Duration::from_secs(5)))
}

/// Connections accepted in a row before the acceptor yields its worker thread.
const ACCEPTS_PER_YIELD: u64 = 32;

/// What wakes the acceptor.
enum Event {
    Accepted(std::io::Result<(Async<std::net::TcpStream>, std::net::SocketAddr)>),
    Mailbox(Received),
}

async fn run(ctx: Ctx, chat: Arc<ChatShared>, listener: Arc<Async<TcpListener>>) -> ExitReason {
    let threads = match ThreadPool::start(chat.config.http_threads) {
        Ok(threads) => threads,
        Err(e) => return ExitReason::custom(format!("could not start an HTTP pool thread: {e}")),
    };
    // The pool's process stops the threads when it ends; so does this one.
    let _stop = StopOnDrop(threads.clone());
    let http = Arc::new(HttpShared::new(chat, threads));
    let pool = match start_pool(&ctx, &http) {
        Ok(pid) => pid,
        Err(e) => return ExitReason::custom(format!("could not start the thread pool: {e}")),
    };
    let h = ctx.handle().clone();
    let mut accepted: u64 = 0;
    loop {
        let event = futures_lite::future::or(
            async { Event::Mailbox(ctx.recv_or_system().await) },
            async { Event::Accepted(listener.accept().await) },
        )
        .await;
        match event {
            Event::Mailbox(Received::StateRequest) => ctx.publish_state(describe(&http), 0),
            Event::Mailbox(Received::Message(msg)) => {
                let Ok(Exit { from, reason }) = msg.downcast::<Exit>() else {
                    continue;
                };
                if Some(from) == ctx.parent() || from == Pid::OUTSIDE {
                    return reason;
                }
                if from == pool {
                    return ExitReason::custom(format!("the thread pool exited: {reason}"));
                }
                // A connection ended: it is counted by its own guard.
            }
            Event::Accepted(Ok((stream, peer))) => {
                let opts = SpawnOpts::new()
                    .link(ctx.pid())
                    .parent(ctx.pid())
                    .kind(Kind::Http)
                    .label(format!("http {peer}"));
                let http = http.clone();
                // Refused only while the runtime shuts down: the stream is dropped (closed).
                let _ = h.spawn_with(opts, move |c| connection::run(c, http, stream, peer));
                accepted += 1;
                if accepted.is_multiple_of(ACCEPTS_PER_YIELD) {
                    // A burst of connections is always ready: let the worker run others.
                    futures_lite::future::yield_now().await;
                }
            }
            Event::Accepted(Err(e)) => {
                // Out of file descriptors (this process's or the system's) or a connection
                // reset before it was accepted: back off, do not spin.
                let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                if out_of_fds || e.kind() == std::io::ErrorKind::ConnectionAborted {
                    crate::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                return ExitReason::custom(format!("accept failed: {e}"));
            }
        }
    }
}

/// Starts the `http thread pool` process, linked: it owns the pool's threads and stops them
/// when it ends.
fn start_pool(ctx: &Ctx, http: &Arc<HttpShared>) -> Result<Pid, SpawnError> {
    let pool = http.pool.clone();
    let opts = SpawnOpts::new()
        .link(ctx.pid())
        .parent(ctx.pid())
        .kind(Kind::Http)
        .label("http thread pool (typical stack)");
    ctx.spawn_with(opts, move |c: Ctx| async move {
        let _stop = StopOnDrop(pool.clone());
        loop {
            if let Received::StateRequest = c.recv_or_system().await {
                c.publish_state(pool.describe(), 0);
            }
        }
        #[allow(unreachable_code)]
        ExitReason::Normal
    })
}

fn describe(http: &HttpShared) -> String {
    let chat = &http.chat;
    let c = &chat.config;
    format!(
        "listening: http://{}\none process per connection\nopen connections: {}\nrequests: {}\n\
         closed for a slow head or body: {}\nrefused (400/413/431): {}\n\
         header timeout: {} ms, keep-alive timeout: {} ms\nhead cap: {} B, body cap: {} B\n\
         /api/slow: {} pool threads (see \"http thread pool\")",
        chat.http_addr,
        http.open.load(Ordering::Relaxed),
        ChatMetrics::get(&chat.metrics.http_requests),
        http.timed_out.load(Ordering::Relaxed),
        http.refused.load(Ordering::Relaxed),
        c.http_header_timeout.as_millis(),
        c.http_keepalive_timeout.as_millis(),
        c.http_max_header,
        c.http_max_body,
        c.http_threads.max(1),
    )
}
