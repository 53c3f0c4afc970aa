//! Opens the Crashcourse window with the chat server and the demo tree
//! (`cargo run -p crashcourse-app --example window [DATABASE]`): with a database path, the chat
//! server keeps its data there and listens on free ports, so it can run beside a real copy.

fn main() -> eframe::Result {
    let config = match std::env::args_os().nth(1) {
        Some(db) => crashcourse_app::AppConfig::isolated(std::path::Path::new(&db)),
        None => crashcourse_app::AppConfig::default(),
    };
    crashcourse_app::run(config)
}
