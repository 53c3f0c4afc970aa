//! A supervisor's record of one child: its spec, its pid while it runs, and its restarts.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::spec::{ChildSpec, Restart};
use crate::{ExitReason, Kind, PastExit, Pid, RestartInfo};

/// One child as reported by `which_children`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    pub id: Arc<str>,
    /// `None` while it is not running.
    pub pid: Option<Pid>,
    pub kind: Kind,
    pub restart: Restart,
    pub restarts: u32,
}

/// How many past exits a child's restart history keeps.
const HISTORY: usize = 16;

pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    pub(crate) pid: Option<Pid>,
    pub(crate) restarts: u32,
    pub(crate) history: VecDeque<PastExit>,
}

impl Child {
    pub(crate) fn new(spec: ChildSpec, pid: Option<Pid>) -> Child {
        Child {
            spec,
            pid,
            restarts: 0,
            history: VecDeque::new(),
        }
    }

    pub(crate) fn record_exit(&mut self, at: Duration, pid: Pid, reason: ExitReason) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(PastExit { at, pid, reason });
    }

    pub(crate) fn restart_info(&self) -> RestartInfo {
        RestartInfo {
            count: self.restarts,
            history: self.history.iter().cloned().collect::<Vec<_>>().into(),
        }
    }

    pub(crate) fn info(&self) -> ChildInfo {
        ChildInfo {
            id: self.spec.id.clone(),
            pid: self.pid,
            kind: self.spec.kind,
            restart: self.spec.restart,
            restarts: self.restarts,
        }
    }
}
