//! Answering each console command from the live runtime.

use std::time::Duration;

use futures_lite::future::block_on;

use super::commands::{find, suggest, COMMANDS};
use super::parse::{self, bytes, show};
use super::{Answer, Console};
use crate::observe::ProcessRow;
use crate::{alloc, supervisor, ExitReason, Kind, Pid, TraceSpec};

/// The default wait for `state` and `children`, as `:sys.get_state/1` uses 5 s and we 1 s.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs one line.
pub fn run(console: &Console, line: &str) -> Answer {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&word, args)) = words.split_first() else {
        return Answer::err(line, "", "type a command; `help` lists them");
    };
    let Some(cmd) = find(word) else {
        let hint = match suggest(word) {
            Some(c) => format!("; did you mean `{}`?", c.usage),
            None => "; `help` lists the commands".to_string(),
        };
        return Answer::err(line, "", format!("unknown command `{word}`{hint}"));
    };
    let usage = |msg: &str| Answer::err(line, cmd.iex, format!("{msg}; usage: {}", cmd.usage));
    let h = &console.handle;
    match (cmd.name, args) {
        ("help", []) => Answer::ok(
            line,
            cmd.iex,
            COMMANDS
                .iter()
                .map(|c| format!("{:<38} {}", c.usage, c.about))
                .collect(),
        ),
        ("help", [name]) => match find(name) {
            Some(c) => Answer::ok(
                line,
                c.iex,
                vec![
                    format!("{}: {}", c.usage, c.about),
                    format!("in IEx: {}", c.iex),
                ],
            ),
            None => usage(&format!("no command `{name}`")),
        },
        ("count", []) => Answer::ok(
            line,
            cmd.iex,
            vec![format!("{} processes", h.process_count())],
        ),
        ("memory", []) => memory(console, line),
        ("info", [who]) => with_target(console, line, cmd.iex, who, |pid| info(console, line, pid)),
        ("state", [who]) | ("state", [who, _]) => {
            let timeout = match args.get(1) {
                None => DEFAULT_TIMEOUT,
                Some(t) => match parse::duration(t) {
                    Some(d) if !d.is_zero() && d <= Duration::from_secs(60) => d,
                    _ => return usage(&format!("bad timeout `{t}` (e.g. 500ms, 2s; at most 60s)")),
                },
            };
            with_target(console, line, cmd.iex, who, |pid| {
                state(console, line, pid, timeout)
            })
        }
        ("subscribers", [topic]) => subscribers(console, line, topic),
        ("children", [who]) => with_target(console, line, cmd.iex, who, |pid| {
            children(console, line, pid)
        }),
        ("top", [by]) | ("top", [by, _]) => {
            let n = match args.get(1) {
                None => 5,
                Some(n) => match n.parse::<usize>() {
                    Ok(n) if (1..=100).contains(&n) => n,
                    _ => return usage(&format!("bad count `{n}` (1 to 100)")),
                },
            };
            top(console, line, by, n).unwrap_or_else(|| usage(&format!("cannot sort by `{by}`")))
        }
        ("kill", [who]) => with_target(console, line, cmd.iex, who, |pid| {
            control(
                line,
                format!("Process.exit({}, :kill)", iex_pid(pid)),
                pid,
                h.kill(pid),
                "sent kill",
            )
        }),
        ("exit", [who, reason]) => {
            let reason = exit_reason(reason);
            let iex = format!("Process.exit({}, :{})", "pid", reason);
            with_target(console, line, &iex, who, |pid| {
                let iex = format!("Process.exit({}, :{reason})", iex_pid(pid));
                let sent = format!("sent exit signal `{reason}`");
                control(line, iex, pid, h.exit(pid, reason.clone()), &sent)
            })
        }
        ("crash", [who]) => with_target(console, line, cmd.iex, who, |pid| {
            control(
                line,
                format!("Process.exit({}, :crash)", iex_pid(pid)),
                pid,
                h.crash(pid),
                "made it panic",
            )
        }),
        ("trace", [_, ..]) => trace(console, line, args),
        _ => usage("wrong arguments"),
    }
}

fn with_target(
    console: &Console,
    line: &str,
    iex: &str,
    who: &str,
    then: impl FnOnce(Pid) -> Answer,
) -> Answer {
    match parse::target(&console.handle, who) {
        Ok(pid) => then(pid),
        Err(e) => Answer::err(line, iex, e),
    }
}

/// How IEx writes a pid.
fn iex_pid(pid: Pid) -> String {
    format!("pid(\"0.{}.0\")", pid.id())
}

fn exit_reason(word: &str) -> ExitReason {
    match word.trim_start_matches(':') {
        "normal" => ExitReason::Normal,
        "shutdown" => ExitReason::Shutdown,
        "kill" => ExitReason::Kill,
        other => ExitReason::custom(other),
    }
}

fn control(
    line: &str,
    iex: String,
    pid: Pid,
    result: Result<(), crate::NoProc>,
    done: &str,
) -> Answer {
    match result {
        Ok(()) => Answer::ok(line, iex, vec![format!("{pid}: {done}")]),
        Err(_) => Answer::err(line, iex, format!("{pid} is not alive")),
    }
}

fn name_of(row: &ProcessRow) -> String {
    format!("{} {}", row.pid, row.display_name())
}

fn memory(console: &Console, line: &str) -> Answer {
    let rows = console.handle.process_table();
    let processes: usize = rows.iter().map(|r| r.memory).sum();
    let queued: usize = rows.iter().map(|r| r.mailbox_len).sum();
    let chat_kinds = [
        Kind::Socket,
        Kind::Channel,
        Kind::Room,
        Kind::Presence,
        Kind::PubSub,
        Kind::Http,
    ];
    let chat: usize = rows
        .iter()
        .filter(|r| chat_kinds.contains(&r.kind))
        .map(|r| r.memory)
        .sum();
    let pool: usize = rows
        .iter()
        .filter(|r| matches!(r.kind, Kind::Pool | Kind::PoolConnection))
        .map(|r| r.memory)
        .sum();
    let t = console.handle.table_sizes();
    let mut lines = vec![
        format!("processes  {:>10}   sum over {} processes of task, record, queued messages and reported state", bytes(processes), rows.len()),
        format!("mailboxes  {:>10}   messages waiting (their bytes are counted under processes)", queued),
        format!(
            "tables     {:>10}   entries: {} processes, {} names, {} subscriptions, {} timers",
            t.processes + t.names + t.subscriptions + t.timers,
            t.processes, t.names, t.subscriptions, t.timers
        ),
        format!("chat       {:>10}   sockets, channels, rooms, presence, pubsub, http processes", bytes(chat)),
        format!("pool       {:>10}   the pool process and its connections (SQLite's own cache not included)", bytes(pool)),
    ];
    if let Some((metrics, p)) = &console.chat {
        let m = p.metrics();
        lines.push(format!(
            "           pool: {} connections, {} checked out, {} queued",
            m.size, m.checked_out, m.queue_len
        ));
        let counters: Vec<String> = metrics
            .counters()
            .into_iter()
            .take(4)
            .map(|(name, _, v)| format!("{name}={v}"))
            .collect();
        lines.push(format!("           chat: {}", counters.join(", ")));
    }
    match (alloc::live_bytes(), alloc::rss_bytes()) {
        (Some(live), rss) => lines.push(format!(
            "total      {:>10}   live heap counted by the allocator{}",
            bytes(live),
            rss.map(|r| format!("; resident {}", bytes(r)))
                .unwrap_or_default()
        )),
        (None, Some(rss)) => lines.push(format!(
            "total      {:>10}   resident set size of this OS process",
            bytes(rss)
        )),
        (None, None) => {
            lines.push("total      unknown (no counting allocator, no /proc)".to_string())
        }
    }
    Answer::ok(line, ":erlang.memory()", lines)
}

fn info(console: &Console, line: &str, pid: Pid) -> Answer {
    let iex = format!("Process.info({})", iex_pid(pid));
    let Some(i) = console.handle.process_info(pid) else {
        return Answer::err(
            line,
            iex,
            format!("{pid} is not alive and not among recent exits"),
        );
    };
    let mut lines = vec![format!(
        "{pid} {} ({}), status {}",
        i.name.as_deref().or(i.label.as_deref()).unwrap_or("-"),
        i.kind.name(),
        i.status.name()
    )];
    if let Some(r) = &i.row {
        lines.push(format!(
            "memory {}, message_queue_len {}, messages in {} / out {}, restarts {}",
            bytes(r.memory),
            r.mailbox_len,
            r.messages_in,
            r.messages_out,
            r.restarts
        ));
    }
    lines.push(format!(
        "busy {:?} in {} polls over the last 5 s ({:?} in {} since spawn)",
        i.busy, i.polls, i.busy_total, i.polls_total
    ));
    let list = |v: &[Pid]| {
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    lines.push(format!(
        "links [{}], trap_exit {}",
        list(&i.links),
        i.trap_exit
    ));
    if !i.monitors.is_empty() {
        lines.push(format!(
            "monitors [{}]",
            list(&i.monitors.iter().map(|m| m.1).collect::<Vec<_>>())
        ));
    }
    if let Some(parent) = i.parent {
        lines.push(format!("parent {parent}"));
    }
    for m in i.mailbox_head.iter().take(5) {
        lines.push(format!("  queued: {m}"));
    }
    if let Some(r) = &i.last_exit {
        lines.push(format!("exited: {r}"));
    }
    Answer::ok(line, iex, lines)
}

fn state(console: &Console, line: &str, pid: Pid, timeout: Duration) -> Answer {
    let iex = format!(":sys.get_state({}, {})", iex_pid(pid), timeout.as_millis());
    let h = &console.handle;
    let alive = h.process_info(pid).is_some_and(|i| i.row.is_some());
    if !alive {
        return Answer::err(line, iex, format!("{pid} is not alive (noproc)"));
    }
    match block_on(h.fresh_state(pid, timeout)) {
        Some(s) => Answer::ok(line, iex, s.lines().take(40).map(str::to_string).collect()),
        None if h.process_info(pid).is_some_and(|i| i.row.is_some()) => Answer::err(
            line,
            iex,
            format!(
                "timed out after {}: the process did not answer (it is busy or stuck)",
                show(timeout)
            ),
        ),
        None => Answer::err(line, iex, format!("{pid} exited before it answered")),
    }
}

fn subscribers(console: &Console, line: &str, topic: &str) -> Answer {
    let iex = format!("Registry.lookup(MyApp.PubSub, \"{topic}\")");
    let pids = console.handle.0.pubsub.subscribers(topic);
    let rows = console.handle.process_table();
    let mut lines = vec![format!("{} subscribers of {topic}", pids.len())];
    for pid in pids.iter().take(50) {
        match rows.iter().find(|r| r.pid == *pid) {
            Some(r) => lines.push(format!("  {} ({})", name_of(r), r.kind.name())),
            None => lines.push(format!("  {pid}")),
        }
    }
    Answer::ok(line, iex, lines)
}

fn children(console: &Console, line: &str, sup: Pid) -> Answer {
    let iex = format!("Supervisor.which_children({})", iex_pid(sup));
    let h = &console.handle;
    let is_sup = h.process_info(sup).is_some_and(|i| {
        matches!(i.kind, Kind::Supervisor | Kind::DynamicSupervisor) && i.row.is_some()
    });
    if !is_sup {
        return Answer::err(line, iex, format!("{sup} is not a live supervisor"));
    }
    match block_on(supervisor::which_children(h, sup, DEFAULT_TIMEOUT)) {
        Ok(kids) => {
            let mut lines = vec![format!("{} children", kids.len())];
            for k in kids.iter().take(50) {
                lines.push(format!(
                    "  {:<20} {:<12} {} restarts {}",
                    k.id,
                    k.pid
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| ":undefined".into()),
                    k.kind.name(),
                    k.restarts
                ));
            }
            Answer::ok(line, iex, lines)
        }
        Err(e) => Answer::err(line, iex, format!("no answer: {e}")),
    }
}

/// What `top` sorts by, and how it shows it.
type Key = fn(&ProcessRow) -> u128;
type Show = fn(&ProcessRow) -> String;

fn top(console: &Console, line: &str, by: &str, n: usize) -> Option<Answer> {
    let mut rows = console.handle.process_table();
    let (iex, key, show_it): (String, Key, Show) = match by {
        "memory" => (
            format!(":recon.proc_count(:memory, {n})"),
            |r| r.memory as u128,
            |r| bytes(r.memory),
        ),
        "mailbox" => (
            format!(":recon.proc_count(:message_queue_len, {n})"),
            |r| r.mailbox_len as u128,
            |r| format!("{} queued", r.mailbox_len),
        ),
        "messages" => (
            format!(":recon.proc_count(:message_queue_len, {n}) # messages in since spawn"),
            |r| r.messages_in as u128,
            |r| format!("{} received", r.messages_in),
        ),
        "busy" => (
            format!(":recon.proc_window(:reductions, {n}, 5000)"),
            |r| r.busy.as_nanos(),
            |r| format!("{:?} in {} polls (5 s window)", r.busy, r.polls),
        ),
        _ => return None,
    };
    rows.sort_by_key(|r| std::cmp::Reverse(key(r)));
    let lines = rows
        .iter()
        .take(n)
        .map(|r| format!("{:<40} {}", name_of(r), show_it(r)))
        .collect();
    Some(Answer::ok(line, iex, lines))
}

fn trace(console: &Console, line: &str, args: &[&str]) -> Answer {
    let iex_base = ":recon_trace.calls({mod, :_, :_}, 50)";
    let mut spec = TraceSpec::default();
    let mut pids = Vec::new();
    let mut count_seen = false;
    for a in args {
        if pids.is_empty() || (!parse::is_duration(a) && a.parse::<usize>().is_err()) {
            match parse::target(&console.handle, a) {
                Ok(p) => pids.push(p),
                Err(e) => return Answer::err(line, iex_base, e),
            }
        } else if parse::is_duration(a) {
            match parse::duration(a) {
                Some(d) if !d.is_zero() && d <= Duration::from_secs(60) => spec.max_time = d,
                _ => return Answer::err(line, iex_base, format!("bad time `{a}` (up to 60s)")),
            }
        } else if !count_seen {
            count_seen = true;
            match a.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => spec.max_events = n,
                _ => return Answer::err(line, iex_base, format!("bad count `{a}` (1 to 10000)")),
            }
        } else {
            return Answer::err(line, iex_base, "usage: trace <pid|name>... [n] [time]");
        }
    }
    let iex = format!(
        ":dbg.tracer(); :dbg.p({}, [:m, :procs]) # bounded: {} events or {}",
        pids.first().map(|p| iex_pid(*p)).unwrap_or_default(),
        spec.max_events,
        show(spec.max_time)
    );
    let (n, t) = (spec.max_events, spec.max_time);
    spec.pids = pids.clone();
    match console.handle.trace(spec) {
        Ok(trace) => {
            let mut a = Answer::ok(
                line,
                iex,
                vec![format!(
                    "tracing {} for up to {n} events or {}: see the trace view",
                    pids.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    show(t)
                )],
            );
            a.trace = Some(trace);
            a
        }
        Err(e) => Answer::err(line, iex, e.to_string()),
    }
}
