//! The read side: process table rows, the event stream, metrics.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use crashcourse_runtime::observe::{EventKind, MetricsSampler};
use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
use crashcourse_runtime::{ExitReason, Kind, Runtime, RuntimeConfig, SpawnOpts, Status};
use support::{runtime, wait_for, wait_until, DEADLINE};

#[test]
fn the_process_table_shows_identity_parentage_and_counters() {
    let rt = runtime();
    let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir()).child(
        ChildSpec::worker("echo", |ctx| async move {
            while let Ok(s) = ctx.recv().await.downcast::<String>() {
                let _ = ctx.send(ctx.pid(), s.len() as u64);
                ctx.recv_match(|m| m.is::<u64>()).await;
            }
        })
        .label("echo worker")
        .name("echo"),
    );
    let sup = supervisor::start(&rt, SpawnOpts::new().label("top"), spec).unwrap();
    let echo = rt.whereis("echo").unwrap();
    for _ in 0..3 {
        rt.send(echo, "hello".to_string()).unwrap();
    }
    let row = wait_for("the echo's counters", || {
        rt.process_table()
            .into_iter()
            .find(|r| r.pid == echo)
            .filter(|r| r.messages_in == 6 && r.messages_out == 3)
    });
    assert_eq!(row.label.as_deref(), Some("echo worker"));
    assert_eq!(row.name.as_deref(), Some("echo"));
    assert_eq!(row.kind, Kind::Worker);
    assert_eq!(row.parent, Some(sup));
    assert_eq!(row.status, Status::Waiting);
    assert!(row.memory > 0);
    let sup_row = rt
        .process_table()
        .into_iter()
        .find(|r| r.pid == sup)
        .unwrap();
    assert_eq!(sup_row.kind, Kind::Supervisor);
    assert_eq!(sup_row.display_name(), "top");
    assert!(sup_row.trap_exit);
    let usage = sup_row.supervisor.unwrap();
    assert_eq!((usage.max_restarts, usage.children), (3, 1));
    let info = rt.process_info(sup).unwrap();
    assert_eq!(info.links, vec![echo]);
}

#[test]
fn the_event_stream_records_lifecycles_and_a_slow_reader_is_told_what_it_lost() {
    let rt = Runtime::start(RuntimeConfig {
        event_capacity: 100,
        ..RuntimeConfig::default()
    });
    let mut reader = rt.events();
    let pid = rt
        .spawn_with(SpawnOpts::new().label("short"), |_| async {
            ExitReason::custom("done")
        })
        .unwrap();
    wait_until("it ends", || !rt.is_alive(pid));
    let events = rt.read_events(&mut reader, 10);
    let kinds: Vec<&EventKind> = events
        .iter()
        .filter(|e| e.pid == pid)
        .map(|e| &e.kind)
        .collect();
    assert!(matches!(kinds[0], EventKind::Spawned { label: Some(l), .. } if &**l == "short"));
    assert!(
        matches!(kinds[1], EventKind::Exited { reason } if *reason == ExitReason::custom("done"))
    );
    assert_eq!(reader.dropped(), 0);
    // 500 more spawns and exits overflow the 100 kept: the reader skips ahead, counting.
    let recorded = rt.metrics().events_recorded;
    let (tx, rx) = mpsc::channel();
    for _ in 0..500 {
        let tx = tx.clone();
        rt.spawn(move |_| async move { tx.send(()).unwrap() })
            .unwrap();
    }
    for _ in 0..500 {
        rx.recv_timeout(DEADLINE).unwrap();
    }
    wait_until("every spawn and exit is recorded", || {
        rt.metrics().events_recorded == recorded + 1000
    });
    let got = rt.read_events(&mut reader, 10_000);
    assert_eq!(got.len(), 100);
    assert_eq!(reader.dropped(), 900);
    assert!(got.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[test]
fn metrics_count_messages_and_scheduler_busy_time() {
    let rt = runtime();
    let mut sampler = MetricsSampler::new();
    sampler.sample(rt.metrics());
    let (tx, rx) = mpsc::channel();
    let ponger = rt
        .spawn(|ctx| async move {
            while let Ok(from) = ctx.recv().await.downcast::<crashcourse_runtime::Pid>() {
                let _ = ctx.send(from, ());
            }
        })
        .unwrap();
    rt.spawn(move |ctx| async move {
        for _ in 0..10_000 {
            ctx.send(ponger, ctx.pid()).unwrap();
            ctx.recv().await;
        }
        // Some busy work inside one poll, so busy time shows.
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(30) {
            std::hint::spin_loop();
        }
        tx.send(()).unwrap();
    })
    .unwrap();
    rx.recv_timeout(DEADLINE).unwrap();
    let m = rt.metrics();
    assert!(m.messages_total >= 20_000, "{}", m.messages_total);
    assert_eq!(m.worker_busy_ns.len(), 2);
    let rates = sampler.sample(m);
    assert!(rates.messages_per_sec > 0.0);
    assert!(rates.busy_fraction.iter().sum::<f64>() > 0.0);
    // Counted by the watchdog while it runs, or by its worker once it returns.
    wait_until("the 30 ms poll was counted", || {
        rt.metrics().long_polls_total >= 1
    });
    wait_until("only the ponger is left", || {
        rt.metrics().process_count == 1
    });
    assert!(rt.metrics().total_memory > 0);
}
