//! Chaos: a process ("chaos") that, at a chosen rate for a chosen time, picks a random live
//! process of the chosen kinds from the process table and kills it, counting kills per kind.
//! It never picks itself, the faults' processes, or a supervisor unless supervisors were
//! chosen by kind.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::error::FaultError;
use super::figures::Figures;
use crate::observe::ProcessRow;
use crate::{ExitReason, Handle, Kind, Pid, SpawnOpts, Status};

/// The highest rate a plan may ask for.
pub const MAX_PER_SECOND: f64 = 10_000.0;
/// The longest a plan may run.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// How many recent kills a report lists.
const RECENT: usize = 20;

/// What chaos kills, how fast and for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct ChaosPlan {
    /// Kills per second.
    pub per_second: f64,
    pub duration: Duration,
    /// The kinds of process it picks from.
    pub kinds: Vec<Kind>,
    /// Seeds the choice of victims (the clock when `None`).
    pub seed: Option<u64>,
}

impl ChaosPlan {
    /// Kinds from a comma-separated list of names as the process table shows them, with `_`
    /// for a space: `"channel,room,socket,pool_connection"`.
    pub fn parse_kinds(s: &str) -> Result<Vec<Kind>, FaultError> {
        let mut kinds = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let kind = Kind::parse(word).ok_or_else(|| {
                let known: Vec<String> = Kind::ALL
                    .iter()
                    .map(|k| k.name().replace(' ', "_"))
                    .collect();
                FaultError::BadPlan(format!(
                    "unknown process kind {word:?} (known: {})",
                    known.join(", ")
                ))
            })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if kinds.is_empty() {
            return Err(FaultError::BadPlan("no process kinds given".into()));
        }
        Ok(kinds)
    }

    pub(super) fn validate(&self) -> Result<(), FaultError> {
        if self.kinds.is_empty() {
            return Err(FaultError::BadPlan("no process kinds given".into()));
        }
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(FaultError::BadPlan(format!(
                "the rate must be above 0 kills/s, not {}",
                self.per_second
            )));
        }
        if self.per_second > MAX_PER_SECOND {
            return Err(FaultError::BadPlan(format!(
                "the rate must be at most {MAX_PER_SECOND} kills/s, not {}",
                self.per_second
            )));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(FaultError::BadPlan(format!(
                "the duration must be above 0 and at most 24 h, not {:?}",
                self.duration
            )));
        }
        Ok(())
    }
}

/// What chaos has killed so far (or in all, once it ended).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChaosReport {
    pub running: bool,
    pub elapsed: Duration,
    /// Kills per kind, in the plan's order of kinds.
    pub killed: Vec<(Kind, u64)>,
    pub killed_total: u64,
    /// Ticks that found no process to kill.
    pub missed: u64,
    /// The last kills (at most 20), oldest first: pid and label or name.
    pub recent: Vec<(Pid, String)>,
}

impl ChaosReport {
    fn count(&mut self, row: &ProcessRow) {
        match self.killed.iter_mut().find(|(k, _)| *k == row.kind) {
            Some((_, n)) => *n += 1,
            None => self.killed.push((row.kind, 1)),
        }
        self.killed_total += 1;
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push((row.pid, row.display_name().to_string()));
    }
}

/// One chaos run: its process and its report.
#[derive(Clone)]
pub(super) struct ChaosRun {
    pid: Pid,
    started: Instant,
    report: Arc<Mutex<ChaosReport>>,
}

impl ChaosRun {
    pub(super) fn is_running(&self, handle: &Handle) -> bool {
        self.report.lock().running && handle.is_alive(self.pid)
    }

    pub(super) fn report(&self) -> ChaosReport {
        let mut r = self.report.lock().clone();
        if r.running {
            r.elapsed = self.started.elapsed();
        }
        r
    }

    /// Stops the chaos process and waits until it is gone.
    pub(super) fn stop(&self, handle: &Handle) {
        if handle.exit(self.pid, ExitReason::Kill).is_ok() {
            let _ = handle.wait_exit_timeout(self.pid, Duration::from_secs(10));
        }
    }

    pub(super) fn wait(&self, handle: &Handle, timeout: Duration) -> Option<ChaosReport> {
        handle.wait_exit_timeout(self.pid, timeout)?;
        Some(self.report())
    }
}

/// Marks the report finished when the chaos process goes, however it goes.
struct Finish {
    report: Arc<Mutex<ChaosReport>>,
    started: Instant,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut r = self.report.lock();
        r.running = false;
        r.elapsed = self.started.elapsed();
        let per_kind: Vec<String> = r
            .killed
            .iter()
            .map(|(k, n)| format!("{}={n}", k.name()))
            .collect();
        tracing::info!(
            killed = r.killed_total,
            missed = r.missed,
            per_kind = %per_kind.join(" "),
            "chaos ended"
        );
    }
}

pub(super) fn start(
    handle: &Handle,
    plan: ChaosPlan,
    figures: Arc<Figures>,
) -> Result<ChaosRun, FaultError> {
    let started = Instant::now();
    let report = Arc::new(Mutex::new(ChaosReport {
        running: true,
        killed: plan.kinds.iter().map(|k| (*k, 0)).collect(),
        ..ChaosReport::default()
    }));
    let r = report.clone();
    tracing::info!(
        per_second = plan.per_second,
        duration = ?plan.duration,
        kinds = ?plan.kinds,
        "chaos starts"
    );
    let pid = handle
        .spawn_with(SpawnOpts::new().label("chaos"), move |ctx| async move {
            let finish = Finish {
                report: r,
                started,
            };
            let mut rng = Rng::new(plan.seed.unwrap_or_else(clock_seed));
            let interval = Duration::from_secs_f64(1.0 / plan.per_second);
            let end = started + plan.duration;
            let mut tick: u32 = 1;
            loop {
                let due = started + interval * tick;
                if due > end {
                    break;
                }
                tick = tick.saturating_add(1);
                async_io::Timer::at(due).await;
                let victim = pick(ctx.handle(), ctx.pid(), &plan.kinds, &figures, &mut rng);
                let mut r = finish.report.lock();
                match victim {
                    Some(row) if ctx.handle().kill(row.pid).is_ok() => {
                        tracing::debug!(pid = %row.pid, kind = row.kind.name(), name = row.display_name(), "chaos killed");
                        r.count(&row);
                    }
                    _ => r.missed += 1,
                }
                r.elapsed = started.elapsed();
            }
        })
        .map_err(|e| FaultError::Runtime(e.to_string()))?;
    Ok(ChaosRun {
        pid,
        started,
        report,
    })
}

/// A live process of one of `kinds`, chosen uniformly (reservoir sampling over one pass of the
/// table, without copying it: chaos stays cheap beside a table of 100,000 leaked processes).
fn pick(
    handle: &Handle,
    me: Pid,
    kinds: &[Kind],
    figures: &Figures,
    rng: &mut Rng,
) -> Option<ProcessRow> {
    let spared = figures.spared();
    let mut seen = 0usize;
    let mut chosen = None;
    handle.0.table.for_each(|p| {
        if p.pid == me
            || !kinds.contains(&p.kind)
            || p.status() == Status::Exited
            || spared.contains(&p.pid)
            || p.parent.is_some_and(|parent| spared.contains(&parent))
        {
            return;
        }
        seen += 1;
        if rng.below(seen) == 0 {
            chosen = Some(p.clone());
        }
    });
    let now = handle.0.now().as_nanos() as u64;
    let poll_now = handle.0.executor.now_ns();
    chosen.map(|p| ProcessRow::read(&p, now, poll_now, &[]))
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
}

/// splitmix64: small, fast, and good enough to pick victims.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
