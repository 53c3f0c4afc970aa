//! Links, monitors and the tree as pictures: the inspector's neighbourhood view (a link and a
//! monitor drawn; an exit signal seen to propagate, each receiver marked with what it did, and
//! the timeline saying so too) and
//! the tree's graph view (a one_for_all restart marks every sibling it took down; a tree of
//! 100,000 processes draws only what folding leaves, and a frame of it is measured).
//!
//! The real app runs headless, with neither the chat server nor the demo so the picture holds
//! only the processes a test starts. Every wait is a condition with a deadline, stepping frames.
//! With the `snapshots` feature each view is also rendered to `target/graphs-<name>.png`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use bevy_ecs::world::World;
use crashcourse_app::panels::tree::TreeMode;
use crashcourse_app::panels::{SupervisionTree, View};
use crashcourse_app::state::commands::Command;
use crashcourse_app::state::scripted;
use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
use crashcourse_runtime::{Ctx, ExitReason, Handle, Kind, Pid, SpawnOpts};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

mod support;
use support::{shows_containing, step_until_within, AppHarness};

const DEADLINE: Duration = Duration::from_secs(15);

fn step_until(harness: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    step_until_within(harness, DEADLINE, what, cond);
}

/// The app with no chat server and no demo, polling quickly; its database directory.
fn app() -> (AppHarness, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = AppConfig::isolated(&dir.path().join("chat.db"));
    config.chat = None;
    config.start_demo = false;
    config.snapshot_interval = Duration::from_millis(10);
    config.metrics_interval = Duration::from_millis(100);
    let builder = Harness::builder().with_size(egui::vec2(1400.0, 900.0));
    #[cfg(feature = "snapshots")]
    let builder = builder.wgpu();
    let harness = builder.build_eframe(move |_cc| CrashcourseApp::new(config));
    (harness, dir)
}

fn count_containing(harness: &AppHarness, text: &str) -> usize {
    harness.query_all_by_label_contains(text).count()
}

/// Writes what the harness draws to `target/graphs-<name>.png` (with the `snapshots` feature;
/// without a renderer there is nothing to write).
fn picture(harness: &mut AppHarness, name: &str) {
    #[cfg(feature = "snapshots")]
    {
        let image = harness.render().expect("a rendered frame");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(format!("graphs-{name}.png"));
        image.save(&path).expect("the picture is written");
        eprintln!("wrote {}", path.display());
    }
    #[cfg(not(feature = "snapshots"))]
    let _ = (harness, name);
}

/// Takes messages forever.
async fn wait_forever(ctx: Ctx) {
    loop {
        ctx.recv().await;
    }
}

/// A process labelled `label` that waits forever.
fn idle(handle: &Handle, label: &str) -> Pid {
    handle
        .spawn_with(SpawnOpts::new().label(label), wait_forever)
        .expect("spawn")
}

/// A process labelled `label` that links to `other` (trapping exits if asked), or monitors it,
/// then waits forever; returns once the link or monitor is set.
fn tied(handle: &Handle, label: &str, other: Pid, tie: &'static str) -> Pid {
    let (ready_tx, ready_rx) = mpsc::channel();
    let pid = handle
        .spawn_with(SpawnOpts::new().label(label), move |ctx: Ctx| async move {
            match tie {
                "monitor" => {
                    ctx.monitor(other);
                }
                "trap" => {
                    ctx.trap_exit(true);
                    ctx.link(other);
                }
                _ => ctx.link(other),
            }
            let _ = ready_tx.send(());
            wait_forever(ctx).await
        })
        .expect("spawn");
    ready_rx.recv_timeout(DEADLINE).expect("tied in time");
    pid
}

#[test]
fn the_neighbourhood_view_draws_the_links_and_monitors_of_the_selected_process() {
    let (mut app, _dir) = app();
    let handle = app.state().handle();
    let hub = idle(&handle, "hub");
    tied(&handle, "linked friend", hub, "link");
    tied(&handle, "watcher", hub, "monitor");
    app.state_mut().apply(Command::Select(hub));
    step_until(&mut app, "the hub's link and monitor are drawn", |h| {
        shows_containing(h, "linked friend")
            && count_containing(h, "\nlinked") == 1
            && count_containing(h, "\nmonitors this") == 1
            && shows_containing(h, "hub")
    });
    picture(&mut app, "neighbourhood");
}

#[test]
fn an_exit_is_seen_to_propagate_and_each_receiver_shows_what_it_did() {
    let (mut app, _dir) = app();
    let handle = app.state().handle();
    let hub = idle(&handle, "hub");
    let victim = tied(&handle, "victim", hub, "link");
    let trapper = tied(&handle, "trapper", hub, "trap");
    let watcher = tied(&handle, "watcher", hub, "monitor");
    app.state_mut().apply(Command::Select(hub));
    step_until(&mut app, "the hub's three ties are drawn", |h| {
        count_containing(h, "\nlinked") == 2 && count_containing(h, "\nmonitors this") == 1
    });
    app.state_mut().apply(Command::Kill(hub));
    step_until(&mut app, "every receiver shows what it did", |h| {
        shows_containing(h, "linked\ndied: killed")
            && shows_containing(h, "linked\ntrapped {:EXIT, killed}")
            && shows_containing(h, "monitors this\ngot DOWN: killed")
    });
    step_until(&mut app, "the timeline shows the signals too", |h| {
        shows_containing(h, "exit signal from hub to victim")
            && shows_containing(h, "exit signal from hub to trapper")
            && shows_containing(h, "DOWN from hub to watcher")
    });
    // The view's marks are the runtime's truth: the victim died, the others live on.
    let deadline = Instant::now() + DEADLINE;
    while handle.is_alive(victim) {
        assert!(Instant::now() < deadline, "the victim died with the hub");
        app.step();
    }
    assert!(handle.is_alive(trapper) && handle.is_alive(watcher));
    picture(&mut app, "propagation");
}

#[test]
fn the_graph_view_marks_every_sibling_a_one_for_all_restart_took_down() {
    let (mut app, _dir) = app();
    let handle = app.state().handle();
    let spec = SupervisorSpec::new(Strategy::OneForAll, Intensity::elixir())
        .child(worker("a"))
        .child(worker("b"))
        .child(worker("c"));
    let sup = supervisor::start(&handle, SpawnOpts::new().label("all for one"), spec)
        .expect("the supervisor starts");
    app.step();
    app.query_by_label("Graph")
        .expect("the outline/graph toggle")
        .click();
    step_until(
        &mut app,
        "the graph shows the supervisor and its workers",
        |h| {
            shows_containing(h, "all for one <")
                && ["a", "b", "c"]
                    .iter()
                    .all(|w| shows_containing(h, &format!("worker {w} <")))
        },
    );
    let b = handle
        .process_table()
        .into_iter()
        .find(|r| r.parent == Some(sup) && r.label.as_deref() == Some("worker b"))
        .map(|r| r.pid)
        .expect("worker b runs");
    app.state_mut().apply(Command::Crash(b));
    step_until(&mut app, "every worker is marked restarted", |h| {
        count_containing(h, "crashed, restarted") == 1
            && count_containing(h, "taken down, restarted") == 2
    });
    picture(&mut app, "one_for_all");
}

/// A worker labelled `worker <id>` that waits for messages.
fn worker(id: &str) -> ChildSpec {
    ChildSpec::worker(id.to_string(), |ctx: Ctx| async move {
        wait_forever(ctx).await;
        ExitReason::Normal
    })
    .label(format!("worker {id}"))
}

#[test]
fn a_graph_of_100_000_processes_draws_only_what_folding_leaves() {
    let now = Instant::now();
    let mut world = scripted::world(now);
    let mut rows = vec![
        scripted::row(1, None, Kind::Supervisor, "endpoint"),
        scripted::row(2, Some(1), Kind::DynamicSupervisor, "sockets"),
        scripted::row(3, Some(1), Kind::Supervisor, "workers"),
    ];
    rows.extend((0..5).map(|i| scripted::row(10 + i, Some(3), Kind::Worker, "worker")));
    rows.extend((0..100_000).map(|i| scripted::row(1_000 + i, Some(2), Kind::Socket, "socket")));
    scripted::add_processes(&mut world, rows);
    let nodes = world
        .resource::<crashcourse_app::state::tree_graph::TreeGraph>()
        .nodes
        .len();
    // endpoint, sockets, workers, 5 workers, and 100,000 sockets folded into one "+N" node.
    assert_eq!(nodes, 9);
    let mut tree = SupervisionTree::default();
    tree.mode = TreeMode::Graph;
    let mut harness = Harness::builder()
        .with_size(egui::vec2(900.0, 700.0))
        .build_ui_state(
            |ui, (world, tree): &mut (World, SupervisionTree)| {
                let mut commands = Vec::new();
                tree.ui(ui, world, &mut commands);
            },
            (world, tree),
        );
    harness.step();
    assert!(harness.query_by_label("+100000 folded").is_some());
    let mut frames: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            harness.step();
            start.elapsed()
        })
        .collect();
    frames.sort();
    let median = frames[frames.len() / 2];
    eprintln!("graph view, 100,000 processes: median frame {median:?} (debug build, headless)");
    assert!(
        median < Duration::from_millis(50),
        "a frame took {median:?}"
    );
}
