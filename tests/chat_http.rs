//! The HTTP side: the page, the APIs, the metrics, the slow endpoint, 404 and 405.

mod support;

use support::Server;

#[test]
fn the_page_and_its_files_are_served_with_their_content_types() {
    let s = Server::start();
    let (status, ct, body) = s.http("GET", "/");
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("<script src=\"/app.js\">"));
    assert_eq!(s.http("GET", "/app.js").1, "text/javascript; charset=utf-8");
    assert_eq!(s.http("GET", "/style.css").1, "text/css; charset=utf-8");
}

#[test]
fn config_and_health_are_json() {
    let s = Server::start();
    let (status, ct, body) = s.http("GET", "/api/config");
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["ws_url"], format!("ws://{}/socket", s.ws_addr()));
    let _client = s.connect();
    support::wait_until("the connection is counted", || {
        let (_, _, body) = s.http("GET", "/api/health");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        health["status"] == "ok"
            && health["connections"] == 1
            && health["processes"].as_u64() > Some(10)
    });
}

#[test]
fn metrics_are_prometheus_text() {
    let s = Server::start();
    let (status, ct, body) = s.http("GET", "/metrics");
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"));
    for name in [
        "crashcourse_processes ",
        "crashcourse_memory_bytes ",
        "crashcourse_connections ",
        "crashcourse_joins_total ",
        "crashcourse_frames_in_total ",
        "crashcourse_restarts_total ",
        "crashcourse_pool_checked_out ",
        "crashcourse_pool_queue_length ",
        "crashcourse_pool_queue_seconds{quantile=\"0.99\"} ",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    assert!(body.contains("# TYPE crashcourse_processes gauge"));
}

#[test]
fn the_slow_endpoint_holds_a_thread_and_checks_its_argument() {
    let s = Server::start();
    let started = std::time::Instant::now();
    let (status, _, body) = s.http("GET", "/api/slow?ms=60");
    assert_eq!(status, 200);
    assert_eq!(body, "{\"slept_ms\":60}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(60));
    assert_eq!(s.http("GET", "/api/slow?ms=abc").0, 400);
    assert_eq!(s.http("GET", "/api/slow").0, 400);
    assert_eq!(s.http("GET", "/api/slow?ms=999999999").0, 400);
}

#[test]
fn unknown_paths_are_404_and_wrong_methods_405() {
    let s = Server::start();
    assert_eq!(s.http("GET", "/nope").0, 404);
    assert_eq!(s.http("GET", "/../Cargo.toml").0, 404);
    let (status, _, body) = s.http("POST", "/api/health");
    assert_eq!(status, 405);
    assert!(body.contains("POST is not allowed"));
    assert_eq!(s.http("DELETE", "/").0, 405);
}

#[test]
fn nothing_over_http_can_kill_or_inject_faults() {
    let s = Server::start();
    for path in ["/api/kill", "/api/crash", "/api/fault", "/api/exit"] {
        assert_eq!(s.http("POST", path).0, 404, "{path}");
        assert_eq!(s.http("GET", path).0, 404, "{path}");
    }
}
