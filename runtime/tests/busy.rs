//! Busy time per process: a process that works shows it, an idle one does not, and the window
//! forgets what slid out of it while the totals keep it.

mod support;

use std::time::{Duration, Instant};

use crashcourse_runtime::{Pid, Runtime, RuntimeConfig, BUSY_WINDOW};
use support::{runtime, wait_for, wait_until};

/// Spins (uses the CPU, never sleeps) for `ms` per message it gets.
fn spinner(rt: &Runtime) -> Pid {
    rt.spawn(|ctx| async move {
        while let Ok(ms) = ctx.recv().await.downcast::<u64>() {
            let until = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    })
    .unwrap()
}

fn idler(rt: &Runtime) -> Pid {
    rt.spawn(|ctx| async move {
        ctx.recv().await;
    })
    .unwrap()
}

fn row(rt: &Runtime, pid: Pid) -> crashcourse_runtime::observe::ProcessRow {
    rt.process_table()
        .into_iter()
        .find(|r| r.pid == pid)
        .expect("the process is alive")
}

#[test]
fn a_process_that_spins_50_ms_per_message_shows_that_busy_time_and_an_idle_one_none() {
    let rt = runtime();
    let busy = spinner(&rt);
    let idle = idler(&rt);
    for _ in 0..3 {
        rt.send(busy, 50u64).unwrap();
    }
    // Three messages: at least three 50 ms stretches in polls, all within the window.
    let r = wait_for("the spinner to have worked 150 ms", || {
        let r = row(&rt, busy);
        (r.busy_total >= Duration::from_millis(150)).then_some(r)
    });
    // The window may have rolled over since: the previous one then counts for the part of it
    // still inside the last 5 s, all but the few milliseconds since it ended.
    assert!(r.busy >= Duration::from_millis(145), "{r:?}");
    assert!(r.busy <= r.busy_total);
    assert!(r.polls >= 1 && r.polls_total >= r.polls, "{r:?}");
    assert!(r.busy_share() > 0.0 && r.busy_share() <= 1.0);
    let info = rt.process_info(busy).unwrap();
    assert!(info.busy >= Duration::from_millis(145), "{info:?}");
    assert_eq!(info.polls_total, info.row.as_ref().unwrap().polls_total);

    let i = row(&rt, idle);
    assert!(i.busy < Duration::from_millis(5), "the idle one: {i:?}");
    assert!(
        i.polls_total >= 1 && i.polls_total <= 3,
        "the idle one: {i:?}"
    );
    drop(rt);
}

#[test]
fn the_window_forgets_busy_time_once_it_has_slid_past_while_the_totals_keep_it() {
    let rt = runtime();
    let busy = spinner(&rt);
    rt.send(busy, 30u64).unwrap();
    let started = Instant::now();
    wait_until("the spinner to show its work", || {
        row(&rt, busy).busy >= Duration::from_millis(30)
    });
    // Within the window it stays; it fades over the next window and is gone after it (two
    // fixed windows: at most twice BUSY_WINDOW after the work).
    let deadline = started + 2 * BUSY_WINDOW + Duration::from_secs(5);
    while row(&rt, busy).busy != Duration::ZERO {
        assert!(
            Instant::now() < deadline,
            "the window never forgot the work"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        started.elapsed() >= BUSY_WINDOW - Duration::from_millis(100),
        "forgot after {:?}, before the window passed",
        started.elapsed()
    );
    let r = row(&rt, busy);
    assert_eq!(r.polls, 0);
    assert!(r.busy_total >= Duration::from_millis(30), "{r:?}");
    drop(rt);
}

#[test]
fn with_accounting_off_a_working_process_runs_and_shows_no_busy_time() {
    let rt = Runtime::start(RuntimeConfig::default().with_busy_accounting(false));
    let busy = spinner(&rt);
    rt.send(busy, 20u64).unwrap();
    // The workers' own figures still time every poll: the 20 ms spin shows there once its
    // poll has ended.
    wait_until("the spinner's poll to have ended", || {
        rt.metrics().worker_busy_ns.iter().sum::<u64>() >= 20_000_000
    });
    let r = row(&rt, busy);
    assert_eq!(
        (r.busy, r.polls, r.busy_total, r.polls_total),
        (Duration::ZERO, 0, Duration::ZERO, 0),
        "{r:?}"
    );
    drop(rt);
}

#[test]
fn a_process_with_slow_handlers_gives_its_worker_back_every_few_milliseconds() {
    let rt = runtime();
    let busy = spinner(&rt);
    // Forty 1 ms messages, queued at once: under the 128-message budget, so only the time
    // budget (2 ms, looked at every 4 messages) makes the receive yield between them.
    for _ in 0..40 {
        rt.send(busy, 1u64).unwrap();
    }
    let r = wait_for("the spinner to have worked 40 ms", || {
        let r = row(&rt, busy);
        (r.busy_total >= Duration::from_millis(40)).then_some(r)
    });
    // About one poll per 4 messages; one poll for all forty would mean no time budget.
    assert!(r.polls_total >= 8, "{r:?}");
}
