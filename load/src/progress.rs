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
            let mut last = Instant::now();
            while !finished() {
                std::thread::sleep(poll);
                if last.elapsed() >= LINE_EVERY {
                    last = Instant::now();
                    let _ = writeln!(std::io::stderr(), "load: {}", now().1);
                }
            }
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
