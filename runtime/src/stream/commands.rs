//! Carrying out an observer's requests on the node: kill, exit, crash, faults and console lines,
//! through the same calls the app makes (the console's command language stays in `console`).

use std::sync::Arc;

use parking_lot::Mutex;

use super::frames::{Command, Outcome};
use crate::{Console, ExitReason, FaultKind, Faults, Handle, Pid};

/// What requests act on. Commands block the calling thread (console queries wait for their
/// timeout, faults for processes to stop), so they run on a connection's own thread.
#[derive(Clone)]
pub(crate) struct Executor {
    handle: Handle,
    console: Console,
    faults: Arc<Mutex<Option<Faults>>>,
    pool: Option<crate::db::Pool>,
}

impl Executor {
    pub(crate) fn new(
        handle: &Handle,
        chat: Option<(Arc<crate::chat::ChatMetrics>, crate::db::Pool)>,
    ) -> Executor {
        let mut console = Console::new(handle);
        let mut pool = None;
        if let Some((metrics, p)) = chat {
            console = console.with_chat(metrics, p.clone());
            pool = Some(p);
        }
        Executor {
            handle: handle.clone(),
            console,
            faults: Arc::default(),
            pool,
        }
    }

    /// Carries out one command.
    pub(crate) fn run(&self, command: &Command) -> Outcome {
        let no_proc = |pid: u64| Outcome::Failed(format!("no process {}", Pid::from_id(pid)));
        match command {
            Command::Kill { pid } => match self.handle.kill(Pid::from_id(*pid)) {
                Ok(()) => Outcome::Done,
                Err(_) => no_proc(*pid),
            },
            Command::Crash { pid } => match self.handle.crash(Pid::from_id(*pid)) {
                Ok(()) => Outcome::Done,
                Err(_) => no_proc(*pid),
            },
            Command::Exit { pid, reason } => {
                let reason = match reason.trim() {
                    "" => return Outcome::Failed("an exit needs a reason".into()),
                    "normal" => ExitReason::Normal,
                    "shutdown" => ExitReason::Shutdown,
                    "kill" => ExitReason::Kill,
                    other => ExitReason::custom(other),
                };
                match self.handle.exit(Pid::from_id(*pid), reason) {
                    Ok(()) => Outcome::Done,
                    Err(_) => no_proc(*pid),
                }
            }
            Command::Fault { fault, on } => {
                let Some(kind) = FaultKind::parse(fault) else {
                    let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                    return Outcome::Failed(format!(
                        "no fault `{fault}`; the faults are {}",
                        names.join(", ")
                    ));
                };
                let faults = {
                    let mut slot = self.faults.lock();
                    slot.get_or_insert_with(|| match &self.pool {
                        Some(pool) => Faults::with_pool(&self.handle, pool.clone()),
                        None => Faults::new(&self.handle),
                    })
                    .clone()
                };
                let result = if *on {
                    faults.switch_on(kind)
                } else {
                    faults.switch_off(kind)
                };
                match result {
                    Ok(()) => Outcome::Done,
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Command::Console { line } => {
                let answer = self.console.run(line);
                Outcome::Console {
                    lines: answer.lines,
                    iex: answer.iex,
                    error: answer.error,
                }
            }
        }
    }
}
