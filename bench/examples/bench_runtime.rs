//! Runs the runtime benchmark without the app:
//! `cargo run --release -p crashcourse-bench --example bench_runtime [quick]`.
use crashcourse_bench::runtime::{run, Sizes};
use crashcourse_runtime::alloc::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> std::process::ExitCode {
    let quick = std::env::args().nth(1).as_deref() == Some("quick");
    match run(Sizes::new(quick), |f| println!("{f}")) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
