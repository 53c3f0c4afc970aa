//! Lessons 1 to 9 walked completely in the real app (its own runtime, temporary database and
//! free ports), pressing each step's buttons as a learner would; before each step's action its
//! check must not hold, so no check is one that cannot fail. Also: progress survives a restart.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crashcourse_app::lessons::engine::StepPhase;
use crashcourse_app::lessons::model::Check;
use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

mod support;
use support::{shows_containing, AppHarness};

const DEADLINE: Duration = Duration::from_secs(90);

/// The walkthroughs run one at a time: several start a thousand simulated users, and side by
/// side in one test process they starve each other's clients of CPU and file descriptors (the
/// server then rightly cuts off clients that stop reading, and a lesson's figures go wrong).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

fn lessons_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lessons")
}

/// The app at 1280x720 on the database `db`, reading the shipped lessons.
fn app(db: &Path) -> AppHarness {
    // "Open the chat page" must not start a real browser here.
    std::env::set_var("BROWSER", "true");
    let mut config = AppConfig::isolated(db);
    config.snapshot_interval = Duration::from_millis(10);
    config.metrics_interval = Duration::from_millis(100);
    config.lessons_dir = Some(lessons_dir());
    Harness::builder()
        .with_size(egui::vec2(1280.0, 720.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config))
}

fn step_until(h: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        h.step();
        if cond(h) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {DEADLINE:?} waiting until {what} (lesson notice: {:?}, own figures: {:?})",
            h.state().lessons().notice,
            h.state().lessons().own_figures()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Steps frames for `d`, asserting the current step's check never holds meanwhile.
fn assert_not_held_for(h: &mut AppHarness, d: Duration, what: &str) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        h.step();
        assert_ne!(
            phase(h),
            Some(StepPhase::Held),
            "the check held before {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn phase(h: &AppHarness) -> Option<StepPhase> {
    h.state().lessons().phase()
}

/// Clicks the button labelled `label` (a step's title may read like its button), else any
/// widget so labelled (a link).
fn click(h: &AppHarness, label: &str) {
    h.query_all_by_role_and_label(egui::accesskit::Role::Button, label)
        .next()
        .or_else(|| h.query_all_by_label(label).next())
        .unwrap_or_else(|| panic!("no widget labelled {label:?}"))
        .click();
}

/// An answer as its radio button shows it: plain text, `code` marks dropped.
fn shown(answer: &str) -> String {
    answer.replace('`', "")
}

/// A Phoenix V2 client joined to `room:lobby` (as the chat page would be).
fn join_lobby(h: &AppHarness, join_ref: u32) -> Client {
    join_room(h, "lobby", join_ref)
}

/// A Phoenix V2 client joined to `room:<room>` (as the chat page on `?room=` would be).
fn join_room(h: &AppHarness, room: &str, join_ref: u32) -> Client {
    let addr = h.state().chat_ws_addr().expect("the chat server runs");
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut socket, _) = tungstenite::connect(url).expect("the WebSocket handshake");
    socket
        .send(Message::text(format!(
            r#"["{join_ref}","{join_ref}","room:{room}","phx_join",{{"nick":"ada"}}]"#
        )))
        .expect("the join is sent");
    socket
}

/// Opens lesson `title` from the list.
fn open_lesson(h: &mut AppHarness, title: &str) {
    step_until(h, "the lesson list shows", |h| shows_containing(h, title));
    // The later lessons sit below the fold of the list: scroll to them first, as a learner.
    h.get_by_label(title).scroll_to_me();
    for _ in 0..5 {
        h.step();
    }
    click(h, title);
    step_until(h, "the lesson is open", |h| {
        h.state().lessons().open.is_some()
    });
}

/// Joins `room:lobby` again on the same socket, as the phoenix client does after an error.
fn rejoin(socket: &mut Client, join_ref: u32) {
    socket
        .send(Message::text(format!(
            r#"["{join_ref}","{join_ref}","room:lobby","phx_join",{{"nick":"ada"}}]"#
        )))
        .expect("the join is sent");
}

/// The current step's id, prediction count, action labels and check.
fn current(h: &AppHarness) -> Option<(String, bool, Vec<String>, Check)> {
    let (_, step, _) = h.state().lessons().current()?;
    let step = step?;
    Some((
        step.id.clone(),
        step.predict.is_some(),
        step.actions.iter().map(|a| a.label.clone()).collect(),
        step.check.clone(),
    ))
}

/// Walks the open lesson to its end; `before_actions` does what the learner does outside
/// the app for a step (by id), and returns after its actions are pressed.
fn walk(h: &mut AppHarness, mut outside: impl FnMut(&mut AppHarness, &str)) {
    while let Some((id, predict, actions, check)) = current(h) {
        let step_no = h.state().lessons().open.as_ref().map_or(0, |o| o.step);
        if predict {
            assert_eq!(
                phase(h),
                Some(StepPhase::Predict),
                "step {id} asks first (check {check:?}, own figures {:?})",
                h.state().lessons().own_figures()
            );
            assert_not_held_for(
                h,
                Duration::from_millis(200),
                &format!("predicting at {id}"),
            );
            let answer = match h.state().lessons().current() {
                Some((_, Some(step), _)) => step.predict.as_ref().map(|p| p.answers[0].clone()),
                _ => None,
            }
            .expect("a prediction");
            click(h, &shown(&answer));
            step_until(h, "the prediction is taken", |h| {
                phase(h) == Some(StepPhase::Act)
            });
        }
        assert_not_held_for(
            h,
            Duration::from_millis(300),
            &format!("the action of {id}"),
        );
        match &check {
            Check::Quiz {
                answers, correct, ..
            } => {
                let wrong = (correct + 1) % answers.len();
                click(h, &shown(&answers[wrong]));
                assert_not_held_for(
                    h,
                    Duration::from_millis(100),
                    &format!("a right answer at {id}"),
                );
                click(h, &shown(&answers[*correct]));
            }
            Check::Done => click(h, "Done"),
            _ => {
                for label in &actions {
                    click(h, label);
                    h.step();
                }
                outside(h, &id);
            }
        }
        step_until(h, &format!("the check of step {id} holds"), |h| {
            phase(h) == Some(StepPhase::Held)
        });
        assert!(
            h.state()
                .lessons()
                .progress
                .is_done(&h.state().lessons().current().expect("open").0.id, step_no),
            "step {id} is recorded as done"
        );
        h.step();
        let next = if h.query_all_by_label("Next ⏵").next().is_some() {
            "Next ⏵"
        } else {
            "Finish ✔"
        };
        click(h, next);
        h.step();
    }
    step_until(h, "the lesson says it is complete", |h| {
        shows_containing(h, "Lesson complete")
    });
}

#[test]
fn lesson_1_walks_through_from_the_welcome() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    step_until(&mut h, "the welcome shows", |h| {
        shows_containing(h, "Welcome to Crashcourse")
    });
    click(&h, "⏵ Start lesson 1: A process per connection");
    step_until(&mut h, "lesson 1 is open", |h| {
        h.state().lessons().open.is_some()
    });
    walk(&mut h, |_, _| {});
    assert_eq!(
        h.state().lessons().own_figures().spawned,
        0,
        "finishing stopped what the lesson spawned"
    );
}

#[test]
fn lesson_3_walks_through_with_a_websocket_client_as_the_browser() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    step_until(&mut h, "the lesson list shows", |h| {
        shows_containing(h, "3. Let it crash")
    });
    click(&h, "3. Let it crash");
    step_until(&mut h, "lesson 3 is open", |h| {
        h.state().lessons().open.is_some()
    });
    let mut client: Option<Client> = None;
    let mut join_ref = 1;
    walk(&mut h, |h, step| match step {
        // The page the button opened would join the lobby: a real client does it here.
        "join" => client = Some(join_lobby(h, join_ref)),
        // After the crash and the room's restart the page rejoins; so does this client.
        "exit-signals" => {
            join_ref += 1;
            let socket = client.as_mut().expect("joined in the first step");
            rejoin(socket, join_ref);
            step_until(h, "a channel is back", |h| {
                h.state()
                    .lessons()
                    .metric(h.state().world(), "processes.channel")
                    .is_some_and(|n| n >= 1.0)
            });
            // The buttons were pressed before the channel was back: the kill again.
            h.step();
            click(h, "Send exit :kill to a channel");
        }
        _ => {}
    });
}

#[test]
fn lesson_2_walks_through_with_websocket_clients_as_tabs() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    open_lesson(&mut h, "2. Connect a browser");
    let mut tabs: Vec<Client> = Vec::new();
    walk(&mut h, |h, step| match step {
        // Each "open the chat page" is a tab that joins; the third one on `?room=kitchen`.
        "first-tab" | "second-tab" => tabs.push(join_lobby(h, 1)),
        "other-room" => tabs.push(join_room(h, "kitchen", 1)),
        // Closing a tab closes its WebSocket.
        "close" => {
            let mut tab = tabs.pop().expect("tabs were opened");
            tab.close(None).expect("the close is sent");
            // Drive the close handshake so the socket really goes.
            for _ in 0..20 {
                if tab.read().is_err() {
                    break;
                }
            }
        }
        _ => {}
    });
}

#[test]
fn lesson_4_walks_through_killing_band_members() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    open_lesson(&mut h, "4. Supervision strategies");
    walk(&mut h, |h, step| {
        if step == "intensity" {
            // The learner kills the drummer again each time it is back, until the band gives
            // up (bounded: 100 presses, about 10 s).
            for _ in 0..100 {
                if phase(h) == Some(StepPhase::Held) {
                    break;
                }
                click(h, "Kill the drummer");
                for _ in 0..10 {
                    h.step();
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    });
}

#[test]
fn lesson_5_walks_through_a_broadcast_to_a_full_room() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    open_lesson(&mut h, "5. Channels and PubSub");
    let mut tab: Option<Client> = None;
    walk(&mut h, |h, step| {
        if step == "from-browser" {
            // The page the button opened joins the stadium and posts once.
            let mut socket = join_room(h, "stadium", 1);
            socket
                .send(Message::text(
                    r#"["1","2","room:stadium","new_msg",{"body":"hi from the tab"}]"#,
                ))
                .expect("the post is sent");
            tab = Some(socket);
        }
    });
}

/// Lessons whose every step is a button or a quiz: walked without anything outside the app.
fn walk_by_buttons(title: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    open_lesson(&mut h, title);
    walk(&mut h, |_, _| {});
}

#[test]
fn lesson_6_walks_through() {
    let _one_at_a_time = one_at_a_time();
    walk_by_buttons("6. Thread pool vs processes");
}

#[test]
fn lesson_7_walks_through() {
    let _one_at_a_time = one_at_a_time();
    walk_by_buttons("7. The database is the bottleneck");
}

#[test]
fn lesson_8_walks_through() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = app(&dir.path().join("chat.db"));
    open_lesson(&mut h, "8. Load testing");
    // Each button is pressed once, as a learner would: a start while the 10 s smoke test
    // still runs (the ramp), or right after "Stop the closed test" while it still drains
    // (the open test), stops the earlier run and starts once it has ended; it is never
    // refused or lost.
    walk(&mut h, |_, _| {});
}

#[test]
fn lesson_9_walks_through() {
    let _one_at_a_time = one_at_a_time();
    walk_by_buttons("9. Production signals");
}

#[test]
fn progress_survives_a_restart_of_the_app() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("chat.db");
    {
        let mut h = app(&db);
        step_until(&mut h, "the list shows", |h| {
            shows_containing(h, "1. A process per connection")
        });
        assert!(
            h.state().lessons().welcome,
            "a first start shows the welcome"
        );
        click(&h, "1. A process per connection");
        step_until(&mut h, "lesson 1 is open", |h| {
            h.state().lessons().open.is_some()
        });
        h.step();
        // Step 1: predict, then skip ahead by answering step 2's quiz after finishing step 1
        // would need 100,000 processes; a prediction and the current step are enough here.
        let answer = match h.state().lessons().current() {
            Some((_, Some(step), _)) => step.predict.as_ref().map(|p| p.answers[1].clone()),
            _ => None,
        }
        .expect("step 1 asks a prediction");
        click(&h, &answer);
        step_until(&mut h, "the prediction is taken", |h| {
            phase(h) == Some(StepPhase::Act)
        });
        assert!(h.state_mut().shutdown(Duration::from_secs(5)));
    }
    let mut h = app(&db);
    step_until(&mut h, "the list shows", |h| {
        shows_containing(h, "1. A process per connection")
    });
    let lessons = h.state().lessons();
    assert!(!lessons.welcome, "no welcome once progress exists");
    assert_eq!(lessons.progress.prediction("processes", 0), Some(1));
    assert_eq!(
        lessons
            .progress
            .get("processes")
            .and_then(|r| r.current_step),
        Some(0)
    );
    click(&h, "1. A process per connection");
    step_until(&mut h, "lesson 1 resumes", |h| {
        phase(h) == Some(StepPhase::Act)
    });
}

#[test]
fn lesson_10_walks_through() {
    let _one_at_a_time = one_at_a_time();
    walk_by_buttons("10. Inspecting a live system");
}
