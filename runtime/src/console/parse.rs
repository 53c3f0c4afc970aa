//! Reading console arguments: pids in the forms the app prints (`<0.42.0>`, `#42`, `42`),
//! registered names and labels, counts and durations (`500ms`, `1s`, `2`).

use std::time::Duration;

use crate::{Handle, Pid};

/// Parses a pid written `<0.42.0>`, `#42` or `42`.
pub fn pid(word: &str) -> Option<Pid> {
    let id = if let Some(rest) = word.strip_prefix("<0.") {
        rest.strip_suffix(".0>")?
    } else if let Some(rest) = word.strip_prefix('#') {
        rest
    } else {
        word
    };
    id.parse::<u64>().ok().map(Pid::from_id)
}

/// Finds the process `word` names: a pid, a registered name, or a label that exactly one live
/// process carries. The error says why not.
pub fn target(handle: &Handle, word: &str) -> Result<Pid, String> {
    if let Some(p) = pid(word) {
        return Ok(p);
    }
    if let Some(p) = handle.whereis(word) {
        return Ok(p);
    }
    let rows = handle.process_table();
    let matches: Vec<Pid> = rows
        .iter()
        .filter(|r| r.label.as_deref() == Some(word))
        .map(|r| r.pid)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "no process named `{word}`: give a pid (<0.42.0> or #42), a registered name or a label (Tab completes them)"
        )),
        many => Err(format!(
            "`{word}` is the label of {} processes ({}...): give a pid",
            many.len(),
            many.iter()
                .take(3)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Parses a duration: `500ms`, `1s`, `1.5s` or a bare number of seconds.
pub fn duration(word: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = word.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = word.strip_suffix('s') {
        (n, 1.0)
    } else {
        (word, 1.0)
    };
    let v: f64 = num.parse().ok()?;
    if !v.is_finite() || v < 0.0 || v * scale > 3600.0 {
        return None;
    }
    Some(Duration::from_secs_f64(v * scale))
}

/// Whether `word` looks like a duration rather than a count (it carries a unit).
pub fn is_duration(word: &str) -> bool {
    (word.ends_with("ms") || word.ends_with('s')) && duration(word).is_some()
}

/// Formats a duration as the console prints it (`1s`, `250ms`, `1.5s`).
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// Formats a byte count.
pub fn bytes(n: usize) -> String {
    if n >= 10 << 20 {
        format!("{:.1} MB", n as f64 / (1 << 20) as f64)
    } else if n >= 10 << 10 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}
