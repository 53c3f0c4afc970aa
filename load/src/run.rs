//! A run: its own executor threads (never a global one), the ramp that starts the virtual users,
//! the open model's schedule, and the deadline after which nothing is waited for.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smol::channel::{self, Sender};
use smol::{future, Executor, Timer};

use crate::plan::{Model, Plan, PlanError, Protocol};
use crate::shared::Shared;
use crate::stats::{Live, Stats};
use crate::summary::Summary;
use crate::{http_user, ws_user};

/// A run going on: live counts, an early stop, and the summary at the end.
pub struct Running {
    shared: Arc<Shared>,
    stop: Sender<()>,
    thread: Option<JoinHandle<Summary>>,
}

/// Checks `plan` and starts it on its own threads.
pub fn start(plan: Plan) -> Result<Running, PlanError> {
    plan.validate()?;
    let (stop_tx, stop_rx) = channel::bounded::<()>(1);
    let (jobs_tx, jobs_rx) = match plan.model {
        Model::Open { .. } => {
            let (tx, rx) = channel::unbounded();
            (Some(tx), Some(rx))
        }
        Model::Closed { .. } => (None, None),
    };
    let started = Instant::now();
    let shared = Arc::new(Shared {
        end: started + plan.duration,
        plan,
        stats: Stats::new(),
        started,
        stop: stop_rx,
        jobs: jobs_rx,
    });
    let sh = shared.clone();
    let thread = std::thread::Builder::new()
        .name("load-run".into())
        .spawn(move || coordinate(sh, jobs_tx))
        .map_err(|e| PlanError::Invalid(format!("could not start the run's thread: {e}")))?;
    Ok(Running {
        shared,
        stop: stop_tx,
        thread: Some(thread),
    })
}

impl Running {
    /// Counts so far.
    pub fn live(&self) -> Live {
        self.shared.stats.live(self.shared.started.elapsed())
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.shared.plan
    }

    /// Ends the sending now; replies in flight are still waited for, up to the drain.
    pub fn stop(&self) {
        self.stop.close();
    }

    /// True once the summary is ready.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the end (at most duration + drain + a short grace) and returns the summary.
    pub fn wait(mut self) -> Summary {
        let thread = self.thread.take().expect("only wait takes the thread");
        match thread.join() {
            Ok(summary) => summary,
            Err(_) => Summary::from_stats(&self.shared, self.shared.started.elapsed()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The run's own thread: starts the executor's workers, ramps the users up, waits for them
/// (never past the hard end), then stops the workers and sums up.
fn coordinate(sh: Arc<Shared>, jobs: Option<Sender<Instant>>) -> Summary {
    let ex: Arc<Executor<'static>> = Arc::new(Executor::new());
    let (quit_tx, quit_rx) = channel::bounded::<()>(1);
    let mut workers = Vec::new();
    for i in 0..sh.plan.workers {
        let (ex, quit) = (ex.clone(), quit_rx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("load-{i}"))
            .spawn(move || future::block_on(ex.run(quit.recv())));
        match spawned {
            Ok(t) => workers.push(t),
            Err(e) => sh
                .stats
                .error(&format!("could not start a worker thread: {e}")),
        }
    }
    if let (Some(tx), Model::Open { arrival_rate }) = (jobs, sh.plan.model) {
        // The schedule starts once the ramp has started every user.
        let ramp = Duration::from_secs_f64((sh.plan.clients - 1) as f64 / sh.plan.ramp);
        let first = (sh.started + ramp).min(sh.end);
        ex.spawn(schedule(sh.clone(), tx, first, arrival_rate))
            .detach();
    }
    let main = ex.spawn(ramp_up(sh.clone(), ex.clone()));
    let hard_end = sh.hard_end();
    future::block_on(future::or(main, async {
        Timer::at(hard_end).await;
    }));
    drop(quit_tx);
    for w in workers {
        let _ = w.join();
    }
    let stuck = sh.stats.users.load(Ordering::Relaxed);
    if stuck > 0 {
        sh.stats.error("user still busy at the hard end (dropped)");
    }
    drop(ex);
    Summary::from_stats(&sh, sh.started.elapsed())
}

/// Starts user `i` at `i / ramp` seconds, then waits for all of them.
async fn ramp_up(sh: Arc<Shared>, ex: Arc<Executor<'static>>) {
    let mut tasks = Vec::with_capacity(sh.plan.clients);
    for i in 0..sh.plan.clients {
        let at = sh.started + Duration::from_secs_f64(i as f64 / sh.plan.ramp);
        if at > Instant::now() {
            let stopped = future::or(
                async {
                    Timer::at(at.min(sh.end)).await;
                    false
                },
                async {
                    let _ = sh.stop.recv().await;
                    true
                },
            )
            .await;
            if stopped {
                break;
            }
        }
        if sh.sending_over() {
            break;
        }
        let sh = sh.clone();
        sh.stats.users.fetch_add(1, Ordering::Relaxed);
        tasks.push(ex.spawn(async move {
            match sh.plan.target.protocol {
                Protocol::WebSocket => ws_user::user(&sh, i).await,
                Protocol::Http => http_user::user(&sh, i).await,
            }
            sh.stats.users.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    for t in tasks {
        t.await;
    }
}

/// The open model: one job every `1 / rate` seconds from `first` until the end, whatever the
/// users are doing; a job waits in the queue until some user takes it.
async fn schedule(sh: Arc<Shared>, tx: Sender<Instant>, first: Instant, rate: f64) {
    let step = Duration::from_secs_f64(1.0 / rate);
    let mut k: u32 = 0;
    loop {
        let at = first + step * k;
        if at >= sh.end {
            break;
        }
        let stopped = future::or(
            async {
                Timer::at(at).await;
                false
            },
            async {
                let _ = sh.stop.recv().await;
                true
            },
        )
        .await;
        if stopped || tx.try_send(at).is_err() {
            break;
        }
        k = k.saturating_add(1);
    }
}
