//! One HTTP virtual user: `GET` requests over one HTTP/1.1 keep-alive connection (reopened when
//! the server closes it), paced by the model; a 2xx answer is acknowledged, anything else is an
//! error reply.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{future, Async, Timer};

use crate::net::{self, until, Failure};
use crate::shared::Shared;
use crate::stats::{Lat, OpenGuard, Stats};
use crate::Model;

/// Largest response head read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest body read (bigger bodies end the connection).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A parsed response.
struct Response {
    status: u16,
    keep_alive: bool,
}

/// Runs user `index` until the run's end (plus drain).
pub(crate) async fn user(sh: &Shared, index: usize) {
    let st = &sh.stats;
    let mut conn: Option<(Async<TcpStream>, OpenGuard<'_>)> = None;
    let mut next = Instant::now();
    let mut failures = 0u32;
    loop {
        // The next request's start: the closed model's pace, or the open model's schedule.
        let start = match (&sh.plan.model, &sh.jobs) {
            (Model::Open { .. }, Some(jobs)) => {
                let job = future::or(async { jobs.recv().await.ok() }, async {
                    let _ = sh.stop.recv().await;
                    None
                });
                match until(sh.end, job).await.flatten() {
                    Some(at) => at,
                    None => return,
                }
            }
            _ => {
                let woke = future::or(
                    async {
                        Timer::at(next.min(sh.end)).await;
                        true
                    },
                    async {
                        let _ = sh.stop.recv().await;
                        false
                    },
                )
                .await;
                if !woke || sh.sending_over() {
                    return;
                }
                Instant::now()
            }
        };
        if sh.sending_over() && sh.jobs.is_none() {
            return;
        }
        let deadline =
            (start.max(Instant::now()) + sh.plan.timeout).min(sh.drain_end_for_request());
        if conn.is_none() {
            Stats::add(&st.connects, 1);
            let t0 = Instant::now();
            match net::connect(sh.plan.source(index), sh.plan.target.addr, deadline).await {
                Ok(s) => {
                    Stats::add(&st.connects_ok, 1);
                    st.record(Lat::Connect, t0.elapsed());
                    conn = Some((s, OpenGuard::new(&st.open)));
                    failures = 0;
                }
                Err(f) => {
                    Stats::add(&st.connects_failed, 1);
                    st.error(&f.kind());
                    // Back off a little so a refusing server is not hammered in a tight loop.
                    failures += 1;
                    let pause = Duration::from_millis(10u64 << failures.min(8));
                    next = Instant::now() + pause.max(pace(sh));
                    continue;
                }
            }
        }
        let Some((stream, _)) = conn.as_mut() else {
            continue;
        };
        Stats::add(&st.sent, 1);
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: crashcourse-load\r\n\r\n",
            sh.plan.target.path, sh.plan.target.addr
        );
        match until(deadline, exchange(stream, request.as_bytes())).await {
            Some(Ok(resp)) => {
                if (200..300).contains(&resp.status) {
                    Stats::add(&st.acked, 1);
                    st.record(Lat::RoundTrip, start.elapsed());
                } else {
                    Stats::add(&st.error_replies, 1);
                    st.error(&format!("HTTP {}", resp.status));
                }
                if !resp.keep_alive {
                    conn = None;
                }
            }
            Some(Err(f)) => {
                Stats::add(&st.unanswered, 1);
                st.error(&f.kind());
                conn = None;
            }
            None => {
                if Instant::now() >= sh.drain_end_for_request() && sh.sending_over() {
                    Stats::add(&st.unanswered, 1);
                    st.error("no response before the run ended");
                } else {
                    Stats::add(&st.timed_out, 1);
                    st.error(&Failure::TimedOut("response").kind());
                }
                conn = None;
            }
        }
        next = (start + pace(sh)).max(Instant::now());
    }
}

/// The closed model's pause between request starts.
fn pace(sh: &Shared) -> Duration {
    match sh.plan.model {
        Model::Closed { rate: Some(r) } if r > 0.0 => Duration::from_secs_f64(1.0 / r),
        _ => Duration::ZERO,
    }
}

impl Shared {
    /// A request in flight is waited for until the drain ends.
    fn drain_end_for_request(&self) -> Instant {
        self.end + self.plan.drain
    }
}

/// Writes one request and reads its response (head and body).
async fn exchange(s: &mut Async<TcpStream>, request: &[u8]) -> Result<Response, Failure> {
    s.write_all(request).await.map_err(|e| Failure::io(&e))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(Failure::Other("response head over 64 KiB".into()));
        }
        let n = s.read(&mut chunk).await.map_err(|e| Failure::io(&e))?;
        if n == 0 {
            return Err(Failure::Dropped);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| Failure::Other("not an HTTP/1.x response".into()))?;
    let mut length = None;
    let mut keep_alive = version == "HTTP/1.1";
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("connection") {
            keep_alive = v.eq_ignore_ascii_case("keep-alive")
                || (keep_alive && !v.eq_ignore_ascii_case("close"));
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        }
    }
    let mut have = buf.len() - head_end;
    if chunked {
        // Read to the terminating chunk; the body itself is not needed.
        let mut body = buf[head_end..].to_vec();
        while find(&body, b"0\r\n\r\n").is_none() {
            if body.len() > MAX_BODY {
                return Err(Failure::Other("response body over 16 MiB".into()));
            }
            let n = s.read(&mut chunk).await.map_err(|e| Failure::io(&e))?;
            if n == 0 {
                return Err(Failure::Dropped);
            }
            body.extend_from_slice(&chunk[..n]);
        }
        return Ok(Response { status, keep_alive });
    }
    match length {
        Some(len) => {
            if len > MAX_BODY {
                return Err(Failure::Other("response body over 16 MiB".into()));
            }
            while have < len {
                let n = s.read(&mut chunk).await.map_err(|e| Failure::io(&e))?;
                if n == 0 {
                    return Err(Failure::Dropped);
                }
                have += n;
            }
            Ok(Response { status, keep_alive })
        }
        None => {
            // No length: the body runs to the end of the connection.
            loop {
                let n = s.read(&mut chunk).await.map_err(|e| Failure::io(&e))?;
                if n == 0 {
                    break;
                }
                have += n;
                if have > MAX_BODY {
                    return Err(Failure::Other("response body over 16 MiB".into()));
                }
            }
            Ok(Response {
                status,
                keep_alive: false,
            })
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
