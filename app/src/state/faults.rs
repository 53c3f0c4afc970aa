//! Faults and chaos as the app drives them: the runtime's fault switches (with the chat
//! server's pool while it runs), a thread that does the switching that has to wait (stopping a
//! fault's processes), what the panels show of them, and chaos kills marked in the timeline.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::{ChaosPlan, ChaosReport, FaultKind, FaultStatus, Faults, Handle, Pid};

use super::chat::ChatServer;
use super::components::{FrameClock, Notice};
use super::history::{Histories, Series};
use super::ingest::Observations;
use super::link::RuntimeLink;
use super::timeline::{Notable, Timeline};

/// How many chaos victims are remembered for marking their exits in the timeline.
const CHAOS_VICTIMS: usize = 4_096;

/// How many of the newest timeline entries are looked at for chaos victims each frame.
const TIMELINE_SCAN: usize = 200;

/// The app's fault switches: the runtime's, and the chat server's pool's while it runs.
#[derive(Resource, Clone)]
pub struct FaultsLink(pub Faults);

/// What a finished job on the faults thread says.
struct Done {
    /// The switch it made (`None`: not a switch).
    switched: Option<FaultKind>,
    error: Option<String>,
}

type Job = Box<dyn FnOnce() -> Done + Send>;

/// The thread that runs fault switches, which wait until a fault's processes are gone.
#[derive(Resource)]
pub struct FaultsWorker {
    jobs: Option<Sender<Job>>,
    done: Mutex<Receiver<Done>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultsWorker {
    pub fn start() -> FaultsWorker {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("crashcourse faults".into())
            .spawn(move || {
                for job in inbox {
                    if done_tx.send(job()).is_err() {
                        break;
                    }
                }
            })
            .ok();
        FaultsWorker {
            jobs: Some(jobs),
            done: Mutex::new(done),
            thread,
        }
    }

    fn run(&self, job: Job) -> Result<(), String> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| "the faults thread has stopped".to_string())
    }

    /// Switches every fault and chaos off, waiting at most `limit`; then the thread ends.
    pub fn shutdown(&mut self, faults: &Faults, limit: Duration) -> bool {
        let (tx, rx) = mpsc::channel();
        let faults = faults.clone();
        let sent = self.run(Box::new(move || {
            faults.all_off();
            let _ = tx.send(());
            Done {
                switched: None,
                error: None,
            }
        }));
        let in_time = sent.is_ok() && rx.recv_timeout(limit).is_ok();
        self.jobs = None;
        if in_time {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        in_time
    }
}

/// What the panels show of faults and chaos, read from the runtime once a frame.
#[derive(Resource, Default)]
pub struct FaultsView {
    /// What is on and the figures that show it.
    pub status: Option<FaultStatus>,
    /// Switches handed to the faults thread and not done yet: the kind and on/off.
    pub pending: Vec<(FaultKind, bool)>,
    /// Chaos kills per second over the last second or so (0 when it does not run).
    pub kills_per_s: f64,
    /// The dashboard's line of chaos kills per second.
    pub kills_history: Series,
    /// The kill count at the last rate reading.
    kill_counts: Option<(Instant, u64)>,
    /// Recent chaos victims, for the timeline.
    victims: Victims,
    /// The chat server start the switches are linked to (its pool).
    linked_start: u32,
}

impl FaultsView {
    /// The running chaos's report so far, or the last one's.
    pub fn chaos(&self) -> Option<&ChaosReport> {
        self.status.as_ref().and_then(|s| s.chaos.as_ref())
    }

    /// True while chaos runs.
    pub fn chaos_running(&self) -> bool {
        self.chaos().is_some_and(|c| c.running)
    }

    /// Whether `kind` is on (as last read).
    pub fn is_on(&self, kind: FaultKind) -> bool {
        self.status.as_ref().is_some_and(|s| s.on.contains(&kind))
    }

    /// Whether `kind` is being switched.
    pub fn is_pending(&self, kind: FaultKind) -> bool {
        self.pending.iter().any(|(k, _)| *k == kind)
    }

    /// True while anything of ours runs: a fault, chaos or a pending switch.
    pub fn anything_on(&self) -> bool {
        self.chaos_running()
            || !self.pending.is_empty()
            || self.status.as_ref().is_some_and(|s| !s.on.is_empty())
    }
}

/// A bounded set of pids, oldest forgotten first.
#[derive(Default)]
struct Victims {
    set: HashSet<Pid>,
    order: VecDeque<Pid>,
}

impl Victims {
    fn insert(&mut self, pid: Pid) {
        if self.set.insert(pid) {
            self.order.push_back(pid);
            if self.order.len() > CHAOS_VICTIMS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

/// The faults resources for the runtime behind `handle` (the pool is linked once the chat
/// server runs).
pub fn insert_resources(world: &mut World, handle: &Handle) {
    world.insert_resource(FaultsLink(Faults::new(handle)));
    world.insert_resource(FaultsWorker::start());
}

/// Switches `kind` on or off on the faults thread; the view shows it pending until done.
pub fn switch(world: &mut World, kind: FaultKind, on: bool) -> Result<(), String> {
    let faults = world.resource::<FaultsLink>().0.clone();
    let job: Job = Box::new(move || {
        let result = if on {
            faults.switch_on(kind)
        } else {
            faults.switch_off(kind)
        };
        Done {
            switched: Some(kind),
            error: result.err().map(|e| {
                let verb = if on { "on" } else { "off" };
                format!("could not switch {} {verb}: {e}", title(kind))
            }),
        }
    });
    world.resource::<FaultsWorker>().run(job)?;
    let mut view = world.resource_mut::<FaultsView>();
    view.pending.retain(|(k, _)| *k != kind);
    view.pending.push((kind, on));
    Ok(())
}

/// Switches every fault and chaos off, on the faults thread.
pub fn all_off(world: &mut World) -> Result<(), String> {
    let faults = world.resource::<FaultsLink>().0.clone();
    world.resource::<FaultsWorker>().run(Box::new(move || {
        faults.all_off();
        Done {
            switched: None,
            error: None,
        }
    }))
}

/// Starts chaos (it runs as a process of its own: nothing here waits).
pub fn start_chaos(world: &mut World, plan: ChaosPlan) -> Result<(), String> {
    let faults = world.resource::<FaultsLink>().0.clone();
    faults
        .start_chaos(plan)
        .map_err(|e| format!("chaos did not start: {e}"))?;
    let mut view = world.resource_mut::<FaultsView>();
    view.status = Some(faults.status());
    view.kill_counts = None;
    Ok(())
}

/// Stops chaos on the faults thread (it waits until the chaos process is gone).
pub fn stop_chaos(world: &mut World) -> Result<(), String> {
    let faults = world.resource::<FaultsLink>().0.clone();
    world.resource::<FaultsWorker>().run(Box::new(move || {
        faults.stop_chaos();
        Done {
            switched: None,
            error: None,
        }
    }))
}

/// The name a fault goes by in the app.
pub fn title(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Leak => "Process leak",
        FaultKind::MailboxFlood => "Mailbox flood",
        FaultKind::UnmatchedMessages => "Unmatched messages",
        FaultKind::UnboundedState => "Unbounded state",
        FaultKind::BusyLoop => "Busy loop",
        FaultKind::SlowQueries => "Slow queries",
        FaultKind::WriteLock => "Write lock held",
    }
}

/// What a fault does, in one line.
pub fn explanation(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Leak => {
            "Starts processes every second that nobody ever stops (under a supervisor \"leak\")."
        }
        FaultKind::MailboxFlood => {
            "\"flood producer\" sends faster than \"flood consumer\" reads: its mailbox grows."
        }
        FaultKind::UnmatchedMessages => {
            "\"unmatched\" is sent messages its receive never matches: they pile up forever."
        }
        FaultKind::UnboundedState => "The server \"hoarder\" keeps everything it is sent.",
        FaultKind::BusyLoop => {
            "\"busy loop\" keeps a scheduler thread and rarely yields: the watchdog names it."
        }
        FaultKind::SlowQueries => "Every database query takes 200 ms more: the pool queues.",
        FaultKind::WriteLock => {
            "SQLite's write lock is held from outside: inserts wait, then fail."
        }
    }
}

/// The live figure that shows `kind`, from `status`.
pub fn figure(kind: FaultKind, status: &FaultStatus) -> String {
    match kind {
        FaultKind::Leak => format!("{} leaked processes", status.leaked),
        FaultKind::MailboxFlood => format!("{} messages waiting", status.flood_queue),
        FaultKind::UnmatchedMessages => format!("{} never matched", status.unmatched_queue),
        FaultKind::UnboundedState => {
            format!("state {}", crate::format::format_bytes(status.state_bytes))
        }
        FaultKind::BusyLoop => match status.busy_loop {
            Some(pid) => format!("spinning in {pid}"),
            None => "not running".to_string(),
        },
        FaultKind::SlowQueries | FaultKind::WriteLock => {
            "see the Pool and Queue time charts".to_string()
        }
    }
}

/// Links the switches to the chat server's pool each time it (re)starts. Faults that were on
/// are switched off on the old switches and on again on the new ones, on the faults thread; a
/// chaos run ends there.
pub fn link_faults_to_pool(world: &mut World) {
    let server = world.resource::<ChatServer>();
    let starts = server.starts;
    if starts == world.resource::<FaultsView>().linked_start {
        return;
    }
    let Some(pool) = server.endpoint.as_ref().map(|e| e.pool().clone()) else {
        return;
    };
    let handle = world.resource::<RuntimeLink>().handle.clone();
    let new = Faults::with_pool(&handle, pool);
    let old = std::mem::replace(&mut world.resource_mut::<FaultsLink>().0, new.clone());
    world.resource_mut::<FaultsView>().linked_start = starts;
    let on = old.status().on;
    let chaos = old.chaos_report().is_some_and(|c| c.running);
    if on.is_empty() && !chaos {
        return;
    }
    let job: Job = Box::new(move || {
        old.all_off();
        let failed: Vec<String> = on
            .into_iter()
            .filter_map(|kind| new.switch_on(kind).err().map(|e| e.to_string()))
            .collect();
        let mut error = (!failed.is_empty()).then(|| failed.join("; "));
        if chaos {
            error = Some(format!(
                "the chat server started again, so chaos was stopped{}",
                error.map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
        Done {
            switched: None,
            error,
        }
    });
    if let Err(e) = world.resource::<FaultsWorker>().run(job) {
        world.resource_mut::<Notice>().0 = Some((e, Instant::now()));
    }
}

/// Takes what the faults thread finished, then reads the faults' status and chaos's report
/// (atomic loads and two short locks) and works out the kill rate.
pub fn read_faults(
    link: Res<FaultsLink>,
    worker: Res<FaultsWorker>,
    clock: Res<FrameClock>,
    mut view: ResMut<FaultsView>,
    mut notice: ResMut<Notice>,
) {
    let finished: Vec<Done> = worker
        .done
        .lock()
        .map(|rx| rx.try_iter().collect())
        .unwrap_or_default();
    for done in finished {
        if let Some(kind) = done.switched {
            view.pending.retain(|(k, _)| *k != kind);
        }
        if let Some(error) = done.error {
            notice.0 = Some((error, clock.now));
        }
    }
    let status = link.0.status();
    let chaos = status.chaos.clone();
    view.status = Some(status);
    let Some(report) = chaos else {
        return;
    };
    if report.running {
        match view.kill_counts {
            Some((at, total)) => {
                let dt = clock.now.saturating_duration_since(at).as_secs_f64();
                if dt >= 1.0 {
                    view.kills_per_s = report.killed_total.saturating_sub(total) as f64 / dt;
                    view.kill_counts = Some((clock.now, report.killed_total));
                }
            }
            None => {
                // Until a whole second has passed, the average since chaos started.
                let secs = report.elapsed.as_secs_f64();
                if secs > 0.0 {
                    view.kills_per_s = report.killed_total as f64 / secs;
                }
                view.kill_counts = Some((clock.now, report.killed_total));
            }
        }
    } else {
        view.kills_per_s = 0.0;
        view.kill_counts = None;
    }
    for (pid, _) in &report.recent {
        view.victims.insert(*pid);
    }
}

/// Marks the exits chaos caused in the timeline, so they read as chaos rather than as a kill
/// by hand. The exit may be read before or after chaos reports it, so the newest entries are
/// looked at again each frame.
pub fn mark_chaos_kills(view: Res<FaultsView>, mut timeline: ResMut<Timeline>) {
    if view.victims.set.is_empty() {
        return;
    }
    let found = timeline
        .newest_first()
        .take(TIMELINE_SCAN)
        .any(|e| e.what == Notable::Exit && view.victims.set.contains(&e.pid));
    if !found {
        return;
    }
    for entry in timeline.newest_mut(TIMELINE_SCAN) {
        if entry.what == Notable::Exit && view.victims.set.contains(&entry.pid) {
            entry.what = Notable::ChaosKill;
            let what = entry.text.trim_end_matches(" exited: killed");
            entry.text = format!("chaos killed {what}");
        }
    }
}

/// Adds chaos's kills per second to the dashboard's histories, one point per metrics sample.
pub fn record_chaos_history(
    mut view: ResMut<FaultsView>,
    observations: Res<Observations>,
    histories: Res<Histories>,
) {
    let Some(sample) = observations.samples.last() else {
        return;
    };
    let t = histories.time_of(sample.at);
    let rate = if view.chaos_running() {
        view.kills_per_s
    } else {
        0.0
    };
    view.kills_history.push(t, rate);
}
