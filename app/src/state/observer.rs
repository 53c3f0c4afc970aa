//! The observer: one OS thread on the GUI's side that does the reading whose cost grows with
//! the number of processes, so that the frame never does.
//!
//! Every snapshot interval it copies the process table and compares it with the previous copy;
//! only the rows that changed (and the pids that are gone) reach the view model. Every metrics
//! interval it reads the runtime's counters (which walk every process), the chat server's
//! counters and the pool's latency histograms, and turns them into one [`MetricsSample`]. When
//! it has something new it wakes the window, so an idle system costs no frames at all.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crashcourse_runtime::chat::ChatMetrics;
use crashcourse_runtime::db::{Pool, PoolMetrics};
use crashcourse_runtime::observe::{MetricsSampler, ProcessRow, RuntimeMetrics, RuntimeRates};
use crashcourse_runtime::{Handle, Pid};

use super::components::PidMap;
use super::Polling;

/// The shortest pause between two snapshots, whatever the configured interval (tests use 0).
const MIN_INTERVAL: Duration = Duration::from_millis(5);

/// How many metrics samples wait for the view model at most (it normally takes them each frame).
const MAX_PENDING_SAMPLES: usize = 3_600;

/// What the observer reads from the chat server.
#[derive(Clone)]
pub struct ChatProbe {
    pub metrics: Arc<ChatMetrics>,
    pub pool: Pool,
}

/// The chat server's counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct ChatSample {
    pub connections: u64,
    pub connections_total: u64,
    pub joins: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub messages_posted: u64,
    pub broadcasts: u64,
    pub pool: PoolMetrics,
}

impl ChatSample {
    fn read(probe: &ChatProbe) -> ChatSample {
        let m = &probe.metrics;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        ChatSample {
            connections: get(&m.connections),
            connections_total: get(&m.connections_total),
            joins: get(&m.joins),
            frames_in: get(&m.frames_in),
            frames_out: get(&m.frames_out),
            messages_posted: get(&m.messages_posted),
            broadcasts: get(&m.broadcasts),
            pool: probe.pool.metrics(),
        }
    }
}

/// Runtime and chat figures read at one moment.
#[derive(Clone, Debug)]
pub struct MetricsSample {
    pub at: Instant,
    pub runtime: RuntimeMetrics,
    pub rates: RuntimeRates,
    pub chat: Option<ChatSample>,
}

/// What changed in the process table since the last diff the view model took.
#[derive(Debug, Default)]
pub struct SnapshotDiff {
    /// When the newest snapshot in it was taken.
    pub taken_at: Option<Instant>,
    /// New processes and processes whose row changed (age aside), newest row per pid.
    pub changed: Vec<ProcessRow>,
    /// Processes no longer in the table.
    pub gone: Vec<Pid>,
    /// Live processes and their memory in the newest snapshot.
    pub process_count: usize,
    pub memory: usize,
    /// The runtime is shutting down.
    pub stopped: bool,
}

/// What waits for the view model.
#[derive(Default)]
struct Inbox {
    changed: PidMap<ProcessRow>,
    gone: HashSet<Pid>,
    taken_at: Option<Instant>,
    process_count: usize,
    memory: usize,
    stopped: bool,
    samples: Vec<MetricsSample>,
}

struct Control {
    stop: bool,
    hurry: bool,
    chat: Option<ChatProbe>,
}

type Waker = Arc<dyn Fn() + Send + Sync>;

struct Shared {
    inbox: Mutex<Inbox>,
    control: Mutex<Control>,
    signal: Condvar,
    waker: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic on the other side must not take the window down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running observer thread; dropping it stops and joins the thread.
pub struct Observer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            inbox: Mutex::new(Inbox::default()),
            control: Mutex::new(Control {
                stop: false,
                hurry: false,
                chat: None,
            }),
            signal: Condvar::new(),
            waker: Mutex::new(None),
        }
    }
}

impl Observer {
    /// Starts observing `handle` at the `polling` intervals.
    pub fn start(handle: Handle, polling: Polling) -> Observer {
        let shared = Arc::new(Shared::new());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("crashcourse observer".into())
                .spawn(move || run(&shared, &handle, polling))
                .ok()
        };
        Observer { shared, thread }
    }

    /// Called (from the observer thread) whenever something new waits: the app asks for a
    /// repaint there.
    pub fn set_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        *lock(&self.shared.waker) = Some(Arc::new(waker));
    }

    /// Which chat server to read (none while it is stopped).
    pub fn set_chat(&self, chat: Option<ChatProbe>) {
        lock(&self.shared.control).chat = chat;
        self.hurry();
    }

    /// Takes a snapshot (and wakes the window) now rather than at the next interval.
    pub fn hurry(&self) {
        lock(&self.shared.control).hurry = true;
        self.shared.signal.notify_all();
    }

    /// Everything that changed since the last call: the merged diff (if any snapshot was
    /// taken) and the metrics samples, oldest first.
    pub fn take(&self) -> (Option<SnapshotDiff>, Vec<MetricsSample>) {
        let mut inbox = lock(&self.shared.inbox);
        let samples = std::mem::take(&mut inbox.samples);
        let Some(taken_at) = inbox.taken_at.take() else {
            return (None, samples);
        };
        let diff = SnapshotDiff {
            taken_at: Some(taken_at),
            changed: inbox.changed.drain().map(|(_, row)| row).collect(),
            gone: inbox.gone.drain().collect(),
            process_count: inbox.process_count,
            memory: inbox.memory,
            stopped: inbox.stopped,
        };
        (Some(diff), samples)
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        lock(&self.shared.control).stop = true;
        self.shared.signal.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The previous snapshot, to compare the next one with.
struct Previous {
    rows: PidMap<(ProcessRow, bool)>,
    buffer: Vec<ProcessRow>,
}

fn run(shared: &Shared, handle: &Handle, polling: Polling) {
    let snapshot_every = polling.snapshot.max(MIN_INTERVAL);
    let metrics_every = polling.metrics.max(MIN_INTERVAL);
    let mut previous = Previous {
        rows: PidMap::default(),
        buffer: Vec::new(),
    };
    let mut sampler = MetricsSampler::new();
    let now = Instant::now();
    let (mut next_snapshot, mut next_metrics) = (now, now);
    let mut events_head = u64::MAX;
    loop {
        let (hurry, chat) = {
            let mut control = lock(&shared.control);
            loop {
                if control.stop {
                    return;
                }
                let now = Instant::now();
                let due = next_snapshot.min(next_metrics);
                if control.hurry || now >= due {
                    break;
                }
                control = shared
                    .signal
                    .wait_timeout(control, due - now)
                    .map_or_else(|e| e.into_inner().0, |(c, _)| c);
            }
            let hurry = std::mem::take(&mut control.hurry);
            (hurry, control.chat.clone())
        };
        let now = Instant::now();
        let mut news = false;
        if hurry || now >= next_snapshot {
            // Processes coming or going (and any event) wake the window at once; counters
            // that merely moved wait for the next metrics sample's wake-up, so a quiet system
            // costs about one frame a second.
            news |= snapshot(shared, handle, &mut previous, now) == Change::Membership;
            next_snapshot = now + snapshot_every;
            let head = handle.events_head();
            news |= head != events_head;
            events_head = head;
        }
        if now >= next_metrics && !handle.is_shutting_down() {
            let runtime = handle.metrics();
            let rates = sampler.sample(runtime.clone());
            let sample = MetricsSample {
                at: now,
                runtime,
                rates,
                chat: chat.as_ref().map(ChatSample::read),
            };
            let mut inbox = lock(&shared.inbox);
            if inbox.samples.len() == MAX_PENDING_SAMPLES {
                inbox.samples.remove(0);
            }
            inbox.samples.push(sample);
            news = true;
            next_metrics = now + metrics_every;
        }
        if news {
            let waker = lock(&shared.waker).clone();
            if let Some(wake) = waker {
                wake();
            }
        }
    }
}

/// Whether two rows of the same process show the same thing (age aside: it always moves).
fn same_row(a: &ProcessRow, b: &ProcessRow) -> bool {
    a.status == b.status
        && a.mailbox_len == b.mailbox_len
        && a.messages_in == b.messages_in
        && a.messages_out == b.messages_out
        && a.memory == b.memory
        && a.restarts == b.restarts
        && a.trap_exit == b.trap_exit
        // Busy time to a tenth of a millisecond: the window slides continuously, and a
        // process polled once a while ago must not count as changed at every snapshot.
        && a.busy.as_micros() / 100 == b.busy.as_micros() / 100
        && a.polls == b.polls
        && a.parent == b.parent
        && a.kind == b.kind
        && a.supervisor == b.supervisor
        && a.label == b.label
        && a.name == b.name
}

/// What a snapshot found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Nothing,
    /// Only counters or statuses moved.
    Counters,
    /// Processes appeared or went (or the runtime stopped).
    Membership,
}

/// Takes one snapshot and merges its differences into the inbox.
fn snapshot(shared: &Shared, handle: &Handle, previous: &mut Previous, now: Instant) -> Change {
    let stopped = handle.is_shutting_down();
    let rows = &mut previous.buffer;
    if stopped {
        rows.clear();
    } else {
        handle.process_table_into(rows);
    }
    for (_, seen) in previous.rows.values_mut() {
        *seen = false;
    }
    let mut changed = Vec::new();
    // How many of the changed rows are of processes already known.
    let mut counters_only = 0;
    let mut memory = 0;
    let mut count = 0;
    for row in rows.drain(..) {
        if row.status == crashcourse_runtime::Status::Exited {
            continue; // on its way out: its exit event or the next snapshot settles it
        }
        count += 1;
        memory += row.memory;
        match previous.rows.get_mut(&row.pid) {
            Some((old, seen)) => {
                *seen = true;
                if !same_row(old, &row) {
                    counters_only += 1;
                    changed.push(row.clone());
                    *old = row;
                }
            }
            None => {
                changed.push(row.clone());
                previous.rows.insert(row.pid, (row, true));
            }
        }
    }
    let mut gone = Vec::new();
    previous.rows.retain(|pid, (_, seen)| {
        if !*seen {
            gone.push(*pid);
        }
        *seen
    });
    let mut change = if !gone.is_empty() || changed.len() > counters_only {
        Change::Membership
    } else if changed.is_empty() {
        Change::Nothing
    } else {
        Change::Counters
    };
    let mut inbox = lock(&shared.inbox);
    for row in changed {
        inbox.changed.insert(row.pid, row);
    }
    for pid in gone {
        inbox.changed.remove(&pid);
        inbox.gone.insert(pid);
    }
    inbox.taken_at = Some(now);
    inbox.process_count = count;
    inbox.memory = memory;
    if inbox.stopped != stopped {
        change = Change::Membership;
    }
    inbox.stopped = stopped;
    change
}

/// The observer's state for tests: pids it believes alive.
#[cfg(test)]
fn known(previous: &Previous) -> std::collections::HashMap<Pid, usize> {
    previous
        .rows
        .iter()
        .map(|(pid, (row, _))| (*pid, row.mailbox_len))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crashcourse_runtime::{Runtime, RuntimeConfig};

    fn shared() -> Shared {
        Shared::new()
    }

    #[test]
    fn a_second_snapshot_of_an_unchanged_table_sends_nothing_and_an_exit_sends_the_pid() {
        let rt = Runtime::start(RuntimeConfig::default());
        let pid = rt
            .spawn(|ctx| async move {
                ctx.recv().await;
            })
            .unwrap();
        let shared = shared();
        let mut previous = Previous {
            rows: PidMap::default(),
            buffer: Vec::new(),
        };
        // Wait until the process has been polled once and sits waiting.
        let deadline = Instant::now() + Duration::from_secs(5);
        while rt
            .process_table()
            .iter()
            .any(|r| r.pid == pid && r.status != crashcourse_runtime::Status::Waiting)
        {
            assert!(Instant::now() < deadline, "the process never waited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            snapshot(&shared, &rt, &mut previous, Instant::now()),
            Change::Membership
        );
        let inbox = lock(&shared.inbox);
        assert!(inbox.changed.contains_key(&pid));
        drop(inbox);
        assert_eq!(known(&previous).get(&pid), Some(&0));

        let observer = Observer {
            shared: Arc::new(shared),
            thread: None,
        };
        let (diff, _) = observer.take();
        assert_eq!(diff.map(|d| d.changed.len()), Some(1));
        assert_eq!(
            snapshot(&observer.shared, &rt, &mut previous, Instant::now()),
            Change::Nothing
        );

        rt.kill(pid).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while rt.is_alive(pid) {
            assert!(Instant::now() < deadline, "the process never exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            snapshot(&observer.shared, &rt, &mut previous, Instant::now()),
            Change::Membership
        );
        let (diff, _) = observer.take();
        let diff = diff.unwrap();
        assert_eq!(diff.gone, vec![pid]);
        assert!(diff.changed.is_empty());
    }
}
