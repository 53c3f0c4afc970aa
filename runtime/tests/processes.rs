//! Processes, messages, links, monitors, exit signals and panic isolation.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use crashcourse_runtime::{Down, Exit, ExitReason, Pid, SpawnOpts, Status};
use support::{runtime, wait_for, wait_until, DEADLINE};

/// A process that waits forever.
async fn idle(ctx: crashcourse_runtime::Ctx) {
    loop {
        ctx.recv().await;
    }
}

/// Panics with `msg`; typed so that a process body ending in it still has an exit type.
fn boom(msg: &str) -> ExitReason {
    panic!("{msg}")
}

#[test]
fn messages_arrive_in_order_and_selective_receive_leaves_the_rest() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let pid = rt
        .spawn(move |ctx| async move {
            // Wait for the u32 first, although strings arrive before it.
            let n = ctx
                .recv_match(|m| m.is::<u32>())
                .await
                .downcast::<u32>()
                .unwrap();
            tx.send(format!("num {n}")).unwrap();
            for _ in 0..2 {
                let s = ctx.recv().await.downcast::<&str>().unwrap();
                tx.send(s.to_string()).unwrap();
            }
        })
        .unwrap();
    rt.send(pid, "a").unwrap();
    rt.send(pid, "b").unwrap();
    rt.send(pid, 7u32).unwrap();
    let got: Vec<String> = (0..3).map(|_| rx.recv_timeout(DEADLINE).unwrap()).collect();
    assert_eq!(got, vec!["num 7", "a", "b"]);
}

#[test]
fn pids_are_never_reused_and_a_send_to_a_dead_pid_hands_the_message_back() {
    let rt = runtime();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let pid = rt.spawn(|_ctx| async {}).unwrap();
        assert!(seen.insert(pid), "{pid} was handed out twice");
    }
    let pid = rt.spawn(|_ctx| async {}).unwrap();
    wait_until("the process ends", || !rt.is_alive(pid));
    let err = rt.send(pid, 42u64).unwrap_err();
    assert_eq!(err.message, 42);
    assert_eq!(err.to, pid);
}

#[test]
fn recv_timeout_gives_up() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    rt.spawn(move |ctx| async move {
        let got = ctx.recv_timeout(Duration::from_millis(20)).await;
        tx.send(got.is_none()).unwrap();
    })
    .unwrap();
    assert!(rx.recv_timeout(DEADLINE).unwrap());
}

#[test]
fn an_abnormal_exit_kills_linked_processes_with_the_same_reason() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let watcher = rt
        .spawn(move |ctx| async move {
            let a = ctx.spawn(idle).unwrap();
            ctx.monitor(a);
            let b = ctx
                .spawn_with(SpawnOpts::new().link(a), |ctx| async move {
                    ctx.recv().await;
                    boom("b failed")
                })
                .unwrap();
            tx.send((a, b)).unwrap();
            let down = ctx.recv().await.downcast::<Down>().unwrap();
            tx.send((down.pid, Pid::from_id(0))).unwrap();
            down.reason
        })
        .unwrap();
    let (a, b) = rx.recv_timeout(DEADLINE).unwrap();
    rt.send(b, ()).unwrap();
    let (down_pid, _) = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(down_pid, a);
    let info = wait_for("the watcher's exit", || {
        rt.process_info(watcher)
            .filter(|i| i.status == Status::Exited)
    });
    assert_eq!(info.last_exit, Some(ExitReason::Panic("b failed".into())));
}

#[test]
fn a_normal_exit_does_not_kill_linked_processes() {
    let rt = runtime();
    let a = rt.spawn(idle).unwrap();
    let b = rt
        .spawn_with(SpawnOpts::new().link(a), |ctx| async move {
            ctx.recv().await;
        })
        .unwrap();
    rt.send(b, ()).unwrap();
    wait_until("b ends", || !rt.is_alive(b));
    assert!(rt.is_alive(a));
    assert!(
        rt.process_info(a).unwrap().links.is_empty(),
        "the link is gone with b"
    );
}

#[test]
fn trap_exit_turns_exit_signals_into_messages() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let trapper = rt
        .spawn(move |ctx| async move {
            ctx.trap_exit(true);
            let child = ctx
                .spawn_link(|ctx| async move {
                    ctx.recv().await;
                    ExitReason::custom("boom")
                })
                .unwrap();
            tx.send(child).unwrap();
            let exit = ctx.recv().await.downcast::<Exit>().unwrap();
            tx.send(exit.from).unwrap();
            assert_eq!(exit.reason, ExitReason::custom("boom"));
            // Still alive: wait for the next message.
            ctx.recv().await;
        })
        .unwrap();
    let child = rx.recv_timeout(DEADLINE).unwrap();
    rt.send(child, ()).unwrap();
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), child);
    assert!(rt.is_alive(trapper));
    // An exit signal from outside arrives as a message too.
    rt.exit(trapper, ExitReason::Shutdown).unwrap();
    wait_until("the trapper reads the exit message and ends", || {
        !rt.is_alive(trapper)
    });
}

#[test]
fn kill_cannot_be_trapped() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let watcher = rt
        .spawn(move |ctx| async move {
            let (pid, _) = ctx
                .spawn_monitor(|ctx| async move {
                    ctx.trap_exit(true);
                    idle(ctx).await
                })
                .unwrap();
            tx.send(pid).unwrap();
            let down = ctx.recv().await.downcast::<Down>().unwrap();
            tx.send(pid).unwrap();
            assert_eq!(down.reason, ExitReason::Killed);
        })
        .unwrap();
    let pid = rx.recv_timeout(DEADLINE).unwrap();
    wait_until("the child traps exits", || {
        rt.process_info(pid).is_some_and(|i| i.trap_exit)
    });
    rt.kill(pid).unwrap();
    rx.recv_timeout(DEADLINE).unwrap();
    wait_until("the watcher checked the reason and ended normally", || {
        !rt.is_alive(watcher)
    });
    assert_eq!(
        rt.process_info(watcher).unwrap().last_exit,
        Some(ExitReason::Normal)
    );
}

#[test]
fn exit_with_normal_is_ignored_by_a_process_that_does_not_trap() {
    let rt = runtime();
    let pid = rt.spawn(idle).unwrap();
    rt.exit(pid, ExitReason::Normal).unwrap();
    rt.exit(pid, ExitReason::Shutdown).unwrap();
    wait_until("shutdown ends it", || !rt.is_alive(pid));
    assert_eq!(
        rt.process_info(pid).unwrap().last_exit,
        Some(ExitReason::Shutdown)
    );
}

#[test]
fn monitors_deliver_down_with_the_reason_and_noproc_for_the_dead() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    rt.spawn(move |ctx| async move {
        let target = ctx.spawn(idle).unwrap();
        let mref = ctx.monitor(target);
        ctx.exit(target, ExitReason::custom("bye"));
        let down = ctx.recv().await.downcast::<Down>().unwrap();
        tx.send((down.monitor == mref, down.pid == target, down.reason))
            .unwrap();
        // Monitoring a dead process gives DOWN noproc at once.
        let m2 = ctx.monitor(target);
        let down = ctx.recv().await.downcast::<Down>().unwrap();
        tx.send((down.monitor == m2, down.pid == target, down.reason))
            .unwrap();
        // A removed monitor delivers nothing.
        let other = ctx.spawn(idle).unwrap();
        let m3 = ctx.monitor(other);
        assert!(ctx.demonitor(m3));
        ctx.exit(other, ExitReason::Kill);
        let nothing = ctx.recv_timeout(Duration::from_millis(50)).await;
        tx.send((nothing.is_none(), true, ExitReason::Normal))
            .unwrap();
    })
    .unwrap();
    assert_eq!(
        rx.recv_timeout(DEADLINE).unwrap(),
        (true, true, ExitReason::custom("bye"))
    );
    assert_eq!(
        rx.recv_timeout(DEADLINE).unwrap(),
        (true, true, ExitReason::NoProc)
    );
    assert!(
        rx.recv_timeout(DEADLINE).unwrap().0,
        "no DOWN after demonitor"
    );
}

#[test]
fn linking_to_a_dead_process_gives_noproc() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    rt.spawn(move |ctx| async move {
        ctx.trap_exit(true);
        let dead = ctx.spawn(|_| async {}).unwrap();
        while ctx.handle().is_alive(dead) {
            futures_lite::future::yield_now().await;
        }
        ctx.link(dead);
        let exit = ctx.recv().await.downcast::<Exit>().unwrap();
        tx.send(exit.reason).unwrap();
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), ExitReason::NoProc);
}

#[test]
fn a_panic_becomes_the_exit_reason_and_nothing_else_stops() {
    let rt = runtime();
    let bystanders: Vec<Pid> = (0..10).map(|_| rt.spawn(idle).unwrap()).collect();
    let victims: Vec<Pid> = (0..100)
        .map(|i| {
            rt.spawn(move |ctx| async move {
                ctx.recv().await;
                boom(&format!("victim {i} panicked"))
            })
            .unwrap()
        })
        .collect();
    for &v in &victims {
        rt.send(v, ()).unwrap();
    }
    wait_until("every victim is gone", || {
        victims.iter().all(|&v| !rt.is_alive(v))
    });
    assert_eq!(
        rt.process_info(victims[3]).unwrap().last_exit,
        Some(ExitReason::Panic("victim 3 panicked".into()))
    );
    assert!(bystanders.iter().all(|&b| rt.is_alive(b)));
    // Both worker threads still run processes.
    let (tx, rx) = mpsc::channel();
    for _ in 0..100 {
        let tx = tx.clone();
        rt.spawn(move |_| async move { tx.send(()).unwrap() })
            .unwrap();
    }
    for _ in 0..100 {
        rx.recv_timeout(DEADLINE).unwrap();
    }
}

#[test]
fn crash_makes_an_idle_process_panic_at_once() {
    let rt = runtime();
    let pid = rt.spawn(idle).unwrap();
    wait_until("it is idle", || {
        rt.process_info(pid)
            .is_some_and(|i| i.status == Status::Waiting)
    });
    rt.crash(pid).unwrap();
    wait_until("it is gone", || !rt.is_alive(pid));
    match rt.process_info(pid).unwrap().last_exit {
        Some(ExitReason::Panic(msg)) => assert!(msg.contains("crashed on request"), "{msg}"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert!(rt.crash(pid).is_err(), "crash of a dead pid is an error");
}

#[test]
fn an_idle_process_is_woken_for_an_exit_signal() {
    let rt = runtime();
    let pid = rt
        .spawn(|ctx| async move {
            // Waits on a timer, not its mailbox.
            let _ = ctx.recv_timeout(Duration::from_secs(3600)).await;
        })
        .unwrap();
    wait_until("it is idle", || {
        rt.process_info(pid)
            .is_some_and(|i| i.status == Status::Waiting)
    });
    rt.exit(pid, ExitReason::custom("stop now")).unwrap();
    wait_until("it is gone", || !rt.is_alive(pid));
    assert_eq!(
        rt.process_info(pid).unwrap().last_exit,
        Some(ExitReason::custom("stop now"))
    );
}

#[test]
fn the_watchdog_names_a_poll_that_does_not_yield_while_it_runs() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel::<()>();
    let hog = rt
        .spawn_with(SpawnOpts::new().label("hog"), move |ctx| async move {
            ctx.recv().await;
            // Blocks its worker thread without yielding until the test lets go.
            let _ = rx.recv_timeout(DEADLINE);
        })
        .unwrap();
    rt.send(hog, ()).unwrap();
    let seen = wait_for("the hog to be reported while running", || {
        let m = rt.metrics();
        m.recent_long_polls
            .iter()
            .find(|p| p.pid == hog && !p.finished)
            .cloned()
            .filter(|_| m.not_yielding.iter().any(|(p, _)| *p == hog))
    });
    assert_eq!(seen.name, "hog");
    let row = rt
        .process_table()
        .into_iter()
        .find(|r| r.pid == hog)
        .unwrap();
    assert_eq!(row.status, Status::NotYielding);
    tx.send(()).unwrap();
    wait_until("the finished poll is recorded", || {
        rt.metrics()
            .recent_long_polls
            .iter()
            .any(|p| p.pid == hog && p.finished)
    });
}

/// A process returns `kill` as its own reason: through a link that is an ordinary abnormal
/// exit signal (trappable, and it does not become `killed`), as in Erlang.
#[test]
fn a_kill_reason_arriving_through_a_link_is_trappable() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let trapper = rt
        .spawn_with(SpawnOpts::new().trap_exit(true), move |ctx| async move {
            let child = ctx
                .spawn_link(|ctx| async move {
                    ctx.recv().await;
                    ExitReason::Kill
                })
                .unwrap();
            // A plain (non-trapping) process linked to the child too.
            let me = ctx.pid();
            let plain = ctx
                .spawn(move |ctx| async move {
                    ctx.link(child);
                    ctx.send(me, "linked").unwrap();
                    idle(ctx).await;
                })
                .unwrap();
            let m = ctx.monitor(plain);
            ctx.recv_match(|m| m.is::<&str>()).await;
            ctx.send(child, ()).unwrap();
            let exit = ctx
                .recv_match(|m| m.is::<Exit>())
                .await
                .downcast::<Exit>()
                .unwrap();
            let down = ctx
                .recv_match(|m| m.is::<Down>())
                .await
                .downcast::<Down>()
                .unwrap();
            assert_eq!(down.monitor, m);
            tx.send((exit.reason, down.reason)).unwrap();
            idle(ctx).await;
        })
        .unwrap();
    let (exit, down) = rx
        .recv_timeout(DEADLINE)
        .expect("the exit arrived as a message");
    assert_eq!(exit, ExitReason::Kill);
    assert_eq!(
        down,
        ExitReason::Kill,
        "the plain linked process died with kill, not killed"
    );
    assert!(
        rt.is_alive(trapper),
        "a trapping process survives a kill through a link"
    );
}

/// `exit(self, normal)` ends the process (a normal signal from anyone else is ignored).
#[test]
fn a_normal_exit_signal_to_oneself_ends_the_process() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let pid = rt
        .spawn(move |ctx| async move {
            ctx.exit(ctx.pid(), ExitReason::Normal);
            ctx.recv().await;
            tx.send("still running").unwrap();
        })
        .unwrap();
    wait_until("it exited", || !rt.is_alive(pid));
    assert!(rx.try_recv().is_err());
    let info = rt.process_info(pid).expect("a tombstone");
    assert_eq!(info.last_exit, Some(ExitReason::Normal));
    // From the outside, normal is ignored.
    let other = rt.spawn(idle).unwrap();
    rt.exit(other, ExitReason::Normal).unwrap();
    let probe = rt.spawn(idle).unwrap();
    rt.kill(probe).unwrap();
    wait_until("the probe exited", || !rt.is_alive(probe));
    assert!(rt.is_alive(other));
}

/// A message refused by a process on its way out is not counted as sent.
#[test]
fn send_msg_counts_only_delivered_messages() {
    use crashcourse_runtime::Msg;
    /// Blocks in its destructor until told to go on, holding the process mid-exit.
    #[derive(Debug)]
    struct Slow(mpsc::Sender<()>, std::sync::Mutex<mpsc::Receiver<()>>);
    impl Drop for Slow {
        fn drop(&mut self) {
            let _ = self.0.send(());
            let _ = self.1.lock().unwrap().recv_timeout(DEADLINE);
        }
    }
    let rt = runtime();
    let (in_drop_tx, in_drop_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    let pid = rt
        .spawn(|ctx| async move {
            ctx.recv_match(|m| m.is::<&str>()).await;
        })
        .unwrap();
    rt.send(pid, Slow(in_drop_tx, std::sync::Mutex::new(go_rx)))
        .unwrap();
    rt.send(pid, "stop").unwrap();
    in_drop_rx
        .recv_timeout(DEADLINE)
        .expect("the process is exiting");
    let before = rt.metrics().messages_total;
    assert!(
        !rt.send_msg(pid, Msg::new(1u32)),
        "an exiting process takes no message"
    );
    assert_eq!(
        rt.metrics().messages_total,
        before,
        "a refused message was counted"
    );
    go_tx.send(()).unwrap();
    wait_until("it exited", || !rt.is_alive(pid) && rt.process_count() == 0);
}

#[test]
fn wait_exit_resolves_when_the_process_is_gone_inside_and_outside_processes() {
    let rt = runtime();
    let pid = rt.spawn(idle).unwrap();
    assert_eq!(rt.wait_exit_timeout(pid, Duration::from_millis(20)), None);
    // From inside a process.
    let (tx, rx) = mpsc::channel();
    let h = rt.handle();
    rt.spawn(move |_ctx| async move {
        let reason = h.wait_exit(pid).await;
        tx.send(reason).unwrap();
    })
    .unwrap();
    let outside = {
        let h = rt.handle();
        std::thread::spawn(move || h.wait_exit_timeout(pid, DEADLINE))
    };
    rt.exit(pid, ExitReason::custom("bye")).unwrap();
    assert_eq!(outside.join().unwrap(), Some(ExitReason::custom("bye")));
    assert_eq!(
        rx.recv_timeout(DEADLINE).unwrap(),
        ExitReason::custom("bye")
    );
    assert!(!rt.is_alive(pid));
    // Already gone: its reason at once; never existed: noproc.
    assert_eq!(
        rt.wait_exit_timeout(pid, Duration::ZERO),
        Some(ExitReason::custom("bye"))
    );
    assert_eq!(
        rt.wait_exit_timeout(Pid::from_id(999_999), Duration::ZERO),
        Some(ExitReason::NoProc)
    );
}

#[test]
fn wait_name_resolves_when_the_name_is_registered() {
    let rt = runtime();
    let h = rt.handle();
    let waiting = std::thread::spawn(move || h.block_on(h.wait_name("later")));
    let pid = rt.spawn(idle).unwrap();
    rt.register("later", pid).unwrap();
    assert_eq!(waiting.join().unwrap(), pid);
    // Already registered: at once.
    assert_eq!(rt.block_on(rt.wait_name("later")), pid);
    // From a process, for a name that a process it spawns takes.
    let (tx, rx) = mpsc::channel();
    rt.spawn(move |ctx| async move {
        let wait = ctx.handle().wait_name("child");
        let child = ctx
            .spawn_with(SpawnOpts::new().name("child"), idle)
            .unwrap();
        tx.send(wait.await == child).unwrap();
    })
    .unwrap();
    assert!(rx.recv_timeout(DEADLINE).unwrap());
}
