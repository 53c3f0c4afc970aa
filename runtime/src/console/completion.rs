//! Tab completion: the command word first, then registered names, labels and pids.

use super::commands::COMMANDS;
use crate::Handle;

/// Whole lines extending `prefix`, sorted, at most 50.
pub fn complete(handle: &Handle, prefix: &str) -> Vec<String> {
    let trimmed = prefix.trim_start();
    let Some((head, last)) = split_last(trimmed) else {
        return COMMANDS
            .iter()
            .filter(|c| c.name.starts_with(trimmed))
            .map(|c| c.name.to_string())
            .collect();
    };
    let mut words: Vec<String> = if head.trim().starts_with("top") {
        ["memory", "mailbox", "messages", "busy"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        let mut w: Vec<String> = handle
            .registered()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        for row in handle.process_table() {
            if let Some(l) = &row.label {
                w.push(l.to_string());
            }
            w.push(row.pid.to_string());
            w.push(format!("#{}", row.pid.id()));
        }
        w
    };
    words.retain(|w| w.starts_with(last) && !w.contains(' '));
    words.sort();
    words.dedup();
    words.truncate(50);
    words.into_iter().map(|w| format!("{head}{w}")).collect()
}

/// Splits "cmd arg pa" into ("cmd arg ", "pa"); None while the command word is being typed.
fn split_last(line: &str) -> Option<(&str, &str)> {
    let cut = line.rfind(' ')? + 1;
    Some((&line[..cut], &line[cut..]))
}
