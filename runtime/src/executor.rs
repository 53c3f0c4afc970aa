//! The scheduler: worker threads that poll process tasks, timing every poll.
//!
//! This is the only module that names the task machinery (`async-task`, from smol-rs). Tasks are
//! scheduled onto a per-worker LIFO slot (so a message ping-pong stays on one core), a per-worker
//! deque, or a shared injector; idle workers steal, then park. Every poll is timed so the runtime
//! can report scheduler busy time per worker, and a watchdog thread names any poll that has been
//! running for longer than [`LONG_POLL`] while it still runs.
//!
//! "Longer" means CPU time, not wall time: a worker thread the OS took off the core (the machine
//! is busy) is not hogging it. Reading a thread's CPU clock is a system call (hundreds of
//! nanoseconds), too dear for every poll, so a worker refreshes a reference reading of its CPU
//! clock at most every [`CPU_REF_EVERY`]; a poll's CPU time is measured from that reference,
//! which overstates it by at most that much and never understates it. A poll that holds its
//! thread while asleep (a blocking call inside a process: `std::thread::sleep`, a blocking
//! channel or lock) is a hog too, whatever its CPU time: the watchdog sees the thread sleeping
//! in the middle of a poll (its state in `/proc`) and names it.
//!
//! The wall clock is read once per poll, not twice: a worker that goes straight from one task
//! to the next starts the next poll at the end of the previous one (what it did between, taking
//! the task from a queue, counts as the next poll), and reads the clock at a poll's start only
//! after it looked for work in vain or parked. A process task takes that one reading itself,
//! at the end of its poll, for its busy-time window ([`end_poll`]); the worker then uses it.

use std::alloc::Layout;
use std::cell::Cell;
use std::future::Future;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use crate::panic_hook;

/// A poll that keeps its worker thread on the CPU longer than this is reported as a scheduler
/// hog.
pub const LONG_POLL: Duration = Duration::from_millis(10);

/// How stale a worker's CPU clock reference may be at the start of a poll (see the module doc):
/// the error bound of a poll's CPU time, and about one clock read per millisecond of work.
const CPU_REF_EVERY: Duration = Duration::from_millis(1);

/// How many times in a row a worker may run its LIFO slot before it looks at its deque, so two
/// processes passing a message back and forth cannot starve everything else on that worker.
const MAX_LIFO_STREAK: u32 = 32;

/// How long an idle worker keeps looking for work before it parks.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// Every this many polls a worker looks at the shared injector first, for fairness.
const INJECTOR_EVERY: u32 = 61;

type Runnable = async_task::Runnable<TaskMeta>;

/// A task handle of this executor.
pub type Task<T> = async_task::Task<T, TaskMeta>;

/// What the executor keeps with each task: its pid (0 for runtime-internal tasks).
pub type TaskMeta = u64;

thread_local! {
    /// The running poll on this worker thread: its start, and its end once [`end_poll`] read
    /// the clock (0: not yet).
    static POLL: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Ends the running poll's timing from inside it: reads the clock once, hands the worker that
/// reading as the poll's end (so the worker does not read it again), and returns (end, time
/// since the poll's start), both in [`Executor::now_ns`] nanoseconds. `None` outside a poll.
/// Only a task of `executor` calls it, so the poll running is one of its workers'.
pub(crate) fn end_poll(executor: &Executor) -> Option<(u64, u64)> {
    let (start, _) = POLL.with(Cell::get);
    if start == 0 {
        return None;
    }
    let end = executor.shared.now_ns();
    POLL.with(|p| p.set((start, end)));
    Some((end, end.saturating_sub(start)))
}

/// How long the running poll on this worker has lasted so far (ns), `None` outside a poll.
/// Reads the clock: callers ask only now and then (see `ctx::over_budget`).
pub(crate) fn poll_elapsed(executor: &Executor) -> Option<u64> {
    let (start, _) = POLL.with(Cell::get);
    (start != 0).then(|| executor.shared.now_ns().saturating_sub(start))
}

/// A report about a poll that ran too long. `finished` is false while it still runs.
#[derive(Clone, Debug)]
pub struct LongPollReport {
    pub pid: u64,
    pub worker: usize,
    /// Wall-clock time of the poll (so far).
    pub running_for: Duration,
    /// CPU time the worker thread spent in it (so far; over [`LONG_POLL`], or no report).
    pub cpu: Duration,
    pub finished: bool,
}

/// Called with every long-poll report; installed by the runtime.
pub type LongPollHook = Arc<dyn Fn(LongPollReport) + Send + Sync>;

/// Counters one worker keeps about itself (read by the metrics side, written by the worker).
#[derive(Default)]
pub struct WorkerStats {
    /// Total nanoseconds spent inside polls.
    pub busy_ns: AtomicU64,
    /// Number of polls.
    pub polls: AtomicU64,
    /// Messages sent from this thread (summed for messages per second).
    pub messages: AtomicU64,
    /// Pid of the process being polled (0 when none).
    pub current_pid: AtomicU64,
    /// Start of the running poll, in nanoseconds since the executor's epoch (0 when idle).
    pub poll_start_ns: AtomicU64,
    /// Approximate length of this worker's own queue.
    pub queued: AtomicUsize,
    /// The worker thread's CPU clock, readable from other threads (see [`ThreadClock`]).
    clock: ThreadClock,
    /// A reading of the worker's CPU clock (ns) taken at or before the running poll's start...
    cpu_ref_ns: AtomicU64,
    /// ...and when it was taken, in executor-epoch nanoseconds.
    cpu_ref_at_ns: AtomicU64,
    /// Start of the running poll if the watchdog found the thread asleep in it (a blocking
    /// call): it is then a hog whatever its CPU time.
    blocked_start_ns: AtomicU64,
    /// Start of the running poll when the watchdog first saw the thread asleep in it, and the
    /// thread's CPU time then: asleep again at the next look with no CPU time spent between is
    /// a blocking call, where one look alone may catch a moment's wait on a contended lock.
    asleep_start_ns: AtomicU64,
    asleep_cpu_ns: AtomicU64,
}

/// A thread's CPU-time clock (`CLOCK_THREAD_CPUTIME_ID` of that thread, through
/// `pthread_getcpuclockid`) and its thread id, so the watchdog can read a worker's CPU time
/// and whether it is asleep from outside.
#[derive(Default)]
struct ThreadClock {
    /// The clock id, plus one (0: not known yet).
    id: std::sync::atomic::AtomicI64,
    /// The kernel thread id (0: not known yet).
    tid: std::sync::atomic::AtomicI32,
}

impl ThreadClock {
    /// Records the calling thread's clock.
    fn set_current(&self) {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread, and `id` is a valid
        // place for the result.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } == 0 {
            self.id.store(i64::from(id) + 1, Ordering::Release);
        }
        // SAFETY: `gettid` has no preconditions.
        self.tid.store(unsafe { libc::gettid() }, Ordering::Release);
    }

    /// Whether the thread is asleep (blocked in the kernel) right now, from its `/proc` state.
    fn is_asleep(&self) -> bool {
        let tid = self.tid.load(Ordering::Acquire);
        if tid == 0 {
            return false;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
            return false;
        };
        // "tid (name) S ...": the state follows the name, which may itself hold spaces.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next());
        matches!(state, Some('S' | 'D'))
    }

    /// The thread's CPU time, or `None` if unknown (or the thread is gone).
    fn read(&self) -> Option<Duration> {
        let id = self.id.load(Ordering::Acquire);
        if id == 0 {
            return None;
        }
        read_clock((id - 1) as libc::clockid_t)
    }
}

/// The calling thread's CPU time.
fn thread_cpu_now() -> Option<Duration> {
    read_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn read_clock(id: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to; an invalid clock id is reported as an
    // error, not undefined behaviour.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

struct Shared {
    injector: Injector<Runnable>,
    stealers: Vec<Stealer<Runnable>>,
    stats: Vec<CachePadded<WorkerStats>>,
    unparkers: Vec<parking::Unparker>,
    sleepers: Mutex<Vec<usize>>,
    num_sleeping: AtomicUsize,
    stop: AtomicBool,
    epoch: Instant,
    long_poll_hook: LongPollHook,
    /// Messages sent from threads that are not this executor's workers.
    outside_messages: CachePadded<AtomicU64>,
}

/// What a worker thread keeps on its own stack; reached from the schedule function through a
/// thread-local pointer while the worker loop runs.
struct Local {
    shared: *const Shared,
    index: usize,
    lifo: Cell<Option<Runnable>>,
    deque: Worker<Runnable>,
}

thread_local! {
    static LOCAL: Cell<*const Local> = const { Cell::new(std::ptr::null()) };
}

/// Points LOCAL at a worker's `Local` for as long as it lives, and clears it when dropped, on
/// the normal path and while unwinding alike. Declared after the `Local` it points at, so it is
/// dropped (LOCAL cleared) before that `Local` is.
struct LocalGuard;

impl LocalGuard {
    fn set(local: &Local) -> LocalGuard {
        LOCAL.with(|l| l.set(local));
        LocalGuard
    }
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        LOCAL.with(|l| l.set(std::ptr::null()));
    }
}

/// A task's future whose destructor may panic without taking the worker down: async-task drops
/// futures under an abort guard, so a panicking destructor (a process holding a value whose
/// `Drop` panics, a timer holding such a message) would abort the whole program.
struct Contained<F> {
    future: std::mem::ManuallyDrop<F>,
}

impl<F> Contained<F> {
    fn new(future: F) -> Contained<F> {
        Contained {
            future: std::mem::ManuallyDrop::new(future),
        }
    }
}

impl<F: Future> Future for Contained<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out, only polled here and
        // dropped in place in `Drop`.
        unsafe { self.map_unchecked_mut(|c| &mut *c.future) }.poll(cx)
    }
}

impl<F> Drop for Contained<F> {
    fn drop(&mut self) {
        let future = &mut self.future;
        // SAFETY: dropped exactly once, here, in place (it is pinned), and never touched again,
        // also when its destructor panics part way (drop glue still drops the other fields).
        let _ = panic_hook::quietly(|| {
            catch_unwind(AssertUnwindSafe(|| unsafe {
                std::mem::ManuallyDrop::drop(future)
            }))
        });
    }
}

/// The executor: worker threads and their queues.
pub struct Executor {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Executor {
    /// Starts `workers` worker threads and a watchdog thread. `name` prefixes thread names.
    pub fn start(workers: usize, name: &str, long_poll_hook: LongPollHook) -> Executor {
        let workers = workers.max(1);
        let deques: Vec<Worker<Runnable>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let parkers: Vec<parking::Parker> = (0..workers).map(|_| parking::Parker::new()).collect();
        let shared = Arc::new(Shared {
            injector: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            stats: (0..workers)
                .map(|_| CachePadded::new(WorkerStats::default()))
                .collect(),
            unparkers: parkers.iter().map(parking::Parker::unparker).collect(),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            num_sleeping: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            epoch: Instant::now(),
            long_poll_hook,
            outside_messages: CachePadded::new(AtomicU64::new(0)),
        });
        let mut threads = Vec::with_capacity(workers + 1);
        for (index, (deque, parker)) in deques.into_iter().zip(parkers).enumerate() {
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{name}-worker-{index}"))
                .spawn(move || worker_loop(shared, index, deque, parker))
                .expect("failed to start an executor worker thread");
            threads.push(handle);
        }
        let watchdog_shared = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("{name}-watchdog"))
                .spawn(move || watchdog_loop(watchdog_shared))
                .expect("failed to start the scheduler watchdog thread"),
        );
        Executor {
            shared,
            threads: Mutex::new(threads),
        }
    }

    /// Spawns a task tagged with `pid` (0 for runtime-internal tasks such as timers).
    pub fn spawn<F>(&self, pid: u64, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_sized(pid, future).0
    }

    /// Like [`spawn`](Self::spawn), also returning the size in bytes of the task's allocation:
    /// measured (what the counting allocator saw this thread allocate while the task was
    /// created) when [`crate::alloc::CountingAlloc`] is installed, else [`Self::task_size`].
    pub fn spawn_sized<F>(&self, pid: u64, future: F) -> (Task<F::Output>, usize)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = self.shared.clone();
        let schedule =
            async_task::WithInfo(move |runnable: Runnable, info: async_task::ScheduleInfo| {
                schedule(&shared, runnable, info.woken_while_running)
            });
        let before = crate::alloc::allocated_by_this_thread();
        // `propagate_panic`: a panic in a poll is caught by the task and kept as its output, so
        // `Runnable::run` never unwinds into the worker loop. `Contained` does the same for the
        // future's destructor, which async-task would otherwise run under an abort guard.
        let (runnable, task) = async_task::Builder::new()
            .metadata(pid)
            .propagate_panic(true)
            .spawn(move |_| Contained::new(future), schedule);
        let size = match (before, crate::alloc::allocated_by_this_thread()) {
            (Some(before), Some(after)) => after.wrapping_sub(before),
            _ => Self::task_size::<F>(),
        };
        runnable.schedule();
        (task, size)
    }

    /// The size in bytes of the task allocation that holds a future of type `F`, computed the
    /// way async-task 4.7 lays a task out: header (state, awaiter, vtable, metadata, the
    /// propagate-panic flag), the schedule function (one `Arc`), then the future or its output
    /// (a `Result` carrying a caught panic). Only a fallback for when the counting allocator is
    /// not installed; a test compares it with the measured size, so a layout change shows.
    pub fn task_size<F: Future>() -> usize {
        #[allow(dead_code)]
        struct Header {
            state: AtomicUsize,
            awaiter: std::cell::UnsafeCell<Option<std::task::Waker>>,
            vtable: &'static u8,
            metadata: TaskMeta,
            propagate_panic: bool,
        }
        type Output<F> = Result<<F as Future>::Output, Box<dyn std::any::Any + Send>>;
        let union = Layout::from_size_align(
            size_of::<F>().max(size_of::<Output<F>>()),
            align_of::<F>().max(align_of::<Output<F>>()),
        )
        .expect("a valid layout");
        Layout::new::<Header>()
            .extend(Layout::new::<Arc<()>>())
            .and_then(|(l, _)| l.extend(union))
            .map_or(0, |(l, _)| l.size())
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.stats.len()
    }

    /// Per-worker counters.
    pub fn worker_stats(&self) -> impl Iterator<Item = &WorkerStats> {
        self.shared.stats.iter().map(|s| &**s)
    }

    /// Tasks waiting to run: the injector plus every worker's deque and LIFO slot (approximate).
    pub fn run_queue_len(&self) -> usize {
        self.shared.injector.len()
            + self
                .shared
                .stats
                .iter()
                .map(|s| s.queued.load(Ordering::Relaxed))
                .sum::<usize>()
    }

    /// Total messages counted through [`count_message`](Self::count_message).
    pub fn messages_total(&self) -> u64 {
        self.shared.outside_messages.load(Ordering::Relaxed)
            + self
                .shared
                .stats
                .iter()
                .map(|s| s.messages.load(Ordering::Relaxed))
                .sum::<u64>()
    }

    /// Counts one message sent, on the calling worker's own counter when there is one.
    pub fn count_message(&self) {
        let local = LOCAL.with(Cell::get);
        // SAFETY: LOCAL is non-null only while a `LocalGuard` lives in the worker loop on this
        // thread, and that guard is dropped (clearing LOCAL) before the `Local` it points at,
        // on every path including unwinding; we only compare its executor and read its index.
        if let Some(local) = unsafe { local.as_ref() } {
            if std::ptr::eq(local.shared, Arc::as_ptr(&self.shared)) {
                self.shared.stats[local.index]
                    .messages
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.shared.outside_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the calling thread is one of this executor's workers.
    pub fn is_worker_thread(&self) -> bool {
        let local = LOCAL.with(Cell::get);
        // SAFETY: see `count_message`.
        unsafe { local.as_ref() }.is_some_and(|l| std::ptr::eq(l.shared, Arc::as_ptr(&self.shared)))
    }

    /// Pids whose poll is running right now with more than [`LONG_POLL`] of CPU time, with
    /// its wall-clock time so far.
    pub fn hogs(&self) -> Vec<(u64, Duration)> {
        self.shared
            .stats
            .iter()
            .filter_map(|s| running_hog(&self.shared, s).map(|(pid, _, running, _)| (pid, running)))
            .collect()
    }

    /// Stops the workers and the watchdog and waits for them. Tasks still queued are dropped.
    /// Must not be called from a worker thread of this executor.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for u in &self.shared.unparkers {
            u.unpark();
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for t in threads {
            let _ = t.join();
        }
        // Drop whatever was still queued (their futures are dropped, not polled).
        loop {
            match self.shared.injector.steal() {
                Steal::Success(r) => drop(r),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
    }
}

impl Executor {
    /// Nanoseconds since the executor started (never 0): the clock poll times are taken by.
    pub fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }
}

impl Shared {
    fn now_ns(&self) -> u64 {
        // Never 0, so 0 can mean "no poll running".
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    fn notify_one(&self) {
        if self.num_sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let index = self.sleepers.lock().pop();
        if let Some(index) = index {
            self.num_sleeping.fetch_sub(1, Ordering::SeqCst);
            self.unparkers[index].unpark();
        }
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}

/// Queues a woken task. On one of this executor's workers it goes to the LIFO slot (a message
/// ping-pong stays on one core), unless it woke itself while running (it yielded, e.g. after
/// its receive budget): then to the back of the worker's deque, behind the others.
fn schedule(shared: &Arc<Shared>, runnable: Runnable, yielded: bool) {
    let local = LOCAL.with(Cell::get);
    // SAFETY: see `Executor::count_message`; the worker loop that owns `Local` is running on this
    // thread, since LOCAL is only non-null inside it.
    if let Some(local) = unsafe { local.as_ref() } {
        if std::ptr::eq(local.shared, Arc::as_ptr(shared)) {
            if yielded {
                local.deque.push(runnable);
                shared.stats[local.index]
                    .queued
                    .store(local.deque.len() + 1, Ordering::Relaxed);
                shared.notify_one();
                return;
            }
            if let Some(previous) = local.lifo.replace(Some(runnable)) {
                local.deque.push(previous);
                shared.stats[local.index]
                    .queued
                    .store(local.deque.len() + 1, Ordering::Relaxed);
                shared.notify_one();
            }
            return;
        }
    }
    shared.injector.push(runnable);
    shared.notify_one();
}

fn worker_loop(
    shared: Arc<Shared>,
    index: usize,
    deque: Worker<Runnable>,
    parker: parking::Parker,
) {
    let local = Local {
        shared: Arc::as_ptr(&shared),
        index,
        lifo: Cell::new(None),
        deque,
    };
    let guard = LocalGuard::set(&local);
    let stats = &shared.stats[index];
    stats.clock.set_current();
    let mut tick: u32 = 0;
    let mut lifo_streak: u32 = 0;
    // The end of the previous poll when this worker went straight on to the next (0: it did
    // not; the next poll reads its own start).
    let mut last_end: u64 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        tick = tick.wrapping_add(1);
        let next = next_task(&shared, &local, tick, &mut lifo_streak);
        stats.queued.store(
            local.deque.len() + usize::from(has_lifo(&local)),
            Ordering::Relaxed,
        );
        match next {
            Some(runnable) => {
                // `run` does not unwind (see `Executor::spawn`); the long-poll hook is the only
                // other code it calls. Catch anyway, so no panic can end a worker thread.
                let start = if last_end == 0 {
                    shared.now_ns()
                } else {
                    last_end
                };
                last_end = catch_unwind(AssertUnwindSafe(|| {
                    run(&shared, stats, index, runnable, start)
                }))
                .unwrap_or(0);
                POLL.with(|p| p.set((0, 0)));
                stats.poll_start_ns.store(0, Ordering::Release);
                stats.current_pid.store(0, Ordering::Release);
            }
            None => {
                last_end = 0;
                park(&shared, &local, &parker);
            }
        }
    }
    drop(guard);
    // Drop what is left locally while `local` is still alive; with LOCAL cleared, whatever
    // their exit cleanup wakes goes to the injector.
    drop(local.lifo.take());
    while local.deque.pop().is_some() {}
}

fn has_lifo(local: &Local) -> bool {
    let r = local.lifo.take();
    let has = r.is_some();
    local.lifo.set(r);
    has
}

fn next_task(shared: &Shared, local: &Local, tick: u32, lifo_streak: &mut u32) -> Option<Runnable> {
    if tick.is_multiple_of(INJECTOR_EVERY) {
        if let Some(r) = steal_injector(shared, local) {
            return Some(r);
        }
    }
    if *lifo_streak < MAX_LIFO_STREAK {
        if let Some(r) = local.lifo.take() {
            *lifo_streak += 1;
            return Some(r);
        }
    } else if let Some(r) = local.lifo.take() {
        local.deque.push(r);
    }
    *lifo_streak = 0;
    if let Some(r) = local.deque.pop() {
        return Some(r);
    }
    if let Some(r) = steal_injector(shared, local) {
        return Some(r);
    }
    for (i, stealer) in shared.stealers.iter().enumerate() {
        if i == local.index {
            continue;
        }
        loop {
            match stealer.steal_batch_and_pop(&local.deque) {
                Steal::Success(r) => return Some(r),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
    }
    None
}

fn steal_injector(shared: &Shared, local: &Local) -> Option<Runnable> {
    loop {
        match shared.injector.steal_batch_and_pop(&local.deque) {
            Steal::Success(r) => return Some(r),
            Steal::Empty => return None,
            Steal::Retry => continue,
        }
    }
}

/// Runs one poll that starts at `start` (executor clock) and returns its end.
fn run(shared: &Shared, stats: &WorkerStats, index: usize, runnable: Runnable, start: u64) -> u64 {
    let pid = *runnable.metadata();
    // Keep the CPU clock reference fresh enough (see the module doc); published before the
    // poll's start so the watchdog never pairs a new poll with an old reference.
    if start.saturating_sub(stats.cpu_ref_at_ns.load(Ordering::Relaxed))
        > CPU_REF_EVERY.as_nanos() as u64
    {
        if let Some(cpu) = thread_cpu_now() {
            stats
                .cpu_ref_ns
                .store(cpu.as_nanos() as u64, Ordering::Relaxed);
            stats.cpu_ref_at_ns.store(start, Ordering::Relaxed);
        }
    }
    stats.current_pid.store(pid, Ordering::Release);
    stats.poll_start_ns.store(start, Ordering::Release);
    POLL.with(|p| p.set((start, 0)));
    runnable.run();
    // The task read the end itself (a process, for its busy window), or we read it now.
    let end = match POLL.with(Cell::get) {
        (_, 0) => shared.now_ns(),
        (_, end) => end,
    };
    stats.poll_start_ns.store(0, Ordering::Release);
    stats.current_pid.store(0, Ordering::Release);
    let took = end.saturating_sub(start);
    stats.busy_ns.fetch_add(took, Ordering::Relaxed);
    stats.polls.fetch_add(1, Ordering::Relaxed);
    if pid != 0 && Duration::from_nanos(took) > LONG_POLL {
        // Rare: only now is the CPU clock read at the poll's end.
        let cpu = thread_cpu_now()
            .map(|now| {
                now.saturating_sub(Duration::from_nanos(
                    stats.cpu_ref_ns.load(Ordering::Relaxed),
                ))
            })
            .unwrap_or(Duration::from_nanos(took));
        let blocked = stats.blocked_start_ns.load(Ordering::Acquire) == start;
        if cpu > LONG_POLL || blocked {
            (shared.long_poll_hook)(LongPollReport {
                pid,
                worker: index,
                running_for: Duration::from_nanos(took),
                cpu: cpu.min(Duration::from_nanos(took)),
                finished: true,
            });
            // The hook took time of its own: the next poll reads its start.
            return 0;
        }
    }
    end
}

/// The poll running on worker `stats` right now: (pid, its start, wall time so far, CPU time so
/// far), if it is a hog: longer than [`LONG_POLL`] of CPU time, or of wall time while asleep.
fn running_hog(shared: &Shared, stats: &WorkerStats) -> Option<(u64, u64, Duration, Duration)> {
    let start = stats.poll_start_ns.load(Ordering::Acquire);
    let pid = stats.current_pid.load(Ordering::Acquire);
    if start == 0 || pid == 0 {
        return None;
    }
    let running = Duration::from_nanos(shared.now_ns().saturating_sub(start));
    if running <= LONG_POLL {
        return None;
    }
    let cpu_ref = stats.cpu_ref_ns.load(Ordering::Relaxed);
    let cpu_now = stats.clock.read();
    // The poll ended or another began while we read: nothing to say about it.
    if stats.poll_start_ns.load(Ordering::Acquire) != start {
        return None;
    }
    let cpu = cpu_now.map_or(running, |now| {
        now.saturating_sub(Duration::from_nanos(cpu_ref))
            .min(running)
    });
    if cpu > LONG_POLL || stats.blocked_start_ns.load(Ordering::Acquire) == start {
        return Some((pid, start, running, cpu));
    }
    // Little CPU: descheduled by the OS (not a hog), or asleep in a blocking call (a hog):
    // asleep at two looks in a row, with under a millisecond of CPU time spent between them.
    if stats.clock.is_asleep() && stats.poll_start_ns.load(Ordering::Acquire) == start {
        let cpu_ns =
            u64::try_from(cpu_now.unwrap_or(Duration::ZERO).as_nanos()).unwrap_or(u64::MAX);
        let seen = stats.asleep_start_ns.swap(start, Ordering::AcqRel) == start;
        let before = stats.asleep_cpu_ns.swap(cpu_ns, Ordering::AcqRel);
        if seen && cpu_now.is_some() && cpu_ns.saturating_sub(before) < 1_000_000 {
            stats.blocked_start_ns.store(start, Ordering::Release);
            return Some((pid, start, running, cpu));
        }
    }
    None
}

fn park(shared: &Shared, local: &Local, parker: &parking::Parker) {
    // Look for work a little longer before sleeping: parking and unparking a thread costs
    // system calls, and under message traffic new work is usually only microseconds away.
    let spin_until = Instant::now() + SPIN_BEFORE_PARK;
    let mut spins = 0u32;
    loop {
        if shared.has_work() || shared.stop.load(Ordering::Relaxed) {
            return;
        }
        spins += 1;
        if spins.is_multiple_of(64) && Instant::now() >= spin_until {
            break;
        }
        std::hint::spin_loop();
    }
    shared.sleepers.lock().push(local.index);
    shared.num_sleeping.fetch_add(1, Ordering::SeqCst);
    if shared.has_work() || shared.stop.load(Ordering::SeqCst) {
        deregister(shared, local.index);
        return;
    }
    parker.park_timeout(Duration::from_millis(50));
    deregister(shared, local.index);
}

fn deregister(shared: &Shared, index: usize) {
    let mut sleepers = shared.sleepers.lock();
    if let Some(pos) = sleepers.iter().position(|&i| i == index) {
        sleepers.swap_remove(pos);
        shared.num_sleeping.fetch_sub(1, Ordering::SeqCst);
    }
}

fn watchdog_loop(shared: Arc<Shared>) {
    // The poll start last reported for each worker, so each hog is named once while it runs.
    let mut reported = vec![0u64; shared.stats.len()];
    while !shared.stop.load(Ordering::Relaxed) {
        // Often enough to name a hog within a few milliseconds of crossing LONG_POLL, rarely
        // enough to cost nothing when idle.
        std::thread::sleep(Duration::from_millis(4));
        for (i, stats) in shared.stats.iter().enumerate() {
            let Some((pid, start, running_for, cpu)) = running_hog(&shared, stats) else {
                continue;
            };
            if reported[i] == start {
                continue;
            }
            reported[i] = start;
            (shared.long_poll_hook)(LongPollReport {
                pid,
                worker: i,
                running_for,
                cpu,
                finished: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counting allocator, so the tests can see what a task allocates.
    #[global_allocator]
    static ALLOC: crate::alloc::CountingAlloc = crate::alloc::CountingAlloc;

    fn measured_and_computed<F>(ex: &Executor, future: F) -> (usize, usize)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, measured) = ex.spawn_sized(1, future);
        drop(task);
        (measured, Executor::task_size::<F>())
    }

    /// Pins [`Executor::task_size`] (the fallback) to async-task's real layout: when an upgrade
    /// changes the layout, this fails instead of the memory figures drifting silently.
    #[test]
    fn the_computed_task_size_is_the_allocation_async_task_makes() {
        let ex = Executor::start(1, "task-size-test", Arc::new(|_| {}));
        // Make sure the allocator has counted something on this thread.
        drop(vec![0u8; 16]);
        let cases = [
            measured_and_computed(&ex, async {}),
            measured_and_computed(&ex, async { 7u8 }),
            measured_and_computed(&ex, async { [0u64; 40] }),
            measured_and_computed(&ex, {
                let big = [1u8; 1000];
                async move { big.len() }
            }),
            measured_and_computed(&ex, {
                let s = String::from("x");
                async move {
                    let t = s.clone();
                    futures_lite::future::yield_now().await;
                    t
                }
            }),
        ];
        ex.stop();
        for (i, (measured, computed)) in cases.into_iter().enumerate() {
            assert!(measured > 0, "case {i}: nothing measured");
            assert_eq!(measured, computed, "case {i}: task layout changed");
        }
    }
}
