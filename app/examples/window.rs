//! Opens the Crashcourse window with the demo tree (`cargo run -p crashcourse-app --example window`).

fn main() -> eframe::Result {
    crashcourse_app::run(crashcourse_app::AppConfig::default())
}
