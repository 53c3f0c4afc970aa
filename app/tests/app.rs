//! The real app, headless: an embedded runtime with the chat server (its own temporary
//! database, free ports) and the demo tree, driven through its widgets by accessible label.
//! Every wait is a condition with a deadline, stepping frames meanwhile.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crashcourse_app::state::components::Selection;
use crashcourse_app::{egui, AppConfig, CrashcourseApp, Subsystem};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

mod support;
use support::{shows, shows_containing, step_until_within, AppHarness, TestApp};

const DEADLINE: Duration = Duration::from_secs(15);

fn step_until(harness: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    step_until_within(harness, DEADLINE, what, cond);
}

/// The app with its database in a fresh temporary directory, polling quickly so tests do not
/// wait on the intervals.
fn app_with(adjust: impl FnOnce(&mut AppConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = AppConfig::isolated(&dir.path().join("chat.db"));
    config.snapshot_interval = Duration::from_millis(10);
    config.metrics_interval = Duration::from_millis(100);
    adjust(&mut config);
    let harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config));
    TestApp { harness, _dir: dir }
}

fn app() -> TestApp {
    app_with(|_| {})
}

/// Clicks the first widget labelled `label` (the tree draws before the table).
fn click_first(harness: &AppHarness, label: &str) {
    harness
        .query_all_by_label(label)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {label:?}"))
        .click();
}

fn selected(harness: &AppHarness) -> Option<crashcourse_runtime::Pid> {
    harness.state().world().resource::<Selection>().pid
}

/// A Phoenix V2 client joined to `room:lobby`.
fn join_lobby(harness: &AppHarness) -> WebSocket<MaybeTlsStream<TcpStream>> {
    let addr = harness
        .state()
        .chat_ws_addr()
        .expect("the chat server runs");
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut socket, _) = tungstenite::connect(url).expect("the WebSocket handshake");
    socket
        .send(Message::text(
            r#"["1","1","room:lobby","phx_join",{"nick":"ada"}]"#,
        ))
        .expect("the join is sent");
    socket
}

/// Reads block for at most 5 s, so a test fails rather than hangs.
fn set_read_timeout(client: &mut WebSocket<MaybeTlsStream<TcpStream>>) {
    if let MaybeTlsStream::Plain(stream) = client.get_mut() {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("a read timeout");
    }
}

#[test]
fn the_tree_shows_both_top_supervisors_and_the_status_bar_the_chat_url() {
    let mut app = app();
    step_until(
        &mut app,
        "the tree shows the chat server and the demo",
        |h| {
            shows(h, "endpoint")
                && shows(h, "sockets")
                && shows(h, "rooms")
                && shows(h, "db conn 1")
                && shows(h, "demo")
                && shows(h, "workers")
                && shows(h, "counter")
        },
    );
    let url = app.state().chat_url().expect("a chat URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(shows(&app, &url), "the status bar shows {url}");
    assert!(shows(&app, "connections: 0"));
    // The demo's sessions are more than fifty, so they are folded into one group.
    step_until(&mut app, "the sessions are grouped", |h| {
        shows(h, "+60 children")
    });
}

#[test]
fn a_websocket_client_shows_as_a_socket_process_and_one_connection() {
    let mut app = app();
    step_until(&mut app, "the sockets supervisor is shown", |h| {
        shows(h, "sockets")
    });
    let _client = join_lobby(&app);
    step_until(
        &mut app,
        "a socket process, its channel, and \"connections: 1\"",
        |h| {
            shows_containing(h, "socket 127.0.0.1:")
                && shows(h, "channel room:lobby")
                && shows(h, "connections: 1")
        },
    );
}

#[test]
fn killing_a_worker_shows_its_restart_count_and_a_timeline_entry() {
    let mut app = app();
    step_until(&mut app, "the tree shows \"worker 1\"", |h| {
        shows(h, "worker 1")
    });
    click_first(&app, "worker 1");
    step_until(&mut app, "the inspector shows worker 1", |h| {
        shows(h, "Kill") && shows(h, "Restarts: 0")
    });
    let killed = selected(&app);
    app.get_by_label("Kill").click();

    step_until(
        &mut app,
        "the inspector reads \"Restarts: 1\" and the timeline shows the restart",
        |h| shows(h, "Restarts: 1") && shows_containing(h, "worker 1 restarted by workers"),
    );
    assert_ne!(
        selected(&app),
        killed,
        "the selection should follow the restarted worker"
    );
    assert!(
        shows_containing(&app, "exited: killed"),
        "the kill shows in the timeline"
    );
}

#[test]
fn killing_a_worker_four_times_in_five_seconds_escalates_to_the_demo_supervisor() {
    let mut app = app();
    step_until(&mut app, "the tree shows \"worker 2\"", |h| {
        shows(h, "worker 2")
    });
    click_first(&app, "worker 2");
    for kill in 1..=3u32 {
        let before = selected(&app);
        step_until(&mut app, "the inspector offers Kill", |h| shows(h, "Kill"));
        app.get_by_label("Kill").click();
        step_until(
            &mut app,
            &format!("the inspector follows restart {kill}"),
            |h| selected(h) != before && shows(h, &format!("Restarts: {kill}")),
        );
    }
    step_until(&mut app, "the inspector offers Kill", |h| shows(h, "Kill"));
    app.get_by_label("Kill").click();
    step_until(
        &mut app,
        "the timeline shows \"workers\" over its intensity and giving up",
        |h| {
            shows_containing(
                h,
                "workers went over its restart intensity: 4 restarts in 5s",
            ) && shows_containing(h, "workers gave up: the failure goes to demo")
        },
    );
    // The demo supervisor restarts "workers" in turn: one restart, counted on it.
    step_until(&mut app, "the demo restarts \"workers\"", |h| {
        shows_containing(h, "workers restarted by demo after: shutdown") && shows(h, "worker 2")
    });
}

#[test]
fn crashing_the_counter_restarts_it_with_the_panic_as_reason() {
    let mut app = app();
    step_until(&mut app, "the tree shows \"counter\"", |h| {
        shows(h, "counter")
    });
    click_first(&app, "counter");
    step_until(&mut app, "the inspector shows the counter's state", |h| {
        shows(h, "Crash") && shows_containing(h, "%Counter{count:")
    });
    app.get_by_label("Crash").click();

    step_until(
        &mut app,
        "the timeline shows the counter restarted after a panic",
        |h| {
            shows(h, "Restarts: 1") && shows_containing(h, "counter restarted by demo after: panic")
        },
    );
    assert!(
        shows_containing(&app, "Followed the restart from"),
        "the inspector follows the counter to its new process"
    );
}

#[test]
fn killing_the_demo_supervisor_offers_to_start_it_again() {
    let mut app = app();
    step_until(&mut app, "the tree shows \"demo\"", |h| shows(h, "demo"));
    let first_top = app.state().top_supervisor(Subsystem::Demo);
    click_first(&app, "demo");
    step_until(&mut app, "the inspector shows the demo supervisor", |h| {
        shows(h, "Kill") && shows(h, "Supervised by: nobody (top level)")
    });
    app.get_by_label("Kill").click();

    step_until(&mut app, "the stopped banner and \"Start again\"", |h| {
        shows_containing(h, "The demo's top supervisor \"demo\"")
            && shows_containing(h, "reason: killed")
            && shows(h, "Start again")
    });
    app.get_by_label("Start again").click();

    step_until(&mut app, "the tree is back and the banner gone", |h| {
        !shows(h, "Start again") && shows(h, "demo") && shows(h, "worker 1")
    });
    let second_top = app.state().top_supervisor(Subsystem::Demo);
    assert!(
        second_top.is_some() && second_top != first_top,
        "a new top supervisor runs"
    );
    assert!(app.state().handle().is_alive(second_top.unwrap()));
}

#[test]
fn killing_the_endpoint_stops_the_chat_server_and_it_can_be_started_again() {
    let mut app = app();
    step_until(&mut app, "the tree shows \"endpoint\"", |h| {
        shows(h, "endpoint")
    });
    let mut client = join_lobby(&app);
    step_until(&mut app, "one connection", |h| shows(h, "connections: 1"));
    let first = app.state().top_supervisor(Subsystem::Chat);
    click_first(&app, "endpoint");
    step_until(&mut app, "the inspector shows the endpoint", |h| {
        shows(h, "Kill") && shows(h, "Supervised by: nobody (top level)")
    });
    app.get_by_label("Kill").click();

    step_until(&mut app, "the chat server's stopped banner", |h| {
        shows_containing(h, "The chat server's top supervisor \"endpoint\"")
            && shows_containing(h, "reason: killed")
            && shows(h, "chat server stopped")
            && shows(h, "Start again")
    });
    // The client's connection was closed with the socket process.
    set_read_timeout(&mut client);
    let closed = loop {
        match client.read() {
            Ok(Message::Close(_)) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(closed, "the client sees its connection end");

    app.get_by_label("Start again").click();
    step_until(&mut app, "the chat server is back", |h| {
        !shows(h, "Start again") && shows(h, "connections: 0") && shows(h, "sockets")
    });
    let second = app.state().top_supervisor(Subsystem::Chat);
    assert!(second.is_some() && second != first, "a new endpoint runs");
    let _again = join_lobby(&app);
    step_until(&mut app, "a new client connects to it", |h| {
        shows(h, "connections: 1")
    });
}

#[test]
fn the_dashboard_draws_every_chart_and_switches_windows() {
    let mut app = app();
    step_until(&mut app, "the tabs are shown", |h| shows(h, "Dashboard"));
    click_first(&app, "Dashboard");
    step_until(&mut app, "the charts have data", |h| {
        shows_containing(h, "Processes: ")
            && !shows(h, "Processes: no data yet")
            && shows_containing(h, "Memory: ")
            && shows_containing(h, "Connections: 0")
            && shows_containing(h, "Messages/s: ")
            && shows_containing(h, "Broadcasts/s: ")
            && shows_containing(h, "Restarts/s: ")
            && shows_containing(h, "Pool: checked out")
            && shows_containing(h, "Queue time: p50")
            && shows_containing(h, "Scheduler busy: scheduler 1")
    });
    click_first(&app, "1 hour");
    app.step();
    assert_eq!(
        app.state().persisted().window,
        crashcourse_app::panels::dashboard::TimeWindow::OneHour
    );
}

#[test]
fn a_flooded_mailbox_raises_a_warning_with_its_explanation() {
    let mut app = app();
    step_until(&mut app, "the tabs are shown", |h| {
        shows_containing(h, "Warnings (")
    });
    let handle = app.state().handle();
    // A process that never reads its mailbox.
    let hoarder = handle
        .spawn_with(
            crashcourse_runtime::SpawnOpts::new().label("hoarder"),
            |ctx| async move {
                ctx.recv_match(|_| false).await;
                crashcourse_runtime::ExitReason::Normal
            },
        )
        .expect("spawned");
    click_first(&app, "Warnings (0)");
    let deadline = Instant::now() + DEADLINE;
    let mut sent = 0;
    loop {
        // A steady flood: more every frame.
        for _ in 0..200 {
            let _ = handle.send(hoarder, sent);
            sent += 1;
        }
        app.step();
        if shows(&app, "⚠ A mailbox is growing") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no mailbox warning after {sent} messages"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(shows_containing(&app, "hoarder"), "it names the process");
    assert!(
        shows_containing(&app, "receives messages faster than it handles them"),
        "it explains what it means"
    );
    click_first(&app, &format!("hoarder {hoarder}"));
    step_until(&mut app, "the hoarder is selected", |h| {
        selected(h) == Some(hoarder)
    });
}

#[test]
fn the_selection_comes_back_in_the_next_run_by_its_place_in_the_tree() {
    let mut first = app();
    step_until(&mut first, "the tree shows \"worker 3\"", |h| {
        shows(h, "worker 3")
    });
    click_first(&first, "worker 3");
    step_until(&mut first, "worker 3 is selected", |h| {
        selected(h).is_some()
    });
    let persisted = first.state().persisted();
    drop(first);
    assert_eq!(persisted.selection, vec!["demo", "workers", "worker 3"]);

    let mut next = app();
    let ctx = next.ctx.clone();
    next.state_mut().restore(persisted, &ctx);
    step_until(&mut next, "worker 3 is selected again", |h| {
        shows(h, "Restarts: 0")
            && selected(h).is_some_and(|pid| {
                crashcourse_app::panels::label_of(h.state().world(), pid) == Some("worker 3")
            })
    });
}

#[test]
fn closing_shuts_the_chat_server_and_the_runtime_down_in_order_within_five_seconds() {
    let mut app = app();
    step_until(&mut app, "the sockets supervisor is shown", |h| {
        shows(h, "sockets")
    });
    let mut client = join_lobby(&app);
    step_until(&mut app, "one connection", |h| shows(h, "connections: 1"));
    let handle = app.state().handle();
    let started = Instant::now();
    assert!(
        app.state_mut().shutdown(Duration::from_secs(5)),
        "the chat server stopped in time"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(handle.is_shutting_down());
    set_read_timeout(&mut client);
    let close = loop {
        match client.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => break None,
        }
    };
    assert_eq!(close, Some(1001), "the socket says it is going away");
}

/// Steps frames, doing `each_frame` before each, until the warnings tab shows `title`.
fn step_until_warning(app: &mut TestApp, title: &str, mut each_frame: impl FnMut()) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        each_frame();
        app.step();
        if shows(app, title) {
            return;
        }
        assert!(Instant::now() < deadline, "no {title:?} after {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_steadily_climbing_process_count_raises_the_leak_warning() {
    let mut app = app();
    step_until(&mut app, "the tabs are shown", |h| shows(h, "Warnings (0)"));
    click_first(&app, "Warnings (0)");
    let handle = app.state().handle();
    step_until_warning(&mut app, "⚠ Process count climbing steadily", || {
        for _ in 0..10 {
            let _ = handle.spawn_with(
                crashcourse_runtime::SpawnOpts::new().label("leaked"),
                |ctx| async move {
                    ctx.recv().await;
                    crashcourse_runtime::ExitReason::Normal
                },
            );
        }
    });
    assert!(shows_containing(&app, "nothing ever stops it"));
}

#[test]
fn a_poll_that_hogs_a_scheduler_raises_a_warning_naming_the_process() {
    let mut app = app();
    step_until(&mut app, "the tabs are shown", |h| shows(h, "Warnings (0)"));
    click_first(&app, "Warnings (0)");
    // Let the first metrics sample set the baseline of long polls.
    step_until(&mut app, "a metrics sample", |h| {
        shows_containing(h, "messages/s: ")
            && h.state()
                .world()
                .resource::<crashcourse_app::state::history::Histories>()
                .processes
                .len()
                >= 2
    });
    let hog = app
        .state()
        .handle()
        .spawn_with(
            crashcourse_runtime::SpawnOpts::new().label("hog"),
            |_ctx| async move {
                // Blocks its scheduler thread: exactly what the warning is about.
                std::thread::sleep(Duration::from_millis(40));
                crashcourse_runtime::ExitReason::Normal
            },
        )
        .expect("spawned");
    step_until_warning(&mut app, "⚠ A poll hogged a scheduler thread", || {});
    assert!(
        shows_containing(&app, &format!("{hog}")),
        "the warning names the process"
    );
    assert!(shows_containing(&app, "The BEAM would have preempted it"));
}

#[test]
fn a_saturated_database_pool_raises_a_warning() {
    let mut app = app();
    step_until(&mut app, "the tabs are shown", |h| shows(h, "Warnings (0)"));
    click_first(&app, "Warnings (0)");
    let pool = app
        .state()
        .world()
        .resource::<crashcourse_app::state::chat::ChatServer>()
        .endpoint
        .as_ref()
        .expect("the chat server runs")
        .pool()
        .clone();
    let handle = app.state().handle();
    // Forty callers for ten connections, each holding one for 200 ms, over and over.
    for i in 0..40 {
        let pool = pool.clone();
        handle
            .spawn_with(
                crashcourse_runtime::SpawnOpts::new().label(format!("slow caller {i}")),
                move |_ctx| async move {
                    for _ in 0..50 {
                        let _ = pool
                            .run(|_conn| {
                                std::thread::sleep(Duration::from_millis(200));
                                Ok(())
                            })
                            .await;
                    }
                    crashcourse_runtime::ExitReason::Normal
                },
            )
            .expect("spawned");
    }
    step_until_warning(&mut app, "⚠ Database pool saturated", || {});
    assert!(shows_containing(&app, "connections checked out"));
    assert!(shows_containing(&app, "The pool is the usual bottleneck"));
}

#[test]
fn the_tree_zooms_and_its_zoom_is_kept_for_the_next_run() {
    let mut app = app();
    step_until(&mut app, "the zoom controls", |h| shows(h, "100%"));
    click_first(&app, "+");
    step_until(&mut app, "the tree at 125%", |h| shows(h, "125%"));
    assert_eq!(app.state().persisted().tree_zoom, Some(1.25));
    click_first(&app, "reset");
    step_until(&mut app, "the tree at 100%", |h| shows(h, "100%"));
}

#[test]
fn a_chat_server_that_cannot_start_says_why_and_the_rest_of_the_app_runs() {
    let mut app = app_with(|config| {
        // A database "inside" a regular file: it can never be opened.
        let blocker = config
            .chat
            .as_ref()
            .map(|c| c.pool.path.with_file_name("not a directory"))
            .expect("a chat config");
        std::fs::write(&blocker, b"a file").expect("written");
        config.chat =
            Some(crashcourse_runtime::chat::ChatConfig::new(blocker.join("chat.db")).any_ports());
    });
    step_until(
        &mut app,
        "the banner says the chat server could not start",
        |h| {
            shows_containing(h, "The chat server could not start:")
                && shows(h, "Start again")
                && shows(h, "chat server stopped")
                && shows(h, "demo")
        },
    );
    assert_eq!(app.state().chat_url(), None);
}
