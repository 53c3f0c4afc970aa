//! The chat page in headless Chromium: load it, join a room, exchange a message with a second
//! client (the phoenix client in Node), and see it rendered as text; then see the connection
//! badge follow a killed socket (reconnecting, rejoined) and a crashed channel (rejoining,
//! rejoined); then, in a 400×700 window (a phone), no horizontal scroll, the message box in view
//! and the people here above the messages; last, at that size, a room above a second server's
//! `presence_full_until` (2, joined by the page and two Node clients) shows "3 here". Leaves
//! screenshots at `target/chat-page.png` and `target/chat-page-400x700.png`.
//!
//! Needs Debian's `chromium` and the npm packages of `tests/js` (`./scripts/test` installs both).
//! Fails, never skips, when either is missing.

mod support;

use std::path::Path;

#[test]
fn the_page_joins_a_room_and_exchanges_messages_with_another_client() {
    assert!(
        support::js_dir().join("node_modules/playwright-core").is_dir(),
        "tests/js/node_modules is missing: run ./scripts/test, which installs the locked npm packages"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM").is_some(),
        "Chromium is missing: run ./scripts/test, which installs Debian's chromium"
    );
    let s = support::Server::start();
    let shot = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/chat-page.png"));
    let (http, ws) = (s.endpoint.http_url(), s.endpoint.ws_url());
    // A second server whose rooms are summarised above two members.
    let large = support::Server::start_with(|c| c.presence_full_until = 2);
    let (large_http, large_ws) = (large.endpoint.http_url(), large.endpoint.ws_url());
    support::run_node(
        &s,
        "browser.mjs",
        &[&http, &ws, &shot.to_string_lossy(), &large_http, &large_ws],
    );
}
