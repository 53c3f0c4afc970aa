//! The HTTP side: the page, the APIs, the metrics, the slow endpoint, 404 and 405.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crashcourse_runtime::Kind;
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

/// Sends `raw` on a fresh connection and reads until the server closes it (or `limit` passes).
fn exchange_raw(s: &Server, raw: &[u8], limit: Duration) -> (String, Duration) {
    let mut c = TcpStream::connect(s.endpoint.http_addr()).expect("connect to the HTTP port");
    c.set_read_timeout(Some(limit)).expect("a read timeout");
    let t0 = Instant::now();
    c.write_all(raw).expect("write the request");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match c.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither answered nor closed within {limit:?}: {e}"),
        }
    }
    (String::from_utf8_lossy(&got).to_string(), t0.elapsed())
}

#[test]
fn keep_alive_serves_several_requests_and_pipelined_ones_in_order_on_one_connection() {
    let s = Server::start();
    let (text, _) = exchange_raw(
        &s,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "404"], "{text}");
    // HEAD has the length of the body but not the body.
    assert!(
        !text.contains("body {") && !text.contains("font-family"),
        "{text}"
    );
    assert!(text.ends_with("no such page: /nope\n"), "{text}");
}

#[test]
fn a_head_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let s = Server::start_with(|c| c.http_header_timeout = Duration::from_millis(400));
    let (text, took) = exchange_raw(
        &s,
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    );
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(took >= Duration::from_millis(350), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // A connection that sends nothing at all is closed too.
    let (_, took) = exchange_raw(&s, b"", Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // The server still answers.
    assert_eq!(s.http("GET", "/api/health").0, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let s = Server::start_with(|c| c.http_keepalive_timeout = Duration::from_millis(300));
    let (text, took) = exchange_raw(
        &s,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

#[test]
fn a_head_over_the_cap_gets_431_and_a_body_over_the_cap_413() {
    let s = Server::start_with(|c| {
        c.http_max_header = 1024;
        c.http_max_body = 100;
    });
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(4000)
    );
    let (text, _) = exchange_raw(&s, big.as_bytes(), Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    let (text, _) = exchange_raw(
        &s,
        b"POST /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    let chunked = format!(
        "POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        200,
        "b".repeat(200)
    );
    let (text, _) = exchange_raw(&s, chunked.as_bytes(), Duration::from_secs(10));
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    // A body within the cap is read and skipped: the next request on the connection is served.
    let (text, _) = exchange_raw(
        &s,
        b"POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        Duration::from_secs(10),
    );
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    assert!(text.contains("HTTP/1.1 200 "), "{text}");
    assert_eq!(s.http("GET", "/nonsense\u{1}").0, 400);
}

#[test]
fn each_connection_is_a_process_of_kind_http_under_the_acceptor_and_slow_goes_to_the_pool() {
    let s = Server::start_with(|c| c.http_threads = 1);
    let acceptor = s.rt.handle().whereis("http").expect("the http acceptor");
    support::wait_until("the thread pool's process shows under the acceptor", || {
        s.rt.handle().process_table().iter().any(|r| {
            r.label.as_deref() == Some("http thread pool (typical stack)")
                && (r.kind, r.parent) == (Kind::Http, Some(acceptor))
        })
    });
    let mut idle = TcpStream::connect(s.endpoint.http_addr()).expect("connect");
    let local = idle.local_addr().expect("an address");
    let label = format!("http {local}");
    support::wait_until("the connection's process shows", || {
        s.rt.handle().process_table().iter().any(|r| {
            r.label.as_deref() == Some(&label) && r.kind == Kind::Http && r.parent == Some(acceptor)
        })
    });
    // Two slow requests on a pool of one thread: the second waits for the first.
    let t0 = Instant::now();
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let addr = s.endpoint.http_addr();
            std::thread::spawn(move || support::http(addr, "GET", "/api/slow?ms=300"))
        })
        .collect();
    for t in slow {
        assert_eq!(t.join().expect("the request").0, 200);
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    // Closing the connection ends its process.
    idle.write_all(b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    support::wait_until("the connection's process is gone", || {
        !s.rt
            .handle()
            .process_table()
            .iter()
            .any(|r| r.label.as_deref() == Some(&label))
    });
}

#[test]
fn killing_a_connection_leaves_the_others_and_killing_the_pool_restarts_http() {
    let s = Server::start();
    let h = s.rt.handle();
    let mut c = TcpStream::connect(s.endpoint.http_addr()).expect("connect");
    let label = format!("http {}", c.local_addr().expect("an address"));
    let mut conn = None;
    support::wait_until("the connection's process shows", || {
        conn = h
            .process_table()
            .iter()
            .find(|r| r.label.as_deref() == Some(&label))
            .map(|r| r.pid);
        conn.is_some()
    });
    let acceptor = h.whereis("http").expect("http");
    assert!(h.kill(conn.expect("found")).is_ok());
    let mut rest = Vec::new();
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = c.read_to_end(&mut rest);
    assert_eq!(s.http("GET", "/api/health").0, 200);
    assert_eq!(h.whereis("http"), Some(acceptor), "the acceptor lives on");
    let pool = h
        .process_table()
        .iter()
        .find(|r| r.label.as_deref() == Some("http thread pool (typical stack)"))
        .map(|r| r.pid)
        .expect("the pool");
    assert!(h.kill(pool).is_ok());
    support::wait_until("http is restarted", || {
        h.whereis("http").is_some_and(|p| p != acceptor)
    });
    assert_eq!(s.http("GET", "/api/slow?ms=1").0, 200);
}
