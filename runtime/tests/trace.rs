//! Bounded traces: they stop at their count or their time and say which, record a ping-pong
//! pair's messages in order, and see nothing of processes they do not follow.

mod support;

use std::time::{Duration, Instant};

use crashcourse_runtime::{
    ExitReason, Pid, Runtime, TraceEnd, TraceError, TraceSpec, TraceWhat, TRACE_TEXT_MAX,
};
use support::{runtime, wait_for, DEADLINE};

/// A process that takes messages until told to stop.
fn sink(rt: &Runtime) -> Pid {
    rt.spawn(|ctx| async move {
        while ctx.recv().await.downcast_ref::<&'static str>() != Some(&"stop") {}
    })
    .unwrap()
}

#[derive(Debug, PartialEq)]
struct Ping(u32, Pid);

#[derive(Debug, PartialEq)]
struct Pong(u32);

#[derive(Debug)]
struct Go(Pid, u32);

/// A pair: the first, told `Go(peer, n)`, pings the second `n` times, waiting for each pong.
fn ping_pong(rt: &Runtime) -> (Pid, Pid) {
    let ponger = rt
        .spawn(|ctx| async move {
            while let Ok(Ping(i, from)) = ctx.recv().await.downcast::<Ping>() {
                let _ = ctx.send(from, Pong(i));
            }
        })
        .unwrap();
    let pinger = rt
        .spawn(|ctx| async move {
            let Ok(Go(peer, n)) = ctx.recv().await.downcast::<Go>() else {
                return;
            };
            for i in 0..n {
                let _ = ctx.send(peer, Ping(i, ctx.pid()));
                ctx.recv_match(|m| m.is::<Pong>()).await;
            }
            ctx.recv().await;
        })
        .unwrap();
    (pinger, ponger)
}

#[test]
fn a_trace_stops_at_its_count_and_says_so() {
    let rt = runtime();
    let p = sink(&rt);
    let trace = rt
        .trace(TraceSpec {
            pids: vec![p],
            max_events: 5,
            max_time: DEADLINE,
        })
        .unwrap();
    for i in 0..20u32 {
        rt.send(p, i).unwrap();
    }
    assert_eq!(trace.wait(DEADLINE), Some(TraceEnd::Count));
    let events = trace.events();
    assert_eq!(events.len(), 5);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.pid, p);
        assert_eq!(
            e.what,
            TraceWhat::Receive {
                from: None,
                text: i.to_string()
            }
        );
    }
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    // Switched off: more messages add nothing, and the process can be traced again.
    rt.send(p, 99u32).unwrap();
    assert_eq!(trace.events().len(), 5);
    let again = rt.trace(TraceSpec::of(vec![p])).unwrap();
    again.stop();
    assert_eq!(again.ended(), Some(TraceEnd::Stopped));
}

#[test]
fn a_trace_stops_at_its_time_and_says_so() {
    let rt = runtime();
    let p = sink(&rt);
    let started = Instant::now();
    let trace = rt
        .trace(TraceSpec {
            pids: vec![p],
            max_events: 1000,
            max_time: Duration::from_millis(200),
        })
        .unwrap();
    assert_eq!(trace.ended(), None);
    rt.send(p, "before").unwrap();
    assert_eq!(trace.wait(DEADLINE), Some(TraceEnd::Time));
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(trace.events().len(), 1);
    rt.send(p, "after").unwrap();
    assert_eq!(
        trace.events().len(),
        1,
        "nothing recorded past the time bound"
    );
    assert!(
        rt.trace(TraceSpec::of(vec![p])).is_ok(),
        "the pid is free again"
    );
}

#[test]
fn a_ping_pong_pair_s_messages_are_recorded_in_order() {
    let rt = runtime();
    let (pinger, ponger) = ping_pong(&rt);
    let trace = rt
        .trace(TraceSpec {
            pids: vec![pinger, ponger],
            max_events: 1000,
            max_time: DEADLINE,
        })
        .unwrap();
    assert_eq!(trace.pids(), &[pinger, ponger]);
    rt.send(pinger, Go(ponger, 5)).unwrap();
    // Go in, then per round: ping out, ping in, pong out, pong in.
    wait_for("21 events", || (trace.events().len() >= 21).then_some(()));
    trace.stop();
    let events = trace.events();
    assert!(matches!(
        &events[0].what,
        TraceWhat::Receive { from: None, text } if text.starts_with("Go(")
    ));
    for i in 0..5u32 {
        let round = &events[1 + 4 * i as usize..5 + 4 * i as usize];
        let ping = format!("{:?}", Ping(i, pinger));
        let pong = format!("{:?}", Pong(i));
        assert_eq!(
            round[0].what,
            TraceWhat::Send {
                from: Some(pinger),
                to: ponger,
                text: ping.clone()
            },
            "round {i}: {events:#?}"
        );
        assert_eq!(round[0].pid, pinger);
        assert_eq!(
            round[1].what,
            TraceWhat::Receive {
                from: Some(pinger),
                text: ping
            },
            "round {i}"
        );
        assert_eq!(round[1].pid, ponger);
        assert_eq!(
            round[2].what,
            TraceWhat::Send {
                from: Some(ponger),
                to: pinger,
                text: pong.clone()
            },
            "round {i}"
        );
        assert_eq!(
            round[3].what,
            TraceWhat::Receive {
                from: Some(ponger),
                text: pong
            },
            "round {i}"
        );
    }
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn untraced_processes_record_nothing() {
    let rt = runtime();
    let (pinger, ponger) = ping_pong(&rt);
    let (other_pinger, other_ponger) = ping_pong(&rt);
    let watched = sink(&rt);
    let trace = rt
        .trace(TraceSpec {
            pids: vec![watched],
            max_events: 1000,
            max_time: DEADLINE,
        })
        .unwrap();
    rt.send(pinger, Go(ponger, 50)).unwrap();
    rt.send(other_pinger, Go(other_ponger, 50)).unwrap();
    rt.send(watched, "seen").unwrap();
    wait_for("the pairs to finish", || {
        let done = |p: Pid| rt.process_info(p).is_some_and(|i| i.mailbox_len == 0);
        (rt.process_info(ponger)?.row?.messages_in >= 50
            && rt.process_info(other_ponger)?.row?.messages_in >= 50
            && done(pinger))
        .then_some(())
    });
    trace.stop();
    let events = trace.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].pid, watched);
}

#[test]
fn spawns_links_exits_are_traced_and_the_trace_ends_when_all_have_exited() {
    let rt = runtime();
    let parent = rt
        .spawn(|ctx| async move {
            ctx.recv().await;
            let child = ctx
                .spawn_link(|ctx| async move {
                    ctx.recv().await;
                })
                .unwrap();
            ctx.unlink(child);
            let _ = ctx.send(child, "bye");
            ExitReason::Custom("done".into())
        })
        .unwrap();
    let trace = rt.trace(TraceSpec::of(vec![parent])).unwrap();
    rt.send(parent, "go").unwrap();
    assert_eq!(trace.wait(DEADLINE), Some(TraceEnd::AllExited));
    let whats: Vec<TraceWhat> = trace.events().into_iter().map(|e| e.what).collect();
    let child = whats
        .iter()
        .find_map(|w| match w {
            TraceWhat::Spawn { child } => Some(*child),
            _ => None,
        })
        .expect("a spawn event");
    assert!(
        whats.contains(&TraceWhat::Link { other: child }),
        "{whats:#?}"
    );
    assert!(whats.contains(&TraceWhat::Unlink { other: child }));
    assert!(whats.contains(&TraceWhat::Send {
        from: Some(parent),
        to: child,
        text: "\"bye\"".into()
    }));
    assert_eq!(
        whats.last(),
        Some(&TraceWhat::Exit {
            reason: ExitReason::Custom("done".into())
        })
    );
}

#[test]
fn bad_trace_requests_are_refused_with_a_reason() {
    let rt = runtime();
    let p = sink(&rt);
    assert_eq!(
        rt.trace(TraceSpec::of(vec![])).err(),
        Some(TraceError::Empty)
    );
    let many: Vec<Pid> = (0..9).map(|_| sink(&rt)).collect();
    assert_eq!(
        rt.trace(TraceSpec::of(many)).err(),
        Some(TraceError::TooMany)
    );
    let gone = rt.spawn(|_| async {}).unwrap();
    wait_for("the short-lived process to be gone", || {
        rt.process_info(gone)?.row.is_none().then_some(())
    });
    assert_eq!(
        rt.trace(TraceSpec::of(vec![gone])).err(),
        Some(TraceError::NoProc(gone))
    );
    let first = rt.trace(TraceSpec::of(vec![p])).unwrap();
    assert_eq!(
        rt.trace(TraceSpec::of(vec![p])).err(),
        Some(TraceError::Busy(p))
    );
    first.stop();
    assert_eq!(first.wait(Duration::ZERO), Some(TraceEnd::Stopped));
}

#[test]
fn long_messages_are_cut_short() {
    let rt = runtime();
    let p = sink(&rt);
    let trace = rt.trace(TraceSpec::of(vec![p])).unwrap();
    rt.send(p, "x".repeat(500)).unwrap();
    let event = wait_for("the receive", || trace.events().into_iter().next());
    match event.what {
        TraceWhat::Receive { text, .. } => {
            assert_eq!(
                text.chars().count(),
                TRACE_TEXT_MAX + 1,
                "cut, with an ellipsis"
            );
            assert!(text.ends_with('…'));
        }
        other => panic!("unexpected {other:?}"),
    }
}
