//! `crashcourse lessons check` over the real lessons (clean) and over broken copies: each
//! problem names its file, line and column, and the other lessons still load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn crashcourse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crashcourse"))
        .args(args)
        .output()
        .expect("run the crashcourse binary")
}

fn lessons_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons")
}

/// A temporary copy of `lessons/` with `file` edited by `edit`.
fn broken_copy(file: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(lessons_dir()).expect("lessons/ exists") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().expect("a file name").to_owned();
        let text = std::fs::read_to_string(&path).expect("read a lesson");
        let text = if name == file { edit(&text) } else { text };
        std::fs::write(dir.path().join(name), text).expect("write a lesson");
    }
    dir
}

/// The 1-based line of the first line of `text` equal to `line` (after `from` lines).
fn line_of(text: &str, line: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| *l == line)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no line {line:?}"))
}

fn lesson_count() -> usize {
    std::fs::read_dir(lessons_dir())
        .expect("lessons/")
        .filter(|e| {
            let p = e.as_ref().expect("entry").path();
            p.extension().is_some_and(|x| x == "md") && !p.ends_with("README.md")
        })
        .count()
}

#[test]
fn the_shipped_lessons_are_clean() {
    let dir = lessons_dir();
    let out = crashcourse(&["lessons", "check", dir.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().count(),
        lesson_count(),
        "one line per lesson: {stdout}"
    );
    assert!(stdout.contains("01-processes.md"), "{stdout}");
    let list = crashcourse(&["lessons", "list", dir.to_str().expect("utf-8 path")]);
    assert!(list.status.success());
    assert_eq!(String::from_utf8_lossy(&list.stdout), stdout);
}

/// Runs `check` on a copy with `file` broken; asserts exit 1 and one problem at `line`
/// containing `message`, and that `list` still lists every other lesson.
fn assert_reported(file: &str, edit: impl Fn(&str) -> String, line: usize, message: &str) {
    let dir = broken_copy(file, edit);
    let path = dir.path().to_str().expect("utf-8 path");
    let out = crashcourse(&["lessons", "check", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let problems: Vec<&str> = stdout.lines().collect();
    assert_eq!(problems.len(), 1, "{stdout}");
    let prefix = format!("{file}:{line}:");
    assert!(
        problems[0].starts_with(&prefix) && problems[0].contains(message),
        "expected {prefix} ... {message}, got {}",
        problems[0]
    );
    let list = crashcourse(&["lessons", "list", path]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), lesson_count(), "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.contains("BROKEN")).count(),
        1,
        "only the broken file is marked: {listed}"
    );
}

#[test]
fn a_bad_header_is_reported_with_its_line() {
    let file = "02-browser.md";
    let text = std::fs::read_to_string(lessons_dir().join(file)).expect("read");
    let line = text
        .lines()
        .position(|l| l.starts_with("minutes"))
        .expect("a minutes line")
        + 1;
    assert_reported(
        file,
        |t| t.replacen("minutes = ", "minutes = 99 #", 1),
        line,
        "out of range",
    );
}

#[test]
fn an_unknown_action_is_reported_with_its_line() {
    let file = "03-let-it-crash.md";
    let text = std::fs::read_to_string(lessons_dir().join(file)).expect("read");
    let line = line_of(&text, "do = \"crash\"", 0);
    assert_reported(
        file,
        |t| t.replacen("do = \"crash\"", "do = \"explode\"", 1),
        line,
        "unknown action \"explode\"",
    );
}

#[test]
fn an_unknown_check_kind_is_reported_with_its_line() {
    let file = "04-supervision.md";
    let text = std::fs::read_to_string(lessons_dir().join(file)).expect("read");
    let line = line_of(&text, "kind = \"event\"", 0);
    assert_reported(
        file,
        |t| t.replacen("kind = \"event\"", "kind = \"vibes\"", 1),
        line,
        "unknown check kind \"vibes\"",
    );
}

#[test]
fn a_missing_field_is_reported_with_its_line() {
    let file = "01-processes.md";
    let text = std::fs::read_to_string(lessons_dir().join(file)).expect("read");
    // The first step's block: remove its title; the problem points at the block's fence.
    let fences: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "+++")
        .map(|(i, _)| i + 1)
        .collect();
    let step_fence = fences[2];
    let title_line = text
        .lines()
        .enumerate()
        .skip(step_fence)
        .find(|(_, l)| l.starts_with("title = "))
        .map(|(i, l)| (i, l.to_string()))
        .expect("a step title");
    assert_reported(
        file,
        move |t| {
            t.lines()
                .enumerate()
                .filter(|(i, _)| *i != title_line.0)
                .map(|(_, l)| format!("{l}\n"))
                .collect()
        },
        step_fence,
        "a step needs `title`",
    );
}
