//! The cost of one process-table snapshot at 100,000 processes, and the longest delay it causes
//! to a concurrent spawn. Run with `cargo bench -p crashcourse-runtime --bench snapshot`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crashcourse_runtime::{Runtime, RuntimeConfig};

const PROCESSES: usize = 100_000;
const SNAPSHOTS: usize = 300;

fn main() {
    let rt = Runtime::start(RuntimeConfig::default());
    for _ in 0..PROCESSES {
        rt.spawn(|ctx| async move {
            ctx.recv().await;
        })
        .expect("spawn");
    }
    while rt.run_queue_len() > 0 {
        std::thread::yield_now();
    }

    // Spawn latency with nobody reading the table, then while a reader snapshots continuously.
    let quiet = spawn_latencies(&rt, Duration::from_millis(500));
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let h = rt.handle();
        let reading = reading.clone();
        std::thread::spawn(move || {
            let mut rows = Vec::new();
            let mut took = Vec::with_capacity(SNAPSHOTS);
            for _ in 0..SNAPSHOTS {
                let t = Instant::now();
                h.process_table_into(&mut rows);
                took.push(t.elapsed());
                assert!(rows.len() >= PROCESSES);
            }
            reading.store(false, Ordering::SeqCst);
            took
        })
    };
    let mut busy = Vec::new();
    while reading.load(Ordering::SeqCst) {
        busy.extend(spawn_latencies(&rt, Duration::from_millis(50)));
    }
    let mut took = reader.join().expect("the reader thread");
    took.sort();
    let mean = took.iter().sum::<Duration>() / took.len() as u32;
    let p99 = took[took.len() * 99 / 100];
    println!("bench snapshot.100k_mean {:.3} ms", ms(mean));
    println!("bench snapshot.100k_p99 {:.3} ms", ms(p99));
    println!(
        "bench snapshot.100k_max {:.3} ms",
        ms(*took.last().expect("snapshots"))
    );
    println!("bench snapshot.spawn_max_quiet {:.1} us", us(max(&quiet)));
    println!(
        "bench snapshot.spawn_max_while_reading {:.1} us",
        us(max(&busy))
    );
    println!(
        "bench snapshot.spawn_p99_while_reading {:.1} us",
        us(p99_of(&mut busy))
    );
}

/// Times spawns (each spawned process exits at once) for `span`.
fn spawn_latencies(rt: &Runtime, span: Duration) -> Vec<Duration> {
    let end = Instant::now() + span;
    let mut out = Vec::new();
    while Instant::now() < end {
        let t = Instant::now();
        rt.spawn(|_| async {}).expect("spawn");
        out.push(t.elapsed());
        // Do not flood the run queue: a spawn every ~20 us.
        let pause = Instant::now() + Duration::from_micros(20);
        while Instant::now() < pause {
            std::hint::spin_loop();
        }
    }
    out
}

fn max(v: &[Duration]) -> Duration {
    v.iter().copied().max().unwrap_or_default()
}

fn p99_of(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() * 99 / 100).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
