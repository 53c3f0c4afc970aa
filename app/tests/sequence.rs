//! "top" by busy time and the trace's sequence diagram, in the real app, headless: the table
//! sorted by busy time puts a busy process first; tracing one side of a ping-pong pair from
//! the inspector draws its messages in order and says which bound stopped the trace.

use std::time::{Duration, Instant};

use crashcourse_app::panels::Tab;
use crashcourse_app::state::commands::Command;
use crashcourse_app::state::components::{Counters, PidIndex};
use crashcourse_app::state::trace::Tracing;
use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use crashcourse_runtime::{Pid, SpawnOpts};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

mod support;
use support::{shows, step_until_within, AppHarness, TestApp};

const DEADLINE: Duration = Duration::from_secs(20);

fn step_until(harness: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    step_until_within(harness, DEADLINE, what, cond);
}

fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = AppConfig::isolated(&dir.path().join("chat.db"));
    config.snapshot_interval = Duration::from_millis(10);
    config.metrics_interval = Duration::from_millis(100);
    let harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config));
    TestApp { harness, _dir: dir }
}

fn rect_of(harness: &AppHarness, label: &str) -> Option<egui::Rect> {
    harness.query_all_by_label(label).next().map(|n| n.rect())
}

/// Whether the table's first row, right below the header `header`, is the spinner's.
fn spinner_right_below(harness: &AppHarness, header: &str) -> bool {
    let Some(header) = rect_of(harness, header) else {
        return false;
    };
    harness.query_all_by_label("busy spinner").any(|n| {
        let r = n.rect();
        r.top() >= header.bottom() && r.top() - header.bottom() < 30.0
    })
}

fn busy_of(harness: &AppHarness, pid: Pid) -> Duration {
    let world = harness.state().world();
    world
        .resource::<PidIndex>()
        .0
        .get(&pid)
        .and_then(|e| world.get::<Counters>(*e))
        .map_or(Duration::ZERO, |c| c.busy)
}

#[test]
fn sorting_the_table_by_busy_time_puts_a_busy_process_first() {
    let mut app = app();
    let h = &mut app.harness;
    step_until(h, "the demo is up", |h| shows(h, "counter"));
    let handle = h.state().handle();
    // Sixty idle processes, then the busy one: in pid order it is the last row, far below
    // what the table shows.
    for _ in 0..60 {
        handle
            .spawn_with(SpawnOpts::new().label("idler"), |ctx| async move {
                ctx.recv().await;
            })
            .unwrap();
    }
    let spinner = handle
        .spawn_with(SpawnOpts::new().label("busy spinner"), |ctx| async move {
            while let Ok(ms) = ctx.recv().await.downcast::<u64>() {
                let until = Instant::now() + Duration::from_millis(ms);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
            }
        })
        .unwrap();
    for _ in 0..10 {
        handle.send(spinner, 30u64).unwrap();
    }
    step_until(h, "the view model has the spinner's busy time", |h| {
        busy_of(h, spinner) >= Duration::from_millis(200)
    });
    assert!(
        !spinner_right_below(h, "Busy"),
        "in pid order the spinner is far down the table"
    );
    // The lesson panel folded, as a learner playing outside a lesson would: beside it, the
    // tree and the inspector, the table's right-hand columns lie under the inspector.
    h.get_by_label("⏴").click();
    step_until(h, "the lesson panel is folded", |h| shows(h, "Lessons"));
    h.get_by_label("Busy").click_accesskit();
    step_until(h, "the spinner is the first row", |h| {
        spinner_right_below(h, "Busy ⏷")
    });
    // Its busy column reads in milliseconds and as a share of a core.
    assert!(h.query_all_by_label_contains(" ms ").next().is_some());
}

#[derive(Debug)]
struct Go(Pid, u32);

#[derive(Debug)]
struct Ping(u32);

/// Its number is read only through `Debug`: it is what the diagram shows.
#[derive(Debug)]
#[allow(dead_code)]
struct Pong(u32);

#[test]
fn tracing_one_of_a_ping_pong_pair_draws_its_messages_in_order_and_says_when_it_stopped() {
    let mut app = app();
    let h = &mut app.harness;
    step_until(h, "the demo is up", |h| shows(h, "counter"));
    let handle = h.state().handle();
    let pinger = handle
        .spawn_with(SpawnOpts::new().label("pinger"), |ctx| async move {
            let Ok(Go(peer, n)) = ctx.recv().await.downcast::<Go>() else {
                return;
            };
            for i in 0..n {
                let _ = ctx.send(peer, Ping(i));
                ctx.recv_match(|m| m.is::<Pong>()).await;
            }
            ctx.recv().await;
        })
        .unwrap();
    let ponger = handle
        .spawn_with(SpawnOpts::new().label("ponger"), move |ctx| async move {
            while let Ok(Ping(i)) = ctx.recv().await.downcast::<Ping>() {
                let _ = ctx.send(pinger, Pong(i));
            }
        })
        .unwrap();
    h.state_mut().apply(Command::Select(pinger));
    step_until(h, "the inspector offers a trace", |h| {
        shows(h, "Trace 50 events / 1 s")
    });
    h.get_by_label("Trace 50 events / 1 s").click();
    step_until(h, "the trace tab shows a recording trace", |h| {
        h.state().tab() == Tab::Trace
            && h.state().world().resource::<Tracing>().recording()
            && h.query_all_by_label_contains("recording:").next().is_some()
    });
    handle.send(pinger, Go(ponger, 5)).unwrap();
    let order: Vec<String> = (0..5)
        .flat_map(|i| [format!("Ping({i})"), format!("Pong({i})")])
        .collect();
    step_until(h, "every message of the exchange is drawn", |h| {
        order.iter().all(|label| shows(h, label))
    });
    let ys: Vec<f32> = order
        .iter()
        .map(|label| rect_of(h, label).expect("drawn").center().y)
        .collect();
    assert!(
        ys.windows(2).all(|w| w[0] < w[1]),
        "the arrows go down in the order sent: {order:?} at {ys:?}"
    );
    // Pings go right (pinger's lifeline first), pongs come back left.
    let ping = rect_of(h, "Ping(0)").unwrap();
    let pong = rect_of(h, "Pong(0)").unwrap();
    assert!((ping.center().x - pong.center().x).abs() < 1.0);
    assert!(shows(h, &format!("pinger {pinger}")) && shows(h, &format!("ponger {ponger}")));
    // Eleven events (Go in, five of each out and in) are under 50: the time bound stops it.
    step_until(h, "the trace says it stopped at its time bound", |h| {
        shows(h, "stopped: 1 s")
    });
}
