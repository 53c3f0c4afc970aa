//! The executor survives any panic: in a message's destructor, in a timer, in a process's
//! destructor. After each, the exit is reported and every worker thread still runs processes.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crashcourse_runtime::{Down, ExitReason, Handle, Pid};
use support::{runtime, wait_until, DEADLINE};

/// A value whose destructor panics.
#[derive(Debug)]
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[derive(Debug)]
struct Stop;

/// Starts one process per worker; each spins (bounded) until all have started, which only
/// happens if every worker thread is alive and polling. Returns the worker thread names seen.
fn every_worker_runs_processes(h: &Handle) {
    let workers = h.workers();
    let started = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(Mutex::new(HashSet::new()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..workers {
        let started = started.clone();
        let names = names.clone();
        let tx = tx.clone();
        h.spawn(move |_ctx| async move {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            while started.load(Ordering::SeqCst) < workers && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            let name = std::thread::current().name().unwrap_or("?").to_string();
            names.lock().unwrap().insert(name);
            let _ = tx.send(());
        })
        .expect("spawn");
    }
    for _ in 0..workers {
        rx.recv_timeout(DEADLINE).expect("a probe process finished");
    }
    let names = names.lock().unwrap();
    assert_eq!(
        names.len(),
        workers,
        "only these worker threads ran processes: {names:?}"
    );
}

/// Monitors `target` from a fresh process and hands the `Down` to the returned channel.
fn watch(h: &Handle, target: Pid) -> mpsc::Receiver<Down> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    h.spawn(move |ctx| async move {
        ctx.monitor(target);
        let _ = ready_tx.send(());
        let down = ctx.recv().await.downcast::<Down>().expect("a Down");
        let _ = tx.send(down);
    })
    .expect("spawn watcher");
    ready_rx.recv_timeout(DEADLINE).expect("watcher started");
    rx
}

#[test]
fn a_message_whose_drop_panics_left_in_a_mailbox_does_not_kill_a_worker() {
    let rt = runtime();
    for _ in 0..4 {
        let pid = rt
            .spawn(|ctx| async move {
                ctx.recv_match(|m| m.is::<Stop>()).await;
            })
            .unwrap();
        let down = watch(&rt, pid);
        rt.send(pid, PanicOnDrop).unwrap();
        rt.send(pid, Stop).unwrap();
        let down = down.recv_timeout(DEADLINE).expect("the exit is reported");
        assert_eq!(down.pid, pid);
        wait_until("the process left the table", || !rt.is_alive(pid));
        every_worker_runs_processes(&rt);
    }
}

#[test]
fn a_killed_process_with_a_panicking_message_queued_is_reported() {
    let rt = runtime();
    let pid = rt
        .spawn(|ctx| async move {
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    let down = watch(&rt, pid);
    rt.send(pid, PanicOnDrop).unwrap();
    rt.kill(pid).unwrap();
    let down = down.recv_timeout(DEADLINE).expect("the exit is reported");
    assert_eq!(down.reason, ExitReason::Killed);
    every_worker_runs_processes(&rt);
}

#[test]
fn a_timer_that_panics_when_cancelled_or_undelivered_does_not_kill_a_worker() {
    let rt = runtime();
    let pid = rt
        .spawn(|ctx| async move {
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    // Cancelled: its message is dropped with the timer task.
    let t = rt.send_after(pid, Duration::from_secs(60), PanicOnDrop);
    assert!(rt.cancel_timer(t));
    // Cancelled because its target exits first.
    rt.send_after(pid, Duration::from_secs(60), PanicOnDrop);
    let down = watch(&rt, pid);
    rt.send(pid, Stop).unwrap();
    down.recv_timeout(DEADLINE).expect("the exit is reported");
    wait_until("no timer is left", || rt.table_sizes().timers == 0);
    every_worker_runs_processes(&rt);
    // Fired at a process that is exiting: the undelivered message is dropped in the timer.
    for _ in 0..20 {
        let pid = rt
            .spawn(|ctx| async move {
                ctx.recv_match(|m| m.is::<Stop>()).await;
            })
            .unwrap();
        rt.send_after(pid, Duration::ZERO, PanicOnDrop);
        rt.send(pid, Stop).unwrap();
    }
    wait_until("no timer is left", || rt.table_sizes().timers == 0);
    every_worker_runs_processes(&rt);
}

#[test]
fn a_process_whose_future_panics_in_its_destructor_is_reported() {
    let rt = runtime();
    // Ends normally, then its future's destructor panics.
    let normal = rt
        .spawn(|ctx| async move {
            let _guard = PanicOnDrop;
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    let down = watch(&rt, normal);
    rt.send(normal, Stop).unwrap();
    let down = down.recv_timeout(DEADLINE).expect("the exit is reported");
    assert!(
        matches!(&down.reason, ExitReason::Panic(m) if m.contains("PanicOnDrop")),
        "{:?}",
        down.reason
    );
    // Killed while waiting.
    let killed = rt
        .spawn(|ctx| async move {
            let _guard = PanicOnDrop;
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    let down = watch(&rt, killed);
    rt.kill(killed).unwrap();
    down.recv_timeout(DEADLINE).expect("the exit is reported");
    every_worker_runs_processes(&rt);
}

#[test]
fn shutting_down_with_panicking_destructors_still_frees_everything() {
    let rt = runtime();
    for _ in 0..8 {
        rt.spawn(|ctx| async move {
            let _guard = PanicOnDrop;
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    }
    let pid = rt
        .spawn(|ctx| async move {
            ctx.recv_match(|m| m.is::<Stop>()).await;
        })
        .unwrap();
    rt.send(pid, PanicOnDrop).unwrap();
    rt.send_after(pid, Duration::from_secs(60), PanicOnDrop);
    rt.shutdown();
    assert_eq!(rt.process_count(), 0);
}

/// A poll asleep in a blocking call (here a thread sleep) is a hog although it uses no CPU: the
/// watchdog names it while it still sleeps, once it has seen the thread asleep at two looks in
/// a row.
#[test]
fn a_poll_asleep_in_a_blocking_call_is_named_while_it_sleeps() {
    let rt = runtime();
    let h = rt.handle();
    let (tx, rx) = mpsc::channel();
    let sleeper = h
        .spawn(move |ctx| async move {
            let _ = ctx.recv().await;
            std::thread::sleep(Duration::from_millis(400));
            let _ = tx.send(());
        })
        .unwrap();
    h.send(sleeper, ()).unwrap();
    wait_until("the sleeping poll is named while it runs", || {
        h.metrics()
            .recent_long_polls
            .iter()
            .any(|p| p.pid == sleeper && !p.finished)
    });
    assert!(
        rx.try_recv().is_err(),
        "named before its 400 ms sleep ended"
    );
    rx.recv_timeout(DEADLINE).expect("the sleeper finishes");
}
