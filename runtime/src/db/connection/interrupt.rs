//! The interrupt switch a connection process shares with its thread: why the query in flight
//! is being stopped (a deadline, or the process is gone), and the "slow database" pause.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rusqlite::{ErrorCode, InterruptHandle};

use super::super::DbError;

/// Why the thread's current work is being interrupted. Ordered: a kill outranks a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Interrupt {
    None,
    Deadline,
    Killed,
}

/// Shared by a connection process and its thread: the interrupt switch.
pub(super) struct Ctl {
    state: Mutex<Interrupt>,
    wake: Condvar,
    pub(super) sqlite: OnceLock<InterruptHandle>,
}

impl Ctl {
    pub(super) fn new() -> Ctl {
        Ctl {
            state: Mutex::new(Interrupt::None),
            wake: Condvar::new(),
            sqlite: OnceLock::new(),
        }
    }

    pub(super) fn interrupt(&self, why: Interrupt) {
        {
            let mut s = self.state.lock();
            if why > *s {
                *s = why;
            }
            self.wake.notify_all();
        }
        if let Some(h) = self.sqlite.get() {
            h.interrupt();
        }
    }

    pub(super) fn current(&self) -> Interrupt {
        *self.state.lock()
    }

    /// A new job starts: a deadline interrupt of the previous one no longer applies.
    pub(super) fn begin_job(&self) {
        let mut s = self.state.lock();
        if *s == Interrupt::Deadline {
            *s = Interrupt::None;
        }
    }

    /// Sleeps `latency` (the "slow database" switch) unless interrupted or the caller leaves.
    pub(super) fn pause(
        &self,
        latency: Duration,
        caller_gone: impl Fn() -> bool,
    ) -> Result<(), Stop> {
        if latency.is_zero() {
            return Ok(());
        }
        let end = Instant::now() + latency;
        let mut s = self.state.lock();
        loop {
            if *s != Interrupt::None {
                return Err(Stop::Interrupted);
            }
            if caller_gone() {
                return Err(Stop::CallerGone);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            let step = (end - now).min(Duration::from_millis(10));
            self.wake.wait_for(&mut s, step);
        }
    }

    /// What a SQLite error means to the caller, given why (if at all) we interrupted.
    pub(super) fn map_err(&self, e: rusqlite::Error, path: &Path) -> DbError {
        if e.sqlite_error_code() == Some(ErrorCode::OperationInterrupted) {
            match self.current() {
                Interrupt::Killed => return DbError::ConnectionDied,
                Interrupt::Deadline => return DbError::Timeout,
                Interrupt::None => {}
            }
        }
        DbError::from_sqlite(e, path)
    }

    pub(super) fn stop_error(&self, stop: Stop) -> DbError {
        match (stop, self.current()) {
            (Stop::CallerGone, _) => DbError::Timeout,
            (_, Interrupt::Deadline) => DbError::Timeout,
            _ => DbError::ConnectionDied,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Stop {
    Interrupted,
    CallerGone,
}
