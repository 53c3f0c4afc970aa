//! The HTTP side: the chat page, `/api/config`, `/api/health`, `/metrics` (Prometheus text) and
//! `/api/slow?ms=N`, served by tiny_http with a fixed pool of handler threads that loop on
//! `recv()` — the "typical stack" the thread-pool lesson compares with process-per-request.
//!
//! The `http` process owns the server and its threads: when it exits, the threads are released
//! and the server closed; its supervisor starts it again on the same listening socket.

use std::fmt::Write as _;
use std::io::Cursor;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::chat::frame::json_object;
use crate::chat::metrics::ChatMetrics;
use crate::chat::{names, ChatShared};
use crate::ctx::Received;
use crate::supervisor::{ChildSpec, Shutdown};
use crate::{Ctx, ExitReason, Handle, Kind, SpawnError};

const INDEX_HTML: &str = include_str!("../../../assets/index.html");
const APP_JS: &str = include_str!("../../../assets/app.js");
const STYLE_CSS: &str = include_str!("../../../assets/style.css");

pub(crate) fn child_spec(shared: Arc<ChatShared>, listener: TcpListener) -> ChildSpec {
    let listener = Arc::new(listener);
    ChildSpec::new(names::HTTP, move |h, opts| {
        let l = listener
            .try_clone()
            .map_err(|e| SpawnError::Failed(format!("http listener: {e}").into()))?;
        let server = tiny_http::Server::from_listener(l, None)
            .map_err(|e| SpawnError::Failed(format!("http server: {e}").into()))?;
        let shared = shared.clone();
        h.spawn_with(opts.name(names::HTTP), move |ctx| {
            run(ctx, shared, Arc::new(server))
        })
    })
    .kind(Kind::Http)
    .label("http")
    .shutdown(Shutdown::Timeout(Duration::from_secs(5)))
}

/// Releases the handler threads when the process ends, however it ends.
struct Threads {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    count: usize,
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.count {
            self.server.unblock();
        }
    }
}

async fn run(ctx: Ctx, shared: Arc<ChatShared>, server: Arc<tiny_http::Server>) -> ExitReason {
    let stop = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(AtomicUsize::new(0));
    let count = shared.config.http_threads.max(1);
    let threads = Threads {
        server: server.clone(),
        stop: stop.clone(),
        count,
    };
    for i in 0..count {
        let (server, stop, busy, shared, h) = (
            server.clone(),
            stop.clone(),
            busy.clone(),
            shared.clone(),
            ctx.handle().clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(req) = server.recv() else { continue };
                    busy.fetch_add(1, Ordering::Relaxed);
                    ChatMetrics::add(&shared.metrics.http_requests);
                    let _ = handle(&h, &shared, req);
                    busy.fetch_sub(1, Ordering::Relaxed);
                }
            });
        if let Err(e) = spawned {
            return ExitReason::custom(format!("could not start an HTTP thread: {e}"));
        }
    }
    let _threads = threads;
    loop {
        if let Received::StateRequest = ctx.recv_or_system().await {
            ctx.publish_state(
                format!(
                    "listening: http://{}\nhandler threads: {count}\nbusy now: {}\nrequests: {}",
                    shared.http_addr,
                    busy.load(Ordering::Relaxed),
                    ChatMetrics::get(&shared.metrics.http_requests)
                ),
                0,
            );
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("static header names and values are valid")
}

fn respond(req: Request, status: u16, content_type: &str, body: String) -> std::io::Result<()> {
    let len = body.len();
    let response = Response::new(
        StatusCode(status),
        vec![
            header("Content-Type", content_type),
            header("Cache-Control", "no-store"),
        ],
        Cursor::new(body.into_bytes()),
        Some(len),
        None,
    );
    req.respond(response)
}

fn handle(h: &Handle, shared: &ChatShared, req: Request) -> std::io::Result<()> {
    let url = req.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let known = matches!(
        path,
        "/" | "/index.html"
            | "/app.js"
            | "/style.css"
            | "/api/config"
            | "/api/health"
            | "/metrics"
            | "/api/slow"
    );
    if !known {
        return respond(
            req,
            404,
            "text/plain; charset=utf-8",
            format!("no such page: {path}\n"),
        );
    }
    if !matches!(req.method(), Method::Get | Method::Head) {
        let method = req.method().to_string();
        let response =
            Response::from_string(format!("{method} is not allowed on {path}; use GET\n"))
                .with_status_code(405)
                .with_header(header("Allow", "GET, HEAD"));
        return req.respond(response);
    }
    match path {
        "/" | "/index.html" => {
            respond(req, 200, "text/html; charset=utf-8", INDEX_HTML.to_string())
        }
        "/app.js" => respond(
            req,
            200,
            "text/javascript; charset=utf-8",
            APP_JS.to_string(),
        ),
        "/style.css" => respond(req, 200, "text/css; charset=utf-8", STYLE_CSS.to_string()),
        "/api/config" => {
            let body = json_object(&[
                ("ws_url", &shared.ws_url()),
                ("http_url", &format!("http://{}", shared.http_addr)),
            ]);
            respond(req, 200, "application/json", body)
        }
        "/api/health" => {
            let body = format!(
                "{{\"status\":\"ok\",\"uptime_s\":{:.3},\"processes\":{},\"connections\":{}}}",
                shared.started.elapsed().as_secs_f64(),
                h.process_count(),
                ChatMetrics::get(&shared.metrics.connections)
            );
            respond(req, 200, "application/json", body)
        }
        "/metrics" => respond(
            req,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus(h, shared),
        ),
        "/api/slow" => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .map(str::parse::<u64>);
            match ms {
                Some(Ok(ms)) if Duration::from_millis(ms) <= shared.config.max_slow => {
                    // Holds this handler thread, as a slow request holds a thread in a pool.
                    std::thread::sleep(Duration::from_millis(ms));
                    respond(
                        req,
                        200,
                        "application/json",
                        format!("{{\"slept_ms\":{ms}}}"),
                    )
                }
                Some(Ok(_)) => respond(
                    req,
                    400,
                    "text/plain; charset=utf-8",
                    format!(
                        "ms must be at most {}\n",
                        shared.config.max_slow.as_millis()
                    ),
                ),
                _ => respond(
                    req,
                    400,
                    "text/plain; charset=utf-8",
                    "give ms=N, a whole number of milliseconds\n".into(),
                ),
            }
        }
        _ => respond(
            req,
            404,
            "text/plain; charset=utf-8",
            format!("no such page: {path}\n"),
        ),
    }
}

/// The metrics page in Prometheus text format.
fn prometheus(h: &Handle, shared: &ChatShared) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let m = h.metrics();
    metric(
        "crashcourse_processes",
        "gauge",
        "Live processes",
        m.process_count as f64,
    );
    metric(
        "crashcourse_memory_bytes",
        "gauge",
        "Memory held by live processes",
        m.total_memory as f64,
    );
    if let Some(heap) = crate::alloc::live_bytes() {
        metric(
            "crashcourse_heap_bytes",
            "gauge",
            "Live heap of the whole OS process",
            heap as f64,
        );
    }
    metric(
        "crashcourse_messages_total",
        "counter",
        "Messages sent between processes",
        m.messages_total as f64,
    );
    metric(
        "crashcourse_restarts_total",
        "counter",
        "Children restarted by supervisors",
        m.restarts_total as f64,
    );
    metric(
        "crashcourse_run_queue",
        "gauge",
        "Processes waiting for a scheduler thread",
        m.run_queue as f64,
    );
    for (name, help, value) in shared.metrics.counters() {
        let kind = if name == "crashcourse_connections" {
            "gauge"
        } else {
            "counter"
        };
        metric(name, kind, help, value as f64);
    }
    for (name, help, value) in crate::chat::memory::gauges(h) {
        metric(name, "gauge", help, value);
    }
    let p = shared.pool.metrics();
    metric(
        "crashcourse_pool_size",
        "gauge",
        "Database connections up",
        p.size as f64,
    );
    metric(
        "crashcourse_pool_checked_out",
        "gauge",
        "Database connections running a request",
        p.checked_out as f64,
    );
    metric(
        "crashcourse_pool_idle",
        "gauge",
        "Database connections waiting for work",
        p.idle as f64,
    );
    metric(
        "crashcourse_pool_queue_length",
        "gauge",
        "Requests waiting for a database connection",
        p.queue_len as f64,
    );
    metric(
        "crashcourse_pool_drops_total",
        "counter",
        "Requests dropped from the queue while it was slow",
        p.drops as f64,
    );
    metric(
        "crashcourse_pool_timeouts_total",
        "counter",
        "Database calls that hit their timeout",
        p.timeouts as f64,
    );
    let _ = writeln!(out, "# HELP crashcourse_pool_queue_seconds Time from asking for a connection to getting one\n# TYPE crashcourse_pool_queue_seconds summary");
    for (q, v) in [
        ("0.5", p.queue_time.p50),
        ("0.95", p.queue_time.p95),
        ("0.99", p.queue_time.p99),
    ] {
        let _ = writeln!(
            out,
            "crashcourse_pool_queue_seconds{{quantile=\"{q}\"}} {}",
            v.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "crashcourse_pool_queue_seconds_count {}",
        p.queue_time.count
    );
    out
}
