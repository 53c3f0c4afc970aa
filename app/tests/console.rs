//! The console panel in the real app, headless: typing commands shows their answers with the
//! IEx expression, an unknown command says so, Tab completes, up recalls the last line, and a
//! stuck process's `state` times out without blocking the window.

use std::time::{Duration, Instant};

use crashcourse_app::panels::console::PROMPT;
use crashcourse_app::panels::Tab;
use crashcourse_app::state::console::ConsoleLog;
use crashcourse_app::{egui, AppConfig, CrashcourseApp};
use crashcourse_runtime::SpawnOpts;
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

mod support;
use support::{shows_containing as shows, step_until_within, AppHarness, TestApp};

const DEADLINE: Duration = Duration::from_secs(20);

fn step_until(harness: &mut AppHarness, what: &str, cond: impl Fn(&AppHarness) -> bool) {
    step_until_within(harness, DEADLINE, what, cond);
}

fn app() -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = AppConfig::isolated(&dir.path().join("chat.db"));
    config.snapshot_interval = Duration::from_millis(10);
    let harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 720.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config));
    let mut app = TestApp { harness, _dir: dir };
    app.harness.state_mut().set_tab(Tab::Console);
    app.harness.step();
    app
}

fn answers(harness: &AppHarness) -> usize {
    harness
        .state()
        .world()
        .resource::<ConsoleLog>()
        .answers
        .len()
}

/// Types `text` into the console's input line (focusing it first).
fn type_in(harness: &mut AppHarness, text: &str) {
    let input = harness.get_by_role_and_label(Role::TextInput, PROMPT);
    input.focus();
    input.type_text(text);
    harness.step();
}

/// Types `line`, presses Enter and waits for its answer to be drawn.
fn enter(harness: &mut AppHarness, line: &str) {
    let before = answers(harness);
    type_in(harness, line);
    harness.key_press(egui::Key::Enter);
    step_until(harness, &format!("`{line}` is answered"), |h| {
        answers(h) > before
    });
    harness.step();
}

#[test]
fn typed_commands_are_answered_with_their_iex_expression() {
    let mut t = app();
    let h = &mut t.harness;
    enter(h, "count");
    assert!(
        shows(h, "length(Process.list())"),
        "the IEx expression is shown"
    );
    let count = h.state().world().resource::<ConsoleLog>().answers[0].lines[0].clone();
    assert!(count.ends_with(" processes"), "{count}");
    assert!(shows(h, &count));

    enter(h, "memory");
    assert!(shows(h, ":erlang.memory()"));
    enter(h, "cuont");
    assert!(shows(h, "unknown command `cuont`; did you mean `count`?"));
    enter(h, "state endpoint");
    assert!(shows(h, ":sys.get_state("));
}

#[test]
fn tab_completes_and_up_recalls_the_last_line() {
    let mut t = app();
    let h = &mut t.harness;
    type_in(h, "memo");
    h.key_press(egui::Key::Tab);
    h.step();
    h.step();
    let input = h.get_by_role_and_label(Role::TextInput, PROMPT);
    assert_eq!(input.value().as_deref(), Some("memory "));
    h.key_press(egui::Key::Enter);
    step_until(h, "memory is answered", |h| answers(h) == 1);

    enter(h, "count");
    h.get_by_role_and_label(Role::TextInput, PROMPT).focus();
    h.step();
    h.key_press(egui::Key::ArrowUp);
    h.step();
    h.step();
    let input = h.get_by_role_and_label(Role::TextInput, PROMPT);
    assert_eq!(input.value().as_deref(), Some("count"));
    h.key_press(egui::Key::ArrowUp);
    h.step();
    h.step();
    let input = h.get_by_role_and_label(Role::TextInput, PROMPT);
    assert_eq!(input.value().as_deref(), Some("memory"));
}

#[test]
fn a_stuck_process_state_times_out_while_the_window_keeps_drawing() {
    let mut t = app();
    let h = &mut t.harness;
    let handle = h.state().handle();
    handle
        .spawn_with(SpawnOpts::new().name("stuck"), |ctx| async move {
            ctx.recv_match(|_| false).await;
        })
        .expect("spawn");
    let before = answers(h);
    type_in(h, "state stuck 500ms");
    h.key_press(egui::Key::Enter);
    let start = Instant::now();
    h.step();
    assert!(shows(h, "(waiting...)"), "the line is shown as running");
    step_until(h, "the state times out", |h| answers(h) > before);
    assert!(start.elapsed() < Duration::from_millis(500) + Duration::from_secs(2));
    h.step();
    assert!(shows(
        h,
        "timed out after 500ms: the process did not answer (it is busy or stuck)"
    ));
}

#[test]
fn the_commands_lesson_ten_uses_answer_as_it_says() {
    use crashcourse_app::state::commands::Command;
    use crashcourse_runtime::FaultKind;
    let mut t = app();
    let h = &mut t.harness;
    let fault = FaultKind::parse("unmatched_messages").expect("the fault exists");
    h.state_mut().apply(Command::Fault { fault, on: true });
    step_until(h, "`unmatched` has a backlog", |h| {
        h.state()
            .handle()
            .process_table()
            .iter()
            .any(|r| r.label.as_deref() == Some("unmatched") && r.mailbox_len > 1_000)
    });
    for (line, expect) in [
        ("count", " processes"),
        ("memory", "total"),
        ("subscribers room:lobby", "subscribers of room:lobby"),
        ("top mailbox", "unmatched"),
        ("trace unmatched 50 1s", "tracing"),
        ("kill unmatched", "sent kill"),
    ] {
        let before = answers(h);
        h.state_mut().apply(Command::Console(line.to_string()));
        step_until(h, &format!("`{line}` is answered"), |h| answers(h) > before);
        let log = h.state().world().resource::<ConsoleLog>();
        let a = log.answers.last().expect("an answer");
        assert!(!a.error, "{line}: {:?}", a.lines);
        assert!(
            a.lines.iter().any(|l| l.contains(expect)),
            "{line}: expected {expect:?} in {:?}",
            a.lines
        );
        if line.starts_with("top") {
            assert!(
                a.lines[0].contains("unmatched"),
                "the backlog is first: {:?}",
                a.lines
            );
        }
    }
    h.state_mut().apply(Command::AllFaultsOff);
}
