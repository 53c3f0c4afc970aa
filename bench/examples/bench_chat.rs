//! Runs the chat and connections benchmarks without the app (so a release build need not build
//! the GUI): `cargo run --release -p crashcourse-bench --example bench_chat -- chat [quick]
//! [--workers N]` or `-- connections [quick]`. It is its own server too: `serve` with the flags
//! the benchmarks pass, the same `ChatConfig` defaults as `crashcourse serve`, and
//! `bench-clients` for the ramp's client processes.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crashcourse_runtime::alloc::CountingAlloc;
use crashcourse_runtime::chat::{ChatConfig, Endpoint};
use crashcourse_runtime::{Runtime, RuntimeConfig};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("bench-clients") => clients(&args[1..]),
        Some("chat") | Some("connections") => bench(&args),
        _ => Err("usage: bench_chat chat|connections [quick] [--workers N]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_chat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "quick");
    let workers = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .map(|w| w.parse::<u16>().map_err(|e| format!("--workers: {e}")))
        .transpose()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let print = |line: String| println!("{line}");
    if args[0] == "chat" {
        crashcourse_bench::chat::run_all(quick, workers, &exe, print)
    } else {
        crashcourse_bench::connections::run_all(quick, &exe, print)
    }
    .map_err(|e| e.to_string())
}

fn clients(args: &[String]) -> Result<(), String> {
    let [ws, src, prefix] = args else {
        return Err("bench-clients WS SRC PREFIX".into());
    };
    let ws = ws.parse().map_err(|e| format!("{ws}: {e}"))?;
    let src = src.parse().map_err(|e| format!("{src}: {e}"))?;
    crashcourse_bench::connections::client_process(ws, src, prefix.clone())
        .map_err(|e| e.to_string())
}

/// `serve` with the flags the benchmarks pass; runs until killed.
fn serve(args: &[String]) -> Result<(), String> {
    let mut db = PathBuf::from("bench-chat.db");
    let mut workers = 2usize;
    let mut config = ChatConfig::new(&db).any_ports();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--http-port" => config.http_port = value()?.parse().map_err(|_| "--http-port")?,
            "--ws-port" => config.ws_port = value()?.parse().map_err(|_| "--ws-port")?,
            "--idle-timeout" => {
                let v = value()?;
                let secs: u64 = v
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| "--idle-timeout")?;
                config.idle_timeout = Duration::from_secs(secs);
            }
            "--no-history" => config.history = false,
            "--no-presence" => config.presence = false,
            "--workers" => workers = value()?.parse().map_err(|_| "--workers")?,
            "--db" => db = PathBuf::from(value()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    config.pool.path = db;
    let rt = Runtime::start(RuntimeConfig::default().with_workers(workers));
    let endpoint = Endpoint::start(&rt, config).map_err(|e| e.to_string())?;
    println!(
        "listening {} ws://{}/socket/websocket pid {}",
        endpoint.http_url(),
        endpoint.ws_addr(),
        std::process::id()
    );
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
