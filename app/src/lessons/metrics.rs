//! The figures a lesson's metric checks and `{{live figures}}` read, by name, from the view
//! model and the lesson's own measurements. A figure this build cannot measure is `None`
//! ("not available"), and a check on it never holds.

use bevy_ecs::world::World;
use crashcourse_runtime::Kind;

use super::model::parse_kind;
use crate::state::chat::{ChatServer, ChatStats};
use crate::state::components::{Counters, Identity, ProcessStatus, RuntimeStats};
use crate::state::contrast::ContrastRun;
use crate::state::faults::FaultsView;
use crate::state::load::LoadRun;

/// What the lesson itself measured (its spawned processes and their memory).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LessonFigures {
    /// Processes the lesson spawned that are still alive.
    pub spawned: usize,
    /// Bytes per idle process, measured over the lesson's own spawn.
    pub per_idle_process: Option<usize>,
}

/// The value of metric `name` now, if this build can measure it.
pub fn read(world: &World, own: &LessonFigures, name: &str) -> Option<f64> {
    let stats = world.get_resource::<RuntimeStats>()?;
    let pool = || {
        world
            .get_resource::<ChatStats>()
            .and_then(|c| c.pool.clone())
    };
    let chat = || {
        world
            .get_resource::<ChatServer>()
            .and_then(|c| c.endpoint.as_ref().map(|e| e.metrics().clone()))
    };
    let load =
        |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let value = match name {
        "processes" => stats.process_count as f64,
        "processes.spawned_by_lesson" => own.spawned as f64,
        "memory.total" => stats.memory as f64,
        "memory.per_idle_process" => own.per_idle_process? as f64,
        "messages_per_s" => stats.messages_per_sec,
        "restarts" => stats.restarts_total as f64,
        "long_polls" => stats.long_polls_total as f64,
        "chat.connections" => load(&chat()?.connections),
        "chat.joins" => load(&chat()?.joins),
        "chat.messages_posted" => load(&chat()?.messages_posted),
        "chat.broadcasts" => load(&chat()?.broadcasts),
        "pool.queue_len" => pool()?.queue_len as f64,
        "pool.queue_time_p99_ms" => pool()?.recent_queue_time.p99.as_secs_f64() * 1000.0,
        "pool.query_time_p99_ms" => pool()?.recent_query_time.p99.as_secs_f64() * 1000.0,
        "pool.drops" => pool()?.drops as f64,
        "pool.slow" => f64::from(u8::from(pool()?.slow)),
        "mailbox.max" => max_mailbox(world)? as f64,
        "load.clients" => load_live(world)?.open as f64,
        "load.sent" => load_live(world)?.sent as f64,
        "load.acked" => load_live(world)?.acknowledged as f64,
        "load.received" => load_live(world)?.received as f64,
        "load.errors" => load_live(world)?.errors as f64,
        "load.p50_ms" => load_percentile(world, 0.50)?,
        "load.p99_ms" => load_percentile(world, 0.99)?,
        "contrast.thread_pool_per_s" => contrast_rate(world, true)?,
        "contrast.processes_per_s" => contrast_rate(world, false)?,
        "contrast.thread_pool_p99_ms" => {
            let run = world.get_resource::<ContrastRun>()?;
            run.result.as_ref()?.thread_pool.latency_ms.round_trip.p99?
        }
        "contrast.processes_p99_ms" => {
            let run = world.get_resource::<ContrastRun>()?;
            run.result.as_ref()?.processes.latency_ms.round_trip.p99?
        }
        "faults.leaked" => fault_status(world)?.leaked as f64,
        "faults.flood_queue" => fault_status(world)?.flood_queue as f64,
        "faults.unmatched_queue" => fault_status(world)?.unmatched_queue as f64,
        "faults.state_bytes" => fault_status(world)?.state_bytes as f64,
        "chaos.killed" => fault_status(world)?
            .chaos
            .as_ref()
            .map_or(0, |c| c.killed_total) as f64,
        other => {
            let kind = parse_kind(other.strip_prefix("processes.")?)?;
            count_kind(world, kind)? as f64
        }
    };
    Some(value)
}

/// A round-trip percentile of the load run in ms: of the replies so far while it runs, the
/// summary's once it ended.
fn load_percentile(world: &World, q: f64) -> Option<f64> {
    let run = world.get_resource::<LoadRun>()?;
    if run.is_running() {
        let live = run.live?;
        let d = if q < 0.9 {
            live.round_trip_p50
        } else {
            live.round_trip_p99
        };
        return Some(d?.as_secs_f64() * 1000.0);
    }
    let rt = &run.last.as_ref()?.latency_ms.round_trip;
    if q < 0.9 {
        rt.p50
    } else {
        rt.p99
    }
}

/// Replies per second on one side of the contrast: over the last second while it runs, over
/// the whole run once it ended (so the explanation read afterwards does not say 0).
fn contrast_rate(world: &World, thread_pool: bool) -> Option<f64> {
    let run = world.get_resource::<ContrastRun>()?;
    if !run.is_running() {
        if let Some(result) = &run.result {
            let side = if thread_pool {
                &result.thread_pool
            } else {
                &result.processes
            };
            return Some(side.messages.acknowledged_per_s);
        }
    }
    Some(if thread_pool {
        run.thread_pool.per_s
    } else {
        run.processes.per_s
    })
}

/// The load run's newest counts.
fn load_live(world: &World) -> Option<crashcourse_load::Live> {
    world.get_resource::<LoadRun>()?.live
}

/// What the fault switches last reported.
fn fault_status(world: &World) -> Option<&crashcourse_runtime::FaultStatus> {
    world.get_resource::<FaultsView>()?.status.as_ref()
}

/// Live processes of `kind` the view model knows.
fn count_kind(world: &World, kind: Kind) -> Option<usize> {
    let mut query = world.try_query::<(&Identity, &ProcessStatus)>()?;
    Some(
        query
            .iter(world)
            .filter(|(i, s)| i.kind == kind && matches!(s, ProcessStatus::Alive(_)))
            .count(),
    )
}

/// The longest mailbox among live processes.
fn max_mailbox(world: &World) -> Option<usize> {
    let mut query = world.try_query::<(&Counters, &ProcessStatus)>()?;
    Some(
        query
            .iter(world)
            .filter(|(_, s)| matches!(s, ProcessStatus::Alive(_)))
            .map(|(c, _)| c.mailbox_len)
            .max()
            .unwrap_or(0),
    )
}

/// A figure for prose: "12,345", "2.6 KB"-style bytes, or "not available".
pub fn format(name: &str, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "(not available)".into();
    };
    if name.starts_with("memory.") || name == "faults.state_bytes" {
        return crate::panels::format_bytes(v.max(0.0) as usize);
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return group(v as i64);
    }
    format!("{v:.1}")
}

/// What metric `name` measures, in the learner's words (the check line shows this, with the
/// name itself on hover).
pub fn describe(name: &str) -> String {
    let words = match name {
        "processes" => "processes alive",
        "processes.spawned_by_lesson" => "processes this lesson spawned",
        "memory.total" => "memory in use",
        "memory.per_idle_process" => "memory per idle process",
        "messages_per_s" => "messages per second",
        "restarts" => "restarts so far",
        "long_polls" => "long polls so far",
        "chat.connections" => "chat connections open",
        "chat.joins" => "channel joins",
        "chat.messages_posted" => "chat messages posted",
        "chat.broadcasts" => "broadcasts",
        "pool.queue_len" => "requests queued for a database connection",
        "pool.queue_time_p99_ms" => "p99 wait for a database connection, ms",
        "pool.query_time_p99_ms" => "p99 query time, ms",
        "pool.drops" => "requests the pool dropped",
        "pool.slow" => "pool marked slow (1 = yes)",
        "load.clients" => "simulated users connected",
        "load.sent" => "messages the users sent",
        "load.acked" => "messages acknowledged",
        "load.received" => "broadcasts the users received",
        "load.p50_ms" => "median round trip, ms",
        "load.p99_ms" => "p99 round trip, ms",
        "load.errors" => "load errors",
        "contrast.thread_pool_per_s" => "thread pool requests per second",
        "contrast.processes_per_s" => "process requests per second",
        "contrast.thread_pool_p99_ms" => "thread pool p99, ms",
        "contrast.processes_p99_ms" => "processes p99, ms",
        "faults.leaked" => "processes leaked",
        "faults.flood_queue" => "messages waiting in the flooded mailbox",
        "faults.unmatched_queue" => "unmatched messages waiting",
        "faults.state_bytes" => "the hoarding server's state",
        "mailbox.max" => "longest mailbox",
        "chaos.killed" => "processes chaos killed",
        other => {
            return match other.strip_prefix("processes.") {
                Some(kind) => format!("{} processes alive", kind.replace('_', " ")),
                None => other.to_string(),
            };
        }
    };
    words.to_string()
}

/// 1234567 -> "1,234,567".
fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `text` with every `{{metric}}` replaced by its value now.
pub fn fill(text: &str, mut value: impl FnMut(&str) -> Option<f64>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, name) in super::parse::placeholders(text) {
        let Some(close) = text[at..].find("}}") else {
            continue;
        };
        out.push_str(&text[last..at]);
        out.push_str(&format(name, value(name)));
        last = at + close + 2;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_figures_are_filled_in_and_unknown_ones_say_so() {
        let text = "Each took {{memory.per_idle_process}}; {{processes}} in all; {{load.p99_ms}}.";
        let filled = fill(text, |n| match n {
            "memory.per_idle_process" => Some(2616.0),
            "processes" => Some(100_123.0),
            _ => None,
        });
        assert_eq!(
            filled,
            "Each took 2.6 KiB; 100,123 in all; (not available)."
        );
    }
}
