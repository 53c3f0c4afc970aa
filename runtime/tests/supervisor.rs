//! Supervisors: strategies, restart types, intensity and escalation, start and stop order,
//! shutdown specs, and the dynamic supervisor.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec, StartChildError};
use crashcourse_runtime::observe::EventKind;
use crashcourse_runtime::supervisor::{
    self, ChildInfo, ChildSpec, Intensity, Restart, Shutdown, StartError, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{Ctx, ExitReason, Handle, Pid, SpawnOpts};
use support::{runtime, runtime_with_manual_clock, wait_for, wait_until};

const T: Duration = Duration::from_secs(5);

type Log = Arc<Mutex<Vec<String>>>;

/// Logs "stop <id>" when the process's body is dropped (it exits or is killed).
struct StopLog(Log, String);

impl Drop for StopLog {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(format!("stop {}", self.1));
    }
}

/// A worker that logs its start and stop, and exits normally when sent "exit".
fn worker(id: &str, log: &Log) -> ChildSpec {
    let log = log.clone();
    let name = id.to_string();
    ChildSpec::worker(id, move |ctx: Ctx| {
        let log = log.clone();
        let name = name.clone();
        async move {
            log.lock().unwrap().push(format!("start {name}"));
            let _guard = StopLog(log, name);
            while ctx.recv().await.downcast::<&str>().ok() != Some("exit") {}
        }
    })
}

/// Labels of the processes spawned since the reader's position, in spawn order.
fn spawned_labels(
    rt: &Handle,
    events: &mut crashcourse_runtime::observe::EventReader,
) -> Vec<String> {
    rt.read_events(events, 100_000)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Spawned { label, .. } => label.map(|l| l.to_string()),
            _ => None,
        })
        .collect()
}

fn children(rt: &Handle, sup: Pid) -> Vec<ChildInfo> {
    rt.block_on(supervisor::which_children(rt, sup, T)).unwrap()
}

fn pids(rt: &Handle, sup: Pid) -> Vec<Option<Pid>> {
    children(rt, sup).into_iter().map(|c| c.pid).collect()
}

/// Waits until every child listed has a pid different from before at the positions in `changed`
/// and the same pid elsewhere.
fn wait_restarted(
    rt: &Handle,
    sup: Pid,
    before: &[Option<Pid>],
    changed: &[usize],
) -> Vec<Option<Pid>> {
    wait_for("the restarts to settle", || {
        let now = pids(rt, sup);
        let ok = now.len() == before.len()
            && now.iter().zip(before).enumerate().all(|(i, (n, b))| {
                n.is_some() && if changed.contains(&i) { n != b } else { n == b }
            });
        ok.then_some(now)
    })
}

fn three(strategy: Strategy, log: &Log) -> SupervisorSpec {
    SupervisorSpec::new(strategy, Intensity::new(10, Duration::from_secs(5)))
        .child(worker("a", log))
        .child(worker("b", log))
        .child(worker("c", log))
}

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let rt = runtime();
    let log = Log::default();
    let sup = supervisor::start(&rt, SpawnOpts::new(), three(Strategy::OneForOne, &log)).unwrap();
    let before = pids(&rt, sup);
    rt.kill(before[1].unwrap()).unwrap();
    let after = wait_restarted(&rt, sup, &before, &[1]);
    assert_eq!(children(&rt, sup)[1].restarts, 1);
    let info = rt.process_info(after[1].unwrap()).unwrap();
    assert_eq!(info.restarts, 1);
    assert_eq!(info.last_exit, Some(ExitReason::Killed));
    assert_eq!(info.restart_history.len(), 1);
}

#[test]
fn one_for_all_restarts_every_child() {
    let rt = runtime();
    let log = Log::default();
    let sup = supervisor::start(&rt, SpawnOpts::new(), three(Strategy::OneForAll, &log)).unwrap();
    let before = pids(&rt, sup);
    wait_until("all three started", || log.lock().unwrap().len() == 3);
    log.lock().unwrap().clear();
    let mut events = rt.events();
    rt.kill(before[1].unwrap()).unwrap();
    wait_restarted(&rt, sup, &before, &[0, 1, 2]);
    wait_until("the log is complete", || log.lock().unwrap().len() == 6);
    // b died first; the others stop in reverse order, then all are spawned again in order.
    assert_eq!(log.lock().unwrap()[..3], ["stop b", "stop c", "stop a"]);
    assert_eq!(spawned_labels(&rt, &mut events), vec!["a", "b", "c"]);
}

#[test]
fn rest_for_one_restarts_the_failed_child_and_those_started_after_it() {
    let rt = runtime();
    let log = Log::default();
    let sup = supervisor::start(&rt, SpawnOpts::new(), three(Strategy::RestForOne, &log)).unwrap();
    let before = pids(&rt, sup);
    rt.kill(before[1].unwrap()).unwrap();
    wait_restarted(&rt, sup, &before, &[1, 2]);
}

#[test]
fn children_start_in_order_and_stop_in_reverse() {
    let rt = runtime();
    let log = Log::default();
    let mut events = rt.events();
    let sup = supervisor::start(
        &rt,
        SpawnOpts::new().label("sup"),
        three(Strategy::OneForOne, &log),
    )
    .unwrap();
    assert_eq!(spawned_labels(&rt, &mut events), vec!["sup", "a", "b", "c"]);
    wait_until("all started", || log.lock().unwrap().len() == 3);
    rt.exit(sup, ExitReason::Shutdown).unwrap();
    wait_until("the supervisor is gone", || !rt.is_alive(sup));
    assert_eq!(log.lock().unwrap()[3..], ["stop c", "stop b", "stop a"]);
    assert_eq!(
        rt.process_info(sup).unwrap().last_exit,
        Some(ExitReason::Shutdown)
    );
}

#[test]
fn restart_types_decide_who_comes_back() {
    let rt = runtime();
    let log = Log::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(10, Duration::from_secs(5)),
    )
    .child(worker("perm", &log).restart(Restart::Permanent))
    .child(worker("trans", &log).restart(Restart::Transient))
    .child(worker("temp", &log).restart(Restart::Temporary));
    let sup = supervisor::start(&rt, SpawnOpts::new(), spec).unwrap();
    let before = pids(&rt, sup);
    // Normal exits: permanent comes back, transient and temporary do not.
    for p in &before {
        rt.send(p.unwrap(), "exit").unwrap();
    }
    let now = wait_for("perm restarted, temp forgotten", || {
        let c = children(&rt, sup);
        (c.len() == 2 && c[0].pid.is_some() && c[0].pid != before[0] && c[1].pid.is_none())
            .then_some(c)
    });
    assert_eq!(now[1].id.as_ref(), "trans");
    // An abnormal exit brings a transient child back.
    rt.block_on(supervisor::restart_child(&rt, sup, "trans", T))
        .unwrap()
        .unwrap();
    let trans = wait_for("trans running", || children(&rt, sup)[1].pid);
    rt.kill(trans).unwrap();
    wait_for("trans restarted", || {
        children(&rt, sup)[1].pid.filter(|p| *p != trans)
    });
}

#[test]
fn over_its_intensity_a_supervisor_stops_its_children_and_escalates() {
    let (rt, clock) = runtime_with_manual_clock();
    let log = Log::default();
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(2, Duration::from_secs(5)),
    )
    .child(worker("a", &log))
    .child(worker("b", &log));
    let sup = supervisor::start(&rt, SpawnOpts::new(), spec).unwrap();
    let mut events = rt.events();
    // Restarts spread over time never exceed the intensity.
    for _ in 0..5 {
        let a = children(&rt, sup)[0].pid.unwrap();
        rt.kill(a).unwrap();
        wait_for("a restarted", || {
            children(&rt, sup)[0].pid.filter(|p| *p != a)
        });
        clock.advance(Duration::from_secs(3));
    }
    assert!(rt.is_alive(sup));
    // Three restarts within the period: the third goes over 2 and the supervisor gives up.
    clock.advance(Duration::from_secs(10));
    let b = children(&rt, sup)[1].pid.unwrap();
    for i in 0..3 {
        let a = children(&rt, sup)[0].pid.unwrap();
        rt.kill(a).unwrap();
        if i < 2 {
            wait_for("a restarted", || {
                children(&rt, sup)[0].pid.filter(|p| *p != a)
            });
        }
    }
    wait_until("the supervisor is gone", || !rt.is_alive(sup));
    assert!(!rt.is_alive(b), "its other child was stopped too");
    assert_eq!(
        rt.process_info(sup).unwrap().last_exit,
        Some(ExitReason::Shutdown)
    );
    let kinds: Vec<EventKind> = rt
        .read_events(&mut events, 100_000)
        .into_iter()
        .filter(|e| e.pid == sup)
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| matches!(
        k,
        EventKind::IntensityExceeded {
            restarts: 3,
            max_restarts: 2,
            ..
        }
    )));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::Escalated { .. })));
}

#[test]
fn a_failure_climbs_through_nested_supervisors() {
    let (rt, _clock) = runtime_with_manual_clock();
    let log = Log::default();
    let inner_log = log.clone();
    let top_spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(1, Duration::from_secs(5)),
    )
    .child(ChildSpec::supervisor("mid", move || {
        SupervisorSpec::new(
            Strategy::OneForOne,
            Intensity::new(1, Duration::from_secs(5)),
        )
        .child(worker("w", &inner_log))
    }));
    let top = supervisor::start(&rt, SpawnOpts::new(), top_spec).unwrap();
    let kill_worker_twice = |mid: Pid| {
        for i in 0..2 {
            let w = wait_for("the worker", || children(&rt, mid)[0].pid);
            rt.kill(w).unwrap();
            if i == 0 {
                wait_for("w restarted", || {
                    children(&rt, mid)[0].pid.filter(|p| *p != w)
                });
            }
        }
    };
    let mid = children(&rt, top)[0].pid.unwrap();
    kill_worker_twice(mid);
    // mid gave up; top restarts it once (within its own intensity of 1).
    let mid2 = wait_for("mid restarted", || {
        rt.block_on(supervisor::which_children(&rt, top, T))
            .ok()
            .and_then(|c| c[0].pid.filter(|p| *p != mid))
    });
    assert!(rt.is_alive(top));
    wait_until("mid2 started its worker", || {
        rt.block_on(supervisor::which_children(&rt, mid2, T))
            .is_ok_and(|c| c[0].pid.is_some())
    });
    kill_worker_twice(mid2);
    wait_until("top gives up too", || !rt.is_alive(top));
}

#[test]
fn shutdown_with_a_timeout_kills_a_child_that_does_not_stop() {
    let rt = runtime();
    let stubborn = ChildSpec::worker("stubborn", |ctx: Ctx| async move {
        ctx.trap_exit(true);
        // Ignores the shutdown it receives as a message.
        loop {
            if ctx.recv().await.is::<&str>() {
                break;
            }
        }
    })
    .shutdown(Shutdown::Timeout(Duration::from_millis(100)));
    let polite =
        ChildSpec::server("polite", || Polite).shutdown(Shutdown::Timeout(Duration::from_secs(5)));
    let brutal = worker("brutal", &Log::default()).shutdown(Shutdown::BrutalKill);
    let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::otp())
        .child(stubborn)
        .child(polite.kind(crashcourse_runtime::Kind::Server))
        .child(brutal);
    let sup = supervisor::start(&rt, SpawnOpts::new(), spec).unwrap();
    let c = pids(&rt, sup);
    wait_until("stubborn traps exits", || {
        rt.process_info(c[0].unwrap()).is_some_and(|i| i.trap_exit)
    });
    let started = std::time::Instant::now();
    rt.exit(sup, ExitReason::Shutdown).unwrap();
    wait_until("the supervisor is gone", || !rt.is_alive(sup));
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "it waited for the timeout"
    );
    let reason = |p: Option<Pid>| rt.process_info(p.unwrap()).unwrap().last_exit.unwrap();
    assert_eq!(reason(c[0]), ExitReason::Killed);
    assert_eq!(reason(c[1]), ExitReason::Shutdown);
    assert_eq!(reason(c[2]), ExitReason::Killed);
}

/// A server that traps exits, so it stops with `shutdown` when its supervisor asks.
struct Polite;

impl crashcourse_runtime::server::Server for Polite {
    type Call = ();
    type Reply = ();
    type Cast = ();
    fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.trap_exit(true);
        Ok(())
    }
    fn handle_call(
        &mut self,
        _: &Ctx,
        _: (),
        reply: crashcourse_runtime::server::ReplyTo<()>,
    ) -> crashcourse_runtime::server::Flow {
        reply.send(());
        crashcourse_runtime::server::Flow::Continue
    }
}

#[test]
fn a_child_that_fails_to_start_fails_the_start_and_stops_the_others() {
    let rt = runtime();
    let squatter = rt
        .spawn_with(SpawnOpts::new().name("taken"), |ctx| async move {
            ctx.recv().await;
        })
        .unwrap();
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::otp())
        .child(worker("a", &log))
        .child(worker("b", &log).name("taken"));
    let mut events = rt.events();
    let err = supervisor::start(&rt, SpawnOpts::new(), spec).unwrap_err();
    assert!(
        matches!(err, StartError::Child(ref id, _) if id.as_ref() == "b"),
        "{err}"
    );
    let spawned: Vec<Pid> = rt
        .read_events(&mut events, 100)
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Spawned { .. }))
        .map(|e| e.pid)
        .collect();
    assert_eq!(spawned.len(), 2, "the supervisor and a");
    wait_until("the supervisor and a are stopped", || {
        spawned.iter().all(|p| !rt.is_alive(*p))
    });
    assert!(rt.is_alive(squatter));
}

#[test]
fn a_dynamic_supervisor_caps_its_children_and_restarts_by_type() {
    let rt = runtime();
    let sup = dynamic_supervisor::start(
        &rt,
        SpawnOpts::new().label("sessions"),
        DynamicSpec::new(Intensity::new(10, Duration::from_secs(5))).max_children(3),
    )
    .unwrap();
    let log = Log::default();
    let start = |spec: ChildSpec| {
        rt.block_on(dynamic_supervisor::start_child(&rt, sup, spec, T))
            .unwrap()
    };
    let perm = start(worker("perm", &log)).unwrap();
    let temp = start(worker("temp", &log).restart(Restart::Temporary)).unwrap();
    let third = start(worker("third", &log)).unwrap();
    assert_eq!(
        start(worker("fourth", &log)),
        Err(StartChildError::MaxChildren(3))
    );
    let count = || {
        rt.block_on(dynamic_supervisor::count_children(&rt, sup, T))
            .unwrap()
    };
    assert_eq!(count(), 3);
    rt.kill(temp).unwrap();
    wait_until("temp is forgotten", || count() == 2);
    rt.kill(perm).unwrap();
    let restarted = wait_for("perm is restarted", || {
        let c = rt
            .block_on(dynamic_supervisor::which_children(&rt, sup, T))
            .unwrap();
        c.iter()
            .find(|c| c.id.as_ref() == "perm")
            .and_then(|c| c.pid)
            .filter(|p| *p != perm)
    });
    assert_eq!(rt.process_info(restarted).unwrap().restarts, 1);
    assert!(rt
        .block_on(dynamic_supervisor::terminate_child(&rt, sup, third, T))
        .unwrap());
    assert!(!rt.is_alive(third));
    assert_eq!(count(), 1);
    // Its use is published for the GUI.
    let row = rt
        .process_table()
        .into_iter()
        .find(|r| r.pid == sup)
        .unwrap();
    let usage = row.supervisor.unwrap();
    // One restart (perm); the temporary child was not restarted, so it does not count.
    assert_eq!(
        (usage.restarts_in_period, usage.max_restarts, usage.children),
        (1, 10, 1)
    );
}

#[test]
fn a_dynamic_supervisor_stops_thousands_of_children_when_it_is_shut_down() {
    let rt = runtime();
    let sup =
        dynamic_supervisor::start(&rt, SpawnOpts::new(), DynamicSpec::new(Intensity::elixir()))
            .unwrap();
    let log = Log::default();
    for i in 0..5_000 {
        let spec = worker(&format!("c{i}"), &log).restart(Restart::Temporary);
        rt.block_on(dynamic_supervisor::start_child(&rt, sup, spec, T))
            .unwrap()
            .unwrap();
    }
    assert_eq!(rt.process_count(), 5_001);
    rt.exit(sup, ExitReason::Shutdown).unwrap();
    wait_until("every child and the supervisor are gone", || {
        rt.process_count() == 0
    });
    assert_eq!(
        rt.process_info(sup).unwrap().last_exit,
        Some(ExitReason::Shutdown)
    );
}

/// A child that unlinks itself from its supervisor and registers `name` once it has.
fn loner(name: &'static str) -> ChildSpec {
    ChildSpec::worker(name, move |ctx| async move {
        if let Some(sup) = ctx.parent() {
            ctx.unlink(sup);
        }
        let _ = ctx.register(name);
        while ctx.recv().await.downcast::<&str>().ok() != Some("exit") {}
    })
    .shutdown(Shutdown::Infinity)
}

#[test]
fn terminating_children_waits_until_they_are_gone_linked_or_not_and_leaves_no_message() {
    let rt = runtime();
    let log = Log::default();
    let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::otp())
        .child(worker("linked", &log).shutdown(Shutdown::Infinity))
        .child(loner("unlinked"));
    let sup = supervisor::start(&rt, SpawnOpts::new(), spec).unwrap();
    let unlinked = wait_for("the loner unlinked itself", || rt.whereis("unlinked"));
    let linked = pids(&rt, sup)[0].unwrap();
    for (id, pid) in [("unlinked", unlinked), ("linked", linked)] {
        let done = rt.block_on(supervisor::terminate_child(&rt, sup, id, T));
        assert_eq!(done, Ok(Ok(())), "{id}");
        assert!(
            !rt.is_alive(pid),
            "{id} is gone when terminate_child returns"
        );
    }
    let info = rt.process_info(sup).unwrap();
    assert_eq!(
        info.mailbox_len, 0,
        "no exit or DOWN left behind: {:?}",
        info.mailbox_head
    );
    assert!(info.monitors.is_empty(), "{:?}", info.monitors);
}
