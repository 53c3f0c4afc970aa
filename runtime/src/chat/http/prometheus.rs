//! The metrics page (`/metrics`) in Prometheus text format: the runtime's figures, the chat
//! server's counters and the database pool's.

use std::fmt::Write as _;

use crate::chat::ChatShared;
use crate::Handle;

/// The metrics page in Prometheus text format.
pub(crate) fn prometheus(h: &Handle, shared: &ChatShared, http_open: usize) -> String {
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
    metric(
        "crashcourse_http_connections",
        "gauge",
        "HTTP connections open, one process each",
        http_open as f64,
    );
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
