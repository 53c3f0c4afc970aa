//! The chat page in headless Chromium: load it, join a room, exchange a message with a second
//! client (the phoenix client in Node), and see it rendered as text. Leaves a screenshot at
//! `target/chat-page.png`.
//!
//! Needs Debian's `chromium` and the npm packages of `tests/js` (`./scripts/test` installs both).
//! Fails, never skips, when either is missing.

mod support;

use std::path::Path;
use std::process::Command;

#[test]
fn the_page_joins_a_room_and_exchanges_messages_with_another_client() {
    let js = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"));
    assert!(
        js.join("node_modules/playwright-core").is_dir(),
        "tests/js/node_modules is missing: run ./scripts/test, which installs the locked npm packages"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: run ./scripts/test, which installs Debian's chromium"
    );
    let s = support::Server::start();
    let shot = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/chat-page.png"));
    let out = Command::new("node")
        .arg(js.join("browser.mjs"))
        .arg(s.endpoint.http_url())
        .arg(s.endpoint.ws_url())
        .arg(shot)
        .current_dir(js)
        .output()
        .expect("node must be installed to drive Chromium");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().last() == Some("PASS"),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
