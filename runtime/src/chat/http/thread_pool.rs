//! The "typical stack" the thread-pool lesson measures processes against: a fixed number of OS
//! threads taking `/api/slow` requests from one queue, each request holding its thread for its
//! whole duration, so that past `threads` requests in flight the rest wait in the queue.
//!
//! The `http thread pool` process owns it: when that process ends, the pool stops (queued
//! requests are answered 503; a thread finishes the request it holds, then ends).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use parking_lot::{Condvar, Mutex};

/// One `/api/slow` request waiting for a thread; the connection waits on `done`.
pub(crate) struct Job {
    pub(crate) ms: u64,
    pub(crate) done: oneshot::Sender<()>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<(Job, Instant)>,
    stopped: bool,
}

/// The pool: its queue, its threads' figures.
pub(crate) struct ThreadPool {
    queue: Mutex<Queue>,
    ready: Condvar,
    threads: usize,
    busy: AtomicUsize,
    served: AtomicU64,
    /// The longest a request waited in the queue for a thread, in microseconds.
    max_wait_us: AtomicU64,
}

impl ThreadPool {
    /// Starts `threads` threads (at least one), named `http-pool-N`.
    pub(crate) fn start(threads: usize) -> std::io::Result<Arc<ThreadPool>> {
        let pool = Arc::new(ThreadPool {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            threads: threads.max(1),
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            max_wait_us: AtomicU64::new(0),
        });
        for i in 0..pool.threads {
            let p = pool.clone();
            let started = std::thread::Builder::new()
                .name(format!("http-pool-{i}"))
                .spawn(move || p.work());
            if let Err(e) = started {
                pool.stop();
                return Err(e);
            }
        }
        Ok(pool)
    }

    /// Queues a request; hands it back if the pool has stopped.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let mut q = self.queue.lock();
        if q.stopped {
            return Err(job);
        }
        q.jobs.push_back((job, Instant::now()));
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// Stops the pool: queued requests are dropped (their connections answer 503) and idle
    /// threads end; busy ones end after their current request.
    pub(crate) fn stop(&self) {
        let mut q = self.queue.lock();
        q.stopped = true;
        q.jobs.clear();
        drop(q);
        self.ready.notify_all();
    }

    /// What the pool's process shows in the inspector.
    pub(crate) fn describe(&self) -> String {
        let queued = self.queue.lock().jobs.len();
        format!(
            "the typical stack: a fixed pool of OS threads serving /api/slow\n\
             threads: {}\nbusy now: {}\nqueued: {queued}\nserved: {}\nlongest wait for a thread: {} ms",
            self.threads,
            self.busy.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
            self.max_wait_us.load(Ordering::Relaxed) / 1000
        )
    }

    fn work(&self) {
        loop {
            let (job, queued_at) = {
                let mut q = self.queue.lock();
                loop {
                    if q.stopped {
                        return;
                    }
                    if let Some(job) = q.jobs.pop_front() {
                        break job;
                    }
                    self.ready.wait(&mut q);
                }
            };
            let waited = u64::try_from(queued_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.max_wait_us.fetch_max(waited, Ordering::Relaxed);
            self.busy.fetch_add(1, Ordering::Relaxed);
            // Holds this thread, as a slow request holds a thread in a pool.
            std::thread::sleep(Duration::from_millis(job.ms));
            let _ = job.done.send(());
            self.busy.fetch_sub(1, Ordering::Relaxed);
            self.served.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Stops the pool when its owner (the `http thread pool` process) ends, however it ends.
pub(crate) struct StopOnDrop(pub(crate) Arc<ThreadPool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_beyond_the_threads_wait_in_the_queue() {
        let pool = ThreadPool::start(2).unwrap();
        let t0 = Instant::now();
        let waits: Vec<_> = (0..4)
            .map(|_| {
                let (tx, rx) = oneshot::channel();
                assert!(pool.submit(Job { ms: 100, done: tx }).is_ok());
                rx
            })
            .collect();
        for rx in waits {
            assert_eq!(futures_lite::future::block_on(rx), Ok(()));
        }
        // Four 100 ms requests on two threads take two rounds.
        assert!(
            t0.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t0.elapsed()
        );
        pool.stop();
        let (tx, rx) = oneshot::channel();
        assert!(pool.submit(Job { ms: 1, done: tx }).is_err());
        drop(rx);
    }
}
