//! The thread-pool contrast: the same slow work (N ms standing for a database call) served two
//! ways under the same load at once — behind the HTTP server's fixed handler threads
//! (`/api/slow?ms=N`) and as one lightweight process per request over the WebSocket (the `slow`
//! event). Each side is an ordinary closed-model run; the result puts their summaries side by side.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::plan::{Model, Plan, PlanError, Protocol, Target, MAX_CLIENTS, MAX_SLOW_MS, PER_SOURCE};
use crate::run::{start as start_run, Running};
use crate::stats::Live;
use crate::summary::{Latency, Summary};

/// Requests each user makes per second: a user clicking once a second. With 1,000 users and
/// 100 ms of work that is 1,000 requests a second, ten times what 4 threads can serve.
pub const RATE_PER_USER: f64 = 1.0;

/// Both sides of one contrast.
#[derive(Clone, Debug, PartialEq)]
pub struct ContrastPlan {
    /// The HTTP server, e.g. `http://127.0.0.1:4000` (`/api/slow?ms=N` is appended unless the
    /// URL already names a path).
    pub http_url: String,
    /// The Phoenix socket, e.g. `ws://127.0.0.1:4001/socket`.
    pub ws_url: String,
    /// Users on each side (one connection each).
    pub users: usize,
    /// The work of one request, in milliseconds.
    pub work_ms: u64,
    /// How long each side sends.
    pub duration: Duration,
}

impl ContrastPlan {
    /// 1,000 users, 100 ms of work, 10 s, against `crashcourse serve`'s default ports.
    pub fn new(http_url: impl Into<String>, ws_url: impl Into<String>) -> ContrastPlan {
        ContrastPlan {
            http_url: http_url.into(),
            ws_url: ws_url.into(),
            users: 1000,
            work_ms: 100,
            duration: Duration::from_secs(10),
        }
    }

    /// The two runs: (thread pool over HTTP, processes over the WebSocket), checked.
    pub fn plans(&self) -> Result<(Plan, Plan), PlanError> {
        if self.users == 0 || self.users > MAX_CLIENTS / 2 {
            return Err(PlanError::Invalid(format!(
                "a contrast runs its users twice in one process (once per side): 1 to {} users",
                MAX_CLIENTS / 2
            )));
        }
        if self.work_ms > MAX_SLOW_MS {
            return Err(PlanError::Invalid(format!(
                "the work of one request is at most {MAX_SLOW_MS} ms"
            )));
        }
        let mut http = Target::parse(&self.http_url)?;
        if http.protocol != Protocol::Http {
            return Err(PlanError::Url(
                self.http_url.clone(),
                "the thread-pool side needs an http:// URL".into(),
            ));
        }
        if http.path == "/" {
            http.path = format!("/api/slow?ms={}", self.work_ms);
        }
        let ws = Target::parse(&self.ws_url)?;
        if ws.protocol != Protocol::WebSocket {
            return Err(PlanError::Url(
                self.ws_url.clone(),
                "the process side needs a ws:// URL".into(),
            ));
        }
        let side = |target: Target| {
            let mut p = Plan::new(target);
            p.clients = self.users;
            // Every user connected within about a second.
            p.ramp = (self.users as f64).max(1.0);
            p.duration = self.duration;
            p.model = Model::Closed {
                rate: Some(RATE_PER_USER),
            };
            p.room = "contrast".into();
            p
        };
        let mut thread_pool = side(http);
        let mut processes = side(ws);
        processes.slow_ms = Some(self.work_ms);
        // Separate source addresses, so the two sides never compete for ephemeral ports.
        let next = u32::from(processes.first_source) + self.users.div_ceil(PER_SOURCE) as u32;
        thread_pool.first_source = std::net::Ipv4Addr::from(next);
        thread_pool.validate()?;
        processes.validate()?;
        Ok((thread_pool, processes))
    }
}

/// One side's summary (kept for callers that name a side on its own).
#[derive(Clone, Debug, PartialEq)]
pub struct ContrastSide {
    pub summary: Summary,
}

/// Both summaries at the end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContrastResult {
    /// `/api/slow` behind the HTTP server's fixed handler threads.
    pub thread_pool: Summary,
    /// The `slow` event, one process per request.
    pub processes: Summary,
}

/// A contrast going on: both sides run at the same time.
pub struct RunningContrast {
    thread_pool: Running,
    processes: Running,
}

/// Checks `plan` and starts both sides at once.
pub fn start(plan: ContrastPlan) -> Result<RunningContrast, PlanError> {
    let (tp, pr) = plan.plans()?;
    let thread_pool = start_run(tp)?;
    let processes = match start_run(pr) {
        Ok(r) => r,
        Err(e) => {
            thread_pool.stop();
            return Err(e);
        }
    };
    Ok(RunningContrast {
        thread_pool,
        processes,
    })
}

impl RunningContrast {
    /// Counts so far: (thread pool, processes).
    pub fn live(&self) -> (Live, Live) {
        (self.thread_pool.live(), self.processes.live())
    }

    /// Ends the sending on both sides now; replies in flight are still waited for (the drain).
    pub fn stop(&self) {
        self.thread_pool.stop();
        self.processes.stop();
    }

    /// True once both summaries are ready.
    pub fn is_finished(&self) -> bool {
        self.thread_pool.is_finished() && self.processes.is_finished()
    }

    /// The side with the longer plan (both have the same duration; used for progress).
    pub fn plan(&self) -> &Plan {
        self.processes.plan()
    }

    /// Waits for both sides to end and returns their summaries.
    pub fn wait(self) -> ContrastResult {
        let RunningContrast {
            thread_pool,
            processes,
        } = self;
        ContrastResult {
            thread_pool: thread_pool.wait(),
            processes: processes.wait(),
        }
    }
}

impl ContrastResult {
    /// As one JSON object: `{"thread_pool": {summary}, "processes": {summary}}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a contrast always serializes")
    }

    /// Both sides in two columns: users, replies, throughput, p50/p99, timeouts and errors.
    pub fn to_text(&self) -> String {
        let (t, p) = (&self.thread_pool, &self.processes);
        let mut o = String::new();
        let _ = writeln!(o, "\n  crashcourse load --contrast");
        let _ = writeln!(
            o,
            "  {} users a side, each sending {}/s and waiting for its reply, {}s\n",
            p.clients, RATE_PER_USER, p.duration_s
        );
        let row = |o: &mut String, label: &str, a: String, b: String| {
            let _ = writeln!(o, "  {label:<18} {a:>22} {b:>22}");
        };
        row(
            &mut o,
            "",
            "thread pool (HTTP)".into(),
            "processes (WS)".into(),
        );
        row(&mut o, "url", short_url(&t.url), short_url(&p.url));
        let n = |v: u64| v.to_string();
        row(
            &mut o,
            "connected",
            n(t.connections.ok),
            n(p.connections.ok),
        );
        row(&mut o, "sent", n(t.messages.sent), n(p.messages.sent));
        row(
            &mut o,
            "answered ok",
            n(t.messages.acknowledged),
            n(p.messages.acknowledged),
        );
        row(
            &mut o,
            "throughput",
            format!("{:.1}/s", t.messages.acknowledged_per_s),
            format!("{:.1}/s", p.messages.acknowledged_per_s),
        );
        let ms = |l: &Latency, v: Option<f64>| {
            if l.count == 0 {
                "-".to_string()
            } else {
                v.map_or("-".into(), |v| format!("{v:.1}ms"))
            }
        };
        let (tl, pl) = (&t.latency_ms.round_trip, &p.latency_ms.round_trip);
        row(&mut o, "p50", ms(tl, tl.p50), ms(pl, pl.p50));
        row(&mut o, "p99", ms(tl, tl.p99), ms(pl, pl.p99));
        row(&mut o, "max", ms(tl, tl.max), ms(pl, pl.max));
        row(
            &mut o,
            "timed out",
            n(t.messages.timed_out),
            n(p.messages.timed_out),
        );
        row(
            &mut o,
            "unanswered",
            n(t.messages.unanswered),
            n(p.messages.unanswered),
        );
        row(
            &mut o,
            "error rate",
            format!("{:.2}%", t.error_rate * 100.0),
            format!("{:.2}%", p.error_rate * 100.0),
        );
        let _ = writeln!(
            o,
            "\n  The thread pool serves at most (threads x 1000 / work ms) requests a second; the \
             rest wait in its queue.\n  Each process waits on a timer, not a thread: their \
             latency stays near the work's own."
        );
        o
    }
}

/// `http://127.0.0.1:4000/api/slow?ms=100` without the scheme, for a narrow column.
fn short_url(url: &str) -> String {
    let s = url.split_once("://").map_or(url, |(_, r)| r);
    if s.chars().count() > 22 {
        format!("{}…", s.chars().take(21).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_the_same_load_and_their_own_targets() {
        let mut c = ContrastPlan::new("http://127.0.0.1:4000", "ws://127.0.0.1:4001/socket");
        let (t, p) = c.plans().unwrap();
        assert_eq!(t.target.path, "/api/slow?ms=100");
        assert_eq!(p.slow_ms, Some(100));
        assert_eq!((t.clients, p.clients), (1000, 1000));
        assert_eq!(t.model, p.model);
        assert_eq!(t.duration, p.duration);
        assert_ne!(t.first_source, p.first_source);
        c.users = MAX_CLIENTS;
        assert!(c.plans().is_err(), "two sides of 19,000 do not fit");
        c.users = 10;
        c.work_ms = MAX_SLOW_MS + 1;
        assert!(c.plans().is_err());
        c.work_ms = 5;
        c.http_url = "ws://127.0.0.1:4001/socket".into();
        assert!(c.plans().is_err(), "the HTTP side needs http://");
    }
}
