//! The official `phoenix` npm client (1.8.16, with `ws` as its transport in Node) against the
//! real server: join, push and reply, broadcast, history, presence, heartbeat, and recovery from
//! a crashed channel, a killed socket and a killed room.
//!
//! Needs Node and the packages of `tests/js/package-lock.json` (`./scripts/test` installs them).
//! These tests fail, never skip, when either is missing.

mod support;

use support::Server;

/// Runs one scenario of `phoenix_client.mjs`, doing the kills it asks for.
fn scenario(name: &str) {
    let s = Server::start();
    let url = s.endpoint.ws_url();
    support::run_node(&s, "phoenix_client.mjs", &[name, &url]);
}

#[test]
fn join_push_and_reply() {
    scenario("join_push_reply");
}

#[test]
fn broadcast_between_two_clients() {
    scenario("broadcast");
}

#[test]
fn history_on_join() {
    scenario("history");
}

#[test]
fn presence_sync() {
    scenario("presence");
}

#[test]
fn heartbeat() {
    scenario("heartbeat");
}

#[test]
fn a_crashed_channel_is_rejoined_by_the_client() {
    scenario("channel_crash");
}

#[test]
fn a_killed_socket_is_reconnected_by_the_client() {
    scenario("socket_kill");
}

#[test]
fn a_killed_room_is_restarted_while_two_clients_keep_chatting() {
    scenario("room_kill");
}
