//! Trouble on purpose: faults a learner switches on and off ([`Faults`]), and chaos, which
//! kills random processes of chosen kinds at a chosen rate ([`ChaosPlan`]).
//!
//! Each process fault runs as real processes under a supervisor of its own, labelled with the
//! fault, so it shows in the process table, the metrics and the event stream like anything
//! else; switching it off stops that supervisor and waits until it is gone, so the process
//! count and memory fall back. The two pool faults are the pool's lesson switches. Nothing
//! here is reachable from the network.
//!
//! ```
//! use crashcourse_runtime::{FaultKind, Faults, Runtime, RuntimeConfig};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let faults = Faults::new(&rt);
//! let before = rt.process_count();
//! faults.switch_on(FaultKind::Leak).unwrap();
//! assert!(faults.is_on(FaultKind::Leak));
//! faults.switch_off(FaultKind::Leak).unwrap();
//! assert_eq!(rt.process_count(), before);
//! ```

mod busy_loop;
mod chaos;
mod error;
mod figures;
mod flood;
mod hoarder;
mod kind;
mod leak;
mod pool_switches;
mod status;
mod unmatched;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::db::Pool;
use crate::{ExitReason, Handle, Pid};

pub use busy_loop::SLICE as BUSY_SLICE;
pub use chaos::{ChaosPlan, ChaosReport, MAX_DURATION, MAX_PER_SECOND};
pub use error::FaultError;
pub use flood::{FLOOD_BYTES, FLOOD_LIMIT, FLOOD_PER_SECOND};
pub use hoarder::HOARD_LIMIT;
pub use kind::FaultKind;
pub use leak::{LEAK_LIMIT, LEAK_PER_SECOND};
pub use pool_switches::SLOW_QUERY;
pub use status::FaultStatus;
pub use unmatched::{UNMATCHED_LIMIT, UNMATCHED_PER_SECOND};

use chaos::ChaosRun;
use figures::Figures;

/// How long switching a fault off waits for its supervisor to be gone.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The fault switches of one runtime (and optionally its pool). Cheap to clone; nothing runs
/// until a fault is switched on. Its methods block the calling thread while they wait for
/// processes to stop: call them from a plain thread, never from inside a process.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<FaultKind> = self.inner.on.lock().keys().copied().collect();
        f.debug_struct("Faults")
            .field("on", &on)
            .field("pool", &self.inner.pool.is_some())
            .finish()
    }
}

struct Inner {
    handle: Handle,
    pool: Option<Pool>,
    figures: Arc<Figures>,
    /// Faults that are on: the supervisor of a process fault, `None` for a pool switch.
    on: Mutex<HashMap<FaultKind, Option<Pid>>>,
    /// The query latency before slow queries were switched on, to restore after.
    latency_before: Mutex<Duration>,
    chaos: Mutex<Option<ChaosRun>>,
}

impl Faults {
    /// The faults of the runtime behind `handle`; the pool faults are unavailable.
    pub fn new(handle: &Handle) -> Faults {
        Faults::build(handle, None)
    }

    /// The faults of the runtime behind `handle` and of `pool`.
    pub fn with_pool(handle: &Handle, pool: Pool) -> Faults {
        Faults::build(handle, Some(pool))
    }

    fn build(handle: &Handle, pool: Option<Pool>) -> Faults {
        Faults {
            inner: Arc::new(Inner {
                handle: handle.clone(),
                pool,
                figures: Arc::new(Figures::default()),
                on: Mutex::new(HashMap::new()),
                latency_before: Mutex::new(Duration::ZERO),
                chaos: Mutex::new(None),
            }),
        }
    }

    /// Switches `kind` on; does nothing if it is on already.
    pub fn switch_on(&self, kind: FaultKind) -> Result<(), FaultError> {
        let inner = &self.inner;
        let mut on = inner.on.lock();
        if let Some(entry) = on.get(&kind) {
            match entry {
                Some(sup) if !inner.handle.is_alive(*sup) => {
                    // Someone stopped its supervisor from outside: start it afresh.
                    on.remove(&kind);
                }
                _ => return Ok(()),
            }
        }
        if inner.handle.is_shutting_down() {
            return Err(FaultError::Runtime("the runtime is shutting down".into()));
        }
        let h = &inner.handle;
        let f = &inner.figures;
        let started = match kind {
            FaultKind::Leak => leak::start(h, f).map(Some),
            FaultKind::MailboxFlood => flood::start(h, f).map(Some),
            FaultKind::UnmatchedMessages => unmatched::start(h, f).map(Some),
            FaultKind::UnboundedState => hoarder::start(h, f).map(Some),
            FaultKind::BusyLoop => busy_loop::start(h, f).map(Some),
            FaultKind::SlowQueries | FaultKind::WriteLock => {
                let pool = inner.pool.as_ref().ok_or(FaultError::NeedsPool(kind))?;
                pool_switches::switch(pool, kind, true, &inner.latency_before).map(|()| None)
            }
        }?;
        if let Some(sup) = started {
            inner.figures.spare(sup);
            tracing::info!(fault = kind.name(), %sup, "fault switched on");
        } else {
            tracing::info!(fault = kind.name(), "fault switched on");
        }
        on.insert(kind, started);
        Ok(())
    }

    /// Switches `kind` off and waits until its processes are gone; does nothing if it is off.
    pub fn switch_off(&self, kind: FaultKind) -> Result<(), FaultError> {
        let inner = &self.inner;
        // Not held while waiting: the app reads the status meanwhile.
        let Some(entry) = inner.on.lock().remove(&kind) else {
            return Ok(());
        };
        let stopped = match entry {
            Some(sup) => stop_supervisor(&inner.handle, sup).inspect(|()| {
                inner.figures.unspare(sup);
            }),
            None => match inner.pool.as_ref() {
                Some(pool) => pool_switches::switch(pool, kind, false, &inner.latency_before),
                None => Err(FaultError::NeedsPool(kind)),
            },
        };
        if let Err(e) = stopped {
            inner.on.lock().entry(kind).or_insert(entry);
            return Err(e);
        }
        tracing::info!(fault = kind.name(), "fault switched off");
        Ok(())
    }

    /// Whether `kind` is on (a process fault whose supervisor was stopped from outside is off).
    pub fn is_on(&self, kind: FaultKind) -> bool {
        match self.inner.on.lock().get(&kind) {
            Some(Some(sup)) => self.inner.handle.is_alive(*sup),
            Some(None) => true,
            None => false,
        }
    }

    /// Switches every fault off (and stops chaos), logging what could not be.
    pub fn all_off(&self) {
        self.stop_chaos();
        for kind in FaultKind::ALL {
            if let Err(e) = self.switch_off(kind) {
                tracing::warn!(fault = kind.name(), error = %e, "could not switch the fault off");
            }
        }
    }

    /// What is on, and the live figures that show it.
    pub fn status(&self) -> FaultStatus {
        let on: Vec<FaultKind> = FaultKind::ALL
            .into_iter()
            .filter(|k| self.is_on(*k))
            .collect();
        status::read(
            &self.inner.handle,
            &self.inner.figures,
            on,
            self.chaos_report(),
        )
    }

    /// Starts chaos with `plan`. Fails if chaos runs already or the plan is not sound.
    pub fn start_chaos(&self, plan: ChaosPlan) -> Result<(), FaultError> {
        plan.validate()?;
        let mut chaos = self.inner.chaos.lock();
        if let Some(run) = chaos.as_ref() {
            if run.is_running(&self.inner.handle) {
                return Err(FaultError::ChaosRunning);
            }
        }
        *chaos = Some(chaos::start(
            &self.inner.handle,
            plan,
            self.inner.figures.clone(),
        )?);
        Ok(())
    }

    /// Stops chaos (waiting until its process is gone); its report, if it ever ran.
    pub fn stop_chaos(&self) -> Option<ChaosReport> {
        let run = self.inner.chaos.lock().clone()?;
        run.stop(&self.inner.handle);
        Some(run.report())
    }

    /// The running chaos's report so far, or the last run's.
    pub fn chaos_report(&self) -> Option<ChaosReport> {
        self.inner.chaos.lock().as_ref().map(ChaosRun::report)
    }

    /// Waits up to `timeout` for the running chaos to end by itself; its report if it ended
    /// (or had ended), `None` if it is still running or never ran.
    pub fn wait_chaos(&self, timeout: Duration) -> Option<ChaosReport> {
        let run = self.inner.chaos.lock().clone()?;
        run.wait(&self.inner.handle, timeout)
    }
}

/// Stops a fault's supervisor (it stops its children first) and waits until it is gone.
fn stop_supervisor(handle: &Handle, sup: Pid) -> Result<(), FaultError> {
    if handle.exit(sup, ExitReason::Shutdown).is_err() {
        return Ok(()); // gone already
    }
    match handle.wait_exit_timeout(sup, STOP_TIMEOUT) {
        Some(_) => Ok(()),
        None => {
            let _ = handle.kill(sup);
            handle
                .wait_exit_timeout(sup, STOP_TIMEOUT)
                .map(|_| ())
                .ok_or_else(|| FaultError::Runtime(format!("{sup} did not stop")))
        }
    }
}
