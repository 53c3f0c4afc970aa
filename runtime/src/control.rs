//! The command side: kill, exit and crash from outside any process, so the GUI and lessons can
//! inject failures. The chat server never reaches it; the observer stream does, only on
//! loopback and behind its token (`stream/server.rs`).

use crate::observe::events::EventKind;
use crate::{ExitReason, Handle, Pid};

/// The target of a control action does not exist (any more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no process {0}")]
pub struct NoProc(pub Pid);

impl Handle {
    /// Kills `pid` with the untrappable `kill` signal; it exits with reason `killed`.
    pub fn kill(&self, pid: Pid) -> Result<(), NoProc> {
        self.exit(pid, ExitReason::Kill)
    }

    /// Sends `pid` an exit signal with `reason`, as if from a process outside the runtime.
    /// A process that traps exits receives it as a message (except `kill`); otherwise any
    /// reason but `normal` ends it. Supervisors treat it like an exit from their parent.
    pub fn exit(&self, pid: Pid, reason: ExitReason) -> Result<(), NoProc> {
        if self.exit_from(Pid::OUTSIDE, pid, reason) {
            Ok(())
        } else {
            Err(NoProc(pid))
        }
    }

    /// Makes `pid` panic at its next poll, idle or not (the panic becomes its exit reason).
    pub fn crash(&self, pid: Pid) -> Result<(), NoProc> {
        match self.0.table.get(pid) {
            Some(p) if p.crash() => Ok(()),
            _ => Err(NoProc(pid)),
        }
    }

    pub(crate) fn exit_from(&self, from: Pid, pid: Pid, reason: ExitReason) -> bool {
        match self.0.table.get(pid) {
            Some(p) => {
                if let Some(outcome) = p.signal_exit(from, reason.clone(), false) {
                    self.0.events.push(
                        pid,
                        EventKind::Signal {
                            from,
                            reason,
                            outcome,
                        },
                    );
                }
                true
            }
            None => false,
        }
    }
}
