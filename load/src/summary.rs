//! The end-of-run summary, k6-like: counts, latency percentiles, errors by kind, thresholds;
//! as text for people and as one JSON object for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::plan::{Model, Protocol};
use crate::shared::Shared;
use crate::stats::{Lat, Stats};
use crate::threshold::{Measured, ThresholdResult, Thresholds};

/// Every figure of a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// `websocket` or `http`.
    pub mode: &'static str,
    /// `closed` or `open`.
    pub model: &'static str,
    pub url: String,
    pub room: Option<String>,
    /// Rooms the clients spread over (`room:<room>-<k>` when more than one).
    pub rooms: u64,
    pub clients: u64,
    /// Messages (or requests) per client per second in the closed model; `null` for "no pause".
    pub rate_per_client: Option<f64>,
    /// Messages (or requests) per second in the open model.
    pub arrival_rate: Option<f64>,
    pub duration_s: f64,
    /// From start to the last reply waited for (includes the drain).
    pub elapsed_s: f64,
    pub connections: Connections,
    pub joins: Joins,
    pub messages: Messages,
    pub latency_ms: Latencies,
    /// Failures by kind (`refused`, `timed out: connect`, `closed with code 1008: ...`,
    /// `error reply: rate limited`, `HTTP 503`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Connection attempts + join attempts + messages sent.
    pub operations: u64,
    /// Failed connections + failed joins + messages not acknowledged.
    pub failures: u64,
    /// `failures / operations` (0 when nothing was attempted).
    pub error_rate: f64,
    pub thresholds: Vec<ThresholdResult>,
    /// False when any threshold failed.
    pub passed: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Connections {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Joins {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
}

/// In HTTP mode, a message is a request and its acknowledgement a 2xx response.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Messages {
    pub sent: u64,
    pub acknowledged: u64,
    pub error_replies: u64,
    /// No reply within `--timeout`.
    pub timed_out: u64,
    /// Lost with their connection, or still in flight when the drain ended.
    pub unanswered: u64,
    /// Open model: scheduled sends no user was free to make before the end.
    pub not_sent: u64,
    /// Broadcasts received.
    pub received: u64,
    pub acknowledged_per_s: f64,
    pub received_per_s: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Latencies {
    /// TCP connect + WebSocket upgrade.
    pub connect: Latency,
    /// `phx_join` to its reply.
    pub join: Latency,
    /// Send (or scheduled send, in the open model) to reply.
    pub round_trip: Latency,
}

/// Percentiles of one latency in milliseconds; `null` when there were no samples.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        let n = h.len();
        let ms = |us: u64| us as f64 / 1e3;
        let some = |v: f64| (n > 0).then_some(v);
        Latency {
            count: n,
            min: some(ms(h.min())),
            mean: some(h.mean() / 1e3),
            p50: some(ms(h.value_at_quantile(0.50))),
            p90: some(ms(h.value_at_quantile(0.90))),
            p95: some(ms(h.value_at_quantile(0.95))),
            p99: some(ms(h.value_at_quantile(0.99))),
            max: some(ms(h.max())),
        }
    }
}

impl Summary {
    pub(crate) fn from_stats(sh: &Shared, elapsed: Duration) -> Summary {
        let st = &sh.stats;
        let g = Stats::get;
        let plan = &sh.plan;
        let sending = plan.duration.as_secs_f64().max(1e-9);
        let connections = Connections {
            attempted: g(&st.connects),
            ok: g(&st.connects_ok),
            failed: g(&st.connects_failed),
        };
        let joins = Joins {
            attempted: g(&st.joins),
            ok: g(&st.joins_ok),
            failed: g(&st.joins_failed),
        };
        let acked = g(&st.acked);
        let received = g(&st.received);
        let messages = Messages {
            sent: g(&st.sent),
            acknowledged: acked,
            error_replies: g(&st.error_replies),
            timed_out: g(&st.timed_out),
            unanswered: g(&st.unanswered),
            not_sent: sh.jobs.as_ref().map_or(0, |j| j.len() as u64),
            received,
            acknowledged_per_s: acked as f64 / sending,
            received_per_s: received as f64 / sending,
        };
        let operations = connections.attempted + joins.attempted + messages.sent;
        let failures =
            connections.failed + joins.failed + messages.sent.saturating_sub(messages.acknowledged);
        let (model, rate_per_client, arrival_rate) = match plan.model {
            Model::Closed { rate } => ("closed", rate, None),
            Model::Open { arrival_rate } => ("open", None, Some(arrival_rate)),
        };
        let websocket = plan.target.protocol == Protocol::WebSocket;
        Summary {
            mode: if websocket { "websocket" } else { "http" },
            model,
            url: plan.target.url(),
            room: websocket.then(|| plan.room.clone()),
            rooms: plan.rooms as u64,
            clients: plan.clients as u64,
            rate_per_client,
            arrival_rate,
            duration_s: plan.duration.as_secs_f64(),
            elapsed_s: elapsed.as_secs_f64(),
            connections,
            joins,
            messages,
            latency_ms: Latencies {
                connect: Latency::from_histogram(&st.histogram(Lat::Connect)),
                join: Latency::from_histogram(&st.histogram(Lat::Join)),
                round_trip: Latency::from_histogram(&st.histogram(Lat::RoundTrip)),
            },
            errors: st.errors(),
            operations,
            failures,
            error_rate: if operations == 0 {
                0.0
            } else {
                failures as f64 / operations as f64
            },
            thresholds: Vec::new(),
            passed: true,
        }
    }

    /// Judges the thresholds and records the verdicts in the summary.
    pub fn judge(&mut self, thresholds: &Thresholds) {
        self.thresholds = thresholds.verdict(&Measured {
            p99_ms: self.latency_ms.round_trip.p99,
            error_rate: self.error_rate,
            failures: self.failures,
            operations: self.operations,
        });
        self.passed = self.thresholds.iter().all(|t| t.passed);
    }

    /// The summary as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes")
    }

    /// The summary as text, k6-like.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let http = self.mode == "http";
        let pace = match (self.rate_per_client, self.arrival_rate) {
            (_, Some(a)) => format!("open model, {} arriving/s across all clients", num(a)),
            (Some(0.0), _) => "closed model, connect and join only".to_string(),
            (Some(r), _) => format!("closed model, at most {}/s per client", num(r)),
            (None, None) => "closed model, no pause between reply and send".to_string(),
        };
        let _ = writeln!(o, "\n  crashcourse load  {}", self.url);
        let _ = writeln!(
            o,
            "  {} clients{}, {pace}, {}s (ran {:.1}s with the drain)\n",
            self.clients,
            self.room
                .as_ref()
                .map(|r| if self.rooms > 1 {
                    format!(" in {} rooms room:{r}-*", self.rooms)
                } else {
                    format!(" in room:{r}")
                })
                .unwrap_or_default(),
            num(self.duration_s),
            self.elapsed_s
        );
        let c = &self.connections;
        line(
            &mut o,
            "connections",
            format!(
                "{} ok, {} failed ({} attempted)",
                c.ok, c.failed, c.attempted
            ),
        );
        if !http {
            let j = &self.joins;
            line(
                &mut o,
                "joins",
                format!(
                    "{} ok, {} failed ({} attempted)",
                    j.ok, j.failed, j.attempted
                ),
            );
        }
        let m = &self.messages;
        let what = if http { "requests" } else { "messages" };
        let acked = if http { "2xx" } else { "acknowledged" };
        let mut text = format!(
            "{} sent, {} {acked} ({:.1}/s), {} error replies, {} timed out, {} unanswered",
            m.sent,
            m.acknowledged,
            m.acknowledged_per_s,
            m.error_replies,
            m.timed_out,
            m.unanswered
        );
        if self.arrival_rate.is_some() {
            let _ = write!(text, ", {} not sent (no free client)", m.not_sent);
        }
        line(&mut o, what, text);
        if !http {
            line(
                &mut o,
                "broadcasts",
                format!("{} received ({:.1}/s)", m.received, m.received_per_s),
            );
        }
        let l = &self.latency_ms;
        line(&mut o, "connect latency", lat(&l.connect));
        if !http {
            line(&mut o, "join latency", lat(&l.join));
        }
        line(
            &mut o,
            if http {
                "request latency"
            } else {
                "round trip"
            },
            lat(&l.round_trip),
        );
        line(
            &mut o,
            "error rate",
            format!(
                "{:.2}% ({} of {} operations)",
                self.error_rate * 100.0,
                self.failures,
                self.operations
            ),
        );
        if self.errors.is_empty() {
            line(&mut o, "errors", "none".into());
        } else {
            let total: u64 = self.errors.values().sum();
            line(&mut o, "errors", format!("{total}, by kind:"));
            for (kind, n) in &self.errors {
                let _ = writeln!(o, "      {n:>8}  {kind}");
            }
        }
        if !self.thresholds.is_empty() {
            let _ = writeln!(o, "\n  thresholds");
            for t in &self.thresholds {
                let mark = if t.passed { "✓ pass" } else { "✗ FAIL" };
                let _ = writeln!(o, "    {mark}  {}  (actual: {})", t.name, t.actual);
            }
        }
        o
    }
}

fn line(o: &mut String, label: &str, value: String) {
    let dots = ".".repeat(20usize.saturating_sub(label.len()));
    let _ = writeln!(o, "  {label}{dots}: {value}");
}

fn lat(l: &Latency) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}ms"));
    if l.count == 0 {
        return "no samples".into();
    }
    format!(
        "min={} p50={} p90={} p95={} p99={} max={} (n={})",
        f(l.min),
        f(l.p50),
        f(l.p90),
        f(l.p95),
        f(l.p99),
        f(l.max),
        l.count
    )
}

/// A number without a needless `.0`.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}
