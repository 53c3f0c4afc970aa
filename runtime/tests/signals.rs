//! Exit signals and monitor `DOWN`s are recorded in the event stream with what the receiver
//! did with them: died, trapped, ignored, or (for a monitor) a `Down` message.

mod support;

use std::sync::mpsc;

use crashcourse_runtime::observe::{EventKind, EventReader, SignalOutcome};
use crashcourse_runtime::{Ctx, Exit, ExitReason, Handle, Pid};
use support::{runtime, wait_for, wait_until, DEADLINE};

/// A process that waits forever.
async fn idle(ctx: Ctx) {
    loop {
        ctx.recv().await;
    }
}

/// Reads events until one is a signal to `to` from `from`; returns its reason and outcome.
fn signal_to(
    rt: &Handle,
    reader: &mut EventReader,
    to: Pid,
    from: Pid,
) -> (ExitReason, SignalOutcome) {
    let mut seen = Vec::new();
    wait_for(&format!("a signal from {from} to {to}"), || {
        seen.extend(rt.read_events(reader, 1000));
        seen.iter().find_map(|e| match &e.kind {
            EventKind::Signal {
                from: f,
                reason,
                outcome,
            } if e.pid == to && *f == from => Some((reason.clone(), *outcome)),
            _ => None,
        })
    })
}

/// Spawns a process that links to `other` (trapping exits if asked) and says when it has.
fn linked_to(rt: &Handle, other: Pid, trap: bool) -> (Pid, mpsc::Receiver<Exit>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    let pid = rt
        .spawn(move |ctx| async move {
            ctx.trap_exit(trap);
            ctx.link(other);
            let _ = ready_tx.send(());
            loop {
                if let Ok(exit) = ctx.recv().await.downcast::<Exit>() {
                    if exit_tx.send(exit).is_err() {
                        break;
                    }
                }
            }
        })
        .expect("spawn");
    ready_rx.recv_timeout(DEADLINE).expect("linked in time");
    (pid, exit_rx)
}

#[test]
fn a_linked_process_that_does_not_trap_dies_of_the_signal() {
    let rt = runtime();
    let mut reader = rt.events();
    let a = rt.spawn(idle).expect("spawn");
    let (b, _) = linked_to(&rt, a, false);
    rt.kill(a).expect("a is alive");
    let (reason, outcome) = signal_to(&rt, &mut reader, a, Pid::OUTSIDE);
    assert_eq!((reason, outcome), (ExitReason::Kill, SignalOutcome::Died));
    let (reason, outcome) = signal_to(&rt, &mut reader, b, a);
    assert_eq!(reason, ExitReason::Killed);
    assert_eq!(outcome, SignalOutcome::Died);
    wait_until("b dies with a", || !rt.is_alive(b));
}

#[test]
fn a_trapping_process_gets_the_signal_as_a_message_and_lives() {
    let rt = runtime();
    let mut reader = rt.events();
    let a = rt.spawn(idle).expect("spawn");
    let (b, exits) = linked_to(&rt, a, true);
    rt.exit(a, ExitReason::Shutdown).expect("a is alive");
    let (reason, outcome) = signal_to(&rt, &mut reader, b, a);
    assert_eq!(reason, ExitReason::Shutdown);
    assert_eq!(outcome, SignalOutcome::Trapped);
    let exit = exits.recv_timeout(DEADLINE).expect("the Exit message");
    assert_eq!((exit.from, exit.reason), (a, ExitReason::Shutdown));
    assert!(rt.is_alive(b), "a trapping process lives on");
}

#[test]
fn a_normal_exit_signal_to_a_process_that_does_not_trap_is_ignored() {
    let rt = runtime();
    let mut reader = rt.events();
    let a = rt.spawn(idle).expect("spawn");
    let (done_tx, done_rx) = mpsc::channel();
    let sender = rt
        .spawn(move |ctx| async move {
            let _ = done_tx.send(ctx.exit(a, ExitReason::Normal));
        })
        .expect("spawn");
    assert!(done_rx.recv_timeout(DEADLINE).expect("sent"));
    let (reason, outcome) = signal_to(&rt, &mut reader, a, sender);
    assert_eq!(reason, ExitReason::Normal);
    assert_eq!(outcome, SignalOutcome::Ignored);
    assert!(
        rt.is_alive(a),
        "normal does not end a process that does not trap"
    );
}

#[test]
fn a_monitor_gets_a_down_recorded_as_such() {
    let rt = runtime();
    let mut reader = rt.events();
    let target = rt.spawn(idle).expect("spawn");
    let (ready_tx, ready_rx) = mpsc::channel();
    let watcher = rt
        .spawn(move |ctx| async move {
            ctx.monitor(target);
            let _ = ready_tx.send(());
            idle(ctx).await
        })
        .expect("spawn");
    ready_rx.recv_timeout(DEADLINE).expect("monitoring in time");
    rt.exit(target, ExitReason::Shutdown).expect("alive");
    let (reason, outcome) = signal_to(&rt, &mut reader, watcher, target);
    assert_eq!(reason, ExitReason::Shutdown);
    assert_eq!(outcome, SignalOutcome::Down);
    assert!(rt.is_alive(watcher), "a DOWN never ends the watcher");
}
