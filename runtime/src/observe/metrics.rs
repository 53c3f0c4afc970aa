//! Runtime-wide counters and the rates derived from two readings of them.

use std::time::{Duration, Instant};

use crate::Pid;

/// A poll that kept its worker thread on the CPU for longer than 10 ms.
#[derive(Clone, Debug, PartialEq)]
pub struct LongPoll {
    pub pid: Pid,
    /// The process's label or name at the time.
    pub name: String,
    pub worker: usize,
    /// Wall-clock time of the poll (includes time the OS ran other threads on that core).
    pub running_for: Duration,
    /// CPU time the worker thread spent in the poll (what makes it a hog); at most 1 ms high.
    pub cpu: Duration,
    /// False while the poll was still running when recorded (reported by the watchdog).
    pub finished: bool,
    /// Time since the runtime started.
    pub at: Duration,
}

/// Counters read at one moment. Totals only grow; see [`MetricsSampler`] for rates.
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    pub process_count: usize,
    /// Sum of the memory of all live processes, in bytes.
    pub total_memory: usize,
    pub messages_total: u64,
    /// Per worker thread: nanoseconds spent polling, and number of polls.
    pub worker_busy_ns: Vec<u64>,
    pub worker_polls: Vec<u64>,
    pub run_queue: usize,
    /// Polls over 10 ms of CPU time since start, and the most recent ones.
    pub long_polls_total: u64,
    pub recent_long_polls: Vec<LongPoll>,
    /// Processes whose poll is running right now with over 10 ms of CPU time (wall time shown).
    pub not_yielding: Vec<(Pid, Duration)>,
    pub events_recorded: u64,
    /// Children restarted by supervisors since start.
    pub restarts_total: u64,
    pub uptime: Duration,
}

/// Rates between two readings.
#[derive(Clone, Debug, Default)]
pub struct RuntimeRates {
    pub messages_per_sec: f64,
    /// Fraction of the interval each worker thread spent polling (0.0–1.0).
    pub busy_fraction: Vec<f64>,
    pub polls_per_sec: f64,
}

/// Keeps the previous reading and turns the next one into rates.
#[derive(Default)]
pub struct MetricsSampler {
    last: Option<(Instant, RuntimeMetrics)>,
}

impl MetricsSampler {
    pub fn new() -> MetricsSampler {
        MetricsSampler::default()
    }

    /// Rates since the previous call (all zero on the first).
    pub fn sample(&mut self, now: RuntimeMetrics) -> RuntimeRates {
        let at = Instant::now();
        let rates = match &self.last {
            Some((then, prev)) => {
                let secs = at.duration_since(*then).as_secs_f64().max(1e-9);
                RuntimeRates {
                    messages_per_sec: (now.messages_total.saturating_sub(prev.messages_total))
                        as f64
                        / secs,
                    busy_fraction: now
                        .worker_busy_ns
                        .iter()
                        .zip(&prev.worker_busy_ns)
                        .map(|(n, p)| (n.saturating_sub(*p) as f64 / 1e9 / secs).min(1.0))
                        .collect(),
                    polls_per_sec: (now.worker_polls.iter().sum::<u64>()
                        - prev.worker_polls.iter().sum::<u64>())
                        as f64
                        / secs,
                }
            }
            None => RuntimeRates {
                busy_fraction: vec![0.0; now.worker_busy_ns.len()],
                ..RuntimeRates::default()
            },
        };
        self.last = Some((at, now));
        rates
    }
}

/// Sizes of the runtime's tables, for leak checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSizes {
    pub processes: usize,
    pub names: usize,
    pub subscriptions: usize,
    pub timers: usize,
}
