//! Helpers shared by the runtime's tests: waiting on a condition with a deadline, never a fixed
//! sleep, and a runtime per test.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crashcourse_runtime::{ManualClock, Runtime, RuntimeConfig};

/// How long a test waits for something that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds; panics with `what` if `DEADLINE` passes first.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Polls `f` until it returns `Some`; panics with `what` after the deadline.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

pub fn runtime() -> Runtime {
    Runtime::start(RuntimeConfig::default())
}

/// A runtime whose supervisors use a clock that only moves when the test says so.
pub fn runtime_with_manual_clock() -> (Runtime, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let rt = Runtime::start(RuntimeConfig::default().with_clock(clock.clone()));
    (rt, clock)
}
