//! The faults a learner switches on and off, and chaos: each fault shows where the runtime's
//! read side says it shows (process count, a mailbox, a memory figure, the watchdog, the pool's
//! metrics), and switching it off leaves the process count and memory where they were. Chaos
//! kills only the kinds it was given, at roughly its rate, and its report agrees with the
//! event stream.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crashcourse_runtime::db::{Pool, PoolConfig};
use crashcourse_runtime::observe::{EventKind, ProcessRow};
use crashcourse_runtime::{
    ChaosPlan, ExitReason, FaultError, FaultKind, Faults, Handle, Kind, Pid, Runtime, SpawnOpts,
    Status,
};
use support::{runtime, wait_for, wait_until};

/// How far total process memory may stay above its baseline once a fault is off.
const MEMORY_MARGIN: usize = 256 << 10;

fn row(h: &Handle, label: &str) -> Option<ProcessRow> {
    h.process_table()
        .into_iter()
        .find(|r| r.display_name() == label)
}

/// The process count and total process memory before a fault.
fn baseline(rt: &Runtime) -> (usize, usize) {
    let m = rt.metrics();
    (m.process_count, m.total_memory)
}

/// Switches `kind` off and checks that the count and memory are back at `base`.
fn off_and_back(rt: &Runtime, faults: &Faults, kind: FaultKind, base: (usize, usize)) {
    let started = Instant::now();
    faults.switch_off(kind).unwrap();
    assert!(!faults.is_on(kind));
    let m = rt.metrics();
    assert_eq!(
        m.process_count, base.0,
        "{kind}: the process count is back at its baseline as soon as switch_off returns"
    );
    assert!(
        m.total_memory <= base.1 + MEMORY_MARGIN,
        "{kind}: memory is back near its baseline ({} > {} + margin)",
        m.total_memory,
        base.1
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{kind}: switching off is prompt"
    );
    // Idempotent.
    faults.switch_off(kind).unwrap();
}

#[test]
fn the_leak_adds_processes_under_its_supervisor_until_switched_off() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = baseline(&rt);
    faults.switch_on(FaultKind::Leak).unwrap();
    faults.switch_on(FaultKind::Leak).unwrap(); // idempotent
    assert!(faults.is_on(FaultKind::Leak));
    let sup = wait_for("the leak supervisor", || row(&rt, "leak")).pid;
    wait_until("hundreds of processes leaked", || {
        rt.process_count() >= base.0 + 500
    });
    let leaked = rt
        .process_table()
        .into_iter()
        .filter(|r| r.parent == Some(sup) && r.display_name() == "leaked")
        .count();
    assert!(
        leaked >= 400,
        "the leaked processes sit under the leak supervisor"
    );
    assert!(faults.status().leaked >= 400);
    assert!(faults.status().on.contains(&FaultKind::Leak));
    off_and_back(&rt, &faults, FaultKind::Leak, base);
    assert_eq!(faults.status().leaked, 0);
}

#[test]
fn the_mailbox_flood_fills_the_consumers_mailbox_until_switched_off() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = baseline(&rt);
    faults.switch_on(FaultKind::MailboxFlood).unwrap();
    wait_for("the flood producer", || row(&rt, "flood producer"));
    let consumer = wait_until_row(&rt, "flood consumer", |r| r.mailbox_len >= 20_000);
    assert!(
        consumer.memory >= 20_000 * 200,
        "the queued messages show in the consumer's memory"
    );
    assert!(faults.status().flood_queue >= 20_000);
    assert!(rt.metrics().total_memory >= base.1 + 4_000_000);
    off_and_back(&rt, &faults, FaultKind::MailboxFlood, base);
    assert_eq!(faults.status().flood_queue, 0);
}

#[test]
fn unmatched_messages_pile_up_in_the_mailbox_until_switched_off() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = baseline(&rt);
    faults.switch_on(FaultKind::UnmatchedMessages).unwrap();
    let unmatched = wait_until_row(&rt, "unmatched", |r| r.mailbox_len >= 500);
    let info = rt.process_info(unmatched.pid).unwrap();
    assert!(info.mailbox_len >= 500);
    assert!(
        info.mailbox_head.iter().all(|m| m.contains("Unwanted")),
        "the waiting messages are the ones it never matches: {:?}",
        info.mailbox_head
    );
    assert!(faults.status().unmatched_queue >= 500);
    off_and_back(&rt, &faults, FaultKind::UnmatchedMessages, base);
}

#[test]
fn the_hoarders_state_grows_until_switched_off() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = baseline(&rt);
    faults.switch_on(FaultKind::UnboundedState).unwrap();
    let hoarder = wait_until_row(&rt, "hoarder", |r| r.memory >= 8 << 20);
    assert_eq!(hoarder.kind, Kind::Server);
    assert!(faults.status().state_bytes >= 8 << 20);
    let state = rt
        .block_on(rt.fresh_state(hoarder.pid, Duration::from_secs(5)))
        .unwrap();
    assert!(state.contains("never freed"), "{state}");
    off_and_back(&rt, &faults, FaultKind::UnboundedState, base);
    assert_eq!(faults.status().state_bytes, 0);
}

#[test]
fn the_busy_loop_is_named_by_the_watchdog_and_stops_promptly() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = baseline(&rt);
    let mut events = rt.events();
    faults.switch_on(FaultKind::BusyLoop).unwrap();
    let busy = wait_for("the busy loop", || row(&rt, "busy loop")).pid;
    wait_until("the status names the busy loop", || {
        faults.status().busy_loop == Some(busy)
    });
    wait_until("the table marks the busy loop not yielding", || {
        rt.process_table()
            .iter()
            .any(|r| r.pid == busy && r.status == Status::NotYielding)
    });
    wait_until("a long poll event names the busy loop", || {
        rt.read_events(&mut events, 10_000)
            .iter()
            .any(|e| e.pid == busy && matches!(e.kind, EventKind::LongPoll { .. }))
    });
    off_and_back(&rt, &faults, FaultKind::BusyLoop, base);
    assert_eq!(faults.status().busy_loop, None);
}

#[test]
fn the_pool_faults_are_the_pools_switches() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = PoolConfig::new(dir.path().join("faults.db"));
    config.pool_size = 2;
    let rt = runtime();
    let pool = Pool::start(&rt, config).unwrap();
    wait_until("every connection is up", || pool.metrics().size == 2);
    let without = Faults::new(&rt);
    assert_eq!(
        without.switch_on(FaultKind::SlowQueries),
        Err(FaultError::NeedsPool(FaultKind::SlowQueries))
    );
    assert_eq!(
        without.switch_on(FaultKind::WriteLock),
        Err(FaultError::NeedsPool(FaultKind::WriteLock))
    );

    let faults = Faults::with_pool(&rt, pool.clone());
    let base = rt.process_count();
    faults.switch_on(FaultKind::SlowQueries).unwrap();
    assert!(pool.metrics().query_latency >= Duration::from_millis(100));
    let started = Instant::now();
    rt.block_on(pool.insert_message("room:lobby", "ada", "slow"))
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    faults.switch_off(FaultKind::SlowQueries).unwrap();
    assert_eq!(pool.metrics().query_latency, Duration::ZERO);

    faults.switch_on(FaultKind::WriteLock).unwrap();
    assert!(pool.metrics().write_lock_held);
    assert!(faults.status().on.contains(&FaultKind::WriteLock));
    faults.switch_off(FaultKind::WriteLock).unwrap();
    assert!(!pool.metrics().write_lock_held);
    rt.block_on(pool.insert_message("room:lobby", "ada", "fast again"))
        .unwrap();
    assert_eq!(rt.process_count(), base);
}

#[test]
fn all_off_stops_every_fault() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let base = rt.process_count();
    for kind in FaultKind::ALL.into_iter().filter(|k| !k.needs_pool()) {
        faults.switch_on(kind).unwrap();
    }
    wait_until("every fault runs", || {
        faults.status().on.len() == 5 && faults.status().busy_loop.is_some()
    });
    faults.all_off();
    assert!(faults.status().on.is_empty());
    assert_eq!(rt.process_count(), base);
}

#[test]
fn faults_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Faults>();
    shareable::<ChaosPlan>();
}

#[test]
fn fault_names_parse_back() {
    for kind in FaultKind::ALL {
        assert_eq!(FaultKind::parse(kind.name()), Some(kind));
    }
    assert_eq!(
        FaultKind::parse("Mailbox Flood"),
        Some(FaultKind::MailboxFlood)
    );
    assert_eq!(FaultKind::parse("meteor"), None);
}

/// Spawns `n` idle processes of `kind` and returns their pids.
fn idle(rt: &Runtime, kind: Kind, n: usize) -> Vec<Pid> {
    (0..n)
        .map(|i| {
            rt.spawn_with(
                SpawnOpts::new()
                    .kind(kind)
                    .label(format!("{} {i}", kind.name())),
                |ctx| async move { while !ctx.recv().await.is::<()>() {} },
            )
            .unwrap()
        })
        .collect()
}

#[test]
fn chaos_kills_only_the_chosen_kinds_at_its_rate_and_reports_what_the_events_show() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    faults.switch_on(FaultKind::Leak).unwrap();
    let leak_sup = wait_for("the leak supervisor", || row(&rt, "leak")).pid;
    let chosen: HashSet<Pid> = [Kind::Channel, Kind::Room, Kind::Worker]
        .into_iter()
        .flat_map(|k| idle(&rt, k, 60))
        .collect();
    let spared: HashSet<Pid> = [Kind::Socket, Kind::Http]
        .into_iter()
        .flat_map(|k| idle(&rt, k, 60))
        .collect();
    let mut events = rt.events();
    let plan = ChaosPlan {
        per_second: 100.0,
        duration: Duration::from_secs(1),
        kinds: vec![Kind::Channel, Kind::Room, Kind::Worker],
        seed: Some(7),
    };
    faults.start_chaos(plan.clone()).unwrap();
    assert_eq!(faults.start_chaos(plan), Err(FaultError::ChaosRunning));
    assert!(faults.chaos_report().unwrap().running);
    let report = faults
        .wait_chaos(Duration::from_secs(10))
        .expect("chaos ends after its duration");
    assert!(!report.running);
    assert!(
        report.elapsed >= Duration::from_millis(900) && report.elapsed < Duration::from_secs(3),
        "it ran for its duration: {:?}",
        report.elapsed
    );
    assert!(
        (90..=100).contains(&report.killed_total),
        "about 100 kills in 1 s at 100/s: {report:?}"
    );
    assert_eq!(report.missed, 0);
    assert_eq!(
        report.killed.iter().map(|(_, n)| n).sum::<u64>(),
        report.killed_total
    );
    assert!(report
        .killed
        .iter()
        .all(|(k, _)| [Kind::Channel, Kind::Room, Kind::Worker].contains(k)));
    assert_eq!(report.recent.len(), 20);

    // The event stream agrees: exactly that many processes were killed, all of them chosen
    // (the last victims may still be on their way out when chaos ends).
    let mut killed: Vec<Pid> = Vec::new();
    wait_until("every kill shows as an exit", || {
        killed.extend(
            rt.read_events(&mut events, 1_000_000)
                .into_iter()
                .filter(|e| {
                    matches!(
                        &e.kind,
                        EventKind::Exited {
                            reason: ExitReason::Killed
                        }
                    )
                })
                .map(|e| e.pid),
        );
        killed.len() as u64 >= report.killed_total
    });
    assert_eq!(killed.len() as u64, report.killed_total);
    assert!(killed.iter().all(|p| chosen.contains(p)));
    for kind in [Kind::Channel, Kind::Room, Kind::Worker] {
        let n = killed
            .iter()
            .filter(|p| rt.process_info(**p).is_some_and(|i| i.kind == kind))
            .count() as u64;
        let reported = report
            .killed
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n);
        assert_eq!(n, reported, "{kind:?}");
    }
    assert!(spared.iter().all(|p| rt.is_alive(*p)));
    assert!(
        rt.is_alive(leak_sup),
        "the faults' own processes are spared"
    );
    assert_eq!(faults.status().chaos, Some(report));
    faults.all_off();
}

#[test]
fn chaos_counts_ticks_without_a_victim_and_stops_on_request() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    faults
        .start_chaos(ChaosPlan {
            per_second: 50.0,
            duration: Duration::from_secs(60),
            kinds: vec![Kind::Room],
            seed: None,
        })
        .unwrap();
    wait_until("chaos misses a few ticks", || {
        faults.chaos_report().is_some_and(|r| r.missed >= 3)
    });
    assert!(faults.wait_chaos(Duration::from_millis(10)).is_none());
    let report = faults.stop_chaos().unwrap();
    assert!(!report.running);
    assert_eq!(report.killed_total, 0);
    // It can run again once stopped.
    faults
        .start_chaos(ChaosPlan {
            per_second: 10.0,
            duration: Duration::from_millis(100),
            kinds: vec![Kind::Room],
            seed: None,
        })
        .unwrap();
    assert!(faults.wait_chaos(Duration::from_secs(10)).is_some());
}

#[test]
fn bad_chaos_plans_are_rejected() {
    let rt = runtime();
    let faults = Faults::new(&rt);
    let plan = ChaosPlan {
        per_second: 10.0,
        duration: Duration::from_secs(1),
        kinds: vec![Kind::Channel],
        seed: None,
    };
    for bad in [
        ChaosPlan {
            kinds: vec![],
            ..plan.clone()
        },
        ChaosPlan {
            per_second: 0.0,
            ..plan.clone()
        },
        ChaosPlan {
            per_second: -5.0,
            ..plan.clone()
        },
        ChaosPlan {
            per_second: f64::NAN,
            ..plan.clone()
        },
        ChaosPlan {
            duration: Duration::ZERO,
            ..plan.clone()
        },
        ChaosPlan {
            duration: Duration::MAX,
            ..plan.clone()
        },
        ChaosPlan {
            per_second: 1e9,
            ..plan.clone()
        },
    ] {
        assert!(
            matches!(faults.start_chaos(bad.clone()), Err(FaultError::BadPlan(_))),
            "{bad:?}"
        );
    }
    assert!(faults.chaos_report().is_none());
    assert_eq!(
        ChaosPlan::parse_kinds("channel, room,socket,pool_connection").unwrap(),
        vec![
            Kind::Channel,
            Kind::Room,
            Kind::Socket,
            Kind::PoolConnection
        ]
    );
    assert_eq!(
        ChaosPlan::parse_kinds("dynamic_supervisor").unwrap(),
        vec![Kind::DynamicSupervisor]
    );
    assert!(matches!(
        ChaosPlan::parse_kinds("channel,dragon"),
        Err(FaultError::BadPlan(m)) if m.contains("dragon")
    ));
    assert!(ChaosPlan::parse_kinds(" , ").is_err());
}

/// Waits for the process labelled `label` to satisfy `cond`; returns its row then.
fn wait_until_row(rt: &Runtime, label: &str, cond: impl Fn(&ProcessRow) -> bool) -> ProcessRow {
    wait_for(label, || row(rt, label).filter(|r| cond(r)))
}
