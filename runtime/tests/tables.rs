//! Registry, pub/sub and timers — and that every table returns to its baseline (the leak test).

mod support;

use std::sync::mpsc;
use std::time::Duration;

use crashcourse_runtime::{ExitReason, Pid, RegisterError, SpawnOpts};
use support::{runtime, wait_until, DEADLINE};

#[test]
fn a_name_is_freed_when_its_process_exits() {
    let rt = runtime();
    let pid = rt
        .spawn_with(SpawnOpts::new().name("keeper"), |ctx| async move {
            ctx.recv().await;
        })
        .unwrap();
    assert_eq!(rt.whereis("keeper"), Some(pid));
    let other = rt
        .spawn(|ctx| async move {
            ctx.recv().await;
        })
        .unwrap();
    assert_eq!(
        rt.register("keeper", other),
        Err(RegisterError::Taken("keeper".into(), pid))
    );
    rt.register("other", other).unwrap();
    assert_eq!(
        rt.register("third", other),
        Err(RegisterError::AlreadyNamed(other, "other".into()))
    );
    rt.send(pid, ()).unwrap();
    wait_until("the name is gone", || rt.whereis("keeper").is_none());
    assert!(rt.unregister("other"));
    assert_eq!(rt.whereis("other"), None);
    rt.register("keeper", other).unwrap();
}

#[test]
fn broadcast_reaches_every_subscriber_and_exits_unsubscribe() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let subs: Vec<Pid> = (0..50)
        .map(|i: u32| {
            let tx = tx.clone();
            rt.spawn(move |ctx| async move {
                ctx.subscribe("room:lobby");
                tx.send(()).unwrap();
                let msg = ctx.recv().await.downcast::<&str>().unwrap();
                tx.send(()).unwrap();
                if i.is_multiple_of(2) {
                    // Half of them stay subscribed.
                    ctx.recv().await;
                }
                let _ = msg;
            })
            .unwrap()
        })
        .collect();
    for _ in 0..50 {
        rx.recv_timeout(DEADLINE).unwrap();
    }
    assert_eq!(rt.subscriber_count("room:lobby"), 50);
    assert_eq!(rt.broadcast("room:lobby", "hello"), 50);
    for _ in 0..50 {
        rx.recv_timeout(DEADLINE).unwrap();
    }
    wait_until("the odd ones exit and leave the topic", || {
        rt.subscriber_count("room:lobby") == 25
    });
    assert!(rt.unsubscribe(subs[0], "room:lobby"));
    assert_eq!(rt.subscriber_count("room:lobby"), 24);
}

#[test]
fn send_after_delivers_unless_cancelled() {
    let rt = runtime();
    let (tx, rx) = mpsc::channel();
    let pid = rt
        .spawn(move |ctx| async move {
            while let Ok(n) = ctx.recv().await.downcast::<u32>() {
                tx.send(n).unwrap();
            }
        })
        .unwrap();
    let cancelled = rt.send_after(pid, Duration::from_millis(30), 1u32);
    rt.send_after(pid, Duration::from_millis(60), 2u32);
    assert!(rt.cancel_timer(cancelled));
    assert!(!rt.cancel_timer(cancelled), "a timer cancels once");
    assert_eq!(rx.recv_timeout(DEADLINE).unwrap(), 2);
    wait_until("fired timers are forgotten", || {
        rt.table_sizes().timers == 0
    });
    assert!(rx.try_recv().is_err());
    rt.kill(pid).unwrap();
}

#[test]
fn spawning_and_ending_100_000_processes_leaves_every_table_at_its_baseline() {
    let rt = runtime();
    let hub = rt
        .spawn_with(
            SpawnOpts::new().name("hub").trap_exit(true),
            |ctx| async move {
                // Traps the exits of everything linked to it, and drains DOWNs and exits.
                while !ctx.recv().await.is::<&str>() {}
            },
        )
        .unwrap();
    wait_until("the hub runs", || {
        rt.process_info(hub).is_some_and(|i| i.trap_exit)
    });
    let baseline = rt.table_sizes();
    let (tx, rx) = mpsc::channel();
    const N: usize = 100_000;
    const BATCH: usize = 10_000;
    for batch in 0..N / BATCH {
        let tx = tx.clone();
        rt.spawn(move |ctx| async move {
            for i in 0..BATCH {
                let n = batch * BATCH + i;
                let opts = SpawnOpts::new().name(format!("p{n}")).link(hub);
                let pid = ctx
                    .spawn_with(opts, move |c| async move {
                        c.subscribe("leak:topic");
                        c.monitor(hub);
                        c.handle()
                            .send_after(c.pid(), Duration::from_secs(3600), ());
                        c.recv_match(|m| m.is::<&str>()).await;
                        if n.is_multiple_of(3) {
                            ExitReason::custom("failed on purpose")
                        } else {
                            ExitReason::Normal
                        }
                    })
                    .unwrap();
                ctx.monitor(pid);
                let _ = ctx.send(pid, "go");
                if i.is_multiple_of(512) {
                    futures_lite::future::yield_now().await;
                }
            }
            tx.send(()).unwrap();
        })
        .unwrap();
    }
    for _ in 0..N / BATCH {
        rx.recv_timeout(Duration::from_secs(60)).unwrap();
    }
    wait_until("every process has ended", || {
        rt.process_count() == baseline.processes
    });
    // Names, subscriptions and the timers aimed at them (cancelled with their target, as in
    // Erlang) are all gone.
    wait_until("the tables are back at their baseline", || {
        rt.table_sizes() == baseline
    });
    assert_eq!(rt.subscriber_count("leak:topic"), 0);
    let hub_info = rt.process_info(hub).unwrap();
    assert!(
        hub_info.links.is_empty(),
        "the hub keeps no link to the dead"
    );
    assert!(
        hub_info.monitored_by.is_empty(),
        "no monitor of the dead remains on the hub"
    );
    wait_until("the hub drained its exits", || {
        rt.process_info(hub).unwrap().mailbox_len == 0
    });
}
