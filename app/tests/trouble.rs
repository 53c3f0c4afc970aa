//! Trouble on purpose, driven through the app's own panels: the Faults panel's switches and
//! chaos, the Load panel's generator, and the thread-pool contrast, each against the real
//! embedded runtime and chat server (a temporary database, free ports). Every wait is a
//! condition with a deadline, stepping frames meanwhile.

use std::time::{Duration, Instant};

use crashcourse_app::egui::accesskit::Role;
use crashcourse_app::panels::Tab;
use crashcourse_app::state::contrast::ContrastRun;
use crashcourse_app::state::faults::FaultsView;
use crashcourse_app::state::load::LoadRun;
use crashcourse_app::state::timeline::{Notable, Timeline};
use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use crashcourse_runtime::{FaultKind, Kind};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

mod support;
use support::{shows, shows_containing, step_until_within, AppHarness, TestApp};

const DEADLINE: Duration = Duration::from_secs(30);

fn step_until(harness: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    step_until_within(harness, DEADLINE, what, cond);
}

/// The app at 1280x720 with its database in a fresh temporary directory, polling quickly.
fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = AppConfig::isolated(&dir.path().join("chat.db"));
    config.snapshot_interval = Duration::from_millis(20);
    config.metrics_interval = Duration::from_millis(200);
    let harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 720.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config));
    TestApp { harness, _dir: dir }
}

fn checkbox(harness: &AppHarness, label: &str) -> bool {
    harness
        .query_all_by_role_and_label(Role::CheckBox, label)
        .next()
        .is_some()
}

fn click_checkbox(harness: &AppHarness, label: &str) {
    harness
        .query_all_by_role_and_label(Role::CheckBox, label)
        .next()
        .unwrap_or_else(|| panic!("no checkbox labelled {label:?}"))
        // Through accessibility, as a screen reader would: a pointer click misses a widget the
        // panel has scrolled below its edge at 1280x720.
        .click_accesskit();
}

fn click(harness: &AppHarness, label: &str) {
    harness
        .query_all_by_label(label)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {label:?}"))
        .click_accesskit();
}

/// Opens `tab` with a click on its title.
fn open_tab(app: &mut TestApp, title: &str, tab: Tab) {
    step_until(app, &format!("the {title} tab is offered"), |h| {
        shows(h, title)
    });
    click(app, title);
    step_until(app, &format!("the {title} tab is open"), |h| {
        h.state().tab() == tab
    });
}

fn process_count(app: &AppHarness) -> usize {
    app.state().handle().metrics().process_count
}

/// The process count once it has held still for a second (the chat server and the demo have
/// started everything they start).
fn settled_count(app: &mut TestApp) -> usize {
    let deadline = Instant::now() + DEADLINE;
    let mut last = (process_count(app), Instant::now());
    loop {
        app.step();
        let n = process_count(app);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return n;
        }
        assert!(Instant::now() < deadline, "the process count never settled");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_leak_switch_makes_the_process_count_climb_and_switching_it_off_returns_it() {
    let mut app = app();
    open_tab(&mut app, "Faults", Tab::Faults);
    step_until(&mut app, "every fault has a switch", |h| {
        [
            "Process leak",
            "Mailbox flood",
            "Busy loop",
            "Write lock held",
        ]
        .iter()
        .all(|l| checkbox(h, l))
    });
    let baseline = settled_count(&mut app);

    click_checkbox(&app, "Process leak");
    step_until(
        &mut app,
        "the leak is on, its figure shows and processes climb",
        |h| {
            h.state()
                .world()
                .resource::<FaultsView>()
                .is_on(FaultKind::Leak)
                && shows_containing(h, "leaked processes")
                && shows_containing(h, "fault on: Process leak")
                && process_count(h) >= baseline + 10
        },
    );

    click_checkbox(&app, "Process leak");
    step_until(
        &mut app,
        "the leak is off and the process count is back to its baseline",
        |h| {
            let view = h.state().world().resource::<FaultsView>();
            !view.is_on(FaultKind::Leak)
                && view.pending.is_empty()
                && process_count(h) == baseline
                && !shows_containing(h, "fault on:")
        },
    );
    // Switching off is cleanup, not a failure: the leaked processes' ends are not timeline lines.
    let timeline = app.state().world().resource::<Timeline>();
    assert!(
        !timeline
            .newest_first()
            .any(|e| e.text.starts_with("leaked ")),
        "the leak's cleanup stays out of the timeline"
    );
}

#[test]
fn chaos_from_the_panel_kills_processes_of_the_chosen_kind_and_the_timeline_says_so() {
    let mut app = app();
    open_tab(&mut app, "Faults", Tab::Faults);
    step_until(&mut app, "the chaos kinds are offered", |h| {
        checkbox(h, "pool connection") && checkbox(h, "worker")
    });
    // Only the demo's workers: untick the chat server's kinds, tick "worker".
    for kind in ["channel", "socket", "room", "pool connection", "worker"] {
        click_checkbox(&app, kind);
        app.step();
    }
    assert_eq!(
        app.state_mut().faults_panel().plan().kinds,
        vec![Kind::Worker]
    );
    app.state_mut().faults_panel().per_second = 5.0;
    click(&app, "Start chaos");

    step_until(
        &mut app,
        "chaos has killed three workers, says so in the status bar and the timeline",
        |h| {
            let world = h.state().world();
            let killed = world
                .resource::<FaultsView>()
                .chaos()
                .map_or(0, |c| c.killed_total);
            let marked = world
                .resource::<Timeline>()
                .newest_first()
                .any(|e| e.what == Notable::ChaosKill);
            killed >= 3
                && marked
                && shows_containing(h, "⚡ chaos:")
                && shows_containing(h, "chaos killed ")
        },
    );
    open_tab(&mut app, "Dashboard", Tab::Dashboard);
    step_until(&mut app, "the dashboard says chaos runs", |h| {
        shows_containing(h, "⚡ Chaos is running: ") && shows_containing(h, "Chaos kills/s: ")
    });
    let report = app
        .state()
        .world()
        .resource::<FaultsView>()
        .chaos()
        .cloned()
        .expect("a chaos report");
    assert!(
        report
            .killed
            .iter()
            .all(|(kind, n)| *kind == Kind::Worker || *n == 0),
        "only workers were killed: {:?}",
        report.killed
    );
    // Every chaos entry of the timeline names a process chaos reported killing.
    let world = app.state().world();
    for entry in world
        .resource::<Timeline>()
        .newest_first()
        .filter(|e| e.what == Notable::ChaosKill)
    {
        assert!(entry.text.starts_with("chaos killed "), "{}", entry.text);
    }

    open_tab(&mut app, "Faults", Tab::Faults);
    click(&app, "Stop chaos");
    step_until(&mut app, "chaos has stopped", |h| {
        !h.state().world().resource::<FaultsView>().chaos_running() && shows(h, "Start chaos")
    });
}

#[test]
fn twenty_clients_from_the_load_panel_connect_and_get_their_messages_acked() {
    let mut app = app();
    open_tab(&mut app, "Load", Tab::Load);
    {
        let settings = &mut app.state_mut().load_panel().settings;
        settings.clients = 20;
        settings.ramp_per_s = 100.0;
        settings.rate_per_s = 5.0;
        settings.duration = Duration::from_secs(6);
        settings.room = "trouble".into();
    }
    step_until(&mut app, "the load can start", |h| shows(h, "Start load"));
    click(&app, "Start load");
    step_until(
        &mut app,
        "twenty clients connected and messages acknowledged",
        |h| {
            let run = h.state().world().resource::<LoadRun>();
            let acked = run.live.map_or(0, |l| l.acknowledged);
            shows(h, "connected: 20") && acked >= 20 && shows_containing(h, "connections: 2")
        },
    );
    open_tab(&mut app, "Dashboard", Tab::Dashboard);
    step_until(&mut app, "the dashboard shows the load's traffic", |h| {
        shows_containing(h, "Load: 20 connected, ")
            && shows_containing(h, "Load generator: connected 20")
    });
    open_tab(&mut app, "Load", Tab::Load);
    step_until(&mut app, "the run ends with a summary", |h| {
        let run = h.state().world().resource::<LoadRun>();
        !run.is_running() && run.last.is_some() && shows(h, "Summary of the last run")
    });
    let world = app.state().world();
    let summary = world.resource::<LoadRun>().last.clone().expect("a summary");
    assert_eq!(summary.connections.ok, 20, "{}", summary.to_text());
    assert!(summary.messages.acknowledged >= 20, "{}", summary.to_text());
    assert_eq!(summary.connections.failed, 0, "{}", summary.to_text());
    let p99 = summary.latency_ms.round_trip.p99.expect("a round-trip p99");
    assert!(
        shows(&app, &format!("p99: {p99:.1} ms")),
        "the final p99 is shown"
    );
}

#[test]
fn the_contrast_with_a_few_users_shows_both_sides_figures() {
    let mut app = app();
    open_tab(&mut app, "Contrast", Tab::Contrast);
    {
        let settings = &mut app.state_mut().contrast_panel().settings;
        settings.users = 10;
        settings.work_ms = 50;
        settings.duration = Duration::from_secs(2);
    }
    step_until(&mut app, "the contrast can run", |h| {
        shows(h, "Run contrast")
    });
    click(&app, "Run contrast");
    step_until(&mut app, "the contrast runs, live", |h| {
        h.state().world().resource::<ContrastRun>().is_running()
            && shows(h, "thread pool (HTTP)")
            && shows(h, "processes (WebSocket)")
            && shows(h, "throughput")
    });
    step_until(&mut app, "both sides' results with p99", |h| {
        let run = h.state().world().resource::<ContrastRun>();
        !run.is_running() && run.result.is_some() && shows(h, "p99")
    });
    let world = app.state().world();
    let result = world
        .resource::<ContrastRun>()
        .result
        .clone()
        .expect("a result");
    for (side, summary) in [
        ("thread pool", &result.thread_pool),
        ("processes", &result.processes),
    ] {
        assert!(
            summary.messages.acknowledged > 0 && summary.latency_ms.round_trip.p99.is_some(),
            "the {side} side answered: {}",
            summary.to_text()
        );
    }
    let p99 = |s: &crashcourse_load::Summary| {
        format!("{:.1} ms", s.latency_ms.round_trip.p99.unwrap_or(0.0))
    };
    assert!(
        shows(&app, &p99(&result.thread_pool)),
        "the pool's p99 is shown"
    );
    assert!(
        shows(&app, &p99(&result.processes)),
        "the processes' p99 is shown"
    );
}

fn chat_pool(app: &AppHarness) -> crashcourse_runtime::db::Pool {
    app.state()
        .world()
        .resource::<crashcourse_app::state::chat::ChatServer>()
        .endpoint
        .as_ref()
        .expect("the chat server runs")
        .pool()
        .clone()
}

#[test]
fn the_pool_switches_follow_the_chat_server_when_it_is_started_again() {
    let mut app = app();
    open_tab(&mut app, "Faults", Tab::Faults);
    step_until(&mut app, "the slow-queries switch", |h| {
        checkbox(h, "Slow queries")
    });
    let first = chat_pool(&app);
    let normal = first.query_latency();
    click_checkbox(&app, "Slow queries");
    step_until(&mut app, "slow queries are on", |h| {
        h.state()
            .world()
            .resource::<FaultsView>()
            .is_on(FaultKind::SlowQueries)
    });
    assert!(
        first.query_latency() > normal,
        "the pool's queries are slow"
    );

    // The chat server stops (its top supervisor killed) and is started again: a new pool.
    let endpoint = app
        .state()
        .top_supervisor(crashcourse_app::Subsystem::Chat)
        .expect("the endpoint");
    app.state().handle().kill(endpoint).expect("killed");
    step_until(&mut app, "the chat server offers to start again", |h| {
        shows(h, "Start again")
    });
    click(&app, "Start again");
    step_until(
        &mut app,
        "the new pool's queries are slow too (the switch followed it)",
        |h| {
            let view = h.state().world().resource::<FaultsView>();
            !shows(h, "Start again")
                && view.pending.is_empty()
                && view.is_on(FaultKind::SlowQueries)
                && chat_pool(h).query_latency() > normal
        },
    );
    click_checkbox(&app, "Slow queries");
    step_until(&mut app, "slow queries are off on the new pool", |h| {
        !h.state()
            .world()
            .resource::<FaultsView>()
            .is_on(FaultKind::SlowQueries)
            && chat_pool(h).query_latency() == normal
    });
}

#[test]
fn closing_the_app_stops_load_and_chaos_and_switches_every_fault_off() {
    let mut app = app();
    open_tab(&mut app, "Faults", Tab::Faults);
    step_until(&mut app, "the switches", |h| {
        checkbox(h, "Process leak") && checkbox(h, "Write lock held")
    });
    // One at a time: each switch that comes on adds a line under it, moving those below.
    click_checkbox(&app, "Process leak");
    step_until(&mut app, "the leak is on", |h| {
        shows_containing(h, "leaked processes")
    });
    click_checkbox(&app, "Write lock held");
    step_until(&mut app, "the write lock is held", |h| {
        h.state()
            .world()
            .resource::<FaultsView>()
            .is_on(FaultKind::WriteLock)
    });
    click(&app, "Start chaos");
    step_until(&mut app, "two faults and chaos are on", |h| {
        let view = h.state().world().resource::<FaultsView>();
        view.is_on(FaultKind::Leak) && view.is_on(FaultKind::WriteLock) && view.chaos_running()
    });
    {
        let settings = &mut app.state_mut().load_panel().settings;
        settings.clients = 10;
        settings.duration = Duration::from_secs(60);
    }
    open_tab(&mut app, "Load", Tab::Load);
    click(&app, "Start load");
    step_until(&mut app, "the load runs", |h| {
        h.state()
            .world()
            .resource::<LoadRun>()
            .live
            .is_some_and(|l| l.open == 10)
    });

    let started = Instant::now();
    assert!(
        app.state_mut().shutdown(Duration::from_secs(5)),
        "the chat server stopped in time"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let world = app.state().world();
    assert!(!world.resource::<LoadRun>().is_running(), "the load ended");
    let faults = &world
        .resource::<crashcourse_app::state::faults::FaultsLink>()
        .0;
    let status = faults.status();
    assert!(status.on.is_empty(), "every fault is off: {:?}", status.on);
    assert!(status.chaos.is_none_or(|c| !c.running), "chaos has stopped");
}
