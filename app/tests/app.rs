//! The real app, headless: an embedded runtime with the demo tree, driven through its widgets
//! by accessible label. Every wait is a condition with a deadline, stepping frames meanwhile.

use std::time::{Duration, Instant};

use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

const DEADLINE: Duration = Duration::from_secs(10);

/// The default app, polling the runtime every frame so tests do not wait on the interval.
fn harness() -> Harness<'static, CrashcourseApp> {
    let config = AppConfig {
        snapshot_interval: Duration::ZERO,
        ..AppConfig::default()
    };
    Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config))
}

/// Steps frames until `cond` holds, failing with `what` after [`DEADLINE`].
fn step_until(
    harness: &mut Harness<'static, CrashcourseApp>,
    what: &str,
    cond: impl Fn(&Harness<'static, CrashcourseApp>) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        harness.step();
        if cond(harness) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting until {what}"
        );
        // Poll, do not spin: the runtime's threads need the cores too.
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn shows(harness: &Harness<'static, CrashcourseApp>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

fn shows_containing(harness: &Harness<'static, CrashcourseApp>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

/// Clicks the first widget labelled `label` (the tree draws before the table).
fn click_first(harness: &Harness<'static, CrashcourseApp>, label: &str) {
    harness
        .query_all_by_label(label)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {label:?}"))
        .click();
}

#[test]
fn the_tree_shows_the_top_supervisor() {
    let mut harness = harness();
    step_until(&mut harness, "the tree shows \"crashcourse\"", |h| {
        shows(h, "crashcourse") && shows(h, "workers") && shows(h, "counter")
    });
    // The demo's sessions are more than fifty, so they are folded into one group.
    step_until(&mut harness, "the sessions are grouped", |h| {
        shows(h, "+60 children")
    });
}

#[test]
fn killing_a_worker_shows_its_restart_count_and_a_timeline_entry() {
    let mut harness = harness();
    step_until(&mut harness, "the tree shows \"worker 1\"", |h| {
        shows(h, "worker 1")
    });
    click_first(&harness, "worker 1");
    step_until(&mut harness, "the inspector shows worker 1", |h| {
        shows(h, "Kill") && shows(h, "Restarts: 0")
    });
    let killed = harness
        .state()
        .world()
        .resource::<crashcourse_app::state::components::Selection>()
        .pid;
    harness.get_by_label("Kill").click();

    step_until(
        &mut harness,
        "the inspector reads \"Restarts: 1\" and the timeline shows the restart",
        |h| shows(h, "Restarts: 1") && shows_containing(h, "worker 1 restarted by workers"),
    );
    // The inspector followed the restart to the new process.
    let now = harness
        .state()
        .world()
        .resource::<crashcourse_app::state::components::Selection>()
        .pid;
    assert_ne!(
        now, killed,
        "the selection should follow the restarted worker"
    );
    assert!(
        shows_containing(&harness, "exited: killed"),
        "the kill shows in the timeline"
    );
}

#[test]
fn crashing_the_counter_restarts_it_with_the_panic_as_reason() {
    let mut harness = harness();
    step_until(&mut harness, "the tree shows \"counter\"", |h| {
        shows(h, "counter")
    });
    click_first(&harness, "counter");
    step_until(
        &mut harness,
        "the inspector shows the counter's state",
        |h| shows(h, "Crash") && shows_containing(h, "%Counter{count:"),
    );
    harness.get_by_label("Crash").click();

    step_until(
        &mut harness,
        "the timeline shows the counter restarted after a panic",
        |h| {
            shows(h, "Restarts: 1")
                && shows_containing(h, "counter restarted by crashcourse after: panic")
        },
    );
    assert!(
        shows_containing(&harness, "Followed the restart from"),
        "the inspector follows the counter to its new process"
    );
}

#[test]
fn killing_the_top_supervisor_offers_to_start_again() {
    let mut harness = harness();
    step_until(&mut harness, "the tree shows \"crashcourse\"", |h| {
        shows(h, "crashcourse")
    });
    let first_top = harness.state().top_supervisor();
    click_first(&harness, "crashcourse");
    step_until(
        &mut harness,
        "the inspector shows the top supervisor",
        |h| shows(h, "Kill") && shows(h, "Supervised by: nobody (top level)"),
    );
    harness.get_by_label("Kill").click();

    step_until(
        &mut harness,
        "the stopped banner and \"Start again\"",
        |h| {
            shows_containing(h, "The top supervisor \"crashcourse\"")
                && shows_containing(h, "reason: killed")
                && shows(h, "Start again")
        },
    );
    harness.get_by_label("Start again").click();

    step_until(&mut harness, "the tree is back and the banner gone", |h| {
        !shows(h, "Start again") && shows(h, "crashcourse") && shows(h, "worker 1")
    });
    let second_top = harness.state().top_supervisor();
    assert!(
        second_top.is_some() && second_top != first_top,
        "a new top supervisor runs"
    );
    let handle = harness.state().handle();
    assert!(handle.is_alive(second_top.unwrap()));
}
