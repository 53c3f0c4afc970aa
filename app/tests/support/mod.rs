//! What the app's headless tests share: the harness type, the app with its temporary database
//! directory, stepping frames until a condition holds (with a deadline, never a fixed sleep) and
//! label queries.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use crashcourse_app::CrashcourseApp;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

pub type AppHarness = Harness<'static, CrashcourseApp>;

/// The app and the temporary directory its database lives in (removed after the app).
pub struct TestApp {
    pub harness: AppHarness,
    pub _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestApp {
    type Target = AppHarness;
    fn deref(&self) -> &AppHarness {
        &self.harness
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut AppHarness {
        &mut self.harness
    }
}

/// Steps frames until `cond` holds, failing with `what` once `deadline` has passed.
pub fn step_until_within(
    harness: &mut AppHarness,
    deadline: Duration,
    what: &str,
    cond: impl Fn(&AppHarness) -> bool,
) {
    let give_up = Instant::now() + deadline;
    loop {
        harness.step();
        if cond(harness) {
            return;
        }
        assert!(
            Instant::now() < give_up,
            "gave up after {deadline:?} waiting until {what}"
        );
        // Poll, do not spin: the runtime's threads need the cores too.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a widget labelled exactly `label` is drawn.
pub fn shows(harness: &AppHarness, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

/// Whether a widget whose label contains `text` is drawn.
pub fn shows_containing(harness: &AppHarness, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}
