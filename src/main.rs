//! The `crashcourse` command: the desktop app by default, the chat server headless (`serve`), or
//! a benchmark.

mod args;
mod attach;
mod console_cli;
mod lessons_cli;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use crashcourse_bench as bench;
use crashcourse_runtime::alloc::CountingAlloc;

/// Counts live heap bytes so benchmarks can report memory per process.
#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// mimalloc's option setter (its C API; the library is linked through the counting allocator).
mod mimalloc_options {
    use std::ffi::{c_int, c_long};

    extern "C" {
        fn mi_option_set(option: c_int, value: c_long);
    }

    // Indices of `mi_option_t` in mimalloc 2's `mimalloc.h`.
    const EAGER_COMMIT: c_int = 3;
    const ARENA_EAGER_COMMIT: c_int = 4;
    const PURGE_DELAY: c_int = 15;

    /// Commits memory a page at a time as it is used, and gives freed pages back at once. With
    /// mimalloc's defaults (whole segments committed up front, purges after 10 ms) a server
    /// holding 10,000 WebSockets kept about 2.5 KB of RSS per connection above its live heap;
    /// with these, about 1 KB (`bench chat` prints the breakdown).
    ///
    /// Set before `main` (an ELF constructor on Linux): the runtime's start-up allocates, and
    /// mimalloc reserves and commits its first arena at the first allocation.
    pub(crate) fn lean() {
        // SAFETY: `mi_option_set` only stores the value; these options are read when mimalloc
        // next commits or purges, and any value is valid for them.
        unsafe {
            mi_option_set(EAGER_COMMIT, 0);
            mi_option_set(ARENA_EAGER_COMMIT, 0);
            mi_option_set(PURGE_DELAY, 0);
        }
    }

    #[cfg(target_os = "linux")]
    #[used]
    #[link_section = ".init_array"]
    static LEAN_AT_LOAD: extern "C" fn() = lean_at_load;

    #[cfg(target_os = "linux")]
    extern "C" fn lean_at_load() {
        lean();
    }
}

#[derive(Parser)]
#[command(
    name = "crashcourse",
    version,
    about = "Learn how BEAM-style systems survive real concurrency"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the chat server alone, headless; Ctrl-C shuts it down in order.
    Serve(serve::ServeArgs),
    /// Run console commands against a running node over its observer stream (`serve
    /// --observer`): one from the arguments, or one a line from stdin.
    Console(console_cli::ConsoleArgs),
    // The about text and the help of every flag come from `LoadArgs`'s own doc comments.
    Load(crashcourse_load::cli::LoadArgs),
    /// Validate or list the lesson files.
    Lessons {
        #[command(subcommand)]
        command: lessons_cli::LessonsCommand,
    },
    /// Run a benchmark and print `bench <name> <value> <unit>` lines.
    Bench {
        /// Which benchmark.
        which: Which,
        /// `quick`: one tenth of the sizes.
        #[arg(value_parser = ["quick", "full"], default_value = "full")]
        size: String,
        /// `chat`: executor worker threads of our server (1 to compare with the single-threaded
        /// Node.js peer); the server's default otherwise.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        workers: Option<u16>,
    },
    /// A client process of `bench connections` (started by it: commands on stdin).
    #[command(hide = true)]
    BenchClients {
        ws: std::net::SocketAddr,
        src: std::net::IpAddr,
        prefix: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Which {
    /// The runtime workloads: spawn, memory per process, ring, fan-out, restarts (compare with
    /// bench/peers/erlang-peer, the same workloads on Erlang/OTP).
    Runtime,
    /// The database pool: 1,000 writers insert 100,000 messages at pool sizes 1, 4 and 16, beside
    /// a plain connection committing one per transaction and in the pool's batches; then the best
    /// size and the batched connection with synchronous=FULL.
    Pool,
    /// 10,000 WebSocket clients in one room against `crashcourse serve` and the Node.js peer
    /// (bench/peers/node-chat-peer): connect+join time, memory per connection, broadcast latency.
    Chat,
    /// WebSocket clients join one room in steps (from several client processes) until the
    /// server refuses or a limit; held count, server RSS per connection, broadcast time to all,
    /// and what stopped the ramp; Presence off and on.
    Connections,
    /// The load generator's own cost: messages a second one `crashcourse load` process drives
    /// and its CPU time per 1,000 messages, against `crashcourse serve` and the Node.js peer.
    Load,
    /// The desktop app headless with 100,000 processes and 5,000 runtime events a second: the
    /// UI thread's CPU time per frame over 300 frames (mean and p99).
    Gui,
}

fn main() -> Result<()> {
    mimalloc_options::lean();
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        None => crashcourse_app::run(crashcourse_app::AppConfig::default())
            .map_err(|e| anyhow::anyhow!("the window could not be opened: {e}")),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Console(args)) => std::process::exit(console_cli::run(args)),
        Some(Command::Load(args)) => std::process::exit(crashcourse_load::cli::run(args)),
        Some(Command::Lessons { command }) => std::process::exit(lessons_cli::run(command)),
        Some(Command::BenchClients { ws, src, prefix }) => {
            bench::connections::client_process(ws, src, prefix)
                .map_err(|e| anyhow::anyhow!("bench clients: {e}"))
        }
        Some(Command::Bench {
            which,
            size,
            workers,
        }) => {
            let quick = size == "quick";
            match which {
                Which::Runtime => {
                    println!(
                        "# crashcourse runtime, {} worker threads{}",
                        crashcourse_runtime::RuntimeConfig::default().workers,
                        if quick { ", quick" } else { "" }
                    );
                    bench::runtime::run(bench::runtime::Sizes::new(quick), |f| println!("{f}"))
                        .map_err(|e| anyhow::anyhow!("bench runtime: {e}"))?;
                }
                Which::Pool => {
                    println!(
                        "# crashcourse db pool, {} worker threads{}",
                        crashcourse_runtime::RuntimeConfig::default().workers,
                        if quick { ", quick" } else { "" }
                    );
                    bench::pool::run(bench::pool::Sizes::new(quick), |f| println!("{f}"))
                        .map_err(|e| anyhow::anyhow!("bench pool: {e}"))?;
                }
                Which::Chat => {
                    let exe = std::env::current_exe()?;
                    bench::chat::run_all(quick, workers, &exe, |line| println!("{line}"))
                        .map_err(|e| anyhow::anyhow!("bench chat: {e}"))?;
                }
                Which::Connections => {
                    let exe = std::env::current_exe()?;
                    bench::connections::run_all(quick, &exe, |line| println!("{line}"))
                        .map_err(|e| anyhow::anyhow!("bench connections: {e}"))?;
                }
                Which::Load => {
                    let exe = std::env::current_exe()?;
                    bench::load::run_all(quick, &exe, |line| println!("{line}"))
                        .map_err(|e| anyhow::anyhow!("bench load: {e}"))?;
                }
                Which::Gui => {
                    crashcourse_app::bench::run(quick, |line| println!("{line}"))
                        .map_err(anyhow::Error::msg)?;
                }
            }
            Ok(())
        }
    }
}

/// Logs go to stderr at the level `RUST_LOG` asks for (default `info`), coloured only on a
/// terminal.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
