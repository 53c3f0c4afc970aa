//! Runs the runtime benchmark without the app: `cargo run --release -p crashcourse-runtime --example bench_runtime [quick]`.
use crashcourse_runtime::alloc::CountingAlloc;
use crashcourse_runtime::bench::runtime::{run, Sizes};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() {
    let quick = std::env::args().nth(1).as_deref() == Some("quick");
    run(Sizes::new(quick), |f| println!("{f}"));
}
