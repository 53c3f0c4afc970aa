//! Everything the inspector shows about one process.

use std::sync::Arc;
use std::time::Duration;

use crate::process::record::ProcessInner;
use crate::signal::{ExitReason, MonitorRef};
use crate::{Kind, PastExit, Pid, Status};

use super::ProcessRow;

/// How many queued messages `process_info` renders.
pub(crate) const MAILBOX_PEEK: usize = 10;

/// A detailed look at one process, live or recently exited.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub name: Option<Arc<str>>,
    pub label: Option<Arc<str>>,
    pub kind: Kind,
    pub parent: Option<Pid>,
    pub status: Status,
    /// Its counters as in the process table; `None` once it has exited.
    pub row: Option<ProcessRow>,
    /// The state rendered as text by the process itself (servers do this on request); `None`
    /// until it has answered once.
    pub state: Option<String>,
    /// The first waiting messages, rendered as text.
    pub mailbox_head: Vec<String>,
    pub mailbox_len: usize,
    pub links: Vec<Pid>,
    /// Monitors it holds on others.
    pub monitors: Vec<(MonitorRef, Pid)>,
    /// Processes monitoring it.
    pub monitored_by: Vec<(MonitorRef, Pid)>,
    pub trap_exit: bool,
    pub subscriptions: Vec<Arc<str>>,
    /// Its own exit reason if it has exited, else the last exit of the child it replaced.
    pub last_exit: Option<ExitReason>,
    pub restarts: u32,
    /// Earlier exits of this supervised child, oldest first.
    pub restart_history: Vec<PastExit>,
    /// Time in polls over the last [`BUSY_WINDOW`](crate::BUSY_WINDOW) (zero once exited).
    pub busy: Duration,
    /// Polls over the last [`BUSY_WINDOW`](crate::BUSY_WINDOW).
    pub polls: u64,
    /// Time in polls since spawn.
    pub busy_total: Duration,
    /// Polls since spawn.
    pub polls_total: u64,
}

impl ProcessInfo {
    pub(crate) fn read(inner: &ProcessInner, row: ProcessRow) -> ProcessInfo {
        let st = inner.state.lock();
        let extra = st.extra.as_deref();
        let restart = extra.and_then(|e| e.restart.clone()).unwrap_or_default();
        ProcessInfo {
            pid: inner.pid,
            name: extra.and_then(|e| e.name.clone()),
            label: inner.label.clone(),
            kind: inner.kind,
            parent: inner.parent,
            status: row.status,
            state: extra.and_then(|e| e.state_text.clone()),
            mailbox_head: st.mailbox.peek_rendered(MAILBOX_PEEK),
            mailbox_len: st.mailbox.len(),
            links: st.links.to_vec(),
            monitors: extra.map(|e| sorted(&e.monitors)).unwrap_or_default(),
            monitored_by: extra.map(|e| sorted(&e.monitored_by)).unwrap_or_default(),
            trap_exit: st.trap_exit,
            subscriptions: extra.map(|e| e.subscriptions.clone()).unwrap_or_default(),
            last_exit: restart.history.last().map(|e| e.reason.clone()),
            restarts: restart.count,
            restart_history: restart.history.to_vec(),
            busy: row.busy,
            polls: row.polls,
            busy_total: row.busy_total,
            polls_total: row.polls_total,
            row: Some(row),
        }
    }
}

fn sorted(map: &crate::hash::IdMap<MonitorRef, Pid>) -> Vec<(MonitorRef, Pid)> {
    let mut all: Vec<(MonitorRef, Pid)> = map.iter().map(|(r, p)| (*r, *p)).collect();
    all.sort();
    all
}
