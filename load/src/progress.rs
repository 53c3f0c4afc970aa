//! Progress while a run goes on: an `indicatif` bar on a terminal, plain periodic lines
//! otherwise (logs and pipes), or nothing.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle as BarStyle};

use crate::run::Running;
use crate::stats::Live;

/// How progress is shown on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStyle {
    Bar,
    Lines,
    Off,
}

impl ProgressStyle {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn auto() -> ProgressStyle {
        if std::io::stderr().is_terminal() {
            ProgressStyle::Bar
        } else {
            ProgressStyle::Lines
        }
    }
}

/// How often plain lines are printed.
const LINE_EVERY: Duration = Duration::from_secs(2);

/// Shows progress until `running` has finished.
pub fn watch(running: &Running, style: ProgressStyle) {
    let total = running.plan().duration;
    watch_with(
        total,
        style,
        || running.is_finished(),
        || {
            let live = running.live();
            (live.elapsed, describe(live, total))
        },
    );
}

/// Shows progress until `finished` says so; `now` gives the elapsed time and the line to show.
pub fn watch_with(
    total: Duration,
    style: ProgressStyle,
    finished: impl Fn() -> bool,
    now: impl Fn() -> (Duration, String),
) {
    let poll = Duration::from_millis(100);
    match style {
        ProgressStyle::Off => {
            while !finished() {
                std::thread::sleep(poll);
            }
        }
        ProgressStyle::Lines => {
            lines(&mut std::io::stderr(), poll, LINE_EVERY, finished, || {
                now().1
            });
        }
        ProgressStyle::Bar => {
            let bar = ProgressBar::with_draw_target(
                Some(total.as_millis() as u64),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(s) = BarStyle::with_template("{bar:30} {msg}") {
                bar.set_style(s);
            }
            while !finished() {
                std::thread::sleep(poll);
                let (elapsed, line) = now();
                bar.set_position((elapsed.min(total)).as_millis() as u64);
                bar.set_message(line);
            }
            bar.finish_and_clear();
        }
    }
}

/// Plain progress lines on `out`, one every `every`, until `finished`.
fn lines(
    out: &mut dyn Write,
    poll: Duration,
    every: Duration,
    finished: impl Fn() -> bool,
    line: impl Fn() -> String,
) {
    let mut last = Instant::now();
    while !finished() {
        std::thread::sleep(poll);
        if last.elapsed() >= every {
            last = Instant::now();
            let _ = writeln!(out, "load: {}", line());
        }
    }
}

/// One side's counts in a few words, for the contrast's progress line.
pub(crate) fn brief(l: Live) -> String {
    format!(
        "open {} sent {} ok {} errors {}",
        l.open, l.sent, l.acknowledged, l.errors
    )
}

fn describe(l: Live, total: Duration) -> String {
    let phase = if l.elapsed > total { " draining" } else { "" };
    format!(
        "{:.0}s/{:.0}s{phase}  open {}  joined {}  sent {}  acked {}  broadcasts {}  errors {}",
        l.elapsed.as_secs_f64().min(total.as_secs_f64()),
        total.as_secs_f64(),
        l.open,
        l.joins_ok,
        l.sent,
        l.acknowledged,
        l.received,
        l.errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn without_a_terminal_progress_is_plain_lines_until_the_run_ends() {
        let polls = Cell::new(0);
        let mut out = Vec::new();
        lines(
            &mut out,
            Duration::from_millis(1),
            Duration::ZERO,
            || {
                polls.set(polls.get() + 1);
                polls.get() > 3
            },
            || {
                describe(
                    Live {
                        sent: 7,
                        ..Live::default()
                    },
                    Duration::from_secs(10),
                )
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text
            .lines()
            .all(|l| l.starts_with("load: 0s/10s") && l.contains("sent 7")));
        assert!(!text.contains('\x1b'), "no terminal escapes: {text:?}");
    }
}
