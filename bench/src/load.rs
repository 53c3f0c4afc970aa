//! The load generator's own cost: how many messages a second one `crashcourse load` process
//! drives, and the CPU time it spends per 1,000 messages, against our server and against the
//! Node.js peer with the same clients, rate and duration — so any figure the generator produces
//! can be checked for being the server's limit and not the generator's.
//!
//! The generator runs in this process (nothing else does); the server runs in another one. Each
//! client sits in a room of its own, so every message costs one push, one reply and one
//! broadcast, whatever the number of clients.

use std::process::Command;
use std::time::Duration;

use crashcourse_load::{Model, Plan, Summary, Target};

use crate::chat::{free_port, ServerProcess};
use crate::peers::find_peer;
use crate::{BenchError, Figure};

/// Sizes of one run, the same for both servers.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub clients: usize,
    /// Messages per client per second (closed model: at most this, each waiting its reply).
    pub rate: f64,
    pub duration: Duration,
}

impl Sizes {
    /// 2,000 clients at 10 messages a second each for 10 s (200 clients for 3 s with `quick`).
    pub fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                clients: 200,
                rate: 10.0,
                duration: Duration::from_secs(3),
            }
        } else {
            Sizes {
                clients: 2_000,
                rate: 10.0,
                duration: Duration::from_secs(10),
            }
        }
    }
}

/// This process's CPU time so far (user + system, every thread).
fn cpu_time() -> Result<Duration, BenchError> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(BenchError::new(format!(
            "getrusage failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: getrusage returned 0, so it wrote the whole struct.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(tv(usage.ru_utime) + tv(usage.ru_stime))
}

/// What one side measured.
pub struct Outcome {
    pub summary: Summary,
    /// The generator's CPU time over the run.
    pub cpu: Duration,
}

impl Outcome {
    /// The figures, each name prefixed with `prefix` (`""` for ours, `"peer."` for the peer).
    pub fn figures(&self, prefix: &str) -> Vec<Figure> {
        let s = &self.summary;
        let acked = s.messages.acknowledged;
        let name = |n: &str| format!("{prefix}load.{n}");
        let mut out = vec![
            Figure::new(name("msgs_per_s"), s.messages.acknowledged_per_s, "msg/s"),
            Figure::new(
                name("cpu_per_1000_msgs"),
                if acked == 0 {
                    0.0
                } else {
                    self.cpu.as_secs_f64() * 1e3 * 1000.0 / acked as f64
                },
                "ms",
            ),
            Figure::new(
                name("cpu_share"),
                100.0 * self.cpu.as_secs_f64() / s.elapsed_s.max(1e-9),
                "%",
            ),
        ];
        if let Some(p99) = s.latency_ms.round_trip.p99 {
            out.push(Figure::new(name("round_trip_p99"), p99, "ms"));
        }
        out
    }

    /// Why this side's figures cannot be trusted, if they cannot: failed connections or joins,
    /// or more than 1% of the messages unanswered.
    pub fn problem(&self) -> Option<String> {
        let s = &self.summary;
        if s.connections.failed > 0 || s.joins.failed > 0 || s.joins.ok < s.clients {
            return Some(format!(
                "{} of {} clients joined ({} connections and {} joins failed; errors: {:?})",
                s.joins.ok, s.clients, s.connections.failed, s.joins.failed, s.errors
            ));
        }
        if s.messages.acknowledged == 0 || s.error_rate > 0.01 {
            return Some(format!(
                "{} of {} messages acknowledged (errors: {:?})",
                s.messages.acknowledged, s.messages.sent, s.errors
            ));
        }
        None
    }
}

/// Drives the server at `ws` (a `ws://` URL) with `sizes` and measures this process's CPU.
pub fn measure(sizes: Sizes, ws: &str) -> Result<Outcome, BenchError> {
    let mut plan = Plan::new(Target::parse(ws).map_err(|e| BenchError::new(e.to_string()))?);
    plan.clients = sizes.clients;
    plan.rooms = sizes.clients;
    plan.room = "bench".into();
    plan.ramp = 1_000.0;
    plan.duration = sizes.duration;
    plan.model = Model::Closed {
        rate: Some(sizes.rate),
    };
    plan.drain = Duration::from_secs(3);
    let before = cpu_time()?;
    let summary = crashcourse_load::run(plan).map_err(|e| BenchError::new(e.to_string()))?;
    let cpu = cpu_time()?.saturating_sub(before);
    Ok(Outcome { summary, cpu })
}

/// Starts the server `command`, drives it, stops it.
fn side(sizes: Sizes, mut command: Command) -> Result<Outcome, String> {
    let mut server = ServerProcess::start(&mut command)?;
    let url = format!("ws://{}/socket/websocket", server.ws);
    let result = measure(sizes, &url).map_err(|e| e.to_string());
    server.stop();
    result
}

/// Runs the whole load benchmark: ours (`exe serve`), then the Node.js peer, the same sizes.
/// Every side runs even when one fails; a failure is returned after the figures measured.
pub fn run_all(
    quick: bool,
    exe: &std::path::Path,
    mut report: impl FnMut(String),
) -> Result<(), BenchError> {
    let sizes = Sizes::new(quick);
    let dir = crate::temp_dir("load")?;
    report(format!(
        "# load: one generator process, {} clients each in its own room, at most {}/s each \
         (closed model), {} s, against each server; cpu = the generator's own user+system time,          cpu_share in % of one core",
        sizes.clients,
        sizes.rate,
        sizes.duration.as_secs_f64()
    ));
    let mut ours = crate::chat::serve_command(exe, &dir.path().join("bench-load.db"));
    ours.args(["--no-history", "--no-presence"]);
    let mut failures = Vec::new();
    let mut outcome = |who: &str, prefix: &str, result: Result<Outcome, String>| match result {
        Ok(o) => {
            for f in o.figures(prefix) {
                report(f.to_string());
            }
            if let Some(p) = o.problem() {
                failures.push(format!("{who}: {p}"));
            }
        }
        Err(e) => failures.push(format!("{who}: {e}")),
    };
    outcome("ours", "", side(sizes, ours));
    let peer = find_peer("node-chat-peer")
        .map_err(|e| e.to_string())
        .and_then(|peer| {
            let mut cmd = Command::new(peer);
            cmd.env("PORT", free_port()?.to_string());
            Ok(cmd)
        });
    outcome(
        "the Node.js peer",
        "peer.",
        peer.and_then(|cmd| side(sizes, cmd)),
    );
    BenchError::from_failures(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let a = cpu_time().unwrap();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let b = cpu_time().unwrap();
        assert!(b > a, "{a:?} -> {b:?}");
    }
}
